"""A against B: the comparison itself (see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lseprof.analysis.diff.coherence import compare_coherence
from lseprof.analysis.diff.explain import decompose
from lseprof.analysis.diff.results import (
    DEFAULT_ALPHA,
    DEFAULT_HELPER_THRESHOLD_PP,
    CallerDelta,
    CountDelta,
    Diff,
    DiffKind,
    HelperDelta,
    HelperSites,
    HelperStatus,
    Regression,
    SchedDelta,
    ShareDelta,
    StaticDiff,
)
from lseprof.analysis.diff.sides import Shares, Side, kind_of, load_side, shares_of, side_stacks
from lseprof.analysis.stacks import FoldedDiff, differential
from lseprof.analysis.stats import MIN_REPS_FOR_TEST, compare_throughput
from lseprof.analysis.stored_runs import StoreAccess
from lseprof.errors import LseprofError
from lseprof.results import CATEGORIES, Finding
from lseprof.store import RunRecord
from lseprof.symbols.inspect_elf import Inventory

# --------------------------------------------------------------------------- comparing


def _status(in_a: bool, in_b: bool) -> HelperStatus:
    if in_a and not in_b:
        return "vanished"
    if in_b and not in_a:
        return "appeared"
    return "changed"


def _pick_sections(a: Side, b: Side) -> tuple[Shares, Shares]:
    """The shares to compare: the same event on both sides where there is a choice."""
    if a.sections and b.sections:
        b_events = [s.event for s in b.sections]
        common = [s.event for s in a.sections if s.event in b_events]
        if not common:
            raise LseprofError(
                f"A has events {', '.join(s.event for s in a.sections)} and B has "
                f"{', '.join(b_events)}: no event in common to compare; record both with the "
                "same -e"
            )
        pick = [next(s for s in side.sections if s.event == common[0]) for side in (a, b)]
        return shares_of(pick[0]), shares_of(pick[1])
    # A run group and a profile: the profile's section of the group's event if it has one
    # (else its first; _compare_shares warns that the events differ).
    group, profile = (a, b) if b.sections else (b, a)
    assert group.shares is not None
    wanted = group.shares.event
    section = next((s for s in profile.sections if s.event == wanted), profile.sections[0])
    shares = shares_of(section)
    return (group.shares, shares) if group is a else (shares, group.shares)


def _compare_shares(diff: Diff, sa: Shares, sb: Shares) -> None:
    diff.event = sa.event if sa.event == sb.event else sa.event or sb.event
    if sa.event and sb.event and sa.event != sb.event:
        diff.warnings.append(f"A sampled {sa.event} and B {sb.event}: shares of different events")
    diff.samples_a, diff.samples_b = sa.samples, sb.samples
    diff.categories = [
        ShareDelta(
            c,
            sa.categories.get(c, 0.0),
            sb.categories.get(c, 0.0),
            sb.categories.get(c, 0.0) - sa.categories.get(c, 0.0),
        )
        for c in CATEGORIES
    ]
    diff.atomic_helper_share = ShareDelta(
        "atomic_helper",
        sa.atomic_helper_share,
        sb.atomic_helper_share,
        sb.atomic_helper_share - sa.atomic_helper_share,
    )
    helpers = []
    for symbol in sorted(set(sa.helpers) | set(sb.helpers)):
        known = sa.helpers.get(symbol) or sb.helpers[symbol]
        op, size, order = known.op, known.size, known.order
        va = sa.helpers[symbol].share if symbol in sa.helpers else 0.0
        vb = sb.helpers[symbol].share if symbol in sb.helpers else 0.0
        helpers.append(
            HelperDelta(
                symbol,
                op,
                size,
                order,
                va,
                vb,
                vb - va,
                _status(symbol in sa.helpers, symbol in sb.helpers),
            )
        )
    diff.helpers = sorted(helpers, key=lambda h: (-abs(h.delta_pp), h.symbol))
    callers = []
    for key in sorted(set(sa.callers) | set(sb.callers)):
        va, vb = sa.callers.get(key, 0.0), sb.callers.get(key, 0.0)
        callers.append(
            CallerDelta(
                key[0], key[1], va, vb, vb - va, _status(key in sa.callers, key in sb.callers)
            )
        )
    diff.callers = sorted(callers, key=lambda c: (-abs(c.delta_pp), c.helper, c.caller))


SCHED_FIGURES = (
    "offcpu_share",
    "wakeups_per_item",
    "wakeups_per_s",
    "wakeup_latency_p50_us",
    "wakeup_latency_p99_us",
)


def _sched_figure(record: RunRecord, name: str) -> float | None:
    figures = record.extra.offcpu
    if figures is None:
        return None
    return {
        "offcpu_share": figures.offcpu_share,
        "wakeups_per_item": figures.wakeups_per_item,
        "wakeups_per_s": figures.wakeups_per_s,
        "wakeup_latency_p50_us": figures.wakeup_p50_us,
        "wakeup_latency_p99_us": figures.wakeup_p99_us,
    }[name]


def sched_deltas(a: Sequence[RunRecord], b: Sequence[RunRecord]) -> list[SchedDelta]:
    """Mean scheduler figures of both groups, where every run of both has them."""
    out = []
    for name in SCHED_FIGURES:
        va = [_sched_figure(r, name) for r in a]
        vb = [_sched_figure(r, name) for r in b]
        if not va or not vb or None in va or None in vb:
            continue
        ma = sum(v for v in va if v is not None) / len(va)
        mb = sum(v for v in vb if v is not None) / len(vb)
        out.append(SchedDelta(name, ma, mb, mb - ma, 100.0 * (mb - ma) / ma if ma else None))
    return out


def _compare_runs(diff: Diff, a: Side, b: Side) -> None:
    wa, wb = a.config("workload"), b.config("workload")
    if wa != wb:
        raise LseprofError(
            f"A is workload {wa!r} but B is {wb!r}; lseprof diff compares runs of one workload"
        )
    for name, label in (
        ("threads", "threads"),
        ("target", "target"),
        ("emulated", "emulated"),
        ("cpu_model", "qemu CPU model"),
    ):
        va, vb = a.config(name), b.config(name)
        if va != vb:
            diff.warnings.append(
                f"A and B differ in {label} ({va} vs {vb}): the throughput "
                "compares different configurations"
            )
    if not a.throughput or not b.throughput:
        diff.notes.append(
            f"throughput is unknown on {'A' if not a.throughput else 'B'}; no throughput comparison"
        )
        return
    diff.scheduler = sched_deltas(a.runs, b.runs)
    result = compare_throughput(a.throughput, b.throughput, alpha=diff.alpha)
    diff.throughput = result
    diff.decomposition = decompose(a.runs, b.runs)
    if diff.decomposition is not None:
        diff.notes.extend(diff.decomposition.notes)
    if result.verdict == "unresolved":
        diff.notes.append(
            f"throughput cannot be resolved: fewer than {MIN_REPS_FOR_TEST} repetitions on a "
            f"side (A {len(a.throughput)}, B {len(b.throughput)}); re-run with --repeat "
            f"{MIN_REPS_FOR_TEST} or more"
        )


def _compare_static(a: Inventory, b: Inventory) -> StaticDiff:
    by_a = {h.symbol: h for h in a.helpers}
    by_b = {h.symbol: h for h in b.helpers}
    helpers = []
    for symbol in sorted(set(by_a) | set(by_b)):
        h = by_a.get(symbol) or by_b[symbol]
        ca = by_a[symbol].call_sites if symbol in by_a else 0
        cb = by_b[symbol].call_sites if symbol in by_b else 0
        helpers.append(
            HelperSites(
                symbol,
                h.op,
                h.size,
                h.order,
                ca,
                cb,
                cb - ca,
                _status(symbol in by_a, symbol in by_b),
            )
        )
    helpers.sort(key=lambda h: (-abs(h.delta), h.symbol))

    def count(name: str, va: int, vb: int) -> CountDelta:
        return CountDelta(name, va, vb, vb - va)

    totals = [
        count("helpers", len(a.helpers), len(b.helpers)),
        count("helper call sites", a.call_sites_total, b.call_sites_total),
        count("inline LSE", sum(a.inline_lse.values()), sum(b.inline_lse.values())),
        count("LL/SC exclusives", sum(a.exclusives.values()), sum(b.exclusives.values())),
        count("x86 lock", a.x86_lock, b.x86_lock),
        count("x86 xchg", a.x86_xchg, b.x86_xchg),
    ]
    return StaticDiff(a.arch, b.arch, a.verdict, b.verdict, helpers, totals)


def build_diff(
    a_text: str,
    b_text: str,
    *,
    store: str | None = None,
    binaries: Sequence[Path] = (),
    alpha: float = DEFAULT_ALPHA,
    stacks: bool = False,
) -> Diff:
    """Load both sides and compare them (see the module doc); with `stacks`, also their
    whole stacks, folded into ``Diff.stacks`` (a differential flame graph's input)."""
    if not 0.0 < alpha < 1.0:
        raise LseprofError(f"--alpha must be between 0 and 1, not {alpha}")
    # Refuse a binary against anything else before loading (a profile is slow to read).
    guessed = [kind_of(a_text), kind_of(b_text)]
    if "binary" in guessed and set(guessed) != {"binary"}:
        other = next(k for k in guessed if k != "binary")
        what = "run group" if other == "group" else "profile"
        raise LseprofError(
            f"cannot compare a binary with a {what}; give two binaries, or two runs or profiles"
        )
    access = StoreAccess(store)
    try:
        a = load_side(a_text, access, binaries, full_stacks=stacks)
        b = load_side(b_text, access, binaries, full_stacks=stacks)
    finally:
        access.close()
    kinds = {a.kind, b.kind}
    if "coherence" in kinds:
        return _coherence_only(a, b, alpha)
    kind: DiffKind = (
        "static" if kinds == {"binary"} else ("runs" if kinds == {"group"} else "samples")
    )
    diff = Diff(
        a.description,
        b.description,
        kind,
        alpha=alpha,
        notes=[*a.notes, *b.notes],
    )
    diff.coherence = compare_coherence(a.coherence_results(), b.coherence_results())
    if kind == "static":
        assert a.inventory is not None and b.inventory is not None
        if a.inventory.arch != b.inventory.arch:
            diff.warnings.append(f"A is {a.inventory.arch} and B is {b.inventory.arch}")
        diff.static = _compare_static(a.inventory, b.inventory)
        return diff
    if kind == "runs":
        _compare_runs(diff, a, b)
    elif "group" in kinds:
        diff.notes.append("a run group against a profile: samples only, no throughput")
    if kind == "runs":
        if a.shares is None or b.shares is None:
            diff.notes.append(
                f"{'A' if a.shares is None else 'B'} has no samples (recorded "
                "with --no-perf?); no sample comparison"
            )
            return diff
        sa, sb = a.shares, b.shares
    else:
        if (a.kind == "group" and a.shares is None) or (b.kind == "group" and b.shares is None):
            raise LseprofError(
                "the run group has no samples (recorded with --no-perf?); "
                "nothing to compare with the profile"
            )
        sa, sb = _pick_sections(a, b)
    _compare_shares(diff, sa, sb)
    _compare_findings(diff, a, b)
    if stacks:
        diff.stacks = _stacks(a, b, diff.event)
    return diff


def _coherence_only(a: Side, b: Side, alpha: float) -> Diff:
    """Coherence files against coherence files (or a run or profile that has them)."""
    ra, rb = a.coherence_results(), b.coherence_results()
    if not ra or not rb:
        lacking = "A" if not ra else "B"
        raise LseprofError(
            f"{lacking} has no coherence results to compare with the other side's; give "
            "two coherence files or out directories of `lseprof vm run --coherence`"
        )
    diff = Diff(a.description, b.description, "coherence", alpha=alpha)
    diff.coherence = compare_coherence(ra, rb)
    return diff


def _findings(side: Side, event: str | None) -> list[Finding]:
    """A side's findings: a profile's (of the compared event), or those any ok run of a
    group stored (each once, in the order first seen)."""
    if side.runs:
        found: dict[str, Finding] = {}
        for run in side.runs:
            for finding in run.extra.findings:
                found.setdefault(finding.id, finding)
        return list(found.values())
    section = next((s for s in side.sections if s.event == event), None)
    section = section or (side.sections[0] if side.sections else None)
    return list(section.findings) if section is not None else []


def _compare_findings(diff: Diff, a: Side, b: Side) -> None:
    """Findings that B has and A had not (new), and that A had and B has not (gone)."""
    fa, fb = _findings(a, diff.event), _findings(b, diff.event)
    ids_a, ids_b = {f.id for f in fa}, {f.id for f in fb}
    diff.findings_new = [f for f in fb if f.id not in ids_a]
    diff.findings_gone = [f for f in fa if f.id not in ids_b]
    diff.findings_kept = [f.id for f in fb if f.id in ids_a]


def _stacks(a: Side, b: Side, event: str | None) -> FoldedDiff:
    for name, side in (("A", a), ("B", b)):
        if side.report is None and not side.profiles:
            raise LseprofError(
                f"{name} has no profile to read stacks from (runs recorded with --no-perf?); "
                "--folded and --flamegraph need perf.data or perf text"
            )
    stacks_a, helpers_a = side_stacks(a, event)
    stacks_b, helpers_b = side_stacks(b, event)
    return differential(stacks_a, stacks_b, helpers_a | helpers_b, event)


def check_regression(
    diff: Diff, fail_pct: float, helper_threshold_pp: float = DEFAULT_HELPER_THRESHOLD_PP
) -> Regression:
    """``--fail-on-regression PCT``: failed when B is significantly slower than A by more
    than ``fail_pct`` percent, or its atomic-helper share grew by more than
    ``helper_threshold_pp`` percentage points. Stored on ``diff`` and returned."""
    if fail_pct < 0:
        raise LseprofError(f"--fail-on-regression must be 0 or more, not {fail_pct}")
    if helper_threshold_pp < 0:
        raise LseprofError(f"--helper-threshold must be 0 or more, not {helper_threshold_pp}")
    result = Regression(checked=True)
    t = diff.throughput
    if t is not None:
        if t.verdict == "slower" and -t.delta_pct > fail_pct:
            result.reasons.append(
                f"throughput {t.delta_pct:+.1f}% (slower by more than {fail_pct:g}%, "
                f"p = {t.p_value:.3g} < {diff.alpha:g})"
            )
        elif t.verdict == "unresolved":
            result.notes.append(
                "throughput not checked: it cannot be resolved with fewer "
                f"than {MIN_REPS_FOR_TEST} repetitions per side"
            )
    elif diff.kind != "static":
        result.notes.append("no throughput on both sides: throughput not checked")
    share = diff.atomic_helper_share
    if share is not None:
        if share.delta_pp > helper_threshold_pp:
            result.reasons.append(
                f"atomic-helper share {share.a:.2f}% -> {share.b:.2f}% "
                f"({share.delta_pp:+.2f} pp, more than {helper_threshold_pp:g} pp)"
            )
    elif diff.kind == "static":
        result.notes.append("a static diff has no throughput or samples: nothing checked")
    result.failed = bool(result.reasons)
    diff.regression = result
    return result
