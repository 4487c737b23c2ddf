"""Small graphs built by hand for the store tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph_schema.tables import GraphTables, item_uid


def _strings(values) -> pd.Series:
    return pd.Series(list(values), dtype="string")


def make_graph(
    *,
    users: list[dict] = (),
    items: list[dict] = (),
    entities: list[dict] = (),
    interactions: list[tuple] = (),
    knowledge: list[tuple] = (),
) -> GraphTables:
    """A graph from plain rows. Items are dicts with ``domain`` and ``item_id`` (uid derived);
    interactions are (user_id, item_uid, rating, timestamp); knowledge rows are
    (head_kind, head_key, relation, tail_kind, tail_key)."""
    tables = {}
    if users:
        tables["users"] = pd.DataFrame(list(users)).astype({"user_id": "string"})
    if items:
        df = pd.DataFrame(list(items))
        df.insert(
            0, "uid", [item_uid(d, i) for d, i in zip(df["domain"], df["item_id"], strict=True)]
        )
        for column in ("uid", "domain", "item_id", "title", "entity_id"):
            if column in df:
                df[column] = df[column].astype("string")
        if "year" in df:
            df["year"] = df["year"].astype("Int64")
        tables["items"] = df
        tables["domains"] = pd.DataFrame({"domain": _strings(sorted(set(df["domain"])))})
    if entities:
        tables["entities"] = pd.DataFrame(list(entities)).astype("string")
    if interactions:
        user, item, rating, timestamp = zip(*interactions, strict=True)
        tables["interactions"] = pd.DataFrame(
            {
                "user_id": _strings(user),
                "item_uid": _strings(item),
                "rating": pd.Series(rating, dtype="float64"),
                "timestamp": pd.Series(timestamp, dtype="float64"),
            }
        )
    if knowledge:
        columns = ["head_kind", "head_key", "relation", "tail_kind", "tail_key"]
        tables["knowledge"] = pd.DataFrame(list(knowledge), columns=columns).astype("string")
    return GraphTables(**tables)


def movies() -> GraphTables:
    """Two domains, three users (one with attributes), items linked to entities, awkward names."""
    return make_graph(
        users=[
            {"user_id": "u1", "age": "24", "gender": "F"},
            {"user_id": "u2", "age": "53", "gender": None},
            {"user_id": "u3", "age": None, "gender": "M"},
        ],
        items=[
            {
                "domain": "movies",
                "item_id": "1",
                "title": "Toy Story",
                "year": 1995,
                "genres": ["Animation", "Comedy"],
                "entity_id": "m.01",
            },
            {
                "domain": "movies",
                "item_id": "2",
                "title": "O'Brien `quoted`\nline",
                "year": None,
                "genres": [],
                "entity_id": None,
            },
            {
                "domain": "books",
                "item_id": "1",
                "title": "Dune",
                "year": 1965,
                "genres": None,
                "entity_id": "m.02",
            },
        ],
        entities=[{"entity_id": "m.99", "name": "Frank Herbert"}, {"entity_id": "m.98"}],
        interactions=[
            ("u1", "movies:1", 5.0, 10.0),
            ("u1", "books:1", 4.0, None),
            ("u2", "movies:1", None, 12.0),
            ("u2", "movies:2", 2.5, 13.0),
            ("u3", "books:1", 1.0, 14.0),
        ],
        knowledge=[
            ("Item", "movies:1", "film.film.actor", "Entity", "m.98"),
            ("Item", "books:1", "book.written_by", "Entity", "m.99"),
            ("Entity", "m.99", "people.person.spouse", "Entity", "m.98"),
            ("Item", "movies:1", "film.film.sequel", "Item", "movies:2"),
            ("Entity", "m.98", "weird`name'\n}) DETACH DELETE n //", "Item", "books:1"),
        ],
    )


def synthetic(n_users: int, n_items: int, per_user: int, seed: int = 0) -> GraphTables:
    """A random one-domain graph: ``per_user`` distinct items for each user."""
    rng = np.random.default_rng(seed)
    users = [f"u{u}" for u in range(n_users)]
    items = [{"domain": "synth", "item_id": str(i), "title": f"item {i}"} for i in range(n_items)]
    rows = []
    for u in users:
        for i in rng.choice(n_items, size=per_user, replace=False):
            rows.append((u, f"synth:{i}", float(rng.integers(1, 6)), float(rng.integers(10**9))))
    return make_graph(users=[{"user_id": u} for u in users], items=items, interactions=rows)
