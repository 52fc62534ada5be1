"""Whole stacks of a report, every frame named as ``lseprof report`` names its rows:
what folded stacks, speedscope, pprof, the flame graph and the differential flame
graph are made from.

The samples table keeps each sample's callchain as a stack index
(:mod:`lseprof.samples`). A stack's first frame is the sample's own row (its
``symbol``, as classified and reported), the second its ``caller`` where the table
has one; the frames beyond are named by the report's own
:class:`~lseprof.symbols.symbolize.Symbolizer` (the one that named the rows: guest
code through the recorded mappings and build-ids, stripped code through
``--binary``/``--symfs``), so an exported frame never shows ``guest-0x...`` where
the report names the address. Names are demangled as the report's tables show them.
Inputs without callchains (``perf report`` text) give ``caller;symbol`` stacks.

Folded stacks are FlameGraph's ``comm;root;...;leaf COUNT`` lines (the command is
the root frame); the differential form puts two counts on each line,
``root;...;leaf COUNT_A COUNT_B``, with A's counts scaled to B's total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.errors import LseprofError
from lseprof.readers.perfmap import GUEST_PREFIX
from lseprof.symbols.demangle import demangle_all

if TYPE_CHECKING:
    from lseprof.analysis.pipeline import Report

JIT_FRAME = "[jit]"  # JIT code that no perf map entry names (qemu's own generated code)
# Emulated guest code no guest object names (anonymous guest memory, such as the vdso
# qemu gives its guest): one frame, not one per address.
GUEST_FRAME = "[guest code]"
_KEYS = (
    "stack",
    "pid",
    "comm",
    "symbol",
    "dso",
    "caller",
    "caller_dso",
    "category",
    "helper_op",
    "helper_size",
    "helper_order",
    "helper_path",
)


@dataclass(frozen=True)
class Frame:
    """One named frame of a stack: the name shown (demangled), the name as recorded,
    and its object."""

    name: str
    raw: str
    dso: str


@dataclass
class StackSamples:
    """The samples of one event that share a whole stack and a classification."""

    frames: tuple[Frame, ...]  # the sampled frame first, outwards
    comm: str
    samples: int
    weight: float
    category: str = ""
    helper_op: str = ""
    helper_size: int = 0
    helper_order: str = ""
    helper_path: str = ""

    def folded(self) -> str:
        """``comm;root;...;leaf``."""
        names = [
            self.comm.replace(";", ":") or S.UNKNOWN,
            *(f.name.replace(";", ":") for f in reversed(self.frames)),
        ]
        return ";".join(names)


def _shown(raw: str, dso: str) -> str:
    """A frame's name as exports show it before demangling: unnamed code is named after
    its object, qemu's unmapped JIT code and unnamed guest code are one frame each."""
    if raw.startswith(GUEST_PREFIX):
        return GUEST_FRAME
    if raw != S.UNKNOWN:
        return raw
    base = Path(dso).name if dso else ""
    if base.startswith("perf-") and base.endswith(".map"):
        return JIT_FRAME
    return f"[{base}]" if base and not base.startswith("[") else (dso or S.UNKNOWN)


def _frames_table(report: Report, pairs: list[tuple[int, int]]) -> pd.DataFrame:
    """A samples-table layout of the stack frames (pid, frame index) to name: the
    symbolizer names it as it named the rows."""
    frames = report.capture.stack_frames
    chosen = [frames[i] for _, i in pairs]
    n = len(chosen)
    text = [""] * n
    return S.make_samples(
        n,
        report.capture.source_kind,
        event=pd.Categorical(text),
        comm=pd.Categorical(text),
        symbol=pd.Categorical([f.symbol for f in chosen]),
        dso=pd.Categorical([f.dso for f in chosen]),
        caller=pd.Categorical(text),
        caller_dso=pd.Categorical(text),
        pid=np.array([p for p, _ in pairs], np.int64),
        ip=np.array([f.ip for f in chosen], np.uint64),
        symoff=np.array([f.symoff for f in chosen], np.int64),
    )


def _name_frames(
    report: Report, pairs: list[tuple[int, int]]
) -> dict[tuple[int, int], tuple[str, str]]:
    """(pid, frame index) -> (recorded name, object), named by the report's symbolizer."""
    if not pairs:
        return {}
    table = _frames_table(report, pairs)
    if report.symbolizer is not None:
        report.symbolizer.name(table, notes=[], frames=True)
    names = table["symbol"].astype(object).to_numpy()
    dsos = table["dso"].astype(object).to_numpy()
    return {pair: (str(names[i]), str(dsos[i])) for i, pair in enumerate(pairs)}


def _groups(frame: pd.DataFrame) -> pd.DataFrame:
    """The samples grouped by whole stack and classification: one row each, with the
    number of samples and their weight."""
    keys = [k for k in _KEYS if k in frame.columns]
    grouped = frame.groupby(keys, observed=True, sort=False, dropna=False)["weight"]
    return grouped.agg(["size", "sum"]).reset_index()


def stacks_of(report: Report, event: str | None = None) -> list[StackSamples]:
    """The report's samples of `event` (every event when None) by whole stack."""
    frame = report.samples
    if event is not None and len(report.events) > 1:
        frame = frame[(frame["event"].astype(object) == event).to_numpy()]
    groups = _groups(frame)
    stacks = report.capture.stacks
    deeper = sorted(
        {
            (int(pid), index)
            for sid, pid in zip(groups["stack"], groups["pid"], strict=True)
            if sid >= 0
            for index in stacks[sid][1:]
        }
    )
    named = _name_frames(report, deeper)
    rows: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()} for row in groups.to_dict("records")
    ]
    raw = _raw_stacks(rows, stacks, named)
    readable = demangle_all(sorted({_shown(r, d) for frames in raw for r, d in frames}))
    return [_stack_samples(row, frames, readable) for row, frames in zip(rows, raw, strict=True)]


