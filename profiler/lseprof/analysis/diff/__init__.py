"""`lseprof diff` as a library: what changed from A to B.

A and B are each one of (see :func:`load_side`):

* a run group from the store: a group id, or a run id or unique prefix (a run
  stands for its whole group: the repetitions of one variant x threads x target
  of one ``lseprof run``);
* a run directory (it holds ``run.json``): its group from the store when the
  store has it, else that one run;
* a perf.data, ``perf script`` or ``perf report`` text file: samples only;
* an ELF binary: a static diff of the two files' atomics (``inspect``).

Run groups give throughput (:func:`lseprof.analysis.stats.compare_throughput`) and
samples; profiles give samples; binaries give call sites. A run group and a
profile compare as samples. A binary compares only with a binary.

Sample shares are percent of all samples of the event, and every difference is
B minus A in percentage points of all samples: absolute, like ``perf diff
--percentage absolute``, never relative to a symbol's own share. For a run group
the stored per-run shares are averaged over the group's ok runs, each run
weighing the same whatever its sample count (the runs are repetitions of one
configuration, so none should count more for having been sampled longer).

Modules: the comparison (``build``), its result types (``results``), loading A and
B (``sides``) and the decomposition of a throughput change (``explain``).
"""

from lseprof.analysis.diff.build import build_diff, check_regression, sched_deltas
from lseprof.analysis.diff.coherence import (
    CoherenceDelta,
    coherence_sentence,
    compare_coherence,
    welch_interval,
)
from lseprof.analysis.diff.explain import Decomposition, SideTime, side_time
from lseprof.analysis.diff.results import (
    DEFAULT_ALPHA,
    DEFAULT_HELPER_THRESHOLD_PP,
    CallerDelta,
    CountDelta,
    Diff,
    DiffKind,
    HelperDelta,
    HelperSites,
    HelperStatus,
    Regression,
    SchedDelta,
    ShareDelta,
    SideKind,
    StaticDiff,
)
from lseprof.analysis.diff.sides import Shares, Side

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_HELPER_THRESHOLD_PP",
    "CallerDelta",
    "CoherenceDelta",
    "CountDelta",
    "Decomposition",
    "Diff",
    "DiffKind",
    "HelperDelta",
    "HelperSites",
    "HelperStatus",
    "Regression",
    "SchedDelta",
    "ShareDelta",
    "Shares",
    "Side",
    "SideKind",
    "SideTime",
    "StaticDiff",
    "build_diff",
    "check_regression",
    "coherence_sentence",
    "compare_coherence",
    "sched_deltas",
    "side_time",
    "welch_interval",
]
