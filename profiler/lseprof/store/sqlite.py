"""The SQLite run store: WAL mode, ``BEGIN IMMEDIATE`` writes, a 30 s busy timeout,
and SQLite failures turned into messages a user can act on.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lseprof.errors import EXIT_FAILED, LseprofError
from lseprof.version import __version__

if TYPE_CHECKING:
    pass

from lseprof.store.base import DuplicateRunId, SqlRunStoreBase
from lseprof.store.records import RunStoreProtocol
from lseprof.store.schema import (
    BUSY_TIMEOUT_S,
    MIGRATIONS,
    SCHEMA_VERSION,
    split_sql,
    statements,
)

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE = statements("?", "rowid")
# One statement, so one snapshot: read as two, a store created by another process
# in between looked like "tables but no meta table", a foreign database.
_SQL_HAS_META_AND_TABLES = (
    "SELECT COALESCE(SUM(type = 'table' AND name = 'meta'), 0), COUNT(*) "
    "FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
)
_SQL_GET_VERSION = "SELECT value FROM meta WHERE key = 'schema_version'"
_SQL_SET_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"


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
        return LseprofError(f"the run store at {path} is damaged ({text}); move it away and re-run")
    if (
        code
        in (
            sqlite3.SQLITE_CANTOPEN,
            sqlite3.SQLITE_READONLY,
            sqlite3.SQLITE_PERM,
            sqlite3.SQLITE_IOERR,
            sqlite3.SQLITE_AUTH,
        )
        or "unable to open" in text
        or "readonly" in text
    ):
        reason = text
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            reason = "permission denied"
        return _cannot_write(path, reason)
    return None


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
        # Text a damaged file holds may not be UTF-8: read it replaced, not as a crash
        # (the rows' JSON checks then report what is wrong with them).
        conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            mode = _switch_to_wal(conn)
            if str(mode).lower() != "wal":
                raise _cannot_write(path, f"cannot switch to WAL mode, got {mode!r}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise _user_error(exc, path) or _cannot_write(path, str(exc)) from None
        except UnicodeDecodeError:
            # sqlite3 decodes its error messages, which quote a damaged file's bytes.
            conn.close()
            raise _not_a_store(path, "a damaged SQLite file") from None
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
        except UnicodeDecodeError:  # an error message quoting a damaged file's bytes
            raise self._not_a_store("a damaged SQLite file") from None

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
        except UnicodeDecodeError:
            raise self._not_a_store("a damaged SQLite file") from None

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
            busy = _error_code(exc) in (
                sqlite3.SQLITE_BUSY,
                sqlite3.SQLITE_LOCKED,
            ) or "database is locked" in str(exc)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class _WriteTransaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` if the block raises."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
