"""Validation of the canonical tables against their specs (:mod:`graph_schema.tables`).

Errors are :class:`graph_schema.errors.InputError` naming the file, line and field. While a loader
builds a table, each row keeps where it came from in two private columns, ``_file`` and
``_line`` (1-based, header = line 1), so a problem found after parsing still names its source;
:func:`strip_private` drops them before the tables leave the loader.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# re-exported: defined here until session 46
from graph_schema.arguments import id_argument as id_argument
from graph_schema.arguments import id_arguments as id_arguments
from graph_schema.arguments import path_argument as path_argument
from graph_schema.errors import InputError
from graph_schema.names import PROPERTY_RULE, is_property_name
from graph_schema.tables import DOMAIN_PATTERN, SPECS, GraphTables, TableSpec

FILE = "_file"
LINE = "_line"
PRIVATE = (FILE, LINE)
KNOWLEDGE_KINDS = ("Item", "Entity")


def cast_spec_columns(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """``df`` with the spec's columns first, cast to the spec's dtypes (absent optional columns
    added as nulls), then its other columns (attributes, private columns) unchanged, rows and
    index as they are.

    What a loader needs while it still tracks where rows came from; the form in which stores
    keep tables (attributes typed by the merge rule, rows sorted) is
    :func:`kgrec.store.canonical.stored_form`."""
    columns: dict[str, pd.Series] = {}
    for column in spec.columns:
        if column.name in df:
            columns[column.name] = _cast(df[column.name], column.dtype)
        elif not column.required:
            columns[column.name] = _nulls(df.index, column.dtype)
    rest = {name: df[name] for name in df.columns if name not in columns}
    return pd.DataFrame({**columns, **rest}, index=df.index)


def _nulls(index: pd.Index, dtype: str) -> pd.Series:
    if dtype.startswith("list<"):
        return pd.Series([None] * len(index), index=index, dtype=object)
    return pd.Series(index=index, dtype=dtype)


def _cast(series: pd.Series, dtype: str) -> pd.Series:
    if dtype.startswith("list<"):
        return series.astype(object)
    if (
        dtype == "string"
        and isinstance(series.dtype, pd.StringDtype)
        and series.dtype.na_value is pd.NA
    ):
        return series
    return series.astype(dtype)


def isin(values: pd.Series, accepted: pd.Series) -> np.ndarray:
    """Whether each of ``values`` is one of ``accepted`` (Arrow's hash kernel: pandas' ``isin``
    is several times slower on Arrow-backed strings); nulls are never in."""
    found = pc.is_in(pa.array(values, from_pandas=True), value_set=pa.array(accepted.dropna()))
    return found.to_numpy(zero_copy_only=False) & values.notna().to_numpy()


def strip_private(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without the private provenance columns, with a fresh 0..n-1 index."""
    return df.drop(columns=[c for c in PRIVATE if c in df]).reset_index(drop=True)


def where(df: pd.DataFrame, position: int, file: str | None = None) -> dict[str, object]:
    """``file`` and ``line`` of the row at ``position`` (from the private columns, if kept)."""
    found: dict[str, object] = {"file": file, "line": None}
    if FILE in df:
        found["file"] = str(df[FILE].iloc[position])
    if LINE in df:
        found["line"] = int(df[LINE].iloc[position])
    return found


def validate_table(df: pd.DataFrame, spec: TableSpec, *, file: str | None = None) -> None:
    """Raise :class:`InputError` unless ``df`` is a valid ``spec`` table.

    Checks: required columns present and never empty, no unknown columns (attributes only where
    the spec allows them, with property-safe names), dtypes as specified, list columns holding
    lists, floats finite or null, keys unique, domain names matching ``DOMAIN_PATTERN``,
    knowledge kinds ``Item``/``Entity``, item uids equal to ``<domain>:<item_id>``.
    """
    for name in spec.required:
        if name not in df:
            raise InputError(f"the {spec.name} table has no column {name!r}", file=file, field=name)
    known = {c.name for c in spec.columns}
    for name in df.columns:
        if name in known or name in PRIVATE:
            continue
        if not spec.extra_columns:
            raise InputError(f"unexpected column in the {spec.name} table", file=file, field=name)
        if not is_property_name(name):
            raise InputError(
                f"an attribute name must be {PROPERTY_RULE}",
                file=file,
                field=str(name),
            )
        _check_attribute_values(df, str(name), file)
    for column in spec.columns:
        if column.name in df:
            _check_column(df, spec, column.name, column.dtype, column.required, file)
    _check_unique(df, spec, file)
    if "domain" in df:
        _check_values(df, "domain", _bad_domains(df["domain"]), "not a valid domain name", file)
    if spec.name == "knowledge":
        for name in ("head_kind", "tail_kind"):
            bad = ~df[name].isin(KNOWLEDGE_KINDS)
            _check_values(df, name, bad, f"must be one of {KNOWLEDGE_KINDS}", file)
    if spec.name == "items":
        bad = (df["uid"] != df["domain"] + ":" + df["item_id"]).fillna(True)
        _check_values(df, "uid", bad, "an item's uid must be '<domain>:<item_id>'", file)


