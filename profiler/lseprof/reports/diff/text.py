"""`lseprof diff` as terminal tables, Markdown and JSON (see the package docstring)."""

from __future__ import annotations

import json
import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lseprof.analysis.diff import Decomposition, Diff, ShareDelta, coherence_sentence
from lseprof.analysis.stats import MIN_REPS_FOR_TEST, ThroughputComparison

DEFAULT_TOP = 15


# --------------------------------------------------------------------------- text pieces

HELPER_COLUMNS = ("helper", "op", "size", "order", "A", "B", "Δ", "status")
HELPER_TEXT = ("helper", "op", "order", "status")


def _table(title: str, columns: tuple[str, ...], text: tuple[str, ...]) -> Table:
    """A table titled on the left: `text` columns left-aligned, numbers right-aligned."""
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col in text else "right")
    return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _pp(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f} pp"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def throughput_sentence(t: ThroughputComparison, alpha: float) -> str:
    """One sentence on B's throughput against A's."""
    interval = f"95% CI {t.ci_low:+.1f}% to {t.ci_high:+.1f}%"
    if t.verdict == "unresolved":
        return (
            f"throughput {t.delta_pct:+.1f}% ({interval}), unresolved: with {t.reps_a} and "
            f"{t.reps_b} repetitions it cannot be resolved (the test needs "
            f"{MIN_REPS_FOR_TEST} per side)"
        )
    detail = f"{interval}, Mann-Whitney p = {_p(t.p_value)}"
    if t.verdict == "unchanged":
        return (
            f"no significant throughput change: {t.delta_pct:+.1f}% ({detail} >= "
            f"alpha {alpha:g}), verdict unchanged"
        )
    return f"B is {t.verdict} than A: throughput {t.delta_pct:+.1f}% ({detail})"


def decomposition_sentence(d: Decomposition) -> str:
    """ "Why: helpers -4.6 pts, off-CPU wait -9.0 pts, ..." in points of A's thread time."""
    labels = {
        "atomic_helper": "helpers",
        "inline_atomic": "inline atomics",
        "lock": "locks",
        "futex": "futex/scheduler",
        "spin": "spin",
        "work": "work",
        "offcpu_wait": "off-CPU wait",
        "residual": "residual",
    }
    moved = ", ".join(f"{labels[p]} {v:+.1f} pts" for p, v in d.points.items())
    return (
        f"why (thread time per MiB, points of A's; {d.tau_change_pts:+.1f} pts in all = "
        f"throughput {d.throughput_change_pct:+.1f}%): {moved}"
    )


def _helper_sentence(share: ShareDelta) -> str:
    return f"atomic helpers {share.a:.2f}% -> {share.b:.2f}% ({share.delta_pp:+.2f} pp)"


def summary(diff: Diff) -> str:
    """The one-line verdict that heads every report."""
    parts: list[str] = []
    if diff.static is not None:
        totals = {c.name: c for c in diff.static.totals}
        helpers, sites = totals["helpers"], totals["helper call sites"]
        vanished = sum(1 for h in diff.static.helpers if h.status == "vanished")
        appeared = sum(1 for h in diff.static.helpers if h.status == "appeared")
        parts.append(
            f"outline-atomic helpers {helpers.a} -> {helpers.b} ({vanished} vanished, "
            f"{appeared} appeared), call sites {sites.a} -> {sites.b}"
        )
    if diff.throughput is not None:
        parts.append(throughput_sentence(diff.throughput, diff.alpha))
    elif diff.kind == "samples":
        parts.append("samples only, no throughput")
    if diff.atomic_helper_share is not None:
        parts.append(_helper_sentence(diff.atomic_helper_share))
    if diff.coherence is not None:
        parts.append(coherence_sentence(diff.coherence))
    if diff.regression.checked:
        parts.append(
            "regression check FAILED" if diff.regression.failed else "regression check passed"
        )
    return "; ".join(parts) or "nothing to compare"


# --------------------------------------------------------------------------- terminal


def _verdict_style(diff: Diff) -> str:
    if diff.regression.failed:
        return "bold red"
    verdict = diff.throughput.verdict if diff.throughput is not None else ""
    return {"faster": "bold green", "slower": "bold red"}.get(verdict, "bold")


_SCHED_LABELS = {
    "offcpu_share": "off-CPU share of thread time (%)",
    "wakeups_per_item": "wake-ups per item",
    "wakeups_per_s": "wake-ups per s",
    "wakeup_latency_p50_us": "wake-up latency p50 (µs)",
    "wakeup_latency_p99_us": "wake-up latency p99 (µs)",
}


def _sched_rows(diff: Diff) -> list[list[str]]:
    return [
        [
            _SCHED_LABELS.get(d.name, d.name),
            f"{d.a:.4g}",
            f"{d.b:.4g}",
            f"{d.delta:+.4g}" + (f" ({d.delta_pct:+.1f}%)" if d.delta_pct is not None else ""),
        ]
        for d in diff.scheduler
    ]


