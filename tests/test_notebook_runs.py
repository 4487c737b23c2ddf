"""The notebooks' settings and training cells, without Neo4j: each cell's code is executed as
the notebook holds it, against a local store in place of the server (the notebooks, whole, run
against Neo4j in tests/test_notebooks.py)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import nbformat
import pytest

import kgrec.train
from kgrec.store import open_store
from loaders import recbole

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


NAMES = ["01_quickstart.ipynb", "02_cross_domain.ipynb", "03_explanations.ipynb"]


def _settings(name: str, store: str, monkeypatch, tmp_path: Path) -> tuple[dict, str]:
    """The names the notebook's first cell defines (its settings from the environment, as
    tests/test_notebooks.py sets it), with ``store`` as STORE and no driver; and the source of
    its cell that trains."""
    monkeypatch.setenv("KGREC_NOTEBOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("KGREC_NOTEBOOK_EPOCHS", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("NEO4J_PORT", "1")  # nothing listens there: no server is reached
    names = _first_cell(name)
    names["STORE"] = store
    (training,) = [source for source in _code_cells(name) if re.search(r"\btrain\(", source)]
    return names, training


def _code_cells(name: str) -> list[str]:
    """The sources of the notebook's code cells, in order."""
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    return [cell.source for cell in cells if cell.cell_type == "code"]


def _first_cell(name: str) -> dict:
    """The names the notebook's first code cell (its settings) defines, run without its
    ``driver = connect(STORE)``."""
    first, count = re.subn(
        r"^driver = connect\(STORE\)$", "", _code_cells(name)[0], flags=re.MULTILINE
    )
    assert count == 1
    names: dict = {}
    exec(first, names)
    return names


def _stopped_after_the_first_checkpoint(monkeypatch) -> None:
    """Kernel > Interrupt during training, once its first checkpoint is written."""
    save = kgrec.train._save

    def save_then_stop(*args, **kwargs):
        save(*args, **kwargs)
        monkeypatch.setattr(kgrec.train, "_save", save)
        raise KeyboardInterrupt

    monkeypatch.setattr(kgrec.train, "_save", save_then_stop)


def _run_twice(names: dict, training: str, monkeypatch) -> dict:
    """The training cell stopped during its training, then run again (a second "Run All")."""
    with monkeypatch.context() as patch:
        _stopped_after_the_first_checkpoint(patch)
        with pytest.raises(KeyboardInterrupt):
            exec(training, names)
    exec(training, names)  # before: InputError "the run did not finish ... --resume"
    return names


@pytest.mark.parametrize(
    ("name", "run"),
    [("01_quickstart.ipynb", "lightgcn-ml100k"), ("03_explanations.ipynb", "explain-lightgcn")],
)
def test_an_ml100k_notebook_finishes_a_run_its_first_run_all_left(
    name, run, datasets, tmp_path, monkeypatch
):
    """Stopped during its training (Kernel > Interrupt), a notebook's run folder holds a run
    that did not finish; the next "Run All" read it with load_run, which refuses such a run
    ("finish it with the kgrec train command that trained it and --resume"): the notebook
    failed there on every run after. It now finishes the run."""
    monkeypatch.setenv("KGREC_DATA", str(datasets))
    store = f"local:{tmp_path / 'store'}"
    with open_store(store) as opened:
        opened.write(recbole.load(datasets / "ml-100k", domain="movies"), progress=False)
    names, training = _settings(name, store, monkeypatch, tmp_path)
    names = _run_twice(names, training, monkeypatch)
    folder = tmp_path / "runs" / run
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "done" and info["training"]["epochs_resumed"] == 1
    assert names["run"].folder == folder
    exec(training, names)  # and again: the finished run, read as it is
    assert json.loads((folder / "run.json").read_text()) == info


def test_the_cross_domain_notebook_finishes_a_run_its_first_run_all_left(
    text_store, tmp_path, monkeypatch
):
    """As above, for notebook 02's four runs (the tiny two-domain store in place of ml-1m)."""
    names, training = _settings("02_cross_domain.ipynb", text_store, monkeypatch, tmp_path)
    names = _run_twice(names, training, monkeypatch)
    assert list(names["runs"]) == ["popularity", "lightgcn", "lightgcn-merged", "cross-domain"]
    for model in names["runs"]:
        info = json.loads((tmp_path / "runs" / f"{model}-ml1m" / "run.json").read_text())
        assert info["status"] == "done", model
    resumed = json.loads((tmp_path / "runs" / "lightgcn-ml1m" / "run.json").read_text())
    assert resumed["training"]["epochs_resumed"] == 1


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_setting_is_unset(name, tmp_path, monkeypatch):
    """An empty KGREC_DATA is unset for kgrec (README, Configuration); in the notebooks it was
    the working folder (ml-100k/ looked for in notebooks/), an empty KGREC_NOTEBOOK_RUNS put the
    runs loose in notebooks/ (outside its ignored runs/), an empty KGREC_NOTEBOOK_EPOCHS was
    int("")'s ValueError. Each is now the default."""
    for variable in ("KGREC_DATA", "KGREC_NOTEBOOK_RUNS", "KGREC_NOTEBOOK_EPOCHS"):
        monkeypatch.setenv(variable, "")
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("NEO4J_PORT", "1")
    names = _first_cell(name)
    assert names["DATA"] == Path("../../shared/datasets") and names["RUNS"] == Path("runs")
    assert names["EPOCHS"] == (20 if name.startswith("03") else 100)


def test_the_cold_start_users_explanation_reads_no_held_out_interaction(
    text_store, tmp_path, monkeypatch
):
    """Notebook 02 explains a cold-start user's first recommendation, "served through what
    they watched in the action domain"; it explained it over the whole graph, whose
    interactions hold the user's held-out comedies, and gave those as the reasons ("you
    interacted with" a test comedy; on ml-1m, user 1m_1: Meet Joe Black). Its paths now run over
    the graph less the run's valid and test interactions."""
    import pandas as pd

    names, training = _settings("02_cross_domain.ipynb", text_store, monkeypatch, tmp_path)
    exec(training, names)
    cells = _code_cells("02_cross_domain.ipynb")
    (recommending,) = [source for source in cells if "recs = cypher(" in source]
    (explaining,) = [source for source in cells if "why = " in source]

    def cypher(driver, query, *, user, run, database):  # the Cypher query's rows, from the run
        ranked = names["runs"]["cross-domain"].recommend(k=10, users=[user])
        return ranked.rename(columns={"item_uid": "uid"})[["rank", "uid"]]

    names["cypher"], names["driver"] = cypher, None
    exec(recommending, names)
    exec(explaining, names)
    run, user, why = names["run"], names["user"], names["why"]
    assert not why.empty
    folder = run.folder / "split"
    held = pd.concat(
        pd.read_csv(folder / f"{name}.tsv", sep="\t", dtype=str) for name in ("valid", "test")
    )
    held = {(u, f"comedy:{i}") for u, i in zip(held["user_id"], held["item_id"], strict=True)}
    assert any(u == user for u, _ in held)  # the user's comedies are all held out
    for nodes in why["nodes"]:
        hops = itertools.pairwise(nodes)
        users_items = [(a.partition(":")[2], b.partition(":")[2]) for a, b in hops]
        users_items += [(b, a) for a, b in users_items]
        assert not held & set(users_items), nodes
