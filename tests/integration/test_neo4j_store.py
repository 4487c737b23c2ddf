"""Neo4jStore on the real server: what only it does (graph shape, names, vector index, the load
lock, concurrent loads), and the same graph as LocalStore for the same loads. The behaviour both
stores share is in tests/store/test_contract.py."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from graph_schema.tables import NODE_KINDS, REL_KINDS
from kgrec.cli import main
from kgrec.errors import InputError, StoreError
from kgrec.explain import explain
from kgrec.store import LocalStore, Neo4jStore, queries
from kgrec.store.canonical import prepare
from kgrec.store.neo4j import _lock_command
from loaders import recbole

pytestmark = pytest.mark.neo4j


@pytest.fixture
def neo(neo4j_clean, neo4j_settings) -> Neo4jStore:
    # a tiny batch size, so that every table is written in several chunks
    return Neo4jStore(
        neo4j_clean, database=neo4j_settings.database, uri=neo4j_settings.uri, batch_size=2
    )


@pytest.fixture
def movies_store(neo, movies):
    """``movies_store(**options)``: a store of the test server with ``options`` (its
    ``vector_transaction_values``, ``batch_size``, ...) that holds the movies graph."""

    def make(**options) -> Neo4jStore:
        store = Neo4jStore(neo.driver, database=neo.database, uri=neo.uri, **options)
        store.write(movies, progress=False)
        return store

    return make


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
    return driver.execute_query(query, parameters).records[0][0]


def _item_properties(neo, uid: str) -> dict:
    """The properties Neo4j holds on the Item ``uid``."""
    return neo.driver.execute_query(
        "MATCH (i:Item {uid: $uid}) RETURN properties(i) AS p", uid=uid, database_=neo.database
    ).records[0]["p"]


def test_same_graph_as_local_store(neo, local, movies):
    assert neo.write(movies, progress=False) == local.write(movies, progress=False)
    assert_same_graph(neo, local)
    assert neo.stats()["relationships"] == {
        "INTERACTED": 5,
        "RELATED": 5,
        "IN_DOMAIN": 3,
        "RECOMMENDED": 0,
    }


def test_graph_shape(neo, movies):
    neo.write(movies, progress=False)
    driver = neo.driver
    rating = count(
        driver,
        "MATCH (:User {user_id: 'u1'})-[r:INTERACTED]->(:Item {uid: 'movies:1'})"
        "-[:IN_DOMAIN]->(:Domain {name: 'movies'}) RETURN r.rating",
    )
    assert rating == 5.0
    item = _item_properties(neo, "movies:1")
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


def test_names_from_data_stay_data(neo, movies):
    neo.write(movies, progress=False)
    driver = neo.driver
    weird = "weird`name'\n}) DETACH DELETE n //"
    assert count(driver, "MATCH ()-[r:RELATED {relation: $r}]->() RETURN count(r)", r=weird) == 1
    labels = {r[0] for r in driver.execute_query("CALL db.labels()").records}
    types = {r[0] for r in driver.execute_query("CALL db.relationshipTypes()").records}
    # + the load lock, the last load's token and the record of a vector property's text model
    kgrec = {"KgrecLock", "KgrecGraphWrite", "KgrecVectors"}
    assert labels <= {*NODE_KINDS, *kgrec} and types <= set(REL_KINDS)
    title = "O'Brien `quoted`\nline"
    assert count(driver, "MATCH (i:Item {title: $t}) RETURN count(i)", t=title) == 1


def test_successive_writes_merge_as_in_local_store(neo, local, movies, make_graph):
    """Later values replace, missing ones never erase; interactions of users who already have
    some are merged, those of new users created; items of earlier writes may be named."""
    writes = [
        movies,
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
        movies,
    ]
    for graph in writes:
        neo.write(graph, progress=False)
        local.write(graph, progress=False)
        assert_same_graph(neo, local)
    inter = neo.snapshot().interactions.set_index(["user_id", "item_uid"])
    assert tuple(inter.loc[("u1", "movies:1")]) == (5.0, 10.0)  # movies wrote it again


def test_a_write_that_clears_attributes_removes_the_properties_as_in_local_store(
    neo, local, movies, make_graph
):
    """`kgrec load --clear-empty`: the cleared attributes are properties no more (not nulls,
    not empty text), in the write that clears them, and the graph is the local store's; a name
    that is no property name is refused before anything is written, Cypher or not."""
    update = make_graph(
        users=[{"user_id": "u1"}],
        items=[{"domain": "movies", "item_id": "1", "year": 1996}],
    )
    clear = {"User": {"age": ["u1"]}, "Item": {"title": ["movies:1"], "genres": ["movies:1"]}}
    for store in (neo, local):
        store.write(movies, progress=False)
        store.write(update, progress=False, clear=clear)
    assert_same_graph(neo, local)
    item = _item_properties(neo, "movies:1")
    assert item == {
        "uid": "movies:1",
        "domain": "movies",
        "item_id": "1",
        "year": 1996,
        "entity_id": "m.01",
    }
    keys = count(neo.driver, "MATCH (u:User {user_id: 'u1'}) RETURN keys(u)")
    assert sorted(keys) == ["gender", "user_id"]
    bad = {"Item": {"x`}) DETACH DELETE i //": ["movies:1"]}}
    with pytest.raises(InputError, match="is not an attribute a write may clear"):
        neo.write(update, progress=False, clear=bad)
    assert_same_graph(neo, local)


def _nearest_items(neo, query: list[float], k: int = 2) -> list[str]:
    """The uids of the ``k`` items nearest ``query`` by the index `item_embedding`, once the
    store's indexes are online."""
    neo.driver.execute_query("CALL db.awaitIndexes(60)", database_=neo.database)
    hits = neo.driver.execute_query(
        "CALL db.index.vector.queryNodes('item_embedding', $k, $q) YIELD node "
        "RETURN node.uid AS uid",
        k=k,
        q=query,
        database_=neo.database,
    ).records
    return [h["uid"] for h in hits]


def test_vectors_round_trip_with_an_index(neo, movies):
    neo.write(movies, progress=False)
    before = neo.snapshot()
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 0, 1]], dtype=np.float32)
    neo.write_vectors("Item", ["movies:1", "movies:2", "books:1"], vectors, property="embedding")
    keys, read = neo.read_vectors("Item", property="embedding")
    assert keys == ["books:1", "movies:1", "movies:2"]
    np.testing.assert_allclose(read, vectors[[2, 0, 1]], rtol=1e-6)
    assert _nearest_items(neo, [1.0, 0.0, 0.0]) == ["movies:1", "movies:2"]
    after = neo.snapshot()  # vectors are not attributes
    for name, table in before.tables().items():
        pd.testing.assert_frame_equal(table, after.tables()[name], obj=name)
    with pytest.raises(InputError, match="3-dimensional"):
        neo.write_vectors("Item", ["books:1"], np.ones((1, 4)), property="embedding")
    with pytest.raises(InputError, match="u404"):
        neo.write_vectors("User", ["u404"], np.ones((1, 4)), property="embedding")


def test_ml100k_with_knowledge_graph_same_as_local(neo4j_clean, neo4j_settings, local, datasets):
    graph = recbole.load(datasets / "ml-100k", domain="movies")
    neo = Neo4jStore(neo4j_clean, database=neo4j_settings.database, uri=neo4j_settings.uri)
    neo.write(graph, progress=False)
    local.write(graph, progress=False)
    stats = neo.stats()
    assert stats == local.stats()
    assert stats["nodes"]["User"] == 943 and stats["nodes"]["Item"] == 1682
    assert stats["relationships"]["INTERACTED"] == 100_000
    assert stats["relationships"]["RELATED"] == len(graph.knowledge)
    assert stats["domains"]["movies"]["interactions"] == 100_000
    assert_same_graph(neo, local)


