"""The canonical form in which every store keeps, merges and returns the graph tables.

Both stores run the tables of a write through :func:`prepare` and return snapshots through
:func:`stored_form`, so the same loads give the same tables, whichever store holds them.

Merging follows the one rule of :mod:`graph_schema.merge` everywhere: rows with the same key are
one row, and a later value replaces an earlier one unless it is missing (:func:`coalesce`), so a
load that lacks an attribute never erases it; an attribute column that holds text in any load is
text in the store, numbers only stay numbers. Only a write told to clear attributes
(:func:`check_cleared`, ``kgrec load --clear-empty``) removes values.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from math import inf
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from graph_schema.errors import FEW, InputError, few
from graph_schema.merge import blank_as_missing, merge_frames, unify_attribute
from graph_schema.names import PROPERTY_RULE, is_property_name
from graph_schema.tables import (
    DOMAINS,
    ENTITIES,
    RECOMMENDATIONS,
    REL_KINDS,
    SPECS,
    UNCLEARABLE,
    USERS,
    GraphTables,
    TableSpec,
    check_graph_tables,
    empty,
)
from graph_schema.validate import check_indexed_lengths, id_arguments, plain, validate_table, where

log = logging.getLogger(__name__)

KEY_KINDS = ("Item", "Entity")  # what head_kind / tail_kind may name
# node kind -> (table, key column)
NODE_TABLES = {
    "User": ("users", "user_id"),
    "Item": ("items", "uid"),
    "Entity": ("entities", "entity_id"),
    "Domain": ("domains", "domain"),
}


def stored_form(spec: TableSpec, df: pd.DataFrame, *, sort: bool = True) -> pd.DataFrame:
    """``df`` in the form stores keep and return tables (both stores, every snapshot).

    Spec columns come first, in spec order and with spec dtypes (missing optional columns are
    added empty); attribute columns follow sorted by name, each typed by the merge rule
    (:func:`graph_schema.merge.unify_attribute`: text if any value is text, else numbers; list
    values as Python lists), and an attribute that no row has is dropped. Every row must have
    its key. Rows are sorted by the spec's key. (Loaders use
    :func:`graph_schema.validate.cast_spec_columns`, which only casts the spec's columns.)
    """
    _require_columns(spec, df)
    out = {}
    for column in spec.columns:
        values = df[column.name] if column.name in df.columns else None
        try:
            out[column.name] = _as_dtype(values, column.dtype, len(df))
        except (TypeError, ValueError, OverflowError) as exc:  # pandas' own, naming no column
            raise _not_of_dtype(spec, df, column.name, column.dtype) from exc
    if spec.extra_columns:
        known = {c.name for c in spec.columns}
        for name in sorted(str(c) for c in df.columns if c not in known):
            values = df[name]
            if values.isna().all():
                continue
            out[name] = unify_attribute(values)
    result = pd.DataFrame(out, index=range(len(df)))
    for name in spec.key:
        if result[name].isna().any():
            raise InputError(f"table {spec.name!r} has rows without a {name!r}", field=name)
    if sort:
        result = result.sort_values(list(spec.key), kind="stable", ignore_index=True)
    return result


def _require_columns(spec: TableSpec, df: pd.DataFrame) -> None:
    missing = [name for name in spec.required if name not in df.columns]
    if missing:
        raise InputError(f"table {spec.name!r} lacks column(s) {missing}", field=missing[0])


def _as_dtype(values: pd.Series | None, dtype: str, n: int) -> pd.Series:
    if values is None:
        return pd.Series([None] * n, dtype=object if dtype.startswith("list<") else dtype)
    values = values.reset_index(drop=True)
    if dtype.startswith("list<"):
        return _lists(values, str if dtype == "list<string>" else float)
    if dtype == "string":
        return values.astype("string")
    return pd.to_numeric(values).astype(dtype)


def _not_of_dtype(spec: TableSpec, df: pd.DataFrame, name: str, dtype: str) -> InputError:
    """The error for a column of ``df`` that :func:`_as_dtype` cannot type as ``dtype``,
    naming the table, the column and its first value of another type (a year ``"unknown"``, a
    rating ``"x"``): before, pandas' own ValueError or TypeError, which names neither."""
    what = {
        "Int64": "a whole number",
        "float64": "a number",
        "list<string>": "a list of text",
        "list<float32>": "a list of numbers",
    }.get(dtype, dtype)
    values = df[name]
    for position in range(len(values)):
        try:
            _as_dtype(values.iloc[position : position + 1], dtype, 1)
        except (TypeError, ValueError, OverflowError):
            value = plain(values.iloc[position])
            return InputError(
                f"the {spec.name} table's {name!r} holds {value!r}, which is not {what}",
                field=name,
                **where(df, position),
            )
    return InputError(f"the {spec.name} table's {name!r} is not of type {dtype}", field=name)


