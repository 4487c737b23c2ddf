"""The run layer (kgrec.experiment) and its commands: train, evaluate, recommend; a run that
keeps working, refuses to be overwritten, and resumes only with its own settings."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch_geometric

import kgrec.commands.recommend
import kgrec.data.split
import kgrec.errors
import kgrec.experiment
import kgrec.models
import kgrec.train
from kgrec.cli import build_parser, main
from kgrec.experiment import (
    TRAIN_DEFAULTS,
    build_run,
    load_experiment,
    load_run,
    never_read_options,
    train,
    unread_options,
)
from kgrec.models.registry import MODELS
from kgrec.ranking import embeddings
from kgrec.store import open_store
from loaders import recbole
from loaders.rules import named_rule

SMALL = {"epochs": 3, "dim": 8, "batch_size": 128, "progress": False}


@pytest.fixture
def trained(tmp_path, tiny_recbole):
    """A LightGCN run trained on the tiny dataset's files."""
    return train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "run",
        **SMALL,
    )


def test_train_takes_each_default_from_train_defaults() -> None:
    # kgrec train's parser and kgrec tune read train()'s defaults from TRAIN_DEFAULTS
    # (kgrec.settings, which imports no torch): a keyword argument with a default of its own
    # would be missing there
    signature = inspect.signature(train).parameters.values()
    defaults = {p.name: p.default for p in signature if p.default is not p.empty}
    # each mismatch said in words (before: pytest's diff of two lists of pairs, "At index 25
    # diff: ('score', 'dot') != ('margin', 1.0)", for an option added to TRAIN_DEFAULTS alone)
    missing = [name for name in TRAIN_DEFAULTS if name not in defaults]
    assert not missing, (
        f"TRAIN_DEFAULTS (kgrec/settings.py) has {missing}, which kgrec.experiment.train does "
        "not take: add each as a keyword argument whose default is TRAIN_DEFAULTS[name], in "
        "the same place among the others, and to kgrec train's parser (kgrec/commands/train.py)"
    )
    own = [name for name in defaults if name not in TRAIN_DEFAULTS]
    assert not own, (
        f"kgrec.experiment.train's keyword arguments {own} have a default of their own: give "
        "each its default in TRAIN_DEFAULTS (kgrec/settings.py) and take it from there"
    )
    differ = [
        f"{n}: {defaults[n]!r}, not {TRAIN_DEFAULTS[n]!r}"
        for n in defaults
        if defaults[n] != TRAIN_DEFAULTS[n]
    ]
    assert not differ, f"train()'s defaults differ from TRAIN_DEFAULTS': {differ}"
    assert list(defaults) == list(TRAIN_DEFAULTS), (
        "TRAIN_DEFAULTS (kgrec/settings.py) must list train()'s keyword arguments in its order: "
        f"{list(defaults)}"
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [("lr", "0.01"), ("target_weight", "2"), ("cold_start_share", "0.1"), ("lr", True)],
)
def test_a_number_that_is_no_number_is_refused_naming_its_option(
    tmp_path, tiny_recbole, option, value
):
    """``train(lr="0.01")`` (a value read from a config file or os.environ) was a bare
    TypeError ("'>' not supported between instances of 'str' and 'int'"), naming no option."""
    with pytest.raises(
        kgrec.errors.InputError,
        match=rf"field '--{option.replace('_', '-')}': {option} must be a number, got {value!r}",
    ):
        train(
            "lightgcn",
            protocol="ml100k-kg",
            data=tiny_recbole,
            out=tmp_path / "run",
            **{**SMALL, option: value},
        )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("model", "name", "value", "field"),
    [
        *[
            ("rgcn", "entity_embeddings", v, "--no-entity-embeddings")
            for v in ("False", "no", 0, None)
        ],
        ("lightgcn", "resume", "False", "--resume"),
        ("lightgcn", "progress", 0, "progress"),
    ],
)
def test_a_switch_that_is_no_bool_is_refused_naming_its_option(
    tmp_path, tiny_recbole, model, name, value, field
):
    """``train("rgcn", entity_embeddings="False")`` (a value read from a config file) trained
    with an ID embedding per entity, the string being true, and run.json recorded "False";
    ``resume="False"`` resumed, and ``progress=0`` hid the bars as False would (found by the
    models59 review)."""
    with pytest.raises(
        kgrec.errors.InputError,
        match=rf"field '{field}': {name} must be True or False, got {re.escape(repr(value))}",
    ):
        train(
            model,
            protocol="ml100k-kg",
            data=tiny_recbole,
            out=tmp_path / "run",
            **{**SMALL, name: value},
        )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [("dim", 2.5), ("layers", 1.5), ("epochs", True), ("cl_layer", 1.5), ("num_negatives", 2.5)],
)
def test_a_count_that_is_no_integer_is_refused_naming_its_option(
    tmp_path, tiny_recbole, option, value
):
    """The Python API: ``dim=2.5`` or ``layers=1.5`` was a model's bare TypeError ("num_layers
    must be an integer"), naming no option; ``cl_layer=1.5`` a TypeError from the objective."""
    extra = {"cl_weight": 0.1} if option == "cl_layer" else {}
    extra |= {"objective": "softmax"} if option == "num_negatives" else {}
    with pytest.raises(kgrec.errors.InputError, match=rf"field '--{option.replace('_', '-')}': "):
        train(
            "lightgcn-merged",
            protocol="ml1m-action-comedy",
            data=tiny_recbole,
            out=tmp_path / "run",
            **{**SMALL, **extra, option: value},
        )
    assert not (tmp_path / "run").exists()


def _resume(folder: Path, data: Path, **options):
    """Resume the LightGCN run of :func:`trained` in ``folder``, ``options`` (``epochs``, ...)
    replacing those of :data:`SMALL`."""
    return train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=data,
        out=folder,
        resume=True,
        **{**SMALL, **options},
    )


def test_cli_split_train_evaluate(tmp_path: Path, tiny_recbole, capsys) -> None:
    data = tiny_recbole
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
    assert set(metrics["test"]) == {
        "all",
        "warm",
        "cold",
        "act<=5",
        "act6-20",
        "act21-50",
        "act>50",
    }
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
                "--data",  # not common's training options: popularity trains nothing
                str(data),
            ]
        )
        == 0
    )
    assert (pop / "split" / "valid.tsv").read_text() == (
        tmp_path / "split" / "valid.tsv"
    ).read_text()


def test_cli_reports_bad_split_files(tmp_path: Path, tiny_recbole, capsys) -> None:
    data = tiny_recbole
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


def test_store_and_folder_give_the_same_split(tmp_path: Path, tiny_recbole, tiny_store) -> None:
    data = tiny_recbole
    for source, folder in (
        (["--data", str(data)], "a"),
        (["--store", tiny_store], "b"),
    ):
        argv = ["split", "--protocol", "ml1m-action-comedy", "--seed", "4", *source]
        assert main([*argv, "--write-split", str(tmp_path / folder)]) == 0
    for name in ("train", "valid", "test"):
        assert (tmp_path / "a" / f"{name}.tsv").read_text() == (
            tmp_path / "b" / f"{name}.tsv"
        ).read_text()


def test_neighbor_batching_is_refused_for_full_batch_models(
    tmp_path: Path, tiny_recbole, capsys
) -> None:
    data = tiny_recbole
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


@pytest.mark.parametrize(
    ("model", "options", "says"),
    [
        ("lightgcn", ["--lr", "-0.001"], "lr must be positive"),
        ("lightgcn", ["--lr", "0"], "lr must be positive"),
        ("lightgcn", ["--reg-weight", "nan"], "reg_weight must be a finite number"),
        ("lightgcn", ["--temperature", "inf", "--objective", "softmax"], "temperature must be"),
        ("cross-domain", ["--adversarial-weight", "-0.1"], "adversarial_weight must not be"),
        (
            "rgcn",
            ["--batching", "neighbor", "--objective", "softmax", "--num-negatives", "64"],
            "--num-negatives works with --batching full only",
        ),
    ],
)
def test_bad_settings_exit_2_before_the_run_is_written(
    tmp_path: Path, tiny_recbole, capsys, model, options, says
) -> None:
    # before the fix these crashed with a traceback (exit 1) after run.json, split/ and
    # experiment.pt were written, and the corrected command was refused: "already holds a run"
    argv = ["train", "--model", model, "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--epochs", "1", "--out", str(tmp_path / "run")]
    assert main([*argv, *options]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_cold_start_training_without_users_to_hide_exits_2_before_the_run_is_written(
    tmp_path: Path, datasets, capsys
) -> None:
    # ml100k-kg has one domain: no user has training interactions in it and in another
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml100k-kg", "--epochs", "1"]
    argv += ["--data", str(datasets / "ml-100k"), "--cold-start-share", "0.5"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--cold-start-share" in err and "needs warm users" in err
    assert not (tmp_path / "run").exists()


def test_library_and_cli_defaults_are_the_same():
    parser = build_parser(["train"])
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    for name, default in TRAIN_DEFAULTS.items():
        if name == "progress":
            continue
        flag = f"--{name.replace('_', '-')}"
        assert any(name == action.dest for action in train_parser._actions), (
            f"kgrec train's parser (kgrec/commands/train.py) has no option for {name} ({flag}?)"
        )
        assert train_parser.get_default(name) == default, f"{flag}: default differs from train()'s"
    # the models' own defaults agree with train()'s
    cross = inspect.signature(kgrec.models.CrossDomainRecommender).parameters
    assert cross["adversarial_weight"].default == TRAIN_DEFAULTS["adversarial_weight"]
    assert cross["embedding_dim"].default == TRAIN_DEFAULTS["dim"]
    assert cross["num_layers"].default == TRAIN_DEFAULTS["layers"]
    mf = inspect.signature(kgrec.models.MatrixFactorisation).parameters
    assert mf["embedding_dim"].default == TRAIN_DEFAULTS["dim"]
    ease = inspect.signature(kgrec.models.EASE).parameters
    assert ease["l2"].default == TRAIN_DEFAULTS["ease_lambda"]
    assert ease["text_weight"].default == TRAIN_DEFAULTS["ease_text_weight"]


def test_every_registered_model_builds_its_class(tiny_recbole):
    experiment = load_experiment(
        data=tiny_recbole, store=None, protocol="ml1m-action-comedy", split_dir=None, seed=0
    )
    for name, spec in MODELS.items():
        if name == "text-similarity":
            continue  # needs text vectors: tests/test_cold_start_runs.py builds it
        model, graph, pairs = build_run(experiment, {"model": name, "dim": 8})
        assert type(model) is getattr(kgrec.models, spec.model), name
        assert pairs.size(0) == 2 and graph.num_users == model.num_users


def test_a_run_returns_dataframes(trained):
    metrics = trained.metrics()
    assert list(metrics.columns[:3]) == ["phase", "group", "users"]
    assert set(metrics["phase"]) == {"valid", "test"}
    saved = json.loads((trained.folder / "metrics.json").read_text())
    row = metrics[(metrics["phase"] == "test") & (metrics["group"] == "warm")].iloc[0]
    assert row["ndcg@20"] == pytest.approx(saved["test"]["warm"]["ndcg@20"])
    recs = trained.recommend(k=5, users=["u3", "u7"])
    assert list(recs.columns) == ["user_id", "item_uid", "score", "rank", "model", "run"]
    assert set(recs["user_id"]) == {"u3", "u7"} and len(recs) == 10
    assert recs["item_uid"].str.startswith("comedy:").all()  # the target domain only
    info = json.loads((trained.folder / "run.json").read_text())
    assert info["status"] == "done" and info["environment"]["threads"] >= 1
    assert info["environment"]["kgrec"] == kgrec.__version__  # since session 60
    assert info["environment"]["torch_geometric"] == torch_geometric.__version__
    with pytest.raises(kgrec.errors.InputError, match="user 'nobody' is not in the run's graph"):
        trained.recommend(users=["nobody"])
    with pytest.raises(kgrec.errors.InputError, match="k must be a positive integer, got 0"):
        trained.recommend(k=0)
    # a bool is no number of items (before: a TypeError from torch's topk for True)
    with pytest.raises(kgrec.errors.InputError, match="k must be a positive integer, got True"):
        trained.recommend(k=True, users=["u3"])


def test_recommend_names_every_unknown_user_at_once(trained, tmp_path, tiny_store):
    """Before, only the first of several unknown ids was named: a notebook's list with three
    typos took three runs to correct."""
    with pytest.raises(kgrec.errors.InputError) as raised:
        trained.recommend(k=3, users=["u3", "nobody", "ghost"])
    assert "users 'nobody', 'ghost' are not in the run's graph" in str(raised.value)
    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "s", **SMALL
    )
    with pytest.raises(kgrec.errors.InputError) as raised:
        run.recommend(k=3, users=["u3", "nobody", "ghost"])
    message = str(raised.value)
    assert "user 'nobody' is neither in the run's graph" in message
    assert "2 users in all: 'nobody', 'ghost'" in message


def test_a_run_takes_a_numpy_k_and_refuses_a_bool_k(trained):
    """k from pandas or numpy (np.int64(2)) is the number it holds: before, Run.recommend and
    Run.explain refused it as "not a positive integer"; and Run.explain took k=True (as 1)
    where Run.recommend refused it. A numpy bool is refused as a bool is."""
    users = list(trained.experiment.maps.users[:2])
    recs = trained.recommend(k=np.int64(2), users=users)
    pd.testing.assert_frame_equal(recs, trained.recommend(k=2, users=users))
    item = trained.experiment.maps.items[0]
    paths = trained.explain(users[0], item, k=np.int64(2))
    pd.testing.assert_frame_equal(paths, trained.explain(users[0], item, k=2))
    for k in (True, np.bool_(True)):
        with pytest.raises(kgrec.errors.InputError, match="k must be a positive"):
            trained.recommend(k=k, users=users)
        with pytest.raises(kgrec.errors.InputError, match="k must be a positive"):
            trained.explain(users[0], item, k=k)


def test_a_recommend_users_argument_that_is_no_list_of_ids_names_its_option(trained):
    """The run layer's errors name the command-line option of the argument at fault (README,
    "Python"): ``users`` of Run.recommend is --show's. Before, a bare id, an empty list or a
    blank id said field 'user', neither the option nor the argument."""
    for users, says in (
        ("u3", "a list of ids is expected"),
        ([], "users must be a list"),
        ([" "], "an id may not be empty"),
    ):
        with pytest.raises(kgrec.errors.InputError, match=says) as raised:
            trained.recommend(k=3, users=users)
        assert raised.value.field == "--show", users


def test_a_run_read_from_a_relative_folder_stays_that_run_after_a_chdir(
    trained, tmp_path, monkeypatch
):
    """Before, load_run(".") (or any relative folder) kept the path as given, read again from
    the working folder of the moment: after os.chdir (a notebook's %cd) the run took that
    folder's name, in recommend's run column too, and its model file was looked for there
    (publish recorded the digest of no file, silently)."""
    monkeypatch.chdir(trained.folder)
    run = load_run(".")
    monkeypatch.chdir(tmp_path)
    assert run.folder == trained.folder and run.name == "run"
    assert set(run.recommend(k=2, users=["u3"])["run"]) == {"run"}
    assert run._weights_digest() == trained._weights_digest()


def test_a_loaded_run_keeps_the_digest_of_its_weights_after_its_folder_trains_further(
    tmp_path, tiny_recbole
):
    """The digest a publish records of the weights that made the recommendations
    (Run._weights_digest) is of the files the run's model was read from or written to. Before,
    model.pt was hashed when a publish asked: once ``kgrec train --resume`` had trained the
    folder further, a run loaded before recorded the new model's digest beside the old
    model's recommendations and vectors."""
    settings = {**SMALL, "protocol": "ml1m-action-comedy", "data": tiny_recbole}
    out = tmp_path / "run"
    trained = train("lightgcn-merged", out=out, **{**settings, "epochs": 2, "patience": 100})
    loaded = load_run(out)
    before = loaded._weights_digest()
    assert trained._weights_digest() == before  # train's digest: of the files it wrote
    further = train(
        "lightgcn-merged", out=out, resume=True, **{**settings, "epochs": 8, "patience": 100}
    )
    assert further._weights_digest() != before  # the folder holds other weights now
    assert loaded._weights_digest() == before
    assert trained._weights_digest() == before
    assert load_run(out)._weights_digest() == further._weights_digest()


def test_a_run_keeps_working_after_later_loads_into_its_store(tmp_path, tiny_store):
    store = tiny_store
    run = train("lightgcn", protocol="ml1m-action-comedy", store=store, out=tmp_path / "r", **SMALL)
    before = run.evaluate()
    # new users and items arrive after training
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "extra.item").write_text("item_id:token\tgenre:token\nNew Comedy\tComedy\n")
    (extra / "extra.inter").write_text(
        "user_id:token\titem_id:token\trating:float\nnewbie\tNew Comedy\t5\nu1\tNew Comedy\t4\n"
    )
    with open_store(store) as opened:
        opened.write(
            recbole.load(extra, domain_rule=named_rule("ml1m-action-comedy")), progress=False
        )
    assert main(["evaluate", "--run", str(tmp_path / "r")]) == 0
    assert load_run(tmp_path / "r").evaluate() == before