def test_attribute_types_that_differ_across_loads_same_as_local(neo, local, make_graph):
    numbers = make_graph(
        users=[{"user_id": "a", "age": 24.0}, {"user_id": "b", "age": 53.0}],
        items=[{"domain": "d", "item_id": "1"}],
        interactions=[("a", "d:1", 1.0, 1.0), ("b", "d:1", 2.0, 2.0)],
    )
    text = make_graph(users=[{"user_id": "c", "age": "25"}], interactions=[("c", "d:1", 1.0, 1.0)])
    for graph in (numbers, text, numbers):
        neo.write(graph, progress=False)
        local.write(graph, progress=False)
        assert_same_graph(neo, local)
    # stored as text in Neo4j too, not only read back as text
    kinds = neo.driver.execute_query(
        "MATCH (u:User) RETURN u.user_id AS user, u.age AS age, u.age IS :: STRING AS text "
        "ORDER BY user"
    ).records
    assert [(r["user"], r["age"], r["text"]) for r in kinds] == [
        ("a", "24", True),
        ("b", "53", True),
        ("c", "25", True),
    ]


def test_a_list_attribute_is_stored_as_lists_whatever_the_order(neo, local, make_graph):
    """Cypher reads the merge rule's lists too: a single value beside lists is stored as a list of
    one, and text anywhere makes every stored element text (before, the stored lists were
    rewritten as one text each, "['x', 'y']")."""
    lists = make_graph(
        users=[{"user_id": "a", "tags": ["x", "y"], "codes": [1, 2]}],
        items=[{"domain": "d", "item_id": "1"}],
        interactions=[("a", "d:1", 1.0, 1.0)],
    )
    single = make_graph(
        users=[{"user_id": "b", "tags": "z", "codes": "7b"}],
        items=[{"domain": "d", "item_id": "1"}],
        interactions=[("b", "d:1", 1.0, 1.0)],
    )
    for graph in (lists, single):
        neo.write(graph, progress=False)
        local.write(graph, progress=False)
        assert_same_graph(neo, local)
    stored = neo.driver.execute_query(
        "MATCH (u:User) RETURN u.user_id AS user, u.tags AS tags, u.codes AS codes ORDER BY user"
    ).records
    assert [(r["user"], r["tags"], r["codes"]) for r in stored] == [
        ("a", ["x", "y"], ["1", "2"]),
        ("b", ["z"], ["7b"]),
    ]


# -- one load at a time, and loads that repair ---------------------------------------------


def lock_holder(driver):
    found = driver.execute_query("MATCH (l:KgrecLock) RETURN properties(l) AS p").records
    return [r["p"] for r in found]


def hold_lock_elsewhere(driver, command="kgrec load recbole x"):
    """The load lock as another machine's writer holds it (host elsewhere, pid 4242)."""
    driver.execute_query(
        "CREATE (:KgrecLock {name: 'load', token: 't', host: 'elsewhere', pid: 4242, "
        "command: $command, started: datetime()})",
        command=command,
    )


def test_a_read_during_a_load_that_ends_soon_waits_for_it(neo, movies):
    """Before, a read of several queries made while a load held the lock was refused at
    once, its three tries back to back: a load that ended a second later still refused it.
    Now the tries are READ_WAITS apart, so a read waits out a writer that ends within them."""
    neo.write(movies, progress=False)
    before = neo.stats()
    hold_lock_elsewhere(neo.driver)
    release = threading.Timer(0.3, neo.break_lock)
    release.start()
    try:
        assert neo.stats() == before
    finally:
        release.join()


def test_a_second_load_is_refused_while_one_holds_the_lock(neo, movies, monkeypatch):
    neo.write(movies, progress=False)  # schema and lock constraint in place
    before = neo.stats()  # (refused while a load holds the lock)
    hold_lock_elsewhere(neo.driver)
    with pytest.raises(StoreError) as info:
        neo.write(movies, progress=False)
    message = str(info.value)
    holds = "another writer holds the load lock of database"
    for part in (holds, "kgrec load recbole x (host elsewhere, pid 4242", "unlock"):
        assert part in message
    with pytest.raises(StoreError, match=r"another writer .* pid 4242"):
        neo.check()  # what `kgrec load` calls before it parses its files
    assert [h["host"] for h in lock_holder(neo.driver)] == ["elsewhere"]  # not ours to clear
    # `kgrec graph unlock` clears it, then the load goes through
    monkeypatch.setenv("NEO4J_URI", neo.uri)
    assert main(["graph", "unlock"]) == 0
    assert lock_holder(neo.driver) == []
    assert neo.stats() == before
    neo.write(movies, progress=False)
    assert lock_holder(neo.driver) == []


def test_an_embed_does_not_write_while_a_load_holds_the_lock(neo, movies, monkeypatch, capsys):
    """Before, `kgrec embed` took no lock: a load that tied entities to items meanwhile removed
    Entity nodes under it, and the embed failed (or wrote) only after all the encoding."""
    from kgrec.text.embed import Embedded, write_embeddings
    from kgrec.text.encoder import TextEncoder

    neo.write(movies, progress=False)
    hold_lock_elsewhere(neo.driver)
    item = Embedded("Item", ["movies:1"], np.ones((1, 2), np.float32), 3, 1, 0, 2)
    refused = r"load lock of database .*: kgrec load recbole x \(host elsewhere, pid 4242, "
    with pytest.raises(StoreError, match=refused):
        write_embeddings(neo, [item])
    assert neo.read_vectors("Item", property="embedding")[0] == []
    # the command is refused before it encodes any text
    monkeypatch.setattr(TextEncoder, "encode", lambda *a, **k: pytest.fail("texts encoded"))
    assert main(["embed", "--store", neo.uri, "--no-cache"]) == 2
    assert "pid 4242" in capsys.readouterr().err
    neo.break_lock()
    write_embeddings(neo, [item])  # and holds the lock only while it writes
    assert neo.read_vectors("Item", property="embedding")[0] == ["movies:1"]
    assert lock_holder(neo.driver) == []


def test_a_load_checks_the_graph_under_the_load_lock(neo, movies, monkeypatch):
    """A vector write that ends between a load's checks and its taking the load lock is
    seen by the checks. Before, the load checked the graph before it took the lock: User
    vectors written meanwhile under a property the load names as a users' attribute were
    overwritten by the attribute's text (the index kept, the vectors lost)."""
    neo.write(movies, progress=False)
    other = Neo4jStore(neo.driver, database=neo.database, uri=neo.uri)
    take = neo._take_lock

    def meanwhile(holder):  # another writer begins and ends just before the lock is taken
        other.write_vectors("User", ["u1"], np.ones((1, 2)), property="score")
        take(holder)

    monkeypatch.setattr(neo, "_take_lock", meanwhile)
    users = movies.users.assign(score=["a", "b", "c"])
    with pytest.raises(InputError, match="'score' names the property that holds"):
        neo.write(replace(movies, users=users), progress=False)
    keys, vectors = other.read_vectors("User", property="score")
    assert keys == ["u1"] and vectors.tolist() == [[1.0, 1.0]]
    assert lock_holder(neo.driver) == []


def test_the_vector_index_scores_the_stored_vectors_exactly(neo, movies):
    # Neo4j 5.26 quantizes a vector index unless told not to: its scores were then about 1 %
    # off, and the README's ad-hoc query reordered ml-100k's published top 10 (session 39)
    neo.write(movies, progress=False)
    keys = ["movies:1", "movies:2", "books:1"]
    vectors = np.random.default_rng(0).normal(size=(3, 64)).astype(np.float32)
    neo.write_vectors("Item", keys, vectors, property="embedding")
    query = np.random.default_rng(1).normal(size=64).astype(np.float32)
    neo.driver.execute_query("CALL db.awaitIndexes(60)", database_=neo.database)
    hits = neo.driver.execute_query(
        "CALL db.index.vector.queryNodes('item_embedding', 3, $q) YIELD node, score "
        "RETURN node.uid AS uid, score",
        q=query.tolist(),
        database_=neo.database,
    ).records
    cosine = vectors @ query / np.linalg.norm(vectors, axis=1) / np.linalg.norm(query)
    exact = {key: (1 + c) / 2 for key, c in zip(keys, cosine, strict=True)}  # Neo4j's scale
    assert [h["uid"] for h in hits] == sorted(keys, key=lambda k: -exact[k])
    for hit in hits:
        assert hit["score"] == pytest.approx(exact[hit["uid"]], abs=1e-5)


