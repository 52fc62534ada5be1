"""A real throwaway PostgreSQL server for the store tests (see tests/e2e/test_store_pg.py).

The server (``initdb`` + ``pg_ctl`` from the Debian ``postgresql`` package) runs in
a temporary directory on a free port of 127.0.0.1 with password (scram) logins and
is removed afterwards; it never touches a system PostgreSQL. Import the fixtures
(``pg_server``, ``database``, ``store_path``) into a test module to use them.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lseprof import LseprofError
from lseprof.store import (
    open_store,
)
from tests.helpers import missing_tool
from tests.unit.test_store import one_line

ROLE = "lseprof_tester"
PASSWORD = "Sekrit-pw-7f3a"  # must never show up in a message
ADMIN = "postgres"


def pg_bindir() -> Path | None:
    """The newest Debian PostgreSQL bin directory with initdb and pg_ctl, if any."""
    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    candidates = [d for d in candidates if (d / "pg_ctl").is_file()]

    def version(d: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in d.parent.name.split(".") if x.isdigit())

    return max(candidates, key=version, default=None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    """A running throwaway server: admin access by its socket, logins by TCP."""

    root: Path
    port: int
    databases: Iterator[int]
    main_db: str = ""  # the test role's database, emptied for each test

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def admin(self, dbname: str = "postgres") -> Any:
        """A superuser connection over the Unix socket (trusted), autocommit."""
        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=ADMIN, dbname=dbname, autocommit=True
        )

    def url(
        self, dbname: str, *, user: str = ROLE, password: str = PASSWORD, port: int | None = None
    ) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{port or self.port}/{dbname}"

    def new_database(self, owner: str = ROLE) -> str:
        name = f"store_{next(self.databases)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return name

    def emptied(self, name: str) -> str:
        """Database ``name`` with a new empty ``public`` schema owned by the test role."""
        with self.admin(name) as conn:
            conn.execute("SET lock_timeout = '10s'")  # a leaked connection fails, not hangs
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute(f"CREATE SCHEMA public AUTHORIZATION {ROLE}")
        return name


def _as_server_user(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: run its programs as the postgres user then.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    bindir = pg_bindir()
    if bindir is None:
        missing_tool(
            "PostgreSQL's initdb and pg_ctl (/usr/lib/postgresql/*/bin)",
            "make system installs Debian's postgresql",
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing_tool(
                "the postgres user (to run the server as, from root)",
                "Debian's postgresql package creates it; make system installs it",
            )
    root = Path(tempfile.mkdtemp(prefix="lseprof-pg-"))  # short: socket paths are limited
    try:
        (root / "sock").mkdir()
        if os.geteuid() == 0:
            for path in (root, root / "sock"):
                shutil.chown(path, "postgres", "postgres")
        data = root / "data"
        subprocess.run(
            _as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    ADMIN,
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--no-sync",
                    "--no-instructions",
                ]
            ),
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        port = 0
        for _ in range(3):  # the port might be taken between probing and binding
            port = free_port()
            options = (
                f"-k {root / 'sock'} -p {port} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            started = subprocess.run(
                _as_server_user(
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-l",
                        str(root / "server.log"),
                        "-w",
                        "-t",
                        "60",
                        "-o",
                        options,
                        "start",
                    ]
                ),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if started.returncode == 0:
                break
        else:
            log = (root / "server.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"pg_ctl start failed: {started.stderr}\n{log}")
        server = PgServer(root, port, itertools.count(1))
        with server.admin() as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        server.main_db = server.new_database()
        yield server
        subprocess.run(
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
            check=False,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def database(pg_server: PgServer) -> str:
    """An empty database: the role's database, with nothing in it."""
    return pg_server.emptied(pg_server.main_db)


@pytest.fixture()
def store_path(pg_server: PgServer, database: str) -> str:
    """The URL of a fresh database: the store location of the shared tests."""
    return pg_server.url(database)


def role_conn(pg_server: PgServer, database: str) -> Any:
    """A plain connection as the test role, to look at or tamper with a store."""
    return psycopg.connect(pg_server.url(database), autocommit=True)


def error_of(location: str | Path, **kwargs: Any) -> LseprofError:
    with pytest.raises(LseprofError) as info:
        open_store(location, **kwargs)
    message = one_line(info.value)
    assert PASSWORD not in message
    return info.value
