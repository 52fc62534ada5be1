"""lseprof: find where aarch64 programs lose time to atomic helpers and contention.

The library API (see docs/api.md)::

    import lseprof
    profile = lseprof.load("perf.data")     # Profile; profile.samples is a pandas table
    print(profile.to_text())                 # or .to_json(), .to_markdown()
    lseprof.inspect("libfoo.so")             # the atomics of an ELF file
    lseprof.diff("a.data", "b.data")         # B against A
    store = lseprof.open_store()             # stored runs

Names are loaded on first use, so ``import lseprof`` (and the ``lseprof`` command,
which imports this package) stays cheap: pandas loads only when a profile does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lseprof.version import __version__

if TYPE_CHECKING:
    from lseprof.analysis.attribution import Attribution
    from lseprof.analysis.diff import Diff
    from lseprof.api import Profile, attribute, diff, inspect, load, open_store
    from lseprof.errors import LseprofError
    from lseprof.symbols.inspect_elf import Inventory

_LAZY = {
    "load": "lseprof.api",
    "attribute": "lseprof.api",
    "inspect": "lseprof.api",
    "diff": "lseprof.api",
    "open_store": "lseprof.api",
    "Profile": "lseprof.api",
    "Attribution": "lseprof.analysis.attribution",
    "Diff": "lseprof.analysis.diff.build",
    "Inventory": "lseprof.symbols.inspect_elf",
    "LseprofError": "lseprof.errors",
}

__all__ = [
    "Attribution",
    "Diff",
    "Inventory",
    "LseprofError",
    "Profile",
    "__version__",
    "attribute",
    "diff",
    "inspect",
    "load",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lseprof' has no attribute {name!r}")
