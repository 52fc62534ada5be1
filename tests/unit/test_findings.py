"""Findings with remedies (issue #22): each finding of the table fires on a profile
that has its evidence and on none without it. The profiles are the repository's
real captures and public pastes; the one finding no real capture shows (helpers on
their LL/SC path on a CPU with LSE) is checked on the figures of real profiles put
together, and says so."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from lseprof.analysis.findings import evaluate, figures_of, findings_table, with_offcpu
from lseprof.analysis.offcpu import analyze_sched_file
from lseprof.analysis.pipeline import analyze_file
from lseprof.results import Attribution, Finding, HelperShare, InlineAtomic, OffCpuResult
from tests.helpers import BIN, PERF, REPO

PUBLIC = PERF / "pastes" / "public"
CONTEND = BIN / "contend-aarch64"


def _ids(path: Path, **kwargs: object) -> dict[str, Finding]:
    report = analyze_file(path, **kwargs)  # type: ignore[arg-type]
    return {f.id: f for s in report.sections for f in s.findings}


def _qemu(arch: str) -> dict[str, Finding]:
    folder = PERF / f"aarch64-qemu-{arch}"
    maps = list(folder.glob("perf-*.map"))
    return _ids(folder / "script.txt", perf_maps=maps, binaries=[CONTEND])


def _handoff(items: float) -> OffCpuResult:
    """The hand-off program (300 items, tests/fixtures/src/handoff.c) under
    system-wide scheduler events (tests/fixtures/perf/sched-handoff/meta.json)."""
    path = PERF / "sched-handoff" / "script.txt.gz"
    text = gzip.decompress(path.read_bytes())
    pids = {int(m[1]) for m in re.finditer(rb"^\s*handoff\s+(\d+)/", text, re.M)}
    return analyze_sched_file(path, None, items, other_pids=pids, text=text)


def _empty() -> Attribution:
    return Attribution("perf-data", "cpu-clock", 100, True, 0, {}, 0.0)


def _fired(findings: dict[str, Finding], name: str) -> Finding:
    assert name in findings, sorted(findings)
    finding = findings[name]
    rule = next(r for r in findings_table() if r.id == name)
    # it names the figure that triggered it, with its value above the threshold
    assert finding.figure == rule.figure and finding.value is not None
    assert finding.value > rule.above == finding.threshold
    assert finding.remedy and finding.reference.startswith("https://")
    return finding


def test_helpers_on_a_cpu_with_lse() -> None:
    found = _fired(_qemu("n1"), "helpers-on-lse-cpu")  # qemu -cpu neoverse-n1
    assert "41.34% of samples" in found.evidence and "LSE path" in found.evidence
    assert "-C target-feature=+lse" in found.remedy and "-march=armv8.1-a" in found.remedy
    # cortex-a53: the helpers run their LL/SC loop, nothing says the CPU has LSE
    assert "helpers-on-lse-cpu" not in _qemu("a53")
    assert "llsc-on-lse-cpu" not in _qemu("a53")


def test_helpers_on_their_llsc_path_on_a_cpu_with_lse() -> None:
    """No real capture has both (an object whose helpers never learnt the CPU has
    LSE): the a53 profile's helper on its LL/SC path, beside an inline LSE
    instruction of the n1 profile's kind, which proves the CPU has LSE."""
    section = _empty()
    section.helpers = [HelperShare("__aarch64_cas4_acq", share=39.79, llsc_path_share=39.79)]
    section.inline_atomics = [InlineAtomic("rmw_mix", "ldaddal", 12.0)]
    found = _fired({f.id: f for f in evaluate(figures_of(section))}, "llsc-on-lse-cpu")
    assert "39.79%" in found.evidence and "ldaddal in rmw_mix" in found.evidence
    assert "llsc-on-lse-cpu" not in _qemu("n1")  # LSE CPU, helpers on their LSE path


def test_kernel_llsc_atomics() -> None:
    found = _fired(_ids(PUBLIC / "arm64-ll_sc-posix_spawn.txt"), "kernel-llsc-atomics")
    assert found.value == pytest.approx(40.03) and "__ll_sc_atomic_add 19.82%" in found.evidence
    assert "kernel-llsc-atomics" not in _ids(PUBLIC / "osq_lock-rwsem-unixbench-quoted.txt")


def test_idle_workers_yielding() -> None:
    found = _fired(_ids(PERF / "rayon-host-88" / "script.txt.gz"), "idle-worker-yield")
    assert found.value == pytest.approx(32.19, abs=0.01)
    assert "finish_task_switch.isra.0" in found.evidence and "RAYON_NUM_THREADS" in found.remedy
    assert "idle-worker-yield" not in _ids(PERF / "x86-contend" / "script.txt")


