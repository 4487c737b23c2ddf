"""Full-ranking evaluation: every user with held-out target items ranks all target-domain items.

Items the user already has are masked: the training interactions when scoring ``valid``, and
the training and validation interactions when scoring ``test`` (RecBole's convention; the
validation items are known history by then). Warm and cold-start users (no target interaction
in train) are reported separately, next to all users together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from kgrec.data.split import Split
from kgrec.metrics import DEFAULT_KS, RankingMetrics
from kgrec.models.base import GraphRecommender

GROUPS = ("all", "warm", "cold")
PHASES = ("valid", "test")
TABLE_METRICS = ("recall", "ndcg", "hit", "mrr", "precision", "coverage")


@torch.no_grad()
def rank_items(
    model: GraphRecommender,
    graph: Data,
    *,
    users: Tensor,
    candidates: Tensor,
    known: Tensor,
    k: int,
    batch_size: int = 4096,
) -> Tensor:
    """Top-``k`` of ``candidates`` (item indices) per user, as positions in ``candidates``.

    ``known`` (``[2, X]`` user, item) is masked. Slots that only masked or non-candidate items
    could fill hold ``len(candidates)``.
    """
    position = torch.full((graph.num_items,), len(candidates), dtype=torch.long)
    position[candidates] = torch.arange(len(candidates))
    row_of = torch.full((graph.num_users,), -1, dtype=torch.long)
    out = []
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        row_of[batch] = torch.arange(len(batch))
        mine = known[:, row_of[known[0]] >= 0]
        exclude = torch.stack([row_of[mine[0]], mine[1]])
        items, scores = model.recommend(
            graph.edge_index,
            graph.edge_type,
            users=batch,
            k=k,
            candidates=candidates,
            exclude=exclude,
        )
        top = position[items]
        out.append(top.where(torch.isfinite(scores), torch.full_like(top, len(candidates))))
        row_of[batch] = -1
    return torch.cat(out) if out else torch.empty(0, k, dtype=torch.long)


def evaluate(
    model: GraphRecommender,
    graph: Data,
    split: Split,
    phase: str,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 4096,
) -> dict[str, dict[str, float]]:
    """Metrics of ``phase`` (``"valid"`` or ``"test"``) for all, warm and cold users."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    held_out = split.valid if phase == "valid" else split.test
    known = split.train if phase == "valid" else torch.cat([split.train, split.valid], dim=1)
    candidates = torch.nonzero(graph.item_domain == split.target_domain).flatten()
    users, rows = torch.unique(held_out[0], return_inverse=True)
    position = torch.full((graph.num_items,), -1, dtype=torch.long)
    position[candidates] = torch.arange(len(candidates))
    targets = torch.stack([rows, position[held_out[1]]])
    top = rank_items(
        model,
        graph,
        users=users,
        candidates=candidates,
        known=known,
        k=max(ks),
        batch_size=batch_size,
    )
    cold = split.cold_users(graph.num_users)[users]
    results = {}
    for group, selected in (("all", torch.ones_like(cold)), ("warm", ~cold), ("cold", cold)):
        if not selected.any():
            results[group] = {"users": 0}
            continue
        metrics = RankingMetrics(len(candidates), ks)
        new_row = torch.cumsum(selected, 0) - 1
        keep = selected[targets[0]]
        metrics.update(top[selected], torch.stack([new_row[targets[0, keep]], targets[1, keep]]))
        results[group] = metrics.compute()
    return results


def format_table(metrics: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """A plain-text table: one row per phase and user group, one column per metric@K. A phase
    without cold-start users shows its ``all`` row only (``warm`` would repeat it)."""
    columns: list[str] = []
    for phase in metrics.values():
        for group in phase.values():
            columns += [c for c in group if c != "users" and c not in columns]
    columns.sort(key=lambda c: (TABLE_METRICS.index(c.split("@")[0]), int(c.split("@")[1])))
    header = ["phase", "group", "users", *columns]
    rows = [header]
    for phase, groups in metrics.items():
        if not groups.get("cold", {}).get("users"):
            groups = {group: values for group, values in groups.items() if group == "all"}
        for group, values in groups.items():
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
