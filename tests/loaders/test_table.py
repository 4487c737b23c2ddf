"""Generic CSV / TSV / Parquet tables with column mapping."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kgrec.errors import InputError
from loaders import LoadReport, parse_rule, recbole, table


def test_csv_interactions_with_mapped_columns_and_iso_dates(tmp_path, write_files):
    write_files(
        tmp_path,
        {
            "r.csv": (
                "member,product,stars,when,comment\n"
                'a,p1,4.5,2020-01-01T00:00:00Z,"great, really"\n'
                "b,p1,3,2020-01-02,\n"
            )
        },
    )
    report = LoadReport()
    graph = table.load(
        tmp_path / "r.csv",
        kind="interactions",
        user_col="member",
        item_col="product",
        rating_col="stars",
        timestamp_col="when",
        domain="shop",
        report=report,
    )
    assert list(graph.interactions.columns) == ["user_id", "item_uid", "rating", "timestamp"]
    assert graph.interactions["rating"].tolist() == [4.5, 3.0]
    assert graph.interactions["timestamp"].tolist() == [1577836800.0, 1577923200.0]
    assert set(graph.items["uid"]) == {"shop:p1"} and set(graph.users["user_id"]) == {"a", "b"}


def test_tsv_items_keep_attributes_and_split_genres(tmp_path, write_files):
    write_files(
        tmp_path,
        {"items.tsv": "item_id\ttitle\tyear\tgenres\tpages\nb1\tDune\t1965\tSF|Epic\t412\n"},
    )
    graph = table.load(tmp_path / "items.tsv", kind="items", domain="books")
    item = graph.items.set_index("uid").loc["books:b1"]
    assert (item["title"], item["year"], item["genres"], item["pages"]) == (
        "Dune",
        1965,
        ["SF", "Epic"],
        "412",
    )
    assert graph.interactions.empty and graph.users.empty


def test_parquet_users_and_row_numbers(tmp_path):
    path = tmp_path / "users.parquet"
    pd.DataFrame({"user_id": [1, 2, None], "age": [30, 40, 50]}).to_parquet(path)
    with pytest.raises(InputError, match="empty") as caught:
        table.load(path, kind="users")
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), 3, "user_id")
    pd.DataFrame({"user_id": [1, 2], "age": [30, 40]}).to_parquet(path)
    graph = table.load(path, kind="users")
    assert graph.users["user_id"].tolist() == ["1", "2"]
    assert graph.users["age"].tolist() == [30, 40]


def test_explicit_column_must_exist(tmp_path, write_files):
    write_files(tmp_path, {"r.csv": "user_id,item_id\na,b\n"})
    with pytest.raises(InputError, match="--rating-col") as caught:
        table.load(tmp_path / "r.csv", kind="interactions", rating_col="stars")
    assert (caught.value.line, caught.value.field) == (1, "stars")


def test_a_missing_column_names_the_files_columns_and_a_likely_separator(tmp_path, write_files):
    # before, "a required column is missing (choose the column with --user-col)" alone, also
    # when --user-col named the column and the file's fields were split by another separator
    write_files(
        tmp_path,
        {
            "r.csv": "userId,movieId,stars\n1,2,3\n",
            "semi.csv": "userId;movieId;stars\n1;2;3\n",
            "tabs.csv": "userId\tmovieId\tstars\n1\t2\t3\n",
        },
    )
    with pytest.raises(InputError, match=r"the file's columns: userId, movieId, stars\)"):
        table.load(tmp_path / "r.csv", kind="interactions")
    for name, sep, option in (("semi.csv", ";", "--sep ';'"), ("tabs.csv", "\t", "--sep $'\\t'")):
        with pytest.raises(InputError) as caught:
            table.load(tmp_path / name, kind="interactions", user_col="userId", item_col="movieId")
        assert (caught.value.line, caught.value.field) == (1, "userId")
        message = caught.value.message
        assert f"its header is one column, {f'userId{sep}movieId{sep}stars'!r}" in message
        assert f"separated by {sep!r}? give {option}" in message
        graph = table.load(
            tmp_path / name, kind="interactions", user_col="userId", item_col="movieId", sep=sep
        )
        assert graph.interactions["user_id"].tolist() == ["1"]
    path = tmp_path / "r.parquet"
    pd.DataFrame({"userId": ["1"], "movieId": ["2"]}).to_parquet(path)
    with pytest.raises(InputError, match=r"the file's columns: userId, movieId\)") as caught:
        table.load(path, kind="interactions")
    assert caught.value.field == "user_id"


def test_bytes_not_in_utf8_offer_the_encoding_option(tmp_path, write_files):
    # a spreadsheet's CSV saved on Windows is cp1252; before, "save the file as UTF-8" alone,
    # though load table reads it as it is with --encoding
    write_files(tmp_path, {"m.csv": b"item_id,title\n1,Caf\xe9 Society\n"})
    with pytest.raises(InputError) as caught:
        table.load(tmp_path / "m.csv", kind="items")
    assert (caught.value.line, caught.value.field) == (2, "title")
    assert caught.value.message.endswith(
        "save the file as UTF-8, or name its encoding with --encoding (cp1252, as spreadsheets "
        "on Windows save CSV, latin-1, ...)"
    )
    graph = table.load(tmp_path / "m.csv", kind="items", encoding="cp1252")
    assert graph.items["title"].tolist() == ["Café Society"]
    with pytest.raises(InputError) as caught:  # RecBole files have no --encoding to offer
        recbole.load(write_files(tmp_path / "rb", {"rb.item": b"item_id:token\nCaf\xe9\n"}))
    assert caught.value.message.endswith("save the file as UTF-8")


def test_two_options_may_not_name_one_column(tmp_path, write_files):
    # before the fix the later option won: a KeyError traceback, or users read as timestamps
    write_files(tmp_path, {"r.csv": "user_id,item_id,when\na,b,1\n"})
    for options, says in (
        ({"item_col": "user_id"}, "--user-col and --item-col"),
        ({"rating_col": "when", "timestamp_col": "when"}, "--rating-col and --timestamp-col"),
    ):
        with pytest.raises(InputError, match=f"{says} name the same column") as caught:
            table.load(tmp_path / "r.csv", kind="interactions", **options)
        assert caught.value.line == 1


def test_non_numeric_rating_and_bad_timestamp(tmp_path, write_files):
    write_files(tmp_path, {"r.csv": "user_id,item_id,rating,timestamp\na,b,4,1\nc,d,good,2\n"})
    with pytest.raises(InputError, match="not a number") as caught:
        table.load(tmp_path / "r.csv", kind="interactions")
    assert (caught.value.line, caught.value.field) == (3, "rating")
    write_files(tmp_path, {"t.csv": "user_id,item_id,timestamp\na,b,2020-01-01\nc,d,yesterday\n"})
    with pytest.raises(InputError, match="nor an ISO 8601 date") as caught:
        table.load(tmp_path / "t.csv", kind="interactions")
    assert (caught.value.line, caught.value.field) == (3, "timestamp")


def test_clashing_and_unsafe_attribute_names(tmp_path, write_files):
    write_files(tmp_path, {"i.csv": "item_id,domain\na,x\n", "j.csv": "item_id,Zip Code\na,x\n"})
    with pytest.raises(InputError, match="taken") as caught:
        table.load(tmp_path / "i.csv", kind="items")
    assert caught.value.field == "domain"
    with pytest.raises(InputError, match="attribute column name") as caught:
        table.load(tmp_path / "j.csv", kind="items")
    assert (caught.value.line, caught.value.field) == (1, "Zip Code")


def test_an_attribute_name_of_kgrecs_staging_prefix_is_refused(tmp_path, write_files):
    # before, it loaded: the local store kept it, Neo4j's snapshot left it out, and a staged
    # kgrec embed cleared it from every node
    write_files(tmp_path, {"i.csv": "item_id,kgrec_staging_embedding\na,x\n"})
    with pytest.raises(InputError, match="not starting with 'kgrec_staging_'") as caught:
        table.load(tmp_path / "i.csv", kind="items")
    assert (caught.value.line, caught.value.field) == (1, "kgrec_staging_embedding")


def test_unknown_kind(tmp_path):
    with pytest.raises(InputError, match="kind"):
        table.load(tmp_path / "x.csv", kind="ratings")


def test_a_csv_with_semicolons_reads_its_quotes(tmp_path, write_files):
    # Spreadsheets in many locales write CSV with ';'; quotes there are CSV quoting, not data.
    write_files(
        tmp_path, {"items.csv": 'item_id;title\nb1;"Dune; the novel"\nb2;"He said ""no"""\n'}
    )
    graph = table.load(tmp_path / "items.csv", kind="items", sep=";", domain="books")
    titles = graph.items.set_index("uid")["title"]
    assert titles["books:b1"] == "Dune; the novel" and titles["books:b2"] == 'He said "no"'


