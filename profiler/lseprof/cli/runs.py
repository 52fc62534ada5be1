"""`lseprof runs`: list the profiled runs kept in the run store."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lseprof import store as stores
from lseprof.cli.console import err, out

_PIPE_WIDTH = 250
_FULL_ID_WIDTH = 170
_SHORT_ID = 12
_STATUS_STYLE = {"ok": "green", "failed": "red", "interrupted": "yellow", "timeout": "red"}


def _created(value: str) -> str:
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def _opt(value: object, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


def _table(runs: list[stores.RunRecord], short_ids: bool) -> Table:
    def ident(value: str) -> Text:
        return Text(value[:_SHORT_ID] if short_ids else value)

    table = Table(title=None, show_edge=False, header_style="bold")
    for name in ("run_id", "group", "created (UTC)", "workload", "variant", "target"):
        table.add_column(name, no_wrap=name in ("run_id", "group"))
    for name in ("threads", "MiB/s", "helper %"):
        table.add_column(name, justify="right")
    table.add_column("status")
    for r in runs:
        share = r.atomic_helper_share
        table.add_row(
            ident(r.run_id),
            ident(r.group_id),
            Text(_created(r.created_at)),
            Text(_opt(r.workload)),
            Text(_opt(r.variant)),
            Text(_opt(r.target)),
            Text(_opt(r.threads)),
            Text(_opt(r.throughput_mib_s, "{:.1f}")),
            Text(_opt(share, "{:.1f}")),
            Text(r.status, style=_STATUS_STYLE.get(r.status, "")),
        )
    return table


def runs_cmd(
    # str, not Path: Path would collapse the // of a postgresql:// URL.
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Run store: an SQLite file or a postgresql://USER@HOST/DB URL "
            "(default: $LSEPROF_STORE, else runs.sqlite in the user data dir).",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Show only the N newest runs.")
    ] = None,
    workload: Annotated[
        str | None, typer.Option("--workload", help="Only runs of this workload.")
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print a JSON list instead of a table.")
    ] = False,
) -> None:
    """List stored runs, newest first."""
    # Nothing profiled yet on this machine: an empty list, not an error.
    location, found = stores.stored_runs(store, limit=limit, workload=workload)
    if json_:
        sys.stdout.write(json.dumps([r.to_dict() for r in found], indent=2) + "\n")
        return
    if not found:
        err.print(f"no runs in the store at {stores.display_location(location)}")
        return
    # Piped output is not squeezed to 80 columns; a terminal gets its own width.
    console = out if out.is_terminal else Console(width=_PIPE_WIDTH, highlight=False)
    # Ids are shortened (any unique prefix names a run or group) where full ones don't fit.
    console.print(_table(found, short_ids=console.width < _FULL_ID_WIDTH))


def register(app: typer.Typer) -> None:
    app.command("runs")(runs_cmd)
