"""schema.cypher: the constraints and indexes, applied idempotently to a real Neo4j."""

from __future__ import annotations

import pytest

from graph_schema import schema_statements


def test_statements_are_idempotent_constraints_and_indexes():
    statements = schema_statements()
    assert len(statements) == 7
    assert all(";" not in s for s in statements)
    assert all(
        "IF NOT EXISTS" in s or (s.startswith("DROP") and "IF EXISTS" in s) for s in statements
    )


@pytest.mark.neo4j
def test_applies_twice_and_creates_what_it_says(neo4j_clean, neo4j_settings):
    for _ in range(2):
        for statement in schema_statements():
            neo4j_clean.execute_query(statement, database_=neo4j_settings.database)
    constraints = {
        (r["labelsOrTypes"][0], r["properties"][0], r["type"])
        for r in neo4j_clean.execute_query(
            "SHOW CONSTRAINTS YIELD labelsOrTypes, properties, type",
            database_=neo4j_settings.database,
        ).records
    }
    assert constraints == {
        ("User", "user_id", "UNIQUENESS"),
        ("Item", "uid", "UNIQUENESS"),
        ("Entity", "entity_id", "UNIQUENESS"),
        ("Domain", "name", "UNIQUENESS"),
    }
    indexes = {
        (r["entityType"], r["labelsOrTypes"][0], r["properties"][0])
        for r in neo4j_clean.execute_query(
            "SHOW INDEXES YIELD entityType, labelsOrTypes, properties, type "
            "WHERE type = 'RANGE' RETURN *",
            database_=neo4j_settings.database,
        ).records
    }
    assert {("NODE", "Item", "domain"), ("RELATIONSHIP", "RELATED", "relation")} <= indexes
    assert ("RELATIONSHIP", "RECOMMENDED", "run") not in indexes  # see schema.cypher