def test_a_finished_run_is_never_overwritten(trained, tiny_recbole, capsys):
    before = {p.name: p.read_bytes() for p in trained.folder.iterdir() if p.is_file()}
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(trained.folder), "--epochs", "2"]
    assert main(argv) == 2
    assert "already holds a run" in capsys.readouterr().err
    # a resume with other settings is refused, naming them, before anything is written
    assert main([*argv, "--resume", "--dim", "32", "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert "--dim 32 (the run has 8)" in err and "--seed 1 (the run has 0)" in err
    after = {p.name: p.read_bytes() for p in trained.folder.iterdir() if p.is_file()}
    assert after == before


def test_a_resumed_run_trains_on_its_own_split(trained, tiny_recbole):
    split_before = (trained.folder / "split" / "test.tsv").read_text()
    resumed = _resume(trained.folder, tiny_recbole, epochs=5)
    assert resumed.info["training"]["epochs_run"] == 5
    assert (trained.folder / "split" / "test.tsv").read_text() == split_before


def test_train_fraction_reduces_the_written_split(tmp_path: Path, tiny_recbole, capsys) -> None:
    data = ["--data", str(tiny_recbole)]
    split = ["split", "--protocol", "ml1m-action-comedy", "--seed", "3", *data]
    assert main([*split, "--write-split", str(tmp_path / "full")]) == 0
    assert main([*split, "--train-fraction", "0.5", "--write-split", str(tmp_path / "half")]) == 0

    def rows(folder: Path, name: str) -> list[str]:
        return (folder / f"{name}.tsv").read_text().splitlines()[1:]

    full, half = tmp_path / "full", tmp_path / "half"
    assert rows(full, "valid") == rows(half, "valid") and rows(full, "test") == rows(half, "test")
    assert set(rows(half, "train")) < set(rows(full, "train"))
    per_user = pd.Series([r.split("\t")[0] for r in rows(full, "train")]).value_counts()
    kept = pd.Series([r.split("\t")[0] for r in rows(half, "train")]).value_counts()
    assert kept.to_dict() == {u: max(1, int(n * 0.5 + 0.5)) for u, n in per_user.items()}
    # train: the protocol's split reduced alike, and written to RUN/split; metrics by activity
    run = train(
        "popularity",
        protocol="ml1m-action-comedy",
        seed=3,
        train_fraction=0.5,
        data=tiny_recbole,
        out=tmp_path / "run",
        **SMALL,
    )
    assert rows(run.folder / "split", "train") == rows(half, "train")
    assert run.info["settings"]["train_fraction"] == 0.5
    metrics = json.loads((run.folder / "metrics.json").read_text())
    warm = metrics["test"]["warm"]["users"]
    assert sum(metrics["test"][g]["users"] for g in ("act<=5", "act6-20")) == warm > 0
    # split files in, reduced with the seed; fraction 1 gives them back unchanged
    argv = ["train", "--model", "popularity", "--split", str(full), *data]
    argv += ["--domain-rule", "ml1m-action-comedy", "--seed", "3"]
    assert main([*argv, "--train-fraction", "0.5", "--out", str(tmp_path / "b")]) == 0
    assert rows(tmp_path / "b" / "split", "train") == rows(half, "train")
    assert main([*argv, "--out", str(tmp_path / "c")]) == 0
    assert rows(tmp_path / "c" / "split", "train") == rows(full, "train")
    capsys.readouterr()
    assert main(["evaluate", "--run", str(tmp_path / "b"), "--by-activity"]) == 0
    table = capsys.readouterr().out
    assert "act<=5" in table and "act21-50" not in table  # no user has more than 24
    assert main(["evaluate", "--run", str(tmp_path / "b")]) == 0
    assert "act<=5" not in capsys.readouterr().out
    assert main([*argv, "--train-fraction", "1.5", "--out", str(tmp_path / "d")]) == 2
    assert "--train-fraction" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_train_fraction_on_split_files_written_with_one_is_warned(
    tmp_path: Path, tiny_recbole, capsys, caplog
) -> None:
    """Split files written with --train-fraction F hold a thinned train.tsv, and split.json
    records F; --split DIR --train-fraction G thins it again. Before, that went silently (the
    record held no fraction); now a warning names both and the share kept (about F*G), and the
    run's split.json records that share."""
    data = ["--data", str(tiny_recbole), "--domain-rule", "ml1m-action-comedy", "--seed", "3"]
    half = tmp_path / "half"
    split = ["split", "--protocol", "ml1m-action-comedy", *data, "--train-fraction", "0.5"]
    assert main([*split, "--write-split", str(half)]) == 0
    assert json.loads((half / "split.json").read_text())["train_fraction"] == 0.5
    argv = ["train", "--model", "popularity", "--split", str(half), *data]
    caplog.clear()
    assert main([*argv, "--train-fraction", "0.4", "--out", str(tmp_path / "again")]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        "its train.tsv was written with --train-fraction 0.5 (split.json), and "
        "--train-fraction 0.4 thins it again: each user keeps about 0.2 of" in m
        for m in warned
    ), warned
    assert json.loads((tmp_path / "again" / "split" / "split.json").read_text())[
        "train_fraction"
    ] == pytest.approx(0.2)
    caplog.clear()  # the files as written: no warning, the record kept
    assert main([*argv, "--out", str(tmp_path / "asis")]) == 0
    assert not any("thins it again" in r.getMessage() for r in caplog.records)
    assert json.loads((tmp_path / "asis" / "split" / "split.json").read_text())[
        "train_fraction"
    ] == pytest.approx(0.5)
    record = json.loads((half / "split.json").read_text())
    (half / "split.json").write_text(json.dumps({**record, "train_fraction": 2}))
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert f"file {half / 'split.json'}, field 'train_fraction'" in err
    assert not (tmp_path / "bad").exists()


def test_a_run_from_before_train_fraction_resumes(trained, tiny_recbole):
    info = json.loads((trained.folder / "run.json").read_text())
    del info["settings"]["train_fraction"]
    (trained.folder / "run.json").write_text(json.dumps(info))
    resumed = _resume(trained.folder, tiny_recbole, epochs=4)
    assert resumed.info["training"]["epochs_run"] == 4


def test_another_splits_experiment_pt_copied_into_a_run_is_refused(
    trained, tmp_path, tiny_recbole, capsys
):
    # before: read without complaint; evaluate gave the figures of the other split, exit 0
    other = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "other",
        seed=1,
        **SMALL,
    )
    assert other.info["split_digest"] != trained.info["split_digest"]
    own = (trained.folder / "experiment.pt").read_bytes()
    shutil.copy(other.folder / "experiment.pt", trained.folder / "experiment.pt")
    capsys.readouterr()
    for argv in (
        ["evaluate", "--run", str(trained.folder)],
        ["recommend", "--run", str(trained.folder)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"file {trained.folder / 'experiment.pt'}: experiment.pt holds another split" in err
        assert str(trained.folder / "run.json") in err
    with pytest.raises(kgrec.errors.InputError, match=r"experiment\.pt holds another split"):
        _resume(trained.folder, tiny_recbole, epochs=4)
    with pytest.raises(
        kgrec.errors.InputError, match=r"--init-from: experiment\.pt holds another split"
    ):
        train(
            "lightgcn-merged",
            protocol="ml1m-action-comedy",
            data=tiny_recbole,
            out=tmp_path / "warm",
            init_from=trained.folder,
            **SMALL,
        )
    # its own experiment.pt back: read, and resumed, as before
    (trained.folder / "experiment.pt").write_bytes(own)
    assert main(["evaluate", "--run", str(trained.folder)]) == 0
    assert (
        _resume(trained.folder, tiny_recbole, epochs=4).info["split_digest"]
        == (trained.info["split_digest"])
    )


def test_a_run_without_a_split_digest_is_read_as_before(trained, tmp_path, capsys):
    """A run of an older kgrec records no split_digest: its experiment.pt is not checked."""
    info = json.loads((trained.folder / "run.json").read_text())
    del info["split_digest"]
    (trained.folder / "run.json").write_text(json.dumps(info))
    assert main(["evaluate", "--run", str(trained.folder)]) == 0
    info["split_digest"] = 3
    (trained.folder / "run.json").write_text(json.dumps(info))
    capsys.readouterr()
    assert main(["evaluate", "--run", str(trained.folder)]) == 2
    assert "field 'split_digest': run.json is damaged" in capsys.readouterr().err


@pytest.mark.parametrize(
    "damage", [{"settings": "x"}, {"settings": [1]}, {"model": 3}, {"settings": {"seed": 0}}]
)
def test_a_damaged_run_json_is_a_clear_error(trained, tmp_path, capsys, damage):
    # before: a TypeError or AttributeError traceback (exit 1) on every command reading it
    folder = tmp_path / "copy"
    shutil.copytree(trained.folder, folder)
    info = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**info, **damage}))
    capsys.readouterr()
    for argv in (["evaluate", "--run", str(folder)], ["recommend", "--run", str(folder)]):
        assert main(argv) == 2
        assert "run.json is damaged" in capsys.readouterr().err


