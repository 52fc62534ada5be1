"""The findings table (``findings.toml``, kept as data) and its evaluation."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from lseprof.analysis.findings.figures import Figures
from lseprof.results import Finding


@dataclass(frozen=True)
class FindingRule:
    """One row of the findings table."""

    id: str
    title: str
    figure: str
    above: float
    requires: tuple[str, ...]
    evidence: str
    remedy: str
    reference: str

    def fires(self, figures: Figures) -> bool:
        value = figures.known(self.figure)
        if value is None or value <= self.above:
            return False
        return all((figures.known(name) or 0.0) > 0 for name in self.requires)

    def finding(self, figures: Figures) -> Finding:
        quoted: dict[str, Any] = {**figures.quotes}
        quoted.update({k: v for k, v in figures.values.items() if v is not None})
        return Finding(
            self.id,
            self.title,
            self.figure,
            figures.known(self.figure),
            self.above,
            self.evidence.format(**quoted),
            self.remedy,
            self.reference,
        )


@cache
def findings_table() -> tuple[FindingRule, ...]:
    """The findings table, in its file's order."""
    text = resources.files("lseprof.analysis.findings").joinpath("findings.toml").read_text()
    return tuple(
        FindingRule(
            str(entry["id"]),
            str(entry["title"]),
            str(entry["figure"]),
            float(entry["above"]),
            tuple(str(r) for r in entry.get("requires", [])),
            str(entry["evidence"]),
            str(entry["remedy"]),
            str(entry.get("reference", "")),
        )
        for entry in tomllib.loads(text)["finding"]
    )


def evaluate(figures: Figures) -> list[Finding]:
    """The findings whose conditions hold on these figures, in the table's order."""
    return [rule.finding(figures) for rule in findings_table() if rule.fires(figures)]