@pytest.mark.parametrize("write", ["write_vectors", "replace_vectors", "the same embed again"])
def test_a_quantized_vector_index_of_an_older_kgrec_is_made_again_unquantized(neo, movies, write):
    # an index made before session 39 (Neo4j 5.26 quantizes by default) stayed quantized
    # through every later write, embed and publish, its scores about 1 % off; the CHANGELOG
    # asked for it to be dropped by hand
    neo.write(movies, progress=False)
    keys = ["movies:1", "movies:2"]
    model = {"name": "a", "identity": "a"}
    neo.replace_vectors({"Item": (keys, np.eye(2, 3))}, property="embedding", model=model)
    neo.driver.execute_query("DROP INDEX item_embedding", database_=neo.database)
    neo.driver.execute_query(  # the statement of a kgrec before session 39
        "CREATE VECTOR INDEX item_embedding FOR (n:Item) ON n.embedding OPTIONS {indexConfig: "
        "{`vector.dimensions`: 3, `vector.similarity_function`: 'cosine'}}",
        database_=neo.database,
    )

    def quantized() -> list[bool]:
        return [
            r["q"]
            for r in neo.driver.execute_query(
                "SHOW VECTOR INDEXES YIELD name, options WHERE name = 'item_embedding' "
                "RETURN options.indexConfig.`vector.quantization.enabled` AS q",
                database_=neo.database,
            ).records
        ]

    assert quantized() == [True]
    vectors = np.eye(2, 3) + 0.5
    if write == "write_vectors":
        neo.write_vectors("Item", keys, vectors, property="embedding")
    elif write == "replace_vectors":  # as kgrec embed and a publish write theirs
        neo.replace_vectors({"Item": (keys, vectors)}, property="embedding")
    else:  # the vectors held already: an embed run again wrote nothing, the index stayed
        neo.replace_vectors({"Item": (keys, np.eye(2, 3))}, property="embedding", model=model)
    assert quantized() == [False]
    assert sorted(_nearest_items(neo, [1.0, 0.0, 0.0])) == keys


def test_a_quantized_index_of_the_users_under_kgrecs_name_is_never_dropped(neo, movies):
    # an index named as kgrec names its own, on another label or property, is the user's:
    # before, the quantized-index check matched the name alone and dropped it
    neo.write(movies, progress=False)
    neo.driver.execute_query(
        "CREATE VECTOR INDEX item_embedding FOR (n:Mine) ON n.v OPTIONS {indexConfig: "
        "{`vector.dimensions`: 3, `vector.similarity_function`: 'cosine'}}",
        database_=neo.database,
    )
    neo.write_vectors("Item", ["movies:1"], np.ones((1, 3)), property="embedding")
    held = neo.driver.execute_query(
        "SHOW VECTOR INDEXES YIELD name, labelsOrTypes WHERE name = 'item_embedding' "
        "RETURN labelsOrTypes[0] AS label",
        database_=neo.database,
    ).records
    assert [r["label"] for r in held] == ["Mine"]


def test_text_vectors_of_another_size_replace_every_kind_that_holds_them(neo, movies):
    """Text vectors of one model (2-d) on Item and Entity, then another model's (3-d): on Item
    alone refused (Entity's 2-d would stay), nothing written; on both, replaced, recorded and
    indexed at 3 dimensions (before, refused too: "Item.embedding holds 2-dimensional
    vectors", though no old vector would have stayed)."""
    from kgrec.text.embed import Embedded, write_embeddings

    neo.write(movies, progress=False)
    keys = {"Item": ["movies:1", "movies:2"], "Entity": list(neo.snapshot().entities["entity_id"])}

    def embedded(kind: str, size: int) -> Embedded:
        vectors = np.eye(len(keys[kind]), size, dtype=np.float32) + 0.5
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return Embedded(kind, keys[kind], vectors, len(keys[kind]), len(keys[kind]), 0, 0)

    write_embeddings(
        neo, [embedded("Item", 2), embedded("Entity", 2)], model={"name": "a", "identity": "a"}
    )
    b = {"name": "b", "identity": "b"}
    # named by the other model's vectors it would leave beside (session 46, embed46), not by
    # the dimension of those it would replace ("Item.embedding holds 2-dimensional vectors")
    with pytest.raises(
        InputError,
        match=r"the vectors 'embedding' of the Entity nodes were made by model a \(a\), these "
        r"by model b \(b\).* embed every kind that holds 'embedding' \(Item, Entity\)",
    ):
        write_embeddings(neo, [embedded("Item", 3)], model=b)
    assert neo.vector_dimension("Item", property="embedding") == 2
    write_embeddings(neo, [embedded("Item", 3), embedded("Entity", 3)], model=b)
    for kind in keys:
        assert neo.read_vectors(kind, property="embedding")[1].shape == (len(keys[kind]), 3)
    assert neo.vector_model("embedding")["identity"] == "b"
    assert sorted(_nearest_items(neo, [1.0, 0.0, 0.0])) == keys["Item"]


def test_a_raw_vector_write_is_refused_while_another_holds_the_load_lock(neo, movies):
    """Before, write_vectors, replace_vectors and drop_vectors called from Python took no load
    lock: they wrote while a load ran, or between another process's publish check (no text
    vectors there) and its write. Now each takes the lock, refused as a second load is."""
    neo.write(movies, progress=False)
    neo.write_vectors("Item", ["movies:1"], np.ones((1, 2)), property="vec")
    hold_lock_elsewhere(neo.driver)
    refused = r"load lock of database .*: kgrec load recbole x \(host elsewhere, pid 4242, "
    with pytest.raises(StoreError, match=refused):
        neo.write_vectors("Item", ["movies:2"], np.ones((1, 2)), property="vec")
    with pytest.raises(StoreError, match=refused):
        neo.replace_vectors({"Item": (["movies:2"], np.ones((1, 2)))}, property="vec")
    with pytest.raises(StoreError, match=refused):
        neo.drop_vectors("Item", [], property="vec")
    assert neo.read_vectors("Item", property="vec")[0] == ["movies:1"]  # nothing written
    assert [h["host"] for h in lock_holder(neo.driver)] == ["elsewhere"]
    neo.break_lock()
    neo.replace_vectors({"Item": (["movies:2"], np.ones((1, 2)))}, property="vec")
    assert neo.read_vectors("Item", property="vec")[0] == ["movies:2"]
    assert lock_holder(neo.driver) == []  # held only while it wrote


def test_a_writer_refused_by_the_load_lock_is_told_the_holders_command_not_a_load(neo, movies):
    """The lock's holder may be a publish (`kgrec recommend`) or a vector write from Python,
    and the lock records its command. The refusal read "another load (or embed) is writing"
    whoever held it. Now it names the holder by its recorded command."""
    neo.write(movies, progress=False)
    hold_lock_elsewhere(neo.driver, "kgrec recommend --run r")
    with pytest.raises(StoreError) as info:
        neo.write(movies, progress=False)
    message = str(info.value)
    assert "holds the load lock of database" in message and "another load" not in message
    assert "kgrec recommend --run r (host elsewhere, pid 4242, started " in message
    neo.break_lock()
    # this process's own vector write, from another store object, holds it
    other = Neo4jStore(neo.driver, database=neo.database, uri=neo.uri)
    with other.load_lock(), pytest.raises(StoreError) as info:
        neo.write_vectors("Item", ["movies:1"], np.ones((1, 2)), property="vec")
    message = str(info.value)
    assert f"{_lock_command(sys.argv)} (host {socket.gethostname()}, pid {os.getpid()}" in message
    assert "another load" not in message
    assert neo.read_vectors("Item", property="vec")[0] == []  # nothing written
    assert lock_holder(neo.driver) == []


