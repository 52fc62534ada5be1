"""The PostgreSQL run store, against a real throwaway PostgreSQL server.

The module starts its own server (``initdb`` + ``pg_ctl`` from the Debian
``postgresql`` package, which ``make setup`` installs) in a temporary directory,
on a free port on 127.0.0.1 with password (scram) logins, and removes it
afterwards; it never touches a system PostgreSQL. As root the server runs as
the ``postgres`` user (PostgreSQL refuses to run as root). Every test gets a
fresh, empty database (one database whose ``public`` schema is recreated per
test: much cheaper than CREATE DATABASE). Without the binaries the tests are
skipped, saying why.

The backend-neutral tests of tests/unit/test_store.py run here too: they are
imported below, and the ``store_path`` fixture of this module gives them a
``postgresql://`` URL instead of an SQLite path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lseprof import LseprofError
from lseprof.errors import EXIT_USAGE
from lseprof.store import (
    COLUMNS,
    PG_MIGRATIONS,
    SCHEMA_VERSION,
    RunRecord,
    display_location,
    is_store_url,
    open_store,
    split_sql,
)
from tests.helpers import LSEPROF, run
from tests.pg_server import (  # noqa: F401 (pytest finds the fixtures by their names here)
    ADMIN,
    PASSWORD,
    PgServer,
    database,
    error_of,
    free_port,
    pg_server,
    psycopg,
    role_conn,
    store_path,
)
from tests.unit.test_store import (
    cli_env,
    fill,
    full_record,
    one_line,
    test_a_failed_batch_writes_nothing,
    test_awkward_values_are_stored_as_strict_json,
    test_bad_status_and_bad_time_are_refused,
    test_created_at_is_normalized_to_utc,
    test_emulated_false_is_not_none,
    test_every_field_round_trips_through_a_reopened_store,
    test_group_and_groups,
    test_resolve_run_group_and_unique_prefix,
    test_runs_are_newest_first_with_limit_and_workload,
    test_same_timestamp_keeps_insertion_order,
    test_to_dataframe,
    test_unknown_ids_say_what_to_do,
    test_unset_fields_round_trip_as_none_or_empty,
    two_writers_at_once,
)

# The backend-neutral tests of test_store.py, collected again here, where
# `store_path` is a PostgreSQL URL (see the docstring).
SHARED_TESTS = (
    test_every_field_round_trips_through_a_reopened_store,
    test_unset_fields_round_trip_as_none_or_empty,
    test_emulated_false_is_not_none,
    test_awkward_values_are_stored_as_strict_json,
    test_created_at_is_normalized_to_utc,
    test_bad_status_and_bad_time_are_refused,
    test_runs_are_newest_first_with_limit_and_workload,
    test_same_timestamp_keeps_insertion_order,
    test_group_and_groups,
    test_unknown_ids_say_what_to_do,
    test_resolve_run_group_and_unique_prefix,
    test_to_dataframe,
    test_a_failed_batch_writes_nothing,
)


# ------------------------------------------------------------------ locations (no server)


def test_urls_are_told_from_paths_and_passwords_masked() -> None:
    assert is_store_url("postgresql://u@h/db") and is_store_url("postgres://h/db")
    assert not is_store_url("runs.sqlite") and not is_store_url(Path("postgresql://h/db"))
    assert display_location("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert display_location("postgres://h/db?user=u&password=pw&sslmode=require") == (
        "postgres://h/db?user=u&password=***&sslmode=require"
    )
    assert display_location("postgresql://u@h/db") == "postgresql://u@h/db"
    assert display_location(Path("/x/runs.sqlite")) == "/x/runs.sqlite"


def test_a_url_mangled_by_path_is_refused_not_made_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    err = error_of(Path(f"postgresql://u:{PASSWORD}@127.0.0.1:1/db"))
    assert err.message.startswith(
        "the run store postgresql://u:***@127.0.0.1:1/db was given as a file path"
    )
    assert list(tmp_path.iterdir()) == []


def test_invalid_url_is_one_line_without_the_password() -> None:
    err = error_of(f"postgresql://u:{PASSWORD}%zz@127.0.0.1:1/db")  # bad percent escape
    assert err.message.startswith(
        "the run store URL postgresql://u:***@127.0.0.1:1/db is not valid: "
    )


# ------------------------------------------------------------------ schema


def test_fresh_store_has_the_sqlite_schema_in_postgresql(
    pg_server: PgServer, store_path: str, database: str
) -> None:
    with open_store(store_path) as store:
        assert store.schema_version == SCHEMA_VERSION  # type: ignore[attr-defined]
        assert store.location == display_location(store_path)
        assert PASSWORD not in store.location and PASSWORD not in repr(store)
        lock_timeout = store._conn.execute("SHOW lock_timeout").fetchone()[0]  # type: ignore[attr-defined]
        assert lock_timeout == "30s"
    with role_conn(pg_server, database) as raw:
        meta = dict(raw.execute("SELECT key, value FROM meta").fetchall())
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert meta["created_by"].startswith("lseprof ")
        columns = raw.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'runs' ORDER BY ordinal_position"
        ).fetchall()
        # The columns of the SQLite store, in order, plus seq (PostgreSQL's rowid).
        names = [name for name, _ in columns]
        assert tuple(n for n in names if n != "seq") == COLUMNS and "seq" in names
        types = dict(columns)
        assert types["created_at"] == "timestamp with time zone"
        assert types["emulated"] == "boolean"
        assert types["throughput_mib_s"] == "double precision"
        assert types["samples"] == "bigint" and types["extra"] == "json"
        indexes = {
            r[0] for r in raw.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'runs'")
        }
        assert {"runs_group_id", "runs_created_at", "runs_config", "runs_config_key"} <= indexes


def test_v1_store_is_migrated_keeping_its_runs(
    pg_server: PgServer, store_path: str, database: str
) -> None:
    with role_conn(pg_server, database) as raw:
        for statement in split_sql(PG_MIGRATIONS[0]):
            raw.execute(statement)
        raw.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        raw.execute(
            "INSERT INTO runs (run_id, group_id, created_at, status, workload, categories) "
            "VALUES ('old', 'g', '2023-01-01T00:00:00+00:00', 'ok', 'bpe', %s)",
            ('{"a": 1}',),
        )
    with open_store(store_path) as store:
        assert store.schema_version == 2  # type: ignore[attr-defined]
        old = store.get("old")
        assert (old.workload, old.categories, old.helpers) == ("bpe", {"a": 1}, [])
        assert old.created_at == "2023-01-01T00:00:00.000000+00:00"
        store.add(full_record(run_id="new"))
        assert [r.run_id for r in store.runs()] == ["new", "old"]
    with role_conn(pg_server, database) as raw:
        assert raw.execute(
            "SELECT 1 FROM pg_indexes WHERE indexname = 'runs_config_key'"
        ).fetchone()
        assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            "2",
        )


def test_newer_schema_is_refused(pg_server: PgServer, store_path: str, database: str) -> None:
    open_store(store_path).close()
    with role_conn(pg_server, database) as raw:
        raw.execute(
            "UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    err = error_of(store_path)
    assert err.message.endswith("incompatible with this version of lseprof; upgrade lseprof")
    assert display_location(store_path) in err.message
    assert f"schema version {SCHEMA_VERSION + 1}" in err.message
    assert err.exit_code == EXIT_USAGE


def test_database_that_is_not_a_store_is_refused_and_left_alone(
    pg_server: PgServer, store_path: str, database: str
) -> None:
    with role_conn(pg_server, database) as raw:
        raw.execute("CREATE TABLE customers (id INTEGER)")
    err = error_of(store_path)
    assert err.message == (
        f"{display_location(store_path)} is not an lseprof run store (a database with tables "
        "but no lseprof meta table); pass --store URL to use another database"
    )
    with role_conn(pg_server, database) as raw:
        tables = [
            r[0] for r in raw.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
    assert tables == ["customers"]


def test_meta_without_a_version_is_refused(
    pg_server: PgServer, store_path: str, database: str
) -> None:
    with role_conn(pg_server, database) as raw:
        raw.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        raw.execute("INSERT INTO meta VALUES ('schema_version', 'banana')")
    assert "no valid schema_version" in error_of(store_path).message


def test_empty_database_without_create_is_an_error_and_stays_empty(
    pg_server: PgServer, store_path: str, database: str
) -> None:
    err = error_of(store_path, create=False)
    assert err.message.startswith("no run store in the database at postgresql://")
    with role_conn(pg_server, database) as raw:
        assert raw.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone() == (0,)


def test_nul_characters_do_not_break_a_write(store_path: str) -> None:
    with open_store(store_path) as store:
        store.add(full_record(run_id="nul", message="out\x00put", extra={"raw": "a\x00b"}))
        back = store.get("nul")
    assert back.message == "out\ufffdput"  # PostgreSQL text cannot hold NUL
    assert back.extra.other == {"raw": "a\x00b"}  # JSON escapes it


# ------------------------------------------------------------------ concurrency


def test_two_processes_writing_at_once_lose_nothing(store_path: str, tmp_path: Path) -> None:
    # Both race to create the schema in the empty database, then interleave inserts.
    two_writers_at_once(store_path, tmp_path, "SELECT group_id FROM runs ORDER BY seq")


# ------------------------------------------------------------------ connection errors


def test_unreachable_server(pg_server: PgServer) -> None:
    url = pg_server.url("whatever", port=free_port())  # nothing listens there
    err = error_of(url)
    masked = display_location(url)
    assert err.message.startswith(f"cannot connect to the run store at {masked}: ")
    assert "Connection refused" in err.message
    assert err.message.endswith("; check the URL and that the server is running")
    assert err.exit_code == EXIT_USAGE


def test_wrong_password_and_unknown_user(pg_server: PgServer, database: str) -> None:
    for url in (
        pg_server.url(database, password="not-" + PASSWORD),
        pg_server.url(database, user="nobody"),
    ):
        err = error_of(url)
        assert err.message.startswith(
            f"the PostgreSQL server refused the login to the run store at {display_location(url)}: "
        )
        assert "password authentication failed" in err.message
        assert "check the user name and password in the URL" in err.message


def test_missing_database(pg_server: PgServer) -> None:
    err = error_of(pg_server.url("no_such_db"))
    assert err.message.startswith("the database of the run store at ")
    assert 'database "no_such_db" does not exist' in err.message


def test_no_privilege_to_create_the_schema(pg_server: PgServer) -> None:
    # Owned by the admin: since PostgreSQL 15 others may not create tables in public.
    database = pg_server.new_database(owner=ADMIN)
    err = error_of(pg_server.url(database))
    assert err.message.startswith(
        f"cannot write the run store at {pg_server.url(database)}".replace(PASSWORD, "***")
    )
    assert "permission denied" in err.message


def test_lost_connection_is_a_user_error(pg_server: PgServer, store_path: str) -> None:
    with open_store(store_path) as store:
        pid = store._conn.info.backend_pid  # type: ignore[attr-defined]
        with pg_server.admin() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(LseprofError) as info:
            store.runs()
    assert one_line(info.value).startswith("lost the connection to the run store at ")
    assert PASSWORD not in info.value.message


def test_postgres_scheme_alias(pg_server: PgServer, database: str) -> None:
    url = pg_server.url(database).replace("postgresql://", "postgres://", 1)
    with open_store(url) as store:
        store.add(RunRecord(run_id="r", group_id="g", status="ok"))
        assert [r.run_id for r in store.runs()] == ["r"]


# ------------------------------------------------------------------ `lseprof runs`


def test_cli_runs_json_with_a_url(pg_server: PgServer, store_path: str, tmp_path: Path) -> None:
    with open_store(store_path) as store:
        records = fill(store)
    result = run([LSEPROF, "runs", "--store", store_path, "--json"], env=cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    by_id = {r.run_id: r.to_dict() for r in records}
    listed = json.loads(result.stdout)
    assert [d["run_id"] for d in listed] == [f"run{i}" for i in range(5, -1, -1)]
    assert listed == [by_id[d["run_id"]] for d in listed]

    dead = pg_server.url("db", port=free_port())
    result = run([LSEPROF, "runs", "--store", dead, "--json"], env=cli_env(tmp_path))
    assert result.returncode == EXIT_USAGE
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"lseprof: error: cannot connect to the run store at {display_location(dead)}: "
    )
    assert lines[0].endswith("Connection refused; check the URL and that the server is running")
    assert PASSWORD not in result.stderr
