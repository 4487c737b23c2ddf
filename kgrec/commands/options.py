"""Options that several commands share: where the graph comes from, the split, threads."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from graph_schema.arguments import id_argument, path_argument
from graph_schema.errors import InputError
from kgrec.data.protocols import PROTOCOLS


def refuse_below_one(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *names: str
) -> None:
    """``parser.error`` (exit 2) for the first of the counts ``names`` (dests) below 1 (None:
    not given): a script checks them before it reads any data, not after."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def refuse_below_a_file(parser: argparse.ArgumentParser, option: str, path: Path | None) -> None:
    """``parser.error`` (exit 2) where the nearest folder above the file ``path`` (given as
    ``option``; None: not given) that exists is a file: the results could not be written
    there, said before the work rather than as a traceback after it."""
    if path is None:
        return
    there = next(folder for folder in path.absolute().parents if folder.exists())
    if not there.is_dir():
        parser.error(f"{option} {path}: {there} is a file, not a folder")


def id_option(text: str, what: str = "an id") -> str:
    """An id given on the command line (an argparse ``type``), read as the Python API reads
    one (:func:`~graph_schema.arguments.id_argument`): whitespace around it is no part of it, as
    in the loaders (``--user ' 1'`` is the user ``1``); an empty id is refused, as ``what``
    (``functools.partial(id_option, what="a domain")`` for a domain name)."""
    try:
        return id_argument(text, "id")
    except InputError:  # (text: only when empty) argparse names the argument
        raise argparse.ArgumentTypeError(f"{what} may not be empty, got {text!r}") from None


def path_option(text: str) -> Path:
    """A file or folder given on the command line (an argparse ``type``): an empty or blank
    value (``--dest "$UNSET"``) is refused, naming the option, rather than read as ``.`` (the
    working folder) or a folder named by blanks, as a blank ``--store`` is."""
    try:
        return Path(path_argument(text, None))
    except InputError as exc:  # argparse names the option
        raise argparse.ArgumentTypeError(exc.message) from None


def name_option(text: str, what: str) -> str:
    """A name given on the command line (an argparse ``type``: ``functools.partial(name_option,
    what="a domain")``), refused when empty or blank: ``--domain "$UNSET"`` was read as no
    ``--domain`` at all, or as the domain ``default``, without a word."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{what} may not be empty or blank, got {text!r}")
    return text


def model_option(text: str) -> str:
    """A text model given on the command line (an argparse ``type``): a Hugging Face model id
    or a folder, refused when empty or blank (``--model "$UNSET"`` was the working folder), or
    with a name too long for a folder (the system's bare OSError)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"a model may not be empty or blank, got {text!r}")
    try:  # a name too long for a folder (no Hugging Face id is), as a path's
        path_argument(text, None)
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return text


# the types of --domain and --domain-rule (kgrec load's too)
DOMAIN = partial(name_option, what="a domain")
RULE = partial(name_option, what="a domain rule")


# the largest count every store takes: Neo4j's integers are 64-bit (a larger -k, sent to
# Cypher as $k, was the neo4j driver's OverflowError)
MAX_K = 2**63 - 1


def k_option(text: str) -> int:
    """A ``-k`` given on the command line (an argparse ``type``): an integer in
    [1, :data:`MAX_K`], refused by argparse, naming the option, before any store is opened or
    run read."""
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 1 <= k <= MAX_K:
        raise argparse.ArgumentTypeError(f"must be an integer in [1, 2**63 - 1], got {k}")
    return k


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """--data / --store and the domain options of a command that reads the graph."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        type=path_option,
        metavar="PATH",
        help="a RecBole atomic-file folder, read directly",
    )
    source.add_argument(
        "--store", metavar="URI", help="a store: local:PATH, bolt://HOST:PORT, neo4j://..."
    )
    parser.add_argument(
        "--domain",
        type=DOMAIN,
        help="with --data: the domain of all items (default: the dataset name)",
    )
    parser.add_argument(
        "--domain-rule",
        type=RULE,
        metavar="RULE",
        help="with --data: split items into domains by a named rule or one written out, "
        "e.g. 'genres:drama=Drama;thriller=Thriller,Crime' (default: the protocol's, "
        "ml1m-action-comedy)",
    )
    parser.add_argument(
        "--target-domain",
        metavar="NAME",
        help="the domain to evaluate (default: the protocol's, or the graph's only domain)",
    )
    parser.add_argument(
        "--source-domain",
        metavar="NAME",
        help="a protocol with cold-start users draws them among the users of the target domain "
        "and this one (default: the protocol's, action, when the graph has it and the target "
        "is the protocol's, comedy, else the other domain of a graph of two)",
    )


def add_split_options(parser: argparse.ArgumentParser) -> None:
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--protocol", choices=sorted(PROTOCOLS), help="a named protocol")
    how.add_argument(
        "--split",
        type=path_option,
        metavar="DIR",
        help="a folder of split files (train.tsv, valid.tsv, test.tsv) instead of a protocol",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def add_train_fraction_option(parser: argparse.ArgumentParser, *, default: float) -> None:
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=default,
        metavar="F",
        help="keep a seeded share F (0 < F <= 1) of each user's target-domain training "
        "interactions, at least one: max(1, round(F n)), halves up; valid and test unchanged "
        f"(default {default})",
    )


def add_cold_share_options(parser: argparse.ArgumentParser) -> None:
    """--cold-valid-share / --cold-test-share: a cold-start protocol's shares of cold users;
    --new-item-share: a new-item protocol's share of new items."""
    cold = PROTOCOLS["ml1m-action-comedy"]
    for phase, share in (("valid", cold.cold_valid_share), ("test", cold.cold_test_share)):
        parser.add_argument(
            f"--cold-{phase}-share",
            type=float,
            metavar="S",
            help=f"with a protocol that has cold-start users: the share of the users of the "
            f"target and another domain drawn as cold-{phase} users (default: the protocol's, "
            f"{share} for {cold.name})",
        )
    new = PROTOCOLS["ml100k-new-items"]
    parser.add_argument(
        "--new-item-share",
        type=float,
        metavar="S",
        help="with a protocol that has new items: the share of the target domain's items held "
        "out of training, their interactions half valid, half test (default: the protocol's, "
        f"{new.new_item_share} for {new.name} and ml1m-new-items)",
    )


def add_few_shot_option(parser: argparse.ArgumentParser, *, default: int) -> None:
    parser.add_argument(
        "--few-shot",
        type=int,
        default=default,
        metavar="K",
        help="give K held-out target interactions of each cold-start user to train (seeded, at "
        "most all but one) and report those users as the group 'few-shot' "
        f"(default {default}: none)",
    )


def threads_option(text: str) -> int:
    """``--threads N`` (an argparse ``type``): ASCII digits, as ``$KGREC_THREADS`` takes them
    (:func:`kgrec.threads.whole_number`)."""
    from kgrec.threads import whole_number

    try:
        return whole_number(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=threads_option,
        metavar="N",
        help="threads to compute with (default: $KGREC_THREADS, else $OMP_NUM_THREADS, else the "
        "idle cores: the cores less the load average, at least 1)",
    )


def add_device_option(parser: argparse.ArgumentParser, *, default: str = "auto") -> None:
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=default,
        help="where torch computes: auto (CUDA when torch sees a GPU, else the CPU), cpu, or "
        "cuda (an error without one; under torchrun, each process its LOCAL_RANK's GPU) "
        f"(default {default})",
    )
