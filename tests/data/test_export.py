"""kgrec.data.export: deterministic indices, both edge directions, the same export from any
store and row order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from graph_schema.tables import GraphTables, item_uid
from kgrec.data.export import (
    INTERACTS,
    REV_INTERACTS,
    item_titles,
    message_graph,
    to_hetero_data,
)
from kgrec.errors import InputError


def small_tables() -> GraphTables:
    """Two domains; ids whose string order differs from their insertion order."""
    items = [("comedy", "10"), ("comedy", "9"), ("action", "b"), ("action", "a")]
    return GraphTables(
        domains=pd.DataFrame({"domain": ["comedy", "action"]}),
        users=pd.DataFrame({"user_id": ["u10", "u2", "u1"]}),
        items=pd.DataFrame(
            {
                "uid": [item_uid(d, i) for d, i in items],
                "domain": [d for d, _ in items],
                "item_id": [i for _, i in items],
                "year": pd.array([1999, None, 1984, 2001], dtype="Int64"),
                "genres": [["Comedy"], ["Romance", "Comedy"], [], ["Action"]],
            }
        ),
        entities=pd.DataFrame({"entity_id": ["m.2", "m.1"]}),
        interactions=pd.DataFrame(
            {
                "user_id": ["u2", "u10", "u1", "u2", "u1"],
                "item_uid": ["comedy:9", "action:a", "comedy:10", "action:b", "action:b"],
            }
        ),
        knowledge=pd.DataFrame(
            {
                "head_kind": ["Item", "Entity", "Item"],
                "head_key": ["comedy:9", "m.1", "action:a"],
                "relation": ["film.actor", "film.actor.film", "film.actor"],
                "tail_kind": ["Entity", "Item", "Entity"],
                "tail_key": ["m.2", "action:b", "m.2"],
            }
        ),
    )


def shuffled(tables: GraphTables, seed: int) -> GraphTables:
    return GraphTables(
        **{
            name: df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
            for name, df in tables.tables().items()
        }
    )


def assert_same_export(left, right) -> None:
    (a, maps_a), (b, maps_b) = left, right
    assert maps_a == maps_b
    assert a.node_types == b.node_types and a.edge_types == b.edge_types
    assert torch.equal(a["item"].domain, b["item"].domain)
    assert torch.equal(a["item"].genre, b["item"].genre)
    assert torch.allclose(a["item"].year, b["item"].year, equal_nan=True)
    for edge_type in a.edge_types:
        assert torch.equal(a[edge_type].edge_index, b[edge_type].edge_index), edge_type
    ga, gb = message_graph(a), message_graph(b)
    assert torch.equal(ga.edge_index, gb.edge_index)
    assert torch.equal(ga.edge_type, gb.edge_type)


def test_items_years_and_genres_are_exported() -> None:
    data, maps = to_hetero_data(small_tables())
    assert maps.items == ("action:a", "action:b", "comedy:10", "comedy:9")
    assert maps.genres == ("Action", "Comedy", "Romance")
    assert torch.allclose(
        data["item"].year, torch.tensor([2001, 1984, 1999, float("nan")]), equal_nan=True
    )
    assert data["item"].genre.tolist() == [[0, 2, 3, 3], [0, 1, 1, 2]]


def test_item_titles_follow_the_given_uids_empty_where_an_item_has_none() -> None:
    items = pd.DataFrame(
        {
            "uid": ["d:b", "d:a", "d:c", "d:b", "d:e"],
            "title": pd.Series(["B", None, pd.NA, "second B", "E"], dtype="string"),
        }
    )
    # the first row of a uid, as to_hetero_data keeps; none for no title and no row
    assert item_titles(items, ["d:a", "d:b", "d:c", "d:x", "d:e"]) == ("", "B", "", "", "E")
    assert item_titles(items.drop(columns="title"), ["d:a", "d:b"]) == ("", "")
    assert item_titles(items, []) == ()
    # an item without a title goes by its name, as explanations label it; before, "" (found
    # in session 45's last read: `kgrec recommend --show` left such an item's title cell empty)
    items["name"] = pd.Series(["b", "A name", "", None, 7], dtype=object)
    assert item_titles(items, ["d:a", "d:b", "d:c", "d:e"]) == ("A name", "B", "", "E")


def test_ids_are_sorted_and_maps_invert_the_indices() -> None:
    data, maps = to_hetero_data(small_tables())
    assert maps.users == ("u1", "u10", "u2")
    assert maps.items == ("action:a", "action:b", "comedy:10", "comedy:9")
    assert maps.item_ids == ("a", "b", "10", "9")
    assert maps.entities == ("m.1", "m.2")
    assert maps.domains == ("action", "comedy")
    assert maps.relations == ("film.actor", "film.actor.film")
    assert data["item"].domain.tolist() == [0, 0, 1, 1]
    pairs = data[INTERACTS].edge_index
    got = {(maps.users[u], maps.items[i]) for u, i in pairs.T.tolist()}
    table = small_tables().interactions
    assert got == set(zip(table["user_id"], table["item_uid"], strict=True))
    assert pairs.T.tolist() == sorted(pairs.T.tolist())
    assert torch.equal(data[REV_INTERACTS].edge_index, pairs.flip(0))
    assert data["item", "film.actor", "entity"].edge_index.tolist() == [[0, 3], [1, 1]]
    assert data["item", "film.actor", "entity"].relation == 0
    assert data["entity", "film.actor.film", "item"].edge_index.tolist() == [[0], [1]]


def test_one_id_given_to_the_index_lookups_is_a_type_error_naming_the_argument() -> None:
    """Before, the string's characters were looked up: user_index("u10") gave [-1, -1, -1]
    (users "u", "1", "0"), of users 1, 12 and 2 user_index("12") the indices of 1 and 2."""
    _, maps = to_hetero_data(small_tables())
    with pytest.raises(TypeError, match=r"^user_ids must be a sequence of ids, got one: 'u10'"):
        maps.user_index("u10")
    with pytest.raises(TypeError, match=r"^uids must be a sequence of ids, got one: 'action:a'"):
        maps.item_index("action:a")
    assert maps.user_index(["u10"]).tolist() == [1]
    assert maps.item_index(("action:a", "x")).tolist() == [0, -1]


def test_row_order_does_not_change_the_export() -> None:
    reference = to_hetero_data(small_tables())
    for seed in range(3):
        assert_same_export(reference, to_hetero_data(shuffled(small_tables(), seed)))


def test_message_graph_holds_both_directions_with_relation_types() -> None:
    data, maps = to_hetero_data(small_tables())
    graph = message_graph(data)
    num_users, num_items = len(maps.users), len(maps.items)
    assert (graph.num_users, graph.num_items, graph.num_entities) == (3, 4, 2)
    assert graph.num_nodes == 9 and graph.num_relations == 2 + 2 * 2
    assert graph.node_type.tolist() == [0] * 3 + [1] * 4 + [2] * 2
    edges = {
        (s, d, t)
        for (s, d), t in zip(graph.edge_index.T.tolist(), graph.edge_type.tolist(), strict=True)
    }
    assert len(edges) == graph.edge_index.size(1)  # no duplicates
    for s, d, t in edges:  # every edge has its reverse with the paired type
        assert (d, s, t ^ 1) in edges
    user, item = maps.users.index("u2"), maps.items.index("comedy:9")
    assert (user, num_users + item, 0) in edges
    entity = maps.entities.index("m.2")
    assert (num_users + item, num_users + num_items + entity, 2) in edges  # film.actor
    assert (num_users + num_items + entity, num_users + item, 3) in edges


def test_message_graph_with_given_interactions_and_no_knowledge() -> None:
    data, _ = to_hetero_data(small_tables())
    pairs = torch.tensor([[0], [2]])
    graph = message_graph(data, interactions=pairs, knowledge=False)
    assert graph.edge_index.tolist() == [[0, 3 + 2], [3 + 2, 0]]
    assert graph.edge_type.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("pairs", "want"),
    [
        ([[0, 2]], r"must be \[2, N\].*got shape \[1, 2\]"),  # one pair as [[user, item]]
        ([[0, 1, 2]], r"must be \[2, N\].*got shape \[1, 3\]"),
        ([[0], [4]], r"item index 4, and the graph has 4 items \(indices 0 to 3\)"),
        ([[0], [3 + 2]], r"item index 5, .*second item indices \(not node indices\)"),
        ([[3], [0]], r"user index 3, and the graph has 3 users"),
        ([[-1], [0]], r"user index -1"),
        ([[0.0], [1.0]], r"integer indices, got torch.float32"),
    ],
)
def test_given_interactions_that_are_no_user_item_pairs_are_a_value_error(pairs, want) -> None:
    """Before, torch broadcast a [1, 2] or [1, E] tensor into edges of other nodes, and an
    index past the users (or items) was an edge of an item (or entity) node, silently."""
    data, _ = to_hetero_data(small_tables())  # 3 users, 4 items, 2 entities
    with pytest.raises(ValueError, match=rf"^interactions .*{want}"):
        message_graph(data, interactions=torch.tensor(pairs))


def test_text_vectors_become_features_with_a_mask() -> None:
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    text = {"Item": (["comedy:9", "action:a"], vectors), "Entity": (["m.2"], vectors[:1])}
    data, _ = to_hetero_data(small_tables(), text=text)
    assert data["item"].x_mask.tolist() == [True, False, False, True]
    assert data["item"].x[3].tolist() == [0.0, 1.0, 2.0]
    assert data["item"].x[0].tolist() == [3.0, 4.0, 5.0]
    assert data["user"].x.shape == (3, 3) and not data["user"].x_mask.any()
    graph = message_graph(data)
    assert graph.x.shape == (9, 3)
    assert graph.x_mask.tolist() == [False] * 3 + [True, False, False, True] + [False, True]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ((["comedy:9", "action:a"], np.zeros((3, 2))), r"got 2 keys and vectors of shape \[3, 2\]"),
        ((["comedy:9"], np.zeros(2)), r"got 1 keys and vectors of shape \[2\]"),
        (("comedy:9", np.zeros((1, 2))), r"keys must be a sequence of ids, got one string"),
        ((["comedy:9", "comedy:9"], np.eye(2)), r"names 'comedy:9' twice"),
    ],
)
def test_text_that_is_no_matrix_of_one_row_per_key_is_a_value_error_naming_it(text, want) -> None:
    """Before: torch's "shape mismatch", an IndexError ("tuple index out of range"), "unknown
    id 'c'" (a key given as one string read as one id per character), and of a key given
    twice one of its vectors taken, silently."""
    with pytest.raises(ValueError, match=rf"^text\['Item'\].*{want}"):
        to_hetero_data(small_tables(), text={"Item": text})


def test_text_for_an_unknown_node_is_an_error() -> None:
    text = {"Item": (["comedy:404"], np.zeros((1, 2), dtype=np.float32))}
    with pytest.raises(InputError, match="comedy:404"):
        to_hetero_data(small_tables(), text=text)


def test_tables_given_as_a_dict_are_a_type_error_naming_graph_tables(tmp_path) -> None:
    """to_hetero_data, explain and a store's write each stopped with "'dict' object has no
    attribute 'interactions'" (or 'tables') when given the tables as a dict."""
    from kgrec.explain import explain
    from kgrec.store import LocalStore

    tables = GraphTables().tables()
    want = r"^(tables|graph) must be a GraphTables, got dict \(GraphTables\(\*\*tables\) makes"
    with pytest.raises(TypeError, match=want):
        to_hetero_data(tables)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=want):
        explain(tables, "u1", "i1")  # type: ignore[arg-type]
    store = LocalStore(tmp_path / "store")
    with pytest.raises(TypeError, match=want):
        store.write(tables)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^graph must be a GraphTables, got list$"):
        store.check_write([])  # type: ignore[arg-type]
    assert not (tmp_path / "store").exists()


