"""The samples table: what every input format is turned into.

Parsers (perf script text, perf report text, perf.data through ``perf script``)
produce one pandas DataFrame with the columns below; symbolization, classification
and aggregation read and extend it, and never look at the original text again.

Schema (one row per sample, or per report row for ``perf report`` text):

==============  ==========  =================================================================
column          dtype       meaning
==============  ==========  =================================================================
event           category    event name (``cpu-clock``, ``cycles:u``); one section per event
comm            category    command name of the thread; "" where the input has none
pid, tid        int64       process and thread id; -1 where unknown
time            float64     timestamp in seconds; NaN where unknown
ip              uint64      sample address as perf printed it: the DSO-relative address in
                            callchain frames, the runtime address on one-line samples, the
                            guest virtual address for emulated (``guest-0x...``) code once
                            symbolized; 0 where unknown
symbol          category    function name; ``[unknown]`` where nobody could name it,
                            ``[qemu-jit]`` for qemu's code between translated blocks
symoff          int64       offset of ``ip`` into ``symbol``; -1 where unknown
dso             category    shared object (path, ``[kernel.kallsyms]``, ``[unknown]``,
                            ``[qemu-jit]``)
period          float64     the sample's period (event count it stands for); NaN if not given
weight          float64     what shares are computed from: ``period`` when every sample of
                            the event has one, else 1 per sample; for ``perf report`` rows
                            the row's percentage (``Self`` or ``Overhead``)
caller          category    immediate caller's function name; "" where there is no callchain
caller_dso      category    the caller's DSO; "" where unknown
caller_ip       uint64      the caller frame's address (as ``ip``); 0 where unknown
emulated        bool        the sample hit the emulator (qemu) on behalf of the guest
                            instruction in ``ip``; its host frames were dropped
precise         bool        ``ip`` is the instruction that was running (emulated guest code);
                            otherwise, as with any interrupt-driven sampling, it may be the
                            instruction after the one that took the time (skid)
truncated       bool        the symbol column was cut short by ``perf report -w``
source_kind     category    ``perf-data``, ``perf-script`` or ``perf-report``
==============  ==========  =================================================================

Classification adds ``category`` (one of :data:`CATEGORIES`), ``helper_op``,
``helper_size``, ``helper_order`` (outline-atomic helpers), ``insn`` (the decoded
atomic mnemonic where known) and ``helper_path`` (``lse``, ``llsc``, ``flag`` or
"" where unknown: which path of an outline helper the sample was on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

Cat: TypeAlias = "pd.Categorical[Any]"

UNKNOWN = "[unknown]"
# qemu's generated code between translated blocks (no perf-map entry): qemu's own time.
QEMU_JIT = "[qemu-jit]"
SOURCE_KINDS = ("perf-data", "perf-script", "perf-report")
CATEGORIES = ("atomic_helper", "inline_atomic", "lock", "futex", "spin", "work")

COLUMNS = (
    "event",
    "comm",
    "pid",
    "tid",
    "time",
    "ip",
    "symbol",
    "symoff",
    "dso",
    "period",
    "weight",
    "caller",
    "caller_dso",
    "caller_ip",
    "emulated",
    "precise",
    "truncated",
    "source_kind",
)
CATEGORY_COLUMNS = ("event", "comm", "symbol", "dso", "caller", "caller_dso", "source_kind")


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
    # A perf.data without callchains: every `ip` is a runtime address, which
    # symbolization moves into an ELF through the recorded mmaps (lseprof.readers.mmaps).
    runtime_ips: bool = False
    warnings: list[str] = field(default_factory=list)


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
