"""Folded stacks from perf.data files, and the two-column differential form.

One folded line is ``root;frame;...;leaf COUNT``: a whole callchain, root
first, and how many samples ended in it. The differential form that
FlameGraph's differential tools read puts two counts on each line,
``root;...;leaf COUNT_A COUNT_B``.

Stacks come from ``perf script -F comm,event,ip,sym,dso --no-inline`` with a
callchain limit far above what the kernel records, so every recorded frame is
kept. The fields are chosen so that the text is cheap to fold in bulk: no pid,
tid, time or period, so every sample with the same command, event and frames
prints the same record, and a :class:`collections.Counter` over the records
(C code) does the counting. Python then touches each *distinct* record once
and each *distinct* frame line once; names that need an ELF or a qemu perf map
are looked up for all of those lines together with numpy.

Frames are named as perf names them. Where perf could not (``[unknown]``):
emulated guest code (qemu ``-perfmap`` entries) is mapped to the guest address
through the run's perf map and named from the aarch64 ELF; other addresses are
looked up in a ``--binary`` with the DSO's file name; what is left becomes
``[dso file name]``. The command name is the root frame.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lseprof import samples as S
from lseprof.analysis.classify import Rule, default_rules
from lseprof.capture.perf_env import find_perf
from lseprof.errors import LseprofError
from lseprof.readers.perf_data import is_perf_data
from lseprof.readers.perfmap import GUEST_PREFIX, PerfMap
from lseprof.symbols.atomic_names import parse_helper
from lseprof.symbols.elf import ElfImage

FOLD_FIELDS = "comm,event,ip,sym,dso"
# The kernel records at most kernel.perf_event_max_stack frames (127 by default);
# asking perf script for more than that keeps whatever was recorded.
FULL_STACK = 4096
SCRIPT_TIMEOUT_S = 600.0
CHUNK_BYTES = 8 << 20  # perf script text counted per step
JIT_FRAME = "[jit]"  # JIT code no perf map entry names (qemu's own generated code)
_HEADER_RE = re.compile(r"^\s*(?P<comm>.*?)\s+(?P<event>\S+):\s*(?P<frame>[0-9a-fA-F]+\s.*)?$")


@dataclass(frozen=True)
class ProfileSource:
    """One perf.data, with what names its frames perf could not."""

    perf_data: Path
    perf_map: Path | None = None  # qemu -perfmap file of an emulated run
    binaries: tuple[Path, ...] = ()


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


_RUST_ESCAPES = {"LT": "<", "GT": ">", "RF": "&", "BP": "*", "C": ",", "SP": "@",
                 "LP": "(", "RP": ")"}
_RUST_ESCAPE_RE = re.compile(r"\$(LT|GT|RF|BP|C|SP|LP|RP|u[0-9a-f]{1,6})\$")
_RUST_HASH_RE = re.compile(r"^h[0-9a-f]{16}$")
_LLVM_SUFFIX_RE = re.compile(r"\.llvm\.\d+$")


def demangle(name: str) -> str:
    """An Itanium-style nested name (``_ZN...E``, what rustc's legacy mangling makes)
    as perf prints host symbols: ``a::b::c``, without Rust's trailing hash. Names from
    an ELF symbol table (emulated guest code) come mangled; anything else is kept."""
    base = _LLVM_SUFFIX_RE.sub("", name)  # LTO's ".llvm.<n>" is not part of the name
    if not (base.startswith("_ZN") and base.endswith("E")):
        return name
    name = base
    parts: list[str] = []
    pos, end = 3, len(name) - 1
    while pos < end:
        digits = pos
        while digits < end and name[digits].isdigit():
            digits += 1
        if digits == pos:
            return name  # not a plain nested name (templates, qualifiers): leave it
        size = int(name[pos:digits])
        parts.append(name[digits:digits + size])
        pos = digits + size
    if pos != end or not parts:
        return name
    if _RUST_HASH_RE.match(parts[-1]):
        parts.pop()
    # rustc writes "_" before a part that would start with "$".
    text = "::".join(p[1:] if p.startswith("_$") else p for p in parts)
    text = text.replace("..", "::")
    return _RUST_ESCAPE_RE.sub(_unescape, text)


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    return _RUST_ESCAPES.get(code) or chr(int(code[1:], 16))


@cache
def _helper_rules() -> tuple[Rule, ...]:
    return tuple(r for r in default_rules() if r.category == "atomic_helper" and r.caller is None)


def _is_helper(name: str, dso: str) -> bool:
    """Whether a frame is an atomic helper by the default classification rules."""
    return parse_helper(name) is not None or any(
        rule.matches(name, dso, "") for rule in _helper_rules())


def _hex(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        return 0


def _images(paths: Sequence[Path]) -> list[ElfImage]:
    return [ElfImage(Path(p)) for p in paths]


def _map_for(dso: str, source: ProfileSource) -> Path | None:
    """The qemu perf map a ``perf-PID.map`` DSO refers to, wherever it was kept."""
    name = Path(dso).name
    if source.perf_map is not None and source.perf_map.name == name:
        return source.perf_map
    if (source.perf_data.parent / name).is_file():  # kept beside perf.data by lseprof run
        return source.perf_data.parent / name
    if source.perf_map is not None:  # one process, one map, whatever it is called now
        return source.perf_map
    return Path(dso) if Path(dso).is_file() else None  # still in /tmp


class _FrameNamer:
    """Names for distinct frame lines (``\\t   ip sym (dso)``) of one perf.data."""

    def __init__(self, source: ProfileSource, images: list[ElfImage]) -> None:
        self.source = source
        self.images = images
        self.guest_images = sorted((im for im in images if im.arch == "aarch64"),
                                   key=lambda im: im.is_pie_or_shared)
        self.names: dict[str, str] = {}
        self.helpers: set[str] = set()

    def add(self, lines: Iterable[str]) -> None:
        """Name every line not named yet, all of them in a few bulk lookups."""
        todo = [line for line in lines if line not in self.names]
        if not todo:
            return
        ips, syms, dsos = [], [], []
        for line in todo:
            ip, _, rest = line.strip().partition(" ")
            sym, paren, dso = rest.rpartition(" (")
            if not paren:
                sym, dso = rest, ""
            ips.append(ip)
            syms.append(sym)
            dsos.append(dso[:-1] if dso.endswith(")") else dso)
        names = np.array(syms, dtype=object)
        dso_arr = np.array(dsos, dtype=object)
        addr = np.array([_hex(ip) for ip in ips], dtype=np.uint64)
        self._name_guest(names, dso_arr, addr)
        self._name_from_binaries(names, dso_arr, addr)
        for i, line in enumerate(todo):
            name = str(names[i])
            if name == S.UNKNOWN:
                dso = str(dso_arr[i])
                base = Path(dso).name if dso else ""
                if base.startswith("perf-") and base.endswith(".map"):
                    name = JIT_FRAME  # one name for every run's map (pids differ)
                else:
                    name = f"[{base}]" if base and not base.startswith("[") else (
                        dso or S.UNKNOWN)
            # ';' separates frames in the folded format; a name must not contain one.
            name = demangle(name).replace(";", ":")
            self.names[line] = name
            if _is_helper(name, str(dso_arr[i])):
                self.helpers.add(name)

    def _name_guest(self, names: np.ndarray, dsos: np.ndarray, addr: np.ndarray) -> None:
        """qemu JIT frames: host address -> guest address (perf map) -> aarch64 symbol."""
        base = np.array([Path(str(d)).name for d in dsos.tolist()], dtype=object)
        in_map = np.array([b.startswith("perf-") and b.endswith(".map") for b in base.tolist()],
                          dtype=bool)
        named_guest = np.array([str(n).startswith(GUEST_PREFIX) for n in names.tolist()],
                               dtype=bool)
        rows = np.flatnonzero(in_map | named_guest)
        if rows.size == 0:
            return
        guest = np.zeros(rows.size, np.uint64)
        known = np.zeros(rows.size, bool)
        for dso in sorted({str(d) for d in dsos[rows].tolist()}):
            part = dsos[rows] == dso
            map_path = _map_for(dso, self.source) if dso.endswith(".map") else None
            if map_path is not None:
                got, ok = PerfMap(map_path).guest_addresses(addr[rows][part])
                guest[part], known[part] = got, ok
        for j in np.flatnonzero(~known).tolist():
            text = str(names[rows[j]])
            if text.startswith(GUEST_PREFIX):
                with contextlib.suppress(ValueError):
                    guest[j], known[j] = int(text[len(GUEST_PREFIX):], 16), True
        labels = np.array([f"{GUEST_PREFIX}{a:x}" for a in guest.tolist()], dtype=object)
        named = np.zeros(rows.size, bool)
        for image in self.guest_images:  # static binaries first: their addresses are exact
            found, _ = image.symbols.lookup(guest)
            hit = known & ~named & (found != None)  # noqa: E711 (object arrays)
            labels[hit] = found[hit]
            named |= hit
        names[rows[known]] = labels[known]

    def _name_from_binaries(self, names: np.ndarray, dsos: np.ndarray,
                            addr: np.ndarray) -> None:
        """``[unknown]`` frames in a DSO that a --binary of the same file name covers."""
        unknown = names == S.UNKNOWN
        if not unknown.any():
            return
        by_name = {im.path.name: im for im in self.images}
        for dso in sorted({str(d) for d in dsos[unknown].tolist()}):
            image = by_name.get(Path(dso).name)
            if image is None:
                continue
            rows = np.flatnonzero(unknown & (dsos == dso))
            found, _ = image.symbols.lookup(addr[rows])
            hit = found != None  # noqa: E711 (object arrays)
            names[rows[hit]] = found[hit]


def _script_records(perf: str, path: Path) -> Counter[str]:
    """Distinct sample records of ``perf script`` on ``path``, with how often each came.

    The text is counted chunk by chunk as perf writes it (cut at a record boundary),
    so memory holds the distinct records, not the whole text.
    """
    argv = [perf, "script", "-i", str(path), "-F", FOLD_FIELDS, "--no-inline",
            "--max-stack", str(FULL_STACK)]
    records: Counter[str] = Counter()
    # stderr to a file: a pipe nobody reads could fill up and stall perf.
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
        except OSError as exc:
            raise LseprofError(f"cannot run {perf} ({exc.strerror}); check the perf install"
                               ) from None
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
                tail = data[cut + 2:]
            records.update(tail.decode("utf-8", "replace").split("\n\n"))
            returncode = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:  # interrupted while reading: leave no perf behind
                proc.kill()
                proc.wait()
        if fired.is_set():
            raise LseprofError(f"perf script on {path} took longer than "
                               f"{SCRIPT_TIMEOUT_S:.0f} s; use a smaller perf.data")
        errors.seek(0)
        message = errors.read().decode("utf-8", "replace").strip().splitlines()
    if returncode != 0:
        first = next((m for m in message if m.strip()), "no message")
        raise LseprofError(f"{path}: perf script failed ({first[:80]}); the file is damaged, "
                           "record it again")
    return records


def fold_text(text: str, source: ProfileSource, event: str | None = None,
              images: list[ElfImage] | None = None) -> Folded:
    """Fold the output of ``perf script -F comm,event,ip,sym,dso`` (see the module doc)."""
    return fold_records(Counter(text.split("\n\n")), source, event, images)


def fold_records(records: Counter[str], source: ProfileSource, event: str | None = None,
                 images: list[ElfImage] | None = None) -> Folded:
    """Fold distinct ``perf script`` records (blank-line separated samples) and counts."""
    namer = _FrameNamer(source, images if images is not None else _images(source.binaries))
    parsed: list[tuple[str, list[str], int]] = []
    headers: dict[str, tuple[str, str, str | None] | None] = {}
    for record, count in records.items():
        record = record.strip("\n")
        if not record:
            continue
        head, _, body = record.partition("\n")
        if head not in headers:
            match = _HEADER_RE.match(head)
            headers[head] = None if match is None else (
                match["comm"].strip(), match["event"], match["frame"])
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


def collapse(sources: Sequence[ProfileSource], event: str | None = None,
             jobs: int | None = None) -> Folded:
    """Every sample of ``event`` (all events if None) in ``sources``, folded and summed.

    Each perf.data gets its own ``perf script``, several at once.
    """
    for source in sources:
        if not Path(source.perf_data).is_file():
            raise LseprofError(f"{source.perf_data}: no such perf.data; the run's artifacts "
                               "were moved or deleted")
        if not is_perf_data(source.perf_data):
            raise LseprofError(f"{source.perf_data} is not a perf.data file; folded stacks "
                               "are read from perf.data")
    try:
        perf = find_perf()
    except LseprofError:
        raise LseprofError("perf is not on PATH; install it (Debian: linux-perf) to fold "
                           "stacks") from None
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
        raise LseprofError(f"B has no samples{' of ' + b.event if b.event else ''} to fold; "
                           "check that it was recorded with perf")
    if a.samples == 0:
        raise LseprofError(f"A has no samples{' of ' + a.event if a.event else ''} to fold; "
                           "check that it was recorded with perf")
    keys = sorted(set(a.stacks) | set(b.stacks))
    raw_a = np.array([a.stacks.get(k, 0) for k in keys], dtype=np.int64)
    raw_b = np.array([b.stacks.get(k, 0) for k in keys], dtype=np.int64)
    scaled = scale_counts(raw_a, int(raw_b.sum()))
    rows = list(zip(keys, raw_a.tolist(), scaled.tolist(), raw_b.tolist(), strict=True))
    return FoldedDiff(rows, int(raw_a.sum()), int(raw_b.sum()),
                      a.helper_frames | b.helper_frames, b.event or a.event)


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
