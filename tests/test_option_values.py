"""Bad values of the command line's options, from a fuzz of every option of every command
(session 62's review of the arguments): each is refused naming its option, exit code 2,
before any data is read or anything written."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph_schema.errors import InputError
from kgrec.cli import main


def _train(tmp_path: Path, *options: str) -> list[str]:
    """A ``kgrec train`` of a store that does not exist: only the checks made before the data
    is read can answer."""
    store = f"local:{tmp_path / 'no-such-store'}"
    argv = ["train", "--protocol", "ml1m-action-comedy", "--store", store]
    return [*argv, "--out", str(tmp_path / "run"), *options]


COLD_START = ["--model", "lightgcn-merged", "--cold-start-share", "0.2"]
TEXT_CL = ["--model", "lightgcn", "--text-cl-weight", "0.1"]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (  # before: torch's RuntimeError (negative dimension), a traceback
            [*TEXT_CL, "--text-cl-neighbours", "-1"],
            "field '--text-cl-neighbours': text_cl_neighbours must be positive, got -1",
        ),
        (  # before: field '--objective', torch's overflow with its C++ stack as the message
            [*TEXT_CL, "--text-cl-neighbours", "99999999999999999999"],
            "field '--text-cl-neighbours': training does not fit in memory",
        ),
        (  # before: field '--cold-start-share'
            [*COLD_START, "--cold-start-weight", "0"],
            "field '--cold-start-weight': cold_start_weight must be positive, got 0.0",
        ),
        (
            [*COLD_START, "--cold-start-weight", "-1"],
            "field '--cold-start-weight': cold_start_weight must be positive, got -1.0",
        ),
    ],
)
def test_a_number_out_of_its_bounds_is_refused_naming_its_option(
    tmp_path, capsys, options, says
) -> None:
    assert main(_train(tmp_path, *options)) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "no-such-store").exists()


@pytest.mark.parametrize("command", ["train", "tune"])
@pytest.mark.parametrize("name", ["", "  ", "text-vectors"])
def test_a_text_property_that_is_no_property_name_is_refused_before_the_store(
    tmp_path, capsys, command, name
) -> None:
    """Before, the store was opened first (a store that is not there said so), and the error
    named the argument 'property', where kgrec embed refuses its --property at once."""
    argv = _train(tmp_path, "--model", "lightgcn", "--text-input", "add", "--text-property", name)
    argv[0] = command
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"field '--text-property': --text-property {name!r}: ASCII letters" in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "no-such-store").exists()


@pytest.mark.parametrize(
    ("kind", "header", "option"),
    [
        ("interactions", "user_id,item_id,rating", "--rating-col"),
        ("interactions", "user_id,item_id,rating", "--user-col"),
        ("items", "item_id,title", "--title-col"),
        ("entities", "entity_id,name", "--name-col"),
    ],
)
def test_an_empty_column_is_refused_not_read_as_the_default(
    tmp_path, capsys, kind, header, option
) -> None:
    """Before, ``--rating-col "$UNSET"`` loaded the file's column ``rating``, the default, as
    if the option were not given (as an empty --sep was, which is refused)."""
    table = tmp_path / "table.csv"
    table.write_text(f"{header}\n" + ",".join(["a", "b", "4"][: header.count(",") + 1]) + "\n")
    store = tmp_path / "store"
    argv = ["load", "table", str(table), "--kind", kind, "--store", f"local:{store}", option, ""]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"field '{option}': a column name may not be empty (leave {option} out" in err
    assert not store.exists()


LONG = "x" * 300  # a name longer than any file system takes (255 bytes)


TRAIN = ["train", "--model", "popularity", "--protocol", "ml100k-kg", "--data", "d"]


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        ([*TRAIN, "--out", LONG], "--out"),
        (["split", "--protocol", "ml100k-kg", "--data", "d", "--write-split", f"a/{LONG}"], None),
        (["download", "ml-100k", "--dest", f"a/{LONG}"], None),
        (["quickstart", "--out", "q", "--data", f"a/{LONG}"], None),
        (["load", "recbole", LONG, "--store", "local:s"], "path"),
        (["embed", "--store", "local:s", "--model", LONG], None),  # a folder or a model id
    ],
)
def test_a_name_too_long_for_a_file_system_is_refused_naming_its_option(
    tmp_path, monkeypatch, capsys, argv, option
) -> None:
    """Before, the first look at such a path (whether the run folder or the dataset is there)
    was the system's ``OSError: [Errno 36] File name too long``, a traceback."""
    monkeypatch.chdir(tmp_path)
    option = option or argv[-2]
    with pytest.raises(SystemExit) as exited:  # argparse's error
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: a file or folder name may be at most 255 bytes long, got " in err
    assert list(tmp_path.iterdir()) == []


def test_a_name_of_255_bytes_is_a_path() -> None:
    from graph_schema.arguments import path_argument

    assert path_argument("é" * 127 + "x", "--out") == "é" * 127 + "x"  # 255 bytes
    with pytest.raises(InputError, match="got one of 256 bytes") as raised:
        path_argument(Path("run") / ("é" * 128), "--out")
    assert raised.value.field == "--out"
