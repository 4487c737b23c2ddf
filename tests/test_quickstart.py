"""`kgrec quickstart`: without data it says how to get it; every model it offers runs."""

from __future__ import annotations

import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kgrec import cli
from kgrec.cli import main

real_main = main


def test_no_data_says_how_to_get_it(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("KGREC_DATA", raising=False)
    assert main(["quickstart", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "KGREC_DATA" in err and "kgrec download ml-100k" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("blank", [" ", "\t"])
def test_a_blank_kgrec_data_is_refused_naming_it(monkeypatch, tmp_path, capsys, blank):
    """KGREC_DATA=" " was read as a folder named by blanks: "  /ml-100k holds no ml-100k atomic
    files ...; fetch them with `kgrec download ml-100k --dest  `", a command kgrec download
    itself refuses (it names a blank KGREC_DATA)."""
    monkeypatch.setenv("KGREC_DATA", blank)
    assert main(["quickstart", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"field 'KGREC_DATA': KGREC_DATA is blank ({blank!r})" in err
    assert "kgrec download" not in err and not (tmp_path / "out").exists()


def test_empty_data_folder_names_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KGREC_DATA", str(tmp_path))
    (tmp_path / "ml-100k").mkdir()
    assert main(["quickstart", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "ml-100k") in err and "kgrec download ml-100k" in err


def test_an_empty_data_option_names_it(monkeypatch, tmp_path, capsys):
    """`--data DIR` without atomic files said to fetch them into DIR's parent (where kgrec
    download writes PARENT/ml-100k, not DIR) "or point KGREC_DATA elsewhere", which --data
    overrides."""
    monkeypatch.setenv("KGREC_DATA", str(tmp_path))
    (tmp_path / "mine").mkdir()
    args = ["quickstart", "--data", str(tmp_path / "mine"), "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--data {tmp_path / 'mine'}" in err and "--data DIR/ml-100k" in err
    assert "KGREC_DATA" not in err and not (tmp_path / "out").exists()


def test_the_main_job_runs_end_to_end_on_ml100k(monkeypatch, datasets, tmp_path, capsys):
    monkeypatch.setenv("KGREC_DATA", str(datasets))
    out = tmp_path / "out"
    assert main(["quickstart", "--out", str(out), "--epochs", "1", "--users", "2"]) == 0
    printed = capsys.readouterr().out
    assert "test   all      943" in printed  # the metrics table
    assert printed.count("because you interacted with") >= 2  # explained recommendations
    assert (out / "lightgcn" / "metrics.json").exists()


def tiny_ml100k(folder: Path) -> Path:
    """A RecBole dataset of 30 users and 40 films, each user with 12 ratings."""
    folder.mkdir()
    rng = random.Random(0)
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in range(1, 31):
        for item in rng.sample(range(1, 41), 12):
            inter.append(f"{user}\t{item}\t{rng.randint(1, 5)}\t{880000000 + user * 100 + item}")
    (folder / "ml-100k.inter").write_text("\n".join(inter) + "\n")
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    items += [
        f"{i}\tFilm {i}\t199{i % 10}\t{'Action' if i % 2 else 'Comedy'}" for i in range(1, 41)
    ]
    (folder / "ml-100k.item").write_text("\n".join(items) + "\n")
    return folder


@pytest.fixture
def steps(monkeypatch):
    """The steps `kgrec quickstart` runs, recorded; each run as on the command line but
    `kgrec embed` (a language model: seconds), which is skipped."""
    ran: list[list[str]] = []

    def main(argv):
        ran.append(list(argv))
        return 0 if argv[0] == "embed" else real_main(argv)

    monkeypatch.setattr(cli, "main", main)
    return ran


@pytest.mark.parametrize("model", ["popularity", "ease"])
def test_a_model_that_trains_nothing_by_gradient_runs(model, steps, tmp_path, capsys):
    """The quickstart offers every model; it gave each `--epochs 40`, which kgrec train
    refuses for the models that train nothing by gradient, so these stopped at the train step."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    code = real_main(["quickstart", "--data", str(data), "--out", str(out), "--model", model])
    assert code == 0, capsys.readouterr().err
    (train,) = [step for step in steps if step[0] == "train"]
    assert "--epochs" not in train
    assert (out / model / "metrics.json").exists()
    assert "Sample recommendations" in capsys.readouterr().out


def test_epochs_for_a_model_that_trains_nothing_is_refused_first(steps, tmp_path, capsys):
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    args = ["quickstart", "--data", str(data), "--out", str(out), "--model", "popularity"]
    assert real_main([*args, "--epochs", "5"]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert steps == [] and not out.exists()  # nothing ran, nothing written


def test_threads_go_to_every_step_that_computes(steps, tmp_path):
    """`kgrec quickstart --threads N` computes with N threads in every step, as README says
    (each step sets torch's threads anew; the embed step was given none, so it took the idle
    cores)."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    args = ["--data", str(data), "--out", str(out), "--epochs", "1", "--threads", "1"]
    assert real_main(["quickstart", *args]) == 0
    computing = [step for step in steps if step[0] in ("embed", "train", "recommend")]
    assert [step[0] for step in computing] == ["embed", "train", "recommend"]
    for step in computing:
        assert step[step.index("--threads") + 1] == "1", step


@pytest.mark.parametrize("own", ["store", "lightgcn"])
def test_a_store_or_run_of_the_users_own_in_out_is_never_deleted(own, steps, tmp_path, capsys):
    """The quickstart replaces the store and run an earlier quickstart made in --out, only
    those: a store loaded or a run trained there by the user (a kgrec store, a kgrec run) was
    deleted too."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    if own == "store":
        args = ["load", "recbole", str(data), "--store", f"local:{out / 'store'}"]
    else:
        args = ["train", "--model", "lightgcn", "--protocol", "ml100k-kg", "--data", str(data)]
        args += ["--domain", "movies", "--epochs", "1", "--out", str(out / "lightgcn")]
    assert real_main(args) == 0
    before = sorted(p.name for p in (out / own).iterdir())
    capsys.readouterr()
    assert real_main(["quickstart", "--data", str(data), "--out", str(out)]) == 2
    assert "no kgrec quickstart made it" in capsys.readouterr().err
    assert sorted(p.name for p in (out / own).iterdir()) == before
    assert steps == []  # no step ran


def test_a_quickstart_again_replaces_its_own(steps, tmp_path, capsys):
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    args = ["quickstart", "--data", str(data), "--out", str(out), "--epochs", "1"]
    assert real_main(args) == 0
    assert real_main(args) == 0, capsys.readouterr().err
    assert (out / "lightgcn" / "metrics.json").exists()


@pytest.mark.parametrize("inside", ["lightgcn/notes.txt", "lightgcn/split/mine.tsv", "store/notes"])
def test_a_file_of_the_users_inside_a_quickstarts_own_is_never_deleted(
    inside, steps, tmp_path, capsys
):
    """A file the user put into the store or run an earlier quickstart made (notes, a plot,
    a split file of their own) was deleted with the folder by the next quickstart."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    args = ["quickstart", "--data", str(data), "--out", str(out), "--epochs", "1"]
    assert real_main(args) == 0
    (out / inside).write_text("mine\n")
    folder = out / inside.split("/")[0]
    before = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    capsys.readouterr()
    steps.clear()
    assert real_main(args) == 2
    err = capsys.readouterr().err
    assert "kgrec did not write" in err and inside.split("/", 1)[1] in err, err
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == before
    assert (out / inside).read_text() == "mine\n"
    assert steps == []  # no step ran


def test_folders_whose_names_start_with_a_dash_are_given_to_the_steps_as_paths(
    steps, tmp_path, monkeypatch, capsys
):
    """``--data=-d/ml-100k --out=-q`` (relative folders named with a leading "-"): each step
    took them for options ("kgrec load recbole: error: the following arguments are required:
    path") and the quickstart stopped at its first step; they are passed, and printed, as
    ./-d/ml-100k and ./-q/... (found by the sec43 review)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-d").mkdir()
    tiny_ml100k(tmp_path / "-d" / "ml-100k")
    args = ["quickstart", "--data=-d/ml-100k", "--out=-q", "--epochs", "1"]
    assert real_main(args) == 0, capsys.readouterr().err
    assert steps[0][:3] == ["load", "recbole", "./-d/ml-100k"]
    assert steps[-1][:3] == ["recommend", "--run", "./-q/lightgcn"]
    assert "$ kgrec load recbole ./-d/ml-100k " in capsys.readouterr().out
    assert (tmp_path / "-q" / "lightgcn" / "metrics.json").exists()


def test_each_step_is_printed_as_a_shell_runs_it(steps, tmp_path, capsys):
    """Each step is printed as the `kgrec` command it runs, to be run again from the shell;
    folders with a space in their names were printed unquoted (`--store local:/my
    runs/store`), a command that runs something else (found by the misc60 review)."""
    (tmp_path / "my data").mkdir()
    data = tiny_ml100k(tmp_path / "my data" / "ml-100k")
    out = tmp_path / "my runs"
    assert real_main(["quickstart", "--data", str(data), "--out", str(out), "--epochs", "1"]) == 0
    printed = [
        shlex.split(line[len("$ kgrec ") :])
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("$ kgrec ")
    ]
    assert printed == steps and len(printed) == 5


@pytest.mark.parametrize("linked", ["store", "lightgcn"])
def test_a_link_in_out_to_a_store_or_run_is_refused_not_followed(linked, steps, tmp_path, capsys):
    """A quickstart's store or run moved away and linked back (to a larger disk, or kept):
    the next quickstart removed it with shutil.rmtree, which refused the link with a bare
    OSError traceback ("Cannot call rmtree on a symbolic link"); it is refused, naming it,
    and what it links to stays (found by the sec43 review)."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    args = ["quickstart", "--data", str(data), "--out", str(out), "--epochs", "1"]
    assert real_main(args) == 0
    kept = tmp_path / "kept"
    (out / linked).rename(kept)
    (out / linked).symlink_to(kept)
    before = sorted(p.name for p in kept.iterdir())
    ran = len(steps)
    capsys.readouterr()
    assert real_main(args) == 2
    err = capsys.readouterr().err
    assert f"{out / linked} is a link" in err and "Traceback" not in err
    assert sorted(p.name for p in kept.iterdir()) == before
    assert (out / linked).is_symlink() and len(steps) == ran  # no step ran


def test_a_link_at_the_marker_is_replaced_not_written_through(steps, tmp_path, capsys):
    """A link planted at OUT/.kgrec-quickstart (a folder from elsewhere): the quickstart
    wrote its marker into the file the link points to, a file of the user's."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    out.mkdir()
    mine = tmp_path / "mine.txt"
    mine.write_text("mine\n")
    (out / ".kgrec-quickstart").symlink_to(mine)
    args = ["quickstart", "--data", str(data), "--out", str(out), "--epochs", "1"]
    assert real_main(args) == 0, capsys.readouterr().err
    assert mine.read_text() == "mine\n"
    marker = out / ".kgrec-quickstart"
    assert not marker.is_symlink() and "lightgcn" in marker.read_text()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--epochs", "0"),
        ("--epochs", "-1"),
        ("--users", "-1"),
        ("--seed", "-1"),
        ("--seed", str(2**63)),
    ],
)
def test_a_bad_number_is_refused_before_any_step(option, value, steps, tmp_path, capsys):
    """`--epochs 0` (and `--seed -1`, a seed numpy does not take) was refused only by kgrec
    train, after the earlier quickstart's store and run had been removed and the load and embed
    steps had run and written the store; `--users -1` showed every user but the last."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    assert real_main(["quickstart", "--data", str(data), "--out", str(out), option, value]) == 2
    assert option in capsys.readouterr().err
    assert steps == [] and not out.exists()


def test_an_out_that_is_a_file_is_refused(steps, tmp_path, capsys):
    """An --out that is a file stopped the quickstart with a bare FileExistsError traceback."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    out.write_text("mine\n")
    assert real_main(["quickstart", "--data", str(data), "--out", str(out)]) == 2
    assert str(out) in capsys.readouterr().err
    assert out.read_text() == "mine\n" and steps == []


def test_an_out_below_a_file_is_refused(steps, tmp_path, capsys):
    """An --out inside a file (`--out FILE/sub`) stopped the quickstart with a bare
    NotADirectoryError traceback."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    mine = tmp_path / "mine"
    mine.write_text("mine\n")
    out = mine / "sub"
    assert real_main(["quickstart", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and str(out) in err
    assert mine.read_text() == "mine\n" and steps == []


def test_an_out_it_cannot_write_in_is_refused(steps, tmp_path, monkeypatch, capsys):
    """An --out that exists but that kgrec may not write in (a read-only folder) stopped the
    quickstart with a PermissionError traceback (exit 1) as it wrote its marker; it is now an
    error naming --out and the reason (exit 2), before any step."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    out.mkdir()

    def refuse(path, write, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("kgrec.commands.quickstart.write_atomic", refuse)
    assert real_main(["quickstart", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: cannot write in it (Permission denied)" in err
    assert steps == [] and list(out.iterdir()) == []


def test_a_run_of_the_users_own_beside_a_quickstarts_is_never_deleted(steps, tmp_path, capsys):
    """The marker of an earlier quickstart in --out vouched for every store and run there: a
    run the user trained into it afterwards (`kgrec train --out OUT/ease`, as the quickstart
    shows) was deleted by `kgrec quickstart --model ease`."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    args = ["quickstart", "--data", str(data), "--out", str(out)]
    assert real_main([*args, "--epochs", "1"]) == 0
    train = ["train", "--model", "ease", "--protocol", "ml100k-kg", "--data", str(data)]
    assert real_main([*train, "--domain", "movies", "--out", str(out / "ease")]) == 0
    before = sorted(p.name for p in (out / "ease").iterdir())
    capsys.readouterr()
    steps.clear()
    assert real_main([*args, "--model", "ease"]) == 2
    assert "no kgrec quickstart made it" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "ease").iterdir()) == before
    assert steps == []
    # what the quickstarts made there they still replace
    assert real_main([*args, "--epochs", "1"]) == 0, capsys.readouterr().err


# a first load into the store folder sys.argv[1], which does THEN once its first table file is
# in place, before its manifest (as tests/store/test_local_store.py's)
_FIRST_LOAD = """
import os, signal, sys, time, pandas as pd
from kgrec.store import LocalStore
from graph_schema.tables import GraphTables
graph = GraphTables(users=pd.DataFrame({"user_id": pd.Series(["a"], dtype="string")}))
real, moved = os.replace, []
def replace(src, dst):
    real(src, dst)
    moved.append(dst)
    if len(moved) == 1:
        THEN
os.replace = replace
LocalStore(sys.argv[1]).write(graph, progress=False)
"""


def test_a_quickstart_killed_in_its_first_load_goes_on(steps, tmp_path, capsys):
    """Before, the store of a quickstart killed during its first load was refused by the next
    quickstart as "not written by kgrec (no manifest.json)"; then as "an unfinished first
    load" to delete by hand. It holds kgrec's own files alone, in a folder the quickstart's
    marker names: the next quickstart replaces it, and says so."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".kgrec-quickstart").write_text("ease\nstore\n")
    script = _FIRST_LOAD.replace("THEN", "os.kill(os.getpid(), signal.SIGKILL)")
    done = subprocess.run([sys.executable, "-c", script, str(out / "store")], capture_output=True)
    assert done.returncode == -9, done.stderr
    assert not (out / "store" / "manifest.json").exists()
    capsys.readouterr()
    args = ["quickstart", "--data", str(data), "--out", str(out), "--model", "ease"]
    assert real_main(args) == 0
    err = capsys.readouterr().err
    assert f"{out / 'store'}: an earlier quickstart's unfinished first load" in err
    assert (out / "store" / "manifest.json").exists()


def test_a_quickstart_beside_a_first_load_under_way_says_so(steps, tmp_path, capsys):
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".kgrec-quickstart").write_text("lightgcn\nstore\n")
    script = _FIRST_LOAD.replace("THEN", "print('moved', flush=True); time.sleep(60)")
    load = subprocess.Popen(
        [sys.executable, "-c", script, str(out / "store")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert load.stdout.readline() == "moved\n"
        capsys.readouterr()
        assert real_main(["quickstart", "--data", str(data), "--out", str(out)]) == 2
    finally:
        load.kill()
        load.wait(timeout=60)
    err = capsys.readouterr().err
    assert f"{out / 'store'} is being loaded now by another process" in err
    assert f"pid {load.pid}" in err and steps == []


# a kgrec train into the run folder sys.argv[2] on the data sys.argv[1], which does THEN as it
# writes run.json (after the split and experiment.pt: a quickstart's train step stopped there)
_TRAIN = """
import os, signal, sys, time
import kgrec.experiment
from kgrec.cli import main
write = kgrec.experiment._write_json
def _write_json(path, info):
    if path.name == "run.json":
        THEN
    write(path, info)
kgrec.experiment._write_json = _write_json
main(["train", "--model", "ease", "--protocol", "ml100k-kg", "--data", sys.argv[1],
      "--domain", "movies", "--out", sys.argv[2]])
"""


def test_a_quickstart_killed_in_its_train_step_goes_on(steps, tmp_path, capsys):
    """Before, the run folder of a quickstart whose kgrec train was killed before it wrote
    run.json was refused by the next quickstart as "not written by kgrec (no run.json)", and
    the quickstart's store had been deleted already. It holds kgrec train's own files alone:
    the next quickstart replaces it, and says so."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    args = ["quickstart", "--data", str(data), "--out", str(out), "--model", "ease"]
    assert real_main(args) == 0
    script = _TRAIN.replace("THEN", "os.kill(os.getpid(), signal.SIGKILL)")
    run = out / "ease"
    shutil.rmtree(run)
    done = subprocess.run([sys.executable, "-c", script, str(data), str(run)], capture_output=True)
    assert done.returncode == -9, done.stderr
    names = sorted(p.name for p in run.iterdir())
    assert "experiment.pt" in names and "run.json" not in names
    capsys.readouterr()
    assert real_main(args) == 0
    err = capsys.readouterr().err
    assert f"{run}: an earlier quickstart's unfinished run" in err
    assert (run / "run.json").exists()


def test_a_quickstart_beside_a_train_under_way_says_so(steps, tmp_path, capsys):
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".kgrec-quickstart").write_text("ease\nstore\n")
    script = _TRAIN.replace("THEN", "print('writing', flush=True); time.sleep(60)")
    train = subprocess.Popen(
        [sys.executable, "-c", script, str(data), str(out / "ease")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert train.stdout.readline() == "writing\n"
        capsys.readouterr()
        assert (
            real_main(["quickstart", "--data", str(data), "--out", str(out), "--model", "ease"])
            == 2
        )
    finally:
        train.kill()
        train.wait(timeout=60)
    err = capsys.readouterr().err
    assert f"{out / 'ease'} is being trained now by another process" in err and steps == []


def test_an_empty_run_folder_of_a_quickstart_is_replaced(steps, tmp_path, capsys):
    """A quickstart's train killed before it wrote anything leaves an empty run folder; before,
    the next quickstart refused it as "not written by kgrec (no run.json)"."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    (out / "ease").mkdir(parents=True)
    (out / ".kgrec-quickstart").write_text("ease\nstore\n")
    args = ["quickstart", "--data", str(data), "--out", str(out), "--model", "ease"]
    assert real_main(args) == 0, capsys.readouterr().err
    assert (out / "ease" / "run.json").exists()


def test_a_quickstart_stopped_by_ctrl_c_in_its_first_load_goes_on(
    steps, tmp_path, capsys, monkeypatch
):
    """A first load stopped by Ctrl-C leaves nothing of the store (since 447c7eb, not even
    its lock file and folder); before, the next quickstart refused that folder as "an
    unfinished first load" to be deleted by hand (found by the diff37 review)."""
    from kgrec.store import LocalStore

    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".kgrec-quickstart").write_text("ease\nstore\n")

    def stopped(self, name, df):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(LocalStore, "_write_table", stopped)
        load = [
            "load",
            "recbole",
            str(data),
            "--domain",
            "movies",
            "--store",
            f"local:{out / 'store'}",
        ]
        assert real_main(load) == 130  # (Ctrl-C's exit status)
    assert not (out / "store").exists()
    capsys.readouterr()
    args = ["quickstart", "--data", str(data), "--out", str(out), "--model", "ease"]
    assert real_main(args) == 0, capsys.readouterr().err
    assert (out / "store" / "manifest.json").exists()


# holds the write lock of the local store sys.argv[1] (as a kgrec load, embed or publish into
# it does) until killed
_STORE_WRITE = """
import sys, time
from kgrec.store import LocalStore
with LocalStore(sys.argv[1]).load_lock():
    print("holding", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("busy", ["store", "run"])
def test_a_quickstart_beside_a_finished_write_under_way_deletes_nothing(
    busy, steps, tmp_path, capsys
):
    """Two quickstarts on one --out (or a kgrec load, embed or train into its store or run):
    the second deleted the store while another process wrote into it, or the run folder while
    its training went on past run.json (the epochs: a training's longest part), since only a
    store or run without manifest.json or run.json was checked for a writer. Both are now
    refused, naming the folder, before anything is removed (found by the conc43 review)."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    args = ["quickstart", "--data", str(data), "--out", str(out), "--model", "ease"]
    assert real_main(args) == 0
    if busy == "store":
        command = [sys.executable, "-c", _STORE_WRITE, str(out / "store")]
    else:
        script = _TRAIN.replace("THEN", "pass").replace(
            "    write(path, info)",
            "    write(path, info)\n"
            "    if path.name == 'run.json' and info.get('status') == 'training':\n"
            "        print('training', flush=True); time.sleep(60)",
        )
        shutil.rmtree(out / "ease")
        command = [sys.executable, "-c", script, str(data), str(out / "ease")]
    writer = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() in ("holding\n", "training\n")
        store_before = sorted(p.name for p in (out / "store").iterdir())
        run_before = sorted(p.name for p in (out / "ease").iterdir())
        capsys.readouterr()
        del steps[:]
        assert real_main(args) == 2
    finally:
        writer.kill()
        writer.wait(timeout=60)
    err = capsys.readouterr().err
    what = {"store": "being written now", "run": "being trained now"}[busy]
    assert f"{out / busy.replace('run', 'ease')} is {what} by another process" in err
    assert sorted(p.name for p in (out / "store").iterdir()) == store_before
    assert sorted(p.name for p in (out / "ease").iterdir()) == run_before
    assert steps == []


def test_epochs_is_a_budget_the_help_gives_its_default(steps, tmp_path, capsys):
    """`--epochs` is the most epochs trained (default 40), not a cap on the option: 41 runs.
    The help said "at most (40; ...)", which the README read as a cap."""
    data = tiny_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    args = ["quickstart", "--data", str(data), "--out", str(out), "--epochs", "41"]
    assert real_main(args) == 0, capsys.readouterr().err
    (train,) = [step for step in steps if step[0] == "train"]
    assert train[train.index("--epochs") + 1] == "41"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        real_main(["quickstart", "--help"])
    assert "at most this many epochs, a budget, not a limit (default 40" in " ".join(
        capsys.readouterr().out.split()
    )


def test_sample_explanations_say_where_entities_have_no_name(explain_graph, capsys):
    """ml-100k's knowledge graph names no entity, so the quickstart's explanations read "share
    the actor m.063gtr"; a note now says those are the graph's ids and how to load names
    (before: the ids with no word of what they are)."""
    import pandas as pd

    from kgrec.commands.quickstart import show_samples

    recommendations = pd.DataFrame(
        {"user_id": ["alice"], "item_uid": ["action:casino"], "score": [1.0], "rank": [1]}
    )
    show_samples(explain_graph, recommendations, users=1, store="local:out/store")
    out = capsys.readouterr().out
    assert "De Niro" in out and "entity ids" not in out
    explain_graph.entities["name"] = pd.Series([pd.NA, pd.NA], dtype="string")
    show_samples(explain_graph, recommendations, users=1, store="local:out/store")
    out = capsys.readouterr().out
    assert "share the actor deniro" in out, out
    assert "(deniro and the like are the knowledge graph's own entity ids" in out
    assert "kgrec load table NAMES --kind entities --store local:out/store" in out


def test_the_note_on_entity_ids_names_commands_that_work_as_printed(
    explain_graph, tmp_path, monkeypatch, capsys
):
    """The note's `kgrec load table NAMES --kind entities` named no store: run as printed, it
    loaded the names into $NEO4J_URI's database or ./kgrec-store, a store of its own, and the
    quickstart's explanations still showed the ids. Its commands now name the quickstart's
    store, and the `kgrec explain` it names shows the loaded name."""
    import pandas as pd

    from kgrec.commands.quickstart import show_samples
    from kgrec.store import open_store

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEO4J_URI", raising=False)
    store = "local:runs/quick start/store"  # relative, as the quickstart names it; quoted
    explain_graph.entities["name"] = pd.Series([pd.NA, pd.NA], dtype="string")
    with open_store(store) as opened:
        opened.write(explain_graph, progress=False)
    recommendations = pd.DataFrame(
        {"user_id": ["alice"], "item_uid": ["action:casino"], "score": [1.0], "rank": [1]}
    )
    show_samples(explain_graph, recommendations, users=1, store=store)
    note = " ".join(capsys.readouterr().out.split("(deniro and the like", 1)[1].split())
    load, explain = (shlex.split(command) for command in note.split("`")[1:4:2])
    assert load[:3] == ["kgrec", "load", "table"] and explain[:2] == ["kgrec", "explain"], note
    (tmp_path / "names.csv").write_text("entity_id,name\ndeniro,Robert De Niro\n")
    load[load.index("NAMES")] = "names.csv"
    assert main(load[1:]) == 0
    assert not (tmp_path / "kgrec-store").exists()  # the default store: not written
    capsys.readouterr()
    assert main(explain[1:]) == 0
    assert "share the actor Robert De Niro" in capsys.readouterr().out
