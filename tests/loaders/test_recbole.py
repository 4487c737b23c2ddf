"""RecBole atomic files -> canonical tables, on the toy files and on the real ml-100k / ml-1m."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from graph_schema.validate import validate_graph
from kgrec.errors import InputError
from loaders import LoadReport, named_rule, parse_rule, recbole


def rows(df: pd.DataFrame, columns: list[str]) -> set[tuple]:
    return set(df[columns].itertuples(index=False, name=None))


def test_toy_dataset_maps_every_file(toy):
    report = LoadReport()
    graph = recbole.load(toy, report=report)
    validate_graph(graph)
    assert list(graph.domains["domain"]) == ["toy"]
    items = graph.items.set_index("uid")
    assert list(items.index) == ["toy:i1", "toy:i2", "toy:i3", "toy:i4"]
    assert items.loc["toy:i1", "title"] == "Toy Story"
    assert items.loc["toy:i1", "genres"] == ["Animation", "Comedy"]
    assert items.loc["toy:i1", "year"] == 1995
    assert pd.isna(items.loc["toy:i3", "year"])  # `unknown` is not a year: left unknown
    assert items.loc["toy:i1", "budget"] == 30.0 and pd.isna(items.loc["toy:i3", "budget"])
    assert items.loc["toy:i1", "tags"] == ["pixar", "fun"] and items.loc["toy:i4", "tags"] == []
    assert items.loc["toy:i1", "scores"] == [1.0, 2.5]
    assert items.loc["toy:i1", "entity_id"] == "e1" and pd.isna(items.loc["toy:i3", "entity_id"])
    assert rows(graph.interactions, ["user_id", "item_uid", "rating"]) == {
        ("u1", "toy:i1", 5.0),
        ("u1", "toy:i2", 3.0),
        ("u2", "toy:i1", 4.0),
        ("u2", "toy:i3", 2.0),
        ("u3", "toy:i4", 1.0),
    }
    assert graph.users.set_index("user_id").loc["u2", "age"] == "53"
    # an entity that a link ties to an item IS that item: its triples attach to the Item
    assert rows(graph.knowledge, list(graph.knowledge.columns)) == {
        ("Item", "toy:i1", "film.film.actor", "Entity", "p1"),
        ("Item", "toy:i2", "film.film.actor", "Entity", "p1"),
        ("Entity", "p1", "people.person.spouse", "Entity", "p2"),
        ("Item", "toy:i4", "film.film.genre", "Entity", "g1"),
    }
    assert set(graph.entities["entity_id"]) == {"p1", "p2", "g1"}
    assert report.rows["interactions"] == 5 and not report.duplicates and not report.left_out
    assert len(report.files) == 5


def test_folder_prefix_and_file_name_all_find_the_dataset(toy):
    for path in (toy, toy / "toy", toy / "toy.inter"):
        name, files = recbole.atomic_files(path)
        assert name == "toy" and set(files) == {"inter", "item", "user", "kg", "link"}


def test_a_missing_atomic_file_named_is_an_error_not_the_others_alone(toy):
    # before: toy.inter named and missing read the .item, .user, .kg and .link without a
    # word (a load of no interactions)
    (toy / "toy.inter").unlink()
    with pytest.raises(InputError, match="no such file") as caught:
        recbole.atomic_files(toy / "toy.inter")
    assert caught.value.file == str(toy / "toy.inter")
    assert f"give its prefix {toy / 'toy'}" in str(caught.value)
    assert set(recbole.atomic_files(toy / "toy")[1]) == {"item", "user", "kg", "link"}
    assert set(recbole.atomic_files(toy / "toy.item")[1]) == {"item", "user", "kg", "link"}


def test_a_folder_of_another_datasets_files_names_them_and_the_prefix(
    tmp_path, toy_files, write_files
):
    # ml-100k's files copied into a folder of one's own name (to load them without its KG)
    mine = write_files(tmp_path / "mine", {k: v for k, v in toy_files.items() if "inter" in k})
    with pytest.raises(InputError) as caught:
        recbole.atomic_files(mine)
    assert str(caught.value) == (
        f"file {mine.resolve() / 'mine'}.*: no RecBole atomic files (.inter, .item, .user, .kg, "
        f".link) here; the folder holds the atomic files of 'toy', and a folder is read by its "
        f"own name: give the prefix {mine / 'toy'} (or one of its files)"
    )
    assert recbole.atomic_files(mine / "toy")[1] == {"inter": mine / "toy.inter"}
    with pytest.raises(InputError) as caught:  # nothing of RecBole's there: nothing to name
        recbole.atomic_files(write_files(tmp_path / "empty", {"notes.txt": "mine"}))
    assert str(caught.value).endswith("(.inter, .item, .user, .kg, .link) here")


def test_domain_option_and_bad_domain_name(toy):
    assert set(recbole.load(toy, domain="movies").items["uid"]) >= {"movies:i1"}
    with pytest.raises(InputError, match="domain name") as caught:
        recbole.load(toy, domain="bad domain")
    assert caught.value.field == "--domain"


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_domain_given_to_the_python_api_is_refused(toy, blank):
    """Before, ``recbole.load(path, domain="")`` put every item in the domain ``default``
    without a word (the command line refuses it since the cli60 review), where leaving the
    domain out gives the dataset's name."""
    with pytest.raises(InputError, match="domain name") as caught:
        recbole.load(toy, domain=blank)
    assert caught.value.field == "--domain"


