"""`inspect` on real third-party aarch64 shared objects (manylinux wheels from PyPI).

`make test` runs scripts/fetch_elf_fixtures.py first; run alone, these tests
skip when data/elf-fixtures/ has not been fetched.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lseprof import Inventory, inspect
from lseprof.symbols.atomic_names import parse_helper
from tests.helpers import REPO, missing_tool
from tests.inspect_objdump import EXCLUSIVE, LSE, LSE_ST, aarch64_listing

FIXTURES = REPO / "data" / "elf-fixtures"
MANIFEST = FIXTURES / "manifest.json"


def _fixture(role: str) -> Path:
    if not MANIFEST.is_file():
        missing_tool("ELF fixtures", "make fixtures downloads the pinned wheels")
    for entry in json.loads(MANIFEST.read_text()):
        if entry["role"] == role:
            path = FIXTURES / str(entry["path"])
            if path.is_file():
                return path
    missing_tool(f"ELF fixture {role!r}", "make fixtures fetches it")


@pytest.fixture(scope="module")
def symbols_so() -> Path:
    return _fixture("symbols")


@pytest.fixture(scope="module")
def stripped_so() -> Path:
    return _fixture("stripped")


@pytest.fixture(scope="module")
def large_so() -> Path:
    return _fixture("large")


def test_helpers_by_symbol(symbols_so: Path) -> None:
    inv = inspect(symbols_so)
    assert not inv.stripped and inv.has_lse_flag
    assert len(inv.helpers) >= 10
    for h in inv.helpers:
        assert h.found_by == "symbol"
        parsed = parse_helper(h.symbol)
        assert parsed is not None and (parsed.op, parsed.size, parsed.order) == (
            h.op,
            h.size,
            h.order,
        )
    assert inv.verdict.startswith(f"outline atomics: {len(inv.helpers)} helpers")
    assert inv.callers and all(c.function != "?" for c in inv.callers)


def test_helpers_by_fingerprint(stripped_so: Path) -> None:
    inv = inspect(stripped_so)
    assert inv.stripped and inv.has_lse_flag
    assert len(inv.helpers) >= 10
    assert all(h.found_by == "fingerprint" for h in inv.helpers)
    assert inv.call_sites_total > 0
    # The name given to each helper must agree with the LSE instruction that
    # objdump shows inside it (suffixes: a = acquire, l = release; b/h = size).
    listing = aarch64_listing(stripped_so)
    for h in inv.helpers:
        inside = [
            m
            for a, m, _ in listing.insns
            if h.address <= a < h.address + h.size_bytes and LSE.match(m)
        ]
        assert len(inside) == 1, h.symbol
        m = re.match(r"^(casp|cas|swp|ldadd|ldclr|ldeor|ldset)(a?)(l?)([bh]?)$", inside[0])
        assert m is not None
        op = "cas" if m[1] == "casp" else m[1]
        order = {("", ""): "relax", ("a", ""): "acq", ("", "l"): "rel", ("a", "l"): "acq_rel"}[
            (m[2], m[3])
        ]
        assert (h.op, h.order if h.order != "sync" else "acq_rel") == (op, order)
        if m[4]:
            assert h.size == {"b": 1, "h": 2}[m[4]]


def test_symbol_and_fingerprint_agree_on_a_stripped_copy(symbols_so: Path, tmp_path: Path) -> None:
    strip = shutil.which("aarch64-linux-gnu-strip")
    if strip is None:
        missing_tool("aarch64-linux-gnu-strip")
    copy = tmp_path / "stripped.so"
    subprocess.run([strip, "-o", str(copy), str(symbols_so)], check=True)
    full, bare = inspect(symbols_so), inspect(copy)
    assert bare.stripped

    def key(inv: Inventory) -> list[tuple[str, str, int, str, int, int]]:
        return [(h.symbol, h.op, h.size, h.order, h.address, h.call_sites) for h in inv.helpers]

    assert key(bare) == key(full)
    assert {h.found_by for h in bare.helpers} == {"fingerprint"}
    assert bare.inline_lse == full.inline_lse and bare.exclusives == full.exclusives


@pytest.mark.parametrize("role", ["symbols", "stripped", "large"])
def test_cross_check_with_objdump(role: str) -> None:
    path = _fixture(role)
    inv = inspect(path)
    listing = aarch64_listing(path)
    if inv.stripped:
        ranges = [(h.address, h.address + h.size_bytes) for h in inv.helpers]
    else:
        ranges = [(s, e) for s, e, _ in listing.helper_ranges()]
        assert sorted(h.symbol for h in inv.helpers) == sorted(
            n for _, _, n in listing.helper_ranges()
        )
    targets = listing.branch_targets()
    assert {h.address: h.call_sites for h in inv.helpers} == {
        h.address: targets[h.address] for h in inv.helpers
    }
    assert inv.call_sites_total == sum(targets[h.address] for h in inv.helpers)
    lse = listing.counts_outside(LSE, ranges) + listing.counts_outside(LSE_ST, ranges)
    assert inv.inline_lse_mnemonics == dict(lse)
    assert inv.exclusive_mnemonics == dict(listing.counts_outside(EXCLUSIVE, ranges))


def test_large_object_is_fast(large_so: Path) -> None:
    assert large_so.stat().st_size > 8_000_000
    start = time.perf_counter()
    inv = inspect(large_so)
    elapsed = time.perf_counter() - start
    assert inv.call_sites_total > 1000
    assert elapsed < 5.0, f"inspect took {elapsed:.2f} s on {large_so.name}"
