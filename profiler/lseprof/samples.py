"""The samples table: what every input format is turned into.

Readers (perf.data through ``perf script``, ``perf script`` text, ``perf report``
text and pastes) produce one pandas DataFrame with the columns of :data:`SCHEMA`,
one row per sample (or per row of a ``perf report`` text, whose ``weight`` is then
the printed percentage), in a :class:`Capture` with what they learned about the
recording; :func:`validate` checks a table where each reader ends. Symbolization,
classification and aggregation read and extend the table, and never look at the
original text again. This module is the one description of the table; its columns
and their meaning are printed by :func:`schema_table` (docs/architecture.md points
here rather than keeping a copy).

Whole callchains travel beside the table: ``Capture.stacks`` holds each distinct
stack once, as indexes into ``Capture.stack_frames`` from the sampled frame (the
row's ``symbol``) outwards, and the ``stack`` column says which stack a row has.
Exports and flame graphs name every frame of them the way the table's rows are
named (:mod:`lseprof.analysis.stacks`).

``perf annotate`` text travels as :class:`Listing` s beside the table: each line of
an annotated function as printed (instruction or source), with its percentage; the
table holds one row per instruction that has samples (``weight``: its share of the
function's samples), which ``ListingLine.row`` points to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof.results import CATEGORIES

Cat: TypeAlias = "pd.Categorical[Any]"

UNKNOWN = "[unknown]"
# qemu's generated code between translated blocks (no perf-map entry): qemu's own time.
QEMU_JIT = "[qemu-jit]"
SOURCE_KINDS = ("perf-data", "perf-script", "perf-report", "perf-annotate")
HELPER_PATHS = ("", "lse", "llsc", "flag")


class Column(NamedTuple):
    name: str
    dtype: str  # "category", "int64", "uint64", "float64", "bool" or "int32"
    meaning: str


SCHEMA: tuple[Column, ...] = (
    Column("event", "category", "event name (cpu-clock, cycles:u); one report section per event"),
    Column("comm", "category", 'command name of the thread; "" where the input has none'),
    Column("pid", "int64", "process id; -1 where unknown"),
    Column("tid", "int64", "thread id; -1 where unknown"),
    Column("time", "float64", "timestamp in seconds (perf's clock); NaN where unknown"),
    Column(
        "ip",
        "uint64",
        "the sampled address: as perf printed it until named; once named, "
        "the ELF address in `dso` for frames named from an ELF (emulated guest code: the "
        "guest address of a static executable, the address in the object for PIE and "
        "shared objects); 0 where unknown",
    ),
    Column(
        "symbol",
        "category",
        "function name; [unknown] where nobody could name it, "
        "[qemu-jit] for qemu's code between translated blocks",
    ),
    Column("symoff", "int64", "offset of `ip` into `symbol`; -1 where unknown"),
    Column("dso", "category", "shared object (path, [kernel.kallsyms], [unknown], [qemu-jit])"),
    Column("period", "float64", "the event count the sample stands for; NaN if not given"),
    Column(
        "weight",
        "float64",
        "what shares are computed from: `period` when every sample of "
        "the event has one, else 1 per sample; for perf report rows the printed percentage",
    ),
    Column("caller", "category", 'immediate caller\'s function name; "" without a callchain'),
    Column("caller_dso", "category", 'the caller\'s shared object; "" where unknown'),
    Column("caller_ip", "uint64", "the caller frame's address (as `ip`); 0 where unknown"),
    Column(
        "emulated",
        "bool",
        "the sample hit the emulator (qemu) for the guest instruction in "
        "`ip`; its host frames above it were dropped",
    ),
    Column(
        "precise",
        "bool",
        "`ip` is the instruction that was running (emulated guest "
        "code); otherwise, as with any interrupt-driven sampling, it may be the next one",
    ),
    Column("truncated", "bool", "the symbol column was cut short by perf report -w"),
    Column("source_kind", "category", "perf-data, perf-script or perf-report"),
    Column("stack", "int32", "index into Capture.stacks (the whole callchain); -1 where none"),
    Column(
        "lr",
        "uint64",
        "aarch64 user code: the link register when sampled (runtime address), which names "
        "the caller of a leaf function that saved no frame; read where perf could not use it "
        "(an arm64 perf.data read on another architecture), 0 elsewhere",
    ),
)
# Added by classification (lseprof.analysis.classify).
CLASSIFICATION: tuple[Column, ...] = (
    Column("category", "category", "one of atomic_helper, inline_atomic, lock, futex, spin, work"),
    Column("helper_op", "category", 'an outline-atomic helper\'s operation (ldadd, cas, ...); ""'),
    Column("helper_size", "int64", "its access size in bytes; 0 for other samples"),
    Column("helper_order", "category", 'its memory order (relax, acq, rel, acq_rel); ""'),
    Column("insn", "category", 'the decoded atomic mnemonic where known (casal, lock add); ""'),
    Column(
        "helper_path",
        "category",
        "which path of the helper the sample was on: lse, llsc, "
        'flag (the LSE test) or "" where unknown',
    ),
)
COLUMNS = tuple(c.name for c in SCHEMA)
CATEGORY_COLUMNS = tuple(c.name for c in SCHEMA if c.dtype == "category")
# Allowed values of categorical columns that have a fixed set of them.
_VALUES = {"source_kind": SOURCE_KINDS, "category": CATEGORIES, "helper_path": HELPER_PATHS}


def schema_table() -> str:
    """The samples table's columns as a Markdown table (docs/architecture.md shows it)."""
    lines = ["| column | dtype | meaning |", "|---|---|---|"]
    for column in (*SCHEMA, *CLASSIFICATION):
        lines.append(f"| `{column.name}` | {column.dtype} | {column.meaning} |")
    return "\n".join(lines)


