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
from lseprof.analysis.stats import median
from lseprof.errors import LseprofError
from lseprof.jobs.runner import DEFAULT_FREQ, RunPlan, execute
from lseprof.store import RunRecord, RunStoreProtocol

HELPER_NOISE_FLOOR_PP = 0.5


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


def load_config(path: Path) -> NightlyConfig:
    """Parse and check a nightly config (TOML)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LseprofError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise LseprofError(f"{path} is not valid TOML ({exc})") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _fail(path, f"unknown key {sorted(unknown)[0]!r}")
    base = Path(path).resolve().parent
    runs = data.get("run")
    if not isinstance(runs, list) or not runs:
        raise _fail(path, "it needs at least one [[run]] table")
    entries = []
    for table in runs:
        bad = set(table) - _ENTRY_KEYS
        if bad:
            raise _fail(path, f"unknown key {sorted(bad)[0]!r} in a [[run]] table")
        if not isinstance(table.get("name"), str) or not table["name"]:
            raise _fail(path, "every [[run]] needs a `name` (it keys the series)")
        fields: dict[str, Any] = dict(table)
        for key, kind in (("variants", str), ("targets", str), ("threads", int),
                          ("workload_args", str)):
            if key in fields:
                fields[key] = _tuple(fields[key], kind, path, key)
        if "corpus" in fields:
            fields["corpus"] = (base / fields["corpus"]).resolve()
        entries.append(NightlyEntry(**fields))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise _fail(path, "two [[run]] tables share a name")

    def rel(key: str) -> Path | None:
        return (base / data[key]).resolve() if key in data else None

    store = data.get("store")
    if isinstance(store, str) and "://" not in store:
        store = str((base / store).resolve())
    return NightlyConfig(Path(path), store, rel("dashboard"), rel("runs_dir"),
                         int(data.get("min_nights", changepoint.DEFAULT_MIN_SIZE)),
                         float(data.get("noise_floor_pct", changepoint.DEFAULT_NOISE_FLOOR_PCT)),
                         float(data.get("alpha", changepoint.DEFAULT_ALPHA)), tuple(entries))


def plans(config: NightlyConfig) -> list[RunPlan]:
    """One run plan per (entry, target); validated before anything runs."""
    result = []
    for entry in config.entries:
        for target in entry.targets:
            plan = RunPlan(workload=entry.workload, variants=entry.variants,
                           threads=entry.threads, repeat=entry.repeat, target=target,
                           cpu=entry.cpu, duration=entry.duration, freq=entry.freq,
                           event=entry.event, timeout=entry.timeout, corpus=entry.corpus,
                           batch_size=entry.batch_size, workload_args=entry.workload_args,
                           config_key=entry.name)
            plan.validate()
            result.append(plan)
    return result


SeriesKey = tuple[str, str, str, int, str, str]


@dataclass
class SeriesVerdict:
    key: SeriesKey  # config_key, workload, variant, threads, target, hostname
    nights: int
    latest_mib_s: float | None
    latest_helper_share: float | None
    throughput: changepoint.EndCheck
    helper_share: changepoint.EndCheck
    commits: tuple[str | None, str | None] = (None, None)

    @property
    def regressed(self) -> bool:
        return "regression" in (self.throughput.status, self.helper_share.status)


@dataclass
class NightlyResult:
    records: list[RunRecord] = field(default_factory=list)
    verdicts: list[SeriesVerdict] = field(default_factory=list)
    dashboard: Path | None = None

    @property
    def regressions(self) -> list[SeriesVerdict]:
        return [v for v in self.verdicts if v.regressed]


def _nights(records: Sequence[RunRecord]) -> list[list[RunRecord]]:
    """A series' runs grouped into nights (one run group each), oldest first."""
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        if record.status == "ok":
            groups.setdefault(record.group_id, []).append(record)
    return sorted(groups.values(), key=lambda rows: min(r.created_at for r in rows))


def evaluate(records: Sequence[RunRecord], config: NightlyConfig) -> list[SeriesVerdict]:
    """Change-point verdicts for every series of the config's entries."""
    names = {e.name for e in config.entries}
    series: dict[SeriesKey, list[RunRecord]] = {}
    for r in records:
        if r.config_key in names:
            key = (r.config_key, r.workload or "", r.variant or "", r.threads or 0,
                   r.target or "", r.hostname or "")
            series.setdefault(key, []).append(r)
    verdicts = []
    for key in sorted(series):
        nights = _nights(series[key])
        tp_nights = [n for n in nights if any(r.throughput_mib_s is not None for r in n)]
        tp = [median([r.throughput_mib_s for r in n if r.throughput_mib_s is not None])
              for n in tp_nights]
        share_nights = [n for n in nights if any(r.atomic_helper_share is not None for r in n)]
        share = [median([r.atomic_helper_share for r in n if r.atomic_helper_share is not None])
                 for n in share_nights]
        tp_check = changepoint.regression_at_end(
            tp, bad="down", min_size=config.min_nights, noise_floor_pct=config.noise_floor_pct,
            alpha=config.alpha)
        share_check = changepoint.regression_at_end(
            share, bad="up", min_size=config.min_nights, noise_floor_pct=0.0,
            noise_floor_abs=HELPER_NOISE_FLOOR_PP, alpha=config.alpha)
        commits: tuple[str | None, str | None] = (None, None)
        tp_bad = tp_check.status == "regression"
        point = tp_check.change_point if tp_bad else share_check.change_point
        basis = tp_nights if tp_bad else share_nights
        if point is not None and 0 < point.index < len(basis):
            commits = (basis[point.index - 1][0].source_commit, basis[point.index][0].source_commit)
        verdicts.append(SeriesVerdict(key, len(nights), tp[-1] if tp else None,
                                      share[-1] if share else None, tp_check, share_check,
                                      commits))
    return verdicts


def run_nightly(config: NightlyConfig, store: RunStoreProtocol, runs_root: Path,
                on_progress: Callable[[str], None] = lambda _m: None) -> NightlyResult:
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
