"""The library API: what ``import lseprof`` offers a notebook or a script.

Every function here is a thin, typed entry point over the layers below; the CLI
commands call the same code. Nothing here prints: results are objects (a
:class:`Profile` with its samples table, :class:`Attribution` sections, an
:class:`Inventory`, a :class:`Diff`) that the reporters in :mod:`lseprof.reports`
render to text, JSON or Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import os

    import pandas as pd

    from lseprof import samples as S
    from lseprof.analysis.attribution import Attribution
    from lseprof.analysis.diff import Diff
    from lseprof.store import RunStoreProtocol
    from lseprof.symbols.elf import ElfImage
    from lseprof.symbols.inspect_elf import Inventory

DEFAULT_TOP = 15


@dataclass
class Profile:
    """A loaded, symbolized and classified profile.

    ``samples`` is the samples table documented in :mod:`lseprof.samples` (one row per
    sample, or per row of a ``perf report`` text), with the classification columns
    (``category``, ``helper_op``, ``helper_size``, ``helper_order``, ``helper_path``,
    ``insn``) added. ``sections`` holds one :class:`Attribution` per event.
    """

    path: Path
    capture: S.Capture
    sections: list[Attribution]
    notes: list[str] = field(default_factory=list)
    images: dict[str, ElfImage] = field(default_factory=dict, repr=False)

    @property
    def samples(self) -> pd.DataFrame:
        return self.capture.samples

    @property
    def events(self) -> list[str]:
        return [s.event for s in self.sections]

    def to_json(self) -> str:
        """The same JSON as ``lseprof report --json``."""
        from lseprof.reports.json_report import to_json

        return to_json(self.sections)

    def to_markdown(self, top: int = DEFAULT_TOP) -> str:
        """The same Markdown as ``lseprof report --markdown``."""
        from lseprof.reports.markdown import to_markdown

        return to_markdown(self.sections, top)

    def to_text(self, top: int = DEFAULT_TOP, width: int = 120) -> str:
        """The terminal tables of ``lseprof report``, as plain text."""
        from rich.console import Console

        from lseprof.reports.terminal import render

        buffer = StringIO()
        render(
            self.sections, Console(file=buffer, width=width, no_color=True, color_system=None), top
        )
        return buffer.getvalue()


def load(
    path: str | os.PathLike[str],
    *,
    binaries: Sequence[str | os.PathLike[str]] = (),
    symfs: str | os.PathLike[str] | None = None,
    fmt: str = "auto",
    rules: str | os.PathLike[str] | None = None,
    perf_maps: Sequence[str | os.PathLike[str]] = (),
    max_stack: int | None = None,
    top: int = DEFAULT_TOP,
) -> Profile:
    """Read a perf.data, ``perf script`` text or ``perf report --stdio`` text (gzip is
    fine) and name, classify and attribute its samples, as ``lseprof report`` does.

    ``binaries`` name frames perf could not (stripped or moved ELF files), ``symfs``
    is a root of copies of the recorded DSO paths, ``perf_maps`` are qemu ``-perfmap``
    files not next to ``path``; ``fmt`` forces the input kind (see
    :data:`lseprof.readers.inputs.FORMATS`). Raises :class:`LseprofError` with a
    one-line message on bad input.
    """
    from lseprof.analysis.pipeline import analyze_file

    p = Path(path)
    report = analyze_file(
        p,
        binaries=[Path(b) for b in binaries],
        symfs=Path(symfs) if symfs is not None else None,
        fmt=fmt,
        rules_file=Path(rules) if rules is not None else None,
        top=top,
        perf_maps=[Path(m) for m in perf_maps],
        max_stack=max_stack,
    )
    notes = [n for s in report.sections for n in s.notes]
    return Profile(p, report.capture, report.sections, list(dict.fromkeys(notes)), report.images)


def attribute(profile: Profile, top: int = DEFAULT_TOP) -> list[Attribution]:
    """Shares by category, helper (op, size, order, path) and caller, one section per
    event, recomputed from ``profile.samples`` with ``top`` rows per table (edit or
    filter the table first to attribute a subset)."""
    from lseprof.analysis.attribution import attribute as _attribute
    from lseprof.analysis.readable import make_readable

    sections = _attribute(profile.capture, profile.images, top=top, notes=list(profile.notes))
    make_readable(sections)
    return sections


def inspect(path: str | os.PathLike[str]) -> Inventory:
    """The atomics of one ELF file: outline-atomic helpers (by symbol or fingerprint),
    their call sites, inline LSE, LL/SC exclusives or x86 ``lock`` instructions."""
    from lseprof.symbols.inspect_elf import inspect as _inspect

    return _inspect(Path(path))


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
    from lseprof.store import open_store as _open_store

    return _open_store(location, create=create)
