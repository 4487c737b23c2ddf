"""LocalStore: Parquet tables plus an atomically replaced manifest."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kgrec.errors import InputError, StoreError
from kgrec.store import LocalStore
from kgrec.store.canonical import prepare
from tests.store.graphs import make_graph, movies


def assert_graphs_equal(a, b) -> None:
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], obj=name)


@pytest.fixture
def store(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_empty_store_has_empty_tables_and_zero_counts(store):
    stats = store.stats()
    assert set(stats["nodes"].values()) == {0}
    assert set(stats["relationships"].values()) == {0}
    assert store.snapshot().interactions.empty
    assert not store.path.exists()  # reading creates nothing


def test_write_then_snapshot_and_stats(store):
    written = store.write(movies(), progress=False)
    assert written == {
        "domains": 2,
        "users": 3,
        "items": 3,
        "entities": 2,
        "interactions": 5,
        "knowledge": 5,
    }
    assert_graphs_equal(store.snapshot(), prepare(movies()))
    stats = store.stats()
    assert stats["nodes"] == {"User": 3, "Item": 3, "Entity": 2, "Domain": 2}
    assert stats["relationships"] == {
        "INTERACTED": 5,
        "RELATED": 5,
        "IN_DOMAIN": 3,
        "RECOMMENDED": 0,
    }
    assert stats["domains"] == {
        "books": {"items": 1, "users": 2, "interactions": 2},
        "movies": {"items": 2, "users": 2, "interactions": 3},
    }
    assert stats["relations"]["film.film.actor"] == 1
    snapshot = store.snapshot()
    assert snapshot.items.set_index("uid").loc["movies:1", "genres"] == ["Animation", "Comedy"]
    assert snapshot.items.set_index("uid").loc["movies:2", "genres"] == []
    assert "weird`name'\n}) DETACH DELETE n //" in set(snapshot.knowledge["relation"])


def test_writing_twice_changes_nothing(store):
    store.write(movies(), progress=False)
    manifest = store.manifest()
    before = store.snapshot()
    store.write(movies(), progress=False)
    assert_graphs_equal(store.snapshot(), before)
    assert store.manifest()["tables"] == manifest["tables"]  # the very same files
    assert sorted(p.name for p in store.path.glob("*.parquet")) == sorted(
        t["file"] for t in manifest["tables"].values()
    )


def test_later_values_replace_but_missing_values_never_erase(store):
    store.write(movies(), progress=False)
    update = make_graph(
        users=[{"user_id": "u1", "age": None, "gender": "X", "zip": "48067"}],
        items=[{"domain": "movies", "item_id": "2", "title": None, "year": 1999}],
        interactions=[("u1", "movies:1", None, 99.0), ("u4", "movies:2", 3.0, 1.0)],
    )
    store.write(update, progress=False)
    snapshot = store.snapshot()
    users = snapshot.users.set_index("user_id")
    assert users.loc["u1", "age"] == "24"  # kept
    assert users.loc["u1", "gender"] == "X"  # replaced
    assert users.loc["u1", "zip"] == "48067"  # added
    assert pd.isna(users.loc["u2", "zip"])
    assert "u4" in users.index  # implied by its interaction
    item = snapshot.items.set_index("uid").loc["movies:2"]
    assert item["title"] == "O'Brien `quoted`\nline" and item["year"] == 1999
    inter = snapshot.interactions.set_index(["user_id", "item_uid"])
    assert tuple(inter.loc[("u1", "movies:1")]) == (5.0, 99.0)
    assert len(snapshot.interactions) == 6


def test_interactions_may_name_items_of_an_earlier_write(store):
    graph = movies()
    store.write(
        make_graph(items=graph.items.drop(columns="uid").to_dict("records")), progress=False
    )
    store.write(make_graph(interactions=[("u9", "books:1", 1.0, 2.0)]), progress=False)
    assert store.stats()["domains"]["books"] == {"items": 1, "users": 1, "interactions": 1}


def test_unknown_item_is_an_error_and_changes_nothing(store):
    store.write(movies(), progress=False)
    manifest = store.manifest()
    bad = make_graph(interactions=[("u1", "movies:1", 1.0, 1.0), ("u1", "movies:404", 1.0, 1.0)])
    with pytest.raises(InputError, match="movies:404") as info:
        store.write(bad, progress=False)
    assert info.value.field == "uid"
    assert store.manifest() == manifest


def test_bad_tables_are_input_errors(store):
    graph = movies()
    graph.knowledge.loc[0, "head_kind"] = "Film"
    with pytest.raises(InputError, match="Film"):
        store.write(graph, progress=False)
    graph = movies()
    graph.interactions = graph.interactions.drop(columns="item_uid")
    with pytest.raises(InputError, match="item_uid"):
        store.write(graph, progress=False)
    assert not (store.path / "manifest.json").exists()


def test_a_failed_write_leaves_the_previous_version(store, monkeypatch):
    store.write(movies(), progress=False)
    manifest = store.manifest()
    before = store.snapshot()
    calls = []
    original = pd.DataFrame.to_parquet

    def crash_on_third_table(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash_on_third_table)
    update = make_graph(
        users=[{"user_id": "u1", "age": "99"}],
        items=[{"domain": "games", "item_id": "7"}],
        interactions=[("u1", "games:7", 1.0, 1.0)],
    )
    with pytest.raises(StoreError, match="disk full"):
        store.write(update, progress=False)
    assert store.manifest() == manifest
    assert_graphs_equal(store.snapshot(), before)
    files = {p.name for p in store.path.iterdir()}
    assert files == {"manifest.json", ".lock", *(t["file"] for t in manifest["tables"].values())}


def test_a_corrupted_table_is_detected(store):
    store.write(movies(), progress=False)
    file = store.path / store.manifest()["tables"]["users"]["file"]
    file.write_bytes(file.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(StoreError, match="checksum"):
        store.snapshot()


def test_manifest_records_rows_and_checksums(store):
    store.write(movies(), progress=False)
    manifest = json.loads((store.path / "manifest.json").read_text())
    assert manifest["format"] == "kgrec-local-store"
    assert manifest["schema_version"] == 1
    assert manifest["tables"]["interactions"]["rows"] == 5
    assert len(manifest["tables"]["users"]["sha256"]) == 64


def test_newer_schema_version_is_refused(store):
    store.write(movies(), progress=False)
    path = store.path / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 99}))
    with pytest.raises(StoreError, match="newer kgrec"):
        store.stats()


def test_vectors_round_trip_and_are_checked(store):
    store.write(movies(), progress=False)
    store.write_vectors("Item", ["movies:2", "movies:1"], np.eye(2, 3), property="embedding")
    store.write_vectors("Item", ["books:1"], np.ones((1, 3)), property="embedding")
    keys, vectors = store.read_vectors("Item", property="embedding")
    assert keys == ["books:1", "movies:1", "movies:2"]
    np.testing.assert_array_equal(vectors, [[1, 1, 1], [0, 1, 0], [1, 0, 0]])
    assert vectors.dtype == np.float32
    assert store.read_vectors("User", property="embedding")[0] == []
    with pytest.raises(InputError, match="3-dimensional"):
        store.write_vectors("Item", ["books:1"], np.ones((1, 4)), property="embedding")
    with pytest.raises(InputError, match="movies:404"):
        store.write_vectors("Item", ["movies:404"], np.ones((1, 3)), property="embedding")
    with pytest.raises(InputError, match="Film"):
        store.write_vectors("Film", ["x"], np.ones((1, 3)), property="embedding")
    with pytest.raises(InputError, match="not a property name"):
        store.write_vectors("Item", ["books:1"], np.ones((1, 3)), property="a`b")
    with pytest.raises(InputError, match="shape"):
        store.write_vectors("Item", ["books:1", "movies:1"], np.ones((1, 3)), property="e")
    assert_graphs_equal(store.snapshot(), prepare(movies()))  # vectors are not attributes


def test_publish_replaces_a_run(store):
    store.write(movies(), progress=False)
    recs = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "item_uid": ["movies:2", "books:1", "books:1"],
            "score": [0.9, 0.5, 0.7],
            "rank": [1, 2, 1],
            "model": "lightgcn",
        }
    )
    assert store.publish(recs, run="r1") == 3
    assert store.publish(recs.iloc[:1], run="r2") == 1
    assert store.stats()["relationships"]["RECOMMENDED"] == 4
    assert store.publish(recs.iloc[1:], run="r1") == 2
    r1 = store.recommendations("r1")
    assert list(zip(r1["user_id"], r1["item_uid"], strict=True)) == [
        ("u1", "books:1"),
        ("u2", "books:1"),
    ]
    assert len(store.recommendations()) == 3
    with pytest.raises(InputError, match="u404"):
        store.publish(recs.assign(user_id=["u1", "u404", "u2"]), run="r1")
    assert len(store.recommendations("r1")) == 2
