"""Runs trained on a store's text vectors against the text model the store holds later."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kgrec.cli import main
from kgrec.errors import InputError
from kgrec.experiment import load_run, train
from kgrec.store import open_store
from kgrec.text.embed import embed_store
from loaders import recbole
from loaders.rules import named_rule

SMALL = {"epochs": 2, "dim": 8, "batch_size": 128, "progress": False}


def _embed(store: str, model) -> None:
    embed_store(store, kinds=["Item"], model=str(model), use_cache=False, progress=False)


def test_a_run_is_not_served_from_another_models_vectors(
    tmp_path, tiny_recbole, tiny_model, other_tiny_model, make_graph, capsys
):
    """Before, the run's content student read the other model's vectors (same size) of the
    items loaded after training as if they were its own, and served them."""
    store = f"local:{tmp_path / 'store'}"
    with open_store(store) as opened:
        tables = recbole.load(tiny_recbole, domain_rule=named_rule("ml1m-action-comedy"))
        opened.write(tables, progress=False)
    _embed(store, tiny_model)
    with open_store(store) as opened:
        trained_with = opened.vector_model("embedding")
    run = train(
        "lightgcn",
        store=store,
        protocol="ml1m-new-items",
        cold_items="student",
        out=tmp_path / "run",
        **SMALL,
    )
    info = json.loads((run.folder / "run.json").read_text())
    assert info["text_model"] == trained_with
    # an item loaded after training, embedded by the run's model: served
    target = run.experiment.maps.domains[run.experiment.split.target_domain]
    with open_store(store) as opened:
        late = [{"domain": target, "item_id": "late", "title": "Late Action", "year": 1999}]
        opened.write(make_graph(items=late), progress=False)
    _embed(store, tiny_model)
    assert f"{target}:late" in set(load_run(run.folder).recommend(k=1_000)["item_uid"])

    _embed(store, other_tiny_model)  # every kind that holds the vectors: embed allows it
    loaded = load_run(run.folder)
    with pytest.raises(InputError, match="another model") as refused:
        loaded.recommend(k=5)
    message = str(refused.value)
    assert str(tiny_model) in message and str(other_tiny_model) in message
    with pytest.raises(InputError, match="another model"):
        loaded.recommend(k=5, users=["newbie"])  # fold-in ranks the late items too
    capsys.readouterr()
    assert main(["recommend", "--run", str(run.folder), "--show", "u1"]) == 2
    assert "another model" in capsys.readouterr().err

    # re-embedded with the run's model again: served again
    _embed(store, tiny_model)
    assert f"{target}:late" in set(load_run(run.folder).recommend(k=1_000)["item_uid"])


def test_a_run_without_a_record_is_served_as_before(tmp_path, tiny_recbole, tiny_model):
    """A store embedded before session 26 records no model: the run records None, and the
    store's later record is not held against it."""
    store = f"local:{tmp_path / 'store'}"
    with open_store(store) as opened:
        tables = recbole.load(tiny_recbole, domain_rule=named_rule("ml1m-action-comedy"))
        opened.write(tables, progress=False)
        keys = sorted(tables.items["uid"])
        vectors = np.random.default_rng(0).normal(size=(len(keys), 32))
        opened.write_vectors("Item", keys, vectors, property="embedding")  # no model recorded
    run = train(
        "lightgcn",
        store=store,
        protocol="ml1m-new-items",
        cold_items="student",
        out=tmp_path / "run",
        **SMALL,
    )
    assert json.loads((run.folder / "run.json").read_text())["text_model"] is None
    _embed(store, tiny_model)
    with open_store(store) as opened:
        assert opened.vector_model("embedding") is not None
    assert len(load_run(run.folder).recommend(k=5)) > 0


def test_a_damaged_text_model_in_run_json_is_named(tmp_path, text_store):
    run = train(
        "lightgcn",
        store=text_store,
        protocol="ml1m-new-items",
        cold_items="student",
        out=tmp_path / "run",
        **SMALL,
    )
    path = run.folder / "run.json"
    info = json.loads(path.read_text())
    path.write_text(json.dumps({**info, "text_model": "MiniLM"}))
    with pytest.raises(InputError, match="text_model") as refused:
        load_run(run.folder).recommend(k=5)
    assert str(path) in str(refused.value)