def test_named_rule_splits_items_and_leaves_out_the_rest(toy):
    report = LoadReport()
    graph = recbole.load(toy, domain_rule=named_rule("ml1m-action-comedy"), report=report)
    domain_of = dict(zip(graph.items["uid"], graph.items["domain"], strict=True))
    # i4 is Action and Comedy: it meets both sets, so it is left out with what touches it
    assert domain_of == {"comedy:i1": "comedy", "action:i2": "action", "comedy:i3": "comedy"}
    assert list(graph.domains["domain"]) == ["action", "comedy"]
    assert set(graph.interactions["item_uid"]) == {"comedy:i1", "action:i2", "comedy:i3"}
    assert "g1" not in set(graph.entities["entity_id"])
    assert dict(report.left_out) == {"items": 1, "interactions": 1, "links": 1, "knowledge": 1}
    assert "left out by the domain rule" in report.summary()


def test_duplicate_rows_are_merged_and_counted(tmp_path, toy_files, write_files):
    files = toy_files
    files["toy.inter"] += "u1\ti1\t5\t100\nu1\ti2\t4\t\n"  # an exact repeat; a re-rating
    report = LoadReport()
    graph = recbole.load(write_files(tmp_path / "toy", files), report=report)
    assert len(graph.interactions) == 5
    inter = graph.interactions.set_index(["user_id", "item_uid"])
    assert inter.loc[("u1", "toy:i2"), "rating"] == 4.0  # the last row wins ...
    assert inter.loc[("u1", "toy:i2"), "timestamp"] == 101.0  # ... but a missing value never erases
    assert report.duplicates["interactions"] == 2
    assert "duplicates merged" in report.summary()


def test_an_empty_field_of_a_later_row_never_erases(tmp_path, toy_files, write_files):
    # before the fix i1's second row left it without title, genres and tags
    files = toy_files
    files["toy.item"] += "i1\t\t1996\t\t\t\t\n"
    graph = recbole.load(write_files(tmp_path / "toy", files))
    item = graph.items.set_index("uid").loc["toy:i1"]
    assert item["title"] == "Toy Story" and list(item["genres"]) == ["Animation", "Comedy"]
    assert list(item["tags"]) == ["pixar", "fun"] and item["year"] == 1996
    assert list(graph.items.set_index("uid").loc["toy:i4", "tags"]) == []  # nothing else: kept


def test_without_item_file_items_come_from_interactions_and_links(tmp_path, write_files, toy_files):
    files = {k: v for k, v in toy_files.items() if k != "toy.item"}
    files["toy.link"] += "i9\te9\n"
    graph = recbole.load(write_files(tmp_path / "toy", files))
    assert set(graph.items["item_id"]) == {"i1", "i2", "i3", "i4", "i9"}
    assert graph.items["title"].isna().all()


