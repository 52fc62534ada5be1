"""`lseprof run --target aarch64-vm`: the runs recorded by perf inside the full aarch64
Linux (one boot per session), analysed and stored on this host, marked as a virtual
CPU's. Three boots: the built-in encoder (both variants, 4 threads, -cpu max), a
command on a CPU without LSE with scheduler events, and the false-sharing program
with the coherence plugin (--coherence).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from lseprof.capture.build import host_is_aarch64
from lseprof.emulation.vm import coherence_dir, image_dir, image_problems
from tests.helpers import AARCH64_BIN, REPO, assert_one_line_error, lseprof, needs_tool

pytestmark = [
    pytest.mark.skipif(host_is_aarch64(), reason="an aarch64 host runs aarch64-vm natively"),
    needs_tool(
        "the aarch64 machine (qemu-system-aarch64 and its image)",
        not image_problems(image_dir()) and os.path.exists("/usr/bin/qemu-system-aarch64"),
        "make test makes it: sudo bash scripts/install-system.sh && sudo .venv/bin/lseprof vm make",
    ),
]

# The arm64 kernel's scheduler, futex and system-call entry/exit code: what it serves
# is never `work` in itself (analysis.classify's callchain step).
KERNEL_PLUMBING = (
    "el0_svc",
    "do_el0_svc",
    "el0t_64_sync",
    "invoke_syscall",
    "do_notify_resume",
    "el0_interrupt",
    "arch_local_irq",
    "futex",
    "schedule",
    "finish_task_switch",
    "do_sched_yield",
)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path]:
    """Both variants of the encoder, 4 threads, one repetition each, in the machine."""
    root = tmp_path_factory.mktemp("vm-encoder")
    store = root / "runs.sqlite"
    proc = lseprof(
        "run",
        "--target",
        "aarch64-vm",
        "--threads",
        "4",
        "--repeat",
        "1",
        "--duration",
        "3",
        "--store",
        store,
        "--json",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), store


# Why kernel plumbing may still be work: the thread was preempted (an interrupt, or
# rescheduled on its way back from a system call) and the sample goes to the user
# code it interrupted; it served a system call that is neither a futex nor a yield
# (read, mprotect: I/O and other kernel services are work), named by its handler or
# its libc wrapper; or the kernel's own interrupt work (timers).
_EXPLAINED = re.compile(
    r"^(el0_interrupt|el0t_64_irq\w*|do_notify_resume|__arm64_sys_(?!futex|sched_yield)\w+"
    r"|handle_softirqs|__do_softirq|__(mprotect|read|write|mmap|munmap|madvise|brk|openat))$"
)


def _unexplained_plumbing_share(run: dict[str, Any]) -> tuple[float, list[str]]:
    """The share of samples in kernel scheduler, futex and entry/exit code counted as
    work for no reason above (the stored run's perf.data, read as its analysis read
    it; a generic `syscall()` from work code cannot say which call it made), and the
    stacks."""
    import lseprof

    extra = run["extra"]
    report = lseprof.load(run["perf_data"], symfs=extra["symfs"], kallsyms=extra["kallsyms"])
    capture = report.capture
    table = capture.samples
    kernel = table["dso"].astype(str).str.startswith("[kernel")
    plumbing = table["symbol"].astype(str).map(lambda s: any(k in s for k in KERNEL_PLUMBING))
    rows = table[kernel & plumbing & (table["category"] == "work")]
    unexplained, weight = [], 0.0
    for stack, w in zip(rows["stack"], rows["weight"], strict=True):
        names = [capture.stack_frames[i].symbol for i in capture.stacks[int(stack)]]
        if not any(_EXPLAINED.match(n) for n in names):
            unexplained.append(" <- ".join(names))
            weight += float(w)
    return 100.0 * weight / float(table["weight"].sum()), unexplained


def test_both_variants_run_in_the_machine(encoder: tuple[list[dict[str, Any]], Path]) -> None:
    records, _ = encoder
    assert sorted(r["variant"] for r in records) == ["rayon", "window"]
    for run in records:
        assert run["status"] == "ok", run["message"]
        assert (run["target"], run["event"], run["emulated"]) == ("aarch64-vm", "cycles", False)
        assert run["throughput_mib_s"] > 0 and run["samples"] > 500
        # Helpers named by op, size and order, with their callers.
        assert run["helpers"] and all(h["op"] and h["size"] and h["order"] for h in run["helpers"])
        top = run["extra"]["top_symbols"]
        assert not [t for t in top if t["symbol"] == "_init"], top
        share, stacks = _unexplained_plumbing_share(run)
        assert share < 1.0, (share, stacks[:5])
        assert any(t["symbol"].startswith("bpe_encode::") for t in top), top


def test_runs_say_they_ran_on_a_virtual_cpu(encoder: tuple[list[dict[str, Any]], Path]) -> None:
    records, store = encoder
    for run in records:
        assert run["cpu_model"] == "max"
        assert run["host"]["arch"] == "aarch64" and run["host"]["lse"] is True
        assert "not hardware timing" in run["host"]["virtual"]
        assert run["host"]["machine_host"]["arch"] != "aarch64"
        assert Path(run["run_dir"]).is_dir() and Path(run["perf_data"]).is_file()
    from lseprof import open_store
    from lseprof.reports.run_table import run_markdown

    with open_store(str(store)) as runs:
        stored = runs.runs()
    assert len(stored) == 2
    markdown = run_markdown(stored, "cycles")
    assert "VIRTUAL aarch64 CPU: qemu-system-aarch64 (TCG), -cpu max" in markdown
    assert "LSE yes" in markdown


def test_a_stored_run_reports_as_it_was_analysed(
    encoder: tuple[list[dict[str, Any]], Path],
) -> None:
    # The run keeps where the guest's files and kallsyms are: reporting it later names
    # what its own analysis named.
    records, store = encoder
    run = records[0]
    proc = lseprof("report", run["run_id"], "--store", store, "--json", "--top", "10")
    assert proc.returncode == 0, proc.stderr
    section = json.loads(proc.stdout)
    assert section["unnamed_share"] < 1.0 and section["ip_precision"] == "block"
    stored = {t["symbol"] for t in run["extra"]["top_symbols"][:5]}
    assert stored <= {t["symbol"] for t in section["top_symbols"]}


def test_a_command_on_a_cpu_without_lse(tmp_path: Path) -> None:
    # A path of the checkout is handed to the guest as the guest sees it (/project/...).
    relative = AARCH64_BIN.relative_to(REPO)
    proc = lseprof(
        "run",
        "--target",
        "aarch64-vm",
        "--cpu",
        "cortex-a57",
        "--repeat",
        "1",
        "--sched",
        "--store",
        tmp_path / "runs.sqlite",
        "--json",
        "--",
        relative,
        "2",
        "1000",
        cwd=REPO,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = json.loads(proc.stdout)
    assert run["status"] == "ok", run["message"]
    assert run["extra"]["argv"][0] == f"/project/{relative}"
    assert (run["cpu_model"], run["host"]["lse"]) == ("cortex-a57", False)
    helpers = run["helpers"]
    assert sum(h["lse_path_share"] for h in helpers) == 0.0
    assert sum(h["llsc_path_share"] for h in helpers) > 0.5 * sum(h["share"] for h in helpers)
    # --sched in the machine: the off-CPU view of the workload's threads.
    offcpu = run["extra"]["offcpu"]
    assert offcpu is not None and offcpu["wakeups"] > 0 and offcpu["threads"]


FS = coherence_dir() / "aarch64" / "fs"


@needs_tool(
    "the coherence plugin and its test programs (make coherence)",
    (coherence_dir() / "libcoherence.so").is_file() and FS.is_file(),
    "make test builds them: make setup",
)
def test_cache_lines_between_cores_of_a_command(tmp_path: Path) -> None:
    # One boot with the plugin: the false-sharing program, recorded by perf in the
    # machine, its coherence file beside its perf.data, the result stored with the run.
    store = tmp_path / "runs.sqlite"
    proc = lseprof(
        "run", "--target", "aarch64-vm", "--coherence", "--repeat", "1",
        "--store", store, "--json", "--", FS, "unpadded", "2", "200000",
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (run,) = json.loads(proc.stdout)
    assert run["status"] == "ok" and run["samples"] > 0, run["message"]
    view = run["extra"]["coherence"]
    top = view["lines"][0]
    assert (top["symbol"], top["sharing"], top["cores"]) == ("fs_unpadded", "false", 2)
    assert top["transfers"] > 10_000 and top["transfers"] > 0.9 * view["transfers"]
    assert top["instructions"][0]["symbol"].startswith("bump_unpadded+")
    assert view["items"] == 400_000 and view["interleaving"] == "rr:100" and not view["partial"]
    # The plugin followed the program, not lseprof or perf around it.
    run_dir = Path(run["run_dir"])
    meta = json.loads((run_dir / "coherence.json").read_text())
    assert meta["argv"] == run["extra"]["argv"] and meta["settings"]["wrap"] is False
    assert (run_dir / "perf.data").is_file() and not list(run_dir.parent.parent.glob("coh*"))
    # lseprof report of the stored run (its id, its directory) shows the lines.
    for name in (run["run_id"], run["run_dir"]):
        report = lseprof("report", name, "--store", store, "--json")
        assert report.returncode == 0, report.stderr
        assert json.loads(report.stdout)["coherence"]["lines"][0]["symbol"] == "fs_unpadded"
    # lseprof diff compares transfers per item (no interval from one run a side).
    diff = lseprof("diff", run["group_id"], run["group_id"], "--store", store, "--json")
    assert diff.returncode == 0, diff.stderr
    change = json.loads(diff.stdout)["coherence"]
    assert (change["per"], change["delta"], change["ci_low"]) == ("item", 0.0, None)


def test_machine_options_belong_to_the_machine() -> None:
    assert_one_line_error(lseprof("run", "--smp", "4", "--repeat", "1"), "--target aarch64-vm")
    assert_one_line_error(
        lseprof("run", "--target", "aarch64-vm", "--workload", "hf-tokenizers"),
        "hf-tokenizers",
    )
