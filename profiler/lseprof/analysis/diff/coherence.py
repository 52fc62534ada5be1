"""Cache lines between cores, A against B: transfers per MiB of work (per item where
the runs reported no bytes), with the interval of the change.

A side's coherence results are its runs' (a run group whose runs were recorded with
coherence, one result each), a profile's (a perf.data with coherence.txt beside it),
or coherence files themselves: a coherence.txt, a run's out directory, or a
directory whose subdirectories are runs (repetitions: ``rep-1/coherence.txt``, ...).

The interval is Welch's: the difference of the two means with a t quantile on the
Welch-Satterthwaite degrees of freedom, 95%. It needs two runs a side; with one run
a side there is a change but no interval, and the diff says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lseprof.errors import LseprofError
from lseprof.results import CoherenceResult

CONFIDENCE = 0.95


@dataclass(frozen=True)
class CoherenceDelta:
    """Mean transfers per unit of work (``per``: MiB or item) on both sides."""

    per: str
    a: float
    b: float
    delta: float
    delta_pct: float | None  # None when A is 0
    ci_low: float | None  # of delta, absolute; None with fewer than 2 runs a side
    ci_high: float | None
    runs_a: int
    runs_b: int
    transfers_a: float  # mean transfers per run
    transfers_b: float
    interleaving_a: str | None
    interleaving_b: str | None
    notes: list[str] = field(default_factory=list)


def coherence_paths(path: Path) -> list[Path]:
    """The coherence files ``path`` stands for (see the module doc); [] for none."""
    from lseprof.readers.coherence import find_coherence

    if path.is_file() or (path / "coherence.txt").is_file():
        found = find_coherence(path)
        return [found] if found is not None else []
    if not path.is_dir() or (path / "run.json").exists():
        return []
    subdirs = sorted(p for p in path.iterdir() if p.is_dir())
    return [f for p in subdirs if (f := find_coherence(p / "coherence.txt")) is not None]


def load_coherence_side(path: Path, binaries: Sequence[Path]) -> list[CoherenceResult]:
    from lseprof.analysis.coherence import load_coherence

    results = [load_coherence(p, binaries) for p in coherence_paths(path)]
    return [r for r in results if r is not None]


def _per(a: Sequence[CoherenceResult], b: Sequence[CoherenceResult]) -> str | None:
    every = [*a, *b]
    if all(r.transfers_per_mib is not None for r in every):
        return "MiB"
    if all(r.transfers_per_item is not None for r in every):
        return "item"
    return None


def _value(result: CoherenceResult, per: str) -> float:
    value = result.transfers_per_mib if per == "MiB" else result.transfers_per_item
    assert value is not None
    return value


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def welch_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float, float] | None:
    """The 95% interval of mean(b) - mean(a), Welch; None below two values a side."""
    if len(a) < 2 or len(b) < 2:
        return None
    from scipy import stats  # lazily: scipy is slow to import

    ma, va = _mean_var(a)
    mb, vb = _mean_var(b)
    sa, sb = va / len(a), vb / len(b)
    delta = mb - ma
    if sa + sb == 0:
        return delta, delta
    dof = (sa + sb) ** 2 / (sa**2 / (len(a) - 1) + sb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof)) * math.sqrt(sa + sb)
    return delta - half, delta + half


def _interleaving(results: Sequence[CoherenceResult]) -> str | None:
    found = {r.interleaving for r in results}
    return found.pop() if len(found) == 1 else None


def compare_coherence(
    a: Sequence[CoherenceResult], b: Sequence[CoherenceResult]
) -> CoherenceDelta | None:
    """A against B, or None when a side has no coherence results."""
    if not a or not b:
        return None
    per = _per(a, b)
    if per is None:
        raise LseprofError(
            "the coherence runs do not all report their work (bytes or items): transfers "
            "per MiB cannot be compared; run commands that print a JSON line with them"
        )
    va, vb = [_value(r, per) for r in a], [_value(r, per) for r in b]
    ma, mb = _mean_var(va)[0], _mean_var(vb)[0]
    interval = welch_interval(va, vb)
    notes = []
    if interval is None:
        notes.append(
            f"transfers per {per}: {len(a)} and {len(b)} runs, no interval (two runs a "
            "side or more give one)"
        )
    ia, ib = _interleaving(a), _interleaving(b)
    if ia != ib or ia is None:
        notes.append(
            f"the coherence runs differ in interleaving (A {ia or 'mixed'}, B {ib or 'mixed'}): "
            "their transfer counts are not comparable"
        )
    if any(r.partial for r in [*a, *b]):
        notes.append("some coherence runs are partial (did not finish)")
    return CoherenceDelta(
        per,
        ma,
        mb,
        mb - ma,
        100.0 * (mb - ma) / ma if ma else None,
        interval[0] if interval else None,
        interval[1] if interval else None,
        len(a),
        len(b),
        sum(r.transfers for r in a) / len(a),
        sum(r.transfers for r in b) / len(b),
        ia,
        ib,
        notes,
    )


def coherence_sentence(d: CoherenceDelta) -> str:
    """The change in one line, as the diff prints it."""
    change = f"{d.delta:+,.4g}" + (f" ({d.delta_pct:+.1f}%)" if d.delta_pct is not None else "")
    interval = (
        f", 95% CI {d.ci_low:+,.4g} .. {d.ci_high:+,.4g}"
        if d.ci_low is not None and d.ci_high is not None
        else ""
    )
    return (
        f"cache-line transfers per {d.per}: A {d.a:,.4g}, B {d.b:,.4g}, Δ {change}"
        f"{interval} (runs {d.runs_a}/{d.runs_b})"
    )
