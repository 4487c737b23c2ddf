"""How Neo4jStore cuts tables into transaction chunks (pure functions, or its query runner
mocked: no server)."""

from __future__ import annotations

from unittest.mock import MagicMock

import numpy as np
import pandas as pd
import pytest
from neo4j.exceptions import ServiceUnavailable

from kgrec.errors import StoreError
from kgrec.store import Neo4jStore
from kgrec.store import queries as q
from kgrec.store.neo4j import (
    _chunks,
    _end_positions,
    _fan_out_rows,
    _fan_out_size,
    _FanOutChunks,
    _node_rows,
)


def test_relationships_are_grouped_per_start_node_with_missing_values_as_none():
    df = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "item_uid": ["d:1", "d:2", "d:1"],
            "rating": [5.0, float("nan"), 1.0],
            "timestamp": [1.0, 2.0, float("nan")],
        }
    )
    assert _fan_out_rows(df, "user_id", "item_uid", ["rating", "timestamp"]) == [
        {"start": "a", "ends": ["d:1", "d:2"], "rating": [5.0, None], "timestamp": [1.0, 2.0]},
        {"start": "b", "ends": ["d:1"], "rating": [1.0], "timestamp": [None]},
    ]


def test_chunks_never_split_a_row():
    rows = [{"n": n} for n in (3, 1, 4, 1, 5)]
    chunks = _chunks(rows, 5, size=lambda row: row["n"])
    assert [[r["n"] for r in c] for c in chunks] == [[3, 1], [4, 1], [5]]
    assert _chunks([{"n": 9}], 5, size=lambda row: row["n"]) == [[{"n": 9}]]  # too big: alone
    assert _chunks([], 5) == []


@pytest.mark.parametrize("batch_size", [1, 7, 50, 10_000])
def test_fan_out_chunks_are_built_lazily_as_chunks_cuts_them(batch_size):
    rng = np.random.default_rng(0)
    users = np.sort(rng.choice([f"u{n:02d}" for n in range(30)], size=400))
    df = pd.DataFrame({"user_id": users, "item_uid": [f"d:{n}" for n in range(400)]})
    df["score"] = rng.random(400)
    rows = _fan_out_rows(df, "user_id", "item_uid", ["score"])
    lazy = _FanOutChunks(df, "user_id", "item_uid", ["score"], batch_size)
    assert list(lazy) == _chunks(rows, batch_size, size=_fan_out_size)
    assert lazy.total == 400 and len(lazy) == len(_chunks(rows, batch_size, size=_fan_out_size))
    empty = _FanOutChunks(df.iloc[:0], "user_id", "item_uid", ["score"], batch_size)
    assert len(empty) == 0 and list(empty) == [] and empty.total == 0


def test_end_nodes_are_named_by_position_in_the_chunk_list():
    chunk = [
        {"start": "a", "ends": ["d:2", "d:1"], "rating": [1.0, 2.0]},
        {"start": "b", "ends": ["d:2"], "rating": [3.0]},
    ]
    params = _end_positions(chunk)
    assert params["ends"] == ["d:1", "d:2"]
    assert [row["ends"] for row in params["rows"]] == [[1, 0], [1]]
    for before, after in zip(chunk, params["rows"], strict=True):
        resolved = [params["ends"][p] for p in after["ends"]]
        assert resolved == before["ends"] and after["rating"] == before["rating"]


def test_node_rows_carry_only_present_values():
    df = pd.DataFrame(
        {
            "user_id": pd.Series(["a", "b"], dtype="string"),
            "age": pd.Series([24, None], dtype="Int64"),
            "tags": [["x"], None],
        }
    )
    assert _node_rows(df, "user_id") == [
        {"key": "a", "props": {"age": 24, "tags": ["x"]}},
        {"key": "b", "props": {}},
    ]
    # a write that clears attributes (kgrec load --clear-empty) gives them as nulls, which
    # `SET n += row.props` removes; only of the nodes named
    cleared = {"age": ["b"], "colour": ["b"], "size": ["c"]}
    assert _node_rows(df, "user_id", cleared) == [
        {"key": "a", "props": {"age": 24, "tags": ["x"]}},
        {"key": "b", "props": {"age": None, "colour": None}},
    ]


def test_a_vector_write_that_fails_midway_says_how_many_are_committed(monkeypatch):
    """write_vectors commits a chunk per transaction: an error in the third says that the
    4 vectors of the two before it are written, and that writing the same vectors again (SET)
    finishes it. Before, it said only "writing Item vectors"."""
    store = Neo4jStore(MagicMock(), uri="neo4j://test", batch_size=20)  # 2 vectors a chunk
    written = []

    def run(query, *, read=False, **parameters):
        if query == q.SET_VECTORS["Item"]:
            if len(written) == 2:
                raise ServiceUnavailable("the server went away")
            written.append(parameters["rows"])
        elif query == q.HOLDS_PROPERTY["Item"]:
            return [{"held": False}]
        return []  # no key missing, no vector index yet, the index made

    monkeypatch.setattr(store, "_run", run)
    keys = [f"d:{n}" for n in range(10)]
    with pytest.raises(StoreError) as raised:
        store.write_vectors("Item", keys, np.ones((10, 3)), property="emb")
    message = str(raised.value)
    assert "the server went away" in message
    assert "chunk 3 of 5; the 2 before it, 4 of the 10 vectors, are committed" in message
    assert "writing the same vectors again finishes it" in message
    assert [row["key"] for chunk in written for row in chunk] == keys[:4]
