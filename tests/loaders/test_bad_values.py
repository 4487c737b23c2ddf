"""Values that used to load silently (issue 15, point 6; `--encoding`, point 7): each is now an
error naming file, line and field (exit code 2 through the CLI) or a documented rule with a
warning counted in the load summary."""

from __future__ import annotations

import decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kgrec.cli import main
from kgrec.errors import InputError
from loaders import LoadReport, movielens, parse_rule, recbole, table


def kgrec(capsys, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def interactions_csv(write_files):
    """``interactions_csv(folder, rows, name)``: a CSV of interactions, ``rows`` below a header."""

    def write(tmp_path, rows: str, name: str = "r.csv"):
        write_files(tmp_path, {name: "user_id,item_id,rating,timestamp\n" + rows})
        return tmp_path / name

    return write


@pytest.mark.parametrize(
    ("rows", "line", "field", "message"),
    [
        ("a,p1,4,1000000000\nb,p1,-1,1000000000\n", 3, "rating", "rating -1.0 is out of range"),
        ("a,p1,1e308,1000000000\n", 2, "rating", "out of range"),
        ("a,p1,4,1000000000\nb,p1,4,1e23\n", 3, "timestamp", r"timestamp 1e\+23 is out of range"),
        ("a,p1,4,-3000000000\n", 2, "timestamp", "from 1900 to 2200"),
    ],
    ids=["negative rating", "rating 1e308", "timestamp 1e23", "timestamp before 1900"],
)
def test_out_of_range_values_name_file_line_and_field(
    tmp_path, rows, line, field, message, interactions_csv
):
    path = interactions_csv(tmp_path, rows)
    with pytest.raises(InputError, match=message) as caught:
        table.load(path, kind="interactions", domain="shop")
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), line, field)


def test_out_of_range_names_the_mapped_column(tmp_path, write_files):
    write_files(tmp_path, {"r.csv": "member,product,stars\na,p1,-2\n"})
    with pytest.raises(InputError, match="out of range") as caught:
        table.load(
            tmp_path / "r.csv", kind="interactions", user_col="member", item_col="product",
            rating_col="stars",
        )  # fmt: skip
    assert (caught.value.line, caught.value.field) == (2, "stars")


def test_recbole_and_movielens_check_the_same_bounds(tmp_path, spoil, write_files):
    folder = spoil(tmp_path, "toy.inter", "u4\ti1\t-5\t105\n")
    with pytest.raises(InputError, match="out of range") as caught:
        recbole.load(folder)
    # the column as the header has it (before: the internal 'rating')
    assert (caught.value.line, caught.value.field) == (7, "rating:float")
    ml = write_files(tmp_path / "ml", {"u.data": "1\t1\t5\t881250949\n2\t1\t3\t1e23\n"})
    with pytest.raises(InputError, match="out of range") as caught:
        movielens.load(ml)
    assert (caught.value.file, caught.value.line, caught.value.field) == (
        str(ml / "u.data"),
        2,
        "timestamp",
    )


def test_millisecond_timestamps_are_converted_with_a_counted_warning(
    tmp_path, capsys, interactions_csv
):
    path = interactions_csv(tmp_path, "a,p1,4,1577836800000\nb,p1,3,1577923200500\nc,p2,1,\n")
    report = LoadReport()
    graph = table.load(path, kind="interactions", domain="shop", report=report)
    assert graph.interactions["timestamp"].tolist()[:2] == [1577836800.0, 1577923200.5]
    assert pd.isna(graph.interactions["timestamp"].iloc[2])
    [(what, count)] = report.warnings.items()
    assert "milliseconds" in what and count == 2
    assert "warning: timestamps in milliseconds, divided by 1000" in report.summary()
    code, out, err = kgrec(capsys, "load", "table", path, "--domain", "shop", "--dry-run")
    assert code == 0, err
    assert "milliseconds" in out and ": 2" in out


