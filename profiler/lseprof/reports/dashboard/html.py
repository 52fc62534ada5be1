"""HTML building blocks of the dashboard pages: escaping, the page shell, tables, links."""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from lseprof.analysis.verdicts import Series
from lseprof.version import __version__

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def esc(value: object) -> str:
    """Text from runs, safe in HTML text and in quoted attributes."""
    return html.escape("-" if value is None else str(value), quote=True)


def group_file(group_id: str) -> str:
    """The page name of a group: its id when that is a safe file name, else a hash of it."""
    if _SAFE_NAME.fullmatch(group_id):
        return f"{group_id}.html"
    return "g-" + hashlib.sha256(group_id.encode()).hexdigest()[:24] + ".html"


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1150px;padding:0 1em;
color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.regression td{background:#fdecea}tr.improvement td{background:#eafaf1}
.notice{background:#fff8e1;border:1px solid #f0c36d;padding:.5em .8em}
.alert{background:#fdecea;border:1px solid #e6a19a;padding:.5em .8em}
svg{max-width:100%;height:auto;display:block}code{font-size:12px;word-break:break-all}
td[title] code{white-space:nowrap;word-break:normal}.wide{overflow-x:auto}
"""


def page(title: str, body: str, comment: str = "") -> str:
    """A whole HTML document; ``body`` is HTML already."""
    return (
        f'<!DOCTYPE html>\n{comment}<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f'<meta name="generator" content="lseprof {esc(__version__)}">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>\n{body}\n"
        "</body></html>\n"
    )


def html_table(headers: Sequence[str], rows: Iterable[tuple[str, Sequence[str]]]) -> str:
    """``rows``: (row class, cells); cells are HTML already."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(f'<tr class="{cls}">{"".join(cells)}</tr>' for cls, cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def table_cell(value: object, numeric: bool = False) -> str:
    return f'<td class="n">{esc(value)}</td>' if numeric else f"<td>{esc(value)}</td>"


def code_cell(value: object) -> str:
    return f"<td><code>{esc(value)}</code></td>"


def num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None or not math.isfinite(value) else fmt.format(value)


def date_text(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")


def group_link(group_id: str, text: str | None = None, prefix: str = "groups/") -> str:
    return (
        f'<a href="{prefix}{esc(group_file(group_id))}">'
        f"{esc(text if text is not None else group_id[:12])}</a>"
    )


def anchor(series: Series) -> str:
    # Keys hold arbitrary text; a hash makes a valid, stable fragment id.
    # A nightly series also has its config key: the same key may be run ad hoc.
    key = repr(series.key) if series.config_key is None else repr((series.config_key, series.key))
    return "s-" + hashlib.sha256(key.encode()).hexdigest()[:12]
