"""Persistent storage of profiled runs: an SQLite file, or a PostgreSQL database.

One row per profiled run lives in the ``runs`` table of a versioned schema; see
``docs/store.md`` for the columns and the migration policy. Every SQLite write
runs in a ``BEGIN IMMEDIATE`` transaction on a WAL-mode database with a 30 s
busy timeout, so several lseprof processes can add runs to one store at once.

:func:`open_store` takes a path or a ``postgresql://`` URL; a URL opens a
:class:`lseprof.store.postgres.PgRunStore`. Both backends share the schema
(:data:`MIGRATIONS` and :data:`PG_MIGRATIONS` below, the same tables, columns
and indexes), the conversion between :class:`RunRecord` and a flat row of
column values, and the queries of :class:`SqlRunStoreBase`; each brings its own
connection, transactions, error messages and SQL dialect.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self, get_args

from lseprof._version import __version__
from lseprof.errors import EXIT_FAILED, LseprofError
from lseprof.paths import user_data_dir

if TYPE_CHECKING:
    import pandas as pd

RunStatus = Literal["ok", "failed", "interrupted", "timeout"]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)

STORE_ENV = "LSEPROF_STORE"
URL_SCHEMES = ("postgresql://", "postgres://")  # a store location starting so is PostgreSQL
MIN_PREFIX = 6  # shortest id prefix that resolve() accepts
BUSY_TIMEOUT_S = 30.0
_SQLITE_MAGIC = b"SQLite format 3\x00"

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
    "run_id", "group_id", "created_at", "status", "message", "workload", "variant",
    "target", "emulated", "cpu_model", "threads", "repeat_index", "throughput_mib_s",
    "samples", "lost_samples", "event", "atomic_helper_share", "categories", "helpers",
    "helper_callers", "perf_data", "run_dir", "hostname", "host", "build",
    "source_commit", "build_id", "config_key", "extra",
)
# Columns holding JSON text; their RunRecord fields are dicts or lists.
JSON_COLUMNS: dict[str, type] = {
    "categories": dict, "helpers": list, "helper_callers": list,
    "host": dict, "build": dict, "extra": dict,
}


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
    helpers: list[Any] = field(default_factory=list)
    helper_callers: list[Any] = field(default_factory=list)
    perf_data: str | None = None
    run_dir: str | None = None
    hostname: str | None = None
    host: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    source_commit: str | None = None
    build_id: str | None = None
    config_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Stored and compared in one form, so that text order is time order.
        self.created_at = normalize_timestamp(self.created_at)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``repeat_index`` is spelled ``repeat``."""
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
            "helpers": self.helpers,
            "helper_callers": self.helper_callers,
            "perf_data": self.perf_data,
            "status": self.status,
            "message": self.message,
            "created_at": self.created_at,
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


def record_to_row(record: RunRecord) -> tuple[Any, ...]:
    """Column values for ``record`` in :data:`COLUMNS` order (JSON columns as text)."""
    if record.status not in RUN_STATUSES:
        raise ValueError(f"run status {record.status!r} is not one of {', '.join(RUN_STATUSES)}")
    values: list[Any] = []
    for name in COLUMNS:
        value = getattr(record, name)
        if name in JSON_COLUMNS:
            value = _to_json(value)
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
            "group_id": self.group_id, "runs": self.runs, "ok": self.ok,
            "first_created_at": self.first_created_at,
            "last_created_at": self.last_created_at, "workloads": self.workloads,
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
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


# --------------------------------------------------------------------------- SQL

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


_SQLITE = statements("?", "rowid")
# One statement, so one snapshot: read as two, a store created by another process
# in between looked like "tables but no meta table", a foreign database.
_SQL_HAS_META_AND_TABLES = (
    "SELECT COALESCE(SUM(type = 'table' AND name = 'meta'), 0), COUNT(*) "
    "FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
)
_SQL_GET_VERSION = "SELECT value FROM meta WHERE key = 'schema_version'"
_SQL_SET_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"


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


def default_store_path() -> Path:
    """``$LSEPROF_STORE`` if set, else ``runs.sqlite`` in the per-user data directory.

    This is a path; when ``$LSEPROF_STORE`` may hold a ``postgresql://`` URL, use
    :func:`default_store_location`, which does not mangle it.
    """
    env = os.environ.get(STORE_ENV)
    if env:
        return Path(env)
    return user_data_dir() / "runs.sqlite"


def default_store_location() -> str:
    """``$LSEPROF_STORE`` (a path or a URL) if set, else the default SQLite path."""
    return os.environ.get(STORE_ENV) or str(default_store_path())