def test_domain_rule_needs_item_genres(tmp_path, write_files, toy_files):
    files = {k: v for k, v in toy_files.items() if k != "toy.item"}
    with pytest.raises(InputError, match="genres"):
        recbole.load(
            write_files(tmp_path / "toy", files), domain_rule=named_rule("ml1m-action-comedy")
        )


def test_an_entity_linked_to_two_items_is_an_error(tmp_path, toy_files, write_files):
    files = toy_files
    files["toy.link"] += "i3\te1\n"
    with pytest.raises(InputError, match="second item") as caught:
        recbole.load(write_files(tmp_path / "toy", files))
    # the field as the header names it (before: 'entity_id', not the header's name)
    where = (Path(caught.value.file).name, caught.value.line, caught.value.field)
    assert where == ("toy.link", 5, "entity_id:token")


def test_an_item_files_entity_id_ties_the_entity_to_the_item(tmp_path, write_files):
    # before: the item got the entity_id, but its triples made an Entity of the same id, and
    # the load failed with "an entity tied to an item is that item, not an Entity"
    files = {
        "toy.item": "item_id:token\tentity_id:token\ni1\te1\ni2\t\n",
        "toy.kg": "head_id:token\trelation_id:token\ttail_id:token\ne1\tfilm.actor\tp1\n",
    }
    graph = recbole.load(write_files(tmp_path / "toy", files))
    assert rows(graph.knowledge, ["head_kind", "head_key", "tail_kind", "tail_key"]) == {
        ("Item", "toy:i1", "Entity", "p1")
    }
    assert list(graph.entities["entity_id"]) == ["p1"]


def test_an_entity_tied_to_two_items_by_the_item_file_is_an_error(tmp_path, write_files):
    # before: both items were tied to the entity, and its triples went to one of them
    files = {
        "toy.item": "item_id:token\tentity_id:token\ni1\te1\ni2\te1\n",
        "toy.kg": "head_id:token\trelation_id:token\ttail_id:token\ne1\tfilm.actor\tp1\n",
    }
    with pytest.raises(InputError, match="tied to two items, 'i1' and 'i2'") as caught:
        recbole.load(write_files(tmp_path / "toy", files))
    where = (Path(caught.value.file).name, caught.value.line, caught.value.field)
    assert where == ("toy.item", 3, "entity_id:token")  # as the header names it


@pytest.mark.parametrize("order", ["i1 first", "i2 first"])
def test_an_entity_the_item_file_and_a_link_tie_to_two_items_names_the_link(
    tmp_path, write_files, order
):
    # before: the error named the item file's row of the linked item (`i2`, whose entity_id
    # is empty), not the link that tied it: `file toy.item, line 3, field 'entity_id:token'`
    rows = ["i1\te1\n", "i2\t\n"] if order == "i1 first" else ["i2\t\n", "i1\te1\n"]
    files = {
        "toy.item": "item_id:token\tentity_id:token\n" + "".join(rows),
        "toy.link": "item_id:token\tentity_id:token\ni3\te3\ni2\te1\n",
        "toy.kg": "head_id:token\trelation_id:token\ttail_id:token\ne1\tfilm.actor\tp1\n",
    }
    files["toy.item"] += "i3\t\n"
    with pytest.raises(InputError, match="entity 'e1' is linked to item 'i2'") as caught:
        recbole.load(write_files(tmp_path / "toy", files))
    error = caught.value
    assert (Path(error.file).name, error.line, error.field) == ("toy.link", 3, "entity_id:token")
    line = 2 if order == "i1 first" else 3
    item_file = tmp_path / "toy" / "toy.item"
    assert f"ties it to item 'i1' (file {item_file}, line {line}, column entity_id:token" in str(
        error
    )


def test_an_item_file_and_a_link_tying_an_item_to_two_entities_is_an_error(
    tmp_path, toy_files, write_files
):
    # before: the link won without a word, and the item file's entity was left an Entity
    files = toy_files
    files["toy.item"] = "item_id:token\tentity_id:token\ni1\te9\ni2\te2\ni3\t\ni4\t\n"
    with pytest.raises(InputError, match="item 'i1' is linked to the entity 'e1'") as caught:
        recbole.load(write_files(tmp_path / "toy", files))
    error = caught.value
    assert (Path(error.file).name, error.line, error.field) == ("toy.link", 2, "entity_id:token")
    assert f"ties it to 'e9' (file {tmp_path / 'toy' / 'toy.item'}, line 2, column" in str(error)


