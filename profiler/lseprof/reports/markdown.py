"""`lseprof report --markdown`: the attribution as GitHub-flavoured Markdown tables."""

from __future__ import annotations

from lseprof.reports.annotated_view import annotated_markdown, findings_markdown
from lseprof.reports.offcpu_view import headline
from lseprof.reports.precision import PATH_COLUMNS, SKID_NOTE, mark_of
from lseprof.results import CATEGORIES, Attribution, OffCpuResult


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def offcpu_markdown(data: OffCpuResult, top: int = 10) -> list[str]:
    """The scheduler view (see lseprof.reports.offcpu_view) as Markdown."""
    out = ["### Scheduler view", "", headline(data), ""]
    out += _table(
        ["reason", "share of thread time"],
        [[name, _pct(share)] for name, share in data.offcpu_by_reason.items()],
    )
    if data.blocking_paths:
        rows = [
            [p.reason, f"`{' <- '.join(p.frames)}`", f"{p.seconds:.3f}", str(p.count)]
            for p in data.blocking_paths[:top]
        ]
        out += ["", *_table(["reason", "where threads went to sleep", "seconds", "times"], rows)]
    if data.wakers:
        rows = [[w.waker, w.wakee, str(w.count)] for w in data.wakers[:top]]
        out += ["", *_table(["waker", "wakee", "wake-ups"], rows)]
    return [*out, ""]


def to_markdown(
    sections: list[Attribution], top: int = 15, offcpu: OffCpuResult | None = None
) -> str:
    out: list[str] = []
    for s in sections:
        samples = f"{s.samples:,.0f}" if s.samples_exact else f"~{s.samples:,.0f}"
        lost = "unknown" if s.lost_samples is None else f"{s.lost_samples:,}"
        out.append(f"## `{s.event or '(none given)'}` — {s.source_kind}")
        out.append("")
        out.append(f"- input: `{s.path}`" + (f" (perf {s.perf_version})" if s.perf_version else ""))
        out.append(f"- samples: {samples}, lost: {lost}")
        out.append(f"- atomic helpers: **{_pct(s.atomic_helper_share)}**")
        out += [f"- **warning:** {w}" for w in s.warnings]
        out.append("")
        out += _table(
            ["category", "share"], [[c, _pct(s.categories.get(c, 0.0))] for c in CATEGORIES]
        )
        if s.helpers:
            out.append("")
            out += _table(
                [
                    "helper",
                    "op",
                    "size",
                    "order",
                    "share",
                    *(f"{name}{mark_of(s)}" for name in PATH_COLUMNS),
                ],
                [
                    [
                        f"`{h.symbol}`",
                        h.op or "-",
                        str(h.size or "-"),
                        h.order or "-",
                        _pct(h.share),
                        _pct(h.lse_path_share),
                        _pct(h.llsc_path_share),
                        _pct(h.flag_path_share),
                    ]
                    for h in s.helpers[:top]
                ],
            )
        if s.helper_callers:
            out.append("")
            out += _table(
                ["helper", "caller", "share", "from"],
                [
                    [f"`{c.helper}`", f"`{c.caller}`", _pct(c.share), c.basis or "-"]
                    for c in s.helper_callers[:top]
                ],
            )
        out.append("")
        out += _table(
            ["symbol", "dso", "category", "share"],
            [
                [f"`{t.symbol}`", t.dso, t.category or "-", _pct(t.share)]
                for t in s.top_symbols[:top]
            ],
        )
        if (s.helpers or s.inline_atomics) and s.ip_precision == "skid":
            out += ["", f"_{SKID_NOTE}_"]
        out += annotated_markdown(s)
        out += findings_markdown(s.findings)
        if s.unknown_lines:
            out.append("")
            out.append(f"_{s.unknown_lines} input lines were not understood._")
        for note in s.notes:
            out.append("")
            out.append(f"_note: {note}_")
        out.append("")
    if offcpu is not None:
        out += offcpu_markdown(offcpu, top)
    return "\n".join(out)
