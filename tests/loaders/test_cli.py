"""`kgrec load ...` into a real store (LocalStore, and Neo4j when marked): bad input gives a
non-zero exit and a message naming file, line and field, and leaves the store exactly as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kgrec.cli import main
from kgrec.store import open_store


@pytest.fixture(params=["local", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store_uri(request, tmp_path) -> str:
    if request.param == "neo4j":
        request.getfixturevalue("neo4j_clean")
        return request.getfixturevalue("neo4j_settings").uri
    return f"local:{tmp_path / 'store'}"


def kgrec(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(uri: str) -> dict[str, pd.DataFrame]:
    with open_store(uri) as store:
        return {**store.snapshot().tables(), "stats": pd.DataFrame([store.stats()])}


def assert_same(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    for name, table in before.items():
        pd.testing.assert_frame_equal(after[name], table, obj=name)


@pytest.fixture
def loaded(
    store_uri, tmp_path, capsys, write_files, toy_files
) -> tuple[str, dict[str, pd.DataFrame]]:
    """A store holding the toy dataset, and its snapshot."""
    code, _out, err = kgrec(
        capsys,
        "load",
        "recbole",
        write_files(tmp_path / "base" / "toy", toy_files),
        "--store",
        store_uri,
    )
    assert code == 0, err
    before = snapshot(store_uri)
    assert len(before["interactions"]) == 5
    return store_uri, before


def test_bad_input_leaves_the_store_as_it_was(loaded, tmp_path, capsys, bad_recbole_case, spoil):
    name, content, append, line, field, message = bad_recbole_case
    uri, before = loaded
    folder = spoil(tmp_path, name, content, append=append)
    code, _out, err = kgrec(capsys, "load", "recbole", folder, "--store", uri)
    assert code == 2
    assert f"file {folder / name}" in err
    assert (f"line {line}" in err) if line is not None else "line" not in err
    assert (f"field {field!r}" in err) if field is not None else "field" not in err
    assert message in err
    assert "Traceback" not in err
    assert_same(before, snapshot(uri))


def test_an_item_file_and_a_link_tying_an_item_to_two_entities_leave_the_store(
    loaded, tmp_path, capsys, write_files, toy_files
):
    # before: the link's entity won without a word (exit 0)
    uri, before = loaded
    toy_files["toy.item"] = "item_id:token\tentity_id:token\ni1\te1\ni2\te9\ni3\t\ni4\te4\n"
    folder = write_files(tmp_path / "tied" / "toy", toy_files)
    code, _out, err = kgrec(capsys, "load", "recbole", folder, "--store", uri)
    assert code == 2
    assert f"file {folder / 'toy.link'}, line 3, field 'entity_id:token'" in err
    assert f"ties it to 'e9' (file {folder / 'toy.item'}, line 3, column entity_id:token" in err
    assert_same(before, snapshot(uri))


def test_missing_files(loaded, tmp_path, capsys, write_files):
    uri, before = loaded
    triples = write_files(tmp_path, {"t.tsv": "a\tr\tb\n"}) / "t.tsv"
    for args, named in (
        (["kg", tmp_path / "nope.tsv"], f"file {tmp_path / 'nope.tsv'}: no such file"),
        (["table", tmp_path / "nope.csv"], f"file {tmp_path / 'nope.csv'}: no such file"),
        (["recbole", tmp_path / "nope"], f"file {tmp_path / 'nope'}.*: no RecBole atomic files"),
        (["movielens", tmp_path / "nope"], f"file {tmp_path / 'nope'}: not a folder"),
        (["kg", triples, "--links", tmp_path / "l.tsv"], f"file {tmp_path / 'l.tsv'}: no such"),
    ):
        code, _out, err = kgrec(capsys, "load", *args, "--store", uri)
        assert code == 2 and named in err, err
    assert_same(before, snapshot(uri))


def test_duplicate_rows_are_merged_and_counted(loaded, tmp_path, capsys, spoil):
    uri, before = loaded
    folder = spoil(tmp_path, "toy.inter", "u1\ti1\t5\t100\nu1\ti1\t5\t100\n")
    code, out, err = kgrec(capsys, "load", "recbole", folder, "--store", uri)
    assert code == 0, err
    assert (
        "duplicates merged (same key; per field the last non-empty value wins): interactions 2"
        in out
    )
    assert_same(before, snapshot(uri))  # the same graph: duplicates are one row


def test_relation_names_are_stored_verbatim_and_inject_nothing(
    loaded, tmp_path, capsys, write_files, nasty_relations
):
    uri, before = loaded
    lines = ["head,relation,tail"] + [
        f'p1,"{name.replace(chr(34), chr(34) * 2)}",x{i}' for i, name in enumerate(nasty_relations)
    ]
    write_files(tmp_path, {"nasty.csv": "\n".join(lines) + "\n"})
    code, _out, err = kgrec(capsys, "load", "kg", tmp_path / "nasty.csv", "--store", uri)
    assert code == 0, err
    after = snapshot(uri)
    relations = after["knowledge"].loc[after["knowledge"]["head_key"] == "p1", "relation"]
    assert set(nasty_relations) <= set(relations)
    assert len(after["knowledge"]) == len(before["knowledge"]) + len(nasty_relations)
    assert len(after["users"]) == len(before["users"])  # nothing deleted, nothing else written
    assert set(after["entities"]["entity_id"]) == set(before["entities"]["entity_id"]) | {
        f"x{i}" for i in range(len(nasty_relations))
    }


@pytest.mark.neo4j
def test_relation_names_create_no_labels_or_types_in_neo4j(
    neo4j_clean, neo4j_settings, tmp_path, capsys, write_files, nasty_relations
):
    write_files(
        tmp_path, {"t.tsv": "".join(f"h\t{n}\tt\n" for n in nasty_relations if "\n" not in n)}
    )
    code, _out, err = kgrec(capsys, "load", "kg", tmp_path / "t.tsv", "--store", neo4j_settings.uri)
    assert code == 0, err

    def values(query: str) -> set[str]:
        return {
            r[0]
            for r in neo4j_clean.execute_query(query, database_=neo4j_settings.database).records
        }

    labels = values("MATCH (n) UNWIND labels(n) AS label RETURN DISTINCT label")
    assert labels == {"Entity", "KgrecGraphWrite"}  # + the last load's token (session 44)
    assert values("MATCH ()-[r]->() RETURN DISTINCT type(r)") == {"RELATED"}
    tokens = values("CALL db.labels()") | values("CALL db.relationshipTypes()")
    assert not [t for t in tokens for name in nasty_relations if name in t]  # never became a name
    stored = values("MATCH ()-[r:RELATED]->() RETURN r.relation")
    assert stored == {n for n in nasty_relations if "\n" not in n}


def test_several_loads_share_users(store_uri, tmp_path, capsys, write_files, toy_files):
    toy = write_files(tmp_path / "toy", toy_files)
    books = write_files(tmp_path, {"books.csv": "user_id,item_id,rating\nu1,b1,4\nu9,b2,5\n"})
    assert (
        kgrec(
            capsys,
            "load",
            "recbole",
            toy,
            "--domain-rule",
            "ml1m-action-comedy",
            "--store",
            store_uri,
        )[0]
        == 0
    )
    code, _out, err = kgrec(
        capsys, "load", "table", books / "books.csv", "--domain", "books", "--store", store_uri,
        "--new-domain",
    )  # fmt: skip
    assert code == 0, err
    with open_store(store_uri) as store:
        stats = store.stats()
        graph = store.snapshot()
    assert stats["nodes"]["User"] == 4  # u1, u2, u3 and u9: u1 is one user in both loads
    assert set(stats["domains"]) == {"action", "comedy", "books"}
    assert stats["domains"]["books"] == {"items": 2, "users": 2, "interactions": 2}
    u1 = graph.interactions.loc[graph.interactions["user_id"] == "u1", "item_uid"]
    assert set(u1) == {"comedy:i1", "action:i2", "books:b1"}


# (format, files of the first load, of the second, the arguments after the path); the second
# leaves i1's title and colour and u1's age empty, and lacks the column budget
RELOADS = {
    "recbole": (
        {
            "toy.inter": "user_id:token\titem_id:token\nu1\ti1\nu2\ti2\n",
            "toy.item": (
                "item_id:token\tmovie_title:token_seq\tcolour:token\tbudget:float\n"
                "i1\tA\tred\t30\ni2\tB\tblue\t40\n"
            ),
            "toy.user": "user_id:token\tage:token\nu1\t24\nu2\t53\n",
        },
        {
            "toy.inter": "user_id:token\titem_id:token\nu1\ti1\nu2\ti2\n",
            "toy.item": (
                "item_id:token\tmovie_title:token_seq\tcolour:token\ni1\t\t\ni2\tB\tgreen\n"
            ),
            "toy.user": "user_id:token\tage:token\nu1\t\nu2\t53\n",
        },
        [],
    ),
    "table": (
        {"toy.csv": "item_id,title,colour,budget\ni1,A,red,30\ni2,B,blue,40\n"},
        {"toy.csv": "item_id,title,colour\ni1, ,\ni2,B,green\n"},
        ["--kind", "items", "--domain", "toy"],
    ),
}


@pytest.mark.parametrize("fmt", sorted(RELOADS))
def test_a_reload_clears_the_attributes_its_empty_values_leave_only_with_clear_empty(
    store_uri, tmp_path, capsys, write_files, fmt
):
    """A file loaded again, corrected: its empty values leave what the store holds (other
    files may own the attribute), unless --clear-empty says they clear it; a column the file
    lacks (budget) is never touched. Before, nothing could clear a value short of deleting
    the store."""
    first, second, options = RELOADS[fmt]
    path = "toy" if fmt == "recbole" else "toy/toy.csv"
    load = ["load", fmt, tmp_path / "b" / path, *options, "--store", store_uri]
    write_files(tmp_path / "a" / "toy", first)
    code, _out, err = kgrec(
        capsys, "load", fmt, tmp_path / "a" / path, *options, "--store", store_uri
    )
    assert code == 0, err
    before = snapshot(store_uri)
    write_files(tmp_path / "b" / "toy", second)
    code, out, err = kgrec(capsys, *load)
    assert code == 0, err
    assert "--clear-empty" not in out
    after = snapshot(store_uri)
    items = after["items"].set_index("item_id")
    assert items.loc["i1", "title"] == "A" and items.loc["i1", "colour"] == "red"  # kept
    assert items.loc["i2", "colour"] == "green"
    code, out, err = kgrec(capsys, *load, "--clear-empty", "--dry-run")
    assert code == 0, err
    counts = "Item.title 1, Item.colour 1" + (", User.age 1" if fmt == "recbole" else "")
    assert f"--clear-empty: empty values that clear the attribute: {counts}\n" in out
    assert_same(after, snapshot(store_uri))
    code, out, err = kgrec(capsys, *load, "--clear-empty")
    assert code == 0, err
    cleared = snapshot(store_uri)
    items = cleared["items"].set_index("item_id")
    assert pd.isna(items.loc["i1", "title"]) and pd.isna(items.loc["i1", "colour"])
    assert float(items.loc["i1", "budget"]) == 30  # not a column of the file: kept
    assert (items.loc["i2", "title"], items.loc["i2", "colour"]) == ("B", "green")
    if fmt == "recbole":
        ages = cleared["users"].set_index("user_id")["age"]
        assert pd.isna(ages["u1"]) and ages["u2"] == "53"
    assert len(cleared["items"]) == len(before["items"])


def test_links_without_a_domain_into_a_store_without_the_default_domain(
    loaded, tmp_path, capsys, write_files
):
    """The toy items are in the domain "toy"; the links name them. Before, `load kg --links`
    without --domain made new items default:i1 ... with no interactions, and tied each entity
    to two items; now it is refused before anything is written, and --domain works."""
    uri, before = loaded
    files = write_files(
        tmp_path / "kg",
        {"t.tsv": "e1\tfilm.film.actor\tp9\n", "l.tsv": "i1\te1\ni2\te2\n"},
    )
    args = ["load", "kg", files / "t.tsv", "--links", files / "l.tsv", "--store", uri]
    code, _out, err = kgrec(capsys, *args)
    assert code == 2 and "Traceback" not in err
    assert f"file {files / 'l.tsv'}, field '--domain'" in err and "it holds toy" in err
    assert_same(before, snapshot(uri))
    code, _out, err = kgrec(capsys, *args, "--domain", "toy")
    assert code == 0, err
    with open_store(uri) as store:
        assert set(store.stats()["domains"]) == {"toy"}


def test_links_into_a_domain_the_store_does_not_hold(loaded, tmp_path, capsys, write_files):
    """The toy items are in the domain "toy" (i3 tied to no entity). Before, `load kg --links
    --domain tyo` (a typo) silently made a new item tyo:i3 with no interactions in a new domain;
    now it is refused before anything is written, naming the domains the store holds, and
    --new-domain starts a new domain when that is meant."""
    uri, before = loaded
    files = write_files(
        tmp_path / "kg", {"t.tsv": "e3\tfilm.film.actor\tp9\n", "l.tsv": "i3\te3\n"}
    )
    args = ["load", "kg", files / "t.tsv", "--links", files / "l.tsv", "--store", uri]
    code, _out, err = kgrec(capsys, *args, "--domain", "tyo")
    assert code == 2 and "Traceback" not in err
    assert f"file {files / 'l.tsv'}, field '--domain'" in err
    assert "no item of the domain 'tyo' (it holds toy)" in err and "--new-domain" in err
    assert_same(before, snapshot(uri))
    code, _out, err = kgrec(capsys, *args, "--new-domain")  # which domain? refused
    assert code == 2 and "needs --links FILE and --domain NAME" in err
    assert_same(before, snapshot(uri))
    other = write_files(tmp_path / "kg2", {"t.tsv": "b1\tbook.author\tp9\n", "l.tsv": "b1\tb1\n"})
    code, _out, err = kgrec(
        capsys, "load", "kg", other / "t.tsv", "--links", other / "l.tsv", "--store", uri,
        "--domain", "books", "--new-domain",
    )  # fmt: skip
    assert code == 0, err
    with open_store(uri) as store:
        assert set(store.stats()["domains"]) == {"toy", "books"}


def test_a_table_into_a_domain_the_store_does_not_hold(loaded, tmp_path, capsys, write_files):
    """The toy items are in the domain "toy". Before, `load table --domain tyo` (a typo) into
    that store silently made new items tyo:i1, tyo:i2 in a new domain, where `load kg` refuses
    such a domain; now the table is refused as the links are (the dry run with --store too),
    nothing written, naming the domains the store holds, and --new-domain starts a domain."""
    uri, before = loaded
    files = write_files(
        tmp_path / "t",
        {"inter.csv": "user_id,item_id,rating\nu1,i1,4\nu2,i2,3\n", "items.csv": "item_id\ni1\n"},
    )
    inter = ["load", "table", files / "inter.csv", "--store", uri]
    for args in (
        [*inter, "--domain", "tyo"],
        [*inter, "--domain", "tyo", "--dry-run"],
        [
            "load",
            "table",
            files / "items.csv",
            "--kind",
            "items",
            "--store",
            uri,
            "--domain",
            "tyo",
        ],
    ):
        code, _out, err = kgrec(capsys, *args)
        assert code == 2 and "Traceback" not in err, err
        assert f"file {args[2]}, field '--domain'" in err
        assert "no item of the domain 'tyo' (it holds toy)" in err and "--new-domain" in err
        assert_same(before, snapshot(uri))
    code, _out, err = kgrec(capsys, *inter)  # without --domain: the domain "default"
    assert code == 2 and f"file {files / 'inter.csv'}, field '--domain'" in err
    assert "without --domain the items go to the domain 'default'" in err
    assert_same(before, snapshot(uri))
    code, _out, err = kgrec(capsys, *inter, "--new-domain")  # which domain? refused
    assert code == 2 and "--new-domain" in err and "needs --domain NAME" in err
    assert_same(before, snapshot(uri))
    code, _out, err = kgrec(capsys, *inter, "--domain", "tyo", "--new-domain", "--dry-run")
    assert code == 0, err
    assert_same(before, snapshot(uri))
    code, _out, err = kgrec(capsys, *inter, "--domain", "toy")  # a domain it holds
    assert code == 0, err
    code, _out, err = kgrec(capsys, *inter, "--domain", "books", "--new-domain")
    assert code == 0, err
    with open_store(uri) as store:
        assert set(store.stats()["domains"]) == {"toy", "books"}


def test_a_table_into_a_domain_the_store_does_not_hold_is_refused_before_it_is_read(
    loaded, tmp_path, capsys, write_files
):
    """With --domain (or without it: the domain default) every item of a table goes to one
    domain, known before the file is read. Before, the refusal of a domain the store does not
    hold came only after the whole file was parsed: a long file took its whole parse to say
    `--domain tyo` is a typo, and a bad value in it was reported first. Now the domain is
    checked before the file is read (the dry run with --store too)."""
    uri, before = loaded
    files = write_files(
        tmp_path / "t", {"inter.csv": "user_id,item_id,rating\nu1,i1,4\nu2,i2,lots\n"}
    )
    inter = ["load", "table", files / "inter.csv", "--store", uri]
    for args in ([*inter, "--domain", "tyo"], [*inter, "--domain", "tyo", "--dry-run"], inter):
        code, _out, err = kgrec(capsys, *args)
        assert code == 2 and f"file {files / 'inter.csv'}, field '--domain'" in err, err
        assert "line 3" not in err and "'lots'" not in err
        assert_same(before, snapshot(uri))
    code, _out, err = kgrec(capsys, *inter, "--domain", "toy")  # a held domain: the value
    assert code == 2 and f"file {files / 'inter.csv'}, line 3, field 'rating'" in err, err


def test_a_table_whose_domain_rule_puts_an_item_in_a_domain_the_store_does_not_hold(
    loaded, tmp_path, capsys, write_files
):
    """The toy items are in the domain "toy". With --domain-rule the items' attributes give
    their domains; before, a domain the store does not hold was refused only after the whole
    load was built, naming no line; now the item the rule puts there is refused as the rule
    places it, naming its file, line and attribute (the dry run with --store too), nothing
    written, and --new-domain starts the domain."""
    uri, before = loaded
    files = write_files(
        tmp_path / "t", {"items.csv": "item_id,title,genres\ni7,Seven,Toy\nb1,Book,Novel|Toy\n"
                         "b2,Other,Novel\n"}
    )  # fmt: skip
    items = ["load", "table", files / "items.csv", "--kind", "items", "--store", uri]
    rule = ["--domain-rule", "genres:toy=Toy;books=Novel"]
    for args in ([*items, *rule], [*items, *rule, "--dry-run"]):
        code, _out, err = kgrec(capsys, *args)
        assert code == 2 and "Traceback" not in err, err
        assert f"file {files / 'items.csv'}, line 4, field 'genres'" in err, err
        assert "item 'b2' (genres 'Novel') in the domain 'books'" in err
        assert "no item of the domain 'books' (it holds toy)" in err and "--new-domain" in err
        assert_same(before, snapshot(uri))
    code, _out, err = kgrec(capsys, *items, "--domain-rule", "genres:toy=Toy")  # a held domain
    assert code == 0, err
    code, _out, err = kgrec(capsys, *items, *rule, "--new-domain")
    assert code == 0, err
    with open_store(uri) as store:
        assert store.item_domains() == {"books": 1, "toy": 6}  # b1 too, by the held rule


def test_a_table_into_an_empty_store_starts_its_domain(store_uri, tmp_path, capsys, write_files):
    """A store with no items takes a table of any domain without --new-domain."""
    files = write_files(tmp_path / "t", {"inter.csv": "user_id,item_id\nu1,i1\n"})
    code, _out, err = kgrec(
        capsys, "load", "table", files / "inter.csv", "--store", store_uri, "--domain", "books"
    )
    assert code == 0, err
    with open_store(store_uri) as store:
        assert set(store.stats()["domains"]) == {"books"}


def test_a_triple_header_of_other_names_is_refused_nothing_written(
    loaded, capsys, tmp_path, write_files
):
    """Before, a first line ``head_entity relation tail_entity`` (names the loader does not
    read as a header) was loaded as a triple: a relation ``relation`` beside the file's."""
    uri, before = loaded
    files = write_files(
        tmp_path / "mine",
        {"t.tsv": "head_entity\trelation\ttail_entity\ne1\tgenre\tg1\ne2\tgenre\tg1\n"},
    )
    code, _out, err = kgrec(capsys, "load", "kg", files / "t.tsv", "--store", uri)
    assert code == 2 and "Traceback" not in err
    assert (
        f"file {files / 't.tsv'}, line 1, field 'head': the first line ('head_entity', "
        "'relation', 'tail_entity') shares nothing with the others" in err
    )
    assert_same(before, snapshot(uri))