def test_mixed_seconds_and_milliseconds_are_an_error(tmp_path, interactions_csv):
    path = interactions_csv(tmp_path, "a,p1,4,1577836800\nb,p1,3,1577923200500\n")
    with pytest.raises(InputError, match="out of range") as caught:
        table.load(path, kind="interactions")
    assert (caught.value.line, caught.value.field) == (3, "timestamp")


@pytest.mark.parametrize(
    "value", [{"studio": "Pixar"}, decimal.Decimal("1.5"), pd.Timestamp("2020-01-01")]
)
def test_an_attribute_value_that_no_store_can_hold_is_refused(tmp_path, value):
    # before the fix the local store kept such values, and Neo4j failed half-way through the
    # write (or stored a date object the local store did not give back)
    path = tmp_path / "items.parquet"
    pd.DataFrame({"item_id": ["m1", "m2"], "extra": [None, value]}).to_parquet(path)
    with pytest.raises(InputError, match="must be text, a number") as caught:
        table.load(path, kind="items", domain="films")
    assert (caught.value.line, caught.value.field) == (2, "extra")


@pytest.mark.parametrize(
    "column",
    [
        pa.array([1, 2**64 - 1], pa.uint64()),
        pa.array([[1], [2, 2**63]], pa.list_(pa.uint64())),
    ],
)
def test_an_integer_attribute_beyond_64_bits_is_refused(tmp_path, capsys, column):
    # before the fix the local store kept it, and Neo4j's driver refused to send it half-way
    # through the write (an OverflowError traceback, the chunks before it committed)
    path = tmp_path / "items.parquet"
    pq.write_table(pa.table({"item_id": ["m1", "m2"], "extra": column}), path)
    with pytest.raises(InputError, match="64 bits") as caught:
        table.load(path, kind="items", domain="films")
    assert (caught.value.line, caught.value.field) == (2, "extra")
    code, _out, err = kgrec(
        capsys, "load", "table", path, "--kind", "items", "--store", f"local:{tmp_path / 's'}"
    )
    assert code == 2 and "64 bits" in err and not (tmp_path / "s").exists()


def test_a_categorical_text_attribute_is_text(tmp_path):
    path = tmp_path / "items.parquet"
    studio = pd.Categorical(["Pixar", None])
    pd.DataFrame({"item_id": ["m1", "m2"], "studio": studio}).to_parquet(path)
    graph = table.load(path, kind="items", domain="films")
    assert graph.items.set_index("item_id")["studio"].tolist()[0] == "Pixar"


def test_parquet_list_genres_are_read_as_lists(tmp_path):
    path = tmp_path / "items.parquet"
    pd.DataFrame(
        {"item_id": ["m1", "m2", "m3"], "genres": [["Drama", "Comedy"], [], None]}
    ).to_parquet(path)
    graph = table.load(path, kind="items", domain="films")
    genres = graph.items.set_index("item_id")["genres"]
    assert genres["m1"] == ["Drama", "Comedy"]
    assert list(genres["m2"]) == [] and list(genres["m3"]) == []


def test_empty_genres_separator_is_refused(tmp_path, capsys, write_files):
    write_files(tmp_path, {"items.tsv": "item_id\tgenres\nb1\tSF|Epic\n"})
    with pytest.raises(InputError, match="may not be empty") as caught:
        table.load(tmp_path / "items.tsv", kind="items", genres_sep="")
    assert caught.value.field == "--genres-sep"
    code, _out, err = kgrec(
        capsys, "load", "table", tmp_path / "items.tsv", "--kind", "items", "--genres-sep", "",
        "--dry-run",
    )  # fmt: skip
    assert code == 2 and "--genres-sep" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("sep", "message"), [("", "may not be empty"), ("\n", "line break")], ids=["empty", "newline"]
)
def test_empty_or_line_break_field_separator_is_refused(
    tmp_path, capsys, write_files, sep, message
):
    # before: an empty --sep= fell back to the default separator without a word (a newline:
    # pandas' ValueError traceback)
    write_files(tmp_path, {"r.csv": "user_id,item_id\nu1,i1\n"})
    with pytest.raises(InputError, match=message) as caught:
        table.load(tmp_path / "r.csv", kind="interactions", sep=sep)
    assert (caught.value.file, caught.value.field) == (str(tmp_path / "r.csv"), "--sep")
    store = tmp_path / "store"
    code, _out, err = kgrec(
        capsys, "load", "table", tmp_path / "r.csv", f"--sep={sep}", "--store", f"local:{store}"
    )
    assert code == 2 and "--sep" in err and "Traceback" not in err
    assert not store.exists() or not any(store.iterdir())


