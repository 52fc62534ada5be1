"""One `perf record` of one workload command, with its artifacts in a run directory.

perf and the workload run in their own process group: a timeout or Ctrl-C sends
SIGINT to the whole group, so the workload stops and perf still finalizes
perf.data. Whatever was captured is kept and the outcome says what happened.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lseprof.capture.control import (
    MARKERS,
    PerfControl,
    RegionPlan,
    RegionRelay,
    control_args,
    make_fifos,
)
from lseprof.capture.perf_cli import perf_argv, start_perf
from lseprof.results import Region

# Statuses shared with the run store.
OK, FAILED, INTERRUPTED, TIMEOUT = "ok", "failed", "interrupted", "timeout"

WORKLOAD_PIDFILE = "workload.pid"
_GRACE_SECONDS = 20.0


@dataclass(frozen=True)
class RecordSpec:
    """How to sample: event, frequency, call-graph mode."""

    event: str
    freq: int
    call_graph: str = "fp"  # "fp" or "dwarf"
    # Emulated runs: qemu maps the guest's ELF files without PROT_EXEC, so perf records
    # them only with -d; --buildid-mmap puts each file's build-id in its MMAP2 record,
    # which is how a report later tells a replaced guest object from the profiled one.
    guest_mmaps: bool = False


@dataclass
class RecordOutcome:
    status: str
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    perf_data: Path | None
    perf_map: Path | None
    message: str = ""
    region: Region | None = None  # the measured region, when only that was recorded


@dataclass
class RegionSetup:
    """A run that records its measured region only: how it is marked, and the other
    perf processes (the scheduler's) that follow it."""

    plan: RegionPlan
    others: list[PerfControl] = field(default_factory=list)


def perf_record_argv(
    perf: str, spec: RecordSpec, output: Path, control: tuple[Path, Path] | None = None
) -> list[str]:
    call_graph = ["--call-graph", "dwarf,16384"] if spec.call_graph == "dwarf" else ["-g"]
    guest = ["-d", "--buildid-mmap"] if spec.guest_mmaps else []
    return perf_argv(
        perf,
        "record",
        "-q",
        "-e",
        spec.event,
        "-F",
        str(spec.freq),
        *call_graph,
        *guest,
        *(control_args(*control) if control is not None else []),
        "-o",
        output,
        "--",
    )


def _wrapped(argv: list[str], run_dir: Path) -> list[str]:
    # `exec` keeps the pid, so the pid file names the workload process itself:
    # qemu writes /tmp/perf-<that pid>.map, which must be copied next to perf.data.
    return [
        "/bin/sh",
        "-c",
        f'echo $$ > "{run_dir / WORKLOAD_PIDFILE}"; exec "$@"',
        "lseprof-run",
        *argv,
    ]


def _stop_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def workload_pid(run_dir: Path) -> int | None:
    """The pid the run's workload had (its wrapper exec'd it), if it was written."""
    try:
        return int((run_dir / WORKLOAD_PIDFILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _collect_map(run_dir: Path) -> Path | None:
    pid = workload_pid(run_dir)
    if pid is None:
        return None
    source = Path(f"/tmp/perf-{pid}.map")
    if not source.exists():
        return None
    dest = run_dir / source.name
    shutil.move(str(source), dest)
    return dest


def _disk_full(stderr: str) -> bool:
    return "No space left on device" in stderr or "ENOSPC" in stderr


def write_artifact(path: Path, text: str) -> str:
    """Write one artifact; '' on success, else a message (the run is kept, marked failed)."""
    try:
        path.write_text(text)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            return f"disk full while writing {path.parent}; free space and re-run"
        return f"cannot write {path}: {exc.strerror}"
    return ""


@contextmanager
def _region_relay(setup: RegionSetup | None, recording: bool) -> Iterator[RegionRelay | None]:
    """The relay of a run that records its region (None for the whole process), with
    its FIFOs in a directory that lives as long as the run."""
    if setup is None or not recording:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="lseprof-region-") as fifo_dir:
        own = PerfControl(*make_fifos(Path(fifo_dir), "perf"))
        workload = make_fifos(Path(fifo_dir), "region") if setup.plan.mode == MARKERS else None
        yield RegionRelay(setup.plan, [own, *setup.others], workload)


def run_recorded(
    argv: list[str],
    run_dir: Path,
    perf: str | None,
    spec: RecordSpec | None,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    region: RegionSetup | None = None,
) -> RecordOutcome:
    """Run `argv` (under perf unless `perf` is None) and keep everything in `run_dir`;
    with `region`, perf records the measured region only (see
    :mod:`lseprof.capture.control`)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    perf_data = run_dir / "perf.data" if perf and spec else None
    with _region_relay(region, perf_data is not None) as relay:
        outcome = _run(argv, run_dir, perf, spec, timeout, env, relay)
    if perf_data is not None and not perf_data.exists():
        outcome.perf_data = None
    return outcome


def _run(
    argv: list[str],
    run_dir: Path,
    perf: str | None,
    spec: RecordSpec | None,
    timeout: float | None,
    env: dict[str, str] | None,
    relay: RegionRelay | None,
) -> RecordOutcome:
    perf_data = run_dir / "perf.data" if perf and spec else None
    full = _wrapped(argv, run_dir)
    if perf and spec and perf_data:
        control = (relay.perfs[0].ctl, relay.perfs[0].ack) if relay is not None else None
        full = [*perf_record_argv(perf, spec, perf_data, control), *full]
    if relay is not None and relay.env():
        env = {**(env if env is not None else os.environ), **relay.env()}
    start = time.monotonic()
    # text: undecodable bytes replaced (a command may write compressed data to stdout).
    # Without perf (--no-perf, --overhead's bare runs) this starts the wrapper alone.
    proc = start_perf(
        full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )
    if relay is not None:
        relay.perfs[0].proc = proc
        relay.start(start)
    status, message = OK, ""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        stdout, stderr = proc.communicate()
        status, message = TIMEOUT, f"workload still running after --timeout {timeout:g} s; stopped"
    except KeyboardInterrupt:
        _stop_group(proc)
        stdout, stderr = proc.communicate()
        status, message = INTERRUPTED, "stopped by Ctrl-C; kept what perf had captured"
    seconds = time.monotonic() - start
    region = relay.stop(seconds) if relay is not None else None
    write_errors = [
        write_artifact(run_dir / "workload.stdout", stdout),
        write_artifact(run_dir / "workload.stderr", stderr),
    ]
    try:
        perf_map = _collect_map(run_dir)
    except OSError as exc:
        perf_map = None
        write_errors.append(f"cannot keep qemu's perf map: {exc.strerror}")
    if status == OK and proc.returncode != 0:
        status = FAILED
        last = [line for line in stderr.strip().splitlines() if line.strip()][-1:]
        detail = last[0].strip() if last else f"exit code {proc.returncode}"
        if proc.returncode < 0:
            detail = f"killed by signal {-proc.returncode} ({detail})"
        if _disk_full(stderr):
            detail = f"disk full while writing {perf_data}; free space and re-run"
        message = f"workload failed: {detail}"
    problems = [m for m in write_errors if m]
    if problems and status == OK:
        status, message = FAILED, problems[0]
    return RecordOutcome(
        status, proc.returncode, stdout, stderr, seconds, perf_data, perf_map, message, region
    )
