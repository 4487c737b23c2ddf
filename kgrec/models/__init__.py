"""kgrec's recommenders, each a plain ``torch.nn.Module``: ``from kgrec.models import ...``.

Names are imported lazily, so that :mod:`kgrec.models.registry` (whose names ``kgrec train
--help`` offers) does not load torch.
"""

from __future__ import annotations

from graph_schema.lazy import lazy_names

# name -> the submodule defining it; imported on first use so that `import kgrec.models` stays light
_EXPORTS = {
    "GraphRecommender": "base",
    "top_k": "base",
    "Popularity": "popularity",
    "MatrixFactorisation": "mf",
    "LightGCNRecommender": "lightgcn",
    "RGCNRecommender": "rgcn",
    "CrossDomainRecommender": "cross_domain",
    "TextSimilarity": "text_similarity",
    "EASE": "ease",
}

__all__ = list(_EXPORTS)

__getattr__ = lazy_names(__name__, _EXPORTS)
