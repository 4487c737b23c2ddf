"""Cold-start training (kgrec.cold_start_training): hiding warm users' target-domain edges."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

from kgrec.cli import build_parser, main
from kgrec.cold_start_training import HideTargetEdges
from kgrec.data.export import message_graph, to_hetero_data
from kgrec.data.split import make_split
from kgrec.errors import InputError
from kgrec.experiment import check_settings, train
from kgrec.models import LightGCNRecommender
from kgrec.objectives import BPR, Softmax
from kgrec.train import FullGraph, fit

ACTION, COMEDY = 0, 1  # comedy is the target
# 4 users, items a0 a1 (action) c0 c1 (comedy), one entity linked to a0
PAIRS = torch.tensor(
    [
        [0, 0, 0, 1, 1, 2, 3],  # u0: both domains; u1: both; u2: comedy only; u3: action only
        [0, 2, 3, 1, 2, 3, 0],
    ]
)


def tiny_graph() -> Data:
    num_users, num_items = 4, 4
    forward = PAIRS + torch.tensor([[0], [num_users]])
    knowledge = torch.tensor([[num_users + 0], [num_users + num_items]])  # a0 -> entity
    edge_index = torch.cat([forward, forward.flip(0), knowledge, knowledge.flip(0)], dim=1)
    n = PAIRS.size(1)
    edge_type = torch.tensor([0] * n + [1] * n + [2, 3])
    return Data(
        edge_index=edge_index,
        edge_type=edge_type,
        num_nodes=num_users + num_items + 1,
        num_users=num_users,
        num_items=num_items,
        item_domain=torch.tensor([ACTION, ACTION, COMEDY, COMEDY]),
    )


def edges(graph: Data) -> set[tuple[int, int, int]]:
    return set(zip(*graph.edge_index.tolist(), graph.edge_type.tolist(), strict=True))


def test_eligible_users_have_target_and_other_domain_pairs():
    graph = tiny_graph()
    eligible = HideTargetEdges(0.5).eligible(PAIRS, graph.item_domain, COMEDY, 4)
    assert eligible.tolist() == [True, True, False, False]
    only_target = PAIRS[:, graph.item_domain[PAIRS[1]] == COMEDY]
    with pytest.raises(ValueError, match="warm users with training interactions in the target"):
        HideTargetEdges(0.5).eligible(only_target, graph.item_domain, COMEDY, 4)


def test_hidden_users_lose_their_target_edges_both_ways_and_nothing_else():
    graph = tiny_graph()
    before = graph.edge_index.clone()
    hidden = torch.tensor([True, False, False, False])  # u0
    out = HideTargetEdges.hide(graph, hidden, COMEDY)
    removed = edges(graph) - edges(out)
    # u0 -> c0, u0 -> c1 (type 0) and their reverses (type 1)
    assert removed == {(0, 6, 0), (0, 7, 0), (6, 0, 1), (7, 0, 1)}
    assert edges(out) <= edges(graph)
    assert out.edge_index.size(1) == graph.edge_index.size(1) - 4
    assert torch.equal(graph.edge_index, before)  # the graph itself is unchanged
    # u0's action edge and the knowledge edge stay
    assert (0, 4, 0) in edges(out) and (4, 8, 2) in edges(out)


def test_draws_are_seeded_and_of_the_share():
    rule = HideTargetEdges(0.3)
    eligible = torch.zeros(100, dtype=torch.bool)
    eligible[::2] = True  # 50 eligible users
    first = rule.draw(eligible, torch.Generator().manual_seed(7))
    again = rule.draw(eligible, torch.Generator().manual_seed(7))
    other = rule.draw(eligible, torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert int(first.sum()) == 15 and not (first & ~eligible).any()
    # at least one user, however small the share
    assert int(HideTargetEdges(0.001).draw(eligible, torch.Generator()).sum()) == 1


def test_the_epoch_weighs_the_hidden_users_target_pairs():
    graph = tiny_graph()
    rule = HideTargetEdges(0.5, weight=3.0)
    eligible = rule.eligible(PAIRS, graph.item_domain, COMEDY, 4)
    users, pos = PAIRS
    weight = torch.full((PAIRS.size(1),), 2.0)
    out, new_weight, hidden = rule.epoch(
        graph,
        eligible,
        users,
        pos,
        weight,
        target_domain=COMEDY,
        generator=torch.Generator().manual_seed(0),
    )
    assert int(hidden.sum()) == 1
    (user,) = torch.nonzero(hidden).flatten().tolist()
    scaled = hidden[users] & (graph.item_domain[pos] == COMEDY)
    assert scaled.any()
    assert torch.equal(new_weight[scaled], torch.full((int(scaled.sum()),), 6.0))
    assert torch.equal(new_weight[~scaled], torch.full((int((~scaled).sum()),), 2.0))
    # the scaled pairs are exactly the edges the epoch's graph lost
    lost = {(u, i) for u, i, t in edges(graph) - edges(out) if t == 0}
    assert lost == {(u, int(i) + 4) for u, i in PAIRS[:, scaled].T.tolist()}
    assert all(u == user for u, _ in lost)


@pytest.mark.parametrize(
    ("share", "weight", "message"),
    [
        (0.0, 1.0, r"cold_start_share must lie in \(0, 1\], got 0.0"),
        (1.5, 1.0, r"cold_start_share must lie in \(0, 1\], got 1.5"),
        (0.2, 0.0, "cold_start_weight must be positive and finite, got 0.0"),
    ],
)
def test_bad_settings_are_refused(share, weight, message):
    with pytest.raises(ValueError, match=message):
        HideTargetEdges(share, weight)


@pytest.mark.parametrize(
    ("share", "weight", "error", "message"),
    [
        ("0.5", 1.0, TypeError, "cold_start_share must be a number, got '0.5'"),
        (True, 1.0, TypeError, "cold_start_share must be a number, got True"),
        (0.5, "2", TypeError, "cold_start_weight must be a number, got '2'"),
        (0.5, math.inf, ValueError, "cold_start_weight must be positive and finite, got inf"),
    ],
)
def test_settings_of_the_wrong_type_or_infinite_are_refused_naming_them(
    share, weight, error, message
):
    """A string was a bare "'<' not supported" of Python's, True a share of 1, and an infinite
    weight was taken, to make every hidden pair's loss infinite in the first epoch."""
    with pytest.raises(error, match=re.escape(message)):
        HideTargetEdges(share, weight)


