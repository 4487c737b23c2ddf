"""`kgrec tune` (kgrec.tune): an Optuna study on the validation split that resumes, keeps its
budgets, prunes, never scores the test split, and ends with a command that trains its best
trial again with the same validation NDCG@20."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import ExitStack, closing
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

import kgrec.evaluate
import kgrec.tune
from kgrec.cli import build_parser, main
from kgrec.errors import DistributedError, InputError, StoreError
from kgrec.experiment import TRAIN_DEFAULTS, never_read_options, option_flag
from kgrec.train import fit
from kgrec.tune import (
    BEST_FILE,
    LOCK_FILE,
    STUDY_FILE,
    STUDY_NAME,
    Choice,
    IntRange,
    LogUniform,
    Uniform,
    _Epochs,
    _reads_text,
    check_space,
    default_space,
    parse_search,
    tune,
)

PROTOCOL = "ml1m-action-comedy"
SMALL = {"epochs": 3, "dim": 8, "batch_size": 128, "progress": False}
SPACE = {"lr": LogUniform(1e-3, 1e-1), "reg_weight": Choice([0.0, 1e-3])}


def small_tune(data: Path, out: Path, **options):
    return tune(
        "lightgcn",
        protocol=PROTOCOL,
        data=data,
        out=out,
        **{"space": SPACE, "trials": 3, **SMALL, **options},
    )


# the settings of a one-epoch run that --init-from names (source_run)
SOURCE = {"epochs": 1, "dim": 8, "batch_size": 128}


def source_run(tmp_path: Path, data: Path) -> Path:
    """A one-epoch LightGCN run at ``tmp_path / "src"``, for --init-from."""
    from kgrec.experiment import train

    train("lightgcn", protocol=PROTOCOL, data=data, out=tmp_path / "src", progress=False, **SOURCE)
    return tmp_path / "src"


def load_study(out: Path) -> optuna.Study:
    return optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{out / STUDY_FILE}")


def cli_tune(data: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "tune",
            "--model",
            "lightgcn",
            "--protocol",
            PROTOCOL,
            "--data",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "3",
            "--dim",
            "8",
            "--batch-size",
            "128",
            "--threads",
            "1",
            *extra,
        ]
    )


# -- search spaces -------------------------------------------------------------------------


def test_parse_search() -> None:
    assert parse_search("lr=loguniform:1e-4:1e-2") == ("lr", LogUniform(1e-4, 1e-2))
    assert parse_search("target-weight=uniform:0.5:2") == ("target_weight", Uniform(0.5, 2.0))
    assert parse_search("layers=int:1:4") == ("layers", IntRange(1, 4))
    assert parse_search("dim=choice:32,64,128") == ("dim", Choice([32, 64, 128]))
    name, reg = parse_search("reg_weight=choice:0,1e-4")
    assert name == "reg_weight" and reg.values == (0.0, 1e-4)
    assert all(type(v) is float for v in reg.values)
    assert parse_search("entity_embeddings=choice:true,false")[1] == Choice([True, False])
    # the text form is the CLI's and round-trips
    for text in ("lr=loguniform:0.0001:0.01", "dim=choice:32,64", "layers=int:1:4"):
        name, param = parse_search(text)
        assert f"{name}={param}" == text


def test_default_space_follows_the_model() -> None:
    lightgcn = default_space("lightgcn")
    assert {"lr", "reg_weight", "dim", "layers"} <= set(lightgcn)
    assert "adversarial_weight" not in lightgcn
    assert "adversarial_weight" in default_space("cross-domain")
    assert TRAIN_DEFAULTS["lr"] in lightgcn["lr"] and TRAIN_DEFAULTS["dim"] in lightgcn["dim"]


def test_default_space_of_a_closed_form_model_is_its_own_settings() -> None:
    assert set(default_space("ease")) == {"ease_lambda", "ease_text_weight"}
    assert default_space("popularity") == {}  # nothing to search: tune says the space is empty


def test_ease_is_tuned_over_its_own_settings_and_the_best_trains_again(
    tmp_path, tiny_recbole
) -> None:
    out = tmp_path / "tune"
    result = tune(
        "ease",
        protocol=PROTOCOL,
        data=tiny_recbole,
        out=out,
        space={"ease_lambda": LogUniform(0.1, 100.0)},
        trials=3,
        progress=False,
    )
    values = [t.value for t in load_study(out).trials]
    assert len(values) == 3 and result.best_value == max(values)
    argv = shlex.split(result.command)
    assert main(argv[1:]) == 0
    metrics = json.loads(
        (Path(build_parser(argv[1:]).parse_args(argv[1:]).out) / "metrics.json").read_text()
    )
    assert metrics["valid"]["all"]["ndcg@20"] == pytest.approx(result.best_value, abs=1e-6)


def test_ease_from_files_tunes_its_default_space_without_the_text_weight(
    tmp_path, tiny_recbole, monkeypatch, capsys
) -> None:
    # before: `kgrec tune --model ease --data DIR` (no --search) was refused, its default
    # space holding ease_text_weight, which needs a store's texts
    assert set(default_space("ease", texts=False)) == {"ease_lambda"}
    monkeypatch.chdir(tmp_path)
    argv = ["tune", "--model", "ease", "--protocol", PROTOCOL, "--data", str(tiny_recbole)]
    assert main([*argv, "--out", "t", "--trials", "1", "--threads", "1"]) == 0, capsys.readouterr()
    # a study folder under a file is an input error, not a traceback
    (tmp_path / "afile").write_text("mine")
    assert main([*argv, "--out", "afile/sub", "--trials", "1"]) == 2
    assert "cannot write the study folder" in capsys.readouterr().err


def test_the_printed_command_names_the_init_from_run_from_anywhere(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    # before, a relative --init-from was printed (and recorded) as typed: the command failed
    # from another directory ("no run here")
    source_run(tmp_path, tiny_recbole)
    monkeypatch.chdir(tmp_path)
    result = tune(
        "lightgcn",
        protocol=PROTOCOL,
        data=tiny_recbole,
        out=tmp_path / "t",
        space={"reg_weight": Choice([0.0])},
        trials=1,
        progress=False,
        init_from="src",
        **SOURCE,
    )
    argv = shlex.split(result.command)
    assert argv[argv.index("--init-from") + 1] == str(tmp_path / "src")


def test_a_closed_form_model_refuses_a_search_over_training_options(
    tmp_path, tiny_recbole, capsys
) -> None:
    out = tmp_path / "tune"
    assert (
        cli_tune(tiny_recbole, out, "--model", "ease", "--search", "lr=loguniform:1e-3:1e-2") == 2
    )
    err = capsys.readouterr().err
    assert "model ease has nothing to train" in err and "ease_lambda" in err and "not lr" in err
    assert not out.exists()  # refused before any folder or data


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("lr", "NAME=KIND:ARGS"),
        ("lr=loguniform:1e-2:1e-4", "LOW must be below HIGH"),
        ("lr=loguniform:0:1e-2", "above 0"),
        ("lr=loguniform:1e-4", "LOW:HIGH"),
        ("lr=gauss:0:1", "unknown kind 'gauss'"),
        ("reg_weight=uniform:-1:1", "non-negative"),
        ("lr=choice:0.1,fast", "lr takes a finite number, got 'fast'"),
        ("dim=loguniform:8:64", "dim takes whole numbers; use int:LOW:HIGH or choice"),
        ("entity_embeddings=int:0:1", "entity_embeddings takes true or false: use choice"),
        ("dim=choice:0,8", "dim must be positive"),
        ("dim=choice:8,8.5", "dim takes a whole number"),
        ("layers=int:1:x", "layers takes a whole number"),
        ("learning_rate=loguniform:1e-4:1e-2", "'learning_rate' is not an option"),
        ("seed=int:0:4", "'seed' is not an option"),
        ("adversarial_weight=choice:0,0.1", "model lightgcn does not take adversarial_weight"),
        ("objective=choice:bpr,nope", "unknown objective 'nope'"),
        ("dim=choice:", "values separated by commas"),
        ("lr=uniform:0:1e-2", "lr must be positive"),
        ("reg_weight=choice:0,nan", "finite"),
        # before, the option was named --text_input, which kgrec train does not take
        ("text_input=choice:none,sbert", "field '--text-input': unknown text_input 'sbert'"),
    ],
)
def test_bad_search_is_a_clear_error(tmp_path, tiny_recbole, capsys, spec, says) -> None:
    out = tmp_path / "tune"
    model = ["--model", "rgcn" if "entity" in spec else "lightgcn"]
    source = ["--protocol", PROTOCOL, "--data", str(tiny_recbole), "--out", str(out)]
    assert main(["tune", *model, *source, "--search", spec]) == 2
    err = capsys.readouterr().err
    assert says in err, err
    assert "--search" in err
    assert not out.exists()  # nothing written before the search space is sound


@pytest.mark.parametrize(("option", "value"), [("--trials", "0"), ("--prune-warmup", "-1")])
def test_bad_tune_counts_name_their_option(tmp_path, tiny_recbole, capsys, option, value):
    """They were reported as fields 'trials' and 'prune_warmup', which no user types."""
    out = tmp_path / "tune"
    assert cli_tune(tiny_recbole, out, option, value, "--search", "lr=choice:0.1,0.01") == 2
    name = option[2:].replace("-", "_")
    assert f"field '{option}': {name} must be a positive integer, got {value}" in (
        capsys.readouterr().err
    )
    assert not out.exists()


@pytest.mark.parametrize(("option", "field"), [("progress", "progress"), ("pruning", "--pruning")])
@pytest.mark.parametrize("value", ["False", 0, None])
def test_a_switch_that_is_no_bool_is_refused(tmp_path, tiny_recbole, option, field, value):
    """tune(progress="False") printed its progress and tune(pruning="False") pruned: a string
    was taken as true, where train() refuses it."""
    out = tmp_path / "tune"
    with pytest.raises(InputError, match=f"{option} must be True or False") as caught:
        small_tune(tiny_recbole, out, **{option: value})
    assert caught.value.field == field
    assert not out.exists()
    # np.bool_, as train() takes it
    assert small_tune(tiny_recbole, out, trials=1, **{option: np.bool_(False)}).best_trial


def test_searched_and_fixed_or_twice_is_an_error(tmp_path, tiny_recbole, capsys) -> None:
    out = tmp_path / "tune"
    assert cli_tune(tiny_recbole, out, "--lr", "0.01", "--search", "lr=choice:0.1,0.01") == 2
    assert "field '--lr': lr is both searched and fixed" in capsys.readouterr().err
    assert (
        cli_tune(tiny_recbole, out, "--search", "lr=choice:0.1", "--search", "lr=uniform:0:1") == 2
    )
    assert "names lr twice" in capsys.readouterr().err
    with pytest.raises(InputError, match=r"not an option of kgrec\.experiment\.train"):
        small_tune(tiny_recbole, out, learning_rate=0.1)
    assert not out.exists()


def test_cold_start_training_without_users_to_hide_is_refused_before_any_trial(
    tmp_path, datasets, capsys
) -> None:
    # ml100k-kg has one domain; before the fix the first trial crashed with a traceback
    out = tmp_path / "tune"
    argv = ["tune", "--model", "lightgcn-merged", "--protocol", "ml100k-kg", "--epochs", "1"]
    argv += ["--data", str(datasets / "ml-100k"), "--out", str(out), "--trials", "2"]
    for extra in (
        ["--cold-start-share", "0.5", "--search", "lr=loguniform:1e-4:1e-2"],
        ["--search", "cold_start_share=choice:0,0.5"],
    ):
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        assert "--cold-start-share" in err and "needs warm users" in err
        assert not out.exists()  # no trial ran: the folder this tune made is gone


# -- tuning --------------------------------------------------------------------------------


def test_tune_writes_study_and_best_then_resumes_to_the_total(
    tmp_path, tiny_recbole, capsys
) -> None:
    out = tmp_path / "tune"
    search = ["--search", "lr=loguniform:1e-3:1e-1", "--search", "layers=int:1:2"]
    assert cli_tune(tiny_recbole, out, *search, "--trials", "3") == 0
    printed = capsys.readouterr().out
    assert (out / STUDY_FILE).exists()
    study = load_study(out)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert study.trials[0].params["lr"] == TRAIN_DEFAULTS["lr"]  # train()'s defaults first
    best = json.loads((out / BEST_FILE).read_text())
    assert best["value"] == pytest.approx(study.best_value)
    assert best["trial"] == study.best_trial.number
    assert best["params"] == study.best_trial.params
    assert printed.count("\ntrial ") >= 3  # one progress line per trial
    assert "kgrec train --model lightgcn" in printed and best["command"] in printed
    for number in range(3):
        assert f"\n{number}      complete" in printed  # the table

    # the budget is the study's total: 5 trials, not 3 + 5
    assert cli_tune(tiny_recbole, out, *search, "--trials", "5") == 0
    assert len(load_study(out).trials) == 5
    # and a study with its trials runs none
    assert cli_tune(tiny_recbole, out, *search, "--trials", "4") == 0
    assert "nothing to run" in capsys.readouterr().out
    assert len(load_study(out).trials) == 5


def test_refuses_to_resume_with_other_settings(tmp_path, tiny_recbole, capsys) -> None:
    out = tmp_path / "tune"
    small_tune(tiny_recbole, out, trials=1)
    assert cli_tune(tiny_recbole, out, "--search", "lr=loguniform:1e-3:1e-2") == 2
    err = capsys.readouterr().err
    assert "--search lr=loguniform:0.001:0.01 (the study has loguniform:0.001:0.1)" in err
    assert "--search reg_weight=(not searched)" in err
    with pytest.raises(InputError, match=r"--epochs 4 \(the study has 3\)"):
        small_tune(tiny_recbole, out, epochs=4)
    with pytest.raises(InputError, match="--seed 1"):
        small_tune(tiny_recbole, out, seed=1)
    assert len(load_study(out).trials) == 1
    # where trials run is not what they learn: another --device continues the study
    small_tune(tiny_recbole, out, trials=2, device="cpu")
    assert len(load_study(out).trials) == 2
    # a folder that holds something else is not taken over
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a tune folder"):
        small_tune(tiny_recbole, other)


def test_an_out_that_is_a_file_is_refused_as_a_file(tmp_path, tiny_recbole, capsys) -> None:
    # before: "this is not a tune folder and not empty", of a file the user had named
    (tmp_path / "mine").mkdir()
    mine = tmp_path / "mine" / "results.csv"
    mine.write_text("user,item\n")
    assert cli_tune(tiny_recbole, mine, "--trials", "1") == 2
    err = capsys.readouterr().err
    assert "this is a file, not a folder: choose a new --out folder" in err
    assert mine.read_text() == "user,item\n"
    assert [p.name for p in mine.parent.iterdir()] == ["results.csv"]


def test_refuses_to_resume_on_data_that_changed(tmp_path, tiny_recbole) -> None:
    """Before, the same command after the files (or the store) changed went on, its new trials
    scored on another graph and validation split than the earlier ones, the best of both kept."""
    out = tmp_path / "tune"
    small_tune(tiny_recbole, out, trials=1)
    inter = tiny_recbole / "tiny.inter"
    lines = inter.read_text().splitlines(keepends=True)
    inter.write_text("".join(lines[:-10]))  # ten interactions fewer
    with pytest.raises(InputError, match="not the data this folder's study") as raised:
        small_tune(tiny_recbole, out, trials=2)
    assert raised.value.file == str(out / STUDY_FILE)
    assert len(load_study(out).trials) == 1
    inter.write_text("".join(lines))  # the data as it was: the study goes on
    small_tune(tiny_recbole, out, trials=2)
    assert len(load_study(out).trials) == 2


def test_a_study_continues_from_a_copy_of_its_data_at_another_path(tmp_path, tiny_recbole):
    """Before, the --data path was compared as typed: the same files moved or copied elsewhere
    were refused ("--data ... (the study has ...)"). The digest of the graph and split is
    compared instead; the printed command reads the data where it is now."""
    out = tmp_path / "tune"
    small_tune(tiny_recbole, out, trials=1)
    copy = tmp_path / "elsewhere" / tiny_recbole.name  # RecBole files are named by the folder
    shutil.copytree(tiny_recbole, copy)
    result = small_tune(copy, out, trials=2)
    assert len(load_study(out).trials) == 2
    assert f"--data {copy.resolve()} " in result.command
    assert str(tiny_recbole) not in result.command
    assert json.loads((out / BEST_FILE).read_text())["settings"]["data"] == str(copy.resolve())
    # other data at another path is still refused, naming both paths
    inter = copy / f"{copy.name}.inter"
    inter.write_text("".join(inter.read_text().splitlines(keepends=True)[:-10]))
    with pytest.raises(InputError, match="not the data this folder's study") as raised:
        small_tune(copy, out, trials=3)
    assert f"--data {copy.resolve()}, the study's {tiny_recbole.resolve()}" in str(raised.value)
    assert len(load_study(out).trials) == 2
    # a study of a kgrec that recorded no digest (before session 26) compares the paths
    with closing(sqlite3.connect(out / STUDY_FILE)) as db, db:
        db.execute("DELETE FROM study_user_attributes WHERE key = 'experiment'")
    shutil.copyfile(tiny_recbole / f"{tiny_recbole.name}.inter", inter)
    with pytest.raises(InputError, match=r"--data .* \(the study has "):
        small_tune(copy, out, trials=3)


def test_refuses_to_resume_on_a_split_with_other_new_items(tmp_path, tiny_recbole, caplog):
    """Split files thinned by a training fraction may list other new items (new_items.tsv)
    beside the same train, valid and test files. Before, the study's digest left the new
    items out, and a study resumed on such a split went on. A study of a kgrec that recorded
    no digest of its new items goes on, with a warning, and records them."""
    split = tmp_path / "split"
    argv = ["split", "--protocol", "ml1m-new-items", "--data", str(tiny_recbole)]
    assert main([*argv, "--train-fraction", "0.5", "--write-split", str(split)]) == 0
    out = tmp_path / "tune"

    def run(trials: int):
        options = {**SMALL, "space": SPACE, "trials": trials}
        return tune("lightgcn", split=split, data=tiny_recbole, out=out, **options)

    run(1)
    listed = split / "new_items.tsv"
    lines = listed.read_text().splitlines(keepends=True)
    assert len(lines) > 2
    record = json.loads((split / "split.json").read_text())

    def listing(rows: list[str]) -> None:  # new_items.tsv, and split.json's count of it
        listed.write_text("".join(rows))
        (split / "split.json").write_text(json.dumps({**record, "new_items": len(rows) - 1}))

    listing(lines[:-1])  # one new item fewer: still a valid split
    with pytest.raises(InputError, match="new items read now") as raised:
        run(2)
    assert raised.value.file == str(out / STUDY_FILE)
    assert len(load_study(out).trials) == 1
    with closing(sqlite3.connect(out / STUDY_FILE)) as db, db:  # as an earlier kgrec left it
        db.execute("DELETE FROM study_user_attributes WHERE key = 'new_items'")
    with caplog.at_level("WARNING", logger="kgrec.tune"):
        run(2)
    assert "did not record the split's new items" in caplog.text
    assert len(load_study(out).trials) == 2
    listing(lines)  # the new items the study now recorded differ again
    with pytest.raises(InputError, match="new items read now"):
        run(3)


def test_a_trial_left_running_by_a_kill_is_failed_and_run_again(tmp_path, tiny_recbole) -> None:
    out = tmp_path / "tune"
    small_tune(tiny_recbole, out, trials=2)
    # what a kill leaves: a trial RUNNING in the storage, its settings drawn
    study = load_study(out)
    trial = study.ask()
    lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    trial.suggest_categorical("reg_weight", [0.0, 1e-3])
    result = small_tune(tiny_recbole, out, trials=3)
    states = [t.state for t in result.trials]
    assert states == [TrialState.COMPLETE] * 2 + [TrialState.FAIL, TrialState.COMPLETE]
    killed, rerun = result.trials[2], result.trials[3]
    assert killed.user_attrs["interrupted"] == "killed"
    assert rerun.params["lr"] == lr  # the killed trial's settings, run again
    assert "fail (killed)" in result.table()


def _first_trial_running(path: Path) -> bool:
    """Whether trial 0 of the study in ``path`` is running with its settings drawn, read
    without Optuna: opening its storage while the tune creates it would race to create the
    same tables."""
    if not path.exists():
        return False
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute(
                "SELECT t.state, COUNT(p.param_id) FROM trials t "
                "LEFT JOIN trial_params p ON p.trial_id = t.trial_id "
                "WHERE t.number = 0 GROUP BY t.trial_id"
            ).fetchone()
    except sqlite3.Error:  # not created yet, or being written
        return False
    return row is not None and row[0] == "RUNNING" and row[1] > 0


def _endless_tune(data: Path, out: Path, *, batch_size: int = 128) -> list[str]:
    """`kgrec tune` as a process whose trials never end (3 of them, no pruning)."""
    return [
        sys.executable,
        "-m",
        "kgrec.cli",
        "tune",
        "--model",
        "lightgcn",
        "--protocol",
        PROTOCOL,
        "--data",
        str(data),
        "--out",
        str(out),
        "--search",
        "lr=loguniform:1e-3:1e-1",
        "--dim",
        "8",
        "--batch-size",
        str(batch_size),
        "--threads",
        "1",
        "--no-pruning",
        "--trials",
        "3",
        "--epochs",
        "100000",
        "--patience",
        "100000",
    ]


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"the tune never {what}")
        time.sleep(0.01)


@pytest.mark.slow
def test_sigkill_then_the_same_command_resumes(tmp_path, tiny_recbole) -> None:
    out = tmp_path / "tune"
    slow = _endless_tune(tiny_recbole, out)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(slow, env=env, stdout=subprocess.DEVNULL)
    try:  # until trial 0 is training (it never ends)
        _wait_for(lambda: _first_trial_running(out / STUDY_FILE), "started a trial")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert load_study(out).trials[0].state == TrialState.RUNNING
    killed_lr = load_study(out).trials[0].params["lr"]
    # the same command again (with a time budget, as its trials never end)
    again = subprocess.run(
        [*slow, "--timeout", "2"], env=env, capture_output=True, text=True, check=False
    )
    assert again.returncode == 1, again.stderr  # no trial completed
    assert "trial 0 was killed while running: marked failed, run again" in again.stdout
    trials = load_study(out).trials
    assert trials[0].state == TrialState.FAIL
    assert trials[0].user_attrs["interrupted"] == "killed"
    assert trials[1].params["lr"] == killed_lr  # the killed trial's settings, first
    assert trials[1].user_attrs["interrupted"] == "time budget"


@pytest.mark.slow
def test_sigterm_then_the_same_command_resumes(tmp_path, tiny_recbole) -> None:
    """SIGTERM (`kill`, `timeout`, a batch scheduler's time limit) as trial 0 trains: as a
    Ctrl-C, the trial is marked failed (interrupted, not counted) and its settings run again
    first by the same command; exit code 143. Before, the process died at once (-15), the
    trial left running, for the next run to find it killed."""
    out = tmp_path / "tune"
    slow = _endless_tune(tiny_recbole, out)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(slow, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: _epochs_reported(out / STUDY_FILE) >= 1, "trained an epoch")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = err.decode()
    assert process.returncode == 143, err
    assert "kgrec tune: terminated (SIGTERM)" in err and "Traceback" not in err
    study = load_study(out)
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL and trial.user_attrs["interrupted"] == "interrupted"
    (queued,) = study.get_trials(states=(TrialState.WAITING,))
    assert queued.system_attrs["fixed_params"] == trial.params
    again = subprocess.run(
        [*slow, "--timeout", "2"], env=env, capture_output=True, text=True, check=False
    )
    assert again.returncode == 1, again.stderr  # no trial completed
    trials = load_study(out).trials
    assert trials[1].params == trial.params  # the stopped trial's settings, first
    assert trials[1].user_attrs["interrupted"] == "time budget"


def _epochs_reported(path: Path) -> int:
    """The validation figures trial 0 of the study in ``path`` has reported (one an epoch),
    read without Optuna (-1 before it can be read)."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute(
                "SELECT COUNT(*) FROM trial_intermediate_values v "
                "JOIN trials t ON t.trial_id = v.trial_id WHERE t.number = 0"
            ).fetchone()[0]
    except sqlite3.Error:
        return -1


