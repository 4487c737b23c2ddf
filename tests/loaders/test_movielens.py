"""Raw MovieLens folders (ml-100k and ml-1m layouts), written small by the tests."""

from __future__ import annotations

import gzip
import logging

import pandas as pd
import pytest

from kgrec.cli import main
from kgrec.errors import InputError
from kgrec.store import open_store
from loaders import LoadReport, movielens, named_rule

FLAGS = ["0"] * 19


def flags(*genres: int) -> str:
    values = list(FLAGS)
    for g in genres:
        values[g] = "1"
    return "|".join(values)


# genre indices of ml-100k: 1 Action, 3 Animation, 5 Comedy, 8 Drama, 14 Romance
ML100K = {
    "u.data": (
        "1\t10\t5\t881250949\n1\t20\t3\t881250950\n2\t10\t4\t881250951\n2\t30\t1\t881250952\n"
    ),
    "u.item": (
        f"10|Toy Story (1995)|01-Jan-1995||http://x/toy|{flags(3, 5)}\n"
        f"20|Caf\xe9 Noir (1997)|01-Jan-1997||http://x/cafe|{flags(1, 8)}\n"
        f"30|unknown||||{flags(0)}\n"
    ).encode("latin-1"),
    "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
}
ML1M = {
    "ratings.dat": "1::1::5::978300760\n1::2::3::978302109\n2::2::4::978301968\n2::3::2::97830\n",
    "movies.dat": (
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "2::Heat (1995)::Action|Crime|Thriller\n"
        "3::Am\xe9lie: le fabuleux destin (2001)::Comedy|Romance\n"
    ).encode("latin-1"),
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
}


def test_ml100k_layout(tmp_path, write_files):
    folder = write_files(tmp_path / "ml-100k", ML100K)
    assert movielens.detect(folder) == "ml-100k"
    graph = movielens.load(folder)
    items = graph.items.set_index("uid")
    assert items.loc["ml-100k:20", "title"] == "Café Noir (1997)"  # ISO-8859-1 decoded
    assert items.loc["ml-100k:10", "genres"] == ["Animation", "Comedy"]
    assert items.loc["ml-100k:20", "genres"] == ["Action", "Drama"]
    assert items.loc["ml-100k:30", "genres"] == ["unknown"]
    assert items.loc["ml-100k:10", "year"] == 1995 and pd.isna(items.loc["ml-100k:30", "year"])
    assert items.loc["ml-100k:10", "imdb_url"] == "http://x/toy"
    assert len(graph.interactions) == 4
    assert graph.interactions["rating"].tolist() == [5.0, 3.0, 4.0, 1.0]
    users = graph.users.set_index("user_id")
    assert users.loc["2", "occupation"] == "other" and users.loc["1", "zip_code"] == "85711"


def test_ml100k_genre_names_come_from_u_genre(tmp_path, write_files):
    files = dict(ML100K)
    files["u.genre"] = "".join(f"g{i}|{i}\n" for i in range(19)) + "\n"
    graph = movielens.load(write_files(tmp_path / "ml", files))
    assert graph.items.set_index("item_id").loc["10", "genres"] == ["g3", "g5"]


def test_ml100k_bad_genre_flag_names_line_and_genre(tmp_path, write_files):
    files = dict(ML100K)
    bad = flags(0)[:-1] + "x"
    files["u.item"] = ML100K["u.item"].replace(
        f"unknown||||{flags(0)}".encode(), f"unknown||||{bad}".encode()
    )
    with pytest.raises(InputError, match="0 or 1") as caught:
        movielens.load(write_files(tmp_path / "ml", files))
    assert (caught.value.line, caught.value.field) == (3, "Western")


def test_ml100k_release_date_that_gives_no_year_is_named_as_u_item_names_it(
    tmp_path, write_files, caplog
):
    """u.item has no header: its third field, the release date, gives the year. A date whose
    year is unreadable is warned of by its file, line and field (``release_date``, the
    loader's name of it, which the item keeps as an attribute) and its value as written, not
    as a column ``year`` the file does not have."""
    files = dict(ML100K)
    files["u.item"] = ML100K["u.item"].replace(b"01-Jan-1997", b"01-Jan-19x7")
    folder = write_files(tmp_path / "ml", files)
    with caplog.at_level(logging.WARNING, logger="loaders.files"):
        graph = movielens.load(folder)
    [logged] = [r.getMessage() for r in caplog.records if r.name == "loaders.files"]
    assert logged == (
        f"{folder / 'u.item'}: 1 value(s) of release_date are not years and are left unknown "
        "(first: line 2, '01-Jan-19x7')"
    )
    items = graph.items.set_index("item_id")
    assert pd.isna(items.loc["20", "year"]) and items.loc["10", "year"] == 1995
    assert items.loc["20", "release_date"] == "01-Jan-19x7"