def test_rows_that_tie_an_item_to_the_same_entity_are_accepted(tmp_path, toy_files, write_files):
    files = toy_files  # i1 twice alike, i2 once empty; the links agree, i4 only linked
    files["toy.item"] = "item_id:token\tentity_id:token\ni1\te1\ni2\t\ni2\te2\ni3\t\ni4\t\ni1\te1\n"
    graph = recbole.load(write_files(tmp_path / "toy", files))
    entity = graph.items.set_index("uid")["entity_id"].fillna("")
    assert entity.to_dict() == {"toy:i1": "e1", "toy:i2": "e2", "toy:i3": "", "toy:i4": "e4"}


@pytest.mark.parametrize(
    ("name", "header", "field"),
    [
        ("toy.inter", "user_id:token\titem_id:bogus\n", "item_id:bogus"),
        ("toy.item", "item_id:token\ttwo words:token\n", "two words"),
    ],
)
def test_header_types_and_attribute_names_are_checked(
    tmp_path, name, header, field, toy_files, write_files
):
    files = toy_files
    files[name] = header + "u1\ti1\n"
    with pytest.raises(InputError) as caught:
        recbole.load(write_files(tmp_path / "toy", files))
    assert (caught.value.line, caught.value.field) == (1, field)


def test_bad_files_name_file_line_and_field(tmp_path, bad_recbole_case, spoil):
    name, content, append, line, field, message = bad_recbole_case
    folder = spoil(tmp_path, name, content, append=append)
    with pytest.raises(InputError, match=message) as caught:
        recbole.load(folder)
    error = caught.value
    assert (error.file, error.line, error.field) == (str(folder / name), line, field)


def test_a_second_item_column_of_one_value_is_ignored_with_a_warning(
    tmp_path, toy_files, write_files, caplog
):
    # before: an INFO line ("column title also maps to title; ignoring it")
    toy_files["toy.item"] = (
        "item_id:token\tmovie_title:token_seq\ttitle:token\ni1\tToy Story\tTOY\n"
        "i2\tGoldenEye\t\ni3\tSabrina\t\ni4\tHeat\t\n"
    )
    folder = write_files(tmp_path / "toy", toy_files)
    with caplog.at_level("WARNING", logger="loaders.recbole"):
        graph = recbole.load(folder)
    assert graph.items.set_index("uid").loc["toy:i1", "title"] == "Toy Story"
    (record,) = [r for r in caplog.records if r.name == "loaders.recbole"]
    assert record.levelname == "WARNING"
    assert record.getMessage() == (
        f"{folder / 'toy.item'}: columns movie_title:token_seq and title:token both give the "
        "item's title: reading movie_title:token_seq, ignoring title:token, whose values are "
        "not loaded (rename it to keep it as an attribute)"
    )


def test_an_item_column_in_other_case_beside_one_of_its_value_is_an_attribute(
    tmp_path, toy_files, write_files
):
    # the title comes from movie_title: Title is no title column meant, but an attribute
    toy_files["toy.item"] = (
        "item_id:token\tmovie_title:token_seq\tTitle:token\ni1\tToy Story\tTOY\n"
        "i2\tGoldenEye\t\ni3\tSabrina\t\ni4\tHeat\t\n"
    )
    graph = recbole.load(write_files(tmp_path / "toy", toy_files))
    item = graph.items.set_index("uid").loc["toy:i1"]
    assert (item["title"], item["Title"]) == ("Toy Story", "TOY")


