"""Reading delimited files: every row keeps its line; bad files name file, line and field."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile

import pandas as pd
import pytest

from kgrec.errors import InputError
from loaders.files import read_columns, read_delimited, split_tokens, to_float, to_year


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_header_columns_strings_floats_and_lines(tmp_path):
    path = write(tmp_path, "a.tsv", "id\tx\tname\n1\t2.5\tfoo\n2\t\tbar baz\n")
    df = read_delimited(path, floats=["x"])
    assert list(df["id"]) == ["1", "2"]
    assert df["x"].dtype == "float64"
    assert df["x"].iloc[0] == 2.5 and pd.isna(df["x"].iloc[1])
    assert list(df["name"]) == ["foo", "bar baz"]
    assert list(df["_line"]) == [2, 3]
    assert set(df["_file"]) == {str(path)}


def test_blank_lines_are_skipped_and_line_numbers_stay_true(tmp_path):
    path = write(tmp_path, "a.tsv", "\n\nid\tv\r\n1\ta\r\n\r\n2\tb\r\n\n3\tc")
    df = read_delimited(path)
    assert list(df["id"]) == ["1", "2", "3"]
    assert list(df["v"]) == ["a", "b", "c"]  # no stray carriage returns
    assert list(df["_line"]) == [4, 6, 8]


def test_quotes_are_data_in_tsv(tmp_path):
    path = write(tmp_path, "a.tsv", 'id\tv\n1\t"quoted"\n2\tit\'s\n')
    assert list(read_delimited(path)["v"]) == ['"quoted"', "it's"]


def test_quoted_csv_with_line_breaks_keeps_record_lines(tmp_path):
    path = write(tmp_path, "a.csv", 'id,v\n1,"two\nlines"\n2,"a,b"\n3,plain\n')
    df = read_delimited(path, sep=",", quoted=True)
    assert list(df["v"]) == ["two\nlines", "a,b", "plain"]
    assert list(df["_line"]) == [2, 4, 5]


@pytest.mark.parametrize("quote", ['"', ""], ids=["quoted", "plain"])
def test_a_csv_field_after_a_separator_and_spaces_is_read_in_its_quotes(tmp_path, quote):
    """Before, `1, "Heat, The"` was read with its quotes as data: the id `"i1"` (quotes and
    all), a title split at its comma (wrong number of fields); a header `"id", "title"`
    named a column `"title"`. A file without a quote reads its fields alike."""
    q = quote
    text = f"{q}id{q}, {q}title{q}, {q}r{q}\n{q}i1{q}, {q}Heat{q},  4\n {q}i2{q}, {q}Heat{q}, 5\n"
    if q:
        text += '"i3", "Heat, The", 3\n'
    df = read_delimited(write(tmp_path, "a.csv", text), sep=",", quoted=True, floats=["r"])
    rows = [["i1", "Heat", 4.0], ["i2", "Heat", 5.0]] + ([["i3", "Heat, The", 3.0]] if q else [])
    assert df[["id", "title", "r"]].values.tolist() == rows
    assert list(df["_line"]) == [2, 3, 4][: len(rows)]


def test_multi_character_separator(tmp_path):
    path = write(tmp_path, "r.dat", "1::10::5::99\n2::Mission: Impossible::4::98\n")
    df = read_delimited(path, sep="::", header=False, names=("u", "i", "r", "t"), floats=["r"])
    assert list(df["i"]) == ["10", "Mission: Impossible"]
    assert list(df["r"]) == [5.0, 4.0]


def test_a_multi_character_separator_inside_quotes_is_data(tmp_path):
    """Before, a quoted CSV field holding the separator (`--sep ::`, "Star Trek:: The Movie")
    was read with a unit separator (\\x1f) in its place: the title stored was not the file's."""
    path = write(tmp_path, "a.csv", 'id::title\n1::"Star Trek:: The Movie"\n2::Plain\n')
    df = read_delimited(path, sep="::", quoted=True)
    assert list(df["title"]) == ["Star Trek:: The Movie", "Plain"]
    assert list(df["_line"]) == [2, 3]


