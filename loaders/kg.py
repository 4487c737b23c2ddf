"""Knowledge-graph triple files: head, relation, tail (TSV, or CSV by extension; header optional:
a first line whose fields name the columns, as :data:`TRIPLE_HEADER` spells them, is a header).

With a link file (item_id, entity_id; a header optional, detected as the triples' is, with the
other names of :data:`LINK_HEADER`), an entity tied to an item *is* that item: its triples attach
to the Item of the load's domain (created if the store does not have it yet).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import pandas as pd

from graph_schema.errors import InputError
from graph_schema.tables import GraphTables
from graph_schema.validate import where
from loaders.build import DEFAULT_DOMAIN, Parts, build
from loaders.files import header_base, read_columns
from loaders.report import LoadReport

log = logging.getLogger(__name__)

TRIPLE_COLUMNS = ("head", "relation", "tail")
# the other names a header may give the triple columns (any case; RecBole's `head_id:token`
# matches `head`): subject predicate object, source relation target, h r t, s p o
TRIPLE_HEADER = {
    "head": ("subject", "source", "h", "s"),
    "relation": ("predicate", "property", "r", "p"),
    "tail": ("object", "target", "t", "o"),
}
# the words of a column's name (``head_entity``, ``src``, ``fromNode``, ``edge_type``): a first
# line of other names than TRIPLE_HEADER's is refused as a likely header only where every
# field is made of these (:func:`_check_first_triple`)
COLUMN_WORDS = frozenset(
    {name for names in TRIPLE_HEADER.values() for name in names if len(name) > 1}
    | set(TRIPLE_COLUMNS)
    | {"entity", "node", "vertex", "item", "id", "name", "label", "type", "kind", "uri", "iri"}
    | {"subj", "pred", "verb", "obj", "rel", "relationship", "link", "edge", "attribute"}
    | {"attr", "value", "src", "dst", "dest", "destination", "origin", "from", "to", "start"}
    | {"end", "in", "out", "token"}
)
LINK_COLUMNS = ("item_id", "entity_id")
# the other names a link file's header may give its columns, matched as TRIPLE_HEADER's are
# (`movie_id freebase_id`, `movieId`, RecBole's `item_id:token entity_id:token`)
LINK_HEADER = {
    "item_id": ("movie", "film", "book", "product", "song", "track", "music", "artist", "poi"),
    "entity_id": ("freebase", "wikidata", "wiki", "dbpedia", "kg", "kb", "mid", "qid", "uri"),
}


def load(
    path: str | Path,
    *,
    links: str | Path | None = None,
    domain: str | None = None,
    report: LoadReport | None = None,
    held: Callable[[list[str]], Collection[str]] | None = None,
) -> GraphTables:
    """The canonical tables of a triple file and optional link file; linked items go to
    ``domain`` (default ``"default"``).

    ``held``: which of some item uids the store the load goes to holds (None: not checked).
    With it, linked items the store does not hold are counted in a logged WARNING (each becomes
    a new item; after the build, so that a load refused for another reason warns of nothing),
    and a first line that is not a known header, names such an item and an entity the
    triples do not name, while a later line names a held item, is an error: a header with
    other names (``iid eid``). A new item on the first line linked to an entity of the
    triples is a link."""
    report = report if report is not None else LoadReport()
    parts = Parts(triples=read_columns(path, TRIPLE_COLUMNS, aliases=TRIPLE_HEADER))
    if links is not None:
        parts.links = read_columns(links, LINK_COLUMNS, aliases=LINK_HEADER)
        _check_swapped_link_header(parts.links)
    _check_first_triple(parts.triples, parts.links)
    # messages name a column as a header does (predicate, freebase_id), or as kgrec does
    names = {"triples": parts.triples.attrs["written"]}
    if parts.links is not None:
        names["links"] = parts.links.attrs["written"]
    tables = build(parts, domain=domain, report=report, names=names)
    if parts.links is not None and held is not None:
        _check_linked_items(
            parts.links, parts.triples, DEFAULT_DOMAIN if domain is None else domain, held
        )
    return tables


def _names_a_column(field: str) -> bool:
    """Whether ``field`` reads as a column's name: words (split at spaces, ``_ - . :`` and
    camelCase) all of :data:`COLUMN_WORDS`, so no digit (``head_entity``, ``Relation Type``,
    ``tailNode``, ``src``; not ``film:1``, ``Alice`` nor ``directed_by``)."""
    words = re.split(r"[\s_.:\-]+|(?<=[a-z])(?=[A-Z])", field.strip())
    words = [w.lower() for w in words if w]
    return bool(words) and all(w in COLUMN_WORDS for w in words)


def _check_swapped_link_header(links: pd.DataFrame) -> None:
    """A first link line that is no header but names the columns in the other order
    (``entity_id item_id``, ``freebase_id movie_id``: each field one of :data:`LINK_HEADER`'s
    names of the other column) is refused: read as data, it would be a link of its own and
    every later line read the wrong way round (items named by the entity ids), silently."""
    if links.attrs.get("header") or not len(links):
        return
    first = [str(links[c].iloc[0]) for c in LINK_COLUMNS]
    names = {c: {header_base(c), *LINK_HEADER[c]} for c in LINK_COLUMNS}
    entity_first, item_second = first
    if (
        header_base(entity_first) in names["entity_id"]
        and header_base(item_second) in names["item_id"]
    ):
        raise InputError(
            f"the first line ({entity_first!r}, {item_second!r}) names the columns in the other "
            "order: a link file's columns are item_id then entity_id; swap the columns (every "
            "line's), else each line would link an item named by its entity",
            field=LINK_COLUMNS[0],
            **where(links, 0),
        )


def _check_first_triple(triples: pd.DataFrame, links: pd.DataFrame | None) -> None:
    """A first line that is no known header (``head_entity relation tail_entity``, ``src rel
    dst``), whose every field reads as a column's name (:func:`_names_a_column`) and which
    shares nothing with the rest of the file, whose relation no later line uses and whose ends
    no later line nor any link names, is refused as a likely header of other names: loaded, it
    would be a triple of its own, its names a relation and two entities. A first triple that
    shares nothing but is data (``film:9 directed_by person:3``) is a triple; one alone so whose
    fields read as names goes below a header of the names the README lists."""
    if triples.attrs.get("header") or len(triples) < 2:
        return
    text = {c: triples[c].astype("string").str.strip() for c in TRIPLE_COLUMNS}
    head, relation, tail = (text[c].iloc[0] for c in TRIPLE_COLUMNS)
    if pd.isna(head) or pd.isna(relation) or pd.isna(tail):
        return  # an empty field: an error of build's
    if not all(_names_a_column(field) for field in (head, relation, tail)):
        return
    named = set(pd.concat([text["head"].iloc[1:], text["tail"].iloc[1:]]).dropna())
    if links is not None:
        named |= set(links["entity_id"].astype("string").str.strip().dropna())
    if relation in set(text["relation"].iloc[1:].dropna()) or named & {head, tail}:
        return
    raise InputError(
        f"the first line ({head!r}, {relation!r}, {tail!r}) shares nothing with the others: no "
        "later line uses its relation or names its ends, nor does a link, and its fields read "
        "as column names: a header? Name its columns head, relation and tail (the README lists "
        "the names read as a header) or delete it. If it is a triple, put a header line head, "
        "relation, tail above it",
        field=TRIPLE_COLUMNS[0],
        **where(triples, 0),
    )


def _check_linked_items(
    links: pd.DataFrame,
    triples: pd.DataFrame,
    domain: str,
    held: Callable[[list[str]], Collection[str]],
) -> None:
    ids = links["item_id"].astype("string").str.strip().fillna("")
    uids = (domain + ":" + ids).astype(object)
    known = set(held(list(dict.fromkeys(uids[ids != ""]))))
    new = (~uids.isin(known) & (ids != "")).to_numpy(dtype=bool)  # empty: an error in build
    if not new.any():
        return
    first = where(links, 0)
    entity = str(links["entity_id"].iloc[0]).strip()
    named = {str(e).strip() for e in pd.concat([triples["head"], triples["tail"]]).dropna()}
    if new[0] and not links.attrs.get("header") and not new[1:].all() and entity not in named:
        raise InputError(
            f"the first line links item {links['item_id'].iloc[0]!r}, which the store does not "
            f"hold in the domain {domain!r} (later lines link items it holds), to {entity!r}, "
            "which no triple names: a header? Name "
            "its columns item_id and entity_id (the README lists the names read as a header) "
            "or delete it; a link to a new item goes below such a header",
            field=LINK_COLUMNS[0],
            **first,
        )
    position = int(np.argmax(new))
    count = uids[new].nunique()
    log.warning(
        "the links name %s item%s the store does not hold in the domain %r, each a new item "
        "(first: file %s, line %s, item %r)",
        f"{count:,}",
        "s" if count > 1 else "",
        domain,
        first["file"],
        where(links, position)["line"],
        links["item_id"].iloc[position],
    )
