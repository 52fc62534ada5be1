"""Annotated functions (``perf annotate`` listings, :class:`lseprof.samples.Listing`)
read instruction by instruction: which are atomics (LSE ``cas*``, ``ldadd*``,
``ldset*``, ``ldclr*``, ``ldeor*``, ``swp*``; exclusive ``ldxr``/``stxr``; x86
``lock`` and ``xchg``), which lie in spin loops, and for an outline-atomic helper
which of its paths (LSE instruction, LL/SC loop, flag test) each is on.

The listing's rows in the samples table (one per instruction with samples) are
classified here, after the name rules: where the rules left a function ``work``, an
instruction in a spin loop is ``spin``, an atomic (or the instruction after one,
where interrupt skid puts its samples, as for decoded samples) ``inline_atomic``.
A function the rules name keeps their category (a helper stays ``atomic_helper``,
``pl_wait_unlock_long`` stays ``lock``); its atomics and loops are still listed.

Percentages are the function's own as printed; ``share`` is of the section's
samples. A listing without percentages gets none (its instructions, atomics, loops
and helper paths are what it shows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lseprof import samples as S
from lseprof.analysis.classify import Rule, helper_path_at
from lseprof.results import (
    CATEGORIES,
    AnnotatedAtomic,
    AnnotatedFunction,
    AnnotatedLine,
    Attribution,
    SpinLoop,
)
from lseprof.symbols.atomic_names import parse_helper
from lseprof.symbols.insn import InsnClass
from lseprof.symbols.mnemonics import branch_target, classify_mnemonic, guess_arch, split
from lseprof.symbols.spin_loops import Insn, find_spin_loops


@dataclass
class _Read:
    """A listing's instructions with what each is."""

    lines: list[S.ListingLine]  # the instructions only
    arch: str
    atomics: list[InsnClass | None]
    kinds: list[str | None]
    paths: list[str | None]
    loops: list[tuple[int, int, str, bool]]  # first, last (indexes), hint, polls


def _helper_paths(symbol: str, atomics: list[InsnClass | None]) -> list[str | None]:
    """Per instruction of an outline-atomic helper, its path (as for decoded samples,
    :func:`lseprof.analysis.classify.helper_path_at`, interrupt-driven): instructions
    are 4 bytes apart on aarch64, so indexes stand for addresses."""
    lse = next((n for n, a in enumerate(atomics) if a is not None and a.family == "lse"), None)
    if parse_helper(symbol) is None or lse is None:
        return [None] * len(atomics)
    return [helper_path_at(lse, lse + 2, n, exact=False) for n in range(len(atomics))]


def _read(listing: S.Listing) -> _Read:
    lines = [line for line in listing.lines if line.kind == "insn"]
    parts = [split(line.text) for line in lines]
    arch = guess_arch(parts)
    atomics = [classify_mnemonic(m, o) for m, o in parts]
    insns = [
        Insn(line.address, m, o, branch_target(m, o))
        for line, (m, o) in zip(lines, parts, strict=True)
    ]
    loops = [(x.first, x.last, x.hint, x.polls) for x in find_spin_loops(insns, arch)]
    kinds: list[str | None] = [
        "atomic" if a is not None else ("skid" if n and atomics[n - 1] is not None else None)
        for n, a in enumerate(atomics)
    ]
    for first, last, _hint, _polls in loops:
        kinds[first : last + 1] = ["spin"] * (last - first + 1)
    return _Read(lines, arch, atomics, kinds, _helper_paths(listing.symbol, atomics), loops)


def _pct(values: list[float | None], listing: S.Listing) -> float | None:
    return sum(v or 0.0 for v in values) if listing.percentages else None


def _helper(listing: S.Listing, read: _Read) -> dict[str, object]:
    name = parse_helper(listing.symbol)
    if name is None:
        return {}
    families = {a.family for a in read.atomics if a is not None}
    flag_test = any(
        line.text.split(None, 1)[0] in ("ldrb", "ldarb") for line in read.lines[:6]
    ) and any(p == "flag" for p in read.paths)
    out: dict[str, object] = {"op": name.op, "size": name.size, "order": name.order}
    for path in ("lse", "llsc", "flag"):
        pcts = [line.percent for line, p in zip(read.lines, read.paths, strict=True) if p == path]
        out[f"{path}_path_percent"] = _pct(pcts, listing)
    out["has_lse_path"] = "lse" in families
    out["has_llsc_path"] = bool(families & {"exclusive_load", "exclusive_store"})
    out["has_flag_test"] = flag_test
    return out


