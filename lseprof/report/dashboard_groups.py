"""The dashboard's page per run group: category shares per configuration, runs, helpers."""

from __future__ import annotations

from collections.abc import Sequence

from lseprof.analysis.run_means import mean_callers, mean_categories, mean_helpers
from lseprof.report.dashboard_html import _code, _date, _num, _table, _td, esc, page
from lseprof.report.dashboard_plots import group_svg
from lseprof.report.dashboard_series import (
    created,
    series_key,
    sort_key,
    threads_text,
)
from lseprof.store import RunRecord


def _config_label(record: RunRecord, workloads: int) -> str:
    label = (f"{record.variant or '-'} t{threads_text(record.threads)} "
             f"{record.target or '-'} @ {record.hostname or '-'}")
    return f"{record.workload or '-'} {label}" if workloads > 1 else label


def _helpers_html(configs: Sequence[tuple[str, list[RunRecord]]]) -> str:
    helpers: list[tuple[str, list[str]]] = []
    callers: list[tuple[str, list[str]]] = []
    for label, runs in configs:
        for h in mean_helpers(runs)[:8]:
            helpers.append(("", [_td(label), _code(h.symbol), _td(h.kind),
                                 _td(_num(h.share), True)]))
        for c in mean_callers(runs)[:8]:
            callers.append(("", [_td(label), _code(c.caller), _code(c.helper),
                                 _td(_num(c.share), True), _td(c.basis)]))
    out = "<h2>Atomic helpers</h2>" + (
        _table(("configuration", "helper", "op/size/order", "% of samples"), helpers)
        if helpers else "<p>No helper samples recorded.</p>")
    if callers:
        out += "<h2>Callers of helpers</h2>" + _table(
            ("configuration", "caller", "helper", "% of samples", "basis"), callers)
    return out


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
        _td(r.config_key), _code(r.extra.command_text), _td(r.message),
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
