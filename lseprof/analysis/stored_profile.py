"""A stored run as the input of `lseprof report`: a run id (or a unique prefix), a
run directory or its run.json stands for the run's perf.data, with the perf map
and the build that name its frames, as `lseprof diff` finds them.

So a run profiled last night is reported, and exported to pprof or speedscope,
by its id, without the user finding its directory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from lseprof.analysis.diff_sides import (
    StoreAccess,
    looks_like_path,
    profile_of,
    record_from_run_json,
)
from lseprof.analysis.folded import ProfileSource
from lseprof.errors import LseprofError
from lseprof.store import RunRecord, display_location


@dataclass(frozen=True)
class StoredProfile:
    """The recorded profile of one stored run."""

    run: RunRecord
    source: ProfileSource  # its perf.data, perf map and naming ELFs
    where: str  # how it was found, for the note printed to stderr

    @property
    def note(self) -> str:
        return f"run {self.run.run_id} ({self.where}): {self.source.perf_data}"


def _one_run(records: list[RunRecord], text: str) -> RunRecord:
    if len(records) == 1:
        return records[0]
    ids = ", ".join(r.run_id for r in records[:3]) + (", ..." if len(records) > 3 else "")
    raise LseprofError(f"'{text}' is a group of {len(records)} runs; report one of them by its "
                       f"run id ({ids}; `lseprof runs` lists them)")


def stored_profile(text: str, store: str | None,
                   binaries: tuple[Path, ...] = ()) -> StoredProfile | None:
    """The stored run that ``text`` names, or None when ``text`` is a profile file
    (or a missing path: the caller reports it as one)."""
    path = Path(text).expanduser()
    directory = None
    if path.is_dir() or path.name == "run.json":
        directory = path if path.is_dir() else path.parent
        if not (directory / "run.json").is_file():
            raise LseprofError(f"{path} is a directory without run.json; give a perf.data, "
                               "perf text, a run directory made by `lseprof run` or a run id")
        record, where = record_from_run_json(directory / "run.json"), f"directory {directory}"
    elif path.exists() or looks_like_path(text):
        return None
    else:
        access = StoreAccess(store)
        if not access.exists():
            raise LseprofError(f"'{text}' is not a file, and there is no run store at "
                               f"{display_location(access.location)} to look it up in; "
                               "pass --store or a path")
        try:
            record = _one_run(access.get().resolve(text), text)
        finally:
            access.close()
        where = f"store {display_location(access.location)}"
    if not record.perf_data:
        raise LseprofError(f"run {record.run_id} has no perf.data (it ran without perf, "
                           f"status {record.status}); its stored figures: `lseprof runs --json`")
    source = profile_of(record, binaries)
    if directory is not None:
        # A run directory copied elsewhere (from the box that ran it) holds its own files:
        # those, not the paths recorded where it ran.
        maps = sorted(directory.glob("perf-*.map"))
        source = replace(source, perf_data=directory / "perf.data",
                         perf_map=maps[0] if len(maps) == 1 else source.perf_map)
    if not source.perf_data.is_file():
        raise LseprofError(f"run {record.run_id}'s perf.data {source.perf_data} is gone; "
                           "copy the run directory back, or run it again")
    return StoredProfile(record, source, where)