def _function(listing: S.Listing, read: _Read, unit: float, total: float) -> AnnotatedFunction:
    def share(percent: float | None) -> float | None:
        return percent * unit * 100.0 / total if percent is not None and total > 0 else None

    pct = [line.percent if listing.percentages else None for line in read.lines]
    pct = [p if p is not None or not listing.percentages else 0.0 for p in pct]
    instructions = [
        AnnotatedLine(
            line.address,
            line.text,
            p,
            share(p),
            kind,
            atomic.family if atomic is not None else None,
            path,
        )
        for line, p, kind, atomic, path in zip(
            read.lines, pct, read.kinds, read.atomics, read.paths, strict=True
        )
    ]
    atomics = [
        AnnotatedAtomic(
            line.address,
            atomic.mnemonic,
            atomic.family,
            atomic.op,
            atomic.size,
            atomic.order,
            pct[n],
            pct[n + 1] if n + 1 < len(pct) and read.kinds[n + 1] == "skid" else None,
        )
        for n, (line, atomic) in enumerate(zip(read.lines, read.atomics, strict=True))
        if atomic is not None
    ]
    loops = [
        SpinLoop(
            read.lines[first].address,
            read.lines[last].address,
            hint,
            polls,
            last - first + 1,
            _pct(pct[first : last + 1], listing),
        )
        for first, last, hint, polls in read.loops
    ]
    samples = float(listing.samples) if listing.samples is not None else None
    return AnnotatedFunction(
        listing.symbol or "(annotated lines)",
        listing.dso,
        listing.event,
        read.arch,
        listing.layout,
        samples,
        share(_pct(pct, listing)),
        listing.percentages,
        None,
        _helper(listing, read),
        atomics,
        loops,
        instructions,
    )


def _rule_category(rules: list[Rule], symbol: str, dso: str) -> str:
    rule = next((r for r in rules if r.matches(symbol, dso, "")), None)
    return rule.category if rule is not None else "work"


def _classify_rows(frame: pd.DataFrame, listing: S.Listing, read: _Read) -> None:
    """The listing's rows: spin and inline_atomic where the rules left work; the
    decoded mnemonic and helper path beside them."""
    rows = np.array([line.row for line in read.lines], dtype=np.int64)
    has = rows >= 0
    if not has.any():
        return
    category = np.array(frame["category"].astype(object), dtype=object)
    insn = np.array(frame["insn"].astype(object), dtype=object)
    path = np.array(frame["helper_path"].astype(object), dtype=object)
    for n in np.flatnonzero(has).tolist():
        row, kind = int(rows[n]), read.kinds[n]
        if category[row] == "work" and kind is not None:
            category[row] = "spin" if kind == "spin" else "inline_atomic"
        atomic = read.atomics[n] or (read.atomics[n - 1] if kind == "skid" else None)
        insn[row] = atomic.mnemonic if atomic is not None else insn[row]
        path[row] = read.paths[n] or path[row]
    frame["category"] = pd.Categorical(category, categories=pd.Index(CATEGORIES))
    frame["insn"] = pd.Categorical(insn)
    frame["helper_path"] = pd.Categorical(path)


def read_listings(capture: S.Capture, rules: list[Rule]) -> list[AnnotatedFunction]:
    """The capture's annotated functions; their rows in the (classified) samples
    table are classified by instruction (see the module docstring)."""
    frame = capture.samples
    totals = frame.groupby(frame["event"].astype(object))["weight"].sum().to_dict()
    out = []
    for listing in capture.listings:
        read = _read(listing)
        _classify_rows(frame, listing, read)
        unit = listing.samples / 100.0 if listing.samples else 1.0
        total = float(totals.get(listing.event, 0.0))
        function = _function(
            listing, read, unit, total if any(line.row >= 0 for line in read.lines) else 0.0
        )
        function.category = _rule_category(rules, listing.symbol, listing.dso)
        out.append(function)
    return out


def attach(sections: list[Attribution], functions: list[AnnotatedFunction]) -> None:
    """Each annotated function into its event's section (lines pasted with a report,
    of no event, into the first)."""
    by_event = {s.event: s for s in sections}
    for function in functions:
        section = by_event.get(function.event) or (sections[0] if sections else None)
        if section is not None:
            section.annotated.append(function)
