"""Off-CPU time and wake-ups from scheduler events: the waiting a sampled profile
cannot see.

Walks the switch and wake-up events of :mod:`lseprof.readers.sched_events` in time
order, per thread of the chosen processes:

* on-CPU: from a switch into the thread to its next switch out;
* off-CPU: from a switch out to the next switch in, put under the reason of the
  switch out (its ``prev_state`` and the kernel frames it slept in): ``futex``
  (mutexes, condition variables, parking), ``yield`` (``sched_yield``),
  ``preempted`` (runnable, taken off the CPU), ``sleep`` (nanosleep and other
  timers), ``io`` (uninterruptible or waiting on a file, pipe, socket or poll),
  ``other``;
* wake-ups: each ``sched_wakeup`` of a thread, with its waker: the thread current
  at the ``sched_waking`` before it (``sched_wakeup`` itself often runs on the
  wakee's CPU, queued there by the waker); tid 0, the idle task, stands for an
  interrupt such as a timer; without ``sched_waking`` events, the thread current
  at ``sched_wakeup``;
* wake-up latency: from the wake-up to the switch in that follows it (perf sched's
  "sch delay").

This is what ``perf sched timehist`` computes per switch (wait time + sch delay =
off-CPU, run time = on-CPU); the tests compare the two on the same file.

Modules: the analysis (``model``) and which events go with a profile (``source``).
"""

from lseprof.analysis.offcpu.model import IDLE_WAKER, analyze_offcpu, user_processes
from lseprof.analysis.offcpu.source import (
    SchedScope,
    analyze_sched_file,
    offcpu_for,
    run_items,
    sched_file_for,
)

__all__ = [
    "IDLE_WAKER",
    "SchedScope",
    "analyze_offcpu",
    "analyze_sched_file",
    "offcpu_for",
    "run_items",
    "sched_file_for",
    "user_processes",
]
