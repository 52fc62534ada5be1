"""Why B is faster: the throughput change of two run groups split into what moved.

The unit is thread time per MiB encoded: ``tau = threads / throughput`` (thread-seconds
per MiB). B is faster exactly when its tau is smaller, and ``X_B / X_A - 1 =
tau_A / tau_B - 1``. Each side's tau is split, from measurements of that side, into

* on-CPU time by category: ``tau * u * share_c``, where ``u`` is the share of thread
  time perf sampled on a CPU (samples / frequency over threads x recorded seconds,
  capped at 1) and ``share_c`` the category's share of the samples;
* off-CPU wait: ``tau * o``, with ``o`` the off-CPU share from scheduler events
  (``lseprof run --sched``); without them it is not measured and counts as 0;
* the rest (``residual``): thread time neither sampled on a CPU nor seen off it:
  start-up before the workload's threads exist, idle threads when no scheduler
  events were recorded, sampling error.

Every part's change is given in points of A's thread time, ``100 * (part_B - part_A)
/ tau_A``, so the parts add up to the change of tau exactly: "helpers -4.6 pts,
off-CPU wait -9.0 pts, work +0.2 pts" reads as "B spends 4.6% of A's thread time less
in helpers per MiB".

Limits: shares are of samples, so a category whose instructions are slow is counted
by time, not by calls; ``u`` assumes the sampling event ticks at ``freq`` per
on-CPU second (cpu-clock, task-clock; cycles on a CPU at a varying clock only
approximately); medians of the runs of each group are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lseprof.analysis.stats import median
from lseprof.results import CATEGORIES
from lseprof.store import RunRecord

PARTS = (*CATEGORIES, "offcpu_wait", "residual")


@dataclass(frozen=True)
class SideTime:
    tau: float  # thread-seconds per MiB
    on_cpu: float  # share of thread time sampled on a CPU, 0..1
    off_cpu: float | None  # share of thread time off CPU (scheduler events), 0..1
    parts: dict[str, float]  # thread-seconds per MiB by part (PARTS)


@dataclass
class Decomposition:
    throughput_change_pct: float  # X_B / X_A - 1, in percent
    tau_change_pts: float  # 100 * (tau_B - tau_A) / tau_A
    points: dict[str, float]  # part -> points of A's thread time (sum = tau_change_pts)
    a: SideTime
    b: SideTime
    notes: list[str] = field(default_factory=list)


def _offcpu_share(record: RunRecord) -> float | None:
    offcpu = record.extra.offcpu
    value = offcpu.offcpu_share if offcpu else None
    return value / 100.0 if value is not None else None


def _recorded_seconds(record: RunRecord) -> float | None:
    """How long perf recorded: the measured region when only that was (docs/time.md),
    else the whole run."""
    region = record.extra.region
    if region is not None and region.enabled_s > 0:
        return region.enabled_s
    return record.extra.record_seconds


def side_time(runs: Sequence[RunRecord]) -> SideTime | None:
    """A group's thread time per MiB, split into parts; None without throughput."""
    taus, ons, offs = [], [], []
    for r in runs:
        if not r.throughput_mib_s or not r.threads:
            continue
        taus.append(r.threads / r.throughput_mib_s)
        freq, seconds = r.extra.freq, _recorded_seconds(r)
        if r.samples and freq and seconds:
            ons.append(min(1.0, r.samples / freq / (r.threads * seconds)))
        off = _offcpu_share(r)
        if off is not None:
            offs.append(off)
    if not taus:
        return None
    tau = median(taus)
    on = median(ons) if ons else 1.0
    off = median(offs) if offs else None
    shares: dict[str, list[float]] = {c: [] for c in CATEGORIES}
    for r in runs:
        for c in CATEGORIES:
            shares[c].append(float((r.categories or {}).get(c, 0.0)))
    parts = {c: tau * on * (median(v) / 100.0 if v else 0.0) for c, v in shares.items()}
    parts["offcpu_wait"] = tau * off if off is not None else 0.0
    parts["residual"] = tau - sum(parts.values())
    return SideTime(tau, on, off, parts)


def decompose(runs_a: Sequence[RunRecord], runs_b: Sequence[RunRecord]) -> Decomposition | None:
    """B against A; None when a side has no throughput."""
    a, b = side_time(runs_a), side_time(runs_b)
    if a is None or b is None:
        return None
    points = {p: 100.0 * (b.parts[p] - a.parts[p]) / a.tau for p in PARTS}
    notes = []
    if a.off_cpu is None or b.off_cpu is None:
        notes.append(
            "off-CPU wait was not recorded on "
            f"{'A' if a.off_cpu is None else 'B'} (lseprof run --sched): waiting "
            "shows up in the residual"
        )
    return Decomposition(
        100.0 * (a.tau / b.tau - 1.0), 100.0 * (b.tau - a.tau) / a.tau, points, a, b, notes
    )
