"""Attribution of one recorded run, through the same layers as `lseprof report`.

A run whose perf.data cannot be analysed (a workload that died at once, a
truncated file) still gets stored: the analysis failure becomes its message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lseprof.errors import LseprofError
from lseprof.store import (
    StoredCaller,
    StoredHelper,
    StoredSymbol,
    callers_from,
    helpers_from,
    symbols_from,
)

# Caller analysis needs the sampled frame and its caller only; a short stack
# keeps `perf script` output (and parse time) small.
RUN_MAX_STACK = 8


@dataclass
class RunAnalysis:
    samples: int | None = None
    lost_samples: int | None = None
    atomic_helper_share: float | None = None
    categories: dict[str, float] = field(default_factory=dict)
    helpers: list[StoredHelper] = field(default_factory=list)
    helper_callers: list[StoredCaller] = field(default_factory=list)
    top_symbols: list[StoredSymbol] = field(default_factory=list)
    # Emulated runs (see lseprof.analysis.emulation_shares); None for native ones.
    emulator_share: float | None = None
    guest_named_share: float | None = None
    message: str = ""


def analyze_run(
    perf_data: Path | None, binary: Path | None, perf_map: Path | None, emulated: bool
) -> RunAnalysis:
    """Samples, category shares, helpers and their callers for one run."""
    if perf_data is None:
        return RunAnalysis()
    from lseprof.analysis.pipeline import analyze_file  # pandas & co.: only when there is work

    try:
        report = analyze_file(
            perf_data,
            binaries=[binary] if binary else [],
            perf_maps=[perf_map] if perf_map else [],
            max_stack=RUN_MAX_STACK,
        )
    except LseprofError as exc:
        return RunAnalysis(message=f"analysis failed: {exc.message}")
    if not report.sections:
        return RunAnalysis(message="perf recorded no samples")
    section = report.sections[0]
    message = ""
    if emulated and section.emulated_share < 50.0:
        message = (
            f"only {section.emulated_share:.0f}% of samples are emulated guest code; "
            "the rest is qemu itself"
        )
    return RunAnalysis(
        samples=int(section.samples),
        lost_samples=section.lost_samples,
        atomic_helper_share=section.atomic_helper_share,
        categories=dict(section.categories),
        helpers=helpers_from([asdict(h) for h in section.helpers]),
        helper_callers=callers_from([asdict(c) for c in section.helper_callers]),
        top_symbols=symbols_from([asdict(s) for s in section.top_symbols[:10]]),
        emulator_share=section.emulator_share,
        guest_named_share=section.guest_named_share,
        message=message,
    )


def analyze_sched(
    sched_data: Path | None, root_pid: int | None, items: float | None
) -> tuple[dict[str, Any] | None, str]:
    """Off-CPU time and wake-ups of the workload's processes from a run's sched.data
    (see lseprof.analysis.offcpu.model); (None, why) when there is nothing to analyse."""
    if sched_data is None or not sched_data.exists():
        return None, ""
    from lseprof.analysis.offcpu import analyze_sched_file

    try:
        return analyze_sched_file(sched_data, root_pid, items), ""
    except LseprofError as exc:
        return None, f"scheduler events not analysed: {exc.message}"
