"""Tracepoint records in a `perf script` pass over a perf.data that holds scheduler
events beside its samples: cut out of the sample text, kept as text for the
scheduler-event reader (:mod:`lseprof.readers.sched_events`), so that one perf
script pass reads both.

perf prints a tracepoint with the fields lseprof asks for tracepoints
(``-F trace:comm,pid,tid,cpu,time,event,trace,ip,sym,dso``): a header with the
``[cpu]`` and the time, which sample headers never carry, then its callchain lines
and a blank line. The FORK records the scheduler view needs (which processes descend
from the workload) are copied along.
"""

from __future__ import annotations

import re

_BLOCK = re.compile(
    rb"^[^\t\n][^\n]*\[\d+\] +\d+\.\d+: +[\w-]+:[\w-]+:[^\n]*(?:\n|\Z)(?:\t[^\n]*(?:\n|\Z))*\n?",
    re.M,
)
_FORK = re.compile(rb"^[^\n]*PERF_RECORD_FORK[^\n]*\n", re.M)


def split_tracepoints(data: bytes) -> tuple[bytes, bytes]:
    """(the text without tracepoint blocks, those blocks and the FORK records)."""
    if b"] " not in data:
        return data, b""
    taken: list[bytes] = []
    pieces: list[bytes] = []
    last = 0
    for match in _BLOCK.finditer(data):
        pieces.append(data[last : match.start()])
        block = match.group(0)
        taken.append(block if block.endswith(b"\n\n") else block.rstrip(b"\n") + b"\n\n")
        last = match.end()
    if not taken:
        return data, b""
    pieces.append(data[last:])
    rest = b"".join(pieces)
    return rest, b"".join(taken) + b"".join(_FORK.findall(rest))
