"""open_store: a store URI (or the environment) to a store."""

from __future__ import annotations

import socket
import threading
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest

from kgrec.errors import StoreError
from kgrec.store import LocalStore, Neo4jStore, absolute_uri, neo4j_driver, open_store


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        monkeypatch.delenv(name, raising=False)


def test_local_uri_opens_a_local_store(tmp_path):
    store = open_store(f"local:{tmp_path}/graph")
    assert isinstance(store, LocalStore)
    assert store.path == tmp_path / "graph"
    assert store.uri == f"local:{tmp_path}/graph"


def test_a_home_folder_is_the_users_home(tmp_path, monkeypatch, movies):
    """local:~/x (the shell does not expand it after local:) is the store ~/x. Before, kgrec
    checked and locked ./~/x while pandas expanded ~ and wrote its temporary file into the
    user's ~/x: the write failed and left that file there."""
    home = tmp_path / "home"
    (home / "mine").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    store = open_store("local:~/graph")
    assert store.path == home / "graph"
    assert absolute_uri("local:~/graph") == f"local:{home / 'graph'}"
    store.write(movies, progress=False)
    assert open_store(f"local:{home}/graph").snapshot().items.equals(store.snapshot().items)
    assert not (tmp_path / "~").exists()
    assert sorted(p.name for p in (home / "mine").iterdir()) == []


@pytest.mark.parametrize(
    "uri",
    ["neo4j://localhost:7687", "bolt://127.0.0.1:7999", "neo4j+s://db.example.com", "bolt+s://h:1"],
)
def test_neo4j_uris_open_a_neo4j_store(uri, monkeypatch):
    monkeypatch.setenv("NEO4J_DATABASE", "graphs")
    monkeypatch.setenv("NEO4J_PASSWORD", "secret")
    with open_store(uri) as store:
        assert isinstance(store, Neo4jStore)
        assert store.uri == uri
        assert store.database == "graphs"
        assert store.owns_driver


def test_a_given_driver_is_used_and_not_closed():
    class Driver:
        closed = False

        def close(self):
            self.closed = True

    driver = Driver()
    store = open_store("bolt://127.0.0.1:7999", driver=driver)
    assert store.driver is driver and store.database == "neo4j"
    store.close()
    assert not driver.closed


def test_default_is_neo4j_uri_else_local(monkeypatch):
    assert open_store().uri == "local:./kgrec-store"
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:7999")
    with open_store() as store:
        assert isinstance(store, Neo4jStore) and store.uri == "bolt://127.0.0.1:7999"


@pytest.mark.parametrize("uri", ["http://localhost:7474", "postgres://x", "local:", "neo4j:x"])
def test_unknown_store_is_a_clear_error(uri):
    with pytest.raises(StoreError, match="store") as info:
        open_store(uri)
    assert repr(uri) in str(info.value)


