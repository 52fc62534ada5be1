"""The results of `lseprof diff` (see :mod:`lseprof.analysis.diff.build`): share,
helper, caller and count deltas, static call-site differences, and the Diff itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lseprof.analysis.diff.coherence import CoherenceDelta
from lseprof.analysis.diff.explain import Decomposition
from lseprof.analysis.stacks import FoldedDiff
from lseprof.analysis.stats import ThroughputComparison
from lseprof.results import Finding

SideKind = Literal["group", "profile", "binary", "coherence"]
DiffKind = Literal["runs", "samples", "static", "coherence"]
HelperStatus = Literal["appeared", "vanished", "changed"]
ELF_MAGIC = b"\x7fELF"
DEFAULT_ALPHA = 0.05
DEFAULT_HELPER_THRESHOLD_PP = 1.0


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ShareDelta:
    """One share on both sides, in percent of all samples; delta in percentage points."""

    name: str
    a: float
    b: float
    delta_pp: float


@dataclass(frozen=True)
class HelperDelta:
    symbol: str
    op: str | None
    size: int | None
    order: str | None
    a: float
    b: float
    delta_pp: float
    status: HelperStatus


@dataclass(frozen=True)
class CallerDelta:
    helper: str
    caller: str
    a: float
    b: float
    delta_pp: float
    status: HelperStatus


@dataclass(frozen=True)
class CountDelta:
    """A count on both sides of a static diff (call sites, instructions)."""

    name: str
    a: int
    b: int
    delta: int


@dataclass(frozen=True)
class SchedDelta:
    """A scheduler figure of two run groups (means of their --sched runs)."""

    name: str  # offcpu_share, wakeups_per_item, wakeups_per_s, wakeup_latency_p50_us, ...
    a: float
    b: float
    delta: float
    delta_pct: float | None  # None when A is 0


@dataclass(frozen=True)
class HelperSites:
    """One outline-atomic helper's call sites in binary A and binary B."""

    symbol: str
    op: str
    size: int
    order: str
    a: int
    b: int
    delta: int
    status: HelperStatus


@dataclass(frozen=True)
class StaticDiff:
    arch_a: str
    arch_b: str
    verdict_a: str
    verdict_b: str
    helpers: list[HelperSites]
    totals: list[CountDelta]  # call sites, helpers, inline LSE, exclusives, x86 lock, xchg


@dataclass
class Regression:
    """The outcome of ``--fail-on-regression``: failed means exit code 1."""

    checked: bool = False
    failed: bool = False
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Diff:
    """Everything ``lseprof diff`` reports (reporters: :mod:`lseprof.reports.diff`)."""

    a: str  # descriptions of the two sides
    b: str
    kind: DiffKind
    alpha: float = DEFAULT_ALPHA
    event: str | None = None
    samples_a: float | None = None
    samples_b: float | None = None
    throughput: ThroughputComparison | None = None
    categories: list[ShareDelta] = field(default_factory=list)
    atomic_helper_share: ShareDelta | None = None
    helpers: list[HelperDelta] = field(default_factory=list)
    callers: list[CallerDelta] = field(default_factory=list)
    static: StaticDiff | None = None
    # Run groups: the throughput change split into what moved (diff_explain.py).
    decomposition: Decomposition | None = None
    # Run groups recorded with --sched: off-CPU share, wake-ups, latency, A vs B.
    scheduler: list[SchedDelta] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    regression: Regression = field(default_factory=Regression)
    # Findings (lseprof.analysis.findings) of B that A did not have, and of A that B lost.
    findings_new: list[Finding] = field(default_factory=list)
    findings_gone: list[Finding] = field(default_factory=list)
    findings_kept: list[str] = field(default_factory=list)  # ids on both sides
    # Both sides' whole stacks, folded (asked for by --folded and --flamegraph).
    stacks: FoldedDiff | None = field(default=None, repr=False)
    # Cache lines between cores (runs with --coherence): transfers per MiB, A vs B.
    coherence: CoherenceDelta | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (see docs/diff.md)."""

        def share(s: ShareDelta | None) -> dict[str, float] | None:
            return None if s is None else {"a": s.a, "b": s.b, "delta_pp": s.delta_pp}

        lines = {"coherence": asdict(self.coherence)} if self.coherence is not None else {}
        return {
            "a": self.a,
            "b": self.b,
            "kind": self.kind,
            "alpha": self.alpha,
            "event": self.event,
            "samples": {"a": self.samples_a, "b": self.samples_b},
            "throughput": None if self.throughput is None else asdict(self.throughput),
            "categories": [asdict(c) for c in self.categories],
            "atomic_helper_share": share(self.atomic_helper_share),
            "helpers": [asdict(h) for h in self.helpers],
            "callers": [asdict(c) for c in self.callers],
            "static": None if self.static is None else asdict(self.static),
            "decomposition": None if self.decomposition is None else asdict(self.decomposition),
            "scheduler": [asdict(d) for d in self.scheduler],
            "findings": {
                "new": [f.to_dict() for f in self.findings_new],
                "gone": [f.to_dict() for f in self.findings_gone],
                "kept": list(self.findings_kept),
            },
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "regression": {
                "checked": self.regression.checked,
                "failed": self.regression.failed,
                "reasons": list(self.regression.reasons),
                "notes": list(self.regression.notes),
            },
            **lines,
        }