@pytest.mark.parametrize("date", ["2020-W05-5", "2020W055", "2020-031", "2020-01-31T24:00:00"])
def test_an_iso_date_of_a_form_not_read_is_refused_naming_the_forms_read(
    tmp_path, write_files, date
):
    # before: "not a number (seconds) nor an ISO 8601 date: '2020-W05-5'", of a valid ISO 8601
    # date, without saying which of its forms are read
    write_files(tmp_path, {"t.csv": f"user_id,item_id,when\na,b,2020-01-31\nc,d,{date}\n"})
    with pytest.raises(InputError, match="of the forms read") as caught:
        table.load(tmp_path / "t.csv", kind="interactions", timestamp_col="when")
    assert (caught.value.line, caught.value.field) == (3, "when")
    assert caught.value.message == (
        f"not a number (seconds) nor an ISO 8601 date of the forms read: {date!r} ("
        "a calendar date, 2020-01-31 or 2020-01, with or without a time, 2020-01-31T10:00:00.5 "
        "or 2020-01-31 10:00, and a Z or an offset, +05:30; week dates, 2020-W05-5, and ordinal "
        "dates, 2020-031, are not read)"
    )


def test_the_iso_forms_the_error_names_are_read(tmp_path, write_files):
    # the forms table.ISO_FORMS names as read: each one's seconds (UTC)
    dates = {
        "2020-01-31": "2020-01-31T00:00:00Z",
        "2020-01": "2020-01-01T00:00:00Z",
        "2020-01-31T10:00:00.5": "2020-01-31T10:00:00.5Z",
        "2020-01-31 10:00": "2020-01-31T10:00:00Z",
        "2020-01-31T10:00:00Z": "2020-01-31T10:00:00Z",
        "2020-01-31T10:00:00+05:30": "2020-01-31T04:30:00Z",
    }
    rows = "".join(f"u{i},i{i},{date}\n" for i, date in enumerate(dates))
    write_files(tmp_path, {"t.csv": "user_id,item_id,timestamp\n" + rows})
    graph = table.load(tmp_path / "t.csv", kind="interactions")
    expected = [pd.Timestamp(utc).timestamp() for utc in dates.values()]
    assert graph.interactions["timestamp"].tolist() == expected


