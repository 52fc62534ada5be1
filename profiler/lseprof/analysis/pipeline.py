"""`lseprof report` as a library call, the analysis step: an opened input ->
symbolize -> classify -> attribute (-> the scheduler view).

`lseprof report` is three steps: :func:`lseprof.readers.inputs.open_input` (detect
the input once; perf.data: perf script starts), :func:`analyze` (this module) and
:func:`lseprof.reports.render`. Each stage is its own module
(:mod:`lseprof.symbols.symbolize`, :mod:`lseprof.analysis.classify`,
:mod:`lseprof.analysis.attribution`); reporters read only the :class:`Report`.

This module imports none of them (nor pandas) at load time: they load inside
:func:`analyze`, while perf script runs on an opened perf.data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lseprof.analysis.threads import ThreadFilter
from lseprof.readers.inputs import ProfileInput, open_input
from lseprof.readers.perf_data import SymbolFiles
from lseprof.readers.time_range import TimeRange, perf_time_arg

if TYPE_CHECKING:
    import pandas as pd

    from lseprof import samples as S
    from lseprof.analysis.classify import Rule
    from lseprof.results import (
        Attribution,
        CoherenceResult,
        HeatMap,
        OffCpuResult,
        Timeline,
        TimeWindow,
    )
    from lseprof.symbols.elf import ElfImage
    from lseprof.symbols.symbolize import Symbolizer


@dataclass(frozen=True)
class Focus:
    """Which threads a report covers and what it adds about threads and time:
    `threads` keeps the samples (and scheduler events) of some threads only;
    `per_thread` adds the per-thread table and its groups to each section;
    `over_time` adds the heat map and the per-thread timeline (the input must have
    been opened with ``times=True``)."""

    threads: ThreadFilter = field(default_factory=ThreadFilter)
    per_thread: bool = False
    over_time: bool = False


@dataclass
class Report:
    """The report of one profile: what `lseprof report`, :func:`lseprof.load` and a
    stored run's report are, whatever the input kind.

    ``capture`` holds the samples table (:mod:`lseprof.samples`) with its
    classification columns; ``sections`` one :class:`~lseprof.results.Attribution` per
    event; ``offcpu`` the scheduler view where the profile has scheduler events;
    ``coherence`` the cache lines between cores where a coherence file (``lseprof vm
    run --coherence``) lies beside the profile.
    Reporters (:mod:`lseprof.reports`) render it; :meth:`to_json` is ``lseprof report
    --json``.
    """

    path: Path
    capture: S.Capture
    sections: list[Attribution]
    # The ELF images the samples were named from (keyed by DSO): attribution reads
    # them again for static callers, so a re-attribution needs no second load.
    images: dict[str, ElfImage] = field(default_factory=dict, repr=False)
    offcpu: OffCpuResult | None = None
    offcpu_note: str = ""  # why there is no scheduler view, when one was asked for
    # What named the rows: it names the other frames of the stacks the same way.
    symbolizer: Symbolizer | None = field(default=None, repr=False)
    window: TimeWindow | None = None  # the --time-range the report covers
    heatmap: HeatMap | None = None  # the first event's samples over time (Focus.over_time)
    timeline: Timeline | None = None  # per-thread tracks (Focus.over_time)
    coherence: CoherenceResult | None = None

    @property
    def samples(self) -> pd.DataFrame:
        return self.capture.samples

    @property
    def events(self) -> list[str]:
        return [s.event for s in self.sections]

    @property
    def notes(self) -> list[str]:
        """Every section's notes, once each."""
        return list(dict.fromkeys(n for s in self.sections for n in s.notes))

    def to_json(self) -> str:
        """The JSON of ``lseprof report --json`` (see :func:`lseprof.results.report_json`)."""
        from lseprof.results import report_json

        return report_json(self.sections, self.offcpu, self.window, self.coherence)


