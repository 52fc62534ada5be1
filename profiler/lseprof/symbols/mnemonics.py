"""Instructions as text (objdump's, capstone's, perf annotate's): is it an atomic, a
spin hint, a branch (and to where), does it read memory.

:mod:`lseprof.symbols.insn` answers the same question from an instruction's bytes;
this module answers it from what a disassembler printed, for listings whose bytes
are not at hand (``perf annotate`` pasted from a terminal) and for capstone's output
when a whole function is decoded. Both AT&T (objdump, perf) and Intel (capstone)
x86 syntax are read.
"""

from __future__ import annotations

import re

from lseprof.symbols.insn import InsnClass

_LSE_RE = re.compile(
    r"^(?P<op>casp?|swp|ld(add|clr|eor|set|smax|smin|umax|umin)|st(add|clr|eor|set|smax|smin|umax|umin))"
    r"(?P<order>al|a|l)?(?P<size>b|h)?$"
)
_EXCL_RE = re.compile(r"^(?P<op>(ld|st)(a|l)?x(r|p))(?P<size>b|h)?$")
_ORDERS = {"": "relax", "a": "acq", "l": "rel", "al": "acq_rel"}
# Spin-wait hints: aarch64 ISB (the usual delay since Rust/JDK/jemalloc chose it),
# YIELD, WFE/WFET with SEVL, SB (FEAT_SB); x86 PAUSE (REP NOP).
SPIN_HINTS = frozenset({"isb", "yield", "wfe", "wfet", "sevl", "sb", "pause"})
_AARCH64_BRANCH_RE = re.compile(r"^(b|bc)\.\w+$|^(b|cbz|cbnz|tbz|tbnz)$")
_X86_BRANCH_RE = re.compile(r"^(j[a-z]{1,4}|loop\w*)$")
_PREFIXES = ("lock", "rep", "repz", "repe", "repnz", "repne", "data16", "notrack", "bnd")
_X86_REGISTER_RE = re.compile(r"[re]?[a-d]x|[re]?[sd]il?|[re]?[sb]pl?|r\d+[dwb]?|[a-d][lh]|\d+")
_HEX_RE = re.compile(r"(?:#)?(?:0x)?([0-9a-f]+)$")


def split(text: str) -> tuple[str, str]:
    """(mnemonic, operands) of an instruction as printed: prefixes stay with the
    mnemonic ("lock cmpxchg"), objdump's trailing comments (``# 40e0 <counter>``,
    ``// b.any``) are dropped."""
    text = re.sub(r"\s+(#\s|//).*$", "", text.strip())
    words = text.split(None, 1)
    if not words:
        return "", ""
    mnemonic, rest = words[0].lower(), (words[1] if len(words) > 1 else "")
    while mnemonic in _PREFIXES and rest:
        more = rest.split(None, 1)
        mnemonic, rest = f"{mnemonic} {more[0].lower()}", (more[1] if len(more) > 1 else "")
    return mnemonic, rest.strip()


def _x86_memory(operand: str) -> bool:
    """An x86 operand that names memory: ``0x8(%rdi)``, ``counter``, ``[rip + 0x10]``."""
    operand = operand.strip()
    if not operand or operand.startswith(("%", "$")):
        return False
    if "[" in operand or "(" in operand:
        return True
    # AT&T prints a symbol's address as memory ("spin_word"); Intel names registers bare.
    return not re.fullmatch(
        r"[re]?[a-d]x|[re]?[sd]il?|[re]?[sb]pl?|r\d+[dwb]?|[a-d][lh]|\d+", operand
    )


def _operands(operands: str) -> list[str]:
    """Operands split at top-level commas (not those inside brackets or parentheses)."""
    parts, depth, current = [], 0, ""
    for char in operands:
        depth += (char in "([" and 1) or ((char in ")]" and -1) or 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in (*parts, current) if p.strip()]


def _size(operands: str, suffix: str | None) -> int | None:
    if suffix:
        return 1 if suffix == "b" else 2
    first = operands.split(",", 1)[0].strip()
    return 8 if first.startswith("x") else 4 if first.startswith("w") else None


