"""`lseprof dashboard`: structure, escaping, change-point marks, size budget, CLI.

Records are built with RunRecord and go through a real SQLite store, as the
command reads them.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from lseprof import LseprofError
from lseprof.reports.dashboard import MARKER, SIZE_BUDGET, build_dashboard, group_file
from lseprof.results import OffCpuResult
from lseprof.store import RunRecord, new_id, open_store
from tests.helpers import LSEPROF, missing_tool

HOSTILE_HOST = "</script><script>alert(1)</script>"
RUST_SYMBOL = "<rayon_core::job::StackJob<L,F,R> as rayon_core::job::Job>::execute"
HELPER = "__aarch64_ldadd8_acq_rel"
START = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
SERIES = [(v, t) for v in ("rayon", "window") for t in (1, 8, 32, 88)]


def commit_of(night: int) -> str:
    return hashlib.sha1(f"night {night}".encode()).hexdigest()


def history(
    nights: int,
    series: Iterable[tuple[str, int]] = SERIES,
    reps: int = 3,
    step_at: int | None = None,
    stepped: tuple[str, int] = ("rayon", 88),
    host: str = "vera-1",
    seed: int = 0,
) -> list[RunRecord]:
    """Nightly runs, one group per night. From ``step_at`` on, the ``stepped`` series
    loses 10% throughput and gains 2 pp of helper share."""
    rng = np.random.default_rng(seed)
    records = []
    for night in range(nights):
        group = f"night{night:04d}-{seed}"
        for variant, threads in series:
            base = 40.0 * threads**0.8 * (1.2 if variant == "window" else 1.0)
            level = 5.5 if variant == "rayon" else 0.9
            for rep in range(reps):
                throughput = base * (1 + rng.normal(0.0, 0.01))
                share = level + rng.normal(0.0, 0.05)
                if step_at is not None and night >= step_at and (variant, threads) == stepped:
                    throughput *= 0.9
                    share += 2.0
                categories = {
                    "atomic_helper": share,
                    "inline_atomic": 0.4,
                    "lock": 1.0,
                    "futex": 2.0,
                    "spin": 1.5,
                    "work": 95.1 - share,
                }
                records.append(
                    RunRecord(
                        run_id=new_id(),
                        group_id=group,
                        status="ok",
                        created_at=(START + timedelta(days=night, minutes=rep)).isoformat(),
                        workload="bpe-encode",
                        variant=variant,
                        target="aarch64",
                        threads=threads,
                        repeat_index=rep,
                        throughput_mib_s=throughput,
                        atomic_helper_share=share,
                        categories=categories,
                        hostname=host,
                        source_commit=commit_of(night),
                        build_id="b" * 40,
                        config_key=f"bpe/{variant}/aarch64/t{threads}",
                        helpers=[
                            {
                                "symbol": HELPER,
                                "op": "ldadd",
                                "size": 8,
                                "order": "acq_rel",
                                "share": share,
                            }
                        ],
                        helper_callers=[
                            {
                                "caller": RUST_SYMBOL,
                                "helper": HELPER,
                                "share": share / 2,
                                "basis": "callchain",
                            }
                        ],
                        extra={"argv": ["lseprof", "run", "--threads", str(threads), "a&b<c"]},
                    )
                )
    return records


def stored(tmp_path: Path, records: list[RunRecord]) -> tuple[Path, list[RunRecord]]:
    """Write the records to a real store and read them back, as the command does."""
    path = tmp_path / "store" / "runs.sqlite"
    with open_store(path) as store:
        store.add_many(records)
        return path, store.runs()


def hrefs(text: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', text)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A month of 8 series with a step at night 20 and one hostile host."""
    tmp = tmp_path_factory.mktemp("small")
    records = history(30, step_at=20)
    records += history(12, series=[("rayon", 8)], host=HOSTILE_HOST, seed=1)
    _, runs = stored(tmp, records)
    index = build_dashboard(runs, tmp / "dash")
    return index


def test_index_links_every_group_page(small: Path) -> None:
    text = small.read_text()
    groups = sorted((small.parent / "groups").glob("*.html"))
    assert len(groups) == 30 + 12
    linked = {h for h in hrefs(text) if h.startswith("groups/")}
    assert linked == {f"groups/{p.name}" for p in groups}
    for page in groups[:3]:
        assert 'href="../index.html"' in page.read_text()
    assert (small.parent / MARKER).is_file()


def test_pages_are_offline_and_script_free(small: Path) -> None:
    for page in [small, *sorted((small.parent / "groups").glob("*.html"))[:5]]:
        text = page.read_text()
        assert "Content-Security-Policy" in text and "default-src 'none'" in text
        assert "<script" not in text.lower()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.I)
        assert not re.search(r"url\((?!#)", text) and "@import" not in text  # url(#id) only
        assert "<?xml" not in text and "<!DOCTYPE svg" not in text
    index = small.read_text()
    # 9 series, and a scaling figure for the host with several thread counts.
    assert index.count("<svg ") == 9 + 1


