"""A write interrupted because Neo4j went away is finished by running it again, no duplicates.

The test starts its own server (the ``own_neo4j`` fixture) so that stopping it disturbs no
other test.
"""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from kgrec.errors import StoreError
from kgrec.store import LocalStore, Neo4jStore

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

PER_USER = 40


def assert_same_graph(a, b) -> None:
    """Identical snapshots and stats."""
    snap_a, snap_b = a.snapshot(), b.snapshot()
    for name, table in snap_a.tables().items():
        pd.testing.assert_frame_equal(table, snap_b.tables()[name], obj=name)
    assert a.stats() == b.stats()


def count(driver, query: str) -> int:
    return driver.execute_query(query).records[0][0]


@pytest.fixture
def server(own_neo4j):
    return own_neo4j()


def test_interrupted_write_is_resumed_without_duplicates(server, tmp_path, synthetic_graph):
    graph = synthetic_graph(n_users=1500, n_items=300, per_user=PER_USER, seed=1)
    expected = LocalStore(tmp_path / "expected")
    expected.write(graph, progress=False)

    # short retries, so that the write gives up while the server is down
    driver = server.connect(max_transaction_retry_time=1.0)
    store = Neo4jStore(driver, uri=server.uri, batch_size=5 * PER_USER)  # 5 users a chunk
    failure: list[BaseException] = []

    def write() -> None:
        try:
            store.write(graph, progress=False)
        except BaseException as exc:  # handed to the test thread
            failure.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    with server.connect() as watcher:
        deadline = time.monotonic() + 300
        while count(watcher, "MATCH ()-[r:INTERACTED]->() RETURN count(r)") == 0:
            assert writer.is_alive(), "the write ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    server("stop")
    writer.join(timeout=300)
    driver.close()
    assert len(failure) == 1 and isinstance(failure[0], StoreError), failure
    assert "run the same write again" in str(failure[0])

    server("start")
    with server.connect() as driver:
        # what was committed is a set of whole chunks: every user has all or none of its items
        degrees = driver.execute_query(
            "MATCH (u:User) RETURN COUNT { (u)-[:INTERACTED]->() } AS n"
        ).records
        written = [r["n"] for r in degrees]
        assert set(written) <= {0, PER_USER}
        assert 0 < sum(written) < len(graph.interactions)

        again = Neo4jStore(driver, uri=server.uri, batch_size=5 * PER_USER)
        again.write(graph, progress=False)
        assert_same_graph(again, expected)
        duplicates = count(
            driver,
            "MATCH (u:User)-[r:INTERACTED]->(i:Item) WITH u, i, count(r) AS n WHERE n > 1 "
            "RETURN count(*)",
        )
        assert duplicates == 0
