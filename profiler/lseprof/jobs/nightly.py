"""`lseprof nightly`: run a configured matrix, store it, and look for regressions.

Each entry of the TOML config names a series family: its runs are stored with
``config_key`` = the entry's name, so a series is (entry, workload, variant,
threads, target, host) and keeps its history across nights even when the
entry's options or the code change (that is the point: a change that makes it
slower must show up as a step in the same series). Every run also records the
source commit, build-id and host, which the dashboard shows at each step.

Regressions are found by change-point detection over each series' history
(:mod:`lseprof.analysis.changepoint`), not by comparing last night with a threshold.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lseprof.analysis import changepoint
from lseprof.analysis.verdicts import SeriesVerdict, Settings, judge_series
from lseprof.capture.build import VM_TARGET
from lseprof.errors import LseprofError
from lseprof.jobs.runner import DEFAULT_FREQ, RunPlan
from lseprof.jobs.sessions import execute
from lseprof.store import RunRecord, RunStoreProtocol


@dataclass(frozen=True)
class NightlyEntry:
    """One `[[run]]` table of the config."""

    name: str
    workload: str = "bpe-encode"
    variants: tuple[str, ...] = ("rayon", "window")
    targets: tuple[str, ...] = ("host",)
    threads: tuple[int, ...] = (8,)
    repeat: int = 5
    duration: float = 2.0
    cpu: str | None = None
    batch_size: int | None = None
    workload_args: tuple[str, ...] = ()
    freq: int = DEFAULT_FREQ
    event: str | None = None
    timeout: float | None = None
    corpus: Path | None = None
    smp: int | None = None  # targets = ["aarch64-vm"]: the machine's vCPUs
    memory: int | None = None  # and its memory, MiB


@dataclass(frozen=True)
class NightlyConfig:
    path: Path
    store: str | None
    dashboard: Path | None
    runs_dir: Path | None
    min_nights: int
    noise_floor_pct: float
    alpha: float
    entries: tuple[NightlyEntry, ...]


_ENTRY_KEYS = {f for f in NightlyEntry.__dataclass_fields__}
_TOP_KEYS = {"store", "dashboard", "runs_dir", "min_nights", "noise_floor_pct", "alpha", "run"}


def _fail(path: Path, what: str) -> LseprofError:
    return LseprofError(f"{path}: {what}; see the sample config in README.md")


def _tuple(value: Any, kind: type, path: Path, key: str) -> tuple[Any, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, kind) and not isinstance(v, bool) for v in items):
        raise _fail(path, f"`{key}` must be a {kind.__name__} or a list of them")
    return tuple(items)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LseprofError(f"{path}: no such config file") from None
    except UnicodeDecodeError as exc:
        raise LseprofError(
            f"{path} is not UTF-8 text (byte {exc.start}); save the config as UTF-8"
        ) from None
    except OSError as exc:
        raise LseprofError(f"{path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise LseprofError(f"{path} is not valid TOML ({exc})") from None


def _entry(table: dict[str, Any], path: Path, base: Path) -> NightlyEntry:
    """One [[run]] table, checked; paths in it are relative to the config's directory."""
    bad = set(table) - _ENTRY_KEYS
    if bad:
        raise _fail(path, f"unknown key {sorted(bad)[0]!r} in a [[run]] table")
    if not isinstance(table.get("name"), str) or not table["name"]:
        raise _fail(path, "every [[run]] needs a `name` (it keys the series)")
    fields: dict[str, Any] = dict(table)
    for key, kind in (
        ("variants", str),
        ("targets", str),
        ("threads", int),
        ("workload_args", str),
    ):
        if key in fields:
            fields[key] = _tuple(fields[key], kind, path, key)
    if "corpus" in fields:
        fields["corpus"] = (base / fields["corpus"]).resolve()
    return NightlyEntry(**fields)


def load_config(path: Path) -> NightlyConfig:
    """Parse and check a nightly config (TOML)."""
    data = _read_toml(path)
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _fail(path, f"unknown key {sorted(unknown)[0]!r}")
    base = Path(path).resolve().parent
    runs = data.get("run")
    if not isinstance(runs, list) or not runs:
        raise _fail(path, "it needs at least one [[run]] table")
    entries = [_entry(table, path, base) for table in runs]
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise _fail(path, "two [[run]] tables share a name")

    def rel(key: str) -> Path | None:
        return (base / data[key]).resolve() if key in data else None

    store = data.get("store")
    if isinstance(store, str) and "://" not in store:
        store = str((base / store).resolve())
    return NightlyConfig(
        Path(path),
        store,
        rel("dashboard"),
        rel("runs_dir"),
        int(data.get("min_nights", changepoint.DEFAULT_MIN_SIZE)),
        float(data.get("noise_floor_pct", changepoint.DEFAULT_NOISE_FLOOR_PCT)),
        float(data.get("alpha", changepoint.DEFAULT_ALPHA)),
        tuple(entries),
    )


def plans(config: NightlyConfig) -> list[RunPlan]:
    """One run plan per (entry, target); validated before anything runs."""
    result = []
    for entry in config.entries:
        for target in entry.targets:
            plan = RunPlan(
                workload=entry.workload,
                variants=entry.variants,
                threads=entry.threads,
                repeat=entry.repeat,
                target=target,
                cpu=entry.cpu,
                duration=entry.duration,
                freq=entry.freq,
                event=entry.event,
                timeout=entry.timeout,
                corpus=entry.corpus,
                batch_size=entry.batch_size,
                workload_args=entry.workload_args,
                config_key=entry.name,
                judgement=judgement(config).to_dict(),
                smp=entry.smp if target == VM_TARGET else None,
                memory=entry.memory if target == VM_TARGET else None,
            )
            plan.validate()
            result.append(plan)
    return result


@dataclass
class NightlyResult:
    records: list[RunRecord] = field(default_factory=list)
    verdicts: list[SeriesVerdict] = field(default_factory=list)
    dashboard: Path | None = None

    @property
    def regressions(self) -> list[SeriesVerdict]:
        return [v for v in self.verdicts if v.regressed]


def evaluate(records: Sequence[RunRecord], config: NightlyConfig) -> list[SeriesVerdict]:
    """Change-point verdicts for every series of the config's entries."""
    return judge_series(records, [e.name for e in config.entries], judgement(config))


def judgement(config: NightlyConfig) -> Settings:
    """The verdict settings of a config, which every run of it stores."""
    return Settings(
        noise_floor_pct=config.noise_floor_pct, min_size=config.min_nights, alpha=config.alpha
    )


def run_nightly(
    config: NightlyConfig,
    store: RunStoreProtocol,
    runs_root: Path,
    on_progress: Callable[[str], None] = lambda _m: None,
) -> NightlyResult:
    """Run every plan, then judge every series against its stored history."""
    result = NightlyResult()
    all_plans = plans(config)
    for index, plan in enumerate(all_plans, start=1):
        prefix = f"{plan.config_key} ({plan.target}) [{index}/{len(all_plans)}]"

        def report(message: str, prefix: str = prefix) -> None:
            on_progress(f"{prefix} {message}")

        session = execute(plan, store, runs_root, on_progress=report)
        result.records.extend(session.records)
        if session.interrupted:
            raise KeyboardInterrupt
    result.verdicts = evaluate(store.runs(), config)
    return result
