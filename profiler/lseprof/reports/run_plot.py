"""The scaling plot of a `lseprof run --threads a,b,c` sweep.

Reuses the dashboard's scaling figure (throughput with its repetition spread and
helper share against threads, per variant), written as a standalone SVG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from lseprof.analysis.usl import UslFit
from lseprof.store import RunRecord


def write_scaling_plot(
    records: Sequence[RunRecord], path: Path, fits: Mapping[str, UslFit] | None = None
) -> Path | None:
    """Write the plot if the runs cover at least two thread counts; returns its path.
    ``fits`` (variant -> USL fit) are drawn over the measured throughput."""
    ok = [r for r in records if r.status == "ok"]
    if len({r.threads for r in ok}) < 2:
        return None
    # matplotlib loads only when a sweep is plotted: it costs ~0.5 s at start-up.
    from lseprof.analysis.verdicts import build_series
    from lseprof.reports.dashboard import scaling_svg

    series = build_series(ok)
    if not series:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scaling_svg(series, salt=path.stem, fits=fits))
    return path
