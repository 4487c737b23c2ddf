"""`kgrec quickstart`: the main job on ml-100k in the embedded store, one command.

It runs the same commands a user would (each printed before it runs): load ml-100k with its
knowledge graph into a LocalStore, embed the item texts, train and evaluate a model on the
ml100k-kg protocol, publish the recommendations, then shows a few users' recommendations with
the paths that explain them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kgrec.commands.options import add_threads_option, path_option
from kgrec.errors import InputError, KgrecError
from kgrec.files import locked, write_atomic
from kgrec.models.registry import MODELS

if TYPE_CHECKING:  # the steps' modules are imported as the command runs: --help needs none
    import pandas as pd

EPOCHS = 40  # the quickstart's training budget (kgrec train's default is 300)
# in --out: the store and run beside it are a quickstart's, which the next one replaces
MARKER = ".kgrec-quickstart"
NOT_LEARNING = [name for name, spec in MODELS.items() if not spec.learns]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quickstart",
        description=(
            "The main job on ml-100k with its knowledge graph, in a LocalStore (no server): "
            "kgrec load, embed, train (which evaluates), recommend, and explanations of a few "
            "users' recommendations."
        ),
    )
    p.add_argument(
        "--data",
        type=path_option,
        help="the ml-100k folder (default: $KGREC_DATA/ml-100k)",
    )
    p.add_argument("--out", type=path_option, default=Path("runs/quickstart"), help="%(default)s")
    p.add_argument("--model", choices=list(MODELS), default="lightgcn", help="%(default)s")
    p.add_argument(
        "--epochs",
        type=int,
        help=f"at most this many epochs, a budget, not a limit (default {EPOCHS}; not for "
        f"{', '.join(NOT_LEARNING)}, which train nothing by gradient)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--users", type=int, default=3, help="users to show (%(default)s)")
    add_threads_option(p)
    p.set_defaults(func=run)


def data_folder(path: Path | None) -> Path:
    """The ml-100k folder, or an error that says how to get it."""
    given = path is not None
    if path is None:
        root = os.environ.get("KGREC_DATA")
        if not root:
            raise KgrecError(
                "no data: set KGREC_DATA to a folder holding ml-100k/ (RecBole atomic files), "
                "pass --data, or fetch it with `kgrec download ml-100k --dest DIR`"
            )
        if not root.strip():  # as kgrec download refuses it: not a folder named by blanks
            raise InputError(
                f"KGREC_DATA is blank ({root!r}): set it to a folder holding ml-100k/, or unset "
                "it and pass --data",
                field="KGREC_DATA",
            )
        path = Path(root) / "ml-100k"
    if not any(path.glob("*.inter")):
        if given:  # kgrec download writes DIR/ml-100k, which --data then names
            raise KgrecError(
                f"--data {path} holds no ml-100k atomic files (*.inter); fetch them with "
                "`kgrec download ml-100k --dest DIR` and pass --data DIR/ml-100k"
            )
        raise KgrecError(
            f"{path} holds no ml-100k atomic files (*.inter); fetch them with "
            f"`kgrec download ml-100k --dest {path.parent}` or point KGREC_DATA elsewhere"
        )
    return path


def run(args: argparse.Namespace) -> int:
    from kgrec.cli import main  # the commands, exactly as on the command line
    from kgrec.data.split import check_seed
    from kgrec.experiment import RUN_FILE
    from kgrec.store import open_store
    from kgrec.store.local import MANIFEST

    # kgrec train refuses --epochs for a model that trains nothing by gradient (popularity,
    # text-similarity, EASE): give it only to one that does, and refuse it before any step
    learns = MODELS[args.model].learns
    if args.epochs is not None and not learns:
        raise InputError(
            f"{args.model} trains nothing by gradient: --epochs does not apply", field="--epochs"
        )
    # refused here, not after the load and embed steps have run (and written the store)
    if args.epochs is not None and args.epochs < 1:
        raise InputError(f"epochs must be positive, got {args.epochs}", field="--epochs")
    check_seed(args.seed)  # kgrec train's check, made before the earlier quickstart's is removed
    if args.users < 0:
        raise InputError(f"users must be 0 or more, got {args.users}", field="--users")
    epochs = ["--epochs", str(EPOCHS if args.epochs is None else args.epochs)] if learns else []
    data = data_folder(args.data)
    if args.out.exists() and not args.out.is_dir():
        raise KgrecError(f"--out {args.out} is a file, not a folder: choose another --out")
    store_path = args.out / "store"
    run_dir = args.out / args.model
    # a fresh graph and run each time (embeddings come from the cache); only what an earlier
    # quickstart wrote is removed (the marker names it): a store or run of the user's own in
    # --out is refused, even beside a quickstart's (kgrec train --out OUT/ease after one)
    marker = args.out / MARKER
    made = _made(marker)
    for path in (store_path, run_dir):
        if path.exists() and made is not None and path.name not in made:
            raise KgrecError(
                f"{path} exists and no kgrec quickstart made it (not named in {marker}): "
                "kgrec never deletes it; move it away, or choose another --out"
            )
    # both checked before either is removed: a refused run folder leaves the store as it was
    owned = [
        path for path, marker in ((store_path, MANIFEST), (run_dir, RUN_FILE)) if _own(path, marker)
    ]
    for path in owned:  # a link is the user's: what it links to is never removed
        if path.is_symlink():
            raise KgrecError(
                f"{path} is a link (to {os.readlink(path)}): kgrec never deletes what it links "
                "to; remove the link, or choose another --out"
            )
    for path in owned:
        shutil.rmtree(path)
    try:  # absent when it fails: nothing above was removed
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file above it (--out FILE/sub), no permission
        raise KgrecError(
            f"--out {args.out}: cannot make it ({exc.strerror}): choose another --out"
        ) from None
    named = sorted((made or set()) | {store_path.name, run_dir.name})
    text = "".join(f"{name}\n" for name in named)  # a link there is replaced, not written through
    try:
        write_atomic(marker, lambda tmp: tmp.write_text(text))
    except OSError as exc:  # a folder it may not write in, a full disk: before any step
        raise KgrecError(
            f"--out {args.out}: cannot write in it ({exc.strerror or exc}): choose another --out"
        ) from None
    store = f"local:{store_path}"
    data_arg, run_arg = _path_arg(data), _path_arg(run_dir)
    threads = ["--threads", str(args.threads)] if args.threads else []
    steps = [
        ["load", "recbole", data_arg, "--domain", "movies", "--store", store],
        ["graph", "stats", "--store", store],
        ["embed", "--store", store, "--kinds", "Item", *threads],
        [
            "train",
            "--model",
            args.model,
            "--protocol",
            "ml100k-kg",
            "--seed",
            str(args.seed),
            "--store",
            store,
            *epochs,
            "--out",
            run_arg,
            *threads,
        ],
        ["recommend", "--run", run_arg, "-k", "10", *threads],
    ]
    for step in steps:
        print(f"\n$ kgrec {shlex.join(step)}", flush=True)  # quoted: a shell runs it as shown
        code = main(step)
        if code:
            return code
    print(f"\nSample recommendations (run {run_dir.name}) and why:")
    with open_store(store) as opened:
        show_samples(opened.snapshot(), opened.recommendations(run_dir.name), args.users, store)
    print(f"\nThe graph, run and metrics are in {args.out}/ (metrics: {run_dir}/metrics.json).")
    return 0


def _path_arg(path: Path) -> str:
    """``path`` as a step's argument: a relative one whose name starts with "-" as ``./-x``,
    which no step takes for an option."""
    text = str(path)
    return f"./{text}" if text.startswith("-") else text


def _made(marker: Path) -> set[str] | None:
    """The folders of --out an earlier quickstart made, as its marker names them; None where
    the marker names none (one written before it named them: every store and run was its)."""
    if not marker.is_file():
        return set()
    names = {line.strip() for line in marker.read_text().splitlines() if line.strip()}
    return names or None


def _own(path: Path, marker: str) -> bool:
    """Whether ``path``, a folder the quickstart's marker names, is there to be removed: a
    store or run a quickstart wrote (its ``marker`` file), or one an earlier quickstart left
    unfinished (a first load or a train stopped before it wrote ``marker``: kgrec's own files
    alone, no graph or model, nothing to lose; said on stderr). False where it is absent.
    Else :class:`KgrecError` saying what it holds and what to do: another process writing it
    now, files that are not kgrec's, or a finished one that holds a file kgrec did not write
    (the user's, which the removal would take with it)."""
    from kgrec.experiment import RUN_FILE, not_written_by_train, unfinished_run
    from kgrec.store.local import LOCK, MANIFEST, first_write_left, not_written_by_a_store

    if not path.exists():
        return False
    if (path / marker).exists():
        # a store another process writes (its lock held: a load, embed or publish), or a run
        # a kgrec train holds (its folder locked), is never deleted under that process
        if marker == MANIFEST and locked(path / LOCK):
            raise KgrecError(
                f"{path} is being written now by another process (a kgrec load, embed, "
                "recommend or quickstart): wait for it to finish, or stop it, then run kgrec "
                "quickstart again"
            )
        if marker == RUN_FILE and locked(path):
            raise _trained_now(path)
        foreign = (not_written_by_a_store if marker == MANIFEST else not_written_by_train)(path)
        if foreign:  # before, deleted with the rest
            raise KgrecError(
                f"{path} holds files kgrec did not write ({', '.join(foreign)}): kgrec never "
                "deletes them, and the quickstart replaces this folder whole; move them away, "
                "or choose another --out"
            )
        return True
    if marker == MANIFEST:
        left = first_write_left(path)
        if left is not None and left[0] == "running":
            raise KgrecError(
                f"{path} is being loaded now by another process (a kgrec load or quickstart, "
                f"pid {left[1]}): wait for it to finish, or stop it, then run kgrec quickstart "
                "again"
            )
        what = "first load"
    else:
        left = unfinished_run(path)
        if left == "running":
            raise _trained_now(path)
        what = "run"
    if left is not None:  # before, "was not written by kgrec (no manifest.json / run.json)"
        print(
            f"{path}: an earlier quickstart's unfinished {what} (stopped before it wrote "
            f"{marker}; kgrec's own files alone), replaced",
            file=sys.stderr,
        )
        return True
    raise KgrecError(
        f"{path} exists and was not written by kgrec (no {marker}); choose another --out"
    )


def _trained_now(path: Path) -> KgrecError:
    return KgrecError(
        f"{path} is being trained now by another process (a kgrec train or quickstart): wait "
        "for it to finish, or stop it, then run kgrec quickstart again"
    )


def show_samples(tables, recommendations: pd.DataFrame, users: int, store: str) -> None:
    """A few users' recommendations, each with its best path; where a path shows an entity
    by its id (it has no name), a note says how to load names into ``store`` (the quickstart's,
    a URI) and the ``kgrec explain`` that then shows them."""
    from kgrec.explain import GraphIndex, explain

    index = GraphIndex(tables)
    titles = dict(zip(tables.items["uid"], tables.items["title"], strict=True))
    unnamed = None  # (entity id, user, item) of a path that shows an entity by its id
    for user in sorted(recommendations["user_id"].unique(), key=lambda u: (len(u), u))[:users]:
        top = recommendations[recommendations["user_id"] == user].sort_values("rank").head(3)
        print(f"\nuser {user}:")
        for row in top.itertuples():
            print(f"  {row.rank}. {titles.get(row.item_uid, row.item_uid)} (score {row.score:.3f})")
            why = explain(index, user, row.item_uid, k=1)
            if not why.empty:
                print(f"     because {why['text'].iloc[0]}")
                for node in why["nodes"].iloc[0]:
                    kind, _, key = node.partition(":")
                    if kind == "Entity" and index.entity_name(key) is None:
                        unnamed = unnamed or (key, user, row.item_uid)
    if unnamed is not None:
        # the store named: without --store, kgrec load writes $NEO4J_URI's or ./kgrec-store
        # (before, the note's command loaded the names there, not into the quickstart's store)
        key, user, item = unnamed
        load = shlex.join(
            ["kgrec", "load", "table", "NAMES", "--kind", "entities", "--store", store]
        )
        why = shlex.join(["kgrec", "explain", str(user), str(item), "--store", store])
        print(
            f"\n({key} and the like are the knowledge graph's own entity ids: its files name "
            f"no entity. `{load}` loads names (columns entity_id, name), which `{why}` then "
            "shows; a new quickstart replaces this store.)"
        )
