"""The dashboard's plots, as inline SVG drawn by matplotlib.

Why matplotlib: it is the most widely maintained Python plotting library, its
SVG output needs no runtime in the page (a JavaScript charting runtime such
as plotly's is ~4.5 MB, most of the 5 MB budget before any data), it escapes
the text it writes into SVG, and with a fixed id salt and no date its output
is byte-for-byte reproducible. The object API is used, never pyplot: no global
figure registry, no GUI backend.

Run-derived text (commit ids, variants, hostnames) reaches matplotlib only
through :func:`_mpl`, which escapes ``$`` so that it cannot start mathtext.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

from lseprof.analysis.stats import median
from lseprof.analysis.usl import UslFit
from lseprof.analysis.verdicts import Mark, Night, Series

CATEGORIES = ("atomic_helper", "inline_atomic", "lock", "futex", "spin", "work")
REP_DOTS_MAX = 120  # above this many plotted nights, repetitions are a band only
LABEL_MAX = 48  # characters of a run-derived tick label (the tables show it whole)
BAD, GOOD = "#c0392b", "#1e8449"

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # text stays text: small, selectable, escaped by matplotlib
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # one family name per text element, not ten
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "path.simplify": True,
}


def _mpl(text: str) -> str:
    """Run-derived text for matplotlib: '$' would start mathtext, so it is escaped.
    (matplotlib itself escapes <, > and & when it writes SVG text.)"""
    return text.replace("$", r"\$")


def short(commit: str | None) -> str:
    return commit[:10] if commit else "?"


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(_RC), warnings.catch_warnings():
        # Symbols and hostnames may hold characters DejaVu lacks; the browser has fonts.
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        yield


def _svg(fig: Figure, salt: str) -> str:
    """The figure as an inline <svg> element (no XML prolog, DOCTYPE or metadata).

    The id salt differs per figure: several SVGs share one HTML document, and
    matplotlib's clip-path and marker ids must not collide between them.
    """
    buf = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = re.sub(r"^.*?(?=<svg )", "", buf.getvalue(), count=1, flags=re.S)
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)


def _mark(ax: Axes, series: Series, mark: Mark, text: str) -> None:
    """A change point: a dashed line between the nights around it, labelled with the
    step and the source commits of the last night before and the first after."""
    before, after = series.nights[mark.before], series.nights[mark.night]
    x = before.when + (after.when - before.when) / 2
    colour = BAD if mark.bad else GOOD
    # matplotlib's unit machinery converts datetimes; its stubs only admit floats.
    ax.axvline(cast(float, x), color=colour, linestyle="--", linewidth=1.2)
    label = f"{text}\n{_mpl(short(before.commit))}\u2192{_mpl(short(after.commit))}"
    ax.annotate(
        label,
        xy=(x, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(3, -3),
        textcoords="offset points",
        va="top",
        ha="left",
        fontsize=7,
        color=colour,
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour, "alpha": 0.85},
    )


def category_names(maps: Iterable[dict[str, float]]) -> list[str]:
    """The categories to stack: all but ``work``, which is most samples and would
    flatten the few percent that matter (helpers, locks, futexes, spinning)."""
    seen = {name for m in maps for name in m} - {"work"}
    return [c for c in CATEGORIES if c in seen] + sorted(seen - set(CATEGORIES))


def _categories(ax: Axes, nights: list[Night]) -> None:
    names = category_names(n.categories for n in nights)
    if names:
        ax.stackplot(
            cast(list[float], [n.when for n in nights]),  # datetimes, see _mark
            *[[n.categories.get(c, 0.0) for n in nights] for c in names],
            labels=[_mpl(c) for c in names],
            linewidth=0,
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    ax.set_ylabel("% not work")


def series_svg(job: tuple[Series, Sequence[int], str]) -> str:
    """(series, plotted night indices, id salt) -> throughput (median line, min-max band,
    repetitions), helper share and stacked categories, change points marked."""
    series, keep, salt = job
    with _style():
        # Fixed margins, no layout engine: the labels here are ours and of known size,
        # and constrained layout would draw every figure twice.
        fig = Figure(figsize=(10.5, 6.4))
        fig.subplots_adjust(left=0.07, right=0.86, top=0.98, bottom=0.09, hspace=0.08)
        tp_ax, share_ax, cat_ax = fig.subplots(
            3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.5, 1.7]}
        )
        nights = [series.nights[i] for i in keep]
        tp = [n for n in nights if n.throughput]
        when = [n.when for n in tp]
        tp_ax.fill_between(
            when,
            [min(n.throughput) for n in tp],
            [max(n.throughput) for n in tp],
            alpha=0.25,
            color="#2e86c1",
            linewidth=0,
            label="min-max of repetitions",
        )
        tp_ax.plot(
            when, [median(n.throughput) for n in tp], color="#1b4f72", linewidth=1.2, label="median"
        )
        if len(tp) <= REP_DOTS_MAX:
            tp_ax.scatter(
                cast(list[float], [n.when for n in tp for _ in n.throughput]),
                [v for n in tp for v in n.throughput],
                s=6,
                color="#1b4f72",
                alpha=0.6,
                label="repetitions",
            )
        tp_ax.set_ylabel("MiB/s")
        tp_ax.legend(loc="lower left", fontsize=7)
        sh = [n for n in nights if n.share is not None]
        share_ax.plot([n.when for n in sh], [n.share for n in sh], color="#884ea0", linewidth=1.2)
        share_ax.set_ylabel("helper %")
        woke = [n for n in nights if n.wakeups_per_item is not None]
        if woke:
            # --sched nights: the mechanism beside its symptom, on its own scale.
            wake_ax = share_ax.twinx()
            wake_ax.plot(
                [n.when for n in woke],
                [1000.0 * (n.wakeups_per_item or 0.0) for n in woke],
                color="#d35400",
                linewidth=1.0,
                linestyle="--",
                marker=".",
                label="wake-ups per 1,000 items",
            )
            wake_ax.set_ylabel("wake-ups/kitem", color="#d35400")
            wake_ax.legend(loc="upper left", fontsize=7)
        _categories(cat_ax, nights)
        for mark in series.marks:
            if mark.metric == "throughput":
                _mark(tp_ax, series, mark, f"{mark.point.delta_pct:+.1f}%")
            else:
                _mark(share_ax, series, mark, f"{mark.point.delta_abs:+.2f} pp")
        fig.autofmt_xdate(bottom=0.09)  # its default margin would leave a gap
        return _svg(fig, salt)


def scaling_svg(
    series: Sequence[Series], salt: str, fits: Mapping[str, UslFit] | None = None
) -> str:
    """Newest night of each series: throughput and helper share against threads, per
    variant; with ``fits`` (variant -> USL fit) the fitted curve over the measured one,
    drawn on to the predicted peak."""
    with _style():
        woke_any = any(n.wakeups_per_item is not None for s in series for n in s.nights[-1:])
        fig = Figure(figsize=(14.0 if woke_any else 10.5, 3.2), layout="constrained")
        axes = fig.subplots(1, 3 if woke_any else 2)
        tp_ax, share_ax = axes[0], axes[1]
        wake_ax = axes[2] if woke_any else None
        for variant in sorted({s.key[1] for s in series}):
            fit = (fits or {}).get(str(variant))
            threads = [s.key[2] for s in series if s.key[1] == variant and s.key[2]]
            if fit is not None and threads:
                top = max(max(threads), min(fit.peak_threads or 0, 4 * max(threads)))
                grid = np.geomspace(1, top, 80)
                tp_ax.plot(
                    grid,
                    fit.predict(grid),
                    linestyle="--",
                    linewidth=1,
                    label=_mpl(f"{variant} USL σ={fit.sigma:.3f} κ={fit.kappa:.1e}"),  # noqa: RUF001
                )
                if fit.peak_threads and fit.peak_threads <= top:
                    tp_ax.axvline(fit.peak_threads, linestyle=":", linewidth=0.8, color="grey")
            rows = sorted(
                (
                    (s.key[2] or 0, s.nights[-1])
                    for s in series
                    if s.key[1] == variant and s.key[2] is not None
                ),
                key=lambda row: row[0],
            )
            tp = [(t, n) for t, n in rows if n.throughput]
            if tp:
                mids = [median(n.throughput) for _, n in tp]
                low = [m - min(n.throughput) for m, (_, n) in zip(mids, tp, strict=True)]
                high = [max(n.throughput) - m for m, (_, n) in zip(mids, tp, strict=True)]
                tp_ax.errorbar(
                    [t for t, _ in tp],
                    mids,
                    yerr=[low, high],
                    marker="o",
                    capsize=3,
                    label=_mpl(variant),
                )
            sh = [(t, n.share) for t, n in rows if n.share is not None]
            if sh:
                share_ax.plot(
                    [t for t, _ in sh], [v for _, v in sh], marker="o", label=_mpl(variant)
                )
            wk = [
                (t, 1000.0 * n.wakeups_per_item) for t, n in rows if n.wakeups_per_item is not None
            ]
            if wake_ax is not None and wk:
                wake_ax.plot(
                    [t for t, _ in wk], [v for _, v in wk], marker="o", label=_mpl(variant)
                )
        panels = [(tp_ax, "MiB/s (median, min-max)"), (share_ax, "helper share %")]
        if wake_ax is not None:
            panels.append((wake_ax, "wake-ups per 1,000 items"))
        for ax, label in panels:
            ax.set_xlabel("threads")
            ax.set_ylabel(label)
            if ax.has_data():
                ax.set_xscale("log", base=2)
                ax.legend(fontsize=7)
        return _svg(fig, salt)


def group_svg(configs: Sequence[tuple[str, dict[str, float]]], salt: str) -> str:
    """Category shares of each configuration of a run group, as stacked bars.

    One axes and fixed margins (no layout engine): a year of history has hundreds
    of group pages, and this keeps each figure cheap to draw.
    """
    with _style():
        labels = [
            _mpl(label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "\u2026")
            for label, _ in configs
        ]
        height = 0.9 + 0.28 * len(configs)
        fig = Figure(figsize=(10.5, height))
        longest = max(len(label) for label in labels)
        # About 5.5 pt per character at 9 pt; 756 pt is the figure width.
        fig.subplots_adjust(
            left=min(0.45, (longest * 5.5 + 14) / 756),
            right=0.84,
            top=1 - 0.12 / height,
            bottom=0.55 / height,
        )
        ax = fig.subplots()
        rows = list(range(len(configs)))
        left = [0.0] * len(configs)
        colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, name in enumerate(category_names(shares for _, shares in configs)):
            widths = [shares.get(name, 0.0) for _, shares in configs]
            # One collection of rectangles per category: barh would make an artist per
            # bar, which costs more than all the rest of the figure.
            boxes = [
                [(x, y - 0.4), (x + w, y - 0.4), (x + w, y + 0.4), (x, y + 0.4)]
                for x, w, y in zip(left, widths, rows, strict=True)
            ]
            ax.add_collection(
                PolyCollection(
                    boxes, facecolors=colours[k % len(colours)], linewidths=0, label=_mpl(name)
                )
            )
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.set_xlim(0, max(1.0, *left) * 1.05)
        ax.set_ylim(len(configs) - 0.5, -0.5)  # first configuration on top
        ax.set_yticks(rows, labels)
        ax.set_xlabel("% of samples outside work (mean of ok repetitions)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
        return _svg(fig, salt)
