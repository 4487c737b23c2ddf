"""Explanations over canonical tables (networkx). That every store, Neo4j's Cypher included,
gives the same paths and errors is in tests/store/test_contract.py."""

from __future__ import annotations

import argparse
import random

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from kgrec.cli import build_parser, main
from kgrec.commands.options import k_option
from kgrec.errors import InputError
from kgrec.explain import GraphIndex, _Node, check_k, explain
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
    # toy -film.film.sequel-> cars and cars -film.film.prequel-> toy: the path names the one
    # stored from the user's film (cars is its sequel; before, the smaller name, "prequel")
    assert row["relations"] == ["INTERACTED", "film.film.sequel"]
    assert row["text"] == "you interacted with Toy Story, related to Cars (film.film.sequel)"


def test_of_parallel_relations_to_the_item_the_smallest_is_named(explain_graph):
    # De Niro also produced Casino, listed after his role: the path names the smallest
    # relation on the entity -> item step too, as Neo4j's explain does (before the fix the
    # local explanation took the last one, "producer")
    graph = explain_graph
    extra = ("Item", "action:casino", "film.film.producer", "Entity", "deniro")
    columns = list(graph.knowledge.columns)
    graph.knowledge = pd.concat(
        [graph.knowledge, pd.DataFrame([extra], columns=columns).astype("string")],
        ignore_index=True,
    )
    table = explain(graph, "alice", "action:casino", k=10)
    (path,) = table[table["nodes"].map(lambda nodes: "Entity:deniro" in nodes)].itertuples()
    assert path.relations == ["INTERACTED", "film.film.actor", "film.film.actor"]
    assert path.text.endswith("share the actor De Niro")


def _with_knowledge(graph, rows):
    extra = pd.DataFrame(rows, columns=list(graph.knowledge.columns)).astype("string")
    graph.knowledge = pd.concat([graph.knowledge, extra], ignore_index=True)
    return graph


def test_a_relation_stored_both_ways_is_read_from_the_entity(explain_graph):
    # Freebase stores a director both ways: film.film.directed_by (film -> person) and
    # film.director.film (person -> film). Before, the path named the smaller name,
    # film.director.film, and read its last part: "share the film Scorsese"
    graph = _with_knowledge(
        explain_graph,
        [
            (kind_a, a, relation, kind_b, b)
            for film in ("action:heat", "action:casino")
            for kind_a, a, relation, kind_b, b in (
                ("Item", film, "film.film.directed_by", "Entity", "scorsese"),
                ("Entity", "scorsese", "film.director.film", "Item", film),
            )
        ],
    )
    table = explain(graph, "alice", "action:casino", k=10)
    (path,) = table[table["nodes"].map(lambda nodes: "Entity:scorsese" in nodes)].itertuples()
    assert path.relations == ["INTERACTED", "film.director.film", "film.director.film"]
    assert path.text == "you interacted with Heat; it and Casino share the director scorsese"


def test_a_relation_stored_from_the_item_alone_reads_from_the_item(explain_graph):
    graph = _with_knowledge(
        explain_graph,
        [
            ("Item", film, "film.film.directed_by", "Entity", "scorsese")
            for film in ("action:heat", "action:casino")
        ],
    )
    table = explain(graph, "alice", "action:casino", k=10)
    (path,) = table[table["nodes"].map(lambda nodes: "Entity:scorsese" in nodes)].itertuples()
    assert path.text == "you interacted with Heat; it and Casino were both directed by scorsese"


def test_an_entity_that_is_something_else_to_each_item_is_no_shared_role(explain_graph):
    # Pacino acted in Heat and produced Casino: the two films share no actor and no producer.
    # Before, the sentence read the entity -> item step alone: "were both produced by Pacino"
    graph = _with_knowledge(
        explain_graph,
        [
            ("Item", "action:heat", "film.film.actor", "Entity", "pacino"),
            ("Item", "action:casino", "film.film.produced_by", "Entity", "pacino"),
        ],
    )
    table = explain(graph, "alice", "action:casino", k=10)
    (path,) = table[table["nodes"].map(lambda nodes: "Entity:pacino" in nodes)].itertuples()
    assert path.relations == ["INTERACTED", "film.film.actor", "film.film.produced_by"]
    assert path.text == (
        "you interacted with Heat; pacino is linked to it (film.film.actor) and to Casino "
        "(film.film.produced_by)"
    )


