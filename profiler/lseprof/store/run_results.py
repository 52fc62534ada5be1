"""Typed records for what a stored run holds in its JSON columns: helper and caller
entries, its top symbols, the off-CPU figures of a ``--sched`` run, the run without
perf of an ``--overhead`` run, and the rest of ``extra``.

Reporters, diff and the dashboard read these attributes instead of ``.get()`` on
dicts, so a renamed key is a type error, not a silent ``None``. Records are read
back from JSON written by any earlier version and by hand-edited files: values of
the wrong type become None (or are left out of a list), keys this version does not
know are kept (``RunExtra.other``, ``OffCpuFigures.data``) and written back as they
were, so a store never loses what a newer lseprof put in it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None and number == int(number) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _unknown(value: Mapping[Any, Any], known: tuple[str, ...]) -> dict[str, Any]:
    """The keys of a stored entry that this version does not read, kept as they were."""
    return {str(k): v for k, v in value.items() if k not in known}


_HELPER_KEYS = (
    "symbol",
    "name",
    "op",
    "size",
    "order",
    "share",
    "percent",
    "samples",
    "lse_path_share",
    "llsc_path_share",
    "flag_path_share",
    "dso",
    "guest_share",
)
_CALLER_KEYS = ("helper", "caller", "share", "basis", "caller_raw", "dso")
_SYMBOL_KEYS = ("symbol", "dso", "category", "share", "symbol_raw", "guest_share")


@dataclass(frozen=True)
class StoredHelper:
    """One outline-atomic helper of a run (``lseprof.analysis.attribution.HelperShare``
    as stored): shares are percent of all samples of the run's event."""

    symbol: str
    op: str | None = None
    size: int | None = None
    order: str | None = None
    share: float = 0.0
    samples: float | None = None
    lse_path_share: float | None = None
    llsc_path_share: float | None = None
    flag_path_share: float | None = None
    dso: str | None = None  # the object holding this copy of the helper
    guest_share: float | None = None  # emulated runs: percent of guest samples
    other: dict[str, Any] = field(default_factory=dict, repr=False)  # unknown keys

    @classmethod
    def from_value(cls, value: Any) -> StoredHelper | None:
        """The entry for one stored item; a bare name is a helper with no share
        (lseprof 0.1 stored names only), anything else is not an entry (None)."""
        if isinstance(value, str):
            return cls(value)
        if not isinstance(value, Mapping):
            return None
        symbol = _text(value.get("symbol")) or _text(value.get("name"))
        if symbol is None:
            return None
        share = _num(value.get("share"))
        return cls(
            symbol,
            _text(value.get("op")),
            _int(value.get("size")),
            _text(value.get("order")),
            share if share is not None else (_num(value.get("percent")) or 0.0),
            _num(value.get("samples")),
            _num(value.get("lse_path_share")),
            _num(value.get("llsc_path_share")),
            _num(value.get("flag_path_share")),
            _text(value.get("dso")),
            _num(value.get("guest_share")),
            _unknown(value, _HELPER_KEYS),
        )

    @property
    def kind(self) -> str:
        """``op/size/order``, the parts that are known (``"-"`` when none is)."""
        parts = [str(p) for p in (self.op, self.size, self.order) if p is not None]
        return "/".join(parts) or "-"

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "symbol": self.symbol,
            "op": self.op,
            "size": self.size,
            "order": self.order,
            "share": self.share,
            "samples": self.samples,
            "lse_path_share": self.lse_path_share,
            "llsc_path_share": self.llsc_path_share,
            "flag_path_share": self.flag_path_share,
            "dso": self.dso,
            "guest_share": self.guest_share,
        }


