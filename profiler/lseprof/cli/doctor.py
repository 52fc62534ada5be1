"""`lseprof doctor`: check perf, permissions, toolchains, qemu and data."""

from __future__ import annotations

import typer
from rich.table import Table

from lseprof.cli.console import out
from lseprof.errors import EXIT_FAILED
from lseprof.jobs.doctor import run_checks


def doctor_cmd() -> None:
    """Check everything lseprof needs; print the command that fixes each gap."""
    checks = run_checks()
    table = Table(title="lseprof doctor", title_justify="left")
    for column in ("check", "status", "found", "fix"):
        table.add_column(column, overflow="fold")
    for check in checks:
        status = (
            "[green]ok[/]"
            if check.ok
            else ("[red]MISSING[/]" if check.required else "[yellow]optional[/]")
        )
        table.add_row(check.name, status, check.detail, "" if check.ok else check.fix)
    out.print(table)
    if any(not c.ok and c.required for c in checks):
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_cmd)
