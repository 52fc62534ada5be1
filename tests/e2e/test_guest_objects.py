"""Emulated guest code in PIE executables and shared objects, named through the
guest's recorded mappings (lseprof.symbols.guest.objects).

Everything is real: tests/fixtures/src/contend.c cross-built as a dynamically
linked aarch64 PIE (its helpers linked from libgcc, its mutex in the arm64 libc),
run under `qemu-aarch64 -perfmap` by `perf record -d --buildid-mmap`, exactly as
`lseprof run --target aarch64` records, and every name checked against
`aarch64-linux-gnu-objdump -d` of the object it was given in.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

import lseprof
from tests.helpers import LSEPROF, REPO, run

pytestmark = pytest.mark.qemu

SRC = REPO / "tests" / "fixtures" / "src" / "contend.c"
LIBC = "libc.so.6"


def _tools() -> None:
    for tool in ("perf", "qemu-aarch64", "aarch64-linux-gnu-gcc", "aarch64-linux-gnu-objdump"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run `make setup`")


@dataclass
class Recording:
    dir: Path
    exe: Path
    perf_data: Path
    perf_map: Path


def _record(work: Path, exe: Path, qemu_args: tuple[str, ...] = ()) -> Recording:
    pidfile = work / "pid"
    perf_data = work / "perf.data"
    proc = run(
        [
            "perf",
            "record",
            "-q",
            "-d",
            "--buildid-mmap",
            "-e",
            "cpu-clock",
            "-F",
            "999",
            "-g",
            "-o",
            perf_data,
            "--",
            "/bin/sh",
            "-c",
            f'echo $$ > {pidfile}; exec "$@"',
            "sh",
            "qemu-aarch64",
            *qemu_args,
            "-perfmap",
            exe,
            "2",
            "1500",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    pid = pidfile.read_text().strip()
    perf_map = work / f"perf-{pid}.map"
    shutil.move(f"/tmp/perf-{pid}.map", perf_map)
    return Recording(work, exe, perf_data, perf_map)


@pytest.fixture(scope="module")
def pie(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    _tools()
    work = tmp_path_factory.mktemp("pie")
    exe = work / "contend-pie"
    subprocess.run(
        ["aarch64-linux-gnu-gcc", "-O2", "-pthread", "-fPIE", "-pie", "-o", exe, SRC], check=True
    )
    return _record(work, exe)


def _report(path: Path, *args: str | Path) -> dict[str, object]:
    proc = run([LSEPROF, "report", path, "--json", "--top", "40", *args])
    assert proc.returncode == 0, proc.stderr
    data: dict[str, object] = json.loads(proc.stdout)
    return data


def _has_symtab(path: Path) -> bool:
    with path.open("rb") as f:
        return ELFFile(f).get_section_by_name(".symtab") is not None


def _function_ranges(path: Path) -> list[tuple[int, int]]:
    """[start, end) of every sized function symbol, from .symtab and .dynsym."""
    with path.open("rb") as f:
        elf = ELFFile(f)
        return [
            (sym["st_value"], sym["st_value"] + sym["st_size"])
            for name in (".symtab", ".dynsym")
            if isinstance(table := elf.get_section_by_name(name), SymbolTableSection)
            for sym in table.iter_symbols()
            if sym["st_info"]["type"] == "STT_FUNC"
            and sym["st_size"] > 0
            and sym["st_shndx"] != "SHN_UNDEF"
        ]


_LABEL = re.compile(r"^([0-9a-f]+) <(.+)>:$")


def _objdump_labels(path: Path) -> tuple[np.ndarray, list[str]]:
    """Start addresses and names of objdump's function labels (its own symbol reading)."""
    text = subprocess.run(
        ["aarch64-linux-gnu-objdump", "-d", str(path)], capture_output=True, text=True, check=True
    ).stdout
    starts, names = [], []
    for line in text.splitlines():
        m = _LABEL.match(line)
        if m:
            starts.append(int(m[1], 16))
            names.append(m[2])
    order = np.argsort(starts)
    return np.array(starts, np.uint64)[order], [names[i] for i in order]


def test_pie_and_libc_named_in_their_objects(pie: Recording) -> None:
    data = _report(pie.perf_data)
    helpers = {(h["symbol"], Path(h["dso"]).name) for h in data["helpers"]}  # type: ignore[index,union-attr]
    # The PIE's own libgcc helper copy, named with its object, not libc's.
    assert ("__aarch64_ldadd8_acq_rel", "contend-pie") in helpers, helpers
    tops = {(t["symbol"], Path(t["dso"]).name) for t in data["top_symbols"]}  # type: ignore[index,union-attr]
    assert ("mix", "contend-pie") in tops, tops
    # Code in the stripped arm64 libc, named from its dynamic symbols.
    assert any(
        dso == LIBC and sym.startswith(("__pthread_mutex", "pthread_mutex", "__lll"))
        for sym, dso in tops
    ), tops
    assert not any(sym in ("_fini", "_init") for sym, _ in tops), tops
    # The arm64 libc and dynamic loader are stripped: their internal functions (the mutex
    # unlock path, relocation at start-up) have no symbol left, and only code of objects
    # without a symbol table may stay unnamed; every sample of the PIE is named.
    assert data["guest_named_share"] is not None and data["guest_named_share"] >= 75.0, data
    unnamed = {
        t["dso"]
        for t in data["top_symbols"]  # type: ignore[index,union-attr]
        if t["symbol"] == "[unknown]" or t["symbol"].startswith("guest-0x")
    }
    guest_unnamed = {d for d in unnamed if Path(d).name not in ("qemu-aarch64", "[unknown]")}
    assert str(pie.exe) not in guest_unnamed, unnamed
    assert all(not _has_symtab(Path(d)) for d in guest_unnamed), unnamed
    # qemu's own code: about half of an emulated run, shown for what it is.
    assert data["emulator_share"] is not None and 20.0 < data["emulator_share"] < 90.0
    callers = {(c["helper"], c["caller"]) for c in data["helper_callers"]}  # type: ignore[index,union-attr]
    assert ("__aarch64_ldadd8_acq_rel", "bump_counter") in callers, callers


