"""Verdicts on stored series: has a nightly series regressed, and at which commit?

A series is the runs of one (config_key, workload, variant, threads, target,
hostname); its nights are its run groups. Change points are found over the whole
history with :mod:`lseprof.analysis.changepoint` on the nightly medians of
throughput (bad: down) and of the atomic-helper share (bad: up). Used by
`lseprof nightly` (lseprof.jobs.nightly) and its table (lseprof.report).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from lseprof.analysis import changepoint
from lseprof.analysis.stats import median
from lseprof.store import RunRecord

HELPER_NOISE_FLOOR_PP = 0.5  # helper-share steps below this many percentage points are noise


SeriesKey = tuple[str, str, str, int, str, str]


@dataclass
class SeriesVerdict:
    key: SeriesKey  # config_key, workload, variant, threads, target, hostname
    nights: int
    latest_mib_s: float | None
    latest_helper_share: float | None
    throughput: changepoint.EndCheck
    helper_share: changepoint.EndCheck
    commits: tuple[str | None, str | None] = (None, None)

    @property
    def regressed(self) -> bool:
        return "regression" in (self.throughput.status, self.helper_share.status)


def _nights(records: Sequence[RunRecord]) -> list[list[RunRecord]]:
    """A series' runs grouped into nights (one run group each), oldest first."""
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        if record.status == "ok":
            groups.setdefault(record.group_id, []).append(record)
    return sorted(groups.values(), key=lambda rows: min(r.created_at for r in rows))


def judge_series(records: Sequence[RunRecord], names: Collection[str], *, min_nights: int,
                 noise_floor_pct: float, alpha: float) -> list[SeriesVerdict]:
    """Change-point verdicts for every series whose ``config_key`` is in ``names``.

    Throughput regresses when it steps down by more than ``noise_floor_pct``
    percent; the helper share when it steps up by more than
    :data:`HELPER_NOISE_FLOOR_PP` percentage points.
    """
    series: dict[SeriesKey, list[RunRecord]] = {}
    for r in records:
        if r.config_key is not None and r.config_key in names:
            key = (r.config_key, r.workload or "", r.variant or "", r.threads or 0,
                   r.target or "", r.hostname or "")
            series.setdefault(key, []).append(r)
    verdicts = []
    for key in sorted(series):
        nights = _nights(series[key])
        tp_nights = [n for n in nights if any(r.throughput_mib_s is not None for r in n)]
        tp = [median([r.throughput_mib_s for r in n if r.throughput_mib_s is not None])
              for n in tp_nights]
        share_nights = [n for n in nights if any(r.atomic_helper_share is not None for r in n)]
        share = [median([r.atomic_helper_share for r in n if r.atomic_helper_share is not None])
                 for n in share_nights]
        tp_check = changepoint.regression_at_end(
            tp, bad="down", min_size=min_nights, noise_floor_pct=noise_floor_pct,
            alpha=alpha)
        share_check = changepoint.regression_at_end(
            share, bad="up", min_size=min_nights, noise_floor_pct=0.0,
            noise_floor_abs=HELPER_NOISE_FLOOR_PP, alpha=alpha)
        commits: tuple[str | None, str | None] = (None, None)
        tp_bad = tp_check.status == "regression"
        point = tp_check.change_point if tp_bad else share_check.change_point
        basis = tp_nights if tp_bad else share_nights
        if point is not None and 0 < point.index < len(basis):
            commits = (basis[point.index - 1][0].source_commit, basis[point.index][0].source_commit)
        verdicts.append(SeriesVerdict(key, len(nights), tp[-1] if tp else None,
                                      share[-1] if share else None, tp_check, share_check,
                                      commits))
    return verdicts
