"""Attribution of one recorded run, through the same layers as `lseprof report`.

A run whose perf.data cannot be analysed (a workload that died at once, a
truncated file) still gets stored: the analysis failure becomes its message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lseprof.capture.record import workload_pid
from lseprof.errors import LseprofError
from lseprof.readers.perf_data import DEFAULT_MAX_STACK, SymbolFiles
from lseprof.results import Attribution, HeatMap, OffCpuResult, ThreadShare
from lseprof.store import RunRecord

# Short stacks keep `perf script` output (and parse time) small; 8 frames hold the
# caller and what kernel entry/exit code serves.
RUN_MAX_STACK = DEFAULT_MAX_STACK  # a run's analysis reads what `lseprof report` reads
TOP_SYMBOLS = 10  # kept with a stored run


@dataclass
class RunViews:
    """What a run keeps of its profile besides the section: its samples over time (the
    dashboard's heat map) and its threads grouped by name."""

    heatmap: HeatMap | None = None
    threads: list[ThreadShare] = field(default_factory=list)

    def thread_groups(self, offcpu: OffCpuResult | None) -> list[ThreadShare]:
        """The threads grouped by name, with the run's off-CPU time where it has some."""
        from lseprof.analysis.threads import group_threads, with_offcpu

        return group_threads(with_offcpu(list(self.threads), offcpu))


def analyze_run(
    perf_data: Path | None,
    binary: Path | None,
    perf_map: Path | None,
    emulated: bool,
    files: SymbolFiles | None = None,
) -> tuple[Attribution | None, str, RunViews]:
    """The run's first event section (samples, category shares, helpers and their
    callers), or None, a message for the run when something is off, and its views.
    `files`: the recording machine's, where it was another (the aarch64 machine)."""
    if perf_data is None:
        return None, "", RunViews()
    # pandas & co.: only when there is work.
    from lseprof.analysis.pipeline import Focus, analyze_file

    try:
        report = analyze_file(
            perf_data,
            binaries=[binary] if binary else [],
            symfs=files.symfs if files else None,
            kallsyms=files.kallsyms if files else None,
            perf_maps=[perf_map] if perf_map else [],
            max_stack=RUN_MAX_STACK,
            top=TOP_SYMBOLS,
            offcpu=False,  # a run's scheduler events are analysed apart (analyze_sched)
            focus=Focus(per_thread=True, over_time=True),
        )
    except LseprofError as exc:
        return None, f"analysis failed: {exc.message}", RunViews()
    if not report.sections:
        return None, "perf recorded no samples", RunViews()
    section = report.sections[0]
    views = RunViews(report.heatmap, list(section.threads))
    # The stored section keeps its figures; the groups are kept once, in the views.
    section.threads, section.thread_groups = [], []
    if emulated and section.emulated_share < 50.0:
        return (
            section,
            (
                f"only {section.emulated_share:.0f}% of samples are emulated guest code; "
                "the rest is qemu itself"
            ),
            views,
        )
    return section, "", views


def analyze_sched(
    sched_data: Path | None,
    root_pid: int | None,
    items: float | None,
    files: SymbolFiles | None = None,
) -> tuple[OffCpuResult | None, str]:
    """Off-CPU time and wake-ups of the workload's processes from a run's sched.data
    (see lseprof.analysis.offcpu); (None, why) when there is nothing to analyse."""
    if sched_data is None or not sched_data.exists():
        return None, ""
    from lseprof.analysis.offcpu import analyze_sched_file

    try:
        return analyze_sched_file(sched_data, root_pid, items, files=files), ""
    except LseprofError as exc:
        return None, f"scheduler events not analysed: {exc.message}"


def analyze_record(record: RunRecord, notes: Sequence[str] = ()) -> None:
    """Attribute a recorded run (its perf.data and scheduler events, as its record names
    them) and put the figures into the record: where the samples went, the helpers
    and their callers, off-CPU time, findings, the heat map and thread groups. `notes`
    (the recording's own) lead the record's message."""
    extra = record.extra
    files = symbol_files_of(record)
    section, message, views = analyze_run(
        Path(record.perf_data) if record.perf_data else None,
        _path(record.build.get("path")),
        _path(extra.perf_map),
        bool(record.emulated),
        files,
    )
    offcpu, offcpu_message = analyze_sched(
        _path(extra.sched_data),
        workload_pid(Path(str(record.run_dir))),
        _items(extra.workload_report),
        files,
    )
    record.message = "; ".join(m for m in (*notes, message, offcpu_message) if m) or None
    extra.offcpu = offcpu
    extra.heatmap = views.heatmap
    extra.thread_groups = views.thread_groups(offcpu)
    if section is None:
        return
    from lseprof.analysis.findings import with_offcpu  # numpy: not at start-up

    record.samples = int(section.samples)
    record.lost_samples = section.lost_samples
    record.atomic_helper_share = section.atomic_helper_share
    record.categories = dict(section.categories)
    record.helpers = list(section.helpers)
    record.helper_callers = list(section.helper_callers)
    extra.top_symbols = list(section.top_symbols)
    extra.emulator_share = section.emulator_share
    extra.guest_named_share = section.guest_named_share
    extra.findings = with_offcpu(section, offcpu)


def symbol_files_of(record: RunRecord) -> SymbolFiles | None:
    """Where a run recorded on another machine finds its files here (None: this one)."""
    symfs, kallsyms = _path(record.extra.symfs), _path(record.extra.kallsyms)
    return SymbolFiles(symfs, kallsyms) if symfs or kallsyms else None


def _path(value: Any) -> Path | None:
    return Path(str(value)) if value else None


def _items(report: dict[str, Any] | None) -> float | None:
    """Work items the workload reports (its JSON's "items"): wake-ups per item."""
    value = (report or {}).get("items")
    return float(value) if isinstance(value, int | float) and value > 0 else None
