"""Persistent storage of profiled runs: an SQLite file, or a PostgreSQL database.

One row per profiled run lives in the ``runs`` table of a versioned schema; see
``docs/store.md`` for the columns and the migration policy. Every SQLite write
runs in a ``BEGIN IMMEDIATE`` transaction on a WAL-mode database with a 30 s
busy timeout, so several lseprof processes can add runs to one store at once.

:func:`open_store` takes a path or a ``postgresql://`` URL; a URL opens a
:class:`lseprof.store.postgres.PgRunStore`. Both backends share the schema
(:data:`MIGRATIONS` and :data:`PG_MIGRATIONS` in :mod:`.schema`, the same tables, columns
and indexes), the conversion between :class:`RunRecord` and a flat row of
column values, and the queries of :class:`SqlRunStoreBase`; each brings its own
connection, transactions, error messages and SQL dialect.

Modules: ``schema`` (tables, migrations, shared queries), ``records``
(RunRecord and the backend protocol), ``run_results`` (the rest of a run's ``extra``
JSON column; its helpers, callers, top symbols and off-CPU view are
:mod:`lseprof.results` records), ``base``
(backend-independent store logic), ``sqlite`` and ``postgres`` (the backends),
``urls`` (URL or path, masked passwords), ``location`` (default path, :func:`open_store`). This
package re-exports their public names; the modules import each other, never
this ``__init__``. It may import only the core modules (``lseprof.errors``,
``lseprof.paths``, ``lseprof.version``).
"""

from lseprof.store.base import DuplicateRunId, SqlRunStoreBase
from lseprof.store.location import (
    default_store_location,
    default_store_path,
    open_store,
    stored_runs,
)
from lseprof.store.records import (
    RUN_STATUSES,
    GroupSummary,
    RunRecord,
    RunStatus,
    RunStoreProtocol,
    new_id,
    normalize_timestamp,
    record_from_row,
    record_from_run_json,
    record_to_row,
    utc_now,
)
from lseprof.store.run_results import NoPerfRun, RunExtra
from lseprof.store.schema import (
    BUSY_TIMEOUT_S,
    COLUMNS,
    JSON_COLUMNS,
    MIGRATIONS,
    MIN_PREFIX,
    PG_MIGRATIONS,
    SCHEMA_VERSION,
    STORE_ENV,
    URL_SCHEMES,
    Statements,
    split_sql,
    statements,
)
from lseprof.store.sqlite import RunStore
from lseprof.store.urls import display_location, is_store_url

__all__ = [
    "BUSY_TIMEOUT_S",
    "COLUMNS",
    "JSON_COLUMNS",
    "MIGRATIONS",
    "MIN_PREFIX",
    "PG_MIGRATIONS",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "STORE_ENV",
    "URL_SCHEMES",
    "DuplicateRunId",
    "GroupSummary",
    "NoPerfRun",
    "RunExtra",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "RunStoreProtocol",
    "SqlRunStoreBase",
    "Statements",
    "default_store_location",
    "default_store_path",
    "display_location",
    "is_store_url",
    "new_id",
    "normalize_timestamp",
    "open_store",
    "record_from_row",
    "record_from_run_json",
    "record_to_row",
    "split_sql",
    "statements",
    "stored_runs",
    "utc_now",
]
