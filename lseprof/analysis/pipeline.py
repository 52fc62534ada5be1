"""`lseprof report` as a library call: load -> symbolize -> classify -> attribute.

Each step is its own module (:mod:`lseprof.readers.report_input`, :mod:`lseprof.symbols.symbolize`,
:mod:`lseprof.analysis.classify`, :mod:`lseprof.analysis.attribution`); renderers live in
``lseprof/report/`` and only read the :class:`~lseprof.analysis.attribution.Attribution` list.

This module imports none of them (nor pandas) at load time: for a perf.data,
:func:`build_report` starts perf first and imports them while perf runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lseprof.readers import prefetch
from lseprof.readers.perf_data import PerfDataReader, is_perf_data, start_perf_data

if TYPE_CHECKING:
    from lseprof import samples as S
    from lseprof.analysis.attribution import Attribution
    from lseprof.symbols.elf import ElfImage


@dataclass
class Report:
    capture: S.Capture
    sections: list[Attribution]
    # The ELF images the samples were named from (keyed by DSO): attribution reads
    # them again for static callers, so a re-attribution needs no second load.
    images: dict[str, ElfImage] = field(default_factory=dict)
    # Scheduler view (lseprof.analysis.offcpu's dict), when the profile has its events.
    offcpu: dict[str, Any] | None = None
    offcpu_note: str = ""


def build_report(path: Path, *, binaries: Sequence[Path] = (), symfs: Path | None = None,
                 fmt: str = "auto", rules_file: Path | None = None, top: int = 15,
                 perf_maps: Sequence[Path] = (), max_stack: int | None = None,
                 offcpu: bool | None = None) -> Report:
    """`offcpu`: None reads scheduler events where the profile has them, True also
    says why when it has none, False skips them."""
    path = Path(path)
    reader: PerfDataReader | None = None
    if fmt in ("auto", "perf-data") and is_perf_data(path):
        # perf script takes the longest: start it before anything else loads (or take
        # the one `lseprof report` started before its command line loaded).
        reader = prefetch.take(path, max_stack) or start_perf_data(
            path, max_stack=max_stack)
    try:
        from lseprof.analysis.attribution import attribute
        from lseprof.analysis.classify import classify, load_rules, warm_up
        from lseprof.analysis.readable import make_readable
        from lseprof.symbols.symbolize import preload_local_images, symbolize

        rules = load_rules(rules_file)  # rules errors surface before any slow work
        if reader is not None:
            # While perf script runs: the ELF images and decoders classification needs.
            warm_up(preload_local_images(reader.build_ids))
            capture = reader.finish()
        else:
            from lseprof.readers.report_input import load

            capture = load(path, fmt, max_stack=max_stack)
    finally:
        if reader is not None:
            reader.abort()  # stops perf if anything above failed; no-op after finish
    symbolized = symbolize(capture, binaries, symfs, perf_maps, input_dir=path.parent)
    classify(capture.samples, rules, symbolized.images)
    notes = [*capture.warnings, *symbolized.notes]
    sections = attribute(capture, symbolized.images, top=top, notes=notes)
    make_readable(sections)
    result = Report(capture, sections, symbolized.images)
    if offcpu is not False and reader is not None:
        from lseprof.analysis.offcpu_source import offcpu_for

        pids = capture.samples["pid"].unique().tolist() if len(capture.samples) else []
        result.offcpu, note = offcpu_for(path, pids, reader.head)
        # "No scheduler events" is news only to whoever asked for them.
        if offcpu or note.startswith("scheduler events not read"):
            result.offcpu_note = note
    return result
