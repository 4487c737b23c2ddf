"""What every loader shares: user links, merging loads, the self-contained result."""

from __future__ import annotations

import logging

import pytest

from graph_schema.validate import validate_graph
from kgrec.errors import InputError
from loaders import LoadReport, merge_tables, named_rule, recbole


def test_user_links_that_join_no_id_of_their_load_are_a_warning(toy, tmp_path, write_files):
    # before, a link file naming only ids loaded earlier did nothing, and nothing said so
    links = write_files(tmp_path / "links", {"links.tsv": "x\ty\n"})
    report = LoadReport()
    recbole.load(toy, user_links=links / "links.tsv", report=report)
    assert report.users_joined == 0
    assert "warning: the user-link file joined no user id of this load's" in report.summary()


def test_user_links_that_join_no_id_are_logged_as_a_warning(toy, tmp_path, write_files, caplog):
    # before, only the summary's last lines said so; a load whose links did nothing is almost
    # surely a mistake, so it is logged as it happens, with the file and its count of links
    links = write_files(tmp_path / "links", {"links.tsv": "x\ty\nx2\ty\n"})
    with caplog.at_level(logging.WARNING, logger="loaders.build"):
        recbole.load(toy, user_links=links / "links.tsv")
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.name == "loaders.build" and r.levelname == "WARNING"
    ]
    assert warned == [
        f"the user-link file {links / 'links.tsv'} joined no user id of this load's files: its "
        "2 links did nothing (ids loaded earlier keep theirs: load the links with the files "
        "that name the ids)"
    ]


def test_user_links_that_join_no_id_say_one_count_in_the_summary_and_the_log(
    toy, tmp_path, write_files, caplog
):
    # before, the summary counted the ids the file maps onto another (1: x) and the log the
    # file's rows (2: the self-link y y too); both now count the file's links
    links = write_files(tmp_path / "links", {"links.tsv": "x\ty\ny\ty\n"})
    report = LoadReport()
    with caplog.at_level(logging.WARNING, logger="loaders.build"):
        recbole.load(toy, user_links=links / "links.tsv", report=report)
    [logged] = [r.getMessage() for r in caplog.records if r.name == "loaders.build"]
    assert "its 2 links did nothing" in logged
    assert "the files that name the ids); links: 2" in report.summary()


def test_user_links_join_ids_into_one_user(toy, tmp_path, write_files):
    links = write_files(tmp_path, {"links.tsv": "user_id\tsame_as\nu3\tu2\nx9\tu3\nu2\tu2\n"})
    report = LoadReport()
    graph = recbole.load(toy, user_links=links / "links.tsv", report=report)
    # u3 -> u2 (and x9 -> u3 -> u2): one person, the id at the end of the chain
    assert set(graph.users["user_id"]) == {"u1", "u2"}
    assert set(graph.interactions.loc[graph.interactions["user_id"] == "u2", "item_uid"]) == {
        "toy:i1",
        "toy:i3",
        "toy:i4",
    }
    assert report.users_joined == 1  # u3 (x9 appears in no file of this load)
    assert report.duplicates["users"] == 1  # u3's user row merged into u2's
    # u2 -> u2 links u2 to itself, which ends the chain: no cycle (before, the self-link
    # counted u2 as mapped, the chain had no end, and a cycle was reported)
    assert not any("cycle" in what for what in report.warnings)


def test_user_links_cycle_picks_one_id(toy, tmp_path, write_files):
    links = write_files(tmp_path, {"links.tsv": "u1\tu2\nu2\tu1\n"})  # no header
    graph = recbole.load(toy, user_links=links / "links.tsv")
    assert set(graph.users["user_id"]) == {"u1", "u3"}


def test_user_links_with_an_empty_id_name_the_line(toy, tmp_path, write_files):
    links = write_files(tmp_path, {"links.tsv": "user_id\tsame_as\nu1\tu2\nu3\t\n"})
    with pytest.raises(InputError, match="empty") as caught:
        recbole.load(toy, user_links=links / "links.tsv")
    assert (caught.value.line, caught.value.field) == (3, "same_as")


def test_merge_tables_shares_users_and_keeps_domains_apart(toy, tmp_path, toy_files, write_files):
    other = toy_files
    other["toy.inter"] = "user_id:token\titem_id:token\trating:float\nu1\ti1\t1\nu9\ti2\t2\n"
    movies = recbole.load(toy, domain="movies")
    books = recbole.load(write_files(tmp_path / "b" / "toy", other), domain="books")
    merged = merge_tables(movies, books, movies)
    validate_graph(merged)
    assert set(merged.domains["domain"]) == {"movies", "books"}
    assert len(merged.items) == 8
    assert set(merged.users["user_id"]) == {"u1", "u2", "u3", "u9"}
    assert len(merged.interactions) == 5 + 2
    u1 = merged.interactions[merged.interactions["user_id"] == "u1"]
    assert set(u1["item_uid"]) == {"movies:i1", "movies:i2", "books:i1"}
    # entities are shared by id; the same triple from two loads is one row
    assert set(merged.entities["entity_id"]) == {"p1", "p2", "g1"}
    assert len(merged.knowledge) == 7  # 4 + 4, the shared spouse triple once


def test_domain_and_rule_together_are_refused(toy):
    from loaders import named_rule

    with pytest.raises(InputError, match="either"):
        recbole.load(toy, domain="x", domain_rule=named_rule("ml1m-action-comedy"))


def test_the_report_says_which_attributes_the_item_and_user_files_leave_empty(
    toy_files, tmp_path, write_files
):
    """What `kgrec load --clear-empty` clears: per column of the items and users files, the
    nodes whose row leaves it empty (an empty list, a year read as unknown); not a user the
    interactions alone name (u9: no row of the users file), nor an item the domain rule left
    out (i4), nor the ids."""
    toy_files["toy.inter"] += "u9\ti1\t5\t105\n"
    toy_files["toy.user"] = toy_files["toy.user"].replace("u2\t53\tM", "u2\t \tM")
    report = LoadReport()
    recbole.load(
        write_files(tmp_path / "toy", toy_files),
        domain_rule=named_rule("ml1m-action-comedy"),
        report=report,
    )
    assert report.empty == {
        "Item": {
            "title": [],
            "year": ["comedy:i3"],  # 'unknown'
            "genres": [],
            "budget": ["comedy:i3"],
            "tags": ["comedy:i3"],
            "scores": ["action:i2"],
        },
        "User": {"age": ["u2"], "gender": []},
    }


@pytest.mark.parametrize("header", ["userId\tsameAs", "user_id\tsame_as", "UserID\tSameAs"])
def test_a_camel_case_user_link_header_is_a_header(toy, tmp_path, write_files, header):
    """Before, `userId sameAs` (as pandas and Java write headers) was not taken for a header:
    its line was read as a link of a user "userId" to one "sameAs" (two links counted here,
    where the file has one)."""
    links = write_files(tmp_path, {"links.tsv": f"{header}\nx9\ty9\n"})
    report = LoadReport()
    recbole.load(toy, user_links=links / "links.tsv", report=report)
    assert "the files that name the ids); links: 1" in report.summary()
    links = write_files(tmp_path, {"links.tsv": f"{header}\nu3\tu2\n"})
    graph = recbole.load(toy, user_links=links / "links.tsv")
    assert set(graph.users["user_id"]) == {"u1", "u2"}
