"""The run store in a PostgreSQL database, for a fleet of runners writing to one place.

:class:`PgRunStore` has the schema of the SQLite store in PostgreSQL's dialect
(:data:`lseprof.store.PG_MIGRATIONS`) and the same :class:`RunStoreProtocol`
behaviour; the queries are the shared ones of :class:`SqlRunStoreBase`. Open it
with ``open_store("postgresql://user@host/db")``.

Concurrency: every write is one transaction (all rows of a batch or none), and
the schema migration runs in a transaction holding a transaction-level advisory
lock, so writers on many machines can open and fill one store at once. Failures
a user can fix become one-line :class:`LseprofError` messages; the password of
the URL never appears in them (it is shown as ``***``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.string import TextLoader

from lseprof.errors import EXIT_FAILED, LseprofError
from lseprof.store.base import DuplicateRunId, SqlRunStoreBase
from lseprof.store.records import RunRecord, RunStoreProtocol, record_from_row
from lseprof.store.schema import (
    BUSY_TIMEOUT_S,
    COLUMNS,
    PG_MIGRATIONS,
    SCHEMA_VERSION,
    split_sql,
    statements,
)
from lseprof.store.urls import display_location
from lseprof.version import __version__

CONNECT_TIMEOUT_S = 10  # unless the URL sets connect_timeout
LOCK_TIMEOUT_S = BUSY_TIMEOUT_S  # how long a write waits for a lock, as SQLite's busy timeout
# Key of the advisory lock that serializes schema migrations ("lseprof\x01").
MIGRATION_LOCK_KEY = 0x6C736570726F6601

_PG = statements("%s", "seq")
_SQL_TABLES = "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
_SQL_GET_VERSION = "SELECT value FROM meta WHERE key = 'schema_version'"
_SQL_SET_META = (
    "INSERT INTO meta (key, value) VALUES (%s, %s) "
    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
)
_SQL_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_SQL_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', %s, false)"

_CREATED_AT = COLUMNS.index("created_at")
_EMULATED = COLUMNS.index("emulated")

_AUTH_FAILED = re.compile(
    r"authentication failed|no password supplied|password is required|pg_hba\.conf|"
    r'role ".*" does not exist|permission denied for database',
    re.IGNORECASE,
)
_NO_DATABASE = re.compile(r'database ".*" does not exist', re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^:@/]*:(?P<pw>[^@/]*)@")
_QUERY_PASSWORD = re.compile(r"[?&]password=(?P<pw>[^&#]*)", re.IGNORECASE)
_SEVERITY = re.compile(r"\b(?:FATAL|ERROR):\s+")
# libpq's hint after a refused connection; our message gives the same advice.
_LIBPQ_HINT = re.compile(r"\s*Is the server running (?:on that host|locally) and accepting[^?]*\?")


def _secrets(url: str) -> list[str]:
    """The password of ``url`` as written and decoded, longest first (for scrubbing)."""
    found: set[str] = set()
    for pattern in (_URL_PASSWORD, _QUERY_PASSWORD):
        for match in pattern.finditer(url):
            raw = match.group("pw")
            found.update({raw, unquote(raw)})
    return sorted((s for s in found if s), key=len, reverse=True)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _when_stored(value: Any) -> str:
    """A ``created_at`` timestamptz (or text) as the UTC text that RunRecord holds."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return str(value)


