"""The host side of making the machine: Debian's apt and dpkg, run as tools.

Nothing here installs host packages (scripts/install-system.sh does, once); this
only downloads arm64 packages into a directory and reads what apt already knows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from lseprof.emulation.user import qemu_version
from lseprof.emulation.vm.digests import sha256_file
from lseprof.emulation.vm.pins import MIN_QEMU, QEMU_PACKAGE, SUITE
from lseprof.errors import LseprofError

INSTALL_HINT = "run `sudo bash scripts/install-system.sh`"


def last_lines(text: str, count: int = 2) -> str:
    """The last non-empty lines of a tool's output, joined on one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "no message"


def run_tool(argv: list[str], what: str, cwd: Path | None = None) -> str:
    """Run a host tool to completion; its stdout, or a user error with its last words."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    except FileNotFoundError:
        raise LseprofError(f"{argv[0]} is not installed; {INSTALL_HINT}") from None
    if proc.returncode != 0:
        raise LseprofError(
            f"{what} failed (exit {proc.returncode}: {last_lines(proc.stderr or proc.stdout)})"
        )
    return proc.stdout


def installed_version(package: str) -> str | None:
    """The installed version of a Debian package, or None."""
    try:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status} ${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return None
    if proc.returncode != 0 or not proc.stdout.startswith("install ok installed"):
        return None
    return proc.stdout.split()[-1]


def find_qemu() -> str:
    """qemu-system-aarch64, new enough, or a user error saying how to install it."""
    qemu = shutil.which("qemu-system-aarch64")
    if qemu is None:
        raise LseprofError(f"qemu-system-aarch64 is not installed; {INSTALL_HINT}")
    version = qemu_version(qemu)
    if version is None or version < MIN_QEMU:
        shown = ".".join(map(str, version)) if version else "of unknown version"
        raise LseprofError(
            f"qemu-system-aarch64 {shown} is older than "
            f"{'.'.join(map(str, MIN_QEMU))}; {INSTALL_HINT} ({QEMU_PACKAGE} from "
            f"{SUITE}-backports)"
        )
    return qemu


def _sources() -> list[Path]:
    apt = Path("/etc/apt")
    listed = sorted((apt / "sources.list.d").glob("*.list"))
    stanzas = sorted((apt / "sources.list.d").glob("*.sources"))
    return [apt / "sources.list", *listed, *stanzas]


def _mirror_in(text: str, deb822: bool, suite: str) -> str | None:
    if deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            if suite in fields.get("Suites", "").split() and fields.get("URIs"):
                return fields["URIs"].split()[0]
        return None
    for line in text.splitlines():
        found = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
        if found and found[2] == suite:
            return found[1]
    return None


def debian_mirror(suite: str = SUITE, default: str = "http://deb.debian.org/debian") -> str:
    """The mirror this machine's apt uses for ``suite`` (the image comes from the same)."""
    for path in _sources():
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        found = _mirror_in(text, path.suffix == ".sources", suite)
        if found:
            return found
    return default


def apt_download(specs: list[str], into: Path) -> None:
    """``apt-get download`` of pinned packages; a user error naming the fix."""
    proc = subprocess.run(
        ["apt-get", "download", *specs], cwd=into, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("E:")]
        raise LseprofError(
            f"apt-get download {' '.join(specs)} failed ({(errors or ['no message'])[-1]}); "
            "run `sudo apt-get update` and try again; if the version has left the archive, "
            "update the pins in profiler/lseprof/emulation/vm/pins.py"
        )


def extract_members(deb: Path, into: Path, wanted: set[str]) -> None:
    """Like ``dpkg -x`` for the members whose path ends with one of ``wanted``: the
    kernel package unpacks to ~300 MB of modules, and a dozen files are needed."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if member.isfile() and any(name == w or name.endswith("/" + w) for w in wanted):
                    member.name = name
                    if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
                        tar.extract(member, into, filter="data")
                    else:
                        tar.extract(member, into)
    except tarfile.TarError as exc:
        raise LseprofError(
            f"{deb.name} could not be unpacked ({exc}); run `lseprof vm make` again"
        ) from None
    finally:
        proc.stdout.close()
        proc.wait()


def deb_record(deb: Path) -> tuple[str, dict[str, str]]:
    """(package, {version, sha256}) of a downloaded .deb, for the manifest."""
    name, version = deb.name.split("_")[:2]
    return name, {"version": version.replace("%3a", ":"), "sha256": sha256_file(deb)}


def is_root() -> bool:
    return os.geteuid() == 0
