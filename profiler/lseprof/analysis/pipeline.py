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

from lseprof.readers.inputs import ProfileInput, open_input
from lseprof.readers.perf_data import SymbolFiles

if TYPE_CHECKING:
    import pandas as pd

    from lseprof import samples as S
    from lseprof.results import Attribution, CoherenceResult, OffCpuResult
    from lseprof.symbols.elf import ElfImage
    from lseprof.symbols.symbolize import Symbolizer


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

        return report_json(self.sections, self.offcpu, self.coherence)


def analyze(
    source: ProfileInput,
    *,
    binaries: Sequence[Path] = (),
    rules_file: Path | None = None,
    top: int = 15,
    perf_maps: Sequence[Path] = (),
    offcpu: bool | None = None,
) -> Report:
    """The second step of `lseprof report`: read an opened input (see
    :func:`lseprof.readers.inputs.open_input`), name, classify and attribute its samples.

    `offcpu`: None reads scheduler events where the profile has them, True also says
    why when it has none, False skips them. Closes `source` whatever happens.
    """
    try:
        from lseprof import samples as S
        from lseprof.analysis.attribution import attribute
        from lseprof.analysis.caveats import add_caveats
        from lseprof.analysis.classify import attribute_chains, classify, load_rules, warm_up
        from lseprof.analysis.readable import make_readable
        from lseprof.symbols.symbolize import preload_local_images, symbolize

        rules = load_rules(rules_file)  # rules errors surface before any slow work
        if source.kind == "perf-data":
            # While perf script runs: the ELF images and decoders classification needs.
            warm_up(preload_local_images(source.build_ids))
        capture = source.read()
    finally:
        source.close()  # stops perf if anything above failed; no-op after read
    symbolized = symbolize(
        capture, binaries, source.files.symfs, perf_maps, input_dir=source.path.parent
    )
    classify(capture.samples, rules, symbolized.images)
    capture.warnings += attribute_chains(capture, rules, symbolized.images).notes()
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
    result = Report(source.path, capture, sections, symbolized.images, symbolizer=symbolized)
    if offcpu is not False and source.header is not None:
        from lseprof.analysis.offcpu import offcpu_for

        pids = capture.samples["pid"].unique().tolist() if len(capture.samples) else []
        result.offcpu, note = offcpu_for(source.path, pids, source.header, capture.sched_text)
        # "No scheduler events" is news only to whoever asked for them.
        if offcpu or note.startswith("scheduler events not read"):
            result.offcpu_note = note
    from lseprof.analysis.findings import findings_for

    for section in sections:
        section.findings = findings_for(section, result.offcpu, capture.samples)
    result.coherence = _coherence_beside(source.path, binaries, symbolized.images)
    return result


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
) -> Report:
    """:func:`lseprof.readers.inputs.open_input` and :func:`analyze` in one call
    (`symfs`, `kallsyms`: see :class:`lseprof.readers.perf_data.SymbolFiles`)."""
    files = SymbolFiles(
        Path(symfs) if symfs is not None else None,
        Path(kallsyms) if kallsyms is not None else None,
    )
    return analyze(
        open_input(Path(path), fmt, max_stack, files),
        binaries=binaries,
        rules_file=rules_file,
        top=top,
        perf_maps=perf_maps,
        offcpu=offcpu,
    )
