"""The dashboard's index page: alerts, latest-vs-previous table, scaling view, one section
per series, and the downsampling that keeps the page inside its size budget."""

from __future__ import annotations

import math
from collections.abc import Sequence

from lseprof.analysis.changepoint import EndCheck
from lseprof.analysis.stats import ThroughputComparison, compare_throughput, median
from lseprof.analysis.verdicts import Mark, Night, Series, Settings, created
from lseprof.reports.dashboard.html import (
    anchor,
    date_text,
    esc,
    group_link,
    html_table,
    num,
    page,
    table_cell,
)
from lseprof.reports.dashboard.plots import scaling_svg, series_svg, short
from lseprof.reports.dashboard.series import KEEP_RECENT, kept_nights
from lseprof.reports.dashboard.workers import pmap
from lseprof.store import RunRecord


def _check_cell(check: EndCheck | None) -> str:
    return "-" if check is None or check.status == "none" else check.status


def _night_cell(night: Night | None) -> str:
    if night is None:
        return "<td>-</td>"
    return (
        f"<td>{esc(date_text(night.when))}<br>{group_link(night.group_id)} "
        f"<code>{esc(short(night.commit))}</code></td>"
    )


def _comparison(series: Series) -> tuple[str, list[str]]:
    """Latest vs previous night of one series: one row of the summary table."""
    tp = series.with_throughput()
    latest = series.nights[tp[-1]] if tp else series.nights[-1]
    prev = series.nights[tp[-2]] if len(tp) > 1 else None
    result: ThroughputComparison | None = None
    if prev is not None and median(prev.throughput) > 0:
        result = compare_throughput(prev.throughput, latest.throughput)
    checks = (series.tp_check, series.share_check)
    cls = (
        "regression"
        if any(c and c.regression for c in checks)
        else "improvement"
        if any(c and c.status == "improvement" for c in checks)
        else ""
    )
    share = num(latest.share)
    if prev is not None and prev.share is not None and latest.share is not None:
        share = (
            f"{num(prev.share)} \u2192 {num(latest.share)} ({latest.share - prev.share:+.2f} pp)"
        )
    delta = p_value = verdict = before = "-"
    after = num(median(latest.throughput)) if latest.throughput else "-"
    if result is not None:
        delta = (
            f"{num(result.delta_pct, '{:+.1f}')} [{num(result.ci_low, '{:+.1f}')}, "
            f"{num(result.ci_high, '{:+.1f}')}]"
        )
        p_value, verdict = num(result.p_value, "{:.3f}"), result.verdict
        before, after = num(result.median_a), num(result.median_b)
    return cls, [
        f'<td><a href="#{anchor(series)}">{esc(series.label)}</a></td>',
        _night_cell(prev),
        _night_cell(latest),
        table_cell(before, True),
        table_cell(after, True),
        table_cell(delta, True),
        table_cell(p_value, True),
        table_cell(verdict),
        table_cell(share, True),
        table_cell(_check_cell(series.tp_check)),
        table_cell(_check_cell(series.share_check)),
    ]


def _step(mark: Mark) -> str:
    # Throughput steps are relative; the helper share is a percentage already.
    if mark.metric == "throughput":
        return f"{mark.point.delta_pct:+.1f}%"
    return f"{mark.point.delta_abs:+.2f} pp"


