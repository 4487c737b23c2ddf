"""From the shared graph to tensors: export (HeteroData + id maps) and evaluation splits.

Names are imported lazily, so that :mod:`kgrec.data.protocols` (read by ``kgrec train
--help``) does not load torch.
"""

from __future__ import annotations

from graph_schema.lazy import lazy_names

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

__getattr__ = lazy_names(__name__, _EXPORTS)
