"""Files kgrec writes: each through a temporary file of its own, moved into place whole."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from kgrec.errors import InputError

log = logging.getLogger(__name__)


def write_atomic(path: Path, write: Callable[[Path], None], *, replace: bool = True) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, then move it to ``path``: a reader
    (or a stop) sees the old file or the new one, never a part. The file gets the permissions
    of any new file (0666 less the umask; a temporary file has 0600). Without ``replace``, an
    existing ``path`` (a dangling link too) is an InputError and stays as it is. Folders made
    for ``path`` are removed again when the write fails. The temporary files of ``path`` that
    a write killed (``kill -9``) left are removed first (:func:`remove_killed_temporaries`)."""
    made = first_missing(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_killed_temporaries(path)
    tmp = None
    with contextlib.ExitStack() as held:
        try:
            tmp = _temporary(path, held)
            write(tmp)
            os.chmod(tmp, 0o666 & ~umask())
            if replace:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)  # no-clobber: fails where anything is at path
                except FileExistsError:
                    raise InputError(
                        "the file exists; kgrec never overwrites it", file=str(path)
                    ) from None
            made = None  # written: the folders stay
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            remove_made(path.parent, made)


def save_torch(obj: object, path: Path) -> None:
    """``torch.save(obj, path)``; a write the system refuses (a full disk, a file-size limit)
    is raised as its OSError, naming ``path``: torch, given a path, raises a RuntimeError
    about its archive instead ("[enforce fail at inline_container.cc:671] . unexpected pos 704
    vs 598"), which says neither, so it is given the file, whose error it keeps as the
    RuntimeError's context."""
    import torch  # here: the commands' --help imports this module, and no torch

    try:
        with open(path, "wb") as stream:
            try:
                torch.save(obj, stream)
            except RuntimeError as exc:
                refused = exc.__context__
                if isinstance(refused, OSError):
                    raise OSError(refused.errno, refused.strerror, str(path)) from exc
                raise
    except OSError as exc:  # the last bytes refused as the file is closed: no name of it
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def write_all_atomic(
    files: Mapping[Path, Callable[[Path], None]], *, before_moves: Callable[[], None] | None = None
) -> None:
    """:func:`write_atomic` for several files at once: every ``write(tmp)`` first, each into a
    temporary file beside its path, then ``before_moves()`` and the moves into place, in the
    order of ``files``. A failure while writing leaves every path as it was; a stop during the
    moves leaves the first ones moved, so the last should be the file that marks the set
    complete (and ``before_moves`` may mark it incomplete). Folders made for the files are
    removed again when a write fails; the temporary files of each that a killed write left go
    first, as in :func:`write_atomic`."""
    staged: list[tuple[Path, Path]] = []
    made: list[tuple[Path, Path | None]] = []
    with contextlib.ExitStack() as held:  # the temporary files' locks, till they are moved
        try:
            for path, write in files.items():
                made.append((path.parent, first_missing(path.parent)))
                path.parent.mkdir(parents=True, exist_ok=True)
                remove_killed_temporaries(path)
                staged.append((_temporary(path, held), path))
                write(staged[-1][0])
                os.chmod(staged[-1][0], 0o666 & ~umask())
            if before_moves is not None:
                before_moves()
            made = []  # from here a stop leaves moved files in their folders
            for tmp, path in staged:
                os.replace(tmp, path)
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            for folder, first in reversed(made):
                remove_made(folder, first)


def is_temporary(entry: Path, name: str) -> bool:
    """Whether ``entry`` is a temporary file that :func:`write_atomic` made beside a file
    ``name`` (tempfile's name: ``.NAME.``, 8 of its characters, ``.tmp``; a plain file): one
    that no process is writing is what a kill while it was written left."""
    pattern = rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp"
    matches = re.fullmatch(pattern, entry.name) is not None
    return matches and not entry.is_symlink() and entry.is_file()


