"""perf's control FIFOs, and the measured region of a workload.

``perf record -D -1 --control fifo:CTL,ACK`` starts with its events disabled, reads
commands (``enable``, ``disable``) from the FIFO CTL and answers ``ack`` on the FIFO
ACK once the events are on or off. lseprof records a run's measured region with it:

* **markers** (the built-in workloads, ``lseprof run --region-markers``): the workload
  finds two FIFO paths in ``LSEPROF_REGION_CTL`` and ``LSEPROF_REGION_ACK`` and speaks
  perf's own protocol on them: it writes ``enable\\n`` when its measured region begins
  and ``disable\\n`` when it ends, and after each waits for the line ``ack`` (perf
  sends a NUL after it, which starts the next answer: NULs are to be skipped). lseprof
  (:class:`RegionRelay`) passes each command on to every perf of the run (the sampling
  ``perf record`` and the scheduler's ``perf record -a`` of ``--sched``), answers once
  all of them have, and notes the times. A program that opens neither FIFO is recorded
  with nothing in it, and the run says so.
* **delay** (``--delay S``): lseprof itself sends ``enable`` S seconds after the start.

Helpers that speak the protocol: ``workloads/lseprof_region.h`` (C),
``native/src/region.rs`` (Rust), ``workloads/lseprof_region.py`` (Python); the
protocol is documented in docs/time.md. Since it is perf's own, a program so marked
also works under a plain ``perf record -D -1 --control fifo:CTL,ACK`` with the two
variables set to perf's FIFOs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from lseprof.errors import LseprofError
from lseprof.results import Region

CTL_ENV = "LSEPROF_REGION_CTL"
ACK_ENV = "LSEPROF_REGION_ACK"
MARKERS, DELAY, WHOLE = "markers", "delay", "whole"
COMMANDS = (b"enable", b"disable")
ACK_TIMEOUT_S = 30.0


def make_fifos(directory: Path, name: str) -> tuple[Path, Path]:
    """A command FIFO and an answer FIFO, ``NAME.ctl`` and ``NAME.ack``, in `directory`."""
    ctl, ack = directory / f"{name}.ctl", directory / f"{name}.ack"
    for path in (ctl, ack):
        os.mkfifo(path)
    return ctl, ack


def control_args(ctl: Path, ack: Path) -> list[str]:
    """perf record's options for events that start disabled and obey `ctl`."""
    return ["-D", "-1", "--control", f"fifo:{ctl},{ack}"]


def unblock(*fifos: Path) -> None:
    """Open both ends of each FIFO without blocking (and close them), so that a thread
    stuck in opening one, for reading or for writing, returns."""
    for path in fifos:
        for flags in (os.O_RDONLY, os.O_WRONLY):  # O_WRONLY fails (ENXIO) without a reader
            with contextlib.suppress(OSError):
                os.close(os.open(path, flags | os.O_NONBLOCK))


def release(worker: threading.Thread, *fifos: Path, timeout: float = 5.0) -> None:
    """Unblock `worker` until it ends: it may open the FIFOs one after the other."""
    deadline = time.monotonic() + timeout
    while worker.is_alive() and time.monotonic() < deadline:
        unblock(*fifos)
        worker.join(0.02)


@dataclass
class PerfControl:
    """One perf's control FIFOs, from lseprof's side: commands out, answers in."""

    ctl: Path
    ack: Path
    proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None = None
    _out: IO[bytes] | None = field(default=None, repr=False)
    _in: IO[bytes] | None = field(default=None, repr=False)

    def connect(self, timeout: float = ACK_TIMEOUT_S) -> bool:
        """Open both FIFOs (perf opens its ends as it starts); False if perf exits or
        `timeout` passes first. True at once when they are open already."""
        if self._out is not None:
            return True
        opened: list[IO[bytes]] = []

        def talk() -> None:
            # Opening a FIFO blocks until the other side opens it: done in a thread, so
            # a perf that died early cannot hang lseprof.
            with contextlib.suppress(OSError):
                opened.append(open(self.ctl, "wb", buffering=0))  # noqa: SIM115
                opened.append(open(self.ack, "rb", buffering=0))  # noqa: SIM115

        worker = threading.Thread(target=talk, daemon=True)
        worker.start()
        deadline = time.monotonic() + timeout
        while worker.is_alive() and time.monotonic() < deadline and self._alive():
            worker.join(0.05)
        if len(opened) < 2 or worker.is_alive():
            release(worker, self.ctl, self.ack)
            for handle in opened:
                handle.close()
            return False
        self._out, self._in = opened
        return True

    def _alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None

    def send(self, command: bytes) -> bool:
        """Send one command and wait for perf's ``ack``; False when perf is gone."""
        if self._out is None or self._in is None:
            return False
        try:
            self._out.write(command + b"\n")
            # perf writes "ack\n" and the string's NUL: it starts the next line read.
            return self._in.readline().strip(b"\0 \t\r\n") == b"ack"
        except OSError:
            return False

    def close(self) -> None:
        for handle in (self._out, self._in):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        self._out = self._in = None


