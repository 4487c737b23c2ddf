"""Plots (kgrec.plots): a run's training curve (`kgrec evaluate --plot`, `Run.plot`) and a
tune's trials, written whole into a new file (an existing one only with --force)."""

from __future__ import annotations

import json

import matplotlib
import pytest

from kgrec.cli import main
from kgrec.errors import InputError
from kgrec.experiment import load_run, train
from kgrec.plots import training_curve, tune_trials

PNG = b"\x89PNG\r\n\x1a\n"
HISTORY = [
    {"epoch": 1, "loss": 0.69, "ndcg@20": 0.10},
    {"epoch": 2, "loss": 0.50, "ndcg@20": 0.14},
    {"epoch": 3, "loss": 0.41, "ndcg@20": 0.13},
]
INFO = {
    "model": "lightgcn",
    "training": {"history": HISTORY, "best_epoch": 2, "epochs_resumed": 1},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, write_tiny):
    """(a trained LightGCN run, a popularity run) on the tiny dataset."""
    folder = tmp_path_factory.mktemp("plots")
    data = write_tiny(folder / "tiny")
    common = {"protocol": "ml1m-action-comedy", "data": data, "progress": False}
    trained = train(
        "lightgcn-merged", out=folder / "lgcn", epochs=2, dim=8, batch_size=128, **common
    )
    popular = train("popularity", out=folder / "pop", **common)
    return trained.folder, popular.folder


def test_a_training_curve_is_a_png_and_never_replaces_a_file_without_force(tmp_path):
    path = tmp_path / "curve.png"
    assert training_curve(INFO, path, name="r") == path
    assert path.read_bytes().startswith(PNG)
    with pytest.raises(InputError, match="the file exists; --force replaces it") as info:
        training_curve(INFO, path, name="r")
    assert info.value.field == "--plot"
    path.write_bytes(b"mine")
    with pytest.raises(InputError):
        training_curve(INFO, path, name="r")
    assert path.read_bytes() == b"mine"
    training_curve(INFO, path, name="r", force=True)
    assert path.read_bytes().startswith(PNG)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]  # no temporary left
    svg = training_curve(INFO, tmp_path / "curve.svg", name="r")  # the format by the suffix
    assert b"<svg" in svg.read_bytes()[:500]


def test_pyplot_and_the_global_backend_are_left_alone(tmp_path):
    import matplotlib.pyplot as plt

    # pyplot's figures before (another test of this process may have left some: CI runs the
    # bench scripts' plots first), so that only the drawing's own are counted
    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    training_curve(INFO, tmp_path / "c.png", name="r")
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == figures


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing/curve.png", "does not exist"),
        ("curve.xyz", "its suffix says the format"),
        ("curve", "its suffix says the format"),
        (".", "its suffix says the format"),
    ],
)
def test_a_bad_plot_path_is_refused_naming_the_option(tmp_path, name, message):
    with pytest.raises(InputError, match=message) as info:
        training_curve(INFO, tmp_path / name, name="r")
    assert info.value.field == "--plot"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("info", "why"),
    [
        ({"model": "popularity", "training": {"history": [], "best_epoch": 0}}, "trains nothing"),
        ({"model": "lightgcn", "training": {"best_epoch": 3}}, "older kgrec"),
        ({"model": "lightgcn"}, "older kgrec"),
    ],
)
def test_a_run_without_history_is_an_error_and_nothing_is_written(tmp_path, info, why):
    with pytest.raises(InputError, match=f"run 'r' .* has no training curve: .*{why}"):
        training_curve(info, tmp_path / "c.png", name="r")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("training", "field"),
    [
        ({"history": [{"epoch": 1}], "best_epoch": 1}, "training.history"),
        # before: a bare TypeError as the epochs before the resume were shaded
        ({"history": HISTORY, "best_epoch": 2, "epochs_resumed": "1"}, "training.epochs_resumed"),
        ({"history": HISTORY, "best_epoch": 2, "epochs_resumed": [1]}, "training.epochs_resumed"),
    ],
)
def test_a_damaged_training_record_is_an_error_naming_its_field(tmp_path, training, field):
    info = {"model": "lightgcn", "training": training}
    with pytest.raises(InputError, match=r"run 'r': run\.json is damaged: training") as raised:
        training_curve(info, tmp_path / "c.png", name="r", source="RUN/run.json")
    assert (raised.value.field, raised.value.file) == (field, "RUN/run.json")
    assert list(tmp_path.iterdir()) == []


