"""From parsed files to one load's canonical tables: the part every loader shares.

A format module parses its files into :class:`Parts` (source-level tables with source column
names mapped, private ``_file``/``_line`` kept); :func:`build` puts the items into domains,
joins user ids, merges duplicates, attaches knowledge triples to items through the links, checks
that every interaction and link names an item, and validates the result before returning it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.extensions import ExtensionArray

from graph_schema.errors import InputError, few
from graph_schema.merge import blank_as_missing, merge_frames, merge_rows
from graph_schema.tables import DOMAIN_PATTERN, KNOWLEDGE, SPECS, UNCLEARABLE, GraphTables
from graph_schema.validate import (
    FILE,
    LINE,
    MAX_INDEXED_BYTES,
    PRIVATE,
    cast_spec_columns,
    check_indexed_lengths,
    first_too_long,
    isin,
    strip_private,
    validate_graph,
    where,
)
from loaders.options import DEFAULT_DOMAIN
from loaders.report import LoadReport
from loaders.rules import DomainRule

log = logging.getLogger(__name__)


@dataclass
class Parts:
    """One load's parsed files. Columns (besides ``_file``/``_line``):

    - interactions: ``user_id``, ``item_id``, optional ``rating``, ``timestamp`` (float64)
    - items: ``item_id``, optional ``title``, ``year`` (Int64), ``genres`` (lists), attributes
    - users: ``user_id``, attributes
    - entities: ``entity_id``, ``name`` (entities' names: ``load table --kind entities``)
    - triples: ``head``, ``relation``, ``tail``
    - links: ``item_id``, ``entity_id``
    - user_links: ``user_id``, ``same_as``
    """

    interactions: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    entities: pd.DataFrame | None = None
    triples: pd.DataFrame | None = None
    links: pd.DataFrame | None = None
    user_links: pd.DataFrame | None = None


def merge_tables(*graphs: GraphTables) -> GraphTables:
    """Several loads as one graph, as a store would merge them (the merge rule of
    :mod:`graph_schema.merge`): rows with the same key become one (per column, the last
    non-null value wins); an attribute that holds text in any load is text."""
    merged = {}
    for name in GraphTables().tables():
        spec = SPECS[name]
        frames = [cast_spec_columns(g.tables()[name], spec) for g in graphs]
        merged[name] = cast_spec_columns(merge_frames(frames, spec), spec)
    graph = GraphTables(**merged)
    validate_graph(graph)
    return graph


def build(
    parts: Parts,
    *,
    domain: str | None = None,
    rule: DomainRule | None = None,
    held_domains: Collection[str] | None = None,
    names: Mapping[str, Mapping[str, str]] | None = None,
    report: LoadReport | None = None,
) -> GraphTables:
    """The canonical tables of one load (validated, private columns dropped).

    Items go to ``domain`` (default ``"default"``) or to the domains of ``rule``;
    ``held_domains``: those the store the load goes to holds items of, the only ones ``rule``
    may put items in (None or none held: any); ``names``: per part (``items``,
    ``interactions``, ...), its file's name of each column where it is not the internal one
    (``load table --genres-col``, a RecBole header's ``class:token_seq``), for messages and the
    domain rule's attribute (default: the same name).
    With an item file, an interaction or link naming an item that is not in it is an error;
    without one, the items are those the interactions and links name. Users are those of the
    user file and those the interactions name.
    """
    report = report if report is not None else LoadReport()
    if domain is not None and rule is not None:
        raise InputError("give either a domain or a domain rule, not both", field="--domain")
    domain = DEFAULT_DOMAIN if domain is None else domain  # "" is no domain: refused below
    if rule is None and not DOMAIN_PATTERN.fullmatch(domain):
        raise InputError(
            f"domain name {domain!r} must match {DOMAIN_PATTERN.pattern}", field="--domain"
        )
    if rule is not None and parts.items is None:
        _refuse_rule_without_items(parts, rule)
    frames = [f for f in vars(parts).values() if f is not None]
    parts = _strip_ids(parts, report)
    report.files = list(dict.fromkeys(str(f) for df in frames for f in df[FILE].cat.categories))
    if parts.interactions is not None:
        report.interaction_files = [str(f) for f in parts.interactions[FILE].cat.categories]
    names = names or {}
    for name, columns in _REQUIRED.items():
        frame = getattr(parts, name)
        if frame is not None:
            _require_values(frame, columns, names.get(name, {}))
            # a rule's domains are known later: there the item id alone
            _check_id_lengths(frame, columns, names.get(name, {}), "" if rule else f"{domain}:")

    interactions, users = parts.interactions, parts.users
    if parts.user_links is not None:
        mapping = _user_mapping(parts.user_links, report)
        named = pd.concat([df["user_id"] for df in (interactions, users) if df is not None])
        joined = int(named[named.isin(mapping.index)].nunique())
        report.users_joined += joined
        if not joined:  # links apply to the ids this load names, not to a store's
            # the file's links (rows, a self-link too): one count for the summary and the log
            count = len(parts.user_links)
            report.warn(
                "the user-link file joined no user id of this load's files (ids loaded "
                "earlier keep theirs: load the links with the files that name the ids); links",
                count,
            )
            # logged too, as it happens: links that did nothing are almost surely a mistake
            log.warning(
                "the user-link file %s joined no user id of this load's files: its %s link%s "
                "did nothing (ids loaded earlier keep theirs: load the links with the files "
                "that name the ids)",
                ", ".join(str(f) for f in parts.user_links[FILE].cat.categories),
                f"{count:,}",
                "s" if count != 1 else "",
            )
        interactions, users = (
            _map_users(df, mapping) if df is not None else None for df in (interactions, users)
        )
    interactions = _dedupe(interactions, ["user_id", "item_id"], "interactions", report)
    users = _dedupe(users, ["user_id"], "users", report)
    if parts.links is not None:
        _check_one_entity_per_item(parts.links, names.get("links", {}))
        _check_one_entity_per_item(parts.links, names.get("links", {}), key="entity_id")
    if parts.items is not None and "entity_id" in parts.items:
        # an item file's entity_id ties as a link does: one entity per item, in both files
        _check_one_entity_per_item(parts.items, names.get("items", {}), verb="tied")
        if parts.links is not None:
            _check_item_file_entities(parts.items, parts.links, names)
    links = _dedupe(parts.links, ["item_id"], "links", report)
    triples = _dedupe(parts.triples, ["head", "relation", "tail"], "knowledge", report)

    items = _items(parts.items, interactions, links, report)
    if rule is not None:
        # the rule may name the column as the file does (load table --genres-col kind: 'kind')
        item_names = names.get("items", {})
        header = 1 if parts.items is not None and parts.items.attrs.get("header") else None
        rule = rule.on_columns(items, item_names, header=header)
        item_domain = rule.assign(items, names=item_names)
        if held_domains:
            field = item_names.get(rule.attribute, rule.attribute)
            _check_held_domains(items, item_domain, rule.attribute, field, held_domains)
    else:
        item_domain = pd.Series(domain, index=items.index, dtype="string")
    uids = (item_domain + ":" + items["item_id"].astype("string")).array  # null: left out
    item_file = parts.items[FILE].iloc[0] if parts.items is not None else None
    tables = GraphTables()
    if interactions is not None:
        item_uid = _item_uids(
            interactions, items["item_id"], uids, item_file, names.get("interactions", {})
        )
        interactions = _left_out(interactions, item_uid, "interactions", report)
        tables.interactions = interactions.drop(columns="item_id")
    if links is not None:
        link_uid = _item_uids(links, items["item_id"], uids, item_file, names.get("links", {}))
        _left_out(links, link_uid, "links", report)  # counted
        entity_of = pd.Series(links["entity_id"].to_numpy(), index=links["item_id"].to_numpy())
        linked = items["item_id"].map(entity_of).astype("string")
        if "entity_id" in items:
            linked = linked.fillna(items["entity_id"].astype("string"))
        items = items.assign(entity_id=linked)
    uid = pd.Series(uids, index=items.index)
    entity_fields = {
        part: names.get(part, {}).get("entity_id", "entity_id") for part in ("items", "links")
    }
    report.tied_at = _tie_rows(items, links, uid, entity_fields)
    # entity_id -> uid of the item the entity is (null: the rule left the item out), from the
    # links and from an item file's entity_id column alike
    item_of = _item_of(items, uid, entity_fields["items"])
    if triples is not None:
        triples = _drop_left_entities(triples, item_of.index[item_of.isna()], report)
    items = items.assign(domain=item_domain)
    tables.items = _left_out(items, uid, "items", report).rename(columns={"item_uid": "uid"})
    tables.domains = pd.DataFrame({"domain": sorted(tables.items["domain"].unique())})
    tables.users = _users(users, interactions)
    report.empty = {
        kind: _empty_values(rows, file.columns, key)
        for kind, rows, file, key in (
            ("Item", tables.items, parts.items, "uid"),
            ("User", users, parts.users, "user_id"),
        )
        if file is not None
    }
    if triples is not None:
        tables.knowledge, tables.entities = _knowledge(triples, item_of.dropna(), report)
    if parts.entities is not None:  # entities the file names, beside those triples name
        named = _dedupe(parts.entities, ["entity_id"], "entities", report)
        # an empty name (or blanks) is no name: an id of none gives its entity nothing, as an
        # empty name leaves a stored one; loaded, it would be an entity of no name, no triple
        nameless = blank_as_missing(named[["name"]], [])["name"].isna().to_numpy(dtype=bool)
        if nameless.any():  # first: the file's first row of such an id (merged ones go last)
            rows = isin(parts.entities["entity_id"], named["entity_id"][nameless])
            first = where(parts.entities, int(np.argmax(rows)))
            report.warn(
                f"entities of an empty name not loaded (first: file {first['file']}, line "
                f"{first['line']})",
                int(nameless.sum()),
            )
            named = named[~nameless]
        implied = tables.entities[~isin(tables.entities["entity_id"], named["entity_id"])]
        tables.entities = pd.concat([named, implied], ignore_index=True)

    for name, table in tables.tables().items():
        setattr(tables, name, cast_spec_columns(table, SPECS[name]))
    validate_graph(tables)
    for name, table in tables.tables().items():
        check_indexed_lengths(name, table)  # as every store does, naming the file and line
        setattr(tables, name, strip_private(table))
    report.count(tables)
    return tables


_REQUIRED = {
    "interactions": ["user_id", "item_id"],
    "items": ["item_id"],
    "users": ["user_id"],
    "entities": ["entity_id"],
    "triples": ["head", "relation", "tail"],
    "links": ["item_id", "entity_id"],
    "user_links": ["user_id", "same_as"],
}


# the id fields of each part (and relation names): whitespace around them is no part of them
_ID_COLUMNS = {
    "interactions": ("user_id", "item_id"),
    "items": ("item_id", "entity_id"),
    "users": ("user_id",),
    "entities": ("entity_id",),
    "triples": ("head", "relation", "tail"),
    "links": ("item_id", "entity_id"),
    "user_links": ("user_id", "same_as"),
}

# ids that split files (one tab-separated pair per line) hold
_SPLIT_IDS = ("user_id", "item_id", "same_as")


def _empty_values(rows: pd.DataFrame, columns: pd.Index, key: str) -> dict[str, list[str]]:
    """attribute -> keys of the ``rows`` (a users or items file's, merged) that leave it empty,
    of the file's ``columns`` that a write may clear (not :data:`UNCLEARABLE`; empty text and
    lists count, as in :func:`graph_schema.merge.blank_as_missing`)."""
    names = [c for c in columns if c not in PRIVATE and c not in UNCLEARABLE]
    blank = blank_as_missing(rows[names], [])
    return {
        name: sorted(rows.loc[blank[name].isna().to_numpy(), key].astype(str)) for name in names
    }


def _strip_ids(parts: Parts, report: LoadReport) -> Parts:
    """``parts`` with whitespace around ids and relation names stripped (`` 1`` is the id
    ``1``, in every format), counted in ``report`` per field with the first place."""
    changed = {}
    for name, columns in _ID_COLUMNS.items():
        df = getattr(parts, name)
        if df is None:
            continue
        stripped = {}
        for column in columns:
            values = df.get(column)
            if values is None or not (
                values.dtype == object or isinstance(values.dtype, pd.StringDtype)
            ):
                continue
            text = values.astype("string")
            padded = (text != text.str.strip()).fillna(False).to_numpy(dtype=bool)
            if not padded.any():
                continue
            first = where(df, int(np.argmax(padded)))
            report.warn(
                f"whitespace around ids stripped (field {column}; first: file {first['file']}, "
                f"line {first['line']})",
                int(padded.sum()),
            )
            array = values.to_numpy(copy=True)
            array[padded] = text[padded].str.strip().to_numpy(dtype=object)
            stripped[column] = pd.Series(array, index=values.index, dtype=values.dtype)
        if stripped:
            changed[name] = df.assign(**stripped)
    return replace(parts, **changed) if changed else parts


def _require_values(df: pd.DataFrame, columns: list[str], names: Mapping[str, str]) -> None:
    """An error at the first empty value of ``columns`` (or an id with a tab or line break),
    naming the column as the file does (``names``)."""
    for name in columns:
        column = df[name]
        text = column.astype("string")
        empty = (column.isna() | (text.str.strip() == "")).to_numpy()
        if empty.any():
            position = int(np.argmax(empty))
            raise InputError(
                "a required value is empty", field=names.get(name, name), **where(df, position)
            )
        if name in _SPLIT_IDS:
            breaks = text.str.contains(r"[\t\n\r]", regex=True).to_numpy(dtype=bool)
            if breaks.any():
                position = int(np.argmax(breaks))
                raise InputError(
                    f"the id {text.iloc[position]!r} holds a tab or a line break, which "
                    "kgrec's split files (one tab-separated pair per line) cannot hold",
                    field=names.get(name, name),
                    **where(df, position),
                )


def _check_id_lengths(
    df: pd.DataFrame, columns: list[str], names: Mapping[str, str], item_prefix: str
) -> None:
    """An error at the first id (or relation name) of ``columns`` too long for Neo4j's index
    (an item id with ``item_prefix``, its domain, as its uid is; the tables' own check, after,
    holds a rule's domains), naming the column as the
    file does (``names``), before the tables are built (where it would be their ``uid``)."""
    for name in columns:
        extra = len(item_prefix.encode("utf-8")) if name == "item_id" else 0
        found = first_too_long(df[name], extra)
        if found is not None:
            position, value, size = found
            if extra:
                kind = f"an item id whose uid ({item_prefix}id) is"
            else:
                kind = "a relation name of" if name == "relation" else "an id of"
            raise InputError(
                f"{kind} {size:,} bytes ({value[:40]!r}...): at most "
                f"{MAX_INDEXED_BYTES:,} (Neo4j cannot index more)",
                field=names.get(name, name),
                **where(df, position),
            )


def _dedupe(
    df: pd.DataFrame | None, key: list[str], table: str, report: LoadReport
) -> pd.DataFrame | None:
    if df is None:
        return None
    df, merged = merge_rows(df, key)
    if merged:
        report.duplicates[table] += merged
    return df


def _user_mapping(links: pd.DataFrame, report: LoadReport) -> pd.Series:
    """user_id -> the id of the one User it becomes.

    Ids that the file joins (directly or through chains) are one person; that person's id is
    the ``same_as`` id that is never itself mapped (the end of the chain), the smallest such
    id when there are several, or the smallest ``same_as`` id of a cycle (a warning, counted in
    ``report`` with the ids of the first cycle).
    """
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in zip(links["user_id"], links["same_as"], strict=True):
        parent[find(a)] = find(b)
    # a self-link maps nothing: its id may still end a chain (``u3 u2``, ``u2 u2``)
    mapped = {a for a, b in zip(links["user_id"], links["same_as"], strict=True) if a != b}
    targets = set(links["same_as"])
    members: dict[str, list[str]] = {}
    for node in parent:
        members.setdefault(find(node), []).append(node)
    mapping, cycles = {}, []
    for group in members.values():
        ends = sorted(n for n in group if n in targets and n not in mapped)
        canonical = ends[0] if ends else min(n for n in group if n in targets)
        if not ends and len(group) > 1:  # a cycle: no id is the end of the chain
            cycles.append(sorted(group))
        mapping |= {n: canonical for n in group if n != canonical}
    if cycles:
        report.warn(
            f"user-link cycles (ids joined into their smallest id; first: {few(cycles[0])}; file "
            f"{where(links, 0)['file']})",
            len(cycles),
        )
    return pd.Series(mapping, dtype="string")


def _map_users(df: pd.DataFrame, mapping: pd.Series) -> pd.DataFrame:
    if not df["user_id"].isin(mapping.index).any():  # (a file of self-links maps none at all)
        return df
    mapped = df["user_id"].map(mapping)
    return df.assign(user_id=mapped.fillna(df["user_id"]).astype(df["user_id"].dtype))


def _items(
    items: pd.DataFrame | None,
    interactions: pd.DataFrame | None,
    links: pd.DataFrame | None,
    report: LoadReport,
) -> pd.DataFrame:
    """The load's items: the item file's, or else those the interactions and links name."""
    named = [df for df in (interactions, links) if df is not None]
    if items is not None:
        items = _dedupe(items, ["item_id"], "items", report)
        for reserved in ("uid", "domain", "item_uid"):
            if reserved in items:
                raise InputError(
                    "an item file may not have this column (the loader sets it)",
                    field=reserved,
                    **{**where(items, 0), "line": 1},
                )
        return items
    if not named:
        return pd.DataFrame({"item_id": pd.Series(dtype="string"), FILE: [], LINE: []})
    ids = pd.concat([df[["item_id", *PRIVATE]] for df in named], ignore_index=True)
    return ids.drop_duplicates("item_id", ignore_index=True)


def _refuse_rule_without_items(parts: Parts, rule: DomainRule) -> None:
    """A domain rule places items by an attribute of the items file: without one, the items
    are the ids the interactions (and links) name, with no attribute to place them by."""
    named = {"interactions": parts.interactions, "link": parts.links}
    named = {kind: df for kind, df in named.items() if df is not None}
    files = [str(f) for df in named.values() for f in df[FILE].cat.categories]
    source = (
        f"its items come from the {' and '.join(named)} file{'s' if len(named) > 1 else ''}, "
        f"which hold{'s' if len(named) == 1 else ''} no item attributes"
        if named
        else "it has no items"
    )
    raise InputError(
        f"the domain rule places items by their attribute {rule.attribute!r} and needs the "
        f"items file, which this load lacks: {source}; load the items file with the rule (a "
        "RecBole dataset's .item, MovieLens' u.item or movies.dat, or load table --kind items)",
        file=files[0] if files else None,
        field="--domain-rule",
    )


def _check_held_domains(
    items: pd.DataFrame,
    item_domain: pd.Series,
    attribute: str,
    field: str,
    held: Collection[str],
) -> None:
    """An error at the first item row that a domain rule on ``attribute`` puts in a domain the
    store does not hold (``held``: it holds items of others), naming the attribute as the file
    does (``field``): a new domain is refused unless meant (``--new-domain``), as ``--domain``
    is before the file is read."""
    new = (item_domain.notna() & ~item_domain.isin(list(held))).to_numpy(dtype=bool)
    if not new.any():
        return
    # merged duplicates sit at the end of ``items``: the first is the one of the lowest line
    position = int(np.flatnonzero(new)[np.argmin(items[LINE].to_numpy()[new])])
    domains = sorted(set(item_domain[new]))
    named = ", ".join(map(repr, domains))
    value = items[attribute].iloc[position]
    raise InputError(
        f"the domain rule puts item {items['item_id'].iloc[position]!r} "
        f"({field} {few(value if isinstance(value, list | np.ndarray) else [value])}) "
        f"in the domain {item_domain.iloc[position]!r}; the store holds no item of the "
        f"domain{'s' if len(domains) > 1 else ''} {named} (it holds {', '.join(held)}): the "
        f"items would be new items of a new domain; give the rule domains it holds, or add "
        f"--new-domain to start {named}",
        field=field,
        **where(items, position),
    )


def _item_uids(
    df: pd.DataFrame,
    item_ids: pd.Series,
    uids: ExtensionArray,
    item_file: str | None,
    names: Mapping[str, str],
) -> pd.Series:
    """The uid of the item each row names (null where the domain rule left the item out);
    an error at the first row naming an item that is not in the item file, naming the column
    as ``df``'s file does (``names``)."""
    found = pc.index_in(pa.array(df["item_id"]), value_set=pa.array(item_ids))
    missing = found.is_null().to_numpy(zero_copy_only=False)
    if missing.any():
        position = int(np.argmax(missing))
        raise InputError(
            f"names item {df['item_id'].iloc[position]!r}, which is not in the item file "
            f"{item_file}",
            field=names.get("item_id", "item_id"),
            **where(df, position),
        )
    positions = found.fill_null(0).to_numpy(zero_copy_only=False)
    return pd.Series(uids.take(positions), index=df.index)


def _left_out(df: pd.DataFrame, uid: pd.Series, table: str, report: LoadReport) -> pd.DataFrame:
    """``df`` with its item uids, without the rows whose item the domain rule left out."""
    kept = uid.notna().to_numpy()
    if not kept.all():
        report.left_out[table] += int((~kept).sum())
    return df.assign(item_uid=uid)[kept]


def _users(users: pd.DataFrame | None, interactions: pd.DataFrame | None) -> pd.DataFrame:
    """The user file's users and those the interactions name."""
    if interactions is None:
        return users if users is not None else pd.DataFrame({"user_id": []}, dtype="string")
    named = interactions[["user_id", *PRIVATE]].drop_duplicates("user_id", ignore_index=True)
    if users is None:
        return named
    new = named[~isin(named["user_id"], users["user_id"])]
    return pd.concat([users, new], ignore_index=True)


def _check_one_item_per_entity(
    df: pd.DataFrame, entity: pd.Series, tied: np.ndarray, message: str, *, field: str
) -> None:
    """An error at the first row of ``df`` (a link or item file) that ties an entity an earlier
    row ties (among the ``tied`` rows): an entity is at most one item. ``message`` says it in
    the file's words, with ``{entity}``, ``{first}`` and ``{second}`` (the two item ids);
    ``field``: the file's name of the entity column (``entity_id:token``)."""
    again = np.zeros(len(df), dtype=bool)
    again[tied] = entity[tied].duplicated().to_numpy()
    if not again.any():
        return
    position = int(np.argmax(again))
    value = entity.iloc[position]
    same = (entity == value).fillna(False).to_numpy(dtype=bool)  # null: not tied
    raise InputError(
        message.format(
            entity=value,
            first=df["item_id"].iloc[int(np.argmax(same))],
            second=df["item_id"].iloc[position],
        )
        + " (an entity is at most one item)",
        field=field,
        **where(df, position),
    )


def _check_one_entity_per_item(
    df: pd.DataFrame, names: Mapping[str, str], *, verb: str = "linked", key: str = "item_id"
) -> None:
    """An error at the first row of ``df`` (a link file, or an item file's ``entity_id``:
    ``verb`` ``tied``) that ties an item an earlier row ties to another entity: an item is at
    most one entity (merged, the last would win and the first entity's triples stay on an
    entity of their own), as an entity is at most one item: with ``key`` ``entity_id``, the
    first row that ties an entity an earlier row ties to another item (a row repeating an
    earlier one is none). An empty entity ties nothing. ``names``: the file's name of each
    column (``entity_id:token``, ``freebase_id``)."""
    entity = df["entity_id"].astype("string")
    item = df["item_id"].astype("string")
    tied = _tying(entity)
    own, other_of = (item, entity) if key == "item_id" else (entity, item)
    kind, other_kind = ("item", "entity") if key == "item_id" else ("entity", "item")
    first = other_of[tied].groupby(own[tied].to_numpy()).transform("first")
    other = np.zeros(len(df), dtype=bool)
    other[tied] = (other_of[tied] != first).fillna(False).to_numpy(dtype=bool)
    if not other.any():
        return
    position = int(np.argmax(other))
    value = own.iloc[position]
    earlier = int(np.argmax(((own == value).fillna(False) & tied).to_numpy(dtype=bool)))
    raise InputError(
        f"{kind} {value!r} is {verb} to a second {other_kind}, {other_of.iloc[position]!r} "
        f"(line {where(df, earlier)['line']} {'links' if verb == 'linked' else 'ties'} it to "
        f"{other_of.iloc[earlier]!r}; an {kind} is at most one {other_kind})",
        field=names.get("entity_id", "entity_id"),
        **where(df, position),
    )


def _check_item_file_entities(
    items: pd.DataFrame, links: pd.DataFrame, names: Mapping[str, Mapping[str, str]]
) -> None:
    """An error at the first link that ties an item to another entity than the item file's
    ``entity_id`` does (each file is checked on its own before): an item is at most one
    entity, and the link would win without a word; and at the first link that ties an entity
    to another item than the item file does (an entity is at most one item: merged, the item
    file's row of the other item would be named, whose entity_id may be empty). ``names``:
    per part, the file's name of each column (``entity_id:token``)."""
    entity = items["entity_id"].astype("string")
    tied = _tying(entity)
    item = items["item_id"].astype("string")
    linked_item = links["item_id"].astype("string")
    linked = links["entity_id"].astype("string")
    column = names.get("items", {}).get("entity_id", "entity_id")
    # (the link's key, the item file's key, the value each ties it to, the message)
    for key, own_key, value, linked_value, message in (
        (
            linked_item,
            item,
            entity,
            linked,
            "item {key!r} is linked to the entity {linked!r}, but the item file ties it to "
            "{own!r} ({found}; an item is at most one entity)",
        ),
        (
            linked,
            entity,
            item,
            linked_item,
            "entity {key!r} is linked to item {linked!r}, but the item file ties it to item "
            "{own!r} ({found}; an entity is at most one item)",
        ),
    ):
        first = pd.Series(np.flatnonzero(tied), index=own_key[tied].to_numpy())
        first = first[~first.index.duplicated()]  # key -> its first tying row of the item file
        rows = key.map(first).to_numpy(dtype=float)  # NaN: the item file does not tie it
        has = ~np.isnan(rows)
        other = np.zeros(len(links), dtype=bool)
        other[has] = (
            value.to_numpy(dtype=object)[rows[has].astype(np.int64)]
            != linked_value.to_numpy(dtype=object)[has]
        )
        if other.any():
            position = int(np.argmax(other))
            row = int(rows[position])
            found = where(items, row)
            raise InputError(
                message.format(
                    key=key.iloc[position],
                    linked=linked_value.iloc[position],
                    own=value.iloc[row],
                    found=f"file {found['file']}, line {found['line']}, column {column}",
                ),
                field=names.get("links", {}).get("entity_id", "entity_id"),
                **where(links, position),
            )


def _tying(entity: pd.Series) -> np.ndarray:
    """Boolean, per row: whether its ``entity_id`` (as ``string``) ties it to an entity
    (neither null nor blank: an empty cell ties nothing)."""
    return (entity.notna() & (entity.str.strip() != "")).to_numpy(dtype=bool)


def _tie_rows(
    items: pd.DataFrame, links: pd.DataFrame | None, uid: pd.Series, fields: Mapping[str, str]
) -> dict[str, dict[str, object]]:
    """uid -> file, line and field of the row that ties the item to its entity: its link, else
    its row of the item file (``entity_id``), for :class:`LoadReport.tied_at`; ``fields``: the
    files' name of the entity column, per part (``items``, ``links``)."""
    if "entity_id" not in items:
        return {}
    entity = items["entity_id"].astype("string")
    tied = _tying(entity) & uid.notna().to_numpy(dtype=bool)
    files = items[FILE].astype(str).to_numpy(dtype=object)
    lines = items[LINE].to_numpy(dtype=np.int64, copy=True)
    columns = np.full(len(items), fields["items"], dtype=object)
    if links is not None:  # the link, where there is one, tied it (it wins over the item file)
        at = pd.Series(range(len(links)), index=links["item_id"].to_numpy())
        at = items["item_id"].map(at[~at.index.duplicated()]).to_numpy()
        linked = ~pd.isna(at)
        positions = at[linked].astype(np.int64)
        files[linked] = links[FILE].astype(str).to_numpy(dtype=object)[positions]
        lines[linked] = links[LINE].to_numpy(dtype=np.int64)[positions]
        columns[linked] = fields["links"]
    return {
        str(u): {"file": f, "line": int(n), "field": c}
        for u, f, n, c in zip(uid[tied], files[tied], lines[tied], columns[tied], strict=True)
    }


def _item_of(items: pd.DataFrame, uid: pd.Series, field: str) -> pd.Series:
    """entity_id -> uid of the item tied to it (null where the domain rule left the item
    out); an error at the second item tied to one entity (an entity is at most one item),
    naming the item file's entity column ``field``."""
    if "entity_id" not in items:
        return pd.Series(dtype=object)
    entity = items["entity_id"].astype("string")
    tied = _tying(entity)
    _check_one_item_per_entity(
        items,
        entity,
        tied,
        "entity {entity!r} is tied to two items, {first!r} and {second!r}",
        field=field,
    )
    return pd.Series(uid[tied].to_numpy(), index=entity[tied].to_numpy(), dtype=object)


def _drop_left_entities(
    triples: pd.DataFrame, left_entities: pd.Index, report: LoadReport
) -> pd.DataFrame:
    """Triples that touch an item the domain rule left out are left out too."""
    if not len(left_entities):
        return triples
    touches = isin(triples["head"], left_entities) | isin(triples["tail"], left_entities)
    report.left_out["knowledge"] += int(touches.sum())
    return triples[~touches]


def _knowledge(
    triples: pd.DataFrame, item_of: pd.Series, report: LoadReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Knowledge rows and entities; ``item_of`` maps an entity that is an item to its uid."""
    ends = {}
    for end in ("head", "tail"):
        uid = triples[end].map(item_of).astype("string")
        ends[f"{end}_kind"] = np.where(uid.notna(), "Item", "Entity")
        ends[f"{end}_key"] = uid.fillna(triples[end]).astype("string")
    knowledge = pd.DataFrame(
        {
            "head_kind": ends["head_kind"],
            "head_key": ends["head_key"],
            "relation": triples["relation"],
            "tail_kind": ends["tail_kind"],
            "tail_key": ends["tail_key"],
            FILE: triples[FILE],
            LINE: triples[LINE],
        },
        index=triples.index,
    )
    knowledge = _dedupe(knowledge, list(KNOWLEDGE.key), "knowledge", report)
    entities = pd.concat(
        [
            knowledge.loc[knowledge[f"{end}_kind"] == "Entity", [f"{end}_key", *PRIVATE]].set_axis(
                ["entity_id", *PRIVATE], axis=1
            )
            for end in ("head", "tail")
        ],
        ignore_index=True,
    ).drop_duplicates("entity_id", ignore_index=True)
    return knowledge.reset_index(drop=True), entities
