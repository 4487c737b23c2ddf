"""The exceptions raised on bad input: specific, and saying where the problem is.

They live in the lowest layer so that graph_schema and the loaders raise them without importing
anything above; :mod:`kgrec.errors` re-exports them beside the store's errors.
"""

from __future__ import annotations


class KgrecError(Exception):
    """Base class of kgrec's own errors; the CLI prints these without a traceback (exit 2)."""


class InputError(KgrecError, ValueError):
    """Bad input data: names the file, line (1-based, header = line 1) and field when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.line, self.field = file, line, field
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
