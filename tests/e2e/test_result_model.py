"""One result model, one way to name frames, each file read once (issue #21).

* ``lseprof.load(X).to_json()`` is ``lseprof report X --json`` for every input kind;
* speedscope, pprof, folded stacks and the differential flame graph name their frames
  as ``report`` names them, with the same shares (within 0.1 pt), guest code of an
  emulated dynamically linked program included: no ``guest-0x`` frame where report
  names the address;
* ``lseprof report`` runs ``perf script`` once per input file, exports and the
  scheduler view included.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

import lseprof
from tests.helpers import (
    AARCH64_BIN,
    FIX,
    LSEPROF,
    N1,
    PERF,
    X86,
    X86_BIN,
    needs_perf,
    needs_tool,
    run,
)

GO = shutil.which("go")
needs_go = needs_tool("go (golang-go)", GO is not None)


def _cli_json(path: Path | str, *args: str | Path, **kwargs: Any) -> str:
    proc = run([LSEPROF, "report", "--json", path, *args], cwd=FIX.parent.parent, **kwargs)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def sched_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A perf.data holding cpu-clock samples and scheduler events (perf record by hand)."""
    from lseprof.capture.sched_record import sched_tracepoints_problem

    if os.geteuid() == 0 and sched_tracepoints_problem() is not None:
        pytest.fail(
            f"scheduler tracepoints: {sched_tracepoints_problem()} (make test mounts "
            "tracefs as root)",
            pytrace=False,
        )
    if sched_tracepoints_problem() is not None:
        pytest.skip(f"scheduler tracepoints out of reach: {sched_tracepoints_problem()}")
    root = tmp_path_factory.mktemp("sched")
    handoff = root / "handoff"
    subprocess.run(
        [
            "gcc",
            "-O2",
            "-g",
            "-pthread",
            "-fno-omit-frame-pointer",
            "-o",
            handoff,
            FIX / "src" / "handoff.c",
        ],
        check=True,
    )
    data = root / "perf.data"
    subprocess.run(
        [
            "perf",
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-g",
            "-e",
            "sched:sched_switch",
            "-e",
            "sched:sched_wakeup",
            "-o",
            data,
            "--",
            handoff,
            "300",
            "200",
        ],
        check=True,
        capture_output=True,
    )
    return data


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A stored run of a small command, profiled by lseprof run: (store, run id)."""
    root = tmp_path_factory.mktemp("stored")
    store = root / "runs.sqlite"
    proc = run(
        [LSEPROF, "run", "--store", store, "--repeat", "1", "--json", "--", X86_BIN, "2", "3000"]
    )
    assert proc.returncode == 0, proc.stderr
    (entry,) = json.loads(proc.stdout)
    return store, str(entry["run_id"])


@needs_perf
@pytest.mark.parametrize(
    "args",
    [
        pytest.param([X86 / "perf.data"], id="perf.data"),
        pytest.param([X86 / "script.txt", "--binary", X86_BIN], id="perf-script"),
        pytest.param([PERF / "pastes" / "tui-screen-flat.txt"], id="pasted-report"),
        pytest.param([X86 / "report-callers.txt"], id="perf-report"),
        pytest.param([N1 / "script.txt", "--binary", AARCH64_BIN], id="emulated"),
    ],
)
def test_api_json_is_cli_json(args: list[Path | str]) -> None:
    path, rest = args[0], args[1:]
    binaries = [rest[i + 1] for i, a in enumerate(rest) if a == "--binary"]
    report = lseprof.load(path, binaries=binaries)
    assert _cli_json(path, *rest) == report.to_json() + "\n"


@needs_perf
def test_api_json_is_cli_json_with_scheduler_events(sched_profile: Path) -> None:
    report = lseprof.load(sched_profile)
    assert report.offcpu is not None and report.offcpu.wakeups
    text = report.to_json()
    assert json.loads(text)["offcpu"]["wakeups"] == report.offcpu.wakeups
    assert _cli_json(sched_profile) == text + "\n"


@needs_perf
def test_api_json_is_cli_json_for_a_stored_run(stored_run: tuple[Path, str]) -> None:
    store, run_id = stored_run
    report = lseprof.load(run_id, store=str(store))
    assert _cli_json(run_id, "--store", store) == report.to_json() + "\n"


# --------------------------------------------------------------------------- frame names


def _speedscope_self(path: Path) -> dict[str, float]:
    """Self share (percent) of each frame name: the last frame of every sample."""
    doc = json.loads(path.read_text())
    names = [f["name"] for f in doc["shared"]["frames"]]
    profile = doc["profiles"][0]
    total = sum(profile["weights"])
    out: dict[str, float] = {}
    for sample, weight in zip(profile["samples"], profile["weights"], strict=True):
        out[names[sample[-1]]] = out.get(names[sample[-1]], 0.0) + 100.0 * weight / total
    return out


def _folded_self(path: Path, column: int) -> dict[str, float]:
    """Self share of each leaf name in a two-column folded file (column 1: A, 2: B)."""
    rows = [line.rsplit(" ", 2) for line in path.read_text().splitlines() if line[:1] != "#"]
    total = sum(int(r[column]) for r in rows)
    out: dict[str, float] = {}
    for row in rows:
        leaf = row[0].rsplit(";", 1)[-1]
        out[leaf] = out.get(leaf, 0.0) + 100.0 * int(row[column]) / total
    return out


def _pprof_self(path: Path) -> dict[str, float]:
    from tests.e2e.test_exports import _pprof_top  # go tool pprof's own reading

    return _pprof_top(path)


def _report_self(path: Path | str, *args: str | Path) -> dict[str, float]:
    """The 10 heaviest names of report's top symbols, each summed over its rows (a
    function's samples can be split between categories: by what a kernel function
    served, or work and inline_atomic)."""
    doc = json.loads(_cli_json(path, "--top", "200", *args))
    out: dict[str, float] = {}
    for row in doc["top_symbols"]:
        out[row["symbol"]] = out.get(row["symbol"], 0.0) + row["share"]
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:10])


def assert_exports_name_frames_as_report(path: Path | str, tmp: Path, *args: str | Path) -> None:
    """The top 10 named frames of report: the same names, with the same shares (0.1 pt),
    in speedscope, pprof, folded stacks and the differential flame graph; and no
    guest-0x frame anywhere when report names every guest address it shows."""
    report = _report_self(path, *args)
    views: dict[str, dict[str, float]] = {}
    for kind, out in (("speedscope", tmp / "x.speedscope.json"), ("pprof", tmp / "x.pb.gz")):
        done = run([LSEPROF, "report", "--format", kind, "-o", out, path, *args])
        assert done.returncode == 0, done.stderr
        if kind == "speedscope":
            views[kind] = _speedscope_self(out)
            frames = json.loads(out.read_text())["shared"]["frames"]
            assert not [f["name"] for f in frames if f["name"].startswith("guest-0x")]
        elif GO is not None:
            views[kind] = _pprof_self(out)
    folded, flame = tmp / "x.folded", tmp / "x.html"
    done = run([LSEPROF, "diff", path, path, "--folded", folded, "--flamegraph", flame, *args])
    assert done.returncode == 0, done.stderr
    views["folded A"], views["folded B"] = _folded_self(folded, 1), _folded_self(folded, 2)
    assert "guest-0x" not in folded.read_text() and "guest-0x" not in flame.read_text()
    named = {name: share for name, share in report.items() if not name.startswith("[")}
    assert len(named) >= 3, report
    for view, shares in views.items():
        for name, share in named.items():
            assert shares.get(name, 0.0) == pytest.approx(share, abs=0.1), (view, name, shares)


@needs_perf
def test_a_host_profile_exports_the_names_report_gives(tmp_path: Path) -> None:
    assert_exports_name_frames_as_report(X86 / "perf.data", tmp_path)


@needs_perf
def test_a_stored_run_exports_the_names_report_gives(
    stored_run: tuple[Path, str], tmp_path: Path
) -> None:
    store, run_id = stored_run
    assert_exports_name_frames_as_report(run_id, tmp_path, "--store", store)


# --------------------------------------------------------------------------- one pass


@pytest.fixture()
def perf_log(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A perf that logs its arguments before running the real one ($LSEPROF_PERF)."""
    log = tmp_path / "perf.log"
    wrapper = tmp_path / "perf"
    real = shutil.which("perf")
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return log, {**os.environ, "LSEPROF_PERF": str(wrapper)}


def _script_passes(log: Path) -> dict[str, int]:
    """perf script invocations per input file."""
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines():
        words = line.split()
        if words and words[0] == "script":
            name = words[words.index("-i") + 1]
            counts[name] = counts.get(name, 0) + 1
    return counts


@needs_perf
@pytest.mark.parametrize(
    "extra",
    [[], ["--format", "speedscope", "-o", "OUT.json"], ["--format", "pprof", "-o", "OUT.pb.gz"]],
    ids=["json", "speedscope", "pprof"],
)
def test_perf_script_reads_each_file_once(
    sched_profile: Path, perf_log: tuple[Path, dict[str, str]], extra: list[str], tmp_path: Path
) -> None:
    log, env = perf_log
    args = [str(tmp_path / a) if a.startswith("OUT") else a for a in extra]
    proc = run([LSEPROF, "report", sched_profile, *args, *([] if args else ["--json"])], env=env)
    assert proc.returncode == 0, proc.stderr
    assert _script_passes(log) == {str(sched_profile): 1}
    if not args:  # the scheduler view came from that one pass
        assert json.loads(proc.stdout)["offcpu"]["wakeups"] > 0
