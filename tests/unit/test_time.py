"""Time in a profile, offline: --time-range parsing and windows, cutting text by its
times, the heat map and the timeline of real captures, the files they are written
to, the per-thread tables and thread filters, and the region records."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from lseprof import LseprofError
from lseprof.analysis.diff import side_time
from lseprof.analysis.pipeline import Focus, analyze_file
from lseprof.analysis.threads import ThreadFilter, group_name, group_threads, parse_tids
from lseprof.analysis.timeline import off_cpu_bins
from lseprof.capture.build import Build
from lseprof.capture.control import DELAY, MARKERS, check_region, region_of
from lseprof.readers.time_range import parse_time_range, perf_time_arg, seconds_ns, window_slices
from lseprof.reports.heatmap import heatmap_svg, write_heatmap
from lseprof.results import HeatMap, Region, ThreadShare
from lseprof.store import RunExtra, RunRecord
from lseprof.workloads.bpe import require_region, speaks_region
from tests.helpers import RAYON, X86, X86_BIN

SCRIPT = X86 / "script.txt"  # perf script of x86-contend/perf.data, perf's default fields
_TIME = re.compile(r"^\S.*?\s(\d+\.\d{6}):", re.M)


def _script_times() -> list[int]:
    """Sample times of the script fixture in µs, read apart from lseprof's parser."""
    return [int(t.replace(".", "")) for t in _TIME.findall(SCRIPT.read_text())]


# --------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1,2", (1.0, 2.0, False, False)),
        ("0.25, 1.5", (0.25, 1.5, False, False)),
        ("10%,90%", (10.0, 90.0, True, True)),
        ("1,50%", (1.0, 50.0, False, True)),
        (".5,1", (0.5, 1.0, False, False)),
    ],
)
def test_time_ranges_parse(text: str, want: tuple[float, float, bool, bool]) -> None:
    r = parse_time_range(text)
    assert (r.start, r.end, r.start_pct, r.end_pct) == want


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("1", "START,END"),
        ("1,2,3", "START,END"),
        ("a,b", "number of seconds or a percentage"),
        ("-1,2", "number of seconds or a percentage"),
        ("2,1", "END must be after START"),
        ("5%,5%", "END must be after START"),
        ("10%,120%", "at most 100%"),
    ],
)
def test_bad_time_ranges_say_why(text: str, needle: str) -> None:
    with pytest.raises(LseprofError, match=re.escape(needle)):
        parse_time_range(text)


