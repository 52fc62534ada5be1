"""Names of folded-stack frames: perf's names, demangled, and names for what perf left
``[unknown]`` (qemu guest code through the run's perf map and the aarch64 ELF, other
addresses through a ``--binary`` of the DSO's file name, else ``[dso file name]``).

Used by :mod:`lseprof.analysis.folded.fold`, whose module doc describes the whole process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import numpy as np

from lseprof import samples as S
from lseprof.analysis.classify import Rule, default_rules
from lseprof.analysis.stored_runs import ProfileSource
from lseprof.readers.perfmap import GUEST_PREFIX, PerfMap
from lseprof.symbols.atomic_names import parse_helper
from lseprof.symbols.demangle import demangle_all
from lseprof.symbols.elf import ElfImage

JIT_FRAME = "[jit]"  # JIT code no perf map entry names (qemu's own generated code)


@cache
def _helper_rules() -> tuple[Rule, ...]:
    return tuple(r for r in default_rules() if r.category == "atomic_helper" and r.caller is None)


def _is_helper(name: str, dso: str) -> bool:
    """Whether a frame is an atomic helper by the default classification rules."""
    return parse_helper(name) is not None or any(
        rule.matches(name, dso, "") for rule in _helper_rules()
    )


def _hex(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        return 0


def images_of(paths: Sequence[Path]) -> list[ElfImage]:
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


class FrameNamer:
    """Names for distinct frame lines (``\\t   ip sym (dso)``) of one perf.data."""

    def __init__(self, source: ProfileSource, images: list[ElfImage]) -> None:
        self.source = source
        self.images = images
        self.guest_images = sorted(
            (im for im in images if im.arch == "aarch64"), key=lambda im: im.is_pie_or_shared
        )
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
        shown = []
        for i in range(len(todo)):
            name = str(names[i])
            if name == S.UNKNOWN:
                dso = str(dso_arr[i])
                base = Path(dso).name if dso else ""
                if base.startswith("perf-") and base.endswith(".map"):
                    name = JIT_FRAME  # one name for every run's map (pids differ)
                else:
                    name = f"[{base}]" if base and not base.startswith("[") else (dso or S.UNKNOWN)
            shown.append(name)
        readable = demangle_all(shown)  # one c++filt for the whole batch
        for i, line in enumerate(todo):
            # ';' separates frames in the folded format; a name must not contain one.
            name = readable[shown[i]].replace(";", ":")
            self.names[line] = name
            if _is_helper(name, str(dso_arr[i])):
                self.helpers.add(name)

    def _name_guest(self, names: np.ndarray, dsos: np.ndarray, addr: np.ndarray) -> None:
        """qemu JIT frames: host address -> guest address (perf map) -> aarch64 symbol."""
        base = np.array([Path(str(d)).name for d in dsos.tolist()], dtype=object)
        in_map = np.array(
            [b.startswith("perf-") and b.endswith(".map") for b in base.tolist()], dtype=bool
        )
        named_guest = np.array(
            [str(n).startswith(GUEST_PREFIX) for n in names.tolist()], dtype=bool
        )
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
                    guest[j], known[j] = int(text[len(GUEST_PREFIX) :], 16), True
        labels = np.array([f"{GUEST_PREFIX}{a:x}" for a in guest.tolist()], dtype=object)
        named = np.zeros(rows.size, bool)
        for image in self.guest_images:  # static binaries first: their addresses are exact
            found, _ = image.symbols.lookup(guest)
            hit = known & ~named & (found != None)  # noqa: E711 (object arrays)
            labels[hit] = found[hit]
            named |= hit
        names[rows[known]] = labels[known]

    def _name_from_binaries(self, names: np.ndarray, dsos: np.ndarray, addr: np.ndarray) -> None:
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
