"""RecBole atomic files: ``<name>.inter``, ``.item``, ``.user``, ``.kg``, ``.link``.

Tab-separated, UTF-8, a header naming each column ``name:type`` with types ``token``,
``token_seq`` (space-separated tokens), ``float`` and ``float_seq``. Known columns are mapped
to the canonical tables (user_id, item_id, rating, timestamp; item title from ``movie_title``,
year from ``release_year``, genres from ``class``/``genre``; ``head_id``, ``relation_id``,
``tail_id``; ``entity_id``); other item and user columns are kept as attributes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from graph_schema.errors import InputError
from graph_schema.merge import as_text
from graph_schema.tables import DOMAIN_PATTERN, GraphTables
from graph_schema.validate import PRIVATE, path_argument
from loaders.build import Parts, build
from loaders.files import (
    check_attributes,
    check_interactions,
    read_delimited,
    read_user_links,
    require_columns,
    split_tokens,
    to_float,
    to_year,
)
from loaders.report import LoadReport
from loaders.rules import DomainRule

log = logging.getLogger(__name__)

SUFFIXES = ("inter", "item", "user", "kg", "link")
IDS = ("user_id", "item_id", "head", "relation", "tail", "entity_id")  # canonical id columns
TYPES = ("token", "token_seq", "float", "float_seq")

# Per file suffix: RecBole column -> canonical column; the required ones first.
COLUMNS = {
    "inter": {
        "user_id": "user_id",
        "item_id": "item_id",
        "rating": "rating",
        "timestamp": "timestamp",
    },
    "item": {
        "item_id": "item_id",
        "movie_title": "title",
        "title": "title",
        "release_year": "year",
        "year": "year",
        "class": "genres",
        "genre": "genres",
        "genres": "genres",
        "entity_id": "entity_id",
    },
    "user": {"user_id": "user_id"},
    "kg": {"head_id": "head", "relation_id": "relation", "tail_id": "tail"},
    "link": {"item_id": "item_id", "entity_id": "entity_id"},
}
REQUIRED = {
    "inter": ("user_id", "item_id"),
    "item": ("item_id",),
    "user": ("user_id",),
    "kg": ("head_id", "relation_id", "tail_id"),
    "link": ("item_id", "entity_id"),
}
_PART = {
    "inter": "interactions",
    "item": "items",
    "user": "users",
    "kg": "triples",
    "link": "links",
}


def atomic_files(path: str | Path) -> tuple[str, dict[str, Path]]:
    """The dataset name and its atomic files, given a folder (``ml-100k/``), a prefix
    (``data/ml-100k``) or one of the files (one that is missing is an error, not the others
    read without it)."""
    path = Path(path)
    if path.is_dir():
        prefix = path.resolve() / path.resolve().name
    elif path.suffix.lstrip(".") in SUFFIXES:
        prefix = path.with_suffix("")
    else:
        prefix = path
    found = {s: prefix.with_name(f"{prefix.name}.{s}") for s in SUFFIXES}
    found = {s: p for s, p in found.items() if p.is_file()}
    named = not path.is_dir() and path.suffix.lstrip(".") in SUFFIXES  # one file named
    if found and named and not path.is_file():
        raise InputError(
            f"no such file (the dataset {prefix.name!r} has "
            f"{', '.join('.' + s for s in found)} here: give its prefix {prefix} to load them "
            "without it)",
            file=str(path),
        )
    if not found:
        raise InputError(
            f"no RecBole atomic files ({', '.join('.' + s for s in SUFFIXES)}) here"
            + (_other_names(path) if path.is_dir() else ""),
            file=f"{prefix}.*",
        )
    return prefix.name, found


def _other_names(folder: Path) -> str:
    """What to say of a folder whose atomic files are named after another dataset (ml-100k's
    files copied into ``mykg/``): a folder's files are read by its own name, as RecBole reads
    them, so it names those datasets and the prefix to give."""
    names = sorted(
        {f.stem for f in folder.iterdir() if f.suffix.lstrip(".") in SUFFIXES and f.is_file()}
    )
    if not names:
        return ""
    listed = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
    return (
        f"; the folder holds the atomic files of {listed}, and a folder is read by its own "
        f"name: give the prefix {folder / names[0]} (or one of its files)"
    )


def read_atomic(path: str | Path, suffix: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """One atomic file as a parsed table with canonical column names where known, and the
    header's name of each of its columns (``genres`` -> ``class:token_seq``), for messages."""
    file = str(path)

    def floats(columns: list[str]) -> list[str]:  # ids stay text: see _float_ids
        split = [c.partition(":") for c in columns]
        # an .inter's, .kg's or .link's other columns are ignored: their values not read
        kept = suffix in ("item", "user")
        return [
            f"{n}:{k}"
            for n, _, k in split
            if k == "float" and COLUMNS[suffix].get(n) not in IDS and (kept or n in COLUMNS[suffix])
        ]

    df = read_delimited(path, floats=floats)
    names, types = {}, {}
    for column in df.columns.drop(list(PRIVATE)):
        name, _, kind = column.partition(":")
        kind = kind or "token"
        if kind not in TYPES:
            raise InputError(
                f"unknown RecBole type {kind!r} (types: {', '.join(TYPES)})",
                file=file,
                line=1,
                field=column,
            )
        if name in types:
            raise InputError("the header names this column twice", file=file, line=1, field=name)
        names[column], types[name] = name, kind
    df = df.rename(columns=names)
    header = {name: column for column, name in names.items()}
    mapping = COLUMNS[suffix]
    keep_attributes = suffix in ("item", "user")
    # a known column in other case would be dropped (or, in an .item or .user, kept as an
    # attribute of that name): its values lost, or a required column missed
    _refuse_case_variants(types, header, mapping, file, kept=keep_attributes)
    require_columns(df, REQUIRED[suffix], file=file)
    for name, kind in types.items():  # an id is one value: a sequence of them names no node
        target = COLUMNS[suffix].get(name)
        if not kind.endswith("_seq") or target not in (*IDS, "rating", "timestamp"):
            continue
        raise InputError(
            f"the id column {name!r} is declared {kind!r}: ids are token (or float)"
            if target in IDS
            else f"the column {name!r} is declared {kind!r}: a {target} is one number (float)",
            file=file,
            line=1,
            field=f"{name}:{kind}",
        )
    attributes = [n for n in types if n not in mapping]
    if attributes and not keep_attributes:
        log.warning(
            "%s: ignoring columns %s, whose values are not loaded (a .%s file's columns: %s)",
            file,
            ", ".join(header[n] for n in attributes),
            suffix,
            ", ".join(mapping),
        )
        df = df.drop(columns=attributes)
        attributes = []
    check_attributes(df, attributes)
    out, headers = {}, {}
    for name in df.columns:
        if name in PRIVATE:
            out[name] = df[name]
            continue
        target = mapping.get(name, name)
        if target in out:  # an .item's movie_title and title: the second is not loaded
            log.warning(
                "%s: columns %s and %s both give the item's %s: reading %s, ignoring %s, "
                "whose values are not loaded (rename it to keep it as an attribute)",
                file,
                headers[target],
                header[name],
                target,
                headers[target],
                header[name],
            )
            continue
        out[target] = _convert(df, name, target, types[name], header[name])
        headers[target] = header[name]
    # attrs: the header, where errors point
    return pd.DataFrame(out).__finalize__(df), headers


