"""Checks of `lseprof diff`'s exports, shared by its tests: the folded-stack file
format (FlameGraph's difffolded input) and the self-contained flame graph page."""

from __future__ import annotations

import re
from pathlib import Path

_FOLDED_LINE = re.compile(r"^(?P<stack>\S.*) (?P<a>\d+) (?P<b>\d+)$")


def parse_folded(path: Path) -> list[tuple[list[str], int, int]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            assert not re.search(r"\d\.?$", line)  # FlameGraph would read it as a count
            continue
        match = _FOLDED_LINE.match(line)
        assert match, line
        rows.append((match["stack"].split(";"), int(match["a"]), int(match["b"])))
    return rows


_ALLOWED_TAGS = {
    "!DOCTYPE",
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "h1",
    "h2",
    "p",
    "b",
    "br",
    "span",
    "svg",
    "g",
    "rect",
    "text",
    "table",
    "tr",
    "th",
    "td",
}


def check_html(page: str) -> None:
    assert "http" not in page and "<script" not in page and "src=" not in page
    tags = {m for m in re.findall(r"</?([!A-Za-z0-9]+)", page)}
    assert tags <= _ALLOWED_TAGS, tags - _ALLOWED_TAGS
