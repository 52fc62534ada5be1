"""Classification: the rule table, user rules, inline atomics, and the invariant that
every sample lands in exactly one category (shares add up to 100) for every fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from lseprof import LseprofError
from lseprof.analysis.classify import default_rules, load_rules
from lseprof.analysis.pipeline import analyze_file
from lseprof.results import CATEGORIES
from tests.helpers import (
    DWARF,
    PERF_DATA,
    RAYON,
    REPORT_TEXTS,
    SCRIPT_TEXTS,
    X86,
    X86_BIN,
    binaries_for,
    needs_perf,
)

ALL_TEXT = [*SCRIPT_TEXTS, *REPORT_TEXTS]


def _check_invariant(path: Path) -> None:
    report = analyze_file(path, binaries=binaries_for(path))
    frame = report.capture.samples
    assert frame["category"].notna().all()
    assert set(frame["category"].astype(str)) <= set(CATEGORIES)
    assert report.sections
    for section in report.sections:
        assert set(section.categories) == set(CATEGORIES)
        assert sum(section.categories.values()) == pytest.approx(100.0, abs=1e-9)
        assert all(share >= 0.0 for share in section.categories.values())


@pytest.mark.parametrize("path", ALL_TEXT, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_category_shares_sum_to_100_for_every_text_fixture(path: Path) -> None:
    _check_invariant(path)


@needs_perf
@pytest.mark.parametrize("path", PERF_DATA, ids=lambda p: p.parent.name)
def test_category_shares_sum_to_100_for_every_perf_data_fixture(path: Path) -> None:
    _check_invariant(path)


def _shares(path: Path, rules: Path | None = None) -> dict[str, float]:
    return analyze_file(path, binaries=binaries_for(path), rules_file=rules).sections[0].categories


def test_default_rules_sort_rayon_contention() -> None:
    report = analyze_file(RAYON / "report.txt")
    by_symbol = report.capture.samples.groupby("symbol", observed=True)["category"].first()
    assert by_symbol["crossbeam_epoch::internal::Global::try_advance"] == "spin"
    assert by_symbol["do_sched_yield"] == "spin"
    assert by_symbol["__sched_yield"] == "spin"
    assert by_symbol["finish_task_switch.isra.0"] == "futex"
    assert by_symbol["bpe_encode::bpe::merge_word"] == "work"
    shares = report.sections[0].categories
    assert shares["spin"] > 10.0 and shares["futex"] > 5.0


def test_glibc_lock_paths_and_inline_atomics_on_x86() -> None:
    report = analyze_file(X86 / "script.txt", binaries=[X86_BIN])
    frame = report.capture.samples

    def categories(symbol: str) -> set[str]:
        return set(frame.loc[frame["symbol"] == symbol, "category"].astype(str))

    assert categories("pthread_mutex_lock@@GLIBC_2.2.5") == {"lock"}
    assert categories("__GI___lll_lock_wait") == {"lock"}
    # The lock add in bump_counter: timer samples land on the instruction after it.
    bump = frame[frame["symbol"] == "bump_counter"]
    assert (bump["category"] == "inline_atomic").mean() > 0.9
    assert set(bump.loc[bump["category"] == "inline_atomic", "insn"].astype(str)) == {"lock add"}
    mix = frame.loc[frame["symbol"] == "mix", "category"]
    assert len(mix) > 100 and (mix == "work").all()


def test_user_rules_come_first_and_can_replace_the_defaults(tmp_path: Path) -> None:
    base = analyze_file(X86 / "script.txt", binaries=[X86_BIN]).capture
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\ncategory = "lock"\nsymbol = "^mix$"\n'
        '[[rule]]\ncategory = "work"\nsymbol = "^pthread_mutex_lock"\n'
    )
    mine = analyze_file(X86 / "script.txt", binaries=[X86_BIN], rules_file=rules).capture
    before = base.samples["category"].astype(str).to_numpy()
    after = mine.samples["category"].astype(str).to_numpy()
    symbols = mine.samples["symbol"].astype(str).to_numpy()
    changed = (before != after).nonzero()[0]
    assert set(symbols[changed]) >= {"mix", "pthread_mutex_lock@@GLIBC_2.2.5"}
    for row in changed.tolist():
        if symbols[row] == "mix":
            assert after[row] == "lock"
        elif symbols[row] == "pthread_mutex_lock@@GLIBC_2.2.5":
            assert after[row] == "work"
        else:
            # scheduler time of a thread preempted in mix: the callchain step gives it
            # the category the user's rules give mix
            stack = mine.stacks[int(mine.samples["stack"].iloc[row])]
            user = next(f for f in (mine.stack_frames[i] for i in stack) if f.ip < 1 << 63)
            assert (user.symbol, after[row]) == ("mix", "lock")
    sections = analyze_file(X86 / "script.txt", rules_file=rules).sections
    assert sum(sections[0].categories.values()) == pytest.approx(100.0)

    only = tmp_path / "only.toml"
    only.write_text('replace_defaults = true\n[[rule]]\ncategory = "spin"\ndso = "kernel"\n')
    assert load_rules(only)[0].category == "spin" and len(load_rules(only)) == 1
    shares = _shares(RAYON / "report.txt", only)
    assert shares["lock"] == 0.0 and shares["futex"] == 0.0 and shares["spin"] > 15.0


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[rule]]\ncategory = "slow"\nsymbol = "x"\n', "not one of"),
        ('[[rule]]\ncategory = "lock"\nsymbol = "("\n', "bad symbol regex"),
        ('[[rule]]\ncategory = "lock"\n', "no symbol, dso or caller regex"),
        ("rule = 3\n", "array of tables"),
        ("[[rule]\n", "not valid TOML"),
    ],
)
def test_bad_rule_files_are_user_errors(tmp_path: Path, text: str, message: str) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(text)
    with pytest.raises(LseprofError, match=message):
        load_rules(rules)


def test_default_table_is_data() -> None:
    rules = default_rules()
    assert rules[0].category == "atomic_helper"
    assert {r.category for r in rules} == set(CATEGORIES) - {"inline_atomic", "work"}


def test_caller_rules_use_the_call_graph() -> None:
    # Kernel helpers with a futex caller count as futex time (rule with `caller =`).
    report = analyze_file(DWARF / "report-inline.txt")
    frame = report.capture.samples
    kernel = frame[
        (frame["dso"] == "[kernel.kallsyms]")
        & frame["caller"].astype(str).str.match(r"^(futex_|__futex_|do_futex)")
    ]
    assert len(kernel) > 0  # else .all() below holds for no rows at all
    assert (kernel["category"] == "futex").all()


@pytest.mark.parametrize(
    "path",
    [SCRIPT_TEXTS[0], RAYON / "script.txt.gz", *[p for p in SCRIPT_TEXTS if "aarch64" in str(p)]],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_classifying_distinct_rows_gives_what_row_by_row_gives(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Big tables are classified through their distinct (symbol, dso, caller, ip, ...)
    # combinations; the answers, and the order of every category list, must not change.
    import lseprof.analysis.classify.apply as classify_module
    from lseprof.readers.inputs import load
    from lseprof.symbols.symbolize import symbolize

    def classified(threshold: int) -> object:
        capture = load(path)
        images = symbolize(capture, binaries_for(path), input_dir=path.parent).images
        monkeypatch.setattr(classify_module, "DISTINCT_ABOVE_ROWS", threshold)
        classify_module.classify(capture.samples, load_rules(), images)
        return capture.samples[
            ["category", "helper_op", "helper_size", "helper_order", "insn", "helper_path"]
        ]

    by_row, by_combination = classified(1 << 40), classified(0)
    assert len(by_row) > 100
    for column in by_row.columns:
        left, right = by_row[column], by_combination[column]
        assert left.dtype == right.dtype, column
        if hasattr(left, "cat"):  # unordered categorical dtypes compare equal in any order
            assert list(left.cat.categories) == list(right.cat.categories), column
        assert left.tolist() == right.tolist(), column
