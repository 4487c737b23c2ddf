"""Objectives: BPR against a naive loop, its gradients, and the batch interface every epoch loop
uses (a new loss plugs in without touching them)."""

from __future__ import annotations

import inspect
import json
import math
import re

import numpy as np
import pytest
import torch

from kgrec.cli import main
from kgrec.data.export import message_graph, to_hetero_data
from kgrec.data.split import make_split
from kgrec.errors import InputError
from kgrec.experiment import train
from kgrec.models import LightGCNRecommender
from kgrec.objectives import (
    BPR,
    OBJECTIVES,
    Batch,
    Contrastive,
    Distillation,
    Objective,
    Softmax,
    TextNeighbours,
    bpr_loss,
    info_nce,
    softmax_loss,
    text_neighbours,
)
from kgrec.store import open_store
from kgrec.train import FullGraph, fit
from loaders import recbole
from loaders.rules import named_rule

# the naive loops read plain numbers out of tensors that require gradients
pytestmark = pytest.mark.filterwarnings(
    "ignore:Converting a tensor with requires_grad=True to a scalar:UserWarning"
)


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
        first = first if first is not None else float(loss.detach())
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < first / 10
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
    assert OBJECTIVES["softmax"] is Softmax
    for options, message in (
        ({"temperature": 0}, "temperature must be positive, got 0"),
        ({"num_negatives": -1}, "num_negatives must be non-negative, got -1"),
        ({"score": "l2"}, "score must be one of"),
        ({"reg_weight": -1}, "reg_weight must be non-negative, got -1"),
    ):
        with pytest.raises(ValueError, match=message):
            Softmax(**options)
    with pytest.raises(ValueError, match="reg_weight must be non-negative, got -1"):
        BPR(reg_weight=-1)


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (lambda: BPR(reg_weight="0.1"), "reg_weight must be a number, got '0.1'"),
        (lambda: Softmax(temperature="0.2"), "temperature must be a number, got '0.2'"),
        (lambda: Softmax(num_negatives="5"), "num_negatives must be an integer, got '5'"),
        (lambda: Softmax(item_domain=[0, 1]), "item_domain must be a torch.Tensor, got list"),
        (lambda: Contrastive(BPR(), weight="0.1"), "cl_weight must be a number, got '0.1'"),
        (lambda: Contrastive(BPR(), layer="1"), "cl_layer must be an integer, got '1'"),
        (lambda: Contrastive("bpr"), "main must be an objective of kgrec.objectives"),
        (lambda: Contrastive(BPR), r"main must be an objective .* \(an instance: BPR\(\)\)"),
        (
            lambda: TextNeighbours(BPR(), [[1, 2]]),
            "neighbours must be a torch.Tensor, got list",
        ),
        (
            lambda: TextNeighbours(BPR(), torch.zeros(2, 1, dtype=torch.long), weight="0.1"),
            "text_cl_weight must be a number, got '0.1'",
        ),
        (
            lambda: text_neighbours(torch.ones(3, 2), torch.ones(3, dtype=torch.bool), "2"),
            "the number of text neighbours must be an integer, got '2'",
        ),
    ],
)
def test_a_string_or_list_where_a_number_or_tensor_is_asked_is_a_type_error_naming_it(build, says):
    # before: a bare TypeError from a comparison ("'<=' not supported between instances of
    # 'int' and 'str'"), an AttributeError ("'list' object has no attribute 'dim'"), or, for a
    # name or a class in place of an objective, a TypeError at the first batch of training
    with pytest.raises(TypeError, match=says):
        build()


def test_every_objectives_option_is_an_option_of_train() -> None:
    """Each keyword argument of an objective (but the items' domains, which the run gives)
    has its default in TRAIN_DEFAULTS, and train() hands it to the objective."""
    from kgrec.experiment import RUN_GIVEN, TRAIN_DEFAULTS, objective_for

    for name, objective in OBJECTIVES.items():
        for option, parameter in inspect.signature(objective).parameters.items():
            if option in RUN_GIVEN:
                continue
            assert option in TRAIN_DEFAULTS, (
                f"objective {name}'s {option} has no default in TRAIN_DEFAULTS "
                "(kgrec/settings.py): kgrec train cannot set it (README, Development)"
            )
            assert parameter.default == TRAIN_DEFAULTS[option], f"{name}: {option}'s default"
    built = objective_for({"objective": "softmax", "temperature": 0.3, "num_negatives": 4})
    assert (built.temperature, built.num_negatives) == (0.3, 4)


class Hinge(Objective):
    """A loss with an option of its own, as a contributor adds one."""

    def __init__(self, *, margin: float = 1.0) -> None:
        self.margin = margin

    def loss(self, model, batch, node_emb):
        user, pos, neg = batch.triples(model, node_emb)
        return torch.relu(self.margin - ((user * pos).sum(-1) - (user * neg).sum(-1))).mean()


def test_a_new_losss_option_reaches_it_without_another_list(monkeypatch) -> None:
    """Before, train() passed the objective the options of a list of its own
    (kgrec.experiment.OBJECTIVE_OPTIONS) that a new loss's option was missing from: --margin
    was recorded in run.json and never reached the loss, silently, and given to bpr it was not
    refused."""
    from kgrec.experiment import TRAIN_DEFAULTS, objective_for

    monkeypatch.setitem(OBJECTIVES, "hinge", Hinge)
    monkeypatch.setitem(TRAIN_DEFAULTS, "margin", 1.0)
    assert objective_for({"objective": "hinge", "margin": 0.5}).margin == 0.5
    with pytest.raises(InputError, match=r"objective bpr does not take --margin .*do: hinge"):
        objective_for({"objective": "bpr", "margin": 0.5})


# -- sampled softmax ----------------------------------------------------------------------------


