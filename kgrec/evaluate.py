"""Full-ranking evaluation: every user with held-out target items ranks all target-domain items.

Items the user already has are masked: the training interactions when scoring ``valid``, and
the training and validation interactions when scoring ``test`` (RecBole's convention; the
validation items are known history by then). Warm and cold-start users (no target interaction
in train) are reported separately, next to all users together, and the warm users again by
activity: their number of target-domain training interactions (:data:`ACTIVITY_GROUPS`, e.g.
``act<=5`` for 1 to 5). Other domains' interactions do not count: the question is how thin the
target domain's own data is. The activity groups split the warm users, so their user-weighted
means are the warm figures (coverage aside, which is not a mean over users).

Two more kinds of group appear only where the split has them, so other splits' metrics are
as before:

- ``few-shot``: users that were cold and gave a few target interactions to train
  (:func:`kgrec.data.split.give_few_shot`); they are neither ``warm`` nor in the activity
  groups.
- With item groups (new-item protocols, :attr:`kgrec.data.split.Split.item_groups`), where
  the *new* items are the split's (:meth:`kgrec.data.split.Split.new_items`) and the *warm*
  ones the target items with a training interaction: ``warm-items`` and ``new-items`` take
  the same ranking over the whole target catalogue as ``all``, but count only the user's
  held-out warm (resp. new) items as relevant, over the users that have one (an item that
  ``--train-fraction`` left untrained is neither: ``all`` alone counts it);
  ``new-only`` ranks the new items only (``k`` at most their number) for the users with a
  held-out new item, with only those relevant: "which of the new items should this user see".
  Coverage there is the share of the new items.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch import Tensor

from kgrec.data.split import Split
from kgrec.metrics import DEFAULT_KS, RankingMetrics, check_ks
from kgrec.models.base import GraphRecommender
from kgrec.models.checks import check_count
from kgrec.ranking import embeddings, rank

if TYPE_CHECKING:  # imported where a graph is built: `kgrec COMMAND --help` needs no PyG
    from torch_geometric.data import Data

# (name, fewest, most) target-domain training interactions; cold users (0) are "cold"
ACTIVITY_GROUPS = (
    ("act<=5", 1, 5),
    ("act6-20", 6, 20),
    ("act21-50", 21, 50),
    ("act>50", 51, None),
)
ACTIVITY = tuple(name for name, _, _ in ACTIVITY_GROUPS)
GROUPS = ("all", "warm", "cold", *ACTIVITY)
FEW_SHOT = "few-shot"  # a group only where the split has few-shot users
ITEM_GROUPS = ("warm-items", "new-items", "new-only")  # only where the split has item groups
PHASES = ("valid", "test")
_KEYS = ("phase", "group", "users")
TABLE_METRICS = ("recall", "ndcg", "hit", "mrr", "precision", "coverage")


log = logging.getLogger(__name__)


def evaluate(
    model: GraphRecommender,
    graph: Data,
    split: Split,
    phase: str | Sequence[str],
    *,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 4096,
) -> dict:
    """Metrics of ``phase`` (``"valid"`` or ``"test"``) for each of :data:`GROUPS` (all, warm,
    cold users and the warm users by activity); with a list of phases, ``{phase: metrics}``
    from one forward pass of the model. The arguments are checked before the forward pass."""
    phases = _check_phases(phase)
    check_ks(ks)
    check_count("batch_size", batch_size, 1)
    user_emb, item_emb = embeddings(model, graph)
    results = {
        name: evaluate_embeddings(
            user_emb, item_emb, graph.item_domain, split, name, ks=ks, batch_size=batch_size
        )
        for name in phases
    }
    return results[phase] if isinstance(phase, str) else results


def evaluate_embeddings(
    user_emb: Tensor,
    item_emb: Tensor,
    item_domain: Tensor,
    split: Split,
    phase: str,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 4096,
) -> dict[str, dict[str, float]]:
    """Metrics of ``phase`` for each of :data:`GROUPS`, from the model's embeddings: ``{group:
    {metric: value, "users": n}}``, ``{"users": 0}`` for a group without users."""
    _check_phases(phase, several=False)
    check_ks(ks)
    check_count("batch_size", batch_size, 1)
    held_out = split.valid if phase == "valid" else split.test
    known = split.train if phase == "valid" else torch.cat([split.train, split.valid], dim=1)
    candidates = torch.nonzero(item_domain == split.target_domain).flatten()
    users, top, targets = _ranked(user_emb, item_emb, held_out, candidates, known, ks, batch_size)
    cold = split.cold_users(user_emb.size(0))[users]
    few_shot = torch.isin(users, split.few_shot_users)
    warm = ~cold & ~few_shot
    activity = user_activity(split, user_emb.size(0))[users]
    groups = [("all", torch.ones_like(cold)), ("warm", warm), ("cold", cold)]
    for name, fewest, most in ACTIVITY_GROUPS:
        selected = warm & (activity >= fewest)
        groups.append((name, selected if most is None else selected & (activity <= most)))
    if split.few_shot_users.numel():
        groups.append((FEW_SHOT, few_shot))
    results = {}
    for group, selected in groups:
        if not selected.any():
            results[group] = {"users": 0}
            continue
        metrics = RankingMetrics(len(candidates), ks)
        new_row = torch.cumsum(selected, 0) - 1
        keep = selected[targets[0]]
        metrics.update(top[selected], torch.stack([new_row[targets[0, keep]], targets[1, keep]]))
        results[group] = metrics.compute()
    if split.item_groups:
        new = split.new_items(item_domain)
        is_new = new[held_out[1]]
        is_warm = ~split.unseen_items(item_domain)[held_out[1]]  # has a training interaction
        for group, relevant in (("warm-items", is_warm), ("new-items", is_new)):
            results[group] = _target_metrics(top, targets[:, relevant], len(candidates), ks)
        results["new-only"] = _new_only(
            user_emb, item_emb, new, held_out[:, is_new], known, ks, batch_size
        )
    return results


def _check_phases(phase: object, *, several: bool = True) -> list[str]:
    """``phase`` (one of :data:`PHASES`, or with ``several`` a sequence of them) as a list:
    a TypeError or ValueError naming ``phase``."""
    if isinstance(phase, str):
        phases = [phase]
    elif several and isinstance(phase, Sequence):
        phases = list(phase)
        if not phases:
            raise ValueError(f"phase must name at least one of {PHASES}, got {phase!r}")
    else:
        which = "one of" if not several else "one of, or a sequence of,"
        raise TypeError(f"phase must be {which} {PHASES}, got {phase!r}")
    for name in phases:
        if name not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {name!r}")
    return phases


def _target_metrics(top: Tensor, targets: Tensor, num_items: int, ks) -> dict[str, float]:
    """Metrics of the users (rows of ``top``) with a target in ``targets`` (row, position)."""
    if targets.size(1) == 0:
        return {"users": 0}
    rows, new_rows = torch.unique(targets[0], return_inverse=True)
    metrics = RankingMetrics(num_items, ks)
    metrics.update(top[rows], torch.stack([new_rows, targets[1]]))
    return metrics.compute()


def _new_only(
    user_emb: Tensor,
    item_emb: Tensor,
    new: Tensor,
    held_out: Tensor,
    known: Tensor,
    ks: Sequence[int],
    batch_size: int,
) -> dict[str, float]:
    """Metrics of ranking the new items only, for the users with a held-out new item."""
    candidates = torch.nonzero(new).flatten()
    scored = [k for k in ks if k <= len(candidates)]
    if held_out.size(1) and not scored:  # not "no user has a new item": say why
        log.warning(
            "new-only not scored: %d new item(s), fewer than the smallest k (%d)",
            len(candidates),
            min(ks),
        )
    if held_out.size(1) == 0 or not scored:
        return {"users": 0}
    ks = scored
    _, top, targets = _ranked(user_emb, item_emb, held_out, candidates, known, ks, batch_size)
    return _target_metrics(top, targets, len(candidates), ks)


def _ranked(
    user_emb: Tensor,
    item_emb: Tensor,
    held_out: Tensor,
    candidates: Tensor,
    known: Tensor,
    ks: Sequence[int],
    batch_size: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """The users of ``held_out`` (sorted), their top ``max(ks)`` as positions in
    ``candidates`` (slots that only masked items could fill hold ``len(candidates)``), and the
    held-out pairs as (row of the user, position of the item)."""
    users, rows = torch.unique(held_out[0], return_inverse=True)
    position = torch.full((item_emb.size(0),), len(candidates), dtype=torch.long)
    position[candidates] = torch.arange(len(candidates))
    items, scores = rank(
        user_emb,
        item_emb,
        users=users,
        k=max(ks),
        candidates=candidates,
        known=known,
        batch_size=batch_size,
    )
    # an empty slot is a masked item's: -inf (a NaN or infinite score, a diverged model's or
    # one that overflowed, is rank's NaNScores)
    top = position[items].where(scores != float("-inf"), torch.tensor(len(candidates)))
    return users, top, torch.stack([rows, position[held_out[1]]])


def user_activity(split: Split, num_users: int) -> Tensor:
    """``[num_users]``: each user's number of target-domain training interactions."""
    return torch.bincount(split.train[0], minlength=num_users)


