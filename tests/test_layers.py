"""The package's layers: imports only point down, no module imports itself in a circle,
and no source file grows past 400 lines.

The order below is the one docs/architecture.md describes. Every import counts,
including those inside functions and under ``TYPE_CHECKING``: a lazy import that
points up is still a dependency that points up.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Lowest first. A module may import its own layer and the layers before it.
LAYERS: list[tuple[str, ...]] = [
    ("lseprof.errors", "lseprof.paths", "lseprof.samples", "lseprof.version"),
    ("lseprof.store",),
    ("lseprof.capture",),
    ("lseprof.readers",),
    ("lseprof.symbols",),
    ("lseprof.analysis",),
    ("lseprof.reports",),
    ("workloads",),
    ("lseprof.jobs",),
    ("lseprof.cli", "lseprof.api"),
]
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(p for root in ("lseprof", "workloads") for p in (REPO / root).rglob("*.py"))


def layer_of(module: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def imports_of(path: Path, modules: set[str]) -> Iterator[tuple[int, str]]:
    """(line, imported lseprof/workloads module) for every import statement in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                # `from pkg import sub` names the submodule when there is one.
                full = f"{node.module}.{alias.name}"
                yield node.lineno, full if full in modules else node.module


def internal_imports() -> dict[str, list[tuple[int, str]]]:
    files = source_files()
    modules = {module_name(p) for p in files}
    graph: dict[str, list[tuple[int, str]]] = {}
    for path in files:
        name = module_name(path)
        graph[name] = [(line, target) for line, target in imports_of(path, modules)
                       if target.split(".")[0] in ("lseprof", "workloads")]
    return graph


def test_every_module_belongs_to_a_layer() -> None:
    graph = internal_imports()
    unplaced = [m for m in graph if m != "lseprof" and layer_of(m) is None]
    assert not unplaced, f"modules outside every layer of LAYERS: {unplaced}"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, edges in internal_imports().items():
        if module == "lseprof":
            continue  # the public API facade sits above everything (profiler/lseprof/__init__.py)
        own = layer_of(module)
        assert own is not None
        for line, target in edges:
            if target == "lseprof":
                wrong.append(f"{module}:{line} imports the lseprof facade")
                continue
            other = layer_of(target)
            if other is not None and other > own:
                wrong.append(f"{module}:{line} imports {target} (layer {other} above {own})")
    assert not wrong, "imports pointing up the layers:\n" + "\n".join(wrong)


def test_no_import_circles() -> None:
    graph = {m: {t for _, t in edges if t in set(internal_imports())}
             for m, edges in internal_imports().items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("root", ["lseprof", "workloads", "native/src", "tests", "benchmarks",
                                  "scripts"])
def test_modules_stay_under_400_lines(root: str) -> None:
    long = []
    for path in sorted((REPO / root).rglob("*")):
        if path.suffix in (".py", ".rs") and "fixtures" not in path.parts:
            count = len(path.read_text().splitlines())
            if count > MAX_LINES:
                long.append(f"{path.relative_to(REPO)}: {count} lines")
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    # The checker itself must be able to fail: a reader importing a reporter is caught.
    source = tmp_path / "bad.py"
    source.write_text("from lseprof.reports import terminal\nimport lseprof.cli.main\n")
    found = [t for _, t in imports_of(source, {"lseprof.reports.terminal"})]
    assert found == ["lseprof.reports.terminal", "lseprof.cli.main"]
    assert layer_of("lseprof.readers.perf_data.reader") < layer_of("lseprof.reports.terminal")  # type: ignore[operator]


def test_perf_is_started_in_one_place() -> None:
    """Every perf process goes through lseprof.capture.perf_cli (issue #13): no other
    module hands a perf command line to subprocess itself."""
    import re

    pattern = re.compile(r"subprocess\.(run|Popen)\(\s*\[\s*(perf|binary)\b|\[\s*perf,\s*\"")
    offenders = []
    for path in sorted((REPO / "lseprof").rglob("*.py")):
        if path.name == "perf_cli.py":
            continue
        # Command lines are built with perf_argv; a literal [perf, "sub", ...] list is
        # a second way in.
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == [], offenders
