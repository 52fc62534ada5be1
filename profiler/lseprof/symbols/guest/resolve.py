"""Emulated guest code in a samples table: qemu JIT addresses -> guest addresses ->
objects and symbols.

qemu's ``-perfmap`` names each translated guest instruction ``guest-0x<guest
address>``. That address is then placed in its object in one of two ways:

* through the guest's recorded mappings (:mod:`lseprof.symbols.guest.objects`):
  PIE executables, the dynamic loader and every shared object; the row's ``dso``
  becomes the object's path and ``ip`` its ELF virtual address;
* directly, for a static non-PIE executable given with ``--binary`` (its virtual
  addresses are the guest addresses), when the perf.data has no guest mappings
  (recorded without ``perf record -d``, or from text).

A position-independent object is never looked up with raw guest addresses: they
are not its ELF addresses, and doing so names code after whatever function sits at
that address in the file (often ``_fini``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.readers.perfmap import GUEST_PREFIX, PerfMap
from lseprof.samples import Mapping
from lseprof.symbols.elf import ElfImage
from lseprof.symbols.guest.objects import GuestResolver


def has_guest(frame: pd.DataFrame) -> bool:
    return any(str(s).startswith(GUEST_PREFIX) for s in frame["symbol"].cat.categories) or any(
        str(c).startswith("qemu-aarch64") for c in frame["comm"].cat.categories
    )


def set_values(
    frame: pd.DataFrame, column: str, rows: npt.NDArray[np.int64], values: npt.NDArray[np.object_]
) -> None:
    if rows.size == 0:
        return
    current = frame[column].astype(object).to_numpy(copy=True)
    current[rows] = values
    frame[column] = pd.Categorical(current)


def find_map(dso: str, perf_maps: Sequence[Path], input_dir: Path | None) -> Path | None:
    name = Path(dso).name
    for candidate in perf_maps:
        if Path(candidate).name == name:
            return Path(candidate)
    if len(perf_maps) == 1:
        return Path(perf_maps[0])
    if input_dir is not None and (input_dir / name).is_file():
        return input_dir / name
    if Path(dso).is_file():
        return Path(dso)
    return None


def _guest_rows(frame: pd.DataFrame, sym_col: str, dso_col: str) -> npt.NDArray[np.int64]:
    names = frame[sym_col].astype(object).to_numpy().astype(str)
    dsos = frame[dso_col].astype(object).to_numpy().astype(str)
    # perf names guest code `guest-0x...` only while /tmp/perf-PID.map still exists;
    # for a stored run (map kept beside perf.data) it prints [unknown] in that dso.
    in_map = np.char.endswith(dsos, ".map") & np.char.startswith(
        np.char.rpartition(dsos, "/")[:, 2], "perf-"
    )
    return np.flatnonzero(np.char.startswith(names, GUEST_PREFIX) | in_map)


def _guest_addresses(
    frame: pd.DataFrame,
    rows: npt.NDArray[np.int64],
    sym_col: str,
    ip_col: str,
    dso_col: str,
    perf_maps: Sequence[Path],
    input_dir: Path | None,
    notes: list[str] | None,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """Each row's guest address, and which rows are no guest instruction at all:
    host code in qemu's JIT buffer that no map entry covers (the glue between
    translated blocks), which is qemu's own time."""
    names = frame[sym_col].astype(object).to_numpy()
    dsos = frame[dso_col].astype(object).to_numpy()[rows].astype(str)
    host_ip = frame[ip_col].to_numpy()[rows]
    guest_ip = np.zeros(rows.size, np.uint64)
    known = np.zeros(rows.size, np.bool_)
    for dso in np.unique(dsos).tolist():
        part = dsos == dso
        map_path = find_map(dso, perf_maps, input_dir)
        if map_path is not None:
            pmap = PerfMap(map_path)
            guest_ip[part], known[part] = pmap.guest_addresses(host_ip[part])
            if notes is not None:
                notes.append(
                    f"guest addresses re-read from {map_path} ({len(pmap)} entries; "
                    "for overlapping entries the latest wins)"
                )
    # Without a map (or outside it), the name perf printed is the guest address.
    glue = np.zeros(rows.size, np.bool_)
    for i in np.flatnonzero(~known).tolist():
        try:
            guest_ip[i] = int(str(names[rows[i]])[len(GUEST_PREFIX) :], 16)
        except ValueError:
            guest_ip[i] = 0
            glue[i] = True
    return guest_ip, glue


def _static_lookup(
    guest_ip: npt.NDArray[np.uint64], statics: list[ElfImage], images: dict[str, ElfImage]
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64], npt.NDArray[np.object_]]:
    """Names, offsets and DSOs from static executables, whose addresses are the guest's."""
    uniq, inverse = np.unique(guest_ip, return_inverse=True)
    best_names = np.full(uniq.size, None, dtype=object)
    best_off = np.zeros(uniq.size, np.int64)
    best_dso = np.full(uniq.size, None, dtype=object)
    for image in statics:
        got, offs = image.symbols.lookup(uniq)
        fill = (best_names == None) & (got != None)  # noqa: E711  (object arrays)
        best_names[fill] = got[fill]
        best_off[fill] = offs[fill]
        best_dso[fill] = str(image.path)
        images[str(image.path)] = image
    return best_names[inverse], best_off[inverse], best_dso[inverse]


@dataclass
class _Names:
    """New values for guest rows of one column group."""

    names: npt.NDArray[np.object_]
    dsos: npt.NDArray[np.object_]
    offsets: npt.NDArray[np.int64]
    ips: npt.NDArray[np.uint64]


@dataclass
class _GuestPass:
    """One naming pass over the guest rows of a samples table."""

    frame: pd.DataFrame
    images: dict[str, ElfImage]
    notes: list[str]
    statics: list[ElfImage]  # static non-PIE --binary files: guest address = ELF address
    resolver: GuestResolver | None
    perf_maps: Sequence[Path]
    input_dir: Path | None
    resolved_any: bool = False
    mapped_share: float = 1.0

    def drop_dispatcher_callers(self) -> None:
        """qemu's JIT frames end the host stack: the frame under a guest instruction is
        qemu's dispatcher, not a guest caller. Those callers are dropped ("" = no
        callchain), so helper callers come from the object's own bl sites instead."""
        frame = self.frame
        sym_rows = _guest_rows(frame, "symbol", "dso")
        rows = sym_rows[~np.isin(sym_rows, _guest_rows(frame, "caller", "caller_dso"))]
        if rows.size:
            blank = np.full(rows.size, "", dtype=object)
            set_values(frame, "caller", rows, blank)
            set_values(frame, "caller_dso", rows, blank)
            caller_ip = frame["caller_ip"].to_numpy().copy()
            caller_ip[rows] = 0
            frame["caller_ip"] = caller_ip

    def columns(self, sym_col: str, ip_col: str, dso_col: str, off_col: str | None) -> None:
        frame = self.frame
        rows = _guest_rows(frame, sym_col, dso_col)
        if rows.size == 0:
            return
        notes = self.notes if sym_col == "symbol" else None
        guest_ip, glue = _guest_addresses(
            frame, rows, sym_col, ip_col, dso_col, self.perf_maps, self.input_dir, notes
        )
        if glue.any():
            # qemu's JIT glue: not guest code but qemu's own time, named as such (a
            # "[unknown] in perf-PID.map" row would read as an unnamed guest sample).
            jit = np.full(int(glue.sum()), S.QEMU_JIT, dtype=object)
            for col in (sym_col, dso_col):
                set_values(frame, col, rows[glue], jit)
            rows, guest_ip = rows[~glue], guest_ip[~glue]
            if rows.size == 0:
                return
        found = self.name(rows, guest_ip, dso_col, sym_col == "symbol")
        self.write(rows, found, (sym_col, ip_col, dso_col, off_col))

    def name(
        self,
        rows: npt.NDArray[np.int64],
        guest_ip: npt.NDArray[np.uint64],
        dso_col: str,
        leaf: bool,
    ) -> _Names:
        """Names for guest addresses: through the recorded mappings, then the statics."""
        out = _Names(
            np.array([f"{GUEST_PREFIX}{a:x}" for a in guest_ip.tolist()], dtype=object),
            self.frame[dso_col].astype(object).to_numpy()[rows].copy(),
            np.full(rows.size, -1, np.int64),
            guest_ip.copy(),
        )
        in_object = np.zeros(rows.size, np.bool_)
        if self.resolver is not None:
            found = self.resolver.resolve(guest_ip, self.frame["pid"].to_numpy()[rows])
            if leaf:
                self.mapped_share = found.covered
                self.notes.extend(found.notes)
            in_object = found.objects != None  # noqa: E711
            named = found.names != None  # noqa: E711
            # In a known object but no symbol covers it: perf's "[unknown] (object)".
            out.names[in_object & ~named] = S.UNKNOWN
            out.dsos[in_object] = found.objects[in_object]
            out.names[named] = found.names[named]
            out.offsets[named] = found.offsets[named]
            out.ips[in_object] = found.vaddrs[in_object]
            for obj in self.resolver.objects.values():
                if obj.image is not None:
                    self.images[obj.path] = obj.image
            self.resolved_any = True
        if self.statics:
            left = ~in_object
            got, offs, dsos = _static_lookup(guest_ip[left], self.statics, self.images)
            hit = np.flatnonzero(left)[got != None]  # noqa: E711
            keep = got != None  # noqa: E711
            out.names[hit], out.offsets[hit], out.dsos[hit] = got[keep], offs[keep], dsos[keep]
            self.resolved_any = True
        return out

    def write(
        self, rows: npt.NDArray[np.int64], found: _Names, cols: tuple[str, str, str, str | None]
    ) -> None:
        frame = self.frame
        sym_col, ip_col, dso_col, off_col = cols
        ip_values = frame[ip_col].to_numpy().copy()
        ip_values[rows] = found.ips
        frame[ip_col] = ip_values
        set_values(frame, sym_col, rows, found.names)
        set_values(frame, dso_col, rows, found.dsos)
        if off_col is not None:
            offs_all = frame[off_col].to_numpy().copy()
            offs_all[rows] = found.offsets
            frame[off_col] = offs_all
            # qemu's map has one entry per guest instruction: the address is exact.
            precise = frame["precise"].to_numpy().copy()
            precise[rows] = True
            frame["precise"] = precise