def _refuse_case_variants(
    types: dict[str, str], header: dict[str, str], mapping: dict[str, str], file: str, *, kept: bool
) -> None:
    """An error at the first column of the header that is no column of the file's kind but
    one in other case (``Rating:float``, ``User_ID:token``, ``Entity_ID:token``) which the
    header lacks, nor another column of its value (``Title`` beside ``movie_title`` is an
    attribute): RecBole's names are case-sensitive, and the column would be dropped or kept as
    an attribute (``kept``; its values lost) or missed."""
    given = {mapping[n] for n in types if n in mapping}
    for name, kind in types.items():
        if name in mapping:
            continue
        meant = [
            known
            for known in mapping
            if known.lower() == name.lower() and mapping[known] not in given
        ]
        if meant:
            raise InputError(
                f"the column {header[name]!r} is no column kgrec reads (it would be "
                + ("kept as an attribute of that name" if kept else "dropped, with its values")
                + f"); RecBole's names are case-sensitive: {meant[0]}:{kind} was meant?",
                file=file,
                line=1,
                field=header[name],
            )


def _convert(df: pd.DataFrame, name: str, target: str, kind: str, field: str) -> pd.Series:
    """Column ``name`` of ``kind`` as the values of ``target``; ``field``: the header's name
    of it (``release_year:token``), for messages."""
    column = df[name]
    if target in IDS and kind == "float":
        return _float_ids(df, name)
    if target == "year":
        return to_year(df, name, strict=kind == "float", field=field)
    if target == "genres":
        return split_tokens(column)  # genre names hold no spaces (`Sci-Fi`, `Children's`)
    if target == "title" or kind in ("token", "float"):
        return column
    if kind == "token_seq":
        return split_tokens(column)
    return _float_lists(df, name, field)


