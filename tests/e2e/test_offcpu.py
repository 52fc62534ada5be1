"""Scheduler events beside the samples (`lseprof run --sched`, `lseprof report`):
real perf, real tracepoints, a C program that counts its own wake-ups, our two
schedulers, and perf sched timehist on the same file as the reference."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lseprof.capture.sched_record import sched_tracepoints_problem
from lseprof.results import OffCpuResult
from lseprof.store import open_store
from tests.helpers import LSEPROF, REPO, missing_tool, needs_tool, run

HANDOFF_SRC = REPO / "tests/fixtures/src/handoff.c"
ITEMS, SLEEP_US = 1500, 300

# As root, make test mounts tracefs: tracepoints missing then are a broken install step.
# Without root they may be out of reach: that is the machine's, a plain skip.
needs_tracepoints = (
    needs_tool(
        "scheduler tracepoints",
        sched_tracepoints_problem() is None,
        "make test mounts tracefs when it runs as root",
    )
    if os.geteuid() == 0
    else pytest.mark.skipif(
        sched_tracepoints_problem() is not None,
        reason=f"scheduler tracepoints not recordable here: {sched_tracepoints_problem()}",
    )
)


@dataclass
class HandoffRun:
    run: dict[str, Any]  # lseprof run --json's entry
    program: dict[str, Any]  # the program's own counts
    run_dir: Path
    store: Path


@pytest.fixture(scope="module")
def handoff_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("handoff") / "handoff"
    subprocess.run(
        [
            "gcc",
            "-O2",
            "-g",
            "-pthread",
            "-fno-omit-frame-pointer",
            "-o",
            str(out),
            str(HANDOFF_SRC),
        ],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def handoff(handoff_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> HandoffRun:
    store = tmp_path_factory.mktemp("store") / "runs.sqlite"
    proc = run(
        [
            LSEPROF,
            "run",
            "--store",
            store,
            "--sched",
            "--repeat",
            "1",
            "--json",
            "--",
            handoff_bin,
            str(ITEMS),
            str(SLEEP_US),
        ]
    )
    assert proc.returncode == 0, proc.stderr
    entry = json.loads(proc.stdout)[0]
    run_dir = Path(entry["run_dir"])
    program = json.loads((run_dir / "workload.stdout").read_text().strip().splitlines()[-1])
    return HandoffRun(entry, program, run_dir, store)


@needs_tracepoints
def test_wakeups_per_item_match_the_programs_own_count(handoff: HandoffRun) -> None:
    expected = handoff.program["expected_wakeups"] / handoff.program["items"]
    got = handoff.run["wakeups_per_item"]
    print(f"wake-ups per item: lseprof {got:.4f}, the program {expected:.4f}")
    assert got == pytest.approx(expected, rel=0.10)
    assert handoff.run["offcpu_share"] > 50.0  # both threads mostly wait, by design
    lat = handoff.run["wakeup_latency_us"]
    assert 0 < lat["p50"] <= lat["p99"]


@needs_tracepoints
def test_stored_sched_run_reads_back_typed(handoff: HandoffRun) -> None:
    """The store gives the off-CPU figures as typed attributes, equal to what run
    --json printed, and knows every key the run wrote (none left in ``other``)."""
    with open_store(handoff.store) as store:
        record = store.get(handoff.run["run_id"])
    figures = record.extra.offcpu
    assert isinstance(figures, OffCpuResult)
    assert figures.wakeups_per_item == handoff.run["wakeups_per_item"]
    assert figures.offcpu_share == handoff.run["offcpu_share"]
    assert figures.wakeup_p50_us == handoff.run["wakeup_latency_us"]["p50"]
    assert figures.wakeup_p99_us == handoff.run["wakeup_latency_us"]["p99"]
    assert [t.to_dict() for t in figures.threads] == handoff.run["extra"]["offcpu"]["threads"]
    assert figures.other == {}
    assert record.extra.sched_data and Path(record.extra.sched_data).is_file()
    assert record.extra.argv and record.extra.argv[-2:] == [str(ITEMS), str(SLEEP_US)]
    assert record.extra.other == {}, "run wrote keys RunExtra does not read"


@needs_tracepoints
def test_consumer_waits_on_the_futex_path(handoff: HandoffRun) -> None:
    offcpu = handoff.run["extra"]["offcpu"]
    threads = {t["tid"]: t for t in offcpu["threads"]}
    consumer = next(t for t in threads.values() if t["tid"] != t["pid"])
    by_reason = consumer["off_cpu_by_reason_s"]
    # The consumer sleeps in pthread_cond_wait, i.e. futex_wait, and nowhere else.
    assert by_reason["futex"] > 0.9 * consumer["off_cpu_s"], consumer
    futex_paths = [p for p in offcpu["blocking_paths"] if p["reason"] == "futex"]
    assert futex_paths and "futex" in futex_paths[0]["frames"][0], offcpu["blocking_paths"]
    # The producer sleeps in nanosleep; its wake-ups come from the timer interrupt,
    # the consumer's from the producer (its main thread).
    main = next(t for t in threads.values() if t["tid"] == t["pid"])
    assert main["off_cpu_by_reason_s"]["sleep"] > 0.8 * main["off_cpu_s"], main
    pairs = {(w["waker"], w["wakee"]): w["count"] for w in offcpu["wakers"]}
    assert pairs.get(("handoff (main)", "handoff"), 0) >= 0.9 * ITEMS, pairs
    assert pairs.get(("[interrupt]", "handoff (main)"), 0) >= 0.9 * ITEMS, pairs


def _timehist(sched_data: Path) -> dict[int, list[tuple[str, float, float]]]:
    """Per tid, perf sched timehist's rows: (task name, wait time, run time), seconds.
    Its "wait time" is sched-out to sched-in (its "sch delay" column is the part of it
    after the wake-up), i.e. off-CPU time."""
    text = subprocess.run(
        ["perf", "sched", "timehist", "-i", str(sched_data)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    row = re.compile(
        r"^\s*\d+\.\d+\s+\[\d+\]\s+(\S+?)\[(\d+)(?:/\d+)?\]\s+([\d.]+)\s+"
        r"[\d.]+\s+([\d.]+)"
    )
    for line in text.splitlines():
        m = row.match(line)
        if m:
            rows[int(m[2])].append((m[1], float(m[3]) / 1e3, float(m[4]) / 1e3))
    return rows


@needs_tracepoints
def test_offcpu_per_thread_agrees_with_perf_sched_timehist(handoff: HandoffRun) -> None:
    reference = _timehist(handoff.run_dir / "sched.data")
    threads = handoff.run["extra"]["offcpu"]["threads"]
    assert len(threads) == 2
    for t in threads:
        rows = reference[t["tid"]]
        if t["tid"] == t["pid"]:
            # Before it execs the workload, perf's forked child ("perf-exec") waits on a
            # pipe until perf is ready: perf's wait, not the program's. lseprof leaves
            # it out; timehist counts it in the process's first row after perf-exec.
            first = next(i for i, r in enumerate(rows) if r[0] != "perf-exec")
            rows = rows[first + 1 :]
        wait, ran = sum(r[1] for r in rows), sum(r[2] for r in rows)
        print(
            f"tid {t['tid']}: off-CPU lseprof {t['off_cpu_s']:.4f} s, timehist {wait:.4f} s;"
            f" on-CPU lseprof {t['on_cpu_s']:.4f} s, timehist {ran:.4f} s"
        )
        assert t["off_cpu_s"] == pytest.approx(wait, rel=0.05)


@needs_tracepoints
def test_report_reads_the_run_again(handoff: HandoffRun) -> None:
    proc = run([LSEPROF, "report", "--json", handoff.run_dir / "perf.data"])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["samples"] > 0  # the on-CPU view is still there
    assert data["offcpu"]["wakeups_per_item"] == pytest.approx(
        handoff.run["wakeups_per_item"], rel=1e-3
    )
    text = run([LSEPROF, "report", handoff.run_dir / "perf.data"]).stdout
    assert "Scheduler view" in text and "Who wakes whom" in text
    md = run([LSEPROF, "report", "--markdown", handoff.run_dir / "perf.data"]).stdout
    assert "### Scheduler view" in md and "| futex |" in md


@needs_tracepoints
def test_perf_sched_record_file(handoff_bin: Path, tmp_path: Path) -> None:
    """A file from perf's own `perf sched record` (no callchains, sched_waking only)."""
    data = tmp_path / "sched.perf"
    subprocess.run(
        ["perf", "sched", "record", "-o", str(data), "--", str(handoff_bin), "400", str(SLEEP_US)],
        check=True,
        capture_output=True,
    )
    proc = run([LSEPROF, "report", "--json", data])
    assert proc.returncode == 0, proc.stderr
    offcpu = json.loads(proc.stdout)["offcpu"]
    handoff = [t for t in offcpu["threads"] if t["comm"] == "handoff"]
    assert len(handoff) == 2
    # 400 timer wake-ups of the producer + 400 futex wake-ups of the consumer.
    assert sum(t["wakeups"] for t in handoff) == pytest.approx(800, rel=0.10)
    assert any("no callchains" in n for n in offcpu["notes"])


