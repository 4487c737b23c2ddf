"""The notebooks, executed top to bottom against the real Neo4j with small settings.

Any error in any cell fails the test. The database is emptied before each notebook.
"""

from __future__ import annotations

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
def test_notebook_runs(path, notebook_env, tmp_path):
    notebook = _execute(path, tmp_path)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type in ("execute_result", "display_data") for o in outputs)


def test_the_cross_domain_notebook_refuses_a_database_with_other_domains(
    notebook_env, neo4j_settings, make_two_domains, tmp_path
):
    """Run after notebook 01 on the same database, notebook 02 would train on ml-100k's films
    beside ml-1m's: it stops and says so (before, it trained on the mixed graph)."""
    with open_store(neo4j_settings.uri) as store:
        store.write(make_two_domains(domains=("movies", "books")), progress=False)
    with pytest.raises(CellExecutionError, match=r"also holds the domains \['books', 'movies'\]"):
        _execute(NOTEBOOKS[1], tmp_path)
