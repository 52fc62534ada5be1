"""`perf script` text -> the samples table (:mod:`profiler.samples`).

Two header readers share one frame reader:

* :func:`parse_script_text` reads text made anywhere, in perf's default layout
  or with ``-F`` field choices: one header line per sample (``comm pid[/tid]
  [cpu] time: [period event:] [ip sym+off (dso)]``), then callchain frames, one
  per line, each ``\\t<16-column hex ip> <sym>[+0xoff] (<dso>)``. Headers go
  through one regex each.
* :func:`parse_own_script` reads the exact layout lseprof asks perf for when it
  runs ``perf script`` on a perf.data (see :mod:`profiler.perf_data`); its
  headers are purely numeric and are decoded for all lines at once.

Frames are never parsed one by one: their addresses are decoded in bulk, the
lines are factorized by a fingerprint, and only the distinct lines (a few
thousand in a million-sample profile) are split into symbol and DSO in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from profiler import samples as S
from profiler import textscan as ts

GUEST_PREFIX = "guest-0x"  # qemu -perfmap names guest code guest-0x<guest address>
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
_TIME_RE = re.compile(r"(\d+\.\d+):")
_SYMOFF_RE = re.compile(r"^(?P<sym>.*?)\+0x(?P<off>[0-9a-fA-F]+)$")


@dataclass
class Frame:
    """One distinct callchain line, split into its parts."""

    ip: int
    symbol: str
    symoff: int
    dso: str


@dataclass
class ParsedScript:
    """What a `perf script` text held besides samples."""

    samples: pd.DataFrame
    unknown_lines: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    lost: int = 0
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
    return Frame(ip, sym, off, dso)


def guest_address(symbol: str) -> int | None:
    """The guest address in a qemu perf-map name (`guest-0x400aac`), else None."""
    if symbol.startswith(GUEST_PREFIX):
        try:
            return int(symbol[len(GUEST_PREFIX):], 16)
        except ValueError:
            return None
    return None


@dataclass
class _Frames:
    """Frame lines of one buffer, factorized: per line a code into `table`."""

    sample: npt.NDArray[np.int64]  # owning sample (index into headers)
    depth: npt.NDArray[np.int64]  # 0 = the sampled location, 1 = its caller, ...
    code: npt.NDArray[np.int64]
    table: list[Frame]


def _factorize_frames(buf: ts.Bytes, starts: ts.Ints, ends: ts.Ints) -> tuple[
        npt.NDArray[np.int64], list[Frame | None]]:
    """Codes and distinct parsed frames for tab-led callchain lines."""
    n = starts.size
    if n == 0:
        return np.zeros(0, np.int64), []
    ip, ok = ts.parse_hex16(buf, starts + 1)
    long_enough = (ends - starts) >= 17
    sep = np.zeros(n, np.bool_)
    sep[long_enough] = (ends[long_enough] == starts[long_enough] + 17) | (
        buf[np.minimum(starts[long_enough] + 17, buf.size - 1)] == ts.SPACE)
    ok &= long_enough & sep
    rest = np.minimum(starts + 18, ends)
    key = ts.mix(ts.range_hash(buf, rest, ends), ip)
    # Lines not in the standard layout are keyed by their whole text instead.
    key = np.where(ok, key, ts.mix(ts.range_hash(buf, starts, ends, 64), np.uint64(1)))
    codes, uniques = pd.factorize(key)
    codes = np.asarray(codes, dtype=np.int64)
    first = ts.first_occurrence(codes, len(uniques))
    table: list[Frame | None] = []
    raw = buf.data
    for row in first.tolist():
        s, e = int(starts[row]), int(ends[row])
        text = bytes(raw[s:e]).decode("utf-8", "replace")
        if ok[row]:
            sym, off, dso = split_frame_text(text[18:]) if e > s + 17 else (S.UNKNOWN, -1,
                                                                               S.UNKNOWN)
            table.append(Frame(int(ip[row]), sym, off, dso))
        else:
            table.append(parse_frame_text(text))
    return codes, table


def _assign_frames(line_sample: npt.NDArray[np.int64], frame_lines: npt.NDArray[np.int64]
                   ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Owning sample and depth for each frame line (lines are in file order)."""
    sample = line_sample[frame_lines]
    first = np.searchsorted(sample, sample, side="left")
    depth = np.arange(sample.size, dtype=np.int64) - first
    return sample, depth


