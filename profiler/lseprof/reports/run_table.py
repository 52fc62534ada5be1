"""Tables for `lseprof run`: one row per run group, then the variant comparison.

Works on stored run records only, so any stored session re-renders without
re-running anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import mean
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lseprof.analysis.run_means import mean_callers, mean_categories, mean_helpers
from lseprof.analysis.stats import MIN_REPS_FOR_TEST, bootstrap_median_ci, median
from lseprof.results import CallerShare, CoherenceResult, HelperShare, OffCpuResult
from lseprof.store import RunRecord

CONTENTION = ("lock", "futex", "spin")


@dataclass(frozen=True)
class GroupSummary:
    """The repetitions of one variant x threads x target."""

    group_id: str
    variant: str | None  # None: a stored run that did not say (hand-made records)
    threads: int | None
    target: str | None
    emulated: bool
    runs: int
    failed: int
    throughput: list[float]
    median_mib_s: float | None
    ci: tuple[float, float] | None
    samples: int
    categories: dict[str, float]
    atomic_helper_share: float | None
    helpers: list[HelperShare]  # shares: means over the group's ok runs
    helper_callers: list[CallerShare]
    # --sched runs (means over the ok runs that have them; None without)
    offcpu_share: float | None = None
    wakeups_per_item: float | None = None
    wakeups_per_s: float | None = None
    wakeup_p50_us: float | None = None
    # Runs on a virtual CPU (--target aarch64-vm): what it was, and whether it had LSE.
    virtual: str | None = None
    lse: bool | None = None

    @property
    def contention_share(self) -> float:
        return sum(self.categories.get(c, 0.0) for c in CONTENTION)


def _mean_figure(
    records: Sequence[RunRecord], figure: Callable[[OffCpuResult], float | None]
) -> float | None:
    values = [
        value
        for r in records
        if r.extra.offcpu is not None and (value := figure(r.extra.offcpu)) is not None
    ]
    return sum(values) / len(values) if values else None


def summarize_groups(records: Sequence[RunRecord]) -> list[GroupSummary]:
    """Group run records (store rows) by group_id, in first-seen order."""
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(record.group_id, []).append(record)
    result = []
    for group_id, rows in groups.items():
        ok = [r for r in rows if r.status == "ok"]
        values = [r.throughput_mib_s for r in ok if r.throughput_mib_s is not None]
        shares = [r.atomic_helper_share for r in ok if r.atomic_helper_share is not None]
        first = rows[0]
        result.append(
            GroupSummary(
                group_id=group_id,
                variant=first.variant,
                threads=first.threads,
                target=first.target,
                emulated=bool(first.emulated),
                runs=len(rows),
                failed=len(rows) - len(ok),
                throughput=values,
                median_mib_s=median(values) if values else None,
                ci=bootstrap_median_ci(values) if values else None,
                samples=sum(r.samples or 0 for r in ok),
                categories=mean_categories(ok),
                atomic_helper_share=sum(shares) / len(shares) if shares else None,
                helpers=mean_helpers(ok)[:3],
                helper_callers=mean_callers(ok)[:3],
                offcpu_share=_mean_figure(ok, lambda o: o.offcpu_share),
                wakeups_per_item=_mean_figure(ok, lambda o: o.wakeups_per_item),
                wakeups_per_s=_mean_figure(ok, lambda o: o.wakeups_per_s),
                wakeup_p50_us=_mean_figure(ok, lambda o: o.wakeup_p50_us),
                virtual=first.host.get("virtual"),
                lse=first.host.get("lse"),
            )
        )
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


@dataclass
class Rows:
    """A table as data: rendered by rich for the terminal or as Markdown."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    left: tuple[int, ...] = (0,)  # the text columns (left-aligned); the rest are numbers
    fold: bool = False  # long cells fold onto more lines in the terminal

    def rich(self) -> Table:
        table = Table(title=self.title, title_justify="left")
        for index, name in enumerate(self.columns):
            justify: Literal["left", "right"] = "left" if index in self.left else "right"
            if self.fold:
                table.add_column(name, justify=justify, overflow="fold")
            else:
                table.add_column(name, justify=justify)
        for row in self.rows:
            table.add_row(*(escape(cell) for cell in row))
        return table

    def markdown(self) -> list[str]:
        def cell(text: str) -> str:
            return text.replace("|", "\\|")

        align = ["---" if i in self.left else "---:" for i in range(len(self.columns))]
        return [
            f"**{self.title}**",
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join(align) + "|",
            *("| " + " | ".join(cell(c) for c in row) + " |" for row in self.rows),
            "",
        ]


