"""The run store: real SQLite files, real processes, the real `lseprof runs`.

The backend-neutral tests here (those taking ``store_path``) also run against a
real PostgreSQL server: tests/e2e/test_store_pg.py imports them and overrides
``store_path`` with a ``postgresql://`` URL.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

import pandas as pd
import pytest

from lseprof import LseprofError
from lseprof import store as store_mod
from lseprof.errors import EXIT_FAILED, EXIT_USAGE
from lseprof.store import (
    COLUMNS,
    SCHEMA_VERSION,
    RunExtra,
    RunRecord,
    RunStore,
    new_id,
    open_store,
)
from tests.helpers import REPO


def full_record(**overrides: object) -> RunRecord:
    """A record with every field set to something non-default."""
    values: dict[str, object] = dict(
        run_id=new_id(),
        group_id="group-ünï",
        status="failed",
        created_at="2024-05-01T12:34:56.789012+00:00",
        message="encoder exited 3: 'bad input'; see run dir",
        workload="bpe",
        variant="rayon",
        target="aarch64-lse",
        emulated=True,
        cpu_model="neoverse-n1",
        threads=8,
        repeat_index=2,
        throughput_mib_s=123.456789,
        samples=98765,
        lost_samples=12,
        event="cpu-clock",
        atomic_helper_share=0.1875,
        categories={"atomic helpers": 18.75, "encoder": 70.0, "kernel": 11.25},
        helpers=[{"name": "__aarch64_ldadd8_acq_rel", "percent": 9.5, "samples": 900}],
        helper_callers=[{"helper": "__aarch64_cas8_acq_rel", "caller": "rayon::join", "n": 3}],
        perf_data="/tmp/run/perf.data",
        run_dir="/tmp/run",
        hostname="builder-1",
        host={
            "arch": "x86_64",
            "cpu_model": "EPYC",
            "cores": 2,
            "kernel": "6.1.0",
            "perf_version": "6.1",
        },
        build={
            "build_id": "abc123",
            "target": "aarch64-lse",
            "atomics": "lse",
            "source_commit": "deadbeef",
            "path": "/x/bin/bpe",
        },
        source_commit="deadbeef",
        build_id="abc123",
        config_key="bpe/rayon/aarch64-lse/t8",
        extra={"nested": {"list": [1, 2.5, None, "日本"]}, "flag": False},
    )
    values.update(overrides)
    return RunRecord(**values)  # type: ignore[arg-type]


def one_line(exc: LseprofError) -> str:
    assert "\n" not in exc.message
    return exc.message


# ------------------------------------------------------------------ records round trip


def test_every_field_round_trips_through_a_reopened_store(store_path: Path) -> None:
    assert {f.name for f in fields(RunRecord)} == set(COLUMNS)
    record = full_record()
    with open_store(store_path) as store:
        store.add(record)
    with open_store(store_path) as store:
        back = store.get(record.run_id)
    assert asdict(back) == asdict(record)
    assert isinstance(back.emulated, bool)
    assert isinstance(back.throughput_mib_s, float)


def test_unset_fields_round_trip_as_none_or_empty(store_path: Path) -> None:
    record = RunRecord(run_id="r1", group_id="g1", status="ok")
    with open_store(store_path) as store:
        store.add(record)
        back = store.get("r1")
    assert asdict(back) == asdict(record)
    assert back.throughput_mib_s is None and back.emulated is None
    assert back.categories == {} and back.helpers == [] and back.extra == RunExtra()


def test_emulated_false_is_not_none(store_path: Path) -> None:
    with open_store(store_path) as store:
        store.add(full_record(run_id="native", emulated=False, cpu_model=None))
        assert store.get("native").emulated is False


def test_awkward_values_are_stored_as_strict_json(store_path: Path) -> None:
    record = full_record(
        run_id="odd",
        throughput_mib_s=float("nan"),
        atomic_helper_share=float("inf"),
        categories={"x": float("nan")},
        extra={"path": Path("/a/b"), "t": (1, 2)},
    )
    with open_store(store_path) as store:
        store.add(record)
        back = store.get("odd")
        raw = store._conn.execute("SELECT categories, extra FROM runs").fetchone()
    assert back.throughput_mib_s is None and back.atomic_helper_share is None
    assert back.categories == {"x": None}
    assert back.extra.other == {"path": "/a/b", "t": [1, 2]}
    for text in raw:
        assert "NaN" not in text
        json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))


def test_to_dict_keys() -> None:
    record = full_record()
    d = record.to_dict()
    for key in (
        "run_id",
        "group_id",
        "workload",
        "variant",
        "target",
        "emulated",
        "threads",
        "repeat",
        "throughput_mib_s",
        "samples",
        "lost_samples",
        "event",
        "atomic_helper_share",
        "categories",
        "helpers",
        "helper_callers",
        "perf_data",
        "status",
        "message",
        "created_at",
        "host",
        "build",
        "config_key",
        "extra",
    ):
        assert key in d
    assert "repeat_index" not in d
    assert d["repeat"] == 2
    # Every column once, plus the emulated-run and --sched figures read out of `extra`.
    from_extra = {
        "top_symbols",
        "emulator_share",
        "guest_named_share",
        "findings",
        "offcpu_share",
        "wakeups_per_item",
        "wakeups_per_s",
        "wakeup_latency_us",
    }
    assert set(d) - set(COLUMNS) - {"repeat_index"} == {"repeat", *from_extra}
    assert len(d) == len(COLUMNS) + len(from_extra)
    assert d["offcpu_share"] is None  # a run without --sched
    json.dumps(d)  # JSON-ready


def test_created_at_is_normalized_to_utc(store_path: Path) -> None:
    assert full_record(created_at="2024-05-01T12:00:00Z").created_at == (
        "2024-05-01T12:00:00.000000+00:00"
    )
    with open_store(store_path) as store:
        store.add(full_record(run_id="z", created_at="2024-05-01T12:00:00Z"))
        store.add(full_record(run_id="plus2", created_at="2024-05-01T14:00:01+02:00"))
        store.add(full_record(run_id="naive", created_at="2024-05-01T12:00:02"))
        assert store.get("z").created_at == "2024-05-01T12:00:00.000000+00:00"
        assert store.get("plus2").created_at == "2024-05-01T12:00:01.000000+00:00"
        assert store.get("naive").created_at == "2024-05-01T12:00:02.000000+00:00"
        assert [r.run_id for r in store.runs()] == ["naive", "plus2", "z"]


def test_bad_status_and_bad_time_are_refused(store_path: Path) -> None:
    with open_store(store_path) as store:
        with pytest.raises(ValueError, match="status"):
            store.add(full_record(status="weird"))
        with pytest.raises(ValueError, match="ISO 8601"):
            full_record(created_at="yesterday")
        assert store.runs() == []


# ------------------------------------------------------------------ queries


def fill(store: RunStore) -> list[RunRecord]:
    records = []
    for i in range(6):
        records.append(
            full_record(
                run_id=f"run{i}",
                group_id="groupA" if i < 4 else "groupB",
                created_at=f"2024-05-0{i + 1}T00:00:00+00:00",
                workload="bpe" if i % 2 == 0 else "hashmap",
                status="ok" if i != 1 else "timeout",
                repeat_index=i,
            )
        )
    for r in records:
        store.add(r)
    return records


def test_runs_are_newest_first_with_limit_and_workload(store_path: Path) -> None:
    with open_store(store_path) as store:
        fill(store)
        assert [r.run_id for r in store.runs()] == [f"run{i}" for i in range(5, -1, -1)]
        assert [r.run_id for r in store.runs(limit=2)] == ["run5", "run4"]
        assert [r.run_id for r in store.runs(workload="bpe")] == ["run4", "run2", "run0"]
        assert [r.run_id for r in store.runs(limit=1, workload="hashmap")] == ["run5"]
        assert store.runs(workload="nothing") == []


def test_same_timestamp_keeps_insertion_order(store_path: Path) -> None:
    with open_store(store_path) as store:
        for name in ("b", "a", "c"):
            store.add(full_record(run_id=name, created_at="2024-01-01T00:00:00+00:00"))
        assert [r.run_id for r in store.runs()] == ["c", "a", "b"]


def test_group_and_groups(store_path: Path) -> None:
    with open_store(store_path) as store:
        fill(store)
        assert [r.run_id for r in store.group("groupA")] == ["run0", "run1", "run2", "run3"]
        summaries = store.groups()
    assert [g.group_id for g in summaries] == ["groupB", "groupA"]
    a = summaries[1]
    assert (a.runs, a.ok, a.workloads) == (4, 3, ["bpe", "hashmap"])
    assert a.first_created_at.startswith("2024-05-01")
    assert a.last_created_at.startswith("2024-05-04")
    json.dumps(a.to_dict())


def test_unknown_ids_say_what_to_do(store_path: Path) -> None:
    with open_store(store_path) as store:
        fill(store)
        for call in (store.get, store.group, store.resolve):
            with pytest.raises(LseprofError) as info:
                call("nope-123456")
            assert one_line(info.value) == (
                f"no run or group 'nope-123456' in store {store.location}; "
                "list them with `lseprof runs`"
            )
            assert info.value.exit_code == EXIT_USAGE


def test_resolve_run_group_and_unique_prefix(store_path: Path) -> None:
    with open_store(store_path) as store:
        store.add(full_record(run_id="aaaa1111xx", group_id="gggg2222yy"))
        store.add(full_record(run_id="aaaa1112xx", group_id="gggg2222yy"))
        assert [r.run_id for r in store.resolve("aaaa1111xx")] == ["aaaa1111xx"]
        assert len(store.resolve("gggg2222yy")) == 2
        assert [r.run_id for r in store.resolve("aaaa1112")] == ["aaaa1112xx"]
        assert len(store.resolve("gggg22")) == 2
        with pytest.raises(LseprofError, match="several"):
            store.resolve("aaaa111")
        with pytest.raises(LseprofError, match="no run or group"):
            store.resolve("aaaa")  # too short to be taken as a prefix


def test_to_dataframe(store_path: Path) -> None:
    with open_store(store_path) as store:
        empty = store.to_dataframe()
        assert list(empty.columns) == list(full_record().to_dict())
        assert len(empty) == 0
        fill(store)
        frame = store.to_dataframe()
    assert len(frame) == 6
    assert list(frame["run_id"]) == [f"run{i}" for i in range(5, -1, -1)]
    assert isinstance(frame["created_at"].dtype, pd.DatetimeTZDtype)
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert frame.loc[0, "categories"] == {"atomic helpers": 18.75, "encoder": 70.0, "kernel": 11.25}
    assert frame["repeat"].tolist() == [5, 4, 3, 2, 1, 0]


# ------------------------------------------------------------------ atomic writes


def test_a_failed_batch_writes_nothing(store_path: Path) -> None:
    with open_store(store_path) as store:
        store.add(full_record(run_id="exists"))
        batch = [full_record(run_id="new1"), full_record(run_id="exists")]
        with pytest.raises(LseprofError, match="'exists' is already in the store") as info:
            store.add_many(batch)
        assert info.value.exit_code == EXIT_FAILED
        assert [r.run_id for r in store.runs()] == ["exists"]


def test_disk_full_is_a_user_error_and_leaves_no_row(store_path: Path) -> None:
    with open_store(store_path) as store:
        store.add(full_record(run_id="first"))
        # Cap the database at its current size: the next big row hits SQLITE_FULL.
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(LseprofError) as info:
            store.add(full_record(run_id="big", extra={"blob": "x" * 200_000}))
        assert one_line(info.value) == (
            f"disk full while writing the run store at {store_path}; free space and re-run"
        )
        assert info.value.exit_code == EXIT_FAILED
        assert not store._conn.in_transaction
        assert [r.run_id for r in store.runs()] == ["first"]
        store.add(full_record(run_id="small"))  # still usable afterwards
    with open_store(store_path) as store:
        assert {r.run_id for r in store.runs()} == {"first", "small"}


# ------------------------------------------------------------------ concurrency

WRITER = """
import random, sys, time
from pathlib import Path
from lseprof.store import RunRecord, open_store
path, start, name, other = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
while not start.exists():
    time.sleep(0.001)