def test_header_is_detected_by_names(tmp_path):
    with_header = write(tmp_path, "h.tsv", "head_id:token\trelation\tTAIL\na\tr\tb\n")
    without = write(tmp_path, "n.tsv", "a\tr\tb\nc\tr\td\n")
    names = ("head", "relation", "tail")
    assert list(read_columns(with_header, names)["head"]) == ["a"]
    df = read_columns(without, names)
    assert list(df["head"]) == ["a", "c"]
    assert list(df["_line"]) == [1, 2]


@pytest.mark.parametrize(
    ("content", "line", "field"),
    [
        ("a\tb\tc\n1\t2\t3\n4\t5\t6\t7\n", 3, "c"),  # too many fields
        ("a\tb\tc\n1\t2\t3\n4\t5\n", 3, "c"),  # too few (pandas would pad it)
        ("a\tb\tc\n1\t2\t3\t4\n5\t6\t7\n", 2, "c"),  # too many on the first row
    ],
)
def test_wrong_number_of_fields_names_the_line(tmp_path, content, line, field):
    path = write(tmp_path, "a.tsv", content)
    with pytest.raises(InputError, match="wrong number of fields") as caught:
        read_delimited(path)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), line, field)


def test_wrong_number_of_fields_in_quoted_csv(tmp_path):
    path = write(tmp_path, "a.csv", 'a,b\n1,"x\ny"\n2,3,4\n')
    with pytest.raises(InputError, match="wrong number of fields") as caught:
        read_delimited(path, sep=",", quoted=True)
    assert caught.value.line == 4


def test_bytes_that_are_not_utf8_name_file_line_and_field(tmp_path):
    path = write(tmp_path, "a.tsv", b"id\ttitle\n1\tok\n2\tCaf\xe9 au lait\n")
    with pytest.raises(InputError, match="not UTF-8") as caught:
        read_delimited(path)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), 3, "title")


def test_latin1_files_read_when_declared(tmp_path):
    path = write(tmp_path, "a.tsv", b"id\ttitle\n2\tCaf\xe9\n")
    assert read_delimited(path, encoding="latin-1")["title"].iloc[0] == "Café"


def test_utf8_byte_order_mark_is_not_part_of_the_header(tmp_path):
    path = write(tmp_path, "a.tsv", b"\xef\xbb\xbfid\tv\n1\t2\n")
    assert list(read_delimited(path).columns[:2]) == ["id", "v"]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_a_utf8_byte_order_mark_reads_the_file_as_utf8_whatever_its_declared_encoding(
    tmp_path, encoding, caplog
):
    # before: read as latin-1, the mark became "ï»¿" in the first column's name (a load said
    # the column was missing) and every "é" became "Ã©"
    path = write(tmp_path, "a.csv", b"\xef\xbb\xbfid,title\n1,Caf\xc3\xa9\n")
    df = read_delimited(path, sep=",", quoted=True, encoding=encoding)
    assert df[["id", "title"]].to_dict("records") == [{"id": "1", "title": "Café"}]
    assert f"read as UTF-8, not {encoding}" in caplog.text


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted"])
@pytest.mark.parametrize(
    ("content", "lines"),
    [
        ("id,v\n1,2\n  \n", [2]),  # an editor's last line
        ("id,v\n1,2\n \t\r\n3,4\n", [2, 4]),
        ("  \nid,v\n1,2\n\n3,4\n", [3, 5]),
        ('id,v\n1,"2"\n  \n3,4\n', [2, 4]),  # quoted: the csv module's path
    ],
)
def test_a_line_of_whitespace_alone_is_skipped_as_a_blank_line(tmp_path, content, lines, quoted):
    # before: "wrong number of fields: 1, expected 2" at that line
    path = write(tmp_path, "a.csv", content)
    df = read_delimited(path, sep=",", quoted=quoted)
    assert df["id"].tolist() == ["1", "3"][: len(lines)]
    assert df["_line"].tolist() == lines  # line numbers stay true


def test_whitespace_beside_a_separator_is_a_row_of_fields(tmp_path):
    # a tab is the separator of a TSV file: " \t " holds two fields, not a blank line
    path = write(tmp_path, "a.tsv", "id\tv\n1\t2\n \t \n")
    assert read_delimited(path)[["id", "v"]].values.tolist() == [["1", "2"], [" ", " "]]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "UTF-8-SIG", "u8"])
