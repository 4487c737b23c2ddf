"""Two catalogues of the same films with no user in common, from ml-1m (issue 12, point 5).

    .venv/bin/python bench/two_catalogues.py --data $KGREC_DATA/ml-1m --out data/ml1m-pair \
        [--seed 0] [--train-per-user 5]

ml-1m's users, shuffled with the seed, fall into two disjoint halves. Each half's ratings are a
catalogue of its own, with item ids of its own (``a<k>``, ``b<k>``, numbered in a seeded order, so
an id says nothing about the film): ``ml1m-a`` (the source: every rating is training data) and
``ml1m-b`` (the target, made sparse). The only thing the two share is knowledge: each item is
tied to one entity per film, ``film:<n>`` (``n``: the film's line in ``ml-1m.item``), by the
relation ``item.film``, and each film entity to its genres, ``genre:<name>``, by
``film.film.genre``. The items keep their titles, so a text embedding sees the same title on
both sides.

The target: each user of ``ml1m-b`` has ``n`` ratings (at least 20 in ml-1m), in a seeded
random order: ``n // 10`` go to valid, ``n // 10`` to test (ml100k-kg's 80/10/10, RecBole's
rounding for ``n >= 10``) and of the rest only the first ``--train-per-user`` to train; the
others are dropped from the files altogether (never observed). The folder written:

- ``ml1m-a/ml1m-a.{inter,item,kg,link}`` and ``ml1m-b/ml1m-b.{inter,item,kg,link}``: RecBole
  atomic files (the .inter of ml1m-b holds only the kept train, valid and test ratings; each
  catalogue's .item holds the films its ratings name);
- ``split/{train,valid,test}.tsv``: the target's split files (``user_id<TAB>item_id``);
- ``films.tsv``: film entity, ml-1m item id, item id in ml1m-a and in ml1m-b (empty where a
  half never rated the film).

Loading and using it (a store of its own; item ids are namespaced by domain, ``ml1m-a:a17``)::

    kgrec load recbole data/ml1m-pair/ml1m-a --store local:stores/ml1m-pair
    kgrec load recbole data/ml1m-pair/ml1m-b --store local:stores/ml1m-pair
    kgrec embed --store local:stores/ml1m-pair --kinds Item
    kgrec train --model cross-domain --split data/ml1m-pair/split --target-domain ml1m-b \
        --store local:stores/ml1m-pair --out runs/pair-cd-s0

Each load reads the folder's .kg and .link with its ratings; the link file ties each item to an
entity of its own id (``a17``: the item itself), whose triple ``a17 item.film film:<n>`` reaches
the shared film entity. Nothing is trained here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SOURCE, TARGET = "ml1m-a", "ml1m-b"
ITEM_FILM, FILM_GENRE = "item.film", "film.film.genre"


def read_atomic(path: Path) -> pd.DataFrame:
    """A RecBole atomic file as strings, the ``:type`` suffixes dropped from the header."""
    frame = pd.read_csv(
        path, sep="\t", dtype=str, keep_default_na=False, quoting=3, encoding="utf-8"
    )
    frame.attrs["types"] = dict(name.partition(":")[::2] for name in frame.columns)
    frame.columns = [name.split(":", 1)[0] for name in frame.columns]
    return frame


def write_atomic(path: Path, frame: pd.DataFrame, types: dict[str, str] | None) -> None:
    """``frame`` as a tab-separated file; the header ``name:type``, or the names alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "\t".join(name if types is None else f"{name}:{types[name]}" for name in frame.columns)
    lines = ["\t".join(row) for row in frame.astype(str).itertuples(index=False, name=None)]
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")


