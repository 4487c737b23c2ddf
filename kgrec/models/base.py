"""What every graph recommender in kgrec offers, so one trainer and one evaluator serve all.

Node space: every model works over one node index space laid out as
``[users (num_users) | items of all domains (num_items) | entities (num_entities)]``, the layout
``kgrec.data.export`` produces. User ``u`` is node ``u``; item ``i`` is node ``num_users + i``.
``edge_index`` holds both directions of every edge; ``edge_type`` (where a model uses relations)
numbers the relation of each edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from graph_schema.errors import FEW
from kgrec.errors import InputError, few
from kgrec.foldin import fold_in_users
from kgrec.models.checks import check_count, check_edge_index, check_indices, check_k, check_tensor


class NaNScores(InputError):
    """The model scored ``users`` NaN or ±inf (scores that overflow: to NaN, or to ±inf, as
    the CPU sums them): it diverged, and no ranking of theirs means anything (ranked as -inf,
    their lists would be short and their metrics those of masked items).
    :func:`kgrec.ranking.rank` and :func:`top_k` name them by index; a caller that knows their
    ids and the run re-raises with those (``run``: its name and model, ``file``: its model
    file). ``users``: those the trained model itself scores NaN, the diverged ones; ``folded``:
    users folded in (newcomers, and a run's users folded in from the store) whose fold-in gave
    NaN beside them, and ``causes``: why, one per folded user; named apart in the message with
    their causes, as their NaN is not the model's divergence (:class:`FoldInNaN`: theirs
    alone)."""

    def __init__(
        self,
        users: Sequence[int | str],
        *,
        folded: Sequence[str] = (),
        causes: Sequence[str] = (),
        run: str | None = None,
        file: str | None = None,
    ) -> None:
        self.users, self.folded, self.causes = list(users), list(folded), list(causes)
        also = f"; and {_fold_in_nan(self.folded, self.causes)}" if self.folded else ""
        super().__init__(
            f"{f'run {run}: ' if run else ''}the model's scores are NaN or infinite for "
            f"{len(self.users)} user(s) ({few(self.users)}): it diverged; retrain, e.g. with a "
            f"lower --lr{also}",
            file=file,
        )


class FoldInNaN(NaNScores):
    """The fold-in gave ``users`` (users folded in: newcomers, users loaded after training, or
    a run's users without a training interaction, folded in from the store) NaN or infinite
    representations, or finite ones whose scores overflow to NaN, while the trained model's own
    scores are finite: not a diverged model, so no advice to retrain. ``users`` and
    ``folded``: those users; ``causes``: why, one per user (what in their history gave it,
    where known)."""

    def __init__(
        self,
        users: Sequence[str],
        causes: Sequence[str],
        *,
        run: str | None = None,
        file: str | None = None,
    ) -> None:
        self.users, self.causes = list(users), list(causes)
        self.folded = self.users
        InputError.__init__(
            self,
            f"{f'run {run}: ' if run else ''}{_fold_in_nan(self.users, self.causes)}; "
            "the model's own scores are finite",
            file=file,
        )


def _fold_in_nan(users: Sequence[str], causes: Sequence[str]) -> str:
    """What both errors say of the folded ``users`` whose fold-in gave NaN: who, and why (their
    ``causes``, one per user, grouped by cause)."""
    grouped: dict[str, list[str]] = {}
    for user, cause in zip(users, causes, strict=True):
        grouped.setdefault(cause, []).append(user)
    why = "; ".join(f"{few(who)}: {cause}" for cause, who in list(grouped.items())[:FEW])
    why += "; ..." if len(grouped) > FEW else ""
    return (
        f"the fold-in gave NaN or infinite scores for {len(users)} user(s) folded in "
        f"({few(users)}), from interactions the model did not train on ({why})"
    )


class GraphRecommender(nn.Module):
    """Base of the trainable recommenders: node embeddings in, dot-product scores out.

    Subclasses implement :meth:`forward` and :meth:`reset_parameters`; they may add a
    model-specific :meth:`auxiliary_loss` (for example a domain discriminator).

    :attr:`supports_sampling` is the one answer to "can this model train on sampled
    subgraphs": such a model accepts ``n_id`` and ``degree`` in :meth:`forward` and implements
    :meth:`interaction_degree`.
    """

    supports_sampling: ClassVar[bool] = False
    # whether the user and item embeddings are worth publishing as vectors (a store's vector
    # index): False where they are catalogue-sized rows rather than learned embeddings
    publishes_vectors: ClassVar[bool] = True
    # whether a user's scores come from what they did (an embedding or a row learnt from their
    # interactions): False for a model that ranks the same for everyone (popularity), whose
    # user without an interaction is served as well as any other
    learns_users: ClassVar[bool] = True
    # attributes caching what a graph gives (kept while the same tensor comes back, so of no use
    # to a copy): left out of a deep copy or a pickle, where their sparse CSR tensors would make
    # copy.deepcopy fail ("Cannot access storage of SparseCsrTensorImpl")
    graph_caches: ClassVar[tuple[str, ...]] = ()

    def __init__(self, num_users: int, num_items: int) -> None:
        super().__init__()
        check_count("num_users", num_users, 1)
        check_count("num_items", num_items, 1)
        self.num_users = num_users
        self.num_items = num_items

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), **dict.fromkeys(self.graph_caches)}

    def node_parameters(self) -> dict[str, tuple[str, ...]]:
        """The parameters whose rows are nodes: each one's name and the node kinds of its
        rows in order (``"user"``, ``"item"``, ``"entity"``: ``("user", "item")`` is a table
        of the users, then the items). A warm start from a run on another graph
        (``kgrec train --init-from``) matches these rows by node id; every other parameter is
        copied whole. None here: a subclass with ID embeddings names them."""
        return {}

    def forward(
        self,
        edge_index: Tensor,
        edge_type: Tensor | None = None,
        *,
        n_id: Tensor | None = None,
        degree: Tensor | None = None,
    ) -> Tensor:
        """Embeddings of the nodes of the graph given, shape ``[num_nodes, dim]``.

        With ``n_id`` (a sampled subgraph, PyG loader style) the graph's node ``j`` is global
        node ``n_id[j]`` and ``degree[j]`` its number of interactions in the whole graph;
        without it the graph is the whole node space. Models that propagate in layers also
        take ``noise`` (see :meth:`forward_layers`).
        """
        raise NotImplementedError

    def forward_layers(
        self,
        edge_index: Tensor,
        edge_type: Tensor | None = None,
        *,
        n_id: Tensor | None = None,
        degree: Tensor | None = None,
        noise: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """(:meth:`forward`'s embeddings, every layer's output ``[x0, x1, ..., xL]``), with
        SimGCL/XSimGCL noise of size ``noise`` added to the output of every propagation layer
        (:func:`~kgrec.models.layers.embedding_noise`, drawn from ``generator`` or torch's
        global generator) before the next layer and the read-out: what a graph-contrastive
        objective (:class:`kgrec.objectives.Contrastive`) contrasts. ``noise=0`` is
        :meth:`forward` exactly."""
        raise ValueError(
            f"{self.__class__.__name__} has no propagation layers to perturb or read out"
        )

    def require_sampling(self) -> None:
        """Raise unless this model can propagate over sampled subgraphs."""
        if not self.supports_sampling:
            raise ValueError(
                f"{self.__class__.__name__} propagates over the whole graph only; it cannot "
                "train on sampled subgraphs (n_id)"
            )

    def interaction_degree(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int) -> Tensor:
        """Each node's number of interactions in the whole graph (models that sample)."""
        self.require_sampling()
        raise NotImplementedError

    def interactions(self, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """(user index, item index) of the user -> item edges of ``edge_index``."""
        check_edge_index(edge_index)
        source, target = edge_index
        is_item = (target >= self.num_users) & (target < self.num_users + self.num_items)
        mine = (source < self.num_users) & is_item
        return source[mine], target[mine] - self.num_users

    def split(self, node_emb: Tensor) -> tuple[Tensor, Tensor]:
        """(user embeddings, item embeddings) of a full-graph :meth:`forward` output."""
        return (
            node_emb[: self.num_users],
            node_emb[self.num_users : self.num_users + self.num_items],
        )

    def fold_in(
        self,
        item_emb: Tensor,
        histories: Sequence[Tensor],
        *,
        candidates: Tensor | None = None,
        domains: Tensor | None = None,
        exclude: Sequence[Tensor] | None = None,
    ) -> Tensor:
        """``[len(histories), dim]`` representations of users the model was not trained with,
        from their histories (indices of rows of ``item_emb``, the frozen item embeddings): by
        default the BPR fold-in of :func:`kgrec.foldin.fold_in_users`, negatives drawn from
        ``candidates`` or, given the items' ``domains``, each positive's from its own domain's
        items; never an item of the user's history or of ``exclude`` (the other items they
        have). A model whose users are a function of their items says so here."""
        return fold_in_users(
            item_emb, histories, candidates=candidates, domains=domains, exclude=exclude
        )

    def auxiliary_loss(self, node_emb: Tensor, *, n_id: Tensor | None = None) -> Tensor | None:
        """An extra training loss of this model (None: none)."""
        return None

    @torch.no_grad()
    def recommend(
        self,
        edge_index: Tensor,
        edge_type: Tensor | None = None,
        *,
        users: Tensor,
        k: int,
        candidates: Tensor | None = None,
        exclude: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Top-``k`` items for ``users``: (item indices ``[len(users), k]``, scores).

        ``candidates`` restricts the ranking to these item indices (e.g. the target domain);
        ``exclude`` is a ``[2, X]`` tensor of (position in ``users``, item index) pairs that
        must never be recommended (e.g. training interactions). A user left with fewer than
        ``k`` such items gets them first and ``-inf`` scores in the last slots, whose items
        (excluded, or not candidates) are no recommendations: drop them, as
        :func:`kgrec.ranking.rank`'s callers do. A NaN or infinite score among the candidates is a
        :class:`~kgrec.ranking.NaNScores` naming the ``users`` who have one, as in ``rank``.
        """
        check_indices("users", users, self.num_users)  # -1 would silently be the last user
        was_training = self.training
        self.eval()
        try:
            user_emb, item_emb = self.split(self(edge_index, edge_type))
            scores = user_emb[users] @ item_emb.T
        finally:
            self.train(was_training)
        try:
            return top_k(scores, k, candidates=candidates, exclude=exclude)
        except NaNScores as exc:  # its rows: positions in users
            raise NaNScores(users[exc.users].tolist()) from None


def top_k(
    scores: Tensor,
    k: int,
    *,
    candidates: Tensor | None = None,
    exclude: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Top-``k`` columns of each row of ``scores`` among ``candidates``, never ``exclude``d.

    Returns (item indices, scores), each ``[rows, k]``, best first; equal scores in column
    order (:func:`ordered_top_k`). A row with fewer than ``k`` allowed columns fills its last
    slots with excluded or non-candidate columns scored ``-inf``: empty slots. A NaN or
    infinite score among the candidates (a diverged model; an excluded column's too) is a
    :class:`~kgrec.ranking.NaNScores` naming the rows that have one, as in
    :func:`kgrec.ranking.rank`.
    """
    check_tensor("scores", scores)
    k = check_k(k)
    if candidates is not None:
        check_indices("candidates", candidates, scores.size(1))
    if exclude is not None:
        check_tensor("exclude", exclude)
        if exclude.dim() != 2 or exclude.size(0) != 2:
            raise ValueError(
                f"exclude must be [2, X] (row, column) pairs, got shape {list(exclude.shape)}"
            )
        check_indices("exclude's rows", exclude[0], scores.size(0))
        check_indices("exclude's columns", exclude[1], scores.size(1))
    nan = ~(scores if candidates is None else scores[:, candidates]).isfinite().all(1)
    if nan.any():
        raise NaNScores(nan.nonzero().flatten().tolist())
    scores = scores.clone()
    if exclude is not None and exclude.numel():
        scores[exclude[0], exclude[1]] = float("-inf")
    if candidates is not None:
        allowed = torch.zeros(scores.size(1), dtype=torch.bool, device=scores.device)
        allowed[candidates] = True
        scores[:, ~allowed] = float("-inf")
        available = int(allowed.sum())
    else:
        available = scores.size(1)
    if k > available:
        raise ValueError(f"k={k} is larger than the {available} candidate items")
    top_scores, top_items = ordered_top_k(scores, k)
    return top_items, top_scores


def ordered_top_k(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``scores.topk(k, dim=1)`` (values, columns) with equal scores in column order, lowest
    first, so a tie is broken the same way on every device and the top k is the start of the
    top k + 1 (``topk`` leaves the order of ties open). No score may be NaN: the callers
    (:func:`top_k`, :func:`kgrec.ranking.rank`) raise :class:`~kgrec.ranking.NaNScores` first."""
    values, columns = scores.topk(k, dim=1)
    kth = values[:, -1:]
    left_out = (scores == kth).sum(1) > (values == kth).sum(1)  # a tie at the k-th score
    if left_out.any():
        rows = left_out.nonzero().flatten()
        tied_values, tied_columns = scores[rows].sort(dim=1, descending=True, stable=True)
        values[rows], columns[rows] = tied_values[:, :k], tied_columns[:, :k]
    order = columns.argsort(dim=1)  # ties within the top k: by column
    values, columns = values.gather(1, order), columns.gather(1, order)
    order = values.argsort(dim=1, descending=True, stable=True)
    return values.gather(1, order), columns.gather(1, order)
