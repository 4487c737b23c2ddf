"""Publishing more recommendations than one transaction may hold: Neo4jStore.publish stages
them in chunks and swaps them in, and a failure leaves the run as it was."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from neo4j.exceptions import ServiceUnavailable

from kgrec.errors import InputError, StoreError
from kgrec.store import Neo4jStore
from kgrec.store import neo4j as neo4j_module
from kgrec.store.queries import staging_run

pytestmark = pytest.mark.neo4j


def top_k(n_users: int, k: int, model: str = "m", offset: int = 0) -> pd.DataFrame:
    """k recommendations for each of users u0..u{n_users-1}, items synth:offset.. in order."""
    users = [f"u{u}" for u in range(n_users)]
    return pd.DataFrame(
        {
            "user_id": np.repeat(users, k),
            "item_uid": [f"synth:{offset + i}" for _ in users for i in range(k)],
            "score": 1.0,
            "rank": np.tile(np.arange(1, k + 1), n_users),
            "model": model,
        }
    )


def stored(store: Neo4jStore, run: str | None = None) -> list[tuple]:
    table = store.recommendations(run)
    return list(zip(table["run"], table["user_id"], table["item_uid"], table["model"], strict=True))


def staged_rows(driver) -> int:
    return driver.execute_query(
        "MATCH ()-[r:RECOMMENDED]->() WHERE r.run STARTS WITH 'kgrec-staging:' RETURN count(r)"
    ).records[0][0]


@pytest.mark.slow
def test_a_publish_beyond_the_transaction_memory_is_staged(own_neo4j, synthetic_graph):
    # a server whose transactions may hold 8 MiB: 60,000 recommendations in one are refused
    server = own_neo4j(NEO4J_TRANSACTION_MAX="8m")
    with server.connect(max_transaction_retry_time=0.5) as driver:
        at_once = Neo4jStore(driver, uri=server.uri, batch_size=2_000)
        at_once.write(synthetic_graph(n_users=3_000, n_items=100, per_user=2), progress=False)
        recommendations = top_k(3_000, 20)
        with pytest.raises(StoreError, match="memory"):
            at_once.publish(recommendations, run="r")
        assert at_once.stats()["relationships"]["RECOMMENDED"] == 0

        staged = Neo4jStore(
            driver, uri=server.uri, batch_size=2_000, publish_transaction_rows=5_000
        )
        assert staged.publish(recommendations, run="r") == 60_000
        assert staged.stats()["relationships"]["RECOMMENDED"] == 60_000
        assert len(staged.recommendations("r")) == 60_000
        assert staged.publish(top_k(3_000, 10, model="n", offset=50), run="r") == 30_000
        table = staged.recommendations("r")
        assert len(table) == 30_000 and set(table["model"]) == {"n"}
        assert set(table["item_uid"]) == {f"synth:{i}" for i in range(50, 60)}
        assert staged_rows(driver) == 0


@pytest.mark.slow
def test_a_small_publish_of_a_run_published_large_is_not_refused(own_neo4j, synthetic_graph):
    """Before, the run's 120,000 stored rows were deleted in the transaction that wrote its
    50 new ones, which a server whose transactions may hold 8 MiB refused, at every try."""
    server = own_neo4j(NEO4J_TRANSACTION_MAX="8m")
    with server.connect(max_transaction_retry_time=0.5) as driver:
        store = Neo4jStore(driver, uri=server.uri, batch_size=2_000, publish_transaction_rows=5_000)
        store.write(synthetic_graph(n_users=3_000, n_items=100, per_user=2), progress=False)
        assert store.publish(top_k(3_000, 40), run="r") == 120_000  # staged
        assert store.publish(top_k(10, 5, model="n"), run="r") == 50
        table = store.recommendations("r")
        assert len(table) == 50 and set(table["model"]) == {"n"}
        assert staged_rows(driver) == 0


@pytest.fixture
def graph_store(neo4j_clean, neo4j_settings, synthetic_graph):
    """A store over 30 users and 20 items; chunks of 7 relationships."""
    store = Neo4jStore(neo4j_clean, uri=neo4j_settings.uri, batch_size=7)
    store.write(synthetic_graph(n_users=30, n_items=20, per_user=2), progress=False)
    return store


def staged(store: Neo4jStore) -> Neo4jStore:
    """The same store, staging every publish of more than 10 rows."""
    return Neo4jStore(store.driver, uri=store.uri, batch_size=7, publish_transaction_rows=10)


@pytest.mark.parametrize("users", [None, ["u3", "u4", "u5"]])
def test_a_staged_publish_gives_what_one_transaction_gives(graph_store, users):
    pick = (lambda t: t) if users is None else (lambda t: t[t["user_id"].isin(users)])
    results = []
    everyone = [f"u{u}" for u in range(30)]
    for store in (graph_store, staged(graph_store)):
        old = {"User": (everyone, np.ones((30, 2)))}
        store.publish(top_k(30, 5), run="a", vectors=old, property="emb")
        store.publish(top_k(30, 2), run="b")
        some = users or everyone  # some users' vectors go beside the others'
        new = {"User": (some, np.full((len(some), 2), 2.0))}
        store.publish(
            pick(top_k(30, 4, model="new", offset=10)),
            run="a",
            users=users,
            vectors=new,
            property="emb",
        )
        keys, matrix = store.read_vectors("User", property="emb")
        results.append((stored(store), keys, matrix.tolist()))
        assert staged_rows(store.driver) == 0
    assert results[0] == results[1]
    assert results[0][1] == sorted(everyone)
    assert sum(row == [2.0, 2.0] for row in results[0][2]) == (30 if users is None else 3)
    results = [edges for edges, _, _ in results]
    changed = [row for row in results[0] if row[3] == "new"]
    assert len(changed) == 4 * (30 if users is None else 3)


def fail_on_the_third_create(store, monkeypatch, *, deletion_fails: bool = False) -> None:
    """``store``'s third chunk of a staged publish fails as if the server went away (and with
    ``deletion_fails``, the deletion of what it staged too)."""
    execute_query, calls = store.driver.execute_query, []

    def failing(query, *args, **kwargs):
        if "CREATE (u)-[:RECOMMENDED" in query:
            calls.append(query)
            if len(calls) == 3:
                if deletion_fails:
                    monkeypatch.setattr(neo4j_module.q, "DELETE_RUN_IN_BATCHES", "NOT CYPHER")
                raise ServiceUnavailable("the server went away")
        return execute_query(query, *args, **kwargs)

    monkeypatch.setattr(store.driver, "execute_query", failing)


def test_a_staged_publish_that_fails_leaves_the_run_unchanged(graph_store, monkeypatch):
    store = staged(graph_store)
    store.publish(top_k(30, 5), run="a")
    before = stored(store)
    fail_on_the_third_create(store, monkeypatch)
    with pytest.raises(StoreError, match=r"'a' .*unchanged"):
        store.publish(top_k(30, 4, model="new", offset=10), run="a")
    monkeypatch.undo()
    assert stored(store) == before
    assert staged_rows(store.driver) == 0


def test_rows_left_staged_by_a_dead_publish_are_hidden_then_cleared(graph_store):
    store = staged(graph_store)
    store.publish(top_k(30, 5), run="a")
    store.driver.execute_query(
        "MATCH (u:User {user_id: 'u1'}), (i:Item {uid: 'synth:19'}) "
        "CREATE (u)-[:RECOMMENDED {run: $run, rank: 1, score: 0.5, model: 'm'}]->(i)",
        run=staging_run("a"),
    )
    assert {row[0] for row in stored(store)} == {"a"}  # readers of every run do not see them
    store.publish(top_k(30, 3), run="a")
    assert staged_rows(store.driver) == 0
    assert len(store.recommendations("a")) == 90


def test_a_staged_publish_that_cannot_delete_its_rows_says_they_stay(
    graph_store, monkeypatch, caplog
):
    # Neo4j gone away mid-staging: its staged rows cannot be deleted either; before, that was
    # said nowhere (the README promised them deleted)
    store = staged(graph_store)
    store.publish(top_k(30, 5), run="a")
    # the deletion of the staged rows fails too
    fail_on_the_third_create(store, monkeypatch, deletion_fails=True)
    with pytest.raises(StoreError, match=r"'a' .*unchanged"):
        store.publish(top_k(30, 4, model="new", offset=10), run="a")
    monkeypatch.undo()
    assert staged_rows(store.driver) > 0
    assert "stay under the run name 'kgrec-staging:a'" in caplog.text
    assert "publishing the run again removes them" in caplog.text
    store.publish(top_k(30, 4, model="new", offset=10), run="a")
    assert staged_rows(store.driver) == 0


def test_rows_left_staged_are_cleared_by_a_publish_in_one_transaction(graph_store):
    # a staged publish stopped by Neo4j going away could not delete its staged rows; a later
    # publish of the run small enough for one transaction left them, counted by `graph stats`
    graph_store.publish(top_k(30, 5), run="a")
    graph_store.driver.execute_query(
        "MATCH (u:User {user_id: 'u1'}), (i:Item {uid: 'synth:19'}) "
        "CREATE (u)-[:RECOMMENDED {run: $run, rank: 1, score: 0.5, model: 'm'}]->(i)",
        run=staging_run("a"),
    )
    graph_store.publish(top_k(30, 3), run="a")
    assert staged_rows(graph_store.driver) == 0
    assert graph_store.stats()["relationships"]["RECOMMENDED"] == 90


def at_most(rows: int, query: str) -> str:
    """``query``, a deletion of ``r``s, refusing (division by zero) to delete more than
    ``rows`` in its transaction, as a server whose transaction memory holds no more does."""
    match, delete = query.rsplit("DELETE r", 1)
    return (
        f"{match}WITH collect(r) AS rs "
        f"WITH rs, CASE WHEN size(rs) > {rows} THEN 1 / (size(rs) - size(rs)) END AS refused "
        f"UNWIND rs AS r DELETE r{delete}"
    )


@pytest.mark.parametrize("users", [None, ["u0", "u1", "u2"]])
def test_a_small_publish_that_replaces_a_large_run_deletes_it_in_batches(
    graph_store, monkeypatch, users
):
    """Before, a publish small enough for one transaction deleted the run's stored rows (or
    those users') in that transaction, however many there were: a run published large and
    published again small outgrew the server's transaction memory, at every try. Now one
    that replaces more stored rows than ``publish_transaction_rows`` is staged: the old
    rows are deleted in batches. One transaction's memory is played by deletions that
    refuse more than 10 rows."""
    graph_store.publish(top_k(30, 5), run="a")  # 150 rows, 5 per user
    graph_store.publish(top_k(30, 1), run="b")
    for name in ("DELETE_RECOMMENDATIONS", "DELETE_USER_RECOMMENDATIONS"):
        monkeypatch.setattr(neo4j_module.q, name, at_most(10, getattr(neo4j_module.q, name)))
    store = staged(graph_store)  # publish_transaction_rows=10
    new = top_k(3, 2, model="new", offset=10)  # 6 rows, for u0..u2
    assert store.publish(new, run="a", users=users) == 6
    kept = [] if users is None else [row for row in stored(graph_store, "a") if row[3] == "m"]
    assert len(kept) == (0 if users is None else 135)
    assert sorted(stored(store, "a")) == sorted([*kept, *stored_rows_of(new, "a")])
    assert len(store.recommendations("b")) == 30
    assert staged_rows(store.driver) == 0
    newer = top_k(3, 1, model="newer")  # replaces 6 rows: in one transaction
    assert store.publish(newer, run="a", users=users) == 3
    assert sorted(stored(store, "a")) == sorted([*kept, *stored_rows_of(newer, "a")])


def stored_rows_of(table: pd.DataFrame, run: str) -> list[tuple]:
    """``table``'s rows as :func:`stored` gives them, of run ``run``."""
    rows = zip(table["user_id"], table["item_uid"], table["model"], strict=True)
    return [(run, *row) for row in rows]


