"""What perf costs the workload: throughput with perf / without, and the cost per sample.

    .venv/bin/python -m benchmarks.bench_overhead [--threads 1,2,8,88] [--freqs 999]
        [--variants window,rayon] [--pairs 15] [--iterations 2] [--out FILE.json]

Every configuration is a fixed amount of work (`--warmup 1 --iterations K` over
the full corpus), run without perf and under `perf record` exactly as
`lseprof run` starts it (same event, `-g`, each frequency in `--freqs`), one
after the other, the order alternating between repetitions so drift hits both.
Per configuration it prints the median of the paired ratios (perf / bare) with a
bootstrap 95% interval, and the cost of one sample that ratio implies:
``(1 / ratio - 1) / freq`` seconds of CPU per sample (every busy CPU takes `freq`
samples per second). Sweeping `--freqs` (e.g. 250,999,4000) shows whether the
cost scales with the sample rate, i.e. whether it is the sampling itself.
Target (issue #4): ratio >= 0.95 at lseprof's default frequency.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

from rich.progress import Progress
from rich.table import Table

from benchmarks.common import REPORTS, bench_console, save
from lseprof.analysis.stats import bootstrap_median_ci, median
from lseprof.capture.build import require_build
from lseprof.capture.perf_env import choose_event, find_perf
from lseprof.capture.record import RecordSpec, perf_record_argv
from lseprof.jobs.runner import DEFAULT_FREQ
from lseprof.workloads.bpe import EncodeOptions, EncodeResult, encoder_argv
from lseprof.workloads.data import require_data

console = bench_console()


def paired_ratio_ci(perf: list[float], bare: list[float]) -> tuple[float, float, float]:
    """Median of perf/bare over pairs, with a percentile-bootstrap 95% interval."""
    ratios = [p / b for p, b in zip(perf, bare, strict=True)]
    return (median(ratios), *bootstrap_median_ci(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", default="1,2,8,88")
    parser.add_argument("--freqs", default=str(DEFAULT_FREQ))
    parser.add_argument("--variants", default="window,rayon")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument(
        "--out",
        type=Path,
        default=REPORTS / "bench_overhead.json",
        help="also write every run (JSON)",
    )
    args = parser.parse_args()
    perf, event = find_perf(), choose_event(None)
    files = require_data()
    freqs = [int(f) for f in args.freqs.split(",")]
    configs = [(v, int(t)) for v in args.variants.split(",") for t in args.threads.split(",")]
    out = Path(tempfile.mkdtemp(prefix="lseprof-bench-overhead-")) / "perf.data"
    runs: dict[tuple[str, int, int], list[float]] = {}  # freq 0 = without perf
    with Progress(console=console) as progress:
        task = progress.add_task("runs", total=args.pairs * len(configs) * (len(freqs) + 1))
        for rep in range(args.pairs):
            for variant, threads in configs:
                options = EncodeOptions(
                    threads, files.corpus, files.vocab_dir, warmup=1, iterations=args.iterations
                )
                argv = encoder_argv(require_build("host", variant), options)
                order = [0, *freqs] if rep % 2 == 0 else [*freqs, 0]
                for freq in order:
                    prefix = perf_record_argv(perf, RecordSpec(event, freq), out) if freq else []
                    proc = subprocess.run(
                        [*prefix, *argv], capture_output=True, text=True, check=True
                    )
                    runs.setdefault((variant, threads, freq), []).append(
                        EncodeResult.from_json(proc.stdout.strip().splitlines()[-1]).mib_per_s
                    )
                    progress.advance(task)

    table = Table(
        title=f"perf overhead: throughput under `perf record -e {event} -F FREQ -g` "
        f"/ without, median of {args.pairs} interleaved pairs "
        f"(--warmup 1 --iterations {args.iterations})",
        title_justify="left",
    )
    for name in (
        "variant",
        "threads",
        "freq Hz",
        "MiB/s without",
        "MiB/s with",
        "ratio",
        "95% interval",
        "cost µs/sample",
    ):
        table.add_column(name, justify="right")
    for variant, threads in configs:
        bare = runs[(variant, threads, 0)]
        for freq in freqs:
            with_perf = runs[(variant, threads, freq)]
            ratio, low, high = paired_ratio_ci(with_perf, bare)
            cost = (1 / ratio - 1) / freq * 1e6
            table.add_row(
                variant,
                str(threads),
                str(freq),
                f"{statistics.median(bare):.2f}",
                f"{statistics.median(with_perf):.2f}",
                f"{ratio:.3f}",
                f"{low:.3f}-{high:.3f}",
                f"{cost:.1f}",
            )
    console.print(table)
    if args.out:
        args.out.write_text(
            json.dumps(
                [
                    {"variant": v, "threads": t, "freq": f, "mib_per_s": x}
                    for (v, t, f), xs in runs.items()
                    for x in xs
                ]
            )
        )


if __name__ == "__main__":
    try:
        main()
    finally:
        save(console, "bench_overhead")
