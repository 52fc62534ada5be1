"""`perf report` text as people paste it, brought to the ``--stdio`` layout that
:mod:`lseprof.readers.report_text.histogram` reads.

The shapes (each has a fixture cut from real perf 6.1 output, tests/fixtures/perf/pastes):

* the interactive report's screen: its title ``Samples: 438 of event 'cpu-clock',
  Event count (approx.): ...`` and column header without ``#``, and no dotted rule;
* the interactive report's ``P`` dump (``perf.hist.N``) and pastes of the top rows
  only: rows with no header at all; the columns are then taken as perf's default
  order (``--sort comm,dso,sym``), after any percentage and ``Samples`` columns;
* the ``+``/``-`` expander column in front of the percentages (children view);
* CRLF line ends and tabs where a chat client squeezed runs of spaces;
* lines wrapped by a mail client (at spaces) or cut hard at a terminal's width:
  the pieces are joined again (see :func:`_unwrap`);
* several events' screens of the interactive report, one after the other, each
  with its title and column header;
* a paste cut in the middle of its last row (a symbol cut short is completed
  where another row of the paste names the whole of it);
* rows aligned differently from their neighbours (a first row selected from its
  first character, a wider percentage), rows with single spaces between columns:
  each row is read by its own tokens (every line with a percentage and a
  ``[.]``/``[k]`` marker is a row);
* mail replies (``> `` before every line) and a terminal's cut marker (``>`` at the
  right edge of a long header);
* text inside a block: commands, crash messages, key menus, label lines between
  two reports, redactions (``[...]``): never glued to a row, and a text line
  between two groups of rows starts a new report (each its own section).

Normalising proper ``--stdio`` text changes nothing in it. Shares stay as printed:
rows that add up to 96.55% give 96.55% (perf_report counts the rest as not listed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lseprof.readers.report_text.rows import MARKER_RE, PCT_RE, SPLIT_RE, token_parts

_TITLE_RE = re.compile(r"^\s*(Samples:\s*[\d.]+\s*[KMGT]?\s+of event\s+'[^']*')(.*)$")
_COUNT_RE = re.compile(r"^\s*Event count \(approx\.\):")
_HEADER_RE = re.compile(r"^\s*(Children\s+Self|Overhead|Self)\s{2,}\S")
_ROW_RE = re.compile(r"^(?:(?P<mark>\s*[+-])(?=\s))?(?P<rest>\s*-?\d+(?:\.\d+)?%\s.*)$")
_PRIV_RE = re.compile(r"^\[[.kgHuv]\]\s")
# Text a person or a program wrote into the paste: a sentence, a label, a command, a
# crash message ("Segmentation fault (core dumped)", "With isb:", "$ perf top").
_TEXT_RE = re.compile(
    r"^(?!.*::)[$%>]?\s?[A-Za-z][A-Za-z'-]*:?( +[A-Za-z0-9'\"(),.:;/=_`!?%+@#-]+)+\s*$"
)
_FENCE_RE = re.compile(r"^\s*(```|~~~)[\w-]*\s*$")  # Markdown code fences around a paste
# A redaction or an elision: "[...]", "...", "<snip>", "[redacted]", "(cut)".
_ELIDED_RE = re.compile(
    r"^\s*([\[(<]\s*(\.{3}|…|snip\w*|redacted|cut|trimmed|omitted)\s*[\])>]|\.{3}|…|-+8<-+)\s*$",
    re.I,
)
_QUOTE_RE = re.compile(r"^(> ?)+")


def _columns_of(row: str) -> list[str]:
    """Column names for a header-less row, perf's default sort keys assumed."""
    parts = SPLIT_RE.split(row.strip())
    if not any(_PRIV_RE.match(p) for p in parts) and any(MARKER_RE.match(t) for t in row.split()):
        parts = token_parts(row)  # single spaces between the columns
    pcts = 0
    while pcts < len(parts) and PCT_RE.match(parts[pcts]):
        pcts += 1
    names = ["Children", "Self"] if pcts >= 2 else ["Overhead"]
    rest = parts[pcts:]
    if rest and rest[0].isdigit():
        names.append("Samples")
        rest = rest[1:]
    keys = ["Command", "Shared Object", "Symbol"]
    if rest and not _PRIV_RE.match(rest[-1]) and len(rest) <= 2:
        keys = ["Command", "Shared Object"]  # sorted without the symbol
    return [*names, *keys[-len(rest) :]] if rest else names


def _header_lines(columns: list[str]) -> list[str]:
    # The dotted rule gives perf_report column widths, which only serve to see
    # columns cut by -w; a pasted header has none, so none are claimed ("..." = 3).
    return ["# " + "  ".join(columns), "# ..."]


