"""Instruction-level classification: decoding the sampled instruction where the
binary's bytes are known (is it an atomic?), and which path of an outline-atomic
helper a sample lies on (LSE instruction, LDXR/STXR loop, or the flag test).

Used by :mod:`lseprof.analysis.classify.apply` for the samples no name rule claims and
for helper samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof.symbols.elf import ElfImage
from lseprof.symbols.insn import classify_instruction
from lseprof.symbols.spin_loops import spin_addresses


def warm_up(images: Sequence[ElfImage]) -> None:
    """Load the instruction decoder these images will need (capstone, for x86) now
    rather than in the middle of :func:`classify` (lseprof report: while perf runs)."""
    for arch in sorted({image.arch for image in images} & {"x86_64", "i386"}):
        classify_instruction(arch, b"\x90", 0)


def _code_addresses(
    frame: pd.DataFrame, rows: npt.NDArray[np.int64], image: ElfImage
) -> npt.NDArray[np.uint64]:
    """ELF virtual addresses of the sampled instructions.

    Callchain frames and emulated samples already carry the ELF address; one-line
    `perf script` samples carry the runtime address, so where the symbol and its
    offset are known the address is rebuilt as symbol start + offset.
    """
    ips = frame["ip"].to_numpy()[rows].copy()
    offs = frame["symoff"].to_numpy()[rows]
    has_off = offs >= 0
    if has_off.any():
        sym_codes = frame["symbol"].cat.codes.to_numpy()[rows][has_off]
        names = [str(c) for c in frame["symbol"].cat.categories]
        inverse, uniq = pd.factorize(sym_codes)  # hash: no sort of a million codes
        starts = np.array(
            [
                (image.symbols.address_of(names[c]) or -1) if c >= 0 else -1
                for c in np.asarray(uniq).tolist()
            ],
            dtype=np.int64,
        )
        base = starts[np.asarray(inverse)]
        ok = base >= 0
        idx = np.flatnonzero(has_off)[ok]
        ips[idx] = (base[ok] + offs[has_off][ok]).astype(np.uint64)
    return ips


@cache
def _x86_disassembler(bits: int) -> Any:
    import capstone

    return capstone.Cs(
        capstone.CS_ARCH_X86, capstone.CS_MODE_64 if bits == 64 else capstone.CS_MODE_32
    )


def _previous_instruction(image: ElfImage, address: int) -> int | None:
    """Start of the instruction that ends at `address` (the one before it)."""
    if image.arch == "aarch64":
        return address - 4 if address >= 4 else None
    if image.arch not in ("x86_64", "i386"):
        return None
    # x86 lengths vary: walk from the enclosing function's start to find the boundary.
    names, offsets = image.symbols.lookup(np.array([address], dtype=np.uint64))
    if names[0] is None:
        return None
    start = address - int(offsets[0])
    code = image.read(start, int(offsets[0]))
    if not code or int(offsets[0]) > 65536:
        return None
    bits = 64 if image.arch == "x86_64" else 32
    for insn_address, size, _mnemonic, _ops in _x86_disassembler(bits).disasm_lite(code, start):
        if insn_address + size == address:
            return int(insn_address)
        if insn_address + size > address:
            return None
    return None


def _classify_at(image: ElfImage, address: int) -> tuple[str | None, str]:
    code = image.read(address, 16)
    if not code:
        return None, ""
    insn = classify_instruction(image.arch, code, address)
    return (insn.family, insn.mnemonic) if insn is not None else (None, "")


def decode_rows(
    images: dict[str, ElfImage], frame: pd.DataFrame, rows: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int32], list[str], npt.NDArray[np.uint64]]:
    """Per row: whether the instruction it stands for is an atomic, its mnemonic (a
    code into the returned labels; 0 is ""), and the address that was decoded.

    Interrupt-driven samples (hardware, not emulated) usually land on the
    instruction after the one that stalled, so for them the previous instruction
    is checked too: a `lock add` shows up as samples on the `sub` after it.
    Each distinct (address, precise) is decoded once; rows only get codes.
    """
    atomic = np.zeros(rows.size, np.bool_)
    mnemonic = np.zeros(rows.size, np.int32)
    labels = [""]
    label_code = {"": 0}
    addresses = np.zeros(rows.size, np.uint64)
    dso_codes = frame["dso"].cat.codes.to_numpy()[rows]
    dso_names = [str(c) for c in frame["dso"].cat.categories]
    precise = frame["precise"].to_numpy()[rows]
    for code in pd.unique(dso_codes).tolist():
        image = images.get(dso_names[code]) if code >= 0 else None
        if image is None:
            continue
        part = np.flatnonzero(dso_codes == code)
        addrs = _code_addresses(frame, rows[part], image)
        addresses[part] = addrs
        # Addresses here are user-space ELF addresses (< 2**63): the top bit is free.
        key = addrs | (precise[part].astype(np.uint64) << np.uint64(63))
        codes, uniq = pd.factorize(key)
        fam = np.zeros(len(uniq), np.bool_)
        mne = np.zeros(len(uniq), np.int32)
        for i, packed in enumerate(np.asarray(uniq).tolist()):
            address, exact = int(packed) & ((1 << 63) - 1), bool(int(packed) >> 63)
            got, name = _classify_at(image, int(address))
            if got is None and not exact:
                before = _previous_instruction(image, int(address))
                if before is not None:
                    got, name = _classify_at(image, before)
            fam[i] = got is not None
            if name not in label_code:
                label_code[name] = len(labels)
                labels.append(name)
            mne[i] = label_code[name]
        atomic[part] = fam[np.asarray(codes)]
        mnemonic[part] = mne[np.asarray(codes)]
    return atomic, mnemonic, labels, addresses


@dataclass(frozen=True)
class _HelperLayout:
    start: int
    lse: int  # address of the LSE instruction
    llsc_from: int  # first address of the LDXR/STXR path (after the LSE path's ret)


@cache
def _layout(image: ElfImage, symbol: str) -> _HelperLayout | None:
    """Where a helper's LSE instruction and retry loop sit (libgcc / compiler-rt lse.S:
    flag test, LSE instruction, ret, then the exclusive loop)."""
    start = image.symbols.address_of(symbol)
    size = image.symbols.size_of(symbol)
    if start is None or not size or size > 4096:
        return None
    code = image.read(start, size) or b""
    lse = None
    for offset in range(0, len(code) - 3, 4):
        insn = classify_instruction(image.arch, code[offset : offset + 4], start + offset)
        if insn is not None and insn.family == "lse":
            lse = start + offset
            break
    if lse is None:
        return None
    return _HelperLayout(start, lse, lse + 8)


def _path_at(layout: _HelperLayout, address: int, exact: bool) -> str:
    return helper_path_at(layout.lse, layout.llsc_from, address, exact)


def helper_path_at(lse: int, llsc_from: int, address: int, exact: bool) -> str:
    """Which path of an outline-atomic helper a sampled address stands for: `lse` is
    the LSE instruction's address, `llsc_from` the first of the LDXR/STXR path.

    Exact addresses (emulated) are the running instruction. Interrupt-driven
    samples name the next instruction to run, so the instruction that just ran
    is its predecessor in execution order: the LSE instruction for its `ret`,
    the flag test for the LSE instruction itself and for the first instruction
    of the retry path (the `cbz` branches there).
    """
    if exact:
        if address < lse:
            return "flag"
        return "lse" if address < llsc_from else "llsc"
    if address <= lse or address == llsc_from:
        return "flag"
    return "lse" if address < llsc_from else "llsc"


def helper_paths(
    images: dict[str, ElfImage],
    frame: pd.DataFrame,
    rows: npt.NDArray[np.int64],
    addresses: npt.NDArray[np.uint64],
) -> npt.NDArray[np.object_]:
    path = np.full(rows.size, "", dtype=object)
    dso_codes = frame["dso"].cat.codes.to_numpy()[rows]
    sym_codes = frame["symbol"].cat.codes.to_numpy()[rows]
    dso_names = [str(c) for c in frame["dso"].cat.categories]
    sym_names = [str(c) for c in frame["symbol"].cat.categories]
    precise = frame["precise"].to_numpy()[rows]
    # Distinct (dso, symbol, address, precise) only: a hot helper repeats a handful.
    key = (
        pd.MultiIndex.from_arrays([dso_codes, sym_codes, addresses, precise]) if rows.size else None
    )
    if key is None:
        return path
    codes, uniq = pd.factorize(key)
    answers = []
    for d, s, address, exact in uniq.tolist():
        image = images.get(dso_names[d]) if d >= 0 else None
        layout = _layout(image, sym_names[s]) if image is not None and s >= 0 else None
        answers.append(
            _path_at(layout, int(address), bool(exact)) if layout is not None and address else ""
        )
    path[:] = np.array(answers, dtype=object)[np.asarray(codes)]
    return path


def _in_spin_loop(image: ElfImage, address: int) -> str:
    """The spin hint of the spin loop holding `address` ("" for none): the function
    around it is decoded once (cached) and its loops found."""
    names, offsets = image.symbols.lookup(np.array([address], dtype=np.uint64))
    if names[0] is None:
        return ""
    start = address - int(offsets[0])
    loop = spin_addresses(image, start, image.symbols.size_of(str(names[0])) or 0).get(address)
    return loop.hint if loop is not None else ""


def spin_rows(
    images: dict[str, ElfImage],
    frame: pd.DataFrame,
    rows: npt.NDArray[np.int64],
    addresses: npt.NDArray[np.uint64],
) -> npt.NDArray[np.bool_]:
    """Per row: whether the decoded address lies in a spin loop (a short backward loop
    around a spin hint: :mod:`lseprof.symbols.spin_loops`), whatever its function is
    called. Each distinct (object, address) is looked at once."""
    spin = np.zeros(rows.size, np.bool_)
    if not rows.size:
        return spin
    dso_codes = frame["dso"].cat.codes.to_numpy()[rows]
    dso_names = [str(c) for c in frame["dso"].cat.categories]
    key = pd.MultiIndex.from_arrays([dso_codes, addresses])
    codes, uniq = pd.factorize(key)
    answers = np.zeros(len(uniq), np.bool_)
    for i, (d, address) in enumerate(uniq.tolist()):
        image = images.get(dso_names[d]) if d >= 0 else None
        answers[i] = bool(image is not None and address and _in_spin_loop(image, int(address)))
    spin[:] = answers[np.asarray(codes)]
    return spin