@pytest.mark.parametrize("uri", ["stores/mine", "mine", "./stores/a:b", "~/stores/mine"])
def test_a_path_without_a_scheme_is_refused_with_the_local_uri_to_give(uri, tmp_path, monkeypatch):
    """Before, `--store stores/mine` said "unknown store 'stores/mine': expected one of
    local:PATH, ..." alone (found by the ux45 review). Nothing is made."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError) as info:
        open_store(uri)
    assert str(info.value).endswith(f"(a folder? give local:{uri})")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("uri", ["localhost:7687", "127.0.0.1:7687", "db.example.com:7687"])
def test_a_host_and_port_without_a_scheme_is_refused_with_the_bolt_uri_to_give(uri, tmp_path):
    """Before, `--store 127.0.0.1:7687` said "(a folder? give local:127.0.0.1:7687)", which
    would have made a local store of that name, and `localhost:7687` offered nothing (found by
    the neo4juser45 review)."""
    import kgrec.notebook

    for open_ in (open_store, kgrec.notebook.connect):
        with pytest.raises(StoreError) as info:
            open_(uri)
        assert str(info.value).endswith(f"(a Neo4j server? give bolt://{uri})")


@pytest.mark.parametrize("uri", ["http://localhost:7474", "HTTPS://db.example.com:7473/browser/"])
def test_neo4js_http_address_is_refused_saying_kgrec_talks_bolt(uri):
    """Before, the browser's address was "unknown store ..." alone (found by the neo4juser45
    review)."""
    import kgrec.notebook

    for open_ in (open_store, kgrec.notebook.connect):
        with pytest.raises(StoreError) as info:
            open_(uri)
        assert "kgrec reaches Neo4j over Bolt, not HTTP: give bolt://HOST:PORT" in str(info.value)
        assert "a folder?" not in str(info.value)


@pytest.mark.parametrize("uri", ["localhost:7687", "mysql://x", "neo4j:x"])
def test_a_uri_with_a_scheme_gets_no_folder_hint(uri):
    with pytest.raises(StoreError, match="unknown store") as info:
        open_store(uri)
    assert "a folder?" not in str(info.value)


@pytest.mark.parametrize("uri", ["localhost:7687", "  ", "bolt://127.0.0.1:99999", "local:"])
def test_a_bad_neo4j_uri_is_an_error_naming_the_variable(uri, monkeypatch):
    """A bad NEO4J_URI, read where no --store is given, was an error naming the URI alone
    ("unknown store 'localhost:7687'"): nothing said it came from NEO4J_URI."""
    monkeypatch.setenv("NEO4J_URI", uri)
    with pytest.raises(StoreError, match="NEO4J_URI") as info:
        open_store()
    assert repr(uri) in str(info.value)


def test_local_store_on_a_file_is_an_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a folder"):
        open_store(f"local:{tmp_path}/file")


def test_a_local_store_under_a_file_says_so(tmp_path):
    # before: "cannot write in .../file (permission denied)"
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="file is a file, not a folder"):
        open_store(f"local:{tmp_path}/file/store").check()


@pytest.mark.parametrize("scheme", ["bolt", "neo4j"])
def test_unreachable_neo4j_is_a_store_error_that_says_why(unused_port, scheme):
    """With a neo4j:// URI the driver's error is "Unable to retrieve routing information"
    alone. Before, the message said no more (not that the connection was refused); now it
    names the router's failure under it, as a bolt:// URI's error does."""
    import kgrec.notebook

    uri = f"{scheme}://127.0.0.1:{unused_port}"
    with open_store(uri) as store, pytest.raises(StoreError) as raised:
        store.stats()
    assert "unreachable" in str(raised.value) and "Connection refused" in str(raised.value)
    with pytest.raises(StoreError) as raised:
        kgrec.notebook.connect(uri)
    assert "Connection refused" in str(raised.value) and "make neo4j-start" in str(raised.value)


@pytest.fixture(params=["silent", "http"])
def not_bolt_port(request):
    """A port that takes connections and answers no Bolt handshake: never a byte ("silent",
    as an HTTP server waiting for a request) or an HTTP error ("http")."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    taken = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            taken.append(conn)
            if request.param == "http":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in taken:
        conn.close()


@pytest.mark.parametrize("scheme", ["bolt", "neo4j"])
def test_a_port_that_answers_no_bolt_is_named_as_such_within_kgrecs_deadline(
    not_bolt_port, monkeypatch, scheme
):
    """Before, a port that took the connection and said nothing (an HTTP port given for the
    Bolt port, another program's) held the command for the driver's 60 s, then was "Neo4j is
    unreachable or went away"; now kgrec's deadline (CONNECT_SECONDS, the driver's connection
    acquisition timeout) ends the wait and the error says what the port did. So it does with
    a neo4j:// URI, whose driver error ("Unable to retrieve routing information") holds the
    handshake's failure beneath it: before, that error said no more, and named no Bolt port."""
    import kgrec.notebook
    import kgrec.store

    monkeypatch.setattr(kgrec.store, "CONNECT_SECONDS", 1.0)
    uri = f"{scheme}://127.0.0.1:{not_bolt_port}"
    hint = "did not answer as Neo4j's Bolt server: is it the Bolt port (7687 by default)"
    with open_store(uri) as store, pytest.raises(StoreError) as raised:
        store.stats()
    assert hint in str(raised.value)
    with pytest.raises(StoreError) as raised:
        kgrec.notebook.connect(uri)
    assert hint in str(raised.value) and "make neo4j-start" not in str(raised.value)
    if "looks like HTTP" not in str(raised.value):  # the silent port waited for the deadline
        assert "Deadline(timeout=1.0)" in str(raised.value)


def _driver_of(agent: str) -> MagicMock:
    """A driver stand-in connected to a server that calls itself ``agent``, holding nothing."""
    driver = MagicMock()
    driver.get_server_info.return_value = SimpleNamespace(agent=agent)
    driver.execute_query.return_value = SimpleNamespace(records=[])
    return driver


@pytest.mark.parametrize("agent", ["Neo4j/5.20.0", "Neo4j/4.4.40"])
def test_a_neo4j_older_than_kgrec_needs_is_refused_before_anything_is_written(agent, movies):
    """Before, a server older than 5.23 took a load's nodes, then refused its interactions as
    a syntax error ("Invalid input '('"): the graph partial, and the advice to run the load
    again, which could never finish it."""
    driver = _driver_of(agent)
    store = Neo4jStore(driver, uri="bolt://db:7687")
    for call in (store.check, lambda: store.write(movies, progress=False), store.stats):
        with pytest.raises(StoreError) as raised:
            call()
        assert str(raised.value).startswith(
            f"bolt://db:7687: the server is {agent}; kgrec needs Neo4j 5.26 or newer"
        )
    driver.execute_query.assert_not_called()
    driver.session.assert_not_called()