@pytest.mark.slow
def test_a_double_ctrl_c_of_a_real_tune_loses_no_settings(tmp_path, tiny_recbole) -> None:
    """`kgrec tune` as a real process, Ctrl-C (SIGINT) twice as trial 0 trains: as the README
    says, the trial is marked failed (interrupted, not counted) and its settings queued to run
    again first, a second Ctrl-C as that is written taking effect once they are queued; the
    process ends as interrupted (exit 130), without a traceback. So that the second comes
    while the first is handled, another connection holds the study's database (a real
    BEGIN IMMEDIATE, well within SQLite's busy timeout) from before the first until after
    the second: the trial's flag waits for it. Epochs of one interaction a batch last long
    enough for the first to come between two of trial 0's reports (each a write)."""
    out = tmp_path / "tune"
    path = out / STUDY_FILE
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        _endless_tune(tiny_recbole, out, batch_size=1),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: _epochs_reported(path) >= 1, "trained an epoch")
        reported = _epochs_reported(path)
        _wait_for(lambda: _epochs_reported(path) > reported, "trained another epoch")
        with closing(sqlite3.connect(path, isolation_level=None)) as holder:
            holder.execute("BEGIN IMMEDIATE")  # just after a report: trial 0 trains
            process.send_signal(signal.SIGINT)
            time.sleep(0.5)  # the first is handled: the trial's flag waits for the database
            assert process.poll() is None
            process.send_signal(signal.SIGINT)
            time.sleep(0.5)
            holder.execute("ROLLBACK")
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "kgrec tune: interrupted" in err and "Traceback" not in err
    study = load_study(out)
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL and trial.user_attrs["interrupted"] == "interrupted"
    (queued,) = study.get_trials(states=(TrialState.WAITING,))
    assert queued.system_attrs["fixed_params"] == trial.params


