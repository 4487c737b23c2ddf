"""bench/train.py, bench/evaluate.py and bench/embed.py: numbers that cannot be are refused
before ml-1m is read (the data folder here does not exist: the refusal must come first)."""

from __future__ import annotations

import sys

import pytest


@pytest.mark.parametrize(
    ("script", "option"),
    [
        ("train", "--epochs"),
        ("train", "--batch-size"),
        ("train", "--dim"),
        ("train", "--layers"),
        ("evaluate", "--repeat"),
        ("evaluate", "--user-batch"),
        ("embed", "--batch-size"),
        ("embed", "--threads"),
    ],
)
def test_a_count_below_1_is_refused_first(
    script, option, bench_script, monkeypatch, tmp_path, capsys
):
    """Before, `bench/train.py --epochs 0` read ml-1m, then fit's ValueError traceback ended
    it (exit 1), `bench/evaluate.py --repeat 0` evaluated nothing and ended in min()'s,
    `bench/embed.py --batch-size 0` read ml-1m and the language model, then the encoder's
    ValueError ended it, and `bench/embed.py --threads 0` was ignored."""
    module = bench_script(script)
    argv = [f"{script}.py", "--data", str(tmp_path / "none"), "--threads", "1", option, "0"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        module.main()
    assert stop.value.code == 2
    assert f"{option} must be at least 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(("models", "unknown"), [("lightgcn,nosuch", "nosuch"), ("lightgcn,", "")])
def test_an_unknown_model_is_refused_first(
    models, unknown, bench_script, monkeypatch, tmp_path, capsys
):
    """Before, `bench/evaluate.py --models` named a model that is not there (or ended in a
    comma) after ml-1m was read, as "field '--model'"."""
    module = bench_script("evaluate")
    argv = ["evaluate.py", "--data", str(tmp_path / "none"), "--threads", "1", "--models", models]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        module.main()
    assert stop.value.code == 2
    assert f"--models: unknown model {unknown!r}" in capsys.readouterr().err


def test_bench_embed_refuses_more_threads_than_torch_takes_first(
    bench_script, monkeypatch, tmp_path
):
    """Before, `bench/embed.py --threads 99999999999999999999` ended in torch.set_num_threads's
    traceback (ValueError: Overflow when unpacking long long) (found by the rev50 review)."""
    from kgrec.errors import InputError
    from kgrec.threads import most_threads

    module = bench_script("embed")
    argv = ["embed.py", "--data", str(tmp_path / "none"), "--threads", "99999999999999999999"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(InputError) as raised:
        module.main()
    most, why = most_threads()  # this machine's
    assert f"threads must be at most {most}, {why}" in str(raised.value)
    assert raised.value.field == "--threads"