@pytest.fixture
def unknown_header_kg(tmp_path, write_files) -> Path:
    """A folder of a triple file ``t.tsv`` and links ``l.tsv`` whose first line, ``iid eid``,
    is no header the loader knows and names no item of the toy store (its second links i3)."""
    return write_files(
        tmp_path / "kg", {"t.tsv": "e3\tfilm.film.actor\tp9\n", "l.tsv": "iid\teid\ni3\te3\n"}
    )


def test_a_link_file_header_of_unknown_names_is_not_a_link(
    loaded, capsys, caplog, write_files, unknown_header_kg
):
    """Before, a first line ``iid<TAB>eid`` (names the loader does not read as a header) was
    silently loaded as a link: a new item toy:iid tied to the entity eid. Now a first line
    naming an item the store's domain does not hold, while later lines name its items, is
    refused at its file, line and field; other new items are counted in a logged WARNING
    (before: a `warning:` line of the summary on stdout, where the new-domain warning was
    logged), not in the summary."""
    uri, before = loaded
    files = write_files(
        unknown_header_kg,
        {"ok.tsv": "item_id\tentity_id\ni9\te9\ni3\te3\n", "new.tsv": "i8\tp9\ni3\te3\n"},
    )
    args = ["load", "kg", files / "t.tsv", "--store", uri, "--domain", "toy"]
    code, _out, err = kgrec(capsys, *args, "--links", files / "l.tsv")
    assert code == 2 and "Traceback" not in err
    assert f"file {files / 'l.tsv'}, line 1, field 'item_id'" in err
    assert "'iid', which the store does not hold in the domain 'toy'" in err
    assert_same(before, snapshot(uri))
    assert logged(caplog, "WARNING", "loaders.kg") == []  # refused: no warning besides
    code, out, err = kgrec(capsys, *args, "--links", files / "ok.tsv")  # a new item, warned
    assert code == 0, err
    assert logged(caplog, "WARNING", "loaders.kg") == [
        "the links name 1 item the store does not hold in the domain 'toy', each a new item "
        f"(first: file {files / 'ok.tsv'}, line 2, item 'i9')"
    ]
    assert "warning" not in out
    with open_store(uri) as store:
        assert set(store.snapshot().items["uid"]) - set(before["items"]["uid"]) == {"toy:i9"}
    # a new item on the first line, linked to an entity a triple names, is a link
    code, out, err = kgrec(capsys, *args, "--links", files / "new.tsv")
    assert code == 0, err
    with open_store(uri) as store:
        assert "toy:i8" in set(store.snapshot().items["uid"])