def _lists(values: pd.Series, cast: type) -> pd.Series:
    def convert(value: Any) -> list | None:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, str):  # a bare string is one element, not its characters
            return [cast(value)]
        return [cast(v) for v in value]

    return pd.Series([convert(v) for v in values], dtype=object)


def coalesce(spec: TableSpec, frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The frames merged by the rule of :mod:`graph_schema.merge`, in stored form: per key and
    column the last value that is not missing; attributes typed across the frames."""
    frames = [f for f in frames if len(f)]
    for frame in frames:
        _require_columns(spec, frame)
    if not frames:
        return stored_form(spec, empty(spec))
    return stored_form(spec, merge_frames(frames, spec))


def prepare(graph: GraphTables) -> GraphTables:
    """The tables of one write, canonical and merged by key, with the nodes they imply.

    Users named by interactions, domains named by items and entities named by knowledge rows
    are added when their tables lack them (as bare keys, so they never erase attributes).
    Items are never implied: see :func:`referenced_items`. Every table is then validated
    (:func:`graph_schema.validate.validate_table`).
    """
    check_graph_tables("graph", graph)
    # an empty field is a missing value, which never erases what a store holds
    tables = {
        name: coalesce(SPECS[name], [blank_as_missing(df, list(SPECS[name].key))])
        for name, df in graph.tables().items()
    }
    knowledge = tables["knowledge"]
    for side in ("head_kind", "tail_kind"):
        bad = ~knowledge[side].isin(KEY_KINDS)
        if bad.any():
            value = knowledge.loc[bad, side].iloc[0]
            raise InputError(
                f"table 'knowledge': {side} must be one of {KEY_KINDS}, not {value!r}", field=side
            )
    implied = {
        "users": (USERS, "user_id", tables["interactions"]["user_id"]),
        "domains": (DOMAINS, "domain", tables["items"]["domain"]),
        "entities": (ENTITIES, "entity_id", knowledge_keys(knowledge, "Entity")),
    }
    for name, (spec, column, keys) in implied.items():
        new = pd.Index(keys.unique()).difference(pd.Index(tables[name][column]))
        if len(new):
            extra = pd.DataFrame({column: pd.Series(new, dtype="string")})
            tables[name] = coalesce(spec, [tables[name], extra])
    for name, table in tables.items():
        validate_table(table, SPECS[name])
        check_indexed_lengths(name, table)
    return GraphTables(**tables)


def attach_to_items(graph: GraphTables, item_of: pd.Series) -> tuple[GraphTables, list[str]]:
    """``graph`` with every knowledge end that names an entity ``item_of`` ties to an item
    (entity_id -> item uid) pointed at that item, and those entities' rows dropped: an entity
    tied to an item *is* that item (``graph_schema.tables``), whichever load tied it. Returns
    the graph and the entity ids it no longer holds (sorted)."""
    knowledge, entities = graph.knowledge, graph.entities
    item_of = item_of[~item_of.index.duplicated(keep="last")]
    gone = sorted(set(entities["entity_id"]).intersection(item_of.index))
    ends = {
        side: (knowledge[f"{side}_kind"] == "Entity") & knowledge[f"{side}_key"].isin(item_of.index)
        for side in ("head", "tail")
    }
    if not gone and not any(end.any() for end in ends.values()):
        return graph, []
    knowledge = knowledge.copy()
    for side, end in ends.items():
        knowledge.loc[end, f"{side}_kind"] = "Item"
        knowledge.loc[end, f"{side}_key"] = knowledge.loc[end, f"{side}_key"].map(item_of)
    tables = graph.tables()
    tables["knowledge"] = coalesce(SPECS["knowledge"], [knowledge])
    tables["entities"] = entities[~entities["entity_id"].isin(gone)].reset_index(drop=True)
    return GraphTables(**tables), gone


def warn_names_of_items(entities: pd.DataFrame, item_of: pd.Series, gone: Sequence[str]) -> None:
    """A logged WARNING when ``entities``, a write's, give names to entities ``gone``: those
    :func:`attach_to_items` drops, as tied to items (``item_of``: entity_id -> uid). Such an
    entity is its item, which goes by its title: the name is not stored, and without a word
    the load seemed to name it (``kgrec load table --kind entities``)."""
    named = entities[
        entities["entity_id"].isin(list(gone)).to_numpy(dtype=bool)
        & blank_as_missing(entities[["name"]], [])["name"].notna().to_numpy(dtype=bool)
    ]
    if not len(named):
        return
    ids = sorted(named["entity_id"].astype(str))
    item_of = item_of[~item_of.index.duplicated(keep="last")]
    one = len(ids) == 1
    log.warning(
        "the load names %s entit%s tied to %s, whose name%s not stored: an entity tied to an "
        "item is that item, which goes by its title, one kgrec load table --kind items "
        "gives it (%sentity %r is item %r%s)",
        f"{len(ids):,}",
        "y" if one else "ies",
        "an item" if one else "items",
        " is" if one else "s are",
        "" if one else "first: ",
        ids[0],
        item_of[ids[0]],
        "" if one else f"; others {few(ids[1:])}",
    )


def warn_names_tied(named: pd.DataFrame, item_of: pd.Series) -> None:
    """A logged WARNING when a write ties to items (``item_of``: entity_id -> uid, its ties)
    entities the store holds names of (``named``: their ``entity_id`` and ``name``, as the
    store holds them): such an entity is its item from then on, which goes by its title, and
    its Entity node goes, its name with it (:func:`attach_to_items`). Without a word, a name
    an earlier ``kgrec load table --kind entities`` gave was lost."""
    if not len(named):
        return
    named = named.sort_values("entity_id")
    item_of = item_of[~item_of.index.duplicated(keep="last")]
    one = len(named) == 1
    shown = [
        f"entity {str(entity)!r}, named {str(name)!r}, is item {str(item_of[entity])!r}"
        for entity, name in zip(named["entity_id"][:FEW], named["name"][:FEW], strict=True)
    ]
    log.warning(
        "the load ties %s entit%s the store holds %s of to %s, whose name%s with %s Entity "
        "node%s: an entity tied to an item is that item, which goes by its title, one kgrec "
        "load table --kind items gives it (%s%s)",
        f"{len(named):,}",
        "y" if one else "ies",
        "a name" if one else "names",
        "an item" if one else "items",
        " goes" if one else "s go",
        "its" if one else "their",
        "" if one else "s",
        "; ".join(shown),
        "; ..." if len(named) > FEW else "",
    )


def linked_items(items: pd.DataFrame) -> pd.Series:
    """entity_id -> uid of the items tied to an entity."""
    tied = items[items["entity_id"].notna()]
    return pd.Series(tied["uid"].to_numpy(), index=tied["entity_id"].to_numpy(), dtype=object)


class EntityTieError(InputError):
    """A write ties an entity to an item while it is another, or an item to an entity while
    the store ties it to another (:func:`check_entity_ties`); ``uid``: the write's item whose
    tie is refused, by which a loader's caller finds the file and line that tied it (``kgrec
    load``), ``message``: the error without file and line."""

    def __init__(self, message: str, *, uid: str) -> None:
        super().__init__(message, field="entity_id")
        self.uid = uid


def check_entity_ties(items: pd.DataFrame, stored: pd.DataFrame) -> None:
    """An entity is at most one item and an item at most one entity (``graph_schema.tables``),
    across loads too: an :class:`EntityTieError` for an entity that a write's ``items`` tie to
    two items, for an item they tie to an entity while the store ties it to another, or for an
    entity they tie to an item while the store ties it to another. ``stored``: the store's
    items (``uid``, ``entity_id``), at least those tied to the write's entities and the write's
    items that the store ties to an entity.

    Without it an entity was two items, and the knowledge a later load gave it attached to one
    of them: which one, each store chose its own way; and a load replaced an item's tie
    without a word."""
    tied = items[items["entity_id"].notna()]
    again = tied["entity_id"].duplicated(keep=False).to_numpy()
    if again.any():
        entity = tied["entity_id"].to_numpy()[again][0]
        uids = sorted(tied.loc[tied["entity_id"] == entity, "uid"])
        raise EntityTieError(
            f"entity {entity!r} is tied to two items, {uids[0]!r} and {uids[1]!r} (an entity "
            "is at most one item)",
            uid=uids[1],
        )
    held = stored[stored["entity_id"].notna().to_numpy(dtype=bool)]
    pairs = pd.DataFrame(
        {"uid": tied["uid"].astype(object), "entity_id": tied["entity_id"].astype(object)}
    ).merge(
        pd.DataFrame({"uid": held["uid"].astype(object), "held": held["entity_id"].astype(object)}),
        on="uid",
    )
    changed = pairs[pairs["entity_id"] != pairs["held"]].sort_values("uid")
    if len(changed):
        uid, entity, new = changed[["uid", "held", "entity_id"]].iloc[0]
        raise EntityTieError(
            f"item {uid!r} is entity {entity!r} in the store, and this load ties it to entity "
            f"{new!r}: an item is at most one entity, and a load never changes the entity a "
            f"store ties an item to (tie it to {entity!r}, or load it into a new store)",
            uid=uid,
        )
    other = stored[
        stored["entity_id"].isin(tied["entity_id"]).to_numpy(dtype=bool)
        & ~stored["uid"].isin(tied["uid"]).to_numpy(dtype=bool)
    ]
    if len(other):
        entity, uid = other["entity_id"].iloc[0], other["uid"].iloc[0]
        new = tied.loc[tied["entity_id"] == entity, "uid"].iloc[0]
        raise EntityTieError(
            f"entity {entity!r} is item {uid!r} in the store, and this load ties it to item "
            f"{new!r}: an entity is at most one item (give each item an entity of its own, "
            "and tie them through a knowledge triple)",
            uid=new,
        )


def knowledge_keys(knowledge: pd.DataFrame, kind: str) -> pd.Series:
    """The keys of the nodes of ``kind`` (``Item``, ``Entity``) the ``knowledge`` rows name, at
    either end (once per end that names one)."""
    heads = knowledge.loc[knowledge["head_kind"] == kind, "head_key"]
    tails = knowledge.loc[knowledge["tail_kind"] == kind, "tail_key"]
    return pd.concat([heads, tails], ignore_index=True)


def held_entity_keys(knowledge: pd.DataFrame, items: pd.DataFrame) -> pd.Series:
    """The entity ids a graph holds beyond a name alone: those its ``knowledge`` rows name (at
    either end) and its ``items``' ties (their ``entity_id``), repeats kept."""
    tied = items["entity_id"].dropna()
    return pd.concat([knowledge_keys(knowledge, "Entity"), tied], ignore_index=True)


