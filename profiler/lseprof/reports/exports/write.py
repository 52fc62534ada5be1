"""Choosing and writing the export a report asks for (see the package docstring)."""

from __future__ import annotations

from pathlib import Path

from lseprof.analysis.pipeline import Report
from lseprof.analysis.stacks import folded, stacks_of
from lseprof.errors import LseprofError
from lseprof.reports.exports.pprof import build_pprof, write_pprof
from lseprof.reports.exports.speedscope import build_speedscope, write_speedscope

EXPORTS = ("pprof", "speedscope")


def export_profile(report: Report, kind: str, out: Path) -> str:
    """Write `report` as `kind` (pprof or speedscope) to `out`; returns what was
    written, for the user. Several events: the first one, as the tables. Every frame
    is named as the report names it (:mod:`lseprof.analysis.stacks`)."""
    if not report.sections:
        raise LseprofError("the profile has no samples to export")
    event = report.sections[0].event
    if kind == "pprof":
        data = build_pprof(
            stacks_of(report, event), event, comment=f"lseprof report of {report.path}"
        )
        write_pprof(out, data)
        return f"{out} ({len(data):,} bytes before gzip, {out.stat().st_size:,} after)"
    if kind != "speedscope":
        raise LseprofError(f"--format {kind} is not an export; use {' or '.join(EXPORTS)}")
    # Weighted as the report's shares are (the period), so its views read like the report.
    stacks = folded(report, event, by_weight=True)
    write_speedscope(out, build_speedscope(stacks, report.path.name, event))
    return f"{out} ({out.stat().st_size:,} bytes)"
