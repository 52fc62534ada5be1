"""lseprof: find where aarch64 programs lose time to atomic helpers and contention.

The library API (see docs/api.md)::

    import lseprof
    report = lseprof.load("perf.data")       # a Report; report.samples is a pandas table
    print(lseprof.render(report))             # the tables; "markdown" or "json" too
    report.to_json()                          # == `lseprof report perf.data --json`
    lseprof.inspect("libfoo.so")              # the atomics of an ELF file
    lseprof.diff("a.data", "b.data")          # B against A
    store = lseprof.open_store()              # stored runs

Names are loaded on first use, so ``import lseprof`` (and the ``lseprof`` command,
which imports this package) stays cheap: pandas loads only when a profile does.
These names are the library's public API; each is also importable from the module
that defines it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lseprof.version import __version__

if TYPE_CHECKING:
    from lseprof.analysis.diff import Diff
    from lseprof.analysis.pipeline import Report
    from lseprof.api import attribute, diff, inspect, load, open_store, render
    from lseprof.errors import LseprofError
    from lseprof.results import Attribution
    from lseprof.symbols.inspect_elf import Inventory

_LAZY = {
    "load": "lseprof.api",
    "render": "lseprof.api",
    "attribute": "lseprof.api",
    "inspect": "lseprof.api",
    "diff": "lseprof.api",
    "open_store": "lseprof.api",
    "Report": "lseprof.analysis.pipeline",
    "Attribution": "lseprof.results",
    "Diff": "lseprof.analysis.diff",
    "Inventory": "lseprof.symbols.inspect_elf",
    "LseprofError": "lseprof.errors",
}

__all__ = [
    "Attribution",
    "Diff",
    "Inventory",
    "LseprofError",
    "Report",
    "__version__",
    "attribute",
    "diff",
    "inspect",
    "load",
    "open_store",
    "render",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lseprof' has no attribute {name!r}")
