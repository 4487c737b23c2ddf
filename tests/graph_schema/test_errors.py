"""graph_schema.errors: how a message names some of many values."""

import numpy as np

from graph_schema.errors import FEW, few


def test_few_names_the_first_values_quoted_and_says_when_there_are_more():
    assert few([]) == ""
    assert few(["u1"]) == "'u1'"
    assert few([f"u{i}" for i in range(FEW)]) == ", ".join(f"'u{i}'" for i in range(FEW))
    assert few(f"u{i}" for i in range(FEW + 1)) == (
        ", ".join(f"'u{i}'" for i in range(FEW)) + ", ..."
    )
    # NumPy strings (a pandas index, a sorted array) read as the plain text
    assert few(np.array(["a", "b"])) == "'a', 'b'"
