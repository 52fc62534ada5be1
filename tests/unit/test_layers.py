"""The package's house rules, checked on its source (each file parsed once):

* layers: imports only point down the layers, no module imports itself in a circle;
* faces: a folder whose ``__init__`` has an ``__all__`` is a subsystem with one face:
  code outside the folder imports the face, never a module inside it, and every
  public name has one import address;
* no underscore (private) name is imported from another file;
* perf is started in one place.

The layer order is the one docs/architecture.md describes. Every import counts,
including those inside functions and under ``TYPE_CHECKING``: a lazy import that
points up is still a dependency that points up.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "profiler"
OUTSIDE_ROOTS = ("tests", "benchmarks", "scripts", "workloads")

# Lowest first. A module may import its own layer and the layers before it.
LAYERS: list[tuple[str, ...]] = [
    ("lseprof.errors", "lseprof.paths", "lseprof.samples", "lseprof.results", "lseprof.version"),
    ("lseprof.store",),
    ("lseprof.capture", "lseprof.emulation"),
    ("lseprof.readers",),
    ("lseprof.symbols",),
    ("lseprof.analysis",),
    ("lseprof.reports",),
    ("lseprof.workloads",),
    ("lseprof.jobs",),
    ("lseprof.cli", "lseprof.api", "lseprof.__main__"),
]
# The library API (docs/api.md) is importable from the package itself, lazily, as
# well as from the modules that define it: the one deliberate second address.
API_FACADE = "lseprof"


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    defined: set[str] = field(default_factory=set)
    exported: set[str] | None = None  # __all__, where the module has one


def _module_name(path: Path) -> str:
    base = SRC if SRC in path.parents else REPO
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_names(tree: ast.Module) -> tuple[set[str], set[str] | None]:
    defined: set[str] = set()
    exported: set[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            defined |= names
            if "__all__" in names and node.value is not None:
                exported = set(ast.literal_eval(node.value))
    return defined, exported


@cache
def package() -> dict[str, Module]:
    """Every module of the package, parsed once."""
    found = {}
    for path in sorted((SRC / "lseprof").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        defined, exported = _top_level_names(tree)
        found[_module_name(path)] = Module(_module_name(path), path, tree, defined, exported)
    return found


@cache
def outside() -> dict[str, Module]:
    """Tests, benchmarks and scripts: they import the package from outside."""
    found = {}
    for root in OUTSIDE_ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            if "fixtures" not in path.parts:
                tree = ast.parse(path.read_text(), filename=str(path))
                found[_module_name(path)] = Module(_module_name(path), path, tree)
    return found


@cache
def faces() -> frozenset[str]:
    return frozenset(
        {
            m.name
            for m in package().values()
            if m.path.name == "__init__.py" and m.exported and m.name != API_FACADE
        }
    )


@cache
def face_of(module: str) -> str | None:
    """The innermost face folder holding `module` (not the face itself)."""
    holding = [f for f in faces() if module.startswith(f + ".")]
    return max(holding, key=len) if holding else None


def imports_of(tree: ast.Module, modules: set[str]) -> Iterator[tuple[int, str, list[str]]]:
    """(line, imported module, names) for every absolute import in the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [a.name for a in node.names]
            submodules = [n for n in names if f"{node.module}.{n}" in modules]
            for name in submodules:  # `from pkg import sub` names the submodule
                yield node.lineno, f"{node.module}.{name}", []
            rest = [n for n in names if n not in submodules]
            if rest:
                yield node.lineno, node.module, rest