def test_a_run_json_that_is_not_json_or_not_utf8_names_its_line(trained, tmp_path, capsys):
    # before: the line only inside json's words, or none ("can't decode byte 0xe9 in
    # position 224"), as split.json's was before the fuzz42 review
    folder = tmp_path / "copy"
    shutil.copytree(trained.folder, folder)
    first, second, *rest = (folder / "run.json").read_bytes().splitlines(keepends=True)
    for damaged, says, line in (
        (first + second.replace(b":", b"", 1) + b"".join(rest), "is not valid JSON", 2),
        (first + second + b"\xe9" + b"".join(rest), "not UTF-8", 3),
    ):
        (folder / "run.json").write_bytes(damaged)
        capsys.readouterr()
        assert main(["evaluate", "--run", str(folder)]) == 2
        assert f"run.json, line {line}: " in capsys.readouterr().err
        with pytest.raises(kgrec.errors.InputError, match=says) as caught:
            load_run(folder)
        assert caught.value.line == line


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("dim", "8"),
        ("layers", None),
        ("entity_embeddings", 1),
        ("lr", "fast"),
        ("score", "cos"),
        ("cold_items", "text"),  # needs --text-input add: a bare ValueError
        ("cold_item_scale", "x"),
        ("model", "nope"),  # and not the settings' model: "field '--model'" of train
    ],
)
def test_a_run_json_setting_of_the_wrong_type_is_a_clear_error(
    trained, tmp_path, tiny_recbole, capsys, name, value
):
    # before: a TypeError or ValueError traceback (exit 1) from building or serving the model
    folder = tmp_path / "copy"
    shutil.copytree(trained.folder, folder)
    info = json.loads((folder / "run.json").read_text())
    if name == "model":  # the top-level name, which messages and fold-in read
        info["model"] = value
    else:
        info["settings"][name] = value
    (folder / "run.json").write_text(json.dumps(info))
    capsys.readouterr()
    for argv in (
        ["evaluate", "--run", str(folder)],
        ["recommend", "--run", str(folder), "--show", "u1"],
        [
            *("train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"),
            *("--data", str(tiny_recbole), "--epochs", "1", "--dim", "8"),
            *("--init-from", str(folder), "--out", str(tmp_path / "tuned")),
        ],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        field = "model" if name == "model" else f"settings.{name}"
        assert f"file {folder / 'run.json'}, field '{field}'" in err
        assert "run.json is damaged" in err and "Traceback" not in err
    assert not (tmp_path / "tuned").exists()


def test_a_run_json_setting_this_kgrec_does_not_take_is_refused(
    trained, tmp_path, tiny_recbole, capsys
):
    """A run of a newer kgrec records a setting this one does not take: before, every command
    read it without that setting (evaluated, served, warm-started from and resumed as another
    run than the one trained), and a --resume wrote run.json again without it."""
    info = json.loads((trained.folder / "run.json").read_text())
    info["settings"]["text_view_mixer"] = "gated"  # a newer kgrec's, say
    (trained.folder / "run.json").write_text(json.dumps(info))
    capsys.readouterr()
    for argv in (
        ["evaluate", "--run", str(trained.folder)],
        ["recommend", "--run", str(trained.folder), "--show", "u1"],
        [
            *("train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"),
            *("--data", str(tiny_recbole), "--epochs", "1", "--dim", "8"),
            *("--init-from", str(trained.folder), "--out", str(tmp_path / "tuned")),
        ],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"file {trained.folder / 'run.json'}, field 'settings.text_view_mixer'" in err
        assert "does not take: text_view_mixer='gated' (a run of a newer kgrec?)" in err
    assert not (tmp_path / "tuned").exists()
    before = (trained.folder / "run.json").read_bytes()
    with pytest.raises(kgrec.errors.InputError, match="text_view_mixer='gated'"):
        _resume(trained.folder, tiny_recbole, epochs=4)
    assert (trained.folder / "run.json").read_bytes() == before


@pytest.mark.parametrize(("value", "read"), [("text", True), ("kg", False)])
def test_a_retired_setting_is_read_only_with_the_value_kgrec_trains_by(trained, value, read):
    """Session 56's runs record text_cl_source, taken out since: "text" is how kgrec trains
    the text view now, so such a run is read as before; "kg" (the knowledge graph's
    neighbours) is not, and is refused."""
    info = json.loads((trained.folder / "run.json").read_text())
    info["settings"]["text_cl_source"] = value
    (trained.folder / "run.json").write_text(json.dumps(info))
    if read:
        assert load_run(trained.folder).settings["text_cl_source"] == "text"
    else:
        with pytest.raises(kgrec.errors.InputError, match="text_cl_source='kg'"):
            load_run(trained.folder)


@pytest.mark.parametrize("theirs", [False, True])
def test_a_folder_a_killed_training_left_says_so(tmp_path, tiny_recbole, theirs):
    # before: "not a run folder and not empty" for the split/ and temporary file a SIGKILL
    # leaves, which reads as if the folder held someone else's files
    out = tmp_path / "r"
    (out / "split").mkdir(parents=True)
    (out / "split" / "train.tsv").write_text("user_id\titem_id\n")
    (out / ".experiment.pt.x1y2.tmp").write_bytes(b"half")
    if theirs:
        (out / "notes.txt").write_text("mine")
    message = "not a run folder and not empty" if theirs else "a training killed while"
    with pytest.raises(kgrec.errors.InputError, match=message):
        train("popularity", protocol="ml1m-action-comedy", data=tiny_recbole, out=out, **SMALL)
    assert (out / "split" / "train.tsv").exists() and (out / ".experiment.pt.x1y2.tmp").exists()


@pytest.mark.parametrize("resume", [False, True])
def test_an_out_that_is_a_file_is_refused_as_a_file(tmp_path, tiny_recbole, capsys, resume):
    # before: "this is not a run folder and not empty", of a file
    (tmp_path / "notes.txt").write_text("mine")
    argv = ["train", "--model", "popularity", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(tmp_path / "notes.txt")]
    capsys.readouterr()
    assert main(argv + ["--resume"] * resume) == 2
    err = capsys.readouterr().err
    assert f"file {tmp_path / 'notes.txt'}: this is a file, not a folder" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_folder_that_is_not_a_run_is_refused(tmp_path, tiny_recbole):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(kgrec.errors.InputError, match="not a run folder and not empty"):
        train(
            "popularity",
            protocol="ml1m-action-comedy",
            data=tiny_recbole,
            out=tmp_path / "mine",
            **SMALL,
        )
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


def test_a_damaged_model_file_is_a_clear_error(trained, capsys):
    model_file = trained.folder / "model.pt"
    model_file.write_bytes(model_file.read_bytes()[:100])
    assert main(["evaluate", "--run", str(trained.folder)]) == 2
    err = capsys.readouterr().err
    assert "model.pt" in err and "damaged" in err and "Traceback" not in err


def test_a_model_file_of_another_dim_says_which_parameter_differs(
    trained, tmp_path, tiny_recbole, capsys
):
    # before: "... not this run's (Error(s) in loading state_dict for LightGCNRecommender:)",
    # torch's first line alone, which says nothing of what differs
    other = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "other",
        **{**SMALL, "dim": 4},
    )
    shutil.copy(other.folder / "model.pt", trained.folder / "model.pt")
    capsys.readouterr()
    assert main(["evaluate", "--run", str(trained.folder)]) == 2
    err = capsys.readouterr().err
    assert f"file {trained.folder / 'model.pt'}" in err
    assert "size mismatch for lightgcn.embedding.weight" in err
    assert "torch.Size([100, 4]) from checkpoint" in err


def test_a_finished_run_whose_model_file_was_deleted_says_so_and_how_to_restore_it(
    trained, tiny_recbole, capsys
):
    # before: "the run has no trained model yet", of a run that finished (status done)
    (trained.folder / "model.pt").unlink()
    run = str(trained.folder)
    for argv in (["evaluate", "--run", run], ["recommend", "--run", run, "--show", "u1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "model.pt: the run's trained model is missing (deleted or moved?)" in err
        assert "with --resume, writes it again from its checkpoint.pt" in err
    _resume(trained.folder, tiny_recbole)  # the remedy the error gives
    assert load_run(trained.folder).model is not None
    (trained.folder / "model.pt").unlink()
    (trained.folder / "checkpoint.pt").unlink()
    with pytest.raises(kgrec.errors.InputError, match=r"no checkpoint\.pt .* train the run again"):
        load_run(trained.folder)


def test_a_read_only_out_is_a_clear_error(tiny_recbole, capsys):
    # /sys refuses new folders even to root
    argv = ["train", "--model", "popularity", "--protocol", "ml1m-action-comedy"]
    assert main([*argv, "--data", str(tiny_recbole), "--out", "/sys/kgrec-run"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the run folder" in err and "/sys/kgrec-run" in err


def test_recommend_shows_and_exports_without_a_store(trained, tmp_path, monkeypatch, capsys):
    run = str(trained.folder)
    assert main(["recommend", "--run", run, "-k", "3", "--show", "u3"]) == 0
    out = capsys.readouterr().out
    assert "user u3" in out and out.count("comedy:") == 3
    export = tmp_path / "recs.csv"
    assert main(["recommend", "--run", run, "-k", "4", "--export", str(export)]) == 0
    table = pd.read_csv(export, dtype={"user_id": str})
    assert table.groupby("user_id").size().max() == 4
    assert main(["recommend", "--run", run, "--export", str(export)]) == 2  # never overwrites
    # before: no option named, and no next step
    exists = (
        f"file {export}, field '--export': the file exists; kgrec never overwrites it: move it "
        "away, or choose another --export FILE"
    )
    assert exists in capsys.readouterr().err
    written = export.read_bytes()
    with monkeypatch.context() as patched:  # the file came after the check, as it ranked
        patched.setattr(kgrec.commands.recommend, "_check_export", lambda path: None)
        assert main(["recommend", "--run", run, "--export", str(export)]) == 2
    assert exists in capsys.readouterr().err and export.read_bytes() == written
    # both at once (the README's synopsis): the user's list printed, everyone's written
    both = tmp_path / "both.tsv"
    assert main(["recommend", "--run", run, "-k", "2", "--show", "u3", "--export", str(both)]) == 0
    out = capsys.readouterr().out
    assert "user u3" in out and out.count("comedy:") == 2 and f"to {both}" in out
    assert pd.read_csv(both, sep="\t", dtype={"user_id": str})["user_id"].nunique() > 1
    with pytest.raises(SystemExit) as exited:  # the parser's, before the run is read
        main(["recommend", "--run", run, "-k", "0", "--show", "u3"])
    assert exited.value.code == 2
    assert "argument -k: must be an integer in [1, 2**63 - 1], got 0" in capsys.readouterr().err
    # trained from files: publishing needs a store
    assert main(["recommend", "--run", run]) == 2
    assert "--export" in capsys.readouterr().err
    assert main(["recommend", "--run", run, "--user", "u3"]) == 2  # before: no option named
    assert "name a store to publish into (--store; store= in Python)" in capsys.readouterr().err


def test_an_export_suffix_in_capitals_is_that_format(trained, tmp_path, capsys):
    """Before, --export RECS.TSV was refused ("--export writes .csv, .tsv, .parquet files")."""
    run = str(trained.folder)
    for name, read in (
        ("RECS.TSV", lambda p: pd.read_csv(p, sep="\t", dtype={"user_id": str})),
        ("recs.Parquet", pd.read_parquet),
    ):
        assert main(["recommend", "--run", run, "-k", "2", "--export", str(tmp_path / name)]) == 0
        table = read(tmp_path / name)
        assert list(table.columns[:2]) == ["user_id", "item_uid"] and table["user_id"].nunique() > 1
    capsys.readouterr()
    assert main(["recommend", "--run", run, "--export", str(tmp_path / ".CSV")]) == 2
    assert "the file name '.CSV' is only an extension" in capsys.readouterr().err


def test_an_export_path_under_a_file_fails_before_the_ranking_and_no_file_is_clobbered(
    trained, tmp_path, monkeypatch, capsys
):
    (tmp_path / "afile").write_text("mine")
    (tmp_path / ".recs.csv.tmp").write_text("mine too")  # the old temporary file's name
    run = str(trained.folder)
    with monkeypatch.context() as patched:
        patched.setattr(
            kgrec.experiment.Run, "_ranking", lambda *a, **k: pytest.fail("ranked first")
        )
        assert main(["recommend", "--run", run, "--export", str(tmp_path / "afile/r.csv")]) == 2
        assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["recommend", "--run", run, "-k", "2", "--export", str(tmp_path / "recs.csv")]) == 0
    assert (tmp_path / ".recs.csv.tmp").read_text() == "mine too"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".recs.csv.")][1:]


def test_an_export_has_a_new_files_permissions_and_a_dangling_link_is_kept(
    trained, tmp_path, capsys
):
    # before: exports were 0600 whatever the umask (a temporary file's mode), and a dangling
    # link of the user's at the path was replaced by a file
    run = str(trained.folder)
    export = tmp_path / "recs.tsv"
    assert main(["recommend", "--run", run, "-k", "2", "--export", str(export)]) == 0
    umask = os.umask(0o022)
    os.umask(umask)
    assert export.stat().st_mode & 0o777 == 0o666 & ~umask
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "nowhere.csv")
    assert main(["recommend", "--run", run, "-k", "2", "--export", str(link)]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert link.is_symlink() and not (tmp_path / "nowhere.csv").exists()


def test_an_export_kgrec_cannot_write_is_an_error_naming_the_file(trained, tmp_path, capsys):
    # before: a bare PermissionError traceback, exit 1, after the whole ranking
    run = str(trained.folder)
    for export in ("/sys/kernel/recs.csv", "/sys/kgrec-new/recs.csv"):  # /sys refuses even root
        assert main(["recommend", "--run", run, "-k", "2", "--export", export]) == 2
        err = capsys.readouterr().err
        assert f"file {export}, field '--export': cannot write the file (" in err
    assert not Path("/sys/kgrec-new").exists()
    # a folder on the way that is a dangling link: said so (before: "File exists" at the end)
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    export = tmp_path / "gone" / "recs.csv"
    assert main(["recommend", "--run", run, "-k", "2", "--export", str(export)]) == 2
    assert f"{tmp_path / 'gone'} is a link to nothing, not a folder" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any folder")
def test_an_export_into_a_read_only_folder_fails_before_the_ranking(
    trained, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        kgrec.experiment.Run, "_ranking", lambda *a, **k: pytest.fail("ranked first")
    )
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    export = folder / "new" / "recs.csv"
    assert main(["recommend", "--run", str(trained.folder), "--export", str(export)]) == 2
    assert f"cannot write in {folder} (permission denied)" in capsys.readouterr().err


def test_a_wrong_store_fails_before_the_ranking(trained, tmp_path, monkeypatch, capsys):
    # at 20M interactions the ranking takes minutes: a typo must not cost them
    monkeypatch.setattr(
        kgrec.experiment.Run, "_ranking", lambda *a, **k: pytest.fail("ranked before the check")
    )
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    for store in [str(tmp_path / "stores"), f"local:{tmp_path / 'mine'}"]:
        assert main(["recommend", "--run", str(trained.folder), "--store", store]) == 2
        assert "kgrec recommend: error" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"
    # a mistyped store: refused before the ranking, and no folder made for it
    typo = tmp_path / "typo"
    assert main(["recommend", "--run", str(trained.folder), "--store", f"local:{typo}"]) == 2
    assert f"no store at {typo}" in capsys.readouterr().err
    assert not typo.exists()


def test_a_run_opens_its_store_from_any_working_directory(tmp_path, tiny_store, monkeypatch):
    """A relative --store is recorded absolute: publishing from another directory writes into
    the store the run was trained on (before: a store of the same relative name there)."""
    store = Path(tiny_store.removeprefix("local:"))
    monkeypatch.chdir(store.parent)
    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=f"local:{store.name}", out="r", **SMALL
    )
    assert run.settings["store"] == f"local:{store}"
    # a run of an older kgrec recorded the store as typed: it resumes with the same words
    info = json.loads(Path("r/run.json").read_text())
    info["settings"]["store"], info["status"] = f"local:{store.name}", "training"
    Path("r/run.json").write_text(json.dumps(info))
    train(
        "lightgcn",
        protocol="ml1m-action-comedy",
        store=f"local:{store.name}",
        out="r",
        resume=True,
        **SMALL,
    )
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / store.name).mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    assert main(["recommend", "--run", str(store.parent / "r"), "-k", "2"]) == 0
    with open_store(f"local:{store}") as opened:
        assert len(opened.recommendations()) > 0
    assert list((elsewhere / store.name).iterdir()) == []


def test_cross_domain_without_text_in_the_store_says_so(tmp_path, tiny_store, capsys):
    store = tiny_store
    argv = ["train", "--model", "cross-domain", "--protocol", "ml1m-action-comedy"]
    argv += ["--store", store, "--out", str(tmp_path / "run"), "--text-property", "embeding"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "text property 'embeding'" in err and "kgrec embed" in err
    assert not (tmp_path / "run").exists()


def test_a_user_loaded_after_training_is_folded_in(tmp_path, tiny_store, capsys):
    store = tiny_store
    run = train(
        "lightgcn-merged", protocol="ml1m-action-comedy", store=store, out=tmp_path / "r", **SMALL
    )
    assert main(["recommend", "--run", str(run.folder), "-k", "5"]) == 0
    with open_store(store) as opened:
        before = opened.recommendations(run.name)
    # a newcomer with four films the run knows (and one it does not), one domain per load
    for domain, films in (
        ("comedy", ["Comedy 1", "Comedy 2", "New Comedy"]),
        ("action", ["Action 3", "Action 4"]),
    ):
        extra = tmp_path / domain
        extra.mkdir()
        (extra / f"{domain}.inter").write_text(
            "user_id:token\titem_id:token\trating:float\n"
            + "".join(f"newbie\t{film}\t5\n" for film in films)
        )
        with open_store(store) as opened:
            opened.write(recbole.load(extra, domain=domain), progress=False)
    capsys.readouterr()
    assert main(["recommend", "--run", str(run.folder), "-k", "5", "--user", "newbie"]) == 0
    out = capsys.readouterr().out
    assert "user newbie (folded in" in out and "because" in out
    with open_store(store) as opened:
        after = opened.recommendations(run.name)
    mine = after[after["user_id"] == "newbie"]
    assert len(mine) == 5
    assert not set(mine["item_uid"]) & {"comedy:Comedy 1", "comedy:Comedy 2"}  # already had
    assert mine["item_uid"].str.startswith("comedy:").all()
    assert "comedy:New Comedy" not in set(mine["item_uid"])  # unknown to the run
    others = after[after["user_id"] != "newbie"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, before)
    # --user publishes: with --show or --export (which exist not to) it is refused, the
    # store and the file left as they were (before the fix both were dropped in silence and
    # the store written)
    export = tmp_path / "newbie.csv"
    for extra in (["--export", str(export)], ["--show", "newbie"]):
        assert main(["recommend", "--run", str(run.folder), "--user", "newbie", *extra]) == 2
        assert "--user publishes" in capsys.readouterr().err
    assert not export.exists()
    with open_store(store) as opened:
        pd.testing.assert_frame_equal(opened.recommendations(run.name), after)
    # the Python API gives the same list; a newcomer with no known items is an error
    again = load_run(run.folder).recommend(k=5, users=["newbie"])
    assert list(again["item_uid"]) == list(mine.sort_values("rank")["item_uid"])
    with pytest.raises(kgrec.errors.InputError, match="'ghost' is neither in the run's graph"):
        run.recommend(users=["ghost"])


def test_a_newcomer_of_another_domain_is_folded_in_against_that_domains_items(tmp_path, tiny_store):
    """A user new to the comedies, with action films alone, is folded into a merged run
    against other action films, as training drew negatives, not against the comedies ranked
    (session 38: cold-start users of merged LightGCN on ml1m folded in at 95.0 % of their
    trained-in test NDCG@20 against the comedies, 97.4 % against their own domain's items)."""
    run = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        store=tiny_store,
        out=tmp_path / "r",
        **SMALL,
    )
    _load_ratings(
        tiny_store, tmp_path / "action", "action", [("fan", "Action 3"), ("fan", "Action 4")]
    )
    table = run.recommend(k=5, users=["fan"])
    maps, split = run.experiment.maps, run.experiment.split
    _, item_emb = embeddings(run.model, run.graph)
    history = torch.tensor(maps.item_index(["action:Action 3", "action:Action 4"]))
    domains = split.negative_domains(run.graph.item_domain)
    z = run.model.fold_in(item_emb, [history], domains=domains)[0]
    comedies = (run.graph.item_domain == split.target_domain).nonzero().flatten()
    ranked = comedies[torch.argsort(item_emb[comedies] @ z, descending=True, stable=True)][:5]
    assert list(table.sort_values("rank")["item_uid"]) == [maps.items[i] for i in ranked]
    against_comedies = run.model.fold_in(item_emb, [history], candidates=comedies)[0]
    assert not torch.allclose(z, against_comedies)  # what fold-in gave before


def _load_ratings(store: str, folder: Path, domain: str, rows: list[tuple[str, str]]) -> None:
    folder.mkdir()
    (folder / f"{folder.name}.inter").write_text(
        "user_id:token\titem_id:token\trating:float\n"
        + "".join(f"{user}\t{item}\t5\n" for user, item in rows)
    )
    with open_store(store) as opened:
        opened.write(recbole.load(folder, domain=domain), progress=False)


def test_a_newcomer_with_only_items_loaded_after_training_is_told_to_retrain(tmp_path, tiny_store):
    """Before, the refusal said only that the user has no interactions with items the run
    learnt, the same for a user with none at all; now it says which and what to do."""
    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "r", **SMALL
    )
    _load_ratings(tiny_store, tmp_path / "late", "comedy", [("nLate", "New Comedy")])
    with pytest.raises(kgrec.errors.InputError) as raised:
        run.recommend(k=3, users=["nLate"])
    message = str(raised.value)
    assert "of their 1 interaction(s) there, 1 are with items loaded after training" in message
    assert "retrain the run" in message
    with pytest.raises(kgrec.errors.InputError, match="they have none there: load the user's"):
        run.recommend(k=3, users=["nobody"])


def test_a_run_whose_store_moved_names_run_json_and_store(tmp_path, tiny_store, capsys):
    # before: "no store at PATH: load a graph into it first", advice that would serve the run
    # from a graph other than its own, naming neither the run nor --store
    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "r", **SMALL
    )
    old = Path(tiny_store.removeprefix("local:"))
    new = old.rename(tmp_path / "moved")
    argv = ["recommend", "--run", str(run.folder), "-k", "2"]
    for extra in (["--show", "u1"], ["--user", "u1"], [], ["--export", str(tmp_path / "x.csv")]):
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        assert f"the run's store {tiny_store} (recorded in {run.folder / 'run.json'})" in err
        assert "moved or deleted? Name where it is now with --store" in err
    assert not old.exists() and not (tmp_path / "x.csv").exists()
    with pytest.raises(kgrec.errors.StoreError, match="moved or deleted"):
        run.explain("u1", run.experiment.maps.items[0])
    assert main([*argv, "--show", "u1", "--store", f"local:{new}"]) == 0  # as the error says


