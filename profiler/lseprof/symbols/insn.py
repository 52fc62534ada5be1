"""Classify one machine instruction as an atomic (stable API for sample classifiers).

``classify_instruction("aarch64", code, address)`` answers "is the instruction
at this sample address an atomic, and which one?". aarch64 goes through the
same bit-pattern tables as the vectorized section decoder
(:mod:`lseprof.symbols.aarch64_decode`), so a single word and a whole section can never
disagree; x86 goes through capstone, since its variable-length encoding is not
worth re-implementing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from lseprof.symbols import aarch64_decode as a64

FAMILIES = ("lse", "exclusive_load", "exclusive_store", "x86_lock", "x86_xchg")

_AARCH64 = {"aarch64", "arm64"}
_X86_64 = {"x86_64", "x86-64", "amd64"}
_X86_32 = {"i386", "x86"}
_X86_PREFIX_LOCK = 0xF0


@dataclass(frozen=True)
class InsnClass:
    """An atomic instruction.

    family: "lse", "exclusive_load", "exclusive_store", "x86_lock" or "x86_xchg".
    mnemonic: as objdump/capstone print it ("ldaddal", "stlxrb", "lock cmpxchg").
    op: the operation without order/size decoration ("ldadd", "cas", "ldaxr",
        "cmpxchg"); ST<op> aliases report their LD<op> ("stadd" -> "ldadd").
    size: bytes accessed (CASP and exclusive pairs: both registers), None if unknown.
    order: "relax", "acq", "rel" or "acq_rel" on aarch64; None on x86 (always
        sequentially consistent there).
    """

    family: str
    mnemonic: str
    op: str | None
    size: int | None
    order: str | None


def classify_instruction(arch: str, code: bytes, address: int) -> InsnClass | None:
    """The atomic instruction at the start of `code`, or None for anything else.

    `arch` is an ElfImage arch name ("aarch64", "x86_64", "i386"; "arm64" and
    "amd64" are accepted too). Unknown architectures and undecodable or too
    short `code` give None: a sample classifier must not fail on odd input.
    `address` is the instruction's address; no answer depends on it (kept so
    that callers need not change if one ever does).
    """
    key = arch.lower()
    # Results depend only on the instruction bytes (never on `address`), and
    # profiles hit the same few instructions over and over: cache per encoding.
    if key in _AARCH64:
        return _classify_aarch64(bytes(code[:4]))
    if key in _X86_64:
        return _classify_x86(bytes(code[:15]), 64)
    if key in _X86_32:
        return _classify_x86(bytes(code[:15]), 32)
    return None


@lru_cache(maxsize=1 << 16)
def _classify_aarch64(code: bytes) -> InsnClass | None:
    if len(code) < 4:
        return None
    words = a64.as_words(code)
    lse = a64.find_lse(words)
    if lse.index.size:
        op, size = int(lse.op[0]), int(lse.size[0])
        acq, rel, st = bool(lse.acquire[0]), bool(lse.release[0]), bool(lse.st_alias[0])
        return InsnClass(
            "lse",
            a64.lse_mnemonic(op, size, acq, rel, st),
            a64.LSE_OPS[op],
            size,
            a64.ORDERS[int(lse.order()[0])],
        )
    excl = a64.find_exclusives(words)
    if excl.index.size:
        op, size = int(excl.op[0]), int(excl.size[0])
        name = a64.EXCL_OPS[op]
        ordered = bool(op & 1)
        is_load = not op & 2
        order = ("acq" if is_load else "rel") if ordered else "relax"
        family = "exclusive_load" if is_load else "exclusive_store"
        return InsnClass(family, a64.exclusive_mnemonic(op, size), name, size, order)
    return None


@cache
def _capstone(bits: int) -> Any:
    import capstone

    mode = capstone.CS_MODE_64 if bits == 64 else capstone.CS_MODE_32
    md = capstone.Cs(capstone.CS_ARCH_X86, mode)
    md.detail = True
    return md


@lru_cache(maxsize=1 << 16)
def _classify_x86(code: bytes, bits: int) -> InsnClass | None:
    from capstone import x86

    insn = next(iter(_capstone(bits).disasm(code, 0, 1)), None)
    if insn is None:
        return None
    mem_sizes = [op.size for op in insn.operands if op.type == x86.X86_OP_MEM]
    size = int(mem_sizes[0]) if mem_sizes else None
    # capstone spells the prefix into the mnemonic ("lock cmpxchg").
    op = str(insn.mnemonic).split()[-1]
    if _X86_PREFIX_LOCK in insn.prefix:
        return InsnClass("x86_lock", str(insn.mnemonic), op, size, None)
    if insn.id == x86.X86_INS_XCHG and mem_sizes:
        return InsnClass("x86_xchg", str(insn.mnemonic), op, size, None)
    return None
