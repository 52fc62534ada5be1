"""Guest addresses of an emulated run -> (object, ELF address, symbol).

qemu user mode loads the guest's executable, its dynamic loader and every shared
object with plain host ``mmap`` calls, without ``PROT_EXEC`` (it translates the
code, it never runs it). ``perf record -d`` keeps those file mappings in the
perf.data as MMAP2 records of the qemu process, and with a guest base of 0 (64-bit
guest on a 64-bit host, qemu's default) their host addresses are the guest
addresses that ``-perfmap`` prints. So a guest address is resolved like a native
runtime address: mapping -> file offset -> ELF virtual address (through the
object's program headers) -> symbol.

The base is checked, not assumed: if most guest addresses fall outside every
recorded guest mapping, the mappings are not used and a note says why.

An object is read from ``--binary`` (matched by build-id, else file name),
``--symfs DIR`` or its recorded path, and only if its build-id matches the one
recorded (``perf record --buildid-mmap``); otherwise its samples stay unnamed,
counted, with a note naming the object and what to pass. A stripped object keeps
the full symbol table of its separate debug file where one is installed (Debian's
``-dbg`` packages, by build-id under ``usr/lib/debug/.build-id``); without one it
keeps its dynamic symbols, and its outline-atomic helpers are found by their code
shape (the fingerprints ``lseprof inspect`` uses), so helpers in a stripped libc
are still named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lseprof.errors import LseprofError
from lseprof.readers.mmaps import file_offsets
from lseprof.samples import Mapping
from lseprof.symbols.elf import ElfImage
from lseprof.symbols.inspect_elf import fingerprinted_helpers

# Below this share of guest samples inside recorded guest mappings, the mappings are
# taken not to describe guest addresses (a non-zero guest base, a 32-bit guest).
MIN_COVERED = 0.5


def is_emulator(path: str) -> bool:
    """qemu's own executable (qemu-aarch64, qemu-aarch64-static, ...)."""
    return Path(path).name.startswith("qemu-")


def guest_mappings(mappings: Sequence[Mapping]) -> list[Mapping]:
    """File mappings that can hold guest code: not qemu itself, not anonymous memory."""
    return [
        m
        for m in mappings
        if m.path.startswith("/") and not is_emulator(m.path) and m.path != "//anon"
    ]


@dataclass
class GuestObject:
    """One guest object seen in the mappings, and where its symbols came from."""

    path: str  # as recorded
    build_id: str | None  # as recorded (None without --buildid-mmap)
    image: ElfImage | None = None
    problem: str | None = None  # why its samples stay unnamed
    samples: int = 0


@dataclass
class GuestNames:
    """Per address: the object it lies in (None outside every mapping), its ELF
    address there, and the symbol (None where unnamed)."""

    objects: npt.NDArray[np.object_]
    vaddrs: npt.NDArray[np.uint64]
    names: npt.NDArray[np.object_]
    offsets: npt.NDArray[np.int64]
    covered: float  # share of addresses inside a guest mapping
    notes: list[str] = field(default_factory=list)


def debug_file(image: ElfImage, roots: Sequence[Path]) -> Path | None:
    """The separate debug file of a stripped object, where Debian's -dbg packages (and
    perf, gdb) keep it: ``ROOT/usr/lib/debug/.build-id/ab/cdef....debug``. Roots are
    ``--symfs``, every directory above the object (an unpacked sysroot) and /."""
    if not image.build_id or len(image.build_id) < 3:
        return None
    tail = Path("usr/lib/debug/.build-id") / image.build_id[:2] / f"{image.build_id[2:]}.debug"
    for root in (*roots, *image.path.resolve().parents):
        candidate = root / tail
        if candidate.is_file():
            return candidate
    return None


def use_debug_symbols(image: ElfImage, roots: Sequence[Path]) -> bool:
    """Replace a stripped object's symbols by its debug file's full table, if one is
    installed with the same build-id; True if it was."""
    found = debug_file(image, roots)
    if found is None:
        return False
    try:
        debug = ElfImage(found)
    except LseprofError:
        return False
    if debug.build_id != image.build_id or len(debug.symbols) == 0:
        return False
    # A debug file's .plt and .rela.plt are empty (NOBITS), so the PLT entries come from
    # the object itself.
    own = image.symbols
    plt = np.array([str(n).endswith("@plt") for n in own.names], dtype=bool)
    image.symbols = debug.symbols.plus(
        own.starts[plt], (own.ends - own.starts)[plt], own.names[plt].tolist()
    )
    image.stripped = False
    return True


def _with_fingerprints(image: ElfImage) -> None:
    """Add the helpers a stripped object holds (found by shape) to its symbol table."""
    if not image.stripped or image.arch != "aarch64":
        return
    helpers = fingerprinted_helpers(image)
    if not helpers:
        return
    image.symbols = image.symbols.plus(
        np.array([h.address for h in helpers], np.uint64),
        np.array([h.size_bytes for h in helpers], np.uint64),
        [h.symbol for h in helpers],
    )


