"""Ranking: the one path from a trained model to each user's top-K, for evaluation and
recommendation alike.

:func:`embeddings` runs the model's full-graph forward pass once; :func:`rank` scores users
against items by dot product in batches of users, masking what each user already has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor
from tqdm.auto import tqdm

from kgrec.data.known import KnownItems
from kgrec.models.base import FoldInNaN, GraphRecommender, NaNScores, ordered_top_k
from kgrec.models.checks import check_k

if TYPE_CHECKING:  # imported where a graph is built: `kgrec COMMAND --help` needs no PyG
    from torch_geometric.data import Data

__all__ = ["FoldInNaN", "NaNScores", "embeddings", "rank"]


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
    max_scores: int = 2**25,
    progress: bool = False,
) -> tuple[Tensor, Tensor]:
    """Top-``k`` items (indices, scores; ``[len(users), k]``) by dot product, in user batches.

    Only ``candidates`` (default: every item) are scored. ``known`` (``[2, X]``: user index,
    item index) is never recommended. Where fewer than ``k`` items are left for a user, the
    last slots have score ``-inf`` (the one mark of an empty slot). A NaN or infinite score
    among the candidates (a diverged model, or overflowing scores) is a :class:`NaNScores`
    naming every user who has one. A batch holds at most ``batch_size`` users and
    ``max_scores`` scores (128 MB of float32 by default), so memory does not grow with the
    catalogue. Scores are computed on the embeddings' device (a GPU, say); the index tensors
    may be on the CPU, and the results are.
    """
    check_k(k)
    device = user_emb.device
    if candidates is None:
        candidates = torch.arange(item_emb.size(0))
    candidates = torch.unique(candidates.cpu())  # each once, in item order (ties: by index)
    if k > len(candidates):
        raise ValueError(f"k={k} is larger than the {len(candidates)} candidate items")
    pool = item_emb[candidates.to(device)]
    users = users.cpu()
    known_of = KnownItems(known, candidates, user_emb.size(0))
    step = max(1, min(batch_size, max_scores // len(candidates)))
    all_items, all_scores, nan = [], [], []
    for start in tqdm(
        range(0, len(users), step), desc="ranking", unit="batch", disable=not progress
    ):
        batch = users[start : start + step]
        scores = user_emb[batch.to(device)] @ pool.T
        # NaN or ±inf (finite embeddings so long their products overflow, to NaN or to
        # ±inf as the CPU sums them), a known item's too: -inf would read as an empty slot
        diverged = batch[~scores.isfinite().all(1).cpu()]
        if len(diverged) or nan:  # nothing is served any more: the users are only counted
            nan.append(diverged)
            continue
        rows, columns = known_of(batch)
        scores[rows.to(device), columns.to(device)] = float("-inf")
        top_scores, top = ordered_top_k(scores, k)
        all_items.append(candidates[top.cpu()])
        all_scores.append(top_scores.cpu())
    if nan:
        raise NaNScores(torch.cat(nan).tolist())
    if not all_items:
        return torch.empty(0, k, dtype=torch.long), torch.empty(0, k)
    return torch.cat(all_items), torch.cat(all_scores)