def referenced_items(graph: GraphTables) -> pd.Index:
    """Item uids that interactions or knowledge rows name but ``graph.items`` lacks."""
    named = pd.concat([graph.interactions["item_uid"], knowledge_keys(graph.knowledge, "Item")])
    return pd.Index(named.unique()).difference(pd.Index(graph.items["uid"]))


def table_stats(graph: GraphTables, recommendations: pd.DataFrame) -> dict[str, Any]:
    """Counts per node kind, relationship kind, domain and knowledge relation."""
    items, interactions = graph.items, graph.interactions
    domain_of = pd.Series(items["domain"].to_numpy(), index=items["uid"].to_numpy())
    inter_domain = interactions["item_uid"].map(domain_of)
    domains = {}
    for name in sorted(graph.domains["domain"]):
        in_domain = inter_domain == name
        domains[name] = {
            "items": int((items["domain"] == name).sum()),
            "users": int(interactions.loc[in_domain, "user_id"].nunique()),
            "interactions": int(in_domain.sum()),
        }
    relations = graph.knowledge["relation"].value_counts()
    return make_stats(
        nodes={
            "User": len(graph.users),
            "Item": len(items),
            "Entity": len(graph.entities),
            "Domain": len(graph.domains),
        },
        relationships={
            "INTERACTED": len(interactions),
            "RELATED": len(graph.knowledge),
            "IN_DOMAIN": len(items),
            "RECOMMENDED": len(recommendations),
        },
        domains=domains,
        relations={str(k): int(v) for k, v in relations.items()},
    )


