"""kgrec.notebook's arguments, checked before any query (a stand-in driver: no server;
tests/test_notebook_helpers.py runs the helpers against the real Neo4j)."""

from __future__ import annotations

import re
import types

import pytest

from kgrec.errors import InputError
from kgrec.notebook import cypher, neighbourhood


@pytest.mark.parametrize("limit", [0, -1, 2.5, True, "25"])
def test_neighbourhood_refuses_a_limit_that_is_not_a_positive_integer(recording_driver, limit):
    # before, the query ran: Neo4j refused LIMIT -1 or 2.5 with its own error, and LIMIT 0
    # drew nothing, reported as the user having no interactions or recommendations
    driver = recording_driver()
    with pytest.raises(InputError, match="limit must be a positive integer"):
        neighbourhood(driver, "alice", limit=limit)
    assert driver.queries == []


class _Driver:
    """Records each query's parameters and database; answers an empty graph."""

    def __init__(self) -> None:
        self.parameters, self.databases = [], []

    def execute_query(self, query, parameters_=None, database_=None, **config):
        self.parameters.append(parameters_)
        self.databases.append(database_)
        return types.SimpleNamespace(nodes=[])

    def verify_connectivity(self):
        pass


@pytest.mark.parametrize("run", ["", "  ", 7])
def test_neighbourhood_refuses_a_blank_run_name(run):
    # before, it was sent: a blank name matched no run, and 7 none either, silently
    driver = _Driver()
    with pytest.raises(InputError, match="a run name is text, not empty"):
        neighbourhood(driver, "alice", run=run)
    assert driver.parameters == []


def test_neighbourhood_reads_the_run_name_as_a_publish_names_it():
    # a publish strips the name it records: " r1 " is the run r1 (before: matched nothing)
    driver = _Driver()
    # an InputError naming the argument, as for run and limit (before, a bare ValueError)
    with pytest.raises(InputError, match=r"field 'user_id'.*no interactions or recommendations"):
        neighbourhood(driver, "alice", run=" r1 ")
    assert driver.parameters == [{"user_id": "alice", "run": "r1", "limit": 25}]


def test_cypher_takes_a_parameter_named_database_as_a_mapping():
    # before, `database=` was only ever the database: a query's $database could not be given
    driver = _Driver()
    cypher(driver, "RETURN $database, $n", {"database": "films"}, n=3, database="db1")
    assert driver.parameters == [{"database": "films", "n": 3}]
    assert driver.databases == ["db1"]


def test_cypher_refuses_a_parameter_given_twice():
    driver = _Driver()
    with pytest.raises(InputError, match="parameter 'n' given twice"):
        cypher(driver, "RETURN $n", {"n": 1}, n=2)
    assert driver.parameters == []


@pytest.mark.parametrize("database", [None, ""])
def test_the_helpers_read_the_database_kgrec_stores_use(monkeypatch, database):
    # before, no database meant the server's home database, whatever NEO4J_DATABASE said,
    # so a notebook read another database than the one `kgrec load` had written
    monkeypatch.setenv("NEO4J_DATABASE", "films")
    driver = _Driver()
    cypher(driver, "RETURN 1", database=database)
    with pytest.raises(ValueError, match="no interactions"):
        neighbourhood(driver, "alice", database=database)
    monkeypatch.delenv("NEO4J_DATABASE")
    cypher(driver, "RETURN 1", database=database)
    assert driver.databases == ["films", "films", "neo4j"]


def test_connect_sends_the_default_password_only_to_this_machine(monkeypatch):
    # before, the notebooks built their own driver: NEO4J_PASSWORD unset, they sent the local
    # server's default password to whatever NEO4J_URI named
    from kgrec.errors import StoreError
    from kgrec.notebook import connect

    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    monkeypatch.setenv("NEO4J_URI", "bolt://db.example.com:7687")
    for uri in (None, "neo4j://db.example.com:7687"):
        with pytest.raises(StoreError, match="set NEO4J_PASSWORD"):
            connect(uri)


