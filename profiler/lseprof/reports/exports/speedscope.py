"""`lseprof report --format speedscope -o FILE.json`: whole stacks for speedscope.

speedscope's file format (``https://www.speedscope.app/file-format-schema.json``):
shared frames, then one "sampled" profile whose samples are stacks of frame
indices from the root to the leaf, each with a weight (here: the samples' periods,
as the report's shares are; nanoseconds for cpu-clock and task-clock). The stacks
are lseprof's folded stacks (:mod:`lseprof.analysis.stacks`: whole callchains,
guest code named, JIT frames folded), the first frame of each the command.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lseprof.errors import LseprofError
from lseprof.version import __version__

SCHEMA = "https://www.speedscope.app/file-format-schema.json"
# Events whose period is a time in nanoseconds: speedscope then shows times.
TIME_EVENTS = ("cpu-clock", "task-clock")


def build_speedscope(stacks: Mapping[str, float], name: str, event: str | None) -> dict[str, Any]:
    """The document; `stacks` maps "comm;root;...;leaf" to its weight (the samples'
    periods, or a pasted report's percent)."""
    frames: list[dict[str, str]] = []
    index: dict[str, int] = {}
    samples: list[list[int]] = []
    weights: list[float] = []
    for stack, count in sorted(stacks.items(), key=lambda kv: kv[0]):
        ids = []
        for frame in stack.split(";"):
            if frame not in index:
                index[frame] = len(frames)
                frames.append({"name": frame})
            ids.append(index[frame])
        samples.append(ids)
        weights.append(count)
    total = sum(weights)
    return {
        "$schema": SCHEMA,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": f"{name} ({event or 'samples'})",
                "unit": "nanoseconds" if (event or "").split(":")[0] in TIME_EVENTS else "none",
                "startValue": 0,
                "endValue": total,
                "samples": samples,
                "weights": weights,
            }
        ],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": f"lseprof {__version__}",
    }


def write_speedscope(path: Path, document: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(document, separators=(",", ":")))
    except OSError as exc:
        raise LseprofError(f"cannot write {path}: {exc.strerror}; pick another path") from None
