"""Readable names in an attribution: callers and top symbols demangled.

perf demangles the host symbols it names itself, but names read from ELF symbol
tables (guest code, stripped-object fingerprints, perf maps of JIT'd or emulated
code) arrive mangled. Every name shown goes through :mod:`lseprof.symbols.demangle`
here, once per report; the recorded name stays beside it (``caller_raw``,
``symbol_raw``) so JSON consumers can still match raw symbol tables. Helper names
(``__aarch64_*``) are plain C names and never change.
"""

from __future__ import annotations

from collections.abc import Sequence

from lseprof.results import Attribution
from lseprof.symbols.demangle import demangle_all


def make_readable(sections: Sequence[Attribution]) -> None:
    """Demangle the callers and top symbols of ``sections`` in place, keeping raw names."""
    names = [c.caller for s in sections for c in s.helper_callers]
    names += [t.symbol for s in sections for t in s.top_symbols]
    readable = demangle_all(names)
    for section in sections:
        for caller in section.helper_callers:
            caller.caller_raw = caller.caller
            caller.caller = readable[caller.caller]
        for top in section.top_symbols:
            top.symbol_raw = top.symbol
            top.symbol = readable[top.symbol]
