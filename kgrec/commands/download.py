"""`kgrec download`: fetch public RecBole atomic datasets."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kgrec.download import DATASETS, RECBOLE_BASE_URL, download, holds_dataset


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
        "--dest", type=Path, default=None, help="data folder (default: $KGREC_DATA, else ./data)"
    )
    p.add_argument(
        "--base-url",
        default=os.environ.get("KGREC_DOWNLOAD_URL") or RECBOLE_BASE_URL,  # set but empty: unset
        help="where the archives are (default: $KGREC_DOWNLOAD_URL, else RecBole's)",
    )
    p.add_argument("--force", action="store_true", help="replace a dataset already there")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    dest = args.dest or Path(os.environ.get("KGREC_DATA") or "data")
    for name in args.names:
        kept = not args.force and holds_dataset(dest / name)
        folder = download(name, dest, base_url=args.base_url, force=args.force)
        files = ", ".join(sorted(p.name for p in folder.iterdir()))
        note = ": already there, kept (--force fetches it again)" if kept else ""
        print(f"{name}: {folder} ({files}){note}")
    return 0