def validate(frame: pd.DataFrame, classified: bool = False) -> None:
    """Check a samples table against :data:`SCHEMA` (and :data:`CLASSIFICATION` when
    `classified`): every column there with its dtype, categorical values from their
    fixed sets. A failure is a bug in the reader (or classifier) that made the table:
    ValueError naming the column."""
    for column in (*SCHEMA, *(CLASSIFICATION if classified else ())):
        if column.name not in frame.columns:
            raise ValueError(f"samples table: no {column.name!r} column")
        dtype = frame[column.name].dtype
        ok = (
            isinstance(dtype, pd.CategoricalDtype)
            if column.dtype == "category"
            else (str(dtype) == column.dtype)
        )
        if not ok:
            raise ValueError(f"samples table: {column.name!r} is {dtype}, not {column.dtype}")
        allowed = _VALUES.get(column.name)
        if allowed is not None:
            # The categories, not the rows: a million-row check costs nothing.
            used = {str(c) for c in frame[column.name].cat.categories} - set(allowed)
            if used:
                raise ValueError(f"samples table: {column.name!r} holds {sorted(used)!r}")


@dataclass(frozen=True)
class Mapping:
    """A file mapped into a process while perf recorded (PERF_RECORD_MMAP/MMAP2)."""

    pid: int
    start: int
    length: int
    pgoff: int
    path: str
    prot: str = "x"
    build_id: str | None = None  # only in MMAP2 records of `perf record --buildid-mmap`


class StackFrame(NamedTuple):
    """One frame of a callchain, as the input had it (named later, as the rows are)."""

    ip: int
    symbol: str
    symoff: int
    dso: str


class ListingLine(NamedTuple):
    """One line of an annotated function (``perf annotate``), as printed."""

    kind: str  # "insn" (an instruction) or "source" (source code, a label, a heading)
    text: str  # the instruction (mnemonic and operands) or the source text
    percent: float | None = None  # share of the function's samples; None where blank
    address: int | None = None  # as printed: an address, an offset or a jump label
    row: int = -1  # the samples-table row of this instruction; -1 for none


@dataclass
class Listing:
    """An annotated function (``perf annotate --stdio``, its interactive screen, or
    lines of one pasted with a report)."""

    symbol: str
    dso: str
    event: str
    samples: int | None  # the function's samples where printed (--stdio's header)
    lines: list[ListingLine]
    layout: str  # "stdio", "tui" or "fragment" (lines pasted without their heading)
    start: int | None = None  # the function's address, where printed
    percentages: bool = True  # whether the listing printed any percentage


