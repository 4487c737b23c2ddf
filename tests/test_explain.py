"""Explanations: the same best paths in Python (networkx) and in Cypher."""

from __future__ import annotations

import pandas as pd
import pytest

from graph_schema.tables import GraphTables
from kgrec.errors import KgrecError
from kgrec.explain import explain, explain_neo4j
from kgrec.store import Neo4jStore
from tests.conftest import NEO4J_DATABASE


def small_graph() -> GraphTables:
    """Alice watched Heat (action) and Toy Story (comedy). Casino shares Heat's rare actor
    De Niro and the hub genre Crime; Bob watched Heat and Casino; Cars is a Toy Story sequel."""
    items = pd.DataFrame(
        {
            "uid": ["action:heat", "action:casino", "comedy:toy", "comedy:cars", "action:x"],
            "domain": ["action", "action", "comedy", "comedy", "action"],
            "item_id": ["heat", "casino", "toy", "cars", "x"],
            "title": ["Heat", "Casino", "Toy Story", "Cars", "X"],
        }
    )
    interactions = pd.DataFrame(
        {
            "user_id": ["alice", "alice", "bob", "bob", "carol", "carol", "dave"],
            "item_uid": [
                "action:heat",
                "comedy:toy",
                "action:heat",
                "action:casino",
                "action:x",
                "action:casino",
                "action:x",
            ],
        }
    )
    knowledge = pd.DataFrame(
        [
            ("Item", "action:heat", "film.film.actor", "Entity", "deniro"),
            ("Item", "action:casino", "film.film.actor", "Entity", "deniro"),
            ("Item", "action:heat", "film.film.genre", "Entity", "crime"),
            ("Item", "action:casino", "film.film.genre", "Entity", "crime"),
            ("Item", "action:x", "film.film.genre", "Entity", "crime"),
            ("Item", "comedy:toy", "film.film.genre", "Entity", "crime"),
            ("Item", "comedy:cars", "film.film.prequel", "Item", "comedy:toy"),
            ("Item", "comedy:toy", "film.film.sequel", "Item", "comedy:cars"),
        ],
        columns=["head_kind", "head_key", "relation", "tail_kind", "tail_key"],
    )
    # string dtypes, as the stores' snapshots have them
    return GraphTables(
        domains=pd.DataFrame({"domain": ["action", "comedy"]}),
        users=pd.DataFrame({"user_id": ["alice", "bob", "carol", "dave"]}),
        items=items,
        entities=pd.DataFrame({"entity_id": ["deniro", "crime"], "name": ["De Niro", "Crime"]}),
        interactions=interactions.astype("string"),
        knowledge=knowledge.astype("string"),
    )


def test_rare_shared_entity_beats_hub_and_co_interaction():
    table = explain(small_graph(), "alice", "action:casino", k=10)
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    best = table.iloc[0]
    assert best["kind"] == "entity"
    assert best["nodes"] == [
        "User:alice",
        "Item:action:heat",
        "Entity:deniro",
        "Item:action:casino",
    ]
    assert best["relations"] == ["INTERACTED", "film.film.actor", "film.film.actor"]
    assert best["text"] == "you interacted with Heat; it and Casino share the actor De Niro"
    kinds = set(table["kind"])
    assert kinds == {"entity", "co-interaction"}
    # the hub genre is found but ranked below the rare actor
    crime = table[table["nodes"].map(lambda n: "Entity:crime" in n)]
    assert (crime["cost"] > best["cost"]).all()
    assert table["cost"].is_monotonic_increasing


def test_other_domain_history_and_parallel_relations_give_one_path():
    table = explain(small_graph(), "alice", "comedy:cars", k=10)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["kind"] == "related"
    assert row["nodes"] == ["User:alice", "Item:comedy:toy", "Item:comedy:cars"]
    assert row["relations"] == ["INTERACTED", "film.film.prequel"]


def test_unknown_user_or_item():
    with pytest.raises(KgrecError, match="nobody"):
        explain(small_graph(), "nobody", "action:casino")
    with pytest.raises(KgrecError, match="action:nothing"):
        explain(small_graph(), "alice", "action:nothing")


@pytest.mark.neo4j
@pytest.mark.parametrize(
    ("user", "item"),
    [
        ("alice", "action:casino"),
        ("alice", "comedy:cars"),
        ("bob", "action:x"),
        ("dave", "action:heat"),
    ],
)
def test_cypher_gives_the_same_paths(neo4j_clean, user, item):
    graph = small_graph()
    Neo4jStore(neo4j_clean, database=NEO4J_DATABASE).write(graph, progress=False)
    expected = explain(graph, user, item, k=10)
    got = explain_neo4j(neo4j_clean, user, item, k=10, database=NEO4J_DATABASE)
    pd.testing.assert_frame_equal(got, expected)