def test_serving_reads_what_users_have_and_newcomers_from_the_store_it_is_given(
    tmp_path, tiny_store, capsys
):
    """Three faults of serving (each failed before): an item a trained-in user rated after
    training was still recommended to them; a target-only model folded a newcomer in from
    their other domain's items too (embeddings it never trained), so two newcomers with the
    same comedies got different lists; and publishing into another store read newcomers from
    the run's own store. Also: users given as one string, or none, are refused."""
    import shutil

    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "r", **SMALL
    )
    user = run.experiment.maps.users[0]
    top = run.recommend(k=1, users=[user])["item_uid"].iloc[0]
    comedies = [f"Comedy {j}" for j in range(4)]
    _load_ratings(tiny_store, tmp_path / "late", "comedy", [(user, top.split(":", 1)[1])])
    _load_ratings(
        tiny_store,
        tmp_path / "late2",
        "comedy",
        [(newcomer, film) for newcomer in ("nA", "nB") for film in comedies],
    )
    _load_ratings(
        tiny_store, tmp_path / "late3", "action", [("nB", f"Action {j}") for j in range(8)]
    )
    again = load_run(run.folder)
    assert top not in set(again.recommend(k=30, users=[user])["item_uid"])
    every = again.recommend(k=30)
    assert top not in set(every.loc[every["user_id"] == user, "item_uid"])
    both = again.recommend(k=10, users=["nA", "nB"])
    lists = [both.loc[both["user_id"] == n, "item_uid"].tolist() for n in ("nA", "nB")]
    assert lists[0] == lists[1] and not set(lists[0]) & {f"comedy:{c}" for c in comedies}
    # a newcomer loaded into a copy of the store only: publishing into the copy finds them
    copy = tmp_path / "copy"
    shutil.copytree(tiny_store.removeprefix("local:"), copy)
    _load_ratings(f"local:{copy}", tmp_path / "late4", "comedy", [("nC", "Comedy 5")])
    table = again.publish(f"local:{copy}", k=3, users=["nC"])
    assert set(table["user_id"]) == {"nC"} and "comedy:Comedy 5" not in set(table["item_uid"])
    with pytest.raises(kgrec.errors.InputError, match="'nC' is neither in the run's graph"):
        again.recommend(k=3, users=["nC"])  # not in the run's own store
    # --show reads the store --store names (before, --store was ignored there)
    show = ["recommend", "--run", str(run.folder), "-k", "3", "--show", "nC"]
    assert main([*show, "--store", f"local:{copy}"]) == 0
    assert "user nC (run" in capsys.readouterr().out
    assert main(show) == 2 and "'nC' is neither" in capsys.readouterr().err
    for users, message in (
        ("u1", "a list of ids is expected"),
        ([], "users must be a list of user ids"),
        ([1.5], "an id is text"),  # before: a newcomer without interactions
    ):
        with pytest.raises(kgrec.errors.InputError, match=message):
            again.recommend(k=3, users=users)


def test_a_run_with_vectors_of_another_size_publishes_in_place_of_the_last(tmp_path, tiny_store):
    """Before, a second run whose embeddings had another size wrote its recommendations, then
    was refused its vectors (exit 2, the store half-published); a full publish also left a
    newcomer's vector of the run before beside the new run's; a newcomer's publish left out
    the vector of an item loaded after training. Now a full publish puts its vectors in place
    of all, and a newcomer's publish that cannot add its vector is refused before anything."""
    first = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "a", **SMALL
    )
    _load_ratings(tiny_store, tmp_path / "late", "comedy", [("nA", "Comedy 1")])
    first.publish(k=3)
    first.publish(k=3, users=["nA"])
    with open_store(tiny_store) as opened:
        assert "nA" in opened.read_vectors("User", property="gnn_embedding")[0]
    second = train(
        "lightgcn",
        protocol="ml1m-action-comedy",
        store=tiny_store,
        out=tmp_path / "b",
        **{**SMALL, "dim": 6},
    )
    second.publish(k=3)
    with open_store(tiny_store) as opened:
        users, vectors = opened.read_vectors("User", property="gnn_embedding")
        assert users == sorted(second.experiment.maps.users)  # nA's vector of run a went
        assert vectors.shape[1] == opened.vector_dimension("Item", property="gnn_embedding")
        before = opened.recommendations()
    # run a's vectors no longer fit beside run b's: refused as beside another run's (naming
    # it, since session 46), before their dimension is compared
    with pytest.raises(kgrec.errors.InputError, match=r"of run 'b', not of run 'a' .*whole first"):
        first.publish(k=3, users=["nA"])
    with open_store(tiny_store) as opened:
        pd.testing.assert_frame_equal(opened.recommendations(), before)  # nothing written


def test_a_publish_does_not_replace_text_vectors_under_its_property(tmp_path, tiny_store):
    """Text vectors embedded as gnn_embedding (kgrec embed --property gnn_embedding) are the
    user's: a publish with vectors is refused before anything is written, one without them
    goes on. Before, the run's embeddings silently replaced them, the store still recording
    the text model as theirs."""
    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "a", **SMALL
    )
    with open_store(tiny_store) as opened:
        keys = sorted(opened.items(run.experiment.maps.items)["uid"])
        opened.replace_vectors(
            {"Item": (keys, np.ones((len(keys), 6)))},
            property="gnn_embedding",
            model={"name": "minilm", "identity": "abc"},
        )
    for users in (None, [run.experiment.maps.users[0]]):
        with pytest.raises(kgrec.errors.InputError, match="holds text vectors 'gnn_embedding'"):
            run.publish(k=3, users=users)
    with open_store(tiny_store) as opened:
        assert opened.recommendations().empty
        assert np.array_equal(
            opened.read_vectors("Item", property="gnn_embedding")[1], np.ones((len(keys), 6))
        )
    run.publish(k=3, vectors=False)
    with open_store(tiny_store) as opened:
        assert len(opened.recommendations()) == 3 * len(run.experiment.maps.users)
        assert opened.vector_dimension("Item", property="gnn_embedding") == 6


def ease(model: str, out: Path, **options):
    """An EASE run on ml1m-action-comedy (λ 2 unless ``options`` say otherwise)."""
    options = {"ease_lambda": 2.0, "progress": False, **options}
    return train(model, protocol="ml1m-action-comedy", out=out, **options)


def test_ease_fits_in_closed_form_and_its_run_loads_and_serves_again(tmp_path, tiny_store, capsys):
    run = ease("ease-merged", tmp_path / "r", store=tiny_store)
    assert isinstance(run.model, kgrec.models.EASE) and run.model.l2 == 2.0
    info = json.loads((run.folder / "run.json").read_text())
    assert info["training"]["best_epoch"] == 0  # nothing to train: fitted, validated once
    saved = json.loads((run.folder / "metrics.json").read_text())
    again = load_run(run.folder)
    assert again.evaluate()["test"]["all"]["ndcg@20"] == pytest.approx(
        saved["test"]["all"]["ndcg@20"]
    )
    # a newcomer is their row of X: scored exactly as a trained-in user with the same items
    extra = tmp_path / "action"
    extra.mkdir()
    (extra / "action.inter").write_text(
        "user_id:token\titem_id:token\trating:float\nnewbie\tAction 3\t5\nnewbie\tAction 4\t5\n"
    )
    with open_store(tiny_store) as opened:
        opened.write(recbole.load(extra, domain="action"), progress=False)
    # the recommendations are published, not catalogue-sized "vectors"
    assert main(["recommend", "--run", str(run.folder), "-k", "2"]) == 0
    assert "no vectors published: ease-merged's user and item" in capsys.readouterr().out
    with open_store(tiny_store) as opened:
        assert opened.read_vectors("Item", property="gnn_embedding")[0] == []
        assert set(opened.recommendations(again.name)["user_id"]) == set(
            again.experiment.maps.users
        )
    recs = again.recommend(k=3, users=["newbie"])
    _, item_emb = embeddings(again.model, again.graph)
    maps = again.experiment.maps
    row = torch.zeros(item_emb.size(0))
    row[torch.as_tensor(maps.item_index(["action:Action 3", "action:Action 4"]))] = 1
    scores = (row @ item_emb.T).masked_fill(
        again.graph.item_domain != again.experiment.split.target_domain, float("-inf")
    )
    assert recs["score"].tolist() == pytest.approx(scores.topk(3).values.tolist())
    assert [maps.items[int(i)] for i in scores.topk(3).indices] == list(recs["item_uid"])


@pytest.mark.parametrize(("model", "cls"), [("popularity", "Popularity"), ("ease", "EASE")])
def test_a_model_without_parameters_is_scored_once(tmp_path, tiny_recbole, model, cls, monkeypatch):
    """fit only validates a model that trains nothing, and the run is scored on valid and
    test right after: one forward pass (EASE's closed-form fit, seconds on ml-1m) serves
    both, its validation NDCG@20 the one fit gave and the metrics those of scoring again."""
    forward = getattr(kgrec.models, cls).forward
    calls = []
    monkeypatch.setattr(
        getattr(kgrec.models, cls), "forward", lambda *a, **k: calls.append(1) or forward(*a, **k)
    )
    out = tmp_path / "r"
    run = train(model, protocol="ml1m-action-comedy", data=tiny_recbole, out=out, progress=False)
    assert len(calls) == 1
    saved = json.loads((run.folder / "metrics.json").read_text())
    info = json.loads((run.folder / "run.json").read_text())["training"]
    assert info["best_valid_ndcg@20"] == saved["valid"]["all"]["ndcg@20"]
    assert (info["best_epoch"], info["epochs_run"]) == (0, 0)
    again = load_run(run.folder)
    assert json.loads(json.dumps(again.evaluate())) == saved
    split = again.experiment.split
    fitted = kgrec.train.fit(again.model, again.graph, split, split.train)
    assert fitted.best_metric == info["best_valid_ndcg@20"]


@pytest.mark.parametrize("model", ["popularity", "ease"])
def test_a_model_without_parameters_says_it_trained_no_epoch(tmp_path, tiny_recbole, model, capsys):
    """Before, a run of a model fitted in its forward pass ended "best epoch 0 of 0"."""
    train(model, protocol="ml1m-action-comedy", data=tiny_recbole, out=tmp_path / "r")
    said = capsys.readouterr().out
    assert "fitted without training epochs (" in said and "best epoch" not in said


def test_fold_in_histories_are_each_users_target_items_in_the_order_read(tmp_path, tiny_store):
    """The items a fold-in starts from: per user, their store interactions with the run's
    target-domain items (every item is learnt for EASE), in the order the store gives them;
    None for a user with none. Read in one pass since the perf43 review (a mask over every
    row per user took 3.9 s of publishing an ml-1m EASE run)."""
    run = ease("ease", tmp_path / "r", store=tiny_store)
    maps, split = run.experiment.maps, run.experiment.split
    ids = [maps.users[i] for i in run._untrained_users(None).tolist()]
    ids += [maps.users[0], "nobody"]
    with open_store(tiny_store) as source:
        histories, _ = run._newcomer_histories(ids, source, list(maps.items), missing_ok=True)
        found = source.user_interactions(ids)
    target = run.graph.item_domain == split.target_domain
    for user, history in zip(ids, histories, strict=True):
        mine = found.loc[found["user_id"] == user, "item_uid"].tolist()
        expected = [i for i in maps.item_index(mine).tolist() if i >= 0 and target[i]]
        assert (None if history is None else history.tolist()) == (expected or None)
    assert histories[-1] is None and any(h is not None for h in histories[:-2])


def test_ease_options_belong_to_ease(tmp_path, tiny_recbole):
    with pytest.raises(
        kgrec.errors.InputError,
        match=r"lightgcn takes no ease_lambda \(models that do: ease, ease-merged\)",
    ):
        ease("lightgcn", tmp_path / "a", data=tiny_recbole, ease_lambda=10.0)
    with pytest.raises(
        kgrec.errors.InputError, match="--ease-text-weight reads item text vectors from a store"
    ):
        ease("ease", tmp_path / "b", data=tiny_recbole, ease_text_weight=1.0)
    with pytest.raises(kgrec.errors.InputError, match="ease_lambda must be positive"):
        ease("ease", tmp_path / "c", data=tiny_recbole, ease_lambda=0.0)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_ease_reads_the_stores_item_texts_when_they_are_weighted(tmp_path, text_store):
    plain = ease("ease", tmp_path / "p", store=text_store)
    text = ease("ease", tmp_path / "t", store=text_store, ease_text_weight=5.0)
    assert plain.model.item_text is None and text.model.item_text is not None
    assert not torch.equal(text.model(text.graph.edge_index), plain.model(plain.graph.edge_index))


def test_ease_with_text_weight_refuses_a_graph_whose_items_have_no_text(tiny_recbole):
    from kgrec.models.registry import _ease

    experiment = load_experiment(
        data=tiny_recbole, store=None, protocol="ml1m-action-comedy", split_dir=None, seed=0
    )
    _, graph, _ = build_run(experiment, {"model": "ease"})
    graph.x = torch.zeros(graph.num_nodes, 4)  # text on no item (users only, say)
    graph.x_mask = torch.zeros(graph.num_nodes, dtype=torch.bool)
    graph.x_mask[: graph.num_users] = True
    with pytest.raises(kgrec.errors.InputError, match="--ease-text-weight needs item text vectors"):
        _ease(graph, ease_lambda=1.0, ease_text_weight=1.0)
    assert _ease(graph, ease_lambda=1.0, ease_text_weight=0.0).item_text is None


def test_a_written_domain_rule_works_beside_data(tmp_path: Path, tiny_recbole, capsys) -> None:
    """`--domain-rule` with `--data` takes a rule written out, as `kgrec load` does (it used to
    accept only named rules, and its error then told the user to write one out)."""
    written = "genres:action=Action,Thriller;comedy=Comedy,Romance"
    for rule, folder in (("ml1m-action-comedy", "named"), (written, "written")):
        argv = ["split", "--protocol", "ml1m-action-comedy", "--seed", "2", "--data"]
        argv += [str(tiny_recbole), "--domain-rule", rule, "--write-split", str(tmp_path / folder)]
        assert main(argv) == 0
    for name in ("train", "valid", "test"):
        assert (tmp_path / "named" / f"{name}.tsv").read_text() == (
            tmp_path / "written" / f"{name}.tsv"
        ).read_text()
    # the other domain as the target, trained and reloaded from its settings
    run = tmp_path / "run"
    argv = ["train", "--model", "popularity", "--protocol", "ml1m-action-comedy", "--data"]
    argv += [str(tiny_recbole), "--domain-rule", written, "--target-domain", "action"]
    assert main([*argv, "--out", str(run)]) == 0
    experiment = load_run(run).experiment
    assert experiment.maps.domains[experiment.split.target_domain] == "action"
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run)]) == 0


def test_cold_shares_from_the_command_line(tmp_path: Path, tiny_recbole, capsys) -> None:
    """--cold-valid-share/--cold-test-share: `kgrec split` and `kgrec train` draw that many
    cold-start users, the run keeps the setting; split files, which hold their own, refuse it."""
    shares = ["--cold-valid-share", "0.2", "--cold-test-share", "0.4"]
    source = ["--protocol", "ml1m-action-comedy", "--seed", "1", "--data", str(tiny_recbole)]
    assert main(["split", *source, *shares, "--write-split", str(tmp_path / "split")]) == 0
    assert main(["split", *source, "--write-split", str(tmp_path / "default")]) == 0
    run = tmp_path / "run"
    assert main(["train", "--model", "popularity", *source, *shares, "--out", str(run)]) == 0
    loaded = load_run(run)
    assert loaded.settings["cold_test_share"] == 0.4

    def cold(folder: str, phase: str) -> int:
        users = {
            p: set(pd.read_csv(tmp_path / folder / f"{p}.tsv", sep="\t")["user_id"])
            for p in ("train", phase)
        }
        return len(users[phase] - users["train"])

    # 25 users of both domains: 0.1 and 0.2 of them by default, 0.2 and 0.4 here
    assert (cold("default", "valid"), cold("default", "test")) == (3, 5)
    assert (cold("split", "valid"), cold("split", "test")) == (5, 10)
    for name in ("train", "valid", "test"):
        assert (run / "split" / f"{name}.tsv").read_text() == (
            tmp_path / "split" / f"{name}.tsv"
        ).read_text()
    capsys.readouterr()
    refused = tmp_path / "refused"
    argv = ["train", "--model", "popularity", "--split", str(tmp_path / "split"), "--data"]
    argv += [str(tiny_recbole), "--domain-rule", "ml1m-action-comedy", *shares]
    assert main([*argv, "--out", str(refused)]) == 2
    assert "split files (--split) already hold theirs" in capsys.readouterr().err
    assert not refused.exists()


