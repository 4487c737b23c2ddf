"""`kgrec quickstart` without data says how to get it."""

from __future__ import annotations

from kgrec.cli import main


def test_no_data_says_how_to_get_it(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("KGREC_DATA", raising=False)
    assert main(["quickstart", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "KGREC_DATA" in err and "kgrec download ml-100k" in err
    assert not (tmp_path / "out").exists()


def test_empty_data_folder_names_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KGREC_DATA", str(tmp_path))
    (tmp_path / "ml-100k").mkdir()
    assert main(["quickstart", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "ml-100k") in err and "kgrec download ml-100k" in err


def test_the_main_job_runs_end_to_end_on_ml100k(monkeypatch, datasets, tmp_path, capsys):
    monkeypatch.setenv("KGREC_DATA", str(datasets))
    out = tmp_path / "out"
    assert main(["quickstart", "--out", str(out), "--epochs", "1", "--users", "2"]) == 0
    printed = capsys.readouterr().out
    assert "test   all      943" in printed  # the metrics table
    assert printed.count("because you interacted with") >= 2  # explained recommendations
    assert (out / "lightgcn" / "metrics.json").exists()
