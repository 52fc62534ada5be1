"""The console script's entry point: the early start of `lseprof report`, then the
command line (:mod:`lseprof.cli.app`, which loads typer and rich)."""

from __future__ import annotations

import sys

from lseprof.cli.prefetch import open_early


def main() -> None:
    """Console-script entry point (``lseprof``, ``python -m lseprof``)."""
    early = open_early(sys.argv)  # perf starts now, before typer, rich and pydantic load
    from lseprof.cli.app import run

    run(early)
