"""Reading delimited files into string tables whose rows remember their file and line.

Every table read here has the private columns ``_file`` and ``_line`` (1-based, header = line
1) of :mod:`graph_schema.validate`, so any later check names where a bad value came from. The
fast path is pandas' C parser; rows with the wrong number of fields, bytes that are not UTF-8
and non-numeric numbers are located exactly on the (rare) error path.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from graph_schema.errors import InputError
from graph_schema.names import PROPERTY_RULE, is_property_name
from graph_schema.validate import FILE, LINE, plain, where
from loaders.report import LoadReport

log = logging.getLogger(__name__)

CHUNK_ROWS = 200_000
MAX_YEAR = 9999
_UNIT_SEPARATOR = "\x1f"  # stands in for a multi-character separator such as MovieLens' `::`


# the first bytes of a compressed file or an archive (never those of text), its kind and what
# opens it: the loaders read text files, and such bytes read as text are no encoding's
_COMPRESSED = (
    (b"\x1f\x8b", "gzip-compressed", "gunzip"),
    (b"PK\x03\x04", "a zip archive", "unzip"),
    (b"\xfd7zXZ\x00", "xz-compressed", "unxz"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "unzstd"),
)


def read_bytes(path: str | Path) -> bytes:
    """The bytes of ``path``; an error naming it when it is missing, a folder, empty, or
    compressed (gzip, bzip2, xz, zstd, a zip archive), not text."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", file=str(path))
    if path.is_dir():
        raise InputError("is a folder, not a file", file=str(path))
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError("the file is empty", file=str(path))
    compressed = [(kind, tool) for magic, kind, tool in _COMPRESSED if raw.startswith(magic)]
    if re.match(rb"BZh[1-9]1AY&SY", raw):
        compressed.append(("bzip2-compressed", "bunzip2"))
    if compressed:
        kind, tool = compressed[0]
        raise InputError(
            f"the file is {kind}, not text: decompress it first ({tool}) and load the file "
            "it holds",
            file=str(path),
        )
    return raw


def header_base(name: str) -> str:
    """A column name without its RecBole type and ``_id`` (or camelCase ``Id``) suffix, lower
    case: ``head_id:token`` and ``headId`` are ``head``."""
    name = re.sub(r"(?<=[a-z])I[dD]$", "", name.split(":", 1)[0].strip())
    return name.lower().removesuffix("_id")


