"""Top-K recommendations for every user of a trained model, and their vectors for Neo4j.

Everyone gets recommendations, cold-start users included: a user with no history in the target
domain is scored through the user node the domains share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import Data
from tqdm import tqdm

from kgrec.data.export import IdMaps
from kgrec.models.base import GraphRecommender, top_k


@torch.no_grad()
def embeddings(model: GraphRecommender, graph: Data) -> tuple[Tensor, Tensor]:
    """(user embeddings, item embeddings) of ``model`` over its message graph, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        return model.split(model(graph.edge_index, graph.edge_type))
    finally:
        model.train(was_training)


@torch.no_grad()
def rank(
    user_emb: Tensor,
    item_emb: Tensor,
    *,
    users: Tensor,
    k: int,
    candidates: Tensor | None = None,
    known: Tensor | None = None,
    batch_size: int = 4096,
    progress: bool = False,
) -> tuple[Tensor, Tensor]:
    """Top-``k`` items (indices, scores; ``[len(users), k]``) by dot product, in user batches.

    ``known`` (``[2, X]``: user index, item index) is never recommended. Where fewer than ``k``
    items are left for a user, the last slots have score ``-inf``.
    """
    num_users = user_emb.size(0)
    row_of = torch.full((num_users,), -1, dtype=torch.long)
    all_items, all_scores = [], []
    for start in tqdm(
        range(0, len(users), batch_size), desc="ranking", unit="batch", disable=not progress
    ):
        batch = users[start : start + batch_size]
        exclude = None
        if known is not None:
            row_of[batch] = torch.arange(len(batch))
            mine = known[:, row_of[known[0]] >= 0]
            exclude = torch.stack([row_of[mine[0]], mine[1]])
            row_of[batch] = -1
        items, scores = top_k(
            user_emb[batch] @ item_emb.T, k, candidates=candidates, exclude=exclude
        )
        all_items.append(items)
        all_scores.append(scores)
    if not all_items:
        return torch.empty(0, k, dtype=torch.long), torch.empty(0, k)
    return torch.cat(all_items), torch.cat(all_scores)


def recommendation_table(
    maps: IdMaps, users: Tensor, items: Tensor, scores: Tensor, *, model: str, run: str
) -> pd.DataFrame:
    """The RECOMMENDATIONS table (graph_schema) of a ranking; ``-inf`` slots are dropped."""
    k = items.size(1)
    finite = torch.isfinite(scores).flatten().numpy()
    user_ids = np.asarray(maps.users, dtype=object)[users.repeat_interleave(k).numpy()]
    item_uids = np.asarray(maps.items, dtype=object)[items.flatten().numpy()]
    table = pd.DataFrame(
        {
            "user_id": user_ids,
            "item_uid": item_uids,
            "score": scores.flatten().numpy().astype("float64"),
            "rank": np.tile(np.arange(1, k + 1), len(users)),
            "model": model,
            "run": run,
        }
    )
    return table[finite].reset_index(drop=True)


def inner_product_vectors(user_emb: Tensor, item_emb: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """User and item vectors whose cosine ranks items as the dot product does.

    A cosine vector index cannot rank by dot product directly. Appending
    ``sqrt(M^2 - |i|^2)`` to every item vector (``M`` the largest item norm) and ``0`` to every
    user vector makes all item vectors of norm ``M`` and keeps ``u . i`` unchanged, so for a
    given user cosine similarity is ``u . i / (|u| M)``: the same order (Bachrach et al.,
    "Speeding up the Xbox recommender system using a Euclidean transformation for
    inner-product spaces", RecSys 2014).
    """
    items = item_emb.double()
    norms = items.norm(dim=1)
    extra = (norms.max() ** 2 - norms**2).clamp(min=0).sqrt()
    item_vectors = torch.cat([items, extra.unsqueeze(1)], dim=1)
    user_vectors = torch.cat([user_emb.double(), torch.zeros(user_emb.size(0), 1)], dim=1)
    return user_vectors.float().numpy(), item_vectors.float().numpy()


# Reading published recommendations back in Cypher (notebooks, bench, applications).
TOP_K = """
MATCH (u:User {user_id: $user_id})-[r:RECOMMENDED {run: $run}]->(i:Item)
RETURN i.uid AS item, i.title AS title, r.score AS score, r.rank AS rank
ORDER BY r.rank
LIMIT $k
"""

# Ad-hoc recommendations from the published embeddings through the vector index (see
# inner_product_vectors): the nearest items of the user's vector, of the domain asked for and
# not already the user's. $candidates (> $k) leaves room for the items filtered out.
VECTOR_TOP_K = """
MATCH (u:User {user_id: $user_id})
CALL db.index.vector.queryNodes($index, $candidates, u.gnn_embedding) YIELD node AS i, score
WHERE i.domain = $domain AND NOT (u)-[:INTERACTED]->(i)
RETURN i.uid AS item, i.title AS title, score
ORDER BY score DESC
LIMIT $k
"""
