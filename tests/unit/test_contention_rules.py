"""Contention signatures across the stack (issue #22): the default rules, where their
names come from, and what they make of real public pastes.

Every rule cites its source; a rule that cites a real symbol table under
tests/fixtures/names matches a name in it; names that are work stay work; the docs
table is the rules file's own; and each public paste (tests/fixtures/perf/pastes/
public, with its URL in meta.json) gets the categories and shares asserted here.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from lseprof.analysis.classify import chain_rules, default_rules, load_rules, rules_table
from lseprof.analysis.pipeline import Report, analyze_file
from lseprof.errors import LseprofError
from tests.helpers import FIX, REPO

NAMES = FIX / "names"
PUBLIC = FIX / "perf" / "pastes" / "public"


def _names(path: Path) -> list[tuple[str, str]]:
    """(name, dso) of a real symbol table (runtime-dynsym-arm64.txt names its objects)."""
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    kernel = path.name.startswith("linux-")
    dso = "[kernel.kallsyms]" if kernel else path.stem
    out = []
    for line in text.splitlines():
        if line.startswith("## "):
            dso = line[3:].rsplit("/", 1)[-1]
        elif line.strip():
            # perf report rows: the symbol after the [.]/[k] marker, its object before it
            row = re.match(r"^\s*[\d.]+%\s+\S+\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$", line)
            out.append((row[2], row[1]) if row else (line.strip(), dso))
    return out


def _first(name: str, dso: str, caller: str = "") -> str:
    rule = next((r for r in default_rules() if r.matches(name, dso, caller)), None)
    return rule.category if rule else "work"


def test_every_rule_says_why_and_where_its_names_come_from() -> None:
    for number, rule in enumerate(default_rules(), start=1):
        assert rule.why and rule.source, f"default rule {number} lacks why or source"
    for entry in chain_rules().entries:
        assert entry.get("why") and entry.get("source"), entry


def test_cited_fixtures_exist_and_cited_name_tables_hold_a_matching_name() -> None:
    cited = 0
    for number, rule in enumerate(default_rules(), start=1):
        for path in re.findall(r"tests/fixtures/[\w./-]+\w", rule.source):
            assert (REPO / path).exists(), f"rule {number} cites {path}, which is not there"
            if path.startswith("tests/fixtures/names/") and (REPO / path).is_file():
                names = _names(REPO / path)
                hits = [n for n, d in names if rule.matches(n, d, "") or rule.caller is not None]
                if f"{path} has none" in rule.source:  # cited for what it lacks
                    assert not hits, f"rule {number}: {path} has {hits[:3]}"
                    continue
                assert hits, f"rule {number} cites {path} but matches no name in it"
                cited += 1
    assert cited >= 15  # the rules checked against real names, not only source code


@pytest.mark.parametrize(
    ("name", "dso", "category"),
    [
        # real names (tests/fixtures/names), each from a different runtime
        ("queued_spin_lock_slowpath", "[kernel.kallsyms]", "lock"),
        ("__pv_queued_spin_lock_slowpath", "[kernel.kallsyms]", "lock"),
        ("osq_lock", "[kernel.kallsyms]", "lock"),
        ("__mutex_lock.constprop.0", "[kernel.kallsyms]", "lock"),
        ("rwsem_down_write_slowpath", "[kernel.kallsyms]", "lock"),
        ("futex_wait_queue", "[kernel.kallsyms]", "futex"),
        ("finish_task_switch.isra.0", "[kernel.kallsyms]", "futex"),
        ("__ll_sc_atomic_add_return", "[kernel.kallsyms]", "atomic_helper"),
        ("do_sched_yield", "[kernel.kallsyms]", "spin"),
        ("___pthread_mutex_lock", "libc.so.6", "lock"),
        ("__GI___lll_lock_wait", "libc.so.6", "lock"),
        ("do_futex_wait.constprop.0", "libc.so.6", "futex"),
        ("__condvar_dec_grefs", "libc.so.6", "futex"),
        ("<std::sys::sync::mutex::futex::Mutex>::lock_contended", "m", "lock"),
        ("runtime.lock2", "hello-arm64", "lock"),
        ("runtime.procyield.abi0", "hello-arm64", "spin"),
        ("runtime.futexsleep", "hello-arm64", "futex"),
        ("absl::debian3::Mutex::LockSlow(absl::debian3::MuHowS const*, int)", "libabsl", "lock"),
        ("AbslInternalSpinLockDelay_debian3", "libabsl_spinlock_wait.so", "spin"),
        ("__kmp_acquire_queuing_lock@@VERSION", "libomp.so.5", "lock"),
        ("__kmp_wait_4@@VERSION", "libomp.so.5", "spin"),
        ("SpinLock::SlowLock()", "libtcmalloc.so.4", "lock"),
        ("SpinPause", "libjvm.so", "spin"),
        ("pl_wait_unlock_long.isra.0", "haproxy", "lock"),
        # work, though their names speak of locks, atomics or waiting
        ("copy_page_range", "[kernel.kallsyms]", "work"),
        ("lock_page", "[kernel.kallsyms]", "work"),
        ("mutex_is_locked", "[kernel.kallsyms]", "work"),
        ("lockref_get", "[kernel.kallsyms]", "work"),
        ("__arm64_sys_write", "[kernel.kallsyms]", "work"),
        ("el0_svc_common.constprop.0", "[kernel.kallsyms]", "work"),
        ("runtime.mallocgc", "hello-arm64", "work"),
        ("stktable_trash_oldest", "haproxy", "work"),
        ("clock_gettime", "libc.so.6", "work"),
    ],
)
def test_names_get_their_category(name: str, dso: str, category: str) -> None:
    assert _first(name, dso) == category


def test_name_tables_know_the_names_asserted_above() -> None:
    """The names above are real: each kernel and glibc one is in its symbol table."""
    kernel = {n for n, _ in _names(NAMES / "linux-6.1.0-47-arm64-text-symbols.txt.gz")}
    kernel |= {n for n, _ in _names(NAMES / "linux-6.18-x86_64-text-symbols.txt.gz")}
    glibc = {n for n, _ in _names(NAMES / "glibc-2.36-x86_64-lock-symbols.txt")}
    for name in ("queued_spin_lock_slowpath", "osq_lock", "futex_wait_queue", "do_sched_yield"):
        assert name in kernel
    assert {"___pthread_mutex_lock", "do_futex_wait.constprop.0"} <= glibc
    assert not any(n.startswith("__ll_sc_") for n in kernel)  # inlined since 5.5


def test_a_release_inside_the_scheduler_is_its_time_not_a_lock() -> None:
    irqrestore = "_raw_spin_unlock_irqrestore"
    assert _first(irqrestore, "[kernel.kallsyms]", "try_to_wake_up") == "futex"
    assert _first(irqrestore, "[kernel.kallsyms]", "") == "lock"
    assert _first("arch_local_irq_enable", "[kernel.kallsyms]", "__schedule") == "futex"
    assert (
        _first("arch_local_irq_restore", "[kernel.kallsyms]", "_raw_spin_unlock_irqrestore")
        == "lock"
    )


def test_docs_table_is_the_rules_file() -> None:
    doc = (REPO / "docs" / "contention.md").read_text()
    assert rules_table() in doc, "docs/contention.md is behind default.toml: paste rules_table()"


def test_user_rules_still_go_first_and_say_their_errors(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('[[rule]]\ncategory = "spin"\nsymbol = "^copy_page_range$"\nsource = "me"\n')
    rules = load_rules(mine)
    assert rules[0].category == "spin" and rules[0].source == "me"
    assert len(rules) == len(default_rules()) + 1
    mine.write_text('[[rule]]\ncategory = "spin"\nsymbol = "("\n')
    with pytest.raises(LseprofError, match="bad symbol regex"):
        load_rules(mine)


# --------------------------------------------------------------------------- pastes


def _report(name: str) -> Report:
    return analyze_file(PUBLIC / name)


def _shares(report: Report, section: int = 0) -> dict[str, tuple[str | None, float]]:
    return {t.symbol: (t.category, t.share) for t in report.sections[section].top_symbols}


def test_kernel_ll_sc_atomics_are_atomics_reached_by_a_call() -> None:
    report = _report("arm64-ll_sc-posix_spawn.txt")
    s = report.sections[0]
    assert s.categories["atomic_helper"] == pytest.approx(19.82 + 16.53 + 3.68, abs=0.01)
    assert _shares(report)["copy_page_range"] == ("work", pytest.approx(16.34))
    assert {h.symbol for h in s.helpers} == {
        "__ll_sc_atomic_add",
        "__ll_sc_atomic_add_return",
        "__ll_sc_atomic_sub_return",
    }


def test_queued_spinlock_slow_path_of_a_database_server_is_lock() -> None:
    report = _report("dragonfly-qspinlock-callers.txt")
    s = report.sections[0]
    # four Proactor threads, the last row cut mid-symbol and completed from the others
    assert s.categories["lock"] == pytest.approx(0.92 + 0.90 + 0.86 + 0.84, abs=0.01)
    assert s.unknown_lines == 0
    assert any("native_queued_spin_lo'" in n for n in s.notes)
    callers = {c for c in report.samples["caller"].astype(str) if c}
    assert callers == {"entry_SYSCALL_64_after_hwframe"}


def test_user_space_lock_wait_of_a_proxy_is_lock() -> None:
    assert _shares(_report("haproxy-isb-annotate.txt"))["pl_wait_unlock_long.isra.0"] == (
        "lock",
        pytest.approx(43.79),
    )


def test_interactive_screen_of_futex_paths_is_all_futex() -> None:
    s = _report("hhvm-futex-tui.txt").sections[0]
    assert s.categories["futex"] == pytest.approx(100.0)
    assert s.event == "cycles"


def test_arm32_kuser_helpers_and_go_atomics_are_atomic_helpers() -> None:
    report = _report("golang-arm32-kuser-cas.txt")
    shares = _shares(report)
    assert shares["0x00000fc0"] == ("atomic_helper", pytest.approx(41.65))
    assert shares["kernelcas"] == ("atomic_helper", pytest.approx(29.94))
    assert shares["runtime/internal/atomic.Cas"][0] == "atomic_helper"
    assert report.sections[0].categories["atomic_helper"] == pytest.approx(89.09, abs=0.01)


def test_headerless_perf_top_rows_aligned_differently_are_all_read() -> None:
    s = _report("jvm-spinpause-perf-top-first-row.txt").sections[0]
    shares = _shares(_report("jvm-spinpause-perf-top-first-row.txt"))
    assert shares["__memset_sse2_unaligned_erms"] == ("work", pytest.approx(13.89))
    assert shares["SpinPause"] == ("spin", pytest.approx(1.93))
    assert s.categories["spin"] == pytest.approx(1.93)
    rows = [ln for ln in (PUBLIC / "jvm-spinpause-perf-top-first-row.txt").read_text().splitlines()]
    assert len(rows) == 20 and s.unknown_lines == 0
    assert 100.0 - shares["[not listed]"][1] == pytest.approx(40.41, abs=0.01)  # all 20 rows


def test_quoted_mail_reply_with_kernel_optimistic_spinning() -> None:
    report = _report("osq_lock-rwsem-unixbench-quoted.txt")
    shares = _shares(report)
    assert shares["osq_lock"] == ("lock", pytest.approx(94.25))
    assert shares["rwsem_spin_on_owner"] == ("lock", pytest.approx(0.74))
    assert shares["filemap_get_read_batch"] == ("work", pytest.approx(0.32))
    assert any("quoted" in n for n in report.sections[0].notes)


def test_two_reports_with_label_lines_are_two_sections() -> None:
    report = _report("haproxy-isb-sb-comment.txt")
    assert report.events == ["(unnamed event)", "(unnamed event) (report 2)"]
    assert _shares(report, 0)["pl_wait_unlock_long.isra.0"] == ("lock", pytest.approx(43.79))
    assert _shares(report, 1)["pl_wait_unlock_long"] == ("lock", pytest.approx(44.66))
    assert any("2 reports" in n and "With `sb`" in n for n in report.sections[0].notes)
    # the prose and fences are text, never part of a row
    assert not any("With" in str(s) for s in report.samples["symbol"].astype(str))


def test_perf_top_key_menu_below_the_rows_is_never_a_row() -> None:
    report = _report("perf-top-stdio-keys.txt")
    symbols = set(report.samples["symbol"].astype(str))
    assert not any("display" in s or "Enter selection" in s or "[d]" in s for s in symbols)
    shares = _shares(report)
    assert shares["rmw_mix"][1] == pytest.approx(36.79)
    assert shares["pthread_mutex_lock@@GLIBC_2.2.5"] == ("lock", pytest.approx(3.66))
    assert shares["finish_task_switch.isra.0"] == ("futex", pytest.approx(0.86))


_ROW_LINE = re.compile(r"(?P<pct>\d+(?:\.\d+)?)%(?:(?!%).)*?\[[.kgHuv]\]\s+(?P<symbol>.*?)\s*$")


@pytest.mark.parametrize(
    "path",
    sorted((FIX / "perf" / "pastes").rglob("*.txt")),
    ids=lambda p: str(p.relative_to(FIX / "perf" / "pastes")),
)
def test_every_line_with_a_percentage_and_a_marker_is_read(path: Path) -> None:
    """Whatever its alignment (a first row selected from its first character, a
    wider percentage, tabs, quotes), a row is read: its symbol is in the table."""
    report = analyze_file(path)
    symbols = set(report.samples["symbol"].astype(str))
    text = path.read_text().replace("\t", "  ")
    for line in text.splitlines():
        if (row := _ROW_LINE.search(line)) is None or line.lstrip().startswith("#"):
            continue
        if float(row["pct"]) == 0.0:  # no samples of its own (--children): no row
            continue
        name = re.split(r"\s{2,}", row["symbol"])[0]  # --sort sym,...: columns follow
        # a row cut short (mid-symbol, or by a terminal's width) is read as far as it goes
        assert name in symbols or any(s.startswith(name) for s in symbols), (path.name, line)