def test_windows_are_whole_nanoseconds_from_the_first_sample() -> None:
    first, last = seconds_ns("2711.753071"), seconds_ns("2712.671866")
    assert (first, last) == (2711753071000, 2712671866000)
    assert parse_time_range("0.2,0.5").window_ns(first, last) == (2711953071000, 2712253071000)
    # Percentages of the first-to-last span, rounded to the nanosecond.
    span = last - first
    assert parse_time_range("0%,50%").window_ns(first, last) == (first, first + span // 2)
    assert perf_time_arg(5_000_000_001, 6_000_000_000) == "5.000000001,6.000000000"
    assert seconds_ns("nope") is None


@pytest.mark.parametrize("jobs", [1, 2, 3, 7])
def test_window_slices_cover_the_window_once(jobs: int) -> None:
    start, end = 2711953071000, 2712253071999
    bounds = [tuple(seconds_ns(x) for x in s.split(",")) for s in window_slices(start, end, jobs)]
    assert bounds[0][0] == start and bounds[-1][1] == end
    for (_, stop), (begin, _) in itertools.pairwise(bounds):
        assert begin == stop + 1  # disjoint, nothing between
    assert len(bounds) == jobs


def test_a_script_text_is_cut_by_its_own_times() -> None:
    times = _script_times()
    first = min(times)
    want = sum(first + 200_000 <= t <= first + 600_000 for t in times)
    report = analyze_file(SCRIPT, time_range=parse_time_range("0.2,0.6"))
    assert report.sections[0].samples == want
    assert report.window is not None and report.window.origin == pytest.approx(first / 1e6)
    # Percentages are of the first-to-last span of the text itself.
    half = analyze_file(SCRIPT, time_range=parse_time_range("0%,50%"))
    mid = first + (max(times) - first) / 2
    assert half.sections[0].samples == sum(t <= mid for t in times)


def test_report_text_and_empty_ranges_are_refused() -> None:
    with pytest.raises(LseprofError, match="has no sample times"):
        analyze_file(X86 / "report-flat.txt", time_range=parse_time_range("0,1"))
    with pytest.raises(LseprofError, match="no samples in --time-range 5,6"):
        analyze_file(SCRIPT, time_range=parse_time_range("5,6"))
    with pytest.raises(LseprofError, match="has no sample times"):
        analyze_file(X86 / "report-flat.txt", focus=Focus(over_time=True))


# --------------------------------------------------------------------------- heat map


def test_heat_map_cells_hold_each_sample_once() -> None:
    report = analyze_file(SCRIPT, binaries=[X86_BIN], focus=Focus(over_time=True))
    assert report.heatmap is not None
    heat = report.heatmap
    times = _script_times()
    first = min(times)
    assert heat.rows == 50 and heat.first_column == 0
    assert heat.columns == (max(times) - first) // 1_000_000 + 1
    cells = np.array(heat.counts["all"])
    assert cells.sum() == len(times) == report.sections[0].samples
    # Each sample in the 20 ms slice its time falls in.
    want = np.bincount([(t - first) // 20_000 for t in times], minlength=50)
    assert cells[0].tolist() == want[:50].tolist()
    # The category maps split the samples exactly.
    categories = report.sections[0].categories
    parts = {k: int(np.array(v).sum()) for k, v in heat.counts.items() if k != "all"}
    assert sum(parts.values()) == len(times)
    for name, count in parts.items():
        assert 100.0 * count / len(times) == pytest.approx(categories[name])


def test_heat_map_of_a_range_starts_at_its_second() -> None:
    capture_report = analyze_file(
        RAYON / "script.txt.gz", time_range=parse_time_range("1.5,2.5"), focus=Focus(over_time=True)
    )
    heat = capture_report.heatmap
    assert heat is not None and heat.window == (1.5, 2.5)
    assert (heat.first_column, heat.columns) == (1, 2)
    cells = np.array(heat.counts["all"])
    assert cells[0, :25].sum() == 0  # 1.0 s to 1.5 s is outside the range
    assert cells[1, 26:].sum() == 0  # and so is 2.5 s to 3.0 s (row 25 holds 2.5 s)
    assert cells.sum() == capture_report.sections[0].samples


def test_timeline_bins_count_each_thread_and_spread_off_cpu_time() -> None:
    report = analyze_file(SCRIPT, focus=Focus(over_time=True))
    timeline = report.timeline
    assert timeline is not None
    per_tid = report.samples["tid"].value_counts().to_dict()
    assert {t.tid: sum(t.samples) for t in timeline.tracks} == per_tid
    assert len(timeline.tracks[0].samples) == timeline.bins
    # Off-CPU spans are split at bin edges: 0.5 s to 2.5 s over 1 s bins, and one
    # that started before the first bin.
    spans = [(1, 0.5, 2.5, "futex"), (1, 3.0, 3.2, "yield"), (1, -1.0, 0.2, "futex")]
    assert off_cpu_bins(spans, 0.0, 1.0, 4) == {
        "futex": [0.7, 1.0, 0.5, 0.0],
        "yield": [0.0, 0.0, 0.0, 0.2],
    }


def test_heat_map_files(tmp_path: Path) -> None:
    report = analyze_file(SCRIPT, focus=Focus(over_time=True))
    assert report.heatmap is not None
    svg = write_heatmap(tmp_path / "h.svg", "x.txt", report.heatmap, report.timeline)
    text = svg.read_text()
    assert text.startswith("<svg") and text.count("<rect") > 50 and "<script" not in text
    page = write_heatmap(tmp_path / "h.html", "<odd>&path", report.heatmap, report.timeline)
    html = page.read_text()
    assert "&lt;odd&gt;&amp;path" in html and "<odd>" not in html.split("<script")[0]
    # The page's one script is allowed by its hash, and nothing else is.
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script[1].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html and "default-src 'none'" in html
    data = re.search(r'<script type="application/json" id="lseprof-heatmap">(.*?)</script>', html)
    assert data is not None
    payload = json.loads(data[1])
    assert (
        payload["path"] == "<odd>&path"
        and payload["maps"][0]["counts"] == report.heatmap.counts["all"]
    )
    with pytest.raises(LseprofError, match=r"writes \.svg or \.html"):
        write_heatmap(tmp_path / "h.png", "x", report.heatmap)
    with pytest.raises(LseprofError, match="cannot write"):
        write_heatmap(tmp_path / "no" / "h.svg", "x", report.heatmap)
    assert heatmap_svg(report.heatmap, ident="a").count('id="a"') == 1


def test_heat_maps_read_back_from_the_store() -> None:
    report = analyze_file(SCRIPT, focus=Focus(over_time=True))
    assert report.heatmap is not None
    extra = RunExtra.from_value(json.loads(json.dumps(RunExtra(heatmap=report.heatmap).to_dict())))
    assert extra.heatmap == report.heatmap
    assert HeatMap.from_value({"event": "x", "origin": 1.0}) is None  # no grid: not a map
    odd = HeatMap.from_value(
        {
            "event": "e",
            "origin": 2.0,
            "columns": 1,
            "rows": 2,
            "counts": {"all": [[1, "x"]]},
            "window": [0, "y"],
            "new": 1,
        }
    )
    assert odd is not None and odd.counts == {"all": [[1]]} and odd.window is None
    assert odd.to_dict()["new"] == 1


# --------------------------------------------------------------------------- threads


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("rayon-worker-12", "rayon-worker-*"),
        ("rayon-worker-10", "rayon-worker-*"),  # "rayon-worker-100", cut to 15 bytes
        ("win-worker-3", "win-worker-*"),
        ("bpe-encode", "bpe-encode"),
        ("python3.11", "python3.*"),
        ("1234", "1234"),
        ("", ""),
    ],
)
def test_group_names(name: str, group: str) -> None:
    assert group_name(name) == group


def test_per_thread_tables_add_up() -> None:
    report = analyze_file(SCRIPT, binaries=[X86_BIN], focus=Focus(per_thread=True))
    section = report.sections[0]
    threads, groups = section.threads, section.thread_groups
    assert sum(t.samples for t in threads) == section.samples
    assert sum(t.share for t in threads) == pytest.approx(100.0)
    for t in threads:
        assert sum(t.categories.values()) == pytest.approx(100.0)
    assert all(not t.main for t in threads)  # text without pids: no main thread known
    # contend's workers are threads of one name: one group, named as they are.
    assert [(g.name, g.threads, g.samples) for g in groups] == [
        ("contend-x86_64", len(threads), section.samples)
    ]
    json_section = json.loads(report.to_json())
    assert json_section["threads"][0]["samples"] == threads[0].samples
    # Categories of a group are its threads', weighted by samples.
    worker, members = groups[0], threads
    for name, share in worker.categories.items():
        expect = sum(t.categories.get(name, 0.0) * t.samples for t in members) / worker.samples
        assert share == pytest.approx(expect)


def test_thread_filters() -> None:
    whole = analyze_file(SCRIPT, focus=Focus(per_thread=True))
    top = whole.sections[0].threads[0]
    assert top.tid is not None
    one = analyze_file(SCRIPT, focus=Focus(ThreadFilter((top.tid,))))
    assert one.sections[0].samples == top.samples
    assert set(one.samples["tid"]) == {top.tid}
    by_name = analyze_file(SCRIPT, focus=Focus(ThreadFilter(comms=("contend-*",))))
    assert by_name.sections[0].samples == whole.sections[0].samples
    with pytest.raises(LseprofError, match="no samples of the threads asked for"):
        analyze_file(SCRIPT, focus=Focus(ThreadFilter(comms=("nothing",))))
    assert parse_tids(["1,2", "3"]) == (1, 2, 3)
    with pytest.raises(LseprofError, match="--tid takes thread ids"):
        parse_tids(["12a"])


def test_groups_sum_off_cpu_time() -> None:
    threads = [
        ThreadShare(
            "rayon-worker-0",
            11,
            10,
            samples=3,
            share=30.0,
            categories={"work": 100.0},
            on_cpu_s=1.0,
            off_cpu_s=0.5,
            off_cpu_by_reason_s={"futex": 0.5},
        ),
        ThreadShare(
            "rayon-worker-1",
            12,
            10,
            samples=1,
            share=10.0,
            categories={"spin": 100.0},
            on_cpu_s=0.5,
            off_cpu_s=1.5,
            off_cpu_by_reason_s={"yield": 1.5},
        ),
        ThreadShare("bpe-encode", 10, 10, main=True, samples=6, share=60.0),
    ]
    threads.append(ThreadShare("rayon-worker-2", 13, 10, samples=0))
    groups = {g.name: g for g in group_threads(threads)}
    pool = groups["rayon-worker-*"]
    assert (pool.threads, pool.samples, pool.share) == (3, 4, 40.0)
    assert pool.categories == {"spin": 25.0, "work": 75.0}
    assert (pool.on_cpu_s, pool.off_cpu_s) == (1.5, 2.0)
    assert pool.off_cpu_by_reason_s["futex"] == 0.5 and pool.off_cpu_by_reason_s["yield"] == 1.5
    assert groups["bpe-encode"].main and groups["bpe-encode"].off_cpu_s is None


# --------------------------------------------------------------------------- regions


def test_region_from_the_commands_sent() -> None:
    plain = region_of(MARKERS, [("enable", 0.5), ("disable", 3.5)], 4.0, [])
    assert (plain.start_s, plain.end_s, plain.enabled_s, plain.signals) == (0.5, 3.5, 3.0, 2)
    paused = region_of(
        MARKERS, [("enable", 1.0), ("disable", 2.0), ("enable", 3.0), ("disable", 3.5)], 5.0, []
    )
    assert (paused.start_s, paused.end_s, paused.enabled_s) == (1.0, 3.5, 1.5)
    left_on = region_of(DELAY, [("enable", 2.0)], 5.0, [])
    assert (left_on.start_s, left_on.end_s, left_on.enabled_s) == (2.0, 5.0, 3.0)
    never = region_of(MARKERS, [], 5.0, ["x"])
    assert never.start_s is None and never.notes[0] == "x"
    assert "never signalled its region" in never.notes[1]
    late = region_of(DELAY, [], 1.0, [])
    assert "ended before the --delay" in late.notes[0]


def test_the_time_model_counts_the_region_not_the_whole_run() -> None:
    """`lseprof diff`'s thread time: samples / freq / (threads x recorded seconds),
    where a region run recorded its region only."""
    extra = {"freq": 1000, "record_seconds": 4.0}
    whole = RunRecord("a", "g", "ok", threads=2, throughput_mib_s=10.0, samples=2000, extra=extra)
    region = RunRecord(
        "b", "g", "ok", threads=2, throughput_mib_s=10.0, samples=2000,
        extra={**extra, "region": {"mode": "markers", "enabled_s": 1.0}},
    )  # fmt: skip
    got_whole, got_region = side_time([whole]), side_time([region])
    assert got_whole is not None and got_region is not None
    assert got_whole.on_cpu == pytest.approx(0.25) and got_region.on_cpu == pytest.approx(1.0)


def test_builds_from_before_region_markers_are_refused() -> None:
    old = Build("rayon", "host", "native", X86_BIN)  # a real ELF that never signals
    assert not speaks_region(old)
    with pytest.raises(LseprofError, match=r"built before region markers .* --whole-process"):
        require_region(old)


def test_region_plans_and_records() -> None:
    assert check_region("whole", None) is None
    plan = check_region("delay", 1.5)
    assert plan is not None and (plan.mode, plan.delay) == ("delay", 1.5)
    with pytest.raises(LseprofError, match="--delay must be 0 or more"):
        check_region("delay", -1)
    with pytest.raises(LseprofError, match="unknown region mode"):
        check_region("sometimes", None)
    region = Region("markers", 0.5, 3.5, 3.0, 2, ["n"])
    assert Region.from_value(json.loads(json.dumps(region.to_dict()))) == region
    assert Region.from_value({"start_s": 1}) is None
    extra = RunExtra.from_value({"region": {"mode": "delay", "start_s": "x", "later": 1}})
    assert extra.region is not None and extra.region.start_s is None
    assert extra.to_dict()["region"]["later"] == 1
    assert RunExtra.from_value(
        {"thread_groups": [{"name": "a-*", "threads": 3}, 5]}
    ).thread_groups == [ThreadShare("a-*", threads=3)]