def test_tune_trials_are_drawn_whatever_their_states(tmp_path):
    trials = [
        {"number": 0, "state": "complete", "value": 0.2},
        {"number": 1, "state": "pruned", "value": 0.1},
        {"number": 2, "state": "fail", "value": None},
        {"number": 3, "state": "complete", "value": 0.25},
    ]
    path = tune_trials(trials, tmp_path / "t.png", title="lightgcn: tunes/t")
    assert path.read_bytes().startswith(PNG)
    assert tune_trials([], tmp_path / "empty.png", title="t").read_bytes().startswith(PNG)


def test_evaluate_plot_draws_the_curve_beside_the_table(runs, tmp_path, capsys):
    run, _ = runs
    path = tmp_path / "curve.png"
    assert main(["evaluate", "--run", str(run), "--plot", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ndcg@20" in out and f"training curve: {path}" in out
    assert path.read_bytes().startswith(PNG)
    assert main(["evaluate", "--run", str(run), "--plot", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'--plot'" in err and "--force replaces it" in err
    assert main(["evaluate", "--run", str(run), "--plot", str(path), "--force"]) == 0
    for bad in (tmp_path / "nowhere" / "c.png", tmp_path / "c.xyz"):
        assert main(["evaluate", "--run", str(run), "--plot", str(bad)]) == 2
        assert "'--plot'" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(run), "--force"]) == 2
    assert "--plot" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]


def test_a_run_with_nothing_trained_has_no_curve(runs, tmp_path, capsys):
    _, popular = runs
    assert json.loads((popular / "run.json").read_text())["training"]["history"] == []
    path = tmp_path / "curve.png"
    assert main(["evaluate", "--run", str(popular), "--plot", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"run '{popular.name}' (popularity) has no training curve" in err
    assert "run.json" in err
    assert list(tmp_path.iterdir()) == []


def test_evaluate_plot_is_drawn_only_once_scoring_went_through(runs, tmp_path, monkeypatch, capsys):
    # before: the curve was drawn, then scoring failed, and the plot was left behind (with
    # --force, in place of the file it replaced)
    from kgrec.experiment import Run

    def fail(self):
        raise InputError("the split files changed since training", field="--run")

    monkeypatch.setattr(Run, "evaluate", fail)
    path = tmp_path / "curve.png"
    assert main(["evaluate", "--run", str(runs[0]), "--plot", str(path)]) == 2
    assert "split files changed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    path.write_bytes(b"mine")
    assert main(["evaluate", "--run", str(runs[0]), "--plot", str(path), "--force"]) == 2
    assert path.read_bytes() == b"mine"


def test_a_run_without_a_curve_is_refused_before_it_is_scored(runs, tmp_path, monkeypatch, capsys):
    from kgrec.experiment import Run

    def scored(self):
        raise AssertionError("scored")

    monkeypatch.setattr(Run, "evaluate", scored)
    assert main(["evaluate", "--run", str(runs[1]), "--plot", str(tmp_path / "c.png")]) == 2
    assert "has no training curve" in capsys.readouterr().err


def test_run_plot_is_the_python_api(runs, tmp_path):
    run = load_run(runs[0])
    assert run.plot(tmp_path / "c.png").read_bytes().startswith(PNG)


def test_tune_plot_draws_the_trials_and_is_refused_before_any_trial(runs, tmp_path, capsys):
    data = runs[0].parent / "tiny"
    argv = ["tune", "--model", "ease", "--protocol", "ml1m-action-comedy", "--data", str(data)]
    argv += ["--out", str(tmp_path / "t"), "--trials", "2", "--threads", "1"]
    for bad in (tmp_path / "nowhere" / "t.png", tmp_path / "t.xyz"):
        assert main([*argv, "--plot", str(bad)]) == 2
        assert "'--plot'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # refused before the study was made
    path = tmp_path / "trials.png"
    assert main([*argv, "--plot", str(path)]) == 0
    assert f"trials plot: {path}" in capsys.readouterr().out
    assert path.read_bytes().startswith(PNG)
    path.write_bytes(b"mine")
    assert main([*argv, "--plot", str(path)]) == 2
    assert "--force replaces it" in capsys.readouterr().err
    assert path.read_bytes() == b"mine"
    assert main([*argv, "--plot", str(path), "--force"]) == 0  # the study has its 2 trials
    assert path.read_bytes().startswith(PNG)


@pytest.mark.parametrize("command", ["evaluate", "tune"])
def test_force_without_plot_is_refused_by_both_commands(tmp_path, capsys, command):
    # one check (kgrec.plots.check_plot_options) serves both commands, before any work
    from kgrec.cli import main

    if command == "evaluate":
        argv = ["evaluate", "--run", str(tmp_path), "--force"]
    else:
        argv = ["tune", "--model", "lightgcn", "--protocol", "ml100k-kg", "--data", str(tmp_path)]
        argv += ["--out", str(tmp_path / "t"), "--force"]
    assert main(argv) == 2
    assert "--force replaces a --plot file; give --plot FILE" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
