"""The two sides of `lseprof diff`: a run group from the store, a run directory, a
profile (perf.data or text) or an ELF binary, loaded into a :class:`Side` with its
shares (see :mod:`lseprof.analysis.diff` for what each kind gives).
"""


from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lseprof.analysis.attribution import Attribution
from lseprof.analysis.diff_results import ELF_MAGIC, SideKind
from lseprof.analysis.folded import ProfileSource
from lseprof.analysis.pipeline import build_report
from lseprof.analysis.run_means import mean_callers, mean_categories, mean_helpers, sampled_runs
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


class StoreAccess:
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


def looks_like_path(text: str) -> bool:
    # Run and group ids are hex, digits, letters and '-': never a '/' or a '.'.
    return "/" in text or "." in text or text.startswith("~")


def record_from_run_json(path: Path) -> RunRecord:
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
    side.profiles = [profile_of(r, binaries) for r in ok if r.perf_data]
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


def profile_of(run: RunRecord, binaries: Sequence[Path]) -> ProfileSource:
    """The run's perf.data with its perf map, and the ELFs that name its frames: the
    user's --binary files, then the build the run recorded (when it is still there)."""
    perf_map = run.extra.perf_map
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
    """The mean of the runs' stored shares; a helper or caller a run lacks counts as 0
    (the means of lseprof.analysis.run_means, as in the run table and the dashboard)."""
    sampled = sampled_runs(runs)
    if not sampled:
        return None
    means = mean_categories(sampled)
    events = sorted({str(r.event) for r in sampled if r.event})
    helper_share = sum(float(r.atomic_helper_share if r.atomic_helper_share is not None
                             else r.categories.get("atomic_helper", 0.0))
                       for r in sampled) / len(sampled)
    return Shares(
        event=events[0] if len(events) == 1 else None,
        samples=float(sum(r.samples or 0 for r in sampled)),
        categories={c: means.get(c, 0.0) for c in CATEGORIES},
        atomic_helper_share=helper_share,
        helpers={h.symbol: (h.op, h.size, h.order, h.share) for h in mean_helpers(sampled)},
        callers={(c.helper, c.caller): c.share or 0.0 for c in mean_callers(sampled)},
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


def load_side(text: str, store: StoreAccess, binaries: Sequence[Path] = ()) -> Side:
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
    if looks_like_path(text):
        raise LseprofError(f"{text}: no such file or directory; give a run or group id, a run "
                           "directory, a perf.data or a binary")
    if not store.exists():
        raise LseprofError(f"'{text}' is not a file, and there is no run store at "
                           f"{display_location(store.location)} to look it up in; pass --store")
    records = store.get().resolve(text)
    if len(records) == 1:
        records = store.get().group(records[0].group_id)  # a run stands for its group
    return _group_runs(records, f"group {records[0].group_id}", binaries)