def _check_column(
    df: pd.DataFrame, spec: TableSpec, name: str, dtype: str, required: bool, file: str | None
) -> None:
    series = df[name]
    if not _has_dtype(series, dtype):
        raise InputError(
            f"column of the {spec.name} table has dtype {series.dtype}, expected {dtype}",
            file=file,
            field=name,
        )
    missing = series.isna()
    if dtype == "string":
        missing |= (series == "").fillna(True)
    if required:
        _check_values(df, name, missing, "a required value is empty", file)
    if dtype.startswith("list<"):
        bad = series.map(lambda value: not _is_list_value(value, dtype), na_action="ignore")
        _check_values(df, name, bad.fillna(False).astype(bool), f"must be a {dtype}", file)
    elif dtype == "float64":
        bad = ~np.isfinite(series.to_numpy()) & series.notna().to_numpy()
        _check_values(df, name, pd.Series(bad, index=df.index), "must be a finite number", file)


def _has_dtype(series: pd.Series, dtype: str) -> bool:
    if dtype == "string":
        return isinstance(series.dtype, pd.StringDtype)
    if dtype.startswith("list<"):
        return series.dtype == object
    return str(series.dtype) == dtype


def _is_list_value(value: object, dtype: str) -> bool:
    if not isinstance(value, list | tuple | np.ndarray):
        return False
    if dtype == "list<string>":
        return all(isinstance(v, str) for v in value)
    return all(isinstance(v, int | float | np.floating | np.integer) for v in value)


def _bad_domains(series: pd.Series) -> pd.Series:
    return ~series.astype("string").str.fullmatch(DOMAIN_PATTERN.pattern).fillna(False).astype(bool)


# what an attribute value may be, in both stores: text, a number, a boolean, or a list of them
_SCALARS = (str, int, float, bool, np.integer, np.floating, np.bool_)


def _check_attribute_values(df: pd.DataFrame, name: str, file: str | None) -> None:
    """An attribute holds text, numbers, booleans or lists of them: anything else (a date, a
    decimal, a struct) is stored by one store and refused by Neo4j half-way through a write.
    So is an integer outside 64 bits (a Parquet uint64 from 2**63 on): Neo4j's integers are
    64-bit signed, and its driver refuses to send one."""
    values = df[name]
    if isinstance(values.dtype, pd.StringDtype) or values.dtype.kind in "bf":
        return
    if values.dtype.kind == "u":  # int64 and smaller fit; uint64 from 2**63 does not
        _check_values(df, name, values.gt(INT64_MAX).fillna(False).astype(bool), _TOO_LARGE, file)
    if values.dtype.kind in "iu":
        return
    # value by value (object columns; categories, whose values may be text; dates)
    bad = pd.Series([not _is_attribute_value(v) for v in values], index=values.index, dtype=bool)
    _check_values(
        df,
        name,
        bad,
        "an attribute value must be text, a number, true/false or a list of them",
        file,
    )
    bad = pd.Series([_too_large(v) for v in values], index=values.index, dtype=bool)
    _check_values(df, name, bad, _TOO_LARGE, file)


# Neo4j's integers (and the Bolt protocol's) are 64-bit signed
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_TOO_LARGE = (
    f"an integer attribute value must lie from {INT64_MIN} to {INT64_MAX} (64 bits, as Neo4j "
    "holds integers); write it as text or as a decimal number"
)


def _too_large(value: object) -> bool:
    """Whether ``value`` (an attribute value) is, or holds, an integer outside 64 bits."""
    elements = value if isinstance(value, list | tuple | np.ndarray) else [value]
    return any(
        isinstance(v, int | np.integer)
        and not isinstance(v, bool | np.bool_)
        and not INT64_MIN <= int(v) <= INT64_MAX
        for v in elements
    )


def _is_attribute_value(value: object) -> bool:
    if isinstance(value, _SCALARS) or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return True  # a value, or a missing one (None, NA, NaT)
    if isinstance(value, list | tuple | np.ndarray):
        return all(isinstance(v, _SCALARS) for v in value)
    return False


def _check_values(
    df: pd.DataFrame, name: str, bad: pd.Series, message: str, file: str | None
) -> None:
    """Raise naming the first row where ``bad`` holds."""
    flags = bad.to_numpy(dtype=bool, na_value=True)
    if flags.any():
        position = int(np.argmax(flags))
        value = df[name].iloc[position]
        raise InputError(f"{message}: {value!r}", field=name, **where(df, position, file))


