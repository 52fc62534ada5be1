"""The group page's "cache lines between cores" block: per configuration, the mean
transfers per MiB and per item of its runs recorded with coherence, and the lines
that moved most in its latest such run (as ``lseprof report`` shows them)."""

from __future__ import annotations

from collections.abc import Sequence

from lseprof.reports.dashboard.html import code_cell, html_table, num, table_cell
from lseprof.results import CoherenceResult
from lseprof.store import RunRecord

LINES_SHOWN = 5


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _top_instruction(result: CoherenceResult, rank: int) -> str | None:
    line = result.lines[rank]
    if not line.instructions:
        return None
    insn = line.instructions[0]
    return f"{insn.symbol or hex(insn.address or 0)} ({insn.mnemonic or insn.kind})"


def coherence_html(configs: Sequence[tuple[str, list[RunRecord]]]) -> str:
    """The block, or "" when no run of the group was recorded with coherence."""
    totals: list[tuple[str, list[str]]] = []
    lines: list[tuple[str, list[str]]] = []
    for label, runs in configs:
        found = [r.extra.coherence for r in runs if r.extra.coherence is not None]
        if not found:
            continue
        totals.append(
            (
                "",
                [
                    table_cell(label),
                    table_cell(len(found), True),
                    table_cell(num(_mean([c.transfers_per_mib for c in found])), True),
                    table_cell(num(_mean([c.transfers_per_item for c in found]), "{:.4g}"), True),
                    table_cell(num(_mean([float(c.transfers) for c in found]), "{:,.0f}"), True),
                    table_cell(found[-1].interleaving),
                ],
            )
        )
        latest = found[-1]
        for rank, line in enumerate(latest.lines[:LINES_SHOWN]):
            if not line.transfers:
                continue
            lines.append(
                (
                    "",
                    [
                        table_cell(label),
                        code_cell(line.symbol),
                        table_cell(line.region),
                        table_cell(f"{line.transfers:,}", True),
                        table_cell(line.cores, True),
                        table_cell(line.sharing),
                        code_cell(_top_instruction(latest, rank)),
                    ],
                )
            )
    if not totals:
        return ""
    out = "<h2>Cache lines between cores</h2>" + html_table(
        ("configuration", "runs", "transfers/MiB", "per item", "transfers", "interleaving"),
        totals,
    )
    if lines:
        out += "<p>Lines that moved most in the latest run of each configuration:</p>"
        out += html_table(
            ("configuration", "data", "region", "transfers", "cores", "sharing", "moved by"),
            lines,
        )
    return out
