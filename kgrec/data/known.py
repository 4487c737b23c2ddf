"""Each user's known items (training interactions, say) as positions among a set of candidate
items, found for a batch of users in time proportional to their items: what a ranking masks
(:func:`kgrec.ranking.rank`) and what distillation leaves out of a user's distribution
(:class:`kgrec.objectives.Distillation`)."""

from __future__ import annotations

import torch
from torch import Tensor


class KnownItems:
    """Each user's known items as positions among the candidates, sorted by user once
    (compressed rows) so that a batch of users finds its own in time proportional to them."""

    def __init__(self, known: Tensor | None, candidates: Tensor, num_users: int) -> None:
        if known is None or known.size(1) == 0:
            known = torch.empty(2, 0, dtype=torch.long)
        known = known.cpu()
        if known.numel() and int(known.min()) < 0:  # -1 would be the last candidate, silently
            raise ValueError(
                f"known holds a negative index ({int(known.min())}): [2, X] (user index, item "
                "index) pairs from 0"
            )
        size = int(torch.cat([candidates, known[1], torch.tensor([-1])]).max()) + 1
        position = torch.full((size,), -1, dtype=torch.long)
        position[candidates] = torch.arange(len(candidates))
        columns = position[known[1]]
        keep = columns >= 0
        user, columns = known[0][keep], columns[keep]
        self.columns = columns[torch.argsort(user, stable=True)]
        counts = torch.bincount(user, minlength=num_users)
        self.pointer = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])

    def __call__(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """(row in ``batch``, candidate position) of the batch's known items."""
        begin, counts = self.pointer[batch], self.pointer[batch + 1] - self.pointer[batch]
        rows = torch.repeat_interleave(torch.arange(len(batch)), counts)
        first = torch.cumsum(counts, 0) - counts
        offsets = torch.arange(int(counts.sum())) - first[rows] + begin[rows]
        return rows, self.columns[offsets]