def test_connect_without_a_uri_reaches_the_local_server_of_neo4j_port(monkeypatch):
    """Before, connect() without $NEO4J_URI reached bolt://127.0.0.1:7687 whatever
    $NEO4J_PORT said, though `make neo4j-start` starts the local server on that port (found
    by the bench46 review of the benchmarks' defaults)."""
    from kgrec.errors import StoreError
    from kgrec.notebook import connect

    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("NEO4J_PORT", "1")  # no server there
    with pytest.raises(StoreError, match=r"^bolt://127\.0\.0\.1:1: "):
        connect()
    monkeypatch.setenv("NEO4J_PORT", "")  # empty is unset: the default port
    from kgrec.settings import local_neo4j

    assert local_neo4j() == "bolt://127.0.0.1:7687"


@pytest.mark.parametrize("port", ["abc", "99999", "0", " 7687", "７６８７"])
def test_a_neo4j_port_that_is_no_port_is_refused_naming_it(monkeypatch, port):
    """Before, connect() with $NEO4J_PORT=abc said the driver's `Port could not be cast to
    integer value as 'abc'` of a URI the user never wrote; 99999, `Port out of range`; a
    full-width ７６８７ (digits to Python's int) reached port 7687."""
    from kgrec.errors import InputError
    from kgrec.notebook import connect

    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("NEO4J_PORT", port)
    with pytest.raises(InputError, match=r"\$NEO4J_PORT must be a port number, 1 to 65535"):
        connect()


def _unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connect_to_an_unreachable_server_says_so():
    # before, the driver's ServiceUnavailable came out as it was, naming no URI to check
    from kgrec.errors import StoreError
    from kgrec.notebook import connect

    uri = f"bolt://127.0.0.1:{_unused_port()}"
    with pytest.raises(StoreError, match=re.escape(f"{uri}: Neo4j is unreachable")):
        connect(uri)


def test_connect_with_wrong_credentials_says_which_variables_to_check(monkeypatch):
    # a stand-in driver whose server refuses the credentials (no server is asked); before,
    # the driver's AuthError came out as it was, and the driver was left open
    import neo4j.exceptions

    import kgrec.store
    from kgrec.errors import StoreError
    from kgrec.notebook import connect

    closed = []

    class Refusing:
        def verify_connectivity(self):
            raise neo4j.exceptions.AuthError("The client is unauthorized")

        def close(self):
            closed.append(True)

    monkeypatch.setattr(kgrec.store.GraphDatabase, "driver", lambda uri, **config: Refusing())
    with pytest.raises(StoreError, match=r"authentication failed.*NEO4J_PASSWORD"):
        connect("bolt://127.0.0.1:7999")
    assert closed == [True]


@pytest.mark.parametrize("uri", ["bolt://neo4j:s3cret@127.0.0.1:7999", "neo4j://u:s3cret@h:1"])
def test_connect_refuses_credentials_in_the_uri_without_echoing_them(uri):
    # before, the driver's error repeated the URI, password and all, into the notebook
    from kgrec.errors import StoreError
    from kgrec.notebook import connect

    with pytest.raises(StoreError, match="put no user name or password") as raised:
        connect(uri)
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("uri", ["local:./kgrec-store", "http://127.0.0.1:7474", "  "])
def test_connect_refuses_what_is_no_neo4j_uri(uri):
    # before: local: was "expected local://HOST:PORT", http:// went to the driver's preview
    # HTTP client, and a blank URI connected to $NEO4J_URI or the local server
    from kgrec.errors import StoreError
    from kgrec.notebook import connect

    with pytest.raises(StoreError, match="bolt://HOST:PORT"):
        connect(uri)


@pytest.mark.parametrize("helper", ["cypher", "neighbourhood"])
def test_a_helper_whose_server_is_gone_says_so_at_once(helper):
    # before, the driver's own ServiceUnavailable came out after about a minute of retries
    import time

    from kgrec.errors import StoreError
    from kgrec.notebook import cypher, neighbourhood
    from kgrec.store import neo4j_driver

    driver = neo4j_driver(f"bolt://127.0.0.1:{_unused_port()}")  # as connect() left it, then gone
    start = time.monotonic()
    gone = r"(?s)Neo4j is unreachable or went away.*make neo4j-start"
    with pytest.raises(StoreError, match=gone):
        if helper == "cypher":
            cypher(driver, "RETURN 1 AS one")
        else:
            neighbourhood(driver, "196")
    assert time.monotonic() - start < 10
    driver.close()
