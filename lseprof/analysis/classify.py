"""Put every sample into exactly one category (:data:`lseprof.samples.CATEGORIES`).

The name-based part is data, not code: an ordered rule table in TOML
(``lseprof/analysis/rules/default.toml``, plus ``--rules FILE`` in front of it), first
match wins. Rules run once per distinct (symbol, DSO, caller) triple, not per
sample. Samples no rule claims are checked at the instruction level: where the
binary's bytes are known, the instruction at the sample address is decoded
(:func:`lseprof.symbols.insn.classify_instruction`, once per distinct address) and an
atomic makes the sample ``inline_atomic``.

Outline-atomic helper samples also get ``helper_path``: whether the sampled
instruction lies on the helper's LSE path, its LDXR/STXR retry loop, or the test
of ``__aarch64_have_lse_atomics`` that picks between them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.errors import LseprofError
from lseprof.symbols.atomic_names import parse_helper
from lseprof.symbols.elf import ElfImage
from lseprof.symbols.insn import classify_instruction

HELPER_PATHS = ("lse", "llsc", "flag")
_MATCHERS = ("symbol", "dso", "caller")


@dataclass(frozen=True)
class Rule:
    """One row of the rule table."""

    category: str
    symbol: re.Pattern[str] | None = None
    dso: re.Pattern[str] | None = None
    caller: re.Pattern[str] | None = None
    origin: str = ""

    def matches(self, symbol: str, dso: str, caller: str) -> bool:
        return ((self.symbol is None or self.symbol.search(symbol) is not None)
                and (self.dso is None or self.dso.search(dso) is not None)
                and (self.caller is None or self.caller.search(caller) is not None))


def _parse_rules(text: str, origin: str) -> tuple[list[Rule], bool]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LseprofError(f"{origin} is not valid TOML ({exc}); fix the rules file") from None
    replace = bool(doc.get("replace_defaults", False))
    entries = doc.get("rule", [])
    if not isinstance(entries, list):
        raise LseprofError(f"{origin}: `rule` must be an array of tables ([[rule]]); "
                           "fix the rules file")
    rules = []
    for number, entry in enumerate(entries, start=1):
        where = f"{origin} rule {number}"
        if not isinstance(entry, dict):
            raise LseprofError(f"{where} is not a table; write it as [[rule]]")
        category = entry.get("category")
        if category not in S.CATEGORIES:
            raise LseprofError(f"{where}: category {category!r} is not one of "
                               f"{', '.join(S.CATEGORIES)}; fix the rules file")
        patterns: dict[str, re.Pattern[str]] = {}
        for key in _MATCHERS:
            if key in entry:
                try:
                    patterns[key] = re.compile(str(entry[key]))
                except re.error as exc:
                    raise LseprofError(f"{where}: bad {key} regex ({exc}); fix the rules "
                                       "file") from None
        if not patterns:
            raise LseprofError(f"{where} has no symbol, dso or caller regex; add one")
        rules.append(Rule(category, patterns.get("symbol"), patterns.get("dso"),
                          patterns.get("caller"), where))
    return rules, replace


@cache
def default_rules() -> tuple[Rule, ...]:
    text = resources.files("lseprof.analysis").joinpath("rules/default.toml").read_text("utf-8")
    return tuple(_parse_rules(text, "default rules")[0])


def load_rules(user_file: Path | None = None) -> list[Rule]:
    """The rule table: the user's rules (if any) in front of the defaults."""
    if user_file is None:
        return list(default_rules())
    try:
        text = Path(user_file).read_text("utf-8")
    except OSError as exc:
        raise LseprofError(f"cannot read --rules {user_file} ({exc.strerror}); "
                           "check the path") from None
    rules, replace = _parse_rules(text, str(user_file))
    return rules if replace else [*rules, *default_rules()]


