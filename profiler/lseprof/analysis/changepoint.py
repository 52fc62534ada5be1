"""Change points in nightly series: E-Divisive means with a permutation test.

A nightly series (one value per night, oldest first; feed the median of a
night's repetitions, so one bad repetition cannot move a night) is split
recursively where the energy distance between the left and right parts is
largest (Matteson & James 2014, "E-Divisive" with alpha = 1, i.e. the
difference of means, made robust by using all pairwise distances). Each split
is kept only if a permutation test says it is significant: the same statistic
maximized over shuffled copies of the segment must rarely reach the observed
one. Then a *noise floor* removes steps too small to matter, merging the two
segments around the weakest step until every remaining step clears it.

Why this method and not a penalized least-squares step fit (asv's): the
permutation test gives a p-value without assuming Gaussian noise or a noise
scale (throughput noise on shared machines is skewed and heavy-tailed), it
needs no penalty constant tuned per series, and it judges a step against the
whole history instead of one point against a threshold, so a lone outlier
night is not a change: shuffling moves the outlier around and the shuffled
series reach the same statistic. The cost, O(n^2) per permutation, is small
for nightly histories (365 nights: a few tenths of a second).

Deterministic: every segment's permutations come from a generator seeded with
(seed, segment start, segment end), so results do not depend on the order in
which segments are visited. See docs/regressions.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lseprof.analysis.stats import SEED

Direction = Literal["down", "up"]

DEFAULT_MIN_SIZE = 3  # nights on each side of a change
DEFAULT_NOISE_FLOOR_PCT = 2.0  # relative step (of the median) below which nothing is reported
DEFAULT_ALPHA = 0.01
DEFAULT_PERMUTATIONS = 199
# Besag & Clifford sequential stopping: once this many shuffles reach the observed
# statistic the split cannot become significant, so the remaining shuffles are skipped.
_STOP_EXCEEDANCES = 10


@dataclass(frozen=True)
class ChangePoint:
    """A step: values from ``index`` on differ from those before it.

    ``before_*`` / ``after_*`` describe the segments on each side, bounded by the
    neighbouring change points (or the ends of the series). ``delta_pct`` is the
    change of the median in percent of the before median (inf when that is 0),
    ``delta_abs`` the change of the median in the series' own unit.
    """

    index: int
    before_mean: float
    after_mean: float
    before_median: float
    after_median: float
    delta_pct: float
    delta_abs: float
    p_value: float
    score: float  # the energy statistic Q at the split (larger: a clearer step)

    @property
    def direction(self) -> Direction:
        return "up" if self.after_median > self.before_median else "down"


@dataclass(frozen=True)
class EndCheck:
    """What :func:`regression_at_end` found about the newest points."""

    status: Literal["regression", "improvement", "none"]
    change_point: ChangePoint | None
    reason: str

    @property
    def regression(self) -> bool:
        return self.status == "regression"


def energy_statistic(values: Sequence[float] | np.ndarray, min_size: int = 2) -> np.ndarray:
    """Q(tau) for every split ``values[:tau] | values[tau:]``; -inf where a side is too short.

    Q(tau) = m k / (m + k) * (2/(m k) sum|x - y| - sum_{i<j}|x_i - x_j| / C(m, 2)
    - sum_{i<j}|y_i - y_j| / C(k, 2)), with x the m left and y the k right values.
    All three sums for every tau come from the row and column sums of the upper
    triangle of the distance matrix, so one call is O(n^2), not O(n^3).
    """
    z = np.asarray(values, dtype=float)
    n = z.size
    q = np.full(n + 1, -np.inf)
    if min_size < 2 or n < 2 * min_size:
        return q
    upper = np.triu(np.abs(z[:, None] - z[None, :]), 1)
    col = upper.sum(axis=0)  # col[t] = sum_{i<t} d(i, t)
    row = upper.sum(axis=1)  # row[t] = sum_{j>t} d(t, j)
    left = np.concatenate(([0.0], np.cumsum(col)))  # within values[:tau]
    between = np.concatenate(([0.0], np.cumsum(row - col)))  # values[:tau] x values[tau:]
    right = upper.sum() - left - between  # within values[tau:]
    tau = np.arange(min_size, n - min_size + 1)
    m, k = tau.astype(float), (n - tau).astype(float)
    e = (
        2.0 * between[tau] / (m * k)
        - left[tau] / (m * (m - 1) / 2.0)
        - right[tau] / (k * (k - 1) / 2.0)
    )
    q[tau] = m * k / n * e
    return q


def _best_split(z: np.ndarray, min_size: int) -> tuple[int, float]:
    q = energy_statistic(z, min_size)
    tau = int(np.argmax(q))
    return tau, float(q[tau])


def _permutation_p(
    z: np.ndarray, observed: float, min_size: int, permutations: int, rng: np.random.Generator
) -> float:
    """Share of shuffles whose best split is at least as strong as the observed one."""
    exceed = 0
    for done in range(1, permutations + 1):
        _, q = _best_split(rng.permutation(z), min_size)
        # A tiny tolerance: shuffles equal to the observed order tie exactly.
        if q >= observed - 1e-12 * abs(observed):
            exceed += 1
            if exceed >= _STOP_EXCEEDANCES:
                return exceed / done
    return (exceed + 1) / (permutations + 1)


def _split_points(
    z: np.ndarray, min_size: int, alpha: float, permutations: int, seed: int
) -> dict[int, tuple[float, float]]:
    """Significant splits found by recursive bisection: index -> (p-value, Q)."""
    found: dict[int, tuple[float, float]] = {}
    pending = [(0, z.size)]
    while pending:
        start, end = pending.pop()
        segment = z[start:end]
        if segment.size < 2 * min_size or np.ptp(segment) == 0:
            continue
        tau, q = _best_split(segment, min_size)
        rng = np.random.default_rng([seed, start, end])
        p = _permutation_p(segment, q, min_size, permutations, rng)
        if p < alpha:
            found[start + tau] = (p, q)
            pending += [(start, start + tau), (start + tau, end)]
    return found


def _relative(before: float, after: float) -> float:
    if before != 0:
        return 100.0 * (after / before - 1.0)
    return 0.0 if after == before else math.copysign(math.inf, after - before)


def _describe(z: np.ndarray, cuts: list[int], i: int, p: float, q: float) -> ChangePoint:
    bounds = [0, *cuts, z.size]
    before, after = z[bounds[i] : bounds[i + 1]], z[bounds[i + 1] : bounds[i + 2]]
    b_med, a_med = float(np.median(before)), float(np.median(after))
    return ChangePoint(
        index=cuts[i],
        before_mean=float(before.mean()),
        after_mean=float(after.mean()),
        before_median=b_med,
        after_median=a_med,
        delta_pct=_relative(b_med, a_med),
        delta_abs=a_med - b_med,
        p_value=p,
        score=q,
    )


def _margin(cp: ChangePoint, floor_pct: float, floor_abs: float) -> float:
    """How far a step clears the noise floor (< 1: it does not)."""
    ratios = []
    if floor_pct > 0:
        ratios.append(abs(cp.delta_pct) / floor_pct)
    if floor_abs > 0:
        ratios.append(abs(cp.delta_abs) / floor_abs)
    return min(ratios) if ratios else math.inf


def detect(
    values: Sequence[float],
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    noise_floor_pct: float = DEFAULT_NOISE_FLOOR_PCT,
    noise_floor_abs: float = 0.0,
    alpha: float = DEFAULT_ALPHA,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = SEED,
) -> list[ChangePoint]:
    """Change points of a series, oldest value first; empty when there is no clear step.

    ``min_size``: fewest values on each side of a change (a shorter run is noise).
    ``noise_floor_pct``: a step must move the median by at least this many percent;
    ``noise_floor_abs``: and by at least this much in the series' unit (for
    series already in percent, such as the atomic-helper share, use this one
    with ``noise_floor_pct=0``). ``alpha``: significance level of the
    permutation test; ``permutations``: shuffles per test (p-values are
    multiples of 1 / (permutations + 1), so keep it >= 2 / alpha).
    """
    if min_size < 2:
        raise ValueError("min_size must be at least 2 (a one-value segment has no spread)")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    z = np.asarray(values, dtype=float)
    if z.ndim != 1 or not np.isfinite(z).all():
        raise ValueError("values must be a flat sequence of finite numbers")
    found = _split_points(z, min_size, alpha, permutations, seed)
    cuts = sorted(found)
    # Merge around the weakest step until every remaining one clears the noise floor;
    # each merge changes its neighbours' segments, so margins are recomputed each time.
    while cuts:
        points = [_describe(z, cuts, i, *found[c]) for i, c in enumerate(cuts)]
        margins = [_margin(cp, noise_floor_pct, noise_floor_abs) for cp in points]
        weakest = int(np.argmin(margins))
        if margins[weakest] >= 1.0:
            return points
        del cuts[weakest]
    return []


def regression_at_end(
    values: Sequence[float],
    *,
    bad: Direction = "down",
    min_size: int = DEFAULT_MIN_SIZE,
    noise_floor_pct: float = DEFAULT_NOISE_FLOOR_PCT,
    noise_floor_abs: float = 0.0,
    recent: int | None = None,
    alpha: float = DEFAULT_ALPHA,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = SEED,
) -> EndCheck:
    """Do the newest values form a significant step in the ``bad`` direction?

    ``bad="down"`` for throughput, ``bad="up"`` for the atomic-helper share (then
    pass ``noise_floor_abs`` in percentage points and ``noise_floor_pct=0``).
    The newest change point counts only if it starts within the last ``recent``
    values (default ``2 * min_size``): an older step is history, shown on the
    dashboard but not raised again every night. A step needs ``min_size`` values
    after it and is judged on their median, so a single bad night is never a
    regression; with ``min_size=3``, two bad nights among the last three can be.
    """
    window = 2 * min_size if recent is None else recent
    points = detect(
        values,
        min_size=min_size,
        noise_floor_pct=noise_floor_pct,
        noise_floor_abs=noise_floor_abs,
        alpha=alpha,
        permutations=permutations,
        seed=seed,
    )
    if not points:
        return EndCheck("none", None, "no significant step above the noise floor")
    last = points[-1]
    if last.index < len(values) - window:
        return EndCheck(
            "none", last, f"newest step is {len(values) - last.index} values old (> {window})"
        )
    status: Literal["regression", "improvement"] = (
        "regression" if last.direction == bad else "improvement"
    )
    return EndCheck(
        status,
        last,
        f"step at index {last.index}: {last.delta_pct:+.1f}% "
        f"({last.delta_abs:+.3g}), p = {last.p_value:.3f}",
    )