def test_the_staging_prefix_is_not_a_run_name(graph_store):
    with pytest.raises(InputError, match="kgrec-staging:"):
        graph_store.publish(top_k(1, 1), run=staging_run("a"))


def trained_and_loaded(
    driver, settings, tmp_path, data, more=None, *, text: int | None = None, **training
):
    """A LightGCN run trained on a local store of ``data`` (tiny RecBole, and the graph
    ``more`` where given; one epoch on ml1m-action-comedy unless ``training`` says otherwise),
    and a Neo4j store holding the same graph; with ``text`` (a size), both hold the same random
    text vectors 'embedding' of that size on every item of ``data`` before the run trains."""
    from kgrec.experiment import train
    from kgrec.store import open_store
    from loaders import recbole
    from loaders.rules import named_rule

    tables = recbole.load(data, domain_rule=named_rule("ml1m-action-comedy"))
    keys = sorted(tables.items["uid"])
    local = f"local:{tmp_path / 'store'}"
    neo = Neo4jStore(driver, uri=settings.uri)
    with open_store(local) as opened:
        for store in (opened, neo):
            for graph in (tables, more):
                if graph is not None:
                    store.write(graph, progress=False)
            if text is not None:
                vectors = np.random.default_rng(0).normal(size=(len(keys), text))
                store.write_vectors("Item", keys, vectors, property="embedding")
    options = {"protocol": "ml1m-action-comedy", "epochs": 1, "dim": 8, "batch_size": 128}
    options |= {"progress": False, **training}
    run = train("lightgcn", store=local, out=tmp_path / "r", **options)
    return run, neo