def test_run_text_is_escaped(small: Path) -> None:
    index = small.read_text()
    escaped_host = "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    assert HOSTILE_HOST not in index
    assert escaped_host in index
    hostile_group = small.parent / "groups" / group_file("night0000-1")
    page = hostile_group.read_text()
    assert HOSTILE_HOST not in page and escaped_host in page
    normal = (small.parent / "groups" / group_file("night0000-0")).read_text()
    assert RUST_SYMBOL not in normal
    assert (
        "&lt;rayon_core::job::StackJob&lt;L,F,R&gt; as rayon_core::job::Job&gt;::execute" in normal
    )
    assert "a&amp;b&lt;c" in normal  # the command line
    # The hostile hostname is in a group-page plot label too: escaped inside SVG text.
    svg_texts = re.findall(r"<text[^>]*>([^<]*)</text>", page)
    assert any("&lt;/script&gt;" in t for t in svg_texts)


def test_step_is_marked_with_its_commits(small: Path) -> None:
    index = small.read_text()
    before, after = commit_of(19), commit_of(20)
    # In the change-point table, with full commits ...
    assert f"<code>{before}</code> \u2192 <code>{after}</code>" in index
    # ... and on the plot, where the annotation holds the short ones.
    label = f"{before[:10]}\u2192{after[:10]}"
    svg_texts = re.findall(r"<text[^>]*>([^<]*)</text>", index)
    assert sum(label in t for t in svg_texts) == 2  # throughput and helper-share panels
    # The throughput step in the change-point table's delta cell (a 10% drop).
    assert re.search(r'<td class="n">-(9|10)\.\d%</td>', index)
    assert re.search(r"\+(1\.9\d|2\.0\d) pp", index)  # helper share, percentage points
    # Ten nights after it, the step is history: no alert.
    assert "No regression at the newest nights" in index


def test_fresh_step_raises_an_alert(tmp_path: Path) -> None:
    _, runs = stored(tmp_path, history(25, series=[("rayon", 88), ("window", 88)], step_at=21))
    text = build_dashboard(runs, tmp_path / "d").read_text()
    alerts = text.split("<h2>Alerts</h2>")[1].split("<h2")[0]
    assert "throughput regression" in alerts and "atomic-helper share regression" in alerts
    assert commit_of(21) in alerts
    assert text.count('<tr class="regression">') >= 1 + 2  # summary row, both marks


def test_downsampling_is_announced(tmp_path: Path) -> None:
    _, runs = stored(tmp_path, history(60, series=[("rayon", 8), ("rayon", 88)], step_at=40))
    full = build_dashboard(runs, tmp_path / "d").read_text()
    assert "Downsampled" not in full
    budget = len(full.encode()) * 3 // 4
    # Same directory: the group pages are unchanged and kept, only the index is redone.
    small = build_dashboard(runs, tmp_path / "d", size_budget=budget).read_text()
    assert "Downsampled to fit" in small and "Change points were detected on all nights" in small
    assert len(small.encode()) <= budget
    # The marks survive: they were found on all nights and their nights are kept.
    assert f"{commit_of(39)[:10]}\u2192{commit_of(40)[:10]}" in small
    # A budget that the tables alone exceed: as small as it gets, and it says so.
    tiny = build_dashboard(runs, tmp_path / "d", size_budget=10_000).read_text()
    assert "Still over the size budget after downsampling" in tiny


@pytest.mark.slow  # 365 group pages and 8 year-long plots: ~30 s on 2 idle cores
def test_a_year_of_eight_series_fits_the_budget(tmp_path: Path) -> None:
    _, runs = stored(tmp_path, history(365, step_at=250))
    index = build_dashboard(runs, tmp_path / "year")
    size = index.stat().st_size
    total = sum(p.stat().st_size for p in index.parent.rglob("*") if p.is_file())
    print(
        f"one year, 8 series x 3 reps: index.html {size / 1e6:.2f} MB, "
        f"with {len(list(index.parent.glob('groups/*')))} group pages {total / 1e6:.1f} MB"
    )
    assert size < SIZE_BUDGET
    text = index.read_text()
    assert "Downsampled" not in text
    assert f"{commit_of(249)[:10]}\u2192{commit_of(250)[:10]}" in text


def test_empty_store_gives_a_page(tmp_path: Path) -> None:
    with open_store(tmp_path / "runs.sqlite") as store:
        runs = store.runs()
    text = build_dashboard(runs, tmp_path / "d").read_text()
    assert "no runs in the store yet" in text