def naive_softmax(user, items, target, weight, temperature, score="dot", exclude=None):
    total, weights = 0.0, 0.0
    for b in range(user.size(0)):
        scores = []
        for c in range(items.size(0)):
            if exclude is not None and bool(exclude[b, c]) and c != int(target[b]):
                continue
            s = float(user[b] @ items[c])
            if score == "cosine":
                s /= float(user[b].norm() * items[c].norm())
            scores.append((c, s / temperature))
        top = max(s for _, s in scores)
        log_z = top + math.log(sum(math.exp(s - top) for _, s in scores))
        positive = dict(scores)[int(target[b])]
        total += float(weight[b]) * (log_z - positive)
        weights += float(weight[b])
    return total / weights


@pytest.mark.parametrize("score", ["dot", "cosine"])
@pytest.mark.parametrize("masked", [False, True])
def test_softmax_loss_matches_a_naive_loop_and_its_gradients_check(score, masked) -> None:
    torch.manual_seed(0)
    user = torch.randn(5, 3, dtype=torch.double, requires_grad=True)
    items = torch.randn(7, 3, dtype=torch.double, requires_grad=True)
    target = torch.tensor([0, 3, 3, 6, 1])
    weight = torch.rand(5, dtype=torch.double) + 0.5
    exclude = torch.rand(5, 7) < 0.4 if masked else None
    if masked:
        exclude[0, 0] = True  # a row's own target is never excluded
    got = softmax_loss(
        user, items, target, weight, temperature=0.3, score=score, exclude=exclude
    ).detach()
    want = naive_softmax(user.detach(), items.detach(), target, weight, 0.3, score, exclude)
    assert float(got) == pytest.approx(want, rel=1e-9)
    assert torch.autograd.gradcheck(
        lambda u, i: softmax_loss(
            u, i, target, weight, temperature=0.3, score=score, exclude=exclude
        ),
        (user, items),
    )


def test_softmax_loss_weights_rows_and_rejects_bad_settings() -> None:
    user = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([0, 0])  # row 1's positive scores 0, its negative 1
    per_row = [math.log(1 + math.exp(-1)), math.log(1 + math.exp(1))]
    got = softmax_loss(user, items, target, torch.tensor([3.0, 1.0]))
    assert float(got) == pytest.approx((3 * per_row[0] + per_row[1]) / 4)
    with pytest.raises(ValueError, match="temperature must be positive, got 0"):
        softmax_loss(user, items, target, torch.ones(2), temperature=0)
    with pytest.raises(ValueError, match="score must be one of"):
        softmax_loss(user, items, target, torch.ones(2), score="l2")


def full_batch(users, pos, neg, weight=None):
    users, pos, neg = (torch.tensor(v) for v in (users, pos, neg))
    weight = torch.ones(len(users)) if weight is None else weight
    return Batch(users, pos, neg, weight, torch.empty(2, 0, dtype=torch.long))


class Table(torch.nn.Module):
    """A stand-in model whose 'propagation' is a plain embedding table (U users, I items)."""

    def __init__(self, num_users, num_items, dim=3, dtype=torch.double):
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.weight = torch.nn.Parameter(torch.randn(num_users + num_items, dim, dtype=dtype))

    def forward(self, edge_index, edge_type=None, **_):
        return self.weight

    def split(self, node_emb):
        return node_emb[: self.num_users], node_emb[self.num_users :]

    def auxiliary_loss(self, node_emb, n_id=None):
        return None


def test_softmax_objective_is_the_naive_loss_over_batch_positives_and_negatives() -> None:
    torch.manual_seed(0)
    model = Table(3, 6)
    # user 0 has positives 1 and 2 in the batch: each is no negative of the other's row
    batch = full_batch([0, 0, 1, 2], [1, 2, 1, 4], [3, 5, 0, 5], torch.tensor([1.0, 2, 1, 1]))
    got = Softmax(temperature=0.5)(model, batch)
    user_emb, item_emb = model.split(model.weight.detach())
    candidates = [0, 1, 2, 3, 4, 5]  # positives and negatives, each once
    exclude = torch.zeros(4, 6, dtype=torch.bool)
    exclude[0, 2] = exclude[1, 1] = True
    want = naive_softmax(
        user_emb[batch.users], item_emb[candidates], batch.pos, batch.weight, 0.5, "dot", exclude
    )
    assert float(got) == pytest.approx(want, rel=1e-9)
    unmasked = naive_softmax(
        user_emb[batch.users], item_emb[candidates], batch.pos, batch.weight, 0.5
    )
    assert unmasked != pytest.approx(want)  # the masking mattered


def test_softmax_masks_other_domains_and_adds_uniform_items() -> None:
    torch.manual_seed(0)
    model = Table(2, 6)
    batch = full_batch([0, 1], [0, 4], [1, 5])
    domain = torch.tensor([0, 0, 0, 1, 1, 1])
    items, column, exclude = Softmax(item_domain=domain).candidates(model, batch)
    assert items.tolist() == [0, 1, 4, 5]
    assert column.tolist() == [0, 2, 1, 3]
    assert exclude.tolist() == [[False, False, True, True], [True, True, False, False]]
    torch.manual_seed(1)
    items, column, _ = Softmax(num_negatives=50).candidates(model, batch)
    assert items.tolist() == [0, 1, 2, 3, 4, 5]  # 50 uniform draws reach every item
    assert items[column[:2]].tolist() == [0, 4]


def test_softmax_draws_its_extra_items_from_each_domain_of_the_batch() -> None:
    # domain 1 has 2 of 102 items: drawn from all items, 20 extra items would rarely include
    # them, leaving the domain-1 row with no negative but the batch's own
    model = Table(2, 102)
    domain = torch.zeros(102, dtype=torch.long)
    domain[100:] = 1
    batch = full_batch([0, 1], [0, 100], [1, 0])  # a row in each domain
    for seed in range(20):
        torch.manual_seed(seed)
        items, _, exclude = Softmax(num_negatives=20, item_domain=domain).candidates(model, batch)
        assert 101 in items.tolist()  # the only negative left for the domain-1 row
        assert (~exclude[1]).sum() == 2 and (~exclude[0]).sum() >= 3
    batch = full_batch([0, 1], [0, 5], [1, 2])  # domain 0 only: nothing drawn from domain 1
    items, _, _ = Softmax(num_negatives=50, item_domain=domain).candidates(model, batch)
    assert items.max() < 100