def test_a_run_user_served_the_most_popular_items_has_no_vector_in_neo4j(
    neo4j_clean, neo4j_settings, tmp_path, tiny_recbole, make_graph
):
    """ghost, a run's user without an interaction, is served the most popular items: their
    published vector was the embedding training never touched (a vector query for them found
    noise). Now no vector of theirs is published, whole or for some users, and an earlier one
    is removed."""
    ghost = make_graph(users=[{"user_id": "ghost"}])
    run, neo = trained_and_loaded(neo4j_clean, neo4j_settings, tmp_path, tiny_recbole, ghost)
    users = set(run.experiment.maps.users)
    assert "ghost" in users
    run.publish(neo.uri, k=3)
    assert set(neo.read_vectors("User", property="gnn_embedding")[0]) == users - {"ghost"}
    neo.write_vectors("User", ["ghost"], np.ones((1, 9)), property="gnn_embedding")
    run.publish(neo.uri, k=3, users=["ghost", "u1"])
    assert set(neo.read_vectors("User", property="gnn_embedding")[0]) == users - {"ghost"}
    assert {row[1] for row in stored(neo)} == users  # ghost's list is published
    # the README's ad-hoc query: nothing for ghost (before: Neo4j refused the vector search,
    # "'query' must not be null"), the nearest comedies for a user with a vector
    from kgrec.store.queries import VECTOR_TOP_K, vector_index_name

    search = {"index": vector_index_name("Item", "gnn_embedding"), "property": "gnn_embedding"}
    search |= {"candidates": 50, "domain": "comedy", "k": 3}
    found = {
        user: neo.driver.execute_query(VECTOR_TOP_K, user_id=user, **search).records
        for user in ("ghost", "u1")
    }
    assert found["ghost"] == [] and found["u1"]


