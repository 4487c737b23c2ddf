"""Files kgrec writes: each through a temporary file of its own, moved into place whole."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path

from kgrec.errors import InputError


def write_atomic(path: Path, write: Callable[[Path], None], *, replace: bool = True) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, then move it to ``path``: a reader
    (or a stop) sees the old file or the new one, never a part. The file gets the permissions
    of any new file (0666 less the umask; a temporary file has 0600). Without ``replace``, an
    existing ``path`` (a dangling link too) is an InputError and stays as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)  # a name of its own: never a file of the user's
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # no-clobber: fails where anything is at path
        except FileExistsError:
            raise InputError("the file exists; kgrec never overwrites it", file=str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_error(exc: BaseException) -> str:
    """Why ``torch.load`` could not read a file, in one line: torch's first line, but for a
    file that is no torch file at all, whose message advises an unsafe ``weights_only=False``."""
    if isinstance(exc, pickle.UnpicklingError):
        return "not a file torch saved"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
