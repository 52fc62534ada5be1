"""`lseprof run`: profile the workload's variants under perf, with throughput."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from lseprof.cli.console import err, out
from lseprof.errors import EXIT_FAILED, LseprofError, require_one_format
from lseprof.jobs.runner import (
    DEFAULT_DURATION,
    DEFAULT_FREQ,
    RunPlan,
    RunSession,
    for_running,
    plan_order,
)
from lseprof.jobs.sessions import execute
from lseprof.paths import user_data_dir
from lseprof.store import default_store_location, display_location, open_store


def artifacts_root(store: str | None) -> Path:
    """Run directories live beside a SQLite store, else in the user data directory."""
    location = store if store is not None else default_store_location()
    if "://" not in location:
        return Path(location).expanduser().resolve().parent / "runs"
    return user_data_dir() / "runs"


def parse_threads(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise LseprofError(f"--threads takes integers separated by commas, not {text!r}") from None
    if not values or min(values) < 1:
        raise LseprofError("--threads must be at least 1, e.g. --threads 88 or --threads 1,2,8,88")
    return values


def run_cmd(
    command: list[str] = typer.Argument(None, help="After `--`: any command to profile instead."),
    workload: str = typer.Option(
        "bpe-encode",
        help="Built-in workload: bpe-encode (ours) or "
        "hf-tokenizers (upstream Hugging Face tokenizers).",
    ),
    variant: str = typer.Option("both", help="rayon, window or both (hf-tokenizers: upstream)."),
    threads: str = typer.Option(
        None,
        help="Thread count, or a list for a sweep: 1,2,8,88 (default 88). With `-- CMD`: "
        "each count replaces {threads} in CMD and is exported as OMP_NUM_THREADS, "
        "RAYON_NUM_THREADS and LSEPROF_THREADS (default: CMD as given, threads unknown).",
    ),
    repeat: int = typer.Option(3, help="Repetitions of each variant x threads (interleaved)."),
    target: str = typer.Option(
        "host",
        help="host, aarch64 or aarch64-lse (emulated off-arm; "
        "`-- CMD` runs an aarch64 CMD under qemu with the sysroot), or aarch64-vm: the "
        "aarch64 builds (or CMD) profiled by perf inside a full aarch64 Linux (lseprof vm; "
        "a virtual CPU, not hardware timing).",
    ),
    cpu: str = typer.Option(
        None,
        help="qemu CPU model for emulated runs and the aarch64 machine: max (default), "
        "neoverse-n1, cortex-a57 or cortex-a53 (the last two: no LSE).",
    ),
    smp: int = typer.Option(None, "--smp", help="--target aarch64-vm: vCPUs (default 2)."),
    memory: int = typer.Option(
        None, "--memory", metavar="MIB", help="--target aarch64-vm: memory in MiB (default 4096)."
    ),
    record_only: bool = typer.Option(
        False, "--record-only", hidden=True, help="Record and store only; analyse elsewhere."
    ),
    session_id: str = typer.Option(None, "--session-id", hidden=True),
    coherence: bool = typer.Option(
        False,
        "--coherence",
        help="--target aarch64-vm: also count the cache lines the workload's threads move "
        "between the virtual CPUs (qemu's coherence plugin; one boot per run, the workload "
        "6-35x slower); `lseprof report RUN` shows them, `lseprof diff` compares them.",
    ),
    run_index: int = typer.Option(None, "--run-index", hidden=True),
    exec_through: str = typer.Option(None, "--exec-through", hidden=True),
    duration: float = typer.Option(DEFAULT_DURATION, help="Seconds each workload run encodes."),
    freq: int = typer.Option(DEFAULT_FREQ, help="Sampling frequency (Hz)."),
    event: str = typer.Option(None, help="perf event (default: cycles, else cpu-clock)."),
    call_graph: str = typer.Option("fp", help="fp or dwarf unwinding."),
    timeout: float = typer.Option(None, help="Stop a workload run after this many seconds."),
    corpus: Path = typer.Option(None, help="Corpus for bpe-encode (default: the English corpus)."),
    batch_size: int = typer.Option(None, help="bpe-encode items per batch (default 1000)."),
    workload_arg: list[str] = typer.Option(
        None, "--workload-arg", help="Extra argument for bpe-encode (repeatable)."
    ),
    throughput_regex: str = typer.Option(None, help="For `-- CMD`: regex whose group 1 is MiB/s."),
    overhead: bool = typer.Option(False, help="Also run each config without perf: perf's cost."),
    no_perf: bool = typer.Option(False, "--no-perf", help="Throughput only, no perf."),
    sched: bool = typer.Option(
        False,
        help="Also record scheduler events system-wide "
        "(root): off-CPU time, wake-ups per item, wake-up latency.",
    ),
    whole_process: bool = typer.Option(
        False,
        "--whole-process",
        help="Record the whole process (start-up too); default for the built-in workloads: "
        "their measured region only.",
    ),
    region_markers: bool = typer.Option(
        False,
        "--region-markers",
        help="Record only the region the program marks (the FIFO protocol of docs/time.md; "
        "default for the built-in workloads).",
    ),
    delay: float = typer.Option(
        None, "--delay", metavar="SECONDS", help="Record from SECONDS after the start (warm-up)."
    ),
    store: str = typer.Option(None, help="Run store: a SQLite file or postgresql:// URL."),
    runs_dir: Path = typer.Option(
        None, help="Where run artifacts go (default: beside the store, or the user data dir)."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the run table and helpers as Markdown."
    ),
) -> None:
    """Run the workload's variants under perf record and attribute the samples."""
    require_one_format(json_, markdown)
    if whole_process and region_markers:
        raise LseprofError("--whole-process and --region-markers exclude each other; pick one")
    if workload == "hf-tokenizers":
        variants: tuple[str, ...] = ("upstream",) if variant == "both" else (variant,)
    else:
        variants = ("rayon", "window") if variant == "both" else (variant,)
    plan = RunPlan(
        workload="command" if command else workload,
        variants=variants,
        threads=parse_threads(threads) if threads else (() if command else (88,)),
        repeat=repeat,
        target=target,
        cpu=cpu,
        duration=duration,
        freq=freq,
        event=event,
        call_graph=call_graph,
        timeout=timeout,
        perf=not no_perf,
        overhead=overhead,
        corpus=corpus,
        batch_size=batch_size,
        workload_args=tuple(workload_arg or ()),
        command=tuple(command or ()),
        throughput_regex=throughput_regex,
        sched=sched,
        region="whole" if whole_process else "markers" if region_markers else None,
        delay=delay,
        smp=smp,
        memory=memory,
        analyze=not record_only,
        session_id=session_id,
        coherence=coherence,
        run_index=run_index,
        exec_through=exec_through,
    )
    plan.validate()
    with open_store(store) as run_store:
        runs_root = runs_dir or artifacts_root(store)
        total = len(plan_order(for_running(plan)))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task("profiling", total=total)

            def step(message: str) -> None:
                if not message.startswith("["):  # a warning, not a step
                    err.print(f"[yellow]lseprof: {message}[/]")
                    return
                if record_only:  # read by the lseprof that started this one, line by line
                    err.print(message, soft_wrap=True, markup=False, highlight=False)
                    return
                progress.update(
                    task, description=message, completed=int(message.split("/")[0].strip("[")) - 1
                )

            session = execute(plan, run_store, runs_root, on_progress=step)
            progress.update(task, completed=total)
    if record_only:  # no figures to show: the runs' directories hold what was recorded
        out.print_json(json.dumps([r.to_dict() for r in session.records], default=str))
        _exit_for(session)
        return
    _show(session, store, runs_root, json_, markdown)
    _exit_for(session)