class PgRunStore(SqlRunStoreBase):
    """The PostgreSQL run store. Use :func:`lseprof.store.open_store` with a URL."""

    _sql = _PG

    def __init__(self, url: str, *, create: bool = True) -> None:
        self._url = url
        self._secrets = _secrets(url)
        self.location = display_location(url)
        self._conn = self._connect()
        try:
            self._migrate(create)
        except BaseException:
            self._conn.close()
            raise

    # -- messages

    def _reason(self, exc: BaseException) -> str:
        """One line of what the server or libpq said, without the password."""
        text = str(exc).strip() or type(exc).__name__
        text = text.removeprefix("connection failed: ")
        text = _LIBPQ_HINT.sub("", _SEVERITY.sub("", text))
        return _scrub(" ".join(text.split()), self._secrets)

    def _not_a_store(self, why: str) -> LseprofError:
        return LseprofError(
            f"{self.location} is not an lseprof run store ({why}); "
            "pass --store URL to use another database"
        )

    def _connect_error(self, exc: psycopg.Error) -> LseprofError:
        reason, where = self._reason(exc), self.location
        state = exc.sqlstate or ""
        if isinstance(exc, psycopg.ProgrammingError) and not state:
            return LseprofError(
                f"the run store URL {where} is not valid: {reason}; "
                "write it as postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
            )
        if state in ("28P01", "28000") or _AUTH_FAILED.search(reason):
            return LseprofError(
                f"the PostgreSQL server refused the login to the run store at {where}: "
                f"{reason}; check the user name and password in the URL "
                "(or in ~/.pgpass or $PGPASSWORD)"
            )
        if state == "3D000" or _NO_DATABASE.search(reason):
            return LseprofError(
                f"the database of the run store at {where} does not exist: {reason}; "
                "create it (createdb) or fix the URL"
            )
        return LseprofError(
            f"cannot connect to the run store at {where}: {reason}; "
            "check the URL and that the server is running"
        )

    def _user_error(self, exc: psycopg.Error) -> LseprofError | None:
        """The LseprofError a user can act on for a failure after connecting, or None."""
        state, where = exc.sqlstate or "", self.location
        if state == "53100":
            return LseprofError(
                f"disk full while writing the run store at {where}; free space and re-run",
                EXIT_FAILED,
            )
        if state == "55P03":
            return LseprofError(
                f"the run store at {where} stayed locked by another process for "
                f"{LOCK_TIMEOUT_S:.0f} s; re-run when it is done"
            )
        if state in ("42501", "25006", "3F000"):  # privilege, read-only server, no schema
            return LseprofError(
                f"cannot write the run store at {where} ({self._reason(exc)}); "
                "check the database user's privileges, or pass --store URL"
            )
        if isinstance(exc, psycopg.OperationalError) and (
            not state or state.startswith(("08", "57"))
        ):
            return LseprofError(
                f"lost the connection to the run store at {where}: {self._reason(exc)}; "
                "check that the server is running and re-run"
            )
        return None

    def _translate(self, exc: psycopg.Error) -> BaseException:
        return self._user_error(exc) or exc

    # -- opening

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        options: dict[str, Any] = {}
        try:
            given = conninfo_to_dict(self._url)
        except psycopg.Error as exc:
            raise self._connect_error(exc) from None
        if "connect_timeout" not in given:
            options["connect_timeout"] = CONNECT_TIMEOUT_S
        if "application_name" not in given:
            options["application_name"] = "lseprof"
        try:
            conn = psycopg.connect(self._url, autocommit=True, **options)
        except psycopg.Error as exc:
            raise self._connect_error(exc) from None
        try:
            # JSON columns come back as their text, as from SQLite (record_from_row parses it).
            conn.adapters.register_loader("json", TextLoader)
            conn.execute(_SQL_LOCK_TIMEOUT, (f"{int(LOCK_TIMEOUT_S * 1000)}ms",))
        except psycopg.Error as exc:
            conn.close()
            raise self._user_error(exc) or self._connect_error(exc) from None
        return conn

    def _version(self) -> int:
        """The store's schema version (0: no tables yet); refuses foreign databases."""
        tables = {row[0] for row in self._conn.execute(_SQL_TABLES)}
        if "meta" not in tables:
            if tables:
                raise self._not_a_store("a database with tables but no lseprof meta table")
            return 0
        try:
            row = self._conn.execute(_SQL_GET_VERSION).fetchone()
        except (pg_errors.UndefinedColumn, pg_errors.UndefinedTable):
            return -1  # someone else's meta table
        try:
            return int(row[0]) if row is not None else -1
        except (TypeError, ValueError):
            return -1

    def _migrate(self, create: bool) -> None:
        try:
            version = self._version()
            self._check_version(version)
            if version == SCHEMA_VERSION:
                return
            if version == 0 and not create:
                raise LseprofError(
                    f"no run store in the database at {self.location}; "
                    "check --store URL, or profile a run first"
                )
            # Migrations are transactional in PostgreSQL: all of them or none. The
            # advisory lock makes concurrent openers wait; then they see it done.
            with self._conn.transaction():
                self._conn.execute(_SQL_LOCK, (MIGRATION_LOCK_KEY,))
                version = self._version()
                self._check_version(version)
                for index in range(version, SCHEMA_VERSION):
                    for statement in split_sql(PG_MIGRATIONS[index]):
                        self._conn.execute(statement)
                    self._conn.execute(_SQL_SET_META, ("schema_version", str(index + 1)))
                if version == 0:
                    self._conn.execute(_SQL_SET_META, ("created_by", f"lseprof {__version__}"))
        except psycopg.Error as exc:
            raise self._translate(exc) from None

    @property
    def schema_version(self) -> int:
        try:
            return self._version()
        except psycopg.Error as exc:
            raise self._translate(exc) from None

    # -- rows in and out

    @staticmethod
    def _to_db(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        values[_CREATED_AT] = datetime.fromisoformat(values[_CREATED_AT])
        if values[_EMULATED] is not None:
            values[_EMULATED] = bool(values[_EMULATED])
        # PostgreSQL text cannot hold NUL characters (a process's stray output may).
        return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in values)

    def _record(self, row: Sequence[Any]) -> RunRecord:
        values = list(row)
        values[_CREATED_AT] = _when_stored(values[_CREATED_AT])
        return record_from_row(values)

    def _stamp(self, value: Any) -> str:
        return _when_stored(value)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, params or None)
                return cur.fetchall()
        except psycopg.Error as exc:
            raise self._translate(exc) from None

    def _insert_rows(self, rows: list[tuple[Any, ...]]) -> None:
        values = [self._to_db(row) for row in rows]
        if not values:
            return
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                cur.executemany(self._sql.insert, values)
        except pg_errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "runs_pkey":
                raise DuplicateRunId from None
            raise
        except psycopg.Error as exc:
            raise self._translate(exc) from None

    def close(self) -> None:
        self._conn.close()


def _conforms(store: PgRunStore) -> RunStoreProtocol:
    return store  # mypy checks here that PgRunStore implements the protocol
