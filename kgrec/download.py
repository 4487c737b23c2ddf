"""Fetch public datasets in RecBole's atomic format into a data folder.

The archives are RecBole's published atomic files; ``base_url`` points elsewhere (a mirror, or
a local server in tests). Nothing is left half-written: the archive is downloaded and unpacked
into a temporary folder beside the destination (``.NAME-XXXXXXXX/``, holding a marker that
names the process, written first, removed last and locked while it runs), checked, then moved
into place; the next download into the same folder removes such a folder that a killed
download left (:func:`_remove_leftovers`). macOS's metadata in an archive (``__MACOSX/``,
``._*`` files) is not unpacked, and an archive with ``.inter`` files in more than one folder is
refused, naming them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from graph_schema.arguments import path_argument
from kgrec.errors import KgrecError, few
from kgrec.files import first_missing, locked, process_runs, remove_made

log = logging.getLogger(__name__)

RECBOLE_BASE_URL = "https://recbole.s3-accelerate.amazonaws.com/ProcessedDatasets"
# dataset -> archive path under the base URL
DATASETS = {
    "ml-100k": "MovieLens/ml-100k.zip",
    "ml-1m": "MovieLens/ml-1m.zip",
}


# the marker a download writes first into its temporary folder: which process, on which
# machine, writes the folder (JSON: pid, host); the download holds an exclusive lock on it
# (flock) while it runs, which tells a download of another container on the same volume, whose
# pids are not this one's, that it still runs
MARKER = ".kgrec-download"
# the temporary folder's name (tempfile's: the prefix, then 8 of its characters)
_TEMPORARY = re.compile(r"\.(?P<name>" + "|".join(map(re.escape, DATASETS)) + r")-[a-z0-9_]{8}")


# the files of a RecBole atomic dataset (what --force may replace)
ATOMIC_SUFFIXES = (".inter", ".item", ".user", ".kg", ".link")


# a write the disk refuses: full, over a quota, or over a file-size limit
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def holds_dataset(folder: Path) -> bool:
    """Whether ``folder`` holds a dataset already (an ``.inter`` file): one that
    :func:`download` keeps unless forced."""
    return folder.is_dir() and any(folder.glob("*.inter"))


def fetchable(base_url: str) -> bool:
    """Whether kgrec can fetch archives from ``base_url``: urllib refuses a URL without a
    scheme (``mirror.example/path``) only when it opens it, so a request is made (not sent)."""
    try:
        urllib.request.Request(f"{base_url.rstrip('/')}/{DATASETS['ml-100k']}")
    except ValueError:
        return False
    return True


def download(
    name: str,
    dest: Path,
    *,
    base_url: str = RECBOLE_BASE_URL,
    force: bool = False,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download dataset ``name`` into ``dest/name`` and return that folder."""
    if name not in DATASETS:
        raise KgrecError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    target = Path(path_argument(dest, "--dest")) / name
    _remove_leftovers(Path(dest))
    if target.exists() and not target.is_dir():
        raise KgrecError(f"{target} is a file, not a dataset folder: kgrec never replaces it")
    if target.exists() and not force:
        if holds_dataset(target):
            return target
        raise KgrecError(f"{target} exists but holds no .inter file; use --force to replace it")
    if target.exists():  # --force replaces the dataset's files, never anything else
        others = sorted(p.name for p in target.iterdir() if p.suffix not in ATOMIC_SUFFIXES)
        if others:
            raise KgrecError(
                f"{target} holds files that are not a dataset's ({few(others)}): "
                "kgrec never deletes them; move them, or give another --dest"
            )
    if not fetchable(base_url):
        raise KgrecError(
            f"base URL {base_url!r} is no URL kgrec can fetch from: give one such as "
            "https://HOST/PATH or file:///PATH"
        )
    url = f"{base_url.rstrip('/')}/{DATASETS[name]}"
    request = urllib.request.Request(url, headers={"User-Agent": "kgrec"})
    made = first_missing(target.parent)  # removed again, if empty, when the download fails
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KgrecError(f"cannot make {target.parent}: {exc.strerror}") from None
    try:
        _download(name, url, request, target, force=force, timeout=timeout, progress=progress)
    except BaseException as exc:
        remove_made(target.parent, made)
        if isinstance(exc, OSError):  # a --dest it may not write in, a disk that filled up
            full = exc.errno in _DISK_FULL
            what = "free some space, or give another --dest" if full else "give another --dest"
            raise KgrecError(
                f"cannot write {name} into {target.parent} ({exc.strerror or exc}): {what}"
            ) from exc
        raise
    return target


