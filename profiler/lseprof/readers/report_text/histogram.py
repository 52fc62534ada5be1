"""`perf report --stdio` histograms -> the samples table (see the package docstring)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lseprof import samples as S
from lseprof.errors import LseprofError
from lseprof.readers.annotate import parse_listings
from lseprof.readers.report_text.graph import callers_of, in_caller_order, parse_graph
from lseprof.readers.report_text.pastes import normalize_paste
from lseprof.readers.report_text.rows import (
    PCT_COLUMNS,
    SPLIT_RE,
    Entry,
    Section,
    make_entry,
    row_values,
    truncated_columns,
)

_SAMPLES_RE = re.compile(
    r"^#\s*Samples:\s*(?P<n>[\d.]+)\s*(?P<unit>[KMGT]?)\s+of event '"
    r"(?P<event>[^']*)'"
)
_LOST_RE = re.compile(r"^#\s*Total Lost Samples:\s*(\d+)")
_VERSION_RE = re.compile(r"^#\s*perf version\s*:\s*(\S+)")
_ARCH_RE = re.compile(r"^#\s*arch\s*:\s*(\S+)")
_UNITS = {"": 1, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000, "T": 1_000_000_000_000}
MAX_EXAMPLES = 5


def looks_like_report(text: str) -> bool:
    """True if the text has perf report's column header (a `# Overhead`/`# Children` line)."""
    head = text[:200_000]
    return bool(re.search(r"^#\s+(Overhead|Children|Samples|Self)\s", head, re.M)) and bool(
        re.search(r"^#\s*\.{3,}", head, re.M)
    )


@dataclass
class _Scan:
    """The first pass: histogram sections with their rows and call-graph lines."""

    sections: list[Section] = field(default_factory=list)
    section: Section | None = None
    entry: Entry | None = None  # the row whose call graph follows
    lost: int | None = None
    version: str | None = None
    arch: str | None = None
    unknown: int = 0
    examples: list[str] = field(default_factory=list)
    pending_columns: list[str] | None = None  # a column header waiting for its dotted rule

    def note(self, line: str) -> None:
        self.unknown += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(line[:200])

    def line(self, line: str) -> None:
        if line.startswith("#"):
            self.entry = None
            self.comment(line)
        elif not line.strip():
            self.entry = None
        elif self.section is None or not self.section.columns:
            self.note(line)
        elif (values := row_values(line, self.section)) is not None:
            self.entry = make_entry(values, self.section, set())
            self.section.entries.append(self.entry)
        elif self.entry is not None:
            self.entry.graph.append(line)
        else:
            self.note(line)

    def comment(self, line: str) -> None:
        """A ``#`` line: a section title, a header fact, a column header or its rule."""
        if (m := _SAMPLES_RE.match(line)) is not None:
            count = int(float(m["n"]) * _UNITS[m["unit"]])
            self.section = Section(m["event"], count, header_exact=not m["unit"])
            self.sections.append(self.section)
        elif (m := _LOST_RE.match(line)) is not None:
            self.lost = int(m[1])
        elif (m := _VERSION_RE.match(line)) is not None:
            self.version = m[1]
        elif (m := _ARCH_RE.match(line)) is not None:
            self.arch = m[1]
        else:
            self.column_header(line[1:].strip())

    def column_header(self, stripped: str) -> None:
        if stripped.startswith("...") and self.pending_columns is not None:
            if self.section is None or self.section.entries:
                # A column header after rows: the next report of the text (a paste
                # of two reports, or one cut in two by a line of text).
                self.section = Section(self.section.event if self.section else "")
                self.sections.append(self.section)
            self.section.columns = self.pending_columns
            self.section.widths = [len(d) for d in SPLIT_RE.split(stripped)]
            missing = len(self.section.columns) - len(self.section.widths)
            self.section.widths += [0] * max(missing, 0)
            self.pending_columns = None
            return
        names = SPLIT_RE.split(stripped)
        if names and names[0] in (*PCT_COLUMNS, "Samples", "Period"):
            self.pending_columns = names


_ROW_KEYS = ("event", "comm", "tid", "symbol", "dso", "weight", "caller", "truncated")