def _by_rules(frame: pd.DataFrame, rules: list[Rule]) -> npt.NDArray[np.int8]:
    """Category code per row (index into CATEGORIES) from the rules; -1 where none matched."""
    sym = frame["symbol"].cat.codes.to_numpy().astype(np.int64)
    dso = frame["dso"].cat.codes.to_numpy().astype(np.int64)
    caller = frame["caller"].cat.codes.to_numpy().astype(np.int64)
    # One int64 key per (symbol, dso, caller): codes are small, so they pack exactly.
    n_dso = len(frame["dso"].cat.categories) + 1
    n_caller = len(frame["caller"].cat.categories) + 1
    key = ((sym + 1) * n_dso + (dso + 1)) * n_caller + (caller + 1)
    codes, uniques = pd.factorize(key)
    sym_names = [str(c) for c in frame["symbol"].cat.categories]
    dso_names = [str(c) for c in frame["dso"].cat.categories]
    caller_names = [str(c) for c in frame["caller"].cat.categories]
    out = np.full(len(uniques), -1, dtype=np.int8)
    for i, packed in enumerate(np.asarray(uniques).tolist()):
        rest, c = divmod(int(packed), n_caller)
        s, d = divmod(rest, n_dso)
        symbol = sym_names[s - 1] if s > 0 else S.UNKNOWN
        dso_name = dso_names[d - 1] if d > 0 else S.UNKNOWN
        caller_name = caller_names[c - 1] if c > 0 else ""
        rule = next((r for r in rules if r.matches(symbol, dso_name, caller_name)), None)
        if rule is not None:
            out[i] = S.CATEGORIES.index(rule.category)
    return out[np.asarray(codes)]


def warm_up(images: Sequence[ElfImage]) -> None:
    """Load the instruction decoder these images will need (capstone, for x86) now
    rather than in the middle of :func:`classify` (lseprof report: while perf runs)."""
    for arch in sorted({image.arch for image in images} & {"x86_64", "i386"}):
        classify_instruction(arch, b"\x90", 0)


def _code_addresses(frame: pd.DataFrame, rows: npt.NDArray[np.int64], image: ElfImage
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
        starts = np.array([(image.symbols.address_of(names[c]) or -1) if c >= 0 else -1
                           for c in np.asarray(uniq).tolist()], dtype=np.int64)
        base = starts[np.asarray(inverse)]
        ok = base >= 0
        idx = np.flatnonzero(has_off)[ok]
        ips[idx] = (base[ok] + offs[has_off][ok]).astype(np.uint64)
    return ips


@cache
def _x86_disassembler(bits: int) -> Any:
    import capstone

    return capstone.Cs(capstone.CS_ARCH_X86,
                       capstone.CS_MODE_64 if bits == 64 else capstone.CS_MODE_32)


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


def _decode(images: dict[str, ElfImage], frame: pd.DataFrame, rows: npt.NDArray[np.int64]
            ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int32], list[str],
                       npt.NDArray[np.uint64]]:
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
        insn = classify_instruction(image.arch, code[offset:offset + 4], start + offset)
        if insn is not None and insn.family == "lse":
            lse = start + offset
            break
    if lse is None:
        return None
    return _HelperLayout(start, lse, lse + 8)


def _path_at(layout: _HelperLayout, address: int, exact: bool) -> str:
    """Which path of the helper a sampled address stands for.

    Exact addresses (emulated) are the running instruction. Interrupt-driven
    samples name the next instruction to run, so the instruction that just ran
    is its predecessor in execution order: the LSE instruction for its `ret`,
    the flag test for the LSE instruction itself and for the first instruction
    of the retry path (the `cbz` branches there).
    """
    if exact:
        if address < layout.lse:
            return "flag"
        return "lse" if address < layout.llsc_from else "llsc"
    if address <= layout.lse or address == layout.llsc_from:
        return "flag"
    return "lse" if address < layout.llsc_from else "llsc"