def test_new_item_share_from_the_command_line(tmp_path: Path, tiny_recbole, capsys) -> None:
    """--new-item-share: `kgrec split` and `kgrec train` hold that share of the target items
    out of training, the run keeps the setting; a protocol without new items refuses it."""
    source = ["--protocol", "ml1m-new-items", "--seed", "1", "--data", str(tiny_recbole)]
    new_items = {}
    for name, share in (("default", []), ("less", ["--new-item-share", "0.1"])):
        assert main(["split", *source, *share, "--write-split", str(tmp_path / name)]) == 0
        new_items[name] = set(pd.read_csv(tmp_path / name / "new_items.tsv", sep="\t")["item_id"])
    run = tmp_path / "run"
    argv = ["train", "--model", "popularity", *source, "--new-item-share", "0.1"]
    assert main([*argv, "--out", str(run)]) == 0
    assert load_run(run).settings["new_item_share"] == 0.1
    assert (run / "split" / "new_items.tsv").read_text() == (
        tmp_path / "less" / "new_items.tsv"
    ).read_text()
    assert 0 < len(new_items["less"]) < len(new_items["default"])
    capsys.readouterr()
    refused = tmp_path / "refused"
    argv = ["train", "--model", "popularity", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--new-item-share", "0.1", "--out", str(refused)]
    assert main(argv) == 2
    assert "--new-item-share does not apply" in capsys.readouterr().err
    assert not refused.exists()


def test_a_new_run_that_fails_leaves_no_folder(tmp_path, tiny_recbole, monkeypatch, capsys):
    """A diverged loss (bad settings) or a failure before the first checkpoint: the run folder
    goes, so the corrected command starts again (before: 'this folder already holds a run', and
    --resume refused the corrected setting)."""
    out = tmp_path / "r"
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--epochs", "3", "--dim", "8", "--out", str(out)]
    assert main([*argv, "--lr", "1e30"]) == 2  # nan at epoch 2, after a checkpoint
    assert "lower --lr" in capsys.readouterr().err
    assert not out.exists()

    def fail(*args, **kwargs):
        raise RuntimeError("the machine went away")

    monkeypatch.setattr(kgrec.experiment, "fit", fail)
    out.mkdir()  # a folder the user made: it stays, empty
    with pytest.raises(RuntimeError):
        main(argv)
    assert out.is_dir() and not any(out.iterdir())
    monkeypatch.undo()
    assert main(argv) == 0


def test_an_overflowed_training_names_the_option_and_leaves_no_run(tmp_path, tiny_recbole, capsys):
    """Before, --temperature 1e-30 overflowed Adam's squared gradients (the loss finite, about
    1e27): nothing trained and the run ended with exit 0 and the untrained model's metrics."""
    out = tmp_path / "r"
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--epochs", "2", "--dim", "8", "--out", str(out)]
    assert main([*argv, "--objective", "softmax", "--temperature", "1e-30"]) == 2
    err = capsys.readouterr().err
    assert "gradients overflowed" in err and "lower --lr" in err
    assert "--temperature 1e-30 (default 0.2)" in err
    assert "field '--lr'" not in err  # before, it named --lr alone as the field at fault
    assert not out.exists()


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999999"])
def test_a_seed_out_of_range_is_refused_before_anything_is_written(
    tmp_path, tiny_recbole, seed, capsys
):
    data = ["--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole), "--seed", seed]
    for argv in (
        ["train", "--model", "lightgcn", *data, "--out", str(tmp_path / "run")],
        ["tune", "--model", "lightgcn", *data, "--trials", "1", "--out", str(tmp_path / "tune")],
        ["split", *data, "--write-split", str(tmp_path / "split")],
    ):
        assert main(argv) == 2
        assert "field '--seed'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tiny_recbole]


def test_a_learning_rate_beyond_float32_is_refused_before_anything_is_written(
    tmp_path, tiny_recbole, capsys
):
    """Before, --lr 1e300 passed the checks and Adam's first step raised a RuntimeError
    ("value cannot be converted to type float without overflow"), a traceback."""
    data = ["--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole), "--lr", "1e300"]
    for argv in (
        ["train", "--model", "lightgcn", *data, "--out", str(tmp_path / "run")],
        ["tune", "--model", "lightgcn", *data, "--trials", "1", "--out", str(tmp_path / "tune")],
    ):
        assert main(argv) == 2
        assert "field '--lr': lr must be at most 3.403e+38" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tiny_recbole]


def test_a_pair_weight_beyond_float32_is_refused_before_anything_is_written(
    tmp_path, tiny_recbole, capsys
):
    """Before, --target-weight 1e300 (a model trained on every domain) raised a RuntimeError
    traceback as the pair weights became float32."""
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--target-weight", "1e300"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "field '--target-weight': target_weight must be at most 3.403e+38" in err
    assert list(tmp_path.iterdir()) == [tiny_recbole]


@pytest.mark.parametrize("dim", ["1000000000000", "100000000000000000000"])
def test_a_model_too_large_for_memory_names_dim_and_leaves_no_run(
    tmp_path, tiny_recbole, dim, capsys
):
    """Before, a huge --dim gave the allocator's RuntimeError (or, beyond int64, a TypeError
    from torch.empty) as a traceback."""
    out = tmp_path / "run"
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--dim", dim, "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "field '--dim': the model's parameters do not fit in memory" in err
    assert f"lower --dim {dim}" in err
    assert not out.exists()


@pytest.mark.parametrize("negatives", ["1000000000000", "100000000000000000000"])
def test_negatives_too_many_for_memory_name_the_option_and_leave_no_run(
    tmp_path, tiny_recbole, negatives, capsys
):
    """Before, a huge --num-negatives with the softmax objective ended in the allocator's
    RuntimeError traceback during training, and the new run folder was left behind."""
    out = tmp_path / "run"
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--objective", "softmax", "--epochs", "1"]
    argv += ["--num-negatives", negatives, "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "field '--num-negatives': training does not fit in memory" in err
    assert f"lower --num-negatives {negatives}" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--num-negatives", 10**12, "training does not fit in memory"),
        ("--num-negatives", 2**63, "training does not fit in memory"),
        ("--dim", 10**15, "the model's parameters do not fit in memory"),
    ],
)
def test_sizes_no_data_can_fit_are_refused_before_any_data_is_read(
    tmp_path, option, value, says, capsys
):
    """Before, --num-negatives 1000000000000 (--dim 10**15: a bare RuntimeError traceback,
    "Storage size calculation overflowed") failed only after the data was read and the model
    built (slow on ml-1m); the data named here does not exist, and is never looked at."""
    out = tmp_path / "runs" / "run"
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--epochs", "1"]
    argv += ["--data", str(tmp_path / "missing"), "--objective", "softmax"]
    assert main([*argv, option, str(value), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"field '{option}': {says} ({option} {value} " in err
    assert (
        f"more than this machine's {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')}"
        in err
    )
    assert f"lower {option} {value}" in err and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model", ["lightgcn", "rgcn", "cross-domain"])
def test_layers_too_many_for_memory_are_refused_before_the_model_is_built(
    tmp_path, tiny_recbole, model, capsys
):
    """Before, --layers 1000000000 ran for hours building a billion per-layer modules in
    Python, memory growing, with no allocation large enough to fail; now the layer outputs'
    size is checked against the machine's memory first."""
    out = tmp_path / "run"
    argv = ["train", "--model", model, "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--layers", "1000000000", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "field '--layers': the model's propagation layers do not fit in memory" in err
    assert "lower --layers 1000000000 or --dim 64" in err
    assert not out.exists()


def test_a_model_too_large_for_memory_with_init_from_names_dim_and_leaves_no_run(
    trained, tiny_recbole, tmp_path, capsys
):
    """Before, kgrec train --init-from built the new model for its warm-start check outside
    the memory guard: a huge --dim was the allocator's RuntimeError traceback, not the error
    naming --dim that the same command without --init-from gives."""
    out = tmp_path / "fine-tuned"
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--dim", "1000000000000", "--out", str(out)]
    assert main([*argv, "--init-from", str(trained.folder)]) == 2
    err = capsys.readouterr().err
    assert "field '--dim': the model's parameters do not fit in memory" in err
    assert "lower --dim 1000000000000" in err
    assert not out.exists()


def _machine_memory(monkeypatch, nbytes: int) -> None:
    """Make this machine seem to have ``nbytes`` of memory (as the layer check reads it)."""
    sysconf = os.sysconf
    sizes = {"SC_PAGE_SIZE": 1, "SC_PHYS_PAGES": nbytes}
    monkeypatch.setattr(os, "sysconf", lambda name: sizes.get(name) or sysconf(name))


def test_a_run_too_large_for_this_machine_is_refused_naming_the_run(
    trained, tmp_path, monkeypatch, capsys
):
    """Before, loading a run trained on a machine with more memory (evaluate, recommend,
    load_run) rebuilt its model without the memory guard kgrec train has: a traceback
    (_LayerOutputsTooLarge, or the allocator's RuntimeError) instead of an error naming the
    run and what it needs."""
    graph = trained.graph
    one = (graph.num_users + graph.num_items) * SMALL["dim"] * 4  # one layer output's bytes
    layers = trained.settings["layers"]
    _machine_memory(monkeypatch, layers * one)  # less than its layers + 1 outputs
    says = (
        f"file {trained.folder / 'run.json'}: the run's model (lightgcn-merged, trained with "
        f"--dim 8, --layers {layers}) does not fit in this machine's memory"
    )
    with pytest.raises(kgrec.errors.InputError, match="load it on a machine with more memory"):
        load_run(trained.folder)
    exported = tmp_path / "lists.tsv"
    for argv in (
        ["evaluate", "--run", str(trained.folder)],
        ["recommend", "--run", str(trained.folder), "--export", str(exported)],
    ):
        assert main(argv) == 2
        assert says in capsys.readouterr().err
    assert not exported.exists()


def test_a_run_whose_sizes_are_beyond_a_tensor_is_refused_as_damaged(trained, capsys):
    """A run.json edited (or damaged) to a --dim beyond int64: building its model raises
    torch's 'Overflow when unpacking long'. Before, the error advised loading the run on a
    machine with more memory, which no machine has."""
    path = trained.folder / "run.json"
    info = json.loads(path.read_text())
    info["settings"]["dim"] = 2**70
    path.write_text(json.dumps(info))
    with pytest.raises(kgrec.errors.InputError, match=r"run\.json is damaged") as refused:
        load_run(trained.folder)
    assert refused.value.file == str(path)
    assert "more memory" not in str(refused.value)
    assert main(["evaluate", "--run", str(trained.folder)]) == 2
    assert f"--dim {2**70}" in capsys.readouterr().err


def test_a_run_whose_table_bytes_are_beyond_a_tensor_is_refused_as_damaged(trained, capsys):
    """A run.json edited (or damaged) to --dim 2**61: each size fits int64 but the embedding
    table's bytes (nodes x dim x 4) do not, and torch raises "Storage size calculation
    overflowed". Before, that RuntimeError was not read as a size beyond a tensor: a bare
    traceback from load_run and kgrec evaluate."""
    path = trained.folder / "run.json"
    info = json.loads(path.read_text())
    info["settings"]["dim"] = 2**61
    path.write_text(json.dumps(info))
    with pytest.raises(kgrec.errors.InputError, match=r"run\.json is damaged") as refused:
        load_run(trained.folder)
    assert refused.value.file == str(path)
    assert "Storage size calculation overflowed" in str(refused.value)
    assert main(["evaluate", "--run", str(trained.folder)]) == 2
    assert f"--dim {2**61}" in capsys.readouterr().err


def test_a_size_whose_bytes_overflow_a_tensor_names_dim():
    """torch's "Storage size calculation overflowed" (sizes that each fit int64 but whose
    bytes do not: a huge graph times --dim) is a size beyond what a tensor can have, as
    "Overflow when unpacking long" is: kgrec train's guard names --dim for it, and a kgrec
    tune trial fails with it (kgrec.experiment.out_of_memory). Before: a bare traceback."""
    with pytest.raises(RuntimeError, match="Storage size calculation overflowed") as raised:
        torch.empty(2**40, 2**30)
    assert kgrec.experiment.out_of_memory(raised.value)
    guard = kgrec.experiment.model_memory({"model": "lightgcn", "dim": 2**30})
    with pytest.raises(kgrec.errors.InputError) as refused, guard:
        torch.nn.Embedding(2**40, 2**30)
    assert refused.value.field == "--dim"
    assert "lower --dim 1073741824" in str(refused.value)


def test_a_run_whose_layers_no_machine_could_hold_is_refused_as_damaged(trained, capsys):
    """A run.json edited (or damaged) to --layers 2**70: its layer outputs need more bytes
    than any machine has. Before, the error advised loading the run on a machine with more
    memory."""
    path = trained.folder / "run.json"
    info = json.loads(path.read_text())
    info["settings"]["layers"] = 2**70
    path.write_text(json.dumps(info))
    with pytest.raises(kgrec.errors.InputError, match=r"run\.json looks damaged") as refused:
        load_run(trained.folder)
    assert refused.value.file == str(path)
    assert "more memory than any machine has" in str(refused.value)
    assert "machine with more memory" not in str(refused.value)
    assert main(["evaluate", "--run", str(trained.folder)]) == 2
    err = capsys.readouterr().err
    assert f"--layers {2**70}" in err and "run.json looks damaged" in err


def test_a_run_too_large_for_the_gpu_advises_the_cpu(trained, monkeypatch, capsys):
    """A run whose model does not fit in the GPU it is moved to (a fake CUDA out-of-memory
    error). Before, the error advised a machine with more memory, not --device cpu or a GPU
    with more memory."""
    to = torch.nn.Module.to

    def moving(module, *args, **kwargs):
        if any(getattr(arg, "type", None) == "cuda" for arg in (*args, *kwargs.values())):
            raise torch.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity)"
            )
        return to(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", moving)
    monkeypatch.setattr(kgrec.experiment, "resolve_device", lambda name: torch.device("cuda", 0))
    with pytest.raises(kgrec.errors.InputError, match="--device cpu") as refused:
        load_run(trained.folder, device="cuda")
    assert "does not fit in the memory of cuda:0" in str(refused.value)
    assert "machine with more memory" not in str(refused.value)
    assert main(["evaluate", "--run", str(trained.folder), "--device", "cuda"]) == 2
    assert "load it with --device cpu, or on a GPU with more memory" in capsys.readouterr().err


def _graph_edges_out_of_gpu_memory(monkeypatch) -> None:
    """A GPU the model fits in (moving a module there does nothing) and the graph's edges do
    not (a fake CUDA out-of-memory error), as resolve_device's cuda:0."""
    module_to, tensor_to = torch.nn.Module.to, torch.Tensor.to

    def cuda(args, kwargs) -> bool:
        return any(str(arg).startswith("cuda") for arg in (*args, *kwargs.values()))

    def moving_module(module, *args, **kwargs):
        return module if cuda(args, kwargs) else module_to(module, *args, **kwargs)

    def moving_tensor(tensor, *args, **kwargs):
        if cuda(args, kwargs):
            raise torch.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 3.00 GiB (GPU 0; 7.79 GiB total capacity)"
            )
        return tensor_to(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", moving_module)
    monkeypatch.setattr(torch.Tensor, "to", moving_tensor)
    monkeypatch.setattr(kgrec.experiment, "resolve_device", lambda name: torch.device("cuda", 0))


def test_a_graph_too_large_for_the_gpu_is_refused_naming_its_edges(
    trained, tmp_path, tiny_recbole, monkeypatch, capsys
):
    """A graph whose message edges do not fit in the GPU beside the model (kgrec train, and
    load_run's kgrec evaluate): an error naming the edges, the device and --device cpu, exit 2.
    Before, torch's OutOfMemoryError escaped with its traceback: only the model's move was
    guarded."""
    edges = f"{trained.graph.edge_index.shape[1]:,}"
    _graph_edges_out_of_gpu_memory(monkeypatch)
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--dim", "8"]
    argv += ["--data", str(tiny_recbole), "--out", str(tmp_path / "on-gpu"), "--device", "cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(
        r"field '--device': the graph's [\d,]+ message edges do not fit in the memory of cuda:0 "
        r"beside the model \(CUDA out of memory\. Tried to allocate 3\.00 GiB",
        err,
    ), err
    assert "train with --device cpu, or on a GPU with more memory (a lower --dim 8" in err
    assert not (tmp_path / "on-gpu").exists()
    with pytest.raises(kgrec.errors.InputError, match="load the run with --device cpu") as refused:
        load_run(trained.folder, device="cuda")
    assert f"the graph's {edges} message edges do not fit in the memory of cuda:0" in str(
        refused.value
    )
    assert refused.value.file == str(trained.folder / "run.json")


def test_a_gpu_that_runs_out_as_a_plain_runtime_error_names_dim():
    """A GPU whose allocator reports running out as a plain RuntimeError (MPS's message, not
    torch.OutOfMemoryError): kgrec train's memory guard names --dim for it, as kgrec tune's
    trials already read it (one test of running out, kgrec.experiment.out_of_memory, for
    both). Before, the guard let the RuntimeError through: a traceback."""
    guard = kgrec.experiment.model_memory({"model": "lightgcn", "dim": 64})
    with pytest.raises(kgrec.errors.InputError) as refused, guard:
        raise RuntimeError(
            "MPS backend out of memory (MPS allocated: 7.20 GB, other allocations: 0 bytes, "
            "max allowed: 9.07 GB). Tried to allocate 2.00 GiB on private pool."
        )
    assert refused.value.field == "--dim"
    assert "do not fit in memory (a tensor of 2.00 GiB was asked for); lower --dim 64" in str(
        refused.value
    )


@pytest.mark.parametrize("model", ["lightgcn", "rgcn", "cross-domain"])
def test_zero_layers_trains_the_id_embeddings_alone(tmp_path, tiny_recbole, model, capsys):
    """--layers 0 (no propagation: matrix factorisation, a baseline) was refused as "layers
    must be positive", though the models take it; a negative count still is, and so is
    neighbour sampling, which samples one hop per layer."""
    out = tmp_path / "run"
    argv = ["train", "--model", model, "--protocol", "ml1m-action-comedy", "--seed", "0"]
    argv += ["--data", str(tiny_recbole), "--dim", "8", "--lr", "0.05", "--epochs", "4"]
    assert main([*argv, "--layers", "0", "--out", str(out)]) == 0
    run = load_run(out)
    assert run.model.num_layers == 0
    losses = [epoch["loss"] for epoch in run.info["training"]["history"]]
    assert losses[-1] < losses[0]  # it learns
    fresh, _, _ = build_run(run.experiment, run.settings)  # the same seed's untrained model
    trained = run.model.state_dict()
    assert any(not torch.equal(v, trained[k]) for k, v in fresh.state_dict().items())
    capsys.readouterr()
    assert main([*argv, "--layers", "-1", "--out", str(tmp_path / "negative")]) == 2
    assert "field '--layers': layers must not be negative, got -1" in capsys.readouterr().err
    if model != "lightgcn":
        argv += ["--batching", "neighbor", "--out", str(tmp_path / "sampled")]
        assert main([*argv, "--layers", "0"]) == 2
        assert "field '--layers': --batching neighbor samples one hop" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [out, tiny_recbole]


def test_a_catalogue_smaller_than_the_top_k_is_refused_before_the_run(tmp_path, capsys):
    data = tmp_path / "small"
    data.mkdir()
    rows = [f"u{u}\ti{(u + j) % 15}\t4" for u in range(30) for j in range(10)]
    (data / "small.inter").write_text(
        "user_id:token\titem_id:token\trating:float\n" + "\n".join(rows) + "\n"
    )
    argv = ["train", "--model", "popularity", "--protocol", "ml100k-kg", "--data", str(data)]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert "has 15 items, and the evaluation ranks a top 20" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    tune = ["tune", "--model", "lightgcn", *argv[3:], "--trials", "1", "--out", str(tmp_path / "t")]
    assert main(tune) == 2  # (before: a ValueError traceback from the first trial's ranking)
    assert "has 15 items, and the evaluation ranks a top 20" in capsys.readouterr().err


def test_kgrec_split_never_writes_into_a_folder_that_holds_files(tmp_path, tiny_recbole, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "train.tsv").write_text("my own\n")
    (tmp_path / "a-file").write_text("mine")
    data = ["--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole)]
    for target in (mine, tmp_path / "a-file"):
        assert main(["split", *data, "--write-split", str(target)]) == 2
        assert "new or empty folder" in capsys.readouterr().err
    assert (mine / "train.tsv").read_text() == "my own\n"
    assert main(["split", *data, "--write-split", str(tmp_path / "new")]) == 0


def test_a_runs_split_files_read_back_with_data_give_the_same_experiment(tmp_path, tiny_recbole):
    """The split folder records the domain rule its graph was read with: reading it back with
    --data applies the rule again (before: one domain of every film, the action ratings in no
    split file, and the catalogue of every genre), so the same split is the same experiment."""
    run = train(
        "popularity", protocol="ml1m-action-comedy", data=tiny_recbole, out=tmp_path / "r", **SMALL
    )
    split_dir = tmp_path / "r" / "split"
    assert json.loads((split_dir / "split.json").read_text()) == {
        "target_domain": "comedy",
        "source_domain": "action",
        "domain_rule": "ml1m-action-comedy",
        "domain": None,
        "train_fraction": 1.0,
        "few_shot": None,  # no few-shot users
        "few_shot_users": 0,
        "new_items": None,  # no item groups
    }
    again = load_experiment(
        data=tiny_recbole, store=None, protocol=None, split_dir=split_dir, seed=0
    )
    first = run.experiment
    assert again.maps.domains == first.maps.domains
    assert again.maps.domains[again.split.target_domain] == "comedy"
    for name in ("train", "valid", "test"):
        assert torch.equal(getattr(again.split, name), getattr(first.split, name))
    # read with another domain rule, the split's target domain is missing: an error, not a guess
    with pytest.raises(
        kgrec.errors.InputError,
        match=r"made with target domain 'comedy'.*--domain-rule ml1m-action-comedy with --data; "
        r"with --store, a store loaded with --domain-rule ml1m-action-comedy",
    ):
        load_experiment(
            data=tiny_recbole,
            store=None,
            protocol=None,
            split_dir=split_dir,
            seed=0,
            domain="films",
        )


def test_a_split_made_with_domain_reads_back_into_that_domain(tmp_path, tiny_recbole):
    # before: split.json did not record --domain, and --split RUN/split --data DIR failed
    # (its message suggested --domain-rule or --target-domain, neither of which works)
    first = train(
        "popularity", protocol="ml100k-kg", data=tiny_recbole, domain="movies", out=tmp_path / "r"
    )
    assert json.loads((tmp_path / "r" / "split" / "split.json").read_text())["domain"] == "movies"
    again = train(
        "popularity", split=tmp_path / "r" / "split", data=tiny_recbole, out=tmp_path / "r2"
    )
    assert again.settings["domain"] == "movies"
    assert torch.equal(again.experiment.split.test, first.experiment.split.test)


def test_domain_options_with_a_store_are_refused(tmp_path, tiny_store, capsys):
    # before: accepted, ignored and recorded in split.json, so the split could not be read
    # back with --data
    for command, extra in (("train", ["--model", "popularity"]), ("split", [])):
        out = tmp_path / command
        flag = "--out" if command == "train" else "--write-split"
        argv = [command, *extra, "--protocol", "ml1m-action-comedy", "--store", tiny_store]
        assert main([*argv, "--domain-rule", "ml1m-action-comedy", flag, str(out)]) == 2
        assert "--domain and --domain-rule read --data files" in capsys.readouterr().err
        assert not out.exists()


@pytest.mark.parametrize("stop", [OSError(28, "No space left on device"), KeyboardInterrupt()])
@pytest.mark.parametrize("existed", [False, True, "nested"])
def test_kgrec_split_stopped_while_it_writes_leaves_no_split_files(
    tmp_path, tiny_recbole, capsys, monkeypatch, stop, existed
):
    """Before, a disk that filled up or a Ctrl-C after train.tsv left it there without the
    others, in a folder that `--split` then read as another split (or refused); and the new
    parents of a new folder (``nested``) stayed, empty."""
    written = []

    def write(path, text):
        if written:
            raise stop
        written.append(path)
        path.write_text(text)

    monkeypatch.setattr(kgrec.data.split, "_write_atomic", write)
    folder = tmp_path / "split"
    if existed == "nested":  # made with its parents: all are removed, tmp_path left
        folder = tmp_path / "a" / "b" / "split"
    elif existed:  # a new folder is removed; an empty one of the user's is left, empty
        folder.mkdir()
    argv = ["split", "--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole)]
    interrupted = isinstance(stop, KeyboardInterrupt)
    assert main([*argv, "--write-split", str(folder)]) == (130 if interrupted else 2)
    assert ("interrupted" if interrupted else "cannot write the split") in capsys.readouterr().err
    assert written  # it was stopped after a file
    assert folder.is_dir() == (existed is True)
    assert existed is not True or not any(folder.iterdir())
    left = sorted(path.name for path in tmp_path.iterdir())  # no folder of its own
    assert left == (["split", "tiny"] if existed is True else ["tiny"])


@pytest.mark.parametrize("fails", [False, True])
def test_kgrec_split_keeps_a_file_put_in_its_folder_while_it_reads_the_data(
    tmp_path, tiny_recbole, capsys, monkeypatch, fails
):
    """--write-split DIR is checked empty before the data is read; a file put in DIR since (by
    the user, another kgrec split) is kept as it is and the split refused, nothing written.
    Before, a train.tsv put there was overwritten, and when the write then failed (a full disk)
    every file in DIR was deleted, the user's too."""
    folder = tmp_path / "split"
    folder.mkdir()
    read = kgrec.experiment.load_experiment

    def load_then_put_files(**kwargs):
        experiment = read(**kwargs)
        (folder / "train.tsv").write_text("my own\n")
        (folder / "notes.txt").write_text("mine\n")
        return experiment

    monkeypatch.setattr(kgrec.experiment, "load_experiment", load_then_put_files)
    if fails:  # the disk fills up after the split files are written
        write = kgrec.data.split.write_split

        def write_then_fail(*args, **kwargs):
            write(*args, **kwargs)
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(kgrec.data.split, "write_split", write_then_fail)
    argv = ["split", "--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole)]
    assert main([*argv, "--write-split", str(folder)]) == 2
    err = capsys.readouterr().err
    assert ("No space left" if fails else "files were put in it") in err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "train.tsv"]
    assert (folder / "train.tsv").read_text() == "my own\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["split", "tiny"]  # nothing of its own


def test_split_under_a_file_fails_before_the_data_is_read(
    tmp_path, tiny_recbole, capsys, monkeypatch
):
    # before: a NotADirectoryError traceback after the data was loaded
    (tmp_path / "afile").write_text("mine")
    monkeypatch.setattr(
        kgrec.experiment, "load_experiment", lambda **k: pytest.fail("data read first")
    )
    argv = ["split", "--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole)]
    assert main([*argv, "--write-split", str(tmp_path / "afile" / "x")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "option", "says"),
    [
        ("ease", ["--lr", "0.5"], "ease does not read --lr"),
        ("popularity", ["--cl-weight", "0.1"], "popularity does not read --cl-weight"),
        ("lightgcn", ["--target-weight", "5"], "lightgcn does not read --target-weight"),
        # read only beside their main option, which is off
        ("lightgcn-merged", ["--cold-start-weight", "3"], "does not read --cold-start-weight"),
        ("lightgcn", ["--cl-noise", "0.5"], "lightgcn does not read --cl-noise"),
        # sizes of a graph model: before, accepted and recorded by the models that propagate
        # nothing (since session 26)
        ("ease", ["--layers", "3"], "ease does not read --layers"),
        ("popularity", ["--dim", "32"], "popularity does not read --dim"),
        ("ease-merged", ["--dim", "32", "--layers", "1"], "does not read --dim, --layers"),
    ],
)
def test_options_a_model_never_reads_are_refused_by_kgrec_train(
    tmp_path, tiny_recbole, capsys, model, option, says
):
    # before: accepted, recorded in run.json, and without effect (target_weight cancels in
    # a weighted mean over target pairs alone)
    argv = ["train", "--model", model, "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), *option, "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_the_options_a_model_never_reads_are_listed_at_their_defaults_too():
    """never_read_options lists what a model never reads whatever its value (kgrec tune's
    printed command leaves them out); unread_options, kgrec train's refusal, those of them
    away from their defaults, but for another model's options, which check_settings refuses
    with its own message (found by the ux45 review)."""
    lightgcn = never_read_options({"model": "lightgcn"})
    assert {"ease_lambda", "ease_text_weight", "adversarial_weight", "entity_embeddings"} <= set(
        lightgcn
    )
    assert {"relation_weighting", "target_weight", "cl_noise", "text_hidden"} <= set(lightgcn)
    assert not {"dim", "layers", "lr", "text_input", "cl_weight"} & set(lightgcn)
    ease = never_read_options({"model": "ease"})
    assert {"lr", "dim", "layers", "epochs", "objective", "text_input"} <= set(ease)
    assert not {"ease_lambda", "ease_text_weight", "seed"} & set(ease)
    assert unread_options({"model": "lightgcn"}) == []
    assert unread_options({"model": "lightgcn", "ease_lambda": 3.0}) == []
    assert unread_options({"model": "ease", "lr": 0.5, "adversarial_weight": 1.0}) == ["lr"]


@pytest.mark.parametrize(
    ("model", "source"),
    [("lightgcn", "store"), ("cross-domain", "data"), ("popularity", "store")],
)
def test_a_text_property_no_text_is_read_by_is_refused(
    tmp_path, tiny_store, tiny_recbole, capsys, model, source
):
    """Before, --text-property was accepted and recorded where the run reads no node text
    (lightgcn without --text-input, any model on --data files), and the run trained without
    the text the user meant to give it."""
    argv = ["train", "--model", model, "--protocol", "ml1m-action-comedy"]
    argv += ["--store", tiny_store] if source == "store" else ["--data", str(tiny_recbole)]
    assert main([*argv, "--text-property", "vec", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    if source == "data":  # the model reads text, from a store: the store is what is missing
        # (before: "cross-domain does not read --text-property", which it does from a store)
        assert "--data files hold none: give --store" in err, err
    else:
        assert f"{model} does not read --text-property" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--reg-weight", "-0.1"),  # before: field '--objective'
        ("--cl-weight", "-1"),  # before: field '--objective'
        ("--lr", "0"),  # before: field 'lr'
        ("--batch-size", "0"),  # before: field 'batch_size'
        ("--lr", "nan"),  # before: field 'lr'
    ],
)
def test_a_bad_number_names_its_option(tmp_path, tiny_recbole, capsys, option, value):
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), option, value, "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert f"field '{option}'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_scale_for_new_items_served_by_the_text_mlp_is_refused(tmp_path, tiny_store, capsys):
    """--cold-items text serves new items by the text MLP's output, unscaled: before, a
    --cold-item-scale beside it was accepted, recorded in run.json, and without effect."""
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-new-items"]
    argv += ["--store", tiny_store, "--text-input", "add", "--cold-items", "text"]
    assert main([*argv, "--cold-item-scale", "2", "--out", str(tmp_path / "r")]) == 2
    assert "lightgcn does not read --cold-item-scale" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_run_that_is_a_file_is_an_input_error(tmp_path, capsys):
    # before: a NotADirectoryError traceback (exit 1) from evaluate, recommend and --init-from
    (tmp_path / "afile").write_text("mine")
    assert main(["evaluate", "--run", str(tmp_path / "afile")]) == 2
    assert "no run here" in capsys.readouterr().err


def test_a_run_given_as_its_run_json_names_its_folder(trained, capsys):
    """Before, `--run runs/x/run.json` (or load_run of it) said "file runs/x/run.json/run.json:
    no run here", as if the folder held no run (found by the python46 review)."""
    given = trained.folder / "run.json"
    assert main(["evaluate", "--run", str(given)]) == 2
    assert f"file {given}: a run is the folder of its run.json: give {trained.folder}" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("name", ["experiment.pt", "model.pt", "checkpoint.pt"])
def test_a_run_file_that_is_not_a_torch_file_is_a_clear_error(trained, tiny_recbole, name, capsys):
    # before: pickle.UnpicklingError traceback (exit 1) for a file that is no zip at all (a
    # text file, a file of another tool), beside the truncated one already handled
    (trained.folder / name).write_text("not a torch file\n")
    if name == "checkpoint.pt":
        argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
        argv += ["--data", str(tiny_recbole), "--out", str(trained.folder), "--resume"]
        argv += ["--epochs", "4", "--dim", "8", "--batch-size", "128"]
    else:
        argv = ["evaluate", "--run", str(trained.folder)]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err
    # torch's own message advises loading it with weights_only=False, which runs its code
    assert "not a file torch saved" in err and "weights_only" not in err
    assert (trained.folder / name).read_text() == "not a torch file\n"


@pytest.mark.parametrize("resume", [True, False])
def test_a_second_training_of_a_run_folder_is_refused(
    trained, tmp_path, tiny_recbole, resume, capsys
):
    # before: a second kgrec train into a folder another one is training (--resume of a run
    # still running, or a new run started while the first still read its data) trained too,
    # both writing split/, experiment.pt, checkpoint.pt and model.pt: a silent mixture
    import fcntl

    folder = trained.folder if resume else tmp_path / "empty"
    folder.mkdir(exist_ok=True)
    before = sorted(p.name for p in folder.iterdir())
    held = os.open(folder, os.O_RDONLY)  # what the first training holds
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
        argv += ["--data", str(tiny_recbole), "--out", str(folder), "--epochs", "4"]
        argv += ["--dim", "8", "--batch-size", "128", *(["--resume"] if resume else [])]
        capsys.readouterr()
        assert main(argv) == 2
    finally:
        os.close(held)
    err = capsys.readouterr().err
    assert "another kgrec train is writing this run folder" in err and str(folder) in err
    assert sorted(p.name for p in folder.iterdir()) == before
    if resume:
        assert json.loads((folder / "run.json").read_text())["training"]["epochs_run"] == 3
    assert main(argv) == 0  # once the first has ended


@pytest.mark.parametrize("made", [True, False])
def test_a_run_stopped_while_its_folder_is_written_can_be_started_again(
    tmp_path, tiny_recbole, monkeypatch, made
):
    # before: Ctrl-C between split/ and run.json left split/ alone, and the same command
    # (--resume too) refused the folder as "not a run folder and not empty"
    import kgrec.experiment

    out = tmp_path / "run"
    if made:
        out.mkdir()  # the user's empty folder stays

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(kgrec.experiment, "save_experiment", interrupted)
    settings = {"protocol": "ml1m-action-comedy", "data": tiny_recbole, "out": out, **SMALL}
    with pytest.raises(KeyboardInterrupt):
        train("lightgcn-merged", **settings)
    assert out.exists() == made and (not made or not any(out.iterdir()))
    monkeypatch.undo()
    assert train("lightgcn-merged", resume=True, **settings).info["status"] == "done"


@pytest.mark.parametrize(
    ("step", "resume"),
    [("save_experiment", False), ("_write_json", False), ("save_experiment", True)],
)
def test_a_new_run_killed_before_run_json_is_removed_by_the_next_training(
    tmp_path, tiny_recbole, caplog, step, resume
):
    """A `kill -9` of a new `kgrec train` before it wrote run.json (simulated by
    ``os._exit(9)`` at ``step``: after split/, or after experiment.pt too) left split/ and
    experiment.pt, and the next `kgrec train --out RUN` (--resume too) refused the folder as a
    killed training's that kgrec cannot tell from the user's files. Its marker tells: the next
    training removes them and gives the figures of a run never killed. The same files without
    the marker (an older kgrec's, or the user's) are still refused, and kept."""
    out = tmp_path / "run"
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--epochs", "3", "--dim", "8", "--batch-size", "128"]
    code = (
        "import os, kgrec.experiment as e\n"
        "from kgrec.cli import main\n"
        f"setattr(e, {step!r}, lambda *args, **kwargs: os._exit(9))\n"
        f"main({[*argv, '--out', str(out)]!r})\n"
    )
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    left = {p.relative_to(out).as_posix() for p in out.rglob("*")}
    assert {".kgrec-new-run", "split", "split/train.tsv"} <= left and "run.json" not in left
    assert ("experiment.pt" in left) == (step == "_write_json")
    theirs = tmp_path / "theirs"  # the same files without the marker
    shutil.copytree(out, theirs)
    (theirs / ".kgrec-new-run").unlink()
    assert main([*argv, "--out", str(theirs)]) == 2
    assert {p.relative_to(theirs).as_posix() for p in theirs.rglob("*")} == left - {
        ".kgrec-new-run"
    }
    caplog.clear()
    assert main([*argv, "--out", str(out), *(["--resume"] if resume else [])]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(str(out) in w and "killed" in w for w in warned), warned
    assert not (out / ".kgrec-new-run").exists()
    assert main([*argv, "--out", str(tmp_path / "never-killed")]) == 0
    run, never = load_run(out), load_run(tmp_path / "never-killed")
    pd.testing.assert_frame_equal(run.metrics(), never.metrics())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in (tmp_path / "never-killed").iterdir()
    )


def test_a_resumed_run_times_only_the_epochs_it_trained(trained, tiny_recbole):
    # before: seconds_per_epoch divided the resumed call's seconds by every epoch, the
    # checkpoint's too (3 + 1 here: a quarter of the true figure), with nothing to tell
    resumed = _resume(trained.folder, tiny_recbole, epochs=4)
    training = json.loads((trained.folder / "run.json").read_text())["training"]
    assert resumed.info["training"] == training
    assert (training["epochs_run"], training["epochs_resumed"]) == (4, 3)
    assert training["seconds_per_epoch"] == pytest.approx(training["seconds"], abs=0.006)


def test_a_finished_run_without_its_checkpoint_is_not_resumed_from_scratch(
    trained, tiny_recbole, capsys
):
    # before: --resume silently trained it again from the start and replaced its model.pt
    (trained.folder / "checkpoint.pt").unlink()
    model = (trained.folder / "model.pt").read_bytes()
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(trained.folder), "--resume"]
    argv += ["--epochs", "4", "--dim", "8", "--batch-size", "128"]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "checkpoint.pt" in err and "--init-from" in err
    assert (trained.folder / "model.pt").read_bytes() == model


@pytest.mark.parametrize("where", ["prepare_experiment", "fit"])
def test_a_failed_new_run_leaves_no_folder_it_made(tmp_path, tiny_recbole, monkeypatch, where):
    # before: a run stopped before its first checkpoint removed --out but left the parents
    # it had made (runs/new/ of --out runs/new/a)
    import kgrec.experiment

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(kgrec.experiment, where, interrupted)
    (tmp_path / "runs").mkdir()
    out = tmp_path / "runs" / "new" / "a"
    with pytest.raises(KeyboardInterrupt):
        train("lightgcn-merged", protocol="ml1m-action-comedy", data=tiny_recbole, out=out, **SMALL)
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_failed_new_run_keeps_a_file_of_the_users_in_its_split_folder(
    tmp_path, tiny_recbole, monkeypatch
):
    """A new run discarded as it fails (before its first checkpoint, or stopped by bad
    settings) removes the files it wrote: before, it removed its split/ whole, with a note
    the user had put there as it trained."""
    import kgrec.experiment

    out = tmp_path / "run"

    def noted_then_failed(*args, **kwargs):
        (out / "split" / "notes.txt").write_text("mine")
        raise kgrec.errors.InputError("the loss diverged")

    monkeypatch.setattr(kgrec.experiment, "fit", noted_then_failed)
    with pytest.raises(kgrec.errors.InputError, match="diverged"):
        train("lightgcn-merged", protocol="ml1m-action-comedy", data=tiny_recbole, out=out, **SMALL)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "split",
        "split/notes.txt",
    ]


def test_a_resume_with_fewer_epochs_than_the_run_has_trained_is_refused(
    trained, tiny_recbole, capsys
):
    # before: accepted; nothing trained and the finished run rewritten with --epochs 2 in its
    # settings beside epochs_run 3
    before = {p.name: p.read_bytes() for p in trained.folder.iterdir() if p.is_file()}
    with pytest.raises(
        kgrec.errors.InputError, match=r"already trained 3 epochs, more than --epochs 2"
    ):
        _resume(trained.folder, tiny_recbole, epochs=2)
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(trained.folder), "--resume"]
    argv += ["--epochs", "2", "--dim", "8", "--batch-size", "128"]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already trained 3 epochs" in err and "--epochs 3 or more" in err
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in trained.folder.iterdir() if p.is_file()} == before
    # as many epochs as it has trained is no error: the run is read as it is
    assert _resume(trained.folder, tiny_recbole, epochs=3).info["training"]["epochs_run"] == 3


def test_a_finished_run_resumed_with_its_own_settings_is_left_as_it_is(
    trained, tiny_recbole, capsys
):
    # before: nothing was trained, and model.pt, metrics.json and run.json were all written
    # again (run.json's seconds and environment new)
    def files():
        return {
            p.name: (p.read_bytes(), p.stat().st_mtime_ns)
            for p in trained.folder.iterdir()
            if p.is_file()
        }

    before = files()
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(trained.folder), "--resume"]
    argv += ["--epochs", "3", "--dim", "8", "--batch-size", "128"]
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "holds a finished run with these settings: nothing to train" in out
    assert files() == before
    run = _resume(trained.folder, tiny_recbole)
    assert files() == before
    assert run.info == trained.info and run.evaluate() == trained.evaluate()
    # a file missing or damaged is written again from the checkpoint, as before
    (trained.folder / "model.pt").write_bytes(b"damaged")
    (trained.folder / "metrics.json").unlink()
    assert _resume(trained.folder, tiny_recbole).evaluate() == trained.evaluate()
    assert json.loads((trained.folder / "metrics.json").read_text())
    assert load_run(trained.folder).evaluate() == trained.evaluate()


@pytest.mark.parametrize("damaged", ['{"valid": {"all": {"ndcg', "", "[]", '{"valid": {}}'])
def test_a_finished_runs_damaged_metrics_json_is_written_again_by_resume(
    trained, tiny_recbole, caplog, damaged
):
    """The README: a finished run resumed with its own settings writes a damaged metrics.json
    again from its checkpoint, with a warning naming it. Before, only its presence was
    checked: a truncated one was left as it was, "nothing to train"."""
    expected = (trained.folder / "metrics.json").read_text()
    (trained.folder / "metrics.json").write_text(damaged)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _resume(trained.folder, tiny_recbole)
    assert (trained.folder / "metrics.json").read_text() == expected
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("metrics.json" in message for message in warned), warned


@pytest.mark.parametrize("moved", [0, 1, 2, 3])
def test_a_resume_stopped_while_it_replaces_a_finished_run_never_mixes_them(
    trained, tiny_recbole, monkeypatch, moved
):
    # before: model.pt, metrics.json and run.json were replaced one after another, and a stop
    # between two left the new model.pt served beside the old run.json and metrics.json
    final = ("model.pt", "metrics.json", "run.json")

    def snapshot():
        return {name: (trained.folder / name).read_bytes() for name in final}

    old = snapshot()
    replace, moves = os.replace, []

    def stopping(source, target, *args, **kwargs):
        if Path(target).name in final and Path(target).parent == trained.folder:
            if len(moves) == moved:
                raise KeyboardInterrupt  # the stop: this file and those after it not moved
            moves.append(Path(target).name)
        return replace(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", stopping)
    with pytest.raises(KeyboardInterrupt):
        _resume(trained.folder, tiny_recbole, epochs=4)
    monkeypatch.undo()
    assert not [p.name for p in trained.folder.iterdir() if p.name.endswith(".tmp")]
    if snapshot() == old:  # stopped before anything was replaced: the old run, whole
        assert load_run(trained.folder).info["training"]["epochs_run"] == 3
        return
    # anything replaced: the run says it is unfinished, nothing serves it, and the same
    # command finishes it into the new run, whole
    with pytest.raises(kgrec.errors.InputError, match="did not finish"):
        load_run(trained.folder)
    assert main(["evaluate", "--run", str(trained.folder)]) == 2
    with pytest.raises(kgrec.errors.InputError, match="--init-from: the run did not finish"):
        train(
            "lightgcn-merged",
            protocol="ml1m-action-comedy",
            data=tiny_recbole,
            out=trained.folder.parent / "warm",
            init_from=trained.folder,
            **SMALL,
        )
    resumed = _resume(trained.folder, tiny_recbole, epochs=4)
    info = json.loads((trained.folder / "run.json").read_text())
    assert info["status"] == "done" and info["training"]["epochs_run"] == 4
    metrics = json.loads((trained.folder / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(load_run(trained.folder).evaluate()))
    assert metrics == json.loads(json.dumps(resumed.evaluate()))


def test_a_temporary_file_a_kill_left_is_removed_by_the_next_training(
    trained, tmp_path, tiny_recbole
):
    # before: the .checkpoint.pt.XXXXXXXX.tmp a kill -9 during a checkpoint's save left stayed
    # in the run folder for good, and a folder holding only such files (rm -r RUN/* leaves
    # them: they are hidden) was refused as a killed training's
    fd, name = tempfile.mkstemp(dir=trained.folder, prefix=".checkpoint.pt.", suffix=".tmp")
    os.write(fd, b"half a checkpoint")  # as kgrec.files.write_atomic names it
    os.close(fd)
    stale = Path(name)
    theirs = [".checkpoint.pt.my-copy.tmp", ".notes.txt.k2_x9a0q.tmp", "notes.txt"]
    for name in theirs:
        (trained.folder / name).write_text("mine")
    assert _resume(trained.folder, tiny_recbole, epochs=4).info["training"]["epochs_run"] == 4
    assert not stale.exists()
    assert all((trained.folder / name).read_text() == "mine" for name in theirs)
    out = tmp_path / "emptied"
    out.mkdir()
    (out / ".run.json.a1b2c3d4.tmp").write_text("{")
    run = train(
        "lightgcn-merged", protocol="ml1m-action-comedy", data=tiny_recbole, out=out, **SMALL
    )
    assert run.info["status"] == "done" and not (out / ".run.json.a1b2c3d4.tmp").exists()


def test_a_run_read_while_a_resume_replaces_its_files_is_one_runs(
    trained, tiny_recbole, monkeypatch
):
    # before: load_run read run.json, then model.pt: a kgrec train --resume that moved its
    # new files into place in between gave the new model beside the old run.json (its
    # training record, settings, a student's scale)
    newer = trained.folder.parent / "newer"
    shutil.copytree(trained.folder, newer)
    _resume(newer, tiny_recbole, epochs=4)
    new_model = torch.load(newer / "model.pt", weights_only=True)
    read_experiment, replaced = kgrec.experiment.read_experiment, []

    def replacing(path):
        if not replaced:  # after run.json was read, before model.pt: as the trainer does it
            for name in ("run.json", "model.pt", "metrics.json", "run.json"):
                if name == "run.json" and not replaced:
                    training = {**json.loads((newer / name).read_text()), "status": "training"}
                    (trained.folder / ".staged").write_text(json.dumps(training))
                else:
                    shutil.copyfile(newer / name, trained.folder / ".staged")
                os.replace(trained.folder / ".staged", trained.folder / name)
                replaced.append(name)
        return read_experiment(path)

    monkeypatch.setattr(kgrec.experiment, "read_experiment", replacing)
    run = load_run(trained.folder)
    assert run.info["training"]["epochs_run"] == 4  # the new run.json with the new model
    state = run.model.state_dict()
    assert all(torch.equal(state[key].cpu(), value.cpu()) for key, value in new_model.items())


def test_a_run_being_trained_is_refused_as_such(trained, capsys) -> None:
    # before: evaluate (recommend, --init-from) said of a run that a kgrec train was training
    # at that moment that it "did not finish (stopped while it trained ...)" and to --resume
    # it, which that training's lock then refuses
    info = json.loads((trained.folder / "run.json").read_text())
    (trained.folder / "run.json").write_text(json.dumps({**info, "status": "training"}))
    lock = kgrec.experiment._lock_run_folder(trained.folder)  # as a running kgrec train holds it
    try:
        assert main(["evaluate", "--run", str(trained.folder)]) == 2
        err = capsys.readouterr().err
        assert "being trained now" in err and "--resume" not in err
        with pytest.raises(kgrec.errors.InputError, match="--init-from: the run is being trained"):
            kgrec.experiment.check_finished_run(trained.folder)
    finally:
        os.close(lock)
    assert main(["evaluate", "--run", str(trained.folder)]) == 2  # stopped: resume it
    assert "did not finish" in capsys.readouterr().err


def test_source_domain_from_the_command_line(tmp_path: Path, make_two_domains, capsys) -> None:
    """--source-domain on a graph of three domains: `kgrec split` names it and split.json
    records it, `kgrec train` keeps it in run.json, and `kgrec tune`'s command trains with it
    again. Before, the protocol's action was the source whatever was asked, and nothing said
    which domain it was."""
    from kgrec.tune import Choice, tune

    store = f"local:{tmp_path / 'store'}"
    with open_store(store) as opened:
        opened.write(make_two_domains(domains=("action", "comedy", "drama")), progress=False)
    source = ["--protocol", "ml1m-action-comedy", "--seed", "3", "--store", store]
    source += ["--target-domain", "comedy", "--source-domain", "drama"]
    assert main(["split", *source, "--write-split", str(tmp_path / "split")]) == 0
    assert "source domain 'drama'" in capsys.readouterr().out
    record = json.loads((tmp_path / "split" / "split.json").read_text())
    assert record["source_domain"] == "drama"
    run = tmp_path / "run"
    assert main(["train", "--model", "popularity", *source, "--out", str(run)]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["source_domain"] == info["settings"]["source_domain"] == "drama"
    result = tune(
        "lightgcn",
        out=tmp_path / "tune",
        space={"lr": Choice([0.01])},
        trials=1,
        epochs=1,
        dim=8,
        protocol="ml1m-action-comedy",
        store=store,
        seed=3,
        target_domain="comedy",
        source_domain="drama",
        progress=False,
    )
    assert "--source-domain drama" in result.command
    # split files hold their cold-start users already
    argv = ["train", "--model", "popularity", "--split", str(tmp_path / "split"), "--store", store]
    capsys.readouterr()
    assert main([*argv, "--source-domain", "drama", "--out", str(tmp_path / "again")]) != 0
    assert "split files (--split) already hold theirs" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


def test_split_files_of_one_domain_read_with_data_of_one_say_what_is_left_out(
    tmp_path: Path, tiny_recbole, caplog
) -> None:
    """Split files of comedy without their split.json, read with the data as one domain (no
    --domain-rule): before, the action interactions were silently neither trained on nor
    masked and every film ranked, with only "target domain 'tiny'" printed; now a warning
    says so and names --domain-rule. The same files with split.json warn of nothing."""
    folder = tmp_path / "split"
    source = ["--protocol", "ml1m-action-comedy", "--seed", "2", "--data", str(tiny_recbole)]
    assert main(["split", *source, "--write-split", str(folder)]) == 0
    caplog.clear()
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        kept = load_experiment(
            data=tiny_recbole, store=None, protocol=None, split_dir=folder, seed=0
        )
    assert list(kept.maps.domains) == ["action", "comedy"] and not caplog.records
    (folder / "split.json").unlink()
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        one = load_experiment(
            data=tiny_recbole, store=None, protocol=None, split_dir=folder, seed=0
        )
    assert len(one.maps.domains) == 1
    pairs = one.data["user", "interacts", "item"].edge_index
    held = sum(getattr(one.split, name).size(1) for name in ("train", "valid", "test"))
    message = caplog.text
    assert f"{pairs.size(1) - held} of the {pairs.size(1)} interactions" in message
    assert "--domain-rule" in message and pairs.size(1) > held


def test_a_protocol_and_split_files_together_are_refused(tmp_path: Path, tiny_recbole) -> None:
    # before: train(protocol=..., split=...) trained on the split files, ignoring the protocol
    # (a new-item protocol's item groups silently missing), and run.json recorded both
    split = tmp_path / "split"
    argv = ["split", "--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole)]
    assert main([*argv, "--write-split", str(split)]) == 0
    both = {"protocol": "ml1m-new-items", "data": tiny_recbole}
    with pytest.raises(kgrec.errors.InputError, match="not both") as caught:
        train("popularity", split=split, out=tmp_path / "run", **both, **SMALL)
    assert caught.value.field == "--split" and not (tmp_path / "run").exists()
    with pytest.raises(kgrec.errors.InputError, match="not both"):
        load_experiment(store=None, split_dir=split, seed=0, **both)


@pytest.mark.parametrize("both", [True, False])
def test_data_and_store_together_or_neither_are_refused_naming_the_argument(
    tmp_path: Path, tiny_recbole, both
) -> None:
    # before: a bare ValueError from read_graph ("give exactly one of data ... and store ..."),
    # naming no argument
    source = {"data": tiny_recbole, "store": f"local:{tmp_path / 'store'}"}
    if not both:
        source = {"data": None, "store": None}
    message = "not both" if both else r"give data \(a RecBole folder\) or store"
    common = {"protocol": "ml1m-action-comedy", **source}
    with pytest.raises(kgrec.errors.InputError, match=message) as caught:
        load_experiment(split_dir=None, seed=0, **common)
    assert caught.value.field == ("--store" if both else "--data")
    with pytest.raises(kgrec.errors.InputError, match=message) as caught:
        train("popularity", out=tmp_path / "run", **common, **SMALL)
    assert caught.value.field == ("--store" if both else "--data")
    assert not (tmp_path / "run").exists() and not (tmp_path / "store").exists()


def test_load_experiment_reads_numpy_numbers_as_the_python_ones(tiny_recbole) -> None:
    # before: seed=np.int64(0) and few_shot=np.int64(3) were refused as no integer, where
    # train() took them; a bool is still refused
    common = {"data": tiny_recbole, "store": None, "protocol": "ml1m-action-comedy"}
    numpy = load_experiment(
        split_dir=None,
        seed=np.int64(0),
        few_shot=np.int64(3),
        cold_test_share=np.float32(0.25),
        **common,
    )
    plain = load_experiment(split_dir=None, seed=0, few_shot=3, cold_test_share=0.25, **common)
    for name in ("train", "valid", "test", "few_shot_users"):
        assert torch.equal(getattr(numpy.split, name), getattr(plain.split, name))
    assert type(numpy.split.few_shot) is int
    with pytest.raises(kgrec.errors.InputError, match="the seed must be an integer"):
        load_experiment(split_dir=None, seed=np.bool_(False), **common)


def test_numpy_numbers_are_read_as_the_python_ones(tmp_path: Path, tiny_recbole) -> None:
    # before: seed=np.int64(3) (a loop over np.arange) was refused as "the seed must be an
    # integer", train_fraction=np.float32(0.5) as no number, and epochs=np.int64(1) passed the
    # checks and failed writing run.json with a bare TypeError (int64 is not JSON serializable)
    common = {"protocol": "ml1m-action-comedy", "data": tiny_recbole, **SMALL}
    run = train(
        "lightgcn",
        seed=np.int64(3),
        train_fraction=np.float32(0.5),
        few_shot=np.int64(1),
        out=tmp_path / "numpy",
        **{**common, "epochs": np.int64(1)},
    )
    plain = train(
        "lightgcn",
        seed=3,
        train_fraction=0.5,
        few_shot=1,
        out=tmp_path / "plain",
        **{**common, "epochs": 1},
    )
    assert run.info["settings"] == plain.info["settings"]
    assert type(json.loads((run.folder / "run.json").read_text())["settings"]["seed"]) is int
    for name in ("train", "valid", "test", "few_shot_users"):
        assert (run.folder / "split" / f"{name}.tsv").read_text() == (
            plain.folder / "split" / f"{name}.tsv"
        ).read_text()


def test_a_run_stopped_by_ctrl_c_as_it_trains_says_that_resume_continues_it(
    tmp_path, tiny_recbole, monkeypatch, capsys, caplog
):
    # before: "kgrec train: interrupted" alone, though the run's checkpoint.pt (kept) is
    # what --resume continues from, exactly as if it had not stopped
    import kgrec.train

    validations = []

    def stopped_in_epoch_3(*args, **kwargs):
        validations.append(1)
        if len(validations) == 3:
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    evaluate = kgrec.train.evaluate
    monkeypatch.setattr(kgrec.train, "evaluate", stopped_in_epoch_3)
    out = tmp_path / "run"
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(out), "--epochs", "4"]
    argv += ["--dim", "8", "--batch-size", "128"]
    capsys.readouterr()
    assert main(argv) == 130
    said = " ".join(r.getMessage() for r in caplog.records) + capsys.readouterr().err
    assert "kgrec train: interrupted" in said
    assert f"{out / 'checkpoint.pt'} keeps epoch 2" in said and "--resume continues" in said
    assert not (out / "model.pt").exists() and not (out / "metrics.json").exists()
    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0
    resumed = _as_uninterrupted(out, tmp_path, tiny_recbole)
    assert resumed["epochs_resumed"] == 2


@contextlib.contextmanager
def _file_size_limit(size: int):
    """Files of this process no larger than ``size`` bytes while it is held: a write beyond
    fails as on a full disk (EFBIG; Python ignores SIGXFSZ), through the system itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _fails_to_write(module, name: str, *, after: int = 0):
    """``module.name`` wrapped so that its call number ``after`` + 1 writes under a file size
    limit of 1 KiB (a disk that filled up), the others as they are."""
    calls = []
    original = getattr(module, name)

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) != after + 1:
            return original(*args, **kwargs)
        with _file_size_limit(1024):
            return original(*args, **kwargs)

    return wrapped


@pytest.mark.parametrize("where", ["checkpoint", "end"])
def test_a_run_whose_files_cannot_be_written_says_so_and_resumes_once_they_can(
    tmp_path, tiny_recbole, monkeypatch, capsys, where
):
    """A checkpoint.pt (epoch 3 of 4) or the run's files at the end (model.pt, metrics.json,
    run.json) that the disk refuses: an error naming them and the reason, the checkpoint kept
    (epoch 2, resp. 4) and nothing half-written; the same command with --resume then ends as
    a run never stopped. Before, a RuntimeError traceback from torch ("[enforce fail at
    inline_container.cc:...] . unexpected pos 704 vs 598"), naming neither."""
    if where == "checkpoint":
        monkeypatch.setattr(kgrec.train, "_save", _fails_to_write(kgrec.train, "_save", after=2))
    else:
        monkeypatch.setattr(
            kgrec.experiment,
            "write_all_atomic",
            _fails_to_write(kgrec.experiment, "write_all_atomic"),
        )
    out = tmp_path / "run"
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(out), "--epochs", "4"]
    argv += ["--dim", "8", "--batch-size", "128"]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "File too large" in err and "--resume" in err and "Traceback" not in err
    kept = 2 if where == "checkpoint" else 4
    if where == "checkpoint":
        assert f"cannot write the checkpoint of epoch 3 ({out / 'checkpoint.pt'})" in err
    else:
        assert f"cannot write model.pt, metrics.json and run.json in {out}" in err
    assert f"checkpoint.pt keeps epoch {kept}" in err
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == kept
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "experiment.pt",
        "run.json",
        "split",
    ]
    assert json.loads((out / "run.json").read_text())["status"] == "training"
    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0
    _as_uninterrupted(out, tmp_path, tiny_recbole)
    assert (out / "metrics.json").read_text() == (tmp_path / "whole" / "metrics.json").read_text()


def _as_uninterrupted(out, tmp_path, tiny_recbole) -> dict:
    """The training record of the resumed 4-epoch run in ``out``, checked against the same
    run trained straight through at ``tmp_path / "whole"``: the same validation history."""
    whole = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "whole",
        **{**SMALL, "epochs": 4},
    )
    resumed = json.loads((out / "run.json").read_text())["training"]
    assert resumed["history"] == whole.info["training"]["history"]
    return resumed


