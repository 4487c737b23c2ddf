"""kgrec.notebook against the real Neo4j."""

from __future__ import annotations

import pandas as pd
import pytest

from graph_schema.errors import InputError
from kgrec.notebook import cypher, neighbourhood
from kgrec.store import Neo4jStore

pytestmark = pytest.mark.neo4j


@pytest.fixture
def graph_driver(neo4j_clean, neo4j_settings, explain_graph):
    store = Neo4jStore(neo4j_clean, database=neo4j_settings.database)
    store.write(explain_graph, progress=False)
    recs = pd.DataFrame(
        {
            "user_id": ["alice"],
            "item_uid": ["action:casino"],
            "score": [0.9],
            "rank": [1],
            "model": ["test"],
            "run": ["r1"],
        }
    )
    store.publish(recs, run="r1")
    return neo4j_clean


def test_cypher_returns_a_dataframe_with_parameters(graph_driver, neo4j_settings):
    df = cypher(
        graph_driver,
        "MATCH (u:User {user_id: $user})-[:INTERACTED]->(i:Item) "
        "RETURN i.title AS title ORDER BY title",
        database=neo4j_settings.database,
        user="alice",
    )
    assert isinstance(df, pd.DataFrame)
    assert df["title"].tolist() == ["Heat", "Toy Story"]


def test_cypher_passes_a_parameter_named_database(graph_driver, neo4j_settings):
    df = cypher(
        graph_driver,
        "RETURN $database AS name, $n AS n",
        {"database": "films"},
        n=2,
        database=neo4j_settings.database,
    )
    assert df.to_dict("records") == [{"name": "films", "n": 2}]


def test_neighbourhood_has_history_recommendation_and_the_entity_between(
    graph_driver, neo4j_settings
):
    view = neighbourhood(graph_driver, "alice", run="r1", database=neo4j_settings.database)
    captions = {n.caption for n in view.nodes}
    assert {"alice", "Heat", "Toy Story", "Casino", "De Niro"} <= captions
    types = {r.properties.get("type") or r.caption for r in view.relationships}
    assert {"INTERACTED", "RECOMMENDED", "RELATED"} <= types
    html = view.render()
    assert "<" in html.data


def test_neighbourhood_of_unknown_user(graph_driver, neo4j_settings):
    with pytest.raises(InputError, match=r"field 'user_id'.*has no interactions"):
        neighbourhood(graph_driver, "nobody", database=neo4j_settings.database)


def test_neighbourhood_of_a_run_not_published_names_the_runs_that_are(graph_driver, neo4j_settings):
    """Before, a misspelt run drew the user's history alone, as if the run had recommended
    them nothing (found by the neo4juser45 review). A run published for other users only
    still draws this user's history."""
    with pytest.raises(InputError) as info:
        neighbourhood(graph_driver, "alice", run="r2", database=neo4j_settings.database)
    assert info.value.field == "run"
    assert "no run 'r2' is published in database " in str(info.value)
    assert str(info.value).endswith("(published: 'r1')")
    store = Neo4jStore(graph_driver, database=neo4j_settings.database)
    recs = pd.DataFrame(
        {"user_id": ["bob"], "item_uid": ["action:casino"], "score": [0.5], "rank": [1]}
    )
    store.publish(recs.assign(model="test", run="r2"), run="r2")
    view = neighbourhood(graph_driver, "alice", run="r2", database=neo4j_settings.database)
    assert "Heat" in {n.caption for n in view.nodes}
    types = {r.properties.get("type") or r.caption for r in view.relationships}
    assert "RECOMMENDED" not in types and "INTERACTED" in types


