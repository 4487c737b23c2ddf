"""Runs trained on a store's text vectors against the text model the store holds later."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
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


def _train(store: str, tmp_path):
    """A small LightGCN run on ``store`` whose cold items are scored by the content student."""
    return train(
        "lightgcn",
        store=store,
        protocol="ml1m-new-items",
        cold_items="student",
        out=tmp_path / "run",
        **SMALL,
    )


def test_a_run_is_not_served_from_another_models_vectors(
    tmp_path, tiny_store, tiny_model, other_tiny_model, make_graph, capsys
):
    """Before, the run's content student read the other model's vectors (same size) of the
    items loaded after training as if they were its own, and served them."""
    store = tiny_store
    _embed(store, tiny_model)
    with open_store(store) as opened:
        trained_with = opened.vector_model("embedding")
    run = _train(store, tmp_path)
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


def test_a_run_without_a_record_is_served_as_before(tmp_path, tiny_store, tiny_model):
    """A store embedded before session 26 records no model: the run records None, and the
    store's later record is not held against it."""
    store = tiny_store
    with open_store(store) as opened:
        keys = sorted(opened.snapshot().items["uid"])
        vectors = np.random.default_rng(0).normal(size=(len(keys), 32))
        opened.write_vectors("Item", keys, vectors, property="embedding")  # no model recorded
    run = _train(store, tmp_path)
    assert json.loads((run.folder / "run.json").read_text())["text_model"] is None
    _embed(store, tiny_model)
    with open_store(store) as opened:
        assert opened.vector_model("embedding") is not None
    assert len(load_run(run.folder).recommend(k=5)) > 0


def test_a_damaged_text_model_in_run_json_is_named(tmp_path, text_store):
    run = _train(text_store, tmp_path)
    path = run.folder / "run.json"
    info = json.loads(path.read_text())
    path.write_text(json.dumps({**info, "text_model": "MiniLM"}))
    with pytest.raises(InputError, match="text_model") as refused:
        load_run(run.folder).recommend(k=5)
    assert str(path) in str(refused.value)


def _vectors_of(store, model: str, value: float) -> None:
    """Every item and entity of ``store`` with the vector ``value`` (4-d), recorded as
    ``model``'s, as one embed would write them."""
    snapshot = store.snapshot()
    kinds = {
        "Item": sorted(snapshot.items["uid"]),
        "Entity": sorted(snapshot.entities["entity_id"]),
    }
    store.replace_vectors(
        {kind: (keys, np.full((len(keys), 4), value)) for kind, keys in kinds.items()},
        property="embedding",
        model={"name": model, "identity": model},
    )


def _store_of_a(tmp_path, movies) -> str:
    """A local store (its URI) of ``movies`` whose vectors are all 1.0, model a's."""
    uri = f"local:{tmp_path / 'store'}"
    with open_store(uri) as opened:
        opened.write(movies, progress=False)
        _vectors_of(opened, "a", 1.0)
    return uri


def test_an_embed_between_two_kinds_is_not_read_as_one_models_vectors(
    tmp_path, movies, monkeypatch
):
    """Before, training read the record and each kind's vectors as separate reads, without
    the load lock: an embed with another model committed between the Item and the Entity
    read gave the run model a's items, model b's entities, and recorded model a."""
    from kgrec.data.source import read_graph
    from kgrec.store.local import LocalStore

    uri = _store_of_a(tmp_path, movies)
    read = LocalStore.read_vectors
    embeds = []

    def read_while_embedding(self, kind, *, property):
        if kind == "Entity" and not embeds:  # another process's embed commits now
            embeds.append(kind)
            _vectors_of(LocalStore(self.path), "b", 2.0)
        return read(self, kind, property=property)

    monkeypatch.setattr(LocalStore, "read_vectors", read_while_embedding)
    _, text, model = read_graph(store=uri, text_property="embedding")
    assert embeds
    assert model == {"name": "b", "identity": "b"}
    for kind in ("Item", "Entity"):
        assert np.all(text[kind][1] == 2.0), kind


