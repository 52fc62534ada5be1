"""Change-point detection on fixed synthetic nightly series, and brute-force cross-checks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from lseprof.analysis import changepoint
from lseprof.analysis.changepoint import detect, energy_statistic, regression_at_end


def noisy(n: int, seed: int, level: float = 100.0, sd: float = 1.0) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0.0, sd, n)


def test_clean_step_is_found_at_its_index() -> None:
    series = noisy(60, seed=1)
    series[35:] -= 10.0  # throughput drops 10% from night 35 on
    points = detect(list(series))
    assert [p.index for p in points] == [35]
    step = points[0]
    assert step.direction == "down"
    assert step.delta_pct == pytest.approx(-10.0, abs=1.0)
    assert step.before_median == pytest.approx(100.0, abs=0.6)
    assert step.after_median == pytest.approx(90.0, abs=0.6)
    assert step.p_value < changepoint.DEFAULT_ALPHA
    assert step.score > 0


def test_two_steps_are_both_found() -> None:
    series = noisy(90, seed=2)
    series[30:] -= 8.0
    series[60:] += 12.0
    assert [p.index for p in detect(list(series))] == [30, 60]


@pytest.mark.parametrize("seed", range(8))
def test_pure_noise_has_no_change_point(seed: int) -> None:
    series = list(noisy(80, seed=seed, sd=1.5))
    assert detect(series) == []
    assert regression_at_end(series).status == "none"


def test_pure_noise_mostly_passes_the_permutation_test_alone() -> None:
    # Without a noise floor only the test guards against noise: at alpha = 0.01 per
    # test, at most a couple of these 20 fixed series may show a (tiny) step.
    hits = sum(
        bool(detect(list(noisy(80, seed=s, sd=1.5)), noise_floor_pct=0.0)) for s in range(20)
    )
    assert hits <= 2


def test_one_outlier_night_is_not_a_change() -> None:
    series = noisy(50, seed=3)
    series[25] = 60.0  # one terrible night in the middle
    assert detect(list(series)) == []


def test_one_bad_newest_night_is_not_a_regression() -> None:
    series = noisy(50, seed=4)
    series[-1] = 60.0
    check = regression_at_end(list(series))
    assert not check.regression
    # Nor is one bad night followed by a normal one.
    series[-1], series[-2] = 100.2, 60.0
    assert not regression_at_end(list(series)).regression
    # Steps are judged on the median of the (>= min_size) values after them, so two
    # bad nights among the last three already are a step.
    series[-1] = 61.0
    assert regression_at_end(list(series)).regression


def test_step_at_the_end_is_a_regression_once_it_has_min_size_nights() -> None:
    series = noisy(40, seed=5)
    series[-3:] -= 6.0
    check = regression_at_end(list(series))
    assert check.regression
    assert check.change_point is not None and check.change_point.index == 37
    assert "-6." in check.reason or "-5." in check.reason


def test_improvement_is_not_a_regression() -> None:
    series = noisy(40, seed=6)
    series[-4:] += 6.0
    assert regression_at_end(list(series)).status == "improvement"


def test_old_step_is_not_raised_again() -> None:
    series = noisy(60, seed=7)
    series[20:] -= 10.0
    check = regression_at_end(list(series))
    assert check.status == "none"
    assert check.change_point is not None and check.change_point.index == 20


def test_step_below_the_noise_floor_is_ignored() -> None:
    series = noisy(60, seed=8, sd=0.05)
    series[30:] -= 1.0  # a real but 1% step: the permutation test sees it ...
    assert [p.index for p in detect(list(series), noise_floor_pct=0.0)] == [30]
    assert detect(list(series)) == []  # ... the default 2% floor drops it
    assert detect(list(series), noise_floor_pct=0.5)[0].index == 30


def test_helper_share_rises_by_percentage_points() -> None:
    share = noisy(40, seed=9, level=1.0, sd=0.05)
    bigger, smaller = share.copy(), share.copy()
    bigger[-4:] += 2.0
    smaller[-4:] += 0.3
    kwargs = {"bad": "up", "noise_floor_pct": 0.0, "noise_floor_abs": 1.0}
    assert regression_at_end(list(bigger), **kwargs).regression  # type: ignore[arg-type]
    check = regression_at_end(list(smaller), **kwargs)  # type: ignore[arg-type]
    assert check.status == "none"


def test_deterministic() -> None:
    series = noisy(70, seed=10)
    series[40:] -= 5.0
    found = detect(list(series))
    assert found and found == detect(list(series))  # non-empty: [] == [] proves nothing
    assert detect(list(series), seed=1)[0].index == 40


def test_short_and_constant_series() -> None:
    assert detect([1.0, 2.0, 3.0]) == []
    assert detect([5.0] * 30) == []
    assert detect([]) == []


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="min_size"):
        detect([1.0] * 10, min_size=1)
    with pytest.raises(ValueError, match="finite"):
        detect([1.0, math.nan, 2.0])


# --------------------------------------------------------------------------- brute force


def brute_q(values: list[float], tau: int) -> float:
    """Q(tau) straight from its definition, with explicit loops."""
    x, y = values[:tau], values[tau:]
    m, k = len(x), len(y)
    between = sum(abs(a - b) for a in x for b in y)
    within_x = sum(abs(x[i] - x[j]) for i in range(m) for j in range(i + 1, m))
    within_y = sum(abs(y[i] - y[j]) for i in range(k) for j in range(i + 1, k))
    e = 2 * between / (m * k) - within_x / math.comb(m, 2) - within_y / math.comb(k, 2)
    return m * k / (m + k) * e


def test_energy_statistic_matches_the_definition() -> None:
    values = list(np.random.default_rng(11).normal(0.0, 1.0, 13))
    values[8:] = [v + 2.0 for v in values[8:]]
    q = energy_statistic(values, min_size=2)
    for tau in range(len(values) + 1):
        if 2 <= tau <= len(values) - 2:
            assert q[tau] == pytest.approx(brute_q(values, tau), rel=1e-12, abs=1e-12)
        else:
            assert q[tau] == -math.inf
    assert int(np.argmax(q)) == max(range(2, 12), key=lambda t: brute_q(values, t)) == 8


def test_permutation_p_value_matches_exhaustive_enumeration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 8 values: all 8! orders can be enumerated, giving the exact permutation p-value.
    values = np.array([10.0, 10.4, 9.7, 10.1, 11.0, 11.5, 10.9, 11.3])
    observed = float(energy_statistic(values, 2).max())
    best = [
        float(energy_statistic(np.array(order), 2).max())
        for order in itertools.permutations(values)
    ]
    exact = float(np.mean(np.array(best) >= observed - 1e-12 * abs(observed)))
    monkeypatch.setattr(changepoint, "_STOP_EXCEEDANCES", 10**9)  # no early stop
    estimate = changepoint._permutation_p(values, observed, 2, 20000, np.random.default_rng(0))
    assert exact == pytest.approx(2 * 24 * 24 / 40320)  # the step, either way round
    assert estimate == pytest.approx(exact, abs=0.005)