@pytest.fixture
def experiment(make_two_domains):
    data, maps = to_hetero_data(make_two_domains(seed=2, num_users=40))
    split = make_split(data, maps, "ml1m-action-comedy", seed=0)
    pairs = split.training_interactions(data, all_domains=True)
    graph = message_graph(data, interactions=pairs, knowledge=False)
    return split, pairs, graph


class Recording(FullGraph):
    """FullGraph that keeps every epoch's batches."""

    def __init__(self) -> None:
        self.epochs: list[list] = []

    def batches(self, model, graph, triples, weight, *, batch_size):
        self.epochs.append(list(super().batches(model, graph, triples, weight, batch_size=25)))
        yield from self.epochs[-1]


def fit_lightgcn(experiment, *, epochs=3, seed=0, cold_start=None, strategy=None, **options):
    split, pairs, graph = experiment
    torch.manual_seed(seed)
    model = LightGCNRecommender(graph.num_users, graph.num_items, embedding_dim=8, num_layers=2)
    result = fit(
        model,
        graph,
        split,
        pairs,
        epochs=epochs,
        lr=0.05,
        batch_size=25,
        patience=50,
        seed=seed,
        cold_start=cold_start,
        epoch_strategy=strategy,
        progress=False,
        **options,
    )
    return model, result


def test_fit_propagates_without_the_hidden_edges_and_prices_their_pairs(experiment):
    split, pairs, graph = experiment
    rule = HideTargetEdges(0.25, weight=2.0)
    strategy = Recording()
    fit_lightgcn(experiment, epochs=2, cold_start=rule, strategy=strategy)
    eligible = rule.eligible(pairs, graph.item_domain, split.target_domain, graph.num_users)
    full = set(zip(*graph.edge_index.tolist(), strict=True))
    target = graph.item_domain == split.target_domain
    hidden_sets = []
    for batches in strategy.epochs:
        seen = set(zip(*batches[0].edge_index.tolist(), strict=True))
        assert all(b.edge_index is batches[0].edge_index for b in batches)  # one graph an epoch
        missing = full - seen
        hidden = {u for u, _ in missing if u < graph.num_users}
        hidden_sets.append(hidden)
        assert len(hidden) == round(0.25 * int(eligible.sum()))
        assert all(eligible[u] for u in hidden)
        # every target edge of a hidden user is gone, both ways; nothing else is
        want = {(u, graph.num_users + i) for u, i in pairs.T.tolist() if u in hidden and target[i]}
        assert missing == want | {(b, a) for a, b in want}
        # the loss covers the hidden pairs, at twice their weight; the rest at 1
        users = torch.cat([b.users for b in batches])
        pos = torch.cat([b.pos for b in batches])
        weight = torch.cat([b.weight for b in batches])
        is_hidden = torch.tensor([u in hidden for u in users.tolist()]) & target[pos]
        assert int(is_hidden.sum()) == len(want)
        assert torch.all(weight[is_hidden] == 2.0) and torch.all(weight[~is_hidden] == 1.0)
    assert hidden_sets[0] != hidden_sets[1]  # drawn afresh each epoch


