"""Explanation latency: `store.explain` on seeded random (user, item) pairs of a store.

    OMP_NUM_THREADS=1 .venv/bin/python bench/explain.py --store bolt://127.0.0.1:7687 [--pairs 100]

Users are drawn among those with interactions, items among all items (the pairs a user asks
about are not only the recommended ones). The first call is timed apart: a local store builds
its index of the graph there, Neo4j plans the query. Prints the first call, then the median,
90th percentile and largest of the other calls in seconds, and how many pairs had a path.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from kgrec.errors import run_script
from kgrec.settings import neo4j_uri
from kgrec.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=neo4j_uri())
    parser.add_argument("--pairs", type=int, default=100, help="timed pairs after the first")
    parser.add_argument("--k", type=int, default=5, help="paths per explanation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error(f"--pairs must be at least 1, got {args.pairs}")

    with open_store(args.store) as store:
        tables = store.snapshot()
        users = sorted(tables.interactions["user_id"].unique())
        items = sorted(tables.items["uid"])
        if not users:
            parser.error(f"{args.store} holds no interactions: nothing to explain")
        rng = random.Random(args.seed)
        pairs = [(rng.choice(users), rng.choice(items)) for _ in range(args.pairs + 1)]
        seconds, explained = [], 0
        for user, item in pairs:
            clock = time.perf_counter()
            paths = store.explain(user, item, k=args.k)
            seconds.append(time.perf_counter() - clock)
            explained += len(paths) > 0
    first, rest = seconds[0], sorted(seconds[1:])
    print(f"store      {args.store}: {len(users):,} users, {len(items):,} items")
    print(f"first call {first:.3f} s")
    print(
        f"{len(rest)} more    median {statistics.median(rest):.3f} s, "
        f"90th percentile {rest[int(0.9 * (len(rest) - 1))]:.3f} s, max {rest[-1]:.3f} s"
    )
    print(f"with paths {explained} of {len(pairs)} pairs")


if __name__ == "__main__":
    run_script(main)
