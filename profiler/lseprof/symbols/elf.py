"""ELF files through pyelftools: architecture, build-id, code bytes and a
vectorized symbol table.

Symbol lookup is the hot path of symbolization (millions of sample addresses),
so the table is kept as sorted numpy arrays and resolved with `searchsorted`,
never one Python call per address.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from elftools.common.exceptions import ELFError, ELFParseError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import NoteSection, SymbolTableSection

from lseprof.errors import LseprofError

SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
PF_X = 0x1
STT_FUNC = 2
STT_GNU_IFUNC = 10

_MACHINES = {"EM_AARCH64": "aarch64", "EM_X86_64": "x86_64", "EM_386": "i386", "EM_ARM": "arm"}

_ELF64_SYM = np.dtype(
    [
        ("name", "<u4"),
        ("info", "u1"),
        ("other", "u1"),
        ("shndx", "<u2"),
        ("value", "<u8"),
        ("size", "<u8"),
    ]
)


@dataclass(frozen=True)
class CodeSection:
    """An executable section: its name, load address and bytes."""

    name: str
    address: int
    data: bytes


class SymbolTable:
    """Function symbols as sorted arrays: `starts`, `ends` (exclusive), `names`."""

    def __init__(
        self, starts: npt.NDArray[np.uint64], sizes: npt.NDArray[np.uint64], names: list[str]
    ) -> None:
        order = np.argsort(starts, kind="stable")
        self.starts = starts[order]
        sizes = sizes[order]
        names_arr = np.array(names, dtype=object)[order] if names else np.array([], dtype=object)
        # A zero-size symbol (common for hand-written assembly) extends to the next one.
        following = np.append(self.starts[1:], np.uint64(np.iinfo(np.uint64).max))
        self.ends = np.where(sizes > 0, self.starts + sizes, following)
        self.names: npt.NDArray[np.object_] = names_arr

    def __len__(self) -> int:
        return int(self.starts.size)

    def plus(
        self, starts: npt.NDArray[np.uint64], sizes: npt.NDArray[np.uint64], names: list[str]
    ) -> SymbolTable:
        """This table with more symbols added. Its zero-size symbols keep the extent they
        got here (up to this table's next symbol), not one cut at the added symbols."""
        return SymbolTable(
            np.concatenate([self.starts, starts]),
            np.concatenate([self.ends - self.starts, sizes]),
            [*self.names.tolist(), *names],
        )

    def lookup(
        self, addresses: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
        """Names (None where no symbol covers the address) and offsets into them."""
        addrs = np.asarray(addresses, dtype=np.uint64)
        idx = np.searchsorted(self.starts, addrs, side="right") - 1
        valid = idx >= 0
        safe = np.where(valid, idx, 0)
        if len(self) == 0:
            return (np.full(addrs.shape, None, dtype=object), np.zeros(addrs.shape, dtype=np.int64))
        covered = valid & (addrs < self.ends[safe])
        names = np.where(covered, self.names[safe], np.array(None, dtype=object))
        offsets = np.where(covered, (addrs - self.starts[safe]).astype(np.int64), 0)
        return names, offsets

    def address_of(self, name: str) -> int | None:
        hits = np.flatnonzero(self.names == name)
        return int(self.starts[hits[0]]) if hits.size else None

    def size_of(self, name: str) -> int | None:
        hits = np.flatnonzero(self.names == name)
        return int(self.ends[hits[0]] - self.starts[hits[0]]) if hits.size else None


STB_GLOBAL, STB_WEAK = 1, 2
_BINDINGS = {"STB_LOCAL": 0, "STB_GLOBAL": STB_GLOBAL, "STB_WEAK": STB_WEAK}


def perf_alias_order(
    names: list[str], sizes: npt.NDArray[np.integer[Any]], binds: list[int]
) -> list[int]:
    """Symbols ordered from the alias perf would name an address by least to most
    (perf's choose_best_symbol: a size over none, not weak, global, fewer leading
    underscores, the longer name): a lookup takes the last symbol at an address, so
    it names code as perf does (__pthread_mutex_lock, not its weak pthread_mutex_lock)."""

    def preference(i: int) -> tuple[bool, bool, bool, int, int]:
        name = names[i]
        underscores = len(name) - len(name.lstrip("_"))
        return (
            int(sizes[i]) > 0,
            binds[i] != STB_WEAK,
            binds[i] == STB_GLOBAL,
            -underscores,
            len(name),
        )

    return sorted(range(len(names)), key=preference)


def _public_name(aliases: list[str]) -> str:
    """The name a programmer calls: of an IFUNC's aliases at one address (memcpy,
    __memcpy, __libc_memcpy), the one with the fewest leading underscores."""
    return min(aliases, key=lambda n: (len(n) - len(n.lstrip("_")), len(n)), default="")


class ElfImage:
    """One ELF file, read fully into memory (executables and shared objects)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            raise LseprofError(f"{self.path}: no such file; check the path") from None
        except IsADirectoryError:
            raise LseprofError(f"{self.path} is a directory; give an ELF file") from None
        except PermissionError:
            raise LseprofError(f"{self.path}: permission denied; check its permissions") from None
        if blob[:4] != b"\x7fELF":
            raise LseprofError(
                f"{self.path} is not an ELF file; give an executable or shared object"
            )
        self._blob = blob
        try:
            self._elf = ELFFile(io.BytesIO(blob))
            self.arch = _MACHINES.get(self._elf["e_machine"], str(self._elf["e_machine"]))
            self.is_pie_or_shared = self._elf["e_type"] == "ET_DYN"
            self._sections = list(self._elf.iter_sections())
            self.build_id = self._read_build_id()
            self.stripped = self._elf.get_section_by_name(".symtab") is None
            self.symbols = self._read_symbols()
            self.code_sections = self._read_code_sections()
            # PT_LOAD segments as (file offset, size in the file, virtual address).
            segments = [seg for seg in self._elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
            self.loads = [(seg["p_offset"], seg["p_filesz"], seg["p_vaddr"]) for seg in segments]
            self.code_loads = [
                (seg["p_offset"], seg["p_filesz"], seg["p_vaddr"])
                for seg in segments
                if seg["p_flags"] & PF_X
            ]
        except (
            ELFError,
            ELFParseError,
            ValueError,
            KeyError,
            IndexError,
            OSError,
            AssertionError,
        ) as exc:
            raise LseprofError(
                f"{self.path} is a truncated or damaged ELF file ({exc}); use an intact copy"
            ) from None
        except Exception as exc:  # pyelftools raises assorted errors on garbage
            raise LseprofError(
                f"{self.path} is a truncated or damaged ELF file ({type(exc).__name__}); "
                "use an intact copy"
            ) from None

    def _read_build_id(self) -> str | None:
        for section in self._sections:
            if isinstance(section, NoteSection):
                for note in section.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        return str(note["n_desc"])
        return None

    def _read_symbols(self) -> SymbolTable:
        table = self._elf.get_section_by_name(".symtab") or self._elf.get_section_by_name(".dynsym")
        if not isinstance(table, SymbolTableSection):
            return SymbolTable(np.array([], np.uint64), np.array([], np.uint64), [])
        if self._elf.elfclass == 64 and self._elf.little_endian:
            return self._read_symbols_fast(table)
        starts, sizes, names, shndx, binds = [], [], [], [], []
        for sym in table.iter_symbols():
            kind = sym["st_info"]["type"]
            index = sym["st_shndx"]
            # An undefined symbol with a value is a canonical PLT address (an executable
            # that takes a libc function's address), not code of this object: its PLT
            # entry is named below, as perf names it (malloc@plt).
            if (
                kind in ("STT_FUNC", "STT_GNU_IFUNC")
                and sym["st_value"]
                and sym.name
                and index != "SHN_UNDEF"
            ):
                starts.append(sym["st_value"])
                sizes.append(sym["st_size"])
                names.append(sym.name)
                shndx.append(index if isinstance(index, int) else 0)
                binds.append(_BINDINGS.get(sym["st_info"]["bind"], 0))
        order = perf_alias_order(names, np.array(sizes, np.uint64), binds)
        starts, sizes, shndx = (
            [starts[i] for i in order],
            [sizes[i] for i in order],
            [shndx[i] for i in order],
        )
        names = [names[i] for i in order]
        start_arr = np.array(starts, np.uint64)
        return self._with_plt(
            self._clipped(start_arr, np.array(sizes, np.uint64), shndx), names, start_arr
        )

    def _clipped(
        self, starts: npt.NDArray[np.uint64], sizes: npt.NDArray[np.uint64], shndx: list[int]
    ) -> npt.NDArray[np.uint64]:
        """Sizes with each zero-size symbol (crti's _init, hand-written assembly) ended at
        its section's end, so that it does not swallow the section after it (.plt after
        .init): code there is someone else's."""
        out = sizes.copy()
        for i in np.flatnonzero(sizes == 0).tolist():
            index = shndx[i]
            if 0 < index < len(self._sections):
                section = self._sections[index]
                end = int(section["sh_addr"]) + int(section["sh_size"])
                if int(section["sh_addr"]) <= int(starts[i]) < end:
                    out[i] = end - int(starts[i])
        return out

    def _with_plt(
        self,
        sizes: npt.NDArray[np.uint64],
        names: list[str],
        starts: npt.NDArray[np.uint64] | None = None,
    ) -> SymbolTable:
        """The table plus ``name@plt`` for each aarch64 PLT entry, as perf names them,
        and ``name@iplt`` for each IFUNC stub of a static executable (perf takes those
        for the end of ``_init``, the symbol before them)."""
        if starts is None:
            starts = np.zeros(0, np.uint64)
        plt = self._elf.get_section_by_name(".plt")
        rela = self._elf.get_section_by_name(".rela.plt")
        extra: list[tuple[int, str]] = []
        if self.arch == "aarch64" and plt is not None and isinstance(rela, RelocationSection):
            dynsym = self._sections[rela["sh_link"]] if rela["sh_link"] else None
            # bfd and lld lay out 16 bytes per entry in .rela.plt order, after a 32-byte
            # header in a dynamically linked object; a static executable's .plt holds only
            # IFUNC entries (IRELATIVE relocations, no symbol) and no header.
            header = 32 if self._elf.get_section_by_name(".dynamic") is not None else 0
            by_start: dict[int, list[str]] = {}
            for start, name in zip(starts.tolist(), names, strict=False):
                by_start.setdefault(start, []).append(name)
            for i, reloc in enumerate(rela.iter_relocations()):
                name, suffix = "", "@plt"
                if reloc["r_info_sym"] and isinstance(dynsym, SymbolTableSection):
                    name = dynsym.get_symbol(reloc["r_info_sym"]).name
                elif reloc.is_RELA():
                    # IRELATIVE: the addend is the IFUNC resolver, which carries its names.
                    name, suffix = _public_name(by_start.get(int(reloc["r_addend"]), [])), "@iplt"
                if name:
                    extra.append((int(plt["sh_addr"]) + header + 16 * i, f"{name}{suffix}"))
        if not extra:
            return SymbolTable(starts, sizes, names)
        return SymbolTable(
            np.concatenate([starts, np.array([a for a, _ in extra], np.uint64)]),
            np.concatenate([sizes, np.full(len(extra), 16, np.uint64)]),
            [*names, *(n for _, n in extra)],
        )

    def _read_symbols_fast(self, table: SymbolTableSection) -> SymbolTable:
        raw = np.frombuffer(table.data(), dtype=_ELF64_SYM)
        kind = raw["info"] & 0xF
        # Undefined symbols with a value are canonical PLT addresses (see _read_symbols).
        keep = raw[
            ((kind == STT_FUNC) | (kind == STT_GNU_IFUNC))
            & (raw["value"] != 0)
            & (raw["shndx"] != 0)
        ]
        strtab = self._sections[table["sh_link"]].data()
        names = []
        for offset in keep["name"].tolist():
            end = strtab.find(b"\0", offset)
            names.append(strtab[offset:end].decode("utf-8", "replace"))
        order = perf_alias_order(names, keep["size"], (keep["info"] >> 4).tolist())
        keep, names = keep[order], [names[i] for i in order]
        starts = keep["value"].astype(np.uint64)
        sizes = self._clipped(starts, keep["size"].astype(np.uint64), keep["shndx"].tolist())
        return self._with_plt(sizes, names, starts)

    def _read_code_sections(self) -> list[CodeSection]:
        result = []
        for section in self._sections:
            flags = section["sh_flags"]
            if flags & SHF_EXECINSTR and flags & SHF_ALLOC and section["sh_type"] != "SHT_NOBITS":
                result.append(CodeSection(section.name, section["sh_addr"], section.data()))
        return result

    def vaddr_of_offset(self, offsets: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The virtual address each file offset is loaded at; -1 outside every PT_LOAD."""
        out = np.full(offsets.size, -1, np.int64)
        for offset, size, vaddr in self.loads:
            inside = (offsets >= offset) & (offsets < offset + size)
            out[inside] = offsets[inside] - offset + vaddr
        return out

    def code_vaddr_of_offset(self, offsets: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """As :meth:`vaddr_of_offset`, but -1 outside the executable segments: an
        offset there is data, and naming it after the nearest function would be wrong."""
        out = np.full(offsets.size, -1, np.int64)
        for offset, size, vaddr in self.code_loads:
            inside = (offsets >= offset) & (offsets < offset + size)
            out[inside] = offsets[inside] - offset + vaddr
        return out

    def read(self, address: int, size: int) -> bytes | None:
        """Bytes at a virtual address from an allocated section, or None if unmapped."""
        for section in self._sections:
            start = section["sh_addr"]
            if (
                section["sh_flags"] & SHF_ALLOC
                and section["sh_type"] != "SHT_NOBITS"
                and start <= address < start + section["sh_size"]
            ):
                offset = section["sh_offset"] + (address - start)
                return self._blob[offset : offset + size]
        return None

    def has_symbol(self, name: str) -> bool:
        """True if any symbol (any type, .symtab or .dynsym) has this name."""
        wanted = name.encode() + b"\0"
        for section in self._sections:
            if not isinstance(section, SymbolTableSection):
                continue
            strtab = self._sections[section["sh_link"]].data()
            if wanted not in strtab:  # cheap reject, and most lookups end here
                continue
            if self._elf.elfclass == 64 and self._elf.little_endian:
                # pyelftools parses every symbol to build its name index (slow on
                # big tables); compare raw st_name offsets with where the name sits.
                # Every occurrence counts: linkers share string tails ("foo" in "xfoo").
                starts: list[int] = []
                at = strtab.find(wanted)
                while at >= 0:
                    starts.append(at)
                    at = strtab.find(wanted, at + 1)
                raw = np.frombuffer(section.data(), dtype=_ELF64_SYM)
                if np.isin(raw["name"], np.array(starts, dtype=np.uint32)).any():
                    return True
            elif section.get_symbol_by_name(name):
                return True
        return False

    def data_symbols(self) -> SymbolTable:
        """Data objects (``STT_OBJECT`` and ``STT_TLS`` of ``.symtab``, else
        ``.dynsym``) as a table like :attr:`symbols`: names what a data address holds."""
        table = self._elf.get_section_by_name(".symtab") or self._elf.get_section_by_name(".dynsym")
        starts: list[int] = []
        sizes: list[int] = []
        names: list[str] = []
        if isinstance(table, SymbolTableSection):
            for sym in table.iter_symbols():
                if (
                    sym["st_info"]["type"] in ("STT_OBJECT", "STT_TLS")
                    and sym["st_value"]
                    and sym.name
                    and sym["st_shndx"] != "SHN_UNDEF"
                ):
                    starts.append(sym["st_value"])
                    sizes.append(max(int(sym["st_size"]), 1))
                    names.append(sym.name)
        return SymbolTable(np.array(starts, np.uint64), np.array(sizes, np.uint64), names)

    def section_at(self, address: int) -> str | None:
        """The name of the allocated section holding a virtual address (``.data``,
        ``.bss``, ``.text``, ...), or None."""
        for section in self._sections:
            start = int(section["sh_addr"])
            if section["sh_flags"] & SHF_ALLOC and start <= address < start + section["sh_size"]:
                return str(section.name)
        return None
