"""The exceptions raised on bad input: specific, and saying where the problem is; and
:func:`few`, how a message names some of many values.

They live in the lowest layer so that graph_schema and the loaders raise them without importing
anything above; :mod:`kgrec.errors` re-exports them beside the store's errors.
"""

from __future__ import annotations

from collections.abc import Iterable

# how many of many values a message names (:func:`few`)
FEW = 3


class KgrecError(Exception):
    """Base class of kgrec's own errors; the CLI prints these without a traceback (exit 2)."""


class InputError(KgrecError, ValueError):
    """Bad input data: names the file, line (1-based, header = line 1) and field when known;
    ``message`` is the error without them."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message, self.file, self.line, self.field = message, file, line, field
        where = ", ".join(
            part
            for part in (
                f"file {file}" if file else "",
                f"line {line}" if line is not None else "",
                f"field {field!r}" if field else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


def few(values: Iterable[object]) -> str:
    """The first :data:`FEW` of some values (ids, file names) for a message, each quoted, then
    ``...`` when there are more: ``'u1', 'u2', 'u3', ...``. Quoted as text (``str``), so a
    NumPy or pandas string reads as the plain one."""
    values = list(values)
    shown = ", ".join(repr(str(value)) for value in values[:FEW])
    return shown + (", ..." if len(values) > FEW else "")
