"""Reading perf.data through this machine's perf: fields, slices, lost samples, errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from lseprof import LseprofError
from lseprof.analysis.pipeline import analyze_file
from lseprof.readers.perf_data import read_perf_data
from tests.helpers import LOST, STRIPPED, TWO, X86, X86_BIN, X86_OTHER_BUILD, needs_perf

pytestmark = needs_perf


def _stats(path: Path) -> dict[str, int]:
    """SAMPLE events per event name, straight from `perf report --stats`."""
    text = subprocess.run(
        ["perf", "report", "--stats", "-i", str(path)], capture_output=True, text=True, check=True
    ).stdout
    counts: dict[str, int] = {}
    event = None
    for line in text.splitlines():
        if (m := re.match(r"^(\S.*) stats:\s*$", line)) and m[1] != "Aggregated":
            event = m[1]
        elif (m := re.match(r"^\s*SAMPLE events:\s*(\d+)", line)) and event:
            counts[event] = int(m[1])
    return counts


@pytest.mark.parametrize(
    "path",
    [X86 / "perf.data", TWO / "perf.data", STRIPPED / "perf.data", LOST / "perf.data"],
    ids=lambda p: p.parent.name,
)
def test_every_sample_is_read(path: Path) -> None:
    capture = read_perf_data(path)
    counts = capture.samples["event"].astype(str).value_counts().to_dict()
    assert counts == _stats(path)
    assert capture.perf_version and capture.arch == "x86_64"
    assert capture.build_ids  # perf buildid-list
    assert capture.unknown_lines == 0


def test_time_slices_read_the_same_samples_as_one_pass() -> None:
    path = X86 / "perf.data"
    whole = read_perf_data(path, jobs=1)
    sliced = read_perf_data(path, jobs=3, split_above_bytes=0)
    assert len(sliced.samples) == len(whole.samples)

    def by_symbol(frame: pd.DataFrame) -> dict[str, float]:
        sums = frame.groupby("symbol", observed=True)["weight"].sum()
        return {str(k): float(v) for k, v in sums.items()}

    assert by_symbol(sliced.samples) == pytest.approx(by_symbol(whole.samples))


def test_comm_comes_from_task_records_and_callers_from_two_frames() -> None:
    frame = read_perf_data(X86 / "perf.data").samples
    assert set(frame["comm"].astype(str)) == {"contend-x86_64"}
    assert (frame["caller"].astype(str) != "").mean() > 0.9
    assert (
        frame["time"].isna().all()
    )  # not asked from perf: see profiler/lseprof/readers/perf_data/reader.py


def test_lost_samples_per_event() -> None:
    capture = read_perf_data(LOST / "perf.data")
    assert capture.lost_samples == {"cpu-clock": 13}


def test_one_line_samples_without_callchains_find_inline_atomics() -> None:
    # x86-lost was recorded without -g: locations sit on the header line with runtime
    # addresses. perf names them if the binary is still at its recorded path; in a
    # checkout elsewhere --binary names them through the recorded mmaps.
    section = analyze_file(LOST / "perf.data", binaries=[X86_BIN]).sections[0]
    assert section.categories["inline_atomic"] > 5.0
    assert {i.insn for i in section.inline_atomics} >= {"lock add"}


def test_runtime_addresses_of_a_moved_binary_are_named_through_its_mmaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A profile read where the binary is not at its recorded path (another machine, a
    # rebuilt tree): record a copy without callchains, then move the copy away. An
    # empty build-id cache keeps perf from finding it there (as on another machine).
    monkeypatch.setenv("HOME", str(tmp_path))  # perf's build-id cache is $HOME/.debug
    there = tmp_path / "there"
    there.mkdir()
    shutil.copy2(X86_BIN, there / X86_BIN.name)
    data = tmp_path / "perf.data"
    subprocess.run(
        [
            "perf",
            "record",
            "-q",
            "-N",
            "-e",
            "cpu-clock",
            "-F",
            "2000",
            "-o",
            str(data),
            "--",
            str(there / X86_BIN.name),
            "2",
            "40",
        ],
        check=True,
        capture_output=True,
    )
    moved = tmp_path / "here" / X86_BIN.name
    moved.parent.mkdir()
    (there / X86_BIN.name).rename(moved)
    blind = analyze_file(data).sections[0]
    assert blind.categories.get("inline_atomic", 0.0) == 0.0  # perf alone cannot name them
    section = analyze_file(data, binaries=[moved]).sections[0]
    assert section.categories["inline_atomic"] > 5.0
    assert {i.insn for i in section.inline_atomics} >= {"lock add"}
    names = set(read_perf_data(data).samples["symbol"].astype(str))
    assert "[unknown]" in names and "bump_counter" not in names
    top = {s.symbol for s in section.top_symbols}
    assert "bump_counter" in top, top


def test_two_events_two_sections() -> None:
    sections = analyze_file(TWO / "perf.data").sections
    assert [s.event for s in sections] == ["cpu-clock", "task-clock"]
    stats = _stats(TWO / "perf.data")
    assert {s.event: s.samples for s in sections} == stats


def test_a_binary_of_another_build_is_refused() -> None:
    with pytest.raises(LseprofError, match="another build"):
        analyze_file(X86 / "perf.data", binaries=[X86_OTHER_BUILD])


def test_damaged_files_are_refused(tmp_path: Path) -> None:
    data = (X86 / "perf.data").read_bytes()
    empty = tmp_path / "empty.data"
    empty.write_bytes(b"")
    with pytest.raises(LseprofError, match="empty"):
        read_perf_data(empty)
    cut = tmp_path / "cut.data"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(LseprofError, match="truncated"):
        read_perf_data(cut)
    header_only = tmp_path / "magic.data"
    header_only.write_bytes(data[:8])
    with pytest.raises(LseprofError, match="perf cannot read it"):
        read_perf_data(header_only)


def test_missing_perf_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real environment without perf: an empty PATH (no stand-in binaries).
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("LSEPROF_PERF", raising=False)
    assert shutil.which("perf") is None
    with pytest.raises(LseprofError, match="perf is not on PATH"):
        read_perf_data(X86 / "perf.data")


def _script_text(path: Path, fields: str, *extra: str) -> bytes:
    return subprocess.run(
        [
            "perf",
            "script",
            "-i",
            str(path),
            "-F",
            fields,
            "--max-stack",
            "2",
            "--no-inline",
            "--show-task-events",
            "--show-lost-events",
            *extra,
        ],
        capture_output=True,
        check=True,
    ).stdout


def test_pid_comes_from_the_task_records() -> None:
    # perf is not asked for the pid (less text to format); COMM/FORK records name it.
    frame = read_perf_data(X86 / "perf.data").samples
    ours = set(zip(frame["pid"].tolist(), frame["tid"].tolist(), strict=True))
    theirs = set()
    for line in _script_text(X86 / "perf.data", "pid,tid").decode().splitlines():
        if (m := re.match(r"^\s*(\d+)/(\d+)\s*$", line)) is not None:
            theirs.add((int(m[1]), int(m[2])))
    assert ours == theirs


@pytest.mark.parametrize(
    "fields, event",
    [
        ("tid,event,period,ip,sym,dso", None),
        ("tid,period,ip,sym,dso", "cpu-clock"),
        ("pid,tid,event,period,ip,sym,dso", None),
    ],
)
def test_deduplicated_blocks_give_what_the_bulk_parse_gives(
    fields: str, event: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lseprof.readers.script.own_layout as psp

    text = _script_text(X86 / "perf.data", fields)

    def parts(chunk: int) -> psp.ScriptParts:
        reader = psp.OwnScriptReader("perf-data", event=event)
        for start in range(0, len(text), chunk):
            reader.feed(text[start : start + chunk])
        reader.feed(b"", final=True)
        return reader.finish_parts()

    deduplicated = parts(4_000)  # many chunks: blocks seen in earlier ones are reused
    assert deduplicated.unknown_lines == 0
    monkeypatch.setattr(psp, "DEDUP_MAX_BLOCKS", 0)  # every chunk parsed in bulk
    bulk = parts(4_000)
    assert len(deduplicated.columns["leaf"]) == len(bulk.columns["leaf"]) > 400

    def rows(p: psp.ScriptParts) -> list[tuple[object, ...]]:
        c = p.columns
        return [
            (
                p.frames[leaf] if leaf >= 0 else None,
                p.frames[caller] if caller >= 0 else None,
                p.events[ev],
                pid,
                tid,
                period,
            )
            for leaf, caller, ev, pid, tid, period in zip(
                c["leaf"].tolist(),
                c["caller"].tolist(),
                c["event"].tolist(),
                c["pid"].tolist(),
                c["tid"].tolist(),
                c["period"].tolist(),
                strict=True,
            )
        ]

    assert rows(deduplicated) == rows(bulk)


def test_lost_records_in_the_callchain_layout_are_counted() -> None:
    from lseprof.readers.script import OwnScriptReader

    text = (
        b" 4242 PERF_RECORD_COMM exec: work:4242/4242\n"
        b" 4242      20000 cpu-clock: \n\t          401136 mix (/tmp/work)\n"
        b"\t          40121d main (/tmp/work)\n\n"
        b" 4242 PERF_RECORD_LOST lost 7\n"
        b" 4242      20000 cpu-clock: \n\t          401136 mix (/tmp/work)\n"
        b"\t          40121d main (/tmp/work)\n\n"
    )
    reader = OwnScriptReader("perf-data")
    reader.feed(text, final=True)
    parts = reader.finish_parts()
    assert (parts.lost, parts.lost_records, parts.unknown_lines) == (7, 1, 0)
    assert parts.columns["leaf"].size == 2
    assert parts.tasks.pids == {4242: 4242}


def test_no_stats_pass_without_lost_records(monkeypatch: pytest.MonkeyPatch) -> None:
    # perf script is the only full pass over a file that lost nothing.
    import lseprof.readers.perf_data.reader as perf_data

    def no(*_args: object) -> dict[str, int]:
        raise AssertionError("perf report --stats ran")

    monkeypatch.setattr(perf_data, "read_lost", no)
    capture = read_perf_data(X86 / "perf.data", jobs=2, split_above_bytes=0)
    assert capture.lost_samples == {"cpu-clock": 0}
