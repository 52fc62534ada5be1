"""Cache lines between cores, without a machine: the coherence file's reader on the
real captures of tests/fixtures/coherence (and on damaged and foreign copies of
them), true and false sharing, the records' round trip through the store, the
plugin's qemu options, the diff's interval and the dashboard block."""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
from pathlib import Path

import pytest

from lseprof.analysis.coherence import demangle_names, load_coherence, sharing_of
from lseprof.analysis.diff import compare_coherence, welch_interval
from lseprof.emulation.vm import (
    CoherenceSettings,
    Share,
    StdoutTail,
    coherence_plugin_args,
    move_coherence,
    qemu_command,
    reported_work,
    require_coherence,
)
from lseprof.errors import LseprofError
from lseprof.readers.coherence import DetailRecord, find_coherence, read_coherence
from lseprof.reports.dashboard import build_dashboard, group_file
from lseprof.reports.run_table import coherence_lines
from lseprof.results import CoherenceInsn, CoherenceLine, CoherenceResult
from lseprof.store import RunRecord
from tests.helpers import REPO, assert_one_line_error, lseprof

FIX = REPO / "tests" / "fixtures" / "coherence"
FS_BIN = REPO / "tests" / "fixtures" / "bin" / "coherence-fs-aarch64"


def _copy_with(tmp_path: Path, old: str, new: str) -> Path:
    """The unpadded capture with one piece of text replaced."""
    text = (FIX / "fs-unpadded" / "coherence.txt").read_text()
    assert old in text
    path = tmp_path / "coherence.txt"
    path.write_text(text.replace(old, new, 1))
    return path


# --------------------------------------------------------------------------- reading


def test_the_capture_reads_back_whole() -> None:
    found = read_coherence(FIX / "fs-unpadded" / "coherence.txt")
    assert found.header["qemu_built"] == "10.0.2" and found.header["api_built"] == "4"
    assert found.end == "complete" and not found.partial
    assert found.total("transfers") == sum(line.transfers for line in found.lines) + (
        found.total("transfers") - sum(line.transfers for line in found.lines)
    )
    assert found.lines == sorted(found.lines, key=lambda line: -line.transfers)
    # The program's three threads (main and two workers), the workers made by main.
    parents = {t.tid: t.parent for t in found.threads}
    main = next(tid for tid, parent in parents.items() if parent == 0)
    assert sorted(parents.values()) == [0, main, main]
    assert found.meta["outcome"] == "exited" and found.meta["work"] == {"items": 400000}


def test_a_killed_run_is_partial() -> None:
    found = read_coherence(FIX / "fs-killed" / "coherence.txt")
    assert found.end == "partial" and found.partial
    result = load_coherence(FIX / "fs-killed", [FS_BIN])
    assert result is not None and result.partial and result.outcome == "timeout"
    assert result.notes[0].startswith("partial: the run did not finish (timeout)")
    assert result.transfers_per_item is None  # a killed program printed no work


def test_the_file_is_found_beside_what_names_it(tmp_path: Path) -> None:
    directory = FIX / "fs-unpadded"
    assert find_coherence(directory) == directory / "coherence.txt"
    assert find_coherence(directory / "perf.data") == directory / "coherence.txt"
    assert find_coherence(tmp_path) is None


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("qemu_built=10.0.2\tapi_built=4", "qemu_built=10.1.0\tapi_built=5",
         ("written by the coherence plugin for qemu 10.1.0 (plugin API 5)", "qemu 10.0.2")),
        ("H\tformat=1", "H\tformat=2", ("coherence file of format 2", "reads format 1")),
        ("\nL\t0x", "\nL\tnot-a-number\t0x", ("a damaged 'L' record",)),
        ("# lseprof-coherence format 1", "# something else", ("is not a coherence file",)),
    ],
)  # fmt: skip
def test_foreign_or_damaged_files_are_one_line_errors(
    tmp_path: Path, old: str, new: str, words: tuple[str, ...]
) -> None:
    path = _copy_with(tmp_path, old, new)
    with pytest.raises(LseprofError) as caught:
        read_coherence(path)
    for word in words:
        assert word in caught.value.message
    assert "\n" not in caught.value.message


def test_report_of_a_file_from_another_qemu_is_one_line(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, "qemu_built=10.0.2", "qemu_built=9.2.0")
    proc = lseprof("report", path, "--json")
    assert_one_line_error(proc, "for qemu 9.2.0", "lseprof vm run --coherence")


# --------------------------------------------------------------------------- sharing


def _d(cpu: int, offset: int, kind: str, count: int = 10000, transfers: int = 10) -> DetailRecord:
    return DetailRecord(0x1000, 0x400000, 0x4A2080 + offset, 8, kind, cpu, 100 + cpu, count,
                        transfers, 0)  # fmt: skip


