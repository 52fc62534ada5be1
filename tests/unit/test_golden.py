"""The golden tier (tests/golden): every offline command's output over the fixtures
equals the file kept for it; ``--update-golden`` writes the files anew."""

from __future__ import annotations

import os
import shutil

import pytest

from tests import golden
from tests.helpers import REPO, needs_tool

COMMANDS = golden.commands()


@pytest.fixture(autouse=True)
def _in_the_repository() -> object:
    # The command lines name fixtures relative to the repository's root.
    before = os.getcwd()
    os.chdir(REPO)
    yield
    os.chdir(before)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(
            c,
            id=str(c),
            marks=[needs_tool("perf", shutil.which("perf") is not None)] if c.needs_perf else [],
        )
        for c in COMMANDS
    ],
)
def test_output_is_the_golden_one(command: golden.Command, request: pytest.FixtureRequest) -> None:
    got = golden.run(command)
    if request.config.getoption("--update-golden"):
        golden.OUTPUTS.mkdir(parents=True, exist_ok=True)
        command.file.write_text(got, encoding="utf-8")
        return
    assert command.file.is_file(), f"no golden file for `{command}`: run with --update-golden"
    assert got == command.file.read_text(encoding="utf-8")


def test_every_golden_file_belongs_to_a_command() -> None:
    kept = {p.name for p in golden.OUTPUTS.glob("*.txt")}
    wanted = {c.file.name for c in COMMANDS}
    assert len(wanted) == len(COMMANDS), "two commands share a golden file name"
    assert kept <= wanted, f"golden files of no command (delete them): {sorted(kept - wanted)}"
