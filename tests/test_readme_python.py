"""Every ```python block of the README runs as written: a renamed function, a changed
signature or a path that no longer resolves fails here instead of in a reader's notebook.

Each block runs in its own process, in ``TMP/work`` beside ``TMP/shared/datasets`` (a link to
the datasets), so that the README's ``../shared/datasets/ml-100k`` resolves as it does from a
clone. The one rewrite, to keep the cost small: every call of ``train``, ``tune`` or ``fit``
gets ``epochs=1`` (and ``tune`` ``trials=1``), inserted into, or replacing the value in, the
call's text (:func:`cheap`); nothing else changes. What the README marks, in an HTML comment
on the line just above a block's fence:

- ``<!-- continues the block above -->``: the block uses the names of the one before it (a
  notebook's next cell); it runs after that block's code, in the same process.
- ``<!-- not run: WHY -->``: a fragment that cannot run; skipped, saying why (use sparingly).

A block (with the ones it continues) that names ``bolt://127.0.0.1:7687`` needs Neo4j: it is
marked ``neo4j``, runs against the test server (conftest's ``neo4j_settings``, its URI put in
place of the README's, emptied first) and skips where none is reachable (``NEO4J_PORT=1``).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
ROOT = README.parent
NEO4J_URI = "bolt://127.0.0.1:7687"  # the README's server
CONTINUES = "<!-- continues the block above -->"
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->")
# the cost settings a block's calls are run with (their keyword arguments)
CHEAP = {"train": {"epochs": "1"}, "fit": {"epochs": "1"}, "tune": {"epochs": "1", "trials": "1"}}


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    code: str  # with the code of the blocks it continues before it
    not_run: str | None  # why not, for a fragment


def readme_blocks() -> list[Block]:
    lines = README.read_text().splitlines()
    blocks: list[Block] = []
    n = 0
    while n < len(lines):
        if lines[n].strip() != "```python":
            n += 1
            continue
        end = next(e for e in range(n + 1, len(lines)) if lines[e].strip() == "```")
        code = "\n".join(lines[n + 1 : end]) + "\n"
        above = lines[n - 1].strip() if n else ""
        if above == CONTINUES:
            if not blocks:
                raise ValueError(f"README.md:{n + 1}: continues no block above")
            code = blocks[-1].code + code
        marked = NOT_RUN.fullmatch(above)
        blocks.append(Block(n + 1, code, marked.group(1) if marked else None))
        n = end + 1
    return blocks


def cheap(code: str) -> str:
    """``code`` with the keyword arguments of :data:`CHEAP` in every call of those names
    (``train(...)``, ``kgrec.tune.tune(...)``): a value given is replaced, one not given is
    added before the closing parenthesis. Lines stay where they were."""
    edits: list[tuple[int, int, str]] = []  # (start, end, text): offsets into code
    starts = [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(lineno: int, col: int) -> int:  # ast's columns are UTF-8 bytes
        line = code[starts[lineno - 1] : starts[lineno]]
        return starts[lineno - 1] + len(line.encode()[:col].decode())

    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in CHEAP:
            continue
        given = {k.arg: k.value for k in node.keywords if k.arg}
        added = []
        for key, value in CHEAP[name].items():
            if key in given:
                v = given[key]
                start = offset(v.lineno, v.col_offset)
                edits.append((start, offset(v.end_lineno, v.end_col_offset), value))
            else:
                added.append(f"{key}={value}")
        if added:
            close = offset(node.end_lineno, node.end_col_offset) - 1  # its ")"
            before = code[:close].rstrip()
            sep = "" if before.endswith("(") else " " if before.endswith(",") else ", "
            edits.append((len(before), len(before), sep + ", ".join(added)))
    for start, end, text in sorted(edits, reverse=True):
        code = code[:start] + text + code[end:]
    return code


def test_the_readme_has_python_blocks():
    blocks = readme_blocks()
    assert len(blocks) >= 3
    assert sum(b.not_run is not None for b in blocks) <= 1  # sparingly
    assert any(NEO4J_URI in b.code for b in blocks)


def test_cheap_inserts_and_replaces_epochs():
    code = 'run = train(\n    "m", out="x",\n)\nr = kgrec.tune.tune("m", epochs=300)  # é\n'
    assert cheap(code) == (
        'run = train(\n    "m", out="x", epochs=1\n)\n'
        'r = kgrec.tune.tune("m", epochs=1, trials=1)  # é\n'
    )
    assert cheap("train()\n") == "train(epochs=1)\n"


def _param(block: Block):
    marks = [pytest.mark.neo4j] if NEO4J_URI in block.code else []
    if block.not_run:
        marks.append(pytest.mark.skip(reason=f"README.md:{block.line}: not run: {block.not_run}"))
    return pytest.param(block, marks=marks, id=f"README.md:{block.line}")


@pytest.mark.parametrize("block", [_param(b) for b in readme_blocks()])
def test_a_readme_python_block_runs(block, request, tmp_path, datasets):
    code = cheap(block.code)
    path = [str(ROOT), os.environ.get("PYTHONPATH", "")]  # this checkout's kgrec and loaders
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}
    if NEO4J_URI in code:
        request.getfixturevalue("neo4j_clean")  # skips (fails on CI) with no server
        settings = request.getfixturevalue("neo4j_settings")
        code = code.replace(NEO4J_URI, settings.uri)
        env |= {
            "NEO4J_USERNAME": settings.auth[0],
            "NEO4J_PASSWORD": settings.auth[1],
            "NEO4J_DATABASE": settings.database,
        }
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "datasets").symlink_to(datasets)
    work = tmp_path / "work"
    work.mkdir()
    script = work / "block.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (
        f"README.md:{block.line}: the block fails (as run, {script}):\n{code}\n"
        f"{done.stderr[-4000:]}"
    )
