"""`lseprof inspect` as a real subprocess: output formats and bad input."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import LSEPROF, missing_tool

SOURCE = r"""
int x;
int main(void) { return __atomic_fetch_add(&x, 1, __ATOMIC_ACQ_REL); }
"""


def _lseprof(*args: str | Path) -> subprocess.CompletedProcess[str]:
    if not LSEPROF.is_file():
        missing_tool(str(LSEPROF), "make venv installs it")
    return subprocess.run(
        [str(LSEPROF), "inspect", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def a64_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("aarch64-linux-gnu-gcc")
    if gcc is None:
        missing_tool("aarch64-linux-gnu-gcc")
    root = tmp_path_factory.mktemp("cli")
    (root / "t.c").write_text(SOURCE)
    subprocess.run([gcc, "-O2", str(root / "t.c"), "-o", str(root / "t")], check=True)
    return root / "t"


def test_table(a64_exe: Path) -> None:
    done = _lseprof(a64_exe)
    assert done.returncode == 0, done.stderr
    assert re.search(r"│ __aarch64_ldadd4_acq_rel │\s+0x[0-9a-f]+ │\s+1 │ symbol", done.stdout)
    assert "outline atomics: 1 helpers, 1 call sites; no inline LSE" in done.stdout
    # "main" is in any path or word; the caller's row is what counts.
    assert re.search(r"│ main\s+│\s+1 │", done.stdout), done.stdout


def test_json_one_file_is_an_object(a64_exe: Path) -> None:
    done = _lseprof(a64_exe, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    for key in (
        "path",
        "arch",
        "build_id",
        "stripped",
        "helpers",
        "call_sites_total",
        "inline_lse",
        "exclusives",
        "x86_lock",
        "verdict",
    ):
        assert key in data
    helper = data["helpers"][0]
    assert {k: helper[k] for k in ("symbol", "op", "size", "order", "call_sites")} == {
        "symbol": "__aarch64_ldadd4_acq_rel",
        "op": "ldadd",
        "size": 4,
        "order": "acq_rel",
        "call_sites": 1,
    }
    assert isinstance(helper["address"], int)
    assert data["callers"] == [{"function": "main", "call_sites": 1}]


def test_json_several_files_is_a_list(a64_exe: Path) -> None:
    done = _lseprof(a64_exe, a64_exe, "--json", "--top", "0")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert isinstance(data, list) and len(data) == 2
    assert data[0]["callers"] == []


def _assert_one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("lseprof: error:")
    for word in words:
        assert word in lines[0]


def test_not_an_elf(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("just some text\n")
    _assert_one_line_error(_lseprof(text), "not an ELF file")


@pytest.mark.parametrize("keep", [100, 4096])
def test_truncated_elf(a64_exe: Path, tmp_path: Path, keep: int) -> None:
    cut = tmp_path / f"cut{keep}"
    cut.write_bytes(a64_exe.read_bytes()[:keep])
    _assert_one_line_error(_lseprof(cut), "truncated")


def test_missing_file(tmp_path: Path) -> None:
    _assert_one_line_error(_lseprof(tmp_path / "nope.so"), "no such file")


def test_directory(tmp_path: Path) -> None:
    _assert_one_line_error(_lseprof(tmp_path), "directory")


def test_unsupported_architecture(a64_exe: Path, tmp_path: Path) -> None:
    other = tmp_path / "riscv"
    blob = bytearray(a64_exe.read_bytes())
    blob[18:20] = (243).to_bytes(2, "little")  # e_machine = EM_RISCV
    other.write_bytes(bytes(blob))
    _assert_one_line_error(_lseprof(other), "unsupported architecture")


def test_one_bad_file_among_good_ones(a64_exe: Path, tmp_path: Path) -> None:
    _assert_one_line_error(_lseprof(a64_exe, tmp_path / "nope.so"), "no such file")


def test_negative_top(a64_exe: Path) -> None:
    _assert_one_line_error(_lseprof(a64_exe, "--top", "-1"), "--top")
