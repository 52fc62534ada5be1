"""`perf script` text -> the samples table (:mod:`lseprof.samples`).

Two header readers share one frame reader:

* :func:`parse_script_text` reads text made anywhere, in perf's default layout
  or with ``-F`` field choices: one header line per sample (``comm pid[/tid]
  [cpu] time: [period event:] [ip sym+off (dso)]``), then callchain frames, one
  per line, each ``\\t<16-column hex ip> <sym>[+0xoff] (<dso>)``. Headers go
  through one regex each.
* :class:`OwnScriptReader` (and :func:`parse_own_script`) reads the exact layout
  lseprof asks perf for when it runs ``perf script`` on a perf.data (see
  :mod:`lseprof.readers.perf_data`); its headers are purely numeric and are decoded for
  all lines at once. Whole sample blocks (header and callchain) repeat: only the
  distinct ones are parsed, and each sample takes its block's codes.

Frames are never parsed one by one: their addresses are decoded in bulk, the
lines are factorized by a fingerprint, and only the distinct lines (a few
thousand in a million-sample profile) are split into symbol and DSO in Python.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.readers import textscan as ts

GUEST_PREFIX = "guest-0x"  # qemu -perfmap names guest code guest-0x<guest address>
INLINED = "inlined"  # what perf prints in the DSO position of an inline-expanded frame
MAX_EXAMPLES = 5

HEADER_RE = re.compile(
    r"^\s*(?P<comm>.*?)\s*(?<![^\s])(?P<pid>-?\d+)(?:/(?P<tid>-?\d+))?"
    r"(?:\s+\[(?P<cpu>\d+)\])?"
    r"\s+(?P<time>\d+\.\d+):"
    r"(?:\s+(?P<period>\d+)(?=\s+\S+?:(?:\s|$)))?"
    r"(?:\s+(?P<event>\S+?):(?=\s|$))?"
    r"(?P<rest>.*)$"
)
# Headers of text made without the time field (`-F comm,tid,...`).
_HEADER_NO_TIME_RE = re.compile(
    r"^\s*(?P<comm>.*?)\s*(?<![^\s])(?P<pid>-?\d+)(?:/(?P<tid>-?\d+))?"
    r"(?:\s+\[(?P<cpu>\d+)\])?:?\s*$"
)
_COMM_RE = re.compile(r"PERF_RECORD_COMM(?: exec)?: (?P<comm>.*):(?P<pid>-?\d+)/(?P<tid>-?\d+)\s*$")
_FORK_RE = re.compile(r"PERF_RECORD_FORK\((?P<pid>-?\d+):(?P<tid>-?\d+)\):"
                      r"\((?P<ppid>-?\d+):(?P<ptid>-?\d+)\)")
_LOST_RE = re.compile(r"PERF_RECORD_LOST(?:_SAMPLES)?:?\s+(?:lost\s+)?(?P<n>\d+)")
_SYMOFF_RE = re.compile(r"^(?P<sym>.*?)\+0x(?P<off>[0-9a-fA-F]+)$")


@dataclass
class Frame:
    """One distinct callchain line, split into its parts."""

    ip: int
    symbol: str
    symoff: int
    dso: str
    inlined: bool = False  # perf's "sym+off (inlined)": an inline expansion, no DSO

    def caller_name(self) -> str:
        return f"{self.symbol} (inlined)" if self.inlined else self.symbol


@dataclass
class ParsedScript:
    """What a `perf script` text held besides samples."""

    samples: pd.DataFrame
    unknown_lines: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    lost: int = 0  # samples PERF_RECORD_LOST lines say were lost
    lost_records: int = 0  # number of PERF_RECORD_LOST lines
    header_lines: int = 0


def split_frame_text(text: str) -> tuple[str, int, str]:
    """`sym+0x1f (dso)` -> (sym, 0x1f, dso); missing parts are [unknown], -1, [unknown]."""
    text = text.strip()
    dso = S.UNKNOWN
    if text.endswith(")"):
        # The DSO is the last balanced (...) group: paths may hold "(deleted)".
        depth = 0
        for pos in range(len(text) - 1, -1, -1):
            ch = text[pos]
            if ch == ")":
                depth += 1
            elif ch == "(":
                depth -= 1
                if depth == 0:
                    if pos == 0 or text[pos - 1] == " ":
                        dso = text[pos + 1:-1]
                        text = text[:pos].rstrip()
                    break
    symoff = -1
    match = _SYMOFF_RE.match(text)
    if match:
        text, symoff = match["sym"], int(match["off"], 16)
        if symoff >= 1 << 63:
            # perf prints a negative offset as unsigned when an address falls
            # before its (JIT map) symbol; the offset is meaningless then.
            symoff = -1
    return (text or S.UNKNOWN), symoff, (dso or S.UNKNOWN)


def parse_frame_text(text: str) -> Frame | None:
    """A frame from free text: `[ip] sym[+off] (dso)`; None if it has no address."""
    stripped = text.strip()
    if not stripped:
        return None
    head, _, tail = stripped.partition(" ")
    try:
        ip = int(head, 16)
    except ValueError:
        return None
    sym, off, dso = split_frame_text(tail)
    if dso == INLINED:
        return Frame(ip, sym, off, S.UNKNOWN, inlined=True)
    return Frame(ip, sym, off, dso)


def guest_address(symbol: str) -> int | None:
    """The guest address in a qemu perf-map name (`guest-0x400aac`), else None."""
    if symbol.startswith(GUEST_PREFIX):
        try:
            return int(symbol[len(GUEST_PREFIX):], 16)
        except ValueError:
            return None
    return None


class FrameTable:
    """Distinct frames seen so far, keyed by a fingerprint of their line.

    Shared by every chunk of one input, so a frame's text is split into symbol
    and DSO once, however many chunks and samples it appears in.
    """

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._index: dict[int, int] = {}
        self._flags_size = -1
        self._guest = np.zeros(0, np.bool_)
        self._inlined = np.zeros(0, np.bool_)
        self._ip = np.zeros(0, np.uint64)

    def __len__(self) -> int:
        return len(self.frames)

    def code_of(self, key: int) -> int | None:
        return self._index.get(key)

    def add(self, key: int, frame: Frame) -> int:
        self._index[key] = len(self.frames)
        self.frames.append(frame)
        return len(self.frames) - 1

    def _refresh(self) -> None:
        if self._flags_size != len(self.frames):
            self._guest = np.array([f.symbol.startswith(GUEST_PREFIX) for f in self.frames],
                                   dtype=np.bool_)
            self._inlined = np.array([f.inlined for f in self.frames], dtype=np.bool_)
            self._ip = np.array([f.ip for f in self.frames], dtype=np.uint64)
            self._flags_size = len(self.frames)

    @property
    def guest(self) -> npt.NDArray[np.bool_]:
        self._refresh()
        return self._guest

    @property
    def inlined(self) -> npt.NDArray[np.bool_]:
        self._refresh()
        return self._inlined

    @property
    def ip(self) -> npt.NDArray[np.uint64]:
        self._refresh()
        return self._ip


@dataclass
class _Frames:
    """Callchain lines of one chunk: owning sample, depth and code into the FrameTable."""

    sample: npt.NDArray[np.int64]  # owning sample (index into the chunk's headers)
    depth: npt.NDArray[np.int64]  # 0 = the sampled location, 1 = its caller, ...
    code: npt.NDArray[np.int64]


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _frame_from_line(text: str) -> Frame | None:
    """One callchain line: perf's `\t<16-column hex ip> sym[+off] (dso)`, or freer text."""
    field = text[1:17]
    if len(text) >= 17 and (len(text) == 17 or text[17] == " ") and field.strip() and all(
            c in _HEX_DIGITS for c in field.lstrip(" ")):
        ip = int(field, 16)
        sym, off, dso = split_frame_text(text[18:]) if len(text) > 18 else (S.UNKNOWN, -1,
                                                                             S.UNKNOWN)
        if dso == INLINED:
            return Frame(ip, sym, off, S.UNKNOWN, inlined=True)
        return Frame(ip, sym, off, dso)
    return parse_frame_text(text)


