"""Boot the image under qemu-system-aarch64 (TCG), run one command, power off.

The guest's serial console goes to a log, never to the caller's output; the
command's stdout and stderr are files on the run's control share, relayed to the
caller's streams while it runs. Ctrl-C is forwarded as a ^C byte on the serial
line, the command's controlling terminal: it gets SIGINT (perf record finishes its
file), and the guest is killed ``grace`` seconds later or at a second Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from lseprof.emulation.vm.coherence import (
    COHERENCE_FILE,
    COHERENCE_META,
    CoherenceSettings,
    StdoutTail,
    coherence_plugin_args,
    coherence_share,
    guest_argv,
    require_coherence,
    share_map,
    write_meta,
)
from lseprof.emulation.vm.guest import (
    END_MARK,
    FAIL_MARK,
    START_MARK,
    Share,
    init_script,
    precompile_checkout,
    project_shares,
    setup_script,
)
from lseprof.emulation.vm.host import find_qemu
from lseprof.emulation.vm.image import ROOT_IMAGE, require_image
from lseprof.errors import LseprofError, require_at_least

CPUS = ("max", "neoverse-n1", "cortex-a57")
EXIT_TIMEOUT = 124
EXIT_GUEST_FAILED = 125
EXIT_INTERRUPTED = 130
PANIC_MARK = "Kernel panic"
# Kernel frames keep their addresses from boot to boot of one image (see docs/vm.md).
KERNEL_ARGS = "console=ttyAMA0 panic=-1 nokaslr quiet"


@dataclass(frozen=True)
class VmResult:
    """How a command ended in the machine (its own exit status) and the times measured:
    host seconds from qemu's start to the command's start, the command's seconds, and
    qemu's CPU seconds (steadier than wall time on a busy host)."""

    argv: tuple[str, ...]
    exit_code: int
    boot_seconds: float
    command_seconds: float | None
    qemu_cpu_seconds: float
    out_dir: Path | None
    coherence: Path | None = None  # the plugin's file, in runs with coherence


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: qemu dies with us even when we are killed with SIGKILL.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class _Console(threading.Thread):
    """Reads qemu's stdout (the guest's serial console) into a log and times its marks."""

    def __init__(self, stream: IO[bytes], log: Path, started: float, pid: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.log, self.started, self.pid = stream, log, started, pid
        self.text = bytearray()
        self.marks: dict[str, tuple[float, float]] = {}  # mark: (host seconds, qemu CPU)

    def run(self) -> None:
        with open(self.log, "wb") as log:
            while chunk := self.stream.read1(65536):  # type: ignore[attr-defined]
                now = time.monotonic() - self.started
                self.text.extend(chunk)
                log.write(chunk)
                log.flush()
                tail = bytes(self.text[-len(chunk) - 64 :])
                for mark in (START_MARK, END_MARK, PANIC_MARK, FAIL_MARK):
                    if mark.encode() in tail and mark not in self.marks:
                        self.marks[mark] = (now, _cpu_seconds(self.pid))

    def line_with(self, mark: str) -> str:
        for line in self.text.decode(errors="replace").splitlines():
            if mark in line:
                return line.strip()
        return ""


class _Relay(threading.Thread):
    """Copies what the guest appends to /ctl/stdout and /ctl/stderr to the caller's."""

    def __init__(self, ctl: Path, stdout: BinaryIO, stderr: BinaryIO) -> None:
        super().__init__(daemon=True)
        self.pairs = [(ctl / "stdout", stdout), (ctl / "stderr", stderr)]
        self.offsets = [0, 0]
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def pump(self) -> None:
        with self.lock:
            for index, (path, sink) in enumerate(self.pairs):
                try:
                    with open(path, "rb") as handle:
                        handle.seek(self.offsets[index])
                        data = handle.read()
                except FileNotFoundError:
                    continue
                if data:
                    self.offsets[index] += len(data)
                    with contextlib.suppress(BrokenPipeError, ValueError):
                        sink.write(data)
                        sink.flush()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.pump()


@dataclass
class _Run:
    """One boot: the settings, the qemu process and what has happened so far."""

    argv: tuple[str, ...]
    ctl: Path
    timeout: float
    grace: float
    notify: Callable[[str], None]
    on_start: Callable[[], None]
    sinks: tuple[BinaryIO, BinaryIO]
    proc: subprocess.Popen[bytes] | None = None
    console: _Console | None = None
    relay: _Relay | None = None
    started: float = 0.0
    interrupted_at: float | None = None
    outcome: str = "exited"
    qemu_stderr: bytearray = field(default_factory=bytearray)
    stderr_reader: threading.Thread | None = None

    @property
    def shown(self) -> str:
        return shlex.join(self.argv)

    def booted(self) -> bool:
        return self.console is not None and START_MARK in self.console.marks

    def start_relay(self) -> _Relay:
        """Once the command has started: the caller's progress display ends, its output
        begins."""
        if self.relay is None:
            self.on_start()
            self.relay = _Relay(self.ctl, *self.sinks)
            self.relay.start()
        return self.relay


def qemu_command(
    qemu: str,
    image: Path,
    ctl: Path,
    shares: Sequence[Share],
    cpu: str,
    smp: int,
    memory: int,
    plugin: Sequence[str] = (),
) -> list[str]:
    """qemu-system-aarch64's argv: the virt board, TCG (an x86 host has no KVM for an
    aarch64 guest), the serial console on stdio, the root image, the 9p shares; and
    ``plugin``, a ``-plugin`` option (:func:`lseprof.emulation.vm.coherence_plugin_args`)."""

    def path(p: Path) -> str:
        return str(p).replace(",", ",,")

    argv = [
        qemu,
        "-M",
        "virt,gic-version=3",
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        cpu,
        "-smp",
        str(smp),
        "-m",
        str(memory),
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-chardev",
        "stdio,id=con,signal=off",
        "-serial",
        "chardev:con",
        "-kernel",
        str(image / "vmlinuz"),
        "-initrd",
        str(image / "initramfs.gz"),
        "-append",
        KERNEL_ARGS,
        "-drive",
        f"file={path(image / ROOT_IMAGE)},if=none,id=root,format=raw,readonly=on",
        "-device",
        "virtio-blk-pci,drive=root",
    ]
    every = [Share(ctl, "ctl", True, "/ctl"), *shares]
    for index, share in enumerate(every):
        readonly = "" if share.writable else ",readonly=on"
        argv += [
            "-fsdev",
            f"local,id=fs{index},path={path(share.host)},security_model=none,"
            f"multidevs=remap{readonly}",
            "-device",
            f"virtio-9p-pci,fsdev=fs{index},mount_tag={share.tag}",
        ]
    return argv + list(plugin)


def _check_settings(argv: Sequence[str], cpu: str, smp: int, memory: int) -> None:
    if not argv:
        raise LseprofError("no command given; write it after --, e.g. `lseprof vm run -- uname -m`")
    if cpu not in CPUS:
        raise LseprofError(f"unknown --cpu {cpu!r}; choose one of {', '.join(CPUS)}")
    require_at_least("--smp", smp, 1)
    require_at_least("--memory", memory, 512)


def _all_shares(
    shares: Sequence[Share], out_dir: Path | None, project: bool
) -> tuple[list[Share], dict[str, str]]:
    every: list[Share] = []
    env: dict[str, str] = {}
    if project:
        every, env = project_shares()
        precompile_checkout(every[0].host / "profiler" / "lseprof")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        every.append(Share(out_dir.resolve(), "out", True, "/out"))
    every += shares
    tags = [share.tag for share in every]
    if len(set(tags)) != len(tags):
        raise LseprofError(f"two shares have the same tag ({', '.join(tags)})")
    return every, env


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM is handled as Ctrl-C (the guest is stopped, not orphaned); only the main
    thread may set signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _on_interrupt(run: _Run, deadline: float) -> float:
    """Ctrl-C: forward it to the command; again, or while booting, kill the guest."""
    assert run.proc is not None and run.proc.stdin is not None
    if run.interrupted_at is not None or not run.booted():
        run.interrupted_at = run.interrupted_at or time.monotonic()
        run.outcome = "killed"
        return 0.0
    run.interrupted_at = time.monotonic()
    run.notify(
        f"interrupted: sending Ctrl-C to `{run.shown}` in the guest (again to kill the "
        f"guest at once; killed in {run.grace:g} s)"
    )
    with contextlib.suppress(BrokenPipeError, OSError):
        run.proc.stdin.write(b"\x03")
        run.proc.stdin.flush()
    return min(deadline, run.interrupted_at + run.grace)


def _wait(run: _Run) -> None:
    """Wait for qemu to end, the deadline to pass or an interrupt; relay output once
    the command has started."""
    assert run.proc is not None
    deadline = run.started + run.timeout
    while True:
        try:
            run.proc.wait(timeout=max(0.01, min(0.1, deadline - time.monotonic())))
            return
        except subprocess.TimeoutExpired:
            if run.booted():
                run.start_relay()
            if time.monotonic() >= deadline:
                if run.interrupted_at is None:
                    run.outcome = "timeout"
                else:
                    run.outcome = "killed"
                return
        except KeyboardInterrupt:
            deadline = _on_interrupt(run, deadline)
            if run.outcome == "killed":
                return


def _start(run: _Run, argv: list[str]) -> None:
    run.started = time.monotonic()
    # Its own session: a terminal's Ctrl-C reaches only us, and we forward it.
    run.proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    assert run.proc.stdout is not None and run.proc.stderr is not None
    run.console = _Console(run.proc.stdout, run.ctl / "console.log", run.started, run.proc.pid)
    run.console.start()
    errors = run.proc.stderr
    run.stderr_reader = threading.Thread(
        target=lambda: run.qemu_stderr.extend(errors.read()), daemon=True
    )
    run.stderr_reader.start()


def _stop(run: _Run) -> None:
    assert run.proc is not None and run.console is not None
    if run.proc.poll() is None:
        run.proc.kill()
        run.proc.wait()
    run.console.join(timeout=5)
    if run.stderr_reader is not None:
        run.stderr_reader.join(timeout=5)
    if not run.booted():
        return
    relay = run.start_relay()  # the command may have ended before the first poll
    relay.stop.set()
    relay.join(timeout=5)
    relay.pump()


def _failure(run: _Run, status: int | None, out_dir: Path | None) -> LseprofError | None:
    """The error for a run that did not end with the command's own exit status."""
    assert run.console is not None and run.proc is not None
    log = run.ctl / "console.log"
    if run.outcome == "timeout":
        return LseprofError(
            f"`{run.shown}` did not finish in {run.timeout:g} s; the guest was killed "
            f"(raise --timeout; console log: {log})",
            EXIT_TIMEOUT,
        )
    if run.interrupted_at is not None:
        if not run.booted():
            return LseprofError(
                f"interrupted while the machine was booting; `{run.shown}` did not start",
                EXIT_INTERRUPTED,
            )
        how = f"exited with {status}" if status is not None else "was killed"
        kept = f"; what it wrote to {out_dir} is kept" if out_dir is not None else ""
        return LseprofError(f"interrupted: `{run.shown}` {how}{kept}", EXIT_INTERRUPTED)
    if status is not None:
        return None
    if b"Could not load plugin" in run.qemu_stderr:
        return _plugin_failure(run)
    if PANIC_MARK in run.console.marks:
        panic = run.console.line_with(PANIC_MARK)
        return LseprofError(
            f"kernel panic in the guest while running `{run.shown}`: "
            f"{panic[panic.index(PANIC_MARK) :]} (console log: {log})",
            EXIT_GUEST_FAILED,
        )
    if FAIL_MARK in run.console.marks:
        return LseprofError(
            f"the machine failed before running `{run.shown}`: "
            f"{run.console.line_with(FAIL_MARK)} (console log: {log})",
            EXIT_GUEST_FAILED,
        )
    detail = run.qemu_stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
    return LseprofError(
        f"the machine stopped without an exit status for `{run.shown}` (qemu exit "
        f"{run.proc.returncode}: {detail[0]}; console log: {log})",
        EXIT_GUEST_FAILED,
    )


def _plugin_failure(run: _Run) -> LseprofError:
    """qemu refused to start because the plugin did not load: the plugin's own reason
    (its "refusing to load" line) or qemu's."""
    lines = run.qemu_stderr.decode(errors="replace").splitlines()
    reason = next((line for line in lines if line.startswith("coherence: ")), None)
    reason = reason or next(line for line in lines if "Could not load plugin" in line)
    return LseprofError(
        f"the coherence plugin did not load, `{run.shown}` did not run: {reason.strip()}"
    )


def _read_status(ctl: Path) -> int | None:
    try:
        return int((ctl / "status").read_text().strip())
    except (OSError, ValueError):
        return None


def run_in_vm(
    argv: Sequence[str],
    *,
    shares: Sequence[Share] = (),
    cpu: str = "max",
    smp: int = 2,
    memory: int = 4096,
    timeout: float = 1800.0,
    out_dir: Path | None = Path("vm-out"),
    project: bool = True,
    image: Path | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    grace: float = 60.0,
    on_start: Callable[[], None] = lambda: None,
    notify: Callable[[str], None] = lambda _m: None,
    coherence: CoherenceSettings | None = None,
) -> VmResult:
    """Boot the machine, run ``argv`` as root in it, return its exit status and times.

    See the package's docstring for the shares, the guest's environment and the
    errors (timeout 124, guest failure 125, interrupted 130, image or usage 2).
    ``coherence``: load the coherence plugin (see
    :mod:`lseprof.emulation.vm.coherence`); it writes ``coherence.txt`` and this
    writes ``coherence.json`` into ``out_dir``, whatever the outcome.
    """
    _check_settings(argv, cpu, smp, memory)
    image = require_image(image)
    qemu = find_qemu()
    plugin_args: list[str] = []
    if coherence is not None:
        if out_dir is None:
            raise LseprofError("a run with coherence needs an out directory for its file")
        plugin = require_coherence(qemu, coherence)
        shares = [*shares, coherence_share()]
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in (COHERENCE_FILE, COHERENCE_META):  # an earlier run's, never mixed in
            (out_dir / stale).unlink(missing_ok=True)
        plugin_args = coherence_plugin_args(plugin, out_dir.resolve() / COHERENCE_FILE, coherence)
    every, env = _all_shares(shares, out_dir, project)
    ctl = Path(tempfile.mkdtemp(prefix="lseprof-vm-"))
    (ctl / "setup.sh").write_text(setup_script(every))
    cwd = "/out" if out_dir is not None else "/"
    command = guest_argv(argv) if coherence is not None and coherence.wrap else list(argv)
    (ctl / "init.sh").write_text(init_script(command, cwd, env))
    sinks = (stdout or sys.stdout.buffer, stderr or sys.stderr.buffer)
    tail = StdoutTail(sinks[0]) if coherence is not None else None
    if tail is not None:
        sinks = (cast(BinaryIO, tail), sinks[1])
    run = _Run(tuple(argv), ctl, timeout, grace, notify, on_start, sinks)
    with _sigterm_as_interrupt():
        try:
            _start(run, qemu_command(qemu, image, ctl, every, cpu, smp, memory, plugin_args))
            _wait(run)
        except KeyboardInterrupt:  # between the steps above: stop, as while booting
            run.interrupted_at = run.interrupted_at or time.monotonic()
            run.outcome = "killed"
        finally:
            if run.proc is not None:
                _stop(run)
    if coherence is None or out_dir is None or tail is None:
        return _finish(run, out_dir)
    facts: dict[str, Any] = {
        "argv": list(argv),
        "cpu": cpu,
        "smp": smp,
        "memory_mib": memory,
        "settings": coherence.to_dict(),
        "shares": share_map(every, image / "root"),
    }
    try:
        result = _finish(run, out_dir)
    except LseprofError as error:
        write_meta(out_dir, {**facts, **_outcome(run, None, error), "work": tail.work()})
        raise
    write_meta(out_dir, {**facts, **_outcome(run, result, None), "work": tail.work()})
    return replace(result, coherence=out_dir / COHERENCE_FILE)


def _outcome(run: _Run, result: VmResult | None, error: LseprofError | None) -> dict[str, Any]:
    """How a run with coherence ended, for coherence.json."""
    if result is not None:
        return {
            "outcome": "exited",
            "exit_code": result.exit_code,
            "boot_seconds": result.boot_seconds,
            "command_seconds": result.command_seconds,
            "qemu_cpu_seconds": result.qemu_cpu_seconds,
        }
    assert error is not None
    outcome = {EXIT_TIMEOUT: "timeout", EXIT_INTERRUPTED: "interrupted"}.get(
        error.exit_code, "failed"
    )
    return {"outcome": outcome, "exit_code": None, "message": error.message}


def _finish(run: _Run, out_dir: Path | None) -> VmResult:
    assert run.console is not None and run.proc is not None
    status = _read_status(run.ctl)
    error = _failure(run, status, out_dir)
    if error is not None:
        if error.exit_code == EXIT_INTERRUPTED:
            shutil.rmtree(run.ctl, ignore_errors=True)
        raise error
    assert status is not None
    start = run.console.marks.get(START_MARK, (float("nan"), float("nan")))
    end = run.console.marks.get(END_MARK)
    result = VmResult(
        argv=run.argv,
        exit_code=status,
        boot_seconds=start[0],
        command_seconds=end[0] - start[0] if end else None,
        qemu_cpu_seconds=start[1],
        out_dir=out_dir,
    )
    shutil.rmtree(run.ctl, ignore_errors=True)
    return result


def measure_boot(image: Path | None = None, cpu: str = "max", smp: int = 2) -> VmResult:
    """Boot once with ``true``: boot-to-command time, nothing shared."""
    return run_in_vm(["true"], out_dir=None, project=False, image=image, cpu=cpu, smp=smp)
