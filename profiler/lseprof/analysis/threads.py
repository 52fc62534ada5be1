"""Threads of a profile: the ``--tid`` and ``--comm`` filters, the per-thread table
and groups of like-named threads.

A thread's name is its ``comm`` (the last one it had: rayon's ``rayon-worker-3``,
the process name for a main thread). Threads whose names differ only in a trailing
number form one group, named by the pattern (``rayon-worker-*``): Linux keeps 15
bytes of a name, so ``rayon-worker-123`` shows as ``rayon-worker-12`` and still
joins its group. A process's first thread (tid = pid) is its main thread. Threads that all have
one name (a program whose name ends in a number, ``contend-x86_64``) keep it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lseprof.errors import LseprofError
from lseprof.results import CATEGORIES, REASONS, OffCpuResult, ThreadShare, ThreadTimes

if TYPE_CHECKING:  # loaded when used: the command line parses --tid before pandas loads
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

_NUMBERED = re.compile(r"(?P<stem>.*?\D)(?P<number>\d+)")


def group_name(comm: str) -> str:
    """The group of a thread name: ``rayon-worker-12`` -> ``rayon-worker-*``; a name
    that does not end in a number (or is only a number) is its own group."""
    match = _NUMBERED.fullmatch(comm)
    return f"{match['stem']}*" if match else comm


@dataclass(frozen=True)
class ThreadFilter:
    """Which threads a report covers: thread ids, and names or shell patterns of names
    (``rayon-worker-*``); empty means all. A thread is kept if it matches both."""

    tids: tuple[int, ...] = ()
    comms: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tids or self.comms)

    def keeps(self, tid: int, comm: str) -> bool:
        return (not self.tids or tid in self.tids) and (
            not self.comms or any(fnmatch.fnmatchcase(comm, p) for p in self.comms)
        )

    def mask(self, samples: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """The rows of a samples table it keeps."""
        import numpy as np

        keep = np.ones(len(samples), np.bool_)
        if self.tids:
            keep &= np.isin(samples["tid"].to_numpy(), np.asarray(self.tids, np.int64))
        if self.comms:
            comm = samples["comm"].cat
            names = [str(c) for c in comm.categories]
            matching = np.array(
                [any(fnmatch.fnmatchcase(n, p) for p in self.comms) for n in names] + [False]
            )
            keep &= matching[np.asarray(comm.codes)]
        return keep


def parse_tids(values: Sequence[str]) -> tuple[int, ...]:
    """``--tid`` values: thread ids, each option one id or several separated by commas."""
    tids: list[int] = []
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            try:
                tids.append(int(part))
            except ValueError:
                raise LseprofError(
                    f"--tid takes thread ids (e.g. --tid 4242), not {part!r}"
                ) from None
    return tuple(tids)


def _shares(weights: pd.Series, total: float) -> float:
    return 100.0 * float(weights.sum()) / total if total else 0.0


def thread_table(
    samples: pd.DataFrame, event: str, offcpu: OffCpuResult | None = None
) -> tuple[list[ThreadShare], list[ThreadShare]]:
    """(threads, groups) of one event's samples, heaviest first: samples, share of the
    event, category shares within the thread, and off-CPU time where the scheduler
    view has the thread. Groups hold the threads of one name pattern."""
    from lseprof.samples import small_int_codes

    rows = samples[samples["event"] == event]
    total = float(rows["weight"].sum())
    times = {t.tid: t for t in offcpu.threads} if offcpu is not None else {}
    threads: list[ThreadShare] = []
    codes, uniques = small_int_codes(rows["tid"].to_numpy())
    for code, tid in enumerate(uniques.tolist()):
        part = rows[codes == code]
        pid = int(part["pid"].iloc[-1])
        share = _shares(part["weight"], total)
        cats = part.groupby("category", observed=True)["weight"].sum()
        own = float(part["weight"].sum())
        thread = ThreadShare(
            str(part["comm"].iloc[-1]),
            tid,
            pid,
            main=tid == pid,
            samples=float(len(part)),
            share=share,
            categories={str(c): 100.0 * float(w) / own for c, w in cats.items() if own},
        )
        _add_offcpu(thread, times.get(tid))
        threads.append(thread)
    seen = {t.tid for t in threads}
    threads += [_only_offcpu(t) for t in times.values() if t.tid not in seen]
    threads.sort(key=lambda t: (-t.samples, t.tid or 0))
    return threads, group_threads(threads)


def with_offcpu(threads: list[ThreadShare], offcpu: OffCpuResult | None) -> list[ThreadShare]:
    """Threads (from :func:`thread_table`) with the off-CPU time of a scheduler view
    analysed apart (a run's sched.data), and the threads only it saw."""
    if offcpu is None:
        return threads
    times = {t.tid: t for t in offcpu.threads}
    for thread in threads:
        _add_offcpu(thread, times.get(thread.tid) if thread.tid is not None else None)
    seen = {t.tid for t in threads}
    return threads + [_only_offcpu(t) for t in offcpu.threads if t.tid not in seen]


def _add_offcpu(thread: ThreadShare, times: ThreadTimes | None) -> None:
    if times is None:
        return
    thread.on_cpu_s = times.on_cpu_s
    thread.off_cpu_s = times.off_cpu_s
    thread.off_cpu_by_reason_s = dict(times.off_cpu_by_reason_s)


def _only_offcpu(times: ThreadTimes) -> ThreadShare:
    """A thread the scheduler saw that has no sample of the event."""
    thread = ThreadShare(times.comm, times.tid, times.pid, main=times.tid == times.pid)
    _add_offcpu(thread, times)
    return thread


def group_threads(threads: Iterable[ThreadShare]) -> list[ThreadShare]:
    """Threads of one process and one name pattern summed into one row (a main thread
    stays apart from its pool), heaviest first. A group whose threads all have the
    same name keeps that name (``contend-x86_64`` is no pattern)."""
    groups: dict[tuple[int | None, str, bool], list[ThreadShare]] = {}
    for t in threads:
        groups.setdefault((t.pid, group_name(t.name), t.main), []).append(t)
    out = [
        _group(
            pattern if len({m.name for m in members}) > 1 else members[0].name, pid, main, members
        )
        for (pid, pattern, main), members in groups.items()
    ]
    out.sort(key=lambda g: (-g.samples, g.name))
    return out


def _group(pattern: str, pid: int | None, main: bool, members: list[ThreadShare]) -> ThreadShare:
    samples = sum(m.samples for m in members)
    categories = {
        c: sum(m.categories.get(c, 0.0) * m.samples for m in members) / samples
        for c in CATEGORIES
        if samples and any(c in m.categories for m in members)
    }
    timed = [m for m in members if m.off_cpu_s is not None]
    return ThreadShare(
        pattern,
        None,
        pid,
        threads=len(members),
        main=main,
        samples=samples,
        share=sum(m.share for m in members),
        categories=categories,
        on_cpu_s=sum(m.on_cpu_s or 0.0 for m in timed) if timed else None,
        off_cpu_s=sum(m.off_cpu_s or 0.0 for m in timed) if timed else None,
        off_cpu_by_reason_s={
            r: sum(m.off_cpu_by_reason_s.get(r, 0.0) for m in timed) for r in REASONS
        }
        if timed
        else {},
    )
