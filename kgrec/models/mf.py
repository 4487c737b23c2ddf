"""Matrix factorisation: a user and an item embedding table scored by their dot product."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from kgrec.models.base import GraphRecommender
from kgrec.models.checks import check_count


class MatrixFactorisation(GraphRecommender):
    r"""Matrix factorisation, trained with BPR as in `"BPR: Bayesian Personalized Ranking from
    Implicit Feedback" <https://arxiv.org/abs/1205.2618>`_ (Rendle et al., UAI 2009): the
    classic baseline of LightGCN's paper (He et al., SIGIR 2020, "MF"). Every user and every
    item has an embedding of its own, and a user's score of an item is their dot product,

    .. math::
        \hat{y}_{ui} = \mathbf{p}_u^{\top} \mathbf{q}_i,

    with :math:`\mathbf{p}_u` row ``u`` of the user table and :math:`\mathbf{q}_i` row ``i``
    of the item table. Nothing propagates over the graph: ``edge_index`` and ``edge_type`` are
    ignored, and the model is what ``lightgcn --layers 0`` scores, with a table per node kind.
    Any objective trains it (:mod:`kgrec.objectives`: BPR, the sampled softmax); the
    graph-contrastive term (``cl_weight``) needs propagation layers, which it has none of.

    Args:
        num_users: number of users ``U`` (nodes ``0 .. U-1``).
        num_items: number of items ``I`` (nodes ``U .. U+I-1``).
        embedding_dim: size of the embeddings ``d``.

    Shapes: ``forward(edge_index [2, E])`` returns ``[U + I, embedding_dim]``, the user rows
    first.
    """

    def __init__(self, num_users: int, num_items: int, *, embedding_dim: int = 64) -> None:
        super().__init__(num_users, num_items)
        check_count("embedding_dim", embedding_dim, 1)
        self.embedding_dim = embedding_dim
        self.user_embedding = nn.Embedding(num_users, embedding_dim)
        self.item_embedding = nn.Embedding(num_items, embedding_dim)
        self.reset_parameters()

    def node_parameters(self) -> dict[str, tuple[str, ...]]:
        return {"user_embedding.weight": ("user",), "item_embedding.weight": ("item",)}

    def reset_parameters(self) -> None:
        """Xavier-uniform tables, as PyG's LightGCN starts its embeddings."""
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)

    def forward(
        self,
        edge_index: Tensor,
        edge_type: Tensor | None = None,
        *,
        n_id: Tensor | None = None,
        degree: Tensor | None = None,
    ) -> Tensor:
        """The user rows, then the item rows: ``[U + I, embedding_dim]``; the graph is not
        read."""
        if n_id is not None:
            self.require_sampling()
        return torch.cat([self.user_embedding.weight, self.item_embedding.weight])

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(users={self.num_users}, items={self.num_items}, "
            f"embedding_dim={self.embedding_dim})"
        )