def is_store_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a PostgreSQL store (``postgresql://`` or ``postgres://``)."""
    return isinstance(location, str) and location.lower().startswith(URL_SCHEMES)


_COLLAPSED_SCHEMES = tuple(scheme.rstrip("/") + "/" for scheme in URL_SCHEMES)
_URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):[^@/]*@")
_URL_QUERY_PASSWORD = re.compile(r"(?P<key>[?&]password=)[^&#]*", re.IGNORECASE)


def display_location(location: str | os.PathLike[str]) -> str:
    """``location`` as it may be shown: a store URL with its password masked as ``***``."""
    text = os.fspath(location)
    if not is_store_url(text):
        return text
    text = _URL_USERINFO.sub(r"\g<scheme>\g<user>:***@", text, count=1)
    return _URL_QUERY_PASSWORD.sub(r"\g<key>***", text)


def _cannot_write(path: Path, reason: str) -> LseprofError:
    return LseprofError(f"cannot write the run store at {path} ({reason}); pass --store PATH")


def _not_a_store(path: Path, why: str) -> LseprofError:
    return LseprofError(
        f"{path} is not an lseprof run store ({why}); pass --store PATH to use another file"
    )


def _error_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF  # primary result code


def _user_error(exc: sqlite3.Error, path: Path) -> LseprofError | None:
    """The LseprofError a user can act on for an SQLite failure, or None for a bug."""
    code = _error_code(exc)
    text = str(exc)
    if code == sqlite3.SQLITE_FULL or "database or disk is full" in text:
        return LseprofError(
            f"disk full while writing the run store at {path}; free space and re-run",
            EXIT_FAILED,
        )
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "database is locked" in text:
        return LseprofError(
            f"the run store at {path} stayed locked by another process for "
            f"{BUSY_TIMEOUT_S:.0f} s; re-run when it is done"
        )
    if code == sqlite3.SQLITE_NOTADB or "file is not a database" in text:
        return _not_a_store(path, "not an SQLite database")
    if code == sqlite3.SQLITE_CORRUPT or "malformed" in text:
        return LseprofError(
            f"the run store at {path} is damaged ({text}); move it away and re-run"
        )
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM,
                sqlite3.SQLITE_IOERR, sqlite3.SQLITE_AUTH) or "unable to open" in text \
            or "readonly" in text:
        reason = text
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            reason = "permission denied"
        return _cannot_write(path, reason)
    return None


def open_store(path: str | os.PathLike[str] | None = None, *,
               create: bool = True) -> RunStoreProtocol:
    """Open (creating and migrating as needed) the run store at ``path``.

    ``path`` is an SQLite file, or a ``postgresql://`` (or ``postgres://``) URL
    for a :class:`lseprof.store.postgres.PgRunStore`; pass URLs as ``str``, since
    ``Path`` collapses their ``//``. It defaults to :func:`default_store_location`.
    With ``create=False`` a missing store is an error instead of being created.
    """
    location: str | os.PathLike[str] = path if path is not None else default_store_location()
    if not isinstance(location, str) and os.fspath(location).startswith(_COLLAPSED_SCHEMES):
        # A URL that went through pathlib.Path: "postgresql://h/db" became "postgresql:/h/db".
        url = os.fspath(location).replace(":/", "://", 1)
        raise LseprofError(
            f"the run store {display_location(url)} was given as a file path, which lost the "
            "// of the URL; pass PostgreSQL URLs as text (a str, not a Path)"
        )
    if is_store_url(location):
        from lseprof.store.postgres import PgRunStore  # psycopg is only needed for PostgreSQL

        return PgRunStore(os.fspath(location), create=create)
    return RunStore(Path(location), create=create)


def stored_runs(store: str | None, limit: int | None = None,
                workload: str | None = None) -> tuple[str, list[RunRecord]]:
    """Where the store is (`store`, else :func:`default_store_location`) and its runs,
    newest first.

    A default store that does not exist yet (nothing profiled on this machine) has no
    runs; a store the user named must exist.
    """
    implicit = store is None and not os.environ.get(STORE_ENV)
    location = store if store is not None else default_store_location()
    if implicit and not Path(location).exists():
        return location, []
    with open_store(location, create=False) as opened:
        return location, opened.runs(limit=limit, workload=workload)


class DuplicateRunId(Exception):
    """Raised by a backend's ``_insert_rows`` when a run id is already stored."""


