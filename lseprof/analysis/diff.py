"""`lseprof diff` as a library: what changed from A to B.

A and B are each one of (see :func:`load_side`):

* a run group from the store: a group id, or a run id or unique prefix (a run
  stands for its whole group: the repetitions of one variant x threads x target
  of one ``lseprof run``);
* a run directory (it holds ``run.json``): its group from the store when the
  store has it, else that one run;
* a perf.data, ``perf script`` or ``perf report`` text file: samples only;
* an ELF binary: a static diff of the two files' atomics (``inspect``).

Run groups give throughput (:func:`lseprof.analysis.stats.compare_throughput`) and
samples; profiles give samples; binaries give call sites. A run group and a
profile compare as samples. A binary compares only with a binary.

Sample shares are percent of all samples of the event, and every difference is
B minus A in percentage points of all samples: absolute, like ``perf diff
--percentage absolute``, never relative to a symbol's own share. For a run group
the stored per-run shares are averaged over the group's ok runs, each run
weighing the same whatever its sample count (the runs are repetitions of one
configuration, so none should count more for having been sampled longer).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from lseprof.analysis.attribution import Attribution
from lseprof.analysis.folded import ProfileSource
from lseprof.analysis.pipeline import build_report
from lseprof.analysis.stats import MIN_REPS_FOR_TEST, ThroughputComparison, compare_throughput
from lseprof.errors import LseprofError
from lseprof.readers.perf_data import is_perf_data
from lseprof.samples import CATEGORIES
from lseprof.store import (
    COLUMNS,
    JSON_COLUMNS,
    RunRecord,
    RunStoreProtocol,
    default_store_location,
    display_location,
    is_store_url,
    open_store,
)
from lseprof.symbols.elf import ElfImage
from lseprof.symbols.inspect_elf import Inventory, inspect

SideKind = Literal["group", "profile", "binary"]
DiffKind = Literal["runs", "samples", "static"]
HelperStatus = Literal["appeared", "vanished", "changed"]
ELF_MAGIC = b"\x7fELF"
DEFAULT_ALPHA = 0.05
DEFAULT_HELPER_THRESHOLD_PP = 1.0


# --------------------------------------------------------------------------- results

# B against A: the statistics module's comparison, repetition counts included.
ThroughputDelta = ThroughputComparison


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
    """Everything ``lseprof diff`` reports; reporters in ``lseprof/report/diff_report.py``."""

    a: str  # descriptions of the two sides
    b: str
    kind: DiffKind
    alpha: float = DEFAULT_ALPHA
    event: str | None = None
    samples_a: float | None = None
    samples_b: float | None = None
    throughput: ThroughputDelta | None = None
    categories: list[ShareDelta] = field(default_factory=list)
    atomic_helper_share: ShareDelta | None = None
    helpers: list[HelperDelta] = field(default_factory=list)
    callers: list[CallerDelta] = field(default_factory=list)
    static: StaticDiff | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    regression: Regression = field(default_factory=Regression)
    profiles_a: list[ProfileSource] = field(default_factory=list, repr=False)
    profiles_b: list[ProfileSource] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (see docs/diff.md)."""
        def share(s: ShareDelta | None) -> dict[str, float] | None:
            return None if s is None else {"a": s.a, "b": s.b, "delta_pp": s.delta_pp}

        return {
            "a": self.a, "b": self.b, "kind": self.kind, "alpha": self.alpha,
            "event": self.event, "samples": {"a": self.samples_a, "b": self.samples_b},
            "throughput": None if self.throughput is None else asdict(self.throughput),
            "categories": [asdict(c) for c in self.categories],
            "atomic_helper_share": share(self.atomic_helper_share),
            "helpers": [asdict(h) for h in self.helpers],
            "callers": [asdict(c) for c in self.callers],
            "static": None if self.static is None else asdict(self.static),
            "warnings": list(self.warnings), "notes": list(self.notes),
            "regression": {"checked": self.regression.checked,
                           "failed": self.regression.failed,
                           "reasons": list(self.regression.reasons),
                           "notes": list(self.regression.notes)},
        }


# --------------------------------------------------------------------------- sides