@dataclass
class RegionPlan:
    """How a run's region is marked: ``markers`` (the workload signals it) or
    ``delay`` (on after `delay` seconds)."""

    mode: str
    delay: float = 0.0


class RegionRelay:
    """Turns perf's events on and off for a run's region (see the module docstring).

    :meth:`start` runs a thread that connects to every perf's control FIFOs, then
    either waits `delay` seconds and enables them, or relays the workload's commands
    from ``workload_ctl`` (answering on ``workload_ack``); :meth:`stop` ends it and
    gives the :class:`~lseprof.results.Region`, in seconds after :meth:`start`.
    """

    def __init__(
        self,
        plan: RegionPlan,
        perfs: list[PerfControl],
        workload: tuple[Path, Path] | None = None,
    ) -> None:
        self.plan = plan
        self.perfs = perfs
        self.workload = workload
        self.times: list[tuple[str, float]] = []  # (command, seconds after start)
        self.notes: list[str] = []
        self._start = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def env(self) -> dict[str, str]:
        """The variables that tell a marked workload where to signal its region."""
        if self.workload is None:
            return {}
        return {CTL_ENV: str(self.workload[0]), ACK_ENV: str(self.workload[1])}

    def start(self, at: float | None = None) -> None:
        """Start relaying; times are seconds after `at` (``time.monotonic()``; now)."""
        self._start = time.monotonic() if at is None else at
        self._thread.start()

    def _run(self) -> None:
        for perf in self.perfs:
            if not perf.connect():
                self.notes.append("perf did not open its control FIFO; nothing recorded")
                return
        if self.plan.mode == DELAY:
            if not self._stopping.wait(self.plan.delay):
                self._forward(b"enable")
            return
        if self.workload is not None:
            self._relay(*self.workload)

    def _forward(self, command: bytes) -> None:
        answered = [perf.send(command) for perf in self.perfs]
        self.times.append((command.decode(), time.monotonic() - self._start))
        if not all(answered):
            self.notes.append(f"perf did not answer {command.decode()!r}")

    def _relay(self, ctl: Path, ack: Path) -> None:
        try:
            commands = open(ctl, "rb", buffering=0)  # noqa: SIM115  (blocks until the workload opens it)
        except OSError:
            return
        if self._stopping.is_set():
            commands.close()
            return
        try:
            with commands, open(ack, "wb", buffering=0) as answers:
                for line in commands:
                    command = line.strip()
                    if command in COMMANDS:
                        self._forward(command)
                    elif command:
                        self.notes.append(
                            f"the workload sent {command[:40].decode('utf-8', 'replace')!r}, "
                            "not enable or disable; ignored"
                        )
                    answers.write(b"ack\n")
        except OSError:
            return

    def stop(self, ended_s: float | None = None) -> Region:
        """End the relay (the workload has exited); `ended_s`: when it did."""
        end = ended_s if ended_s is not None else time.monotonic() - self._start
        self._stopping.set()
        release(self._thread, *(self.workload or ()))
        for perf in self.perfs:
            perf.close()
        return region_of(self.plan.mode, list(self.times), end, list(self.notes))


def region_of(mode: str, times: list[tuple[str, float]], end_s: float, notes: list[str]) -> Region:
    """The region from the commands sent (in order, seconds after the start): first
    enable to last disable (the workload's end if it left the events on), with the
    time the events were on."""
    on_at: float | None = None
    enabled = 0.0
    for command, at in times:
        if command == "enable" and on_at is None:
            on_at = at
        elif command == "disable" and on_at is not None:
            enabled += at - on_at
            on_at = None
    if on_at is not None:
        enabled += max(0.0, end_s - on_at)
    enables = [at for command, at in times if command == "enable"]
    if not enables:
        why = (
            "the workload never signalled its region (no enable on $LSEPROF_REGION_CTL): "
            "nothing was recorded; mark it (docs/time.md) or run with --whole-process"
            if mode == MARKERS
            else "the workload ended before the --delay was over: nothing was recorded"
        )
        return Region(mode, None, None, 0.0, len(times), [*notes, why])
    disables = [at for command, at in times if command == "disable"]
    last = disables[-1] if disables and disables[-1] >= enables[-1] else end_s
    return Region(mode, enables[0], last, enabled, len(times), notes)


def check_region(mode: str, delay: float | None) -> RegionPlan | None:
    """The plan for a run's region, or None for the whole process; raises on nonsense."""
    if delay is not None and delay < 0:
        raise LseprofError("--delay must be 0 or more seconds")
    if mode == WHOLE:
        return None
    if mode == DELAY:
        return RegionPlan(DELAY, delay or 0.0)
    if mode == MARKERS:
        return RegionPlan(MARKERS)
    raise LseprofError(f"unknown region mode {mode!r}; use markers, delay or whole")