def test_a_run_does_not_publish_while_a_load_holds_the_lock(
    neo4j_clean, neo4j_settings, tmp_path, tiny_recbole, make_graph, monkeypatch
):
    """Before, `kgrec recommend --publish` checked the load lock before it ranked, then wrote
    its edges and vectors (newcomers' too) without the lock: a load (or an embed) that began
    while it ranked was written under."""
    from kgrec.experiment import Run

    run, neo = trained_and_loaded(neo4j_clean, neo4j_settings, tmp_path, tiny_recbole)
    # a newcomer, loaded after training, with an item the run trained on: folded in
    item = run.experiment.maps.items[int(run.experiment.split.train[1, 0])]
    neo.write(make_graph(interactions=[("newbie", item, 4.0, None)]), progress=False)
    ranking = Run._ranking

    def load_begins_while_ranking(self, *args, **kwargs):
        result = ranking(self, *args, **kwargs)
        neo4j_clean.execute_query(
            "CREATE (:KgrecLock {name: 'load', token: 't', host: 'elsewhere', pid: 4242, "
            "command: 'kgrec load recbole x', started: datetime()})"
        )
        return result

    monkeypatch.setattr(Run, "_ranking", load_begins_while_ranking)
    for users in (None, ["u1", "newbie"]):
        with pytest.raises(StoreError, match="pid 4242"):
            run.publish(neo.uri, k=3, users=users)
        assert neo.recommendations().empty
        assert neo.read_vectors("User", property="gnn_embedding")[0] == []
        neo.break_lock()
    monkeypatch.setattr(Run, "_ranking", ranking)
    assert len(run.publish(neo.uri, k=3)) > 0
    assert len(neo.read_vectors("User", property="gnn_embedding")[0]) == 40
    locks = neo4j_clean.execute_query("MATCH (l:KgrecLock) RETURN count(l) AS n").records
    assert locks[0]["n"] == 0  # released after it


def test_a_run_whose_vectors_fail_publishes_nothing(
    neo4j_clean, neo4j_settings, tmp_path, tiny_recbole, monkeypatch
):
    """`kgrec recommend` publishes a run's edges and its vectors in one transaction: a failure
    while writing the vectors leaves the earlier publish's edges and vectors. Before, the edges
    were committed first, so the store held the new lists beside the old vectors."""
    from kgrec.store import queries as q

    run, neo = trained_and_loaded(neo4j_clean, neo4j_settings, tmp_path, tiny_recbole)
    run.publish(neo.uri, k=2)
    edges = stored(neo)
    vectors = neo.read_vectors("Item", property="gnn_embedding")
    monkeypatch.setitem(q.SET_VECTORS, "Item", "THIS IS NOT CYPHER $rows $property")
    with pytest.raises(StoreError):
        run.publish(neo.uri, k=3)
    monkeypatch.undo()
    assert stored(neo) == edges
    keys, matrix = neo.read_vectors("Item", property="gnn_embedding")
    assert keys == vectors[0] and np.array_equal(matrix, vectors[1])
    run.publish(neo.uri, k=3)
    assert len(stored(neo)) == len(edges) // 2 * 3


def test_some_users_whose_vectors_fail_publish_nothing(
    neo4j_clean, neo4j_settings, tmp_path, tiny_recbole, monkeypatch
):
    """`kgrec recommend --user U` publishes U's edges and vectors in one transaction: a
    failure while writing the vectors leaves U's earlier edges and vectors, and the same
    command then publishes both. Before, the edges were committed first and the vectors
    written after, kind by kind: the store held U's new list without its vectors."""
    from kgrec.store import queries as q

    run, neo = trained_and_loaded(neo4j_clean, neo4j_settings, tmp_path, tiny_recbole)
    run.publish(neo.uri, k=2)
    edges = stored(neo)
    users = neo.read_vectors("User", property="gnn_embedding")
    neo4j_clean.execute_query("MATCH (u:User {user_id: 'u0'}) SET u.gnn_embedding = null")
    monkeypatch.setitem(q.SET_VECTORS, "User", "THIS IS NOT CYPHER $rows $property")
    with pytest.raises(StoreError):
        run.publish(neo.uri, k=3, users=["u0"])
    monkeypatch.undo()
    assert stored(neo) == edges
    assert "u0" not in neo.read_vectors("User", property="gnn_embedding")[0]
    run.publish(neo.uri, k=3, users=["u0"])
    assert len([row for row in stored(neo) if row[1] == "u0"]) == 3
    keys, matrix = neo.read_vectors("User", property="gnn_embedding")
    assert keys == users[0]  # u0's again, the others' kept
    assert np.allclose(matrix, users[1], atol=1e-6)