def _check_unique(df: pd.DataFrame, spec: TableSpec, file: str | None) -> None:
    key = list(spec.key)
    again = df.duplicated(key, keep="first").to_numpy()
    if not again.any():
        return
    position = int(np.argmax(again))
    value = tuple(df[key].iloc[position])
    first = int(np.argmax((df[key] == pd.Series(value, index=key)).all(axis=1).to_numpy()))
    earlier = where(df, first, file)["line"]
    also = f" (first at line {earlier})" if earlier is not None else ""
    raise InputError(
        f"duplicate key {value} in the {spec.name} table{also}",
        field=", ".join(key),
        **where(df, position, file),
    )


def validate_graph(graph: GraphTables) -> None:
    """Validate every table, and that the graph is self-contained: interactions and knowledge
    name users, items and entities of its own tables, items name domains of its own."""
    for name, table in graph.tables().items():
        validate_table(table, SPECS[name])
    _check_refs(graph.items, "domain", graph.domains["domain"], "domains")
    _check_refs(graph.interactions, "user_id", graph.users["user_id"], "users")
    _check_refs(graph.interactions, "item_uid", graph.items["uid"], "items")
    knowledge = graph.knowledge
    for end in ("head", "tail"):
        for kind, keys, table in (
            ("Item", graph.items["uid"], "items"),
            ("Entity", graph.entities["entity_id"], "entities"),
        ):
            rows = knowledge[knowledge[f"{end}_kind"] == kind]
            _check_refs(rows, f"{end}_key", keys, table)
    linked = graph.entities["entity_id"].isin(graph.items["entity_id"].dropna())
    _check_values(
        graph.entities,
        "entity_id",
        linked,
        "an entity tied to an item is that item, not an Entity",
        None,
    )


def _check_refs(df: pd.DataFrame, name: str, keys: pd.Series, table: str) -> None:
    missing = pd.Series(~isin(df[name], keys), index=df.index)
    _check_values(df, name, missing, f"names a key that is not in the {table} table", None)


# the values Neo4j indexes (keys, domains, relation names): its index entries hold about 8 KB
MAX_INDEXED_BYTES = 4000
INDEXED_COLUMNS = {
    "users": ("user_id",),
    "items": ("uid", "domain"),
    "entities": ("entity_id",),
    "domains": ("domain",),
    "knowledge": ("relation",),
}


def first_too_long(values: pd.Series, extra: int = 0) -> tuple[int, str, int] | None:
    """(position, text, bytes) of the first of ``values`` whose UTF-8 bytes, with ``extra``
    more (a prefix its key will carry), are over :data:`MAX_INDEXED_BYTES`; None where none
    is."""
    text = values.astype("string")
    # only these may be too long (a character is at most 4 bytes)
    maybe = (text.str.len() > (MAX_INDEXED_BYTES - extra) // 4).fillna(False)
    maybe = maybe.to_numpy(dtype=bool)
    if not maybe.any():
        return None
    size = np.zeros(len(text), dtype=np.int64)
    size[maybe] = [len(v.encode("utf-8")) + extra for v in text[maybe]]
    over = size > MAX_INDEXED_BYTES
    if not over.any():
        return None
    position = int(np.argmax(over))
    return position, text.iloc[position], int(size[position])


def check_indexed_lengths(name: str, table: pd.DataFrame) -> None:
    """InputError for a key or relation name of table ``name`` longer than
    :data:`MAX_INDEXED_BYTES` in UTF-8 (with its file and line, where ``table`` keeps them),
    in every store and at load: Neo4j refuses to index it half-way through a load."""
    for column in INDEXED_COLUMNS.get(name, ()):
        found = first_too_long(table[column])
        if found is not None:
            position, value, size = found
            raise InputError(
                f"table {name!r}: a {column} of {size:,} bytes "
                f"({value[:40]!r}...): at most {MAX_INDEXED_BYTES:,} (Neo4j cannot index more)",
                field=column,
                **where(table, position),
            )


def plain(value: Any) -> Any:
    """``value``, or the Python number a numpy number holds (``np.int64(3)`` from
    ``np.arange``), which kgrec's checks read as that number and JSON can write; a
    ``np.bool_`` is a bool, refused where a bool is. (Here, not in :mod:`kgrec.data.split`, so
    that :mod:`kgrec.explain` takes it without importing torch.)"""
    return value.item() if isinstance(value, np.generic) else value


def count_argument(value: Any, field: str, what: str, *, least: int = 1) -> int:
    """``value``, a count a store's query takes (``k`` paths, a ``limit``), as a Python int
    from ``least`` to :data:`INT64_MAX` (Neo4j's integers: a count past it, sent as a query's
    parameter, was the neo4j driver's bare OverflowError): a numpy integer is the number it holds
    (:func:`plain`), a bool (numpy's too) is refused. Else an InputError naming ``field``:
    ``{what}, at most 2**63 - 1, got ...``."""
    value = plain(value)
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= INT64_MAX:
        raise InputError(f"{what}, at most 2**63 - 1, got {value!r}", field=field)
    return value