def test_softmax_never_draws_items_of_domain_minus_one() -> None:
    model = Table(2, 40)
    domain = torch.zeros(40, dtype=torch.long)
    domain[20:30] = 1
    domain[30:] = -1  # held out of training: never a candidate
    batch = full_batch([0, 1], [0, 20], [1, 21])
    torch.manual_seed(0)
    items, _, _ = Softmax(num_negatives=200, item_domain=domain).candidates(model, batch)
    assert items.tolist() == list(range(30))  # every other item is drawn


def test_softmax_on_a_sampled_subgraph_reads_each_candidates_row() -> None:
    torch.manual_seed(0)
    model = Table(2, 4)
    node_emb = model.weight.detach()
    # subgraph rows 0..4 are global nodes 3, 0, 5, 1, 2: item 1, user 0, item 3, user 1, item 0
    n_id = torch.tensor([3, 0, 5, 1, 2])
    sub = node_emb[n_id]
    batch = Batch(
        torch.tensor([0, 1]),
        torch.tensor([0, 3]),
        torch.tensor([1, 0]),
        torch.ones(2),
        torch.empty(2, 0, dtype=torch.long),
        n_id=n_id,
        rows=torch.tensor([[1, 3], [4, 2], [0, 4]]),
    )
    got = Softmax(temperature=0.5).loss(model, batch, sub)
    want = Softmax(temperature=0.5).loss(model, full_batch([0, 1], [0, 3], [1, 0]), node_emb)
    assert float(got) == pytest.approx(float(want), rel=1e-9)
    with pytest.raises(ValueError, match="num_negatives draws items outside a sampled"):
        Softmax(num_negatives=3).loss(model, batch, sub)


def tiny_graph_batch():
    # two users, two items: user 0 likes item 0, user 1 likes item 1; nothing else is known
    pairs = torch.tensor([[0, 1], [0, 1]])
    edges = torch.cat(
        [pairs + torch.tensor([[0], [2]]), (pairs + torch.tensor([[0], [2]])).flip(0)], 1
    )
    batch = Batch(
        torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([1, 0]), torch.ones(2), edges
    )
    return edges, batch


