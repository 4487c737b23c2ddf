"""bench/foldin.py's checks of its options, on the tiny dataset (read as ml100k-kg reads it)."""

from __future__ import annotations

import json
import sys

import pytest


@pytest.fixture(scope="module")
def foldin(bench_script):
    return bench_script("foldin")


def run(foldin, monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["foldin.py", "--epochs", "1", "--patience", "1", *args])
    foldin.main()


@pytest.mark.parametrize(
    ("options", "says"),
    [
        # before: -0.1 drew 90 % of the users as newcomers (randperm[:-n]), silently
        (("--share", "-0.1"), "--share is the newcomers' share of users, in (0, 1); got -0.1"),
        # before: no newcomers, then a KeyError
        (("--share", "0"), "--share is the newcomers' share of users, in (0, 1); got 0.0"),
        (("--share", "1"), "in (0, 1); got 1.0"),
        # a share too small to draw one newcomer of the tiny dataset's 40 users
        (("--share", "0.001"), "--share 0.001 of 40 users makes 0 newcomers"),
        # before: model B was trained for A's best epoch, 0: "epochs must be positive, got 0"
        (("--model", "popularity"), "--model popularity learns no embeddings by training"),
        (("--model", "ease"), "--model ease learns no embeddings by training"),
        # before: a KeyError traceback where the protocol's newcomers need a model of every domain
        (("--protocol", "ml1m-action-comedy", "--model", "nosuch"), "invalid choice: 'nosuch'"),
        # before: ml-100k was read, then fit's ValueError traceback (exit 1)
        (("--epochs", "0"), "--epochs must be at least 1, got 0"),
        (("--patience", "-2"), "--patience must be at least 1, got -2"),
        # before: the data was read, then fit's ValueError traceback (exit 1)
        (("--lr", "-1"), "--lr must be positive, at most 3.403e+38; got -1.0"),
        (("--lr", "0"), "--lr must be positive, at most 3.403e+38; got 0.0"),
        (("--lr", "nan"), "--lr must be positive, at most 3.403e+38; got nan"),
        # ml100k-kg's newcomers are a share of its one domain's users
        (("--target-domain", "action"), "apply to --protocol ml1m-action-comedy"),
        # before: ignored, the split's cold-start users folded in as without it
        (
            ("--protocol", "ml1m-action-comedy", "--model", "lightgcn-merged", "--share", "0.3"),
            "--share applies to --protocol ml100k-kg; ml1m-action-comedy's newcomers are",
        ),
    ],
)
def test_bad_options_exit_2_with_a_message(
    foldin, tiny_recbole, tmp_path, monkeypatch, capsys, options, says
):
    out = tmp_path / "figures.json"
    with pytest.raises(SystemExit) as stop:
        run(foldin, monkeypatch, "--data", str(tiny_recbole), "--out", str(out), *options)
    assert stop.value.code == 2
    assert says in capsys.readouterr().err
    assert not out.exists()


def test_an_out_below_a_file_is_refused_first(foldin, tiny_recbole, tmp_path, monkeypatch, capsys):
    """Before, both models were trained and the table printed, then write_atomic's
    FileExistsError traceback (exit 1): the figures were not written."""
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    with pytest.raises(SystemExit) as stop:
        run(foldin, monkeypatch, "--data", str(tiny_recbole), "--out", str(mine / "f.json"))
    assert stop.value.code == 2
    assert f"--out {mine / 'f.json'}: {mine} is a file, not a folder" in capsys.readouterr().err
    assert mine.read_text() == "mine"


def test_users_new_to_the_target_domain_are_folded_in_from_their_other_domain(
    foldin, tiny_recbole, tmp_path, monkeypatch, capsys
):
    """ml1m-action-comedy: the newcomers are the split's cold-start users, folded into a model
    of every domain from their action ratings, each positive against its own domain's items;
    a row gives the fold-in before session 38 (every negative a comedy)."""
    out = tmp_path / "figures.json"
    run(
        foldin,
        monkeypatch,
        *("--protocol", "ml1m-action-comedy", "--model", "lightgcn-merged"),
        *("--data", str(tiny_recbole), "--out", str(out)),
    )
    figures = json.loads(out.read_text())
    assert figures["protocol"] == "ml1m-action-comedy" and figures["newcomers"] > 0
    assert {"solve_test", "mean_test", "solve_target_negatives_test"} <= set(figures)
    assert "solve, target negatives" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        run(foldin, monkeypatch, "--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole))
    assert stop.value.code == 2
    assert "give a model of every domain" in capsys.readouterr().err


def test_another_pair_folds_in_users_new_to_its_target_domain(
    foldin, tiny_recbole, tmp_path, monkeypatch
):
    """--target-domain reverses the pair: the newcomers are new to the action films."""
    out = tmp_path / "figures.json"
    run(
        foldin,
        monkeypatch,
        *("--protocol", "ml1m-action-comedy", "--model", "lightgcn-merged"),
        *("--target-domain", "action", "--data", str(tiny_recbole), "--out", str(out)),
    )
    figures = json.loads(out.read_text())
    assert figures["target_domain"] == "action" and figures["newcomers"] > 0
    assert figures["solve_test"] > 0


def test_each_model_shows_its_epochs_as_it_trains(
    foldin, tiny_recbole, tmp_path, monkeypatch, capsys
):
    """Before, nothing was shown until model A had trained, then B (minutes each on ml-1m)."""
    run(foldin, monkeypatch, "--data", str(tiny_recbole), "--epochs", "2", "--patience", "2")
    captured = capsys.readouterr()
    for name in ("A", "B"):
        assert f"model {name}:" in captured.err and "ndcg@20=" in captured.err
    assert "model A: " in captured.out  # its line once trained, as before
