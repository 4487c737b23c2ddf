"""Bad values of the command line's options, from a fuzz of every option of every command
(session 62's review of the arguments): each is refused naming its option, exit code 2,
before any data is read or anything written."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgrec.cli import main


def _train(tmp_path: Path, *options: str) -> list[str]:
    """A ``kgrec train`` of a store that does not exist: only the checks made before the data
    is read can answer."""
    store = f"local:{tmp_path / 'no-such-store'}"
    argv = ["train", "--protocol", "ml1m-action-comedy", "--store", store]
    return [*argv, "--out", str(tmp_path / "run"), *options]


COLD_START = ["--model", "lightgcn-merged", "--cold-start-share", "0.2"]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (  # before: torch's RuntimeError (negative dimension), a traceback
            ["--model", "lightgcn", "--text-cl-weight", "0.1", "--text-cl-neighbours", "-1"],
            "field '--text-cl-neighbours': text_cl_neighbours must be positive, got -1",
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