def test_neighbourhood_of_every_run_leaves_out_the_edges_of_a_publish_under_way(
    graph_driver, neo4j_settings
):
    """Before, the edges a large publish stages (run ``kgrec-staging:r1``, there while it
    runs, or left by one the server went away in) were drawn as recommendations of a run,
    where every other read leaves them out (found by the misc60 review)."""
    from kgrec.store.canonical import STAGING_PREFIX

    graph_driver.execute_query(
        "MATCH (u:User {user_id: 'alice'}), (i:Item {uid: 'action:heat'}) "
        "CREATE (u)-[:RECOMMENDED {run: $run, rank: 1, score: 1.0, model: 'm'}]->(i)",
        run=STAGING_PREFIX + "r1",
        database_=neo4j_settings.database,
    )
    view = neighbourhood(graph_driver, "alice", database=neo4j_settings.database)
    runs = [r.properties.get("run") for r in view.relationships if r.caption == "RECOMMENDED"]
    assert runs == ["r1"]
    with pytest.raises(InputError, match="kgrec's own") as raised:
        neighbourhood(graph_driver, "alice", run=STAGING_PREFIX + "r1")
    assert raised.value.field == "run"


def test_neighbourhood_reads_the_user_id_as_the_rest_of_the_api(graph_driver, neo4j_settings):
    """An id with whitespace around it (or an integer) is read as the loaders and
    ``run.recommend`` read it; before, it matched no node: 'has no interactions'."""
    view = neighbourhood(graph_driver, " alice ", run="r1", database=neo4j_settings.database)
    assert "alice" in {n.caption for n in view.nodes}
    with pytest.raises(InputError, match="may not be empty"):
        neighbourhood(graph_driver, "  ", database=neo4j_settings.database)


def test_a_database_the_server_lacks_is_named_with_what_named_it(graph_driver, monkeypatch):
    """A database the server does not have: before, the driver's error ("Graph not found:
    moviez"); now the message of kgrec's store commands, with what named the database (the
    ``database`` argument, else NEO4J_DATABASE)."""
    from kgrec.errors import StoreError

    named = {
        "the database argument": lambda read: read(graph_driver, "RETURN 1", database="moviez"),
        "NEO4J_DATABASE": lambda read: read(graph_driver, "RETURN 1"),
    }
    for setting, call in named.items():
        monkeypatch.setenv("NEO4J_DATABASE", "moviez")
        for read in (cypher, lambda driver, _, **kw: neighbourhood(driver, "alice", **kw)):
            with pytest.raises(StoreError) as refused:
                call(read)
            message = str(refused.value)
            assert message.startswith("the server has no database 'moviez' ("), message
            assert f"kgrec uses the database {setting} names" in message, message
            assert "SHOW DATABASES" in message


def test_neighbourhood_captions_an_item_as_explanations_label_it(
    neo4j_clean, neo4j_settings, make_graph
):
    """An item without a title is drawn by its uid, one with a text ``name`` attribute by it,
    as explanations label them; before, an item tied to an entity was drawn by the entity's
    id (``fb.1``), as if it were that entity, and an item with neither by no caption at all."""
    graph = make_graph(
        users=[{"user_id": "u1"}],
        items=[
            {"domain": "m", "item_id": "1", "entity_id": "fb.1"},
            {"domain": "m", "item_id": "2"},
            {"domain": "m", "item_id": "3", "title": "Three", "name": "Drei"},
            {"domain": "m", "item_id": "4", "name": "Vier"},
        ],
        interactions=[("u1", f"m:{i}", 1.0, 1.0) for i in range(1, 5)],
    )
    Neo4jStore(neo4j_clean, database=neo4j_settings.database).write(graph, progress=False)
    view = neighbourhood(neo4j_clean, "u1", database=neo4j_settings.database)
    captions = {n.properties["uid"]: n.caption for n in view.nodes if "uid" in n.properties}
    assert captions == {"m:1": "m:1", "m:2": "m:2", "m:3": "Three", "m:4": "Vier"}


def test_neighbourhood_takes_a_numpy_limit_and_refuses_one_past_neo4j_integers(
    graph_driver, neo4j_settings
):
    """Before, ``limit=np.int64(5)`` (a count from numpy) was refused as no positive integer,
    and ``limit=2**63`` raised the driver's bare OverflowError."""
    import numpy as np

    view = neighbourhood(graph_driver, "alice", limit=np.int64(5), database=neo4j_settings.database)
    assert "Heat" in {n.caption for n in view.nodes}
    for bad in (2**63, np.int64(0), np.True_):
        with pytest.raises(InputError, match="field 'limit'"):
            neighbourhood(graph_driver, "alice", limit=bad, database=neo4j_settings.database)
