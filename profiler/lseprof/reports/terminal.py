"""`lseprof report` for people: rich tables, one block per event section."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lseprof.reports.annotated_view import annotated_tables, findings_table
from lseprof.reports.offcpu_view import render_offcpu
from lseprof.reports.precision import PATH_COLUMNS, SKID_NOTE, mark_of
from lseprof.results import CATEGORIES, Attribution, OffCpuResult
from lseprof.samples import QEMU_JIT

_CATEGORY_HELP = {
    "atomic_helper": "outline-atomic helper calls (__aarch64_*)",
    "inline_atomic": "atomic instructions inlined in code (LSE, LDXR/STXR, lock)",
    "lock": "mutex / rwlock / condvar paths (glibc, Rust std)",
    "futex": "kernel futex and scheduler paths",
    "spin": "yielding and spinning (sched_yield, rayon, crossbeam)",
    "work": "everything else",
}


_EMULATOR = "emulator (qemu) itself"
_NAME_WIDTH = 72


def _is_qemu(dso: str) -> bool:
    return Path(dso).name.startswith("qemu-") or dso == QEMU_JIT


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:6.2f}%"


def _samples(section: Attribution) -> str:
    count = f"{section.samples:,.0f}"
    return count if section.samples_exact else f"~{count}"


def render(
    sections: list[Attribution],
    console: Console,
    top: int = 15,
    offcpu: OffCpuResult | None = None,
) -> None:
    for section in sections:
        _render_one(section, console, top)
    if offcpu is not None:
        render_offcpu(offcpu, console, top)


def _render_one(s: Attribution, console: Console, top: int) -> None:
    emulated = s.emulator_share is not None
    _print_header(s, console)
    for warning in s.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(_categories(s, emulated))
    if s.helpers:
        console.print(_helpers(s, emulated, top))
    if s.helper_callers:
        console.print(_callers(s, top))
    if s.inline_atomics:
        console.print(_inline(s, top))
    if (s.helpers or s.inline_atomics) and s.ip_precision == "skid":
        console.print(f"[dim]{SKID_NOTE}[/]")
    console.print(_symbols(s, emulated, top))
    annotated_tables(s, console)
    findings_table(s.findings, console)
    if s.unknown_lines:
        console.print(
            f"[yellow]{s.unknown_lines} input lines were not understood[/]"
            + (f" (first: {escape(s.unknown_examples[0])!r})" if s.unknown_examples else "")
        )
    for note in s.notes:
        console.print(f"[dim]note: {escape(note)}[/]")
    console.print()


def _print_header(s: Attribution, console: Console) -> None:
    lost = "unknown" if s.lost_samples is None else f"{s.lost_samples:,}"
    console.print(
        f"[bold]{escape(s.path)}[/]  ({s.source_kind}"
        + (f", perf {escape(s.perf_version)}" if s.perf_version else "")
        + ")"
    )
    console.print(
        f"event [bold]{escape(s.event or '(none given)')}[/]   samples "
        f"[bold]{_samples(s)}[/]   lost {lost}   atomic helpers "
        f"[bold]{s.atomic_helper_share:.2f}%[/]"
        + (f"   emulated {s.emulated_share:.2f}%" if s.emulated_share else "")
    )
    if s.emulator_share is not None:
        console.print(
            f"emulated run: guest code [bold]{s.emulated_share:.2f}%[/] of samples "
            f"({_pct(s.guest_named_share).strip()} of them named), emulator (qemu) "
            f"itself [bold]{_pct(s.emulator_share).strip()}[/]; the 'of guest' "
            "columns read like a hardware profile"
        )


def _categories(s: Attribution, emulated: bool) -> Table:
    cats = Table(title="Where the time goes", title_justify="left")
    cats.add_column("category")
    cats.add_column("share", justify="right")
    if emulated:
        cats.add_column("of guest", justify="right")
    cats.add_column("what", style="dim")
    for name in CATEGORIES:
        guest = [_pct(s.guest_categories.get(name, 0.0))] if emulated else []
        cats.add_row(name, _pct(s.categories.get(name, 0.0)), *guest, _CATEGORY_HELP[name])
    return cats


def _helpers(s: Attribution, emulated: bool, top: int) -> Table:
    helpers = Table(title="Outline-atomic helpers", title_justify="left")
    # Each object links its own helper copies: name the object once there are several.
    objects = len({h.dso for h in s.helpers}) > 1 or emulated
    columns = [
        ("helper", "left"),
        *([("object", "left")] if objects else []),
        ("op", "left"),
        ("size", "right"),
        ("order", "left"),
        ("share", "right"),
        *([("of guest", "right")] if emulated else []),
        *((f"{name}{mark_of(s)}", "right") for name in PATH_COLUMNS),
    ]
    for col, just in columns:
        helpers.add_column(col, justify=just)  # type: ignore[arg-type]
    for h in s.helpers[:top]:
        where = [escape(Path(h.dso or "-").name)] if objects else []
        guest = [_pct(h.guest_share)] if emulated else []
        helpers.add_row(
            escape(h.symbol),
            *where,
            h.op or "-",
            str(h.size or "-"),
            h.order or "-",
            _pct(h.share),
            *guest,
            _pct(h.lse_path_share),
            _pct(h.llsc_path_share),
            _pct(h.flag_path_share),
        )
    return helpers


def _callers(s: Attribution, top: int) -> Table:
    callers = Table(title="Helper callers", title_justify="left")
    callers.add_column("helper")
    callers.add_column("caller", max_width=_NAME_WIDTH, no_wrap=True, overflow="ellipsis")
    callers.add_column("share", justify="right")
    callers.add_column("from", style="dim")
    for c in s.helper_callers[:top]:
        callers.add_row(escape(c.helper), escape(c.caller), _pct(c.share), c.basis)
    return callers


def _inline(s: Attribution, top: int) -> Table:
    inline = Table(title="Inline atomics", title_justify="left")
    inline.add_column("function")
    inline.add_column(f"instruction{mark_of(s)}")
    inline.add_column("share", justify="right")
    for item in s.inline_atomics[:top]:
        inline.add_row(escape(item.symbol), escape(item.insn), _pct(item.share))
    return inline


def _symbols(s: Attribution, emulated: bool, top: int) -> Table:
    syms = Table(title="Top symbols", title_justify="left")
    # Demangled Rust generics run to hundreds of characters: one line each, cut short
    # (the JSON and Markdown keep them whole).
    syms.add_column("symbol", max_width=_NAME_WIDTH, no_wrap=True, overflow="ellipsis")
    syms.add_column("dso", style="dim")
    syms.add_column("category")
    syms.add_column("share", justify="right")
    if emulated:
        syms.add_column("of guest", justify="right")
    for t in s.top_symbols[:top]:
        label = _EMULATOR if emulated and _is_qemu(t.dso) else escape(t.symbol)
        syms.add_row(
            label,
            escape(t.dso),
            t.category,
            _pct(t.share),
            *([_pct(t.guest_share)] if emulated else []),
        )
    return syms