def read_delimited(
    path: str | Path,
    *,
    sep: str = "\t",
    header: bool | None = True,
    names: Sequence[str] | None = None,
    quoted: bool = False,
    encoding: str = "utf-8",
    floats: Collection[str] | Callable[[list[str]], Collection[str]] = (),
    aliases: Mapping[str, Collection[str]] | None = None,
    encoding_option: str | None = None,
) -> pd.DataFrame:
    """Read a delimited text file: every column a string, except ``floats`` (float64; or a
    function of the column names that says which).

    ``header``: True, the first line names the columns; False, there is none and ``names`` does;
    None, the first line is a header if its names match ``names`` or their ``aliases`` (other
    names of a column, lower case; matching ignores case, RecBole types and ``_id`` suffixes),
    and ``names`` are used either way. ``quoted``: fields may be in double
    quotes (CSV); otherwise quotes are data. Blank lines are skipped. Raises InputError for a
    missing, empty or compressed file (:func:`read_bytes`), an unknown or non-ASCII-compatible
    ``encoding``, bytes not in it, a NUL character anywhere, or a row with the wrong number of
    fields. ``encoding_option``: the
    option that names the encoding (``load table``'s ``--encoding``), which an error for bytes
    not in UTF-8 offers beside saving the file as UTF-8.
    """
    file = str(path)
    check_encoding(encoding, file=file)
    raw = read_bytes(path)
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):  # any name of UTF-8 (u8, UTF8)
        # a byte-order mark is no part of the header; without it utf-8-sig is utf-8 (and would
        # encode the separator with a mark before it)
        raw, encoding = raw.removeprefix(codecs.BOM_UTF8), "utf-8"
    elif raw.startswith(codecs.BOM_UTF8):  # only UTF-8 writes one: in latin-1, "ï»¿" + mojibake
        log.warning("%s starts with a UTF-8 byte-order mark: read as UTF-8, not %s", file, encoding)
        raw, encoding = raw.removeprefix(codecs.BOM_UTF8), "utf-8"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # every other byte NUL: say why
        raise InputError(
            "the file is UTF-16 (it starts with a UTF-16 byte-order mark): convert it to UTF-8",
            file=file,
        )
    written = sep  # the file's separator (sep: the one the parsers split on)
    if len(sep) > 1:
        raw = raw.replace(sep.encode(encoding), _UNIT_SEPARATOR.encode())
        sep = _UNIT_SEPARATOR
    if not (quoted and b'"' in raw):  # (in quotes such a line may be part of a field)
        raw = _blank_whitespace_lines(raw, sep.encode(encoding))
    leading = re.match(rb"[\r\n]*", raw).end()
    offset = raw.count(b"\n", 0, leading)  # blank lines before the first row
    raw = raw[leading:] if leading else raw
    end = raw.find(b"\n")
    first = _split_line(
        raw[: end if end >= 0 else len(raw)].decode(encoding, "replace"), sep, quoted
    )
    fields = first if header else (names or first)  # what names a bad byte's field
    _check_bytes(raw, file, sep, fields, offset, encoding, encoding_option)
    _check_line_ends(raw, file, sep, fields, offset, quoted=quoted)
    if header is None:
        aliases = aliases or {}
        header = (
            names is not None
            and len(first) == len(names)
            and all(
                header_base(f) in {header_base(n), *aliases.get(n, ())}
                for f, n in zip(first, names, strict=True)
            )
        )
        columns = list(names or first)
    elif header:
        columns = [f.strip() for f in first]
    else:
        columns = list(names or [])
    _check_header(columns, file, offset)
    if callable(floats):
        floats = floats(columns)
    if len(first) != len(columns):
        raise _fields_error(file, offset + 1, len(first), columns)
    if quoted and b'"' in raw:
        df = _read_with_csv(raw, file, sep, header, columns, encoding, offset)
        if sep != written:  # a multi-character separator inside quotes is data
            for name in columns:
                df[name] = df[name].str.replace(_UNIT_SEPARATOR, written, regex=False)
    else:
        df = _read_with_pandas(raw, file, sep, header, columns, quoted, encoding, floats, offset)
    if len(df) == 0:
        raise InputError("the file has no data rows", file=file, line=offset + 1)
    for name in floats:
        df[name] = to_float(df, name)
    df.attrs["header"] = bool(header)  # whether the first line was read as a header
    # the header's name of each column (where ``names`` renamed it: ``predicate`` for
    # ``relation``), for messages
    df.attrs["written"] = (
        {c: f.strip() for c, f in zip(columns, first, strict=True)} if header else {}
    )
    return df


def _blank_whitespace_lines(raw: bytes, sep: bytes) -> bytes:
    """``raw`` with its lines of whitespace alone (spaces, tabs; no separator) made blank, as
    an editor leaves them at the end of a file: skipped as blank lines are, not a row of one
    field. The line breaks stay, and with them every line's number."""
    space = [bytes([c]) for c in b" \t\f\v" if bytes([c]) != sep]
    if not any(raw.startswith(c) or b"\n" + c in raw for c in space):  # no line starts so
        return raw
    pattern = rb"(?m)^[" + b"".join(map(re.escape, space)) + rb"]+(?=\r?$)"
    return re.sub(pattern, b"", raw)


def _skips_spaces(sep: str) -> bool:
    """Whether a CSV field's leading spaces are skipped (``skipinitialspace``), so that ``a, "b"``
    reads ``b`` in its quotes: with every separator but a space, where each space separates a
    field (an empty one among two)."""
    return sep != " "


