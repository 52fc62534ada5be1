"""The samples table has one description (lseprof.samples.SCHEMA) and every reader's
table is checked against it where the reader ends (issue #21)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lseprof import samples as S
from lseprof.analysis.pipeline import analyze_file
from lseprof.readers.inputs import load
from tests.helpers import PERF, REPO, REPORT_TEXTS, SCRIPT_TEXTS, binaries_for

TEXTS = [*SCRIPT_TEXTS, *REPORT_TEXTS, *sorted((PERF / "pastes").rglob("*.txt"))]


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: str(p.relative_to(PERF)))
def test_every_text_fixture_gives_a_valid_table(path: Path) -> None:
    capture = load(path)
    capture.validate()
    assert len(capture.samples) > 0
    report = analyze_file(path, binaries=binaries_for(path))
    S.validate(report.samples, classified=True)


def _table() -> pd.DataFrame:
    return load(PERF / "x86-contend" / "script.txt").samples.copy()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f.drop(columns=["caller"]), "no 'caller' column"),
        (lambda f: f.assign(pid=f["pid"].astype(float)), "'pid' is float64, not int64"),
        (lambda f: f.assign(symbol=f["symbol"].astype(object)), "'symbol' is object"),
        (lambda f: f.assign(source_kind=pd.Categorical(["perf-xyz"] * len(f))), "perf-xyz"),
        (lambda f: f.assign(stack=np.full(len(f), 10**6, np.int32)), "past Capture.stacks"),
    ],
)
def test_validate_catches_a_damaged_table(damage: object, message: str) -> None:
    capture = load(PERF / "x86-contend" / "script.txt")
    capture.samples = damage(_table())  # type: ignore[operator]
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        capture.validate()


def test_a_classified_table_needs_its_columns() -> None:
    with pytest.raises(ValueError, match="no 'category' column"):
        S.validate(_table(), classified=True)


def test_the_schema_is_written_once() -> None:
    table = S.schema_table()
    for column in (*S.SCHEMA, *S.CLASSIFICATION):
        assert f"| `{column.name}` | {column.dtype} |" in table
    # The docs point to it instead of keeping a second copy that could drift.
    docs = (REPO / "docs" / "architecture.md").read_text()
    assert "schema_table()" in docs and "| `caller_ip` |" not in docs
