"""Small helpers for Jupyter: Cypher into DataFrames, and a user's neighbourhood drawn.

>>> from kgrec.notebook import connect, cypher, neighbourhood
>>> driver = connect()                             # $NEO4J_URI, else the local server
>>> cypher(driver, "MATCH (u:User) RETURN u.user_id AS user LIMIT $n", n=5)
>>> cypher(driver, "RETURN $database AS name", {"database": "x"})  # any name, as a mapping
>>> neighbourhood(driver, "196").render()          # neo4j-viz, interactive in the notebook
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
from neo4j import Driver, Result, RoutingControl
from neo4j.exceptions import DriverError, Neo4jError, ServiceUnavailable, SessionExpired

from graph_schema.errors import InputError
from graph_schema.tables import item_titles
from graph_schema.validate import count_argument, id_argument
from kgrec.errors import StoreError
from kgrec.settings import local_neo4j, neo4j_uri
from kgrec.store import default_database, neo4j_driver
from kgrec.store.canonical import given_run_name
from kgrec.store.neo4j import (
    DATABASE_NOT_FOUND,
    auth_refused,
    driver_reason,
    no_database,
    not_bolt,
)
from kgrec.store.queries import NEIGHBOURHOOD, PUBLISHED_RUNS


def connect(uri: str | None = None) -> Driver:
    """A driver for the Neo4j server at ``uri`` (default ``$NEO4J_URI``, else the local server
    ``make neo4j-start`` runs: :func:`~kgrec.settings.local_neo4j`), authenticated as kgrec's
    stores are (``NEO4J_USERNAME`` and ``NEO4J_PASSWORD``; the local server's default password
    is sent only to this machine), its connection checked: a server that cannot be reached or
    refuses the credentials is a :class:`~kgrec.errors.StoreError` saying so. A blank ``uri``
    is an error, not the default (as in :func:`~kgrec.store.open_store`)."""
    if isinstance(uri, str) and not uri.strip():
        raise StoreError(
            f"uri {uri!r} is empty: name a server (bolt://HOST:PORT), or give none for "
            f"$NEO4J_URI, else {local_neo4j()}"
        )
    uri = uri or neo4j_uri()
    driver = neo4j_driver(uri)
    try:
        _check(driver, f"{uri}: ")
    except StoreError:
        driver.close()
        raise
    return driver


def _check(driver: Driver, where: str = "") -> None:
    """A server that cannot be reached, or refuses the credentials, as a StoreError saying so."""
    try:
        driver.verify_connectivity()
    except Neo4jError as exc:  # AuthError among them
        refused = auth_refused(where, exc)
        if refused is None:
            raise
        raise refused from exc
    except DriverError as exc:  # ServiceUnavailable, or a server that answers no Bolt
        raise _unreachable(exc, where) from exc


def _unreachable(exc: Exception, where: str) -> StoreError:
    hint = not_bolt(exc) or "; is the server running (make neo4j-start for the local one)?"
    return StoreError(f"{where}Neo4j is unreachable or went away ({driver_reason(exc)}){hint}")


@contextlib.contextmanager
def _reached(driver: Driver, database: str | None) -> Iterator[str]:
    """The server checked before a query on ``database`` (None: the default one, which this
    yields), and lost during it, as StoreErrors; so is a database the server does not have,
    as kgrec's stores say it. A server gone away fails the check at once; without it
    ``execute_query`` retries for about a minute before giving up (the check costs a fraction
    of a millisecond on a live connection)."""
    _check(driver)
    named = database or default_database()
    try:
        yield named
    except (ServiceUnavailable, SessionExpired) as exc:
        raise _unreachable(exc, "") from exc
    except Neo4jError as exc:  # before, the driver's "Graph not found: x"
        if exc.code != DATABASE_NOT_FOUND:
            raise
        by = "NEO4J_DATABASE" if database is None else "the database argument"
        raise no_database("", named, exc, named_by=by) from exc


def cypher(
    driver: Driver,
    query: str,
    parameters: Mapping[str, Any] | None = None,
    /,
    *,
    database: str | None = None,
    **keywords: Any,
) -> pd.DataFrame:
    """Run a read query (values as ``$parameters``) and return the rows as a DataFrame.

    The values come as keywords, or as a mapping (for a ``$database`` parameter, whose keyword
    names the database), or both. ``database`` defaults to the one kgrec's stores use:
    ``NEO4J_DATABASE``, else ``neo4j``.
    """
    values = dict(parameters or {})
    both = sorted(values.keys() & keywords.keys())
    if both:
        raise InputError(
            f"parameter {both[0]!r} given twice, in the mapping and as a keyword",
            field=both[0],
        )
    with _reached(driver, database) as named:
        return driver.execute_query(
            query,
            parameters_={**values, **keywords},
            database_=named,
            routing_=RoutingControl.READ,
            result_transformer_=Result.to_df,
        )


def neighbourhood(
    driver: Driver,
    user_id: str,
    *,
    run: str | None = None,
    limit: int = 25,
    database: str | None = None,
):
    """A neo4j-viz ``VisualizationGraph`` of the user's neighbourhood (coloured by label).

    Call ``.render()`` on it in a notebook. ``run`` (a published run's name; default: every
    run's recommendations) is read as a publish reads it, trimmed; a run the database holds
    no recommendation of is an :class:`~graph_schema.errors.InputError` naming the runs it
    holds. ``limit``, a positive integer (at most 2**63 - 1), caps each kind of path.
    ``user_id`` is read as the rest of the Python API reads an id: trimmed, an integer as its
    digits. ``database`` defaults as :func:`cypher`'s does.
    """
    from neo4j_viz.neo4j import from_neo4j

    user_id = id_argument(user_id, "user_id")
    # before any query (LIMIT 0 would draw nothing, told as a user without interactions); a
    # numpy integer is the number it holds; past 2**63 - 1, the driver's OverflowError
    limit = count_argument(limit, "limit", "limit must be a positive integer")
    if run is not None:  # as a publish names it (stripped, never blank); "" matched no run
        run = given_run_name(run)  # a staged publish's name: no run's

    with _reached(driver, database) as named:
        graph = driver.execute_query(
            NEIGHBOURHOOD,
            parameters_={"user_id": user_id, "run": run, "limit": limit},
            database_=named,
            routing_=RoutingControl.READ,
            result_transformer_=Result.graph,
        )
        if not graph.nodes:
            raise InputError(  # absent, or a user node with nothing to show (from a user file)
                f"user {user_id!r} has no interactions or recommendations in the graph",
                field="user_id",
            )
        if run is not None and not any(r.type == "RECOMMENDED" for r in graph.relationships):
            # a run of no edge at all (a misspelt name) drew the history alone, as if the
            # user had no recommendation of it
            runs = driver.execute_query(
                PUBLISHED_RUNS, database_=named, routing_=RoutingControl.READ
            ).records
            published = [record["run"] for record in runs]
            if run not in published:
                raise InputError(
                    f"no run {run!r} is published in database {named!r} (published: "
                    f"{', '.join(map(repr, published)) or 'none; kgrec recommend publishes one'})",
                    field="run",
                )
    view = from_neo4j(graph)
    for node in view.nodes:
        node.caption = _caption(node.properties)
    return view


def _caption(props: Mapping[str, Any]) -> str:
    """What a node of :func:`neighbourhood` is drawn as: an item as explanations label it
    (:func:`~graph_schema.tables.item_titles`: its title, else its text ``name``, else its
    uid; before, an item tied to an entity was drawn by that entity's id, and one with
    neither by nothing); another node by its name, else its id."""
    if "Item" in props["labels"]:
        return item_titles(pd.DataFrame([props]), [props["uid"]])[0] or str(props["uid"])
    return str(props.get("name") or props.get("entity_id") or props.get("user_id") or "")