@dataclass
class Shares:
    """One side's sample shares (percent of all samples of ``event``)."""

    event: str | None
    samples: float
    categories: dict[str, float]
    atomic_helper_share: float
    helpers: dict[str, tuple[str | None, int | None, str | None, float]]  # op, size, order, %
    callers: dict[tuple[str, str], float]


@dataclass
class Side:
    """A or B, loaded."""

    kind: SideKind
    description: str
    runs: list[RunRecord] = field(default_factory=list)  # ok runs of a group
    throughput: list[float] = field(default_factory=list)
    shares: Shares | None = None
    sections: list[Attribution] = field(default_factory=list)  # a profile's events
    profiles: list[ProfileSource] = field(default_factory=list)
    inventory: Inventory | None = None
    notes: list[str] = field(default_factory=list)

    def config(self, name: str) -> Any:
        """One value of the runs' configuration, or None when they disagree or are unknown."""
        values = {getattr(r, name) for r in self.runs}
        return values.pop() if len(values) == 1 else None


class _Store:
    """The run store, opened on first use (a diff of two files never opens it)."""

    def __init__(self, location: str | None) -> None:
        self.location = location if location is not None else default_store_location()
        self._store: RunStoreProtocol | None = None

    def exists(self) -> bool:
        return is_store_url(self.location) or Path(self.location).expanduser().exists()

    def get(self) -> RunStoreProtocol:
        if self._store is None:
            self._store = open_store(self.location, create=False)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _looks_like_path(text: str) -> bool:
    # Run and group ids are hex, digits, letters and '-': never a '/' or a '.'.
    return "/" in text or "." in text or text.startswith("~")


def _record_from_run_json(path: Path) -> RunRecord:
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LseprofError(f"{path} cannot be read as a run's run.json ({exc}); "
                           "give a run directory made by `lseprof run`") from None
    if not isinstance(facts, dict) or not facts.get("run_id") or not facts.get("group_id"):
        raise LseprofError(f"{path} is not an lseprof run.json (no run_id or group_id); "
                           "give a run directory made by `lseprof run`")
    kwargs: dict[str, Any] = {}
    for name in COLUMNS:
        value = facts.get("repeat" if name == "repeat_index" else name)
        if name in JSON_COLUMNS and not isinstance(value, JSON_COLUMNS[name]):
            value = JSON_COLUMNS[name]()
        kwargs[name] = value
    kwargs["status"] = kwargs["status"] or "ok"
    kwargs["created_at"] = kwargs["created_at"] or "1970-01-01T00:00:00+00:00"
    try:
        return RunRecord(**kwargs)
    except (TypeError, ValueError) as exc:
        raise LseprofError(f"{path} is not an lseprof run.json ({exc}); "
                           "give a run directory made by `lseprof run`") from None


def _group_runs(records: list[RunRecord], what: str, binaries: Sequence[Path] = ()) -> Side:
    ok = [r for r in records if r.status == "ok"]
    first = records[0]
    if not ok:
        statuses = ", ".join(sorted({r.status for r in records}))
        raise LseprofError(f"{what} has no completed runs ({len(records)} {statuses}); "
                           "nothing to compare")
    side = Side("group", "", runs=ok)
    side.throughput = [float(r.throughput_mib_s) for r in ok if r.throughput_mib_s is not None]
    side.shares = average_shares(ok)
    side.profiles = [_profile_of(r, binaries) for r in ok if r.perf_data]
    threads = side.config("threads")
    config = ", ".join(str(v) for v in (
        first.workload, first.variant if first.variant != "command" else None,
        side.config("target"), "emulated" if side.config("emulated") else None,
        f"{threads} thread{'' if threads == 1 else 's'}" if threads is not None else None)
        if v)
    skipped = len(records) - len(ok)
    side.description = (f"group {first.group_id} ({config}; {len(ok)} ok runs"
                        f"{f', {skipped} not ok left out' if skipped else ''})")
    if skipped:
        side.notes.append(f"{what}: {skipped} runs that did not complete are left out")
    return side


