"""Recognize and load a `lseprof report` input: perf.data, perf script text or
perf report text (plain or gzip-compressed), into a :class:`lseprof.samples.Capture`."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd

from lseprof import samples as S
from lseprof.errors import LseprofError
from lseprof.readers.paste_shapes import looks_like_pasted_report, normalize_paste
from lseprof.readers.perf_data import MAGIC, read_perf_data
from lseprof.readers.perf_report import looks_like_report, parse_report_text
from lseprof.readers.perf_script import HEADER_RE, parse_script_text

FORMATS = ("auto", "perf-data", "perf-script", "perf-report")
_FRAME_RE = re.compile(r"^\t\s*[0-9a-fA-F]+(\s|$)")
_GZIP_MAGIC = b"\x1f\x8b"


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LseprofError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise LseprofError(f"{path} is a directory; give a perf.data or a perf text file"
                           ) from None
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
    if data[:8] == MAGIC:
        return "perf-data"
    if not data.strip():
        raise LseprofError(f"{path} is empty; give a perf.data, `perf script` or "
                           "`perf report --stdio` output")
    text = data[:400_000].decode("utf-8", "replace")
    if looks_like_report(text):
        return "perf-report"
    if looks_like_script(text):
        return "perf-script"
    if looks_like_pasted_report(text):  # the interactive report's screen, or rows alone
        return "perf-report"
    raise LseprofError(f"{path} is not perf.data, perf script or perf report text; "
                       "give one of those")


def load(path: Path, fmt: str = "auto", max_stack: int | None = None) -> S.Capture:
    """Read any supported input; `fmt` forces a reader instead of detecting one."""
    path = Path(path)
    if fmt not in FORMATS:
        raise LseprofError(f"--format {fmt} is not one of {', '.join(FORMATS)}")
    if fmt == "perf-data" or (fmt == "auto" and _starts_with_magic(path)):
        if fmt == "perf-data" and not _starts_with_magic(path):
            _read(path)  # a missing file or directory gets its own message
            raise LseprofError(f"{path} is not a perf.data file (no PERFILE2 magic); "
                               "drop --format perf-data or give the perf.data")
        return read_perf_data(path, max_stack=max_stack)
    data = _read(path)
    kind = detect(path, data) if fmt == "auto" else fmt
    if kind == "perf-data":
        return read_perf_data(path, max_stack=max_stack)
    text_bytes = data
    if kind == "perf-report":
        text, paste_notes = normalize_paste(text_bytes.decode("utf-8", "replace"))
        parsed = parse_report_text(text)
        parsed.warnings[:0] = paste_notes
        if not parsed.events:
            raise LseprofError(f"{path} has no perf report histogram (no '# Overhead' column "
                               "header and rows); give `perf report --stdio` output")
        lost = {e: parsed.lost for e in parsed.events} if parsed.lost is not None else {}
        return S.Capture(
            samples=parsed.samples, source_kind="perf-report", path=str(path),
            events=parsed.events, perf_version=parsed.perf_version, lost_samples=lost,
            sample_counts=parsed.sample_counts, sample_counts_exact=parsed.sample_counts_exact,
            unknown_lines=parsed.unknown_lines, unknown_examples=parsed.unknown_examples,
            arch=parsed.arch, warnings=parsed.warnings)
    script = parse_script_text(text_bytes, "perf-script")
    if script.header_lines == 0:
        raise LseprofError(f"{path} has no perf script samples; give `perf script` output")
    frame = script.samples
    events = [str(e) for e in pd.unique(frame["event"].astype(object))]
    script_lost = {e: script.lost for e in events} if script.lost else {}
    return S.Capture(
        samples=frame, source_kind="perf-script", path=str(path), events=events,
        lost_samples=script_lost, unknown_lines=script.unknown_lines,
        unknown_examples=script.unknown_examples)


def _starts_with_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(8) == MAGIC
    except OSError:
        return False
