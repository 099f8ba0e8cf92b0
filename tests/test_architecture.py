"""The import graph runs one way: bench -> server -> stages -> core, with no cycles.

Every module of the `promptpress` package (proto/promptpress, whose stage folders
are directory symlinks) is parsed with `ast`; nothing is imported. An edge is any
`import` or `from ... import` anywhere in a module, including inside functions
and `if TYPE_CHECKING:` blocks: a lazy import is still a dependency. The rules
are the rooms of ../shared/CONVENTIONS.md:

- the core (types, errors, tokens, terms, storage, the client, ...) imports no
  stage, no server and no bench;
- the stages (compressor, retrieval, cachekeys) import only the core: never the
  server, another stage, the bench, protobuf or gRPC;
- the gateway (server/routing) never imports the gRPC/HTTP edge;
- bench imports only public names of the package, never the tests;
- no module imports itself back through others (no cycles);
- no two public classes outside bench share a name (one name per thing).

Each rule is a function over the graph that returns its violations, so the
test at the bottom can check that every rule does find a violation.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "proto" / "promptpress"

STAGES = ("promptpress.compressor", "promptpress.retrieval", "promptpress.cachekeys")
SERVER = "promptpress.server"
BENCH = "promptpress.bench"
ROUTING = "promptpress.server.routing"
# The edge: what turns wire requests into core calls and back, and starts the server.
EDGE = tuple(
    f"{SERVER}.{name}" for name in ("servicer", "convert", "app", "cli", "http", "reflection")
)
WIRE = ("promptpress.v1", "google.protobuf", "google.rpc", "grpc", "grpc_status")


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (or the module a name was imported from)
    names: tuple[str, ...]  # the names of `from target import names`; () for `import`
    line: int

    def __str__(self) -> str:
        what = f"from {self.target} import {', '.join(self.names)}" if self.names else self.target
        return f"{self.source}:{self.line} imports {what}"


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module under root (following symlinks)."""
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for filename in filenames:
            if not filename.endswith(".py"):
                continue
            path = Path(dirpath) / filename
            parts = list(path.relative_to(root.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_edges(root: Path) -> list[Edge]:
    """Every import in every module under root."""
    known = modules(root)
    edges: list[Edge] = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges += [Edge(module, alias.name, (), node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(module, is_package, node)
                names = tuple(alias.name for alias in node.names)
                # `from package import submodule` depends on the submodule itself.
                subs = [n for n in names if f"{target}.{n}" in known]
                edges += [Edge(module, f"{target}.{n}", (), node.lineno) for n in subs]
                rest = tuple(n for n in names if n not in subs)
                if rest:
                    edges.append(Edge(module, target, rest, node.lineno))
    return edges


def _within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _targets(e: Edge) -> list[str]:
    """What an import may reach: `from a import b` reaches a, and a.b if b is a module."""
    return [e.target, *(f"{e.target}.{n}" for n in e.names)]


def _reaches(e: Edge, *packages: str) -> bool:
    return any(_within(t, *packages) for t in _targets(e))


def _stage_of(module: str) -> str | None:
    return next((s for s in STAGES if _within(module, s)), None)


# --- the rules ------------------------------------------------------------------------


def core_violations(edges: list[Edge]) -> list[Edge]:
    """The core imports no stage, no server and no bench."""
    return [
        e
        for e in edges
        if _within(e.source, "promptpress")
        and not _within(e.source, *STAGES, SERVER, BENCH)
        and _reaches(e, *STAGES, SERVER, BENCH)
    ]


def stage_violations(edges: list[Edge]) -> list[Edge]:
    """A stage imports only itself and the core: no server, bench, other stage or wire code."""
    bad = []
    for e in edges:
        stage = _stage_of(e.source)
        if stage is None:
            continue
        other_stages = {_stage_of(t) for t in _targets(e)} - {None, stage}
        if _reaches(e, SERVER, BENCH, *WIRE) or other_stages:
            bad.append(e)
    return bad


def routing_violations(edges: list[Edge]) -> list[Edge]:
    """The gateway never imports the edge (and the edge is what calls the gateway)."""
    return [e for e in edges if _within(e.source, ROUTING) and _reaches(e, *EDGE)]


def bench_violations(edges: list[Edge]) -> list[Edge]:
    """bench uses the package's public names only, and never the tests."""
    bad = []
    for e in edges:
        if not _within(e.source, BENCH):
            continue
        if _within(e.target, "tests"):
            bad.append(e)
        elif _within(e.target, "promptpress") and not _within(e.target, BENCH):
            private_module = any(part.startswith("_") for part in e.target.split("."))
            private_name = any(n.startswith("_") for n in e.names)
            if private_module or private_name:
                bad.append(e)
    return bad


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected groups of more than one module (and self-imports), sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        if _within(e.target, "promptpress"):
            graph.setdefault(e.source, set()).add(e.target)
            graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iteratively
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in graph[node]:
                    found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


# --- the tree as it is ----------------------------------------------------------------


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    found = import_edges(PACKAGE_ROOT)
    assert len({e.source for e in found}) > 50, "the package tree was not found"
    return found


def _report(violations: list[Edge]) -> str:
    return "\n".join(str(v) for v in violations)


def test_the_core_imports_no_stage_server_or_bench(edges: list[Edge]) -> None:
    assert not (bad := core_violations(edges)), _report(bad)


def test_stages_import_only_the_core(edges: list[Edge]) -> None:
    assert not (bad := stage_violations(edges)), _report(bad)


def test_routing_never_imports_the_edge(edges: list[Edge]) -> None:
    assert not (bad := routing_violations(edges)), _report(bad)


def test_bench_imports_only_public_names(edges: list[Edge]) -> None:
    assert not (bad := bench_violations(edges)), _report(bad)


def test_no_import_cycles(edges: list[Edge]) -> None:
    assert not (found := cycles(edges)), "\n".join(" <-> ".join(c) for c in found)


def public_classes(root: Path) -> dict[str, list[str]]:
    """Class name -> the modules defining it, for public classes outside bench and v1."""
    found: dict[str, list[str]] = {}
    for module, path in modules(root).items():
        if _within(module, BENCH, "promptpress.v1"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found.setdefault(node.name, []).append(module)
    return found


def test_one_name_per_thing() -> None:
    """Two public classes of one name (two Embedders, two Tiers) read as one thing but are not."""
    shared = {n: m for n, m in public_classes(PACKAGE_ROOT).items() if len(m) > 1}
    assert not shared, "\n".join(f"{n}: {', '.join(m)}" for n, m in sorted(shared.items()))


# --- the rules do catch what they are for ----------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "promptpress" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in [p for p in (root / "promptpress").rglob("*") if p.is_dir()]:
        (folder / "__init__.py").touch()
    (root / "promptpress" / "__init__.py").touch()
    return root / "promptpress"


@pytest.mark.parametrize(
    ("files", "rule"),
    [
        ({"types.py": "from promptpress.retrieval.corpus import Corpus\n"}, core_violations),
        ({"retrieval/corpus.py": "import promptpress.server.config\n"}, stage_violations),
        (
            {"cachekeys/plan.py": "def f():\n    from ..compressor import compress\n"},
            stage_violations,
        ),
        (
            {
                "compressor/x.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from promptpress.v1 import promptpress_pb2\n"
            },
            stage_violations,
        ),
        ({"server/routing/router.py": "from .. import convert\n"}, routing_violations),
        (
            {"bench/suites/x.py": "from promptpress.retrieval.ranking import _stem\n"},
            bench_violations,
        ),
        ({"bench/suites/x.py": "from tests.procs import valkey\n"}, bench_violations),
    ],
)
def test_each_rule_reports_a_violation(
    tmp_path: Path, files: dict[str, str], rule: Callable[[list[Edge]], list[Edge]]
) -> None:
    clean = import_edges(_write(tmp_path / "clean", {name: "" for name in files}))
    assert rule(clean) == []
    broken = import_edges(_write(tmp_path / "broken", files))
    assert len(rule(broken)) == 1


def test_a_cycle_through_a_lazy_import_is_found(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "cachekeys/a.py": "from promptpress.cachekeys.b import B\n",
            "cachekeys/b.py": "def load():\n    from promptpress.cachekeys import a\n",
            "cachekeys/c.py": "from promptpress.cachekeys.a import A\n",
        },
    )
    assert cycles(import_edges(root)) == [["promptpress.cachekeys.a", "promptpress.cachekeys.b"]]
