"""The store interface: one graph, two implementations (LocalStore, Neo4jStore)."""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from graph_schema.tables import GraphTables
from graph_schema.validate import count_argument, id_arguments
from kgrec.errors import StoreError
from kgrec.store.canonical import node_kind, property_argument

T = TypeVar("T")
S = TypeVar("S")
# how many times a read of several queries that a writer changed midway is tried
READ_ATTEMPTS = 3
# the seconds such a read waits before its second, third, ... try: a writer that ends within
# them (a small load) is waited for, one that does not is refused after about 2.5 s
READ_WAITS = (0.5, 2.0)


def read_unchanged(
    read: Callable[[], T],
    state: Callable[[], S],
    refusal: Callable[[S], StoreError],
    *,
    settled: Callable[[S], bool] = lambda state: True,
    overtaken: type[Exception] | tuple[type[Exception], ...] = (),
) -> tuple[T, S]:
    """``read()``, a read of several queries, as one, and the state it was read in: read
    between two reads of ``state()`` (what a writer changes as it begins: the record of a
    vector property's model, the holder of a Neo4j load lock), and again when the state was
    not ``settled`` before it (a writer is changing what it reads), changed by its end (one
    did meanwhile) or ``read()`` raised ``overtaken`` (the error by which a store says a
    writer replaced what it was reading: a LocalStore's table file), up to
    :data:`READ_ATTEMPTS` tries, :data:`READ_WAITS` apart; then ``refusal(state)`` of the
    last state read is raised. Readers take no lock: they never wait for, nor refuse, one
    another."""
    for attempt in range(READ_ATTEMPTS):
        if attempt:
            time.sleep(READ_WAITS[min(attempt, len(READ_WAITS)) - 1])
        last = state()
        if settled(last):
            try:
                result = read()
            except overtaken:
                continue
            before, last = last, state()
            if last == before:
                return result, last
    raise refusal(last)


def _check_limit(limit: object) -> int | None:
    """``limit`` of a read of a few ids (:meth:`GraphStore.user_ids`,
    :meth:`GraphStore.entity_ids`, :meth:`GraphStore.name_only_entities`): None (all) or a
    whole number, not negative, at most 2**63 - 1 (Neo4j's integers are 64-bit); a numpy
    integer (``np.int64(3)``) is the number it holds, and a bool (numpy's too) is refused."""
    if limit is None:
        return None
    return count_argument(limit, "limit", "limit must be a whole number, not negative", least=0)


