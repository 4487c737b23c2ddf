"""Ranking: the one path from a trained model to each user's top-K, for evaluation and
recommendation alike.

:func:`embeddings` runs the model's full-graph forward pass once; :func:`rank` scores users
against items by dot product in batches of users, masking what each user already has.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

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
    items are left for a user, the last slots have score ``-inf``. Scores are computed on the
    embeddings' device (a GPU, say); the index tensors may be on the CPU, and the results are.
    """
    device = user_emb.device
    if candidates is not None:
        candidates = candidates.to(device)
    users = users.cpu()
    known = None if known is None else known.cpu()
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
            user_emb[batch.to(device)] @ item_emb.T,
            k,
            candidates=candidates,
            exclude=None if exclude is None else exclude.to(device),
        )
        all_items.append(items.cpu())
        all_scores.append(scores.cpu())
    if not all_items:
        return torch.empty(0, k, dtype=torch.long), torch.empty(0, k)
    return torch.cat(all_items), torch.cat(all_scores)