@pytest.mark.parametrize("date", ["9999-12-31", "1500-01-01"])
def test_a_date_out_of_range_is_refused_not_read_as_milliseconds(tmp_path, write_files, date):
    # before: 9999-12-31 raised OutOfBoundsDatetime (a traceback), and a date past 2200 that
    # pandas could subtract passed for milliseconds (divided by 1000: a date in 1978)
    write_files(
        tmp_path, {"t.tsv": f"user_id\titem_id\ttimestamp\na\tb\t2020-01-01\nc\td\t{date}\n"}
    )
    with pytest.raises(InputError, match="out of range") as caught:
        table.load(tmp_path / "t.tsv", kind="interactions")
    assert (caught.value.line, caught.value.field) == (3, "timestamp")


def test_parquet_ids_stored_as_floats_are_the_same_ids_as_text(tmp_path, write_files):
    # before, a float column gave the user "1.0" and the item "default:10.0": other nodes
    # than "1" and "default:10" of a CSV file
    path = tmp_path / "f.parquet"
    pd.DataFrame({"user_id": [1.0, 2.5], "item_id": [10.0, 11.0]}).to_parquet(path)
    graph = table.load(path, kind="interactions")
    assert sorted(graph.users["user_id"]) == ["1", "2.5"]
    assert sorted(graph.items["uid"]) == ["default:10", "default:11"]


def test_a_parquet_index_with_a_name_is_a_column(tmp_path):
    # before, reset_index(drop=True) dropped it: "a required column is missing"
    path = tmp_path / "u.parquet"
    pd.DataFrame({"user_id": ["u1", "u2"], "age": [20, 30]}).set_index("user_id").to_parquet(path)
    graph = table.load(path, kind="users")
    assert graph.users["user_id"].tolist() == ["u1", "u2"]


def test_ids_with_a_tab_or_a_line_break_are_refused_at_load(tmp_path, write_files):
    # before, they loaded, and every later split or train of the store was refused
    write_files(tmp_path, {"t.csv": 'user_id,item_id\na,i1\n"Toy\tStory",i2\n'})
    with pytest.raises(InputError, match="tab or a line break") as caught:
        table.load(tmp_path / "t.csv", kind="interactions")
    assert (caught.value.line, caught.value.field) == (3, "user_id")


def test_whitespace_around_ids_is_stripped(tmp_path, write_files):
    # before: " 1" and "1" were two users, "10 " and "10" two items (in CSV a field's leading
    # spaces are no part of it, as its trailing ones are stripped from an id)
    write_files(tmp_path, {"r.csv": "user_id,item_id,rating\n1,10,4\n1 ,10 ,5\n2, 10,3\n2 ,11,1\n"})
    report = LoadReport()
    graph = table.load(tmp_path / "r.csv", kind="interactions", domain="shop", report=report)
    assert sorted(graph.users["user_id"]) == ["1", "2"]
    assert sorted(graph.items["uid"]) == ["shop:10", "shop:11"]
    assert len(graph.interactions) == 3 and report.duplicates["interactions"] == 1
    summary = report.summary()
    assert "whitespace around ids stripped (field user_id; first: file" in summary
    assert f"{tmp_path / 'r.csv'}, line 3): 2" in summary


