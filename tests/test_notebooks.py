"""The notebooks, executed top to bottom against the real Neo4j with small settings.

Any error in any cell fails the test. The database is emptied before each notebook.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_cross_domain.ipynb",
        "03_explanations.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, neo4j_clean, datasets, tmp_path, monkeypatch, neo4j_settings):
    monkeypatch.setenv("neo4j_settings.uri", neo4j_settings.uri)
    monkeypatch.setenv("NEO4J_USERNAME", neo4j_settings.auth[0])
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.auth[1])
    monkeypatch.setenv("KGREC_DATA", str(datasets))
    monkeypatch.setenv("KGREC_NOTEBOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("KGREC_NOTEBOOK_EPOCHS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=1200,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type in ("execute_result", "display_data") for o in outputs)