def _helper_paths(images: dict[str, ElfImage], frame: pd.DataFrame, rows: npt.NDArray[np.int64],
                  addresses: npt.NDArray[np.uint64]) -> npt.NDArray[np.object_]:
    path = np.full(rows.size, "", dtype=object)
    dso_codes = frame["dso"].cat.codes.to_numpy()[rows]
    sym_codes = frame["symbol"].cat.codes.to_numpy()[rows]
    dso_names = [str(c) for c in frame["dso"].cat.categories]
    sym_names = [str(c) for c in frame["symbol"].cat.categories]
    precise = frame["precise"].to_numpy()[rows]
    # Distinct (dso, symbol, address, precise) only: a hot helper repeats a handful.
    key = pd.MultiIndex.from_arrays([dso_codes, sym_codes, addresses, precise]) if rows.size \
        else None
    if key is None:
        return path
    codes, uniq = pd.factorize(key)
    answers = []
    for d, s, address, exact in uniq.tolist():
        image = images.get(dso_names[d]) if d >= 0 else None
        layout = _layout(image, sym_names[s]) if image is not None and s >= 0 else None
        answers.append(_path_at(layout, int(address), bool(exact))
                       if layout is not None and address else "")
    path[:] = np.array(answers, dtype=object)[np.asarray(codes)]
    return path


