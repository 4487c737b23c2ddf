"""Ids and paths given as arguments (graph_schema.arguments): read as before session 46, when
they lived in graph_schema.validate, without importing numpy, pandas or pyarrow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graph_schema import validate
from graph_schema.arguments import id_argument, id_arguments, path_argument
from kgrec.errors import InputError


def test_the_argument_parsers_read_ids_and_paths_without_numpy():
    # kgrec load --help imported pandas, numpy and pyarrow (0.4 s of CPU) to read these
    script = (
        "import sys; import graph_schema.arguments\n"
        "print(*(m in sys.modules for m in ('numpy', 'pandas', 'pyarrow')))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_validate_gives_them_as_before():
    assert validate.id_argument is id_argument
    assert validate.id_arguments is id_arguments
    assert validate.path_argument is path_argument


@pytest.mark.parametrize(
    ("value", "expected"),
    [(" 1 ", "1"), ("a", "a"), (7, "7"), (np.int64(7), "7"), (np.uint8(2), "2")],
)
def test_an_id_is_text_or_an_integer(value, expected):
    assert id_argument(value, "user") == expected


@pytest.mark.parametrize("value", [True, np.bool_(True), 1.0, np.float64(1), None, b"1"])
def test_another_value_is_no_id(value):
    with pytest.raises(InputError, match=r"field 'user': an id is text \(or an integer\)"):
        id_argument(value, "user")


def test_an_empty_id_or_path_is_refused():
    with pytest.raises(InputError, match="field 'user': an id may not be empty"):
        id_argument(" ", "user")
    with pytest.raises(InputError, match="field 'users': a list of ids is expected"):
        id_arguments("u1", "users")
    assert id_arguments([np.int64(3), " u "], "users") == ["3", "u"]
    with pytest.raises(InputError, match="field '--dest': a path may not be empty or blank"):
        path_argument(Path(" "), "--dest")
    assert path_argument(None, "--dest") is None
