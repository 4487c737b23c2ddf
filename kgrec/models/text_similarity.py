"""Text similarity: items nearest to the user's history by text embedding, nothing learned."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from kgrec.models.base import GraphRecommender
from kgrec.models.checks import check_indices, check_vectors


class TextSimilarity(GraphRecommender):
    r"""Scores an item by the cosine between its text vector and the mean text vector of the
    user's items: a content-based baseline that needs no interaction with the item itself, so
    it scores new items as well as old ones.

    .. math::
        \hat{y}_{ui} = \cos\Big(t_i,\ \frac{1}{|N_u|} \sum_{j \in N_u} \frac{t_j}{\lVert t_j
        \rVert}\Big)

    with ``t_i`` the item's text embedding and ``N_u`` the user's items among the user -> item
    edges of the ``edge_index`` given (the trainer passes the training interactions); written
    as a dot product of L2-normalised user and item vectors, so it ranks through the same
    :meth:`~kgrec.models.base.GraphRecommender.recommend` as the trained models. An item without
    text (a zero vector) scores 0, and so does every item for a user without history.
    Knowledge edges are ignored. No trainable parameters.

    Args:
        num_users: number of users ``U`` (nodes ``0 .. U-1``).
        num_items: number of items ``I`` (nodes ``U .. U+I-1``).
        item_text: ``[I, d]`` the items' text embeddings (zeros where an item has none).

    Shapes: ``forward(edge_index [2, E])`` returns ``[U + I, d]``.
    """

    def __init__(self, num_users: int, num_items: int, item_text: Tensor) -> None:
        super().__init__(num_users, num_items)
        check_vectors("item_text", item_text, num_items, f"[num_items={num_items}, d]")
        self.register_buffer("item_text", F.normalize(item_text.float(), dim=1))

    def reset_parameters(self) -> None:
        """Nothing to reset: the vectors are the items' text embeddings."""

    def forward(
        self,
        edge_index: Tensor,
        edge_type: Tensor | None = None,
        *,
        n_id: Tensor | None = None,
        degree: Tensor | None = None,
    ) -> Tensor:
        if n_id is not None:
            self.require_sampling()
        users, items = self.interactions(edge_index)
        history = self.item_text.new_zeros(self.num_users, self.item_text.size(1))
        history.index_add_(0, users, self.item_text[items])
        return torch.cat([F.normalize(history, dim=1), self.item_text])

    def fold_in(
        self,
        item_emb: Tensor,
        histories: Sequence[Tensor],
        *,
        candidates: Tensor | None = None,
        domains: Tensor | None = None,
        exclude: Sequence[Tensor] | None = None,
    ) -> Tensor:
        """Exact: a newcomer is the normalised mean of their items' text vectors (the rows of
        ``item_emb``), as a user trained in is."""
        users = item_emb.new_zeros(len(histories), item_emb.size(1))
        for row, history in zip(users, histories, strict=True):
            history = torch.as_tensor(history, dtype=torch.long, device=item_emb.device).flatten()
            # -1 would silently be the last item's text
            check_indices("history items", history, item_emb.size(0))
            row += item_emb[history].sum(0)
        return F.normalize(users, dim=1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(users={self.num_users}, items={self.num_items}, "
            f"text_dim={self.item_text.size(1)})"
        )