def _raw_stacks(
    rows: list[dict[str, Any]],
    stacks: list[tuple[int, ...]],
    named: dict[tuple[int, int], tuple[str, str]],
) -> list[list[tuple[str, str]]]:
    """Each group's frames as (recorded name, object), the sampled frame first: the row's
    own symbol and caller, then the named frames beyond."""
    out = []
    for row in rows:
        frames = [(str(row["symbol"]), str(row["dso"]))]
        sid = int(row["stack"]) if "stack" in row else -1
        rest = stacks[sid][1:] if sid >= 0 else ()
        caller = str(row.get("caller") or "")
        if caller:
            frames.append((caller, str(row.get("caller_dso") or "")))
            rest = rest[1:]
        frames += [named[(int(row["pid"]), index)] for index in rest]
        out.append(frames)
    return out


def _stack_samples(
    row: dict[str, Any], frames: list[tuple[str, str]], readable: dict[str, str]
) -> StackSamples:
    def text(key: str) -> str:
        value = row.get(key)
        return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)

    return StackSamples(
        tuple(Frame(readable[_shown(r, d)], r, d) for r, d in frames),
        text("comm"),
        int(row["size"]),
        float(row["sum"]),
        text("category"),
        text("helper_op"),
        int(row.get("helper_size") or 0),
        text("helper_order"),
        text("helper_path"),
    )


def folded(report: Report, event: str | None = None, by_weight: bool = False) -> dict[str, float]:
    """``comm;root;...;leaf`` -> samples, as FlameGraph counts; with `by_weight`, their
    weight (the period: what the report's shares are of). A ``perf report`` text's rows
    always count their weight, the printed percent."""
    by_weight = by_weight or report.capture.source_kind == "perf-report"
    counts: dict[str, float] = {}
    for stack in stacks_of(report, event):
        key = stack.folded()
        counts[key] = counts.get(key, 0.0) + (stack.weight if by_weight else stack.samples)
    return counts


def helper_names(stacks: Iterable[StackSamples]) -> set[str]:
    """The names of the sampled frames classified as outline-atomic helpers."""
    return {s.frames[0].name for s in stacks if s.category == "atomic_helper"}


# --------------------------------------------------------------------------- differential


@dataclass
class FoldedDiff:
    """Both sides' stacks, A scaled to B's sample total (see :func:`differential`)."""

    stacks: list[tuple[str, int, int, int]]  # stack, A raw, A scaled to B's total, B
    total_a: int  # A's samples as recorded
    total_b: int  # B's samples (the scaled A column adds up to this too)
    helper_frames: set[str] = field(default_factory=set)
    event: str | None = None

    def lines(self) -> Iterable[str]:
        """The two-column lines: stack, A (scaled), B."""
        for stack, _raw, scaled, b in self.stacks:
            yield f"{stack} {scaled} {b}"


def scale_counts(counts: npt.ArrayLike, target: int) -> npt.NDArray[np.int64]:
    """``counts`` scaled to add up to exactly ``target`` (largest-remainder rounding)."""
    values = np.asarray(counts, dtype=np.float64)
    total = float(values.sum())
    if total <= 0 or target <= 0:
        return np.zeros(values.size, np.int64)
    exact = values * (target / total)
    floor = np.floor(exact)
    short = int(target - floor.sum())
    if short > 0:
        order = np.argsort(-(exact - floor), kind="stable")
        floor[order[:short]] += 1
    result: npt.NDArray[np.int64] = floor.astype(np.int64)
    return result


def differential(
    a: Mapping[str, float],
    b: Mapping[str, float],
    helper_frames: Iterable[str] = (),
    event: str | None = None,
) -> FoldedDiff:
    """Both sides on one list, A's counts scaled to B's total.

    Scaling A (not B) keeps B's counts as recorded, and B's counts are what a
    differential flame graph draws as widths; it is what difffolded's ``-n`` does.
    Rounding is largest-remainder, so the A column adds up to B's total exactly.
    """
    label = f" of {event}" if event else ""
    if sum(b.values()) == 0:
        raise LseprofError(f"B has no samples{label} to fold; check that it was recorded with perf")
    if sum(a.values()) == 0:
        raise LseprofError(f"A has no samples{label} to fold; check that it was recorded with perf")
    keys = sorted(set(a) | set(b))
    raw_a = np.array([round(a.get(k, 0)) for k in keys], dtype=np.int64)
    raw_b = np.array([round(b.get(k, 0)) for k in keys], dtype=np.int64)
    scaled = scale_counts(raw_a, int(raw_b.sum()))
    rows = list(zip(keys, raw_a.tolist(), scaled.tolist(), raw_b.tolist(), strict=True))
    return FoldedDiff(rows, int(raw_a.sum()), int(raw_b.sum()), set(helper_frames), event)


def write_folded(path: Path, diff: FoldedDiff, header: Sequence[str] = ()) -> None:
    """Write the two-column file; ``header`` lines go first as ``# `` comments.

    FlameGraph's tools skip lines that do not end in a count, so comment lines
    must not end in a digit: each gets a closing word.
    """
    lines = [f"# {line} (lseprof)" for line in header]
    lines.extend(diff.lines())
    try:
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise LseprofError(f"cannot write {path} ({exc.strerror}); check the path") from None