def test_whitespace_around_parquet_ids_is_stripped(tmp_path):
    path = tmp_path / "items.parquet"
    pd.DataFrame({"item_id": ["b1", " b1 ", "b2"], "title": ["A", "B", "C"]}).to_parquet(path)
    graph = table.load(path, kind="items", domain="books")
    assert sorted(graph.items["uid"]) == ["books:b1", "books:b2"]


def test_parquet_items_with_an_entity_tied_twice_and_a_null_entity(tmp_path):
    # before: a TypeError traceback (boolean value of NA is ambiguous) instead of the error
    path = tmp_path / "items.parquet"
    pd.DataFrame({"item_id": ["i1", "i2", "i3"], "entity_id": [None, "e", "e"]}).to_parquet(path)
    with pytest.raises(InputError, match="'e' is tied to two items, 'i2' and 'i3'") as caught:
        table.load(path, kind="items")
    assert (caught.value.line, caught.value.field) == (3, "entity_id")


@pytest.mark.parametrize("suffix, line", [(".csv", 1), (".parquet", None)])
def test_a_domain_rule_on_an_attribute_the_items_file_lacks_names_the_file(tmp_path, suffix, line):
    # before, the error named neither the file nor the line: "field 'genres': the domain rule
    # needs the item attribute 'genres'"; now the items file and its header (Parquet: none)
    path = tmp_path / f"items{suffix}"
    frame = pd.DataFrame({"item_id": ["i1", "i2"], "year": ["1995", "1996"]})
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    with pytest.raises(InputError, match="needs the item attribute 'genres'") as caught:
        table.load(path, kind="items", domain_rule=parse_rule("genres:a=Toy"))
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), line, "genres")


def test_a_domain_rule_may_name_the_column_as_the_file_does(tmp_path, write_files):
    # --genres-col kind: a rule on 'kind', the file's name, reads the genres column; before,
    # it was refused as needing the attribute 'kind', which the items do not have
    items = write_files(tmp_path, {"items.csv": "item_id,kind\ni1,Toy\ni2,Novel\n"}) / "items.csv"
    for written in ("kind", "genres"):
        rule = parse_rule(f"{written}:toy=Toy;books=Novel")
        graph = table.load(items, kind="items", genres_col="kind", domain_rule=rule)
        assert dict(zip(graph.items["item_id"], graph.items["domain"], strict=True)) == {
            "i1": "toy",
            "i2": "books",
        }


def test_domain_rule_errors_name_the_column_as_the_file_does(tmp_path, write_files):
    # --genres-col kind: before, the rule's errors named the column 'genres', which the file
    # does not have; now they name the file's 'kind'
    items = write_files(tmp_path, {"items.csv": "item_id,kind\ni1,Toy\ni2,Novel\n"}) / "items.csv"
    rule = parse_rule("genres:toy=Toy;books=Novel")
    with pytest.raises(InputError, match=r"item 'i2' \(kind 'Novel'\) in the domain 'books'") as e:
        table.load(items, kind="items", genres_col="kind", domain_rule=rule, held_domains=["toy"])
    assert (e.value.line, e.value.field) == (3, "kind")
    with pytest.raises(InputError, match="none of the 2 items has 'kind' values"):
        table.load(items, kind="items", genres_col="kind", domain_rule=parse_rule("genres:t=Thing"))


def test_an_empty_id_names_the_column_as_the_file_does(tmp_path, write_files):
    # --item-col iid: before, the error named 'item_id', a column the file does not have
    items = write_files(tmp_path, {"items.csv": "iid,year\ni1,1995\n,1996\n"}) / "items.csv"
    with pytest.raises(InputError, match="a required value is empty") as caught:
        table.load(items, kind="items", item_col="iid")
    assert (caught.value.line, caught.value.field) == (3, "iid")


@pytest.mark.parametrize(
    "row, field",
    [
        ("u1,i1,great,1\n", "score"),
        ("u1,i1,4,yesterday\n", "when"),
        ("u1,i1,4,9999-12-31\n", "when"),
    ],
)
def test_a_bad_rating_or_time_is_named_as_the_file_does(tmp_path, write_files, row, field):
    # --rating-col score, --timestamp-col when: before, the error named 'rating' or 'timestamp'
    path = write_files(tmp_path, {"inter.csv": "uid,iid,score,when\nu1,i0,3,2\n" + row})
    with pytest.raises(InputError) as caught:
        table.load(
            path / "inter.csv",
            kind="interactions",
            user_col="uid",
            item_col="iid",
            rating_col="score",
            timestamp_col="when",
        )
    assert (caught.value.line, caught.value.field) == (3, field)


def test_a_bad_year_is_named_as_the_file_does(tmp_path, write_files, caplog):
    # --year-col released: before, the warning said "value(s) of year", not the file's column
    items = write_files(tmp_path, {"items.csv": "item_id,released\ni1,1995\ni2,soon\n"})
    with caplog.at_level("WARNING", logger="loaders.files"):
        table.load(items / "items.csv", kind="items", year_col="released")
    (record,) = [r for r in caplog.records if "not years" in r.getMessage()]
    assert "of released are not years" in record.getMessage()


