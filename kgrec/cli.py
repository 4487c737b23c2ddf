"""The `kgrec` command line: the only place where strings become classes and options.

Each command group lives in a module of `kgrec.commands` that defines
``register(subparsers)``; the modules are listed in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from kgrec.errors import KgrecError

COMMANDS = [
    "load",
    "graph",
    "embed",
    "split",
    "train",
    "recommend",
    "explain",
    "download",
    "quickstart",
]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``argv`` naming one, of that one only: a command
    module imports what its command needs (torch and PyG for training, about 7 s), and
    ``kgrec load`` should not wait for them."""
    named = next((arg for arg in argv or [] if not arg.startswith("-")), None)
    commands = [named] if named in COMMANDS else COMMANDS
    parser = argparse.ArgumentParser(
        prog="kgrec",
        description="Knowledge-graph-centric, cross-domain recommender.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in commands:
        try:
            module = importlib.import_module(f"kgrec.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"kgrec.commands.{name}":
                raise
            continue  # a command group that has not landed yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KgrecError as exc:
        print(f"kgrec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kgrec {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