def _split_line(line: str, sep: str, quoted: bool) -> list[str]:
    line = line.rstrip("\r")
    if quoted:
        try:
            return next(csv.reader([line], delimiter=sep, skipinitialspace=_skips_spaces(sep)), [])
        except csv.Error:  # a carriage return outside quotes (an old Mac file)
            pass
    # a carriage return inside the line (outside quotes) ends it here: _check_line_ends then
    # refuses the file naming a field of the header, not one that runs into the next line
    line = line.split("\r", 1)[0]
    if not quoted:
        return line.split(sep)
    return next(csv.reader([line], delimiter=sep, skipinitialspace=_skips_spaces(sep)), [])


def _check_header(columns: list[str], file: str, offset: int) -> None:
    seen: set[str] = set()
    for position, name in enumerate(columns, 1):
        if not name:
            raise InputError(
                f"column {position} of the header has no name", file=file, line=offset + 1
            )
        if name in seen:
            raise InputError(
                "the header names this column twice", file=file, line=offset + 1, field=name
            )
        seen.add(name)


def _fields_error(file: str, line: int, found: int, columns: Sequence[str]) -> InputError:
    field = columns[found] if found < len(columns) else columns[-1]  # first missing, or last
    return InputError(
        f"wrong number of fields: {found}, expected {len(columns)} ({', '.join(columns)})",
        file=file,
        line=line,
        field=field,
    )


def check_encoding(encoding: str, *, file: str | None = None) -> None:
    """``encoding`` must be a known text encoding that writes ASCII as ASCII (utf-8, latin-1,
    cp1252, ...): separators and line breaks are found in the bytes."""
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise InputError(
            f"unknown text encoding {encoding!r} (e.g. utf-8, latin-1, cp1252)",
            file=file,
            field="--encoding",
        ) from None
    sample = "id\t,|:;\r\n"
    try:
        compatible = sample.encode(name).endswith(sample.encode("ascii"))
    except (UnicodeError, LookupError):
        compatible = False
    if not compatible:
        raise InputError(
            f"text encoding {encoding!r} is not supported: the loaders read encodings that write "
            "ASCII as ASCII (utf-8, latin-1, cp1252, ...); convert the file to UTF-8",
            file=file,
            field="--encoding",
        )


def _locate(
    raw: bytes, position: int, sep: str, columns: Sequence[str] | None, offset: int
) -> tuple[int, str | None, int]:
    """Line, field and line start of byte ``position`` of ``raw`` (error path only)."""
    start = raw.rfind(b"\n", 0, position) + 1
    line = offset + raw.count(b"\n", 0, position) + 1
    index = raw.count(sep.encode(), start, position)
    field = columns[index] if columns and index < len(columns) else None
    return line, field, start


def _check_bytes(
    raw: bytes,
    file: str,
    sep: str,
    columns: Sequence[str] | None,
    offset: int,
    encoding: str,
    option: str | None = None,
) -> None:
    """Every byte decodes in ``encoding``, and no value holds a NUL character; ``option``:
    the one that names the encoding, offered where bytes are not UTF-8."""
    utf8 = encoding == "utf-8"  # read_delimited's name of it
    label = "UTF-8" if utf8 else encoding
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line, field, start = _locate(raw, exc.start, sep, columns, offset)
        if not utf8:
            advice = " or give its --encoding"
        elif option:
            advice = (
                f", or name its encoding with {option} (cp1252, as spreadsheets on Windows "
                "save CSV, latin-1, ...)"
            )
        else:
            advice = ""
        raise InputError(
            f"bytes that are not {label} ({raw[exc.start : exc.end]!r} at byte "
            f"{exc.start - start + 1} of the line); save the file as {label}{advice}",
            file=file,
            line=line,
            field=field,
        ) from None
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise _error_at(
            raw,
            nul,
            "a NUL character (\\x00, at byte {byte} of the line): ids and texts may not hold NUL "
            "(is the file UTF-16? convert it to UTF-8)",
            file=file,
            sep=sep,
            columns=columns,
            offset=offset,
        )


