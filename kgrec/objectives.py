r"""Training objectives: what a batch of training pairs costs, for every model and epoch loop.

An epoch strategy (:class:`kgrec.train.FullGraph`, :class:`kgrec.sampling.NeighborSampling`)
cuts an epoch into :class:`Batch`\ es; :func:`kgrec.train.fit` calls the objective on each
and steps the optimiser. The batch carries the graph to propagate over (the whole graph, or
a sampled subgraph with its global node ids), so an objective that needs the graph, several
forward passes or two augmented views (a contrastive term) is written here alone: the epoch
loops never change.

To add a loss: a subclass of :class:`Objective` implementing :meth:`Objective.loss`, an
entry in :data:`OBJECTIVES`, and a test in ``tests/test_objectives.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from kgrec.models.base import GraphRecommender


@dataclass
class Batch:
    """One batch of training triples and the graph its embeddings come from.

    ``users``, ``pos`` and ``neg`` are user and item indices (``[B]`` each), ``weight`` the
    pair weights. ``edge_index``/``edge_type`` is the graph to propagate over: the whole node
    space when ``n_id`` is None, else a subgraph whose node ``j`` is global node ``n_id[j]``
    (``degree[j]`` its interactions in the whole graph) and whose first ``len(seeds)`` nodes
    are ``seeds``; ``rows`` then gives the subgraph row of every user, positive and negative.
    """

    users: Tensor
    pos: Tensor
    neg: Tensor
    weight: Tensor
    edge_index: Tensor
    edge_type: Tensor | None = None
    n_id: Tensor | None = None
    degree: Tensor | None = None
    seeds: Tensor | None = None
    rows: Tensor | None = None  # [3, B]: subgraph rows of users, positives, negatives

    def propagate(self, model: GraphRecommender) -> Tensor:
        """The model's node embeddings over this batch's graph."""
        if self.n_id is None:
            return model(self.edge_index, self.edge_type)
        return model(self.edge_index, self.edge_type, n_id=self.n_id, degree=self.degree)

    def triples(self, model: GraphRecommender, node_emb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(user, positive item, negative item) embeddings of the batch, ``[B, dim]`` each."""
        if self.rows is None:
            user_emb, item_emb = model.split(node_emb)
            return user_emb[self.users], item_emb[self.pos], item_emb[self.neg]
        return node_emb[self.rows[0]], node_emb[self.rows[1]], node_emb[self.rows[2]]

    def auxiliary_loss(self, model: GraphRecommender, node_emb: Tensor) -> Tensor | None:
        """The model's own extra loss (e.g. a domain discriminator) on this batch's nodes."""
        if self.n_id is None:
            return model.auxiliary_loss(node_emb)
        return model.auxiliary_loss(node_emb[: self.seeds.numel()], n_id=self.seeds)


class Objective:
    """A training loss. :meth:`__call__` propagates once, hands the embeddings to
    :meth:`loss` and adds the model's :meth:`~GraphRecommender.auxiliary_loss`; a loss that
    needs more (another forward pass, two views) calls ``batch.propagate`` itself."""

    def __call__(self, model: GraphRecommender, batch: Batch) -> Tensor:
        node_emb = batch.propagate(model)
        loss = self.loss(model, batch, node_emb)
        aux = batch.auxiliary_loss(model, node_emb)
        return loss if aux is None else loss + aux

    def loss(self, model: GraphRecommender, batch: Batch, node_emb: Tensor) -> Tensor:
        raise NotImplementedError


def bpr_loss(
    user_emb: Tensor,
    pos_emb: Tensor,
    neg_emb: Tensor,
    weight: Tensor,
    *,
    reg_weight: float = 0.0,
) -> Tensor:
    r"""Weighted BPR loss of matching rows (Rendle et al., UAI 2009), plus ``reg_weight``
    times the mean squared norm of the batch's representations:

    .. math::
        \frac{\sum_b w_b \, \big(-\ln \sigma(\mathbf{e}_{u_b}^{\top}\mathbf{e}_{i_b}
        - \mathbf{e}_{u_b}^{\top}\mathbf{e}_{j_b})\big)}{\sum_b w_b}
        + \frac{\lambda}{B} \sum_b \big(\lVert\mathbf{e}_{u_b}\rVert^2
        + \lVert\mathbf{e}_{i_b}\rVert^2 + \lVert\mathbf{e}_{j_b}\rVert^2\big)
    """
    pos = (user_emb * pos_emb).sum(-1)
    neg = (user_emb * neg_emb).sum(-1)
    loss = (weight * -F.logsigmoid(pos - neg)).sum() / weight.sum()
    if reg_weight:
        norms = user_emb.pow(2).sum() + pos_emb.pow(2).sum() + neg_emb.pow(2).sum()
        loss = loss + reg_weight * norms / user_emb.size(0)
    return loss


class BPR(Objective):
    """Bayesian personalised ranking: each positive above its sampled negative
    (:func:`bpr_loss`), with an optional L2 weight on the batch's representations."""

    def __init__(self, *, reg_weight: float = 0.0) -> None:
        if reg_weight < 0:
            raise ValueError(f"reg_weight must be non-negative, got {reg_weight}")
        self.reg_weight = reg_weight

    def loss(self, model: GraphRecommender, batch: Batch, node_emb: Tensor) -> Tensor:
        user_emb, pos_emb, neg_emb = batch.triples(model, node_emb)
        return bpr_loss(user_emb, pos_emb, neg_emb, batch.weight, reg_weight=self.reg_weight)

    def __repr__(self) -> str:
        return f"BPR(reg_weight={self.reg_weight})"


# name on the command line -> objective class (keyword-only constructor arguments)
OBJECTIVES: dict[str, type[Objective]] = {"bpr": BPR}
