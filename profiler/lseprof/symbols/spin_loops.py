"""Spin-waits found by their code, whatever the function is called.

A spin-wait is a short backward loop around a spin hint (aarch64 ``isb``,
``yield``, ``wfe``/``wfet`` after ``sevl``, ``sb``; x86 ``pause``) that polls memory:
a load inside the loop. The loop is found from the branches: an instruction that
branches back to one at most :data:`MAX_LOOP` instructions before it closes a loop;
for each hint the innermost such loop holding it is taken, so the test-and-set
around a test-and-test-and-set spin is not counted with it. A hint loop without a
load is a delay loop (an exponential backoff counting down); it is spinning too and
is reported as such, with ``polls`` False.

The instructions come as text (:mod:`lseprof.symbols.mnemonics`): from a ``perf
annotate`` listing or from capstone, which :func:`decode_function` runs over a
function of an ELF image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from lseprof.symbols.elf import ElfImage
from lseprof.symbols.mnemonics import branch_target, is_spin_hint, reads_memory, split

MAX_LOOP = 16  # instructions from a loop's head to its backward branch, inclusive
MAX_FUNCTION = 1 << 16  # bytes of a function decoded to look for loops


@dataclass(frozen=True)
class Insn:
    """An instruction of a listing: where it is (in any one space: addresses, offsets
    or labels) and what it is."""

    address: int | None
    mnemonic: str
    operands: str = ""
    target: int | None = None  # a branch's target, in the space of `address`


@dataclass(frozen=True)
class SpinLoop:
    """A spin loop of a listing: instructions first..last (indexes, inclusive)."""

    first: int
    last: int
    hint: str  # the spin-hint mnemonic (isb, yield, wfe, pause, ...)
    polls: bool  # a load in the loop: a spin-wait on memory (else a delay loop)


def find_spin_loops(insns: Sequence[Insn], arch: str) -> list[SpinLoop]:
    """The spin loops of a run of instructions, innermost per hint, in order."""
    index = {i.address: n for n, i in enumerate(insns) if i.address is not None}
    loops: list[tuple[int, int]] = []
    for n, insn in enumerate(insns):
        head = index.get(insn.target) if insn.target is not None else None
        if head is not None and head <= n and n - head < MAX_LOOP:
            loops.append((head, n))
    found: dict[tuple[int, int], SpinLoop] = {}
    # SEVL only primes a WFE: its loop counts where no WFE loop lies inside it.
    hints = [n for n, i in enumerate(insns) if is_spin_hint(i.mnemonic)]
    hints.sort(key=lambda n: insns[n].mnemonic.lower() == "sevl")
    for n in hints:
        insn = insns[n]
        holding = [(a, b) for a, b in loops if a <= n <= b]
        if not holding:
            continue
        first, last = min(holding, key=lambda ab: ab[1] - ab[0])
        inside = any(first <= a and b <= last for a, b in found)
        if (first, last) not in found and not (insn.mnemonic.lower() == "sevl" and inside):
            polls = any(reads_memory(arch, i.mnemonic, i.operands) for i in insns[first : last + 1])
            found[(first, last)] = SpinLoop(first, last, insn.mnemonic.lower(), polls)
    return sorted(found.values(), key=lambda loop: loop.first)


@cache
def _capstone(arch: str) -> Any:
    import capstone

    if arch == "aarch64":
        return capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    mode = capstone.CS_MODE_64 if arch == "x86_64" else capstone.CS_MODE_32
    return capstone.Cs(capstone.CS_ARCH_X86, mode)


@cache
def decode_function(image: ElfImage, start: int, size: int) -> tuple[Insn, ...]:
    """A function of an ELF image as text instructions (capstone), addresses absolute;
    empty where the image's architecture or the function's bytes are unknown."""
    if image.arch not in ("aarch64", "x86_64", "i386") or not 0 < size <= MAX_FUNCTION:
        return ()
    code = image.read(start, size) or b""
    out = []
    for address, _size, mnemonic, operands in _capstone(image.arch).disasm_lite(code, start):
        name, ops = split(f"{mnemonic} {operands}")
        out.append(Insn(int(address), name, ops, branch_target(name, ops)))
    return tuple(out)


def spin_addresses(image: ElfImage, start: int, size: int) -> dict[int, SpinLoop]:
    """Every address inside a spin loop of the function at `start`, with its loop."""
    insns = decode_function(image, start, size)
    arch = "aarch64" if image.arch == "aarch64" else "x86_64"
    out: dict[int, SpinLoop] = {}
    for loop in find_spin_loops(insns, arch):
        for insn in insns[loop.first : loop.last + 1]:
            if insn.address is not None:
                out[insn.address] = loop
    return out
