"""The merge rule: how rows and attribute columns of several loads become one table.

Both the loaders (duplicates inside one load, :func:`loaders.merge_tables`) and the stores
(a load merged into what they hold, :mod:`kgrec.store.canonical`) call these functions, so a
graph merged in memory, in a LocalStore or in Neo4j is the same graph.

Rows: rows with the same key are one row; per column, the last value that is not missing wins,
so a load that lacks an attribute never erases it (:func:`merge_rows`). Empty text (or only
whitespace) and empty lists outside the key count as missing there (:func:`blank_as_missing`),
so an empty field never erases a value either; it is kept only where the key has no other.

Attribute columns whose type differs across loads (:func:`unify_attribute`): a column that
holds text in any row is a text column, its numbers written as text (an integral number as its
digits, ``24.0`` -> ``"24"``; any other number as Python's shortest repr, ``2.5`` -> ``"2.5"``;
booleans as ``"true"``/``"false"``); so is a column that holds both booleans and numbers. A
column of numbers only stays numeric (integers when every value is integral, else floats), and
one of booleans only stays boolean. A column that holds a list in any row is a list column: a single
value there is a list of one, and text anywhere (a value or an element) makes every element text
by the same rule (:func:`attribute_kind`, :func:`as_attribute`); its numbers are integers where
every one in the column is whole, else floats, as in a column of numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from graph_schema.tables import TableSpec


def merge_rows(df: pd.DataFrame, key: list[str]) -> tuple[pd.DataFrame, int]:
    """Merge rows with the same ``key``: per column the last value that is not missing wins
    (empty text and lists outside the key count as missing, :func:`blank_as_missing`, unless
    the key has no other value).

    Returns the merged table and how many rows were merged into another.
    """
    duplicated = df.duplicated(key, keep=False).to_numpy()
    if not duplicated.any():
        return df, 0
    repeated = df[duplicated]
    groups = dict(by=key, sort=False, dropna=False)
    merged = blank_as_missing(repeated, key).groupby(**groups).last()
    merged = merged.combine_first(repeated.groupby(**groups).last())
    merged = merged.reset_index()[df.columns]
    merged = merged.astype(df.dtypes.to_dict())
    out = pd.concat([df[~duplicated], merged], ignore_index=True)
    return out, len(repeated) - len(merged)


def blank_as_missing(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """``df`` with empty text (or only whitespace) and empty lists outside the ``key``
    columns as missing values (a copy where any changes)."""
    out = df
    for name in df.columns:
        if name in key or str(name).startswith("_"):
            continue
        values = decoded(df[name])
        if isinstance(values.dtype, pd.StringDtype):
            blank = (values.str.strip() == "").fillna(False).to_numpy(dtype=bool)
        elif values.dtype == object:
            blank = np.fromiter((_blank(v) for v in values), dtype=bool, count=len(values))
        else:
            continue
        if blank.any():
            out = out.copy() if out is df else out
            out[name] = values.mask(blank)
    return out


def _blank(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return _is_list(value) and len(value) == 0


def merge_frames(frames: list[pd.DataFrame], spec: TableSpec) -> pd.DataFrame:
    """Frames of one table (several loads, earliest first) as one: rows merged by the spec's key
    (:func:`merge_rows`), attribute columns typed by :func:`unify_attribute`. Spec columns keep
    the frames' dtypes; the index is 0..n-1."""
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame({name: [] for name in spec.key})
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    df, _ = merge_rows(df.reset_index(drop=True), list(spec.key))
    df = df.reset_index(drop=True)
    known = {c.name for c in spec.columns}
    columns = {
        name: df[name] if name in known or str(name).startswith("_") else unify_attribute(df[name])
        for name in df.columns
    }
    return pd.DataFrame(columns, index=df.index)