def _factorize_frames(buf: ts.Bytes, starts: ts.Ints, ends: ts.Ints, table: FrameTable
                      ) -> npt.NDArray[np.int64]:
    """A FrameTable code for each tab-led callchain line; -1 for unreadable lines.

    Lines are keyed by a fingerprint of their bytes (length, first and last 24
    bytes: the address, the start of the symbol and the end of the DSO path); only
    lines whose key is new are decoded, in Python.
    """
    if starts.size == 0:
        return np.zeros(0, np.int64)
    key = ts.range_hash(buf, starts, ends, 24, 24)
    local, uniques = pd.factorize(key)
    first = ts.first_occurrence(np.asarray(local, dtype=np.int64), len(uniques))
    to_global = np.empty(len(uniques), dtype=np.int64)
    raw = buf.data
    for i, (row, packed) in enumerate(zip(first.tolist(), np.asarray(uniques).tolist(),
                                          strict=True)):
        known = table.code_of(int(packed))
        if known is not None:
            to_global[i] = known
            continue
        text = bytes(raw[int(starts[row]):int(ends[row])]).decode("utf-8", "replace")
        frame = _frame_from_line(text)
        to_global[i] = -1 if frame is None else table.add(int(packed), frame)
    return to_global[np.asarray(local)]


def _select(n: int, frames: _Frames, table: FrameTable) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Per sample: the frame it is charged to, that frame's caller, and whether it was
    re-rooted from qemu's own code onto a guest instruction."""
    leaf = np.full(n, -1, np.int64)
    caller = np.full(n, -1, np.int64)
    at0 = frames.depth == 0
    leaf[frames.sample[at0]] = frames.code[at0]
    at1 = frames.depth == 1
    caller[frames.sample[at1]] = frames.code[at1]
    if table.inlined.any():
        _skip_inline_expansion(frames, table, leaf, caller)

    # Emulated code: a sample inside qemu itself (a helper emulating an atomic,
    # the TLB, ...) is charged to the innermost guest instruction on its stack.
    emulated = np.zeros(n, np.bool_)
    if table.guest.any():
        is_guest = table.guest[frames.code]
        g_sample = frames.sample[is_guest]
        g_depth = frames.depth[is_guest]
        g_code = frames.code[is_guest]
        first_s, first_i = np.unique(g_sample, return_index=True)
        deeper = g_depth[first_i] > 0
        rerooted = first_s[deeper]
        leaf[rerooted] = g_code[first_i][deeper]
        emulated[rerooted] = True
        # Their callers: the frame just outside the guest frame, if any.
        key_frames = frames.sample * 4096 + frames.depth
        want = rerooted * 4096 + g_depth[first_i][deeper] + 1
        pos = np.searchsorted(key_frames, want)
        pos_ok = pos < key_frames.size
        hit = np.zeros(want.size, np.bool_)
        hit[pos_ok] = key_frames[pos[pos_ok]] == want[pos_ok]
        caller[rerooted] = np.where(hit, frames.code[np.minimum(pos, key_frames.size - 1)], -1)
    return leaf, caller, emulated