def make_stats(
    *,
    nodes: dict[str, int],
    relationships: dict[str, int],
    domains: dict[str, dict[str, int]],
    relations: dict[str, int],
) -> dict[str, Any]:
    """The stats dict both stores return: every kind present, names sorted."""
    return {
        "nodes": {kind: int(nodes.get(kind, 0)) for kind in ("User", "Item", "Entity", "Domain")},
        "relationships": {kind: int(relationships.get(kind, 0)) for kind in REL_KINDS},
        "domains": {name: domains[name] for name in sorted(domains)},
        "relations": {name: relations[name] for name in sorted(relations)},
    }


def node_kind(kind: str) -> tuple[str, str]:
    """The (table, key column) of a node kind; an unknown kind is an InputError."""
    if kind not in NODE_TABLES:
        raise InputError(f"unknown node kind {kind!r}; expected one of {list(NODE_TABLES)}")
    return NODE_TABLES[kind]


def property_argument(property: object) -> str:
    """``property``, the name of a property of vectors or attributes given to a store's write
    or read: an InputError naming ``property`` unless it is a graph_schema property name (it
    becomes a Neo4j property and index; no other name can be held)."""
    if not is_property_name(property):
        raise InputError(f"{property!r} is not a property name ({PROPERTY_RULE})", field="property")
    return property


