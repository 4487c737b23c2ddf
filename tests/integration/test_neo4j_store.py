"""Neo4jStore on the real server: the same graph as LocalStore, idempotent, safe with names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph_schema.tables import NODE_KINDS, REL_KINDS
from kgrec.errors import InputError
from kgrec.store import LocalStore, Neo4jStore
from loaders import recbole
from tests.conftest import NEO4J_DATABASE, NEO4J_URI
from tests.store.graphs import make_graph, movies

pytestmark = pytest.mark.neo4j


@pytest.fixture
def neo(neo4j_clean) -> Neo4jStore:
    # a tiny batch size, so that every table is written in several chunks
    return Neo4jStore(neo4j_clean, database=NEO4J_DATABASE, uri=NEO4J_URI, batch_size=2)


@pytest.fixture
def local(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def assert_same_graph(a, b) -> None:
    """Identical snapshots and stats."""
    snap_a, snap_b = a.snapshot(), b.snapshot()
    for name, table in snap_a.tables().items():
        pd.testing.assert_frame_equal(table, snap_b.tables()[name], obj=name)
    assert a.stats() == b.stats()


def count(driver, query: str, **parameters) -> int:
    return driver.execute_query(query, parameters, database_=NEO4J_DATABASE).records[0][0]


def test_same_graph_as_local_store(neo, local):
    assert neo.write(movies(), progress=False) == local.write(movies(), progress=False)
    assert_same_graph(neo, local)
    assert neo.stats()["relationships"] == {
        "INTERACTED": 5,
        "RELATED": 5,
        "IN_DOMAIN": 3,
        "RECOMMENDED": 0,
    }


def test_graph_shape(neo):
    neo.write(movies(), progress=False)
    driver = neo.driver
    rating = count(
        driver,
        "MATCH (:User {user_id: 'u1'})-[r:INTERACTED]->(:Item {uid: 'movies:1'})"
        "-[:IN_DOMAIN]->(:Domain {name: 'movies'}) RETURN r.rating",
    )
    assert rating == 5.0
    item = driver.execute_query(
        "MATCH (i:Item {uid: 'movies:1'}) RETURN properties(i) AS p", database_=NEO4J_DATABASE
    ).records[0]["p"]
    assert item == {
        "uid": "movies:1",
        "domain": "movies",
        "item_id": "1",
        "title": "Toy Story",
        "year": 1995,
        "genres": ["Animation", "Comedy"],
        "entity_id": "m.01",
    }
    # missing values are absent properties, not nulls or NaNs
    assert count(driver, "MATCH (u:User {user_id: 'u2'}) RETURN size(keys(u))") == 2
    assert (
        count(
            driver,
            "MATCH (:User {user_id: 'u2'})-[r:INTERACTED]->(:Item {uid: 'movies:1'}) "
            "RETURN size(keys(r))",
        )
        == 1
    )


def test_names_from_data_stay_data(neo):
    neo.write(movies(), progress=False)
    driver = neo.driver
    weird = "weird`name'\n}) DETACH DELETE n //"
    assert count(driver, "MATCH ()-[r:RELATED {relation: $r}]->() RETURN count(r)", r=weird) == 1
    labels = {r[0] for r in driver.execute_query("CALL db.labels()").records}
    types = {r[0] for r in driver.execute_query("CALL db.relationshipTypes()").records}
    assert labels <= set(NODE_KINDS) and types <= set(REL_KINDS)
    title = "O'Brien `quoted`\nline"
    assert count(driver, "MATCH (i:Item {title: $t}) RETURN count(i)", t=title) == 1


def test_writing_twice_changes_nothing(neo, local):
    neo.write(movies(), progress=False)
    local.write(movies(), progress=False)
    neo.write(movies(), progress=False)
    assert_same_graph(neo, local)
    assert count(neo.driver, "MATCH ()-[r]->() RETURN count(r)") == 13  # 5 + 5 + 3


def test_successive_writes_merge_as_in_local_store(neo, local):
    """Later values replace, missing ones never erase; interactions of users who already have
    some are merged, those of new users created; items of earlier writes may be named."""
    writes = [
        movies(),
        make_graph(
            users=[{"user_id": "u1", "age": None, "gender": "X", "zip": "48067"}],
            items=[{"domain": "movies", "item_id": "2", "title": None, "year": 1999}],
            interactions=[
                ("u1", "movies:1", None, 99.0),  # existing pair: timestamp replaced
                ("u1", "movies:2", 4.0, 5.0),  # existing user, new pair
                ("u4", "movies:2", 3.0, 1.0),  # new user
            ],
        ),
        make_graph(knowledge=[("Item", "books:1", "book.written_by", "Entity", "m.97")]),
        movies(),
    ]
    for graph in writes:
        neo.write(graph, progress=False)
        local.write(graph, progress=False)
        assert_same_graph(neo, local)
    inter = neo.snapshot().interactions.set_index(["user_id", "item_uid"])
    assert tuple(inter.loc[("u1", "movies:1")]) == (5.0, 10.0)  # movies() wrote it again


def test_unknown_item_is_an_error_and_changes_nothing(neo):
    neo.write(movies(), progress=False)
    before = neo.stats()
    bad = make_graph(
        users=[{"user_id": "u9"}],
        interactions=[("u1", "movies:1", 1.0, 1.0), ("u9", "films:404", 1.0, 1.0)],
    )
    with pytest.raises(InputError, match="films:404"):
        neo.write(bad, progress=False)
    assert neo.stats() == before


def test_vectors_round_trip_with_an_index(neo):
    neo.write(movies(), progress=False)
    before = neo.snapshot()
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 0, 1]], dtype=np.float32)
    neo.write_vectors("Item", ["movies:1", "movies:2", "books:1"], vectors, property="embedding")
    keys, read = neo.read_vectors("Item", property="embedding")
    assert keys == ["books:1", "movies:1", "movies:2"]
    np.testing.assert_allclose(read, vectors[[2, 0, 1]], rtol=1e-6)
    neo.driver.execute_query("CALL db.awaitIndexes(60)", database_=NEO4J_DATABASE)
    hits = neo.driver.execute_query(
        "CALL db.index.vector.queryNodes('item_embedding', 2, $q) YIELD node "
        "RETURN node.uid AS uid",
        q=[1.0, 0.0, 0.0],
        database_=NEO4J_DATABASE,
    ).records
    assert [h["uid"] for h in hits] == ["movies:1", "movies:2"]
    after = neo.snapshot()  # vectors are not attributes
    for name, table in before.tables().items():
        pd.testing.assert_frame_equal(table, after.tables()[name], obj=name)
    with pytest.raises(InputError, match="3-dimensional"):
        neo.write_vectors("Item", ["books:1"], np.ones((1, 4)), property="embedding")
    with pytest.raises(InputError, match="u404"):
        neo.write_vectors("User", ["u404"], np.ones((1, 4)), property="embedding")


def test_publish_replaces_a_run_like_local(neo, local):
    recs = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "item_uid": ["movies:2", "books:1", "books:1"],
            "score": [0.9, 0.5, 0.7],
            "rank": [1, 2, 1],
            "model": "lightgcn",
        }
    )
    for store in (neo, local):
        store.write(movies(), progress=False)
        assert store.publish(recs, run="r1") == 3
        assert store.publish(recs.iloc[:1], run="r2") == 1
        assert store.publish(recs.iloc[1:], run="r1") == 2
    pd.testing.assert_frame_equal(neo.recommendations(), local.recommendations())
    assert neo.stats() == local.stats()
    assert neo.stats()["relationships"]["RECOMMENDED"] == 3
    with pytest.raises(InputError, match="u404"):
        neo.publish(recs.assign(user_id=["u1", "u404", "u2"]), run="r1")
    assert len(neo.recommendations("r1")) == 2


def test_ml100k_with_knowledge_graph_same_as_local(neo4j_clean, local, datasets):
    graph = recbole.load(datasets / "ml-100k", domain="movies")
    neo = Neo4jStore(neo4j_clean, database=NEO4J_DATABASE, uri=NEO4J_URI)
    neo.write(graph, progress=False)
    local.write(graph, progress=False)
    stats = neo.stats()
    assert stats == local.stats()
    assert stats["nodes"]["User"] == 943 and stats["nodes"]["Item"] == 1682
    assert stats["relationships"]["INTERACTED"] == 100_000
    assert stats["relationships"]["RELATED"] == len(graph.knowledge)
    assert stats["domains"]["movies"]["interactions"] == 100_000
    assert_same_graph(neo, local)