@pytest.mark.parametrize(
    ("heat", "casino"),
    [
        # as on ml-100k: an actor of Liar Liar also wrote (film.writer.film, from the entity)
        # Harold and Maude and acted in it; before, the path named the writer relation and
        # read "... is linked to it (film.writer.film) and to Liar Liar (film.film.actor)"
        (["film.film.actor", "film.film.written_by", "-film.writer.film"], ["film.film.actor"]),
        # the other side: an actor of both who also produced Casino (stored from the entity)
        (["film.film.actor"], ["film.film.actor", "-film.producer.film"]),
    ],
)
def test_an_entity_path_names_a_relation_both_items_share(explain_graph, heat, casino):
    """Of an entity's relations to each film, the path names one the two share (the same
    relation, the same way round) when there is one: "share the actor"."""

    def rows(film, relations):
        return [
            ("Entity", "hoffman", r[1:], "Item", film)
            if r.startswith("-")
            else ("Item", film, r, "Entity", "hoffman")
            for r in relations
        ]

    graph = _with_knowledge(
        explain_graph, rows("action:heat", heat) + rows("action:casino", casino)
    )
    table = explain(graph, "alice", "action:casino", k=10)
    (path,) = table[table["nodes"].map(lambda nodes: "Entity:hoffman" in nodes)].itertuples()
    assert path.relations == ["INTERACTED", "film.film.actor", "film.film.actor"]
    assert path.text == "you interacted with Heat; it and Casino share the actor hoffman"


def test_unknown_user_or_item(explain_graph):
    with pytest.raises(InputError, match="nobody"):
        explain(explain_graph, "nobody", "action:casino")
    with pytest.raises(InputError, match="action:nothing"):
        explain(explain_graph, "alice", "action:nothing")
    with pytest.raises(InputError, match="k must be a positive number"):
        explain(explain_graph, "alice", "action:casino", k=0)


def test_a_numpy_k_is_its_number_and_a_bool_k_is_refused(explain_graph):
    """k from pandas or numpy (np.int64(2)) is the number it holds: before, explain refused it
    as "not a positive number of paths". A bool, numpy's too, is refused."""
    table = explain(explain_graph, "alice", "action:casino", k=np.int64(2))
    assert len(table) == 2
    pd.testing.assert_frame_equal(table, explain(explain_graph, "alice", "action:casino", k=2))
    for k in (True, np.bool_(True)):
        with pytest.raises(InputError, match="field '-k': k must be a positive number"):
            explain(explain_graph, "alice", "action:casino", k=k)  # -k, as recommend's


def test_command_errors_exit_2_with_a_message(explain_graph, tmp_path, capsys):
    store = f"local:{tmp_path}/store"
    LocalStore(tmp_path / "store").write(explain_graph, progress=False)
    assert main(["explain", "alice", "action:casino", "--store", store, "-k", "2"]) == 0
    assert "De Niro" in capsys.readouterr().out
    for argv, message in [
        # the arguments as the usage names them, USER and ITEM (before: 'user' and 'item')
        (["nobody", "action:casino"], "field 'USER': user 'nobody' has no interactions in the"),
        (["alice", "casino", "--domain", "comedy"], "field 'ITEM': item 'comedy:casino' is not in"),
        # an item uid with --domain looked for action:action:casino, with no word of why
        (
            ["alice", "action:casino", "--domain", "action"],
            "item 'action:action:casino' is not in the graph ('action:casino' is an item uid: "
            "give it without --domain)",
        ),
        # an item id without --domain (before: "item 'casino' is not in the graph", although
        # action:casino is), or a uid missing a part
        *(
            (["alice", item], f"field 'ITEM': {item!r} is no item uid (DOMAIN:ITEM_ID")
            for item in ("casino", "action:", ": casino")
        ),
    ]:
        assert main(["explain", *argv, "--store", store]) == 2
        assert message in capsys.readouterr().err


