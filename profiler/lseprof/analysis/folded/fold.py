"""Folding perf.data files into stacks (see the package docstring)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lseprof import samples as S
from lseprof.analysis.folded.frames import FrameNamer, images_of
from lseprof.analysis.stored_runs import ProfileSource
from lseprof.capture.perf_cli import perf_argv, start_perf
from lseprof.capture.perf_env import find_perf
from lseprof.errors import LseprofError
from lseprof.readers.perf_data import is_perf_data
from lseprof.symbols.elf import ElfImage

FOLD_FIELDS = "comm,event,ip,sym,dso"
# The kernel records at most kernel.perf_event_max_stack frames (127 by default);
# asking perf script for more than that keeps whatever was recorded.
FULL_STACK = 4096
SCRIPT_TIMEOUT_S = 600.0
CHUNK_BYTES = 8 << 20  # perf script text counted per step
_HEADER_RE = re.compile(r"^\s*(?P<comm>.*?)\s+(?P<event>\S+):\s*(?P<frame>[0-9a-fA-F]+\s.*)?$")


@dataclass
class Folded:
    """One side's folded stacks: stack -> samples, summed over its perf.data files."""

    stacks: Counter[str] = field(default_factory=Counter)
    helper_frames: set[str] = field(default_factory=set)  # names classified atomic_helper
    event: str | None = None

    @property
    def samples(self) -> int:
        return sum(self.stacks.values())


@dataclass
class FoldedDiff:
    """Both sides' stacks, A scaled to B's sample total (see :func:`differential`)."""

    stacks: list[tuple[str, int, int, int]]  # stack, A raw, A scaled to B's total, B
    total_a: int  # A's samples as recorded
    total_b: int  # B's samples (the scaled A column adds up to this too)
    helper_frames: set[str]
    event: str | None

    def lines(self) -> Iterable[str]:
        """The two-column lines: stack, A (scaled), B."""
        for stack, _raw, scaled, b in self.stacks:
            yield f"{stack} {scaled} {b}"


