"""Recommendation serving on ml-1m: batch `kgrec recommend` and top-20 latency in Neo4j.

Trains a small LightGCN on ml1m-action-comedy (quality is not the point here), loads ml-1m into
the Neo4j at $NEO4J_URI (default the local server, bolt://127.0.0.1:$NEO4J_PORT, port 7687
where NEO4J_PORT is unset), database $NEO4J_DATABASE (default neo4j; it is emptied first, so
``--wipe`` is required), then prints:

- the wall time of `kgrec recommend` for all 6,040 users (ranking + publishing; goal <= 30 s);
- p50 / p95 latency of a user's top-20 read back by Cypher over 1,000 random users
  (goal p95 <= 20 ms);
- p50 / p95 latency of an ad-hoc top-20 through the vector index (goal p95 <= 50 ms).

    python bench/recommend.py --wipe [--data $KGREC_DATA/ml-1m] [--work /tmp/kgrec-bench-rec]

The LightGCN run is kept in ``--work`` and reused by the next benchmark while its run.json
records the same settings and ``--data``. A run there of other settings or other data is
refused, its figures would not be of ``--data``: pass another ``--work``, or delete that run to
train a new one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from neo4j import RoutingControl
from neo4j.exceptions import DriverError, Neo4jError

from kgrec.errors import run_script
from kgrec.settings import neo4j_uri
from kgrec.store import default_database, neo4j_driver
from kgrec.store.neo4j import delete_all
from kgrec.store.queries import TOP_K, VECTOR_TOP_K, vector_index_name

# the run the benchmark trains, as its run.json records them (and --data, resolved)
TRAIN_SETTINGS = {"model": "lightgcn", "protocol": "ml1m-action-comedy", "seed": 0, "epochs": 3}


def fail(message: str) -> NoReturn:
    print(f"recommend.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def reusable(run: Path, data: Path) -> bool:
    """Whether ``run`` holds the finished run an earlier benchmark trained on ``data`` with
    :data:`TRAIN_SETTINGS`: False where it holds none (or an unfinished one, which kgrec
    train --resume finishes); an error where its run.json records other settings or other
    data. Before, any run there with a model.pt was measured, whatever data it learnt."""
    path = run / "run.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        fail(f"cannot read {path} ({exc}): delete {run}, or pass another --work")
    settings = info.get("settings") if isinstance(info, dict) else None
    if not isinstance(settings, dict):
        fail(f"{path} records no settings: delete {run}, or pass another --work")
    wanted = {**TRAIN_SETTINGS, "data": str(data.resolve())}
    differ = [
        f"{name} {settings.get(name)!r}, not {value!r}"
        for name, value in wanted.items()
        if settings.get(name) != value
    ]
    if differ:
        fail(
            f"{run} holds a run trained earlier with other settings ({'; '.join(differ)}), "
            f"whose figures would not be of --data {data}: pass another --work, or delete "
            f"{run} to train it again"
        )
    return info.get("status") == "done" and (run / "model.pt").exists()


def kgrec(*args: str) -> float:
    """Run a kgrec command; its wall time in seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kgrec", *args])
    if done.returncode:  # kgrec said why on stderr: its exit code, not a traceback
        sys.exit(done.returncode)
    return time.perf_counter() - started


def latencies(driver, query: str, users: list[str], **params) -> list[float]:
    out = []
    database = default_database()
    for user in users:
        started = time.perf_counter()
        records = driver.execute_query(
            query, user_id=user, routing_=RoutingControl.READ, database_=database, **params
        ).records
        out.append((time.perf_counter() - started) * 1000)
        if not records:
            raise SystemExit(f"no recommendations came back for user {user}")
    return out


def summary(name: str, ms: list[float], goal: float) -> str:
    p50 = statistics.median(ms)
    p95 = statistics.quantiles(ms, n=100)[94]
    verdict = "meets" if p95 <= goal else "MISSES"
    return (
        f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(ms)} users "
        f"({verdict} p95 <= {goal:g} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_data = Path(os.environ.get("KGREC_DATA", "../shared/datasets")) / "ml-1m"
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "kgrec-bench-rec"
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--wipe", action="store_true", help="allow emptying the Neo4j database")
    args = parser.parse_args()
    if args.users < 2:  # p95: quantiles of at least two latencies
        parser.error(f"--users must be at least 2, got {args.users}")
    uri = neo4j_uri()
    if not args.wipe:
        parser.error(f"the benchmark empties the Neo4j database at {uri}: pass --wipe")
    run = args.work / "lightgcn"
    reuse = reusable(run, args.data)  # before the server is reached: said without one
    database = default_database()
    # as kgrec's commands reach it: a URI they refuse (port 99999, which the driver reads as
    # 34463; a database in the path, which it ignores) is refused before it is emptied
    with neo4j_driver(uri) as driver:  # before training, not after it
        try:
            driver.verify_connectivity()
        except (DriverError, Neo4jError) as exc:
            fail(f"cannot reach Neo4j at {uri} ({exc})")
    if not reuse:  # --resume: an unfinished run of these settings is finished
        options = [(f"--{name}", str(value)) for name, value in TRAIN_SETTINGS.items()]
        kgrec(
            "train",
            *(word for option in options for word in option),
            "--data",
            str(args.data),
            "--out",
            str(run),
            "--resume",
        )
    with neo4j_driver(uri) as driver:
        with driver.session(database=database) as session:
            delete_all(session)
        load = kgrec(
            "load", "recbole", str(args.data), "--domain-rule", "ml1m-action-comedy", "--store", uri
        )
        print(f"load ml-1m (action + comedy) into Neo4j: {load:.1f} s")
        seconds = kgrec(
            "recommend", "--run", str(run), "--store", uri, "-k", "20", "--name", "bench"
        )
        verdict = "meets" if seconds <= 30 else "MISSES"
        print(f"kgrec recommend, all users, into Neo4j: {seconds:.1f} s ({verdict} <= 30 s)")
        users = [
            r["u"]
            for r in driver.execute_query(
                "MATCH (u:User) RETURN u.user_id AS u ORDER BY u", database_=database
            ).records
        ]
        sample = random.Random(0).sample(users, min(args.users, len(users)))
        latencies(driver, TOP_K, sample[:50], run="bench", k=20)  # warm-up
        print(summary("top-20 by Cypher", latencies(driver, TOP_K, sample, run="bench", k=20), 20))
        index = vector_index_name("Item", "gnn_embedding")
        vector_params = {
            "index": index,
            "property": "gnn_embedding",
            "candidates": 200,
            "domain": "comedy",
            "k": 20,
        }
        # a user the publish could not fold in has no embedding (and no vector search: the
        # query returns nothing for them); the latency is of the users who have one
        embedded = {
            r["u"]
            for r in driver.execute_query(
                "MATCH (u:User) WHERE u.gnn_embedding IS NOT NULL RETURN u.user_id AS u",
                database_=database,
            ).records
        }
        searched = [user for user in sample if user in embedded]
        latencies(driver, VECTOR_TOP_K, searched[:50], **vector_params)
        print(
            summary(
                "top-20 by vector index (users with an embedding)",
                latencies(driver, VECTOR_TOP_K, searched, **vector_params),
                50,
            )
        )


if __name__ == "__main__":
    run_script(main)  # a KgrecError (a $NEO4J_PORT that is no port) as its message