def render(diff: Diff, console: Console, top: int = DEFAULT_TOP) -> None:
    """The diff as rich tables on ``console``."""
    console.print(f"[bold]A[/] {escape(diff.a)}")
    console.print(f"[bold]B[/] {escape(diff.b)}")
    for warning in diff.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(f"[{_verdict_style(diff)}]{escape(summary(diff))}[/]")
    if diff.throughput is not None:
        t = diff.throughput
        table = _table(
            "Throughput (MiB/s)",
            ("median A", "median B", "Δ", "95% CI of Δ", "p", "reps A/B", "verdict"),
            text=("verdict",),
        )
        table.add_row(
            f"{t.median_a:.2f}",
            f"{t.median_b:.2f}",
            f"{t.delta_pct:+.1f}%",
            f"{t.ci_low:+.1f}% .. {t.ci_high:+.1f}%",
            _p(t.p_value),
            f"{t.reps_a}/{t.reps_b}",
            t.verdict,
        )
        console.print(table)
    if diff.decomposition is not None:
        console.print(escape(decomposition_sentence(diff.decomposition)), soft_wrap=True)
    if diff.scheduler:
        table = _table(
            "Scheduler (--sched runs, means)", ("figure", "A", "B", "Δ"), text=("figure",)
        )
        for row in _sched_rows(diff):
            table.add_row(*row)
        console.print(table)
    if diff.categories:
        table = _table(
            f"Samples by category ({escape(diff.event or 'event unknown')}; "
            "% of all samples, Δ in pp)",
            ("category", "A", "B", "Δ"),
            text=("category",),
        )
        for c in diff.categories:
            style = "bold" if c.name == "atomic_helper" else None
            table.add_row(c.name, _pct(c.a), _pct(c.b), _pp(c.delta_pp), style=style)
        console.print(table)
    if diff.helpers:
        table = _table("Outline-atomic helpers (by |Δ|)", HELPER_COLUMNS, text=HELPER_TEXT)
        for h in diff.helpers[:top]:
            table.add_row(
                escape(h.symbol),
                h.op or "-",
                str(h.size or "-"),
                h.order or "-",
                _pct(h.a),
                _pct(h.b),
                _pp(h.delta_pp),
                h.status,
            )
        console.print(table)
    if diff.callers:
        table = _table(
            "Helper callers (by |Δ|)",
            ("helper", "caller", "A", "B", "Δ", "status"),
            text=("helper", "caller", "status"),
        )
        for caller in diff.callers[:top]:
            table.add_row(
                escape(caller.helper),
                escape(caller.caller),
                _pct(caller.a),
                _pct(caller.b),
                _pp(caller.delta_pp),
                caller.status,
            )
        console.print(table)
    if diff.static is not None:
        _render_static(diff, console, top)
    _render_tail(diff, console)


def _render_tail(diff: Diff, console: Console) -> None:
    """Findings new and gone, notes and regressions."""
    for note in diff.coherence.notes if diff.coherence is not None else []:
        console.print(f"[dim]note: {escape(note)}[/]")
    for line in findings_change_lines(diff):
        console.print(escape(line), soft_wrap=True)
    for note in [*diff.notes, *diff.regression.notes]:
        console.print(f"[dim]note: {escape(note)}[/]")
    for reason in diff.regression.reasons:
        console.print(f"[bold red]regression:[/] {escape(reason)}")


def findings_change_lines(diff: Diff) -> list[str]:
    """Findings B has that A had not, and those A had that B has not."""
    out = [
        f"new finding: {f.title} [{f.id}]: {f.evidence} Try: {f.remedy}" for f in diff.findings_new
    ]
    out += [f"gone finding: {f.title} [{f.id}] (A: {f.evidence})" for f in diff.findings_gone]
    if diff.findings_kept:
        out.append(f"findings on both sides: {', '.join(diff.findings_kept)}")
    return out


def _render_static(diff: Diff, console: Console, top: int) -> None:
    s = diff.static
    assert s is not None
    console.print(f"verdict A: {escape(s.verdict_a)}")
    console.print(f"verdict B: {escape(s.verdict_b)}")
    table = _table("Atomics in the binaries", ("", "A", "B", "Δ"), text=("",))
    for c in s.totals:
        table.add_row(c.name, str(c.a), str(c.b), f"{c.delta:+d}")
    console.print(table)
    if s.helpers:
        table = _table("Call sites per helper (by |Δ|)", HELPER_COLUMNS, text=HELPER_TEXT)
        for h in s.helpers[:top]:
            table.add_row(
                h.symbol, h.op, str(h.size), h.order, str(h.a), str(h.b), f"{h.delta:+d}", h.status
            )
        console.print(table)


# --------------------------------------------------------------------------- Markdown


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