def group_rows(groups: Sequence[GroupSummary], event: str | None) -> Rows:
    """Throughput and category shares, one row per run group."""
    emulated = any(g.emulated for g in groups)
    title = "lseprof run" + (f" (event {event})" if event else " (no perf)")
    if emulated:
        title += " [EMULATED aarch64 under qemu: shares validate the pipeline, not hardware]"
    for virtual, lse in dict.fromkeys((g.virtual, g.lse) for g in groups if g.virtual):
        lse_text = "" if lse is None else f", LSE {'yes' if lse else 'no'}"
        title += f" [VIRTUAL aarch64 CPU: {virtual}{lse_text}]"
    columns = [
        "variant",
        "threads",
        "target",
        "MiB/s",
        "95% CI",
        "runs",
        "samples",
        "helper",
        "inline",
        "lock",
        "futex",
        "spin",
        "work",
    ]
    sched = any(g.offcpu_share is not None for g in groups)
    if sched:
        columns += ["off-CPU", "wake/kitem", "wake/s", "wake p50"]
    rows = []
    for g in groups:
        ci = f"{g.ci[0]:.2f}-{g.ci[1]:.2f}" if g.ci else "-"
        runs = f"{g.runs}" + (f" ({g.failed} bad)" if g.failed else "")
        cats = g.categories
        rows.append(
            [
                g.variant or "-",
                "-" if g.threads is None else str(g.threads),
                (g.target or "-") + (" (emu)" if g.emulated else ""),
                "-" if g.median_mib_s is None else f"{g.median_mib_s:.2f}",
                ci,
                runs,
                str(g.samples),
                _pct(g.atomic_helper_share),
                _pct(cats.get("inline_atomic")),
                _pct(cats.get("lock")),
                _pct(cats.get("futex")),
                _pct(cats.get("spin")),
                _pct(cats.get("work")),
                *(_sched_cells(g) if sched else []),
            ]
        )
    return Rows(title, columns, rows, left=(0, 2))


def group_table(groups: Sequence[GroupSummary], event: str | None) -> Table:
    """Throughput and category shares, one row per run group (terminal)."""
    return group_rows(groups, event).rich()


def _sched_cells(g: GroupSummary) -> list[str]:
    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    # Per thousand items: a batch of 1,000 items costs a handful of wake-ups.
    per_k = None if g.wakeups_per_item is None else 1000.0 * g.wakeups_per_item
    return [
        _pct(g.offcpu_share),
        num(per_k, ".3g"),
        num(g.wakeups_per_s, ",.0f"),
        num(g.wakeup_p50_us, ".0f") + (" µs" if g.wakeup_p50_us is not None else ""),
    ]


def helper_rows(groups: Sequence[GroupSummary]) -> Rows | None:
    """Top helpers (op/size/order) and their top callers, per run group."""
    rows = []
    for g in groups:
        for helper in g.helpers:
            callers = [c for c in g.helper_callers if c.helper == helper.symbol]
            caller = f"{callers[0].caller} ({callers[0].share or 0.0:.2f}%)" if callers else "-"
            rows.append(
                [
                    f"{g.variant} t={g.threads}",
                    helper.symbol,
                    helper.kind,
                    f"{helper.share:.2f}%",
                    caller,
                ]
            )
    if not rows:
        return None
    return Rows(
        "atomic helpers and their top callers",
        ["group", "helper", "op/size/order", "share", "top caller"],
        rows,
        left=(0, 1, 2, 3, 4),
        fold=True,
    )


def helper_table(groups: Sequence[GroupSummary]) -> Table | None:
    rows = helper_rows(groups)
    return None if rows is None else rows.rich()


def comparison_lines(groups: Sequence[GroupSummary]) -> list[str]:
    """window vs rayon per thread count: throughput ratio and share differences."""
    lines = []
    by_key = {(g.variant, g.threads, g.target): g for g in groups}
    for (variant, threads, target), window in by_key.items():
        if variant != "window":
            continue
        rayon = by_key.get(("rayon", threads, target))
        if rayon is None or not rayon.median_mib_s or window.median_mib_s is None:
            continue
        ratio = window.median_mib_s / rayon.median_mib_s
        line = f"threads {threads} ({target}): window/rayon throughput {ratio:.3f}"
        if rayon.atomic_helper_share is not None and window.atomic_helper_share is not None:
            diff = window.atomic_helper_share - rayon.atomic_helper_share
            line += f", helper share {diff:+.2f} pp"
        line += (
            f", contention (lock+futex+spin) rayon {rayon.contention_share:.1f}% vs "
            f"window {window.contention_share:.1f}%"
        )
        lines.append(line)
    return lines


