"""kgrec's recommenders, each a plain ``torch.nn.Module``: ``from kgrec.models import ...``."""

from __future__ import annotations

import importlib

from kgrec.models.base import GraphRecommender, top_k

# name -> module; imported on first use so that `import kgrec.models` stays light
_MODELS = {
    "Popularity": "kgrec.models.popularity",
    "LightGCNRecommender": "kgrec.models.lightgcn",
    "RGCNRecommender": "kgrec.models.rgcn",
    "CrossDomainRecommender": "kgrec.models.cross_domain",
    "TextSimilarity": "kgrec.models.text_similarity",
    "EASE": "kgrec.models.ease",
}

__all__ = ["GraphRecommender", "top_k", *_MODELS]


def __getattr__(name: str):
    if name in _MODELS:
        return getattr(importlib.import_module(_MODELS[name]), name)
    raise AttributeError(f"module 'kgrec.models' has no attribute {name!r}")
