"""Generic tables: CSV, TSV or Parquet files of interactions, items, users or entities.

Columns are mapped by name (defaults: ``user_id``, ``item_id``, ``rating``, ``timestamp``,
``title``, ``year``, ``genres``, ``entity_id``, ``name``; a default column the file lacks is
simply absent, a column named explicitly must exist, and so must an entities table's name).
Other item and user columns are kept as attributes; other interaction and entity columns are
ignored. In a Parquet file, "line" means the 1-based row number.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from graph_schema.errors import InputError, few
from graph_schema.merge import as_text, decoded
from graph_schema.tables import GraphTables
from graph_schema.validate import FILE, LINE, PRIVATE, plain, where
from loaders.build import Parts, build
from loaders.files import (
    SECONDS_RANGE,
    check_attributes,
    check_encoding,
    check_interactions,
    is_quoted,
    read_delimited,
    read_user_links,
    separator,
    split_tokens,
    to_float,
    to_year,
)
from loaders.options import KINDS
from loaders.report import LoadReport
from loaders.rules import DomainRule

log = logging.getLogger(__name__)

PARQUET_SUFFIXES = (".parquet", ".pq")


def load(
    path: str | Path,
    *,
    kind: str,
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
    title_col: str | None = None,
    year_col: str | None = None,
    genres_col: str | None = None,
    genres_sep: str | None = None,
    entity_col: str | None = None,
    name_col: str | None = None,
    sep: str | None = None,
    encoding: str = "utf-8",
    domain: str | None = None,
    domain_rule: DomainRule | None = None,
    held_domains: Collection[str] | None = None,
    user_links: str | Path | None = None,
    report: LoadReport | None = None,
    new_items: Callable[[list[str]], Collection[str]] | None = None,
) -> GraphTables:
    """The canonical tables of one table file of ``kind`` interactions, items, users or
    entities (``entity_col``, default ``entity_id``, and ``name_col``, default ``name``: the
    entities' names, which ``kgrec explain`` and the entity texts of ``kgrec embed`` show in
    place of their ids; an entity no triple names yet is an entity of its name alone).

    ``sep``: the separator of a text file (default ``,`` for ``.csv``, else a tab); a ``,``
    file may quote fields. Timestamps are numbers (seconds, or milliseconds when the whole
    column is) or ISO 8601 dates. ``genres``: text split on ``genres_sep`` (None: ``|``), or a
    list column (Parquet ``list<string>``) taken as it is; a separator given with another kind
    than items is refused, as the other options a kind does not read are. Bounds:
    :func:`loaders.files.check_interactions`.

    ``held_domains``: the domains the store the load goes to holds items of (None: not
    checked); an item ``domain_rule`` puts in another is an error at its row
    (:func:`loaders.build.build`).

    ``new_items``: which of some item uids would be new items of a domain the store the load
    goes to holds items of (None: not checked); the rows naming them are counted in a warning
    per domain, as ``kgrec load kg`` counts linked items the store does not hold.
    """
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}", field="--kind")
    if genres_sep == "":
        raise InputError(
            "the genres separator may not be empty (it would split names into letters)",
            field="--genres-sep",
        )
    if sep is not None and (not sep or "\n" in sep or "\r" in sep):
        # not the default in disguise (an empty --sep= read as none given), nor a line break
        raise InputError(
            "the field separator may not be empty (leave --sep out for the default: , for "
            ".csv, else a tab)"
            if not sep
            else f"the field separator may not hold a line break ({sep!r}): lines end rows",
            file=str(path),
            field="--sep",
        )
    if kind == "users" and (domain is not None or domain_rule is not None):
        raise InputError(
            "a domain places items: a table of users has none (load its items with it)",
            file=str(path),
            field="--domain-rule" if domain_rule is not None else "--domain",
        )
    if kind == "interactions" and domain_rule is not None:  # it keeps no item column
        raise InputError(
            "a domain rule places items by their attributes: a table of interactions has "
            "none (load the items table with the rule, --kind items, and the interactions "
            "with --domain NAME, the domain of their items)",
            file=str(path),
            field="--domain-rule",
        )
    given = {
        "--user-col": user_col,
        "--item-col": item_col,
        "--rating-col": rating_col,
        "--timestamp-col": timestamp_col,
        "--title-col": title_col,
        "--year-col": year_col,
        "--genres-col": genres_col,
        "--genres-sep": genres_sep,
        "--domain": domain,
        "--domain-rule": domain_rule,
        "--user-links": user_links,
        "--entity-col": entity_col,
        "--name-col": name_col,
    }
    _refuse_options(path, kind, given)
    for option, column in given.items():
        if option.endswith("-col") and column == "":
            # not the default in disguise: an empty --user-col= was read as none given
            raise InputError(
                f"a column name may not be empty (leave {option} out for the default column)",
                file=str(path),
                field=option,
            )
    genres_sep = "|" if genres_sep is None else genres_sep  # given only where the kind reads it
    check_encoding(encoding, file=str(path))
    report = report if report is not None else LoadReport()
    df = read_table(path, sep=sep, encoding=encoding)
    columns = {
        "interactions": {
            "user_id": (user_col, True),
            "item_id": (item_col, True),
            "rating": (rating_col, False),
            "timestamp": (timestamp_col, False),
        },
        "items": {
            "item_id": (item_col, True),
            "title": (title_col, False),
            "year": (year_col, False),
            "genres": (genres_col, False),
        },
        "users": {"user_id": (user_col, True)},
        # the name is what a table of entities gives: a file without it would load nothing
        "entities": {"entity_id": (entity_col, True), "name": (name_col, True)},
    }[kind]
    names = {target: source or target for target, (source, _) in columns.items()}
    df = _map_columns(df, columns, kind=kind)
    single = ["user_id", "item_id", "title", "entity_id"]
    if kind == "entities":  # an item's or user's name is an attribute, kept as the file holds it
        single.append("name")
    for name in single:
        if name in df:
            _check_single_values(df, name, field=names.get(name, name))
            column = df[name]
            if pd.api.types.is_float_dtype(column):  # Parquet ids as floats: 1.0 is the id "1"
                column = column.map(as_text, na_action="ignore")
            df[name] = column.astype("string")
    # the kind's own columns; of another kind's name (an items file's `rating`, a users file's
    # `year`), a column is an attribute, kept as the file holds it
    if "rating" in df and "rating" in names:
        df["rating"] = to_float(df, "rating", field=names["rating"])
    if "timestamp" in df and "timestamp" in names:
        df["timestamp"] = to_timestamp(df, "timestamp", field=names["timestamp"])
    if kind == "interactions":
        df = check_interactions(df, report, names=names)
    if "year" in df and "year" in names:
        df["year"] = to_year(df, "year", strict=False, field=names["year"])
    if "genres" in df and "genres" in names:
        df["genres"] = to_genres(df, "genres", genres_sep, field=names["genres"])
    parts = Parts(**{kind: df})
    if user_links is not None:
        parts.user_links = read_user_links(user_links)
    tables = build(
        parts,
        domain=domain,
        rule=domain_rule,
        held_domains=held_domains,
        names={kind: names},
        report=report,
    )
    # items with titles are a catalogue's new items (late items: the way to add them); an
    # untitled items file (attributes) or interactions naming ones the store lacks: a typo?
    typo = kind == "interactions" or (kind == "items" and "title" not in df)
    if new_items is not None and typo:
        _warn_new_items(df, tables, kind, new_items)
    return tables


# the options of `load table` each kind reads (besides --sep and --encoding; the command
# itself checks --new-domain and --clear-empty): the others are refused with it
_OPTIONS = {
    "interactions": (
        "--user-col",
        "--item-col",
        "--rating-col",
        "--timestamp-col",
        "--domain",
        "--user-links",
    ),
    "items": (
        "--item-col",
        "--title-col",
        "--year-col",
        "--genres-col",
        "--genres-sep",
        "--domain",
        "--domain-rule",
    ),
    "users": ("--user-col", "--user-links"),
    "entities": ("--entity-col", "--name-col"),
}
# what a kind does with the columns its options do not choose
_OTHER_COLUMNS = {
    "interactions": "its other columns are ignored",
    "items": "its other columns are kept as attributes",
    "users": "its other columns are kept as attributes",
}


def _refuse_options(path: str | Path, kind: str, given: dict[str, object]) -> None:
    """An error naming the first option of ``given`` (option -> its value, None where not
    given) that a table of ``kind`` does not read (:data:`_OPTIONS`), as a table of users
    refuses ``--domain``: a table of entities reads its entity and name columns alone, the
    other kinds read no entity names, and each reads the columns of its own rows alone (a
    table of users no ``--title-col``, one of interactions no ``--genres-col``)."""
    for option, value in given.items():
        if value is None or option in _OPTIONS[kind]:
            continue
        reads = ", ".join((*_OPTIONS[kind], "--sep", "--encoding"))
        if kind == "entities":
            raise InputError(
                f"a table of entities gives entities their names: it reads no {option} "
                f"(its options: {reads})",
                file=str(path),
                field=option,
            )
        if option in _OPTIONS["entities"]:
            raise InputError(
                f"{option} chooses a column of a table of entities (--kind entities), which "
                f"gives entities their names; a table of {kind} has none",
                file=str(path),
                field=option,
            )
        raise InputError(
            f"a table of {kind} reads no {option} (its options: {reads}; {_OTHER_COLUMNS[kind]})",
            file=str(path),
            field=option,
        )


def _warn_new_items(
    df: pd.DataFrame,
    tables: GraphTables,
    kind: str,
    new_items: Callable[[list[str]], Collection[str]],
) -> None:
    """A logged WARNING per domain counting the load's items that would be new items of a
    domain the store holds items of (a typo in an id, another catalogue's file), with the first
    row naming one and a few other ids: the load creates them (untitled, when the file has no
    title column)."""
    uids = tables.items["uid"].astype(str)
    new = set(new_items(list(uids)))
    if not new:
        return
    ids = df["item_id"].astype("string").str.strip()
    domain_of = dict(zip(uids, tables.items["domain"].astype(str), strict=True))
    item_of = dict(zip(uids, tables.items["item_id"].astype(str), strict=True))
    rows = "the items file names" if kind == "items" else "the interactions name"
    for domain in sorted({domain_of[u] for u in new}):
        named = {item_of[u] for u in new if domain_of[u] == domain}
        position = int(np.argmax(ids.isin(named).fillna(False).to_numpy(dtype=bool)))
        first = where(df, position)
        others = sorted(named - {str(ids.iloc[position])})
        log.warning(
            "%s %s item%s the store does not hold in the domain %r, each a new item "
            "without a title (first: file %s, line %s, item %r%s)",
            rows,
            f"{len(named):,}",
            "s" if len(named) > 1 else "",
            domain,
            first["file"],
            first["line"],
            ids.iloc[position],
            f"; others {few(others)}" if others else "",
        )


def read_table(
    path: str | Path, *, sep: str | None = None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """A CSV/TSV file (header required) or a Parquet file, with ``_file``/``_line`` columns."""
    if Path(path).suffix.lower() not in PARQUET_SUFFIXES:
        sep = sep or separator(path)
        return read_delimited(
            path,
            sep=sep,
            quoted=is_quoted(path, sep),
            encoding=encoding,
            encoding_option="--encoding",
        )
    file = str(path)
    if not Path(path).is_file():
        raise InputError("no such file", file=file)
    try:
        df = pd.read_parquet(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"not a readable Parquet file ({exc})", file=file) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # pyarrow reads it as it converts
        raise InputError(
            f"not a readable Parquet file (its schema's pandas metadata is not UTF-8 JSON: {exc})",
            file=file,
        ) from None
    if len(df) == 0:
        raise InputError("the file has no data rows", file=file)
    df = df.reset_index(drop=df.index.names == [None])  # a named index is a column (user_id)
    for name in df.columns:
        if isinstance(df[name].dtype, pd.CategoricalDtype):
            # a dictionary-encoded column (pandas writes categoricals so): its values, as the
            # column would be read unencoded, so that they meet the same checks (NUL) and the
            # merge rule types them as what they are (text, numbers), not as categories
            df[name] = decoded(df[name]).infer_objects()
    _check_no_nul(df, file)
    df[FILE] = pd.Categorical.from_codes(np.zeros(len(df), dtype=np.int8), categories=[file])
    df[LINE] = np.arange(1, len(df) + 1)
    return df


def _check_no_nul(df: pd.DataFrame, file: str) -> None:
    """No text value (nor text inside a list value) of a Parquet table holds a NUL character."""
    for name in df.columns:
        column = df[name]
        if not (column.dtype == object or isinstance(column.dtype, pd.StringDtype)):
            continue
        bad = column.map(_has_nul, na_action="ignore").fillna(False).to_numpy(dtype=bool)
        if bad.any():
            raise InputError(
                "a NUL character (\\x00) in a value: ids and texts may not hold NUL",
                file=file,
                line=int(np.argmax(bad)) + 1,
                field=str(name),
            )


def _check_single_values(df: pd.DataFrame, name: str, *, field: str) -> None:
    """An id or title is one value: a list or a record (a Parquet ``list<...>`` or struct
    column) is refused, naming its row and the column as the file does, never stored as the
    text of the list (``"['Toy' 'Story']"``)."""
    column = df[name]
    if column.dtype != object:
        return
    many = column.map(lambda v: isinstance(v, list | tuple | dict | np.ndarray), na_action="ignore")
    many = many.fillna(False).to_numpy(dtype=bool)
    if many.any():
        position = int(np.argmax(many))
        what = {"title": "a title", "name": "a name"}.get(name, "an id")
        raise InputError(
            f"a list or record is not {what}: {_plain_value(column.iloc[position])!r} (an id, a "
            "title or a name is one value: a text or a number)",
            field=field,
            **where(df, position),
        )


def _plain_value(value: object) -> object:
    """A Parquet list value as a Python list (``['a', 'b']``, not ``array(['a', 'b'])``)."""
    return value.tolist() if isinstance(value, np.ndarray) else value


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | np.ndarray):
        return any(isinstance(v, str) and "\x00" in v for v in value)
    return False


def to_genres(df: pd.DataFrame, name: str, sep: str, *, field: str) -> pd.Series:
    """Column ``name`` as lists of genre names: a list column (Parquet ``list<string>``) as it
    is, text split on ``sep``; null/empty -> []. Never the text of a list (``"['Drama' ...]"``).
    """
    column = df[name]
    lists = column.map(lambda v: isinstance(v, list | tuple | np.ndarray), na_action="ignore")
    lists = lists.fillna(False).to_numpy(dtype=bool)
    if not lists.any():
        return split_tokens(column, sep)
    other = ~lists & column.notna().to_numpy()
    if other.any():
        position = int(np.argmax(other))
        raise InputError(
            f"a list column holds a value that is not a list: {column.iloc[position]!r}",
            field=field,
            **where(df, position),
        )
    return column.map(
        lambda v: [str(g).strip() for g in v if g is not None and str(g).strip()],
        na_action="ignore",
    ).map(lambda v: v if isinstance(v, list) else [])


def _option(target: str) -> str:
    """The ``load table`` option that chooses the column of ``target``."""
    return f"--{target.removesuffix('_id').replace('_', '-')}-col"


# separators a header of one column may hold, with the --sep that splits it (a shell's quoting)
LIKELY_SEPARATORS = ((";", "';'"), ("\t", "$'\\t'"), ("|", "'|'"), (",", ","))


def _columns_hint(df: pd.DataFrame, *, text: bool) -> str:
    """What a missing column's error adds: the file's columns, or, where a text file's header
    is one column holding a likely separator (a ``;`` CSV read with ``,``), that separator's
    ``--sep``."""
    columns = [str(c) for c in df.columns if c not in PRIVATE]
    if text and len(columns) == 1:
        for sep, quoted in LIKELY_SEPARATORS:
            if sep in columns[0]:
                return (
                    f"; its header is one column, {columns[0]!r}: are its fields separated by "
                    f"{sep!r}? give --sep {quoted}"
                )
    shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
    return f"; the file's columns: {shown}"


def _map_columns(
    df: pd.DataFrame, columns: dict[str, tuple[str | None, bool]], *, kind: str
) -> pd.DataFrame:
    """Rename the mapped columns to canonical names; keep the others (attributes of items and
    users) or drop them (those of interactions and entities, which have no attributes)."""
    keep_others = kind in ("items", "users")
    file = str(where(df, 0)["file"])
    header = None if file.lower().endswith(PARQUET_SUFFIXES) else 1
    renames = {}
    for target, (source, required) in columns.items():
        name = source or target
        if name in renames:  # two options name one column: one would silently win
            raise InputError(
                f"{_option(renames[name])} and {_option(target)} name the same column",
                file=file,
                line=header,
                field=name,
            )
        if name in df:
            renames[name] = target
        elif source is not None or required:
            raise InputError(
                f"a required column is missing (choose the column with {_option(target)}"
                f"{_columns_hint(df, text=header is not None)})",
                file=file,
                line=header,
                field=name,
            )
    others = [c for c in df.columns if c not in renames and c not in PRIVATE]
    clashes = [c for c in others if c in columns or c in ("uid", "domain", "item_uid")]
    if keep_others and clashes:
        raise InputError(
            "this column name is taken by a mapped column or the loader; rename it",
            file=file,
            line=header,
            field=clashes[0],
        )
    if others and not keep_others:  # an interactions or entities table: their values are lost
        unread = [t for t, (source, _) in columns.items() if source is None and t not in df]
        meant = [f"{_option(t)} {c}" for c in others for t in unread if str(c).lower() == t.lower()]
        log.warning(
            "%s: ignoring columns %s, whose values are not loaded (an %s table's "
            "columns are chosen with %s)%s",
            file,
            ", ".join(map(str, others)),
            kind,
            ", ".join(_option(t) for t in columns),
            f"; {', '.join(meant)} to read {'them' if len(meant) > 1 else 'it'}?" if meant else "",
        )
        df = df.drop(columns=others)
    elif others:
        check_attributes(df, others, line=header)
    return df.rename(columns=renames)


# the ISO 8601 forms pandas reads (format="ISO8601"), which a refused date's error names
ISO_FORMS = (
    "a calendar date, 2020-01-31 or 2020-01, with or without a time, 2020-01-31T10:00:00.5 "
    "or 2020-01-31 10:00, and a Z or an offset, +05:30; week dates, 2020-W05-5, and ordinal "
    "dates, 2020-031, are not read"
)


def to_timestamp(df: pd.DataFrame, name: str, *, field: str | None = None) -> pd.Series:
    """Column ``name`` as float seconds: numbers as they are, else ISO 8601 dates (UTC) of the
    forms :data:`ISO_FORMS` names; errors name the column ``field`` (the file's name of it;
    default ``name``)."""
    field = field or name
    column = df[name]
    if pd.api.types.is_numeric_dtype(column):
        return to_float(df, name, field=field)
    text = column.astype("string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    dates = pd.to_datetime(text.where(numbers.isna()), format="ISO8601", utc=True, errors="coerce")
    # the epoch in seconds: in nanoseconds it would overflow for a date past 2262 (9999-12-31)
    epoch = pd.Timestamp(0, tz="UTC").as_unit("s")
    seconds = numbers.fillna((dates - epoch) / pd.Timedelta(seconds=1))
    bad = (seconds.isna() & text.fillna("").ne("")).to_numpy() | np.isinf(seconds.to_numpy())
    if bad.any():
        position = int(np.argmax(bad))
        raise InputError(
            f"not a number (seconds) nor an ISO 8601 date of the forms read: "
            f"{plain(column.iloc[position])!r} ({ISO_FORMS})",
            field=field,
            **where(df, position),
        )
    # a date is in seconds: out of range, it must not pass for milliseconds (9999-12-31)
    low, high = SECONDS_RANGE
    outside = (dates.notna() & numbers.isna() & ((seconds < low) | (seconds > high))).to_numpy()
    if outside.any():
        position = int(np.argmax(outside))
        raise InputError(
            f"date {column.iloc[position]!r} is out of range: dates are from 1900 to 2200",
            field=field,
            **where(df, position),
        )
    return seconds.astype("float64")
