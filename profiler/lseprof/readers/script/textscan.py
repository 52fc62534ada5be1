"""Bulk operations on a text buffer held as a numpy byte array.

Profiles hold millions of lines; a Python loop (or one regex call) per line is
what makes parsing slow, so parsers locate lines, fields and numbers for all
lines at once with these helpers and drop to Python only for the few distinct
strings (symbol and DSO names) that remain after factorization.

Rows are byte ranges ``[start, end)`` into one buffer; "columns" are offsets
from a row's start. Every helper works on arrays of rows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Bytes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]
UInts = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]

NL, TAB, SPACE = 10, 9, 32

# Hex digit values; 255 marks "not a hex digit" and 0 is also used for spaces
# (perf right-aligns addresses in a 16-character field).
_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i
_HEX_OR_SPACE = _HEX.copy()
_HEX_OR_SPACE[SPACE] = 0

_MIX = np.uint64(0x9E3779B97F4A7C15)


def as_bytes(data: bytes) -> Bytes:
    return np.frombuffer(data, dtype=np.uint8)


def line_bounds(buf: Bytes) -> tuple[Ints, Ints]:
    """Starts and ends (exclusive, without the newline) of every line."""
    newlines = np.flatnonzero(buf == NL).astype(np.int64)
    if buf.size and buf[-1] != NL:
        newlines = np.append(newlines, np.int64(buf.size))
    starts = np.empty_like(newlines)
    if newlines.size:
        starts[0] = 0
        starts[1:] = newlines[:-1] + 1
    return starts, newlines


def gather(buf: Bytes, starts: Ints, ends: Ints, width: int, pad: int = 0) -> Bytes:
    """A (rows, width) array of each row's first `width` bytes, `pad` past its end.

    Rows are copied through a sliding-window view of the buffer, so no index
    matrix is built (an int64 index per byte would cost 8x the data).
    """
    n = starts.size
    if n == 0 or width <= 0:
        return np.full((n, max(width, 0)), pad, dtype=np.uint8)
    fits = starts + width <= buf.size
    if buf.size >= width and fits.all():
        out = np.lib.stride_tricks.sliding_window_view(buf, width)[starts]
    else:
        out = np.full((n, width), pad, dtype=np.uint8)
        if buf.size >= width:
            out[fits] = np.lib.stride_tricks.sliding_window_view(buf, width)[starts[fits]]
    for row in np.flatnonzero(~fits).tolist():
        # Only rows within `width` bytes of the buffer's end get here.
        chunk = buf[int(starts[row]) : int(starts[row]) + width]
        out[row, : chunk.size] = chunk
    length = ends - starts
    if int(length.min()) < width:
        cols = np.arange(width, dtype=np.int64)
        np.putmask(out, cols[None, :] >= length[:, None], pad)
    return out


def select_lines(buf: Bytes, starts: Ints, ends: Ints, keep: Bools) -> bytes:
    """The kept lines (with their newlines) as one contiguous bytes object."""
    lengths = np.empty(starts.size, dtype=np.int64)
    lengths[:-1] = starts[1:] - starts[:-1]
    if starts.size:
        lengths[-1] = buf.size - starts[-1]
    mask = np.repeat(keep, lengths)
    return bytes(buf[: mask.size][mask])


def first_col(mask: Bools, after: Ints | None = None) -> Ints:
    """Per row, the first column where `mask` holds (after column `after`); -1 if none."""
    if after is not None:
        cols = np.arange(mask.shape[1], dtype=np.int64)
        mask = mask & (cols[None, :] > after[:, None])
    found = mask.any(axis=1)
    return np.where(found, mask.argmax(axis=1), -1).astype(np.int64)


def last_col(mask: Bools, before: Ints) -> Ints:
    """Per row, the last column < `before` where `mask` holds; -1 if none."""
    cols = np.arange(mask.shape[1], dtype=np.int64)
    mask = mask & (cols[None, :] < before[:, None])
    rev = mask[:, ::-1]
    found = rev.any(axis=1)
    return np.where(found, mask.shape[1] - 1 - rev.argmax(axis=1), -1).astype(np.int64)


def parse_uint(block: Bytes, start: Ints, stop: Ints, max_digits: int = 20) -> tuple[UInts, Bools]:
    """Decimal numbers in columns [start, stop) of each row of `block`.

    Returns the values and a validity mask (every byte a digit, 1..max_digits long).
    """
    rows = np.arange(block.shape[0])
    length = stop - start
    width = int(min(max(int(length.max(initial=0)), 1), max_digits))
    k = np.arange(width, dtype=np.int64)
    cols = np.clip(start[:, None] + k[None, :], 0, block.shape[1] - 1)
    digits = block[rows[:, None], cols].astype(np.int64) - 48
    inside = k[None, :] < length[:, None]
    ok = (
        (length >= 1)
        & (length <= max_digits)
        & np.all(~inside | ((digits >= 0) & (digits <= 9)), axis=1)
    )
    value = np.zeros(block.shape[0], dtype=np.uint64)
    for j in range(width):
        step = inside[:, j]
        value = np.where(
            step, value * np.uint64(10) + digits[:, j].clip(0, 9).astype(np.uint64), value
        )
    return value, ok


def parse_hex16(buf: Bytes, field_starts: Ints) -> tuple[UInts, Bools]:
    """perf's right-aligned 16-column hex addresses starting at `field_starts`."""
    block = gather(buf, field_starts, field_starts + 16, 16, pad=SPACE)
    nibbles = _HEX_OR_SPACE[block]
    ok = np.all(nibbles != 255, axis=1) & (block[:, 15] != SPACE)
    nibbles[nibbles == 255] = 0
    # Pack nibble pairs into bytes and read the 8 bytes as one big-endian word.
    packed = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    value = np.ascontiguousarray(packed).view(">u8").ravel().astype(np.uint64)
    return value, ok


def range_hash(buf: Bytes, starts: Ints, ends: Ints, head: int = 8, tail: int = 24) -> UInts:
    """A 64-bit fingerprint of each byte range: its length, first `head` and last
    `tail` bytes (both rounded up to 8).

    Used to factorize lines; two different lines collide only if they agree in
    length and in both windows (callers mix in any parsed field as well).
    """
    h = (ends - starts).astype(np.uint64) * _MIX
    parts = []
    if head > 0:
        parts.append(gather(buf, starts, ends, (head + 7) // 8 * 8))
    if tail > 0:
        width = (tail + 7) // 8 * 8
        parts.append(gather(buf, np.maximum(ends - width, starts), ends, width))
    for part in parts:
        words = np.ascontiguousarray(part).view("<u8")
        for j in range(words.shape[1]):
            h = mix(h, words[:, j])
    return h


def mix(h: UInts, value: UInts) -> UInts:
    """One round of a multiplicative hash (wrapping uint64 arithmetic)."""
    h = (h ^ value) * _MIX
    return h ^ (h >> np.uint64(29))


def first_occurrence(codes: Ints, n_uniques: int) -> Ints:
    """For factorized `codes`, the index of each code's first occurrence."""
    first = np.full(n_uniques, -1, dtype=np.int64)
    positions = np.arange(codes.size, dtype=np.int64)
    # Assigning in reverse lets the earliest index win for repeated codes.
    first[codes[::-1]] = positions[::-1]
    return first
