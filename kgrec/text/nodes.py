"""The text of each node of the graph, from the canonical tables and the templates.

Items speak through their title, year, genres and the names of linked entities; entities
through their name or, unnamed (ml-100k's Freebase ids such as ``m.0bln8``), through their
place in the knowledge graph ("actor in Toy Story (1995), Heat (1995)"); users, when asked
for, through their attributes (and, with a template that names ``{items}``, a few of their
items: from every interaction, held-out ones included). Every function returns a
``pd.Series`` of texts indexed by the node key (item ``uid``, ``entity_id``, ``user_id``);
a node with nothing to say has the empty string.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd

from graph_schema.tables import ITEMS, USERS, GraphTables
from kgrec.errors import KgrecError
from kgrec.text.templates import (
    DEFAULT_TEMPLATES,
    ENTITY_FIELDS,
    ITEM_FIELDS,
    USER_FIELDS,
    Templates,
)

TEXT_KINDS = ("Item", "Entity", "User")


def node_texts(
    graph: GraphTables,
    kinds: Iterable[str] = ("Item", "Entity"),
    templates: Templates = DEFAULT_TEMPLATES,
    *,
    max_listed: int = 5,
    max_relations: int = 3,
) -> dict[str, pd.Series]:
    """Texts of every node of each kind in ``kinds`` (``Item``, ``Entity``, ``User``).

    ``max_listed`` caps the names listed per relation, per item and per user;
    ``max_relations`` the relations an entity's context names.
    """
    out: dict[str, pd.Series] = {}
    for kind in kinds:
        if kind == "Item":
            out[kind] = item_texts(graph, templates, max_listed=max_listed)
        elif kind == "Entity":
            out[kind] = entity_texts(
                graph, templates, max_listed=max_listed, max_relations=max_relations
            )
        elif kind == "User":
            out[kind] = user_texts(graph, templates, max_listed=max_listed)
        else:
            raise KgrecError(f"no texts for node kind {kind!r}; choose from {TEXT_KINDS}")
    return out


def item_labels(items: pd.DataFrame) -> pd.Series:
    """``"Title (year)"`` per item uid; the bare title without a year or when it already ends
    with ``(year)``; ``""`` without a title."""
    title = _strings(items, "title")
    year = _strings(items, "year")
    suffix = " (" + year + ")"
    has_year = pd.Series(
        [t.endswith(f"({y})") for t, y in zip(title, year, strict=True)], index=items.index
    )
    label = title.where(year.eq("") | title.eq("") | has_year, title + suffix)
    return pd.Series(label.to_numpy(), index=items["uid"].astype(str).to_numpy())


def item_texts(
    graph: GraphTables, templates: Templates = DEFAULT_TEMPLATES, *, max_listed: int = 5
) -> pd.Series:
    """Item texts by uid (template ``item``)."""
    items = graph.items
    extras = _extra_columns(items, ITEMS.columns)
    templates.item.check(ITEM_FIELDS | set(extras))
    uids = items["uid"].astype(str)
    names = _entity_names(graph.entities)
    linked = _neighbours(graph.knowledge, "Item")
    linked = linked[linked["other_kind"].eq("Entity")]
    linked = linked.assign(name=linked["other_key"].map(names)).dropna(subset=["name"])
    entities = (
        linked.sort_values(["key", "name"])
        .drop_duplicates(["key", "name"])
        .groupby("key", sort=False)["name"]
        .agg(lambda s: ", ".join(s.iloc[:max_listed]))
    )
    columns = {  # an attribute named like a field (label) is in attributes, not the field
        **{c: _strings(items, c) for c in extras},
        "uid": uids,
        "item_id": _strings(items, "item_id"),
        "domain": _strings(items, "domain"),
        "title": _strings(items, "title"),
        "year": _strings(items, "year"),
        "genres": _strings(items, "genres"),
        "label": pd.Series(item_labels(items).to_numpy(), index=items.index),
        "entities": _lookup(uids, entities),
        "attributes": _attributes(items, extras),
    }
    return _render(templates.item.render, columns, uids)


def entity_texts(
    graph: GraphTables,
    templates: Templates = DEFAULT_TEMPLATES,
    *,
    max_listed: int = 5,
    max_relations: int = 3,
) -> pd.Series:
    """Entity texts by entity_id (template ``entity`` if named, else ``entity_unnamed``)."""
    entities = graph.entities
    templates.entity.check(ENTITY_FIELDS)
    templates.entity_unnamed.check(ENTITY_FIELDS)
    keys = entities["entity_id"].astype(str)
    contexts = relation_contexts(graph, max_listed=max_listed, max_relations=max_relations)
    names = _strings(entities, "name")
    values = pd.DataFrame(
        {"entity_id": keys, "name": names, "context": _lookup(keys, contexts)}
    ).to_dict("records")
    texts = [
        (templates.entity if row["name"] else templates.entity_unnamed).render(row)
        for row in values
    ]
    return pd.Series(texts, index=keys.to_numpy(), dtype=object)


def user_texts(
    graph: GraphTables, templates: Templates = DEFAULT_TEMPLATES, *, max_listed: int = 5
) -> pd.Series:
    """User texts by user_id (template ``user``)."""
    users = graph.users
    extras = _extra_columns(users, USERS.columns)
    templates.user.check(USER_FIELDS | set(extras))
    ids = users["user_id"].astype(str)
    inter = graph.interactions
    labels = item_labels(graph.items)
    inter = inter.assign(label=inter["item_uid"].astype(str).map(labels))
    inter = inter[inter["label"].fillna("").ne("")]
    # best rated, then most recent, then by label: the same text whatever the row order
    order = [c for c in ("rating", "timestamp") if c in inter and inter[c].notna().any()]
    inter = inter.sort_values(
        [*order, "label"], ascending=[False] * len(order) + [True], na_position="last"
    )
    inter = inter.assign(user=inter["user_id"].astype(str))
    items = (
        inter.groupby("user", sort=False).head(max_listed).groupby("user", sort=False)["label"]
    ).agg(", ".join)
    columns = {  # as for items: the fields win over attributes of their names
        **{c: _strings(users, c) for c in extras},
        "user_id": ids,
        "attributes": _attributes(users, extras),
        "items": _lookup(ids, items),
    }
    return _render(templates.user.render, columns, ids)


def relation_phrase(relation: str, *, node_is_head: bool) -> str:
    """How a node relates to the nodes a ``relation`` edge joins it with, as words.

    Relation names are read as Freebase-style paths ``domain.type.property`` (``.`` or ``/``):
    the head is a ``type`` and the tail its ``property``. So the head of
    ``film.director.film`` is a "director of" its tail, the tail of ``film.film.actor`` an
    "actor in" its head, and the tail of a passive ``film.film.directed_by`` "directed" it.
    A name without dots (``starring``) is used as it is.
    """
    segments = _segments(relation)
    role = relation_role(relation, node_is_head=node_is_head)
    if node_is_head:
        return f"{role} of" if len(segments) >= 2 else role
    if segments and segments[-1].endswith("_by") and len(segments[-1]) > 3:
        return _words(segments[-1][:-3])
    return f"{role} in" if segments else role


def relation_role(relation: str, *, node_is_head: bool) -> str:
    """What a node is to the nodes a ``relation`` edge joins it with, read as
    :func:`relation_phrase` reads it: the head of ``film.director.film`` is a "director", the
    tail of ``film.film.actor`` an "actor", the tail of ``film.film.directed_by`` "directed by"
    its head. A name without dots is used as it is."""
    segments = _segments(relation)
    if not segments:
        return relation
    return _words(segments[-2] if node_is_head and len(segments) >= 2 else segments[-1])


def _segments(relation: str) -> list[str]:
    return [s for s in re.split(r"[./]", relation) if s]


def relation_contexts(
    graph: GraphTables, *, max_listed: int = 5, max_relations: int = 3
) -> pd.Series:
    """Per entity, what its knowledge edges say about it:
    ``"actor in Toy Story (1995), Heat (1995); director of Heat (1995)"``.

    Only neighbours with a readable label (items with a title, named entities) are listed,
    the items with the most knowledge edges first (not the most interacted: the store's
    interactions hold valid and test ones, which a model's input must not read), at most
    ``max_listed`` per relation; relations with the most such neighbours come first, at most
    ``max_relations``; a label is listed once per entity (so ``film.director.film`` and its
    reverse ``film.film.directed_by`` do not repeat it).
    """
    edges = _neighbours(graph.knowledge, "Entity")
    labels = pd.concat(
        [
            item_labels(graph.items).rename(lambda k: f"Item:{k}"),
            _entity_names(graph.entities).rename(lambda k: f"Entity:{k}"),
        ]
    )
    knowledge = graph.knowledge
    known = pd.concat(
        [
            knowledge.loc[knowledge[f"{side}_kind"] == "Item", f"{side}_key"]
            for side in ("head", "tail")
        ]
    )
    degree = known.astype(str).value_counts()
    edges = edges.assign(
        label=(edges["other_kind"] + ":" + edges["other_key"]).map(labels),
        weight=edges["other_key"].map(degree).where(edges["other_kind"].eq("Item")),
    )
    edges = edges[edges["label"].fillna("").ne("")]
    if edges.empty:
        return pd.Series(dtype=object)
    relation = ["key", "relation", "node_is_head"]
    edges = (
        edges.assign(
            size=edges.groupby(relation)["label"].transform("size"),
            weight=edges["weight"].fillna(0),
        )
        .sort_values(
            ["key", "size", "node_is_head", "relation", "weight", "label"],
            ascending=[True, False, False, True, False, True],
            kind="stable",
        )
        .drop_duplicates(["key", "label"])
    )
    # In that order: per entity, the first max_relations relations, max_listed labels each.
    listed: dict[str, dict[tuple[str, bool], list[str]]] = {}
    for key, rel, is_head, label in zip(
        edges["key"], edges["relation"], edges["node_is_head"], edges["label"], strict=True
    ):
        groups = listed.setdefault(key, {})
        labels_of = groups.get((rel, is_head))
        if labels_of is None:
            if len(groups) == max_relations:
                continue
            labels_of = groups[(rel, is_head)] = []
        if len(labels_of) < max_listed:
            labels_of.append(label)
    return pd.Series(
        {
            key: "; ".join(
                f"{relation_phrase(rel, node_is_head=is_head)} {', '.join(labels_of)}"
                for (rel, is_head), labels_of in groups.items()
            )
            for key, groups in listed.items()
        },
        dtype=object,
    )


def _neighbours(knowledge: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Knowledge edges seen from nodes of ``kind``: key, relation, node_is_head, other end."""
    k = knowledge.astype({c: str for c in knowledge.columns})
    heads = k[k["head_kind"].eq(kind)]
    tails = k[k["tail_kind"].eq(kind)]
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "key": heads["head_key"],
                    "relation": heads["relation"],
                    "node_is_head": True,
                    "other_kind": heads["tail_kind"],
                    "other_key": heads["tail_key"],
                }
            ),
            pd.DataFrame(
                {
                    "key": tails["tail_key"],
                    "relation": tails["relation"],
                    "node_is_head": False,
                    "other_kind": tails["head_kind"],
                    "other_key": tails["head_key"],
                }
            ),
        ],
        ignore_index=True,
    )