def as_text(value: object) -> str:
    """A scalar attribute value as text, by the rule of this module."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def unify_attribute(values: pd.Series) -> pd.Series:
    """One attribute column with one type (see the module's rule), index reset to 0..n-1.

    Lists anywhere make the column lists (of Python scalars); text anywhere makes it text
    (``string`` dtype), or its elements text; numbers only give ``Int64`` or ``Float64``.
    """
    values = values.reset_index(drop=True)
    lists, text = attribute_kind(values)
    return as_attribute(values, lists=lists, text=text)


def attribute_kind(values: pd.Series) -> tuple[bool, bool]:
    """Whether the column is a list column, and whether it is a text column (or its lists'
    elements text): the two facts the module's rule types a column by."""
    return column_type(value_kinds(values))


def column_type(kinds: set[str]) -> tuple[bool, bool]:
    """(lists, text) of a column whose values are of ``kinds`` (:func:`value_kinds`): lists if
    any value is a list; text if any value or element is text, or if booleans and numbers
    meet (neither type holds the other)."""
    return "list" in kinds, "text" in kinds or {"boolean", "number"} <= kinds


def value_kinds(values: pd.Series) -> set[str]:
    """What the present values of ``values`` are: any of ``"list"``, and of ``"text"``,
    ``"boolean"`` and ``"number"`` (a value, or an element of a list)."""
    values = decoded(values)
    if isinstance(values.dtype, pd.StringDtype):
        return {"text"} if values.notna().any() else set()
    if values.dtype != object:
        if not values.notna().any():
            return set()
        return {"boolean"} if pd.api.types.is_bool_dtype(values.dtype) else {"number"}
    kinds: set[str] = set()
    for value in values:
        if _is_list(value):
            kinds.add("list")
            kinds.update(_scalar_kind(v) for v in value)
        else:
            kinds.add(_scalar_kind(value))
    kinds.discard("")
    return kinds


def _scalar_kind(value: object) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if _missing(value):
        return ""
    return "number"


def as_attribute(
    values: pd.Series, *, lists: bool, text: bool, fractions: bool | None = None
) -> pd.Series:
    """``values`` typed by the module's rule, given what the whole column holds (which may be
    more than ``values``: a store's other rows); the index is kept. The numbers in a column of
    lists are integers where every one is whole, else floats, as a column of numbers is:
    ``fractions``, whether the whole column's lists hold a number that is not whole (None:
    whether ``values``' do)."""
    values = decoded(values)
    if lists:
        out = [_list(v, text) for v in values]
        if not text:
            if fractions is None:
                fractions = any(not _whole(x) for v in out if v for x in v if is_number(x))
            out = [None if v is None else [_typed_number(x, fractions) for x in v] for v in out]
        return pd.Series(out, dtype=object, index=values.index, name=values.name)
    if text:
        return text_column(values)
    try:
        out = values.convert_dtypes()
    except (OverflowError, TypeError):  # pandas before 3.1: an integer beyond 64 bits
        return values  # as pandas 3.1 leaves it (objects), for the 64-bit check to name
    if isinstance(out.dtype, pd.Float64Dtype):
        # typed by its values, not by the dtype that held them: whole numbers in a Float64
        # column (a stored one whose fractions a load replaced, 2.5 -> 30) are integers, as
        # pandas types them in any other column (and Neo4j's snapshot reads them)
        floats = out.to_numpy(dtype="float64", na_value=np.nan)
        out = pd.Series(floats, index=out.index, name=out.name).convert_dtypes()
    return out


def text_column(values: pd.Series) -> pd.Series:
    """``values`` as a ``string`` column, numbers written as text by the module's rule."""
    if isinstance(values.dtype, pd.StringDtype):  # "string", or pandas' default "str"
        return values.astype("string")
    out = [None if _missing(v) else as_text(v) for v in values]
    return pd.Series(out, dtype="string", index=values.index, name=values.name)


def decoded(values: pd.Series) -> pd.Series:
    """``values``, or the values of a categorical column (objects): a category is its value
    (text, a number), never a type of its own. The merge rule reads columns so, and the table
    loader so reads a Parquet file's dictionary-encoded columns (:func:`loaders.table.read_table`).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.astype(object)
    return values


def _missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def is_number(value: object) -> bool:
    """Whether ``value`` is a number, Python's or numpy's (not a boolean, not text)."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _whole(value: float) -> bool:
    """Whether a number is an integer pandas' Int64 holds (``convert_dtypes`` types a column
    of such floats as integers)."""
    if isinstance(value, int):
        return True
    return value.is_integer() and -(2**63) <= value < 2**63


def _typed_number(value: object, fractions: bool) -> object:
    """A list element: a number as a float where its column holds fractions, else as an
    integer (a whole number beyond 64 bits as it is); anything else as it is."""
    if not is_number(value):
        return value
    if fractions or not _whole(value):
        return float(value)
    return int(value)


def _list(value: object, text: bool) -> list | None:
    if not _is_list(value) and _missing(value):
        return None
    elements = value if _is_list(value) else [value]  # a single value is a list of one
    # a missing element is left out (not the text "None"; Neo4j's lists hold no null), and a
    # list of missing elements alone is missing
    out = [v.item() if isinstance(v, np.generic) else v for v in elements if not _missing(v)]
    if not out and len(elements):
        return None
    return [as_text(v) for v in out] if text else out
