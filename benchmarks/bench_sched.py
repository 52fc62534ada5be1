"""The seed's mechanism as scheduler figures, and what `--sched` costs.

    .venv/bin/python -m benchmarks.bench_sched [--threads 2,8,88] [--pairs 3]
        [--duration 3] [--out FILE.json]

For each variant (rayon, window) x thread count, `--pairs` pairs of `lseprof run`
runs (the same runner the CLI uses), one with `--sched` and one without, the order
alternating between pairs so drift hits both. Prints per configuration: wake-ups
per 1,000 items, wake-ups per second, off-CPU share of thread time, median and p99
wake-up latency (means over the --sched runs), throughput with and without
--sched and their paired ratio (median, bootstrap 95% interval): perf's cost for
the system-wide scheduler recording on top of the sampling one. Then the ratio of
wake-ups per item rayon / window per thread count: the seed's mechanism.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.progress import Progress
from rich.table import Table

from benchmarks.common import REPORTS, bench_console, save
from lseprof.analysis.stats import bootstrap_median_ci, median
from lseprof.jobs.runner import RunPlan
from lseprof.jobs.sessions import execute
from lseprof.store import open_store

console = bench_console()


def _one(
    store: Any, root: Path, variant: str, threads: int, duration: float, sched: bool
) -> dict[str, Any]:
    plan = RunPlan(
        variants=(variant,), threads=(threads,), repeat=1, duration=duration, sched=sched
    )
    record = execute(plan, store, root).records[0]
    return record.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", default="2,8,88")
    parser.add_argument("--variants", default="rayon,window")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=REPORTS / "bench_sched.json")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    variants = args.variants.split(",")
    results: dict[tuple[str, int], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    with (
        tempfile.TemporaryDirectory(prefix="bench-sched-") as tmp,
        open_store(Path(tmp) / "runs.sqlite") as store,
        Progress(console=console) as bar,
    ):
        task = bar.add_task("runs", total=args.pairs * len(threads) * len(variants) * 2)
        for pair in range(args.pairs):
            for t in threads:
                for v in variants:
                    order = (True, False) if pair % 2 == 0 else (False, True)
                    for sched in order:
                        run = _one(store, Path(tmp) / "runs", v, t, args.duration, sched)
                        results[(v, t)]["sched" if sched else "plain"].append(run)
                        bar.advance(task)
    table = Table(
        title=f"--sched: scheduler figures and cost ({args.pairs} pairs, {args.duration:g} s runs)"
    )
    for col in (
        "variant",
        "threads",
        "wake/kitem",
        "wake/s",
        "off-CPU",
        "p50 µs",
        "p99 µs",
        "MiB/s --sched",
        "MiB/s plain",
        "ratio (95% CI)",
    ):
        table.add_column(col, justify="left" if col == "variant" else "right")
    summary: dict[str, Any] = {}
    for (v, t), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        s, p = runs["sched"], runs["plain"]

        def mean(key: str, sub: str | None = None, rows: list[Any] = s) -> float | None:
            vals = [r[key] if sub is None else (r[key] or {}).get(sub) for r in rows]
            nums = [float(x) for x in vals if isinstance(x, int | float)]
            return statistics.fmean(nums) if nums else None

        ratios = [
            a["throughput_mib_s"] / b["throughput_mib_s"]
            for a, b in zip(s, p, strict=True)
            if a["throughput_mib_s"] and b["throughput_mib_s"]
        ]
        ci = bootstrap_median_ci(ratios) if len(ratios) > 1 else (float("nan"),) * 2
        row = {
            "wakeups_per_item": mean("wakeups_per_item"),
            "wakeups_per_s": mean("wakeups_per_s"),
            "offcpu_share": mean("offcpu_share"),
            "p50_us": mean("wakeup_latency_us", "p50"),
            "p99_us": mean("wakeup_latency_us", "p99"),
            "mib_s_sched": mean("throughput_mib_s"),
            "mib_s_plain": mean("throughput_mib_s", rows=p),
            "ratio": median(ratios) if ratios else None,
            "ratio_ci": list(ci),
        }
        summary[f"{v}-t{t}"] = row

        def f(x: float | None, fmt: str) -> str:
            return "-" if x is None else format(x, fmt)

        per_k = None if row["wakeups_per_item"] is None else 1000 * row["wakeups_per_item"]
        table.add_row(
            v,
            str(t),
            f(per_k, ".3f"),
            f(row["wakeups_per_s"], ",.0f"),
            f(row["offcpu_share"], ".1f") + "%",
            f(row["p50_us"], ".0f"),
            f(row["p99_us"], ".0f"),
            f(row["mib_s_sched"], ".2f"),
            f(row["mib_s_plain"], ".2f"),
            f(row["ratio"], ".3f") + f" ({ci[0]:.3f}-{ci[1]:.3f})",
        )
    console.print(table)
    for t in threads:
        a, b = summary.get(f"rayon-t{t}"), summary.get(f"window-t{t}")
        if a and b and a["wakeups_per_item"] and b["wakeups_per_item"]:
            console.print(
                f"threads {t}: wake-ups per item rayon / window = "
                f"{a['wakeups_per_item'] / b['wakeups_per_item']:.2f}"
            )
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    try:
        main()
    finally:
        save(console, "bench_sched")
