"""`kgrec download`: fetch public RecBole atomic datasets."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kgrec.commands.options import path_option
from kgrec.download import DATASETS, RECBOLE_BASE_URL, download, holds_dataset
from kgrec.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "download",
        help="download public datasets in RecBole's atomic format",
        description="Download datasets in RecBole's atomic format into DEST/NAME.",
    )
    p.add_argument(
        "names",
        nargs="+",
        choices=sorted(DATASETS),
        metavar="NAME",
        help=f"dataset(s): {', '.join(sorted(DATASETS))}",
    )
    p.add_argument(
        "--dest",
        type=path_option,
        default=None,
        help="data folder (default: $KGREC_DATA, else ./data)",
    )
    p.add_argument(
        "--base-url",
        default=os.environ.get("KGREC_DOWNLOAD_URL") or RECBOLE_BASE_URL,  # set but empty: unset
        help="where the archives are (default: $KGREC_DOWNLOAD_URL, else RecBole's)",
    )
    p.add_argument("--force", action="store_true", help="replace a dataset already there")
    p.set_defaults(func=run)


def data_root() -> Path:
    """``$KGREC_DATA`` (unset or empty: ``./data``), a :class:`InputError` naming it where it
    is blank (a folder of that name in the working folder would be made) or a file."""
    root = os.environ.get("KGREC_DATA")
    if not root:
        return Path("data")
    if not root.strip():
        raise InputError(
            f"KGREC_DATA is blank ({root!r}): set it to the data folder, or unset it for ./data",
            field="KGREC_DATA",
        )
    there = next(
        folder for folder in (Path(root), *Path(root).absolute().parents) if folder.exists()
    )
    if not there.is_dir():
        raise InputError(
            f"KGREC_DATA {root!r}: {there} is a file, not a folder: set KGREC_DATA to the data "
            "folder, or give --dest",
            field="KGREC_DATA",
        )
    return Path(root)


def run(args: argparse.Namespace) -> int:
    dest = args.dest or data_root()
    for name in args.names:
        kept = not args.force and holds_dataset(dest / name)
        folder = download(name, dest, base_url=args.base_url, force=args.force)
        files = ", ".join(sorted(p.name for p in folder.iterdir()))
        note = ": already there, kept (--force fetches it again)" if kept else ""
        print(f"{name}: {folder} ({files}){note}")
    return 0
