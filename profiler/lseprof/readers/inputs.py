"""The first step of `lseprof report`: open an input once and say what it is.

:func:`open_input` reads a file's first bytes once and returns a
:class:`PerfDataInput` (perf script already started on the perf.data, so perf works
while the caller loads the rest of lseprof) or a :class:`TextInput` (``perf
script``, ``perf report`` or ``perf annotate`` text, plain or gzip-compressed, with
its kind detected). Either gives the :class:`lseprof.samples.Capture` with :meth:`read`.

Only the standard library and the perf.data reader load here: pandas and the text
parsers load when a text input is read.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lseprof.errors import LseprofError
from lseprof.readers.perf_data import (
    MAGIC,
    PerfDataHeader,
    PerfDataReader,
    SymbolFiles,
    start_perf_data,
)
from lseprof.readers.time_range import TimeRange, cut_capture

if TYPE_CHECKING:
    from lseprof import samples as S

FORMATS = ("auto", "perf-data", "perf-script", "perf-report", "perf-annotate")
_FRAME_RE = re.compile(r"^\t\s*[0-9a-fA-F]+(\s|$)")
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class PerfDataInput:
    """A perf.data with perf script running on it."""

    path: Path
    reader: PerfDataReader
    kind: str = "perf-data"

    @property
    def files(self) -> SymbolFiles:
        return self.reader.files

    @property
    def header(self) -> PerfDataHeader:
        return self.reader.head

    @property
    def build_ids(self) -> dict[str, str]:
        return self.reader.build_ids

    @property
    def time_range(self) -> TimeRange | None:
        return self.reader.time_range

    def read(self) -> S.Capture:
        return self.reader.finish()

    def close(self) -> None:
        """Stop perf if the input is not read after all (a no-op once it was)."""
        self.reader.abort()


@dataclass
class TextInput:
    """``perf script``, ``perf report`` or ``perf annotate`` text, decompressed, with
    its kind."""

    path: Path
    kind: str  # "perf-script", "perf-report" or "perf-annotate"
    data: bytes
    time_range: TimeRange | None = None  # rows cut after reading, by their times
    files: SymbolFiles = field(default_factory=SymbolFiles)

    @property
    def header(self) -> PerfDataHeader | None:
        return None

    @property
    def build_ids(self) -> dict[str, str]:
        return {}

    def read(self) -> S.Capture:
        if self.kind == "perf-report":
            if self.time_range is not None:
                raise LseprofError(
                    f"{self.path} is perf report text, which has no sample times; "
                    "--time-range needs a perf.data or perf script text"
                )
            from lseprof.readers.report_text import read_report_text

            return read_report_text(self.data, str(self.path))
        if self.kind == "perf-annotate":
            from lseprof.readers.annotate import read_annotate_text

            return read_annotate_text(self.data, str(self.path))
        from lseprof.readers.script import read_script_text

        capture = read_script_text(self.data, str(self.path))
        if self.time_range is not None:
            cut_capture(capture, self.time_range)
        return capture

    def close(self) -> None:
        """Nothing runs for text."""


ProfileInput = PerfDataInput | TextInput


def open_input(
    path: Path,
    fmt: str = "auto",
    max_stack: int | None = None,
    time_range: TimeRange | None = None,
    times: bool = False,
    files: SymbolFiles | None = None,
) -> ProfileInput:
    """Open any supported input; `fmt` forces a kind instead of detecting one.
    `time_range`: only that stretch of the profile (:mod:`lseprof.readers.time_range`);
    `times`: fill the samples' ``time`` column (a perf.data leaves it out otherwise);
    `files`: the recording machine's (--symfs, --kallsyms) where it was another."""
    path = Path(path)
    files = files or SymbolFiles()
    if fmt not in FORMATS:
        raise LseprofError(f"--format {fmt} is not one of {', '.join(FORMATS)}")
    head = _first_bytes(path)
    if head == MAGIC and fmt in ("auto", "perf-data"):
        reader = start_perf_data(
            path, max_stack=max_stack, time_range=time_range, times=times, files=files
        )
        return PerfDataInput(path, reader)
    data = _read(path)
    if fmt == "perf-data":
        raise LseprofError(
            f"{path} is not a perf.data file (no PERFILE2 magic); "
            "drop --format perf-data or give the perf.data"
        )
    files.check()
    if files.kallsyms is not None:
        raise LseprofError(
            f"--kallsyms names kernel frames of a perf.data; {path.name} is text, whose "
            "names perf printed: run perf script with --kallsyms where it was made"
        )
    kind = detect(path, data) if fmt == "auto" else fmt
    return TextInput(path, kind, data, time_range, files)


def _first_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(MAGIC))
    except OSError:
        return b""  # _read says what is wrong with the path


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LseprofError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise LseprofError(f"{path} is a directory; give a perf.data or a perf text file") from None
    except PermissionError:
        raise LseprofError(f"{path}: permission denied; check its permissions") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise LseprofError(f"{path} is a damaged gzip file ({exc}); copy it again") from None
    return data


def looks_like_script(text: str) -> bool:
    """True if most of the first non-comment lines are perf script headers or frames."""
    from lseprof.readers.script import HEADER_RE

    seen = headers = known = 0
    for line in text[:200_000].splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        seen += 1
        if _FRAME_RE.match(line):
            known += 1
        elif HEADER_RE.match(line):
            headers += 1
            known += 1
        if seen >= 400:
            break
    return headers > 0 and known >= 0.6 * seen


def detect(path: Path, data: bytes) -> str:
    """The kind of a decompressed input's bytes (see :data:`FORMATS`)."""
    from lseprof.readers.annotate import looks_like_annotate
    from lseprof.readers.report_text import looks_like_pasted_report, looks_like_report

    if data[:8] == MAGIC:
        return "perf-data"
    if not data.strip():
        raise LseprofError(
            f"{path} is empty; give a perf.data, `perf script`, `perf report --stdio` "
            "or `perf annotate` output"
        )
    text = data[:400_000].decode("utf-8", "replace")
    if looks_like_report(text):
        return "perf-report"
    if looks_like_script(text):
        return "perf-script"
    if looks_like_pasted_report(text):  # the interactive report's screen, or rows alone
        return "perf-report"
    if looks_like_annotate(text):  # --stdio, or the interactive screen
        return "perf-annotate"
    raise LseprofError(
        f"{path} is not perf.data, perf script, perf report or perf annotate text; "
        "give one of those"
    )


def load(path: Path, fmt: str = "auto", max_stack: int | None = None) -> S.Capture:
    """Open and read any supported input in one call."""
    return open_input(path, fmt, max_stack).read()
