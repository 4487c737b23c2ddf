"""Language-model text embeddings of graph nodes.

- :mod:`kgrec.text.templates`: the templates that say what a node's text is;
- :mod:`kgrec.text.nodes`: node texts from the canonical tables;
- :mod:`kgrec.text.encoder`: texts -> L2-normalised vectors (transformers, mean or CLS pooling);
- :mod:`kgrec.text.cache`: vectors cached by (model identity, text);
- :mod:`kgrec.text.embed`: the whole step, graph -> vectors -> store.

Names are imported lazily, so that ``kgrec --help`` does not load torch; the node properties
below are defined here, for the argument parsers of ``kgrec embed`` and ``kgrec train``.
"""

from __future__ import annotations

from graph_schema.lazy import lazy_names

# the node property that kgrec embed writes text vectors to and training reads them from
DEFAULT_PROPERTY = "embedding"
# where kgrec recommend publishes a run's user and item embeddings
VECTOR_PROPERTY = "gnn_embedding"

_EXPORTS = {
    "TextEncoder": "encoder",
    "resolve_model": "encoder",
    "ModelNotFoundError": "encoder",
    "EmbeddingCache": "cache",
    "node_texts": "nodes",
    "Templates": "templates",
    "DEFAULT_TEMPLATES": "templates",
    "load_templates": "templates",
    "embed_graph": "embed",
    "embed_texts": "embed",
    "write_embeddings": "embed",
}
__all__ = sorted([*_EXPORTS, "DEFAULT_PROPERTY", "VECTOR_PROPERTY"])

__getattr__ = lazy_names(__name__, _EXPORTS)
