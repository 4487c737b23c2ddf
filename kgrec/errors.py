"""The exceptions kgrec raises: specific, and saying where the problem is.

:class:`KgrecError`, :class:`InputError` and :func:`~graph_schema.errors.few` (some of many
values, for a message) are defined in :mod:`graph_schema.errors` (the lowest layer uses them
too) and re-exported here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from graph_schema.errors import InputError, KgrecError, few


class StoreError(KgrecError):
    """A store could not be opened, read or written."""


class DistributedError(KgrecError):
    """The training processes (ranks) could not work together: one did not answer in time."""


class WriteError(KgrecError):
    """A file could not be written (a full disk, a file-size limit): the message names it and
    the system's reason, and what of the work is kept. Not bad input: a training it stops
    keeps its checkpoint, to be resumed once the file can be written."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a batch scheduler's time limit, torchrun's agent as a
    rank fails) as the ``kgrec`` command runs: a :class:`KeyboardInterrupt`, so that it stops
    as Ctrl-C does (exit code 143)."""


def run_script(main: Callable[[], int | None]) -> NoReturn:
    """Exit with ``main()``'s code, or with 2 and the message of a :class:`KgrecError` (no
    traceback), as the ``kgrec`` command does: for scripts such as those in ``bench/``."""
    try:
        code = main()
    except KgrecError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


__all__ = [
    "DistributedError",
    "InputError",
    "KgrecError",
    "StoreError",
    "Terminated",
    "WriteError",
    "few",
    "run_script",
]
