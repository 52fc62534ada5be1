"""The SQLite run store's own behaviour: opening, schema migration, refusing foreign
files, two writing processes, and `lseprof runs` on SQLite stores.

The backend-neutral tests (records, queries, atomic writes) are in tests/unit/test_store.py.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from lseprof import LseprofError
from lseprof import store as store_mod
from lseprof.errors import EXIT_USAGE
from lseprof.store import (
    COLUMNS,
    MIGRATIONS,
    SCHEMA_VERSION,
    open_store,
    split_sql,
)
from lseprof.store import location as store_location
from tests.helpers import LSEPROF, run
from tests.unit.test_store import cli_env, fill, full_record, one_line, two_writers_at_once

# ------------------------------------------------------------------ opening and schema


def test_fresh_store_is_wal_with_busy_timeout_and_current_schema(store_path: Path) -> None:
    with open_store(store_path) as store:
        assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS) == 2
        assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    raw = sqlite3.connect(store_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        meta = dict(raw.execute("SELECT key, value FROM meta"))
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert meta["created_by"].startswith("lseprof ")
        indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"runs_group_id", "runs_created_at", "runs_config", "runs_config_key"} <= indexes
        columns = [r[1] for r in raw.execute("PRAGMA table_info(runs)")]
        assert tuple(columns) == COLUMNS
    finally:
        raw.close()


def test_v1_store_is_migrated_keeping_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    raw = sqlite3.connect(path)
    for statement in split_sql(MIGRATIONS[0]):
        raw.execute(statement)
    raw.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    raw.execute(
        "INSERT INTO runs (run_id, group_id, created_at, status, workload, categories) "
        "VALUES ('old', 'g', '2023-01-01T00:00:00.000000+00:00', 'ok', 'bpe', ?)",
        ('{"a": 1}',),
    )
    raw.commit()
    assert (
        raw.execute("SELECT name FROM sqlite_master WHERE name = 'runs_config_key'").fetchone()
        is None
    )
    raw.close()

    with open_store(path) as store:
        assert store.schema_version == 2
        old = store.get("old")
        assert (old.workload, old.categories, old.helpers) == ("bpe", {"a": 1}, [])
        store.add(full_record(run_id="new"))
        assert [r.run_id for r in store.runs()] == ["new", "old"]
    raw = sqlite3.connect(path)
    try:
        assert raw.execute(
            "SELECT name FROM sqlite_master WHERE name = 'runs_config_key'"
        ).fetchone()
        assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            "2",
        )
    finally:
        raw.close()
    with open_store(path) as store:  # reopening an up-to-date store changes nothing
        assert store.schema_version == 2


def test_split_sql_keeps_semicolons_inside_literals() -> None:
    script = "CREATE TABLE t (a TEXT DEFAULT 'x;y');\n-- note; here\nINSERT INTO t VALUES ('1;2');"
    assert split_sql(script) == [
        "CREATE TABLE t (a TEXT DEFAULT 'x;y');",
        "-- note; here\nINSERT INTO t VALUES ('1;2');",
    ]
    for migration in MIGRATIONS:
        assert split_sql(migration)


def test_newer_schema_is_refused(store_path: Path) -> None:
    open_store(store_path).close()
    raw = sqlite3.connect(store_path)
    raw.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    raw.commit()
    raw.close()
    with pytest.raises(LseprofError) as info:
        open_store(store_path)
    msg = one_line(info.value)
    assert msg.endswith("incompatible with this version of lseprof; upgrade lseprof")
    assert str(store_path) in msg and f"schema version {SCHEMA_VERSION + 1}" in msg
    assert info.value.exit_code == EXIT_USAGE


def test_sqlite_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE customers (id INTEGER)")
    raw.commit()
    raw.close()
    with pytest.raises(LseprofError) as info:
        open_store(path)
    assert one_line(info.value).startswith(f"{path} is not an lseprof run store (")
    assert "pass --store PATH" in info.value.message
    # ...and it was left alone.
    raw = sqlite3.connect(path)
    names = [r[0] for r in raw.execute("SELECT name FROM sqlite_master")]
    raw.close()
    assert names == ["customers"]


def test_non_sqlite_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(LseprofError) as info:
        open_store(path)
    assert one_line(info.value) == (
        f"{path} is not an lseprof run store (not an SQLite database); "
        "pass --store PATH to use another file"
    )
    assert path.read_bytes() == content


def test_meta_without_a_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.sqlite"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    raw.execute("INSERT INTO meta VALUES ('schema_version', 'banana')")
    raw.commit()
    raw.close()
    with pytest.raises(LseprofError, match="no valid schema_version"):
        open_store(path)


def test_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    with open_store(path) as store:
        assert store.schema_version == SCHEMA_VERSION


def test_unwritable_location_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("a regular file, so nothing can be created below it")
    path = tmp_path / "afile" / "runs.sqlite"
    with pytest.raises(LseprofError) as info:
        open_store(path)
    msg = one_line(info.value)
    assert msg.startswith(f"cannot write the run store at {path} (")
    assert msg.endswith("); pass --store PATH")
    assert info.value.exit_code == EXIT_USAGE


def test_directory_as_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LseprofError, match="it is a directory"):
        open_store(tmp_path)


def test_missing_store_without_create(tmp_path: Path) -> None:
    path = tmp_path / "missing.sqlite"
    with pytest.raises(LseprofError, match="no run store at"):
        open_store(path, create=False)
    assert not path.exists()


def test_default_path_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(store_mod.STORE_ENV, raising=False)
    monkeypatch.setattr(store_location, "user_data_dir", lambda: tmp_path / "data" / "lseprof")
    assert store_mod.default_store_path() == tmp_path / "data" / "lseprof" / "runs.sqlite"
    with open_store() as store:
        assert store.path == tmp_path / "data" / "lseprof" / "runs.sqlite"
    assert store.path.is_file()  # the directory was created

    monkeypatch.setenv(store_mod.STORE_ENV, str(tmp_path / "env" / "mine.sqlite"))
    with open_store() as store:
        assert store.path == tmp_path / "env" / "mine.sqlite"
    # An explicit path wins over the environment.
    with open_store(tmp_path / "explicit.sqlite") as store:
        assert store.path == tmp_path / "explicit.sqlite"


def test_closed_by_context_manager(store_path: Path) -> None:
    with open_store(store_path) as store:
        pass
    with pytest.raises(sqlite3.ProgrammingError):
        store.runs()


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "runs.sqlite"  # not created yet
    two_writers_at_once(str(path), tmp_path, "SELECT group_id FROM runs ORDER BY rowid")


def test_cli_runs_json_lists_the_filled_store(store_path: Path, tmp_path: Path) -> None:
    with open_store(store_path) as store:
        records = fill(store)
    result = run([LSEPROF, "runs", "--store", store_path, "--json"], env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [d["run_id"] for d in listed] == [f"run{i}" for i in range(5, -1, -1)]
    by_id = {r.run_id: r for r in records}
    for d in listed:
        assert d == by_id[d["run_id"]].to_dict()

    result = run(
        [LSEPROF, "runs", "--store", store_path, "--json", "--limit", "2"], env=cli_env(tmp_path)
    )
    assert [d["run_id"] for d in json.loads(result.stdout)] == ["run5", "run4"]


def test_cli_runs_table(store_path: Path, tmp_path: Path) -> None:
    with open_store(store_path) as store:
        store.add(
            full_record(
                run_id="0123456789abcdef0123456789abcdef",
                status="ok",
                throughput_mib_s=42.25,
                atomic_helper_share=12.5,
            )
        )
    result = run([LSEPROF, "runs", "--store", store_path], env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "run_id" in lines[0] and "MiB/s" in lines[0] and "helper %" in lines[0]
    row = lines[-1]
    # Piped output keeps full ids and does not wrap.
    for cell in (
        "0123456789abcdef0123456789abcdef",
        "group-ünï",
        "2024-05-01 12:34",
        "bpe",
        "rayon",
        "aarch64-lse",
        "42.2",
        "12.5",
        "ok",
    ):
        assert cell in row


def test_cli_runs_with_an_unusable_store_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database at all\n" * 50)
    (tmp_path / "afile").write_text("x")
    for store in (bad, tmp_path / "afile" / "runs.sqlite", tmp_path / "missing.sqlite"):
        for extra in ([], ["--json"]):
            result = run([LSEPROF, "runs", "--store", store, *extra], env=cli_env(tmp_path))
            assert result.returncode == EXIT_USAGE, result.stderr
            assert result.stdout == ""
            assert "Traceback" not in result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, result.stderr
            assert lines[0].startswith("lseprof: error: ")
            assert str(store) in lines[0]


def test_cli_runs_on_a_machine_with_no_store_yet(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    result = run([LSEPROF, "runs", "--json"], env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    result = run([LSEPROF, "runs"], env=env)
    assert result.returncode == 0
    assert "no runs" in result.stderr
    assert not (tmp_path / "xdg" / "lseprof" / "runs.sqlite").exists()


def test_cli_runs_honours_the_env_store(store_path: Path, tmp_path: Path) -> None:
    with open_store(store_path) as store:
        store.add(full_record(run_id="via-env"))
    env = {**cli_env(tmp_path), store_mod.STORE_ENV: str(store_path)}
    result = run([LSEPROF, "runs", "--json"], env=env)
    assert result.returncode == 0, result.stderr
    assert [d["run_id"] for d in json.loads(result.stdout)] == ["via-env"]
