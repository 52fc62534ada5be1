"""The native encoder against tiktoken: same ids, every variant and thread count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lseprof.workloads.bpe import EncodeOptions, encoder_argv, run_encoder
from lseprof.workloads.data import DataFiles
from tests.helpers import build_for, nasty_bytes
from tests.oracle import fnv1a64_ids, rust_lines

VARIANTS = ("rayon", "window")
THREADS = (1, 2, 8, 88)


@pytest.fixture(scope="session")
def corpus_checksum(tiktoken_enc: Any, corpus_lines: list[str]) -> str:
    return fnv1a64_ids(tiktoken_enc.encode_ordinary_batch(corpus_lines, num_threads=2))


def read_dump(path: Path) -> list[list[int]]:
    return [[int(t) for t in line.split()] for line in path.read_text().split("\n")[:-1]]


def first_difference(ours: list[list[int]], theirs: list[list[int]]) -> str:
    if len(ours) != len(theirs):
        return f"{len(ours)} items vs tiktoken's {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a != b:
            return f"item {i + 1}: {a[:12]}... vs tiktoken {b[:12]}..."
    return ""


def test_checksum_definition_matches_the_binary(
    tmp_path: Path, data: DataFiles, tiktoken_enc: Any
) -> None:
    """Python's FNV-1a over tiktoken ids equals the binary's ids_fnv1a64 on the same text."""
    corpus = tmp_path / "small.txt"
    corpus.write_bytes(b"Hello world\n\nIt's a test.\r\nLast line")
    result = run_encoder(build_for("host", "rayon"), EncodeOptions(1, corpus, data.vocab_dir))
    lines = [line.decode() for line in rust_lines(corpus.read_bytes())]
    assert result.items == 4
    assert result.ids_fnv1a64 == fnv1a64_ids(tiktoken_enc.encode_ordinary_batch(lines))


def test_dump_ids_match_tiktoken_on_default_corpus(
    tmp_path: Path, data: DataFiles, tiktoken_enc: Any, corpus_lines: list[str]
) -> None:
    dump = tmp_path / "ids.txt"
    run_encoder(
        build_for("host", "window"), EncodeOptions(2, data.corpus, data.vocab_dir, dump_ids=dump)
    )
    theirs = tiktoken_enc.encode_ordinary_batch(corpus_lines, num_threads=2)
    assert first_difference(read_dump(dump), theirs) == ""


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_default_corpus_checksum(
    variant: str, threads: int, data: DataFiles, corpus_checksum: str, corpus_lines: list[str]
) -> None:
    result = run_encoder(
        build_for("host", variant), EncodeOptions(threads, data.corpus, data.vocab_dir)
    )
    assert (result.variant, result.threads, result.items) == (variant, threads, len(corpus_lines))
    assert result.bytes == sum(len(line.encode()) for line in corpus_lines)
    assert result.ids_fnv1a64 == corpus_checksum


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_nasty_text_matches_tiktoken(
    variant: str, threads: int, tmp_path: Path, data: DataFiles, tiktoken_enc: Any
) -> None:
    corpus = tmp_path / "nasty.txt"
    corpus.write_bytes(nasty_bytes())
    dump = tmp_path / "ids.txt"
    result = run_encoder(
        build_for("host", variant),
        EncodeOptions(threads, corpus, data.vocab_dir, batch_size=3, dump_ids=dump),
    )
    lines = [line.decode() for line in rust_lines(corpus.read_bytes())]
    theirs = tiktoken_enc.encode_ordinary_batch(lines)
    assert first_difference(read_dump(dump), theirs) == ""
    assert result.ids_fnv1a64 == fnv1a64_ids(theirs)


@pytest.mark.parametrize("threads", (1, 3, 16))
def test_iterations_and_warmup_count_every_pass(
    threads: int, tmp_path: Path, data: DataFiles
) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(b"one line\ntwo lines\nthree\n")
    once = run_encoder(build_for("host", "window"), EncodeOptions(threads, corpus, data.vocab_dir))
    thrice = run_encoder(
        build_for("host", "window"),
        EncodeOptions(threads, corpus, data.vocab_dir, iterations=3, warmup=2),
    )
    assert (thrice.items, thrice.bytes, thrice.tokens) == (
        3 * once.items,
        3 * once.bytes,
        3 * once.tokens,
    )
    assert thrice.ids_fnv1a64 == once.ids_fnv1a64


def test_duration_runs_at_least_that_long(tmp_path: Path, data: DataFiles) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(b"a short corpus that is cycled\n" * 50)
    result = run_encoder(
        build_for("host", "rayon"), EncodeOptions(2, corpus, data.vocab_dir, duration=0.3)
    )
    assert result.seconds >= 0.3
    assert result.items > 50 and result.mib_per_s > 0


@pytest.mark.qemu
@pytest.mark.parametrize("target", ("aarch64", "aarch64-lse"))
@pytest.mark.parametrize("variant", VARIANTS)
def test_aarch64_under_qemu_matches(
    target: str,
    variant: str,
    tmp_path: Path,
    data: DataFiles,
    tiktoken_enc: Any,
    corpus_lines: list[str],
) -> None:
    corpus = tmp_path / "slice.txt"
    text = "\n".join(corpus_lines[:1500]) + "\n"
    corpus.write_text(text + nasty_bytes().decode())
    lines = [line.decode() for line in rust_lines(corpus.read_bytes())]
    build = build_for(target, variant)
    argv = encoder_argv(build, EncodeOptions(2, corpus, data.vocab_dir))
    assert argv[0].endswith("qemu-aarch64") or build.target == "host"
    result = run_encoder(build, EncodeOptions(2, corpus, data.vocab_dir))
    expected_atomics = "lse" if target == "aarch64-lse" else "outline"
    assert (result.target, result.atomics) == (target, expected_atomics)
    assert result.ids_fnv1a64 == fnv1a64_ids(tiktoken_enc.encode_ordinary_batch(lines))