def test_an_ignored_float_column_is_not_read(tmp_path, toy_files, write_files, caplog):
    # before: the load was refused for a value of a column it ignores (README: an .inter's
    # other columns are ignored with a WARNING): "line 2, field 'label:float': not a number"
    toy_files["toy.inter"] = (
        "user_id:token\titem_id:token\trating:float\tlabel:float\nu1\ti1\t5\tyes\n"
    )
    toy_files["toy.kg"] = (
        "head_id:token\trelation_id:token\ttail_id:token\tweight:float\ne1\tr\tp1\thigh\n"
    )
    with caplog.at_level("WARNING", logger="loaders.recbole"):
        graph = recbole.load(write_files(tmp_path / "toy", toy_files))
    assert graph.interactions["rating"].tolist() == [5.0]
    assert len(graph.knowledge) == 1
    warned = [r.getMessage() for r in caplog.records if r.name == "loaders.recbole"]
    assert any("ignoring columns label:float" in m for m in warned)
    assert any("ignoring columns weight:float" in m for m in warned)


def test_unknown_inter_columns_are_dropped_with_a_warning(tmp_path, toy_files, write_files, caplog):
    """A column no .inter column differs from by case alone is dropped, as before, but with
    a WARNING (before: an INFO line); one in other case which the header also has in RecBole's
    case (``rating`` and ``Rating``) is such a column too."""
    toy_files["toy.inter"] = (
        "user_id:token\titem_id:token\trating:float\tRating:float\treview:token_seq\n"
        "u1\ti1\t5\t1\tgreat fun\n"
    )
    folder = write_files(tmp_path / "toy", toy_files)
    with caplog.at_level("WARNING", logger="loaders.recbole"):
        graph = recbole.load(folder)
    assert graph.interactions["rating"].tolist() == [5.0]
    (record,) = [r for r in caplog.records if r.name == "loaders.recbole"]
    assert record.levelname == "WARNING"
    assert record.getMessage() == (
        f"{folder / 'toy.inter'}: ignoring columns Rating:float, review:token_seq, whose values "
        "are not loaded (a .inter file's columns: user_id, item_id, rating, timestamp)"
    )


def test_real_ml100k(datasets):
    report = LoadReport()
    graph = recbole.load(datasets / "ml-100k", report=report)
    assert report.rows == {
        "domains": 1,
        "users": 943,
        "items": 1682,
        "entities": report.rows["entities"],
        "interactions": 100_000,
        "knowledge": 91_631,
    }
    assert graph.items["entity_id"].notna().sum() == 1598  # the .link file's items
    assert not report.duplicates and not report.left_out
    knowledge = graph.knowledge
    linked = set(graph.items["entity_id"].dropna())
    assert not linked & set(graph.entities["entity_id"])  # linked entities are items
    items_in_kg = set(knowledge.loc[knowledge["head_kind"] == "Item", "head_key"])
    assert items_in_kg <= set(graph.items["uid"]) and len(items_in_kg) > 1000
    assert graph.items.set_index("uid").loc["ml-100k:1", "genres"] == [
        "Animation",
        "Children's",
        "Comedy",
    ]


@pytest.mark.slow
def test_real_ml1m_action_comedy_partition(datasets):
    report = LoadReport()
    graph = recbole.load(
        datasets / "ml-1m", domain_rule=named_rule("ml1m-action-comedy"), report=report
    )
    assert report.items_per_domain == {"action": 1249, "comedy": 1252}
    assert dict(report.left_out) == {"items": 1382, "interactions": 291_040}
    per_domain = graph.interactions["item_uid"].str.split(":", n=1).str[0].value_counts()
    assert per_domain.to_dict() == {"action": 398_823, "comedy": 310_346}
    assert len(graph.users) == 6040
    assert graph.items.set_index("uid").loc["comedy:Toy Story (1995)", "year"] == 1995


def test_a_column_named_twice_with_two_types(tmp_path, toy_files, write_files):
    files = toy_files
    files["toy.inter"] = "user_id:token\titem_id:token\tuser_id:float\nu1\ti1\t1\n"
    with pytest.raises(InputError, match="twice") as caught:
        recbole.load(write_files(tmp_path / "toy", files))
    assert (caught.value.line, caught.value.field) == (1, "user_id")