def test_sharing_true_false_both_and_read_only() -> None:
    assert sharing_of([_d(0, 0, "store"), _d(1, 8, "store")]) == "false"
    assert sharing_of([_d(0, 0, "atomic"), _d(1, 0, "atomic")]) == "true"
    assert sharing_of([_d(0, 0, "load"), _d(1, 0, "load")]) == "read-only"
    assert sharing_of([_d(0, 0, "store"), _d(0, 8, "store")]) == "unknown"
    both = [_d(0, 0, "store"), _d(1, 8, "store"), _d(0, 16, "atomic"), _d(1, 16, "atomic")]
    assert sharing_of(both) == "both"
    # One read of the neighbour's counter at the end (it moved the line once) does not
    # make the counters' false sharing true.
    once = _d(1, 0, "load", count=1, transfers=1)
    assert sharing_of([_d(0, 0, "store"), _d(1, 8, "store"), once]) == "false"


def test_the_top_line_is_the_counters_false_sharing_named_from_the_binary() -> None:
    result = load_coherence(FIX / "fs-unpadded", [FS_BIN])
    assert result is not None
    top = result.lines[0]
    assert (top.symbol, top.region, top.sharing, top.cores) == ("fs_unpadded", "bss", "false", 2)
    stores = [i for i in top.instructions if i.kind == "store" and i.transfers]
    assert stores and stores[0].symbol is not None
    assert stores[0].symbol.startswith("bump_unpadded+") and stores[0].offsets == [0, 15]
    assert result.transfers_per_item == result.transfers / 400000


def test_rust_names_on_a_line_read_as_c2c_users_expect() -> None:
    sleep = "_ZN10rayon_core5sleep5Sleep5sleep17h0123456789abcdefE"
    line = CoherenceLine(
        0x1000,
        symbol=f"{sleep}, fs_unpadded",
        instructions=[CoherenceInsn(0x400000, f"{sleep}+0x40", "ldaxr", "excl"),
                      CoherenceInsn(0x400010, "bump_unpadded+0x8", "str", "store")],
    )  # fmt: skip
    demangle_names([line])
    assert line.symbol == "rayon_core::sleep::Sleep::sleep, fs_unpadded"
    assert [i.symbol for i in line.instructions] == [
        "rayon_core::sleep::Sleep::sleep+0x40",
        "bump_unpadded+0x8",
    ]


# --------------------------------------------------------------------------- records


def test_results_round_trip_and_read_junk_tolerantly() -> None:
    result = load_coherence(FIX / "fs-unpadded", [FS_BIN])
    assert result is not None
    data = json.loads(json.dumps(result.to_dict()))
    assert CoherenceResult.from_value(data) == result
    junk = CoherenceResult.from_value(
        {"transfers": "many", "lines": [{"line": "x"}, {"line": 64, "new": 1}], "future": 2}
    )
    assert junk is not None and junk.transfers == 0 and len(junk.lines) == 1
    assert junk.lines[0].other == {"new": 1} and junk.other == {"future": 2}
    assert junk.to_dict()["future"] == 2


def test_a_stored_run_keeps_its_coherence(tmp_path: Path) -> None:
    result = load_coherence(FIX / "fs-unpadded", [FS_BIN])
    record = RunRecord("r1", "g1", "ok", extra={"coherence": result.to_dict() if result else {}})
    assert record.extra.coherence == result
    back = RunRecord(**{**record.__dict__, "extra": json.loads(json.dumps(record.extra.to_dict()))})
    assert back.extra.coherence == result


def test_lseprof_run_prints_transfers_per_run_group() -> None:
    result = load_coherence(FIX / "fs-unpadded", [FS_BIN])
    runs = [
        RunRecord(f"g1-r{i}", "g1", "ok", variant="command", extra={"coherence": result})
        for i in range(2)
    ]
    (line,) = coherence_lines([*runs, RunRecord("g2-r0", "g2", "ok")])
    assert line.startswith("cache lines between cores, command") and "mean of 2 runs" in line
    assert "0.1151 transfers per item" in line and "top line fs_unpadded: 46,010" in line
    assert line.endswith("lseprof report g1-r0 shows the lines")


def test_the_dashboard_group_page_shows_the_lines(tmp_path: Path) -> None:
    result = load_coherence(FIX / "fs-unpadded", [FS_BIN])
    assert result is not None
    result.lines[0].symbol = "<script>x</script>"
    record = RunRecord("r1", "g1", "ok", workload="bpe", variant="rayon", threads=2)
    record.extra.coherence = result
    others = [RunRecord("r2", "g1", "ok", workload="bpe"), RunRecord("r3", "g2", "ok")]
    build_dashboard([record, *others], tmp_path)
    page = (tmp_path / "groups" / group_file("g1")).read_text()
    assert "<h2>Cache lines between cores</h2>" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert "Cache lines between cores" not in (tmp_path / "groups" / group_file("g2")).read_text()


# --------------------------------------------------------------------------- capture


