"""Side-band records in `perf script --show-task-events --show-mmap-events` text
(PERF_RECORD_COMM/FORK, PERF_RECORD_MMAP/MMAP2 and PERF_RECORD_LOST): which
command and process each thread belongs to, and where each file was mapped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lseprof import samples as S
from lseprof.readers.mmaps import parse_mmaps
from lseprof.readers.script.callchains import ParsedScript, note_unknown
from lseprof.samples import Mapping

_COMM_RE = re.compile(r"PERF_RECORD_COMM(?: exec)?: (?P<comm>.*):(?P<pid>-?\d+)/(?P<tid>-?\d+)\s*$")
_FORK_RE = re.compile(
    r"PERF_RECORD_FORK\((?P<pid>-?\d+):(?P<tid>-?\d+)\):"
    r"\((?P<ppid>-?\d+):(?P<ptid>-?\d+)\)"
)
LOST_RE = re.compile(r"PERF_RECORD_LOST(?:_SAMPLES)?:?\s+(?:lost\s+)?(?P<n>\d+)")


@dataclass
class TaskEvents:
    """COMM and FORK records in stream (time) order: which command each thread ran,
    and the process of every thread they name."""

    # ("comm", tid, name) or ("fork", child tid, parent tid as text)
    records: list[tuple[str, int, str]] = field(default_factory=list)
    pids: dict[int, int] = field(default_factory=dict)  # tid -> pid
    # The recorded file mappings, in recording order (executable or not).
    mappings: list[Mapping] = field(default_factory=list)


def task_line(text: str, tasks: TaskEvents, result: ParsedScript) -> None:
    if "PERF_RECORD_" not in text:
        note_unknown(result, text)
        return
    if (m := _COMM_RE.search(text)) is not None:
        tasks.records.append(("comm", int(m["tid"]), m["comm"]))
        tasks.pids[int(m["tid"])] = int(m["pid"])
    elif (m := _FORK_RE.search(text)) is not None:
        tasks.records.append(("fork", int(m["tid"]), m["ptid"]))
        tasks.pids[int(m["tid"])] = int(m["pid"])
    elif (m := LOST_RE.search(text)) is not None:
        result.lost += int(m["n"])
        result.lost_records += 1
    elif "PERF_RECORD_MMAP" in text:
        tasks.mappings.extend(parse_mmaps(text, executable_only=False))


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
