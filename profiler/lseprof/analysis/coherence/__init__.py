"""Cache lines between cores: the coherence plugin's file as a
:class:`lseprof.results.CoherenceResult` (``lseprof report`` of a run with
``--coherence``, or of a perf.data with the coherence file beside it).

:func:`load_coherence` finds the file (a coherence.txt, a run's out directory, or
the directory of a perf.data), reads it with :mod:`lseprof.readers.coherence`, names
its code and data from the program's ELF (``--binary``, or the command's own
arguments through the run's shares) and builds the result: totals per MiB and per
item of the work the command reported, and the top lines (``build``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lseprof.analysis.coherence.build import (
    DEFAULT_TOP,
    coherence_result,
    demangle_names,
    guest_files,
    load_images,
    sharing_of,
)
from lseprof.readers.coherence import find_coherence, read_coherence
from lseprof.results import CoherenceResult
from lseprof.symbols.elf import ElfImage

__all__ = [
    "DEFAULT_TOP",
    "coherence_result",
    "demangle_names",
    "load_coherence",
    "sharing_of",
]


def load_coherence(
    path: Path,
    binaries: Sequence[Path] = (),
    *,
    images: Sequence[ElfImage] = (),
    top: int = DEFAULT_TOP,
    work_bytes: float | None = None,
    items: float | None = None,
) -> CoherenceResult | None:
    """The coherence view of ``path`` (a coherence file, a directory holding one, or a
    file beside one), or None when there is none. ``binaries`` and ``images`` name
    the code and data; the command's own ELF arguments are used too."""
    found_path = find_coherence(Path(path))
    if found_path is None:
        return None
    found = read_coherence(found_path)
    named = [*load_images([*binaries, *guest_files(found)]), *images]
    return coherence_result(found, named, top=top, work_bytes=work_bytes, items=items)
