"""docs/api.md is executed: its Python blocks run in order, in one namespace, from the
repository root, and their own asserts must hold."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def blocks() -> list[str]:
    return BLOCK.findall((REPO / "docs" / "api.md").read_text())


def test_the_api_walkthrough_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    code = blocks()
    assert len(code) >= 8, "docs/api.md lost its examples"
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    for index, block in enumerate(code):
        with contextlib.redirect_stdout(printed):
            exec(compile(block, f"docs/api.md block {index + 1}", "exec"), namespace)
    text = printed.getvalue()
    assert "['cpu-clock']" in text and "error: " in text


def test_a_false_claim_in_a_block_fails() -> None:
    # The harness must be able to fail: a block whose assert is false raises.
    with pytest.raises(AssertionError):
        exec(compile("import lseprof\nassert lseprof.__version__ == 'not a version'",
                     "probe", "exec"), {})


def test_import_lseprof_is_cheap() -> None:
    import subprocess
    import sys

    probe = ("import sys, lseprof; print(lseprof.__version__, "
             "'pandas' in sys.modules, callable(lseprof.load))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[1:] == ["False", "True"], out