def _entity_names(entities: pd.DataFrame) -> pd.Series:
    names = _strings(entities, "name")
    names.index = entities["entity_id"].astype(str).to_numpy()
    return names[names.ne("")]


def _words(identifier: str) -> str:
    """``film_genre`` / ``filmGenre`` -> ``film genre``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", identifier).replace("_", " ").replace("-", " ")
    return " ".join(spaced.split()).lower()


def _strings(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as text, missing values (and a missing column) as ``""``."""
    if column not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column]
    dtype = getattr(values.dtype, "numpy_dtype", values.dtype)  # Float32's is float32
    if isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize < 8:
        # pandas hands out float32 values as Python floats: 7.1 would read 7.099999904632568
        scalar = dtype.type
        return values.map(lambda v: "" if pd.isna(v) else _text(scalar(v))).astype(object)
    return values.map(_text).astype(object)


def _text(value: object) -> str:
    """A cell as text: lists comma-joined, ``1995.0`` as ``1995``, missing as ``""``."""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(t for t in map(_text, value) if t)
    if value is None or pd.isna(value):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    # only invisible characters (a zero-width space, a byte-order mark): no text
    return text if any(unicodedata.category(c) not in _INVISIBLE for c in text) else ""


_INVISIBLE = ("Cf", "Cc", "Zs", "Zl", "Zp")  # format and control characters, spaces


def _lookup(keys: pd.Series, texts: pd.Series) -> pd.Series:
    """``texts[key]`` for each key, ``""`` where there is none."""
    found = texts.to_dict()
    return keys.map(lambda k: found.get(k, "")).astype(object)


def _extra_columns(frame: pd.DataFrame, spec_columns) -> list[str]:
    known = {c.name for c in spec_columns}
    return [c for c in frame.columns if c not in known]


def _attributes(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """``"age: 24; gender: M"`` from the given columns, skipping missing values."""
    if not columns:
        return pd.Series("", index=frame.index, dtype=object)
    parts = {c: _strings(frame, c) for c in columns}
    return pd.Series(
        [
            "; ".join(f"{c}: {v}" for c, v in zip(columns, row, strict=True) if v)
            for row in zip(*parts.values(), strict=True)
        ],
        index=frame.index,
        dtype=object,
    )


def _render(render, columns: dict[str, pd.Series], keys: pd.Series) -> pd.Series:
    rows = pd.DataFrame({k: v.to_numpy() for k, v in columns.items()}).to_dict("records")
    return pd.Series([render(row) for row in rows], index=keys.to_numpy(), dtype=object)