@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b""], ids=["bom", "no bom"])
def test_other_names_of_utf8_read_alike(tmp_path, encoding, bom):
    # before: "utf-8-sig" (Python's UTF-8 with a byte-order mark) refused every file as "could
    # not be parsed" (it encodes the separator with a mark before it), a multi-character
    # separator too; "u8" kept the mark in the first column's name
    path = write(tmp_path, "a.csv", bom + "id,v,title\n1,2.5,Café\n".encode())
    df = read_delimited(path, sep=",", quoted=True, encoding=encoding, floats=["v"])
    assert df[["id", "v", "title"]].to_dict("records") == [{"id": "1", "v": 2.5, "title": "Café"}]
    path = write(tmp_path, "b.dat", bom + b"id::v\n1::2\n")
    assert read_delimited(path, sep="::", encoding=encoding)["v"].tolist() == ["2"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\n \n", "empty"), (b"id\tv\n", "no data rows"), (b"id\tv\n\n", "no data")],
)
def test_empty_files(tmp_path, content, message):
    path = write(tmp_path, "a.tsv", content)
    with pytest.raises(InputError, match=message) as caught:
        read_delimited(path)
    assert caught.value.file == str(path)


@pytest.mark.parametrize(
    ("compress", "kind"),
    [
        (gzip.compress, "gzip-compressed"),
        (bz2.compress, "bzip2-compressed"),
        (lzma.compress, "xz-compressed"),
        (lambda data: _zipped("a.tsv", data), "a zip archive"),
    ],
)
def test_a_compressed_file_is_named_so(tmp_path, compress, kind):
    """Before, a gzip'd file (ratings.csv.gz given as ratings.csv) was read as text: 'bytes
    that are not UTF-8' at a field named by binary garbage, offering --encoding cp1252."""
    path = write(tmp_path, "a.tsv", compress(b"id\tv\n1\t2\n"))
    with pytest.raises(InputError, match=f"the file is {kind}, not text: decompress") as caught:
        read_delimited(path)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), None, None)


def _zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such file") as caught:
        read_delimited(tmp_path / "nope.tsv")
    assert caught.value.file == str(tmp_path / "nope.tsv")
    with pytest.raises(InputError, match="folder"):
        read_delimited(tmp_path)


def test_header_problems(tmp_path):
    with pytest.raises(InputError, match="twice") as caught:
        read_delimited(write(tmp_path, "a.tsv", "id\tid\n1\t2\n"))
    assert (caught.value.line, caught.value.field) == (1, "id")
    with pytest.raises(InputError, match="no name"):
        read_delimited(write(tmp_path, "b.tsv", "id\t\n1\t2\n"))


@pytest.mark.parametrize("bad", ["five", "nan", "inf", "1,5"])
def test_non_numeric_float_names_line_and_field(tmp_path, bad):
    path = write(tmp_path, "a.tsv", f"u\trating\nx\t4\ny\t{bad}\n")
    with pytest.raises(InputError, match="not a number") as caught:
        read_delimited(path, floats=["rating"])
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), 3, "rating")


@pytest.mark.parametrize("bad", ["inf", "-Infinity", "1e400"])
def test_an_infinite_float_is_quoted_as_the_file_writes_it(tmp_path, bad):
    # before: the C parser had read it as a float, and the error quoted np.float64(inf)
    path = write(tmp_path, "a.tsv", f"u\trating\nx\t4\ny\t{bad}\n")
    with pytest.raises(InputError, match=rf"not a number: '{bad}' \(infinite\)$") as caught:
        read_delimited(path, floats=["rating"])
    assert (caught.value.line, caught.value.field) == (3, "rating")


def test_to_float_and_to_year_on_text(tmp_path):
    df = read_delimited(write(tmp_path, "a.tsv", "y\tz\n1995\t 2 \n\t\nunknown\tx\n1995.5\t1\n"))
    with pytest.raises(InputError) as caught:
        to_float(df, "z")
    assert caught.value.line == 4
    with pytest.raises(InputError, match="not a number") as caught:
        to_year(df, "y")
    assert caught.value.line == 4
    years = to_year(df, "y", strict=False)
    assert years.dtype == "Int64"
    assert years.iloc[0] == 1995 and years.iloc[1:].isna().all()


