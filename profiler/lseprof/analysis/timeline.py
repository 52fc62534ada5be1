"""A profile over time: FlameScope's sub-second heat map and a per-thread timeline.

The heat map (:func:`heat_map`) is FlameScope's: one column per second, one row per
sub-second slice (50 rows of 20 ms), each cell the number of samples that fell in
it, for all samples and for each category (helper, spin, futex... over time).
Seconds count from the profile's first sample, the same origin as
``--time-range``, so a range read off the map is the range to pass.

The timeline (:func:`timeline`) has a track per thread: samples per bin (on CPU)
and, where the profile has scheduler events, off-CPU seconds per bin by reason,
from the spans the off-CPU walk saw (:mod:`lseprof.analysis.offcpu`).

Both need the samples' ``time`` column (the perf.data reader fills it when asked).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof.errors import LseprofError
from lseprof.results import CATEGORIES, REASONS, HeatMap, ThreadTrack, Timeline
from lseprof.samples import Capture

ROWS = 50  # FlameScope's: 20 ms per cell
TIMELINE_BINS = 200
MAX_TRACKS = 64
NS = 1_000_000_000


def _offsets(capture: Capture, rows: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Seconds from the profile's first sample, per row."""
    times = rows["time"].to_numpy()
    if not np.isfinite(times).any():
        raise LseprofError(
            f"{capture.path} has no sample times; the heat map and timeline need a "
            "perf.data, or perf script text with its time field"
        )
    first = capture.first_ns / NS if capture.first_ns is not None else float(np.nanmin(times))
    return np.asarray(times - first, np.float64)


def _span(capture: Capture, offsets: npt.NDArray[np.float64]) -> tuple[float, float]:
    """The stretch the views cover: the --time-range window, else the samples'."""
    if capture.window_ns is not None and capture.first_ns is not None:
        return (
            (capture.window_ns[0] - capture.first_ns) / NS,
            (capture.window_ns[1] - capture.first_ns) / NS,
        )
    finite = offsets[np.isfinite(offsets)]
    last = capture.last_ns
    end = (last - capture.first_ns) / NS if last is not None and capture.first_ns else finite.max()
    return 0.0, float(max(end, finite.max()))


def _grid(offsets: npt.NDArray[np.float64], first: int, columns: int) -> list[list[int]]:
    cell = np.floor(offsets * ROWS).astype(np.int64) - first * ROWS
    cell = cell[(cell >= 0) & (cell < columns * ROWS)]
    counts = np.bincount(cell, minlength=columns * ROWS).reshape(columns, ROWS)
    return [[int(v) for v in column] for column in counts]


def heat_map(capture: Capture, event: str) -> HeatMap:
    """The heat map of one event's samples (see the module docstring)."""
    samples = capture.samples
    rows = samples[samples["event"] == event]
    offsets = _offsets(capture, rows)
    start, end = _span(capture, offsets)
    first = math.floor(start)
    columns = max(1, math.floor(end) - first + 1)
    counts = {"all": _grid(offsets, first, columns)}
    if "category" in rows.columns:
        codes = np.asarray(rows["category"].cat.codes)
        names = [str(c) for c in rows["category"].cat.categories]
        for code, name in enumerate(names):
            if name in CATEGORIES and (codes == code).any():
                counts[name] = _grid(offsets[codes == code], first, columns)
    window = (start, end) if capture.window_ns is not None else None
    origin = (
        capture.first_ns / NS if capture.first_ns is not None else float(np.nanmin(rows["time"]))
    )
    return HeatMap(event, origin, first, columns, ROWS, 1.0, counts, window)


def timeline(
    capture: Capture,
    event: str,
    spans: Sequence[tuple[int, float, float, str]] = (),
    names: dict[int, str] | None = None,
) -> Timeline:
    """Per-thread tracks of one event's samples and off-CPU `spans` ((tid, from, to,
    reason), perf's timestamps in seconds), in TIMELINE_BINS bins over the profile."""
    samples = capture.samples
    rows = samples[samples["event"] == event]
    offsets = _offsets(capture, rows)
    start, end = _span(capture, offsets)
    bin_s = max((end - start) / TIMELINE_BINS, 1e-6)
    bins = max(1, math.ceil((end - start) / bin_s))
    first = (
        capture.first_ns / NS if capture.first_ns is not None else float(np.nanmin(rows["time"]))
    )
    tids = rows["tid"].to_numpy()
    order = pd.Series(tids).value_counts()
    names = dict(names or {})
    last = rows.drop_duplicates("tid", keep="last")
    for tid, comm in zip(last["tid"].tolist(), last["comm"].astype(str).tolist(), strict=True):
        names.setdefault(int(tid), comm)
    chosen = [int(t) for t in order.index[:MAX_TRACKS]]
    chosen += [t for t in dict.fromkeys(s[0] for s in spans) if t not in chosen][
        : max(0, MAX_TRACKS - len(chosen))
    ]
    by_tid: dict[int, list[tuple[int, float, float, str]]] = {}
    for span in spans:
        by_tid.setdefault(span[0], []).append(span)
    tracks = []
    for tid in sorted(chosen, key=lambda t: (names.get(t, ""), t)):
        index = np.floor((offsets[tids == tid] - start) / bin_s).astype(np.int64)
        index = index[(index >= 0) & (index < bins)]
        track = ThreadTrack(
            names.get(tid, "?"), tid, [int(v) for v in np.bincount(index, minlength=bins)]
        )
        track.off_cpu_s = off_cpu_bins(
            [s for s in spans if s[0] == tid], first + start, bin_s, bins
        )
        tracks.append(track)
    return Timeline(start, bin_s, bins, tracks)


def _covered(
    begin: npt.NDArray[np.float64], end: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """For each edge e, the total length of the spans [begin, end) left of e: the sum
    over spans starting before e of (e - begin), less (e - end) for those ended by e
    (sorted sums: no span-by-bin loop)."""
    b_sorted, e_sorted = np.sort(begin), np.sort(end)
    b_sum = np.concatenate([[0.0], np.cumsum(b_sorted)])
    e_sum = np.concatenate([[0.0], np.cumsum(e_sorted)])
    started = np.searchsorted(b_sorted, edges, "left")
    ended = np.searchsorted(e_sorted, edges, "right")
    covered: npt.NDArray[np.float64] = (started * edges - b_sum[started]) - (
        ended * edges - e_sum[ended]
    )
    return covered


def off_cpu_bins(
    spans: Sequence[tuple[int, float, float, str]], origin: float, bin_s: float, bins: int
) -> dict[str, list[float]]:
    """Off-CPU seconds per bin by reason (a span is spread over the bins it covers)."""
    edges = origin + bin_s * np.arange(bins + 1, dtype=np.float64)
    out: dict[str, list[float]] = {}
    for reason in dict.fromkeys(s[3] for s in spans):
        mine = np.array([(s[1], s[2]) for s in spans if s[3] == reason], np.float64)
        per_bin = np.diff(_covered(mine[:, 0], mine[:, 1], edges))
        if per_bin.any():
            out[reason if reason in REASONS else "other"] = [round(float(v), 6) for v in per_bin]
    return out
