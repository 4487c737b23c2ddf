"""`kgrec graph ...`: look at the shared graph in a store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from kgrec.settings import DEFAULT_LOCAL

STORE_HELP = (
    "where the graph lives: local:PATH (embedded, Parquet) or neo4j://HOST:PORT, bolt://..., "
    f"neo4j+s://... (default: $NEO4J_URI if set, else {DEFAULT_LOCAL})"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("graph", help="inspect the shared graph")
    sub = parser.add_subparsers(dest="graph_command", required=True, metavar="SUBCOMMAND")
    stats = sub.add_parser(
        "stats", help="counts per node kind, relationship kind, domain and knowledge relation"
    )
    stats.add_argument("--store", default=None, help=STORE_HELP)
    stats.add_argument("--json", action="store_true", help="print the counts as JSON")
    stats.set_defaults(func=stats_command)
    unlock = sub.add_parser(
        "unlock",
        help="clear the load lock of a writer that died (Neo4j)",
        description=(
            "A Neo4j database takes one writer at a time (a load, an embed, a publishing "
            "kgrec recommend, a vector write from Python): it holds a lock node while it "
            "writes and a second writer is refused, naming the first by its command. A writer "
            "killed without warning (kill -9, a lost machine) leaves its lock behind; writers "
            "on the same machine clear it by themselves, from other machines clear it with "
            "this command once you are sure that writer is gone, then run again the command "
            "that was interrupted."
        ),
    )
    unlock.add_argument("--store", default=None, help=STORE_HELP)
    unlock.set_defaults(func=unlock_command)


def stats_command(args: argparse.Namespace) -> int:
    from kgrec.store import open_store

    with open_store(args.store) as store:
        stats = store.stats()
        uri = store.uri
    if args.json:
        print(json.dumps({"store": uri, **stats}, indent=2))
    else:
        print(format_stats(uri, stats))
    return 0


def unlock_command(args: argparse.Namespace) -> int:
    from kgrec.store import open_store

    with open_store(args.store) as store:
        holder = store.break_lock()
        uri = store.uri
    if holder is None:
        print(f"{uri}: no load lock to clear")
    else:
        # the holder may have been an embed or a publish; an older kgrec recorded no command
        command = holder.get("command") or "no command recorded"
        print(
            f"{uri}: cleared the load lock of host {holder['host']}, pid {holder['pid']}, "
            f"started {holder['started']} ({command}); run that command again to finish it"
        )
    return 0


def format_stats(uri: str, stats: dict[str, Any]) -> str:
    """The stats as aligned text tables."""
    lines = [f"store {uri}", ""]
    lines += _table(["node kind", "count"], [[k, v] for k, v in stats["nodes"].items()])
    lines.append("")
    lines += _table(
        ["relationship kind", "count"], [[k, v] for k, v in stats["relationships"].items()]
    )
    lines.append("")
    rows = [
        [name, d["items"], d["users"], d["interactions"]] for name, d in stats["domains"].items()
    ]
    lines += _table(["domain", "items", "users", "interactions"], rows)
    if stats["relations"]:
        lines.append("")
        lines += _table(
            ["knowledge relation", "count"], [list(r) for r in stats["relations"].items()]
        )
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [header] + [[f"{v:,}" if isinstance(v, int) else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first, *(v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True))])

    return [line(cells[0]), line(["-" * w for w in widths]), *(line(r) for r in cells[1:])]
