"""The coherence plugin's file (``coherence.txt``) and the run's ``coherence.json``.

The plugin (native/coherence/coherence.c) writes text, one tab-separated record per
line, the first field its tag; ``#`` lines are comments and column headings:

==== ===================================================================================
tag  content
==== ===================================================================================
H    header, ``key=value``: format, plugin, qemu_built, api_built, api_running_min/cur,
     target, vcpus, line_bytes, filter, pid, details, snapshot, wall_s
T    totals over every line counted, ``key=value``: accesses, loads, stores, atomics,
     excl, transfers, hitm, invalidations, lines, lines_listed, ... quantum_mode,
     quantum, tasks, registers
P    a followed address space: root (TTBR0 base), tid (who registered it), how
     (follow, tree, pid, marker), active (0: left by exec or an end marker)
U    a followed thread: tid, parent (0: none), root, sp_lo, sp_hi (lowest and highest
     stack pointer seen at a return to user mode)
L    a line, positional: line_paddr transfers hitm invalidations loads stores atomics
     excl holders ever (hex masks, bit = vCPU); sorted by transfers
D    an instruction's accesses to one of the top lines, positional: line_paddr
     insn_vaddr data_vaddr size kind cpu tid count transfers invalidations
E    ``complete`` (written at qemu's exit) or ``partial snapshot=K`` (periodic)
==== ===================================================================================

:func:`read_coherence` reads both files into a :class:`CoherenceFile`; a file of
another format or written by the plugin for another qemu is refused in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lseprof.emulation.vm import COHERENCE_FILE, COHERENCE_META, QEMU_PIN
from lseprof.errors import LseprofError

MAGIC = b"# lseprof-coherence format "
FORMAT = 1
PLUGIN_API = 4
KINDS = ("load", "store", "atomic", "excl_ld", "excl_st")
_RERUN = "run it again with `lseprof vm run --coherence`"


@dataclass(frozen=True)
class LineRecord:
    """An L record: one line's counts and the cores that hold and held it."""

    paddr: int
    transfers: int
    hitm: int
    invalidations: int
    loads: int
    stores: int
    atomics: int
    excl: int
    holders: int  # bit i: vCPU i holds a copy now
    ever: int  # bit i: vCPU i touched the line


@dataclass(frozen=True)
class DetailRecord:
    """A D record: one (instruction, data address, size, kind, cpu) on one line."""

    line: int
    insn: int
    data: int
    size: int
    kind: str
    cpu: int
    tid: int
    count: int
    transfers: int
    invalidations: int


@dataclass(frozen=True)
class ThreadRecord:
    """A U record: a followed thread."""

    tid: int
    parent: int
    root: int
    sp_lo: int
    sp_hi: int


@dataclass(frozen=True)
class ProcessRecord:
    """A P record: a followed address space."""

    root: int
    tid: int
    how: str
    active: bool


@dataclass
class CoherenceFile:
    """What one run with the plugin left: its records and ``coherence.json``'s facts
    (``meta``: command, machine, settings, outcome, times, work; {} without it)."""

    path: Path
    header: dict[str, str]
    totals: dict[str, str]
    processes: list[ProcessRecord] = field(default_factory=list)
    threads: list[ThreadRecord] = field(default_factory=list)
    lines: list[LineRecord] = field(default_factory=list)
    details: list[DetailRecord] = field(default_factory=list)
    end: str | None = None  # "complete", "partial", or None (no E record)
    meta: dict[str, Any] = field(default_factory=dict)

    def total(self, name: str) -> int:
        try:
            return int(self.totals.get(name, "0"))
        except ValueError:
            return 0

    @property
    def partial(self) -> bool:
        """The counts stop before the command's end: a periodic snapshot (qemu was
        killed), or a run that did not end with the command's own exit."""
        return self.end != "complete" or self.meta.get("outcome", "exited") != "exited"


def is_coherence_file(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def find_coherence(path: Path) -> Path | None:
    """The coherence file ``path`` is, or holds (a run's out directory), or has beside
    it (a perf.data recorded in the same run)."""
    for candidate in (path, path / COHERENCE_FILE, path.parent / COHERENCE_FILE):
        if candidate.is_file() and is_coherence_file(candidate):
            return candidate
    return None


def _pairs(fields: list[str]) -> dict[str, str]:
    return dict(f.split("=", 1) for f in fields if "=" in f)


def _check_header(path: Path, header: dict[str, str]) -> None:
    if header.get("format") != str(FORMAT):
        raise LseprofError(
            f"{path} is a coherence file of format {header.get('format', '?')}; this "
            f"lseprof reads format {FORMAT}: read it with the lseprof that made it, or {_RERUN}"
        )
    built, api = header.get("qemu_built"), header.get("api_built")
    if built != QEMU_PIN or api != str(PLUGIN_API):
        raise LseprofError(
            f"{path} was written by the coherence plugin for qemu {built} (plugin API "
            f"{api}); this lseprof reads files of qemu {QEMU_PIN} (API {PLUGIN_API}): "
            f"{_RERUN} on qemu {QEMU_PIN}"
        )


def _record(found: CoherenceFile, tag: str, fields: list[str]) -> None:
    if tag == "L":
        values = [int(v, 0) for v in fields[:10]]
        if len(values) != 10:
            raise ValueError("an L record has 10 fields")
        found.lines.append(LineRecord(*values))
    elif tag == "D":
        if len(fields) != 10 or fields[4] not in KINDS:
            raise ValueError("a D record has 10 fields and a known kind")
        line, insn, data, size, cpu, tid, count, transfers, inval = (
            int(v, 0) for v in fields[:4] + fields[5:]
        )
        found.details.append(
            DetailRecord(line, insn, data, size, fields[4], cpu, tid, count, transfers, inval)
        )
    elif tag == "U":
        kv = _pairs(fields)
        found.threads.append(
            ThreadRecord(*(int(kv[k], 0) for k in ("tid", "parent", "root", "sp_lo", "sp_hi")))
        )
    elif tag == "P":
        kv = _pairs(fields)
        found.processes.append(
            ProcessRecord(int(kv["root"], 0), int(kv["tid"]), kv["how"], kv["active"] == "1")
        )
    elif tag == "T":
        found.totals = _pairs(fields)
    elif tag == "E":
        found.end = fields[0] if fields else None


def read_meta(path: Path) -> dict[str, Any]:
    """``coherence.json`` beside a coherence file, or {} (none, or unreadable)."""
    try:
        meta = json.loads((path.parent / COHERENCE_META).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def read_coherence(path: Path) -> CoherenceFile:
    """Read a coherence file (and its coherence.json); one-line errors for a file that
    is not one, is of another format or qemu, or is damaged."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise LseprofError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not text.startswith(MAGIC.decode()):
        raise LseprofError(
            f"{path} is not a coherence file (lseprof vm run --coherence writes "
            f"{COHERENCE_FILE}); give that file or the run's out directory"
        )
    found = CoherenceFile(path, {}, {})
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        tag, *fields = line.split("\t")
        if tag == "H":
            found.header = _pairs(fields)
            _check_header(path, found.header)
            continue
        try:
            _record(found, tag, fields)
        except (ValueError, KeyError, TypeError, IndexError):
            raise LseprofError(
                f"{path}, line {number}: a damaged {tag!r} record; {_RERUN}"
            ) from None
    if not found.header:
        raise LseprofError(f"{path} has no header record (H); {_RERUN}")
    found.meta = read_meta(path)
    return found
