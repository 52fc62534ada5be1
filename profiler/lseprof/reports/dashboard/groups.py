"""The dashboard's page per run group: category shares per configuration, runs, helpers."""

from __future__ import annotations

from collections.abc import Sequence

from lseprof.analysis.run_means import mean_callers, mean_categories, mean_helpers
from lseprof.analysis.verdicts import created, series_key, sort_key
from lseprof.reports.dashboard.coherence import coherence_html
from lseprof.reports.dashboard.html import (
    code_cell,
    date_text,
    esc,
    html_table,
    num,
    page,
    table_cell,
)
from lseprof.reports.dashboard.plots import group_svg
from lseprof.reports.dashboard.series import threads_text
from lseprof.reports.heatmap import heatmap_svg
from lseprof.store import RunRecord


def _config_label(record: RunRecord, workloads: int) -> str:
    label = (
        f"{record.variant or '-'} t{threads_text(record.threads)} "
        f"{record.target or '-'} @ {record.hostname or '-'}"
    )
    return f"{record.workload or '-'} {label}" if workloads > 1 else label


def _virtual_html(runs: Sequence[RunRecord]) -> str:
    """A note for runs made on a virtual CPU (the aarch64 machine): what it was."""
    notes = sorted({str(r.host["virtual"]) for r in runs if r.host.get("virtual")})
    return "".join(
        f'<p class="note"><strong>Virtual aarch64 CPU</strong>: {esc(n)}. Shares and '
        "throughput describe the emulated machine, not hardware.</p>"
        for n in notes
    )


def _helpers_html(configs: Sequence[tuple[str, list[RunRecord]]]) -> str:
    helpers: list[tuple[str, list[str]]] = []
    callers: list[tuple[str, list[str]]] = []
    for label, runs in configs:
        for h in mean_helpers(runs)[:8]:
            helpers.append(
                (
                    "",
                    [
                        table_cell(label),
                        code_cell(h.symbol),
                        table_cell(h.kind),
                        table_cell(num(h.share), True),
                    ],
                )
            )
        for c in mean_callers(runs)[:8]:
            callers.append(
                (
                    "",
                    [
                        table_cell(label),
                        code_cell(c.caller),
                        code_cell(c.helper),
                        table_cell(num(c.share), True),
                        table_cell(c.basis),
                    ],
                )
            )
    out = "<h2>Atomic helpers</h2>" + (
        html_table(("configuration", "helper", "op/size/order", "% of samples"), helpers)
        if helpers
        else "<p>No helper samples recorded.</p>"
    )
    if callers:
        out += "<h2>Callers of helpers</h2>" + html_table(
            ("configuration", "caller", "helper", "% of samples", "basis"), callers
        )
    return out


def _ident(value: str | None, keep: int = 12) -> str:
    """A long id shortened in the cell, whole in its tooltip (and in the page source)."""
    if value is None or len(value) <= keep:
        return code_cell(value)
    return f'<td title="{esc(value)}"><code>{esc(value[:keep])}\u2026</code></td>'


def _runs_table(runs: Sequence[RunRecord]) -> str:
    rows = [
        (
            "" if r.status == "ok" else "regression",
            [
                _ident(r.run_id, 8),
                table_cell(r.created_at[:19].replace("T", " ")),
                table_cell(r.status),
                table_cell(r.variant),
                table_cell(r.threads, True),
                table_cell(r.target),
                table_cell(r.repeat_index, True),
                table_cell(num(r.throughput_mib_s), True),
                table_cell(num(r.atomic_helper_share), True),
                table_cell(r.samples, True),
                table_cell(r.hostname),
                _ident(r.source_commit, 10),
                _ident(r.build_id, 8),
                table_cell(r.config_key),
                code_cell(r.extra.command_text),
                table_cell(r.message),
            ],
        )
        for r in runs
    ]
    return html_table(
        (
            "run",
            "created (UTC)",
            "status",
            "variant",
            "threads",
            "target",
            "rep",
            "MiB/s",
            "helper %",
            "samples",
            "host",
            "source commit",
            "build id",
            "config key",
            "command",
            "message",
        ),
        rows,
    )


def _region_text(record: RunRecord) -> str:
    region = record.extra.region
    if region is None:
        return "the whole process was recorded"
    if region.start_s is None or region.end_s is None:
        return f"region ({region.mode}): nothing recorded"
    return (
        f"measured region ({region.mode}) recorded: {region.start_s:.2f} s to "
        f"{region.end_s:.2f} s after the start"
    )


def _groups_table(record: RunRecord) -> str:
    rows = [
        (
            "",
            [
                code_cell(f"{g.name}{' (main)' if g.main else ''}"),
                table_cell(g.threads, True),
                table_cell(num(g.share), True),
                *(table_cell(num(g.categories.get(c)), True) for c in ("futex", "spin", "work")),
                table_cell(num(g.off_cpu_s, "{:.3f}"), True),
            ],
        )
        for g in record.extra.thread_groups[:8]
    ]
    return html_table(
        ("threads by name", "threads", "% of samples", "futex %", "spin %", "work %", "off-CPU s"),
        rows,
    )


def _time_html(configs: Sequence[tuple[str, list[RunRecord]]]) -> str:
    """Per configuration, the first run with a heat map: its samples over time (all
    and per category, FlameScope's layout) and its threads by name."""
    parts = []
    for k, (label, runs) in enumerate(configs):
        run = next((r for r in runs if r.extra.heatmap is not None), None)
        if run is None or run.extra.heatmap is None:
            continue
        parts.append(
            f"<h3>{esc(label)}</h3><p>run <code>{esc(run.run_id)}</code>; "
            f"{esc(_region_text(run))}.</p>"
            + heatmap_svg(run.extra.heatmap, ident=f"heatmap-{k}")
            + (_groups_table(run) if run.extra.thread_groups else "")
        )
    if not parts:
        return ""
    return (
        "<h2>Samples over time</h2><p>Columns are seconds from the first sample, rows the "
        "20 ms slices of each second, colour the samples in the cell "
        "(<code>lseprof report RUN --heatmap FILE.html</code> selects ranges).</p>" + "".join(parts)
    )


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
        '<p><a href="../index.html">\u2190 dashboard</a></p><h1>Run group '
        f"<code>{esc(group_id)}</code></h1><p>{len(runs)} runs from "
        f"{esc(date_text(min(created(r) for r in runs)))} UTC; hosts "
        f"{esc(', '.join(sorted({r.hostname or '-' for r in runs})))}; source commits "
        f"<code>{esc(', '.join(sorted({r.source_commit or '-' for r in runs})))}</code>.</p>"
        + _virtual_html(runs)
        + (
            group_svg(plotted, salt="group")
            if plotted
            else "<p>No ok run recorded sample categories.</p>"
        )
        + f'<h2>Runs</h2><div class="wide">{_runs_table(runs)}</div>'
        + _helpers_html(pairs)
        + _time_html(pairs)
        + coherence_html(pairs)
    )
    comment = f"<!-- lseprof-dashboard-group {digest} -->\n" if digest else ""
    return page(f"lseprof run group {group_id}", body, comment)


def group_job(job: tuple[str, list[RunRecord], str]) -> str:
    return group_html(*job)
