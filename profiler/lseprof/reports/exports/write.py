"""Choosing and writing the export a report asks for (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from lseprof.analysis.pipeline import Report
from lseprof.errors import LseprofError


def _event_rows(report: Report) -> tuple[pd.DataFrame, str | None]:
    frame = report.capture.samples
    if not report.sections:
        raise LseprofError("the profile has no samples to export")
    event = report.sections[0].event
    if event is not None and "event" in frame and len(report.sections) > 1:
        frame = frame[(frame["event"].astype(str) == event).to_numpy()]
    return frame, event


def export_profile(
    report: Report,
    source: Path,
    kind: str,
    out: Path,
    binaries: Sequence[Path] = (),
    perf_maps: Sequence[Path] = (),
) -> str:
    """Write `report` (of `source`) as `kind` (pprof or speedscope) to `out`; returns
    what was written, for the user. Several events: the first one, as the tables."""
    from lseprof.symbols.demangle import demangle_all

    frame, event = _event_rows(report)
    if kind == "pprof":
        from lseprof.reports.exports.pprof import build_pprof, write_pprof

        names = sorted(
            {
                str(n)
                for col in ("symbol", "caller")
                if col in frame
                for n in frame[col].astype(str).unique()
            }
        )
        data = build_pprof(frame, event, demangle_all(names), comment=f"lseprof report of {source}")
        write_pprof(out, data)
        return f"{out} ({len(data):,} bytes before gzip, {out.stat().st_size:,} after)"
    from lseprof.reports.exports.speedscope import build_speedscope, write_speedscope

    write_speedscope(
        out,
        build_speedscope(_stacks(report, source, frame, binaries, perf_maps), source.name, event),
    )
    return f"{out} ({out.stat().st_size:,} bytes)"


def _stacks(
    report: Report,
    source: Path,
    frame: pd.DataFrame,
    binaries: Sequence[Path],
    perf_maps: Sequence[Path],
) -> Mapping[str, float]:
    from lseprof.readers.perf_data import is_perf_data

    if is_perf_data(source):
        from lseprof.analysis.folded import collapse
        from lseprof.analysis.stored_runs import ProfileSource

        maps = list(perf_maps) or sorted(source.parent.glob("perf-*.map"))
        return collapse(
            [ProfileSource(source, maps[0] if maps else None, tuple(binaries))],
            event=report.sections[0].event,
        ).stacks
    # Text input: the sampled function under its caller, as far as the text tells.
    stacks: dict[str, float] = {}
    comm = frame["comm"].astype(str) if "comm" in frame else pd.Series("?", index=frame.index)
    caller = frame["caller"].astype(str) if "caller" in frame else pd.Series("", index=frame.index)
    # Samples, as from a perf.data; a pasted report's rows carry percentages instead.
    weights = (
        frame["weight"]
        if report.capture.source_kind == "perf-report"
        else pd.Series(1.0, index=frame.index)
    )
    for c, k, sym, w in zip(comm, caller, frame["symbol"].astype(str), weights, strict=True):
        key = ";".join(x for x in (c, k, sym) if x)
        stacks[key] = stacks.get(key, 0.0) + float(w)  # speedscope takes float weights
    return stacks
