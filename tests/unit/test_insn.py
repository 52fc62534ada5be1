"""classify_instruction on known encodings.

Words are those GNU as/objdump produce (listed below so the test runs without a
cross toolchain); a second test assembles a larger list with aarch64-linux-gnu-as
when it is installed and checks mnemonics against objdump's.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from lseprof.symbols import aarch64_decode as a64
from lseprof.symbols.elf import ElfImage
from lseprof.symbols.insn import InsnClass, classify_instruction
from tests.helpers import missing_tool


def _w(word: int) -> bytes:
    return struct.pack("<I", word)


# (word, family, mnemonic, op, size, order) as printed by objdump 2.40.
AARCH64_KNOWN = [
    (0xB8E00020, "lse", "ldaddal", "ldadd", 4, "acq_rel"),
    (0x88E0FC41, "lse", "casal", "cas", 4, "acq_rel"),
    (0x4860FC82, "lse", "caspal", "casp", 16, "acq_rel"),
    (0x48207C82, "lse", "casp", "casp", 16, "relax"),
    (0x78203020, "lse", "ldseth", "ldset", 2, "relax"),
    (0xF8E08041, "lse", "swpal", "swp", 8, "acq_rel"),
    (0x78206041, "lse", "ldumaxh", "ldumax", 2, "relax"),
    (0x3860505F, "lse", "stsminlb", "ldsmin", 1, "rel"),
    (0x08E0FC41, "lse", "casalb", "cas", 1, "acq_rel"),
    (0xB820003F, "lse", "stadd", "ldadd", 4, "relax"),
    (0xB860003F, "lse", "staddl", "ldadd", 4, "rel"),
    (0xB8A0003F, "lse", "ldadda", "ldadd", 4, "acq"),  # acquire: no ST alias
    (0x885FFC20, "exclusive_load", "ldaxr", "ldaxr", 4, "acq"),
    (0x885F7C20, "exclusive_load", "ldxr", "ldxr", 4, "relax"),
    (0x485F7C20, "exclusive_load", "ldxrh", "ldxr", 2, "relax"),
    (0xC87F0440, "exclusive_load", "ldxp", "ldxp", 16, "relax"),
    (0x8811FC41, "exclusive_store", "stlxr", "stlxr", 4, "rel"),
    (0x480F7C31, "exclusive_store", "stxrh", "stxr", 2, "relax"),
    (0xC82F8C82, "exclusive_store", "stlxp", "stlxp", 16, "rel"),
]

AARCH64_NOT_ATOMIC = [
    0xD65F03C0,  # ret
    0xD503245F,  # bti c
    0x2A0003F0,  # mov w16, w0
    0x48200C82,  # CASP with Rt2 != 31: undefined
    0xB8BFC020,  # ldapr w0, [x1] (AMO class, o3=1 opc=100): not an RMW
    0x38A08820,  # AMO class, unallocated o3/opc
    0x88DFFC20,  # ldar w0, [x1]: ordered, not exclusive
    0x94000064,  # bl
]


@pytest.mark.parametrize(("word", "family", "mnemonic", "op", "size", "order"), AARCH64_KNOWN)
def test_aarch64_known(
    word: int, family: str, mnemonic: str, op: str, size: int, order: str
) -> None:
    got = classify_instruction("aarch64", _w(word), 0x1000)
    assert got == InsnClass(family, mnemonic, op, size, order)


@pytest.mark.parametrize("word", AARCH64_NOT_ATOMIC)
def test_aarch64_not_atomic(word: int) -> None:
    assert classify_instruction("aarch64", _w(word), 0) is None


def test_short_and_unknown_input() -> None:
    assert classify_instruction("aarch64", b"\x20\x00", 0) is None
    assert classify_instruction("aarch64", b"", 0) is None
    assert classify_instruction("riscv64", _w(0xB8E00020), 0) is None
    assert classify_instruction("x86_64", b"", 0) is None
    # Extra bytes after the first word are ignored.
    got = classify_instruction("arm64", _w(0xB8E00020) + b"\xff" * 8, 0)
    assert got is not None and got.mnemonic == "ldaddal"


X86_KNOWN = [
    (b"\xf0\x0f\xb1\x11", "x86_lock", "cmpxchg", 4),  # lock cmpxchg %edx,(%rcx)
    (b"\xf0\x48\x0f\xc1\x07", "x86_lock", "xadd", 8),  # lock xadd %rax,(%rdi)
    (b"\xf0\x83\x07\x01", "x86_lock", "add", 4),  # lock addl $1,(%rdi)
    (b"\x87\x07", "x86_xchg", "xchg", 4),  # xchg %eax,(%rdi)
    (b"\x86\x06", "x86_xchg", "xchg", 1),  # xchg %al,(%rsi)
]


@pytest.mark.parametrize(("code", "family", "op", "size"), X86_KNOWN)
def test_x86_known(code: bytes, family: str, op: str, size: int) -> None:
    got = classify_instruction("x86_64", code, 0x401000)
    assert got is not None
    assert (got.family, got.op, got.size, got.order) == (family, op, size, None)
    assert got.mnemonic.endswith(op)


@pytest.mark.parametrize("code", [b"\x48\x87\xc8", b"\x90", b"\xf3\x90", b"\x0f\xb1\x11"])
def test_x86_not_atomic(code: bytes) -> None:
    # register xchg, nop, pause, cmpxchg without lock
    assert classify_instruction("x86_64", code, 0) is None


_ASM = """
    cas w0, w1, [x2]
    casa x0, x1, [x2]
    casl w0, w1, [x2]
    casah w3, w4, [x5]
    caslb w3, w4, [x5]
    casp w0, w1, w2, w3, [x4]
    caspl x0, x1, x2, x3, [x4]
    swp w0, w1, [x2]
    swpa x0, x1, [x2]
    swplb w0, w1, [x2]
    swpalh w0, w1, [x2]
    ldadd x0, x1, [x2]
    ldclra w0, w1, [x2]
    ldeorl w0, w1, [x2]
    ldsetalb w0, w1, [x2]
    ldsmax w0, w1, [x2]
    ldsminah w0, w1, [x2]
    ldumaxl x0, x1, [x2]
    lduminal w0, w1, [x2]
    stclr w0, [x2]
    steorl x0, [x2]
    stsetb w0, [x2]
    stumaxlh w0, [x2]
    ldxrb w0, [x1]
    ldaxrh w0, [x1]
    ldaxr x0, [x1]
    stxrb w2, w0, [x1]
    stlxrh w2, w0, [x1]
    stlxr w2, x0, [x1]
    ldxp w0, w1, [x2]
    ldaxp x0, x1, [x2]
    stxp w3, w0, w1, [x2]
    stlxp w3, x0, x1, [x2]
    ldar w0, [x1]
    stlr x0, [x1]
    ldapr w0, [x1]
    add x0, x1, x2