def test_late_items_longer_than_the_stored_items_are_refused_in_neo4j(
    neo4j_clean, neo4j_settings, tmp_path, tiny_recbole, make_graph, monkeypatch
):
    """As tests/test_cold_items.py's test of late items: a publish for some users that would
    write a late item's vector longer than the stored item vectors (which every stored item
    vector's norm is) is refused, nothing written; before, it was written with another norm
    than the stored items', and the vector index silently ranked otherwise than the model."""
    from kgrec.cold_items import StudentItems
    from kgrec.experiment import load_run

    run, neo = trained_and_loaded(
        neo4j_clean,
        neo4j_settings,
        tmp_path,
        tiny_recbole,
        text=6,
        protocol="ml1m-new-items",
        cold_items="student",
        epochs=3,
    )
    target = run.experiment.maps.domains[run.experiment.split.target_domain]
    run.publish(neo.uri, k=3)
    names = [f"late{n}" for n in range(60)]
    items = [
        {"domain": target, "item_id": name, "title": name, "year": 1900 + 2 * n}
        for n, name in enumerate(names)
    ]
    neo.write(make_graph(items=items), progress=False)
    late = np.random.default_rng(5).normal(size=(60, 6))
    neo.write_vectors("Item", [f"{target}:{n}" for n in names], late, property="embedding")
    edges = stored(neo)
    before = neo.read_vectors("Item", property="gnn_embedding")
    # late items longer than the stored ones: the student gives few on this tiny catalogue
    # (before session 39, a year, which it knows none of, gave them noise), so theirs are
    # lengthened here, as in tests/test_cold_items.py
    embed = StudentItems.embed_new_items
    monkeypatch.setattr(
        StudentItems, "embed_new_items", lambda self, *args: 10 * embed(self, *args)
    )
    loaded = load_run(run.folder)
    with pytest.raises(InputError, match=r"longer than the item vectors .*without --user"):
        loaded.publish(neo.uri, k=3, users=["u1"])
    assert stored(neo) == edges
    keys, matrix = neo.read_vectors("Item", property="gnn_embedding")
    assert keys == before[0] and np.array_equal(matrix, before[1])
    # the whole run pads them all to one norm; then one user's publish goes through, the norm
    # read from the store's record of the run, not from every item vector (before: read)
    loaded.publish(neo.uri, k=3)
    with monkeypatch.context() as patch:
        read = Neo4jStore.read_vectors

        def read_no_published_items(self, kind, *, property):
            assert (kind, property) != ("Item", "gnn_embedding"), "every item vector was read"
            return read(self, kind, property=property)

        patch.setattr(Neo4jStore, "read_vectors", read_no_published_items)
        loaded.publish(neo.uri, k=3, users=["u1"])
    keys, matrix = neo.read_vectors("Item", property="gnn_embedding")
    assert f"{target}:late0" in keys
    norms = np.linalg.norm(matrix.astype("float64"), axis=1)
    assert np.allclose(norms, norms.max(), rtol=1e-5)


def test_a_load_between_a_rankings_reads_of_neo4j_is_read_as_one(
    neo4j_clean, neo4j_settings, tmp_path, tiny_recbole, make_graph, monkeypatch
):
    """As tests/test_cold_items.py's test of a load between a ranking's reads: before, a load
    into Neo4j (an item, its text vector, a newcomer's rating of it) that committed between
    the ranking's read of the text vectors and its read of the users' interactions had the
    newcomer refused ("of their 1 interaction(s) there, 1 are with items loaded after
    training ..."); now the reads are read again after it (the load's (:KgrecGraphWrite)
    token changed), and the newcomer is folded in from the item the student serves."""
    from kgrec.experiment import load_run

    run, neo = trained_and_loaded(
        neo4j_clean,
        neo4j_settings,
        tmp_path,
        tiny_recbole,
        text=6,
        protocol="ml1m-new-items",
        cold_items="student",
        epochs=3,
    )
    target = run.experiment.maps.domains[run.experiment.split.target_domain]
    late = f"{target}:late"
    read, loads = Neo4jStore.user_interactions, []

    def load_before_it(self, user_ids):
        if not loads:  # another process loads an item, embeds it, then a newcomer's rating
            item = {"domain": target, "item_id": "late", "title": "late", "year": 1990}
            neo.write(make_graph(items=[item]), progress=False)
            neo.write_vectors("Item", [late], np.ones((1, 6)), property="embedding")
            rating = make_graph(interactions=[("fan", late, 5.0, None)])
            loads.append(neo.write(rating, progress=False))
        return read(self, user_ids)

    monkeypatch.setattr(Neo4jStore, "user_interactions", load_before_it)
    table = load_run(run.folder).recommend(k=5, users=["fan"], store=neo.uri)
    assert len(loads) == 1
    assert len(table) == 5 and set(table["user_id"]) == {"fan"}
    assert late not in set(table["item_uid"])  # what the newcomer has


SOME = ["u3", "u4", "u5"]


