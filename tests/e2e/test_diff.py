"""`lseprof diff` end to end: real runs recorded once with the real CLI, then diffed
through real subprocesses (throughput, shares, regressions, folded stacks, flame graph,
bad inputs)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import pytest

from lseprof.results import CATEGORIES
from lseprof.workloads.data import DataFiles
from tests.diff_checks import check_html, parse_folded
from tests.helpers import FIX, LSEPROF, run

CONTEND_AARCH64 = FIX / "bin" / "contend-aarch64"
JSON_KEYS = {
    "a",
    "b",
    "kind",
    "throughput",
    "categories",
    "atomic_helper_share",
    "helpers",
    "callers",
    "regression",
}
THROUGHPUT_KEYS = {
    "median_a",
    "median_b",
    "delta_pct",
    "ci_low",
    "ci_high",
    "p_value",
    "verdict",
    "reps_a",
    "reps_b",
}


@dataclass(frozen=True)
class Recorded:
    """Groups recorded once per session in one store (group ids, and their runs)."""

    store: Path
    runs: dict[str, list[dict[str, Any]]]  # group id -> its runs (lseprof run --json)
    rayon8: str
    window8: str
    window1: str  # window at 1 thread: reliably faster here than rayon at 88 threads
    rayon88: str
    a64_rayon: str  # emulated, 2 repetitions: too few for the test
    lse_window: str
    contend: str  # workload "command": qemu running the contend fixture (hot helpers)


def _record(store: Path, *args: str) -> list[dict[str, Any]]:
    proc = run([LSEPROF, "run", "--store", store, "--json", *args])
    assert proc.returncode == 0, proc.stderr
    runs: list[dict[str, Any]] = json.loads(proc.stdout)
    assert runs and all(r["status"] == "ok" for r in runs), runs
    return runs


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory, data: DataFiles) -> Recorded:
    root = tmp_path_factory.mktemp("diff")
    store = root / "runs.sqlite"
    corpus = root / "small.txt"
    raw = data.corpus.read_bytes()
    corpus.write_bytes(raw[: raw.index(b"\n", 200_000) + 1])
    common = ("--repeat", "5", "--duration", "0.4", "--corpus", str(corpus))
    runs = _record(store, "--threads", "8", *common)
    runs += _record(store, "--variant", "window", "--threads", "1", *common)
    runs += _record(store, "--variant", "rayon", "--threads", "88", *common)
    emulated = ("--threads", "8", "--repeat", "2", "--duration", "0.4", "--corpus", str(corpus))
    runs += _record(store, "--target", "aarch64", "--variant", "rayon", *emulated)
    runs += _record(store, "--target", "aarch64-lse", "--variant", "window", *emulated)
    runs += _record(
        store, "--repeat", "2", "--", "qemu-aarch64", "-perfmap", str(CONTEND_AARCH64), "4", "300"
    )
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in runs:
        groups.setdefault(entry["group_id"], []).append(entry)

    def find(suffix: str) -> str:
        (gid,) = [g for g in groups if g.endswith(suffix)]
        return gid

    return Recorded(
        store,
        groups,
        find("-rayon-t8-host"),
        find("-window-t8-host"),
        find("-window-t1-host"),
        find("-rayon-t88-host"),
        find("-rayon-t8-aarch64"),
        find("-window-t8-aarch64-lse"),
        find("-command-host"),
    )


def diff(rec: Recorded, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return run([LSEPROF, "diff", "--store", rec.store, *args])


def diff_json(rec: Recorded, *args: str | os.PathLike[str], rc: int = 0) -> dict[str, Any]:
    proc = diff(rec, *args, "--json")
    assert proc.returncode == rc, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lseprof: error:"), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# --------------------------------------------------------------------------- run groups


def test_rayon_vs_window_groups(recorded: Recorded) -> None:
    result = diff_json(recorded, recorded.rayon8, recorded.window8)
    assert set(result) >= JSON_KEYS
    assert result["kind"] == "runs" and result["event"] in ("cycles", "cpu-clock")
    assert recorded.rayon8 in result["a"] and recorded.window8 in result["b"]
    t = result["throughput"]
    assert set(t) >= THROUGHPUT_KEYS and t["reps_a"] == t["reps_b"] == 5
    assert t["verdict"] in ("faster", "slower", "unchanged") and 0 < t["p_value"] <= 1
    runs_a, runs_b = recorded.runs[recorded.rayon8], recorded.runs[recorded.window8]
    medians = [sorted(r["throughput_mib_s"] for r in runs)[2] for runs in (runs_a, runs_b)]
    assert (t["median_a"], t["median_b"]) == pytest.approx(medians, rel=1e-5)
    assert t["ci_low"] <= t["delta_pct"] <= t["ci_high"]
    cats = {c["name"]: c for c in result["categories"]}
    assert list(cats) == list(CATEGORIES)
    assert sum(c["a"] for c in cats.values()) == pytest.approx(100.0, abs=1e-3)
    assert sum(c["b"] for c in cats.values()) == pytest.approx(100.0, abs=1e-3)
    assert sum(c["delta_pp"] for c in cats.values()) == pytest.approx(0.0, abs=1e-3)
    # Shares are the mean of the stored per-run shares over the ok runs.
    for name in CATEGORIES:
        assert cats[name]["a"] == pytest.approx(
            mean([r["categories"][name] for r in runs_a]), abs=1e-5
        )
        assert cats[name]["delta_pp"] == pytest.approx(cats[name]["b"] - cats[name]["a"], abs=1e-5)
    assert result["regression"] == {"checked": False, "failed": False, "reasons": [], "notes": []}
    # Why: the parts add up to the change in thread time per MiB, which is the throughput's.
    d = result["decomposition"]
    # (each part is rounded to 6 decimals in the JSON: 8 parts, at most 4e-6 apart)
    assert sum(d["points"].values()) == pytest.approx(d["tau_change_pts"], abs=1e-5)
    tau = [median([8 / r["throughput_mib_s"] for r in rs]) for rs in (runs_a, runs_b)]
    assert d["tau_change_pts"] == pytest.approx(100 * (tau[1] - tau[0]) / tau[0], rel=1e-6)
    assert 0 < d["a"]["on_cpu"] <= 1 and d["points"]["offcpu_wait"] == 0.0  # no --sched here


def test_terminal_report(recorded: Recorded) -> None:
    proc = diff(recorded, recorded.rayon8, recorded.window8)
    assert proc.returncode == 0, proc.stderr
    for text in (
        "Throughput (MiB/s)",
        "Samples by category",
        "atomic_helper",
        "median A",
        recorded.rayon8,
        recorded.window8,
        "why (thread time per MiB",
        "helpers ",
    ):
        assert text in proc.stdout, text


def test_helper_table_of_emulated_groups(recorded: Recorded) -> None:
    result = diff_json(recorded, recorded.a64_rayon, recorded.lse_window)
    runs_a, runs_b = recorded.runs[recorded.a64_rayon], recorded.runs[recorded.lse_window]
    in_a = {h["symbol"] for r in runs_a for h in r["helpers"]}
    in_b = {h["symbol"] for r in runs_b for h in r["helpers"]}
    helpers = {h["symbol"]: h for h in result["helpers"]}
    assert set(helpers) == in_a | in_b
    for symbol, h in helpers.items():
        expected = (
            "vanished" if symbol not in in_b else "appeared" if symbol not in in_a else "changed"
        )
        assert h["status"] == expected
        assert h["op"] and h["size"] and h["order"] and symbol.startswith("__aarch64_")
        share_a = mean(
            [sum(x["share"] for x in r["helpers"] if x["symbol"] == symbol) for r in runs_a]
        )
        assert h["a"] == pytest.approx(share_a, abs=1e-5)
        assert h["delta_pp"] == pytest.approx(h["b"] - h["a"], abs=1e-5)
    deltas = [abs(h["delta_pp"]) for h in result["helpers"]]
    assert deltas == sorted(deltas, reverse=True)
    share = result["atomic_helper_share"]
    assert share["a"] == pytest.approx(mean([r["atomic_helper_share"] for r in runs_a]), abs=1e-5)
    for caller in result["callers"]:
        assert caller["helper"] in helpers and caller["status"] in (
            "appeared",
            "vanished",
            "changed",
        )


def test_fewer_than_five_repetitions_is_unresolved(recorded: Recorded) -> None:
    result = diff_json(
        recorded, recorded.a64_rayon, recorded.lse_window, "--fail-on-regression", "0"
    )
    t = result["throughput"]
    assert t["verdict"] == "unresolved" and t["p_value"] is None
    assert (t["reps_a"], t["reps_b"]) == (2, 2)
    assert any("cannot be resolved" in n for n in result["notes"])
    assert not result["regression"]["failed"]
    proc = diff(recorded, recorded.a64_rayon, recorded.lse_window)
    assert proc.returncode == 0 and "cannot be resolved" in proc.stdout


def test_fail_on_regression_slower_b(recorded: Recorded) -> None:
    # Real runs: window on 1 thread is A, rayon on 88 threads (oversubscribed 44x on 2
    # cores) is B; every rayon-88 repetition was far below every window-1 one here.
    result = diff_json(
        recorded, recorded.window1, recorded.rayon88, "--fail-on-regression", "10", rc=1
    )
    t = result["throughput"]
    assert t["verdict"] == "slower" and t["p_value"] < 0.05 and t["delta_pct"] < -10
    assert result["regression"]["failed"] and "throughput" in result["regression"]["reasons"][0]
    assert any("threads" in w for w in result["warnings"])  # 1 vs 88: allowed, warned
    # The same diff without the flag is a successful diff.
    assert diff(recorded, recorded.window1, recorded.rayon88).returncode == 0


def test_fail_on_regression_faster_b(recorded: Recorded) -> None:
    result = diff_json(recorded, recorded.rayon88, recorded.window1, "--fail-on-regression", "10")
    assert result["throughput"]["verdict"] == "faster"
    assert result["regression"]["checked"] and not result["regression"]["failed"]


def test_run_id_and_run_directory_stand_for_the_group(recorded: Recorded) -> None:
    first = recorded.runs[recorded.rayon8][0]
    by_run = diff_json(recorded, first["run_id"], recorded.window8)
    assert by_run["throughput"]["reps_a"] == 5 and recorded.rayon8 in by_run["a"]
    run_dir = Path(first["perf_data"]).parent
    by_dir = diff_json(recorded, run_dir, recorded.window8)
    assert by_dir["throughput"] == by_run["throughput"]
    # Without the store, a run directory is that one run.
    proc = run(
        [
            LSEPROF,
            "diff",
            "--store",
            recorded.store.parent / "absent.sqlite",
            run_dir,
            Path(recorded.runs[recorded.window8][0]["perf_data"]).parent,
            "--json",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    alone = json.loads(proc.stdout)
    assert alone["throughput"]["reps_a"] == 1 and alone["throughput"]["verdict"] == "unresolved"
    assert alone["categories"][0]["a"] == pytest.approx(first["categories"]["atomic_helper"])


def test_markdown(recorded: Recorded) -> None:
    proc = diff(
        recorded, recorded.window1, recorded.rayon88, "--markdown", "--fail-on-regression", "10"
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("**lseprof diff**") and "slower" in lines[0]
    assert "regression check FAILED" in lines[0]
    assert "| category | A | B | Δ |" in lines
    assert any(line.startswith("| median A (MiB/s) |") for line in lines)
    assert any(line.startswith("**regression:**") for line in lines)
    assert "warning" in proc.stderr  # the threads warning, also on stderr


# --------------------------------------------------------------------------- profiles


def test_two_perf_data_files(recorded: Recorded) -> None:
    a = recorded.runs[recorded.rayon8][0]
    b = recorded.runs[recorded.window8][0]
    result = diff_json(recorded, a["perf_data"], b["perf_data"])
    assert result["kind"] == "samples" and result["throughput"] is None
    assert result["samples"] == {"a": a["samples"], "b": b["samples"]}
    cats = {c["name"]: c for c in result["categories"]}
    # The same attribution as the run itself stored.
    for name in CATEGORIES:
        assert cats[name]["a"] == pytest.approx(a["categories"][name], abs=1e-4)
        assert cats[name]["b"] == pytest.approx(b["categories"][name], abs=1e-4)
    assert sum(c["delta_pp"] for c in cats.values()) == pytest.approx(0.0, abs=1e-3)


def test_helper_threshold_on_profiles() -> None:
    # Committed perf script captures: contend under qemu on an N1 (LSE) and an A53 (no LSE).
    fixtures = FIX / "perf"
    n1 = fixtures / "aarch64-qemu-n1" / "script.txt"
    a53 = fixtures / "aarch64-qemu-a53" / "script.txt"
    args: list[str | os.PathLike[str]] = [
        LSEPROF,
        "diff",
        n1,
        a53,
        "--binary",
        CONTEND_AARCH64,
        "--json",
        "--fail-on-regression",
        "5",
    ]
    default = run(args)
    assert default.returncode == 0, default.stderr
    grew = json.loads(default.stdout)["atomic_helper_share"]["delta_pp"]
    assert 0 < grew < 1.0
    strict = run([*args, "--helper-threshold", f"{grew / 2:.4f}"])
    assert strict.returncode == 1, strict.stderr
    reasons = json.loads(strict.stdout)["regression"]["reasons"]
    assert len(reasons) == 1 and "atomic-helper share" in reasons[0]


# --------------------------------------------------------------------------- folded stacks


def test_folded_export(recorded: Recorded, tmp_path: Path) -> None:
    out = tmp_path / "diff.folded"
    proc = diff(recorded, recorded.rayon8, recorded.window8, "--folded", out)
    assert proc.returncode == 0, proc.stderr
    rows = parse_folded(out)
    samples_a = sum(r["samples"] for r in recorded.runs[recorded.rayon8])
    samples_b = sum(r["samples"] for r in recorded.runs[recorded.window8])
    # B as recorded; A scaled to B's total; both columns add up to B's samples.
    assert sum(b for _, _, b in rows) == samples_b
    assert sum(a for _, a, _ in rows) == samples_b
    header = out.read_text().splitlines()[:5]
    assert any(f"{samples_a} samples as recorded" in line for line in header)
    assert any("scaled to B's total" in line for line in header)
    assert any(a > 0 and b == 0 for _, a, b in rows) and any(a == 0 and b > 0 for _, a, b in rows)
    assert len({tuple(s) for s, _, _ in rows}) == len(rows)  # one line per stack
    roots = {s[0] for s, _, _ in rows}
    assert "bpe-encode" in roots
    # Whole callchains: deeper than the 8 frames the runs' own analysis reads.
    assert max(len(s) for s, _, _ in rows) > 12
    assert any(frame == "main" for s, _, _ in rows for frame in s)


def test_folded_names_emulated_guest_frames(recorded: Recorded, tmp_path: Path) -> None:
    out = tmp_path / "emulated.folded"
    proc = diff(recorded, recorded.a64_rayon, recorded.lse_window, "--folded", out)
    assert proc.returncode == 0, proc.stderr
    frames = {f for s, _, _ in parse_folded(out) for f in s}
    # Guest code named from the aarch64 ELF through each run's perf map, demangled.
    assert any(f.startswith("bpe_encode::") for f in frames), sorted(frames)[:50]
    unnamed = sorted(f for f in frames if f.startswith(("guest-0x", "_ZN")))
    assert not unnamed, unnamed[:20]


# --------------------------------------------------------------------------- flame graph


def test_flamegraph_escapes_rust_names(recorded: Recorded, tmp_path: Path) -> None:
    out = tmp_path / "host.html"
    proc = diff(recorded, recorded.rayon8, recorded.window8, "--flamegraph", out)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    check_html(page)
    # Rust names such as <std::sys::thread::unix::Thread>::new::thread_start.
    assert "&lt;std::" in page and "<std::" not in page
    assert len(re.findall(r'<g class="f[ "]', page)) > 20  # frames drawn, not just the frame


def test_flamegraph_highlights_helpers(recorded: Recorded, tmp_path: Path) -> None:
    r0, r1 = recorded.runs[recorded.contend]
    out = tmp_path / "contend.html"
    folded = tmp_path / "contend.folded"
    proc = diff(
        recorded,
        r0["perf_data"],
        r1["perf_data"],
        "--binary",
        CONTEND_AARCH64,
        "--flamegraph",
        out,
        "--folded",
        folded,
    )
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    check_html(page)
    helper_frames = re.findall(r'<g class="f h"><title>(__aarch64_[a-z0-9_]+)\n', page)
    assert helper_frames, "no highlighted helper frame"
    assert "atomic helper (__aarch64_*" in page  # the legend
    rows = parse_folded(folded)
    assert {f for s, _, _ in rows for f in s if f.startswith("__aarch64_")} >= set(helper_frames)


def test_flamegraph_size_budget(recorded: Recorded, tmp_path: Path) -> None:
    from lseprof.analysis.stacks import FoldedDiff
    from lseprof.reports.diff import flamegraph_html

    stacks = [(f"root;mid{i % 50};leaf{i}", 1 + i % 3, 1 + i % 3, 1 + i % 5) for i in range(3000)]
    folded = FoldedDiff(
        stacks, sum(s[1] for s in stacks), sum(s[3] for s in stacks), {"leaf7"}, "cpu-clock"
    )
    page = flamegraph_html(folded, "A <x>", "B & y", max_frames=400)
    check_html(page)
    assert page.count("<rect") <= 400
    assert "narrow frames merged" in page and "were merged into grey frames" in page
    assert "A &lt;x&gt;" in page and "B &amp; y" in page
    assert '<g class="f h"><title>leaf7\n' in page  # a helper frame is never merged away


# --------------------------------------------------------------------------- bad input


def test_static_needs_two_binaries_and_stacks_need_samples(
    recorded: Recorded, tmp_path: Path
) -> None:
    assert_one_line_error(
        diff(recorded, CONTEND_AARCH64, recorded.rayon8), "cannot compare a binary"
    )
    assert_one_line_error(
        diff(recorded, CONTEND_AARCH64, CONTEND_AARCH64, "--folded", tmp_path / "x.folded"),
        "need profiles",
    )
    # perf script text has whole stacks too: it folds like a perf.data.
    text = FIX / "perf" / "aarch64-qemu-n1" / "script.txt"
    done = diff(recorded, text, text, "--folded", tmp_path / "y.folded")
    assert done.returncode == 0, done.stderr
    rows = [ln for ln in (tmp_path / "y.folded").read_text().splitlines() if ln[:1] != "#"]
    assert rows and all(ln.rsplit(" ", 2)[1] == ln.rsplit(" ", 2)[2] for ln in rows)


def test_unknown_run_id(recorded: Recorded) -> None:
    assert_one_line_error(
        diff(recorded, "20990101T000000-abcdef-rayon", recorded.window8), "no run or group"
    )


def test_mismatched_workloads(recorded: Recorded) -> None:
    assert_one_line_error(
        diff(recorded, recorded.contend, recorded.window8), "workload 'command'", "'bpe-encode'"
    )


def test_missing_file(recorded: Recorded, tmp_path: Path) -> None:
    assert_one_line_error(
        diff(recorded, tmp_path / "nope" / "perf.data", recorded.window8), "no such file"
    )


def test_corrupt_store(recorded: Recorded, tmp_path: Path) -> None:
    damaged = tmp_path / "runs.sqlite"
    data = recorded.store.read_bytes()
    damaged.write_bytes(data[:100] + b"\xff" * (len(data) - 100))
    proc = run([LSEPROF, "diff", "--store", damaged, recorded.rayon8, recorded.window8])
    assert_one_line_error(proc, str(damaged))
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all")
    assert_one_line_error(
        run([LSEPROF, "diff", "--store", garbage, recorded.rayon8, recorded.window8]),
        "not an lseprof run store",
    )


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        (("--alpha", "1.5"), "--alpha"),
        (("--top", "0"), "--top must be 1 or more, not 0"),
        (("--fail-on-regression", "-2.5"), "--fail-on-regression must be 0 or more, not -2.5"),
        (("--helper-threshold", "-1"), "--helper-threshold must be 0 or more"),
        (("--json", "--markdown"), "exclude each other"),
    ],
)
def test_bad_options(recorded: Recorded, option: tuple[str, ...], needle: str) -> None:
    assert_one_line_error(diff(recorded, recorded.rayon8, recorded.window8, *option), needle)