@dataclass
class Capture:
    """A parsed input: the samples table and what is known about the recording."""

    samples: pd.DataFrame
    source_kind: str
    path: str
    events: list[str]
    perf_version: str | None = None
    # Per event: samples perf dropped (perf.data stats, report "Total Lost Samples").
    lost_samples: dict[str, int] = field(default_factory=dict)
    # Per event: number of samples; for report text from the "# Samples:" header
    # (perf rounds it, e.g. "1K") unless a Samples column gives exact counts.
    sample_counts: dict[str, int] = field(default_factory=dict)
    sample_counts_exact: dict[str, bool] = field(default_factory=dict)
    unknown_lines: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    build_ids: dict[str, str] = field(default_factory=dict)  # dso path -> build-id
    arch: str | None = None  # of the machine that recorded, where known
    # Where sampled addresses point (a key of lseprof.results.IP_PRECISIONS) for rows
    # that are not `precise`; None where the input does not say (text).
    ip_precision: str | None = None
    # A perf.data without callchains: every `ip` is a runtime address, which
    # symbolization moves into an ELF through the recorded mmaps (lseprof.readers.mmaps).
    runtime_ips: bool = False
    warnings: list[str] = field(default_factory=list)
    # Whole callchains (see the module docstring): distinct stacks of frame indexes,
    # the sampled frame first, and the frames they index.
    stacks: list[tuple[int, ...]] = field(default_factory=list, repr=False)
    stack_frames: list[StackFrame] = field(default_factory=list, repr=False)
    # perf.data: the recorded file mappings (executable or not), in recording order.
    mappings: list[Mapping] = field(default_factory=list, repr=False)
    # perf.data with scheduler events: their records as perf script printed them in the
    # same pass as the samples (read by lseprof.readers.sched_events).
    sched_text: bytes = field(default=b"", repr=False)
    # perf annotate text: the annotated functions (see the module docstring).
    listings: list[Listing] = field(default_factory=list, repr=False)
    # Time: the first and last sample of the whole profile (perf's timestamps, whole
    # ns; None where unknown) and the window the table was cut to (--time-range, both
    # ends included). The `time` column is filled where a reader was asked for it.
    first_ns: int | None = None
    last_ns: int | None = None
    window_ns: tuple[int, int] | None = None

    def validate(self) -> None:
        """Check the samples table and its stacks (see :func:`validate`)."""
        validate(self.samples)
        stack = self.samples["stack"].to_numpy()
        if len(stack) and (int(stack.max(initial=-1)) >= len(self.stacks) or stack.min() < -1):
            raise ValueError("samples table: a stack index past Capture.stacks")
        if any(i >= len(self.stack_frames) for s in self.stacks for i in s):
            raise ValueError("Capture.stacks: a frame index past Capture.stack_frames")


def constant(n: int, value: str) -> Cat:
    """A categorical holding `value` in every one of `n` rows."""
    return pd.Categorical.from_codes(
        np.zeros(n, np.int8), categories=pd.Index([value]), validate=False
    )


def code_dtype(n_categories: int) -> type[np.signedinteger[Any]]:
    """The smallest signed integer type pandas keeps for codes into n categories."""
    if n_categories < 127:
        return np.int8
    if n_categories < 32767:
        return np.int16
    return np.int32 if n_categories < 2**31 - 1 else np.int64


def from_codes(
    codes: npt.NDArray[np.integer[Any]], categories: list[str], missing: str | None = None
) -> Cat:
    """A categorical from integer codes into `categories`, which may repeat; code -1
    stands for `missing` (NaN if None).

    One gather per row (a lookup table whose last entry is what -1 picks), in the
    codes dtype pandas would narrow to anyway: a million-row column costs one pass
    over fresh memory, not five.
    """
    labels = categories if missing is None else [*categories, missing]
    remap, uniq = pd.factorize(np.asarray(labels, dtype=object))
    dtype = code_dtype(len(uniq))
    table = np.asarray(remap, dtype=dtype)
    if missing is None:
        table = np.append(table, dtype(-1))
    return pd.Categorical.from_codes(
        table[codes], categories=pd.Index(uniq, dtype=object), validate=False
    )