def classify_mnemonic(mnemonic: str, operands: str = "") -> InsnClass | None:
    """The atomic an instruction printed as text is, or None: aarch64 LSE
    (``ldaddal``, ``casa``, ``swpl``, ``stadd``...), exclusive loads and stores
    (``ldaxr``, ``stlxr``...), x86 ``lock``-prefixed instructions and ``xchg`` with
    memory (always locked)."""
    mnemonic = mnemonic.lower()
    if mnemonic.startswith("lock "):
        return InsnClass("x86_lock", mnemonic, mnemonic.split()[-1].rstrip("bwlq"), None, None)
    if mnemonic.startswith("xchg") and any(_x86_memory(o) for o in _operands(operands)):
        return InsnClass("x86_xchg", mnemonic, "xchg", None, None)
    if (m := _LSE_RE.match(mnemonic)) is not None:
        op = m["op"] if not m["op"].startswith("st") else "ld" + m["op"][2:]
        order = m["order"] or ""
        if m["op"].startswith("st"):  # ST<op> aliases: no acquire, "l" for release
            order = "l" if order == "l" else ""
        return InsnClass("lse", mnemonic, op, _size(operands, m["size"]), _ORDERS[order])
    if (m := _EXCL_RE.match(mnemonic)) is not None:
        load = m["op"].startswith("ld")
        order = ("acq" if load else "rel") if m["op"][2] in "al" else "relax"
        family = "exclusive_load" if load else "exclusive_store"
        return InsnClass(family, mnemonic, m["op"], _size(operands, m["size"]), order)
    return None


def is_spin_hint(mnemonic: str) -> bool:
    """ISB, YIELD, WFE/WFET, SEVL, SB or PAUSE (and REP NOP, PAUSE's encoding)."""
    return mnemonic.lower() in SPIN_HINTS or mnemonic.lower() == "rep nop"


def is_branch(mnemonic: str) -> bool:
    """A jump within the code (conditional or not), not a call or a return."""
    name = mnemonic.lower()
    return bool(_AARCH64_BRANCH_RE.match(name) or _X86_BRANCH_RE.match(name))


def branch_target(mnemonic: str, operands: str) -> int | None:
    """Where a branch goes, as printed (an address, an offset or a label): the last
    operand that is a number, before objdump's ``<symbol+0x10>``."""
    if not is_branch(mnemonic):
        return None
    text = re.sub(r"<[^>]*>", "", operands).strip()
    last = _operands(text)[-1] if _operands(text) else ""
    m = _HEX_RE.fullmatch(last.strip().lower())
    return int(m[1], 16) if m else None


def reads_memory(arch: str, mnemonic: str, operands: str) -> bool:
    """Whether the instruction loads from memory (a spin-wait polls a location).
    `arch`: "aarch64" or "x86_64" (see :func:`guess_arch`)."""
    name = mnemonic.lower()
    if arch == "aarch64":  # every load, and the atomics (they read too)
        return name.startswith("ld") or _LSE_RE.match(name) is not None
    if name.startswith("lea") or name.startswith("nop"):
        return False
    parts = _operands(operands)
    att = "%" in operands or "$" in operands or not any("[" in p for p in parts)
    # AT&T writes the destination last, Intel (capstone) first; a mov only reads its source
    sources = (parts[:-1] if att else parts[1:]) if name.startswith("mov") else parts
    return any(_x86_memory(p) for p in sources)


_X86_ONLY = re.compile(
    r"^(push|pop|lea|call|jmp|j[a-z]{1,3}|nop[wl]?|mov[a-z]*|xchg|lock \w+|rep \w+)$"
)
_AARCH64_ONLY = re.compile(
    r"^(adrp?|ldr\w*|str\w*|ldp|stp|cbn?z|tbn?z|b\.\w+|bl|blr|br|bti|ret|ld\w+|cas\w*|swp\w*)$"
)


def guess_arch(instructions: list[tuple[str, str]]) -> str:
    """ "aarch64" or "x86_64" for a listing's (mnemonic, operands): AT&T registers
    (``%eax``) or x86-only mnemonics against aarch64-only ones."""
    x86 = arm = 0
    for mnemonic, operands in instructions:
        if "%" in operands or _X86_ONLY.match(mnemonic):
            x86 += 1
        elif _AARCH64_ONLY.match(mnemonic) or re.search(r"\b[xw]\d+\b", operands):
            arm += 1
    return "aarch64" if arm > x86 else "x86_64"
