"""Shared fixtures: the real data files, the real binaries, the tiktoken oracle."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from lseprof.capture.build import Build, require_build
from lseprof.workloads.data import DataFiles, require_data

from tests.oracle import rust_lines, tiktoken_gpt2

REPO = Path(__file__).resolve().parent.parent
LSEPROF = Path(sys.executable).parent / "lseprof"

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


def run(argv: Sequence[str | os.PathLike[str]],
        **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          check=False, timeout=600, **kwargs)  # type: ignore[call-overload]


@pytest.fixture()
def store_path(tmp_path: Path) -> Path:
    """Where the store under test lives (an SQLite file; test_store_pg.py overrides
    it with a ``postgresql://`` URL, so the shared store tests run on both backends)."""
    return tmp_path / "store" / "runs.sqlite"


@pytest.fixture(scope="session")
def data() -> DataFiles:
    return require_data()


@pytest.fixture(scope="session")
def tiktoken_enc(data: DataFiles) -> object:
    return tiktoken_gpt2(data.vocab_dir)


@pytest.fixture(scope="session")
def corpus_lines(data: DataFiles) -> list[str]:
    return [line.decode("utf-8") for line in rust_lines(data.corpus.read_bytes())]


def build_for(target: str, variant: str) -> Build:
    return require_build(target, variant)
