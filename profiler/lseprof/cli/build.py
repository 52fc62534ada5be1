"""`lseprof build`: build the native encoder's variants and targets."""

from __future__ import annotations

import json

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from lseprof.capture import build as builds
from lseprof.cli.console import err, out


def _note(build: builds.Build) -> str:
    if build.runs_here():
        return ""
    if build.arch == "aarch64":
        return "  (under qemu here)"
    return f"  (built for {build.arch}: `lseprof build --target {build.target}` here)"


def build_cmd(
    target: str = typer.Option("all", help="host, aarch64, aarch64-lse or all."),
    variant: str = typer.Option("all", help="rayon, window or all."),
    list_: bool = typer.Option(False, "--list", help="List built binaries instead of building."),
    json_: bool = typer.Option(False, "--json", help="With --list: print JSON."),
) -> None:
    """Build the BPE encoder (cargo rebuilds only what changed)."""
    if list_:
        found = builds.list_builds()
        if json_:
            out.print_json(json.dumps([b.to_dict() for b in found]))
        else:
            for b in found:
                line = f"{b.target:12} {b.variant:7} {b.atomics:8} {b.arch:8} {b.path}"
                out.print(line + _note(b))
        return
    jobs = [
        (t, v)
        for t in builds.expand(target, builds.TARGETS, "target")
        for v in builds.expand(variant, builds.VARIANTS, "variant")
    ]
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("building", total=len(jobs))
        for t, v in jobs:
            progress.update(task, description=f"cargo build {t}/{v}")
            built = builds.build(t, v)
            progress.advance(task)
            progress.console.print(
                f"[green]built[/] {built.target}/{built.variant} -> {built.path}"
            )


def register(app: typer.Typer) -> None:
    app.command("build")(build_cmd)