def test_vectors_replaced_at_every_read_are_an_error(tmp_path, movies, monkeypatch):
    from kgrec.data.source import read_graph
    from kgrec.errors import StoreError
    from kgrec.store.local import LocalStore

    uri = _store_of_a(tmp_path, movies)
    read = LocalStore.read_vectors
    models = iter("bcdefgh")

    def read_while_embedding(self, kind, *, property):
        if kind == "Entity":
            _vectors_of(LocalStore(self.path), next(models), 2.0)
        return read(self, kind, property=property)

    monkeypatch.setattr(LocalStore, "read_vectors", read_while_embedding)
    with pytest.raises(StoreError, match="while they were read"):
        read_graph(store=uri, text_property="embedding")


def test_a_run_does_not_serve_vectors_an_embed_replaced_as_it_checked_them(
    tmp_path, tiny_store, make_graph, monkeypatch
):
    """Before, recommend checked the store's record of the text model, then read the
    vectors: another model's embed committed in between was served as the run's."""
    from kgrec.store.local import LocalStore

    store = tiny_store

    def embed(model: str) -> None:  # every item, 6-d vectors recorded as ``model``'s
        with open_store(store) as opened:
            keys = sorted(opened.snapshot().items["uid"])
            rng = np.random.default_rng(ord(model))
            opened.replace_vectors(
                {"Item": (keys, rng.normal(size=(len(keys), 6)))},
                property="embedding",
                model={"name": model, "identity": model},
            )

    embed("a")
    run = _train(store, tmp_path)
    target = run.experiment.maps.domains[run.experiment.split.target_domain]
    with open_store(store) as opened:
        late = [{"domain": target, "item_id": "late", "title": "Late Action", "year": 1999}]
        opened.write(make_graph(items=late), progress=False)
    embed("a")
    assert f"{target}:late" in set(load_run(run.folder).recommend(k=1_000)["item_uid"])
    read = LocalStore.read_vectors
    embeds = []

    def read_while_embedding(self, kind, *, property):
        if not embeds:  # another process's embed, by model b, commits now
            embeds.append(kind)
            embed("b")
        return read(self, kind, property=property)

    monkeypatch.setattr(LocalStore, "read_vectors", read_while_embedding)
    with pytest.raises(InputError, match="another model"):
        load_run(run.folder).recommend(k=5)
    assert embeds


def _other_templates():
    from dataclasses import replace

    from kgrec.text.templates import DEFAULT_TEMPLATES, make_template

    return replace(
        DEFAULT_TEMPLATES,
        item=make_template("item", "A film called {title}"),
        entity=make_template("entity", "Something named {name}"),
        entity_unnamed=make_template("entity_unnamed", "Something: {context}"),
    )


def test_an_embed_with_other_templates_between_two_kinds_is_read_again(
    tmp_path, movies, tiny_model, monkeypatch
):
    """Before, the store's record named the text model only: an embed with the same model
    and other templates that committed between the Item and the Entity read went unseen,
    and the run read the old templates' item vectors beside the new ones' entity vectors."""
    from kgrec.data.source import read_graph
    from kgrec.store.local import LocalStore

    uri = f"local:{tmp_path / 'store'}"
    with open_store(uri) as opened:
        opened.write(movies, progress=False)

    def embed(**templates) -> None:
        embed_store(uri, model=str(tiny_model), use_cache=False, progress=False, **templates)

    embed()
    read = LocalStore.read_vectors
    embeds = []

    def read_while_embedding(self, kind, *, property):
        if kind == "Entity" and not embeds:  # another process's embed commits now
            embeds.append(kind)
            embed(templates=_other_templates())
        return read(self, kind, property=property)

    monkeypatch.setattr(LocalStore, "read_vectors", read_while_embedding)
    _, text, model = read_graph(store=uri, text_property="embedding")
    monkeypatch.setattr(LocalStore, "read_vectors", read)
    assert embeds
    with open_store(uri) as opened:
        assert model == opened.vector_model("embedding")
        for kind in ("Item", "Entity"):  # every kind as the second embed wrote it
            keys, vectors = opened.read_vectors(kind, property="embedding")
            assert text[kind][0] == keys, kind
            np.testing.assert_array_equal(text[kind][1], vectors, err_msg=kind)


