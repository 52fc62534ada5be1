"""Reading `perf script` text: layouts, callchains, events, emulated frames, bad lines."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from lseprof import LseprofError
from lseprof.readers.inputs import detect, load
from lseprof.readers.script import parse_script_text, split_frame_text
from lseprof.samples import COLUMNS, UNKNOWN
from tests.helpers import A53, DWARF, RAYON, SCRIPT_TEXTS, TWO, X86, script_sample_count


def _symbol_weights(path: Path) -> dict[str, float]:
    frame = load(path).samples
    sums = frame.groupby("symbol", observed=True)["weight"].sum()
    return {str(k): float(v) for k, v in sums.items()}


@pytest.mark.parametrize("path", SCRIPT_TEXTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_script_fixture_is_detected_and_has_the_documented_columns(path: Path) -> None:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    assert detect(path, data) == "perf-script"
    capture = load(path)
    assert capture.source_kind == "perf-script"
    assert set(COLUMNS) <= set(capture.samples.columns)
    assert len(capture.samples) > 50
    assert capture.unknown_lines == 0
    assert capture.samples["ip"].dtype == np.uint64


def test_default_layout_counts_every_sample_and_weighs_by_period() -> None:
    path = X86 / "script.txt"
    frame = load(path).samples
    assert len(frame) == script_sample_count(path)
    assert set(frame["event"].astype(str)) == {"cpu-clock"}
    assert set(frame["comm"].astype(str)) == {"contend-x86_64"}
    assert (frame["weight"] == frame["period"]).all()
    # Callchain frames carry DSO-relative addresses: mix+0x27 is at mix's ELF address + 0x27.
    mix = frame[frame["symbol"] == "mix"]
    assert len(mix) > 100  # else the .all() checks hold for no rows at all
    assert (mix["ip"] < 0x10000).all() and (mix["symoff"] >= 0).all()
    assert (frame["caller"].astype(str) != "").mean() > 0.9
    assert "start_thread" in set(frame.loc[frame["symbol"] == "bump_counter", "caller"].astype(str))


def test_one_line_layout_gives_the_same_samples_without_callers() -> None:
    with_chain = _symbol_weights(X86 / "script.txt")
    one_line = _symbol_weights(X86 / "script-nocallchain.txt")
    assert with_chain == pytest.approx(one_line)
    frame = load(X86 / "script-nocallchain.txt").samples
    assert (frame["caller"].astype(str) == "").all()
    # One-line samples print runtime (ASLR) addresses of the PIE.
    mix_ips = frame.loc[frame["symbol"] == "mix", "ip"]
    assert len(mix_ips) > 100 and (mix_ips > 0x10000).all()


def test_fields_without_period_or_event_weigh_each_sample_once() -> None:
    capture = load(X86 / "script-fields.txt")
    frame = capture.samples
    assert capture.events == [""]
    assert frame["period"].isna().all()
    assert (frame["weight"] == 1.0).all()
    assert len(frame) == len(load(X86 / "script.txt").samples)


def test_two_interleaved_events_become_two_sections() -> None:
    capture = load(TWO / "script.txt")
    assert sorted(capture.events) == ["cpu-clock", "task-clock"]
    counts = capture.samples["event"].astype(str).value_counts().to_dict()
    for event in ("cpu-clock", "task-clock"):
        assert counts[event] == script_sample_count(TWO / "script.txt", event)


def test_qemu_samples_are_charged_to_the_guest_instruction_on_their_stack() -> None:
    frame = load(A53 / "script.txt").samples
    rerooted = frame[frame["emulated"]]
    # qemu's own helpers (emulating the atomics) are the sampled frames in many samples;
    # with DWARF stacks they are charged to the guest instruction that called them.
    assert len(rerooted) > 0.1 * len(frame)
    assert rerooted["symbol"].astype(str).str.startswith("guest-0x").all()


def test_inline_expansions_belong_to_the_sampled_function() -> None:
    frame = load(DWARF / "script.txt").samples
    assert len(frame) == script_sample_count(DWARF / "script.txt")
    # "___pthread_mutex_lock+0x1b (inlined)" with no real frame after it: perf's inline
    # stack stands for pthread_mutex_lock itself, called from locked_update.
    lock = frame[frame["symbol"] == "___pthread_mutex_lock"]
    assert len(lock) and set(lock["caller"].astype(str)) == {"locked_update"}
    # No sample is charged to an inline frame when its real frame follows it.
    assert not frame["symbol"].astype(str).str.endswith("(inlined)").any()


def test_gzip_text_and_rust_symbols() -> None:
    frame = load(RAYON / "script.txt.gz").samples
    names = set(frame["symbol"].astype(str))
    assert "crossbeam_epoch::internal::Global::try_advance" in names
    assert any(n.startswith("crossbeam_deque::deque::Stealer<T>::steal") for n in names)


def test_unknown_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    lines = (X86 / "script.txt").read_text().splitlines(keepends=True)
    pasted = tmp_path / "pasted.txt"
    # A real capture with two lines of chat pasted into it.
    pasted.write_text(
        "".join(lines[:40])
        + "see, this is where it hangs\n"
        + "".join(lines[40:])
        + "-- end of paste --\n"
    )
    capture = load(pasted)
    assert capture.unknown_lines == 2
    assert capture.unknown_examples[0] == "see, this is where it hangs"
    assert len(capture.samples) == len(load(X86 / "script.txt").samples)


def test_frame_text_splitting() -> None:
    assert split_frame_text("mix+0x27 (/tmp/contend)") == ("mix", 0x27, "/tmp/contend")
    assert split_frame_text("[unknown] ([unknown])") == (UNKNOWN, -1, UNKNOWN)
    assert split_frame_text("foo (/tmp/x (deleted))") == ("foo", -1, "/tmp/x (deleted)")
    assert split_frame_text("operator+(int)+0x10 (/lib/a.so)") == (
        "operator+(int)",
        0x10,
        "/lib/a.so",
    )


def test_text_without_samples_is_refused(tmp_path: Path) -> None:
    only_frames = tmp_path / "frames.txt"
    only_frames.write_text("\tffffffff815c4a65 pcpu_alloc_noprof+0x5 ([kernel.kallsyms])\n" * 3)
    # The reason must be "no samples in it", not some other refusal (missing file, ...).
    refused = r"is not perf\.data, perf script, perf report or perf annotate"
    with pytest.raises(LseprofError, match=refused):
        load(only_frames)
    parsed = parse_script_text(only_frames.read_bytes())
    assert parsed.header_lines == 0