@pytest.mark.parametrize(
    ("objective", "num_layers"),
    [
        # without layers (matrix factorisation): on this graph one layer alone makes each
        # user's embedding equal to its item's, which cosine scores rank first from the start
        (Softmax(temperature=0.2), 0),
        (Softmax(temperature=0.1, score="cosine"), 0),
        (Contrastive(BPR(), weight=0.1, noise=0.1, layer=1), 1),
        (Contrastive(Softmax(), weight=0.2, noise=0.2, layer=0), 1),
    ],
    ids=repr,
)
def test_objectives_on_a_tiny_graph_rank_each_users_item_first(objective, num_layers) -> None:
    edges, batch = tiny_graph_batch()
    torch.manual_seed(0)
    model = LightGCNRecommender(2, 2, embedding_dim=4, num_layers=num_layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(200):
        optimizer.zero_grad()
        loss = objective(model, batch)
        first = first if first is not None else loss.item()
        loss.backward()
        optimizer.step()
    assert loss.item() < first
    user_emb, item_emb = model.split(model(edges))
    assert (user_emb @ item_emb.T).argmax(dim=1).tolist() == [0, 1]


# -- contrastive term ---------------------------------------------------------------------------


def naive_info_nce(view1, view2, temperature):
    total = 0.0
    for n in range(view1.size(0)):
        scores = [
            float(view1[n] @ view2[m]) / float(view1[n].norm() * view2[m].norm()) / temperature
            for m in range(view2.size(0))
        ]
        total += math.log(sum(math.exp(s) for s in scores)) - scores[n]
    return total / view1.size(0)


def test_info_nce_matches_a_naive_loop_its_known_value_and_its_gradients_check() -> None:
    torch.manual_seed(0)
    view1 = torch.randn(5, 3, dtype=torch.double, requires_grad=True)
    view2 = torch.randn(5, 3, dtype=torch.double, requires_grad=True)
    got = info_nce(view1, view2, temperature=0.2).detach()
    assert float(got) == pytest.approx(naive_info_nce(view1.detach(), view2.detach(), 0.2))
    assert torch.autograd.gradcheck(lambda a, b: info_nce(a, b, temperature=0.2), (view1, view2))
    # identical orthogonal views: -ln(e^{1/t} / (e^{1/t} + N - 1))
    eye = torch.eye(4, dtype=torch.double) * 3
    want = math.log(1 + 3 * math.exp(-1 / 0.2))
    assert float(info_nce(eye, eye, temperature=0.2)) == pytest.approx(want)


def test_info_nce_refuses_views_of_different_nodes() -> None:
    # [3, d] against [5, d] gave a number: 3 rows' log-softmax over 5 columns
    with pytest.raises(ValueError, match=r"same shape, got \[3, 2\] and \[5, 2\]"):
        info_nce(torch.randn(3, 2), torch.randn(5, 2), temperature=0.2)
    with pytest.raises(ValueError, match="same shape"):
        info_nce(torch.randn(3), torch.randn(3), temperature=0.2)


def test_losses_refuse_an_empty_batch_and_counts_that_are_not_integers() -> None:
    """An empty batch gave a NaN loss (0 / 0; the trainer would say the model diverged), rows
    that do not match torch's broadcasting error, and a float or bool num_negatives, cl_layer
    or number of text neighbours was kept, to fail later in torch (randint, a list index,
    torch.full) or to draw True = 1 item: now errors naming what is wrong."""
    emb, none = torch.randn(3, 4), torch.empty(0, 4)
    empty = torch.empty(0, dtype=torch.long)
    for loss in (
        lambda: bpr_loss(none, none, none, torch.ones(0)),
        lambda: softmax_loss(none, emb, empty, torch.ones(0)),
    ):
        with pytest.raises(ValueError, match=r"the batch holds no pairs"):
            loss()
    with pytest.raises(ValueError, match=r"one row per pair \(3\), got shapes"):
        bpr_loss(emb, emb[:2], emb, torch.ones(3))
    with pytest.raises(ValueError, match=r"one row per pair \(2\)"):
        softmax_loss(emb, emb, torch.tensor([0, 1, 2]), torch.ones(2))
    with pytest.raises(ValueError, match=r"same shape, got \[0, 4\] and \[0, 4\] \(N > 0\)"):
        info_nce(none, none, temperature=0.2)
    for build, message in (
        (lambda: Softmax(num_negatives=2.5), "num_negatives must be an integer, got 2.5"),
        (lambda: Softmax(num_negatives=True), "num_negatives must be an integer, got True"),
        (lambda: Contrastive(BPR(), layer=1.5), "cl_layer must be an integer, got 1.5"),
        (
            lambda: text_neighbours(torch.randn(4, 3), torch.ones(4, dtype=torch.bool), 1.5),
            "the number of text neighbours must be an integer, got 1.5",
        ),
    ):
        with pytest.raises(TypeError, match=message):
            build()


def test_the_loss_functions_check_their_numbers_naming_them() -> None:
    """bpr_loss took a negative reg_weight (a loss that rewards large vectors) and a NaN or
    infinite one silently, and a string as torch's "only integer tensors ... converted to an
    index"; softmax_loss and info_nce a string temperature as a bare "'<' not supported": each
    is now an error naming the argument, as BPR(), Softmax() and Contrastive() give."""
    emb, weight = torch.randn(3, 2), torch.ones(3)
    for value in (-1, math.nan, math.inf):
        with pytest.raises(ValueError, match=f"reg_weight must be non-negative, got {value}"):
            bpr_loss(emb, emb, emb, weight, reg_weight=value)
    with pytest.raises(TypeError, match=r"reg_weight must be a number, got '0\.1'"):
        bpr_loss(emb, emb, emb, weight, reg_weight="0.1")
    with pytest.raises(TypeError, match=r"temperature must be a number, got '0\.2'"):
        softmax_loss(emb, emb, torch.tensor([0, 1, 2]), weight, temperature="0.2")
    with pytest.raises(TypeError, match=r"temperature must be a number, got '0\.2'"):
        info_nce(emb, emb, temperature="0.2")


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_contrastive_term_without_noise_is_its_known_value(layer) -> None:
    """Without noise SimGCL's two views coincide, so the term is InfoNCE of a view with itself
    and the main loss is unchanged; XSimGCL contrasts the read-out with the layer's output."""
    edges, batch = tiny_graph_batch()
    torch.manual_seed(0)
    model = LightGCNRecommender(2, 2, embedding_dim=4, num_layers=2)
    node_emb, layers = model.forward_layers(edges)
    term = Contrastive(BPR(), weight=1.0, noise=0.0, layer=layer)
    got = term(model, batch) - BPR()(model, batch)
    view2 = node_emb if layer == 0 else layers[layer]
    want = naive_info_nce(node_emb[:2], view2[:2], 0.2) + naive_info_nce(
        node_emb[2:], view2[2:], 0.2
    )
    assert float(got) == pytest.approx(want, abs=1e-6)  # float32 embeddings


def test_contrastive_term_uses_the_batchs_unique_users_and_positives() -> None:
    torch.manual_seed(0)
    model = Table(3, 4)
    batch = full_batch([0, 0, 2], [1, 3, 1], [0, 0, 2])
    view1, view2 = torch.randn(7, 3), torch.randn(7, 3)
    got = Contrastive(BPR()).term(model, batch, view1, view2)
    users, items = torch.tensor([0, 2]), torch.tensor([1, 3]) + 3
    want = naive_info_nce(view1[users], view2[users], 0.2) + naive_info_nce(
        view1[items], view2[items], 0.2
    )
    assert float(got) == pytest.approx(want, rel=1e-6)


def test_contrastive_rejects_bad_settings_and_a_layer_the_model_lacks() -> None:
    for options, message in (
        ({"weight": -1}, "cl_weight must be non-negative"),
        ({"noise": -0.1}, "cl_noise must be non-negative"),
        ({"temperature": 0}, "cl_temperature must be positive"),
        ({"layer": -1}, "cl_layer must be non-negative"),
    ):
        with pytest.raises(ValueError, match=message):
            Contrastive(BPR(), **options)
    _, batch = tiny_graph_batch()
    model = LightGCNRecommender(2, 2, embedding_dim=4, num_layers=1)
    with pytest.raises(ValueError, match=r"cl_layer must lie in \[0, 1\]"):
        Contrastive(BPR(), layer=2)(model, batch)


# -- text-neighbour term ------------------------------------------------------------------------


def naive_text_neighbours(vectors, mask, k):
    """Each item's k most cosine-similar other items with text, by a loop; -1 to fill."""
    rows = []
    for i in range(vectors.size(0)):
        if not mask[i]:
            rows.append([-1] * k)
            continue
        sims = [
            (float(vectors[i] @ vectors[j] / (vectors[i].norm() * vectors[j].norm())), j)
            for j in range(vectors.size(0))
            if j != i and mask[j]
        ]
        best = [j for _, j in sorted(sims, key=lambda pair: -pair[0])[:k]]
        rows.append(best + [-1] * (k - len(best)))
    return rows


@pytest.mark.parametrize("rows", [1, 3, 4096])
def test_text_neighbours_match_a_naive_loop_in_any_row_blocks(rows) -> None:
    torch.manual_seed(0)
    vectors = torch.randn(7, 4, dtype=torch.double)
    mask = torch.tensor([True, True, False, True, True, True, True])
    got = text_neighbours(vectors, mask, 3, rows=rows)
    assert got.tolist() == naive_text_neighbours(vectors, mask, 3)
    assert (got[~mask] == -1).all() and not (got[mask] == 2).any()  # no text: never a neighbour
    # asking for more than there are: the other 5 items with text, then -1
    wide = text_neighbours(vectors, mask, 8, rows=rows)
    assert wide.tolist() == naive_text_neighbours(vectors, mask, 8)
    assert (wide[mask][:, 5:] == -1).all()
    with pytest.raises(ValueError, match="must be positive"):
        text_neighbours(vectors, mask, 0)


def test_text_neighbours_with_equal_scores_come_by_index() -> None:
    # items of the same text tie: torch.topk's order among them, and which it takes where the
    # k-th ties with one it leaves out, differ by CPU; they come by index, lowest first
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).repeat(10, 1)  # even items: one text
    mask = torch.ones(20, dtype=torch.bool)
    mask[4] = False
    for rows in (3, 4096):
        got = text_neighbours(vectors, mask, 12, rows=rows)
        assert got.tolist() == naive_text_neighbours(vectors, mask, 12)
        assert got[0].tolist() == [2, 6, 8, 10, 12, 14, 16, 18, 1, 3, 5, 7]
        assert text_neighbours(vectors, mask, 3, rows=rows)[:2].tolist() == [[2, 6, 8], [3, 5, 7]]


