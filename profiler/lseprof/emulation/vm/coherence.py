"""The coherence plugin in a run of the machine (``lseprof vm run --coherence``).

qemu loads ``native/coherence/build/libcoherence.so`` (built by ``make coherence``)
with ``-plugin``: a MESI-style model of every 64-byte line over the guest's memory
accesses, counting the ownership transfers between the virtual CPUs (see
native/coherence/coherence.c). The guest runs the command through
``coh-exec`` (same build), which tells the plugin to follow the command's process
tree, then execs it. The plugin writes ``coherence.txt`` into the run's out
directory (a whole snapshot every ``flush`` seconds, marked partial, and the final
one at exit); this module writes ``coherence.json`` beside it: the command, the
machine, how the run ended, how long it took and the work the command reported.

Pinned: the plugin is built for qemu 10.0.2 (plugin API 4). Another qemu is refused
here, before booting, and the plugin refuses another API level when qemu loads it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from lseprof.emulation.vm.guest import Share
from lseprof.errors import LseprofError
from lseprof.paths import NATIVE_DIR

QEMU_PIN = "10.0.2"  # the qemu the plugin is built for (native/coherence/Makefile)
PLUGIN_API = 4
COHERENCE_FILE = "coherence.txt"
COHERENCE_META = "coherence.json"
META_FORMAT = 1
FILTERS = ("proc", "user", "all")
INTERLEAVINGS = ("rr", "lockstep", "free")
GUEST_DIR = "/mnt/lseprof-coherence"
_TAG = "lseprof-coherence"
_BUILD_HINT = "run `make coherence` in the checkout"
_WORK_TAIL = 65536  # bytes of the command's stdout kept to find its work report


@dataclass(frozen=True)
class CoherenceSettings:
    """How the plugin models a run.

    ``interleave``: how the virtual CPUs' instructions interleave, which the counts
    depend on. ``rr`` (default) runs one CPU at a time, switching every ``quantum``
    guest instructions: the same interleaving on every run and every host, at serial
    speed. ``lockstep`` runs them together but keeps them within ``quantum``
    instructions of each other. ``free`` lets them run as the host schedules qemu's
    threads: counts vary with the host's load (on a busy 2-core host two workers
    hardly overlap). ``filter``: ``proc`` counts the command's process tree,
    ``user`` all user code, ``all`` the kernel too. ``flush``: seconds between
    partial snapshots. ``top``: lines with per-instruction detail; ``lines``: lines
    listed at all. ``plugin``: another build of the plugin (tests). ``wrap``: the
    guest runs the command through ``coh-exec``; False when the command starts
    ``coh-exec`` itself in front of what is to be counted (``lseprof run --target
    aarch64-vm --coherence``: the workload, not lseprof and perf around it).
    """

    interleave: str = "rr"
    quantum: int = 100
    filter: str = "proc"
    flush: float = 5.0
    top: int = 20
    lines: int = 5000
    plugin: Path | None = None
    wrap: bool = True

    def check(self) -> None:
        if self.interleave not in INTERLEAVINGS:
            raise LseprofError(
                f"coherence interleaving {self.interleave!r}: choose one of "
                f"{', '.join(INTERLEAVINGS)}"
            )
        if self.interleave != "free" and self.quantum < 1:
            raise LseprofError(
                f"--coherence-interleave {self.interleave} needs a quantum of 1 instruction or more"
            )
        if self.filter not in FILTERS:
            raise LseprofError(
                f"coherence filter {self.filter!r}: choose one of {', '.join(FILTERS)}"
            )
        if self.top < 0 or self.lines < 1 or self.flush < 0:
            raise LseprofError(
                "coherence settings: top and flush must be 0 or more, lines 1 or more"
            )

    def options(self) -> dict[str, str]:
        """The plugin's key=value options for these settings."""
        opts = {
            "filter": self.filter,
            "flush": f"{self.flush:g}",
            "top": str(self.top),
            "lines": str(self.lines),
        }
        if self.interleave != "free":
            opts["quantum"] = str(self.quantum)
            opts["quantum_mode"] = self.interleave
        return opts

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["plugin"] = str(self.plugin) if self.plugin is not None else None
        return data


def coherence_dir() -> Path:
    """Where ``make coherence`` puts the plugin and the guest programs
    (``$LSEPROF_COHERENCE_DIR`` wins)."""
    env = os.environ.get("LSEPROF_COHERENCE_DIR")
    return Path(env) if env else NATIVE_DIR / "coherence" / "build"


def guest_program(name: str) -> str:
    """The guest path of one of the aarch64 programs built with the plugin (coh-exec,
    fs, atomic-lse, atomic-llsc, atomic-outline, handoff), in a run with coherence."""
    return f"{GUEST_DIR}/aarch64/{name}"


