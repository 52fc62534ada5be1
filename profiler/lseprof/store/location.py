"""Where a run store is: the default path, ``$LSEPROF_STORE``, URLs versus paths, and
opening the right backend for a location.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from lseprof.errors import LseprofError
from lseprof.paths import user_data_dir

if TYPE_CHECKING:
    pass

from lseprof.store.records import RunRecord, RunStoreProtocol
from lseprof.store.schema import STORE_ENV
from lseprof.store.sqlite import RunStore
from lseprof.store.urls import COLLAPSED_SCHEMES, display_location, is_store_url


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


def open_store(
    path: str | os.PathLike[str] | None = None, *, create: bool = True
) -> RunStoreProtocol:
    """Open (creating and migrating as needed) the run store at ``path``.

    ``path`` is an SQLite file, or a ``postgresql://`` (or ``postgres://``) URL
    for a :class:`lseprof.store.postgres.PgRunStore`; pass URLs as ``str``, since
    ``Path`` collapses their ``//``. It defaults to :func:`default_store_location`.
    With ``create=False`` a missing store is an error instead of being created.
    """
    location: str | os.PathLike[str] = path if path is not None else default_store_location()
    if not isinstance(location, str) and os.fspath(location).startswith(COLLAPSED_SCHEMES):
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


def stored_runs(
    store: str | None, limit: int | None = None, workload: str | None = None
) -> tuple[str, list[RunRecord]]:
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
