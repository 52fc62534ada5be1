"""The per-thread tables of ``lseprof report --per-thread`` for people: thread groups
(like-named threads summed: ``rayon-worker-*``) and the threads themselves, as rich
tables or Markdown. They read the :class:`~lseprof.results.ThreadShare` rows of a
section, never the samples.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lseprof.results import Attribution, ThreadShare

# The categories shown as columns (the rest add up to 100% of the thread's samples).
_SHOWN = ("atomic_helper", "inline_atomic", "lock", "futex", "spin", "work")


def _label(t: ThreadShare) -> str:
    name = t.name or "?"
    main = " (main)" if t.main else ""
    if t.tid is None:
        return f"{name}{main} ({t.threads} threads)" if t.threads > 1 else f"{name}{main}"
    return f"{name}{main} [{t.tid}]"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cells(t: ThreadShare, offcpu: bool) -> list[str]:
    cells = [f"{t.samples:,.0f}", f"{t.share:6.2f}%"]
    cells += [f"{t.categories.get(c, 0.0):5.1f}" for c in _SHOWN]
    if offcpu:
        top = max(t.off_cpu_by_reason_s.items(), key=lambda kv: kv[1], default=("-", 0.0))
        cells += [_secs(t.on_cpu_s), _secs(t.off_cpu_s), top[0] if top[1] > 0 else "-"]
    return cells


def _headers(offcpu: bool) -> list[str]:
    heads = ["samples", "share", *(c.replace("_", " ") + " %" for c in _SHOWN)]
    return heads + (["on-CPU s", "off-CPU s", "mostly off for"] if offcpu else [])


def _has_offcpu(rows: list[ThreadShare]) -> bool:
    return any(t.off_cpu_s is not None for t in rows)


def _table(title: str, rows: list[ThreadShare], top: int) -> Table:
    offcpu = _has_offcpu(rows)
    table = Table(title=title, title_justify="left")
    table.add_column("thread", max_width=40, no_wrap=True, overflow="ellipsis")
    for head in _headers(offcpu):
        table.add_column(head, justify="right")
    for t in rows[:top]:
        table.add_row(escape(_label(t)), *_cells(t, offcpu))
    return table


def render_threads(section: Attribution, console: Console, top: int = 15) -> None:
    """The groups, then the threads, of one section (nothing if it has none)."""
    if section.thread_groups:
        console.print(
            _table(
                "Threads by name (like-named threads together; category % of their samples)",
                section.thread_groups,
                top,
            )
        )
    if section.threads:
        more = len(section.threads) - top
        console.print(
            _table(
                f"Threads{f' (top {top} of {len(section.threads)})' if more > 0 else ''}",
                section.threads,
                top,
            )
        )


def threads_markdown(section: Attribution, top: int = 15) -> str:
    """The same two tables in Markdown ("" if the section has none)."""
    out = []
    for title, rows in (("Threads by name", section.thread_groups), ("Threads", section.threads)):
        if not rows:
            continue
        offcpu = _has_offcpu(rows)
        heads = ["thread", *_headers(offcpu)]
        lines = [f"### {title}", "", "| " + " | ".join(heads) + " |"]
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(heads))) + "|")
        for t in rows[:top]:
            label = _label(t).replace("|", "\\|")
            lines.append("| " + " | ".join([f"`{label}`", *_cells(t, offcpu)]) + " |")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)
