"""Knowledge distillation from trained runs (kgrec train --distill-from): the teachers' blend
(kgrec.teachers) and the command line. The term itself is tested in test_objectives.py."""

from __future__ import annotations

import hashlib
import json
import math
import re

import pytest
import torch

from kgrec.cli import main
from kgrec.errors import InputError
from kgrec.experiment import load_run
from kgrec.ranking import embeddings
from kgrec.teachers import blend, check_mix, mix_setting, score_spread


def test_score_spread_is_the_std_of_every_score_in_any_row_blocks() -> None:
    torch.manual_seed(0)
    users, items = torch.randn(7, 3), torch.randn(5, 3)
    want = float((users.double() @ items.double().T).std())
    for rows in (None, 1, 3, 7):
        assert score_spread(users, items, rows=rows) == pytest.approx(want, rel=1e-12)


def test_blend_is_the_standardised_mix_of_the_teachers_scores_over_the_covered_items() -> None:
    torch.manual_seed(0)
    first = torch.randn(4, 3), torch.randn(6, 3)
    second = torch.randn(4, 2), torch.randn(6, 2)
    covered = torch.tensor([True, True, False, True, True, True])
    users, items = blend([first, second], [3.0, 1.0], items=covered)
    assert users.dtype == items.dtype == torch.float32 and users.shape == (4, 5)
    got = users.double() @ items.double().T
    want = torch.zeros(4, 6, dtype=torch.double)
    for (u, i), w in ((first, 0.75), (second, 0.25)):
        scores = u.double() @ i.double().T
        want += w * scores / scores[:, covered].std()  # the spread over covered items only
    assert torch.allclose(got, want, atol=1e-5)


def test_a_teacher_whose_scores_are_all_alike_is_refused_by_name() -> None:
    flat = torch.ones(3, 2), torch.ones(4, 2)
    with pytest.raises(ValueError, match="run-b: its scores are all alike"):
        blend(
            [(torch.randn(3, 2), torch.randn(4, 2)), flat],
            [0.5, 0.5],
            items=torch.ones(4, dtype=torch.bool),
            names=["run-a", "run-b"],
        )


def test_the_mix_is_normalised_and_bad_mixes_are_refused() -> None:
    assert check_mix(None, 4) == [0.25] * 4
    assert check_mix([3, 1], 2) == [0.75, 0.25]
    for mix, says in (
        ([0.5], "--distill-mix has 1 weight"),
        ([0.5, -0.5], "must be non-negative finite numbers, not all zero"),
        ([0, 0], "not all zero"),
        ([math.inf, 1], "finite"),
        ("0.6,0.4", "must be a list of numbers"),
    ):
        with pytest.raises(InputError, match=says):
            check_mix(mix, 2)


def test_a_mix_whose_sum_overflows_is_normalised_not_a_traceback() -> None:
    """Weights near the largest float (``--distill-mix 1e308,1e308``) are finite and not all
    zero: their ratios are the mix (before: OverflowError from math.fsum, a traceback)."""
    assert check_mix([1e308, 1e308], 2) == [0.5, 0.5]
    assert check_mix([1.5e308, 0.5e308], 2) == [0.75, 0.25]
    torch.manual_seed(0)
    first = torch.randn(4, 3), torch.randn(6, 3)
    second = torch.randn(4, 2), torch.randn(6, 2)
    covered = torch.ones(6, dtype=torch.bool)
    big = blend([first, second], [1.5e308, 0.5e308], items=covered)
    plain = blend([first, second], [3.0, 1.0], items=covered)
    assert all(torch.equal(a, b) for a, b in zip(big, plain, strict=True))


SMALL = ["--protocol", "ml1m-action-comedy", "--epochs", "2", "--dim", "8", "--batch-size", "64"]


@pytest.fixture
def teachers(tmp_path, tiny_recbole):
    """Two finished teacher runs on seed 0's split of the tiny data (EASE and MF) and one EASE
    on seed 1's; their folders."""
    runs = {}
    for name, model, seed in (("ease", "ease", 0), ("mf", "mf", 0), ("other", "ease", 1)):
        runs[name] = tmp_path / name
        options = [*SMALL[:2], "--data", str(tiny_recbole), "--seed", str(seed)]
        if model == "mf":
            options += SMALL[2:]
        assert main(["train", "--model", model, "--out", str(runs[name]), *options]) == 0
    return runs