def analyze(
    source: ProfileInput,
    *,
    binaries: Sequence[Path] = (),
    rules_file: Path | None = None,
    top: int = 15,
    perf_maps: Sequence[Path] = (),
    offcpu: bool | None = None,
    focus: Focus | None = None,
) -> Report:
    """The second step of `lseprof report`: read an opened input (see
    :func:`lseprof.readers.inputs.open_input`), name, classify and attribute its samples.

    `offcpu`: None reads scheduler events where the profile has them, True also says
    why when it has none, False skips them; `focus`: threads and views of time (see
    :class:`Focus`). Closes `source` whatever happens.
    """
    focus = focus or Focus()
    try:
        from lseprof.analysis.classify import load_rules, warm_up
        from lseprof.symbols.symbolize import preload_local_images

        rules = load_rules(rules_file)  # rules errors surface before any slow work
        if source.kind == "perf-data":
            # While perf script runs: the ELF images and decoders classification needs.
            warm_up(preload_local_images(source.build_ids))
        capture = source.read()
    finally:
        source.close()  # stops perf if anything above failed; no-op after read
    _check_range(capture, source.time_range)
    if focus.threads:
        _keep_threads(capture, focus.threads)
    result = _attributed(source, capture, rules, binaries, perf_maps, top)
    result.window = _window(capture, source.time_range)
    if offcpu is not False and source.header is not None:
        _add_offcpu(result, source, focus, bool(offcpu))
    _add_views(result, focus)
    from lseprof.analysis.findings import findings_for

    for section in result.sections:
        section.findings = findings_for(section, result.offcpu, capture.samples)
    result.coherence = _coherence_beside(source.path, binaries, result.images)
    return result


def _attributed(
    source: ProfileInput,
    capture: S.Capture,
    rules: list[Rule],
    binaries: Sequence[Path],
    perf_maps: Sequence[Path],
    top: int,
) -> Report:
    """Name, classify and attribute a capture's samples."""
    from lseprof import samples as S
    from lseprof.analysis.attribution import attribute
    from lseprof.analysis.caveats import add_caveats
    from lseprof.analysis.classify import attribute_chains, classify
    from lseprof.analysis.readable import make_readable
    from lseprof.symbols.symbolize import symbolize

    symbolized = symbolize(
        capture, binaries, source.files.symfs, perf_maps, input_dir=source.path.parent
    )
    classify(capture.samples, rules, symbolized.images)
    outcome = attribute_chains(
        capture,
        rules,
        symbolized.images,
        namer=lambda table: symbolized.name(table, notes=[], frames=True),
    )
    capture.warnings += outcome.notes()
    annotated = []
    if capture.listings:  # perf annotate text: instructions as printed
        from lseprof.analysis.annotated import attach, read_listings

        annotated = read_listings(capture, rules)
    S.validate(capture.samples, classified=True)
    notes = [*capture.warnings, *symbolized.notes]
    sections = attribute(capture, symbolized.images, top=top, notes=notes)
    add_caveats(sections, capture, source.files)
    if annotated:
        attach(sections, annotated)
    make_readable(sections)
    return Report(source.path, capture, sections, symbolized.images, symbolizer=symbolized)


def _check_range(capture: S.Capture, time_range: TimeRange | None) -> None:
    """A range with no sample in it is a mistake worth one line."""
    if time_range is None or len(capture.samples) or capture.sched_text:
        return
    from lseprof.errors import LseprofError

    length = ""
    if capture.first_ns is not None and capture.last_ns is not None:
        length = f" (samples run {(capture.last_ns - capture.first_ns) / 1e9:.3f} s from the first)"
    raise LseprofError(f"no samples in --time-range {time_range.text}{length}; pick another range")


