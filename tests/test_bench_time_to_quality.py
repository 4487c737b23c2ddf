"""bench/time_to_quality.py without RecBole: kgrec's side of the race on a tiny dataset."""

from __future__ import annotations

import json

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
    """Before anything is written: before, OUT/split was left behind, and then refused a run
    with another --seed in the same --out once RecBole was installed."""
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy"]
    argv += ["--out", str(tmp_path / "out"), "--venv", str(tmp_path / "none")]
    assert ttq.main(argv) == 2
    assert "make setup-recbole" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_another_seed_in_the_same_out_is_refused(ttq, tiny_recbole, tmp_path, fake_recbole, capsys):
    """Before, seed 1 in seed 0's --out printed seed 0's RecBole result beside kgrec on
    seed 1's split, and rewrote the split files."""
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--epochs", "1"]
    argv += ["--out", str(tmp_path / "out"), "--venv", str(fake_recbole), "--set", "dim=8"]
    assert ttq.main([*argv, "--seed", "0"]) == 0
    split = (tmp_path / "out" / "split" / "train.tsv").read_text()
    assert ttq.main([*argv, "--seed", "1", "--label", "s1"]) == 2
    assert "holds another split's files and results" in capsys.readouterr().err
    assert (tmp_path / "out" / "split" / "train.tsv").read_text() == split


def test_an_out_that_is_a_file_is_a_clear_error(ttq, tiny_recbole, tmp_path, fake_recbole, capsys):
    """Before, --out naming a file ended in a FileExistsError traceback (exit 1), after the
    split had been made."""
    (tmp_path / "results.json").write_text("mine")
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--epochs", "1"]
    argv += ["--venv", str(fake_recbole), "--set", "dim=8"]
    for out in (tmp_path / "results.json", tmp_path / "results.json" / "ttq"):
        assert ttq.main([*argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"error: --out {out}: {tmp_path / 'results.json'} is a file, not a folder" in err
    assert (tmp_path / "results.json").read_text() == "mine"


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


def _split_checksum(peers, tiny_recbole, folder, protocol, **changes):
    from kgrec.data.split import write_split

    experiment = load_experiment(
        data=tiny_recbole, store=None, protocol=protocol, split_dir=None, seed=0, **changes
    )
    write_split(experiment.split, experiment.maps, folder)
    return peers.split_checksum(folder)


@pytest.mark.parametrize(
    ("protocol", "changes"),
    [
        ("ml1m-action-comedy", {"train_fraction": 0.5}),
        ("ml1m-action-comedy", {"few_shot": 1}),
        ("ml1m-action-comedy", {"cold_valid_share": 0.3}),
        ("ml1m-action-comedy", {"cold_test_share": 0.3}),
        ("ml1m-action-comedy", {"target_domain": "action"}),
        ("ml1m-action-comedy", {"domain_rule": "genres:action=Thriller;comedy=Comedy"}),
        ("ml1m-new-items", {"new_item_share": 0.5}),
    ],
)
def test_the_split_settings_make_the_split_both_sides_train_on(
    ttq, bench_script, tiny_recbole, tmp_path, fake_recbole, protocol, changes
):
    """Before, they were checked and recorded in time_to_quality.json, and never applied:
    kgrec and RecBole trained on the protocol's own split."""
    peers = bench_script("peers")
    sets = [f"{key}={json.dumps(value)}" for key, value in changes.items()]
    argv = ["--data", str(tiny_recbole), "--protocol", protocol, "--venv", str(fake_recbole)]
    argv += ["--out", str(tmp_path / "out"), "--set", "epochs=1", "--set", "dim=8"]
    assert ttq.main([*argv, *(f"--set={item}" for item in sets)]) == 0
    made = peers.split_checksum(tmp_path / "out" / "split")
    expected = _split_checksum(peers, tiny_recbole, tmp_path / "expected", protocol, **changes)
    assert made == expected
    assert made != _split_checksum(peers, tiny_recbole, tmp_path / "default", protocol)
    record = json.loads((tmp_path / "out" / "time_to_quality.json").read_text())["default"]
    assert record["settings"].items() >= changes.items()


def test_domain_reads_every_item_into_it(ttq, tiny_recbole, tmp_path, fake_recbole):
    # before: recorded, and the graph read as the protocol reads it
    argv = ["--data", str(tiny_recbole), "--venv", str(fake_recbole), "--set", "domain=films"]
    argv += ["--out", str(tmp_path / "out"), "--set", "epochs=1", "--set", "dim=8"]
    assert ttq.main(argv) == 0
    record = json.loads((tmp_path / "out" / "split" / "split.json").read_text())
    assert record["domain"] == record["target_domain"] == "films"


def test_target_weight_and_cold_start_training_reach_fit(
    ttq, tiny_recbole, tmp_path, fake_recbole, monkeypatch
):
    """Before, fit was called without target_weight and cold_start: merged LightGCN trained
    with weight 1 and no hidden edges, while the record said otherwise."""
    calls = []
    real_fit = ttq.fit

    def fit(*args, **kwargs):
        calls.append(kwargs)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(ttq, "fit", fit)
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy"]
    argv += ["--model", "lightgcn-merged", "--venv", str(fake_recbole), "--out", str(tmp_path)]
    argv += ["--set", "target_weight=4", "--set", "cold_start_share=0.5"]
    argv += ["--set", "cold_start_weight=2", "--set", "epochs=1", "--set", "dim=8"]
    assert ttq.main(argv) == 0
    (kwargs,) = calls
    assert kwargs["target_weight"] == 4
    assert (kwargs["cold_start"].share, kwargs["cold_start"].weight) == (0.5, 2)


def test_init_from_starts_kgrec_from_the_run(ttq, tiny_recbole, tmp_path, fake_recbole):
    # before: checked (the folder must be a run) and recorded, and the model started fresh
    from kgrec.experiment import train

    run = tmp_path / "run"
    train("lightgcn", out=run, data=tiny_recbole, protocol="ml1m-action-comedy", epochs=1, dim=8)
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy"]
    argv += ["--venv", str(fake_recbole), "--out", str(tmp_path / "out")]
    argv += ["--set", f"init_from={run}", "--set", "epochs=1", "--set", "dim=8"]
    assert ttq.main(argv) == 0
    record = json.loads((tmp_path / "out" / "time_to_quality.json").read_text())["default"]
    assert record["settings"]["init_from"] == str(run)
    assert record["init_from"]["run"] == str(run)
    assert record["init_from"]["copied"] and not record["init_from"]["fresh"]


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("seed=1", "seed (give --seed)"),
        ("model=lightgcn-merged", "model (give --model)"),
        ("protocol=ml100k-kg", "protocol (give --protocol)"),
        ("data=elsewhere", "data (give --data)"),
        ("split=elsewhere", "split (the split is made from --data"),
        ("store=local:elsewhere", "store (the graph is read from --data)"),
        ("text_property=vec", "text_property"),
        ("device=cpu", "device (kgrec trains on the CPU"),
        ("resume=true", "resume"),
        ("text_cl_weight=0.5", "text_cl_weight (it reads node text"),
        ("cold_item_scale=2", "lightgcn does not read --set cold_item_scale"),
        ("target_weight=2", "lightgcn does not read --set target_weight"),
        ("cl_noise=0.5", "lightgcn does not read --set cl_noise"),
    ],
)
def test_a_setting_that_would_not_be_applied_is_refused(
    ttq, tiny_recbole, tmp_path, capsys, setting, says
):
    """Before, these were accepted and recorded, and did nothing (the flags overwrote seed,
    model and protocol)."""
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--set", setting]
    argv += ["--out", str(tmp_path / "out"), "--venv", str(tmp_path / "none")]
    assert ttq.main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "--set" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("setting", ["epochs=5", "patience=3"])
