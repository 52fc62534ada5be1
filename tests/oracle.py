"""Reference implementations used to check the native encoder (tests, benchmarks).

tiktoken and Hugging Face `tokenizers` are development dependencies: imported
only when called.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lseprof.workloads.data import VOCAB_SHA256

# GPT-2's pre-tokenizer, as tiktoken spells it.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
_MASK = (1 << 64) - 1


def rust_lines(data: bytes) -> list[bytes]:
    """Split like Rust's `str::lines()`: at `\\n`, dropping one `\\r` before it."""
    if not data:
        return []
    pieces = data.split(b"\n")
    ended = data.endswith(b"\n")
    if ended:
        pieces.pop()
    last = len(pieces) - 1
    return [
        p[:-1] if p.endswith(b"\r") and (i < last or ended) else p for i, p in enumerate(pieces)
    ]


def fnv1a64_ids(items: Iterable[Iterable[int]]) -> str:
    """The checksum `bpe-encode` reports as `ids_fnv1a64` (native/README.md)."""
    h = FNV_OFFSET
    for ids in items:
        for token in ids:
            for byte in int(token).to_bytes(4, "little"):
                h = ((h ^ byte) * FNV_PRIME) & _MASK
        for _ in range(4):
            h = ((h ^ 0xFF) * FNV_PRIME) & _MASK
    return f"{h:016x}"


@contextmanager
def _no_tiktoken_cache() -> Iterator[None]:
    old = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""  # read our local files, never a cache or network
    try:
        yield
    finally:
        if old is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = old


def tiktoken_gpt2(vocab_dir: Path) -> Any:
    """tiktoken's GPT-2 encoding built from our local encoder.json and vocab.bpe."""
    import tiktoken
    import tiktoken.load

    with _no_tiktoken_cache():
        ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
            str(vocab_dir / "vocab.bpe"),
            str(vocab_dir / "encoder.json"),
            vocab_bpe_hash=VOCAB_SHA256["vocab.bpe"],
            encoder_json_hash=VOCAB_SHA256["encoder.json"],
        )
    return tiktoken.Encoding(
        name="gpt2-local",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 50256},
    )


def hf_gpt2(vocab_dir: Path) -> Any:
    """Hugging Face `tokenizers` GPT-2 byte-level BPE from the same files."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(
        models.BPE.from_file(str(vocab_dir / "encoder.json"), str(vocab_dir / "vocab.bpe"))
    )
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok
