"""Name the addresses perf could not: stripped binaries, emulated guest code,
profiles made on another machine.

Sources of names, in order: ``--binary`` ELF files (matched to a sample's DSO by
build-id where perf.data recorded one, else by file name), ``--symfs DIR`` (the
DSO's path under DIR), and for emulated runs the aarch64 ELF itself: qemu
``-perfmap`` names guest code ``guest-0x<guest address>``, and for a static
non-PIE binary that is the ELF virtual address, so it is looked up directly.
Samples recorded without callchains carry runtime addresses; for a DSO perf could
not find, they are moved into the ELF through the mmaps the perf.data recorded.
Callchain frames are printed by perf as offsets into the mapped file; wherever the
ELF is known they become ELF addresses first (the same numbers for PIE and shared
objects, not for a non-PIE executable loaded at 0x400000).

All lookups are vectorized: rows are grouped by DSO and each group's distinct
addresses go through one ``searchsorted`` (:meth:`lseprof.symbols.elf.SymbolTable.lookup`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.errors import LseprofError
from lseprof.readers.mmaps import file_offsets
from lseprof.samples import Mapping
from lseprof.symbols.elf import ElfImage
from lseprof.symbols.guest import has_guest, resolve_guest, set_values
from lseprof.symbols.leaf_callers import name_leaf_callers

KERNEL_DSOS = ("[kernel.kallsyms]", "[kernel.vmlinux]", "[vdso]", "[vsyscall]")


def infer_host_arch(frame: pd.DataFrame) -> str | None:
    """The recording machine's architecture from kernel addresses and library paths."""
    if frame.empty:
        return None
    dsos = [str(d) for d in frame["dso"].cat.categories]
    for dso in dsos:
        if "/x86_64-linux-gnu/" in dso or "/lib64/ld-linux-x86-64" in dso:
            return "x86_64"
        if "/aarch64-linux-gnu/" in dso or "ld-linux-aarch64" in dso:
            return "aarch64"
    kernel = frame["dso"].isin(["[kernel.kallsyms]"]).to_numpy()
    if kernel.any():
        top = frame["ip"].to_numpy()[kernel] >> np.uint64(32)
        if np.mean(top == 0xFFFFFFFF) > 0.5:
            return "x86_64"
        if np.mean((top >> np.uint64(16)) == 0xFFFF) > 0.5:
            return "aarch64"
    return None


def _check_arch(images: list[ElfImage], host: str | None, guest: str | None) -> None:
    allowed = {a for a in (host, guest) if a}
    if not allowed:
        return
    for image in images:
        if image.arch not in allowed:
            seen = " and ".join(sorted(allowed))
            raise LseprofError(
                f"--binary {image.path} is {image.arch} but the samples are {seen}; "
                "pass the binary that was profiled"
            )


def _image_for(
    dso: str,
    images: list[ElfImage],
    build_ids: dict[str, str],
    symfs: Path | None,
    cache: dict[str, ElfImage | None],
) -> ElfImage | None:
    if dso in cache:
        return cache[dso]
    found: ElfImage | None = None
    recorded = build_ids.get(dso)
    if recorded:
        found = next((im for im in images if im.build_id == recorded), None)
    if found is None:
        base = Path(dso).name
        for image in images:
            if image.path.name == base:
                if recorded and image.build_id and image.build_id != recorded:
                    raise LseprofError(
                        f"--binary {image.path} is another build (build-id {image.build_id[:12]}, "
                        f"perf.data has {recorded[:12]}); pass the profiled binary"
                    )
                found = image
                break
    if found is None and symfs is not None and dso.startswith("/"):
        candidate = symfs / dso.lstrip("/")
        if candidate.is_file():
            image = ElfImage(candidate)
            if recorded and image.build_id and image.build_id != recorded:
                raise LseprofError(
                    f"{candidate} (--symfs) is another build (build-id {image.build_id[:12]}, "
                    f"perf.data has {recorded[:12]}); point --symfs at the profiled files"
                )
            found = image
    cache[dso] = found
    return found


def _is_object_file(dso: str) -> bool:
    return bool(dso) and not dso.startswith("[") and not Path(dso).name.startswith("perf-")


def _find_images(
    frame: pd.DataFrame,
    result: Symbolizer,
    images: list[ElfImage],
    build_ids: dict[str, str],
    symfs: Path | None,
) -> None:
    """The ELF image of each object file of the table that --binary or --symfs gives
    (into result.images; objects already there keep theirs)."""
    dsos_seen = {str(d) for d in frame["dso"].cat.categories} | {
        str(d) for d in frame["caller_dso"].cat.categories
    }
    for dso in sorted(d for d in dsos_seen if _is_object_file(d) and d not in result.images):
        image = _image_for(dso, images, build_ids, symfs, result.image_cache)
        if image is not None:
            result.images[dso] = image


def _offsets_to_addresses(
    frame: pd.DataFrame, images: dict[str, ElfImage], rows: npt.NDArray[np.bool_]
) -> None:
    """Callchain frames (`rows`; every caller) of known ELF files: perf printed the
    offset into the mapped file, the schema wants the ELF address."""
    for ip_col, dso_col, mask in (("ip", "dso", rows), ("caller_ip", "caller_dso", None)):
        codes = frame[dso_col].cat.codes.to_numpy()
        categories = [str(c) for c in frame[dso_col].cat.categories]
        ips = frame[ip_col].to_numpy()
        moved = None
        for code, dso in enumerate(categories):
            image = images.get(dso)
            if image is None:
                continue
            at = codes == code if mask is None else (codes == code) & mask
            if not at.any():
                continue
            vaddrs = image.vaddr_of_offset(ips[at].astype(np.int64))
            if moved is None:
                moved = ips.copy()
            moved[at] = np.where(vaddrs >= 0, vaddrs.astype(np.uint64), ips[at])
        if moved is not None:
            frame[ip_col] = moved


def _name_plt_stubs(frame: pd.DataFrame, images: dict[str, ElfImage]) -> None:
    """Samples perf named ``_init`` that lie in a PLT stub (a static executable's IFUNC
    stubs follow ``.init``, and perf stretches ``_init`` over them) get the stub's
    name (``memcpy@iplt``)."""
    for sym_col, ip_col, dso_col in (
        ("symbol", "ip", "dso"),
        ("caller", "caller_ip", "caller_dso"),
    ):
        at_init = frame[sym_col].isin(["_init"]).to_numpy()
        if not at_init.any():
            continue
        codes = frame[dso_col].cat.codes.to_numpy()
        categories = [str(c) for c in frame[dso_col].cat.categories]
        for code in np.unique(codes[at_init]).tolist():
            image = images.get(categories[code]) if code >= 0 else None
            if image is None:
                continue
            rows = np.flatnonzero(at_init & (codes == code))
            names, _offsets = image.symbols.lookup(frame[ip_col].to_numpy()[rows])
            stub = np.array([isinstance(n, str) and "@" in n for n in names], np.bool_)
            if stub.any():
                set_values(frame, sym_col, rows[stub], names[stub])


def _elf_addresses(
    ips: npt.NDArray[np.uint64],
    pids: npt.NDArray[np.int64],
    dso: str,
    image: ElfImage,
    mappings: list[Mapping],
) -> npt.NDArray[np.uint64]:
    """Runtime addresses moved into `image` through the recorded mappings of `dso`;
    addresses no mapping covers stay as they are (a non-PIE executable's are the ELF's)."""
    offsets = file_offsets(ips, pids, [m for m in mappings if m.path == dso])
    vaddrs = image.vaddr_of_offset(offsets)
    return np.where(vaddrs >= 0, vaddrs.astype(np.uint64), ips)


def _resolve_native(
    frame: pd.DataFrame,
    result: Symbolizer,
    images: list[ElfImage],
    build_ids: dict[str, str],
    symfs: Path | None,
    mappings: Callable[[], list[Mapping]] | None,
    notes: list[str],
) -> None:
    """`mappings`, for captures of runtime addresses, gives the recorded mmaps."""
    _find_images(frame, result, images, build_ids, symfs)
    for sym_col, ip_col, dso_col, off_col in (
        ("symbol", "ip", "dso", "symoff"),
        ("caller", "caller_ip", "caller_dso", None),
    ):
        unknown = frame[sym_col].isin([S.UNKNOWN]).to_numpy()
        if not unknown.any():
            continue
        dso_codes = frame[dso_col].cat.codes.to_numpy()
        categories = [str(c) for c in frame[dso_col].cat.categories]
        all_rows: list[npt.NDArray[np.int64]] = []
        all_names: list[npt.NDArray[np.object_]] = []
        all_offs: list[npt.NDArray[np.int64]] = []
        for code in np.unique(dso_codes[unknown]).tolist():
            if code < 0:
                continue
            image = result.images.get(categories[code])
            if image is None:
                continue
            rows = np.flatnonzero(unknown & (dso_codes == code))
            ips = frame[ip_col].to_numpy()[rows]
            if mappings is not None and sym_col == "symbol":
                ips = _elf_addresses(
                    ips, frame["pid"].to_numpy()[rows], categories[code], image, mappings()
                )
            uniq, inverse = np.unique(ips, return_inverse=True)
            names, offs = image.symbols.lookup(uniq)
            hit = names[inverse] != None  # noqa: E711
            all_rows.append(rows[hit])
            all_names.append(names[inverse][hit])
            all_offs.append(offs[inverse][hit])
        if all_rows:
            rows = np.concatenate(all_rows)
            set_values(frame, sym_col, rows, np.concatenate(all_names))
            if off_col is not None:
                offs_all = frame[off_col].to_numpy().copy()
                offs_all[rows] = np.concatenate(all_offs)
                frame[off_col] = offs_all
            if sym_col == "symbol" and rows.size:
                notes.append(f"named {rows.size} samples from --binary/--symfs symbols")


# (path, recorded build-id, size, mtime) -> the image, or None if it is not that build.
_LOCAL_IMAGES: dict[tuple[str, str, int, int], ElfImage | None] = {}


def _local_image(dso: str, recorded: str | None) -> ElfImage | None:
    if not recorded or not dso.startswith("/"):
        return None
    try:
        stat = Path(dso).stat()
    except OSError:
        return None
    if not Path(dso).is_file():
        return None
    key = (dso, recorded, stat.st_size, stat.st_mtime_ns)
    if key not in _LOCAL_IMAGES:
        try:
            image: ElfImage | None = ElfImage(Path(dso))
        except LseprofError:
            image = None
        _LOCAL_IMAGES[key] = image if image is not None and image.build_id == recorded else None
    return _LOCAL_IMAGES[key]


def load_local_images(dsos: Sequence[str], build_ids: dict[str, str]) -> dict[str, ElfImage]:
    """DSOs of a perf.data that exist on this machine with the recorded build-id."""
    found: dict[str, ElfImage] = {}
    for dso in dsos:
        image = _local_image(dso, build_ids.get(dso))
        if image is not None:
            found[dso] = image
    return found


def preload_local_images(build_ids: dict[str, str]) -> list[ElfImage]:
    """Read the ELF images :func:`load_local_images` will want, ahead of time (lseprof
    report does it while perf script runs, instead of after)."""
    return list(load_local_images(list(build_ids), build_ids).values())


@dataclass
class Symbolizer:
    """Names what perf could not name in the tables of one capture, and says where code
    bytes can be read for its DSOs.

    :func:`symbolize` makes one and names the samples table's rows; the same object
    names the other frames of the capture's stacks later (:meth:`name`), so every frame
    an export shows is named by the rule the table's rows were."""

    capture: S.Capture
    binaries: list[ElfImage] = field(default_factory=list)
    symfs: Path | None = None
    perf_maps: Sequence[Path] = ()
    input_dir: Path | None = None
    # DSO label as it appears in the table -> ELF image whose addresses match `ip`.
    images: dict[str, ElfImage] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    guest_arch: str | None = None
    host_arch: str | None = None
    # DSO -> its image from --binary/--symfs, or None (looked up once per capture).
    image_cache: dict[str, ElfImage | None] = field(default_factory=dict, repr=False)

    def _mappings(self, executable_only: bool) -> Callable[[], list[Mapping]] | None:
        """The recorded mappings (only perf.data records them)."""
        if self.capture.source_kind != "perf-data":
            return None
        found = [m for m in self.capture.mappings if not executable_only or "x" in m.prot]
        return lambda: found

    def name(
        self, frame: pd.DataFrame, notes: list[str] | None = None, frames: bool = False
    ) -> None:
        """Name the rows of `frame` (a samples table, or with `frames` a table of stack
        frames in its layout) in place; what was done goes to `notes` (the symbolizer's
        own notes when None)."""
        notes = self.notes if notes is None else notes
        guest = has_guest(frame)
        if frame.empty:
            return
        if not self.capture.runtime_ips:
            # Before guest code is named: its rows then carry guest addresses.
            self._find_local_images(frame)
            from_chains = (
                np.ones(len(frame), np.bool_) if frames else frame["stack"].to_numpy() >= 0
            )
            _offsets_to_addresses(frame, self.images, from_chains)
            _name_plt_stubs(frame, self.images)
        if guest:
            resolve_guest(
                frame,
                self.images,
                notes,
                self.binaries,
                self.perf_maps,
                self.input_dir,
                self.symfs,
                self._mappings(executable_only=False),
            )
            self.guest_arch = "aarch64"
            if frame["source_kind"].astype(object).eq("perf-report").any():
                notes.append(
                    "report text charges qemu's own work (emulating atomics, the TLB) to "
                    "qemu, not to the guest instruction; perf script text of a DWARF "
                    "recording can"
                )
        _resolve_native(
            frame,
            self,
            self._native_binaries(guest),
            self.capture.build_ids,
            self.symfs,
            self._mappings(executable_only=True) if self.capture.runtime_ips else None,
            notes,
        )
        if self.capture.build_ids:
            present = [str(d) for d in frame["dso"].cat.categories if str(d) not in self.images]
            self.images.update(load_local_images(present, self.capture.build_ids))
        if not frames and frame["lr"].to_numpy().any():
            executable = [m for m in self.capture.mappings if "x" in m.prot]
            name_leaf_callers(frame, self.images, executable, notes)

    def _find_local_images(self, frame: pd.DataFrame) -> None:
        """Images of the table's object files from --binary, --symfs or this machine
        (the recorded build-id), before any name is looked up."""
        guest = has_guest(frame)
        _find_images(frame, self, self._native_binaries(guest), self.capture.build_ids, self.symfs)
        if self.capture.build_ids:
            present = [str(d) for d in frame["dso"].cat.categories if str(d) not in self.images]
            self.images.update(load_local_images(present, self.capture.build_ids))

    def _native_binaries(self, guest: bool) -> list[ElfImage]:
        """--binary images that may name host-side objects (a non-PIE aarch64 guest
        executable is named by guest address instead)."""
        return [
            im for im in self.binaries if im.arch != "aarch64" or not guest or im.is_pie_or_shared
        ]


def symbolize(
    capture: S.Capture,
    binaries: Sequence[Path] = (),
    symfs: Path | None = None,
    perf_maps: Sequence[Path] = (),
    input_dir: Path | None = None,
) -> Symbolizer:
    """Fill in the names perf left unknown in the capture's samples table; returns the
    symbolizer (where code bytes can be read, notes, and the naming of stack frames).
    `symfs` is a directory (:meth:`lseprof.readers.perf_data.SymbolFiles.check`)."""
    frame = capture.samples
    images = [ElfImage(Path(p)) for p in binaries]
    symbolizer = Symbolizer(capture, images, Path(symfs) if symfs else None, perf_maps, input_dir)
    symbolizer.host_arch = capture.arch or infer_host_arch(frame)
    _check_arch(images, symbolizer.host_arch, "aarch64" if has_guest(frame) else None)
    symbolizer.name(frame)
    return symbolizer
