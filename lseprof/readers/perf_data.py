"""perf.data -> the samples table, by running this machine's ``perf script``.

perf does the symbol resolution (it knows the recorded mmaps, build-ids and the
kernel), lseprof picks the output fields so that its text is trivial to read in
bulk (:class:`lseprof.readers.perf_script.OwnScriptReader`):

    perf script -F pid,tid,event,period,ip,sym,dso --max-stack N
                --show-task-events --show-lost-events [--time A%-B%]

``comm`` is left out of the per-sample header (it may contain spaces) and
rebuilt from the COMM/FORK records; ``time`` is left out because formatting it
is the costliest part of perf script's output and nothing downstream needs it
(the ``time`` column is NaN for perf.data input). Callchains are cut at 2 frames (the sample
and its caller) unless the recording ran under qemu, where the guest instruction
can be several host frames up.

Big files are split by time into one ``perf script`` per CPU. Each slice runs in
its own forked process that parses the text as perf writes it and sends back
compact per-sample codes (:class:`~lseprof.readers.perf_script.ScriptParts`), so
perf and parsing use every core; the parent merges the slices into one table.

The script pass is the only one that reads the samples. Around it, two perf calls
read only the header: ``perf report --header-only`` (version, arch, sample type)
and ``perf buildid-list`` (recorded build-ids). Lost samples: the script prints a
PERF_RECORD_LOST line wherever the ring buffer overflowed; only when it printed
any does ``perf report --stats`` run (another full pass, but a cheap one without
symbols) for perf's exact per-event LOST_SAMPLES counts. Without LOST lines the
count is 0. (The kernel writes a LOST record at the next record that fits, so
samples dropped in the very last moments of a recording, with nothing written
after them, are not seen.)
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import pickle
import re
import select
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn, TypeVar

from lseprof.capture.perf_env import find_perf
from lseprof.errors import LseprofError

if TYPE_CHECKING:
    from lseprof import samples as S
    from lseprof.readers.perf_script import OwnScriptReader, ParsedScript, ScriptParts

# This module loads neither numpy nor pandas until the samples are read, so that
# `lseprof report` can start perf before it imports them (start_perf_data).

MAGIC = b"PERFILE2"
# The layout lseprof.readers.perf_script.OwnScriptReader reads. Text is what perf
# script spends its time on (formatting), so only what attribution needs: no `time`
# (~20% of perf's run time), no `pid` (the task records give it), and no `event`
# when the file holds a single event (OWN_FIELDS_ONE_EVENT).
OWN_FIELDS = "tid,event,period,ip,sym,dso"
OWN_FIELDS_ONE_EVENT = "tid,period,ip,sym,dso"
SPLIT_ABOVE_BYTES = 8 << 20  # smaller files are not worth several perf processes
CHUNK_BYTES = 8 << 20  # perf script text parsed per step
MAX_JOBS = 4  # perf script processes at most (see default_jobs)
_T = TypeVar("_T")
_STATS_EVENT_RE = re.compile(r"^(?P<event>\S.*) stats:\s*$")
_STATS_LOST_RE = re.compile(r"^\s*LOST_SAMPLES events:\s*(\d+)")
_STATS_TOTAL_LOST_RE = re.compile(r"^\s*LOST events:\s*(\d+)")


@dataclass
class PerfDataHeader:
    perf_version: str | None = None
    arch: str | None = None
    cmdline: str = ""
    callchain: bool = False
    has_time: bool = False
    data_offset: int = 0
    data_size: int = 0
    events: list[str] = field(default_factory=list)


def is_perf_data(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(8) == MAGIC
    except OSError:
        return False


def _run(argv: Sequence[str], what: str, timeout: float = 600) -> subprocess.CompletedProcess[
        bytes]:
    try:
        return subprocess.run(list(argv), capture_output=True, check=False, timeout=timeout)
    except OSError as exc:
        raise LseprofError(f"cannot run {argv[0]} ({exc.strerror}); check the perf install"
                           ) from None
    except subprocess.TimeoutExpired:
        raise LseprofError(f"{what} took longer than {timeout:.0f} s; try a smaller perf.data"
                           ) from None


def _first_error(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line and not line.lower().startswith(("warning", "hint", "please use", "(if")):
            return line
    return "no message"


def read_header(perf: str, path: Path) -> PerfDataHeader:
    proc = _run([perf, "report", "--header-only", "-i", str(path)], "perf report --header-only")
    text = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0 or "# ========" not in text:
        raise LseprofError(f"{path}: perf cannot read it ({_first_error(proc.stderr)[:60]}); "
                           "the file is damaged, record it again")
    head = PerfDataHeader()
    for line in text.splitlines():
        key, _, value = line.lstrip("# ").partition(":")
        key, value = key.strip(), value.strip()
        if key == "perf version":
            head.perf_version = value
        elif key == "arch":
            head.arch = value
        elif key == "cmdline":
            head.cmdline = value
        elif key == "data offset":
            head.data_offset = int(value or 0)
        elif key == "data size":
            head.data_size = int(value or 0)
        elif key == "event":
            name = re.search(r"name = ([^,]+)", value)
            if name:
                head.events.append(name[1].strip())
            sample_type = re.search(r"sample_type = ([A-Z_|]+)", value)
            if sample_type:
                kinds = set(sample_type[1].split("|"))
                head.callchain = head.callchain or "CALLCHAIN" in kinds
                head.has_time = head.has_time or "TIME" in kinds
    return head


def read_lost(perf: str, path: Path) -> dict[str, int]:
    """LOST_SAMPLES per event from `perf report --stats` (counts only, no symbols: fast)."""
    proc = _run([perf, "report", "--stats", "-i", str(path)], "perf report --stats")
    lost: dict[str, int] = {}
    event: str | None = None
    total_lost_records = 0
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if (m := _STATS_EVENT_RE.match(line)) is not None and m["event"] != "Aggregated":
            event = m["event"].strip()
            lost.setdefault(event, 0)
        elif (m := _STATS_LOST_RE.match(line)) is not None and event is not None:
            lost[event] = int(m[1])
        elif (m := _STATS_TOTAL_LOST_RE.match(line)) is not None:
            total_lost_records = int(m[1])
    del total_lost_records  # LOST records count ring-buffer overruns, not samples
    return lost


def read_build_ids(perf: str, path: Path) -> dict[str, str]:
    return _parse_build_ids(_run([perf, "buildid-list", "-i", str(path)],
                                 "perf buildid-list").stdout)


def _parse_build_ids(text: bytes) -> dict[str, str]:
    ids: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        build_id, _, dso = line.strip().partition(" ")
        if build_id and dso and re.fullmatch(r"[0-9a-f]{8,}", build_id):
            ids[dso.strip()] = build_id
    return ids


def _script_argv(perf: str, path: Path, max_stack: int, time_slice: str | None,
                 callchain: bool, one_event: bool = False) -> list[str]:
    # Without callchains perf prints the location on the header line; that layout
    # goes through the general reader, with comm and sym+offset (one-line samples
    # carry runtime addresses; sym+offset finds the instruction in the ELF).
    fields = (OWN_FIELDS_ONE_EVENT if one_event else OWN_FIELDS) if callchain else \
        "comm,pid,tid,time,event,period,ip,sym,symoff,dso"
    # --no-inline: inline expansion runs addr2line per address (slow) and would use up
    # the frames that --max-stack keeps.
    argv = [perf, "script", "-i", str(path), "-F", fields, "--max-stack", str(max_stack),
            "--no-inline", "--show-task-events", "--show-lost-events"]
    if time_slice:
        argv += ["--time", time_slice]
    return argv


def _slices(jobs: int) -> list[str | None]:
    if jobs <= 1:
        return [None]
    # perf's percent slices are half-open at the top except the last, so every sample
    # lands in exactly one (tests/test_report_perf_data.py compares the totals).
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
class _ScriptProc:
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


def _start_script(argv: list[str]) -> _ScriptProc:
    # Both files outlive this call: _ScriptProc.close closes them.
    text = tempfile.TemporaryFile(prefix="lseprof-script-")  # noqa: SIM115
    # stderr goes to a file: a pipe nobody reads could fill up and stall perf.
    errors = tempfile.TemporaryFile()  # noqa: SIM115
    done, done_w = os.pipe()
    try:
        proc = subprocess.Popen(argv, stdout=text, stderr=errors, pass_fds=(done_w,))
    except OSError as exc:
        os.close(done)
        text.close()
        errors.close()
        raise LseprofError(f"cannot run {argv[0]} ({exc.strerror}); check the perf "
                           "install") from None
    finally:
        os.close(done_w)
    return _ScriptProc(proc, text, errors, done)


def _follow(script: _ScriptProc, reader: OwnScriptReader) -> None:
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


def _parse_slice(script: _ScriptProc, callchain: bool, event: str | None) -> _Slice:
    """Parse one perf script's text as perf writes it (here or in a forked child);
    `event` names the samples' event where perf was not asked to print it."""
    from lseprof.readers.perf_script import OwnScriptReader, parse_script_text

    if callchain:
        # Parse while perf is still writing: bounded memory, and the two overlap.
        reader = OwnScriptReader("perf-data", event=event)
        _follow(script, reader)
        return _Slice(parts=reader.finish_parts())
    script.finished(None)
    fd = script.text.fileno()
    return _Slice(text=parse_script_text(os.pread(fd, os.fstat(fd).st_size, 0), "perf-data"))


