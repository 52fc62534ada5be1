"""Reading `perf report --stdio` text: layouts, columns, sections, call graphs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lseprof.analysis.pipeline import analyze_file
from lseprof.readers.inputs import detect, load
from lseprof.readers.report_text import looks_like_report, parse_report_text
from tests.helpers import DWARF, LOST, REPORT_TEXTS, TWO, X86, X86_BIN


def _weights(path: Path) -> dict[str, float]:
    frame = load(path).samples
    sums = frame.groupby("symbol", observed=True)["weight"].sum()
    return {str(k): float(v) for k, v in sums.items()}


def _callers(path: Path, symbol: str) -> dict[str, float]:
    frame = load(path).samples
    rows = frame[(frame["symbol"] == symbol) & (frame["caller"].astype(str) != "")]
    sums = rows.groupby("caller", observed=True)["weight"].sum()
    return {str(k): float(v) for k, v in sums.items()}


@pytest.mark.parametrize("path", REPORT_TEXTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_report_fixture_is_detected_and_read_without_unknown_lines(path: Path) -> None:
    assert detect(path, path.read_bytes()) == "perf-report"
    assert looks_like_report(path.read_text())
    capture = load(path)
    assert capture.source_kind == "perf-report"
    assert capture.unknown_lines == 0, capture.unknown_examples
    for event in capture.events:
        rows = capture.samples[capture.samples["event"].astype(str) == event]
        # Self/Overhead percentages cover the whole section (perf rounds each row).
        assert rows["weight"].sum() == pytest.approx(100.0, abs=1.0)
        assert capture.sample_counts[event] > 0


def test_children_and_no_children_layouts_agree_on_self_time() -> None:
    children = _weights(X86 / "report-children.txt")
    self_only = _weights(X86 / "report-no-children-n.txt")
    for symbol, weight in self_only.items():
        assert children.get(symbol, 0.0) == pytest.approx(weight, abs=0.02), symbol
    # start_thread has 99% in Children but no self samples: it must not count.
    assert children.get("start_thread", 0.0) == pytest.approx(self_only.get("start_thread", 0.0))


def test_sample_counts_exact_with_samples_column_approximate_without() -> None:
    exact = load(X86 / "report-no-children-n.txt")
    assert exact.sample_counts_exact["cpu-clock"] is True
    frame = exact.samples
    assert exact.sample_counts["cpu-clock"] == int(
        (X86 / "script.txt").read_text().count(" cpu-clock: ")
    )
    plain = load(X86 / "report-children.txt")
    assert plain.sample_counts["cpu-clock"] == exact.sample_counts["cpu-clock"]
    assert len(frame) > 10


def test_sort_orders_and_ipc_columns_leave_names_clean() -> None:
    ipc = _weights(X86 / "report-ipc.txt")
    dso_sym = _weights(X86 / "report-dso-sym.txt")
    assert "mix" in ipc and "bump_counter" in ipc
    assert not any(name.endswith("-") or name.startswith("[") for name in ipc)
    assert ipc["mix"] == pytest.approx(dso_sym["mix"])
    frame = load(X86 / "report-dso-sym.txt").samples
    assert set(frame.loc[frame["symbol"] == "mix", "dso"].astype(str)) == {"contend-x86_64"}


def test_truncated_columns_are_flagged_and_reported() -> None:
    capture = load(X86 / "report-truncated.txt")
    frame = capture.samples
    assert frame["truncated"].any()
    assert set(frame.loc[frame["truncated"], "symbol"].astype(str)) >= {"pthread_mutex_"}
    sections = analyze_file(X86 / "report-truncated.txt").sections
    assert any("cut short" in note for note in sections[0].notes)
    # Padded columns: the same rows as the untruncated layout.
    assert frame["weight"].sum() == pytest.approx(
        load(X86 / "report-flat.txt").samples["weight"].sum(), abs=0.01
    )


def test_several_event_sections_are_reported_separately() -> None:
    for name in ("report.txt", "report-children.txt"):
        capture = load(TWO / name)
        assert capture.events == ["cpu-clock", "task-clock"]
        sections = analyze_file(TWO / name, binaries=[X86_BIN]).sections
        assert [s.event for s in sections] == ["cpu-clock", "task-clock"]
        for section in sections:
            assert sum(section.categories.values()) == pytest.approx(100.0)


def test_lost_samples_come_from_the_report_header() -> None:
    capture = load(LOST / "report.txt")
    assert capture.lost_samples == {"cpu-clock": 13}


def test_callers_from_graph_sections_in_both_orders() -> None:
    callee_first = _callers(X86 / "report-no-children-n.txt", "mix")
    caller_first = _callers(X86 / "report-children.txt", "mix")
    assert set(callee_first) == {"start_thread", "worker"}
    for caller, weight in callee_first.items():
        assert caller_first[caller] == pytest.approx(weight, abs=0.05)
    # "-g caller" prints the graph without the entry itself: the first frame is the caller.
    assert _callers(X86 / "report-callers.txt", "mix") == pytest.approx(callee_first, abs=0.01)


def test_inlined_frames_are_not_mistaken_for_callers() -> None:
    # pthread_mutex_lock's own frame is printed as its inline stack
    # ("___pthread_mutex_lock (inlined)", "lll_mutex_lock_optimized (inlined)"); the
    # caller is the function after it.
    assert set(_callers(DWARF / "report-inline.txt", "pthread_mutex_lock@@GLIBC_2.2.5")) == {
        "locked_update"
    }
    # worker sampled inside inlined tally(): tally is part of worker, start_thread calls it.
    assert set(_callers(DWARF / "report-inline.txt", "worker")) == {"start_thread"}
    # Callers are never the entry's own inline frames.
    # The text has inline frames; none of them may come out as a caller.
    assert "(inlined)" in (DWARF / "report-inline.txt").read_text()
    callers = load(DWARF / "report-inline.txt").samples["caller"].astype(str)
    assert (callers != "").any() and not callers.str.endswith("(inlined)").any()


def test_a_report_cut_short_keeps_100_percent(tmp_path: Path) -> None:
    text = (X86 / "report-flat.txt").read_text().splitlines(keepends=True)
    cut = tmp_path / "pasted.txt"
    cut.write_text("".join(text[:14]))  # header + the first three rows, as pasted in a bug
    parsed = parse_report_text(cut.read_text())
    frame = parsed.samples
    assert frame["weight"].sum() == pytest.approx(100.0)
    assert "[not listed]" in set(frame["symbol"].astype(str))
    assert any("listed rows cover" in w for w in parsed.warnings)