def _profile_of(run: RunRecord, binaries: Sequence[Path]) -> ProfileSource:
    """The run's perf.data with its perf map, and the ELFs that name its frames: the
    user's --binary files, then the build the run recorded (when it is still there)."""
    perf_map = run.extra.get("perf_map") if isinstance(run.extra, dict) else None
    built = run.build.get("path") if isinstance(run.build, dict) else None
    elves = [Path(p) for p in binaries]
    # A binary rebuilt since the run would name its frames wrongly: only the same build.
    if (built and Path(built) not in elves and Path(built).is_file()
            and _build_id_of(str(built)) == run.build_id):
        elves.append(Path(built))
    return ProfileSource(Path(str(run.perf_data)), Path(perf_map) if perf_map else None,
                         tuple(elves))


@cache
def _build_id_of(path: str) -> str | None:
    """The build-id of the ELF at ``path``; None if it has none or is not an ELF."""
    try:
        return ElfImage(Path(path)).build_id
    except LseprofError:
        return None


def average_shares(runs: Sequence[RunRecord]) -> Shares | None:
    """The mean of the runs' stored shares; a helper or caller a run lacks counts as 0."""
    sampled = [r for r in runs if r.categories]
    if not sampled:
        return None
    n = float(len(sampled))
    categories = {c: sum(float(r.categories.get(c, 0.0)) for r in sampled) / n
                  for c in CATEGORIES}
    helper_sum: dict[str, float] = {}
    helper_info: dict[str, tuple[str | None, int | None, str | None]] = {}
    caller_sum: dict[tuple[str, str], float] = {}
    for run in sampled:
        for h in run.helpers:
            symbol = str(h.get("symbol"))
            helper_sum[symbol] = helper_sum.get(symbol, 0.0) + float(h.get("share") or 0.0)
            helper_info.setdefault(symbol, (h.get("op"), h.get("size"), h.get("order")))
        for c in run.helper_callers:
            if c.get("share") is None:
                continue  # static call sites without a share: nothing to average
            key = (str(c.get("helper")), str(c.get("caller")))
            caller_sum[key] = caller_sum.get(key, 0.0) + float(c["share"])
    events = sorted({str(r.event) for r in sampled if r.event})
    helper_share = sum(float(r.atomic_helper_share if r.atomic_helper_share is not None
                             else r.categories.get("atomic_helper", 0.0)) for r in sampled) / n
    return Shares(
        event=events[0] if len(events) == 1 else None,
        samples=float(sum(r.samples or 0 for r in sampled)),
        categories=categories,
        atomic_helper_share=helper_share,
        helpers={s: (*helper_info[s], v / n) for s, v in helper_sum.items()},
        callers={k: v / n for k, v in caller_sum.items()},
    )


def shares_of(section: Attribution) -> Shares:
    """The shares of one event section of a profile."""
    helpers = {h.symbol: (h.op, h.size, h.order, h.share) for h in section.helpers}
    callers: dict[tuple[str, str], float] = {}
    for c in section.helper_callers:
        if c.share is not None:
            callers[(c.helper, c.caller)] = callers.get((c.helper, c.caller), 0.0) + c.share
    return Shares(section.event, section.samples, dict(section.categories),
                  section.atomic_helper_share, helpers, callers)


def _load_profile(path: Path, binaries: Sequence[Path]) -> Side:
    report = build_report(path, binaries=binaries)
    if not report.sections:
        raise LseprofError(f"{path} has no samples; record the profile again")
    side = Side("profile", "", sections=report.sections)
    events = ", ".join(s.event for s in report.sections)
    side.description = f"{report.capture.source_kind} {path} ({events})"
    if is_perf_data(path):
        maps = sorted(path.parent.glob("perf-*.map"))
        side.profiles = [ProfileSource(path, maps[0] if len(maps) == 1 else None,
                                       tuple(binaries))]
    return side


def _load_run_dir(directory: Path, store: _Store, binaries: Sequence[Path]) -> Side:
    record = _record_from_run_json(directory / "run.json")
    records = [record]
    where = f"run directory {directory}"
    stored = False
    if store.exists():
        try:
            records, stored = store.get().group(record.group_id), True
        except LseprofError as exc:
            if "no run or group" not in exc.message:
                raise
    side = _group_runs(records, where, binaries)
    if not stored:
        side.notes.append(f"{where}: its group is not in the store "
                          f"{display_location(store.location)}; using this one run")
    return side