def vector_rows(kind: str, keys: list[str], vectors: np.ndarray, property: str) -> np.ndarray:
    """``vectors`` as a float32 matrix with one row per key, after checking them, the keys and
    the property name (:func:`property_argument`)."""
    node_kind(kind)
    property_argument(property)
    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:  # rows of several lengths, text: numpy's own words
        raise InputError(
            f"the {kind} vectors are not a matrix of numbers, one row per key: {exc}",
            field="vectors",
        ) from exc
    if matrix.ndim != 2 or matrix.shape[0] != len(keys) or matrix.shape[1] == 0:
        raise InputError(
            f"expected a ({len(keys)}, dim) matrix of vectors for {len(keys)} keys, "
            f"got shape {matrix.shape}",
            field="vectors",
        )
    if len(set(keys)) != len(keys):
        twice = sorted(key for key, count in Counter(keys).items() if count > 1)
        raise InputError(f"{kind} vector keys must be unique: {few(twice)} twice", field="keys")
    if not np.isfinite(matrix).all():
        rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        raise InputError(
            f"{kind} vectors contain NaN or infinite values ({len(rows)} row(s), first: key "
            f"{keys[rows[0]]!r})",
            field="vectors",
        )
    return matrix


def checked_vectors(
    vectors: Mapping[str, tuple[Sequence[str], np.ndarray]], property: str
) -> dict[str, tuple[list[str], np.ndarray]]:
    """Kind -> keys (as the ids the store keys: :func:`id_arguments`, ``7`` is node ``"7"``)
    and their matrix, checked (:func:`vector_rows`)."""
    checked = {}
    for kind, (keys, matrix) in vectors.items():
        ids = id_arguments(keys, "keys")
        checked[kind] = (ids, vector_rows(kind, ids, matrix, property))
    return checked


