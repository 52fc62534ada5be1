"""Independent reference counts from GNU objdump's text, for the inspect cross-checks.

Nothing here uses lseprof's decoders: mnemonics, branch targets and function
boundaries come from `objdump -d` output only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import missing_tool

_FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")
_A64_INSN = re.compile(r"^\s*([0-9a-f]+):\s+[0-9a-f]{8}\s+(\S+)\s*(.*)$")
_X86_INSN = re.compile(r"^\s*([0-9a-f]+):\t(?:[0-9a-f]{2} )+\s*\t(.*)$")
_TARGET = re.compile(r"^([0-9a-f]+) <")

LSE = re.compile(r"^(?:casp?|swp|ld(?:add|clr|eor|set|smax|smin|umax|umin))(?:a|l|al)?[bh]?$")
LSE_ST = re.compile(r"^st(?:add|clr|eor|set|smax|smin|umax|umin)l?[bh]?$")
EXCLUSIVE = re.compile(r"^(?:lda?x[rp]|stl?x[rp])[bh]?$")


def objdump_for(arch: str) -> str:
    name = "aarch64-linux-gnu-objdump" if arch == "aarch64" else "objdump"
    tool = shutil.which(name)
    if tool is None:
        missing_tool(name)
    return tool


@dataclass
class A64Listing:
    """aarch64 `objdump -d`: every instruction and each function's start."""

    functions: dict[int, str] = field(default_factory=dict)
    insns: list[tuple[int, str, str]] = field(default_factory=list)  # (address, mnemonic, ops)

    def helper_ranges(self) -> list[tuple[int, int, str]]:
        """[start, end) of functions objdump labels __aarch64_<op><size>_<order>."""
        starts = sorted(self.functions)
        ranges = []
        for i, start in enumerate(starts):
            name = self.functions[start]
            if re.match(r"^__aarch64_(cas|swp|ld(add|clr|eor|set))\d+_", name):
                end = starts[i + 1] if i + 1 < len(starts) else 1 << 64
                ranges.append((start, end, name))
        return ranges

    def branch_targets(self) -> Counter[int]:
        """How many `b`/`bl` instructions branch to each address."""
        counts: Counter[int] = Counter()
        for _, mnemonic, ops in self.insns:
            if mnemonic in ("b", "bl"):
                match = _TARGET.match(ops)
                if match:
                    counts[int(match[1], 16)] += 1
        return counts

    def counts_outside(
        self, pattern: re.Pattern[str], ranges: list[tuple[int, int]]
    ) -> Counter[str]:
        """Mnemonics matching `pattern` at addresses in none of `ranges`."""
        counts: Counter[str] = Counter()
        for address, mnemonic, _ in self.insns:
            if pattern.match(mnemonic) and not any(s <= address < e for s, e in ranges):
                counts[mnemonic] += 1
        return counts


def aarch64_listing(path: Path) -> A64Listing:
    text = subprocess.run(
        [objdump_for("aarch64"), "-d", str(path)], capture_output=True, text=True, check=True
    ).stdout
    listing = A64Listing()
    for line in text.splitlines():
        insn = _A64_INSN.match(line)
        if insn:
            listing.insns.append((int(insn[1], 16), insn[2], insn[3]))
            continue
        func = _FUNC.match(line)
        if func:
            listing.functions[int(func[1], 16)] = func[2]
    return listing


def x86_counts(path: Path) -> tuple[int, int]:
    """(lock-prefixed instructions, xchg with a memory operand) in `objdump -d`."""
    text = subprocess.run(
        [objdump_for("x86_64"), "-d", "-w", str(path)], capture_output=True, text=True, check=True
    ).stdout
    lock = xchg = 0
    for line in text.splitlines():
        insn = _X86_INSN.match(line)
        if not insn:
            continue
        text = insn[2]
        words = text.split()
        if not words:
            continue
        if "lock" in words[:3]:  # after an optional xacquire/xrelease
            lock += 1
        elif words[0].startswith("xchg") and ("(" in text or re.search(r"%[c-gs]s:", text)):
            xchg += 1
    return lock, xchg
