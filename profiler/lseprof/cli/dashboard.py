"""`lseprof dashboard`: write the offline HTML regression dashboard of the run store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lseprof import store as stores
from lseprof.cli.console import err, out


def dashboard_cmd(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Directory for index.html and groups/ (created if missing).",
        ),
    ],
    # str, not Path: Path would collapse the // of a postgresql:// URL.
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Run store: an SQLite file or a postgresql://USER@HOST/DB URL "
            "(default: $LSEPROF_STORE, else runs.sqlite in the user data dir).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a non-empty directory that holds no previous dashboard.",
        ),
    ] = False,
) -> None:
    """Write an offline HTML dashboard: nightly trends, change points, scaling, run groups."""
    # Imported here: matplotlib takes a while to load, and other commands never need it.
    from lseprof.reports.dashboard import build_dashboard

    # Nothing profiled on this machine yet: a page saying so, not an error.
    location, records = stores.stored_runs(store)
    index = build_dashboard(records, out_dir, force=force)
    if not records:
        err.print(
            f"no runs in the store at {stores.display_location(location)}; "
            "wrote an empty dashboard",
            markup=False,
        )
    out.print(str(index), markup=False)


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard_cmd)