def build_pair(data: Path, out: Path, *, seed: int, train_per_user: int) -> dict[str, int]:
    """Write the pair described in this module's docstring into ``out``; returns counts."""
    if train_per_user <= 0:
        raise ValueError(f"--train-per-user must be positive, got {train_per_user}")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty: choose a new --out folder")
    name = data.name
    items = read_atomic(data / f"{name}.item")
    inter = read_atomic(data / f"{name}.inter")
    genre = next((c for c in ("genre", "class") if c in items), None)  # ml-1m's, ml-100k's
    needed = {f"{name}.inter": (inter, ["user_id", "item_id", "rating", "timestamp"])}
    needed[f"{name}.item"] = (items, ["item_id", genre or "genre"])
    for file, (frame, columns) in needed.items():  # before anything is written
        missing = [c for c in columns if c not in frame]
        if missing:
            raise ValueError(f"{data / file} has no column {missing[0]!r}")
    film = pd.Series(
        [f"film:{n}" for n in range(1, len(items) + 1)], index=items["item_id"].to_numpy()
    )
    if film.index.duplicated().any():
        raise ValueError(f"{data / f'{name}.item'} names an item twice")
    unknown = ~inter["item_id"].isin(film.index)
    if unknown.any():
        raise ValueError(
            f"{name}.inter names items not in {name}.item, e.g. {inter.item_id[unknown].iloc[0]!r}"
        )
    rng = np.random.default_rng(seed)

    users = np.sort(inter["user_id"].unique())
    shuffled = rng.permutation(users)
    halves = {SOURCE: set(shuffled[: len(users) // 2]), TARGET: set(shuffled[len(users) // 2 :])}
    inter = inter.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)
    parts = {half: inter[inter["user_id"].isin(members)] for half, members in halves.items()}

    # the target: valid, test and at most train_per_user training ratings per user
    target = parts[TARGET].reset_index(drop=True)
    keys = rng.random(len(target))
    order = np.lexsort((keys, target["user_id"].to_numpy()))
    ranked = target.iloc[order].reset_index(drop=True)
    count = ranked.groupby("user_id", sort=False)["item_id"].transform("size").to_numpy()
    position = ranked.groupby("user_id", sort=False).cumcount().to_numpy()
    n_held = count // 10
    label = np.where(
        position < n_held,
        "valid",
        np.where(
            position < 2 * n_held,
            "test",
            np.where(position < 2 * n_held + train_per_user, "train", ""),
        ),
    )
    ranked["part"] = label
    parts[TARGET] = ranked[label != ""]

    mapping = pd.DataFrame({"film": film.to_numpy(), "ml1m_item_id": film.index})
    written: dict[str, int] = {}
    for half, prefix in ((SOURCE, "a"), (TARGET, "b")):
        rated = parts[half]["item_id"].unique()
        ids = pd.Series(
            [f"{prefix}{k}" for k in rng.permutation(len(rated)) + 1], index=np.sort(rated)
        )
        mapping[half] = mapping["ml1m_item_id"].map(ids).fillna("")
        folder = out / half
        ratings = parts[half].assign(item_id=parts[half]["item_id"].map(ids))
        write_atomic(
            folder / f"{half}.inter",
            ratings[["user_id", "item_id", "rating", "timestamp"]],
            {"user_id": "token", "item_id": "token", "rating": "float", "timestamp": "float"},
        )
        catalogue = items[items["item_id"].isin(ids.index)]
        catalogue = catalogue.assign(item_id=catalogue["item_id"].map(ids))
        write_atomic(folder / f"{half}.item", catalogue, items.attrs["types"])
        links = pd.DataFrame({"item_id": ids.to_numpy(), "entity_id": ids.to_numpy()})
        write_atomic(folder / f"{half}.link", links, {"item_id": "token", "entity_id": "token"})
        genres = items.set_index("item_id").loc[ids.index, genre].str.split(" ")
        triples = [(item, ITEM_FILM, film[title]) for title, item in ids.items()]
        triples += [
            (film[title], FILM_GENRE, f"genre:{genre}")
            for title, names in genres.items()
            for genre in names
            if genre
        ]
        write_atomic(
            folder / f"{half}.kg",
            pd.DataFrame(triples, columns=["head_id", "relation_id", "tail_id"]),
            {"head_id": "token", "relation_id": "token", "tail_id": "token"},
        )
        written[f"{half} users"] = int(parts[half]["user_id"].nunique())
        written[f"{half} items"] = len(ids)
        written[f"{half} ratings"] = len(ratings)
        written[f"{half} triples"] = len(triples)
        if half == TARGET:
            split = ratings.assign(part=parts[TARGET]["part"].to_numpy())
            for part in ("train", "valid", "test"):
                rows = split[split["part"] == part].sort_values(["user_id", "item_id"])
                write_atomic(
                    out / "split" / f"{part}.tsv",
                    rows[["user_id", "item_id"]],
                    None,
                )
                written[f"{TARGET} {part}"] = len(rows)
    mapping = mapping[(mapping[SOURCE] != "") | (mapping[TARGET] != "")]
    mapping.to_csv(out / "films.tsv", sep="\t", index=False)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the ml-1m RecBole folder")
    parser.add_argument("--out", type=Path, required=True, help="a new (or empty) folder")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--train-per-user",
        type=int,
        default=5,
        help="training ratings kept per target user (default 5)",
    )
    args = parser.parse_args(argv)
    try:
        counts = build_pair(args.data, args.out, seed=args.seed, train_per_user=args.train_per_user)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key, value in counts.items():
        print(f"{key:22s} {value:9,d}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
