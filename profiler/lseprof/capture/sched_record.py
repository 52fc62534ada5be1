"""Scheduler events (``sched:sched_switch``, ``sched:sched_wakeup``) beside a sampled run.

They are recorded system-wide into their own file (``sched.data``) by a second
``perf record -a``, started and enabled before the workload and stopped after it,
while the sampling ``perf record`` stays per task as without ``--sched``. Why not
add the tracepoints to the per-task recording: a per-task event only fires while
a task of the workload is current, so it misses every wake-up done from an
interrupt (timer wake-ups from nanosleep, I/O completions) and every switch *into*
a workload thread from another task; on the hand-off test program that left half
the wake-ups out, and ``perf sched timehist`` put 771 ms of run time on a producer
that ran for 56 ms. System-wide switch events are what ``perf sched record`` takes.

perf starts with its events disabled (``-D -1``) and is enabled through its
control FIFO, whose ``ack`` says the events are live: no race with a short workload.
A run that records its measured region only leaves them off and hands the control
to the region relay (:mod:`lseprof.capture.control`), which turns the scheduler
events on and off together with the samples.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

from lseprof.capture.control import PerfControl
from lseprof.capture.perf_cli import perf_argv, start_perf
from lseprof.capture.perf_env import paranoid_level
from lseprof.errors import LseprofError

SCHED_EVENTS = ("sched:sched_switch", "sched:sched_waking", "sched:sched_wakeup")
SCHED_FILE = "sched.data"
TRACEFS_ROOTS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
TRACEFS_ENV = "LSEPROF_TRACEFS"  # where tracefs is mounted, if not at either of those
_ACK_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 60.0


def tracefs_roots() -> tuple[Path, ...]:
    custom = os.environ.get(TRACEFS_ENV)
    return (Path(custom),) if custom else TRACEFS_ROOTS


def sched_tracepoints_problem(
    roots: tuple[Path, ...] | None = None, level: int | None = None, euid: int | None = None
) -> str | None:
    """None if this machine can record the scheduler tracepoints; else why not and
    what to do, in one line."""
    roots = tracefs_roots() if roots is None else roots
    found = [r for r in roots if (r / "events/sched/sched_switch").is_dir()]
    if not found:
        return (
            "the scheduler tracepoints are not visible (no tracefs at "
            f"{' or '.join(str(r) for r in roots)}); mount it "
            "(`mount -t tracefs nodev /sys/kernel/tracing`) or run without --sched"
        )
    uid = os.geteuid() if euid is None else euid
    current = paranoid_level() if level is None else level
    if uid != 0 and (current is None or current > -1):
        return (
            f"recording scheduler tracepoints system-wide needs root or "
            f"kernel.perf_event_paranoid=-1 (it is {current}); run lseprof as root, "
            "`sudo sysctl kernel.perf_event_paranoid=-1`, or run without --sched"
        )
    if not os.access(found[0] / "events/sched/sched_switch", os.R_OK | os.X_OK):
        return (
            f"{found[0]}/events/sched is not readable by this user; run lseprof as root "
            "or run without --sched"
        )
    return None


def sched_record_argv(perf: str, output: Path, ctl: Path, ack: Path) -> list[str]:
    # -g: the stack a thread went to sleep from (switch) and the waker's (waking) are
    # the point; sched_wakeup's would be an interrupt's (remote wake-ups are queued to
    # the wakee's CPU and run there), so it has none.
    # sched_waking fires in the waker's context: who wakes whom comes from it.
    # -m 1024: switch storms at high thread counts overflow perf's default buffer.
    events = [
        "-e",
        "sched:sched_switch",
        "-e",
        "sched:sched_waking",
        "-e",
        "sched:sched_wakeup/call-graph=no/",
    ]
    return perf_argv(
        perf,
        "record",
        "-q",
        "-a",
        "-g",
        "-m",
        "1024",
        *events,
        "-D",
        "-1",
        "--control",
        f"fifo:{ctl},{ack}",
        "-o",
        output,
    )


@dataclass
class SchedRecording:
    """A scheduler recording in progress: its file, and, when its events start off
    (a run that records its measured region), the control that turns them on."""

    output: Path
    control: PerfControl | None = None


@contextmanager
def sched_recording(perf: str, run_dir: Path, enabled: bool = True) -> Iterator[SchedRecording]:
    """Record the scheduler events system-wide while the body runs; yields the
    recording, whose file exists once the body is done (partial if it was
    interrupted). `enabled` False: the events stay off until the yielded control
    turns them on (:class:`lseprof.capture.control.RegionRelay`)."""
    problem = sched_tracepoints_problem()
    if problem:
        raise LseprofError(problem)
    run_dir.mkdir(parents=True, exist_ok=True)
    output = run_dir / SCHED_FILE
    with tempfile.TemporaryDirectory(prefix="lseprof-sched-") as fifo_dir:
        ctl, ack = Path(fifo_dir) / "ctl", Path(fifo_dir) / "ack"
        os.mkfifo(ctl)
        os.mkfifo(ack)
        errors = tempfile.TemporaryFile()  # noqa: SIM115  (closed below)
        try:
            proc = start_perf(
                sched_record_argv(perf, output, ctl, ack),
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
        except LseprofError:
            errors.close()
            raise
        try:
            if enabled:
                _enable(proc, ctl, ack, errors)
                yield SchedRecording(output)
            else:
                control = PerfControl(ctl, ack, proc)
                if not control.connect(_ACK_TIMEOUT_S):
                    _refused(proc, errors)
                yield SchedRecording(output, control)
        finally:
            _stop(proc)
            errors.close()


def _enable(proc: subprocess.Popen[bytes], ctl: Path, ack: Path, errors: IO[bytes]) -> None:
    """Send `enable` and wait for perf's `ack`; a perf that exits first (no permission,
    no such event) becomes a one-line error with its own first message."""
    reply: list[bytes] = []

    def talk() -> None:
        # Opening a FIFO blocks until perf opens its end: done in a thread, so a perf
        # that died early cannot hang lseprof.
        try:
            with open(ctl, "wb", buffering=0) as out, open(ack, "rb", buffering=0) as inp:
                out.write(b"enable\n")
                reply.append(inp.readline())
        except OSError:
            return

    worker = threading.Thread(target=talk, daemon=True)
    worker.start()
    deadline = time.monotonic() + _ACK_TIMEOUT_S
    while worker.is_alive() and proc.poll() is None and time.monotonic() < deadline:
        worker.join(0.05)  # a perf that exits (refused) ends the wait at once
    if reply and reply[0].strip() == b"ack":
        return
    _unblock(ctl, ack)
    _refused(proc, errors)


def _refused(proc: subprocess.Popen[bytes], errors: IO[bytes]) -> NoReturn:
    """Stop perf and raise its first message as the one-line error."""
    _stop(proc)
    errors.seek(0)
    lines = [
        ln.strip() for ln in errors.read().decode("utf-8", "replace").splitlines() if ln.strip()
    ]
    detail = lines[0] if lines else f"no answer in {_ACK_TIMEOUT_S:g} s"
    raise LseprofError(
        f"perf could not record the scheduler tracepoints ({detail[:120]}); "
        "check `perf record -a -e sched:sched_switch true` or run without --sched"
    )


def _unblock(ctl: Path, ack: Path) -> None:
    # Open the other ends without blocking so the helper thread's open() returns.
    for path, flags in ((ctl, os.O_RDONLY), (ack, os.O_WRONLY)):
        with contextlib.suppress(OSError):
            os.close(os.open(path, flags | os.O_NONBLOCK))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=_STOP_TIMEOUT_S)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
