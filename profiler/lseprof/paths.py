"""Where lseprof finds its source tree, data files and native builds."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

# The repository root: the package lives in profiler/lseprof/ under it.
# editable from its checkout (`make demo`), so native sources are found here.
REPO_ROOT = Path(__file__).resolve().parents[2]
NATIVE_DIR = REPO_ROOT / "native"


def data_dir() -> Path:
    """Directory holding the GPT-2 vocabulary and the default corpus.

    ``$LSEPROF_DATA_DIR`` wins; otherwise ``data/`` in the checkout.
    """
    env = os.environ.get("LSEPROF_DATA_DIR")
    if env:
        return Path(env)
    return REPO_ROOT / "data"


def native_bin_dir() -> Path:
    """Directory where `lseprof build` places finished binaries."""
    env = os.environ.get("LSEPROF_NATIVE_BIN_DIR")
    if env:
        return Path(env)
    return NATIVE_DIR / "bin"


def user_data_dir() -> Path:
    """Per-user data directory (the run store lives here by default)."""
    return Path(platformdirs.user_data_dir("lseprof"))
