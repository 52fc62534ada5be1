"""The two scripts a run writes for the guest, and the shares it mounts.

``/ctl/setup.sh`` is sourced by stage 1 (static busybox in RAM, new root at ``$R``):
tmpfs mounts, tracefs, the sysctls perf needs, the shares. ``/ctl/init.sh`` is PID 1
after ``switch_root``: it runs the command as root with the serial line as its
controlling terminal (a ^C from the host reaches it as SIGINT), its stdout and
stderr in files on /ctl (9p writes are synchronous: they are complete on the host
before the exit status is written), and powers off.
"""

from __future__ import annotations

import importlib.util
import py_compile
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lseprof.emulation.vm.initramfs import GUEST_BUSYBOX
from lseprof.emulation.vm.pins import GUEST_PYTHON
from lseprof.errors import LseprofError
from lseprof.paths import REPO_ROOT, data_dir, native_bin_dir
from lseprof.results import VM_HOSTNAME

START_MARK = "LSEPROF-VM-START"
END_MARK = "LSEPROF-VM-END"
FAIL_MARK = "LSEPROF-VM-FAIL"
NINEP = "trans=virtio,version=9p2000.L,msize=512000"
RESERVED_TAGS = ("root", "ctl", "project", "out")
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/site/bin:/run/bb"


@dataclass(frozen=True)
class Share:
    """A host directory mounted in the guest over virtio-9p."""

    host: Path
    tag: str
    writable: bool
    guest: str

    @classmethod
    def extra(cls, host: Path, tag: str, writable: bool) -> Share:
        """A share of the caller's, mounted at /mnt/TAG."""
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,30}", tag) or tag in RESERVED_TAGS:
            raise LseprofError(
                f"share tag {tag!r}: use a short name of letters, digits, _ and -, not "
                f"{', '.join(RESERVED_TAGS)}"
            )
        if not host.is_dir():
            raise LseprofError(f"cannot share {host}: it is not a directory")
        return cls(host.resolve(), tag, writable, f"/mnt/{tag}")

    @classmethod
    def parse(cls, spec: str) -> Share:
        """``HOSTDIR:TAG:ro`` or ``HOSTDIR:TAG:rw`` (the command line's --share)."""
        parts = spec.rsplit(":", 2)
        if len(parts) != 3 or parts[2] not in ("ro", "rw"):
            raise LseprofError(f"--share {spec}: write it as HOSTDIR:TAG:ro or HOSTDIR:TAG:rw")
        return cls.extra(Path(parts[0]), parts[1], parts[2] == "rw")


def project_shares() -> tuple[list[Share], dict[str, str]]:
    """The checkout at /project (read-only), and the data and native build directories
    where they are not inside it (a link out of the checkout does not resolve in the
    guest); with the environment that points lseprof in the guest at them."""
    repo = REPO_ROOT.resolve()
    shares = [Share(repo, "project", False, "/project")]
    env: dict[str, str] = {}
    for tag, path, variable in (
        ("lseprof-data", data_dir(), "LSEPROF_DATA_DIR"),
        ("lseprof-bin", native_bin_dir(), "LSEPROF_NATIVE_BIN_DIR"),
    ):
        real = path.resolve()
        if real.is_relative_to(repo):
            env[variable] = f"/project/{real.relative_to(repo)}"
        elif real.is_dir():
            shares.append(Share(real, tag, False, f"/mnt/{tag}"))
            env[variable] = f"/mnt/{tag}"
    return shares, env


