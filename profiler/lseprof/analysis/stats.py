"""Statistics for repeated runs: medians with bootstrap intervals, and the
comparisons `lseprof diff` makes. Deterministic (seeded) so reports re-render
identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_BOOTSTRAP = 4000
SEED = 20261123


def median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


def bootstrap_median_ci(
    values: Sequence[float], confidence: float = 0.95, resamples: int = DEFAULT_BOOTSTRAP
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median (a point interval for one value)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"), float("nan"))
    if data.size == 1:
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(SEED)
    draws = rng.choice(data, size=(resamples, data.size), replace=True)
    medians = np.median(draws, axis=1)
    tail = (1.0 - confidence) / 2.0
    return (float(np.quantile(medians, tail)), float(np.quantile(medians, 1.0 - tail)))


def bootstrap_delta_pct_ci(
    a: Sequence[float],
    b: Sequence[float],
    confidence: float = 0.95,
    resamples: int = DEFAULT_BOOTSTRAP,
) -> tuple[float, float]:
    """Interval of 100 * (median(b) / median(a) - 1), resampling each side independently."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(SEED)
    ma = np.median(rng.choice(xa, size=(resamples, xa.size), replace=True), axis=1)
    mb = np.median(rng.choice(xb, size=(resamples, xb.size), replace=True), axis=1)
    deltas = 100.0 * (mb / ma - 1.0)
    tail = (1.0 - confidence) / 2.0
    return (float(np.quantile(deltas, tail)), float(np.quantile(deltas, 1.0 - tail)))


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test: (U of `a`, p-value).

    Exact distribution when both samples are small and tie-free (the case for
    benchmark repetitions), normal approximation with tie correction otherwise.
    """
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = xa.size, xb.size
    combined = np.concatenate([xa, xb])
    ranks = _average_ranks(combined)
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    has_ties = np.unique(combined).size < combined.size
    if not has_ties and n1 <= 20 and n2 <= 20:
        counts = _u_distribution(n1, n2)
        total = counts.sum()
        u_small = min(u1, n1 * n2 - u1)
        p = 2.0 * counts[: int(np.floor(u_small)) + 1].sum() / total
        return u1, float(min(1.0, p))
    mean = n1 * n2 / 2.0
    _, tie_counts = np.unique(combined, return_counts=True)
    n = n1 + n2
    tie_term = float((tie_counts**3 - tie_counts).sum()) / (n * (n - 1))
    sigma = np.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term))
    if sigma == 0:
        return u1, 1.0
    z = (abs(u1 - mean) - 0.5) / sigma  # continuity correction
    from math import erfc, sqrt

    return u1, float(min(1.0, erfc(max(z, 0.0) / sqrt(2.0))))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=float)
    sorted_vals = values[order]
    i = 0
    while i < values.size:
        j = i
        while j + 1 < values.size and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def _u_distribution(n1: int, n2: int) -> np.ndarray:
    """Counts of each U value over all arrangements (dynamic programming)."""
    # Recurrence on the last element: if it is from `a` it beats all k b's (shift by k),
    # otherwise it adds nothing: counts(m, k) = counts(m-1, k) << k + counts(m, k-1).
    table: dict[tuple[int, int], np.ndarray] = {}

    def counts(m: int, k: int) -> np.ndarray:
        if m == 0 or k == 0:
            return np.ones(1, dtype=float)
        key = (m, k)
        if key not in table:
            left = counts(m - 1, k)
            right = counts(m, k - 1)
            out = np.zeros(m * k + 1, dtype=float)
            out[k : k + left.size] += left
            out[: right.size] += right
            table[key] = out
        return table[key]

    return counts(n1, n2)


@dataclass(frozen=True)
class ThroughputComparison:
    """B's throughput against A's (higher is better)."""

    median_a: float
    median_b: float
    delta_pct: float
    ci_low: float
    ci_high: float
    p_value: float | None
    verdict: str  # faster / slower / unchanged / unresolved
    reps_a: int = 0
    reps_b: int = 0


MIN_REPS_FOR_TEST = 5


def compare_throughput(
    a: Sequence[float], b: Sequence[float], alpha: float = 0.05
) -> ThroughputComparison:
    """B relative to A (higher throughput is better)."""
    ma, mb = median(a), median(b)
    delta = 100.0 * (mb / ma - 1.0) if ma else float("nan")
    lo, hi = bootstrap_delta_pct_ci(a, b) if len(a) > 1 and len(b) > 1 else (delta, delta)
    if len(a) < MIN_REPS_FOR_TEST or len(b) < MIN_REPS_FOR_TEST:
        return ThroughputComparison(ma, mb, delta, lo, hi, None, "unresolved", len(a), len(b))
    _, p = mann_whitney_u(a, b)
    verdict = "unchanged" if p >= alpha else ("faster" if mb > ma else "slower")
    return ThroughputComparison(ma, mb, delta, lo, hi, p, verdict, len(a), len(b))
