"""Bad input to the encoder binary and to `lseprof build`: one line, exit 2."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from lseprof.workloads.data import DataFiles
from tests.helpers import LSEPROF, build_for, run

VARIANTS = ("rayon", "window")


def assert_one_line_error(proc: object, *needles: str) -> None:
    stderr = proc.stderr  # type: ignore[attr-defined]
    assert proc.returncode == 2, stderr  # type: ignore[attr-defined]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "panicked" not in stderr and "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture()
def good(tmp_path: Path, data: DataFiles) -> dict[str, Path]:
    corpus = tmp_path / "ok.txt"
    corpus.write_text("hello world\n")
    return {"corpus": corpus, "vocab": data.vocab_dir}


@pytest.mark.parametrize("variant", VARIANTS)
def test_invalid_utf8_line_is_an_error_not_a_crash(
    variant: str, tmp_path: Path, good: dict[str, Path]
) -> None:
    corpus = tmp_path / "bad.txt"
    lines = [b"fine line %d" % i for i in range(40)]
    lines[17] = b"broken \xff\xfe here"
    corpus.write_bytes(b"\n".join(lines) + b"\n")
    binary = build_for("host", variant).path
    for threads in ("1", "4", "88"):
        proc = run(
            [
                binary,
                "--threads",
                threads,
                "--corpus",
                corpus,
                "--vocab",
                good["vocab"],
                "--batch-size",
                "7",
            ]
        )
        assert_one_line_error(proc, "line 18", "UTF-8")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--threads", "0"], "threads"),
        (["--threads", "many"], "threads"),
        (["--threads", "2", "--frobnicate"], "--frobnicate"),
        (["--threads", "2", "--batch-size", "0"], "batch"),
    ],
)
def test_bad_flags(variant: str, args: list[str], needle: str, good: dict[str, Path]) -> None:
    binary = build_for("host", variant).path
    proc = run([binary, *args, "--corpus", good["corpus"], "--vocab", good["vocab"]])
    assert_one_line_error(proc, needle)


@pytest.mark.parametrize("variant", VARIANTS)
def test_missing_required_flag(variant: str, good: dict[str, Path]) -> None:
    proc = run([build_for("host", variant).path, "--threads", "2", "--vocab", good["vocab"]])
    assert_one_line_error(proc, "--corpus")


@pytest.mark.parametrize("variant", VARIANTS)
def test_missing_corpus_and_vocab(variant: str, tmp_path: Path, good: dict[str, Path]) -> None:
    binary = build_for("host", variant).path
    proc = run(
        [binary, "--threads", "2", "--corpus", tmp_path / "nope.txt", "--vocab", good["vocab"]]
    )
    assert_one_line_error(proc, "nope.txt")
    proc = run([binary, "--threads", "2", "--corpus", good["corpus"], "--vocab", tmp_path])
    assert_one_line_error(proc, "encoder.json")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    ("encoder", "merges"),
    [
        ('{"a": 1', None),  # truncated JSON
        ('["not", "a", "map"]', None),
        (None, "#version: 0.2\nonly-one-field\n"),
        (None, "#version: 0.2\nzz qq\n"),  # merge of tokens absent from the vocabulary
    ],
)
def test_malformed_vocab(
    variant: str, encoder: str | None, merges: str | None, tmp_path: Path, good: dict[str, Path]
) -> None:
    vocab = tmp_path / "vocab"
    shutil.copytree(good["vocab"], vocab)
    if encoder is not None:
        (vocab / "encoder.json").write_text(encoder)
    if merges is not None:
        (vocab / "vocab.bpe").write_text(merges)
    proc = run(
        [
            build_for("host", variant).path,
            "--threads",
            "2",
            "--corpus",
            good["corpus"],
            "--vocab",
            vocab,
        ]
    )
    assert_one_line_error(proc, "encoder.json" if encoder is not None else "vocab.bpe")


def test_build_list_json_names_every_binary() -> None:
    proc = run([LSEPROF, "build", "--list", "--json"])
    assert proc.returncode == 0, proc.stderr
    listed = {(b["target"], b["variant"]): b for b in json.loads(proc.stdout)}
    assert set(listed) == {(t, v) for t in ("host", "aarch64", "aarch64-lse") for v in VARIANTS}
    assert listed[("aarch64", "rayon")]["atomics"] == "outline"
    assert listed[("aarch64-lse", "window")]["atomics"] == "lse"
    for entry in listed.values():
        assert Path(entry["path"]).is_file()


def test_build_reports_a_missing_cargo_in_one_line() -> None:
    env = {**os.environ, "LSEPROF_CARGO": "/nonexistent/cargo"}
    proc = run([LSEPROF, "build", "--target", "host", "--variant", "rayon"], env=env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "/nonexistent/cargo not found" in proc.stderr


@pytest.mark.parametrize("args", [["--target", "sparc"], ["--variant", "openmp"]])
def test_build_rejects_unknown_names(args: list[str]) -> None:
    proc = run([LSEPROF, "build", *args])
    assert proc.returncode == 2
    # The message names the bad value, not just "unknown".
    assert f"unknown {args[0][2:]} {args[1]!r}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_data_path_reports_missing_data(tmp_path: Path) -> None:
    proc = run([LSEPROF, "data", "path"], env={**os.environ, "LSEPROF_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 2
    assert "lseprof data fetch" in proc.stderr and "Traceback" not in proc.stderr
