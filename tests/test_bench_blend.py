"""bench/blend.py: two trained runs of one split blended, scored as kgrec scores a model."""

from __future__ import annotations

import json
import sys

import pytest

from kgrec.errors import run_script
from kgrec.experiment import train


@pytest.fixture(scope="module")
def runs(tmp_path_factory, write_tiny):
    """LightGCN (2 epochs) and EASE on the tiny dataset's split of seed 0, and EASE on seed 1's."""
    folder = tmp_path_factory.mktemp("blend")
    data = write_tiny(folder / "tiny")
    common = {"protocol": "ml1m-action-comedy", "data": data, "progress": False}
    found = {
        "lightgcn": train("lightgcn", out=folder / "lgcn-s0", epochs=2, dim=8, **common),
        "ease": train("ease", out=folder / "ease-s0", **common),
        "ease-s1": train("ease", out=folder / "ease-s1", seed=1, **common),
    }
    return {name: run.folder for name, run in found.items()}


def blend(bench, monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """bench/blend.py's exit code, stdout and stderr with ``args``."""
    monkeypatch.setattr(sys, "argv", ["blend.py", "--threads", "1", *map(str, args)])
    with pytest.raises(SystemExit) as stop:
        run_script(bench.main)
    captured = capsys.readouterr()
    return stop.value.code, captured.out, captured.err


def test_the_weights_1_and_0_give_each_runs_own_figure(
    tmp_path, runs, bench_script, monkeypatch, capsys
):
    bench = bench_script("blend")
    first, second = runs["lightgcn"], runs["ease"]
    saved = {
        name: json.loads((folder / "metrics.json").read_text())["test"]["all"]["ndcg@20"]
        for name, folder in (("first", first), ("second", second))
    }
    for weight, name in (("1.0", "first"), ("0.0", "second")):
        out = tmp_path / f"w{weight}.json"
        argv = ["--first", first, "--second", second, "--weights", weight, "--out", out]
        code, said, _ = blend(bench, monkeypatch, capsys, *argv)
        assert code == 0
        assert f"chosen weight {weight} (validation ndcg@20 " in said
        record = json.loads(out.read_text())
        assert record["weight"] == float(weight) and record["runs"]["first"] == [str(first)]
        (row,) = record["test"]
        assert row["blend"]["all"] == row[name]["all"] == saved[name]
    # several weights: the one of the best validation figure is chosen, its line marked
    out = tmp_path / "w.json"
    argv = ["--first", first, "--second", second, "--baseline", first, "--out", out]
    code, said, _ = blend(bench, monkeypatch, capsys, *argv, "--weights", "0.3,0.7,1.0")
    assert code == 0
    record = json.loads(out.read_text())
    best = max(record["valid"], key=record["valid"].get)
    assert str(record["weight"]) == best and f"chosen weight {best} (" in said
    marked = [line for line in said.splitlines() if line.endswith("<- chosen")]
    assert marked == [f"  w {best}: {record['valid'][best]:.4f}  <- chosen"]
    (row,) = record["test"]
    assert row["baseline"] == row["first"] and row["first"]["all"] == saved["first"]
    assert "blend − baseline, all: " in said and "blend − first, all: " in said


def test_runs_of_another_split_are_refused_naming_both(runs, bench_script, monkeypatch, capsys):
    bench = bench_script("blend")
    first, other = runs["lightgcn"], runs["ease-s1"]
    code, said, err = blend(bench, monkeypatch, capsys, "--first", first, "--second", other)
    assert code == 2 and "chosen weight" not in said
    assert f"file {other / 'run.json'}, field 'split_digest': {other} was trained on " in err
    assert f"another split than {first} (" in err


def test_lists_of_other_lengths_are_refused_naming_the_unpaired(
    tmp_path, runs, bench_script, monkeypatch, capsys
):
    bench = bench_script("blend")
    first, second, third = runs["lightgcn"], runs["ease"], runs["ease-s1"]
    argv = ["--first", first, "--second", second, third, "--out", tmp_path / "f.json"]
    code, said, err = blend(bench, monkeypatch, capsys, *argv)
    assert code == 2 and said == "" and not (tmp_path / "f.json").exists()
    assert f"--first has 1 run(s), --second 2: runs are paired by position; {third} unpaired" in err


def test_an_existing_out_is_refused_and_kept(tmp_path, bench_script, monkeypatch, capsys):
    bench = bench_script("blend")
    mine = tmp_path / "figures.json"
    mine.write_text("mine")
    argv = ["--first", tmp_path / "a", "--second", tmp_path / "b", "--out", mine]
    code, said, err = blend(bench, monkeypatch, capsys, *argv)
    assert code == 2 and said == "" and mine.read_text() == "mine"
    assert f"{mine} exists; the figures are never written over a file" in err


def test_a_k_above_the_ranked_items_is_refused(runs, bench_script, monkeypatch, capsys):
    """The tiny split ranks 30 comedies: not a ValueError traceback from the ranking."""
    bench = bench_script("blend")
    first, second = runs["lightgcn"], runs["ease"]
    argv = ["--first", first, "--second", second, "--metric", "ndcg@40"]
    code, said, err = blend(bench, monkeypatch, capsys, *argv)
    assert code == 2 and "chosen weight" not in said
    assert f"file {first}: --metric ndcg@40: k is above the 30 items it ranks" in err


def test_the_metric_is_read_once_as_kgrec_names_it(
    tmp_path, runs, bench_script, monkeypatch, capsys
):
    """``--metric ndcg@020`` is ndcg@20: before, its k was read again where the figures were
    looked up under the text as given, which kgrec's figures never name (a TypeError of None)."""
    bench = bench_script("blend")
    first, second = runs["lightgcn"], runs["ease"]
    out = tmp_path / "f.json"
    argv = ["--first", first, "--second", second, "--weights", "1.0", "--out", out]
    code, said, _ = blend(bench, monkeypatch, capsys, *argv, "--metric", "ndcg@020")
    assert code == 0
    assert "chosen weight 1.0 (validation ndcg@20 " in said and "test ndcg@20, blend" in said
    record = json.loads(out.read_text())
    saved = json.loads((first / "metrics.json").read_text())["test"]["all"]["ndcg@20"]
    assert record["metric"] == "ndcg@20" and record["test"][0]["blend"]["all"] == saved


@pytest.mark.parametrize("metric", ["ndcg@²", "ndcg@2²", "ndcg@⁴", "ndcg@x", "ndcg@0", "ndcg@-1"])
def test_a_metric_of_no_whole_k_is_refused_naming_the_option(
    bench_script, monkeypatch, capsys, metric
):
    """``--metric ndcg@²``: before, argparse's own "invalid metric_option value" (str.isdigit
    takes '²', int() refuses it), as for every digit that is no decimal one (found by the
    small49 review)."""
    bench = bench_script("blend")
    code, said, err = blend(
        bench, monkeypatch, capsys, "--first", "a", "--second", "b", "--metric", metric
    )
    assert code == 2 and said == ""
    assert "argument --metric: expected NAME@K, NAME one of " in err
    assert f"K a whole number from 1: {metric!r}" in err and "invalid" not in err


def test_a_metric_of_other_decimal_digits_is_read_as_kgrec_names_it(bench_script):
    """Digits int() reads (Arabic-Indic, full-width) are K, as in kgrec's whole-number options
    (``--epochs``), and the figure is named in ASCII. K is no count handed to torch or OpenMP
    (as ``$OMP_NUM_THREADS`` and ``cuda:N`` are, which read ASCII digits only): read here as
    kgrec's command line reads a whole number (the rel50 review's question)."""
    from kgrec.cli import build_parser

    bench = bench_script("blend")
    assert str(bench.metric_option("ndcg@٢٠")) == str(bench.metric_option("ndcg@２０")) == "ndcg@20"
    argv = ["train", "--model", "mf", "--out", "x", "--protocol", "ml100k-kg", "--data", "d"]
    epochs = build_parser(argv).parse_args([*argv, "--epochs", "٣"]).epochs
    assert bench.metric_option("ndcg@٣").k == epochs == 3