@pytest.mark.parametrize(
    "agent", ["Neo4j/5.26.0", "Neo4j/2025.01.0", "Neo4j/v5.11.0 compatible - another server"]
)
def test_a_neo4j_of_the_version_kgrec_needs_or_newer_is_read(agent):
    driver = _driver_of(agent)
    Neo4jStore(driver, uri="bolt://db:7687").check()  # reads the load lock: none
    driver.execute_query.assert_called_once()


def test_credentials_in_the_uri_are_refused_and_never_echoed(capsys):
    from kgrec.cli import main

    uri = "bolt://neo4j:Sup3rSecret@db.example.com:7687"
    with pytest.raises(StoreError, match="NEO4J_PASSWORD") as info:
        open_store(uri)
    assert "Sup3rSecret" not in str(info.value)
    assert "bolt://***@db.example.com:7687" in str(info.value)
    assert main(["graph", "stats", "--store", uri]) == 2
    out = capsys.readouterr()
    assert "Sup3rSecret" not in out.err + out.out


@pytest.mark.parametrize(
    "uri",
    [
        "bolt://neo4j:Sup3r/Secret@db.example.com:7687",  # a "/" in the password
        "bolt:/neo4j:Sup3rSecret@db.example.com:7687",  # one slash: no store URI at all
        "neo4j:neo4j:Sup3rSecret@db.example.com",
        "bolt://neo4j:Sup3r#Secret@db.example.com:7687",
    ],
)
def test_credentials_in_a_malformed_uri_are_never_echoed(uri, capsys):
    """Before, a password holding a "/" passed the check of the URI's host part (up to the
    first "/") and the port error repeated the whole URI; a URI of one slash was "unknown
    store" with the password in it (found by the sec43 review)."""
    from kgrec.cli import main

    with pytest.raises(StoreError) as info:
        open_store(uri)
    assert "Secret" not in str(info.value)
    with pytest.raises(StoreError) as info:
        neo4j_driver(uri)
    assert "Secret" not in str(info.value)
    assert main(["graph", "stats", "--store", uri]) == 2
    out = capsys.readouterr()
    assert "Secret" not in out.err + out.out


@pytest.mark.parametrize("uri", ["bolt://db.example.com:7687", "neo4j+s://10.0.0.5"])
def test_the_default_password_goes_only_to_this_machine(uri):
    with pytest.raises(StoreError, match="set NEO4J_PASSWORD"):
        open_store(uri)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_the_default_password_is_used_on_this_machine(host):
    with open_store(f"bolt://{host}:7999") as store:
        assert isinstance(store, Neo4jStore)