def test_ids_declared_float_are_the_ids_token_columns_give(tmp_path, write_files):
    # before: 1 in a user_id:float column was the user "1.0", another than the .user file's
    # "1", and 10 named the item "10.0", which was "not in the item file"
    files = {
        "toy.inter": "user_id:float\titem_id:float\trating:float\n1\t10\t4\n2.0\t10.0\t3\n",
        "toy.user": "user_id:token\tage:token\n1\t24\n2\t30\n",
        "toy.item": "item_id:token\tmovie_title:token_seq\n10\tHeat\n",
    }
    graph = recbole.load(write_files(tmp_path / "toy", files))
    assert sorted(graph.users["user_id"]) == ["1", "2"]
    assert rows(graph.interactions, ["user_id", "item_uid"]) == {("1", "toy:10"), ("2", "toy:10")}
    # a non-number names the column as the header writes it; digits are never lost
    files["toy.inter"] = "user_id:float\titem_id:token\n12345678901234567\t10\nx\t10\n"
    with pytest.raises(InputError, match="not a number") as caught:
        recbole.load(write_files(tmp_path / "bad" / "toy", files))
    assert (caught.value.line, caught.value.field) == (3, "user_id:float")
    files["toy.inter"] = "user_id:float\titem_id:token\n12345678901234567\t10\n"
    graph = recbole.load(write_files(tmp_path / "big" / "toy", files))
    assert "12345678901234567" in set(graph.users["user_id"])


def test_a_dataset_name_that_is_no_domain_name_asks_for_a_domain(tmp_path, write_files):
    # before: "field '--domain': domain name 'douban.movie' must match ...", of an option the
    # command did not give, after every file was parsed
    files = {"douban.movie.inter": "user_id:token\titem_id:token\n1\t2\n"}
    folder = write_files(tmp_path / "douban.movie", files)
    with pytest.raises(InputError, match=r"defaults to the dataset name 'douban\.movie'") as caught:
        recbole.load(folder)
    assert caught.value.field == "--domain"
    assert caught.value.file == str(folder / "douban.movie.inter")
    graph = recbole.load(folder, domain="douban")
    assert list(graph.items["uid"]) == ["douban:2"]


def test_an_empty_id_declared_float_is_no_id(tmp_path, write_files):
    # before: an empty field of a float id column was the id "nan": a user "nan", two items of
    # an empty entity_id:float both tied to the entity "nan" (refused as one entity, two items)
    files = {
        "toy.inter": "user_id:float\titem_id:token\n1\t10\n\t10\n",
        "toy.item": "item_id:token\tmovie_title:token_seq\n10\tHeat\n",
    }
    with pytest.raises(InputError, match="a required value is empty") as caught:
        recbole.load(write_files(tmp_path / "user" / "toy", files))
    assert (caught.value.line, caught.value.field) == (3, "user_id:float")
    files = {
        "toy.item": "item_id:token\tentity_id:float\n10\t7\n11\t\n12\t\n",
        "toy.kg": "head_id:token\trelation_id:token\ttail_id:token\n7\tr\t8\n",
    }
    graph = recbole.load(write_files(tmp_path / "item" / "toy", files))
    entity = graph.items.set_index("item_id")["entity_id"]
    assert entity["10"] == "7" and entity[["11", "12"]].isna().all()
    assert "nan" not in set(graph.entities["entity_id"])


def test_a_domain_rule_on_an_attribute_the_item_file_lacks_names_its_header(toy):
    # before: "field 'tags2': the domain rule needs the item attribute", no file, no line
    with pytest.raises(InputError, match="needs the item attribute 'tags2'") as caught:
        recbole.load(toy, domain_rule=parse_rule("tags2:a=bond"))
    assert (caught.value.file, caught.value.line) == (str(toy / "toy.item"), 1)


@pytest.mark.parametrize("header", ["class:token_seq", "genre:token_seq"])
def test_domain_rule_messages_name_the_genres_column_as_the_header_does(
    tmp_path, write_files, toy_files, caplog, header
):
    # before: the rule's error and warning named the internal column 'genres'
    item = toy_files["toy.item"].replace("class:token_seq", header)
    folder = write_files(tmp_path / "toy", {**toy_files, "toy.item": item})
    with pytest.raises(InputError, match="keeps no item") as caught:
        recbole.load(folder, domain_rule=parse_rule("genres:books=Novel"))
    assert f"{header!r} values" in str(caught.value) and "'genres'" not in str(caught.value)
    with caplog.at_level("WARNING", logger="loaders.rules"):
        recbole.load(folder, domain_rule=parse_rule("genres:films=Drama,Action;books=Novel"))
    (record,) = [r for r in caplog.records if r.name == "loaders.rules"]
    assert f"{header!r} values" in record.getMessage()


