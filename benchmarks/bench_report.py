"""`lseprof report` vs `perf report` on the same million-sample perf.data.

Records (in a temporary directory, never committed) a perf.data of at least
1,000,000 cpu-clock samples with frame-pointer callchains from the contend
workload (tests/fixtures/src/contend.c), then times, interleaved and repeated:

    perf report --stdio --no-children --sort dso,sym -i big.data > /dev/null
    lseprof report big.data --json > /dev/null

and prints medians of wall time and CPU time (the process and all its children),
samples per second, the wall-time ratio, and peak memory: the largest SUM of the
resident sets of the whole process tree at any moment (lseprof runs several perf
script processes and forked parsers side by side; sampled every 10 ms), next to
the largest single process (wait4's ru_maxrss). Also: the load average around the
runs and during them (others' work on the machine slows both tools, lseprof's
parallel slices more), and how many perf script processes lseprof ran at once.
Targets: ratio <= 1.5, peak memory (tree sum) < 1 GB.

    .venv/bin/python -m benchmarks.bench_report [--reps 3] [--data big.data] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from benchmarks.common import bench_console, save

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "tests" / "fixtures" / "src" / "contend.c"
LSEPROF = REPO / ".venv" / "bin" / "lseprof"
MIN_SAMPLES = 1_000_000
console = bench_console()


@dataclass
class Run:
    wall: float
    cpu: float  # user + system of the process and all its children
    max_rss_kb: int  # the largest single process (wait4)
    tree_rss_kb: int  # the largest sum over the process tree at one moment (sampled)
    scripts: int  # perf script processes seen running at the same time
    load: float  # 1-minute load average at the end of the run


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (children of every thread, recursively)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo.extend(int(c) for c in handle.read().split())
            except OSError:
                pass
    return found


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, IndexError, ValueError):
        return 0


def _is_perf_script(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            args = handle.read().split(b"\0")
    except OSError:
        return False
    return len(args) > 1 and args[0].endswith(b"perf") and args[1] == b"script"


def sample_count(data: Path) -> int:
    text = subprocess.run(
        ["perf", "report", "--stats", "-i", str(data)], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"^\s*SAMPLE events:\s*(\d+)", text, re.M)
    return int(found[1]) if found else 0


def record(workdir: Path) -> Path:
    """A perf.data with >= MIN_SAMPLES samples: 8 threads, 20 kHz, on every CPU."""
    binary = workdir / "contend"
    subprocess.run(
        ["gcc", "-O2", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", str(binary), str(SOURCE)],
        check=True,
    )
    data = workdir / "big.data"
    cpus = os.cpu_count() or 1
    # 20 kHz per busy CPU; a 25% margin covers timer slack on a loaded machine.
    millis = int(MIN_SAMPLES / (20_000 * cpus) * 1000 * 1.25)
    for _attempt in range(4):
        console.print(f"[dim]recording {millis / 1000:.1f} s of contend at 20 kHz ...[/]")
        subprocess.run(
            [
                "perf",
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                "20000",
                "-g",
                "-o",
                str(data),
                "--",
                str(binary),
                "8",
                str(millis),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        count = sample_count(data)
        if count >= MIN_SAMPLES:
            return data
        millis = int(millis * MIN_SAMPLES / max(count, 1) * 1.1)
    raise SystemExit(f"could not record {MIN_SAMPLES} samples (last: {count})")


def timed(argv: list[str]) -> Run:
    start = time.perf_counter()
    tree_rss = scripts = 0
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE)
        while True:
            pids = _tree(proc.pid)
            tree_rss = max(tree_rss, sum(_rss_kb(p) for p in pids))
            scripts = max(scripts, sum(_is_perf_script(p) for p in pids))
            time.sleep(0.01)
            waited, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if waited:
                break
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {stderr.strip()}")
    # wait4's usage covers the process and the children it waited for (perf script).
    return Run(
        wall,
        usage.ru_utime + usage.ru_stime,
        int(usage.ru_maxrss),
        tree_rss,
        scripts,
        os.getloadavg()[0],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data", type=Path, help="use this perf.data instead of recording")
    parser.add_argument("--keep", type=Path, help="record into this directory and keep it")
    args = parser.parse_args()
    if shutil.which("perf") is None:
        raise SystemExit("perf is not installed")
    tmp = None
    if args.data:
        data = args.data
    else:
        workdir = args.keep or Path(tmp := tempfile.mkdtemp(prefix="lseprof-bench-"))
        workdir.mkdir(parents=True, exist_ok=True)
        data = record(workdir)
    try:
        samples = sample_count(data)
        size_mb = data.stat().st_size / 1e6
        console.print(
            f"{data}: {samples:,} samples, {size_mb:.0f} MB, "
            f"load average before: {os.getloadavg()[0]:.2f}"
        )
        perf_argv = [
            "perf",
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "dso,sym",
            "-i",
            str(data),
        ]
        ours_argv = [str(LSEPROF), "report", str(data), "--json"]
        # Warm the page cache and perf's symbol caches once, untimed.
        timed(perf_argv)
        timed(ours_argv)
        runs: dict[str, list[Run]] = {"perf report": [], "lseprof report": []}
        for rep in range(args.reps):
            for name, argv in (("perf report", perf_argv), ("lseprof report", ours_argv)):
                run = timed(argv)
                runs[name].append(run)
                console.print(
                    f"[dim]rep {rep + 1}: {name:15s} {run.wall:6.2f} s wall "
                    f"{run.cpu:6.2f} s cpu, tree {run.tree_rss_kb / 1024:5.0f} MB "
                    f"(largest process {run.max_rss_kb / 1024:4.0f} MB), "
                    f"{run.scripts} perf script, load {run.load:.2f}[/]"
                )
        table = Table(
            title=f"{samples:,} samples, {args.reps} interleaved repetitions "
            f"(medians), {os.cpu_count()} CPUs"
        )
        for column in (
            "tool",
            "wall s",
            "cpu s",
            "samples/s",
            "peak RSS MB (tree sum)",
            "largest process MB",
            "perf script at once",
        ):
            table.add_column(column, justify="left" if column == "tool" else "right")
        medians = {}
        for name, series in runs.items():
            wall = statistics.median(r.wall for r in series)
            cpu = statistics.median(r.cpu for r in series)
            rss = max(r.tree_rss_kb for r in series) / 1024
            largest = max(r.max_rss_kb for r in series) / 1024
            medians[name] = (wall, rss)
            table.add_row(
                name,
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{samples / wall:,.0f}",
                f"{rss:.0f}",
                f"{largest:.0f}",
                str(max(r.scripts for r in series)) if name != "perf report" else "",
            )
        console.print(table)
        ratio = medians["lseprof report"][0] / medians["perf report"][0]
        rss = medians["lseprof report"][1]
        ok = ratio <= 1.5 and rss < 1024
        loads = [r.load for series in runs.values() for r in series]
        console.print(
            f"ratio lseprof/perf (wall): [bold]{ratio:.2f}[/] (target <= 1.5); "
            f"lseprof peak RSS (tree sum) {rss:.0f} MB (target < 1024); "
            f"load average during the runs {min(loads):.2f}-{max(loads):.2f}, "
            f"after: {os.getloadavg()[0]:.2f}; "
            + ("[green]targets met[/]" if ok else "[red]targets missed[/]")
        )
        return 0 if ok else 1
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        code = main()
    finally:
        save(console, "bench_report")
    sys.exit(code)