_GRAPH_RE = re.compile(r"\||---")  # call-graph lines: never the rest of a wrapped line
# A line wrapped at a space (fold -s) ends up to a word's length short of the width.
_WRAP_SLACK = 30


def _shape_of(line: str) -> bool:
    """Whether ``line`` is something perf prints on a line of its own."""
    return bool(
        line.startswith("#")
        or _ROW_RE.match(line)
        or _TITLE_RE.match(line)
        or _COUNT_RE.match(line)
        or _HEADER_RE.match(line)
        or _GRAPH_RE.search(line)
    )


def _is_text(line: str) -> bool:
    """A line someone (or some program) wrote into the paste, not perf: a sentence,
    a label, a command, a crash message, a key menu, a redaction."""
    stripped = line.strip()
    if not stripped or MARKER_RE.search(stripped) or "[.]" in stripped or "[k]" in stripped:
        return False
    return bool(_ELIDED_RE.match(line)) or (
        not line[:1].isspace() and _TEXT_RE.match(stripped) is not None
    )


def _unwrap(lines: list[str]) -> tuple[list[str], int, int]:
    """Lines wrapped at a width joined again: (lines, pieces joined, the width).

    Pasted through mail, a long row goes on in the next line at a space (``fold -s``);
    copied from a terminal that does not rejoin what it wrapped, it is cut at the
    width itself, maybe in a word or before spaces. A piece is a line of no shape
    of its own (not a row, comment, title, header or call-graph line, nor text a
    person or program wrote after a row: see :func:`_is_text`) following a line about as long
    as the paste's longest line (the wrap width): then it is the rest of that line.
    A piece that starts with spaces (a hard cut just before a column gap) counts only
    after a line exactly that long. Whitespace-only pieces (the spaces perf pads its
    header with, wrapped over) are dropped.
    """
    width = max((len(line) for line in lines), default=0)
    out: list[str] = []
    joined = 0
    for line in lines:
        prev = out[-1] if out else ""
        # Text is the paste author's (a crash message, a label), unless it goes on a
        # comment or a row cut at exactly the width.
        cut_row = len(prev) == width and _ROW_RE.match(prev) is not None
        text = _is_text(line) and not prev.startswith("#") and not cut_row
        if out and prev.strip() and line and not _shape_of(line) and not text:
            if not line.strip():
                if len(prev) >= width - _WRAP_SLACK:
                    joined += 1
                    continue
            elif (not line[0].isspace() and len(prev) >= width - _WRAP_SLACK) or len(prev) == width:
                # A client that strips trailing spaces glued "[.]" to its symbol's gap.
                gap = "  " if _PRIV_RE.match(line) and not prev[-1].isspace() else ""
                out[-1] = prev + gap + line
                joined += 1
                continue
        out.append(line)
    return out, joined, width


@dataclass
class _Stdio:
    """Paste lines rewritten into --stdio layout, one at a time."""

    has_header: bool  # the paste has a '#' column header somewhere
    out: list[str] = field(default_factory=list)
    screen_header: bool = False  # the interactive report: one header per event's screen
    any_header: bool = False
    need_rule: bool = False
    first_row: int | None = None
    header: list[str] = field(default_factory=list)  # the last column header written
    rows: int = 0  # rows since the last header
    label: str | None = None  # text written after rows: another report may follow
    report_starts: list[int] = field(default_factory=list)  # header-less: later reports
    labels: list[str] = field(default_factory=list)

    def line(self, line: str) -> None:
        if self.need_rule and line.strip():
            if not re.match(r"^#\s*\.{3}", line):
                self.out.append("# ...")
            self.header.append(self.out[-1])
            self.need_rule = False
        if line.startswith("#"):
            self.comment(line)
        elif (m := _TITLE_RE.match(line)) is not None:
            self.screen_header = self.has_header  # a new event's screen: its own header follows
            self.out.append(f"# {m[1]}")
            if count := re.search(r"Event count \(approx\.\):\s*\d+", m[2]):
                self.out.append(f"# {count[0]}")
        elif _COUNT_RE.match(line):
            self.out.append(f"# {line.strip()}")
        elif _HEADER_RE.match(line) and (not self.screen_header or self.rows):
            if self.label is not None:  # the text before this report's own header
                self.labels.append(self.label)
                self.label = None
            self.out.append(f"# {line.strip()}")
            self.header = [self.out[-1]]
            self.screen_header = self.need_rule = self.any_header = True
            self.rows = 0
        else:
            self.row(line)

    def comment(self, line: str) -> None:
        # A terminal cuts a long header at its width and marks it with '>'.
        if (uncut := re.sub(r"(?<=[\s.])>\s*$", "", line)) != line:
            line = uncut.rstrip()
        if _HEADER_RE.match(line[1:]):
            self.header, self.rows = [line], 0
        elif re.match(r"^#\s*\.{3}", line) and self.header:
            self.header.append(line)
        self.out.append(line)

    def row(self, line: str) -> None:
        if (row := _ROW_RE.match(line)) is not None:
            if row["mark"] is not None:
                line = " " * len(row["mark"]) + row["rest"]  # the TUI's +/- expander
            if self.first_row is None:
                self.first_row = len(self.out)
            elif self.label is not None:
                self.new_report()
            self.rows += 1
        elif self.rows and _is_text(line) and not _ELIDED_RE.match(line):
            self.label = line.strip()
        self.out.append(line)

    def new_report(self) -> None:
        """Rows after a text line that followed rows: the next report of the paste."""
        self.labels.append(str(self.label))
        self.label, self.rows = None, 0
        if self.any_header and self.header:
            self.out += self.header
        else:
            self.report_starts.append(len(self.out))


