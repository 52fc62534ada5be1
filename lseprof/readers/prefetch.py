"""Start perf for ``lseprof report PERF.DATA`` before the command line has loaded.

Reading a big perf.data is perf script's work (seconds). Loading lseprof's command
line (typer, rich, pydantic) takes ~0.3 s before the report command even runs, and
on a machine with few CPUs that is time perf could already use. So when the
``lseprof`` console script runs as ``lseprof report [OPTIONS] PATH`` on a perf.data,
:func:`start_for` (called first thing in lseprof/cli/main.py) recognizes the invocation
with a small parser of the report command's options, starts perf
(:func:`lseprof.readers.perf_data.start_perf_data`) and keeps the reader; then
:func:`lseprof.analysis.pipeline.build_report` takes it (:func:`take`) instead of starting
perf itself.

It is only a head start: anything the parser does not know (another command,
--help, an option it has not heard of) means no prefetch; a reader that does not
match what build_report asks for is stopped and build_report starts its own; a
command that fails before reading the file stops perf at exit. Errors are left to
build_report, which reports them as usual.

Only the standard library and lseprof.readers.perf_data (as light) load here.
"""

from __future__ import annotations

import atexit
from pathlib import Path

from lseprof.readers.perf_data import PerfDataReader, is_perf_data, start_perf_data

# The report command's options (lseprof/cli/report.py; tests/test_report_cli.py checks
# that the two agree): those that take a value, and flags.
VALUE_OPTIONS = frozenset({"--binary", "--symfs", "--top", "--format", "--rules", "--perf-map",
                           "--max-stack", "--offcpu-folded", "-o", "--output", "--store"})
FLAG_OPTIONS = frozenset({"--json", "--markdown", "--sched", "--no-sched"})

_pending: tuple[Path, int | None, PerfDataReader] | None = None


def parse(args: list[str]) -> tuple[Path, int | None] | None:
    """(PATH, --max-stack) of ``report [OPTIONS] PATH`` where perf.data is possible
    (--format auto or perf-data); None for anything else."""
    if not args or args[0] != "report":
        return None
    path: str | None = None
    max_stack: int | None = None
    fmt = "auto"
    rest = args[1:]
    i = 0
    positional = False
    while i < len(rest):
        arg = rest[i]
        i += 1
        if positional or not arg.startswith("-") or arg == "-":
            if path is not None:
                return None
            path = arg
            continue
        if arg == "--":
            positional = True
            continue
        name, eq, value = arg.partition("=")
        if name in FLAG_OPTIONS and not eq:
            continue
        if name not in VALUE_OPTIONS:
            return None
        if not eq:
            if i >= len(rest):
                return None
            value = rest[i]
            i += 1
        if name == "--format":
            fmt = value
        elif name == "--max-stack":
            try:
                max_stack = int(value)
            except ValueError:
                return None
    if path is None or fmt not in ("auto", "perf-data") or (max_stack is not None
                                                            and max_stack < 1):
        return None
    return Path(path), max_stack


def start_for(argv: list[str]) -> None:
    """Start perf if `argv` (sys.argv) is the lseprof console script reporting on a
    perf.data; otherwise, or if anything goes wrong, do nothing."""
    global _pending
    if not argv or Path(argv[0]).name != "lseprof" or _pending is not None:
        return
    parsed = parse(argv[1:])
    if parsed is None or not is_perf_data(parsed[0]):
        return
    try:
        reader = start_perf_data(parsed[0], max_stack=parsed[1])
        _pending = (parsed[0].resolve(), parsed[1], reader)
    except Exception:  # build_report will meet the same problem and report it
        return
    atexit.register(_abort)


def take(path: Path, max_stack: int | None) -> PerfDataReader | None:
    """The reader started for this path and --max-stack, if any (only once)."""
    global _pending
    if _pending is None:
        return None
    pending, _pending = _pending, None
    if pending[0] == Path(path).resolve() and pending[1] == max_stack:
        return pending[2]
    pending[2].abort()
    return None


def _abort() -> None:
    global _pending
    if _pending is not None:
        _pending[2].abort()
        _pending = None