def _assemble(source_kind: str, table: FrameTable, leaf: npt.NDArray[np.integer[Any]],
              caller: npt.NDArray[np.integer[Any]], emulated: npt.NDArray[np.bool_], *,
              event: S.Cat, comm: S.Cat, pid: npt.NDArray[np.integer[Any]],
              tid: npt.NDArray[np.integer[Any]], time: npt.NDArray[np.float64],
              period: npt.NDArray[np.float64], inline: list[Frame | None] | None = None
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
        n, source_kind,
        event=event, comm=comm, pid=pid, tid=tid, time=time, period=period,
        ip=f_ip[leaf],
        symoff=f_off[leaf],
        symbol=S.from_codes(leaf, [f.symbol for f in frames], missing=S.UNKNOWN),
        dso=S.from_codes(leaf, [f.dso for f in frames], missing=S.UNKNOWN),
        caller=S.from_codes(caller, [f.caller_name() for f in frames], missing=""),
        caller_dso=S.from_codes(caller, [f.dso for f in frames], missing=""),
        caller_ip=f_ip[caller],
        emulated=emulated,
    )


def _skip_inline_expansion(frames: _Frames, table: FrameTable, leaf: npt.NDArray[np.int64],
                           caller: npt.NDArray[np.int64]) -> None:
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
        leaf[s] = codes[at]
        caller[s] = codes[at + 1] if at + 1 < len(codes) else -1


def _note_unknown(result: ParsedScript, line: str) -> None:
    result.unknown_lines += 1
    if len(result.unknown_examples) < MAX_EXAMPLES:
        result.unknown_examples.append(line[:200])


