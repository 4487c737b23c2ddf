"""Top-K ranking metrics over full rankings: Recall, NDCG, Hit, MRR, Precision and coverage.

Per-user metrics are PyG's link-prediction metrics (``torch_geometric.metrics``), averaged over
the users that have at least one held-out item. With ``T_u`` the held-out items of user ``u``
and ``r_1..r_K`` their top-K list:

- Recall@K = |top-K ∩ T_u| / |T_u|;  Precision@K = |top-K ∩ T_u| / K;
- Hit@K = 1 if top-K ∩ T_u is non-empty;  MRR@K = 1 / rank of the first hit (0 without one);
- NDCG@K = DCG / IDCG with DCG = sum_{j: r_j in T_u} 1 / log2(j + 1) and IDCG the DCG of
  min(|T_u|, K) hits at the top (RecBole's convention);
- Coverage@K = share of the catalogue that appears in at least one user's top-K.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from kgrec.models.checks import check_count, check_k

DEFAULT_KS = (10, 20)
# name -> class in torch_geometric.metrics, imported as the metrics are made (PyG takes seconds
# to import: `kgrec COMMAND --help` needs none of it)
PER_USER = {
    "recall": "LinkPredRecall",
    "ndcg": "LinkPredNDCG",
    "hit": "LinkPredHitRatio",
    "mrr": "LinkPredMRR",
    "precision": "LinkPredPrecision",
}
METRIC_NAMES = (*PER_USER, "coverage")


def _check_k(k: object, num_items: int) -> int:
    """``k`` as a Python int (:func:`~kgrec.models.checks.check_k`'s TypeError or ValueError),
    a ValueError if it is above the ``num_items`` of the catalogue."""
    k = check_k(k)
    if k > num_items:
        raise ValueError(f"k={k} is larger than the catalogue of {num_items} items")
    return k


def check_ks(ks: object) -> tuple[int, ...]:
    """``ks`` as a tuple of Python ints: a TypeError or ValueError naming ``ks`` unless it is a
    sequence of positive integers (before: ``ks=()`` was ``max() arg is an empty sequence``,
    ``ks=20`` ``'int' object is not iterable``)."""
    if isinstance(ks, str) or not isinstance(ks, Sequence):
        raise TypeError(f"ks must be a sequence of positive integers, e.g. (10, 20), got {ks!r}")
    if not ks:
        raise ValueError("ks must name at least one k, got an empty sequence")
    return tuple(check_k(k) for k in ks)  # k must be a positive integer, got ...


class Coverage:
    """Coverage@K: the share of ``num_items`` that appear in some top-K list.

    Item indices ``>= num_items`` in a list (e.g. padding) are ignored.
    """

    def __init__(self, k: int, num_items: int) -> None:
        check_count("num_items", num_items, 1)
        self.k = _check_k(k, num_items)
        self.num_items = num_items
        self.seen = torch.zeros(num_items, dtype=torch.bool)

    def update(self, top_items: Tensor) -> None:
        items = top_items[:, : self.k].flatten()
        self.seen[items[(items >= 0) & (items < self.num_items)]] = True

    def compute(self) -> float:
        return float(self.seen.float().mean())

    def reset(self) -> None:
        self.seen.zero_()

    def __repr__(self) -> str:
        return f"Coverage(k={self.k}, num_items={self.num_items})"


class RankingMetrics:
    """Recall, NDCG, Hit, MRR, Precision and Coverage at each of ``ks`` over item positions
    ``0..num_items-1``.

    :meth:`update` takes each user's ranked list ``[users, max(ks)]`` (an index of
    ``num_items`` or more marks an empty slot) and the held-out items as ``[2, T]`` pairs
    (row in the batch, item). :meth:`compute` returns ``{"recall@10": ..., "users": n}``,
    averaging per-user metrics over the users with at least one held-out item.
    """

    def __init__(self, num_items: int, ks: Sequence[int] = DEFAULT_KS) -> None:
        check_count("num_items", num_items, 1)
        self.ks = tuple(sorted({_check_k(k, num_items) for k in check_ks(ks)}))
        self.num_items = num_items
        from torch_geometric import metrics as pyg

        self.per_user = pyg.LinkPredMetricCollection(
            {f"{name}@{k}": getattr(pyg, cls)(k) for k in self.ks for name, cls in PER_USER.items()}
        )
        self.coverage = {k: Coverage(k, num_items) for k in self.ks}
        self.users = 0

    @property
    def max_k(self) -> int:
        return self.ks[-1]

    def update(self, top_items: Tensor, targets: Tensor) -> None:
        if top_items.dim() != 2 or top_items.size(1) < self.max_k:
            raise ValueError(
                f"top_items must be [users, >= {self.max_k}], got {list(top_items.shape)}"
            )
        if targets.dim() != 2 or targets.size(0) != 2:
            raise ValueError(f"targets must be [2, T], got {list(targets.shape)}")
        for name, index in (("top_items", top_items), ("targets", targets)):
            if index.dtype.is_floating_point or index.dtype == torch.bool:  # else torch's error
                raise ValueError(f"{name} must hold item indices (integers), got {index.dtype}")
        # as int64: int32 pairs made (row, item) keys below that overflowed past 2**31 (rows times
        # the catalogue), silently moving a pair to another user and item
        top_items, targets = top_items.long(), targets.long()
        if targets.numel():
            rows, items = targets
            if int(rows.min()) < 0 or int(rows.max()) >= top_items.size(0):
                raise ValueError(f"targets name rows outside the {top_items.size(0)} users")
            if int(items.min()) < 0 or int(items.max()) >= self.num_items:
                raise ValueError(f"targets name items outside 0..{self.num_items - 1}")
            # a pair counted once (twice, it would halve the user's recall)
            targets = torch.unique(rows * self.num_items + items)
            targets = torch.stack([targets // self.num_items, targets % self.num_items])
        top_items = top_items[:, : self.max_k]
        # never a held-out item: PyG matches predictions and labels by index
        top_items = top_items.where(top_items >= 0, torch.full_like(top_items, self.num_items))
        # an item listed twice in a row counts once: its repeats are empty slots
        ordered, order = top_items.sort(dim=1, stable=True)
        repeat = torch.zeros_like(ordered, dtype=torch.bool)
        repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
        top_items = top_items.masked_fill(
            torch.zeros_like(repeat).scatter(1, order, repeat), self.num_items
        )
        self.per_user.update(top_items, targets)
        for coverage in self.coverage.values():
            coverage.update(top_items)
        self.users += int(torch.unique(targets[0]).numel())

    def compute(self) -> dict[str, float]:
        out = {name: float(value) for name, value in self.per_user.compute().items()}
        out.update({f"coverage@{k}": c.compute() for k, c in self.coverage.items()})
        ordered = {f"{name}@{k}": out[f"{name}@{k}"] for name in METRIC_NAMES for k in self.ks}
        return {**ordered, "users": self.users}

    def reset(self) -> None:
        self.per_user.reset()
        for coverage in self.coverage.values():
            coverage.reset()
        self.users = 0