def test_a_run_is_not_served_vectors_of_other_templates(
    tmp_path, tiny_recbole, tiny_model, make_graph
):
    """Before, a re-embed with the run's model and other templates went unseen: the run's
    content student read item vectors of texts unlike those it was fitted on, silently."""
    store = f"local:{tmp_path / 'store'}"
    with open_store(store) as opened:
        tables = recbole.load(tiny_recbole, domain_rule=named_rule("ml1m-action-comedy"))
        opened.write(tables, progress=False)
    _embed(store, tiny_model)
    run = train(
        "lightgcn",
        store=store,
        protocol="ml1m-new-items",
        cold_items="student",
        out=tmp_path / "run",
        **SMALL,
    )
    target = run.experiment.maps.domains[run.experiment.split.target_domain]
    with open_store(store) as opened:
        late = [{"domain": target, "item_id": "late", "title": "Late Action", "year": 1999}]
        opened.write(make_graph(items=late), progress=False)
    _embed(store, tiny_model)  # the same templates: served
    assert f"{target}:late" in set(load_run(run.folder).recommend(k=1_000)["item_uid"])
    embed_store(
        store,
        kinds=["Item"],
        model=str(tiny_model),
        templates=_other_templates(),
        use_cache=False,
        progress=False,
    )
    with pytest.raises(InputError, match="other templates") as refused:
        load_run(run.folder).recommend(k=5)
    assert "Item" in str(refused.value)
    _embed(store, tiny_model)  # the run's templates again: served again
    assert f"{target}:late" in set(load_run(run.folder).recommend(k=1_000)["item_uid"])


def test_user_vectors_that_read_the_interactions_are_no_models_input(
    tmp_path, tiny_recbole, tiny_model, capsys
):
    """Before, nothing enforced what the README says of a user template with {items} (it
    reads every interaction, valid and test ones included): a model with --text-input, or
    cross-domain, trained on those user vectors and saw the items it is tested on."""
    from kgrec.text.templates import DEFAULT_TEMPLATES, make_template
    from kgrec.tune import Choice, tune

    store = f"local:{tmp_path / 'store'}"
    with open_store(store) as opened:
        tables = recbole.load(tiny_recbole, domain_rule=named_rule("ml1m-action-comedy"))
        tables.items["title"] = tables.items["item_id"]  # labels for {items}
        opened.write(tables, progress=False)
    leaky = replace(DEFAULT_TEMPLATES, user=make_template("user", "User who liked {items}."))

    def embed(kinds, templates=DEFAULT_TEMPLATES) -> None:
        embed_store(
            store,
            kinds=kinds,
            model=str(tiny_model),
            templates=templates,
            use_cache=False,
            progress=False,
        )

    embed(["Item", "User"], leaky)
    with open_store(store) as opened:
        assert len(opened.read_vectors("User", property="embedding")[0]) > 0
    for model, options in (("lightgcn", {"text_input": "add"}), ("cross-domain", {})):
        with pytest.raises(InputError, match=r"names \{items\}") as refused:
            train(model, store=store, protocol="ml1m-new-items", out=tmp_path / model, **options)
        assert "kgrec embed" in str(refused.value)
        assert not (tmp_path / model).exists()  # refused before the run folder is written
    with pytest.raises(InputError, match=r"--search text_input=.*names \{items\}"):
        tune(
            "lightgcn",
            store=store,
            protocol="ml1m-new-items",
            out=tmp_path / "tune",
            space={"text_input": Choice(("none", "add"))},
            trials=1,
            progress=False,
        )
    assert not (tmp_path / "tune").exists()
    capsys.readouterr()
    out = tmp_path / "cli"
    args = ["train", "--model", "cross-domain", "--store", store, "--protocol", "ml1m-new-items"]
    assert main([*args, "--out", str(out)]) == 2
    assert "names {items}" in capsys.readouterr().err and not out.exists()

    def lightgcn(name: str, **options):
        return train(
            "lightgcn", store=store, protocol="ml1m-new-items", out=tmp_path / name, **options
        )

    embed(["Item"])  # the users' vectors, and what their texts read, stay as they were
    with pytest.raises(InputError, match=r"names \{items\}"):
        lightgcn("again", text_input="add", **SMALL)
    lightgcn("item-text", text_cl_weight=0.1, **SMALL)  # item text only: not refused
    embed(["User"])  # the users again, without {items}: trained
    lightgcn("without-items", text_input="add", **SMALL)


