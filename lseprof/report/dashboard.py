"""The offline regression dashboard: one self-contained HTML file plus a page per run group.

``build_dashboard(records, out_dir)`` writes ``out_dir/index.html`` (nightly
series with change points, latest-vs-previous table, scaling view) and
``out_dir/groups/<group_id>.html``. The pages need no server, no network and no
JavaScript: plots are inline SVG drawn by matplotlib (why: see
:mod:`lseprof.report.dashboard_plots`; a year of 8 nightly series measures 1.3 MB, see
docs/regressions.md). Series and change points come from
:mod:`lseprof.report.dashboard_series`.

Everything taken from runs is HTML-escaped, and every page carries a
Content-Security-Policy that forbids scripts and all fetches, as a second line
of defence.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from lseprof._version import __version__
from lseprof.analysis.changepoint import EndCheck
from lseprof.analysis.stats import ThroughputComparison, compare_throughput, median
from lseprof.errors import LseprofError
from lseprof.report.dashboard_plots import group_svg, scaling_svg, series_svg, short
from lseprof.report.dashboard_series import (
    KEEP_RECENT,
    Mark,
    Night,
    Series,
    Settings,
    created,
    kept_nights,
    mean_categories,
    one_series,
    series_jobs,
    series_key,
    sort_key,
    threads_text,
)
from lseprof.store import RunRecord

SIZE_BUDGET = 5_000_000  # bytes of index.html
MARKER = ".lseprof-dashboard"  # marks a directory as ours, so regenerating it is safe
MAX_WORKERS = 8
_GROUP_HASH = re.compile(r"<!-- lseprof-dashboard-group ([0-9a-f]{64}) -->")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

T = TypeVar("T")
R = TypeVar("R")


def _pmap(func: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[func(i) for i in items]``, in worker processes when there is enough work.

    Each matplotlib figure costs 0.1-0.5 s and a year of history has hundreds of
    group pages and thousands of change-point permutations, so a first build is
    spread over the cores. forkserver, not fork: safe in a threaded caller, and the
    server imports this module once for all workers.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    workers = min(cpus, MAX_WORKERS, len(items) // 4)
    if workers < 2:
        return [func(item) for item in items]
    try:
        context = multiprocessing.get_context("forkserver")
    except ValueError:  # a platform without it (Windows): draw here, just slower
        return [func(item) for item in items]
    context.set_forkserver_preload(["lseprof.report.dashboard"])
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(func, items, chunksize=max(1, len(items) // (4 * workers))))


# --------------------------------------------------------------------------- HTML basics

def esc(value: object) -> str:
    """Text from runs, safe in HTML text and in quoted attributes."""
    return html.escape("-" if value is None else str(value), quote=True)


def group_file(group_id: str) -> str:
    """The page name of a group: its id when that is a safe file name, else a hash of it."""
    if _SAFE_NAME.fullmatch(group_id):
        return f"{group_id}.html"
    return "g-" + hashlib.sha256(group_id.encode()).hexdigest()[:24] + ".html"


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1150px;padding:0 1em;
color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.regression td{background:#fdecea}tr.improvement td{background:#eafaf1}
.notice{background:#fff8e1;border:1px solid #f0c36d;padding:.5em .8em}
.alert{background:#fdecea;border:1px solid #e6a19a;padding:.5em .8em}
svg{max-width:100%;height:auto;display:block}code{font-size:12px;word-break:break-all}
td[title] code{white-space:nowrap;word-break:normal}.wide{overflow-x:auto}
"""


def page(title: str, body: str, comment: str = "") -> str:
    """A whole HTML document; ``body`` is HTML already."""
    return (
        f"<!DOCTYPE html>\n{comment}<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">"
        f"<meta name=\"generator\" content=\"lseprof {esc(__version__)}\">"
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>\n{body}\n"
        "</body></html>\n"
    )


