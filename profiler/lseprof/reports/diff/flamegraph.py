"""The differential flame graph of `lseprof diff --flamegraph`: one self-contained
HTML page of B's stacks coloured by their change from A (see
:mod:`lseprof.analysis.stacks` for the folding).
"""

from __future__ import annotations

import html
import math

from lseprof.analysis.stacks import FoldedDiff

#
# Static inline SVG, no script: every frame is a <g> with a <title> (the
# browser's own tooltip), so the page needs nothing from anywhere. Width is B's
# samples; colour is B against A (A scaled to B's total, see lseprof.analysis.stacks).

FLAME_WIDTH = 1200  # px of the drawing area
FRAME_HEIGHT = 16
MIN_FRAME_PX = 0.5  # narrower siblings are merged into one grey frame
MAX_FRAMES = 4000  # size budget: about 250 bytes a frame, so ~1 MB of SVG at most
_CHAR_PX = 6.6  # width of one character of the 11 px monospace label
_NEUTRAL = (236, 236, 236)
_GROWTH = (214, 39, 40)
_SHRINK = (31, 90, 200)
_MERGED = (190, 190, 190)
_HELPER_STROKE = "#8b00d6"


class _Node:
    __slots__ = ("a", "b", "children", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.a = 0  # A's samples as recorded
        self.b = 0
        self.children: dict[str, _Node] = {}


def _tree(stacks: list[tuple[str, int, int, int]]) -> _Node:
    root = _Node("all")
    for stack, raw_a, _scaled, b in stacks:
        node = root
        node.a += raw_a
        node.b += b
        for frame in stack.split(";"):
            child = node.children.get(frame)
            if child is None:
                child = node.children[frame] = _Node(frame)
            child.a += raw_a
            child.b += b
            node = child
    return root


def _subtree_size(node: _Node) -> int:
    return 1 + sum(_subtree_size(c) for c in node.children.values())


class _Frame:
    __slots__ = ("a", "b", "depth", "merged", "name", "width", "x")

    def __init__(
        self, name: str, a: int, b: int, x: float, width: float, depth: int, merged: int = 0
    ) -> None:
        self.name, self.a, self.b = name, a, b
        self.x, self.width, self.depth, self.merged = x, width, depth, merged


def _layout(root: _Node, scale: float, min_px: float, keep: set[str]) -> tuple[list[_Frame], int]:
    """Frames to draw, and how many frames were merged away for being too narrow.

    Frames named in ``keep`` (atomic helpers, the point of the page) are never merged.
    """
    frames: list[_Frame] = []
    merged_total = 0
    todo: list[tuple[_Node, float, int]] = [(root, 0.0, 0)]
    while todo:
        node, x, depth = todo.pop()
        frames.append(_Frame(node.name, node.a, node.b, x, node.b * scale, depth))
        narrow: list[_Node] = []
        offset = x
        for name in sorted(node.children):
            child = node.children[name]
            if child.b == 0:
                continue  # only in A: no width in a graph of B
            if child.b * scale < min_px and child.name not in keep:
                narrow.append(child)
                continue
            todo.append((child, offset, depth + 1))
            offset += child.b * scale
        if narrow:
            count = sum(_subtree_size(c) for c in narrow)
            merged_total += count
            a, b = sum(c.a for c in narrow), sum(c.b for c in narrow)
            frames.append(
                _Frame(
                    f"[{count} narrow frames merged]",
                    a,
                    b,
                    offset,
                    b * scale,
                    depth + 1,
                    merged=count,
                )
            )
    return frames, merged_total


def _mix(t: float, to: tuple[int, int, int]) -> str:
    r, g, b = (round(n + (m - n) * t) for n, m in zip(_NEUTRAL, to, strict=True))
    return f"rgb({r},{g},{b})"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _label(name: str, width: float) -> str:
    chars = int((width - 6) / _CHAR_PX)
    if chars < 3:
        return ""
    return name if len(name) <= chars else name[: chars - 2] + ".."


def flamegraph_html(
    folded: FoldedDiff,
    a: str,
    b: str,
    *,
    width: int = FLAME_WIDTH,
    min_px: float = MIN_FRAME_PX,
    max_frames: int = MAX_FRAMES,
) -> str:
    """A self-contained HTML page with the differential flame graph of ``folded``."""
    root = _tree(folded.stacks)
    total_a, total_b = max(folded.total_a, 1), max(folded.total_b, 1)
    scale = width / total_b
    frames, merged = _layout(root, scale, min_px, folded.helper_frames)
    limit = min_px
    while len(frames) > max_frames:
        limit *= 1.5  # over budget: merge more, wider frames
        frames, merged = _layout(root, scale, limit, folded.helper_frames)

    def delta_pp(f: _Frame) -> float:
        return 100.0 * (f.b / total_b - f.a / total_a)

    biggest = max((abs(delta_pp(f)) for f in frames if not f.merged), default=0.0) or 1.0
    depth = max((f.depth for f in frames), default=0) + 1
    height = depth * FRAME_HEIGHT
    body: list[str] = []
    for f in frames:
        y = f.depth * FRAME_HEIGHT  # root on top (an icicle): the wide frames show first
        d = delta_pp(f)
        # Square root: small changes still show a tint next to the largest one.
        t = math.sqrt(min(1.0, abs(d) / biggest))
        fill = (
            _mix(1.0, _MERGED)
            if f.merged
            else _mix(t, _GROWTH if d > 0 else _SHRINK)
            if d
            else _mix(0.0, _NEUTRAL)
        )
        helper = f.name in folded.helper_frames
        stroke = (
            f' stroke="{_HELPER_STROKE}" stroke-width="2"'
            if helper
            else ' stroke="#ffffff" stroke-width="0.5"'
        )
        tip = (
            f"{f.name}\nA: {f.a:,} samples ({100.0 * f.a / total_a:.2f}%)\n"
            f"B: {f.b:,} samples ({100.0 * f.b / total_b:.2f}%)\nΔ {d:+.2f} pp"
            + ("\natomic helper" if helper else "")
        )
        label = _label(f.name, f.width)
        css = ' class="h"' if helper else ""
        text = f'<text x="{f.x + 3:.1f}" y="{y + 12}"{css}>{_esc(label)}</text>' if label else ""
        body.append(
            f'<g class="{"f h" if helper else "f"}"><title>{_esc(tip)}</title>'
            f'<rect x="{f.x:.2f}" y="{y}" width="{max(f.width, 0.1):.2f}" '
            f'height="{FRAME_HEIGHT - 1}" fill="{fill}"{stroke}/>{text}</g>'
        )
    gone = [(stack, raw) for stack, raw, _s, bb in folded.stacks if bb == 0 and raw]
    in_helper_a, in_helper_b = _helper_totals(folded)
    gone_share = 100.0 * sum(raw for _s, raw in gone) / total_a
    merge_note = (
        f"{merged:,} frames narrower than {limit:.2f} px were merged into grey "
        f"frames to keep the page small (at most {max_frames:,} frames)."
        if merged
        else "No frames were merged."
    )
    event = folded.event or "all events"
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>lseprof diff flame graph: {_esc(event)}</title>",
        "<style>body{font:14px sans-serif;margin:1.5em;color:#222}"
        "svg{display:block;border:1px solid #ccc;margin:1em 0}"
        "text{font:11px monospace;fill:#111;pointer-events:none}text.h{font-weight:bold}"
        "g.f:hover rect{stroke:#000;stroke-width:1}"
        ".key{display:inline-block;width:1.2em;height:0.9em;vertical-align:middle;"
        "margin:0 0.3em 0 1em;border:1px solid #999}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
        "font:12px monospace;text-align:right}td:first-child{text-align:left}</style>",
        "</head><body>",
        "<h1>Differential flame graph</h1>",
        f"<p><b>A</b> {_esc(a)}<br><b>B</b> {_esc(b)}</p>",
        f"<p>Event {_esc(event)}. Frame width is B's samples ({folded.total_b:,}); colour is "
        f"B against A ({folded.total_a:,} samples, scaled to B's total so that the two are "
        "comparable): red grew, blue shrank, by the change in percentage points of all "
        "samples, relative to the largest change on the page (square-root scale). The root "
        "is at the top, callees below their callers. Hover a frame for its counts.</p>",
        "<p>"
        f'<span class="key" style="background:{_mix(1.0, _GROWTH)}"></span>grew in B'
        f'<span class="key" style="background:{_mix(1.0, _SHRINK)}"></span>shrank in B'
        f'<span class="key" style="background:{_mix(0.0, _NEUTRAL)}"></span>unchanged'
        f'<span class="key" style="background:{_mix(1.0, _MERGED)}"></span>merged narrow frames'
        f'<span class="key" style="border:2px solid {_HELPER_STROKE}"></span>'
        "atomic helper (__aarch64_* and frames classified atomic_helper, bold label)</p>",
        f"<p>Samples with an atomic-helper frame anywhere on the stack: A "
        f"{100.0 * in_helper_a / total_a:.2f}%, B {100.0 * in_helper_b / total_b:.2f}%.</p>",
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="differential flame graph">',
        *body,
        "</svg>",
        f"<p>{_esc(merge_note)} Stacks seen only in A have no width here: {len(gone):,} "
        f"stacks, {gone_share:.2f}% of A's samples (see the table below).</p>",
        _changes_table(folded, total_a, total_b),
        "</body></html>",
    ]
    return "\n".join(page) + "\n"


