"""`kgrec download`: fetch public RecBole atomic datasets."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kgrec.commands.options import path_option
from kgrec.download import DATASETS, RECBOLE_BASE_URL, download, fetchable, holds_dataset
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
        default=None,  # download_base_url(), read as the command runs: its errors name it
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


def download_base_url() -> str:
    """``$KGREC_DOWNLOAD_URL`` (unset or empty: RecBole's), a :class:`InputError` naming it
    where it is blank or no URL kgrec can fetch from (without a scheme: ``mirror.example``)."""
    url = os.environ.get("KGREC_DOWNLOAD_URL")
    if not url:
        return RECBOLE_BASE_URL
    if not url.strip() or not fetchable(url):  # as kgrec.download.download checks a --base-url
        raise InputError(
            f"KGREC_DOWNLOAD_URL {url!r} is no URL kgrec can fetch from: set it to one such as "
            "https://HOST/PATH or file:///PATH, unset it for RecBole's, or give --base-url",
            field="KGREC_DOWNLOAD_URL",
        )
    return url


def run(args: argparse.Namespace) -> int:
    dest = args.dest or data_root()
    base_url = download_base_url() if args.base_url is None else args.base_url
    for name in args.names:
        kept = not args.force and holds_dataset(dest / name)
        folder = download(name, dest, base_url=base_url, force=args.force)
        files = ", ".join(sorted(p.name for p in folder.iterdir()))
        note = ": already there, kept (--force fetches it again)" if kept else ""
        print(f"{name}: {folder} ({files}){note}")
    return 0
