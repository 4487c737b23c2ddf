"""Small files written by the tests: a RecBole dataset ``toy`` and helpers to spoil it.

Tests take them as fixtures (``toy``, ``toy_files``, ``write_files``, ``spoil``,
``bad_recbole_case``, ``nasty_relations``); no test module imports from this one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TOY = {
    "toy.inter": (
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "u1\ti1\t5\t100\n"
        "u1\ti2\t3\t101\n"
        "u2\ti1\t4\t102\n"
        "u2\ti3\t2\t103\n"
        "u3\ti4\t1\t104\n"
    ),
    "toy.item": (
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\t"
        "budget:float\ttags:token_seq\tscores:float_seq\n"
        "i1\tToy Story\t1995\tAnimation Comedy\t30.0\tpixar fun\t1 2.5\n"
        "i2\tGoldenEye\t1995\tAction Adventure\t58.0\tbond\t\n"
        "i3\tSabrina\tunknown\tComedy Romance\t\t\t3\n"
        "i4\tHeat\t1995\tAction Crime Comedy\t60.0\t\t\n"
    ),
    "toy.user": "user_id:token\tage:token\tgender:token\nu1\t24\tF\nu2\t53\tM\nu3\t23\tM\n",
    "toy.kg": (
        "head_id:token\trelation_id:token\ttail_id:token\n"
        "e1\tfilm.film.actor\tp1\n"
        "e2\tfilm.film.actor\tp1\n"
        "p1\tpeople.person.spouse\tp2\n"
        "e4\tfilm.film.genre\tg1\n"
    ),
    "toy.link": "item_id:token\tentity_id:token\ni1\te1\ni2\te2\ni4\te4\n",
}


def _write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (name -> text, or bytes written as they are) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        (folder / name).write_bytes(data)
    return folder


def _spoil(tmp_path: Path, name: str, content: str | bytes, *, append: bool = True) -> Path:
    """The toy dataset with file ``name`` extended by (or replaced with) ``content``."""
    files: dict[str, str | bytes] = dict(TOY)
    if append:
        files[name] = TOY[name].encode() + (
            content if isinstance(content, bytes) else content.encode()
        )
    else:
        files[name] = content
    return _write_files(tmp_path / "bad" / "toy", files)


# (case, file to change, content, append?, line, field, message)
BAD_RECBOLE = [
    (
        "missing required column",
        "toy.inter",
        "user_id:token\trating:float\nu1\t3\n",
        False,
        1,
        "item_id",
        "required column",
    ),
    (
        "too few fields",
        "toy.inter",
        "u4\ti1\t5\n",
        True,
        7,
        "timestamp:float",
        "wrong number of fields",
    ),
    (
        "too many fields",
        "toy.link",
        "i3\te3\tx\n",
        True,
        5,
        "entity_id:token",
        "wrong number of fields",
    ),
    (
        "non-numeric rating",
        "toy.inter",
        "u4\ti1\tfive\t105\n",
        True,
        7,
        "rating:float",
        "not a number",
    ),
    ("empty file", "toy.user", "", False, None, None, "empty"),
    (
        # before the fix the row became two items, "Toy" and one called "Story"
        "carriage return inside a value",
        "toy.item",
        "i5\tToy\rStory\t1995\tDrama\t\t\t\n",
        True,
        6,
        "movie_title:token_seq",
        "carriage return",
    ),
    (
        # before the fix: a TypeError traceback (unhashable list) when rows were merged
        "id column declared a sequence",
        "toy.user",
        "user_id:token_seq\tage:token\nu1 u2\t24\n",
        False,
        1,
        "user_id:token_seq",
        "ids are token",
    ),
    (
        # before: the item's entity was the text of the list, "['e1', 'e9']"
        "item file's entity_id declared a sequence",
        "toy.item",
        "item_id:token\tentity_id:token_seq\ni1\te1 e9\n",
        False,
        1,
        "entity_id:token_seq",
        "ids are token",
    ),
    (
        # before: "not a number: [3.0, 4.0]" at line 2, naming the field 'rating'
        "rating declared a sequence",
        "toy.inter",
        "user_id:token\titem_id:token\trating:float_seq\nu1\ti1\t3 4\n",
        False,
        1,
        "rating:float_seq",
        "one number",
    ),
    (
        # before: the field 'rating', not the header's name
        "non-numeric rating declared token",
        "toy.inter",
        "user_id:token\titem_id:token\trating:token\nu1\ti1\tfive\n",
        False,
        2,
        "rating:token",
        "not a number",
    ),
    (
        "header only",
        "toy.kg",
        "head_id:token\trelation_id:token\ttail_id:token\n",
        False,
        1,
        None,
        "no data rows",
    ),
    (
        # before: the internal 'item_id', not the header's name (this case and the next two)
        "interaction names an unknown item",
        "toy.inter",
        "u1\ti99\t3\t1\n",
        True,
        7,
        "item_id:token",
        "i99",
    ),
    (
        # before: the column was dropped with an INFO line, and the ratings with it
        "rating column in other case",
        "toy.inter",
        "user_id:token\titem_id:token\tRating:float\nu1\ti1\t3\n",
        False,
        1,
        "Rating:float",
        "rating:float was meant?",
    ),
    (
        # before: 'a required column is missing' in field user_id, not naming User_ID
        "user id column in other case",
        "toy.inter",
        "User_ID:token\titem_id:token\nu1\ti1\n",
        False,
        1,
        "User_ID:token",
        "case-sensitive: user_id:token was meant?",
    ),
    (
        # before: kept as an attribute 'Entity_ID', the items tied to no entity (this case
        # and the next)
        "item file's entity id column in other case",
        "toy.item",
        "item_id:token\tEntity_ID:token\ni1\te1\ni2\te2\ni3\t\ni4\te4\n",
        False,
        1,
        "Entity_ID:token",
        "case-sensitive: entity_id:token was meant?",
    ),
    (
        "user file's user id column in other case",
        "toy.user",
        "User_ID:token\tage:token\nu1\t24\n",
        False,
        1,
        "User_ID:token",
        "case-sensitive: user_id:token was meant?",
    ),
    (
        # before: merged, the last link won and e1's triples stayed on an entity of their own
        "item linked to two entities",
        "toy.link",
        "i1\te9\n",
        True,
        5,
        "entity_id:token",
        "item 'i1' is linked to a second entity, 'e9'",
    ),
    (
        # before: the rows were merged, the last entity won, e1's triples on an Entity of its own
        "item file ties an item to two entities",
        "toy.item",
        "item_id:token\tentity_id:token\ni1\te1\ni2\te2\ni3\t\ni4\te4\ni1\te9\n",
        False,
        6,
        "entity_id:token",
        "item 'i1' is tied to a second entity, 'e9'",
    ),
    ("link names an unknown item", "toy.link", "i99\te9\n", True, 5, "item_id:token", "i99"),
    (
        "empty required id",
        "toy.inter",
        "u4\t\t5\t105\n",
        True,
        7,
        "item_id:token",
        "a required value is empty",
    ),
    (
        "not UTF-8",
        "toy.item",
        b"i5\tCaf\xe9\t1990\tDrama\t\t\t\n",
        True,
        6,
        "movie_title:token_seq",
        "UTF-8",
    ),
]


# Relation names that would break Cypher if they were ever spliced into it.
NASTY = ["a`b", "it's", 'say "x"', "two\nlines", "x]->(n) DETACH DELETE n //"]


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """The folder of the RecBole dataset ``toy`` (all five atomic files)."""
    return _write_files(tmp_path / "toy", TOY)


@pytest.fixture
def toy_files() -> dict[str, str]:
    """The toy dataset's files (name -> text), a fresh copy a test may change."""
    return dict(TOY)


@pytest.fixture
def write_files():
    """``write_files(folder, files)``: write ``files`` (name -> text or bytes) into ``folder``."""
    return _write_files


@pytest.fixture
def spoil():
    """``spoil(tmp_path, name, content, append=True)``: the toy dataset with one file spoilt."""
    return _spoil


@pytest.fixture(params=BAD_RECBOLE, ids=[case[0] for case in BAD_RECBOLE])
def bad_recbole_case(request) -> tuple:
    """One bad RecBole dataset (a test runs once per case):
    (file to change, content, append?, line, field, message)."""
    return request.param[1:]


@pytest.fixture
def nasty_relations() -> list[str]:
    """Relation names that would break Cypher if they were ever spliced into it."""
    return list(NASTY)
