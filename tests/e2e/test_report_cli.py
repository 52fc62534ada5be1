"""`lseprof report` end to end, as a real subprocess: table, --json, --markdown, and
every bad input (exit 2, one line on stderr, no traceback)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import (
    A53,
    AARCH64_BIN,
    LSEPROF,
    REPO,
    TWO,
    X86,
    X86_BIN,
    X86_OTHER_BUILD,
    missing_tool,
    needs_perf,
)


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LSEPROF), "report", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
        check=False,
    )


def test_table_for_an_emulated_run() -> None:
    proc = run(A53 / "script.txt", "--binary", AARCH64_BIN)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # Table titles and category names are in every report: check rows with figures.
    # The helper's row: op, size, order and a share; on an A53 (no LSE) its samples
    # are on the LL/SC path, none on the LSE one.
    helper = re.search(
        r"│ __aarch64_ldadd8_acq_rel │ contend-aarch64 │ ldadd │\s+8 │ acq_rel │"
        r"\s+([\d.]+)% │\s+[\d.]+% │\s+([\d.]+)% │\s+([\d.]+)% │",
        out,
    )
    assert helper is not None, out
    share, lse, llsc = map(float, helper.groups())
    assert share > 10.0 and lse == 0.0 and llsc > 0.0
    # Its caller, found from the binary's own bl sites.
    assert re.search(
        r"│ __aarch64_ldadd8_acq_rel │ bump_counter\s+│\s+[1-9][\d.]*% │ static", out
    ), out
    assert "Traceback" not in proc.stderr


def test_json_for_one_and_for_several_event_sections() -> None:
    proc = run(A53 / "script.txt", "--binary", AARCH64_BIN, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for key in (
        "source_kind",
        "samples",
        "event",
        "atomic_helper_share",
        "helpers",
        "categories",
        "helper_callers",
        "lost_samples",
        "top_symbols",
    ):
        assert key in data
    assert data["source_kind"] == "perf-script" and data["event"] == "cpu-clock"
    helper = next(h for h in data["helpers"] if h["symbol"] == "__aarch64_ldadd8_acq_rel")
    assert {"symbol", "op", "size", "order", "share"} <= set(helper)
    assert (helper["op"], helper["size"], helper["order"]) == ("ldadd", 8, "acq_rel")
    assert {"helper", "caller", "share"} <= set(data["helper_callers"][0])
    assert sum(data["categories"].values()) == pytest.approx(100.0, abs=1e-3)

    many = json.loads(run(TWO / "report.txt", "--json").stdout)
    assert isinstance(many, list) and [s["event"] for s in many] == ["cpu-clock", "task-clock"]
    assert all(s["source_kind"] == "perf-report" for s in many)


def test_markdown() -> None:
    proc = run(X86 / "report-no-children-n.txt", "--markdown", "--top", "5")
    assert proc.returncode == 0, proc.stderr
    assert "| category | share |" in proc.stdout
    assert "## `cpu-clock` — perf-report" in proc.stdout


@needs_perf
def test_perf_data_end_to_end() -> None:
    proc = run(X86 / "perf.data", "--binary", X86_BIN, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["source_kind"] == "perf-data" and data["perf_version"]
    assert data["lost_samples"] == 0
    assert data["categories"]["inline_atomic"] > 5.0


def test_unknown_lines_are_a_warning(tmp_path: Path) -> None:
    text = (X86 / "script.txt").read_text()
    pasted = tmp_path / "pasted.txt"
    pasted.write_text(text + "(that's all)\n")
    proc = run(pasted, "--json")
    assert proc.returncode == 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "warning" in lines[0] and "1 lines" in lines[0]
    assert json.loads(proc.stdout)["unknown_lines"] == 1


def _bad_inputs(tmp: Path) -> list[tuple[str, list[str | Path], dict[str, str] | None, str]]:
    """(case, arguments, environment, what the one error line must say): each case must be
    refused for its own reason, not merely refused."""
    data = (X86 / "perf.data").read_bytes()
    (tmp / "empty.data").write_bytes(b"")
    (tmp / "cut.data").write_bytes(data[:5000])
    (tmp / "notes.txt").write_text("we saw a slowdown on graviton\nsee attached\n")
    (tmp / "nobin").mkdir()
    no_perf = {**os.environ, "PATH": str(tmp / "nobin")}
    no_perf.pop("LSEPROF_PERF", None)
    return [
        ("empty", [tmp / "empty.data"], None, "is empty"),
        ("truncated perf.data", [tmp / "cut.data"], None, "is truncated"),
        (
            "not perf text",
            [tmp / "notes.txt"],
            None,
            "is not perf.data, perf script, perf report or perf annotate",
        ),
        ("missing file", [tmp / "nope.data"], None, "nope.data: no such file"),
        (
            "binary not an ELF",
            [X86 / "script.txt", "--binary", tmp / "notes.txt"],
            None,
            "is not an ELF file",
        ),
        (
            "binary of another arch",
            [X86 / "script.txt", "--binary", AARCH64_BIN],
            None,
            "is aarch64 but the samples are x86_64",
        ),
        (
            "binary of another build",
            [X86 / "perf.data", "--binary", X86_OTHER_BUILD],
            None,
            "is another build",
        ),
        ("perf missing", [X86 / "perf.data"], no_perf, "perf is not on PATH"),
        ("bad rules", [X86 / "script.txt", "--rules", tmp / "notes.txt"], None, "not valid TOML"),
        ("bad format", [X86 / "script.txt", "--format", "csv"], None, "--format csv is not one of"),
        ("top 0", [X86 / "script.txt", "--top", "0"], None, "--top must be 1 or more"),
        (
            "max-stack 0",
            [X86 / "perf.data", "--max-stack", "0"],
            None,
            "--max-stack must be 1 or more",
        ),
        ("two formats", [X86 / "script.txt", "--json", "--markdown"], None, "exclude each other"),
    ]


@pytest.mark.parametrize("case", range(13))
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, case: int) -> None:
    name, args, env, needle = _bad_inputs(tmp_path)[case]
    if (
        name.startswith(("truncated", "binary of another build"))
        and os.system("command -v perf >/dev/null") != 0
    ):
        missing_tool("perf")
    proc = run(*args, env=env)
    assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, (name, proc.stderr)
    assert lines[0].startswith("lseprof: error: "), name
    assert needle in lines[0], (name, lines[0])
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_lseprof_starts_without_pandas_or_numpy() -> None:
    # Every command's module is imported at start-up (lseprof --help included): the heavy
    # libraries load inside the commands that use them. For `report`, that is what lets
    # perf start before pandas loads (profiler/lseprof/cli/prefetch.py).
    code = (
        "import sys, lseprof.cli.app; print(sorted(m for m in ('pandas', 'numpy', "
        "'matplotlib', 'elftools', 'capstone', 'scipy') if m in sys.modules))"
    )
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "[]"
    code = (
        "import sys, lseprof.cli.prefetch, lseprof.analysis.pipeline; "
        "print(sorted(m for m in ('pandas', 'numpy') "
        "if m in sys.modules))"
    )
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "[]"


def test_option_defaults_spelled_out_in_the_cli_modules_agree() -> None:
    # The cli modules repeat a few constants instead of importing pandas-heavy modules.
    from lseprof.analysis import diff
    from lseprof.cli import diff as cli_diff
    from lseprof.cli import inspect as cli_inspect
    from lseprof.reports import inspect_report
    from lseprof.reports.diff import DEFAULT_TOP

    assert cli_inspect.DEFAULT_TOP == inspect_report.DEFAULT_TOP
    assert (cli_diff.DEFAULT_ALPHA, cli_diff.DEFAULT_HELPER_THRESHOLD_PP, cli_diff.DEFAULT_TOP) == (
        diff.DEFAULT_ALPHA,
        diff.DEFAULT_HELPER_THRESHOLD_PP,
        DEFAULT_TOP,
    )


def test_prefetch_parser_knows_the_report_options() -> None:
    # profiler/lseprof/cli/prefetch.py starts perf before the CLI loads, from its own small
    # parser of `lseprof report`'s options: they must be the report command's.
    import inspect

    from lseprof.cli import prefetch
    from lseprof.cli import report as cli_report

    flags, values = set(), set()
    for param in inspect.signature(cli_report.report_cmd).parameters.values():
        decls = getattr(param.default, "param_decls", None)
        if not decls or not any(d.startswith("--") for d in decls):
            continue  # the PATH argument
        names = {n for d in decls if d.startswith("-") for n in d.split("/")}
        (flags if param.annotation in (bool, "bool", "bool | None") else values).update(names)
    assert "ctx" in inspect.signature(cli_report.report_cmd).parameters  # the early input
    assert flags == set(prefetch.FLAG_OPTIONS)
    assert values == set(prefetch.VALUE_OPTIONS)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["report", "p.data"], ("p.data", None)),
        (["report", "--json", "p.data", "--max-stack", "4"], ("p.data", 4)),
        (["report", "--binary=b", "--binary", "c", "--max-stack=8", "--", "p.data"], ("p.data", 8)),
        (
            ["report", "p.data", "--format", "perf-data", "--top", "3", "--markdown"],
            ("p.data", None),
        ),
        (["report", "p.data", "--symfs", "root", "--kallsyms=ks"], ("p.data", None, "root", "ks")),
        (["report", "p.data", "--format", "perf-script"], None),
        (["report", "p.data", "--help"], None),
        (["report", "p.data", "-x"], None),
        (["report", "p.data", "q.data"], None),
        (["report", "p.data", "--max-stack", "0"], None),
        (["report", "p.data", "--max-stack"], None),
        (["report"], None),
        (["diff", "p.data", "q.data"], None),
        ([], None),
    ],
)
def test_prefetch_parser(args: list[str], expected: tuple[object, ...] | None) -> None:
    from lseprof.cli import prefetch

    got = prefetch.parse(args)
    if got is None or got[2].symfs is None:
        assert (None if got is None else (str(got[0]), got[1])) == expected
    else:
        assert (str(got[0]), got[1], str(got[2].symfs), str(got[2].kallsyms)) == expected


@needs_perf
def test_an_early_input_is_taken_only_for_what_was_asked() -> None:
    from lseprof.cli import prefetch
    from lseprof.readers.perf_data import SymbolFiles

    open_early = prefetch.open_early
    path = X86 / "perf.data"
    assert open_early(["/usr/bin/not-lseprof", "report", str(path)]) is None  # the script only
    early = open_early(["/venv/bin/lseprof", "report", str(path)])
    assert early is not None
    here = SymbolFiles()
    source = early.take(path, None, here)
    assert source is not None and early.take(path, None, here) is None  # once
    assert len(source.read().samples) > 400
    early = open_early(["/venv/bin/lseprof", "report", str(path), "--max-stack", "3"])
    assert early is not None and early.source is not None
    opened = early.source
    assert early.take(path, None, here) is None  # another --max-stack: closed
    assert opened.kind == "perf-data" and opened.reader.scripts == []  # type: ignore[union-attr]