def test_a_new_run_whose_experiment_pt_cannot_be_written_says_so_and_leaves_nothing(
    tmp_path, tiny_recbole, monkeypatch, capsys
):
    # before: a RuntimeError traceback from torch ("unexpected pos ..."), naming neither the
    # file nor the reason (a full disk)
    monkeypatch.setattr(
        kgrec.experiment,
        "save_experiment",
        _fails_to_write(kgrec.experiment, "save_experiment"),
    )
    out = tmp_path / "runs" / "run"
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(out), "--epochs", "2", "--dim", "8"]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"file {out}: cannot write the run folder (File too large)" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]


@pytest.mark.slow
def test_a_run_stopped_by_sigterm_keeps_its_checkpoint_and_resumes(tmp_path, tiny_recbole):
    # before: SIGTERM (`kill`, `timeout`, a batch scheduler's time limit, torchrun's agent)
    # ended Python at once: exit -15, no word of --resume, none of the Ctrl-C handling
    out = tmp_path / "run"
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(out), "--epochs", "12"]
    argv += ["--dim", "8", "--batch-size", "1", "--threads", "1"]  # epochs of ~0.3 s
    process = subprocess.Popen(
        [sys.executable, "-m", "kgrec.cli", *argv],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.pt").exists() and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint.pt in 120 s"
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, err
    assert "kgrec train: terminated (SIGTERM)" in err and "Traceback" not in err
    assert f"{out / 'checkpoint.pt'} keeps epoch" in err and "--resume continues" in err
    assert json.loads((out / "run.json").read_text())["status"] == "training"
    assert not (out / "model.pt").exists() and not (out / "metrics.json").exists()
    assert main([*argv, "--resume"]) == 0
    whole = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "whole",
        epochs=12,
        dim=8,
        batch_size=1,
        progress=False,
    )
    resumed = json.loads((out / "run.json").read_text())["training"]
    assert resumed["history"] == whole.info["training"]["history"]
    assert resumed["epochs_resumed"] >= 1