def _float_ids(df: pd.DataFrame, name: str) -> pd.Series:
    """An id column declared ``float``: numbers (a non-number names its line and the column
    as the header writes it), each the id a Parquet float column gives it, the id a ``token``
    column gives its text when that is written alike: ``1`` and ``1.0`` -> ``"1"``, ``2.50`` ->
    ``"2.5"``; a whole number from 2**53 on keeps its text as written (no digit lost). An
    empty value stays empty (null), as in a ``token`` column: no id (not ``"nan"``)."""
    values = to_float(df, name, field=f"{name}:float").to_numpy()
    text = df[name].astype("string").str.strip()
    lossy = (values == np.round(values)) & (np.abs(values) >= 2**53)
    ids = pd.Series(
        [pd.NA if np.isnan(v) else as_text(v) for v in values], index=df.index, dtype="string"
    )
    return ids.where(~lossy, text)


def _float_lists(df: pd.DataFrame, name: str, field: str) -> pd.Series:
    """A ``float_seq`` column as lists of floats (a non-number names its line, and the column
    as the header does, ``field``)."""
    tokens = split_tokens(df[name]).explode()
    exploded = df.loc[tokens.index, list(PRIVATE)].assign(**{name: tokens.to_numpy()})
    values = to_float(exploded.reset_index(drop=True), name, field=field)
    values.index = tokens.index
    lists = {row: group.dropna().tolist() for row, group in values.groupby(level=0)}
    return pd.Series(lists, dtype=object).reindex(df.index)


def load(
    path: str | Path,
    *,
    domain: str | None = None,
    domain_rule: DomainRule | None = None,
    user_links: str | Path | None = None,
    report: LoadReport | None = None,
) -> GraphTables:
    """The canonical tables of a RecBole dataset (whichever atomic files exist).

    ``domain`` defaults to the dataset name (``ml-100k``) unless ``domain_rule`` splits the
    items into domains. ``user_links``: a file of (user_id, same_as) pairs joining user ids.
    """
    path_argument(path, "path")  # "": the working folder
    path_argument(user_links, "--user-links")
    name, found = atomic_files(path)
    if domain is None and domain_rule is None and not DOMAIN_PATTERN.fullmatch(name):
        # the default domain is no option the user gave: say where it came from, before the parse
        raise InputError(
            f"the domain defaults to the dataset name {name!r}, which is no domain name (a "
            f"domain matches {DOMAIN_PATTERN.pattern}): name the domain with --domain",
            file=str(next(iter(found.values()))),
            field="--domain",
        )
    report = report if report is not None else LoadReport()
    read = {s: read_atomic(p, s) for s, p in found.items()}
    parts = Parts(**{_PART[s]: df for s, (df, _) in read.items()})
    # messages name a column as its file's header does (class:token_seq, not genres)
    headers = {s: names for s, (_, names) in read.items()}
    if parts.interactions is not None:
        parts.interactions = check_interactions(parts.interactions, report, names=headers["inter"])
    if user_links is not None:
        parts.user_links = read_user_links(user_links)
    if domain is None and domain_rule is None:
        domain = name
    names = {_PART[s]: h for s, h in headers.items()}
    return build(parts, domain=domain, rule=domain_rule, names=names, report=report)
