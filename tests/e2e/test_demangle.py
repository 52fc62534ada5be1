"""Demangling (lseprof.symbols.demangle) on the names of real ELF symbol tables, checked
against binutils' own `nm --demangle` of the same file, and in a real report."""

from __future__ import annotations

import re
import subprocess

import pytest

from lseprof.symbols.demangle import demangle, demangle_all, looks_mangled
from tests.helpers import build_for

RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")


def nm_names(path: str, *, demangled: bool) -> list[str]:
    argv = ["nm", "--defined-only", *(["--demangle"] if demangled else []), path]
    lines = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()
    return [line.split(" ", 2)[2] for line in lines if line.count(" ") >= 2]


@pytest.mark.parametrize("target", ["aarch64", "host"])
def test_names_of_a_real_rust_binary_read_as_nm_demangles_them(target: str) -> None:
    path = str(build_for(target, "rayon").path)
    raw, readable = nm_names(path, demangled=False), nm_names(path, demangled=True)
    assert len(raw) == len(readable) > 100
    mangled = [(r, d) for r, d in zip(raw, readable, strict=True) if looks_mangled(r)]
    assert len(mangled) > 100  # a Rust binary: most of its symbols are mangled
    ours = demangle_all(r for r, _ in mangled)
    wrong = [(r, ours[r], d) for r, d in mangled if ours[r] != RUST_HASH.sub("", d)]
    assert not wrong, wrong[:5]
    assert any(ours[r].startswith("bpe_encode::") for r, _ in mangled)
    assert not [ours[r] for r, _ in mangled if RUST_HASH.search(ours[r])]  # hashes dropped


def test_what_is_not_mangled_is_kept() -> None:
    names = ["__aarch64_ldadd8_acq_rel", "main", "[unknown]", "_Znot-a-name", "guest-0x4000"]
    assert demangle_all(names) == {n: n for n in names}
    assert demangle("_ZN3foo3barE.llvm.1234") == "foo::bar"  # LTO suffix dropped first