class SqlRunStoreBase(ABC):
    """The part of a run store that does not depend on the database.

    A backend supplies its :class:`Statements`, runs them (:meth:`_rows`,
    :meth:`_insert_rows`), and converts its column values (:meth:`_record`,
    :meth:`_stamp`); the queries, id resolution and messages are shared.
    """

    location: str
    _sql: ClassVar[Statements]

    # -- what a backend provides

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query, database errors turned into LseprofErrors."""

    @abstractmethod
    def _insert_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows (from :func:`record_to_row`) in one transaction, all or none.

        Raises :class:`DuplicateRunId` if a run id is already taken.
        """

    @abstractmethod
    def _not_a_store(self, why: str) -> LseprofError:
        """The error for a database that is not an lseprof run store."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def _record(self, row: Sequence[Any]) -> RunRecord:
        return record_from_row(row)

    def _stamp(self, value: Any) -> str:
        """A ``created_at`` value as read from the database, as stored text."""
        return str(value)

    # -- shared

    def _check_version(self, version: int) -> None:
        if version < 0:
            raise self._not_a_store("its meta table has no valid schema_version")
        if version > SCHEMA_VERSION:
            raise LseprofError(
                f"the run store at {self.location} has schema version {version}, newer than the "
                f"{SCHEMA_VERSION} this lseprof knows: it is incompatible with this version "
                "of lseprof; upgrade lseprof"
            )

    def add(self, record: RunRecord) -> None:
        """Store one run; nothing is written if it fails."""
        self.add_many([record])

    def add_many(self, records: Iterable[RunRecord]) -> None:
        """Store several runs in one transaction: all of them or none."""
        rows = [record_to_row(r) for r in records]
        try:
            self._insert_rows(rows)
        except DuplicateRunId:
            dupes = self._existing([str(row[0]) for row in rows])
            which = ", ".join(repr(d) for d in dupes) or "a run id given twice"
            raise LseprofError(
                f"run {which} is already in the store at {self.location}; use a new run id",
                EXIT_FAILED,
            ) from None

    def _existing(self, run_ids: list[str]) -> list[str]:
        return [rid for rid in dict.fromkeys(run_ids) if self._rows(self._sql.get, (rid,))]

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[RunRecord]:
        return [self._record(row) for row in self._rows(sql, params)]

    def _unknown(self, ident: str) -> LseprofError:
        return LseprofError(
            f"no run or group '{ident}' in store {self.location}; list them with `lseprof runs`"
        )

    def get(self, run_id: str) -> RunRecord:
        """The run with this id."""
        found = self._query(self._sql.get, (run_id,))
        if not found:
            raise self._unknown(run_id)
        return found[0]

    def group(self, group_id: str) -> list[RunRecord]:
        """The runs of one group, oldest first."""
        found = self._query(self._sql.group, (group_id,))
        if not found:
            raise self._unknown(group_id)
        return found

    def resolve(self, ident: str) -> list[RunRecord]:
        """The runs named by ``ident``: a run id gives that run, a group id the group's.

        A unique prefix (at least :data:`MIN_PREFIX` characters) of a run or group
        id works too, as ``lseprof runs`` shows shortened ids in narrow terminals.
        """
        found = self._query(self._sql.get, (ident,))
        if found:
            return found
        found = self._query(self._sql.group, (ident,))
        if found or len(ident) < MIN_PREFIX:
            return found or self.group(ident)
        run_ids = [r[0] for r in self._rows(self._sql.run_prefix, (len(ident), ident))]
        group_ids = [r[0] for r in self._rows(self._sql.group_prefix, (len(ident), ident))]
        if len(run_ids) + len(group_ids) > 1:
            raise LseprofError(
                f"'{ident}' is the start of several run or group ids in store {self.location}; "
                "give more of it"
            )
        if run_ids:
            return [self.get(run_ids[0])]
        if group_ids:
            return self.group(group_ids[0])
        raise self._unknown(ident)

    def runs(self, limit: int | None = None, workload: str | None = None) -> list[RunRecord]:
        """Stored runs, newest first, optionally only one workload's and at most ``limit``."""
        sql, params = self._sql.runs, list[Any]()
        if workload is not None:
            sql += self._sql.runs_workload
            params.append(workload)
        sql += self._sql.runs_order
        if limit is not None:
            if limit < 0:
                raise ValueError("limit must not be negative")
            sql += self._sql.runs_limit
            params.append(limit)
        return self._query(sql, params)

    def groups(self) -> list[GroupSummary]:
        """One summary per group, the group with the newest run first."""
        workloads: dict[str, list[str]] = {}
        for gid, workload in self._rows(self._sql.group_workloads):
            workloads.setdefault(gid, []).append(workload)
        return [
            GroupSummary(gid, int(count), int(ok or 0), self._stamp(first), self._stamp(last),
                         workloads.get(gid, []))
            for gid, count, ok, first, last in self._rows(self._sql.groups)
        ]

    def to_dataframe(self) -> pd.DataFrame:
        """All runs, newest first, one column per :meth:`RunRecord.to_dict` key.

        ``created_at`` becomes a timezone-aware (UTC) datetime column.
        """
        import pandas as pd

        records = self.runs()
        columns = list(RunRecord("", "", "ok").to_dict())
        frame = pd.DataFrame([r.to_dict() for r in records], columns=columns)
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
        return frame

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"


