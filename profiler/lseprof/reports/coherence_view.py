"""Cache lines between cores (:class:`lseprof.results.CoherenceResult`) for people: a
rich block and Markdown, shaped like ``perf c2c report``'s shared-data cache-line
table (lines by transfers) and its per-line distribution (the instructions that
touched each line, at which offsets, from which cores).

Both read the result only: a stored run re-renders without its files.
"""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lseprof.results import CoherenceInsn, CoherenceLine, CoherenceResult, report_json

TITLE = "Cache lines between cores"
SHARING_HELP = {
    "false": "false sharing: cores touch disjoint bytes of the line",
    "true": "true sharing: cores touch the same bytes",
    "both": "true and false sharing",
    "read-only": "read by several cores, written by none",
    "unknown": "one core in the records",
}
DETAIL_LINES = 5  # lines whose instructions are listed
DETAIL_ROWS = 8  # instructions listed per line


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value >= 10 else f"{value:.3g}"


def _filter(result: CoherenceResult) -> str:
    return {
        "proc": "the command's processes",
        "user": "all user code",
        "all": "user and kernel code",
    }.get(result.filter or "", result.filter or "?")


def headline(result: CoherenceResult) -> str:
    """Totals in one line: transfers per MiB and per item, then the counts."""
    per = [
        f"{_ratio(result.transfers_per_mib)} transfers per MiB"
        if result.transfers_per_mib is not None
        else None,
        f"{_ratio(result.transfers_per_item)} transfers per item"
        if result.transfers_per_item is not None
        else None,
    ]
    shown = "; ".join(p for p in per if p)
    return (
        (f"{shown}; " if shown else "") + f"{result.transfers:,} transfers (hitm {result.hitm:,}), "
        f"{result.invalidations:,} invalidations, {result.accesses:,} accesses "
        f"({result.loads:,} loads, {result.stores:,} stores, {result.atomics:,} atomics, "
        f"{result.exclusives:,} exclusives) on {result.lines_tracked:,} lines"
    )


def setting(result: CoherenceResult) -> str:
    """What was modelled: CPUs, interleaving, whose accesses, complete or partial."""
    return (
        f"MESI model of 64-byte lines, {result.cpus or '?'} virtual CPUs, "
        f"interleaving {result.interleaving or '?'}, {_filter(result)}"
        + (" [PARTIAL: the run did not finish]" if result.partial else "")
    )


def _address(line: CoherenceLine) -> str:
    return f"{line.address:#x}" if line.address is not None else f"pa {line.line:#x}"


def _offsets(insn: CoherenceInsn) -> str:
    if len(insn.offsets) != 2:
        return "-"
    low, high = insn.offsets
    return f"{low:#04x}" if low == high else f"{low:#04x}-{high:#04x}"


def _line_cells(rank: int, line: CoherenceLine) -> list[str]:
    return [
        str(rank),
        _address(line),
        line.symbol or "?",
        line.region,
        f"{line.transfers:,}",
        f"{line.hitm:,}",
        f"{line.invalidations:,}",
        f"{line.loads:,}",
        f"{line.stores:,}",
        f"{line.atomics + line.exclusives:,}",
        str(line.cores),
        line.sharing,
    ]


LINE_HEADER = [
    "#",
    "line (vaddr)",
    "data symbol",
    "region",
    "transfers",
    "hitm",
    "inval",
    "loads",
    "stores",
    "atomics+excl",
    "cores",
    "sharing",
]
INSN_HEADER = ["offset", "instruction", "mnemonic", "kind", "cpus", "count", "transfers"]


def _insn_cells(insn: CoherenceInsn) -> list[str]:
    where = insn.symbol or (f"{insn.address:#x}" if insn.address is not None else "?")
    return [
        _offsets(insn),
        where,
        insn.mnemonic or "?",
        insn.kind,
        ",".join(map(str, insn.cpus)),
        f"{insn.count:,}",
        f"{insn.transfers:,}",
    ]


def _moving(result: CoherenceResult, top: int) -> list[CoherenceLine]:
    return [line for line in result.lines[:top] if line.transfers or line.invalidations]


def render_coherence(result: CoherenceResult, console: Console, top: int = 10) -> None:
    """The view as rich tables."""
    console.print(f"[bold]{TITLE}[/]: {escape(headline(result))}")
    console.print(f"[dim]{escape(setting(result))}[/]")
    lines = _moving(result, top)
    if not lines:
        console.print("no cache line moved between cores")
    else:
        table = Table(title="Shared cache lines, by transfers", title_justify="left")
        for name in LINE_HEADER:
            right = name not in ("line (vaddr)", "data symbol", "region", "sharing")
            table.add_column(name, justify="right" if right else "left")
        for rank, line in enumerate(lines, 1):
            table.add_row(*(escape(c) for c in _line_cells(rank, line)))
        console.print(table)
    for rank, line in enumerate(lines[:DETAIL_LINES], 1):
        if not line.instructions:
            continue
        title = f"#{rank} {line.symbol or _address(line)}: {SHARING_HELP.get(line.sharing, '')}"
        table = Table(title=escape(title), title_justify="left")
        for name in INSN_HEADER:
            table.add_column(name, justify="right" if name in ("count", "transfers") else "left")
        for insn in line.instructions[:DETAIL_ROWS]:
            table.add_row(*(escape(c) for c in _insn_cells(insn)))
        console.print(table)
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/]")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def coherence_markdown(result: CoherenceResult, top: int = 10) -> list[str]:
    """The view as Markdown lines."""
    out = [f"### {TITLE}", "", headline(result), "", f"_{setting(result)}_", ""]
    lines = _moving(result, top)
    if not lines:
        out += ["No cache line moved between cores.", ""]
    else:
        out += [*_table(LINE_HEADER, [_line_cells(r, line) for r, line in enumerate(lines, 1)]), ""]
    for rank, line in enumerate(lines[:DETAIL_LINES], 1):
        if line.instructions:
            out += [
                f"**#{rank} `{line.symbol or _address(line)}`**: "
                f"{SHARING_HELP.get(line.sharing, line.sharing)}",
                "",
                *_table(INSN_HEADER, [_insn_cells(i) for i in line.instructions[:DETAIL_ROWS]]),
                "",
            ]
    out += [f"_note: {note}_\n" for note in result.notes]
    return out


def render_coherence_report(
    result: CoherenceResult, out: Console | IO[str], fmt: str = "terminal", top: int = 10
) -> None:
    """`lseprof report` of a coherence file alone: terminal, JSON or Markdown."""
    if fmt == "terminal":
        console = (
            out if isinstance(out, Console) else Console(file=out, no_color=True, color_system=None)
        )
        render_coherence(result, console, top)
        return
    stream = out.file if isinstance(out, Console) else out
    if fmt == "json":
        stream.write(report_json([], None, coherence=result) + "\n")
    else:
        stream.write("\n".join(["## lseprof report", "", *coherence_markdown(result, top)]) + "\n")
