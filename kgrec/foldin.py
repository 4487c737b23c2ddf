r"""Fold-in: representations for users a trained model has never seen, without retraining.

A model scores ``u``'s items by the dot product :math:`\mathbf{z}_u^{\top}\mathbf{z}_i` of
final representations. A newcomer with history :math:`I_u` (items of the run's graph) gets a
:math:`\mathbf{z}_u` from the frozen item representations alone:

- ``"mean"``: the mean of :math:`\mathbf{z}_i, i \in I_u` — one propagation step, as a
  LightGCN layer would give it (the scale does not matter: a user's ranking is the same for
  any positive multiple of :math:`\mathbf{z}_u`).
- ``"solve"``: the vector that the model's own BPR objective would give the user with the items
  frozen (Rendle et al., UAI 2009; the "fold-in" of matrix factorisation),

  .. math::
      \mathbf{z}_u = \arg\min_{\mathbf{z}} \frac{1}{|I_u| S} \sum_{i \in I_u}
      \sum_{s=1}^{S} -\ln\sigma\big(\mathbf{z}^{\top}\mathbf{z}_i
      - \mathbf{z}^{\top}\mathbf{z}_{j_s}\big) + \lambda \lVert\mathbf{z}\rVert^2,

  negatives :math:`j_s` drawn from the candidates the user does not have (outside
  :math:`I_u` and outside the other items they have, given as ``exclude``: items whose
  embeddings learnt nothing, or items loaded after training), started at the mean. Given the
  items' ``domains``, each positive's negatives are drawn from its own domain's items, as
  training draws them: a user new to the comedies is folded in from their action films
  against other action films, not against the comedies that are then ranked (which would
  push the user away from every comedy: session 38 measured cold-start users of merged
  LightGCN on ml1m-action-comedy, folded into a model that never saw them, at 85.1 % of their
  trained-in test NDCG@20 with the comedies as negatives, 95.0 % with their own domain's;
  ``bench/foldin.py``, seed 0).
  Each newcomer's problem is solved on its own: its loss is averaged over its own pairs, and its
  negatives come from a generator of its own, so a newcomer gets the same vector whoever else
  is folded in beside it. A step scores every newcomer against every item at once (one matrix
  product, then the pairs it needs read from it), newcomers in chunks of at most
  :data:`SCORES_PER_CHUNK` scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from kgrec.models.checks import check_count, check_integer, check_number

METHODS = ("mean", "solve")
# the most (newcomer, item) scores "solve" computes at once: 64 MiB of float32 (ml-1m's 3,706
# items: 4,527 newcomers a chunk)
SCORES_PER_CHUNK = 2**24


def fold_in_users(
    item_emb: Tensor,
    histories: Sequence[Tensor],
    *,
    method: str = "solve",
    candidates: Tensor | None = None,
    domains: Tensor | None = None,
    exclude: Sequence[Tensor] | None = None,
    negatives: int = 32,
    reg_weight: float = 1e-3,
    steps: int = 100,
    lr: float = 0.05,
    seed: int = 0,
) -> Tensor:
    """``[len(histories), dim]`` representations of newcomers; ``histories[n]`` holds the item
    indices (rows of ``item_emb``) newcomer ``n`` interacted with. ``candidates`` (default:
    every item) are where ``"solve"`` draws negatives; never an item of newcomer ``n``'s
    history, nor one of ``exclude[n]`` (other items they have that are no positives, e.g.
    items served after training). ``domains`` (``[num_items]``, in place of ``candidates``):
    each positive's negatives are drawn from the items of its domain, an item of domain -1
    never (as :meth:`kgrec.data.split.Split.negative_domains` marks them). A history item
    need not be a candidate (a positive of another domain is solved against the candidates).
    A newcomer without history gets zeros (every item scores 0: the caller decides what to
    serve them); one who has every item their negatives would be drawn from (every candidate,
    or every item of their positives' domains) gets the mean, having no pair to solve. Empty
    ``candidates``, indices out of range or not integers (floats, booleans: of ``histories``,
    ``candidates`` or ``exclude``), and ``domains`` or ``exclude`` not one per item or
    newcomer raise :class:`ValueError` naming the argument; so do ``negatives`` or ``steps``
    below 1 and an ``lr`` (``reg_weight``) that is not finite and positive (0 or more), and a
    ``TypeError`` names one of these or ``seed`` that is not a number of its kind (an integer
    for the counts and the seed, not a bool or a string)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_count("negatives", negatives, 1)
    check_count("steps", steps, 1)
    check_integer("seed", seed)
    check_number("lr", lr)
    if not 0 < lr < math.inf:  # NaN too
        raise ValueError(f"lr must be a finite number, positive, got {lr!r}")
    check_number("reg_weight", reg_weight)
    if not 0 <= reg_weight < math.inf:
        raise ValueError(f"reg_weight must be a finite number, 0 or more, got {reg_weight!r}")
    item_emb = item_emb.detach()
    if not histories:
        return item_emb.new_zeros(0, item_emb.size(1))
    histories = [_indices("histories", h) for h in histories]
    rows = torch.cat([torch.full((len(h),), n) for n, h in enumerate(histories)]).long()
    items = torch.cat(histories)
    if items.numel() and (int(items.min()) < 0 or int(items.max()) >= item_emb.size(0)):
        raise ValueError(f"history items must lie in [0, {item_emb.size(0)})")
    if candidates is not None:
        candidates = _indices("candidates", candidates)
        if not candidates.numel():
            raise ValueError(
                'candidates is empty: "solve" draws negatives from it (None: every item)'
            )
        if int(candidates.min()) < 0 or int(candidates.max()) >= item_emb.size(0):
            raise ValueError(f"candidates must lie in [0, {item_emb.size(0)})")
    if domains is not None:
        if candidates is not None:
            raise ValueError("give candidates or domains, not both")
        domains = torch.as_tensor(domains)
        if domains.dim() != 1:
            raise ValueError(f"domains must be one-dimensional, got shape {tuple(domains.shape)}")
        if domains.size(0) != item_emb.size(0):
            raise ValueError(
                f"domains must hold one domain per item ({item_emb.size(0)}), got {domains.size(0)}"
            )
        if items.numel() and int(domains[items].min()) < 0:
            raise ValueError("a history item is of domain -1, whose items are never drawn")
    if exclude is None:
        exclude = [items.new_zeros(0)] * len(histories)
    if len(exclude) != len(histories):
        raise ValueError(
            f"exclude must hold one tensor per newcomer ({len(histories)}), got {len(exclude)}"
        )
    excluded = [_indices("exclude", e) for e in exclude]
    other = torch.cat(excluded)
    if other.numel() and (int(other.min()) < 0 or int(other.max()) >= item_emb.size(0)):
        raise ValueError(f"excluded items must lie in [0, {item_emb.size(0)})")
    other_rows = torch.cat([torch.full((len(e),), n) for n, e in enumerate(excluded)]).long()
    count = torch.bincount(rows, minlength=len(histories)).clamp(min=1).unsqueeze(1)
    mean = torch.zeros(len(histories), item_emb.size(1), dtype=item_emb.dtype)
    mean.index_add_(0, rows, item_emb[items])
    mean = mean / count
    if method == "mean" or not items.numel():
        return mean
    num_items = item_emb.size(0)
    chunk = max(1, SCORES_PER_CHUNK // num_items)
    if len(histories) > chunk:  # each newcomer's problem is its own: solved chunk by chunk
        return torch.cat(
            [
                fold_in_users(
                    item_emb,
                    histories[start : start + chunk],
                    method=method,
                    candidates=candidates,
                    domains=domains,
                    exclude=None if exclude is None else exclude[start : start + chunk],
                    negatives=negatives,
                    reg_weight=reg_weight,
                    steps=steps,
                    lr=lr,
                    seed=seed,
                )
                for start in range(0, len(histories), chunk)
            ]
        )
    if domains is None:
        pool = candidates if candidates is not None else torch.arange(num_items)
        # every positive's negatives from the one pool
        pools, item_pool = [pool], torch.zeros(num_items, dtype=torch.long)
    else:  # each positive's from its domain's items (the pools of the histories' domains)
        kinds = domains[items].unique()
        pools = [torch.nonzero(domains == d).flatten() for d in kinds.tolist()]
        item_pool = torch.full((num_items,), -1, dtype=torch.long)
        item_pool[items] = torch.searchsorted(kinds, domains[items])
    # one generator per newcomer, all seeded alike: a newcomer's draws do not depend on the
    # others folded in with it
    generators = [torch.Generator().manual_seed(seed) for _ in histories]
    sizes = [len(h) for h in histories]
    # each newcomer's positives grouped by pool, once: (pool, the positives' rows in it)
    plans = []
    for history in histories:
        which = item_pool[torch.as_tensor(history, dtype=torch.long).flatten()]
        plans.append([(pools[p], which == p) for p in which.unique().tolist()])
    # (newcomer, item) pairs the newcomers have: never negatives. A dense mask, read by
    # gathering (at most SCORES_PER_CHUNK of them, as the scores): torch.isin against the pairs'
    # keys spent 60 % of a step sorting (ml-1m's 1,521 newcomers: 49 of 81 s)
    own = torch.zeros(len(histories), num_items, dtype=torch.bool)
    own[rows, items] = True
    own[other_rows, other] = True
    positive_keys = rows * num_items + items  # (newcomer, item) as an index of the scores
    z = mean.clone().requires_grad_(True)
    # Adam updates each entry on its own, so the rows of z are independent problems when the
    # loss is a sum of per-newcomer losses
    optimizer = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        neg = torch.cat(
            [
                _draw(plan, size, negatives, generator)
                for plan, size, generator in zip(plans, sizes, generators, strict=True)
                if size
            ]
        )
        clash = own[rows.unsqueeze(1), neg]
        optimizer.zero_grad()
        # every newcomer against every item, then the pairs of this step: one matrix product
        # in place of gathering an embedding per drawn negative (2.5x faster on ml-1m)
        scores = (z @ item_emb.T).flatten()
        pos_score = scores.index_select(0, positive_keys).unsqueeze(1)
        neg_score = scores.index_select(0, (rows.unsqueeze(1) * num_items + neg).flatten())
        neg_score = neg_score.view(neg.shape)
        pair_loss = -F.logsigmoid(pos_score - neg_score).masked_fill(clash, 0.0)
        pair_loss = pair_loss.sum(1) / (~clash).sum(1).clamp(min=1)
        per_user = torch.zeros(len(histories), dtype=pair_loss.dtype).index_add_(0, rows, pair_loss)
        loss = (per_user / count.flatten()).sum() + reg_weight * z.pow(2).sum()
        loss.backward()
        optimizer.step()
    z = z.detach()
    # a newcomer who has every item their negatives are drawn from has no pair to solve: every
    # draw is one of theirs, and the regularizer alone would pull them to zeros; they keep the
    # mean
    for n, plan in enumerate(plans):
        if plan and all(bool(own[n, pool].all()) for pool, _ in plan):
            z[n] = mean[n]
    return z


def _indices(name: str, value) -> Tensor:
    """``value`` (a tensor, array or list of item indices) as a flat long tensor; a
    :class:`ValueError` naming ``name`` for floats or booleans, which a cast would silently
    read as other items (1.7 as item 1; a boolean row as items 0 and 1). Empty is empty."""
    tensor = torch.as_tensor(value)
    if tensor.numel() and (
        tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool
    ):
        raise ValueError(f"{name} must hold item indices (integers), got {tensor.dtype}")
    return tensor.long().flatten()


def _draw(plan: list[tuple[Tensor, Tensor]], size: int, negatives: int, generator) -> Tensor:
    """``[size, negatives]`` negatives of a newcomer's ``size`` positives: for each (pool,
    rows) of ``plan``, those rows' drawn uniformly from that pool. One pool draws as one call,
    as fold-in drew before pools by domain (so the same draws)."""
    if len(plan) == 1:
        pool = plan[0][0]
        return pool[torch.randint(len(pool), (size, negatives), generator=generator)]
    out = torch.empty(size, negatives, dtype=torch.long)
    for pool, rows in plan:
        drawn = torch.randint(len(pool), (int(rows.sum()), negatives), generator=generator)
        out[rows] = pool[drawn]
    return out
