"""Nightly series of stored runs and the one judgement of them: change points, and
whether the newest nights regressed.

A series is the runs of one (config_key, workload, variant, threads, target,
hostname); a *night* is that series' runs in one group (one ``lseprof run`` or
``lseprof nightly`` invocation). Change points are found with
:mod:`lseprof.analysis.changepoint` over the whole history, on the nightly
medians of throughput (bad: down, floor relative) and of the atomic-helper share
(bad: up, floor in percentage points). ``lseprof nightly`` (its exit code and
table) and the dashboard (its marks and regression rows) both judge through
:func:`build_series`, with the settings the nightly config gave, which are stored
with every run (``extra["judgement"]``) so a page re-rendered later judges alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from lseprof.analysis.changepoint import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_SIZE,
    DEFAULT_NOISE_FLOOR_PCT,
    ChangePoint,
    Direction,
    EndCheck,
    detect,
    regression_at_end,
)
from lseprof.analysis.run_means import mean_categories
from lseprof.analysis.stats import median
from lseprof.store import RunRecord

DEFAULT_SHARE_FLOOR_PP = 0.5  # helper-share steps below this many percentage points are noise
HELPER_NOISE_FLOOR_PP = DEFAULT_SHARE_FLOOR_PP  # the name `lseprof nightly` used

SeriesKey = tuple[str, str, int | None, str, str]  # workload, variant, threads, target, host
GroupKey = tuple[str | None, SeriesKey]  # config_key (None: not a nightly run), series key


@dataclass(frozen=True)
class Settings:
    """How a series is judged, for both metrics."""

    noise_floor_pct: float = DEFAULT_NOISE_FLOOR_PCT  # throughput, relative
    share_floor_pp: float = DEFAULT_SHARE_FLOOR_PP  # helper share, percentage points
    min_size: int = DEFAULT_MIN_SIZE  # nights on each side of a change
    alpha: float = DEFAULT_ALPHA  # significance level of the permutation test

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    def updated(self, stored: Mapping[str, Any]) -> Settings:
        """These settings with the valid numbers of a stored ``judgement`` put over them."""

        def number(name: str, default: float) -> float:
            value = stored.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return default
            return float(value) if math.isfinite(value) else default

        alpha = number("alpha", self.alpha)
        return Settings(
            noise_floor_pct=number("noise_floor_pct", self.noise_floor_pct),
            share_floor_pp=number("share_floor_pp", self.share_floor_pp),
            min_size=max(2, int(number("min_size", self.min_size))),
            alpha=alpha if 0 < alpha < 1 else self.alpha,
        )


@dataclass
class Night:
    """One series' runs of one group."""

    group_id: str
    when: datetime
    throughput: list[float]  # ok repetitions, MiB/s
    share: float | None  # median atomic-helper share, percent
    categories: dict[str, float]  # mean over ok repetitions, percent
    commit: str | None  # the most common source_commit
    wakeups_per_item: float | None = None  # median over ok --sched repetitions


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
    config_key: str | None = None
    settings: Settings = field(default_factory=Settings)

    @property
    def label(self) -> str:
        workload, variant, threads, target, host = self.key
        name = "-" if threads is None else str(threads)
        text = f"{workload} / {variant} / {name} threads / {target} @ {host}"
        return f"{self.config_key}: {text}" if self.config_key else text

    def with_throughput(self) -> list[int]:
        return [i for i, n in enumerate(self.nights) if n.throughput]

    @property
    def regressed(self) -> bool:
        return any(
            c is not None and c.status == "regression" for c in (self.tp_check, self.share_check)
        )

    def mark_of(self, check: EndCheck | None) -> Mark | None:
        """The mark of an end check's change point, if it has one."""
        if check is None or check.change_point is None:
            return None
        return next((m for m in self.marks if m.point == check.change_point), None)


def created(record: RunRecord) -> datetime:
    return datetime.fromisoformat(record.created_at)


def series_key(record: RunRecord) -> SeriesKey:
    return (
        record.workload or "-",
        record.variant or "-",
        record.threads,
        record.target or "-",
        record.hostname or "-",
    )


def sort_key(key: SeriesKey) -> tuple[str, str, int, str, str]:
    return (key[0], key[1], -1 if key[2] is None else key[2], key[3], key[4])


def night_of(group_id: str, runs: list[RunRecord]) -> Night:
    ok = [r for r in runs if r.status == "ok"]
    shares = [r.atomic_helper_share for r in ok if r.atomic_helper_share is not None]
    commits = [r.source_commit for r in runs if r.source_commit]
    wakeups = [
        v for r in ok if r.extra.offcpu and (v := r.extra.offcpu.wakeups_per_item) is not None
    ]
    return Night(
        group_id=group_id,
        when=min(created(r) for r in runs),
        throughput=[r.throughput_mib_s for r in ok if r.throughput_mib_s is not None],
        share=median(shares) if shares else None,
        categories=mean_categories(ok),
        # most common, ties to the smallest id, so that pages re-render identically
        commit=min(set(commits), key=lambda c: (-commits.count(c), c)) if commits else None,
        wakeups_per_item=median(wakeups) if wakeups else None,
    )


