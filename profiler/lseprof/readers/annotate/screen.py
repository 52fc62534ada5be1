"""The interactive annotate screen as copied from a terminal, and lines of one pasted
without their heading.

Each line is ``PCT │BODY`` (``|`` where the terminal drew ASCII). perf writes a
source line at one column of the body and an instruction two columns further (the
two columns hold the jump arrow), after an optional jump label (``20:``, or an
address in the objdump view); the current jump's box (``┌─→ │ └──``) is drawn over
the blanks before them. So the column where the text starts, once labels and
arrows are skipped, tells an instruction from a source line, whatever either says:
the instruction column is the one two to the right of the source column.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from lseprof import samples as S

TITLE_RE = re.compile(r"^\s*Samples:\s*[\d.]+\s*[KMGT]?\s+of event\s+'(?P<event>[^']*)'")
FUNCTION_RE = re.compile(r"^(?P<symbol>\S.*?)\s{2,}(?P<dso>\S+)\s+\[Percent:\s*[^\]]*\]\s*$")
LINE_RE = re.compile(r"^(?P<pct>\s*\d+(?:\.\d+)?)?\s*(?:Percent\s*)?(?P<sep>[│|])(?P<body>.*)$")
_HEADER_RE = re.compile(r"^\s*Percent\s*[│|]")
_FOOTER_RE = re.compile(r"^\s*Press '?h'? for help|^\s*$")
_SCROLLBAR_RE = re.compile(r"\s{3,}[#█▒░▓▐▌◆|│]\s*$")
_LABEL_RE = re.compile(r"^\s*(?P<label>[0-9a-f]+):")
# What perf draws before the text: arrows, the current jump's box, or their ASCII.
_GLYPHS = frozenset(" │┌└─→←↑↓├╭╰|+-><")
_ASCII_ARROWS = frozenset("v^")


@dataclass
class _Body:
    text: str
    column: int  # where the text starts
    label: int | None
    percent: float | None


def _body(pct: str | None, body: str) -> _Body | None:
    body = _SCROLLBAR_RE.sub("", body.rstrip("\n"))
    label = None
    if (m := _LABEL_RE.match(body)) is not None:
        label = int(m["label"], 16)
        body = " " * m.end() + body[m.end() :]
    column = 0
    while column < len(body) and (
        body[column] in _GLYPHS
        or (body[column] in _ASCII_ARROWS and body[column + 1 : column + 2] == " ")
    ):
        column += 1
    text = body[column:].rstrip()
    if not text:
        return None
    return _Body(text, column, label, float(pct) if pct and pct.strip() else None)


def _instruction_column(bodies: list[_Body]) -> int:
    """The column instructions start at: two right of the source column where the
    listing has both, else the one most lines start at."""
    counts = Counter(b.column for b in bodies)
    paired = [c for c in counts if counts.get(c - 2)]
    if paired:
        return max(paired, key=lambda c: (counts[c], c))
    return counts.most_common(1)[0][0] if counts else 0


@dataclass
class ScreenListing:
    """A listing being read from a screen (or a fragment)."""

    symbol: str
    dso: str
    event: str
    layout: str
    bodies: list[_Body] = field(default_factory=list)

    def listing(self) -> S.Listing:
        column = _instruction_column(self.bodies)
        lines = [
            S.ListingLine("insn", b.text, b.percent, b.label)
            if b.column >= column
            else S.ListingLine("source", b.text, b.percent, b.label)
            for b in self.bodies
        ]
        percentages = any(b.percent is not None for b in self.bodies)
        return S.Listing(
            self.symbol, self.dso, self.event, None, lines, self.layout, None, percentages
        )


@dataclass
class _Screens:
    listings: list[ScreenListing] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    event: str = ""

    def line(self, line: str) -> None:
        if (title := TITLE_RE.match(line)) is not None:
            self.event = title["event"]
        elif (function := FUNCTION_RE.match(line)) is not None:
            self.listings.append(
                ScreenListing(function["symbol"], function["dso"], self.event, "tui")
            )
        elif self.listings and (m := LINE_RE.match(line)) is not None:
            if (body := _body(m["pct"], m["body"])) is not None:
                self.listings[-1].bodies.append(body)
        elif not _FOOTER_RE.match(line):
            self.unknown.append(line)


def read_screens(lines: list[str]) -> tuple[list[S.Listing], list[str]]:
    """The listings of annotate screens, and the lines not understood."""
    screens = _Screens()
    for line in lines:
        screens.line(line)
    return [s.listing() for s in screens.listings if s.bodies], screens.unknown


def read_fragments(lines: list[str]) -> tuple[list[S.Listing], set[int]]:
    """Lines of annotated functions pasted without their heading (after a report):
    runs of ``PCT │BODY`` lines of which at least one has a percentage (a call
    graph's ``|`` lines never have one). The listings, and the indexes of their lines."""
    runs: list[list[int]] = [[]]
    for n, line in enumerate(lines):
        if LINE_RE.match(line) is not None and "%--" not in line:
            runs[-1].append(n)
        elif runs[-1]:
            runs.append([])
    listings, used = [], set()
    for run in runs:
        matches = [LINE_RE.match(lines[n]) for n in run]
        if not any(m is not None and m["pct"] for m in matches):
            continue
        listing = ScreenListing("", S.UNKNOWN, "", "fragment")
        listing.bodies = [
            b for m in matches if m is not None and (b := _body(m["pct"], m["body"])) is not None
        ]
        listings.append(listing.listing())
        used.update(run)
    return listings, used
