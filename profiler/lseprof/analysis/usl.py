"""The Universal Scalability Law (Gunther) fitted to a thread sweep.

    X(N) = lambda N / (1 + sigma (N - 1) + kappa N (N - 1))

lambda is the throughput of one thread, sigma the contention (the serial fraction: a lock,
one contended counter) and kappa the coherency cost (every thread paying for every
other: cache lines bouncing between all of them, wake-ups that fan out). With
kappa > 0 throughput peaks at N* = sqrt((1 - sigma) / kappa) and falls after it.

The fit is nonlinear least squares on the measured throughputs, every repetition
a point of its own (scipy's ``curve_fit``; refitted with sigma and kappa bounded
to be non-negative if the free fit makes either negative), so the repetitions'
spread is what the intervals are made of: 95% intervals are
t-quantile times the standard errors from the fit's covariance (as R's ``nls``
reports them, which is how the published fits this is tested against were made).

Limits: the USL describes throughput against concurrency on a fixed machine; on a
VM with fewer cores than threads, or under emulation, sigma and kappa describe that setup,
not the code alone. With fewer than four thread counts three parameters are not
determined and no fit is made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lseprof.errors import LseprofError

MIN_THREAD_COUNTS = 4


@dataclass(frozen=True)
class UslFit:
    sigma: float  # contention
    kappa: float  # coherency
    lam: float  # throughput of one thread (the fit's lambda, R usl's gamma)
    sigma_ci: tuple[float, float]
    kappa_ci: tuple[float, float]
    sigma_se: float
    kappa_se: float
    lam_se: float
    peak_threads: float | None  # N*; None when kappa is 0 (no peak: throughput saturates)
    peak_throughput: float | None
    points: int
    thread_counts: int
    residual_se: float

    def predict(self, threads: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return usl(np.asarray(threads, dtype=np.float64), self.sigma, self.kappa, self.lam)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def usl(
    n: npt.NDArray[np.float64], sigma: float, kappa: float, lam: float
) -> npt.NDArray[np.float64]:
    result: npt.NDArray[np.float64] = lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
    return result


def fit_usl(threads: Sequence[float], throughput: Sequence[float]) -> UslFit:
    """Fit sigma, kappa and lambda to (threads, throughput) points; repetitions are separate points.

    Raises LseprofError with fewer than four distinct thread counts.
    """
    n = np.asarray(threads, dtype=np.float64)
    x = np.asarray(throughput, dtype=np.float64)
    keep = np.isfinite(n) & np.isfinite(x) & (n >= 1) & (x > 0)
    n, x = n[keep], x[keep]
    counts = int(np.unique(n).size)
    if counts < MIN_THREAD_COUNTS:
        raise LseprofError(
            f"a USL fit needs at least {MIN_THREAD_COUNTS} thread counts with throughput, "
            f"this sweep has {counts}; run e.g. --threads 1,2,4,8,16"
        )
    from scipy.optimize import curve_fit  # only when a fit is made: scipy loads slowly
    from scipy.stats import t as student_t

    one = x[n == n.min()]
    lam0 = float(np.median(one) / n.min())
    try:
        # Unbounded Levenberg-Marquardt first (what R's nls does); only if it lands on a
        # negative sigma or kappa, which the law does not allow, refit within bounds.
        params, cov = curve_fit(
            usl, n, x, p0=[0.01, 1e-4, lam0], maxfev=20000, ftol=1e-12, xtol=1e-12
        )
        if params[0] < 0 or params[1] < 0:
            params, cov = curve_fit(
                usl,
                n,
                x,
                p0=[0.01, 1e-4, lam0],
                ftol=1e-12,
                xtol=1e-12,
                bounds=([0.0, 0.0, 0.0], [1.0, 1.0, np.inf]),
                max_nfev=20000,
            )
    except (RuntimeError, ValueError) as exc:
        raise LseprofError(
            f"the USL fit did not converge ({exc}); the sweep's throughputs "
            "may be too noisy: add --repeat"
        ) from None
    sigma, kappa, lam = (float(v) for v in params)
    dof = max(n.size - 3, 1)
    se = (
        np.sqrt(np.clip(np.diag(cov), 0.0, None))
        if np.all(np.isfinite(cov))
        else np.full(3, np.nan)
    )
    q = float(student_t.ppf(0.975, dof))
    residual = x - usl(n, sigma, kappa, lam)
    peak_n = math.sqrt((1.0 - sigma) / kappa) if kappa > 0 and sigma < 1 else None
    peak_x = float(usl(np.array([peak_n]), sigma, kappa, lam)[0]) if peak_n else None
    return UslFit(
        sigma=sigma,
        kappa=kappa,
        lam=lam,
        sigma_ci=(sigma - q * float(se[0]), sigma + q * float(se[0])),
        kappa_ci=(kappa - q * float(se[1]), kappa + q * float(se[1])),
        sigma_se=float(se[0]),
        kappa_se=float(se[1]),
        lam_se=float(se[2]),
        peak_threads=peak_n,
        peak_throughput=peak_x,
        points=int(n.size),
        thread_counts=counts,
        residual_se=float(np.sqrt(np.sum(residual**2) / dof)),
    )
