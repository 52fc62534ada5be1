"""Reporters for `lseprof inspect`: a rich table per file, or JSON.

Library use: ``render(inv)`` gives a rich renderable, ``print_tables(invs)``
prints them, ``to_json(invs)`` returns the JSON text (an object for one file,
a list for several).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lseprof.symbols.inspect_elf import Inventory

DEFAULT_TOP = 10

# The keys every JSON consumer may rely on, and the helper keys within.
JSON_KEYS = (
    "path",
    "arch",
    "build_id",
    "stripped",
    "has_lse_flag",
    "helpers",
    "call_sites_total",
    "callers",
    "inline_lse",
    "exclusives",
    "x86_lock",
    "x86_xchg",
    "verdict",
)


def to_json_data(inv: Inventory, top: int = DEFAULT_TOP) -> dict[str, Any]:
    """The JSON object for one file (all Inventory fields, callers cut to `top`)."""
    return inv.to_dict(top=top)


def to_json(invs: Sequence[Inventory], top: int = DEFAULT_TOP) -> str:
    """JSON text: one object for one file, a list of objects for several."""
    data = [to_json_data(inv, top) for inv in invs]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2)


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def _summary(inv: Inventory) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("file", escape(inv.path))
    grid.add_row("arch", inv.arch)
    grid.add_row("build-id", inv.build_id or "none")
    grid.add_row("symbols", "stripped (no .symtab)" if inv.stripped else ".symtab present")
    grid.add_row("code", f"{inv.text_bytes / 1e6:.2f} MB")
    if inv.arch == "aarch64":
        grid.add_row("LSE flag", "yes (__aarch64_have_lse_atomics)" if inv.has_lse_flag else "no")
        grid.add_row("inline LSE", _counts_line(inv.inline_lse))
        grid.add_row("exclusives", _counts_line(inv.exclusives))
    else:
        grid.add_row("lock", f"{inv.x86_lock} ({_counts_line(inv.x86_lock_ops)})")
        grid.add_row("xchg mem", str(inv.x86_xchg))
    grid.add_row("verdict", Text(inv.verdict, style="bold cyan"))
    return grid


def _helpers(inv: Inventory) -> Table:
    table = Table(
        title=f"outline-atomic helpers ({inv.call_sites_total} call sites)", title_justify="left"
    )
    # The name already says op, size and order (JSON has them as fields); the
    # columns that remain fit an 80-column terminal without truncating names.
    table.add_column("helper", no_wrap=True)
    table.add_column("address", justify="right", no_wrap=True)
    table.add_column("call sites", justify="right", no_wrap=True)
    table.add_column("found by", no_wrap=True)
    for h in sorted(inv.helpers, key=lambda h: (-h.call_sites, h.address)):
        table.add_row(h.symbol, f"{h.address:#x}", str(h.call_sites), h.found_by)
    return table


def _callers(inv: Inventory, top: int) -> Table:
    shown = inv.callers[:top]
    table = Table(
        title=f"busiest callers (top {len(shown)} of {len(inv.callers)})", title_justify="left"
    )
    table.add_column("function", overflow="fold")
    table.add_column("call sites", justify="right")
    for caller in shown:
        table.add_row(escape(caller.function), str(caller.call_sites))
    return table


def render(inv: Inventory, top: int = DEFAULT_TOP) -> RenderableType:
    """Everything about one file as one rich renderable."""
    parts: list[RenderableType] = [_summary(inv)]
    if inv.helpers:
        parts.append(_helpers(inv))
    if inv.callers and top > 0:
        parts.append(_callers(inv, top))
    return Group(*parts)


def print_tables(invs: Sequence[Inventory], console: Console, top: int = DEFAULT_TOP) -> None:
    """One block per file, separated by a blank line."""
    for i, inv in enumerate(invs):
        if i:
            console.print()
        console.print(render(inv, top))
