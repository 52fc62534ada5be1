"""Aggregate a classified samples table into one :class:`Attribution` per event.

Every share is a percentage of the event section's total weight (sample count,
period, or report percentage; see :mod:`lseprof.samples`), so category shares
always add up to 100.

Helper callers come from callchains (the ``caller`` column) where the input has
them. Emulated runs have no guest callchain (qemu's JIT frames end the host
stack), so for helpers without one the callers are read from the binary itself:
the functions holding a ``bl`` to the helper, ranked by how hot each is in the
profile. A helper with a single calling function gets that function with the
helper's whole share; with several, they are listed without a share
(``basis: "static"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.analysis.emulation_shares import emulation_shares, guest_mask, of_guest
from lseprof.results import (
    CATEGORIES,
    Attribution,
    CallerShare,
    HelperShare,
    InlineAtomic,
    SymbolShare,
)
from lseprof.symbols import aarch64_decode as a64
from lseprof.symbols.elf import ElfImage

MAX_STATIC_CALLERS = 8
# Inputs whose rows are printed shares, not samples: their sample count is printed.
_PRINTED_SHARES = ("perf-report", "perf-annotate")


def _items(series: pd.Series[Any]) -> list[tuple[tuple[Any, ...], float]]:
    """(group key tuple, value) pairs of a groupby result over several columns."""
    return [(tuple(k) if isinstance(k, tuple) else (k,), float(v)) for k, v in series.items()]


def _ranked(series: pd.Series[float], top: int | None = None) -> pd.Series[float]:
    """Heaviest first, equal weights in the order of their names: the same samples
    rank the same whatever order they were read in (a profile cut to a time range and
    the same range of the whole profile give one report)."""
    keys = [
        np.asarray([str(k) for k in series.index.get_level_values(i)], dtype=object)
        for i in range(series.index.nlevels)
    ]
    order = np.lexsort([*reversed(keys), -series.to_numpy(dtype=np.float64)])
    ranked = series.iloc[order]
    return ranked if top is None else ranked.head(top)


def _sum_by(
    frame: pd.DataFrame, columns: list[str], where: npt.NDArray[np.bool_] | None = None
) -> pd.Series[float]:
    """``frame[where].groupby(columns, observed=True)["weight"].sum()`` for categorical
    columns, in the same order (by category codes), as a Series keyed by the values (a
    tuple of them for several columns): one bincount over the codes instead of pandas'
    general grouping (and no copy of the selected rows), which costs several passes
    over a million rows."""
    weight = frame["weight"].to_numpy(dtype=np.float64)
    cats = [frame[c].cat.categories for c in columns]
    sizes = [len(c) for c in cats]
    key = np.zeros(len(frame), np.int64)
    valid = np.ones(len(frame), np.bool_) if where is None else where.copy()
    for column, size in zip(columns, sizes, strict=True):
        codes = frame[column].cat.codes.to_numpy()
        valid &= codes >= 0  # groupby drops missing keys
        key = key * size + codes
    key, weight = key[valid], weight[valid]
    span = int(np.prod(sizes, dtype=np.float64)) if sizes else 0
    if span <= max(4 * key.size, 1 << 16):
        sums = np.bincount(key, weights=weight, minlength=span)
        groups = np.flatnonzero(np.bincount(key, minlength=span))
        sums = sums[groups]
    else:  # a sparse key space: number the keys that occur first
        codes, uniq = pd.factorize(key, sort=True)
        sums = np.bincount(np.asarray(codes), weights=weight, minlength=len(uniq))
        groups = np.asarray(uniq)
    labels: list[Any] = []
    parts = []
    rest = groups
    for size in reversed(sizes):
        parts.append(rest % size)
        rest = rest // size
    parts.reverse()
    values = [np.asarray(c, dtype=object)[p] for c, p in zip(cats, parts, strict=True)]
    labels = values[0].tolist() if len(columns) == 1 else list(zip(*values, strict=True))
    return pd.Series(
        sums, index=pd.Index(labels, dtype=object, tupleize_cols=False), dtype=np.float64
    )


def _pct(part: float, total: float) -> float:
    return 100.0 * part / total if total > 0 else 0.0


def static_callers(image: ElfImage, helper: str) -> list[tuple[str, int]]:
    """Functions holding a direct call (`bl`) to `helper`, with their call-site counts."""
    start = image.symbols.address_of(helper)
    if start is None or image.arch != "aarch64":
        return []
    found: dict[str, int] = {}
    for section in image.code_sections:
        data = section.data[: len(section.data) // 4 * 4]
        branches = a64.find_branches(a64.as_words(data), section.address)
        hits = branches.link & (branches.target == np.uint64(start))
        if not hits.any():
            continue
        sites = np.uint64(section.address) + branches.index[hits].astype(np.uint64) * np.uint64(4)
        names, _ = image.symbols.lookup(sites)
        for name in names.tolist():
            key = str(name) if name is not None else S.UNKNOWN
            found[key] = found.get(key, 0) + 1
    return sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))


def attribute(
    capture: S.Capture,
    images: dict[str, ElfImage] | None = None,
    top: int = 15,
    notes: list[str] | None = None,
) -> list[Attribution]:
    """One Attribution per event section, in the order the events first appear."""
    frame = capture.samples
    images = images or {}
    events = capture.events or [str(e) for e in pd.unique(frame["event"].astype(object))]
    results = []
    for event in events:
        part = frame[frame["event"].astype(object) == event] if len(events) > 1 else frame
        results.append(_one(capture, part, event, images, top, list(notes or [])))
    return results


def _one(
    capture: S.Capture,
    part: pd.DataFrame,
    event: str,
    images: dict[str, ElfImage],
    top: int,
    notes: list[str],
) -> Attribution:
    weight = part["weight"].to_numpy(dtype=np.float64)
    total = float(weight.sum())
    by_cat = _sum_by(part, ["category"])
    categories = {c: _pct(float(by_cat.get(c, 0.0)), total) for c in CATEGORIES}
    if total > 0:
        # Summing floats can leave 99.99999; the invariant is exact 100 by construction.
        drift = 100.0 - sum(categories.values())
        biggest = max(categories, key=lambda c: categories[c])
        categories[biggest] += drift

    if capture.source_kind in _PRINTED_SHARES:
        samples = float(capture.sample_counts.get(event, 0))
        exact = bool(capture.sample_counts_exact.get(event, False))
    else:
        samples = float(len(part))
        exact = True

    category = part["category"].cat.codes.to_numpy()
    names = list(part["category"].cat.categories)
    is_helper = (
        category == names.index("atomic_helper")
        if "atomic_helper" in names
        else np.zeros(len(part), np.bool_)
    )
    # Only the columns read below: a copy of every column of a big share of a million
    # rows costs more than the sums.
    helper_rows = part.loc[
        is_helper,
        [
            "symbol",
            "dso",
            "caller",
            "weight",
            "helper_path",
            "helper_op",
            "helper_size",
            "helper_order",
        ],
    ]
    helpers: list[HelperShare] = []
    for (symbol, dso), rows in helper_rows.groupby(["symbol", "dso"], observed=True):
        w = rows["weight"].to_numpy(dtype=np.float64)
        paths = rows["helper_path"].astype(object).to_numpy()
        known_path = bool((paths != "").any())
        first = rows.iloc[0]

        def path_share(
            name: str, w: np.ndarray = w, paths: np.ndarray = paths, known: bool = known_path
        ) -> float | None:
            return _pct(float(w[paths == name].sum()), total) if known else None

        helpers.append(
            HelperShare(
                symbol=str(symbol),
                op=str(first["helper_op"]) or None,
                size=int(first["helper_size"]) or None,
                order=str(first["helper_order"]) or None,
                share=_pct(float(w.sum()), total),
                samples=float(len(rows))
                if capture.source_kind not in _PRINTED_SHARES
                else float(w.sum()),
                lse_path_share=path_share("lse"),
                llsc_path_share=path_share("llsc"),
                flag_path_share=path_share("flag"),
                dso=str(dso),
            )
        )
    helpers.sort(key=lambda h: (-h.share, h.symbol, h.dso or ""))

    callers = _helper_callers(capture, helper_rows, helpers, total, images, part)

    emu = emulation_shares(part)
    sym = _sum_by(part, ["symbol", "dso", "category"])
    sym = _ranked(sym, top)
    in_guest = dict(_items(_sum_by(part, ["symbol", "dso", "category"], guest_mask(part))))
    top_symbols = [
        SymbolShare(
            str(k[0]),
            str(k[1]),
            str(k[2]),
            _pct(float(w), total),
            guest_share=of_guest(_pct(in_guest[k], total), emu) if k in in_guest else None,
        )
        for k, w in _items(sym)
    ]
    for helper in helpers:
        helper.guest_share = of_guest(helper.share, emu)

    is_inline = (
        category == names.index("inline_atomic")
        if "inline_atomic" in names
        else np.zeros(len(part), np.bool_)
    )
    inline_list = []
    if is_inline.any():
        by_insn = _sum_by(part, ["symbol", "insn"], is_inline)
        by_insn = _ranked(by_insn, top)
        inline_list = [
            InlineAtomic(str(k[0]), str(k[1]), _pct(float(w), total)) for k, w in _items(by_insn)
        ]

    # Guest code, run directly or by qemu on its behalf (see samples.py: precise).
    guest = part["precise"].to_numpy() | part["emulated"].to_numpy()
    emulated = float(weight[guest].sum()) if len(part) else 0.0
    if part["truncated"].to_numpy().any():
        notes.append(
            "some symbol names were cut short by perf report's column widths (-w); "
            "rules may miss them; re-run perf report without -w for exact names"
        )
    return Attribution(
        source_kind=capture.source_kind,
        event=event,
        samples=samples,
        samples_exact=exact,
        lost_samples=capture.lost_samples.get(event),
        categories=categories,
        atomic_helper_share=categories["atomic_helper"],
        helpers=helpers,
        helper_callers=callers,
        top_symbols=top_symbols,
        inline_atomics=inline_list,
        emulated_share=_pct(emulated, total),
        emulator_share=emu.emulator_share if emu else None,
        guest_named_share=emu.guest_named_share if emu else None,
        guest_categories=emu.guest_categories if emu else {},
        unknown_lines=capture.unknown_lines,
        unknown_examples=list(capture.unknown_examples),
        perf_version=capture.perf_version,
        path=capture.path,
        notes=notes,
    )


def _helper_callers(
    capture: S.Capture,
    rows: pd.DataFrame,
    helpers: list[HelperShare],
    total: float,
    images: dict[str, ElfImage],
    section: pd.DataFrame,
) -> list[CallerShare]:
    out: list[CallerShare] = []
    if not len(rows):
        return out
    basis = "call-graph" if capture.source_kind == "perf-report" else "callchain"
    with_caller = rows[rows["caller"].astype(object) != ""]
    covered = set()
    if len(with_caller):
        edges = _sum_by(with_caller, ["symbol", "caller"])
        for (helper, caller), w in _items(_ranked(edges)):
            out.append(CallerShare(str(helper), str(caller), _pct(float(w), total), basis))
            covered.add(str(helper))
    # Helpers with no callchain (emulated runs, or recorded without -g): static call
    # sites, ranked by how hot each calling function is in this profile. That is a
    # proxy, so there is no share unless the helper has a single caller.
    own = _sum_by(section, ["symbol"])
    for helper in helpers:
        if helper.symbol in covered:
            continue
        image = images.get(helper.dso or "")
        if image is None:
            continue
        sites = static_callers(image, helper.symbol)
        single = len(sites) == 1
        ranked = sorted(sites, key=lambda kv: (-float(own.get(kv[0], 0.0)), -kv[1], kv[0]))
        hot = [kv for kv in ranked if float(own.get(kv[0], 0.0)) > 0]
        for caller, _count in (hot or ranked)[:MAX_STATIC_CALLERS]:
            out.append(
                CallerShare(
                    helper.symbol,
                    caller,
                    helper.share if single else None,
                    "static",
                    dso=helper.dso,
                )
            )
    return out
