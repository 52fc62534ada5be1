"""The figures findings are conditions on, computed from an analysed profile: a
section (:class:`lseprof.results.Attribution`), its scheduler view where there is
one, and its samples table where it is at hand (a stored run has only its records:
then the heaviest functions stand for all of them).

Numbers are percentages of the section's samples unless said otherwise; None where
the profile cannot tell (no helpers' paths, no scheduler events, no item count).
Quotes are the text a finding's evidence cites (the heaviest function of a kind,
the path a lock was taken under).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lseprof.results import Attribution, OffCpuResult
from lseprof.symbols.atomic_names import parse_helper
from lseprof.symbols.mnemonics import classify_mnemonic, split

# What idle workers run when they yield or look for work (category spin).
YIELD_RE = re.compile(
    r"sched_yield|yield_now|osyield|SwitchToThread|finish_task_switch|^__?schedule\b|"
    r"^schedule\b|rayon_core::|crossbeam_(epoch|deque|utils::backoff)|gomp_team_barrier|"
    r"__kmp_(wait|barrier|hyper)|receive_or_steal_task|findRunnable|stealWork"
)

# Kernel lock slow paths (category lock by their own name, not by a callchain).
KERNEL_LOCK_RE = re.compile(
    r"spin_lock|spin_unlock|spin_trylock|queued_|_raw_|osq_|mutex|rwsem|__down|\bdown_|"
    r"percpu_down|percpu_rwsem|kvm_wait|pv_wait|spin_on_owner"
)


@dataclass
class Figures:
    """The figures of one section, and the quotes beside them."""

    values: dict[str, float | None] = field(default_factory=dict)
    quotes: dict[str, str] = field(default_factory=dict)

    def known(self, name: str) -> float | None:
        return self.values.get(name)


def _kernel(dso: str) -> bool:
    return dso.startswith("[kernel") or dso == "[kernel]" or dso.startswith("[k")


def _outline(section: Attribution) -> list[tuple[str, float, float | None, float | None]]:
    """(symbol, share, lse path share, llsc path share) of the outline-atomic helpers."""
    return [
        (h.symbol, h.share, h.lse_path_share, h.llsc_path_share)
        for h in section.helpers
        if parse_helper(h.symbol) is not None
    ]


def _sum(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(sum(known)) if known else None


def _lse_evidence(section: Attribution, lse_path: float | None) -> str | None:
    """Why the CPU has LSE, if the profile shows it: a helper took its LSE branch, or
    an inlined LSE instruction ran (it would have trapped on a CPU without LSE)."""
    if lse_path:
        return f"{lse_path:.2f}% of samples ran a helper's LSE path (its flag says the CPU has LSE)"
    for item in section.inline_atomics:
        found = classify_mnemonic(*split(item.insn))
        if item.share > 0 and found is not None and found.family == "lse":
            return f"LSE instructions ran inline ({item.insn} in {item.symbol})"
    for function in section.annotated:
        for atomic in function.atomics:
            if atomic.family == "lse" and atomic.percent and function.category != "atomic_helper":
                return f"LSE instructions ran inline ({atomic.insn} in {function.symbol})"
    return None


def _helper_figures(section: Attribution, out: Figures) -> None:
    outline = _outline(section)
    out.values["helper_share"] = float(sum(s for _, s, _, _ in outline))
    out.values["helper_lse_path_share"] = _sum([lse for *_, lse, _ in outline])
    out.values["helper_llsc_path_share"] = _sum([llsc for *_, llsc in outline])
    evidence = _lse_evidence(section, out.values["helper_lse_path_share"])
    out.values["lse_cpu"] = 1.0 if evidence else None
    if evidence:
        out.quotes["lse_evidence"] = evidence
    kernel = [h for h in section.helpers if h.symbol.startswith("__ll_sc_")]
    out.values["kernel_llsc_share"] = float(sum(h.share for h in kernel))
    heaviest = max(
        [*kernel, *(h for h in section.helpers if parse_helper(h.symbol))],
        key=lambda h: h.share,
        default=None,
    )
    out.quotes["top_helper"] = f"{heaviest.symbol} {heaviest.share:.2f}%" if heaviest else "-"


def _rows(section: Attribution, samples: pd.DataFrame | None) -> pd.DataFrame:
    """(symbol, dso, category, caller, share) per function of the section: from its
    samples table where at hand, else its heaviest functions."""
    if samples is None or not len(samples):
        return pd.DataFrame(
            {
                "symbol": [t.symbol for t in section.top_symbols],
                "dso": [t.dso for t in section.top_symbols],
                "category": [t.category or "work" for t in section.top_symbols],
                "caller": [""] * len(section.top_symbols),
                "share": [t.share for t in section.top_symbols],
            }
        )
    part = samples
    if "event" in samples and samples["event"].nunique() > 1:
        part = samples[samples["event"].astype(str) == section.event]
    total = float(part["weight"].sum()) or 1.0
    # Only spin and lock rows are read: a million-row table is not grouped whole.
    part = part[part["category"].isin(["spin", "lock"]).to_numpy()]
    grouped = part.groupby(["symbol", "dso", "category", "caller"], observed=True)["weight"].sum()
    frame = grouped.reset_index()
    frame["share"] = 100.0 * frame["weight"] / total
    return frame.astype({"symbol": str, "dso": str, "category": str, "caller": str})


def _heaviest(rows: pd.DataFrame, mask: np.ndarray) -> tuple[float, str, str]:
    """The share of the masked rows, their heaviest function and its heaviest caller."""
    chosen = rows[mask]
    if not len(chosen):
        return 0.0, "-", "-"
    by_symbol = chosen.groupby("symbol")["share"].sum().sort_values(ascending=False)
    top = str(by_symbol.index[0])
    callers = chosen[(chosen["symbol"] == top) & (chosen["caller"] != "")]
    caller = (
        str(callers.groupby("caller")["share"].sum().sort_values(ascending=False).index[0])
        if len(callers)
        else "callers this profile does not show"
    )
    return float(chosen["share"].sum()), f"{top} {by_symbol.iloc[0]:.2f}%", caller


def _sample_figures(section: Attribution, samples: pd.DataFrame | None, out: Figures) -> None:
    rows = _rows(section, samples)
    kernel = rows["dso"].map(_kernel).to_numpy(dtype=bool)
    yields = rows["symbol"].map(lambda s: YIELD_RE.search(s) is not None).to_numpy(dtype=bool)
    spin = (rows["category"] == "spin").to_numpy()
    named = rows["symbol"].map(lambda s: KERNEL_LOCK_RE.search(s) is not None)
    lock = (rows["category"] == "lock").to_numpy() & named.to_numpy(dtype=bool)
    out.values["yield_share"], out.quotes["top_yield"], _ = _heaviest(rows, spin & yields)
    out.values["user_spin_share"], out.quotes["top_spin"], _ = _heaviest(
        rows, spin & ~yields & ~kernel
    )
    share, top, path = _heaviest(rows, lock & kernel)
    out.values["kernel_lock_share"] = share
    out.quotes["top_kernel_lock"], out.quotes["kernel_lock_path"] = top, path


def _offcpu_figures(offcpu: OffCpuResult | None, out: Figures) -> None:
    items = offcpu.items if offcpu is not None else None
    out.values["items"] = items
    out.values["wakeups"] = offcpu.wakeups if offcpu is not None else None
    out.values["wakeups_per_item"] = offcpu.wakeups_per_item if offcpu is not None else None
    waits = (
        float(sum(p.count for p in offcpu.blocking_paths if p.reason == "futex"))
        if offcpu is not None and offcpu.blocking_paths
        else None
    )
    out.values["futex_waits"] = waits
    out.values["futex_waits_per_item"] = waits / items if waits is not None and items else None


def figures_of(
    section: Attribution,
    offcpu: OffCpuResult | None = None,
    samples: pd.DataFrame | None = None,
) -> Figures:
    """Every figure the findings table may name, for one section."""
    out = Figures()
    _helper_figures(section, out)
    _sample_figures(section, samples, out)
    _offcpu_figures(offcpu, out)
    out.values["emulator_share"] = section.emulator_share
    out.values["guest_code_share"] = section.emulated_share if section.emulator_share else None
    return out
