"""`lseprof diff` reporters: terminal (rich), Markdown, JSON, and the
differential flame graph (self-contained HTML).

The first three take a :class:`lseprof.analysis.diff.build.Diff` and nothing else, so they
work as a library too; :func:`flamegraph_html` takes the folded stacks
(:class:`lseprof.analysis.stacks.FoldedDiff`). Shares are percent of all samples; every
Δ is B minus A in percentage points (pp) of all samples.

Modules: terminal, Markdown and JSON (``text``) and the flame graph (``flamegraph``).
"""

from lseprof.reports.diff.flamegraph import flamegraph_html
from lseprof.reports.diff.text import (
    DEFAULT_TOP,
    render,
    summary,
    throughput_sentence,
    to_dict,
    to_json,
    to_markdown,
)

__all__ = [
    "DEFAULT_TOP",
    "flamegraph_html",
    "render",
    "summary",
    "throughput_sentence",
    "to_dict",
    "to_json",
    "to_markdown",
]
