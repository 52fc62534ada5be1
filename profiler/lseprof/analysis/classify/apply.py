"""Classification of a samples table: rules per distinct (symbol, DSO, caller),
decoding where no rule claims a sample (see the package docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.analysis.classify.decode import decode_rows, helper_paths, spin_rows
from lseprof.analysis.classify.rules import Rule
from lseprof.results import CATEGORIES
from lseprof.symbols.atomic_names import parse_helper
from lseprof.symbols.elf import ElfImage


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
            out[i] = CATEGORIES.index(rule.category)
    return out[np.asarray(codes)]


def _sparse_categorical(
    n: int, rows: npt.NDArray[np.int64], values: npt.NDArray[np.object_]
) -> pd.Categorical:
    """A categorical that is "" everywhere except `rows` (factorizing only those)."""
    codes, uniques = (
        pd.factorize(np.asarray(values, dtype=object))
        if rows.size
        else (np.zeros(0, np.int64), np.zeros(0, dtype=object))
    )
    return _sparse_from_codes(n, rows, np.asarray(codes), [str(u) for u in uniques])


def _sparse_from_codes(
    n: int, rows: npt.NDArray[np.int64], row_codes: npt.NDArray[np.integer[Any]], labels: list[str]
) -> pd.Categorical:
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


def _distinct_inputs(
    frame: pd.DataFrame,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
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
            frame[column] = pd.Categorical.from_codes(
                values.cat.codes.to_numpy()[combo], dtype=values.dtype, validate=False
            )
        else:
            frame[column] = values.to_numpy()[combo]


_Decoded = tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int32], list[str], npt.NDArray[np.int64], npt.NDArray[Any]
]


def _decode(
    frame: pd.DataFrame, code: npt.NDArray[np.int8], images: dict[str, ElfImage]
) -> _Decoded:
    """Decode only where bytes exist and the answer matters: unclaimed samples
    (inline atomics, spin loops: `code` is updated) and helper samples (which path).
    Gives the decoded rows with their mnemonic codes and labels, and the helper
    rows with their paths."""
    names = list(CATEGORIES)
    helper_code = names.index("atomic_helper")
    none: _Decoded = (
        np.zeros(0, np.int64),
        np.zeros(0, np.int32),
        [],
        np.zeros(0, np.int64),
        np.empty(0, dtype=object),
    )
    if not images or not len(frame):
        return none
    candidates = np.flatnonzero((code < 0) | (code == helper_code))
    dso_known = np.array([str(d) in images for d in frame["dso"].cat.categories] + [False])
    candidates = candidates[dso_known[frame["dso"].cat.codes.to_numpy()[candidates]]]
    if not candidates.size:
        return none
    atomic, insn_codes, insn_labels, addresses = decode_rows(images, frame, candidates)
    unclaimed = code[candidates] < 0
    code[candidates[unclaimed & atomic]] = names.index("inline_atomic")
    # A spin loop holds its polling load (even an exclusive one): spin before atomic.
    spin = spin_rows(images, frame, candidates[unclaimed], addresses[unclaimed])
    code[candidates[unclaimed][spin]] = names.index("spin")
    path_rows, path_values = none[3], none[4]
    if (is_helper := ~unclaimed).any():
        path_rows = candidates[is_helper]
        path_values = helper_paths(images, frame, path_rows, addresses[is_helper])
    return candidates, insn_codes, insn_labels, path_rows, path_values


def _classify_rows(frame: pd.DataFrame, rules: list[Rule], images: dict[str, ElfImage]) -> None:
    n = len(frame)
    # Work on category codes: string arrays of a million rows are slow to build.
    names = list(CATEGORIES)
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

    insn_rows, insn_codes, insn_labels, path_rows, path_values = _decode(frame, code, images)
    code[code < 0] = names.index("work")
    frame["category"] = pd.Categorical.from_codes(code, categories=pd.Index(names), validate=False)
    frame["helper_op"] = _sparse_from_codes(n, helper_rows, helper_syms, ops)
    frame["helper_size"] = helper_size
    frame["helper_order"] = _sparse_from_codes(n, helper_rows, helper_syms, orders)
    frame["insn"] = _sparse_from_codes(n, insn_rows, insn_codes, insn_labels)
    frame["helper_path"] = _sparse_categorical(n, path_rows, path_values)
