"""Any `perf script` text -> the samples table: :func:`parse_script_text`.

Text made anywhere, in perf's default layout or with ``-F`` field choices: one
header line per sample (``comm pid[/tid] [cpu] time: [period event:] [ip sym+off
(dso)]``), each through one regex, then callchain frames, one per line (see
:mod:`lseprof.readers.script.frames`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lseprof import samples as S
from lseprof.errors import LseprofError
from lseprof.readers.mmaps import parse_mmaps
from lseprof.readers.script import textscan as ts
from lseprof.readers.script.callchains import (
    ParsedScript,
    StackTable,
    assemble,
    note_unknown,
    sample_frames,
    select_frames,
    stack_frames,
)
from lseprof.readers.script.frames import (
    Frame,
    FrameTable,
    line_kinds,
    parse_frame_text,
)
from lseprof.readers.script.tasks import LOST_RE
from lseprof.readers.script.tracepoints import split_tracepoints

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


@dataclass
class _Headers:
    """The sample header lines of a text, field by field."""

    comm: list[str] = field(default_factory=list)
    pid: list[int] = field(default_factory=list)
    tid: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    period: list[float] = field(default_factory=list)
    event: list[str] = field(default_factory=list)
    inline: list[Frame | None] = field(default_factory=list)  # the location of one-line samples
    line: list[int] = field(default_factory=list)

    def add(self, groups: dict[str, str | None], line_no: int) -> None:
        self.line.append(line_no)
        self.comm.append(groups["comm"] or "")
        p = int(groups["pid"] or -1)
        self.pid.append(p if groups["tid"] else -1)
        self.tid.append(int(groups["tid"]) if groups["tid"] else p)
        time, period = groups.get("time"), groups.get("period")
        self.time.append(float(time) if time else np.nan)
        self.period.append(float(period) if period else np.nan)
        self.event.append(groups.get("event") or "")
        rest = groups.get("rest") or ""
        self.inline.append(parse_frame_text(rest) if rest.strip() else None)


def _read_headers(
    raw: memoryview, starts: ts.Ints, ends: ts.Ints, lines: list[int], result: ParsedScript
) -> _Headers:
    """Every non-frame line: a sample header, a PERF_RECORD_ line, or unknown text."""
    headers = _Headers()
    for line_no in lines:
        text = bytes(raw[int(starts[line_no]) : int(ends[line_no])]).decode("utf-8", "replace")
        if "PERF_RECORD_" in text:
            if lost := LOST_RE.search(text):
                result.lost += int(lost["n"])
                result.lost_records += 1
            elif "PERF_RECORD_MMAP" in text:
                result.mappings.extend(parse_mmaps(text, executable_only=False))
            continue
        match = HEADER_RE.match(text) or _HEADER_NO_TIME_RE.match(text)
        if match is None or text.lstrip().startswith("#"):
            note_unknown(result, text)
        else:
            headers.add(match.groupdict(), line_no)
    return headers


def parse_script_text(
    data: bytes, source_kind: str = "perf-script", tracepoints: bool = False
) -> ParsedScript:
    """Any `perf script` text (default layout or `-F` fields, with or without callchains);
    with `tracepoints`, scheduler tracepoint blocks are cut out and kept as text."""
    trace_text = b""
    if tracepoints:
        data, trace_text = split_tracepoints(data)
    buf = ts.as_bytes(data)
    starts, ends = ts.line_bounds(buf)
    blank, is_frame = line_kinds(buf, starts, ends)
    result = ParsedScript(S.empty_samples(source_kind), trace_text=trace_text)
    headers = _read_headers(
        buf.data, starts, ends, np.flatnonzero(~blank & ~is_frame).tolist(), result
    )
    n = len(headers.line)
    result.header_lines = n
    table = FrameTable()
    header_line = np.array(headers.line, dtype=np.int64)
    frames = sample_frames(buf, starts, ends, is_frame, header_line, table, result)
    if n == 0:
        return result
    chosen = select_frames(n, frames, table)
    stacks = StackTable()
    stack = stacks.codes(n, frames, chosen.leaf_depth)
    # Text without an event field still forms one section.
    result.samples = assemble(
        source_kind,
        table,
        chosen.leaf,
        chosen.caller,
        chosen.emulated,
        event=pd.Categorical([e or "" for e in headers.event]),
        comm=pd.Categorical(headers.comm),
        pid=np.array(headers.pid, np.int64),
        tid=np.array(headers.tid, np.int64),
        time=np.array(headers.time, np.float64),
        period=np.array(headers.period, np.float64),
        stack=stack,
        inline=headers.inline,
    )
    result.stacks = stacks.stacks
    result.frames = stack_frames(table)
    return result
    leaf, caller, emulated = select_frames(n, frames, table)
    # Text without an event field still forms one section.
    result.samples = assemble(
        source_kind,
        table,
        leaf,
        caller,
        emulated,
        event=pd.Categorical([e or "" for e in headers.event]),
        comm=pd.Categorical(headers.comm),
        pid=np.array(headers.pid, np.int64),
        tid=np.array(headers.tid, np.int64),
        time=np.array(headers.time, np.float64),
        period=np.array(headers.period, np.float64),
        inline=headers.inline,
    )
    return result


def read_script_text(data: bytes, path: str) -> S.Capture:
    """`perf script` text made anywhere (any layout), as a Capture."""
    import pandas as pd

    script = parse_script_text(data, "perf-script")
    if script.header_lines == 0:
        raise LseprofError(f"{path} has no perf script samples; give `perf script` output")
    frame = script.samples
    events = [str(e) for e in pd.unique(frame["event"].astype(object))]
    capture = S.Capture(
        samples=frame,
        source_kind="perf-script",
        path=path,
        events=events,
        lost_samples={e: script.lost for e in events} if script.lost else {},
        unknown_lines=script.unknown_lines,
        unknown_examples=script.unknown_examples,
        stacks=script.stacks,
        stack_frames=script.frames,
        mappings=script.mappings,
    )
    capture.validate()
    return capture
