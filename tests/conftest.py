"""Shared fixtures (the real data files, the real binaries, the tiktoken oracle), the
``needs_tool`` marker's rule (tests/helpers.py) and the golden tier's regenerate
switch (``--update-golden``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lseprof.workloads.data import DataFiles, require_data
from tests.helpers import missing_tool
from tests.oracle import rust_lines, tiktoken_gpt2


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="write the golden outputs anew instead of comparing (tests/golden)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_tool(tool, present, hint): the test needs a tool "
        "that make test installs; skipped when missing, failed under CI=true",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs_tool"):
        if not mark.kwargs["present"]:
            missing_tool(mark.kwargs["tool"], mark.kwargs.get("hint", "make test installs it"))


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
