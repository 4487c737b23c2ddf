"""`kgrec split`: make a protocol's seeded split and write its split files."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from kgrec.commands.options import (
    add_cold_share_options,
    add_data_options,
    add_few_shot_option,
    add_train_fraction_option,
)
from kgrec.data.split import PROTOCOLS, write_split
from kgrec.errors import InputError
from kgrec.experiment import describe, effective_rule, load_experiment
from kgrec.files import first_missing, remove_made


def run_split(args: argparse.Namespace) -> int:
    folder = args.write_split
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(
            "--write-split writes into a new or empty folder (kgrec never overwrites split files)",
            file=str(folder),
            field="--write-split",
        )
    above = next(p for p in folder.absolute().parents if p.exists())  # before the data is read
    if not above.is_dir():
        raise InputError(
            f"{above} is a file, not a folder", file=str(folder), field="--write-split"
        )
    experiment = load_experiment(
        data=args.data,
        store=args.store,
        protocol=args.protocol,
        split_dir=None,
        seed=args.seed,
        domain=args.domain,
        domain_rule=args.domain_rule,
        target_domain=args.target_domain,
        source_domain=args.source_domain,
        train_fraction=args.train_fraction,
        few_shot=args.few_shot,
        cold_valid_share=args.cold_valid_share,
        cold_test_share=args.cold_test_share,
        new_item_share=args.new_item_share,
    )
    rule = effective_rule(args.protocol, args.data, args.domain, args.domain_rule)
    made = first_missing(folder)  # the outermost folder writing makes (None: it exists)
    try:
        write_split(experiment.split, experiment.maps, folder, domain_rule=rule, domain=args.domain)
    except BaseException as exc:  # the folder was new or empty: what is in it now is ours
        if made is not None:  # and the parents it made, as kgrec train removes them
            shutil.rmtree(folder, ignore_errors=True)
            remove_made(folder.parent, made if made != folder.absolute() else None)
        elif folder.is_dir():
            for path in folder.iterdir():
                path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write the split ({exc.strerror})", file=str(folder)) from None
        raise
    print(describe(experiment))
    print(f"wrote {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "split",
        description="Make the seeded split of an evaluation protocol (PROTOCOL.md) and write "
        "train.tsv, valid.tsv and test.tsv (user_id<TAB>item_id, target domain only).",
    )
    parser.add_argument("--protocol", required=True, choices=sorted(PROTOCOLS))
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_train_fraction_option(parser, default=1.0)
    add_few_shot_option(parser, default=0)
    add_cold_share_options(parser)
    add_data_options(parser)
    parser.add_argument(
        "--write-split",
        type=Path,
        required=True,
        metavar="DIR",
        help="a new or empty folder to write",
    )
    parser.set_defaults(func=run_split)