def qemu_full_version(qemu: str) -> str | None:
    """``10.0.2`` from ``qemu-system-aarch64 --version``, or None."""
    try:
        text = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return None
    found = re.search(r"version (\d+\.\d+\.\d+)", text)
    return found[1] if found else None


def require_coherence(qemu: str, settings: CoherenceSettings) -> Path:
    """The plugin to load, after checking everything a run with it needs: its build,
    the guest helper, and the qemu it is pinned to. One-line errors naming the fix."""
    settings.check()
    version = qemu_full_version(qemu)
    if version != QEMU_PIN:
        raise LseprofError(
            f"--coherence needs qemu-system-aarch64 {QEMU_PIN} (the plugin is built for its "
            f"plugin API {PLUGIN_API}), but {qemu} is {version or 'of unknown version'}; "
            "install qemu-system-arm 10.0.2 from bookworm-backports "
            "(sudo bash scripts/install-system.sh)"
        )
    plugin = settings.plugin or coherence_dir() / "libcoherence.so"
    helper = coherence_dir() / "aarch64" / "coh-exec"
    for path in (plugin, helper):
        if not path.is_file():
            raise LseprofError(
                f"the coherence plugin is not built ({path} is missing); {_BUILD_HINT}"
            )
    return plugin


def coherence_plugin_args(plugin: Path, out_file: Path, settings: CoherenceSettings) -> list[str]:
    """qemu's ``-plugin`` option loading ``plugin`` with these settings, writing
    ``out_file`` (a host path: the plugin runs in qemu's process)."""

    def quoted(value: str) -> str:
        return value.replace(",", ",,")

    opts = ",".join(f"{k}={quoted(v)}" for k, v in settings.options().items())
    return ["-plugin", f"{quoted(str(plugin))},out={quoted(str(out_file))},{opts}"]


def coherence_share() -> Share:
    """The build directory, read-only at /mnt/lseprof-coherence: coh-exec and the test
    programs, wherever the build directory is."""
    return Share(coherence_dir().resolve(), _TAG, False, GUEST_DIR)


def guest_argv(argv: Sequence[str]) -> list[str]:
    """The command as the guest runs it with the plugin following it."""
    return [guest_program("coh-exec"), *argv]


class StdoutTail:
    """A binary sink that passes the command's stdout on and keeps its end, where a
    workload prints its report (``{"items": ..., "bytes": ...}``)."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.tail = bytearray()

    def write(self, data: bytes) -> int:
        self.tail.extend(data)
        del self.tail[:-_WORK_TAIL]
        return self.sink.write(data)

    def flush(self) -> None:
        self.sink.flush()

    def work(self) -> dict[str, float]:
        """``bytes`` and ``items`` of the last JSON object line that has either (the
        shape of the built-in encoder's ``--json`` and of the test programs)."""
        for line in reversed(self.tail.decode(errors="replace").splitlines()):
            line = line.strip()
            if not (line.startswith("{") and line.endswith("}")):
                continue
            try:
                report = json.loads(line)
            except ValueError:
                continue
            work = reported_work(report)
            if work:
                return work
        return {}


def reported_work(report: Any) -> dict[str, float]:
    """``bytes`` and ``items`` of a workload's JSON report (the built-in encoder's
    ``--json``, the test programs'), those it has."""
    if not isinstance(report, dict):
        return {}
    return {
        key: float(report[key])
        for key in ("bytes", "items")
        if isinstance(report.get(key), int | float) and not isinstance(report[key], bool)
    }


def write_meta(out_dir: Path, facts: dict[str, Any]) -> Path:
    """``coherence.json`` beside the plugin's file (written whole, then renamed)."""
    path = out_dir / COHERENCE_META
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"format": META_FORMAT, **facts}, indent=2) + "\n")
    tmp.replace(path)
    return path


def move_coherence(out_dir: Path, run_dir: Path, facts: dict[str, Any]) -> bool:
    """Move one boot's coherence.txt and coherence.json from ``out_dir`` into
    ``run_dir``, the directory of the one run that boot recorded, the meta updated
    with ``facts`` (the run's own argv and work). False when the boot left none."""
    found = out_dir / COHERENCE_FILE
    if not found.is_file():
        return False
    meta_path = out_dir / COHERENCE_META
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = {}
    run_dir.mkdir(parents=True, exist_ok=True)
    found.replace(run_dir / COHERENCE_FILE)
    meta = {k: v for k, v in meta.items() if k != "format"} if isinstance(meta, dict) else {}
    write_meta(run_dir, {**meta, **facts})
    meta_path.unlink(missing_ok=True)
    return True


def share_map(shares: Sequence[Share], image_root: Path) -> dict[str, str]:
    """Guest path prefixes and the host directories behind them (the image's root
    file system for the rest): the report names the guest's programs with it."""
    mapping = {share.guest: str(share.host) for share in shares}
    mapping["/"] = str(image_root)
    return mapping
