"""How Neo4jStore cuts tables into transaction chunks (pure functions, no server)."""

from __future__ import annotations

import pandas as pd

from kgrec.store.neo4j import _chunks, _interaction_rows, _item_positions, _node_rows


def test_interactions_are_grouped_per_user_with_missing_values_as_none():
    df = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "item_uid": ["d:1", "d:2", "d:1"],
            "rating": [5.0, float("nan"), 1.0],
            "timestamp": [1.0, 2.0, float("nan")],
        }
    )
    assert _interaction_rows(df) == [
        {"user_id": "a", "items": ["d:1", "d:2"], "ratings": [5.0, None], "timestamps": [1.0, 2.0]},
        {"user_id": "b", "items": ["d:1"], "ratings": [1.0], "timestamps": [None]},
    ]


def test_chunks_never_split_a_row():
    rows = [{"n": n} for n in (3, 1, 4, 1, 5)]
    chunks = _chunks(rows, 5, size=lambda row: row["n"])
    assert [[r["n"] for r in c] for c in chunks] == [[3, 1], [4, 1], [5]]
    assert _chunks([{"n": 9}], 5, size=lambda row: row["n"]) == [[{"n": 9}]]  # too big: alone
    assert _chunks([], 5) == []


def test_items_are_named_by_position_in_the_chunk_list():
    chunk = [
        {"user_id": "a", "items": ["d:2", "d:1"], "ratings": [1.0, 2.0], "timestamps": [1, 2]},
        {"user_id": "b", "items": ["d:2"], "ratings": [3.0], "timestamps": [3]},
    ]
    params = _item_positions(chunk)
    assert params["items"] == ["d:1", "d:2"]
    assert [row["items"] for row in params["rows"]] == [[1, 0], [1]]
    for before, after in zip(chunk, params["rows"], strict=True):
        resolved = [params["items"][p] for p in after["items"]]
        assert resolved == before["items"] and after["ratings"] == before["ratings"]


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
