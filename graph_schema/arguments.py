"""Ids and paths given as arguments, to the Python API or on the command line, read as kgrec
reads them everywhere.

Apart from :mod:`graph_schema.validate` (which re-exports them) so that the argument parsers
(``kgrec load --help``, ...) read them without numpy, pandas or pyarrow, which validating a
table needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from numbers import Integral
from typing import Any

from graph_schema.errors import InputError


def id_argument(value: object, field: str) -> str:
    """An id given to the Python API or the command line, as the text the stores key it by:
    text without the whitespace around it, which the loaders strip from ids in files too
    (``" 1"`` is the id ``1``), an integer as its digits (``1`` -> ``"1"``: the loaders read
    every id as text; a NumPy integer too, an ``Integral``); an empty id or anything else (a
    bool, NumPy's too) an InputError naming ``field``, rather than a lookup that silently finds
    nothing."""
    if isinstance(value, str):
        if not value.strip():
            raise InputError(f"an id may not be empty, got {value!r}", field=field)
        return value.strip()
    if isinstance(value, Integral) and not isinstance(value, bool):  # np.bool_ is no Integral
        return str(int(value))
    raise InputError(f"an id is text (or an integer), got {value!r}", field=field)


# the longest name of a file or folder the file systems kgrec runs on take, in bytes (NAME_MAX)
NAME_MAX = 255


def path_argument(value: Any, field: str | None) -> Any:
    """``value``, a file or folder given to the Python API or the command line; an empty or
    blank one (``""`` from an unset variable, ``"  "``) an InputError naming ``field``, rather
    than read as ``.`` (the working folder) or a folder named by blanks, and so is one that is
    neither text nor a path (``5``, ``b"run"``: pathlib's bare TypeError), and one with a name
    longer than :data:`NAME_MAX` bytes (the system's bare ``OSError: File name too long`` as
    it was first looked at). None is the caller's to read."""
    if value is None:
        return value
    if not isinstance(value, str | os.PathLike) or isinstance(os.fspath(value), bytes):
        raise InputError(
            f"a path is text or a pathlib.Path, got {type(value).__name__} {value!r}",
            field=field,
        )
    if not os.fspath(value).strip():
        raise InputError(f"a path may not be empty or blank, got {value!r}", field=field)
    longest = max(len(name) for name in os.fsencode(value).split(os.sep.encode()))
    if longest > NAME_MAX:  # else the first look at it was the system's bare OSError
        raise InputError(
            f"a file or folder name may be at most {NAME_MAX} bytes long, got one of {longest} "
            f"bytes in the path {os.fspath(value)[:60]!r}...",
            field=field,
        )
    return value


def id_arguments(values: object, field: str) -> list[str]:
    """A list of ids given to the Python API, each as :func:`id_argument` reads it."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InputError(f"a list of ids is expected, got {values!r}", field=field)
    return [id_argument(value, field) for value in values]


def zero_spellings(value: str, *, digits: int = 12) -> list[str]:
    """The other spellings of a numeric id by its leading zeros: ``6`` -> ``0``-padded
    ``06``, ``006``, ... to ``digits`` digits; ``0096`` -> ``96``, ``096``, ``00096``, ...
    (what a spreadsheet's export drops, or a padded export adds). Ids are text, so ``6`` is not
    ``00006``: these are to name, where an id is not found, the one of them the graph holds.
    No spelling (an empty list) for an id that is not all ASCII digits."""
    if not (value.isascii() and value.isdigit()):
        return []
    bare = value.lstrip("0") or "0"
    widths = range(len(bare), max(digits, len(value) + 1) + 1)
    return [spelt for spelt in (bare.zfill(width) for width in widths) if spelt != value]


def spelling_hint(held: Iterable[str]) -> str:
    """A hint naming the other spellings of an id not found (:func:`zero_spellings`) that a
    store or run holds, ``held``; ``""`` when it holds none: ``" (the graph has '00006': ids
    are text, so leading zeros count)"``."""
    found = sorted(set(held))
    if not found:
        return ""
    names = " and ".join(repr(name) for name in found[:3])
    return f" (the graph has {names}: ids are text, so leading zeros count)"
