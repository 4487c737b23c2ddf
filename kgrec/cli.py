"""The `kgrec` command line: the only place where strings become classes and options.

Each command lives in a module of `kgrec.commands` that defines ``register(subparsers)``;
:data:`COMMANDS` names the module and the one-line help of every command. ``kgrec --help``
lists them without importing any; ``kgrec COMMAND ...`` imports that command's module only,
which imports no torch (its defaults and choices come from :mod:`kgrec.settings` and other
light modules): torch and PyG, seconds, come as the command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from typing import Any

import kgrec
from kgrec.errors import InputError, KgrecError, Terminated

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
# the commands that run as one rank each under a launcher (torchrun): the others would do their
# work, and write their files or store, once per rank
LAUNCHED = frozenset({"train", "tune"})


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the command ``argv`` names (its module imported), or, when it names none,
    one that lists every command."""
    named = next((arg for arg in argv or [] if not arg.startswith("-")), None)
    parser = argparse.ArgumentParser(
        prog="kgrec",
        description="Knowledge-graph-centric, cross-domain recommender.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"kgrec {kgrec.__version__}")
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
    with _TermAsCtrlC() as term:
        try:
            return _main(argv, term)
        except BrokenPipeError:
            # `kgrec graph stats | head`: the reader of the output left; stop as a program
            # killed by SIGPIPE would, without a traceback, and send what Python still flushes
            # nowhere
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141


class _TermAsCtrlC:
    """SIGTERM raised as :class:`~kgrec.errors.Terminated` (a KeyboardInterrupt) while the
    command runs, so that it stops as Ctrl-C does: a training keeps its checkpoint, a tune
    records its trial, a load or embed leaves nothing half-written. Only in the main thread,
    and only where SIGTERM does its default (a program that calls :func:`main` with its own
    handler keeps it); the default is put back as the command ends. :attr:`received`: whether
    one came (the KeyboardInterrupt that reaches :func:`_main` may be another, raised as it
    was handled), also to the command that runs this one (`kgrec quickstart`'s steps)."""

    def __enter__(self) -> _TermAsCtrlC:
        self._received = False
        handler = signal.getsignal(signal.SIGTERM)
        outer = getattr(handler, "__self__", None)
        self.outer = outer if isinstance(outer, _TermAsCtrlC) else None
        self.installed = (
            threading.current_thread() is threading.main_thread() and handler is signal.SIG_DFL
        )
        if self.installed:
            signal.signal(signal.SIGTERM, self._raise)
        return self

    @property
    def received(self) -> bool:
        return self._received or (self.outer is not None and self.outer.received)

    def _raise(self, signum: int, frame: Any) -> None:
        self._received = True
        raise Terminated

    def __exit__(self, *exc: object) -> None:
        if self.installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stopped(command: str, term: _TermAsCtrlC | None) -> int:
    """Say that ``command`` (``kgrec train``, say) stopped on Ctrl-C or SIGTERM; its exit code,
    that of a process killed by that signal."""
    if term is not None and term.received:
        print(f"{command}: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    print(f"{command}: interrupted", file=sys.stderr)
    return 128 + signal.SIGINT


def _main(argv: list[str] | None, term: _TermAsCtrlC | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    named = next((arg for arg in argv if not arg.startswith("-")), None)
    command = f"kgrec{f' {named}' if named in COMMANDS else ''}"
    # one try from the parse to the command's end (which imports torch and PyG: seconds), so
    # that a stop at any moment between is said, never a traceback
    try:
        args = build_parser(argv).parse_args(argv)
        _check_not_launched(args.command)
        _configure_logging(args.verbose)
        if hasattr(args, "threads"):  # commands that compute with torch
            from kgrec.threads import set_threads

            set_threads(args.threads)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader gone away shows here, not as Python exits
        return code
    except KgrecError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ImportError) as exc:
        if not _interrupted(exc):
            raise
        return _stopped(command, term)


def _check_not_launched(command: str) -> None:
    """An InputError when a launcher started ``command`` as one of several ranks and it is no
    command that runs as one (:data:`LAUNCHED`): each rank would evaluate, publish or write the
    same files at once."""
    from kgrec.distributed import env_world

    if command in LAUNCHED:
        return
    try:
        size = env_world().size
    except InputError:  # a $WORLD_SIZE or $RANK of no launcher's: not read by this command
        return
    if size > 1:
        raise InputError(
            f"kgrec {command} runs in one process, and $WORLD_SIZE is {size} (a launcher such "
            f"as torchrun started it as one of {size} ranks): run it without the launcher "
            f"(kgrec train and kgrec tune run under one)",
            field="WORLD_SIZE",
        )


def _no_driver_error(record: logging.LogRecord) -> bool:
    """Whether a record is heard: all but the ERRORs of the Neo4j driver's loggers (``neo4j``
    and its children), which it logs as it raises the error kgrec reports."""
    driver = record.name == "neo4j" or record.name.startswith("neo4j.")
    return record.levelno < logging.ERROR or not driver


def _configure_logging(verbose: bool) -> None:
    """The command's logging: INFO on stderr, DEBUG with ``-v``. The Neo4j driver's own loggers
    (``neo4j``, ``neo4j.pool``, ...) are heard from WARNING up (a transaction it retries, a
    server's warning), their ERRORs only with ``-v``: the driver logs a server not reached as
    an ERROR (``Unable to retrieve routing information``) before kgrec's error says it, and
    why (:func:`kgrec.store.neo4j.driver_reason`). Set here, at the command's edge: a program
    that imports kgrec keeps its own logging."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("neo4j").setLevel(logging.NOTSET if verbose else logging.WARNING)
    # on the handlers, which every child logger's records reach (a logger's own filter sees
    # only the records logged to it by name)
    for handler in logging.getLogger().handlers:
        if verbose:
            handler.removeFilter(_no_driver_error)
        else:
            handler.addFilter(_no_driver_error)  # once: a filter added again is not added twice


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C or SIGTERM (:class:`~kgrec.errors.Terminated`), or the
    ImportError that pybind11 raises from one that came as a C extension it made (torch's,
    imported in a command's first seconds or by a step of ``kgrec quickstart``) initialised:
    "initialization failed", its cause that KeyboardInterrupt."""
    return isinstance(exc, KeyboardInterrupt) or isinstance(exc.__cause__, KeyboardInterrupt)


if __name__ == "__main__":
    sys.exit(main())
