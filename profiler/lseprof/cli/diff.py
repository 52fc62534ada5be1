"""`lseprof diff A B`: what changed between two run groups, profiles or binaries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from lseprof.cli.console import err, out, warn
from lseprof.errors import EXIT_FAILED, LseprofError, require_at_least, require_one_format

if TYPE_CHECKING:
    from lseprof.analysis.diff import Diff

# lseprof.analysis.diff.build.DEFAULT_ALPHA / DEFAULT_HELPER_THRESHOLD_PP and
# lseprof.reports.diff.text.DEFAULT_TOP,
# spelled out: those modules load pandas, and every lseprof command (--help included)
# imports this one (tests/e2e/test_report_cli.py checks that the values agree).
DEFAULT_ALPHA = 0.05
DEFAULT_HELPER_THRESHOLD_PP = 1.0
DEFAULT_TOP = 15


def diff_cmd(
    a: str = typer.Argument(
        ...,
        metavar="A",
        help="Run or group id (or unique prefix), run "
        "directory, perf.data / perf text file, or ELF binary.",
    ),
    b: str = typer.Argument(
        ..., metavar="B", help="The same kind of thing as A, to compare with it (B relative to A)."
    ),
    store: str = typer.Option(None, help="Run store: a SQLite file or postgresql:// URL."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print Markdown for a pull request."),
    fail_on_regression: float = typer.Option(
        None,
        "--fail-on-regression",
        metavar="PCT",
        help="Exit 1 if B is significantly slower than A by more than PCT percent, or its "
        "atomic-helper share grew by more than --helper-threshold.",
    ),
    helper_threshold: float = typer.Option(
        DEFAULT_HELPER_THRESHOLD_PP,
        "--helper-threshold",
        metavar="PP",
        help="Percentage points of growth in atomic-helper share that count as a regression.",
    ),
    alpha: float = typer.Option(
        DEFAULT_ALPHA, "--alpha", help="Significance level of the Mann-Whitney U test."
    ),
    folded: Path = typer.Option(
        None,
        "--folded",
        metavar="FILE",
        help="Write differential folded stacks (stack countA countB).",
    ),
    flamegraph: Path = typer.Option(
        None,
        "--flamegraph",
        metavar="FILE.html",
        help="Write a self-contained differential flame graph.",
    ),
    binary: list[Path] = typer.Option(
        [],
        "--binary",
        metavar="FILE",
        help="ELF to name frames perf could not (stripped or emulated code). Repeatable.",
    ),
    top: int = typer.Option(DEFAULT_TOP, "--top", metavar="N", help="Rows per table."),
) -> None:
    """Compare B with A: throughput (median, bootstrap interval, Mann-Whitney U), sample
    shares in percentage points, outline-atomic helpers and their callers; or, for two
    binaries, their atomics."""
    require_one_format(as_json, markdown)
    require_at_least("--top", top, 1)
    require_at_least("--fail-on-regression", fail_on_regression, 0)
    require_at_least("--helper-threshold", helper_threshold, 0)
    for path in (folded, flamegraph):
        if path is not None and not path.resolve().parent.is_dir():
            raise LseprofError(f"cannot write {path}: {path.resolve().parent} is not a directory")
    # pandas and the readers load here, not at lseprof's start-up.
    from lseprof.analysis.diff import build_diff, check_regression
    from lseprof.reports.diff import render, to_json, to_markdown

    result = build_diff(
        a,
        b,
        store=store,
        binaries=binary,
        alpha=alpha,
        stacks=folded is not None or flamegraph is not None,
    )
    if fail_on_regression is not None:
        check_regression(result, fail_on_regression, helper_threshold)
    if folded is not None or flamegraph is not None:
        _write_stacks(result, folded, flamegraph)
    if as_json or markdown:
        # typer.echo, not rich: JSON and Markdown must come out byte-exact, never wrapped.
        typer.echo(to_json(result) if as_json else to_markdown(result, top), nl=as_json)
        for warning in result.warnings:  # on stderr too: stdout is for a machine or a paste
            warn(escape(warning))
    else:
        render(result, out, top)
    if result.regression.failed:
        raise typer.Exit(EXIT_FAILED)


def _write_stacks(result: Diff, folded: Path | None, flamegraph: Path | None) -> None:
    from lseprof.analysis.stacks import write_folded
    from lseprof.reports.diff import flamegraph_html

    if result.kind == "static":
        raise LseprofError(
            "--folded and --flamegraph need profiles (runs, perf.data or perf text), not binaries"
        )
    stacks = result.stacks
    if stacks is None:
        raise LseprofError(
            "the sides have no samples to fold; --folded and --flamegraph "
            "need runs recorded with perf, perf.data or perf text"
        )
    if folded is not None:
        header = [
            "lseprof diff folded stacks: each line is root;...;leaf countA countB",
            f"A: {result.a}, {stacks.total_a} samples as recorded",
            f"B: {result.b}, {stacks.total_b} samples",
            f"event: {stacks.event or 'all events'}",
            "countA is scaled to B's total (largest-remainder rounding) so both columns add "
            "up to B's samples, as difffolded -n does",
        ]
        write_folded(folded, stacks, header)
        err.print(f"[dim]wrote {len(stacks.stacks)} stacks to {folded}[/]", soft_wrap=True)
    if flamegraph is not None:
        try:
            flamegraph.write_text(flamegraph_html(stacks, result.a, result.b), encoding="utf-8")
        except OSError as exc:
            raise LseprofError(
                f"cannot write {flamegraph} ({exc.strerror}); check the path"
            ) from None
        err.print(f"[dim]wrote the flame graph to {flamegraph}[/]", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("diff")(diff_cmd)
