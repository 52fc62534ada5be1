"""`inspect` on programs built here with gcc: the three aarch64 code shapes and x86_64.

GCC 12 emits outline atomics by default on aarch64, inline LSE with
-march=armv8.1-a and LL/SC loops with -mno-outline-atomics. Every count is
cross-checked against `objdump -d` of the same file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lseprof import Inventory, inspect
from tests.helpers import missing_tool
from tests.inspect_objdump import EXCLUSIVE, LSE, LSE_ST, aarch64_listing, x86_counts

SOURCE = r"""
#include <stdint.h>
uint8_t b; uint16_t h; uint32_t w; uint64_t d; __int128 q;
__attribute__((noinline)) int inc_all(void) {
  __atomic_fetch_add(&b, 1, __ATOMIC_RELAXED);
  __atomic_fetch_or(&h, 2, __ATOMIC_ACQUIRE);
  __atomic_fetch_and(&w, 3, __ATOMIC_RELEASE);
  __atomic_fetch_xor(&d, 4, __ATOMIC_ACQ_REL);
  __atomic_fetch_add(&d, 5, __ATOMIC_SEQ_CST);
  return (int)__atomic_exchange_n(&w, 7, __ATOMIC_SEQ_CST);
}
__attribute__((noinline)) int cas_all(void) {
  uint32_t e = 0; uint64_t f = 0;
  int r = __atomic_compare_exchange_n(&w, &e, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
  r += __atomic_compare_exchange_n(&d, &f, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  r += (int)__sync_val_compare_and_swap(&q, (__int128)0, (__int128)1);
  r += (int)__sync_fetch_and_add(&w, 1);
  __atomic_store_n(&d, 9, __ATOMIC_SEQ_CST);
  return r;
}
int main(void) { return inc_all() + cas_all(); }
"""

PLAIN = "int main(void) { return 0; }\n"

A64_VARIANTS = {"outline": [], "lse": ["-march=armv8.1-a"], "llsc": ["-mno-outline-atomics"]}


def _compile(compiler: str, flags: list[str], source: str, out: Path) -> Path:
    tool = shutil.which(compiler)
    if tool is None:
        missing_tool(compiler)
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run([tool, "-O2", *flags, str(src), "-o", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def a64(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("a64")
    built = {
        name: _compile("aarch64-linux-gnu-gcc", flags, SOURCE, root / name)
        for name, flags in A64_VARIANTS.items()
    }
    built["plain"] = _compile("aarch64-linux-gnu-gcc", [], PLAIN, root / "plain")
    strip = shutil.which("aarch64-linux-gnu-strip")
    if strip:
        built["outline-stripped"] = root / "outline-stripped"
        subprocess.run(
            [strip, "-o", str(built["outline-stripped"]), str(built["outline"])], check=True
        )
    return built


def test_three_verdicts(a64: dict[str, Path]) -> None:
    outline = inspect(a64["outline"])
    assert outline.verdict == "outline atomics: 10 helpers, 10 call sites; no inline LSE"
    assert inspect(a64["lse"]).verdict == "inline LSE (built for >= armv8.1)"
    assert inspect(a64["llsc"]).verdict == "LL/SC only: will not use LSE on any CPU"
    assert inspect(a64["plain"]).verdict == "no atomic instructions found"


def test_outline_helpers_and_callers(a64: dict[str, Path]) -> None:
    inv = inspect(a64["outline"])
    assert inv.arch == "aarch64" and not inv.stripped and inv.has_lse_flag
    assert inv.build_id and len(inv.build_id) == 40
    # What GCC 12 asks libgcc for: SEQ_CST maps to acq_rel, __sync_* to sync.
    assert {h.symbol: h.call_sites for h in inv.helpers} == {
        "__aarch64_ldadd1_relax": 1,
        "__aarch64_ldset2_acq": 1,
        "__aarch64_ldclr4_rel": 1,
        "__aarch64_ldeor8_acq_rel": 1,
        "__aarch64_ldadd8_acq_rel": 1,
        "__aarch64_swp4_acq_rel": 1,
        "__aarch64_cas4_acq": 1,
        "__aarch64_cas8_acq_rel": 1,
        "__aarch64_cas16_sync": 1,
        "__aarch64_ldadd4_sync": 1,
    }
    assert all(h.found_by == "symbol" for h in inv.helpers)
    assert [(c.function, c.call_sites) for c in inv.callers] == [("inc_all", 6), ("cas_all", 4)]
    # The seq_cst store is a plain stlr: neither LSE nor exclusive.
    assert inv.inline_lse == {} and inv.exclusives == {}


def test_stripped_copy_finds_the_same_helpers(a64: dict[str, Path]) -> None:
    if "outline-stripped" not in a64:
        missing_tool("aarch64-linux-gnu-strip")
    full, stripped = inspect(a64["outline"]), inspect(a64["outline-stripped"])
    assert stripped.stripped and stripped.has_lse_flag
    assert all(h.found_by == "fingerprint" for h in stripped.helpers)

    def key(inv: Inventory) -> list[tuple[str, str, int, str, int, int]]:
        return [(h.symbol, h.op, h.size, h.order, h.address, h.call_sites) for h in inv.helpers]

    assert key(stripped) == key(full)  # including the `_sync` ones (told apart by dmb ish)
    assert stripped.verdict == full.verdict
    assert {c.function for c in stripped.callers} == {"?"}


@pytest.mark.parametrize("variant", ["outline", "lse", "llsc", "outline-stripped", "plain"])
def test_cross_check_with_objdump(a64: dict[str, Path], variant: str) -> None:
    if variant not in a64:
        missing_tool("aarch64-linux-gnu-strip")
    inv = inspect(a64[variant])
    listing = aarch64_listing(a64[variant])
    if inv.stripped:
        ranges = [(h.address, h.address + h.size_bytes) for h in inv.helpers]
    else:
        ranges = [(s, e) for s, e, _ in listing.helper_ranges()]
        assert sorted(h.symbol for h in inv.helpers) == sorted(
            n for _, _, n in listing.helper_ranges()
        )
    targets = listing.branch_targets()
    for h in inv.helpers:
        assert h.call_sites == targets[h.address], h.symbol
    assert inv.call_sites_total == sum(targets[h.address] for h in inv.helpers)
    lse = listing.counts_outside(LSE, ranges) + listing.counts_outside(LSE_ST, ranges)
    assert inv.inline_lse_mnemonics == dict(lse)
    assert inv.exclusive_mnemonics == dict(listing.counts_outside(EXCLUSIVE, ranges))


def test_inline_lse_families(a64: dict[str, Path]) -> None:
    inv = inspect(a64["lse"])
    assert inv.helpers == [] and inv.exclusives == {}
    assert inv.inline_lse == {
        "ldadd": 3,
        "cas": 2,
        "ldset": 1,
        "ldclr": 1,
        "ldeor": 1,
        "swp": 1,
        "casp": 1,
    }


def test_x86_64_lock_count_matches_objdump(tmp_path: Path) -> None:
    exe = _compile("gcc", ["-mcx16"], SOURCE, tmp_path / "x86")
    inv = inspect(exe)
    assert inv.arch == "x86_64"
    lock, xchg = x86_counts(exe)
    assert lock > 0
    assert (inv.x86_lock, inv.x86_xchg) == (lock, xchg)
    assert sum(inv.x86_lock_ops.values()) == inv.x86_lock
    assert inv.verdict.startswith(f"x86_64: {lock} lock-prefixed instructions")
    assert inv.helpers == [] and inv.inline_lse == {}


def test_x86_64_system_library() -> None:
    libc = Path("/usr/lib/x86_64-linux-gnu/libc.so.6")
    if not libc.is_file():
        pytest.skip("no x86_64 glibc at /usr/lib/x86_64-linux-gnu/libc.so.6")
    inv = inspect(libc)
    assert (inv.x86_lock, inv.x86_xchg) == x86_counts(libc)
