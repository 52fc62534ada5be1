"""The table `lseprof nightly` prints: one row per series, with its verdict."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from lseprof.analysis.changepoint import EndCheck
from lseprof.analysis.verdicts import SeriesVerdict


def _check(check: EndCheck) -> str:
    if check.change_point is None or check.status == "none":
        return "-"
    cp = check.change_point
    colour = "red" if check.status == "regression" else "green"
    return (
        f"[{colour}]{check.status}[/] {cp.delta_pct:+.1f}% "
        f"({cp.before_median:.3g} -> {cp.after_median:.3g}, p={cp.p_value:.3f})"
    )


def nightly_table(verdicts: Sequence[SeriesVerdict]) -> Table:
    table = Table(
        title="lseprof nightly: each series against its history (E-Divisive means)",
        title_justify="left",
    )
    for name in (
        "series",
        "variant",
        "threads",
        "target",
        "host",
        "nights",
        "MiB/s",
        "helper %",
        "throughput step",
        "helper-share step",
        "commits",
    ):
        table.add_column(name, overflow="fold")
    for v in verdicts:
        name, workload, variant, threads, target, host = v.key
        commits = " -> ".join(c or "?" for c in v.commits) if any(v.commits) else "-"
        table.add_row(
            f"{name} ({workload})",
            variant,
            str(threads),
            target,
            host,
            str(v.nights),
            "-" if v.latest_mib_s is None else f"{v.latest_mib_s:.2f}",
            "-" if v.latest_helper_share is None else f"{v.latest_helper_share:.2f}",
            _check(v.throughput),
            _check(v.helper_share),
            commits,
        )
    return table