def test_wake_up_storm_and_futex_waits_per_item() -> None:
    found = {f.id: f for f in evaluate(figures_of(_empty(), _handoff(300)))}
    storm = _fired(found, "wakeup-storm")
    assert "2.00 wake-ups per work item (601 wake-ups for 300 items)" in storm.evidence
    waits = _fired(found, "futex-waits-per-item")
    assert "1.00 futex waits per work item (300 waits for 300 items)" in waits.evidence
    # without scheduler events (or without an item count) there is no such figure
    assert not {"wakeup-storm", "futex-waits-per-item"} & set(_ids(PERF / "x86-contend/script.txt"))
    assert not evaluate(figures_of(_empty(), _handoff(None)))  # type: ignore[arg-type]


def test_kernel_spinlock_under_a_named_path() -> None:
    found = _fired(_ids(PUBLIC / "dragonfly-qspinlock-callers.txt"), "kernel-spinlock")
    assert "native_queued_spin_lock_slowpath 3.52% under entry_SYSCALL_64_after_hwframe" in (
        found.evidence
    )
    _fired(_ids(PUBLIC / "osq_lock-rwsem-unixbench-quoted.txt"), "kernel-spinlock")
    assert "kernel-spinlock" not in _ids(PUBLIC / "hhvm-futex-tui.txt")
    # a user lock's preempted waiter (lock by its callchain) is no kernel lock
    assert "kernel-spinlock" not in _ids(PERF / "x86-contend" / "script.txt")


def test_user_spin_waits() -> None:
    found = _fired(_ids(PERF / "annotate/x86/annotate-spin_section.txt"), "user-spin-wait")
    assert "spin_section 86.79%" in found.evidence
    assert "user-spin-wait" not in _ids(PUBLIC / "jvm-spinpause-perf-top-first-row.txt")  # 1.93%
    assert "user-spin-wait" not in _ids(PERF / "annotate/x86/annotate-rmw_mix.txt")


def test_emulator_share_of_an_emulated_profile() -> None:
    found = _fired(_ids(PERF / "annotate/qemu-user/report.txt"), "emulator-share")
    assert "44.09%" in found.evidence and "of guest" in found.remedy
    assert "emulator-share" not in _qemu("n1")  # 13% in qemu itself
    assert "emulator-share" not in _ids(PERF / "x86-contend" / "script.txt")


def test_every_finding_of_the_table_is_tested_here() -> None:
    source = Path(__file__).read_text()
    for rule in findings_table():
        assert f'"{rule.id}"' in source, rule.id


def test_a_run_adds_the_findings_of_its_scheduler_view() -> None:
    report = analyze_file(PERF / "rayon-host-88" / "script.txt.gz")
    merged = [f.id for f in with_offcpu(report.sections[0], _handoff(300))]
    assert merged == ["idle-worker-yield", "wakeup-storm", "futex-waits-per-item"]


def test_findings_table_is_documented() -> None:
    from lseprof.analysis.findings import findings_markdown_table

    doc = (REPO / "docs" / "contention.md").read_text()
    assert findings_markdown_table() in doc


def test_diff_says_which_findings_are_new_and_which_are_gone() -> None:
    from lseprof.analysis.diff import build_diff

    diff = build_diff(
        str(PUBLIC / "arm64-ll_sc-posix_spawn.txt"),
        str(PUBLIC / "osq_lock-rwsem-unixbench-quoted.txt"),
    )
    assert [f.id for f in diff.findings_new] == ["kernel-spinlock"]
    assert [f.id for f in diff.findings_gone] == ["kernel-llsc-atomics"]
    data = diff.to_dict()["findings"]
    assert data["new"][0]["figure"] == "kernel_lock_share" and data["kept"] == []
    emulated = build_diff(
        str(PERF / "aarch64-qemu-a53" / "script.txt"),
        str(PERF / "aarch64-qemu-n1" / "script.txt"),
        binaries=[CONTEND],
    )
    assert [f.id for f in emulated.findings_new] == ["helpers-on-lse-cpu"]
    assert not emulated.findings_gone


def test_findings_are_stored_with_a_run(tmp_path: Path) -> None:
    from lseprof.store import open_store
    from tests.unit.test_store import full_record

    section = analyze_file(PUBLIC / "arm64-ll_sc-posix_spawn.txt").sections[0]
    record = full_record(extra={"findings": [f.to_dict() for f in section.findings]})
    with open_store(str(tmp_path / "runs.sqlite")) as store:
        store.add(record)
    with open_store(str(tmp_path / "runs.sqlite")) as store:
        (back,) = store.runs()
    assert back.extra.findings == section.findings
    assert back.to_dict()["findings"][0]["id"] == "kernel-llsc-atomics"


def test_run_shows_each_group_finding_once() -> None:
    from lseprof.reports.annotated_view import run_findings_lines
    from tests.unit.test_store import full_record

    section = analyze_file(PUBLIC / "arm64-ll_sc-posix_spawn.txt").sections[0]
    stored = [f.to_dict() for f in section.findings]
    runs = [full_record(extra={"findings": stored}), full_record(extra={"findings": stored})]
    lines = run_findings_lines(runs)
    assert len(lines) == 2 and "[kernel-llsc-atomics]" in lines[0]
    assert lines[1].startswith("  try: run a kernel that uses LSE")
    assert run_findings_lines([full_record()]) == []
