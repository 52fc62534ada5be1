"""The share of start-up code in a default run, before (whole process) and after
(the measured region only).

    .venv/bin/python benchmarks/bench_region.py [--threads 8] [--duration 3]
        [--pairs 2] [--variants rayon,window] [--out FILE.json]

For each variant, `--pairs` pairs of `lseprof run` runs (the runner the CLI uses),
one recorded whole (`--whole-process`, lseprof's behaviour before regions) and one
with its region only (the default), the order alternating between pairs. Each
perf.data is read again with whole stacks (lseprof's own reader and symbolizer,
as `lseprof report --format speedscope` does) and a sample counts as start-up when
any frame of its stack is one of START_UP (loading the vocabulary and the corpus,
building the pre-tokenizer and the encoder, starting the pool). Prints per variant
and mode: samples, start-up samples and their share, Vocab::load and Corpus::load
samples, the share of the encoder's own work (Encoder::encode + merge_word, the
code the timed loop measures) and throughput.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from lseprof.analysis.pipeline import analyze_file
from lseprof.analysis.stacks import folded
from lseprof.jobs.runner import RunPlan
from lseprof.jobs.sessions import execute
from lseprof.readers.perf_data import FULL_STACK
from lseprof.store import open_store

console = Console(width=160)

START_UP = (
    "Vocab::load",
    "Corpus::load",
    "PreTokenizer::new",
    "Encoder::new",
    "init_global_pool",
    "real_main",  # main's own frames outside run::run (argument parsing, the report)
)
TIMED = ("run::run",)  # the driver of the timed loop (warm-up passes: none by default)
WORK = ("Encoder::encode", "merge_word")


def _count(stacks: dict[str, float], names: tuple[str, ...], unless: tuple[str, ...] = ()) -> int:
    return int(
        sum(
            n
            for key, n in stacks.items()
            if any(f"::{name}" in key or f";{name}" in key for name in names)
            and not any(u in key for u in unless)
        )
    )


def measure(record: dict[str, Any]) -> dict[str, Any]:
    """Start-up and work samples of one stored run, from its whole stacks."""
    report = analyze_file(Path(record["perf_data"]), max_stack=FULL_STACK, offcpu=False)
    stacks = folded(report)
    total = int(sum(stacks.values()))
    # Worker threads' stacks start at the thread's entry, not at real_main: a sample
    # under real_main but not under run::run is the main thread outside the timed loop.
    start_up = _count(stacks, START_UP, unless=TIMED)
    leaf_work = sum(
        n for key, n in stacks.items() if any(w in key.rsplit(";", 1)[-1] for w in WORK)
    )
    return {
        "samples": total,
        "start_up": start_up,
        "start_up_share": 100.0 * start_up / total if total else 0.0,
        "vocab_load": _count(stacks, ("Vocab::load",)),
        "corpus_load": _count(stacks, ("Corpus::load",)),
        "work_share": 100.0 * leaf_work / total if total else 0.0,
        "throughput": record["throughput_mib_s"],
        "region": (record["extra"].get("region") or {}).get("enabled_s"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--variants", default="rayon,window")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    variants = args.variants.split(",")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-region-") as tmp,
        open_store(Path(tmp) / "runs.sqlite") as store,
        Progress(console=console) as bar,
    ):
        task = bar.add_task("runs", total=args.pairs * len(variants) * 2)
        for pair in range(args.pairs):
            for variant in variants:
                modes = ("whole", None) if pair % 2 == 0 else (None, "whole")
                for mode in modes:
                    plan = RunPlan(
                        variants=(variant,),
                        threads=(args.threads,),
                        repeat=1,
                        duration=args.duration,
                        region=mode,
                    )
                    record = execute(plan, store, Path(tmp) / "runs").records[0].to_dict()
                    label = "whole process (before)" if mode else "region (after)"
                    results.setdefault((variant, label), []).append(measure(record))
                    bar.advance(task)
    table = Table(
        title=f"Start-up code in a default run: {args.threads} threads, {args.duration:g} s, "
        f"{args.pairs} runs each (means)"
    )
    for col in (
        "variant",
        "recorded",
        "samples",
        "start-up samples",
        "start-up share",
        "Vocab::load",
        "Corpus::load",
        "encoder work share",
        "MiB/s",
    ):
        table.add_column(col, justify="left" if col in ("variant", "recorded") else "right")
    summary: dict[str, Any] = {}
    for (variant, label), rows in sorted(results.items()):

        def mean(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return statistics.fmean(float(r[key] or 0.0) for r in rows)

        summary[f"{variant} {label}"] = {k: mean(k) for k in rows[0] if k != "region"}
        table.add_row(
            variant,
            label,
            f"{mean('samples'):,.0f}",
            f"{mean('start_up'):,.1f}",
            f"{mean('start_up_share'):.2f}%",
            f"{mean('vocab_load'):.1f}",
            f"{mean('corpus_load'):.1f}",
            f"{mean('work_share'):.1f}%",
            f"{mean('throughput'):.2f}",
        )
    console.print(table)
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