def _script_records(perf: str, path: Path) -> Counter[str]:
    """Distinct sample records of ``perf script`` on ``path``, with how often each came.

    The text is counted chunk by chunk as perf writes it (cut at a record boundary),
    so memory holds the distinct records, not the whole text.
    """
    from lseprof.readers.perf_data import read_header

    argv = perf_argv(
        perf, "script", "-i", path, "-F", FOLD_FIELDS, "--no-inline", "--max-stack", str(FULL_STACK)
    )
    if read_header(perf, path).tracepoints:
        argv += ["-F", "trace:"]  # scheduler events are not samples of time on CPU
    records: Counter[str] = Counter()
    # stderr to a file: a pipe nobody reads could fill up and stall perf.
    with tempfile.TemporaryFile() as errors:
        proc = start_perf(argv, stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        # A perf that hangs is killed; reading then ends, and the timeout is reported.
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            proc.kill()

        watchdog = threading.Timer(SCRIPT_TIMEOUT_S, stop)
        watchdog.start()
        try:
            tail = b""
            while chunk := proc.stdout.read(CHUNK_BYTES):
                data = tail + chunk
                cut = data.rfind(b"\n\n")
                if cut < 0:
                    tail = data
                    continue
                records.update(data[:cut].decode("utf-8", "replace").split("\n\n"))
                tail = data[cut + 2 :]
            records.update(tail.decode("utf-8", "replace").split("\n\n"))
            returncode = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:  # interrupted while reading: leave no perf behind
                proc.kill()
                proc.wait()
        if fired.is_set():
            raise LseprofError(
                f"perf script on {path} took longer than "
                f"{SCRIPT_TIMEOUT_S:.0f} s; use a smaller perf.data"
            )
        errors.seek(0)
        message = errors.read().decode("utf-8", "replace").strip().splitlines()
    if returncode != 0:
        first = next((m for m in message if m.strip()), "no message")
        raise LseprofError(
            f"{path}: perf script failed ({first[:80]}); the file is damaged, record it again"
        )
    return records


def fold_text(
    text: str, source: ProfileSource, event: str | None = None, images: list[ElfImage] | None = None
) -> Folded:
    """Fold the output of ``perf script -F comm,event,ip,sym,dso`` (see the module doc)."""
    return fold_records(Counter(text.split("\n\n")), source, event, images)


def fold_records(
    records: Counter[str],
    source: ProfileSource,
    event: str | None = None,
    images: list[ElfImage] | None = None,
) -> Folded:
    """Fold distinct ``perf script`` records (blank-line separated samples) and counts."""
    namer = FrameNamer(source, images if images is not None else images_of(source.binaries))
    parsed: list[tuple[str, list[str], int]] = []
    headers: dict[str, tuple[str, str, str | None] | None] = {}
    for record, count in records.items():
        record = record.strip("\n")
        if not record:
            continue
        head, _, body = record.partition("\n")
        if head not in headers:
            match = _HEADER_RE.match(head)
            headers[head] = (
                None if match is None else (match["comm"].strip(), match["event"], match["frame"])
            )
        info = headers[head]
        if info is None:
            continue  # not a sample (perf prints nothing else with these options)
        comm, sample_event, inline_frame = info
        if event is not None and sample_event != event:
            continue
        # Without a callchain perf prints the one frame on the header line.
        frames = body.split("\n") if body else ["\t" + inline_frame] if inline_frame else []
        parsed.append((comm or S.UNKNOWN, frames, count))
    namer.add({line for _, frames, _ in parsed for line in frames})
    names = namer.names
    folded = Folded(event=event)
    stacks = folded.stacks
    for comm, frames, count in parsed:
        root = comm.replace(";", ":")
        stack = ";".join([root, *[names[line] for line in reversed(frames)]])
        stacks[stack] += count
    folded.helper_frames = namer.helpers
    return folded


def collapse(
    sources: Sequence[ProfileSource], event: str | None = None, jobs: int | None = None
) -> Folded:
    """Every sample of ``event`` (all events if None) in ``sources``, folded and summed.

    Each perf.data gets its own ``perf script``, several at once.
    """
    for source in sources:
        if not Path(source.perf_data).is_file():
            raise LseprofError(
                f"{source.perf_data}: no such perf.data; the run's artifacts were moved or deleted"
            )
        if not is_perf_data(source.perf_data):
            raise LseprofError(
                f"{source.perf_data} is not a perf.data file; folded stacks are read from perf.data"
            )
    try:
        perf = find_perf()
    except LseprofError:
        raise LseprofError(
            "perf is not on PATH; install it (Debian: linux-perf) to fold stacks"
        ) from None
    # Each ELF once, however many runs name it.
    cache: dict[Path, ElfImage] = {}
    for source in sources:
        for path in source.binaries:
            if Path(path) not in cache:
                cache[Path(path)] = ElfImage(Path(path))

    def one(source: ProfileSource) -> Folded:
        images = [cache[Path(p)] for p in source.binaries]
        return fold_records(_script_records(perf, source.perf_data), source, event, images)

    workers = jobs or max(1, min(len(sources), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(one, sources))
    total = Folded(event=event)
    for part in parts:
        total.stacks.update(part.stacks)
        total.helper_frames |= part.helper_frames
    return total


def scale_counts(counts: npt.ArrayLike, target: int) -> npt.NDArray[np.int64]:
    """``counts`` scaled to add up to exactly ``target`` (largest-remainder rounding)."""
    values = np.asarray(counts, dtype=np.float64)
    total = float(values.sum())
    if total <= 0 or target <= 0:
        return np.zeros(values.size, np.int64)
    exact = values * (target / total)
    floor = np.floor(exact)
    short = int(target - floor.sum())
    if short > 0:
        order = np.argsort(-(exact - floor), kind="stable")
        floor[order[:short]] += 1
    result: npt.NDArray[np.int64] = floor.astype(np.int64)
    return result


def differential(a: Folded, b: Folded) -> FoldedDiff:
    """Both sides on one list, A's counts scaled to B's total.

    Scaling A (not B) keeps B's counts as recorded, and B's counts are what a
    differential flame graph draws as widths; it is what difffolded's ``-n``
    does. Rounding is largest-remainder, so the A column adds up to B's total
    exactly.
    """
    if b.samples == 0:
        raise LseprofError(
            f"B has no samples{' of ' + b.event if b.event else ''} to fold; "
            "check that it was recorded with perf"
        )
    if a.samples == 0:
        raise LseprofError(
            f"A has no samples{' of ' + a.event if a.event else ''} to fold; "
            "check that it was recorded with perf"
        )
    keys = sorted(set(a.stacks) | set(b.stacks))
    raw_a = np.array([a.stacks.get(k, 0) for k in keys], dtype=np.int64)
    raw_b = np.array([b.stacks.get(k, 0) for k in keys], dtype=np.int64)
    scaled = scale_counts(raw_a, int(raw_b.sum()))
    rows = list(zip(keys, raw_a.tolist(), scaled.tolist(), raw_b.tolist(), strict=True))
    return FoldedDiff(
        rows,
        int(raw_a.sum()),
        int(raw_b.sum()),
        a.helper_frames | b.helper_frames,
        b.event or a.event,
    )


def write_folded(path: Path, diff: FoldedDiff, header: Sequence[str] = ()) -> None:
    """Write the two-column file; ``header`` lines go first as ``# `` comments.

    FlameGraph's tools skip lines that do not end in a count, so comment lines
    must not end in a digit: each gets a closing word.
    """
    lines = [f"# {line} (lseprof)" for line in header]
    lines.extend(diff.lines())
    try:
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise LseprofError(f"cannot write {path} ({exc.strerror}); check the path") from None
