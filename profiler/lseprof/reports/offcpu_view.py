"""Off-CPU time and wake-ups (:class:`lseprof.results.OffCpuResult`, as analysed or as
stored with a run) for people: a rich block (Markdown: lseprof.reports.markdown).

Both read the result, never the events: a stored run re-renders without perf.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lseprof.errors import LseprofError
from lseprof.results import OffCpuResult

REASON_HELP = {
    "futex": "mutexes, condition variables, thread parking (futex wait)",
    "yield": "sched_yield: gave the CPU up while runnable",
    "preempted": "runnable, taken off the CPU (more threads than CPUs, or a higher priority)",
    "sleep": "nanosleep and other timed waits",
    "io": "I/O: files, pipes, sockets, poll; uninterruptible sleep",
    "other": "any other voluntary sleep",
}


def _num(value: float | None, fmt: str = ".3g") -> str:
    return "-" if value is None else format(float(value), fmt)


def headline(data: OffCpuResult) -> str:
    """One line: off-CPU share, wake-ups per item and per second, wake-up latency."""
    per_item = data.wakeups_per_item
    return (
        f"off-CPU {_num(data.offcpu_share, '.1f')}% of thread time; "
        f"{data.wakeups or 0:,.0f} wake-ups ({_num(data.wakeups_per_s, ',.0f')}/s"
        + (f", {_num(per_item)} per item" if per_item is not None else "")
        + f"); wake-up latency p50 {_num(data.wakeup_p50_us, '.1f')} µs, "
        f"p99 {_num(data.wakeup_p99_us, '.1f')} µs"
    )


def render_offcpu(data: OffCpuResult, console: Console, top: int = 10) -> None:
    console.print(f"[bold]Scheduler view[/]: {escape(headline(data))}")
    reasons = Table(title="Off-CPU time by reason (share of thread time)", title_justify="left")
    reasons.add_column("reason")
    reasons.add_column("share", justify="right")
    reasons.add_column("what", style="dim")
    for name, share in data.offcpu_by_reason.items():
        reasons.add_row(name, f"{share:6.2f}%", REASON_HELP.get(name, ""))
    console.print(reasons)
    if data.blocking_paths:
        table = Table(title="Where threads went to sleep (off-CPU time)", title_justify="left")
        table.add_column("reason")
        table.add_column(
            "path (kernel wait <- user frames)", max_width=80, no_wrap=True, overflow="ellipsis"
        )
        table.add_column("seconds", justify="right")
        table.add_column("times", justify="right")
        for p in data.blocking_paths[:top]:
            table.add_row(
                p.reason,
                escape(" <- ".join(p.frames) or "(no callchain)"),
                f"{p.seconds:.3f}",
                f"{p.count:,}",
            )
        console.print(table)
    if data.wakers:
        table = Table(title="Who wakes whom", title_justify="left")
        table.add_column("waker")
        table.add_column("wakee")
        table.add_column("wake-ups", justify="right")
        for w in data.wakers[:top]:
            table.add_row(escape(w.waker), escape(w.wakee), f"{w.count:,}")
        console.print(table)
    for note in data.notes:
        console.print(f"[dim]note: {escape(note)}[/]")


def write_offcpu_folded(path: Path, data: OffCpuResult) -> None:
    """The off-CPU flavour of folded stacks: ``comm;root;...;leaf MICROSECONDS`` per
    line, as offcputime prints them (kernel frames end in ``_[k]``)."""
    lines = [f"{stack} {round(us)}" for stack, us in data.folded_us.items() if round(us) > 0]
    try:
        path.write_text("".join(f"{line}\n" for line in lines))
    except OSError as exc:
        raise LseprofError(f"cannot write {path}: {exc.strerror}; pick another path") from None