def test_output_directory_rules(tmp_path: Path) -> None:
    _, runs = stored(tmp_path, history(8, series=[("rayon", 8)]))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(LseprofError, match="not empty") as caught:
        build_dashboard(runs, foreign)
    assert "\n" not in caught.value.message
    assert not (foreign / "index.html").exists()
    build_dashboard(runs, foreign, force=True)
    assert (foreign / "notes.txt").read_text() == "mine"  # --force writes, never deletes
    # A previous dashboard is regenerated without --force; stale group pages go.
    dash = tmp_path / "dash"
    build_dashboard(runs, dash)
    (dash / "groups" / "gone.html").write_text("old")
    build_dashboard(runs[:3], dash)
    assert not (dash / "groups" / "gone.html").exists()
    assert len(list((dash / "groups").glob("*.html"))) == 1
    (tmp_path / "file").write_text("x")
    with pytest.raises(LseprofError, match="is a file"):
        build_dashboard(runs, tmp_path / "file")


def test_hostile_group_id_stays_inside_groups(tmp_path: Path) -> None:
    record = history(1, series=[("rayon", 8)], reps=1)[0]
    record.group_id = "../../escape<x>"
    index = build_dashboard([record], tmp_path / "d")
    pages = list((tmp_path / "d" / "groups").iterdir())
    assert len(pages) == 1 and pages[0].name.startswith("g-")
    assert not list(tmp_path.glob("escape*"))
    assert f'href="groups/{pages[0].name}"' in index.read_text()
    assert "../../escape&lt;x&gt;" in pages[0].read_text()


def test_rebuild_is_identical_and_keeps_unchanged_group_pages(tmp_path: Path) -> None:
    _, runs = stored(tmp_path, history(10, series=[("rayon", 8), ("rayon", 88)]))
    index = build_dashboard(runs, tmp_path / "d")
    first = index.read_bytes()
    page = tmp_path / "d" / "groups" / group_file("night0000-0")
    stamp = page.stat().st_mtime_ns
    build_dashboard(runs, tmp_path / "d")
    assert index.read_bytes() == first  # deterministic: seeded tests, fixed SVG ids
    assert page.stat().st_mtime_ns == stamp  # not re-rendered


# --------------------------------------------------------------------------- the CLI


def lseprof(*args: str | Path) -> subprocess.CompletedProcess[str]:
    if not LSEPROF.is_file():
        missing_tool(str(LSEPROF), "make venv installs it")
    return subprocess.run(
        [str(LSEPROF), "dashboard", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_cli_writes_the_dashboard(tmp_path: Path) -> None:
    store, _ = stored(tmp_path, history(6, series=[("rayon", 8), ("window", 8)]))
    done = lseprof("--store", store, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "out" / "index.html")
    assert len(list((tmp_path / "out" / "groups").glob("*.html"))) == 6
    again = lseprof("--store", store, "--out", tmp_path / "out")  # its own output: fine
    assert again.returncode == 0, again.stderr


def test_cli_bad_inputs(tmp_path: Path) -> None:
    missing = lseprof("--store", tmp_path / "nope.sqlite", "--out", tmp_path / "o1")
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "no run store at" in missing.stderr
    assert "Traceback" not in missing.stderr
    store, _ = stored(tmp_path, history(4, series=[("rayon", 8)]))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    refused = lseprof("--store", store, "--out", busy)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "--force" in refused.stderr
    forced = lseprof("--store", store, "--out", busy, "--force")
    assert forced.returncode == 0, forced.stderr
    not_a_store = tmp_path / "x.sqlite"
    sqlite3.connect(not_a_store).execute("CREATE TABLE t (a)").connection.commit()
    foreign = lseprof("--store", not_a_store, "--out", tmp_path / "o2")
    assert foreign.returncode == 2 and "is not an lseprof run store" in foreign.stderr
    assert "Traceback" not in foreign.stderr


def test_cli_empty_store(tmp_path: Path) -> None:
    with open_store(tmp_path / "runs.sqlite"):
        pass
    done = lseprof("--store", tmp_path / "runs.sqlite", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "no runs in the store yet" in (tmp_path / "out" / "index.html").read_text()


def test_wakeups_per_item_is_plotted_for_sched_nights(tmp_path: Path) -> None:
    """Nights recorded with --sched carry wake-ups per item; the series plots them,
    and a store without them has no such line."""
    records = history(12, series=[("rayon", 8), ("rayon", 88)])
    plain = build_dashboard(stored(tmp_path / "plain", records)[1], tmp_path / "d1").read_text()
    assert "wake-ups per 1,000 items" not in plain
    for i, r in enumerate(records):
        r.extra.offcpu = OffCpuResult.from_value(
            {"wakeups_per_item": 0.0015 + 0.0001 * (i % 3), "offcpu_share": 70.0}
        )
    _, runs = stored(tmp_path / "sched", records)
    text = build_dashboard(runs, tmp_path / "d2").read_text()
    svg_texts = re.findall(r"<text[^>]*>([^<]*)</text>", text)
    # Each series' panel (legend) and the scaling plot's third panel (axis label).
    assert sum("wake-ups per 1,000 items" in t for t in svg_texts) == 3, svg_texts
    assert sum("wake-ups/kitem" in t for t in svg_texts) == 2
