"""Naming what perf could not: qemu guest code, stripped binaries, --symfs; and the
outline-atomic helper paths (LSE vs LL/SC) under the two emulated CPUs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lseprof import Attribution, LseprofError
from lseprof.analysis.pipeline import analyze_file
from lseprof.readers.inputs import load
from lseprof.readers.perfmap import PerfMap
from lseprof.symbols.elf import ElfImage
from tests.helpers import A53, AARCH64_BIN, N1, STRIPPED, X86, X86_BIN, X86_STRIPPED_BIN


def _section(path: Path, binaries: list[Path]) -> Attribution:
    sections = analyze_file(path, binaries=binaries).sections
    assert len(sections) == 1
    return sections[0]


@pytest.mark.parametrize("run", [A53, N1], ids=["cortex-a53", "neoverse-n1"])
def test_guest_samples_resolve_to_outline_helpers_and_their_callers(run: Path) -> None:
    section = _section(run / "script.txt", [AARCH64_BIN])
    helpers = {h.symbol: h for h in section.helpers}
    counter = helpers["__aarch64_ldadd8_acq_rel"]
    assert (counter.op, counter.size, counter.order) == ("ldadd", 8, "acq_rel")
    assert counter.share > 10.0
    assert section.atomic_helper_share == pytest.approx(sum(h.share for h in section.helpers))
    # No guest callchain under qemu: callers come from the bl sites in the ELF.
    callers = {(c.helper, c.caller): c for c in section.helper_callers}
    bump = callers[("__aarch64_ldadd8_acq_rel", "bump_counter")]
    assert bump.basis == "static" and bump.share == pytest.approx(counter.share)
    assert ("__aarch64_cas4_acq", "__pthread_mutex_lock") in callers
    assert section.emulated_share > 50.0
    assert any("latest wins" in note for note in section.notes)


def test_cortex_a53_takes_the_llsc_loop_and_neoverse_n1_the_lse_instruction() -> None:
    a53 = {h.symbol: h for h in _section(A53 / "script.txt", [AARCH64_BIN]).helpers}
    n1 = {h.symbol: h for h in _section(N1 / "script.txt", [AARCH64_BIN]).helpers}
    for name in ("__aarch64_ldadd8_acq_rel",):
        old, new = a53[name], n1[name]
        assert old.lse_path_share == 0.0 and old.llsc_path_share is not None
        assert old.llsc_path_share > 0.8 * old.share
        assert new.llsc_path_share == 0.0 and new.lse_path_share is not None
        assert new.lse_path_share > 0.8 * new.share
    for helper in [*a53.values(), *n1.values()]:
        parts = [helper.lse_path_share, helper.llsc_path_share, helper.flag_path_share]
        assert sum(p or 0.0 for p in parts) <= helper.share + 1e-9


def test_guest_instructions_are_exact_addresses_in_the_elf() -> None:
    frame = load(A53 / "script.txt").samples
    build = analyze_file(A53 / "script.txt", binaries=[AARCH64_BIN])
    guest = build.capture.samples[build.capture.samples["precise"]]
    assert len(guest) > len(frame) // 2
    helper = guest[guest["symbol"] == "__aarch64_ldadd8_acq_rel"]
    symbols = ElfImage(AARCH64_BIN).symbols
    start = symbols.address_of("__aarch64_ldadd8_acq_rel")
    size = symbols.size_of("__aarch64_ldadd8_acq_rel")
    assert start is not None and size is not None
    assert len(helper) > 50  # else the checks below hold for no rows at all
    assert ((helper["ip"] >= start) & (helper["ip"] < start + size)).all()
    # cortex-a53 has no LSE: the helper's samples sit on its LL/SC loop, both halves seen.
    assert set(helper["insn"].astype(str)) - {""} == {"ldaxr", "stlxr"}


def test_without_the_elf_guest_code_stays_unnamed_with_a_hint() -> None:
    section = _section(A53 / "script.txt", [])
    assert section.helpers == []
    assert any("--binary" in note for note in section.notes)
    assert any(s.symbol.startswith("guest-0x") for s in section.top_symbols)


def test_perf_map_overlaps_resolve_to_the_latest_entry() -> None:
    map_path = next(A53.glob("perf-*.map"))
    pmap = PerfMap(map_path)
    rows = [line.split() for line in map_path.read_text().splitlines()]
    starts = np.array([int(r[0], 16) for r in rows], dtype=np.uint64)
    ends = starts + np.array([int(r[1], 16) for r in rows], dtype=np.uint64)
    probes = np.concatenate([starts, ends - np.uint64(1)])
    covering = (probes[:, None] >= starts[None, :]) & (probes[:, None] < ends[None, :])
    # The expected owner by brute force: the last line of the file covering the address.
    last = covering.shape[1] - 1 - np.argmax(covering[:, ::-1], axis=1)
    expected = np.where(covering.any(axis=1), last, -1)
    assert (covering.sum(axis=1) > 1).any(), "this capture has no overlapping entries"
    assert (pmap.entry_index(probes) == expected).all()


def test_stripped_binary_is_named_from_the_unstripped_one() -> None:
    without = load(STRIPPED / "script.txt").samples
    ours = without["dso"].astype(str).str.endswith("stripped/contend-x86_64")
    assert (without.loc[ours, "symbol"].astype(str) == "[unknown]").all()
    build = analyze_file(STRIPPED / "script.txt", binaries=[X86_BIN])
    named = build.capture.samples
    names = set(named.loc[ours.to_numpy(), "symbol"].astype(str))
    assert {"mix", "bump_counter"} <= names
    section = build.sections[0]
    assert section.categories["inline_atomic"] > 5.0


def test_symfs_finds_the_binary_under_its_recorded_path(tmp_path: Path) -> None:
    frame = load(STRIPPED / "script.txt").samples
    dso = next(d for d in frame["dso"].astype(str).unique() if d.endswith("contend-x86_64"))
    target = tmp_path / dso.lstrip("/")
    target.parent.mkdir(parents=True)
    shutil.copy(X86_BIN, target)
    build = analyze_file(STRIPPED / "script.txt", symfs=tmp_path)
    assert "bump_counter" in set(build.capture.samples["symbol"].astype(str))


def test_a_binary_of_another_architecture_is_refused() -> None:
    with pytest.raises(LseprofError, match="is aarch64 but the samples are x86_64"):
        analyze_file(X86 / "script.txt", binaries=[AARCH64_BIN])


def test_a_file_that_is_not_an_elf_is_refused() -> None:
    with pytest.raises(LseprofError, match="not an ELF"):
        analyze_file(X86 / "script.txt", binaries=[X86 / "script.txt"])


def test_the_stripped_file_itself_names_nothing_but_is_accepted() -> None:
    section = _section(STRIPPED / "script.txt", [X86_STRIPPED_BIN])
    assert sum(section.categories.values()) == pytest.approx(100.0)
