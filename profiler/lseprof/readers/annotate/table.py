"""Listings -> the samples table (see the package docstring): one row per instruction
with samples, weighted by its share of the function's samples."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lseprof import samples as S
from lseprof.errors import LseprofError
from lseprof.readers.annotate.screen import FUNCTION_RE, LINE_RE, read_fragments, read_screens
from lseprof.readers.annotate.stdio import HEAD_RE, read_stdio

MAX_EXAMPLES = 5
_STDIO_LINE_RE = re.compile(r"^\s*\d+\.\d+\s+:\s+[0-9a-f]+:\s+\S")
_SHORT = 99.5  # a whole function's percentages add up to 100 within rounding


def looks_like_annotate(text: str) -> bool:
    """``perf annotate`` text: its --stdio heading, the screen's function line, or
    several listing lines (instructions with percentages)."""
    head = text[:200_000].splitlines()[:2000]
    if any(HEAD_RE.match(line) or FUNCTION_RE.match(line) for line in head):
        return True
    stdio = sum(1 for line in head if _STDIO_LINE_RE.match(line))
    screen = sum(1 for line in head if (m := LINE_RE.match(line)) and m["pct"])
    return stdio >= 3 or screen >= 3


def parse_listings(text: str, fragments: bool = False) -> tuple[list[S.Listing], list[str]]:
    """The annotated functions of a text, and its lines not understood. With
    `fragments`, only the listing lines pasted among other text (after a report) are
    read, and the second value is the text's other lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ").split("\n")
    if fragments:
        listings, used = read_fragments(lines)
        return listings, [line for n, line in enumerate(lines) if n not in used]
    if any(HEAD_RE.match(line) for line in lines):
        return read_stdio(lines)
    return read_screens(lines)


def _rows(listing: S.Listing, base: int) -> tuple[list[S.ListingLine], list[tuple[int, float]]]:
    """The listing's lines with their rows set, and (line, weight) per row."""
    out: list[S.ListingLine] = []
    rows: list[tuple[int, float]] = []
    for n, line in enumerate(listing.lines):
        if line.kind == "insn" and line.percent:
            weight = line.percent * listing.samples / 100.0 if listing.samples else line.percent
            line = line._replace(row=base + len(rows))
            rows.append((n, weight))
        out.append(line)
    return out, rows


def _shown(listing: S.Listing) -> float:
    """The percentage of the function's samples its lines show (less than 100 for a
    screen of part of it)."""
    return sum(line.percent or 0.0 for line in listing.lines if line.kind == "insn")


def _frame(listings: list[S.Listing]) -> tuple[pd.DataFrame, list[str]]:
    cols: dict[str, list[object]] = {k: [] for k in ("event", "symbol", "dso", "w", "ip", "off")}
    notes = []

    def add(event: str, symbol: str, dso: str, w: float, ip: int, off: int) -> None:
        for key, value in zip(cols, (event, symbol, dso, w, ip, off), strict=True):
            cols[key].append(value)

    for listing in listings:
        listing.lines, rows = _rows(listing, len(cols["w"]))
        for n, weight in rows:
            address = listing.lines[n].address or 0
            absolute = listing.layout == "stdio" and listing.start is not None
            offset = address - (listing.start or 0) if absolute and address else -1
            ip = address if absolute else 0  # a screen's labels are offsets, not addresses
            add(listing.event, listing.symbol, listing.dso, weight, ip, offset)
        shown = _shown(listing)
        if listing.percentages and shown < _SHORT:
            unit = listing.samples / 100.0 if listing.samples else 1.0
            add(listing.event, "[not listed]", S.UNKNOWN, (100.0 - shown) * unit, 0, -1)
            notes.append(
                f"the listing of {listing.symbol or 'a function'} shows {shown:.2f}% of its "
                "samples (a screen of part of it); the rest is counted as [not listed]"
            )
    n = len(cols["w"])
    frame = S.make_samples(
        n,
        "perf-annotate",
        event=pd.Categorical(cols["event"]),
        comm=pd.Categorical([""] * n),
        symbol=pd.Categorical(cols["symbol"]),
        dso=pd.Categorical(cols["dso"]),
        caller=pd.Categorical([""] * n),
        caller_dso=pd.Categorical([""] * n),
        ip=np.array(cols["ip"], dtype=np.uint64),
        symoff=np.array(cols["off"], dtype=np.int64),
        weight=np.array(cols["w"], dtype=np.float64),
    )
    return frame, notes


def read_annotate_text(data: bytes, path: str) -> S.Capture:
    """``perf annotate`` text of any layout as a Capture: its listings, and one
    samples-table row per instruction with samples."""
    listings, unknown = parse_listings(data.decode("utf-8", "replace"))
    if not listings:
        raise LseprofError(
            f"{path} has no perf annotate listing (no 'Percent |' heading or screen); "
            "give `perf annotate --stdio` output or a copy of its screen"
        )
    for listing in listings:
        listing.event = listing.event or "(unnamed event)"
    frame, notes = _frame(listings)
    events = list(dict.fromkeys(listing.event for listing in listings))
    counts = {e: sum(x.samples or 0 for x in listings if x.event == e) for e in events}
    exact = {e: all(x.samples is not None for x in listings if x.event == e) for e in events}
    for listing in listings:
        if not listing.percentages:
            notes.append(
                f"the listing of {listing.symbol or 'a function'} has no percentages: "
                "read for its instructions, with no shares"
            )
    capture = S.Capture(
        samples=frame,
        source_kind="perf-annotate",
        path=path,
        events=events,
        sample_counts=counts,
        sample_counts_exact=exact,
        unknown_lines=len(unknown),
        unknown_examples=[u[:200] for u in unknown[:MAX_EXAMPLES]],
        warnings=notes,
        listings=listings,
    )
    capture.validate()
    return capture
