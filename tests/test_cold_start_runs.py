"""Runs on the cold-start protocols (issue 13): few-shot users, new items, text similarity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import kgrec.models
from kgrec.cli import main
from kgrec.errors import InputError
from kgrec.experiment import (
    EXPERIMENT_FILE,
    build_run,
    describe,
    load_experiment,
    load_run,
    read_experiment,
    train,
)

SMALL = {"epochs": 3, "dim": 8, "batch_size": 128, "progress": False}


@pytest.mark.usefixtures("on_the_cpu")  # compares with the store's text on the CPU
def test_text_similarity_scores_cosine_to_the_users_history(tmp_path, text_store):
    run = train(
        "text-similarity", protocol="ml1m-new-items", store=text_store, out=tmp_path / "r", **SMALL
    )
    assert isinstance(run.model, kgrec.models.TextSimilarity)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert {"warm-items", "new-items", "new-only"} <= set(metrics["test"])
    graph, split = run.graph, run.experiment.split
    users, items = run.model.split(run.model(graph.edge_index, graph.edge_type))
    text = graph.x[graph.num_users : graph.num_users + graph.num_items]
    pairs = split.training_interactions(run.experiment.data, all_domains=True)
    user = int(split.test[0, 0])
    history = text[pairs[1, pairs[0] == user]]
    mean = torch.nn.functional.normalize(history, dim=1).mean(0)
    want = torch.nn.functional.cosine_similarity(mean[None], text)
    assert torch.allclose(users[user] @ items.T, want, atol=1e-5)


def test_text_similarity_without_text_says_so(tiny_recbole):
    experiment = load_experiment(
        data=tiny_recbole, store=None, protocol="ml1m-new-items", split_dir=None, seed=0
    )
    with pytest.raises(InputError, match="kgrec embed"):
        build_run(experiment, {"model": "text-similarity"})


def test_new_item_split_files_give_the_same_evaluation(tmp_path: Path, tiny_recbole, capsys):
    data = str(tiny_recbole)
    first = tmp_path / "protocol"
    argv = ["train", "--model", "popularity", "--data", data, "--out", str(first)]
    assert main([*argv[:-2], "--protocol", "ml1m-new-items", "--out", str(first)]) == 0
    out = capsys.readouterr().out
    assert "new-items" in out and "warm-items" in out
    assert (first / "split" / "new_items.tsv").exists()
    again = tmp_path / "files"
    argv = ["train", "--model", "popularity", "--data", data, "--domain-rule"]
    argv += ["ml1m-action-comedy", "--split", str(first / "split"), "--out", str(again)]
    assert main(argv) == 0
    one = json.loads((first / "metrics.json").read_text())
    two = json.loads((again / "metrics.json").read_text())
    assert one == two
    # popularity scores every new item 0: they only fill the slots no warm item is left for
    assert one["test"]["new-items"]["ndcg@10"] == 0.0
    assert one["test"]["new-items"]["users"] > 0


def test_few_shot_runs_report_the_group(tmp_path: Path, tiny_recbole, capsys):
    data = str(tiny_recbole)
    base = ["train", "--model", "popularity", "--protocol", "ml1m-action-comedy", "--data", data]
    assert main([*base, "--out", str(tmp_path / "k0")]) == 0
    assert main([*base, "--few-shot", "3", "--out", str(tmp_path / "k3")]) == 0
    k0 = json.loads((tmp_path / "k0" / "metrics.json").read_text())
    k3 = json.loads((tmp_path / "k3" / "metrics.json").read_text())
    assert "few-shot" not in k0["test"] and k3["test"]["few-shot"]["users"] > 0
    assert k3["test"]["cold"]["users"] < k0["test"]["cold"]["users"]
    assert (tmp_path / "k3" / "split" / "few_shot_users.tsv").exists()
    info = json.loads((tmp_path / "k3" / "run.json").read_text())
    assert info["settings"]["few_shot"] == 3
    assert "few-shot" in capsys.readouterr().out
    # the run's split files give the same groups back
    argv = ["train", "--model", "popularity", "--data", data, "--domain-rule"]
    argv += ["ml1m-action-comedy", "--split", str(tmp_path / "k3" / "split")]
    assert main([*argv, "--out", str(tmp_path / "files")]) == 0
    assert json.loads((tmp_path / "files" / "metrics.json").read_text()) == k3
    # a protocol without cold-start users is refused
    bad = ["train", "--model", "popularity", "--protocol", "ml1m-new-items", "--data", data]
    assert main([*bad, "--few-shot", "1", "--out", str(tmp_path / "bad")]) == 2
    assert "--few-shot" in capsys.readouterr().err


def test_split_prints_the_few_shot_users_and_k(tmp_path: Path, tiny_recbole, capsys):
    """``kgrec split --few-shot K`` says how many few-shot users it wrote, and K, beside the
    other counts (they are no longer counted cold). Before, nothing named them or K."""
    split = ["split", "--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole)]
    assert main([*split, "--few-shot", "2", "--write-split", str(tmp_path / "k2")]) == 0
    out = capsys.readouterr().out
    listed = (tmp_path / "k2" / "few_shot_users.tsv").read_text().split("\n")[1:-1]
    assert listed
    line = next((line for line in out.splitlines() if line.startswith("few-shot")), out)
    assert line.split()[1:5] == [str(len(listed)), "users,", "K", "="] and "= 2 (" in line
    assert main([*split, "--write-split", str(tmp_path / "k0")]) == 0
    assert "few-shot" not in capsys.readouterr().out


def test_a_warm_user_added_to_few_shot_users_tsv_is_refused(tmp_path: Path, tiny_recbole, capsys):
    """``kgrec split --few-shot K`` records K in split.json, and a user of few_shot_users.tsv
    with more than K target-domain training interactions (a warm user, added by hand) is
    refused naming the file, line and field, exit 2. Before, it was trained on as a few-shot
    user and reported in the group ``few-shot``."""
    data = ["--data", str(tiny_recbole)]
    folder = tmp_path / "k2"
    split = ["split", "--protocol", "ml1m-action-comedy", *data, "--few-shot", "2"]
    assert main([*split, "--write-split", str(folder)]) == 0
    assert json.loads((folder / "split.json").read_text())["few_shot"] == 2

    def users(part: str) -> list[str]:
        lines = (folder / f"{part}.tsv").read_text().split("\n")[1:-1]  # no header, last end
        return [line.split("\t")[0] for line in lines]

    trained, held = users("train"), set(users("valid") + users("test"))
    warm = next(u for u in sorted(set(trained)) if trained.count(u) > 2 and u in held)
    listed = (folder / "few_shot_users.tsv").read_text().split("\n")[:-1]
    (folder / "few_shot_users.tsv").write_text("\n".join([*listed, warm]) + "\n")
    argv = ["train", "--model", "popularity", *data, "--domain-rule", "ml1m-action-comedy"]
    assert main([*argv, "--split", str(folder), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'few_shot_users.tsv'}, line {len(listed) + 1}, field 'user_id'" in err
    assert f"{warm!r} has {trained.count(warm)} target-domain training interactions" in err
    assert not (tmp_path / "r").exists()


def test_train_fraction_that_leaves_items_untrained_says_so(tiny_recbole, caplog):
    """On a new-item split, ``--train-fraction`` can drop every training interaction of an
    item that was not drawn new: the model never sees it, yet it is no new item (the split did
    not hold it out) nor a warm one, and a warning says how many. Before, it was counted a new
    item in the new-item groups beside the drawn ones."""
    args = dict(data=tiny_recbole, store=None, protocol="ml1m-new-items", split_dir=None, seed=0)
    drawn = load_experiment(**args).split.new_item_indices()
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        experiment = load_experiment(**args, train_fraction=0.2)
    split = experiment.split
    held_out = torch.cat([split.valid[1], split.test[1]]).unique()
    untrained = held_out[~torch.isin(held_out, split.train[1])]
    made = untrained[~torch.isin(untrained, drawn)]
    assert made.numel() and torch.equal(split.new_item_indices(), drawn)
    # not counted in the new-item groups (kgrec.evaluate)
    assert not split.new_items(experiment.data["item"].domain)[made].any()
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    want = f"{made.numel()} target item(s) with held-out interactions: the model never sees "
    want += f"them, and they are neither new items (the split's {drawn.numel()}, "
    assert any(want in m for m in messages), messages


def test_a_saved_run_keeps_the_splits_new_items_under_a_train_fraction(tmp_path, tiny_recbole):
    """experiment.pt keeps the split's new items, so a saved run (``kgrec evaluate``) scores
    the groups it was trained and reported with: not the items the fraction left untrained.
    Before, every held-out item without a training interaction was a new item there."""
    args = dict(data=tiny_recbole, store=None, protocol="ml1m-new-items", split_dir=None, seed=0)
    drawn = load_experiment(**args).split.new_item_indices()
    run = train(
        "popularity",
        protocol="ml1m-new-items",
        data=tiny_recbole,
        train_fraction=0.2,
        out=tmp_path / "r",
        progress=False,
    )
    assert torch.equal(run.experiment.split.new_item_indices(), drawn)
    loaded = load_run(tmp_path / "r")
    assert torch.equal(loaded.experiment.split.new_item_indices(), drawn)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert json.loads(json.dumps(loaded.evaluate())) == metrics


def test_a_saved_run_keeps_the_few_shot_k_and_train_fraction(tmp_path, tiny_recbole):
    """experiment.pt keeps the split's few-shot K and training fraction: ``kgrec train
    --resume`` prints the split from it (describe names K). Before, neither was kept, and the
    split read back had no K and a fraction of 1."""
    train(
        "popularity",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        few_shot=3,
        train_fraction=0.5,
        out=tmp_path / "r",
        progress=False,
    )
    split = read_experiment(tmp_path / "r" / EXPERIMENT_FILE).split
    assert split.few_shot_users.numel() and split.few_shot == 3
    assert split.train_fraction == 0.5
    assert ", K = 3 (" in describe(read_experiment(tmp_path / "r" / EXPERIMENT_FILE))
    # an older run's experiment.pt, without them, reads as before: K not recorded, no fraction
    payload = torch.load(tmp_path / "r" / EXPERIMENT_FILE, weights_only=True)
    for name in ("few_shot", "train_fraction", "fixed_new_items"):
        del payload["split"][name]
    torch.save(payload, tmp_path / "old.pt")
    old = read_experiment(tmp_path / "old.pt").split
    assert (old.few_shot, old.train_fraction, old.fixed_new_items) == (None, 1.0, None)
    assert torch.equal(old.few_shot_users, split.few_shot_users)
