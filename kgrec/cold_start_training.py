r"""Training for cold-start users: hide some warm users' target-domain edges each epoch.

A cold-start user has interactions in other domains and none in the target; the model must
score the target's items from what those other domains made of the user. Trained on the
usual loss alone, it never practises this: every warm user it learns from reaches the target
items through their own target edges. :class:`HideTargetEdges` makes it practise, after
DropoutNet (Volkovs et al., NeurIPS 2017: drop the preference input during training so the
model learns to work without it) applied to the cross-domain graph, as CDRIB and EMCDR
supervise a user's source-side representation with their real target interactions:

- the *eligible* users are the warm users with training interactions both in the target
  domain and in another one (the only users a cold start can be rehearsed on);
- each epoch a seeded share of them is drawn, and their target-domain user -> item edges
  (both directions) are removed from the graph the epoch propagates over: their
  representations, and those of their neighbourhood, come from their other domains only;
- their target-domain training pairs stay in the epoch, priced on those representations
  with ``weight`` times their usual pair weight: the target-domain loss of a user scored
  as a cold-start user would be. Every other pair is priced as usual, on the same graph.

So one propagation per batch, as without hiding; the other pairs see a graph short of the
hidden edges (a small structured DropEdge). No pressure on the user representations beyond
the recommendation loss (issue 13: domain-invariance works against what a cold user has).
Validation and test always propagate over the whole training graph.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from kgrec.models.checks import check_number

if TYPE_CHECKING:  # imported where a graph is built: `kgrec COMMAND --help` needs no PyG
    from torch_geometric.data import Data


class HideTargetEdges:
    """Each epoch, hide the target-domain edges of a seeded ``share`` of the eligible users
    (module docstring) and weigh their target-domain pairs by ``weight``.

    Args:
        share: the share of eligible users hidden per epoch, in (0, 1]; the number drawn is
            ``round(share * eligible)``, at least 1.
        weight: factor on the pair weight of a hidden user's target-domain pairs (> 0, finite).
    """

    def __init__(self, share: float, weight: float = 1.0) -> None:
        check_number("cold_start_share", share)  # "0.5", True: a TypeError naming it
        check_number("cold_start_weight", weight)
        if not 0 < share <= 1:
            raise ValueError(f"cold_start_share must lie in (0, 1], got {share}")
        if not 0 < weight < math.inf:  # NaN too; inf makes a hidden pair's loss inf
            raise ValueError(f"cold_start_weight must be positive and finite, got {weight}")
        self.share = float(share)
        self.weight = float(weight)

    def eligible(
        self, pairs: Tensor, item_domain: Tensor, target_domain: int, num_users: int
    ) -> Tensor:
        """``[num_users]`` boolean: the users with a training pair (``pairs``, ``[2, N]`` user,
        item) in ``target_domain`` and one in another domain. None is an error."""
        in_target = item_domain[pairs[1]] == target_domain
        target = torch.zeros(num_users, dtype=torch.bool)
        other = torch.zeros(num_users, dtype=torch.bool)
        target[pairs[0, in_target]] = True
        other[pairs[0, ~in_target]] = True
        eligible = target & other
        if not eligible.any():
            raise ValueError(
                "hiding target-domain edges needs warm users with training interactions in "
                "the target domain and in another one; this training set has none (train on "
                "every domain: a merged or cross-domain model)"
            )
        return eligible

    def draw(self, eligible: Tensor, generator: torch.Generator) -> Tensor:
        """``[num_users]`` boolean: this epoch's hidden users, drawn from ``eligible`` with
        ``generator`` (on the CPU)."""
        candidates = torch.nonzero(eligible).flatten()
        count = max(1, round(self.share * candidates.numel()))
        chosen = candidates[torch.randperm(candidates.numel(), generator=generator)[:count]]
        hidden = torch.zeros_like(eligible)
        hidden[chosen] = True
        return hidden

    @staticmethod
    def hide(graph: Data, hidden: Tensor, target_domain: int) -> Data:
        """``graph`` (a shallow copy) without the edges, either way, between a ``hidden`` user
        and an item of ``target_domain``; ``graph`` itself is unchanged."""
        edge_index = graph.edge_index
        device = edge_index.device
        num_users, num_items = graph.num_users, graph.num_items
        num_nodes = int(edge_index.max()) + 1 if edge_index.numel() else 0
        num_nodes = max(num_nodes, num_users + num_items)
        user_node = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        user_node[:num_users] = hidden.to(device)
        target_node = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        target_node[num_users : num_users + num_items] = (
            graph.item_domain.to(device) == target_domain
        )
        source, dest = edge_index
        drop = (user_node[source] & target_node[dest]) | (target_node[source] & user_node[dest])
        keep = ~drop
        hidden_graph = copy.copy(graph)
        hidden_graph.edge_index = edge_index[:, keep]
        if getattr(graph, "edge_type", None) is not None:
            hidden_graph.edge_type = graph.edge_type[keep]
        return hidden_graph

    def epoch(
        self,
        graph: Data,
        eligible: Tensor,
        users: Tensor,
        pos: Tensor,
        weight: Tensor,
        *,
        target_domain: int,
        generator: torch.Generator,
    ) -> tuple[Data, Tensor, Tensor]:
        """One epoch's (graph to propagate over, pair weights, hidden users): the users drawn
        (:meth:`draw`), ``graph`` without their target edges (:meth:`hide`), and ``weight``
        (of the epoch's pairs ``users``, ``pos``, on the CPU) with their target pairs' scaled
        by :attr:`weight`."""
        hidden = self.draw(eligible, generator)
        item_domain = graph.item_domain.cpu()
        hidden_pairs = hidden[users] & (item_domain[pos] == target_domain)
        weight = torch.where(hidden_pairs, weight * self.weight, weight)
        return self.hide(graph, hidden, target_domain), weight, hidden

    def __repr__(self) -> str:
        return f"HideTargetEdges(share={self.share}, weight={self.weight})"
