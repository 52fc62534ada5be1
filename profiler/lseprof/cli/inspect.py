"""`lseprof inspect`: the atomics inventory of ELF files (outline helpers, LSE, LL/SC)."""

from __future__ import annotations

from pathlib import Path

import typer

from lseprof.cli.console import out
from lseprof.errors import require_at_least

DEFAULT_TOP = 10  # lseprof.reports.inspect_report.DEFAULT_TOP (that module loads numpy)


def inspect_cmd(
    binaries: list[Path] = typer.Argument(
        ..., metavar="BINARY...", help="aarch64 or x86_64 ELF executables or shared objects."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (a list for several files)."),
    top: int = typer.Option(DEFAULT_TOP, "--top", help="Show the N busiest calling functions."),
) -> None:
    """List a binary's atomics: outline-atomic helpers and their call sites, inline LSE,
    LL/SC exclusives (aarch64) or lock-prefixed instructions (x86_64), with a verdict."""
    require_at_least("--top", top, 0)
    # numpy and the ELF readers load here, not at lseprof's start-up.
    from lseprof.reports.inspect_report import print_tables, to_json
    from lseprof.symbols.inspect_elf import inspect

    # Inspect every file before printing anything: a bad argument fails cleanly.
    inventories = [inspect(path) for path in binaries]
    if as_json:
        # typer.echo, not rich: JSON must come out byte-exact, never wrapped or styled.
        typer.echo(to_json(inventories, top))
    else:
        print_tables(inventories, out, top)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect_cmd)
