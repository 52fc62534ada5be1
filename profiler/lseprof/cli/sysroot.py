"""`lseprof sysroot`: the aarch64 user space that dynamically linked programs run
from under qemu (see profiler/lseprof/emulation/sysroot.py)."""

from __future__ import annotations

import typer

from lseprof.cli.console import err, out
from lseprof.errors import LseprofError


def sysroot_cmd(
    verify: bool = typer.Option(
        False,
        "--verify",
        help="Re-hash every file against the manifest instead of making or reusing the sysroot.",
    ),
) -> None:
    """Make (once) and print the aarch64 sysroot: Debian arm64 libc with debug symbols,
    CPython 3.11, zstd and xz, unpacked from pinned packages. Nothing on aarch64 hosts."""
    from lseprof.capture.build import host_is_aarch64
    from lseprof.emulation.sysroot import ensure_sysroot, problems, sysroot_dir

    if host_is_aarch64():
        out.print("this host is aarch64: programs run natively, no sysroot is needed")
        return
    if verify:
        found = problems(sysroot_dir(), full=True)
        if found:
            raise LseprofError(
                f"sysroot {sysroot_dir()}: {'; '.join(found)}; run "
                "`lseprof sysroot` to make it again",
                exit_code=2,
            )
        out.print(f"{sysroot_dir()}: every file matches its manifest")
        return
    out.print(str(ensure_sysroot(report=lambda msg: err.print(f"[dim]{msg}[/]"))))


def register(app: typer.Typer) -> None:
    app.command("sysroot")(sysroot_cmd)