def _in_processes(calls: Sequence[Callable[[], _T]], here: Callable[[], _T],
                  children: list[int]) -> list[_T]:
    """`here()` in this process and each of `calls` in a forked child, all at once;
    the results, here's first. The children's pids are added to `children`: they
    are reaped later (:func:`_reap`), so that the parent need not wait while the
    kernel takes a child's memory apart.

    Fork, not a fresh interpreter: the children start with numpy and the parsers
    already imported. Results (or exceptions) come back pickled in an unnamed
    temporary file (one write, one read: a pipe would take a few hundred wake-ups
    for the ~15 MB of codes of half a million samples); a one-byte pipe says when
    it is complete.
    """
    started: list[tuple[IO[bytes], int]] = []
    outcomes: list[tuple[bool, object]] = []
    try:
        for call in calls:
            box = tempfile.TemporaryFile(prefix="lseprof-slice-")  # noqa: SIM115
            ready, ready_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover  (the child; coverage does not follow it)
                os.close(ready)
                _child(call, box, ready_w)
            os.close(ready_w)
            children.append(pid)
            started.append((box, ready))
        outcomes.append((True, here()))
    finally:
        for result, ready in started:
            with result:
                done = os.read(ready, 1)  # b"" if the child died before writing
                os.close(ready)
                result.seek(0)
                try:
                    outcomes.append(pickle.load(result) if done else (False, RuntimeError(
                        "a perf script worker died")))
                except Exception:
                    outcomes.append((False, RuntimeError("a perf script worker died")))
    for ok, value in outcomes:
        if not ok:
            raise value  # type: ignore[misc]
    return [value for _, value in outcomes]  # type: ignore[misc]