def _build(n: int, source_kind: str, frames: _Frames, *, event: pd.Categorical,
           comm: pd.Categorical, pid: npt.NDArray[np.int64], tid: npt.NDArray[np.int64],
           time: npt.NDArray[np.float64], period: npt.NDArray[np.float64],
           inline: list[Frame | None] | None = None) -> pd.DataFrame:
    """Samples from their headers and frames: leaf, caller, and qemu guest re-rooting."""
    table = frames.table
    n_codes = len(table)
    f_ip = np.array([f.ip for f in table], dtype=np.uint64) if n_codes else np.zeros(0, np.uint64)
    f_off = np.array([f.symoff for f in table], dtype=np.int64) if n_codes else np.zeros(0,
                                                                                          np.int64)
    f_sym = [f.symbol for f in table]
    f_dso = [f.dso for f in table]
    f_guest = np.array([f.symbol.startswith(GUEST_PREFIX) for f in table], dtype=np.bool_)

    leaf = np.full(n, -1, np.int64)  # frame code of the sampled location
    caller = np.full(n, -1, np.int64)
    at0 = frames.depth == 0
    leaf[frames.sample[at0]] = frames.code[at0]
    at1 = frames.depth == 1
    caller[frames.sample[at1]] = frames.code[at1]

    # Emulated code: a sample inside qemu itself (a helper emulating an atomic,
    # the TLB, ...) is charged to the innermost guest instruction on its stack.
    emulated = np.zeros(n, np.bool_)
    if f_guest.any():
        is_guest = f_guest[frames.code]
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

    # One-line samples (no callchain): the location sits on the header line.
    extra_sym: list[str] = []
    extra_dso: list[str] = []
    extra_ip = np.zeros(0, np.uint64)
    extra_off = np.zeros(0, np.int64)
    if inline is not None:
        extra = [i for i, f in enumerate(inline) if f is not None and leaf[i] < 0]
        if extra:
            rows = np.array(extra, dtype=np.int64)
            base = n_codes
            leaf[rows] = base + np.arange(rows.size)
            extra_sym = [inline[i].symbol for i in extra]  # type: ignore[union-attr]
            extra_dso = [inline[i].dso for i in extra]  # type: ignore[union-attr]
            extra_ip = np.array([inline[i].ip for i in extra], dtype=np.uint64)  # type: ignore[union-attr]
            extra_off = np.array([inline[i].symoff for i in extra], dtype=np.int64)  # type: ignore[union-attr]

    all_sym = [*f_sym, *extra_sym, S.UNKNOWN]
    all_dso = [*f_dso, *extra_dso, S.UNKNOWN]
    all_ip = np.concatenate([f_ip, extra_ip, np.zeros(1, np.uint64)])
    all_off = np.concatenate([f_off, extra_off, np.full(1, -1, np.int64)])
    missing = len(all_sym) - 1
    leaf_idx = np.where(leaf >= 0, leaf, missing)
    caller_names = [*f_sym, ""]
    caller_dsos = [*f_dso, ""]
    caller_idx = np.where(caller >= 0, caller, len(caller_names) - 1)
    return S.make_samples(
        n, source_kind,
        event=event, comm=comm, pid=pid, tid=tid, time=time, period=period,
        ip=all_ip[leaf_idx], symoff=all_off[leaf_idx],
        symbol=S.from_codes(leaf_idx, all_sym), dso=S.from_codes(leaf_idx, all_dso),
        caller=S.from_codes(caller_idx, caller_names),
        caller_dso=S.from_codes(caller_idx, caller_dsos),
        caller_ip=np.concatenate([f_ip, np.zeros(1, np.uint64)])[caller_idx],
        emulated=emulated,
    )


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
    codes, table = _factorize_frames(buf, starts[frame_lines], ends[frame_lines])
    frames = _clean_frames(codes, table, line_sample, frame_lines, result, buf, starts, ends)
    if n == 0:
        return result
    events = [e or "" for e in event]
    # Text without an event field still forms one section.
    result.samples = _build(
        n, source_kind, frames,
        event=pd.Categorical(events), comm=pd.Categorical(comm),
        pid=np.array(pid, np.int64), tid=np.array(tid, np.int64),
        time=np.array(time, np.float64), period=np.array(period, np.float64), inline=inline)
    return result


def _clean_frames(codes: npt.NDArray[np.int64], table: list[Frame | None],
                  line_sample: npt.NDArray[np.int64], frame_lines: npt.NDArray[np.int64],
                  result: ParsedScript, buf: ts.Bytes, starts: ts.Ints, ends: ts.Ints) -> _Frames:
    """Drop frame lines that could not be read (counted as unknown lines)."""
    bad_codes = np.array([f is None for f in table], dtype=np.bool_)
    if bad_codes.any():
        bad = bad_codes[codes]
        raw = buf.data
        for line_no in frame_lines[bad][:MAX_EXAMPLES].tolist():
            _note_unknown(result, bytes(raw[int(starts[line_no]):int(ends[line_no])]).decode(
                "utf-8", "replace"))
        result.unknown_lines += max(int(bad.sum()) - MAX_EXAMPLES, 0)
        frame_lines = frame_lines[~bad]
        codes = codes[~bad]
    clean = [f if f is not None else Frame(0, S.UNKNOWN, -1, S.UNKNOWN) for f in table]
    sample, depth = _assign_frames(line_sample, frame_lines)
    return _Frames(sample, depth, codes, clean)


