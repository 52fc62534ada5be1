"""Frame codes of a chunk's callchains -> the samples table.

Per sample: the frame it is charged to (the sampled location; a guest instruction
for samples inside qemu's own code; the real frame behind perf's inline expansion)
and that frame's caller, then :func:`assemble` builds the table. Shared by both
header readers of :mod:`lseprof.readers.script.own_layout`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.readers.script import textscan as ts
from lseprof.readers.script.frames import Frame, FrameTable, factorize_frames

MAX_EXAMPLES = 5


@dataclass
class ParsedScript:
    """What a `perf script` text held besides samples."""

    samples: pd.DataFrame
    stacks: list[tuple[int, ...]] = field(default_factory=list)  # FrameTable codes, leaf first
    frames: list[S.StackFrame] = field(default_factory=list)  # what stacks index
    mappings: list[S.Mapping] = field(default_factory=list)  # PERF_RECORD_MMAP lines
    trace_text: bytes = b""  # scheduler tracepoints cut out of the text (tracepoints.py)
    unknown_lines: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    lost: int = 0  # samples PERF_RECORD_LOST lines say were lost
    lost_records: int = 0  # number of PERF_RECORD_LOST lines
    header_lines: int = 0


@dataclass
class Frames:
    """Callchain lines of one chunk: owning sample, depth and code into the FrameTable."""

    sample: npt.NDArray[np.int64]  # owning sample (index into the chunk's headers)
    depth: npt.NDArray[np.int64]  # 0 = the sampled location, 1 = its caller, ...
    code: npt.NDArray[np.int64]


@dataclass
class Selected:
    """Per sample: the frame it is charged to, that frame's caller (codes, -1 for none),
    whether it was re-rooted from qemu's own code onto a guest instruction, and the
    depth of its frame in the callchain (frames above it are not its stack)."""

    leaf: npt.NDArray[np.int64]
    caller: npt.NDArray[np.int64]
    emulated: npt.NDArray[np.bool_]
    leaf_depth: npt.NDArray[np.int64]


def select_frames(n: int, frames: Frames, table: FrameTable) -> Selected:
    """Which frame each sample is charged to (see :class:`Selected`)."""
    chosen = Selected(
        np.full(n, -1, np.int64),
        np.full(n, -1, np.int64),
        np.zeros(n, np.bool_),
        np.zeros(n, np.int64),
    )
    at0 = frames.depth == 0
    chosen.leaf[frames.sample[at0]] = frames.code[at0]
    at1 = frames.depth == 1
    chosen.caller[frames.sample[at1]] = frames.code[at1]
    if table.inlined.any():
        _skip_inline_expansion(frames, table, chosen)
    if table.guest.any():
        _reroot_emulated(frames, table, chosen)
    return chosen


def _reroot_emulated(frames: Frames, table: FrameTable, chosen: Selected) -> None:
    """Emulated code: a sample inside qemu itself (a helper emulating an atomic, the
    TLB, ...) is charged to the innermost guest instruction on its stack."""
    is_guest = table.guest[frames.code]
    g_sample = frames.sample[is_guest]
    g_depth = frames.depth[is_guest]
    g_code = frames.code[is_guest]
    first_s, first_i = np.unique(g_sample, return_index=True)
    deeper = g_depth[first_i] > 0
    rerooted = first_s[deeper]
    chosen.leaf[rerooted] = g_code[first_i][deeper]
    chosen.leaf_depth[rerooted] = g_depth[first_i][deeper]
    chosen.emulated[rerooted] = True
    # Their callers: the frame just outside the guest frame, if any.
    key_frames = frames.sample * 4096 + frames.depth
    want = rerooted * 4096 + g_depth[first_i][deeper] + 1
    pos = np.searchsorted(key_frames, want)
    pos_ok = pos < key_frames.size
    hit = np.zeros(want.size, np.bool_)
    hit[pos_ok] = key_frames[pos[pos_ok]] == want[pos_ok]
    chosen.caller[rerooted] = np.where(hit, frames.code[np.minimum(pos, key_frames.size - 1)], -1)


class StackTable:
    """Distinct callchains seen so far, each a tuple of FrameTable codes from the
    sampled frame outwards; shared by every chunk of one input, like the FrameTable."""

    def __init__(self) -> None:
        self.stacks: list[tuple[int, ...]] = []
        self._index: dict[int, int] = {}

    def intern(self, key: int, stack: tuple[int, ...]) -> int:
        code = self._index.get(key)
        if code is None:
            code = self._index[key] = len(self.stacks)
            self.stacks.append(stack)
        return code

    def codes(
        self, n: int, frames: Frames, leaf_depth: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int32]:
        """Each sample's stack code (-1: no frames): its frames from its leaf on,
        fingerprinted in bulk; only new stacks become tuples, in Python."""
        out = np.full(n, -1, np.int32)
        keep = frames.depth >= leaf_depth[frames.sample]
        sample, code = frames.sample[keep], frames.code[keep]
        if sample.size == 0:
            return out
        depth = (frames.depth - leaf_depth[frames.sample])[keep]
        element = ts.mix(
            ts.mix(np.zeros(code.size, np.uint64), code.astype(np.uint64) + 1),
            depth.astype(np.uint64),
        )
        owners, first = np.unique(sample, return_index=True)
        ends = np.append(first[1:], sample.size)
        with np.errstate(over="ignore"):
            key = ts.mix(np.add.reduceat(element, first), (ends - first).astype(np.uint64))
        local, uniq = pd.factorize(key)
        ids = np.empty(len(uniq), np.int32)
        at = ts.first_occurrence(np.asarray(local, np.int64), len(uniq))
        for j, packed in enumerate(np.asarray(uniq).tolist()):
            row = int(at[j])
            stack = tuple(code[first[row] : ends[row]].tolist())
            ids[j] = self.intern(int(packed), stack)
        out[owners] = ids[np.asarray(local)]
        return out


def assemble(
    source_kind: str,
    table: FrameTable,
    leaf: npt.NDArray[np.integer[Any]],
    caller: npt.NDArray[np.integer[Any]],
    emulated: npt.NDArray[np.bool_],
    *,
    event: S.Cat,
    comm: S.Cat,
    pid: npt.NDArray[np.integer[Any]],
    tid: npt.NDArray[np.integer[Any]],
    time: npt.NDArray[np.float64],
    period: npt.NDArray[np.float64],
    stack: npt.NDArray[np.int32] | None = None,
    inline: list[Frame | None] | None = None,
) -> pd.DataFrame:
    """The samples table from frame codes (-1: no frame; one-line samples may bring
    their own frame)."""
    n = leaf.size
    if inline is not None:
        # One-line samples (no callchain): the location sits on the header line.
        for i, frame in enumerate(inline):
            if frame is not None and leaf[i] < 0:
                leaf[i] = table.add(-1 - len(table), frame)
    frames = table.frames
    # Per-frame values with one more entry at the end, for "no frame": code -1 picks it.
    f_ip = np.append(table.ip, np.uint64(0))
    f_off = np.array([*(f.symoff for f in frames), -1], dtype=np.int64)
    return S.make_samples(
        n,
        source_kind,
        event=event,
        comm=comm,
        pid=pid,
        tid=tid,
        time=time,
        period=period,
        ip=f_ip[leaf],
        symoff=f_off[leaf],
        symbol=S.from_codes(leaf, [f.symbol for f in frames], missing=S.UNKNOWN),
        dso=S.from_codes(leaf, [f.dso for f in frames], missing=S.UNKNOWN),
        caller=S.from_codes(caller, [f.caller_name() for f in frames], missing=""),
        caller_dso=S.from_codes(caller, [f.dso for f in frames], missing=""),
        caller_ip=f_ip[caller],
        emulated=emulated,
        stack=stack,
    )


def _skip_inline_expansion(frames: Frames, table: FrameTable, chosen: Selected) -> None:
    """perf prints a location's inline stack before its real frame, at the same address
    ("lll_mutex_unlock_optimized (inlined)" then "__pthread_mutex_unlock_usercnt"):
    the sample belongs to the real frame and its caller is the frame after that run.
    Only samples whose first frame is inlined need this, so a Python walk is fine."""
    inlined = table.inlined
    ip = table.ip
    first = frames.depth == 0
    rows = frames.sample[first][inlined[frames.code[first]]]
    for s in rows.tolist():
        lo = int(np.searchsorted(frames.sample, s, side="left"))
        hi = int(np.searchsorted(frames.sample, s, side="right"))
        codes = frames.code[lo:hi].tolist()
        at = 0
        while at + 1 < len(codes) and inlined[codes[at]] and ip[codes[at + 1]] == ip[codes[0]]:
            at += 1
        chosen.leaf[s] = codes[at]
        chosen.caller[s] = codes[at + 1] if at + 1 < len(codes) else -1
        chosen.leaf_depth[s] = at


def note_unknown(result: ParsedScript, line: str) -> None:
    result.unknown_lines += 1
    if len(result.unknown_examples) < MAX_EXAMPLES:
        result.unknown_examples.append(line[:200])


def clean_frames(
    codes: npt.NDArray[np.int64],
    sample: npt.NDArray[np.int64],
    result: ParsedScript,
    buf: ts.Bytes,
    f_start: ts.Ints,
    f_end: ts.Ints,
) -> Frames:
    """Frames with their owning sample and depth; unreadable lines (code -1) are
    counted as unknown and dropped. `sample` must be non-decreasing (file order)."""
    bad = codes < 0
    if bad.any():
        raw = buf.data
        for i in np.flatnonzero(bad)[:MAX_EXAMPLES].tolist():
            note_unknown(
                result, bytes(raw[int(f_start[i]) : int(f_end[i])]).decode("utf-8", "replace")
            )
        result.unknown_lines += max(int(bad.sum()) - MAX_EXAMPLES, 0)
        sample = sample[~bad]
        codes = codes[~bad]
    first = np.searchsorted(sample, sample, side="left")
    depth = np.arange(sample.size, dtype=np.int64) - first
    return Frames(sample, depth, codes)


def sample_frames(
    buf: ts.Bytes,
    starts: ts.Ints,
    ends: ts.Ints,
    is_frame: npt.NDArray[np.bool_],
    header_line: npt.NDArray[np.int64],
    table: FrameTable,
    result: ParsedScript,
) -> Frames:
    """The callchain lines of a text under their samples: each frame line belongs to the
    header line before it; frame lines before the first header are counted as unknown."""
    marks = np.zeros(starts.size, np.int64)
    marks[header_line] = 1
    line_sample = np.cumsum(marks) - 1
    frame_lines = np.flatnonzero(is_frame)
    orphan = line_sample[frame_lines] < 0
    raw = buf.data
    for line_no in frame_lines[orphan][:MAX_EXAMPLES].tolist():
        text = bytes(raw[int(starts[line_no]) : int(ends[line_no])])
        note_unknown(result, text.decode("utf-8", "replace"))
    result.unknown_lines += max(int(orphan.sum()) - MAX_EXAMPLES, 0)
    frame_lines = frame_lines[~orphan]
    f_start, f_end = starts[frame_lines], ends[frame_lines]
    codes = factorize_frames(buf, f_start, f_end, table)
    return clean_frames(codes, line_sample[frame_lines], result, buf, f_start, f_end)


def stack_frames(table: FrameTable) -> list[S.StackFrame]:
    """The table's frames as the samples table's stacks name them."""
    return [S.StackFrame(f.ip, f.caller_name(), f.symoff, f.dso) for f in table.frames]
