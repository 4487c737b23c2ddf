"""Neo4jStore: the shared graph in Neo4j 5 over Bolt, through the official driver.

Writes are chunked ``UNWIND $rows AS row ...`` statements (nodes by ``MERGE``, relationships by
``MERGE`` or guarded ``CREATE``, see :mod:`.queries`), one managed transaction per chunk
(``driver.execute_query``, which retries transient errors). Every chunk is complete in itself
and every statement is idempotent, so a write that stops half-way (Neo4j went away) is finished
by running the same write again, without duplicates.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from neo4j import Driver, Result, RoutingControl, Session
from neo4j.exceptions import (
    AuthError,
    ConstraintError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)
from tqdm import tqdm

from graph_schema import schema_statements
from graph_schema.merge import as_attribute, column_type, value_kinds
from graph_schema.tables import (
    DOMAINS,
    ENTITIES,
    INTERACTIONS,
    ITEMS,
    KNOWLEDGE,
    RECOMMENDATIONS,
    SPECS,
    USERS,
    GraphTables,
    TableSpec,
    empty,
)
from graph_schema.validate import id_argument, id_arguments
from kgrec.errors import KgrecError, StoreError
from kgrec.explain import check_k, paths_table, unknown_ends_error
from kgrec.files import process_runs
from kgrec.store import queries as q
from kgrec.store.base import READ_ATTEMPTS, GraphStore, read_unchanged
from kgrec.store.canonical import (
    NODE_TABLES,
    attach_to_items,
    check_attributes_against_vectors,
    check_cleared,
    check_entity_ties,
    check_publish_not_text,
    check_publish_property,
    check_publish_users,
    checked_vectors,
    has_attributes,
    linked_items,
    make_stats,
    node_kind,
    prepare,
    publish_record,
    recommendation_table,
    referenced_items,
    run_argument,
    stored_form,
    unknown_keys_error,
    unvectored_users,
    warn_names_of_items,
    warn_names_tied,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# The schema version of a (:KgrecVectors) record (since session 31): 2 for a publish's run
# record, 1 for a text model's, and this kgrec refuses a newer one ("upgrade kgrec"), as a
# LocalStore's manifest says the same of its records. A kgrec before session 31 reads no
# version: one of sessions 26 to 28 takes a run record for a text model's without a name.
# A record without one is an older kgrec's: read as it is.
VECTOR_RECORD_VERSION = 2
MODEL_RECORD_VERSION = 1
# the server's code for a query on a database it does not have (NEO4J_DATABASE misspelt)
DATABASE_NOT_FOUND = "Neo.ClientError.Database.DatabaseNotFound"
# the server's refusal of a user after too many wrong credentials in a row (not an AuthError)
AUTH_RATE_LIMIT = "Neo.ClientError.Security.AuthenticationRateLimit"


def auth_refused(where: str, exc: Exception) -> StoreError | None:
    """The StoreError of a server that refused the credentials (``where``: the URI and ": "),
    None for another error. After wrong credentials three times in a row (Neo4j's
    ``dbms.security.auth_max_failed_attempts``) the server refuses the user for a while
    (``dbms.security.auth_lock_time``, 5 s by default), the right password too: said so, as a
    user who has just fixed NEO4J_PASSWORD would otherwise look for another cause."""
    if isinstance(exc, AuthError):
        return StoreError(
            f"{where}authentication failed ({exc.message}); check NEO4J_USERNAME and NEO4J_PASSWORD"
        )
    if isinstance(exc, Neo4jError) and exc.code == AUTH_RATE_LIMIT:
        return StoreError(
            f"{where}authentication failed too many times in a row ({exc.message}): Neo4j "
            "refuses the user for a while (dbms.security.auth_lock_time, 5 s by default), "
            "even with the right password; check NEO4J_USERNAME and NEO4J_PASSWORD, then run "
            "again after that"
        )
    return None


# The oldest Neo4j kgrec runs on: the version it is tested with. Its statements use CALL (x)
# { } subqueries (Neo4j 5.23), which an older server refuses as a syntax error, one of them
# only once a load has written part of the graph (its nodes, before their relationships).
OLDEST_SERVER = (5, 26)


def server_version(agent: object) -> tuple[int, int] | None:
    """The (major, minor) version in a server's agent string (``Neo4j/5.26.30``,
    ``Neo4j/2025.01.0``); None where it names no Neo4j version (another server of Bolt)."""
    found = re.match(r"Neo4j/(\d+)\.(\d+)", agent) if isinstance(agent, str) else None
    return (int(found[1]), int(found[2])) if found else None


def no_database(
    where: str, database: str | None, exc: Neo4jError, *, named_by: str = "NEO4J_DATABASE"
) -> StoreError:
    """The error of a query on a database the server does not have (``exc``, of code
    :data:`DATABASE_NOT_FOUND`: "Graph not found: x"), naming it and what named it
    (``named_by``: the setting, or an argument); ``where``: the message's prefix (the URI)."""
    default = " (default 'neo4j')" if named_by == "NEO4J_DATABASE" else ""
    return StoreError(
        f"{where}the server has no database {database!r} ({exc.message}); kgrec uses the "
        f"database {named_by} names{default}: set it to one the server has (SHOW DATABASES), "
        "or create that database"
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every error under it: its causes and contexts, and the members of an
    exception group (a ``neo4j://`` URI's "Unable to retrieve routing information" holds the
    failure of each router it tried so)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        error = stack.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        if isinstance(error, BaseExceptionGroup):
            stack.extend(reversed(error.exceptions))
        stack.extend([error.__context__, error.__cause__])


def driver_reason(exc: Exception) -> str:
    """A driver error's text for kgrec's messages: its own, and where that hides why the
    server was not reached (a ``neo4j://`` URI's "Unable to retrieve routing information"),
    the first router's failure in the exception group under it (connection refused, no Bolt
    handshake)."""
    text = str(exc)
    for error in _causes(exc):
        if isinstance(error, BaseExceptionGroup):
            for member in error.exceptions:
                if str(member) and str(member) not in text:
                    return f"{text}: {member}"
    return text


def not_bolt(exc: Exception) -> str:
    """A sentence for a driver error that says the port took the connection but answered no
    Bolt handshake (silent, or as an HTTP server): a port of another program, Neo4j's HTTP port
    (7474) given for its Bolt port, say; "" for any other error. Read through the error's
    causes: with a ``neo4j://`` URI the handshake's failure lies under the routing error."""
    if not any(
        "Bolt handshake" in str(error) or "looks like HTTP" in str(error) for error in _causes(exc)
    ):
        return ""
    return (
        "; the port took the connection but did not answer as Neo4j's Bolt server: is it "
        "the Bolt port (7687 by default), not the HTTP port (7474) or another program's?"
    )


class Neo4jStore(GraphStore):
    """The shared graph in the Neo4j database ``database`` reached through ``driver``.

    ``batch_size`` is the number of rows (for interactions: of relationships) per transaction.
    A publish of more than ``publish_transaction_rows`` recommendations (or more than
    ``vector_transaction_values`` vector values), or that replaces more than
    ``publish_transaction_rows`` stored ones, is staged in such transactions instead of
    being one (see :meth:`publish`), and so is a replacement of more than
    ``vector_transaction_values`` vector values (see :meth:`replace_vectors`).
    The store closes the driver on :meth:`close` only when ``owns_driver`` is set.
    """

    def __init__(
        self,
        driver: Driver,
        *,
        database: str | None = "neo4j",
        uri: str = "neo4j",
        batch_size: int = 20_000,
        publish_transaction_rows: int = 200_000,
        vector_transaction_values: int = 20_000_000,
        owns_driver: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if publish_transaction_rows < 1:
            raise ValueError(
                f"publish_transaction_rows must be positive, got {publish_transaction_rows}"
            )
        self.driver, self.database, self.uri = driver, database, uri
        self.batch_size, self.owns_driver = batch_size, owns_driver
        self.publish_transaction_rows = publish_transaction_rows
        self.vector_transaction_values = vector_transaction_values
        self._schema_applied = self._connected = False
        self._token: str | None = None  # the load lock's token while this object holds it

    def close(self) -> None:
        if self.owns_driver:
            self.driver.close()

    # -- plumbing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Driver errors as StoreErrors that say what failed and what to do."""
        try:
            yield
        except (ServiceUnavailable, SessionExpired) as exc:
            raise StoreError(
                f"{self.uri}: Neo4j is unreachable or went away while {action} "
                f"({driver_reason(exc)}){not_bolt(exc)}"
            ) from exc
        except TransientError as exc:  # still failing when the driver's retries ran out
            raise StoreError(
                f"{self.uri}: Neo4j stayed unavailable or busy while {action} ({exc.message})"
            ) from exc
        except Neo4jError as exc:
            refused = auth_refused(f"{self.uri}: ", exc)
            if refused is not None:
                raise refused from exc
            if exc.code == DATABASE_NOT_FOUND:  # before, "refused ...: Graph not found: x"
                raise no_database(f"{self.uri}: ", self.database, exc) from exc
            raise StoreError(f"{self.uri}: Neo4j refused {action}: {exc.message}") from exc
        except DriverError as exc:
            raise StoreError(f"{self.uri}: {action} failed: {exc}") from exc

    def _connect(self) -> None:
        """Fail fast when the server cannot be reached at all (instead of retrying for 30 s),
        or is a Neo4j older than :data:`OLDEST_SERVER`, before anything is read or written."""
        if not self._connected:
            with self._errors("connecting"):
                info = self.driver.get_server_info()  # connects, as verify_connectivity
            agent = getattr(info, "agent", None)
            version = server_version(agent)
            if version is not None and version < OLDEST_SERVER:
                oldest = ".".join(map(str, OLDEST_SERVER))
                raise StoreError(
                    f"{self.uri}: the server is {agent}; kgrec needs Neo4j {oldest} or newer, "
                    "the version it is tested with (its Cypher uses CALL (x) { } subqueries, "
                    "which a server before 5.23 refuses): upgrade the server, or use another"
                )
            self._connected = True

    def _run(self, query: str, *, read: bool = False, **parameters: Any) -> list[dict]:
        records = self.driver.execute_query(
            query,
            parameters_=parameters,
            database_=self.database,
            routing_=RoutingControl.READ if read else RoutingControl.WRITE,
        ).records
        return [r.data() for r in records]

    def _frame(self, query: str, **parameters: Any) -> pd.DataFrame:
        return self.driver.execute_query(
            query,
            parameters_=parameters,
            database_=self.database,
            routing_=RoutingControl.READ,
            result_transformer_=Result.to_df,
        )

    def _apply_schema(self) -> None:
        if not self._schema_applied:
            for statement in [*schema_statements(), q.LOCK_CONSTRAINT, q.VECTOR_MODEL_CONSTRAINT]:
                self._run(statement)
            self._schema_applied = True

    def _missing(self, kind: str, keys: Sequence[str]) -> list[str]:
        return [r["key"] for r in self._run(q.MISSING_KEYS[kind], read=True, keys=list(keys))]

    # -- writing ---------------------------------------------------------------------------

    def check(self) -> None:
        """Connected and authenticated; and no other load holds the database's load lock now
        (so a load that would be refused is refused before it parses its files)."""
        self._connect()
        with self._errors("reading the load lock"):
            holder = self._lock_holder()
        if holder is not None and not _dead(holder):
            raise _locked_error(self.uri, self.database, holder)

    def check_write(
        self,
        graph: GraphTables,
        *,
        clear: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        self._connect()
        self._checked(prepare(graph), clear)  # reads only

    def write(
        self,
        graph: GraphTables,
        *,
        progress: bool = True,
        clear: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> dict[str, int]:
        self._connect()
        start = time.perf_counter()
        batch = prepare(graph)
        with self._errors("applying graph_schema/schema.cypher"):
            self._apply_schema()
        with self._load_lock():
            # checked under the lock: no writer changes what they read before this writes
            # (an embed's vectors of a property the load names as an attribute, a tie)
            batch, cleared = self._checked(batch, clear)
            self._changes_graph()
            try:
                self._write_batch(batch, progress, cleared)
            except KeyboardInterrupt:
                log.error(
                    "%s: interrupted: the graph is partial (what was written so far is "
                    "committed); run the same command again to finish it",
                    self.uri,
                )
                raise
            except KgrecError:  # a driver's error, as a StoreError that says what to do
                raise
            except Exception as exc:  # any other error mid-load: the graph is partial too
                log.debug("the error that stopped the load", exc_info=True)
                raise StoreError(
                    f"{self.uri}: the load stopped ({type(exc).__name__}: {exc}); the graph is "
                    "partial (what was written so far is committed): run the same command again "
                    "to finish it (if it stops the same way, that is a kgrec bug: run it with -v "
                    "for the traceback and report it)"
                ) from exc
        written = {name: len(df) for name, df in batch.tables().items()}
        log.info(
            "wrote %s to %s in %.1f s",
            ", ".join(f"{n} {name}" for name, n in written.items()),
            self.uri,
            time.perf_counter() - start,
        )
        return written

    def _checked(
        self, batch: GraphTables, clear: Mapping[str, Mapping[str, Sequence[str]]] | None
    ) -> tuple[GraphTables, dict[str, dict[str, list[str]]]]:
        """``batch`` (prepared) checked against the graph as :meth:`write` checks it, reading
        only, with its knowledge attached to the items its entities are; and ``clear`` checked
        (:func:`~kgrec.store.canonical.check_cleared`)."""
        # items named and held by neither, first, as LocalStore checks them: a load that also
        # ties an entity the store ties to another item is refused for the same reason by both
        with self._errors("checking the items the load names"):
            unknown = self._missing("Item", referenced_items(batch))
        if unknown:
            raise unknown_keys_error("Item", unknown, "interactions or knowledge rows")
        # the stored items tied to the load's entities and to its items' entities, and the
        # load's tied items as the store ties them, in one read: the latter two to check the
        # ties, the first to attach the load's knowledge to them
        keys = set(batch.entities["entity_id"]) | set(batch.items["entity_id"].dropna())
        uids = set(batch.items.loc[batch.items["entity_id"].notna(), "uid"])
        with self._errors("reading the items tied to the load's entities"):
            found = (
                self._run(q.LINKED_ITEMS, read=True, keys=sorted(keys), uids=sorted(uids))
                if keys
                else []
            )
        check_entity_ties(
            batch.items,
            pd.DataFrame(
                {"uid": [r["uid"] for r in found], "entity_id": [r["entity"] for r in found]}
            ),
        )
        # the load's own ties override the stored ones of their entities
        new_ties = linked_items(batch.items)
        retied = set(new_ties.to_numpy())  # items the batch ties (again: the same entity)
        item_of = {r["entity"]: r["uid"] for r in found if r["uid"] not in retied}
        item_of |= new_ties.to_dict()
        item_of_entity = pd.Series(item_of, dtype=object)
        entities = batch.entities
        batch, gone = attach_to_items(batch, item_of_entity)
        warn_names_of_items(entities, item_of_entity, gone)
        if len(new_ties):  # the names its ties take from the store
            with self._errors("reading the names of the entities the load ties to items"):
                held = self._frame(q.ENTITY_NAMES, keys=sorted(new_ties.index))
            warn_names_tied(held, new_ties)
        with self._errors("reading the properties that hold vectors"):
            vectors = self._vector_properties() if has_attributes(batch) or clear else {}
        check_attributes_against_vectors(batch, vectors)
        return batch, check_cleared(batch, clear, vectors)

    def _write_batch(
        self, batch: GraphTables, progress: bool, cleared: dict[str, dict[str, list[str]]]
    ) -> None:
        for table, kind in (("users", "User"), ("entities", "Entity"), ("items", "Item")):
            setattr(batch, table, self._unify_attribute_types(kind, getattr(batch, table)))
        phases: list[tuple[str, str, list[dict]]] = [
            ("domains", q.MERGE_DOMAINS, _node_rows(batch.domains, "domain")),
            ("users", q.MERGE_USERS, _node_rows(batch.users, "user_id", cleared.get("User"))),
            ("entities", q.MERGE_ENTITIES, _node_rows(batch.entities, "entity_id")),
            ("items", q.MERGE_ITEMS, _node_rows(batch.items, "uid", cleared.get("Item"))),
        ]
        for name, query, rows in phases:
            self._write_chunks(name, query, _chunks(rows, self.batch_size), len(rows), progress)
        self._write_fan_out(
            "interactions",
            _FanOutChunks(
                batch.interactions, "user_id", "item_uid", ["rating", "timestamp"], self.batch_size
            ),
            q.WRITE_INTERACTIONS,
            progress,
        )
        links = linked_items(batch.items)
        rows = [{"entity": e, "uid": u} for e, u in zip(links.index, links, strict=True)]
        self._write_chunks(
            "entities tied to items",
            q.ATTACH_TO_ITEMS,
            _chunks(rows, self.batch_size),
            len(rows),
            progress,
        )
        knowledge = batch.knowledge
        for (head, tail), query in q.WRITE_KNOWLEDGE.items():
            part = knowledge[(knowledge["head_kind"] == head) & (knowledge["tail_kind"] == tail)]
            self._write_fan_out(
                f"knowledge {head}->{tail}",
                _FanOutChunks(part, "head_key", "tail_key", ["relation"], self.batch_size),
                query,
                progress,
            )

    def _unify_attribute_types(self, kind: str, table: pd.DataFrame) -> pd.DataFrame:
        """Apply the merge rule of :mod:`graph_schema.merge` across this load and the graph (the
        nodes whose values the load replaces left out, as when the local store merges): an
        attribute that is a list in either becomes lists in both, and one that holds text in
        either, or booleans in one and numbers in the other, becomes text in both, the stored
        values rewritten where the rule changes them. Returns the load's table."""
        table_name, key = NODE_TABLES[kind]
        known = {c.name for c in SPECS[table_name].columns}
        names = [n for n in table.columns if n not in known and table[n].notna().any()]
        if not names:
            return table
        # the nodes whose value this load replaces do not count: their type goes with them
        columns = [{"name": n, "keys": table[key][table[n].notna()].tolist()} for n in names]
        with self._errors(f"reading the types of {kind} attributes"):
            every = self._run(q.PROPERTY_TYPES[kind], read=True, names=names)
            replaced = self._run(q.KEYS_PROPERTY_TYPES[kind], read=True, columns=columns)
        gone = {r["name"]: r for r in replaced}
        stored = {r["name"]: {c: r[c] - gone[r["name"]][c] for c in q.VALUE_COUNTS} for r in every}
        columns = {}
        for name in names:
            there = stored[name]
            lists, text = column_type(value_kinds(table[name]) | _stored_kinds(there))
            columns[name] = as_attribute(table[name], lists=lists, text=text)
            # the stored values the rule changes: single values, where the column holds lists;
            # numbers and lists of numbers, where it holds text (UNTYPED_VALUES reads them)
            changed = lists * (there["text"] + there["other"]) + text * (
                there["other"] + there["lists"] - there["text_lists"]
            )
            if not changed:
                continue
            with self._errors(f"rewriting {kind}.{name} by the merge rule"):
                found = self._run(
                    q.UNTYPED_VALUES[kind], read=True, name=name, lists=lists, text=text
                )
                values = as_attribute(
                    pd.Series([r["value"] for r in found], dtype=object), lists=lists, text=text
                )
                rows = [
                    {"key": r["key"], "props": {name: value}}
                    for r, value in zip(found, values, strict=True)
                ]
                for chunk in _chunks(rows, self.batch_size):
                    self._run(q.SET_PROPERTIES[kind], rows=chunk)
            log.info(
                "%s: %s.%s holds %s now: %d values rewritten",
                self.uri,
                kind,
                name,
                "lists" if lists else "text",
                len(rows),
            )
        return table.assign(**columns)

    def _write_fan_out(self, name: str, chunks: _FanOutChunks, query: str, progress: bool) -> None:
        """Write fan-out rows (see :mod:`.queries`) by ``query``, a chunk per transaction."""
        self._write_chunks(
            name,
            query,
            chunks,
            chunks.total,
            progress,
            size=_fan_out_size,
            parameters=_end_positions,
        )

    # -- one load at a time ----------------------------------------------------------------

    @contextlib.contextmanager
    def _load_lock(self) -> Iterator[None]:
        """Hold the database's load lock for the block; released however the block ends (an
        error, Ctrl-C). A second load meanwhile is refused, naming this one. Within a block of
        this object's that holds it already (a publish in ``Run.publish``'s), the block simply
        runs."""
        if self._token is not None:
            yield
            return
        holder = {
            "token": uuid.uuid4().hex,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pid_namespace": _pid_namespace(),
            "command": _lock_command(sys.argv),
        }
        self._take_lock(holder)
        _HELD.add(holder["token"])
        self._token = holder["token"]
        try:
            yield
        finally:
            self._token = None
            _HELD.discard(holder["token"])
            try:
                self._run(q.UNLOCK_LOAD, token=holder["token"])
            except (DriverError, Neo4jError) as exc:
                log.warning(
                    "%s: could not release the load lock (%s); the next load on this machine "
                    "clears it once this process has ended (or this process's next load), or "
                    "clear it with: kgrec graph unlock --store %s",
                    self.uri,
                    exc,
                    self.uri,
                )

    def load_lock(self) -> contextlib.AbstractContextManager[None]:
        self._connect()
        with self._errors("applying graph_schema/schema.cypher"):
            self._apply_schema()  # the lock's uniqueness constraint
        return self._load_lock()

    def _take_lock(self, holder: dict[str, Any]) -> None:
        for attempt in range(3):
            with self._errors("taking the load lock"):
                try:
                    self._run(q.LOCK_LOAD, **holder)
                    return
                except ConstraintError:
                    pass  # held: by whom?
                current = self._lock_holder()
            if current is None:
                continue  # released meanwhile: try again
            if attempt == 0 and _dead(current):
                log.warning(
                    "%s: clearing the load lock of a writer that died "
                    "(host %s, pid %s, started %s)",
                    self.uri,
                    current["host"],
                    current["pid"],
                    current["started"],
                )
                with self._errors("clearing a dead load's lock"):
                    self._run(q.UNLOCK_LOAD, token=current["token"])
                continue
            raise _locked_error(self.uri, self.database, current)
        raise StoreError(f"{self.uri}: could not take the load lock; try again")

    def _changes_graph(self) -> None:
        """Say in the load lock this object holds that its holder changes what a whole-graph
        read gives (:meth:`read_as_one`), before it does: a read meanwhile is refused."""
        if self._token is not None:
            with self._errors("marking the load lock as a graph writer's"):
                self._run(q.MARK_GRAPH_WRITE, token=self._token)

    def _lock_holder(self) -> dict[str, Any] | None:
        found = self._run(q.LOCK_HOLDER, read=True)
        return found[0] if found else None

    def break_lock(self) -> dict[str, Any] | None:
        self._connect()
        with self._errors("clearing the load lock"):
            holder = self._lock_holder()
            if holder is not None:  # that lock only: a writer that took it since keeps it
                self._run(q.UNLOCK_LOAD, token=holder["token"])
        return holder

    def _write_chunks(
        self,
        name: str,
        query: str,
        chunks: Sequence[list[dict]],
        total: int,
        progress: bool,
        size: Callable[[dict], int] = lambda row: 1,
        parameters: Callable[[list[dict]], dict[str, Any]] = lambda chunk: {"rows": chunk},
        unit: str = "rows",
        again: str = "run the same write again to finish it",
    ) -> None:
        """``total`` ``unit`` (``size`` of each row) by ``query``, a chunk per transaction; an
        error says how many are committed, and ``again``: what finishes the write."""
        if not total:
            return
        start = time.perf_counter()
        done = 0
        with tqdm(total=total, desc=name, unit=unit, disable=not progress) as bar:
            for i, chunk in enumerate(chunks, 1):
                with self._errors(
                    f"writing {name} (chunk {i} of {len(chunks)}; the {i - 1} before it, "
                    f"{done} of the {total} {unit}, are committed: {again})"
                ):
                    self._run(query, **parameters(chunk))
                written = sum(size(row) for row in chunk)
                done += written
                bar.update(written)
        log.debug("%s: %d %s in %.1f s", name, total, unit, time.perf_counter() - start)

    def write_vectors(
        self, kind: str, keys: list[str], vectors: np.ndarray, *, property: str
    ) -> None:
        ((keys, matrix),) = checked_vectors({kind: (keys, vectors)}, property).values()
        with self.load_lock():  # no load, embed or publish writes between check and write
            self._write_vectors(kind, keys, matrix, property)

    def _write_vectors(self, kind: str, keys: list[str], matrix: np.ndarray, property: str) -> None:
        self._connect()
        with self._errors(f"writing {kind} vectors"):
            missing = self._missing(kind, keys)
            if missing:
                raise unknown_keys_error(kind, missing, "vectors")
            if not keys:  # nothing to write: no index of vectors there are not (as LocalStore)
                self.check_vectors(kind, property, None)
                return
            self.check_vectors(kind, property, matrix.shape[1])
            self._make_vector_index(kind, property, int(matrix.shape[1]))
        self._write_chunks(  # SET: a vector written again is the same
            f"{kind} vectors",
            q.SET_VECTORS[kind],
            self._vector_chunks(keys, matrix),
            len(keys),
            progress=False,
            parameters=lambda chunk: {"rows": chunk, "property": property},
            unit="vectors",
            again="writing the same vectors again finishes it",
        )
        name = q.vector_index_name(kind, property)
        try:  # queries right after this write see a complete index
            with self._errors(f"waiting for the vector index {name!r} to come online"):
                self._run(q.AWAIT_INDEX, name=name)
        except StoreError as exc:  # the vectors are committed: not a failed write
            raise _IndexNotOnline(
                f"{exc}; the {kind} vectors {property!r} are written, but vector queries may "
                f"miss some of them until the index {name!r} is online (SHOW VECTOR INDEXES): "
                "write them again to wait for it",
                failure=str(exc),
            ) from exc

    def _vector_chunks(self, keys: Sequence[str], matrix: np.ndarray) -> list[list[dict]]:
        """``SET_VECTORS``'s rows for ``keys`` and their ``matrix`` rows, in chunks of a tenth
        of ``batch_size`` (a vector is hundreds of values)."""
        rows = [{"key": k, "vector": v} for k, v in zip(keys, matrix.tolist(), strict=True)]
        return _chunks(rows, max(1, self.batch_size // 10))

    def replace_vectors(
        self,
        vectors: Mapping[str, tuple[Sequence[str], np.ndarray]],
        *,
        property: str,
        model: Mapping[str, str] | None = None,
    ) -> dict[str, int]:
        """Up to ``vector_transaction_values`` values (rows times dimension, over all kinds)
        this is one transaction: every kind is replaced or none. A larger replacement is
        staged: the vectors are written in chunks under another property
        (:func:`~kgrec.store.queries.staging_property`, which no reader asks for; if writing
        them fails they are removed and nothing changed), then swapped in, in batches. While
        that swap runs (seconds) a reader may see the vectors partly replaced; if it fails,
        running the same replacement again finishes it. ``model`` goes to the property's
        ``(:KgrecVectors)`` node: in the transaction, or after the swap; before the swap the
        node is made true of the vectors however far the swap goes (:func:`_swapping_record`),
        so a swap, or a record after it, that fails never leaves the old model's record on the
        new vectors. Without ``model`` the node goes (in the transaction, or before the swap).
        The vector indexes are made after the vectors are written (Neo4j makes none in a
        transaction that writes): if that fails, the error says the vectors are written and
        what makes the indexes."""
        checked = checked_vectors(vectors, property)
        with self.load_lock():  # no load, publish or other embed writes between check and write
            return self._replace_vectors(checked, property, model)

    def _replace_vectors(
        self,
        checked: dict[str, tuple[list[str], np.ndarray]],
        property: str,
        model: Mapping[str, str] | None,
    ) -> dict[str, int]:
        record = (
            None
            if model is None
            else {
                "name": str(model["name"]),
                "identity": str(model["identity"]),
                "templates": None if model.get("templates") is None else str(model["templates"]),
                "interactions": (
                    None if model.get("interactions") is None else str(model["interactions"])
                ),
            }
        )
        self._connect()
        if record is not None and self._holds_already(checked, property, record):
            return dict.fromkeys(checked, 0)  # an embed run again writes nothing, as LocalStore
        if record is not None:
            with self._errors("applying graph_schema/schema.cypher"):
                self._apply_schema()
        with self._errors(f"writing the vectors of {', '.join(checked)}"):
            before, changed = self._check_replacement(checked, property)
            if _indexed_after(checked, before, changed):
                self._changes_graph()
            staged = _values(checked) > self.vector_transaction_values
            if not staged:
                dropped = self._replace_vectors_at_once(checked, property, record)
            else:
                dropped = self._replace_vectors_staged(checked, property, model=record)
        written = f"the vectors of {', '.join(checked)} are written"
        unrecorded, said = None, written
        if staged and record is not None:  # after the vectors: never a model they are not of
            try:
                with self._errors(f"recording the text model of the vectors {property!r}"):
                    self._run(q.RECORD_VECTOR_MODEL, **_model_parameters(property, record))
            except StoreError as exc:  # their index is still made
                unrecorded = exc
                said = (
                    f"{written} (not the record of their text model {record['name']}: the same "
                    "embed again writes it)"
                )
                written += f", but not the record of their text model {record['name']}"
        self._index_published(checked, property, before, changed, said, again="embed")
        if unrecorded is not None:
            raise StoreError(
                f"{unrecorded}; {written} (the store holds no record of another model for "
                "them): run the same embed again to record it"
            ) from unrecorded
        return dropped

    def _holds_already(
        self,
        checked: dict[str, tuple[list[str], np.ndarray]],
        property: str,
        record: Mapping[str, str | None],
    ) -> bool:
        """Whether ``property`` holds ``checked`` already, recorded as ``record``'s (a text
        model's), each kind's vectors under an online index of their dimension (a kind
        without vectors under none): then a replacement changes nothing, and an embed run
        again after its index failed still makes it. The vectors are read only when the record
        and the indexes are the same (another model: they differ)."""
        stored = self._vector_record(property)
        if stored is None or stored["run"] is not None:
            return False
        if any(stored[field] != value for field, value in record.items()):
            return False
        indexes = {
            index["kind"]: index
            for index in self._vector_indexes()
            if index["property"] == property and index["kind"] in checked
        }
        for kind, (keys, matrix) in checked.items():
            index = indexes.get(kind)
            if not keys:
                fit = index is None  # else the replacement drops it
            else:
                fit = (
                    index is not None
                    and index["state"] == "ONLINE"
                    and int(index["dimensions"]) == matrix.shape[1]
                    and not index["quantized"]  # an older kgrec's: made again
                )
            if not fit:
                return False
        for kind, (keys, matrix) in checked.items():
            held_keys, held = self.read_vectors(kind, property=property)
            order = np.argsort(keys, kind="stable")  # read_vectors: by key
            if held_keys != [keys[i] for i in order]:
                return False
            if held.size and not np.array_equal(held, matrix[order]):
                return False
        return True

    def _check_replacement(
        self, checked: dict[str, tuple[list[str], np.ndarray]], property: str
    ) -> tuple[dict[str, int | None], list[str]]:
        """Check a replacement of ``property``'s vectors before anything is written; returns
        each kind's dimension before it, and the kinds whose dimension it changes."""
        for kind, (keys, _) in checked.items():
            missing = self._missing(kind, keys)
            if missing:
                raise unknown_keys_error(kind, missing, "vectors")
            self.check_vectors(kind, property, None)  # the dimension may change
        before = {kind: self._dimension(kind, property) for kind in checked}
        changed = [
            kind
            for kind, (keys, matrix) in checked.items()
            if keys and before[kind] not in (None, matrix.shape[1])
        ]
        return before, changed

    def _check_addition(
        self, checked: dict[str, tuple[list[str], np.ndarray]], property: str
    ) -> dict[str, int | None]:
        """Check vectors to be written beside ``property``'s stored ones (of their dimension)
        before anything is written; returns each kind's dimension before them."""
        for kind, (keys, matrix) in checked.items():
            missing = self._missing(kind, keys)
            if missing:
                raise unknown_keys_error(kind, missing, "vectors")
            self.check_vectors(kind, property, matrix.shape[1])
        return {kind: self._dimension(kind, property) for kind in checked}

    def _index_vectors(
        self,
        checked: dict[str, tuple[list[str], np.ndarray]],
        property: str,
        before: dict[str, int | None],
        changed: list[str],
    ) -> None:
        """After a replacement: each kind's vector index, of its new dimension. An index has
        one dimension: one of another is made again after the write (Neo4j takes vectors of
        another dimension under the old index, which leaves them out), so a write that fails or
        stops leaves the old vectors with their index."""
        for kind, (keys, matrix) in checked.items():
            if keys:  # queries right after this see a complete index
                self._make_vector_index(kind, property, matrix.shape[1], again=kind in changed)
                self._run(q.AWAIT_INDEX, name=q.vector_index_name(kind, property))
            elif before[kind] is not None:  # no vector left: no index, as drop_vectors
                self._run(q.drop_vector_index(kind, property))

    def _make_vector_index(
        self, kind: str, property: str, dimensions: int, *, again: bool = False
    ) -> None:
        """The vector index on ``kind.property``, of ``dimensions``, made if there is none.
        Made ``again`` (dropped first) when asked, or when kgrec's index there is quantized:
        one an older kgrec made (before session 39, Neo4j 5.26's default), whose scores were
        about 1 % off the stored vectors' cosine."""
        ours = (q.vector_index_name(kind, property), kind, property)  # a user's of that name: kept
        if again or any(
            (i["name"], i["kind"], i["property"]) == ours and i["quantized"]
            for i in self._vector_indexes()
        ):
            self._changes_graph()  # its vectors, unindexed, would read as an attribute
            self._run(q.drop_vector_index(kind, property))
        self._run(q.create_vector_index(kind, property), dimensions=int(dimensions))

    def _replace_vectors_at_once(
        self,
        checked: dict[str, tuple[list[str], np.ndarray]],
        property: str,
        model: dict[str, str] | None,
        run: dict[str, Any] | None = None,
    ) -> dict[str, int]:
        """``model`` (a text model's) or ``run`` (a publish's): recorded as ``property``'s in
        the same transaction."""
        with self.driver.session(database=self.database) as session:
            return session.execute_write(self._replace_vectors_tx, checked, property, model, run)

    def _replace_vectors_tx(
        self,
        tx: Any,
        checked: dict[str, tuple[list[str], np.ndarray]],
        property: str,
        model: dict[str, str] | None,
        run: dict[str, Any] | None = None,
    ) -> dict[str, int]:
        """The replacement in transaction ``tx``; ``model`` or ``run``: recorded as
        ``property``'s in it (neither: its record goes)."""
        dropped = {}
        total = sum(len(keys) for keys, _ in checked.values())
        with tqdm(total=total, desc="writing vectors", unit="vectors") as bar:
            for kind, (keys, matrix) in checked.items():
                for chunk in self._vector_chunks(keys, matrix):
                    tx.run(q.SET_VECTORS[kind], rows=chunk, property=property).consume()
                    bar.update(len(chunk))
                record = tx.run(q.DROP_VECTORS[kind], property=property, keep=keys).single()
                dropped[kind] = int(record["dropped"])
        if model is not None:
            tx.run(q.RECORD_VECTOR_MODEL, **_model_parameters(property, model)).consume()
        elif run is not None:
            tx.run(q.RECORD_VECTOR_RUN, **_run_parameters(property, run)).consume()
        else:  # the record there is the old vectors': none is true of the new ones
            tx.run(q.FORGET_VECTOR_RECORD, property=property).consume()
        return dropped

    def _replace_vectors_staged(
        self,
        checked: dict[str, tuple[list[str], np.ndarray]],
        property: str,
        *,
        again: str = "embed",
        model: dict[str, str | None] | None = None,
    ) -> dict[str, int]:
        """``again``: the command whose rerun finishes a swap that stopped; ``model``: the
        record of the new vectors, whose :func:`_swapping_record` replaces the stored one
        before the swap (the caller records ``model`` after it). Without one the stored record
        goes before the swap (a publish records its run after it)."""
        staging = q.staging_property(property)
        batch = {"batch": self.batch_size}
        with self.driver.session(database=self.database) as session:

            def clear_staging() -> None:
                for kind in checked:
                    session.run(
                        q.CLEAR_PROPERTY_IN_BATCHES[kind], property=staging, **batch
                    ).consume()

            clear_staging()  # an earlier staged replacement that died leaves its vectors
            total = sum(len(keys) for keys, _ in checked.values())
            log.info("%s: staging %d vectors as %r", self.uri, total, property)
            try:
                with tqdm(total=total, desc="writing vectors", unit="vectors") as bar:
                    for kind, (keys, matrix) in checked.items():
                        for chunk in self._vector_chunks(keys, matrix):
                            self._run(q.SET_VECTORS[kind], rows=chunk, property=staging)
                            bar.update(len(chunk))
                # a record true of the vectors at every step of the swap, or none (while a
                # publish's are swapped they are no run's: a stop leaves two runs' vectors)
                swapping = (
                    None
                    if model is None
                    else _swapping_record(self.vector_model(property), model, list(checked))
                )
                if swapping is None:
                    self._run(q.FORGET_VECTOR_RECORD, property=property)
                else:
                    self._run(q.RECORD_VECTOR_MODEL, **_model_parameters(property, swapping))
            except BaseException:  # Ctrl-C too: nothing staged stays behind
                with contextlib.suppress(DriverError, Neo4jError):
                    clear_staging()
                raise
            try:
                dropped = {}
                for kind in checked:
                    record = session.run(
                        q.DROP_UNSTAGED_VECTORS_IN_BATCHES[kind],
                        property=property,
                        staging=staging,
                        **batch,
                    ).single()
                    dropped[kind] = int(record["dropped"])
                    session.run(
                        q.MOVE_STAGED_VECTORS_IN_BATCHES[kind],
                        property=property,
                        staging=staging,
                        **batch,
                    ).consume()
            except (DriverError, Neo4jError) as exc:
                raise _PartlyReplaced(
                    f"{self.uri}: writing the vectors {property!r} stopped while it swapped the "
                    f"old ones for the new ({exc}); they are partly replaced: run the same "
                    f"{again} again to finish it"
                ) from exc
        return dropped

    def _drop_vectors(self, kind: str, keep: list[str], property: str) -> int:
        with self.load_lock(), self._errors(f"removing {kind} vectors"):
            if self._dimension(kind, property) is None:  # no vectors there: an attribute, or none
                return 0
            records = self._run(q.DROP_VECTORS[kind], property=property, keep=list(keep))
            self._drop_unheld_index(kind, property)
        return int(records[0]["dropped"])

    def _drop_unheld_index(self, kind: str, property: str) -> None:
        """Drop the vector index on ``kind.property`` when no node holds the property any
        more: the index says there are vectors (their dimension, the property's use), as the
        local store's rows do, so it goes with the last of them (:meth:`drop_vectors`, a
        publish for some users that removes the last ``User`` vectors)."""
        if not self._run(q.HOLDS_PROPERTY[kind], read=True, property=property)[0]["held"]:
            self._run(q.drop_vector_index(kind, property))

    def _vector_indexes(self) -> list[dict]:
        return self._run(q.VECTOR_INDEXES, read=True)

    def publish(
        self,
        recommendations: pd.DataFrame,
        *,
        run: str,
        users: list[str] | None = None,
        vectors: Mapping[str, tuple[Sequence[str], np.ndarray]] | None = None,
        property: str | None = None,
        run_record: Mapping[str, Any] | None = None,
    ) -> int:
        """Replace run ``run``'s recommendations (or ``users``' of it), and with ``vectors``
        ``property``'s vectors as :meth:`replace_vectors` does (with ``users``: written beside
        the stored ones, as :meth:`write_vectors` does), checked before anything is written;
        the run they are of goes to the property's ``(:KgrecVectors)`` node
        (:meth:`GraphStore.publish`), with them (a staged swap of a whole run's vectors
        removes the record before it, and records the run when it is done).

        Up to ``publish_transaction_rows`` rows (and ``vector_transaction_values`` vector
        values), replacing up to as many of the run's stored rows, this is one transaction,
        vectors included: the run and its vectors are replaced or unchanged. A larger publish,
        or one that replaces more stored rows (a run published large, published again small:
        one transaction would outgrow the server's transaction memory,
        ``dbms.memory.transaction.total.max``), is staged: the rows are written in chunks
        of ``batch_size`` under a staging name no reader asks for, then the run's old edges are
        deleted and the staged ones renamed, in batches. While that swap runs (seconds per
        million rows) a reader may see the run partly replaced; if writing the staged rows
        fails, they are deleted and the run is unchanged; if the swap fails, running the same
        publish again finishes it. All of it holds the load lock (:meth:`load_lock`): refused
        while a load or an embed holds it."""
        table = recommendation_table(recommendations, run)
        users = check_publish_users(table, users)
        check_publish_property(vectors, property)
        checked = checked_vectors(vectors, property) if vectors is not None else {}
        record = publish_record(run, users, run_record, vectors is not None)
        # under the load lock: no embed writes text vectors between the check and the
        # write, no load changes the graph meanwhile (held already in Run.publish)
        with self.load_lock():
            with self._errors(f"publishing recommendations of run {run!r}"):
                for kind, column in (("User", "user_id"), ("Item", "item_uid")):
                    missing = self._missing(kind, table[column].unique().tolist())
                    if missing:
                        raise unknown_keys_error(kind, missing, "recommendations")
                if vectors is not None:
                    check_publish_not_text(self.uri, property, self.vector_model(property))
                self._apply_schema()
                cleared = unvectored_users(users, checked)  # keys as ids
                if users is None:
                    before, changed = self._check_replacement(checked, property)
                else:  # some users': their vectors go beside the others, of the same dimension
                    for kind in checked:  # of no key too: the users given none lose property
                        self.check_vectors(kind, property, None)  # (never an attribute)
                    checked = {kind: rows for kind, rows in checked.items() if rows[0]}
                    before, changed = self._check_addition(checked, property), []
                if _indexed_after(checked, before, changed):
                    self._changes_graph()
                chunks = _FanOutChunks(
                    table.sort_values("user_id", kind="stable"),
                    "user_id",
                    "item_uid",
                    ["score", "rank", "model"],
                    self.batch_size,
                )
                if (
                    len(table) <= self.publish_transaction_rows
                    and _values(checked) <= self.vector_transaction_values
                    and self._replaced_rows(run, users) <= self.publish_transaction_rows
                ):
                    self._publish_at_once(chunks, run, users, checked, property, record, cleared)
                    published = f"run {run!r}'s recommendations and vectors are published"
                    self._index_published(
                        checked, property, before, changed, published, cleared=bool(cleared)
                    )
                    return len(table)
                self._publish_staged(chunks, len(table), run, users)
            if checked or record is not None or cleared:  # too large for one transaction: after
                self._publish_vectors_after(
                    run, users, checked, property, before, changed, record, cleared
                )
            return len(table)

    def _replaced_rows(self, run: str, users: list[str] | None) -> int:
        """How many of run ``run``'s edges (``users``' of it) a publish deletes, counted up to
        one more than ``publish_transaction_rows``."""
        limit = {"run": run, "limit": self.publish_transaction_rows + 1}
        if users is None:
            found = self._run(q.COUNT_RECOMMENDATIONS, read=True, **limit)
        else:
            found = self._run(q.COUNT_USER_RECOMMENDATIONS, read=True, users=users, **limit)
        return int(found[0]["n"])

    def _publish_vectors_after(
        self,
        run: str,
        users: list[str] | None,
        checked: dict[str, tuple[list[str], np.ndarray]],
        property: str,
        before: dict[str, int | None],
        changed: list[str],
        record: dict[str, Any] | None,
        cleared: list[str],
    ) -> None:
        """A staged publish's vectors, written after its edges: an error says which are in.
        ``record``: the run they are of, recorded with them, or after the last of them;
        ``cleared``: users who lose theirs (:func:`unvectored_users`), first."""
        published = f"run {run!r}'s recommendations are published"
        kinds = list(checked)
        if users is None:  # in place of all stored ones, as replace_vectors
            staged = _values(checked) > self.vector_transaction_values
            try:
                with self._errors(f"writing the vectors of {', '.join(kinds)}"):
                    if not staged:
                        self._replace_vectors_at_once(checked, property, None, record)
                    else:
                        self._replace_vectors_staged(checked, property, again="publish")
            except StoreError as exc:
                if isinstance(exc, _PartlyReplaced):  # the swap stopped: it says what to do
                    raise StoreError(f"{exc}; {published}") from exc
                raise StoreError(
                    f"{exc}; {published} but none of its vectors ({', '.join(kinds)}): "
                    "publish again to finish it"
                ) from exc
            published += f" with its vectors ({', '.join(kinds)})"
            unrecorded, said = None, published
            if staged and record is not None:  # after the swap: a step of its own
                try:
                    with self._errors(f"recording the run of the vectors {property!r}"):
                        self._run(q.RECORD_VECTOR_RUN, **_run_parameters(property, record))
                except StoreError as exc:  # the vectors are in: their index is still made
                    unrecorded = exc
                    said += " (not the record of their run: publishing again writes it)"
            self._index_published(checked, property, before, changed, said)
            if unrecorded is not None:
                raise StoreError(
                    f"{unrecorded}; {published}, but not the record of the run they are of "
                    "(until it is, a publish for some users beside them is refused): publish "
                    "again to record it"
                ) from unrecorded
            return
        if cleared:
            try:
                with self._errors(f"removing the vectors of {len(cleared)} user(s) given none"):
                    self._run(q.CLEAR_USER_VECTORS, keys=cleared, property=property)
                    if "User" not in checked:  # none written: maybe none left, nor an index
                        self._drop_unheld_index("User", property)
            except StoreError as exc:
                raise StoreError(
                    f"{exc}; {published} but none of its vectors: publish again to finish it"
                ) from exc
        written: list[str] = []  # some users' (and late items'): beside the stored ones
        offline: list[tuple[str, _IndexNotOnline]] = []
        for kind, (keys, matrix) in checked.items():
            try:
                self.write_vectors(kind, keys, matrix, property=property)
            except _IndexNotOnline as exc:  # written: the next kind's too
                offline.append((kind, exc))
            except StoreError as exc:
                rest = kinds[len(written) + 1 :]
                done = f", its {', '.join(written)} vectors are written" if written else ""
                missing = f"its {kind} vectors are not (or only some)"
                if rest:
                    missing += f", its {', '.join(rest)} vectors not"
                raise StoreError(
                    f"{exc}; {published}{done}; {missing}: publish again to finish it"
                ) from exc
            written.append(kind)
        if record is not None:  # (some users' vectors, the first in the store: their run)
            with self._errors(f"recording the run of the vectors {property!r}"):
                self._run(q.RECORD_VECTOR_RUN, **_run_parameters(property, record))
        if offline:
            kind, exc = offline[0]
            raise StoreError(
                f"{exc.failure}; {published} with its vectors ({', '.join(kinds)}), but vector "
                f"queries may miss some of the {', '.join(k for k, _ in offline)} vectors until "
                "their index is online (SHOW VECTOR INDEXES): publish again to wait for it"
            ) from exc

    def _index_published(
        self,
        checked: dict[str, tuple[list[str], np.ndarray]],
        property: str,
        before: dict[str, int | None],
        changed: list[str],
        published: str,
        *,
        again: str = "publish",
        cleared: bool = False,
    ) -> None:
        """:meth:`_index_vectors` after a publish (or an embed: ``again``, the command whose
        rerun makes them) wrote its vectors: an error says that they are in (``published``)
        and what makes their index. ``cleared``: the publish removed some users' vectors
        (:func:`unvectored_users`), so with no ``User`` vector written none may be left."""
        try:
            with self._errors(f"making the vector indexes of {property!r}"):
                self._index_vectors(checked, property, before, changed)
                if cleared and "User" not in checked:
                    self._drop_unheld_index("User", property)
        except StoreError as exc:
            raise StoreError(
                f"{exc}; {published}, but not every vector index is made: "
                f"{self._index_repair(checked, property, again)}"
            ) from exc

    def _index_repair(
        self, checked: dict[str, tuple[list[str], np.ndarray]], property: str, again: str
    ) -> str:
        """What makes the vector indexes of vectors just written: running ``again`` (the
        command that wrote them: publish, embed) again, except where an index is missing (the
        vectors then read as a property of the nodes, which that command refuses to replace):
        its statement."""
        command = f"{'an' if again[0] in 'aeiou' else 'a'} {again}"
        statements = {
            kind: q.create_vector_index(kind, property).replace("$dimensions", str(matrix.shape[1]))
            for kind, (keys, matrix) in checked.items()
            if keys
        }
        try:
            indexed = {
                index["kind"] for index in self._vector_indexes() if index["property"] == property
            }
        except (DriverError, Neo4jError):  # the server went away: either may be so
            made = "; ".join(statements.values())
            return (
                f"{again} again to make them; if that is refused ('a property of the graph's "
                f"... nodes'), an index is missing: make it in Cypher ({made})"
            )
        missing = [kind for kind in statements if kind not in indexed]
        if not missing:
            return f"{again} again to make them"
        return (
            f"the index of {', '.join(missing)} is missing (the vectors read as a property of "
            f"the nodes, which {command} refuses to replace): make it in Cypher "
            f"({'; '.join(statements[kind] for kind in missing)})"
        )

    def _publish_at_once(
        self,
        chunks: Sequence[list[dict]],
        run: str,
        users: list[str] | None,
        checked: dict[str, tuple[list[str], np.ndarray]],
        property: str,
        record: dict[str, Any] | None,
        cleared: list[str],
    ) -> None:
        def replace(tx: Any) -> None:  # one transaction: the run is replaced or unchanged
            if users is None:
                tx.run(q.DELETE_RECOMMENDATIONS, run=run).consume()
            else:
                tx.run(q.DELETE_USER_RECOMMENDATIONS, run=run, users=users).consume()
            for chunk in chunks:
                tx.run(q.CREATE_RECOMMENDATIONS, run=run, **_end_positions(chunk)).consume()
            if checked and users is None:  # and its vectors, in the same transaction
                self._replace_vectors_tx(tx, checked, property, None, record)
                return
            if cleared:  # users given no vector: no earlier one stays
                tx.run(q.CLEAR_USER_VECTORS, keys=cleared, property=property).consume()
            for kind, (keys, matrix) in checked.items():  # some users': beside the others
                for chunk in self._vector_chunks(keys, matrix):
                    tx.run(q.SET_VECTORS[kind], rows=chunk, property=property).consume()
            if record is not None:  # the run of the vectors, in the same transaction
                tx.run(q.RECORD_VECTOR_RUN, **_run_parameters(property, record)).consume()

        with self.driver.session(database=self.database) as session:
            # a staged publish of this run that died (Neo4j went away) left its staged rows
            session.run(
                q.DELETE_RUN_IN_BATCHES, run=q.staging_run(run), batch=self.batch_size
            ).consume()
            session.execute_write(replace)

    def _publish_staged(
        self, chunks: Sequence[list[dict]], total: int, run: str, users: list[str] | None
    ) -> None:
        staging = q.staging_run(run)
        batch = {"batch": self.batch_size}
        with self.driver.session(database=self.database) as session:
            # an earlier staged publish of this run that died leaves its staged rows: drop them
            session.run(q.DELETE_RUN_IN_BATCHES, run=staging, **batch).consume()
            log.info("%s: staging %d recommendations of run %r", self.uri, total, run)
            try:
                with (
                    self._errors(f"staging the recommendations of run {run!r} (it is unchanged)"),
                    tqdm(total=total, desc="publishing", unit="rows") as bar,
                ):
                    for chunk in chunks:
                        self.driver.execute_query(
                            q.CREATE_RECOMMENDATIONS,
                            parameters_={"run": staging, **_end_positions(chunk)},
                            database_=self.database,
                        )
                        bar.update(sum(_fan_out_size(row) for row in chunk))
            except BaseException:  # Ctrl-C too: nothing staged stays behind
                try:
                    session.run(q.DELETE_RUN_IN_BATCHES, run=staging, **batch).consume()
                except (DriverError, Neo4jError) as exc:  # Neo4j went away: they stay
                    log.warning(
                        "%s: the rows staged so far stay under the run name %r (%s): no reader "
                        "of run %r sees them, `kgrec graph stats` counts them; publishing the "
                        "run again removes them",
                        self.uri,
                        staging,
                        exc,
                        run,
                    )
                raise
            try:
                if users is None:
                    session.run(q.DELETE_RUN_IN_BATCHES, run=run, **batch).consume()
                else:
                    session.run(
                        q.DELETE_USER_RUN_IN_BATCHES, run=run, users=users, **batch
                    ).consume()
                session.run(q.RENAME_RUN_IN_BATCHES, staging=staging, run=run, **batch).consume()
            except (DriverError, Neo4jError) as exc:
                raise StoreError(
                    f"{self.uri}: publishing run {run!r} stopped while it swapped the old "
                    f"recommendations for the new ones ({exc}); the run is partly replaced: "
                    "run the same publish again to finish it"
                ) from exc

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self) -> GraphTables:
        return self.read_as_one(self._snapshot)

    def _snapshot(self) -> GraphTables:
        with self._errors("reading the graph"):
            skip = self._vector_properties()
            tables = {
                "domains": stored_form(DOMAINS, self._frame(q.DOMAINS)),
                "users": self._nodes("User", USERS, skip),
                "items": self._nodes("Item", ITEMS, skip),
                "entities": self._nodes("Entity", ENTITIES, skip),
                "interactions": self._nested(q.INTERACTIONS, INTERACTIONS, outer=1),
                "knowledge": self._nested(q.KNOWLEDGE, KNOWLEDGE, outer=2),
            }
        return GraphTables(**tables)

    def read_as_one(self, read: Callable[[], T]) -> T:
        """``read()``, a read of the graph in several queries (:meth:`GraphStore.read_as_one`),
        never while a load writes it
        (chunk by chunk: the graph is partly old, partly new): read again when a writer that
        changes the graph's tables held the load lock before or after it, or one began
        meanwhile (the token ``(:KgrecGraphWrite)`` holds changed: even one that ended before
        it did), and refused after :data:`~kgrec.store.base.READ_ATTEMPTS` tries
        (:func:`~kgrec.store.base.read_unchanged`). A publish or an embed holds the lock but
        changes none of the tables: read meanwhile, unless it makes a vector index after
        writing the vectors (:func:`_indexed_after`; they would read as an attribute until
        it is made). So is the graph within a block of this object's that holds the lock
        (its own writes are done)."""
        self._connect()

        def state() -> dict[str, Any]:
            with self._errors("reading the load lock"):
                return self._run(q.GRAPH_WRITE_STATE, read=True)[0]

        def settled(state: dict[str, Any]) -> bool:
            own = self._token is not None and state["token"] == self._token
            return state["token"] is None or state["graph"] is False or own

        return read_unchanged(read, state, self._writing_error, settled=settled)[0]

    def _writing_error(self, state: dict[str, Any]) -> StoreError:
        """The refusal of a whole-graph read that a writer changed during every try
        (``state``: the load lock's holder after the last, as ``GRAPH_WRITE_STATE`` reads it)."""
        if state["token"] is None:  # loads began and ended during every try
            return StoreError(
                f"{self.uri}: writers changed the graph of database {self.database!r} while it "
                f"was read, {READ_ATTEMPTS} times: run again when they have finished"
            )
        if _dead(state):  # killed mid-write on this machine: waiting would never end it
            return StoreError(
                f"{self.uri}: the graph of database {self.database!r} is partly written: "
                f"{_holder(state)} holds its load lock but no longer runs on this machine "
                "(killed while it wrote?): run that command again, which clears its lock and "
                "finishes the graph, then read it"
            )
        return StoreError(
            f"{self.uri}: a writer is changing the graph of database {self.database!r}: "
            f"{_holder(state)} holds its load lock, and a read of the graph now would be partly "
            f"old, partly new: run again when it has finished. {_unlock(self.uri)}"
        )

    def _nested(self, query: str, spec: TableSpec, outer: int) -> pd.DataFrame:
        """A table from records of ``outer`` single values followed by parallel lists."""
        result = self.driver.execute_query(
            query, database_=self.database, routing_=RoutingControl.READ
        )
        columns: dict[str, list] = {name: [] for name in result.keys}
        for record in result.records:
            values = list(record.values())
            n = len(values[-1])
            for name, value in zip(result.keys[:outer], values[:outer], strict=True):
                columns[name].extend([value] * n)
            for name, value in zip(result.keys[outer:], values[outer:], strict=True):
                columns[name].extend(value)
        return stored_form(spec, pd.DataFrame(columns))

    def _vector_properties(self) -> dict[str, list[str]]:
        """kind -> the properties that hold indexed vectors (not columns of the tables)."""
        skip: dict[str, list[str]] = {}
        for index in self._vector_indexes():
            skip.setdefault(index["kind"], []).append(index["property"])
        return skip

    def _nodes(
        self,
        kind: str,
        spec: TableSpec,
        skip: dict[str, list[str]],
        uids: list[str] | None = None,
    ) -> pd.DataFrame:
        """The table of nodes of ``kind``; with ``uids`` (items), of those items alone, their
        attribute columns typed as the whole table's (:func:`_typed_as_stored`)."""
        vectors = skip.get(kind, [])
        if uids is None:
            keys = [r["key"] for r in self._run(q.NODE_KEYS[kind], read=True)]
        else:
            types = {r["key"]: r for r in self._run(q.ITEM_KEY_TYPES, read=True, skip=vectors)}
            keys = list(types)
        # vectors, and vectors a staged replace_vectors left behind, are no attribute
        keys = sorted(
            k for k in keys if k not in vectors and not k.startswith(q.STAGING_PROPERTY_PREFIX)
        )
        if not keys:
            return stored_form(spec, empty(spec))
        if uids is None:
            result = self._run(q.NODE_COLUMNS[kind], read=True, keys=keys)
        else:
            result = self._run(q.ITEM_COLUMNS, read=True, keys=keys, uids=uids)
        frame = pd.DataFrame(dict(zip(keys, result[0]["columns"], strict=True)))
        if uids is None:
            return stored_form(spec, frame)
        frame = frame.sort_values(list(spec.key), kind="stable", ignore_index=True)
        known = {c.name for c in spec.columns}
        attributes = {k: _typed_as_stored(frame[k], types[k]) for k in keys if k not in known}
        return stored_form(spec, frame.drop(columns=list(attributes))).assign(**attributes)

    def stats(self) -> dict[str, Any]:
        return self.read_as_one(self._stats)

    def _stats(self) -> dict[str, Any]:
        with self._errors("counting the graph"):
            counts = self._run(q.COUNTS, read=True)[0]
            domains = {
                r["domain"]: {k: int(r[k]) for k in ("items", "users", "interactions")}
                for r in self._run(q.DOMAIN_COUNTS, read=True)
            }
            relations = {r["relation"]: r["n"] for r in self._run(q.RELATION_COUNTS, read=True)}
        return make_stats(nodes=counts, relationships=counts, domains=domains, relations=relations)

    def item_domains(self) -> dict[str, int]:
        self._connect()
        with self._errors("counting the items per domain"):
            records = self._run(q.ITEMS_PER_DOMAIN, read=True)
        return {r["domain"]: int(r["items"]) for r in records if r["items"]}

    def _read_vectors(self, kind: str, property: str) -> tuple[list[str], np.ndarray]:
        self._connect()
        with self._errors(f"reading {kind} vectors"):
            # vectors are where a vector index is; another property is an attribute (title)
            indexed = self._dimension(kind, property) is not None
            records = (
                self._run(q.READ_VECTORS[kind], read=True, property=property) if indexed else []
            )
        if not records:
            return [], np.zeros((0, 0), dtype=np.float32)
        keys = [r["key"] for r in records]
        return keys, np.asarray([r["vector"] for r in records], dtype=np.float32)

    def _vector_model(self, property: str) -> dict[str, str] | None:
        found = self._vector_record(property)
        if found is None or found["name"] is None:  # none, or a run's (vector_run)
            return None
        # templates, interactions: recorded since session 28; an older record has none (unknown)
        model = {k: found[k] for k in ("name", "identity", "templates", "interactions")}
        return {k: v for k, v in model.items() if k in ("name", "identity") or v is not None}

    def _vector_run(self, property: str) -> dict[str, Any] | None:
        found = self._vector_record(property)
        # none, or a text model's (vector_model): one that a kgrec of sessions 26 to 28 wrote
        # over a run's too, which left the run's fields beside the model's
        if found is None or found["run"] is None or found["name"] is not None:
            return None
        return {k: found[k] for k in ("run", "weights", "item_norm") if found[k] is not None}

    def _vector_record(self, property: str) -> dict[str, Any] | None:
        """The fields of ``property``'s (:KgrecVectors) record (None: it has none); a
        StoreError when a newer kgrec wrote it (:data:`VECTOR_RECORD_VERSION`)."""
        self._connect()
        with self._errors(f"reading the record of the vectors {property!r}"):
            found = self._run(q.VECTOR_RECORD, read=True, property=property)
        if not found:
            return None
        record = dict(found[0])
        version = record.pop("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise StoreError(
                f"{self.uri}: the record of the vectors {property!r} is damaged: "
                f"schema_version {version!r}"
            )
        if version is not None and version > VECTOR_RECORD_VERSION:
            raise StoreError(
                f"{self.uri}: the record of the vectors {property!r} was written by a newer "
                f"kgrec (schema version {version} > {VECTOR_RECORD_VERSION}); upgrade kgrec"
            )
        return record

    def _vector_dimension(self, kind: str, property: str) -> int | None:
        self._connect()
        with self._errors(f"reading {kind} vectors"):
            return self._dimension(kind, property)

    def _holds_attribute(self, kind: str, property: str) -> bool:
        self._connect()
        with self._errors(f"reading {kind} properties"):
            if property in {c.name for c in SPECS[node_kind(kind)[0]].columns}:
                return True
            held = self._run(q.HOLDS_PROPERTY[kind], read=True, property=property)[0]["held"]
            return held and self._dimension(kind, property) is None  # no index: an attribute

    def _dimension(self, kind: str, property: str) -> int | None:
        """The dimension of the vector index on ``kind.property``, which holds its vectors."""
        for index in self._vector_indexes():
            if (index["kind"], index["property"]) == (kind, property):
                return int(index["dimensions"])
        return None

    def explain(self, user_id: str, item_uid: str, *, k: int = 5) -> pd.DataFrame:
        k = check_k(k)
        user_id, item_uid = id_argument(user_id, "user"), id_argument(item_uid, "item")
        ends = {"user_id": user_id, "item_uid": item_uid}

        def read() -> tuple[dict[str, Any], list[dict] | None]:  # the ends, then the paths
            with self._errors(f"explaining {item_uid!r} for user {user_id!r}"):
                found = dict(self._run(q.EXPLAIN_ENDS, read=True, **ends)[0])
                if found["user"] and not found["item"]:  # the error names the domains held
                    domains = self._run(q.ITEMS_PER_DOMAIN, read=True)
                    found["domains"] = [r["domain"] for r in domains if r["items"]]
                if not (found["user"] and found["item"]):
                    return found, None  # refused once the read is known to be of one graph
                return found, self._run(q.EXPLAIN, read=True, k=k, **ends)

        found, records = self.read_as_one(read)
        if records is None:
            raise unknown_ends_error(
                user_id,
                item_uid,
                user=found["user"],
                item=found["item"],
                domains=found.get("domains", ()),
            )
        return paths_table(records)

    def user_interactions(self, user_ids: list[str]) -> pd.DataFrame:
        self._connect()
        with self._errors("reading interactions"):
            users = list(dict.fromkeys(id_arguments(user_ids, "users")))
            frame = self._frame(q.USER_INTERACTIONS, users=users)
        return _interaction_pairs(frame, listed="item_uid")

    def item_interactions(self, uids: list[str]) -> pd.DataFrame:
        self._connect()
        with self._errors("reading interactions"):
            items = list(dict.fromkeys(id_arguments(uids, "items")))
            frame = self._frame(q.ITEM_INTERACTIONS, items=items)
        return _interaction_pairs(frame, listed="user_id")

    def _user_ids(self, among: list[str] | None, limit: int | None) -> list[str]:
        return self._ids("users", "user_id", q.USER_IDS, q.USER_IDS_AMONG, among, limit)

    def _entity_ids(self, among: list[str] | None, limit: int | None) -> list[str]:
        return self._ids("entities", "entity_id", q.ENTITY_IDS, q.ENTITY_IDS_AMONG, among, limit)

    def _name_only_entities(
        self, among: list[str] | None, limit: int | None
    ) -> tuple[int, list[str]]:
        self._connect()
        with self._errors("reading entities"):
            if among is None:
                records = self._run(q.NAME_ONLY_ENTITIES, read=True, limit=limit)
            else:
                among = list(dict.fromkeys(among))
                records = self._run(q.NAME_ONLY_ENTITIES_AMONG, read=True, among=among, limit=limit)
        return records[0]["count"], list(records[0]["ids"])

    def _ids(
        self,
        what: str,
        key: str,
        every: str,
        some: str,
        among: list[str] | None,
        limit: int | None,
    ) -> list[str]:
        """The ``key`` column of query ``every`` (all the ids of ``what``), or of ``some`` (those
        ``among`` them the graph holds), sorted, the first ``limit``: :meth:`user_ids` and
        :meth:`entity_ids`."""
        self._connect()
        with self._errors(f"reading {what}"):
            if among is None:
                records = self._run(every, read=True, limit=limit)
            else:
                among = list(dict.fromkeys(among))
                records = self._run(some, read=True, among=among, limit=limit)
        return [r[key] for r in records]

    def items(self, uids: list[str]) -> pd.DataFrame:
        uids = list(dict.fromkeys(id_arguments(uids, "items")))

        def read() -> pd.DataFrame:  # the types of the columns, then these items' values
            with self._errors("reading items"):
                return self._nodes("Item", ITEMS, self._vector_properties(), uids=uids)

        return self.read_as_one(read).sort_values("uid", ignore_index=True)

    def recommendations(self, run: str | None = None) -> pd.DataFrame:
        if run is not None:
            run = run_argument(run)  # 5 or "" names no run: refused, not an empty table
        self._connect()
        with self._errors("reading recommendations"):
            frame = self._frame(q.RECOMMENDATIONS, run=run)
        table = stored_form(RECOMMENDATIONS, frame)
        return table.sort_values(["run", "user_id", "rank"], ignore_index=True)


# tokens of the load locks this process holds now (a lock of this process that is not among
# them was left by an earlier load that could not release it)
_HELD: set[str] = set()


def _model_parameters(property: str, record: Mapping[str, str | None]) -> dict[str, Any]:
    """RECORD_VECTOR_MODEL's parameters of a text model's record of ``property``."""
    return {"property": property, "version": MODEL_RECORD_VERSION, **record}


def _run_parameters(property: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """RECORD_VECTOR_RUN's parameters of a run record of ``property`` (:func:`publish_record`)."""
    return {
        "property": property,
        "version": VECTOR_RECORD_VERSION,
        "run": record["run"],
        "weights": record.get("weights"),
        "item_norm": record.get("item_norm"),
    }


def _indexed_after(
    checked: dict[str, tuple[list[str], np.ndarray]],
    before: dict[str, int | None],
    changed: list[str],
) -> bool:
    """Whether a write of ``checked`` makes a vector index after its vectors: a kind's first
    vectors of the property, or of another dimension (``before``, ``changed``: as
    :meth:`Neo4jStore._check_replacement` gives them). Until it is made, a whole-graph read
    would take them for an attribute of the nodes."""
    return any(
        keys and (before[kind] is None or kind in changed) for kind, (keys, _) in checked.items()
    )


def _values(checked: dict[str, tuple[list[str], np.ndarray]]) -> int:
    """The vector values of a replacement (rows times dimension, over all kinds)."""
    return sum(matrix.size for _, matrix in checked.values())


def _lock_command(argv: Sequence[str]) -> str:
    """What the load lock records of its holder's command: the program by its name, not its
    path (``kgrec recommend --run r``, not ``/home/.../.venv/bin/kgrec recommend --run r``),
    and ``python`` for an interactive session or ``python -c`` (no script to name)."""
    program = os.path.basename(argv[0]) if argv and argv[0] not in ("", "-c", "-") else "python"
    return " ".join([program, *argv[1:]])[:300]


def _locked_error(uri: str, database: str, holder: Mapping[str, Any]) -> StoreError:
    """The refusal of a writer while ``holder`` holds the load lock of ``database``: named by
    the command the lock records (a load, an embed, a publishing ``kgrec recommend``, a Python
    process's vector write), not taken to be a load."""
    return StoreError(
        f"{uri}: another writer holds the load lock of database {database!r}: {_holder(holder)}; "
        "one writer (a load, embed, publish or vector write) per database at a time: wait for "
        f"it to end. {_unlock(uri)}"
    )


def _holder(holder: Mapping[str, Any]) -> str:
    """The holder of a load lock, as its refusals name it: command, host, pid and start."""
    command = holder.get("command") or "no command recorded"
    return f"{command} (host {holder['host']}, pid {holder['pid']}, started {holder['started']})"


def _unlock(uri: str) -> str:
    """What a refusal by a load lock says to do where its holder died."""
    return f"If it died, clear its lock with: kgrec graph unlock --store {uri}"


def _dead(holder: dict[str, Any]) -> bool:
    """Whether the holder of a load lock is a process of this machine that no longer runs (or
    an earlier load of this very process). A holder of this host name but another pid
    namespace (a container sharing the host's name: host networking) is not: this process
    cannot see its processes, and its pid here is some other process's, or none. A lock of a
    kgrec before session 44 records no namespace: its host name alone is read."""
    if holder["host"] != socket.gethostname() or holder["pid"] is None:
        return False
    recorded = holder.get("pid_namespace")
    if recorded is not None and recorded != _pid_namespace():
        return False
    if holder["pid"] == os.getpid():
        return holder["token"] not in _HELD
    return not process_runs(int(holder["pid"]))


def _pid_namespace() -> str | None:
    """This process's pid namespace (``pid:[4026531836]``), None where the system names none
    (not Linux)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def delete_all(session: Session) -> None:
    """Empty the session's database of nodes and relationships (indexes stay). ``CALL { } IN
    TRANSACTIONS`` needs an auto-commit transaction, hence a session rather than a driver."""
    for statement in q.DELETE_ALL:
        session.run(statement).consume()


# graph_schema.merge's kinds of values -> the counts of PROPERTY_TYPES and ITEM_KEY_TYPES
_KIND_COUNTS = {"list": "lists", "text": "holds_text", "boolean": "booleans", "number": "numbers"}


def _stored_kinds(counts: dict[str, Any]) -> set[str]:
    """What a property's stored values hold (:func:`graph_schema.merge.value_kinds`)."""
    return {kind for kind, count in _KIND_COUNTS.items() if counts[count] > 0}


def _typed_as_stored(values: pd.Series, counts: dict[str, Any]) -> pd.Series:
    """Some rows' values of an attribute, typed as the whole column is (``counts``: what it
    holds, ITEM_KEY_TYPES), as the local store's table has them: a column of whole numbers is
    ``Int64`` even where these rows are missing, one with a fraction ``Float64``; the numbers
    of a column of lists alike (integers, or floats where any list holds a fraction)."""
    lists, text = column_type(_stored_kinds(counts))
    typed = as_attribute(
        values, lists=lists, text=text, fractions=bool(counts["fractions"]) or None
    )
    if lists or text:
        return typed
    if counts["numbers"]:
        return typed.astype("Float64" if counts["fractions"] else "Int64")
    return typed.astype("boolean")


def _present(value: Any) -> bool:
    if value is None or value is pd.NA:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _node_rows(
    df: pd.DataFrame, key: str, cleared: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """Rows {key, props} with only the values that are present in props, and a null for each
    attribute ``cleared`` (attribute -> keys) clears of the row's node, which ``SET +=``
    removes."""
    nulls: dict[str, dict[str, None]] = {}
    for name, keys in (cleared or {}).items():
        for k in keys:
            nulls.setdefault(k, {})[name] = None
    rows = []
    for row in df.to_dict("records"):
        node = row.pop(key)
        props = nulls.get(node, {}) | {k: v for k, v in row.items() if _present(v)}
        rows.append({"key": node, "props": props})
    return rows


def _fan_out_rows(
    df: pd.DataFrame, start: str, end: str, values: list[str]
) -> list[dict[str, Any]]:
    """One row per ``start`` key (``df`` is sorted by it): {start, ends: [end keys], and per
    column of ``values`` the list of its values (None when missing)}."""
    starts = df[start].to_numpy(dtype=object)
    if not len(starts):
        return []
    columns = {"ends": df[end].tolist(), **{name: _nullable(df[name]) for name in values}}
    first = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]]).tolist()
    bounds = zip(first, [*first[1:], len(starts)], strict=True)
    return [
        {"start": starts[a], **{name: column[a:b] for name, column in columns.items()}}
        for a, b in bounds
    ]


def _swapping_record(
    stored: Mapping[str, str] | None, model: Mapping[str, str | None], kinds: list[str]
) -> dict[str, str | None] | None:
    """The record of a property's vectors while a staged replacement swaps in the vectors of
    ``kinds`` that ``model`` made (``stored``: the record before it), true however far the
    swap goes: None (no record: the vectors may be any model's) when the models differ;
    else the model, the template digests both records give alike, and for ``kinds`` that
    the texts read the interactions where either record says so (vectors partly replaced
    are never taken for a model's input when the old or the new ones read them)."""
    if stored is None or stored["identity"] != model["identity"]:
        return None

    def kind_map(record: Mapping[str, Any], field: str) -> dict[str, Any] | None:
        try:
            found = json.loads(record[field]) if record.get(field) is not None else None
        except (TypeError, ValueError):
            found = None
        return found if isinstance(found, dict) else None

    swapping: dict[str, str | None] = {**model}
    new, old = kind_map(model, "templates"), kind_map(stored, "templates") or {}
    if new is not None:
        alike = {k: v for k, v in new.items() if k not in kinds or old.get(k) == v}
        swapping["templates"] = json.dumps(alike, sort_keys=True)
    new, old = kind_map(model, "interactions"), kind_map(stored, "interactions") or {}
    if new is not None:
        reads = {k: v for k, v in new.items() if k not in kinds}
        for kind in kinds:
            if True in (new.get(kind), old.get(kind)):
                reads[kind] = True
            elif new.get(kind) is False and old.get(kind) is False:
                reads[kind] = False
        swapping["interactions"] = json.dumps(reads, sort_keys=True)
    return swapping


class _IndexNotOnline(StoreError):
    """:meth:`Neo4jStore.write_vectors` wrote its vectors, but waiting for their index failed
    (``failure``: why)."""

    def __init__(self, message: str, *, failure: str) -> None:
        super().__init__(message)
        self.failure = failure


class _PartlyReplaced(StoreError):
    """A staged vector replacement that stopped during its swap: the vectors are partly
    replaced (its message says so, and what finishes it)."""


class _FanOutChunks(Sequence[list[dict[str, Any]]]):
    """The fan-out rows of ``df`` (sorted by ``start``; see :func:`_fan_out_rows`) in chunks
    of about ``batch_size`` relationships, a start node's never split (as :func:`_chunks`
    cuts them), each chunk built only when it is read: a publish of 16M recommendations or a
    load of 20M interactions holds one chunk's Python rows at a time, not all of them."""

    def __init__(
        self, df: pd.DataFrame, start: str, end: str, values: list[str], batch_size: int
    ) -> None:
        self.df, self.start, self.end, self.values = df, start, end, values
        starts = df[start].to_numpy(dtype=object)
        first = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]]) if len(starts) else []
        groups = np.diff(np.r_[first, len(starts)]).tolist()  # rows per start node
        sizes = [sum(c) for c in _chunks(groups, batch_size, size=lambda n: n)]
        ends = np.cumsum(sizes, dtype=np.int64).tolist()
        self.bounds = list(zip([0, *ends][:-1], ends, strict=True))
        self.total = len(starts)

    def __len__(self) -> int:
        return len(self.bounds)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:  # type: ignore[override]
        a, b = self.bounds[i]
        return _fan_out_rows(self.df.iloc[a:b], self.start, self.end, self.values)


def _end_positions(chunk: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameters of a fan-out chunk: its distinct end keys, and rows naming them by
    position in that list."""
    ends = sorted({key for row in chunk for key in row["ends"]})
    position = {key: n for n, key in enumerate(ends)}
    rows = [{**row, "ends": [position[key] for key in row["ends"]]} for row in chunk]
    return {"ends": ends, "rows": rows}


def _fan_out_size(row: dict[str, Any]) -> int:
    return len(row["ends"])


def _nullable(series: pd.Series) -> list[Any]:
    values = series.tolist()
    for i in np.flatnonzero(series.isna().to_numpy()).tolist():
        values[i] = None
    return values


def _chunks(
    rows: list[T], batch_size: int, size: Callable[[T], int] = lambda row: 1
) -> list[list[T]]:
    """``rows`` cut into chunks of about ``batch_size`` (by ``size``); a row is never split."""
    chunks: list[list[T]] = []
    current: list[T] = []
    filled = 0
    for row in rows:
        n = size(row)
        if current and filled + n > batch_size:
            chunks.append(current)
            current, filled = [], 0
        current.append(row)
        filled += n
    if current:
        chunks.append(current)
    return chunks


def _interaction_pairs(frame: pd.DataFrame, *, listed: str) -> pd.DataFrame:
    """(``user_id``, ``item_uid``) rows of a query's result, whose column ``listed`` holds a
    list per row (one pair per element), sorted, as ``string`` columns (the local store's,
    empty or not)."""
    frame = frame.explode(listed).dropna(subset=[listed]) if not frame.empty else frame
    if frame.empty:
        frame = pd.DataFrame({"user_id": [], "item_uid": []})
    frame = frame[["user_id", "item_uid"]].astype("string")
    return frame.sort_values(["user_id", "item_uid"], ignore_index=True)
