"""EASE: a linear item-item model fitted in closed form, with items' texts as side information."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from kgrec.models.base import GraphRecommender
from kgrec.models.checks import check_number, check_vectors

# EASE holds dense [U, I] interactions, an [I, I] Gram matrix, its inverse and B (float64) and
# serves dense [U + I, I] float32 "embeddings"; past this it refuses rather than exhaust memory
MEMORY_LIMIT = 8 * 2**30


class EASE(GraphRecommender):
    r"""Embarrassingly Shallow Autoencoder (Steck, WWW 2019): each item's score is a weighted
    sum of the user's items, with item-item weights ``B`` fitted in closed form on the
    training interactions; optionally the items' text vectors enter as side information, as
    extra rows of the interaction matrix (Jeunen et al., RecSys 2020).

    .. math::
        \hat{B} = \arg\min_{B} \lVert X - XB \rVert_F^2 + \beta \lVert T^{\top} - T^{\top}B
        \rVert_F^2 + \lambda \lVert B \rVert_F^2 \quad \text{s.t.} \quad \operatorname{diag}(B) = 0

    with ``X`` the ``[U, I]`` 0/1 matrix of the user -> item edges of the ``edge_index`` given
    (the trainer passes the training interactions) and ``T`` the ``[I, d]`` L2-normalised item
    text vectors (zero rows where an item has none). With
    :math:`P = (X^{\top}X + \beta TT^{\top} + \lambda I)^{-1}` the solution is
    :math:`\hat{B}_{ij} = -P_{ij} / P_{jj}` off the diagonal. The score is
    :math:`\hat{y}_{ui} = x_u^{\top} \hat{B}_{:, i}`, written as the dot product of the user's
    row of ``X`` and the item's column of ``B``, so it ranks through the same
    :meth:`~kgrec.models.base.GraphRecommender.recommend` as the trained models. Column ``j``
    of ``B`` is the ridge regression of item ``j``'s column of ``X`` (and ``T^T``) on every
    other item's. Knowledge edges are ignored. No trainable parameters: the fit happens in
    :meth:`forward`, from the edges given.

    Args:
        num_users: number of users ``U`` (nodes ``0 .. U-1``).
        num_items: number of items ``I`` (nodes ``U .. U+I-1``).
        l2: ``lambda`` above, the ridge penalty (> 0).
        item_text: ``[I, d]`` the items' text vectors (zeros where an item has none), or None.
        text_weight: ``beta`` above (>= 0); above 0 it needs ``item_text``.

    Shapes: ``forward(edge_index [2, E])`` returns ``[U + I, I]``.
    """

    # a user's "embedding" is their row of X and an item's a column of B: catalogue-sized, and
    # beyond a vector index's dimensions (Neo4j's 4,096) for larger catalogues
    publishes_vectors: ClassVar[bool] = False

    def __init__(
        self,
        num_users: int,
        num_items: int,
        *,
        l2: float = 500.0,
        item_text: Tensor | None = None,
        text_weight: float = 0.0,
    ) -> None:
        super().__init__(num_users, num_items)
        check_number("l2", l2)
        check_number("text_weight", text_weight)
        if not 0 < l2 < math.inf:  # NaN too; inf gives every score NaN
            raise ValueError(f"l2 must be a positive finite number, got {l2}")
        if not 0 <= text_weight < math.inf:
            raise ValueError(f"text_weight must be a finite number >= 0, got {text_weight}")
        if text_weight > 0 and item_text is None:
            raise ValueError("text_weight > 0 needs item_text")
        if item_text is not None:
            check_vectors("item_text", item_text, num_items, f"[num_items={num_items}, d]")
        needed = (
            8 * (num_users + 3 * num_items) * num_items + 4 * (num_users + num_items) * num_items
        )
        if needed > MEMORY_LIMIT:
            raise ValueError(
                f"EASE needs about {needed / 2**30:.1f} GiB for {num_users} users and "
                f"{num_items} items (dense item-item matrices); more than the "
                f"{MEMORY_LIMIT / 2**30:.0f} GiB it allows itself. Use a graph model "
                "(lightgcn) for a catalogue this large"
            )
        self.l2 = float(l2)
        self.text_weight = float(text_weight)
        text = F.normalize(item_text.float(), dim=1) if item_text is not None else None
        self.register_buffer("item_text", text)

    def reset_parameters(self) -> None:
        """Nothing to reset: the weights are fitted in closed form by :meth:`forward`."""

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
        device = edge_index.device
        x = torch.zeros(self.num_users, self.num_items, dtype=torch.float64, device=device)
        x[users, items] = 1.0
        # X^T X as the sparse X^T times the dense X: exact (sums of 1.0 products, integers) as
        # the dense product, and a few times faster, X being mostly zeros
        pairs = x.nonzero().T.flip(0)  # (item, user) of each 1, once
        ones = torch.ones(pairs.size(1), dtype=torch.float64, device=device)
        shape = (self.num_items, self.num_users)
        # valid by construction: checking them would cost, and not saying so warns
        sparse = torch.sparse_coo_tensor(pairs, ones, shape, check_invariants=False)
        gram = torch.sparse.mm(sparse, x)
        del pairs, ones, sparse
        if self.text_weight > 0:
            text = self.item_text.to(device=device, dtype=torch.float64)
            gram += self.text_weight * (text @ text.T)
        gram.diagonal().add_(self.l2)
        p = torch.linalg.inv(gram)
        del gram  # each matrix freed once used: the memory check above counts on it
        b = p / (-p.diagonal()).unsqueeze(0)
        del p
        b.fill_diagonal_(0.0)
        out = torch.empty(self.num_users + self.num_items, self.num_items, device=device)
        out[: self.num_users] = x
        del x
        out[self.num_users :] = b.T
        return out

    def fold_in(
        self,
        item_emb: Tensor,
        histories: Sequence[Tensor],
        *,
        candidates: Tensor | None = None,
        domains: Tensor | None = None,
        exclude: Sequence[Tensor] | None = None,
    ) -> Tensor:
        """Exact for EASE: a newcomer is their row of ``X``, 1 at each item of their history
        that the fit saw (rows of ``item_emb`` past the first ``I``, items served after
        training, have no column in ``B`` and are left out)."""
        rows = torch.zeros(len(histories), self.num_items, dtype=item_emb.dtype)
        for row, history in zip(rows, histories, strict=True):
            history = torch.as_tensor(history, dtype=torch.long).flatten()
            if history.numel() and int(history.min()) < 0:
                raise ValueError(f"a history holds the item index {int(history.min())} (< 0)")
            row[history[history < self.num_items]] = 1.0
        return rows.to(item_emb.device)

    def __repr__(self) -> str:
        text = f", text_weight={self.text_weight:g}" if self.item_text is not None else ""
        return (
            f"{self.__class__.__name__}(users={self.num_users}, items={self.num_items}, "
            f"l2={self.l2:g}{text})"
        )
