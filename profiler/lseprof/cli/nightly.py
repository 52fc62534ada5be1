"""`lseprof nightly`: the configured matrix, stored, judged, and the dashboard rebuilt."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from lseprof.cli.console import err, out
from lseprof.errors import EXIT_FAILED
from lseprof.paths import user_data_dir
from lseprof.store import default_store_location, display_location, open_store


def nightly_cmd(
    config: Path = typer.Option(..., "--config", help="TOML file naming the run matrix."),
    json_: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
) -> None:
    """Run the nightly matrix, store it, flag regressions (exit 1), rebuild the dashboard."""
    # numpy (change points) loads here, not at lseprof's start-up.
    from lseprof.jobs.nightly import load_config, plans, run_nightly
    from lseprof.reports.nightly_report import nightly_table

    cfg = load_config(config)
    plans(cfg)  # validates every entry before anything runs
    location = cfg.store or default_store_location()
    runs_root = cfg.runs_dir or (
        Path(location).parent / "runs" if "://" not in location else user_data_dir() / "runs"
    )
    with open_store(location) as store:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task("nightly", total=None)
            result = run_nightly(
                cfg, store, runs_root, on_progress=lambda m: progress.update(task, description=m)
            )
        if cfg.dashboard is not None:
            from lseprof.reports.dashboard import build_dashboard  # matplotlib: load only when used

            result.dashboard = build_dashboard(store.runs(), cfg.dashboard)
    if json_:
        out.print_json(
            json.dumps(
                [
                    {
                        "series": dict(
                            zip(
                                (
                                    "config_key",
                                    "workload",
                                    "variant",
                                    "threads",
                                    "target",
                                    "hostname",
                                ),
                                v.key,
                                strict=True,
                            )
                        ),
                        "nights": v.nights,
                        "latest_mib_s": v.latest_mib_s,
                        "latest_helper_share": v.latest_helper_share,
                        "throughput": v.throughput.status,
                        "helper_share": v.helper_share.status,
                        "commits": list(v.commits),
                        "regression": v.regressed,
                    }
                    for v in result.verdicts
                ]
            )
        )
    else:
        out.print(nightly_table(result.verdicts))
    err.print(f"[dim]{len(result.records)} runs stored in {display_location(location)}[/]")
    if result.dashboard is not None:
        err.print(f"dashboard: {result.dashboard}")
    failed = [r for r in result.records if r.status != "ok"]
    if result.regressions:
        err.print(f"[bold red]lseprof: regression in {len(result.regressions)} series[/]")
        raise typer.Exit(EXIT_FAILED)
    if failed:
        err.print(f"[red]lseprof: {len(failed)} runs did not complete; kept and marked[/]")
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("nightly")(nightly_cmd)
