"""Sample headers of lseprof's own layout, decoded in bulk.

The layout is ``perf script -F pid,tid,event,period,ip,sym,dso`` (or a subset, see
:data:`lseprof.readers.perf_data.reader.OWN_FIELDS`) with --show-task-events; headers
look like " 6276/6276      50000 cpu-clock: ". Read by
:class:`lseprof.readers.script.own_layout.OwnScriptReader`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof.readers.script import textscan as ts
from lseprof.readers.script.callchains import ParsedScript, note_unknown


def decode_headers(
    buf: ts.Bytes, starts: ts.Ints, ends: ts.Ints, with_event: bool = True
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
        "pid": np.where(slash, first, -1),
        "tid": np.where(slash, second, first),
        "period": period.astype(np.float64),
    }
    if with_event:
        out.update(_event_names(buf, starts, ends, block, starts + np.maximum(event_at, 0)))
    return out


def _event_names(
    buf: ts.Bytes, starts: ts.Ints, ends: ts.Ints, block: ts.Bytes, event_start: ts.Ints
) -> dict[str, npt.NDArray[Any]]:
    """Event codes and names of headers whose event begins at `event_start`; names are
    factorized by a fingerprint and decoded once each."""
    n, width = block.shape
    # perf right-aligns event names to a common width: skip that padding too.
    line = block[np.arange(n), np.clip(event_start - starts, 0, width - 1)]
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
    names = [
        bytes(raw[int(event_start[i]) : int(event_end[i])]).decode("utf-8", "replace")
        for i in where.tolist()
    ]
    return {"event_codes": np.asarray(codes, np.int64), "event_names": np.array(names, object)}


_OWN_HEADER_RE = re.compile(r"^\s*(-?\d+)(?:/(-?\d+))?\s+(\d+)(?:\s+(\S.*?):)?\s*$")


def decode_headers_slowly(
    raw: memoryview, starts: ts.Ints, ends: ts.Ints, result: ParsedScript, with_event: bool = True
) -> tuple[dict[str, npt.NDArray[Any]], npt.NDArray[np.bool_]]:
    pid: list[int] = []
    tid: list[int] = []
    period: list[float] = []
    events: list[str] = []
    keep = np.zeros(starts.size, np.bool_)
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        text = bytes(raw[s:e]).decode("utf-8", "replace")
        match = _OWN_HEADER_RE.match(text)
        if match is None or (match[4] is not None) != with_event:
            note_unknown(result, text)
            continue
        keep[i] = True
        pid.append(int(match[1]) if match[2] is not None else -1)
        tid.append(int(match[2] if match[2] is not None else match[1]))
        period.append(float(match[3]))
        events.append((match[4] or "").strip())
    codes, names = pd.factorize(np.array(events, dtype=object))
    return {
        "pid": np.array(pid, np.int64),
        "tid": np.array(tid, np.int64),
        "period": np.array(period, np.float64),
        "event_codes": np.asarray(codes, np.int64),
        "event_names": np.asarray(names, dtype=object),
    }, keep
