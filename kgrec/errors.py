"""The exceptions kgrec raises: specific, and saying where the problem is.

:class:`KgrecError` and :class:`InputError` are defined in :mod:`graph_schema.errors` (the
lowest layer raises them too) and re-exported here.
"""

from __future__ import annotations

from graph_schema.errors import InputError, KgrecError


class StoreError(KgrecError):
    """A store could not be opened, read or written."""


__all__ = ["InputError", "KgrecError", "StoreError"]
