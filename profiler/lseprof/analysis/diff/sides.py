"""The two sides of `lseprof diff`: a run group from the store, a run directory, a
profile (perf.data or text) or an ELF binary, loaded into a :class:`Side` with its
shares (see :mod:`lseprof.analysis.diff.build` for what each kind gives).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lseprof.analysis.diff.coherence import coherence_paths, load_coherence_side
from lseprof.analysis.diff.results import ELF_MAGIC, SideKind
from lseprof.analysis.pipeline import Report, analyze_file
from lseprof.analysis.run_analysis import RUN_MAX_STACK
from lseprof.analysis.run_means import mean_callers, mean_categories, mean_helpers, sampled_runs
from lseprof.analysis.stacks import folded, helper_names, stacks_of
from lseprof.analysis.stored_runs import ProfileSource, StoreAccess, looks_like_path, profile_of
from lseprof.errors import LseprofError
from lseprof.readers.perf_data import FULL_STACK
from lseprof.results import CATEGORIES, Attribution, CoherenceResult, HelperShare
from lseprof.store import RunRecord, display_location, record_from_run_json
from lseprof.symbols.inspect_elf import Inventory, inspect

# --------------------------------------------------------------------------- sides


@dataclass
class Shares:
    """One side's sample shares (percent of all samples of ``event``)."""

    event: str | None
    samples: float
    categories: dict[str, float]
    atomic_helper_share: float
    helpers: dict[str, HelperShare]  # by symbol
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
    report: Report | None = field(default=None, repr=False)  # a profile's report
    profiles: list[ProfileSource] = field(default_factory=list)  # a group's perf.data files
    inventory: Inventory | None = None
    notes: list[str] = field(default_factory=list)
    coherence: list[CoherenceResult] = field(default_factory=list)  # coherence files

    def coherence_results(self) -> list[CoherenceResult]:
        """The side's cache lines between cores: its coherence files', its runs' (all
        of them, or none), or its profile's."""
        if self.coherence:
            return list(self.coherence)
        if self.runs:
            found = [r.extra.coherence for r in self.runs]
            return [c for c in found if c is not None] if None not in found else []
        if self.report is not None and self.report.coherence is not None:
            return [self.report.coherence]
        return []

    def config(self, name: str) -> Any:
        """One value of the runs' configuration, or None when they disagree or are unknown."""
        values = {getattr(r, name) for r in self.runs}
        return values.pop() if len(values) == 1 else None


def _group_runs(records: list[RunRecord], what: str, binaries: Sequence[Path] = ()) -> Side:
    ok = [r for r in records if r.status == "ok"]
    first = records[0]
    if not ok:
        statuses = ", ".join(sorted({r.status for r in records}))
        raise LseprofError(
            f"{what} has no completed runs ({len(records)} {statuses}); nothing to compare"
        )
    side = Side("group", "", runs=ok)
    side.throughput = [float(r.throughput_mib_s) for r in ok if r.throughput_mib_s is not None]
    side.shares = average_shares(ok)
    side.profiles = [profile_of(r, binaries) for r in ok if r.perf_data]
    threads = side.config("threads")
    config = ", ".join(
        str(v)
        for v in (
            first.workload,
            first.variant if first.variant != "command" else None,
            side.config("target"),
            "emulated" if side.config("emulated") else None,
            f"{threads} thread{'' if threads == 1 else 's'}" if threads is not None else None,
        )
        if v
    )
    skipped = len(records) - len(ok)
    side.description = (
        f"group {first.group_id} ({config}; {len(ok)} ok runs"
        f"{f', {skipped} not ok left out' if skipped else ''})"
    )
    if skipped:
        side.notes.append(f"{what}: {skipped} runs that did not complete are left out")
    return side


def average_shares(runs: Sequence[RunRecord]) -> Shares | None:
    """The mean of the runs' stored shares; a helper or caller a run lacks counts as 0
    (the means of lseprof.analysis.run_means, as in the run table and the dashboard)."""
    sampled = sampled_runs(runs)
    if not sampled:
        return None
    means = mean_categories(sampled)
    events = sorted({str(r.event) for r in sampled if r.event})
    helper_share = sum(
        float(
            r.atomic_helper_share
            if r.atomic_helper_share is not None
            else r.categories.get("atomic_helper", 0.0)
        )
        for r in sampled
    ) / len(sampled)
    return Shares(
        event=events[0] if len(events) == 1 else None,
        samples=float(sum(r.samples or 0 for r in sampled)),
        categories={c: means.get(c, 0.0) for c in CATEGORIES},
        atomic_helper_share=helper_share,
        helpers={h.symbol: h for h in mean_helpers(sampled)},
        callers={(c.helper, c.caller): c.share or 0.0 for c in mean_callers(sampled)},
    )