def _alerts(series: Sequence[Series]) -> str:
    lines = []
    for s in series:
        for metric, check in (("throughput", s.tp_check), ("atomic-helper share", s.share_check)):
            if check is None or not check.regression:
                continue
            mark = s.mark_of(check)
            if mark is None:
                continue
            before, after, p = s.nights[mark.before], s.nights[mark.night], mark.point
            # The data- attributes name what was judged, for tools (and tests) to read.
            lines.append(
                f'<li data-regression="{esc(metric.removeprefix("atomic-"))}" '
                f'data-config-key="{esc(s.config_key or "")}" '
                f'data-night="{esc(after.group_id)}"><b>{esc(metric)} regression</b> in '
                f'<a href="#{anchor(s)}">'
                f"{esc(s.label)}</a>: {esc(_step(mark))} (median {p.before_median:.2f} "
                f"\u2192 {p.after_median:.2f}, p = {p.p_value:.3f}) from "
                f"{esc(date_text(after.when))} ({group_link(after.group_id)}), source commit "
                f"<code>{esc(before.commit)}</code> \u2192 <code>{esc(after.commit)}</code></li>"
            )
    if not lines:
        return "<p>No regression at the newest nights.</p>"
    return f'<div class="alert"><ul>{"".join(lines)}</ul></div>'


def _marks_table(series: Series) -> str:
    if not series.marks:
        return "<p>No change point above the noise floor.</p>"
    rows = []
    for mark in sorted(series.marks, key=lambda m: (m.night, m.metric)):
        p, before, after = mark.point, series.nights[mark.before], series.nights[mark.night]
        rows.append(
            (
                "regression" if mark.bad else "improvement",
                [
                    table_cell(mark.metric),
                    f"<td>{esc(date_text(after.when))} {group_link(after.group_id)}</td>",
                    table_cell(_step(mark), True),
                    table_cell(f"{p.before_median:.2f} \u2192 {p.after_median:.2f}", True),
                    table_cell(f"{p.p_value:.3f}", True),
                    f"<td><code>{esc(before.commit)}</code> \u2192 "
                    f"<code>{esc(after.commit)}</code></td>",
                ],
            )
        )
    return html_table(
        (
            "metric",
            "first night after",
            "\u0394 median",
            "median before \u2192 after",
            "p",
            "source commit before \u2192 after",
        ),
        rows,
    )


def _series_section(series: Series, svg: str, plotted: int) -> str:
    first, last = series.nights[0], series.nights[-1]
    recent = " ".join(group_link(n.group_id, date_text(n.when)) for n in series.nights[-5:])
    shown = f"; {plotted} plotted" if plotted < len(series.nights) else ""
    return (
        f'<section><h2 id="{anchor(series)}">{esc(series.label)}</h2>'
        f"<p>{len(series.nights)} nights, {esc(date_text(first.when))} to "
        f"{esc(date_text(last.when))}{shown}. Newest groups: {recent}</p>"
        f"{svg}{_marks_table(series)}</section>"
    )


def _scaling_sections(series: Sequence[Series]) -> str:
    contexts: dict[tuple[str, str, str], list[Series]] = {}
    for s in series:
        contexts.setdefault((s.key[0], s.key[3], s.key[4]), []).append(s)
    parts: list[str] = []
    for (workload, target, host), members in contexts.items():
        if len({s.key[2] for s in members}) < 2:
            continue  # one thread count: nothing to scale over
        newest = max(s.nights[-1].when for s in members)
        parts.append(
            f"<h3>{esc(workload)} / {esc(target)} @ {esc(host)}</h3><p>The newest night of "
            f"each series (up to {esc(date_text(newest))}).</p>"
            + scaling_svg(members, salt=f"scale-{len(parts)}")
        )
    if not parts:
        return ""
    return '<section><h2 id="scaling">Scaling (latest night)</h2>' + "".join(parts) + "</section>"


def _groups_list(by_group: dict[str, list[RunRecord]]) -> str:
    items = []
    for gid, runs in sorted(
        by_group.items(), key=lambda kv: (kv[1][0].created_at, kv[0]), reverse=True
    ):
        hosts = ", ".join(sorted({r.hostname or "-" for r in runs}))
        failed = sum(r.status != "ok" for r in runs)
        items.append(
            f"<li>{esc(date_text(created(runs[0])))} {group_link(gid, gid)} "
            f"({len(runs)} runs"
            + (f", {failed} not ok" if failed else "")
            + f"; {esc(hosts)})</li>"
        )
    return (
        f'<section><h2 id="groups">Run groups</h2><details><summary>All {len(items)} '
        f"run groups, newest first</summary><ul>{''.join(items)}</ul></details></section>"
    )