def student(tmp_path, tiny_recbole, out, *options):
    return main(
        [
            "train",
            "--model",
            "lightgcn",
            "--out",
            str(tmp_path / out),
            "--data",
            str(tiny_recbole),
            *SMALL,
            "--objective",
            "softmax",
            *options,
        ]
    )


def run_scores(folder):
    """The scores ``[users, items]`` of the run in ``folder`` and the bool mask of the target
    items its split does not leave unseen (those a teacher is standardised over), its split."""
    run = load_run(folder)
    users, items = embeddings(run.model, run.graph)
    split = run.experiment.split
    covered = split.negative_domains(run.graph.item_domain) == split.target_domain
    return users.double() @ items.double().T, covered, split


def teacher_agreement(student_run, teacher_scores) -> float:
    """How close the run folder ``student_run`` ranks to ``teacher_scores`` (``[users,
    items]``): the mean over the training users of the Spearman correlation of the two
    scores over the target items the user has not trained on (those the term reads)."""
    scores, target, split = run_scores(student_run)
    found = []
    for user in split.train[0].unique().tolist():
        unseen = target.clone()
        unseen[split.train[1][split.train[0] == user]] = False
        ranks = [s[user, unseen].argsort().argsort().double() for s in (scores, teacher_scores)]
        found.append(float(torch.corrcoef(torch.stack(ranks))[0, 1]))
    return sum(found) / len(found)


def test_kgrec_train_distils_from_teacher_runs_and_records_them(tmp_path, tiny_recbole, teachers):
    options = ["--distill-from", str(teachers["ease"]), str(teachers["mf"])]
    options += ["--distill-mix", "0.6,0.4", "--distill-temperature", "0.5"]
    options += ["--distill-weight", "10"]
    fast = ["--lr", "0.05"]  # a few steps that move the model far from its initial ranking
    assert student(tmp_path, tiny_recbole, "run", *options, *fast) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    settings = run["settings"]
    assert settings["distill_from"] == [str(teachers["ease"]), str(teachers["mf"])]
    assert settings["distill_mix"] == [0.6, 0.4] and settings["distill_weight"] == 10.0
    assert settings["distill_temperature"] == 0.5
    assert [(r["run"], r["model"]) for r in run["distill_from"]] == [
        (str(teachers["ease"]), "ease"),
        (str(teachers["mf"]), "mf"),
    ]
    for record, name in zip(run["distill_from"], ("ease", "mf"), strict=True):
        model = (teachers[name] / "model.pt").read_bytes()
        assert record["model_sha256"] == hashlib.sha256(model).hexdigest()
    # the term pulls the student's ranking towards the teachers' blend, computed here from
    # the runs: each one's scores over the covered target items standardised, mixed 0.6 : 0.4
    blend = 0
    for name, weight in (("ease", 0.6), ("mf", 0.4)):
        scores, covered, _ = run_scores(teachers[name])
        blend = blend + weight * scores / scores[:, covered].std()
    assert student(tmp_path, tiny_recbole, "plain", *fast) == 0
    with_term = teacher_agreement(tmp_path / "run", blend)
    without = teacher_agreement(tmp_path / "plain", blend)
    # 0.65 against 0.48 (weight 1: 0.56, 3: 0.60); a term whose teacher rows are other users'
    # gave 0.48, other items' 0.24, of the wrong sign -0.32, a flat teacher 0.52
    assert with_term > without + 0.1, (with_term, without)