def _reap(children: list[int]) -> None:
    """Wait for the forked parsers in a thread: a child that has sent its result may
    still be exiting (the kernel freeing its memory), and nothing needs to wait."""

    def wait(pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    if children:
        threading.Thread(target=wait, args=(list(children),), daemon=True).start()
    children.clear()


def _child(call: Callable[[], object], box: IO[bytes], ready: int) -> NoReturn:  # pragma: no cover
    status = 0
    try:
        try:
            payload = pickle.dumps((True, call()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # handed to the parent to raise
            try:
                payload = pickle.dumps((False, exc))
            except Exception:
                payload = pickle.dumps((False, RuntimeError(repr(exc))))
        box.write(payload)
        box.flush()
        os.write(ready, b"1")
    except BaseException:
        status = 1
    finally:
        # Never run the parent's exit handlers or flush its buffers twice.
        os._exit(status)


class PerfDataReader:
    """perf.data being read: :func:`start_perf_data` checks the file and starts perf
    script (one per time slice); :meth:`finish` parses its output into a Capture.

    Between the two the caller can do other work, such as importing pandas, while
    perf runs; :meth:`abort` stops perf if that work fails.
    """

    def __init__(self, path: Path, perf: str, head: PerfDataHeader, max_stack: int,
                 jobs: int) -> None:
        self.path = path
        self.perf = perf
        self.head = head
        self.scripts: list[_ScriptProc] = []
        self._children: list[int] = []  # forked parsers, reaped in abort()
        # One event in the file: perf need not print its name on every sample.
        self.event = head.events[0] if len(head.events) == 1 else None
        try:
            for time_slice in _slices(jobs):
                self.scripts.append(_start_script(_script_argv(
                    perf, path, max_stack, time_slice, head.callchain, self.event is not None)))
            # Two quick perf calls (they read the header only), collected when needed.
            self._ids = subprocess.Popen([perf, "buildid-list", "-i", str(path)],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self._version = subprocess.Popen([perf, "--version"], stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL)
        except OSError as exc:
            self.abort()
            raise LseprofError(f"cannot run {perf} ({exc.strerror}); check the perf install"
                               ) from None
        except BaseException:
            self.abort()
            raise
        self._build_ids: dict[str, str] | None = None
        self._perf_version: str | None = None

    @property
    def build_ids(self) -> dict[str, str]:
        """DSO path -> build-id, as recorded (`perf buildid-list`)."""
        if self._build_ids is None:
            self._build_ids = _parse_build_ids(self._ids.communicate()[0])
        return self._build_ids

    @property
    def perf_version(self) -> str:
        """The version of the perf that reads the file (as ``perf_env.perf_version``)."""
        if self._perf_version is None:
            text = self._version.communicate()[0].decode("utf-8", "replace")
            match = re.search(r"(\d+\.\d+(?:\.\d+)?)", text)
            self._perf_version = match[1] if match else text.strip() or "unknown"
        return self._perf_version

    def abort(self) -> None:
        _reap(self._children)
        for script in self.scripts:
            script.close()
        self.scripts = []
        for proc in (getattr(self, "_ids", None), getattr(self, "_version", None)):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()

    def finish(self) -> S.Capture:
        """Wait for perf, parse its text (slices in parallel) and build the Capture."""
        # The parsers make millions of short-lived, acyclic objects (sample blocks):
        # without this the cycle collector walks every live object again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._finish()
        finally:
            if collecting:
                gc.enable()
            self.abort()

    def _finish(self) -> S.Capture:
        import numpy as np

        from lseprof import samples as S
        from lseprof.readers.perf_script import apply_comms, merge_parts

        path, perf, head = self.path, self.perf, self.head
        calls = [functools.partial(_parse_slice, s, head.callchain, self.event)
                 for s in self.scripts]
        results = calls[0]() if len(calls) == 1 else None
        slices = [results] if results is not None else _in_processes(calls[1:], calls[0],
                                                                     self._children)
        for script in self.scripts:
            script.proc.wait()
            if script.proc.returncode != 0:
                script.errors.seek(0)
                raise LseprofError(f"{path}: perf script failed ("
                                   f"{_first_error(script.errors.read())[:60]}); the file is "
                                   "damaged, record it again")
        if head.callchain:
            parts = [s.parts for s in slices if s.parts is not None]
            merged = merge_parts(parts, "perf-data")
            frame = merged.samples
            # Every time slice repeats the whole task history (and the LOST records).
            first = max(parts, key=lambda p: len(p.tasks.records))
            apply_comms(frame, first.tasks)
            lost_records = first.lost_records
            unknown, examples = merged.unknown_lines, merged.unknown_examples
        else:
            texts = [s.text for s in slices if s.text is not None]
            frame = S.concat([t.samples for t in texts])
            lost_records = max(t.lost_records for t in texts)
            unknown = sum(t.unknown_lines for t in texts)
            examples = [x for t in texts for x in t.unknown_examples][:5]
        # Events in order of appearance, from the codes (no million-row string column).
        codes = frame["event"].cat.codes.to_numpy()
        names = [str(e) for e in frame["event"].cat.categories]
        present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(names)))
        first_at = [int(np.argmax(codes == c)) for c in present.tolist()]
        seen = [names[c] for _, c in sorted(zip(first_at, present.tolist(), strict=True))]
        events = [e for e in head.events if e in seen] + [e for e in seen
                                                            if e not in head.events]
        lost = read_lost(perf, path) if lost_records else {}
        warnings = []
        if head.perf_version and head.perf_version != self.perf_version:
            warnings.append(f"recorded with perf {head.perf_version}, read with perf "
                            f"{self.perf_version}")
        return S.Capture(
            warnings=warnings,
            samples=frame, source_kind="perf-data", path=str(path), events=events,
            perf_version=self.perf_version, lost_samples={e: lost.get(e, 0) for e in events},
            sample_counts={}, unknown_lines=unknown, unknown_examples=examples,
            build_ids=self.build_ids, arch=head.arch, runtime_ips=not head.callchain)


def start_perf_data(path: Path, max_stack: int | None = None, jobs: int | None = None,
                    split_above_bytes: int = SPLIT_ABOVE_BYTES) -> PerfDataReader:
    """Check a perf.data and start perf script on it (see :class:`PerfDataReader`)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LseprofError(f"{path}: {exc.strerror}; check the path") from None
    if size == 0:
        raise LseprofError(f"{path} is empty; record the profile again (perf record -g ...)")
    try:
        perf = find_perf()
    except LseprofError:
        # perf_env's message lists every distribution; one short line is enough here.
        raise LseprofError(f"perf is not on PATH; install it (Debian: linux-perf) to read "
                           f"{path.name}") from None
    head = read_header(perf, path)
    if head.data_offset and head.data_offset + head.data_size > size:
        raise LseprofError(f"{path} is truncated ({size} of {head.data_offset + head.data_size} "
                           "bytes); copy or record it again")
    if max_stack is None:
        emulated = "qemu-" in head.cmdline
        max_stack = 64 if emulated else 2
    if not head.callchain:
        max_stack = 1
    if jobs is None:
        jobs = default_jobs()
    if size < split_above_bytes or not head.has_time:
        jobs = 1
    return PerfDataReader(path, perf, head, max_stack, jobs)


def read_perf_data(path: Path, max_stack: int | None = None, jobs: int | None = None,
                   split_above_bytes: int = SPLIT_ABOVE_BYTES) -> S.Capture:
    """Run perf on a perf.data and return its samples (see the module docstring)."""
    return start_perf_data(path, max_stack, jobs, split_above_bytes).finish()
