"""`lseprof inspect`: what atomics does an ELF file contain, and how will they run?

For aarch64 the questions are: does it call outline-atomic helpers (and from
where), does it contain inline LSE (so it needs ARMv8.1), or only LL/SC
exclusives (so it never uses LSE)? Helpers are found by name in the symbol
table, or by their code shape when the file is stripped. For x86_64 the
inventory is the count of lock-prefixed instructions and memory xchg.

Everything here is vectorized over the text (see aarch64_decode / x86_decode);
Python loops run only over symbols, helpers and call sites.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lseprof.errors import LseprofError
from lseprof.symbols import aarch64_decode as a64
from lseprof.symbols.atomic_names import LSE_FLAG_SYMBOL, OPS, helper_symbol, parse_helper
from lseprof.symbols.elf import ElfImage, SymbolTable
from lseprof.symbols.x86_decode import X86Atomics, count_section

SUPPORTED_ARCHES = ("aarch64", "x86_64")
UNKNOWN_CALLER = "?"


@dataclass(frozen=True)
class Helper:
    """One outline-atomic helper and how often the code branches to it."""

    symbol: str
    op: str
    size: int
    order: str
    address: int
    size_bytes: int
    call_sites: int
    found_by: str  # "symbol" or "fingerprint"


@dataclass(frozen=True)
class Caller:
    """A function that branches to helpers; "?" collects sites no symbol covers."""

    function: str
    call_sites: int


@dataclass
class Inventory:
    """The atomics of one ELF file. Counts are dicts sorted by count, largest first."""

    path: str
    arch: str
    build_id: str | None
    stripped: bool
    has_lse_flag: bool
    text_bytes: int
    helpers: list[Helper] = field(default_factory=list)
    call_sites_total: int = 0
    callers: list[Caller] = field(default_factory=list)  # every caller, most sites first
    inline_lse: dict[str, int] = field(default_factory=dict)  # by op: {"ldadd": 12}
    inline_lse_mnemonics: dict[str, int] = field(default_factory=dict)  # {"ldaddal": 7}
    exclusives: dict[str, int] = field(default_factory=dict)  # by op: {"ldaxr": 3}
    exclusive_mnemonics: dict[str, int] = field(default_factory=dict)  # {"ldaxrb": 1}
    x86_lock: int = 0
    x86_lock_ops: dict[str, int] = field(default_factory=dict)  # {"cmpxchg": 4}
    x86_xchg: int = 0
    verdict: str = ""

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """Plain JSON-ready data; `top` keeps only the N busiest callers."""
        data = asdict(self)
        if top is not None:
            data["callers"] = data["callers"][:top]
        return data


def inspect(path: str | Path) -> Inventory:
    """Inventory the atomics of the ELF file at `path`.

    Raises LseprofError for a missing file, a directory, something that is not
    an ELF file, a truncated one, or an architecture other than aarch64/x86_64.
    """
    image = ElfImage(Path(path))
    if image.arch not in SUPPORTED_ARCHES:
        raise LseprofError(
            f"{path}: unsupported architecture {image.arch}; "
            f"lseprof inspect reads {' and '.join(SUPPORTED_ARCHES)} ELF files"
        )
    inv = Inventory(
        path=str(path),
        arch=image.arch,
        build_id=image.build_id,
        stripped=image.stripped,
        has_lse_flag=False,
        text_bytes=sum(len(s.data) for s in image.code_sections),
    )
    if image.arch == "aarch64":
        _inspect_aarch64(image, inv)
    else:
        _inspect_x86_64(image, inv)
    inv.verdict = verdict(inv)
    return inv


# --- aarch64 ----------------------------------------------------------------


@dataclass
class _Decoded:
    """Whole-file decode results, as absolute addresses plus per-hit attributes."""

    lse_addr: list[npt.NDArray[np.uint64]] = field(default_factory=list)
    lse_names: list[str] = field(default_factory=list)
    lse_ops: list[str] = field(default_factory=list)
    excl_addr: list[npt.NDArray[np.uint64]] = field(default_factory=list)
    excl_names: list[str] = field(default_factory=list)
    excl_ops: list[str] = field(default_factory=list)
    branch_site: list[npt.NDArray[np.uint64]] = field(default_factory=list)
    branch_target: list[npt.NDArray[np.uint64]] = field(default_factory=list)
    fingerprints: list[Helper] = field(default_factory=list)
    flag_addresses: set[int] = field(default_factory=set)


def _decode_aarch64(image: ElfImage) -> _Decoded:
    out = _Decoded()
    for section in image.code_sections:
        base = section.address
        words = a64.as_words(section.data)
        lse = a64.find_lse(words)
        excl = a64.find_exclusives(words)
        branches = a64.find_branches(words, base)
        prints = a64.find_helper_fingerprints(words, base, lse)

        out.lse_addr.append(np.uint64(base) + lse.index.astype(np.uint64) * np.uint64(4))
        for op, size, acq, rel, st in zip(
            lse.op.tolist(),
            lse.size.tolist(),
            lse.acquire.tolist(),
            lse.release.tolist(),
            lse.st_alias.tolist(),
            strict=True,
        ):
            out.lse_names.append(a64.lse_mnemonic(op, size, acq, rel, st))
            out.lse_ops.append(a64.LSE_OPS[op])
        out.excl_addr.append(np.uint64(base) + excl.index.astype(np.uint64) * np.uint64(4))
        for op, size in zip(excl.op.tolist(), excl.size.tolist(), strict=True):
            out.excl_names.append(a64.exclusive_mnemonic(op, size))
            out.excl_ops.append(a64.EXCL_OPS[op])
        out.branch_site.append(np.uint64(base) + branches.index.astype(np.uint64) * np.uint64(4))
        out.branch_target.append(branches.target)
        out.flag_addresses.update(prints.flag_address.tolist())

        order = lse.order()
        for start, end, hit, sync in zip(
            prints.start.tolist(),
            prints.end.tolist(),
            prints.lse.tolist(),
            prints.sync.tolist(),
            strict=True,
        ):
            op = a64.LSE_OPS[int(lse.op[hit])]
            op = "cas" if op == "casp" else op
            if op not in OPS:  # lse.S has no helper for ldsmax & co: not a helper
                continue
            size = int(lse.size[hit])
            order_name = "sync" if sync else a64.ORDERS[int(order[hit])]
            out.fingerprints.append(
                Helper(
                    helper_symbol(op, size, order_name),
                    op,
                    size,
                    order_name,
                    base + 4 * start,
                    4 * (end - start),
                    0,
                    "fingerprint",
                )
            )
    return out


def fingerprinted_helpers(image: ElfImage) -> list[Helper]:
    """Helpers found by code shape where no helper symbol is (stripped objects)."""
    if image.arch != "aarch64":
        return []
    known = {h.address for h in _symbol_helpers(image.symbols)}
    return [h for h in _decode_aarch64(image).fingerprints if h.address not in known]


def _symbol_helpers(symbols: SymbolTable) -> list[Helper]:
    helpers: dict[int, Helper] = {}
    for name, start, end in zip(
        symbols.names.tolist(), symbols.starts.tolist(), symbols.ends.tolist(), strict=True
    ):
        if not name.startswith("__aarch64_"):
            continue
        parsed = parse_helper(name)
        if parsed is not None and start not in helpers:
            helpers[start] = Helper(
                parsed.symbol, parsed.op, parsed.size, parsed.order, start, end - start, 0, "symbol"
            )
    return list(helpers.values())


def _outside(
    addresses: npt.NDArray[np.uint64], starts: npt.NDArray[np.uint64], ends: npt.NDArray[np.uint64]
) -> npt.NDArray[np.bool_]:
    """True where an address lies in none of the sorted, disjoint [start, end) ranges."""
    if starts.size == 0:
        return np.ones(addresses.shape, dtype=bool)
    idx = np.searchsorted(starts, addresses, side="right") - 1
    inside = (idx >= 0) & (addresses < ends[np.maximum(idx, 0)])
    result: npt.NDArray[np.bool_] = ~inside
    return result


def _counts(names: list[str], keep: npt.NDArray[np.bool_]) -> dict[str, int]:
    counts = Counter(n for n, k in zip(names, keep.tolist(), strict=True) if k)
    return dict(counts.most_common())


def _inspect_aarch64(image: ElfImage, inv: Inventory) -> None:
    dec = _decode_aarch64(image)
    helpers = _symbol_helpers(image.symbols)
    known = {h.address for h in helpers}
    # A fingerprint where no helper symbol is: a stripped file (or a partly stripped one).
    helpers += [h for h in dec.fingerprints if h.address not in known]
    helpers.sort(key=lambda h: h.address)

    starts = np.array([h.address for h in helpers], dtype=np.uint64)
    ends = np.array([h.address + max(h.size_bytes, 4) for h in helpers], dtype=np.uint64)

    lse_addr = np.concatenate(dec.lse_addr) if dec.lse_addr else np.zeros(0, np.uint64)
    keep = _outside(lse_addr, starts, ends)
    inv.inline_lse = _counts(dec.lse_ops, keep)
    inv.inline_lse_mnemonics = _counts(dec.lse_names, keep)
    excl_addr = np.concatenate(dec.excl_addr) if dec.excl_addr else np.zeros(0, np.uint64)
    keep = _outside(excl_addr, starts, ends)
    inv.exclusives = _counts(dec.excl_ops, keep)
    inv.exclusive_mnemonics = _counts(dec.excl_names, keep)

    sites = np.concatenate(dec.branch_site) if dec.branch_site else np.zeros(0, np.uint64)
    targets = np.concatenate(dec.branch_target) if dec.branch_target else np.zeros(0, np.uint64)
    to_helper = np.isin(targets, starts) & _outside(sites, starts, ends)
    called, counts = np.unique(targets[to_helper], return_counts=True)
    per_helper = dict(zip(called.tolist(), counts.tolist(), strict=True))
    inv.helpers = [
        Helper(
            h.symbol,
            h.op,
            h.size,
            h.order,
            h.address,
            h.size_bytes,
            int(per_helper.get(h.address, 0)),
            h.found_by,
        )
        for h in helpers
    ]
    inv.call_sites_total = int(to_helper.sum())
    inv.callers = _callers(image.symbols, sites[to_helper])
    inv.has_lse_flag = image.has_symbol(LSE_FLAG_SYMBOL) or bool(dec.flag_addresses)


def _callers(symbols: SymbolTable, sites: npt.NDArray[np.uint64]) -> list[Caller]:
    names, _ = symbols.lookup(sites)
    counts = Counter(UNKNOWN_CALLER if n is None else str(n) for n in names.tolist())
    return [Caller(name, n) for name, n in counts.most_common()]


# --- x86_64 -----------------------------------------------------------------


def _inspect_x86_64(image: ElfImage, inv: Inventory) -> None:
    total = X86Atomics()
    for section in image.code_sections:
        total.add(count_section(section.data, section.address, image.symbols, bits=64))
    inv.x86_lock = total.lock
    inv.x86_xchg = total.xchg
    inv.x86_lock_ops = dict(total.lock_ops.most_common())


# --- verdict ----------------------------------------------------------------


def verdict(inv: Inventory) -> str:
    """One line: how this file's atomics will execute."""
    if inv.arch == "x86_64":
        if inv.x86_lock == 0 and inv.x86_xchg == 0:
            return "x86_64: no lock-prefixed instructions or memory xchg"
        return (
            f"x86_64: {inv.x86_lock} lock-prefixed instructions, "
            f"{inv.x86_xchg} xchg with memory (always atomic, no LSE question)"
        )
    n_inline = sum(inv.inline_lse.values())
    n_excl = sum(inv.exclusives.values())
    if inv.helpers:
        line = f"outline atomics: {len(inv.helpers)} helpers, {inv.call_sites_total} call sites; "
        line += f"also {n_inline} inline LSE" if n_inline else "no inline LSE"
        if n_excl:
            line += f", {n_excl} LL/SC exclusives outside helpers"
        return line
    if n_inline:
        line = "inline LSE (built for >= armv8.1)"
        if n_excl:
            line += f"; also {n_excl} LL/SC exclusives"
        return line
    if n_excl:
        return "LL/SC only: will not use LSE on any CPU"
    return "no atomic instructions found"
