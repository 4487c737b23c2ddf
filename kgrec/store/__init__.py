"""Where the shared graph lives: :class:`LocalStore` (embedded default) or :class:`Neo4jStore`.

:func:`open_store` turns a store URI into a store; it is the only place that reads the
``NEO4J_*`` environment variables and builds a driver.
"""

from __future__ import annotations

import os

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import ConfigurationError

from kgrec.errors import StoreError
from kgrec.store.base import GraphStore
from kgrec.store.local import LocalStore
from kgrec.store.neo4j import Neo4jStore

DEFAULT_LOCAL = "local:./kgrec-store"
DEFAULT_PASSWORD = "kgrec-local-password"  # the local server's (tools/neo4j) default
NEO4J_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")


def open_store(uri: str | None = None, *, driver: Driver | None = None) -> GraphStore:
    """The store named by ``uri``.

    ``local:PATH`` is a :class:`LocalStore`; ``neo4j://``, ``bolt://`` (and their ``+s`` /
    ``+ssc`` variants) a :class:`Neo4jStore` authenticated with ``NEO4J_USERNAME`` /
    ``NEO4J_PASSWORD`` (default ``neo4j`` / the local server's password) on database
    ``NEO4J_DATABASE`` (default ``neo4j``). ``driver`` replaces the driver built from the
    environment. Without ``uri``: ``NEO4J_URI`` if set, else ``local:./kgrec-store``.
    """
    uri = uri or os.environ.get("NEO4J_URI") or DEFAULT_LOCAL
    scheme, sep, rest = uri.partition(":")
    if sep and scheme == "local":
        if not rest:
            raise StoreError(f"store {uri!r}: local: needs a folder, e.g. local:./kgrec-store")
        return LocalStore(rest)
    if sep and scheme in NEO4J_SCHEMES and rest.startswith("//"):
        database = os.environ.get("NEO4J_DATABASE") or "neo4j"
        if driver is not None:
            return Neo4jStore(driver, database=database, uri=uri)
        return Neo4jStore(_driver(uri), database=database, uri=uri, owns_driver=True)
    known = ", ".join(["local:PATH", *(f"{s}://HOST:PORT" for s in NEO4J_SCHEMES)])
    raise StoreError(f"unknown store {uri!r}: expected one of {known}")


def _driver(uri: str) -> Driver:
    auth = (
        os.environ.get("NEO4J_USERNAME", "neo4j"),
        os.environ.get("NEO4J_PASSWORD", DEFAULT_PASSWORD),
    )
    try:
        return GraphDatabase.driver(uri, auth=auth, notifications_min_severity="OFF")
    except (ConfigurationError, ValueError) as exc:
        raise StoreError(f"store {uri!r}: {exc}") from exc


__all__ = ["GraphStore", "LocalStore", "Neo4jStore", "open_store"]