def test_a_dry_run_with_a_store_checks_the_links_against_it(loaded, capsys, unknown_header_kg):
    """Before, `load kg --dry-run --store URI` read no store: a links file whose first line is
    a header of unknown names, or a domain the store does not hold, passed the dry run (exit 0)
    and the load was then refused. Now the dry run refuses them as the load does, writing
    nothing; without --store it says that it checked nothing against a store."""
    uri, before = loaded
    files = unknown_header_kg
    args = ["load", "kg", files / "t.tsv", "--links", files / "l.tsv", "--dry-run"]
    code, _out, err = kgrec(capsys, *args, "--store", uri, "--domain", "toy")
    assert code == 2 and "Traceback" not in err
    assert f"file {files / 'l.tsv'}, line 1, field 'item_id'" in err
    code, _out, err = kgrec(capsys, *args, "--store", uri, "--domain", "tyo")
    assert code == 2 and "no item of the domain 'tyo' (it holds toy)" in err
    assert_same(before, snapshot(uri))
    code, out, err = kgrec(capsys, *args, "--domain", "toy")
    assert code == 0, err
    assert "no --store given, so nothing was checked against a store" in out


@pytest.mark.parametrize("fmt", ["recbole", "movielens", "table", "kg"])
def test_the_dry_run_help_says_that_without_store_no_store_is_read(capsys, fmt):
    """A dry run without --store reads no store, not the default one either (the README says
    so, and the dry run's last line). Before, --help said "parse and validate only; write
    nothing" beside a --store whose help names its default, as if that store were checked."""
    with pytest.raises(SystemExit):
        main(["load", fmt, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "without --store no store is read, not even the default" in help_text


def test_a_dry_run_checks_the_store_as_the_load_does(
    store_uri, tmp_path, capsys, monkeypatch, write_files, toy_files
):
    """Before, `load recbole|movielens|table|kg --dry-run --store URI` made none of the checks
    a load makes of the store before it parses: a folder that is no store, or a wrong Neo4j
    password, passed the dry run (exit 0, "nothing written to ...") and the load was refused.
    Now the dry run refuses them as the load does, and leaves the folder as it was."""
    toy = write_files(tmp_path / "toy", toy_files)
    if store_uri.startswith("local:"):
        folder = tmp_path / "store"
        folder.mkdir()
        (folder / "notes.txt").write_text("mine")
        message = f"{folder} is not empty ('notes.txt') and holds no store"
    else:  # two failed logins only: a third would lock the account for a while
        monkeypatch.setenv("NEO4J_PASSWORD", "not-the-password")
        message = "authentication failed"
    args = ["load", "recbole", toy, "--store", store_uri]
    for dry in (["--dry-run"], []):
        code, out, err = kgrec(capsys, *args, *dry)
        assert code == 2 and message in err and "Traceback" not in err, (dry, out, err)
        assert "nothing written" not in out
    if store_uri.startswith("local:"):
        assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
        triples = write_files(tmp_path / "kg", {"t.tsv": "e1\tr\tp1\n"}) / "t.tsv"
        code, _out, err = kgrec(capsys, "load", "kg", triples, "--store", store_uri, "--dry-run")
        assert code == 2 and message in err


def test_a_dry_run_makes_the_checks_of_the_write(loaded, tmp_path, capsys, write_files):
    """Before, `load ... --dry-run --store URI` skipped the checks the store's write makes: an
    entity the store ties to another item, or an item attribute named as the property that
    holds the store's vectors, passed the dry run (exit 0) and the load was refused. Now the
    dry run refuses them with the load's message, and writes nothing (a local store's folder
    keeps its files)."""
    uri, before = loaded
    with open_store(uri) as store:
        store.write_vectors("Item", ["toy:i1"], np.ones((1, 3)), property="embedding")
    files = write_files(
        tmp_path / "in",
        {
            "t.tsv": "e9\tfilm.film.actor\tp1\n",
            "l.tsv": "i3\te1\n",  # e1 is toy:i1 in the store
            "items.csv": "item_id,embedding\ni3,x\n",
        },
    )
    folder = uri.removeprefix("local:")
    listing = sorted(os.listdir(folder)) if uri.startswith("local:") else None
    cases = [
        (
            ["kg", files / "t.tsv", "--links", files / "l.tsv", "--domain", "toy"],
            f"file {files / 'l.tsv'}, line 1, field 'entity_id': entity 'e1' is item 'toy:i1' "
            "in the store, and this load ties it to item 'toy:i3'",
        ),
        (
            ["table", files / "items.csv", "--kind", "items", "--domain", "toy"],
            "the items' attribute 'embedding' names the property that holds the store's Item "
            "vectors",
        ),
    ]
    for args, message in cases:
        for dry in (["--dry-run"], []):
            code, out, err = kgrec(capsys, "load", *args, "--store", uri, *dry)
            assert code == 2 and message in err and "Traceback" not in err, (args, dry, out, err)
            assert "nothing written" not in out
    assert_same(before, snapshot(uri))
    if listing is not None:
        assert sorted(os.listdir(folder)) == listing
    # a load that the write takes passes the dry run, which says what it could not check
    code, out, err = kgrec(capsys, "load", "kg", files / "t.tsv", "--store", uri, "--dry-run")
    assert code == 0, err
    assert f"nothing written to {uri}; the load was checked against it as the write" in out
    assert_same(before, snapshot(uri))


def test_a_dry_run_into_a_new_store_creates_nothing(store_uri, tmp_path, capsys, toy, request):
    """A dry run reads the store only: no folder, lock file or table file for a local store;
    no node, constraint or index in Neo4j (a load applies graph_schema/schema.cypher)."""
    code, _out, err = kgrec(capsys, "load", "recbole", toy, "--store", store_uri, "--dry-run")
    assert code == 0, err
    if store_uri.startswith("local:"):
        assert not (tmp_path / "store").exists()
        return
    driver = request.getfixturevalue("neo4j_clean")
    for query in (
        "MATCH (n) RETURN count(n) AS n",
        "SHOW CONSTRAINTS YIELD name RETURN count(*) AS n",
        "SHOW INDEXES YIELD type WHERE type <> 'LOOKUP' RETURN count(*) AS n",
    ):
        assert driver.execute_query(query).records[0]["n"] == 0, query


def test_a_tie_the_store_refuses_names_the_file_and_line_that_made_it(
    loaded, tmp_path, capsys, write_files
):
    """The toy store ties the entity e1 to the item toy:i1. A load tying e1 to i3 (a link, or
    an item file's entity_id) is refused by the store; before, the error named only the field
    'entity_id', now also the file and line of the row that tied it, as bad input does."""
    uri, before = loaded
    files = write_files(
        tmp_path / "kg",
        {
            "t.tsv": "e1\tfilm.film.actor\tp9\n",
            "l.tsv": "item_id\tentity_id\ni2\te2\ni3\te1\n",
            "items.tsv": "item_id\ttitle\tentity_id\ni2\tGoldenEye\te2\ni3\tSabrina\te1\n",
        },
    )
    tie = "entity 'e1' is item 'toy:i1' in the store, and this load ties it to item 'toy:i3'"
    code, _out, err = kgrec(
        capsys, "load", "kg", files / "t.tsv", "--links", files / "l.tsv", "--domain", "toy",
        "--store", uri,
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert f"file {files / 'l.tsv'}, line 3, field 'entity_id': {tie}" in err
    assert_same(before, snapshot(uri))
    code, _out, err = kgrec(
        capsys, "load", "table", files / "items.tsv", "--kind", "items", "--domain", "toy",
        "--store", uri,
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert f"file {files / 'items.tsv'}, line 3, field 'entity_id': {tie}" in err
    assert_same(before, snapshot(uri))


def test_a_tie_the_store_refuses_names_the_recbole_column_as_its_header_does(
    loaded, tmp_path, capsys, write_files
):
    """The toy store ties e1 to toy:i1; a RecBole link tying e1 to i3 is refused by the store.
    Before, the error named the field 'entity_id', not the header's 'entity_id:token'."""
    uri, before = loaded
    link = "item_id:token\tentity_id:token\ni2\te2\ni3\te1\n"
    folder = write_files(tmp_path / "again" / "toy", {"toy.link": link})
    code, _out, err = kgrec(capsys, "load", "recbole", folder, "--store", uri)
    assert code == 2 and "Traceback" not in err
    assert (
        f"file {folder / 'toy.link'}, line 3, field 'entity_id:token': entity 'e1' is item "
        "'toy:i1' in the store, and this load ties it to item 'toy:i3'"
    ) in err
    assert_same(before, snapshot(uri))


def test_a_load_that_ties_an_item_the_store_ties_to_another_entity_is_refused(
    loaded, tmp_path, capsys, write_files
):
    """The toy store ties the item toy:i1 to the entity e1. A later load tying i1 to e9 (a
    RecBole .link or .item's entity_id, `load kg --links`) is refused, naming the row's file,
    line and column as the header names it, and e1; the store is left as it was. Before, the
    load replaced the tie without a word (exit 0)."""
    uri, before = loaded
    tie = "item 'toy:i1' is entity 'e1' in the store, and this load ties it to entity 'e9'"
    link = write_files(
        tmp_path / "link" / "toy", {"toy.link": "item_id:token\tentity_id:token\ni2\te2\ni1\te9\n"}
    )
    item = write_files(
        tmp_path / "item" / "toy",
        {"toy.item": "item_id:token\tmovie_title:token_seq\tentity_id:token\ni1\tToy\te9\n"},
    )
    files = write_files(
        tmp_path / "kg", {"t.tsv": "e9\tfilm.film.actor\tp9\n", "l.tsv": "i1\te9\n"}
    )
    cases = [
        (["recbole", link], f"file {link / 'toy.link'}, line 3, field 'entity_id:token'"),
        (["recbole", item], f"file {item / 'toy.item'}, line 2, field 'entity_id:token'"),
        (
            ["kg", files / "t.tsv", "--links", files / "l.tsv", "--domain", "toy"],
            f"file {files / 'l.tsv'}, line 1, field 'entity_id'",
        ),
    ]
    for args, where in cases:
        for dry in ([], ["--dry-run"]):
            code, out, err = kgrec(capsys, "load", *args, "--store", uri, *dry)
            assert code == 2 and "Traceback" not in err, (args, dry, out, err)
            assert f"{where}: {tie}" in err, (args, dry, err)
            assert_same(before, snapshot(uri))
    # the same tie again changes nothing
    files = write_files(
        tmp_path / "same", {"t.tsv": "e1\tfilm.film.actor\tp1\n", "l.tsv": "i1\te1\n"}
    )
    code, _out, err = kgrec(
        capsys, "load", "kg", files / "t.tsv", "--links", files / "l.tsv", "--domain", "toy",
        "--store", uri,
    )  # fmt: skip
    assert code == 0, err
    assert_same(before, snapshot(uri))


@pytest.mark.parametrize("domain", [[], ["--domain", "movies"]])
def test_links_into_an_empty_store_start_their_domain(
    store_uri, tmp_path, capsys, write_files, domain
):
    # before, without --domain: "no store at ..." for a new local store (the check read stats)
    files = write_files(tmp_path / "kg", {"t.tsv": "e1\tr\tp9\n", "l.tsv": "i1\te1\n"})
    args = ["load", "kg", files / "t.tsv", "--links", files / "l.tsv", "--store", store_uri]
    code, _out, err = kgrec(capsys, *args, *domain)
    assert code == 0, err
    code, _out, err = kgrec(capsys, *args, *domain)  # again: the same graph
    assert code == 0, err
    with open_store(store_uri) as store:
        assert set(store.stats()["domains"]) == {domain[-1] if domain else "default"}


def test_summary_and_dry_run(tmp_path, capsys, monkeypatch, write_files, toy_files):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEO4J_URI", raising=False)
    toy = write_files(tmp_path / "toy", toy_files)
    code, out, err = kgrec(
        capsys, "load", "recbole", toy, "--domain-rule", "ml1m-action-comedy", "--dry-run"
    )
    assert code == 0, err
    assert "items per domain: action 1, comedy 2" in out
    assert "left out by the domain rule: interactions 1, items 1, knowledge 1, links 1" in out
    assert "nothing written" in out and not (tmp_path / "kgrec-store").exists()
    code, out, err = kgrec(capsys, "load", "recbole", toy)
    assert code == 0, err
    assert (tmp_path / "kgrec-store" / "manifest.json").is_file()  # the default store


def test_bad_options(tmp_path, capsys, write_files, toy_files):
    toy = write_files(tmp_path / "toy", toy_files)
    code, _out, err = kgrec(capsys, "load", "recbole", toy, "--domain-rule", "nope", "--dry-run")
    assert code == 2 and "no domain rule named 'nope'" in err
    with pytest.raises(SystemExit):
        main(["load", "recbole", str(toy), "--domain", "a", "--domain-rule", "ml1m-action-comedy"])


@pytest.mark.parametrize("option", [["--domain-rule", "ml1m-action-comedy"], ["--domain", "a"]])
def test_a_users_table_with_a_domain_is_refused(tmp_path, capsys, option):
    # before: "the domain rule needs the item attribute 'genres'" (a rule) or silently ignored
    users = tmp_path / "users.csv"
    users.write_text("user_id,age\nu1,30\n")
    argv = ["load", "table", users, "--kind", "users", *option, "--dry-run"]
    code, _out, err = kgrec(capsys, *argv)
    assert code == 2 and "a domain places items" in err and option[0] in err


@pytest.mark.parametrize(
    "kind, option, said",
    [
        ("users", ["--title-col", "t"], "a table of users reads no --title-col"),
        ("interactions", ["--genres-col", "g"], "a table of interactions reads no --genres-col"),
        ("users", ["--item-col", "x"], "a table of users reads no --item-col"),
        # before: a traceback (ValueError: No objects to concatenate), exit 1
        ("items", ["--user-links", "links.csv"], "a table of items reads no --user-links"),
        # before: "--clear-empty: empty values that clear the attribute: none", exit 0
        ("interactions", ["--clear-empty"], "a table of interactions has none"),
        # before: not refused, '|' being the default, which the refusal took for none given
        ("users", ["--genres-sep", "|"], "a table of users reads no --genres-sep"),
        ("interactions", ["--genres-sep", "|"], "a table of interactions reads no --genres-sep"),
        ("entities", ["--genres-sep", "|"], "a table of entities gives entities their names"),
    ],
)
def test_a_table_refuses_the_options_its_kind_does_not_read(
    tmp_path, capsys, write_files, kind, option, said
):
    """`load table` refuses an option its kind does not read, naming it, on a dry run and
    into a store alike, and writes nothing; before, it was ignored without a word."""
    files = write_files(
        tmp_path / "files",
        {
            "t.csv": "user_id,item_id,t,g,x\nu1,i1,Toy,Comedy,1\n",
            "links.csv": "user_id,same_as\nu2,u1\n",
        },
    )
    option = [str(files / a) if a == "links.csv" else a for a in option]
    store = tmp_path / "store"
    for extra in (["--dry-run"], ["--store", f"local:{store}"]):
        argv = ["load", "table", files / "t.csv", "--kind", kind, *option, *extra]
        code, _out, err = kgrec(capsys, *argv)
        assert code == 2 and f"file {files / 't.csv'}, field '{option[0]}'" in err, err
        assert said in err and "Traceback" not in err
        assert not store.exists() or not any(store.iterdir())


@pytest.mark.parametrize("extra", [["--dry-run"], ["--new-domain", "--store", "local:{store}"]])
def test_an_interactions_table_with_a_domain_rule_is_refused_before_it_is_read(
    tmp_path, capsys, extra
):
    # before: the whole file was read (a bad value in it reported first), then "the domain
    # rule needs the item attribute 'genres'": an interactions table keeps no item column
    inter = tmp_path / "inter.csv"
    inter.write_text("user_id,item_id,rating,genres\nu1,i1,4,Toy\nu2,i2,lots,Toy\n")
    store = tmp_path / "store"
    extra = [a.format(store=store) for a in extra]
    argv = ["load", "table", inter, "--domain-rule", "genres:toy=Toy", *extra]
    code, _out, err = kgrec(capsys, *argv)
    assert code == 2 and f"file {inter}, field '--domain-rule'" in err, err
    assert "a table of interactions has none" in err and "--kind items" in err
    assert "--domain NAME" in err and "line 3" not in err
    assert not store.exists() or not any(store.iterdir())


def test_a_table_naming_items_the_store_does_not_hold_is_warned(
    loaded, tmp_path, capsys, caplog, write_files
):
    """Before, `load table --kind items|interactions --domain toy` naming items the store does
    not hold in the domain toy made them new untitled items without a word, where `load kg
    --links` counts such items in a warning. Now the table load (and its dry run with --store)
    counts them per domain in a logged WARNING (before this, a `warning:` line of the summary
    on stdout), naming the first row and other ids; a table of a domain the store holds no item
    of starts it without a warning, and so do items with titles (late items)."""
    uri, before = loaded
    files = write_files(
        tmp_path / "t",
        {
            "items.csv": "item_id,year\ni1,1995\ni9,2001\ni8,2002\n",
            "inter.csv": "user_id,item_id,rating\nu1,i2,4\nu9,i7,3\n",
        },
    )
    items = ["load", "table", files / "items.csv", "--kind", "items", "--store", uri]
    warning = (
        "the items file names 2 items the store does not hold in the domain 'toy', each a new "
        f"item without a title (first: file {files / 'items.csv'}, line 3, item 'i9'; others "
        "'i8')"
    )
    for dry in (["--dry-run"], []):
        caplog.clear()
        code, out, err = kgrec(capsys, *items, "--domain", "toy", *dry)
        assert code == 0, err
        assert logged(caplog, "WARNING", "loaders.table") == [warning]
        assert "warning" not in out  # the summary counts what rules changed, no more
        if dry:
            assert_same(before, snapshot(uri))
    caplog.clear()
    code, out, err = kgrec(
        capsys, "load", "table", files / "inter.csv", "--store", uri, "--domain", "toy"
    )
    assert code == 0, err
    assert logged(caplog, "WARNING", "loaders.table") == [
        "the interactions name 1 item the store does not hold in the domain 'toy', each a new "
        f"item without a title (first: file {files / 'inter.csv'}, line 3, item 'i7')"
    ]
    caplog.clear()
    code, out, err = kgrec(capsys, *items, "--domain", "drama", "--new-domain")  # no warning
    assert code == 0, err
    assert logged(caplog, "WARNING", "loaders.table") == []
    # new items with titles: late items, the way to add items to a domain; no warning
    titled = write_files(tmp_path / "late", {"late.csv": "item_id,title\ni6,Heat\n"})
    code, out, err = kgrec(
        capsys, "load", "table", titled / "late.csv", "--kind", "items", "--store", uri,
        "--domain", "toy",
    )  # fmt: skip
    assert code == 0, err
    assert logged(caplog, "WARNING", "loaders.table") == []
    with open_store(uri) as store:
        assert {"toy:i7", "toy:i8", "toy:i9", "drama:i1"} <= set(store.snapshot().items["uid"])


def logged(caplog, level: str, logger: str = "kgrec.commands.load") -> list[str]:
    """The messages `kgrec load` (or ``logger``: a loader's) logged at ``level``."""
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelname == level]


def test_a_new_domain_none_of_whose_users_the_store_holds_is_warned(
    loaded, tmp_path, capsys, caplog, write_files
):
    """The toy store holds the domain toy and the users u1, u2, u3. Before, a load that started
    a new domain whose interactions name none of them (the same people under prefixed ids, or
    other people) said nothing, though no user then joins the domains; now every loader, and
    the dry run with --store, logs a WARNING naming the domain, the file, how many users and a
    few ids of each side. A load sharing a user, or joining its ids to the store's with
    --user-links, gets none."""
    uri, before = loaded
    files = write_files(
        tmp_path / "t",
        {
            "books.csv": "user_id,item_id\nb-u1,b1\nb-u2,b2\nb-u2,b1\n",
            "shared.csv": "user_id,item_id\nb-u9,b1\nu2,b3\n",
            "links.csv": "user_id,same_as\nb-u1,u1\n",
        },
    )
    caplog.set_level("INFO", logger="kgrec.commands.load")
    books = ["load", "table", files / "books.csv", "--new-domain", "--store", uri]
    warning = (
        f"the interactions of the new domain 'books' (file {files / 'books.csv'}) name 2 users, "
        "none of whom the store holds (this load's: 'b-u1', 'b-u2'; the store's: 'u1', 'u2', "
        "'u3'): no user joins the new domain 'books' to toy, so cross-domain models transfer "
        "between them through the knowledge graph alone, if it links them; if these are the "
        "same people under other ids, join them with --user-links FILE"
    )
    code, _out, err = kgrec(capsys, *books, "--domain", "books", "--dry-run")
    assert code == 0, err
    assert logged(caplog, "WARNING") == [warning]
    assert_same(before, snapshot(uri))
    for args in (
        [*books, "--domain", "books", "--user-links", files / "links.csv", "--dry-run"],
        ["load", "table", files / "shared.csv", "--domain", "books", "--new-domain", "--store",
         uri, "--dry-run"],
        # a domain the store holds: nothing new
        ["load", "table", files / "books.csv", "--domain", "toy", "--store", uri, "--dry-run"],
    ):  # fmt: skip
        caplog.clear()
        code, _out, err = kgrec(capsys, *args)
        assert code == 0, err
        assert logged(caplog, "WARNING") == [], args
    caplog.clear()
    code, _out, err = kgrec(capsys, *books, "--domain", "books")
    assert code == 0, err
    assert logged(caplog, "WARNING") == [warning]
    shop = write_files(
        tmp_path / "shop",
        {"shop.inter": "user_id:token\titem_id:token\ns1\ti1\n"},  # the domain shop
    )
    films = write_files(tmp_path / "films", {"u.data": "s1\t10\t5\t881250949\n"})
    for args, domain, file in (
        (["load", "recbole", shop], "'shop'", shop / "shop.inter"),
        (["load", "movielens", films, "--domain", "films"], "'films'", films / "u.data"),
    ):
        caplog.clear()
        code, _out, err = kgrec(capsys, *args, "--dry-run", "--store", uri)
        assert code == 0, err
        (message,) = logged(caplog, "WARNING")
        assert message.startswith(
            f"the interactions of the new domain {domain} (file {file}) name 1 user, none of "
            "whom the store holds (this load's: 's1'; the store's: 'b-u1', 'b-u2', 'u1', ...)"
        )
        assert "to books, toy" in message
    with open_store(uri) as store:
        assert set(store.item_domains()) == {"books", "toy"}  # the dry runs wrote nothing


def test_a_domain_whose_items_came_first_none_of_whose_users_the_store_holds_is_warned(
    loaded, tmp_path, capsys, caplog, write_files
):
    """The toy store holds the domain toy and the users u1, u2, u3. A user's own two-domain
    data goes in as the README loads a table: the items of the new domain first (`--kind items
    --new-domain`), then its interactions. Before, the interactions load was into a domain the
    store held, so a file whose user ids lost their leading zeros (`1` for `0001`, a
    spreadsheet's doing), or the same people under other ids, was loaded without a word, and
    the domains shared no user (found by `kgrec split`, "the domains share too few users");
    now, where the store holds no interaction of that domain yet, the load (and its dry run)
    is warned as a load that starts the domain is. Later interactions of new users into a
    domain with interactions, and a load sharing a user, get none."""
    uri, _before = loaded
    files = write_files(
        tmp_path / "t",
        {
            "books.csv": "item_id,title\nb1,Emma\nb2,Dune\n",
            "ratings.csv": "user_id,item_id\nb-u1,b1\nb-u2,b2\n",
            "shared.csv": "user_id,item_id\nb-u9,b1\nu2,b2\n",
            "more.csv": "user_id,item_id\nb-u7,b1\n",
        },
    )
    caplog.set_level("INFO", logger="kgrec.commands.load")
    books = ["--domain", "books", "--store", uri]
    code, _out, err = kgrec(
        capsys, "load", "table", files / "books.csv", "--kind", "items", "--new-domain", *books
    )
    assert code == 0, err
    assert logged(caplog, "WARNING") == []  # no interactions: nobody to join
    warning = (
        f"the interactions of the domain 'books', the first the store holds of it (file "
        f"{files / 'ratings.csv'}) name 2 users, none of whom the store holds (this load's: "
        "'b-u1', 'b-u2'; the store's: 'u1', 'u2', 'u3'): no user joins the domain 'books' to "
        "toy, so cross-domain models transfer between them through the knowledge graph alone, "
        "if it links them; if these are the same people under other ids, join them with "
        "--user-links FILE"
    )
    for dry in (["--dry-run"], []):
        caplog.clear()
        code, _out, err = kgrec(capsys, "load", "table", files / "ratings.csv", *books, *dry)
        assert code == 0, err
        assert logged(caplog, "INFO") == []  # it starts no domain
        assert logged(caplog, "WARNING") == [warning]
    for name in ("shared.csv", "more.csv"):
        caplog.clear()
        code, _out, err = kgrec(capsys, "load", "table", files / name, *books, "--dry-run")
        assert code == 0, err
        assert logged(caplog, "WARNING") == [], name


def test_a_new_domain_the_loads_own_users_join_to_a_held_one_is_not_warned(
    loaded, tmp_path, capsys, caplog, write_files
):
    """The toy store holds the domain toy and the users u1, u2, u3. A load whose domain rule
    puts items into toy and into a new domain books, all of its users new to the store, where
    n1 has items in both: n1 joins books to toy. Before, the load was warned that no user
    joins them (only the store's users were counted); now its own users who have items of a
    held domain and of the new one count too. A load none of whose users has both is warned."""
    uri, _before = loaded
    item = "item_id:token\tclass:token_seq\ni1\tToy\nb1\tNovel\nb2\tNovel\n"
    joined = write_files(
        tmp_path / "joined" / "mix",
        {"mix.inter": "user_id:token\titem_id:token\nn1\ti1\nn1\tb1\nn2\tb2\n", "mix.item": item},
    )
    apart = write_files(
        tmp_path / "apart" / "mix",
        {"mix.inter": "user_id:token\titem_id:token\nn1\ti1\nn2\tb1\nn2\tb2\n", "mix.item": item},
    )
    caplog.set_level("INFO", logger="kgrec.commands.load")
    rule = ["--domain-rule", "genres:toy=Toy;books=Novel", "--store", uri, "--dry-run"]
    code, _out, err = kgrec(capsys, "load", "recbole", joined, *rule)
    assert code == 0, err
    assert logged(caplog, "INFO") == ["the load starts the new domain 'books'; the store holds toy"]
    assert logged(caplog, "WARNING") == []
    caplog.clear()
    code, _out, err = kgrec(capsys, "load", "recbole", apart, *rule)
    assert code == 0, err
    (message,) = logged(caplog, "WARNING")
    assert message.startswith(
        f"the interactions of the new domain 'books' (file {apart / 'mix.inter'}) name 1 user, "
        "none of whom the store holds (this load's: 'n2'; "
    )


def test_recbole_and_movielens_say_which_new_domain_they_start(
    loaded, tmp_path, capsys, caplog, write_files
):
    """`load table` and `load kg` refuse a domain the store holds no item of unless
    --new-domain; `load recbole` and `load movielens` start one, as a second dataset in its own
    domain is the cross-domain workflow. Before, they did so without a word; now an INFO line
    (stderr) names the new domain and the store's domains, and a load into a domain the store
    holds has none."""
    uri, _before = loaded
    shop = write_files(tmp_path / "shop", {"shop.inter": "user_id:token\titem_id:token\nu1\ti1\n"})
    films = write_files(tmp_path / "films", {"u.data": "u2\t10\t5\t881250949\n"})
    caplog.set_level("INFO", logger="kgrec.commands.load")
    for args, line in (
        (["load", "recbole", shop], "the load starts the new domain 'shop'; the store holds toy"),
        (  # without --domain: the version's (before: `default`, one for every dataset)
            ["load", "movielens", films],
            "the load starts the new domain 'ml-100k'; the store holds shop, toy",
        ),
        (["load", "movielens", films, "--domain", "toy"], None),
        (["load", "recbole", shop], None),
    ):
        caplog.clear()
        code, _out, err = kgrec(capsys, *args, "--store", uri)
        assert code == 0, err
        assert logged(caplog, "INFO") == ([line] if line else []), args
        assert logged(caplog, "WARNING") == []  # u1, u2: users the store holds
    with open_store(uri) as store:
        assert set(store.item_domains()) == {"ml-100k", "shop", "toy"}


def test_the_first_interactions_of_several_held_domains_read_the_store_counts_once(
    tmp_path, caplog, monkeypatch
):
    """A load of the first interactions of two domains whose items the store held (none of
    whose users it holds) warns of each, reading the store's counts once; before, one
    ``store.stats()`` (every count of a Neo4j graph) per domain warned."""
    from graph_schema.tables import GraphTables
    from kgrec.commands.load import _check_new_domains
    from kgrec.store import LocalStore
    from loaders.report import LoadReport

    store = LocalStore(tmp_path / "store")
    items = pd.DataFrame(
        {"uid": ["a:1", "b:1", "c:1"], "item_id": ["1", "1", "1"], "domain": ["a", "b", "c"]}
    )
    store.write(GraphTables(items=items), progress=False)
    calls = []
    stats = store.stats
    monkeypatch.setattr(store, "stats", lambda: calls.append(1) or stats())
    interactions = pd.DataFrame({"user_id": ["x1", "x2"], "item_uid": ["a:1", "b:1"]})
    tables = GraphTables(items=items.iloc[:2], interactions=interactions)
    caplog.set_level("WARNING", logger="kgrec.commands.load")
    _check_new_domains(store, tables, LoadReport(interaction_files=["r.csv"]))
    warned = [r.getMessage() for r in caplog.records]
    assert [m.split(",")[0] for m in warned] == [
        "the interactions of the domain 'a'",
        "the interactions of the domain 'b'",
    ]
    assert len(calls) == 1


def test_an_entities_table_names_the_entities_kgrec_explain_shows(
    loaded, tmp_path, capsys, caplog, write_files
):
    """`load table --kind entities` gives entities their names, which `kgrec explain` prints
    in place of their ids; before, no loader could, and the path read "share the actor p1".
    A name changes nothing else: the triples and the items stay as they were. An entity no
    triple names yet is an entity of its name alone; a name for an entity the store ties to
    an item is not stored (the entity is its item, which goes by its title), with a
    warning. An empty name leaves the stored one; --clear-empty is refused."""
    uri, before = loaded
    explain = ["explain", "u2", "toy:i2", "--store", uri]
    code, out, err = kgrec(capsys, *explain)
    assert code == 0, err
    assert "share the actor p1" in out
    files = write_files(
        tmp_path / "names",
        {
            "names.csv": ("entity_id,name\np1,Tom Hanks\ng1,Comedy\ne1,Toy Story\nx9,Later\n"),
            "again.csv": "entity_id,name\np1,\np2,Rita Wilson\n",
        },
    )
    load = ["load", "table", files / "names.csv", "--kind", "entities", "--store", uri]
    warning = (
        "the load names 1 entity tied to an item, whose name is not stored: an entity tied to "
        "an item is that item, which goes by its title, one kgrec load table --kind items "
        "gives it (entity 'e1' is item 'toy:i1')"
    )
    code, out, err = kgrec(capsys, *load, "--dry-run")
    assert code == 0, err
    assert "entities 4" in out and "nothing written" in out
    assert logged(caplog, "WARNING", "kgrec.store.canonical") == [warning]
    assert_same(before, snapshot(uri))
    caplog.clear()
    code, out, err = kgrec(capsys, *load)
    assert code == 0, err
    assert logged(caplog, "WARNING", "kgrec.store.canonical") == [warning]
    after = snapshot(uri)
    names = after["entities"].set_index("entity_id")["name"]
    assert names.dropna().to_dict() == {"p1": "Tom Hanks", "g1": "Comedy", "x9": "Later"}
    assert set(names.index) == set(before["entities"]["entity_id"]) | {"x9"}
    for name in ("items", "users", "interactions", "knowledge", "domains"):
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)
    code, out, err = kgrec(capsys, *explain)
    assert code == 0, err
    assert "share the actor Tom Hanks" in out and "p1" not in out
    code, out, err = kgrec(
        capsys, "load", "table", files / "again.csv", "--kind", "entities", "--store", uri
    )
    assert code == 0, err
    names = snapshot(uri)["entities"].set_index("entity_id")["name"]
    assert (names["p1"], names["p2"]) == ("Tom Hanks", "Rita Wilson")  # empty: kept
    kept = snapshot(uri)
    code, _out, err = kgrec(
        capsys, "load", "table", files / "again.csv", "--kind", "entities", "--store", uri,
        "--clear-empty",
    )  # fmt: skip
    assert code == 2
    assert f"file {files / 'again.csv'}, field '--clear-empty'" in err
    assert "not an entity's name" in err
    assert_same(kept, snapshot(uri))


def test_an_entities_table_naming_entities_the_store_lacks_is_warned(
    loaded, tmp_path, capsys, caplog, write_files
):
    """The toy store holds the entities p1, p2, g1 and the items' ties e1, e2, e4. Before, a
    table of names whose ids are in another format than the triples' (`wd:p1` for `p1`) loaded
    without a word, naming entities no triple reaches; now the load warns, on a dry run with
    --store too, counting them with a few of its ids and of the store's, more softly where
    only some are missing. It still loads them (names may come before the triples)."""
    uri, before = loaded
    files = write_files(
        tmp_path / "names",
        {
            "wrong.csv": "entity_id,name\nwd:p1,Tom Hanks\nwd:g1,Comedy\nwd:p2,Rita Wilson\n",
            "some.csv": "entity_id,name\np1,Tom Hanks\ne1,Toy Story\nzz9,Nobody\nzz8,\n",
            "held.csv": "entity_id,name\np1,Tom Hanks\ng1,Comedy\n",
        },
    )
    stored = "the store's entities: 'e1', 'e2', 'e4', ..."
    none = (
        f"none of the 3 entities the file {files / 'wrong.csv'} names is in the store ('wd:g1', "
        f"'wd:p1', 'wd:p2'; {stored}): each becomes an entity of its name alone, which no "
        "triple reaches; check the ids' format against the triples' (a prefix, another "
        "spelling: Q42 for wd:Q42, m.0abc for /m/0abc)"
    )
    some = (  # e1 is held, tied to an item; zz8 has no name
        f"1 of the 3 entities the file {files / 'some.csv'} names is not in the store ('zz9'; "
        f"{stored}): each becomes an entity of its name alone, which no triple reaches (a typo "
        "in an id?)"
    )
    load = ["load", "table", "--kind", "entities", "--store", uri]
    for name, warning in (("wrong.csv", none), ("some.csv", some), ("held.csv", None)):
        for dry in (["--dry-run"], []):
            caplog.clear()
            code, _out, err = kgrec(capsys, *load, files / name, *dry)
            assert code == 0, err
            assert logged(caplog, "WARNING") == ([warning] if warning else []), (name, dry)
    names = snapshot(uri)["entities"].set_index("entity_id")["name"]
    assert (names["wd:p1"], names["zz9"], names["p1"]) == ("Tom Hanks", "Nobody", "Tom Hanks")
    after = snapshot(uri)
    for name in ("items", "users", "interactions", "knowledge"):
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)


def test_names_before_the_triples_are_not_warned(tmp_path, capsys, caplog, write_files):
    """A store that holds no entity yet takes names without a warning (names may come before
    the triples); once it holds the triples, a name for an entity it lacks is warned."""
    files = write_files(
        tmp_path / "files",
        {
            "first.csv": "entity_id,name\nwd:Q1,Universe\n",
            "later.csv": "entity_id,name\nQ2,Earth\n",
            "kg.tsv": "wd:Q1\tp\twd:Q2\n",
        },
    )
    uri = f"local:{tmp_path / 'store'}"
    names = ["load", "table", "--kind", "entities", "--store", uri]
    code, _out, err = kgrec(capsys, *names, files / "first.csv")
    assert code == 0, err
    assert logged(caplog, "WARNING") == []
    code, _out, err = kgrec(capsys, "load", "kg", files / "kg.tsv", "--store", uri)
    assert code == 0, err
    code, _out, err = kgrec(capsys, *names, files / "later.csv", "--dry-run")
    assert code == 0, err
    assert logged(caplog, "WARNING") == [
        f"the entity the file {files / 'later.csv'} names is not in the store ('Q2'; the "
        "store's entities: 'wd:Q1', 'wd:Q2'): each becomes an entity of its name alone, which "
        "no triple reaches; check the ids' format against the triples' (a prefix, another "
        "spelling: Q42 for wd:Q42, m.0abc for /m/0abc)"
    ]


def test_names_in_another_format_loaded_before_the_triples_are_warned_when_loaded_again(
    tmp_path, capsys, caplog, write_files
):
    """Names loaded before the triples, their ids in another format (Q1 where the triples say
    wd:Q1), are entities of a name alone, which no triple reaches: the store does not count
    them as held, so the same file loaded again once the triples are in is warned, naming the
    triples' entities (not the names' own). Before, the first load's Entity nodes counted as
    held, and the second load was not warned."""
    files = write_files(
        tmp_path / "files",
        {"names.csv": "entity_id,name\nQ1,Universe\nQ2,Earth\n", "kg.tsv": "wd:Q1\tp\twd:Q2\n"},
    )
    uri = f"local:{tmp_path / 'store'}"
    names = ["load", "table", files / "names.csv", "--kind", "entities", "--store", uri]
    code, _out, err = kgrec(capsys, *names)
    assert code == 0, err
    assert logged(caplog, "WARNING") == []  # names may come first
    code, _out, err = kgrec(capsys, "load", "kg", files / "kg.tsv", "--store", uri)
    assert code == 0, err
    for dry in (["--dry-run"], []):
        caplog.clear()
        code, _out, err = kgrec(capsys, *names, *dry)
        assert code == 0, err
        assert logged(caplog, "WARNING") == [
            f"none of the 2 entities the file {files / 'names.csv'} names is in the store ('Q1', "
            "'Q2'; the store's entities: 'wd:Q1', 'wd:Q2'): each becomes an entity of its name "
            "alone, which no triple reaches; check the ids' format against the triples' (a "
            "prefix, another spelling: Q42 for wd:Q42, m.0abc for /m/0abc)"
        ], dry


def test_triples_that_reach_none_of_the_stores_names_are_warned(
    store_uri, tmp_path, capsys, caplog, write_files
):
    """Names loaded before the triples, their ids in another format (Q1 where the triples say
    wd:Q1), are entities of a name alone: the triples' load is warned, on a dry run with
    --store too, naming a few ids of each side, as long as its triples reach none of them;
    once the store's triples reach entities, a later load is not warned of names left alone.
    Before, the triples loaded without a word, and the names stayed on entities no triple
    reaches (the warning of names the store lacks looks at a load of names alone)."""
    files = write_files(
        tmp_path / "files",
        {
            "names.csv": "entity_id,name\nQ1,Universe\nQ2,Earth\n",
            "kg.tsv": "wd:Q1\tpart_of\twd:Q2\n",
            "more.tsv": "wd:Q3\tpart_of\twd:Q1\n",
            "some.tsv": "Q1\tnamed\tQ9\n",
        },
    )
    code, _out, err = kgrec(
        capsys, "load", "table", files / "names.csv", "--kind", "entities", "--store", store_uri
    )
    assert code == 0, err
    assert logged(caplog, "WARNING") == []  # names may come first

    def warning(name: str, theirs: str) -> str:
        return (
            "the store holds 2 entities of a name alone ('Q1', 'Q2'), which no triple reaches, "
            f"and the triples of the file {files / name} name none of them (the load's "
            f"entities: {theirs}): their names stay on entities no triple reaches; check the "
            "ids' format against the triples' (a prefix, another spelling: Q42 for wd:Q42, "
            "m.0abc for /m/0abc), and load the names again under the triples' ids"
        )

    caplog.clear()
    code, _out, err = kgrec(
        capsys, "load", "kg", files / "some.tsv", "--store", store_uri, "--dry-run"
    )
    assert code == 0, err
    assert logged(caplog, "WARNING") == []  # it reaches Q1: the ids' format is the names'
    for dry in (["--dry-run"], []):
        caplog.clear()
        code, _out, err = kgrec(capsys, "load", "kg", files / "kg.tsv", "--store", store_uri, *dry)
        assert code == 0, err
        assert logged(caplog, "WARNING") == [warning("kg.tsv", "'wd:Q1', 'wd:Q2'")], dry
    # the store's triples reach entities now: names left alone are warned of once, not again
    caplog.clear()
    code, _out, err = kgrec(capsys, "load", "kg", files / "more.tsv", "--store", store_uri)
    assert code == 0, err
    assert logged(caplog, "WARNING") == []
    names = snapshot(store_uri)["entities"].set_index("entity_id")["name"]
    assert (names["Q1"], names["Q2"]) == ("Universe", "Earth")


def test_names_an_items_file_ties_to_items_later_are_warned_as_they_go(
    tmp_path, capsys, caplog, write_files
):
    """An entity an items file ties to an item is that item, which goes by its title: a name
    an earlier load gave it goes with its Entity node. The items load warns, naming the
    entity, its name and its item, on --dry-run --store too. Before, the name went without a
    word (the README said so)."""
    files = write_files(
        tmp_path / "files",
        {
            "names.csv": "entity_id,name\nQ1,Universe\nQ2,Earth\n",
            "kg.tsv": "Q1\tp\tQ2\n",
            "items.csv": "item_id,title,entity_id\ni1,The Universe,Q1\n",
        },
    )
    uri = f"local:{tmp_path / 'store'}"
    code, _out, err = kgrec(
        capsys, "load", "table", files / "names.csv", "--kind", "entities", "--store", uri
    )
    assert code == 0, err
    code, _out, err = kgrec(capsys, "load", "kg", files / "kg.tsv", "--store", uri)
    assert code == 0, err
    items = ["load", "table", files / "items.csv", "--kind", "items", "--domain", "toy"]
    for dry in (["--dry-run"], []):
        caplog.clear()
        code, _out, err = kgrec(capsys, *items, "--store", uri, *dry)
        assert code == 0, err
        assert logged(caplog, "WARNING") == []  # nor of kgrec load itself
        assert logged(caplog, "WARNING", "kgrec.store.canonical") == [
            "the load ties 1 entity the store holds a name of to an item, whose name goes with "
            "its Entity node: an entity tied to an item is that item, which goes by its title, "
            "one kgrec load table --kind items gives it (entity 'Q1', named 'Universe', is "
            "item 'toy:i1')"
        ], dry
    graph = snapshot(uri)
    assert graph["entities"].set_index("entity_id")["name"].to_dict() == {"Q2": "Earth"}
    assert graph["items"].set_index("uid")["title"].to_dict() == {"toy:i1": "The Universe"}


@pytest.mark.parametrize(
    "option",
    [
        ["--domain", "toy"],
        ["--domain-rule", "ml1m-action-comedy"],
        ["--title-col", "name"],
        ["--user-links", "links.csv"],
        ["--new-domain", "--domain", "toy"],
    ],
)
def test_an_entities_table_refuses_the_options_of_items(tmp_path, capsys, option):
    names = tmp_path / "names.csv"
    names.write_text("entity_id,name\nQ1,Universe\n")
    store = tmp_path / "store"
    argv = ["load", "table", names, "--kind", "entities", *option, "--store", f"local:{store}"]
    code, _out, err = kgrec(capsys, *argv)
    assert code == 2 and f"field '{option[0]}'" in err, err
    assert not store.exists() or not any(store.iterdir())