def check_vector_property(kind: str, property: str, *, attribute: bool) -> None:
    """InputError when vectors may not be stored as ``kind.property``: it is one of the kind's
    columns, or (``attribute``) an attribute the store holds. In Neo4j, where both are node
    properties, the vectors would replace it (``kgrec embed --property title``)."""
    table, _ = node_kind(kind)
    if attribute or property in {c.name for c in SPECS[table].columns}:
        raise InputError(
            f"{property!r} is a property of the graph's {kind} nodes, which vectors stored under "
            "it would replace: store them under another property",
            field="property",
        )


def has_attributes(graph: GraphTables) -> bool:
    """Whether ``graph``'s users or items have attribute columns (beyond their tables' own,
    which no vector property may name): only then can a write clash with the store's vectors
    (:func:`check_attributes_against_vectors`), which a store need not read otherwise."""
    return any(
        set(getattr(graph, table).columns) - {c.name for c in SPECS[table].columns}
        for table in ("users", "items")
    )


def check_attributes_against_vectors(graph: GraphTables, vectors: dict[str, list[str]]) -> None:
    """InputError when the attributes of ``graph``'s users or items name a property the store
    keeps vectors in (``vectors``: kind -> properties), which in Neo4j they would replace."""
    for kind in ("User", "Item"):
        table, _ = node_kind(kind)
        clash = sorted(set(getattr(graph, table).columns) & set(vectors.get(kind, ())))
        if clash:
            raise InputError(
                f"the {table}' attribute {clash[0]!r} names the property that holds the "
                f"store's {kind} vectors: rename the column",
                field=clash[0],
            )


def check_cleared(
    graph: GraphTables,
    clear: Mapping[str, Mapping[str, Iterable[str]]] | None,
    vectors: Mapping[str, Iterable[str]],
) -> dict[str, dict[str, list[str]]]:
    """``clear`` (node kind -> attribute -> keys of the nodes that lose it) checked against the
    write ``graph`` (prepared) and the properties that hold the store's vectors (``vectors``:
    kind -> properties): an InputError for a kind other than User or Item, an attribute a
    write may not clear (:data:`~graph_schema.tables.UNCLEARABLE`, a name that is no property
    name, a property holding vectors, which Neo4j would drop with it), or a node the write
    does not write or gives a value of that attribute. Returns it with sorted keys, attributes
    of none left out."""
    checked: dict[str, dict[str, list[str]]] = {}
    for kind, names in (clear or {}).items():
        if kind not in ("User", "Item"):
            raise InputError(
                f"a write clears attributes of User and Item nodes, not of {kind!r}", field="clear"
            )
        table, key = node_kind(kind)
        frame = getattr(graph, table)
        for name, keys in names.items():
            keys = sorted(set(id_arguments(keys, name)))  # 7 is node "7"; "u1" no list
            if not keys:
                continue
            if name in UNCLEARABLE or not is_property_name(name):
                raise InputError(f"{kind}.{name} is not an attribute a write may clear", field=name)
            if name in set(vectors.get(kind, ())):
                raise InputError(
                    f"{kind}.{name} is the property that holds the store's {kind} vectors, "
                    "not an attribute a write may clear",
                    field=name,
                )
            rows = frame[frame[key].isin(keys).to_numpy(dtype=bool)]
            absent = sorted(set(keys) - set(rows[key]))
            if absent:
                raise InputError(
                    f"the write clears {kind}.{name} of {len(absent)} node(s) it does not "
                    f"write: {few(absent)}",
                    field=name,
                )
            given = sorted(rows.loc[rows[name].notna(), key]) if name in rows else []
            if given:
                raise InputError(
                    f"the write both gives and clears {kind}.{name} of {few(given)}", field=name
                )
            checked.setdefault(kind, {})[name] = keys
    return checked


