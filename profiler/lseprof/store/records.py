"""A stored run as a Python object (:class:`RunRecord`), its conversion to and from a
flat row of column values, and the interface every store backend implements.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, get_args

if TYPE_CHECKING:
    import pandas as pd

from lseprof.errors import LseprofError
from lseprof.results import CallerShare, HelperShare, entries
from lseprof.store.run_results import RunExtra
from lseprof.store.schema import COLUMNS, JSON_COLUMNS

RunStatus = Literal["ok", "failed", "interrupted", "timeout"]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)


# --------------------------------------------------------------------------- records


def new_id() -> str:
    """A fresh run or group id (32 hex digits)."""
    return uuid.uuid4().hex


def utc_now() -> str:
    """The current time as the ISO 8601 UTC text stored in ``created_at``."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def normalize_timestamp(value: str) -> str:
    """Any ISO 8601 time as UTC with microseconds, so that text order is time order.

    A time without an offset is taken as UTC.
    """
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"created_at {value!r} is not an ISO 8601 time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass
class RunRecord:
    """One profiled run: a row of the ``runs`` table (see docs/store.md)."""

    run_id: str
    group_id: str
    status: str  # one of RUN_STATUSES (checked when stored)
    created_at: str = field(default_factory=utc_now)
    message: str | None = None
    workload: str | None = None
    variant: str | None = None
    target: str | None = None
    emulated: bool | None = None
    cpu_model: str | None = None  # qemu -cpu model, None when native
    threads: int | None = None
    repeat_index: int | None = None
    throughput_mib_s: float | None = None  # None when unknown
    samples: int | None = None
    lost_samples: int | None = None
    event: str | None = None
    atomic_helper_share: float | None = None  # percent of all samples of the event
    categories: dict[str, float] = field(default_factory=dict)  # name -> percent
    # Typed entries (lseprof.results); dicts given here are converted.
    helpers: list[HelperShare] = field(default_factory=list)
    helper_callers: list[CallerShare] = field(default_factory=list)
    perf_data: str | None = None
    run_dir: str | None = None
    hostname: str | None = None
    # Facts of the machine and the build, shown as they were recorded, not computed on:
    # kept as dicts.
    host: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    source_commit: str | None = None
    build_id: str | None = None
    config_key: str | None = None
    extra: RunExtra = field(default_factory=RunExtra)  # a dict given here is converted

    def __post_init__(self) -> None:
        # Stored and compared in one form, so that text order is time order.
        self.created_at = normalize_timestamp(self.created_at)
        # Records come from JSON of any lseprof version and from callers' dicts: read
        # into typed entries once, here, so that no reader needs .get().
        self.helpers = entries(self.helpers, HelperShare)
        self.helper_callers = entries(self.helper_callers, CallerShare)
        self.extra = RunExtra.from_value(self.extra)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``repeat_index`` is spelled ``repeat``."""
        offcpu = self.extra.offcpu
        result: dict[str, Any] = {
            "run_id": self.run_id,
            "group_id": self.group_id,
            "workload": self.workload,
            "variant": self.variant,
            "target": self.target,
            "emulated": self.emulated,
            "cpu_model": self.cpu_model,
            "threads": self.threads,
            "repeat": self.repeat_index,
            "throughput_mib_s": self.throughput_mib_s,
            "samples": self.samples,
            "lost_samples": self.lost_samples,
            "event": self.event,
            "atomic_helper_share": self.atomic_helper_share,
            "categories": self.categories,
            "helpers": [h.to_dict() for h in self.helpers],
            "helper_callers": [c.to_dict() for c in self.helper_callers],
            "perf_data": self.perf_data,
            "status": self.status,
            "message": self.message,
            "created_at": self.created_at,
            # Kept in `extra` (no store column); named here so run JSON reads like report JSON.
            "top_symbols": [t.to_dict() for t in self.extra.top_symbols],
            "emulator_share": self.extra.emulator_share,
            "guest_named_share": self.extra.guest_named_share,
            # What the run's figures call for (lseprof.analysis.findings), as in report JSON.
            "findings": [f.to_dict() for f in self.extra.findings],
            # --sched runs (lseprof.results.OffCpuResult); None without scheduler events.
            "offcpu_share": offcpu.offcpu_share if offcpu else None,
            "wakeups_per_item": offcpu.wakeups_per_item if offcpu else None,
            "wakeups_per_s": offcpu.wakeups_per_s if offcpu else None,
            "wakeup_latency_us": (
                {"p50": offcpu.wakeup_p50_us, "p99": offcpu.wakeup_p99_us} if offcpu else None
            ),
            "extra": self.extra.to_dict(),
        }
        for name in COLUMNS:
            if name != "repeat_index" and name not in result:
                result[name] = getattr(self, name)
        return result


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None, so that the text is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _to_json(value: Any) -> str:
    # Other objects (paths, enums) are stored as their str().
    return json.dumps(_json_safe(value), ensure_ascii=False, allow_nan=False, default=str)


def _plain(value: Any) -> Any:
    """A JSON column's value as plain dicts and lists (typed entries via to_dict)."""
    if isinstance(value, list):
        return [v.to_dict() if hasattr(v, "to_dict") else v for v in value]
    return value.to_dict() if hasattr(value, "to_dict") else value