class GuestResolver:
    """Names guest addresses through one emulated process's recorded mappings."""

    def __init__(
        self, mappings: Sequence[Mapping], binaries: Sequence[ElfImage], symfs: Path | None
    ) -> None:
        self.mappings = guest_mappings(mappings)
        self.binaries = [b for b in binaries if b.arch == "aarch64"]
        self.symfs = symfs
        self.objects: dict[str, GuestObject] = {}

    def _object(self, path: str) -> GuestObject:
        if path in self.objects:
            return self.objects[path]
        recorded = next((m.build_id for m in self.mappings if m.path == path and m.build_id), None)
        obj = GuestObject(path, recorded)
        self.objects[path] = obj
        candidates: list[tuple[str, Path | ElfImage]] = []
        if recorded:
            candidates += [("--binary", b) for b in self.binaries if b.build_id == recorded]
        candidates += [("--binary", b) for b in self.binaries if b.path.name == Path(path).name]
        if self.symfs is not None:
            candidates.append(("--symfs", self.symfs / path.lstrip("/")))
        candidates.append(("recorded path", Path(path)))
        for origin, candidate in candidates:
            if isinstance(candidate, Path):
                if not candidate.is_file():
                    continue
                try:
                    image = ElfImage(candidate)
                except LseprofError as exc:
                    obj.problem = exc.message
                    return obj
            else:
                image = candidate
            if recorded and image.build_id and image.build_id != recorded:
                obj.problem = (
                    f"{image.path} ({origin}) is another build (build-id "
                    f"{image.build_id[:12]}, perf.data has {recorded[:12]})"
                )
                return obj
            if image.arch != "aarch64":
                obj.problem = f"{image.path} ({origin}) is {image.arch}, not aarch64"
                return obj
            if image.stripped and not use_debug_symbols(
                image, [r for r in (self.symfs, Path("/")) if r is not None]
            ):
                _with_fingerprints(image)
            if len(image.symbols) == 0:
                obj.problem = f"{image.path} has no symbols left to name code by"
                return obj
            obj.image = image
            return obj
        obj.problem = f"{path} is not on this machine"
        return obj

    def resolve(self, guest_ips: npt.NDArray[np.uint64], pids: npt.NDArray[np.int64]) -> GuestNames:
        n = guest_ips.size
        objects = np.full(n, None, dtype=object)
        vaddrs = np.zeros(n, np.uint64)
        names = np.full(n, None, dtype=object)
        offs = np.zeros(n, np.int64)
        if n == 0 or not self.mappings:
            return GuestNames(objects, vaddrs, names, offs, 0.0)
        owner = np.full(n, -1, np.int64)
        file_off = np.full(n, -1, np.int64)
        addresses = guest_ips.astype(np.int64)
        for index, m in enumerate(self.mappings):  # later mappings replace earlier ones
            inside = (addresses >= m.start) & (addresses < m.start + m.length)
            if m.pid >= 0:
                inside &= pids == m.pid
            owner[inside] = index
        paths = [m.path for m in self.mappings]
        covered = float(np.mean(owner >= 0))
        if covered < MIN_COVERED:
            return GuestNames(
                objects,
                vaddrs,
                names,
                offs,
                covered,
                [
                    f"only {100 * covered:.0f}% of guest addresses lie in the guest's recorded "
                    "mappings: qemu's guest base is not 0 here (-B, -R or a 32-bit guest), so "
                    "shared objects cannot be placed; static executables are still named"
                ],
            )
        for path in sorted({paths[i] for i in np.unique(owner[owner >= 0]).tolist()}):
            rows = np.flatnonzero(np.isin(owner, [i for i, p in enumerate(paths) if p == path]))
            obj = self._object(path)
            obj.samples += int(rows.size)
            objects[rows] = path
            if obj.image is None:
                continue
            file_off[rows] = file_offsets(
                guest_ips[rows], pids[rows], [m for m in self.mappings if m.path == path]
            )
            va = obj.image.code_vaddr_of_offset(file_off[rows])
            # An address outside the object's executable segments is not code of it:
            # leave it unnamed rather than give it the nearest symbol.
            ok = va >= 0
            vaddrs[rows[ok]] = va[ok].astype(np.uint64)
            uniq, inverse = np.unique(va[ok].astype(np.uint64), return_inverse=True)
            got, got_off = obj.image.symbols.lookup(uniq)
            names[rows[ok]] = got[inverse]
            offs[rows[ok]] = got_off[inverse]
        return GuestNames(objects, vaddrs, names, offs, covered, self.notes())

    def notes(self) -> list[str]:
        out = []
        for obj in self.objects.values():
            if obj.problem and obj.samples:
                out.append(
                    f"{obj.samples} guest samples in {obj.path} stay unnamed: "
                    f"{obj.problem}; pass the profiled copy with --binary FILE or "
                    "--symfs DIR"
                )
        return out
