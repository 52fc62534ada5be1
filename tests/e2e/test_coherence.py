"""Cache lines between cores: `lseprof vm run --coherence` end to end, with the real
plugin in the real qemu-system-aarch64 booting the real image, running the programs
of native/coherence (false sharing, one atomic counter against one per thread) and
the scheduler tests' mutex hand-off, then `lseprof report --json` and `lseprof diff`.

Each module fixture boots the machine once (~7-15 s here); the programs are sized to
run a second or two under the plugin's default interleaving (rr, one virtual CPU at a
time, 100 instructions each: nearly the same counts on every run of these programs).
The whole file boots five times (tests/e2e/test_vm.py checks that a run without
--coherence loads no plugin; tests/e2e/test_vm_target.py runs `lseprof run --target
aarch64-vm --coherence`). Missing qemu, image or build: skipped here, failed under
CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lseprof.capture.build import host_is_aarch64
from lseprof.emulation.vm import coherence_dir, guest_program, image_dir, image_problems
from tests.helpers import REPO, assert_one_line_error, lseprof, needs_tool, run

BUILT = (coherence_dir() / "libcoherence.so").is_file() and (
    coherence_dir() / "aarch64" / "fs"
).is_file()
pytestmark = [
    pytest.mark.skipif(host_is_aarch64(), reason="an aarch64 host needs no emulated machine"),
    needs_tool(
        "the aarch64 machine with the coherence plugin (qemu-system-aarch64, its image, "
        "make coherence)",
        BUILT
        and not image_problems(image_dir())
        and os.path.exists("/usr/bin/qemu-system-aarch64"),
        "make test makes them: sudo bash scripts/install-system.sh && make setup",
    ),
]
FS = guest_program("fs")
ITERS = "200000"  # increments per thread


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    out: Path
    view: dict[str, Any]  # lseprof report --json's "coherence"


def _coherence_run(out: Path, *argv: str, options: tuple[str, ...] = ()) -> Run:
    proc = lseprof("vm", "run", "--out", out, "--coherence", *options, "--", *argv, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = lseprof("report", out, "--json")
    assert report.returncode == 0, report.stderr
    return Run(proc, out, json.loads(report.stdout)["coherence"])


def _lines(view: dict[str, Any], word: str) -> list[dict[str, Any]]:
    return [line for line in view["lines"] if word in (line["symbol"] or "")]


def _transfers_by_function(line: dict[str, Any]) -> Counter[str]:
    found: Counter[str] = Counter()
    for insn in line["instructions"]:
        found[(insn["symbol"] or "?").split("+")[0]] += insn["transfers"]
    return found


@pytest.fixture(scope="module")
def unpadded(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _coherence_run(tmp_path_factory.mktemp("unpadded"), FS, "unpadded", "2", ITERS)


@pytest.fixture(scope="module")
def padded(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _coherence_run(tmp_path_factory.mktemp("padded"), FS, "padded", "2", ITERS)


def test_false_sharing_is_the_top_line_named_with_its_increment(unpadded: Run) -> None:
    view = unpadded.view
    top = view["lines"][0]
    assert top["symbol"] == "fs_unpadded" and top["region"] == "bss"
    assert top["sharing"] == "false" and top["cores"] == 2
    # Under rr every quantum switch hands the line over: thousands of transfers.
    assert top["transfers"] > 10_000 and top["transfers"] > 0.9 * view["transfers"]
    # The increments moved it; main's sum at the end may move it once more.
    moved_by = _transfers_by_function(top)
    assert moved_by["bump_unpadded"] >= top["transfers"] - 2, top["instructions"]
    kinds = {i["kind"]: i["mnemonic"] for i in top["instructions"] if i["transfers"]}
    assert kinds["store"].startswith("str ") and kinds["load"].startswith("ldr "), kinds
    # The program printed its work: transfers per increment.
    assert view["items"] == 2 * int(ITERS)
    per_item = view["transfers"] / view["items"]
    assert view["transfers_per_item"] == pytest.approx(per_item, rel=1e-5)
    assert view["interleaving"] == "rr:100" and view["partial"] is False
    assert unpadded.proc.stdout.startswith('{"test": "fs", "mode": "unpadded"')


def test_padding_removes_the_transfers(unpadded: Run, padded: Run) -> None:
    assert unpadded.view["transfers"] >= 10 * padded.view["transfers"]
    # Each counter's line stayed with its core, but for main's sum at the end.
    assert all(line["transfers"] <= 2 for line in _lines(padded.view, "fs_padded"))
    assert padded.view["lines"][0]["symbol"] != "fs_unpadded"
    diff = lseprof("diff", unpadded.out, padded.out, "--json")
    assert diff.returncode == 0, diff.stderr
    change = json.loads(diff.stdout)["coherence"]
    assert change["per"] == "item" and change["delta"] < 0 and change["delta_pct"] < -90


def test_one_shared_atomic_counter_against_one_per_thread(tmp_path: Path) -> None:
    # One program for both: the two runs' static binaries load at the same addresses,
    # so two different programs in one boot could not be told apart when naming.
    prog = guest_program("atomic-lse")
    script = f"{prog} shared 2 {ITERS} && {prog} private 2 {ITERS}"
    view = _coherence_run(tmp_path, "sh", "-c", script).view
    shared = _lines(view, "atomic_shared")
    assert shared and shared[0] is view["lines"][0], view["lines"][:2]
    assert shared[0]["sharing"] == "true" and shared[0]["transfers"] > 5_000
    top = shared[0]["instructions"][0]
    assert top["symbol"].startswith("add_loop+") and top["kind"] == "atomic"
    assert top["mnemonic"].startswith("ldadd"), top
    # Per-thread counters never left their cores.
    assert all(line["transfers"] == 0 for line in _lines(view, "atomic_private"))


def test_mutex_handoff_moves_the_lock_and_the_condition_variable(tmp_path: Path) -> None:
    view = _coherence_run(tmp_path, guest_program("handoff"), "2000", "0").view
    lock = _lines(view, "lock")
    ready = _lines(view, "ready")
    assert lock and ready, [line["symbol"] for line in view["lines"]]
    assert lock[0]["transfers"] > 1_000 and ready[0]["transfers"] > 1_000
    kinds = {i["kind"] for line in lock for i in line["instructions"] if i["transfers"]}
    assert "atomic" in kinds  # the mutex's compare-and-swap (an outline-atomic helper)
    assert view["items"] == 2000 and view["transfers_per_item"] > 1


def test_a_killed_run_keeps_its_partial_file_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("kept\n")
    proc = lseprof(
        "vm", "run", "--out", tmp_path, "--coherence", "--timeout", "30",
        "--", FS, "unpadded", "2", "2000000000",
        timeout=300,
    )  # fmt: skip
    assert_one_line_error(proc, "did not finish in 30 s", code=124)
    shutil.rmtree(proc.stderr.split("console log: ")[1].rstrip(")\n").rsplit("/", 1)[0])
    assert (tmp_path / "mine.txt").read_text() == "kept\n"
    text = (tmp_path / "coherence.txt").read_text()
    assert text.rstrip().splitlines()[-1].startswith("E\tpartial")
    assert json.loads((tmp_path / "coherence.json").read_text())["outcome"] == "timeout"
    report = lseprof("report", tmp_path, "--json")
    assert report.returncode == 0
    view = json.loads(report.stdout)["coherence"]
    assert view["partial"] is True and view["lines"][0]["symbol"] == "fs_unpadded"
    assert "partial" in report.stderr and len(report.stderr.strip().splitlines()) == 1


def test_a_plugin_that_does_not_load_is_one_line_and_nothing_is_lost(tmp_path: Path) -> None:
    # The same plugin built to insist on plugin API 5: qemu 10.0.2 offers 4.
    build = tmp_path / "build"
    build.mkdir()
    shutil.copy(coherence_dir() / "test" / "libcoherence-api5.so", build / "libcoherence.so")
    (build / "aarch64").symlink_to(coherence_dir() / "aarch64")
    out = tmp_path / "out"
    out.mkdir()
    (out / "perf.data").write_text("an earlier recording\n")
    env = {**os.environ, "LSEPROF_COHERENCE_DIR": str(build)}
    proc = lseprof("vm", "run", "--out", out, "--coherence", "--", "true", env=env)
    assert_one_line_error(
        proc, "the coherence plugin did not load", "refusing to load", "plugin API 4", code=2
    )
    assert (out / "perf.data").read_text() == "an earlier recording\n"
    assert not (out / "coherence.txt").exists()
    assert json.loads((out / "coherence.json").read_text())["outcome"] == "failed"


def test_the_classifier_agrees_with_binutils() -> None:
    proc = run(["make", "-s", "-C", REPO / "native" / "coherence", "check"], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("classify_test:")]
    assert len(lines) == 7 and all(line.endswith(" 0 mismatches") for line in lines), lines