def small_int_codes(
    values: npt.NDArray[np.integer[Any]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(codes, uniques) with values == uniques[codes], uniques sorted: for a million
    values of a few distinct small integers (tids) through a lookup table over their
    range, several times faster than hashing; pd.factorize where the range is wide."""
    if values.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    low, high = int(values.min()), int(values.max())
    if high - low > max(4 * values.size, 1 << 16):
        codes, uniques = pd.factorize(values, sort=True)
        return np.asarray(codes, np.int64), np.asarray(uniques, np.int64)
    offset = np.asarray(values, np.int64) - low
    present = np.zeros(high - low + 1, np.bool_)
    present[offset] = True
    uniques = np.flatnonzero(present)
    code_of = np.zeros(high - low + 1, np.int64)
    code_of[uniques] = np.arange(uniques.size)
    return code_of[offset], uniques + low


def empty_samples(source_kind: str) -> pd.DataFrame:
    return make_samples(
        n=0,
        source_kind=source_kind,
        event=pd.Categorical([]),
        comm=pd.Categorical([]),
        symbol=pd.Categorical([]),
        dso=pd.Categorical([]),
        caller=pd.Categorical([]),
        caller_dso=pd.Categorical([]),
    )


def make_samples(
    n: int,
    source_kind: str,
    *,
    event: Cat,
    comm: Cat,
    symbol: Cat,
    dso: Cat,
    caller: Cat,
    caller_dso: Cat,
    pid: npt.NDArray[np.integer[Any]] | None = None,
    tid: npt.NDArray[np.integer[Any]] | None = None,
    time: npt.NDArray[np.float64] | None = None,
    ip: npt.NDArray[np.uint64] | None = None,
    symoff: npt.NDArray[np.int64] | None = None,
    period: npt.NDArray[np.float64] | None = None,
    weight: npt.NDArray[np.float64] | None = None,
    caller_ip: npt.NDArray[np.uint64] | None = None,
    emulated: npt.NDArray[np.bool_] | None = None,
    precise: npt.NDArray[np.bool_] | None = None,
    truncated: npt.NDArray[np.bool_] | None = None,
    stack: npt.NDArray[np.integer[Any]] | None = None,
    lr: npt.NDArray[np.uint64] | None = None,
) -> pd.DataFrame:
    """Assemble a samples table with every schema column, filling unknowns."""

    def ints(a: npt.NDArray[np.integer[Any]] | None) -> npt.NDArray[np.int64]:
        return np.full(n, -1, np.int64) if a is None else np.asarray(a, dtype=np.int64)

    def floats(a: npt.NDArray[np.float64] | None) -> npt.NDArray[np.float64]:
        return np.full(n, np.nan) if a is None else np.asarray(a, dtype=np.float64)

    def bools(a: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.bool_]:
        return np.zeros(n, np.bool_) if a is None else np.asarray(a, dtype=np.bool_)

    if period is not None and weight is None:
        weight = default_weight(np.asarray(period, np.float64), event)
    # copy=False: no consolidation of same-typed columns into 2-D blocks, which would
    # copy every column of a million-row table once more.
    frame = pd.DataFrame(
        {
            "event": event,
            "comm": comm,
            "pid": ints(pid),
            "tid": ints(tid),
            "time": floats(time),
            "ip": np.zeros(n, np.uint64) if ip is None else np.asarray(ip, dtype=np.uint64),
            "symbol": symbol,
            "symoff": ints(symoff),
            "dso": dso,
            "period": floats(period),
            "weight": np.ones(n) if weight is None else np.asarray(weight, np.float64),
            "caller": caller,
            "caller_dso": caller_dso,
            "caller_ip": np.zeros(n, np.uint64)
            if caller_ip is None
            else np.asarray(caller_ip, np.uint64),
            "emulated": bools(emulated),
            "precise": bools(precise),
            "truncated": bools(truncated),
            "source_kind": constant(n, source_kind),
            "stack": np.full(n, -1, np.int32) if stack is None else np.asarray(stack, np.int32),
            "lr": np.zeros(n, np.uint64) if lr is None else np.asarray(lr, np.uint64),
        },
        copy=False,
    )
    return frame


def default_weight(period: npt.NDArray[np.float64], event: Cat) -> npt.NDArray[np.float64]:
    """The period where every sample of an event has one (perf report weighs by period),
    otherwise one per sample."""

    def usable(vals: npt.NDArray[np.float64]) -> bool:
        return bool(vals.size and np.isfinite(vals).all() and (vals > 0).all())

    codes = np.asarray(event.codes)
    if len(event.categories) == 1 and not (codes < 0).any():
        return period.copy() if usable(period) else np.ones(period.size)
    weight = np.ones(period.size)
    for code in np.unique(codes):
        rows = codes == code
        vals = period[rows]
        if usable(vals):
            weight[rows] = vals
    return weight


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate samples tables, keeping categorical columns categorical."""
    frames = [f for f in frames if len(f)] or frames[:1]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    out: dict[str, Any] = {}
    for column in frames[0].columns:
        parts = [f[column] for f in frames]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            out[column] = pd.api.types.union_categoricals(
                [pd.Categorical(p) for p in parts], ignore_order=True
            )
        else:
            out[column] = np.concatenate([p.to_numpy() for p in parts])
    return pd.DataFrame(out)
