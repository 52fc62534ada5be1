"""Profiles recorded on another machine, read here: the arm64 perf.data of a full
aarch64 Linux (tests/fixtures/perf/aarch64-vm-*, recorded inside qemu-system-aarch64
with the guest's own perf; see their meta.json), reported on this x86 host.

perf.data holds paths and build-ids, not symbols: without a copy of the recording
machine's files (--symfs) and its kallsyms (--kallsyms, that boot's: KASLR) nothing is
named, and the report must say so on its first lines; with them, it must name the
same top symbols perf named inside the machine (report-inside.txt, perf's own output
there).
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PERF, REPO, assert_one_line_error, lseprof, needs_perf

pytestmark = needs_perf

VM_MAX = PERF / "aarch64-vm-max"  # -cpu max: LSE
VM_A57 = PERF / "aarch64-vm-a57"  # -cpu cortex-a57: no LSE
_ROW = re.compile(r"^\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$")


def perf_inside(fixture: Path) -> dict[str, float]:
    """Symbol -> self share, from perf report --no-children inside the machine."""
    rows: dict[str, float] = {}
    for line in (fixture / "report-inside.txt").read_text().splitlines():
        if (m := _ROW.match(line)) is not None:
            rows[m[3]] = rows.get(m[3], 0.0) + float(m[1])
    return rows


def recorded_files(fixture: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A --symfs root holding the project where the machine had it (/project), and
    the machine's kallsyms."""
    root = tmp_path / "root"
    root.mkdir(parents=True)
    (root / "project").symlink_to(REPO)
    kallsyms = tmp_path / "kallsyms"
    kallsyms.write_bytes(gzip.decompress((fixture / "kallsyms.gz").read_bytes()))
    return root, kallsyms


def report_json(fixture: Path, *args: str | Path) -> dict[str, object]:
    proc = lseprof("report", fixture / "perf.data", "--json", "--top", "60", *args)
    assert proc.returncode == 0, proc.stderr
    section: dict[str, object] = json.loads(proc.stdout)
    return section


@pytest.mark.parametrize("fixture", [VM_MAX, VM_A57], ids=lambda p: p.name)
def test_named_as_perf_named_them_inside(fixture: Path, tmp_path: Path) -> None:
    root, kallsyms = recorded_files(fixture, tmp_path)
    section = report_json(fixture, "--symfs", root, "--kallsyms", kallsyms)
    # A kernel function's samples are split by what they served: one row per category.
    ours: dict[str, float] = {}
    for row in section["top_symbols"]:  # type: ignore[attr-defined]
        ours[row["symbol"]] = ours.get(row["symbol"], 0.0) + row["share"]
    inside = perf_inside(fixture)
    top = sorted(inside, key=lambda s: -inside[s])[:10]
    for name in top:
        if name == "_init":  # perf's name for a static executable's IFUNC stubs
            stubs = sum(v for k, v in ours.items() if k.endswith("@iplt"))
            assert stubs == pytest.approx(inside[name], abs=0.1)
            continue
        assert name in ours, (name, sorted(ours))
        assert ours[name] == pytest.approx(inside[name], abs=0.1), name
    assert "_init" not in ours
    assert section["unnamed_share"] < 1.0 and not any(  # type: ignore[operator]
        "unnamed" in w
        for w in section["warnings"]  # type: ignore[attr-defined]
    )


def test_unnamed_samples_are_said_first_with_the_options(tmp_path: Path) -> None:
    proc = lseprof("report", VM_MAX / "perf.data")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    warning = next(i for i, line in enumerate(lines) if "unnamed" in line)
    assert warning <= 3, lines[:6]  # under the two header lines
    assert "--symfs DIR" in lines[warning] and "--kallsyms FILE" in lines[warning]
    assert "recorded on aarch64" in lines[warning]
    # Named user code, kernel still unnamed: only --kallsyms is asked for.
    root, _ = recorded_files(VM_MAX, tmp_path)
    section = report_json(VM_MAX, "--symfs", root)
    (warning_text,) = [w for w in section["warnings"] if "unnamed" in w]  # type: ignore[attr-defined]
    assert "--kallsyms FILE" in warning_text and "--symfs" not in warning_text
    assert "[kernel.kallsyms]" in warning_text


def test_an_emulated_pmu_marks_paths_as_not_measured(tmp_path: Path) -> None:
    root, kallsyms = recorded_files(VM_MAX, tmp_path)
    section = report_json(VM_MAX, "--symfs", root, "--kallsyms", kallsyms)
    assert section["ip_precision"] == "block"
    assert any("emulated PMU" in w for w in section["warnings"])  # type: ignore[attr-defined]
    proc = lseprof("report", VM_MAX / "perf.data", "--symfs", root, "--kallsyms", kallsyms)
    assert "LSE path?" in proc.stdout and "LL/SC path?" in proc.stdout
    markdown = lseprof("report", VM_MAX / "perf.data", "--symfs", root, "--markdown").stdout
    assert (
        "| LSE path? |" in markdown and "- **warning:** samples come from an emulated" in markdown
    )


def helper_paths(section: dict[str, object]) -> tuple[float, float, float]:
    helpers = section["helpers"]
    assert isinstance(helpers, list) and helpers
    return (
        sum(h["lse_path_share"] for h in helpers),
        sum(h["llsc_path_share"] for h in helpers),
        sum(h["share"] for h in helpers),
    )


