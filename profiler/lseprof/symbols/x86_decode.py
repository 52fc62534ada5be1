"""Count x86 atomics (lock-prefixed instructions, xchg with memory) in a text section.

A linear capstone sweep of 10 MB takes several seconds in Python, so numpy
first finds the few byte offsets that could start or be inside such an
instruction (a 0xF0 byte, or 0x86/0x87 followed by a memory ModRM), and
capstone decodes only around them. x86 code cannot be decoded from an
arbitrary byte, so each candidate is decoded from the start of the function
symbol that holds it when that is at most 128 bytes back (a certain boundary,
where objdump also starts), else from 128 bytes back, relying on x86's quick
self-synchronization. On glibc and CPython this matches `objdump -d` exactly
(64 bytes did not: one spurious xchg), but it is a heuristic, not a proof.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from lseprof.symbols.elf import SymbolTable

_LOCK = 0xF0
_XCHG_OPCODES = (0x86, 0x87)
_MAX_INSN = 15
_RESYNC_BYTES = 128


@dataclass
class X86Atomics:
    """Counts for one or more sections; `lock_ops` by operation ("cmpxchg": 4)."""

    lock: int = 0
    xchg: int = 0
    lock_ops: Counter[str] = field(default_factory=Counter)
    addresses: list[int] = field(default_factory=list)  # of every counted instruction

    def add(self, other: X86Atomics) -> None:
        self.lock += other.lock
        self.xchg += other.xchg
        self.lock_ops.update(other.lock_ops)
        self.addresses.extend(other.addresses)


@cache
def _capstone(bits: int) -> Any:
    import capstone

    mode = capstone.CS_MODE_64 if bits == 64 else capstone.CS_MODE_32
    return capstone.Cs(capstone.CS_ARCH_X86, mode)


# Opcodes that accept a lock prefix (with a memory destination): the ALU group
# (add/or/adc/sbb/and/sub/xor r/m forms, 80/81/83), xchg, not/neg, inc/dec; and
# after 0x0F: cmpxchg, xadd, cmpxchg8b/16b, bts/btr/btc.
_LOCKABLE = np.zeros(256, dtype=bool)
_LOCKABLE[
    [
        0x00,
        0x01,
        0x08,
        0x09,
        0x10,
        0x11,
        0x18,
        0x19,
        0x20,
        0x21,
        0x28,
        0x29,
        0x30,
        0x31,
        0x80,
        0x81,
        0x83,
        0x86,
        0x87,
        0xF6,
        0xF7,
        0xFE,
        0xFF,
    ]
] = True
_LOCKABLE_0F = np.zeros(256, dtype=bool)
_LOCKABLE_0F[[0xB0, 0xB1, 0xC0, 0xC1, 0xC7, 0xAB, 0xB3, 0xBB, 0xBA]] = True
_LEGACY_PREFIX = np.zeros(256, dtype=bool)
_LEGACY_PREFIX[[0x66, 0x64, 0x65, 0x2E, 0x3E, 0x26, 0x36, 0xF2, 0xF3]] = True


def _memory_modrm(modrm: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    result: npt.NDArray[np.bool_] = (modrm >> 6) != 3
    return result


def candidate_offsets(data: bytes) -> npt.NDArray[np.int64]:
    """Offsets of bytes that may belong to a lock-prefixed or memory-xchg instruction.

    A 0xF0 byte counts only if what follows (one optional legacy prefix, an
    optional REX) is a lockable opcode with a memory ModRM; a 0x86/0x87 byte only
    if its ModRM names memory. Checked only where the first byte matches, so the
    whole pass is a few numpy operations over the section.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    pad = np.concatenate([raw, np.zeros(_MAX_INSN, dtype=np.uint8)])
    locks = np.flatnonzero(raw == _LOCK).astype(np.int64)
    skip = locks + 1
    skip += _LEGACY_PREFIX[pad[skip]]
    rex = pad[skip]
    skip += (rex >= 0x40) & (rex <= 0x4F)
    opcode, modrm = pad[skip], pad[skip + 1]
    lockable = _LOCKABLE[opcode] & _memory_modrm(modrm)
    lockable |= (opcode == 0x0F) & _LOCKABLE_0F[modrm] & _memory_modrm(pad[skip + 2])
    xchg = np.flatnonzero((raw == _XCHG_OPCODES[0]) | (raw == _XCHG_OPCODES[1])).astype(np.int64)
    xchg = xchg[_memory_modrm(pad[xchg + 1])]
    return np.union1d(locks[lockable], xchg).astype(np.int64)


def _windows(
    offsets: npt.NDArray[np.int64], base: int, symbols: SymbolTable | None
) -> list[tuple[int, int]]:
    """Merged [start, stop) byte ranges to decode, each starting where decoding is in step.

    A window starts _RESYNC_BYTES before its candidate, or at the start of the
    function that holds it if that is nearer (a certain instruction boundary).
    """
    starts = np.maximum(offsets - _RESYNC_BYTES, 0)
    if symbols is not None and len(symbols):
        names, into = symbols.lookup(offsets.astype(np.uint64) + np.uint64(base))
        covered = np.fromiter((n is not None for n in names), dtype=bool, count=names.size)
        starts = np.where(covered, np.maximum(offsets - into, starts), starts)
    stops = offsets + _MAX_INSN
    windows: list[tuple[int, int]] = []
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], stop)
        else:
            windows.append((start, stop))
    return windows


def count_section(
    data: bytes, base: int, symbols: SymbolTable | None = None, bits: int = 64
) -> X86Atomics:
    """Lock-prefixed instructions and memory xchg in one code section at `base`.

    `symbols` (optional) supplies function starts, which are certain
    instruction boundaries to start decoding from.
    """
    result = X86Atomics()
    offsets = candidate_offsets(data)
    if offsets.size == 0:
        return result
    cands = offsets.tolist()
    seen: set[int] = set()
    for start, stop in _windows(offsets, base, symbols):
        for address, size, mnemonic, operands in _sweep(
            data, base, start, min(stop, len(data)), bits
        ):
            if "lock" not in mnemonic and "xchg" not in mnemonic:
                continue
            off = address - base
            # Count only the instruction that holds a candidate byte: the first
            # few decoded in a window may be out of step with the real stream.
            i = bisect_left(cands, off)
            if off in seen or i == len(cands) or cands[i] >= off + size:
                continue
            words = mnemonic.split()
            if "lock" in words:
                result.lock += 1
                result.lock_ops[words[-1]] += 1
            elif words[-1] == "xchg" and "[" in operands:
                result.xchg += 1
            else:
                continue
            seen.add(off)
            result.addresses.append(address)
    return result


def _sweep(
    data: bytes, base: int, start: int, stop: int, bits: int
) -> list[tuple[int, int, str, str]]:
    """Linear decode of data[start:stop]; an undecodable byte is skipped, as objdump's (bad)."""
    md = _capstone(bits)
    out: list[tuple[int, int, str, str]] = []
    pos = start
    while pos < stop:
        end = pos
        for insn in md.disasm_lite(data[pos:stop], base + pos):
            out.append(insn)
            end = insn[0] - base + insn[1]
        if end >= stop:
            break
        # capstone stops at the first invalid byte; resume one byte later.
        pos = end + 1
    return out
