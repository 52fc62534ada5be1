"""`lseprof run` end to end: real CLI, real perf, real binaries, real qemu."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from lseprof.results import CallerShare, HelperShare
from lseprof.store import open_store
from lseprof.workloads.data import DataFiles
from tests.helpers import LSEPROF, run

RUN_KEYS = {
    "run_id",
    "group_id",
    "workload",
    "variant",
    "target",
    "emulated",
    "threads",
    "repeat",
    "throughput_mib_s",
    "samples",
    "lost_samples",
    "event",
    "atomic_helper_share",
    "categories",
    "helpers",
    "helper_callers",
    "perf_data",
}


@pytest.fixture()
def small_corpus(tmp_path: Path, data: DataFiles) -> Path:
    corpus = tmp_path / "small.txt"
    raw = data.corpus.read_bytes()
    corpus.write_bytes(raw[: raw.index(b"\n", 200_000) + 1])
    return corpus


def lseprof_run(tmp_path: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    store = tmp_path / "store" / "runs.sqlite"
    return run([LSEPROF, "run", "--store", store, *args])


def runs_json(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert proc.stdout.strip(), proc.stderr
    runs: list[dict[str, Any]] = json.loads(proc.stdout)
    return runs


def assert_shares_sum_to_100(entry: dict[str, Any]) -> None:
    assert sum(entry["categories"].values()) == pytest.approx(100.0, abs=0.01)


def test_host_both_variants(tmp_path: Path, small_corpus: Path) -> None:
    proc = lseprof_run(
        tmp_path,
        "--threads",
        "2,8",
        "--repeat",
        "2",
        "--duration",
        "0.5",
        "--corpus",
        str(small_corpus),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    runs = runs_json(proc)
    assert len(runs) == 8
    assert {(r["variant"], r["threads"]) for r in runs} == {
        (v, t) for v in ("rayon", "window") for t in (2, 8)
    }
    # Interleaved: the first two runs are one of each variant.
    assert {runs[0]["variant"], runs[1]["variant"]} == {"rayon", "window"}
    for entry in runs:
        assert set(entry) >= RUN_KEYS
        assert entry["status"] == "ok" and entry["emulated"] is False
        assert entry["throughput_mib_s"] > 0 and entry["samples"] > 0
        assert entry["event"] in ("cycles", "cpu-clock")
        assert_shares_sum_to_100(entry)
        run_dir = Path(entry["perf_data"]).parent
        for name in ("perf.data", "run.json", "workload.stdout"):
            assert (run_dir / name).is_file(), name
        facts = json.loads((run_dir / "run.json").read_text())
        assert facts["host"]["perf_version"] and facts["build"]["build_id"]
    groups = {r["group_id"] for r in runs}
    assert len(groups) == 4
    with sqlite3.connect(tmp_path / "store" / "runs.sqlite") as db:
        assert db.execute("select count(*) from runs").fetchone()[0] == 8
    listed = run([LSEPROF, "runs", "--store", tmp_path / "store" / "runs.sqlite", "--json"])
    assert {r["run_id"] for r in json.loads(listed.stdout)} == {r["run_id"] for r in runs}
    # Read back as typed records: the same figures as printed, and every key the run
    # wrote is one the records read (a key renamed on one side lands in `other`).
    with open_store(tmp_path / "store" / "runs.sqlite") as store:
        for entry in runs:
            record = store.get(entry["run_id"])
            # (x86 host builds have no outline helpers: see the emulated test for those)
            assert record.extra.top_symbols and all(s.other == {} for s in record.extra.top_symbols)
            assert record.extra.other == {}, "run wrote keys RunExtra does not read"
            assert record.extra.freq and record.extra.record_seconds
            assert record.extra.workload_report == json.loads(
                (Path(entry["run_dir"]) / "workload.stdout").read_text().splitlines()[-1]
            )


def test_table_output_names_the_event_and_ratio(tmp_path: Path, small_corpus: Path) -> None:
    proc = lseprof_run(
        tmp_path,
        "--threads",
        "4",
        "--repeat",
        "1",
        "--duration",
        "0.3",
        "--corpus",
        str(small_corpus),
    )
    assert proc.returncode == 0, proc.stderr
    assert "event cpu-clock" in proc.stdout or "event cycles" in proc.stdout
    assert "window/rayon throughput" in proc.stdout


def test_overhead_pairs_each_run_with_one_without_perf(tmp_path: Path, small_corpus: Path) -> None:
    common = (
        "--variant",
        "window",
        "--threads",
        "2",
        "--repeat",
        "2",
        "--duration",
        "0.3",
        "--corpus",
        str(small_corpus),
        "--overhead",
    )
    proc = lseprof_run(tmp_path, *common, "--json")
    assert proc.returncode == 0, proc.stderr
    runs = runs_json(proc)
    assert len(runs) == 2
    for entry in runs:
        bare = entry["extra"]["no_perf"]
        assert bare["status"] == "ok" and bare["throughput_mib_s"] > 0
        # The bare run has its own directory and no perf.data.
        assert (Path(bare["run_dir"]) / "workload.stdout").is_file()
        assert not (Path(bare["run_dir"]) / "perf.data").exists()
        assert Path(bare["run_dir"]).is_relative_to(tmp_path / "store")
    # The table reports the ratio of the medians, over both pairs.
    proc = lseprof_run(tmp_path, *common)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("perf overhead"))
    assert "window t=2" in line and "over 2 pairs" in line, line
    ratio = float(line.split("without = ")[1].split()[0])
    assert 0.2 < ratio < 5, line


def test_no_overhead_line_without_the_option(tmp_path: Path, small_corpus: Path) -> None:
    proc = lseprof_run(
        tmp_path,
        "--variant",
        "window",
        "--threads",
        "2",
        "--repeat",
        "1",
        "--duration",
        "0.3",
        "--corpus",
        str(small_corpus),
    )
    assert proc.returncode == 0, proc.stderr
    assert "perf overhead" not in proc.stdout
    assert list((tmp_path / "store").rglob("perf.data"))
    assert not list((tmp_path / "store").rglob("no-perf"))


@pytest.mark.qemu
@pytest.mark.parametrize(
    ("cpu", "path_key"), [("cortex-a53", "llsc_path_share"), ("neoverse-n1", "lse_path_share")]
)
def test_emulated_aarch64_names_helpers(
    cpu: str, path_key: str, tmp_path: Path, small_corpus: Path
) -> None:
    proc = lseprof_run(
        tmp_path,
        "--target",
        "aarch64",
        "--cpu",
        cpu,
        "--variant",
        "rayon",
        "--threads",
        "8",
        "--repeat",
        "1",
        "--duration",
        "2",
        "--corpus",
        str(small_corpus),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    (entry,) = runs_json(proc)
    assert entry["emulated"] is True and entry["target"] == "aarch64"
    assert_shares_sum_to_100(entry)
    assert entry["atomic_helper_share"] > 0, entry["categories"]
    names = {h["symbol"] for h in entry["helpers"]}
    assert all(n.startswith("__aarch64_") for n in names)
    assert all(h["op"] and h["size"] and h["order"] for h in entry["helpers"])
    assert sum(h[path_key] or 0 for h in entry["helpers"]) > 0
    assert Path(entry["perf_data"]).with_name("run.json").is_file()
    with open_store(tmp_path / "store" / "runs.sqlite") as store:
        record = store.get(entry["run_id"])
    assert record.helpers and all(isinstance(h, HelperShare) for h in record.helpers)
    assert [h.to_dict() for h in record.helpers] == entry["helpers"]
    # every key the analysis wrote is read (a field renamed on one side lands in `other`)
    assert all(h.other == {} and h.dso for h in record.helpers), record.helpers
    assert record.helper_callers and all(
        isinstance(c, CallerShare) and c.other == {} for c in record.helper_callers
    )
    assert record.extra.emulator_share is not None and record.extra.perf_map
    assert record.extra.other == {}
    assert list(Path(entry["perf_data"]).parent.glob("perf-*.map"))
    # Guest names come from the ELF's symbol table, mangled: shown demangled, raw kept.
    tops = entry["extra"]["top_symbols"]
    assert any(
        t["symbol"].startswith("bpe_encode::") and t["symbol_raw"].startswith("_ZN") for t in tops
    ), tops


def test_command_mode_with_throughput_regex(tmp_path: Path) -> None:
    proc = lseprof_run(
        tmp_path,
        "--repeat",
        "2",
        "--threads",
        "1",
        "--throughput-regex",
        r"rate=([0-9.]+)",
        "--json",
        "--",
        "sh",
        "-c",
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo rate=12.5",
    )
    assert proc.returncode == 0, proc.stderr
    runs = runs_json(proc)
    assert [r["throughput_mib_s"] for r in runs] == [12.5, 12.5]
    assert all(r["workload"] == "command" for r in runs)


def test_command_threads_are_unknown_unless_given(tmp_path: Path) -> None:
    """lseprof does not set a command's threads: its runs say so, not the default 88; with
    --threads each count replaces {threads} and is exported to the runtimes."""
    proc = lseprof_run(tmp_path, "--no-perf", "--repeat", "1", "--json", "--", "sh", "-c", "true")
    assert proc.returncode == 0, proc.stderr
    (entry,) = runs_json(proc)
    assert entry["threads"] is None and "-t" not in entry["group_id"].split("command")[-1]
    table = lseprof_run(tmp_path, "--no-perf", "--repeat", "1", "--", "sh", "-c", "true")
    row = next(line for line in table.stdout.splitlines() if " command " in line)
    assert row.split("│")[2].strip() == "-", row  # the threads column
    swept = lseprof_run(
        tmp_path,
        "--no-perf",
        "--repeat",
        "1",
        "--threads",
        "2,3",
        "--json",
        "--",
        "sh",
        "-c",
        "echo arg={threads} env=$OMP_NUM_THREADS/$RAYON_NUM_THREADS/$LSEPROF_THREADS",
    )
    assert swept.returncode == 0, swept.stderr
    runs = runs_json(swept)
    assert [r["threads"] for r in runs] == [2, 3]
    for r in runs:
        printed = (Path(r["run_dir"]) / "workload.stdout").read_text().strip()
        n = r["threads"]
        assert printed == f"arg={n} env={n}/{n}/{n}", printed


def test_crashing_command_is_kept_and_marked(tmp_path: Path) -> None:
    proc = lseprof_run(
        tmp_path, "--repeat", "2", "--json", "--", "sh", "-c", "echo partial; kill -SEGV $$"
    )
    assert proc.returncode == 1
    runs = runs_json(proc)
    assert len(runs) == 2  # the second run still happened
    assert all(r["status"] == "failed" and "signal" in r["message"] for r in runs)
    assert "did not complete" in proc.stderr and "Traceback" not in proc.stderr


def test_hang_past_timeout_is_stopped_and_kept(tmp_path: Path) -> None:
    start = time.monotonic()
    proc = lseprof_run(
        tmp_path,
        "--repeat",
        "1",
        "--timeout",
        "1",
        "--json",
        "--",
        "sh",
        "-c",
        "while :; do :; done",
    )
    assert time.monotonic() - start < 60
    assert proc.returncode == 1
    (entry,) = runs_json(proc)
    assert entry["status"] == "timeout"
    assert Path(entry["perf_data"]).is_file() and entry["samples"] > 0


def test_ctrl_c_stores_the_interrupted_run(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    proc = subprocess.Popen(
        [
            str(LSEPROF),
            "run",
            "--store",
            str(store),
            "--repeat",
            "3",
            "--",
            "sh",
            "-c",
            "while :; do :; done",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    # The run's line says what stopped it, once.
    status = [line for line in stdout.splitlines() if ": interrupted" in line]
    assert len(status) == 1 and "(stopped by Ctrl-C; kept what perf had captured)" in status[0]
    assert "interrupted interrupted" not in stdout
    with sqlite3.connect(store) as db:
        rows = db.execute("select status, perf_data from runs").fetchall()
    assert len(rows) == 1 and rows[0][0] == "interrupted"
    assert Path(rows[0][1]).is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--threads", "0"], "--threads"),
        (["--threads", "two"], "--threads"),
        (["--workload", "nope"], "unknown workload"),
        (["--variant", "openmp"], "unknown variant"),
        (["--target", "riscv"], "unknown target"),
        (["--call-graph", "lbr"], "--call-graph"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], needle: str, tmp_path: Path) -> None:
    proc = lseprof_run(tmp_path, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_missing_build_that_cannot_be_built(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LSEPROF_NATIVE_BIN_DIR": str(tmp_path / "empty"),
        "LSEPROF_CARGO": "/nonexistent/cargo",
    }
    proc = run([LSEPROF, "run", "--store", tmp_path / "s.sqlite", "--threads", "2"], env=env)
    assert proc.returncode == 2
    assert "cargo not found" in proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_store(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    proc = run([LSEPROF, "run", "--store", blocker / "runs.sqlite", "--threads", "2"])
    assert proc.returncode == 2
    assert "run store" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root")
def test_disk_full_while_writing_perf_data(tmp_path: Path) -> None:
    runs_dir = tmp_path / "tiny"
    runs_dir.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(runs_dir)],
        check=False,
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        store = tmp_path / "runs.sqlite"
        proc = run(
            [
                LSEPROF,
                "run",
                "--store",
                store,
                "--runs-dir",
                runs_dir,
                "--repeat",
                "1",
                "--freq",
                "4000",
                "--json",
                "--",
                "sh",
                "-c",
                "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done",
            ]
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        (entry,) = json.loads(proc.stdout)
        assert entry["status"] == "failed" and "disk full" in entry["message"]
        with sqlite3.connect(store) as db:
            assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
            assert db.execute("select status from runs").fetchall() == [("failed",)]
    finally:
        subprocess.run(["umount", str(runs_dir)], check=False)
