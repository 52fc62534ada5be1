"""Means over the repetitions of one configuration, from stored runs: category
shares, and helpers and callers ranked by their mean share.

The run table of ``lseprof run``, the dashboard's group pages and nightly verdicts
all average here, so that one configuration shows the same figures everywhere. A
run counts when it is ok and has samples (category shares); a helper or caller it
lacks counts 0 there, as in ``lseprof diff`` (a repetition where no sample hit a
helper pulls its mean down rather than being left out).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from typing import TypeVar

from lseprof.results import CallerShare, HelperShare
from lseprof.store import RunRecord

_Entry = TypeVar("_Entry", HelperShare, CallerShare)


def sampled_runs(runs: Iterable[RunRecord]) -> list[RunRecord]:
    """The ok runs that have category shares (that is, analysed samples)."""
    return [r for r in runs if r.status == "ok" and r.categories]


def mean_categories(runs: Iterable[RunRecord]) -> dict[str, float]:
    """Category shares averaged over the sampled runs."""
    counted = sampled_runs(runs)
    result: dict[str, float] = {}
    for r in counted:
        for name, value in r.categories.items():
            if isinstance(value, int | float) and math.isfinite(value):
                result[str(name)] = result.get(str(name), 0.0) + float(value) / len(counted)
    return result


def _ranked(entries: Sequence[Sequence[_Entry]], key: Callable[[_Entry], Hashable]) -> list[_Entry]:
    merged: dict[Hashable, _Entry] = {}
    for run_entries in entries:
        for entry in run_entries:
            if entry.share is None:
                continue  # static call sites have no share to average
            slot = merged.get(key(entry)) or replace(entry, share=0.0)
            merged[key(entry)] = replace(
                slot, share=(slot.share or 0.0) + entry.share / len(entries)
            )
    return sorted(merged.values(), key=lambda e: (-(e.share or 0.0), str(key(e))))


def mean_helpers(runs: Iterable[RunRecord]) -> list[HelperShare]:
    """Helpers of the sampled runs, heaviest mean share first (one entry per symbol)."""
    return _ranked([r.helpers for r in sampled_runs(runs)], lambda h: h.symbol)


def mean_callers(runs: Iterable[RunRecord]) -> list[CallerShare]:
    """Callers of helpers, heaviest mean share first (one per helper and caller)."""
    return _ranked([r.helper_callers for r in sampled_runs(runs)], lambda c: (c.helper, c.caller))