@pytest.mark.parametrize(
    ("name", "content", "line", "field"),
    [
        ("r.tsv", "user_id\titem_id\nu1\ti1\nu\x002\ti1\n", 3, "user_id"),
        ("r.csv", 'user_id,item_id\nu1,i1\nu2,"i\x001"\n', 3, "item_id"),
    ],
    ids=["tsv", "quoted csv"],
)
def test_nul_in_an_id_is_refused(tmp_path, name, content, line, field, write_files):
    write_files(tmp_path, {name: content})
    with pytest.raises(InputError, match="NUL") as caught:
        table.load(tmp_path / name, kind="interactions")
    assert (caught.value.line, caught.value.field) == (line, field)


def test_nul_in_recbole_and_parquet_ids_is_refused(tmp_path, spoil):
    with pytest.raises(InputError, match="NUL") as caught:
        recbole.load(spoil(tmp_path, "toy.link", "i3\te\x003\n"))
    assert (caught.value.line, caught.value.field) == (5, "entity_id:token")
    path = tmp_path / "r.parquet"
    pd.DataFrame({"user_id": ["u1", "u2\x00"], "item_id": ["i1", "i1"]}).to_parquet(path)
    with pytest.raises(InputError, match="NUL") as caught:
        table.load(path, kind="interactions")
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), 2, "user_id")


def test_user_link_cycle_is_warned_and_counted(toy, tmp_path, capsys, write_files):
    links = write_files(tmp_path, {"links.tsv": "u1\tu2\nu2\tu1\n"})
    report = LoadReport()
    graph = recbole.load(toy, user_links=links / "links.tsv", report=report)
    assert set(graph.users["user_id"]) == {"u1", "u3"}
    [(what, count)] = report.warnings.items()
    assert "user-link cycles" in what and "'u1', 'u2'" in what and count == 1
    chain = write_files(tmp_path / "chain", {"links.tsv": "u1\tu2\n"})
    quiet = LoadReport()
    recbole.load(toy, user_links=chain / "links.tsv", report=quiet)
    assert not quiet.warnings  # a chain has an end: nothing to warn about
    code, out, err = kgrec(
        capsys, "load", "recbole", toy, "--user-links", links / "links.tsv", "--dry-run"
    )
    assert code == 0, err
    assert "warning: user-link cycles" in out


def test_domain_rule_that_keeps_nothing_is_an_error(toy, tmp_path, capsys):
    rule = parse_rule("genres:books=Novel;music=Jazz")
    with pytest.raises(InputError, match="keeps no item") as caught:
        recbole.load(toy, domain_rule=rule)
    assert caught.value.field == "--domain-rule"
    assert caught.value.file == str(toy.resolve() / "toy.item")
    code, _out, err = kgrec(
        capsys, "load", "recbole", toy, "--domain-rule", "genres:books=Novel", "--store",
        f"local:{tmp_path / 'store'}",
    )  # fmt: skip
    assert code == 2 and "keeps no item" in err
    assert not (tmp_path / "store" / "manifest.json").exists()


