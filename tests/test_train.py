"""Training and evaluation: determinism, resume, early stopping, negatives, masking, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.nn.models import LightGCN

from kgrec.cli import main
from kgrec.data.export import message_graph, to_hetero_data
from kgrec.data.split import make_split
from kgrec.evaluate import evaluate, rank_items
from kgrec.models import LightGCNRecommender, Popularity
from kgrec.train import NegativeSampler, bpr_loss, fit
from tests.data.test_split import two_domain_tables


@pytest.fixture(scope="module")
def experiment():
    data, maps = to_hetero_data(two_domain_tables(seed=1, num_users=40))
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
    top = rank_items(model, graph, users=users, candidates=candidates, known=known, k=20)
    for row, user in enumerate(users.tolist()):
        mine = set(known[1, known[0] == user].tolist())
        items = [int(candidates[p]) for p in top[row].tolist() if p < len(candidates)]
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


def write_recbole(folder: Path, seed: int = 0) -> Path:
    """A small RecBole dataset with ml-1m style genres: 30 action and 30 comedy films."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    films = [(f"Action {j}", "Action Thriller") for j in range(30)]
    films += [(f"Comedy {j}", "Comedy Romance") for j in range(30)]
    films += [("Both (1999)", "Action Comedy")]  # left out by the rule
    lines = ["item_id:token\tgenre:token"] + [f"{t}\t{g}" for t, g in films]
    (folder / "tiny.item").write_text("\n".join(lines) + "\n")
    rows = ["user_id:token\titem_id:token\trating:float"]
    for u in range(40):
        for j in rng.choice(61, size=int(rng.integers(8, 25)), replace=False):
            rows.append(f"u{u}\t{films[j][0]}\t4")
    (folder / "tiny.inter").write_text("\n".join(rows) + "\n")
    return folder


def test_cli_split_train_evaluate(tmp_path: Path, capsys) -> None:
    data = write_recbole(tmp_path / "tiny")
    assert (
        main(
            [
                "split",
                "--protocol",
                "ml1m-action-comedy",
                "--seed",
                "1",
                "--data",
                str(data),
                "--write-split",
                str(tmp_path / "split"),
            ]
        )
        == 0
    )
    assert (tmp_path / "split" / "test.tsv").read_text().startswith("user_id\titem_id\n")
    common = ["--data", str(data), "--epochs", "3", "--dim", "8", "--batch-size", "128"]
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--model",
                "lightgcn-merged",
                "--protocol",
                "ml1m-action-comedy",
                "--seed",
                "1",
                "--out",
                str(run),
                *common,
            ]
        )
        == 0
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"valid", "test"}
    assert set(metrics["test"]) == {"all", "warm", "cold"}
    assert metrics["test"]["cold"]["users"] > 0
    # the protocol's split is the one `kgrec split` wrote
    assert (run / "split" / "test.tsv").read_text() == (tmp_path / "split" / "test.tsv").read_text()
    train_table = capsys.readouterr().out
    assert main(["evaluate", "--run", str(run)]) == 0
    evaluate_table = capsys.readouterr().out.strip()
    assert evaluate_table in train_table  # the same figures again
    assert f"{metrics['test']['warm']['ndcg@20']:.4f}" in evaluate_table

    # split files in (the target domain found from their item ids): the same split back
    pop = tmp_path / "pop"
    assert (
        main(
            [
                "train",
                "--model",
                "popularity",
                "--split",
                str(tmp_path / "split"),
                "--domain-rule",
                "ml1m-action-comedy",
                "--out",
                str(pop),
                *common,
            ]
        )
        == 0
    )
    assert (pop / "split" / "valid.tsv").read_text() == (
        tmp_path / "split" / "valid.tsv"
    ).read_text()


def test_cli_reports_bad_split_files(tmp_path: Path, capsys) -> None:
    data = write_recbole(tmp_path / "tiny")
    split = tmp_path / "split"
    main(
        [
            "split",
            "--protocol",
            "ml1m-action-comedy",
            "--data",
            str(data),
            "--write-split",
            str(split),
        ]
    )
    with (split / "test.tsv").open("a") as handle:
        handle.write("u1\tNo Such Film\n")
    lines = (split / "test.tsv").read_text().count("\n")
    code = main(
        [
            "train",
            "--model",
            "popularity",
            "--split",
            str(split),
            "--data",
            str(data),
            "--domain-rule",
            "ml1m-action-comedy",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"test.tsv, line {lines}, field 'item_id'" in err and "No Such Film" in err
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_store_and_folder_give_the_same_split(tmp_path: Path) -> None:
    from kgrec.store import open_store
    from loaders import recbole
    from loaders.rules import named_rule

    data = write_recbole(tmp_path / "tiny")
    with open_store(f"local:{tmp_path / 'store'}") as store:
        store.write(
            recbole.load(data, domain_rule=named_rule("ml1m-action-comedy")), progress=False
        )
    for source, folder in (
        (["--data", str(data)], "a"),
        (["--store", f"local:{tmp_path / 'store'}"], "b"),
    ):
        argv = ["split", "--protocol", "ml1m-action-comedy", "--seed", "4", *source]
        assert main([*argv, "--write-split", str(tmp_path / folder)]) == 0
    for name in ("train", "valid", "test"):
        assert (tmp_path / "a" / f"{name}.tsv").read_text() == (
            tmp_path / "b" / f"{name}.tsv"
        ).read_text()


def test_neighbor_batching_is_refused_for_full_batch_models(tmp_path: Path, capsys) -> None:
    data = write_recbole(tmp_path / "tiny")
    code = main(
        [
            "train",
            "--model",
            "lightgcn",
            "--protocol",
            "ml1m-action-comedy",
            "--data",
            str(data),
            "--batching",
            "neighbor",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    assert "--batching neighbor" in capsys.readouterr().err
