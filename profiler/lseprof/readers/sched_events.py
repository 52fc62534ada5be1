"""Scheduler tracepoints (``sched:sched_switch``, ``sched:sched_wakeup``) of a perf.data
as a table.

Read with ``perf script -F trace:...`` (only tracepoint samples; the sampling event
of the same file, if any, is left to the samples reader). The table, one row per
event, in time order:

==========  =======  ==========================================================
column      dtype    meaning
==========  =======  ==========================================================
time        float64  timestamp, seconds (perf's clock, as in the samples table)
cpu         int64    the CPU the event happened on
tid         int64    the thread that was current (the one switching out, the waker)
pid         int64    its process (tgid)
event       object   ``switch``, ``waking`` (fired by the waker) or ``wakeup`` (the
                     wakee made runnable; possibly on its own CPU's idle task)
prev_tid    int64    switch: the thread leaving the CPU (-1 for a wake-up)
prev_state  object   switch: its state, ``R``/``R+`` preempted, ``S`` sleeping,
                     ``D`` uninterruptible, ``X``/``Z`` exiting ("" for a wake-up)
prev_comm   object   switch: the leaving thread's name at that moment ("" for a wake-up)
next_tid    int64    switch: the thread taking the CPU; waking/wakeup: the thread woken
stack       int64    index into :attr:`SchedEvents.stacks` (-1: no callchain)
==========  =======  ==========================================================

Thread names (``comm``) are kept apart, per tid, from the events' own fields.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lseprof.capture.perf_cli import first_error, perf_argv, start_perf
from lseprof.errors import LseprofError
from lseprof.readers.perf_data import TRACE_FIELDS, TRACE_MAX_STACK, PerfDataHeader, SymbolFiles

SWITCH, WAKING, WAKEUP = "switch", "waking", "wakeup"
# Deep enough for kernel entry + the user frames that led there (as the perf.data reader
# asks when the file holds samples too).
FIELDS, MAX_STACK = TRACE_FIELDS, TRACE_MAX_STACK
# perf script's -F type names, by perf_event_attr.type (the file's other events are
# silenced with "-F TYPE:" so that perf prints only tracepoints).
_TYPE_NAMES = {0: "hw", 1: "sw", 3: "hw", 4: "raw", 5: "brkpt"}

_HEAD = re.compile(
    r"^\s*(?P<comm>.*?)\s+(?P<pid>-?\d+)/(?P<tid>-?\d+)\s+\[(?P<cpu>\d+)\]\s+"
    r"(?P<time>\d+\.\d+):\s+(?P<event>[\w:]+):\s?(?P<trace>.*)$"
)
_SWITCH = re.compile(
    r"prev_comm=(?P<pc>.*) prev_pid=(?P<pp>-?\d+) prev_prio=\S+ "
    r"prev_state=(?P<ps>\S+) ==> next_comm=(?P<nc>.*) next_pid=(?P<np>-?\d+)"
)
_WAKEUP = re.compile(
    r"comm=(?P<c>.*) pid=(?P<p>-?\d+) prio=\S+(?: success=\d+)? "
    r"target_cpu=\d+"
)
_FORK = re.compile(r"PERF_RECORD_FORK\((?P<pid>\d+):(?P<tid>\d+)\):\((?P<ppid>\d+):\d+\)")
_FRAME = re.compile(r"^\s+[0-9a-f]+\s+(?P<sym>.*?)(?:\+0x[0-9a-f]+)?\s+\((?P<dso>.*)\)\s*$")


Frame = tuple[str, str]  # (symbol, dso), innermost first


@dataclass
class SchedEvents:
    events: pd.DataFrame
    stacks: list[tuple[Frame, ...]] = field(default_factory=list)
    comms: dict[int, str] = field(default_factory=dict)  # tid -> latest name
    pids: dict[int, int] = field(default_factory=dict)  # tid -> tgid, where known
    parents: dict[int, int] = field(default_factory=dict)  # pid -> parent pid (forks seen)
    unknown_lines: int = 0

    def descendants(self, root: int) -> set[int]:
        """`root` and every process forked from it (or from those), as far as the
        recording saw the forks."""
        found = {root}
        children: dict[int, list[int]] = {}
        for pid, parent in self.parents.items():
            children.setdefault(parent, []).append(pid)
        todo = [root]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    @property
    def system_wide(self) -> bool:
        """Recorded on every CPU (``perf record -a``, ``perf sched record``): the idle
        task switches, which a per-task recording never sees."""
        switches = self.events[self.events["event"] == SWITCH]
        return bool((switches["prev_tid"] == 0).any())


def has_sched_events(head: PerfDataHeader) -> bool:
    return head.has_sched_events


class _Builder:
    def __init__(self) -> None:
        self.cols: dict[str, list[object]] = {
            k: []
            for k in (
                "time",
                "cpu",
                "tid",
                "pid",
                "event",
                "prev_tid",
                "prev_state",
                "prev_comm",
                "next_tid",
                "stack",
            )
        }
        self.stack_ids: dict[tuple[Frame, ...], int] = {}
        self.stacks: list[tuple[Frame, ...]] = []
        self.comms: dict[int, str] = {}
        self.pids: dict[int, int] = {}
        self.parents: dict[int, int] = {}
        self.frames: list[Frame] = []
        self.open = False  # a row whose callchain is being read
        self.unknown = 0

    def close_row(self) -> None:
        if not self.open:
            return
        self.open = False
        if not self.frames:
            return
        key = tuple(self.frames)
        self.frames = []
        idx = self.stack_ids.get(key)
        if idx is None:
            idx = self.stack_ids[key] = len(self.stacks)
            self.stacks.append(key)
        self.cols["stack"][-1] = idx

    def head(self, m: re.Match[str]) -> None:
        self.close_row()
        event = m["event"]
        trace = m["trace"]
        tid, pid = int(m["tid"]), int(m["pid"])
        if event == "sched:sched_switch":
            sw = _SWITCH.search(trace)
            if sw is None:
                self.unknown += 1
                return
            prev, nxt = int(sw["pp"]), int(sw["np"])
            self.comms[prev], self.comms[nxt] = sw["pc"], sw["nc"]
            row = (SWITCH, prev, sw["ps"], nxt, sw["pc"])
        elif event in ("sched:sched_wakeup", "sched:sched_waking"):
            wk = _WAKEUP.search(trace)
            if wk is None:
                self.unknown += 1
                return
            target = int(wk["p"])
            self.comms.setdefault(target, wk["c"])
            row = (WAKEUP if event == "sched:sched_wakeup" else WAKING, -1, "", target, "")
        else:
            return  # another tracepoint: not ours
        if tid > 0:
            self.pids[tid] = pid
            self.comms.setdefault(tid, m["comm"])
        c = self.cols
        c["time"].append(float(m["time"]))
        c["cpu"].append(int(m["cpu"]))
        c["tid"].append(tid)
        c["pid"].append(pid)
        c["event"].append(row[0])
        c["prev_tid"].append(row[1])
        c["prev_state"].append(row[2])
        c["prev_comm"].append(row[4])
        c["next_tid"].append(row[3])
        c["stack"].append(-1)
        self.open = True

    def line(self, text: str) -> None:
        if not text.strip():
            self.close_row()
            return
        if text[0] in " \t" and self.open:
            fm = _FRAME.match(text)
            if fm is not None:
                self.frames.append((fm["sym"], fm["dso"]))
                return
        if "PERF_RECORD_" in text:
            self.close_row()
            fork = _FORK.search(text)
            if fork is not None:
                pid, tid = int(fork["pid"]), int(fork["tid"])
                self.pids[tid] = pid
                if pid == tid:  # a new process, not a thread
                    self.parents[pid] = int(fork["ppid"])
            return
        m = _HEAD.match(text)
        if m is not None:
            self.head(m)
        elif not text.startswith("'trace' not valid"):
            self.unknown += 1

    def finish(self) -> SchedEvents:
        self.close_row()
        frame = pd.DataFrame(
            {
                "time": pd.array(self.cols["time"], dtype="float64"),
                "cpu": pd.array(self.cols["cpu"], dtype="int64"),
                "tid": pd.array(self.cols["tid"], dtype="int64"),
                "pid": pd.array(self.cols["pid"], dtype="int64"),
                "event": pd.array(self.cols["event"], dtype="object"),
                "prev_tid": pd.array(self.cols["prev_tid"], dtype="int64"),
                "prev_state": pd.array(self.cols["prev_state"], dtype="object"),
                "prev_comm": pd.array(self.cols["prev_comm"], dtype="object"),
                "next_tid": pd.array(self.cols["next_tid"], dtype="int64"),
                "stack": pd.array(self.cols["stack"], dtype="int64"),
            }
        )
        frame = frame.sort_values("time", kind="stable").reset_index(drop=True)
        return SchedEvents(frame, self.stacks, self.comms, self.pids, self.parents, self.unknown)


def parse_sched_script(lines: Iterable[str]) -> SchedEvents:
    """The table from ``perf script`` text of scheduler tracepoints (with or without
    callchains; other tracepoints are skipped)."""
    builder = _Builder()
    for text in lines:
        builder.line(text.rstrip("\r\n"))
    return builder.finish()


def sched_script_argv(
    perf: str, path: Path, head: PerfDataHeader, files: SymbolFiles | None = None
) -> list[str]:
    # perf's own dummy event (side-band records, no samples) does not count: perf
    # refuses "-F sw:" when no software event has samples.
    silence = sorted(
        {
            f"{_TYPE_NAMES[t]}:"
            for e, t in zip(head.events, head.event_types, strict=True)
            if t in _TYPE_NAMES and not e.startswith("dummy")
        }
    )
    # --ns: whole nanoseconds, as --time-range windows are (lseprof.readers.time_range).
    argv = perf_argv(perf, "script", "-i", path, "-F", f"trace:{FIELDS}", "--ns")
    for kind in silence:
        argv += ["-F", kind]
    # Task events: the forks tell which processes descend from the workload's.
    named = files.perf_options(head.emulated) if files is not None else []
    return [*argv, "--max-stack", str(MAX_STACK), "--no-inline", "--show-task-events", *named]


def read_sched_events(
    path: Path, perf: str, head: PerfDataHeader, files: SymbolFiles | None = None
) -> SchedEvents:
    """The scheduler events of a perf.data that has them (see :func:`has_sched_events`);
    `files`: the recording machine's, where it was another."""
    argv = sched_script_argv(perf, path, head, files)
    # stderr to a file: a pipe read only at the end could fill up and stall perf.
    with tempfile.TemporaryFile() as errors:
        proc = start_perf(argv, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert proc.stdout is not None
        events = parse_sched_script(proc.stdout)
        code = proc.wait()
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
    if code != 0:
        raise LseprofError(
            f"{path}: perf script cannot read its scheduler events "
            f"({first_error(stderr)[:100]}); record them again"
        )
    return events
