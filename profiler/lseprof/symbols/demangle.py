"""Readable names for mangled symbols, through binutils' ``c++filt``.

Names read from ELF symbol tables (guest code under emulation, stripped-object
fingerprints, perf maps) come mangled: Itanium C++ (``_Z...``), Rust's legacy
mangling (Itanium-shaped, with a ``::h<16 hex>`` hash) and Rust v0 (``_R...``).
``c++filt`` is libiberty's demangler, the one perf itself links, so a name reads
the same here as in ``perf report``; it is in binutils, which every machine that
runs perf has. Rust's legacy hash and v0's crate disambiguators are dropped, as
perf and nm do. All names of a report go through one ``c++filt`` process; a name
it cannot demangle is kept as it is.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterable

CXXFILT = "c++filt"
_RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")
# c++filt shows Rust v0's crate disambiguators (``core[9071c5eb0b65983b]::``); nm and
# perf do not, and they only make names longer.
_CRATE_HASH = re.compile(r"(?<=[A-Za-z0-9_])\[[0-9a-f]{1,16}\](?=::)")
# ... and the types of const generic values (``<10: usize>``), which nm and perf omit.
_CONST_TYPE = re.compile(r": (?:[ui](?:8|16|32|64|128|size)|bool|char)(?=[,>])")
_LLVM_SUFFIX = re.compile(r"\.llvm\.\d+$")  # LTO's ".llvm.<n>" is not part of the name
_MANGLED = re.compile(r"^(_Z|_R|__Z)")


def looks_mangled(name: str) -> bool:
    return bool(_MANGLED.match(name))


@functools.cache
def _tool() -> str | None:
    return shutil.which(CXXFILT)


def demangle_all(names: Iterable[str]) -> dict[str, str]:
    """Each mangled name of ``names`` mapped to its readable form (others map to
    themselves). Without ``c++filt`` on PATH every name maps to itself."""
    unique = list(dict.fromkeys(names))
    result = {name: name for name in unique}
    todo = [n for n in unique if looks_mangled(n) and "\n" not in n]
    tool = _tool()
    if not todo or tool is None:
        return result
    bases = [_LLVM_SUFFIX.sub("", n) for n in todo]
    try:
        proc = subprocess.run(
            [tool],
            input="\n".join(bases) + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return result
    lines = proc.stdout.split("\n")
    if proc.returncode != 0 or len(lines) < len(todo):
        return result
    for name, base, text in zip(todo, bases, lines, strict=False):
        if text != base:  # c++filt echoes what it cannot demangle
            text = _CRATE_HASH.sub("", _RUST_HASH.sub("", text))
            result[name] = _CONST_TYPE.sub("", text) if name.startswith("_R") else text
    return result


def demangle(name: str) -> str:
    """One name; prefer :func:`demangle_all` for many (one process for all)."""
    return demangle_all([name])[name]
