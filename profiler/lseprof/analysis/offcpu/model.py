"""Off-CPU time and wake-ups per thread from scheduler events (see the package
docstring)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from lseprof.readers.sched_events import SWITCH, WAKEUP, WAKING, Frame, SchedEvents

REASONS = ("futex", "yield", "preempted", "sleep", "io", "other")
IDLE_WAKER = "[interrupt]"  # woken while the idle task was current: a timer, an IRQ
_SCHED_FRAMES = ("__schedule", "schedule", "preempt_schedule", "io_schedule",
                 "__cond_resched", "schedule_preempt_disabled")
_KERNEL_DSOS = ("[kernel.kallsyms]", "[kernel.vmlinux]")
_IO_HINTS = ("poll", "select", "epoll", "pipe_", "sock", "tcp_", "unix_", "wait_for_",
             "read", "write", "io_", "blk", "folio", "filemap")
_TIMER_HINTS = ("nanosleep", "hrtimer", "schedule_timeout", "msleep")
PERF_CHILD = "perf-exec"
FOLDED_MAX = 5000  # stacks kept with a stored run (the rest is the long tail)
USER_FRAMES = 4  # user frames kept per blocking path


@dataclass
class ThreadTime:
    tid: int
    pid: int
    comm: str
    on_cpu_s: float = 0.0
    off_cpu_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(REASONS, 0.0))
    wakeups: int = 0  # times this thread was woken
    switches_out: int = 0

    @property
    def off_total_s(self) -> float:
        return float(sum(self.off_cpu_s.values()))

    def to_dict(self) -> dict[str, object]:
        return {"tid": self.tid, "pid": self.pid, "comm": self.comm,
                "on_cpu_s": self.on_cpu_s, "off_cpu_s": self.off_total_s,
                "off_cpu_by_reason_s": dict(self.off_cpu_s), "wakeups": self.wakeups}


@dataclass
class BlockingPath:
    reason: str
    frames: list[str]  # kernel wait point first, then the user frames that led there
    seconds: float
    count: int

    def to_dict(self) -> dict[str, object]:
        return {"reason": self.reason, "frames": self.frames, "seconds": self.seconds,
                "count": self.count}


@dataclass
class OffCpu:
    """Per run: the scheduler's view of the chosen processes' threads."""

    threads: list[ThreadTime]
    window_s: float  # first to last event of those threads
    wakeups: int
    latencies_us: np.ndarray  # one per wake-up followed by a switch in
    wakers: list[tuple[str, str, int]]  # (waker, wakee, count), most first
    paths: list[BlockingPath]
    items: float | None = None  # work items, from the workload's JSON
    system_wide: bool = True
    unobserved_s: float = 0.0  # per-task recordings: off periods with no switch in seen
    notes: list[str] = field(default_factory=list)
    # Off-CPU time per whole blocking stack, folded ("comm;root;...;leaf"), µs.
    folded_us: dict[str, float] = field(default_factory=dict)

    @property
    def on_cpu_s(self) -> float:
        return float(sum(t.on_cpu_s for t in self.threads))

    @property
    def off_cpu_s(self) -> float:
        return float(sum(t.off_total_s for t in self.threads))

    @property
    def offcpu_share(self) -> float:
        """Percent of the threads' time (on + off CPU) spent off CPU."""
        total = self.on_cpu_s + self.off_cpu_s
        return 100.0 * self.off_cpu_s / total if total else 0.0

    def by_reason(self) -> dict[str, float]:
        """Percent of the threads' time off CPU for each reason."""
        total = self.on_cpu_s + self.off_cpu_s
        return {r: (100.0 * sum(t.off_cpu_s[r] for t in self.threads) / total if total else 0.0)
                for r in REASONS}

    @property
    def wakeups_per_s(self) -> float:
        return self.wakeups / self.window_s if self.window_s > 0 else 0.0

    @property
    def wakeups_per_item(self) -> float | None:
        return self.wakeups / self.items if self.items else None

    def latency_us(self, q: float) -> float | None:
        if self.latencies_us.size == 0:
            return None
        return float(np.percentile(self.latencies_us, q))

    def to_dict(self, top: int = 10) -> dict[str, object]:
        return {
            "offcpu_share": self.offcpu_share,
            "offcpu_by_reason": self.by_reason(),
            "on_cpu_s": self.on_cpu_s, "off_cpu_s": self.off_cpu_s,
            "wakeups": self.wakeups, "wakeups_per_s": self.wakeups_per_s,
            "wakeups_per_item": self.wakeups_per_item, "items": self.items,
            "wakeup_latency_us": {"p50": self.latency_us(50), "p99": self.latency_us(99)},
            "window_s": self.window_s, "system_wide": self.system_wide,
            "threads": [t.to_dict() for t in self.threads],
            "wakers": [{"waker": a, "wakee": b, "count": n} for a, b, n in self.wakers[:top]],
            "blocking_paths": [p.to_dict() for p in self.paths[:top]],
            "folded_us": dict(sorted(self.folded_us.items(), key=lambda kv: -kv[1])[:FOLDED_MAX]),
            "notes": list(self.notes),
        }


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
    return {p for p in set(events.pids.values()) if p > 0 and p not in kernel
            and events.comms.get(p) != "perf"}