def test_no_sched_events_is_a_note_and_the_rest_runs() -> None:
    path = REPO / "tests/fixtures/perf/x86-contend/perf.data"
    proc = run([LSEPROF, "report", "--sched", path])
    assert proc.returncode == 0, proc.stderr
    warning = [ln for ln in proc.stderr.splitlines() if "no scheduler events" in ln]
    assert len(warning) == 1 and "--sched" in warning[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Where the time goes" in proc.stdout
    data = json.loads(run([LSEPROF, "report", "--json", path]).stdout)
    assert data["offcpu"] is None


def test_missing_tracefs_is_a_one_line_message_and_the_run_still_profiles(
    tmp_path: Path, handoff_bin: Path
) -> None:
    missing = tmp_path / "no-tracefs"
    proc = run(
        [
            LSEPROF,
            "run",
            "--store",
            tmp_path / "runs.sqlite",
            "--sched",
            "--repeat",
            "1",
            "--json",
            "--",
            handoff_bin,
            "200",
            str(SLEEP_US),
        ],
        env={**__import__("os").environ, "LSEPROF_TRACEFS": str(missing)},
    )
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "tracefs" in ln]
    assert len(lines) == 1 and str(missing) in lines[0], proc.stderr
    entry = json.loads(proc.stdout)[0]
    assert entry["status"] == "ok" and entry["samples"] is not None
    assert entry["offcpu_share"] is None and "no scheduler events" in entry["message"]


