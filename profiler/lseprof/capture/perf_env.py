"""What this machine's perf can do: version, permissions, the sampling event.

Detected, never assumed: VMs and containers often lack hardware PMU events, so
`cycles` is used where `perf stat` can count it and `cpu-clock` otherwise, and
the chosen event is reported with every result.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from lseprof.capture.perf_cli import perf_argv, run_perf
from lseprof.errors import LseprofError
from lseprof.results import VM_HOSTNAME

PARANOID_PATH = "/proc/sys/kernel/perf_event_paranoid"
PREFERRED_EVENTS = ("cycles", "cpu-clock")


def find_perf() -> str:
    """Path of the perf binary (``$LSEPROF_PERF`` wins), or a user error naming the package."""
    perf = os.environ.get("LSEPROF_PERF") or shutil.which("perf")
    if perf is None or not os.access(perf, os.X_OK):
        raise LseprofError(
            "perf is not installed; install it (Debian: apt-get install linux-perf, "
            "Ubuntu: apt-get install linux-tools-$(uname -r), Amazon Linux: yum install perf)"
        )
    return perf


@functools.cache
def perf_version(perf: str | None = None) -> str:
    """`perf --version`'s version number, e.g. '6.1.187'."""
    binary = perf or find_perf()
    text = run_perf(perf_argv(binary, "--version"), "perf --version", timeout=30, text=True).stdout
    match = re.search(r"(\d+\.\d+(?:\.\d+)?)", text)
    return match[1] if match else text.strip() or "unknown"


def paranoid_level() -> int | None:
    try:
        with open(PARANOID_PATH) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def check_recording_allowed(level: int | None = None) -> str | None:
    """None if perf may record here; else a one-line explanation with the fix.

    Level 2 lets unprivileged users profile their own processes in user space;
    3 and above (Debian/Android patches) forbid unprivileged perf entirely.
    """
    current = paranoid_level() if level is None else level
    if current is None or os.geteuid() == 0 or current <= 2:
        return None
    return (
        f"kernel.perf_event_paranoid is {current}, which forbids perf for normal users; run "
        "`sudo sysctl kernel.perf_event_paranoid=2` (or run lseprof as root)"
    )


def kernel_samples_visible(level: int | None = None) -> bool:
    current = paranoid_level() if level is None else level
    return os.geteuid() == 0 or (current is not None and current < 2)


@functools.cache
def event_supported(event: str, perf: str | None = None) -> bool:
    """Whether `perf stat` can count `event` on this machine."""
    binary = perf or find_perf()
    try:
        proc = run_perf(
            perf_argv(binary, "stat", "-x", ",", "-e", event, "true"),
            "perf stat",
            timeout=30,
            text=True,
        )
    except LseprofError:
        return False
    if proc.returncode != 0:
        return False
    for line in proc.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith(event):
            return not fields[0].startswith("<not")
    return False


def choose_event(requested: str | None = None) -> str:
    """The sampling event: the user's if given (checked), else cycles, else cpu-clock."""
    if requested:
        if not event_supported(requested):
            raise LseprofError(
                f"perf cannot count event {requested!r} on this machine; try --event cpu-clock "
                "(`perf list` shows what exists)"
            )
        return requested
    for event in PREFERRED_EVENTS:
        if event_supported(event):
            return event
    raise LseprofError(
        "perf can count neither cycles nor cpu-clock here; check `perf stat true` and "
        "kernel.perf_event_paranoid"
    )


@dataclass(frozen=True)
class HostFacts:
    arch: str
    cpu_model: str
    cores: int
    kernel: str
    perf_version: str
    lse: bool | None = None  # aarch64: the CPU has LSE atomics (FEAT_LSE); else None
    # A virtual CPU (lseprof vm's machine): what it is; its times are not hardware's.
    virtual: str | None = None

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def cpu_model() -> str:
    """The CPU's name: x86 'model name', or aarch64 implementer/part ids."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    for key in ("model name", "Model", "Hardware"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match[1].strip()
    implementer = re.search(r"^CPU implementer\s*:\s*(\S+)", text, re.MULTILINE)
    part = re.search(r"^CPU part\s*:\s*(\S+)", text, re.MULTILINE)
    if implementer and part:
        return f"implementer {implementer[1]} part {part[1]}"
    return "unknown"


def host_facts() -> HostFacts:
    uname = os.uname()
    try:
        version = perf_version()
    except LseprofError:
        version = "missing"
    virtual = (
        "qemu-system-aarch64 (TCG): a virtual CPU, not hardware timing"
        if socket.gethostname() == VM_HOSTNAME
        else None
    )
    return HostFacts(
        uname.machine,
        cpu_model(),
        os.cpu_count() or 1,
        uname.release,
        version,
        cpu_has_lse() if uname.machine in ("aarch64", "arm64") else None,
        virtual,
    )


def cpu_has_lse() -> bool:
    """Whether this aarch64 CPU has LSE atomics ("atomics" among its features)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(
        line.startswith("Features") and "atomics" in line.split(":", 1)[-1].split()
        for line in text.splitlines()
    )