def metrics_frame(metrics: Mapping[str, Mapping[str, Mapping[str, float]]]) -> pd.DataFrame:
    """``{phase: {group: {metric: value}}}`` as a DataFrame: one row per phase and user group
    (``phase``, ``group``, ``users``, then one column per metric@K)."""
    rows = [
        {"phase": phase, "group": group, **values}
        for phase, groups in metrics.items()
        for group, values in groups.items()
    ]
    frame = pd.DataFrame(rows)
    frame["users"] = frame["users"].astype(int)
    return frame[["phase", "group", "users", *(c for c in frame if c not in _KEYS)]]


def format_table(
    metrics: Mapping[str, Mapping[str, Mapping[str, float]]], *, by_activity: bool = False
) -> str:
    """A plain-text table: one row per phase and user group, one column per metric@K. A phase
    without cold-start users shows its ``all`` row only (``warm`` would repeat it), and no
    group without users has a row. The rows
    are in this order whatever the order of ``metrics``' groups: ``all``, ``warm``, ``cold``,
    few-shot, the item groups, then, with ``by_activity``, the activity groups that have users
    from the fewest interactions up (``act<=5``, ``act6-20``, ``act21-50``, ``act>50``); without
    it the activity groups are left out."""
    columns: list[str] = []
    for phase in metrics.values():
        for group in phase.values():
            columns += [c for c in group if c != "users" and c not in columns]
    columns.sort(key=lambda c: (TABLE_METRICS.index(c.split("@")[0]), int(c.split("@")[1])))
    header = ["phase", "group", "users", *columns]
    rows = [header]
    for phase, groups in metrics.items():
        cold = bool(groups.get("cold", {}).get("users"))
        few_shot = bool(groups.get(FEW_SHOT, {}).get("users"))
        warm = (cold or few_shot) and bool(groups.get("warm", {}).get("users"))
        # no row of a group without users (before: a warm row of 0 users and dashes where the
        # phase's users were all cold-start or few-shot users)
        shown = ("all",) + ("warm",) * warm + ("cold",) * cold + (FEW_SHOT,) * few_shot
        shown += tuple(name for name in ITEM_GROUPS if groups.get(name, {}).get("users"))
        if by_activity:
            shown += tuple(name for name in ACTIVITY if groups.get(name, {}).get("users"))
        # in the order of shown: before, in the order of the groups given (metrics read from
        # a file written with sorted keys showed act21-50 first, act<=5 third)
        for group in (name for name in shown if name in groups):
            values = groups[group]
            cells = [f"{values[c]:.4f}" if c in values else "-" for c in columns]
            rows.append([phase, group, str(int(values.get("users", 0))), *cells])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i > 1 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )
