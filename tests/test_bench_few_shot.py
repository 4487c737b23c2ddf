"""bench/few_shot.py: the few-shot table and curve from run folders (metrics.json only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def few_shot(bench_script):
    return bench_script("few_shot")


def write_run(folder: Path, *, cold: float | None, few: float | None, warm: float) -> None:
    folder.mkdir(parents=True)
    test = {"warm": {"ndcg@20": warm}, "cold": None, "few-shot": None}
    if cold is not None:
        test["cold"] = {"ndcg@20": cold}
    if few is not None:
        test["few-shot"] = {"ndcg@20": few}
    (folder / "metrics.json").write_text(json.dumps({"valid": {}, "test": test}))


def test_k0_reads_cold_users_and_k_above_reads_few_shot_users(tmp_path, few_shot):
    for seed, (lgm, cd) in enumerate([(0.50, 0.52), (0.40, 0.39)]):
        write_run(tmp_path / f"lgm-k0-s{seed}", cold=lgm, few=None, warm=0.2)
        write_run(tmp_path / f"cd-k0-s{seed}", cold=cd, few=None, warm=0.3)
        write_run(tmp_path / f"lgm-k3-s{seed}", cold=None, few=lgm + 0.1, warm=0.2)
        write_run(tmp_path / f"cd-k3-s{seed}", cold=0.9, few=cd + 0.1, warm=0.3)
    (tmp_path / "notes").mkdir()  # other folders are ignored
    found = few_shot.collect(tmp_path)
    assert set(found) == {("lgm", 0), ("cd", 0), ("lgm", 3), ("cd", 3)}
    assert found[("cd", 3)][0]["users"] == pytest.approx(0.62)  # few-shot, not cold
    table = few_shot.report(found, "lgm")
    assert (
        "| cross-domain model | 3 | 0,1 | 0.5550 ± 0.0919 | 0.6200, 0.4900 | +0.0200, -0.0100 |"
        in table
    )
    assert table.index("merged LightGCN | 0") < table.index("cross-domain model | 0")
    import matplotlib.pyplot as plt

    figures = plt.get_fignums()
    few_shot.plot(found, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 0
    assert plt.get_fignums() == figures  # before, pyplot kept the figure open: one per call


def test_the_cold_start_runs_are_named_and_another_label_is_shown_as_it_is(tmp_path, few_shot):
    for model in ("lgmcs", "cdkd", "lgmkd", "mine"):
        write_run(tmp_path / f"{model}-k1-s0", cold=None, few=0.5, warm=0.3)
    table = few_shot.report(few_shot.collect(tmp_path), "lgmcs")
    assert "| paired − merged LightGCN, cold-start training |" in table.splitlines()[0]
    assert "| cross-domain, distilled | 1 | 0 |" in table
    assert "| merged LightGCN, distilled (control) | 1 | 0 |" in table
    assert "| mine | 1 | 0 |" in table


def test_a_folder_without_runs_exits_2(tmp_path, few_shot, capsys):
    assert few_shot.main([str(tmp_path)]) == 2
    assert "no <model>-k<K>-s<seed> run" in capsys.readouterr().err


@pytest.mark.parametrize("plot", ["missing/curve.png", "."])
def test_a_plot_path_that_cannot_be_written_is_refused_first(plot, tmp_path, few_shot, capsys):
    """Before, the table was printed, then matplotlib's FileNotFoundError (a missing folder)
    or IsADirectoryError traceback ended it (exit 1)."""
    write_run(tmp_path / "runs" / "lgm-k3-s0", cold=None, few=0.5, warm=0.6)
    assert few_shot.main([str(tmp_path / "runs"), "--plot", str(tmp_path / plot)]) == 2
    captured = capsys.readouterr()
    assert f"--plot {tmp_path / plot}" in captured.err and captured.out == ""


def test_an_existing_plot_is_replaced_only_with_force(tmp_path, few_shot, capsys):
    """Before, --plot replaced an existing PNG silently (a user's file, or the committed one)."""
    write_run(tmp_path / "runs" / "lgm-k3-s0", cold=None, few=0.5, warm=0.6)
    png = tmp_path / "curve.png"
    png.write_bytes(b"mine")
    assert few_shot.main([str(tmp_path / "runs"), "--plot", str(png)]) == 2
    captured = capsys.readouterr()
    assert f"--plot {png}: the file exists; --force replaces it" in captured.err
    assert captured.out == "" and png.read_bytes() == b"mine"
    assert few_shot.main([str(tmp_path / "runs"), "--plot", str(png), "--force"]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"test": {"few-shot": {"ndcg@20": 0.5', "not JSON (Expecting"),
        ('{"test": {"few-shot": {"ndcg@20": 0.5}}}', "no field test.warm"),
        ('{"test": {"few-shot": {"ndcg@20": 0.5}, "warm": {}}}', "no field test.warm.ndcg@20"),
        ('{"test": {"few-shot": {"ndcg@20": "0.5"}, "warm": {"ndcg@20": 0.2}}}', "is not a number"),
        ('{"test": {"few-shot": [0.5], "warm": {"ndcg@20": 0.2}}}', "not a group of figures"),
        ("[]", "no field test"),
    ],
)
def test_a_damaged_metrics_file_is_named_exit_2(tmp_path, few_shot, capsys, text, says):
    """Before, a metrics.json cut short or edited by hand ended in a JSONDecodeError,
    KeyError or TypeError traceback (exit 1)."""
    write_run(tmp_path / "lgm-k0-s0", cold=0.5, few=None, warm=0.2)
    (tmp_path / "lgm-k3-s0").mkdir()
    (tmp_path / "lgm-k3-s0" / "metrics.json").write_text(text)
    assert few_shot.main([str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert f"{tmp_path / 'lgm-k3-s0' / 'metrics.json'}: " in captured.err
    assert says in captured.err and captured.out == ""


def test_a_baseline_with_no_runs_is_refused_naming_the_labels(tmp_path, few_shot, capsys):
    """Before, --baseline of a label RUNS has no run of (a typo: lgmc for lgmcs) printed the
    table with its paired column empty on every row, exit 0."""
    for model in ("lgmcs", "cdkd"):
        write_run(tmp_path / f"{model}-k1-s0", cold=None, few=0.5, warm=0.3)
    assert few_shot.main([str(tmp_path), "--baseline", "lgmc"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"--baseline lgmc: {tmp_path} has no run of that model label (it has cdkd, lgmcs)" in (
        captured.err
    )
    assert few_shot.main([str(tmp_path), "--baseline", "lgmcs"]) == 0
    assert few_shot.main([str(tmp_path)]) == 0  # the default, lgm, pairs nothing here, as before
