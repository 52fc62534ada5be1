"""Which scheduler events go with a profile, and whose threads to look at.

``lseprof run --sched`` keeps them in ``sched.data`` beside ``perf.data`` (with the
workload's pid in ``workload.pid`` and its work items in ``run.json``); a perf.data
recorded by hand may hold them itself (``perf record -e sched:sched_switch ...``,
``perf sched record``). :func:`offcpu_for` finds either.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lseprof.capture.record import workload_pid
from lseprof.capture.sched_record import SCHED_FILE
from lseprof.errors import LseprofError
from lseprof.readers.time_range import in_window
from lseprof.results import OffCpuResult

if TYPE_CHECKING:
    from lseprof.readers.perf_data import PerfDataHeader, SymbolFiles


def sched_file_for(path: Path, head: PerfDataHeader | None = None) -> Path | None:
    """The file with the scheduler events for the profile at `path`, if any (`head`:
    its header, when the caller has read it already)."""
    from lseprof.capture.perf_env import find_perf
    from lseprof.readers.perf_data import read_header
    from lseprof.readers.sched_events import has_sched_events

    if has_sched_events(head if head is not None else read_header(find_perf(), path)):
        return path
    beside = path.parent / SCHED_FILE
    return beside if beside.is_file() and beside != path else None


def run_items(run_dir: Path) -> float | None:
    """The work items the run counted (its workload's JSON, kept in run.json)."""
    try:
        extra = json.loads((run_dir / "run.json").read_text())["extra"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for source in (extra.get("offcpu"), extra.get("workload_report")):
        if isinstance(source, dict) and isinstance(source.get("items"), int | float):
            return float(source["items"])
    return None


@dataclass(frozen=True)
class SchedScope:
    """What part of the scheduler events an analysis covers: a time window (perf's
    timestamps, ns, both ends included), the threads a filter keeps (tid, name), and
    whether to keep every off-CPU stretch (timelines)."""

    window_ns: tuple[int, int] | None = None
    keep: Callable[[int, str], bool] | None = None
    spans: bool = False


def analyze_sched_file(
    sched: Path,
    root_pid: int | None,
    items: float | None,
    other_pids: Iterable[int] = (),
    head: PerfDataHeader | None = None,
    text: bytes = b"",
    scope: SchedScope | None = None,
    files: SymbolFiles | None = None,
) -> OffCpuResult:
    """The off-CPU analysis of one file of scheduler events (`files`: the recording
    machine's, where it was another): its `text` where the
    perf.data reader already read it in its own pass, else read now (`head`: the
    file's header, when the caller has read it). Threads analysed: `root_pid` and its
    descendants when given; else `other_pids`; else every user process; within
    `scope` (a time window, a thread filter)."""
    from lseprof.analysis.offcpu.model import analyze_offcpu
    from lseprof.capture.perf_env import find_perf
    from lseprof.readers.perf_data import read_header
    from lseprof.readers.sched_events import parse_sched_script, read_sched_events

    if text:
        events = parse_sched_script(text.decode("utf-8", "replace").splitlines())
    else:
        perf = find_perf()
        events = read_sched_events(
            sched, perf, head if head is not None else read_header(perf, sched), files
        )
    pids = events.descendants(root_pid) if root_pid else ({p for p in other_pids if p > 0} or None)
    scope = scope or SchedScope()
    if scope.window_ns is not None:
        frame = events.events
        events.events = frame[in_window(frame["time"].to_numpy(), *scope.window_ns)]
        events.events = events.events.reset_index(drop=True)
    return analyze_offcpu(events, pids, items, scope.keep, scope.spans)


def offcpu_for(
    path: Path,
    sample_pids: Iterable[int] = (),
    head: PerfDataHeader | None = None,
    text: bytes = b"",
    scope: SchedScope | None = None,
) -> tuple[OffCpuResult | None, str]:
    """The off-CPU analysis for the profile at `path`, or None and why not: the run's
    workload when its directory says which, else the processes that have samples.
    `text`: the profile's own scheduler events, as its reader read them; `scope`: a
    time window and thread filter (see :class:`SchedScope`)."""
    try:
        sched = sched_file_for(path, head)
        if sched is None:
            return None, (
                f"{path.name} has no scheduler events (and no {SCHED_FILE} beside "
                "it); record with lseprof run --sched, or perf record -e "
                "sched:sched_switch -e sched:sched_wakeup"
            )
        own = sched == path  # the profile's own header and text: read once
        return analyze_sched_file(
            sched,
            workload_pid(sched.parent),
            run_items(sched.parent),
            sample_pids,
            head if own else None,
            text if own else b"",
            scope,
        ), ""
    except LseprofError as exc:
        return None, f"scheduler events not read: {exc.message}"