def _temporary(path: Path, held: contextlib.ExitStack) -> Path:
    """A new empty file beside ``path``, of a name of its own (never a file of the user's):
    ``.NAME.XXXXXXXX.tmp``, ``NAME`` being ``path``'s. It is locked (flock) until ``held``
    closes, after it is moved or removed: an unlocked one is what a killed write left. One
    that another write's :func:`remove_killed_temporaries` removed before it was locked (it
    was unlocked then) is replaced by a new one."""
    while True:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        held.callback(os.close, fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits for a removal that holds it to end
        except OSError:  # a file system without locks: never removed
            return Path(name)
        if os.fstat(fd).st_nlink > 0:  # locked and still there: no removal takes it now
            return Path(name)


def remove_killed_temporaries(path: Path) -> None:
    """Remove the temporary files beside ``path`` (:func:`is_temporary`) that no write holds
    locked: what a write of ``path`` killed (``kill -9``, a power cut) left. A file system
    without locks, or a file that cannot be opened, keeps them."""
    try:
        entries = [e for e in path.parent.iterdir() if is_temporary(e, path.name)]
    except OSError:
        return
    for entry in entries:
        try:
            with open(entry, "rb") as file:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                entry.unlink()
        except OSError:  # held by a running write (BlockingIOError), gone, or unreadable
            continue
        log.info("removed %s, which a killed write of %s left", entry, path.name)


def no_link(path: str, flags: int) -> int:
    """``open``'s opener that refuses a link (ELOOP) where a plain file is expected: a lock
    file opened for appending through a link would make the file it points to."""
    return os.open(path, flags | os.O_NOFOLLOW, 0o666)


def locked(path: Path) -> bool:
    """Whether a running process holds a lock (flock) on ``path``, a file or a folder: a
    download's marker, a split's staging folder, which a process of another container on the
    same volume (its pids not this one's) or of another machine holds while it writes. A file
    system without locks, or a path that cannot be opened, tells nothing (False)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released as it closes
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def process_runs(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (another user's counts; a pid no process
    can have, too large, is not provably dead, so it counts too): what a marker naming the
    process that writes a temporary file or folder is checked with before it is removed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # someone else's process; no pid at all
        return True
    return True


def first_missing(path: Path) -> Path | None:
    """The outermost folder that making ``path`` with its parents makes (None: it exists)."""
    path = path.absolute()
    missing = None
    while not path.exists() and path != path.parent:
        missing, path = path, path.parent
    return missing


def remove_made(folder: Path, made: Path | None) -> None:
    """Remove ``folder`` and its parents up to ``made`` (:func:`first_missing`), those empty
    (a file another process put there since keeps its folder)."""
    if made is None:
        return
    folder = folder.absolute()
    with contextlib.suppress(OSError):
        while True:
            folder.rmdir()
            if folder == made:
                return
            folder = folder.parent


def umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def not_utf8(exc: UnicodeDecodeError, file: str | os.PathLike) -> InputError:
    """The InputError for a text ``file`` that is not UTF-8, naming the line of its first bad
    byte (``exc``: the error decoding it; ``exc.object``: the bytes decoded, after any
    byte-order mark ``utf-8-sig`` took)."""
    line = exc.object[: exc.start].count(b"\n") + 1
    return InputError(f"not UTF-8 ({exc.reason})", file=str(file), line=line)


def load_error(exc: BaseException) -> str:
    """Why ``torch.load`` could not read a file, in one line: torch's first line, but for a
    file that is no torch file at all, whose message advises an unsafe ``weights_only=False``.
    A first line that only introduces the next (``load_state_dict``'s "Error(s) in loading
    state_dict for LightGCNRecommender:") is followed by the first reason (a size mismatch,
    the missing keys), cut to :data:`_REASON_CHARS` characters."""
    if isinstance(exc, pickle.UnpicklingError):
        return "not a file torch saved"
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].endswith(":") and len(lines) > 1:
        reason = lines[1]
        if len(reason) > _REASON_CHARS:
            reason = reason[:_REASON_CHARS] + "..."
        return f"{lines[0]} {reason}" + (" ..." if len(lines) > 2 else "")
    return lines[0]


# how much of the reason after load_error's first line it keeps (a list of missing keys can
# name every parameter)
_REASON_CHARS = 300
