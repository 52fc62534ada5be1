"""`lseprof report` for people: rich tables, one block per event section."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lseprof.analysis.attribution import Attribution
from lseprof.samples import CATEGORIES

_CATEGORY_HELP = {
    "atomic_helper": "outline-atomic helper calls (__aarch64_*)",
    "inline_atomic": "atomic instructions inlined in code (LSE, LDXR/STXR, lock)",
    "lock": "mutex / rwlock / condvar paths (glibc, Rust std)",
    "futex": "kernel futex and scheduler paths",
    "spin": "yielding and spinning (sched_yield, rayon, crossbeam)",
    "work": "everything else",
}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:6.2f}%"


def _samples(section: Attribution) -> str:
    count = f"{section.samples:,.0f}"
    return count if section.samples_exact else f"~{count}"


def render(sections: list[Attribution], console: Console, top: int = 15) -> None:
    for section in sections:
        _render_one(section, console, top)


def _render_one(s: Attribution, console: Console, top: int) -> None:
    lost = "unknown" if s.lost_samples is None else f"{s.lost_samples:,}"
    console.print(
        f"[bold]{escape(s.path)}[/]  ({s.source_kind}"
        + (f", perf {escape(s.perf_version)}" if s.perf_version else "") + ")")
    console.print(f"event [bold]{escape(s.event or '(none given)')}[/]   samples "
                  f"[bold]{_samples(s)}[/]   lost {lost}   atomic helpers "
                  f"[bold]{s.atomic_helper_share:.2f}%[/]"
                  + (f"   emulated {s.emulated_share:.2f}%" if s.emulated_share else ""))

    cats = Table(title="Where the time goes", title_justify="left")
    cats.add_column("category")
    cats.add_column("share", justify="right")
    cats.add_column("what", style="dim")
    for name in CATEGORIES:
        cats.add_row(name, _pct(s.categories.get(name, 0.0)), _CATEGORY_HELP[name])
    console.print(cats)

    if s.helpers:
        helpers = Table(title="Outline-atomic helpers", title_justify="left")
        for col, just in (("helper", "left"), ("op", "left"), ("size", "right"),
                          ("order", "left"), ("share", "right"), ("LSE path", "right"),
                          ("LL/SC path", "right"), ("flag test", "right")):
            helpers.add_column(col, justify=just)  # type: ignore[arg-type]
        for h in s.helpers[:top]:
            helpers.add_row(escape(h.symbol), h.op or "-", str(h.size or "-"), h.order or "-",
                            _pct(h.share), _pct(h.lse_path_share), _pct(h.llsc_path_share),
                            _pct(h.flag_path_share))
        console.print(helpers)
    if s.helper_callers:
        callers = Table(title="Helper callers", title_justify="left")
        callers.add_column("helper")
        callers.add_column("caller")
        callers.add_column("share", justify="right")
        callers.add_column("from", style="dim")
        for c in s.helper_callers[:top]:
            callers.add_row(escape(c.helper), escape(c.caller), _pct(c.share), c.basis)
        console.print(callers)
    if s.inline_atomics:
        inline = Table(title="Inline atomics", title_justify="left")
        inline.add_column("function")
        inline.add_column("instruction")
        inline.add_column("share", justify="right")
        for item in s.inline_atomics[:top]:
            inline.add_row(escape(str(item["symbol"])), escape(str(item["insn"])),
                           _pct(float(item["share"])))
        console.print(inline)
    syms = Table(title="Top symbols", title_justify="left")
    syms.add_column("symbol")
    syms.add_column("dso", style="dim")
    syms.add_column("category")
    syms.add_column("share", justify="right")
    for t in s.top_symbols[:top]:
        syms.add_row(escape(t.symbol), escape(t.dso), t.category, _pct(t.share))
    console.print(syms)
    if s.unknown_lines:
        console.print(f"[yellow]{s.unknown_lines} input lines were not understood[/]"
                      + (f" (first: {escape(s.unknown_examples[0])!r})"
                         if s.unknown_examples else ""))
    for note in s.notes:
        console.print(f"[dim]note: {escape(note)}[/]")
    console.print()