@pytest.fixture
def some_users_publish(graph_store):
    """A staged store (:func:`staged`) holding run 'a' whole, every user's and item's vectors
    'emb' 1.0; and the table and vectors of a publish for users SOME: 4 new items each, their
    vectors and synth:1's 2.0."""
    store = staged(graph_store)
    everyone, items = [f"u{u}" for u in range(30)], [f"synth:{i}" for i in range(20)]
    old = {"User": (everyone, np.ones((30, 2))), "Item": (items, np.ones((20, 2)))}
    store.publish(top_k(30, 5), run="a", vectors=old, property="emb")
    table = top_k(30, 4, model="new", offset=10)
    table = table[table["user_id"].isin(SOME)]
    new = {"User": (SOME, np.full((3, 2), 2.0)), "Item": (["synth:1"], np.full((1, 2), 2.0))}
    return store, table, new


def test_a_staged_publish_whose_item_vectors_fail_says_its_user_vectors_are_in(
    some_users_publish, monkeypatch
):
    """A publish for some users too large for one transaction writes its vectors after its
    edges, kind by kind: when the Item vectors fail, the error says the users' are written.
    Before, it said the run was published 'but not its vectors'."""
    from kgrec.store import queries as q

    store, table, new = some_users_publish
    monkeypatch.setitem(q.SET_VECTORS, "Item", "THIS IS NOT CYPHER $rows $property")
    with pytest.raises(
        StoreError,
        match=r"run 'a''s recommendations are published, its User vectors are written; its "
        r"Item vectors are not \(or only some\): publish again to finish it",
    ):
        store.publish(table, run="a", users=SOME, vectors=new, property="emb")
    monkeypatch.undo()
    assert len([row for row in stored(store) if row[3] == "new"]) == 12
    keys, matrix = store.read_vectors("User", property="emb")
    assert {k for k, row in zip(keys, matrix.tolist(), strict=True) if row == [2.0, 2.0]} == {
        "u3",
        "u4",
        "u5",
    }
    keys, matrix = store.read_vectors("Item", property="emb")
    assert matrix[keys.index("synth:1")].tolist() == [1.0, 1.0]
    store.publish(table, run="a", users=SOME, vectors=new, property="emb")  # finishes it
    keys, matrix = store.read_vectors("Item", property="emb")
    assert matrix[keys.index("synth:1")].tolist() == [2.0, 2.0]


@pytest.mark.parametrize(
    ("failing", "repair"),
    [
        (
            "CREATE VECTOR INDEX",
            r"index of Item is missing .*: make it in Cypher \((CREATE VECTOR INDEX .*)\)$",
        ),
        ("db.awaitIndex", r"publish again to make them$"),
    ],
)
def test_a_publish_whose_vector_index_fails_says_its_vectors_are_in(
    graph_store, monkeypatch, failing, repair
):
    """The vector indexes are made after the publish's transaction (Neo4j makes no index in a
    transaction that writes data): when that fails, the error says the edges and vectors are
    in, and what makes the index: the Cypher statement of one that is missing (the vectors
    then read as a property of the nodes, which a publish refuses to replace), else
    publishing again. Before, it read as the publish refused ('Neo4j refused publishing
    recommendations of run ...')."""
    import re

    everyone, items = [f"u{u}" for u in range(30)], [f"synth:{i}" for i in range(20)]
    vectors = {"User": (everyone, np.ones((30, 2))), "Item": (items, np.ones((20, 2)))}
    execute_query = graph_store.driver.execute_query

    def item_index_fails(query, *args, **kwargs):
        if failing in query and ("(n:`Item`)" in query or "'item_emb'" in str(kwargs)):
            raise ServiceUnavailable("the server went away")
        return execute_query(query, *args, **kwargs)

    monkeypatch.setattr(graph_store.driver, "execute_query", item_index_fails)
    with pytest.raises(StoreError) as caught:
        graph_store.publish(top_k(30, 5), run="a", vectors=vectors, property="emb")
    monkeypatch.undo()
    message = str(caught.value)
    assert "run 'a''s recommendations and vectors are published, but not every vector index" in (
        message
    )
    found = re.search(repair, message)
    assert found
    assert len(stored(graph_store)) == 150
    assert len(graph_store.read_vectors("User", property="emb")[0]) == 30
    if failing == "CREATE VECTOR INDEX":
        with pytest.raises(InputError, match="a property of the graph's Item nodes"):
            graph_store.check_vectors("Item", "emb", None)
        execute_query(found[1])
    graph_store.publish(top_k(30, 3), run="a", vectors=vectors, property="emb")
    assert len(stored(graph_store)) == 90
    assert len(graph_store.read_vectors("Item", property="emb")[0]) == 20


