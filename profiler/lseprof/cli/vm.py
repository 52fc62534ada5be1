"""`lseprof vm`: the full-system aarch64 machine (see profiler/lseprof/emulation/vm/).

``vm make`` makes the image once (root; a minute or two) and prints its size and the
boot-to-command time; ``vm run -- CMD`` boots it and runs CMD inside, with CMD's
output and exit status passed through. On an aarch64 host neither is needed.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from lseprof.capture.build import host_is_aarch64
from lseprof.cli.console import err, out
from lseprof.emulation.vm import (
    CPUS,
    MAKE_STEPS,
    CoherenceSettings,
    ImageInfo,
    Share,
    ensure_image,
    image_dir,
    image_problems,
    measure_boot,
    record_boot_seconds,
    remake_hint,
    run_in_vm,
)
from lseprof.errors import LseprofError

vm_app = typer.Typer(
    no_args_is_help=True,
    help="A full-system aarch64 Linux under qemu: perf with a PMU, kernel frames.",
)
NATIVE = "this host is aarch64: lseprof runs here natively, no emulated machine is needed"


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def _boot_once(image: Path) -> float:
    with err.status("booting the machine once with `true`"):
        return measure_boot(image).boot_seconds


def _print_image(info: ImageInfo) -> None:
    """The image's size, how long making it took, and its boot-to-command time
    (measured now when the image is new; else the time measured when it was made)."""
    boot = info.boot_seconds
    if info.made_now or boot is None:
        boot = _boot_once(info.path)
        record_boot_seconds(info.path, boot)
    parts = ", ".join(f"{name} {_mib(size)}" for name, size in info.sizes.items())
    out.print(f"image:           {info.path}{'' if info.made_now else ' (already made)'}")
    out.print(f"size on disk:    {_mib(info.disk_bytes)} ({parts})")
    laps = ", ".join(f"{k} {v:g} s" for k, v in info.make_seconds.items() if k != "total")
    out.print(f"made in:         {info.make_seconds.get('total', 0):g} s ({laps})")
    out.print(f"boot-to-command: {boot:.1f} s (-cpu max -smp 2, command `true`)")


def _make_with_progress() -> ImageInfo:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("checking the image", total=len(MAKE_STEPS))

        def step(name: str) -> None:
            index = MAKE_STEPS.index(name)
            progress.update(task, completed=index, description=f"{index + 1}/4 {name}")
            progress.console.print(f"[dim]lseprof vm make: {name}[/]")

        return ensure_image(step)


@vm_app.command("make")
def make_cmd(
    verify: bool = typer.Option(
        False,
        "--verify",
        help="Re-hash every file against the manifest and boot once, instead of making.",
    ),
) -> None:
    """Make the machine's image (once; needs root), or reuse it; print its size and
    boot-to-command time.

    The image is made from pinned Debian arm64 packages and PyPI wheels, in data/vm-arm64
    ($LSEPROF_VM_IMAGE wins); it is made again when a pin changes."""
    if host_is_aarch64():
        out.print(NATIVE)
        return
    if not verify:
        _print_image(_make_with_progress())
        return
    image = image_dir()
    found = image_problems(image, full=True)
    if found:
        raise LseprofError(f"{'; '.join(found)}; {remake_hint(image)}")
    boot = _boot_once(image)
    out.print(f"{image}: every file matches its manifest; boot-to-command {boot:.1f} s")


@vm_app.command(
    "run",
    context_settings={"allow_interspersed_args": False},
)
def run_cmd(
    command: list[str] = typer.Argument(
        None, metavar="CMD", help="The command to run in the machine, after --."
    ),
    cpu: str = typer.Option("max", help=f"CPU model: {', '.join(CPUS)} (no LSE atomics)."),
    smp: int = typer.Option(2, help="Virtual CPUs."),
    memory: int = typer.Option(4096, help="Memory in MiB."),
    timeout: float = typer.Option(
        1800, help="Seconds for the whole run, boot included; then the guest is killed (exit 124)."
    ),
    out_dir: Path = typer.Option(
        Path("vm-out"), "--out", help="Host directory shared writable at /out, the command's cwd."
    ),
    share: list[str] = typer.Option(
        None, help="More host directories, HOSTDIR:TAG:ro|rw, mounted at /mnt/TAG (repeatable)."
    ),
    timing: bool = typer.Option(False, help="Print boot-to-command and command times on stderr."),
    coherence: bool = typer.Option(
        False,
        "--coherence",
        help="Count cache lines moving between the virtual CPUs (a coherence model in qemu); "
        "writes coherence.txt to --out, for `lseprof report`.",
    ),
    coherence_interleave: str = typer.Option(
        "rr",
        metavar="rr|lockstep|free",
        help="With --coherence: rr runs one CPU at a time, switching every quantum (the "
        "same interleaving on every run); lockstep keeps the CPUs within a quantum of each "
        "other; free lets the host schedule them (counts follow the host's load).",
    ),
    coherence_quantum: int = typer.Option(
        100, metavar="N", help="With --coherence: the quantum, in guest instructions."
    ),
    coherence_filter: str = typer.Option(
        "proc",
        metavar="proc|user|all",
        help="With --coherence: the command's process tree, all user code, or the kernel too.",
    ),
) -> None:
    """Boot the aarch64 machine and run CMD in it as root.

    The checkout is at /project (read-only; `lseprof` is on PATH), --out at /out, the
    working directory. CMD's stdout, stderr and exit status are passed through; 124:
    timeout, 125: the guest failed (kernel panic), 130: interrupted (Ctrl-C reaches CMD
    as SIGINT; what it wrote stays), 2: no image or a damaged one.

    With --coherence, qemu runs a cache-coherence model over every memory access of
    CMD's processes (CMD runs 6-35x slower in the guest) and --out gets coherence.txt:
    show it with `lseprof report DIR/coherence.txt`."""
    if host_is_aarch64():
        out.print(NATIVE)
        return
    shares = [Share.parse(spec) for spec in share or []]
    settings = _coherence_settings(
        coherence, coherence_interleave, coherence_quantum, coherence_filter
    )
    # On a terminal, a spinner until the command starts (its output follows).
    status = err.status("booting the aarch64 machine") if err.is_terminal else None
    if status is not None:
        status.start()
    try:
        result = run_in_vm(
            command or [],
            shares=shares,
            cpu=cpu,
            smp=smp,
            memory=memory,
            timeout=timeout,
            out_dir=out_dir,
            on_start=status.stop if status is not None else lambda: None,
            notify=lambda message: err.print(f"[dim]lseprof: {message}[/]"),
            coherence=settings,
        )
    finally:
        if status is not None:
            status.stop()
    if timing:
        took = f"{result.command_seconds:.2f} s" if result.command_seconds is not None else "?"
        err.print(
            f"lseprof: boot-to-command {result.boot_seconds:.2f} s (qemu CPU "
            f"{result.qemu_cpu_seconds:.1f} s), command {took}; -cpu {cpu} -smp {smp}"
        )
    if result.coherence is not None:
        err.print(
            f"[dim]lseprof: coherence: {result.coherence} (`lseprof report {result.coherence}`)[/]",
            soft_wrap=True,
        )
    raise typer.Exit(result.exit_code)


def _coherence_settings(
    coherence: bool, interleave: str, quantum: int, filter_: str
) -> CoherenceSettings | None:
    settings = CoherenceSettings(interleave=interleave, quantum=quantum, filter=filter_)
    if not coherence:
        if settings != CoherenceSettings():
            raise LseprofError("the --coherence-* options go with --coherence")
        return None
    settings.check()
    return settings


def register(app: typer.Typer) -> None:
    app.add_typer(vm_app, name="vm")