def layer_of(module: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def graph() -> dict[str, set[str]]:
    modules = set(package())
    return {
        m.name: {t for _, t, _ in imports_of(m.tree, modules) if t in modules}
        for m in package().values()
    }


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [m for m in package() if m != API_FACADE and layer_of(m) is None]
    assert not unplaced, f"modules outside every layer of LAYERS: {unplaced}"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    modules = set(package())
    for module in package().values():
        if module.name == API_FACADE:
            continue  # the public API facade sits above everything
        own = layer_of(module.name)
        assert own is not None
        for line, target, _ in imports_of(module.tree, modules):
            if target == API_FACADE:
                wrong.append(f"{module.name}:{line} imports the lseprof facade")
            elif (other := layer_of(target)) is not None and other > own:
                wrong.append(f"{module.name}:{line} imports {target} (layer {other} above {own})")
    assert not wrong, "imports pointing up the layers:\n" + "\n".join(wrong)


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_import_circles() -> None:
    edges = graph()
    # A face importing its own folder's modules is how a face works, not a circle.
    for name in faces():
        edges[name] = {t for t in edges[name] if not t.startswith(name + ".")}
    cycles = find_cycles(edges)
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def _face_violations(importer: str, path: Path, tree: ast.Module, tests: bool) -> Iterator[str]:
    modules = set(package())
    for line, target, names in imports_of(tree, modules):
        face = face_of(target)
        if face is None or importer == face or importer.startswith(face + "."):
            continue
        if tests and not names:
            continue  # `import pkg.sub as mod` in a test: white-box monkeypatching
        yield f"{path.relative_to(REPO)}:{line} imports {target}; import {face} instead"


def test_subsystems_are_imported_through_their_face() -> None:
    wrong = [v for m in package().values() for v in _face_violations(m.name, m.path, m.tree, False)]
    wrong += [
        v
        for m in outside().values()
        for v in _face_violations(m.name, m.path, m.tree, m.name.startswith("tests"))
    ]
    assert not wrong, "imports past a subsystem's face:\n" + "\n".join(wrong)


def test_every_public_name_has_one_import_address() -> None:
    """A module's ``__all__`` lists only its own names, or (a face) names defined in its
    folder: no re-export from elsewhere, so no name can be imported from two places."""
    wrong = []
    for module in package().values():
        if module.exported is None or module.name == API_FACADE:
            continue
        is_face = module.path.name == "__init__.py"
        for name in sorted(module.exported - module.defined):
            homes = [
                m.name
                for m in package().values()
                if name in m.defined and m.path.name != "__init__.py"
            ]
            if not is_face or not any(face_of(h) == module.name for h in homes):
                wrong.append(f"{module.name} exports {name}, defined in {homes or 'nowhere'}")
    assert not wrong, "names with a second import address:\n" + "\n".join(wrong)


def test_no_private_name_is_imported_from_another_file() -> None:
    wrong = []
    modules = set(package())
    for module in [*package().values(), *outside().values()]:
        for line, target, names in imports_of(module.tree, modules):
            if target.split(".")[0] != "lseprof":
                continue
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    wrong.append(f"{module.path.relative_to(REPO)}:{line} imports {target}.{name}")
    assert not wrong, "private names imported across files:\n" + "\n".join(wrong)


def test_the_checkers_can_fail(tmp_path: Path) -> None:
    # The checkers themselves must be able to fail: a reader importing a reporter, an
    # import past a face, a private name, a circle.
    tree = ast.parse(
        "from lseprof.reports import terminal\nimport lseprof.cli.app\n"
        "from lseprof.readers.script.frames import FrameTable\n"
        "from lseprof.readers.script.callchains import _Frames\n"
    )
    found = [t for _, t, _ in imports_of(tree, {"lseprof.reports.terminal"})]
    assert found[:2] == ["lseprof.reports.terminal", "lseprof.cli.app"]
    assert layer_of("lseprof.readers.perf_data") < layer_of("lseprof.reports.terminal")  # type: ignore[operator]
    assert list(_face_violations("lseprof.analysis.attribution", REPO / "x.py", tree, False))
    assert find_cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]


def test_perf_is_started_in_one_place() -> None:
    """Every perf process goes through lseprof.capture.perf_cli: no other module hands
    a perf command line to subprocess itself."""
    pattern = re.compile(r"subprocess\.(run|Popen)\(\s*\[\s*(perf|binary)\b|\[\s*perf,\s*\"")
    offenders = []
    for module in package().values():
        if module.path.name == "perf_cli.py":
            continue
        # Command lines are built with perf_argv; a literal [perf, "sub", ...] list is
        # a second way in.
        for number, line in enumerate(module.path.read_text().splitlines(), start=1):
            if pattern.search(line):
                offenders.append(f"{module.path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == [], offenders
