"""A small two-domain graph with knowledge relations and text, built from canonical tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from torch_geometric.data import Data

from graph_schema.tables import GraphTables, item_uid
from kgrec.data.export import message_graph, to_hetero_data

SOURCE, TARGET = "action", "comedy"
# user -> items; u4 has no target (comedy) interaction, u5 no source one
INTERACTIONS = {
    "u0": ["action:a0", "action:a1", "comedy:c0"],
    "u1": ["action:a1", "action:a2", "comedy:c1", "comedy:c2"],
    "u2": ["action:a0", "action:a3", "comedy:c2"],
    "u3": ["action:a2", "comedy:c0", "comedy:c3"],
    "u4": ["action:a0", "action:a2", "action:a3"],
    "u5": ["comedy:c1", "comedy:c3"],
}
# (head kind, head key, relation, tail kind, tail key): two relations, items and entities
KNOWLEDGE = [
    ("Entity", "actor0", "starred_in", "Item", "action:a0"),
    ("Entity", "actor0", "starred_in", "Item", "comedy:c0"),
    ("Entity", "actor1", "starred_in", "Item", "action:a2"),
    ("Entity", "actor1", "starred_in", "Item", "comedy:c3"),
    ("Entity", "actor2", "starred_in", "Item", "comedy:c1"),
    ("Item", "action:a1", "genre", "Entity", "g_war"),
    ("Item", "action:a3", "genre", "Entity", "g_war"),
    ("Item", "comedy:c2", "genre", "Entity", "g_romance"),
    ("Item", "comedy:c1", "genre", "Entity", "g_romance"),
]
TEXT_DIM = 4


def toy_tables() -> GraphTables:
    items = [(d, f"{d[0]}{n}") for d in (SOURCE, TARGET) for n in range(4)]
    entities = sorted(
        {k[1] for k in KNOWLEDGE if k[0] == "Entity"}
        | {k[4] for k in KNOWLEDGE if k[3] == "Entity"}
    )
    return GraphTables(
        domains=pd.DataFrame({"domain": [SOURCE, TARGET]}),
        users=pd.DataFrame({"user_id": sorted(INTERACTIONS)}),
        items=pd.DataFrame(
            {
                "uid": [item_uid(d, i) for d, i in items],
                "domain": [d for d, _ in items],
                "item_id": [i for _, i in items],
            }
        ),
        entities=pd.DataFrame({"entity_id": entities}),
        interactions=pd.DataFrame(
            [(u, i) for u, items in INTERACTIONS.items() for i in items],
            columns=["user_id", "item_uid"],
        ),
        knowledge=pd.DataFrame(
            KNOWLEDGE, columns=["head_kind", "head_key", "relation", "tail_kind", "tail_key"]
        ),
    )


@pytest.fixture
def toy_interactions() -> dict[str, list[str]]:
    """The toy graph's interactions, user -> item uids (a copy)."""
    return {user: list(items) for user, items in INTERACTIONS.items()}


@pytest.fixture
def toy_graph() -> Data:
    """The toy graph's homogeneous view: both domains, knowledge, text on 6 of the 8 items."""
    tables = toy_tables()
    rng = np.random.default_rng(0)
    keys = list(tables.items["uid"])[:6]
    data, _ = to_hetero_data(tables, text={"Item": (keys, rng.normal(size=(6, TEXT_DIM)))})
    return message_graph(data)
