"""Running aarch64 binaries on a non-aarch64 host through qemu user mode."""

from __future__ import annotations

import re
import shutil
import subprocess

from lseprof.capture.build import host_is_aarch64
from lseprof.errors import LseprofError

# -perfmap (guest code names for perf) arrived in qemu 8.1.
MIN_QEMU = (8, 1)


def needs_emulation(target: str) -> bool:
    return target != "host" and not host_is_aarch64()


def qemu_version(qemu: str) -> tuple[int, int] | None:
    try:
        text = subprocess.run([qemu, "--version"], capture_output=True, text=True,
                              check=False).stdout
    except OSError:
        return None
    match = re.search(r"version (\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def qemu_prefix(cpu: str | None = None, perfmap: bool = False) -> list[str]:
    """argv prefix that runs an aarch64 static binary under qemu.

    No `-L`: with multiarch arm64 libraries installed the cross loader and libc
    differ in version and pthread_create hangs; our aarch64 builds are static.
    """
    qemu = shutil.which("qemu-aarch64")
    if qemu is None:
        raise LseprofError(
            "qemu-aarch64 is not installed; run `make demo` or apt-get install qemu-user "
            "(>= 8.1, from bookworm-backports on Debian 12)"
        )
    if perfmap:
        version = qemu_version(qemu)
        if version is None or version < MIN_QEMU:
            shown = ".".join(map(str, version)) if version else "unknown"
            raise LseprofError(
                f"qemu-aarch64 {shown} has no -perfmap (needs >= 8.1); install qemu-user "
                "from bookworm-backports"
            )
    argv = [qemu]
    if cpu:
        argv += ["-cpu", cpu]
    if perfmap:
        argv.append("-perfmap")
    return argv