def test_epochs_and_patience_are_refused_beside_fixed_epochs(
    ttq, tiny_recbole, tmp_path, capsys, setting
):
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--set", setting]
    argv += ["--epochs", "2", "--out", str(tmp_path / "out"), "--venv", str(tmp_path / "none")]
    assert ttq.main(argv) == 2
    assert "--epochs 2 trains that many epochs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_label_already_there_is_refused_and_kept(
    ttq, tiny_recbole, tmp_path, fake_recbole, capsys
):
    """Before, a second run with the same --label (the default's too, with other --set)
    replaced the first's record in OUT/time_to_quality.json, after training."""
    out = tmp_path / "out"
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--epochs", "1"]
    argv += ["--out", str(out), "--venv", str(fake_recbole), "--set", "dim=8"]
    assert ttq.main(argv) == 0
    first = (out / "time_to_quality.json").read_text()
    assert ttq.main([*argv, "--set", "lr=0.01"]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'time_to_quality.json'} holds a configuration named 'default' already" in err
    assert "give another --label" in err
    assert (out / "time_to_quality.json").read_text() == first
    assert ttq.main([*argv, "--set", "lr=0.01", "--label", "fast"]) == 0
    assert set(json.loads((out / "time_to_quality.json").read_text())) == {"default", "fast"}


def test_a_damaged_results_file_is_refused_before_training(
    ttq, tiny_recbole, tmp_path, fake_recbole, capsys
):
    """Before, json.loads's traceback once kgrec's model had trained (exit 1)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "time_to_quality.json").write_text('{"default": ')
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--epochs", "1"]
    argv += ["--out", str(out), "--venv", str(fake_recbole), "--set", "dim=8"]
    assert ttq.main(argv) == 2
    assert f"file {out / 'time_to_quality.json'}: not JSON" in capsys.readouterr().err
    assert not (out / "split").exists()


def test_recboles_run_of_other_threads_is_not_reused(
    ttq, tiny_recbole, tmp_path, fake_recbole, capsys
):
    """Before, a second configuration with --threads 2 in the same --out compared kgrec on two
    threads with RecBole's run on one (its s/epoch, its time to quality)."""
    out = tmp_path / "out"
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--epochs", "1"]
    argv += ["--out", str(out), "--venv", str(fake_recbole), "--set", "dim=8"]
    assert ttq.main(argv) == 0
    first = (out / "time_to_quality.json").read_text()
    capsys.readouterr()
    assert ttq.main([*argv, "--threads", "2", "--label", "two"]) == 2
    err = capsys.readouterr().err
    assert "holds LightGCN-1-epochs run with other settings (threads 1 there, 2 now)" in err
    assert (out / "time_to_quality.json").read_text() == first
    assert ttq.main([*argv, "--label", "again"]) == 0  # the same threads reuse it
