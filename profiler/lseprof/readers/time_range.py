"""Time ranges of a profile (``lseprof report --time-range START,END``).

Each end is seconds from the profile's first sample (``1.5``) or a percentage of
its length (``10%``), both ends included, as perf script's ``--time`` takes them.
The profile's first and last sample times come from the perf.data header (``time
of first sample``, which counts every event in the file) or, for text, from the
samples themselves.

On a perf.data the range becomes absolute timestamps handed to ``perf script
--time`` (:func:`perf_time_arg`, :func:`window_slices`): perf reads only that
stretch and a report of a long profile's second costs a second's worth of perf.
Where perf cannot cut (text input, a perf.data without sample times in its header)
the rows are cut after reading (:func:`in_window`). Times are whole nanoseconds
throughout, so perf's cut and lseprof's agree to the sample.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from lseprof.errors import LseprofError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lseprof.samples import Capture

NS = 1_000_000_000
_END = re.compile(r"^\s*(?P<value>[0-9]*\.?[0-9]+)\s*(?P<pct>%?)\s*$")


@dataclass(frozen=True)
class TimeRange:
    """A range as asked for: each end in seconds from the first sample, or in percent
    of the profile's length."""

    start: float
    end: float
    start_pct: bool = False
    end_pct: bool = False
    text: str = ""

    def window_ns(self, first_ns: int, last_ns: int) -> tuple[int, int]:
        """The range in perf's timestamps (ns), for a profile from `first_ns` to
        `last_ns`."""
        length = max(0, last_ns - first_ns)

        def at(value: float, pct: bool) -> int:
            offset = length * Decimal(str(value)) / 100 if pct else Decimal(str(value)) * NS
            return first_ns + int(offset.to_integral_value())

        return at(self.start, self.start_pct), at(self.end, self.end_pct)


def parse_time_range(text: str) -> TimeRange:
    """``START,END``: seconds from the first sample, or percentages (``10%,90%``)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise LseprofError(
            f"--time-range takes START,END (seconds from the first sample or percentages, "
            f"e.g. 1,2 or 10%,90%), not {text!r}"
        )
    ends = [m for p in parts if (m := _END.match(p)) is not None]
    if len(ends) != 2:
        raise LseprofError(
            f"--time-range {text!r}: each end is a number of seconds or a percentage, "
            "e.g. 1.5 or 25%"
        )
    (start, start_pct), (end, end_pct) = ((float(m["value"]), bool(m["pct"])) for m in ends)
    if (start_pct and start > 100) or (end_pct and end > 100):
        raise LseprofError(f"--time-range {text!r}: a percentage is at most 100%")
    if start_pct == end_pct and end <= start:
        raise LseprofError(f"--time-range {text!r}: END must be after START")
    return TimeRange(start, end, start_pct, end_pct, text.strip())


def seconds_ns(text: str) -> int | None:
    """A timestamp as perf prints it (``2711.753071``) in whole nanoseconds."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return int((value * NS).to_integral_value()) if value.is_finite() else None


def ns_text(ns: int) -> str:
    """A timestamp in perf's ``--time`` form: seconds with 9 decimals."""
    return f"{ns // NS}.{ns % NS:09d}"


def perf_time_arg(start_ns: int, end_ns: int) -> str:
    """``perf script --time`` for one window (both ends included)."""
    return f"{ns_text(start_ns)},{ns_text(end_ns)}"


def window_slices(start_ns: int, end_ns: int, jobs: int) -> list[str]:
    """`jobs` disjoint ``--time`` windows that cover the window exactly (a sample
    belongs to one of them: each starts a nanosecond after the last one ends)."""
    jobs = max(1, min(jobs, end_ns - start_ns + 1))
    edges = [start_ns + (end_ns - start_ns + 1) * i // jobs for i in range(jobs + 1)]
    return [perf_time_arg(edges[i], edges[i + 1] - 1) for i in range(jobs)]


def to_ns(times: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Timestamps in seconds as whole nanoseconds (NaN: -1)."""
    import numpy as np

    finite = np.isfinite(times)
    out = np.full(times.shape, -1, np.int64)
    out[finite] = np.round(times[finite] * NS).astype(np.int64)
    return out


def in_window(times: npt.NDArray[np.float64], start_ns: int, end_ns: int) -> npt.NDArray[Any]:
    """Which timestamps (seconds) fall in the window, both ends included."""
    ns = to_ns(times)
    return (ns >= start_ns) & (ns <= end_ns)


def cut_capture(capture: Capture, time_range: TimeRange) -> None:
    """Cut a capture's rows to a range by their own ``time`` column, measured from the
    first of them (text input; a perf.data whose header has no sample times)."""
    import numpy as np

    times = capture.samples["time"].to_numpy()
    stamps = to_ns(times)
    known = stamps[stamps >= 0]
    if not known.size:
        raise LseprofError(
            f"{capture.path} has no sample times; --time-range needs a perf.data, or "
            "perf script text with its time field (perf's default)"
        )
    capture.first_ns, capture.last_ns = int(np.min(known)), int(np.max(known))
    capture.window_ns = time_range.window_ns(capture.first_ns, capture.last_ns)
    keep = in_window(times, *capture.window_ns)
    capture.samples = capture.samples[keep].reset_index(drop=True)