def test_interactions_columns_not_read_are_dropped_with_a_warning(tmp_path, write_files, caplog):
    # before: an INFO line, though the values were lost (a Rating column: every rating)
    path = write_files(tmp_path, {"r.csv": "user_id,item_id,Rating,comment\nu1,i1,5,x\n"})
    with caplog.at_level("INFO", logger="loaders.table"):
        graph = table.load(path / "r.csv", kind="interactions")
    assert graph.interactions["rating"].isna().all()
    (record,) = [r for r in caplog.records if "ignoring columns" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert record.getMessage() == (
        f"{path / 'r.csv'}: ignoring columns Rating, comment, whose values are not loaded (an "
        "interactions table's columns are chosen with --user-col, --item-col, --rating-col, "
        "--timestamp-col); --rating-col Rating to read it?"
    )


@pytest.mark.parametrize("column", ["rating", "timestamp"])
def test_an_infinite_parquet_float_is_quoted_as_a_number(tmp_path, column):
    # before: "not a number: np.float64(-inf)", numpy's repr, not the value
    path = tmp_path / "r.parquet"
    rows = {"user_id": ["a", "b"], "item_id": ["x", "y"], "rating": [4.0, 3.0]}
    rows["timestamp"] = [1.0, 2.0]
    rows[column] = [1.0, float("-inf")]
    pd.DataFrame(rows).to_parquet(path)
    with pytest.raises(InputError, match=r"not a number: -inf \(infinite\)$") as caught:
        table.load(path, kind="interactions")
    assert (caught.value.line, caught.value.field) == (2, column)


@pytest.mark.parametrize("column", ["rating", "timestamp"])
def test_a_boolean_parquet_column_is_quoted_as_python_writes_it(tmp_path, column):
    # before: "not a number: np.True_", numpy's repr of the value, not the value
    path = tmp_path / "r.parquet"
    rows = {"user_id": ["a", "b"], "item_id": ["x", "y"], column: [False, True]}
    pd.DataFrame(rows).to_parquet(path)
    with pytest.raises(InputError, match=r"not a number: False$") as caught:
        table.load(path, kind="interactions")
    assert (caught.value.line, caught.value.field) == (1, column)


@pytest.mark.parametrize(
    "kind, frame, field, shown",
    [
        (
            "interactions",
            {"user_id": ["u1", "u2"], "item_id": [["i1"], ["i2"]]},
            "item_id",
            "['i1']",
        ),
        (
            "interactions",
            {"user_id": [{"a": 1}, {"a": 2}], "item_id": ["i1", "i2"]},
            "user_id",
            "{'a': 1}",
        ),
        (
            "items",
            {"item_id": ["i1", "i2"], "title": [["Toy", "Story"], ["Heat"]]},
            "title",
            "['Toy', 'Story']",
        ),
        ("items", {"item_id": ["i1", "i2"], "entity_id": [None, ["m.1"]]}, "entity_id", "['m.1']"),
    ],
)
def test_a_parquet_list_or_record_as_an_id_or_title_is_refused(tmp_path, kind, frame, field, shown):
    """An id or title column of lists (or structs) was stored as the text of each list
    ("['Toy' 'Story']"): it is refused, naming the row and column."""
    path = tmp_path / "t.parquet"
    pd.DataFrame(frame).to_parquet(path)
    with pytest.raises(InputError) as err:
        table.load(path, kind=kind, domain="d")
    assert err.value.field == field
    assert err.value.file == str(path)
    assert err.value.line == (2 if field == "entity_id" else 1)
    assert f"a list or record is not {'a title' if field == 'title' else 'an id'}: {shown}" in str(
        err.value
    )


@pytest.mark.parametrize("metadata", [b'{"index_columns": [!]}', b'{"index_columns": "\xe9"}'])
def test_a_parquet_file_with_broken_pandas_metadata_is_an_input_error(tmp_path, metadata):
    # before: a json.JSONDecodeError (or UnicodeDecodeError) traceback from pyarrow reading
    # the schema's pandas metadata (a byte flipped in a file's footer: found by the fuzz42
    # review)
    columns = pa.table({"user_id": ["a", "b"], "item_id": ["x", "y"]})
    path = tmp_path / "r.parquet"
    pq.write_table(columns.replace_schema_metadata({b"pandas": metadata}), path)
    with pytest.raises(InputError, match=r"not a readable Parquet file.*pandas metadata") as caught:
        table.load(path, kind="interactions")
    assert caught.value.file == str(path)


def test_an_entities_table_names_entities(tmp_path, write_files, caplog):
    """Before, no loader could give an entity its name (``ENTITIES.name``): a knowledge graph
    of ids (Freebase ``m.0abc``, Wikidata ``Q42``) was explained by its ids. A table of
    entities maps its id and name columns, strips whitespace around ids, merges duplicate ids
    as the other kinds do (the last non-empty name wins, counted), and ignores its other
    columns with a warning (entities have no attributes)."""
    path = write_files(
        tmp_path,
        {
            "names.csv": (
                "mid,label,lang\n"
                "m.0abc,Steven Spielberg,en\n"
                " Q42 ,Douglas Adams,en\n"
                "Q42,,en\n"
                "person:3,,en\n"
                "person:4,  ,en\n"
            )
        },
    )
    report = LoadReport()
    with caplog.at_level("WARNING", logger="loaders.table"):
        graph = table.load(
            path / "names.csv", kind="entities", entity_col="mid", name_col="label", report=report
        )
    names = graph.entities.set_index("entity_id")["name"]
    assert names.to_dict() == {"m.0abc": "Steven Spielberg", "Q42": "Douglas Adams"}
    assert report.duplicates == {"entities": 1}
    assert report.rows["entities"] == 2 and graph.items.empty and graph.knowledge.empty
    # an empty name is no name (as one leaves a stored name): no entity is made of it, which
    # would be an entity of a name alone with no name; counted (before: loaded, name ""; found
    # by the rel50 review)
    empty = f"entities of an empty name not loaded (first: file {path / 'names.csv'}, line 5)"
    assert report.warnings[empty] == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"{path / 'names.csv'}: ignoring columns lang, whose values are not loaded (an entities "
        "table's columns are chosen with --entity-col, --name-col)"
    ]
    tsv = write_files(tmp_path, {"names.tsv": "entity_id\tname\nQ1\tUniverse\n"})
    assert table.load(tsv / "names.tsv", kind="entities").entities["name"].tolist() == ["Universe"]
    parquet = tmp_path / "names.parquet"
    pd.DataFrame({"entity_id": [1.0, 2.0], "name": ["One", "Two"]}).to_parquet(parquet)
    entities = table.load(parquet, kind="entities").entities
    assert entities["entity_id"].tolist() == ["1", "2"]  # as a text file's ids


