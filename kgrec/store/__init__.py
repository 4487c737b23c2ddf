"""Where the shared graph lives: :class:`LocalStore` (embedded default) or :class:`Neo4jStore`.

:func:`open_store` turns a store URI into a store; it is the only place that reads the
``NEO4J_*`` environment variables and builds a driver.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import ConfigurationError

from kgrec.errors import StoreError
from kgrec.settings import DEFAULT_LOCAL
from kgrec.store.base import GraphStore
from kgrec.store.local import LocalStore
from kgrec.store.neo4j import Neo4jStore

DEFAULT_PASSWORD = "kgrec-local-password"  # the local server's (tools/neo4j) default
NEO4J_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")
# how long opening a connection may take, the Bolt handshake and log-in included (the driver's
# connection acquisition deadline). A live server answers in milliseconds; a port that takes
# the connection and never answers (an HTTP port, another program) took the driver's 60 s.
CONNECT_SECONDS = 20.0
# a URI's scheme, up to its colon (RFC 3986): a store that does not begin so names no scheme
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# a host and port without a scheme (localhost:7687, 127.0.0.1:7687): a Neo4j server, most likely
HOST_PORT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*:[0-9]{1,5}")


def open_store(uri: str | None = None, *, driver: Driver | None = None) -> GraphStore:
    """The store named by ``uri``.

    ``local:PATH`` is a :class:`LocalStore`; ``neo4j://``, ``bolt://`` (and their ``+s`` /
    ``+ssc`` variants) a :class:`Neo4jStore` authenticated with ``NEO4J_USERNAME`` /
    ``NEO4J_PASSWORD`` (default ``neo4j`` / the local server's password, which is only ever sent
    to 127.0.0.1, localhost or ::1) on database ``NEO4J_DATABASE`` (default ``neo4j``).
    Credentials inside the URI are refused (they would show in process lists and messages).
    ``driver`` replaces the driver built from the environment. Without ``uri``: ``NEO4J_URI``
    if set, else ``local:./kgrec-store``; an empty ``uri`` is an error, not the default.
    Opening connects to nothing: ``store.check()`` does.
    """
    if uri is None:
        if not os.environ.get("NEO4J_URI"):
            return open_store(DEFAULT_LOCAL, driver=driver)
        try:  # the error says where the URI came from: no --store was given
            return open_store(os.environ["NEO4J_URI"], driver=driver)
        except StoreError as exc:
            raise StoreError(f"NEO4J_URI: {exc}") from None
    if not _check_text(uri).strip():  # `--store "$STORE"` with STORE unset: not the default store
        raise StoreError(
            f"store {uri!r} is empty: name one, e.g. {DEFAULT_LOCAL} or bolt://HOST:PORT"
        )
    scheme, sep, rest = uri.partition(":")
    if sep and scheme == "local":
        if not rest:
            raise StoreError(f"store {uri!r}: local: needs a folder, e.g. local:./kgrec-store")
        return LocalStore(rest)
    if sep and scheme in NEO4J_SCHEMES and rest.startswith("//"):
        _refuse_credentials(uri)
        _check_neo4j_uri(uri)
        database = default_database()
        if driver is not None:
            return Neo4jStore(driver, database=database, uri=uri)
        return Neo4jStore(_driver(uri), database=database, uri=uri, owns_driver=True)
    known = ", ".join(["local:PATH", *(f"{s}://HOST:PORT" for s in NEO4J_SCHEMES)])
    raise StoreError(f"unknown store {redact(uri)!r}: expected one of {known}{_hint(uri)}")


def _hint(uri: str) -> str:
    """What an unknown store most likely meant: a Neo4j server (:func:`_server_hint`), or a
    path alone (``stores/mine``: a local store's folder); "" for anything else."""
    return _server_hint(uri) or ("" if re.match(SCHEME, uri) else f" (a folder? give local:{uri})")


def _server_hint(uri: str) -> str:
    """What a URI that is no Neo4j URI most likely meant: a server named without its scheme
    (``localhost:7687``), or Neo4j's HTTP address (the browser's ``http://localhost:7474``);
    "" for anything else."""
    if HOST_PORT.fullmatch(uri):
        return f" (a Neo4j server? give bolt://{uri})"
    if uri.lower().startswith(("http://", "https://")):
        return (
            " (kgrec reaches Neo4j over Bolt, not HTTP: give bolt://HOST:PORT with the "
            "server's Bolt port, 7687 by default, not its HTTP port, 7474)"
        )
    return ""


def _check_text(uri: object) -> str:
    """``uri``, a StoreError where it is not text: a store object (from :func:`open_store`)
    given where its URI is asked for (before, an AttributeError), or a path."""
    if not isinstance(uri, str):
        named = getattr(uri, "uri", None)
        hint = f": pass its URI, {named!r}" if isinstance(named, str) else ""
        raise StoreError(
            f"a store is named by its URI (text: {DEFAULT_LOCAL}, bolt://HOST:PORT), got "
            f"{type(uri).__name__}{hint}"
        )
    return uri


def _refuse_credentials(uri: str) -> None:
    """A StoreError for a Neo4j URI with a user name or password in it, never repeating them."""
    # anywhere after the scheme: a "/", "?" or "#" in a password ends the host part before it
    if "@" in uri.partition("://")[2]:
        raise StoreError(
            f"store {redact(uri)!r}: put no user name or password in the store URI (it would "
            "show in process lists and messages); set NEO4J_USERNAME and NEO4J_PASSWORD"
        )


def default_database() -> str:
    """The Neo4j database kgrec reads and writes: ``NEO4J_DATABASE`` (empty is unset), else
    ``neo4j``."""
    return os.environ.get("NEO4J_DATABASE") or "neo4j"


def absolute_uri(uri: str | None) -> str | None:
    """``uri`` with a ``local:`` folder made absolute, so that a run or study that records it
    opens the same store from any working directory; other URIs (and None) as they are."""
    if uri is None:
        return None
    scheme, sep, rest = _check_text(uri).partition(":")
    if sep and scheme == "local" and rest:
        return f"local:{Path(rest).expanduser().resolve()}"
    return uri


def redact(uri: str) -> str:
    """``uri`` with any user name and password in it replaced by ``***``: all that comes
    before its last ``@`` after the scheme (a password may hold a ``/``, and a URI of one
    slash, ``bolt:/user:pw@host``, is no URI to split). A ``local:`` folder is as it is."""
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme == "local" or "@" not in rest:
        return uri
    slashes = rest[: len(rest) - len(rest.lstrip("/"))]
    return f"{scheme}:{slashes}***@{rest.rsplit('@', 1)[1]}"


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _check_neo4j_uri(uri: str) -> None:
    """A StoreError for a Neo4j URI the driver would misread rather than refuse: a port out of
    range (it connects to the port modulo 65536), a host with a space (it connects to the part
    before it), no host (it connects to localhost), or a path or fragment (ignored: a database
    named in the path would not be the one written to)."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad or out-of-range port
    except ValueError as exc:
        raise StoreError(f"store {uri!r}: {exc}") from None
    if not parts.hostname or any(c.isspace() for c in parts.netloc):
        raise StoreError(f"store {uri!r}: expected {parts.scheme}://HOST:PORT")
    if parts.path not in ("", "/") or parts.fragment:
        database = parts.path.strip("/") or "NAME"
        raise StoreError(
            f"store {uri!r}: a store URI is {parts.scheme}://HOST:PORT, without a path; the "
            f"database comes from NEO4J_DATABASE (e.g. NEO4J_DATABASE={database})"
        )


def neo4j_driver(uri: str) -> Driver:
    """A driver for the Neo4j server at ``uri`` (connecting to nothing yet), authenticated as
    :func:`open_store` authenticates: ``NEO4J_USERNAME`` / ``NEO4J_PASSWORD``, the local
    server's default password sent only to this machine. A URI of another scheme, or with a
    user name or password in it, is a StoreError, as in :func:`open_store`."""
    scheme, sep, rest = _check_text(uri).partition(":")
    if not (sep and scheme in NEO4J_SCHEMES and rest.startswith("//")):
        # before, local: was "expected local://HOST:PORT" and http:// went to the driver's
        # preview HTTP client
        known = ", ".join(f"{s}://HOST:PORT" for s in NEO4J_SCHEMES)
        raise StoreError(
            f"{redact(uri)!r} is no Neo4j server's URI: expected one of {known}{_server_hint(uri)}"
        )
    _refuse_credentials(uri)  # before, the driver's error repeated them
    _check_neo4j_uri(uri)
    return _driver(uri)


def _driver(uri: str) -> Driver:
    """:func:`neo4j_driver` for a ``uri`` :func:`_check_neo4j_uri` has checked (open_store's,
    checked where it reads it)."""
    # an empty NEO4J_PASSWORD is unset (as tools/neo4j reads it): the default goes only to this
    # machine, and any other host is the error asking for a password, not an empty one sent
    password = os.environ.get("NEO4J_PASSWORD") or None
    if password is None:
        if urlsplit(uri).hostname not in LOCAL_HOSTS:  # checked: urlsplit reads it
            local = ", ".join(LOCAL_HOSTS)
            raise StoreError(
                f"store {uri!r}: set NEO4J_PASSWORD (and NEO4J_USERNAME if not neo4j); kgrec "
                f"sends its default password only to a server on this machine ({local})"
            )
        password = DEFAULT_PASSWORD
    # an empty NEO4J_USERNAME is unset, as an empty NEO4J_URI or NEO4J_DATABASE is
    auth = (os.environ.get("NEO4J_USERNAME") or "neo4j", password)
    try:
        return GraphDatabase.driver(
            uri,
            auth=auth,
            notifications_min_severity="OFF",
            connection_acquisition_timeout=CONNECT_SECONDS,
        )
    except (ConfigurationError, ValueError) as exc:
        raise StoreError(f"store {uri!r}: {exc}") from exc


__all__ = [
    "GraphStore",
    "LocalStore",
    "Neo4jStore",
    "absolute_uri",
    "default_database",
    "neo4j_driver",
    "open_store",
]