def test_a_trial_a_lost_rank_stopped_is_not_counted_and_runs_again(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    """Under a launcher, another rank gone (killed, out of memory) or silent past
    --dist-timeout fails rank 0's training with a DistributedError: the trial was recorded
    failed, counted in --trials, and its settings never ran again (a kill of rank 0 itself
    leaves its trial to run again); now it is flagged "rank lost", not counted, and queued."""
    out = tmp_path / "tune"
    space = {"lr": Choice([0.01, 0.05])}

    def gone(*args, **kwargs):
        raise DistributedError("rank 0: rank 1 is gone: its process ended")

    monkeypatch.setattr(kgrec.tune, "fit", gone)
    with pytest.raises(DistributedError, match="rank 1 is gone"):
        small_tune(tiny_recbole, out, space=space, trials=2)
    [lost] = load_study(out).trials[:1]
    assert lost.state == TrialState.FAIL and lost.user_attrs["interrupted"] == "rank lost"
    monkeypatch.undo()
    result = small_tune(tiny_recbole, out, space=space, trials=2)
    assert result.counted == 2
    assert result.trials[1].params == lost.params  # run again first
    complete = [t for t in result.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2


def test_settings_that_lose_a_rank_twice_fail_and_count(tmp_path, tiny_recbole, monkeypatch):
    """Settings a rank cannot run (out of memory there) lose it again on their second run:
    that trial fails and counts, so the study goes on past them, not stopping on them run
    after run (found by the reread61 review of the fix above)."""
    out = tmp_path / "tune"
    space = {"lr": Choice([0.01, 0.05])}

    def gone(*args, **kwargs):
        raise DistributedError("rank 0: rank 1 is gone: its process ended")

    monkeypatch.setattr(kgrec.tune, "fit", gone)
    for _ in range(2):
        with pytest.raises(DistributedError, match="rank 1 is gone"):
            small_tune(tiny_recbole, out, space=space, trials=2)
    first, second = load_study(out).trials[:2]
    assert second.params == first.params and first.user_attrs["interrupted"] == "rank lost"
    assert second.state == TrialState.FAIL and "interrupted" not in second.user_attrs
    monkeypatch.undo()
    result = small_tune(tiny_recbole, out, space=space, trials=2)
    assert result.counted == 2  # the second failure and one more
    assert len([t for t in result.trials if t.state == TrialState.COMPLETE]) == 1


def test_time_budget_stops_the_running_trial_and_it_runs_again(tmp_path, tiny_recbole) -> None:
    out = tmp_path / "tune"
    long = {"epochs": 50, "patience": 50, "pruning": False}
    result = small_tune(tiny_recbole, out, timeout=1e-3, **long)
    assert result.best_trial is None and not (out / BEST_FILE).exists()
    stopped, waiting = result.trials
    assert stopped.state == TrialState.FAIL and waiting.state == TrialState.WAITING
    assert stopped.user_attrs["interrupted"] == "time budget"
    assert stopped.user_attrs["epochs"] == 1
    assert "fail (time budget)" in result.table()
    result = small_tune(tiny_recbole, out, trials=1, **long)
    assert [t.state for t in result.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert result.trials[1].params == stopped.params  # run again, and it counts; the stop not
    assert (out / BEST_FILE).exists()


def test_the_table_shows_the_settings_a_waiting_trial_runs(tmp_path, tiny_recbole) -> None:
    # before: the waiting row, the stopped trial's settings queued to run again, had none
    # ("1  waiting  -  -  -"), as if it would draw new ones
    out = tmp_path / "tune"
    long = {"epochs": 50, "patience": 50, "pruning": False}
    result = small_tune(tiny_recbole, out, timeout=1e-3, **long)
    stopped, waiting = result.trials
    assert waiting.state == TrialState.WAITING and not waiting.params
    rows = result.table().splitlines()
    settings = kgrec.tune._params_text(stopped.params)
    assert settings and rows[1].endswith(settings) and rows[2].endswith(settings), rows
    assert rows[2].split()[:2] == ["1", "waiting"]


def test_a_stopped_trials_line_has_the_figure_the_table_has(tmp_path, tiny_recbole, capsys):
    # before: "trial 0 fail (time budget): ndcg@20 -, 1 epochs" as it ended, while the table
    # had the best figure it reached ("0  fail (time budget)  0.1234  1")
    long = {"epochs": 50, "patience": 50, "pruning": False, "progress": True}
    result = small_tune(tiny_recbole, tmp_path / "tune", timeout=1e-3, **long)
    stopped = result.trials[0]
    figure = f"{max(stopped.intermediate_values.values()):.4f}"
    assert f"0      fail (time budget)  {figure}" in result.table()
    assert f"trial 0 fail (time budget): ndcg@20 {figure}, 1 epochs" in capsys.readouterr().out


def test_a_running_trial_shows_its_epochs(tmp_path, tiny_recbole, capsys) -> None:
    # before: nothing between "tuning lightgcn: ..." and each trial's line as it ended, which
    # on ml-1m is minutes of silence a trial
    assert cli_tune(tiny_recbole, tmp_path / "tune", "--trials", "2", "--no-pruning") == 0
    captured = capsys.readouterr()
    assert "trial 0: " in captured.err and "trial 1: " in captured.err
    # its epochs of 3, as train's bar (which of them tqdm draws depends on the clock: a trial of
    # the tiny data trains its 3 epochs in 0.1 s, tqdm's least interval between two draws)
    assert "/3 [" in captured.err and "ndcg@20=" in captured.err
    assert "trial 0: " not in captured.out  # stdout keeps the one line a trial


def test_a_budget_shorter_than_a_trial_says_so(tmp_path, tiny_recbole, capsys) -> None:
    # before: only "no trial completed ... nothing to report", run after run, as each run
    # stopped the same trial again at the budget and queued it to start over
    out = tmp_path / "tune"
    argv = ("--trials", "1", "--epochs", "50", "--patience", "50", "--no-pruning")
    for _ in range(2):
        assert cli_tune(tiny_recbole, out, *argv, "--timeout", "0.001") == 1
        printed = capsys.readouterr().out
        assert "no trial completed" in printed
        assert "the time budget (--timeout 0.001) stopped trial" in printed
        assert "with a budget shorter than one trial none completes: raise --timeout" in printed
    assert cli_tune(tiny_recbole, out, *argv) == 0  # the trial completes at last
    assert "raise --timeout" not in capsys.readouterr().out


def test_a_budget_that_ends_the_run_early_says_the_study_goes_on(
    tmp_path, tiny_recbole, capsys
) -> None:
    # before: the table and "best valid ndcg@20 ... train it with:" alone, as after a study
    # that had all its trials, though the time budget had run only one of three
    out = tmp_path / "tune"
    argv = ("--trials", "3", "--epochs", "1", "--search", "lr=loguniform:1e-3:1e-1")
    # one epoch: trial 0 completes past the budget (its last epoch), and no trial starts after
    assert cli_tune(tiny_recbole, out, *argv, "--timeout", "0.001") == 0
    printed = capsys.readouterr().out
    assert (
        "the time budget (--timeout 0.001) ended this run with 1 of 3 trials: the same "
        "command continues the study" in printed
    )
    assert "best valid ndcg@20 so far" in printed
    assert cli_tune(tiny_recbole, out, *argv) == 0  # the same command without a budget
    printed = capsys.readouterr().out
    assert "ended this run" not in printed and "so far" not in printed
    assert len(load_study(out).trials) == 3


def test_a_trial_that_ends_after_the_time_budget_is_kept(tmp_path, tiny_recbole) -> None:
    # before the fix a trial past the deadline at its last epoch was recorded as stopped by
    # the time budget and queued to run again: with a budget shorter than a trial, never a result
    out = tmp_path / "tune"
    result = small_tune(tiny_recbole, out, timeout=1e-3, trials=1, epochs=1, pruning=False)
    assert [t.state for t in result.trials] == [TrialState.COMPLETE], result.table()
    assert (out / BEST_FILE).exists()


def test_a_trial_ends_where_fit_would_stop_it():
    judged = []
    epochs = _Epochs(lambda epoch, best, last: judged.append(last), epochs=6, patience=2)
    for epoch, metric in enumerate([0.1, 0.2, 0.2, 0.3, 0.1, 0.1], start=1):
        epochs(epoch, metric)
    # patience 2: the 2nd epoch in a row without a better figure (epoch 6) is the last
    assert judged == [False, False, False, False, False, True]
    judged.clear()
    epochs = _Epochs(lambda epoch, best, last: judged.append(last), epochs=2, patience=5)
    epochs(1, 0.1), epochs(2, 0.2)
    assert judged == [False, True]  # the epochs run out


def test_pruning_stops_a_trial_that_never_improves(tmp_path, tiny_recbole) -> None:
    out = tmp_path / "tune"
    # the trials to run, in order: three that learn, then lr 1e-12, whose metric never moves
    # (a step far below float32's precision on the weights; lr 0 is refused)
    study = _our_study(out)
    for lr in (0.05, 0.05, 0.05, 1e-12):
        study.enqueue_trial({"lr": lr})
    result = small_tune(
        tiny_recbole,
        out,
        space={"lr": Choice([0.05, 1e-12])},
        trials=4,
        epochs=8,
        patience=8,
        prune_warmup=2,
    )
    states = [t.state for t in result.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.PRUNED], result.table()
    assert [t.user_attrs["epochs"] for t in result.trials] == [8, 8, 8, 2]
    assert "pruned" in result.table()


def test_the_printed_command_trains_the_best_trial_again(tmp_path, tiny_recbole) -> None:
    out = tmp_path / "tune"
    result = small_tune(
        tiny_recbole,
        out,
        space={"lr": LogUniform(1e-3, 1e-1), "layers": IntRange(1, 3)},
        trials=3,
        reg_weight=1e-4,
    )
    best = json.loads((out / BEST_FILE).read_text())
    assert best["command"] == result.command
    argv = shlex.split(result.command)
    assert argv[:2] == ["kgrec", "train"]
    # every setting is written out, and the train parser reads them back as they were
    args = build_parser(argv[1:]).parse_args(argv[1:])
    for name, value in result.best_settings.items():
        if name in ("data", "split") and value is not None:
            assert str(getattr(args, name)) == value
        elif value is not None:
            assert getattr(args, name) == value, name
    assert args.reg_weight == 1e-4 and args.lr == best["params"]["lr"]
    assert main(argv[1:]) == 0
    run = Path(args.out)
    trained = json.loads((run / "run.json").read_text())["training"]
    assert trained["best_valid_ndcg@20"] == pytest.approx(best["value"], abs=1e-6)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["valid"]["all"]["ndcg@20"] == pytest.approx(best["value"], abs=1e-6)


@pytest.mark.parametrize(
    ("model", "source", "space", "absent"),
    [
        ("lightgcn", "tiny_recbole", SPACE, ["--ease-lambda", "--entity-embeddings"]),
        ("ease", "tiny_recbole", {"ease_lambda": LogUniform(0.1, 100.0)}, ["--lr", "--dim"]),
        ("cross-domain", "text_store", SPACE, ["--ease-text-weight", "--relation-weighting"]),
    ],
)
def test_the_printed_command_names_only_what_the_model_reads_and_trains_the_trial_again(
    tmp_path, request, model, source, space, absent
) -> None:
    """Before, the command wrote out every option, also those the model never reads
    (lightgcn's had --adversarial-weight 0.0 --ease-lambda 500.0 --ease-text-weight 0.0 ...);
    now it leaves them out, and kgrec train's parser still gives train() the trial's settings
    (found by the ux45 review)."""
    given = request.getfixturevalue(source)
    where = {"store": given} if source == "text_store" else {"data": given}
    result = tune(
        model,
        protocol=PROTOCOL,
        out=tmp_path / "tune",
        space=space,
        trials=1,
        progress=False,
        **where,
        **({"epochs": 1, "dim": 8, "batch_size": 128} if model != "ease" else {}),
    )
    argv = shlex.split(result.command)
    flags = {word for word in argv if word.startswith("--")}
    never = never_read_options({"model": model, **result.best_settings})
    assert not flags & {option_flag(name) for name in never}, result.command
    assert not flags & set(absent), result.command
    # the settings kgrec train gives train() (run_train) are the trial's
    args = build_parser(argv[1:]).parse_args(argv[1:])
    parsed = {name: getattr(args, name) for name in TRAIN_DEFAULTS if hasattr(args, name)}
    for name, value in result.best_settings.items():
        if value is not None:  # (the parser's paths as the study's strings)
            assert (str(parsed[name]) if name == "data" else parsed[name]) == value, name
    assert main(argv[1:]) == 0
    trained = json.loads((Path(args.out) / "run.json").read_text())["training"]
    assert trained["best_valid_ndcg@20"] == pytest.approx(result.best_value, abs=1e-6)


def test_the_printed_command_names_the_device_as_kgrec_train_takes_it(tmp_path, tiny_recbole):
    """tune(device="CPU") (the Python API reads a device as a user writes it) printed
    `--device CPU`, and `cuda:1` `--device cuda:1`, which kgrec train refuses (its choices are
    auto, cpu and cuda)."""
    result = small_tune(tiny_recbole, tmp_path / "tune", trials=1, device=" CPU ")
    argv = shlex.split(result.command)
    assert argv[argv.index("--device") + 1] == "cpu"
    assert main(argv[1:]) == 0
    trained = json.loads((tmp_path / "tune" / "best-trial-0" / "run.json").read_text())
    assert trained["training"]["best_valid_ndcg@20"] == pytest.approx(result.best_value, abs=1e-6)
    settings = {**result.best_settings, "device": "cuda:1"}
    argv = shlex.split(kgrec.tune.train_command("lightgcn", settings, out=tmp_path / "run"))
    assert argv[argv.index("--device") + 1] == "cuda"
    build_parser(argv[1:]).parse_args(argv[1:])  # taken


def test_the_printed_command_of_a_new_best_runs_after_the_last_one_was_trained(
    tmp_path, tiny_recbole
) -> None:
    # before, every best was trained into TUNE/best: once the first best's command had run,
    # a continued study's new best printed a command kgrec train refused ("already holds a run")
    out = tmp_path / "tune"
    space = {"lr": Choice([1e-3, 0.03])}
    first = small_tune(tiny_recbole, out, space=space, trials=1)
    argv = shlex.split(first.command)
    assert main(argv[1:]) == 0
    load_study(out).enqueue_trial({"lr": 0.03})  # learns faster in 3 epochs: the new best
    second = small_tune(tiny_recbole, out, space=space, trials=2)
    assert second.best_trial.number == 1
    argv = shlex.split(second.command)
    assert main(argv[1:]) == 0
    assert argv[argv.index("--out") + 1] == str((out / "best-trial-1").resolve())
    trained = json.loads((out / "best-trial-1" / "run.json").read_text())["training"]
    assert trained["best_valid_ndcg@20"] == pytest.approx(second.best_value, abs=1e-6)
    assert (out / "best-trial-0" / "run.json").exists()  # the first best's run is kept


def test_a_new_item_share_reaches_the_trials_and_the_printed_command(
    tmp_path, tiny_recbole
) -> None:
    """--new-item-share is a split option, as the cold-start shares: every trial trains on
    that split and the printed command makes it again."""
    out = tmp_path / "tune"
    result = tune(
        "lightgcn",
        protocol="ml1m-new-items",
        data=tiny_recbole,
        out=out,
        new_item_share=0.4,
        **{"space": SPACE, "trials": 2, **SMALL},
    )
    argv = shlex.split(result.command)
    assert argv[argv.index("--new-item-share") + 1] == "0.4"
    assert main(argv[1:]) == 0
    run = Path(argv[argv.index("--out") + 1])
    held_out = (run / "split" / "new_items.tsv").read_text().splitlines()[1:]
    default = tmp_path / "default"
    assert (
        main(
            [
                "split",
                "--protocol",
                "ml1m-new-items",
                "--data",
                str(tiny_recbole),
                "--write-split",
                str(default),
            ]
        )
        == 0
    )
    assert len(held_out) > len((default / "new_items.tsv").read_text().splitlines()[1:])
    trained = json.loads((run / "run.json").read_text())["training"]
    best = json.loads((out / BEST_FILE).read_text())
    assert trained["best_valid_ndcg@20"] == pytest.approx(best["value"], abs=1e-6)


def test_few_shot_reaches_the_trials_and_the_printed_command(tmp_path, tiny_recbole) -> None:
    """--few-shot K is a split option too (listed by `kgrec tune --help`, and refused before
    the fix as "not an option of kgrec.experiment.train"): the trials train on that split and
    the printed command makes it again."""
    out = tmp_path / "tune"
    argv = ["tune", "--model", "lightgcn-merged", "--protocol", PROTOCOL, "--few-shot", "2"]
    argv += ["--data", str(tiny_recbole), "--out", str(out), "--trials", "1", "--epochs", "2"]
    assert main([*argv, "--dim", "8", "--search", "lr=loguniform:1e-3:1e-1"]) == 0
    best = json.loads((out / BEST_FILE).read_text())
    command = shlex.split(best["command"])
    assert command[command.index("--few-shot") + 1] == "2"
    assert main(command[1:]) == 0
    run = Path(command[command.index("--out") + 1])
    info = json.loads((run / "run.json").read_text())
    assert info["settings"]["few_shot"] == 2
    assert info["training"]["best_valid_ndcg@20"] == pytest.approx(best["value"], abs=1e-6)
    bad = ["tune", "--model", "lightgcn-merged", "--protocol", PROTOCOL, "--few-shot", "-1"]
    assert main([*bad, "--data", str(tiny_recbole), "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_tuning_never_scores_the_test_split(tmp_path, tiny_recbole, monkeypatch) -> None:
    original = kgrec.evaluate.evaluate_embeddings
    phases = []

    def valid_only(*args, **kwargs):
        phase = args[4] if len(args) > 4 else kwargs["phase"]
        phases.append(phase)
        if phase != "valid":
            raise AssertionError(f"tuning scored the {phase} split")
        return original(*args, **kwargs)

    monkeypatch.setattr(kgrec.evaluate, "evaluate_embeddings", valid_only)
    result = small_tune(tiny_recbole, tmp_path / "tune", trials=2)
    assert result.best_trial is not None
    assert phases and set(phases) == {"valid"}


def test_one_tune_at_a_time_in_a_folder(tmp_path, tiny_recbole) -> None:
    out = tmp_path / "tune"
    out.mkdir()
    with open(out / LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(InputError, match="another kgrec tune is running"):
            small_tune(tiny_recbole, out)


# -- fit's per-epoch callback --------------------------------------------------------------


def test_fit_calls_on_epoch_and_stops_when_it_raises(tiny_recbole) -> None:
    from kgrec.experiment import build_run, load_experiment

    experiment = load_experiment(
        data=tiny_recbole, store=None, protocol=PROTOCOL, split_dir=None, seed=0
    )
    settings = {"model": "lightgcn", "dim": 8}
    seen = []
    net, graph, pairs = build_run(experiment, settings)
    result = fit(
        net,
        graph,
        experiment.split,
        pairs,
        epochs=3,
        batch_size=128,
        progress=False,
        on_epoch=lambda epoch, metric: seen.append((epoch, metric)),
    )
    assert seen == [(h["epoch"], h["ndcg@20"]) for h in result.history]
    assert [epoch for epoch, _ in seen] == [1, 2, 3]

    class Stop(Exception):
        pass

    def stop_at_two(epoch: int, metric: float) -> None:
        if epoch == 2:
            raise Stop

    calls = []
    net, graph, pairs = build_run(experiment, settings)
    with pytest.raises(Stop):
        fit(
            net,
            graph,
            experiment.split,
            pairs,
            epochs=3,
            batch_size=128,
            progress=False,
            on_epoch=lambda e, m: (calls.append(e), stop_at_two(e, m)),
        )
    assert calls == [1, 2]


def test_trials_train_with_cold_start_training_and_init_from(tmp_path, tiny_recbole) -> None:
    """A trial trains as `kgrec train` does with --cold-start-share and --init-from (the
    tune once took both and silently trained without them)."""
    from kgrec.experiment import train

    settings = {"epochs": 3, "dim": 8, "batch_size": 128, "lr": 0.01}
    source = tmp_path / "source"
    train(
        "lightgcn-merged",
        protocol=PROTOCOL,
        data=tiny_recbole,
        out=source,
        progress=False,
        **settings,
    )
    values = {}
    for name, extra in {
        "plain": {},
        "cold": {"cold_start_share": 0.5},
        "init": {"init_from": str(source)},
    }.items():
        result = tune(
            "lightgcn-merged",
            protocol=PROTOCOL,
            data=tiny_recbole,
            out=tmp_path / f"tune-{name}",
            space={"reg_weight": Choice([0.0])},
            trials=1,
            progress=False,
            **settings,
            **extra,
        )
        train(
            "lightgcn-merged",
            protocol=PROTOCOL,
            data=tiny_recbole,
            out=tmp_path / f"run-{name}",
            progress=False,
            **settings,
            **extra,
        )
        trained = json.loads((tmp_path / f"run-{name}" / "run.json").read_text())["training"]
        assert result.best_value == pytest.approx(trained["best_valid_ndcg@20"], abs=1e-6), name
        values[name] = result.best_value
    assert values["cold"] != values["plain"] and values["init"] != values["plain"]


def test_a_searched_text_view_reads_the_stores_texts_and_its_command_trains_it_again(
    tmp_path, text_store
) -> None:
    """Searching text_cl_weight alone (no text model) makes the trials read the item texts the
    term needs, and the best trial's `kgrec train` command gives its validation figure back."""
    out = tmp_path / "tune"
    result = tune(
        "lightgcn",
        protocol=PROTOCOL,
        store=text_store,
        out=out,
        space={"text_cl_weight": Choice([0.1, 0.5])},
        trials=2,
        objective="softmax",
        **SMALL,
    )
    assert result.best_settings["text_property"] == "embedding"
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 2
    argv = shlex.split(result.command)
    assert "--text-cl-weight" in argv
    assert main(argv[1:]) == 0
    run = json.loads(
        (Path(build_parser(argv[1:]).parse_args(argv[1:]).out) / "run.json").read_text()
    )
    assert run["settings"]["text_cl_weight"] == result.best_params["text_cl_weight"]
    assert run["training"]["best_valid_ndcg@20"] == pytest.approx(result.best_value, abs=1e-6)


@pytest.mark.parametrize(
    ("model", "fixed", "space", "reads"),
    [
        ("lightgcn", {}, {"lr": LogUniform(1e-4, 1e-2)}, False),
        ("cross-domain", {}, {}, True),  # its text projection
        ("lightgcn", {"text_input": "add"}, {}, True),
        ("lightgcn", {}, {"text_input": Choice(["none", "add"])}, True),
        ("lightgcn", {}, {"text_input": Choice(["none"])}, False),
        ("lightgcn", {}, {"text_cl_weight": Uniform(0.0, 0.2)}, True),
        ("lightgcn", {}, {"text_cl_weight": Choice([0.0])}, False),
        ("lightgcn", {"cold_items": "student"}, {}, True),
    ],
)
def test_a_search_reads_texts_where_some_trial_may_use_them(model, fixed, space, reads):
    assert _reads_text(model, fixed, space) is reads


def test_a_study_that_recorded_a_relative_store_continues(tmp_path, text_store, monkeypatch):
    """A study records its local store absolute; one of an older kgrec recorded it as typed,
    and continues with the same words (before the fix, as any changed setting, refused)."""
    store = Path(text_store.removeprefix("local:"))
    monkeypatch.chdir(store.parent)
    options = {"protocol": PROTOCOL, "store": f"local:{store.name}", "space": SPACE, **SMALL}
    tune("lightgcn", out=tmp_path / "t", trials=1, **options)
    study = load_study(tmp_path / "t")
    assert study.user_attrs["settings"]["store"] == f"local:{store}"
    settings = {**study.user_attrs["settings"], "store": f"local:{store.name}"}
    study.set_user_attr("settings", settings)
    tune("lightgcn", out=tmp_path / "t", trials=2, **options)
    assert len(load_study(tmp_path / "t").trials) == 2


def test_a_study_continues_with_its_store_and_init_from_spelled_another_way(
    tmp_path, tiny_store, tiny_recbole, write_tiny_store, monkeypatch
):
    """The local store and the --init-from run are compared where they resolve: the same ones
    spelled otherwise continue the study, as does a copy of the store (its digest is compared),
    and a store of other data is refused. A study of an older kgrec,
    which recorded --init-from as typed, continues with the same words too (before, refused as
    a changed setting: 'These differ: --init-from ...') (found by the tune39 review)."""
    store = Path(tiny_store.removeprefix("local:"))
    source_run(tmp_path, tiny_recbole)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "t"
    options = {
        "protocol": PROTOCOL,
        "space": {"reg_weight": Choice([0.0, 1e-3])},
        **SMALL,
        **SOURCE,
    }
    tune("lightgcn", out=out, trials=1, store=f"local:{store.name}", init_from="src", **options)
    study = load_study(out)
    assert study.user_attrs["settings"]["init_from"] == str(tmp_path / "src")
    study.set_user_attr("settings", {**study.user_attrs["settings"], "init_from": "src"})
    spellings = [
        (f"local:./{store.name}", "./src"),
        (f"local:{store}", str(tmp_path / "src")),
        (f"local:../{tmp_path.name}/{store.name}/", "src/"),
    ]
    for trials, (uri, run) in enumerate(spellings, start=2):
        tune("lightgcn", out=out, trials=trials, store=uri, init_from=run, **options)
        assert len(load_study(out).trials) == trials
    # a copy of the store elsewhere holds the same graph: the study's digest, not its path,
    # is compared (before session 39, "These differ: --store"); a store of other data is not
    copy = write_tiny_store(tmp_path / "copy", tiny_recbole)
    result = tune("lightgcn", out=out, trials=5, store=copy, init_from="src", **options)
    assert len(load_study(out).trials) == 5
    assert f"--store {copy} " in result.command
    inter = tiny_recbole / f"{tiny_recbole.name}.inter"
    inter.write_text("".join(inter.read_text().splitlines(keepends=True)[:-10]))
    other = write_tiny_store(tmp_path / "other", tiny_recbole)
    with pytest.raises(InputError, match="not the data this folder's study"):
        tune("lightgcn", out=out, trials=6, store=other, init_from="src", **options)


def test_a_study_continues_with_its_init_from_run_moved(tmp_path, tiny_recbole) -> None:
    """A study continued (the same --out) after its --init-from run moved was refused ("These
    differ: --init-from"), though a moved data folder or store continues by its digest: the
    study now records the sha256 of the run's model.pt and takes another path whose model.pt
    has it, as `kgrec train --resume` does. Another run is refused, and so is a moved run for
    a study of an older kgrec, which recorded no sha256 (found by the paths40 review)."""
    import torch

    source_run(tmp_path, tiny_recbole)
    out = tmp_path / "t"
    options = {
        "protocol": PROTOCOL,
        "data": tiny_recbole,
        "space": {"reg_weight": Choice([0.0, 1e-3])},
        **SMALL,
        **SOURCE,
    }
    tune("lightgcn", out=out, trials=1, init_from=tmp_path / "src", **options)
    moved = tmp_path / "moved" / "src"
    moved.parent.mkdir()
    (tmp_path / "src").rename(moved)
    result = tune("lightgcn", out=out, trials=2, init_from=moved, **options)
    assert len(load_study(out).trials) == 2
    assert f"--init-from {moved} " in result.command
    # another run (the same files, another model.pt) is refused
    other = tmp_path / "other"
    shutil.copytree(moved, other)
    state = torch.load(other / "model.pt", weights_only=True)
    name = next(iter(state))
    state[name] = state[name] + 1
    torch.save(state, other / "model.pt")
    with pytest.raises(InputError, match="These differ: --init-from"):
        tune("lightgcn", out=out, trials=3, init_from=other, **options)
    # a study of an older kgrec recorded no sha256: the paths are compared, as before
    with closing(sqlite3.connect(out / STUDY_FILE)) as db, db:
        db.execute("DELETE FROM study_user_attributes WHERE key = 'init_from_sha256'")
    assert "init_from_sha256" not in load_study(out).user_attrs
    with pytest.raises(InputError, match="These differ: --init-from"):
        tune("lightgcn", out=out, trials=3, init_from=moved, **options)
    assert len(load_study(out).trials) == 2


def test_the_printed_command_leaves_out_what_the_best_trial_does_not_read(tmp_path, tiny_recbole):
    """Before, a search over cl_weight 0 or 0.1 with --cl-noise fixed printed a command with
    --cl-noise, which kgrec train refused (exit 2) when the best trial had cl_weight 0."""
    out = tmp_path / "tune"
    result = small_tune(
        tiny_recbole, out, space={"cl_weight": Choice([0.0, 50.0])}, trials=1, cl_noise=0.1
    )
    argv = shlex.split(result.command)
    assert result.best_settings["cl_weight"] == 0.0  # (this search's best: the case in point)
    assert "--cl-noise" not in argv
    assert main(argv[1:]) == 0  # the command trains (not refused)


def test_a_search_of_cl_weight_for_mf_is_refused_before_any_trial(tmp_path, tiny_recbole):
    """Matrix factorisation has no propagation layers for the contrastive term to perturb."""
    with pytest.raises(InputError, match="and mf has none") as raised:
        tune(
            "mf",
            protocol=PROTOCOL,
            data=tiny_recbole,
            out=tmp_path / "tune",
            space={"cl_weight": Choice([0.0, 0.1])},
            **SMALL,
        )
    assert raised.value.field == "--search"
    assert not (tmp_path / "tune").exists()


@pytest.mark.parametrize(
    ("model", "space", "fixed", "says"),
    [
        # before: every trial the same (target_weight cancels on one domain; cl_noise is read
        # only with cl_weight), then a printed command kgrec train refused
        ("lightgcn", {"target_weight": Uniform(1.5, 2.0)}, {}, "--target-weight"),
        ("lightgcn", {"cl_noise": Uniform(0.05, 0.5)}, {}, "--cl-noise"),
        ("lightgcn", {"lr": LogUniform(1e-3, 1e-2)}, {"target_weight": 2.0}, "--target-weight"),
        ("ease", {"ease_lambda": LogUniform(1.0, 10.0)}, {"lr": 0.01}, "--lr"),
    ],
)
def test_options_no_trial_reads_are_refused_before_any_trial(
    tmp_path, tiny_recbole, model, space, fixed, says
):
    with pytest.raises(InputError, match=f"reads [^:]*{says}[^:]* in no trial") as raised:
        tune(
            model,
            protocol=PROTOCOL,
            data=tiny_recbole,
            out=tmp_path / "tune",
            space=space,
            **{**SMALL, **fixed},
        )
    # the option as typed: --search, or a fixed option's flag (before, 'target_weight')
    field = raised.value.field
    if fixed:
        assert field.startswith("--") and field in str(raised.value)
    else:
        assert field == "--search"
    assert not (tmp_path / "tune").exists()


def test_options_checked_against_each_other_are_searched_together(tmp_path, tiny_recbole, capsys):
    """Before, each searched option was checked against the other's default: cl_layer 4 was
    refused against layers 2 although layers 4 was searched too. A trial that draws values
    invalid together is pruned, with the reason: it trains nothing and is never the best."""
    out = tmp_path / "tune"
    search = ["--search", "layers=int:1:4", "--search", "cl_layer=int:0:4"]
    assert (
        cli_tune(tiny_recbole, out, *search, "--cl-weight", "0.1", "--epochs", "1", "--trials", "8")
        == 0
    )
    printed = capsys.readouterr().out
    trials = load_study(out).trials
    assert len(trials) == 8
    for trial in trials:
        valid = trial.params["cl_layer"] <= trial.params["layers"]
        assert trial.state == (TrialState.COMPLETE if valid else TrialState.PRUNED), trial
        assert ("invalid" in trial.user_attrs) == (not valid)
    pruned = [trial for trial in trials if trial.state == TrialState.PRUNED]
    assert pruned  # (this seed draws some: the case in point)
    assert "cl_layer must lie in [0, " in pruned[0].user_attrs["invalid"]
    assert f"\ntrial {pruned[0].number} pruned (invalid together: cl_layer must" in printed
    best = json.loads((out / BEST_FILE).read_text())
    assert best["params"]["cl_layer"] <= best["params"]["layers"]


@pytest.mark.parametrize(
    ("space", "switch", "off", "dependent", "flags"),
    [
        (
            {"objective": Choice(["bpr", "softmax"]), "temperature": Choice([0.1, 0.3])},
            "objective",
            "bpr",
            "temperature",
            ("--temperature", "--num-negatives", "--score"),
        ),
        (
            {"cl_weight": Choice([0.0, 0.1]), "cl_noise": Choice([0.1, 0.3])},
            "cl_weight",
            0.0,
            "cl_noise",
            ("--cl-noise", "--cl-temperature", "--cl-layer"),
        ),
    ],
)
def test_an_option_read_under_one_value_of_another_is_drawn_only_there(
    tmp_path, tiny_recbole, space, switch, off, dependent, flags
):
    """Before, every bpr trial of objective=choice:bpr,softmax beside a searched temperature
    drew one and was pruned as invalid, spending the budget; a trial of cl_weight 0 drew a
    cl_noise it ignored. Now a trial draws an option only where the values it drew read it,
    and the command printed for such a best trial has none of the options it does not read
    (found by the tune39 review)."""
    result = small_tune(tiny_recbole, tmp_path / "tune", space=space, trials=6, epochs=1)
    trials = result.trials
    assert all(trial.state == TrialState.COMPLETE for trial in trials), trials
    off_trials = [trial for trial in trials if trial.params[switch] == off]
    assert off_trials and len(off_trials) < len(trials)  # (this seed draws both: the case)
    for trial in trials:
        assert (dependent in trial.params) == (trial.params[switch] != off)
    # the command each kind of trial prints as the best
    on_trial = next(trial for trial in trials if trial.params[switch] != off)
    for trial in (off_trials[0], on_trial):
        study = SimpleNamespace(get_trials=lambda deepcopy, trial=trial: [trial])
        command = kgrec.tune._result(tmp_path / "tune", study, "lightgcn", result.settings).command
        words = shlex.split(command)
        assert (flags[0] in words) == (trial is on_trial), command
        if trial is not on_trial:
            assert not set(flags) & set(words), command
            assert main(words[1:]) == 0  # kgrec train takes it


def test_a_search_no_trial_of_which_is_valid_names_the_options_that_conflict(
    tmp_path, tiny_recbole, capsys
):
    out = tmp_path / "tune"
    search = ["--search", "layers=choice:1,2", "--search", "cl_layer=int:3:4"]
    assert cli_tune(tiny_recbole, out, *search, "--cl-weight", "0.1") == 2
    err = capsys.readouterr().err
    assert "no trial of this search has valid settings" in err
    assert "--search layers=choice:1,2 and --search cl_layer=int:3:4 conflict" in err
    # a searched value no value of the other makes valid trains in no trial: refused too
    search = ["--search", "layers=int:1:2", "--search", "cl_layer=int:0:4"]
    assert cli_tune(tiny_recbole, out, *search, "--cl-weight", "0.1") == 2
    err = capsys.readouterr().err
    assert "--search cl_layer=int:0:4: no trial with cl_layer 4 has valid settings" in err
    assert "whatever the value of --search layers=int:1:2" in err
    assert not out.exists()


def test_a_trial_that_runs_out_of_memory_fails_and_the_tune_goes_on(tmp_path, tiny_recbole):
    """Before, a trial whose dim asked torch for more memory than there is ended the whole
    tune with a traceback (exit 1)."""
    options = {**SMALL, "dim": TRAIN_DEFAULTS["dim"]}  # searched, not fixed
    result = tune(
        "lightgcn",
        protocol=PROTOCOL,
        data=tiny_recbole,
        out=tmp_path / "tune",
        space={"dim": Choice([2_000_000_000, 8])},
        trials=3,
        **{k: v for k, v in options.items() if k != "dim"},
    )
    states = [t.state for t in result.trials]
    assert TrialState.FAIL in states and states.count(TrialState.COMPLETE) >= 1
    failed = next(t for t in result.trials if t.state == TrialState.FAIL)
    assert (
        "field '--dim': the model's parameters do not fit in memory" in failed.user_attrs["error"]
    )
    assert "do not fit in memory" in result.table()


def test_a_trial_whose_dim_is_beyond_int64_fails_and_the_tune_goes_on(tmp_path, tiny_recbole):
    """Before, a searched dim beyond int64 ended the whole tune with torch.empty's TypeError
    traceback ("Overflow when unpacking long"): kgrec train names --dim for it, a trial did
    not."""
    result = tune(
        "lightgcn",
        protocol=PROTOCOL,
        data=tiny_recbole,
        out=tmp_path / "tune",
        space={"dim": IntRange(10**19, 10**20)},
        trials=2,
        **{k: v for k, v in SMALL.items() if k != "dim"},
    )
    assert [t.state for t in result.trials] == [TrialState.FAIL, TrialState.FAIL]
    for trial in result.trials:
        assert trial.user_attrs["error"] == (
            "field '--dim': the model's parameters do not fit in memory (too large a size)"
        )
    assert result.best_trial is None


def test_a_trial_whose_negatives_are_beyond_int64_fails_and_the_tune_goes_on(
    tmp_path, tiny_recbole
):
    """Before, a searched num_negatives beyond int64 ended the whole tune with the TypeError
    traceback torch.randint raised while the first trial trained ("Overflow when unpacking
    long"): kgrec train names --num-negatives for it, a trial was not failed."""
    result = tune(
        "lightgcn",
        protocol=PROTOCOL,
        data=tiny_recbole,
        out=tmp_path / "tune",
        space={"num_negatives": IntRange(10**19, 10**20)},
        objective="softmax",
        trials=2,
        **SMALL,
    )
    assert [t.state for t in result.trials] == [TrialState.FAIL, TrialState.FAIL]
    for trial in result.trials:
        assert trial.user_attrs["error"].startswith("out of memory: ")
        assert "Overflow when unpacking long" in trial.user_attrs["error"]
    assert result.best_trial is None


def test_a_study_file_that_is_not_a_study_is_a_clear_error(tmp_path, tiny_recbole, capsys):
    out = tmp_path / "tune"
    out.mkdir()
    (out / STUDY_FILE).write_text("x\n")
    assert cli_tune(tiny_recbole, out, "--search", "lr=loguniform:1e-3:1e-2") == 2
    assert "not a study kgrec tune can read" in capsys.readouterr().err
    assert (out / STUDY_FILE).read_text() == "x\n"


def test_a_folder_named_like_the_study_is_not_a_study(tmp_path, tiny_recbole):
    """SQLite reads a folder as a disk I/O error: it is no study, not a database to retry."""
    (tmp_path / "tune" / STUDY_FILE).mkdir(parents=True)
    with pytest.raises(InputError, match="not a study kgrec tune can read"):
        small_tune(tiny_recbole, tmp_path / "tune", trials=1)
    assert (tmp_path / "tune" / STUDY_FILE).is_dir()


@pytest.mark.parametrize("study", ["no study", "theirs", "kgrec's name", "kgrec's name, a model"])
def test_a_database_of_the_users_named_like_the_study_is_left_alone(
    tmp_path, tiny_recbole, capsys, study
):
    """Before, a folder with the user's own SQLite file named tune.sqlite (another program's,
    or their own Optuna storage) was taken for a tune folder: Optuna's tables and a kgrec study
    were written into it, and best.json beside it. Before session 31 so was one whose study
    had kgrec's name (another program's, the user's own Optuna study of that name): kgrec's
    record of its search was written into it and its trials run there, the user's queued
    trial first; or, where it recorded a model of its own, refused as run with other
    settings."""
    out = tmp_path / "mine"
    out.mkdir()
    path = out / STUDY_FILE
    if study == "no study":
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("CREATE TABLE notes (text TEXT)")
    else:
        name = "theirs" if study == "theirs" else STUDY_NAME
        theirs = optuna.create_study(study_name=name, storage=f"sqlite:///{path}")
        theirs.enqueue_trial({"lr": 0.01})
        if study.endswith("a model"):  # one of the keys a tune records: not enough
            theirs.set_user_attr("model", "lightgcn")
    before = path.read_bytes()
    with pytest.raises(InputError, match="not a study kgrec tune can read") as raised:
        small_tune(tiny_recbole, out, trials=1)
    assert raised.value.file == str(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE) == [STUDY_FILE]
    if study.startswith("kgrec's name"):
        assert f"its study {STUDY_NAME!r} was not made by kgrec tune" in str(raised.value)
        capsys.readouterr()
        assert cli_tune(tiny_recbole, out, "--search", "lr=loguniform:1e-3:1e-2") == 2
        err = capsys.readouterr().err
        assert f"file {path}" in err and "was not made by kgrec tune" in err
        assert path.read_bytes() == before


def test_a_study_of_a_kgrec_before_the_mark_still_resumes(tmp_path, tiny_recbole):
    """kgrec marks the study it makes (kgrec.tune.MARK); a study of an earlier kgrec, which wrote no
    mark, is known by the record of its search every tune wrote in it (model, settings,
    space) and resumes, and is marked then."""
    out = tmp_path / "tune"
    small_tune(tiny_recbole, out, trials=1)
    study = load_study(out)
    assert _marked(out)
    with closing(sqlite3.connect(out / STUDY_FILE)) as db, db:  # as an earlier kgrec left it
        db.execute("DELETE FROM study_system_attributes WHERE key = ?", (kgrec.tune.MARK,))
    assert not _marked(out)
    result = small_tune(tiny_recbole, out, trials=2)
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 2
    assert result.trials[0].params == study.trials[0].params  # the earlier trial, kept
    assert _marked(out)


@pytest.mark.parametrize("lock", [True, False])
def test_a_study_a_kill_left_unmarked_as_it_was_made_is_taken_and_marked(
    tmp_path, tiny_recbole, lock
):
    """A SIGKILL between Optuna making the study and kgrec marking it leaves an empty study of
    kgrec's name, unmarked (built here with Optuna). Before, the next run refused it as not
    made by kgrec tune; it holds nothing anyone could lose, so it is taken and marked."""
    out = tmp_path / "tune"
    out.mkdir()
    if lock:  # the killed run's lock file
        (out / LOCK_FILE).touch()
    optuna.create_study(
        study_name=STUDY_NAME, direction="maximize", storage=f"sqlite:///{out / STUDY_FILE}"
    )
    result = small_tune(tiny_recbole, out, trials=1)
    assert [t.state for t in result.trials] == [TrialState.COMPLETE]
    assert _marked(out)


@pytest.mark.parametrize("theirs", ["minimizes", "an attribute", "another study"])
def test_an_empty_unmarked_study_that_is_not_as_kgrec_makes_it_is_left_alone(
    tmp_path, tiny_recbole, theirs
):
    """Only a study as Optuna makes kgrec's is taken: not one that minimizes, holds an
    attribute, or shares its file with another study."""
    out = tmp_path / "mine"
    out.mkdir()
    path = out / STUDY_FILE
    study = optuna.create_study(
        study_name=STUDY_NAME,
        direction="minimize" if theirs == "minimizes" else "maximize",
        storage=f"sqlite:///{path}",
    )
    if theirs == "an attribute":
        study.set_user_attr("owner", "me")
    if theirs == "another study":
        optuna.create_study(study_name="theirs", storage=f"sqlite:///{path}")
    before = path.read_bytes()
    with pytest.raises(InputError, match="was not made by kgrec tune"):
        small_tune(tiny_recbole, out, trials=1)
    assert path.read_bytes() == before


def _marked(out: Path) -> bool:
    study = load_study(out)
    return study._storage.get_study_system_attrs(study._study_id).get(kgrec.tune.MARK) is True


def _our_study(out: Path) -> optuna.Study:
    """A folder holding kgrec tune's study (no trials), as a run leaves it."""
    out.mkdir()
    return kgrec.tune._open_study(out, pruning=True, prune_warmup=1)


def test_a_study_another_process_has_locked_is_not_called_no_study(tmp_path, tiny_recbole, capsys):
    """Before, a study another process held a lock on (an sqlite3 BEGIN EXCLUSIVE, a second
    kgrec tune writing) as a run started was said to be "not a study kgrec tune can read (no
    study 'kgrec-tune' in it): choose a new --out folder": the user told to abandon it."""
    _our_study(tmp_path / "tune")
    path = tmp_path / "tune" / STUDY_FILE
    before = path.read_bytes()
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        assert cli_tune(tiny_recbole, tmp_path / "tune", "--search", "lr=loguniform:1e-3:1e-2") == 2
        holder.execute("ROLLBACK")
    err = capsys.readouterr().err
    assert f"file {path}" in err and "database is locked" in err
    assert "when that process is done" in err and "nothing in the folder changed" in err
    assert "not a study" not in err and "Traceback" not in err
    assert path.read_bytes() == before
    assert load_study(tmp_path / "tune").trials == []


def test_a_lock_taken_as_the_study_opens_is_not_called_no_study(
    tmp_path, tiny_recbole, monkeypatch
):
    """Before, the database locked by another process between the folder's check and the
    study's opening (Optuna reading its tables) read as the file not being a study."""
    _our_study(tmp_path / "tune")
    path = tmp_path / "tune" / STUDY_FILE
    holder = sqlite3.connect(path, isolation_level=None)
    check = kgrec.tune._check_folder

    def check_then_lock(out: Path) -> None:
        check(out)
        holder.execute("BEGIN EXCLUSIVE")

    monkeypatch.setattr(kgrec.tune, "_check_folder", check_then_lock)
    try:
        with pytest.raises(StoreError, match="database is locked") as raised:
            small_tune(tiny_recbole, tmp_path / "tune", trials=1)
    finally:
        holder.close()
    assert str(raised.value).startswith(f"file {path}: ")
    assert "when that process is done" in str(raised.value)
    assert load_study(tmp_path / "tune").trials == []


def test_a_study_another_tune_is_making_is_not_called_no_study(tmp_path, tiny_recbole):
    """Before, a run started while another kgrec tune held the folder's lock, between making
    Optuna's tables and recording its study, was told the file is "not a study kgrec tune can
    read ...: choose a new --out folder": the folder was checked before its lock was taken."""
    out = tmp_path / "tune"
    out.mkdir()
    optuna.storages.RDBStorage(f"sqlite:///{out / STUDY_FILE}")  # the tables, no study yet
    before = (out / STUDY_FILE).read_bytes()
    with open(out / LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(InputError, match="another kgrec tune is running") as raised:
            small_tune(tiny_recbole, out, trials=1)
    assert raised.value.file == str(out)
    assert (out / STUDY_FILE).read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_FILE, STUDY_FILE])


def test_a_folder_refused_under_the_lock_is_left_as_it_was(tmp_path, tiny_recbole, monkeypatch):
    """The folder is checked again under its lock: a folder that changed between the checks
    (a file of the user's put in it) is refused, and the lock file the run made is removed."""
    out = tmp_path / "mine"
    out.mkdir()
    check = kgrec.tune._check_folder
    calls = []

    def check_then_write(folder: Path) -> None:
        calls.append(folder)
        if len(calls) == 2:
            (folder / "notes.txt").write_text("mine\n")
        check(folder)

    monkeypatch.setattr(kgrec.tune, "_check_folder", check_then_write)
    with pytest.raises(InputError, match="not a tune folder"):
        small_tune(tiny_recbole, out, trials=1)
    assert len(calls) == 2
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_study_another_process_reserved_says_to_run_again_when_it_is_done(
    tmp_path, tiny_recbole, capsys
):
    """Before, a study another process held a write reservation on (an sqlite3 BEGIN
    IMMEDIATE: reads pass, the first write is refused) was "could not open the study
    (database is locked) ... once the database can be written", without saying that another
    process holds it and to run again when that process is done, as a held read does."""
    _our_study(tmp_path / "tune")
    path = tmp_path / "tune" / STUDY_FILE
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        assert cli_tune(tiny_recbole, tmp_path / "tune", "--search", "lr=loguniform:1e-3:1e-2") == 2
        holder.execute("ROLLBACK")
    err = capsys.readouterr().err
    assert f"file {path}" in err and "database is locked" in err
    assert "another process holds it" in err and "when that process is done" in err
    # Optuna raises this refusal as its StorageInternalError: before, that was not taken for
    # the study refusing to be opened, and the error did not say the folder is unchanged
    assert "could not be opened" in err and "nothing in the folder changed" in err
    assert "not a study" not in err and "Traceback" not in err
    assert load_study(tmp_path / "tune").trials == []


@pytest.mark.parametrize("opened", ["held", "not a study"])
def test_a_study_folder_without_its_lock_file_gets_none_when_the_study_cannot_be_opened(
    tmp_path, tiny_recbole, monkeypatch, opened
):
    """A study folder whose lock file was deleted, whose study passes the folder's check but
    then cannot be opened: another process holds its database (a real sqlite3 BEGIN
    IMMEDIATE), or Optuna reads it as no study (a damaged file, faked). Before, the run
    refused the folder ("nothing in the folder changed") but left a new lock file in it."""
    from sqlalchemy.exc import DatabaseError

    _our_study(tmp_path / "tune")
    path = tmp_path / "tune" / STUDY_FILE
    before = path.read_bytes()
    if opened == "not a study":
        damaged = sqlite3.DatabaseError("database disk image is malformed")
        damaged.sqlite_errorcode = sqlite3.SQLITE_CORRUPT

        def reading(*args, **kwargs):
            raise DatabaseError("SELECT", {}, damaged)

        monkeypatch.setattr(kgrec.tune.optuna.storages, "RDBStorage", reading)
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        if opened == "held":
            holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError if opened == "held" else InputError) as raised:
            small_tune(tiny_recbole, tmp_path / "tune", trials=1)
    said = {"held": "another process holds it", "not a study": "not a study kgrec tune can"}
    assert said[opened] in str(raised.value)
    assert sorted(p.name for p in (tmp_path / "tune").iterdir()) == [STUDY_FILE]
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("code", "message"),
    [(sqlite3.SQLITE_IOERR, "disk I/O error"), (sqlite3.SQLITE_FULL, "database or disk is full")],
)
@pytest.mark.parametrize("where", ["check", "open", "commit"])
def test_a_study_database_that_refuses_a_read_is_a_store_error(
    tmp_path, tiny_recbole, monkeypatch, code, message, where
):
    """Before, an I/O error or a full disk as the study was read was "not a study kgrec tune
    can read ...: choose a new --out folder" (an InputError), as was a lock. Before session
    31 one Optuna raises as its StorageInternalError (a write of the study refused, at
    ``commit``) was not taken for the study refusing to be opened: "could not open the study
    ...; no trial was training", not saying the folder is unchanged."""
    from sqlalchemy.exc import OperationalError

    _our_study(tmp_path / "tune")
    path = tmp_path / "tune" / STUDY_FILE
    before = path.read_bytes()
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code

    def refuse(*args, **kwargs):
        if where == "check":
            raise error
        if where == "commit":  # as Optuna's sessions raise it
            internal = optuna.exceptions.StorageInternalError("An exception is raised ...")
            raise internal from OperationalError("INSERT", {}, error)
        raise OperationalError("SELECT", {}, error)

    if where == "check":
        monkeypatch.setattr(kgrec.tune.sqlite3, "connect", refuse)
    elif where == "commit":
        monkeypatch.setattr(optuna.storages.RDBStorage, "create_new_study", refuse)
    else:
        monkeypatch.setattr(kgrec.tune.optuna.storages, "RDBStorage", refuse)
    with pytest.raises(StoreError) as raised:
        small_tune(tiny_recbole, tmp_path / "tune", trials=1)
    said = str(raised.value)
    assert said.startswith(f"file {path if where == 'check' else path.resolve()}: ")
    assert message in said and "nothing in the folder changed" in said
    assert "when that process is done" not in said  # no other process holds it
    monkeypatch.undo()
    assert path.read_bytes() == before


@pytest.mark.parametrize("folder", ["empty", "lock file only"])
def test_a_study_that_cannot_be_made_leaves_the_folder_as_it_was(
    tmp_path, tiny_recbole, monkeypatch, folder
):
    """The study's database refuses (a full disk, faked once Optuna has made its tables) to
    record a new study in a folder the run did not make: an empty one, or one a kgrec tune
    left with only its lock file. Before, the error said "nothing in the folder changed" but
    left the tune.sqlite the run had made."""
    from sqlalchemy.exc import OperationalError

    out = tmp_path / "mine"
    out.mkdir()
    if folder == "lock file only":
        (out / LOCK_FILE).touch()
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL

    def refuse(*args, **kwargs):
        internal = optuna.exceptions.StorageInternalError("An exception is raised ...")
        raise internal from OperationalError("INSERT", {}, full)

    monkeypatch.setattr(optuna.storages.RDBStorage, "create_new_study", refuse)
    with pytest.raises(StoreError, match="database or disk is full") as raised:
        small_tune(tiny_recbole, out, trials=1)
    assert "nothing in the folder changed" in str(raised.value)
    assert [p.name for p in out.iterdir()] == ([LOCK_FILE] if folder == "lock file only" else [])


def test_a_tune_that_fails_before_its_first_trial_leaves_no_folder(tmp_path, tiny_recbole):
    """Before, an unknown --target-domain (an error once the data is read) left the new
    folder with a study and a lock behind."""
    with pytest.raises(InputError, match="nope") as raised:
        small_tune(tiny_recbole, tmp_path / "tune", target_domain="nope")
    assert raised.value.field == "--target-domain"  # was 'domain'
    assert not (tmp_path / "tune").exists()
    (tmp_path / "mine").mkdir()  # a folder the user made is left, as it was
    with pytest.raises(InputError, match="nope"):
        small_tune(tiny_recbole, tmp_path / "mine", target_domain="nope")
    assert (tmp_path / "mine").is_dir()


def test_a_tune_that_fails_before_its_first_trial_leaves_no_parent_folder_it_made(
    tmp_path, tiny_recbole
):
    """Before, --out new/sub/tune removed tune and left new/sub behind, empty (kgrec train
    removes the parents it made)."""
    with pytest.raises(InputError, match="nope"):
        small_tune(tiny_recbole, tmp_path / "new" / "sub" / "tune", target_domain="nope")
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()  # a parent the user made is left
    with pytest.raises(InputError, match="nope"):
        small_tune(tiny_recbole, tmp_path / "mine" / "sub" / "tune", target_domain="nope")
    assert (tmp_path / "mine").is_dir() and not (tmp_path / "mine" / "sub").exists()


@pytest.mark.parametrize("folder", ["empty", "lock file only"])
@pytest.mark.parametrize("failure", ["target domain", "ctrl-c", "refused write"])
def test_a_tune_that_fails_before_its_first_trial_leaves_the_users_folder_as_it_was(
    tmp_path, tiny_recbole, monkeypatch, folder, failure
):
    """A run that fails after it made its study in a folder of the user's with no study in
    it (an empty one, or one a tune left with only its lock file), before any trial: an
    unknown --target-domain (refused once the data is read), a Ctrl-C as the data is read,
    the database refusing to record the data's digest (a full disk, faked). Before, the
    tune.sqlite and the .tune.lock it made were left there."""
    from sqlalchemy.exc import OperationalError

    out = tmp_path / "mine"
    out.mkdir()
    if folder == "lock file only":
        (out / LOCK_FILE).touch()
    options = {"target_domain": "nope"} if failure == "target domain" else {}
    if failure == "ctrl-c":

        def interrupted(**kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(kgrec.tune, "load_experiment", interrupted)
    if failure == "refused write":
        full = sqlite3.OperationalError("database or disk is full")
        full.sqlite_errorcode = sqlite3.SQLITE_FULL

        def refuse(*args, **kwargs):
            raise OperationalError("UPDATE", {}, full)

        monkeypatch.setattr(kgrec.tune, "_check_experiment", refuse)
    expected = {"target domain": InputError, "ctrl-c": KeyboardInterrupt}
    with pytest.raises(expected.get(failure, StoreError)):
        small_tune(tiny_recbole, out, trials=1, **options)
    assert sorted(p.name for p in out.iterdir()) == (
        [LOCK_FILE] if folder == "lock file only" else []
    )


@pytest.mark.parametrize("folder", ["empty", "lock file only"])
def test_a_tune_that_fails_before_its_first_trial_removes_the_journal_of_the_study_it_made(
    tmp_path, tiny_recbole, monkeypatch, folder
):
    """A run that fails before its first trial while its new study is being written (a
    writer of the database in the middle of its transaction, its rollback journal on disk,
    then a Ctrl-C). Before, the tune.sqlite-journal was left behind, alone in the folder (a
    journal the next run's new study could be rolled back with)."""
    out = tmp_path / "mine"
    out.mkdir()
    if folder == "lock file only":
        (out / LOCK_FILE).touch()
    writers = []

    def writing_then_interrupted(**kwargs):
        db = sqlite3.connect(out / STUDY_FILE, isolation_level=None)
        writers.append(db)
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE studies SET study_name = study_name")
        assert (out / f"{STUDY_FILE}-journal").exists()
        raise KeyboardInterrupt

    monkeypatch.setattr(kgrec.tune, "load_experiment", writing_then_interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            small_tune(tiny_recbole, out, trials=1)
        # read while the writer is still open, as one that died is (closed, it rolls back
        # and deletes its journal)
        assert sorted(p.name for p in out.iterdir()) == (
            [LOCK_FILE] if folder == "lock file only" else []
        )
    finally:
        for db in writers:
            db.close()


def test_a_journal_that_was_there_before_is_left(tmp_path, tiny_recbole):
    """A journal left alone in a folder is no study: the folder is refused, the journal kept."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / LOCK_FILE).touch()
    (out / f"{STUDY_FILE}-journal").write_bytes(b"journal")
    with pytest.raises(InputError, match="not a tune folder"):
        small_tune(tiny_recbole, out, trials=1)
    assert (out / f"{STUDY_FILE}-journal").read_bytes() == b"journal"


def test_a_folder_the_run_made_is_removed_before_its_lock_is_released(
    tmp_path, tiny_recbole, monkeypatch
):
    """Before, a run that failed before its first trial released its lock and then removed
    the folder it had made: another run could take the lock in between and have its folder
    removed under it. The folder is gone by the time the lock is released."""
    seen = []
    release = kgrec.tune._lock.__exit__

    def spy(self, *exc):
        seen.append(self.path.parent.exists())
        release(self, *exc)

    monkeypatch.setattr(kgrec.tune._lock, "__exit__", spy)
    with pytest.raises(InputError, match="nope"):
        small_tune(tiny_recbole, tmp_path / "tune", trials=1, target_domain="nope")
    assert seen == [False]
    assert not (tmp_path / "tune").exists()


def _another_run_failed_as_it_was_opened(monkeypatch, out: Path) -> None:
    """The lock file's first opening finds the folder gone: another run that made it (and
    made its lock file) failed and removed it just before."""
    opened = []

    def removed_first(path, *args, **kwargs):
        if Path(path) == out / LOCK_FILE and not opened:
            opened.append(path)
            shutil.rmtree(out)
        return open(path, *args, **kwargs)

    monkeypatch.setattr(kgrec.tune, "open", removed_first, raising=False)


@pytest.mark.parametrize("then", ["trains", "fails"])
def test_a_folder_removed_by_a_run_that_failed_as_this_one_starts_is_made_again(
    tmp_path, tiny_recbole, monkeypatch, then
):
    """Run B finds the folder (and lock file) run A made, A fails and removes it before B
    opens the lock file. Before, B failed with a bare FileNotFoundError. It makes the folder
    again and goes on; failing before its first trial, it removes the folder it made."""
    out = tmp_path / "tune"
    out.mkdir()
    (out / LOCK_FILE).touch()
    _another_run_failed_as_it_was_opened(monkeypatch, out)
    if then == "trains":
        result = small_tune(tiny_recbole, out, trials=1)
        assert len(result.trials) == 1 and (out / BEST_FILE).is_file()
    else:
        with pytest.raises(InputError, match="nope"):
            small_tune(tiny_recbole, out, trials=1, target_domain="nope")
        assert not out.exists()


def test_a_run_that_fails_leaves_a_study_another_run_finished_in_the_folder_both_made(
    tmp_path, tiny_recbole, monkeypatch
):
    """Runs A and B both find no folder and both make it; B pauses before it takes the lock,
    A takes it, runs its trials and lets go; B then fails before its first trial (a bad
    --target-domain). Before, B removed the folder it took for its own, and A's study with
    it. A folder that holds a study as B begins to make its own is not B's to remove."""
    out, finished = tmp_path / "tune", tmp_path / "finished"
    small_tune(tiny_recbole, finished, trials=1)  # what A leaves
    real = kgrec.tune._lock.__enter__

    def a_finished_first(self):
        shutil.copytree(finished, out, dirs_exist_ok=True)  # B made it; A ran in it meanwhile
        return real(self)

    monkeypatch.setattr(kgrec.tune._lock, "__enter__", a_finished_first)
    with pytest.raises(InputError, match="nope"):
        small_tune(tiny_recbole, out, trials=1, target_domain="nope")
    assert (out / BEST_FILE).is_file() and len(load_study(out).trials) == 1


@pytest.mark.parametrize("after", ["nothing", "another run made it again"])
def test_a_lock_taken_on_a_lock_file_removed_as_it_was_taken_is_taken_again(
    tmp_path, tiny_recbole, monkeypatch, after
):
    """Run B opens the lock file of the folder run A made; A fails, removes the folder and
    releases its lock; B then gets the lock, on a file no longer in any folder. Before, B
    went on under it: beside run C, which made the folder again and holds its lock, two runs
    trained into one study (and with nobody else, B could not open its study). B takes the
    folder's lock file instead: refused while C holds it, else it makes the folder again."""
    out = tmp_path / "tune"
    out.mkdir()
    (out / LOCK_FILE).touch()
    real, removed = fcntl.flock, []
    with ExitStack() as others:

        def removed_first(file, operation):
            if operation & fcntl.LOCK_EX and not removed:
                shutil.rmtree(out)  # A, failing, removes its folder under its lock, lets go
                removed.append(out)
                if after != "nothing":  # C makes it again and takes its lock
                    out.mkdir()
                    real(others.enter_context(open(out / LOCK_FILE, "a")), fcntl.LOCK_EX)
            return real(file, operation)

        monkeypatch.setattr(
            kgrec.tune,
            "fcntl",
            SimpleNamespace(
                flock=removed_first,
                LOCK_EX=fcntl.LOCK_EX,
                LOCK_NB=fcntl.LOCK_NB,
                LOCK_UN=fcntl.LOCK_UN,
            ),
        )
        if after == "nothing":
            result = small_tune(tiny_recbole, out, trials=1)
            assert len(result.trials) == 1 and (out / BEST_FILE).is_file()
        else:
            with pytest.raises(InputError, match="another kgrec tune is running"):
                small_tune(tiny_recbole, out, trials=1)
            assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # C's, left


@pytest.mark.parametrize("made", ["again as it took the lock", "before the lock"])
def test_a_run_that_gives_up_the_lock_removes_the_folder_it_made(
    tmp_path, tiny_recbole, monkeypatch, made
):
    """Each time the run takes the lock, another run that failed removes what it made: the
    folder (the run makes it again), or the lock file in the folder this run made. Before,
    the run gave up after _LOCK_TRIES and left the (empty) folder it had made."""
    out = tmp_path / "tune"
    if made == "again as it took the lock":
        out.mkdir()
        (out / LOCK_FILE).touch()

        def removed(path, *args, **kwargs):
            if Path(path) == out / LOCK_FILE and out.exists():
                shutil.rmtree(out)
            return open(path, *args, **kwargs)

        monkeypatch.setattr(kgrec.tune, "open", removed, raising=False)
    else:
        real = fcntl.flock

        def removed(file, operation):
            if operation & fcntl.LOCK_EX:
                (out / LOCK_FILE).unlink()
            return real(file, operation)

        monkeypatch.setattr(
            kgrec.tune,
            "fcntl",
            SimpleNamespace(
                flock=removed, LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB, LOCK_UN=fcntl.LOCK_UN
            ),
        )
    with pytest.raises(InputError, match="removed by another kgrec tune"):
        small_tune(tiny_recbole, out, trials=1)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["a folder of that name", "no permission"])
def test_a_lock_file_that_cannot_be_opened_is_a_clear_error(
    tmp_path, tiny_recbole, monkeypatch, capsys, kind
):
    """Before, a bare IsADirectoryError (or PermissionError) and its traceback."""
    out = tmp_path / "tune"
    out.mkdir()
    if kind == "a folder of that name":
        (out / LOCK_FILE).mkdir()
    else:
        (out / LOCK_FILE).touch()

        def refused(path, *args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

        monkeypatch.setattr(kgrec.tune, "open", refused, raising=False)
    assert cli_tune(tiny_recbole, out, "--trials", "1") == 2
    said = capsys.readouterr().err
    assert f"file {out / LOCK_FILE}: cannot open the tune's lock file" in said
    assert "Traceback" not in said
    assert [p.name for p in out.iterdir()] == [LOCK_FILE]


@pytest.mark.parametrize("target", ["nowhere", "a file elsewhere"])
def test_a_lock_file_that_is_a_link_is_refused_not_followed(tmp_path, tiny_recbole, capsys, target):
    """A link at .tune.lock (pointing nowhere, or at a file outside the folder) is refused,
    naming it, and left as it was. Before, the run opened it for appending, which made an empty
    file where a broken link pointed, outside the folder, and locked the file elsewhere."""
    out = tmp_path / "tune"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere.txt"
    if target == "a file elsewhere":
        elsewhere.write_text("mine\n")
    (out / LOCK_FILE).symlink_to(elsewhere)
    assert cli_tune(tiny_recbole, out, "--trials", "1") == 2
    said = capsys.readouterr().err
    assert f"file {out / LOCK_FILE}: {LOCK_FILE} is a link ({elsewhere})" in said
    assert "remove the link" in said
    assert [p.name for p in out.iterdir()] == [LOCK_FILE]
    assert (out / LOCK_FILE).is_symlink()
    if target == "nowhere":
        assert not elsewhere.exists()  # was made, empty
    else:
        assert elsewhere.read_text() == "mine\n"


def test_a_folder_that_cannot_be_read_is_a_clear_error(tmp_path, tiny_recbole, monkeypatch, capsys):
    """Before, a bare PermissionError (faked: the tests run as root) as the folder was read."""
    out = tmp_path / "mine"
    out.mkdir()
    iterdir = Path.iterdir

    def refused(self):
        if self == out:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", refused)
    assert cli_tune(tiny_recbole, out, "--trials", "1") == 2
    said = capsys.readouterr().err
    assert f"file {out}: cannot read the study folder (Permission denied)" in said
    assert "Traceback" not in said
    assert not any(iterdir(out))


@pytest.mark.parametrize("kind", ["cannot be looked into", "under a file"])
def test_a_study_folder_refused_says_what_failed_with_its_path_once(
    tmp_path, tiny_recbole, monkeypatch, capsys, kind
):
    """Before, both read "cannot write the study folder: [Errno ...] ... 'PATH'", the path
    named twice, also when the folder could not be looked into (its lock file's look-up
    refused, faked: the tests run as root), which is reading it."""
    if kind == "cannot be looked into":
        out = tmp_path / "mine"
        out.mkdir()
        stat = Path.stat

        def refused(self, *args, **kwargs):
            if self == out / LOCK_FILE:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return stat(self, *args, **kwargs)

        monkeypatch.setattr(Path, "stat", refused)
        expected = f"file {out}: cannot read the study folder (Permission denied)"
    else:
        (tmp_path / "afile").write_text("mine")
        out = tmp_path / "afile" / "sub"
        expected = f"file {out}: cannot write the study folder (Not a directory)"
    assert cli_tune(tiny_recbole, out, "--trials", "1") == 2
    said = capsys.readouterr().err
    assert expected in said
    assert said.count(str(out)) == 1 and "Traceback" not in said


def test_a_file_a_failed_run_cannot_remove_leaves_its_error_and_a_warning(
    tmp_path, tiny_recbole, monkeypatch, caplog
):
    """A run that fails before its first trial in a folder of the user's removes the lock
    file it made; that removal refused (faked) was raised in place of the error that stopped
    the run. The run's error is raised; a warning names the file left."""
    out = tmp_path / "mine"
    out.mkdir()
    unlink = Path.unlink

    def refused(self, *args, **kwargs):
        if self.name == LOCK_FILE:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", refused)
    with pytest.raises(InputError, match="nope"):
        small_tune(tiny_recbole, out, trials=1, target_domain="nope")
    assert f"{out / LOCK_FILE}: could not be removed (Permission denied)" in caplog.text
    assert [p.name for p in out.iterdir()] == [LOCK_FILE]


def test_what_a_failed_run_cannot_remove_of_the_folder_it_made_is_named(
    tmp_path, tiny_recbole, monkeypatch, caplog
):
    """A run that fails before its first trial removes the folder it made whole; what it
    could not remove (a refusal, faked: the tests run as root) was left silently. A warning
    names each thing left, and the run's own error is raised."""
    out = tmp_path / "tune"
    unlink = os.unlink

    def refused(path, *args, **kwargs):
        if os.path.basename(path) == LOCK_FILE:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refused)
    with pytest.raises(InputError, match="nope"):
        small_tune(tiny_recbole, out, trials=1, target_domain="nope")
    left = [r for r in caplog.records if "could not be removed" in r.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in left] == [
        ("WARNING", f"{out / LOCK_FILE}: could not be removed (Permission denied)"),
        ("WARNING", f"{out}: could not be removed (Directory not empty)"),
    ]
    assert [p.name for p in out.iterdir()] == [LOCK_FILE]


@pytest.mark.parametrize("python", ["3.12 (onexc)", "3.11 (onerror)"])
def test_the_removal_handler_takes_each_pythons_call(tmp_path, caplog, python):
    """shutil.rmtree calls the handler with the exception (onexc, Python >= 3.12) or with
    sys.exc_info() (onerror, before); CI's Python takes only one of the two paths."""
    from kgrec.tune import _refused_removal

    def call(exc: OSError) -> None:
        error = exc if python.startswith("3.12") else (type(exc), exc, None)
        _refused_removal(os.unlink, str(tmp_path / "x"), error)

    call(PermissionError(errno.EACCES, "Permission denied"))
    call(FileNotFoundError(errno.ENOENT, "No such file or directory"))  # gone: nothing left
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path / 'x'}: could not be removed (Permission denied)"
    ]


@pytest.mark.parametrize("kind", ["a folder of that name", "a full disk"])
def test_best_json_that_cannot_be_written_is_a_clear_error(
    tmp_path, tiny_recbole, monkeypatch, capsys, kind
):
    """Before, a bare IsADirectoryError (a folder named best.json) or OSError (a full disk,
    faked as the file is written) and its traceback. The study keeps its trial; nothing is
    left half-written."""
    out = tmp_path / "tune"
    assert cli_tune(tiny_recbole, out, "--trials", "1") == 0
    before = (out / BEST_FILE).read_text()
    if kind == "a folder of that name":
        (out / BEST_FILE).unlink()
        (out / BEST_FILE).mkdir()
    else:
        write_text = Path.write_text

        def full(self, text, *args, **kwargs):
            if self.name.startswith(f".{BEST_FILE}."):
                write_text(self, text[:10], *args, **kwargs)
                raise OSError(errno.ENOSPC, "No space left on device")
            return write_text(self, text, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", full)
    capsys.readouterr()
    assert cli_tune(tiny_recbole, out, "--trials", "1") == 2
    said = capsys.readouterr().err
    assert f"file {out / BEST_FILE}: cannot write best.json" in said
    assert "the same command writes it" in said and "Traceback" not in said
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_FILE, STUDY_FILE, BEST_FILE])
    if kind == "a full disk":
        assert (out / BEST_FILE).read_text() == before
    assert len(load_study(out).trials) == 1