def clear_attributes(
    kind: str, table: pd.DataFrame, cleared: Mapping[str, Sequence[str]]
) -> pd.DataFrame:
    """``kind``'s table (stored form) without the attributes ``cleared`` names (attribute ->
    keys of the nodes that lose it; :func:`check_cleared`), in stored form: an attribute no
    node has any more goes."""
    if not cleared:
        return table
    name, key = node_kind(kind)
    out = table.copy()
    for attribute, keys in cleared.items():
        if attribute in out:
            out.loc[out[key].isin(list(keys)).to_numpy(dtype=bool), attribute] = None
    return stored_form(SPECS[name], out)


def check_dimension(
    kind: str,
    property: str,
    stored: int | None,
    given: int,
    *,
    remedy: str = "store them under another property",
) -> None:
    """InputError unless vectors of ``given`` dimensions may join ``kind.property``, whose
    stored vectors have ``stored`` dimensions (None: there are none)."""
    if stored is not None and stored != given:
        raise InputError(
            f"{kind}.{property} holds {stored}-dimensional vectors, these have {given}; {remedy}",
            field="property",
        )


# run names that stores keep for themselves (a staged Neo4j publish, kgrec.store.neo4j)
STAGING_PREFIX = "kgrec-staging:"


def check_run_name(run: str, field: str = "run") -> None:
    """An InputError, naming ``field``, for a run name the stores keep for themselves."""
    if run.startswith(STAGING_PREFIX):
        raise InputError(
            f"run names starting with {STAGING_PREFIX!r} are kgrec's own (staged publishes); "
            f"choose another name than {run!r}",
            field=field,
        )


def given_run_name(name: object, field: str = "run") -> str:
    """``name``, a run name a user gives (``Run.publish(name=...)``, ``--name``, the
    notebook's ``run``), stripped, as :func:`run_argument` reads it (a blank one refused)."""
    return run_argument(name.strip() if isinstance(name, str) else name, field)


def run_argument(run: object, field: str = "run") -> str:
    """``run``, a recommendation run's name given to a publish or a read: an InputError
    naming ``field`` unless it is non-empty text that is not a store's own name
    (:func:`check_run_name`)."""
    if not isinstance(run, str) or not run:
        raise InputError(f"a run name is text, not empty, got {run!r}", field=field)
    check_run_name(run, field)
    return run


def recommendation_table(recommendations: pd.DataFrame, run: str) -> pd.DataFrame:
    """The RECOMMENDATIONS table of run ``run`` (its ``run`` column set to ``run``)."""
    run = run_argument(run)
    table = recommendations.assign(run=run)
    table = stored_form(RECOMMENDATIONS, table)
    for column in RECOMMENDATIONS.columns:  # every one is required; +inf is a score
        missing = table[column.name].isna().to_numpy(dtype=bool)
        if column.dtype == "string":
            missing = missing | (table[column.name] == "").to_numpy(dtype=bool, na_value=True)
        if missing.any():
            row = table.iloc[int(np.argmax(missing))]
            raise InputError(
                f"the recommendation of ({row['user_id']!r}, {row['item_uid']!r}) has no "
                f"{column.name}: every recommendation has a user, an item, a score, a rank "
                "and a model",
                field=column.name,
            )
    if table.duplicated(list(RECOMMENDATIONS.key)).any():
        raise InputError("recommendations name the same (user, item) twice", field="item_uid")
    return table


class UnknownNodesError(InputError):
    """Rows name nodes that are not in the store (:func:`unknown_keys_error`)."""


def unknown_keys_error(kind: str, unknown: Iterable[str], what: str) -> InputError:
    """The error for ``what`` that names ``kind`` nodes which are not in the store."""
    unknown = sorted(unknown)
    return UnknownNodesError(
        f"{what} name {len(unknown)} {kind} node(s) missing from the graph: {few(unknown)}",
        field=NODE_TABLES[kind][1],
    )


