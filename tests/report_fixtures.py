"""Paths of the recorded perf fixtures used by the tests/test_report_*.py files.

Every file here is a real capture made on an x86_64 Debian 12 VM by
tests/fixtures/perf/regenerate.sh (see each directory's meta.json).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIX = REPO / "tests" / "fixtures"
PERF = FIX / "perf"
BIN = FIX / "bin"
LSEPROF = REPO / ".venv" / "bin" / "lseprof"

X86_BIN = BIN / "contend-x86_64"
X86_STRIPPED_BIN = BIN / "stripped" / "contend-x86_64"
X86_OTHER_BUILD = BIN / "other-build" / "contend-x86_64"
AARCH64_BIN = BIN / "contend-aarch64"

X86 = PERF / "x86-contend"
TWO = PERF / "x86-two-events"
STRIPPED = PERF / "x86-stripped"
LOST = PERF / "x86-lost"
DWARF = PERF / "x86-dwarf-inline"
A53 = PERF / "aarch64-qemu-a53"
N1 = PERF / "aarch64-qemu-n1"
RAYON = PERF / "rayon-host-88"

needs_perf = pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")

SCRIPT_TEXTS = [X86 / "script.txt", X86 / "script-nocallchain.txt", X86 / "script-fields.txt",
                TWO / "script.txt", STRIPPED / "script.txt", DWARF / "script.txt",
                A53 / "script.txt", N1 / "script.txt", RAYON / "script.txt.gz"]
REPORT_TEXTS = sorted([*PERF.glob("*/report*.txt")])
PERF_DATA = sorted(PERF.glob("*/perf.data"))


def binaries_for(path: Path) -> list[Path]:
    """The ELF that goes with a fixture (none for the Rust encoder: it is not committed)."""
    name = path.parent.name
    if name.startswith("aarch64"):
        return [AARCH64_BIN]
    if name.startswith("x86"):
        return [X86_BIN]
    return []


def script_sample_count(path: Path, event: str | None = None) -> int:
    """Samples in perf script text, counted independently of lseprof's parser: header
    lines are the lines that start with the command name."""
    text = path.read_text()
    heads = [line for line in text.splitlines() if line and not line[0].isspace()]
    if event is not None:
        heads = [h for h in heads if re.search(rf"\s{re.escape(event)}:", h)]
    return len(heads)
