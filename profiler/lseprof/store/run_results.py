"""What a stored run holds in its ``extra`` JSON column besides the results of
:mod:`lseprof.results` (its top symbols, off-CPU view, measured region, heat map and
thread groups are those records): the
command that ran, the workload's own report, the run without perf of an
``--overhead`` run, and recording settings.

Read back as tolerantly as the results (:mod:`lseprof.results`): values of the wrong
type become None, keys this version does not know are kept in ``RunExtra.other`` and
written back as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lseprof.results import (
    CoherenceResult,
    Finding,
    HeatMap,
    OffCpuResult,
    Region,
    SymbolShare,
    ThreadShare,
    entries,
    number,
    text,
)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class NoPerfRun:
    """The same run without perf, made just before the profiled one (``--overhead``)."""

    status: str | None
    run_dir: str | None
    throughput_mib_s: float | None

    @classmethod
    def from_value(cls, value: Any) -> NoPerfRun | None:
        if not isinstance(value, Mapping):
            return None
        return cls(
            text(value.get("status")),
            text(value.get("run_dir")),
            number(value.get("throughput_mib_s")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "run_dir": self.run_dir,
            "throughput_mib_s": self.throughput_mib_s,
        }


_EXTRA_KEYS = (
    "argv",
    "command",
    "workload_report",
    "record_seconds",
    "perf_map",
    "top_symbols",
    "emulator_share",
    "guest_named_share",
    "freq",
    "call_graph",
    "offcpu",
    "sched_data",
    "no_perf",
    "judgement",
    "findings",
    "region",
    "heatmap",
    "thread_groups",
    "symfs",
    "kallsyms",
    "coherence",
)


@dataclass
class RunExtra:
    """Everything of a run that has no column of its own (the ``extra`` JSON column)."""

    argv: list[str] | None = None  # the command that ran (workload or user command)
    command: str | None = None  # older records: the command as one text
    workload_report: dict[str, Any] | None = None  # the workload's own JSON line, as printed
    record_seconds: float | None = None  # wall time of the recorded run
    perf_map: str | None = None  # qemu's perf map (emulated runs)
    top_symbols: list[SymbolShare] = field(default_factory=list)
    emulator_share: float | None = None  # emulated runs: percent of samples in qemu itself
    guest_named_share: float | None = None  # emulated runs: percent of guest samples named
    freq: float | None = None  # perf record -F
    call_graph: str | None = None  # perf record --call-graph
    offcpu: OffCpuResult | None = None
    sched_data: str | None = None
    no_perf: NoPerfRun | None = None
    judgement: dict[str, Any] | None = None  # the nightly settings the run was judged with
    findings: list[Finding] = field(default_factory=list)  # what the run's figures call for
    # The measured region perf recorded (None: the whole process, or an older run).
    region: Region | None = None
    heatmap: HeatMap | None = None  # samples over time (the dashboard's picture)
    thread_groups: list[ThreadShare] = field(default_factory=list)  # like-named threads
    # Recorded on another machine (the aarch64 machine of --target aarch64-vm): where
    # its files (--symfs) and its kallsyms are on this one, to name its samples.
    symfs: str | None = None
    kallsyms: str | None = None
    coherence: CoherenceResult | None = None  # cache lines between cores (--coherence runs)
    other: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    @classmethod
    def from_value(cls, value: Any) -> RunExtra:
        if isinstance(value, RunExtra):
            return value
        data = value if isinstance(value, Mapping) else {}
        argv = data.get("argv")
        report, judgement = data.get("workload_report"), data.get("judgement")
        return cls(
            argv=[str(a) for a in argv] if isinstance(argv, list) else None,
            command=text(data.get("command"))
            or (
                " ".join(map(str, data["command"]))
                if isinstance(data.get("command"), list)
                else None
            ),
            workload_report=dict(report) if isinstance(report, Mapping) else None,
            record_seconds=number(data.get("record_seconds")),
            perf_map=text(data.get("perf_map")),
            top_symbols=entries(data.get("top_symbols"), SymbolShare),
            emulator_share=number(data.get("emulator_share")),
            guest_named_share=number(data.get("guest_named_share")),
            freq=number(data.get("freq")),
            call_graph=text(data.get("call_graph")),
            offcpu=OffCpuResult.from_value(data.get("offcpu")),
            sched_data=text(data.get("sched_data")),
            no_perf=NoPerfRun.from_value(data.get("no_perf")),
            judgement=dict(judgement) if isinstance(judgement, Mapping) else None,
            findings=entries(data.get("findings"), Finding),
            region=Region.from_value(data.get("region")),
            heatmap=HeatMap.from_value(data.get("heatmap")),
            thread_groups=entries(data.get("thread_groups"), ThreadShare),
            symfs=text(data.get("symfs")),
            kallsyms=text(data.get("kallsyms")),
            coherence=CoherenceResult.from_value(data.get("coherence")),
            other={str(k): v for k, v in data.items() if k not in _EXTRA_KEYS},
        )

    @property
    def command_text(self) -> str | None:
        """The command that ran, as one line."""
        return " ".join(self.argv) if self.argv else self.command

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            **_drop_none(
                {
                    "argv": self.argv,
                    "command": self.command,
                    "workload_report": self.workload_report,
                    "record_seconds": self.record_seconds,
                    "perf_map": self.perf_map,
                    "top_symbols": [s.to_dict() for s in self.top_symbols] or None,
                    "emulator_share": self.emulator_share,
                    "guest_named_share": self.guest_named_share,
                    "freq": self.freq,
                    "call_graph": self.call_graph,
                    "offcpu": self.offcpu.to_dict() if self.offcpu else None,
                    "sched_data": self.sched_data,
                    "no_perf": self.no_perf.to_dict() if self.no_perf else None,
                    "judgement": self.judgement,
                    "findings": [f.to_dict() for f in self.findings] or None,
                    "region": self.region.to_dict() if self.region else None,
                    "heatmap": self.heatmap.to_dict() if self.heatmap else None,
                    "thread_groups": [t.to_dict() for t in self.thread_groups] or None,
                    "symfs": self.symfs,
                    "kallsyms": self.kallsyms,
                    "coherence": self.coherence.to_dict() if self.coherence else None,
                }
            ),
        }