def test_resume_refuses_a_teacher_whose_model_changed(tmp_path, tiny_recbole, teachers, capsys):
    options = ["--distill-from", str(teachers["mf"]), "--epochs", "1"]
    assert student(tmp_path, tiny_recbole, "run", *options) == 0
    again = ["--distill-from", str(teachers["mf"]), "--epochs", "2", "--resume"]
    # the teacher moved, the same model.pt: resumed
    moved = tmp_path / "moved-mf"
    teachers["mf"].rename(moved)
    again[1] = str(moved)
    assert student(tmp_path, tiny_recbole, "run", *again) == 0
    # the same folder, another model.pt: refused
    state = torch.load(moved / "model.pt", weights_only=True)
    torch.save({k: v + 1 for k, v in state.items()}, moved / "model.pt")
    again[again.index("--epochs") + 1] = "3"
    before = (tmp_path / "run" / "run.json").read_text()
    assert student(tmp_path, tiny_recbole, "run", *again) == 2
    assert "holds another model.pt than the run learnt from" in capsys.readouterr().err
    assert (tmp_path / "run" / "run.json").read_text() == before


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--distill-weight", "3"], r"--distill-weight sets the distillation term.*--distill-from"),
        (["--distill-mix", "1,1"], r"--distill-mix sets the distillation term"),
        (
            ["--distill-from", "{ease}", "--distill-mix", "0.6,0.4"],
            "--distill-mix has 2 weight.* and --distill-from 1 teacher",
        ),
        (["--distill-from", "{ease}", "{mf}", "--distill-mix", "0,0"], "not all zero"),
        (
            ["--distill-from", "{other}"],
            r"--distill-from .*other was trained on another split than .*run \(",
        ),
        (["--distill-from", "{missing}"], "--distill-from: "),
        (["--distill-from", "{run}"], r"names the run folder being trained \(--out\)"),
        (
            ["--distill-from", "{ease}", "--batching", "neighbor"],
            "--distill-from works with --batching full only",
        ),
    ],
)
def test_distillation_settings_are_refused_before_a_run_is_written(
    tmp_path, tiny_recbole, teachers, options, says, capsys
):
    folders = {**{k: str(v) for k, v in teachers.items()}, "missing": str(tmp_path / "missing")}
    folders["run"] = str(tmp_path / "run")
    options = [o.format(**folders) for o in options]
    capsys.readouterr()
    assert student(tmp_path, tiny_recbole, "run", *options) == 2
    assert re.search(says, capsys.readouterr().err), says
    assert not (tmp_path / "run").exists()


def test_a_teacher_that_fails_to_load_leaves_no_run_behind(
    tmp_path, tiny_recbole, teachers, capsys
) -> None:
    """A teacher is read whole only as training starts, after run.json is written: a
    model.pt damaged since it finished is an error naming it, exit 2, and the new run's
    folder is removed, as after any refusal (nothing half-written)."""
    (teachers["mf"] / "model.pt").write_bytes(b"not a checkpoint")
    capsys.readouterr()
    assert student(tmp_path, tiny_recbole, "run", "--distill-from", str(teachers["mf"])) == 2
    assert "model.pt" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def _retrained_as_read(monkeypatch, module, model) -> list[int]:
    """Make ``module``'s ``read_teachers`` replace the teacher's ``model`` (model.pt, its
    weights + 1) as the read starts, as a teacher trained again in between would, and count
    its calls of ``fit`` (one per training begun) in the list returned."""
    read_teachers, fit, fitted = module.read_teachers, module.fit, []

    def retrained(settings, graph, split):
        state = torch.load(model, weights_only=True)
        torch.save({k: v + 1 for k, v in state.items()}, model)
        return read_teachers(settings, graph, split)

    def counted(*args, **kwargs):
        fitted.append(1)
        return fit(*args, **kwargs)

    monkeypatch.setattr(module, "read_teachers", retrained)
    monkeypatch.setattr(module, "fit", counted)
    return fitted


@pytest.mark.parametrize("resume", [False, True])
def test_a_teacher_replaced_after_run_json_recorded_it_is_refused_before_training(
    tmp_path, tiny_recbole, teachers, monkeypatch, capsys, resume
) -> None:
    """run.json records each teacher's model.pt sha256 as the run starts (a resume checks
    it); the teachers are read whole a moment later. One trained again in between (here: its
    model.pt replaced as the read starts) is refused, naming it, before any epoch: a new
    run's folder is removed as after any refusal, a resumed run left as it was (before: the
    run learnt from the new model.pt while run.json recorded the old one's sha256)."""
    from kgrec import experiment

    options = ["--distill-from", str(teachers["ease"]), str(teachers["mf"])]
    files = {}
    if resume:
        assert student(tmp_path, tiny_recbole, "run", *options, "--epochs", "1") == 0
        files = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
        options += ["--resume"]
    fitted = _retrained_as_read(monkeypatch, experiment, teachers["mf"] / "model.pt")
    capsys.readouterr()
    assert student(tmp_path, tiny_recbole, "run", *options) == 2
    err = capsys.readouterr().err
    assert f"--distill-from {teachers['mf']}: its model.pt changed since the run started" in err
    assert not fitted  # refused before training
    if resume:
        now = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
        assert now == files
    else:
        assert not (tmp_path / "run").exists()


