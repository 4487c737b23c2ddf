"""Objectives: BPR against a naive loop, its gradients, and the batch interface every epoch loop
uses (a new loss plugs in without touching them)."""

from __future__ import annotations

import math

import pytest
import torch

from kgrec.data.export import message_graph, to_hetero_data
from kgrec.data.split import make_split
from kgrec.models import LightGCNRecommender
from kgrec.objectives import BPR, OBJECTIVES, Batch, Objective, bpr_loss
from kgrec.train import FullGraph, fit


def naive_bpr(user, pos, neg, weight, reg_weight=0.0):
    total, weights, norms = 0.0, 0.0, 0.0
    for b in range(user.size(0)):
        diff = float(user[b] @ pos[b]) - float(user[b] @ neg[b])
        total += float(weight[b]) * math.log1p(math.exp(-diff))  # -ln sigmoid(diff)
        weights += float(weight[b])
        norms += float(user[b] @ user[b] + pos[b] @ pos[b] + neg[b] @ neg[b])
    return total / weights + reg_weight * norms / user.size(0)


def test_bpr_loss_weights_target_pairs() -> None:
    user = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    pos = torch.tensor([[2.0, 0.0], [0.0, -1.0]])
    neg = torch.zeros(2, 2)
    per_pair = -torch.nn.functional.logsigmoid(torch.tensor([2.0, -1.0]))
    got = bpr_loss(user, pos, neg, torch.tensor([3.0, 1.0]))
    assert float(got) == pytest.approx(float((3 * per_pair[0] + per_pair[1]) / 4))
    reg = bpr_loss(user, pos, neg, torch.ones(2), reg_weight=0.5)
    norms = 1 + 1 + 4 + 1  # squared norms of the batch's rows
    assert float(reg) == pytest.approx(float(per_pair.mean()) + 0.5 * norms / 2)


@pytest.mark.parametrize("reg_weight", [0.0, 0.3])
def test_bpr_loss_matches_a_naive_loop_and_its_gradients_check(reg_weight) -> None:
    torch.manual_seed(0)
    user, pos, neg = (torch.randn(6, 4, dtype=torch.double, requires_grad=True) for _ in "upn")
    weight = torch.rand(6, dtype=torch.double) + 0.5
    got = bpr_loss(user, pos, neg, weight, reg_weight=reg_weight).detach()
    want = naive_bpr(user.detach(), pos.detach(), neg.detach(), weight, reg_weight)
    assert float(got) == pytest.approx(want, rel=1e-9)
    assert torch.autograd.gradcheck(
        lambda u, p, n: bpr_loss(u, p, n, weight, reg_weight=reg_weight), (user, pos, neg)
    )


def test_bpr_on_a_tiny_graph_ranks_each_users_item_first() -> None:
    # two users, two items: user 0 likes item 0, user 1 likes item 1; nothing else is known
    pairs = torch.tensor([[0, 1], [0, 1]])
    edges = torch.cat(
        [pairs + torch.tensor([[0], [2]]), (pairs + torch.tensor([[0], [2]])).flip(0)], 1
    )
    torch.manual_seed(0)
    model = LightGCNRecommender(2, 2, embedding_dim=4, num_layers=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    batch = Batch(
        torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([1, 0]), torch.ones(2), edges
    )
    first = None
    for _ in range(200):
        optimizer.zero_grad()
        loss = BPR()(model, batch)
        first = first if first is not None else float(loss)
        loss.backward()
        optimizer.step()
    assert float(loss) < first / 10
    user_emb, item_emb = model.split(model(edges))
    assert (user_emb @ item_emb.T).argmax(dim=1).tolist() == [0, 1]


def test_bpr_adds_the_models_auxiliary_loss(monkeypatch) -> None:
    model = LightGCNRecommender(2, 2, embedding_dim=4, num_layers=1)
    edges = torch.tensor([[0, 2], [2, 0]])
    batch = Batch(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]), torch.ones(1), edges)
    plain = float(BPR()(model, batch))
    monkeypatch.setattr(model, "auxiliary_loss", lambda node_emb, n_id=None: torch.tensor(2.5))
    assert float(BPR()(model, batch)) == pytest.approx(plain + 2.5)


def test_a_new_objective_plugs_into_fit_without_touching_the_epoch_loops(make_two_domains):
    """An objective that propagates twice (as a two-view contrastive loss would) trains through
    fit's full-graph strategy unchanged."""
    data, maps = to_hetero_data(make_two_domains(seed=1, num_users=40))
    split = make_split(data, maps, "ml1m-action-comedy", seed=0)
    pairs = split.training_interactions(data, all_domains=True)
    graph = message_graph(data, interactions=pairs, knowledge=False)

    class TwoViews(Objective):
        calls = 0

        def loss(self, model, batch, node_emb):
            TwoViews.calls += 1
            other = batch.propagate(model)  # a second view of the same graph
            user, pos, neg = batch.triples(model, node_emb)
            return bpr_loss(user, pos, neg, batch.weight) + (node_emb - other).pow(2).mean()

    torch.manual_seed(0)
    model = LightGCNRecommender(graph.num_users, graph.num_items, embedding_dim=8, num_layers=2)
    result = fit(
        model,
        graph,
        split,
        pairs,
        epochs=2,
        batch_size=64,
        lr=0.05,
        patience=5,
        objective=TwoViews(),
        epoch_strategy=FullGraph(),
        progress=False,
    )
    assert TwoViews.calls == 2 * -(-pairs.size(1) // 64)
    assert result.history[1]["loss"] < result.history[0]["loss"]


def test_every_objective_is_registered_and_rejects_bad_settings() -> None:
    assert OBJECTIVES["bpr"] is BPR
    with pytest.raises(ValueError, match="reg_weight must be non-negative, got -1"):
        BPR(reg_weight=-1)