def test_ml100k_empty_fields_are_reported_for_clear_empty(tmp_path, write_files):
    """`kgrec load movielens --clear-empty` clears what the report lists: per field of u.item
    and u.user (as the loader names them; the year with its release date), the nodes whose
    row leaves it empty."""
    files = dict(ML100K)
    files["u.user"] = ML100K["u.user"].replace("|85711", "|")
    report = LoadReport()
    movielens.load(write_files(tmp_path / "ml", files), report=report)
    assert report.empty == {
        "Item": {
            "title": [],
            "release_date": ["ml-100k:30"],
            "imdb_url": ["ml-100k:30"],
            "genres": [],
            "year": ["ml-100k:30"],
        },
        "User": {"age": [], "gender": [], "occupation": [], "zip_code": ["1"]},
    }


def test_ml1m_layout_and_rule(tmp_path, write_files):
    folder = write_files(tmp_path / "ml-1m", ML1M)
    assert movielens.detect(folder) == "ml-1m"
    report = LoadReport()
    graph = movielens.load(folder, domain_rule=named_rule("ml1m-action-comedy"), report=report)
    items = graph.items.set_index("uid")
    assert set(items.index) == {"comedy:1", "action:2", "comedy:3"}
    assert items.loc["comedy:3", "title"] == "Amélie: le fabuleux destin (2001)"
    assert items.loc["comedy:3", "year"] == 2001
    assert items.loc["action:2", "genres"] == ["Action", "Crime", "Thriller"]
    assert len(graph.interactions) == 4 and not report.left_out
    assert graph.users.set_index("user_id").loc["1", "zip_code"] == "48067"


@pytest.mark.parametrize(
    ("files", "name", "uid", "title"),
    [
        (ML100K, "u.item", "ml-100k:20", "Café Noir (1997)"),
        (ML1M, "movies.dat", "ml-1m:3", "Amélie: le fabuleux destin (2001)"),
    ],
    ids=["ml-100k", "ml-1m"],
)
def test_a_file_saved_as_utf8_is_read_as_utf8(
    tmp_path, write_files, caplog, files, name, uid, title
):
    """Before, every raw MovieLens file was read as ISO-8859-1, GroupLens' encoding: a file
    re-saved as UTF-8 gave ``CafÃ© Noir`` in the store without a word. The originals (invalid
    as UTF-8) are still read as ISO-8859-1 (test_ml100k_layout, test_ml1m_layout_and_rule)."""
    utf8 = dict(files)
    utf8[name] = files[name].decode("latin-1").encode("utf-8")
    users = "u.user" if name == "u.item" else "users.dat"
    utf8[users] = files[users].replace("|F|", "|É|").replace("::F::", "::É::").encode("utf-8")
    folder = write_files(tmp_path / "ml", utf8)
    with caplog.at_level(logging.INFO, logger="loaders.movielens"):
        graph = movielens.load(folder)
    assert graph.items.set_index("uid").loc[uid, "title"] == title
    assert graph.users.set_index("user_id").loc["2" if name == "u.item" else "1", "gender"] == "É"
    logged = [r.getMessage() for r in caplog.records if r.name == "loaders.movielens"]
    assert logged == [
        f"{folder / n} is UTF-8 (not ISO-8859-1, as GroupLens ships it): read as UTF-8"
        for n in (name, users)
    ]


@pytest.mark.parametrize(
    ("files", "name", "line", "byte"),
    [(ML100K, "u.item", 3, 4), (ML1M, "movies.dat", 2, 9)],
    ids=["ml-100k", "ml-1m"],
)
def test_a_utf8_file_with_a_stray_byte_is_refused(tmp_path, write_files, files, name, line, byte):
    """Before, read as ISO-8859-1 (not valid UTF-8): every UTF-8 accent became two
    characters (``CafÃ© Noir``) without a word."""
    spoilt = dict(files)
    lines = files[name].decode("latin-1").encode("utf-8").split(b"\n")
    lines[line - 1] = lines[line - 1][: byte - 1] + b"\xe9" + lines[line - 1][byte - 1 :]
    spoilt[name] = b"\n".join(lines)
    folder = write_files(tmp_path / "ml", spoilt)
    with pytest.raises(InputError, match="0xE9, byte") as caught:
        movielens.load(folder)
    error = caught.value
    assert (error.file, error.line) == (str(folder / name), line)
    assert f"(the first: 0xE9, byte {byte} of the line)" in str(error)
    assert "re-save the file as UTF-8 (correcting the stray bytes) or as ISO-8859-1" in str(error)


