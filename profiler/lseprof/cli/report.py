"""`lseprof report`: attribute a profile's time to atomic helpers, inline atomics,
locks, futexes, spinning and work.

Three steps, as the library offers them: open the input
(:func:`lseprof.readers.inputs.open_input`, or take the one the command line opened
early, :mod:`lseprof.cli.prefetch`), analyse it (:func:`lseprof.analysis.pipeline.analyze`)
and render it (:func:`lseprof.reports.rendering.render`) or export it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from lseprof.analysis.threads import ThreadFilter, parse_tids
from lseprof.cli.console import err, out
from lseprof.cli.prefetch import EarlyInput
from lseprof.errors import LseprofError, require_at_least, require_one_format
from lseprof.readers.inputs import FORMATS, ProfileInput, open_input
from lseprof.readers.perf_data import DEFAULT_MAX_STACK, FULL_STACK, SymbolFiles
from lseprof.readers.time_range import TimeRange, parse_time_range

if TYPE_CHECKING:
    from lseprof.analysis.pipeline import Report

EXPORTS = ("pprof", "speedscope")  # --format values that write a file (-o) instead


@dataclass
class _Asked:
    """What the command line asked `lseprof report` for."""

    path: Path
    binary: list[Path]
    files: SymbolFiles
    fmt: str  # the input kind (auto, perf-data, ...)
    output_fmt: str  # terminal, json or markdown
    top: int
    rules: Path | None
    perf_map: list[Path]
    max_stack: int | None
    sched: bool | None
    offcpu_folded: Path | None
    export: tuple[str, Path] | None
    time_range: TimeRange | None = None
    heatmap: Path | None = None
    threads: ThreadFilter = field(default_factory=ThreadFilter)
    per_thread: bool = False


def report_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ...,
        metavar="PATH|RUN",
        help="perf.data, `perf script` text or `perf report --stdio` "
        "text (gzip is fine); or a stored run: its id, run "
        "directory or run.json; or a coherence.txt (`lseprof vm run --coherence`) or "
        "the directory it is in.",
    ),
    binary: list[Path] = typer.Option(
        [],
        "--binary",
        metavar="FILE",
        help="ELF to name addresses perf could not (stripped binaries, qemu guest code). "
        "Repeatable.",
    ),
    symfs: Path | None = typer.Option(
        None,
        "--symfs",
        metavar="DIR",
        help="A copy of the recording machine's root: each DSO path is looked up under DIR "
        "(a profile recorded on another machine, or an emulated guest's sysroot).",
    ),
    kallsyms: Path | None = typer.Option(
        None,
        "--kallsyms",
        metavar="FILE",
        help="A copy of the recording machine's /proc/kallsyms, from the boot that "
        "recorded: names its kernel frames.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (a list for several events)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print Markdown tables."),
    top: int = typer.Option(15, "--top", metavar="N", help="Rows per table."),
    fmt: str = typer.Option(
        "auto",
        "--format",
        help=f"Input kind: {'|'.join(FORMATS)} (auto detects it); or "
        f"{'|'.join(EXPORTS)} to export to -o FILE.",
    ),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        metavar="FILE",
        help="With --format pprof (FILE.pb.gz, go tool pprof) or speedscope (FILE.json).",
    ),
    rules: Path | None = typer.Option(
        None, "--rules", metavar="FILE", help="TOML classification rules tried before the defaults."
    ),
    perf_map: list[Path] = typer.Option(
        [],
        "--perf-map",
        metavar="FILE",
        help="qemu -perfmap file (/tmp/perf-PID.map) if it is not next to PATH.",
    ),
    max_stack: int | None = typer.Option(
        None,
        "--max-stack",
        metavar="N",
        help=f"perf.data only: callchain frames to read (default {DEFAULT_MAX_STACK}, 64 for "
        "qemu runs).",
    ),
    sched: bool | None = typer.Option(
        None,
        "--sched/--no-sched",
        help="Scheduler view (off-CPU time, wake-ups) from the file's sched events or the "
        "run's sched.data; default: shown when present.",
    ),
    offcpu_folded: Path | None = typer.Option(
        None,
        "--offcpu-folded",
        metavar="FILE",
        help="Write off-CPU folded stacks (time-weighted, µs; flamegraph.pl input).",
    ),
    store: str | None = typer.Option(
        None, "--store", help="Run store to look RUN up in: a SQLite file or postgresql:// URL."
    ),
    time_range: str | None = typer.Option(
        None,
        "--time-range",
        metavar="START,END",
        help="Only this stretch: seconds from the first sample (1,2) or percentages "
        "(10%,90%), both ends included.",
    ),
    heatmap: Path | None = typer.Option(
        None,
        "--heatmap",
        metavar="FILE",
        help="Write samples over time (FlameScope heat maps, per-thread timeline) to "
        "FILE.svg or FILE.html (select a range there).",
    ),
    tid: list[str] = typer.Option(
        [], "--tid", metavar="TID", help="Only these threads (ids; repeatable, or 1,2,3)."
    ),
    comm: list[str] = typer.Option(
        [],
        "--comm",
        metavar="NAME",
        help="Only threads with this name or pattern (rayon-worker-*; repeatable).",
    ),
    per_thread: bool = typer.Option(
        False,
        "--per-thread",
        help="Add a per-thread table (samples, categories, off-CPU) and like-named "
        "threads grouped (rayon-worker-*).",
    ),
) -> None:
    """Show how much time a profile spends in outline-atomic helpers (and on which
    path: LSE or LL/SC), inline atomics, lock slow paths, futexes and spinning."""
    try:
        require_one_format(as_json, markdown)
        require_at_least("--top", top, 1)
        require_at_least("--max-stack", max_stack, 1)
        export = fmt if fmt in EXPORTS else None
        if export and output is None:
            raise LseprofError(f"--format {fmt} writes a file: add -o FILE")
        if output is not None and not export:
            raise LseprofError(f"-o FILE goes with --format {' or '.join(EXPORTS)}")
        path = _vm_out_profile(path)
        if not export and fmt == "auto" and _coherence_only(path):
            output_fmt = "json" if as_json else "markdown" if markdown else "terminal"
            _report_coherence(path, binary, output_fmt, top)
            return
        if not path.is_file() or path.name == "run.json":  # a stored run, or a mistake
            from lseprof.analysis.stored_runs import profile_inputs

            inputs = profile_inputs(path, store, binary, perf_map)
            path, binary, perf_map = inputs.path, list(inputs.binaries), list(inputs.perf_maps)
            if inputs.files is not None:  # recorded on another machine: its files here
                symfs = symfs or inputs.files.symfs
                kallsyms = kallsyms or inputs.files.kallsyms
            if inputs.note:
                err.print(escape(inputs.note), soft_wrap=True)
        if heatmap is not None and heatmap.suffix.lower() not in (".svg", ".html"):
            raise LseprofError(f"--heatmap writes FILE.svg or FILE.html, not {heatmap.name!r}")
        asked = _Asked(
            path,
            binary,
            SymbolFiles(symfs, kallsyms),
            "auto" if export else fmt,
            "json" if as_json else "markdown" if markdown else "terminal",
            top,
            rules,
            perf_map,
            max_stack,
            sched,
            offcpu_folded,
            (export, output) if export and output is not None else None,
            parse_time_range(time_range) if time_range is not None else None,
            heatmap,
            ThreadFilter(parse_tids(tid), tuple(comm)),
            per_thread,
        )
        _report(asked, ctx.obj if isinstance(ctx.obj, EarlyInput) else None)
    except LseprofError as exc:
        # Same line as the app-wide handler prints, but never wrapped: paths are long
        # and the message must stay one line.
        err.print(f"[bold red]lseprof: error:[/] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def _vm_out_profile(path: Path) -> Path:
    """A `lseprof vm run` out directory (no run.json) stands for its perf.data."""
    if path.is_dir() and not (path / "run.json").exists() and (path / "perf.data").is_file():
        return path / "perf.data"
    return path


def _coherence_only(path: Path) -> bool:
    """A coherence file, or a directory with one and no run of the store."""
    from lseprof.readers.coherence import find_coherence, is_coherence_file

    if path.is_file():
        return is_coherence_file(path)
    return path.is_dir() and not (path / "run.json").exists() and find_coherence(path) is not None


def _report_coherence(path: Path, binaries: list[Path], fmt: str, top: int) -> None:
    """`lseprof report` of a run with --coherence and no profile: the view alone."""
    from lseprof.analysis.coherence import load_coherence
    from lseprof.reports.coherence_view import render_coherence_report

    result = load_coherence(path, binaries)
    assert result is not None  # _coherence_only found the file
    render_coherence_report(result, out if fmt == "terminal" else out.file, fmt, top)
    if result.partial:
        err.print(
            f"[yellow]lseprof: warning:[/] {escape(str(result.source))} is partial: the run "
            "did not finish; the counts stop at the plugin's last snapshot",
            soft_wrap=True,
        )


def _open(asked: _Asked, early: EarlyInput | None) -> ProfileInput:
    """Step 1: the input, opened early by the command line's edge or now."""
    taken = early.take(asked.path, asked.max_stack, asked.files) if early is not None else None
    plain = asked.time_range is None and asked.heatmap is None
    if taken is not None and asked.fmt in ("auto", taken.kind) and asked.export is None and plain:
        return taken
    if taken is not None:
        taken.close()
    # An export shows whole stacks: perf reads them all in its one pass.
    max_stack = asked.max_stack or (FULL_STACK if asked.export is not None else None)
    return open_input(
        asked.path,
        asked.fmt,
        max_stack,
        asked.time_range,
        times=asked.heatmap is not None,
        files=asked.files,
    )


