"""Stored runs as inputs: a run id (or a unique prefix), a run directory or its
run.json stands for the run's perf.data, with the perf map and the build that name
its frames (:class:`ProfileSource`). `lseprof report` takes a stored run this way
(:func:`stored_profile`), and `lseprof diff` loads run groups with the same lookup.

So a run profiled last night is reported, and exported to pprof or speedscope,
by its id, without the user finding its directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from lseprof.analysis.run_analysis import symbol_files_of
from lseprof.errors import LseprofError
from lseprof.readers.perf_data import SymbolFiles
from lseprof.store import (
    RunRecord,
    RunStoreProtocol,
    default_store_location,
    display_location,
    is_store_url,
    open_store,
    record_from_run_json,
)
from lseprof.symbols.elf import ElfImage


@dataclass(frozen=True)
class ProfileSource:
    """One perf.data, with what names its frames perf could not."""

    perf_data: Path
    perf_map: Path | None = None  # qemu -perfmap file of an emulated run
    binaries: tuple[Path, ...] = ()
    # Recorded on another machine (the aarch64 machine): its files here.
    files: SymbolFiles | None = None


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


def profile_of(run: RunRecord, binaries: Sequence[Path]) -> ProfileSource:
    """The run's perf.data with its perf map, and the ELFs that name its frames: the
    user's --binary files, then the build the run recorded (when it is still there)."""
    perf_map = run.extra.perf_map
    built = run.build.get("path") if isinstance(run.build, dict) else None
    elves = [Path(p) for p in binaries]
    # A binary rebuilt since the run would name its frames wrongly: only the same build.
    if (
        built
        and Path(built) not in elves
        and Path(built).is_file()
        and _build_id_of(str(built)) == run.build_id
    ):
        elves.append(Path(built))
    return ProfileSource(
        Path(str(run.perf_data)),
        Path(perf_map) if perf_map else None,
        tuple(elves),
        symbol_files_of(run),
    )


@cache
def _build_id_of(path: str) -> str | None:
    """The build-id of the ELF at ``path``; None if it has none or is not an ELF."""
    try:
        return ElfImage(Path(path)).build_id
    except LseprofError:
        return None


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
    raise LseprofError(
        f"'{text}' is a group of {len(records)} runs; report one of them by its "
        f"run id ({ids}; `lseprof runs` lists them)"
    )


def stored_profile(
    text: str, store: str | None, binaries: tuple[Path, ...] = ()
) -> StoredProfile | None:
    """The stored run that ``text`` names, or None when ``text`` is a profile file
    (or a missing path: the caller reports it as one)."""
    path = Path(text).expanduser()
    directory = None
    if path.is_dir() or path.name == "run.json":
        directory = path if path.is_dir() else path.parent
        if not (directory / "run.json").is_file():
            raise LseprofError(
                f"{path} is a directory without run.json; give a perf.data, "
                "perf text, a run directory made by `lseprof run` or a run id"
            )
        record, where = record_from_run_json(directory / "run.json"), f"directory {directory}"
    elif path.exists() or looks_like_path(text):
        return None
    else:
        access = StoreAccess(store)
        if not access.exists():
            raise LseprofError(
                f"'{text}' is not a file, and there is no run store at "
                f"{display_location(access.location)} to look it up in; "
                "pass --store or a path"
            )
        try:
            record = _one_run(access.get().resolve(text), text)
        finally:
            access.close()
        where = f"store {display_location(access.location)}"
    if not record.perf_data:
        raise LseprofError(
            f"run {record.run_id} has no perf.data (it ran without perf, "
            f"status {record.status}); its stored figures: `lseprof runs --json`"
        )
    source = profile_of(record, binaries)
    if directory is not None:
        # A run directory copied elsewhere (from the box that ran it) holds its own files:
        # those, not the paths recorded where it ran.
        maps = sorted(directory.glob("perf-*.map"))
        source = replace(
            source,
            perf_data=directory / "perf.data",
            perf_map=maps[0] if len(maps) == 1 else source.perf_map,
        )
    if not source.perf_data.is_file():
        raise LseprofError(
            f"run {record.run_id}'s perf.data {source.perf_data} is gone; "
            "copy the run directory back, or run it again"
        )
    return StoredProfile(record, source, where)


@dataclass(frozen=True)
class ProfileInputs:
    """What names a profile's frames, with its path: a file as given, or a stored run's
    perf.data with the build and perf map recorded with it."""

    path: Path
    binaries: tuple[Path, ...]
    perf_maps: tuple[Path, ...]
    note: str = ""  # how a stored run was found, for the user; "" for a file
    files: SymbolFiles | None = None  # a stored run's, recorded on another machine


def profile_inputs(
    path: Path, store: str | None, binaries: Sequence[Path], perf_maps: Sequence[Path]
) -> ProfileInputs:
    """`path` as `lseprof report` and :func:`lseprof.load` take it: a profile file, or
    a stored run's id, run directory or run.json."""
    if Path(path).is_file() and Path(path).name != "run.json":
        return ProfileInputs(Path(path), tuple(binaries), tuple(perf_maps))
    found = stored_profile(str(path), store, tuple(binaries))
    if found is None:  # a missing file: opening it says so
        return ProfileInputs(Path(path), tuple(binaries), tuple(perf_maps))
    maps = tuple(perf_maps) or ((found.source.perf_map,) if found.source.perf_map else ())
    return ProfileInputs(
        found.source.perf_data, found.source.binaries, maps, found.note, found.source.files
    )