@pytest.mark.parametrize(
    ("encoding", "message"),
    [("bogus-enc", "unknown text encoding 'bogus-enc'"), ("utf-16", "is not supported")],
)
def test_bad_encoding_is_a_clear_error(tmp_path, capsys, encoding, message, interactions_csv):
    path = interactions_csv(tmp_path, "a,p1,4,1\n")
    code, _out, err = kgrec(capsys, "load", "table", path, "--encoding", encoding, "--dry-run")
    assert code == 2, err
    assert message in err and "--encoding" in err and "Traceback" not in err


def test_bytes_not_in_the_given_encoding_name_the_line(tmp_path, write_files):
    write_files(tmp_path, {"r.csv": b"user_id,item_id\nu1,i1\nu2,caf\xe9\n"})
    with pytest.raises(InputError, match="not ascii") as caught:
        table.load(tmp_path / "r.csv", kind="interactions", encoding="ascii")
    assert (caught.value.line, caught.value.field) == (3, "item_id")
    graph = table.load(tmp_path / "r.csv", kind="interactions", encoding="latin-1")
    assert "café" in set(graph.interactions["item_uid"].str.split(":").str[1])


def test_toy_dataset_still_loads_without_warnings(toy, toy_files):
    report = LoadReport()
    recbole.load(toy, report=report)
    assert not report.warnings and len(toy_files) == 5


@pytest.mark.parametrize(
    ("name", "content", "line", "field"),
    [
        ("i.csv", "user_id,item_id\nu1,i1\nu2," + "9" * 4000 + "\n", 3, "item_id"),
        ("i.csv", "user_id,item_id\n" + "u" * 4001 + ",i1\n", 2, "user_id"),
        ("t.tsv", "e1\tr\te2\ne1\t" + "r" * 4001 + "\te2\n", 2, "relation"),
        ("t.tsv", "e1\tr\te2\ne3\tr\t" + "é" * 2001 + "\n", 2, "tail"),
    ],
)
def test_an_id_too_long_to_index_is_refused_at_load_naming_the_line(
    tmp_path, capsys, write_files, name, content, line, field
):
    """Every store refuses a key over 4,000 bytes in UTF-8 (Neo4j cannot index more); the
    loader says so at its line, on --dry-run too (before: the dry run passed, and the load
    failed at the store without a file or line)."""
    write_files(tmp_path, {name: content})
    kind = (
        ["table", str(tmp_path / name)] if name.endswith(".csv") else ["kg", str(tmp_path / name)]
    )
    assert main(["load", *kind, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"file {tmp_path / name}, line {line}, field '{field}'" in err
    assert "at most 4,000 (Neo4j cannot index more)" in err


def test_an_id_too_long_to_index_is_named_as_the_file_names_its_column(tmp_path, capsys):
    """The error names the column as the file does (before: the canonical table's, 'uid' for
    an item id of any file, 'relation' for RecBole's relation_id:token)."""
    (tmp_path / "d.inter").write_text(
        "user_id:token\tmovie:token\nu1\t" + "9" * 3999 + "\n", encoding="utf-8"
    )
    (tmp_path / "d.kg").write_text(
        "head_id:token\trelation_id:token\ttail_id:token\ne1\t" + "r" * 4001 + "\te2\n",
        encoding="utf-8",
    )
    table_args = ["table", str(tmp_path / "d.inter"), "--sep", "\t", "--item-col", "movie:token"]
    assert main(["load", *table_args, "--user-col", "user_id:token", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"file {tmp_path / 'd.inter'}, line 2, field 'movie:token'" in err
    assert "an item id whose uid (default:id) is 4,007 bytes" in err
    (tmp_path / "d.inter").write_text("user_id:token\titem_id:token\nu1\ti1\n", encoding="utf-8")
    assert main(["load", "recbole", str(tmp_path / "d"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"file {tmp_path / 'd.kg'}, line 2, field 'relation_id:token'" in err
