"""Running aarch64 binaries on a non-aarch64 host through qemu user mode."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from lseprof.capture.build import host_is_aarch64
from lseprof.errors import LseprofError

# -perfmap (guest code names for perf) arrived in qemu 8.1.
MIN_QEMU = (8, 1)


def needs_emulation(target: str) -> bool:
    """Whether a run target runs its aarch64 code under qemu user mode here (the
    aarch64 machine's runs are not user-mode emulated: the guest's kernel runs them)."""
    return target not in ("host", "aarch64-vm") and not host_is_aarch64()


def qemu_version(qemu: str) -> tuple[int, int] | None:
    try:
        text = subprocess.run(
            [qemu, "--version"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return None
    match = re.search(r"version (\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def qemu_prefix(cpu: str | None = None, perfmap: bool = False) -> list[str]:
    """argv prefix that runs an aarch64 static binary under qemu.

    No `-L` here: with multiarch arm64 libraries installed the cross loader and libc
    differ in version and pthread_create hangs; our aarch64 builds are static, and
    dynamically linked programs get the sysroot (:func:`emulated_command`).
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


_MACHINES = {183: "aarch64", 62: "x86_64", 3: "i386", 40: "arm"}


def _elf_facts(path: Path) -> tuple[str, bool] | None:
    """(architecture, dynamically linked) of an ELF file; None if it is not one."""
    from elftools.elf.elffile import ELFFile  # only when a command is checked

    try:
        with open(path, "rb") as handle:
            if handle.read(4) != b"\x7fELF":
                return None
            handle.seek(0)
            elf = ELFFile(handle)
            machine = elf.header["e_machine"]
            code = {"EM_AARCH64": 183, "EM_X86_64": 62, "EM_386": 3, "EM_ARM": 40}.get(machine, -1)
            dynamic = any(seg["p_type"] == "PT_INTERP" for seg in elf.iter_segments())
            return _MACHINES.get(code, str(machine)), dynamic
    except (OSError, ValueError) as exc:
        raise LseprofError(f"cannot read {path} ({exc}); give an aarch64 executable") from None


def emulated_command(command: Sequence[str], cpu: str | None, perfmap: bool) -> list[str]:
    """argv that runs an aarch64 program (`command`) under qemu; dynamically linked
    programs load their libraries from the sysroot (made on first need). A bare name
    is looked up on the sysroot's PATH, then on this machine's."""
    from lseprof.emulation.sysroot import ensure_sysroot, sysroot_dir

    program = command[0]
    candidates = [Path(program)]
    if "/" not in program:
        root = sysroot_dir()
        candidates = [root / "usr/bin" / program, root / "bin" / program]
        found = shutil.which(program)
        if found:
            candidates.append(Path(found))
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise LseprofError(
            f"{program}: no such program; give the path of the aarch64 "
            "executable (or run `lseprof sysroot` for the sysroot's programs)"
        )
    facts = _elf_facts(path)
    if facts is None:
        raise LseprofError(
            f"{path} is not an ELF executable; --target aarch64 runs aarch64 "
            "programs (for a script, give its aarch64 interpreter first)"
        )
    arch, dynamic = facts
    if arch != "aarch64":
        raise LseprofError(
            f"{path} is {arch}, not aarch64; drop --target aarch64 to profile "
            "it natively, or give the aarch64 build"
        )
    argv = qemu_prefix(cpu, perfmap)
    if dynamic:
        argv += ["-L", str(ensure_sysroot())]
    return [*argv, str(path), *command[1:]]