def _kinds(buf: ts.Bytes, starts: ts.Ints, ends: ts.Ints) -> tuple[
        npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    blank = starts == ends
    first = np.where(blank, ts.NL, buf[np.minimum(starts, max(buf.size - 1, 0))]) if buf.size \
        else np.zeros(0, np.uint8)
    return blank, (first == ts.TAB) & ~blank


def parse_script_text(data: bytes, source_kind: str = "perf-script") -> ParsedScript:
    """Any `perf script` text (default layout or `-F` fields, with or without callchains)."""
    buf = ts.as_bytes(data)
    starts, ends = ts.line_bounds(buf)
    blank, is_frame = _kinds(buf, starts, ends)
    other = np.flatnonzero(~blank & ~is_frame)
    result = ParsedScript(S.empty_samples(source_kind))

    comm: list[str] = []
    pid: list[int] = []
    tid: list[int] = []
    time: list[float] = []
    period: list[float] = []
    event: list[str] = []
    inline: list[Frame | None] = []
    header_line: list[int] = []
    raw = buf.data
    for line_no in other.tolist():
        text = bytes(raw[int(starts[line_no]):int(ends[line_no])]).decode("utf-8", "replace")
        if "PERF_RECORD_" in text:
            lost = _LOST_RE.search(text)
            if lost:
                result.lost += int(lost["n"])
                result.lost_records += 1
            continue
        match = HEADER_RE.match(text) or _HEADER_NO_TIME_RE.match(text)
        if match is None or text.lstrip().startswith("#"):
            _note_unknown(result, text)
            continue
        groups = match.groupdict()
        header_line.append(line_no)
        comm.append(groups["comm"] or "")
        p = int(groups["pid"])
        pid.append(p if groups["tid"] else -1)
        tid.append(int(groups["tid"]) if groups["tid"] else p)
        time.append(float(groups["time"]) if groups.get("time") else np.nan)
        period.append(float(groups["period"]) if groups.get("period") else np.nan)
        event.append(groups.get("event") or "")
        rest = groups.get("rest") or ""
        inline.append(parse_frame_text(rest) if rest.strip() else None)

    n = len(header_line)
    result.header_lines = n
    frame_lines = np.flatnonzero(is_frame)
    line_sample = np.full(starts.size, -1, np.int64)
    if n:
        marks = np.zeros(starts.size, np.int64)
        marks[np.array(header_line, dtype=np.int64)] = 1
        line_sample = np.cumsum(marks) - 1
    orphan = line_sample[frame_lines] < 0 if frame_lines.size else np.zeros(0, np.bool_)
    for line_no in frame_lines[orphan][:MAX_EXAMPLES].tolist():
        _note_unknown(result, bytes(raw[int(starts[line_no]):int(ends[line_no])]).decode(
            "utf-8", "replace"))
    result.unknown_lines += max(int(orphan.sum()) - MAX_EXAMPLES, 0)
    frame_lines = frame_lines[~orphan]
    table = FrameTable()
    codes = _factorize_frames(buf, starts[frame_lines], ends[frame_lines], table)
    frames = _clean_frames(codes, line_sample[frame_lines], result, buf,
                           starts[frame_lines], ends[frame_lines])
    if n == 0:
        return result
    leaf, caller, emulated = _select(n, frames, table)
    # Text without an event field still forms one section.
    result.samples = _assemble(
        source_kind, table, leaf, caller, emulated,
        event=pd.Categorical([e or "" for e in event]), comm=pd.Categorical(comm),
        pid=np.array(pid, np.int64), tid=np.array(tid, np.int64),
        time=np.array(time, np.float64), period=np.array(period, np.float64), inline=inline)
    return result


def _clean_frames(codes: npt.NDArray[np.int64], sample: npt.NDArray[np.int64],
                  result: ParsedScript, buf: ts.Bytes, f_start: ts.Ints, f_end: ts.Ints
                  ) -> _Frames:
    """Frames with their owning sample and depth; unreadable lines (code -1) are
    counted as unknown and dropped. `sample` must be non-decreasing (file order)."""
    bad = codes < 0
    if bad.any():
        raw = buf.data
        for i in np.flatnonzero(bad)[:MAX_EXAMPLES].tolist():
            _note_unknown(result, bytes(raw[int(f_start[i]):int(f_end[i])]).decode(
                "utf-8", "replace"))
        result.unknown_lines += max(int(bad.sum()) - MAX_EXAMPLES, 0)
        sample = sample[~bad]
        codes = codes[~bad]
    first = np.searchsorted(sample, sample, side="left")
    depth = np.arange(sample.size, dtype=np.int64) - first
    return _Frames(sample, depth, codes)


# ---------------------------------------------------------------------------
# lseprof's own layout: `perf script -F pid,tid,event,period,ip,sym,dso`
# with --show-task-events; headers look like " 6276/6276      50000 cpu-clock: ".

def _own_headers(buf: ts.Bytes, starts: ts.Ints, ends: ts.Ints, with_event: bool = True
                 ) -> dict[str, npt.NDArray[Any]]:
    """Decode own-layout sample headers in bulk: " tid  period event: ", or without the
    event (`with_event` False), or with "pid/tid" in front (pid -1 where not printed).

    One pass over the header columns with a small state machine per row (leading
    spaces, a number, optionally '/' and a second one, spaces, the period, then the
    event name up to the final ": "), each step a numpy operation over all rows;
    event names are factorized by a fingerprint and decoded once each. Raises
    ValueError if any row does not fit, for the per-line fallback.
    """
    n = starts.size
    # One column more than the longest line: every period is followed by a space.
    width = int(min(int((ends - starts).max()) + 1, 64))
    block = ts.gather(buf, starts, ends, width, pad=ts.SPACE)
    first = np.zeros(n, np.int64)
    second = np.zeros(n, np.int64)
    period = np.zeros(n, np.int64)
    stage = np.zeros(n, np.int8)  # 0 first number, 1 after '/', 2 gap, 3 period, 4 event
    started = np.zeros(n, np.bool_)  # a digit of the first number was seen
    slash = np.zeros(n, np.bool_)
    minus = np.zeros(n, np.bool_)  # a negative pid or tid: left to the per-line reader
    event_at = np.full(n, -1, np.int64)
    for col in range(width):
        c = block[:, col]
        digit = c.astype(np.int64) - 48
        is_digit = (digit >= 0) & (digit <= 9)
        s0, s1, s2, s3 = stage == 0, stage == 1, stage == 2, stage == 3
        first = np.where(s0 & is_digit, first * 10 + digit, first)
        started |= s0 & is_digit
        minus |= (s0 | s1) & (c == ord("-"))
        second = np.where(s1 & is_digit, second * 10 + digit, second)
        period = np.where((s2 | s3) & is_digit, period * 10 + digit, period)
        is_slash = s0 & (c == ord("/"))
        slash |= is_slash
        stage[is_slash] = 1
        # The first number ends at a space (after its leading spaces), the second at any
        # non-digit.
        stage[s0 & (c == ts.SPACE) & started] = 2
        stage[s1 & ~is_digit] = 2
        stage[s2 & is_digit] = 3
        ended = s3 & ~is_digit
        event_at[ended] = col + 1
        stage[ended] = 4
        if col > 16 and (stage == 4).all():
            break
    if not (stage == 4).all() or minus.any():
        raise ValueError("not the own header layout")
    out: dict[str, npt.NDArray[Any]] = {
        "pid": np.where(slash, first, -1), "tid": np.where(slash, second, first),
        "period": period.astype(np.float64)}
    if not with_event:
        return out
    # perf right-aligns event names to a common width: skip that padding too.
    event_start = starts + np.maximum(event_at, 0)
    line = block[np.arange(n), np.clip(event_at, 0, width - 1)]
    while (moved := (line == ts.SPACE) & (event_start < ends)).any():
        event_start = event_start + moved
        line = buf[np.minimum(event_start, buf.size - 1)]
    event_end = ends - 2  # lines end with ": "
    tail = buf[np.clip(event_end, 0, buf.size - 1)]
    if not ((event_end > event_start).all() and (tail == ord(":")).all()):
        raise ValueError("not the own header layout")
    key = ts.range_hash(buf, event_start, event_end, 32, 32)
    codes, uniques = pd.factorize(key)
    where = ts.first_occurrence(np.asarray(codes, np.int64), len(uniques))
    raw = buf.data
    names = [bytes(raw[int(event_start[i]):int(event_end[i])]).decode("utf-8", "replace")
             for i in where.tolist()]
    out["event_codes"] = np.asarray(codes, np.int64)
    out["event_names"] = np.array(names, dtype=object)
    return out


@dataclass
class TaskEvents:
    """COMM and FORK records in stream (time) order: which command each thread ran,
    and the process of every thread they name."""

    # ("comm", tid, name) or ("fork", child tid, parent tid as text)
    records: list[tuple[str, int, str]] = field(default_factory=list)
    pids: dict[int, int] = field(default_factory=dict)  # tid -> pid


@dataclass
class ScriptParts:
    """One reader's samples as compact per-sample codes: cheap to send between
    processes (one per time slice) and to merge (:func:`merge_parts`).

    ``columns``: ``leaf``/``caller`` (int32 index into ``frames``, -1 for none),
    ``emulated`` (bool), ``event`` (int16 index into ``events``), ``pid``/``tid``
    (int32) and ``period`` (float64), one entry per sample in file order.
    """

    frames: list[Frame]
    events: list[str]
    columns: dict[str, npt.NDArray[Any]]
    tasks: TaskEvents
    lost: int = 0  # samples the PERF_RECORD_LOST lines say were lost
    lost_records: int = 0  # number of PERF_RECORD_LOST lines
    unknown_lines: int = 0
    unknown_examples: list[str] = field(default_factory=list)


_PART_COLUMNS: dict[str, type[np.generic]] = {
    "leaf": np.int32, "caller": np.int32, "emulated": np.bool_, "event": np.int16,
    "pid": np.int32, "tid": np.int32, "period": np.float64}
# Sample blocks are deduplicated while at most this share of a chunk's blocks is
# distinct (the period repeats for clock events and for `-c N`; with `-F FREQ` on
# hardware events it changes from sample to sample and every block is new).
DEDUP_MAX_SHARE = 0.5
DEDUP_MAX_BLOCKS = 200_000  # distinct blocks remembered per reader (bounded memory)
DEDUP_RETRY_CHUNKS = 8  # chunks read directly after one with too many distinct blocks


class OwnScriptReader:
    """Reads ``perf script -F OWN_FIELDS --show-task-events --show-lost-events`` output
    (:data:`lseprof.readers.perf_data.OWN_FIELDS`, a perf.data recorded with callchains) chunk
    by chunk, as perf writes it.

    Each chunk is cut at a sample boundary (a blank line). Task and lost records
    are taken out line by line (they are rare). The rest is a run of sample blocks
    (header line and callchain lines), and a million-sample profile holds only a
    few thousand distinct blocks: each chunk's blocks are looked up in a dict of
    blocks already seen, only new ones are parsed (in bulk, as one text), and every
    sample gets its block's codes. Where blocks hardly repeat (a period that
    changes with every sample), the chunk is parsed in bulk as it is. Only compact
    per-sample codes are kept, so memory stays bounded by the chunk size rather
    than the size of the text, and parsing overlaps perf's output.
    """

    def __init__(self, source_kind: str = "perf-data", event: str | None = None) -> None:
        self.source_kind = source_kind
        self.event = event  # headers carry no event name: every sample is this event
        self.table = FrameTable()
        self.tasks = TaskEvents()
        self.result = ParsedScript(S.empty_samples(source_kind))
        self._events: dict[str, int] = {}
        self._parts: list[dict[str, npt.NDArray[Any]]] = []
        self._carry = b""
        self._seen: dict[bytes, int] = {}  # sample block -> row of the block table
        self._block_parts: list[dict[str, npt.NDArray[Any]]] = []
        self._blocks: dict[str, npt.NDArray[Any]] | None = None
        self._direct = 0  # chunks left to parse without deduplication

    def feed(self, data: bytes, final: bool = False) -> None:
        """Add text; with `final`, the text ends here (parse what is left)."""
        if self._carry:
            data = self._carry + data
        used = self.consume(data, final)
        self._carry = data[used:]

    def consume(self, data: bytes, final: bool = False) -> int:
        """Parse the whole sample blocks at the start of `data` (all of it if `final`)
        and return how many bytes that was; the caller passes the rest again later.

        Nothing is copied: blocks are parsed in place up to the last blank line.
        """
        end = len(data) if final else data.rfind(b"\n\n") + 2
        if end <= 1:
            return 0
        self._parse_chunk(data, end, final)
        return end

    def finish_parts(self) -> ScriptParts:
        """Everything read, as compact codes (see :class:`ScriptParts`)."""
        if self._carry:
            self.feed(b"", final=True)
        columns = {k: (np.concatenate([p[k] for p in self._parts]) if self._parts
                       else np.zeros(0, dtype)) for k, dtype in _PART_COLUMNS.items()}
        events = sorted(self._events, key=lambda e: self._events[e])
        return ScriptParts(list(self.table.frames), events, columns, self.tasks,
                           lost=self.result.lost, lost_records=self.result.lost_records,
                           unknown_lines=self.result.unknown_lines,
                           unknown_examples=list(self.result.unknown_examples))

    def finish(self) -> ParsedScript:
        return merge_parts([self.finish_parts()], self.source_kind)

    def _parse_chunk(self, data: bytes, end: int, final: bool) -> None:
        """Parse data[:end], which ends at a block boundary unless `final`."""
        data, end = self._take_records(data, end)
        if self._direct > 0 or len(self._seen) >= DEDUP_MAX_BLOCKS:
            self._direct -= 1
            self._parse_direct(data, end)
            return
        blocks = data.split(b"\n\n")
        # The last piece is what follows data[:end] (or "" after a final blank line).
        if not final or (blocks and not blocks[-1]):
            blocks.pop()
        if not blocks:
            return
        # One dict lookup per block, looped in C (map with a default of -1); only the
        # blocks not seen before go through Python.
        seen = self._seen
        rows = np.fromiter(map(seen.get, blocks, itertools.repeat(-1)), np.int64, len(blocks))
        missing = np.flatnonzero(rows < 0)
        if missing.size:
            new = list(dict.fromkeys(blocks[i] for i in missing.tolist()))
            if (len(new) > DEDUP_MAX_SHARE * len(blocks) and len(blocks) > 64) or \
                    not self._add_blocks(new):
                self._direct = DEDUP_RETRY_CHUNKS
                self._parse_direct(data, end)
                return
            rows[missing] = [seen[blocks[i]] for i in missing.tolist()]
        table = self._block_table()
        self._parts.append({k: v[rows] for k, v in table.items()})

    def _add_blocks(self, new: list[bytes]) -> bool:
        """Parse blocks not seen before; False if they are not one sample each."""
        scratch = ParsedScript(self.result.samples)
        text = b"\n\n".join(new) + b"\n\n"
        got = self._parse_text(text, len(text), scratch)
        if got is None or scratch.unknown_lines:
            return False
        columns, header_starts = got
        sizes = np.fromiter((len(b) + 2 for b in new), np.int64, len(new))
        block_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        if not np.array_equal(header_starts, block_starts):
            return False
        self._seen.update(zip(new, range(len(self._seen), len(self._seen) + len(new)),
                              strict=True))
        self._block_parts.append(columns)
        self._blocks = None
        return True

    def _block_table(self) -> dict[str, npt.NDArray[Any]]:
        if self._blocks is None:
            self._blocks = {k: np.concatenate([p[k] for p in self._block_parts])
                            for k in _PART_COLUMNS}
        return self._blocks

    def _parse_direct(self, data: bytes, end: int) -> None:
        got = self._parse_text(data, end, self.result)
        if got is not None:
            self._parts.append(got[0])

    def _take_records(self, data: bytes, end: int) -> tuple[bytes, int]:
        """Read the task and lost records ("... PERF_RECORD_COMM ...") in data[:end]
        and cut them out (they are rare, so a copy is fine)."""
        pos = data.find(b"PERF_RECORD_", 0, end)
        if pos < 0:
            return data, end
        view = memoryview(data)  # pieces without copies; the join copies once
        pieces = []
        last = 0
        while pos >= 0:
            start = data.rfind(b"\n", 0, pos) + 1
            stop = data.find(b"\n", pos, end)
            stop = end if stop < 0 else stop + 1
            if data[start:start + 1] != b"\t":  # a callchain line is never a record
                _task_line(data[start:stop].rstrip(b"\n").decode("utf-8", "replace"),
                           self.tasks, self.result)
                pieces.append(view[last:start])
                last = stop
            pos = data.find(b"PERF_RECORD_", stop, end)
        pieces.append(view[last:end])
        text = b"".join(pieces)
        return text, len(text)

    def _parse_text(self, data: bytes, end: int, result: ParsedScript) -> tuple[
            dict[str, npt.NDArray[Any]], ts.Ints] | None:
        """The sample blocks in data[:end] in bulk: per-sample codes and where each
        header line starts."""
        buf = ts.as_bytes(data)[:end]
        starts, ends = ts.line_bounds(buf)
        blank, is_frame = _kinds(buf, starts, ends)
        header_line = np.flatnonzero(~blank & ~is_frame)
        n = header_line.size
        if n == 0:
            return None
        raw = buf.data
        h_start, h_end = starts[header_line], ends[header_line]
        with_event = self.event is None
        try:
            hdr = _own_headers(buf, h_start, h_end, with_event)
        except ValueError:
            # Not quite the layout asked for (an odd event name?): one regex per line.
            hdr, keep = _own_headers_slowly(raw, h_start, h_end, result, with_event)
            if not keep.all():
                header_line = header_line[keep]
                n = header_line.size
                if n == 0:
                    return None
        marks = np.zeros(starts.size, np.int32)
        marks[header_line] = 1
        line_sample = np.cumsum(marks, dtype=np.int64) - 1
        frame_lines = np.flatnonzero(is_frame)
        orphan = line_sample[frame_lines] < 0
        if orphan.any():
            for line_no in frame_lines[orphan][:MAX_EXAMPLES].tolist():
                _note_unknown(result, bytes(raw[int(starts[line_no]):int(ends[line_no])])
                              .decode("utf-8", "replace"))
            result.unknown_lines += max(int(orphan.sum()) - MAX_EXAMPLES, 0)
        frame_lines = frame_lines[~orphan]
        f_start, f_end = starts[frame_lines], ends[frame_lines]
        codes = _factorize_frames(buf, f_start, f_end, self.table)
        frames = _clean_frames(codes, line_sample[frame_lines], result, buf, f_start, f_end)
        leaf, caller, emulated = _select(n, frames, self.table)
        if with_event:
            ev_map = np.array([self._events.setdefault(str(e), len(self._events))
                               for e in hdr["event_names"].tolist()], dtype=np.int16)
            event = ev_map[hdr["event_codes"]]
        else:
            event = np.full(n, self._events.setdefault(str(self.event), 0), np.int16)
        columns = {
            "leaf": leaf.astype(np.int32), "caller": caller.astype(np.int32),
            "emulated": emulated, "event": event,
            "pid": hdr["pid"].astype(np.int32), "tid": hdr["tid"].astype(np.int32),
            "period": hdr["period"].astype(np.float64),
        }
        return columns, starts[header_line]


def merge_parts(parts: list[ScriptParts], source_kind: str = "perf-data") -> ParsedScript:
    """One samples table from the parts of several readers (time slices, in order).

    Frames and events are matched by value across parts; ``comm`` is left empty
    (see :func:`apply_comms`) and task records are not merged (every slice of a
    perf.data repeats them).
    """
    table = FrameTable()
    frame_code: dict[tuple[int, str, int, str, bool], int] = {}
    event_code: dict[str, int] = {}
    columns: dict[str, list[npt.NDArray[Any]]] = {k: [] for k in _PART_COLUMNS}
    result = ParsedScript(S.empty_samples(source_kind))
    for part in parts:
        # A trailing -1 entry: code -1 ("no frame") indexes it and stays -1.
        remap = np.full(len(part.frames) + 1, -1, np.int32)
        for i, f in enumerate(part.frames):
            key = (f.ip, f.symbol, f.symoff, f.dso, f.inlined)
            code = frame_code.get(key)
            if code is None:
                code = frame_code[key] = len(table.frames)
                table.frames.append(f)
            remap[i] = code
        ev_remap = np.array([event_code.setdefault(e, len(event_code)) for e in part.events]
                            or [0], dtype=np.int16)
        cols = part.columns
        columns["leaf"].append(remap[cols["leaf"]])
        columns["caller"].append(remap[cols["caller"]])
        columns["event"].append(ev_remap[cols["event"]])
        for k in ("emulated", "pid", "tid", "period"):
            columns[k].append(cols[k])
        result.unknown_lines += part.unknown_lines
        result.unknown_examples.extend(part.unknown_examples)
        result.lost += part.lost
        result.lost_records += part.lost_records
    del result.unknown_examples[MAX_EXAMPLES:]
    # pid and tid straight into the table's int64 (one pass, not a concatenation and a cast).
    cat: dict[str, npt.NDArray[Any]] = {}
    for k, v in columns.items():
        dtype = np.int64 if k in ("pid", "tid") else _PART_COLUMNS[k]
        cat[k] = v[0] if len(v) == 1 and v[0].dtype == dtype else np.concatenate(
            v, dtype=dtype) if v else np.zeros(0, dtype)
    n = int(cat["leaf"].size)
    result.header_lines = n
    if n == 0:
        return result
    result.samples = _assemble(
        source_kind, table, cat["leaf"], cat["caller"], cat["emulated"],
        event=S.from_codes(cat["event"], list(event_code)), comm=_placeholder_comm(n),
        pid=cat["pid"], tid=cat["tid"], time=np.full(n, np.nan), period=cat["period"])
    return result


_OWN_HEADER_RE = re.compile(r"^\s*(-?\d+)(?:/(-?\d+))?\s+(\d+)(?:\s+(\S.*?):)?\s*$")


def _own_headers_slowly(raw: memoryview, starts: ts.Ints, ends: ts.Ints, result: ParsedScript,
                        with_event: bool = True) -> tuple[dict[str, npt.NDArray[Any]],
                                                          npt.NDArray[np.bool_]]:
    pid: list[int] = []
    tid: list[int] = []
    period: list[float] = []
    events: list[str] = []
    keep = np.zeros(starts.size, np.bool_)
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        text = bytes(raw[s:e]).decode("utf-8", "replace")
        match = _OWN_HEADER_RE.match(text)
        if match is None or (match[4] is not None) != with_event:
            _note_unknown(result, text)
            continue
        keep[i] = True
        pid.append(int(match[1]) if match[2] is not None else -1)
        tid.append(int(match[2] if match[2] is not None else match[1]))
        period.append(float(match[3]))
        events.append((match[4] or "").strip())
    codes, names = pd.factorize(np.array(events, dtype=object))
    return {"pid": np.array(pid, np.int64), "tid": np.array(tid, np.int64),
            "period": np.array(period, np.float64),
            "event_codes": np.asarray(codes, np.int64),
            "event_names": np.asarray(names, dtype=object)}, keep


def parse_own_script(data: bytes, tasks: TaskEvents, source_kind: str = "perf-data"
                     ) -> ParsedScript:
    """All of an own-layout text at once (see :class:`OwnScriptReader`)."""
    reader = OwnScriptReader(source_kind)
    reader.feed(data, final=True)
    result = reader.finish()
    tasks.records.extend(reader.tasks.records)
    return result


def _placeholder_comm(n: int) -> S.Cat:
    return S.constant(n, "")


def _task_line(text: str, tasks: TaskEvents, result: ParsedScript) -> None:
    if "PERF_RECORD_" not in text:
        _note_unknown(result, text)
        return
    if (m := _COMM_RE.search(text)) is not None:
        tasks.records.append(("comm", int(m["tid"]), m["comm"]))
        tasks.pids[int(m["tid"])] = int(m["pid"])
    elif (m := _FORK_RE.search(text)) is not None:
        tasks.records.append(("fork", int(m["tid"]), m["ptid"]))
        tasks.pids[int(m["tid"])] = int(m["pid"])
    elif (m := _LOST_RE.search(text)) is not None:
        result.lost += int(m["n"])
        result.lost_records += 1


def apply_comms(frame: pd.DataFrame, tasks: TaskEvents) -> None:
    """Fill `comm` from COMM/FORK records: a thread inherits its parent's command at
    fork and exec renames it. Samples carry no timestamp here, so each thread gets
    the last command it had (the one after exec, which is where nearly all samples
    fall). A missing pid (-1) is filled from the same records."""
    current: dict[int, str] = {}
    for kind, tid, value in tasks.records:
        current[tid] = value if kind == "comm" else current.get(int(value), "")
    if frame.empty:
        return
    codes, uniq = S.small_int_codes(frame["tid"].to_numpy())
    tids = uniq.tolist()
    frame["comm"] = S.from_codes(np.asarray(codes), [current.get(int(t), "") for t in tids])
    pid = frame["pid"].to_numpy()
    if (pid < 0).any():
        # perf was not asked for the pid (see lseprof.readers.perf_data): the records name it.
        known = np.array([tasks.pids.get(int(t), -1) for t in tids], np.int64)
        frame["pid"] = np.where(pid < 0, known[np.asarray(codes)], pid)
