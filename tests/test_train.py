"""Training and evaluation: determinism, resume, early stopping, negatives, masking."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch_geometric.nn.models import LightGCN

from kgrec.data.export import message_graph, to_hetero_data
from kgrec.data.split import make_split
from kgrec.evaluate import PHASES, evaluate
from kgrec.models import LightGCNRecommender, Popularity
from kgrec.objectives import BPR, Softmax
from kgrec.ranking import rank
from kgrec.train import FullGraph, NegativeSampler, NotFinite, fit


@pytest.fixture
def experiment(make_two_domains):
    data, maps = to_hetero_data(make_two_domains(seed=1, num_users=40))
    split = make_split(data, maps, "ml1m-action-comedy", seed=0)
    pairs = split.training_interactions(data, all_domains=True)
    graph = message_graph(data, interactions=pairs, knowledge=False)
    return data, maps, split, pairs, graph


def train_lightgcn(experiment, *, seed: int, epochs: int = 4, **options):
    _, _, split, pairs, graph = experiment
    torch.manual_seed(seed)
    model = LightGCNRecommender(graph.num_users, graph.num_items, embedding_dim=8, num_layers=2)
    options = {"lr": 0.05, "batch_size": 64, "patience": 50, "progress": False, **options}
    result = fit(model, graph, split, pairs, epochs=epochs, seed=seed, **options)
    return model, result


def test_same_seed_gives_the_same_metrics(experiment) -> None:
    _, _, split, _, graph = experiment
    model_a, result_a = train_lightgcn(experiment, seed=3)
    model_b, result_b = train_lightgcn(experiment, seed=3)
    assert result_a.history == result_b.history
    assert evaluate(model_a, graph, split, "test") == evaluate(model_b, graph, split, "test")
    _, result_c = train_lightgcn(experiment, seed=4)
    assert result_c.history != result_a.history


def test_resume_continues_as_if_never_interrupted(experiment, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.pt"
    whole, whole_result = train_lightgcn(experiment, seed=1, epochs=5)
    train_lightgcn(experiment, seed=1, epochs=2, checkpoint=checkpoint)
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["epoch"] == 2 and len(saved["history"]) == 2
    # a different initial model: the checkpoint must replace it
    resumed, resumed_result = train_lightgcn(
        experiment, seed=9, epochs=5, checkpoint=checkpoint, resume=True
    )
    assert resumed_result.history == whole_result.history
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_a_checkpoint_keeps_the_gpu_generator(monkeypatch, tmp_path: Path) -> None:
    """Before, only the CPU generator's state was saved: on a GPU a resumed run's neighbour
    sampling, contrastive noise and text view drew the first epoch's numbers again. (No GPU
    here: torch.cuda's two state functions are stood in for.)"""
    from kgrec import train as training

    gpu_state, restored = torch.arange(4, dtype=torch.uint8), []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device=None: gpu_state)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device=None: restored.append(s))
    model = torch.nn.Linear(2, 2)
    optimizer, generator = torch.optim.Adam(model.parameters()), torch.Generator()
    state = training._State(best_state=training._copy_state(model))
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    path = tmp_path / "checkpoint.pt"
    training._save(path, state, model, optimizer, generator, [training._rng_state(cuda)])
    training._restore(training._read(path), model, optimizer, generator, cuda)
    assert len(restored) == 1 and torch.equal(restored[0], gpu_state)
    training._restore(training._read(path), model, optimizer, generator, cpu)
    assert len(restored) == 1  # a run resumed on the CPU has no GPU generator to set
    # a checkpoint of an earlier kgrec holds the CPU's state alone, and still resumes
    training._save(path, state, model, optimizer, generator, [torch.get_rng_state()])
    training._restore(training._read(path), model, optimizer, generator, cuda)
    assert len(restored) == 1