def test_every_guest_name_agrees_with_objdump(pie: Recording) -> None:
    """0 misattributed guest samples: each named guest row's function starts where
    objdump's label covering that address starts."""
    frame = lseprof.load(pie.perf_data).samples
    guest = frame["precise"].to_numpy()
    checked = 0
    objects = {d for d in frame["dso"].astype(str)[guest] if d.startswith("/")}
    assert str(pie.exe) in objects and any(d.endswith(LIBC) for d in objects), objects
    unknown = (frame["symbol"].astype(str) == "[unknown]").to_numpy()
    for obj in sorted(objects):
        in_obj = guest & (frame["dso"].astype(str) == obj).to_numpy()
        # An unnamed sample is one that no function symbol of the object covers (stripped
        # internals), not one a symbol was missed for.
        ranges = _function_ranges(Path(obj))
        missed = [
            hex(a)
            for a in frame["ip"].to_numpy(np.uint64)[in_obj & unknown].tolist()
            if any(lo <= a < hi for lo, hi in ranges)
        ]
        assert not missed, (obj, missed[:5])
        rows = frame[in_obj & ~unknown]
        if rows.empty:
            continue
        starts, names = _objdump_labels(Path(obj))
        vaddr = rows["ip"].to_numpy(np.uint64)
        ours = vaddr - rows["symoff"].to_numpy().astype(np.uint64)
        idx = np.searchsorted(starts, vaddr, side="right") - 1
        theirs = starts[idx]
        # objdump labels a stripped object (libc, the loader) by exported symbols only; a
        # helper we found by its code shape sits inside some exported label there.
        fingerprinted = rows["symbol"].astype(str).str.startswith("__aarch64_").to_numpy() & (
            not _has_symtab(Path(obj))
        )
        bad = ~fingerprinted & (ours != theirs)
        assert not bad.any(), [
            (hex(int(v)), s, names[i])
            for v, s, i in zip(
                vaddr[bad][:5],
                rows["symbol"].astype(str).to_numpy()[bad][:5],
                idx[bad][:5],
                strict=True,
            )
        ]
        checked += int((~fingerprinted).sum())
    assert checked > 100


def test_replaced_object_is_not_misnamed(pie: Recording, tmp_path: Path) -> None:
    """A rebuilt executable at the recorded path (another build-id): its samples stay
    unnamed with a note, and --binary with the profiled copy names them again."""
    copy = tmp_path / "recorded"
    shutil.copytree(pie.dir, copy)
    original = tmp_path / "contend-pie"
    shutil.copy(pie.exe, original)
    try:
        subprocess.run(
            ["aarch64-linux-gnu-gcc", "-O0", "-pthread", "-fPIE", "-pie", "-o", pie.exe, SRC],
            check=True,
        )
        data = _report(copy / "perf.data")
        notes = " ".join(data["notes"])  # type: ignore[arg-type]
        assert "contend-pie" in notes and "another build" in notes and "--binary" in notes
        tops = {(t["symbol"], Path(t["dso"]).name) for t in data["top_symbols"]}  # type: ignore[index,union-attr]
        assert not any(dso == "contend-pie" and sym != "[unknown]" for sym, dso in tops), tops
        fixed = _report(copy / "perf.data", "--binary", original)
        tops = {(t["symbol"], Path(t["dso"]).name) for t in fixed["top_symbols"]}  # type: ignore[index,union-attr]
        assert ("mix", "contend-pie") in tops, tops
    finally:
        shutil.copy(original, pie.exe)


def test_missing_object_then_symfs(pie: Recording, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere.bin"
    shutil.move(pie.exe, moved)
    try:
        proc = run([LSEPROF, "report", pie.perf_data])
        assert proc.returncode == 0, proc.stderr
        assert "is not on this machine" in proc.stdout and "--symfs" in proc.stdout
        root = tmp_path / "root"
        (root / str(pie.exe).lstrip("/")).parent.mkdir(parents=True)
        shutil.copy(moved, root / str(pie.exe).lstrip("/"))
        data = _report(pie.perf_data, "--symfs", root)
        tops = {(t["symbol"], Path(t["dso"]).name) for t in data["top_symbols"]}  # type: ignore[index,union-attr]
        assert ("mix", "contend-pie") in tops, tops
    finally:
        shutil.move(moved, pie.exe)


def test_nonzero_guest_base_is_detected(tmp_path: Path) -> None:
    """qemu -B moves the guest: its addresses no longer equal the mappings' host
    addresses. The mappings are then not used (said so), and nothing is misnamed."""
    _tools()
    exe = tmp_path / "contend-pie"
    subprocess.run(
        ["aarch64-linux-gnu-gcc", "-O2", "-pthread", "-fPIE", "-pie", "-o", exe, SRC], check=True
    )
    rec = _record(tmp_path, exe, ("-B", "0x100000000"))
    data = _report(rec.perf_data)
    assert "guest base is not 0" in " ".join(data["notes"]), data["notes"]  # type: ignore[arg-type]
    tops = {(t["symbol"], Path(t["dso"]).name) for t in data["top_symbols"]}  # type: ignore[index,union-attr]
    assert not any(dso in ("contend-pie", LIBC) for _, dso in tops), tops
