"""Callchain lines of `perf script` text -> distinct frames (:class:`FrameTable`).

A frame line is ``\t<16-column hex ip> <sym>[+0xoff] (<dso>)``. Lines are never
parsed one by one: they are factorized by a fingerprint of their bytes, and only
the distinct lines (a few thousand in a million-sample profile) are split into
symbol and DSO in Python. Used by both header readers of
:mod:`lseprof.readers.script.own_layout`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.readers.perfmap import GUEST_PREFIX
from lseprof.readers.script import textscan as ts

INLINED = "inlined"  # what perf prints in the DSO position of an inline-expanded frame
_SYMOFF_RE = re.compile(r"^(?P<sym>.*?)\+0x(?P<off>[0-9a-fA-F]+)$")


@dataclass
class Frame:
    """One distinct callchain line, split into its parts."""

    ip: int
    symbol: str
    symoff: int
    dso: str
    inlined: bool = False  # perf's "sym+off (inlined)": an inline expansion, no DSO

    def caller_name(self) -> str:
        return f"{self.symbol} (inlined)" if self.inlined else self.symbol


U64_MAX = (1 << 64) - 1  # addresses above this are damaged text, not addresses


def split_frame_text(text: str) -> tuple[str, int, str]:
    """`sym+0x1f (dso)` -> (sym, 0x1f, dso); missing parts are [unknown], -1, [unknown]."""
    text = text.strip()
    dso = S.UNKNOWN
    if text.endswith(")"):
        # The DSO is the last balanced (...) group: paths may hold "(deleted)".
        depth = 0
        for pos in range(len(text) - 1, -1, -1):
            ch = text[pos]
            if ch == ")":
                depth += 1
            elif ch == "(":
                depth -= 1
                if depth == 0:
                    if pos == 0 or text[pos - 1] == " ":
                        dso = text[pos + 1 : -1]
                        text = text[:pos].rstrip()
                    break
    symoff = -1
    match = _SYMOFF_RE.match(text)
    if match:
        text, symoff = match["sym"], int(match["off"], 16)
        if symoff >= 1 << 63:
            # perf prints a negative offset as unsigned when an address falls
            # before its (JIT map) symbol; the offset is meaningless then.
            symoff = -1
    return (text or S.UNKNOWN), symoff, (dso or S.UNKNOWN)


def parse_frame_text(text: str) -> Frame | None:
    """A frame from free text: `[ip] sym[+off] (dso)`; None if it has no address."""
    stripped = text.strip()
    if not stripped:
        return None
    head, _, tail = stripped.partition(" ")
    try:
        ip = int(head, 16)
    except ValueError:
        return None
    if ip > U64_MAX:  # not an address (a paste that ran two lines together)
        return None
    sym, off, dso = split_frame_text(tail)
    if dso == INLINED:
        return Frame(ip, sym, off, S.UNKNOWN, inlined=True)
    return Frame(ip, sym, off, dso)


def guest_address(symbol: str) -> int | None:
    """The guest address in a qemu perf-map name (`guest-0x400aac`), else None."""
    if symbol.startswith(GUEST_PREFIX):
        try:
            value = int(symbol[len(GUEST_PREFIX) :], 16)
        except ValueError:
            return None
        return value if value <= U64_MAX else None
    return None


class FrameTable:
    """Distinct frames seen so far, keyed by a fingerprint of their line.

    Shared by every chunk of one input, so a frame's text is split into symbol
    and DSO once, however many chunks and samples it appears in.
    """

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._index: dict[int, int] = {}
        self._flags_size = -1
        self._guest = np.zeros(0, np.bool_)
        self._inlined = np.zeros(0, np.bool_)
        self._ip = np.zeros(0, np.uint64)

    def __len__(self) -> int:
        return len(self.frames)

    def code_of(self, key: int) -> int | None:
        return self._index.get(key)

    def add(self, key: int, frame: Frame) -> int:
        self._index[key] = len(self.frames)
        self.frames.append(frame)
        return len(self.frames) - 1

    def _refresh(self) -> None:
        if self._flags_size != len(self.frames):
            self._guest = np.array(
                [f.symbol.startswith(GUEST_PREFIX) for f in self.frames], dtype=np.bool_
            )
            self._inlined = np.array([f.inlined for f in self.frames], dtype=np.bool_)
            self._ip = np.array([f.ip for f in self.frames], dtype=np.uint64)
            self._flags_size = len(self.frames)

    @property
    def guest(self) -> npt.NDArray[np.bool_]:
        self._refresh()
        return self._guest

    @property
    def inlined(self) -> npt.NDArray[np.bool_]:
        self._refresh()
        return self._inlined

    @property
    def ip(self) -> npt.NDArray[np.uint64]:
        self._refresh()
        return self._ip


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _frame_from_line(text: str) -> Frame | None:
    """One callchain line: perf's `\t<16-column hex ip> sym[+off] (dso)`, or freer text."""
    field = text[1:17]
    if (
        len(text) >= 17
        and (len(text) == 17 or text[17] == " ")
        and field.strip()
        and all(c in _HEX_DIGITS for c in field.lstrip(" "))
    ):
        ip = int(field, 16)
        sym, off, dso = (
            split_frame_text(text[18:]) if len(text) > 18 else (S.UNKNOWN, -1, S.UNKNOWN)
        )
        if dso == INLINED:
            return Frame(ip, sym, off, S.UNKNOWN, inlined=True)
        return Frame(ip, sym, off, dso)
    return parse_frame_text(text)


def factorize_frames(
    buf: ts.Bytes, starts: ts.Ints, ends: ts.Ints, table: FrameTable
) -> npt.NDArray[np.int64]:
    """A FrameTable code for each tab-led callchain line; -1 for unreadable lines.

    Lines are keyed by a fingerprint of their bytes (length, first and last 24
    bytes: the address, the start of the symbol and the end of the DSO path); only
    lines whose key is new are decoded, in Python.
    """
    if starts.size == 0:
        return np.zeros(0, np.int64)
    key = ts.range_hash(buf, starts, ends, 24, 24)
    local, uniques = pd.factorize(key)
    first = ts.first_occurrence(np.asarray(local, dtype=np.int64), len(uniques))
    to_global = np.empty(len(uniques), dtype=np.int64)
    raw = buf.data
    for i, (row, packed) in enumerate(
        zip(first.tolist(), np.asarray(uniques).tolist(), strict=True)
    ):
        known = table.code_of(int(packed))
        if known is not None:
            to_global[i] = known
            continue
        text = bytes(raw[int(starts[row]) : int(ends[row])]).decode("utf-8", "replace")
        frame = _frame_from_line(text)
        to_global[i] = -1 if frame is None else table.add(int(packed), frame)
    return to_global[np.asarray(local)]


def line_kinds(
    buf: ts.Bytes, starts: ts.Ints, ends: ts.Ints
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    blank = starts == ends
    first = (
        np.where(blank, ts.NL, buf[np.minimum(starts, max(buf.size - 1, 0))])
        if buf.size
        else np.zeros(0, np.uint8)
    )
    return blank, (first == ts.TAB) & ~blank
