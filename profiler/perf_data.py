"""perf.data -> the samples table, by running this machine's ``perf script``.

perf does the symbol resolution (it knows the recorded mmaps, build-ids and the
kernel), lseprof picks the output fields so that its text is trivial to read in
bulk (:func:`profiler.perf_script_parse.parse_own_script`):

    perf script -F pid,tid,event,period,ip,sym,dso --max-stack N
                --show-task-events --show-lost-events [--time A%-B%]

``comm`` is left out of the per-sample header (it may contain spaces) and
rebuilt from the COMM/FORK records; ``time`` is left out because formatting it
is the costliest part of perf script's output and nothing downstream needs it
(the ``time`` column is NaN for perf.data input). Callchains are cut at 2 frames (the sample
and its caller) unless the recording ran under qemu, where the guest instruction
can be several host frames up. Big files are split by time into one ``perf
script`` per CPU running side by side; their outputs are parsed as they arrive.
Around that, three cheap perf calls read the header (version, arch, sample
type, whether the data is complete), the lost-sample counts (``perf report
--stats``) and the recorded build-ids (``perf buildid-list``).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from profiler import samples as S
from profiler.errors import LseprofError
from profiler.perf_env import find_perf, perf_version
from profiler.perf_script_parse import (
    OWN_FIELDS,
    OwnScriptReader,
    TaskEvents,
    apply_comms,
    parse_script_text,
)

MAGIC = b"PERFILE2"
SPLIT_ABOVE_BYTES = 8 << 20  # smaller files are not worth several perf processes
CHUNK_BYTES = 8 << 20  # perf script text parsed per step
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
    proc = _run([perf, "buildid-list", "-i", str(path)], "perf buildid-list")
    ids: dict[str, str] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        build_id, _, dso = line.strip().partition(" ")
        if build_id and dso and re.fullmatch(r"[0-9a-f]{8,}", build_id):
            ids[dso.strip()] = build_id
    return ids


def _script_argv(perf: str, path: Path, max_stack: int, time_slice: str | None,
                 callchain: bool) -> list[str]:
    # Without callchains perf prints the location on the header line; that layout
    # goes through the general reader, with comm and sym+offset (one-line samples
    # carry runtime addresses; sym+offset finds the instruction in the ELF).
    fields = OWN_FIELDS if callchain else "comm,pid,tid,time,event,period,ip,sym,symoff,dso"
    # --no-inline: inline expansion runs addr2line per address (slow) and would use up
    # the frames that --max-stack keeps.
    argv = [perf, "script", "-i", str(path), "-F", fields, "--max-stack", str(max_stack),
            "--no-inline", "--show-task-events", "--show-lost-events"]
    if time_slice:
        argv += ["--time", time_slice]
    return argv


def _follow(proc: subprocess.Popen[bytes], handle: BinaryIO) -> Iterator[bytes]:
    """Chunks of about CHUNK_BYTES of a file perf script is still writing, until it exits.

    perf writes to a file, not a pipe: a 64 KiB pipe makes perf wait whenever the
    parser is busy (and the parser holds the GIL while it works), so the two would
    take turns instead of running side by side.
    """
    pending: list[bytes] = []
    size = 0
    while True:
        finished = proc.poll() is not None
        block = handle.read(CHUNK_BYTES - size)
        if block:
            pending.append(block)
            size += len(block)
            if size >= CHUNK_BYTES:
                yield b"".join(pending)
                pending, size = [], 0
        elif finished:
            break
        else:
            time.sleep(0.005)
    if pending:
        yield b"".join(pending)


def _slices(jobs: int) -> list[str | None]:
    if jobs <= 1:
        return [None]
    # perf's percent slices are half-open at the top except the last, so every sample
    # lands in exactly one (tests/test_report_perf_data.py compares the totals).
    edges = [round(100 * i / jobs, 4) for i in range(jobs + 1)]
    return [f"{edges[i]}%-{edges[i + 1]}%" for i in range(jobs)]


def read_perf_data(path: Path, max_stack: int | None = None, jobs: int | None = None,
                   split_above_bytes: int = SPLIT_ABOVE_BYTES) -> S.Capture:
    """Run perf on a perf.data and return its samples (see the module docstring)."""
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
        # Each slice keeps two cores busy: perf script, and lseprof parsing its output.
        # $LSEPROF_REPORT_JOBS overrides (benchmarks, machines shared with other work).
        env_jobs = os.environ.get("LSEPROF_REPORT_JOBS", "")
        jobs = int(env_jobs) if env_jobs.isdigit() and int(env_jobs) > 0 else max(
            1, (os.cpu_count() or 1) // 2)
    if size < split_above_bytes or not head.has_time:
        jobs = 1
    lost = read_lost(perf, path)
    build_ids = read_build_ids(perf, path)
    slices = _slices(jobs)
    tasks = TaskEvents()
    lock = threading.Lock()

    def one(time_slice: str | None) -> tuple[S.Capture | None, str]:
        argv = _script_argv(perf, path, max_stack, time_slice, head.callchain)
        # stderr goes to a file: a pipe nobody reads could fill up and stall perf.
        with tempfile.TemporaryFile() as errors, tempfile.NamedTemporaryFile(
                prefix="lseprof-script-") as text:
            try:
                proc = subprocess.Popen(argv, stdout=text, stderr=errors)
            except OSError as exc:
                raise LseprofError(f"cannot run {perf} ({exc.strerror}); check the perf "
                                   "install") from None
            local = TaskEvents()
            with open(text.name, "rb") as follow:
                if head.callchain:
                    # Parse while perf is still writing: bounded memory, and the two overlap.
                    reader = OwnScriptReader("perf-data")
                    for chunk in _follow(proc, follow):
                        reader.feed(chunk)
                    parsed = reader.finish()
                    local = reader.tasks
                else:
                    parsed = parse_script_text(b"".join(_follow(proc, follow)), "perf-data")
            returncode = proc.wait()
            errors.seek(0)
            err = errors.read()
        if returncode != 0:
            raise LseprofError(f"{path}: perf script failed ({_first_error(err)[:60]}); "
                               "the file is damaged, record it again")
        with lock:
            # Every time slice repeats the whole task history; keep one copy.
            if len(local.records) > len(tasks.records):
                tasks.records = local.records
        part = S.Capture(parsed.samples, "perf-data", str(path), [],
                         unknown_lines=parsed.unknown_lines,
                         unknown_examples=parsed.unknown_examples)
        return part, err.decode("utf-8", "replace")

    if len(slices) == 1:
        results = [one(slices[0])]
    else:
        with ThreadPoolExecutor(max_workers=len(slices)) as pool:
            results = list(pool.map(one, slices))
    parts = [r[0] for r in results if r[0] is not None]
    frame = S.concat([p.samples for p in parts])
    if head.callchain:
        apply_comms(frame, tasks)
    seen = [str(e) for e in frame["event"].astype(object).unique()] if len(frame) else []
    events = [e for e in head.events if e in seen] + [e for e in seen if e not in head.events]
    unknown = sum(p.unknown_lines for p in parts)
    examples = [x for p in parts for x in p.unknown_examples][:5]
    warnings = []
    if head.perf_version and head.perf_version != perf_version(perf):
        warnings.append(f"recorded with perf {head.perf_version}, read with perf "
                        f"{perf_version(perf)}")
    return S.Capture(
        warnings=warnings,
        samples=frame, source_kind="perf-data", path=str(path), events=events,
        perf_version=perf_version(perf), lost_samples={e: lost.get(e, 0) for e in events},
        sample_counts={}, unknown_lines=unknown, unknown_examples=examples,
        build_ids=build_ids, arch=head.arch)
