"""Time `inspect()` on the real ELF fixtures (and this machine's x86_64 libc/python).

Run `make fixtures` first. Prints one row per file: size, median of 5 runs,
helpers and call sites found. Target: under 5 s for the ~10 MB object.

    .venv/bin/python -m benchmarks.bench_inspect [--repeat N] [FILE...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from rich.table import Table

from benchmarks.common import bench_console, save
from lseprof import inspect

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "data" / "elf-fixtures" / "manifest.json"
SYSTEM_X86 = (Path("/usr/lib/x86_64-linux-gnu/libc.so.6"), Path("/usr/bin/python3.11"))
TARGET_S = 5.0

console = bench_console()


def default_files() -> list[Path]:
    files: list[Path] = []
    if MANIFEST.is_file():
        files += [MANIFEST.parent / str(e["path"]) for e in json.loads(MANIFEST.read_text())]
    else:
        print("no ELF fixtures: run `make fixtures` first", file=sys.stderr)
    files += [p for p in SYSTEM_X86 if p.is_file()]
    return [p for p in files if p.is_file()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    files = args.files or default_files()
    if not files:
        return 1

    table = Table(title=f"inspect(), median of {args.repeat} runs")
    table.add_column("file", no_wrap=True)
    table.add_column("arch")
    for name in ("MB", "median s", "min s", "helpers", "calls", "x86 lock"):
        table.add_column(name, justify="right", no_wrap=True)
    slow = False
    for path in files:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            inv = inspect(path)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        size_mb = path.stat().st_size / 1e6
        slow |= size_mb >= 8 and median >= TARGET_S
        table.add_row(
            path.name,
            inv.arch,
            f"{size_mb:.1f}",
            f"{median:.3f}",
            f"{min(times):.3f}",
            str(len(inv.helpers)),
            str(inv.call_sites_total),
            str(inv.x86_lock),
        )
    console.print(table)
    return 1 if slow else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        save(console, "bench_inspect")
    raise SystemExit(code)