def resolve_guest(
    frame: pd.DataFrame,
    images: dict[str, ElfImage],
    notes: list[str],
    binaries: list[ElfImage],
    perf_maps: Sequence[Path],
    input_dir: Path | None,
    symfs: Path | None,
    mappings: Callable[[], list[Mapping]] | None,
) -> GuestResolver | None:
    """Name the table's guest rows in place (``symbol``/``caller`` and their columns);
    returns the resolver used for shared objects, if the recording had mappings."""
    guest_bins = [im for im in binaries if im.arch == "aarch64"]
    statics = [im for im in guest_bins if not im.is_pie_or_shared]
    resolver = GuestResolver(mappings(), guest_bins, symfs) if mappings is not None else None
    if resolver is not None and not resolver.mappings:
        resolver = None
    guest = _GuestPass(frame, images, notes, statics, resolver, perf_maps, input_dir)
    guest.drop_dispatcher_callers()
    guest.columns("symbol", "ip", "dso", "symoff")
    guest.columns("caller", "caller_ip", "caller_dso", None)
    pies = [im for im in guest_bins if im.is_pie_or_shared]
    if pies and (resolver is None or guest.mapped_share < 0.5):
        notes.append(
            f"--binary {pies[0].path} is position-independent: its guest addresses "
            "need the guest's mappings, which this perf.data lacks; record with "
            "`perf record -d` (lseprof run does)"
        )
    if not guest.resolved_any:
        notes.append(
            "emulated guest-0x samples stay unnamed: pass the aarch64 ELF "
            "that ran under qemu with --binary, or record with `perf record -d` "
            "so the guest's objects are found where they were"
        )
    return resolver