def _helper_totals(folded: FoldedDiff) -> tuple[int, int]:
    """A's and B's samples whose stack holds an atomic-helper frame (raw counts)."""
    helpers = folded.helper_frames
    a = b = 0
    if helpers:
        for stack, raw_a, _scaled, count_b in folded.stacks:
            if any(frame in helpers for frame in stack.split(";")):
                a += raw_a
                b += count_b
    return a, b


def _changes_table(folded: FoldedDiff, total_a: int, total_b: int, top: int = 15) -> str:
    """Leaf (self) samples per function, the largest changes first: this also shows
    what vanished, which the graph of B cannot."""
    self_a: dict[str, int] = {}
    self_b: dict[str, int] = {}
    for stack, raw_a, _scaled, b in folded.stacks:
        leaf = stack.rsplit(";", 1)[-1]
        self_a[leaf] = self_a.get(leaf, 0) + raw_a
        self_b[leaf] = self_b.get(leaf, 0) + b
    rows = []
    for name in set(self_a) | set(self_b):
        pa, pb = 100.0 * self_a.get(name, 0) / total_a, 100.0 * self_b.get(name, 0) / total_b
        rows.append((pb - pa, name, pa, pb))
    rows.sort(key=lambda r: (-abs(r[0]), r[1]))
    cells = "".join(
        f"<tr><td>{_esc(name)}{' (helper)' if name in folded.helper_frames else ''}</td>"
        f"<td>{pa:.2f}%</td><td>{pb:.2f}%</td><td>{d:+.2f} pp</td></tr>"
        for d, name, pa, pb in rows[:top]
    )
    return (
        "<h2>Largest changes in self samples</h2><table><tr><th>function</th><th>A</th>"
        f"<th>B</th><th>Δ</th></tr>{cells}</table>"
    )