def _kind_of(text: str) -> SideKind:
    """What ``text`` names, without loading it (an unreadable path counts as a profile,
    a missing one as an id: :func:`load_side` reports either)."""
    path = Path(text).expanduser()
    if path.is_dir() or path.name == "run.json" or not path.exists():
        return "group"
    try:
        with path.open("rb") as handle:
            return "binary" if handle.read(4) == ELF_MAGIC else "profile"
    except OSError:
        return "profile"


def load_side(text: str, store: _Store, binaries: Sequence[Path] = ()) -> Side:
    """Recognize what ``text`` names (see the module doc) and load it."""
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "run.json").is_file():
            raise LseprofError(f"{path} is a directory without run.json; give a run "
                               "directory, a perf.data, a binary or a run/group id")
        return _load_run_dir(path, store, binaries)
    if path.exists():
        if path.name == "run.json":
            return _load_run_dir(path.parent, store, binaries)
        try:
            with path.open("rb") as handle:
                head = handle.read(4)
        except OSError as exc:
            raise LseprofError(f"{path}: {exc.strerror}; check the path") from None
        if head == ELF_MAGIC:
            inventory = inspect(path)
            return Side("binary", f"binary {path} ({inventory.arch})", inventory=inventory)
        return _load_profile(path, binaries)
    if _looks_like_path(text):
        raise LseprofError(f"{text}: no such file or directory; give a run or group id, a run "
                           "directory, a perf.data or a binary")
    if not store.exists():
        raise LseprofError(f"'{text}' is not a file, and there is no run store at "
                           f"{display_location(store.location)} to look it up in; pass --store")
    records = store.get().resolve(text)
    if len(records) == 1:
        records = store.get().group(records[0].group_id)  # a run stands for its group
    return _group_runs(records, f"group {records[0].group_id}", binaries)


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
                "same -e")
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
    diff.categories = [ShareDelta(c, sa.categories.get(c, 0.0), sb.categories.get(c, 0.0),
                                  sb.categories.get(c, 0.0) - sa.categories.get(c, 0.0))
                       for c in CATEGORIES]
    diff.atomic_helper_share = ShareDelta("atomic_helper", sa.atomic_helper_share,
                                          sb.atomic_helper_share,
                                          sb.atomic_helper_share - sa.atomic_helper_share)
    helpers = []
    for symbol in sorted(set(sa.helpers) | set(sb.helpers)):
        op, size, order, _ = sa.helpers.get(symbol) or sb.helpers[symbol]
        va = sa.helpers[symbol][3] if symbol in sa.helpers else 0.0
        vb = sb.helpers[symbol][3] if symbol in sb.helpers else 0.0
        helpers.append(HelperDelta(symbol, op, size, order, va, vb, vb - va,
                                   _status(symbol in sa.helpers, symbol in sb.helpers)))
    diff.helpers = sorted(helpers, key=lambda h: (-abs(h.delta_pp), h.symbol))
    callers = []
    for key in sorted(set(sa.callers) | set(sb.callers)):
        va, vb = sa.callers.get(key, 0.0), sb.callers.get(key, 0.0)
        callers.append(CallerDelta(key[0], key[1], va, vb, vb - va,
                                   _status(key in sa.callers, key in sb.callers)))
    diff.callers = sorted(callers, key=lambda c: (-abs(c.delta_pp), c.helper, c.caller))


