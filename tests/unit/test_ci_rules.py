"""The rule for tests that need a tool `make test` installs (tests/helpers.py): skipped
on a developer's machine, failed under CI=true, so a broken install step turns CI red."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.helpers import REPO, run

PROBE = """
from tests.helpers import missing_tool, needs_tool

@needs_tool("a-tool-nobody-has", False)
def test_marked():
    pass

def test_called():
    missing_tool("another-missing-tool")

@needs_tool("a-tool-everyone-has", True)
def test_present():
    pass
"""


def _outcomes(tmp_path: Path, ci: str | None) -> tuple[int, str]:
    probe = REPO / "tests" / "unit" / f"test_zz_probe_{os.getpid()}.py"
    probe.write_text(PROBE)
    try:
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        if ci is not None:
            env["CI"] = ci
        proc = run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(probe)],
            cwd=REPO,
            env=env,
            timeout=120,
        )
        return proc.returncode, proc.stdout
    finally:
        probe.unlink()


def test_missing_tools_skip_on_a_developers_machine(tmp_path: Path) -> None:
    code, out = _outcomes(tmp_path, None)
    assert code == 0 and "2 skipped" in out and "1 passed" in out, out
    assert "a-tool-nobody-has is not installed" in out


def test_missing_tools_fail_under_ci(tmp_path: Path) -> None:
    code, out = _outcomes(tmp_path, "true")
    # The marker fails the test in its setup (an error), the call in its body.
    assert code != 0 and "1 failed, 1 passed, 1 error" in out, out
    assert out.count("an install step of make test is broken") >= 2, out