def test_millisecond_timestamps_name_the_column_as_the_header_does(tmp_path, spoil):
    # before: the warning said 'column timestamp', not the header's 'timestamp:float'
    inter = "user_id:token\titem_id:token\ttimestamp:float\nu1\ti1\t1000000000000\n"
    report = LoadReport()
    recbole.load(spoil(tmp_path, "toy.inter", inter, append=False), report=report)
    assert any("column timestamp:float)" in text for text in report.warnings)


@pytest.mark.parametrize("keep", [("toy.inter",), ("toy.inter", "toy.link", "toy.kg")])
def test_domain_rule_without_item_file_says_the_items_file_is_needed(
    tmp_path, write_files, toy_files, keep
):
    # before: "field 'genres': the domain rule needs the item attribute 'genres', which the
    # items do not have" at the interactions file, as if a column of it were missing
    folder = write_files(tmp_path / "toy", {k: toy_files[k] for k in keep})
    with pytest.raises(InputError, match="needs the items file") as caught:
        recbole.load(folder, domain_rule=named_rule("ml1m-action-comedy"))
    message = str(caught.value)
    assert "come from the interactions" in message and "no item attributes" in message
    assert ".item" in message and "load table --kind items" in message
    inter = str(folder.resolve() / "toy.inter")
    assert (caught.value.file, caught.value.field) == (inter, "--domain-rule")


@pytest.mark.parametrize("attribute", ["class", "class:token_seq", "genres"])
def test_a_domain_rule_may_name_the_column_as_the_header_does_with_or_without_its_type(
    toy, attribute
):
    # before, 'class' was refused as an attribute the items do not have, and
    # 'class:token_seq:action=...' as a domain named 'token_seq:action'
    rule = parse_rule(f"{attribute}:action=Action;comedy=Comedy,Romance")
    graph = recbole.load(toy, domain_rule=rule)
    assert dict(zip(graph.items["item_id"], graph.items["domain"], strict=True)) == {
        "i1": "comedy",
        "i2": "action",
        "i3": "comedy",
    }


def test_a_domain_rule_on_an_unknown_column_lists_the_names_a_rule_may_use(toy):
    # before, the error said only that the items lack 'klass'
    with pytest.raises(InputError, match="needs the item attribute 'klass'") as caught:
        recbole.load(toy, domain_rule=parse_rule("klass:a=Action"))
    message = str(caught.value)
    assert "a rule may name item_id, movie_title, release_year, class, budget, tags, " in message
    assert "with or without the header's :type" in message and "genres" not in message


def test_years_are_named_as_the_header_does(tmp_path, toy_files, write_files, caplog):
    # before: "1 value(s) of release_year are not years", and field 'release_year' for a
    # float year that is not a whole number, where the header says release_year:token and
    # release_year:float
    with caplog.at_level("WARNING", logger="loaders.files"):
        recbole.load(write_files(tmp_path / "token" / "toy", toy_files))
    (record,) = [r for r in caplog.records if "not years" in r.getMessage()]
    assert "of release_year:token are not years" in record.getMessage()
    item = toy_files["toy.item"].replace("release_year:token", "release_year:float")
    item = item.replace("unknown", "1995.5")
    with pytest.raises(InputError, match="not a year") as caught:
        recbole.load(write_files(tmp_path / "float" / "toy", {**toy_files, "toy.item": item}))
    assert (caught.value.line, caught.value.field) == (4, "release_year:float")


def test_a_non_number_in_a_float_seq_column_names_the_column_as_the_header_does(tmp_path, spoil):
    """Before, the error named the field 'scores', not the header's 'scores:float_seq'."""
    path = spoil(tmp_path, "toy.item", "i5\tAlien\t1979\tHorror\t11.0\t\t1 abc\n")
    with pytest.raises(InputError, match="not a number: 'abc'") as caught:
        recbole.load(path)
    where = (Path(caught.value.file).name, caught.value.line, caught.value.field)
    assert where == ("toy.item", 6, "scores:float_seq")
