"""Tests share data through conftest fixtures: no file under tests/ imports from the ``tests``
package (another test module or a conftest), by an absolute or a relative import."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imports_from_tests(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path`` that reaches into the ``tests`` package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = ["." * node.level + (node.module or "")]
        else:
            continue
        found += [
            (node.lineno, n)
            for n in names
            if n.startswith(".") or n == "tests" or n.startswith("tests.")
        ]
    return found


def test_no_test_file_imports_from_tests():
    found = [
        f"{path.relative_to(TESTS.parent)} line {line}: {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, name in imports_from_tests(path)
    ]
    assert not found, f"take shared test data as conftest fixtures, not by import: {found}"


def test_the_check_sees_absolute_and_relative_imports(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text(
        "import testsuite\nfrom tests.conftest import X\n"
        "def f():\n    import tests.loaders.test_kg\n    from .conftest import Y\n"
    )
    assert [name for _, name in imports_from_tests(bad)] == [
        "tests.conftest",
        "tests.loaders.test_kg",
        ".conftest",
    ]
