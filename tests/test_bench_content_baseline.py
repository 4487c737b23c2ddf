"""bench/content_baseline.py: similarity baselines reading what the content student reads."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from kgrec.errors import InputError, run_script
from kgrec.experiment import train
from loaders import recbole
from loaders.rules import named_rule


@pytest.fixture
def text_store(tmp_path, write_text_store) -> str:
    """60 action and 60 comedy films with years and genres, 120 users with 20-40 ratings: enough
    held-out new comedies for new-only figures."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "films"
    folder.mkdir()
    films = [(f"Action {j}", 1980 + j % 20, "Action Thriller") for j in range(60)]
    films += [
        (f"Comedy {j}", 1980 + j % 20, "Comedy Romance" if j % 2 else "Comedy") for j in range(60)
    ]
    lines = ["item_id:token\trelease_year:token\tgenre:token"]
    lines += [f"{title}\t{year}\t{genres}" for title, year, genres in films]
    (folder / "films.item").write_text("\n".join(lines) + "\n")
    rows = ["user_id:token\titem_id:token\trating:float"]
    for u in range(120):
        for j in rng.choice(len(films), size=int(rng.integers(20, 41)), replace=False):
            rows.append(f"u{u}\t{films[j][0]}\t4")
    (folder / "films.inter").write_text("\n".join(rows) + "\n")
    tables = recbole.load(folder, domain_rule=named_rule("ml1m-action-comedy"))
    return write_text_store(tmp_path / "store", tables)


def new_items_run(store: str, out, model: str, **options):
    return train(
        model=model, protocol="ml1m-new-items", store=store, progress=False, out=out, **options
    )


def test_the_baselines_of_a_student_run(tmp_path, text_store, bench_script):
    bench = bench_script("content_baseline")
    run = new_items_run(
        text_store,
        tmp_path / "r",
        "lightgcn",
        cold_items="student",
        epochs=2,
        dim=8,
        batch_size=128,
    )
    saved = json.loads((run.folder / "metrics.json").read_text())
    # the tiny split holds out fewer than 20 new items: the largest k it has
    ks = [int(key[5:]) for key in saved["test"]["new-only"] if key.startswith("ndcg@")]
    assert ks, (saved["test"]["new-only"], saved["valid"]["new-only"])
    metric = f"ndcg@{max(ks)}"
    found = bench.baselines(run.folder, metric)
    assert found["student"] == saved["test"]["new-only"][metric]
    for history in ("all", "target"):
        figures = found[history]
        assert figures["weight"] in bench.WEIGHTS
        valid = figures["valid_by_weight"]
        assert valid[str(figures["weight"])] == max(valid.values())
        assert 0 <= figures["text"] <= 1 and 0 <= figures["text+attributes"] <= 1
    # with every domain's history, the text alone is `--model text-similarity`'s figure
    baseline = new_items_run(text_store, tmp_path / "text", "text-similarity")
    text = json.loads((baseline.folder / "metrics.json").read_text())
    assert found["all"]["text"] == pytest.approx(text["test"]["new-only"][metric])
    table = bench.report([found])
    assert table.splitlines()[2].startswith("| r | ")


def test_a_run_without_a_student_is_refused(
    tmp_path, text_store, bench_script, monkeypatch, capsys
):
    """Exit 2 with the message, as the other refusals (before: SystemExit's exit 1)."""
    bench = bench_script("content_baseline")
    run = new_items_run(text_store, tmp_path / "p", "popularity")
    monkeypatch.setattr(sys, "argv", ["content_baseline.py", str(run.folder), "--threads", "1"])
    with pytest.raises(SystemExit) as stop:
        run_script(bench.main)
    assert stop.value.code == 2
    assert "not a run with a content student" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"test": {"new-only": {"ndcg@20"', "not a finished run's metrics (Expecting"),
        ('{"test": {"new-only": {"ndcg@10": 0.1}}}', "field 'test.new-only.ndcg@20': no figure"),
        ('{"test": {"new-only": null}}', "field 'test.new-only.ndcg@20': no figure"),
    ],
)
def test_a_student_figure_that_is_not_there_is_named(tmp_path, bench_script, text, says):
    """Before, a KeyError or JSONDecodeError traceback, after the run was loaded (a tiny
    split's new-only figures stop below k = 20)."""
    bench = bench_script("content_baseline")
    path = tmp_path / "metrics.json"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        bench.student_figure(path, "ndcg@20")
    assert f"file {path}" in str(error.value) and says in str(error.value)


def test_an_out_below_a_file_is_refused_first(tmp_path, bench_script, monkeypatch, capsys):
    """Before, every run's baselines were computed and the table printed, then
    write_atomic's FileExistsError traceback (exit 1): the figures were not written."""
    bench = bench_script("content_baseline")
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    argv = ["content_baseline.py", str(tmp_path / "run"), "--out", str(mine / "f.json")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        bench.main()
    assert stop.value.code == 2
    assert f"--out {mine / 'f.json'}: {mine} is a file, not a folder" in capsys.readouterr().err
