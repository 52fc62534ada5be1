"""The own-layout reader: ``perf script`` text in exactly the layout lseprof asks
perf for on a perf.data, read chunk by chunk as perf writes it (see the package
docstring)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt

from lseprof import samples as S
from lseprof.readers.script import textscan as ts
from lseprof.readers.script.callchains import (
    ParsedScript,
    StackTable,
    sample_frames,
    select_frames,
)
from lseprof.readers.script.frames import (
    FrameTable,
    line_kinds,
)
from lseprof.readers.script.own_headers import decode_headers, decode_headers_slowly
from lseprof.readers.script.parts import PART_COLUMNS, ScriptParts, merge_parts
from lseprof.readers.script.tasks import TaskEvents, task_line
from lseprof.readers.script.tracepoints import split_tracepoints

# Sample blocks are deduplicated while at most this share of a chunk's blocks is
# distinct (the period repeats for clock events and for `-c N`; with `-F FREQ` on
# hardware events it changes from sample to sample and every block is new).
DEDUP_MAX_SHARE = 0.5
DEDUP_MAX_BLOCKS = 200_000  # distinct blocks remembered per reader (bounded memory)
DEDUP_RETRY_CHUNKS = 8  # chunks read directly after one with too many distinct blocks


class OwnScriptReader:
    """Reads ``perf script -F OWN_FIELDS --show-task-events --show-lost-events`` output
    (:data:`lseprof.readers.perf_data.OWN_FIELDS`, a perf.data recorded with callchains)
    chunk by chunk, as perf writes it.

    Each chunk is cut at a sample boundary (a blank line). Task and lost records
    are taken out line by line (they are rare). The rest is a run of sample blocks
    (header line and callchain lines), and a million-sample profile holds only a
    few thousand distinct blocks: each chunk's blocks are looked up in a dict of
    blocks already seen, only new ones are parsed (in bulk, as one text), and every
    sample gets its block's codes. Where blocks hardly repeat (a period that
    changes with every sample), the chunk is parsed in bulk as it is. Only compact
    per-sample codes are kept, so memory stays bounded by the chunk size rather
    than the size of the text, and parsing overlaps perf's output.
    """

    def __init__(
        self, source_kind: str = "perf-data", event: str | None = None, tracepoints: bool = False
    ) -> None:
        self.source_kind = source_kind
        self.event = event  # headers carry no event name: every sample is this event
        self.table = FrameTable()
        self.stacks = StackTable()
        self.tasks = TaskEvents()
        # Scheduler tracepoints in the same text: cut out, kept for the sched reader.
        self.tracepoints = tracepoints
        self.trace_text: list[bytes] = []
        self.result = ParsedScript(S.empty_samples(source_kind))
        self._events: dict[str, int] = {}
        self._parts: list[dict[str, npt.NDArray[Any]]] = []
        self._carry = b""
        self._seen: dict[bytes, int] = {}  # sample block -> row of the block table
        self._block_parts: list[dict[str, npt.NDArray[Any]]] = []
        self._blocks: dict[str, npt.NDArray[Any]] | None = None
        self._direct = 0  # chunks left to parse without deduplication

    def feed(self, data: bytes, final: bool = False) -> None:
        """Add text; with `final`, the text ends here (parse what is left)."""
        if self._carry:
            data = self._carry + data
        used = self.consume(data, final)
        self._carry = data[used:]

    def consume(self, data: bytes, final: bool = False) -> int:
        """Parse the whole sample blocks at the start of `data` (all of it if `final`)
        and return how many bytes that was; the caller passes the rest again later.

        Nothing is copied: blocks are parsed in place up to the last blank line.
        """
        end = len(data) if final else data.rfind(b"\n\n") + 2
        if end <= 1:
            return 0
        self._parse_chunk(data, end, final)
        return end

    def finish_parts(self) -> ScriptParts:
        """Everything read, as compact codes (see :class:`ScriptParts`)."""
        if self._carry:
            self.feed(b"", final=True)
        columns = {
            k: (np.concatenate([p[k] for p in self._parts]) if self._parts else np.zeros(0, dtype))
            for k, dtype in PART_COLUMNS.items()
        }
        events = sorted(self._events, key=lambda e: self._events[e])
        return ScriptParts(
            list(self.table.frames),
            events,
            columns,
            self.tasks,
            lost=self.result.lost,
            lost_records=self.result.lost_records,
            unknown_lines=self.result.unknown_lines,
            unknown_examples=list(self.result.unknown_examples),
            stacks=list(self.stacks.stacks),
            trace_text=b"".join(self.trace_text),
        )

    def finish(self) -> ParsedScript:
        return merge_parts([self.finish_parts()], self.source_kind)

    def _parse_chunk(self, data: bytes, end: int, final: bool) -> None:
        """Parse data[:end], which ends at a block boundary unless `final`."""
        if self.tracepoints:
            rest, trace = split_tracepoints(data[:end])
            self.trace_text.append(trace)
            data, end = rest + data[end:], len(rest)
        data, end = self._take_records(data, end)
        if self._direct > 0 or len(self._seen) >= DEDUP_MAX_BLOCKS:
            self._direct -= 1
            self._parse_direct(data, end)
            return
        blocks = data.split(b"\n\n")
        # The last piece is what follows data[:end] (or "" after a final blank line).
        if not final or (blocks and not blocks[-1]):
            blocks.pop()
        if not blocks:
            return
        # One dict lookup per block, looped in C (map with a default of -1); only the
        # blocks not seen before go through Python.
        seen = self._seen
        rows = np.fromiter(map(seen.get, blocks, itertools.repeat(-1)), np.int64, len(blocks))
        missing = np.flatnonzero(rows < 0)
        if missing.size:
            new = list(dict.fromkeys(blocks[i] for i in missing.tolist()))
            if (
                len(new) > DEDUP_MAX_SHARE * len(blocks) and len(blocks) > 64
            ) or not self._add_blocks(new):
                self._direct = DEDUP_RETRY_CHUNKS
                self._parse_direct(data, end)
                return
            rows[missing] = [seen[blocks[i]] for i in missing.tolist()]
        table = self._block_table()
        self._parts.append({k: v[rows] for k, v in table.items()})

    def _add_blocks(self, new: list[bytes]) -> bool:
        """Parse blocks not seen before; False if they are not one sample each."""
        scratch = ParsedScript(self.result.samples)
        text = b"\n\n".join(new) + b"\n\n"
        got = self._parse_text(text, len(text), scratch)
        if got is None or scratch.unknown_lines:
            return False
        columns, header_starts = got
        sizes = np.fromiter((len(b) + 2 for b in new), np.int64, len(new))
        block_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        if not np.array_equal(header_starts, block_starts):
            return False
        self._seen.update(zip(new, range(len(self._seen), len(self._seen) + len(new)), strict=True))
        self._block_parts.append(columns)
        self._blocks = None
        return True

    def _block_table(self) -> dict[str, npt.NDArray[Any]]:
        if self._blocks is None:
            self._blocks = {
                k: np.concatenate([p[k] for p in self._block_parts]) for k in PART_COLUMNS
            }
        return self._blocks

    def _parse_direct(self, data: bytes, end: int) -> None:
        got = self._parse_text(data, end, self.result)
        if got is not None:
            self._parts.append(got[0])

    def _take_records(self, data: bytes, end: int) -> tuple[bytes, int]:
        """Read the task and lost records ("... PERF_RECORD_COMM ...") in data[:end]
        and cut them out (they are rare, so a copy is fine)."""
        pos = data.find(b"PERF_RECORD_", 0, end)
        if pos < 0:
            return data, end
        view = memoryview(data)  # pieces without copies; the join copies once
        pieces = []
        last = 0
        while pos >= 0:
            start = data.rfind(b"\n", 0, pos) + 1
            stop = data.find(b"\n", pos, end)
            stop = end if stop < 0 else stop + 1
            if data[start : start + 1] != b"\t":  # a callchain line is never a record
                task_line(
                    data[start:stop].rstrip(b"\n").decode("utf-8", "replace"),
                    self.tasks,
                    self.result,
                )
                pieces.append(view[last:start])
                last = stop
            pos = data.find(b"PERF_RECORD_", stop, end)
        pieces.append(view[last:end])
        text = b"".join(pieces)
        return text, len(text)

    def _parse_text(
        self, data: bytes, end: int, result: ParsedScript
    ) -> tuple[dict[str, npt.NDArray[Any]], ts.Ints] | None:
        """The sample blocks in data[:end] in bulk: per-sample codes and where each
        header line starts."""
        buf = ts.as_bytes(data)[:end]
        starts, ends = ts.line_bounds(buf)
        blank, is_frame = line_kinds(buf, starts, ends)
        header_line = np.flatnonzero(~blank & ~is_frame)
        n = header_line.size
        if n == 0:
            return None
        raw = buf.data
        h_start, h_end = starts[header_line], ends[header_line]
        with_event = self.event is None
        try:
            hdr = decode_headers(buf, h_start, h_end, with_event)
        except ValueError:
            # Not quite the layout asked for (an odd event name?): one regex per line.
            hdr, keep = decode_headers_slowly(raw, h_start, h_end, result, with_event)
            if not keep.all():
                header_line = header_line[keep]
                n = header_line.size
                if n == 0:
                    return None
        frames = sample_frames(buf, starts, ends, is_frame, header_line, self.table, result)
        chosen = select_frames(n, frames, self.table)
        if with_event:
            ev_map = np.array(
                [
                    self._events.setdefault(str(e), len(self._events))
                    for e in hdr["event_names"].tolist()
                ],
                dtype=np.int16,
            )
            event = ev_map[hdr["event_codes"]]
        else:
            event = np.full(n, self._events.setdefault(str(self.event), 0), np.int16)
        columns = {
            "leaf": chosen.leaf.astype(np.int32),
            "caller": chosen.caller.astype(np.int32),
            "emulated": chosen.emulated,
            "stack": self.stacks.codes(n, frames, chosen.leaf_depth),
            "event": event,
            "pid": hdr["pid"].astype(np.int32),
            "tid": hdr["tid"].astype(np.int32),
            "period": hdr["period"].astype(np.float64),
        }
        return columns, starts[header_line]


def parse_own_script(
    data: bytes, tasks: TaskEvents, source_kind: str = "perf-data"
) -> ParsedScript:
    """All of an own-layout text at once (see :class:`OwnScriptReader`)."""
    reader = OwnScriptReader(source_kind)
    reader.feed(data, final=True)
    result = reader.finish()
    tasks.records.extend(reader.tasks.records)
    return result
