"""Shared fixtures. Neo4j tests use the server `make test` starts (tools/neo4j).

With ``CI`` set, a Neo4j that cannot be reached fails every test that needs it; elsewhere
those tests are skipped with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kgrec.store.neo4j import delete_all

NEO4J_URI = os.environ.get("NEO4J_URI", f"bolt://127.0.0.1:{os.environ.get('NEO4J_PORT', '7687')}")
NEO4J_AUTH = (
    os.environ.get("NEO4J_USERNAME", "neo4j"),
    os.environ.get("NEO4J_PASSWORD", "kgrec-local-password"),
)
NEO4J_DATABASE = os.environ.get("NEO4J_DATABASE", "neo4j")


def data_dir() -> Path:
    """The shared datasets: $KGREC_DATA, else ../shared/datasets beside the project."""
    env = os.environ.get("KGREC_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"
    return path


@pytest.fixture(scope="session")
def datasets() -> Path:
    path = data_dir()
    if not (path / "ml-100k").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"datasets not found at {path} (set KGREC_DATA)")
        pytest.skip(f"datasets not found at {path} (set KGREC_DATA)")
    return path


@pytest.fixture(scope="session")
def neo4j_driver():
    """A driver to the test server; fails (CI) or skips (elsewhere) when it is unreachable."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import Neo4jError, ServiceUnavailable

    driver = GraphDatabase.driver(NEO4J_URI, auth=NEO4J_AUTH)
    try:
        driver.verify_connectivity()
    except (ServiceUnavailable, Neo4jError, OSError) as exc:
        driver.close()
        message = f"Neo4j at {NEO4J_URI} is not reachable ({exc}); start it with `make neo4j-start`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield driver
    driver.close()


@pytest.fixture
def neo4j_clean(neo4j_driver):
    """The test server emptied of nodes, relationships, indexes and constraints."""
    wipe_neo4j(neo4j_driver)
    return neo4j_driver


def wipe_neo4j(driver) -> None:
    with driver.session(database=NEO4J_DATABASE) as session:
        delete_all(session)
    for kind in ("CONSTRAINT", "INDEX"):
        records = driver.execute_query(
            f"SHOW {kind}ES YIELD name, type" if kind == "INDEX" else "SHOW CONSTRAINTS YIELD name",
            database_=NEO4J_DATABASE,
        ).records
        for record in records:
            if kind == "INDEX" and record["type"] == "LOOKUP":
                continue
            # names come from the server itself; escaped all the same
            name = record["name"].replace("`", "``")
            driver.execute_query(f"DROP {kind} `{name}` IF EXISTS", database_=NEO4J_DATABASE)