def test_an_id_not_found_names_its_spelling_with_other_leading_zeros(
    make_graph, tmp_path, capsys, monkeypatch
):
    """A user's export pads ids with zeros (user 00006, film 0096), and the ids typed on the
    command line lose them (a spreadsheet's column of numbers). Ids are text, so `6` is not
    `00006`: before, "user '6' has no interactions in the graph" and "item 'thrillers:96' is
    not in the graph", with nothing to say that the graph spells them otherwise; now the error
    names the spelling it holds. An id with no such spelling gets the error as before."""
    graph = make_graph(
        users=[{"user_id": "00006"}, {"user_id": "00522"}],
        items=[
            {"domain": "thrillers", "item_id": "0096", "title": "Terminator 2"},
            {"domain": "dramas", "item_id": "0023", "title": "Raging Bull"},
        ],
        interactions=[
            ("00006", "dramas:0023", 5.0, 1.0),
            ("00522", "dramas:0023", 4.0, 1.0),
            ("00522", "thrillers:0096", 4.0, 1.0),
        ],
    )
    store = f"local:{tmp_path}/store"
    LocalStore(tmp_path / "store").write(graph, progress=False)
    assert main(["explain", "00006", "thrillers:0096", "--store", store]) == 0
    assert "Raging Bull" in capsys.readouterr().out
    hint = "ids are text, so leading zeros count)"
    for argv, message in [
        (["6", "thrillers:0096"], f"user '6' has no interactions in the graph (the graph has "
         f"'00006': {hint}"),
        (["00006", "thrillers:96"], f"item 'thrillers:96' is not in the graph (the graph has "
         f"'thrillers:0096': {hint}"),
        (["00006", "000096", "--domain", "thrillers"], "item 'thrillers:000096' is not in the "
         f"graph (the graph has 'thrillers:0096': {hint}"),
        (["7", "thrillers:0096"], "user '7' has no interactions in the graph\n"),
        (["00006", "dramas:96"], "item 'dramas:96' is not in the graph\n"),
    ]:  # fmt: skip
        assert main(["explain", *argv, "--store", store]) == 2
        assert message in capsys.readouterr().err, argv
    # a store that refuses the hint's read (a load began meanwhile) still gives the error
    # itself, with no hint (found by the read46 review: its StoreError came in its place)
    from kgrec.errors import StoreError
    from kgrec.store import LocalStore as Local

    def refused(*args, **kwargs):
        raise StoreError("a writer is changing the graph")

    monkeypatch.setattr(Local, "user_ids", refused)
    assert main(["explain", "6", "thrillers:0096", "--store", store]) == 2
    assert "user '6' has no interactions in the graph\n" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [" alice ", "action:casino"],
        ["alice", " action : casino "],
        ["alice", " casino ", "--domain", " action "],
    ],
)
def test_whitespace_around_command_line_ids_is_no_part_of_them(
    explain_graph, tmp_path, capsys, argv
):
    """As in the loaders, which strip it (before: "user ' alice ' has no interactions")."""
    store = f"local:{tmp_path}/store"
    LocalStore(tmp_path / "store").write(explain_graph, progress=False)
    assert main(["explain", *argv, "--store", store, "-k", "2"]) == 0
    assert "De Niro" in capsys.readouterr().out


def test_whitespace_around_python_api_ids_is_no_part_of_them(explain_graph, tmp_path):
    """The Python API reads ids as the command line and the loaders do (before: "user
    ' alice' has no interactions in the graph"); an empty id is an InputError."""
    store = LocalStore(tmp_path / "store")
    store.write(explain_graph, progress=False)
    expected = explain(explain_graph, "alice", "action:casino", k=2)
    assert "De Niro" in expected["text"].iloc[0]
    for user, item in ((" alice", "action:casino"), ("alice\t", " action:casino ")):
        pd.testing.assert_frame_equal(explain(explain_graph, user, item, k=2), expected)
        pd.testing.assert_frame_equal(store.explain(user, item, k=2), expected)
    for user, item, field in (("", "action:casino", "user"), ("alice", " ", "item")):
        with pytest.raises(InputError, match="an id may not be empty") as raised:
            explain(explain_graph, user, item)
        assert raised.value.field == field


