"""`perf script` text -> the samples table (:mod:`lseprof.samples`).

Two header readers share one frame reader:

* :func:`parse_script_text` reads text made anywhere, in perf's default layout
  or with ``-F`` field choices: one header line per sample (``comm pid[/tid]
  [cpu] time: [period event:] [ip sym+off (dso)]``), then callchain frames, one
  per line, each ``\\t<16-column hex ip> <sym>[+0xoff] (<dso>)``. Headers go
  through one regex each.
* :class:`OwnScriptReader` (and :func:`parse_own_script`) reads the exact layout
  lseprof asks perf for when it runs ``perf script`` on a perf.data (see
  :mod:`lseprof.readers.perf_data`); its headers are purely numeric and are decoded for
  all lines at once. Whole sample blocks (header and callchain) repeat: only the
  distinct ones are parsed, and each sample takes its block's codes.

Frames are never parsed one by one: their addresses are decoded in bulk, the
lines are factorized by a fingerprint, and only the distinct lines (a few
thousand in a million-sample profile) are split into symbol and DSO in Python.

Modules: the own-layout reader (``own_layout``) and its headers (``own_headers``),
the general text reader (``text``), frame lines (``frames``), callchains to
samples (``callchains``), task records (``tasks``), per-slice codes and their
merge (``parts``) and the bulk byte operations they share (``textscan``).
"""

from lseprof.readers.script.callchains import MAX_EXAMPLES, ParsedScript
from lseprof.readers.script.frames import (
    INLINED,
    Frame,
    FrameTable,
    guest_address,
    parse_frame_text,
    split_frame_text,
)
from lseprof.readers.script.own_layout import OwnScriptReader, parse_own_script
from lseprof.readers.script.parts import ScriptParts, merge_parts
from lseprof.readers.script.tasks import TaskEvents, apply_comms
from lseprof.readers.script.text import HEADER_RE, parse_script_text, read_script_text

__all__ = [
    "HEADER_RE",
    "INLINED",
    "MAX_EXAMPLES",
    "Frame",
    "FrameTable",
    "OwnScriptReader",
    "ParsedScript",
    "ScriptParts",
    "TaskEvents",
    "apply_comms",
    "guest_address",
    "merge_parts",
    "parse_frame_text",
    "parse_own_script",
    "parse_script_text",
    "read_script_text",
    "split_frame_text",
]
