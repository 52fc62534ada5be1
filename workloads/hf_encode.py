"""Driver of the `hf-tokenizers` workload: upstream Hugging Face `tokenizers`
encoding a corpus in batches through `encode_batch`, reporting the same one-line
JSON as the native `bpe-encode` (see native/README.md).

It runs under whichever Python the workload picks (the venv's on the host, the
sysroot's aarch64 CPython under qemu) with the pinned wheel on PYTHONPATH, so it
imports nothing of lseprof and only the standard library besides `tokenizers`.
Threads come from RAYON_NUM_THREADS, which `tokenizers` hands to Rayon.

The timed region mirrors the native encoder's (native/src/run.rs): batches of
1,000 lines in corpus order, round and round until --duration seconds have passed,
each batch's result dropped by the calling thread inside the region, which is
signalled to a profiler that asks (``lseprof_region.py`` beside this file: lseprof
records the region only, docs/time.md). With
--checksum the first full pass is also hashed like the native ids_fnv1a64 (FNV-1a
over each id as 4 little-endian bytes, then ff ff ff ff per line); hashing in pure
Python is slow, so runs leave it out (ids_fnv1a64 is then "").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from lseprof_region import Region, RegionError

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK = (1 << 64) - 1


def lines_of(data: bytes) -> list[str]:
    """Lines as Rust's str::lines() gives them: split at \\n, one \\r before it dropped."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p[:-1].decode() if p.endswith(b"\r") else p.decode() for p in parts]


def fnv_items(h: int, batch: list[list[int]]) -> int:
    for ids in batch:
        for i in ids:
            for b in i.to_bytes(4, "little"):
                h = ((h ^ b) * FNV_PRIME) & MASK
        for _ in range(4):
            h = ((h ^ 0xFF) * FNV_PRIME) & MASK
    return h


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--target", default="host")
    ap.add_argument("--checksum", action="store_true")
    args = ap.parse_args()
    from tokenizers import Tokenizer, models, pre_tokenizers

    region = Region.from_env()  # before any work: a wrong setting fails fast

    tok = Tokenizer(
        models.BPE.from_file(
            os.path.join(args.vocab, "encoder.json"), os.path.join(args.vocab, "vocab.bpe")
        )
    )
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    with open(args.corpus, "rb") as handle:
        lines = lines_of(handle.read())
    if not lines:
        print(
            f"corpus {args.corpus} has no lines; give a corpus with at least one line",
            file=sys.stderr,
        )
        return 2
    batches = [lines[i : i + args.batch_size] for i in range(0, len(lines), args.batch_size)]
    sizes = [sum(len(s.encode()) for s in b) for b in batches]
    items = nbytes = tokens = done = 0
    cursor = 0
    region.enable()
    start = time.perf_counter()
    while True:
        result = tok.encode_batch(batches[cursor])
        items += len(batches[cursor])
        nbytes += sizes[cursor]
        tokens += sum(len(e.ids) for e in result)
        del result
        done += 1
        cursor = (cursor + 1) % len(batches)
        elapsed = time.perf_counter() - start
        if args.duration is None and done == len(batches):
            break
        if args.duration is not None and elapsed >= args.duration:
            break
    seconds = time.perf_counter() - start
    region.disable()
    checksum = ""
    if args.checksum:
        h = FNV_OFFSET
        for batch in batches:
            h = fnv_items(h, [e.ids for e in tok.encode_batch(batch)])
        checksum = f"{h:016x}"
    threads = int(os.environ.get("RAYON_NUM_THREADS", "0") or 0) or os.cpu_count() or 1
    machine = os.uname().machine
    print(
        json.dumps(
            {
                "variant": "upstream",
                "target": args.target,
                "atomics": "outline" if machine == "aarch64" else "native",
                "threads": threads,
                "items": items,
                "bytes": nbytes,
                "tokens": tokens,
                "seconds": seconds,
                "mib_per_s": nbytes / 1048576.0 / seconds if seconds > 0 else 0.0,
                "ids_fnv1a64": checksum,
                "batch_size": args.batch_size,
                "batches": done,
                "passes": done / len(batches),
                "tokenizers": __import__("tokenizers").__version__,
            }
        )
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RegionError as exc:
        print(f"hf_encode: error: {exc}", file=sys.stderr)
        sys.exit(2)