def test_a_study_folder_keeps_its_study_when_a_run_fails_before_its_first_trial(
    tmp_path, tiny_recbole
):
    """Only what the run made goes: a study that was there stays (its lock file, deleted,
    is not left made again)."""
    _our_study(tmp_path / "tune")
    with pytest.raises(InputError, match="nope"):
        small_tune(tiny_recbole, tmp_path / "tune", trials=1, target_domain="nope")
    assert sorted(p.name for p in (tmp_path / "tune").iterdir()) == [STUDY_FILE]


def test_an_option_given_a_value_is_not_searched_by_the_default_space(
    tmp_path, tiny_recbole, capsys
) -> None:
    """Without --search, the model's default space; an option of it given a value (--lr) was
    refused as 'both searched and fixed' though the user searched nothing: it is fixed, and
    the rest of the space searched."""
    out = tmp_path / "tune"
    assert cli_tune(tiny_recbole, out, "--lr", "0.01", "--trials", "1") == 0, (
        capsys.readouterr().err
    )
    best = json.loads((out / "best.json").read_text())
    assert best["settings"]["lr"] == 0.01
    assert "--lr 0.01" in best["command"]


def test_an_interrupt_between_or_during_trials_is_not_counted_as_a_failure(
    tmp_path, tiny_recbole, monkeypatch, caplog
) -> None:
    """Ctrl-C (a fake KeyboardInterrupt) while a trial trains, and while the next one draws
    its settings. Before, the second was recorded as a plain failure: counted in the budget,
    shown as "fail" on resume, and the settings of the trial the first interrupt stopped
    (queued to run again) were lost."""
    out = tmp_path / "tune"
    interrupt = {"fit": 2, "suggest": 0}  # stop the 2nd fit; then the 1st draw of a run
    calls = {"fit": 0, "suggest": 0}

    def counting(name, real):
        def call(*args, **kwargs):
            calls[name] += 1
            if calls[name] == interrupt[name]:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr("kgrec.tune.fit", counting("fit", fit))
    monkeypatch.setattr(LogUniform, "suggest", counting("suggest", LogUniform.suggest))
    with pytest.raises(KeyboardInterrupt):
        small_tune(tiny_recbole, out, trials=3)
    stopped = load_study(out).trials[1]
    assert stopped.user_attrs["interrupted"] == "interrupted"
    # what the stop keeps, and how to go on (before: `kgrec tune: interrupted` alone; found by
    # the tune46 review)
    assert f"stopped: {out} keeps its study; the same kgrec tune command continues it" in (
        caplog.text
    )
    interrupt["suggest"] = calls["suggest"] + 1  # the next run's first trial: the stopped one's
    with pytest.raises(KeyboardInterrupt):
        small_tune(tiny_recbole, out, trials=3)
    trials = load_study(out).trials
    assert trials[2].state == TrialState.FAIL
    assert trials[2].user_attrs["interrupted"] == "interrupted"
    result = small_tune(tiny_recbole, out, trials=3)
    states = [t.state for t in result.trials]
    assert (
        states
        == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL] + [TrialState.COMPLETE] * 2
    )  # the budget of 3 is complete trials: no interrupt counts
    assert result.trials[3].params == stopped.params  # the stopped trial's settings, again
    assert result.table().count("fail (interrupted)") == 2


