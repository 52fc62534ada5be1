"""Folded stacks from perf.data files, and the two-column differential form.

One folded line is ``root;frame;...;leaf COUNT``: a whole callchain, root
first, and how many samples ended in it. The differential form that
FlameGraph's differential tools read puts two counts on each line,
``root;...;leaf COUNT_A COUNT_B``.

Stacks come from ``perf script -F comm,event,ip,sym,dso --no-inline`` with a
callchain limit far above what the kernel records, so every recorded frame is
kept. The fields are chosen so that the text is cheap to fold in bulk: no pid,
tid, time or period, so every sample with the same command, event and frames
prints the same record, and a :class:`collections.Counter` over the records
(C code) does the counting. Python then touches each *distinct* record once
and each *distinct* frame line once; names that need an ELF or a qemu perf map
are looked up for all of those lines together with numpy.

Frames are named as perf names them. Where perf could not (``[unknown]``):
emulated guest code (qemu ``-perfmap`` entries) is mapped to the guest address
through the run's perf map and named from the aarch64 ELF; other addresses are
looked up in a ``--binary`` with the DSO's file name; what is left becomes
``[dso file name]``. The command name is the root frame.

Modules: folding (``fold``) and naming frames (``frames``).
"""

from lseprof.analysis.folded.fold import (
    Folded,
    FoldedDiff,
    collapse,
    differential,
    fold_records,
    fold_text,
    scale_counts,
    write_folded,
)
from lseprof.analysis.folded.frames import JIT_FRAME

__all__ = [
    "JIT_FRAME",
    "Folded",
    "FoldedDiff",
    "collapse",
    "differential",
    "fold_records",
    "fold_text",
    "scale_counts",
    "write_folded",
]
