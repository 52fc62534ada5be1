"""Attribution of one recorded run, through the same layers as `lseprof report`.

A run whose perf.data cannot be analysed (a workload that died at once, a
truncated file) still gets stored: the analysis failure becomes its message.
"""

from __future__ import annotations

from pathlib import Path

from lseprof.errors import LseprofError
from lseprof.readers.perf_data import DEFAULT_MAX_STACK
from lseprof.results import Attribution, OffCpuResult

# Caller analysis needs the sampled frame and its caller only; a short stack
# keeps `perf script` output (and parse time) small.
RUN_MAX_STACK = DEFAULT_MAX_STACK  # a run's analysis reads what `lseprof report` reads
TOP_SYMBOLS = 10  # kept with a stored run


def analyze_run(
    perf_data: Path | None, binary: Path | None, perf_map: Path | None, emulated: bool
) -> tuple[Attribution | None, str]:
    """The run's first event section (samples, category shares, helpers and their
    callers), or None, and a message for the run when something is off."""
    if perf_data is None:
        return None, ""
    from lseprof.analysis.pipeline import analyze_file  # pandas & co.: only when there is work

    try:
        report = analyze_file(
            perf_data,
            binaries=[binary] if binary else [],
            perf_maps=[perf_map] if perf_map else [],
            max_stack=RUN_MAX_STACK,
            top=TOP_SYMBOLS,
        )
    except LseprofError as exc:
        return None, f"analysis failed: {exc.message}"
    if not report.sections:
        return None, "perf recorded no samples"
    section = report.sections[0]
    if emulated and section.emulated_share < 50.0:
        return section, (
            f"only {section.emulated_share:.0f}% of samples are emulated guest code; "
            "the rest is qemu itself"
        )
    return section, ""


def analyze_sched(
    sched_data: Path | None, root_pid: int | None, items: float | None
) -> tuple[OffCpuResult | None, str]:
    """Off-CPU time and wake-ups of the workload's processes from a run's sched.data
    (see lseprof.analysis.offcpu); (None, why) when there is nothing to analyse."""
    if sched_data is None or not sched_data.exists():
        return None, ""
    from lseprof.analysis.offcpu import analyze_sched_file

    try:
        return analyze_sched_file(sched_data, root_pid, items), ""
    except LseprofError as exc:
        return None, f"scheduler events not analysed: {exc.message}"