def test_a_resumed_run_that_diverges_says_that_a_lower_lr_needs_a_new_run(
    trained, tiny_recbole, monkeypatch, capsys
):
    # before: "lower --lr" alone, which --resume refuses ("these differ: --lr") and which
    # the same command without it refuses too ("this folder already holds a run")
    import kgrec.train
    from kgrec.ranking import NaNScores

    def diverged(*args, **kwargs):
        raise NaNScores([0])

    monkeypatch.setattr(kgrec.train, "evaluate", diverged)
    run_json = (trained.folder / "run.json").read_text()
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(trained.folder), "--resume"]
    argv += ["--epochs", "5", "--dim", "8", "--batch-size", "128"]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        "field '--lr': the model's validation scores are NaN or infinite for 1 user(s) at epoch 4"
        in err
    )
    assert "--resume keeps the run's settings: train a new run (another --out)" in err
    assert (trained.folder / "run.json").read_text() == run_json  # the finished run stays


@pytest.mark.parametrize(
    "model, options",
    [
        ("rgcn", {"batching": "neighbor"}),
        (
            "lightgcn-merged",
            {
                "objective": "softmax",
                "num_negatives": 5,
                "cl_weight": 0.1,
                "text_cl_weight": 0.1,
                "text_input": "add",
                "cold_start_share": 0.3,
                "train_fraction": 0.7,
            },
        ),
        ("cross-domain", {"batching": "neighbor", "adversarial_weight": 0.1, "few_shot": 2}),
    ],
)
def test_the_options_that_draw_resume_to_the_figures_of_a_run_never_stopped(
    tmp_path, text_store, model, options
):
    """The terms that draw numbers of their own (neighbour sampling, sampled negatives, the
    contrastive noise, the text view, cold-start hiding) take the same draws after --resume
    as straight through, and a second run with the same seed repeats the first exactly (the
    repro42 review checked these on the command line; the tests held LightGCN alone)."""
    common = {"protocol": "ml1m-action-comedy", "store": text_store, "seed": 0, **options}
    common |= {"dim": 8, "batch_size": 64, "lr": 0.01, "patience": 4, "progress": False}
    whole = train(model, out=tmp_path / "whole", epochs=4, **common)
    again = train(model, out=tmp_path / "again", epochs=4, **common)
    train(model, out=tmp_path / "resumed", epochs=2, **common)
    resumed = train(model, out=tmp_path / "resumed", epochs=4, resume=True, **common)
    assert resumed.info["training"]["epochs_resumed"] == 2
    for run in (again, resumed):
        assert run.info["training"]["history"] == whole.info["training"]["history"]
        assert (run.folder / "metrics.json").read_text() == (
            whole.folder / "metrics.json"
        ).read_text()
        saved = torch.load(run.folder / "model.pt", weights_only=True)
        for key, value in torch.load(whole.folder / "model.pt", weights_only=True).items():
            assert torch.equal(value, saved[key]), key