def _bare_mib_s(record: RunRecord) -> float | None:
    """Throughput of the run made without perf just before `record` (`--overhead`)."""
    return record.extra.no_perf.throughput_mib_s if record.extra.no_perf else None


def overhead_lines(records: Sequence[RunRecord]) -> list[str]:
    """perf's cost per run group, from runs made with `--overhead` (each profiled run
    has a run without perf just before it, in ``extra["no_perf"]``)."""
    groups: dict[str, list[tuple[Any, float, float]]] = {}  # (record, with, without)
    for r in records:
        bare = _bare_mib_s(r)
        if r.status == "ok" and r.throughput_mib_s and bare:
            groups.setdefault(r.group_id, []).append((r, r.throughput_mib_s, bare))
    lines = []
    for rows in groups.values():
        first = rows[0][0]
        name = f"{first.variant} t={first.threads}" + (
            f" {first.target}" if first.target and first.target != "host" else ""
        )
        got = [(p, b) for _, p, b in rows]
        with_perf, without = [p for p, _ in got], [b for _, b in got]
        if len(got) >= MIN_REPS_FOR_TEST:
            low, high = bootstrap_median_ci([p / b for p, b in got])
            spread = f"paired ratios, 95% interval {low:.3f}-{high:.3f}"
        else:
            spread = f"too few for an interval: --repeat {MIN_REPS_FOR_TEST} or more"
        lines.append(
            f"perf overhead {name}: throughput with perf / without = "
            f"{median(with_perf) / median(without):.3f} over {len(got)} pair"
            f"{'s' if len(got) > 1 else ''} ({spread})"
        )
    return lines


def _transfer_rate(found: Sequence[CoherenceResult]) -> str:
    """Mean transfers per MiB, else per item, else per run: the unit all runs have."""
    per_mib = [c.transfers_per_mib for c in found if c.transfers_per_mib is not None]
    if len(per_mib) == len(found):
        return f"{mean(per_mib):,.0f} transfers per MiB"
    per_item = [c.transfers_per_item for c in found if c.transfers_per_item is not None]
    if len(per_item) == len(found):
        return f"{mean(per_item):,.4g} transfers per item"
    return f"{mean(c.transfers for c in found):,.0f} transfers per run"


def coherence_lines(records: Sequence[RunRecord]) -> list[str]:
    """Cache lines between cores per run group, from runs made with ``--coherence``:
    mean transfers per MiB (per item without bytes) and the first run's top line."""
    groups: dict[str, list[RunRecord]] = {}
    for r in records:
        if r.extra.coherence is not None:
            groups.setdefault(r.group_id, []).append(r)
    lines = []
    for runs in groups.values():
        first = runs[0]
        found = [c for r in runs if (c := r.extra.coherence) is not None]
        rate = _transfer_rate(found)
        top = found[0].lines[0] if found[0].lines else None
        where = (
            f"; top line {top.symbol or hex(top.line)}: {top.transfers:,} transfers, "
            f"{top.sharing} sharing"
            if top is not None
            else ""
        )
        lines.append(
            f"cache lines between cores, {first.variant} t={first.threads}: {rate} "
            f"(mean of {len(found)} run{'s' if len(found) > 1 else ''}{where}); "
            f"lseprof report {first.run_id} shows the lines"
        )
    return lines


def _status_lines(records: Sequence[RunRecord]) -> list[str]:
    return [
        f"{r.run_id}: {r.status}" + (f" ({r.message})" if r.message else "")
        for r in records
        if r.status != "ok"
    ]


def render_run(records: Sequence[RunRecord], event: str | None, console: Console) -> None:
    groups = summarize_groups(records)
    console.print(group_table(groups, event))
    helpers = helper_table(groups)
    if helpers is not None:
        console.print(helpers)
    for line in [*comparison_lines(groups), *overhead_lines(records), *coherence_lines(records)]:
        console.print(line, markup=False)
    for line in _status_lines(records):
        console.print(line, style="red", markup=False)


def run_markdown(records: Sequence[RunRecord], event: str | None) -> str:
    """The run table, helpers and comparisons of `lseprof run`, as Markdown."""
    groups = summarize_groups(records)
    lines = group_rows(groups, event).markdown()
    helpers = helper_rows(groups)
    if helpers is not None:
        lines += helpers.markdown()
    lines += [
        f"- {line}"
        for line in [
            *comparison_lines(groups),
            *overhead_lines(records),
            *coherence_lines(records),
            *_status_lines(records),
        ]
    ]
    return "\n".join(lines).rstrip("\n") + "\n"
