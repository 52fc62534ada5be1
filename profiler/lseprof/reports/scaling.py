"""The scaling model of a thread sweep, for people: one USL fit per variant and
target, in lines beside the run table (and as curves in the scaling plot).

A sweep with fewer than four thread counts gets one line saying why there is no
fit, never a made-up curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lseprof.analysis.usl import UslFit, fit_usl
from lseprof.errors import LseprofError


@dataclass(frozen=True)
class SweepFit:
    variant: str
    target: str
    fit: UslFit | None
    reason: str = ""  # why there is no fit


def sweep_fits(records: Sequence[Any]) -> list[SweepFit]:
    """A fit (or the reason for none) per (variant, target) of the ok runs that swept
    threads; one-thread-count groups are not sweeps and get nothing."""
    groups: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in records:
        if r.status == "ok" and r.threads and r.throughput_mib_s:
            key = (str(r.variant), str(r.target))
            groups.setdefault(key, []).append((float(r.threads), float(r.throughput_mib_s)))
    out = []
    for (variant, target), points in sorted(groups.items()):
        if len({t for t, _ in points}) < 2:
            continue
        try:
            fit = fit_usl([t for t, _ in points], [x for _, x in points])
        except LseprofError as exc:
            out.append(SweepFit(variant, target, None, exc.message))
            continue
        out.append(SweepFit(variant, target, fit))
    return out


def fit_lines(fits: Sequence[SweepFit]) -> list[str]:
    lines = []
    for f in fits:
        name = f"{f.variant} ({f.target})"
        if f.fit is None:
            lines.append(f"USL {name}: no fit: {f.reason}")
            continue
        u = f.fit
        peak = (
            f"throughput peaks at {u.peak_threads:.0f} threads ({u.peak_throughput:.2f} MiB/s)"
            if u.peak_threads and u.peak_throughput
            else f"no peak (kappa = 0: throughput saturates at {u.lam / u.sigma:.2f} MiB/s)"
            if u.sigma > 0
            else "linear scaling"
        )
        lines.append(
            f"USL {name}: contention sigma = {u.sigma:.4f} "
            f"[{u.sigma_ci[0]:.4f}, {u.sigma_ci[1]:.4f}], "
            f"coherency kappa = {u.kappa:.6f} [{u.kappa_ci[0]:.6f}, {u.kappa_ci[1]:.6f}], "
            f"one thread lambda = {u.lam:.2f} MiB/s; {peak} (95% intervals, {u.points} runs at "
            f"{u.thread_counts} thread counts)"
        )
    return lines
