"""The dashboard's data: the nightly series of :mod:`lseprof.analysis.verdicts` (the
one judgement `lseprof nightly` uses too), plus what only plotting needs.

Change points are always found over the full history, even when the plots are
downsampled (:func:`kept_nights`).
"""

from __future__ import annotations

from lseprof.analysis.changepoint import DEFAULT_MIN_SIZE
from lseprof.analysis.verdicts import (
    Series,
)

KEEP_RECENT = 14  # nights always plotted at the end when downsampling


def threads_text(value: int | None) -> str:
    return "-" if value is None else str(value)


def kept_nights(series: Series, step: int, min_size: int = DEFAULT_MIN_SIZE) -> list[int]:
    """Nights plotted when downsampling by ``step``: every step-th (counted back from the
    newest), the newest KEEP_RECENT, and all within ``min_size`` of a change point."""
    n = len(series.nights)
    if step <= 1:
        return list(range(n))
    keep = {i for i in range(n) if (n - 1 - i) % step == 0}
    keep |= set(range(max(0, n - KEEP_RECENT), n))
    for mark in series.marks:
        keep |= set(range(max(0, mark.before - min_size + 1), min(n, mark.night + min_size)))
    return sorted(keep)