def test_entities_of_an_empty_name_are_counted_from_their_first_line(tmp_path, write_files):
    """The summary's "first" of the entities of an empty name is the file's first line of
    one, in CSV (with its header), TSV and Parquet (the row number), also where that id is
    named twice (merged, its merged row going last) or a later line names it (not counted:
    the last non-empty name wins, in both orders). Before, it was the first such id after
    the duplicate ids were merged: here line 4 (Q3) of the CSV and TSV, row 3 of the
    Parquet, for Q1's empty names on lines 2 and 3 (found by the rev50 review)."""
    rows = [("Q1", ""), ("Q1", " "), ("Q3", ""), ("Q4", ""), ("Q4", "Four"), ("Q5", "Five")]
    rows += [("Q5", "")]
    files = write_files(
        tmp_path,
        {
            "names.csv": "entity_id,name\n" + "".join(f"{i},{n}\n" for i, n in rows),
            "names.tsv": "entity_id\tname\n" + "".join(f"{i}\t{n}\n" for i, n in rows),
        },
    )
    parquet = tmp_path / "names.parquet"
    pd.DataFrame(rows, columns=["entity_id", "name"]).to_parquet(parquet)
    for path, line in ((files / "names.csv", 2), (files / "names.tsv", 2), (parquet, 1)):
        report = LoadReport()
        entities = table.load(path, kind="entities", report=report).entities
        assert entities.set_index("entity_id")["name"].to_dict() == {"Q4": "Four", "Q5": "Five"}
        empty = f"entities of an empty name not loaded (first: file {path}, line {line})"
        assert report.warnings == {empty: 2}, path  # Q1 and Q3


def test_an_entities_table_names_its_bad_rows(tmp_path, write_files):
    files = write_files(
        tmp_path,
        {
            "unnamed.csv": "entity_id,label\nQ1,Universe\n",
            "empty.csv": "mid,name\nQ1,Universe\n  ,Nothing\n",
        },
    )
    with pytest.raises(InputError) as caught:
        table.load(files / "unnamed.csv", kind="entities")
    error = caught.value
    assert (error.file, error.line, error.field) == (str(files / "unnamed.csv"), 1, "name")
    assert "choose the column with --name-col; the file's columns: entity_id, label" in str(error)
    with pytest.raises(InputError, match="a required value is empty") as caught:
        table.load(files / "empty.csv", kind="entities", entity_col="mid")
    assert (caught.value.file, caught.value.line, caught.value.field) == (
        str(files / "empty.csv"),
        3,
        "mid",
    )
    path = tmp_path / "listed.parquet"
    pd.DataFrame({"entity_id": ["Q1", "Q2"], "name": [None, ["Adams", "Douglas"]]}).to_parquet(path)
    with pytest.raises(InputError, match=r"a list or record is not a name: \['Adams', 'Douglas'\]"):
        table.load(path, kind="entities")


