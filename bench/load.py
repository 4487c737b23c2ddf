"""Load ml-1m (1,000,209 interactions) into Neo4j and LocalStore; LOAD CSV as the reference.

    KGREC_DATA=../shared/datasets NEO4J_PORT=7687 python bench/load.py --wipe

Targets, each run in a fresh process so that its peak memory is its own:

- ``local``   ``LocalStore.write`` into an empty folder
- ``neo4j``   ``Neo4jStore.write`` into the emptied database
- ``loadcsv`` the same users, items and interactions as CSV files in the server's import folder,
              loaded by Neo4j's own ``LOAD CSV`` with equivalent ``MERGE`` statements in
              ``CALL { ... } IN TRANSACTIONS`` (the reference the issue asks for)

Every target first parses the RecBole files with ``loaders.recbole.load`` (timed apart, as
"parse"). Printed per target: wall time of the write, interactions per second, the peak RSS of
the process, and for Neo4j the server's resident and peak memory (needs ``--neo4j-dir`` or
``NEO4J_DIR`` to find the server's pid file). ``--wipe`` is required because the Neo4j targets
empty the database first.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neo4j.exceptions import ClientError, DriverError, Neo4jError
from scale import server_memory  # bench/scale.py, beside this script

from graph_schema import schema_statements
from kgrec.commands.options import refuse_below_one
from kgrec.errors import KgrecError, run_script
from kgrec.settings import neo4j_uri
from kgrec.store import LocalStore, Neo4jStore, default_database, neo4j_driver
from kgrec.store.neo4j import delete_all
from loaders import recbole

TARGETS = ("local", "neo4j", "loadcsv")

# The reference: Neo4j's own CSV import, MERGE for every node and relationship.
LOAD_USERS = """
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) { MERGE (u:User {user_id: row.user_id}) SET u += row } IN TRANSACTIONS OF 10000 ROWS
"""
LOAD_ITEMS = """
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MERGE (d:Domain {name: row.domain})
  MERGE (i:Item {uid: row.uid})
  SET i.domain = row.domain, i.item_id = row.item_id, i.title = row.title,
      i.year = toInteger(row.year), i.genres = split(row.genres, '|')
  MERGE (i)-[:IN_DOMAIN]->(d)
} IN TRANSACTIONS OF 10000 ROWS
"""
LOAD_INTERACTIONS = """
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MATCH (u:User {user_id: row.user_id})
  MATCH (i:Item {uid: row.item_uid})
  MERGE (u)-[r:INTERACTED]->(i)
  SET r.rating = toFloat(row.rating), r.timestamp = toFloat(row.timestamp)
} IN TRANSACTIONS OF 10000 ROWS
"""
IMPORT_DIR = "SHOW SETTINGS YIELD name, value WHERE name = 'server.directories.import' RETURN value"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="ml-1m folder (default $KGREC_DATA/ml-1m)")
    parser.add_argument(
        "--uri",
        default=neo4j_uri(),
    )
    parser.add_argument("--neo4j-dir", default=os.environ.get("NEO4J_DIR"))
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--batch-size", type=int, default=None, help="Neo4jStore batch size")
    parser.add_argument("--wipe", action="store_true", help="allow emptying the Neo4j database")
    parser.add_argument("--target", help=argparse.SUPPRESS)  # set in the child processes
    args = parser.parse_args()
    refuse_below_one(parser, args, "batch_size")  # before a Neo4j target empties the database
    data = Path(args.data or Path(os.environ.get("KGREC_DATA", "../shared/datasets")) / "ml-1m")
    if args.target:
        print(json.dumps(run_target(args.target, data, args)))
        return 0
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from {TARGETS}")
    if {"neo4j", "loadcsv"} & set(targets) and not args.wipe:
        parser.error(f"the Neo4j targets empty the database at {args.uri}: pass --wipe")
    if {"neo4j", "loadcsv"} & set(targets):  # before ml-1m is read (and the local target)
        try:
            with neo4j_driver(args.uri) as driver:
                driver.verify_connectivity()
        except (DriverError, Neo4jError) as exc:  # before, the target's traceback
            raise KgrecError(f"cannot reach Neo4j at {args.uri} ({exc})") from None
    results = [run_child(target, sys.argv[1:]) for target in targets]
    report(results)
    return 0


def run_child(target: str, argv: list[str]) -> dict:
    """Run one target in a fresh interpreter; its last stdout line is its result as JSON. A
    target that fails stops the benchmark with exit code 2 (its error, or its traceback, is
    on stderr already)."""
    out = subprocess.run(
        [sys.executable, __file__, *argv, "--target", target],
        stdout=subprocess.PIPE,
        text=True,
    )
    if out.returncode == 2:  # run_script printed the child's error
        sys.exit(2)
    if out.returncode != 0:
        raise KgrecError(f"the {target} target failed with exit code {out.returncode} (above)")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{target}: {json.dumps(result)}", file=sys.stderr)
    return result


def run_target(target: str, data: Path, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    graph = recbole.load(data, domain="ml-1m")
    parse = time.perf_counter() - start
    result = {"target": target, "parse_s": parse, "interactions": len(graph.interactions)}
    if target == "local":
        with tempfile.TemporaryDirectory() as tmp:
            store = LocalStore(Path(tmp) / "store")
            start = time.perf_counter()
            store.write(graph, progress=False)
            result["write_s"] = time.perf_counter() - start
            result["stats"] = store.stats()
    else:
        # the server and database kgrec's commands reach (before, a URI kgrec refuses was
        # the driver's to read: port 99999 its port 34463; an empty $NEO4J_DATABASE was "")
        driver = neo4j_driver(args.uri)
        database = default_database()
        with driver, driver.session(database=database) as session:
            delete_all(session)
            for statement in schema_statements():
                session.run(statement).consume()
            session.run("CALL db.awaitIndexes(300)").consume()
            options = {} if args.batch_size is None else {"batch_size": args.batch_size}
            store = Neo4jStore(driver, database=database, uri=args.uri, **options)
            if target == "neo4j":
                start, cpu = time.perf_counter(), time.process_time()
                store.write(graph, progress=False)
                result["write_s"] = time.perf_counter() - start
                result["client_cpu_s"] = time.process_time() - cpu
            else:
                timings = load_csv(session, graph)
                result.update(timings)
                result["write_s"] = sum(timings.values())  # the LOAD CSV statements alone
            result["stats"] = store.stats()
            delete_all(session)  # leave the database as empty as it was found
        result["server"] = server_memory(Path(args.neo4j_dir)) if args.neo4j_dir else None
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def load_csv(session, graph) -> dict:
    """Write the tables as CSV into a new folder of the server's import folder, LOAD CSV them,
    and remove that folder (nothing else of the import folder is touched)."""
    import_dir = Path(session.run(IMPORT_DIR).single()["value"])
    import_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=import_dir, prefix="kgrec-bench-"))
    folder.chmod(0o755)  # the server may run as another user
    timings = {}
    try:
        items = graph.items.assign(genres=graph.items["genres"].map(_join))
        files = {
            "users": (graph.users, LOAD_USERS),
            "items": (items, LOAD_ITEMS),
            "interactions": (graph.interactions, LOAD_INTERACTIONS),
        }
        for name, (table, _) in files.items():
            table.to_csv(folder / f"{name}.csv", index=False, quoting=csv.QUOTE_MINIMAL)
        root = csv_url_root(session, folder)
        for name, (_, statement) in files.items():
            start = time.perf_counter()
            session.run(statement, url=f"{root}/{name}.csv").consume()
            timings[f"loadcsv_{name}_s"] = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return timings


def csv_url_root(session, folder: Path) -> str:
    """The file URL of ``folder`` as the server resolves it.

    A server with ``server.directories.import`` set resolves ``file:///x`` inside that folder.
    The embedded server of tools/neo4j reports its home as the import folder but leaves the
    setting unset, so there file URLs are absolute paths: try both on a probe file.
    """
    (folder / "probe.csv").write_text("x\n1\n")
    for root in (f"file:///{folder.name}", folder.resolve().as_uri()):
        try:
            session.run(
                "LOAD CSV FROM $url AS row RETURN count(*)", url=f"{root}/probe.csv"
            ).consume()
            return root
        except ClientError:
            continue
    raise SystemExit(f"the server cannot read CSV files from {folder}")


def _join(genres) -> str:
    return "|".join(genres) if genres is not None else ""


def report(results: list[dict]) -> None:
    print(
        f"{'target':<9} {'parse s':>8} {'write s':>8} {'interactions/s':>14} {'peak RSS MB':>12}"
        "  server"
    )
    for r in results:
        rate = r["interactions"] / r["write_s"]
        server = r.get("server")
        memory = (
            f"RSS {server['rss_mb']:.0f} MB (peak {server['peak_rss_mb']:.0f} MB)" if server else ""
        )
        print(
            f"{r['target']:<9} {r['parse_s']:8.1f} {r['write_s']:8.1f} {rate:14,.0f} "
            f"{r['peak_rss_mb']:12.0f}  {memory}"
        )
        for key, value in r.items():
            if key.startswith("loadcsv_"):
                print(f"{'':<9} {key}: {value:.1f} s")
    by_target = {r["target"]: r for r in results}
    if "neo4j" in by_target and "loadcsv" in by_target:
        ratio = by_target["loadcsv"]["write_s"] / by_target["neo4j"]["write_s"]
        print(f"Neo4jStore speed / LOAD CSV speed: {ratio:.2f}")
        same = by_target["neo4j"]["stats"]["relationships"]["INTERACTED"]
        print(
            f"interactions in Neo4j after each: neo4j {same}, "
            f"loadcsv {by_target['loadcsv']['stats']['relationships']['INTERACTED']}"
        )
    if "local" in by_target and "neo4j" in by_target:
        equal = by_target["local"]["stats"] == by_target["neo4j"]["stats"]
        print(f"LocalStore and Neo4j stats identical: {equal}")


if __name__ == "__main__":
    run_script(main)