class RunStore(SqlRunStoreBase):
    """The SQLite run store. Use :func:`open_store`; close it or use ``with``."""

    _sql = _SQLITE

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._conn = self._connect(create)
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    # -- opening

    def _connect(self, create: bool) -> sqlite3.Connection:
        path = self.path
        if path.is_dir():
            raise _cannot_write(path, "it is a directory")
        if path.exists():
            try:
                with path.open("rb") as fh:
                    head = fh.read(len(_SQLITE_MAGIC))
            except OSError as exc:
                raise _cannot_write(path, exc.strerror or str(exc)) from None
            if head and head != _SQLITE_MAGIC:
                raise _not_a_store(path, "not an SQLite database")
        elif not create:
            raise LseprofError(
                f"no run store at {path}; check --store PATH, or profile a run first"
            )
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _cannot_write(path, exc.strerror or str(exc)) from None
            if not os.access(path.parent, os.W_OK):
                raise _cannot_write(path, "permission denied")
        try:
            # isolation_level=None: no implicit transactions, we issue BEGIN ourselves.
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise _user_error(exc, path) or _cannot_write(path, str(exc)) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            mode = _switch_to_wal(conn)
            if str(mode).lower() != "wal":
                raise _cannot_write(path, f"cannot switch to WAL mode, got {mode!r}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise _user_error(exc, path) or _cannot_write(path, str(exc)) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _version(self) -> int:
        """The store's schema version (0: empty file); refuses foreign databases."""
        conn = self._conn
        has_meta, tables = conn.execute(_SQL_HAS_META_AND_TABLES).fetchone()
        if not has_meta:
            if tables:
                raise _not_a_store(self.path, "an SQLite database without lseprof's meta table")
            return 0
        row = conn.execute(_SQL_GET_VERSION).fetchone()
        try:
            return int(row[0]) if row is not None else -1
        except (TypeError, ValueError):
            return -1

    def _not_a_store(self, why: str) -> LseprofError:
        return _not_a_store(self.path, why)

    def _migrate(self) -> None:
        try:
            version = self._version()
            self._check_version(version)
            if version == SCHEMA_VERSION:
                return
            # Re-read under the write lock: another process may have migrated meanwhile.
            with self._write():
                version = self._version()
                self._check_version(version)
                for index in range(version, SCHEMA_VERSION):
                    for statement in split_sql(MIGRATIONS[index]):
                        self._conn.execute(statement)
                    self._conn.execute(_SQL_SET_META, ("schema_version", str(index + 1)))
                if version == 0:
                    self._conn.execute(_SQL_SET_META, ("created_by", f"lseprof {__version__}"))
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    # -- transactions and errors

    def _translate(self, exc: sqlite3.Error) -> BaseException:
        return _user_error(exc, self.path) or exc

    def _write(self) -> _WriteTransaction:
        return _WriteTransaction(self._conn)

    @property
    def schema_version(self) -> int:
        return self._version()

    # -- the backend's part of the interface

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn.execute(sql, params))
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def _insert_rows(self, rows: list[tuple[Any, ...]]) -> None:
        try:
            with self._write():
                self._conn.executemany(self._sql.insert, rows)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) and "run_id" in str(exc):
                raise DuplicateRunId from None
            raise
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def close(self) -> None:
        self._conn.close()


def _switch_to_wal(conn: sqlite3.Connection) -> str:
    """``PRAGMA journal_mode = WAL``, retried while another process holds the file.

    While another process is creating the store, the switch can fail with
    SQLITE_BUSY at once, without waiting for the busy timeout: retry it until then.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            busy = _error_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) \
                or "database is locked" in str(exc)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class _WriteTransaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` if the block raises."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self._conn.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            # SQLite may have rolled back already (e.g. after SQLITE_FULL).
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")


def _conforms(store: RunStore) -> RunStoreProtocol:
    return store  # mypy checks here that RunStore implements the protocol
