"""`lseprof report` as a library call: load -> symbolize -> classify -> attribute.

Each step is its own module (:mod:`profiler.report_input`, :mod:`profiler.symbolize`,
:mod:`profiler.classify`, :mod:`profiler.attribution`); renderers live in
``reports/`` and only read the :class:`~profiler.attribution.Attribution` list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from profiler import samples as S
from profiler.attribution import Attribution, attribute
from profiler.classify import classify, load_rules
from profiler.report_input import load
from profiler.symbolize import symbolize


@dataclass
class Report:
    capture: S.Capture
    sections: list[Attribution]


def build_report(path: Path, *, binaries: Sequence[Path] = (), symfs: Path | None = None,
                 fmt: str = "auto", rules_file: Path | None = None, top: int = 15,
                 perf_maps: Sequence[Path] = (), max_stack: int | None = None) -> Report:
    path = Path(path)
    rules = load_rules(rules_file)  # rules errors surface before any slow work
    capture = load(path, fmt, max_stack=max_stack)
    symbolized = symbolize(capture, binaries, symfs, perf_maps, input_dir=path.parent)
    classify(capture.samples, rules, symbolized.images)
    notes = [*capture.warnings, *symbolized.notes]
    sections = attribute(capture, symbolized.images, top=top, notes=notes)
    return Report(capture, sections)