def test_a_staged_publish_whose_vector_swap_stops_says_publish_again(graph_store, monkeypatch):
    """A whole run's publish too large for one transaction (here: its vector values) stages its
    vectors after its edges; a swap of them that stops says the run is published, its vectors
    partly replaced, and that publishing again (not an embed) finishes it."""
    from kgrec.store import queries as q

    store = Neo4jStore(
        graph_store.driver, uri=graph_store.uri, batch_size=7, vector_transaction_values=10
    )
    everyone, items = [f"u{u}" for u in range(30)], [f"synth:{i}" for i in range(20)]
    old = {"User": (everyone, np.ones((30, 2))), "Item": (items, np.ones((20, 2)))}
    store.publish(top_k(30, 1), run="a", vectors=old, property="emb")
    new = {"User": (everyone, np.full((30, 2), 2.0)), "Item": (items, np.full((20, 2), 2.0))}
    monkeypatch.setitem(
        q.MOVE_STAGED_VECTORS_IN_BATCHES, "Item", "THIS IS NOT CYPHER $property $staging"
    )
    with pytest.raises(
        StoreError,
        match=r"partly replaced: run the same publish again to finish it; run 'a''s "
        "recommendations are published$",
    ):
        store.publish(top_k(30, 2), run="a", vectors=new, property="emb")
    monkeypatch.undo()
    assert len(stored(store)) == 60
    store.publish(top_k(30, 2), run="a", vectors=new, property="emb")
    for kind in ("User", "Item"):
        assert np.all(store.read_vectors(kind, property="emb")[1] == 2.0)


def test_a_staged_publish_whose_run_record_fails_says_its_vectors_are_in(graph_store, monkeypatch):
    """A whole run's vectors too large for one transaction record their run after the swap, a
    step of its own: when that fails, the error says the run is published with its vectors
    but not their run's record, which publishing again writes; their index (of another
    dimension here) is still made. Before, it said 'but none of its vectors', and the new
    vectors were left under the old dimension's index, which leaves them out."""
    from kgrec.store import queries as q

    store = Neo4jStore(
        graph_store.driver, uri=graph_store.uri, batch_size=7, vector_transaction_values=10
    )
    everyone, items = [f"u{u}" for u in range(30)], [f"synth:{i}" for i in range(20)]
    old = {"User": (everyone, np.ones((30, 2))), "Item": (items, np.ones((20, 2)))}
    store.publish(top_k(30, 1), run="a", vectors=old, property="emb")
    new = {"User": (everyone, np.full((30, 3), 2.0)), "Item": (items, np.full((20, 3), 2.0))}
    real_run = Neo4jStore._run

    def record_fails(self, query, *args, **kwargs):
        if query == q.RECORD_VECTOR_RUN:
            raise ServiceUnavailable("the server went away")
        return real_run(self, query, *args, **kwargs)

    monkeypatch.setattr(Neo4jStore, "_run", record_fails)
    with pytest.raises(
        StoreError,
        match=r"run 'b''s recommendations are published with its vectors \(User, Item\), but "
        r"not the record of the run they are of .*: publish again to record it$",
    ):
        store.publish(top_k(30, 2), run="b", vectors=new, property="emb")
    monkeypatch.undo()
    assert store.vector_run("emb") is None  # no run's: a publish for some users is refused
    for kind in ("User", "Item"):
        assert store.vector_dimension(kind, property="emb") == 3
        assert np.all(store.read_vectors(kind, property="emb")[1] == 2.0)
    store.publish(top_k(30, 2), run="b", vectors=new, property="emb")
    assert store.vector_run("emb") == {"run": "b"}


def test_a_staged_publish_whose_index_wait_fails_says_its_vectors_are_in(
    some_users_publish, monkeypatch
):
    """A publish for some users too large for one transaction writes its vectors kind by kind
    (write_vectors), each then waiting for its index to come online. When that wait fails
    the vectors are written: the error says so, and the next kind's are written too. Before,
    it read as a failed write ('its User vectors are not (or only some), its Item vectors
    not'), and the Item vectors were left unwritten."""
    store, table, new = some_users_publish
    execute_query = store.driver.execute_query

    def user_index_wait_fails(query, *args, **kwargs):
        if "db.awaitIndex" in query and "'user_emb'" in str(kwargs):
            raise ServiceUnavailable("the server went away")
        return execute_query(query, *args, **kwargs)

    monkeypatch.setattr(store.driver, "execute_query", user_index_wait_fails)
    with pytest.raises(
        StoreError,
        match=r"run 'a''s recommendations are published with its vectors \(User, Item\), but "
        r"vector queries may miss some of the User vectors until their index is online "
        r"\(SHOW VECTOR INDEXES\): publish again to wait for it",
    ):
        store.publish(table, run="a", users=SOME, vectors=new, property="emb")
    monkeypatch.undo()
    assert len([row for row in stored(store) if row[3] == "new"]) == 12
    for kind, key in (("User", "u3"), ("Item", "synth:1")):
        keys, matrix = store.read_vectors(kind, property="emb")
        assert matrix[keys.index(key)].tolist() == [2.0, 2.0]


def another_run(run, out):
    """A second LightGCN run on ``run``'s store (another seed: another trained model)."""
    from kgrec.experiment import train

    small = {"epochs": 1, "dim": 8, "batch_size": 128, "progress": False, "seed": 7}
    return train(
        "lightgcn", protocol="ml1m-action-comedy", store=run.settings["store"], **small, out=out
    )


