"""Off-CPU time and wake-ups per thread from scheduler events (see the package
docstring)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lseprof.readers.sched_events import SWITCH, WAKEUP, WAKING, Frame, SchedEvents
from lseprof.results import REASONS, BlockingPath, OffCpuResult, ThreadTimes, Wakers

IDLE_WAKER = "[interrupt]"  # woken by a timer or an IRQ (or while the CPU was idle)
# Frames of a sched_waking stack that say the wake-up ran in an interrupt or softirq:
# whatever task was current then (any process on a busy machine) did not wake anyone.
_INTERRUPT_FRAMES = (
    "hrtimer_interrupt",
    "__hrtimer_run_queues",
    "sysvec_",  # x86 entry (asm_sysvec_apic_timer_interrupt, ...); names are matched inside
    "common_interrupt",
    "handle_softirqs",
    "__do_softirq",
    "el1_interrupt",  # arm64 entry
    "el0_interrupt",
    "gic_handle_irq",
    "handle_irq_event",
)
_SCHED_FRAMES = (
    "__schedule",
    "schedule",
    "preempt_schedule",
    "io_schedule",
    "__cond_resched",
    "schedule_preempt_disabled",
)
_KERNEL_DSOS = ("[kernel.kallsyms]", "[kernel.vmlinux]")
_IO_HINTS = (
    "poll",
    "select",
    "epoll",
    "pipe_",
    "sock",
    "tcp_",
    "unix_",
    "wait_for_",
    "read",
    "write",
    "io_",
    "blk",
    "folio",
    "filemap",
)
_TIMER_HINTS = ("nanosleep", "hrtimer", "schedule_timeout", "msleep")
PERF_CHILD = "perf-exec"
FOLDED_MAX = 5000  # stacks kept with a stored run (the rest is the long tail)
TOP = 10  # wakers and blocking paths kept
USER_FRAMES = 4  # user frames kept per blocking path


def _reason(state: str, stack: tuple[Frame, ...]) -> str:
    kernel = [s for s, d in stack if d in _KERNEL_DSOS]
    if any("sched_yield" in s for s in kernel):
        return "yield"
    if state.startswith("R"):
        return "preempted"
    if any("futex" in s for s in kernel):
        return "futex"
    if any(any(h in s for h in _TIMER_HINTS) for s in kernel):
        return "sleep"
    if state.startswith("D") or any(any(h in s for h in _IO_HINTS) for s in kernel):
        return "io"
    return "other"


def _path(stack: tuple[Frame, ...]) -> tuple[str, ...]:
    """The kernel function the thread waits in, then the user frames that led there."""
    kernel = [s for s, d in stack if d in _KERNEL_DSOS and not s.startswith(_SCHED_FRAMES)]
    user = [s for s, d in stack if d not in _KERNEL_DSOS and s != "[unknown]"]
    return (*kernel[:1], *user[:USER_FRAMES])


def fold(comm: str, stack: tuple[Frame, ...]) -> str:
    """One folded line's stack, root first, kernel frames marked ``_[k]`` (the
    convention of offcputime and flamegraph.pl's --color=io)."""
    names = [f"{s}_[k]" if d in _KERNEL_DSOS else s for s, d in reversed(stack)]
    return ";".join([comm, *names]).replace(" ", "_") if names else f"{comm};[no callchain]"


def _in_interrupt(stack: tuple[Frame, ...]) -> bool:
    return any(m in f for f, d in stack if d in _KERNEL_DSOS for m in _INTERRUPT_FRAMES)


def _label(events: SchedEvents, tid: int) -> str:
    """A waker or wakee by name; a process's first thread is told apart from its pool
    (the caller waking its workers is the pattern to see)."""
    if tid == 0:
        return IDLE_WAKER
    name = events.comms.get(tid, "?")
    return f"{name} (main)" if events.pids.get(tid) == tid else name


KTHREADD = 2


