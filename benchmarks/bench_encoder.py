"""Encoder throughput: scheduler variants side by side, and ours vs tiktoken / HF tokenizers.

Every configuration is measured in the same run, interleaved (one repetition of
every configuration, then the next repetition), and summarised by medians.

    .venv/bin/python -m benchmarks.bench_encoder [--reps 5] [--threads 1,2,8,88]
        [--qemu-threads 1,2,8,88] [--qemu-mib 1] [--no-qemu] [--out FILE]
        [--warmup 1] [--iterations 3]

Host runs measure steady state: `--warmup` untimed passes fill every worker's
word cache, then `--iterations` timed passes (emulated runs: one timed pass).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.table import Table

from benchmarks.common import REPORTS, bench_console, save
from lseprof.capture.build import require_build
from lseprof.workloads.bpe import EncodeOptions, run_encoder
from lseprof.workloads.data import DataFiles, require_data
from tests.oracle import hf_gpt2, rust_lines, tiktoken_gpt2

console = bench_console()


def oracle_child(kind: str, corpus: Path, vocab: Path, threads: int) -> None:
    """Runs in a subprocess so thread pools are sized before the library loads."""
    lines = [line.decode() for line in rust_lines(corpus.read_bytes())]
    nbytes = sum(len(line.encode()) for line in lines)
    if kind == "tiktoken":
        enc = tiktoken_gpt2(vocab)
        enc.encode_ordinary(lines[0])  # compile the regex outside the timed region
        start = time.perf_counter()
        if threads == 1:
            for line in lines:
                enc.encode_ordinary(line)
        else:
            enc.encode_ordinary_batch(lines, num_threads=threads)
    else:
        tok = hf_gpt2(vocab)
        tok.encode_batch(lines[:10], add_special_tokens=False)
        start = time.perf_counter()
        tok.encode_batch(lines, add_special_tokens=False)
    seconds = time.perf_counter() - start
    print(json.dumps({"mib_per_s": nbytes / 2**20 / seconds}))


def run_oracle(kind: str, corpus: Path, vocab: Path, threads: int) -> float:
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "true"}
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--oracle-child",
            kind,
            "--corpus",
            str(corpus),
            "--vocab",
            str(vocab),
            "--oracle-threads",
            str(threads),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["mib_per_s"])


def slice_corpus(corpus: Path, mib: float, dest: Path) -> Path:
    """The first `mib` MiB of whole lines, for emulated runs (qemu is ~10-50x slower)."""
    data = corpus.read_bytes()
    cut = data.index(b"\n", int(mib * 2**20)) + 1
    dest.write_bytes(data[:cut])
    return dest


def measure(
    args: argparse.Namespace,
    files: DataFiles,
    configs: list[tuple[str, int, Path]],
    variants: tuple[str, str],
) -> tuple[dict[tuple[str, int, str], list[float]], dict[str, list[float]]]:
    """Every configuration, repetitions interleaved; then the single-thread oracles."""
    samples: dict[tuple[str, int, str], list[float]] = {}
    oracle: dict[str, list[float]] = {"ours": [], "tiktoken": [], "tokenizers": []}
    total = args.reps * (len(configs) * 2 + 3)
    done = 0
    for rep in range(args.reps):
        for target, threads, corpus in configs:
            # Alternate which variant goes first so drift does not favour one.
            order = variants if rep % 2 == 0 else variants[::-1]
            for variant in order:
                steady = (
                    {"warmup": args.warmup, "iterations": args.iterations}
                    if target == "host"
                    else {}
                )
                result = run_encoder(
                    require_build(target, variant),
                    EncodeOptions(threads, corpus, files.vocab_dir, **steady),
                )
                samples.setdefault((target, threads, variant), []).append(result.mib_per_s)
                done += 1
                console.print(
                    f"[dim]{done}/{total} rep {rep + 1} {target} {variant} "
                    f"t={threads}: {result.mib_per_s:.2f} MiB/s[/]"
                )
        ours = run_encoder(
            require_build("host", "rayon"), EncodeOptions(1, files.corpus, files.vocab_dir)
        )
        oracle["ours"].append(ours.mib_per_s)
        oracle["tiktoken"].append(run_oracle("tiktoken", files.corpus, files.vocab_dir, 1))
        oracle["tokenizers"].append(run_oracle("tokenizers", files.corpus, files.vocab_dir, 1))
        done += 3
        console.print(
            f"[dim]{done}/{total} single-thread: ours {oracle['ours'][-1]:.2f}, "
            f"tiktoken {oracle['tiktoken'][-1]:.2f}, "
            f"tokenizers {oracle['tokenizers'][-1]:.2f} MiB/s[/]"
        )

    return samples, oracle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", default="1,2,8,88")
    parser.add_argument("--qemu-threads", default="1,2,8,88")
    parser.add_argument("--qemu-mib", type=float, default=1.0)
    parser.add_argument("--no-qemu", action="store_true")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPORTS / "bench_encoder.json")
    parser.add_argument("--oracle-child", default=None)
    parser.add_argument("--oracle-threads", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--vocab", type=Path, default=None)
    args = parser.parse_args()
    if args.oracle_child:
        oracle_child(args.oracle_child, args.corpus, args.vocab, args.oracle_threads)
        return

    files = require_data()
    tmp = Path(tempfile.mkdtemp(prefix="lseprof-bench-"))
    small = slice_corpus(files.corpus, args.qemu_mib, tmp / "slice.txt")
    configs: list[tuple[str, int, Path]] = [
        ("host", int(t), files.corpus) for t in args.threads.split(",")
    ]
    if not args.no_qemu:
        configs += [("aarch64", int(t), small) for t in args.qemu_threads.split(",")]
    variants = ("rayon", "window")
    samples, oracle = measure(args, files, configs, variants)

    table = Table(title=f"bpe-encode throughput, MiB/s (median of {args.reps}, interleaved)")
    for col in ("target", "threads", "rayon", "window", "window/rayon"):
        table.add_column(col, justify="right")
    rows = []
    for target, threads, _ in configs:
        r = statistics.median(samples[(target, threads, "rayon")])
        w = statistics.median(samples[(target, threads, "window")])
        label = target if target == "host" else f"{target} (qemu, emulated)"
        table.add_row(label, str(threads), f"{r:.2f}", f"{w:.2f}", f"{w / r:.3f}")
        rows.append(
            {
                "target": target,
                "threads": threads,
                "rayon": r,
                "window": w,
                "ratio": w / r,
                "samples": {v: samples[(target, threads, v)] for v in variants},
            }
        )
    console.print(table)
    single = Table(title="single thread, same lines, MiB/s (median)")
    for col in ("encoder", "MiB/s", "ours / it"):
        single.add_column(col, justify="right")
    medians = {k: statistics.median(v) for k, v in oracle.items()}
    for name, value in medians.items():
        single.add_row(name, f"{value:.2f}", f"{medians['ours'] / value:.2f}")
    console.print(single)
    console.print(
        f"host: {os.uname().machine}, {os.cpu_count()} cpus; corpus {files.corpus} "
        f"({files.corpus.stat().st_size / 2**20:.1f} MiB); qemu slice "
        f"{small.stat().st_size / 2**20:.2f} MiB"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows, "single_thread": oracle}, indent=2))


if __name__ == "__main__":
    try:
        main()
    finally:
        save(console, "bench_encoder")
