"""Histogram rows of `perf report --stdio` text -> entries (symbol, DSO, command,
pid, percentages), column by column as the section's header names them. Read by
:func:`lseprof.readers.report_text.histogram.parse_report_text`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lseprof import samples as S

SPLIT_RE = re.compile(r"\s{2,}")
PCT_RE = re.compile(r"^-?\d+(?:\.\d+)?%$")
_INT_RE = re.compile(r"^\d+$")
_PRIV_RE = re.compile(r"^\[(?P<p>[.kgHuv])\]\s+")
MARKER_RE = re.compile(r"^\[[.kgHuv]\]$")
PCT_COLUMNS = ("Children", "Self", "Overhead")


@dataclass
class Entry:
    values: dict[str, str]
    weight: float  # Self% or Overhead%
    total: float  # Children% when present (the call graph's own total), else weight
    samples: int | None
    symbol: str
    dso: str
    comm: str
    tid: int  # perf's `pid` sort key prints the thread's id (Pid:Command), -1 without
    truncated: bool
    graph: list[str] = field(default_factory=list)


@dataclass
class Section:
    event: str
    samples_header: int | None = None
    header_exact: bool = False  # perf prints "1K" above 999 samples
    columns: list[str] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)


def token_parts(row: str) -> list[str]:
    """A row's columns by its tokens: one per token before the ``[.]`` marker, then
    the marker with the rest (the symbol). For rows with single spaces between their
    columns (squeezed by a chat client or a mail reader)."""
    tokens = row.split()
    at = next(i for i, t in enumerate(tokens) if MARKER_RE.match(t))
    return [*tokens[:at], " ".join(tokens[at:])]


def _split_row(line: str, ncols: int) -> list[str] | None:
    parts = SPLIT_RE.split(line.strip())
    squeezed = len(parts) < ncols and not any(_PRIV_RE.match(p) for p in parts)
    if squeezed and any(MARKER_RE.match(t) for t in line.split()):
        parts = token_parts(line)
    if len(parts) < ncols:
        return None
    return parts


def row_values(line: str, section: Section) -> dict[str, str] | None:
    """Column name -> text for a histogram row, or None if the line is not one."""
    cols = section.columns
    parts = _split_row(line, len(cols))
    if parts is None:
        return None
    if len(parts) > len(cols):
        # Extra splits can only come from the symbol column (names with double spaces).
        sym_at = cols.index("Symbol") if "Symbol" in cols else len(cols) - 1
        extra = len(parts) - len(cols)
        parts = [
            *parts[:sym_at],
            "  ".join(parts[sym_at : sym_at + extra + 1]),
            *parts[sym_at + extra + 1 :],
        ]
    values = dict(zip(cols, parts, strict=True))
    for name, text in values.items():
        if name in PCT_COLUMNS and not PCT_RE.match(text):
            return None
        if name in ("Samples", "Period") and not _INT_RE.match(text):
            return None
    return values


def _symbol_and_priv(text: str) -> tuple[str, str]:
    match = _PRIV_RE.match(text)
    if match:
        return text[match.end() :].strip(), match["p"]
    return text.strip(), ""


def make_entry(values: dict[str, str], section: Section, truncated_cols: set[str]) -> Entry:
    pct = {k: float(v.rstrip("%")) for k, v in values.items() if k in PCT_COLUMNS}
    weight = pct.get("Self", pct.get("Overhead", 0.0))
    total = pct.get("Children", weight)
    symbol, priv = _symbol_and_priv(values.get("Symbol", S.UNKNOWN))
    dso = values.get("Shared Object", "")
    if not dso:
        dso = "[kernel.kallsyms]" if priv == "k" else S.UNKNOWN
    comm = values.get("Command", "")
    tid = -1
    # --sort pid prints "TID:comm" under "Pid:Command": one row per thread, not per
    # process (perf's thread sort key), so the number is a tid.
    for key in ("Pid:Command", "Pid"):
        if key in values:
            head, _, tail = values[key].strip().partition(":")
            tid = int(head) if head.isdigit() else -1
            comm = comm or tail
    samples = int(values["Samples"]) if "Samples" in values else None
    truncated = (
        "Symbol" in truncated_cols
        and len(values.get("Symbol", "")) >= section.widths[section.columns.index("Symbol")]
    )
    return Entry(values, weight, total, samples, symbol or S.UNKNOWN, dso, comm, tid, truncated)


def truncated_columns(section: Section) -> set[str]:
    """Columns cut to their width by -w: several distinct values fill it exactly."""
    out = set()
    for name, width in zip(section.columns, section.widths, strict=False):
        if name not in ("Symbol", "Shared Object", "Command") or width <= 0:
            continue  # width 0: no dotted rule (a pasted header), no widths known
        full = {
            e.values.get(name, "") for e in section.entries if len(e.values.get(name, "")) >= width
        }
        if len(full) >= 2:
            out.add(name)
    return out
