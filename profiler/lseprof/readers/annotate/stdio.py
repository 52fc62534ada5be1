"""``perf annotate --stdio``: one listing per ``Percent | Source code & Disassembly of
...`` heading; lines ``PCT :   ADDR: INSTRUCTION`` and ``    : LINE  SOURCE``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lseprof import samples as S

HEAD_RE = re.compile(
    r"^\s*Percent\s*\|\s*Source code & Disassembly of (?P<dso>.+?) for (?P<event>.+?) "
    r"\((?P<n>\d+) samples?(?:, [^)]*)?\)\s*$"
)
_LINE_RE = re.compile(r"^\s*(?P<pct>\d+(?:\.\d+)?)?\s+:(?:\s(?P<body>.*))?$")
_ASM_RE = re.compile(r"^\s*(?P<addr>[0-9a-f]+):\s+(?P<insn>\S.*?)\s*$")
_SOURCE_RE = re.compile(r"^(?P<number>\d+)\s+(?P<text>.*?)\s*$")
_FUNCTION_RE = re.compile(r"^(?P<addr>[0-9a-f]+) <(?P<name>.+)>:$")
_RULE_RE = re.compile(r"^-{10,}\s*$")


@dataclass
class StdioListing:
    """A listing being read."""

    dso: str
    event: str
    samples: int
    lines: list[S.ListingLine] = field(default_factory=list)
    symbol: str = ""
    start: int | None = None

    def add(self, pct: str | None, body: str) -> bool:
        """One line under the heading; False if it is not a listing line."""
        if (asm := _ASM_RE.match(body)) is not None and not _SOURCE_RE.match(body):
            percent = float(pct) if pct is not None else None
            self.lines.append(S.ListingLine("insn", asm["insn"], percent, int(asm["addr"], 16)))
            return True
        source = _SOURCE_RE.match(body)
        text = source["text"] if source is not None else body.strip()
        if (function := _FUNCTION_RE.match(text)) is not None and not self.symbol:
            self.symbol, self.start = function["name"], int(function["addr"], 16)
        if text:
            self.lines.append(S.ListingLine("source", text))
        return True

    def listing(self) -> S.Listing:
        percentages = any(line.percent is not None for line in self.lines)
        return S.Listing(
            self.symbol or S.UNKNOWN,
            self.dso,
            self.event,
            self.samples,
            self.lines,
            "stdio",
            self.start,
            percentages,
        )


def read_stdio(lines: list[str]) -> tuple[list[S.Listing], list[str]]:
    """The listings of ``perf annotate --stdio`` text, and the lines not understood."""
    listings: list[StdioListing] = []
    unknown: list[str] = []
    for line in lines:
        if (head := HEAD_RE.match(line)) is not None:
            listings.append(StdioListing(head["dso"], head["event"], int(head["n"])))
        elif not line.strip() or _RULE_RE.match(line):
            continue
        elif listings and (m := _LINE_RE.match(line)) is not None:
            listings[-1].add(m["pct"], m["body"] or "")
        else:
            unknown.append(line)
    return [listing.listing() for listing in listings], unknown