def test_a_load_checks_the_store_before_reading_its_files(tmp_path, unused_port, capsys):
    """A wrong store fails at once, not after parsing: the file here would fail parsing."""
    from kgrec.cli import main

    bad = tmp_path / "ratings.csv"
    bad.write_text("no,header,we,know\n")
    assert main(["load", "table", str(bad), "--store", f"bolt://127.0.0.1:{unused_port}"]) == 2
    err = capsys.readouterr().err
    assert "Neo4j is unreachable" in err and "ratings.csv" not in err


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        # before: the driver wrote to database "neo4j", ignoring the path
        ("bolt://127.0.0.1:7687/movies", "NEO4J_DATABASE=movies"),
        ("neo4j://127.0.0.1:7687#movies", "NEO4J_DATABASE"),
        # before: the driver connected to port 99999 - 65536 = 34463
        ("bolt://127.0.0.1:99999", "out of range"),
        # before: a ValueError traceback when the store was first used
        ("neo4j://127.0.0.1:port", "Port"),
        # before: the driver connected to host "local", or to localhost
        ("neo4j://local host:7687", "HOST:PORT"),
        ("neo4j://", "HOST:PORT"),
        ("bolt://:7687", "HOST:PORT"),
    ],
)
def test_a_neo4j_uri_the_driver_would_misread_is_refused(uri, message, monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", "secret")
    with pytest.raises(StoreError, match=message) as info:
        open_store(uri)
    assert repr(uri) in str(info.value)


@pytest.mark.parametrize("uri", ["bolt://127.0.0.1:7687/", "neo4j://localhost", "bolt://[::1]:1"])
def test_a_neo4j_uri_with_a_host_and_port_is_accepted(uri):
    with open_store(uri) as store:
        assert isinstance(store, Neo4jStore) and store.uri == uri


@pytest.mark.parametrize(("name", "user"), [("", "neo4j"), ("alice", "alice")])
def test_an_empty_user_name_is_the_default_one(name, user, monkeypatch):
    """NEO4J_USERNAME= (empty, as an unset variable in a compose or CI file) is the default user
    `neo4j`, as an empty NEO4J_URI or NEO4J_DATABASE is theirs. Before, the driver was given an
    empty user name, and the server refused it."""
    import kgrec.store

    given = {}

    def driver(uri, *, auth, **options):
        given["auth"] = auth
        return object()

    monkeypatch.setattr(kgrec.store.GraphDatabase, "driver", driver)
    monkeypatch.setenv("NEO4J_USERNAME", name)
    open_store("bolt://127.0.0.1:7999")
    assert given["auth"] == (user, "kgrec-local-password")


@pytest.mark.parametrize("uri", ["bolt://db.example.com:7687", "neo4j+s://10.0.0.5"])
def test_an_empty_password_is_unset_for_a_remote_host(uri, monkeypatch):
    """NEO4J_PASSWORD= (empty, as an unset variable in a compose or CI file) is unset, as an empty
    NEO4J_USERNAME is: a remote host gets the error asking for the password. Before, the empty
    password was sent to it (and the server's refusal came only when the store was used)."""
    monkeypatch.setenv("NEO4J_PASSWORD", "")
    with pytest.raises(StoreError, match="set NEO4J_PASSWORD"):
        open_store(uri)


def test_an_empty_password_is_the_default_one_on_this_machine(monkeypatch):
    import kgrec.store

    given = {}

    def driver(uri, *, auth, **options):
        given["auth"] = auth
        return object()

    monkeypatch.setattr(kgrec.store.GraphDatabase, "driver", driver)
    monkeypatch.setenv("NEO4J_PASSWORD", "")
    open_store("bolt://127.0.0.1:7999")
    assert given["auth"] == ("neo4j", "kgrec-local-password")


def test_open_store_checks_a_neo4j_uri_once(monkeypatch):
    """open_store checks a Neo4j URI where it reads it, once (before: again in neo4j_driver,
    the same parse twice); neo4j_driver, which the notebooks call, still checks its own."""
    import kgrec.store

    checked = []
    check = kgrec.store._check_neo4j_uri
    monkeypatch.setattr(kgrec.store, "_check_neo4j_uri", lambda uri: checked.append(check(uri)))
    with open_store("bolt://127.0.0.1:7999"):
        pass
    assert len(checked) == 1
    kgrec.store.neo4j_driver("bolt://127.0.0.1:7999").close()
    assert len(checked) == 2
    with pytest.raises(StoreError, match="out of range"):
        kgrec.store.neo4j_driver("bolt://127.0.0.1:99999")


def test_a_store_object_given_for_a_uri_is_a_store_error_naming_its_uri(tmp_path):
    # a notebook's `store = open_store(uri)` passed on as train(store=store), embed_store(store)
    # or run.publish(store): before, an AttributeError ('LocalStore' object has no attribute
    # 'strip' / 'partition')
    store = LocalStore(tmp_path / "graph")
    message = f"pass its URI, 'local:{tmp_path / 'graph'}'"
    for call in (open_store, absolute_uri, neo4j_driver):
        with pytest.raises(StoreError, match="a store is named by its URI") as raised:
            call(store)
        assert message in str(raised.value)
    with pytest.raises(StoreError, match="got PosixPath"):
        open_store(tmp_path)


def _rate_limited():
    """The error Neo4j answers a login with after three wrong ones in a row (a ClientError,
    not an AuthError), for the seconds of dbms.security.auth_lock_time."""
    from neo4j.exceptions import Neo4jError

    return Neo4jError._hydrate_neo4j(
        code="Neo.ClientError.Security.AuthenticationRateLimit",
        message="The client has provided incorrect authentication details too many times in a row.",
    )


def test_a_user_locked_out_after_wrong_passwords_is_told_to_wait(monkeypatch):
    """Before, after three wrong passwords the next login, the right password too, said "Neo4j
    refused connecting: The client has provided incorrect authentication details too many
    times in a row." from a store, and came out of kgrec.notebook.connect() as the driver's
    ClientError: nothing said the lock lasts seconds, so a user who had fixed NEO4J_PASSWORD
    looked for another cause (checked against a real 5.26 server)."""
    from kgrec import notebook

    driver = _driver_of("Neo4j/5.26.0")
    driver.execute_query.side_effect = _rate_limited()
    driver.verify_connectivity.side_effect = _rate_limited()
    with pytest.raises(StoreError) as raised:
        Neo4jStore(driver, uri="bolt://db:7687").check()
    message = str(raised.value)
    assert message.startswith("bolt://db:7687: authentication failed too many times in a row")
    assert "dbms.security.auth_lock_time" in message and "even with the right password" in message
    monkeypatch.setattr(notebook, "neo4j_driver", lambda uri: driver)
    with pytest.raises(StoreError, match="bolt://db:7687: authentication failed too many times"):
        notebook.connect("bolt://db:7687")
