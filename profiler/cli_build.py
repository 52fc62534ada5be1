"""`lseprof build`: placeholder until profiler/build.py lands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    del app