def _compare_runs(diff: Diff, a: Side, b: Side) -> None:
    wa, wb = a.config("workload"), b.config("workload")
    if wa != wb:
        raise LseprofError(f"A is workload {wa!r} but B is {wb!r}; lseprof diff compares runs "
                           "of one workload")
    for name, label in (("threads", "threads"), ("target", "target"),
                        ("emulated", "emulated"), ("cpu_model", "qemu CPU model")):
        va, vb = a.config(name), b.config(name)
        if va != vb:
            diff.warnings.append(f"A and B differ in {label} ({va} vs {vb}): the throughput "
                                 "compares different configurations")
    if not a.throughput or not b.throughput:
        diff.notes.append("throughput is unknown on "
                          f"{'A' if not a.throughput else 'B'}; no throughput comparison")
        return
    result = compare_throughput(a.throughput, b.throughput, alpha=diff.alpha)
    diff.throughput = result
    if result.verdict == "unresolved":
        diff.notes.append(
            f"throughput cannot be resolved: fewer than {MIN_REPS_FOR_TEST} repetitions on a "
            f"side (A {len(a.throughput)}, B {len(b.throughput)}); re-run with --repeat "
            f"{MIN_REPS_FOR_TEST} or more")


def _compare_static(a: Inventory, b: Inventory) -> StaticDiff:
    by_a = {h.symbol: h for h in a.helpers}
    by_b = {h.symbol: h for h in b.helpers}
    helpers = []
    for symbol in sorted(set(by_a) | set(by_b)):
        h = by_a.get(symbol) or by_b[symbol]
        ca = by_a[symbol].call_sites if symbol in by_a else 0
        cb = by_b[symbol].call_sites if symbol in by_b else 0
        helpers.append(HelperSites(symbol, h.op, h.size, h.order, ca, cb, cb - ca,
                                   _status(symbol in by_a, symbol in by_b)))
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


def build_diff(a_text: str, b_text: str, *, store: str | None = None,
               binaries: Sequence[Path] = (), alpha: float = DEFAULT_ALPHA) -> Diff:
    """Load both sides and compare them (see the module doc)."""
    if not 0.0 < alpha < 1.0:
        raise LseprofError(f"--alpha must be between 0 and 1, not {alpha}")
    # Refuse a binary against anything else before loading (a profile is slow to read).
    guessed = [_kind_of(a_text), _kind_of(b_text)]
    if "binary" in guessed and set(guessed) != {"binary"}:
        other = next(k for k in guessed if k != "binary")
        what = "run group" if other == "group" else "profile"
        raise LseprofError(f"cannot compare a binary with a {what}; give two binaries, or "
                           "two runs or profiles")
    access = _Store(store)
    try:
        a = load_side(a_text, access, binaries)
        b = load_side(b_text, access, binaries)
    finally:
        access.close()
    kinds = {a.kind, b.kind}
    kind: DiffKind = "static" if kinds == {"binary"} else (
        "runs" if kinds == {"group"} else "samples")
    diff = Diff(a.description, b.description, kind, alpha=alpha,
                notes=[*a.notes, *b.notes], profiles_a=a.profiles, profiles_b=b.profiles)
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
            diff.notes.append(f"{'A' if a.shares is None else 'B'} has no samples (recorded "
                              "with --no-perf?); no sample comparison")
            return diff
        sa, sb = a.shares, b.shares
    else:
        if (a.kind == "group" and a.shares is None) or (b.kind == "group" and b.shares is None):
            raise LseprofError("the run group has no samples (recorded with --no-perf?); "
                               "nothing to compare with the profile")
        sa, sb = _pick_sections(a, b)
    _compare_shares(diff, sa, sb)
    return diff


def check_regression(diff: Diff, fail_pct: float,
                     helper_threshold_pp: float = DEFAULT_HELPER_THRESHOLD_PP) -> Regression:
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
                f"p = {t.p_value:.3g} < {diff.alpha:g})")
        elif t.verdict == "unresolved":
            result.notes.append("throughput not checked: it cannot be resolved with fewer "
                                f"than {MIN_REPS_FOR_TEST} repetitions per side")
    elif diff.kind != "static":
        result.notes.append("no throughput on both sides: throughput not checked")
    share = diff.atomic_helper_share
    if share is not None:
        if share.delta_pp > helper_threshold_pp:
            result.reasons.append(
                f"atomic-helper share {share.a:.2f}% -> {share.b:.2f}% "
                f"({share.delta_pp:+.2f} pp, more than {helper_threshold_pp:g} pp)")
    elif diff.kind == "static":
        result.notes.append("a static diff has no throughput or samples: nothing checked")
    result.failed = bool(result.reasons)
    diff.regression = result
    return result
