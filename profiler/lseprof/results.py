"""lseprof's results, as typed records: one declaration of each.

Analysis builds them (:mod:`lseprof.analysis.attribution`, :mod:`lseprof.analysis.offcpu`),
the store persists them (:mod:`lseprof.store`), and reporters, ``diff``, the
dashboard and ``nightly`` read their attributes. ``to_dict`` gives the JSON of
``lseprof report --json`` and of a stored run; ``from_value`` reads it back.

Reading is tolerant, because stores hold results from every version and from
hand-edited files: values of the wrong type become None, list entries of no known
shape are left out, and keys this version does not know are kept (``other``) and
written back as they were, so a store never loses what a newer lseprof put in it.

Shares are percentages of all samples (or weight) of one event; ``guest_*`` shares,
of emulated runs only, percentages of the guest's samples.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

CATEGORIES = ("atomic_helper", "inline_atomic", "lock", "futex", "spin", "work")
REASONS = ("futex", "yield", "preempted", "sleep", "io", "other")  # of off-CPU time
# How far a sample's address can be trusted to be the instruction that ran, which the
# helper path and instruction columns rest on.
IP_PRECISIONS = {
    "exact": "the instruction that ran (emulated guest code, precise sampling)",
    "skid": "an interrupt's address: may be a few instructions after the one that ran",
    "block": "an emulated PMU's: the start of the translated block that ran, not the "
    "instruction (a virtual CPU; its time is not hardware timing)",
}
# The host name of `lseprof vm`'s machine, kept in the header of every perf.data made
# there: its samples come from an emulated PMU ("block").
VM_HOSTNAME = "lseprof-vm"
# Unnamed samples above this share of an event: the report says so on its first lines.
UNNAMED_WARN_SHARE = 5.0

_T = TypeVar("_T")


# --------------------------------------------------------------------------- reading


def number(value: Any) -> float | None:
    """A finite number as a float; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def integer(value: Any) -> int | None:
    found = number(value)
    return int(found) if found is not None and found == int(found) else None


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _unknown(value: Mapping[Any, Any], known: tuple[str, ...]) -> dict[str, Any]:
    """The keys of a stored entry that this version does not read, kept as they were."""
    return {str(k): v for k, v in value.items() if k not in known}


def _floats(value: Any) -> dict[str, float]:
    items = value.items() if isinstance(value, Mapping) else ()
    return {str(k): f for k, v in items if (f := number(v)) is not None}


def entries(value: Any, kind: Any) -> list[Any]:
    """Typed entries of a stored list: items already typed are kept, items of another
    shape are left out."""
    items = value if isinstance(value, list | tuple) else []
    return [e for v in items if (e := v if isinstance(v, kind) else kind.from_value(v)) is not None]