"""


def test_against_gnu_as(tmp_path: Path) -> None:
    asm = shutil.which("aarch64-linux-gnu-as")
    objdump = shutil.which("aarch64-linux-gnu-objdump")
    if not asm or not objdump:
        missing_tool("aarch64-linux-gnu-as and -objdump")
    src = tmp_path / "t.s"
    src.write_text(".text\n" + _ASM)
    obj = tmp_path / "t.o"
    subprocess.run([asm, "-march=armv8.3-a", str(src), "-o", str(obj)], check=True)
    text = subprocess.run(
        [objdump, "-d", str(obj)], check=True, capture_output=True, text=True
    ).stdout
    rows = re.findall(r"^\s*[0-9a-f]+:\s+([0-9a-f]{8})\s+(\S+)", text, re.M)
    assert len(rows) == len([line for line in _ASM.splitlines() if line.strip()])
    for word_hex, mnemonic in rows:
        got = classify_instruction("aarch64", _w(int(word_hex, 16)), 0)
        if mnemonic in ("ldar", "stlr", "ldapr", "add"):
            assert got is None, mnemonic
        else:
            assert got is not None, mnemonic
            assert got.mnemonic == mnemonic


def test_section_decoder_agrees_with_single_words(tmp_path: Path) -> None:
    """The vectorized whole-section pass and classify_instruction see the same atomics."""
    asm = shutil.which("aarch64-linux-gnu-as")
    if not asm:
        missing_tool("aarch64-linux-gnu-as")
    src = tmp_path / "t.s"
    src.write_text(".text\n" + _ASM)
    obj = tmp_path / "t.o"
    subprocess.run([asm, "-march=armv8.3-a", str(src), "-o", str(obj)], check=True)
    text = next(s for s in ElfImage(obj).code_sections if s.name == ".text")
    words = a64.as_words(text.data)
    lse, excl = a64.find_lse(words), a64.find_exclusives(words)
    per_word = [classify_instruction("aarch64", _w(int(w)), 0) for w in words]
    assert lse.index.size and excl.index.size  # the lists compared below are not empty
    assert [i for i, c in enumerate(per_word) if c and c.family == "lse"] == lse.index.tolist()
    assert [
        i for i, c in enumerate(per_word) if c and c.family.startswith("exclusive")
    ] == excl.index.tolist()