@dataclass(frozen=True)
class StoredCaller:
    """A caller of a helper (``CallerShare`` as stored). ``share`` is None for static
    call sites read from the ELF, which have no sample share."""

    helper: str
    caller: str
    share: float | None = None
    basis: str | None = None  # "callchain", "call-graph" or "static"
    caller_raw: str | None = None
    dso: str | None = None
    other: dict[str, Any] = field(default_factory=dict, repr=False)  # unknown keys

    @classmethod
    def from_value(cls, value: Any) -> StoredCaller | None:
        if not isinstance(value, Mapping):
            return None
        helper, caller = _text(value.get("helper")), _text(value.get("caller"))
        if helper is None or caller is None:
            return None
        return cls(
            helper,
            caller,
            _num(value.get("share")),
            _text(value.get("basis")),
            _text(value.get("caller_raw")),
            _text(value.get("dso")),
            _unknown(value, _CALLER_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "helper": self.helper,
            "caller": self.caller,
            "share": self.share,
            "basis": self.basis,
            "caller_raw": self.caller_raw,
            "dso": self.dso,
        }


@dataclass(frozen=True)
class StoredSymbol:
    """One of a run's heaviest symbols (``SymbolShare`` as stored)."""

    symbol: str
    dso: str
    category: str | None = None
    share: float = 0.0
    symbol_raw: str | None = None
    guest_share: float | None = None  # emulated runs: percent of guest samples
    other: dict[str, Any] = field(default_factory=dict, repr=False)  # unknown keys

    @classmethod
    def from_value(cls, value: Any) -> StoredSymbol | None:
        if not isinstance(value, Mapping) or _text(value.get("symbol")) is None:
            return None
        return cls(
            value["symbol"],
            _text(value.get("dso")) or "[unknown]",
            _text(value.get("category")),
            _num(value.get("share")) or 0.0,
            _text(value.get("symbol_raw")),
            _num(value.get("guest_share")),
            _unknown(value, _SYMBOL_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "symbol": self.symbol,
            "dso": self.dso,
            "category": self.category,
            "share": self.share,
            "symbol_raw": self.symbol_raw,
            "guest_share": self.guest_share,
        }


@dataclass(frozen=True)
class OffCpuFigures:
    """The off-CPU analysis of a ``--sched`` run (``OffCpu.to_dict`` as stored): the
    figures that tables, diffs and verdicts compare, typed; the whole analysis
    (per-thread times, wakers, blocking paths, folded stacks) in ``data``."""

    offcpu_share: float | None  # percent of the threads' time spent off CPU
    wakeups: float | None
    wakeups_per_s: float | None
    wakeups_per_item: float | None
    items: float | None
    wakeup_p50_us: float | None
    wakeup_p99_us: float | None
    on_cpu_s: float | None
    off_cpu_s: float | None
    data: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> OffCpuFigures | None:
        if not isinstance(value, Mapping):
            return None
        latency = value.get("wakeup_latency_us")
        latency = latency if isinstance(latency, Mapping) else {}
        return cls(
            _num(value.get("offcpu_share")),
            _num(value.get("wakeups")),
            _num(value.get("wakeups_per_s")),
            _num(value.get("wakeups_per_item")),
            _num(value.get("items")),
            _num(latency.get("p50")),
            _num(latency.get("p99")),
            _num(value.get("on_cpu_s")),
            _num(value.get("off_cpu_s")),
            dict(value),
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


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
            _text(value.get("status")),
            _text(value.get("run_dir")),
            _num(value.get("throughput_mib_s")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "run_dir": self.run_dir,
            "throughput_mib_s": self.throughput_mib_s,
        }


def _entries(value: Any, kind: Any) -> list[Any]:
    """Typed entries of a stored list: items already typed are kept, items of
    another shape are left out."""
    items = value if isinstance(value, list | tuple) else []
    return [e for v in items if (e := v if isinstance(v, kind) else kind.from_value(v)) is not None]


def helpers_from(value: Any) -> list[StoredHelper]:
    """Typed helper entries from a stored list (items of another shape are left out)."""
    return _entries(value, StoredHelper)


def callers_from(value: Any) -> list[StoredCaller]:
    """Typed caller entries from a stored list (items of another shape are left out)."""
    return _entries(value, StoredCaller)


def symbols_from(value: Any) -> list[StoredSymbol]:
    """Typed top-symbol entries from a stored list (items of another shape are left out)."""
    return _entries(value, StoredSymbol)


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
)


@dataclass
class RunExtra:
    """Everything of a run that has no column of its own (the ``extra`` JSON column)."""

    argv: list[str] | None = None  # the command that ran (workload or user command)
    command: str | None = None  # older records: the command as one text
    workload_report: dict[str, Any] | None = None  # the workload's own JSON line, as printed
    record_seconds: float | None = None  # wall time of the recorded run
    perf_map: str | None = None  # qemu's perf map (emulated runs)
    top_symbols: list[StoredSymbol] = field(default_factory=list)
    emulator_share: float | None = None  # emulated runs: percent of samples in qemu itself
    guest_named_share: float | None = None  # emulated runs: percent of guest samples named
    freq: float | None = None  # perf record -F
    call_graph: str | None = None  # perf record --call-graph
    offcpu: OffCpuFigures | None = None
    sched_data: str | None = None
    no_perf: NoPerfRun | None = None
    judgement: dict[str, Any] | None = None  # the nightly settings the run was judged with
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
            command=_text(data.get("command"))
            or (
                " ".join(map(str, data["command"]))
                if isinstance(data.get("command"), list)
                else None
            ),
            workload_report=dict(report) if isinstance(report, Mapping) else None,
            record_seconds=_num(data.get("record_seconds")),
            perf_map=_text(data.get("perf_map")),
            top_symbols=symbols_from(data.get("top_symbols")),
            emulator_share=_num(data.get("emulator_share")),
            guest_named_share=_num(data.get("guest_named_share")),
            freq=_num(data.get("freq")),
            call_graph=_text(data.get("call_graph")),
            offcpu=OffCpuFigures.from_value(data.get("offcpu")),
            sched_data=_text(data.get("sched_data")),
            no_perf=NoPerfRun.from_value(data.get("no_perf")),
            judgement=dict(judgement) if isinstance(judgement, Mapping) else None,
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
                }
            ),
        }