@pytest.mark.parametrize(
    "option, value",
    [
        ("domain", "movies"),
        ("domain_rule", parse_rule("genres:a=A")),
        ("user_links", "links.csv"),
        ("title_col", "title"),
        ("item_col", "item_id"),
        ("genres_sep", ","),
        ("genres_sep", "|"),  # the default, given: before, taken for none given
    ],
)
def test_an_entities_table_refuses_the_options_of_other_kinds(tmp_path, write_files, option, value):
    """As a table of users refuses --domain: a table of entities reads none of the options of
    items, users and interactions, before it is read."""
    path = tmp_path / "names.csv"  # never read: it does not exist
    flag = "--" + option.replace("_", "-")
    with pytest.raises(InputError, match=f"a table of entities .* reads no {flag} ") as caught:
        table.load(path, kind="entities", **{option: value})
    assert (caught.value.file, caught.value.field) == (str(path), flag)


@pytest.mark.parametrize(
    "kind, option, value",
    [
        ("users", "title_col", "t"),
        ("users", "item_col", "x"),
        ("users", "rating_col", "stars"),
        ("users", "genres_sep", ","),
        ("users", "genres_sep", "|"),  # the default, given: before, taken for none given
        ("interactions", "genres_col", "g"),
        ("interactions", "title_col", "t"),
        ("interactions", "year_col", "y"),
        ("interactions", "genres_sep", ","),
        ("interactions", "genres_sep", "|"),
        ("items", "user_col", "u"),
        ("items", "rating_col", "stars"),
        ("items", "timestamp_col", "when"),
        ("items", "user_links", "links.csv"),
    ],
)
def test_a_table_refuses_the_options_its_kind_does_not_read(tmp_path, kind, option, value):
    """As a table of entities refuses the options of the other kinds, each kind refuses
    those it does not read, naming the option and what it reads, before the file is read.
    Before, they were ignored without a word (`--kind users --title-col t` loaded the title
    column as an attribute, `--kind interactions --genres-col g` ignored it with the other
    columns), and `--kind items --user-links FILE` ended in a traceback (No objects to
    concatenate)."""
    path = tmp_path / "t.csv"  # never read: it does not exist
    flag = "--" + option.replace("_", "-")
    with pytest.raises(InputError, match=f"a table of {kind} reads no {flag} ") as caught:
        table.load(path, kind=kind, **{option: value})
    assert (caught.value.file, caught.value.field) == (str(path), flag)
    reads = {
        "users": "(its options: --user-col, --user-links, --sep, --encoding; its other "
        "columns are kept as attributes)",
        "interactions": "(its options: --user-col, --item-col, --rating-col, --timestamp-col, "
        "--domain, --user-links, --sep, --encoding; its other columns are ignored)",
        "items": "(its options: --item-col, --title-col, --year-col, --genres-col, "
        "--genres-sep, --domain, --domain-rule, --sep, --encoding; its other columns are kept "
        "as attributes)",
    }[kind]
    assert str(caught.value).endswith(reads)


def test_each_kind_reads_the_options_it_is_not_refused(tmp_path, write_files):
    """What a kind reads is not refused: an interactions table's user, item, rating and
    timestamp columns, domain and user links; an items table's item, title, year and genres
    columns, genres separator and domain rule; a users table's user column and user links."""
    files = write_files(
        tmp_path,
        {
            "r.csv": "member,product,stars,when\nc,p1,4,10\nb,p1,3,20\n",
            "i.csv": "iid,name,released,kind\np1,Toy,1995,Thing;Extra\np2,Box,1996,Other\n",
            "u.csv": "member,age\na,30\nc,40\n",
            "links.csv": "user_id,same_as\nc,a\n",
        },
    )
    links = files / "links.csv"
    got = table.load(
        files / "r.csv",
        kind="interactions",
        user_col="member",
        item_col="product",
        rating_col="stars",
        timestamp_col="when",
        domain="shop",
        user_links=links,
    )
    assert got.interactions["rating"].tolist() == [4.0, 3.0]
    assert got.interactions["timestamp"].tolist() == [10.0, 20.0]
    assert set(got.interactions["user_id"]) == {"a", "b"}  # c is a
    assert set(got.items["uid"]) == {"shop:p1"}
    got = table.load(
        files / "i.csv",
        kind="items",
        item_col="iid",
        title_col="name",
        year_col="released",
        genres_col="kind",
        genres_sep=";",
        domain_rule=parse_rule("genres:t=Thing;o=Other"),
    )
    assert got.items.set_index("uid")["genres"].map(list).to_dict() == {
        "t:p1": ["Thing", "Extra"],
        "o:p2": ["Other"],
    }
    assert got.items["title"].tolist() == ["Toy", "Box"]
    assert got.items["year"].tolist() == [1995, 1996]
    got = table.load(files / "u.csv", kind="users", user_col="member", user_links=links)
    assert got.users["user_id"].tolist() == ["a"]  # c is a