def _marks(
    nights: list[Night], idx: list[int], values: list[float], metric: str, settings: Settings
) -> tuple[list[Mark], EndCheck]:
    """Change points of one metric, located on the full night list, and the end check."""
    # Throughput is judged relative to its level, the helper share (already percent)
    # in percentage points; bad is down for the one and up for the other.
    up = metric == "helper share"
    floor_pct = 0.0 if up else settings.noise_floor_pct
    floor_abs = settings.share_floor_pp if up else 0.0
    points = detect(
        values,
        min_size=settings.min_size,
        noise_floor_pct=floor_pct,
        noise_floor_abs=floor_abs,
        alpha=settings.alpha,
    )
    bad: Direction = "up" if up else "down"
    marks = [Mark(metric, idx[p.index], idx[p.index - 1], p, p.direction == bad) for p in points]
    check = regression_at_end(
        values,
        bad=bad,
        min_size=settings.min_size,
        noise_floor_pct=floor_pct,
        noise_floor_abs=floor_abs,
        alpha=settings.alpha,
    )
    return marks, check


SeriesJob = tuple[GroupKey, dict[str, list[RunRecord]], Settings]


def one_series(job: SeriesJob) -> Series | None:
    """The series of one key from its runs by group; None when no night has data."""
    (config_key, key), groups, settings = job
    nights = sorted(
        (night_of(g, runs) for g, runs in groups.items()), key=lambda n: (n.when, n.group_id)
    )
    nights = [n for n in nights if n.throughput or n.share is not None]
    if not nights:
        return None
    series = Series(key, nights, config_key=config_key, settings=settings)
    tp = series.with_throughput()
    series.marks, series.tp_check = _marks(
        nights, tp, [median(nights[i].throughput) for i in tp], "throughput", settings
    )
    sh = [i for i, n in enumerate(nights) if n.share is not None]
    share_marks, series.share_check = _marks(
        nights, sh, [float(nights[i].share or 0.0) for i in sh], "helper share", settings
    )
    series.marks += share_marks
    return series


def stored_settings(runs: Iterable[RunRecord], default: Settings) -> Settings:
    """The judgement stored with the newest run that has one, else ``default``."""
    judged = [r for r in runs if r.extra.judgement is not None]
    if not judged:
        return default
    newest = max(judged, key=lambda r: (created(r), r.run_id))
    return default.updated(newest.extra.judgement or {})


def series_jobs(
    records: Iterable[RunRecord], settings: Settings, *, use_stored: bool = True
) -> list[SeriesJob]:
    """One :func:`one_series` job per series, in display order.

    Each series is judged with the settings stored with its runs (``use_stored``),
    falling back to ``settings``.
    """
    grouped: dict[GroupKey, dict[str, list[RunRecord]]] = {}
    for record in records:
        gkey = (record.config_key, series_key(record))
        grouped.setdefault(gkey, {}).setdefault(record.group_id, []).append(record)

    def order(gkey: GroupKey) -> tuple[tuple[str, str, int, str, str], str]:
        return sort_key(gkey[1]), gkey[0] or ""

    jobs = []
    for gkey in sorted(grouped, key=order):
        runs = [r for rows in grouped[gkey].values() for r in rows]
        judged = stored_settings(runs, settings) if use_stored else settings
        jobs.append((gkey, grouped[gkey], judged))
    return jobs


def build_series(
    records: Iterable[RunRecord], settings: Settings | None = None, *, use_stored: bool = True
) -> list[Series]:
    """Nightly series with their change points and end checks, in display order."""
    jobs = series_jobs(records, settings or Settings(), use_stored=use_stored)
    return [s for s in map(one_series, jobs) if s is not None]


# --------------------------------------------------------------------------- nightly's view

NightlyKey = tuple[str, str, str, int, str, str]


@dataclass
class SeriesVerdict:
    """One series as `lseprof nightly` reports it."""

    key: NightlyKey  # config_key, workload, variant, threads, target, hostname
    nights: int
    latest_mib_s: float | None
    latest_helper_share: float | None
    throughput: EndCheck
    helper_share: EndCheck
    commits: tuple[str | None, str | None] = (None, None)

    @property
    def regressed(self) -> bool:
        return "regression" in (self.throughput.status, self.helper_share.status)


def verdict_of(series: Series) -> SeriesVerdict:
    """Nightly's row for a series: its latest values, end checks and the commits at the step
    (of the throughput step if throughput regressed, else of the helper-share step)."""
    assert series.tp_check is not None and series.share_check is not None
    workload, variant, threads, target, host = series.key
    key = (series.config_key or "", workload, variant, threads or 0, target, host)
    tp = series.with_throughput()
    shares = [n.share for n in series.nights if n.share is not None]
    tp_bad = series.tp_check.status == "regression"
    mark = series.mark_of(series.tp_check if tp_bad else series.share_check)
    commits = (
        (series.nights[mark.before].commit, series.nights[mark.night].commit)
        if mark is not None
        else (None, None)
    )
    return SeriesVerdict(
        key,
        len(series.nights),
        median(series.nights[tp[-1]].throughput) if tp else None,
        shares[-1] if shares else None,
        series.tp_check,
        series.share_check,
        commits,
    )


def judge_series(
    records: Sequence[RunRecord], names: Iterable[str], settings: Settings
) -> list[SeriesVerdict]:
    """Verdicts for every series whose ``config_key`` is one of ``names``, judged with
    ``settings`` (nightly's config; the same settings are stored with its runs)."""
    wanted = set(names)
    mine = [r for r in records if r.config_key is not None and r.config_key in wanted]
    return [verdict_of(s) for s in build_series(mine, settings, use_stored=False)]