def test_text_neighbour_term_is_info_nce_over_the_batchs_items_and_their_drawn_neighbours(
    monkeypatch,
) -> None:
    torch.manual_seed(0)
    model = Table(2, 6)
    # items 0-4 each have the neighbours listed (-1: fewer); item 5 has none
    neighbours = torch.tensor([[1, 2], [0, -1], [3, 4], [2, -1], [2, 3], [-1, -1]])
    batch = full_batch([0, 1, 1, 0], [0, 2, 0, 5], [1, 1, 3, 4])
    objective = TextNeighbours(BPR(), neighbours, weight=0.5, temperature=0.3)
    torch.manual_seed(1)
    got = objective(model, batch)
    torch.manual_seed(1)  # the same draw: uniform over each item's valid neighbours
    count = torch.tensor([2, 2])  # items 0 and 2 (5 has none, 0 is counted once)
    drawn = (torch.rand(2) * count).long()
    pairs = neighbours[torch.tensor([0, 2]), drawn]
    _, item_emb = model.split(model.weight.detach())
    want = float(BPR()(model, batch)) + 0.5 * naive_info_nce(
        item_emb[torch.tensor([0, 2])], item_emb[pairs], 0.3
    )
    assert float(got) == pytest.approx(want, rel=1e-9)
    # over many draws every valid neighbour comes up and no missing one (-1) does: with one-hot
    # embeddings the rows handed to InfoNCE name the items
    seen = set()

    def record(view1, view2, *, temperature):
        seen.update(zip(view1.argmax(1).tolist(), view2.argmax(1).tolist(), strict=True))
        return view1.new_zeros(())

    monkeypatch.setattr("kgrec.objectives.info_nce", record)
    one_hot = torch.eye(6)
    batch = full_batch([0, 0, 1], [0, 1, 4], [5, 5, 5])
    for _ in range(50):
        objective.term(model, batch, torch.cat([torch.zeros(2, 6), one_hot]))
    assert seen == {(0, 1), (0, 2), (1, 0), (4, 2), (4, 3)}


def test_text_neighbour_term_gradients_check_and_weight_zero_is_the_main_loss() -> None:
    torch.manual_seed(0)
    model = Table(2, 4)
    neighbours = torch.tensor([[1], [0], [3], [2]])
    batch = full_batch([0, 1, 1], [0, 1, 2], [3, 3, 0])
    objective = TextNeighbours(Softmax(), neighbours, weight=0.7)

    def loss(weight):
        given = Table(2, 4)
        del given.weight  # a plain tensor instead, so that gradcheck can vary it
        given.weight = weight
        return objective(given, batch)

    start = model.weight.detach().clone().requires_grad_(True)
    # one neighbour per item: the draw is fixed, so the loss is a function of the weights
    assert torch.autograd.gradcheck(loss, (start,))
    off = TextNeighbours(Softmax(), neighbours, weight=0.0)
    assert float(off(model, batch)) == pytest.approx(float(Softmax()(model, batch)))


