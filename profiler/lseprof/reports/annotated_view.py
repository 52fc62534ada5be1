"""Annotated functions (``perf annotate`` inputs) and findings, as terminal tables and
Markdown: the parts of a report section that ``terminal`` and ``markdown`` add."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lseprof.results import AnnotatedFunction, Attribution, Finding
from lseprof.store import RunRecord

HOT_INSTRUCTIONS = 8  # the hottest instructions of each function shown


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _where(address: int | None) -> str:
    return "-" if address is None else f"{address:x}"


def _span(first: int | None, last: int | None) -> str:
    """A loop's bounds; a screen labels only its head (the target of its branch)."""
    return f"{_where(first)}..{_where(last)}" if last is not None else f"label {_where(first)}"


def _heading(f: AnnotatedFunction) -> str:
    samples = f"{f.samples:,.0f} samples" if f.samples is not None else "samples not printed"
    share = f", {f.share:.2f}% of the section" if f.share is not None else ""
    shares = "" if f.percentages else "; no percentages printed: read for what it shows"
    return (
        f"{f.symbol} ({f.dso}, {f.arch or '?'}, {f.layout or '?'}, {samples}{share}; "
        f"named {f.category or 'work'}{shares})"
    )


def _helper_line(f: AnnotatedFunction) -> str:
    h = f.helper
    shown = [
        name
        for name, key in (
            ("LSE", "has_lse_path"),
            ("LL/SC", "has_llsc_path"),
            ("flag test", "has_flag_test"),
        )
        if h.get(key)
    ]
    return (
        f"outline-atomic helper {h.get('op')}/{h.get('size')}/{h.get('order')}: LSE path "
        f"{_pct(h.get('lse_path_percent'))}, LL/SC path {_pct(h.get('llsc_path_percent'))}, "
        f"flag test {_pct(h.get('flag_path_percent'))} of its samples "
        f"(paths in the listing: {', '.join(shown) or 'none'})"
    )


def _hot(f: AnnotatedFunction) -> list[tuple[str, str, str, str]]:
    ranked = sorted((i for i in f.instructions if i.percent), key=lambda i: -(i.percent or 0.0))[
        :HOT_INSTRUCTIONS
    ]
    return [(_where(i.address), i.text, _pct(i.percent), i.path or i.kind or "") for i in ranked]


def annotated_tables(s: Attribution, console: Console) -> None:
    """Each annotated function of the section: its hottest instructions, atomics by
    instruction, spin loops and helper paths."""
    for f in s.annotated:
        console.print(f"[bold]Annotated:[/] {escape(_heading(f))}")
        if f.helper:
            console.print(escape(_helper_line(f)))
        if hot := _hot(f):
            table = Table(title="Hottest instructions (of the function)", title_justify="left")
            for column in ("address", "instruction", "share", "what"):
                table.add_column(column, justify="right" if column == "share" else "left")
            for row in hot:
                table.add_row(*(escape(c) for c in row))
            console.print(table)
        if f.atomics:
            table = Table(title="Atomics by instruction", title_justify="left")
            for column in ("address", "instruction", "family", "share", "next (skid)"):
                table.add_column(
                    column, justify="right" if "share" in column or "skid" in column else "left"
                )
            for a in f.atomics:
                table.add_row(
                    _where(a.address),
                    escape(a.insn),
                    a.family,
                    _pct(a.percent),
                    _pct(a.skid_percent),
                )
            console.print(table)
        for loop in f.spin_loops:
            kind = "spin-wait (polls memory)" if loop.polls else "delay loop"
            console.print(
                f"spin loop around {loop.hint} at {_span(loop.first, loop.last)}: "
                f"{loop.instructions} instructions, {kind}, {_pct(loop.percent)} of the function"
            )


def findings_lines(findings: list[Finding]) -> list[str]:
    """Plain lines for the findings: what fired, the evidence, what to try."""
    out = []
    for f in findings:
        out.append(f"{f.title} [{f.id}]: {f.evidence}")
        out.append(f"  try: {f.remedy}" + (f" ({f.reference})" if f.reference else ""))
    return out


def findings_table(findings: list[Finding], console: Console) -> None:
    if not findings:
        return
    console.print("[bold]Findings[/]")
    for line in findings_lines(findings):
        console.print(escape(line), soft_wrap=True)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def annotated_markdown(s: Attribution) -> list[str]:
    out: list[str] = []
    for f in s.annotated:
        out += ["", f"### Annotated: `{f.symbol}`", "", _cell(_heading(f))]
        if f.helper:
            out += ["", _cell(_helper_line(f))]
        if hot := _hot(f):
            out += ["", "| address | instruction | share | what |", "|---|---|---|---|"]
            out += [f"| {a} | `{_cell(t)}` | {p} | {w} |" for a, t, p, w in hot]
        if f.atomics:
            out += [
                "",
                "| address | atomic | family | share | next (skid) |",
                "|---|---|---|---|---|",
            ]
            out += [
                f"| {_where(a.address)} | `{a.insn}` | {a.family} | {_pct(a.percent)} | "
                f"{_pct(a.skid_percent)} |"
                for a in f.atomics
            ]
        for loop in f.spin_loops:
            kind = "spin-wait (polls memory)" if loop.polls else "delay loop"
            out += [
                "",
                f"- spin loop around `{loop.hint}` at {_span(loop.first, loop.last)}: "
                f"{loop.instructions} instructions, {kind}, {_pct(loop.percent)} of the function",
            ]
    return out


def findings_markdown(findings: list[Finding]) -> list[str]:
    if not findings:
        return []
    out = ["", "### Findings", ""]
    for f in findings:
        ref = f" ([reference]({f.reference}))" if f.reference.startswith("http") else ""
        out.append(
            f"- **{_cell(f.title)}** (`{f.id}`): {_cell(f.evidence)} Try: {_cell(f.remedy)}{ref}"
        )
    return out


def run_findings_lines(records: list[RunRecord]) -> list[str]:
    """The findings of a session's runs, once per run group (``lseprof run``)."""
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    for record in records:
        for f in record.extra.findings:
            if (record.group_id, f.id) in seen:
                continue
            seen.add((record.group_id, f.id))
            out.append(f"{record.group_id}: {f.title} [{f.id}]: {f.evidence}")
            out.append(f"  try: {f.remedy}" + (f" ({f.reference})" if f.reference else ""))
    return out