def user_processes(events: SchedEvents) -> set[int]:
    """Every process of a whole-system recording but the kernel's threads (children
    of kthreadd) and perf's own."""
    kernel = events.descendants(KTHREADD)
    return {
        p
        for p in set(events.pids.values())
        if p > 0 and p not in kernel and events.comms.get(p) != "perf"
    }


@dataclass
class _Walk:
    """The state of one walk over the scheduler events in time order."""

    events: SchedEvents
    tids: set[int]
    threads: dict[int, ThreadTimes] = field(default_factory=dict)
    running: dict[int, float] = field(default_factory=dict)  # tid -> switched in at
    # tid -> (switched out at, reason, blocking path, stack id)
    off_since: dict[int, tuple[float, str, tuple[str, ...], int]] = field(default_factory=dict)
    folded: dict[str, float] = field(default_factory=dict)
    woken_at: dict[int, float] = field(default_factory=dict)
    waking: dict[int, int] = field(default_factory=dict)  # wakee -> who started waking it
    latencies: list[float] = field(default_factory=list)
    pair_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    path_time: dict[tuple[str, tuple[str, ...]], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0.0, 0])
    )
    first: float = np.inf
    last: float = -np.inf
    unobserved: float = 0.0
    wakeups: int = 0
    # (tid, switched out, switched in, reason) of every off-CPU stretch, when asked for
    # (the timeline's input); None: not kept.
    spans: list[tuple[int, float, float, str]] | None = None

    def thread(self, tid: int) -> ThreadTimes:
        if tid not in self.threads:
            self.threads[tid] = ThreadTimes(
                tid, self.events.pids.get(tid, -1), self.events.comms.get(tid, "?")
            )
        return self.threads[tid]

    def seen(self, t: float) -> None:
        self.first, self.last = min(self.first, t), max(self.last, t)

    def switch_out(self, t: float, prev: int, state: str, sid: int, prev_comm: str) -> None:
        self.seen(t)
        rec = self.thread(prev)
        if prev in self.running:
            rec.on_cpu_s += t - self.running.pop(prev)
        elif prev in self.off_since:
            # A per-task recording: the switch in was never seen.
            self.unobserved += t - self.off_since.pop(prev)[0]
        stack = self.events.stacks[sid] if sid >= 0 else ()
        # Exiting threads never come back; perf's forked child ("perf-exec") waits
        # for perf to be ready before it execs the workload: perf's wait.
        if not state.startswith(("X", "Z")) and prev_comm != PERF_CHILD:
            self.off_since[prev] = (t, _reason(state, stack), _path(stack), sid)

    def switch_in(self, t: float, nxt: int) -> None:
        self.seen(t)
        rec = self.thread(nxt)
        if nxt in self.off_since:
            since, reason, path, sid = self.off_since.pop(nxt)
            rec.off_cpu_by_reason_s[reason] += t - since
            if self.spans is not None:
                self.spans.append((nxt, since, t, reason))
            key = fold(rec.comm, self.events.stacks[sid] if sid >= 0 else ())
            self.folded[key] = self.folded.get(key, 0.0) + (t - since) * 1e6
            slot = self.path_time[(reason, path)]
            slot[0] += t - since
            slot[1] += 1
            woke = self.woken_at.pop(nxt, None)
            if woke is not None and woke >= since:
                self.latencies.append((t - woke) * 1e6)
        self.running[nxt] = t

    def wakeup(self, t: float, target: int, current: int) -> None:
        self.seen(t)
        self.wakeups += 1
        self.thread(target).wakeups += 1
        self.woken_at[target] = t
        waker = self.waking.pop(target, current)
        self.pair_counts[(_label(self.events, waker), _label(self.events, target))] += 1

    def result(self, items: float | None) -> OffCpuResult:
        threads = sorted(self.threads.values(), key=lambda r: r.tid)
        on = float(sum(r.on_cpu_s for r in threads))
        off = float(sum(r.off_cpu_s for r in threads))
        total = on + off
        window = float(self.last - self.first) if self.last > self.first else 0.0
        latencies = np.asarray(self.latencies, dtype=np.float64)
        paths = sorted(
            (BlockingPath(r, list(p), s, int(n)) for (r, p), (s, n) in self.path_time.items()),
            key=lambda b: -b.seconds,
        )
        return OffCpuResult(
            offcpu_share=100.0 * off / total if total else 0.0,
            offcpu_by_reason={
                r: 100.0 * sum(t.off_cpu_by_reason_s[r] for t in threads) / total if total else 0.0
                for r in REASONS
            },
            on_cpu_s=on,
            off_cpu_s=off,
            wakeups=self.wakeups,
            wakeups_per_s=self.wakeups / window if window > 0 else 0.0,
            wakeups_per_item=self.wakeups / items if items else None,
            items=items,
            wakeup_p50_us=float(np.percentile(latencies, 50)) if latencies.size else None,
            wakeup_p99_us=float(np.percentile(latencies, 99)) if latencies.size else None,
            window_s=window,
            system_wide=self.events.system_wide,
            threads=threads,
            wakers=[Wakers(a, b, n) for (a, b), n in self.pair_counts.most_common(TOP)],
            blocking_paths=paths[:TOP],
            folded_us=dict(sorted(self.folded.items(), key=lambda kv: -kv[1])[:FOLDED_MAX]),
        )


