"""`lseprof run` as users type it: host sweep and emulated aarch64, with perf overhead.

    .venv/bin/python -m benchmarks.bench_run [--threads 2,8,88] [--repeat 5]
        [--qemu-threads 2,8] [--duration 3] [--no-qemu]

Runs (one invocation each, so each is interleaved A B A B inside):
    lseprof run --threads 2,8,88 --repeat 5 --overhead --json
    lseprof run --target aarch64 --threads 2,8 --repeat 5 --json
and prints per thread count: window/rayon throughput ratio, contention share
(lock + futex + spin) of each variant and their ratio, and perf's overhead
(throughput with perf / without, from the --overhead runs).
Targets (host, 88 threads): ratio >= 1.19; rayon contention >= 3x window's;
overhead >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.table import Table

from benchmarks.common import bench_console, save

LSEPROF = Path(sys.executable).parent / "lseprof"
CONTENTION = ("lock", "futex", "spin")
console = bench_console()


def lseprof_run(store: Path, *args: str) -> list[dict[str, Any]]:
    argv = [str(LSEPROF), "run", "--store", str(store), "--json", *args]
    console.print(f"[dim]$ {' '.join(argv[1:])}[/]")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"lseprof run failed ({proc.returncode}): {proc.stderr.strip()}")
    runs: list[dict[str, Any]] = json.loads(proc.stdout)
    return runs


def bare_throughput(run: dict[str, Any]) -> float | None:
    """Throughput of the --overhead run made without perf just before this one."""
    value: float | None = ((run.get("extra") or {}).get("no_perf") or {}).get("throughput_mib_s")
    return value


def summarize(runs: list[dict[str, Any]], title: str, overhead: bool) -> Table:
    table = Table(title=title, title_justify="left")
    for name in (
        "threads",
        "rayon MiB/s",
        "window MiB/s",
        "window/rayon",
        "helper % r/w",
        "contention % rayon",
        "contention % window",
        "rayon/window contention",
        *(("perf overhead r/w",) if overhead else ()),
    ):
        table.add_column(name, justify="right")
    by: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for run in runs:
        if run["status"] == "ok":
            by.setdefault((run["variant"], run["threads"]), []).append(run)
    for threads in sorted({t for _, t in by}):
        cells = {}
        for variant in ("rayon", "window"):
            rows = by.get((variant, threads), [])
            cells[variant] = {
                "tp": statistics.median(r["throughput_mib_s"] for r in rows),
                "cont": statistics.mean(
                    sum(r["categories"].get(c, 0) for c in CONTENTION) for r in rows
                ),
                "helper": statistics.mean(r["atomic_helper_share"] or 0 for r in rows),
                # As `lseprof run --overhead` prints it: median with / median without.
                "over": statistics.median(r["throughput_mib_s"] for r in rows)
                / statistics.median(b for r in rows if (b := bare_throughput(r)))
                if overhead
                else None,
            }
        r, w = cells["rayon"], cells["window"]
        row = [
            str(threads),
            f"{r['tp']:.2f}",
            f"{w['tp']:.2f}",
            f"{w['tp'] / r['tp']:.3f}",
            f"{r['helper']:.2f}/{w['helper']:.2f}",
            f"{r['cont']:.1f}",
            f"{w['cont']:.1f}",
            f"{r['cont'] / w['cont']:.2f}" if w["cont"] else "inf",
        ]
        if overhead:
            row.append(f"{r['over']:.3f}/{w['over']:.3f}")
        table.add_row(*row)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", default="2,8,88")
    parser.add_argument("--qemu-threads", default="2,8")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--no-qemu", action="store_true")
    args = parser.parse_args()
    store = Path(tempfile.mkdtemp(prefix="lseprof-bench-run-")) / "runs.sqlite"
    host = lseprof_run(
        store,
        "--threads",
        args.threads,
        "--repeat",
        str(args.repeat),
        "--duration",
        str(args.duration),
        "--overhead",
    )
    console.print(
        summarize(
            host,
            f"host: lseprof run --threads {args.threads} --repeat "
            f"{args.repeat} (event {host[0]['event']})",
            overhead=True,
        )
    )
    if not args.no_qemu:
        emulated = lseprof_run(
            store,
            "--target",
            "aarch64",
            "--threads",
            args.qemu_threads,
            "--repeat",
            str(args.repeat),
            "--duration",
            str(args.duration),
        )
        console.print(
            summarize(
                emulated,
                f"aarch64 under qemu (EMULATED): --threads {args.qemu_threads}",
                overhead=False,
            )
        )
    console.print(f"[dim]store and artifacts: {store.parent}[/]")


if __name__ == "__main__":
    try:
        main()
    finally:
        save(console, "bench_run")
