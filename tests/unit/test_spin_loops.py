"""Spin-waits recognized by their code, whatever the function is called (issue #22):
a short backward loop around isb, yield, wfe/wfet/sevl, sb or pause with a load in
it. The hammer workload (tests/fixtures/src/hammer.c) spins each way; its other
functions (a counted atomic loop, a hash loop, the helpers) must not count."""

from __future__ import annotations

import shutil

import pytest

from lseprof.analysis.pipeline import analyze_file
from lseprof.symbols.elf import ElfImage
from lseprof.symbols.mnemonics import branch_target, classify_mnemonic, reads_memory, split
from lseprof.symbols.spin_loops import Insn, decode_function, find_spin_loops
from tests.helpers import BIN, PERF, needs_tool

X86 = BIN / "hammer-x86_64"
ARM = BIN / "hammer-aarch64-outline"


def _loops(binary: str, function: str) -> list[tuple[str, bool, int]]:
    image = ElfImage(BIN / binary)
    start = image.symbols.address_of(function)
    assert start is not None, function
    insns = decode_function(image, start, image.symbols.size_of(function) or 0)
    arch = "aarch64" if image.arch == "aarch64" else "x86_64"
    return [(x.hint, x.polls, x.last - x.first + 1) for x in find_spin_loops(insns, arch)]


@pytest.mark.parametrize(
    ("binary", "function", "loops"),
    [
        ("hammer-x86_64", "spin_section", [("pause", True, 5)]),
        ("hammer-aarch64-outline", "spin_section", [("isb", True, 4)]),
        ("hammer-aarch64-outline", "yield_spin", [("yield", True, 4)]),
        # sevl primes the wfe: the wfe loop counts, not the retry loop around both
        ("hammer-aarch64-outline", "wfe_section", [("wfe", True, 3)]),
        ("hammer-x86_64", "rmw_mix", []),
        ("hammer-aarch64-outline", "rmw_mix", []),
        ("hammer-x86_64", "churn", []),
        ("hammer-aarch64-outline", "__aarch64_cas4_acq", []),
        ("hammer-x86_64", "mutex_section", []),
    ],
)
def test_spin_loops_of_real_code(binary: str, function: str, loops: list[object]) -> None:
    assert _loops(binary, function) == loops


def test_a_delay_loop_is_spin_that_polls_nothing() -> None:
    # HAProxy's pl_wait_unlock_long backoff as its annotate shows it (pastes/public)
    insns = [
        Insn(0x38, "isb"),
        Insn(None, "subs", "w2, w2, #0x1"),
        Insn(None, "b.ne", "38", branch_target("b.ne", "38")),
    ]
    assert [(x.hint, x.polls) for x in find_spin_loops(insns, "aarch64")] == [("isb", False)]
    far = [Insn(0, "yield"), *[Insn(None, "nop")] * 20, Insn(None, "b", "0", 0)]
    assert find_spin_loops(far, "aarch64") == []  # too long to be a spin loop


@pytest.mark.parametrize(
    ("text", "family", "op", "order"),
    [
        ("ldaddal x3, x4, [x2]", "lse", "ldadd", "acq_rel"),
        ("casa    w0, w1, [x2]", "lse", "cas", "acq"),
        ("swpl    x1, x1, [x2]", "lse", "swp", "rel"),
        ("ldclrab w0, w1, [x2]", "lse", "ldclr", "acq"),
        ("steor   w0, [x1]", "lse", "ldeor", "relax"),
        ("ldaxr   w0, [x2]", "exclusive_load", "ldaxr", "acq"),
        ("stlxr   w15, x17, [x1]", "exclusive_store", "stlxr", "rel"),
        ("lock cmpxchg %ecx,0x2d12(%rip)        # 40d8 <owner>", "x86_lock", "cmpxchg", None),
        ("xchg   %rax,0x2cf5(%rip)        # 40d0 <slot>", "x86_xchg", "xchg", None),
        ("xchg   eax, dword ptr [rip + 0x2cc0]", "x86_xchg", "xchg", None),
    ],
)
def test_atomics_by_mnemonic(text: str, family: str, op: str, order: str | None) -> None:
    found = classify_mnemonic(*split(text))
    assert found is not None and (found.family, found.op, found.order) == (family, op, order)


@pytest.mark.parametrize(
    "text", ["xchg  %ax,%ax", "ldr w2, [x19]", "ldar w0, [x1]", "stlr wzr, [x1]", "add x1, x2, x3"]
)
def test_not_atomics(text: str) -> None:
    assert classify_mnemonic(*split(text)) is None


def test_loads_and_branch_targets() -> None:
    assert reads_memory("x86_64", *split("mov   spin_word,%eax"))
    assert not reads_memory("x86_64", *split("mov   %eax,spin_word"))
    assert reads_memory("x86_64", *split("cmp eax, dword ptr [rip + 0x10]"))
    assert reads_memory("aarch64", *split("ldaxr   w0, [x1]"))
    assert not reads_memory("aarch64", *split("mov     x3, x1"))
    assert branch_target(*split("b.ne    400bc0 <__aarch64_cas4_acq+0x30>  // b.any")) == 0x400BC0
    assert branch_target(*split("cbnz w17, #0x400bac")) == 0x400BAC
    assert branch_target(*split("bl churn")) is None


@needs_tool("perf", shutil.which("perf") is not None)
def test_samples_in_a_spin_loop_are_spin_with_the_binary() -> None:
    data = PERF / "annotate" / "x86" / "perf.data"
    shares: dict[tuple[str, str], float] = {}
    for t in analyze_file(data, binaries=[X86]).sections[0].top_symbols:
        shares[(t.symbol, t.category or "")] = t.share
    # spin_section: 18.76% of samples, 86.8% of them in its pause loop (annotate)
    assert shares[("spin_section", "spin")] == pytest.approx(16.28, abs=0.01)
    assert ("rmw_mix", "spin") not in shares and ("churn", "spin") not in shares
