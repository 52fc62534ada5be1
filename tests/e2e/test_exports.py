"""Exports that other viewers open: pprof read back by the real `go tool pprof`,
speedscope loaded into the real speedscope (pinned npm release) in headless
Chromium. Inputs: captured perf output (an emulated aarch64 run with helpers),
a perf.data, and a stored run."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ARTIFACTS, LSEPROF, REPO, needs_tool, run

A53 = REPO / "tests/fixtures/perf/aarch64-qemu-a53/script.txt"
A53_BIN = REPO / "tests/fixtures/bin/contend-aarch64"
X86_DATA = REPO / "tests/fixtures/perf/x86-contend/perf.data"
SPEEDSCOPE = REPO / "data/viewers/node_modules/speedscope/dist/release/index.html"

GO = shutil.which("go")

needs_go = needs_tool("go (golang-go)", GO is not None)


def _report_json(*args: str | Path) -> dict[str, Any]:
    proc = run([LSEPROF, "report", "--json", *args])
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _export(kind: str, out: Path, *args: str | Path) -> None:
    proc = run([LSEPROF, "report", "--format", kind, "-o", out, *args])
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and out.stat().st_size > 0


def _pprof_top(path: Path) -> dict[str, float]:
    """flat% per function from `go tool pprof -top` (its own reading of the file)."""
    text = subprocess.run(
        [GO or "go", "tool", "pprof", "-top", "-nodecount=1000", "-nodefraction=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = {}
    for line in text.splitlines():
        m = re.match(r"^\s*[\d.]+\w*\s+([\d.]+)%\s+[\d.]+%\s+[\d.]+\w*\s+[\d.]+%\s+(.+)$", line)
        if m:
            flat[m[2].strip()] = float(m[1])
    assert flat, text
    return flat


def _pprof_tags(path: Path) -> dict[str, dict[str, float]]:
    text = subprocess.run(
        [GO or "go", "tool", "pprof", "-tags", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tags: dict[str, dict[str, float]] = {}
    key = None
    for line in text.splitlines():
        head = re.match(r"^\s*(\w+): Total", line)
        if head:
            key = head[1]
            tags[key] = {}
        elif key and (m := re.match(r"^\s*\S+\s+\(\s*([\d.]+)%\):\s+(\S+)", line)):
            tags[key][m[2]] = float(m[1])
    return tags


@needs_go
def test_pprof_of_an_emulated_aarch64_run(tmp_path: Path) -> None:
    out = tmp_path / "a53.pb.gz"
    _export("pprof", out, A53, "--binary", A53_BIN)
    ours = _report_json(A53, "--binary", A53_BIN)
    flat = _pprof_top(out)
    # pprof's own reading gives lseprof's helper shares (of all samples).
    for helper in ours["helpers"]:
        assert flat[helper["symbol"]] == pytest.approx(helper["share"], abs=0.1), helper
    tags = _pprof_tags(out)
    # Category labels: pprof's share of the tag is of the samples carrying it (all).
    for name, share in ours["categories"].items():
        if share > 0:
            assert tags["category"][name] == pytest.approx(share, abs=0.1), (name, tags)
    # Helper labels cover exactly the helper samples: op, order, size, path.
    assert set(tags["helper_op"]) >= {"ldadd", "cas"}
    assert "acq_rel" in tags["helper_order"] and "8B" in tags["helper_size"]
    assert tags["atomics_path"]["llsc"] > 50.0  # an A53 has no LSE: the LL/SC loop
    print("go tool pprof -top, first lines:", list(flat.items())[:4])


@needs_go
def test_pprof_of_a_perf_data_matches_the_table(tmp_path: Path) -> None:
    out = tmp_path / "x86.pb.gz"
    _export("pprof", out, X86_DATA)
    ours = _report_json(X86_DATA)
    flat = _pprof_top(out)
    # Top symbols with one name per function (lseprof keys by symbol and object).
    names = [t["symbol"] for t in ours["top_symbols"]]
    for top in ours["top_symbols"][:6]:
        if names.count(top["symbol"]) == 1 and top["symbol"] in flat:
            assert flat[top["symbol"]] == pytest.approx(top["share"], abs=0.1), top
    assert sum(t["symbol"] in flat for t in ours["top_symbols"][:6]) >= 4, (flat, names)


@pytest.fixture(scope="module")
def stored_group(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A store with one group of two profiled runs of our encoder."""
    store = tmp_path_factory.mktemp("stored") / "runs.sqlite"
    proc = run(
        [
            LSEPROF,
            "run",
            "--store",
            store,
            "--variant",
            "window",
            "--threads",
            "2",
            "--repeat",
            "2",
            "--duration",
            "0.5",
            "--json",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    runs: list[dict[str, Any]] = json.loads(proc.stdout)
    return store, runs


@needs_go
def test_pprof_of_a_stored_run(
    tmp_path: Path, stored_group: tuple[Path, list[dict[str, Any]]]
) -> None:
    """By run id, by run directory and by its run.json: the same profile as the
    run's perf.data, and the note says which file that was."""
    store, runs = stored_group
    entry = runs[0]
    by_path = tmp_path / "path.pb.gz"
    _export("pprof", by_path, entry["perf_data"])
    expected = _pprof_top(by_path)
    assert any("merge_word" in name or "encode" in name for name in expected), expected
    for ident in (entry["run_id"], entry["run_dir"], str(Path(entry["run_dir"]) / "run.json")):
        out = tmp_path / "by-id.pb.gz"
        proc = run([LSEPROF, "report", "--store", store, "--format", "pprof", "-o", out, ident])
        assert proc.returncode == 0, proc.stderr
        assert f"run {entry['run_id']}" in proc.stderr and entry["perf_data"] in proc.stderr
        assert _pprof_top(out) == expected
    table = run([LSEPROF, "report", "--store", store, "--json", entry["run_id"]])
    assert json.loads(table.stdout) == _report_json(entry["perf_data"])


def test_speedscope_of_a_stored_run(
    tmp_path: Path, stored_group: tuple[Path, list[dict[str, Any]]]
) -> None:
    store, runs = stored_group
    out = tmp_path / "run.speedscope.json"
    _export("speedscope", out, runs[1]["run_id"], "--store", store)
    document = json.loads(out.read_text())
    names = {f["name"] for f in document["shared"]["frames"]}
    assert any("merge_word" in n for n in names), sorted(names)[:20]
    assert document["profiles"][0]["weights"] and sum(document["profiles"][0]["weights"]) > 0


def test_stored_run_mistakes_are_one_line(
    tmp_path: Path, stored_group: tuple[Path, list[dict[str, Any]]]
) -> None:
    store, runs = stored_group
    gone = tmp_path / "copy.sqlite"
    shutil.copy(store, gone)
    moved = tmp_path / "moved-run"
    shutil.copytree(runs[1]["run_dir"], moved)
    (moved / "perf.data").unlink()
    cases = [
        ([runs[0]["group_id"], "--store", store], "is a group of 2 runs"),
        (["0123456789abcdef", "--store", store], "no run or group '0123456789abcdef'"),
        (["0123456789abcdef", "--store", tmp_path / "none.sqlite"], "no run store"),
        ([str(tmp_path)], "directory without run.json"),
        ([str(moved)], "is gone"),
    ]
    for args, needle in cases:
        proc = run([LSEPROF, "report", *args])
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("lseprof: error")]
        assert proc.returncode == 2 and len(errors) == 1 and needle in errors[0], (
            args,
            proc.stderr,
        )
        assert "Traceback" not in proc.stderr


def test_speedscope_document(tmp_path: Path) -> None:
    out = tmp_path / "x86.speedscope.json"
    _export("speedscope", out, X86_DATA)
    doc = json.loads(out.read_text())
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    profile = doc["profiles"][0]
    assert profile["type"] == "sampled"
    assert len(profile["samples"]) == len(profile["weights"])
    frames = doc["shared"]["frames"]
    assert all(0 <= i < len(frames) for stack in profile["samples"] for i in stack)
    # Every sample of the event, weighted as the report's shares (the period: ns of
    # cpu-clock), whole stacks rooted at the command.
    from lseprof import load

    report = load(X86_DATA)
    assert report.events == ["cpu-clock"] and profile["unit"] == "nanoseconds"
    assert sum(profile["weights"]) == pytest.approx(float(report.samples["weight"].sum()))
    assert len(report.samples) == _report_json(X86_DATA)["samples"]
    assert {frames[s[0]]["name"] for s in profile["samples"]} >= {"contend-x86_64"}
    assert max(len(s) for s in profile["samples"]) > 3


@needs_tool("speedscope", SPEEDSCOPE.is_file(), "make fixtures installs it")
@needs_tool("chromium", Path("/usr/bin/chromium").exists())
def test_speedscope_opens_it_in_chromium(tmp_path: Path) -> None:
    from tests.e2e.test_dashboard_browser import DevTools

    out = tmp_path / "a53.speedscope.json"
    _export("speedscope", out, A53, "--binary", A53_BIN)
    # How speedscope's own CLI hands it a local file: a script that loads it.
    loader = tmp_path / "profile.js"
    loader.write_text(
        f"speedscope.loadFileFromBase64({json.dumps(out.name)}, "
        f"{json.dumps(base64.b64encode(out.read_bytes()).decode())})"
    )
    probe = """JSON.stringify({title: document.title,
        canvases: Array.from(document.querySelectorAll('canvas')).filter(c =>
            c.getBoundingClientRect().width > 300 && c.getBoundingClientRect().height > 100).length,
        text: document.body.innerText, height: document.documentElement.scrollHeight})"""
    browser = DevTools(tmp_path / "chrome")
    try:
        browser.open_page()
        page = browser.load_url(
            f"{SPEEDSCOPE.as_uri()}#localProfilePath={loader}", probe, settle_s=3.0
        )
        problems = browser.problems()
        browser.screenshot(ARTIFACTS / "speedscope-a53.png", 900)
    finally:
        browser.close()
    assert problems == []
    # speedscope names the page after the document's name once it has parsed it
    # (before, the title is plain "speedscope"), and draws the flame view on canvases.
    assert page["title"] == f"{A53.name} - speedscope", page["title"]
    assert page["canvases"] >= 1, page


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--format", "pprof"], "add -o FILE"),
        (["-o", "x.pb.gz"], "goes with --format"),
        (["--format", "pprof", "-o", "/nonexistent-dir/x.pb.gz"], "cannot write"),
    ],
)
def test_export_mistakes_are_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    proc = run([LSEPROF, "report", *args, A53], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("lseprof: error")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
