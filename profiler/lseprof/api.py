"""The library API: what ``import lseprof`` offers a notebook or a script.

Every function here is a thin, typed entry point over the layers below; the CLI
commands call the same code. Nothing here prints: results are objects (a
:class:`~lseprof.analysis.pipeline.Report` with its samples table and
:class:`~lseprof.results.Attribution` sections, an :class:`Inventory`, a
:class:`Diff`) that :func:`render` (or the reporters in :mod:`lseprof.reports`)
turns into terminal text, JSON or Markdown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import os

    import pandas as pd

    from lseprof.analysis.diff import Diff
    from lseprof.analysis.pipeline import Report
    from lseprof.results import Attribution
    from lseprof.store import RunStoreProtocol
    from lseprof.symbols.inspect_elf import Inventory

DEFAULT_TOP = 15


def load(
    path: str | os.PathLike[str],
    *,
    binaries: Sequence[str | os.PathLike[str]] = (),
    symfs: str | os.PathLike[str] | None = None,
    kallsyms: str | os.PathLike[str] | None = None,
    fmt: str = "auto",
    rules: str | os.PathLike[str] | None = None,
    perf_maps: Sequence[str | os.PathLike[str]] = (),
    max_stack: int | None = None,
    top: int = DEFAULT_TOP,
    store: str | None = None,
    time_range: str | None = None,
    tids: Sequence[int] = (),
    comms: Sequence[str] = (),
    per_thread: bool = False,
    over_time: bool = False,
) -> Report:
    """Read a perf.data, ``perf script`` text or ``perf report`` text (gzip is fine), or
    a stored run (its id, run directory or run.json; ``store`` is where to look the id
    up), and name, classify and attribute its samples: the :class:`Report` that
    ``lseprof report`` renders (``report.to_json()`` is ``lseprof report --json``).

    ``binaries`` name frames perf could not (stripped or moved ELF files), ``symfs``
    is a root of copies of the recorded DSO paths and ``kallsyms`` a copy of the
    recording machine's /proc/kallsyms (a profile recorded on another machine),
    ``perf_maps`` are qemu ``-perfmap``
    files not next to ``path``; ``fmt`` forces the input kind (see
    :data:`lseprof.readers.inputs.FORMATS`). Time and threads (docs/time.md):
    ``time_range`` as ``--time-range`` takes it (``"1,2"``, ``"10%,90%"``), ``tids``
    and ``comms`` as ``--tid`` and ``--comm``, ``per_thread`` adds the per-thread
    tables to each section, ``over_time`` the heat map and the timeline
    (``report.heatmap``, ``report.timeline``). Raises :class:`LseprofError` with a
    one-line message on bad input.
    """
    from lseprof.analysis.pipeline import Focus, analyze_file
    from lseprof.analysis.stored_runs import profile_inputs
    from lseprof.analysis.threads import ThreadFilter
    from lseprof.readers.time_range import parse_time_range

    inputs = profile_inputs(
        Path(path), store, [Path(b) for b in binaries], [Path(m) for m in perf_maps]
    )
    stored = inputs.files  # a run recorded on another machine: its files here
    return analyze_file(
        inputs.path,
        binaries=inputs.binaries,
        symfs=Path(symfs) if symfs is not None else (stored.symfs if stored else None),
        kallsyms=Path(kallsyms) if kallsyms is not None else (stored.kallsyms if stored else None),
        fmt=fmt,
        rules_file=Path(rules) if rules is not None else None,
        top=top,
        perf_maps=inputs.perf_maps,
        max_stack=max_stack,
        time_range=parse_time_range(time_range) if time_range is not None else None,
        focus=Focus(ThreadFilter(tuple(tids), tuple(comms)), per_thread, over_time),
    )


def render(
    report: Report, fmt: str = "terminal", *, top: int = DEFAULT_TOP, width: int = 120
) -> str:
    """The text ``lseprof report`` prints: ``terminal`` tables (plain text, ``width``
    columns), ``markdown`` or ``json``."""
    from rich.console import Console

    from lseprof.reports.rendering import FORMATS, render_text
    from lseprof.reports.rendering import render as render_to

    if fmt not in FORMATS:
        from lseprof.errors import LseprofError

        raise LseprofError(f"fmt {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt != "terminal":
        return render_text(report, fmt, top)
    buffer = StringIO()
    render_to(report, Console(file=buffer, width=width, no_color=True, color_system=None), top=top)
    return buffer.getvalue()


def attribute(
    report: Report, samples: pd.DataFrame | None = None, top: int = DEFAULT_TOP
) -> list[Attribution]:
    """Shares by category, helper (op, size, order, path) and caller, one section per
    event, recomputed from ``samples`` (a filtered or edited ``report.samples``; all
    of them when None) with ``top`` rows per table."""
    from lseprof.analysis.attribution import attribute as attribute_capture
    from lseprof.analysis.readable import make_readable

    capture = (
        report.capture if samples is None else dataclasses.replace(report.capture, samples=samples)
    )
    sections = attribute_capture(capture, report.images, top=top, notes=list(report.notes))
    make_readable(sections)
    return sections


def inspect(path: str | os.PathLike[str]) -> Inventory:
    """The atomics of one ELF file: outline-atomic helpers (by symbol or fingerprint),
    their call sites, inline LSE, LL/SC exclusives or x86 ``lock`` instructions."""
    from lseprof.symbols.inspect_elf import inspect as inspect_elf

    return inspect_elf(Path(path))


def diff(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    *,
    store: str | None = None,
    binaries: Sequence[str | os.PathLike[str]] = (),
    alpha: float | None = None,
) -> Diff:
    """Compare B with A, as ``lseprof diff``: two run groups or run directories (with a
    store), two perf files, or two binaries."""
    from lseprof.analysis.diff import DEFAULT_ALPHA, build_diff

    return build_diff(
        str(a),
        str(b),
        store=store,
        binaries=[Path(x) for x in binaries],
        alpha=DEFAULT_ALPHA if alpha is None else alpha,
    )


def open_store(
    location: str | os.PathLike[str] | None = None, *, create: bool = True
) -> RunStoreProtocol:
    """The run store: an SQLite file (default: the per-user one) or a
    ``postgresql://`` URL. See docs/store.md."""
    from lseprof.store import open_store as open_run_store

    return open_run_store(location, create=create)
