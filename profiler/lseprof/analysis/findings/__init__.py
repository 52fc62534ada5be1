"""Findings with remedies: what an analysed profile's figures call for.

The table is data (``findings.toml``): each finding is a condition on one figure of
the analysed profile (a threshold, and other figures it requires), the evidence it
quotes, a remedy and a reference. :func:`figures_of` computes the figures of a
section (helper shares and paths, whether the CPU has LSE, the kernel's LL/SC
atomics, idle workers' yielding, user spin-waits, kernel lock slow paths, wake-ups
and futex waits per work item, the emulator's share); :func:`evaluate` gives the
:class:`lseprof.results.Finding` s that fire, each naming its figure and value.
``lseprof report``, ``run`` (stored with each run) and ``diff`` (new and gone)
show them; docs/contention.md lists the table.

Modules: the figures (``figures``) and the table with its evaluation (``table``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lseprof.analysis.findings.figures import Figures, figures_of
from lseprof.analysis.findings.table import FindingRule, evaluate, findings_table

if TYPE_CHECKING:
    import pandas as pd

    from lseprof.results import Attribution, Finding, OffCpuResult

__all__ = [
    "Figures",
    "FindingRule",
    "evaluate",
    "figures_of",
    "findings_for",
    "findings_markdown_table",
    "findings_table",
    "with_offcpu",
]


def findings_for(
    section: Attribution, offcpu: OffCpuResult | None = None, samples: pd.DataFrame | None = None
) -> list[Finding]:
    """The findings of one section (see :func:`figures_of` for what each input adds)."""
    return evaluate(figures_of(section, offcpu, samples))


def with_offcpu(section: Attribution, offcpu: OffCpuResult | None) -> list[Finding]:
    """A stored run's findings: the section's own (from its samples), with those its
    scheduler view adds (wake-ups and futex waits per item, known only to a run)."""
    found = {f.id: f for f in findings_for(section, offcpu)}
    found.update({f.id: f for f in section.findings})
    order = [rule.id for rule in findings_table()]
    return sorted(found.values(), key=lambda f: order.index(f.id) if f.id in order else len(order))


def findings_markdown_table() -> str:
    """The findings table as Markdown (docs/contention.md holds this text)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| finding | fires when | evidence quoted | remedy | reference |",
        "|---|---|---|---|---|",
    ]
    for rule in findings_table():
        when = f"`{rule.figure}` > {rule.above:g}" + "".join(
            f" and `{r}` known" for r in rule.requires
        )
        lines.append(
            f"| **{cell(rule.title)}** (`{rule.id}`) | {when} | {cell(rule.evidence)} "
            f"| {cell(rule.remedy)} | {rule.reference} |"
        )
    return "\n".join(lines)
