"""The local Neo4j server (tools/neo4j) as the official driver sees it."""

from __future__ import annotations

import pytest
from neo4j.exceptions import ClientError, CypherSyntaxError

pytestmark = pytest.mark.neo4j


def test_server_is_neo4j_5_26(neo4j_driver, neo4j_settings):
    result = neo4j_driver.execute_query(
        "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition",
        database_=neo4j_settings.database,
    )
    record = result.records[0]
    assert record["name"] == "Neo4j Kernel"
    assert record["versions"][0].startswith("5.26.")
    assert record["edition"] == "community"


def test_write_and_read_back_with_parameters(neo4j_clean, neo4j_settings):
    rows = [
        {"id": "u1", "name": "O'Brien `quoted`"},
        {"id": "u2", "name": "line\nbreak"},
        {"id": "u3", "name": "}) DETACH DELETE n //"},
    ]
    neo4j_clean.execute_query(
        "UNWIND $rows AS row MERGE (u:User {user_id: row.id}) SET u.name = row.name",
        rows=rows,
        database_=neo4j_settings.database,
    )
    # merging the same rows again changes nothing
    summary = neo4j_clean.execute_query(
        "UNWIND $rows AS row MERGE (u:User {user_id: row.id}) SET u.name = row.name",
        rows=rows,
        database_=neo4j_settings.database,
    ).summary
    assert summary.counters.nodes_created == 0
    df = neo4j_clean.execute_query(
        "MATCH (u:User) RETURN u.user_id AS id, u.name AS name ORDER BY id",
        database_=neo4j_settings.database,
        result_transformer_=lambda result: result.to_df(),
    )
    assert df.to_dict("records") == rows


def test_vector_index_query(neo4j_clean, neo4j_settings):
    neo4j_clean.execute_query(
        "CREATE VECTOR INDEX item_text IF NOT EXISTS FOR (i:Item) ON i.embedding "
        "OPTIONS {indexConfig: {`vector.dimensions`: 3, `vector.similarity_function`: 'cosine'}}",
        database_=neo4j_settings.database,
    )
    # idempotent
    neo4j_clean.execute_query(
        "CREATE VECTOR INDEX item_text IF NOT EXISTS FOR (i:Item) ON i.embedding "
        "OPTIONS {indexConfig: {`vector.dimensions`: 3, `vector.similarity_function`: 'cosine'}}",
        database_=neo4j_settings.database,
    )
    items = [
        {"id": "comedy", "v": [1.0, 0.0, 0.0]},
        {"id": "romcom", "v": [0.9, 0.1, 0.0]},
        {"id": "war", "v": [0.0, 0.0, 1.0]},
    ]
    neo4j_clean.execute_query(
        "UNWIND $rows AS row CREATE (i:Item {item_id: row.id, embedding: row.v})",
        rows=items,
        database_=neo4j_settings.database,
    )
    neo4j_clean.execute_query("CALL db.awaitIndexes(60)", database_=neo4j_settings.database)
    records = neo4j_clean.execute_query(
        "CALL db.index.vector.queryNodes('item_text', 2, $q) YIELD node, score "
        "RETURN node.item_id AS id, score",
        q=[1.0, 0.05, 0.0],
        database_=neo4j_settings.database,
    ).records
    assert [r["id"] for r in records] == ["comedy", "romcom"]
    assert records[0]["score"] > records[1]["score"] > 0.9


def test_cypher_error_is_a_clear_exception(neo4j_driver, neo4j_settings):
    with pytest.raises(CypherSyntaxError) as info:
        neo4j_driver.execute_query("MATCH (n RETURN n", database_=neo4j_settings.database)
    assert "Invalid input" in info.value.message
    with pytest.raises(ClientError) as info:
        neo4j_driver.execute_query(
            "CALL db.index.vector.queryNodes('no_such_index', 1, [1.0]) YIELD node RETURN node",
            database_=neo4j_settings.database,
        )
    assert "no_such_index" in info.value.message
