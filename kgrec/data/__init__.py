"""From the shared graph to tensors: export (HeteroData + id maps) and evaluation splits.

Names are imported lazily, so that :mod:`kgrec.data.protocols` (read by ``kgrec train
--help``) does not load torch.
"""

from __future__ import annotations

import importlib
import importlib.util

_EXPORTS = {
    "IdMaps": "export",
    "message_graph": "export",
    "to_hetero_data": "export",
    "PROTOCOLS": "protocols",
    "Split": "split",
    "make_split": "split",
    "read_split": "split",
    "write_split": "split",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    # a submodule (kgrec.data.split): importing the package gave them before session 45
    if name.isidentifier() and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
