"""`lseprof doctor`: check perf, permissions, toolchains, qemu and data."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from lseprof.capture.build import host_arch
from lseprof.cli.console import out
from lseprof.errors import EXIT_FAILED
from lseprof.jobs.doctor import run_checks

_STYLES = {"ok": "[green]ok[/]", "missing": "[red]MISSING[/]", "failed": "[red]FAILED[/]"}


def doctor_cmd(
    json_: bool = typer.Option(
        False, "--json", help="Print the checks as JSON: name, status, detail, fix."
    ),
) -> None:
    """Check everything lseprof needs; print the command that fixes each gap.

    Each check is ok, missing, failed (present but not working) or optional; exit 1 if
    a required one is missing or failed."""
    checks = run_checks()
    if json_:
        document = {"arch": host_arch(), "checks": [c.to_dict() for c in checks]}
        out.print_json(json.dumps(document))
    else:
        table = Table(title="lseprof doctor", title_justify="left")
        for column in ("check", "status", "found", "fix"):
            table.add_column(column, overflow="fold")
        for check in checks:
            status = _STYLES.get(check.status, "[yellow]optional[/]")
            table.add_row(check.name, status, check.detail, "" if check.ok else check.fix)
        out.print(table)
    if any(c.status in ("missing", "failed") for c in checks):
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_cmd)
