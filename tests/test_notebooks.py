"""The notebooks, executed top to bottom against the real Neo4j with small settings.

Any error in any cell fails the test. The database is emptied before each notebook.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from kgrec.store import open_store

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_cross_domain.ipynb",
        "03_explanations.ipynb",
    ]


@pytest.fixture
def notebook_env(neo4j_clean, datasets, tmp_path, monkeypatch, neo4j_settings):
    """The environment the notebooks read their settings from: the test server (before, its URI
    went to a variable no notebook reads, so they used the default port), small settings."""
    monkeypatch.setenv("NEO4J_URI", neo4j_settings.uri)
    monkeypatch.setenv("NEO4J_USERNAME", neo4j_settings.auth[0])
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.auth[1])
    monkeypatch.setenv("KGREC_DATA", str(datasets))
    monkeypatch.setenv("KGREC_NOTEBOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("KGREC_NOTEBOOK_EPOCHS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _execute(path: Path, folder: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=1200,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_runs_again(path, notebook_env, tmp_path):
    """Twice, as a user's second "Run All" (before, it stopped at the first run folder, which
    `train` never overwrites)."""
    for _ in range(2):
        notebook = _execute(path, tmp_path)
        outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
        assert not [o for o in outputs if o.output_type == "error"]
        assert any(o.output_type in ("execute_result", "display_data") for o in outputs)


def test_every_query_of_the_notebooks_goes_to_the_database_they_write():
    """`open_store` and `train` write to $NEO4J_DATABASE; before, the notebooks' queries went to
    the server's home database, and showed another graph where the two differ."""
    calls = 0
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for call in re.finditer(r"\b(cypher|neighbourhood)\(", cell.source):
                calls += 1
                depth, end = 0, call.end() - 1
                for end in range(call.end() - 1, len(cell.source)):
                    depth += {"(": 1, ")": -1}.get(cell.source[end], 0)
                    if depth == 0:
                        break
                assert "database=DATABASE" in cell.source[call.start() : end], (path.name, call)
    assert calls >= 8


def test_the_cross_domain_notebook_refuses_a_database_with_other_domains(
    notebook_env, neo4j_settings, make_two_domains, tmp_path
):
    """Run after notebook 01 on the same database, notebook 02 would train on ml-100k's films
    beside ml-1m's: it stops and says so (before, it trained on the mixed graph)."""
    with open_store(neo4j_settings.uri) as store:
        store.write(make_two_domains(domains=("movies", "books")), progress=False)
    with pytest.raises(CellExecutionError, match=r"also holds the domains \['books', 'movies'\]"):
        _execute(NOTEBOOKS[1], tmp_path)


@pytest.mark.parametrize("index", [0, 2], ids=lambda i: NOTEBOOKS[i].stem)
def test_the_ml100k_notebooks_refuse_a_database_with_other_domains(
    index, notebook_env, neo4j_settings, make_two_domains, tmp_path
):
    """Run in order, notebook 03 came after 02 on the same database: it loaded ml-100k beside
    ml-1m's action and comedy films, whose users of the same ids it took for the same people, and
    trained on the mix. Notebooks 01 and 03 now stop and say so, as 02 does."""
    with open_store(neo4j_settings.uri) as store:
        store.write(make_two_domains(), progress=False)
    with pytest.raises(CellExecutionError, match=r"also holds the domains \['action', 'comedy'\]"):
        _execute(NOTEBOOKS[index], tmp_path)
