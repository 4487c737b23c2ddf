"""From the shared graph to tensors: export (HeteroData + id maps) and evaluation splits."""

from kgrec.data.export import IdMaps, message_graph, to_hetero_data
from kgrec.data.split import PROTOCOLS, Split, make_split, read_split, write_split

__all__ = [
    "PROTOCOLS",
    "IdMaps",
    "Split",
    "make_split",
    "message_graph",
    "read_split",
    "to_hetero_data",
    "write_split",
]
