"""`kgrec recommend`: a trained run's top-K per user, published into a store, shown or
exported; an adapter over :meth:`kgrec.experiment.Run.recommend` and ``publish``."""

from __future__ import annotations

import argparse
import os
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from kgrec.commands.options import (
    add_device_option,
    add_threads_option,
    id_option,
    k_option,
    path_option,
)
from kgrec.errors import InputError
from kgrec.files import write_atomic
from kgrec.text import VECTOR_PROPERTY

if TYPE_CHECKING:  # imported as the command runs: --help needs neither torch nor pandas
    import pandas as pd

EXPORT_FORMATS = (".csv", ".tsv", ".parquet")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend",
        description=(
            "Rank every target-domain item for every user (cold-start users included; items "
            "a user already has are never recommended). By default publish the top K into the "
            "store: in Neo4j (:User)-[:RECOMMENDED {score, rank, model, run}]->(:Item), "
            "replacing the run's earlier edges, plus the model's user and item embeddings as "
            f"the node property {VECTOR_PROPERTY!r} with a vector index. --show prints users' "
            "lists and --export writes a file instead, with no store needed."
        ),
    )
    p.add_argument(
        "--run", type=path_option, required=True, metavar="RUN", help="trained run folder"
    )
    p.add_argument(
        "--store",
        help="store to publish into, and with --show or --export to read newcomers, items "
        "loaded after training and what users have from (default: the run's store)",
    )
    p.add_argument("-k", type=k_option, default=20, help="recommendations per user (20)")
    p.add_argument(
        "--name",
        type=partial(id_option, what="a run name"),
        help="run name on the edges (default: the run folder's name)",
    )
    p.add_argument("--no-vectors", action="store_true", help="publish no embeddings")
    p.add_argument(
        "--show",
        metavar="USER",
        action="append",
        type=id_option,
        help="print USER's top K (repeatable)",
    )
    p.add_argument(
        "--user",
        metavar="USER",
        action="append",
        type=id_option,
        help="publish (and print, with why) USER's top K only, the run's other users' left as "
        "they are; a user loaded into the store after training is folded in (repeatable)",
    )
    p.add_argument(
        "--export",
        type=path_option,
        metavar="FILE",
        help="write every user's top K to FILE (.csv, .tsv or .parquet); never overwrites",
    )
    add_threads_option(p)
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from kgrec.experiment import load_run

    started = time.perf_counter()
    if args.user and (args.show or args.export is not None):
        # --user publishes into the store; --show and --export exist not to
        raise InputError(
            "--user publishes the users' lists into the store; to print them without "
            "publishing use --show USER (a user loaded after training is folded in there too), "
            "and --export FILE writes every user's list",
            field="--user",
        )
    if args.no_vectors and not args.user and (args.show or args.export is not None):
        # before, ignored: neither prints nor exports embeddings
        raise InputError(
            "--no-vectors is for a publish (it publishes no embeddings); --show and --export "
            "publish nothing",
            field="--no-vectors",
        )
    if args.export is not None:
        _check_export(args.export)
    loaded = load_run(args.run, device=args.device)
    name = args.name or loaded.name
    if args.user:
        return _publish_users(loaded, args, name, started)
    if args.show:
        table = loaded.recommend(args.k, users=args.show, name=name, store=args.store)
        titles = loaded.item_titles(table["item_uid"], store=args.store)
        if titles is not None:  # (None: a run of a kgrec before session 45 saved none)
            table = table.assign(title=titles)
        with pd.option_context("display.width", 200):
            for user in dict.fromkeys(args.show):
                rows = table[table["user_id"] == user]
                print(f"user {user} (run {name!r}, {loaded.info['model']}):")
                if rows.empty:
                    print("  no item left to recommend: the user has every candidate item")
                else:
                    print(_shown(rows).to_string(index=False))
    if args.export is not None:
        table = loaded.recommend(args.k, name=name, store=args.store)
        _write_export(table, args.export)
        print(
            f"wrote {len(table):,} recommendations for {table['user_id'].nunique():,} users to "
            f"{args.export}"
        )
    if args.show or args.export is not None:
        return 0
    store_uri = args.store or loaded.settings.get("store")
    if not store_uri:
        raise InputError(
            "the run was trained from files: name a store with --store, or use --show USER / "
            "--export FILE"
        )
    table = loaded.publish(args.store, k=args.k, name=name, vectors=not args.no_vectors)
    seconds = time.perf_counter() - started
    maps = loaded.experiment.maps
    cold = int(loaded.experiment.split.cold_users(len(maps.users)).sum())
    print(
        f"published {len(table):,} recommendations of run {name!r} ({loaded.info['model']}) for "
        f"{table['user_id'].nunique():,} users ({cold:,} with no target-domain training history) "
        f"into {store_uri} in {seconds:.1f} s"
    )
    if not args.no_vectors and not loaded.model.publishes_vectors:
        print(
            f"no vectors published: {loaded.info['model']}'s user and item representations are "
            "catalogue-sized rows, not embeddings"
        )
    return 0