def _publish_items(store: str, property: str) -> None:
    """Run r1's publish of ``store``'s item text vectors as its embeddings, into ``property``."""
    with open_store(store) as opened:
        keys, vectors = opened.read_vectors("Item", property="embedding")
        recs = pd.DataFrame({"user_id": ["u1"], "item_uid": [keys[0]], "score": [1.0], "rank": [1]})
        recs["model"] = "lightgcn"
        opened.publish(recs, run="r1", vectors={"Item": (keys, vectors)}, property=property)


def test_a_runs_published_vectors_are_no_text_to_train_on(tmp_path, text_store, capsys):
    """Before, kgrec train --text-property gnn_embedding trained on the embeddings a run
    published there as if they were the items' text, silently; now it stops (exit 2) before
    the run folder is written, naming the run and the property that holds text vectors."""
    _publish_items(text_store, "gnn_embedding")
    base = ["train", "--store", text_store, "--protocol", "ml1m-new-items", "--epochs", "1"]
    for n, options in enumerate(
        (["--model", "cross-domain"], ["--model", "lightgcn", "--cold-items", "student"])
    ):
        out = tmp_path / f"run{n}"
        args = [*base, *options, "--text-property", "gnn_embedding", "--out", str(out)]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "run 'r1' published" in err and "'embedding' by default" in err, err
        assert not out.exists()


def test_vectors_an_older_kgrec_published_are_no_text_to_train_on(tmp_path, text_store, capsys):
    """A kgrec before session 29 published a run's embeddings into 'gnn_embedding' recording
    no run (and they record no text model either). Before, kgrec train --text-property
    gnn_embedding trained on them as the items' text; now it stops (exit 2), naming them."""
    _publish_items(text_store, "gnn_embedding")
    manifest = Path(text_store.split(":", 1)[1]) / "manifest.json"
    content = json.loads(manifest.read_text())
    del content["vector_models"]["gnn_embedding"]  # the record of a publish before session 29
    manifest.write_text(json.dumps(content))
    out = tmp_path / "run"
    args = ["train", "--store", text_store, "--protocol", "ml1m-new-items", "--epochs", "1"]
    args += ["--model", "cross-domain", "--text-property", "gnn_embedding", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the vectors 'gnn_embedding' record no text model" in err, err
    assert "they are not read as node text" in err and "'embedding' by default" in err
    assert not out.exists()


def test_a_run_is_not_served_from_vectors_a_run_published_over_its_text(tmp_path, text_store):
    """Before, a run whose text property a publish had overwritten since training had its
    new items scored by its content student from that run's embeddings, as if text."""
    run = _train(text_store, tmp_path)
    run.recommend(k=5)  # its text vectors: served
    _publish_items(text_store, "embedding")
    with pytest.raises(InputError, match="run 'r1' published"):
        load_run(run.folder).recommend(k=5)


def test_a_text_property_no_node_holds_names_the_embed_that_writes_it(tmp_path, text_store, capsys):
    """Before, `kgrec train --text-property bge` of a store whose vectors are 'embedding'
    said to "run `kgrec embed --store STORE` first", an embed that writes 'embedding', not
    'bge', so the same train failed again (found by the embed46 review)."""
    out = tmp_path / "run"
    args = ["train", "--store", text_store, "--protocol", "ml1m-new-items", "--epochs", "1"]
    args += ["--model", "cross-domain", "--text-property", "bge", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no node in the store has the text property 'bge'" in err, err
    assert f"`kgrec embed --store {text_store} --property bge`" in err, err
    assert not out.exists()