def test_kgrec_tune_searches_the_distillation_weight_with_fixed_teachers(
    tmp_path, tiny_recbole, teachers
) -> None:
    import shlex

    import optuna

    from kgrec.tune import STUDY_NAME, Choice, tune
    from kgrec.tune_space import STUDY_FILE

    options = {
        "protocol": "ml1m-action-comedy",
        "data": tiny_recbole,
        "space": {"distill_weight": Choice([1.0, 3.0])},
        "epochs": 2,
        "dim": 8,
        "batch_size": 64,
        "objective": "softmax",
        "progress": False,
    }
    out = tmp_path / "t"
    result = tune(
        "lightgcn",
        out=out,
        trials=2,
        distill_from=[teachers["ease"], teachers["mf"]],
        distill_mix=[0.6, 0.4],
        **options,
    )
    argv = shlex.split(result.command)
    at = argv.index("--distill-from")
    assert argv[at + 1 : at + 3] == [str(teachers["ease"]), str(teachers["mf"])]
    assert argv[argv.index("--distill-mix") + 1] == "0.6,0.4"
    assert argv[argv.index("--distill-weight") + 1] in ("1.0", "3.0")
    study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{out / STUDY_FILE}")
    shas = [
        hashlib.sha256((teachers[n] / "model.pt").read_bytes()).hexdigest() for n in ("ease", "mf")
    ]
    assert study.user_attrs["distill_from_sha256"] == shas
    assert {t.params["distill_weight"] for t in study.trials} <= {1.0, 3.0}
    # the printed command trains (the teachers as the study had them)
    run = tmp_path / "best"
    argv[argv.index("--out") + 1] = str(run)
    assert main(argv[1:]) == 0
    assert json.loads((run / "run.json").read_text())["distill_from"][1]["model"] == "mf"
    # a teacher trained again in place (another model.pt at the same path): the study is not
    # continued, as kgrec train --resume refuses it (before, it went on without a word)
    saved = (teachers["mf"] / "model.pt").read_bytes()
    (teachers["mf"] / "model.pt").write_bytes((teachers["ease"] / "model.pt").read_bytes())
    with pytest.raises(InputError, match=r"not the model.pt files the study's trials learnt from"):
        tune(
            "lightgcn",
            out=out,
            trials=3,
            distill_from=[teachers["ease"], teachers["mf"]],
            distill_mix=[0.6, 0.4],
            **options,
        )
    (teachers["mf"] / "model.pt").write_bytes(saved)
    # a teacher on another split is refused before any trial
    with pytest.raises(InputError, match="other was trained on another split than"):
        tune("lightgcn", out=tmp_path / "t2", trials=1, distill_from=[teachers["other"]], **options)
    # searched without teachers: refused
    with pytest.raises(InputError, match="lightgcn reads --distill-weight in no trial"):
        tune("lightgcn", out=tmp_path / "t3", trials=1, **options)


def test_a_mix_of_numpy_numbers_is_taken_by_train_and_tune(tmp_path, tiny_recbole, teachers):
    """``distill_mix`` of numpy numbers (``list(np.arange(...))``), as every other number the
    Python API takes: recorded as Python floats (before: refused as "must be a list of
    numbers", np.float64 alone taken; tune would then fail writing its study)."""
    import numpy as np

    from kgrec.experiment import train
    from kgrec.tune import tune

    assert check_mix([np.int64(3), np.float32(1.0)], 2) == [0.75, 0.25]
    recorded = mix_setting([np.int64(3), np.float32(1.0)])  # train's and tune's, one home
    assert recorded == [3.0, 1.0] and all(type(w) is float for w in recorded)
    folders = [teachers["ease"], teachers["mf"]]
    options = {"protocol": "ml1m-action-comedy", "data": tiny_recbole, "epochs": 1, "dim": 8}
    options |= {"batch_size": 64, "progress": False, "distill_from": folders}
    mix = [np.int64(3), np.int64(1)]
    train("lightgcn", out=tmp_path / "run", distill_mix=mix, **options)
    settings = json.loads((tmp_path / "run" / "run.json").read_text())["settings"]
    assert settings["distill_mix"] == [3.0, 1.0]
    result = tune("lightgcn", out=tmp_path / "t", trials=1, distill_mix=mix, **options)
    assert "--distill-mix 3.0,1.0" in result.command