def test_early_stopping_keeps_the_best_state(experiment, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.pt"
    model, result = train_lightgcn(
        experiment, seed=0, epochs=50, lr=0.0, patience=3, checkpoint=checkpoint
    )
    # lr 0: the metric never improves after epoch 1, so training stops after 1 + 3 epochs
    assert (result.best_epoch, result.epochs_run) == (1, 4)
    best = torch.load(checkpoint, weights_only=True)["best_model"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in best.items())

    model, result = train_lightgcn(experiment, seed=0, epochs=30, lr=0.1, patience=2)
    history = [h["ndcg@20"] for h in result.history]
    assert result.best_metric == max(history)
    assert result.epochs_run <= result.best_epoch + 2
    _, _, split, _, graph = experiment
    assert evaluate(model, graph, split, "valid")["all"]["ndcg@20"] == pytest.approx(
        result.best_metric
    )


def test_negatives_come_from_the_positives_domain_and_are_never_positives(experiment) -> None:
    _, _, _, pairs, graph = experiment
    sampler = NegativeSampler(pairs, graph.item_domain, graph.num_items)
    users, pos = pairs.repeat(1, 20)
    neg = sampler.sample(users, pos, torch.Generator().manual_seed(0))
    assert torch.equal(graph.item_domain[neg], graph.item_domain[pos])
    known = set(map(tuple, pairs.T.tolist()))
    assert not any((u, j) in known for u, j in zip(users.tolist(), neg.tolist(), strict=True))
    # every item of a domain can be drawn
    assert set(neg.tolist()) == set(range(graph.num_items))


def test_items_of_domain_minus_one_are_never_drawn(experiment) -> None:
    _, _, _, pairs, graph = experiment
    domain = graph.item_domain.clone()
    hidden = torch.arange(graph.num_items) % 3 == 0  # as a new-item protocol's held-out items:
    pairs = pairs[:, ~hidden[pairs[1]]]  # never a positive
    domain[hidden] = -1
    sampler = NegativeSampler(pairs, domain, graph.num_items)
    users, pos = pairs.repeat(1, 20)
    neg = sampler.sample(users, pos, torch.Generator().manual_seed(0))
    assert not hidden[neg].any()
    assert torch.equal(domain[neg], domain[pos])
    assert set(neg.tolist()) == set(torch.nonzero(~hidden).flatten().tolist())


def test_lightgcn_is_pygs_lightgcn() -> None:
    torch.manual_seed(0)
    users, items = 7, 9
    pairs = torch.unique(
        torch.stack([torch.randint(0, users, (30,)), torch.randint(0, items, (30,))]), dim=1
    )
    edges = torch.cat(
        [pairs + torch.tensor([[0], [users]]), (pairs + torch.tensor([[0], [users]])).flip(0)], 1
    )
    model = LightGCNRecommender(users, items, embedding_dim=5, num_layers=3)
    reference = LightGCN(users + items, 5, 3)
    reference.embedding.weight.data.copy_(model.lightgcn.embedding.weight)
    out, want = model(edges), reference.get_embedding(edges)
    assert torch.allclose(out, want, atol=1e-6)
    out.pow(2).sum().backward()
    want.pow(2).sum().backward()
    assert torch.allclose(
        model.lightgcn.embedding.weight.grad, reference.embedding.weight.grad, atol=1e-6
    )
    with pytest.raises(ValueError, match="both directions"):
        model(edges[:, : pairs.size(1)])
    with pytest.raises(ValueError, match="beyond the 16 users and items"):
        model(torch.tensor([[0, 20], [20, 0]]))


def test_popularity_ranks_by_training_count_and_masks_known_items(experiment) -> None:
    _, _, split, _, _ = experiment
    data = experiment[0]
    graph = message_graph(data, interactions=split.train, knowledge=False)
    model = Popularity(graph.num_users, graph.num_items)
    assert fit(model, graph, split, split.train, progress=False).epochs_run == 0
    counts = torch.bincount(split.train[1], minlength=graph.num_items)
    candidates = torch.nonzero(graph.item_domain == split.target_domain).flatten()
    users = split.test[0].unique()
    known = torch.cat([split.train, split.valid], dim=1)
    user_emb, item_emb = model.split(model(graph.edge_index))
    top, top_scores = rank(
        user_emb, item_emb, users=users, candidates=candidates, known=known, k=20
    )
    for row, user in enumerate(users.tolist()):
        mine = set(known[1, known[0] == user].tolist())
        items = top[row][torch.isfinite(top_scores[row])].tolist()
        assert not mine & set(items)
        scores = counts[items].tolist()
        assert scores == sorted(scores, reverse=True)
        rest = set(candidates.tolist()) - mine - set(items)
        assert all(counts[i] <= scores[-1] for i in rest)


def test_evaluation_reports_warm_and_cold_users(experiment) -> None:
    _, _, split, _, graph = experiment
    model, _ = train_lightgcn(experiment, seed=0, epochs=1)
    results = evaluate(model, graph, split, "test")
    cold = split.cold_users(graph.num_users)
    test_users = split.test[0].unique()
    assert results["cold"]["users"] == int(cold[test_users].sum()) > 0
    assert results["warm"]["users"] == int((~cold[test_users]).sum()) > 0
    assert results["all"]["users"] == len(test_users)
    for name in ("recall@20", "ndcg@10", "precision@10", "hit@20", "mrr@10"):  # user averages
        mixed = (
            results["warm"][name] * results["warm"]["users"]
            + results["cold"][name] * results["cold"]["users"]
        ) / results["all"]["users"]
        assert results["all"][name] == pytest.approx(mixed, abs=1e-6)
    with pytest.raises(ValueError, match="phase must be one of"):
        evaluate(model, graph, split, "train")


def test_one_evaluation_runs_the_model_once_for_both_phases(experiment, monkeypatch) -> None:
    _, _, split, _, graph = experiment
    model, _ = train_lightgcn(experiment, seed=0, epochs=1)
    calls = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    both = evaluate(model, graph, split, PHASES, batch_size=7)  # several batches of users
    assert len(calls) == 1
    # the same batches alone: batches of other sizes score by other kernels, to rounding
    # (tests/test_metrics.py checks the batch size with scores that round alike everywhere)
    assert both["valid"] == evaluate(model, graph, split, "valid", batch_size=7)
    assert both["test"] == evaluate(model, graph, split, "test", batch_size=7)


def test_a_user_with_all_but_one_item_gets_that_one_as_negative():
    # before: after 100 rounds of clashes the last draw stayed, a positive itself (with 1 free
    # item of 1,000, in nine draws of ten)
    n = 1000
    pairs = torch.stack([torch.zeros(n - 1, dtype=torch.long), torch.arange(n - 1)])
    sampler = NegativeSampler(pairs, torch.zeros(n, dtype=torch.long), n)
    neg = sampler.sample(
        torch.zeros(20, dtype=torch.long), torch.arange(20), torch.Generator().manual_seed(0)
    )
    assert neg.tolist() == [n - 1] * 20


def test_a_diverging_training_says_so(experiment, caplog) -> None:
    """Before, a rate far too high (the loss from 0.69 to tens, finite) trained on without a
    word and the run reported its best epoch as if all were well (since session 26)."""
    with caplog.at_level(logging.WARNING, logger="kgrec.train"):
        train_lightgcn(experiment, seed=0, epochs=3, lr=10.0)
    assert [r for r in caplog.records if "diverges (lower --lr)" in r.message]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kgrec.train"):
        train_lightgcn(experiment, seed=0, epochs=3)
    assert not [r for r in caplog.records if "diverges" in r.message]


class _ScoresNaN(LightGCNRecommender):
    """A LightGCN that trains as one, but scores user ``nan_user`` NaN in eval mode: a
    diverged model whose training loss stayed finite."""

    nan_user = 0

    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        if not self.training:
            out[self.nan_user] = float("nan")
        return out


def test_nan_validation_scores_stop_the_training_as_a_nan_loss_does(experiment) -> None:
    """Before, validation ranked a NaN score as a masked item and training went on as if the
    model were fine; now it stops as a NaN loss does (NotFinite: "lower --lr")."""
    _, _, split, pairs, graph = experiment
    model = _ScoresNaN(graph.num_users, graph.num_items, embedding_dim=8, num_layers=2)
    model.nan_user = int(split.valid[0, 0])  # a validation user
    with pytest.raises(
        NotFinite,
        match=r"^field '--lr': the model's validation scores are NaN or infinite for 1 user\(s\) "
        r"at epoch 1; lower --lr$",
    ):
        fit(model, graph, split, pairs, epochs=2, batch_size=64, progress=False)


@pytest.mark.parametrize(
    "objective", [Softmax(temperature=1e-30), BPR(reg_weight=1e30)], ids=["temperature", "reg"]
)
def test_an_overflow_that_stops_all_learning_stops_the_training(experiment, objective) -> None:
    """Before, the loss stayed finite (about 1e27) but its gradients' squares overflowed
    float32: Adam's steps were 0, nothing trained, and the run ended well with the untrained
    model (--temperature 1e-30 or --reg-weight 1e30, exit 0)."""
    with pytest.raises(NotFinite, match=r"gradients overflowed .* at epoch 1; lower --lr"):
        train_lightgcn(experiment, seed=0, epochs=2, objective=objective)


def test_a_resumed_training_warns_of_divergence_as_the_uninterrupted_one(
    experiment, tmp_path: Path, caplog
) -> None:
    """Before, a resumed training measured divergence against the first batch of the epoch it
    resumed at, not the untrained model's: a run stopped before its loss rose tenfold, then
    resumed, diverged without a word (lr 3: the loss from 0.69 to 9 at epoch 4)."""

    def warnings(**options) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="kgrec.train"):
            train_lightgcn(experiment, seed=0, lr=3.0, **options)
        return [r.message for r in caplog.records if "diverges" in r.message]

    whole = warnings(epochs=8)
    assert len(whole) == 1 and "at epoch 4, from 0.6903 on the first batch" in whole[0]
    checkpoint = tmp_path / "checkpoint.pt"
    assert warnings(epochs=2, checkpoint=checkpoint) == []
    assert warnings(epochs=8, checkpoint=checkpoint, resume=True) == whole


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"epochs": "2"}, "epochs must be an integer, got '2'"),
        ({"epochs": 2.5}, "epochs must be an integer, got 2.5"),
        ({"seed": "1"}, "seed must be an integer, got '1'"),
        ({"lr": "0.01"}, "lr must be a number, got '0.01'"),
        ({"target_weight": "2"}, "target_weight must be a number, got '2'"),
        ({"objective": "bpr"}, "objective must be an objective of kgrec.objectives"),
        ({"objective": BPR}, r"objective must be .* \(an instance: BPR\(\)\)"),
        (
            {"epoch_strategy": FullGraph},
            r"epoch_strategy must be an instance, .* \(FullGraph\(\)\)",
        ),
        ({"train_pairs": "list"}, r"train_pairs must be a torch\.Tensor, got list"),
        # before: taken for their truth, "False" resumed (train() refuses them since session 59)
        ({"resume": "False"}, "resume must be True or False, got 'False'"),
        ({"progress": 0}, "progress must be True or False, got 0"),
        ({"checkpoint": 5}, "checkpoint must be a path .*, got 5"),
    ],
)
def test_fit_refuses_an_argument_of_the_wrong_type_naming_it(experiment, options, says) -> None:
    """Before: a bare TypeError from a comparison ("'<=' not supported between instances of
    'str' and 'int'"), torch's "manual_seed expected a long", an AttributeError ("'list' object
    has no attribute 'cpu'"), or, for a name or a class in place of an objective or an epoch
    strategy, a TypeError from inside the first batch."""
    _, _, split, pairs, graph = experiment
    model = LightGCNRecommender(graph.num_users, graph.num_items, embedding_dim=8)
    if options.get("train_pairs") == "list":
        options = {"train_pairs": pairs.tolist()}
    arguments = {"train_pairs": pairs, "epochs": 1, "progress": False, **options}
    with pytest.raises(TypeError, match=says):
        fit(model, graph, split, **arguments)


