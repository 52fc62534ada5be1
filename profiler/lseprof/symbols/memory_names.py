"""Names for the code and data addresses of an emulated aarch64 process: which
function (and instruction) an address is, what a data address holds.

The coherence plugin reports virtual addresses of the guest process. For an
executable linked at a fixed address (``ET_EXEC``: lseprof's aarch64 builds, static
and non-PIE) they are its ELF addresses: code is named from its function symbols and
decoded (capstone), data from its data symbols and sections (``.data``, ``.bss``).
Other data addresses are a thread's stack when they lie near the stack pointers seen
for that thread, else the heap (or another anonymous mapping), or the kernel's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from lseprof.symbols.elf import ElfImage, SymbolTable

KERNEL_HALF = 1 << 55  # VA bit 55: TTBR1, the kernel's addresses
# A stack address is at most this far below the lowest stack pointer seen at a return
# to user mode (a leaf's frame) or above the highest (callers' frames, the top).
STACK_BELOW = 64 * 1024
STACK_ABOVE = 1024 * 1024


@dataclass(frozen=True)
class StackRange:
    """The stack pointers seen for one thread."""

    tid: int
    low: int
    high: int

    def holds(self, address: int) -> bool:
        return self.high > 0 and self.low - STACK_BELOW <= address <= self.high + STACK_ABOVE


@cache
def _aarch64_disassembler() -> Any:
    import capstone

    arch = getattr(capstone, "CS_ARCH_ARM64", None) or capstone.CS_ARCH_AARCH64
    return capstone.Cs(arch, capstone.CS_MODE_ARM)


def disassemble_a64(code: bytes, address: int) -> str | None:
    """One aarch64 instruction as text (``str x1, [x0, #8]``), or None."""
    for insn in _aarch64_disassembler().disasm(code[:4], address):
        return f"{insn.mnemonic} {insn.op_str}".strip()
    return None


class MemoryNamer:
    """Names code and data addresses of one emulated process from the ELF files it
    ran (``images``: only those linked at a fixed address are used) and its threads'
    stack pointers."""

    def __init__(self, images: Sequence[ElfImage], stacks: Sequence[StackRange] = ()) -> None:
        self.images = [i for i in images if i.arch == "aarch64" and not i.is_pie_or_shared]
        self.skipped = [i for i in images if i not in self.images]
        # The narrowest range first: a thread's stack lies inside the wide range of
        # a thread that was seen deep in a call and near the top of its stack.
        self.stacks = sorted(stacks, key=lambda s: (s.high - s.low, s.tid))
        self._data: dict[int, SymbolTable] = {}

    def _data_table(self, image: ElfImage) -> SymbolTable:
        key = id(image)
        if key not in self._data:
            self._data[key] = image.data_symbols()
        return self._data[key]

    def code(self, address: int) -> tuple[str | None, str | None]:
        """(``function+0xoff``, the instruction as text) of a code address."""
        for image in self.images:
            names, offsets = image.symbols.lookup([address])
            if names[0] is None:
                continue
            code = image.read(address, 4)
            mnemonic = disassemble_a64(code, address) if code else None
            return f"{names[0]}+{int(offsets[0]):#x}", mnemonic
        return None, None

    def data(self, address: int) -> tuple[str | None, str]:
        """(what the address holds, its region): an ELF data symbol (``name+0xoff``)
        in ``data``, ``bss``, ``rodata`` ...; ``stack of tid N``; ``heap``;
        ``kernel``; or (None, ``unknown``)."""
        if address >= KERNEL_HALF:
            return None, "kernel"
        for image in self.images:
            section = image.section_at(address)
            if section is None:
                continue
            names, offsets = self._data_table(image).lookup([address])
            region = section.lstrip(".").split(".")[0] or "data"
            if names[0] is None:
                return section, region
            offset = int(offsets[0])
            return (f"{names[0]}+{offset:#x}" if offset else str(names[0])), region
        for stack in self.stacks:
            if stack.holds(address):
                return f"stack of tid {stack.tid}", "stack"
        if self.images:  # the executable's own data is named above: what is left is
            return "heap", "heap"  # the heap or another anonymous mapping
        return None, "unknown"
