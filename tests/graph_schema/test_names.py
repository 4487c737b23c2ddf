"""Names spliced into Cypher are allow-listed and backtick-escaped."""

from __future__ import annotations

import pytest

from graph_schema import NODE_KINDS, REL_KINDS, escape_name, label, prop, rel_type
from graph_schema.names import UnsafeNameError


def test_escape_doubles_inner_backticks():
    assert escape_name("User") == "`User`"
    assert escape_name("a`b") == "`a``b`"
    assert escape_name("`) DETACH DELETE n //") == "```) DETACH DELETE n //`"


def test_graph_kinds_are_allowed():
    assert [label(k) for k in NODE_KINDS] == ["`User`", "`Item`", "`Entity`", "`Domain`"]
    assert [rel_type(k) for k in REL_KINDS] == [f"`{k}`" for k in REL_KINDS]
    assert prop("zip_code") == "`zip_code`" and prop("item_uid") == "`item_uid`"


@pytest.mark.parametrize(
    ("check", "name"),
    [
        (label, "Person"),
        (label, "User`) DETACH DELETE n //"),
        (label, "INTERACTED"),
        (rel_type, "film.film.actor"),  # relation names are data, never relationship types
        (rel_type, "User"),
        (prop, "two words"),
        (prop, "_line"),
        (prop, "a`b"),
        (prop, ""),
        (prop, "x" * 65),
    ],
)
def test_other_names_are_refused_with_the_value(check, name):
    with pytest.raises(UnsafeNameError) as caught:
        check(name)
    assert isinstance(caught.value, ValueError)
    assert repr(name) in str(caught.value)
