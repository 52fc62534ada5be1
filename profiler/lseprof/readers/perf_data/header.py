"""What perf says about a perf.data besides its samples: the header (``perf report
--header-only``), lost-sample counts (``perf report --stats``) and the recorded
build-ids (``perf buildid-list``). Loads neither numpy nor pandas (see
:mod:`lseprof.readers.perf_data.reader`)."""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lseprof.capture.perf_cli import first_error, perf_argv, run_perf
from lseprof.errors import LseprofError
from lseprof.readers.time_range import seconds_ns
from lseprof.results import VM_HOSTNAME

ARM64_LR_MASK = 1 << 30  # PERF_REG_ARM64_LR in sample_regs_user
# MIDR_EL1 implementer 0x00 is reserved for software: an emulator's CPU (qemu -cpu max).
_SOFTWARE_IMPLEMENTER = 0x00
_STATS_EVENT_RE = re.compile(r"^(?P<event>\S.*) stats:\s*$")
_STATS_LOST_RE = re.compile(r"^\s*LOST_SAMPLES events:\s*(\d+)")
_STATS_TOTAL_LOST_RE = re.compile(r"^\s*LOST events:\s*(\d+)")


@dataclass
class PerfDataHeader:
    perf_version: str | None = None
    arch: str | None = None
    hostname: str = ""
    cpuid: str = ""
    cmdline: str = ""
    callchain: bool = False
    has_time: bool = False
    data_offset: int = 0
    data_size: int = 0
    events: list[str] = field(default_factory=list)
    event_types: list[int] = field(default_factory=list)  # perf_event_attr.type, per event
    precise_ip: int = 0  # the highest perf_event_attr.precise_ip of the sampling events
    regs_user: int = 0  # perf_event_attr.sample_regs_user of the sampling events (a mask)
    # perf's "time of first/last sample" (any event), ns; None where the file has none.
    first_sample_ns: int | None = None
    last_sample_ns: int | None = None

    @property
    def sampling_events(self) -> list[str]:
        """The events that are not tracepoints (type 2): what attribution reads."""
        return [e for e, t in zip(self.events, self.event_types, strict=True) if t != 2]

    @property
    def has_sched_events(self) -> bool:
        """Scheduler tracepoints recorded in the file (``perf record -e
        sched:sched_switch``, ``perf sched record``): its off-CPU view."""
        return "sched:sched_switch" in self.events

    @property
    def ip_precision(self) -> str:
        """What a sample's address is (see :data:`lseprof.results.IP_PRECISIONS`): the
        start of a translated block on a virtual aarch64 CPU, the instruction itself
        with precise sampling (precise_ip 2 or 3), else an interrupt's address."""
        if self.arch == "aarch64" and (
            self.hostname == VM_HOSTNAME or self.cpu_implementer == _SOFTWARE_IMPLEMENTER
        ):
            return "block"
        return "exact" if self.precise_ip >= 2 else "skid"

    @property
    def cpu_implementer(self) -> int | None:
        """An aarch64 cpuid's (MIDR_EL1) implementer byte."""
        try:
            return (int(self.cpuid, 16) >> 24) & 0xFF if self.arch == "aarch64" else None
        except ValueError:
            return None

    @property
    def leaf_callers_here(self) -> bool:
        """An arm64 recording with frame-pointer callchains and the link register: perf
        finds the caller of a leaf function (which saved no frame) in the link register,
        but only on an aarch64 machine; elsewhere lseprof reads the register itself."""
        return (
            self.arch == "aarch64"
            and self.callchain
            and bool(self.regs_user & ARM64_LR_MASK)
            and platform.machine() not in ("aarch64", "arm64")
        )

    @property
    def emulated(self) -> bool:
        """Recorded around a qemu user-mode emulator (``perf record -- qemu-aarch64 ...``)."""
        return "qemu-" in self.cmdline

    @property
    def tracepoints(self) -> list[str]:
        return [e for e, t in zip(self.events, self.event_types, strict=True) if t == 2]


def read_header(perf: str, path: Path) -> PerfDataHeader:
    proc = run_perf(
        perf_argv(perf, "report", "--header-only", "-i", path), "perf report --header-only"
    )
    text = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0 or "# ========" not in text:
        raise LseprofError(
            f"{path}: perf cannot read it ({first_error(proc.stderr)[:60]}); "
            "the file is damaged, record it again"
        )
    head = PerfDataHeader()
    for line in text.splitlines():
        key, _, value = line.lstrip("# ").partition(":")
        key, value = key.strip(), value.strip()
        if key == "event":
            _event_line(head, value)
        elif key in _FIELDS:
            setattr(head, _FIELDS[key][0], _FIELDS[key][1](value))
    return head


# Header lines read as they are: key -> (attribute, conversion).
_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "perf version": ("perf_version", str),
    "arch": ("arch", str),
    "hostname": ("hostname", str),
    "cpuid": ("cpuid", str),
    "cmdline": ("cmdline", str),
    "data offset": ("data_offset", lambda v: int(v or 0)),
    "data size": ("data_size", lambda v: int(v or 0)),
    "time of first sample": ("first_sample_ns", seconds_ns),
    "time of last sample": ("last_sample_ns", seconds_ns),
}


def _event_line(head: PerfDataHeader, value: str) -> None:
    name = re.search(r"name = ([^,]+)", value)
    kind = re.search(r"\btype = (\d+)", value)
    if name:
        head.events.append(name[1].strip())
        head.event_types.append(int(kind[1]) if kind else -1)
    sample_type = re.search(r"sample_type = ([A-Z_|]+)", value)
    # Tracepoints (scheduler events) are read apart; their callchains say
    # nothing about the sampling event's layout.
    if sample_type and not (kind and kind[1] == "2"):
        precise = re.search(r"precise_ip = (\d+)", value)
        head.precise_ip = max(head.precise_ip, int(precise[1]) if precise else 0)
        regs = re.search(r"sample_regs_user = (0x[0-9a-fA-F]+)", value)
        head.regs_user |= int(regs[1], 16) if regs else 0
        kinds = set(sample_type[1].split("|"))
        head.callchain = head.callchain or "CALLCHAIN" in kinds
        head.has_time = head.has_time or "TIME" in kinds


def read_lost(perf: str, path: Path) -> dict[str, int]:
    """LOST_SAMPLES per event from `perf report --stats` (counts only, no symbols: fast)."""
    proc = run_perf(perf_argv(perf, "report", "--stats", "-i", path), "perf report --stats")
    lost: dict[str, int] = {}
    event: str | None = None
    total_lost_records = 0
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if (m := _STATS_EVENT_RE.match(line)) is not None and m["event"] != "Aggregated":
            event = m["event"].strip()
            lost.setdefault(event, 0)
        elif (m := _STATS_LOST_RE.match(line)) is not None and event is not None:
            lost[event] = int(m[1])
        elif (m := _STATS_TOTAL_LOST_RE.match(line)) is not None:
            total_lost_records = int(m[1])
    del total_lost_records  # LOST records count ring-buffer overruns, not samples
    return lost


def read_build_ids(perf: str, path: Path) -> dict[str, str]:
    return parse_build_ids(
        run_perf(perf_argv(perf, "buildid-list", "-i", path), "perf buildid-list").stdout
    )


def parse_build_ids(text: bytes) -> dict[str, str]:
    ids: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        build_id, _, dso = line.strip().partition(" ")
        if build_id and dso and re.fullmatch(r"[0-9a-f]{8,}", build_id):
            ids[dso.strip()] = build_id
    return ids
