r"""Training objectives: what a batch of training pairs costs, for every model and epoch loop.

An epoch strategy (:class:`kgrec.train.FullGraph`, :class:`kgrec.sampling.NeighborSampling`)
cuts an epoch into :class:`Batch`\ es; :func:`kgrec.train.fit` calls the objective on each
and steps the optimiser. The batch carries the graph to propagate over (the whole graph, or
a sampled subgraph with its global node ids), so an objective that needs the graph, several
forward passes or two augmented views (a contrastive term) is written here alone: the epoch
loops never change.

To add a loss: a subclass of :class:`Objective` implementing :meth:`Objective.loss`, its name
in :data:`kgrec.settings.OBJECTIVE_NAMES` and its class in :data:`OBJECTIVES`, and a test in
``tests/test_objectives.py``. Its constructor's keyword arguments are options of
:func:`kgrec.experiment.train` of the same names, which hands them over
(:func:`kgrec.experiment.objective_options`): each needs its default in
:data:`kgrec.settings.TRAIN_DEFAULTS`, its keyword argument of ``train`` and its option of
``kgrec train`` (README, Development).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from kgrec.data.known import KnownItems
from kgrec.models.base import GraphRecommender
from kgrec.models.checks import check_integer, check_number, check_tensor
from kgrec.settings import OBJECTIVE_NAMES, SCORES


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

    def propagate(self, model: GraphRecommender, *, noise: float = 0.0) -> Tensor:
        """The model's node embeddings over this batch's graph (perturbed by ``noise``: see
        :meth:`~kgrec.models.base.GraphRecommender.forward_layers`)."""
        extra = {"noise": noise} if noise else {}
        if self.n_id is None:
            return model(self.edge_index, self.edge_type, **extra)
        return model(self.edge_index, self.edge_type, n_id=self.n_id, degree=self.degree, **extra)

    def propagate_layers(
        self, model: GraphRecommender, *, noise: float = 0.0
    ) -> tuple[Tensor, list[Tensor]]:
        """(node embeddings, every layer's output) over this batch's graph, perturbed by
        ``noise`` (:meth:`~kgrec.models.base.GraphRecommender.forward_layers`)."""
        return model.forward_layers(
            self.edge_index, self.edge_type, n_id=self.n_id, degree=self.degree, noise=noise
        )

    def node_rows(self, model: GraphRecommender) -> tuple[Tensor, Tensor, Tensor]:
        """Rows of the propagated embeddings that hold the batch's users, positives and
        negatives (``[B]`` each): node ids over the whole graph, subgraph rows otherwise."""
        if self.rows is None:
            return self.users, self.pos + model.num_users, self.neg + model.num_users
        return self.rows[0], self.rows[1], self.rows[2]

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


def check_objective(name: str, value: object) -> None:
    """A TypeError unless ``value`` is an :class:`Objective` instance: a class (``BPR``, not
    ``BPR()``) or a name (``"bpr"``: :data:`OBJECTIVES` maps names to classes) would fail
    only at the first batch, as a bare TypeError from inside training."""
    if not isinstance(value, Objective):
        hint = "" if not isinstance(value, type) else f" (an instance: {value.__name__}())"
        raise TypeError(
            f"{name} must be an objective of kgrec.objectives (BPR(), Softmax(), ...), got "
            f"{value!r}{hint}"
        )


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
    check_number("reg_weight", reg_weight)  # "0.1": a TypeError naming it
    if not 0 <= reg_weight < math.inf:  # NaN too; a negative one rewards large vectors
        raise ValueError(f"reg_weight must be non-negative, got {reg_weight}")
    check_batch_rows(weight, user_emb, pos_emb, neg_emb)
    pos = (user_emb * pos_emb).sum(-1)
    neg = (user_emb * neg_emb).sum(-1)
    loss = (weight * -F.logsigmoid(pos - neg)).sum() / weight.sum()
    if reg_weight:
        norms = user_emb.pow(2).sum() + pos_emb.pow(2).sum() + neg_emb.pow(2).sum()
        loss = loss + reg_weight * norms / user_emb.size(0)
    return loss


def check_batch_rows(weight: Tensor, *rows: Tensor) -> None:
    """ValueError unless the batch holds pairs (``weight`` ``[B]``, B > 0) and each of ``rows``
    one row per pair: an empty batch's loss is NaN (0 / 0), which a trainer takes for a
    diverged model, and rows that do not match are torch's broadcasting error."""
    if weight.dim() != 1 or not weight.numel():
        raise ValueError(
            f"the batch holds no pairs: weight must be [B] with B > 0, got shape "
            f"{list(weight.shape)}"
        )
    if any(row.dim() == 0 or row.size(0) != weight.numel() for row in rows):
        raise ValueError(
            f"the batch's tensors must have one row per pair ({weight.numel()}), got shapes "
            f"{[list(row.shape) for row in rows]}"
        )


class BPR(Objective):
    """Bayesian personalised ranking: each positive above its sampled negative
    (:func:`bpr_loss`), with an optional L2 weight on the batch's representations."""

    def __init__(self, *, reg_weight: float = 0.0) -> None:
        check_number("reg_weight", reg_weight)  # "0.1": a TypeError naming it
        if not 0 <= reg_weight < math.inf:
            raise ValueError(f"reg_weight must be non-negative, got {reg_weight}")
        self.reg_weight = reg_weight

    def loss(self, model: GraphRecommender, batch: Batch, node_emb: Tensor) -> Tensor:
        user_emb, pos_emb, neg_emb = batch.triples(model, node_emb)
        return bpr_loss(user_emb, pos_emb, neg_emb, batch.weight, reg_weight=self.reg_weight)

    def __repr__(self) -> str:
        return f"BPR(reg_weight={self.reg_weight})"


def softmax_loss(
    user_emb: Tensor,
    item_emb: Tensor,
    target: Tensor,
    weight: Tensor,
    *,
    temperature: float = 1.0,
    score: str = "dot",
    exclude: Tensor | None = None,
) -> Tensor:
    r"""Weighted sampled-softmax (InfoNCE) loss: each row's positive against a shared set of
    candidate items.

    ``user_emb`` is ``[B, d]``, ``item_emb`` the ``[C, d]`` candidates, ``target`` ``[B]`` the
    column of each row's positive, ``exclude`` an optional ``[B, C]`` mask of candidates that
    are no negatives of the row (accidental hits: the user's other positives; never the
    row's own target). With :math:`s(u, i)` the dot product or cosine and :math:`N_b` the
    row's candidates that are not excluded,

    .. math::
        \frac{\sum_b w_b \Big(-\frac{s(u_b, i_b)}{\tau}
        + \ln \sum_{j \in N_b} e^{s(u_b, j) / \tau}\Big)}{\sum_b w_b}.
    """
    check_number("temperature", temperature)  # "0.2": a TypeError naming it
    if not 0 < temperature < math.inf:  # NaN and inf too
        raise ValueError(f"temperature must be positive, got {temperature}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    check_batch_rows(weight, user_emb, target)
    if score == "cosine":
        user_emb, item_emb = F.normalize(user_emb, dim=-1), F.normalize(item_emb, dim=-1)
    # 1/tau on the [B, d] side, and cross_entropy's fused log-softmax: 4x faster forward and
    # backward than logsumexp minus the gathered targets on a [2048, 1600] batch, 1 thread
    logits = (user_emb / temperature) @ item_emb.T
    if exclude is not None:
        exclude = exclude.clone()
        exclude[torch.arange(logits.size(0), device=logits.device), target] = False
        logits = logits.masked_fill(exclude, float("-inf"))
    per_row = F.cross_entropy(logits, target, reduction="none")
    return (weight * per_row).sum() / weight.sum()


def squared_norms(*embeddings: Tensor) -> Tensor:
    """BPR's L2 term: the batch's summed squared norms over its number of rows."""
    return sum(e.pow(2).sum() for e in embeddings) / embeddings[0].size(0)


class Softmax(Objective):
    r"""Sampled softmax (InfoNCE) over many negatives (:func:`softmax_loss`), as in
    SimGCL/XSimGCL's recommendation loss variants, SimpleX (Mao et al., CIKM 2021, cosine
    scores) and the in-batch softmax of two-tower retrieval (Yi et al., RecSys 2019).

    Each row's candidates are shared by the whole batch: the batch's positives (in-batch
    negatives), the batch's sampled negatives (one per row, uniform over the positive's
    domain, from :class:`kgrec.train.NegativeSampler`) and ``num_negatives`` more items drawn
    uniformly with torch's global generator (full-graph batches only: a sampled subgraph
    holds no others), each item once. Accidental hits are masked: a row never counts as
    negatives the positives that its user has elsewhere in the batch (the row's own positive
    is its target), nor, with ``item_domain``, items of another domain than its positive's;
    so with ``item_domain`` the ``num_negatives`` are drawn from each domain that the batch's
    positives come from (``num_negatives`` per domain), and a row of a small domain among
    a large one's still gets them all. No logQ correction: in-batch positives act as
    popularity-sampled negatives and are not reweighted (the batch's own uniform negatives,
    about as many, keep the candidates from being popular items only).

    Args:
        temperature: :math:`\tau`; with dot scores it only rescales the embeddings.
        num_negatives: extra uniform candidate items per batch.
        score: ``"dot"`` (the score the recommender ranks with) or ``"cosine"``.
        reg_weight: L2 weight on the batch's user, positive and negative representations, as
            for :class:`BPR`.
        item_domain: ``[num_items]`` domain of every item (None: one domain); an item of
            domain -1 (:meth:`kgrec.data.split.Split.negative_domains`) is never drawn.
    """

    def __init__(
        self,
        *,
        temperature: float = 0.2,
        num_negatives: int = 0,
        score: str = "dot",
        reg_weight: float = 0.0,
        item_domain: Tensor | None = None,
    ) -> None:
        check_number("temperature", temperature)  # "0.1": a TypeError naming it
        check_integer("num_negatives", num_negatives)  # 2.5, True: a count
        check_number("reg_weight", reg_weight)
        if item_domain is not None:
            check_tensor("item_domain", item_domain)
        if not 0 < temperature < math.inf:  # NaN and inf too
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0 <= num_negatives < math.inf:
            raise ValueError(f"num_negatives must be non-negative, got {num_negatives}")
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        if not 0 <= reg_weight < math.inf:
            raise ValueError(f"reg_weight must be non-negative, got {reg_weight}")
        self.temperature = temperature
        self.num_negatives = num_negatives
        self.score = score
        self.reg_weight = reg_weight
        self.item_domain = item_domain

    def candidates(self, model: GraphRecommender, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """(candidate items ``[C]``, the column of each positive, negative and extra item
        drawn, in that order, and the ``[B, C]`` mask of accidental hits)."""
        size = batch.pos.numel()
        items = [batch.pos, batch.neg]
        if self.num_negatives:
            if batch.n_id is not None:
                raise ValueError(
                    "num_negatives draws items outside a sampled subgraph: use 0 with "
                    "neighbour sampling (the batch's negatives are still shared)"
                )
            items.append(self._extra_negatives(model.num_items, batch.pos))
        items, inverse = torch.unique(torch.cat(items), return_inverse=True)
        target = inverse[:size]
        users, user_row = torch.unique(batch.users, return_inverse=True)
        liked = torch.zeros(users.numel(), items.numel(), dtype=torch.bool, device=items.device)
        liked[user_row, target] = True
        exclude = liked[user_row]
        exclude[torch.arange(size, device=items.device), target] = False
        if self.item_domain is not None:
            domain = self.item_domain.to(items.device)
            exclude |= domain[items].unsqueeze(0) != domain[batch.pos].unsqueeze(1)
        return items, inverse, exclude

    def _extra_negatives(self, num_items: int, pos: Tensor) -> Tensor:
        """``num_negatives`` uniform items, from each domain of ``pos`` with ``item_domain``."""
        if self.item_domain is None:
            return torch.randint(num_items, (self.num_negatives,)).to(pos)
        domain = self.item_domain.to(pos.device)
        drawn = []
        for d in torch.unique(domain[pos]).tolist():
            members = torch.nonzero(domain == d).flatten()
            drawn.append(members[torch.randint(len(members), (self.num_negatives,)).to(pos)])
        return torch.cat(drawn)

    def loss(self, model: GraphRecommender, batch: Batch, node_emb: Tensor) -> Tensor:
        items, column, exclude = self.candidates(model, batch)
        target = column[: batch.pos.numel()]
        user_emb, pos_emb, neg_emb = batch.triples(model, node_emb)
        if batch.rows is None:
            item_emb = model.split(node_emb)[1][items]
        else:  # the subgraph row of every candidate (each a positive or a negative seed)
            rows = torch.cat([batch.rows[1], batch.rows[2]])
            item_emb = node_emb[torch.empty_like(items).scatter_(0, column, rows)]
        loss = softmax_loss(
            user_emb,
            item_emb,
            target,
            batch.weight,
            temperature=self.temperature,
            score=self.score,
            exclude=exclude,
        )
        if self.reg_weight:
            loss = loss + self.reg_weight * squared_norms(user_emb, pos_emb, neg_emb)
        return loss

    def __repr__(self) -> str:
        return (
            f"Softmax(temperature={self.temperature}, num_negatives={self.num_negatives}, "
            f"score={self.score!r}, reg_weight={self.reg_weight})"
        )


def info_nce(view1: Tensor, view2: Tensor, *, temperature: float) -> Tensor:
    r"""InfoNCE between two views of the same ``N`` nodes (``[N, d]`` each, row ``n`` of one
    the positive of row ``n`` of the other, the other rows its negatives), on cosine scores
    as in SGL, SimGCL and XSimGCL:

    .. math::
        \frac{1}{N} \sum_n -\ln \frac{e^{\cos(\mathbf{z}'_n, \mathbf{z}''_n) / \tau}}
        {\sum_m e^{\cos(\mathbf{z}'_n, \mathbf{z}''_m) / \tau}}.
    """
    check_number("temperature", temperature)  # "0.2": a TypeError naming it
    if not 0 < temperature < math.inf:  # NaN and inf too
        raise ValueError(f"temperature must be positive, got {temperature}")
    # else a rectangular, silent loss, or NaN (the mean of no rows)
    if view1.dim() != 2 or view1.shape != view2.shape or not view1.size(0):
        raise ValueError(
            f"the two views must be [N, d] of the same shape, got {list(view1.shape)} and "
            f"{list(view2.shape)} (N > 0)"
        )
    logits = F.normalize(view1, dim=-1) @ F.normalize(view2, dim=-1).T / temperature
    return -torch.diagonal(F.log_softmax(logits, dim=1)).mean()


class Contrastive(Objective):
    r"""A main objective plus a graph-contrastive term on noise-perturbed propagation: SimGCL
    (Yu et al., "Are Graph Augmentations Necessary?", SIGIR 2022) and its cross-layer form
    XSimGCL (Yu et al., "XSimGCL: Towards Extremely Simple Graph Contrastive Learning for
    Recommendation", TKDE 2023).

    Every propagation layer's output gets uniform noise of size ``noise``
    (:func:`~kgrec.models.layers.embedding_noise`), and :func:`info_nce` pulls together two
    views of the batch's unique users and of its unique positive items:

    .. math::
        \mathcal{L} = \mathcal{L}_{\textrm{main}}(\mathbf{e}') + \lambda \big(
        \mathrm{InfoNCE}_\tau(\mathbf{e}'_{\mathcal{U}_B}, \mathbf{z}_{\mathcal{U}_B})
        + \mathrm{InfoNCE}_\tau(\mathbf{e}'_{\mathcal{I}_B}, \mathbf{z}_{\mathcal{I}_B})\big).

    - ``layer`` :math:`l^* \geq 1` (XSimGCL): one perturbed forward pass; the main loss is
      priced on its read-out :math:`\mathbf{e}'` and :math:`\mathbf{z}` is the same pass's
      layer-:math:`l^*` output (XSimGCL's ``layer_cl``; the paper uses :math:`l^* = 1`).
    - ``layer = 0`` (SimGCL): the main loss on a clean pass, and the two views are the
      read-outs of two independently perturbed passes (three passes per batch).

    Unlike XSimGCL's code, the read-out keeps the model's own layer weights (LightGCN and
    R-GCN include layer 0), and the pair weights do not enter the term (it is per node).
    Paper settings: :math:`\lambda` 0.1-0.2, noise 0.1-0.2, :math:`\tau` 0.15-0.2.

    Args:
        main: the recommendation objective (:class:`BPR`, :class:`Softmax`, ...).
        weight: :math:`\lambda`.
        noise: size of the noise on every layer's output.
        temperature: :math:`\tau` of :func:`info_nce`.
        layer: :math:`l^*` (1 .. number of layers), or 0 for SimGCL's two perturbed passes.
    """

    def __init__(
        self,
        main: Objective,
        *,
        weight: float = 0.1,
        noise: float = 0.2,
        temperature: float = 0.2,
        layer: int = 1,
    ) -> None:
        check_objective("main", main)
        for name, value in (
            ("cl_weight", weight),
            ("cl_noise", noise),
            ("cl_temperature", temperature),
        ):
            check_number(name, value)  # "0.1": a TypeError naming it
        check_integer("cl_layer", layer)  # 1.5, True: an index of the model's layers
        if not 0 <= weight < math.inf:
            raise ValueError(f"cl_weight must be non-negative, got {weight}")
        if not 0 <= noise < math.inf:
            raise ValueError(f"cl_noise must be non-negative, got {noise}")
        if not 0 < temperature < math.inf:  # NaN and inf too
            raise ValueError(f"cl_temperature must be positive, got {temperature}")
        if not 0 <= layer < math.inf:
            raise ValueError(f"cl_layer must be non-negative, got {layer}")
        self.main = main
        self.weight = weight
        self.noise = noise
        self.temperature = temperature
        self.layer = layer

    def __call__(self, model: GraphRecommender, batch: Batch) -> Tensor:
        if self.layer == 0:
            node_emb = batch.propagate(model)
            view1 = batch.propagate_layers(model, noise=self.noise)[0]
            view2 = batch.propagate_layers(model, noise=self.noise)[0]
        else:
            node_emb, layers = batch.propagate_layers(model, noise=self.noise)
            if self.layer >= len(layers):
                raise ValueError(
                    f"cl_layer must lie in [0, {len(layers) - 1}] (the model's layers), "
                    f"got {self.layer}"
                )
            view1, view2 = node_emb, layers[self.layer]
        loss = self.main.loss(model, batch, node_emb)
        if self.weight:
            loss = loss + self.weight * self.term(model, batch, view1, view2)
        aux = batch.auxiliary_loss(model, node_emb)
        return loss if aux is None else loss + aux

    def term(self, model: GraphRecommender, batch: Batch, view1: Tensor, view2: Tensor) -> Tensor:
        """InfoNCE of the batch's unique users plus that of its unique positive items."""
        users, pos, _ = batch.node_rows(model)
        total = view1.new_zeros(())
        for rows in (torch.unique(users), torch.unique(pos)):
            total = total + info_nce(view1[rows], view2[rows], temperature=self.temperature)
        return total

    def loss(self, model: GraphRecommender, batch: Batch, node_emb: Tensor) -> Tensor:
        raise TypeError("Contrastive perturbs propagation itself: call it on (model, batch)")

    def __repr__(self) -> str:
        return (
            f"Contrastive({self.main!r}, weight={self.weight}, noise={self.noise}, "
            f"temperature={self.temperature}, layer={self.layer})"
        )


def text_neighbours(vectors: Tensor, mask: Tensor, k: int, *, rows: int | None = None) -> Tensor:
    """Each item's ``k`` nearest other items by cosine of their text vectors: ``[I, k]`` item
    indices, best first (equal cosines, as of items with the same text, by index, lowest
    first, not in the order of :func:`torch.topk`'s kernel, which differs by CPU), ``-1`` where
    an item has no text or fewer than ``k`` others have.

    ``vectors`` is ``[I, d]``, ``mask`` ``[I]`` (which items have text). The search is exact,
    so its time grows with ``I ** 2`` (a second for ml-1m's 3,706 films; hours for a million
    items, where an approximate index would be needed); the similarities are computed
    ``rows`` items at a time (default: blocks of about 2**26 scores), so memory does not.
    """
    check_integer("the number of text neighbours", k)  # 2.5, "5": a TypeError naming it
    if not 0 < k < math.inf:  # NaN and inf too
        raise ValueError(f"the number of text neighbours must be positive, got {k}")
    num_items = vectors.size(0)
    rows = rows or max(1, (1 << 26) // max(num_items, 1))
    unit = F.normalize(vectors.to(torch.float), dim=-1)
    neighbours = torch.full((num_items, k), -1, dtype=torch.long, device=vectors.device)
    take = min(k, max(int(mask.sum()) - 1, 0))
    if take == 0:
        return neighbours
    for start in range(0, num_items, rows):
        stop = min(start + rows, num_items)
        sim = unit[start:stop] @ unit.T
        sim[:, ~mask] = float("-inf")
        sim[torch.arange(stop - start), torch.arange(start, stop)] = float("-inf")
        neighbours[start:stop, :take] = _top_indices(sim, take)
    neighbours[~mask] = -1
    return neighbours


def _top_indices(scores: Tensor, k: int) -> Tensor:
    """The indices of each row's ``k`` largest ``scores`` (``[R, n]``, ``k <= n``), largest
    first, equal scores by index, lowest first, where :func:`torch.topk` leaves the order of
    equal scores, and which of them it takes where the ``k``-th ties with one left out, to its
    kernel (which differs by CPU). Without ties, ``topk``'s own result."""
    values, top = scores.topk(min(k + 1, scores.size(1)), dim=1)
    top = top[:, :k]
    # rows whose k-th score ties with one left out (the k+1-th): the lowest indices of it
    tied = (values[:, k:] == values[:, k - 1 : k]).any(dim=1).nonzero().squeeze(1)
    if len(tied):
        rows, at = scores[tied], values[tied, k - 1 : k]
        above = rows > at
        equal = rows == at
        keep = above | (equal & (equal.cumsum(dim=1) <= k - above.sum(dim=1, keepdim=True)))
        top[tied] = keep.nonzero()[:, 1].view(-1, k)
    top = top.sort(dim=1).values  # by index, then stably by score: ties stay by index
    order = scores.gather(1, top).sort(dim=1, descending=True, stable=True).indices
    return top.gather(1, order)


class FullGraphTerm(Objective):
    """A main objective plus ``weight`` times a :meth:`term` over the whole graph's read-out
    (:class:`TextNeighbours`, :class:`Distillation`): full-graph batches only, since what the
    term reaches lies outside a sampled subgraph (``full_graph_only`` says what, after the
    term's ``name``)."""

    main: Objective
    weight: float
    name: str
    full_graph_only: str

    def loss(self, model: GraphRecommender, batch: Batch, node_emb: Tensor) -> Tensor:
        loss = self.main.loss(model, batch, node_emb)
        if not self.weight:
            return loss
        if batch.n_id is not None:
            raise ValueError(
                f"the {self.name} needs full-graph batches (--batching full): "
                f"{self.full_graph_only}"
            )
        return loss + self.weight * self.term(model, batch, node_emb)

    def term(self, model: GraphRecommender, batch: Batch, node_emb: Tensor) -> Tensor:
        raise NotImplementedError


class TextNeighbours(FullGraphTerm):
    r"""A main objective plus a contrastive term that pulls every item towards the items whose
    texts are nearest to its own (the text view of issue 12; like the item-item views of
    multimodal recommenders, e.g. FREEDOM, Zhou & Shen, MM 2023, but as a loss rather than
    extra propagation). For each unique positive item :math:`i` of the batch with text, one
    of its ``k`` text neighbours :math:`n(i)` (:func:`text_neighbours`) is drawn uniformly
    with torch's global generator, and

    .. math::
        \mathcal{L} = \mathcal{L}_{\textrm{main}} + \lambda \,
        \mathrm{InfoNCE}_\tau(\mathbf{e}_{\mathcal{I}_B}, \mathbf{e}_{n(\mathcal{I}_B)})

    (:func:`info_nce`: cosine scores; the other drawn neighbours are the negatives). The
    representations are the model's read-out, so the term shapes what is ranked: an item
    rated by few users borrows from the items that read like it. Full-graph batches only
    (the neighbours lie outside a sampled subgraph).

    It pays where interactions are few: with 20 % of the training data it lifts LightGCN with
    the sampled softmax by 4.6 % on ml100k-kg and 7.9 % on ml1m's comedies (test NDCG@20, mean
    over seeds), while random partners in the same term do not help; neighbours by shared
    knowledge-graph entities did worse than random, so that view was not kept. On the dense
    splits it costs a little (README, "The text view").

    Args:
        main: the recommendation objective.
        neighbours: ``[num_items, k]`` text neighbours, ``-1`` for none.
        weight: :math:`\lambda`.
        temperature: :math:`\tau`.
    """

    name = "text-neighbour term"
    full_graph_only = "an item's neighbours lie outside a sampled subgraph"

    def __init__(
        self, main: Objective, neighbours: Tensor, *, weight: float = 0.1, temperature: float = 0.2
    ) -> None:
        check_objective("main", main)
        check_tensor("neighbours", neighbours)
        check_number("text_cl_weight", weight)  # "0.1": a TypeError naming it
        check_number("text_cl_temperature", temperature)
        if not 0 <= weight < math.inf:
            raise ValueError(f"text_cl_weight must be non-negative, got {weight}")
        if not 0 < temperature < math.inf:  # NaN and inf too
            raise ValueError(f"text_cl_temperature must be positive, got {temperature}")
        if neighbours.dim() != 2 or neighbours.dtype != torch.long:
            raise ValueError("neighbours must be a [num_items, k] tensor of item indices")
        self.main = main
        self.neighbours = neighbours
        self.weight = weight
        self.temperature = temperature

    def term(self, model: GraphRecommender, batch: Batch, node_emb: Tensor) -> Tensor:
        """InfoNCE between the batch's unique positives with text and a drawn neighbour each."""
        if self.neighbours.device != batch.pos.device:  # moved once, not per batch
            self.neighbours = self.neighbours.to(batch.pos.device)
        items = torch.unique(batch.pos)
        options = self.neighbours[items]
        count = (options >= 0).sum(dim=1)
        items, options, count = items[count > 0], options[count > 0], count[count > 0]
        if items.numel() < 2:  # InfoNCE needs a negative
            return node_emb.new_zeros(())
        # neighbours are stored best first, so the valid ones are a prefix of each row
        drawn = (torch.rand(items.numel(), device=items.device) * count).long()
        pair = options[torch.arange(items.numel(), device=items.device), drawn]
        item_emb = model.split(node_emb)[1]
        return info_nce(item_emb[items], item_emb[pair], temperature=self.temperature)

    def __repr__(self) -> str:
        return (
            f"TextNeighbours({self.main!r}, k={self.neighbours.size(1)}, weight={self.weight}, "
            f"temperature={self.temperature})"
        )


class Distillation(FullGraphTerm):
    r"""A main objective plus knowledge distillation from a teacher's scores (Hinton et al.,
    "Distilling the Knowledge in a Neural Network", 2015; for ranking, Tang & Wang, KDD 2018):
    the student learns each user's whole ranking of the teacher, not only the pairs it is
    trained on. The teacher is given as embeddings whose dot products are its scores (a blend
    of trained runs: :func:`kgrec.teachers.blend`), read per batch: no users x items matrix
    is held.

    For each unique user :math:`u` of the batch, over :math:`C_u`, the covered items
    (``items``) that are not among :math:`u`'s training items (``train``), with
    :math:`t_{ui}` the teacher's scores and :math:`s_{ui}` the student's (the dot products of
    its read-out user and item embeddings),

    .. math::
        p_u = \mathrm{softmax}_{i \in C_u}(t_{ui} / T), \quad
        q_u = \mathrm{softmax}_{i \in C_u}(s_{ui} / \tau), \quad
        \mathcal{L} = \mathcal{L}_{\textrm{main}}
        + \lambda \, \frac{1}{|U_B|} \sum_{u \in U_B} \mathrm{KL}(p_u \,\Vert\, q_u).

    A user whose covered items are all training items has no :math:`C_u` and is left out.
    Full-graph batches only (the covered items lie outside a sampled subgraph).

    Args:
        main: the recommendation objective.
        teacher_users: ``[num_users, d]`` the teacher's user embeddings.
        teacher_items: ``[num_items, d]`` its item embeddings.
        items: ``[num_items]`` bool, the covered items (those the student ranks and the
            teacher scores: the target domain's, not the unseen ones).
        train: ``[2, n]`` the training (user, item) pairs, whose items get no probability.
        weight: :math:`\lambda`.
        temperature: :math:`T`, the teacher's.
        student_temperature: :math:`\tau`, the student's.
    """

    name = "distillation term"
    full_graph_only = "the items it ranks lie outside a sampled subgraph"

    def __init__(
        self,
        main: Objective,
        teacher_users: Tensor,
        teacher_items: Tensor,
        *,
        items: Tensor,
        train: Tensor,
        weight: float = 1.0,
        temperature: float = 0.25,
        student_temperature: float = 0.2,
    ) -> None:
        check_objective("main", main)
        for name, value in (
            ("teacher_users", teacher_users),
            ("teacher_items", teacher_items),
            ("items", items),
            ("train", train),
        ):
            check_tensor(name, value)
        for name, value in (
            ("distill_weight", weight),
            ("distill_temperature", temperature),
            ("temperature", student_temperature),
        ):
            check_number(name, value)  # "0.1": a TypeError naming it
        if not 0 <= weight < math.inf:
            raise ValueError(f"distill_weight must be non-negative, got {weight}")
        if not 0 < temperature < math.inf:  # NaN and inf too
            raise ValueError(f"distill_temperature must be positive, got {temperature}")
        if not 0 < student_temperature < math.inf:
            raise ValueError(f"temperature must be positive, got {student_temperature}")
        if (
            teacher_users.dim() != 2
            or teacher_items.dim() != 2
            or teacher_users.size(1) != teacher_items.size(1)
        ):
            raise ValueError(
                f"teacher_users and teacher_items must be [num_users, d] and [num_items, d], "
                f"got shapes {list(teacher_users.shape)} and {list(teacher_items.shape)}"
            )
        if items.dtype != torch.bool or items.shape != teacher_items.shape[:1]:
            raise ValueError(
                f"items must be a bool mask of the {teacher_items.size(0)} teacher items, got "
                f"{items.dtype} of shape {list(items.shape)}"
            )
        if train.dim() != 2 or train.size(0) != 2 or train.dtype != torch.long:
            raise ValueError(f"train must be [2, n] (user, item) indices, got {list(train.shape)}")
        self.main = main
        self.weight = weight
        self.temperature = temperature
        self.student_temperature = student_temperature
        self.teacher_users = teacher_users
        self.num_items = teacher_items.size(0)
        self.columns = torch.nonzero(items.cpu()).flatten()  # the covered items, in order
        self.teacher_items = teacher_items[self.columns.to(teacher_items.device)]
        # each user's training items as columns among the covered ones
        self.known = KnownItems(train, self.columns, teacher_users.size(0))

    def term(self, model: GraphRecommender, batch: Batch, node_emb: Tensor) -> Tensor:
        """The mean over the batch's unique users of KL(teacher || student) (see the class)."""
        if model.num_users != self.teacher_users.size(0):
            raise ValueError(
                f"the teacher scores {self.teacher_users.size(0)} users, the model has "
                f"{model.num_users}: the teacher must be trained on the same split"
            )
        if model.num_items != self.num_items:  # else item j of one read as item j of the other
            raise ValueError(
                f"the teacher scores {self.num_items} items, the model has {model.num_items}: "
                "the teacher must be trained on the same split"
            )
        device = node_emb.device
        if self.teacher_users.device != device:  # moved once, not per batch
            self.teacher_users = self.teacher_users.to(device)
            self.teacher_items = self.teacher_items.to(device)
        users = torch.unique(batch.users)
        rows, columns = self.known(users.cpu())
        seen = torch.zeros(users.numel(), self.columns.numel(), dtype=torch.bool, device=device)
        seen[rows.to(device), columns.to(device)] = True
        keep = ~seen.all(dim=1)  # a user with no item left to rank has no distribution
        users, seen = users[keep], seen[keep]
        if not users.numel():
            return node_emb.new_zeros(())
        user_emb, item_emb = model.split(node_emb)
        teacher = (self.teacher_users[users] @ self.teacher_items.T).to(node_emb.dtype)
        student = user_emb[users] @ item_emb[self.columns.to(device)].T
        log_p = F.log_softmax((teacher / self.temperature).masked_fill(seen, -math.inf), dim=1)
        log_q = F.log_softmax((student / self.student_temperature).masked_fill(seen, -math.inf), 1)
        # a training item has p = q = 0 and log -inf: its term is 0, and so is its gradient
        # (where, not 0 * (-inf - -inf), which is NaN)
        difference = torch.where(seen, 0.0, log_p - log_q)
        return (log_p.exp() * difference).sum(dim=1).mean()

    def __repr__(self) -> str:
        return (
            f"Distillation({self.main!r}, weight={self.weight}, temperature={self.temperature}, "
            f"student_temperature={self.student_temperature}, "
            f"teacher_dim={self.teacher_items.size(1)})"
        )


# name on the command line -> objective class (keyword-only constructor arguments)
# the class of each name of kgrec.settings.OBJECTIVE_NAMES (the names the parsers offer)
OBJECTIVES: dict[str, type[Objective]] = dict(zip(OBJECTIVE_NAMES, (BPR, Softmax), strict=True))
