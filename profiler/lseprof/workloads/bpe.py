"""The built-in workload: the native GPT-2 BPE batch encoder (`bpe-encode`).

This module turns options into the binary's command line (with qemu in front
for aarch64 builds on other hosts) and its one-line JSON report into a result.
"""

from __future__ import annotations

import json
import mmap
import subprocess
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lseprof.capture.build import Build
from lseprof.emulation.user import needs_emulation, qemu_prefix
from lseprof.errors import LseprofError

NAME = "bpe-encode"
# The variable a build that signals its measured region reads (native/src/region.rs).
REGION_MARK = b"LSEPROF_REGION_CTL"


@dataclass(frozen=True)
class EncodeOptions:
    threads: int
    corpus: Path
    vocab: Path
    batch_size: int | None = None
    iterations: int | None = None
    duration: float | None = None
    warmup: int | None = None
    window: int | None = None
    dump_ids: Path | None = None
    extra_args: tuple[str, ...] = ()  # passed through verbatim (e.g. --contend N)


@dataclass(frozen=True)
class EncodeResult:
    """The binary's JSON report (documented in native/README.md)."""

    variant: str
    target: str
    atomics: str
    threads: int
    items: int
    bytes: int
    tokens: int
    seconds: float
    mib_per_s: float
    ids_fnv1a64: str

    @classmethod
    def from_json(cls, text: str) -> EncodeResult:
        data: dict[str, Any] = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def encoder_argv(
    build: Build, options: EncodeOptions, cpu: str | None = None, perfmap: bool = False
) -> list[str]:
    """Full argv for one encoder run, `--json` included."""
    if options.threads < 1:
        raise LseprofError("--threads must be at least 1")
    argv = [
        str(build.path),
        "--threads",
        str(options.threads),
        "--corpus",
        str(options.corpus),
        "--vocab",
        str(options.vocab),
        "--json",
    ]
    optional = {
        "--batch-size": options.batch_size,
        "--iterations": options.iterations,
        "--duration": options.duration,
        "--warmup": options.warmup,
        "--window": options.window,
        "--dump-ids": options.dump_ids,
    }
    for flag, value in optional.items():
        if value is not None:
            argv += [flag, str(value)]
    argv += list(options.extra_args)
    if needs_emulation(build.target):
        return [*qemu_prefix(cpu, perfmap), *argv]
    return argv


def speaks_region(build: Build) -> bool:
    """Whether a build signals its measured region (builds made before region markers
    do not: their runs would record nothing)."""
    try:
        with (
            open(build.path, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            return data.find(REGION_MARK) >= 0
    except (OSError, ValueError):
        return False


def require_region(build: Build) -> None:
    """A one-line error for a build that cannot signal its region."""
    if not speaks_region(build):
        raise LseprofError(
            f"{build.path} was built before region markers and would record nothing; "
            f"rebuild it (lseprof build --target {build.target} --variant {build.variant}) "
            "or run with --whole-process"
        )


def run_encoder(
    build: Build, options: EncodeOptions, cpu: str | None = None, timeout: float | None = None
) -> EncodeResult:
    """Run the encoder to completion and parse its report."""
    argv = encoder_argv(build, options, cpu)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LseprofError(f"{NAME} did not finish within {timeout} s", exit_code=1) from None
    if proc.returncode != 0:
        message = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise LseprofError(f"{NAME} failed: {message[0]}", exit_code=1)
    return EncodeResult.from_json(proc.stdout.strip().splitlines()[-1])