@pytest.mark.parametrize("kind", ["interactions", "items", "users"])
@pytest.mark.parametrize("option", ["entity_col", "name_col"])
def test_the_entity_options_are_refused_with_other_kinds(tmp_path, kind, option):
    path = tmp_path / "t.csv"
    flag = "--" + option.replace("_", "-")
    with pytest.raises(InputError, match=f"{flag} chooses a column of a table of entities"):
        table.load(path, kind=kind, domain="d" if kind != "users" else None, **{option: "x"})


def test_parquet_dictionary_columns_are_read_as_their_values(tmp_path):
    # before, a categorical (dictionary-encoded) column skipped the NUL check, and an attribute
    # of text categories reached the stores as a category column, which the merge rule counted
    # as numbers
    path = tmp_path / "items.parquet"
    ids = pd.Categorical(["i1", "i2\x00x"])
    pd.DataFrame({"item_id": ids, "title": pd.Categorical(["A", "B"])}).to_parquet(path)
    with pytest.raises(InputError, match="NUL") as caught:
        table.load(path, kind="items", domain="books")
    assert (caught.value.line, caught.value.field) == (2, "item_id")
    colors = pd.Categorical(["red", None])
    pd.DataFrame({"item_id": pd.Categorical(["i1", "i2"]), "color": colors}).to_parquet(path)
    graph = table.load(path, kind="items", domain="books")
    color = graph.items.set_index("uid")["color"]
    assert not isinstance(color.dtype, pd.CategoricalDtype)
    assert color["books:i1"] == "red" and pd.isna(color["books:i2"])


def test_an_attribute_named_as_another_kinds_column_is_kept_as_the_file_holds_it(
    tmp_path, write_files, capsys
):
    """An items or users table's other columns are attributes: an items file's `rating` (an
    IMDb rating, an age rating) or `timestamp`, a users file's `year`, `genres`, `rating` or
    `timestamp`. Before, `kgrec load table` stopped on them with a KeyError traceback (exit 1):
    the loader converted every column of those names as an interactions or items table's own,
    and looked up the column the kind maps, which it has none of."""
    from kgrec.cli import main
    from kgrec.store import open_store

    write_files(
        tmp_path,
        {
            "items.csv": "item_id,title,rating,timestamp\ni1,Heat,8.3,x\ni2,Up,PG,\n",
            "users.csv": "user_id,year,genres,rating,timestamp\nu1,1980,a|b,high,now\n",
        },
    )
    store = f"local:{tmp_path / 'store'}"
    items = ["load", "table", str(tmp_path / "items.csv"), "--kind", "items", "--domain", "shop"]
    assert main([*items, "--store", store]) == 0
    users = ["load", "table", str(tmp_path / "users.csv"), "--kind", "users"]
    assert main([*users, "--store", store]) == 0
    with open_store(store) as opened:
        graph = opened.snapshot()
    items = graph.items.set_index("item_id")
    assert items["rating"].tolist() == ["8.3", "PG"]
    assert items.loc["i1", "timestamp"] == "x" and pd.isna(items.loc["i2", "timestamp"])
    assert items["year"].isna().all() and items["genres"].isna().all()
    [user] = graph.users.to_dict("records")
    assert user == {
        "user_id": "u1",
        "genres": "a|b",
        "rating": "high",
        "timestamp": "now",
        "year": "1980",
    }


@pytest.mark.parametrize("links", ["user_id,same_as\na,a\n", "user_id,same_as\na,a\nx,y\n"])
def test_user_links_that_map_no_id_of_a_table_leave_its_users_as_they_are(
    tmp_path, write_files, links
):
    """A user-link file whose rows link ids to themselves alone (a file listing every user's
    id, none joined yet), or that joins none of the table's ids, changes no id. Before, a file
    of self-links alone stopped `load table` with a pyarrow ArrowInvalid traceback (`Failed to
    parse string: 'a' as a scalar of type double`): no id mapped, the ids were filled into a
    column of numbers."""
    files = write_files(tmp_path, {"r.csv": "user_id,item_id\na,p1\nb,p2\n", "l.csv": links})
    graph = table.load(
        files / "r.csv", kind="interactions", domain="shop", user_links=files / "l.csv"
    )
    assert graph.interactions["user_id"].tolist() == ["a", "b"]
    assert set(graph.users["user_id"]) == {"a", "b"}
    graph = table.load(files / "r.csv", kind="users", user_links=files / "l.csv")
    assert graph.users["user_id"].tolist() == ["a", "b"]