def check_publish_property(vectors: object, property: str | None) -> None:
    """A publish with vectors names the property they go to: no default, so that an API
    publish never writes a run's embeddings over the text vectors (``embedding``, what
    kgrec embed writes; before, the default)."""
    if vectors is not None and property is None:
        raise InputError(
            "a publish with vectors names the property they go to (kgrec recommend publishes "
            "to 'gnn_embedding'); there is no default, so that a run's embeddings never "
            "replace the text vectors ('embedding')",
            field="property",
        )


def check_publish_not_text(
    uri: str, property: str, model: Mapping[str, str] | None, *, field: str = "property"
) -> None:
    """An InputError when ``model``, the store's record of ``property``'s vectors
    (:meth:`GraphStore.vector_model`), is a text model's: a publish never writes a run's
    embeddings over text vectors (kgrec embed's), as kgrec embed never writes text vectors
    over a run's (:func:`kgrec.text.embed.check_text_property`). ``field``: the option or
    argument to name."""
    if model is None:
        return
    from kgrec.store import redact

    raise InputError(
        f"{redact(uri)} holds text vectors {property!r} of model {model['name']} (kgrec embed "
        f"--property {property}), which the run's embeddings would replace. Nothing was "
        "written: publish without vectors (kgrec recommend --no-vectors), or embed the texts "
        "under another --property",
        field=field,
    )


def check_publish_users(table: pd.DataFrame, users: list[str] | None) -> list[str] | None:
    """With ``users``, a publication may only hold those users' recommendations; returns
    ``users`` as ids (:func:`id_arguments`)."""
    if users is None:
        return None
    users = id_arguments(users, "users")
    others = pd.Index(table["user_id"].unique()).difference(pd.Index(users))
    if len(others):
        raise InputError(
            f"recommendations of user {others[0]!r} published as those of {len(users)} "
            "named users only",
            field="users",
        )
    return users


def unvectored_users(
    users: list[str] | None, vectors: Mapping[str, tuple[Sequence[str], Any]] | None
) -> list[str]:
    """The users of a publish for some users (``users``, checked) who lose their vector: with
    ``User`` vectors, those given no row (their embedding learnt nothing), so that no earlier
    publish's vector of theirs is left beside the new ones."""
    if users is None or vectors is None or "User" not in vectors:
        return []
    given = set(vectors["User"][0])
    return [user for user in users if user not in given]


def publish_record(
    run: str, users: list[str] | None, record: Any, vectors: bool
) -> dict[str, Any] | None:
    """What a publish records as the run of its vectors (:meth:`GraphStore.vector_run`): None
    when it records nothing (no vectors, or some users' without ``record``), else ``run``,
    ``weights`` (text) and ``item_norm`` (a float, not negative) of ``record`` (default:
    ``{"run": run}``); an InputError naming the field that is none of these."""
    if not vectors or (record is None and users is not None):
        return None
    if record is None:
        return {"run": run}
    if not isinstance(record, Mapping) or not isinstance(record.get("run"), str):
        raise InputError(f"a run record names its run (text), got {record!r}", field="run_record")
    unknown = set(record) - {"run", "weights", "item_norm"}
    if unknown:
        raise InputError(f"a run record has no field {sorted(unknown)[0]!r}", field="run_record")
    checked: dict[str, Any] = {"run": record["run"]}
    if record.get("weights") is not None:
        if not isinstance(record["weights"], str):
            raise InputError(f"weights is text, got {record['weights']!r}", field="run_record")
        checked["weights"] = record["weights"]
    if record.get("item_norm") is not None:
        norm = record["item_norm"]
        # a NumPy number (np.float32 of a norm numpy computed) is the number it holds
        if isinstance(norm, bool) or not isinstance(norm, Real) or not 0 <= norm < inf:
            raise InputError(f"item_norm is a norm, got {norm!r}", field="run_record")
        checked["item_norm"] = float(norm)
    return checked
