"""`lseprof doctor`'s pieces that need no perf run: what each check's status means, the
line of perf's stderr it shows, and the architecture it reads from a build's ELF header."""

from __future__ import annotations

from pathlib import Path

import pytest

from lseprof.capture.build import Build, elf_arch
from lseprof.jobs.doctor import Check, perf_error_line
from tests.helpers import AARCH64_BIN, X86_BIN


@pytest.mark.parametrize(
    ("check", "status"),
    [
        (Check("perf", True, "/usr/bin/perf"), "ok"),
        (Check("perf", False, "not installed", present=False), "missing"),
        (Check("call graph fp", False, "cycles: Error: ..."), "failed"),
        (Check("call graph dwarf", False, "cycles: Error: ...", required=False), "optional"),
        (Check("sysroot", False, "not made", required=False, present=False), "optional"),
    ],
)
def test_each_check_has_one_of_four_statuses(check: Check, status: str) -> None:
    assert check.status == status
    assert check.to_dict()["status"] == status


def test_the_fix_is_given_only_when_something_is_wrong() -> None:
    assert Check("cargo", True, "/usr/bin/cargo", "apt-get install").to_dict()["fix"] == ""
    assert Check("cargo", False, "missing", "apt-get install").to_dict() == {
        "name": "cargo",
        "status": "failed",
        "detail": "missing",
        "fix": "apt-get install",
    }


def test_the_error_line_of_perf_is_shown_not_its_hints() -> None:
    # perf 6.1's words when an event cannot sample (the issue's inside-the-machine case).
    stderr = (
        "\nError:\ncpu-clock: PMU Hardware doesn't support sampling/overflow-interrupts. "
        "Try 'perf stat'\n"
    )
    assert perf_error_line(stderr) == (
        "Error: cpu-clock: PMU Hardware doesn't support sampling/overflow-interrupts. "
        "Try 'perf stat'"
    )
    stderr = "Warning: something\nfailed to mmap file\n"
    assert perf_error_line(stderr) == "failed to mmap file"
    assert perf_error_line("") == "no message"


def test_a_builds_architecture_comes_from_its_elf_header(tmp_path: Path) -> None:
    assert elf_arch(AARCH64_BIN) == "aarch64"
    assert elf_arch(X86_BIN) == "x86_64"
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert elf_arch(tmp_path / "script") == "unknown"
    assert elf_arch(tmp_path / "absent") == "unknown"
    copied = Build("rayon", "host", "native", X86_BIN, elf_arch(X86_BIN))
    assert copied.to_dict()["arch"] == "x86_64"