def _table(headers: Sequence[str], rows: Iterable[tuple[str, Sequence[str]]]) -> str:
    """``rows``: (row class, cells); cells are HTML already."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(f"<tr class=\"{cls}\">{''.join(cells)}</tr>" for cls, cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(value: object, numeric: bool = False) -> str:
    return f"<td class=\"n\">{esc(value)}</td>" if numeric else f"<td>{esc(value)}</td>"


def _code(value: object) -> str:
    return f"<td><code>{esc(value)}</code></td>"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None or not math.isfinite(value) else fmt.format(value)


def _date(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")


def _group_link(group_id: str, text: str | None = None, prefix: str = "groups/") -> str:
    return (f"<a href=\"{prefix}{esc(group_file(group_id))}\">"
            f"{esc(text if text is not None else group_id[:12])}</a>")


def _anchor(series: Series) -> str:
    # Keys hold arbitrary text; a hash makes a valid, stable fragment id.
    return "s-" + hashlib.sha256(repr(series.key).encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- index.html

def _check_cell(check: EndCheck | None) -> str:
    return "-" if check is None or check.status == "none" else check.status


def _night_cell(night: Night | None) -> str:
    if night is None:
        return "<td>-</td>"
    return (f"<td>{esc(_date(night.when))}<br>{_group_link(night.group_id)} "
            f"<code>{esc(short(night.commit))}</code></td>")


def _comparison(series: Series) -> tuple[str, list[str]]:
    """Latest vs previous night of one series: one row of the summary table."""
    tp = series.with_throughput()
    latest = series.nights[tp[-1]] if tp else series.nights[-1]
    prev = series.nights[tp[-2]] if len(tp) > 1 else None
    result: ThroughputComparison | None = None
    if prev is not None and median(prev.throughput) > 0:
        result = compare_throughput(prev.throughput, latest.throughput)
    checks = (series.tp_check, series.share_check)
    cls = ("regression" if any(c and c.regression for c in checks) else
           "improvement" if any(c and c.status == "improvement" for c in checks) else "")
    share = _num(latest.share)
    if prev is not None and prev.share is not None and latest.share is not None:
        share = (f"{_num(prev.share)} \u2192 {_num(latest.share)} "
                 f"({latest.share - prev.share:+.2f} pp)")
    delta = p_value = verdict = before = "-"
    after = _num(median(latest.throughput)) if latest.throughput else "-"
    if result is not None:
        delta = (f"{_num(result.delta_pct, '{:+.1f}')} [{_num(result.ci_low, '{:+.1f}')}, "
                 f"{_num(result.ci_high, '{:+.1f}')}]")
        p_value, verdict = _num(result.p_value, "{:.3f}"), result.verdict
        before, after = _num(result.median_a), _num(result.median_b)
    return cls, [
        f"<td><a href=\"#{_anchor(series)}\">{esc(series.label)}</a></td>",
        _night_cell(prev), _night_cell(latest), _td(before, True), _td(after, True),
        _td(delta, True), _td(p_value, True), _td(verdict), _td(share, True),
        _td(_check_cell(series.tp_check)), _td(_check_cell(series.share_check)),
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
            mark = next(m for m in s.marks if m.point == check.change_point)
            before, after, p = s.nights[mark.before], s.nights[mark.night], mark.point
            lines.append(
                f"<li><b>{esc(metric)} regression</b> in <a href=\"#{_anchor(s)}\">"
                f"{esc(s.label)}</a>: {esc(_step(mark))} (median {p.before_median:.2f} "
                f"\u2192 {p.after_median:.2f}, p = {p.p_value:.3f}) from "
                f"{esc(_date(after.when))} ({_group_link(after.group_id)}), source commit "
                f"<code>{esc(before.commit)}</code> \u2192 <code>{esc(after.commit)}</code></li>")
    if not lines:
        return "<p>No regression at the newest nights.</p>"
    return f"<div class=\"alert\"><ul>{''.join(lines)}</ul></div>"


def _marks_table(series: Series) -> str:
    if not series.marks:
        return "<p>No change point above the noise floor.</p>"
    rows = []
    for mark in sorted(series.marks, key=lambda m: (m.night, m.metric)):
        p, before, after = mark.point, series.nights[mark.before], series.nights[mark.night]
        rows.append(("regression" if mark.bad else "improvement", [
            _td(mark.metric), f"<td>{esc(_date(after.when))} {_group_link(after.group_id)}</td>",
            _td(_step(mark), True),
            _td(f"{p.before_median:.2f} \u2192 {p.after_median:.2f}", True),
            _td(f"{p.p_value:.3f}", True),
            f"<td><code>{esc(before.commit)}</code> \u2192 <code>{esc(after.commit)}</code></td>",
        ]))
    return _table(("metric", "first night after", "\u0394 median", "median before \u2192 after",
                   "p", "source commit before \u2192 after"), rows)


def _series_section(series: Series, svg: str, plotted: int) -> str:
    first, last = series.nights[0], series.nights[-1]
    recent = " ".join(_group_link(n.group_id, _date(n.when)) for n in series.nights[-5:])
    shown = f"; {plotted} plotted" if plotted < len(series.nights) else ""
    return (
        f"<section><h2 id=\"{_anchor(series)}\">{esc(series.label)}</h2>"
        f"<p>{len(series.nights)} nights, {esc(_date(first.when))} to "
        f"{esc(_date(last.when))}{shown}. Newest groups: {recent}</p>"
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
            f"each series (up to {esc(_date(newest))}).</p>"
            + scaling_svg(members, salt=f"scale-{len(parts)}"))
    if not parts:
        return ""
    return ("<section><h2 id=\"scaling\">Scaling (latest night)</h2>" + "".join(parts)
            + "</section>")


def _groups_list(by_group: dict[str, list[RunRecord]]) -> str:
    items = []
    for gid, runs in sorted(by_group.items(), key=lambda kv: (kv[1][0].created_at, kv[0]),
                            reverse=True):
        hosts = ", ".join(sorted({r.hostname or "-" for r in runs}))
        failed = sum(r.status != "ok" for r in runs)
        items.append(f"<li>{esc(_date(created(runs[0])))} {_group_link(gid, gid)} "
                     f"({len(runs)} runs" + (f", {failed} not ok" if failed else "")
                     + f"; {esc(hosts)})</li>")
    return (f"<section><h2 id=\"groups\">Run groups</h2><details><summary>All {len(items)} "
            f"run groups, newest first</summary><ul>{''.join(items)}</ul></details></section>")


def index_html(records: Sequence[RunRecord], series: Sequence[Series],
               by_group: dict[str, list[RunRecord]], settings: Settings, step: int = 1,
               notice: str = "") -> str:
    """The index page; ``step`` > 1 plots only every step-th night (see kept_nights)."""
    if not records:
        return page("lseprof dashboard", "<h1>lseprof dashboard</h1><p>There are no runs in "
                    "the store yet. Profile some with <code>lseprof run</code>, then "
                    "regenerate this page.</p>")
    keeps = [kept_nights(s, step, settings.min_size) for s in series]
    svgs = _pmap(series_svg, [(s, k, _anchor(s)) for s, k in zip(series, keeps, strict=True)])
    head = (
        f"<h1>lseprof dashboard</h1><p>{len(records)} runs in {len(by_group)} groups, "
        f"{len(series)} series; newest run {esc(_date(created(records[-1])))} UTC. "
        f"Change points: E-Divisive means with a permutation test over the whole history, "
        f"at least {settings.min_size} nights a side, noise floor "
        f"{settings.noise_floor_pct:g}% (throughput) and {settings.share_floor_pp:g} pp "
        "(helper share); see docs/regressions.md.</p>"
        + (f"<p class=\"notice\">{notice}</p>" if notice else "")
        + "<p><a href=\"#latest\">Latest vs previous</a> \u00b7 <a href=\"#scaling\">"
        "Scaling</a> \u00b7 <a href=\"#groups\">Run groups</a></p>"
    )
    table = _table(
        ("series", "previous night", "latest night", "prev MiB/s", "latest MiB/s",
         "\u0394% [95% CI]", "p", "verdict", "helper share %", "throughput step",
         "helper-share step"), (_comparison(s) for s in series))
    return page("lseprof dashboard", (
        head + "<h2>Alerts</h2>" + _alerts(series)
        + f"<h2 id=\"latest\">Latest vs previous night</h2>{table}"
        + "<p>Verdict: Mann-Whitney test of the repetitions (unresolved below 5 a side). "
        "Step columns: change points over the whole history at the newest nights.</p>"
        + _scaling_sections(series)
        + "".join(_series_section(s, svg, len(k))
                  for s, svg, k in zip(series, svgs, keeps, strict=True))
        + _groups_list(by_group)))


def _fit_index(records: Sequence[RunRecord], series: Sequence[Series],
               by_group: dict[str, list[RunRecord]], settings: Settings, budget: int) -> str:
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
            "Change points were detected on all nights.")
        text = index_html(records, series, by_group, settings, step, notice)
    if len(text.encode()) > budget:
        text = text.replace("<p class=\"notice\">", "<p class=\"notice\">Still over the "
                            "size budget after downsampling. ", 1)
    return text


# --------------------------------------------------------------------------- group pages

def _config_label(record: RunRecord, workloads: int) -> str:
    label = (f"{record.variant or '-'} t{threads_text(record.threads)} "
             f"{record.target or '-'} @ {record.hostname or '-'}")
    return f"{record.workload or '-'} {label}" if workloads > 1 else label


def _entries(runs: Sequence[RunRecord], attribute: str) -> list[dict[str, Any]]:
    """Helper (or caller) entries of the ok runs, shares averaged over those runs."""
    merged: dict[str, dict[str, Any]] = {}
    counted = [r for r in runs if r.status == "ok" and getattr(r, attribute)]
    for record in counted:
        for entry in getattr(record, attribute):
            item = entry if isinstance(entry, dict) else {"symbol": entry}
            ident = json.dumps([item.get("symbol") or item.get("name"), item.get("caller"),
                                item.get("helper")], default=str)
            slot = merged.setdefault(ident, {**item, "_share": 0.0})
            share = item.get("share", item.get("percent"))
            if isinstance(share, int | float) and math.isfinite(share):
                slot["_share"] += float(share) / len(counted)
    return sorted(merged.values(), key=lambda e: -e["_share"])


def _helpers_html(configs: Sequence[tuple[str, list[RunRecord]]]) -> str:
    helpers: list[tuple[str, list[str]]] = []
    callers: list[tuple[str, list[str]]] = []
    for label, runs in configs:
        for h in _entries(runs, "helpers")[:8]:
            kind = "/".join(str(h[k]) for k in ("op", "size", "order") if h.get(k))
            helpers.append(("", [_td(label), _code(h.get("symbol") or h.get("name")),
                                 _td(kind or "-"), _td(_num(h["_share"]), True)]))
        for c in _entries(runs, "helper_callers")[:8]:
            callers.append(("", [_td(label), _code(c.get("caller")), _code(c.get("helper")),
                                 _td(_num(c["_share"]), True), _td(c.get("basis"))]))
    out = "<h2>Atomic helpers</h2>" + (
        _table(("configuration", "helper", "op/size/order", "% of samples"), helpers)
        if helpers else "<p>No helper samples recorded.</p>")
    if callers:
        out += "<h2>Callers of helpers</h2>" + _table(
            ("configuration", "caller", "helper", "% of samples", "basis"), callers)
    return out


def _command(record: RunRecord) -> str | None:
    command = record.extra.get("argv") or record.extra.get("command")
    if isinstance(command, list):
        return " ".join(str(a) for a in command)
    return None if command is None else str(command)


def _ident(value: str | None, keep: int = 12) -> str:
    """A long id shortened in the cell, whole in its tooltip (and in the page source)."""
    if value is None or len(value) <= keep:
        return _code(value)
    return f"<td title=\"{esc(value)}\"><code>{esc(value[:keep])}\u2026</code></td>"


def _runs_table(runs: Sequence[RunRecord]) -> str:
    rows = [("" if r.status == "ok" else "regression", [
        _ident(r.run_id, 8), _td(r.created_at[:19].replace("T", " ")), _td(r.status),
        _td(r.variant), _td(r.threads, True), _td(r.target), _td(r.repeat_index, True),
        _td(_num(r.throughput_mib_s), True), _td(_num(r.atomic_helper_share), True),
        _td(r.samples, True), _td(r.hostname), _ident(r.source_commit, 10), _ident(r.build_id, 8),
        _td(r.config_key), _code(_command(r)), _td(r.message),
    ]) for r in runs]
    return _table(("run", "created (UTC)", "status", "variant", "threads", "target", "rep",
                   "MiB/s", "helper %", "samples", "host", "source commit", "build id",
                   "config key", "command", "message"), rows)


def group_html(group_id: str, runs: Sequence[RunRecord], digest: str = "") -> str:
    """The page of one run group: category shares per configuration, runs, helpers."""
    workloads = len({r.workload for r in runs})
    runs = sorted(runs, key=lambda r: (sort_key(series_key(r)), r.repeat_index or 0))
    configs: dict[str, list[RunRecord]] = {}
    for r in runs:
        configs.setdefault(_config_label(r, workloads), []).append(r)
    pairs = list(configs.items())
    shares = [(label, mean_categories(rs)) for label, rs in pairs]
    plotted = [(label, cats) for label, cats in shares if cats]
    body = (
        "<p><a href=\"../index.html\">\u2190 dashboard</a></p><h1>Run group "
        f"<code>{esc(group_id)}</code></h1><p>{len(runs)} runs from "
        f"{esc(_date(min(created(r) for r in runs)))} UTC; hosts "
        f"{esc(', '.join(sorted({r.hostname or '-' for r in runs})))}; source commits "
        f"<code>{esc(', '.join(sorted({r.source_commit or '-' for r in runs})))}</code>.</p>"
        + (group_svg(plotted, salt="group") if plotted else
           "<p>No ok run recorded sample categories.</p>")
        + f"<h2>Runs</h2><div class=\"wide\">{_runs_table(runs)}</div>" + _helpers_html(pairs)
    )
    comment = f"<!-- lseprof-dashboard-group {digest} -->\n" if digest else ""
    return page(f"lseprof run group {group_id}", body, comment)


def _group_job(job: tuple[str, list[RunRecord], str]) -> str:
    return group_html(*job)


# --------------------------------------------------------------------------- output

def _prepare(out: Path, force: bool) -> bool:
    """Make ``out`` ready; True when it already holds a dashboard of ours."""
    if out.exists() and not out.is_dir():
        raise LseprofError(f"--out {out} is a file, not a directory")
    if (out / MARKER).is_file():
        return True
    if out.is_dir() and any(out.iterdir()) and not force:
        raise LseprofError(f"{out} is not empty and holds no dashboard; use --force")
    try:
        (out / "groups").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LseprofError(f"cannot create --out {out} ({exc.strerror or exc})") from None
    return False


def _write(path: Path, text: str) -> None:
    # Write-then-rename: a page viewed while a nightly job regenerates it is always whole.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise LseprofError(f"cannot write {path} ({exc.strerror or exc})") from None


_RENDERERS = [Path(__file__), Path(__file__).with_name("dashboard_plots.py")]


def _digest(runs: Sequence[RunRecord]) -> str:
    # A page depends on its runs and on the renderer's code, so both go into the hash.
    payload = json.dumps([r.to_dict() for r in runs], sort_keys=True, default=str)
    code = b"".join(p.read_bytes() for p in _RENDERERS)
    return hashlib.sha256(code + payload.encode()).hexdigest()


def _unchanged(path: Path, digest: str) -> bool:
    if not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as fh:
        found = _GROUP_HASH.search(fh.read(300))
    return found is not None and found.group(1) == digest


def _write_groups(out: Path, by_group: dict[str, list[RunRecord]], ours: bool) -> None:
    groups = out / "groups"
    groups.mkdir(parents=True, exist_ok=True)
    jobs = []
    for gid, runs in by_group.items():
        digest = _digest(runs)
        # In our own directory an unchanged page is kept: nightly builds redo new groups only.
        if not (ours and _unchanged(groups / group_file(gid), digest)):
            jobs.append((gid, runs, digest))
    for (gid, _, _), text in zip(jobs, _pmap(_group_job, jobs), strict=True):
        _write(groups / group_file(gid), text)
    if ours:  # only in our own directory are stale pages ours to remove
        wanted = {group_file(gid) for gid in by_group}
        for stale in groups.glob("*.html"):
            if stale.name not in wanted:
                stale.unlink()


def build_dashboard(records: Iterable[RunRecord], out_dir: Path, *, force: bool = False,
                    size_budget: int = SIZE_BUDGET, settings: Settings | None = None) -> Path:
    """Write the dashboard of ``records`` into ``out_dir``; returns the index.html path.

    A non-empty ``out_dir`` that is not a previous dashboard is refused unless
    ``force`` (nothing in it is then removed, only our files written). The index
    is downsampled, and says so, when it would exceed ``size_budget`` bytes.
    """
    out = Path(out_dir)
    ours = _prepare(out, force)
    settings = settings or Settings()
    runs = sorted(records, key=lambda r: (r.created_at, r.run_id))
    by_group: dict[str, list[RunRecord]] = {}
    for record in runs:
        by_group.setdefault(record.group_id, []).append(record)
    series = [s for s in _pmap(one_series, series_jobs(runs, settings)) if s is not None]
    index = _fit_index(runs, series, by_group, settings, size_budget)
    _write_groups(out, by_group, ours)
    _write(out / MARKER, json.dumps({"generator": f"lseprof {__version__}"}) + "\n")
    _write(out / "index.html", index)
    return out / "index.html"
