"""`kgrec recommend`: publish a trained run's top-K per user into a store."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from kgrec.commands.train import LoadedRun, load_run
from kgrec.data.export import INTERACTS
from kgrec.errors import InputError
from kgrec.recommend import embeddings, inner_product_vectors, rank, recommendation_table
from kgrec.store import open_store

VECTOR_PROPERTY = "gnn_embedding"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend",
        help="publish a trained run's top-K recommendations (and its embeddings) into a store",
        description=(
            "Rank every target-domain item for every user (cold-start users included; items "
            "a user already has are never recommended) and publish the top K into the store: "
            "in Neo4j (:User)-[:RECOMMENDED {score, rank, model, run}]->(:Item), replacing "
            "the run's earlier edges, plus the model's user and item embeddings as the node "
            f"property {VECTOR_PROPERTY!r} with a vector index."
        ),
    )
    p.add_argument("--run", type=Path, required=True, metavar="RUN", help="trained run folder")
    p.add_argument("--store", help="store to publish into (default: the run's store)")
    p.add_argument("-k", type=int, default=20, help="recommendations per user (20)")
    p.add_argument("--name", help="run name on the edges (default: the run folder's name)")
    p.add_argument("--no-vectors", action="store_true", help="publish no embeddings")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    loaded = load_run(args.run)
    name = args.name or loaded.name
    store_uri = args.store or loaded.run["store"]
    if not store_uri:
        raise InputError("the run was trained from files; name a store with --store")
    table, user_vectors, item_vectors = publishable(loaded, k=args.k, run_name=name)
    maps = loaded.experiment.maps
    with open_store(store_uri) as store:
        count = store.publish(table, run=name)
        if not args.no_vectors:
            store.write_vectors("User", list(maps.users), user_vectors, property=VECTOR_PROPERTY)
            store.write_vectors("Item", list(maps.items), item_vectors, property=VECTOR_PROPERTY)
    seconds = time.perf_counter() - started
    users = table["user_id"].nunique()
    cold = int(loaded.experiment.split.cold_users(len(maps.users)).sum())
    print(
        f"published {count} recommendations of run {name!r} ({loaded.run['model']}) for "
        f"{users} users ({cold} with no target-domain training history) into {store_uri} "
        f"in {seconds:.1f} s"
    )
    return 0


def publishable(loaded: LoadedRun, *, k: int, run_name: str):
    """(RECOMMENDATIONS table, user vectors, item vectors) of a loaded run."""
    experiment = loaded.experiment
    target = experiment.split.target_domain
    candidates = torch.nonzero(loaded.graph.item_domain == target).flatten()
    users = torch.arange(len(experiment.maps.users))
    user_emb, item_emb = embeddings(loaded.model, loaded.graph)
    items, scores = rank(
        user_emb,
        item_emb,
        users=users,
        k=min(k, len(candidates)),
        candidates=candidates,
        known=experiment.data[INTERACTS].edge_index,
        progress=True,
    )
    table = recommendation_table(
        experiment.maps, users, items, scores, model=loaded.run["model"], run=run_name
    )
    user_vectors, item_vectors = inner_product_vectors(user_emb, item_emb)
    return table, user_vectors, item_vectors
