"""System-call entry/exit and scheduler samples attributed to what they serve, by
their callchains (issue #22). The arm64 chains are real: perf script of a
system-wide perf record in Debian's 6.1 arm64 kernel under qemu-system-aarch64
(tests/fixtures/perf/annotate/meta.json: system.script-entry-chains.txt); the rayon
and x86 ones are the repository's own captures."""

from __future__ import annotations

from collections import defaultdict

import pytest

from lseprof.analysis.pipeline import Report, analyze_file
from lseprof.readers.inputs import load
from tests.helpers import BIN, PERF

CHAINS = PERF / "annotate" / "aarch64-max" / "system.script-entry-chains.txt"
HAMMER = BIN / "hammer-aarch64-outline"


def _by_path(report: Report) -> dict[tuple[str, str], dict[str, float]]:
    """(leaf, the frame that says what it serves or the user frame) -> category weights."""
    capture, frame = report.capture, report.samples
    out: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    marks = ("futex_wait_queue", "futex_wake", "el0_interrupt", "el0_svc")
    for stack, leaf, category, weight in zip(
        frame["stack"],
        frame["symbol"].astype(str),
        frame["category"].astype(str),
        frame["weight"],
        strict=True,
    ):
        names = [capture.stack_frames[i].symbol for i in capture.stacks[stack]]
        mark = next((m for m in marks if m in names), "")
        out[(leaf, mark)][category] += float(weight)
    return out


def test_arm64_entry_and_return_paths_go_to_what_they_serve() -> None:
    report = analyze_file(CHAINS, binaries=[HAMMER])
    paths = _by_path(report)
    # A: blocking in a futex wait / waking in a futex wake: the scheduler's time is futex
    assert dict(paths[("arch_local_irq_enable", "futex_wait_queue")]) == {"futex": 5}
    assert dict(paths[("arch_local_irq_restore", "futex_wake")]) == {"futex": 19}
    # B: the entry code itself: the user code that made the call (glibc's lock wait/wake)
    assert dict(paths[("el0_svc_common.constprop.0", "el0_svc")]) == {"lock": 10}
    # C: preempted on the return from an interrupt: the interrupted code's, never futex
    preempted = paths[("arch_local_irq_enable", "el0_interrupt")]
    assert "futex" not in preempted
    assert preempted["spin"] == 11  # in the spin loops of spin_section, yield_spin, wfe_section
    categories = report.sections[0].categories
    assert categories["spin"] == pytest.approx(100 * 11 / 70, abs=0.01)
    assert categories["futex"] == pytest.approx(100 * 28 / 70, abs=0.01)
    (note,) = [n for n in report.notes if n.startswith("callchains:")]
    assert "preempted user code" in note


def test_without_the_code_preemption_is_work_not_futex() -> None:
    categories = analyze_file(CHAINS).sections[0].categories
    assert categories["spin"] == 0.0
    assert categories["futex"] == pytest.approx(100 * 28 / 70, abs=0.01)


def test_without_the_step_the_rules_would_say_futex() -> None:
    """What the step corrects: the single-frame rules put every scheduler leaf of
    these chains (preemption included) into futex."""
    capture = load(CHAINS)
    leaves = capture.samples["symbol"].astype(str)
    irq = leaves.isin(["arch_local_irq_enable", "arch_local_irq_restore"]).sum()
    assert irq == 40
    from lseprof.analysis.classify import classify, load_rules

    classify(capture.samples, load_rules(), {})
    on_irq = capture.samples[leaves.isin(["arch_local_irq_enable", "arch_local_irq_restore"])]
    assert set(on_irq["category"].astype(str)) == {"futex"}


def test_idle_workers_yielding_are_spin_not_futex() -> None:
    """rayon at 88 threads on 2 cores: finish_task_switch under sched_yield is the
    workers' yield loop (spin), not a futex wait."""
    report = analyze_file(PERF / "rayon-host-88" / "script.txt.gz")
    by = {(t.symbol, t.category): t.share for t in report.sections[0].top_symbols}
    assert by[("finish_task_switch.isra.0", "spin")] == pytest.approx(12.75, abs=0.01)
    # 33.18 before rayon's wake-ups through glibc's generic syscall() went to their
    # caller (Sleep::wake_any_threads: spin) instead of staying work.
    assert report.sections[0].categories["spin"] == pytest.approx(33.27, abs=0.01)


def test_report_text_without_callchains_keeps_the_rules() -> None:
    report = analyze_file(PERF / "x86-contend" / "report-flat.txt")
    by = {t.symbol: t.category for t in report.sections[0].top_symbols}
    assert by["finish_task_switch.isra.0"] == "futex"
    assert not any(n.startswith("callchains:") for n in report.notes)
