"""``perf script`` on a perf.data: its command line in lseprof's own layout, the time
slices of a big file, and one running perf script whose output file is parsed as
perf writes it. Loads neither numpy nor pandas until a slice is parsed (see
:mod:`lseprof.readers.perf_data.reader`)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from lseprof.capture.perf_cli import perf_argv, start_perf
from lseprof.errors import LseprofError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lseprof.readers.script import OwnScriptReader, ParsedScript, ScriptParts

# The layout lseprof.readers.script.own_layout.OwnScriptReader reads. Text is what perf
# script spends its time on (formatting), so only what attribution needs: no `time`
# (~20% of perf's run time), no `pid` (the task records give it), and no `event`
# when the file holds a single event (OWN_FIELDS_ONE_EVENT).
OWN_FIELDS = "tid,event,period,ip,sym,dso"
OWN_FIELDS_ONE_EVENT = "tid,period,ip,sym,dso"
CHUNK_BYTES = 8 << 20  # perf script text parsed per step
# What perf prints of a tracepoint (scheduler events recorded beside the samples), read
# by lseprof.readers.sched_events; deep enough callchains for its blocking paths.
TRACE_FIELDS = "comm,pid,tid,cpu,time,event,trace,ip,sym,dso"
TRACE_MAX_STACK = 24
MAX_JOBS = 4  # perf script processes at most (see default_jobs)


@dataclass(frozen=True)
class SymbolFiles:
    """Where the files of the machine that recorded a profile are, when it is not this
    one: ``symfs``, a copy of its root (the recorded DSO paths are looked up under it),
    and ``kallsyms``, a copy of its /proc/kallsyms (kernel frames; KASLR moves them on
    every boot, so only that boot's copy names them)."""

    symfs: Path | None = None
    kallsyms: Path | None = None

    def check(self) -> None:
        """A one-line error for a path that is not there."""
        if self.symfs is not None and not self.symfs.is_dir():
            raise LseprofError(
                f"--symfs {self.symfs} is not a directory; give the root of a copy of "
                "the profiled machine's files"
            )
        if self.kallsyms is not None:
            _check_kallsyms(self.kallsyms)

    def perf_options(self, emulated: bool) -> list[str]:
        """perf script's options for them. An emulated (qemu) recording ran on this
        machine: perf must find qemu here, and lseprof names the guest code itself
        from --symfs."""
        options = [] if emulated or self.symfs is None else ["--symfs", str(self.symfs)]
        if self.kallsyms is not None:
            options += ["--kallsyms", str(self.kallsyms)]
        return options


def _check_kallsyms(path: Path) -> None:
    """perf silently ignores a kallsyms it cannot read (compressed, or copied without
    root, when every address is 0), leaving the kernel frames unnamed."""
    fix = "copy /proc/kallsyms of the machine that recorded (as root, in the same boot)"
    if not path.is_file():
        raise LseprofError(f"--kallsyms {path} is not a file; {fix}")
    with path.open("rb") as stream:
        head = stream.read(4096)
    if head.startswith(b"\x1f\x8b"):
        raise LseprofError(f"--kallsyms {path} is gzip-compressed; gunzip it and pass the text")
    rows = [line.split() for line in head.splitlines()[:-1] or head.splitlines()]
    if not rows or not all(len(row) >= 3 and len(row[1]) == 1 for row in rows):
        raise LseprofError(f"--kallsyms {path} is not /proc/kallsyms text; {fix}")
    if all(set(row[0]) == {ord("0")} for row in rows):
        raise LseprofError(f"--kallsyms {path} has only zero addresses (read without root); {fix}")


def script_argv(
    perf: str,
    path: Path,
    max_stack: int,
    time_slice: str | None,
    callchain: bool,
    one_event: bool = False,
    tracepoints: bool = False,
    sched: bool = False,
    files: list[str] | None = None,
) -> list[str]:
    # Without callchains perf prints the location on the header line; that layout
    # goes through the general reader, with comm and sym+offset (one-line samples
    # carry runtime addresses; sym+offset finds the instruction in the ELF).
    fields = (
        (OWN_FIELDS_ONE_EVENT if one_event else OWN_FIELDS)
        if callchain
        else "comm,pid,tid,time,event,period,ip,sym,symoff,dso"
    )
    # --no-inline: inline expansion runs addr2line per address (slow) and would use up
    # the frames that --max-stack keeps.
    argv = perf_argv(
        perf,
        "script",
        "-i",
        path,
        "-F",
        fields,
        "--max-stack",
        str(max_stack),
        "--no-inline",
        "--show-task-events",
        "--show-mmap-events",
        "--show-lost-events",
    )
    if tracepoints:
        # Scheduler events recorded beside the samples: printed in the same pass, cut out
        # of the samples' text and read by readers.sched_events; others are silenced.
        argv += ["-F", f"trace:{TRACE_FIELDS}" if sched else "trace:"]
        if sched:
            argv.append("--ns")  # whole nanoseconds, as --time-range windows are
    if time_slice:
        argv += ["--time", time_slice]
    return argv + (files or [])


def times_argv(perf: str, path: Path, window: str | None, tracepoints: bool) -> list[str]:
    """The times pass: each sample's thread and timestamp (ns), in the order the
    samples pass prints its samples (see :func:`parse_times`)."""
    argv = perf_argv(perf, "script", "-i", path, "-F", "tid,time", "--ns")
    if tracepoints:
        argv += ["-F", "trace:"]
    if window:
        argv += ["--time", window]
    return argv


def link_registers_argv(perf: str, path: Path, window: str | None, tracepoints: bool) -> list[str]:
    """The link-register pass: each sample's thread and user link register, in the
    order the samples pass prints its samples (see :func:`parse_link_registers`)."""
    argv = perf_argv(perf, "script", "-i", path, "-F", "tid,uregs")
    if tracepoints:
        argv += ["-F", "trace:"]
    if window:
        argv += ["--time", window]
    return argv


_LR_LINE = re.compile(rb"^\s*(\d+)\s+ABI:\d+(?:\s+lr:0x([0-9a-fA-F]+))?", re.MULTILINE)


def parse_link_registers(
    script: ScriptProc,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """(tids, link registers; 0 where a sample has none) from a finished pass."""
    import numpy as np

    script.finished(None)
    fd = script.text.fileno()
    data = os.pread(fd, os.fstat(fd).st_size, 0)
    found = _LR_LINE.findall(data)
    tids = np.fromiter((int(t) for t, _ in found), np.int64, len(found))
    lrs = np.fromiter((int(r, 16) if r else 0 for _, r in found), np.uint64, len(found))
    return tids, lrs


def parse_times(script: ScriptProc) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(tids, timestamps in ns) from a finished times pass."""
    import io

    import numpy as np
    import pandas as pd

    script.finished(None)
    fd = script.text.fileno()
    data = os.pread(fd, os.fstat(fd).st_size, 0)
    if not data.strip():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # "  tid  sec.nsec: " per sample: with the dot and the colon as spaces, three whole
    # numbers per line (read by pandas' C parser: exact, and fast on a million lines).
    table = pd.read_csv(
        io.BytesIO(data.replace(b".", b" ").replace(b":", b" ")),
        sep=r"\s+",
        header=None,
        names=["tid", "sec", "nsec"],
        dtype=np.int64,
    )
    tids = table["tid"].to_numpy()
    return tids, table["sec"].to_numpy() * 1_000_000_000 + table["nsec"].to_numpy()


def time_slices(jobs: int) -> list[str | None]:
    if jobs <= 1:
        return [None]
    # perf's percent slices are half-open at the top except the last, so every sample
    # lands in exactly one (tests/e2e/test_report_perf_data.py compares the totals).
    edges = [round(100 * i / jobs, 4) for i in range(jobs + 1)]
    return [f"{edges[i]}%-{edges[i + 1]}%" for i in range(jobs)]


def default_jobs() -> int:
    """Time slices for a big perf.data: one per CPU this process may use, at most
    MAX_JOBS (each perf script holds its own copy of the symbol tables).
    $LSEPROF_REPORT_JOBS overrides (benchmarks, machines shared with other work)."""
    env_jobs = os.environ.get("LSEPROF_REPORT_JOBS", "")
    if env_jobs.isdigit() and int(env_jobs) > 0:
        return int(env_jobs)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_JOBS))


@dataclass
class ScriptProc:
    """One running perf script: its output file, its stderr file, and the read end of
    a pipe whose only write end perf holds (so it reads EOF once perf has exited; a
    forked parser can see that although perf is not its child)."""

    proc: subprocess.Popen[bytes]
    text: IO[bytes]
    errors: IO[bytes]
    done: int

    def finished(self, timeout: float | None = 0) -> bool:
        """Whether perf has exited, waiting at most `timeout` s (None: until it has)."""
        return bool(select.select([self.done], [], [], timeout)[0])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.done)
        self.text.close()
        self.errors.close()


def start_script(argv: list[str]) -> ScriptProc:
    # Both files outlive this call: ScriptProc.close closes them.
    text = tempfile.TemporaryFile(prefix="lseprof-script-")  # noqa: SIM115
    # stderr goes to a file: a pipe nobody reads could fill up and stall perf.
    errors = tempfile.TemporaryFile()  # noqa: SIM115
    done, done_w = os.pipe()
    try:
        proc = start_perf(argv, stdout=text, stderr=errors, pass_fds=(done_w,))
    except LseprofError:
        os.close(done)
        text.close()
        errors.close()
        raise
    finally:
        os.close(done_w)
    return ScriptProc(proc, text, errors, done)


def _follow(script: ScriptProc, reader: OwnScriptReader) -> None:
    """Feed the reader the file perf script is still writing, CHUNK_BYTES at a time,
    until perf exits.

    perf writes to a file, not a pipe: a 64 KiB pipe makes perf wait whenever the
    parser is busy, so the two would take turns instead of running side by side.
    Each read starts where the last whole sample block ended (os.pread: no copies
    to glue pieces together).
    """
    fd = script.text.fileno()
    pos = 0
    want = CHUNK_BYTES
    while True:
        finished = script.finished()  # before the size: then the size is final
        available = os.fstat(fd).st_size - pos
        if available >= want or (finished and available > 0):
            final = finished and available <= want
            used = reader.consume(os.pread(fd, min(available, want), pos), final=final)
            pos += used
            # A block longer than a chunk (a deep callchain): read more at once.
            want = CHUNK_BYTES if used else want * 2
        elif finished:
            return
        else:
            script.finished(0.005)


@dataclass
class _Slice:
    """One time slice's samples: callchain layout (codes) or one-line layout (a table)."""

    parts: ScriptParts | None = None
    text: ParsedScript | None = None


def parse_slice(
    script: ScriptProc, callchain: bool, event: str | None, tracepoints: bool = False
) -> _Slice:
    """Parse one perf script's text as perf writes it (here or in a forked child);
    `event` names the samples' event where perf was not asked to print it;
    `tracepoints`: the text holds scheduler tracepoints to cut out."""
    from lseprof.readers.script import OwnScriptReader, parse_script_text

    if callchain:
        # Parse while perf is still writing: bounded memory, and the two overlap.
        reader = OwnScriptReader("perf-data", event=event, tracepoints=tracepoints)
        _follow(script, reader)
        return _Slice(parts=reader.finish_parts())
    script.finished(None)
    fd = script.text.fileno()
    data = os.pread(fd, os.fstat(fd).st_size, 0)
    return _Slice(text=parse_script_text(data, "perf-data", tracepoints))