# ---------------------------------------------------------------------------
# lseprof's own layout: `perf script -F pid,tid,time,event,period,ip,sym,dso`
# with --show-task-events; headers look like " 6276/6276  597.130700:  50000 cpu-clock: ".

OWN_FIELDS = "pid,tid,time,event,period,ip,sym,dso"
_HDR_WIDTH = 160


@dataclass
class TaskEvents:
    """COMM and FORK records: which command each thread ran, and from when."""

    comm: list[tuple[float, int, str]] = field(default_factory=list)  # (time, tid, comm)
    fork: list[tuple[float, int, int]] = field(default_factory=list)  # (time, child, parent)


def _own_headers(buf: ts.Bytes, starts: ts.Ints, ends: ts.Ints) -> dict[str, npt.NDArray[
        np.generic]]:
    """Decode own-layout headers for all rows at once; `ok` marks rows that fit."""
    width = int(min(max(int((ends - starts).max(initial=1)), 1), _HDR_WIDTH))
    block = ts.gather(buf, starts, ends, width, pad=0)
    length = np.minimum(ends - starts, width)
    slash = ts.first_col(block == ord("/"))
    colon = ts.first_col(block == ord(":"), after=slash)
    dot = ts.last_col(block == ord("."), before=np.where(colon >= 0, colon, 0))
    pid_start = ts.last_col(block == ts.SPACE, before=np.maximum(slash, 0)) + 1
    tid_end = ts.first_col(block == ts.SPACE, after=slash)
    pid, ok1 = ts.parse_uint(block, pid_start, slash, 10)
    tid, ok2 = ts.parse_uint(block, slash + 1, tid_end, 10)
    sec, ok3 = ts.parse_uint(block, ts.last_col(block == ts.SPACE, before=np.maximum(dot, 0)) + 1,
                             dot, 12)
    frac, ok4 = ts.parse_uint(block, dot + 1, colon, 9)
    digits = (colon - dot - 1).clip(0, 9)
    per_start = ts.first_col((block >= ord("0")) & (block <= ord("9")), after=colon)
    per_end = ts.first_col(block == ts.SPACE, after=per_start)
    period, ok5 = ts.parse_uint(block, per_start, per_end, 20)
    ev_start = per_end + 1
    ev_end = length - 2  # the line ends with ": "
    ends_ok = (length >= 2) & (block[np.arange(block.shape[0]), np.maximum(length - 2, 0)]
                                == ord(":"))
    ok = ((slash > 0) & (colon > dot) & (dot > slash) & ok1 & ok2 & ok3 & ok4 & ok5
          & (ev_end > ev_start) & ends_ok & ((ends - starts) <= width))
    time = sec.astype(np.float64) + frac.astype(np.float64) / np.power(10.0, digits)
    ev_key = ts.range_hash(buf, starts + ev_start, starts + np.maximum(ev_end, ev_start), 32)
    return {"ok": ok, "pid": pid.astype(np.int64), "tid": tid.astype(np.int64), "time": time,
            "period": period.astype(np.float64), "ev_key": ev_key,
            "ev_start": ev_start, "ev_end": ev_end}


