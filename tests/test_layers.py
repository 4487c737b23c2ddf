"""Imports run one way, down the layers (README, "Development"): a module never imports from a
layer above its own. The test reads every module's source (imports inside functions included),
so a lazy upward import fails it too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (rank, module prefixes): a module may import its own rank and the ranks below it
LAYERS = [
    (0, ("graph_schema",)),
    (1, ("loaders",)),
    (
        2,
        (
            "kgrec.errors",
            "kgrec.files",
            "kgrec.plots",
            "kgrec.store",
            "kgrec.text",
            "kgrec.data",
            "kgrec.explain",
            "kgrec.download",
            "kgrec.threads",
            "kgrec.device",
            "kgrec.distributed",
            "kgrec.settings",
            "kgrec.tune_space",
        ),
    ),
    (3, ("kgrec.models", "kgrec.objectives", "kgrec.metrics", "kgrec.foldin")),
    (
        4,
        (
            "kgrec.train",
            "kgrec.cold_start_training",
            "kgrec.cold_items",
            "kgrec.sampling",
            "kgrec.evaluate",
            "kgrec.ranking",
            "kgrec.teachers",
            "kgrec.recommend",
            "kgrec.notebook",
        ),
    ),
    (5, ("kgrec.experiment", "kgrec.tune")),
    (6, ("kgrec.commands", "kgrec.cli", "kgrec.__main__", "bench")),
]
PROJECT = ("graph_schema", "loaders", "kgrec", "bench")
# below in the map, but not needed: stores take canonical tables, never a loader's
FORBIDDEN = {"kgrec.store": ("loaders",)}


def rank(module: str) -> int | None:
    """The layer of a project module (None: not the project's, or the bare package)."""
    best = None
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            inside = module == prefix or module.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > best[1]):
                best = (layer, len(prefix))
    return None if best is None else best[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of a project module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from kgrec import store` imports kgrec.store
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if rank(n) is not None else node.module for n in names]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] in PROJECT]
    return found


MODULES = sorted(
    p
    for package in PROJECT
    for p in (ROOT / package).rglob("*.py")
    if rank(module_name(p)) is not None
)


def test_every_project_module_has_a_layer():
    packages = [p for package in PROJECT for p in (ROOT / package).rglob("*.py")]
    unplaced = [
        str(p.relative_to(ROOT))
        for p in packages
        if rank(module_name(p)) is None and module_name(p) not in PROJECT
    ]
    assert not unplaced, f"modules without a layer in tests/test_layers.py: {unplaced}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_upward_import(path):
    own = rank(module_name(path))
    module = module_name(path)
    forbidden = [
        banned
        for prefix, banned in FORBIDDEN.items()
        if module == prefix or module.startswith(prefix + ".")
    ]
    upward = [
        f"line {line}: {name}"
        for line, name in imports(path)
        if (rank(name) is not None and rank(name) > own)
        or any(name.startswith(b + ".") or name == b for group in forbidden for b in group)
    ]
    assert not upward, f"{module} (layer {own}) imports from above (or a banned layer): {upward}"


def test_the_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from kgrec.errors import InputError\n\ndef f():\n    import loaders.build\n")
    assert [name for _, name in imports(bad)] == ["kgrec.errors.InputError", "loaders.build"]
    assert rank("kgrec.errors.InputError") == 2 > rank("graph_schema.tables")
    assert rank("kgrec.store.canonical") == 2 > rank("loaders.build") == 1


def _module_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (resolved to modules that exist)."""
    known = {module_name(p) for p in MODULES}
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        targets = set()
        for _, name in imports(path):
            # `kgrec.errors.InputError` -> kgrec.errors; a package import stays the package
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module_name(path):
                targets.add(name)
        graph[module_name(path)] = targets
    return graph


def test_no_import_cycle():
    import networkx as nx

    graph = nx.DiGraph(
        [(module, target) for module, targets in _module_graph().items() for target in targets]
    )
    cycles = list(nx.simple_cycles(graph))
    # a package's __init__ re-exporting its submodules, which import the package's siblings,
    # is not a cycle of logic: only cycles between two modules that are not packages count
    packages = {module_name(p) for p in MODULES if p.name == "__init__.py"}
    cycles = [c for c in cycles if not set(c) & packages]
    assert not cycles, f"import cycles: {cycles}"
