"""Statistics against scipy and textbook values on fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from lseprof.analysis.stats import (
    bootstrap_delta_pct_ci,
    bootstrap_median_ci,
    compare_throughput,
    mann_whitney_u,
)


@pytest.mark.parametrize(("n1", "n2"), [(5, 5), (3, 7), (6, 8), (12, 10)])
def test_exact_mann_whitney_matches_scipy(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 * 100 + n2)
    a, b = rng.normal(10, 1, n1), rng.normal(10.8, 1, n2)
    u, p = mann_whitney_u(a, b)
    ref = sps.mannwhitneyu(a, b, alternative="two-sided", method="exact")
    assert u == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


def test_tied_mann_whitney_matches_scipy_asymptotic() -> None:
    a, b = [1, 2, 2, 3, 4, 4, 4], [2, 3, 3, 5, 6, 6]
    u, p = mann_whitney_u(a, b)
    ref = sps.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    assert (u, p) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue, rel=1e-9))


def test_textbook_extreme_separation() -> None:
    # 5 vs 5 fully separated: U = 0 and p = 2 / C(10, 5) = 2/252.
    u, p = mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert u == 0 and p == pytest.approx(2 / 252)


def test_bootstrap_interval_contains_median_and_is_deterministic() -> None:
    values = [20.1, 20.5, 19.8, 20.9, 20.2, 35.0]
    lo, hi = bootstrap_median_ci(values)
    assert lo <= float(np.median(values)) <= hi
    assert bootstrap_median_ci(values) == (lo, hi)
    assert bootstrap_median_ci([7.0]) == (7.0, 7.0)


def test_delta_interval_brackets_true_shift() -> None:
    a = [100.0, 101, 99, 100.5, 99.5, 100.2]
    b = [x * 1.10 for x in a]
    lo, hi = bootstrap_delta_pct_ci(a, b)
    assert lo <= 10.0 <= hi
    # ... and is narrow: six samples with ~0.7% spread give about 2.2 points; an
    # interval much wider would bracket anything.
    assert hi - lo < 3.0, (lo, hi)


def test_verdicts() -> None:
    base = [20.0, 20.1, 19.9, 20.2, 20.05]
    assert compare_throughput(base, [x * 1.2 for x in base]).verdict == "faster"
    assert compare_throughput(base, [x * 0.8 for x in base]).verdict == "slower"
    assert compare_throughput(base, [20.1, 19.95, 20.0, 20.15, 20.02]).verdict == "unchanged"
    few = compare_throughput(base[:3], [x * 1.5 for x in base[:3]])
    assert few.verdict == "unresolved" and few.p_value is None
