"""kgrec.notebook against the real Neo4j."""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.notebook import cypher, neighbourhood
from kgrec.store import Neo4jStore
from tests.conftest import NEO4J_DATABASE
from tests.test_explain import small_graph

pytestmark = pytest.mark.neo4j


@pytest.fixture
def graph_driver(neo4j_clean):
    store = Neo4jStore(neo4j_clean, database=NEO4J_DATABASE)
    store.write(small_graph(), progress=False)
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


def test_cypher_returns_a_dataframe_with_parameters(graph_driver):
    df = cypher(
        graph_driver,
        "MATCH (u:User {user_id: $user})-[:INTERACTED]->(i:Item) "
        "RETURN i.title AS title ORDER BY title",
        database=NEO4J_DATABASE,
        user="alice",
    )
    assert isinstance(df, pd.DataFrame)
    assert df["title"].tolist() == ["Heat", "Toy Story"]


def test_neighbourhood_has_history_recommendation_and_the_entity_between(graph_driver):
    view = neighbourhood(graph_driver, "alice", run="r1", database=NEO4J_DATABASE)
    captions = {n.caption for n in view.nodes}
    assert {"alice", "Heat", "Toy Story", "Casino", "De Niro"} <= captions
    types = {r.properties.get("type") or r.caption for r in view.relationships}
    assert {"INTERACTED", "RECOMMENDED", "RELATED"} <= types
    html = view.render()
    assert "<" in html.data


def test_neighbourhood_of_unknown_user(graph_driver):
    with pytest.raises(ValueError, match="nobody"):
        neighbourhood(graph_driver, "nobody", database=NEO4J_DATABASE)
