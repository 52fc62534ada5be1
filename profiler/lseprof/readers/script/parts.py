"""One reader's samples as compact codes (:class:`ScriptParts`), and their merge
into one samples table (:func:`merge_parts`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from lseprof import samples as S
from lseprof.readers.script.callchains import MAX_EXAMPLES, ParsedScript, assemble, stack_frames
from lseprof.readers.script.frames import Frame, FrameTable
from lseprof.readers.script.tasks import TaskEvents


@dataclass
class ScriptParts:
    """One reader's samples as compact per-sample codes: cheap to send between
    processes (one per time slice) and to merge (:func:`merge_parts`).

    ``columns``: ``leaf``/``caller`` (int32 index into ``frames``, -1 for none),
    ``emulated`` (bool), ``event`` (int16 index into ``events``), ``pid``/``tid``
    (int32), ``period`` (float64) and ``stack`` (int32 index into ``stacks``, tuples of
    indexes into ``frames``), one entry per sample in file order.
    """

    frames: list[Frame]
    events: list[str]
    columns: dict[str, npt.NDArray[Any]]
    tasks: TaskEvents
    lost: int = 0  # samples the PERF_RECORD_LOST lines say were lost
    lost_records: int = 0  # number of PERF_RECORD_LOST lines
    unknown_lines: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    stacks: list[tuple[int, ...]] = field(default_factory=list)
    trace_text: bytes = b""  # scheduler tracepoints cut out of the text (tracepoints.py)


PART_COLUMNS: dict[str, type[np.generic]] = {
    "leaf": np.int32,
    "caller": np.int32,
    "emulated": np.bool_,
    "event": np.int16,
    "pid": np.int32,
    "tid": np.int32,
    "period": np.float64,
    "stack": np.int32,
}


def merge_parts(parts: list[ScriptParts], source_kind: str = "perf-data") -> ParsedScript:
    """One samples table from the parts of several readers (time slices, in order).

    Frames and events are matched by value across parts; ``comm`` is left empty
    (see :func:`apply_comms`) and task records are not merged (every slice of a
    perf.data repeats them).
    """
    table = FrameTable()
    frame_code: dict[tuple[int, str, int, str, bool], int] = {}
    event_code: dict[str, int] = {}
    columns: dict[str, list[npt.NDArray[Any]]] = {k: [] for k in PART_COLUMNS}
    stacks: dict[tuple[int, ...], int] = {}
    result = ParsedScript(S.empty_samples(source_kind))
    for part in parts:
        # A trailing -1 entry: code -1 ("no frame") indexes it and stays -1.
        remap = np.full(len(part.frames) + 1, -1, np.int32)
        for i, f in enumerate(part.frames):
            key = (f.ip, f.symbol, f.symoff, f.dso, f.inlined)
            code = frame_code.get(key)
            if code is None:
                code = frame_code[key] = len(table.frames)
                table.frames.append(f)
            remap[i] = code
        ev_remap = np.array(
            [event_code.setdefault(e, len(event_code)) for e in part.events] or [0], dtype=np.int16
        )
        cols = part.columns
        columns["leaf"].append(remap[cols["leaf"]])
        columns["caller"].append(remap[cols["caller"]])
        columns["event"].append(ev_remap[cols["event"]])
        # Stacks by value too, in the merged frame codes (a trailing -1 as for frames).
        stack_remap = np.array(
            [stacks.setdefault(tuple(int(remap[c]) for c in s), len(stacks)) for s in part.stacks]
            + [-1],
            dtype=np.int32,
        )
        columns["stack"].append(stack_remap[cols["stack"]])
        for k in ("emulated", "pid", "tid", "period"):
            columns[k].append(cols[k])
        result.unknown_lines += part.unknown_lines
        result.unknown_examples.extend(part.unknown_examples)
        result.lost += part.lost
        result.lost_records += part.lost_records
    del result.unknown_examples[MAX_EXAMPLES:]
    # pid and tid straight into the table's int64 (one pass, not a concatenation and a cast).
    cat: dict[str, npt.NDArray[Any]] = {}
    for k, v in columns.items():
        dtype = np.int64 if k in ("pid", "tid") else PART_COLUMNS[k]
        cat[k] = (
            v[0]
            if len(v) == 1 and v[0].dtype == dtype
            else np.concatenate(v, dtype=dtype)
            if v
            else np.zeros(0, dtype)
        )
    n = int(cat["leaf"].size)
    result.header_lines = n
    if n == 0:
        return result
    result.samples = assemble(
        source_kind,
        table,
        cat["leaf"],
        cat["caller"],
        cat["emulated"],
        event=S.from_codes(cat["event"], list(event_code)),
        comm=_placeholder_comm(n),
        pid=cat["pid"],
        tid=cat["tid"],
        time=np.full(n, np.nan),
        period=cat["period"],
        stack=cat["stack"],
    )
    result.stacks = list(stacks)
    result.frames = stack_frames(table)
    result.trace_text = b"".join(p.trace_text for p in parts)
    return result


def _placeholder_comm(n: int) -> S.Cat:
    return S.constant(n, "")