def _complete_cut_symbol(out: list[str], notes: list[str]) -> None:
    """The last row of a paste cut in the middle of its symbol, completed where exactly
    one other row names a symbol it begins (a list of callers of one function)."""
    at = next((i for i in range(len(out) - 1, -1, -1) if out[i].strip()), None)
    if at is None or _ROW_RE.match(out[at]) is None or "] " not in out[at]:
        return
    head, _, cut = out[at].rpartition("] ")
    start = max((i for i in range(at) if out[i].startswith("#")), default=0)
    names = {  # the rows of the same report
        line.rpartition("] ")[2].strip()
        for line in out[start:at]
        if _ROW_RE.match(line) and "] " in line
    }
    whole = {n for n in names if n.startswith(cut.strip()) and n != cut.strip()}
    if cut.strip() and len(whole) == 1:
        name = whole.pop()
        out[at] = f"{head}] {name}"
        notes.append(
            f"the paste ends in the middle of a row; its symbol {cut.strip()!r} is taken "
            f"as {name!r}, the one listed name it begins"
        )


def normalize_paste(text: str) -> tuple[str, list[str]]:
    """The text in --stdio layout, and notes on what was assumed or repaired."""
    notes: list[str] = []
    cut = bool(text) and not text.endswith(("\n", "\r"))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\t" in text:
        text = text.replace("\t", "    ")  # tabs stand for column gaps in chat pastes
    lines = [line for line in _unquote(text.split("\n"), notes) if not _FENCE_RE.match(line)]
    lines, joined, width = _unwrap(lines)
    if joined:
        notes.append(
            f"{joined} lines of the paste went on in the next line (wrapped at "
            f"{width} columns); joined again"
        )
    has_header = any(line.startswith("#") and _HEADER_RE.match(line[1:]) for line in lines)
    stdio = _Stdio(has_header, screen_header=has_header, any_header=has_header)
    for line in lines:
        stdio.line(line)
    out = stdio.out
    if not stdio.any_header and stdio.first_row is not None:
        columns = _columns_of(out[stdio.first_row])
        for start in reversed([stdio.first_row, *stdio.report_starts]):
            out[start:start] = _header_lines(_columns_of(out[start]))
        notes.append(
            "the paste has no column header; columns taken as "
            f"{', '.join(columns)} (perf's default sort order)"
        )
    if stdio.labels:
        notes.append(
            f"the paste holds {len(stdio.labels) + 1} reports, each read as its own "
            f"section (split at: {'; '.join(repr(label) for label in stdio.labels)})"
        )
    last = next((ln for ln in reversed(out) if ln.strip()), "")
    if cut and _ROW_RE.match(last):
        before = len(notes)
        _complete_cut_symbol(out, notes)
        if len(notes) == before:
            notes.append("the paste ends in the middle of a row; its last row may be cut short")
    return "\n".join(out), notes


def _unquote(lines: list[str], notes: list[str]) -> list[str]:
    """A mail reply's quoted report: '> ' before (almost) every line, taken off."""
    filled = [line for line in lines if line.strip()]
    quoted = [line for line in filled if _QUOTE_RE.match(line)]
    if not filled or len(quoted) < 0.8 * len(filled):
        return lines
    notes.append("the paste is quoted ('> ' before its lines, as a mail reply quotes); unquoted")
    return [_QUOTE_RE.sub("", line, count=1) for line in lines]


def looks_like_pasted_report(text: str) -> bool:
    """Rows of perf report (percentages first), with or without a header."""
    rows = seen = 0
    for line in text[:200_000].replace("\r", "\n").splitlines():
        if (
            not line.strip()
            or line.startswith("#")
            or _TITLE_RE.match(line)
            or _HEADER_RE.match(line)
        ):
            continue
        seen += 1
        if _ROW_RE.match(_QUOTE_RE.sub("", line).replace("\t", "    ")):
            rows += 1
        if seen >= 200:
            break
    return rows >= 1 and rows >= 0.3 * seen