def _show(
    session: RunSession, store: str | None, runs_root: Path, json_: bool, markdown: bool
) -> None:
    """The runs as asked: JSON, Markdown, or tables with the sweep's fits and plot."""
    # numpy (statistics) and the plot load here, not at lseprof's start-up.
    from lseprof.reports.annotated_view import run_findings_lines
    from lseprof.reports.run_plot import write_scaling_plot
    from lseprof.reports.run_table import render_run, run_markdown
    from lseprof.reports.scaling import fit_lines, sweep_fits

    fits = sweep_fits(session.records)
    plot = write_scaling_plot(
        session.records,
        runs_root / f"{session.session_id}-scaling.svg",
        {f.variant: f.fit for f in fits if f.fit is not None},
    )
    if json_:
        out.print_json(json.dumps([r.to_dict() for r in session.records], default=str))
    elif markdown:
        typer.echo(run_markdown(session.records, session.event), nl=False)
    else:
        render_run(session.records, session.event, out)
        for line in fit_lines(fits):
            out.print(line, soft_wrap=True)
        for line in run_findings_lines(session.records):
            out.print(escape(line), soft_wrap=True)
        if plot is not None:
            err.print(f"scaling plot (throughput and helper share against threads): {plot}")
        where = display_location(store or default_store_location())
        err.print(
            f"[dim]stored {len(session.records)} runs in {where}; artifacts under {runs_root}[/]"
        )


def _exit_for(session: RunSession) -> None:
    """Exit 130 for an interrupted session, EXIT_FAILED when runs did not complete."""
    bad = [r for r in session.records if r.status != "ok"]
    if session.interrupted:
        raise typer.Exit(130)
    if bad:
        err.print(
            f"[red]lseprof: {len(bad)} of {len(session.records)} runs did not complete "
            f"({', '.join(sorted({r.status for r in bad}))}); results kept and marked[/]"
        )
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("run", context_settings={"allow_interspersed_args": False})(run_cmd)