def _sparse_categorical(n: int, rows: npt.NDArray[np.int64], values: npt.NDArray[np.object_]
                        ) -> pd.Categorical:
    """A categorical that is "" everywhere except `rows` (factorizing only those)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object)) if rows.size else (
        np.zeros(0, np.int64), np.zeros(0, dtype=object))
    return _sparse_from_codes(n, rows, np.asarray(codes), [str(u) for u in uniques])


def _sparse_from_codes(n: int, rows: npt.NDArray[np.int64], row_codes: npt.NDArray[
        np.integer[Any]], labels: list[str]) -> pd.Categorical:
    """A categorical that is "" everywhere except `rows`, where it is labels[row_codes];
    its categories are "" and then the labels in order of first appearance."""
    out = np.zeros(n, np.int32)
    categories = [""]
    if rows.size:
        index = {"": 0}
        remap = np.zeros(len(labels), np.int32)
        for c in pd.unique(row_codes).tolist():  # first appearance, hash-based
            label = labels[c]
            if label not in index:
                index[label] = len(categories)
                categories.append(label)
            remap[c] = index[label]
        out[rows] = remap[row_codes]
    return S.from_codes(out, categories)


_INPUTS = ("symbol", "dso", "caller", "ip", "symoff", "precise")
DISTINCT_ABOVE_ROWS = 10_000  # smaller tables are classified row by row
_OUTPUTS = ("category", "helper_op", "helper_size", "helper_order", "insn", "helper_path")


def _distinct_inputs(frame: pd.DataFrame) -> tuple[npt.NDArray[np.int64],
                                                   npt.NDArray[np.int64]] | None:
    """Rows of `frame` that differ in what classification reads (_INPUTS): the first
    row of each distinct combination, in order, and each row's combination; None
    where that would not save much."""
    n = len(frame)
    parts: list[tuple[npt.NDArray[np.int64], int]] = []
    for column in _INPUTS:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy().astype(np.int64) + 1
            parts.append((codes, len(values.cat.categories) + 1))
        else:
            codes, uniques = pd.factorize(values.to_numpy())
            parts.append((np.asarray(codes, np.int64), len(uniques)))
    key = np.zeros(n, np.int64)
    span = 1
    for codes, size in parts:
        if span * size >= 1 << 62:  # renumber what is packed so far
            packed, uniques = pd.factorize(key)
            key, span = np.asarray(packed, np.int64), len(uniques)
            if span * size >= 1 << 62:
                return None
        key = key * size + codes
        span *= size
    combo, uniques = pd.factorize(key)  # in order of first appearance
    if len(uniques) > n // 4:
        return None
    combo = np.asarray(combo, np.int64)
    first = np.empty(len(uniques), np.int64)
    first[combo[::-1]] = np.arange(n - 1, -1, -1)
    return first, combo


def classify(frame: pd.DataFrame, rules: list[Rule], images: dict[str, ElfImage]) -> None:
    """Add category, helper_op/size/order, insn and helper_path columns in place.

    Every output depends only on a row's symbol, DSO, caller, address, offset and
    precision: a big table is classified through its distinct combinations of those
    (a few thousand in a million samples), and each row gets its combination's
    answers.
    """
    rows = _distinct_inputs(frame) if len(frame) > DISTINCT_ABOVE_ROWS else None
    if rows is None:
        _classify_rows(frame, rules, images)
        return
    first, combo = rows
    distinct = frame[list(_INPUTS)].take(first).reset_index(drop=True)
    _classify_rows(distinct, rules, images)
    for column in _OUTPUTS:
        values = distinct[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            frame[column] = pd.Categorical.from_codes(values.cat.codes.to_numpy()[combo],
                                                      dtype=values.dtype, validate=False)
        else:
            frame[column] = values.to_numpy()[combo]


def _classify_rows(frame: pd.DataFrame, rules: list[Rule], images: dict[str, ElfImage]
                   ) -> None:
    n = len(frame)
    # Work on category codes: string arrays of a million rows are slow to build.
    names = list(S.CATEGORIES)
    code = _by_rules(frame, rules) if n else np.zeros(0, np.int8)
    helper_code = names.index("atomic_helper")
    helper_size = np.zeros(n, np.int64)

    helper_rows = np.flatnonzero(code == helper_code)
    helper_syms = np.zeros(0, np.int64)
    ops: list[str] = []
    orders: list[str] = []
    if helper_rows.size:
        sym_codes = frame["symbol"].cat.codes.to_numpy()[helper_rows]
        sym_names = [str(c) for c in frame["symbol"].cat.categories]
        inverse, uniq = pd.factorize(sym_codes)
        helper_syms = np.asarray(inverse)
        parsed = [parse_helper(sym_names[c]) for c in np.asarray(uniq).tolist()]
        ops = [p.op if p else "" for p in parsed]
        orders = [p.order if p else "" for p in parsed]
        helper_size[helper_rows] = np.array([p.size if p else 0 for p in parsed])[helper_syms]

    # Decode only where bytes exist and the answer matters: unclaimed samples
    # (inline atomics) and helper samples (which path).
    insn_rows = np.zeros(0, np.int64)
    insn_codes = np.zeros(0, np.int32)
    insn_labels: list[str] = []
    path_rows = np.zeros(0, np.int64)
    path_values = np.empty(0, dtype=object)
    if images and n:
        candidates = np.flatnonzero((code < 0) | (code == helper_code))
        dso_known = np.array([str(d) in images for d in frame["dso"].cat.categories] + [False])
        candidates = candidates[dso_known[frame["dso"].cat.codes.to_numpy()[candidates]]]
        if candidates.size:
            atomic, insn_codes, insn_labels, addresses = _decode(images, frame, candidates)
            insn_rows = candidates
            unclaimed = code[candidates] < 0
            code[candidates[unclaimed & atomic]] = names.index("inline_atomic")
            is_helper = ~unclaimed
            if is_helper.any():
                path_rows = candidates[is_helper]
                path_values = _helper_paths(images, frame, path_rows, addresses[is_helper])
    code[code < 0] = names.index("work")
    frame["category"] = pd.Categorical.from_codes(code, categories=pd.Index(names),
                                                  validate=False)
    frame["helper_op"] = _sparse_from_codes(n, helper_rows, helper_syms, ops)
    frame["helper_size"] = helper_size
    frame["helper_order"] = _sparse_from_codes(n, helper_rows, helper_syms, orders)
    frame["insn"] = _sparse_from_codes(n, insn_rows, insn_codes, insn_labels)
    frame["helper_path"] = _sparse_categorical(n, path_rows, path_values)