@pytest.mark.parametrize("command", ["explain", "recommend"])
@pytest.mark.parametrize("k", ["0", "-3", str(2**63), "2.5"])
def test_a_k_no_store_takes_is_refused_before_any_store_is_opened(tmp_path, capsys, command, k):
    """Before, -k 0 was refused only by the store (kgrec recommend: after the run was read),
    and -k 2**63 on Neo4j ended in the neo4j driver's OverflowError; the store and run named
    here do not exist, and are never looked at."""
    where = ["alice", "action:casino", "--store", f"local:{tmp_path}/store"]
    if command == "recommend":
        where = ["--run", str(tmp_path / "run"), "--show", "alice"]
    with pytest.raises(SystemExit) as exited:
        main([command, *where, "-k", k])
    assert exited.value.code == 2
    assert "argument -k: " in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_the_k_parser_takes_one_to_2_63_minus_1() -> None:
    parser = build_parser(["explain"])
    for k in ("1", str(2**63 - 1)):
        assert parser.parse_args(["explain", "u", "d:i", "-k", k]).k == int(k)
    with pytest.raises(argparse.ArgumentTypeError, match=r"in \[1, 2\*\*63 - 1\], got 0"):
        k_option("0")
    with pytest.raises(InputError, match="at most 2\\*\\*63 - 1"):  # the Python API: Neo4j's
        check_k(2**63)


def test_an_empty_command_line_id_is_refused(explain_graph, tmp_path, capsys):
    store = f"local:{tmp_path}/store"
    LocalStore(tmp_path / "store").write(explain_graph, progress=False)
    with pytest.raises(SystemExit) as exited:
        main(["explain", " ", "action:casino", "--store", store])
    assert exited.value.code == 2
    assert "an id may not be empty" in capsys.readouterr().err


@pytest.mark.parametrize("domain", ["", " "])
def test_a_blank_command_line_domain_is_refused(explain_graph, tmp_path, capsys, domain):
    """Before, a blank --domain was read as none, and ITEM as an item uid: the command
    explained action:casino instead of refusing."""
    store = f"local:{tmp_path}/store"
    LocalStore(tmp_path / "store").write(explain_graph, progress=False)
    with pytest.raises(SystemExit) as exited:
        main(["explain", "alice", "action:casino", "--domain", domain, "--store", store])
    assert exited.value.code == 2
    assert "a domain may not be empty" in capsys.readouterr().err


