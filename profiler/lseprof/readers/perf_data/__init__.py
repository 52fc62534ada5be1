"""perf.data -> the samples table, by running this machine's ``perf script``.

perf does the symbol resolution (it knows the recorded mmaps, build-ids and the
kernel), lseprof picks the output fields so that its text is trivial to read in
bulk (:class:`lseprof.readers.script.OwnScriptReader`):

    perf script -F pid,tid,event,period,ip,sym,dso --max-stack N
                --show-task-events --show-lost-events [--time A%-B%]

``comm`` is left out of the per-sample header (it may contain spaces) and
rebuilt from the COMM/FORK records; ``time`` is left out because formatting it
is the costliest part of perf script's output and attribution does not need it
(the ``time`` column is NaN for perf.data input). Where time is needed it is read
apart: a ``--time-range`` becomes absolute ``--time`` windows for perf script
(the range's start and end from the header's first and last sample times, see
:mod:`lseprof.readers.time_range`), so perf reads only that stretch; the heat map
and the timeline ask for the ``time`` column, which a second, symbol-free ``perf
script -F tid,time --ns`` pass fills (its samples come in the samples pass's order;
their thread ids are checked). Callchains are cut at DEFAULT_MAX_STACK frames
(8: the sample, its caller, and the frames that say what kernel entry/exit and
scheduler code serves) unless the recording ran under qemu, where the guest
instruction can be several host frames up (64).

Big files are split by time into one ``perf script`` per CPU. Each slice runs in
its own forked process that parses the text as perf writes it and sends back
compact per-sample codes (:class:`~lseprof.readers.script.ScriptParts`), so
perf and parsing use every core; the parent merges the slices into one table.

The script pass is the only one that reads the samples. Around it, two perf calls
read only the header: ``perf report --header-only`` (version, arch, sample type)
and ``perf buildid-list`` (recorded build-ids). Lost samples: the script prints a
PERF_RECORD_LOST line wherever the ring buffer overflowed; only when it printed
any does ``perf report --stats`` run (another full pass, but a cheap one without
symbols) for perf's exact per-event LOST_SAMPLES counts. Without LOST lines the
count is 0. (The kernel writes a LOST record at the next record that fits, so
samples dropped in the very last moments of a recording, with nothing written
after them, are not seen.)

Modules: the reader (``reader``), the header, stats and build-id calls
(``header``), the perf script processes (``script_procs``) and the forked slice
parsers (``forked``). Loads neither numpy nor pandas until the samples are read,
so that a caller can start perf before it imports them.
"""

from lseprof.readers.perf_data.header import (
    PerfDataHeader,
    read_build_ids,
    read_header,
    read_lost,
)
from lseprof.readers.perf_data.reader import (
    DEFAULT_MAX_STACK,
    FULL_STACK,
    MAGIC,
    SPLIT_ABOVE_BYTES,
    PerfDataReader,
    is_perf_data,
    read_perf_data,
    start_perf_data,
)
from lseprof.readers.perf_data.script_procs import (
    OWN_FIELDS,
    OWN_FIELDS_ONE_EVENT,
    TRACE_FIELDS,
    TRACE_MAX_STACK,
    SymbolFiles,
    default_jobs,
)

__all__ = [
    "DEFAULT_MAX_STACK",
    "FULL_STACK",
    "MAGIC",
    "OWN_FIELDS",
    "OWN_FIELDS_ONE_EVENT",
    "SPLIT_ABOVE_BYTES",
    "TRACE_FIELDS",
    "TRACE_MAX_STACK",
    "PerfDataHeader",
    "PerfDataReader",
    "SymbolFiles",
    "default_jobs",
    "is_perf_data",
    "read_build_ids",
    "read_header",
    "read_lost",
    "read_perf_data",
    "start_perf_data",
]