def shares_of(section: Attribution) -> Shares:
    """The shares of one event section of a profile."""
    helpers = {h.symbol: h for h in section.helpers}
    callers: dict[tuple[str, str], float] = {}
    for c in section.helper_callers:
        if c.share is not None:
            callers[(c.helper, c.caller)] = callers.get((c.helper, c.caller), 0.0) + c.share
    return Shares(
        section.event,
        section.samples,
        dict(section.categories),
        section.atomic_helper_share,
        helpers,
        callers,
    )


def _load_profile(path: Path, binaries: Sequence[Path], full_stacks: bool) -> Side:
    # Callchains as deep as a run reads them: scheduler and system-call time is
    # attributed by callchain, so a run's perf.data compares as the run stored it.
    depth = FULL_STACK if full_stacks else RUN_MAX_STACK
    report = analyze_file(path, binaries=binaries, max_stack=depth)
    if not report.sections:
        raise LseprofError(f"{path} has no samples; record the profile again")
    side = Side("profile", "", sections=report.sections, report=report)
    events = ", ".join(s.event for s in report.sections)
    side.description = f"{report.capture.source_kind} {path} ({events})"
    return side


def side_stacks(side: Side, event: str | None) -> tuple[dict[str, float], set[str]]:
    """A side's folded stacks of `event` (and the names of its helper frames): a
    profile's from its report, a run group's summed over its runs' perf.data files,
    each read once with whole stacks."""
    reports = (
        [side.report]
        if side.report is not None
        else [
            analyze_file(
                p.perf_data,
                binaries=p.binaries,
                symfs=p.files.symfs if p.files else None,
                kallsyms=p.files.kallsyms if p.files else None,
                perf_maps=[p.perf_map] if p.perf_map else [],
                max_stack=FULL_STACK,
            )
            for p in side.profiles
        ]
    )
    total: dict[str, float] = {}
    helpers: set[str] = set()
    for report in reports:
        helpers |= helper_names(stacks_of(report, event))
        for stack, count in folded(report, event).items():
            total[stack] = total.get(stack, 0.0) + count
    return total, helpers


def _load_run_dir(directory: Path, store: StoreAccess, binaries: Sequence[Path]) -> Side:
    record = record_from_run_json(directory / "run.json")
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
        side.notes.append(
            f"{where}: its group is not in the store "
            f"{display_location(store.location)}; using this one run"
        )
    return side


def kind_of(text: str) -> SideKind:
    """What ``text`` names, without loading it (an unreadable path counts as a profile,
    a missing one as an id: :func:`load_side` reports either)."""
    path = Path(text).expanduser()
    if path.exists() and coherence_paths(path):
        return "coherence"
    if path.is_dir() or path.name == "run.json" or not path.exists():
        return "group"
    try:
        with path.open("rb") as handle:
            return "binary" if handle.read(4) == ELF_MAGIC else "profile"
    except OSError:
        return "profile"


def load_side(
    text: str, store: StoreAccess, binaries: Sequence[Path] = (), full_stacks: bool = False
) -> Side:
    """Recognize what ``text`` names (see the module doc) and load it."""
    path = Path(text).expanduser()
    if kind_of(text) == "coherence":
        results = load_coherence_side(path, binaries)
        runs = f"{len(results)} run{'s' if len(results) != 1 else ''}"
        return Side("coherence", f"coherence {path} ({runs})", coherence=results)
    if path.is_dir():
        if not (path / "run.json").is_file():
            raise LseprofError(
                f"{path} is a directory without run.json; give a run "
                "directory, a perf.data, a binary or a run/group id"
            )
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
        return _load_profile(path, binaries, full_stacks)
    if looks_like_path(text):
        raise LseprofError(
            f"{text}: no such file or directory; give a run or group id, a run "
            "directory, a perf.data or a binary"
        )
    if not store.exists():
        raise LseprofError(
            f"'{text}' is not a file, and there is no run store at "
            f"{display_location(store.location)} to look it up in; pass --store"
        )
    records = store.get().resolve(text)
    if len(records) == 1:
        records = store.get().group(records[0].group_id)  # a run stands for its group
    return _group_runs(records, f"group {records[0].group_id}", binaries)