with open_store(path) as store:  # both processes race to create and migrate the store
    (start.parent / f"ready-{name}").touch()
    while not (start.parent / f"ready-{other}").exists():
        time.sleep(0.0005)
    for i in range(200):
        store.add(RunRecord(run_id=f"{name}-{i}", group_id=name, status="ok", threads=i))
        if i < 100:  # first jittered, as real runs are; then back to back
            time.sleep(random.random() * 0.002)
"""


def two_writers_at_once(location: str, tmp_path: Path, insertion_order: str) -> None:
    """Two processes create and fill the store at ``location`` at once; none is lost.

    ``insertion_order`` is the SQL that lists the group of each row in insertion order.
    """
    start = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, location, str(start), name, other],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, other in (("alpha", "beta"), ("beta", "alpha"))
    ]
    time.sleep(1.0)  # let both start up and wait at the barrier
    start.touch()
    for proc in writers:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    with open_store(location) as store:
        runs = store.runs()
        assert len(runs) == 400
        assert {r.run_id for r in runs} == (
            {f"alpha-{i}" for i in range(200)} | {f"beta-{i}" for i in range(200)}
        )
        assert sorted((g.group_id, g.runs) for g in store.groups()) == [
            ("alpha", 200),
            ("beta", 200),
        ]
        assert store.schema_version == SCHEMA_VERSION
        order = [r[0] for r in store._conn.execute(insertion_order)]
    # The writes really interleaved: not one process after the other.
    assert sum(a != b for a, b in itertools.pairwise(order)) >= 2


# ------------------------------------------------------------------ `lseprof runs`


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != store_mod.STORE_ENV}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env["COLUMNS"] = "80"
    return env
