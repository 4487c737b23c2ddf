"""`kgrec split`: make a protocol's seeded split and write its split files."""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from kgrec.commands.options import (
    add_cold_share_options,
    add_data_options,
    add_few_shot_option,
    add_train_fraction_option,
    path_option,
)
from kgrec.data.protocols import PROTOCOLS
from kgrec.errors import InputError
from kgrec.files import first_missing, locked, process_runs, remove_made, umask

log = logging.getLogger(__name__)


def run_split(args: argparse.Namespace) -> int:
    # imported here, as the command runs: they import torch, which --help needs not
    from kgrec.data.split import write_split
    from kgrec.experiment import describe, effective_rule, load_experiment

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
    # written into a folder of its own beside DIR, then renamed to DIR, which the system does
    # only where DIR is absent or empty: a file put in DIR since the check above is neither
    # overwritten nor, if the write fails, deleted (a link to an empty folder: that folder)
    target = folder.resolve() if folder.is_symlink() else folder.absolute()
    _remove_killed_staging(target)
    staging = held = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # named by this process, so that a split killed while it writes (its folder left) is
        # known for one and removed by the next split into DIR
        prefix = f".{target.name}.kgrec-split-{os.getpid()}."
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix))
        # locked while it is written: a split of another container on the same volume, or of
        # another machine, whose pids are not this one's, keeps it
        held = os.open(staging, os.O_RDONLY)
        with contextlib.suppress(OSError):  # a file system without locks: the pid alone tells
            fcntl.flock(held, fcntl.LOCK_EX)
        write_split(
            experiment.split, experiment.maps, staging, domain_rule=rule, domain=args.domain
        )
        staging.chmod(0o777 & ~umask())  # a new folder's permissions (mkdtemp's are 0700)
        staging.rename(target)
    except BaseException as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)  # only what this command wrote
        remove_made(folder.parent, made if made != folder.absolute() else None)
        if isinstance(exc, InputError) and exc.file == str(staging):  # an id it cannot write
            raise InputError(
                exc.message, file=str(folder), line=exc.line, field=exc.field
            ) from None
        if isinstance(exc, OSError) and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise InputError(
                "--write-split writes into a new or empty folder (kgrec never overwrites split "
                "files), and files were put in it while the split was made: nothing was written",
                file=str(folder),
                field="--write-split",
            ) from None
        if isinstance(exc, OSError):
            raise InputError(f"cannot write the split ({exc.strerror})", file=str(folder)) from None
        raise
    finally:
        if held is not None:  # the lock goes with it
            os.close(held)
    print(describe(experiment))
    print(f"wrote {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}")
    return 0


def _remove_killed_staging(target: Path) -> None:
    """Remove the staging folders beside ``target`` that a split into it killed while it
    wrote (``kill -9``, a power cut) left: only folders of the name a split gives them,
    ``.NAME.kgrec-split-PID.XXXXXXXX``, whose process has ended and whose lock no split holds
    (one of another container on the same volume, or of another machine), holding plain files
    alone."""
    name = re.escape(target.name)
    pattern = re.compile(rf"\.{name}\.kgrec-split-(?P<pid>[0-9]+)\.[a-z0-9_]{{8}}")
    try:
        entries = list(target.parent.iterdir()) if target.parent.is_dir() else []
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or process_runs(pid) or locked(entry):
            continue
        try:
            if all(p.is_file() and not p.is_symlink() for p in entry.iterdir()):
                shutil.rmtree(entry)
                log.info("removed %s, which a killed kgrec split left", entry)
        except OSError as exc:
            log.warning("cannot remove %s, which a killed kgrec split left: %s", entry, exc)


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
        type=path_option,
        required=True,
        metavar="DIR",
        help="a new or empty folder to write",
    )
    parser.set_defaults(func=run_split)
