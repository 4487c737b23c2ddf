"""Validation of canonical tables: errors name the file, line and field."""

from __future__ import annotations

import pandas as pd
import pytest

from graph_schema import GraphTables, cast_spec_columns, validate_graph, validate_table
from graph_schema.tables import INTERACTIONS, ITEMS, KNOWLEDGE, USERS
from graph_schema.validate import strip_private
from kgrec.errors import InputError


def strings(*values) -> pd.Series:
    return pd.Series(list(values), dtype="string")


def items(**extra) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "uid": strings("d:1", "d:2"),
            "domain": strings("d", "d"),
            "item_id": strings("1", "2"),
            "genres": [["A"], []],
            **extra,
        }
    )
    return cast_spec_columns(df, ITEMS)


def test_conform_adds_optional_columns_in_spec_dtypes():
    df = items(pages=[1, 2])
    assert list(df.columns) == [c.name for c in ITEMS.columns] + ["pages"]
    assert df["year"].dtype == "Int64" and df["title"].dtype == "string"
    assert df["entity_id"].isna().all()
    validate_table(df, ITEMS)


def test_missing_required_column():
    with pytest.raises(InputError, match="no column") as caught:
        validate_table(items().drop(columns="domain"), ITEMS, file="x.tsv")
    assert (caught.value.file, caught.value.field) == ("x.tsv", "domain")


def test_wrong_dtype_and_unknown_columns():
    bad = items().assign(year=["1995", "1996"])
    with pytest.raises(InputError, match="dtype") as caught:
        validate_table(bad, ITEMS)
    assert caught.value.field == "year"
    inter = cast_spec_columns(
        pd.DataFrame({"user_id": strings("u"), "item_uid": strings("d:1")}), INTERACTIONS
    )
    with pytest.raises(InputError, match="unexpected column"):
        validate_table(inter.assign(comment="x"), INTERACTIONS)
    with pytest.raises(InputError, match="attribute name") as caught:
        validate_table(items(**{"zip code": ["1", "2"]}), ITEMS)
    assert caught.value.field == "zip code"


def test_errors_name_the_source_line_of_the_row():
    df = items().assign(_file="items.tsv", _line=[7, 9])
    df.loc[1, "item_id"] = ""
    with pytest.raises(InputError, match="empty") as caught:
        validate_table(df, ITEMS)
    assert (caught.value.file, caught.value.line, caught.value.field) == ("items.tsv", 9, "item_id")
    assert list(strip_private(df).columns) == [c.name for c in ITEMS.columns]


def test_duplicate_keys_name_both_lines():
    users = pd.DataFrame({"user_id": strings("a", "b", "a"), "_line": [2, 3, 4]})
    with pytest.raises(InputError, match=r"duplicate key \('a',\).*first at line 2") as caught:
        validate_table(users, USERS, file="u.tsv")
    assert (caught.value.file, caught.value.line) == ("u.tsv", 4)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"domain": strings("d", "bad domain!"), "uid": strings("d:1", "bad domain!:2")},
            "domain",
            "domain",
        ),
        ({"uid": strings("d:1", "e:2")}, "uid", "<domain>:<item_id>"),
        ({"genres": [["A"], "A"]}, "genres", "list<string>"),
        ({"genres": [["A"], [1]]}, "genres", "list<string>"),
    ],
)
def test_item_rules(change, field, message):
    with pytest.raises(InputError, match=message) as caught:
        validate_table(items().assign(**change), ITEMS)
    assert caught.value.field == field


def test_knowledge_kinds_and_finite_floats():
    row = {
        k: strings(v) for k, v in zip(KNOWLEDGE.key, ("Item", "d:1", "r", "User", "u"), strict=True)
    }
    with pytest.raises(InputError, match="one of"):
        validate_table(pd.DataFrame(row), KNOWLEDGE)
    inter = pd.DataFrame(
        {"user_id": strings("u"), "item_uid": strings("d:1"), "rating": [float("inf")]}
    )
    with pytest.raises(InputError, match="finite"):
        validate_table(cast_spec_columns(inter, INTERACTIONS), INTERACTIONS)


def test_graph_must_be_self_contained():
    graph = GraphTables(
        domains=pd.DataFrame({"domain": strings("d")}),
        users=pd.DataFrame({"user_id": strings("u")}),
        items=items(),
        interactions=cast_spec_columns(
            pd.DataFrame({"user_id": strings("u"), "item_uid": strings("d:3")}), INTERACTIONS
        ),
    )
    with pytest.raises(InputError, match="not in the items table") as caught:
        validate_graph(graph)
    assert caught.value.field == "item_uid"
    graph.interactions = cast_spec_columns(
        pd.DataFrame({"user_id": strings("u"), "item_uid": strings("d:2")}), INTERACTIONS
    )
    validate_graph(graph)
    graph.users = pd.DataFrame({"user_id": strings("v")})
    with pytest.raises(InputError, match="users table"):
        validate_graph(graph)
