"""The run store's schema: the ``runs`` table, its migrations in both SQL dialects,
and the queries every backend shares.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


STORE_ENV = "LSEPROF_STORE"
URL_SCHEMES = ("postgresql://", "postgres://")  # a store location starting so is PostgreSQL
MIN_PREFIX = 6  # shortest id prefix that resolve() accepts
BUSY_TIMEOUT_S = 30.0

# --------------------------------------------------------------------------- schema
#
# MIGRATIONS[i] takes a store from schema version i to version i + 1; the
# current version is len(MIGRATIONS). Migrations are append-only: a released
# script is never edited, a change to the schema is a new script at the end.
# The migrator records the version in meta itself; scripts only change tables.

MIGRATIONS: list[str] = [
    # 1: the tables.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE runs (
        run_id              TEXT PRIMARY KEY,
        group_id            TEXT NOT NULL,
        created_at          TEXT NOT NULL,
        status              TEXT NOT NULL,
        message             TEXT,
        workload            TEXT,
        variant             TEXT,
        target              TEXT,
        emulated            INTEGER,
        cpu_model           TEXT,
        threads             INTEGER,
        repeat_index        INTEGER,
        throughput_mib_s    REAL,
        samples             INTEGER,
        lost_samples        INTEGER,
        event               TEXT,
        atomic_helper_share REAL,
        categories          TEXT,
        helpers             TEXT,
        helper_callers      TEXT,
        perf_data           TEXT,
        run_dir             TEXT,
        hostname            TEXT,
        host                TEXT,
        build               TEXT,
        source_commit       TEXT,
        build_id            TEXT,
        config_key          TEXT,
        extra               TEXT
    );
    CREATE INDEX runs_group_id ON runs (group_id);
    CREATE INDEX runs_created_at ON runs (created_at);
    CREATE INDEX runs_config ON runs (workload, variant, target, threads);
    """,
    # 2: nightly series are looked up by config_key, newest first.
    """
    CREATE INDEX runs_config_key ON runs (config_key, created_at);
    """,
]

# The same schema in PostgreSQL's dialect: PG_MIGRATIONS[i] is MIGRATIONS[i]
# with PostgreSQL types (same tables, columns in the same order, same indexes),
# under the same append-only policy. Types: TIMESTAMPTZ for created_at, BOOLEAN
# for emulated, BIGINT for integers, DOUBLE PRECISION for reals, and json (not
# jsonb, which would reorder object keys) for the JSON columns. PostgreSQL has
# no rowid, so `seq` (after the columns of COLUMNS) numbers the rows in
# insertion order, as SQLite's implicit rowid does.

PG_MIGRATIONS: list[str] = [
    # 1: the tables.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE runs (
        run_id              TEXT PRIMARY KEY,
        group_id            TEXT NOT NULL,
        created_at          TIMESTAMPTZ NOT NULL,
        status              TEXT NOT NULL,
        message             TEXT,
        workload            TEXT,
        variant             TEXT,
        target              TEXT,
        emulated            BOOLEAN,
        cpu_model           TEXT,
        threads             BIGINT,
        repeat_index        BIGINT,
        throughput_mib_s    DOUBLE PRECISION,
        samples             BIGINT,
        lost_samples        BIGINT,
        event               TEXT,
        atomic_helper_share DOUBLE PRECISION,
        categories          JSON,
        helpers             JSON,
        helper_callers      JSON,
        perf_data           TEXT,
        run_dir             TEXT,
        hostname            TEXT,
        host                JSON,
        build               JSON,
        source_commit       TEXT,
        build_id            TEXT,
        config_key          TEXT,
        extra               JSON,
        seq                 BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX runs_group_id ON runs (group_id);
    CREATE INDEX runs_created_at ON runs (created_at);
    CREATE INDEX runs_config ON runs (workload, variant, target, threads);
    """,
    # 2: nightly series are looked up by config_key, newest first.
    """
    CREATE INDEX runs_config_key ON runs (config_key, created_at);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
assert len(PG_MIGRATIONS) == SCHEMA_VERSION  # one schema, two dialects

# Columns of `runs`, in table order; RunRecord has one field per column.
COLUMNS: tuple[str, ...] = (
    "run_id",
    "group_id",
    "created_at",
    "status",
    "message",
    "workload",
    "variant",
    "target",
    "emulated",
    "cpu_model",
    "threads",
    "repeat_index",
    "throughput_mib_s",
    "samples",
    "lost_samples",
    "event",
    "atomic_helper_share",
    "categories",
    "helpers",
    "helper_callers",
    "perf_data",
    "run_dir",
    "hostname",
    "host",
    "build",
    "source_commit",
    "build_id",
    "config_key",
    "extra",
)
# Columns holding JSON text; their RunRecord fields are dicts or lists.
JSON_COLUMNS: dict[str, type] = {
    "categories": dict,
    "helpers": list,
    "helper_callers": list,
    "host": dict,
    "build": dict,
    "extra": dict,
}


@dataclass(frozen=True)
class Statements:
    """The queries over ``runs`` that every backend runs, in one SQL dialect."""

    insert: str
    get: str
    group: str
    runs: str
    runs_workload: str
    runs_order: str
    runs_limit: str
    groups: str
    group_workloads: str
    run_prefix: str
    group_prefix: str


def statements(placeholder: str, insertion_order: str) -> Statements:
    """The shared queries with ``placeholder`` for parameters (``?`` or ``%s``).

    ``insertion_order`` is the column that numbers rows as they were inserted
    (``rowid`` in SQLite, ``seq`` in PostgreSQL), the tie-breaker for equal times.
    """
    ph, cols = placeholder, ", ".join(COLUMNS)
    return Statements(
        insert=f"INSERT INTO runs ({cols}) VALUES ({', '.join(ph for _ in COLUMNS)})",
        get=f"SELECT {cols} FROM runs WHERE run_id = {ph}",
        group=f"SELECT {cols} FROM runs WHERE group_id = {ph} "
        f"ORDER BY created_at, {insertion_order}",
        runs=f"SELECT {cols} FROM runs",
        runs_workload=f" WHERE workload = {ph}",
        runs_order=f" ORDER BY created_at DESC, {insertion_order} DESC",
        runs_limit=f" LIMIT {ph}",
        groups=(
            "SELECT group_id, COUNT(*), SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END), "
            "MIN(created_at), MAX(created_at) "
            "FROM runs GROUP BY group_id ORDER BY MAX(created_at) DESC, group_id"
        ),
        group_workloads=(
            "SELECT DISTINCT group_id, workload FROM runs WHERE workload IS NOT NULL "
            "ORDER BY group_id, workload"
        ),
        run_prefix=f"SELECT run_id FROM runs WHERE substr(run_id, 1, {ph}) = {ph} LIMIT 2",
        group_prefix=(
            f"SELECT DISTINCT group_id FROM runs WHERE substr(group_id, 1, {ph}) = {ph} LIMIT 2"
        ),
    )


def split_sql(script: str) -> list[str]:
    """The statements of a migration script, one string each.

    ``executescript`` would commit the open transaction first, so migrations run
    statement by statement inside the migrator's own transaction instead.
    """
    statements: list[str] = []
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \t\r\n;"):
                statements.append(current.strip())
            current = ""
    if current.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement in migration: {current.strip()!r}")
    return statements