def test_text_neighbour_term_pulls_items_with_near_texts_together() -> None:
    """Two users, four items; users like items 0 and 1, nobody has seen items 2 and 3, whose
    texts are nearest to items 0 and 1 respectively. Only the text term reaches them: trained
    with it, each unseen item ends closer to its text neighbour than to the other item."""
    torch.manual_seed(2)  # a start where items 2 and 3 lie the wrong way round
    model = Table(2, 4, dim=4, dtype=torch.float)
    neighbours = torch.tensor([[2], [3], [0], [1]])
    batch = full_batch([0, 1], [0, 1], [1, 0])
    _, items = model.split(torch.nn.functional.normalize(model.weight.detach(), dim=-1))
    assert float(items[2] @ items[0]) < float(items[2] @ items[1])
    assert float(items[3] @ items[1]) < float(items[3] @ items[0])
    objective = TextNeighbours(BPR(), neighbours, weight=1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        objective(model, batch).backward()
        optimizer.step()
    _, items = model.split(torch.nn.functional.normalize(model.weight.detach(), dim=-1))
    assert float(items[2] @ items[0]) > float(items[2] @ items[1])
    assert float(items[3] @ items[1]) > float(items[3] @ items[0])


def test_text_neighbour_term_rejects_bad_settings_and_sampled_batches() -> None:
    for options, message in (
        ({"weight": -1}, "text_cl_weight must be non-negative"),
        ({"temperature": 0}, "text_cl_temperature must be positive"),
    ):
        with pytest.raises(ValueError, match=message):
            TextNeighbours(BPR(), torch.zeros(2, 1, dtype=torch.long), **options)
    with pytest.raises(ValueError, match=r"\[num_items, k\]"):
        TextNeighbours(BPR(), torch.zeros(2))
    batch = full_batch([0], [0], [1])
    batch.n_id = torch.arange(3)
    batch.rows = torch.tensor([[0], [1], [2]])
    with pytest.raises(ValueError, match="full-graph batches"):
        TextNeighbours(BPR(), torch.zeros(2, 1, dtype=torch.long)).loss(
            Table(1, 2), batch, torch.randn(3, 3)
        )


# -- distillation --------------------------------------------------------------------------------


def naive_distillation(
    student_users,
    student_items,
    teacher_users,
    teacher_items,
    users,
    items,
    train,
    temperature,
    student_temperature,
):
    """Mean over ``users`` of KL(p || q), each a softmax over the covered items the user has not
    trained on, written as plain per-user loops."""
    trained = set(zip(*train.tolist(), strict=True))
    total, count = 0.0, 0
    for u in users:
        candidates = [i for i in range(len(items)) if items[i] and (u, i) not in trained]
        if not candidates:
            continue
        t = [float(teacher_users[u] @ teacher_items[i]) / temperature for i in candidates]
        s = [float(student_users[u] @ student_items[i]) / student_temperature for i in candidates]
        zt = sum(math.exp(x) for x in t)
        zs = sum(math.exp(x) for x in s)
        kl = 0.0
        for a, b in zip(t, s, strict=True):
            p = math.exp(a) / zt
            kl += p * (math.log(p) - math.log(math.exp(b) / zs))
        total, count = total + kl, count + 1
    return total / count


def distillation_case(dtype=torch.double):
    torch.manual_seed(0)
    model = Table(4, 6, dtype=dtype)
    teacher_users, teacher_items = torch.randn(4, 5), torch.randn(6, 5)
    items = torch.tensor([True, True, True, True, True, False])  # item 5: not covered
    # user 3 has trained on every covered item: no distribution, left out
    train = torch.tensor([[0, 0, 1, 3, 3, 3, 3, 3], [1, 4, 2, 0, 1, 2, 3, 4]])
    batch = full_batch([0, 1, 1, 2, 3], [1, 2, 2, 0, 0], [3, 3, 4, 4, 5])
    return model, teacher_users, teacher_items, items, train, batch


def test_distillation_term_matches_a_naive_per_user_loop() -> None:
    model, tu, ti, items, train, batch = distillation_case()
    objective = Distillation(
        BPR(),
        tu,
        ti,
        items=items,
        train=train,
        weight=2.0,
        temperature=0.3,
        student_temperature=0.2,
    )
    user_emb, item_emb = model.split(model.weight.detach())
    want = naive_distillation(
        user_emb, item_emb, tu.double(), ti.double(), [0, 1, 2, 3], items.tolist(), train, 0.3, 0.2
    )
    got = objective.term(model, batch, model.weight)
    assert float(got) == pytest.approx(want, rel=1e-6)
    assert float(objective(model, batch)) == pytest.approx(
        float(BPR()(model, batch)) + 2.0 * want, rel=1e-6
    )


def test_distillation_term_gradients_check() -> None:
    model, tu, ti, items, train, batch = distillation_case()
    objective = Distillation(BPR(), tu, ti, items=items, train=train, temperature=0.5)

    def term(weight):
        return objective.term(model, batch, weight)

    start = model.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(term, (start,))


def test_distillation_of_its_own_scores_is_zero_and_training_items_get_no_probability() -> None:
    """The student's scores are the teacher's at equal temperatures: KL 0, and so is the term's
    gradient; training and uncovered items get no probability, whatever they score."""
    model, _, _, items, train, batch = distillation_case()
    user_emb, item_emb = model.split(model.weight.detach())
    objective = Distillation(
        BPR(),
        user_emb.float(),
        item_emb.float(),
        items=items,
        train=train,
        temperature=0.2,
        student_temperature=0.2,
    )
    weight = model.weight.detach().clone().requires_grad_(True)
    term = objective.term(model, batch, weight)
    assert abs(float(term)) < 1e-6
    term.backward()
    assert weight.grad.abs().max() < 1e-5
    # the student ranks a training item (user 0's item 1) or an uncovered one (5) first: the
    # term does not change, as neither is among the items it ranks
    changed = model.weight.detach().clone()
    changed[4 + 1], changed[4 + 5] = 100 * changed[0], 100 * changed[0]
    only_user_0 = full_batch([0], [1], [3])
    assert abs(float(objective.term(model, only_user_0, changed))) < 1e-6
    changed[4 + 2] = 100 * changed[0]  # a covered item the user has not trained on: it counts
    assert float(objective.term(model, only_user_0, changed)) > 1
    # a user who has trained on every covered item is left out: no NaN, no term
    assert float(objective.term(model, full_batch([3], [0], [5]), weight)) == 0.0


def test_distillation_weight_zero_is_the_main_loss_and_it_rejects_bad_settings() -> None:
    model, tu, ti, items, train, batch = distillation_case()
    off = Distillation(Softmax(), tu, ti, items=items, train=train, weight=0.0)
    torch.manual_seed(1)
    got = float(off(model, batch))
    torch.manual_seed(1)
    assert got == pytest.approx(float(Softmax()(model, batch)))
    for options, error, message in (
        ({"weight": -1}, ValueError, "distill_weight must be non-negative, got -1"),
        ({"weight": "1"}, TypeError, "distill_weight must be a number, got '1'"),
        ({"temperature": 0}, ValueError, "distill_temperature must be positive, got 0"),
        ({"temperature": math.nan}, ValueError, "distill_temperature must be positive"),
        ({"student_temperature": -0.1}, ValueError, "temperature must be positive, got -0.1"),
        ({"items": items[:3]}, ValueError, "items must be a bool mask of the 6 teacher items"),
        ({"items": items.long()}, ValueError, "items must be a bool mask"),
        ({"train": train[0]}, ValueError, r"train must be \[2, n\]"),
        ({"train": train.tolist()}, TypeError, "train must be a torch.Tensor, got list"),
    ):
        arguments = {"items": items, "train": train, **options}
        with pytest.raises(error, match=message):
            Distillation(BPR(), tu, ti, **arguments)
    with pytest.raises(ValueError, match=r"must be \[num_users, d\] and \[num_items, d\]"):
        Distillation(BPR(), tu, ti[:, :3], items=items, train=train)
    with pytest.raises(TypeError, match="main must be an objective"):
        Distillation("bpr", tu, ti, items=items, train=train)
    sampled = full_batch([0], [0], [1])
    sampled.n_id = torch.arange(3)
    sampled.rows = torch.tensor([[0], [1], [2]])
    with pytest.raises(ValueError, match="needs full-graph batches"):
        Distillation(BPR(), tu, ti, items=items, train=train).loss(model, sampled, model.weight)
    with pytest.raises(ValueError, match="the teacher scores 3 users, the model has 4"):
        Distillation(BPR(), tu[:3], ti, items=items, train=train[:, :3]).term(
            model, batch, model.weight
        )


def test_distillation_refuses_a_teacher_of_another_number_of_items() -> None:
    """A teacher of fewer items than the model was read against the model's first items (its
    item j taken for the model's item j), one of more was an IndexError from inside torch:
    either is refused naming both counts, as a teacher of another number of users is."""
    model, tu, _, _, train, batch = distillation_case()  # the model has 6 items
    for count in (5, 7):
        covered = torch.ones(count, dtype=torch.bool)
        objective = Distillation(BPR(), tu, torch.randn(count, 5), items=covered, train=train)
        with pytest.raises(ValueError, match=f"the teacher scores {count} items, the model has 6"):
            objective.term(model, batch, model.weight)


# -- perturbed propagation ----------------------------------------------------------------------


def relational_models(make_two_domains):
    from kgrec.models import CrossDomainRecommender, RGCNRecommender

    data, _ = to_hetero_data(make_two_domains(seed=1, num_users=12))
    graph = message_graph(data)
    sizes = (graph.num_users, graph.num_items, graph.num_entities, graph.num_relations)
    torch.manual_seed(0)
    return graph, [
        RGCNRecommender(*sizes, embedding_dim=8, num_layers=2),
        CrossDomainRecommender(
            *sizes, 2, item_domain=graph.item_domain, embedding_dim=8, num_layers=2
        ),
    ]


def test_noise_perturbs_every_model_only_when_asked(make_two_domains) -> None:
    graph, models = relational_models(make_two_domains)
    interactions = graph.edge_type < 2
    lightgcn = LightGCNRecommender(graph.num_users, graph.num_items, embedding_dim=8)
    cases = [(lightgcn, graph.edge_index[:, interactions], None)]
    cases += [(model, graph.edge_index, graph.edge_type) for model in models]
    for model, edge_index, edge_type in cases:
        plain = model(edge_index, edge_type)
        again, layers = model.forward_layers(edge_index, edge_type)
        assert torch.equal(plain, again) and torch.equal(plain, model(edge_index, edge_type))
        assert len(layers) == 3 and torch.allclose(torch.stack(layers).mean(0), plain)
        generator = torch.Generator().manual_seed(0)
        noisy = model(edge_index, edge_type, noise=0.1, generator=generator)
        assert not torch.allclose(noisy, plain)
        generator = torch.Generator().manual_seed(0)
        noisy_again, noisy_layers = model.forward_layers(
            edge_index, edge_type, noise=0.1, generator=generator
        )
        assert torch.equal(noisy, noisy_again)
        assert torch.equal(noisy_layers[0], layers[0])  # the embeddings themselves: no noise
        # each perturbed layer is within the noise size of the clean propagation of its input
        clean_next = model.forward_layers(edge_index, edge_type)[1][1]
        shift = (noisy_layers[1] - clean_next).norm(dim=1)
        assert torch.allclose(shift[clean_next.abs().min(1).values > 0], torch.tensor(0.1))
        with pytest.raises(ValueError, match="noise must be non-negative"):
            model(edge_index, edge_type, noise=-1.0)


def test_a_model_without_layers_cannot_be_perturbed() -> None:
    from kgrec.models import Popularity

    model = Popularity(2, 2)
    with pytest.raises(ValueError, match="no propagation layers"):
        model.forward_layers(torch.tensor([[0, 2], [2, 0]]), noise=0.1)


# -- the command line ---------------------------------------------------------------------------


def test_kgrec_train_with_the_softmax_objective_and_the_contrastive_term(tmp_path, tiny_recbole):
    common = ["--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole), "--epochs", "2"]
    common += ["--dim", "8", "--batch-size", "64", "--objective", "softmax"]
    assert main(["train", "--model", "lightgcn-merged", "--out", str(tmp_path / "a"), *common]) == 0
    assert (
        main(
            [
                "train",
                "--model",
                "rgcn",
                "--out",
                str(tmp_path / "b"),
                *common,
                "--temperature",
                "0.1",
                "--score",
                "cosine",
                "--num-negatives",
                "16",
                "--cl-weight",
                "0.1",
                "--cl-noise",
                "0.1",
                "--cl-layer",
                "2",
            ]
        )
        == 0
    )
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["settings"]["objective"] == "softmax"
    assert run["settings"]["cl_weight"] == 0.1 and run["settings"]["score"] == "cosine"
    assert run["training"]["epochs_run"] == 2
    for path in ("a", "b"):
        metrics = json.loads((tmp_path / path / "metrics.json").read_text())
        assert 0 <= metrics["valid"]["all"]["ndcg@20"] <= 1


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_kgrec_train_of_mf_under_every_objective(tmp_path, tiny_recbole, objective):
    """Matrix factorisation propagates nothing: every loss trains it all the same."""
    out = tmp_path / "run"
    common = ["--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole), "--epochs", "3"]
    common += ["--dim", "8", "--batch-size", "64", "--lr", "0.01", "--objective", objective]
    assert main(["train", "--model", "mf", "--out", str(out), *common]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["model"] == "mf" and run["settings"]["objective"] == objective
    losses = [epoch["loss"] for epoch in run["training"]["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 < metrics["test"]["all"]["ndcg@20"] <= 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": 0.0}, "temperature must be positive"),
        ({"score": "l2"}, "unknown score 'l2'"),
        ({"cl_weight": 0.1, "cl_layer": 3}, r"cl_layer must lie in \[0, 2\]"),
        ({"cl_weight": 0.1, "cl_noise": -1.0}, "cl_noise must be non-negative"),
        (  # before: a traceback once training began ("has no propagation layers")
            {"cl_weight": 0.1, "model": "mf"},
            r"--cl-weight perturbs the output of the model's propagation layers, and mf has "
            r"none \(models that do: lightgcn, lightgcn-merged, rgcn, cross-domain\)",
        ),
        ({"text_cl_weight": 0.1}, "--text-cl-weight pulls items .* give a --store"),
        ({"text_cl_weight": -0.1, "store": "local:x"}, "text_cl_weight must be non-negative"),
        (
            {"text_cl_weight": 0.1, "text_cl_neighbours": 0, "store": "local:x"},
            "text_cl_neighbours must be positive",
        ),
        (
            {"text_cl_weight": 0.1, "store": "local:x", "batching": "neighbor", "model": "rgcn"},
            "--text-cl-weight works with --batching full only",
        ),
    ],
)
def test_train_rejects_bad_objective_settings_before_reading_data(tmp_path, options, message):
    model = options.pop("model", "lightgcn")
    with pytest.raises(InputError, match=message):
        train(
            model,
            out=tmp_path / "run",
            data=tmp_path / "missing",
            protocol="ml100k-kg",
            objective="softmax",
            **options,
        )
    assert not (tmp_path / "run").exists()


def test_cl_weight_given_to_a_model_that_trains_nothing_is_ignored_by_the_api(tmp_path):
    """mf, which trains without propagating, refuses it (above); popularity, which trains
    nothing, reads no objective: kgrec train refuses it as unread, the API ignores it."""
    from kgrec.experiment import check_settings

    settings = {"protocol": "ml100k-kg", "data": str(tmp_path), "cl_weight": 0.1}
    check_settings({"model": "popularity", **settings})
    with pytest.raises(InputError, match="and mf has none"):
        check_settings({"model": "mf", **settings})


def test_kgrec_train_with_the_text_neighbour_term(tmp_path, text_store):
    common = ["--protocol", "ml1m-action-comedy", "--store", text_store, "--epochs", "2"]
    common += ["--dim", "8", "--batch-size", "64", "--objective", "softmax"]
    options = ["--text-cl-weight", "0.1", "--text-cl-neighbours", "3", "--cl-weight", "0.1"]
    out = str(tmp_path / "a")
    assert main(["train", "--model", "lightgcn", "--out", out, *common, *options]) == 0
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["settings"]["text_cl_weight"] == 0.1 and run["settings"]["text_cl_neighbours"] == 3
    assert run["settings"]["text_property"] == "embedding"  # read for the term alone
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert 0 <= metrics["valid"]["all"]["ndcg@20"] <= 1


def test_the_text_neighbour_term_without_item_text_is_an_input_error(tmp_path, tiny_recbole):
    """A store whose users have vectors and whose items have none: refused before training,
    naming the option (the neighbours would all be missing)."""
    tables = recbole.load(tiny_recbole, domain_rule=named_rule("ml1m-action-comedy"))
    store = f"local:{tmp_path / 'users-only'}"
    users = sorted(tables.users["user_id"])
    with open_store(store) as opened:
        opened.write(tables, progress=False)
        opened.write_vectors("User", users, np.ones((len(users), 3)), property="embedding")
    with pytest.raises(InputError, match="--text-cl-weight needs item text vectors"):
        train(
            "lightgcn",
            out=tmp_path / "run",
            store=store,
            protocol="ml1m-action-comedy",
            text_cl_weight=0.1,
            epochs=1,
            progress=False,
        )
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_and_infinite_settings_are_refused(value) -> None:
    # before: NaN passed every "<= 0" check (a NaN loss, or all-NaN scores)
    from kgrec.objectives import BPR, Contrastive, Softmax

    for make in (
        lambda: Softmax(temperature=value),
        lambda: BPR(reg_weight=value),
        lambda: Contrastive(BPR(), noise=value),
    ):
        with pytest.raises(ValueError):
            make()


def test_each_full_graph_term_names_itself_when_a_batch_is_sampled() -> None:
    """TextNeighbours and Distillation share FullGraphTerm.loss: a sampled batch is refused
    with each term's own name and reason."""
    model, tu, ti, items, train, _ = distillation_case()
    sampled = full_batch([0], [0], [1])
    sampled.n_id = torch.arange(3)
    sampled.rows = torch.tensor([[0], [1], [2]])
    neighbours = torch.zeros(model.num_items, 1, dtype=torch.long)
    for term, message in (
        (
            TextNeighbours(BPR(), neighbours),
            "the text-neighbour term needs full-graph batches (--batching full): an item's "
            "neighbours lie outside a sampled subgraph",
        ),
        (
            Distillation(BPR(), tu, ti, items=items, train=train),
            "the distillation term needs full-graph batches (--batching full): the items it "
            "ranks lie outside a sampled subgraph",
        ),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            term.loss(model, sampled, model.weight)
