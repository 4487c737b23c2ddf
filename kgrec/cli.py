"""The `kgrec` command line: the only place where strings become classes and options.

Each command lives in a module of `kgrec.commands` that defines ``register(subparsers)``;
:data:`COMMANDS` names the module and the one-line help of every command. ``kgrec --help``
lists them without importing any (the modules that train import torch and PyG, seconds);
``kgrec COMMAND ...`` imports that command's module only.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from kgrec.errors import KgrecError

# Large CPU tensors (>= 2 MB) on transparent huge pages (torch's THP_MEM_ALLOC_ENABLE, read at
# torch's first allocation, so before any command imports torch). Without it every batch's
# score matrices are fresh mmaps faulted in 4 KB at a time: 3 sampled-softmax epochs of
# LightGCN on ml1m-action-comedy took 14.6 s user + 8.3 s system CPU (4.3M page faults); with
# it 13.4 s + 2.4 s (0.55M), 5 % more peak RSS. Set it to 0 to turn it off.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

# command -> (module in kgrec.commands, one-line help)
COMMANDS = {
    "load": ("load", "load files into the shared graph"),
    "graph": ("graph", "inspect the shared graph"),
    "embed": ("embed", "embed node texts with a language model and store the vectors"),
    "split": ("split", "make a protocol's seeded split and write its split files"),
    "train": ("train", "train a model on a split, write metrics and a checkpoint"),
    "evaluate": ("train", "re-score a trained run and print its table"),
    "tune": ("tune", "search training settings on the validation split (Optuna), resumably"),
    "recommend": ("recommend", "a trained run's top-K: publish into a store, show or export"),
    "explain": ("explain", "explain a recommendation: the best paths from a user to an item"),
    "download": ("download", "download public datasets in RecBole's atomic format"),
    "quickstart": ("quickstart", "load, embed, train, evaluate and recommend on ml-100k"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the command ``argv`` names (its module imported), or, when it names none,
    one that lists every command."""
    named = next((arg for arg in argv or [] if not arg.startswith("-")), None)
    parser = argparse.ArgumentParser(
        prog="kgrec",
        description="Knowledge-graph-centric, cross-domain recommender.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if named in COMMANDS:
        module = importlib.import_module(f"kgrec.commands.{COMMANDS[named][0]}")
        module.register(sub)
        # the module may register several commands; keep the listing's help for each
        for action in sub._choices_actions:
            action.help = COMMANDS.get(action.dest, (None, action.help))[1]
    else:
        for name, (_, help_text) in COMMANDS.items():
            sub.add_parser(name, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader gone away shows here, not as Python exits
        return code
    except BrokenPipeError:
        # `kgrec graph stats | head`: the reader of the output left; stop as a program killed by
        # SIGPIPE would, without a traceback, and send what Python still flushes nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: list[str] | None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    try:
        args = build_parser(argv).parse_args(argv)
    except KeyboardInterrupt:  # as the command's module is imported (torch, PyG: seconds)
        named = next((arg for arg in argv if not arg.startswith("-")), None)
        print(f"kgrec{f' {named}' if named in COMMANDS else ''}: interrupted", file=sys.stderr)
        return 130
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if hasattr(args, "threads"):  # commands that compute with torch
            from kgrec.threads import set_threads

            set_threads(args.threads)
        return int(args.func(args) or 0)
    except KgrecError as exc:
        print(f"kgrec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kgrec {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
