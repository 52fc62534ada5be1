"""`perf report` text (``--stdio`` output, and pastes of every shape) -> the samples
table (:mod:`lseprof.samples`).

Report text has no per-sample data: each histogram row becomes one or more
samples-table rows whose ``weight`` is the row's percentage (``Self`` with
``--children``, ``Overhead`` without). Rows under a call-graph section are split
by immediate caller, so callers travel in the same table as for ``perf script``.

Handled layouts: with or without the Children column; Samples/Period columns
(``-n``); IPC columns; any ``--sort`` order (command, shared object, symbol,
pid); columns padded or cut short with ``-w``; several ``# Samples: N of event
'E'`` sections (one per event); graph call-graph sections in callee or caller
order, including ``(inlined)`` frames. Lines that fit none of these are counted,
not fatal.

Pastes (the interactive report's screen, rows without a header, wrapped lines,
chat-mangled tabs) are first brought to the ``--stdio`` layout (``pastes``).

Modules: the histogram reader (``histogram``), its rows (``rows``), call graphs
(``graph``) and paste normalisation (``pastes``).
"""

from lseprof.readers.report_text.histogram import (
    looks_like_report,
    parse_report_text,
    read_report_text,
)
from lseprof.readers.report_text.pastes import looks_like_pasted_report, normalize_paste

__all__ = [
    "looks_like_pasted_report",
    "looks_like_report",
    "normalize_paste",
    "parse_report_text",
    "read_report_text",
]
