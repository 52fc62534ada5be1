"""What a reader must know before trusting a report's tables: how many samples stay
unnamed (and the option that would name them), and how far sampled addresses can be
trusted to be the instruction that ran (the helper path and instruction columns).

:func:`add_caveats` fills ``unnamed_share``, ``ip_precision`` and ``warnings`` of each
:class:`lseprof.results.Attribution` of a report; reporters show the warnings on the
report's first lines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lseprof import samples as S
from lseprof.readers.perf_data import SymbolFiles
from lseprof.results import UNNAMED_WARN_SHARE, Attribution

KERNEL = "[kernel.kallsyms]"
_NAMED_ELSEWHERE = 3  # objects listed in the warning


def add_caveats(sections: list[Attribution], capture: S.Capture, files: SymbolFiles) -> None:
    """Fill each section's caveats from the capture it was attributed from."""
    frame = capture.samples
    events = frame["event"].astype(object).to_numpy() if len(frame) else np.array([])
    for section in sections:
        part = frame[events == section.event] if len(sections) > 1 else frame
        section.ip_precision = _precision(part, capture)
        by_object = _unnamed_by_object(part)
        section.unnamed_share = float(sum(by_object.values()))
        if section.unnamed_share > UNNAMED_WARN_SHARE:
            section.warnings.append(_unnamed_warning(section, by_object, capture, files))
        if section.ip_precision == "block":
            section.warnings.append(
                "samples come from an emulated PMU (a virtual aarch64 CPU): each lands at "
                "the start of the translated block that ran, so the helper path and "
                "instruction columns are not measurements, and times are not hardware timing"
            )


def _precision(part: pd.DataFrame, capture: S.Capture) -> str | None:
    if len(part) and part["precise"].to_numpy().mean() > 0.5:
        return "exact"  # emulated guest code: qemu knows the instruction
    return capture.ip_precision


def _unnamed_by_object(part: pd.DataFrame) -> dict[str, float]:
    """Percent of the part's weight with no symbol, by object; largest first."""
    if not len(part):
        return {}
    weight = part["weight"].to_numpy()
    total = float(weight.sum())
    unnamed = part["symbol"].isin([S.UNKNOWN]).to_numpy()
    if total <= 0 or not unnamed.any():
        return {}
    sums = pd.Series(weight[unnamed]).groupby(part["dso"].astype(object).to_numpy()[unnamed]).sum()
    return {str(k): 100.0 * float(v) / total for k, v in sums.sort_values(ascending=False).items()}


def _unnamed_warning(
    section: Attribution, by_object: dict[str, float], capture: S.Capture, files: SymbolFiles
) -> str:
    where = ", ".join(
        f"{_short(d)} {v:.1f}%" for d, v in list(by_object.items())[:_NAMED_ELSEWHERE]
    )
    head = f"{section.unnamed_share:.1f}% of samples are unnamed ({where})"
    if capture.source_kind != "perf-data":
        return (
            f"{head}: perf could not name them where it printed this text; print it "
            "again there with --symfs DIR and --kallsyms FILE, or report the perf.data"
        )
    options = []
    objects = [Path(d) for d in by_object if Path(d).is_absolute()]
    if files.symfs is None and any(not p.is_file() for p in objects):
        options.append("--symfs DIR (a copy of the recording machine's root)")
    if files.symfs is not None or any(p.is_file() for p in objects):
        options.append("--binary FILE (a copy with symbols)")
    if KERNEL in by_object and files.kallsyms is None:
        options.append("--kallsyms FILE (its /proc/kallsyms, copied in the boot that recorded)")
    elsewhere = (
        f"recorded on {capture.arch}; " if capture.arch and capture.arch != _this_arch() else ""
    )
    if not options:
        return f"{head}: {elsewhere}perf found no symbols for them"
    return f"{head}: {elsewhere}name them with {' and '.join(options)}"


def _short(dso: str) -> str:
    return Path(dso).name if dso.startswith("/") else dso


def _this_arch() -> str:
    import platform

    return platform.machine()
