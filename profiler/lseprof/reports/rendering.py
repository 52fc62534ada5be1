"""The third step of `lseprof report`: a report rendered as terminal tables, JSON or
Markdown (the first two steps: :func:`lseprof.readers.inputs.open_input` and
:func:`lseprof.analysis.pipeline.analyze`)."""

from __future__ import annotations

from typing import IO

from rich.console import Console

from lseprof.analysis.pipeline import Report
from lseprof.reports.coherence_view import coherence_markdown, render_coherence
from lseprof.reports.markdown import to_markdown
from lseprof.reports.terminal import render as render_terminal
from lseprof.reports.threads_view import render_threads, threads_markdown

FORMATS = ("terminal", "json", "markdown")
DEFAULT_TOP = 15


def window_text(report: Report) -> str:
    """The line that says which stretch of the profile a report covers."""
    w = report.window
    if w is None:
        return ""
    return f"time range {w.start_s:.3f} s to {w.end_s:.3f} s from the first sample" + (
        f" (--time-range {w.asked})" if w.asked else ""
    )


def render_text(report: Report, fmt: str, top: int = DEFAULT_TOP) -> str:
    """The JSON or Markdown text of a report (exactly what `lseprof report` prints)."""
    if fmt == "json":
        return report.to_json()
    if fmt == "markdown":
        text = to_markdown(report.sections, top, report.offcpu)
        threads = [t for s in report.sections if (t := threads_markdown(s, top))]
        lines = coherence_markdown(report.coherence, top) if report.coherence is not None else []
        window = f"_{window_text(report)}_\n\n" if report.window is not None else ""
        return window + "\n".join([text, *threads, *lines])
    raise ValueError(f"render_text makes json or markdown, not {fmt!r}")


def render(
    report: Report, out: Console | IO[str], fmt: str = "terminal", top: int = DEFAULT_TOP
) -> None:
    """Write `report` to `out` as `fmt` (one of :data:`FORMATS`): terminal tables to a
    rich Console (or a text stream, without colour), JSON and Markdown byte-exact."""
    if fmt == "terminal":
        console = (
            out if isinstance(out, Console) else Console(file=out, no_color=True, color_system=None)
        )
        if report.window is not None:
            console.print(window_text(report), soft_wrap=True)
        render_terminal(report.sections, console, top, report.offcpu)
        for section in report.sections:
            render_threads(section, console, top)
        if report.coherence is not None:
            render_coherence(report.coherence, console, top)
        return
    stream = out.file if isinstance(out, Console) else out
    stream.write(render_text(report, fmt, top) + "\n")
