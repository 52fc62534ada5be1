"""A head start for ``lseprof report PERF.DATA``, at the command line's edge.

Reading a big perf.data is perf script's work (seconds). Loading lseprof's command
line (typer, rich, pydantic) takes ~0.3 s before the report command even runs, and
on a machine with few CPUs that is time perf could already use. So when the
``lseprof`` console script runs as ``lseprof report [OPTIONS] PATH``,
:func:`open_early` (called first thing by :func:`lseprof.cli.entry.main`) recognizes
the invocation with a small parser of the report command's options and opens the
input (:func:`lseprof.readers.inputs.open_input`: perf script starts). The opened
input is handed to the report command as the command line's context object; the
report command uses it if it matches what it was asked for (:meth:`EarlyInput.take`),
else closes it and opens its own.

It is only a head start: anything the parser does not know (another command,
--help, an option it has not heard of) means nothing is opened early; an error
while opening is left to the report command, which meets it again and reports it;
an input nobody took is closed at exit.

Only the standard library and the perf.data reader load here.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass, field
from pathlib import Path

from lseprof.readers.inputs import ProfileInput, open_input
from lseprof.readers.perf_data import SymbolFiles

# The report command's options (lseprof/cli/report.py; tests check that the two
# agree): those that take a value, and flags.
VALUE_OPTIONS = frozenset(
    {
        "--binary",
        "--symfs",
        "--kallsyms",
        "--top",
        "--format",
        "--rules",
        "--perf-map",
        "--max-stack",
        "--offcpu-folded",
        "-o",
        "--output",
        "--store",
        "--time-range",
        "--heatmap",
        "--tid",
        "--comm",
    }
)
FLAG_OPTIONS = frozenset({"--json", "--markdown", "--sched", "--no-sched", "--per-thread"})
# These change what perf script is asked for (a --time window, the times pass): no
# head start, the report command opens the input itself.
_REOPENED = ("--time-range", "--heatmap")


@dataclass
class EarlyInput:
    """An input opened before the command line loaded, for one path, --max-stack,
    --symfs and --kallsyms."""

    path: Path
    max_stack: int | None
    files: SymbolFiles
    source: ProfileInput | None = field(default=None, repr=False)

    def take(self, path: Path, max_stack: int | None, files: SymbolFiles) -> ProfileInput | None:
        """The opened input if it is the one asked for (only once); else None, and the
        early one is closed."""
        source, self.source = self.source, None
        if source is None:
            return None
        if (
            self.path == Path(path).resolve()
            and self.max_stack == max_stack
            and self.files == files
        ):
            return source
        source.close()
        return None

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None


def parse(args: list[str]) -> tuple[Path, int | None, SymbolFiles] | None:
    """(PATH, --max-stack, --symfs and --kallsyms) of ``report [OPTIONS] PATH`` where
    perf.data is possible (--format auto or perf-data); None for anything else."""
    if not args or args[0] != "report":
        return None
    path: str | None = None
    options: dict[str, str] = {}
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
        options[name] = value
    return _checked(path, options)


def _checked(
    path: str | None, options: dict[str, str]
) -> tuple[Path, int | None, SymbolFiles] | None:
    try:
        max_stack = int(options["--max-stack"]) if "--max-stack" in options else None
    except ValueError:
        return None
    if (
        path is None
        or any(o in options for o in _REOPENED)
        or options.get("--format", "auto") not in ("auto", "perf-data")
        or (max_stack is not None and max_stack < 1)
    ):
        return None
    files = SymbolFiles(
        *(Path(options[o]) if o in options else None for o in ("--symfs", "--kallsyms"))
    )
    return Path(path), max_stack, files


def open_early(argv: list[str]) -> EarlyInput | None:
    """The opened input if `argv` (sys.argv) is the lseprof console script reporting on
    a file (a text input is read and detected here too, once); otherwise, or if
    anything goes wrong, None."""
    if not argv or Path(argv[0]).name != "lseprof":
        return None
    parsed = parse(argv[1:])
    if parsed is None:
        return None
    try:
        source = open_input(parsed[0], "auto", parsed[1], files=parsed[2])
    except Exception:  # the report command meets the same problem and reports it
        return None
    early = EarlyInput(parsed[0].resolve(), parsed[1], parsed[2], source)
    atexit.register(early.close)
    return early