def _report(asked: _Asked, early: EarlyInput | None) -> None:
    # No linear algebra here: without this numpy's OpenBLAS starts a thread per core at
    # import, and they spin for CPU time that perf script and the parsers need.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    source = _open(asked, early)
    # Not imported at start-up: perf runs on an opened perf.data while pandas and the
    # analysis load. Only the renderer asked for loads.
    from lseprof.analysis.pipeline import Focus, analyze

    focus = Focus(asked.threads, asked.per_thread, over_time=asked.heatmap is not None)
    result = analyze(
        source,
        binaries=asked.binary,
        rules_file=asked.rules,
        top=asked.top,
        perf_maps=asked.perf_map,
        offcpu=True if asked.offcpu_folded is not None else asked.sched,
        focus=focus,
    )
    _warn(asked, result)
    if asked.heatmap is not None:
        _write_heatmap(asked, result)
    if asked.offcpu_folded is not None:
        if result.offcpu is None:
            raise LseprofError(f"--offcpu-folded needs scheduler events; {result.offcpu_note}")
        from lseprof.reports.offcpu_view import write_offcpu_folded

        write_offcpu_folded(asked.offcpu_folded, result.offcpu)
        err.print(f"off-CPU folded stacks: {escape(str(asked.offcpu_folded))}", soft_wrap=True)
    if asked.export is not None:
        from lseprof.reports.exports import export_profile

        kind, target = asked.export
        written = export_profile(result, kind, target)
        err.print(f"{kind}: {escape(written)}", soft_wrap=True)
    else:
        from lseprof.reports.rendering import render

        # JSON and Markdown go to stdout byte-exact, never wrapped or styled by rich.
        render(
            result, out if asked.output_fmt == "terminal" else out.file, asked.output_fmt, asked.top
        )
    # All written and perf's processes and files are gone: exit without tearing down
    # pandas & co. (only when run as `lseprof`, see lseprof.cli.app.run).
    from lseprof.cli.teardown import skip_teardown

    skip_teardown()


def _write_heatmap(asked: _Asked, result: Report) -> None:
    from lseprof.reports.heatmap import write_heatmap

    assert asked.heatmap is not None
    if result.heatmap is None:
        raise LseprofError(f"{asked.path} has no samples to draw; --heatmap needs some")
    written = write_heatmap(
        asked.heatmap, str(asked.path), result.heatmap, result.timeline, result.window
    )
    err.print(f"heat map: {escape(str(written))}", soft_wrap=True)


def _warn(asked: _Asked, result: Report) -> None:
    capture = result.capture
    if result.offcpu_note:
        err.print(f"[yellow]lseprof: warning:[/] {escape(result.offcpu_note)}", soft_wrap=True)
    if capture.unknown_lines:
        example = f" (first: {capture.unknown_examples[0]!r})" if capture.unknown_examples else ""
        err.print(
            f"[yellow]lseprof: warning:[/] {capture.unknown_lines} lines of "
            f"{escape(str(asked.path))} were not understood and were skipped"
            f"{escape(example)}",
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