def _check_line_ends(
    raw: bytes, file: str, sep: str, columns: Sequence[str] | None, offset: int, *, quoted: bool
) -> None:
    """Lines end in \\n or \\r\\n: a carriage return alone would end a row in pandas' parser
    and not in the line count, splitting a row in two and shifting every line number. In
    ``quoted`` CSV a field in quotes may hold one."""
    if raw.count(b"\r") == raw.count(b"\r\n"):
        return
    lone = np.asarray([m.start() for m in re.finditer(rb"\r(?!\n)", raw)])
    if quoted and b'"' in raw:  # inside quotes after an odd number of them ("" is a pair)
        quotes = np.cumsum(np.frombuffer(raw, dtype=np.uint8) == ord('"'))
        lone = lone[quotes[lone] % 2 == 0]
        if not len(lone):
            return
    raise _error_at(
        raw,
        int(lone[0]),
        "a carriage return (\\r, at byte {byte} of the line) that does not end the line: lines "
        "end in \\n or \\r\\n (an old Mac file? convert its line ends)",
        file=file,
        sep=sep,
        columns=columns,
        offset=offset,
    )


def _error_at(
    raw: bytes,
    position: int,
    message: str,
    *,
    file: str,
    sep: str,
    columns: Sequence[str] | None,
    offset: int,
) -> InputError:
    """``message`` (its ``{byte}``: the byte's place in its line) about byte ``position`` of
    ``raw``, naming the file, line and field it is in."""
    line, field, start = _locate(raw, position, sep, columns, offset)
    return InputError(message.format(byte=position - start + 1), file=file, line=line, field=field)


def _with_source(df: pd.DataFrame, file: str, lines: np.ndarray) -> pd.DataFrame:
    df[FILE] = pd.Categorical.from_codes(np.zeros(len(df), dtype=np.int8), categories=[file])
    df[LINE] = lines
    return df.reset_index(drop=True)


def _read_with_pandas(
    raw: bytes,
    file: str,
    sep: str,
    header: bool,
    columns: list[str],
    quoted: bool,
    encoding: str,
    floats: Collection[str],
    offset: int,
) -> pd.DataFrame:
    """The fast path: pandas' C parser, one row per line (blank lines read, then dropped)."""
    float_columns = [c for c in columns if c in floats]
    options = dict(
        sep=sep,
        header=None,
        names=columns,
        skiprows=1 if header else 0,
        index_col=False,
        keep_default_na=False,
        na_values={c: [""] for c in float_columns},
        quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
        # CSV written `a, "b"`: the spaces after a separator are no part of a field, so that
        # a field in quotes after them is read as one (not as `"b"`, its quotes data)
        skipinitialspace=quoted and _skips_spaces(sep),
        skip_blank_lines=False,
        encoding=encoding,
        engine="c",
    )
    dtypes = {c: ("float64" if c in float_columns else str) for c in columns}
    total = raw.count(b"\n") + (not raw.endswith(b"\n")) - header
    try:
        df = _read_chunks(raw, file, total, dtype=dtypes, **options)
    except pd.errors.ParserError:
        raise _locate_fields_error(raw, file, sep, columns, encoding, offset) from None
    except ValueError:  # a float column holds something else: read it as text, find the row
        df = None
    if df is None or np.isinf(df[float_columns].to_numpy(dtype="float64")).any():
        # as text, the error (to_float's) quotes the value as written ('1e400', not inf)
        df = _read_chunks(raw, file, total, dtype=str, **options)
    lines = np.arange(len(df), dtype=np.int64) + offset + 1 + header
    blank = _blank_rows(df, columns)
    if blank.any():
        df, lines = df[~blank], lines[~blank]
    if not _field_counts_agree(raw, sep.encode(encoding), len(columns)):
        # pandas pads a short row and cuts a long one (after a warning) silently
        raise _locate_fields_error(raw, file, sep, columns, encoding, offset)
    return _with_source(df, file, lines)


