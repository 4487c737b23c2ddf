"""`kgrec explain USER ITEM`: the best paths from a user to an item."""

from __future__ import annotations

import argparse
from functools import partial
from typing import TYPE_CHECKING

from graph_schema.arguments import spelling_hint, zero_spellings
from graph_schema.tables import item_uid
from kgrec.commands.options import id_option, k_option
from kgrec.errors import InputError, StoreError

if TYPE_CHECKING:
    from kgrec.store.base import GraphStore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="explain a recommendation: the best paths from a user to an item",
        description=(
            "Print the best paths from USER to ITEM through the graph: the user's own "
            "interactions, knowledge-graph entities the items share, the user's history in "
            "other domains and users with the same taste. Paths through rare nodes rank first."
        ),
    )
    p.add_argument("user", metavar="USER", type=id_option, help="user id")
    p.add_argument(
        "item",
        metavar="ITEM",
        type=id_option,
        help="item uid (DOMAIN:ITEM_ID) or item id with --domain",
    )
    p.add_argument(  # blank: refused (it was read as no --domain, and ITEM as an item uid)
        "--domain",
        type=partial(id_option, what="a domain"),
        help="the item's domain, when ITEM is an item id",
    )
    p.add_argument("--store", help="store URI (default: $NEO4J_URI, else local:./kgrec-store)")
    p.add_argument("-k", type=k_option, default=5, help="number of paths (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd  # here, as the store: kgrec explain --help imports neither

    from kgrec.store import open_store

    if args.domain is not None:
        item = item_uid(args.domain, args.item)
    else:
        item = _as_uid(args.item)
        if item is None:
            raise InputError(
                f"{args.item!r} is no item uid (DOMAIN:ITEM_ID, e.g. ml-100k:242); for an "
                "item id, name its domain with --domain",
                field="ITEM",
            )
    with open_store(args.store) as store:
        try:
            table = store.explain(args.user, item, k=args.k)
        except InputError as exc:  # the Python API's argument names: the usage's, here
            if exc.field not in ("user", "item"):
                raise
            try:  # a hint, never in place of the error: a store that refuses it gives none
                hint = _spelt_otherwise(store, args.user if exc.field == "user" else None, item)
                if exc.field == "item" and args.domain is not None and not hint:
                    hint = _uid_with_domain(store, args.item)
            except StoreError:
                hint = ""
            raise InputError(exc.message + hint, field=exc.field.upper()) from None
    if args.json:  # JSON lines: one object per path, none for no path (and no blank line)
        for line in table.to_json(orient="records", lines=True).splitlines():
            if line:  # (no path: pandas gives a newline alone)
                print(line)
    elif table.empty:
        print(f"no path of the kinds kgrec explains leads from user {args.user} to {item}")
    else:
        with pd.option_context("display.max_colwidth", 120, "display.width", 200):
            print(table[["rank", "kind", "cost", "text"]].to_string(index=False))
    return 0


def _spelt_otherwise(store: GraphStore, user: str | None, item: str) -> str:
    """A hint naming the user (``user``, when it is the one not found) or else the item uid
    ``item`` as the store spells it with other leading zeros (``6`` for ``00006``: a
    spreadsheet's export drops them), or ``""``."""
    if user is not None:
        spellings = zero_spellings(user)
        return spelling_hint(store.user_ids(spellings) if spellings else [])
    domain, _, item_id = item.partition(":")
    uids = [f"{domain}:{spelt}" for spelt in zero_spellings(item_id)]
    return spelling_hint(store.items(uids)["uid"] if uids else [])


def _as_uid(given: str) -> str | None:
    """ITEM as the item uid ``DOMAIN:ITEM_ID`` it spells (whitespace around the domain or the
    id is no part of them), or None where it spells none."""
    domain, colon, item_id = given.partition(":")
    if not (colon and domain.strip() and item_id.strip()):
        return None
    return item_uid(domain.rstrip(), item_id.lstrip())


def _uid_with_domain(store: GraphStore, given: str) -> str:
    """A hint where ITEM, given with ``--domain``, is an item uid of the store itself
    (``action:casino --domain action`` looked for ``action:action:casino``), or ``""``."""
    uid = _as_uid(given)
    if uid is None or len(store.items([uid])) == 0:
        return ""
    return f" ({given!r} is an item uid: give it without --domain)"
