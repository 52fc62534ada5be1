"""A profile over time as a picture: FlameScope's sub-second heat map (columns are
seconds from the first sample, rows the 20 ms slices of each second, colour the
samples in the cell), one for all samples and one per category, and below it the
per-thread timeline (samples per bin on CPU; off-CPU time per bin by reason where
the profile has scheduler events).

``lseprof report --heatmap FILE.svg`` writes the picture alone; ``FILE.html`` a
self-contained page with it, where dragging over a heat map selects a stretch of
time and the page shows the ``--time-range`` to pass to ``lseprof report`` (a small
script, allowed by the page's Content-Security-Policy through its hash; no network).
The dashboard draws the same heat map per run (:func:`heatmap_svg`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lseprof.errors import LseprofError
from lseprof.results import CATEGORIES, REASONS, HeatMap, Timeline, TimeWindow

SUFFIXES = (".svg", ".html")
_LEFT, _TOP, _GAP = 150, 28, 34
_PLOT_WIDTH = 900
_LOW, _HIGH = (255, 236, 210), (170, 20, 0)  # light orange to dark red, FlameScope's hues
_REASON_COLOURS = {
    "futex": "#d62728",
    "yield": "#ff7f0e",
    "preempted": "#9467bd",
    "sleep": "#2ca02c",
    "io": "#8c564b",
    "other": "#7f7f7f",
}
_TRACK_H, _ON_H, _OFF_H = 22, 9, 9


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _colour(value: int, top: int) -> str:
    f = value / top if top else 0.0
    r, g, b = (round(lo + (hi - lo) * f) for lo, hi in zip(_LOW, _HIGH, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


@dataclass
class _Map:
    """Where one heat map is drawn: its top-left corner and cell size (for the page's
    script too)."""

    name: str
    x: float
    y: float
    cell_w: float
    cell_h: float
    grid: list[list[int]]

    def to_json(self, rows: int) -> dict[str, object]:
        return {
            "name": self.name,
            "x": self.x,
            "y": self.y,
            "cw": self.cell_w,
            "ch": self.cell_h,
            "cols": len(self.grid),
            "rows": rows,
            "counts": self.grid,
        }


def _layout(heatmap: HeatMap, categories: bool) -> list[_Map]:
    """All samples large; the categories with samples small, side by side below it."""
    cell_w = float(max(2, min(60, math.floor(_PLOT_WIDTH / heatmap.columns))))
    maps = [_Map("all", _LEFT, _TOP, cell_w, 6.0, heatmap.counts["all"])]
    small_w = max(2.0, math.floor(cell_w / 2))
    width = max(heatmap.columns * small_w + _GAP * 2, 190.0)  # room for the title too
    x, y = float(_LEFT), _TOP + heatmap.rows * 6.0 + _GAP + 14
    for name in (c for c in CATEGORIES if categories and c in heatmap.counts):
        if x > _LEFT and x + width > _LEFT + _PLOT_WIDTH:
            x, y = float(_LEFT), y + heatmap.rows * 3.0 + _GAP + 14
        maps.append(_Map(name, x, y, small_w, 3.0, heatmap.counts[name]))
        x += width
    return maps


def _axes(m: _Map, heatmap: HeatMap) -> Iterator[str]:
    height = heatmap.rows * m.cell_h
    width = len(m.grid) * m.cell_w
    total = sum(map(sum, m.grid))
    title = "all samples" if m.name == "all" else f"{m.name} samples"
    of = f" of {heatmap.event}" if m.name == "all" else ""
    yield f'<text x="{m.x}" y="{m.y - 6}" class="t">{_esc(title)} ({total:,}){_esc(of)}</text>'
    yield (
        f'<rect class="bg" x="{m.x}" y="{m.y}" width="{width}" height="{height}" '
        'fill="#fff" stroke="#bbb"/>'
    )
    for ms in range(0, 1000, 200 if m.cell_h >= 6 else 500) if m.x == _LEFT else ():
        y = m.y + ms / 1000 * height
        yield f'<text x="{m.x - 4}" y="{y + 4}" text-anchor="end" class="l">{ms} ms</text>'
    step = max(1, math.ceil(40 / m.cell_w))
    for c in range(0, len(m.grid), step):
        x = m.x + c * m.cell_w
        yield (
            f'<text x="{x + 1}" y="{m.y + height + 11}" class="l">'
            f"{heatmap.first_column + c} s</text>"
        )


def _cells(m: _Map) -> Iterator[str]:
    top = max((max(column) for column in m.grid if column), default=0)
    for c, column in enumerate(m.grid):
        for r, count in enumerate(column):
            if count:
                yield (
                    f'<rect x="{m.x + c * m.cell_w:g}" y="{m.y + r * m.cell_h:g}" '
                    f'width="{m.cell_w:g}" height="{m.cell_h:g}" fill="{_colour(count, top)}"/>'
                )


def _timeline(timeline: Timeline, y0: float) -> Iterator[str]:
    width = _PLOT_WIDTH / max(1, timeline.bins)
    yield (
        f'<text x="{_LEFT}" y="{y0 - 6}" class="t">Threads over time ({timeline.start_s:.2f} s '
        f"to {timeline.start_s + timeline.bins * timeline.bin_s:.2f} s): samples (blue), "
        "off-CPU by reason</text>"
    )
    top = max((max(t.samples) for t in timeline.tracks if t.samples), default=0) or 1
    for i, track in enumerate(timeline.tracks):
        y = y0 + i * _TRACK_H
        label = f"{track.name} [{track.tid}]" if track.tid is not None else track.name
        yield (
            f'<text x="{_LEFT - 4}" y="{y + 11}" text-anchor="end" class="l">'
            f"{_esc(label[:28])}</text>"
        )
        yield (
            f'<rect x="{_LEFT}" y="{y}" width="{_PLOT_WIDTH}" height="{_ON_H + _OFF_H}" '
            'fill="#fafafa" stroke="#eee"/>'
        )
        for b, count in enumerate(track.samples):
            if count:
                yield (
                    f'<rect x="{_LEFT + b * width:g}" y="{y}" width="{width:g}" '
                    f'height="{_ON_H}" fill="#1f77b4" fill-opacity="{count / top:.3f}"/>'
                )
        yield from _off_cpu(track.off_cpu_s, timeline.bin_s, y + _ON_H, width)
    if any(t.off_cpu_s for t in timeline.tracks):
        y = y0 + len(timeline.tracks) * _TRACK_H + 8
        for k, reason in enumerate(REASONS):
            x = _LEFT + k * 110
            yield f'<rect x="{x}" y="{y}" width="10" height="10" fill="{_REASON_COLOURS[reason]}"/>'
            yield f'<text x="{x + 14}" y="{y + 9}" class="l">{reason}</text>'


def _off_cpu(off: dict[str, list[float]], bin_s: float, y: float, width: float) -> Iterator[str]:
    """Each bin's off-CPU time, stacked by reason, as a share of the bin's height."""
    filled = [0.0] * max((len(v) for v in off.values()), default=0)
    for reason in REASONS:
        for b, seconds in enumerate(off.get(reason, [])):
            height = min(1.0, seconds / bin_s) * _OFF_H if bin_s else 0.0
            if height >= 0.05:
                yield (
                    f'<rect x="{_LEFT + b * width:g}" y="{y + filled[b]:.2f}" width="{width:g}" '
                    f'height="{height:.2f}" fill="{_REASON_COLOURS[reason]}"/>'
                )
                filled[b] += height


def _svg(
    heatmap: HeatMap,
    timeline: Timeline | None,
    categories: bool,
    for_page: bool,
    ident: str = "heatmap",
) -> tuple[str, list[_Map]]:
    maps = _layout(heatmap, categories)
    body: list[str] = []
    for m in maps:
        body += [*_axes(m, heatmap), *_cells(m)]
    height = maps[-1].y + heatmap.rows * maps[-1].cell_h + 20
    if timeline is not None and timeline.tracks:
        y0 = height + _GAP
        body += list(_timeline(timeline, y0))
        height = y0 + len(timeline.tracks) * _TRACK_H + 30
    width = _LEFT + max(_PLOT_WIDTH, len(heatmap.counts["all"]) * maps[0].cell_w) + 20
    overlay = (
        '<path id="sel" fill="#1f77b4" fill-opacity="0.25" stroke="#1f77b4"/>' if for_page else ""
    )
    style = "<style>.t{font:bold 12px sans-serif}.l{font:10px sans-serif;fill:#444}</style>"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_esc(ident)}" width="{width:g}" '
        f'height="{height:g}" viewBox="0 0 {width:g} {height:g}">{style}'
        + "".join(body)
        + overlay
        + "</svg>"
    )
    return svg, maps


def heatmap_svg(
    heatmap: HeatMap,
    timeline: Timeline | None = None,
    categories: bool = True,
    ident: str = "heatmap",
) -> str:
    """The heat maps (all samples, then each category with samples) and the timeline,
    as one SVG image (`ident`: its element id, unique within a page)."""
    return _svg(heatmap, timeline, categories, for_page=False, ident=ident)[0]


_SCRIPT = """
const cfg = JSON.parse(document.getElementById('lseprof-heatmap').textContent);
const svg = document.getElementById('heatmap');
const sel = document.getElementById('sel');
const hover = document.getElementById('hover');
const range = document.getElementById('range');
let start = null;
function at(e) {
  const pt = svg.createSVGPoint();
  pt.x = e.clientX; pt.y = e.clientY;
  const p = pt.matrixTransform(svg.getScreenCTM().inverse());
  for (const m of cfg.maps) {
    const c = Math.floor((p.x - m.x) / m.cw), r = Math.floor((p.y - m.y) / m.ch);
    if (c >= 0 && c < m.cols && r >= 0 && r < m.rows) return {m: m, c: c, r: r};
  }
  return null;
}
function time(h) { return cfg.first + h.c + h.r / h.m.rows; }
function fmt(t) { return String(Math.round(t * 1000) / 1000); }
function box(x0, y0, x1, y1) { return 'M' + x0 + ' ' + y0 + 'H' + x1 + 'V' + y1 + 'H' + x0 + 'Z'; }
function shape(a, b) {
  if (time(b) < time(a)) { const s = a; a = b; b = s; }
  const m = a.m, x = c => m.x + c * m.cw, y = r => m.y + r * m.ch;
  if (a.c === b.c) return box(x(a.c), y(a.r), x(a.c + 1), y(b.r + 1));
  let d = box(x(a.c), y(a.r), x(a.c + 1), y(m.rows)) + box(x(b.c), y(0), x(b.c + 1), y(b.r + 1));
  if (b.c > a.c + 1) d += box(x(a.c + 1), y(0), x(b.c), y(m.rows));
  return d;
}
function show(a, b) {
  sel.setAttribute('d', shape(a, b));
  const t0 = Math.min(time(a), time(b)), t1 = Math.max(time(a), time(b)) + 1 / a.m.rows;
  const text = '--time-range ' + fmt(t0) + ',' + fmt(t1);
  range.value = 'lseprof report ' + cfg.path + ' ' + text;
  range.dataset.range = fmt(t0) + ',' + fmt(t1);
}
svg.addEventListener('mousedown', e => {
  const h = at(e);
  if (h) { start = h; show(h, h); e.preventDefault(); }
});
svg.addEventListener('mousemove', e => {
  const h = at(e);
  if (h) hover.textContent = h.m.name + ': ' + fmt(time(h)) + ' s from the first sample, ' +
    h.m.counts[h.c][h.r] + ' samples';
  if (start && h && h.m === start.m) show(start, h);
});
window.addEventListener('mouseup', () => { start = null; });
"""


def _page(
    report_path: str, heatmap: HeatMap, timeline: Timeline | None, window: TimeWindow | None
) -> str:
    svg, maps = _svg(heatmap, timeline, categories=True, for_page=True)
    data = {
        "path": report_path,
        "first": heatmap.first_column,
        "maps": [m.to_json(heatmap.rows) for m in maps],
    }
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    csp = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    shown = f"; this report covers {window.start_s:g} s to {window.end_s:g} s" if window else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        f"<title>lseprof heat map: {_esc(report_path)}</title>"
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:1em}"
        "input{width:100%;font:13px monospace}svg{display:block}</style></head><body>"
        f"<h1>Samples over time</h1><p><code>{_esc(report_path)}</code>: "
        f"{sum(map(sum, heatmap.counts['all'])):,} samples of {_esc(heatmap.event)}; "
        "columns are seconds from the first sample, rows the 20 ms slices of each second"
        f"{_esc(shown)}. Drag over a heat map to select a stretch of time.</p>"
        '<p><input id="range" readonly value="(drag over a heat map)" aria-label="command">'
        '</p><p id="hover">&nbsp;</p>'
        f"{svg}"
        f'<script type="application/json" id="lseprof-heatmap">{payload}</script>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def write_heatmap(
    target: Path,
    report_path: str,
    heatmap: HeatMap,
    timeline: Timeline | None = None,
    window: TimeWindow | None = None,
) -> Path:
    """Write the heat map file: an SVG image, or an HTML page (by the suffix)."""
    suffix = target.suffix.lower()
    if suffix not in SUFFIXES:
        raise LseprofError(f"--heatmap writes .svg or .html files, not {target.name!r}")
    text = (
        heatmap_svg(heatmap, timeline)
        if suffix == ".svg"
        else _page(report_path, heatmap, timeline, window)
    )
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise LseprofError(f"cannot write {target} ({exc.strerror or exc})") from None
    return target