@pytest.mark.parametrize("seed", range(5))
def test_paths_are_every_simple_path_of_the_three_kinds(make_graph, seed):
    """The paths, enumerated kind by kind, are exactly the simple paths of at most three edges
    from the user to the item in the neighbourhood whose middle is a kind's (the definition;
    walked here naively with networkx), on random graphs with co-raters, shared entities and
    item-item relations."""
    rng = random.Random(seed)
    items = [{"domain": "d", "item_id": str(i), "title": f"T{i}"} for i in range(12)]
    uids = [f"d:{i}" for i in range(12)]
    users = [f"u{u}" for u in range(8)]
    interactions = {(u, i) for u in users for i in rng.sample(uids, rng.randint(1, 6))}
    first, sequel = rng.sample(uids, 2)
    interactions.add(("u0", first))
    knowledge = [("Item", i, "film.film.actor", "Entity", f"e{rng.randrange(5)}") for i in uids]
    knowledge += [("Item", i, "film.film.genre", "Entity", "hub") for i in rng.sample(uids, 8)]
    knowledge.append(("Item", first, "film.film.sequel", "Item", sequel))
    graph = make_graph(
        users=[{"user_id": u} for u in users],
        items=items,
        entities=[{"entity_id": e, "name": e} for e in ["hub", *(f"e{n}" for n in range(5))]],
        interactions=[(u, i, 4.0, 1.0) for u, i in sorted(interactions)],
        knowledge=knowledge,
    )
    index = GraphIndex(graph)
    walked = nx.Graph()  # the whole graph, each relationship an edge
    walked.add_edges_from((("User", u), ("Item", i)) for u, i in interactions)
    walked.add_edges_from(((h, hk), (t, tk)) for h, hk, _, t, tk in knowledge)
    kinds = (["Item"], ["Item", "Entity"], ["Item", "User"])
    seen = set()
    for user in users:
        for item in uids:
            expected = set()
            for path in nx.all_simple_paths(walked, ("User", user), ("Item", item), cutoff=3):
                if [kind for kind, _ in path[1:-1]] in kinds:
                    expected.add(tuple(f"{kind}:{key}" for kind, key in path))
            found = explain(index, user, item, k=1000)
            assert {tuple(nodes) for nodes in found["nodes"]} == expected
            assert len(found) == len(expected)
            seen.update(found["kind"])
            for k in (1, 3):  # the k best are the first k of them all
                pd.testing.assert_frame_equal(explain(index, user, item, k=k), found.head(k))
    assert seen == {"related", "entity", "co-interaction"}  # every kind was compared


def test_json_prints_one_json_object_per_path_and_no_blank_line(explain_graph, tmp_path, capsys):
    """``--json`` prints JSON lines: one object per path, nothing for no path. Before, pandas'
    lines ended in a newline that ``print`` doubled: a blank line after the paths, and a blank
    line alone for a pair with no path, which a reader of JSON lines fails on."""
    import json

    store = f"local:{tmp_path}/store"
    LocalStore(tmp_path / "store").write(explain_graph, progress=False)
    assert main(["explain", "alice", "action:casino", "--store", store, "-k", "2", "--json"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines[-1] == ""  # the output ends with a newline, after the last object
    rows = [json.loads(line) for line in lines[:-1]]
    assert [row["rank"] for row in rows] == [1, 2]
    assert "De Niro" in rows[0]["text"]
    assert main(["explain", "bob", "comedy:cars", "--store", store, "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_the_index_holds_each_users_and_items_neighbours_once(make_graph):
    # (made as asked for from the factorized interactions, not a set per key up front: the same
    # sets and degrees as the naive ones, a repeated interaction counted once)
    rows = [("u1", "d:a"), ("u1", "d:b"), ("u2", "d:a"), ("u1", "d:a"), ("u3", "d:c")]
    graph = make_graph(
        users=[{"user_id": u} for u in ("u1", "u2", "u3", "u4")],
        items=[{"domain": "d", "item_id": i, "title": i.upper()} for i in "abcd"],
        interactions=[(u, i, 4.0, float(n)) for n, (u, i) in enumerate(rows)],
    )
    index = GraphIndex(graph)
    for key, (of, mine) in {"user": (0, index.user_items), "item": (1, index.item_users)}.items():
        naive: dict[str, set[str]] = {}
        for row in rows:
            naive.setdefault(row[of], set()).add(row[1 - of])
        assert dict(mine) == naive, key
        for node, neighbours in naive.items():
            kind = "User" if key == "user" else "Item"
            assert index.degree(_Node(kind, node)) == len(neighbours)
    assert "u4" not in index.user_items and index.degree(_Node("User", "u4")) == 0
    assert index.degree(_Node("Item", "d:d")) == 0
    with pytest.raises(InputError, match="has no interactions"):
        explain(index, "u4", "d:a")
    empty = GraphIndex(
        make_graph(users=[{"user_id": "u1"}], items=[{"domain": "d", "item_id": "a", "title": "A"}])
    )
    assert len(empty.user_items) == len(empty.item_users) == 0
    with pytest.raises(InputError, match="has no interactions"):
        explain(empty, "u1", "d:a")