@pytest.mark.parametrize(("files", "name"), [(ML100K, "u.data"), (ML1M, "movies.dat")])
def test_a_gzipped_file_is_named_so(tmp_path, write_files, files, name):
    """Before, a gzip'd u.data was refused as a UTF-8 file with stray bytes (re-save it as
    UTF-8 or ISO-8859-1), read as ISO-8859-1 where its bytes held no UTF-8 sequence."""
    data = files[name].encode() if isinstance(files[name], str) else files[name]
    folder = write_files(tmp_path / "ml", {**files, name: gzip.compress(data)})
    with pytest.raises(InputError, match="the file is gzip-compressed, not text") as caught:
        movielens.load(folder)
    assert caught.value.file == str(folder / name)


def test_grouplens_titles_in_iso_8859_1_hold_no_utf8(datasets, tmp_path, write_files):
    """The titles of ml-1m (RecBole's .item, UTF-8), written in ISO-8859-1 as GroupLens' own
    movies.dat is: its accents make no valid UTF-8 sequence, so the file is read, as before."""
    items = pd.read_csv(datasets / "ml-1m" / "ml-1m.item", sep="\t", dtype=str)
    title = next(c for c in items.columns if c.startswith("movie_title"))
    movies = "".join(
        f"{i}::{t}::Drama\n" for i, t in zip(items.iloc[:, 0], items[title], strict=True)
    )
    assert not movies.isascii()
    folder = write_files(tmp_path / "ml-1m", {"movies.dat": movies.encode("latin-1")})
    graph = movielens.load(folder)
    assert set(graph.items["title"]) == set(items[title])


def test_ml1m_ratings_only_creates_items(tmp_path, write_files):
    folder = write_files(tmp_path / "ml-1m", {"ratings.dat": ML1M["ratings.dat"]})
    graph = movielens.load(folder, domain="films")
    assert set(graph.items["uid"]) == {"films:1", "films:2", "films:3"}


def test_ml1m_wrong_number_of_fields(tmp_path, write_files):
    files = dict(ML1M)
    files["ratings.dat"] = ML1M["ratings.dat"] + "3::1::5\n"
    with pytest.raises(InputError, match="wrong number of fields") as caught:
        movielens.load(write_files(tmp_path / "ml", files))
    assert caught.value.file.endswith("ratings.dat")
    assert (caught.value.line, caught.value.field) == (5, "timestamp")


def test_not_a_movielens_folder(tmp_path):
    with pytest.raises(InputError, match="no MovieLens files"):
        movielens.load(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        movielens.load(tmp_path / "missing")


def test_kgrec_load_movielens_reads_the_folder_with_the_commands_options(
    tmp_path, write_files, capsys
):
    """`kgrec load movielens` (one command function with `load recbole`) reads the folder
    with its --domain-rule, or its --domain, and writes what it read."""
    folder = write_files(tmp_path / "ml-1m", ML1M)
    for option, uids in (
        (["--domain-rule", "ml1m-action-comedy"], {"comedy:1", "action:2", "comedy:3"}),
        (["--domain", "films"], {"films:1", "films:2", "films:3"}),
    ):
        store = f"local:{tmp_path / option[0].strip('-')}"
        assert main(["load", "movielens", str(folder), *option, "--store", store]) == 0
        with open_store(store) as opened:
            assert set(opened.snapshot().items["uid"]) == uids


def test_two_versions_loaded_without_a_domain_keep_their_own(tmp_path, write_files):
    """Before, both went to the domain ``default``: ml-100k's item 10 and ml-1m's item 10,
    two films, were one item."""
    small = movielens.load(write_files(tmp_path / "a", ML100K))
    large = movielens.load(write_files(tmp_path / "b", ML1M))
    assert set(small.items["domain"]) == {"ml-100k"}
    assert set(large.items["domain"]) == {"ml-1m"}
    assert (
        movielens.load(tmp_path / "a", domain="films").items["uid"].str.startswith("films:").all()
    )
