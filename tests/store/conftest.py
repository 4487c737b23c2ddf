from __future__ import annotations

import socket

import pytest

from kgrec.store import LocalStore, Neo4jStore


@pytest.fixture
def unused_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["local", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request, tmp_path):
    """Each store implementation in turn, empty: the store contract suite runs against both.
    Neo4j writes in chunks of 2 rows, so that every table takes several chunks."""
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    settings = request.getfixturevalue("neo4j_settings")
    driver = request.getfixturevalue("neo4j_clean")
    return Neo4jStore(driver, database=settings.database, uri=settings.uri, batch_size=2)