def test_plugin_options_and_qemu_argv(tmp_path: Path) -> None:
    settings = CoherenceSettings()
    assert settings.options() == {
        "filter": "proc", "flush": "5", "top": "20", "lines": "5000",
        "quantum": "100", "quantum_mode": "rr",
    }  # fmt: skip
    free = CoherenceSettings(interleave="free")
    assert "quantum" not in free.options()
    args = coherence_plugin_args(Path("/a,b/lib.so"), Path("/out,x/coherence.txt"), free)
    assert args[0] == "-plugin" and args[1].startswith("/a,,b/lib.so,out=/out,,x/coherence.txt,")
    share = Share(tmp_path, "out", True, "/out")
    plain = qemu_command("qemu", tmp_path, tmp_path, [share], "max", 2, 1024)
    assert "-plugin" not in plain
    assert qemu_command("qemu", tmp_path, tmp_path, [share], "max", 2, 1024, args)[-2:] == args
    for bad in (
        CoherenceSettings(interleave="sometimes"),
        CoherenceSettings(quantum=0),
        CoherenceSettings(filter="kernel"),
    ):
        with pytest.raises(LseprofError):
            bad.check()


def test_another_qemu_is_refused_before_booting(tmp_path: Path) -> None:
    qemu = tmp_path / "qemu-system-aarch64"
    qemu.write_text("#!/bin/sh\necho 'QEMU emulator version 10.1.0 (Debian 1:10.1.0+ds-1)'\n")
    qemu.chmod(qemu.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(LseprofError) as caught:
        require_coherence(str(qemu), CoherenceSettings())
    assert "needs qemu-system-aarch64 10.0.2" in caught.value.message
    assert "is 10.1.0" in caught.value.message


def test_the_work_is_the_last_json_line_with_bytes_or_items() -> None:
    sink = open(os.devnull, "wb")  # noqa: SIM115
    tail = StdoutTail(sink)
    tail.write(b'{"items": 5}\nnoise\n{"bytes": 1048576, "items": 10, "ok": true}\n{"x": 1}\n')
    assert tail.work() == {"bytes": 1048576.0, "items": 10.0}
    sink.close()


def test_a_boots_file_goes_beside_the_run_it_recorded(tmp_path: Path) -> None:
    # lseprof run --target aarch64-vm --coherence: the boot's files, in its out
    # directory, go to the run's directory with the run's own command and work.
    out, run_dir = tmp_path / "out", tmp_path / "out" / "runs" / "r0"
    out.mkdir()
    for name in ("coherence.txt", "coherence.json"):
        shutil.copy(FIX / "fs-unpadded" / name, out / name)
    argv = ["/mnt/lseprof-coherence/aarch64/fs", "unpadded", "2", "200000"]
    work = reported_work({"test": "fs", "items": 400000, "ok": True, "seconds": 0.5})
    assert work == {"items": 400000.0}
    assert move_coherence(out, run_dir, {"argv": argv, "work": work})
    assert sorted(p.name for p in out.iterdir()) == ["runs"]
    meta = json.loads((run_dir / "coherence.json").read_text())
    assert (meta["format"], meta["argv"], meta["work"], meta["smp"]) == (1, argv, work, 2)
    result = load_coherence(run_dir, [FS_BIN])
    assert result is not None and result.lines[0].symbol == "fs_unpadded"
    assert not move_coherence(out, run_dir, {})  # nothing left to move


def test_coherence_runs_only_in_the_emulated_machine(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    for target in ("host", "aarch64"):
        proc = lseprof("run", "--target", target, "--coherence", "--store", store)
        assert_one_line_error(proc, "--coherence", "add --target aarch64-vm")


# --------------------------------------------------------------------------- diff


def test_welch_interval_agrees_with_scipys_t_test() -> None:
    from scipy import stats

    a, b = [10.0, 12.0, 11.0, 13.0], [20.0, 21.0, 19.0, 24.0]
    low, high = welch_interval(a, b) or (math.nan, math.nan)
    # scipy's own Welch test, another code path: its interval of mean(b) - mean(a).
    reference = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (low, high) == pytest.approx((reference.low, reference.high))
    # By hand: difference 9.5, standard error 1.2583 on 4.90 degrees of freedom, whose
    # t quantile lies between the tables' 2.5706 (5) and 2.7764 (4).
    assert (low + high) / 2 == pytest.approx(9.5)
    assert 2.5706 < (high - low) / 2 / 1.2583 < 2.7764
    assert welch_interval([1.0], [2.0, 3.0]) is None


def test_diff_of_repetitions_has_an_interval() -> None:
    unpadded = load_coherence(FIX / "fs-unpadded", [FS_BIN])
    padded = load_coherence(FIX / "fs-padded", [FS_BIN])
    assert unpadded is not None and padded is not None
    change = compare_coherence([unpadded, unpadded], [padded, padded])
    assert change is not None and change.per == "item" and change.runs_a == 2
    assert change.ci_low == change.ci_high == change.delta  # no spread
    single = compare_coherence([unpadded], [padded])
    assert single is not None and single.ci_low is None and "no interval" in single.notes[0]