_MD_TEXT_COLUMNS = (
    "",
    "category",
    "helper",
    "caller",
    "op",
    "order",
    "status",
    "verdict",
    "scheduler (means)",
)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    # Numbers right-aligned, names left-aligned.
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if h in _MD_TEXT_COLUMNS else "---:" for h in header) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _code(text: str) -> str:
    # Backticks inside code spans would end them; Rust and C++ names rarely have any.
    return f"`{text.replace('`', chr(39))}`"


def to_markdown(diff: Diff, top: int = DEFAULT_TOP) -> str:
    """Paste-ready Markdown: the summary line with the verdict, then tables."""
    mark = "❌" if diff.regression.failed else ("✅" if diff.regression.checked else "")
    out = [
        f"**lseprof diff**{' ' + mark if mark else ''}: {summary(diff)}",
        "",
        f"- A: {_code(diff.a)}",
        f"- B: {_code(diff.b)}",
    ]
    out += [f"- ⚠️ {w}" for w in diff.warnings]
    out.append("")
    if diff.throughput is not None:
        t = diff.throughput
        out += _md_table(
            [
                "median A (MiB/s)",
                "median B (MiB/s)",
                "Δ",
                "95% CI of Δ",
                "p",
                "reps A/B",
                "verdict",
            ],
            [
                [
                    f"{t.median_a:.2f}",
                    f"{t.median_b:.2f}",
                    f"{t.delta_pct:+.1f}%",
                    f"{t.ci_low:+.1f}% .. {t.ci_high:+.1f}%",
                    _p(t.p_value),
                    f"{t.reps_a}/{t.reps_b}",
                    f"**{t.verdict}**",
                ]
            ],
        )
    if diff.decomposition is not None:
        out += [decomposition_sentence(diff.decomposition), ""]
    if diff.scheduler:
        out += _md_table(["scheduler (means)", "A", "B", "Δ"], _sched_rows(diff))
    if diff.categories:
        out.append(
            f"Samples by category ({diff.event or 'event unknown'}; % of all samples, "
            "Δ in percentage points):"
        )
        out.append("")
        out += _md_table(
            ["category", "A", "B", "Δ"],
            [
                [
                    f"**{c.name}**" if c.name == "atomic_helper" else c.name,
                    _pct(c.a),
                    _pct(c.b),
                    _pp(c.delta_pp),
                ]
                for c in diff.categories
            ],
        )
    if diff.helpers:
        out += ["Outline-atomic helpers, largest |Δ| first:", ""]
        out += _md_table(
            ["helper", "op", "size", "order", "A", "B", "Δ", "status"],
            [
                [
                    _code(h.symbol),
                    h.op or "-",
                    str(h.size or "-"),
                    h.order or "-",
                    _pct(h.a),
                    _pct(h.b),
                    _pp(h.delta_pp),
                    h.status,
                ]
                for h in diff.helpers[:top]
            ],
        )
    if diff.callers:
        out += ["Callers of the helpers, largest |Δ| first:", ""]
        out += _md_table(
            ["helper", "caller", "A", "B", "Δ", "status"],
            [
                [_code(c.helper), _code(c.caller), _pct(c.a), _pct(c.b), _pp(c.delta_pp), c.status]
                for c in diff.callers[:top]
            ],
        )
    if diff.static is not None:
        s = diff.static
        out += [f"- verdict A: {s.verdict_a}", f"- verdict B: {s.verdict_b}", ""]
        out += _md_table(
            ["", "A", "B", "Δ"], [[c.name, str(c.a), str(c.b), f"{c.delta:+d}"] for c in s.totals]
        )
        if s.helpers:
            out += ["Call sites per helper, largest |Δ| first:", ""]
            out += _md_table(
                ["helper", "op", "size", "order", "A", "B", "Δ", "status"],
                [
                    [
                        _code(h.symbol),
                        h.op,
                        str(h.size),
                        h.order,
                        str(h.a),
                        str(h.b),
                        f"{h.delta:+d}",
                        h.status,
                    ]
                    for h in s.helpers[:top]
                ],
            )
    if changes := findings_change_lines(diff):
        out += ["### Findings", "", *(f"- {line}" for line in changes), ""]
    coherence_notes = diff.coherence.notes if diff.coherence is not None else []
    out += [f"_note: {n}_" for n in [*coherence_notes, *diff.notes, *diff.regression.notes]]
    out += [f"**regression:** {r}" for r in diff.regression.reasons]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- JSON


def _clean(value: Any) -> Any:
    """Rounded floats, and None for NaN/inf, so that the output is strict JSON."""
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_dict(diff: Diff) -> dict[str, Any]:
    """The JSON document as Python data."""
    data: dict[str, Any] = _clean(diff.to_dict())
    data["summary"] = summary(diff)
    return data


def to_json(diff: Diff) -> str:
    return json.dumps(to_dict(diff), indent=2, ensure_ascii=False, allow_nan=False)