def test_the_lock_of_a_dead_load_on_this_machine_is_cleared(neo, movies, dead_pid):
    neo.write(movies, progress=False)
    neo.driver.execute_query(
        "CREATE (:KgrecLock {name: 'load', token: 't', host: $host, pid: $pid, command: 'x', "
        "started: datetime()})",
        host=socket.gethostname(),
        pid=dead_pid,
    )
    neo.write(movies, progress=False)
    assert lock_holder(neo.driver) == []


def test_the_lock_of_a_writer_in_another_pid_namespace_of_this_host_is_kept(neo, movies, dead_pid):
    """A writer in a container that shares this machine's host name (host networking) records
    this host name and a pid of its own namespace, which this process cannot see. Before, that
    pid was taken for a dead writer's and its lock cleared while it wrote: two writers at
    once. Its lock is kept now; one of this process's namespace whose pid has ended is still
    cleared."""
    neo.write(movies, progress=False)
    lock = (
        "CREATE (:KgrecLock {name: 'load', token: 't', host: $host, pid: $pid, "
        "pid_namespace: $space, command: 'kgrec load recbole x', started: datetime()})"
    )
    host = socket.gethostname()
    before = neo.stats()  # (refused while a load holds the lock)
    neo.driver.execute_query(lock, host=host, pid=dead_pid, space="pid:[1]")
    refused = rf"another writer .*: kgrec load recbole x \(host {host}, pid {dead_pid}, "
    with pytest.raises(StoreError, match=refused):
        neo.check()  # what `kgrec load` calls before it parses its files
    with pytest.raises(StoreError, match=refused):
        neo.write(movies, progress=False)
    assert [h["pid_namespace"] for h in lock_holder(neo.driver)] == ["pid:[1]"]
    neo.break_lock()
    assert neo.stats() == before
    own = os.readlink("/proc/self/ns/pid")
    with neo.load_lock():  # a lock taken records the taker's namespace
        assert [h["pid_namespace"] for h in lock_holder(neo.driver)] == [own]
    neo.driver.execute_query(lock, host=host, pid=dead_pid, space=own)
    neo.write(movies, progress=False)
    assert lock_holder(neo.driver) == []


def test_a_read_after_a_load_killed_on_this_machine_says_to_run_the_load_again(
    neo, movies, dead_pid
):
    """A load killed mid-write (kill -9) leaves its lock and a partial graph. Before, every
    read said "a writer is changing the graph ...: run again when it has finished", which it
    never would, or to clear the lock, after which reads would take the partial graph as
    whole. Now a read whose lock holder is a process of this machine that has ended says so,
    and to run that command again (found by the neo4juser45 review). A holder of another pid
    namespace of this host is not known to be dead: the message is as before."""
    neo.write(movies, progress=False)
    lock = (
        "CREATE (:KgrecLock {name: 'load', token: 't', host: $host, pid: $pid, graph: true, "
        "pid_namespace: $space, command: 'kgrec load recbole x', started: datetime()})"
    )
    host = socket.gethostname()
    own = os.readlink("/proc/self/ns/pid")
    neo.driver.execute_query(lock, host=host, pid=dead_pid, space=own)
    holder = f"kgrec load recbole x (host {host}, pid {dead_pid}, started "
    for read in (neo.stats, neo.snapshot, lambda: neo.explain("u1", "movies:1")):
        with pytest.raises(StoreError) as info:
            read()
        message = str(info.value)
        assert message.startswith(f"{neo.uri}: the graph of database 'neo4j' is partly written: ")
        for part in (holder, "no longer runs on this machine", "run that command again"):
            assert part in message, part
        assert "when it has finished" not in message
    neo.break_lock()
    neo.driver.execute_query(lock, host=host, pid=dead_pid, space="pid:[1]")
    with pytest.raises(StoreError, match=r"a writer is changing the graph .* when it has finished"):
        neo.stats()
    neo.break_lock()


# -- whole-graph reads while a writer writes -------------------------------------------------


def assert_same_tables(a, b) -> None:
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], obj=name)


def newcomers(make_graph):
    """Two users a load adds, with their interactions, to the movies graph."""
    return make_graph(
        users=[{"user_id": "n1"}, {"user_id": "n2"}],
        interactions=[("n1", "movies:1", 4.0, None), ("n2", "books:1", 3.0, None)],
    )


def test_a_read_of_several_queries_is_refused_while_a_load_writes(
    neo, movies, make_graph, monkeypatch
):
    """A Neo4j load commits chunk by chunk: between two of them the graph is partly old,
    partly new. Before, snapshot() (kgrec train, tune, recommend, embed) and stats() (kgrec
    graph stats) read it in several queries without a look at the load lock: a train started
    during a load trained on whatever the queries met, users without their interactions, with
    no word; and explain said of a user the load had written, not yet their interactions,
    "user 'n1' has no interactions in the graph". Now, while a load holds the lock, they (and
    items()) are refused, naming it; after it, read."""
    neo.write(movies, progress=False)
    reader = Neo4jStore(neo.driver, database=neo.database, uri=neo.uri)
    reads = (
        reader.snapshot,
        reader.stats,
        lambda: reader.explain("n1", "movies:1"),
        lambda: reader.items(["movies:1"]),
    )
    refusals = []
    write_chunks = Neo4jStore._write_chunks

    def read_midway(self, name, *args, **kwargs):
        write_chunks(self, name, *args, **kwargs)
        if name == "users":  # the newcomers written, not yet their interactions
            for read in reads:
                with pytest.raises(StoreError) as refused:
                    read()
                refusals.append(str(refused.value))

    monkeypatch.setattr(Neo4jStore, "_write_chunks", read_midway)
    neo.write(newcomers(make_graph), progress=False)
    monkeypatch.undo()
    assert len(refusals) == len(reads)
    holder = f"{_lock_command(sys.argv)} (host {socket.gethostname()}, pid {os.getpid()}"
    for message in refusals:
        changing = f"{neo.uri}: a writer is changing the graph of database 'neo4j': "
        assert message.startswith(changing)
        for part in (holder, "run again when it has finished", "kgrec graph unlock"):
            assert part in message, part
    snapshot = reader.snapshot()  # the load done: read
    assert {"n1", "n2"} <= set(snapshot.users["user_id"])
    assert {"n1", "n2"} <= set(snapshot.interactions["user_id"])
    paths = explain(snapshot, "n1", "movies:2")
    assert len(paths) > 0
    pd.testing.assert_frame_equal(reader.explain("n1", "movies:2"), paths)
    assert reader.items(["movies:1"])["uid"].tolist() == ["movies:1"]
    # the lock of a kgrec before session 44 says nothing of what its holder writes: a load's
    before = reader.stats()
    hold_lock_elsewhere(neo.driver)
    for read in reads:
        with pytest.raises(StoreError, match=r"kgrec load recbole x \(host elsewhere, pid 4242"):
            read()
    neo.break_lock()
    assert reader.stats() == before


