"""bench/time_to_quality.py without RecBole: kgrec's side of the race on a tiny dataset."""

from __future__ import annotations

import pytest

from kgrec.experiment import TRAIN_DEFAULTS, load_experiment


@pytest.fixture(scope="module")
def ttq(bench_script):
    return bench_script("time_to_quality")


@pytest.fixture
def experiment(tiny_recbole):
    return load_experiment(
        data=tiny_recbole, store=None, protocol="ml1m-action-comedy", split_dir=None, seed=0
    )


def _settings(**changes):
    return {**TRAIN_DEFAULTS, "model": "lightgcn-merged", "dim": 8, "batch_size": 64, **changes}


def test_the_target_is_reached_at_the_first_epoch_at_or_above_it(ttq, experiment):
    record = ttq.kgrec_lightgcn(experiment, _settings(lr=0.01, patience=3), 8, target=0.0)
    assert record["epoch_reached"] == 1  # every epoch is at or above 0
    assert record["seconds_to_target"] == record["seconds_curve"][0]
    assert len(record["test_curve"]) == record["epochs_run"] == len(record["seconds_curve"])
    assert record["seconds_curve"] == sorted(record["seconds_curve"])
    assert record["seconds_to_best"] == record["seconds_curve"][record["best_epoch"] - 1]
    # the early-stopped model is the best validation epoch's, as in kgrec train
    assert record["test"] == pytest.approx(record["test_curve"][record["best_epoch"] - 1])


def test_a_target_never_reached_is_said(ttq, experiment):
    record = ttq.kgrec_lightgcn(experiment, _settings(patience=2), 3, target=1.01)
    assert "epoch_reached" not in record and "seconds_to_target" not in record


def test_speed_mode_runs_every_epoch_without_reading_test(ttq, experiment):
    record = ttq.kgrec_lightgcn(experiment, _settings(patience=1), 4, target=None)
    assert record["epochs_run"] == 4  # no early stopping
    assert "test_curve" not in record


def test_without_recbole_it_says_make_setup_recbole(ttq, tiny_recbole, tmp_path, capsys):
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy"]
    argv += ["--out", str(tmp_path / "out"), "--venv", str(tmp_path / "none")]
    assert ttq.main(argv) == 2
    assert "make setup-recbole" in capsys.readouterr().err


def test_another_seed_in_the_same_out_is_refused(ttq, tiny_recbole, tmp_path, fake_recbole, capsys):
    """Before, seed 1 in seed 0's --out printed seed 0's RecBole result beside kgrec on
    seed 1's split, and rewrote the split files."""
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--epochs", "1"]
    argv += ["--out", str(tmp_path / "out"), "--venv", str(fake_recbole), "--set", "dim=8"]
    assert ttq.main([*argv, "--seed", "0"]) == 0
    split = (tmp_path / "out" / "split" / "train.tsv").read_text()
    assert ttq.main([*argv, "--seed", "1"]) == 2
    assert "holds another split's files and results" in capsys.readouterr().err
    assert (tmp_path / "out" / "split" / "train.tsv").read_text() == split


@pytest.mark.parametrize(
    ("setting", "says"),
    [("learning_rate=0.01", "not a kgrec train setting"), ("lr=fast", "a number is expected")],
)
def test_a_misspelt_or_mistyped_setting_is_refused(
    ttq, tiny_recbole, tmp_path, capsys, setting, says
):
    # before: a misspelt key was ignored (and recorded), a word for a number a traceback
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--set", setting]
    assert ttq.main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_epochs_below_1_are_refused_before_anything_is_written(
    ttq, tiny_recbole, tmp_path, fake_recbole, monkeypatch, capsys, epochs
):
    # before: --epochs 0 was accepted, RecBole configured for 0 epochs and kgrec trained
    # settings["epochs"] (300), as `args.epochs or settings["epochs"]` read 0 as unset
    def trained(*args, **kwargs):
        raise AssertionError("kgrec trained")

    monkeypatch.setattr(ttq, "kgrec_lightgcn", trained)
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--epochs", epochs]
    assert ttq.main([*argv, "--out", str(tmp_path / "out"), "--venv", str(fake_recbole)]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