def _field_counts_agree(raw: bytes, sep: bytes, columns: int) -> bool:
    """Whether every line that is not blank holds ``columns - 1`` separators."""
    data = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    if len(sep) == 1:
        line_of = np.searchsorted(ends, np.flatnonzero(data == sep[0]))
        counts = np.bincount(line_of, minlength=len(ends) + 1)
    else:
        counts = np.asarray([line.count(sep) for line in raw.split(b"\n")])
    starts = np.r_[0, ends + 1]
    lengths = np.r_[ends, len(data)] - starts
    blank = lengths == 0
    carriage = lengths == 1
    blank[carriage] = data[starts[carriage]] == ord("\r")
    return bool(((counts == columns - 1) | blank).all())


def _read_chunks(raw: bytes, file: str, total: int, **options: object) -> pd.DataFrame:
    chunks = []
    with (
        warnings.catch_warnings(),
        tqdm(total=total, desc=Path(file).name, unit=" rows", disable=None, leave=False) as bar,
    ):
        warnings.simplefilter("ignore", pd.errors.ParserWarning)
        for chunk in pd.read_csv(io.BytesIO(raw), chunksize=CHUNK_ROWS, **options):
            chunks.append(chunk)
            bar.update(len(chunk))
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def _blank_rows(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Rows read from blank lines: every field empty."""
    first = df[columns[0]]
    candidates = (first.isna() | (first == "")).to_numpy(dtype=bool, na_value=True).copy()
    if not candidates.any():
        return candidates
    rest = df.loc[candidates, columns]
    empty = rest.apply(lambda col: col.isna() | (col.astype(str) == "")).all(axis=1)
    candidates[candidates] = empty.to_numpy()
    return candidates


def _locate_fields_error(
    raw: bytes,
    file: str,
    sep: str,
    columns: list[str],
    encoding: str,
    offset: int,
) -> InputError:
    """The error for the first line with the wrong number of fields (error path only)."""
    for number, line in enumerate(raw.decode(encoding, "replace").split("\n"), offset + 1):
        if line.rstrip("\r") and line.count(sep) != len(columns) - 1:
            return _fields_error(file, number, line.count(sep) + 1, columns)
    return InputError("the file could not be parsed", file=file)


def _read_with_csv(
    raw: bytes, file: str, sep: str, header: bool, columns: list[str], encoding: str, offset: int
) -> pd.DataFrame:
    """Quoted CSV whose fields may hold separators or line breaks: Python's csv module, which
    knows the line each record starts on."""
    # lines end at "\n" alone (a "\r" in quotes is data); a quote left open is an error
    source = io.StringIO(raw.decode(encoding), newline="\n")
    # (spaces after a separator skipped, as _read_with_pandas skips them)
    reader = csv.reader(source, delimiter=sep, strict=True, skipinitialspace=_skips_spaces(sep))
    rows: list[list[str]] = []
    lines: list[int] = []
    end = 0
    records = iter(tqdm(reader, desc=Path(file).name, unit=" rows", disable=None, leave=False))
    while True:
        start = end + 1
        try:
            row = next(records)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(
                f"this record is not valid CSV ({exc}): a quote left open or misplaced?",
                file=file,
                line=offset + start,
            ) from None
        end = reader.line_num
        if header and start == 1:
            continue
        if not any(row) or (len(row) == 1 and row[0].isspace()):  # blank, or whitespace alone
            continue
        if len(row) != len(columns):
            raise _fields_error(file, offset + start, len(row), columns)
        rows.append(row)
        lines.append(offset + start)
    df = pd.DataFrame(rows, columns=columns, dtype=str)
    return _with_source(df, file, np.asarray(lines, dtype=np.int64))


def to_float(df: pd.DataFrame, name: str, *, field: str | None = None) -> pd.Series:
    """Column ``name`` as float64 (empty = null); InputError at the first non-number, naming
    the column ``field`` (the file's name of it; default ``name``)."""
    column = df[name]
    if column.dtype == "float64":
        values = column
        bad = np.isinf(values.to_numpy())
    else:
        text = column.astype("string").str.strip()
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = (values.isna() & text.fillna("").ne("")).to_numpy() | np.isinf(values.to_numpy())
    if bad.any():
        position = int(np.argmax(bad))
        raise InputError(
            # a value as Python writes it (-inf, True), not numpy's np.float64(-inf), np.True_
            f"not a number: {plain(column.iloc[position])!r}"
            + (" (infinite)" if np.isinf(values.iloc[position]) else ""),
            field=field or name,
            **where(df, position),
        )
    return values


# Bounds of interaction values (README, "Loading data"). Ratings are scores or counts (plays,
# clicks): never negative, and small enough that sums and squares stay finite in float32.
RATING_RANGE = (0.0, 1e9)
# Timestamps are seconds since 1970-01-01 UTC, from 1900-01-01 to 2200-01-01.
SECONDS_RANGE = (-2_208_988_800.0, 7_258_118_400.0)
# A column whose values all lie here (1973-03-03 to 2200-01-01 in milliseconds; as seconds,
# beyond the year 5000) holds milliseconds: it is divided by 1000, with a counted warning.
MILLISECONDS_RANGE = (1e11, SECONDS_RANGE[1] * 1000)


def check_interactions(
    df: pd.DataFrame, report: LoadReport, *, names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """``df`` with its ``rating`` and ``timestamp`` (float64) checked against the bounds above,
    and a timestamp column in milliseconds converted to seconds (counted in ``report``).

    ``names``: the file's name of each column, for error messages (default: the same name).
    """
    names = names or {}
    for name in ("rating", "timestamp"):
        if name in df and df[name].dtype != "float64":
            df = df.assign(**{name: to_float(df, name, field=names.get(name, name))})
    if "rating" in df:
        low, high = RATING_RANGE
        values = df["rating"].to_numpy(dtype="float64", na_value=np.nan)
        bad = (values < low) | (values > high)
        if bad.any():
            position = int(np.argmax(bad))
            raise InputError(
                f"rating {float(values[position])!r} is out of range: a rating is a number "
                f"from {low:,.0f} to {high:,.0f} (shift a scale with negative values)",
                field=names.get("rating", "rating"),
                **where(df, position),
            )
    if "timestamp" in df:
        values = df["timestamp"].to_numpy(dtype="float64", na_value=np.nan)
        known = ~np.isnan(values)
        low, high = SECONDS_RANGE
        outside = known & ((values < low) | (values > high))
        ms_low, ms_high = MILLISECONDS_RANGE
        if outside.any() and ((values[known] >= ms_low) & (values[known] <= ms_high)).all():
            report.warn(
                "timestamps in milliseconds, divided by 1000 (file "
                f"{where(df, 0)['file']}, column {names.get('timestamp', 'timestamp')})",
                int(known.sum()),
            )
            return df.assign(timestamp=df["timestamp"] / 1000.0)
        if outside.any():
            position = int(np.argmax(outside))
            raise InputError(
                f"timestamp {float(values[position])!r} is out of range: timestamps are "
                "seconds since 1970-01-01 UTC from 1900 to 2200 (a column wholly in "
                "milliseconds is converted)",
                field=names.get("timestamp", "timestamp"),
                **where(df, position),
            )
    return df


def to_year(
    df: pd.DataFrame,
    name: str,
    *,
    strict: bool = True,
    field: str | None = None,
    part: pd.Series | None = None,
) -> pd.Series:
    """Column ``name`` as a nullable integer year (``1995`` or ``1995.0``; empty = null).

    Not ``strict``: a value that is not a whole number (``unknown``) becomes null, logged.
    ``field``: the file's name of the column (``release_year:token``), for messages (default:
    ``name``). ``part`` (not ``strict``): the part of each value that holds the year, where
    the value holds more (ml-100k's release date ``01-Jan-1995``); messages quote the value.
    """
    field = field or name
    text = (df[name] if part is None else part).astype("string").str.strip()
    if strict:
        values = to_float(df, name, field=field)
    else:
        values = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = (values.notna() & ((values != values.round()) | (values.abs() > MAX_YEAR))).to_numpy()
    if strict and bad.any():
        position = int(np.argmax(bad))
        raise InputError(
            f"not a year (a whole number up to {MAX_YEAR}): {df[name].iloc[position]!r}",
            field=field,
            **where(df, position),
        )
    unknown = (values.isna() & text.fillna("").ne("")).to_numpy()
    if not strict and (unknown | bad).any():
        position = int(np.argmax(unknown | bad))
        log.warning(
            "%s: %d value(s) of %s are not years and are left unknown (first: line %s, %r)",
            where(df, position)["file"],
            int((unknown | bad).sum()),
            field,
            where(df, position)["line"],
            df[name].iloc[position],
        )
        values = values.mask(bad)
    return values.astype("Int64")


def split_tokens(column: pd.Series, sep: str | None = None) -> pd.Series:
    """Each value split into a list of tokens (on whitespace by default), each token stripped
    (``Action, Comedy`` on ``,``: ``Action`` and ``Comedy``); null/empty -> []."""
    text = column.astype("string").fillna("")
    parts = text.str.split(sep) if sep is not None else text.str.split()
    return parts.map(
        lambda tokens: [t.strip() for t in tokens if t.strip()] if isinstance(tokens, list) else []
    )


def read_columns(
    path: str | Path,
    names: tuple[str, ...],
    *,
    sep: str | None = None,
    aliases: Mapping[str, Collection[str]] | None = None,
) -> pd.DataFrame:
    """A table with or without a header, such as triples (head, relation, tail) or links
    (item_id, entity_id): a first line that names the columns (or their ``aliases``) is a
    header. The separator is :func:`separator`'s."""
    sep = sep or separator(path)
    return read_delimited(
        path, sep=sep, header=None, names=names, quoted=is_quoted(path, sep), aliases=aliases
    )


# the columns of a user-link file (``--user-links``), and the other names its header may give
# them, matched as a header's names are (:func:`header_base`: ``userId sameAs``, as ``user_id
# same_as``; before, that header was read as a link of a user "userId")
USER_LINK_COLUMNS = ("user_id", "same_as")
USER_LINK_HEADER = {"same_as": ("sameas",)}


def read_user_links(path: str | Path) -> pd.DataFrame:
    """The pairs (user_id, same_as) of a user-link file, a header optional."""
    return read_columns(path, USER_LINK_COLUMNS, aliases=USER_LINK_HEADER)


def separator(path: str | Path) -> str:
    """``,`` for ``.csv`` files (fields may be quoted), else a tab (quotes are data)."""
    return "," if str(path).lower().endswith(".csv") else "\t"


def is_quoted(path: str | Path, sep: str) -> bool:
    """Fields may be in double quotes in a ``.csv`` file, whatever its separator (``;`` CSV
    as spreadsheets write it in many locales), and in any file read with ``,``; elsewhere
    quotes are data."""
    return sep == "," or str(path).lower().endswith(".csv")


def check_attributes(df: pd.DataFrame, columns: Collection[str], *, line: int | None = 1) -> None:
    """Attribute ``columns`` must be property-safe names (they become node properties)."""
    for name in columns:
        if not is_property_name(name):
            raise InputError(
                f"an attribute column name must be {PROPERTY_RULE} (rename the column)",
                field=str(name),
                **{**where(df, 0), "line": line},
            )


def require_columns(
    df: pd.DataFrame, columns: Collection[str], *, file: str, line: int | None = 1
) -> None:
    """The file must have ``columns`` (named in its header)."""
    for name in columns:
        if name not in df:
            raise InputError("a required column is missing", file=file, line=line, field=name)