def _shown(rows: pd.DataFrame) -> pd.DataFrame:
    """The columns --show prints of a user's ``rows``: rank, item_uid, title (on one line,
    left-aligned under a left-aligned header; an empty cell for an item without one) and
    score; rows without titles (a run of a kgrec before session 45) without that column."""
    import pandas as pd

    if "title" not in rows:
        return rows[["rank", "item_uid", "score"]]
    titles = _one_line(rows["title"])
    width = max(len("title"), *map(len, titles))
    return pd.DataFrame(
        {
            "rank": rows["rank"],
            "item_uid": rows["item_uid"],
            "title".ljust(width): [title.ljust(width) for title in titles],
            "score": rows["score"],
        }
    )


def _one_line(titles) -> list[str]:
    """Each title on one line (a newline would break the printed row), whitespace runs made
    one space."""
    return [" ".join(title.split()) for title in titles]


def _publish_users(loaded, args: argparse.Namespace, name: str, started: float) -> int:
    import pandas as pd

    from kgrec.store import open_store

    store_uri = args.store or loaded.settings.get("store")
    table = loaded.publish(
        args.store, k=args.k, name=name, vectors=not args.no_vectors, users=args.user
    )
    seconds = time.perf_counter() - started
    newcomers = [
        u
        for u, i in zip(args.user, loaded.experiment.maps.user_index(args.user), strict=True)
        if i < 0
    ]
    titles = loaded.item_titles(table["item_uid"], store=args.store)  # as --show prints them
    if titles is not None:  # (None: a run of a kgrec before session 45 saved none)
        table = table.assign(title=_one_line(titles))
    lists = dict(list(table.groupby("user_id", sort=False)))
    with open_store(store_uri) as store:
        for user in dict.fromkeys(args.user):
            note = " (folded in: loaded after training)" if user in newcomers else ""
            if user not in lists:  # as --show says it
                print(f"user {user}{note}, run {name!r} ({loaded.info['model']}):")
                print("  no item left to recommend: the user has every candidate item")
                continue
            rows = lists[user]
            # a user of the run with no interactions in the store (a cold-start user, say)
            # has a list but no path to explain it: the list was published all the same
            explained = not store.user_interactions([user]).empty
            if not explained:
                note += " (no interactions in the store: nothing to explain the list by)"
            print(f"user {user}{note}, run {name!r} ({loaded.info['model']}):")
            # each title beside its uid, both padded to the list's longest: scores in a column
            width = max(map(len, rows["title"])) if "title" in rows else 0
            uid_width = max(map(len, rows["item_uid"])) if width else 0
            for row in rows.itertuples():
                why = store.explain(user, row.item_uid, k=1) if explained else pd.DataFrame()
                reason = f"  because {why['text'].iloc[0]}" if not why.empty else ""
                item = row.item_uid
                if width:
                    item = f"{item:<{uid_width}}  {row.title:<{width}}"
                print(f"  {row.rank:3d}. {item}  {row.score:.3f}{reason}")
    print(
        f"published {len(table):,} recommendations for {table['user_id'].nunique():,} user(s) into "
        f"{store_uri} in {seconds:.2f} s"
    )
    return 0


def _check_export(path: Path) -> None:
    if path.name.lower() in EXPORT_FORMATS:  # Python reads ".csv" as a hidden file, no suffix
        raise InputError(
            f"the file name {path.name!r} is only an extension: name the file, as recs{path.name}",
            file=str(path),
            field="--export",
        )
    if path.suffix.lower() not in EXPORT_FORMATS:  # RECS.CSV is a csv file too
        raise InputError(
            f"--export writes {', '.join(EXPORT_FORMATS)} files", file=str(path), field="--export"
        )
    if path.exists() or path.is_symlink():  # a dangling link is the user's too
        raise _exists(path)
    # before the ranking; a dangling link is no folder to make
    folder = next(p for p in path.absolute().parents if p.exists() or p.is_symlink())
    if not folder.is_dir():
        what = "a file" if folder.exists() else "a link to nothing"
        raise InputError(f"{folder} is {what}, not a folder", file=str(path), field="--export")
    if not os.access(folder, os.W_OK | os.X_OK):  # before minutes of ranking
        raise InputError(
            f"cannot write in {folder} (permission denied)", file=str(path), field="--export"
        )


def _exists(path: Path) -> InputError:
    return InputError(
        "the file exists; kgrec never overwrites it: move it away, or choose another --export FILE",
        file=str(path),
        field="--export",
    )


def _write_export(table: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()

    def write(tmp: Path) -> None:
        if suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")

    try:
        write_atomic(path, write, replace=False)
    except InputError:  # the file came after _check_export, as the run ranked
        raise _exists(path) from None
    except OSError as exc:  # a read-only file system, a full disk: no traceback
        raise InputError(
            f"cannot write the file ({exc.strerror or exc})", file=str(path), field="--export"
        ) from None