def record_to_row(record: RunRecord) -> tuple[Any, ...]:
    """Column values for ``record`` in :data:`COLUMNS` order (JSON columns as text)."""
    if record.status not in RUN_STATUSES:
        raise ValueError(f"run status {record.status!r} is not one of {', '.join(RUN_STATUSES)}")
    values: list[Any] = []
    for name in COLUMNS:
        value = getattr(record, name)
        if name in JSON_COLUMNS:
            value = _to_json(_plain(value))
        elif name == "emulated" and value is not None:
            value = int(bool(value))
        elif isinstance(value, float) and not math.isfinite(value):
            value = None  # NaN or inf: unknown
        values.append(value)
    return tuple(values)


def record_from_row(row: Sequence[Any]) -> RunRecord:
    """The record for one row of column values in :data:`COLUMNS` order."""
    kwargs: dict[str, Any] = {}
    for name, value in zip(COLUMNS, row, strict=True):
        if name in JSON_COLUMNS:
            value = JSON_COLUMNS[name]() if value is None else json.loads(value)
        elif name == "emulated" and value is not None:
            value = bool(value)
        kwargs[name] = value
    return RunRecord(**kwargs)


assert {f.name for f in fields(RunRecord)} == set(COLUMNS)  # one field per column


@dataclass(frozen=True)
class GroupSummary:
    """What :meth:`RunStore.groups` reports for one group of runs."""

    group_id: str
    runs: int
    ok: int
    first_created_at: str
    last_created_at: str
    workloads: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "runs": self.runs,
            "ok": self.ok,
            "first_created_at": self.first_created_at,
            "last_created_at": self.last_created_at,
            "workloads": self.workloads,
        }


class RunStoreProtocol(Protocol):
    """What every run store backend offers (:class:`RunStore`, ``PgRunStore``)."""

    location: str

    def add(self, record: RunRecord) -> None: ...
    def add_many(self, records: Iterable[RunRecord]) -> None: ...
    def get(self, run_id: str) -> RunRecord: ...
    def group(self, group_id: str) -> list[RunRecord]: ...
    def resolve(self, ident: str) -> list[RunRecord]: ...
    def runs(self, limit: int | None = None, workload: str | None = None) -> list[RunRecord]: ...
    def groups(self) -> list[GroupSummary]: ...
    def to_dataframe(self) -> pd.DataFrame: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# --------------------------------------------------------------------------- SQL


def record_from_run_json(path: Path) -> RunRecord:
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LseprofError(
            f"{path} cannot be read as a run's run.json ({exc}); "
            "give a run directory made by `lseprof run`"
        ) from None
    if not isinstance(facts, dict) or not facts.get("run_id") or not facts.get("group_id"):
        raise LseprofError(
            f"{path} is not an lseprof run.json (no run_id or group_id); "
            "give a run directory made by `lseprof run`"
        )
    kwargs: dict[str, Any] = {}
    for name in COLUMNS:
        value = facts.get("repeat" if name == "repeat_index" else name)
        if name in JSON_COLUMNS and not isinstance(value, JSON_COLUMNS[name]):
            value = JSON_COLUMNS[name]()
        kwargs[name] = value
    kwargs["status"] = kwargs["status"] or "ok"
    kwargs["created_at"] = kwargs["created_at"] or "1970-01-01T00:00:00+00:00"
    try:
        return RunRecord(**kwargs)
    except (TypeError, ValueError) as exc:
        raise LseprofError(
            f"{path} is not an lseprof run.json ({exc}); give a run directory made by `lseprof run`"
        ) from None