def test_helpers_on_a_cpu_without_lse_take_the_llsc_path(tmp_path: Path) -> None:
    # Static non-PIE executable: perf prints callchain addresses as file offsets, which
    # must become ELF addresses before the helper's instruction is looked at.
    root, kallsyms = recorded_files(VM_A57, tmp_path)
    a57 = report_json(VM_A57, "--symfs", root, "--kallsyms", kallsyms)
    lse, llsc, total = helper_paths(a57)
    assert lse == 0.0 and llsc > 0.5 * total, (lse, llsc, total)
    ops = {(h["op"], h["size"], h["order"]) for h in a57["helpers"]}  # type: ignore[attr-defined]
    assert ("ldadd", 8, "acq_rel") in ops
    root, kallsyms = recorded_files(VM_MAX, tmp_path / "max")
    lse, llsc, total = helper_paths(report_json(VM_MAX, "--symfs", root, "--kallsyms", kallsyms))
    assert llsc == 0.0 and total > 0  # a CPU with LSE never runs the LL/SC loop


def test_system_call_entry_is_what_it_served_however_user_code_is_named(
    tmp_path: Path,
) -> None:
    """The callchain step reads user frames named as the rows are: by --symfs, or by
    --binary where perf itself left them unnamed (the binary not at its recorded path)."""
    root, kallsyms = recorded_files(VM_MAX, tmp_path)
    binary = REPO / "tests" / "fixtures" / "bin" / "contend-aarch64"
    for files in (["--symfs", root], ["--binary", binary]):
        section = report_json(VM_MAX, *files, "--kallsyms", kallsyms)
        rows = [r for r in section["top_symbols"] if r["symbol"].startswith("el0_svc")]  # type: ignore[attr-defined]
        assert rows and sum(r["share"] for r in rows) > 15.0, files
        # (a system call of the program's own work, such as its exit, stays work)
        work = sum(r["share"] for r in rows if r["category"] == "work")
        assert work < 0.5, (files, rows)


def test_helper_callers_come_from_arm64_frame_pointer_chains(tmp_path: Path) -> None:
    root, kallsyms = recorded_files(VM_A57, tmp_path)
    section = report_json(VM_A57, "--symfs", root, "--kallsyms", kallsyms)
    callers = {(c["helper"], c["caller"]): c for c in section["helper_callers"]}  # type: ignore[attr-defined]
    hot = callers[("__aarch64_ldadd8_acq_rel", "bump_counter")]  # the link register's
    assert hot["basis"] == "callchain" and hot["share"] > 20.0


def test_missing_symbol_files_are_one_line_errors(tmp_path: Path) -> None:
    # perf itself ignores a kallsyms it cannot use and leaves the kernel unnamed.
    zeros = tmp_path / "zeros"
    zeros.write_text("0000000000000000 T _text\n0000000000000000 t do_one_initcall\n")
    cases: list[tuple[list[str | Path], str]] = [
        (["--kallsyms", tmp_path / "nope"], "--kallsyms"),
        (["--kallsyms", VM_MAX / "kallsyms.gz"], "gunzip"),
        (["--kallsyms", VM_MAX / "report-inside.txt"], "not /proc/kallsyms"),
        (["--kallsyms", zeros], "without root"),
        (["--symfs", tmp_path / "nowhere"], "--symfs"),
    ]
    for args, needle in cases:
        proc = lseprof("report", VM_MAX / "perf.data", *args)
        assert_one_line_error(proc, needle)
    text = PERF / "x86-contend" / "script.txt"
    kallsyms = tmp_path / "kallsyms"
    kallsyms.write_text("")
    assert_one_line_error(lseprof("report", text, "--kallsyms", kallsyms), "--kallsyms")


VM_CALLERS = PERF / "aarch64-vm-callers"


def dominant_callers(section: dict[str, Any]) -> dict[str, str]:
    """Each helper's caller where one caller has at least 80% of the helper's share."""
    shares: dict[str, dict[str, float]] = {}
    for row in section["helper_callers"]:
        shares.setdefault(row["helper"], {})[row["caller"]] = row["share"]
    return {
        helper: max(callers, key=lambda c: callers[c])
        for helper, callers in shares.items()
        if max(callers.values()) >= 0.8 * sum(callers.values())
    }


def test_helper_callers_agree_across_frame_pointers_dwarf_and_the_link_register(
    tmp_path: Path,
) -> None:
    # DWARF unwinding (printed inside the machine) is the reference. perf's own fp
    # chains inside add a leaf's caller from the link register; read on x86, the
    # perf.data has no such help from perf, and lseprof reads the register itself.
    dwarf = dominant_callers(report_json_of(VM_CALLERS / "script-dwarf.txt.gz"))
    assert dwarf.get("__aarch64_ldadd8_acq_rel") == "bump_counter", dwarf
    assert len(dwarf) >= 3
    fp_inside = dominant_callers(report_json_of(VM_CALLERS / "script-fp.txt.gz"))
    root, kallsyms = recorded_files(VM_A57, tmp_path)
    section = report_json(VM_A57, "--symfs", root, "--kallsyms", kallsyms)
    fp_here = dominant_callers(section)
    assert any("link register" in n for n in section["notes"])  # type: ignore[attr-defined]
    for name, fp in (("fp inside", fp_inside), ("fp read here", fp_here)):
        same = {h for h in dwarf if h in fp}
        assert len(same) >= 3, (name, fp, dwarf)
        assert {h: fp[h] for h in same} == {h: dwarf[h] for h in same}, name


def report_json_of(path: Path) -> dict[str, Any]:
    proc = lseprof("report", path, "--json", "--top", "40")
    assert proc.returncode == 0, proc.stderr
    section: dict[str, Any] = json.loads(proc.stdout)
    return section