def test_an_interrupt_inside_optunas_ask_or_tell_is_reported_as_interrupted(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    """Ctrl-C (a fake KeyboardInterrupt) inside Optuna's own bookkeeping: as it records a
    trial that trained (study.tell), then as it takes the queued trial to run again
    (study.ask). Before, each left its trial RUNNING: the next run reported it "killed", and
    the one taken from the queue had drawn no settings, so the settings queued to run again
    (the first interrupted trial's) were lost."""
    out = tmp_path / "tune"
    tell = optuna.study._optimize._tell_with_warning
    pop = optuna.Study._pop_waiting_trial_id
    calls = {"tell": 0, "pop": 0}
    interrupt = {"tell": 2, "pop": 0}  # as the 2nd trial is recorded; then as one is taken

    def telling(*args, **kwargs):
        calls["tell"] += 1
        if calls["tell"] == interrupt["tell"]:
            raise KeyboardInterrupt
        return tell(*args, **kwargs)

    def popping(study):
        trial_id = pop(study)
        calls["pop"] += 1
        if trial_id is not None and calls["pop"] == interrupt["pop"]:
            raise KeyboardInterrupt  # the queued trial is RUNNING, nothing drawn yet
        return trial_id

    monkeypatch.setattr(optuna.study._optimize, "_tell_with_warning", telling)
    monkeypatch.setattr(optuna.Study, "_pop_waiting_trial_id", popping)
    with pytest.raises(KeyboardInterrupt):
        small_tune(tiny_recbole, out, trials=3)
    stopped = load_study(out).trials[1]
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs["interrupted"] == "interrupted"
    interrupt["pop"] = calls["pop"] + 1  # the next run's first: the stopped trial's settings
    with pytest.raises(KeyboardInterrupt):
        small_tune(tiny_recbole, out, trials=3)
    taken = load_study(out).trials[2]
    assert taken.state == TrialState.FAIL
    assert taken.user_attrs["interrupted"] == "interrupted"
    result = small_tune(tiny_recbole, out, trials=3)
    assert [t.state for t in result.trials][3:] == [TrialState.COMPLETE] * 2
    assert result.trials[3].params == stopped.params  # the stopped trial's settings, again
    assert result.table().count("fail (interrupted)") == 2
    assert "killed" not in result.table()


def test_an_error_while_an_interrupt_is_handled_is_reported_not_hidden(
    tmp_path, tiny_recbole, monkeypatch, capsys
) -> None:
    """Ctrl-C (a fake KeyboardInterrupt) while a trial trains, then the study's database
    refuses to queue its settings again (locked, or a full disk). Before session 27 any error
    raised while a Ctrl-C was handled read as the Ctrl-C (exit 130, the error hidden); then it
    reached the CLI as the database's own traceback (exit 1), which named neither the study's
    file nor the settings that, left failed (interrupted) but never queued, a later run would
    not run again. Now it is a kgrec error (exit 2) naming both, chained to the Ctrl-C."""
    from sqlalchemy.exc import OperationalError

    enqueue = optuna.Study.enqueue_trial

    def fit_interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    def enqueueing(study, *args, **kwargs):
        if isinstance(sys.exc_info()[1], KeyboardInterrupt):  # queued as the Ctrl-C is handled
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        return enqueue(study, *args, **kwargs)

    monkeypatch.setattr("kgrec.tune.fit", fit_interrupted)
    monkeypatch.setattr(optuna.Study, "enqueue_trial", enqueueing)
    out = tmp_path / "tune"
    with pytest.raises(StoreError, match="database is locked") as raised:
        small_tune(tiny_recbole, out, trials=3)
    said = str(raised.value)
    assert str(out / STUDY_FILE) in said
    assert "trial 0's settings" in said and "will not run them again" in said
    trial = load_study(out).trials[0]
    assert trial.user_attrs["interrupted"] == "interrupted"  # failed, not counted, not queued
    assert f"lr={trial.params['lr']!r}" in said and "reg_weight=" in said
    assert isinstance(raised.value.__cause__, OperationalError)
    assert isinstance(raised.value.__cause__.__context__, KeyboardInterrupt)  # the Ctrl-C
    capsys.readouterr()
    assert cli_tune(tiny_recbole, tmp_path / "cli") == 2
    err = capsys.readouterr().err
    assert "kgrec tune: error: file " in err and str(tmp_path / "cli" / STUDY_FILE) in err
    assert "database is locked" in err and "lr=" in err
    assert "Traceback" not in err and "kgrec tune: interrupted" not in err


def test_a_killed_trial_the_database_will_not_queue_again_is_named(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    """A trial left running by a kill, whose settings the study's database refuses to queue
    again as the next run starts (locked, a full disk): a kgrec error naming the study's file
    and the settings. Before, the database's traceback (exit 1) named neither."""
    from sqlalchemy.exc import OperationalError

    out = tmp_path / "tune"
    small_tune(tiny_recbole, out, trials=1)
    study = load_study(out)
    trial = study.ask()  # what a kill leaves: a trial RUNNING in the storage, settings drawn
    lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    trial.suggest_categorical("reg_weight", [0.0, 1e-3])

    def enqueueing(study, *args, **kwargs):
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(optuna.Study, "enqueue_trial", enqueueing)
    with pytest.raises(StoreError, match="disk I/O error") as raised:
        small_tune(tiny_recbole, out, trials=3)
    said = str(raised.value)
    assert str(out / STUDY_FILE) in said and "trial 1's settings" in said
    assert f"lr={lr!r}" in said and "will not run them again" in said


def test_an_interrupt_as_optuna_makes_a_trial_queues_nothing_to_run_again(
    tmp_path, tiny_recbole, monkeypatch, capsys
) -> None:
    """Ctrl-C (a fake KeyboardInterrupt) inside Optuna's ask as it made a new trial (none
    queued), before the trial drew any settings: it is marked failed (interrupted), and as
    it has no settings there is nothing to run again. Before, an empty entry ({}) was queued
    and the tune printed "marked failed, run again" of a trial that never ran."""
    out = tmp_path / "tune"
    ask = optuna.Study.ask
    calls = {"ask": 0}

    def asking(study, *args, **kwargs):
        trial = ask(study, *args, **kwargs)
        calls["ask"] += 1
        if calls["ask"] == 3:  # trial 2: made by Optuna, nothing queued nor drawn
            raise KeyboardInterrupt
        return trial

    monkeypatch.setattr(optuna.Study, "ask", asking)
    with pytest.raises(KeyboardInterrupt):
        small_tune(tiny_recbole, out, trials=3, progress=True)
    said = capsys.readouterr().out
    assert "trial 2 was interrupted while running: marked failed (it had drawn no settings)" in (
        said
    )
    assert "run again" not in said
    trials = load_study(out).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL]
    assert trials[2].user_attrs["interrupted"] == "interrupted"  # and no entry in the queue
    monkeypatch.setattr(optuna.Study, "ask", ask)
    result = small_tune(tiny_recbole, out, trials=3)
    assert [t.state for t in result.trials][3:] == [TrialState.COMPLETE]
    assert result.table().count("fail (interrupted)") == 1


def test_a_refused_flag_of_a_trial_with_no_settings_says_there_is_nothing_to_run_again(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    """Ctrl-C (a fake KeyboardInterrupt) inside Optuna's ask as it made trial 2 (nothing
    queued nor drawn), then the study's database refuses (locked) to flag it interrupted: it
    is left running, for the next run to mark failed, with nothing to run again. Before, the
    error said its settings "were not queued to run again, and a later run may not run them
    by itself; they were (none)"."""
    ask = optuna.Study.ask
    calls = {"ask": 0}

    def asking(study, *args, **kwargs):
        trial = ask(study, *args, **kwargs)
        calls["ask"] += 1
        if calls["ask"] == 3:
            raise KeyboardInterrupt
        return trial

    monkeypatch.setattr(optuna.Study, "ask", asking)

    def flagging(*args, **kwargs) -> bool:  # the write of its interrupted flag
        return "interrupted" in (*args, *kwargs.values())

    storage = optuna.storages.RDBStorage
    monkeypatch.setattr(
        storage, "set_trial_user_attr", _refuse(storage, "set_trial_user_attr", flagging)
    )
    out = tmp_path / "tune"
    with pytest.raises(StoreError) as raised:
        small_tune(tiny_recbole, out, trials=3)
    said = str(raised.value)
    assert said.startswith(f"file {out / STUDY_FILE}: ") and "database is locked" in said
    assert "could not record trial 2 as stopped" in said
    assert "it is left running in the study; the next run marks it failed (not counted)" in said
    assert "it had no settings to run again" in said
    assert "(none)" not in said and "may not" not in said
    assert load_study(out).trials[2].state == TrialState.RUNNING


def test_an_interrupt_as_optuna_records_a_trial_queued_with_part_of_its_settings(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    """Ctrl-C (a fake KeyboardInterrupt) inside Optuna's tell as it records a trial that was
    queued with part of its settings (a trial killed as it drew them queues those it drew)
    and drew the rest: all it trained with run again. Before, only the queued part was
    queued, and the trial run again drew other values for the rest."""
    out = tmp_path / "tune"
    small_tune(tiny_recbole, out, trials=2)
    load_study(out).enqueue_trial({"lr": 0.005})  # reg_weight to draw
    tell = optuna.study._optimize._tell_with_warning
    calls = {"tell": 0}

    def telling(*args, **kwargs):
        calls["tell"] += 1
        if calls["tell"] == 1:
            raise KeyboardInterrupt
        return tell(*args, **kwargs)

    monkeypatch.setattr(optuna.study._optimize, "_tell_with_warning", telling)
    with pytest.raises(KeyboardInterrupt):
        small_tune(tiny_recbole, out, trials=3)
    stopped = load_study(out).trials[2]
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs["interrupted"] == "interrupted"
    assert set(stopped.params) == {"lr", "reg_weight"}
    (queued,) = load_study(out).get_trials(states=(TrialState.WAITING,))
    assert queued.system_attrs["fixed_params"] == stopped.params
    monkeypatch.setattr(optuna.study._optimize, "_tell_with_warning", tell)
    result = small_tune(tiny_recbole, out, trials=3)
    assert result.trials[3].state == TrialState.COMPLETE
    assert result.trials[3].params == stopped.params  # all its settings, again


def test_an_interrupt_as_a_trained_trial_records_its_result_is_not_a_failure(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    """Ctrl-C (a fake KeyboardInterrupt) after a trial trained, as it wrote its epochs and
    best epoch to the study. Before, the trial was recorded as a plain failure: counted in
    the budget, shown as "fail" with no reason, and its settings never run again."""
    out = tmp_path / "tune"
    set_user_attr = optuna.Trial.set_user_attr
    calls = {"best_epoch": 0}

    def setting(trial, key, value):
        if key == "best_epoch":
            calls[key] += 1
            if calls[key] == 2:
                raise KeyboardInterrupt
        set_user_attr(trial, key, value)

    monkeypatch.setattr(optuna.Trial, "set_user_attr", setting)
    with pytest.raises(KeyboardInterrupt):
        small_tune(tiny_recbole, out, trials=3)
    stopped = load_study(out).trials[1]
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs["interrupted"] == "interrupted"
    result = small_tune(tiny_recbole, out, trials=3)
    assert [t.state for t in result.trials][2:] == [TrialState.COMPLETE] * 2
    assert result.trials[2].params == stopped.params  # its settings, run again first
    assert result.table().count("fail (interrupted)") == 1


def test_a_trial_whose_loss_overflows_names_the_options_that_scale_it(tmp_path, tiny_recbole):
    """A trial stopped by an infinite loss records kgrec train's reason: lower --lr, or bring
    the loss scales away from their defaults (here the searched reg_weight) nearer them, and
    the epoch it ran. Before, the reason was "field '--lr': training loss is inf at epoch 1"
    (naming --lr as the cause, the hint cut off) and its epochs 0."""
    result = tune(
        "lightgcn",
        protocol=PROTOCOL,
        data=tiny_recbole,
        out=tmp_path / "tune",
        space={"reg_weight": Choice([1e38])},
        trials=1,
        **SMALL,
    )
    (trial,) = result.trials
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["error"] == (
        "training loss is inf at epoch 1; lower --lr, or bring --reg-weight 1e+38 (default 0) "
        "nearer the default"
    )
    assert trial.user_attrs["epochs"] == 1
    assert "--reg-weight 1e+38 (default 0)" in result.table()


def _database_locked(*args, **kwargs):
    from sqlalchemy.exc import OperationalError

    raise OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))


def _assert_names_the_study_and_settings(said: str, out: Path, trial, *, queued: bool) -> None:
    assert str(out / STUDY_FILE) in said and "database is locked" in said
    assert f"trial {trial.number}" in said
    assert f"lr={trial.params['lr']!r}" in said and "reg_weight=" in said
    assert ("queued to run again first" in said) == queued


@pytest.mark.parametrize("refused", ["flag", "epochs", "optuna's tell"])
def test_every_write_as_a_stopped_trial_is_recorded_is_a_kgrec_error(
    tmp_path, tiny_recbole, monkeypatch, capsys, refused
) -> None:
    """Ctrl-C (a fake KeyboardInterrupt) while a trial trains, then the study's database
    refuses (locked, a full disk) a write of its recording: its ``interrupted`` flag, its
    epochs, or Optuna's marking it failed. Each is a kgrec error (exit 2) naming the study's
    file, the trial and its settings, and whether they are queued to run again. Before, only
    the queuing was guarded: the others reached the CLI as the database's traceback (exit 1),
    and a refused flag left the settings neither queued nor named."""

    def fit_interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    set_user_attr = optuna.Trial.set_user_attr

    def setting(trial, key, value):
        if key == {"flag": "interrupted", "epochs": "epochs"}.get(refused):
            _database_locked()
        set_user_attr(trial, key, value)

    monkeypatch.setattr("kgrec.tune.fit", fit_interrupted)
    monkeypatch.setattr(optuna.Trial, "set_user_attr", setting)
    if refused == "optuna's tell":
        monkeypatch.setattr(optuna.study._optimize, "_tell_with_warning", _database_locked)
    out = tmp_path / "tune"
    with pytest.raises(StoreError) as raised:
        small_tune(tiny_recbole, out, trials=3)
    trial = load_study(out).trials[0]
    _assert_names_the_study_and_settings(str(raised.value), out, trial, queued=refused != "flag")
    if refused != "flag":  # recorded as stopped: its settings are in the queue
        (queued,) = load_study(out).get_trials(states=(TrialState.WAITING,))
        assert queued.system_attrs["fixed_params"] == trial.params
    capsys.readouterr()
    assert cli_tune(tiny_recbole, tmp_path / "cli") == 2
    err = capsys.readouterr().err
    assert "kgrec tune: error: file " in err and str(tmp_path / "cli" / STUDY_FILE) in err
    assert "database is locked" in err and "lr=" in err and "Traceback" not in err


@pytest.mark.parametrize("stopped", ["ctrl-c", "refused write"])
def test_a_refused_flag_then_a_refused_tell_says_the_trial_runs_again(
    tmp_path, tiny_recbole, monkeypatch, stopped
) -> None:
    """A trial stopped as it trains (a fake Ctrl-C in fit, or the database refusing to write
    its best epoch), then the study's database refuses (locked) to flag it stopped, then
    Optuna's marking it failed (its tell): it is left running, and the next run marks it
    failed and runs its settings again. Before, the error said its settings "were not queued
    to run again, and a later run may not run them by itself"."""

    def fit_interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    set_user_attr = optuna.Trial.set_user_attr

    def setting(trial, key, value):
        if key == "interrupted" or (stopped == "refused write" and key == "best_epoch"):
            _database_locked()
        set_user_attr(trial, key, value)

    if stopped == "ctrl-c":
        monkeypatch.setattr("kgrec.tune.fit", fit_interrupted)
    monkeypatch.setattr(optuna.Trial, "set_user_attr", setting)
    monkeypatch.setattr(optuna.study._optimize, "_tell_with_warning", _database_locked)
    out = tmp_path / "tune"
    with pytest.raises(StoreError) as raised:
        small_tune(tiny_recbole, out, trials=1)
    said = str(raised.value)
    trial = load_study(out).trials[0]
    assert trial.state == TrialState.RUNNING and "interrupted" not in trial.user_attrs
    assert said.startswith(f"file {out / STUDY_FILE}: ") and "database is locked" in said
    assert "could not record trial 0 as stopped" in said and "may not" not in said
    assert (
        "it is left running in the study; the next run marks it failed (not counted) and "
        "runs its settings again first" in said
    )
    assert f"lr={trial.params['lr']!r}" in said
    if stopped == "refused write":  # the write that stopped it is named first
        assert said.index("could not write trial 0's best epoch") < said.index("as stopped")
    monkeypatch.undo()
    result = small_tune(tiny_recbole, out, trials=1)
    assert result.trials[0].user_attrs["interrupted"] == "killed"
    assert result.trials[1].params == trial.params


def test_a_real_lock_on_a_stopped_trials_flag_is_named_as_what_was_refused(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    """Ctrl-C (a fake KeyboardInterrupt) while trial 1 trains; another process holds the study's
    database (a real sqlite3 BEGIN IMMEDIATE) while the trial is flagged interrupted, and lets
    go before Optuna marks it failed. Optuna reports a real refusal as its StorageInternalError
    (raised from SQLAlchemy's error), which the recording did not catch: the error said that
    Optuna could not record the trial's end and that it was left running, to run again, when
    it was marked failed and counted, its settings not queued. Now the refused flag is named,
    and that the settings were not queued."""
    out = tmp_path / "tune"
    calls = {"fit": 0}

    def fit_interrupted(*args, **kwargs):
        calls["fit"] += 1
        if calls["fit"] == 2:
            raise KeyboardInterrupt
        return fit(*args, **kwargs)

    set_user_attr = optuna.Trial.set_user_attr

    def setting(trial, key, value):
        if key != "interrupted":
            return set_user_attr(trial, key, value)
        with closing(sqlite3.connect(out / STUDY_FILE, isolation_level=None)) as holder:
            holder.execute("BEGIN IMMEDIATE")
            return set_user_attr(trial, key, value)

    monkeypatch.setattr("kgrec.tune.fit", fit_interrupted)
    monkeypatch.setattr(optuna.Trial, "set_user_attr", setting)
    with pytest.raises(StoreError) as raised:
        small_tune(tiny_recbole, out, trials=3)
    said = str(raised.value)
    trial = load_study(out).trials[1]
    assert trial.state == TrialState.FAIL and "interrupted" not in trial.user_attrs
    assert not load_study(out).get_trials(states=(TrialState.WAITING,))
    assert said.startswith(f"file {out / STUDY_FILE}: ")
    assert "could not record trial 1 as stopped" in said and "database is locked" in said
    assert "its settings were not queued to run again" in said
    assert f"lr={trial.params['lr']!r}" in said
    assert "left running" not in said and "trial 1's end" not in said


@pytest.mark.parametrize("refused", ["flag", "tell"])
def test_a_write_as_a_trial_stopped_inside_optuna_is_recorded_is_a_kgrec_error(
    tmp_path, tiny_recbole, monkeypatch, refused
) -> None:
    """Ctrl-C (a fake KeyboardInterrupt) inside Optuna's tell as it records a trial that
    trained, then the study's database refuses (locked) to flag that trial interrupted or to
    mark it failed: a kgrec error naming the study's file, the trial and its settings. Before,
    the database's traceback (exit 1); and before session 31 a refused flag said "a later run
    may not run them by itself", though the trial, left running, is run again by the next."""
    tell = optuna.study._optimize._tell_with_warning
    set_trial_user_attr = optuna.storages.RDBStorage.set_trial_user_attr

    def telling(*args, **kwargs):
        raise KeyboardInterrupt

    def setting(storage, trial_id, key, value):
        if key == "interrupted" and refused == "flag":
            _database_locked()
        set_trial_user_attr(storage, trial_id, key, value)

    monkeypatch.setattr(optuna.study._optimize, "_tell_with_warning", telling)
    monkeypatch.setattr(optuna.storages.RDBStorage, "set_trial_user_attr", setting)
    if refused == "tell":
        monkeypatch.setattr(optuna.Study, "tell", _database_locked)
    out = tmp_path / "tune"
    with pytest.raises(StoreError) as raised:
        small_tune(tiny_recbole, out, trials=3)
    trial = load_study(out).trials[0]
    assert trial.state == TrialState.RUNNING  # the next run marks it failed
    said = str(raised.value)
    _assert_names_the_study_and_settings(said, out, trial, queued=refused == "tell")
    if refused == "flag":
        assert "could not record trial 0 as stopped" in said and "may not" not in said
        assert (
            "it is left running in the study; the next run marks it failed (not counted) and "
            "runs its settings again first" in said
        )
    monkeypatch.setattr(optuna.study._optimize, "_tell_with_warning", tell)
    monkeypatch.undo()
    result = small_tune(tiny_recbole, out, trials=2)
    assert result.trials[0].state == TrialState.FAIL
    assert result.trials[1].params == trial.params  # its settings, run again (queued, or killed)


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize("first", ["training", "optuna's tell"])
def test_a_second_ctrl_c_as_the_first_is_handled_loses_no_settings(
    tmp_path, tiny_recbole, monkeypatch, first, second
) -> None:
    """A first Ctrl-C (a fake KeyboardInterrupt) while a trial trains, or inside Optuna's tell
    as it records one that trained; a second (a real SIGINT) right after the trial is flagged
    interrupted, before its settings are queued. Before, the second cut the queuing short:
    the trial was left flagged (so never queued later) and its settings were neither queued
    nor named. Now the second waits until the settings are queued. The same for a SIGTERM
    as the second, which the `kgrec` command raises as a Ctrl-C (a handler the test installs
    as the command does; before, it was not held back)."""
    from kgrec.cli import _TermAsCtrlC

    stopped = {"fit": 0}

    def fit_once(*args, **kwargs):
        stopped["fit"] += 1
        if first == "training" and stopped["fit"] == 2:
            raise KeyboardInterrupt
        return fit(*args, **kwargs)

    tell = optuna.study._optimize._tell_with_warning

    def telling(*args, **kwargs):
        if first == "optuna's tell" and stopped["fit"] == 2:
            raise KeyboardInterrupt
        return tell(*args, **kwargs)

    set_trial_user_attr = optuna.storages.RDBStorage.set_trial_user_attr

    def setting(storage, trial_id, key, value):
        set_trial_user_attr(storage, trial_id, key, value)
        if key == "interrupted":
            os.kill(os.getpid(), second)  # the second Ctrl-C

    monkeypatch.setattr("kgrec.tune.fit", fit_once)
    monkeypatch.setattr(optuna.study._optimize, "_tell_with_warning", telling)
    monkeypatch.setattr(optuna.storages.RDBStorage, "set_trial_user_attr", setting)
    out = tmp_path / "tune"
    with pytest.raises(KeyboardInterrupt), _TermAsCtrlC() as term:
        small_tune(tiny_recbole, out, trials=3)
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # as it was
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert term.received == (second == signal.SIGTERM)
    trial = load_study(out).trials[1]
    assert trial.user_attrs["interrupted"] == "interrupted"
    (queued,) = load_study(out).get_trials(states=(TrialState.WAITING,))
    assert queued.system_attrs["fixed_params"] == trial.params
    result = small_tune(tiny_recbole, out, trials=2)
    assert result.trials[2].params == trial.params  # run again first


@pytest.mark.parametrize("also_ctrl_c", [False, True], ids=["TERM", "TERM+INT"])
def test_a_programs_own_sigterm_handler_held_back_runs_and_is_no_ctrl_c(also_ctrl_c) -> None:
    """A Python program with a SIGTERM handler of its own (one that sets a flag, say) calling
    tune(): a SIGTERM as a stopped trial is recorded (_ctrl_c_held; also as tune starts, the
    trials a kill left) is held back, then handed to that handler, which decides. Before, a
    KeyboardInterrupt was raised after it, whatever the handler did, though the README says
    such a program keeps the handler it set. A Ctrl-C held back too is still raised."""
    from kgrec.tune import _ctrl_c_held

    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        with ExitStack() as stack:
            if also_ctrl_c:
                stack.enter_context(pytest.raises(KeyboardInterrupt))
            with _ctrl_c_held():
                os.kill(os.getpid(), signal.SIGTERM)
                if also_ctrl_c:
                    os.kill(os.getpid(), signal.SIGINT)
                assert received == []  # held back
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_sigint_the_process_ignores_is_no_ctrl_c_while_held() -> None:
    """`nohup kgrec tune ... &` (a shell's background job, SIGINT ignored): a SIGINT as a
    stopped trial is recorded (_ctrl_c_held) is ignored, as everywhere else in the process.
    Before, the block put its own handler on SIGINT and raised the signal as a Ctrl-C after
    it, stopping the tune."""
    from kgrec.tune import _ctrl_c_held

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


CLI_SPACE = ("--search", "lr=loguniform:1e-3:1e-1", "--search", "reg_weight=choice:0,1e-3")


def _refuse(target, method: str, when):
    """``target.method`` refusing (the database locked) where ``when(*args)`` holds."""
    original = getattr(target, method)

    def refusing(*args, **kwargs):
        if when(*args, **kwargs):
            _database_locked()
        return original(*args, **kwargs)

    return refusing


def _nth(n: int):
    """True on the n-th call (from 1) only."""
    calls = {"n": 0}

    def when(*args, **kwargs):
        calls["n"] += 1
        return calls["n"] == n

    return when


@pytest.mark.parametrize(
    "refused",
    ["world_size", "device", "threads", "best_epoch", "report", "error", "suggest"],
)
def test_a_refused_write_of_a_running_trial_is_a_kgrec_error_and_it_runs_again(
    tmp_path, tiny_recbole, monkeypatch, capsys, refused
) -> None:
    """The study's database refuses (locked, a full disk) a write of a running trial: one of
    its user attributes as it starts or ends, its validation figure after an epoch (pruning),
    the settings it draws. A kgrec error (exit 2) naming the study's file, what was written,
    the trial and its settings, which are queued to run again first: the trial is recorded as
    stopped (``database error``, not counted), not as a failure of its settings. Before, the
    database's traceback (exit 1), the trial counted as failed and its settings lost."""
    if refused == "report":
        monkeypatch.setattr(optuna.Trial, "report", _refuse(optuna.Trial, "report", _nth(4)))
    elif refused == "suggest":  # the second setting of trial 1, as it is drawn
        monkeypatch.setattr(
            optuna.Trial,
            "suggest_categorical",
            _refuse(optuna.Trial, "suggest_categorical", _nth(2)),
        )
    else:
        if refused == "error":  # trial 1 fails (its settings): its reason is refused
            calls = {"fit": 0}

            def fit_fails_once(*args, **kwargs):
                calls["fit"] += 1
                if calls["fit"] == 2:
                    raise InputError("no good")
                return fit(*args, **kwargs)

            monkeypatch.setattr("kgrec.tune.fit", fit_fails_once)
        count = _nth(1 if refused == "error" else 2)
        monkeypatch.setattr(
            optuna.Trial,
            "set_user_attr",
            _refuse(optuna.Trial, "set_user_attr", lambda t, k, v: k == refused and count()),
        )
    out = tmp_path / "tune"
    with pytest.raises(StoreError) as raised:
        small_tune(tiny_recbole, out, trials=3)
    said = str(raised.value)
    trial = load_study(out).trials[1]
    assert str(out / STUDY_FILE) in said and "database is locked" in said
    assert {
        "world_size": "write trial 1's world size, device and threads",
        "device": "write trial 1's world size, device and threads",
        "threads": "write trial 1's world size, device and threads",
        "best_epoch": "write trial 1's best epoch",
        "report": "write trial 1's validation ndcg@20 at epoch 1",
        "error": "write why trial 1 failed",
        "suggest": "write trial 1's settings as it draws them",
    }[refused] in said
    assert "queued to run again first" in said
    assert trial.state == TrialState.FAIL and trial.user_attrs["interrupted"] == "database error"
    if refused != "suggest":
        assert f"lr={trial.params['lr']!r}" in said and "reg_weight=" in said
        (queued,) = load_study(out).get_trials(states=(TrialState.WAITING,))
        assert queued.system_attrs["fixed_params"] == trial.params
    monkeypatch.undo()
    result = small_tune(tiny_recbole, out, trials=3)
    assert [t.state for t in result.trials][2:] == [TrialState.COMPLETE] * 2
    if refused != "suggest":
        assert result.trials[2].params == trial.params  # run again first
    assert "fail (database error)" in result.table()
    if refused == "device":
        capsys.readouterr()
        monkeypatch.setattr(
            optuna.Trial,
            "set_user_attr",
            _refuse(optuna.Trial, "set_user_attr", lambda t, k, v: k == "device"),
        )
        assert cli_tune(tiny_recbole, tmp_path / "cli") == 2
        err = capsys.readouterr().err
        assert "kgrec tune: error: file " in err and str(tmp_path / "cli" / STUDY_FILE) in err
        assert "database is locked" in err and "Traceback" not in err


@pytest.mark.parametrize("refused", ["tell", "held"])
def test_a_refused_record_of_a_trained_trial_is_a_kgrec_error_and_it_runs_again(
    tmp_path, tiny_recbole, monkeypatch, capsys, refused
) -> None:
    """Optuna's tell (recording a trial's end) refused by the study's database after the trial
    trained: a kgrec error naming the study's file, the trial and its settings, which run again
    first. The trial is recorded as stopped (``database error``, not counted), its settings
    queued, as when one of its own writes is refused; when the database refuses that record
    too (another process holds it: a real sqlite3 BEGIN IMMEDIATE from trial 1's tell on), the
    trial is left running, for the next run to mark failed and run again, and the error says
    to run again when that process is done. Before, it was always left running, and the next
    run labelled it ``fail (killed)``. Before session 31 the error of that second refusal
    named only the flag, not the end of the trial (its result) that was lost first."""
    tell = optuna.study._optimize._tell_with_warning
    out = tmp_path / "tune"
    holders = []

    def telling(*args, study, trial, **kwargs):
        if trial.number == 1 and refused == "tell":
            _database_locked()
        if trial.number == 1:  # another process holds the database until the run ends
            holders.append(sqlite3.connect(out / STUDY_FILE, isolation_level=None))
            holders[0].execute("BEGIN IMMEDIATE")
        return tell(*args, study=study, trial=trial, **kwargs)

    monkeypatch.setattr(optuna.study._optimize, "_tell_with_warning", telling)
    try:
        with pytest.raises(StoreError) as raised:
            small_tune(tiny_recbole, out, trials=3)
    finally:
        for holder in holders:
            holder.close()
    said = str(raised.value)
    trial = load_study(out).trials[1]
    assert trial.state == TrialState.RUNNING
    assert str(out / STUDY_FILE) in said and "database is locked" in said
    assert f"lr={trial.params['lr']!r}" in said and "reg_weight=" in said
    if refused == "tell":
        assert trial.user_attrs.get("interrupted") == "database error"
        assert "could not record trial 1's end (Optuna's tell)" in said
        assert "trial 1 is recorded as stopped (database error, not counted)" in said
        assert "queued to run again first" in said
        (queued,) = load_study(out).get_trials(states=(TrialState.WAITING,))
        assert queued.system_attrs["fixed_params"] == trial.params
    else:  # nothing recorded: left running
        assert "interrupted" not in trial.user_attrs
        assert "another process holds it" in said and "when that process is done" in said
        # the trained trial's result lost is named first (before session 31, only its flag)
        assert said.index("could not record trial 1's end (Optuna's tell)") < said.index(
            "could not record trial 1 as stopped"
        )
        assert "left running in the study; the next run marks it failed" in said
        assert "runs its settings again first" in said
        assert not load_study(out).get_trials(states=(TrialState.WAITING,))
    monkeypatch.undo()
    result = small_tune(tiny_recbole, out, trials=3)
    assert result.trials[1].state == TrialState.FAIL
    assert result.trials[2].params == trial.params  # run again first
    assert [t.state for t in result.trials][2:] == [TrialState.COMPLETE] * 2
    if refused == "tell":
        assert "fail (database error)" in result.table() and "killed" not in result.table()
    capsys.readouterr()
    monkeypatch.setattr(
        optuna.study._optimize,
        "_tell_with_warning",
        _refuse(optuna.study._optimize, "_tell_with_warning", lambda *a, **k: True),
    )
    assert cli_tune(tiny_recbole, tmp_path / "cli") == 2
    err = capsys.readouterr().err
    assert "kgrec tune: error: file " in err and "trial 0's end" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "refused", ["study settings", "digest", "default trial", "left running", "ask"]
)
def test_a_refused_read_or_write_outside_a_trial_is_a_kgrec_error(
    tmp_path, tiny_recbole, monkeypatch, capsys, refused
) -> None:
    """The study's database refuses (locked) a read or write outside a trial: as the tune
    records the study's settings, the data's digest or train()'s defaults as the first trial,
    reads the trials left running, as Optuna makes a new trial, or reads the trials at the end:
    a kgrec error (exit 2) naming the study's file and what was read or written. Before, the
    database's traceback (exit 1)."""
    out = tmp_path / "tune"
    if refused in ("digest", "left running"):
        small_tune(tiny_recbole, out, trials=1)
        if refused == "digest":  # a study of an older kgrec, which recorded none
            study = load_study(out)
            study._storage.set_study_user_attr(study._study_id, "experiment", None)
    says = {
        "study settings": "the study's model, search space and fixed settings",
        "digest": "the digest of the data",
        "default trial": "queue train()'s defaults as the first trial",
        "left running": "the trials left running",
        "ask": "begin a new trial",
    }[refused]
    if refused in ("study settings", "digest"):
        key = "model" if refused == "study settings" else "experiment"
        monkeypatch.setattr(
            optuna.Study,
            "set_user_attr",
            _refuse(optuna.Study, "set_user_attr", lambda s, k, v: k == key),
        )
    elif refused == "default trial":
        monkeypatch.setattr(
            optuna.Study, "enqueue_trial", _refuse(optuna.Study, "enqueue_trial", _nth(1))
        )
    elif refused == "left running":
        monkeypatch.setattr(
            optuna.Study,
            "get_trials",
            _refuse(
                optuna.Study,
                "get_trials",
                lambda s, deepcopy=True, states=None: states == (TrialState.RUNNING,),
            ),
        )
    else:
        monkeypatch.setattr(optuna.Study, "ask", _refuse(optuna.Study, "ask", _nth(2)))
    with pytest.raises(StoreError) as raised:
        small_tune(tiny_recbole, out, trials=3)
    said = str(raised.value)
    assert said.startswith(f"file {out / STUDY_FILE}: ")
    assert says in said and "database is locked" in said and "no trial was training" in said
    if refused in ("study settings", "default trial", "ask"):  # on a new folder
        if refused != "study settings":  # every time now
            method = "ask" if refused == "ask" else "enqueue_trial"
            monkeypatch.setattr(optuna.Study, method, _database_locked)
        capsys.readouterr()
        assert cli_tune(tiny_recbole, tmp_path / "cli", "--trials", "3", *CLI_SPACE) == 2
        err = capsys.readouterr().err
        assert "kgrec tune: error: file " in err and says in err and "Traceback" not in err


def test_a_refused_ask_after_a_time_budget_stop_is_not_said_of_the_stopped_trial(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    """The time budget stops trial 0 after its first epoch while Optuna's own clock (which
    starts a little later) still lets it ask for trial 1, and the study's database refuses
    that ask. Before, the stopped trial was forgotten only as the next trial started, so the
    error said the database "refused a write as it recorded trial 0, stopped before its
    end": a write of a trial already recorded in full. Now it names the ask."""
    import types

    real = time.monotonic
    calls = {"n": 0}

    def monotonic() -> float:  # the deadline is set on the first call; past it from then on
        calls["n"] += 1
        return real() + (0 if calls["n"] == 1 else 1e6)

    clock = types.SimpleNamespace(monotonic=monotonic, perf_counter=time.perf_counter)
    monkeypatch.setattr(kgrec.tune, "time", clock)
    monkeypatch.setattr(optuna.Study, "ask", _refuse(optuna.Study, "ask", _nth(2)))
    out = tmp_path / "tune"
    with pytest.raises(StoreError) as raised:
        small_tune(tiny_recbole, out, trials=3, timeout=3600, epochs=50, patience=50)
    said = str(raised.value)
    assert said.startswith(f"file {out / STUDY_FILE}: ")
    assert "could not begin a new trial" in said and "no trial was training" in said
    assert "trial 0" not in said
    monkeypatch.undo()
    stopped, queued = load_study(out).trials
    assert stopped.state == TrialState.FAIL and stopped.user_attrs["interrupted"] == "time budget"
    assert queued.state == TrialState.WAITING
    assert queued.system_attrs["fixed_params"] == stopped.params


def test_numpy_numbers_are_read_as_the_python_ones(tmp_path, tiny_recbole) -> None:
    """Before, tune(trials=np.int64(1)) was refused as "trials must be a positive integer",
    and seed=np.int64(0) or few_shot=np.int64(1) as no integer, where train() takes them."""
    numbers = {"seed": np.int64(0), "few_shot": np.int64(1), "train_fraction": np.float32(0.5)}
    result = small_tune(
        tiny_recbole, tmp_path / "numpy", trials=np.int64(1), epochs=np.int64(1), **numbers
    )
    assert len(result.trials) == 1 and result.trials[0].state == TrialState.COMPLETE
    settings = {name: result.settings[name] for name in (*numbers, "epochs")}
    assert settings == {"seed": 0, "few_shot": 1, "train_fraction": 0.5, "epochs": 1}
    assert [type(value) for value in settings.values()] == [int, int, float, int]
    with pytest.raises(InputError, match="trials must be a positive integer"):
        small_tune(tiny_recbole, tmp_path / "bool", trials=np.bool_(True))


def test_numpy_numbers_in_the_space_are_read_as_the_python_ones(tmp_path, tiny_recbole) -> None:
    """Before, a range of numpy numbers (``Choice(np.array([1, 2]))``, ``IntRange(*np.array(
    [1, 2]))``) was refused as "np.int64(1) is not a int" or "bounds must be numbers", and
    numpy floats were recorded as the study's space "choice:np.float64(0.0),..." (in messages
    too), so the same search from the command line was refused as another study's."""
    space = {
        "layers": IntRange(*np.array([1, 2])),
        "dim": Choice(np.array([8, 16])),
        "reg_weight": Choice(np.array([0.0, 1e-3])),
        "lr": LogUniform(np.float32(1e-3), np.float64(1e-1)),
    }
    out = tmp_path / "tune"
    result = tune(
        "lightgcn",
        protocol=PROTOCOL,
        data=tiny_recbole,
        out=out,
        space=space,
        trials=1,
        epochs=1,
        batch_size=128,
        progress=False,
    )
    assert result.trials[0].state == TrialState.COMPLETE
    assert load_study(out).user_attrs["space"] == {
        "layers": "int:1:2",
        "dim": "choice:8,16",
        "reg_weight": "choice:0.0,0.001",
        "lr": f"loguniform:{float(np.float32(1e-3))!r}:0.1",
    }
    argv = shlex.split(result.command)
    args = build_parser(argv[1:]).parse_args(argv[1:])
    assert {name: getattr(args, name) for name in space} == result.best_params


@pytest.mark.parametrize(
    ("space", "says"),
    [
        ({"dim": Choice([8, "16"])}, "dim takes a whole number, got '16'"),
        ({"lr": Choice([0.1, "fast"])}, "lr takes a finite number, got 'fast'"),
        ({"entity_embeddings": Choice([True, 1])}, "entity_embeddings takes true or false, got 1"),
    ],
)
def test_a_value_of_another_kind_in_a_choice_is_named_as_the_command_line_names_it(space, says):
    """Before, tune(space=...) said "'16' is not a int", where the command line's --search
    says what the option takes, and of True and 1 (equal in Python) that a value was listed
    twice."""
    model = "rgcn" if "entity_embeddings" in space else "lightgcn"
    with pytest.raises(InputError, match=re.escape(says)) as raised:
        check_space(model, space, objective=None)
    assert raised.value.field == "--search"


@pytest.mark.parametrize("bounds", [(1.5, 4), (1.0, 3.0), (1, np.float64(3.0))])
def test_an_int_range_of_fractional_bounds_is_refused_by_the_space_check(
    tmp_path, tiny_recbole, bounds
):
    """check_space took IntRange(1.5, 4) and IntRange(1.0, 3.0) of layers; tune() refused them
    only as it probed the values, naming another option inside --search's message
    ("--search layers=int:1.0:3.0: field '--layers': layers must be an integer, got 1.0")."""
    space = {"layers": IntRange(*bounds)}
    says = "an int range's bounds must be whole numbers"
    with pytest.raises(InputError, match=says) as raised:
        check_space("lightgcn", space, objective=None)
    assert raised.value.field == "--search"
    out = tmp_path / "tune"
    with pytest.raises(InputError, match=says):
        small_tune(tiny_recbole, out, space=space)
    assert not out.exists()


def test_a_whole_number_in_a_float_options_range_is_that_float(tmp_path, tiny_recbole) -> None:
    """Before, tune(space={"reg_weight": Choice([0, 1e-3])}) did not start with kgrec train's
    defaults (0 was not the default 0.0), and recorded its space as "choice:0,0.001", another
    than the command line's "--search reg_weight=choice:0,1e-3" ("choice:0.0,0.001")."""
    out = tmp_path / "tune"
    space = {"reg_weight": Choice([0, 1e-3]), "lr": LogUniform(1e-3, 1)}
    result = small_tune(tiny_recbole, out, space=space, trials=1, epochs=1)
    assert result.trials[0].params == {"reg_weight": 0.0, "lr": TRAIN_DEFAULTS["lr"]}
    assert load_study(out).user_attrs["space"] == {
        "reg_weight": "choice:0.0,0.001",
        "lr": "loguniform:0.001:1.0",
    }


def test_a_fixed_size_no_data_can_fit_is_refused_before_the_study(tmp_path) -> None:
    """Before, tune(num_negatives=10**12, objective="softmax") read the data, then failed
    every trial for memory; the data named here does not exist, and is never looked at."""
    out = tmp_path / "tune"
    with pytest.raises(InputError, match=r"training does not fit in memory") as raised:
        small_tune(tmp_path / "missing", out, objective="softmax", num_negatives=10**12)
    assert raised.value.field == "--num-negatives" and not out.exists()


def test_settings_drawn_again_are_not_trained_again(tmp_path, tiny_recbole, monkeypatch) -> None:
    """In a small discrete space the sampler draws settings it drew before (TPE's random
    start did so in the tune46 review: trial 1 repeated trial 0). Training is seeded, so such
    a trial would give the figure it gave: it takes it, trains nothing, and says so. Before,
    each repeat trained again, a trial of the user's budget spent for nothing new."""
    trained = []
    real = kgrec.tune._train_trial

    def counted(experiment, settings, *args, **kwargs):
        trained.append(settings["reg_weight"])
        return real(experiment, settings, *args, **kwargs)

    monkeypatch.setattr(kgrec.tune, "_train_trial", counted)
    space = {"reg_weight": Choice([0.0])}
    result = small_tune(tiny_recbole, tmp_path / "tune", space=space, pruning=False)
    assert trained == [0.0]
    first, *repeats = result.trials
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 3
    for trial in repeats:
        assert trial.value == first.value and trial.user_attrs["repeats"] == 0
        assert trial.user_attrs["best_epoch"] == first.user_attrs["best_epoch"]
    rows = result.table().splitlines()
    assert "complete (the settings of trial 0: its figure, not trained again)" in rows[2]
    assert result.best_trial.number == 0
