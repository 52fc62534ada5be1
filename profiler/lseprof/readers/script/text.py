"""Any `perf script` text -> the samples table: :func:`parse_script_text`.

Text made anywhere, in perf's default layout or with ``-F`` field choices: one
header line per sample (``comm pid[/tid] [cpu] time: [period event:] [ip sym+off
(dso)]``), each through one regex, then callchain frames, one per line (see
:mod:`lseprof.readers.script.frames`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lseprof import samples as S
from lseprof.readers.script import textscan as ts
from lseprof.readers.script.callchains import (
    MAX_EXAMPLES,
    ParsedScript,
    assemble,
    clean_frames,
    note_unknown,
    select_frames,
)
from lseprof.readers.script.frames import (
    Frame,
    FrameTable,
    factorize_frames,
    line_kinds,
    parse_frame_text,
)
from lseprof.readers.script.tasks import LOST_RE

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


def parse_script_text(data: bytes, source_kind: str = "perf-script") -> ParsedScript:
    """Any `perf script` text (default layout or `-F` fields, with or without callchains)."""
    buf = ts.as_bytes(data)
    starts, ends = ts.line_bounds(buf)
    blank, is_frame = line_kinds(buf, starts, ends)
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
            lost = LOST_RE.search(text)
            if lost:
                result.lost += int(lost["n"])
                result.lost_records += 1
            continue
        match = HEADER_RE.match(text) or _HEADER_NO_TIME_RE.match(text)
        if match is None or text.lstrip().startswith("#"):
            note_unknown(result, text)
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
        note_unknown(result, bytes(raw[int(starts[line_no]):int(ends[line_no])]).decode(
            "utf-8", "replace"))
    result.unknown_lines += max(int(orphan.sum()) - MAX_EXAMPLES, 0)
    frame_lines = frame_lines[~orphan]
    table = FrameTable()
    codes = factorize_frames(buf, starts[frame_lines], ends[frame_lines], table)
    frames = clean_frames(codes, line_sample[frame_lines], result, buf,
                           starts[frame_lines], ends[frame_lines])
    if n == 0:
        return result
    leaf, caller, emulated = select_frames(n, frames, table)
    # Text without an event field still forms one section.
    result.samples = assemble(
        source_kind, table, leaf, caller, emulated,
        event=pd.Categorical([e or "" for e in event]), comm=pd.Categorical(comm),
        pid=np.array(pid, np.int64), tid=np.array(tid, np.int64),
        time=np.array(time, np.float64), period=np.array(period, np.float64), inline=inline)
    return result
