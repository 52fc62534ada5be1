"""`lseprof nightly` end to end: a tiny matrix over several nights, then an injected
regression (a real workload option that adds contention) that must be detected."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from lseprof import LseprofError
from lseprof.jobs.nightly import load_config
from lseprof.workloads.data import DataFiles
from tests.helpers import LSEPROF, run

NIGHTS_BEFORE = 6
NIGHTS_AFTER = 3
# Repetitions per night: the night's median is judged, so one repetition slowed by
# the machine (CI runs other work beside it) cannot move the change point a night.
REPEAT = 3


def write_config(path: Path, corpus: Path, extra: str = "") -> Path:
    path.write_text(f"""
store = "store/runs.sqlite"
dashboard = "dash"
min_nights = 3
# Nine nights cannot reach p < 0.01 by permutation (a perfect 6/3 split is 1 of 84).
alpha = 0.05

[[run]]
name = "bpe-tiny"
variants = ["window"]
threads = [4]
repeat = {REPEAT}
duration = 0.3
corpus = "{corpus}"
{extra}
""")
    return path


@pytest.fixture()
def tiny_corpus(tmp_path: Path, data: DataFiles) -> Path:
    raw = data.corpus.read_bytes()
    corpus = tmp_path / "tiny.txt"
    corpus.write_bytes(raw[: raw.index(b"\n", 60_000) + 1])
    return corpus


@pytest.mark.slow
def test_injected_contention_is_a_regression(tmp_path: Path, tiny_corpus: Path) -> None:
    config = write_config(tmp_path / "nightly.toml", tiny_corpus)
    for night in range(NIGHTS_BEFORE):
        proc = run([LSEPROF, "nightly", "--config", config, "--json"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        (series,) = json.loads(proc.stdout)
        assert series["nights"] == night + 1 and series["regression"] is False
    assert "data-regression" not in (tmp_path / "dash" / "index.html").read_text()
    # The "bad commit": every item now also hammers one shared atomic counter.
    write_config(config, tiny_corpus, 'workload_args = ["--contend", "4000"]')
    verdicts = []
    for _ in range(NIGHTS_AFTER):
        proc = run([LSEPROF, "nightly", "--config", config, "--json"], cwd=tmp_path)
        verdicts.append((proc.returncode, json.loads(proc.stdout)[0]))
    code, last = verdicts[-1]
    assert code == 1, verdicts
    assert last["throughput"] == "regression" and last["regression"] is True
    assert "regression" in proc.stderr
    with sqlite3.connect(tmp_path / "store" / "runs.sqlite") as db:
        rows = db.execute(
            "select config_key, source_commit, build_id, hostname, group_id, "
            "extra from runs order by created_at"
        ).fetchall()
    assert len(rows) == (NIGHTS_BEFORE + NIGHTS_AFTER) * REPEAT
    nights = list(dict.fromkeys(r[4] for r in rows))  # group ids, oldest first
    assert len(nights) == NIGHTS_BEFORE + NIGHTS_AFTER
    assert all(r[0] == "bpe-tiny" and r[2] and r[3] for r in rows)
    # Every run stores the judgement it was made with, for the dashboard to reuse.
    assert all(json.loads(r[5])["judgement"]["alpha"] == 0.05 for r in rows)
    # The dashboard flags that series at that night: the first contended one.
    index = (tmp_path / "dash" / "index.html").read_text()
    flagged = re.findall(
        r'<li data-regression="([^"]*)" data-config-key="([^"]*)" '
        r'data-night="([^"]*)"',
        index,
    )
    assert ("throughput", "bpe-tiny", nights[NIGHTS_BEFORE]) in flagged, flagged


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[[run]]\nthreads = [2]\n", "needs a `name`"),
        ('store = "x"\n', "at least one [[run]]"),
        ('[[run]]\nname = "a"\nthreds = [2]\n', "unknown key 'threds'"),
        ('[[run]]\nname = "a"\nthreads = "two"\n', "`threads`"),
        ("[[run]\n", "not valid TOML"),
        ('[[run]]\nname = "a"\n[[run]]\nname = "a"\n', "share a name"),
    ],
)
def test_bad_configs(text: str, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "n.toml"
    path.write_text(text)
    with pytest.raises(LseprofError, match=needle.replace("[", r"\[").replace("`", "`")):
        load_config(path)
    proc = run([LSEPROF, "nightly", "--config", path])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_invalid_entry_is_refused_before_running(tmp_path: Path) -> None:
    path = tmp_path / "n.toml"
    path.write_text('store = "s.sqlite"\n[[run]]\nname = "a"\nvariants = ["openmp"]\n')
    proc = run([LSEPROF, "nightly", "--config", path])
    assert proc.returncode == 2 and "unknown variant" in proc.stderr
    assert not (tmp_path / "s.sqlite").exists()


def test_missing_config(tmp_path: Path) -> None:
    proc = run([LSEPROF, "nightly", "--config", tmp_path / "none.toml"])
    assert proc.returncode == 2 and "no such config file" in proc.stderr
