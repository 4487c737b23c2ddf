"""Explanations over canonical tables (networkx). That every store, Neo4j's Cypher included,
gives the same paths and errors is in tests/store/test_contract.py."""

from __future__ import annotations

import pytest

from kgrec.cli import main
from kgrec.errors import InputError
from kgrec.explain import explain
from kgrec.store import LocalStore


def test_rare_shared_entity_beats_hub_and_co_interaction(explain_graph):
    table = explain(explain_graph, "alice", "action:casino", k=10)
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    best = table.iloc[0]
    assert best["kind"] == "entity"
    assert best["nodes"] == [
        "User:alice",
        "Item:action:heat",
        "Entity:deniro",
        "Item:action:casino",
    ]
    assert best["relations"] == ["INTERACTED", "film.film.actor", "film.film.actor"]
    assert best["text"] == "you interacted with Heat; it and Casino share the actor De Niro"
    kinds = set(table["kind"])
    assert kinds == {"entity", "co-interaction"}
    # the hub genre is found but ranked below the rare actor
    crime = table[table["nodes"].map(lambda n: "Entity:crime" in n)]
    assert (crime["cost"] > best["cost"]).all()
    assert table["cost"].is_monotonic_increasing


def test_other_domain_history_and_parallel_relations_give_one_path(explain_graph):
    table = explain(explain_graph, "alice", "comedy:cars", k=10)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["kind"] == "related"
    assert row["nodes"] == ["User:alice", "Item:comedy:toy", "Item:comedy:cars"]
    assert row["relations"] == ["INTERACTED", "film.film.prequel"]


def test_unknown_user_or_item(explain_graph):
    with pytest.raises(InputError, match="nobody"):
        explain(explain_graph, "nobody", "action:casino")
    with pytest.raises(InputError, match="action:nothing"):
        explain(explain_graph, "alice", "action:nothing")
    with pytest.raises(InputError, match="k must be a positive number"):
        explain(explain_graph, "alice", "action:casino", k=0)


def test_command_errors_exit_2_with_a_message(explain_graph, tmp_path, capsys):
    store = f"local:{tmp_path}/store"
    LocalStore(tmp_path / "store").write(explain_graph, progress=False)
    assert main(["explain", "alice", "action:casino", "--store", store, "-k", "2"]) == 0
    assert "De Niro" in capsys.readouterr().out
    for argv, message in [
        (["alice", "action:casino", "-k", "0"], "k must be a positive number of paths, got 0"),
        (["nobody", "action:casino"], "user 'nobody' has no interactions in the graph"),
        (["alice", "casino", "--domain", "comedy"], "item 'comedy:casino' is not in the graph"),
    ]:
        assert main(["explain", *argv, "--store", store]) == 2
        assert message in capsys.readouterr().err
