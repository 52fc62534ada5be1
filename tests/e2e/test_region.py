"""Time in real profiles: the measured region of the built-in workloads and of marked
programs (C, Python, Rust helpers) recorded by real perf, --delay, --whole-process,
the scheduler events following the region, --time-range on a stored run against
the profile cut by perf itself, and the heat map page in headless Chromium.

The issue's checks: `lseprof run --threads 8 --repeat 1 --duration 3 --json` has no
sample under Vocab::load or Corpus::load (whole callchains, read by perf script),
--whole-process has them; `lseprof report RUN --time-range 1,2 --json` equals the
report of the profile cut to that second; the heat map page opens without errors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tests.e2e.test_dashboard_browser as browser
from lseprof.readers.perf_data import DEFAULT_MAX_STACK
from lseprof.workloads.data import DataFiles
from tests.helpers import (
    LSEPROF,
    REPO,
    assert_one_line_error,
    build_for,
    needs_perf,
    needs_tool,
    run,
)

pytestmark = needs_perf

START_UP = ("Vocab::load", "Corpus::load")
# Keys of a report section that say where it came from, not what it found.
# What the input kind says of itself: a perf.data knows its events' precision (skid,
# without precise events), text does not.
PROVENANCE = {"source_kind", "path", "lost_samples", "perf_version", "time_range", "ip_precision"}


def _run(store: Path, *args: str) -> list[dict[str, Any]]:
    proc = run([LSEPROF, "run", "--repeat", "1", "--json", "--store", store, *args])
    assert proc.returncode == 0, proc.stderr
    runs: list[dict[str, Any]] = json.loads(proc.stdout)
    return runs


def _stacks(perf_data: str | Path) -> list[str]:
    """Every sample's whole callchain, as perf script prints it."""
    text = subprocess.run(
        ["perf", "script", "-i", str(perf_data), "-F", "ip,sym", "--max-stack", "127"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [block for block in text.split("\n\n") if block.strip()]


def _under(stacks: list[str], *names: str) -> int:
    return sum(any(n in s for n in names) for s in stacks)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("region") / "runs.sqlite"


@pytest.fixture(scope="module")
def default_runs(store: Path) -> list[dict[str, Any]]:
    return _run(store, "--threads", "8", "--duration", "3")


def test_default_runs_record_the_timed_loop_only(default_runs: list[dict[str, Any]]) -> None:
    assert [r["variant"] for r in default_runs] == ["rayon", "window"]
    for r in default_runs:
        assert r["status"] == "ok" and r["message"] is None, r["message"]
        region = r["extra"]["region"]
        assert region["mode"] == "markers" and region["signals"] == 2
        # Loading took time before the region; the region is the timed loop.
        assert region["start_s"] > 0.05
        timed = r["extra"]["workload_report"]["seconds"]
        assert timed <= region["enabled_s"] < timed + 0.5
        stacks = _stacks(r["perf_data"])
        assert len(stacks) == r["samples"] > 500
        assert _under(stacks, *START_UP) == 0
        assert not [t for t in r["top_symbols"] if any(n in t["symbol"] for n in START_UP)]
        # The dashboard's picture and the thread groups are kept with the run.
        heat = r["extra"]["heatmap"]
        assert sum(map(sum, heat["counts"]["all"])) == r["samples"]
        # Named pools (the window pool runs as many workers as there are CPUs: the
        # rest park and have no samples, so its group may be one thread's name).
        names = {g["name"] for g in r["extra"]["thread_groups"]}
        pool = {"rayon": "rayon-worker-", "window": "win-worker-"}[r["variant"]]
        assert any(n.startswith(pool) for n in names) and "bpe-encode" in names


def test_whole_process_keeps_the_start_up(store: Path) -> None:
    (r,) = _run(store, "--threads", "8", "--duration", "3", "--variant", "rayon", "--whole-process")
    assert "region" not in r["extra"]
    stacks = _stacks(r["perf_data"])
    assert _under(stacks, "Vocab::load") > 0 and _under(stacks, "Corpus::load") > 0


def _first_sample_ns(perf_data: Path) -> int:
    head = subprocess.run(
        ["perf", "report", "--header-only", "-i", str(perf_data)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"time of first sample : ([\d.]+)", head)
    assert found is not None
    return int(Decimal(found[1]) * 1_000_000_000)


def _ns(ns: int) -> str:
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def test_a_second_of_a_stored_run_equals_the_profile_cut_to_it(
    default_runs: list[dict[str, Any]], store: Path, tmp_path: Path
) -> None:
    r = default_runs[0]
    proc = run([LSEPROF, "report", r["run_id"], "--store", store, "--time-range", "1,2", "--json"])
    assert proc.returncode == 0, proc.stderr
    ranged = json.loads(proc.stdout)
    assert ranged["time_range"]["start_s"] == 1.0 and ranged["time_range"]["end_s"] == 2.0
    # The same second cut by perf itself, as text with every field attribution reads,
    # and as deep as lseprof reads a perf.data's callchains (the callchain step's
    # answers depend on how far a stack goes).
    first = _first_sample_ns(Path(r["perf_data"]))
    window = f"{_ns(first + 10**9)},{_ns(first + 2 * 10**9)}"
    assert ranged["time_range"]["perf_time"] == window  # what perf was asked for
    cut = tmp_path / "cut.txt"
    with cut.open("w") as out:
        subprocess.run(
            [
                "perf", "script", "-i", r["perf_data"],
                "--time", window, "--max-stack", str(DEFAULT_MAX_STACK),
                "-F", "comm,pid,tid,time,event,period,ip,sym,symoff,dso",
            ],
            stdout=out,
            stderr=subprocess.DEVNULL,
            check=True,
        )  # fmt: skip
    # A perf.data names its objects by build-id (libc's inline atomics decode from it);
    # text names them by path: hand lseprof the same files.
    objects = sorted({t["dso"] for t in ranged["top_symbols"] if t["dso"].startswith("/")})
    binaries = [arg for o in objects for arg in ("--binary", o)]
    proc = run([LSEPROF, "report", cut, *binaries, "--json"])
    assert proc.returncode == 0, proc.stderr
    whole = json.loads(proc.stdout)
    assert 0.2 * r["samples"] < ranged["samples"] < 0.5 * r["samples"]
    assert {k: v for k, v in ranged.items() if k not in PROVENANCE} == {
        k: v for k, v in whole.items() if k not in PROVENANCE
    }


def test_percent_ranges_and_thread_views_of_a_stored_run(
    default_runs: list[dict[str, Any]], store: Path
) -> None:
    r = default_runs[0]
    proc = run(
        [
            LSEPROF, "report", r["run_id"], "--store", store, "--json", "--per-thread",
            "--time-range", "0%,50%", "--comm", "rayon-worker-*",
        ]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert [g["name"] for g in got["thread_groups"]] == ["rayon-worker-*"]
    assert got["thread_groups"][0]["threads"] == 8 and len(got["threads"]) == 8
    assert got["samples"] == sum(t["samples"] for t in got["threads"])
    assert 0.3 * r["samples"] < got["samples"] < 0.6 * r["samples"]


def test_scheduler_events_follow_the_region(store: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("--sched records system-wide: root here")
    (r,) = _run(store, "--threads", "8", "--duration", "2", "--variant", "rayon", "--sched")
    region, offcpu = r["extra"]["region"], r["extra"]["offcpu"]
    # The scheduler's recording was on for the region only, as the samples were.
    assert 0.8 * region["enabled_s"] < offcpu["window_s"] <= region["enabled_s"] + 0.05
    groups = {g["name"]: g for g in r["extra"]["thread_groups"]}
    assert groups["rayon-worker-*"]["off_cpu_s"] > 0


# --------------------------------------------------------------------------- markers

C_PROGRAM = r"""
#include <stdio.h>
#include <time.h>
#include "lseprof_region.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
__attribute__((noinline)) static unsigned long spin(double seconds, unsigned long x) {
    double end = now() + seconds;
    while (now() < end)
        for (int i = 0; i < 10000; i++)
            x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}
__attribute__((noinline)) unsigned long before_region(double s) { return spin(s, 1) + 1; }
__attribute__((noinline)) unsigned long in_region(double s) { return spin(s, 2) + 2; }
__attribute__((noinline)) unsigned long after_region(double s) { return spin(s, 3) + 3; }

int main(void) {
    struct lseprof_region r;
    if (lseprof_region_open(&r) != 0) { perror("lseprof region"); return 2; }
    unsigned long x = before_region(0.4);
    if (lseprof_region_enable(&r) != 0) { perror("lseprof region enable"); return 2; }
    x ^= in_region(0.6);
    if (lseprof_region_disable(&r) != 0) { perror("lseprof region disable"); return 2; }
    x ^= after_region(0.4);
    lseprof_region_close(&r);
    printf("%lu\n", x & 1);
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    where = tmp_path_factory.mktemp("cprog")
    (where / "prog.c").write_text(C_PROGRAM)
    proc = run(
        [
            "gcc", "-O2", "-fno-omit-frame-pointer", "-fno-optimize-sibling-calls", "-Wall",
            "-Wextra", "-Werror", "-std=c99", "-D_POSIX_C_SOURCE=200809L",
            f"-I{REPO / 'workloads'}", "-o", where / "prog", where / "prog.c",
        ]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return where / "prog"


@pytest.mark.parametrize(
    ("options", "phases"),
    [
        (["--region-markers"], (False, True, False)),
        ([], (True, True, True)),  # a command is recorded whole by default
        (["--delay", "0.7"], (False, True, True)),  # before_region is over by then
    ],
    ids=["markers", "whole", "delay"],
)
def test_a_c_program_marks_its_region(
    c_program: Path, store: Path, options: list[str], phases: tuple[bool, bool, bool]
) -> None:
    (r,) = _run(store, *options, "--", str(c_program))
    stacks = _stacks(r["perf_data"])
    found = tuple(_under(stacks, f"{p}_region") > 0 for p in ("before", "in", "after"))
    assert found == phases
    if options == ["--region-markers"]:
        region = r["extra"]["region"]
        assert region["signals"] == 2 and 0.55 < region["enabled_s"] < 1.5
        assert region["start_s"] >= 0.4  # before_region ran 0.4 s first


def test_a_c_program_without_its_fifos_says_so(c_program: Path, tmp_path: Path) -> None:
    env = {**os.environ, "LSEPROF_REGION_CTL": str(tmp_path / "gone"), "LSEPROF_REGION_ACK": "x"}
    proc = run([c_program], env=env)
    assert proc.returncode == 2 and "lseprof region: No such file or directory" in proc.stderr


def test_a_python_program_marks_its_region(store: Path, tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text(
        "import time\n"
        "from lseprof_region import Region\n"
        "def spin(s):\n"
        "    end = time.monotonic() + s\n"
        "    while time.monotonic() < end:\n"
        "        pass\n"
        "region = Region.from_env()\n"
        "spin(0.4)\n"
        "with region:\n"
        "    spin(0.5)\n"
        "spin(0.4)\n"
    )
    os.environ["PYTHONPATH"] = str(REPO / "workloads")
    try:
        (r,) = _run(store, "--region-markers", "--", "python3", str(program))
    finally:
        del os.environ["PYTHONPATH"]
    region = r["extra"]["region"]
    assert region["signals"] == 2 and region["start_s"] >= 0.4
    assert 0.45 < region["enabled_s"] < 1.2
    # Samples are the region's: about 0.5 s at 999 Hz, not the 1.3 s of the program.
    assert 200 < r["samples"] < 800


def test_a_command_that_never_signals_is_noted(store: Path) -> None:
    (r,) = _run(store, "--region-markers", "--", "sleep", "0.2")
    assert "never signalled its region" in r["message"]
    assert r["samples"] is None


def test_the_encoder_refuses_fifos_it_cannot_open(tmp_path: Path, data: DataFiles) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello\n")
    env = {
        **os.environ,
        "LSEPROF_REGION_CTL": str(tmp_path / "missing.ctl"),
        "LSEPROF_REGION_ACK": str(tmp_path / "missing.ack"),
    }
    for variant in ("rayon", "window"):
        binary = build_for("host", variant).path
        proc = run(
            [binary, "--threads", "2", "--corpus", corpus, "--vocab", data.vocab_dir], env=env
        )
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
        assert "cannot open the region command FIFO" in proc.stderr
        assert "missing.ctl" in proc.stderr and "panicked" not in proc.stderr
        assert not (tmp_path / "missing.ctl").exists()


def test_hf_tokenizers_records_its_encode_loop(store: Path) -> None:
    (r,) = _run(store, "--workload", "hf-tokenizers", "--threads", "2", "--duration", "1")
    (whole,) = _run(
        store,
        "--workload",
        "hf-tokenizers",
        "--threads",
        "2",
        "--duration",
        "1",
        "--whole-process",
    )
    region = r["extra"]["region"]
    assert region["signals"] == 2 and region["start_s"] > 0.2
    # Reading the vocabulary (serde_json in tokenizers' BPE::from_file) is start-up.
    assert _under(_stacks(r["perf_data"]), "serde") == 0
    assert _under(_stacks(whole["perf_data"]), "serde") > 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--whole-process", "--region-markers"], "exclude each other"),
        (["--delay", "-1"], "--delay must be 0 or more"),
        (["--delay", "1", "--whole-process"], "--delay and --whole-process exclude"),
        (["--delay", "1", "--region-markers"], "--delay and --region-markers exclude"),
    ],
)
def test_bad_region_options_are_one_line_errors(args: list[str], needle: str, store: Path) -> None:
    proc = run([LSEPROF, "run", "--store", store, "--repeat", "1", *args])
    assert_one_line_error(proc, needle)


# --------------------------------------------------------------------------- heat map

PAGE_PROBE = """JSON.stringify({
  maps: JSON.parse(document.getElementById('lseprof-heatmap').textContent).maps.length,
  box: (() => { const r = document.getElementById('heatmap').getBoundingClientRect();
                return [r.left, r.top]; })(),
  range: document.getElementById('range').value,
  hover: document.getElementById('hover').textContent,
  selection: document.getElementById('sel').getAttribute('d'),
})"""


@needs_tool("chromium", browser.CHROMIUM.exists())
def test_heat_map_page_opens_and_selects_a_range(
    default_runs: list[dict[str, Any]], store: Path, tmp_path: Path
) -> None:
    r = default_runs[0]
    page = tmp_path / "heat.html"
    proc = run([LSEPROF, "report", r["run_id"], "--store", store, "--heatmap", page])
    assert proc.returncode == 0, proc.stderr
    assert f"heat map: {page}" in proc.stderr
    payload = json.loads(
        re.search(r'id="lseprof-heatmap">(.*?)</script>', page.read_text())[1]  # type: ignore[index]
    )
    main = payload["maps"][0]
    assert main["name"] == "all" and main["cols"] >= 3 and main["rows"] == 50
    driver = browser.DevTools(tmp_path / "profile")
    try:
        driver.open_page()
        found = driver.load_url(page.as_uri(), PAGE_PROBE)
        left, top = found["box"]

        def point(col: int, row: int) -> dict[str, float]:
            return {
                "x": left + main["x"] + (col + 0.5) * main["cw"],
                "y": top + main["y"] + (row + 0.5) * main["ch"],
            }

        # Drag from second 0, slice 25 (0.5 s) to second 1, slice 24 (1.48 s).
        driver.call("Input.dispatchMouseEvent", type="mouseMoved", **point(0, 25))
        driver.call(
            "Input.dispatchMouseEvent", type="mousePressed", button="left", clickCount=1,
            **point(0, 25),
        )  # fmt: skip
        driver.call("Input.dispatchMouseEvent", type="mouseMoved", button="left", **point(1, 24))
        driver.call(
            "Input.dispatchMouseEvent", type="mouseReleased", button="left", clickCount=1,
            **point(1, 24),
        )  # fmt: skip
        reply = driver.call("Runtime.evaluate", expression=PAGE_PROBE, returnByValue=True)
        after = json.loads(reply["result"]["value"])
        problems = driver.problems()
    finally:
        driver.close()
    assert problems == []
    assert found["maps"] == len(payload["maps"]) >= 2
    assert found["range"] == "(drag over a heat map)"
    # The selection is shown, and the page gives the range to pass.
    assert after["selection"].startswith("M")
    assert after["range"] == f"lseprof report {r['perf_data']} --time-range 0.5,1.5"
    assert after["hover"].startswith("all: 1.48 s from the first sample")
