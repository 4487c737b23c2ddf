"""`kgrec embed` into Neo4j on ml-100k: vectors, the cosine vector index, useful neighbours.

To keep CI fast the store gets the ml-100k items (all 1,682, loaded with the RecBole loader)
and the knowledge around Toy Story only; item texts do not depend on the rest of the graph.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph_schema.tables import GraphTables
from kgrec.cli import main
from kgrec.store import open_store

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

TOY_STORY, LION_KING = "ml-100k:1", "ml-100k:71"
NEAREST = """
MATCH (anchor:Item {uid: $uid})
CALL db.index.vector.queryNodes('item_embedding', $k + 1, anchor.embedding)
YIELD node, score
WHERE node <> anchor
RETURN node.uid AS uid, score
ORDER BY score DESC
LIMIT $k
"""


@pytest.fixture(scope="module")
def ml100k(datasets) -> GraphTables:
    from loaders.recbole import load

    graph = load(datasets / "ml-100k", domain="ml-100k")
    kg = graph.knowledge
    near = kg[(kg["head_key"] == TOY_STORY) | (kg["tail_key"] == TOY_STORY)]
    keys = set(near.loc[near["head_kind"] == "Entity", "head_key"]) | set(
        near.loc[near["tail_kind"] == "Entity", "tail_key"]
    )
    return GraphTables(
        domains=graph.domains,
        items=graph.items,
        entities=graph.entities[graph.entities["entity_id"].isin(keys)],
        knowledge=near,
    )


@pytest.fixture(scope="module")
def embedded(neo4j_driver, ml100k, tmp_path_factory, neo4j_settings, neo4j_wipe):
    """The module's graph in the test server, embedded through the CLI (Item and Entity)."""
    neo4j_wipe(neo4j_driver)
    with open_store(neo4j_settings.uri, driver=neo4j_driver) as store:
        store.write(ml100k, progress=False)
    cache = tmp_path_factory.mktemp("cache") / "vectors.sqlite"
    assert main(["embed", "--store", neo4j_settings.uri, "--cache", str(cache)]) == 0
    neo4j_driver.execute_query("CALL db.awaitIndexes(600)", database_=neo4j_settings.database)
    return neo4j_driver


def _query(driver, database: str, query: str, **parameters) -> pd.DataFrame:
    return driver.execute_query(
        query,
        parameters_=parameters,
        database_=database,
        result_transformer_=lambda r: r.to_df(),
    )


def test_vectors_and_cosine_indexes_are_in_neo4j(embedded, ml100k, encoder, neo4j_settings):
    indexes = _query(
        embedded,
        neo4j_settings.database,
        "SHOW VECTOR INDEXES YIELD name, state, labelsOrTypes, properties, options "
        "RETURN name, state, labelsOrTypes[0] AS label, properties[0] AS property, "
        "options.indexConfig.`vector.dimensions` AS dims, "
        "options.indexConfig.`vector.similarity_function` AS similarity ORDER BY name",
    )
    assert indexes.to_dict("records") == [
        {
            "name": n,
            "state": "ONLINE",
            "label": label,
            "property": "embedding",
            "dims": 384,
            "similarity": "COSINE",
        }
        for n, label in (("entity_embedding", "Entity"), ("item_embedding", "Item"))
    ]
    counts = _query(
        embedded,
        neo4j_settings.database,
        "MATCH (n) WHERE n:Item OR n:Entity RETURN labels(n)[0] AS kind, "
        "count(n) AS nodes, count(n.embedding) AS vectors ORDER BY kind",
    ).set_index("kind")
    assert counts.loc["Item", "nodes"] == counts.loc["Item", "vectors"] == 1682
    entities_with_context = ml100k.entities["entity_id"].nunique()
    assert counts.loc["Entity", "vectors"] == entities_with_context  # all touch Toy Story
    toy = _query(
        embedded,
        neo4j_settings.database,
        "MATCH (i:Item {uid: $uid}) RETURN i.embedding AS v",
        uid=TOY_STORY,
    )
    expected = encoder.encode(
        ["Toy Story (1995). Genres: Animation, Children's, Comedy."], progress=False
    )[0]
    np.testing.assert_allclose(np.array(toy["v"][0]), expected, atol=1e-5)


@pytest.mark.parametrize("anchor", [TOY_STORY, LION_KING])
def test_nearest_items_share_a_genre_far_more_often_than_random_items(
    embedded, ml100k, anchor, neo4j_settings
):
    genres = dict(zip(ml100k.items["uid"], ml100k.items["genres"], strict=True))
    mine = set(genres[anchor])
    assert {"Animation", "Children's"} <= mine
    nearest = _query(embedded, neo4j_settings.database, NEAREST, uid=anchor, k=10)
    assert len(nearest) == 10
    shares = [bool(mine & set(genres[uid])) for uid in nearest["uid"]]
    others = [uid for uid in genres if uid != anchor]
    random_rate = np.mean([bool(mine & set(genres[uid])) for uid in others])
    assert np.mean(shares) >= max(2 * random_rate, 0.7), (np.mean(shares), random_rate)