def test_kgrec_split_keeps_the_staging_folder_of_a_split_another_container_runs(
    tmp_path, tiny_recbole, dead_pid
):
    """A split running in another container on the same volume (or on another machine) names
    a pid that is no process here. Before, the next split into the same folder took its
    staging folder for a killed split's and removed it mid-write (that split then wrote on into
    a folder made anew, missing the files it had written); now the lock the running split
    holds on its staging folder keeps it."""
    running = tmp_path / f".split.kgrec-split-{dead_pid}.abcdefgh"
    running.mkdir()
    (running / "train.tsv").write_text("user_id\titem_id\n")
    holder = subprocess.Popen(  # the other container's split: it holds its folder's lock
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
            str(running),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    argv = ["split", "--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole)]
    try:
        assert holder.stdout.readline() == "locked\n"
        assert main([*argv, "--write-split", str(tmp_path / "split")]) == 0
        assert (running / "train.tsv").exists()
    finally:
        holder.communicate("")  # that split ends; its folder is a killed one's now
    shutil.rmtree(tmp_path / "split")
    assert main([*argv, "--write-split", str(tmp_path / "split")]) == 0
    assert not running.exists()


def test_kgrec_split_killed_while_it_writes_leaves_nothing_the_next_split_keeps(
    tmp_path, tiny_recbole
):
    """A `kill -9` of `kgrec split` after its first split file (simulated by ``os._exit(9)``)
    left its staging folder, ``.split.XXXXXXXX/`` with ``train.tsv`` in it, beside the split
    folder for good: no later command removed it. The next split into that folder removes it
    (its process has ended), and never a hidden folder of the user's."""
    folder = tmp_path / "split"
    argv = ["split", "--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole)]
    argv += ["--write-split", str(folder)]
    code = (
        "import os, sys, kgrec.data.split as s\n"
        "from kgrec.cli import main\n"
        "write = s._write_atomic\n"
        "def killed(path, text):\n"
        "    if path.name != 'train.tsv':\n"
        "        os._exit(9)\n"
        "    write(path, text)\n"
        "s._write_atomic = killed\n"
        f"main({argv!r})\n"
    )
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    assert not folder.exists()
    left = [p for p in tmp_path.iterdir() if p.name not in ("tiny",)]
    assert len(left) == 1 and (left[0] / "train.tsv").exists()  # what the kill left
    mine = tmp_path / ".split.abcdefgh"  # a hidden folder of the user's, of tempfile's form
    mine.mkdir()
    (mine / "train.tsv").write_text("my own\n")
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".split.abcdefgh", "split", "tiny"]
    assert (mine / "train.tsv").read_text() == "my own\n"
    assert sorted(p.name for p in folder.iterdir()) == [
        "split.json",
        "test.tsv",
        "train.tsv",
        "valid.tsv",
    ]