def test_a_whole_graph_read_that_a_load_overtook_reads_again(neo, movies, make_graph, monkeypatch):
    """A load that begins and ends between two of snapshot()'s queries leaves no lock to see
    before or after them. Before, the read gave the users of the graph before it with the
    interactions of the graph after it (the newcomers' interactions, not the newcomers). Now
    the read starts again and gives the graph after it, whole."""
    neo.write(movies, progress=False)
    loader = Neo4jStore(neo.driver, database=neo.database, uri=neo.uri)
    nested = Neo4jStore._nested
    loads = []

    def load_between(self, *args, **kwargs):
        if not loads:  # users, items and entities read; the interactions not yet
            loads.append(loader.write(newcomers(make_graph), progress=False))
        return nested(self, *args, **kwargs)

    monkeypatch.setattr(Neo4jStore, "_nested", load_between)
    snapshot = neo.snapshot()
    monkeypatch.undo()
    assert len(loads) == 1
    assert {"n1", "n2"} <= set(snapshot.users["user_id"])
    assert_same_tables(snapshot, neo.snapshot())


def test_items_that_a_load_overtook_are_read_again(neo, make_graph, monkeypatch):
    """items() reads the types of the items' attributes, then the items' values. Before, a
    load that made an attribute text (one item's score 'high') between the two gave the
    scores rewritten as text, typed as the numbers the first query had counted; now the
    items are read again, as the graph after the load has them."""
    scored = [{"domain": "d", "item_id": str(n), "score": n} for n in (1, 2)]
    neo.write(make_graph(items=scored), progress=False)
    loader = Neo4jStore(neo.driver, database=neo.database, uri=neo.uri)
    run, loads = Neo4jStore._run, []

    def load_between(self, query, **kwargs):
        if query == queries.ITEM_COLUMNS and not loads:  # the types read, not the values
            high = [{"domain": "d", "item_id": "3", "score": "high"}]
            loads.append(loader.write(make_graph(items=high), progress=False))
        return run(self, query, **kwargs)

    monkeypatch.setattr(Neo4jStore, "_run", load_between)
    items = neo.items(["d:1", "d:2"])
    monkeypatch.undo()
    assert len(loads) == 1
    snapshot = neo.snapshot().items
    want = snapshot[snapshot["uid"].isin(["d:1", "d:2"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(items, want)
    assert items["score"].tolist() == ["1", "2"]


ONE_RECOMMENDATION = pd.DataFrame(
    {"user_id": ["u1"], "item_uid": ["movies:2"], "score": [1.0], "rank": [1], "model": ["m"]}
)


def test_a_whole_graph_read_during_a_publish_is_read(neo, movies, monkeypatch):
    """A publish (kgrec recommend) holds the load lock but changes no table a whole-graph read
    gives (its edges and vectors are none of them): a train or a graph stats meanwhile reads."""
    neo.write(movies, progress=False)
    vectors = {"User": (["u1"], np.ones((1, 2))), "Item": (["movies:2"], np.ones((1, 2)))}
    neo.publish(ONE_RECOMMENDATION, run="r", vectors=vectors, property="emb")
    reader = Neo4jStore(neo.driver, database=neo.database, uri=neo.uri)
    before, counts = reader.snapshot(), reader.stats()
    read = []
    publish_at_once = Neo4jStore._publish_at_once

    def read_meanwhile(self, *args, **kwargs):
        assert lock_holder(self.driver)  # the publish holds the lock
        read.append((reader.snapshot(), reader.stats()))
        return publish_at_once(self, *args, **kwargs)

    monkeypatch.setattr(Neo4jStore, "_publish_at_once", read_meanwhile)
    neo.publish(ONE_RECOMMENDATION, run="r", vectors=vectors, property="emb")
    assert len(read) == 1
    assert_same_tables(read[0][0], before)
    assert read[0][1] == counts


def test_a_whole_graph_read_is_refused_while_vectors_wait_for_their_index(neo, movies, monkeypatch):
    """A publish or an embed that writes a property's first vectors of a kind, or vectors of
    another dimension, makes their vector index after them: until it is made, Neo4j holds
    them as a property of the nodes like any attribute. Before, a train or a graph stats
    meanwhile read them as an attribute column of vectors (the users' `emb`); now the writer
    says in its lock that it changes the graph, and the read is refused, naming it."""
    neo.write(movies, progress=False)
    reader = Neo4jStore(neo.driver, database=neo.database, uri=neo.uri)
    before = reader.snapshot()
    refusals = []
    index_published = Neo4jStore._index_published

    def read_first(self, *args, **kwargs):  # the vectors committed, their index not made
        with pytest.raises(StoreError) as refused:
            reader.snapshot()
        refusals.append(str(refused.value))
        return index_published(self, *args, **kwargs)

    monkeypatch.setattr(Neo4jStore, "_index_published", read_first)
    users = {"User": (["u1"], np.ones((1, 2)))}
    neo.publish(ONE_RECOMMENDATION, run="r", vectors=users, property="emb")  # the first
    neo.replace_vectors({"Item": (["movies:1"], np.ones((1, 3)))}, property="emb")  # Item's
    users = {"User": (["u1"], np.ones((1, 4)))}
    neo.publish(ONE_RECOMMENDATION, run="r", vectors=users, property="emb")  # of another size
    monkeypatch.undo()
    assert len(refusals) == 3
    holder = f"{_lock_command(sys.argv)} (host {socket.gethostname()}, pid {os.getpid()}"
    for message in refusals:
        assert "a writer is changing the graph of database 'neo4j'" in message
        assert holder in message
    assert_same_tables(reader.snapshot(), before)  # the vectors indexed: no attribute


def test_the_lock_is_released_on_failure_and_interrupt(neo, movies, monkeypatch, caplog):
    neo.write(movies, progress=False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Neo4jStore, "_write_fan_out", interrupted)
    with pytest.raises(KeyboardInterrupt):
        neo.write(movies, progress=False)
    assert "the graph is partial" in caplog.text
    assert "run the same command again" in caplog.text
    assert lock_holder(neo.driver) == []

    def failing(*args, **kwargs):
        raise StoreError("Neo4j went away")

    monkeypatch.setattr(Neo4jStore, "_write_fan_out", failing)
    with pytest.raises(StoreError, match="went away"):
        neo.write(movies, progress=False)
    assert lock_holder(neo.driver) == []


def test_an_error_of_no_driver_mid_load_says_the_graph_is_partial(neo, local, movies, monkeypatch):
    """Before, an error that was no driver's (here one building a chunk's parameters) stopped a
    load with its bare traceback, never saying that the graph was left partial."""
    from kgrec.store import neo4j

    built = []
    real = neo4j._end_positions

    def failing(chunk):
        built.append(chunk)
        if len(built) == 2:  # the first fan-out chunk is committed
            raise RuntimeError("a bug building the rows")
        return real(chunk)

    monkeypatch.setattr(neo4j, "_end_positions", failing)
    with pytest.raises(StoreError, match="the graph is partial") as raised:
        neo.write(movies, progress=False)
    assert "run the same command again" in str(raised.value)
    assert "RuntimeError: a bug building the rows" in str(raised.value)
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert lock_holder(neo.driver) == []
    assert 0 < count(neo.driver, "MATCH ()-[r:INTERACTED]->() RETURN count(r)") < 5
    monkeypatch.undo()
    neo.write(movies, progress=False)  # the same load again finishes it
    local.write(movies, progress=False)
    assert_same_graph(neo, local)


def test_a_database_the_server_lacks_is_named_with_its_setting(neo, tmp_path, monkeypatch, capsys):
    """NEO4J_DATABASE naming a database the server does not have: before, "Neo4j refused
    reading the load lock: Graph not found: moviez" (neither a database nor the setting
    named)."""
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("user_id,item_id,rating\n1,10,4\n")
    monkeypatch.setenv("NEO4J_DATABASE", "moviez")
    assert main(["load", "table", str(ratings), "--domain", "movies", "--store", neo.uri]) == 2
    out, err = capsys.readouterr()
    assert f"{neo.uri}: the server has no database 'moviez'" in err
    assert "NEO4J_DATABASE" in err
    assert "rows:" not in out  # refused before the file was parsed (no summary)
    assert main(["graph", "stats", "--store", neo.uri]) == 2
    assert "the server has no database 'moviez'" in capsys.readouterr().err
    monkeypatch.delenv("NEO4J_DATABASE")
    assert neo.stats()["nodes"]["User"] == 0  # nothing written anywhere


def test_two_loads_at_once_one_is_refused_and_the_graph_is_exact(
    neo4j_clean, neo4j_settings, local, synthetic_graph
):
    """The issue's case, scaled down: two loads into one database at the same time."""
    graph = synthetic_graph(n_users=400, n_items=200, per_user=30, seed=3)
    local.write(graph, progress=False)

    def store() -> Neo4jStore:
        return Neo4jStore(
            neo4j_clean, database=neo4j_settings.database, uri=neo4j_settings.uri, batch_size=300
        )

    first = store()
    first.write(synthetic_graph(n_users=1, n_items=1, per_user=1), progress=False)  # schema
    outcome: list[BaseException | None] = []
    writer = threading.Thread(target=lambda: outcome.append(_capture(first.write, graph)))
    writer.start()
    deadline = time.monotonic() + 120
    while not lock_holder(neo4j_clean):
        assert writer.is_alive() and time.monotonic() < deadline, "the first load never locked"
        time.sleep(0.01)
    with pytest.raises(StoreError, match=f"another writer .* pid {os.getpid()}"):
        store().write(graph, progress=False)
    writer.join(timeout=300)
    assert outcome == [None]
    expected = LocalStore(local.path)
    expected.write(synthetic_graph(n_users=1, n_items=1, per_user=1), progress=False)
    assert_same_graph(store(), expected)
    assert count(neo4j_clean, "MATCH ()-[r:INTERACTED]->() RETURN count(r)") == len(
        expected.snapshot().interactions
    )


def _capture(write, graph) -> BaseException | None:
    try:
        write(graph, progress=False)
    except BaseException as exc:  # handed to the test thread
        return exc
    return None


def test_writers_of_the_same_users_at_once_lose_and_duplicate_nothing(
    neo4j_clean, neo4j_settings, local, synthetic_graph, make_graph
):
    """Below the load lock: two writes of interactions of the same (new) users, in two domains,
    at the same time. Each user's relationships are decided under the user's lock, so none is
    lost (the old "no INTERACTED yet" guard dropped the second domain's) and none doubled."""
    base = synthetic_graph(n_users=300, n_items=50, per_user=20, seed=5)
    users = base.users["user_id"].tolist()
    items = [{"domain": d, "item_id": str(i)} for d in ("a", "b") for i in range(50)]
    setup = make_graph(users=[{"user_id": u} for u in users], items=items)
    parts = [
        make_graph(interactions=[(u, f"{d}:{i}", 1.0, 1.0) for u in users for i in range(0, 20)])
        for d in ("a", "b")
    ]
    stores = [
        Neo4jStore(
            neo4j_clean, database=neo4j_settings.database, uri=neo4j_settings.uri, batch_size=200
        )
        for _ in parts
    ]
    stores[0].write(setup, progress=False)
    local.write(setup, progress=False)
    batches = [prepare(part) for part in parts]
    threads = [
        threading.Thread(target=s._write_batch, args=(b, False, {}))
        for s, b in zip(stores, batches, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for part in parts:
        local.write(part, progress=False)
    assert count(neo4j_clean, "MATCH ()-[r:INTERACTED]->() RETURN count(r)") == 2 * 300 * 20
    assert_same_graph(stores[0], local)


def test_loading_again_repairs_duplicated_relationships(neo, local, movies):
    neo.write(movies, progress=False)
    local.write(movies, progress=False)
    # what concurrent loads of an older kgrec left behind: copies of the same relationship
    neo.driver.execute_query(
        "MATCH (u:User)-[r:INTERACTED]->(i:Item) CREATE (u)-[:INTERACTED {rating: r.rating, "
        "timestamp: r.timestamp}]->(i)"
    )
    neo.driver.execute_query(
        "MATCH (h)-[r:RELATED]->(t) CREATE (h)-[:RELATED {relation: r.relation}]->(t)"
    )
    assert count(neo.driver, "MATCH ()-[r:INTERACTED]->() RETURN count(r)") == 10
    neo.write(movies, progress=False)
    assert_same_graph(neo, local)
    assert count(neo.driver, "MATCH ()-[r:INTERACTED|RELATED]->() RETURN count(r)") == 10


@pytest.mark.slow
def test_ml100k_then_ml1m_same_as_local(neo4j_clean, neo4j_settings, local, datasets):
    """The issue's pair: ml-100k's ages are numbers, ml-1m's text; both stores merge them."""
    neo = Neo4jStore(neo4j_clean, database=neo4j_settings.database, uri=neo4j_settings.uri)
    for name in ("ml-100k", "ml-1m"):
        graph = recbole.load(datasets / name)
        neo.write(graph, progress=False)
        local.write(graph, progress=False)
    assert neo.stats() == local.stats()
    assert_same_graph(neo, local)
    users = local.snapshot().users
    assert str(users["age"].dtype) == "string"


@pytest.mark.parametrize(
    ("values", "writer"),
    [(20_000_000, "_replace_vectors_at_once"), (1, "_replace_vectors_staged")],
    ids=["one-transaction", "staged"],
)
def test_vectors_of_another_dimension_that_fail_to_write_keep_the_index(
    movies_store, monkeypatch, values, writer
):
    """Before, the index of the old dimension was dropped before the new vectors were written,
    and made again only if the server still answered: when Neo4j went away mid-write, the old
    vectors were left without their index (then read as an attribute, and an embed refused)."""
    from neo4j.exceptions import ServiceUnavailable

    store = movies_store(vector_transaction_values=values)
    store.write_vectors("Item", ["movies:1", "movies:2"], np.ones((2, 2)), property="embedding")
    gone: list[bool] = []
    real_run = Neo4jStore._run

    def run(self, *args, **kwargs):
        if gone:
            raise ServiceUnavailable("Neo4j went away")
        return real_run(self, *args, **kwargs)

    def going(self, *args, **kwargs):
        gone.append(True)
        raise ServiceUnavailable("Neo4j went away")

    monkeypatch.setattr(Neo4jStore, "_run", run)
    monkeypatch.setattr(Neo4jStore, writer, going)
    new = {"Item": (["movies:1"], np.full((1, 3), 2.0))}
    with pytest.raises(StoreError, match="went away"):
        store.replace_vectors(new, property="embedding")
    monkeypatch.undo()
    assert store.vector_dimension("Item", property="embedding") == 2
    keys, vectors = store.read_vectors("Item", property="embedding")
    assert keys == ["movies:1", "movies:2"]
    np.testing.assert_array_equal(vectors, np.ones((2, 2)))
    store.replace_vectors(new, property="embedding")  # once it answers: the new index
    assert store.vector_dimension("Item", property="embedding") == 3
    keys, vectors = store.read_vectors("Item", property="embedding")
    assert keys == ["movies:1"]
    np.testing.assert_array_equal(vectors, np.full((1, 3), 2.0))


@pytest.mark.parametrize("values", [20_000_000, 1], ids=["one-transaction", "staged"])
def test_an_embed_the_server_refuses_half_way_leaves_every_kind_as_it_was(
    movies_store, monkeypatch, values
):
    """Before, each kind's vectors (and each chunk of them) were their own transaction: a
    failure while the users' vectors were written left the items' new ones written."""
    from kgrec.store import queries as q
    from kgrec.text.embed import Embedded, write_embeddings

    store = movies_store(batch_size=2, vector_transaction_values=values)
    store.write_vectors("Item", ["movies:1", "movies:2"], np.ones((2, 2)), property="embedding")
    failing = dict(q.SET_VECTORS, User="UNWIND $rows AS row RETURN 1 / 0")  # the server refuses
    monkeypatch.setattr(q, "SET_VECTORS", failing)
    results = [
        Embedded("Item", ["movies:1"], np.full((1, 2), 5, np.float32), 3, 1, 0, 2),
        Embedded("User", ["u1", "u2"], np.full((2, 2), 7, np.float32), 2, 1, 0, 0),
    ]
    with pytest.raises(StoreError, match="/ by zero"):
        write_embeddings(store, results)
    keys, vectors = store.read_vectors("Item", property="embedding")
    assert keys == ["movies:1", "movies:2"]
    np.testing.assert_array_equal(vectors, np.ones((2, 2)))
    assert store.read_vectors("User", property="embedding")[0] == []
    assert store.vector_dimension("User", property="embedding") is None  # no index left
    staged = store.driver.execute_query(
        "MATCH (n) WHERE n[$p] IS NOT NULL RETURN count(n) AS n",
        p=q.staging_property("embedding"),
        database_=store.database,
    ).records[0]["n"]
    assert staged == 0
    monkeypatch.undo()
    write_embeddings(store, results)  # the same embed, not refused, replaces both
    assert store.read_vectors("Item", property="embedding")[0] == ["movies:1"]
    assert store.read_vectors("User", property="embedding")[0] == ["u1", "u2"]


@pytest.mark.parametrize(
    ("failing", "repair"),
    [
        (
            "CREATE VECTOR INDEX",
            r"index of Item is missing .*: make it in Cypher \((CREATE VECTOR INDEX .*)\)$",
        ),
        ("db.awaitIndex", r"embed again to make them$"),
    ],
)
@pytest.mark.parametrize("values", [20_000_000, 1], ids=["one-transaction", "staged"])
def test_an_embed_whose_vector_index_fails_says_its_vectors_are_written(
    movies_store, monkeypatch, failing, repair, values
):
    """The vector indexes are made after the vectors are written (committed): when that
    fails, the error says the vectors are written, and what makes the index: the Cypher
    statement of one that is missing (the vectors then read as a property of the nodes, which
    an embed refuses to replace), else embedding again. Before, it read as a failed write
    ('Neo4j ... while writing the vectors of User, Item')."""
    import re

    from neo4j.exceptions import ServiceUnavailable

    from kgrec.text.embed import Embedded, write_embeddings

    store = movies_store(vector_transaction_values=values)
    results = [  # the users' index is made before the items'
        Embedded("User", ["u1", "u2"], np.full((2, 2), 7, np.float32), 2, 2, 0, 0),
        Embedded("Item", ["movies:1", "movies:2"], np.full((2, 2), 5, np.float32), 2, 2, 0, 0),
    ]
    execute_query = store.driver.execute_query

    def item_index_fails(query, *args, **kwargs):
        if failing in query and ("(n:`Item`)" in query or "'item_embedding'" in str(kwargs)):
            raise ServiceUnavailable("the server went away")
        return execute_query(query, *args, **kwargs)

    monkeypatch.setattr(store.driver, "execute_query", item_index_fails)
    with pytest.raises(StoreError) as caught:
        write_embeddings(store, results)
    monkeypatch.undo()
    message = str(caught.value)
    assert "the vectors of User, Item are written, but not every vector index is made" in message
    found = re.search(repair, message)
    assert found, message
    assert store.read_vectors("User", property="embedding")[0] == ["u1", "u2"]
    if failing == "CREATE VECTOR INDEX":
        with pytest.raises(InputError, match="a property of the graph's Item nodes"):
            write_embeddings(store, results)
        execute_query(found[1], database_=store.database)
    write_embeddings(store, results)  # the same embed makes what is missing
    assert store.vector_dimension("Item", property="embedding") == 2
    keys, vectors = store.read_vectors("Item", property="embedding")
    assert keys == ["movies:1", "movies:2"]
    np.testing.assert_array_equal(vectors, np.full((2, 2), 5))


def _record(identity: str, templates: dict, reads: dict) -> dict[str, str]:
    import json

    return {
        "name": identity.upper(),
        "identity": identity,
        "templates": json.dumps(templates, sort_keys=True),
        "interactions": json.dumps(reads, sort_keys=True),
    }


@pytest.mark.parametrize("failing", ["swap", "record"])
def test_a_staged_embed_that_stops_never_leaves_the_old_models_record(
    movies_store, monkeypatch, failing
):
    """A staged embed (over vector_transaction_values) records its model after the swap.
    Before, the old (:KgrecVectors) record stayed on the new vectors when the swap or that
    record failed: another model's vectors read as the old model's (a later embed of other
    kinds with the old model was let in beside them), and user vectors whose texts read the
    interactions read as ones that do not. Now the record says only what is true however far
    the swap went (nothing, for another model), and the same embed again records it."""
    import json

    from neo4j.exceptions import ServiceUnavailable

    from kgrec.store import queries as q
    from kgrec.text.embed import Embedded, interaction_kinds, template_digests, write_embeddings

    store = movies_store(batch_size=2, vector_transaction_values=1)
    old = _record("a", {"Item": "i1", "User": "u1"}, {"Item": False, "User": False})
    items = Embedded("Item", ["movies:1", "movies:2"], np.full((2, 2), 5, np.float32), 2, 2, 0, 0)
    users = Embedded("User", ["u1", "u2"], np.full((2, 2), 7, np.float32), 2, 2, 0, 0)
    write_embeddings(store, [items, users], model=old)
    assert store.vector_model("embedding") == old
    # the same model, the users' texts now read the interactions; another model, every kind
    same = _record("a", {"User": "u2"}, {"User": True})
    other = _record("b", {"Item": "i3", "User": "u3"}, {"Item": False, "User": False})
    finished = _record("a", {"Item": "i1", "User": "u2"}, {"Item": False, "User": True})
    new_users = Embedded("User", ["u1", "u2"], np.full((2, 2), 3, np.float32), 2, 2, 0, 0)
    cases = ((same, [new_users], finished), (other, [items, new_users], other))
    real_run = Neo4jStore._run

    def run(self, query, *args, **kwargs):
        # the record after the swap (the one before it leaves out the users' templates)
        users_templates = json.loads(kwargs.get("templates") or "{}").get("User")
        if failing == "record" and query == q.RECORD_VECTOR_MODEL and users_templates:
            raise ServiceUnavailable("the server went away")
        return real_run(self, query, *args, **kwargs)

    for model, results, expected in cases:
        monkeypatch.setattr(Neo4jStore, "_run", run)
        if failing == "swap":  # the swap's statements run in a session of their own
            moving = dict(q.MOVE_STAGED_VECTORS_IN_BATCHES, User="RETURN 1 / 0")
            monkeypatch.setattr(q, "MOVE_STAGED_VECTORS_IN_BATCHES", moving)
        with pytest.raises(StoreError) as caught:
            write_embeddings(store, results, model=model)
        monkeypatch.undo()
        if failing == "record":
            assert "the vectors of " in str(caught.value)
            assert "are written, but not the record of their text model" in str(caught.value)
            assert "run the same embed again to record it" in str(caught.value)
        recorded = store.vector_model("embedding")
        if model is other:
            assert recorded is None  # their model is unknown, not model a
        else:
            assert recorded["identity"] == "a"
            assert template_digests(recorded) == {"Item": "i1"}  # the users': unknown
            assert interaction_kinds(recorded) == {"Item": False, "User": True}
        write_embeddings(store, results, model=model)  # the same embed finishes it
        assert store.vector_model("embedding") == expected
        np.testing.assert_array_equal(
            store.read_vectors("User", property="embedding")[1], np.full((2, 2), 3)
        )


def test_vectors_whose_index_wait_fails_are_said_to_be_written(neo, movies, monkeypatch):
    """write_vectors commits its vectors, then waits for their index to come online: when
    the wait fails, the error says the vectors are written. Before, it read as a failed
    write ('... while writing Item vectors')."""
    from neo4j.exceptions import ServiceUnavailable

    neo.write(movies, progress=False)
    execute_query = neo.driver.execute_query

    def wait_fails(query, *args, **kwargs):
        if "db.awaitIndex" in query:
            raise ServiceUnavailable("the server went away")
        return execute_query(query, *args, **kwargs)

    monkeypatch.setattr(neo.driver, "execute_query", wait_fails)
    with pytest.raises(StoreError) as caught:
        neo.write_vectors("Item", ["movies:1"], np.ones((1, 2)), property="embedding")
    monkeypatch.undo()
    assert "the Item vectors 'embedding' are written, but vector queries may miss" in str(
        caught.value
    )
    assert "write them again to wait for it" in str(caught.value)
    assert neo.read_vectors("Item", property="embedding")[0] == ["movies:1"]


RECORD_VERSION = "MATCH (v:KgrecVectors {property: $property}) RETURN v.schema_version"


def test_vector_records_carry_a_schema_version_and_a_newer_one_is_refused(neo, movies_store):
    """Since session 31 a (:KgrecVectors) record holds its schema version, as a LocalStore's
    manifest does: 1 for a text model's record, 2 for a publish's run record (what a kgrec of
    sessions 26 to 28 takes for a text model's), in one transaction or staged. A record of a
    newer version is refused ("upgrade kgrec"), by an embed too, before it writes anything.
    Before, a record held no version: a newer kgrec's was read as a model's or run's record."""
    from kgrec.text.embed import Embedded, write_embeddings

    staged = movies_store(batch_size=2, publish_transaction_rows=1, vector_transaction_values=1)
    text = {"name": "a", "identity": "a@1"}
    recs = pd.DataFrame(
        {"user_id": ["u1"], "item_uid": ["movies:1"], "score": [0.9], "rank": [1], "model": "m"}
    )
    for n, store in enumerate((neo, staged)):
        vec = f"emb{n}"
        store.publish(recs, run="r1", vectors={"User": (["u1"], np.ones((1, 3)))}, property=vec)
        assert count(neo.driver, RECORD_VERSION, property=vec) == 2
        assert store.vector_run(vec) == {"run": "r1"} and store.vector_model(vec) is None
        store.replace_vectors({"Item": (["movies:1"], np.ones((1, 2)))}, property=vec, model=text)
        assert count(neo.driver, RECORD_VERSION, property=vec) == 1
        assert store.vector_model(vec) == text and store.vector_run(vec) is None
    refused = (
        (
            3,
            r"record of the vectors 'emb0' was written by a newer kgrec \(schema version 3 > 2\);"
            r" upgrade kgrec",
        ),
        ("2", r"record of the vectors 'emb0' is damaged: schema_version '2'"),
    )
    users = Embedded("User", ["u1"], np.full((1, 3), 5, np.float32), 1, 1, 0, 0)
    for version, message in refused:
        neo.driver.execute_query(
            "MATCH (v:KgrecVectors {property: 'emb0'}) SET v.schema_version = $version",
            version=version,
        )
        for read in (neo.vector_model, neo.vector_run):
            with pytest.raises(StoreError, match=message):
                read("emb0")
        with pytest.raises(StoreError, match=message):
            write_embeddings(neo, [users], property="emb0", model=text)
        keys, matrix = neo.read_vectors("User", property="emb0")
        assert keys == ["u1"] and matrix.tolist() == [[1.0, 1.0, 1.0]]


def test_a_model_record_an_older_kgrec_set_over_a_run_record_is_the_models(neo, movies):
    """An embed of a kgrec of sessions 26 to 28 sets its text model's fields on the record and
    leaves the others: over a run's record (session 29 on), the run's fields stay beside the
    model's. The record is the model's (that embed wrote the vectors last), the vectors no
    run's. Before, vector_run still named the run, as if the text vectors were its own."""
    neo.write(movies, progress=False)
    recs = pd.DataFrame(
        {"user_id": ["u1"], "item_uid": ["movies:1"], "score": [0.9], "rank": [1], "model": "m"}
    )
    neo.publish(recs, run="r1", vectors={"User": (["u1"], np.ones((1, 3)))}, property="embedding")
    assert neo.vector_run("embedding") == {"run": "r1"}
    neo.driver.execute_query(  # the RECORD_VECTOR_MODEL of sessions 26 to 28
        "MERGE (v:KgrecVectors {property: $property}) SET v.model = $name, "
        "v.identity = $identity, v.templates = $templates, v.interactions = $interactions",
        property="embedding",
        name="a",
        identity="a@1",
        templates=None,
        interactions=None,
    )
    assert neo.vector_model("embedding") == {"name": "a", "identity": "a@1"}
    assert neo.vector_run("embedding") is None


@pytest.mark.parametrize("values", [20_000_000, 1], ids=["one-transaction", "staged"])
def test_an_embed_that_changes_nothing_writes_nothing(movies_store, monkeypatch, values):
    """Embedding again what the database holds (the same model's record, the same vectors)
    writes nothing, as on the local store. Before, every vector was written again (a staged
    swap, where readers may see the vectors partly replaced, for a large graph)."""
    from kgrec.text.embed import Embedded, write_embeddings

    store = movies_store(batch_size=2, vector_transaction_values=values)
    model = _record("a", {"Item": "i1", "User": "u1"}, {"Item": False, "User": False})
    items = Embedded(
        "Item", ["movies:2", "movies:1"], np.arange(4, dtype=np.float32).reshape(2, 2), 2, 2, 0, 0
    )
    users = Embedded("User", ["u1", "u2"], np.full((2, 2), 7, np.float32), 2, 2, 0, 0)
    write_embeddings(store, [items, users], model=model)
    writes = []
    for name in ("_replace_vectors_at_once", "_replace_vectors_staged"):
        real = getattr(Neo4jStore, name)
        monkeypatch.setattr(
            Neo4jStore,
            name,
            lambda self, *a, _real=real, **k: writes.append(1) or _real(self, *a, **k),
        )
    write_embeddings(store, [items, users], model=model)
    assert writes == []
    keys, vectors = store.read_vectors("Item", property="embedding")
    assert keys == ["movies:1", "movies:2"]
    np.testing.assert_array_equal(vectors, [[2, 3], [0, 1]])
    # one value changed, or another model's record: written
    changed = Embedded(
        "Item", ["movies:2", "movies:1"], np.array([[0, 1], [2, 4]], np.float32), 2, 2, 0, 0
    )
    write_embeddings(store, [changed, users], model=model)
    assert writes == [1]
    np.testing.assert_array_equal(
        store.read_vectors("Item", property="embedding")[1], [[2, 4], [0, 1]]
    )
    write_embeddings(
        store,
        [changed, users],
        model=_record("b", {"Item": "i1", "User": "u1"}, {"Item": False, "User": False}),
    )
    assert writes == [1, 1]
    assert store.vector_model("embedding")["identity"] == "b"


def test_an_embed_run_again_makes_an_index_of_another_dimension_again(movies_store):
    """An embed whose vectors are written and whose index is still of the old dimension (the
    drop of the old index failed: the error says to run the same embed again) makes it again,
    though the vectors and their record are unchanged; the check that an unchanged embed
    writes nothing must not skip it."""
    from kgrec.store import queries as q
    from kgrec.text.embed import Embedded, write_embeddings

    store = movies_store(batch_size=2)
    model = _record("a", {"Item": "i1"}, {"Item": False})
    items = Embedded("Item", ["movies:1", "movies:2"], np.eye(2, dtype=np.float32), 2, 2, 0, 0)
    write_embeddings(store, [items], model=model)
    store._run(q.drop_vector_index("Item", "embedding"))
    store._run(q.create_vector_index("Item", "embedding"), dimensions=3)
    write_embeddings(store, [items], model=model)
    assert store.vector_dimension("Item", property="embedding") == 2
    np.testing.assert_array_equal(store.read_vectors("Item", property="embedding")[1], np.eye(2))
