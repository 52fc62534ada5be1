"""What the tests share: the repository's paths, the lseprof command and how to run
it, the one-line-error assertion, the recorded perf fixtures, and the rule for tests
that need a tool.

Every perf fixture is a real capture made on an x86_64 Debian 12 VM by
tests/fixtures/perf/regenerate.sh (see each directory's meta.json).

A tool that `make test` installs and that is missing is a broken install, not a
reason to skip: :func:`missing_tool` (and the :func:`needs_tool` marker) skip such a
test on a developer's machine but fail it when ``CI=true``. What a machine cannot
provide (root, a hardware PMU, an x86_64 glibc on an aarch64 host) stays a skip,
with its reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from lseprof.capture.build import Build, require_build

REPO = Path(__file__).resolve().parent.parent
FIX = REPO / "tests" / "fixtures"
PERF = FIX / "perf"
BIN = FIX / "bin"
# The lseprof of the interpreter running the tests (the venv's).
LSEPROF = Path(sys.executable).parent / "lseprof"
# Where tests leave what a person looks at (screenshots, exported files): reports/.
ARTIFACTS = REPO / "reports" / "tests"


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``): missing installed tools fail there."""
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def missing_tool(tool: str, hint: str = "make test installs it") -> NoReturn:
    """A tool that `make test` installs is missing: skip here, fail under CI."""
    message = f"{tool} is not installed ({hint})"
    if in_ci():
        pytest.fail(f"{message}: an install step of make test is broken", pytrace=False)
    pytest.skip(message)


def needs_tool(tool: str, present: bool, hint: str = "make test installs it") -> Any:
    """Marker: the test needs `tool`, which `make test` installs (see :func:`missing_tool`;
    tests/conftest.py applies it)."""
    return pytest.mark.needs_tool(tool=tool, present=present, hint=hint)


def run(argv: Sequence[str | os.PathLike[str]], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, text output captured, never raising on its exit code."""
    kwargs.setdefault("timeout", 600)
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=False, **kwargs
    )


def lseprof(*args: str | os.PathLike[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The lseprof command line, run from the repository's root."""
    kwargs.setdefault("cwd", REPO)
    return run([LSEPROF, *args], **kwargs)


def assert_one_line_error(
    proc: subprocess.CompletedProcess[str], *words: str, code: int = 2
) -> None:
    """A user error: exit `code`, nothing on stdout, one line on stderr that starts with
    "lseprof: error:" and holds each of `words`, no traceback."""
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "panicked" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lseprof: error:"), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


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

needs_perf = needs_tool("perf", shutil.which("perf") is not None)

SCRIPT_TEXTS = [
    X86 / "script.txt",
    X86 / "script-nocallchain.txt",
    X86 / "script-fields.txt",
    TWO / "script.txt",
    STRIPPED / "script.txt",
    DWARF / "script.txt",
    A53 / "script.txt",
    N1 / "script.txt",
    RAYON / "script.txt.gz",
]
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


# Text that stresses every branch of GPT-2's pre-tokenizer.
NASTY_LINES = [
    "I'm sure they'll say we've done what you'd've DONE'S... isn't it?",
    "日本語のテキストと中文文本，混合在一起。한국어도 있습니다.",
    "emoji 🎉🎉 family 👨‍👩‍👧 flags 🇫🇷🇯🇵 and skin 👍🏽!",
    "tabs\t\tand   spaces" + " " * 3000 + "end" + "\t" * 1200 + "x",
    " leading space, trailing spaces   ",
    "numbers 123 4567.89 ١٢٣ Ⅻ ½ and 10,000,000",
    "हिन्दी में लिखा गया पाठ और संयुक्ताक्षर",  # combining marks: not \p{L}
    "stray\rcarriage return in the middle",
    "",
    "   ",
    "'s 't 're 've 'm 'll 'd ''' '' 'S",
    "Ünïcödé àçcénts, Ελληνικά, кириллица, עברית, العربية",
    "a" * 600 + " " + "ab" * 400,
    "x\u00a0y\u2003z\u3000w",  # non-ASCII whitespace
]


def nasty_bytes() -> bytes:
    """The nasty lines, CRLF-terminated, plus a last line with no terminator."""
    return ("\r\n".join(NASTY_LINES) + "\r\nno newline at the end").encode("utf-8")


def build_for(target: str, variant: str) -> Build:
    return require_build(target, variant)
