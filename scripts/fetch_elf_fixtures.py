"""Fetch real aarch64 ELF files for the `lseprof inspect` tests and benchmark.

Each fixture is one shared object from a pinned manylinux aarch64 wheel on
PyPI, checked against its sha256. Wheels are kept under
``data/elf-fixtures/wheels`` so a second run downloads nothing; the .so files
are extracted next to them and ``data/elf-fixtures/manifest.json`` records which
file plays which role. Nothing here is committed (``/data/`` is git-ignored).

Roles:
  symbols   a Rust extension whose .symtab names the outline-atomic helpers
  stripped  a Rust extension without .symtab: helpers must be found by fingerprint
  large     a ~10 MB shared object for the inspect benchmark
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lseprof.workloads.data import sha256_file

REPO = Path(__file__).resolve().parent.parent
FIXTURE_DIR = REPO / "data" / "elf-fixtures"
WHEEL_DIR = FIXTURE_DIR / "wheels"
MANIFEST = FIXTURE_DIR / "manifest.json"


@dataclass(frozen=True)
class Fixture:
    role: str
    project: str
    version: str
    wheel: str
    sha256: str
    member: str  # the .so inside the wheel
    why: str


FIXTURES = (
    Fixture(
        "symbols",
        "jiter",
        "0.19.0",
        "jiter-0.19.0-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl",
        "da606acf39d7d2f2a56bfbb48a0b36f25da1d22d801cd0c9aecfce2f791e3239",
        "jiter/jiter.cpython-311-aarch64-linux-gnu.so",
        "Rust, 0.8 MB, keeps .symtab with 19 __aarch64_* helpers",
    ),
    Fixture(
        "stripped",
        "pydantic-core",
        "2.50.4",
        "pydantic_core-2.50.4-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl",
        "30d4dc35bc0eea52202a90b3820445ee0072c820241bfa710a623a078c9b267b",
        "pydantic_core/_pydantic_core.cpython-311-aarch64-linux-gnu.so",
        "Rust, 4.5 MB, no .symtab: helpers only findable by their code shape",
    ),
    Fixture(
        "large",
        "tokenizers",
        "0.23.3",
        "tokenizers-0.23.3-cp310-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "ec82e80e65a862275b97c3d90b7a523df8d9519ee48aeb4e9625b2cc909274e0",
        "tokenizers/tokenizers.abi3.so",
        "Rust, 11 MB with .symtab: the benchmark's large object",
    ),
)


def _valid(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_file(path) == sha256


def _download(fx: Fixture) -> Path:
    """The verified wheel, downloaded with pip only if it is not already here."""
    target = WHEEL_DIR / fx.wheel
    if _valid(target, fx.sha256):
        return target
    WHEEL_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WHEEL_DIR) as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            "manylinux2014_aarch64",
            "--python-version",
            "3.11",
            f"{fx.project}=={fx.version}",
            "-d",
            tmp,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        got = Path(tmp) / fx.wheel
        if done.returncode != 0 or not got.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise SystemExit(
                f"fetch_elf_fixtures: pip could not download {fx.project}=={fx.version}: {tail[0]}"
            )
        actual = sha256_file(got)
        if actual != fx.sha256:
            raise SystemExit(
                f"fetch_elf_fixtures: {fx.wheel} has sha256 {actual}, "
                f"expected {fx.sha256}; refusing to use it"
            )
        got.replace(target)
    return target


def _extract(fx: Fixture, wheel: Path) -> Path:
    """The .so from the wheel, extracted only if missing or of the wrong size."""
    dest = FIXTURE_DIR / fx.project / Path(fx.member).name
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo(fx.member)
        if dest.is_file() and dest.stat().st_size == info.file_size:
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_suffix(dest.suffix + ".part")
        partial.write_bytes(zf.read(info))
        partial.replace(dest)
    return dest


def main() -> int:
    entries = []
    for fx in FIXTURES:
        so = _extract(fx, _download(fx))
        entries.append(
            {
                "role": fx.role,
                "project": fx.project,
                "version": fx.version,
                "path": str(so.relative_to(FIXTURE_DIR)),
                "bytes": so.stat().st_size,
                "why": fx.why,
            }
        )
        print(
            f"{fx.role:9} {fx.project} {fx.version}: {so.relative_to(REPO)} "
            f"({so.stat().st_size / 1e6:.1f} MB) - {fx.why}"
        )
    MANIFEST.write_text(json.dumps(entries, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
