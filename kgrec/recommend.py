"""Recommendations as tables and vectors: a ranking (:mod:`kgrec.ranking`) into the
RECOMMENDATIONS table, and the model's embeddings into vectors a cosine index ranks by.

Everyone gets recommendations, cold-start users included: a user with no history in the target
domain is scored through the user node the domains share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor


def recommendation_table(
    item_ids: Sequence[str],
    user_ids: Sequence[str],
    items: Tensor,
    scores: Tensor,
    *,
    model: str,
    run: str,
) -> pd.DataFrame:
    """The RECOMMENDATIONS table (graph_schema) of a ranking, row ``n`` of ``items`` (indices
    into ``item_ids``, the item uids) and ``scores`` being user ``user_ids[n]``'s; ``-inf``
    slots are dropped."""
    k = items.size(1)
    # -inf marks an empty slot (a masked item; a NaN score is an error of rank); +inf is a
    # real score
    finite = (scores != float("-inf")).flatten().numpy()
    user_ids = np.repeat(np.asarray(list(user_ids), dtype=object), k)
    item_uids = np.asarray(list(item_ids), dtype=object)[items.flatten().numpy()]
    table = pd.DataFrame(
        {
            "user_id": user_ids,
            "item_uid": item_uids,
            "score": scores.flatten().numpy().astype("float64"),
            "rank": np.tile(np.arange(1, k + 1), items.size(0)),
            "model": model,
            "run": run,
        }
    )
    return table[finite].reset_index(drop=True)


# how much longer than ``norm`` an item of inner_product_vectors may be: float32 rounding of
# vectors stored with that norm, not a longer item
NORM_TOLERANCE = 1e-5


class LongItemVector(ValueError):
    """An item vector longer than the norm :func:`inner_product_vectors` pads to: ``row`` the
    longest (a row of the item embeddings), ``length`` its norm, ``norm`` the one asked for."""

    def __init__(self, row: int, length: float, norm: float) -> None:
        self.row, self.length, self.norm = row, length, norm
        super().__init__(f"item vector {row} has norm {length}, more than {norm}")


def largest_norm(item_emb: Tensor) -> float:
    """``M`` of :func:`inner_product_vectors`: the largest norm of the rows of ``item_emb``
    (0 for none), the norm every item vector is padded to."""
    norms = item_emb.double().norm(dim=1)
    return float(norms.max()) if len(norms) else 0.0


def inner_product_vectors(
    user_emb: Tensor, item_emb: Tensor, *, norm: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """User and item vectors whose cosine ranks items as the dot product does.

    A cosine vector index cannot rank by dot product directly. Appending
    ``sqrt(M^2 - |i|^2)`` to every item vector (``M`` the largest item norm) and ``0`` to every
    user vector makes all item vectors of norm ``M`` and keeps ``u . i`` unchanged, so for a
    given user cosine similarity is ``u . i / (|u| M)``: the same order (Bachrach et al.,
    "Speeding up the Xbox recommender system using a Euclidean transformation for
    inner-product spaces", RecSys 2014).

    ``norm`` (default: the items' :func:`largest_norm`) is ``M``: items padded to join stored
    item vectors of that norm. A :class:`LongItemVector` when an item is longer (the one
    check of it: a caller words it for its user).
    """
    items = item_emb.double()
    norms = items.norm(dim=1)
    if norm is None:
        norm = largest_norm(item_emb)
    elif len(norms):
        longest = int(norms.argmax())
        if float(norms[longest]) > norm * (1 + NORM_TOLERANCE):
            raise LongItemVector(longest, float(norms[longest]), norm)
    extra = (norm**2 - norms**2).clamp(min=0).sqrt()
    item_vectors = torch.cat([items, extra.unsqueeze(1)], dim=1)
    user_vectors = torch.cat([user_emb.double(), torch.zeros(user_emb.size(0), 1)], dim=1)
    return user_vectors.float().numpy(), item_vectors.float().numpy()
