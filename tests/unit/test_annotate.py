"""`perf annotate` text as an input of `lseprof report` (issue #22): --stdio and the
interactive screen as copied (source lines, jump labels and arrows, the current
jump's box, scrollbar glyphs, the objdump view, perf top's annotate), real perf 6.1
captures of the hammer workload on x86 and on aarch64 under qemu-system
(tests/fixtures/perf/annotate/meta.json has every command)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lseprof.analysis.pipeline import Report, analyze_file
from lseprof.errors import LseprofError
from lseprof.readers.inputs import detect, open_input
from lseprof.results import AnnotatedFunction
from tests import golden
from tests.helpers import PERF, REPO

ANN = PERF / "annotate"
MAX, A57, X86 = ANN / "aarch64-max", ANN / "aarch64-cortex-a57", ANN / "x86"


def _function(path: Path) -> tuple[Report, AnnotatedFunction]:
    report = analyze_file(path)
    assert report.capture.source_kind == "perf-annotate"
    functions = [f for s in report.sections for f in s.annotated]
    assert len(functions) == 1
    return report, functions[0]


def _percents(f: AnnotatedFunction) -> dict[str, float]:
    return {i.text.split()[0]: i.percent or 0.0 for i in f.instructions if i.percent}


def test_every_capture_is_detected_and_read() -> None:
    listings = sorted(p for p in ANN.rglob("*.txt") if "annotate" in p.name)
    assert len(listings) >= 25
    for path in listings:
        assert detect(path, path.read_bytes()) == "perf-annotate", path
        capture = open_input(path).read()
        assert capture.listings and capture.unknown_lines == 0, path
        for listing in capture.listings:
            shown = sum(x.percent or 0.0 for x in listing.lines if x.kind == "insn")
            # a whole function adds up to 100 within rounding; a screen shows less
            assert shown <= 100.05 and (shown > 99.9 or listing.layout == "tui"), (path, shown)


def test_stdio_listing_of_a_helper_gives_per_instruction_shares_and_paths() -> None:
    report, f = _function(A57 / "annotate-outline-__aarch64_ldadd8_acq_rel.txt")
    assert (f.symbol, f.samples, f.arch, f.category) == (
        "__aarch64_ldadd8_acq_rel",
        174,
        "aarch64",
        "atomic_helper",
    )
    assert _percents(f) == {"bti": 7.34, "mov": 9.07, "ldaxr": 11.02, "ret": 72.58}
    # the cortex-a57 has no LSE: the samples are on the LDAXR/STLXR loop
    assert f.helper["llsc_path_percent"] == pytest.approx(83.60)
    assert f.helper["lse_path_percent"] == 0.0
    assert f.helper["has_lse_path"] and f.helper["has_llsc_path"] and f.helper["has_flag_test"]
    assert [(a.insn, a.family) for a in f.atomics] == [
        ("ldaddal", "lse"),
        ("ldaxr", "exclusive_load"),
        ("stlxr", "exclusive_store"),
    ]
    # the helper table agrees with the listing (the same samples, weighted by 174)
    helper = report.sections[0].helpers[0]
    assert helper.llsc_path_share == pytest.approx(83.60, abs=0.02)
    assert report.sections[0].categories["atomic_helper"] == pytest.approx(100.0)


def test_screen_and_stdio_of_the_same_function_agree() -> None:
    _, stdio = _function(MAX / "annotate-outline-__aarch64_cas4_acq.txt")
    _, screen = _function(MAX / "tui-annotate-outline-__aarch64_cas4_acq.txt")
    assert [i.percent for i in stdio.instructions] == [i.percent for i in screen.instructions]
    assert (
        [a.insn for a in stdio.atomics]
        == [a.insn for a in screen.atomics]
        == [
            "casa",
            "ldaxr",
            "stxr",
        ]
    )
    assert stdio.helper["flag_path_percent"] == screen.helper["flag_path_percent"]


def test_inline_lse_atomics_by_instruction() -> None:
    report, f = _function(MAX / "annotate-lse-rmw_mix.txt")
    atomics = {a.insn: a.percent for a in f.atomics}
    assert atomics == {"ldaddal": 86.49, "casal": 0.0, "swpal": 0.0, "ldsetal": 0.0}
    assert report.sections[0].categories["inline_atomic"] == pytest.approx(86.49, abs=0.01)
    assert not f.spin_loops  # a counted loop around an atomic is not a spin-wait


def test_x86_lock_samples_skid_onto_the_next_instruction() -> None:
    report, f = _function(X86 / "annotate-rmw_mix.txt")
    lock_add = f.atomics[0]
    assert (lock_add.insn, lock_add.percent, lock_add.skid_percent) == ("lock addq", 3.01, 78.92)
    assert [a.insn for a in f.atomics] == ["lock addq", "lock cmpxchg", "xchg", "lock or"]
    assert report.sections[0].categories["inline_atomic"] == pytest.approx(99.56, abs=0.02)


@pytest.mark.parametrize(
    ("path", "hint", "percent"),
    [
        (X86 / "annotate-spin_section.txt", "pause", 86.8),
        (X86 / "tui-annotate-spin_section.txt", "pause", 86.8),
        (X86 / "tui-annotate-spin_section-objdump-view.txt", "pause", 86.8),
        (MAX / "annotate-lse-spin_section.txt", "isb", None),
        (MAX / "annotate-outline-yield_spin.txt", "yield", None),
        (MAX / "tui-annotate-outline-yield_spin.txt", "yield", None),
        (MAX / "annotate-lse-wfe_section.txt", "wfe", 92.35),
    ],
)
def test_spin_loops_are_found_by_their_code(path: Path, hint: str, percent: float | None) -> None:
    report, f = _function(path)
    assert [loop.hint for loop in f.spin_loops] == [hint]
    loop = f.spin_loops[0]
    assert loop.polls and loop.instructions <= 6
    if percent is not None:
        assert loop.percent == pytest.approx(percent, abs=0.01)
    # the function has no rule: its loop's samples are spin
    assert report.sections[0].categories["spin"] == pytest.approx(loop.percent or 0.0, abs=0.05)


def test_a_lock_named_by_the_rules_keeps_its_category() -> None:
    report, f = _function(X86 / "annotate-pthread_mutex_lock.txt")
    assert f.category == "lock" and report.sections[0].categories["lock"] == pytest.approx(100.0)
    assert [a.insn for a in f.atomics][:1] == ["lock cmpxchg"]


def test_listing_without_percentages_gives_no_shares() -> None:
    report, f = _function(X86 / "tui-annotate-pthread_mutex_lock-cold.txt")
    assert not f.percentages and f.share is None
    assert all(i.percent is None for i in f.instructions) and len(f.instructions) > 20
    section = report.sections[0]
    assert section.samples == 0 and sum(section.categories.values()) == 0.0
    assert any("no percentages" in n for n in section.notes)


def test_a_screen_of_part_of_a_function_leaves_the_rest_not_listed() -> None:
    report, f = _function(X86 / "tui-annotate-rmw_mix-24rows.txt")
    tops = {t.symbol: t.share for t in report.sections[0].top_symbols}
    assert tops["[not listed]"] == pytest.approx(100 - 88.74, abs=0.01)
    assert f.atomics[0].skid_percent == 78.92


def test_perf_top_annotate_and_all_functions() -> None:
    _, f = _function(ANN / "top" / "tui-top-annotate.txt")
    assert f.symbol == "rmw_mix" and f.event == "cpu-clock"
    report = analyze_file(X86 / "annotate-all.txt")
    functions = report.sections[0].annotated
    assert len(functions) == 10 and report.sections[0].samples == 2295
    spin = next(x for x in functions if x.symbol == "spin_section")
    assert spin.share == pytest.approx(100 * 439 / 2295, abs=0.01)
    assert spin.spin_loops[0].percent == pytest.approx(86.8, abs=0.01)


def test_annotated_lines_pasted_with_a_report() -> None:
    report = analyze_file(PERF / "pastes/public/haproxy-isb-annotate.txt")
    section = report.sections[0]
    assert section.unknown_lines == 0
    (f,) = section.annotated
    assert f.layout == "fragment" and f.share is None  # no rows: the report counts them
    assert [(loop.hint, loop.polls) for loop in f.spin_loops] == [("isb", False)]
    assert {i.text.split()[0]: i.percent for i in f.instructions if i.percent} == {
        "isb": 24.47,
        "subs": 71.82,
    }


def test_report_json_has_the_annotated_functions() -> None:
    command = golden.Command(
        ("report", "tests/fixtures/perf/annotate/aarch64-max/annotate-lse-rmw_mix.txt", "--json")
    )
    data = json.loads(golden.run(command).split("--- stdout\n", 1)[1].split("--- stderr")[0])
    (f,) = data["annotated_functions"]
    ldaddal = next(i for i in f["instructions"] if i["text"].startswith("ldaddal"))
    assert ldaddal == {
        "address": 0x400958,
        "text": "ldaddal x3, x4, [x2]",
        "percent": 86.49,
        "share": 86.49,
        "kind": "atomic",
        "atomic": "lse",
        "path": None,
    }
    assert [a["insn"] for a in f["atomics"]] == ["ldaddal", "casal", "swpal", "ldsetal"]


def test_forced_format_and_a_text_that_is_no_listing(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("nothing annotated here\n")
    with pytest.raises(LseprofError, match="no perf annotate listing"):
        open_input(notes, "perf-annotate").read()
    with pytest.raises(LseprofError, match="perf annotate text"):
        detect(REPO / "README.md", (REPO / "README.md").read_bytes())