def analyze_offcpu(events: SchedEvents, pids: set[int] | None = None,
                   items: float | None = None) -> OffCpu:
    """Per-thread on/off-CPU time, wake-ups and blocking paths of the threads of
    `pids` (None: every process except the idle task)."""
    frame = events.events
    if pids is None:
        pids = user_processes(events)
    tids = {t for t, p in events.pids.items() if p in pids and t > 0}
    times = frame["time"].to_numpy()
    kinds = frame["event"].to_numpy().copy()
    if not (kinds == WAKEUP).any():
        # perf sched record takes sched_waking alone where the kernel has it.
        kinds[kinds == WAKING] = WAKEUP
    prevs = frame["prev_tid"].to_numpy()
    states = frame["prev_state"].to_numpy()
    prev_comms = frame["prev_comm"].to_numpy()
    nexts = frame["next_tid"].to_numpy()
    wakers = frame["tid"].to_numpy()
    stack_ids = frame["stack"].to_numpy()

    threads: dict[int, ThreadTime] = {}
    running: dict[int, float] = {}
    off_since: dict[int, tuple[float, str, tuple[str, ...], int]] = {}
    folded: dict[str, float] = {}
    woken_at: dict[int, float] = {}
    waking: dict[int, int] = {}  # wakee -> the thread that started waking it
    latencies: list[float] = []
    pair_counts: Counter[tuple[str, str]] = Counter()
    path_time: dict[tuple[str, tuple[str, ...]], list[float]] = defaultdict(lambda: [0.0, 0])
    first, last = np.inf, -np.inf
    unobserved = 0.0
    wakeups = 0

    def thread(tid: int) -> ThreadTime:
        if tid not in threads:
            threads[tid] = ThreadTime(tid, events.pids.get(tid, -1), events.comms.get(tid, "?"))
        return threads[tid]

    for i in range(len(frame)):
        t = float(times[i])
        if kinds[i] == SWITCH:
            prev, nxt = int(prevs[i]), int(nexts[i])
            if prev in tids:
                first, last = min(first, t), max(last, t)
                rec = thread(prev)
                rec.switches_out += 1
                if prev in running:
                    rec.on_cpu_s += t - running.pop(prev)
                elif prev in off_since:
                    # A per-task recording: the switch in was never seen.
                    unobserved += t - off_since.pop(prev)[0]
                sid = int(stack_ids[i])
                stack = events.stacks[sid] if sid >= 0 else ()
                state = str(states[i])
                # Exiting threads never come back; perf's forked child ("perf-exec")
                # waits for perf to be ready before it execs the workload: perf's wait.
                if not state.startswith(("X", "Z")) and prev_comms[i] != PERF_CHILD:
                    off_since[prev] = (t, _reason(state, stack), _path(stack), sid)
            if nxt in tids:
                first, last = min(first, t), max(last, t)
                rec = thread(nxt)
                if nxt in off_since:
                    since, reason, path, sid = off_since.pop(nxt)
                    rec.off_cpu_s[reason] += t - since
                    key = fold(rec.comm, events.stacks[sid] if sid >= 0 else ())
                    folded[key] = folded.get(key, 0.0) + (t - since) * 1e6
                    slot = path_time[(reason, path)]
                    slot[0] += t - since
                    slot[1] += 1
                    woke = woken_at.pop(nxt, None)
                    if woke is not None and woke >= since:
                        latencies.append((t - woke) * 1e6)
                running[nxt] = t
        elif kinds[i] == WAKING:
            waking[int(nexts[i])] = int(wakers[i])
        else:
            target = int(nexts[i])
            if target in tids:
                first, last = min(first, t), max(last, t)
                wakeups += 1
                thread(target).wakeups += 1
                woken_at[target] = t
                waker = waking.pop(target, int(wakers[i]))
                pair_counts[(_label(events, waker), _label(events, target))] += 1

    paths = sorted((BlockingPath(r, list(p), s, int(n)) for (r, p), (s, n) in path_time.items()),
                   key=lambda b: -b.seconds)
    result = OffCpu(
        threads=sorted(threads.values(), key=lambda r: r.tid),
        window_s=float(last - first) if last > first else 0.0,
        wakeups=wakeups,
        latencies_us=np.asarray(latencies, dtype=np.float64),
        wakers=[(a, b, n) for (a, b), n in pair_counts.most_common()],
        paths=paths, items=items, system_wide=events.system_wide,
        unobserved_s=unobserved, folded_us=folded,
    )
    if not result.system_wide:
        result.notes.append(
            "scheduler events recorded per task: wake-ups from interrupts (timers, I/O) and "
            "switches in from other tasks are missing; record with lseprof run --sched or "
            "perf sched record for the whole picture")
    if not (stack_ids >= 0).any() and len(frame):
        result.notes.append("no callchains on the switch events (record with -g): reasons "
                            "come from the thread state alone (S: other, D: io, R: preempted)")
    if not tids:
        result.notes.append("no thread of the profiled processes appears in the scheduler "
                            "events")
    return result
