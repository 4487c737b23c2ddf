"""The canonical form shared by both stores."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from graph_schema.merge import as_text, unify_attribute, value_kinds
from graph_schema.tables import INTERACTIONS, USERS
from kgrec.errors import InputError
from kgrec.store import LocalStore
from kgrec.store.canonical import coalesce, prepare, referenced_items, stored_form, vector_rows
from loaders import merge_tables


def test_canonical_orders_columns_and_rows_and_infers_attribute_dtypes():
    df = pd.DataFrame(
        {
            "zip": ["2", "1"],
            "user_id": ["b", "a"],
            "age": [24.0, np.nan],  # integral floats become Int64
            "tags": [np.array(["x", "y"]), None],  # arrays (as Parquet returns) become lists
            "empty": [None, None],  # an attribute no row has is dropped
        }
    )
    out = stored_form(USERS, df)
    assert list(out.columns) == ["user_id", "age", "tags", "zip"]
    assert list(out["user_id"]) == ["a", "b"]
    assert str(out["user_id"].dtype) == "string" and str(out["age"].dtype) == "Int64"
    assert out["tags"].tolist() == [None, ["x", "y"]]
    assert isinstance(out["tags"].iloc[1], list)


def test_canonical_rejects_missing_keys():
    df = pd.DataFrame({"user_id": ["a", None], "item_uid": ["d:1", "d:2"]})
    with pytest.raises(InputError, match="user_id"):
        stored_form(INTERACTIONS, df)


def test_coalesce_keeps_the_last_present_value():
    old = pd.DataFrame({"user_id": ["a", "b"], "age": ["1", "2"], "zip": ["z", None]})
    new = pd.DataFrame({"user_id": ["a", "c"], "age": [None, "3"], "zip": ["y", None]})
    out = coalesce(USERS, [old, new]).set_index("user_id")
    assert list(out.index) == ["a", "b", "c"]
    assert list(out["age"]) == ["1", "2", "3"]
    assert out.loc["a", "zip"] == "y"
    assert out["zip"].isna().tolist() == [False, True, True]


def test_prepare_adds_implied_nodes_and_finds_unknown_items(make_graph):
    graph = make_graph(
        items=[{"domain": "books", "item_id": "1"}],
        interactions=[("u1", "books:1", 1.0, 1.0), ("u2", "films:9", 1.0, 1.0)],
        knowledge=[("Item", "books:1", "r", "Entity", "m.1")],
    )
    out = prepare(graph)
    assert list(out.users["user_id"]) == ["u1", "u2"]
    assert list(out.entities["entity_id"]) == ["m.1"]
    assert list(out.domains["domain"]) == ["books"]
    assert list(referenced_items(out)) == ["films:9"]


def test_the_attribute_type_rule():
    assert [as_text(v) for v in (24.0, 24, np.int64(7), 2.5, True, "x")] == [
        "24",
        "24",
        "7",
        "2.5",
        "true",
        "x",
    ]
    mixed = pd.Series([24.0, "56+", None, np.int64(3)], dtype=object)
    assert unify_attribute(mixed).tolist()[:2] == ["24", "56+"]
    assert str(unify_attribute(mixed).dtype) == "string"
    assert str(unify_attribute(pd.Series([1.0, None, 3.0])).dtype) == "Int64"
    assert str(unify_attribute(pd.Series([1.5, 2], dtype=object)).dtype) == "Float64"
    assert unify_attribute(pd.Series([np.array(["a"]), None])).tolist() == [["a"], None]


def test_loaders_and_stores_merge_by_the_same_rule(make_graph, tmp_path):
    """One merge rule: merge_tables (loaders) and a store give the same tables."""
    loads = [
        make_graph(users=[{"user_id": "a", "age": 24.0, "zip": "1"}, {"user_id": "b", "age": 5.0}]),
        make_graph(users=[{"user_id": "b", "age": "56+"}, {"user_id": "c", "zip": None}]),
    ]
    store = LocalStore(tmp_path / "s")
    for graph in loads:
        store.write(graph, progress=False)
    merged = merge_tables(*loads)
    pd.testing.assert_frame_equal(stored_form(USERS, merged.users), store.snapshot().users)
    assert merged.users.set_index("user_id")["age"].to_dict() == {"a": "24", "b": "56+", "c": None}
    # lists anywhere: a list column, in either order; text anywhere: text elements
    for values in ([["a", "b"], "c", None], ["c", ["a", "b"], None]):
        out = unify_attribute(pd.Series(values, dtype=object)).tolist()
        assert sorted(out, key=str) == [None, ["a", "b"], ["c"]]
    assert unify_attribute(pd.Series([[1, 2], 3.0], dtype=object)).tolist() == [[1, 2], [3.0]]
    assert unify_attribute(pd.Series([[1], True, "x"], dtype=object)).tolist() == [
        ["1"],
        ["true"],
        ["x"],
    ]
    assert str(unify_attribute(pd.Series(["a", None])).dtype) == "string"  # pandas' "str" too


@pytest.mark.parametrize(
    ("keys", "vectors", "field", "says"),
    [
        (["u1", "u2"], np.ones((3, 2)), "vectors", "expected a (2, dim) matrix"),
        (["u1", "u2", "u1"], np.ones((3, 2)), "keys", "keys must be unique: 'u1' twice"),
        (["u1", "u2"], np.array([[1.0, 2.0], [np.nan, 0.0]]), "vectors", "first: key 'u2'"),
    ],
)
def test_vectors_that_cannot_be_written_are_refused_naming_the_field(keys, vectors, field, says):
    """Before, these three named no field, nor which key was twice or held NaN (found by the
    neo60 review)."""
    with pytest.raises(InputError, match=re.escape(says)) as raised:
        vector_rows("User", keys, vectors, "v")
    assert raised.value.field == field


def test_a_categorical_attribute_is_its_values(make_graph, tmp_path):
    # before, a categorical column (as pandas reads a Parquet dictionary column) counted as
    # numbers whatever its categories (the Neo4j store typed text by numbers so), and a store
    # written one kept it as a category column, not the text column of the merge rule
    assert value_kinds(pd.Series(pd.Categorical(["red", None]))) == {"text"}
    assert str(unify_attribute(pd.Series(pd.Categorical(["red", None]))).dtype) == "string"
    assert str(unify_attribute(pd.Series(pd.Categorical([1, 2]))).dtype) == "Int64"
    store = LocalStore(tmp_path / "s")
    first = make_graph(users=[{"user_id": "a"}, {"user_id": "b"}])
    first.users["color"] = pd.Categorical(["red", "blue"])
    store.write(first, progress=False)
    assert str(store.snapshot().users["color"].dtype) == "string"
    again = make_graph(users=[{"user_id": "a"}, {"user_id": "b"}])
    again.users["color"] = pd.Categorical(["", "green"])  # empty: leaves a's color
    store.write(again, progress=False)
    users = store.snapshot().users.set_index("user_id")
    assert users["color"].to_dict() == {"a": "red", "b": "green"}
