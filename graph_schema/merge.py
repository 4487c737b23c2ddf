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
booleans as ``"true"``/``"false"``); a column of numbers only stays numeric (integers when every
value is integral, else floats); list values stay lists.
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
        values = df[name]
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
    if isinstance(value, list | tuple | np.ndarray):
        return len(value) == 0
    return False


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


def holds_text(values: pd.Series) -> bool:
    """Whether any present value of ``values`` is text."""
    if isinstance(values.dtype, pd.StringDtype):
        return bool(values.notna().any())
    if values.dtype != object:
        return False
    return any(isinstance(v, str) for v in values.dropna())


def unify_attribute(values: pd.Series) -> pd.Series:
    """One attribute column with one type (see the module's rule), index reset to 0..n-1.

    Text anywhere makes the column text (``string`` dtype); numbers only give ``Int64`` or
    ``Float64``; list values become Python lists (with Python scalars).
    """
    values = values.reset_index(drop=True)
    if values.dtype == object:
        present = values.dropna()
        if len(present) and isinstance(present.iloc[0], list | tuple | np.ndarray):
            return pd.Series(
                [_list(v) for v in values], dtype=object, index=values.index, name=values.name
            )
        if holds_text(values):
            return text_column(values)
    return values.convert_dtypes()


def text_column(values: pd.Series) -> pd.Series:
    """``values`` as a ``string`` column, numbers written as text by the module's rule."""
    if isinstance(values.dtype, pd.StringDtype):
        return values
    out = [None if _missing(v) else as_text(v) for v in values]
    return pd.Series(out, dtype="string", index=values.index, name=values.name)


def _missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _list(value: object) -> list | None:
    if _missing(value):
        return None
    if isinstance(value, str):  # a bare string is one element, not its characters
        return [value]
    return [v.item() if isinstance(v, np.generic) else v for v in value]
