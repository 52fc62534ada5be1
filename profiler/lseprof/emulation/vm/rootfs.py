"""The guest's root file system: Debian arm64 packages, unpacked, plus what a run needs.

``mmdebstrap --variant=extract`` unpacks the pinned packages and their dependencies
without running a maintainer script (no emulation while making, 8 s). What those
scripts would have done, and what a run needs, is done here: /bin/sh, users, mount
points, .pyc files, the static busybox for the run's scripts, the ``lseprof``
command, and lseprof's dependencies as aarch64 wheels in /opt/site.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from lseprof.emulation.vm.digests import sha256_file
from lseprof.emulation.vm.host import debian_mirror, last_lines, run_tool
from lseprof.emulation.vm.initramfs import GUEST_BUSYBOX
from lseprof.emulation.vm.pins import (
    GUEST_PYTHON,
    PIP_PLATFORMS,
    ROOTFS_PINS,
    SITE_LOCK,
    SITE_PACKAGES,
    SUITE,
)
from lseprof.errors import LseprofError

MOUNTPOINTS = (
    "proc",
    "sys",
    "dev",
    "run",
    "tmp",
    "root",
    "mnt",
    "ctl",
    "project",
    "out",
    "var/tmp",
    "opt/site",
)
SITE = "opt/site"
# `lseprof` in the guest: the shared checkout's package on the wheels in /opt/site.
WRAPPER_PATH = "usr/local/bin/lseprof"
WRAPPER = """#!/bin/sh
# lseprof inside the aarch64 machine: the host's checkout, shared read-only at /project.
if [ ! -d /project/profiler/lseprof ]; then
    echo "lseprof: the lseprof checkout is not shared at /project (lseprof vm run shares it)" >&2
    exit 127
fi
export PYTHONPATH=/project/profiler:/opt/site${PYTHONPATH:+:$PYTHONPATH}
exec /usr/bin/python3 -m lseprof "$@"
"""


def build_rootfs(root: Path) -> dict[str, dict[str, str]]:
    """Unpack the pinned packages into ``root``; their versions and sha256 by name."""
    mirror = debian_mirror()
    security = debian_mirror(f"{SUITE}-security", "http://deb.debian.org/debian-security")
    includes = ",".join(f"{name}={version}" for name, version in ROOTFS_PINS.items())
    run_tool(
        [
            "mmdebstrap",
            "--mode=root",
            "--variant=extract",
            "--arch=arm64",
            f"--include={includes}",
            "--skip=cleanup/apt/cache",
            SUITE,
            str(root),
            f"deb {mirror} {SUITE} main",
            f"deb {mirror} {SUITE}-updates main",
            f"deb {security} {SUITE}-security main",
        ],
        "mmdebstrap",
    )
    packages = {}
    for deb in sorted((root / "var/cache/apt/archives").glob("*.deb")):
        name, version = deb.name.split("_")[:2]
        packages[name] = {"version": version.replace("%3a", ":"), "sha256": sha256_file(deb)}
        deb.unlink()
    for name, version in ROOTFS_PINS.items():
        if packages.get(name, {}).get("version") != version:
            raise LseprofError(
                f"mmdebstrap gave {name} {packages.get(name, {}).get('version')}, pinned "
                f"{version}; update the pins in profiler/lseprof/emulation/vm/pins.py"
            )
    return packages


def finish_rootfs(root: Path, busybox: Path) -> None:
    """What maintainer scripts would have done, and what a run needs."""
    for mountpoint in MOUNTPOINTS:
        (root / mountpoint).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    # perf starts its workload through /bin/sh, which dash's maintainer script makes.
    shell = root / "bin/sh"
    if not shell.exists():
        shell.unlink(missing_ok=True)
        shell.symlink_to("busybox")
    etc = root / "etc"
    if not (etc / "passwd").exists():
        (etc / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
        )
    if not (etc / "group").exists():
        (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (etc / "hostname").write_text("lseprof-vm\n")
    wrapper = root / WRAPPER_PATH
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    (root / GUEST_BUSYBOX).parent.mkdir(parents=True, exist_ok=True)
    (root / GUEST_BUSYBOX).write_bytes(busybox.read_bytes())
    (root / GUEST_BUSYBOX).chmod(0o755)


def precompile(root: Path, dirs: list[str]) -> str:
    """Debian compiles .pyc files in maintainer scripts, which the extract variant skips;
    the root is read-only at run time, so without them every import would compile from
    source under emulation. The host's CPython writes the guest's format only when it
    is 3.11 too (cache tag cpython-311)."""
    tag = "cpython-" + GUEST_PYTHON.replace(".", "")
    if sys.implementation.cache_tag != tag:
        return f"skipped: the host's Python is {sys.implementation.cache_tag}, the guest's {tag}"
    targets = [str(root / d) for d in dirs if (root / d).is_dir()]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j0", "-s", str(root), "-p", "/", *targets],
        capture_output=True,
        check=False,
    )
    return "done"


def pip_site(root: Path) -> dict[str, str]:
    """lseprof's dependencies as aarch64 wheels in /opt/site; their versions by name."""
    target = root / SITE
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="lseprof-vm-lock-") as lock:
        lock.write("".join(f"{name}=={version}\n" for name, version in SITE_LOCK.items()))
        lock.flush()
        platforms = [arg for p in PIP_PLATFORMS for arg in ("--platform", p)]
        argv = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--target",
            str(target),
            "-c",
            lock.name,
            *platforms,
            "--only-binary=:all:",
            "--python-version",
            GUEST_PYTHON,
            "--implementation",
            "cp",
            *SITE_PACKAGES,
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LseprofError(
            f"pip could not fetch the guest's Python packages ({last_lines(proc.stderr)}); "
            "check access to PyPI, then run `lseprof vm make` again"
        )
    fix_script_lines(target / "bin")
    return installed_wheels(target)


def fix_script_lines(bin_dir: Path) -> None:
    """pip writes the host's interpreter into the scripts' #! lines."""
    for script in bin_dir.glob("*"):
        if not script.is_file():
            continue
        first, _, rest = script.read_bytes().partition(b"\n")
        if first.startswith(b"#!") and b"python" in first:
            script.write_bytes(b"#!/usr/bin/python3\n" + rest)


def installed_wheels(site: Path) -> dict[str, str]:
    found = {}
    for info in sorted(site.glob("*.dist-info")):
        meta = (info / "METADATA").read_text(errors="replace")
        name = re.search(r"^Name: (.+)$", meta, re.M)
        version = re.search(r"^Version: (.+)$", meta, re.M)
        if name and version:
            # Names as PyPI normalizes them (METADATA may say pydantic_core).
            found[re.sub(r"[-_.]+", "-", name[1].strip()).lower()] = version[1].strip()
    return found
