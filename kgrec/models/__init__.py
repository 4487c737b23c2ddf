"""kgrec's recommenders, each a plain ``torch.nn.Module``: ``from kgrec.models import ...``.

Names are imported lazily, so that :mod:`kgrec.models.registry` (whose names ``kgrec train
--help`` offers) does not load torch.
"""

from __future__ import annotations

import importlib
import importlib.util

# name -> module; imported on first use so that `import kgrec.models` stays light
_EXPORTS = {
    "GraphRecommender": "kgrec.models.base",
    "top_k": "kgrec.models.base",
    "Popularity": "kgrec.models.popularity",
    "LightGCNRecommender": "kgrec.models.lightgcn",
    "RGCNRecommender": "kgrec.models.rgcn",
    "CrossDomainRecommender": "kgrec.models.cross_domain",
    "TextSimilarity": "kgrec.models.text_similarity",
    "EASE": "kgrec.models.ease",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    # a submodule (kgrec.models.base): importing the package gave it before session 45
    if name.isidentifier() and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'kgrec.models' has no attribute {name!r}")
