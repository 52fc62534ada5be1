"""What the benchmarks share: a console that keeps what it prints, and where their
tables land (reports/benchmarks/NAME.txt, with the figures as NAME.json): one output
folder for everything rendered."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / "reports" / "benchmarks"


def bench_console() -> Console:
    """Tables are read in logs, not an 80-column terminal; recorded for :func:`save`."""
    return Console(width=200, record=True)


def save(console: Console, name: str, figures: Any = None, out: Path | None = None) -> Path:
    """Keep what `console` printed as reports/benchmarks/NAME.txt and `figures` as
    NAME.json (or at `out`); say where on stderr."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    text = REPORTS / f"{name}.txt"
    text.write_text(console.export_text())
    if figures is not None:
        target = out or REPORTS / f"{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(figures, indent=2, default=str))
    print(f"tables kept in {text}", file=sys.stderr)
    return text