def test_kgrec_tune_stops_at_a_teacher_replaced_after_the_study_recorded_it(
    tmp_path, tiny_recbole, teachers, monkeypatch, capsys, caplog
) -> None:
    """The study records each teacher's model.pt sha256 as it begins; the first trial that
    trains reads the teachers. One trained again in between (here: its model.pt replaced as
    each read starts) stops the study at that trial, naming the teacher, before any epoch,
    exit 2: no trial can get past it (the teachers are the study's). The trial is recorded as
    stopped, not counted, and its settings queued to run first, as after a Ctrl-C. Before,
    each trial failed alike and the study went on to the next (before that, every trial
    learnt from the new model.pt while the study recorded the old one's sha256)."""
    import optuna

    from kgrec import tune as tune_module
    from kgrec.tune import STUDY_NAME
    from kgrec.tune_space import STUDY_FILE

    fitted = _retrained_as_read(monkeypatch, tune_module, teachers["mf"] / "model.pt")
    out = tmp_path / "t"
    argv = ["tune", "--model", "lightgcn", "--out", str(out), "--data", str(tiny_recbole)]
    argv += [*SMALL, "--epochs", "1", "--objective", "softmax", "--trials", "3"]
    argv += ["--search", "distill_weight=uniform:1:3"]
    argv += ["--distill-from", str(teachers["ease"]), str(teachers["mf"])]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--distill-from {teachers['mf'].resolve()}: its model.pt changed since the" in err
    assert "study began (trained again or replaced?): the study records sha256" in err
    assert "Traceback" not in err
    # what the stop keeps, and how to go on, as after a Ctrl-C (before: the error alone; found
    # by the rev50 review)
    assert (
        f"stopped: {out} keeps its study; the same kgrec tune command continues it once the "
        "teachers are finished, the settings of the trial they stopped first" in caplog.text
    )
    assert not fitted  # refused before training
    study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{out / STUDY_FILE}")
    stopped, waiting = study.trials  # one trial, not three failed alike
    assert stopped.state.name == "FAIL"
    assert stopped.user_attrs["interrupted"] == "teachers refused"  # not counted
    assert waiting.state.name == "WAITING"
    assert waiting.system_attrs["fixed_params"] == stopped.params  # run first next time


def test_kgrec_tune_stopped_at_its_teachers_continues_once_they_are_finished(
    tmp_path, tiny_recbole, teachers, monkeypatch, capsys
) -> None:
    """A study stopped at its first trial by a teacher replaced since it began (trained again)
    is continued by the same command once the teacher is finished, as the stop's error says
    (``train again once the teacher run is finished``): no trial has learnt from the teachers
    it recorded, so it records them anew, and the stopped trial's settings run first, it not
    counted (``--trials 1`` is that trial). A study whose trials trained refuses a teacher
    changed since, as before. Before, the rerun was refused (``not the model.pt files the
    study's trials learnt from``), so the stopped study could never be continued (found by
    the rev50 review)."""
    import optuna

    from kgrec import tune as tune_module
    from kgrec.tune import STUDY_NAME
    from kgrec.tune_space import STUDY_FILE

    read_teachers, fit = tune_module.read_teachers, tune_module.fit
    _retrained_as_read(monkeypatch, tune_module, teachers["mf"] / "model.pt")
    out = tmp_path / "t"
    argv = ["tune", "--model", "lightgcn", "--out", str(out), "--data", str(tiny_recbole)]
    argv += [*SMALL, "--epochs", "1", "--objective", "softmax", "--trials", "1"]
    argv += ["--search", "distill_weight=uniform:1:3"]
    argv += ["--distill-from", str(teachers["ease"]), str(teachers["mf"])]
    assert main(argv) == 2
    assert "train again once the teacher run is finished" in capsys.readouterr().err
    monkeypatch.setattr(tune_module, "read_teachers", read_teachers)  # the teacher finished
    monkeypatch.setattr(tune_module, "fit", fit)
    assert main(argv) == 0, capsys.readouterr().err
    study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{out / STUDY_FILE}")
    stopped, trained = study.trials
    assert stopped.user_attrs["interrupted"] == "teachers refused"
    assert trained.state.name == "COMPLETE" and trained.params == stopped.params
    sha = hashlib.sha256((teachers["mf"] / "model.pt").read_bytes()).hexdigest()
    assert study.user_attrs["distill_from_sha256"][1] == sha  # the teacher it learnt from
    # its trial learnt from that teacher: one changed since is refused
    (teachers["mf"] / "model.pt").write_bytes((teachers["ease"] / "model.pt").read_bytes())
    assert main([*argv, "--trials", "2"]) == 2  # one trial more
    assert "not the model.pt files the study's trials learnt from" in capsys.readouterr().err