def clean(value: Any) -> Any:
    """A result's JSON form: floats rounded to 4 places, NaN and infinities None."""
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def clean_significant(value: Any, digits: int = 6) -> Any:
    """Like :func:`clean`, with floats rounded to ``digits`` significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean_significant(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_significant(v, digits) for v in value]
    return value


# --------------------------------------------------------------------------- samples


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


@dataclass
class HelperShare:
    """One outline-atomic helper (``__aarch64_ldadd8_acq_rel``). Path shares are percent
    of all samples too: lse + llsc + flag (+ samples whose path is unknown) = share."""

    symbol: str
    op: str | None = None
    size: int | None = None
    order: str | None = None
    share: float = 0.0
    samples: float | None = None
    lse_path_share: float | None = None
    llsc_path_share: float | None = None
    flag_path_share: float | None = None
    # The object holding this copy (each executable and shared object links its own).
    dso: str | None = None
    guest_share: float | None = None
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> HelperShare | None:
        """The entry for one stored item; a bare name is a helper with no share
        (lseprof 0.1 stored names only), anything else is not an entry (None)."""
        if isinstance(value, str):
            return cls(value)
        if not isinstance(value, Mapping):
            return None
        symbol = text(value.get("symbol")) or text(value.get("name"))
        if symbol is None:
            return None
        share = number(value.get("share"))
        return cls(
            symbol,
            text(value.get("op")),
            integer(value.get("size")),
            text(value.get("order")),
            share if share is not None else (number(value.get("percent")) or 0.0),
            number(value.get("samples")),
            number(value.get("lse_path_share")),
            number(value.get("llsc_path_share")),
            number(value.get("flag_path_share")),
            text(value.get("dso")),
            number(value.get("guest_share")),
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


_CALLER_KEYS = ("helper", "caller", "share", "basis", "caller_raw", "dso")


@dataclass
class CallerShare:
    """A caller of a helper. ``basis``: "callchain", "call-graph" (perf report text) or
    "static" (bl sites in the ELF, which have no sample share: ``share`` None)."""

    helper: str
    caller: str
    share: float | None = None
    basis: str | None = None
    caller_raw: str | None = None  # the caller's name as recorded (mangled)
    dso: str | None = None  # the helper's object, for static callers
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> CallerShare | None:
        if not isinstance(value, Mapping):
            return None
        helper, caller = text(value.get("helper")), text(value.get("caller"))
        if helper is None or caller is None:
            return None
        return cls(
            helper,
            caller,
            number(value.get("share")),
            text(value.get("basis")),
            text(value.get("caller_raw")),
            text(value.get("dso")),
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


_SYMBOL_KEYS = ("symbol", "dso", "category", "share", "symbol_raw", "guest_share")


@dataclass
class SymbolShare:
    """One of the heaviest functions (self time)."""

    symbol: str
    dso: str = "[unknown]"
    category: str | None = None
    share: float = 0.0
    symbol_raw: str | None = None  # the name as recorded (mangled)
    guest_share: float | None = None
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> SymbolShare | None:
        if not isinstance(value, Mapping) or text(value.get("symbol")) is None:
            return None
        return cls(
            value["symbol"],
            text(value.get("dso")) or "[unknown]",
            text(value.get("category")),
            number(value.get("share")) or 0.0,
            text(value.get("symbol_raw")),
            number(value.get("guest_share")),
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


_INLINE_KEYS = ("symbol", "insn", "share")


@dataclass
class InlineAtomic:
    """Samples on an atomic instruction inlined in a function (LSE, LDXR/STXR, lock)."""

    symbol: str
    insn: str
    share: float = 0.0
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> InlineAtomic | None:
        if not isinstance(value, Mapping):
            return None
        symbol, insn = text(value.get("symbol")), text(value.get("insn"))
        if symbol is None or insn is None:
            return None
        return cls(symbol, insn, number(value.get("share")) or 0.0, _unknown(value, _INLINE_KEYS))

    def to_dict(self) -> dict[str, Any]:
        return {**self.other, "symbol": self.symbol, "insn": self.insn, "share": self.share}


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


_LINE_KEYS = ("address", "text", "percent", "share", "kind", "atomic", "path")


@dataclass
class AnnotatedLine:
    """One instruction of an annotated function (``perf annotate``). ``percent`` is its
    share of the function's samples as printed, ``share`` of the section's samples;
    ``kind``: "atomic", "skid" (the instruction after an atomic, where interrupt skid
    puts the atomic's samples), "spin" (inside a spin loop) or None; ``path`` for an
    outline-atomic helper: "lse", "llsc" or "flag" (see :class:`HelperShare`)."""

    address: int | None
    text: str
    percent: float | None = None
    share: float | None = None
    kind: str | None = None
    atomic: str | None = None  # the atomic's family (lse, exclusive_load, x86_lock, ...)
    path: str | None = None
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> AnnotatedLine | None:
        if not isinstance(value, Mapping) or (line := text(value.get("text"))) is None:
            return None
        return cls(
            integer(value.get("address")),
            line,
            number(value.get("percent")),
            number(value.get("share")),
            text(value.get("kind")),
            text(value.get("atomic")),
            text(value.get("path")),
            _unknown(value, _LINE_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "address": self.address,
            "text": self.text,
            "percent": self.percent,
            "share": self.share,
            "kind": self.kind,
            "atomic": self.atomic,
            "path": self.path,
        }


_ATOMIC_KEYS = ("address", "insn", "family", "op", "size", "order", "percent", "skid_percent")


@dataclass
class AnnotatedAtomic:
    """An atomic instruction of an annotated function: its samples as printed, and
    those of the instruction after it (interrupt skid: on x86 a ``lock add`` shows
    its samples on the next instruction)."""

    address: int | None
    insn: str
    family: str
    op: str | None = None
    size: int | None = None
    order: str | None = None
    percent: float | None = None
    skid_percent: float | None = None
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> AnnotatedAtomic | None:
        if not isinstance(value, Mapping):
            return None
        insn, family = text(value.get("insn")), text(value.get("family"))
        if insn is None or family is None:
            return None
        return cls(
            integer(value.get("address")),
            insn,
            family,
            text(value.get("op")),
            integer(value.get("size")),
            text(value.get("order")),
            number(value.get("percent")),
            number(value.get("skid_percent")),
            _unknown(value, _ATOMIC_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "address": self.address,
            "insn": self.insn,
            "family": self.family,
            "op": self.op,
            "size": self.size,
            "order": self.order,
            "percent": self.percent,
            "skid_percent": self.skid_percent,
        }


_LOOP_KEYS = ("first", "last", "hint", "polls", "instructions", "percent")


@dataclass
class SpinLoop:
    """A spin loop: a short backward loop around a spin hint (``isb``, ``yield``,
    ``wfe``, ``sb``, ``pause``); ``polls``: a load in it (a spin-wait on memory, else a
    delay loop). ``first``/``last``: the addresses (or labels) that bound it."""

    first: int | None
    last: int | None
    hint: str
    polls: bool = True
    instructions: int = 0
    percent: float | None = None
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> SpinLoop | None:
        if not isinstance(value, Mapping) or (hint := text(value.get("hint"))) is None:
            return None
        return cls(
            integer(value.get("first")),
            integer(value.get("last")),
            hint,
            bool(_flag(value.get("polls"))),
            integer(value.get("instructions")) or 0,
            number(value.get("percent")),
            _unknown(value, _LOOP_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "first": self.first,
            "last": self.last,
            "hint": self.hint,
            "polls": self.polls,
            "instructions": self.instructions,
            "percent": self.percent,
        }


_FUNCTION_KEYS = (
    "symbol",
    "dso",
    "event",
    "arch",
    "layout",
    "samples",
    "share",
    "percentages",
    "category",
    "helper",
    "atomics",
    "spin_loops",
    "instructions",
)
_HELPER_PATH_KEYS = (
    "lse_path_percent",
    "llsc_path_percent",
    "flag_path_percent",
    "has_lse_path",
    "has_llsc_path",
    "has_flag_test",
)


@dataclass
class AnnotatedFunction:
    """A function as ``perf annotate`` showed it: per-instruction shares, its atomics,
    its spin loops and, for an outline-atomic helper, its paths (``helper``: the
    percentages of the function's samples on the LSE instruction's path, the LL/SC
    loop and the flag test, and which of them the listing shows). Percentages are of
    the function's samples; None throughout where the listing printed none."""

    symbol: str
    dso: str = "[unknown]"
    event: str = ""
    arch: str | None = None
    layout: str | None = None  # stdio, tui or fragment
    samples: float | None = None  # the function's samples, where printed
    share: float | None = None  # of the section's samples
    percentages: bool = True
    category: str | None = None  # what the rules make of the function's name
    helper: dict[str, Any] = field(default_factory=dict)
    atomics: list[AnnotatedAtomic] = field(default_factory=list)
    spin_loops: list[SpinLoop] = field(default_factory=list)
    instructions: list[AnnotatedLine] = field(default_factory=list)
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> AnnotatedFunction | None:
        if not isinstance(value, Mapping) or (symbol := text(value.get("symbol"))) is None:
            return None
        helper = value.get("helper")
        return cls(
            symbol,
            text(value.get("dso")) or "[unknown]",
            text(value.get("event")) or "",
            text(value.get("arch")),
            text(value.get("layout")),
            number(value.get("samples")),
            number(value.get("share")),
            _flag(value.get("percentages")) is not False,
            text(value.get("category")),
            dict(helper) if isinstance(helper, Mapping) else {},
            entries(value.get("atomics"), AnnotatedAtomic),
            entries(value.get("spin_loops"), SpinLoop),
            entries(value.get("instructions"), AnnotatedLine),
            _unknown(value, _FUNCTION_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "symbol": self.symbol,
            "dso": self.dso,
            "event": self.event,
            "arch": self.arch,
            "layout": self.layout,
            "samples": self.samples,
            "share": self.share,
            "percentages": self.percentages,
            "category": self.category,
            "helper": dict(self.helper),
            "atomics": [a.to_dict() for a in self.atomics],
            "spin_loops": [loop.to_dict() for loop in self.spin_loops],
            "instructions": [i.to_dict() for i in self.instructions],
        }


_FINDING_KEYS = (
    "id",
    "title",
    "figure",
    "value",
    "threshold",
    "evidence",
    "remedy",
    "reference",
)


@dataclass
class Finding:
    """Something a profile shows that has a known remedy: which rule of the findings
    table fired (``id``), on which figure and value (against its threshold), the
    evidence quoted from the profile, what to try, and where to read more."""

    id: str
    title: str = ""
    figure: str = ""
    value: float | None = None
    threshold: float | None = None
    evidence: str = ""
    remedy: str = ""
    reference: str = ""
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> Finding | None:
        if not isinstance(value, Mapping) or (ident := text(value.get("id"))) is None:
            return None
        return cls(
            ident,
            text(value.get("title")) or "",
            text(value.get("figure")) or "",
            number(value.get("value")),
            number(value.get("threshold")),
            text(value.get("evidence")) or "",
            text(value.get("remedy")) or "",
            text(value.get("reference")) or "",
            _unknown(value, _FINDING_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "id": self.id,
            "title": self.title,
            "figure": self.figure,
            "value": self.value,
            "threshold": self.threshold,
            "evidence": self.evidence,
            "remedy": self.remedy,
            "reference": self.reference,
        }


@dataclass
class Attribution:
    """The result for one event section of a profile."""

    source_kind: str  # perf-data, perf-script, perf-report or perf-annotate
    event: str
    samples: float  # number of samples (exact unless samples_exact is False)
    samples_exact: bool
    lost_samples: int | None
    categories: dict[str, float]
    atomic_helper_share: float
    helpers: list[HelperShare] = field(default_factory=list)
    helper_callers: list[CallerShare] = field(default_factory=list)
    top_symbols: list[SymbolShare] = field(default_factory=list)
    inline_atomics: list[InlineAtomic] = field(default_factory=list)
    emulated_share: float = 0.0  # samples in emulated guest code (qemu -perfmap runs)
    # Emulated runs only (None otherwise); see lseprof.analysis.emulation_shares.
    emulator_share: float | None = None  # qemu's own code, percent of all samples
    guest_named_share: float | None = None  # percent of guest samples with a symbol
    guest_categories: dict[str, float] = field(default_factory=dict)  # percent of guest
    unknown_lines: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    perf_version: str | None = None
    path: str = ""
    notes: list[str] = field(default_factory=list)
    # Where the sampled addresses point (a key of IP_PRECISIONS); None where unknown.
    ip_precision: str | None = None
    unnamed_share: float = 0.0  # percent of samples no symbol names
    # What the reader must know before the tables (shown on the first lines).
    warnings: list[str] = field(default_factory=list)
    # perf annotate inputs (and listings pasted with a report): the functions shown.
    annotated: list[AnnotatedFunction] = field(default_factory=list)
    # What the figures above call for (lseprof.analysis.findings).
    findings: list[Finding] = field(default_factory=list)
    # ``lseprof report --per-thread``: each thread, and like-named threads together.
    threads: list[ThreadShare] = field(default_factory=list)
    thread_groups: list[ThreadShare] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The section's JSON object (``lseprof report --json``), in its key order;
        the per-thread tables only where they were made."""
        threads = (
            {
                "thread_groups": [t.to_dict() for t in self.thread_groups],
                "threads": [t.to_dict() for t in self.threads],
            }
            if self.threads or self.thread_groups
            else {}
        )
        return {
            "source_kind": self.source_kind,
            "path": self.path,
            "event": self.event,
            "samples": self.samples,
            "samples_exact": self.samples_exact,
            "lost_samples": self.lost_samples,
            "perf_version": self.perf_version,
            "ip_precision": self.ip_precision,
            "unnamed_share": self.unnamed_share,
            "warnings": list(self.warnings),
            "categories": dict(self.categories),
            "atomic_helper_share": self.atomic_helper_share,
            "helpers": [h.to_dict() for h in self.helpers],
            "helper_callers": [c.to_dict() for c in self.helper_callers],
            "inline_atomics": [i.to_dict() for i in self.inline_atomics],
            "top_symbols": [s.to_dict() for s in self.top_symbols],
            "emulated_share": self.emulated_share,
            "emulator_share": self.emulator_share,
            "guest_named_share": self.guest_named_share,
            "guest_categories": dict(self.guest_categories),
            "unknown_lines": self.unknown_lines,
            "unknown_examples": list(self.unknown_examples),
            "notes": list(self.notes),
            "findings": [f.to_dict() for f in self.findings],
            "annotated_functions": [a.to_dict() for a in self.annotated],
            **threads,
        }


# --------------------------------------------------------------------------- off-CPU


_THREAD_KEYS = ("tid", "pid", "comm", "on_cpu_s", "off_cpu_s", "off_cpu_by_reason_s", "wakeups")


@dataclass
class ThreadTimes:
    """One thread's time on and off CPU (off by reason, see :data:`REASONS`)."""

    tid: int
    pid: int = -1
    comm: str = "?"
    on_cpu_s: float = 0.0
    off_cpu_by_reason_s: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(REASONS, 0.0)
    )
    wakeups: int = 0  # times this thread was woken
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def off_cpu_s(self) -> float:
        return float(sum(self.off_cpu_by_reason_s.values()))

    @classmethod
    def from_value(cls, value: Any) -> ThreadTimes | None:
        if not isinstance(value, Mapping) or (tid := integer(value.get("tid"))) is None:
            return None
        return cls(
            tid,
            integer(value.get("pid")) or -1,
            text(value.get("comm")) or "?",
            number(value.get("on_cpu_s")) or 0.0,
            _floats(value.get("off_cpu_by_reason_s")),
            integer(value.get("wakeups")) or 0,
            _unknown(value, _THREAD_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "tid": self.tid,
            "pid": self.pid,
            "comm": self.comm,
            "on_cpu_s": self.on_cpu_s,
            "off_cpu_s": self.off_cpu_s,
            "off_cpu_by_reason_s": dict(self.off_cpu_by_reason_s),
            "wakeups": self.wakeups,
        }


@dataclass
class Wakers:
    """How often one thread (or an interrupt) woke another."""

    waker: str
    wakee: str
    count: int = 0

    @classmethod
    def from_value(cls, value: Any) -> Wakers | None:
        if not isinstance(value, Mapping):
            return None
        waker, wakee = text(value.get("waker")), text(value.get("wakee"))
        if waker is None or wakee is None:
            return None
        return cls(waker, wakee, integer(value.get("count")) or 0)

    def to_dict(self) -> dict[str, Any]:
        return {"waker": self.waker, "wakee": self.wakee, "count": self.count}


@dataclass
class BlockingPath:
    """Where threads went to sleep: the kernel wait point, then the user frames that led
    there, with the off-CPU time spent there."""

    reason: str
    frames: list[str]
    seconds: float = 0.0
    count: int = 0

    @classmethod
    def from_value(cls, value: Any) -> BlockingPath | None:
        if not isinstance(value, Mapping) or (reason := text(value.get("reason"))) is None:
            return None
        frames = value.get("frames")
        return cls(
            reason,
            [str(f) for f in frames] if isinstance(frames, list) else [],
            number(value.get("seconds")) or 0.0,
            integer(value.get("count")) or 0,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "frames": list(self.frames),
            "seconds": self.seconds,
            "count": self.count,
        }


_OFFCPU_KEYS = (
    "offcpu_share",
    "offcpu_by_reason",
    "on_cpu_s",
    "off_cpu_s",
    "wakeups",
    "wakeups_per_s",
    "wakeups_per_item",
    "items",
    "wakeup_latency_us",
    "window_s",
    "system_wide",
    "threads",
    "wakers",
    "blocking_paths",
    "folded_us",
    "notes",
)


@dataclass
class OffCpuResult:
    """The scheduler's view of a profile's threads (``lseprof report`` with scheduler
    events, ``lseprof run --sched``): off-CPU time by reason, wake-ups, who wakes
    whom, where threads slept, and off-CPU folded stacks (µs)."""

    offcpu_share: float | None = None  # percent of the threads' time spent off CPU
    offcpu_by_reason: dict[str, float] = field(default_factory=dict)  # percent, by reason
    on_cpu_s: float | None = None
    off_cpu_s: float | None = None
    wakeups: float | None = None
    wakeups_per_s: float | None = None
    wakeups_per_item: float | None = None
    items: float | None = None  # work items, from the workload's own report
    wakeup_p50_us: float | None = None  # wake-up to switch in
    wakeup_p99_us: float | None = None
    window_s: float | None = None  # first to last event of the threads
    system_wide: bool | None = None  # recorded on every CPU (idle switches seen)
    threads: list[ThreadTimes] = field(default_factory=list)
    wakers: list[Wakers] = field(default_factory=list)
    blocking_paths: list[BlockingPath] = field(default_factory=list)
    folded_us: dict[str, float] = field(default_factory=dict)  # "comm;root;...;leaf" -> µs
    notes: list[str] = field(default_factory=list)
    other: dict[str, Any] = field(default_factory=dict, repr=False)
    latency_other: dict[str, Any] = field(default_factory=dict, repr=False)  # p999, ...
    # (tid, switched out, switched in, reason), perf's seconds: a timeline's input, kept
    # only when asked for; not part of the JSON or the store.
    spans: list[tuple[int, float, float, str]] = field(default_factory=list, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> OffCpuResult | None:
        if isinstance(value, OffCpuResult):
            return value
        if not isinstance(value, Mapping):
            return None
        latency = value.get("wakeup_latency_us")
        latency = latency if isinstance(latency, Mapping) else {}
        notes = value.get("notes")
        return cls(
            number(value.get("offcpu_share")),
            _floats(value.get("offcpu_by_reason")),
            number(value.get("on_cpu_s")),
            number(value.get("off_cpu_s")),
            number(value.get("wakeups")),
            number(value.get("wakeups_per_s")),
            number(value.get("wakeups_per_item")),
            number(value.get("items")),
            number(latency.get("p50")),
            number(latency.get("p99")),
            number(value.get("window_s")),
            value.get("system_wide") if isinstance(value.get("system_wide"), bool) else None,
            entries(value.get("threads"), ThreadTimes),
            entries(value.get("wakers"), Wakers),
            entries(value.get("blocking_paths"), BlockingPath),
            _floats(value.get("folded_us")),
            [str(n) for n in notes] if isinstance(notes, list) else [],
            _unknown(value, _OFFCPU_KEYS),
            _unknown(latency, ("p50", "p99")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "offcpu_share": self.offcpu_share,
            "offcpu_by_reason": dict(self.offcpu_by_reason),
            "on_cpu_s": self.on_cpu_s,
            "off_cpu_s": self.off_cpu_s,
            "wakeups": self.wakeups,
            "wakeups_per_s": self.wakeups_per_s,
            "wakeups_per_item": self.wakeups_per_item,
            "items": self.items,
            "wakeup_latency_us": {
                **self.latency_other,
                "p50": self.wakeup_p50_us,
                "p99": self.wakeup_p99_us,
            },
            "window_s": self.window_s,
            "system_wide": self.system_wide,
            "threads": [t.to_dict() for t in self.threads],
            "wakers": [w.to_dict() for w in self.wakers],
            "blocking_paths": [p.to_dict() for p in self.blocking_paths],
            "folded_us": dict(self.folded_us),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- time


def _ints(value: Any) -> list[int]:
    items = value if isinstance(value, list | tuple) else []
    return [i for v in items if (i := integer(v)) is not None]


def _grid(value: Any) -> list[list[int]]:
    items = value if isinstance(value, list | tuple) else []
    return [_ints(column) for column in items]


_REGION_KEYS = ("mode", "start_s", "end_s", "enabled_s", "signals", "notes")


@dataclass
class Region:
    """The part of a run that perf recorded (``lseprof run``'s measured region): from
    the first ``enable`` to the last ``disable`` (or the workload's end), in seconds
    after the recorded command started. ``mode``: ``markers`` (the workload signalled
    it) or ``delay`` (``--delay``); whole-process runs have no region."""

    mode: str
    start_s: float | None = None
    end_s: float | None = None
    enabled_s: float = 0.0  # time the events were on (a region may pause and resume)
    signals: int = 0  # enable and disable commands sent
    notes: list[str] = field(default_factory=list)
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> Region | None:
        if isinstance(value, Region):
            return value
        if not isinstance(value, Mapping) or (mode := text(value.get("mode"))) is None:
            return None
        notes = value.get("notes")
        return cls(
            mode,
            number(value.get("start_s")),
            number(value.get("end_s")),
            number(value.get("enabled_s")) or 0.0,
            integer(value.get("signals")) or 0,
            [str(n) for n in notes] if isinstance(notes, list) else [],
            _unknown(value, _REGION_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "mode": self.mode,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "enabled_s": self.enabled_s,
            "signals": self.signals,
            "notes": list(self.notes),
        }


@dataclass
class TimeWindow:
    """The stretch of a profile a report covers (``--time-range``): seconds from the
    profile's first sample (``origin``, perf's timestamp), both ends included."""

    start_s: float
    end_s: float
    origin: float
    asked: str = ""  # as given on the command line (``1,2``, ``10%,90%``)
    # The same window as ``perf script --time`` takes it (perf's timestamps, exact).
    perf_time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "origin": self.origin,
            "asked": self.asked,
            "perf_time": self.perf_time,
        }


_HEATMAP_KEYS = (
    "event",
    "origin",
    "first_column",
    "columns",
    "rows",
    "column_s",
    "counts",
    "window",
)


@dataclass
class HeatMap:
    """Samples over time as FlameScope draws them: one column per second, one row per
    sub-second slice of ``column_s / rows`` seconds, a count per cell. Column ``c``,
    row ``r`` covers ``first_column + c + r * column_s / rows`` seconds from the
    profile's first sample (``origin``, perf's timestamp). ``counts`` has the cells of
    all samples (``all``) and of each category with samples, as lists of columns."""

    event: str
    origin: float
    first_column: int
    columns: int
    rows: int = 50
    column_s: float = 1.0
    counts: dict[str, list[list[int]]] = field(default_factory=dict)
    window: tuple[float, float] | None = None  # the --time-range, from the first sample
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def row_s(self) -> float:
        return self.column_s / self.rows

    @classmethod
    def from_value(cls, value: Any) -> HeatMap | None:
        if isinstance(value, HeatMap):
            return value
        if not isinstance(value, Mapping):
            return None
        event, origin = text(value.get("event")), number(value.get("origin"))
        columns, rows = integer(value.get("columns")), integer(value.get("rows"))
        if event is None or origin is None or not columns or not rows:
            return None
        counts = value.get("counts")
        window = value.get("window")
        bounds = (
            [b for w in window if (b := number(w)) is not None] if isinstance(window, list) else []
        )
        return cls(
            event,
            origin,
            integer(value.get("first_column")) or 0,
            columns,
            rows,
            number(value.get("column_s")) or 1.0,
            {str(k): _grid(v) for k, v in counts.items()} if isinstance(counts, Mapping) else {},
            (bounds[0], bounds[1]) if len(bounds) == 2 else None,
            _unknown(value, _HEATMAP_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "event": self.event,
            "origin": self.origin,
            "first_column": self.first_column,
            "columns": self.columns,
            "rows": self.rows,
            "column_s": self.column_s,
            "counts": {k: [list(c) for c in v] for k, v in self.counts.items()},
            "window": list(self.window) if self.window is not None else None,
        }


_THREAD_SHARE_KEYS = (
    "name",
    "tid",
    "pid",
    "threads",
    "main",
    "samples",
    "share",
    "categories",
    "on_cpu_s",
    "off_cpu_s",
    "off_cpu_by_reason_s",
)


@dataclass
class ThreadShare:
    """One thread's part of a profile, or one group's: the threads whose names differ
    only in a number (``rayon-worker-*``). ``share``: percent of the event's samples;
    ``categories``: percent of this thread's (group's) own samples; off-CPU time where
    the profile has scheduler events."""

    name: str
    tid: int | None = None  # None for a group
    pid: int | None = None
    threads: int = 1
    main: bool = False  # the process's first thread (tid == pid)
    samples: float = 0.0
    share: float = 0.0
    categories: dict[str, float] = field(default_factory=dict)
    on_cpu_s: float | None = None
    off_cpu_s: float | None = None
    off_cpu_by_reason_s: dict[str, float] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> ThreadShare | None:
        if not isinstance(value, Mapping) or (name := text(value.get("name"))) is None:
            return None
        return cls(
            name,
            integer(value.get("tid")),
            integer(value.get("pid")),
            integer(value.get("threads")) or 1,
            value.get("main") is True,
            number(value.get("samples")) or 0.0,
            number(value.get("share")) or 0.0,
            _floats(value.get("categories")),
            number(value.get("on_cpu_s")),
            number(value.get("off_cpu_s")),
            _floats(value.get("off_cpu_by_reason_s")),
            _unknown(value, _THREAD_SHARE_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "name": self.name,
            "tid": self.tid,
            "pid": self.pid,
            "threads": self.threads,
            "main": self.main,
            "samples": self.samples,
            "share": self.share,
            "categories": dict(self.categories),
            "on_cpu_s": self.on_cpu_s,
            "off_cpu_s": self.off_cpu_s,
            "off_cpu_by_reason_s": dict(self.off_cpu_by_reason_s),
        }


@dataclass
class ThreadTrack:
    """One thread (or group) over time: samples per bin, and off-CPU seconds per bin
    by reason where the profile has scheduler events."""

    name: str
    tid: int | None
    samples: list[int] = field(default_factory=list)
    off_cpu_s: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tid": self.tid,
            "samples": list(self.samples),
            "off_cpu_s": {k: list(v) for k, v in self.off_cpu_s.items()},
        }


@dataclass
class Timeline:
    """Per-thread timeline: bin ``i`` covers ``start_s + i * bin_s`` to the next bin, in
    seconds from the profile's first sample."""

    start_s: float
    bin_s: float
    bins: int
    tracks: list[ThreadTrack] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "bin_s": self.bin_s,
            "bins": self.bins,
            "tracks": [t.to_dict() for t in self.tracks],
        }


# --------------------------------------------------------------------------- a profile


def report_json(
    sections: list[Attribution],
    offcpu: OffCpuResult | None,
    window: TimeWindow | None = None,
    coherence: CoherenceResult | None = None,
) -> str:
    """``lseprof report --json``: one object per event section (a list for several),
    each with the scheduler view under ``offcpu`` (and the ``--time-range`` it covers
    under ``time_range``, when one was asked for, and the cache lines between cores
    under ``coherence``, where the run has them); a file with scheduler events only
    gives ``{"offcpu": ...}``, a coherence file alone ``{"coherence": ...}``."""
    view = clean(offcpu.to_dict()) if offcpu is not None else None
    ranged = {"time_range": clean(window.to_dict())} if window is not None else {}
    # Significant digits, not 4 places: transfers per item are often 1e-5 or less.
    lines = {"coherence": clean_significant(coherence.to_dict())} if coherence else {}
    objs = [{**clean(s.to_dict()), "offcpu": view, **ranged, **lines} for s in sections]
    payload: Any = objs[0] if len(objs) == 1 else objs
    if not sections and offcpu is not None:
        payload = {"offcpu": view, **ranged, **lines}
    elif not sections and coherence is not None:
        payload = lines
    return json.dumps(payload, indent=2)


# --------------------------------------------------------------------------- coherence

# Kinds of access the coherence plugin tells apart by the instruction's encoding.
ACCESS_KINDS = ("load", "store", "atomic", "excl_ld", "excl_st")
# How a line is shared: cores wrote bytes another core touched (true), cores touched
# only disjoint bytes and at least one wrote (false), both kinds of pair (both), no
# core wrote (read-only), or the detail records do not say (unknown).
SHARING = ("true", "false", "both", "read-only", "unknown")


def _count(value: Any) -> int:
    return integer(value) or 0


_CINSN_KEYS = (
    "address",
    "symbol",
    "mnemonic",
    "kind",
    "count",
    "transfers",
    "invalidations",
    "cpus",
    "offsets",
    "data",
)


@dataclass
class CoherenceInsn:
    """One instruction's accesses to one cache line (all cores together): where it is
    (function+offset), what it is (its mnemonic, its kind of access), how often it
    touched the line and how many transfers and invalidations it caused there;
    ``offsets`` the bytes of the line it touched, ``data`` what it touched."""

    address: int | None
    symbol: str | None
    mnemonic: str | None
    kind: str
    count: int = 0
    transfers: int = 0
    invalidations: int = 0
    cpus: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # first and last byte, in the line
    data: str | None = None
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> CoherenceInsn | None:
        if not isinstance(value, Mapping) or (kind := text(value.get("kind"))) is None:
            return None
        return cls(
            integer(value.get("address")),
            text(value.get("symbol")),
            text(value.get("mnemonic")),
            kind,
            _count(value.get("count")),
            _count(value.get("transfers")),
            _count(value.get("invalidations")),
            _ints(value.get("cpus")),
            _ints(value.get("offsets")),
            text(value.get("data")),
            _unknown(value, _CINSN_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "address": self.address,
            "symbol": self.symbol,
            "mnemonic": self.mnemonic,
            "kind": self.kind,
            "count": self.count,
            "transfers": self.transfers,
            "invalidations": self.invalidations,
            "cpus": list(self.cpus),
            "offsets": list(self.offsets),
            "data": self.data,
        }


_CLINE_KEYS = (
    "line",
    "address",
    "symbol",
    "region",
    "transfers",
    "hitm",
    "invalidations",
    "loads",
    "stores",
    "atomics",
    "exclusives",
    "cores",
    "sharing",
    "instructions",
)


@dataclass
class CoherenceLine:
    """One 64-byte cache line and how it moved between cores: ``line`` its physical
    address, ``address`` its virtual address in the profiled process (where the
    detail records give one), ``symbol`` what it holds (an ELF data symbol, a thread's
    stack, the heap), ``region`` the kind of memory (data, bss, rodata, stack, heap,
    kernel, unknown); transfers (of which hitm: the line was dirty in the other
    core), invalidations, accesses by kind, the cores that touched it, true or false
    sharing, and the instructions that touched it, most transfers first."""

    line: int
    address: int | None = None
    symbol: str | None = None
    region: str = "unknown"
    transfers: int = 0
    hitm: int = 0
    invalidations: int = 0
    loads: int = 0
    stores: int = 0
    atomics: int = 0
    exclusives: int = 0
    cores: int = 0
    sharing: str = "unknown"
    instructions: list[CoherenceInsn] = field(default_factory=list)
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> CoherenceLine | None:
        if not isinstance(value, Mapping) or (line := integer(value.get("line"))) is None:
            return None
        return cls(
            line,
            integer(value.get("address")),
            text(value.get("symbol")),
            text(value.get("region")) or "unknown",
            _count(value.get("transfers")),
            _count(value.get("hitm")),
            _count(value.get("invalidations")),
            _count(value.get("loads")),
            _count(value.get("stores")),
            _count(value.get("atomics")),
            _count(value.get("exclusives")),
            _count(value.get("cores")),
            text(value.get("sharing")) or "unknown",
            entries(value.get("instructions"), CoherenceInsn),
            _unknown(value, _CLINE_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "line": self.line,
            "address": self.address,
            "symbol": self.symbol,
            "region": self.region,
            "transfers": self.transfers,
            "hitm": self.hitm,
            "invalidations": self.invalidations,
            "loads": self.loads,
            "stores": self.stores,
            "atomics": self.atomics,
            "exclusives": self.exclusives,
            "cores": self.cores,
            "sharing": self.sharing,
            "instructions": [i.to_dict() for i in self.instructions],
        }


_COHERENCE_KEYS = (
    "transfers",
    "hitm",
    "invalidations",
    "accesses",
    "loads",
    "stores",
    "atomics",
    "exclusives",
    "lines_tracked",
    "shared_lines",
    "work_mib",
    "items",
    "transfers_per_mib",
    "transfers_per_item",
    "partial",
    "outcome",
    "cpus",
    "interleaving",
    "filter",
    "command",
    "command_s",
    "source",
    "lines",
    "notes",
)


@dataclass
class CoherenceResult:
    """Cache lines between cores (``lseprof vm run --coherence``, the coherence
    plugin's model): totals over every line the profiled processes touched, per MiB
    of work and per item where the command reported its work, and the lines with the
    most transfers. ``partial``: the run did not finish (the plugin's last snapshot);
    ``interleaving``: free, lockstep:N or rr:N (how the virtual CPUs were kept
    together, which the counts depend on)."""

    transfers: int = 0
    hitm: int = 0
    invalidations: int = 0
    accesses: int = 0
    loads: int = 0
    stores: int = 0
    atomics: int = 0
    exclusives: int = 0
    lines_tracked: int = 0
    shared_lines: int = 0  # lines touched by two cores or more, or with a transfer
    work_mib: float | None = None
    items: float | None = None
    transfers_per_mib: float | None = None
    transfers_per_item: float | None = None
    partial: bool = False
    outcome: str | None = None  # exited, timeout, interrupted, failed (coherence.json)
    cpus: int | None = None
    interleaving: str | None = None
    filter: str | None = None
    command: list[str] = field(default_factory=list)
    command_s: float | None = None
    source: str | None = None  # the plugin's file
    lines: list[CoherenceLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_value(cls, value: Any) -> CoherenceResult | None:
        if isinstance(value, CoherenceResult):
            return value
        if not isinstance(value, Mapping):
            return None
        command, notes = value.get("command"), value.get("notes")
        return cls(
            _count(value.get("transfers")),
            _count(value.get("hitm")),
            _count(value.get("invalidations")),
            _count(value.get("accesses")),
            _count(value.get("loads")),
            _count(value.get("stores")),
            _count(value.get("atomics")),
            _count(value.get("exclusives")),
            _count(value.get("lines_tracked")),
            _count(value.get("shared_lines")),
            number(value.get("work_mib")),
            number(value.get("items")),
            number(value.get("transfers_per_mib")),
            number(value.get("transfers_per_item")),
            value.get("partial") is True,
            text(value.get("outcome")),
            integer(value.get("cpus")),
            text(value.get("interleaving")),
            text(value.get("filter")),
            [str(c) for c in command] if isinstance(command, list) else [],
            number(value.get("command_s")),
            text(value.get("source")),
            entries(value.get("lines"), CoherenceLine),
            [str(n) for n in notes] if isinstance(notes, list) else [],
            _unknown(value, _COHERENCE_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.other,
            "transfers": self.transfers,
            "hitm": self.hitm,
            "invalidations": self.invalidations,
            "accesses": self.accesses,
            "loads": self.loads,
            "stores": self.stores,
            "atomics": self.atomics,
            "exclusives": self.exclusives,
            "lines_tracked": self.lines_tracked,
            "shared_lines": self.shared_lines,
            "work_mib": self.work_mib,
            "items": self.items,
            "transfers_per_mib": self.transfers_per_mib,
            "transfers_per_item": self.transfers_per_item,
            "partial": self.partial,
            "outcome": self.outcome,
            "cpus": self.cpus,
            "interleaving": self.interleaving,
            "filter": self.filter,
            "command": list(self.command),
            "command_s": self.command_s,
            "source": self.source,
            "lines": [line.to_dict() for line in self.lines],
            "notes": list(self.notes),
        }
