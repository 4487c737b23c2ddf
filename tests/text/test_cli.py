"""`kgrec embed` on the embedded store: vectors written, cache reused, bad input refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from graph_schema.tables import GraphTables
from kgrec.cli import main
from kgrec.store import open_store

KINDS = ("Item", "Entity")  # what `kgrec embed` embeds by default


def _graph() -> GraphTables:
    s = lambda values: pd.Series(values, dtype="string")  # noqa: E731
    return GraphTables(
        domains=pd.DataFrame({"domain": s(["m"])}),
        users=pd.DataFrame({"user_id": s(["u1", "u2"]), "age": s(["24", None])}),
        items=pd.DataFrame(
            {
                "uid": s(["m:1", "m:2", "m:3"]),
                "domain": s(["m", "m", "m"]),
                "item_id": s(["1", "2", "3"]),
                "title": s(["Toy Story", "Heat", None]),
                "year": pd.array([1995, 1995, None], dtype="Int64"),
                "genres": [["Animation", "Comedy"], ["Action"], None],
                "entity_id": s([None, None, None]),
            }
        ),
        entities=pd.DataFrame({"entity_id": s(["m.a", "m.b"]), "name": s([None, None])}),
        interactions=pd.DataFrame(
            {
                "user_id": s(["u1", "u2"]),
                "item_uid": s(["m:1", "m:2"]),
                "rating": [5.0, 3.0],
                "timestamp": [1.0, 2.0],
            }
        ),
        knowledge=pd.DataFrame(
            {
                "head_kind": s(["Item", "Item"]),
                "head_key": s(["m:1", "m:2"]),
                "relation": s(["film.film.actor", "film.film.actor"]),
                "tail_kind": s(["Entity", "Entity"]),
                "tail_key": s(["m.a", "m.a"]),
            }
        ),
    )


@pytest.fixture
def store_uri(tmp_path) -> str:
    uri = f"local:{tmp_path / 'store'}"
    with open_store(uri) as store:
        store.write(_graph(), progress=False)
    return uri


def _summary(out: str) -> dict[str, list[int]]:
    rows = [
        line.split()
        for line in out.splitlines()
        if line.split()[:1] in (["Item"], ["Entity"], ["User"])
    ]
    return {row[0]: [int(x) for x in row[1:]] for row in rows}


def test_embed_writes_vectors_and_reuses_the_cache(tmp_path, store_uri, capsys, encoder):
    cache = str(tmp_path / "cache.sqlite")
    assert main(["embed", "--store", store_uri, "--cache", cache]) == 0
    # columns: nodes, no text, vectors, texts, encoded, cached
    assert _summary(capsys.readouterr().out) == {
        "Item": [3, 1, 2, 2, 2, 0],
        "Entity": [2, 1, 1, 1, 1, 0],
    }
    with open_store(store_uri) as store:
        keys, vectors = store.read_vectors("Item", property="embedding")
        entity_keys, _ = store.read_vectors("Entity", property="embedding")
        assert store.read_vectors("User", property="embedding")[0] == []
    assert keys == ["m:1", "m:2"] and entity_keys == ["m.a"]  # m:3 and m.b have no text
    expected = encoder.encode(
        ["Toy Story (1995). Genres: Animation, Comedy.", "Heat (1995). Genres: Action."],
        progress=False,
    )
    np.testing.assert_allclose(vectors, expected, atol=1e-5)

    assert main(["embed", "--store", store_uri, "--cache", cache, "--users"]) == 0
    summary = _summary(capsys.readouterr().out)
    assert summary["Item"] == [3, 1, 2, 2, 0, 2] and summary["Entity"] == [2, 1, 1, 1, 0, 1]
    assert summary["User"] == [2, 1, 1, 1, 1, 0]  # the default user text is the attributes alone


def test_the_summary_counts_nodes_and_texts_apart(tmp_path, store_uri, capsys, encoder):
    """Two items of one text (year 1995) get two vectors of one text: the table says which
    columns count nodes and which texts, and shows both totals (found by the polishB45 review:
    before, "vectors 1682, encoded 0, cached 1664" for ml-100k's items, which share titles)."""
    templates = tmp_path / "templates.toml"
    templates.write_text('item = "{year}"\n')
    args = ["embed", "--store", store_uri, "--no-cache", "--kinds", "Item"]
    assert main([*args, "--template-file", str(templates)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == [
        "kind",
        "nodes",
        "no",
        "text",
        "vectors",
        "texts",
        "encoded",
        "cached",
    ]
    assert out[2].split() == ["Item", "3", "1", "2", "1", "1", "0"]
    assert out[3].startswith("vectors: one per node with a text; texts: the distinct texts")
    with open_store(store_uri) as store:
        keys, vectors = store.read_vectors("Item", property="embedding")
    assert keys == ["m:1", "m:2"]
    np.testing.assert_array_equal(vectors[0], vectors[1])


def test_an_embed_with_every_text_cached_loads_no_model_weights(
    tmp_path, store_uri, capsys, monkeypatch
):
    # before: the weights were loaded (seconds) whatever the cache held
    import transformers

    args = ["embed", "--store", store_uri, "--cache", str(tmp_path / "cache.sqlite")]
    assert main(args) == 0
    with open_store(store_uri) as store:
        before = store.read_vectors("Item", property="embedding")
    capsys.readouterr()

    def refused(*args, **kwargs):
        raise AssertionError("the model's weights were loaded")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", refused)
    assert main(args) == 0
    assert _summary(capsys.readouterr().out) == {
        "Item": [3, 1, 2, 2, 0, 2],
        "Entity": [2, 1, 1, 1, 0, 1],
    }
    with open_store(store_uri) as store:
        after = store.read_vectors("Item", property="embedding")
    assert after[0] == before[0]
    np.testing.assert_array_equal(after[1], before[1])
    with pytest.raises(AssertionError, match="weights were loaded"):  # a text not cached
        main([*args, "--users"])


def test_an_embed_that_changes_nothing_writes_nothing(tmp_path, store_uri, monkeypatch):
    """Embedding again what the store holds (same model, templates, texts) leaves the store's
    files as they are. Before, every embed rewrote the vectors table and the manifest (its
    time of the last write), identical vectors included."""
    from kgrec.store import LocalStore

    args = ["embed", "--store", store_uri, "--cache", str(tmp_path / "cache.sqlite"), "--users"]
    assert main(args) == 0
    with open_store(store_uri) as store:
        before = {kind: store.read_vectors(kind, property="embedding") for kind in ("Item", "User")}
    commits = []
    commit = LocalStore._commit
    monkeypatch.setattr(
        LocalStore, "_commit", lambda self, *a: commits.append(a[1].keys()) or commit(self, *a)
    )
    assert main(args) == 0
    assert commits == []
    with open_store(store_uri) as store:
        for kind, (keys, vectors) in before.items():
            after = store.read_vectors(kind, property="embedding")
            assert after[0] == keys
            np.testing.assert_array_equal(after[1], vectors)
    templates = tmp_path / "templates.toml"
    templates.write_text('item = "{title}"\n')  # the items' vectors change, the users' do not
    assert main([*args, "--template-file", str(templates)]) == 0
    assert [list(tables) for tables in commits] == [["vectors"]]


def test_template_file_changes_the_texts(tmp_path, store_uri, capsys, encoder):
    templates = tmp_path / "templates.toml"
    templates.write_text('item = "{title}"\n')
    args = ["embed", "--store", store_uri, "--no-cache", "--kinds", "Item"]
    assert main([*args, "--template-file", str(templates)]) == 0
    assert _summary(capsys.readouterr().out) == {"Item": [3, 1, 2, 2, 2, 0]}
    with open_store(store_uri) as store:
        _, vectors = store.read_vectors("Item", property="embedding")
    np.testing.assert_allclose(
        vectors, encoder.encode(["Toy Story", "Heat"], progress=False), atol=1e-5
    )


def test_a_node_left_without_text_loses_its_old_vector(tmp_path, store_uri, capsys, encoder):
    # before the fix the vectors of an earlier template stayed on nodes that have no text now,
    # and went on being read as model inputs
    args = ["embed", "--store", store_uri, "--no-cache"]
    assert main(args) == 0
    with open_store(store_uri) as store:
        assert store.read_vectors("Item", property="embedding")[0] == ["m:1", "m:2"]
    templates = tmp_path / "templates.toml"
    templates.write_text('item = "{entities}"\n')  # no item has a named entity
    assert main([*args, "--template-file", str(templates)]) == 0  # m.a keeps a vector
    with open_store(store_uri) as store:
        assert store.read_vectors("Item", property="embedding")[0] == []
        assert store.read_vectors("Entity", property="embedding")[0] == ["m.a"]


def test_an_embed_of_no_vector_at_all_is_refused_and_records_no_model(tmp_path, store_uri, capsys):
    """An embed whose nodes have no text (a template that reads nothing they have) writes no
    vector: refused (exit 2), naming the kinds and their nodes, and the store keeps its
    vectors and its record of their model. Before, it exited 0, removed the vectors and
    recorded the model as if it had made usable ones (found by the embed37 review)."""
    templates = tmp_path / "templates.toml"
    templates.write_text('item = "{entities}"\n')  # no item has a named entity
    args = ["embed", "--store", store_uri, "--no-cache", "--kinds", "Item"]
    manifest = (tmp_path / "store" / "manifest.json").read_bytes()
    assert main([*args, "--template-file", str(templates)]) == 2
    err = capsys.readouterr().err
    assert "no node has a text to embed (Item: 0 of 3 nodes)" in err and "Nothing was" in err
    assert (tmp_path / "store" / "manifest.json").read_bytes() == manifest
    assert main(args) == 0  # the default templates: m:1 and m:2 have a text
    with open_store(store_uri) as store:
        model = store.vector_model("embedding")
    assert main([*args, "--template-file", str(templates)]) == 2
    with open_store(store_uri) as store:
        assert store.read_vectors("Item", property="embedding")[0] == ["m:1", "m:2"]
        assert store.vector_model("embedding") == model


def test_a_model_that_gives_vectors_of_zeros_is_refused(tmp_path, store_uri, capsys, tiny_model):
    """A model whose output is all zeros (here a BERT with every weight zero) gives vectors
    from which no similarity can be read: refused (exit 2) naming the kind and how many of its
    vectors, nothing written. Before, they were written and the model recorded as theirs
    (found by the embed37 review)."""
    import torch
    from transformers import BertModel

    zero = BertModel.from_pretrained(tiny_model)
    with torch.no_grad():
        for parameter in zero.parameters():
            parameter.zero_()
    folder = tmp_path / "zero-bert"
    zero.save_pretrained(folder)
    for file in tiny_model.iterdir():  # the tokenizer's files
        if not (folder / file.name).exists():
            (folder / file.name).write_bytes(file.read_bytes())
    manifest = (tmp_path / "store" / "manifest.json").read_bytes()
    args = ["embed", "--store", store_uri, "--no-cache", "--model", str(folder)]
    assert main(args) == 2
    assert "2 of the 2 Item vectors by model" in capsys.readouterr().err
    assert (tmp_path / "store" / "manifest.json").read_bytes() == manifest


def test_a_kind_of_another_dimension_stops_embed_before_any_kind_is_written(
    store_uri, capsys, encoder, tiny_model, monkeypatch
):
    """Item and Entity vectors of a 32-d model, then the default 384-d model on Item alone
    (Entity's 32-d vectors would stay): exit 2 and nothing written (before session 22, a kind
    was committed before the next failed), and nothing encoded (before session 22 every text
    was encoded first: minutes on ml-100k). The refusal names the kind whose vectors would
    stay, their model and the kinds to embed together (before session 46: "Item.embedding
    holds 32-dimensional vectors, these have 384", naming the kind the embed replaces and not
    the Entity vectors that stopped it; found by the embed46 review)."""
    from kgrec.text.encoder import TextEncoder

    base = ["embed", "--store", store_uri, "--no-cache"]
    assert main([*base, "--model", str(tiny_model)]) == 0
    with open_store(store_uri) as store:
        before = {kind: store.read_vectors(kind, property="embedding") for kind in KINDS}
    monkeypatch.setattr(TextEncoder, "encode", lambda *a, **k: pytest.fail("texts encoded"))
    assert main([*base, "--kinds", "Item"]) == 2
    err = capsys.readouterr().err
    assert f"'embedding' of the Entity nodes were made by model {tiny_model}" in err
    assert "embed every kind that holds 'embedding' (Item, Entity) with this model" in err
    with open_store(store_uri) as store:
        for kind in KINDS:
            after = store.read_vectors(kind, property="embedding")
            assert after[0] == before[kind][0] and np.array_equal(after[1], before[kind][1])


def test_another_model_of_another_size_on_every_kind_that_holds_the_property_replaces_it(
    store_uri, encoder, tiny_model
):
    """Entity vectors of a 32-d model, then the default 384-d model on Item and Entity, every
    kind that holds them: all are replaced, the record names the new model (before, refused:
    "Entity.embedding holds 32-dimensional vectors", though the README said to embed every
    kind that holds them, and no old vector would have stayed)."""
    base = ["embed", "--store", store_uri, "--no-cache"]
    assert main([*base, "--kinds", "Entity", "--model", str(tiny_model)]) == 0
    assert main(base) == 0
    with open_store(store_uri) as store:
        for kind in KINDS:
            keys, vectors = store.read_vectors(kind, property="embedding")
            assert keys and vectors.shape[1] == encoder.dimension == 384
        assert store.vector_dimension("Entity", property="embedding") == 384
        assert str(tiny_model) not in json.dumps(store.vector_model("embedding"))


def test_another_model_of_the_same_size_on_some_kinds_stops_embed(
    store_uri, capsys, tiny_model, other_tiny_model, monkeypatch
):
    """Item and Entity by one 32-d model, then `--kinds Item` by another 32-d model: exit 2,
    nothing written, nothing encoded (before, its Item vectors went beside the first model's
    Entity vectors, and models trained with text read vectors of two spaces)."""
    from kgrec.text.encoder import TextEncoder

    base = ["embed", "--store", store_uri, "--no-cache"]
    assert main([*base, "--model", str(tiny_model)]) == 0
    with open_store(store_uri) as store:
        before = store.read_vectors("Item", property="embedding")
    encode = TextEncoder.encode
    monkeypatch.setattr(TextEncoder, "encode", lambda *a, **k: pytest.fail("texts encoded"))
    assert main([*base, "--model", str(other_tiny_model), "--kinds", "Item"]) == 2
    err = capsys.readouterr().err
    assert f"made by model {tiny_model} (folder:" in err
    assert f"these by model {other_tiny_model} (folder:" in err
    assert "another --property" in err and "(Item, Entity)" in err
    with open_store(store_uri) as store:
        after = store.read_vectors("Item", property="embedding")
    assert after[0] == before[0] and np.array_equal(after[1], before[1])
    monkeypatch.setattr(TextEncoder, "encode", encode)
    # every kind that holds the property: the other model replaces the first
    assert main([*base, "--model", str(other_tiny_model)]) == 0
    assert main([*base, "--model", str(other_tiny_model), "--kinds", "Item"]) == 0
    assert main([*base, "--model", str(tiny_model), "--kinds", "Entity"]) == 2


def test_a_load_while_embed_encodes_is_named_and_nothing_written(
    store_uri, capsys, encoder, monkeypatch
):
    """A load that ties entity m.a to an item while embed encodes removes the Entity node
    embed read: exit 2 saying the graph changed and to run embed again (before: only that
    vectors named a node missing from the graph), and no kind written."""
    import kgrec.text.embed as embed

    encode = embed.embed_graph

    def a_load_meanwhile(*args, **kwargs):
        results = encode(*args, **kwargs)
        graph = _graph()
        tied = graph.items.assign(entity_id=pd.Series([None, None, "m.a"], dtype="string"))
        with open_store(store_uri) as store:
            store.write(GraphTables(domains=graph.domains, items=tied), progress=False)
        return results

    monkeypatch.setattr(embed, "embed_graph", a_load_meanwhile)
    assert main(["embed", "--store", store_uri, "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "the graph changed while embed encoded its texts" in err
    assert "'m.a'" in err and "run kgrec embed again" in err
    with open_store(store_uri) as store:
        assert store.read_vectors("Item", property="embedding")[0] == []
    monkeypatch.setattr(embed, "embed_graph", encode)
    assert main(["embed", "--store", store_uri, "--no-cache"]) == 0


def test_a_property_of_a_later_kind_stops_embed_before_any_kind_is_written(
    store_uri, capsys, encoder
):
    """`--property name` names the entities' column: exit 2 and nothing written (before, the
    Item vectors were committed, then the Entity kind was refused)."""
    assert main(["embed", "--store", store_uri, "--no-cache", "--property", "name"]) == 2
    assert "'name' is a property of the graph's Entity nodes" in capsys.readouterr().err
    with open_store(store_uri) as store:
        assert store.read_vectors("Item", property="name")[0] == []


def test_a_property_of_the_items_is_refused_naming_the_option(store_uri, capsys, encoder):
    """`--property title` is refused naming the option, as embed's other errors do (found by
    the polishB45 review: before, "field 'property'", the Python API's argument name)."""
    assert main(["embed", "--store", store_uri, "--no-cache", "--property", "title"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "kgrec embed: error: field '--property': 'title' is a property of the graph's Item nodes"
    )


def test_unknown_model_fails_before_any_work(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    store = tmp_path / "never-opened"
    code = main(["embed", "--store", f"local:{store}", "--model", "no-such-org/no-such-model"])
    assert code == 2
    err = capsys.readouterr().err
    assert "kgrec embed: error: field '--model': model 'no-such-org/no-such-model'" in err
    assert not store.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kinds", "Item,Domain"], "unknown node kind(s) Domain"),
        # was "use ('Item', 'Entity')", not saying how users are embedded
        (["--kinds", "User"], "unknown node kind(s) User; use Item, Entity (and --users for"),
        (["--kinds", " , "], "--kinds names no node kind"),  # was accepted, embedding nothing
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--property", "bad name"], "--property 'bad name'"),
        # kgrec's own staging prefix: a staged embed of `embedding` cleared such vectors
        (["--property", "kgrec_staging_embedding"], "not starting with 'kgrec_staging_'"),
    ],
)
def test_bad_options_fail_clearly(store_uri, capsys, args, message):
    assert main(["embed", "--store", store_uri, *args]) == 2
    assert message in capsys.readouterr().err


def test_template_with_unknown_field_fails_naming_file_and_field(tmp_path, store_uri, capsys):
    templates = tmp_path / "t.json"
    templates.write_text('{"entity_unnamed": "{nmae}"}')
    assert main(["embed", "--store", store_uri, "--template-file", str(templates)]) == 2
    err = capsys.readouterr().err
    assert f"file {templates}" in err and "field 'entity_unnamed'" in err and "nmae" in err
    with open_store(store_uri) as store:
        assert store.read_vectors("Item", property="embedding")[0] == []


def test_vectors_without_a_record_of_their_model_on_a_kind_not_embedded_stop_embed(
    store_uri, capsys, tiny_model, monkeypatch
):
    """A store embedded before session 26 (32-d vectors, no record of their model) and
    `--kinds Item` with a 32-d model: exit 2, nothing encoded or written. Before, any model
    was taken once and recorded, its Item vectors beside the Entity vectors of whichever
    model made them."""
    from kgrec.text.encoder import TextEncoder

    with open_store(store_uri) as store:
        store.write_vectors("Item", ["m:1", "m:2"], np.ones((2, 32)), property="embedding")
        store.write_vectors("Entity", ["m.a"], np.ones((1, 32)), property="embedding")
    base = ["embed", "--store", store_uri, "--no-cache", "--model", str(tiny_model)]
    encode = TextEncoder.encode
    monkeypatch.setattr(TextEncoder, "encode", lambda *a, **k: pytest.fail("texts encoded"))
    assert main([*base, "--kinds", "Item"]) == 2
    err = capsys.readouterr().err
    assert "Entity nodes have no record of the text model" in err and "(Item, Entity)" in err
    with open_store(store_uri) as store:
        assert store.vector_model("embedding") is None
        assert np.all(store.read_vectors("Item", property="embedding")[1] == 1.0)
    monkeypatch.setattr(TextEncoder, "encode", encode)
    assert main(base) == 0  # every kind that holds it: recorded, then any kinds
    with open_store(store_uri) as store:
        assert store.vector_model("embedding")["name"] == str(tiny_model)
    assert main([*base, "--kinds", "Item"]) == 0


def test_texts_the_model_cuts_are_counted_once_naming_one(tmp_path, tiny_model, caplog):
    """Texts over the model's max_length tokens were cut without a word: one warning per
    run says how many and names one (kind and key); the vectors are those of before."""
    from kgrec.text.encoder import TextEncoder

    encoder = TextEncoder(tiny_model)
    limit = encoder.max_length
    # one that fits exactly (CLS + words + SEP) is not cut; one a token longer is
    texts = ["short", "a " * (limit - 2), "a " * (limit - 1), "word " * 500]
    cut: list[int] = []
    vectors = encoder.encode(texts, progress=False, cut=cut)
    assert cut == [2, 3]
    np.testing.assert_array_equal(vectors, encoder.encode(texts, progress=False))

    graph = _graph()
    graph.items["title"] = pd.array(["word " * 500, "other " * 500, "Casino"], dtype="string")
    uri = f"local:{tmp_path / 'store'}"
    with open_store(uri) as store:
        store.write(graph, progress=False)
    assert main(["embed", "--store", uri, "--no-cache", "--model", str(tiny_model)]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    # the two items, and the entity whose text names them (its neighbours)
    assert f"3 node text(s) longer than the text model's {limit} tokens" in warnings[0]
    assert "Item 'm:1', ..." in warnings[0]