def parse_own_script(data: bytes, tasks: TaskEvents, source_kind: str = "perf-data"
                     ) -> ParsedScript:
    """Text from ``perf script -F OWN_FIELDS --show-task-events [--show-lost-events]``."""
    buf = ts.as_bytes(data)
    starts, ends = ts.line_bounds(buf)
    blank, is_frame = _kinds(buf, starts, ends)
    other = np.flatnonzero(~blank & ~is_frame)
    result = ParsedScript(S.empty_samples(source_kind))
    hdr = _own_headers(buf, starts[other], ends[other])
    ok = np.asarray(hdr["ok"], np.bool_)
    raw = buf.data
    for line_no in other[~ok].tolist():
        text = bytes(raw[int(starts[line_no]):int(ends[line_no])]).decode("utf-8", "replace")
        _task_line(text, tasks, result)
    header_line = other[ok]
    n = header_line.size
    result.header_lines = n
    marks = np.zeros(starts.size, np.int64)
    marks[header_line] = 1
    line_sample = np.cumsum(marks) - 1
    frame_lines = np.flatnonzero(is_frame)
    orphan = line_sample[frame_lines] < 0
    result.unknown_lines += int(orphan.sum())
    frame_lines = frame_lines[~orphan]
    codes, table = _factorize_frames(buf, starts[frame_lines], ends[frame_lines])
    frames = _clean_frames(codes, table, line_sample, frame_lines, result, buf, starts, ends)
    if n == 0:
        return result
    ev_codes, ev_uniques = pd.factorize(np.asarray(hdr["ev_key"])[ok])
    ev_first = ts.first_occurrence(np.asarray(ev_codes, np.int64), len(ev_uniques))
    ev_names = []
    for row in ev_first.tolist():
        line_no = int(header_line[row])
        s = int(starts[line_no])
        a = s + int(np.asarray(hdr["ev_start"])[ok][row])
        b = s + int(np.asarray(hdr["ev_end"])[ok][row])
        ev_names.append(bytes(raw[a:b]).decode("utf-8", "replace"))
    tid = np.asarray(hdr["tid"])[ok].astype(np.int64)
    time = np.asarray(hdr["time"])[ok].astype(np.float64)
    result.samples = _build(
        n, source_kind, frames,
        event=S.from_codes(np.asarray(ev_codes, np.int64), ev_names),
        comm=_placeholder_comm(n),
        pid=np.asarray(hdr["pid"])[ok].astype(np.int64), tid=tid, time=time,
        period=np.asarray(hdr["period"])[ok].astype(np.float64))
    return result


def _placeholder_comm(n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[""])


def _task_line(text: str, tasks: TaskEvents, result: ParsedScript) -> None:
    if "PERF_RECORD_" not in text:
        _note_unknown(result, text)
        return
    t = _TIME_RE.search(text)
    when = float(t[1]) if t else 0.0
    if (m := _COMM_RE.search(text)) is not None:
        tasks.comm.append((when, int(m["tid"]), m["comm"]))
    elif (m := _FORK_RE.search(text)) is not None:
        tasks.fork.append((when, int(m["tid"]), int(m["ptid"])))
    elif (m := _LOST_RE.search(text)) is not None:
        result.lost += int(m["n"])


def apply_comms(frame: pd.DataFrame, tasks: TaskEvents) -> None:
    """Fill `comm` from COMM/FORK records: each sample gets its thread's command at
    the sample's time (a thread inherits its parent's at fork, exec renames it)."""
    events = sorted(
        [(t, 0, tid, name) for t, tid, name in set(tasks.comm)]
        + [(t, 1, child, str(parent)) for t, child, parent in set(tasks.fork)])
    current: dict[int, str] = {}
    rows: list[tuple[int, float, str]] = []
    for when, kind, tid, value in events:
        name = value if kind == 0 else current.get(int(value), "")
        current[tid] = name
        rows.append((tid, when, name))
    if not rows or frame.empty:
        return
    assign = pd.DataFrame(rows, columns=["tid", "time", "comm"])
    assign = assign.sort_values(["time"], kind="stable")
    counts = assign.groupby("tid").size()
    single = assign[assign["tid"].isin(counts.index[counts == 1])]
    names, codes_by_name = np.unique(assign["comm"].to_numpy(dtype=str), return_inverse=True)
    assign["code"] = codes_by_name
    tids = frame["tid"].to_numpy()
    code = np.full(len(frame), -1, np.int64)
    lookup = dict(zip(single["tid"].tolist(), assign.loc[single.index, "code"].tolist(),
                      strict=True))
    if lookup:
        uniq, inverse = np.unique(tids, return_inverse=True)
        mapped = np.array([lookup.get(int(t), -1) for t in uniq], dtype=np.int64)
        code = mapped[inverse]
    multi = assign[~assign["tid"].isin(single["tid"])]
    if len(multi):
        need = np.flatnonzero(np.isin(tids, multi["tid"].to_numpy()))
        left = pd.DataFrame({"row": need, "tid": tids[need],
                             "time": frame["time"].to_numpy()[need]})
        left["time"] = left["time"].fillna(np.inf)
        left = left.sort_values("time", kind="stable")
        merged = pd.merge_asof(left, multi[["tid", "time", "code"]].sort_values("time"),
                               on="time", by="tid", direction="backward")
        got = merged["code"].to_numpy(dtype=np.float64)
        code[merged["row"].to_numpy()] = np.where(np.isnan(got), -1, got).astype(np.int64)
    labels = [*names.tolist(), ""]
    code = np.where(code >= 0, code, len(labels) - 1)
    frame["comm"] = S.from_codes(code, labels)