def test_fit_takes_its_checkpoint_as_text(experiment, tmp_path: Path, monkeypatch) -> None:
    """A path as a str, as a notebook writes it (before: AttributeError "'str' object has no
    attribute 'parent'" as the first checkpoint was written)."""
    monkeypatch.chdir(tmp_path)
    train_lightgcn(experiment, seed=1, epochs=1, checkpoint="checkpoint.pt")
    assert (tmp_path / "checkpoint.pt").is_file()


def test_message_graph_refuses_interactions_that_are_no_tensor(experiment) -> None:
    # before: "can only concatenate list (not "Tensor") to list"
    data, _, split, _, _ = experiment
    with pytest.raises(TypeError, match=r"interactions must be a \[2, E\] torch\.Tensor"):
        message_graph(data, interactions=split.train.tolist())


def test_fit_takes_numpy_integers(experiment) -> None:
    """A count or seed from numpy or pandas (np.int64) is the number it holds. Before, torch's
    bare "an integer is required" from a NumPy seed, and this session's type checks of fit
    refused a NumPy count as no integer (found by the read46 review)."""
    import numpy as np

    _, a = train_lightgcn(experiment, seed=np.int64(1), epochs=np.int64(1))
    _, b = train_lightgcn(experiment, seed=1, epochs=1)
    assert a.best_metric == b.best_metric


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda p: p.T.contiguous(), r"train_pairs must be \[2, N\] .*, got shape \[\d+, 2\]"),
        (lambda p: p.float(), "train_pairs must hold integer indices, got torch.float32"),
        (lambda p: torch.cat([p, torch.tensor([[0], [-1]])], 1), "train_pairs hold item index -1"),
        (lambda p: torch.cat([p, torch.tensor([[-1], [0]])], 1), "train_pairs hold user index -1"),
        (lambda p: p + torch.tensor([[0], [40]]), r"train_pairs hold item index \d+, .* 60 items"),
        # before: "trained" with loss 0.0, its best epoch 1
        (lambda p: p[:, :0], "train_pairs hold no pair: there is nothing to train on"),
    ],
    ids=["transposed", "float", "item -1", "user -1", "item past the items", "empty"],
)
def test_fit_refuses_pairs_outside_the_graph_naming_them(experiment, change, says) -> None:
    """Before, a -1 was silently the last user or item (a pair that does not exist trained
    on); a [N, 2] tensor, a float one or an index past the items were torch's bare errors from
    inside the negative sampler ("too many values to unpack", "tensors used as indices must be
    long", "index 60 is out of bounds")."""
    _, _, split, pairs, graph = experiment
    model = LightGCNRecommender(graph.num_users, graph.num_items, embedding_dim=8)
    with pytest.raises(ValueError, match=says):
        fit(model, graph, split, change(pairs), epochs=1, progress=False)


def test_fit_takes_int32_pairs_as_the_int64_ones(experiment) -> None:
    """Before: "Index put requires the source and destination dtypes match, got Int for the
    destination and Long for the source", from inside the negative sampler."""
    _, a = train_lightgcn(experiment, seed=1, epochs=1)
    _, _, split, pairs, graph = experiment
    torch.manual_seed(1)
    model = LightGCNRecommender(graph.num_users, graph.num_items, embedding_dim=8, num_layers=2)
    options = {"lr": 0.05, "batch_size": 64, "patience": 50, "progress": False, "seed": 1}
    b = fit(model, graph, split, pairs.int(), epochs=1, **options)
    assert a.history == b.history
