"""`perf report --stdio` histograms -> the samples table (see the package docstring)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lseprof import samples as S
from lseprof.readers.report_text.graph import callers_of, in_caller_order, parse_graph
from lseprof.readers.report_text.rows import (
    PCT_COLUMNS,
    SPLIT_RE,
    Entry,
    Section,
    make_entry,
    row_values,
    truncated_columns,
)

_SAMPLES_RE = re.compile(r"^#\s*Samples:\s*(?P<n>[\d.]+)\s*(?P<unit>[KMGT]?)\s+of event '"
                         r"(?P<event>[^']*)'")
_LOST_RE = re.compile(r"^#\s*Total Lost Samples:\s*(\d+)")
_VERSION_RE = re.compile(r"^#\s*perf version\s*:\s*(\S+)")
_ARCH_RE = re.compile(r"^#\s*arch\s*:\s*(\S+)")
_UNITS = {"": 1, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000, "T": 1_000_000_000_000}
MAX_EXAMPLES = 5


@dataclass
class ParsedReport:
    samples: pd.DataFrame
    events: list[str]
    sample_counts: dict[str, int]
    sample_counts_exact: dict[str, bool]
    lost: int | None
    perf_version: str | None
    arch: str | None
    unknown_lines: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def looks_like_report(text: str) -> bool:
    """True if the text has perf report's column header (a `# Overhead`/`# Children` line)."""
    head = text[:200_000]
    return bool(re.search(r"^#\s+(Overhead|Children|Samples|Self)\s", head, re.M)) and bool(
        re.search(r"^#\s*\.{3,}", head, re.M))


def parse_report_text(text: str) -> ParsedReport:
    lines = text.splitlines()
    sections: list[Section] = []
    section: Section | None = None
    entry: Entry | None = None
    lost: int | None = None
    version: str | None = None
    arch: str | None = None
    unknown = 0
    examples: list[str] = []
    pending_columns: list[str] | None = None

    def note(line: str) -> None:
        nonlocal unknown
        unknown += 1
        if len(examples) < MAX_EXAMPLES:
            examples.append(line[:200])

    for line in lines:
        if line.startswith("#"):
            entry = None
            if (m := _SAMPLES_RE.match(line)) is not None:
                count = int(float(m["n"]) * _UNITS[m["unit"]])
                section = Section(m["event"], count, header_exact=not m["unit"])
                sections.append(section)
                continue
            if (m := _LOST_RE.match(line)) is not None:
                lost = int(m[1])
                continue
            if (m := _VERSION_RE.match(line)) is not None:
                version = m[1]
                continue
            if (m := _ARCH_RE.match(line)) is not None:
                arch = m[1]
                continue
            body = line[1:]
            stripped = body.strip()
            if stripped.startswith("...") and pending_columns is not None:
                if section is None:
                    section = Section("")
                    sections.append(section)
                dots = SPLIT_RE.split(stripped)
                section.columns = pending_columns
                section.widths = [len(d) for d in dots]
                if len(section.widths) < len(section.columns):
                    section.widths += [0] * (len(section.columns) - len(section.widths))
                pending_columns = None
                continue
            names = SPLIT_RE.split(stripped)
            if names and names[0] in (*PCT_COLUMNS, "Samples", "Period"):
                pending_columns = names
            continue
        if not line.strip():
            entry = None
            continue
        if section is None or not section.columns:
            note(line)
            continue
        values = row_values(line, section)
        if values is not None:
            entry = make_entry(values, section, set())
            section.entries.append(entry)
            continue
        if entry is not None:
            entry.graph.append(line)
            continue
        note(line)

    rows: dict[str, list[object]] = {k: [] for k in (
        "event", "comm", "tid", "symbol", "dso", "weight", "caller", "truncated")}
    events: list[str] = []
    counts: dict[str, int] = {}
    exact: dict[str, bool] = {}
    warnings: list[str] = []
    for sec in sections:
        if not sec.columns:
            continue
        if not any(c in sec.columns for c in ("Self", "Overhead")):
            warnings.append(f"event {sec.event!r}: no Self/Overhead column; section skipped")
            continue
        truncated_cols = truncated_columns(sec)
        graphs = []
        for e in sec.entries:
            nodes, bad = parse_graph(e.graph, e.total)
            unknown += bad
            graphs.append(nodes)
        caller_order = in_caller_order(sec, graphs)
        event = sec.event or "(unnamed event)"
        if event not in events:
            events.append(event)
        sampled = [e.samples for e in sec.entries if e.samples is not None]
        listed = sum(e.weight for e in sec.entries)
        if sampled and len(sampled) == len(sec.entries) and abs(listed - 100.0) < 1.0:
            counts[event] = int(sum(sampled))
            exact[event] = True
        else:
            counts[event] = int(sec.samples_header or 0)
            exact[event] = sec.header_exact
        for e, nodes in zip(sec.entries, graphs, strict=True):
            if e.weight <= 0:
                continue
            e.truncated = "Symbol" in truncated_cols and len(e.values.get("Symbol", "")) >= (
                sec.widths[sec.columns.index("Symbol")] if "Symbol" in sec.columns else 1 << 30)
            edges = callers_of(e, nodes, caller_order)
            total_edges = sum(w for _, w in edges)
            scale = e.weight / total_edges if total_edges > e.weight else 1.0
            remainder = e.weight - total_edges * scale
            parts = [(c, w * scale) for c, w in edges]
            if remainder > 1e-9:
                parts.append(("", remainder))
            for caller, w in parts:
                rows["event"].append(event)
                rows["comm"].append(e.comm)
                rows["tid"].append(e.tid)
                rows["symbol"].append(e.symbol)
                rows["dso"].append(e.dso)
                rows["weight"].append(w)
                rows["caller"].append(caller)
                rows["truncated"].append(e.truncated)
        # Each printed share is rounded by up to 0.005: a whole report adds up to 100
        # within that per row. Short of it, rows were left out (a paste of the top
        # rows, --percent-limit): the rest is "not listed", so shares stay as printed.
        if sec.entries and 100.0 - listed > 0.005 * len(sec.entries) + 0.01:
            warnings.append(f"event {event!r}: the listed rows cover {listed:.2f}% of samples; "
                            f"the rest ({100 - listed:.2f}%) is counted as [not listed] work")
            for key, value in (("event", event), ("comm", ""), ("tid", -1),
                               ("symbol", "[not listed]"), ("dso", S.UNKNOWN),
                               ("weight", 100.0 - listed), ("caller", ""), ("truncated", False)):
                rows[key].append(value)
    n = len(rows["symbol"])
    frame = S.make_samples(
        n, "perf-report",
        event=pd.Categorical(rows["event"]), comm=pd.Categorical(rows["comm"]),
        symbol=pd.Categorical(rows["symbol"]), dso=pd.Categorical(rows["dso"]),
        caller=pd.Categorical(rows["caller"]),
        caller_dso=pd.Categorical([""] * n),
        tid=np.array(rows["tid"], dtype=np.int64),
        weight=np.array(rows["weight"], dtype=np.float64),
        truncated=np.array(rows["truncated"], dtype=np.bool_),
    )
    return ParsedReport(frame, events, counts, exact, lost, version, arch, unknown, examples,
                        warnings)
