"""Node texts from canonical tables built by hand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from graph_schema.tables import GraphTables
from kgrec.errors import InputError, KgrecError
from kgrec.text.nodes import item_labels, node_texts, relation_contexts, relation_phrase
from kgrec.text.templates import DEFAULT_TEMPLATES, make_template


def _graph() -> GraphTables:
    items = pd.DataFrame(
        {
            "uid": ["m:1", "m:2", "m:3", "m:4", "m:5"],
            "domain": "m",
            "item_id": ["1", "2", "3", "4", "5"],
            "title": ["Toy Story", "Heat", "Ed Wood", None, "Casino"],
            "year": pd.array([1995, 1995, None, 1990, 1995], dtype="Int64"),
            "genres": [["Animation", "Children's", "Comedy"], ["Action"], [], None, None],
            "entity_id": [None] * 5,
        }
    )
    entities = pd.DataFrame(
        {
            "entity_id": ["m.actor", "m.director", "m.pixar", "m.award", "m.alone"],
            "name": [None, None, "Pixar", None, None],
        }
    )
    knowledge = pd.DataFrame(
        [
            ("Item", "m:1", "film.film.actor", "Entity", "m.actor"),
            ("Item", "m:2", "film.film.actor", "Entity", "m.actor"),
            ("Item", "m:5", "film.film.actor", "Entity", "m.actor"),
            ("Entity", "m.director", "film.director.film", "Item", "m:2"),
            ("Item", "m:2", "film.film.directed_by", "Entity", "m.director"),  # the reverse
            ("Item", "m:3", "film.film.directed_by", "Entity", "m.director"),  # no reverse
            ("Item", "m:1", "film.film.production_companies", "Entity", "m.pixar"),
            ("Item", "m:4", "film.film.award_won", "Entity", "m.award"),  # m:4 has no title
        ],
        columns=["head_kind", "head_key", "relation", "tail_kind", "tail_key"],
    )
    interactions = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2"],
            "item_uid": ["m:1", "m:2", "m:3", "m:2", "m:5"],
            "rating": [3.0, 5.0, 4.0, 1.0, 2.0],
            "timestamp": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "age": ["24", "53", None],
            "occupation": ["writer", None, None],
        }
    )
    return GraphTables(
        items=items,
        entities=entities,
        knowledge=knowledge,
        interactions=interactions,
        users=users,
    )


def test_item_texts_from_title_year_genres_and_named_entities():
    items = node_texts(_graph(), ["Item"])["Item"]
    assert (
        items["m:1"] == "Toy Story (1995). Genres: Animation, Children's, Comedy. Related: Pixar."
    )
    assert items["m:2"] == "Heat (1995). Genres: Action."  # unnamed entities are not listed
    assert items["m:3"] == "Ed Wood."  # no year, empty genre list: those parts are dropped
    assert items["m:4"] == ""  # nothing to say: no vector (see kgrec.text.embed)


def test_entities_by_name_or_else_by_relation_context():
    entities = node_texts(_graph(), ["Entity"])["Entity"]
    assert entities["m.pixar"] == "Pixar"
    # the items with most knowledge edges first (Heat 3, Toy Story 2, Casino 1)
    assert entities["m.actor"] == "actor in Heat (1995), Toy Story (1995), Casino (1995)"
    # tail of film.film.directed_by (2 films) and head of its reverse film.director.film
    # (Heat only): the larger relation wins and Heat is listed once, "directed_by" read actively
    assert entities["m.director"] == "directed Heat (1995), Ed Wood"
    assert entities["m.award"] == ""  # its only item has no title
    assert entities["m.alone"] == ""


def test_entity_texts_read_no_interactions():
    """An entity's text is a model's input: held-out interactions must not choose the items it
    lists (before, the most interacted came first, counted over every interaction)."""
    graph = _graph()
    before = node_texts(graph, ["Entity"])["Entity"]
    more = pd.DataFrame({"user_id": ["u3"] * 3, "item_uid": ["m:5"] * 3})
    graph.interactions = pd.concat([graph.interactions, more], ignore_index=True)
    pd.testing.assert_series_equal(node_texts(graph, ["Entity"])["Entity"], before)


def test_relation_context_caps_listed_items_and_relations():
    contexts = relation_contexts(_graph(), max_listed=1, max_relations=1)
    assert contexts["m.actor"] == "actor in Heat (1995)"
    assert contexts["m.director"].count(";") == 0


@pytest.mark.parametrize(
    ("relation", "node_is_head", "phrase"),
    [
        ("film.film.actor", False, "actor in"),
        ("film.director.film", True, "director of"),
        ("film.film_genre.films_in_this_genre", True, "film genre of"),
        ("film.film.directed_by", False, "directed"),
        ("/film/film/award_nomination", False, "award nomination in"),
        ("starring", False, "starring in"),
        ("hasGenre", True, "has genre"),
    ],
)
def test_relation_phrase(relation, node_is_head, phrase):
    assert relation_phrase(relation, node_is_head=node_is_head) == phrase


def test_users_are_off_by_default_and_speak_through_their_attributes_alone():
    graph = _graph()
    assert set(node_texts(graph)) == {"Item", "Entity"}
    users = node_texts(graph, ["User"], max_listed=2)["User"]
    # no items by default: they would include held-out interactions, and a model that takes
    # user vectors as input would see the items it is tested on
    assert users["u1"] == "User with age: 24; occupation: writer."
    assert users["u2"] == "User with age: 53."
    assert users["u3"] == ""


def _with_items():
    """The default templates, users with a few of their items."""
    return replace(
        DEFAULT_TEMPLATES,
        user=make_template("user", ["User with {attributes}.", "Items: {items}."]),
    )


def test_a_user_template_may_list_the_best_rated_items():
    templates = _with_items()
    users = node_texts(_graph(), ["User"], templates, max_listed=2)["User"]
    assert users["u1"] == "User with age: 24; occupation: writer. Items: Heat (1995), Ed Wood."
    assert users["u2"] == "User with age: 53. Items: Casino (1995), Heat (1995)."
    assert users["u3"] == ""


def test_custom_templates_and_extra_columns():
    graph = _graph()
    graph.items["studio"] = ["Pixar", None, None, None, None]
    templates = DEFAULT_TEMPLATES.__class__(
        item=make_template("item", ["{title}", "by {studio}", "[{uid}]"]),
        entity=make_template("entity", "{name}: {context}"),
        entity_unnamed=make_template("entity_unnamed", "Unnamed ({entity_id})"),
        user=make_template("user", "{occupation}"),
    )
    texts = node_texts(graph, ["Item", "Entity", "User"], templates)
    assert texts["Item"]["m:1"] == "Toy Story by Pixar [m:1]"
    assert texts["Item"]["m:2"] == "Heat [m:2]"
    assert texts["Entity"]["m.pixar"] == "Pixar: production companies in Toy Story (1995)"
    assert texts["Entity"]["m.alone"] == "Unnamed (m.alone)"
    assert texts["User"].tolist() == ["writer", "", ""]


def test_template_with_unknown_field_names_it():
    templates = DEFAULT_TEMPLATES.__class__(
        item=make_template("item", "{titel}", source="t.json"),
        entity=DEFAULT_TEMPLATES.entity,
        entity_unnamed=DEFAULT_TEMPLATES.entity_unnamed,
        user=DEFAULT_TEMPLATES.user,
    )
    with pytest.raises(InputError, match=r"t\.json.*'item'.*titel"):
        node_texts(_graph(), ["Item"], templates)


def test_unknown_kind_is_rejected():
    with pytest.raises(KgrecError, match="Domain"):
        node_texts(_graph(), ["Domain"])


def test_label_does_not_repeat_a_year_the_title_already_has():
    items = pd.DataFrame(
        {
            "uid": ["d:a", "d:b"],
            "title": ["Heat (1995)", "Heat"],
            "year": pd.array([1995, 1995], dtype="Int64"),
        }
    )
    assert item_labels(items).tolist() == ["Heat (1995)", "Heat (1995)"]


def test_texts_do_not_depend_on_row_order():
    graph = _graph()
    # ties that only a deterministic order resolves: two named entities, equal interactions
    graph.entities = pd.concat(
        [graph.entities, pd.DataFrame({"entity_id": ["m.disney"], "name": ["Disney"]})]
    )
    graph.knowledge = pd.concat(
        [
            graph.knowledge,
            pd.DataFrame(
                [("Item", "m:1", "film.film.distributor", "Entity", "m.disney")],
                columns=graph.knowledge.columns,
            ),
        ]
    )
    graph.interactions = pd.concat(
        [
            graph.interactions,
            pd.DataFrame(
                {"user_id": "u3", "item_uid": ["m:1", "m:2"], "rating": 4.0, "timestamp": 9.0}
            ),
        ]
    )
    templates = _with_items()
    texts = node_texts(graph, ["Item", "Entity", "User"], templates, max_listed=1)
    assert texts["Item"]["m:1"].endswith("Related: Disney.")
    assert texts["User"]["u3"] == "Items: Heat (1995)."
    for seed in range(5):
        shuffled = GraphTables(
            **{n: t.sample(frac=1, random_state=seed) for n, t in graph.tables().items()}
        )
        again = node_texts(shuffled, ["Item", "Entity", "User"], templates, max_listed=1)
        for kind, series in texts.items():
            pd.testing.assert_series_equal(again[kind].sort_index(), series.sort_index())


def test_a_column_named_like_a_field_never_replaces_it():
    # before: an item column "label" replaced the title-and-year label in every text
    graph = _graph()
    graph.items = graph.items.assign(label="Pixar")
    texts = node_texts(graph, ["Item"])["Item"]
    assert not any(text.startswith("Pixar.") for text in texts)
    assert texts.iloc[0].startswith("Toy Story (1995). ") and "label: Pixar" in texts.iloc[0]


def test_a_title_of_invisible_characters_is_no_title():
    # before: a zero-width space gave the item the text "\u200b." and a meaningless vector
    graph = _graph()
    graph.items = graph.items.assign(title=graph.items["title"].astype(object))
    graph.items.loc[0, "title"] = "\u200b\ufeff "
    texts = node_texts(graph, ["Item"])["Item"]
    assert not any("\u200b" in text for text in texts)


def test_single_precision_attributes_read_as_the_file_wrote_them():
    # before: pandas hands out a float32 column's values as Python floats, so an attribute
    # 7.1 (a Parquet float column, which a store keeps as Float32) was "7.099999904632568"
    graph = _graph()
    graph.items = graph.items.assign(
        score=pd.array([7.1, 1995.0, None, 0.3, 2.5], dtype="Float32"),
        weight=np.array([7.1, 1995.0, np.nan, 0.3, 2.5], dtype=np.float32),
        sizes=[np.array([1.1, 2.0], dtype=np.float32), None, None, None, None],
    )
    texts = node_texts(graph, ["Item"])["Item"]
    assert "score: 7.1; weight: 7.1; sizes: 1.1, 2" in texts["m:1"]
    assert "score: 1995; weight: 1995." in texts["m:2"]
    assert "score" not in texts["m:3"] and "nan" not in texts["m:3"]
    assert "score: 0.3; weight: 0.3" in texts["m:4"]