def test_split_tokens():
    series = pd.Series(["a b  c", "", None, "x|y"], dtype="string")
    assert split_tokens(series).tolist() == [["a", "b", "c"], [], [], ["x|y"]]
    assert split_tokens(series, "|").tolist()[3] == ["x", "y"]


def test_tokens_are_stripped_around_the_separator():
    # before, "Action, Comedy" on "," gave " Comedy", which no domain rule or genre matched
    series = pd.Series(["Action, Comedy", " Drama ,, "], dtype="string")
    assert split_tokens(series, ",").tolist() == [["Action", "Comedy"], ["Drama"]]


def test_a_quote_left_open_is_an_error_at_its_record(tmp_path):
    # before, the open field swallowed the rest of the file: one item, i2 and i3 lost
    path = write(tmp_path, "a.csv", 'id,title\ni1,"Unclosed title\ni2,Second\ni3,Third\n')
    with pytest.raises(InputError, match="not valid CSV") as caught:
        read_delimited(path, sep=",", quoted=True)
    assert caught.value.line == 2


def test_a_long_row_and_a_short_row_do_not_balance_out(tmp_path):
    # before, only the total number of separators was compared: "extra" was dropped and
    # u2's rating silently missing
    path = write(tmp_path, "a.tsv", "user\titem\trating\nu1\ti1\t5\textra\nu2\ti2\nu3\ti3\t4\n")
    with pytest.raises(InputError, match="wrong number of fields: 4") as caught:
        read_delimited(path)
    assert caught.value.line == 2


def test_a_lone_carriage_return_outside_quotes_is_refused_in_quoted_csv(tmp_path):
    # before, any quote in the file turned the check off, and the \r split the row in two
    path = write(tmp_path, "a.csv", 'u,i,r\n"u1",i1,5\ru2,i2,3\nu3,i3,4\n')
    with pytest.raises(InputError, match="carriage return") as caught:
        read_delimited(path, sep=",", quoted=True)
    assert caught.value.line == 2
    # in quotes it is data, and the lines after it keep their numbers
    path = write(tmp_path, "b.csv", 'u,i,r\n"u1",i1,5\nu2,"i\r2",3\nu3,i3,4\n')
    df = read_delimited(path, sep=",", quoted=True)
    assert df["i"].tolist() == ["i1", "i\r2", "i3"] and df["_line"].tolist() == [2, 3, 4]


@pytest.mark.parametrize(
    ("name", "content", "options", "field"),
    [
        ("a.csv", "u,i\r1,2\r", dict(sep=",", quoted=True), "i"),
        ("b.csv", '"u","i"\r"1","2"\r', dict(sep=",", quoted=True), "i"),
        ("c.tsv", "u\ti\r1\t2\r", {}, "i"),
        (
            "d.csv",
            "a,r,b\rc,r,d\r",
            dict(sep=",", quoted=True, header=None, names=("h", "r", "t")),
            "t",
        ),
    ],
)
def test_a_file_with_old_mac_line_ends_names_the_header_field(
    tmp_path, name, content, options, field
):
    # before: a csv.Error traceback from the header of a quoted CSV, and in a TSV the field
    # 'i\r1' (the header ran into the next line); without a header, a value named the field
    with pytest.raises(InputError, match="carriage return") as caught:
        read_delimited(write(tmp_path, name, content), **options)
    assert (caught.value.line, caught.value.field) == (1, field)


@pytest.mark.parametrize("year", ["1e20", "inf", "-20000"])
def test_a_year_beyond_four_digits_is_not_a_year(tmp_path, year):
    # before: a TypeError or OverflowError traceback from the nullable integer cast
    df = read_delimited(write(tmp_path, "a.tsv", f"y\n1995\n{year}\n"))
    with pytest.raises(InputError, match=r"not a (year|number)") as caught:
        to_year(df, "y")
    assert caught.value.line == 3
    assert to_year(df, "y", strict=False).isna().tolist() == [False, True]


def test_a_utf16_file_is_named_as_such(tmp_path):
    # before: a field name full of NUL characters in the error
    path = write(tmp_path, "a.tsv", "\ufeffid\tv\n1\ta\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        read_delimited(path)
