"""Popularity: the non-personalised baseline every recommender must beat."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from kgrec.models.base import GraphRecommender


class Popularity(GraphRecommender):
    r"""Recommends the items with the most training interactions, the same list for everyone.

    .. math::
        \hat{y}_{ui} = |\{v : (v, i) \in \mathcal{E}_{\text{train}}\}|

    written as a dot product of one-dimensional node embeddings (``1`` for every user, the
    item's interaction count for every item), so it ranks through the same
    :meth:`~kgrec.models.base.GraphRecommender.recommend` as the trained models. The counts
    are the user -> item edges of the ``edge_index`` given (the trainer passes the target
    domain's training interactions); knowledge edges are ignored. No trainable parameters.

    Args:
        num_users: number of users ``U`` (nodes ``0 .. U-1``).
        num_items: number of items ``I`` (nodes ``U .. U+I-1``).

    Shapes: ``forward(edge_index [2, E])`` returns ``[U + I, 1]``.
    """

    learns_users = False  # one list for everyone, a user without interactions included

    def __init__(self, num_users: int, num_items: int) -> None:
        super().__init__(num_users, num_items)

    def reset_parameters(self) -> None:
        """Nothing to reset: the counts come from the graph given to :meth:`forward`."""

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
        _, items = self.interactions(edge_index)
        counts = torch.bincount(items, minlength=self.num_items)
        users = torch.ones(self.num_users, 1, device=edge_index.device)
        return torch.cat([users, counts.to(users.dtype).unsqueeze(1)])

    def fold_in(
        self,
        item_emb: Tensor,
        histories: Sequence[Tensor],
        *,
        candidates: Tensor | None = None,
        domains: Tensor | None = None,
        exclude: Sequence[Tensor] | None = None,
    ) -> Tensor:
        """Exact: a newcomer is a user like any other, ``1``: the same list as everyone's."""
        return item_emb.new_ones(len(histories), 1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(users={self.num_users}, items={self.num_items})"