def test_interaction_with_an_unknown_item_names_table_and_field() -> None:
    tables = small_tables()
    tables.interactions.loc[2, "item_uid"] = "comedy:404"
    with pytest.raises(InputError, match=r"file interactions, field 'item_uid'.*comedy:404"):
        to_hetero_data(tables)


@pytest.mark.parametrize(
    ("table", "column", "row"),
    [("knowledge", "relation", 1), ("items", "domain", 2), ("interactions", "item_uid", 3)],
)
def test_a_missing_id_relation_or_domain_is_an_error_naming_table_and_column(
    table, column, row
) -> None:
    """Before, a knowledge row without a relation became relation -1: in the HeteroData an
    edge labelled with the last relation's name, in the message graph an edge of types 0/1
    (a user -> item interaction and its reverse) between an entity and an item; an item
    without a domain had domain -1, in no domain."""
    tables = small_tables().tables()
    tables[table] = tables[table].astype(object)
    tables[table].loc[row, column] = None
    want = rf"file {table}, field '{column}'.*position {row} \(from 0\) has no {column}"
    with pytest.raises(InputError, match=want):
        to_hetero_data(GraphTables(**tables))


def test_ml100k_export(datasets) -> None:
    from loaders import recbole

    data, maps = to_hetero_data(recbole.load(datasets / "ml-100k"))
    assert (data["user"].num_nodes, data["item"].num_nodes) == (943, 1682)
    assert data[INTERACTS].edge_index.size(1) == 100_000
    assert len(maps.relations) > 10 and data["entity"].num_nodes > 10_000
    # every film's genres (19 of them with "unknown") and year (two films have none)
    assert len(maps.genres) == 19
    assert set(data["item"].genre[0].tolist()) == set(range(1682))
    assert int(data["item"].year.isnan().sum()) == 2
    assert float(data["item"].year.nanmean()) == pytest.approx(1989, abs=2)
    graph = message_graph(data)
    knowledge_edges = sum(
        data[t].edge_index.size(1) for t in data.edge_types if "relation" in data[t]
    )
    assert graph.edge_index.size(1) == 2 * (100_000 + knowledge_edges)
    assert int(graph.edge_index.max()) < graph.num_nodes


