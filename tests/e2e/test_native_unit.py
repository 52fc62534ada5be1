"""Runs the native encoder's Rust unit tests (`cargo test`) for both scheduler features.

The flags are those `lseprof build` uses for the host target, so the test harness
shares the release dependency builds in native/target/host with the real binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import missing_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
NATIVE_DIR = REPO_ROOT / "native"
CARGO = Path("/usr/bin/cargo")
RUSTC = Path("/usr/bin/rustc")
# Debian's packaged crates: used offline when present (crates.io otherwise).
DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")


def _cargo_test_command(feature: str) -> list[str]:
    cmd = [
        str(CARGO),
        "test",
        "--release",
        "--target-dir",
        "target/host",
        "--no-default-features",
        "--features",
        feature,
    ]
    if DEBIAN_REGISTRY.is_dir():
        cmd += [
            "--config",
            'source.crates-io.replace-with="debian"',
            "--config",
            f'source.debian.directory="{DEBIAN_REGISTRY}"',
        ]
    return cmd


@pytest.mark.parametrize("feature", ["rayon", "window"])
def test_cargo_unit_tests_pass(feature: str) -> None:
    if not CARGO.exists():
        missing_tool(str(CARGO), "make system installs Debian's cargo")
    if not (NATIVE_DIR / "Cargo.toml").exists():
        pytest.fail(f"{NATIVE_DIR / 'Cargo.toml'} is missing")
    env = dict(os.environ)
    env["LSEPROF_TARGET"] = "host"
    env["RUSTFLAGS"] = "-C force-frame-pointers=yes"
    if RUSTC.exists():
        env["RUSTC"] = str(RUSTC)
    elif shutil.which("rustc") is None:
        missing_tool("rustc", "make system installs Debian's rustc")
    proc = subprocess.run(
        _cargo_test_command(feature),
        cwd=NATIVE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"cargo test --features {feature} failed:\n{output[-8000:]}"
    results = re.findall(r"test result: ok\. (\d+) passed; (\d+) failed", output)
    assert results, f"no test summary in cargo output:\n{output[-4000:]}"
    assert sum(int(passed) for passed, _ in results) > 0
    assert all(int(failed) == 0 for _, failed in results)