def _download(
    name: str,
    url: str,
    request: urllib.request.Request,
    target: Path,
    *,
    force: bool,
    timeout: float,
    progress: bool,
) -> None:
    """Fetch and unpack into a temporary folder beside ``target``, then move it into place.
    The folder is removed after, unless it holds the old dataset a ``--force`` set aside and
    could not put back: that folder, and its marker, stay for the next download to put it
    back (:func:`_remove_leftovers`)."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-"))
    kept = False
    try:
        with open(tmp / MARKER, "w", encoding="utf-8") as marker:
            with contextlib.suppress(OSError):  # a file system without locks: the pid tells
                fcntl.flock(marker, fcntl.LOCK_EX)
            marker.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n")
            marker.flush()
            try:
                _fetch_and_move(name, url, request, target, tmp, force, timeout, progress)
            finally:  # all but the marker, which goes last: a kill meanwhile leaves it to tell
                for entry in tmp.iterdir():
                    if entry.name == "old" and not target.exists():
                        kept = True  # an old dataset that could not go back is the user's
                        continue
                    if entry.name == MARKER:
                        continue
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
    finally:
        if not kept:
            shutil.rmtree(tmp)


def _fetch_and_move(
    name: str,
    url: str,
    request: urllib.request.Request,
    target: Path,
    tmp: Path,
    force: bool,
    timeout: float,
    progress: bool,
) -> None:
    """:func:`_download`'s work in its temporary folder ``tmp``. Without ``force``, a
    dataset that another download put at ``target`` while this one fetched is kept."""
    archive = tmp / "archive.zip"
    _fetch(request, archive, timeout=timeout, progress=progress)
    unpacked = tmp / "unpacked"
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise KgrecError(f"{url} is not a zip archive ({exc})") from exc
    with zf:
        try:
            _safe_extract(zf, unpacked)
        # the members' data is damaged: compressed data that does not inflate, or a member
        # whose bytes do not match its CRC-32 (zipfile's BadZipFile, as it reads the member)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise KgrecError(f"{url} is a damaged zip archive ({exc}); fetch it again") from exc
    inter = sorted(unpacked.rglob("*.inter"))
    if not inter:
        raise KgrecError(f"{url} holds no .inter file, so it is not a RecBole atomic dataset")
    folders = sorted({p.parent for p in inter})
    if len(folders) > 1:  # which one is the dataset would be a guess
        names = [str(p.relative_to(unpacked)) for p in inter]
        raise KgrecError(
            f"{url} holds .inter files in {len(folders)} folders ({few(names)}), so which "
            "is the dataset is unclear; give a --base-url whose archive holds one"
        )
    if target.exists() and not force:  # another download, run meanwhile, put it there
        _say_kept(name, target)
        return
    if target.exists():  # a dataset file the archive lacks (a .kg added by hand): kept
        fetched = {p.name for p in inter[0].parent.iterdir()}
        lost = sorted(p.name for p in target.iterdir() if p.name not in fetched)
        if lost:
            raise KgrecError(
                f"{target} holds {few(lost)}, which {url} does not: --force "
                "would delete it; move it, or give another --dest"
            )
        # the old folder is set aside, not deleted, until the new one is in place: a crash
        # between the two steps leaves it beside, in the temporary folder's place
        old = tmp / "old"
        os.replace(target, old)
        try:
            os.replace(inter[0].parent, target)
        except OSError as exc:
            try:
                os.replace(old, target)
            except OSError as back:
                raise KgrecError(
                    f"cannot move the new {name} into {target} ({exc}), nor the old one back "
                    f"({back}): the old {name} is kept in {old}, and the next kgrec download "
                    "into this folder puts it back"
                ) from exc
            raise KgrecError(f"cannot move the new {name} into {target}: {exc}") from exc
    else:
        try:
            os.replace(inter[0].parent, target)
        except OSError as exc:  # a folder there now, not empty: another download's
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not target.is_dir():
                raise KgrecError(f"cannot move the new {name} into {target}: {exc}") from exc
            _say_kept(name, target)


def _say_kept(name: str, target: Path) -> None:
    log.warning(
        "%s: another kgrec download put %s in place while this one fetched it: kept that one",
        name,
        target,
    )


def _remove_leftovers(dest: Path) -> None:
    """Remove the temporary folders in ``dest`` that downloads killed on this machine (``kill
    -9``, a power cut) left: only folders of the name a download gives them, holding its marker
    (:data:`MARKER`) naming a process of this machine that has ended, its lock held by none;
    never another folder (one of the user's, a download's running here, in another container
    on this volume or on another machine). An old dataset that a killed ``--force`` had set
    aside (``old/``), its dataset folder missing, goes back there."""
    try:
        entries = list(dest.iterdir()) if dest.is_dir() else []
    except OSError:
        return
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir() or not _dead(entry):
            continue
        target = dest / match["name"]
        old = entry / "old"
        try:
            if old.is_dir() and not old.is_symlink() and not os.path.lexists(target):
                os.replace(old, target)
                log.warning("put back %s, which a killed download --force had set aside", target)
            shutil.rmtree(entry)
        except OSError as exc:
            log.warning("cannot remove %s, which a killed download left: %s", entry, exc)
        else:
            log.info("removed %s, which a killed download left", entry)


def _dead(folder: Path) -> bool:
    """Whether ``folder`` holds a download's marker naming a process of this machine that
    has ended, and no download holds its lock (an unreadable marker, or none: never provably
    dead)."""
    marker = folder / MARKER
    try:
        if marker.is_symlink() or not marker.is_file():
            return False
        holder = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(holder, dict) or holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    return not process_runs(pid) and not locked(marker)


def _fetch(request: urllib.request.Request, path: Path, *, timeout: float, progress: bool) -> None:
    from tqdm import tqdm  # here, not at the top: `kgrec download --help` imports no tqdm

    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, path.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=url.rsplit("/", 1)[-1],
                disable=not progress,
            ) as bar:
                received = 0
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received < total:  # urllib ends a cut connection silently
            raise KgrecError(
                f"downloading {url} failed: the connection ended after {received:,} of "
                f"{total:,} bytes; run it again"
            )
    except urllib.error.HTTPError as exc:
        raise KgrecError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        if getattr(exc, "errno", None) in _DISK_FULL:  # the archive's file, not the network:
            raise  # download() names --dest and says to free some space
        reason = getattr(exc, "reason", exc)
        raise KgrecError(
            f"downloading {url} failed: {reason}. Without internet access, copy the dataset "
            "folder by hand and point KGREC_DATA at its parent."
        ) from exc


def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    """Extract, refusing members that would land outside ``dest``, and leaving out macOS's
    metadata (:func:`_apple_metadata`)."""
    root = dest.resolve()
    members = []
    for member in zf.infolist():
        path = (dest / member.filename).resolve()
        if not path.is_relative_to(root):
            raise KgrecError(f"archive member {member.filename!r} points outside the archive")
        if not _apple_metadata(member.filename):
            members.append(member)
    # the sizes the archive declares bound what extraction writes (zipfile stops a member at
    # its size): refused before any is written where the disk cannot take them
    size = sum(member.file_size for member in members)
    dest.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest).free
    if size > free:
        raise KgrecError(
            f"the archive unpacks to {size:,} bytes, more than the {free:,} bytes free on the "
            "disk of --dest: free some space, or give another --dest"
        )
    zf.extractall(dest, members)


def _apple_metadata(name: str) -> bool:
    """Whether archive member ``name`` is macOS's metadata, no file of the dataset: under
    ``__MACOSX/``, or an AppleDouble ``._*`` file (``__MACOSX/ml-100k/._ml-100k.inter``)."""
    parts = name.split("/")
    return "__MACOSX" in parts or any(part.startswith("._") for part in parts)
