"""The Universal Scalability Law fit (lseprof.analysis.usl) against a published fit,
and in `lseprof run` sweeps."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lseprof import LseprofError
from lseprof.analysis.usl import fit_usl
from lseprof.workloads.data import DataFiles
from tests.helpers import LSEPROF, run

# SPEC SDM91 on a Sun SPARCcenter 2000: load (users) and throughput, as tabulated in
# N. J. Gunther, "Guerrilla Capacity Planning", Springer 2007 (doi:10.1007/978-3-540-31010-5),
# and shipped as the `specsdm91` dataset of the R package usl (S. Moding). Its README
# prints the nonlinear least-squares fit to seven significant digits:
#   alpha (sigma) 0.0277285  std. error 0.0091217
#   beta  (kappa) 0.0001044  std. error 0.0000199
#   gamma (lambda) 89.9952330 std. error 14.2134894, residual std. error 82.8 on 4 df
SDM91_LOAD = [1, 18, 36, 72, 108, 144, 216]
SDM91_THROUGHPUT = [64.9, 995.9, 1652.4, 1853.2, 1828.9, 1775.0, 1702.2]


def test_matches_the_published_specsdm91_fit() -> None:
    fit = fit_usl(SDM91_LOAD, SDM91_THROUGHPUT)
    # Within the precision the published table is printed to (half its last digit).
    assert fit.sigma == pytest.approx(0.0277285, abs=5e-8)
    assert fit.kappa == pytest.approx(0.0001044, abs=5e-8)
    assert fit.lam == pytest.approx(89.9952330, abs=5e-4)
    assert fit.sigma_se == pytest.approx(0.0091217, abs=5e-8)
    assert fit.kappa_se == pytest.approx(0.0000199, abs=5e-8)
    assert fit.lam_se == pytest.approx(14.2134894, abs=5e-4)
    assert fit.residual_se == pytest.approx(82.8, abs=0.05)
    # N* = sqrt((1 - sigma) / kappa), and the curve is highest there.
    assert fit.peak_threads == pytest.approx(math.sqrt((1 - 0.0277285) / 0.0001044), rel=1e-3)
    grid = np.arange(1, 400, dtype=float)
    assert abs(grid[np.argmax(fit.predict(grid))] - fit.peak_threads) <= 1.0
    assert fit.sigma_ci[0] < fit.sigma < fit.sigma_ci[1]


def test_repetitions_are_points_and_narrow_the_intervals() -> None:
    once = fit_usl(SDM91_LOAD, SDM91_THROUGHPUT)
    # The same sweep measured three times, with a +-1% spread: more points, same model.
    loads = SDM91_LOAD * 3
    values = [x * f for f in (0.99, 1.0, 1.01) for x in SDM91_THROUGHPUT]
    thrice = fit_usl(loads, values)
    assert thrice.points == 21 and thrice.thread_counts == 7
    assert thrice.sigma == pytest.approx(once.sigma, rel=0.02)
    assert thrice.sigma_se < once.sigma_se


def test_fewer_than_four_thread_counts_is_refused() -> None:
    with pytest.raises(LseprofError, match=r"at least 4 thread counts.*has 3"):
        fit_usl([1, 2, 4, 1, 2, 4], [10, 19, 30, 11, 18, 31])


def test_run_sweep_prints_the_fit_or_says_why_not(tmp_path: Path, data: DataFiles) -> None:
    corpus = tmp_path / "small.txt"
    raw = data.corpus.read_bytes()
    corpus.write_bytes(raw[: raw.index(b"\n", 100_000) + 1])
    common = [
        "--store",
        tmp_path / "runs.sqlite",
        "--no-perf",
        "--variant",
        "window",
        "--repeat",
        "1",
        "--duration",
        "0.3",
        "--corpus",
        corpus,
    ]
    proc = run([LSEPROF, "run", "--threads", "1,2,3,4", *common])
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("USL window (host)"))
    assert "contention sigma = " in line and "at 4 thread counts" in line
    plot = next(tmp_path.glob("runs/*-scaling.svg"))
    assert "USL" in plot.read_text()
    proc = run([LSEPROF, "run", "--threads", "1,2", *common])
    assert proc.returncode == 0, proc.stderr
    assert "USL window (host): no fit: a USL fit needs at least 4 thread counts" in proc.stdout
