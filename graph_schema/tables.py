"""Canonical tables of the shared graph: the contract between loaders, stores and models.

Every table is a pandas DataFrame whose columns are given here. Ids are strings. An item
belongs to exactly one domain and is identified across the graph by its ``uid``
(``"<domain>:<item_id>"``, see :func:`item_uid`); the same ``user_id`` is the same user in every
domain. Knowledge edges join items and entities; an entity that a link file ties to an item
*is* that item (it becomes the item's ``entity_id``), so its triples attach to the Item, in the
load that ties it and in every load before or after it
(:func:`kgrec.store.canonical.attach_to_items`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a table is made: the argument parsers read DOMAIN_PATTERN
    import pandas as pd

DOMAIN_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")

NODE_KINDS = ("User", "Item", "Entity", "Domain")
# Relationship kinds of the graph. Source relation names (e.g. `film.film.actor`) are data: the
# `relation` property of RELATED, never a relationship type.
REL_KINDS = ("INTERACTED", "RELATED", "IN_DOMAIN", "RECOMMENDED")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # "string", "float64", "Int64", "list<string>", "list<float32>"
    required: bool = True


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # rows with the same key are the same row (merged on write)
    extra_columns: bool = False  # whether other (attribute) columns are allowed

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _c(name: str, dtype: str = "string", required: bool = True) -> Column:
    return Column(name, dtype, required)


DOMAINS = TableSpec("domains", (_c("domain"),), key=("domain",))
USERS = TableSpec("users", (_c("user_id"),), key=("user_id",), extra_columns=True)
ITEMS = TableSpec(
    "items",
    (
        _c("uid"),
        _c("domain"),
        _c("item_id"),
        _c("title", required=False),
        _c("year", "Int64", required=False),
        _c("genres", "list<string>", required=False),
        _c("entity_id", required=False),
    ),
    key=("uid",),
    extra_columns=True,
)
ENTITIES = TableSpec("entities", (_c("entity_id"), _c("name", required=False)), key=("entity_id",))
INTERACTIONS = TableSpec(
    "interactions",
    (
        _c("user_id"),
        _c("item_uid"),
        _c("rating", "float64", required=False),
        _c("timestamp", "float64", required=False),
    ),
    key=("user_id", "item_uid"),
)
# head_kind / tail_kind are "Item" (key = item uid) or "Entity" (key = entity_id).
KNOWLEDGE = TableSpec(
    "knowledge",
    (_c("head_kind"), _c("head_key"), _c("relation"), _c("tail_kind"), _c("tail_key")),
    key=("head_kind", "head_key", "relation", "tail_kind", "tail_key"),
)
RECOMMENDATIONS = TableSpec(
    "recommendations",
    (
        _c("user_id"),
        _c("item_uid"),
        _c("score", "float64"),
        _c("rank", "Int64"),
        _c("model"),
        _c("run"),
    ),
    key=("run", "user_id", "item_uid"),
)

GRAPH_TABLES = (DOMAINS, USERS, ITEMS, ENTITIES, INTERACTIONS, KNOWLEDGE)
SPECS = {spec.name: spec for spec in (*GRAPH_TABLES, RECOMMENDATIONS)}
# The columns of users and items that a write never clears (kgrec load --clear-empty clears
# their other attributes, an item's title, year and genres too): ids, an item's domain, and its
# tie to an entity (the knowledge attached to the item would stay the item's)
UNCLEARABLE = frozenset({"user_id", "uid", "domain", "item_id", "entity_id"})


def item_uid(domain: str, item_id: str) -> str:
    """The graph-wide key of an item: its domain and its id in that domain."""
    return f"{domain}:{item_id}"


def item_titles(items: pd.DataFrame, uids: Sequence[str]) -> tuple[str, ...]:
    """The title of each item of ``uids`` in the items table ``items`` (its first row of the
    uid, as kgrec's export keeps), its ``name`` attribute where it has no title (a table
    loaded with names), ``""`` for an item with neither (no row, no such column, a missing or
    empty value): how recommendations and explanations label an item."""
    import pandas as pd

    items = items.drop_duplicates("uid")
    keys = items["uid"].astype(str).to_numpy()
    labels = pd.Series([""] * len(items), index=keys, dtype=object)
    for column in ("name", "title"):  # a title over a name
        if column in items:
            values = pd.Series(items[column].to_numpy(dtype=object), index=keys)
            # text alone: a name attribute loaded as a number (1997) is no label
            given = values.map(lambda v: isinstance(v, str) and v != "")
            labels = labels.where(~given, values)
    return tuple(labels.reindex(list(uids)).fillna(""))


def empty(spec: TableSpec) -> pd.DataFrame:
    """An empty table with the spec's columns."""
    import pandas as pd

    return pd.DataFrame({c.name: pd.Series(dtype=_pandas_dtype(c.dtype)) for c in spec.columns})


def _pandas_dtype(dtype: str) -> str:
    return "object" if dtype.startswith("list<") else dtype


@dataclass
class GraphTables:
    """One graph (or one load's worth of it) as canonical tables."""

    domains: pd.DataFrame = field(default_factory=lambda: empty(DOMAINS))
    users: pd.DataFrame = field(default_factory=lambda: empty(USERS))
    items: pd.DataFrame = field(default_factory=lambda: empty(ITEMS))
    entities: pd.DataFrame = field(default_factory=lambda: empty(ENTITIES))
    interactions: pd.DataFrame = field(default_factory=lambda: empty(INTERACTIONS))
    knowledge: pd.DataFrame = field(default_factory=lambda: empty(KNOWLEDGE))

    def tables(self) -> dict[str, pd.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def check_graph_tables(name: str, value: object) -> None:
    """A TypeError unless ``value`` is a :class:`GraphTables` (a dict of DataFrames:
    ``GraphTables(**tables)`` makes one)."""
    if not isinstance(value, GraphTables):
        hint = " (GraphTables(**tables) makes one)" if isinstance(value, dict) else ""
        raise TypeError(f"{name} must be a GraphTables, got {type(value).__name__}{hint}")