def test_a_user_publish_beside_another_runs_vectors_is_refused_in_neo4j(
    neo4j_clean, neo4j_settings, tmp_path, tiny_recbole
):
    """As tests/test_recommend.py's test in a local store: Neo4j records which run its vectors
    'gnn_embedding' are (on the property's KgrecVectors node), and a publish for some users of
    another run, or beside vectors that record none (an older kgrec's), is refused before
    anything is written. Before, their vectors went beside the other run's items'."""
    a, neo = trained_and_loaded(neo4j_clean, neo4j_settings, tmp_path, tiny_recbole)
    b = another_run(a, tmp_path / "b")
    a.publish(neo.uri, k=2)

    def published():
        return stored(neo), [
            neo.read_vectors(kind, property="gnn_embedding") for kind in ("User", "Item")
        ]

    def assert_unchanged(before):
        edges, vectors = published()
        assert edges == before[0]
        for (keys, matrix), (old_keys, old) in zip(vectors, before[1], strict=True):
            assert keys == old_keys and np.array_equal(matrix, old)

    before = published()
    with pytest.raises(InputError, match=r"of run 'r', not of run 'b' .*publish run 'b' whole"):
        b.publish(neo.uri, k=3, users=["u1"])
    assert_unchanged(before)
    assert neo.vector_run("gnn_embedding")["run"] == "r"
    a.publish(neo.uri, k=3, users=["u1"])  # the run whose vectors they are: beside them
    # vectors of an older kgrec's publish: no run recorded
    neo4j_clean.execute_query("MATCH (v:KgrecVectors) DETACH DELETE v")
    before = published()
    with pytest.raises(InputError, match="no record of the run they are of"):
        a.publish(neo.uri, k=3, users=["u1"])
    assert_unchanged(before)
    b.publish(neo.uri, k=2)  # its vectors in place of all, its run recorded: then its users
    b.publish(neo.uri, k=3, users=["u1"])
    assert neo.vector_run("gnn_embedding")["run"] == "b"
    assert len([row for row in stored(neo, "b") if row[1] == "u1"]) == 3


def test_an_embed_never_comes_between_a_publishs_check_and_its_write(graph_store, monkeypatch):
    """GraphStore.publish checks that the property holds no text vectors (an embed's), then
    writes. Before, a library publish did both without the load lock, which an embed holds
    while it writes: an embed between them had its text vectors replaced by the run's. Now
    the publish holds the lock (the embed is refused meanwhile), and within a block that holds
    it already (Run.publish's) it simply goes ahead."""
    from kgrec.text.embed import Embedded, write_embeddings

    embed = Neo4jStore(graph_store.driver, uri=graph_store.uri)  # another writer
    text = Embedded("Item", ["synth:1"], np.ones((1, 2), np.float32), 20, 1, 0, 19)
    refused: list[str] = []
    read = Neo4jStore.vector_model

    def an_embed_comes_after_the_check(self, property):
        found = read(self, property)
        if self is graph_store:
            try:
                model = {"name": "text-model", "identity": "x"}
                write_embeddings(embed, [text], property="emb", model=model)
            except StoreError as exc:
                refused.append(str(exc))
        return found

    monkeypatch.setattr(Neo4jStore, "vector_model", an_embed_comes_after_the_check)
    vectors = {"User": (["u1"], np.ones((1, 2))), "Item": (["synth:1"], np.full((1, 2), 2.0))}
    assert graph_store.publish(top_k(2, 3), run="r", vectors=vectors, property="emb") == 6
    assert len(refused) == 1 and "another writer holds the load lock" in refused[0]
    monkeypatch.undo()
    assert graph_store.vector_model("emb") is None  # the run's vectors, not a text model's
    assert graph_store.vector_run("emb") == {"run": "r"}
    with graph_store.load_lock():  # held already: the publish goes ahead under it
        assert graph_store.publish(top_k(2, 3), run="s") == 6
    locks = graph_store.driver.execute_query("MATCH (l:KgrecLock) RETURN count(l) AS n")
    assert locks.records[0]["n"] == 0  # released after it


def test_a_publish_without_vectors_says_whose_vectors_neo4j_keeps(
    neo4j_clean, neo4j_settings, tmp_path, tiny_recbole, caplog
):
    """As tests/test_recommend.py's test in a local store: a publish without vectors beside
    another run's in Neo4j says whose they are (before, nothing), and leaves them."""
    a, neo = trained_and_loaded(neo4j_clean, neo4j_settings, tmp_path, tiny_recbole)
    a.publish(neo.uri, k=2)
    b = another_run(a, tmp_path / "b")
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        a.publish(neo.uri, k=2, vectors=False)  # its own vectors: nothing to say
        assert "keeps the vectors" not in caplog.text
        b.publish(neo.uri, k=2, vectors=False)
    assert f"{neo.uri} keeps the vectors 'gnn_embedding' of run 'r'" in caplog.text
    assert neo.vector_run("gnn_embedding")["run"] == "r"
