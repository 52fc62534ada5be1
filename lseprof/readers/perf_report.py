"""`perf report --stdio` text -> the samples table (:mod:`lseprof.samples`).

Report text has no per-sample data: each histogram row becomes one or more
samples-table rows whose ``weight`` is the row's percentage (``Self`` with
``--children``, ``Overhead`` without). Rows under a call-graph section are split
by immediate caller, so callers travel in the same table as for ``perf script``.

Handled layouts: with or without the Children column; Samples/Period columns
(``-n``); IPC columns; any ``--sort`` order (command, shared object, symbol,
pid); columns padded or cut short with ``-w``; several ``# Samples: N of event
'E'`` sections (one per event); graph call-graph sections in callee or caller
order, including ``(inlined)`` frames. Lines that fit none of these are counted,
not fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lseprof import samples as S

_SAMPLES_RE = re.compile(r"^#\s*Samples:\s*(?P<n>[\d.]+)\s*(?P<unit>[KMGT]?)\s+of event '"
                         r"(?P<event>[^']*)'")
_LOST_RE = re.compile(r"^#\s*Total Lost Samples:\s*(\d+)")
_VERSION_RE = re.compile(r"^#\s*perf version\s*:\s*(\S+)")
_ARCH_RE = re.compile(r"^#\s*arch\s*:\s*(\S+)")
_SPLIT_RE = re.compile(r"\s{2,}")
_BRANCH_RE = re.compile(r"--(?P<pct>\d+(?:\.\d+)?)%--")
_PCT_RE = re.compile(r"^-?\d+(?:\.\d+)?%$")
_INT_RE = re.compile(r"^\d+$")
_PRIV_RE = re.compile(r"^\[(?P<p>[.kgHuv])\]\s+")
_UNITS = {"": 1, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000, "T": 1_000_000_000_000}
_PCT_COLUMNS = ("Children", "Self", "Overhead")
MAX_EXAMPLES = 5
# Functions a thread starts in: seeing them next to the root of a call graph means
# the graph is printed caller-first.
_OUTERMOST = re.compile(r"^(_start|__libc_start_main|__libc_start_call_main|start_thread|clone3?|"
                        r"__clone3?|ret_from_fork|thread_start|std::sys::pal::unix::thread::"
                        r"Thread::new::thread_start)")


@dataclass
class _Node:
    name: str
    parent: int  # index into the node list; -1 for the entry itself
    weight: float
    slot: int  # column where this node's children hang
    depth: int


@dataclass
class _Entry:
    values: dict[str, str]
    weight: float  # Self% or Overhead%
    total: float  # Children% when present (the call graph's own total), else weight
    samples: int | None
    symbol: str
    dso: str
    comm: str
    pid: int
    truncated: bool
    graph: list[str] = field(default_factory=list)


@dataclass
class _Section:
    event: str
    samples_header: int | None = None
    header_exact: bool = False  # perf prints "1K" above 999 samples
    columns: list[str] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)


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


def _split_row(line: str, ncols: int) -> list[str] | None:
    parts = _SPLIT_RE.split(line.strip())
    if len(parts) < ncols:
        return None
    return parts


def _row_values(line: str, section: _Section) -> dict[str, str] | None:
    """Column name -> text for a histogram row, or None if the line is not one."""
    cols = section.columns
    parts = _split_row(line, len(cols))
    if parts is None:
        return None
    if len(parts) > len(cols):
        # Extra splits can only come from the symbol column (names with double spaces).
        sym_at = cols.index("Symbol") if "Symbol" in cols else len(cols) - 1
        extra = len(parts) - len(cols)
        parts = [*parts[:sym_at], "  ".join(parts[sym_at:sym_at + extra + 1]),
                 *parts[sym_at + extra + 1:]]
    values = dict(zip(cols, parts, strict=True))
    for name, text in values.items():
        if name in _PCT_COLUMNS and not _PCT_RE.match(text):
            return None
        if name in ("Samples", "Period") and not _INT_RE.match(text):
            return None
    return values


def _symbol_and_priv(text: str) -> tuple[str, str]:
    match = _PRIV_RE.match(text)
    if match:
        return text[match.end():].strip(), match["p"]
    return text.strip(), ""


def _make_entry(values: dict[str, str], section: _Section, truncated_cols: set[str]) -> _Entry:
    pct = {k: float(v.rstrip("%")) for k, v in values.items() if k in _PCT_COLUMNS}
    weight = pct.get("Self", pct.get("Overhead", 0.0))
    total = pct.get("Children", weight)
    symbol, priv = _symbol_and_priv(values.get("Symbol", S.UNKNOWN))
    dso = values.get("Shared Object", "")
    if not dso:
        dso = "[kernel.kallsyms]" if priv == "k" else S.UNKNOWN
    comm = values.get("Command", "")
    pid = -1
    for key in ("Pid:Command", "Pid"):
        if key in values:
            head, _, tail = values[key].strip().partition(":")
            pid = int(head) if head.isdigit() else -1
            comm = comm or tail
    samples = int(values["Samples"]) if "Samples" in values else None
    truncated = "Symbol" in truncated_cols and len(values.get("Symbol", "")) >= section.widths[
        section.columns.index("Symbol")]
    return _Entry(values, weight, total, samples, symbol or S.UNKNOWN, dso, comm, pid, truncated)


def _truncated_columns(section: _Section) -> set[str]:
    """Columns cut to their width by -w: several distinct values fill it exactly."""
    out = set()
    for name, width in zip(section.columns, section.widths, strict=False):
        if name not in ("Symbol", "Shared Object", "Command"):
            continue
        full = {e.values.get(name, "") for e in section.entries
                if len(e.values.get(name, "")) >= width}
        if len(full) >= 2:
            out.add(name)
    return out


def _parse_graph(lines: list[str], root_weight: float) -> tuple[list[_Node], int]:
    """Call-graph lines under one entry -> nodes (index order = print order).

    perf indents each level by a fixed step; a node's children hang at its "slot"
    column: the name column of a continued chain, or 10 columns after a branch's
    "--" (or 3 after a root's "---"). A branch `|--12.34%--name` attaches to the
    node whose slot is the column of its `|`. Returns the nodes and the number of
    lines that could not be placed.
    """
    nodes: list[_Node] = []
    stack: list[int] = []  # current path, indices into nodes
    root_slot: int | None = None
    bad = 0
    for raw in lines:
        line = raw.rstrip()
        body = line.lstrip(" ")
        if not body.strip(" |"):
            if root_slot is None and body:
                root_slot = len(line) - len(body)
            continue
        lead = len(line) - len(body)
        if root_slot is None:
            root_slot = lead
        branch = _BRANCH_RE.search(line)
        root_pos = line.find("---")
        if branch and (root_pos < 0 or branch.start() < root_pos):
            attach = branch.start() - 1
            name = line[branch.end():].strip()
            weight = float(branch["pct"])
            slot = branch.start() + 10
        elif root_pos >= 0 and not line[:root_pos].strip(" |"):
            attach = root_pos
            name = line[root_pos + 3:].strip()
            weight = -1.0  # inherits
            slot = root_pos + 3
        else:
            col = len(line) - len(line.lstrip(" |"))
            attach = col
            name = line[col:].strip()
            weight = -1.0
            slot = col
            # A continued chain: the new frame hangs below the node whose slot is `col`.
        parent = -1
        while stack and nodes[stack[-1]].slot != attach:
            stack.pop()
        if stack:
            parent = stack[-1]
        elif attach != root_slot:
            bad += 1
            continue
        if weight < 0:
            weight = nodes[parent].weight if parent >= 0 else root_weight
        depth = nodes[parent].depth + 1 if parent >= 0 else 1
        nodes.append(_Node(name, parent, weight, slot, depth))
        if branch is None and root_pos < 0 and stack and nodes[stack[-1]].slot == slot:
            # Continuation: replace the chain's tail so later lines find the new node.
            stack.append(len(nodes) - 1)
        else:
            stack.append(len(nodes) - 1)
    return nodes, bad


def _inlined(name: str) -> bool:
    return name.endswith(" (inlined)")


def _callers_of(entry: _Entry, nodes: list[_Node], caller_order: bool) -> list[tuple[str, float]]:
    """Immediate callers of the entry's own samples, with their percentages.

    With `perf report --inline` the sampled frame is expanded into its inline
    stack ("tally (inlined)" then "worker"): those frames are the entry itself,
    not callers. A caller may itself be an inlined frame ("tally (inlined)" calling
    note_visit) and is reported as perf printed it.
    """
    if not nodes:
        return []
    name = entry.symbol
    edges: dict[str, float] = {}
    children: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        children.setdefault(node.parent, []).append(i)

    def add(caller: str, weight: float) -> None:
        if weight > 0:
            edges[caller] = edges.get(caller, 0.0) + weight

    if not caller_order:
        # Paths run from the sampled frame outwards: skip the entry's own inline
        # frames and the entry, and the next frame is the caller.
        pending = [(top, False) for top in children.get(-1, [])]
        while pending:
            index, seen_entry = pending.pop()
            node = nodes[index]
            if not seen_entry and _inlined(node.name) and not _same(node.name, name):
                pending.extend((c, False) for c in children.get(index, []))
            elif not seen_entry and _same(node.name, name):
                pending.extend((c, True) for c in children.get(index, []))
            else:
                add(node.name, node.weight)
    else:
        # Paths run from the thread's start to the sampled frame: a node's own
        # samples (its weight less its children's) end there.
        for i, node in enumerate(nodes):
            own = node.weight - sum(nodes[c].weight for c in children.get(i, []))
            if own <= 1e-9:
                continue
            path = [node.name]
            parent = node.parent
            while parent >= 0:
                path.append(nodes[parent].name)
                parent = nodes[parent].parent
            path.reverse()
            trailing = 0
            while path and _inlined(path[-1]) and not _same(path[-1], name):
                path.pop()
                trailing += 1
            if path and _same(path[-1], name):
                if len(path) >= 2:
                    add(path[-2], own)
            elif trailing and path and not any(_same(p, name) for p in path):
                add(path[-1], own)
    return sorted(edges.items(), key=lambda kv: -kv[1])


def _same(frame: str, symbol: str) -> bool:
    return frame == symbol or frame.split(" (inlined)")[0] == symbol


def _caller_order(section: _Section, graphs: list[list[_Node]]) -> bool:
    """Whether graphs are printed caller-first (children mode default, `-g caller`)."""
    if "Children" in section.columns:
        return True
    outer_at_root = outer_at_leaf = 0
    for nodes in graphs:
        parents = {n.parent for n in nodes}
        for i, node in enumerate(nodes):
            if _OUTERMOST.match(node.name):
                if node.depth == 1:
                    outer_at_root += 1
                elif i not in parents:
                    outer_at_leaf += 1
    return outer_at_root > outer_at_leaf


def parse_report_text(text: str) -> ParsedReport:
    lines = text.splitlines()
    sections: list[_Section] = []
    section: _Section | None = None
    entry: _Entry | None = None
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
                section = _Section(m["event"], count, header_exact=not m["unit"])
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
                    section = _Section("")
                    sections.append(section)
                dots = _SPLIT_RE.split(stripped)
                section.columns = pending_columns
                section.widths = [len(d) for d in dots]
                if len(section.widths) < len(section.columns):
                    section.widths += [0] * (len(section.columns) - len(section.widths))
                pending_columns = None
                continue
            names = _SPLIT_RE.split(stripped)
            if names and names[0] in (*_PCT_COLUMNS, "Samples", "Period"):
                pending_columns = names
            continue
        if not line.strip():
            entry = None
            continue
        if section is None or not section.columns:
            note(line)
            continue
        values = _row_values(line, section)
        if values is not None:
            entry = _make_entry(values, section, set())
            section.entries.append(entry)
            continue
        if entry is not None:
            entry.graph.append(line)
            continue
        note(line)

    rows: dict[str, list[object]] = {k: [] for k in (
        "event", "comm", "pid", "symbol", "dso", "weight", "caller", "truncated")}
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
        truncated_cols = _truncated_columns(sec)
        graphs = []
        for e in sec.entries:
            nodes, bad = _parse_graph(e.graph, e.total)
            unknown += bad
            graphs.append(nodes)
        caller_order = _caller_order(sec, graphs)
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
            edges = _callers_of(e, nodes, caller_order)
            total_edges = sum(w for _, w in edges)
            scale = e.weight / total_edges if total_edges > e.weight else 1.0
            remainder = e.weight - total_edges * scale
            parts = [(c, w * scale) for c, w in edges]
            if remainder > 1e-9:
                parts.append(("", remainder))
            for caller, w in parts:
                rows["event"].append(event)
                rows["comm"].append(e.comm)
                rows["pid"].append(e.pid)
                rows["symbol"].append(e.symbol)
                rows["dso"].append(e.dso)
                rows["weight"].append(w)
                rows["caller"].append(caller)
                rows["truncated"].append(e.truncated)
        if listed < 99.0 and sec.entries:
            # Rows cut from a pasted report: keep the section's total at 100%.
            warnings.append(f"event {event!r}: the listed rows cover {listed:.2f}% of samples; "
                            f"the rest ({100 - listed:.2f}%) is counted as [not listed] work")
            for key, value in (("event", event), ("comm", ""), ("pid", -1),
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
        pid=np.array(rows["pid"], dtype=np.int64),
        weight=np.array(rows["weight"], dtype=np.float64),
        truncated=np.array(rows["truncated"], dtype=np.bool_),
    )
    return ParsedReport(frame, events, counts, exact, lost, version, arch, unknown, examples,
                        warnings)
