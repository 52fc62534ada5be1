"""The typer application: every subcommand registered, :class:`LseprofError` mapped
to one line on stderr and an exit code (never a traceback).

Each subcommand lives in a small module of ``lseprof.cli`` that binds options to
library calls; :func:`run` starts the application with what the command line's
edge opened early (:mod:`lseprof.cli.prefetch`) as its context object.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from lseprof.cli import teardown
from lseprof.cli.console import err
from lseprof.cli.prefetch import EarlyInput
from lseprof.errors import LseprofError
from lseprof.version import __version__


class _ErrorMappingGroup(TyperGroup):
    """Turns user errors raised by any subcommand into a message and exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LseprofError as exc:
            err.print(f"[bold red]lseprof: error:[/] {escape(exc.message)}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("[bold red]lseprof: interrupted[/]")
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_ErrorMappingGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Profile aarch64 atomic helpers (outline atomics, LSE) and contention next to throughput.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lseprof {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """lseprof: where does an aarch64 program lose time to atomics and contention?"""


def _register_all() -> None:
    # Imported here so that each subcommand module stays independent of the others.
    from lseprof.cli import (
        build,
        dashboard,
        data,
        diff,
        doctor,
        inspect,
        nightly,
        report,
        run,
        runs,
        sysroot,
        vm,
    )

    for module in (
        build,
        dashboard,
        data,
        diff,
        doctor,
        inspect,
        nightly,
        report,
        run,
        runs,
        sysroot,
        vm,
    ):
        module.register(app)


_register_all()


def run(early: EarlyInput | None = None) -> None:
    """Run the command line (``early``: the input opened before it loaded, handed to
    `lseprof report` as the context object)."""
    try:
        app(obj=early)
    except SystemExit as exc:
        if teardown.skipped() and exc.code in (None, 0):
            atexit._run_exitfuncs()
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except OSError:
                raise exc from None  # a closed pipe: reported as usual
            os._exit(0)
        raise