def _walk(walk: _Walk) -> None:
    """Every event in time order, through the walk's state."""
    frame = walk.events.events
    kinds = frame["event"].to_numpy().copy()
    if not (kinds == WAKEUP).any():
        # perf sched record takes sched_waking alone where the kernel has it.
        kinds[kinds == WAKING] = WAKEUP
    columns = (
        frame[c].to_numpy()
        for c in ("time", "prev_tid", "prev_state", "prev_comm", "next_tid", "tid", "stack")
    )
    tids = walk.tids
    for kind, t, prev, state, prev_comm, nxt, current, sid in zip(kinds, *columns, strict=True):
        if kind == SWITCH:
            if int(prev) in tids:
                walk.switch_out(float(t), int(prev), str(state), int(sid), str(prev_comm))
            if int(nxt) in tids:
                walk.switch_in(float(t), int(nxt))
        elif kind == WAKING:
            stack = walk.events.stacks[int(sid)] if sid >= 0 else ()
            walk.waking[int(nxt)] = 0 if _in_interrupt(stack) else int(current)
        elif int(nxt) in tids:
            walk.wakeup(float(t), int(nxt), int(current))


def analyze_offcpu(
    events: SchedEvents,
    pids: set[int] | None = None,
    items: float | None = None,
    keep: Callable[[int, str], bool] | None = None,
    spans: bool = False,
) -> OffCpuResult:
    """Per-thread on/off-CPU time, wake-ups and blocking paths of the threads of
    `pids` (None: every process except the idle task) that `keep` (tid, name) keeps;
    `spans`: also every off-CPU stretch (``OffCpuResult.spans``, for timelines)."""
    frame = events.events
    if pids is None:
        pids = user_processes(events)
    tids = {t for t, p in events.pids.items() if p in pids and t > 0}
    if keep is not None:
        tids = {t for t in tids if keep(t, events.comms.get(t, ""))}
    walk = _Walk(events, tids, spans=[] if spans else None)
    _walk(walk)
    result = walk.result(items)
    result.spans = walk.spans or []
    if not result.system_wide:
        result.notes.append(
            "scheduler events recorded per task: wake-ups from interrupts (timers, I/O) and "
            "switches in from other tasks are missing; record with lseprof run --sched or "
            "perf sched record for the whole picture"
        )
    if not (frame["stack"].to_numpy() >= 0).any() and len(frame):
        result.notes.append(
            "no callchains on the switch events (record with -g): reasons "
            "come from the thread state alone (S: other, D: io, R: preempted)"
        )
    if not walk.tids:
        result.notes.append("no thread of the profiled processes appears in the scheduler events")
    return result
