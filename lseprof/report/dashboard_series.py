"""The dashboard's data: nightly series of stored runs, with their change points.

A series is one (workload, variant, threads, target, hostname); a *night* is
that series' runs in one group (one ``lseprof run`` invocation, normally one
night). Change points are found on the nightly medians (throughput) and on the
nightly helper shares with :mod:`lseprof.analysis.changepoint`, always over the full
history, even when the plots are downsampled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from lseprof.analysis.changepoint import (
    DEFAULT_MIN_SIZE,
    DEFAULT_NOISE_FLOOR_PCT,
    ChangePoint,
    Direction,
    EndCheck,
    detect,
    regression_at_end,
)
from lseprof.analysis.stats import median
from lseprof.store import RunRecord

DEFAULT_SHARE_FLOOR_PP = 0.5  # helper-share steps below this many percentage points are noise
KEEP_RECENT = 14  # nights always plotted at the end when downsampling

SeriesKey = tuple[str, str, int | None, str, str]  # workload, variant, threads, target, host


@dataclass(frozen=True)
class Settings:
    """Change-point settings for both metrics."""

    noise_floor_pct: float = DEFAULT_NOISE_FLOOR_PCT  # throughput, relative
    share_floor_pp: float = DEFAULT_SHARE_FLOOR_PP  # helper share, percentage points
    min_size: int = DEFAULT_MIN_SIZE  # nights on each side of a change


@dataclass
class Night:
    """One series' runs of one group."""

    group_id: str
    when: datetime
    throughput: list[float]  # ok repetitions, MiB/s
    share: float | None  # median atomic-helper share, percent
    categories: dict[str, float]  # mean over ok repetitions, percent
    commit: str | None  # the most common source_commit


@dataclass(frozen=True)
class Mark:
    """A change point placed on a series' nights."""

    metric: str  # "throughput" or "helper share"
    night: int  # index into Series.nights of the first night after the change
    before: int  # ... and of the last night before it
    point: ChangePoint
    bad: bool


@dataclass
class Series:
    key: SeriesKey
    nights: list[Night]
    marks: list[Mark] = field(default_factory=list)
    tp_check: EndCheck | None = None
    share_check: EndCheck | None = None

    @property
    def label(self) -> str:
        workload, variant, threads, target, host = self.key
        return f"{workload} / {variant} / {threads_text(threads)} threads / {target} @ {host}"

    def with_throughput(self) -> list[int]:
        return [i for i, n in enumerate(self.nights) if n.throughput]


def threads_text(value: int | None) -> str:
    return "-" if value is None else str(value)


def created(record: RunRecord) -> datetime:
    return datetime.fromisoformat(record.created_at)


def series_key(record: RunRecord) -> SeriesKey:
    return (record.workload or "-", record.variant or "-", record.threads,
            record.target or "-", record.hostname or "-")


def sort_key(key: SeriesKey) -> tuple[str, str, int, str, str]:
    return (key[0], key[1], -1 if key[2] is None else key[2], key[3], key[4])


def mean_categories(runs: Iterable[RunRecord]) -> dict[str, float]:
    """Category shares averaged over the ok runs that have them."""
    with_cats = [r for r in runs if r.status == "ok" and r.categories]
    result: dict[str, float] = {}
    for r in with_cats:
        for name, value in r.categories.items():
            if isinstance(value, int | float) and math.isfinite(value):
                result[str(name)] = result.get(str(name), 0.0) + float(value) / len(with_cats)
    return result


def night_of(group_id: str, runs: list[RunRecord]) -> Night:
    ok = [r for r in runs if r.status == "ok"]
    shares = [r.atomic_helper_share for r in ok if r.atomic_helper_share is not None]
    commits = [r.source_commit for r in runs if r.source_commit]
    return Night(
        group_id=group_id, when=min(created(r) for r in runs),
        throughput=[r.throughput_mib_s for r in ok if r.throughput_mib_s is not None],
        share=median(shares) if shares else None, categories=mean_categories(ok),
        # most common, ties to the smallest id, so that pages re-render identically
        commit=min(set(commits), key=lambda c: (-commits.count(c), c)) if commits else None,
    )


def _marks(nights: list[Night], idx: list[int], values: list[float], metric: str,
           settings: Settings) -> tuple[list[Mark], EndCheck]:
    """Change points of one metric, located on the full night list, and the end check."""
    # Throughput is judged relative to its level, the helper share (already percent)
    # in percentage points; bad is down for the one and up for the other.
    up = metric == "helper share"
    floor_pct = 0.0 if up else settings.noise_floor_pct
    floor_abs = settings.share_floor_pp if up else 0.0
    points = detect(values, min_size=settings.min_size, noise_floor_pct=floor_pct,
                    noise_floor_abs=floor_abs)
    bad: Direction = "up" if up else "down"
    marks = [Mark(metric, idx[p.index], idx[p.index - 1], p, p.direction == bad)
             for p in points]
    check = regression_at_end(values, bad=bad, min_size=settings.min_size,
                              noise_floor_pct=floor_pct, noise_floor_abs=floor_abs)
    return marks, check


def one_series(job: tuple[SeriesKey, dict[str, list[RunRecord]], Settings]) -> Series | None:
    """The series of one key from its runs by group; None when no night has data."""
    key, groups, settings = job
    nights = sorted((night_of(g, runs) for g, runs in groups.items()),
                    key=lambda n: (n.when, n.group_id))
    nights = [n for n in nights if n.throughput or n.share is not None]
    if not nights:
        return None
    series = Series(key, nights)
    tp = series.with_throughput()
    series.marks, series.tp_check = _marks(
        nights, tp, [median(nights[i].throughput) for i in tp], "throughput", settings)
    sh = [i for i, n in enumerate(nights) if n.share is not None]
    share_marks, series.share_check = _marks(
        nights, sh, [float(nights[i].share or 0.0) for i in sh], "helper share", settings)
    series.marks += share_marks
    return series


def series_jobs(records: Iterable[RunRecord], settings: Settings
                ) -> list[tuple[SeriesKey, dict[str, list[RunRecord]], Settings]]:
    """One :func:`one_series` job per series key, in display order."""
    grouped: dict[SeriesKey, dict[str, list[RunRecord]]] = {}
    for record in records:
        grouped.setdefault(series_key(record), {}).setdefault(record.group_id, []).append(record)
    return [(key, grouped[key], settings) for key in sorted(grouped, key=sort_key)]


def build_series(records: Iterable[RunRecord], settings: Settings | None = None) -> list[Series]:
    """Nightly series per (workload, variant, threads, target, hostname), with change points."""
    jobs = series_jobs(records, settings or Settings())
    return [s for s in map(one_series, jobs) if s is not None]


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