@dataclass
class _Rows:
    """The second pass: samples-table rows, one per (histogram row, caller)."""

    columns: dict[str, list[object]] = field(default_factory=lambda: {k: [] for k in _ROW_KEYS})
    events: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    exact: dict[str, bool] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    unknown: int = 0  # call-graph lines not understood
    seen: list[str] = field(default_factory=list)  # event names of the sections read

    def add(self, values: tuple[object, ...]) -> None:
        for key, value in zip(_ROW_KEYS, values, strict=True):
            self.columns[key].append(value)

    def section(self, sec: Section) -> None:
        if not sec.columns:
            return
        if not any(c in sec.columns for c in ("Self", "Overhead")):
            self.warnings.append(f"event {sec.event!r}: no Self/Overhead column; section skipped")
            return
        graphs = []
        for e in sec.entries:
            nodes, bad = parse_graph(e.graph, e.total)
            self.unknown += bad
            graphs.append(nodes)
        base = sec.event or "(unnamed event)"
        earlier = self.seen.count(base)  # a paste of several reports of one event
        self.seen.append(base)
        event = f"{base} (report {earlier + 1})" if earlier else base
        if event not in self.events:
            self.events.append(event)
        listed = sum(e.weight for e in sec.entries)
        self.count(sec, event, listed)
        truncated_cols = truncated_columns(sec)
        caller_order = in_caller_order(sec, graphs)
        for e, nodes in zip(sec.entries, graphs, strict=True):
            if e.weight > 0:
                e.truncated = "Symbol" in truncated_cols and len(e.values.get("Symbol", "")) >= (
                    sec.widths[sec.columns.index("Symbol")] if "Symbol" in sec.columns else 1 << 30
                )
                self.entry(event, e, callers_of(e, nodes, caller_order))
        self.not_listed(sec, event, listed)

    def count(self, sec: Section, event: str, listed: float) -> None:
        sampled = [e.samples for e in sec.entries if e.samples is not None]
        if sampled and len(sampled) == len(sec.entries) and abs(listed - 100.0) < 1.0:
            self.counts[event] = int(sum(sampled))
            self.exact[event] = True
        else:
            self.counts[event] = int(sec.samples_header or 0)
            self.exact[event] = sec.header_exact

    def entry(self, event: str, e: Entry, edges: list[tuple[str, float]]) -> None:
        """One histogram row, split by its callers (the rest without a caller)."""
        total_edges = sum(w for _, w in edges)
        scale = e.weight / total_edges if total_edges > e.weight else 1.0
        remainder = e.weight - total_edges * scale
        parts = [(c, w * scale) for c, w in edges]
        if remainder > 1e-9:
            parts.append(("", remainder))
        for caller, w in parts:
            self.add((event, e.comm, e.tid, e.symbol, e.dso, w, caller, e.truncated))

    def not_listed(self, sec: Section, event: str, listed: float) -> None:
        # Each printed share is rounded by up to 0.005: a whole report adds up to 100
        # within that per row. Short of it, rows were left out (a paste of the top
        # rows, --percent-limit): the rest is "not listed", so shares stay as printed.
        if sec.entries and 100.0 - listed > 0.005 * len(sec.entries) + 0.01:
            self.warnings.append(
                f"event {event!r}: the listed rows cover {listed:.2f}% of samples; "
                f"the rest ({100 - listed:.2f}%) is counted as [not listed] work"
            )
            self.add((event, "", -1, "[not listed]", S.UNKNOWN, 100.0 - listed, "", False))

    def frame(self) -> pd.DataFrame:
        rows = self.columns
        n = len(rows["symbol"])
        return S.make_samples(
            n,
            "perf-report",
            event=pd.Categorical(rows["event"]),
            comm=pd.Categorical(rows["comm"]),
            symbol=pd.Categorical(rows["symbol"]),
            dso=pd.Categorical(rows["dso"]),
            caller=pd.Categorical(rows["caller"]),
            caller_dso=pd.Categorical([""] * n),
            tid=np.array(rows["tid"], dtype=np.int64),
            weight=np.array(rows["weight"], dtype=np.float64),
            truncated=np.array(rows["truncated"], dtype=np.bool_),
        )


def parse_report_text(text: str, path: str = "") -> S.Capture:
    """`perf report --stdio` text (after :func:`normalize_paste` for pastes)."""
    scan = _Scan()
    for line in text.splitlines():
        scan.line(line)
    rows = _Rows()
    for section in scan.sections:
        rows.section(section)
    lost = {e: scan.lost for e in rows.events} if scan.lost is not None else {}
    capture = S.Capture(
        samples=rows.frame(),
        source_kind="perf-report",
        path=path,
        events=rows.events,
        perf_version=scan.version,
        lost_samples=lost,
        sample_counts=rows.counts,
        sample_counts_exact=rows.exact,
        unknown_lines=scan.unknown + rows.unknown,
        unknown_examples=scan.examples,
        arch=scan.arch,
        warnings=rows.warnings,
    )
    capture.validate()
    return capture


def read_report_text(data: bytes, path: str) -> S.Capture:
    """`perf report` text of any shape (pastes normalised first), as a Capture; the
    lines of an annotated function pasted with it become its listing (no rows: the
    report's rows count the function already)."""
    text, paste_notes = normalize_paste(data.decode("utf-8", "replace"))
    listings, rest = parse_listings(text, fragments=True)
    capture = parse_report_text("\n".join(rest) if listings else text, path)
    capture.warnings[:0] = paste_notes
    capture.listings = listings
    if not capture.events:
        raise LseprofError(
            f"{path} has no perf report histogram (no '# Overhead' column "
            "header and rows); give `perf report --stdio` output"
        )
    return capture