@pytest.mark.neo4j
def test_local_store_and_neo4j_give_the_same_export(tmp_path, neo4j_clean, neo4j_settings) -> None:
    from kgrec.store import open_store

    tables = small_tables()
    with open_store(f"local:{tmp_path / 'store'}") as local:
        local.write(tables, progress=False)
        from_local = to_hetero_data(local.snapshot())
    with open_store(neo4j_settings.uri, driver=neo4j_clean) as neo4j:
        neo4j.write(shuffled(tables, 1), progress=False)
        from_neo4j = to_hetero_data(neo4j.snapshot())
    assert_same_export(from_local, from_neo4j)
    assert_same_export(from_local, to_hetero_data(tables))


def test_an_entity_tied_to_an_item_is_that_item_in_hand_built_tables() -> None:
    """An entity an item's ``entity_id`` names *is* that item (graph_schema.tables): the
    loaders and stores point its triples at the item. Tables built by hand (the Python API)
    kept it a separate entity node: its triples never reached the item, whose knowledge was
    lost to the models. Now the export ties them as the stores do."""
    tables = small_tables().tables()
    tables["items"]["entity_id"] = pd.array(["m.9", None, None, "m.1"], dtype="string")
    tables["entities"] = pd.DataFrame({"entity_id": ["m.2", "m.1"]})  # m.1 listed too
    data, maps = to_hetero_data(GraphTables(**tables))
    assert maps.entities == ("m.2",)
    relation = ("item", "film.actor.film", "item")
    # action:a (m.1) -> action:b, by the items' indices (sorted uids: action:a, action:b, ...)
    assert data[relation].edge_index.tolist() == [[0], [1]]
    # the same graph with the triple written against the item from the start
    tables["knowledge"].loc[1, ["head_kind", "head_key"]] = ["Item", "action:a"]
    tables["entities"] = pd.DataFrame({"entity_id": ["m.2"]})
    assert_same_export((data, maps), to_hetero_data(GraphTables(**tables)))
