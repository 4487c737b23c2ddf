"""The Python API refuses an empty or blank path, naming the argument's option, as the command
line's options do (``kgrec.commands.options.path_option``): before, ``""`` was ``Path('.')``,
the working folder (``download("ml-100k", dest="")`` fetched into it, ``recbole.load("")``
read the dataset there), and ``"  "`` a folder named by blanks."""

from __future__ import annotations

import pytest

from kgrec.errors import InputError


def _download(path):
    from kgrec.download import download

    download("ml-100k", path, base_url="http://127.0.0.1:1", timeout=1)


def _train(name):
    def call(path):
        from kgrec.experiment import train

        paths = {"out": "run", "data": "data", name: [path] if name == "distill_from" else path}
        train("lightgcn", protocol="ml100k-kg", epochs=1, **paths)

    return call


def _tune(name):
    def call(path):
        from kgrec.tune import tune

        paths = {"out": "study", "data": "data", name: [path] if name == "distill_from" else path}
        tune("lightgcn", protocol="ml100k-kg", trials=1, **paths)

    return call


def _load_run(path):
    from kgrec.experiment import load_run

    load_run(path)


def _embed_store(path):
    from kgrec.text.embed import embed_store

    embed_store("local:store", cache=path, model="no/such-model")


def _recbole(path):
    from loaders import recbole

    recbole.load(path)


CALLS = {
    "download dest": (_download, "--dest"),
    "train out": (_train("out"), "--out"),
    "train data": (_train("data"), "--data"),
    "train split": (_train("split"), "--split"),
    "train init_from": (_train("init_from"), "--init-from"),
    "train distill_from": (_train("distill_from"), "--distill-from"),
    "tune out": (_tune("out"), "--out"),
    "tune data": (_tune("data"), "--data"),
    "tune split": (_tune("split"), "--split"),
    "tune init_from": (_tune("init_from"), "--init-from"),
    "tune distill_from": (_tune("distill_from"), "--distill-from"),
    "load_run": (_load_run, "--run"),
    "embed_store cache": (_embed_store, "--cache"),
    "recbole.load": (_recbole, "path"),
}


@pytest.mark.parametrize("value", ["", "  "])
@pytest.mark.parametrize("call", list(CALLS))
def test_an_empty_or_blank_path_is_refused_naming_its_option(call, value, tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)  # a dataset in the working folder, read by ""
    (work / "data.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    (work / "work.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    monkeypatch.chdir(work)
    function, field = CALLS[call]
    with pytest.raises(InputError, match="a path may not be empty or blank") as raised:
        function(value)
    assert raised.value.field == field
    assert sorted(p.name for p in work.iterdir()) == ["data", "data.inter", "work.inter"]


@pytest.mark.parametrize("value", [5, 2.5, b"run"])
@pytest.mark.parametrize("call", list(CALLS))
def test_a_path_that_is_neither_text_nor_a_path_is_refused_naming_its_option(
    call, value, tmp_path, monkeypatch
):
    # before: pathlib's "expected str, bytes or os.PathLike object, not int", naming nothing
    monkeypatch.chdir(tmp_path)
    function, field = CALLS[call]
    with pytest.raises(InputError, match=r"a path is text or a pathlib\.Path, got") as raised:
        function(value)
    assert raised.value.field == field
    assert not list(tmp_path.iterdir())
