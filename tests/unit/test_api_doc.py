"""docs/api.md is executed: its Python blocks run in order, in one namespace, from the
repository root, and their own asserts must hold."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from tests.helpers import REPO

BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def blocks() -> list[str]:
    return BLOCK.findall((REPO / "docs" / "api.md").read_text())


def run_walkthrough(markdown: str) -> str:
    """Execute the Python blocks of `markdown` in order, in one namespace; return what they
    printed. An exception in a block (a false assert included) propagates."""
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    for index, block in enumerate(BLOCK.findall(markdown)):
        with contextlib.redirect_stdout(printed):
            exec(compile(block, f"docs/api.md block {index + 1}", "exec"), namespace)
    return printed.getvalue()


def test_the_api_walkthrough_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert len(blocks()) >= 8, "docs/api.md lost its examples"
    text = run_walkthrough((REPO / "docs" / "api.md").read_text())
    assert "['cpu-clock']" in text and "error: no-such.data" in text


def test_a_false_claim_in_a_block_fails() -> None:
    # The harness itself must be able to fail: a false assert in a later block, after a
    # true one that shares its namespace, reaches the caller.
    doc = (
        "```python\nimport lseprof\nversion = lseprof.__version__\n```\n\ntext\n\n"
        "```python\nassert version == 'not a version'\n```\n"
    )
    with pytest.raises(AssertionError):
        run_walkthrough(doc)
    assert run_walkthrough(doc.replace("==", "!=")) == ""


def test_import_lseprof_is_cheap() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, lseprof; print(lseprof.__version__, "
        "'pandas' in sys.modules, callable(lseprof.load))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[1:] == ["False", "True"], out
