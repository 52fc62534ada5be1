"""Vectorized decoding of the aarch64 instructions that matter for atomics.

A text section is viewed as a numpy ``uint32`` array and classified with masks
and compares over the whole array at once: LSE atomics (CAS, CASP, SWP, LD<op>
and their ST<op> aliases), exclusive loads/stores (LDXR/STXR and friends), the
direct branches ``b``/``bl`` with their targets, and the libgcc / compiler-rt
outline-atomic helper fingerprint used to find helpers in stripped files.

The encodings follow the Arm ARM ("Load/store exclusive" and "Atomic memory
operations" classes). Reserved field values are treated the way GNU objdump
treats them, so counts here and in ``objdump -d`` agree: exclusives ignore their
should-be-one Rs/Rt2 fields, CAS/CASP require Rt2 == 0b11111, and the
atomic-memory-operation class only accepts the allocated o3/opc combinations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]

# Op codes of LSE hits: index into LSE_OPS. LD<op> keeps the order of the 3-bit
# opc field so that `LDOP_BASE + opc` is its code.
LSE_OPS = (
    "cas",
    "casp",
    "swp",
    "ldadd",
    "ldclr",
    "ldeor",
    "ldset",
    "ldsmax",
    "ldsmin",
    "ldumax",
    "ldumin",
)
OP_CAS, OP_CASP, OP_SWP, LDOP_BASE = 0, 1, 2, 3

# Exclusive families: index = 4 * pair + 2 * is_store + ordered, where ordered
# is the acquire bit of a load or the release bit of a store.
EXCL_OPS = ("ldxr", "ldaxr", "stxr", "stlxr", "ldxp", "ldaxp", "stxp", "stlxp")

# Memory orders, indexed by acquire + 2 * release (the helper suffixes).
ORDERS = ("relax", "acq", "rel", "acq_rel")

# --- encodings -------------------------------------------------------------
# CAS{A,L,AL}{B,H}: size 001000 1 L 1 Rs o0 11111 Rn Rt
CAS_MASK, CAS_VALUE = 0x3FA07C00, 0x08A07C00
# CASP{A,L,AL}: 0 sz 001000 0 L 1 Rs o0 11111 Rn Rt
CASP_MASK, CASP_VALUE = 0xBFA07C00, 0x08207C00
# Atomic memory operations: size 111 0 00 A R 1 Rs o3 opc 00 Rn Rt
AMO_MASK, AMO_VALUE = 0x3F200C00, 0x38200000
# Exclusive single register: size 001000 0 L 0 Rs o0 Rt2 Rn Rt
EXCL_MASK, EXCL_VALUE = 0x3FA00000, 0x08000000
# Exclusive pair: 1 sz 001000 0 L 1 Rs o0 Rt2 Rn Rt
EXCLP_MASK, EXCLP_VALUE = 0xBFA00000, 0x88200000
# B / BL imm26
BRANCH_MASK, B_VALUE, BL_VALUE = 0xFC000000, 0x14000000, 0x94000000

# Helper fingerprint pieces (lse.S: JUMP_IF_NOT_LSE, one LSE insn, ret).
BTI_C = 0xD503245F
RET = 0xD65F03C0
DMB_ISH = 0xD5033BBF
ADRP_MASK, ADRP_VALUE = 0x9F000000, 0x90000000
LDRB_IMM_MASK, LDRB_IMM_VALUE = 0xFFC00000, 0x39400000  # ldrb wT, [xN, #imm12]
CBZ_W_MASK, CBZ_W_VALUE = 0xFF000000, 0x34000000  # cbz wT, label


def as_words(data: bytes) -> U32:
    """The section's bytes as little-endian 32-bit words (a trailing partial word is dropped)."""
    usable = len(data) - len(data) % 4
    return np.frombuffer(data, dtype="<u4", count=usable // 4).astype(np.uint32, copy=False)


def _bit(words: U32, n: int) -> BoolArr:
    return ((words >> np.uint32(n)) & np.uint32(1)).astype(np.bool_)


def _field(words: U32, lo: int, width: int) -> U32:
    return (words >> np.uint32(lo)) & np.uint32((1 << width) - 1)


@dataclass(frozen=True)
class LseHits:
    """LSE atomics in a word array; every array is indexed like `index`."""

    index: I64  # word index in the section
    op: npt.NDArray[np.uint8]  # into LSE_OPS
    size: npt.NDArray[np.uint8]  # bytes accessed (CASP: both registers)
    acquire: BoolArr
    release: BoolArr
    st_alias: BoolArr  # LD<op> with Rt == zr and no acquire: objdump says ST<op>

    def order(self) -> npt.NDArray[np.uint8]:
        return (self.acquire.astype(np.uint8) + 2 * self.release.astype(np.uint8)).astype(np.uint8)


@dataclass(frozen=True)
class ExclusiveHits:
    """Exclusive loads/stores; `op` indexes EXCL_OPS."""

    index: I64
    op: npt.NDArray[np.uint8]
    size: npt.NDArray[np.uint8]

    @property
    def is_load(self) -> BoolArr:
        result: BoolArr = (self.op & np.uint8(2)) == 0
        return result


def find_lse(words: U32) -> LseHits:
    """All LSE atomic instructions (CAS*, CASP*, SWP*, LD<op>*, ST<op>*)."""
    is_cas = (words & np.uint32(CAS_MASK)) == np.uint32(CAS_VALUE)
    is_casp = (words & np.uint32(CASP_MASK)) == np.uint32(CASP_VALUE)
    is_amo = (words & np.uint32(AMO_MASK)) == np.uint32(AMO_VALUE)
    idx = np.flatnonzero(is_cas | is_casp | is_amo).astype(np.int64)
    # In the AMO class o3 == 1 is SWP only with opc == 0; the rest is LDAPR,
    # LD64B and friends, or unallocated. Filtered on the (few) hits only.
    w = words[idx]
    o3, opc = _bit(w, 15), _field(w, 12, 3)
    idx = idx[~is_amo[idx] | ~o3 | (opc == 0)]

    w = words[idx]
    cas, casp = is_cas[idx], is_casp[idx]
    amo = ~(cas | casp)
    o3, opc = _bit(w, 15), _field(w, 12, 3)
    op = np.where(
        cas, OP_CAS, np.where(casp, OP_CASP, np.where(o3, OP_SWP, LDOP_BASE + opc.astype(np.int64)))
    ).astype(np.uint8)
    size_field = _field(w, 30, 2).astype(np.uint8)
    size = np.where(casp, np.where(_bit(w, 30), 16, 8), np.left_shift(1, size_field)).astype(
        np.uint8
    )
    # CAS/CASP: L (bit 22) acquires, o0 (bit 15) releases; AMO: A (23), R (22).
    acquire = np.where(amo, _bit(w, 23), _bit(w, 22))
    release = np.where(amo, _bit(w, 22), _bit(w, 15))
    st_alias = amo & ~o3 & ~acquire & (_field(w, 0, 5) == 31)
    return LseHits(idx, op, size, acquire, release, st_alias)


def find_exclusives(words: U32) -> ExclusiveHits:
    """Exclusive loads and stores (LDXR, LDAXR, STXR, STLXR, their B/H and pair forms)."""
    single = (words & np.uint32(EXCL_MASK)) == np.uint32(EXCL_VALUE)
    pair = (words & np.uint32(EXCLP_MASK)) == np.uint32(EXCLP_VALUE)
    idx = np.flatnonzero(single | pair).astype(np.int64)
    w = words[idx]
    is_pair = pair[idx]
    is_store = ~_bit(w, 22)
    ordered = _bit(w, 15)
    op = (
        4 * is_pair.astype(np.uint8) + 2 * is_store.astype(np.uint8) + ordered.astype(np.uint8)
    ).astype(np.uint8)
    size = np.where(
        is_pair, np.where(_bit(w, 30), 16, 8), np.left_shift(1, _field(w, 30, 2).astype(np.uint8))
    ).astype(np.uint8)
    return ExclusiveHits(idx, op, size)


@dataclass(frozen=True)
class Branches:
    """Direct branches: word index, absolute target, and whether it links (bl)."""

    index: I64
    target: npt.NDArray[np.uint64]
    link: BoolArr


def find_branches(words: U32, base: int) -> Branches:
    """Every `b` and `bl` with its target (imm26, sign-extended, times 4)."""
    top = words & np.uint32(BRANCH_MASK)
    is_bl = top == np.uint32(BL_VALUE)
    idx = np.flatnonzero(is_bl | (top == np.uint32(B_VALUE))).astype(np.int64)
    imm = (words[idx] & np.uint32(0x03FFFFFF)).astype(np.int64)
    imm -= (imm & 0x02000000) << 1
    target = (np.int64(base) + idx * 4 + imm * 4).astype(np.uint64)
    return Branches(idx, target, is_bl[idx])


@dataclass(frozen=True)
class HelperFingerprints:
    """Outline-atomic helpers found by their code shape; arrays indexed alike.

    `start`/`end` are word indices (end exclusive); `lse` indexes into the
    LseHits given to :func:`find_helper_fingerprints`; `flag_address` is the
    byte each helper tests (`__aarch64_have_lse_atomics`).
    """

    start: I64
    end: I64
    lse: I64
    flag_address: npt.NDArray[np.uint64]
    sync: BoolArr  # the LL/SC path ends in `dmb ish`: a `_sync` helper


def _sign_extend(values: I64, bits: int) -> I64:
    return values - ((values & (1 << (bits - 1))) << 1)


def find_helper_fingerprints(words: U32, base: int, lse: LseHits) -> HelperFingerprints:
    """Helpers shaped like lse.S: [bti c] adrp xT; ldrb wT,[xT,#lo]; cbz wT,llsc; <LSE>; ret.

    Checked only at the LSE hits (a few hundred), so this costs next to nothing;
    the register is any one (libgcc uses x16) but must be the same in all three.
    """
    n = words.size
    cand = np.flatnonzero((lse.index >= 3) & (lse.index + 1 < n) & ~lse.st_alias)
    i = lse.index[cand]
    adrp, ldrb, cbz, after = words[i - 3], words[i - 2], words[i - 1], words[i + 1]
    reg = _field(adrp, 0, 5)
    ok = (adrp & np.uint32(ADRP_MASK)) == np.uint32(ADRP_VALUE)
    ok &= (ldrb & np.uint32(LDRB_IMM_MASK)) == np.uint32(LDRB_IMM_VALUE)
    ok &= (_field(ldrb, 0, 5) == reg) & (_field(ldrb, 5, 5) == reg)
    ok &= (cbz & np.uint32(CBZ_W_MASK)) == np.uint32(CBZ_W_VALUE)
    ok &= _field(cbz, 0, 5) == reg
    ok &= after == np.uint32(RET)
    # The LL/SC fallback starts right after that `ret`.
    llsc = (i - 1) + _sign_extend(_field(cbz, 5, 19).astype(np.int64), 19)
    ok &= llsc == i + 2
    cand, i, adrp, ldrb, llsc = cand[ok], i[ok], adrp[ok], ldrb[ok], llsc[ok]

    has_bti = words[np.maximum(i - 4, 0)] == np.uint32(BTI_C)
    start = np.where(has_bti & (i >= 4), i - 4, i - 3)

    # The helper ends at the first `ret` of its fallback loop.
    rets = np.flatnonzero(words == np.uint32(RET)).astype(np.int64)
    if rets.size:
        nxt = rets[np.minimum(np.searchsorted(rets, llsc), rets.size - 1)]
        end = np.where(nxt >= llsc, nxt + 1, llsc)
    else:
        end = llsc
    dmbs = np.flatnonzero(words == np.uint32(DMB_ISH)).astype(np.int64)
    sync = np.searchsorted(dmbs, end) > np.searchsorted(dmbs, llsc)

    # adrp: page of (pc & ~0xfff) + (immhi:immlo << 12); ldrb adds imm12.
    pc = np.int64(base) + (i - 3) * 4
    immlo = _field(adrp, 29, 2).astype(np.int64)
    immhi = _field(adrp, 5, 19).astype(np.int64)
    page = (pc & ~np.int64(0xFFF)) + (_sign_extend((immhi << 2) | immlo, 21) << 12)
    flag = (page + _field(ldrb, 10, 12).astype(np.int64)).astype(np.uint64)
    return HelperFingerprints(start.astype(np.int64), end.astype(np.int64), cand, flag, sync)


def lse_mnemonic(op: int, size: int, acquire: bool, release: bool, st_alias: bool) -> str:
    """The objdump mnemonic of one LSE instruction, e.g. `casalh`, `stsminlb`, `caspa`."""
    name = LSE_OPS[op]
    suffix = "b" if size == 1 else "h" if size == 2 else ""
    if op == OP_CASP:
        suffix = ""
    if st_alias:
        return "st" + name[2:] + ("l" if release else "") + suffix
    return name + ("a" if acquire else "") + ("l" if release else "") + suffix


def exclusive_mnemonic(op: int, size: int) -> str:
    """The objdump mnemonic of one exclusive access, e.g. `ldaxrb`, `stlxp`."""
    name = EXCL_OPS[op]
    if name.endswith("r") and size in (1, 2):
        return name + ("b" if size == 1 else "h")
    return name
