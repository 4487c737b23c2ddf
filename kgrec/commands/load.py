"""`kgrec load <format> ...`: files -> validated canonical tables -> the graph store.

Every file of a load is parsed and validated before anything is written, so a bad file never
half-writes the store. Several loads merge into one graph: users are shared by id.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from graph_schema.errors import FEW
from graph_schema.tables import GraphTables
from kgrec.commands.graph import STORE_HELP
from kgrec.commands.options import DOMAIN, RULE, path_option
from kgrec.errors import InputError, few
from loaders.options import DEFAULT_DOMAIN, KINDS
from loaders.report import LoadReport
from loaders.rules import RULES, DomainRule, resolve_rule

# the stores and the loaders (pandas, the neo4j driver) are imported as the command runs
if TYPE_CHECKING:
    from kgrec.store import GraphStore

log = logging.getLogger(__name__)

RULE_HELP = (
    f"split the items into domains by a rule: a named rule ({', '.join(RULES)}) or "
    "'ATTRIBUTE:DOMAIN=V1,V2;DOMAIN=V3,...', e.g. 'genres:action=Action,Adventure;"
    "comedy=Comedy,Romance' (an item goes to the one domain whose values it meets when it "
    "meets no other's; other items and their interactions are left out); ATTRIBUTE as kgrec "
    "names it (genres) or as the items file does (a RecBole header's class, or class:token_seq)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "load",
        help="load files into the shared graph",
        description="Parse and validate files, then merge them into the graph store.",
    )
    formats = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", default=None, help=STORE_HELP)
    common.add_argument(
        "--dry-run",
        action="store_true",
        help="parse and validate, write nothing; with --store, also check the load against "
        "that store (reading it only); without --store no store is read, not even the default",
    )
    users = argparse.ArgumentParser(add_help=False)
    users.add_argument(
        "--user-links",
        type=path_option,
        metavar="FILE",
        help="pairs (user_id, same_as): ids of one person become one User (the same_as id)",
    )
    attributes = argparse.ArgumentParser(add_help=False)
    attributes.add_argument(
        "--clear-empty",
        action="store_true",
        help="an empty value in a column the items or users file has removes that attribute "
        "from that item or user, where an earlier load gave one (without it an empty value "
        "leaves what the store holds; columns the file lacks are never touched, nor ids and "
        "an item's entity_id)",
    )
    domains = argparse.ArgumentParser(add_help=False)
    group = domains.add_mutually_exclusive_group()
    group.add_argument(
        "--domain", type=DOMAIN, metavar="NAME", help="put every item of the load in NAME"
    )
    group.add_argument("--domain-rule", type=RULE, metavar="RULE", help=RULE_HELP)

    p = formats.add_parser(
        "recbole",
        parents=[common, attributes, domains, users],
        help="RecBole atomic files (.inter, .item, .user, .kg, .link)",
        description="RecBole atomic files; the domain defaults to the dataset name.",
    )
    p.add_argument(
        "path", type=path_option, help="the dataset folder (ml-100k/) or prefix (dir/ml-100k)"
    )
    p.set_defaults(func=_dataset)

    p = formats.add_parser(
        "movielens",
        parents=[common, attributes, domains, users],
        help="raw MovieLens folders (ml-100k u.data/u.item/u.user, ml-1m *.dat)",
    )
    p.add_argument("path", type=path_option, help="the folder holding the MovieLens files")
    p.set_defaults(func=_dataset)

    p = formats.add_parser(
        "table",
        parents=[common, attributes, domains, users],
        help="a CSV, TSV or Parquet table of interactions, items, users or entities' names",
    )
    p.add_argument("path", type=path_option, help="the table file (.csv, .tsv, .parquet, ...)")
    p.add_argument("--kind", choices=KINDS, default="interactions", help="what the rows are")
    for name, default in (
        ("user", "user_id"),
        ("item", "item_id"),
        ("rating", "rating"),
        ("timestamp", "timestamp"),
        ("title", "title"),
        ("year", "year"),
        ("genres", "genres"),
        ("entity", "entity_id"),
        ("name", "name"),
    ):
        p.add_argument(
            f"--{name}-col", metavar="COLUMN", help=f"column of the {name} (default {default})"
        )
    p.add_argument("--genres-sep", help="separator inside the genres column (default |)")
    p.add_argument("--sep", help="field separator of a text file (default: , for .csv, else tab)")
    p.add_argument("--encoding", default="utf-8", help="text encoding (default utf-8)")
    p.add_argument(
        "--new-domain",
        action="store_true",
        help="the items start the domain --domain names (or the domains of --domain-rule; "
        "without it, a domain the store holds no item of, while it holds items of others, is "
        "refused: a typo?)",
    )
    p.set_defaults(func=_table)

    p = formats.add_parser(
        "kg",
        parents=[common],
        help="knowledge-graph triples (head, relation, tail) and item links",
    )
    p.add_argument("path", type=path_option, help="the triple file (TSV, or .csv; header optional)")
    p.add_argument(
        "--links",
        type=path_option,
        metavar="FILE",
        help="pairs (item_id, entity_id): entities that are items",
    )
    p.add_argument(
        "--domain",
        type=DOMAIN,
        metavar="NAME",
        help="the domain of the linked items (default: default)",
    )
    p.add_argument(
        "--new-domain",
        action="store_true",
        help="the linked items start the domain --domain names (without it, a domain the store "
        "holds no item of, while it holds items of others, is refused: a typo?)",
    )
    p.set_defaults(func=_kg)


def _rule(args: argparse.Namespace) -> DomainRule | None:
    return resolve_rule(args.domain_rule) if args.domain_rule else None


def _dataset(args: argparse.Namespace) -> int:
    """load recbole, load movielens: the dataset folder ``args.path``, read by the loader
    ``args.format`` names (recbole.load, movielens.load: the same arguments)."""
    from loaders import movielens, recbole

    loader = {"recbole": recbole.load, "movielens": movielens.load}[args.format]
    rule = _rule(args)
    return _run(
        args,
        lambda report, _store: loader(
            args.path,
            domain=args.domain,
            domain_rule=rule,
            user_links=args.user_links,
            report=report,
        ),
    )


# why a table of each kind without attributes refuses --clear-empty
_CLEARS_NOTHING = {
    "entities": ", not an entity's name: an empty name leaves the name the store holds (a load "
    "never removes one)",
    "interactions": ": a table of interactions has none (its other columns are ignored); give "
    "it with the items or users file",
}


def _table(args: argparse.Namespace) -> int:
    if args.clear_empty and args.kind in _CLEARS_NOTHING:
        raise InputError(
            "--clear-empty clears the attributes of items and users" + _CLEARS_NOTHING[args.kind],
            file=str(args.path),
            field="--clear-empty",
        )
    if args.new_domain and (
        args.kind in ("users", "entities") or (args.domain is None and args.domain_rule is None)
    ):
        raise InputError(
            "--new-domain starts the domain of the items: it needs --domain NAME (or "
            "--domain-rule RULE) and --kind items or interactions",
            field="--new-domain",
        )
    rule = _rule(args)

    def read(report: LoadReport, store: GraphStore | None) -> GraphTables:
        # without a rule every item goes to one domain, known before the file is read: a typo
        # in it is refused at once, not after a long parse (a missing file: the loader says so)
        placed = args.kind in ("interactions", "items")  # the kinds whose rows name items
        if store is not None and rule is None and placed and args.path.is_file():
            _check_table_domains(args, store, {args.domain or DEFAULT_DOMAIN})
        # with a rule, the items' attributes give their domains: the loader checks each item
        # as the rule places it, naming its line
        return _read_table(args, rule, report, store)

    return _run(args, read)


def _check_table_domains(args: argparse.Namespace, store: GraphStore, load: set[str]) -> None:
    """As :func:`_check_link_domain` for links: the items of a table go to ``load``, the
    domain of ``--domain`` (without it, ``default``), and a domain the store holds no item of,
    where it holds items of others, is refused (a typo, ``movie`` for ``movies``) unless
    ``--new-domain`` says a new domain is meant. An empty store takes any domain. (The
    domains of ``--domain-rule``: :func:`loaders.build.build` checks each item's.)"""
    if args.new_domain:
        return
    domains = list(store.item_domains())
    new = sorted(load - set(domains))
    if not domains or not new:
        return
    held = f"it holds {', '.join(domains)}"
    if args.domain is None:
        message = (
            f"without --domain the items go to the domain {DEFAULT_DOMAIN!r}, which the store "
            f"does not hold ({held}): name the domain of the items the file holds or names "
            "with --domain"
        )
    else:
        named = ", ".join(map(repr, new))
        message = (
            f"the store holds no item of the domain{'s' if len(new) > 1 else ''} {named} "
            f"({held}): the items would be new "
            "items of a new domain; name a domain it holds, or add --new-domain "
            f"to start {named}"
        )
    raise InputError(message, file=str(args.path), field="--domain")


def _read_table(
    args: argparse.Namespace, rule: DomainRule | None, report: LoadReport, store: GraphStore | None
) -> GraphTables:
    from loaders import table

    return table.load(
        args.path,
        kind=args.kind,
        user_col=args.user_col,
        item_col=args.item_col,
        rating_col=args.rating_col,
        timestamp_col=args.timestamp_col,
        title_col=args.title_col,
        year_col=args.year_col,
        genres_col=args.genres_col,
        genres_sep=args.genres_sep,
        entity_col=args.entity_col,
        name_col=args.name_col,
        sep=args.sep,
        encoding=args.encoding,
        domain=args.domain,
        domain_rule=rule,
        held_domains=(
            store.item_domains() if store is not None and rule and not args.new_domain else None
        ),
        user_links=args.user_links,
        report=report,
        new_items=_new_items(store),
    )


def _new_items(store: GraphStore | None) -> Callable[[list[str]], set[str]] | None:
    """Which of some item uids ``store`` does not hold though it holds items of their domain
    (None without a store: not checked). An item of a domain the store holds no item of is
    not counted: the load starts that domain."""
    if store is None:
        return None
    domains = set(store.item_domains())
    if not domains:
        return None

    def new_items(uids: list[str]) -> set[str]:
        inside = [u for u in uids if u.split(":", 1)[0] in domains]
        return set(inside) - set(store.items(inside)["uid"]) if inside else set()

    return new_items


def _kg(args: argparse.Namespace) -> int:
    if args.new_domain and (args.links is None or args.domain is None):
        raise InputError(
            "--new-domain starts the domain of the linked items: it needs --links FILE and "
            "--domain NAME",
            field="--new-domain",
        )
    from loaders import kg

    return _run(
        args,
        lambda report, store: kg.load(
            args.path,
            links=args.links,
            domain=args.domain,
            report=report,
            held=_held_items(args, store),
        ),
        check=_check_link_domain,
    )


def _held_items(
    args: argparse.Namespace, store: GraphStore | None
) -> Callable[[list[str]], set[str]] | None:
    """Which of some item uids ``store`` holds, when it holds items of the linked items'
    domain (None otherwise: every linked item is new, or :func:`_check_link_domain` refuses
    the domain)."""
    if store is None or args.links is None:
        return None
    if (args.domain or DEFAULT_DOMAIN) not in store.item_domains():
        return None
    return lambda uids: set(store.items(uids)["uid"])


def _check_link_domain(args: argparse.Namespace, store: GraphStore) -> None:
    """Linked items go to ``--domain`` (without it, the domain ``default``): into a store that
    holds items of other domains and none of that one, they would be new items without
    interactions, each entity tied to two items (a typo, ``movie`` for ``movies``), unless
    ``--new-domain`` says a new domain is meant. An empty store takes any domain."""
    if args.links is None or args.new_domain:
        return
    domain = args.domain or DEFAULT_DOMAIN
    domains = list(store.item_domains())
    if not domains or domain in domains:
        return
    held = f"it holds {', '.join(domains)}"
    if args.domain is None:
        message = (
            f"without --domain the linked items go to the domain {DEFAULT_DOMAIN!r}, which "
            f"the store does not hold ({held}): name the domain of the items the file links "
            "with --domain"
        )
    else:
        message = (
            f"the store holds no item of the domain {domain!r} ({held}): the linked items "
            "would be new items of a new domain; name a domain it holds, or add --new-domain "
            f"to start {domain!r}"
        )
    raise InputError(message, file=str(args.links), field="--domain")


def _check_new_domains(store: GraphStore, tables: GraphTables, report: LoadReport) -> None:
    """Say which domains the load starts in a store that holds items of others (a second
    dataset as its own domain is the cross-domain workflow: an INFO line, not a refusal; ``load
    table`` and ``load kg`` refuse them before, unless ``--new-domain``), and warn when their
    interactions name no user the store holds, nor one of the load's own users who has items of
    a held domain too (a domain rule splitting one file): the domains then share no user, and
    cross-domain models transfer between them through the knowledge graph alone, if it links
    them (meant for two catalogues of one KG; else the same people under other ids, e.g. a
    prefix, or leading zeros lost). So too for the first interactions of a domain the store
    holds items of and no interaction (its items loaded first, ``--kind items --new-domain``)."""
    held = store.item_domains()
    new = sorted(set(tables.items["domain"].astype(str)) - set(held))
    if not held:
        return
    if new:
        named = f"domain{'s' if len(new) > 1 else ''} {', '.join(map(repr, new))}"
        log.info("the load starts the new %s; the store holds %s", named, ", ".join(held))
        users = _unjoined_users(store, tables, new)
        if users:
            _warn_unjoined(store, report, users, f"new {named}", "", list(held))
    items = tables.items
    named_here = items.loc[items["uid"].isin(tables.interactions["item_uid"]), "domain"]
    counts = None  # the store's counts per domain, read once if at all
    for domain in sorted(set(named_here.astype(str)) & set(held)):
        others = [name for name in held if name != domain]
        users = _unjoined_users(store, tables, [domain]) if others else []
        if users and counts is None:
            counts = store.stats()["domains"]
        if users and not counts.get(domain, {}).get("interactions"):
            first = ", the first the store holds of it"
            _warn_unjoined(store, report, users, f"domain {domain!r}", first, others)


def _unjoined_users(store: GraphStore, tables: GraphTables, domains: list[str]) -> list[str]:
    """The users the load's interactions with items of ``domains`` name, sorted, when none of
    them joins those domains to others (none the store holds, none of the load's own with items
    of its other domains); else none."""
    items, interactions = tables.items, tables.interactions

    def users_of(names: list[str]) -> set[str]:
        uids = items.loc[items["domain"].isin(names), "uid"]
        return set(interactions.loc[interactions["item_uid"].isin(uids), "user_id"])

    users = sorted(users_of(domains))
    rest = sorted(set(items["domain"].astype(str)) - set(domains))
    if not users or users_of(rest) & set(users) or store.user_ids(users, limit=1):
        return []
    return users


def _warn_unjoined(
    store: GraphStore,
    report: LoadReport,
    users: list[str],
    named: str,
    first: str,
    others: list[str],
) -> None:
    """Warn that no user of the load's interactions of the domains ``named`` joins them to
    ``others`` (:func:`_unjoined_users`)."""
    log.warning(
        "the interactions of the %s%s (file %s) name %s user%s, none of whom the store holds "
        "(this load's: %s; the store's: %s): no user joins the %s to %s, so cross-domain "
        "models transfer between them through the knowledge graph alone, if it links them; if "
        "these are the same people under other ids, join them with --user-links FILE",
        named,
        first,
        ", ".join(report.interaction_files),
        f"{len(users):,}",
        "s" if len(users) > 1 else "",
        few(users),
        few(store.user_ids(limit=4)),
        named,
        ", ".join(others),
    )


def _load_entities(tables: GraphTables) -> set:
    """The entities a load's triples name and its items are tied to."""
    from kgrec.store.canonical import held_entity_keys

    return set(held_entity_keys(tables.knowledge, tables.items))


def _warn_unknown_entities(store: GraphStore, tables: GraphTables, report: LoadReport) -> None:
    """Warn when the load names entities (``load table --kind entities``) that the store holds
    neither as an entity a triple names nor as an item's tie (:meth:`GraphStore.entity_ids`:
    an entity of an earlier load's name alone is not held), and that the load's own triples
    and items do not name either: each becomes an entity of its name alone, which no triple
    reaches. None of them held is most likely the ids' format (``Q42`` where the triples have
    ``wd:Q42``, ``m.0abc`` for ``/m/0abc``): the warning shows a few ids of the file and of the
    store. A store that holds no such entity yet is not warned of: names may come before the
    triples."""
    entities = tables.entities
    if entities.empty:
        return
    name = entities["name"].astype("string").str.strip()
    named = set(entities.loc[name.fillna("").ne("").to_numpy(dtype=bool), "entity_id"])
    named -= _load_entities(tables)
    if not named:
        return
    ids = sorted(map(str, named))
    missing = sorted(set(ids) - set(store.entity_ids(ids)))
    if not missing:
        return
    stored = store.entity_ids(limit=FEW + 1)  # a few to compare the ids' format with
    if not stored:
        return
    one = len(report.files) == 1
    files = f"the file{'' if one else 's'} {', '.join(report.files)} name{'s' if one else ''}"
    shown = f"{few(missing)}; the store's entities: {few(stored)}"
    if len(missing) == len(ids):
        log.warning(
            "%s in the store (%s): each becomes an entity of its name alone, which no triple "
            "reaches; check the ids' format against the triples' (a prefix, another spelling: "
            "Q42 for wd:Q42, m.0abc for /m/0abc)",
            f"the entity {files} is not"
            if len(ids) == 1
            else f"none of the {len(ids):,} entities {files} is",
            shown,
        )
    else:
        log.warning(
            "%s of the %s entities %s %s not in the store (%s): each becomes an entity of its "
            "name alone, which no triple reaches (a typo in an id?)",
            f"{len(missing):,}",
            f"{len(ids):,}",
            files,
            "is" if len(missing) == 1 else "are",
            shown,
        )


def _warn_unreached_names(store: GraphStore, tables: GraphTables, report: LoadReport) -> None:
    """Warn when the store holds entities of a name alone (:meth:`GraphStore.name_only_entities`:
    a load of names made them, no triple reaches them) and the load's triples reach none of
    them (nor do its ties), and the store's triples reached no entity before it (its first
    triples): the names stay on entities no triple reaches. None reached is most likely the
    ids' format (names loaded as ``Q42`` before the triples, which say ``wd:Q42``): the
    warning shows a few ids of the store's and of the load's, as
    :func:`_warn_unknown_entities` does of a load of names. Once triples reach the store's
    entities, names left alone (a names file naming more entities than the triples) are no
    sign of a wrong format, and a later load is not warned of them again."""
    if tables.knowledge.empty or store.entity_ids(limit=1):
        return
    held, alone = store.name_only_entities(limit=FEW + 1)
    if not held:
        return
    ids = sorted(map(str, _load_entities(tables)))
    if not ids or store.name_only_entities(ids, limit=0)[0]:
        return
    one = len(report.files) == 1
    log.warning(
        "the store holds %s of a name alone (%s), which no triple reaches, and the triples of "
        "the file%s %s %s (the load's entities: %s): %s on %s no triple reaches; check the "
        "ids' format against the triples' (a prefix, another spelling: Q42 for wd:Q42, m.0abc "
        "for /m/0abc), and load the names again under the triples' ids",
        f"{held:,} entit{'y' if held == 1 else 'ies'}",
        few(alone),
        "" if one else "s",
        ", ".join(report.files),
        "do not name it" if held == 1 else "name none of them",
        few(ids),
        "its name stays" if held == 1 else "their names stay",
        "an entity" if held == 1 else "entities",
    )


@contextmanager
def _tie_located(report: LoadReport) -> Iterator[None]:
    """A store's refusal of a tie (:class:`EntityTieError`: the store ties the entity to
    another item) naming the file and line of the load that tied the item (a link, an item
    file's ``entity_id``), which the store's tables no longer carry."""
    from kgrec.store.canonical import EntityTieError

    try:
        yield
    except EntityTieError as exc:
        at = report.tied_at.get(exc.uid)
        if at is None:
            raise
        field = at.get("field", exc.field)  # the column as the file names it
        raise InputError(exc.message, file=at["file"], line=at["line"], field=field) from exc


def _cleared(args: argparse.Namespace, report: LoadReport) -> dict | None:
    """With ``--clear-empty``, the attributes the load clears (its files' empty values,
    ``report.empty``), counted in a line of the summary; without it (and with ``load kg``,
    whose files give no attributes), None."""
    if not getattr(args, "clear_empty", False):
        return None
    counts = [
        f"{kind}.{name} {len(keys):,}"
        for kind, names in report.empty.items()
        for name, keys in names.items()
        if keys
    ]
    print(f"--clear-empty: empty values that clear the attribute: {', '.join(counts) or 'none'}")
    return report.empty


def _run(
    args: argparse.Namespace,
    read: Callable[[LoadReport, GraphStore | None], GraphTables],
    *,
    check: Callable[[argparse.Namespace, GraphStore], None] | None = None,
) -> int:
    """Parse and validate everything, print the summary, then write (unless --dry-run).

    The store is opened and checked first (:meth:`GraphStore.check`: Neo4j reachable, the
    password right, no other load writing; a local folder that is a store or may become one),
    so a wrong ``--store`` fails before a long parse (``read`` gets it; a dry run reads the
    store only when ``--store`` names it, else ``read`` gets None); ``check`` (the arguments
    against the store) runs after the parse, before anything is written, on a dry run with
    ``--store`` too, which then makes the checks of the write itself
    (:meth:`GraphStore.check_write`), reading the store only.
    """
    from kgrec.store import open_store

    report = LoadReport()
    if args.dry_run:
        if args.store is None:  # no store read: only the files are checked
            read(report, None)
            print(report.summary())
            _cleared(args, report)
            print(
                "dry run: nothing written; no --store given, so nothing was checked against a store"
            )
            return 0
        with open_store(args.store) as store:  # read, never written
            store.check()  # as the load does: before, a dry run reached no server at all
            tables = read(report, store)
            if check is not None:
                check(args, store)
            _check_new_domains(store, tables, report)
            _warn_unknown_entities(store, tables, report)
            _warn_unreached_names(store, tables, report)
            print(report.summary())
            clear = _cleared(args, report)
            with _tie_located(report):  # the checks of store.write, reading the store only
                store.check_write(tables, clear=clear)
        print(
            f"dry run: nothing written to {store.uri}; the load was checked against it as the "
            "write checks it, but for what only writing meets (a full disk; Neo4j: applying "
            "graph_schema/schema.cypher, taking the load lock, committing the transactions)"
        )
        return 0
    with open_store(args.store) as store:
        store.check()  # connection, password, folder: before a long parse
        tables = read(report, store)
        if check is not None:
            check(args, store)
        _check_new_domains(store, tables, report)
        _warn_unknown_entities(store, tables, report)
        _warn_unreached_names(store, tables, report)
        print(report.summary())
        clear = _cleared(args, report)
        with _tie_located(report):
            written = store.write(tables, clear=clear)
        print(f"written to {store.uri}: " + ", ".join(f"{k} {v:,}" for k, v in written.items()))
    return 0
