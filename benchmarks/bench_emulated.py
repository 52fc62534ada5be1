"""hf-tokenizers (upstream) against bpe-encode rayon and window, host and emulated
aarch64, 2 and 8 threads, measured side by side in one run: MiB/s, helper share (of
all samples and of guest samples), guest samples named, and the top helpers with
their object.

usage: .venv/bin/python -m benchmarks.bench_emulated [--duration S] [--threads 2,8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.table import Table

from benchmarks.common import bench_console, save

LSEPROF = Path(sys.executable).parent / "lseprof"
CONFIGS = (("hf-tokenizers", "both"), ("bpe-encode", "rayon"), ("bpe-encode", "window"))

console = bench_console()


def _runs(
    store: Path,
    workload: str,
    variant: str,
    target: str,
    threads: str,
    duration: float,
    corpus: Path,
) -> list[dict[str, object]]:
    proc = subprocess.run(
        [
            str(LSEPROF),
            "run",
            "--store",
            str(store),
            "--workload",
            workload,
            "--variant",
            variant,
            "--target",
            target,
            "--threads",
            threads,
            "--repeat",
            "1",
            "--duration",
            str(duration),
            "--corpus",
            str(corpus),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"bench_emulated: {workload} {variant} {target} failed: "
            f"{proc.stderr.strip().splitlines()[-1:]}"
        )
    runs: list[dict[str, object]] = json.loads(proc.stdout)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--threads", default="2,8")
    ap.add_argument("--corpus-bytes", type=int, default=300_000)
    args = ap.parse_args()
    from lseprof.workloads.data import require_data

    data = require_data()
    table = Table(title=f"hf-tokenizers vs bpe-encode ({args.duration:g} s per run)")
    for col in (
        "workload",
        "variant",
        "target",
        "threads",
        "MiB/s",
        "helpers % all",
        "helpers % guest",
        "guest named %",
        "emulator %",
        "top helpers (object)",
    ):
        table.add_column(
            col,
            justify="left"
            if col in ("workload", "variant", "target", "top helpers (object)")
            else "right",
        )
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        raw = data.corpus.read_bytes()
        corpus.write_bytes(raw[: raw.index(b"\n", args.corpus_bytes) + 1])
        store = Path(tmp) / "runs.sqlite"
        for target in ("host", "aarch64"):
            for workload, variant in CONFIGS:
                for r in _runs(
                    store, workload, variant, target, args.threads, args.duration, corpus
                ):
                    helpers = r["helpers"] or []
                    share = float(r["atomic_helper_share"] or 0.0)  # type: ignore[arg-type]
                    guest = sum(
                        float(h.get("guest_share") or 0.0)  # type: ignore[union-attr]
                        for h in helpers
                    )  # type: ignore[union-attr]
                    top = ", ".join(
                        f"{h['symbol'].removeprefix('__aarch64_')} "  # type: ignore[index]
                        f"({Path(str(h['dso'])).name}) {h['share']:.2f}%"  # type: ignore[index]
                        for h in helpers[:3]
                    )  # type: ignore[index]
                    table.add_row(
                        workload,
                        str(r["variant"]),
                        target,
                        str(r["threads"]),
                        f"{float(r['throughput_mib_s'] or 0):.2f}",  # type: ignore[arg-type]
                        f"{share:.2f}",
                        f"{guest:.2f}" if r["emulated"] else "-",
                        f"{float(r['guest_named_share']):.1f}"  # type: ignore[arg-type]
                        if r["guest_named_share"] is not None
                        else "-",
                        f"{float(r['emulator_share']):.1f}"  # type: ignore[arg-type]
                        if r["emulator_share"] is not None
                        else "-",
                        top or "-",
                    )
    console.print(table)


if __name__ == "__main__":
    try:
        main()
    finally:
        save(console, "bench_emulated")