def test_cold_start_training_is_seeded_and_resumes_exactly(experiment, tmp_path: Path):
    rule = HideTargetEdges(0.3)
    model_a, a = fit_lightgcn(experiment, epochs=4, seed=1, cold_start=rule)
    _, b = fit_lightgcn(experiment, epochs=4, seed=1, cold_start=rule)
    _, plain = fit_lightgcn(experiment, epochs=4, seed=1)
    assert a.history == b.history and a.history != plain.history
    checkpoint = tmp_path / "checkpoint.pt"
    fit_lightgcn(experiment, epochs=2, seed=1, cold_start=rule, checkpoint=checkpoint)
    resumed, c = fit_lightgcn(
        experiment, epochs=4, seed=5, cold_start=rule, checkpoint=checkpoint, resume=True
    )
    assert c.history == a.history
    for key, value in model_a.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


@pytest.mark.parametrize("objective", [BPR(reg_weight=1e-3), Softmax(num_negatives=5)])
def test_cold_start_training_works_with_each_objective(experiment, objective):
    rule = HideTargetEdges(0.5, weight=2.0)
    _, with_hiding = fit_lightgcn(experiment, epochs=2, cold_start=rule, objective=objective)
    _, without = fit_lightgcn(experiment, epochs=2, objective=objective)
    losses = [h["loss"] for h in with_hiding.history]
    assert all(math.isfinite(x) for x in losses)
    assert losses != [h["loss"] for h in without.history]


# -- runs ---------------------------------------------------------------------------------

SMALL = {"epochs": 2, "dim": 8, "batch_size": 128, "progress": False}


def test_the_cli_trains_for_cold_start_users(tmp_path, tiny_recbole, capsys):
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--epochs", "2", "--dim", "8"]
    options = ["--cold-start-share", "0.3", "--cold-start-weight", "2"]
    args = build_parser(argv).parse_args([*argv, *options, "--out", "r"])
    assert (args.cold_start_share, args.cold_start_weight) == (0.3, 2.0)
    assert main([*argv, *options, "--out", str(tmp_path / "r")]) == 0
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["settings"]["cold_start_share"] == 0.3
    assert info["settings"]["cold_start_weight"] == 2.0
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["test"]["cold"]["users"]


def test_the_cross_domain_model_trains_for_cold_start_users(tmp_path, text_store):
    run = train(
        "cross-domain",
        protocol="ml1m-action-comedy",
        store=text_store,
        out=tmp_path / "cd",
        objective="softmax",
        cold_start_share=0.5,
        **SMALL,
    )
    assert run.info["settings"]["cold_start_share"] == 0.5
    assert all(math.isfinite(h["loss"]) for h in run.info["training"]["history"])


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        ("lightgcn", ["--cold-start-share", "0.2"], "lightgcn does not propagate over every"),
        ("popularity", ["--cold-start-share", "0.2"], "models that do: lightgcn-merged"),
        ("lightgcn-merged", ["--cold-start-share", "1.5"], r"must lie in \[0, 1\]"),
        ("lightgcn-merged", ["--cold-start-share", "-0.1"], r"must lie in \[0, 1\]"),
        (
            "lightgcn-merged",
            ["--cold-start-share", "0.2", "--cold-start-weight", "0"],
            "cold_start_weight must be positive",
        ),
    ],
)
def test_bad_cold_start_settings_fail_before_reading_data(
    tmp_path, model, options, message, capsys
):
    argv = ["train", "--model", model, "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "r"), *options]
    assert main(argv) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_cold_start_training_needs_full_batches():
    settings = {"model": "cross-domain", "cold_start_share": 0.2, "batching": "neighbor"}
    with pytest.raises(InputError, match="--batching full"):
        check_settings(settings)
