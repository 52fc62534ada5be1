"""Call-graph lines under a `perf report --stdio` entry -> nodes, and from them the
entry's immediate callers, in callee or caller order, ``(inlined)`` frames
included. Read by :func:`lseprof.readers.report_text.histogram.parse_report_text`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lseprof.readers.report_text.rows import Entry, Section

_BRANCH_RE = re.compile(r"--(?P<pct>\d+(?:\.\d+)?)%--")
# Functions a thread starts in: seeing them next to the root of a call graph means
# the graph is printed caller-first.
_OUTERMOST = re.compile(
    r"^(_start|__libc_start_main|__libc_start_call_main|start_thread|clone3?|"
    r"__clone3?|ret_from_fork|thread_start|std::sys::pal::unix::thread::"
    r"Thread::new::thread_start)"
)


@dataclass
class _Node:
    name: str
    parent: int  # index into the node list; -1 for the entry itself
    weight: float
    slot: int  # column where this node's children hang
    depth: int


def parse_graph(lines: list[str], root_weight: float) -> tuple[list[_Node], int]:
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
            name = line[branch.end() :].strip()
            weight = float(branch["pct"])
            slot = branch.start() + 10
        elif root_pos >= 0 and not line[:root_pos].strip(" |"):
            attach = root_pos
            name = line[root_pos + 3 :].strip()
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


def callers_of(entry: Entry, nodes: list[_Node], caller_order: bool) -> list[tuple[str, float]]:
    """Immediate callers of the entry's own samples, with their percentages.

    With `perf report --inline` the sampled frame is expanded into its inline
    stack ("tally (inlined)" then "worker"): those frames are the entry itself,
    not callers. A caller may itself be an inlined frame ("tally (inlined)" calling
    note_visit) and is reported as perf printed it.
    """
    if not nodes:
        return []
    children: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        children.setdefault(node.parent, []).append(i)
    edges: dict[str, float] = {}
    found = (_callers_caller_first if caller_order else _callers_callee_first)(
        entry.symbol, nodes, children
    )
    for caller, weight in found:
        if weight > 0:
            edges[caller] = edges.get(caller, 0.0) + weight
    return sorted(edges.items(), key=lambda kv: -kv[1])


def _callers_callee_first(
    name: str, nodes: list[_Node], children: dict[int, list[int]]
) -> list[tuple[str, float]]:
    """Paths run from the sampled frame outwards: skip the entry's own inline frames
    and the entry, and the next frame is the caller."""
    found = []
    pending = [(top, False) for top in children.get(-1, [])]
    while pending:
        index, seen_entry = pending.pop()
        node = nodes[index]
        if not seen_entry and _inlined(node.name) and not _same(node.name, name):
            pending.extend((c, False) for c in children.get(index, []))
        elif not seen_entry and _same(node.name, name):
            pending.extend((c, True) for c in children.get(index, []))
        else:
            found.append((node.name, node.weight))
    return found


def _callers_caller_first(
    name: str, nodes: list[_Node], children: dict[int, list[int]]
) -> list[tuple[str, float]]:
    """Paths run from the thread's start to the sampled frame: a node's own samples
    (its weight less its children's) end there."""
    found = []
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
                found.append((path[-2], own))
        elif trailing and path and not any(_same(p, name) for p in path):
            found.append((path[-1], own))
    return found


def _same(frame: str, symbol: str) -> bool:
    return frame == symbol or frame.split(" (inlined)")[0] == symbol


def in_caller_order(section: Section, graphs: list[list[_Node]]) -> bool:
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