def _keep_threads(capture: S.Capture, threads: ThreadFilter) -> None:
    """Only the samples of the threads asked for; none is a mistake worth one line."""
    samples = capture.samples
    keep = threads.mask(samples)
    if len(samples) and not keep.any():
        from lseprof.errors import LseprofError

        names = sorted({str(c) for c in samples["comm"].unique()})[:5]
        raise LseprofError(
            "no samples of the threads asked for (--tid/--comm); threads here are named "
            + ", ".join(repr(n) for n in names)
        )
    capture.samples = samples[keep].reset_index(drop=True)


def _window(capture: S.Capture, time_range: TimeRange | None) -> TimeWindow | None:
    from lseprof.results import TimeWindow

    if capture.window_ns is None or capture.first_ns is None:
        return None
    start, end = (w - capture.first_ns for w in capture.window_ns)
    asked = time_range.text if time_range is not None else ""
    exact = perf_time_arg(*capture.window_ns)
    return TimeWindow(start / 1e9, end / 1e9, capture.first_ns / 1e9, asked, exact)


def _add_offcpu(result: Report, source: ProfileInput, focus: Focus, asked: bool) -> None:
    from lseprof.analysis.offcpu import SchedScope, offcpu_for

    capture = result.capture
    assert source.header is not None
    pids = capture.samples["pid"].unique().tolist() if len(capture.samples) else []
    scope = SchedScope(
        capture.window_ns,
        focus.threads.keeps if focus.threads else None,
        spans=focus.over_time,
    )
    result.offcpu, note = offcpu_for(source.path, pids, source.header, capture.sched_text, scope)
    # "No scheduler events" is news only to whoever asked for them.
    if asked or note.startswith("scheduler events not read"):
        result.offcpu_note = note


def _add_views(result: Report, focus: Focus) -> None:
    """The per-thread tables, the heat map and the timeline, as `focus` asks."""
    if focus.per_thread:
        from lseprof.analysis.threads import thread_table

        for section in result.sections:
            section.threads, section.thread_groups = thread_table(
                result.samples, section.event, result.offcpu
            )
    if focus.over_time and result.sections:
        from lseprof.analysis.timeline import heat_map, timeline

        event = result.sections[0].event
        result.heatmap = heat_map(result.capture, event)
        spans = result.offcpu.spans if result.offcpu is not None else []
        names = {t.tid: t.comm for t in result.offcpu.threads} if result.offcpu else {}
        result.timeline = timeline(result.capture, event, spans, names)


def _coherence_beside(
    path: Path, binaries: Sequence[Path], images: dict[str, ElfImage]
) -> CoherenceResult | None:
    """The coherence view of the run that recorded ``path``, when its coherence file
    lies beside it (named with the report's own images and ``--binary`` files)."""
    from lseprof.readers.coherence import find_coherence

    if path.is_dir() or find_coherence(path.parent) is None:
        return None
    from lseprof.analysis.coherence import load_coherence

    return load_coherence(path.parent, binaries, images=list(images.values()))


def analyze_file(
    path: Path,
    *,
    fmt: str = "auto",
    max_stack: int | None = None,
    binaries: Sequence[Path] = (),
    symfs: Path | None = None,
    kallsyms: Path | None = None,
    rules_file: Path | None = None,
    top: int = 15,
    perf_maps: Sequence[Path] = (),
    offcpu: bool | None = None,
    time_range: TimeRange | None = None,
    focus: Focus | None = None,
) -> Report:
    """:func:`lseprof.readers.inputs.open_input` and :func:`analyze` in one call
    (`symfs`, `kallsyms`: see :class:`lseprof.readers.perf_data.SymbolFiles`)."""
    focus = focus or Focus()
    files = SymbolFiles(
        Path(symfs) if symfs is not None else None,
        Path(kallsyms) if kallsyms is not None else None,
    )
    return analyze(
        open_input(Path(path), fmt, max_stack, time_range, times=focus.over_time, files=files),
        binaries=binaries,
        rules_file=rules_file,
        top=top,
        perf_maps=perf_maps,
        offcpu=offcpu,
        focus=focus,
    )