def index_html(
    records: Sequence[RunRecord],
    series: Sequence[Series],
    by_group: dict[str, list[RunRecord]],
    settings: Settings,
    step: int = 1,
    notice: str = "",
) -> str:
    """The index page; ``step`` > 1 plots only every step-th night (see kept_nights)."""
    if not records:
        return page(
            "lseprof dashboard",
            "<h1>lseprof dashboard</h1><p>There are no runs in "
            "the store yet. Profile some with <code>lseprof run</code>, then "
            "regenerate this page.</p>",
        )
    keeps = [kept_nights(s, step, settings.min_size) for s in series]
    svgs = pmap(series_svg, [(s, k, anchor(s)) for s, k in zip(series, keeps, strict=True)])
    head = (
        f"<h1>lseprof dashboard</h1><p>{len(records)} runs in {len(by_group)} groups, "
        f"{len(series)} series; newest run {esc(date_text(created(records[-1])))} UTC. "
        f"Change points: E-Divisive means with a permutation test over the whole history, "
        f"at least {settings.min_size} nights a side, noise floor "
        f"{settings.noise_floor_pct:g}% (throughput) and {settings.share_floor_pp:g} pp "
        "(helper share); see docs/regressions.md.</p>"
        + (f'<p class="notice">{notice}</p>' if notice else "")
        + '<p><a href="#latest">Latest vs previous</a> \u00b7 <a href="#scaling">'
        'Scaling</a> \u00b7 <a href="#groups">Run groups</a></p>'
    )
    table = html_table(
        (
            "series",
            "previous night",
            "latest night",
            "prev MiB/s",
            "latest MiB/s",
            "\u0394% [95% CI]",
            "p",
            "verdict",
            "helper share %",
            "throughput step",
            "helper-share step",
        ),
        (_comparison(s) for s in series),
    )
    return page(
        "lseprof dashboard",
        (
            head
            + "<h2>Alerts</h2>"
            + _alerts(series)
            + f'<h2 id="latest">Latest vs previous night</h2>{table}'
            + "<p>Verdict: Mann-Whitney test of the repetitions (unresolved below 5 a side). "
            "Step columns: change points over the whole history at the newest nights.</p>"
            + _scaling_sections(series)
            + "".join(
                _series_section(s, svg, len(k))
                for s, svg, k in zip(series, svgs, keeps, strict=True)
            )
            + _groups_list(by_group)
        ),
    )


def fit_index(
    records: Sequence[RunRecord],
    series: Sequence[Series],
    by_group: dict[str, list[RunRecord]],
    settings: Settings,
    budget: int,
) -> str:
    """The index page, downsampled (every k-th night) until it fits ``budget`` bytes."""
    text = index_html(records, series, by_group, settings)
    longest = max((len(s.nights) for s in series), default=1)
    step = 1
    for _ in range(8):
        size = len(text.encode())
        if size <= budget or step >= longest:
            break
        # Size grows about linearly with the plotted nights; aim 10% under the budget.
        step = min(longest, max(step + 1, math.ceil(step * size / (0.9 * budget))))
        total = sum(len(s.nights) for s in series)
        shown = sum(len(kept_nights(s, step, settings.min_size)) for s in series)
        notice = (
            f"Downsampled to fit the {budget / 1e6:.2g} MB size budget: the plots show "
            f"{shown} of {total} nights (every {step}th night, plus the newest "
            f"{KEEP_RECENT} and all within {settings.min_size} nights of a change point). "
            "Change points were detected on all nights."
        )
        text = index_html(records, series, by_group, settings, step, notice)
    if len(text.encode()) > budget:
        text = text.replace(
            '<p class="notice">',
            '<p class="notice">Still over the size budget after downsampling. ',
            1,
        )
    return text