def test_permission_problems_say_what_to_do(tmp_path: Path) -> None:
    assert "mount" in (sched_tracepoints_problem((tmp_path,)) or "")
    root = Path("/sys/kernel/tracing")
    if not (root / "events/sched/sched_switch").is_dir():
        missing_tool("tracefs at /sys/kernel/tracing", "make test mounts it as root")
    message = sched_tracepoints_problem((root,), level=2, euid=1000) or ""
    assert "perf_event_paranoid=-1" in message and "root" in message
    assert sched_tracepoints_problem((root,), level=-1, euid=1000) is None or "readable" in (
        sched_tracepoints_problem((root,), level=-1, euid=1000) or ""
    )


@needs_tracepoints
@needs_tool("the native builds", (REPO / "native/bin").is_dir(), "make test builds them")
def test_rayon_wakes_more_per_item_than_window(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    proc = run(
        [
            LSEPROF,
            "run",
            "--store",
            store,
            "--sched",
            "--threads",
            "8",
            "--repeat",
            "2",
            "--duration",
            "2",
            "--json",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)
    per_item: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        print(
            f"{r['variant']}: {r['wakeups_per_item']:.6f} wake-ups/item, "
            f"{r['wakeups_per_s']:.0f}/s, off-CPU {r['offcpu_share']:.1f}%, "
            f"p50 {r['wakeup_latency_us']['p50']:.1f} µs, {r['throughput_mib_s']:.1f} MiB/s"
        )
        per_item[r["variant"]].append(r["wakeups_per_item"])
    # On this 2-CPU VM the ratio is about 1.2-1.4 (rayon's caller blocks on a latch
    # and its workers sleep and wake per batch); means of two runs each.
    assert sum(per_item["rayon"]) > sum(per_item["window"])
    # lseprof diff of the two groups shows the scheduler deltas.
    groups = {r["variant"]: r["group_id"] for r in runs}
    diff = run([LSEPROF, "diff", "--store", store, "--json", groups["rayon"], groups["window"]])
    assert diff.returncode == 0, diff.stderr
    figures = {d["name"]: d for d in json.loads(diff.stdout)["scheduler"]}
    assert figures["wakeups_per_item"]["a"] == pytest.approx(sum(per_item["rayon"]) / 2, rel=1e-3)
    assert figures["wakeups_per_item"]["delta"] < 0
    text = run([LSEPROF, "diff", "--store", store, groups["rayon"], groups["window"]]).stdout
    assert "wake-ups per item" in text


@needs_tracepoints
def test_offcpu_folded_stacks_are_time_weighted(handoff: HandoffRun, tmp_path: Path) -> None:
    out = tmp_path / "off.folded"
    proc = run([LSEPROF, "report", "--offcpu-folded", out, handoff.run_dir / "perf.data"])
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    stacks = {}
    for line in lines:
        stack, _, micros = line.rpartition(" ")
        stacks[stack] = int(micros)
    total_s = sum(stacks.values()) / 1e6
    off = handoff.run["extra"]["offcpu"]["off_cpu_s"]
    # Every off-CPU period is in one stack (rounded to µs per stack).
    assert total_s == pytest.approx(off, rel=0.01), (total_s, off)
    futex = [s for s in stacks if "futex" in s and s.startswith("handoff;")]
    assert futex and all(s.split(";")[-1].endswith("_[k]") for s in futex)


def test_offcpu_folded_without_events_is_an_error(tmp_path: Path) -> None:
    proc = run(
        [
            LSEPROF,
            "report",
            "--offcpu-folded",
            tmp_path / "x",
            REPO / "tests/fixtures/perf/x86-contend/perf.data",
        ]
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert any("needs scheduler events" in ln for ln in lines) and "Traceback" not in proc.stderr


@needs_tracepoints
def test_per_task_file_with_samples_and_sched_events(handoff_bin: Path, tmp_path: Path) -> None:
    """perf record -e cpu-clock -e sched:... -- CMD, as people record it by hand: the
    tracepoints are no sampling section, the scheduler view says what per-task
    recording misses, and the flame-graph stacks hold no scheduler events."""
    data = tmp_path / "perf.data"
    subprocess.run(
        [
            "perf",
            "record",
            "-q",
            "-g",
            "-e",
            "cpu-clock",
            "-e",
            "sched:sched_switch",
            "-e",
            "sched:sched_wakeup",
            "-o",
            str(data),
            "--",
            str(handoff_bin),
            "400",
            str(SLEEP_US),
        ],
        check=True,
        capture_output=True,
    )
    proc = run([LSEPROF, "report", "--json", data])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert isinstance(report, dict) and report["event"] == "cpu-clock", report.get("event")
    offcpu = report["offcpu"]
    assert offcpu["system_wide"] is False
    assert any("per task" in n for n in offcpu["notes"])
    # Only the wake-ups the program did itself are seen: the producer's 400 futex
    # wake-ups of the consumer, not the 400 timer wake-ups of the producer.
    assert offcpu["wakeups"] == pytest.approx(400, rel=0.10)
    # The tracepoints are scheduler events, not samples of time on CPU: no stack of them.
    from lseprof import load
    from lseprof.analysis.stacks import folded

    stacks = folded(load(data))
    assert stacks and not any("sched:" in k for k in stacks)


@needs_tracepoints
def test_damaged_sched_data_keeps_the_on_cpu_report(handoff: HandoffRun, tmp_path: Path) -> None:
    """A sched.data cut in half: one warning naming it, the on-CPU report still made."""
    copy = tmp_path / "run"
    shutil.copytree(handoff.run_dir, copy)
    data = (copy / "sched.data").read_bytes()
    (copy / "sched.data").write_bytes(data[: len(data) // 2])
    proc = run([LSEPROF, "report", "--sched", "--json", copy / "perf.data"])
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("lseprof: warning")]
    assert len(warnings) == 1 and "sched.data" in warnings[0] and "damaged" in warnings[0], (
        proc.stderr
    )
    assert json.loads(proc.stdout)["samples"] > 0
    assert "Traceback" not in proc.stderr


@needs_tracepoints
def test_unwritable_offcpu_folded_path_is_one_line(handoff: HandoffRun, tmp_path: Path) -> None:
    out = tmp_path / "no-such-dir" / "off.folded"
    proc = run([LSEPROF, "report", "--offcpu-folded", out, handoff.run_dir / "perf.data"])
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("lseprof: error")]
    assert proc.returncode == 2 and len(errors) == 1 and "cannot write" in errors[0], proc.stderr
    assert not out.parent.exists()