def _up_to_date(source: Path, cached: Path) -> bool:
    """Whether a .pyc was compiled from this source (its header holds the source's
    mtime and size), as the importer checks it."""
    try:
        header = cached.read_bytes()[:16]
        info = source.stat()
    except OSError:
        return False
    return (
        header[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(header[8:12], "little") == int(info.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(header[12:16], "little") == info.st_size & 0xFFFFFFFF
    )


def precompile_checkout(package: Path) -> int:
    """Write the .pyc files of lseprof's own modules into the checkout's __pycache__,
    where the guest's CPython finds them over the share: compiled under emulation,
    `lseprof --version` took 16 s in the guest, with them 6 s. Only when the host's
    CPython writes the guest's format; files already up to date are left alone (a
    few ms). Returns how many were written."""
    tag = "cpython-" + GUEST_PYTHON.replace(".", "")
    if sys.implementation.cache_tag != tag:
        return 0
    written = 0
    for source in package.rglob("*.py"):
        cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if _up_to_date(source, cached):
            continue
        try:
            py_compile.compile(str(source), cfile=str(cached), doraise=True)
        except (OSError, py_compile.PyCompileError):
            continue  # a read-only checkout: the guest compiles that module itself
        written += 1
    return written


def setup_script(shares: Sequence[Share]) -> str:
    lines = [
        "$bb mount -t tmpfs -o mode=1777 tmpfs $R/tmp",
        "$bb mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp",
        "$bb mount -t tmpfs -o mode=755 tmpfs $R/run",
        "$bb mount -t tmpfs -o mode=700 tmpfs $R/root",
        "$bb mount -t tmpfs -o mode=755 tmpfs $R/mnt",
        "$bb mkdir -p /dev/pts /dev/shm $R/run/bb",
        "$bb mount -t devpts devpts /dev/pts",
        "$bb mount -t tmpfs -o mode=1777 tmpfs /dev/shm",
        "$bb mount -t tracefs tracefs /sys/kernel/tracing || fail 'mount tracefs'",
        "$bb mount -t debugfs debugfs /sys/kernel/debug",
        # Kernel frames named, every event allowed: the command runs as root anyway.
        "echo 0 > /proc/sys/kernel/kptr_restrict",
        "echo -1 > /proc/sys/kernel/perf_event_paranoid",
        # Under emulation a sample's handler is slow, and the kernel would lower the
        # sampling rate (27% THROTTLE events in a dwarf recording): keep the asked rate.
        "echo 0 > /proc/sys/kernel/perf_cpu_time_max_percent",
        # Its recordings say where they were made (perf.data's header keeps the host
        # name): lseprof.readers knows their samples come from an emulated PMU.
        f"$bb hostname {VM_HOSTNAME}",
    ]
    for share in shares:
        # cache=mmap where writable: perf record mmaps its output at the end (build-ids)
        # and 9p without a cache refuses ("failed to mmap file").
        options = NINEP + (",cache=mmap" if share.writable else ",cache=loose,ro")
        lines += [
            f"$bb mkdir -p $R{share.guest}",
            f"$bb mount -t 9p -o {options} {share.tag} $R{share.guest} || fail 'mount {share.tag}'",
        ]
    return "\n".join(lines) + "\n"


def init_script(argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> str:
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    lines = [
        f"bb=/{GUEST_BUSYBOX}",
        f'fail() {{ echo "{FAIL_MARK}: stage2: $*" > /dev/console; $bb poweroff -f; }}',
        f"export PATH={GUEST_PATH}",
        "export HOME=/root PYTHONPATH=/opt/site PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 TERM=dumb",
        *([f"export {exports}"] if exports else []),
        "$bb --install -s /run/bb",
        f"cd {shlex.quote(cwd)} || fail 'cd {cwd}'",
        f"echo {START_MARK} > /dev/console",
        # A new session whose controlling terminal is the serial line; stdin /dev/null.
        "$bb setsid -c $bb sh -c 'exec \"$@\" < /dev/null' sh "
        f"{shlex.join(argv)} <> /dev/ttyAMA0 > /ctl/stdout 2> /ctl/stderr",
        "rc=$?",
        "echo $rc > /ctl/status.tmp && $bb mv /ctl/status.tmp /ctl/status",
        f"echo {END_MARK} $rc > /dev/console",
        "$bb sync",
        "$bb poweroff -f",
    ]
    return "\n".join(lines) + "\n"