def test_kgrec_tune_reads_the_teachers_once_not_once_per_trial(
    tmp_path, tiny_recbole, teachers, monkeypatch
) -> None:
    """The teachers and the split are the study's: each teacher's run is read (its model and
    experiment) by the first trial, and every trial learns the same blend (before: each trial
    read every teacher again, about a second a trial for a sparse ml100k-kg pair)."""
    from kgrec import experiment
    from kgrec.tune import Uniform, tune

    reads = []
    load_run = experiment._load_run

    def counted(folder, device):
        reads.append(folder.name)
        return load_run(folder, device)

    monkeypatch.setattr(experiment, "_load_run", counted)
    result = tune(
        "lightgcn",
        out=tmp_path / "t",
        trials=3,
        space={"distill_weight": Uniform(1.0, 3.0)},  # no trial repeats another's settings
        distill_from=[teachers["ease"], teachers["mf"]],
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        epochs=1,
        dim=8,
        batch_size=64,
        objective="softmax",
        progress=False,
    )
    assert len({t.params["distill_weight"] for t in result.trials}) == 3
    assert all(t.state.name == "COMPLETE" for t in result.trials)
    assert sorted(reads) == ["ease", "mf"]


def test_a_teacher_that_started_from_a_run_trained_on_the_held_out_pairs_is_said(
    tmp_path, tiny_recbole, caplog
):
    """A teacher on the student's split that was warm-started (--init-from) from a run of
    another split has seen the student's validation and test pairs (its run.json counts them,
    init_from.held_out_pairs_seen), and its scores carry them into the student. Before, a
    --distill-from of it said nothing (an --init-from of the same run warns); now it warns,
    naming the teacher, and so of a teacher that learnt from such a teacher in turn."""
    common = ["--data", str(tiny_recbole), "--model", "mf", *SMALL]
    other, middle = tmp_path / "other", tmp_path / "middle"
    assert main(["train", "--out", str(other), "--seed", "1", *common]) == 0
    assert main(["train", "--out", str(middle), "--init-from", str(other), *common]) == 0
    leaked = json.loads((middle / "run.json").read_text())["init_from"]["held_out_pairs_seen"]
    assert leaked > 0
    clean = tmp_path / "clean"
    assert main(["train", "--out", str(clean), *common]) == 0
    caplog.clear()
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        assert student(tmp_path, tiny_recbole, "fine", "--distill-from", str(clean)) == 0
    assert "validation and test pairs" not in caplog.text
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        assert student(tmp_path, tiny_recbole, "s", "--distill-from", str(clean), str(middle)) == 0
    assert f"--distill-from {middle}: its model (or a run it learnt from)" in caplog.text
    assert f"trained on {leaked} of this run's validation and test pairs" in caplog.text
    caplog.clear()
    # a teacher distilled from that teacher: its scores carry them too
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        assert student(tmp_path, tiny_recbole, "s2", "--distill-from", str(tmp_path / "s")) == 0
    assert f"--distill-from {tmp_path / 's'}: its model (or a run it learnt from)" in caplog.text


def test_a_teacher_that_never_saw_users_the_student_trains_is_said(tmp_path, tiny_recbole, caplog):
    """A teacher of the target domain alone (lightgcn) has no interaction of the cold-start
    users, whose scores are its untrained embeddings; a merged student trains them (their
    other domain's pairs) and the distillation term pulls its rankings of them towards that
    noise. Before, taken without a word (found by the cold61 review); now it is warned of,
    naming the teacher. A student of the target domain alone trains no such user: no word."""
    teacher = tmp_path / "target-only"
    options = ["--data", str(tiny_recbole), *SMALL]
    assert main(["train", "--model", "lightgcn", "--out", str(teacher), *options]) == 0
    caplog.clear()
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        assert student(tmp_path, tiny_recbole, "alone", "--distill-from", str(teacher)) == 0
    assert "its graph holds no interaction" not in caplog.text
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        argv = ["--model", "lightgcn-merged", "--distill-from", str(teacher)]
        assert student(tmp_path, tiny_recbole, "merged", *argv) == 0
    assert re.search(
        rf"--distill-from {re.escape(str(teacher))}: its graph holds no interaction of \d+ of "
        r"the users this run trains",
        caplog.text,
    ), caplog.text