class GraphStore(ABC):
    """Where the shared graph lives.

    ``write`` merges canonical tables into the store: loading the same tables twice leaves the
    same graph, and a failed write leaves the store as it was or resumable by writing the same
    tables again. ``snapshot`` returns the whole graph as canonical tables. Every method raises
    :class:`kgrec.errors.StoreError` when the store cannot be reached, read or written, and
    :class:`kgrec.errors.InputError` on bad arguments, with the same messages in every store.
    The contract suite (tests/store/test_contract.py) runs every implementation.
    """

    uri: str

    @abstractmethod
    def check(self) -> None:
        """Fail fast: a StoreError unless the store can be reached and written (Neo4j: connected
        and authenticated; local: a store folder, or one that may become one). Cheap; a load
        calls it before parsing its files."""

    def holds_graph(self) -> bool:
        """Whether a graph was ever written here (a local store's folder may be gone or moved
        since; a Neo4j database reached is there)."""
        return True

    @abstractmethod
    def write(
        self,
        graph: GraphTables,
        *,
        progress: bool = True,
        clear: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> dict[str, int]:
        """Merge ``graph`` into the store; returns rows written per table. ``clear`` (node kind,
        User or Item -> attribute -> keys): those nodes, which ``graph`` writes without a value
        of that attribute, lose the value the store holds, in the same write (``kgrec load
        --clear-empty``); else a missing value never erases one
        (:func:`~kgrec.store.canonical.check_cleared` says what may be cleared)."""

    @abstractmethod
    def check_write(
        self,
        graph: GraphTables,
        *,
        clear: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        """Raise what :meth:`write` would raise of ``graph`` and ``clear`` before it writes
        anything (the tables invalid, an entity tied to an item the store ties to another,
        items that the interactions or knowledge name and neither the tables nor the store
        hold, an attribute named as a property that holds vectors, one that may not be cleared,
        a damaged store), reading the store only
        (``kgrec load --dry-run``): nothing is written, no file or folder made, no lock taken.
        What only writing meets (a full disk; Neo4j: applying graph_schema/schema.cypher,
        taking the load lock, a transaction that fails) it cannot tell."""

    @abstractmethod
    def snapshot(self) -> GraphTables:
        """The whole graph as canonical tables."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Counts per node kind, relationship kind and domain."""

    @abstractmethod
    def write_vectors(
        self, kind: str, keys: list[str], vectors: np.ndarray, *, property: str
    ) -> None:
        """Store one vector per node of ``kind`` (by key) as ``property``; Neo4j also indexes it.
        Holds the load lock (:meth:`load_lock`) for its check and its write."""

    @abstractmethod
    def replace_vectors(
        self,
        vectors: Mapping[str, tuple[Sequence[str], np.ndarray]],
        *,
        property: str,
        model: Mapping[str, str] | None = None,
    ) -> dict[str, int]:
        """Replace ``property``'s vectors of every kind in ``vectors`` (kind -> keys and their
        matrix) as one change (``kgrec embed``): each kind's listed nodes get their rows, and
        its other nodes lose the property. Every kind is checked (keys, property) before
        anything is written; its dimension may change, since all its vectors are replaced
        (``kgrec embed`` refuses that itself). A write that fails leaves every kind as it was
        (a Neo4j write too large for one transaction: see its docstring). ``model`` (``name``
        and ``identity`` of the text model that made the vectors, optionally ``templates``,
        those of their texts) is recorded as
        ``property``'s model (:meth:`vector_model`), with the vectors; without it the record
        there (a model's or a run's, of the old vectors) goes: the new vectors are of no
        recorded model or run. Holds the load lock (:meth:`load_lock`) for its checks and its
        write. Returns how many nodes of each kind lost the property."""

    def vector_model(self, property: str) -> dict[str, str] | None:
        """The text model (``name``, ``identity``, and ``templates`` and ``interactions``
        where the writer gave them: :func:`kgrec.text.embed.model_record`) the last
        :meth:`replace_vectors` given one recorded for ``property``, whichever kinds it wrote;
        None when none did (a store embedded before session 26), when a replacement without
        one came after it, or when the record is a run's (:meth:`vector_run`: the vectors a
        publish wrote)."""
        return self._vector_model(property_argument(property))

    @abstractmethod
    def _vector_model(self, property: str) -> dict[str, str] | None:
        """:meth:`vector_model` of a checked ``property``."""

    def vector_run(self, property: str) -> dict[str, Any] | None:
        """The run whose embeddings ``property``'s vectors are, as the last publish with
        vectors recorded it (:meth:`publish`'s ``run_record``): ``run`` (its name on the
        edges) and, where the publisher gave them, ``weights`` (a digest of the run's trained
        model) and ``item_norm`` (the norm every item vector was padded to, a float). None
        when no publish recorded one (vectors published before session 29, written by
        :meth:`write_vectors`, or a text model's: :meth:`vector_model`). An embed's record
        (:meth:`replace_vectors` with a model) replaces it; a replacement without one removes
        it."""
        return self._vector_run(property_argument(property))

    @abstractmethod
    def _vector_run(self, property: str) -> dict[str, Any] | None:
        """:meth:`vector_run` of a checked ``property``."""

    def drop_vectors(self, kind: str, keep: list[str], *, property: str) -> int:
        """Remove ``property`` from every node of ``kind`` whose key is not in ``keep``, under
        the load lock (:meth:`load_lock`); how many nodes lost it."""
        kind, property = _kind_and_property(kind, property)
        return self._drop_vectors(kind, id_arguments(keep, "keep"), property)  # 7 keeps "7"

    @abstractmethod
    def _drop_vectors(self, kind: str, keep: list[str], property: str) -> int:
        """:meth:`drop_vectors` of a checked ``kind`` and ``property``."""

    def read_vectors(self, kind: str, *, property: str) -> tuple[list[str], np.ndarray]:
        """Keys and vectors of every node of ``kind`` that has ``property``."""
        return self._read_vectors(*_kind_and_property(kind, property))

    @abstractmethod
    def _read_vectors(self, kind: str, property: str) -> tuple[list[str], np.ndarray]:
        """:meth:`read_vectors` of a checked ``kind`` and ``property``."""

    def vector_dimension(self, kind: str, *, property: str) -> int | None:
        """The dimension of the vectors stored as ``kind.property`` (None: there are none),
        without reading them."""
        return self._vector_dimension(*_kind_and_property(kind, property))

    @abstractmethod
    def _vector_dimension(self, kind: str, property: str) -> int | None:
        """:meth:`vector_dimension` of a checked ``kind`` and ``property``."""

    def holds_attribute(self, kind: str, property: str) -> bool:
        """Whether ``kind``'s nodes hold ``property`` as a column or attribute (not vectors)."""
        return self._holds_attribute(*_kind_and_property(kind, property))

    @abstractmethod
    def _holds_attribute(self, kind: str, property: str) -> bool:
        """:meth:`holds_attribute` of a checked ``kind`` and ``property``."""

    def check_vectors(
        self,
        kind: str,
        property: str,
        dimension: int | None,
        *,
        remedy: str = "store them under another property",
    ) -> None:
        """InputError unless vectors (of ``dimension``; None: any) may be stored as
        ``kind.property``: it names no column or attribute of the kind, and the vectors stored
        there have that dimension. Every store's :meth:`write_vectors` checks this; a writer
        of several kinds (``kgrec embed``) checks them all before writing any."""
        from kgrec.store.canonical import check_dimension, check_vector_property

        check_vector_property(kind, property, attribute=self.holds_attribute(kind, property))
        if dimension is not None:
            stored = self.vector_dimension(kind, property=property)
            check_dimension(kind, property, stored, dimension, remedy=remedy)

    @abstractmethod
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
        """Replace run ``run``'s recommendations by these (RECOMMENDATIONS table); with
        ``users``, only those users' (the others' stay as they are). With ``vectors``, also
        replace ``property``'s vectors of those kinds (``property`` named: no default, so a
        run's never replace the text vectors) as :meth:`replace_vectors` does (with
        ``users``: write them beside the stored ones, of the same dimension, as
        :meth:`write_vectors` does, and one of ``users`` given no ``User`` vector loses theirs:
        :func:`~kgrec.store.canonical.unvectored_users`), in the same change (a Neo4j publish
        too large for one transaction: see its docstring): both are checked before anything is
        written, and a failed publish leaves both as they were. A publish with vectors records
        the run they are of as ``property``'s record (:meth:`vector_run`), in place of the
        record there: ``run_record`` (``run``, optionally ``weights`` and ``item_norm``), by
        default ``{"run": run}``; with ``users``, only when ``run_record`` is given (else the record
        stays as it was: their vectors join the recorded run's)."""

    @abstractmethod
    def user_interactions(self, user_ids: list[str]) -> pd.DataFrame:
        """The interactions (``user_id``, ``item_uid``) of these users, sorted."""

    @abstractmethod
    def item_interactions(self, uids: list[str]) -> pd.DataFrame:
        """The interactions (``user_id``, ``item_uid``) with these items, sorted."""

    @abstractmethod
    def items(self, uids: list[str]) -> pd.DataFrame:
        """The rows of the items table (as ``snapshot`` gives them) of these item uids that the
        store holds, sorted by uid: what a few items need, without reading the whole graph."""

    def user_ids(self, among: list[str] | None = None, *, limit: int | None = None) -> list[str]:
        """The ids of the users the store holds, sorted, without reading the whole graph: only
        those in ``among`` when given (which of a load's users it holds), the first ``limit``
        when given (a few to show)."""
        among = None if among is None else id_arguments(among, "users")
        return self._user_ids(among, _check_limit(limit))

    @abstractmethod
    def _user_ids(self, among: list[str] | None, limit: int | None) -> list[str]:
        """:meth:`user_ids`, its arguments checked."""

    def entity_ids(self, among: list[str] | None = None, *, limit: int | None = None) -> list[str]:
        """The ids of the entities the store's graph holds, sorted, without reading the whole
        graph: an entity a triple names, and an item's tie (an entity tied to an item is that
        item, its ``entity_id``), not an entity of a name alone, which no triple reaches (names
        loaded before the triples, or for ids in another format than theirs); only those in
        ``among`` when given (which of the entities a load names it holds), the first ``limit``
        when given (a few to show), as :meth:`user_ids`. A store never written holds none."""
        among = None if among is None else id_arguments(among, "entities")
        return self._entity_ids(among, _check_limit(limit))

    @abstractmethod
    def _entity_ids(self, among: list[str] | None, limit: int | None) -> list[str]:
        """:meth:`entity_ids`, its arguments checked."""

    def name_only_entities(
        self, among: list[str] | None = None, *, limit: int | None = None
    ) -> tuple[int, list[str]]:
        """How many entities of a name alone the store holds, and the ids of the first
        ``limit`` of them, sorted (all when None): entities a load of names made, of a name
        (an empty one is none), that no triple names and no item is tied to (names loaded
        before the triples, or for ids in another format than theirs: ``Q42`` for
        ``wd:Q42``), those :meth:`entity_ids` does not count as held; only those in ``among``
        when given (which of them a load's triples reach). A store never written holds none."""
        among = None if among is None else id_arguments(among, "entities")
        return self._name_only_entities(among, _check_limit(limit))

    @abstractmethod
    def _name_only_entities(
        self, among: list[str] | None, limit: int | None
    ) -> tuple[int, list[str]]:
        """:meth:`name_only_entities`, its arguments checked."""

    @abstractmethod
    def recommendations(self, run: str | None = None) -> pd.DataFrame:
        """Published recommendations (of run ``run``, or all), sorted by run, user and rank.
        A ``run`` that is no run's name (not text, empty, a store's own staging name) is an
        InputError naming ``run``."""

    @abstractmethod
    def explain(self, user_id: str, item_uid: str, *, k: int = 5) -> pd.DataFrame:
        """The ``k`` best paths from ``user_id`` to ``item_uid`` through the graph (the table
        and ranking of :func:`kgrec.explain.explain`). An InputError when ``k`` is not positive,
        the user has no interactions or the item is not in the graph."""

    def read_as_one(self, read: Callable[[], T]) -> T:
        """``read()``, several reads of this store whose answers must agree (the graph's tables
        and its text vectors, :func:`kgrec.data.source.read_graph`), as one: read again when a
        writer changed the store meanwhile, and refused with a StoreError when writers changed
        it during every one of :data:`READ_ATTEMPTS` tries (:func:`read_unchanged`; Neo4j: at
        once while a load writes, naming it).
        A store's own reads of several queries (``snapshot``, ``stats``; Neo4j's ``items``
        and ``explain``) are read so. The default reads once."""
        return read()

    def item_domains(self) -> dict[str, int]:
        """Items per domain (sorted by name) of the graph a write would merge into: a store
        that was never written holds none (where ``stats`` is an error). A load checks its
        domain against them."""
        return {
            name: counts["items"]
            for name, counts in self.stats()["domains"].items()
            if counts.get("items")
        }

    def load_lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock a load holds while it writes, for the block: no load changes the graph
        meanwhile (``kgrec embed`` checks and writes its vectors under it; a Neo4j publish
        too). Every vector write takes it itself, so none of another writer's comes between a
        holder's check and its write. Neo4j: the load lock, refused with a StoreError naming
        its holder (by its recorded command) while another writer holds it, and taken again
        freely within a block of the same store object's. LocalStore: its write lock (a file
        lock, waited for), under which its own writes go ahead. The default holds nothing."""
        return contextlib.nullcontext()

    def break_lock(self) -> dict[str, Any] | None:
        """Clear a load lock left by a writer (a load, embed or publish) that died (see ``kgrec
        graph unlock``); returns what held it, or None when nothing did. Stores whose locks die
        with their holder (LocalStore: an OS file lock) have nothing to clear."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _kind_and_property(kind: str, property: str) -> tuple[str, str]:
    """``kind`` and ``property`` of a vector read or drop, checked (:func:`property_argument`,
    then :func:`node_kind`) once for both stores."""
    property = property_argument(property)
    node_kind(kind)
    return kind, property
