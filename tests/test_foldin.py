"""Fold-in: a newcomer's representation from frozen item representations."""

from __future__ import annotations

import pytest
import torch

from kgrec.foldin import fold_in_users


@pytest.fixture
def items() -> torch.Tensor:
    # two clusters: items 0-2 point one way, items 3-5 the other
    return torch.tensor(
        [[1.0, 0.1], [0.9, 0.0], [1.1, -0.1], [-1.0, 0.1], [-0.9, 0.0], [-1.1, -0.1]]
    )


def test_mean_is_the_mean_of_the_history(items):
    z = fold_in_users(items, [torch.tensor([0, 1]), torch.tensor([3])], method="mean")
    assert torch.allclose(z[0], items[:2].mean(0)) and torch.allclose(z[1], items[3])


@pytest.mark.parametrize("method", ["mean", "solve"])
def test_a_newcomer_is_served_from_their_cluster(items, method):
    z = fold_in_users(items, [torch.tensor([0, 1]), torch.tensor([4])], method=method)
    scores = z @ items.T
    assert scores[0, 2] > scores[0, 3:].max()  # the unseen item of the first user's cluster
    assert scores[1, 3] > scores[1, :3].max() and scores[1, 5] > scores[1, :3].max()


def test_solve_lowers_the_bpr_loss_of_the_history(items):
    history = [torch.tensor([0, 3])]  # a user of both clusters, with a taste for item 0's side
    mean = fold_in_users(items, history, method="mean")
    solved = fold_in_users(items, history, method="solve", steps=200)

    def bpr(z):
        pos = z @ items[[0, 3]].T
        neg = z @ items[[1, 2, 4, 5]].T
        return -torch.nn.functional.logsigmoid(pos.T - neg).mean()

    assert float(bpr(solved)) < float(bpr(mean))


def test_a_newcomer_without_history_gets_zeros_and_bad_input_is_refused(items):
    z = fold_in_users(items, [torch.tensor([], dtype=torch.long), torch.tensor([1])])
    assert torch.equal(z[0], torch.zeros(2)) and z[1].abs().sum() > 0
    assert fold_in_users(items, []).shape == (0, 2)
    with pytest.raises(ValueError, match="method must be one of"):
        fold_in_users(items, [torch.tensor([0])], method="magic")
    with pytest.raises(ValueError, match=r"history items must lie in \[0, 6\)"):
        fold_in_users(items, [torch.tensor([6])])
