"""Domain rules: an item goes to the one domain whose values it meets when it meets no other's."""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.errors import InputError
from loaders.rules import DomainRule, named_rule, parse_rule, resolve_rule


def test_ml1m_action_comedy_is_the_protocol_partition():
    rule = named_rule("ml1m-action-comedy")
    domains = dict(rule.domains)
    assert rule.attribute == "genres"
    assert domains["action"] == {
        "Action",
        "Adventure",
        "Sci-Fi",
        "Thriller",
        "War",
        "Western",
        "Crime",
        "Horror",
        "Mystery",
        "Film-Noir",
        "Fantasy",
    }
    assert domains["comedy"] == {"Comedy", "Romance", "Children's", "Animation", "Musical"}


def test_assign_meets_exactly_one_domain():
    items = pd.DataFrame(
        {
            "genres": [
                ["Action", "Drama"],  # A only
                ["Comedy"],  # B only
                ["Action", "Comedy"],  # both: left out
                ["Drama"],  # neither: left out
                [],
                None,
            ]
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    assigned = named_rule("ml1m-action-comedy").assign(items)
    assert list(assigned.index) == [10, 11, 12, 13, 14, 15]
    assert assigned.tolist()[:2] == ["action", "comedy"]
    assert assigned.iloc[2:].isna().all()


def test_written_rule_has_the_same_semantics_and_works_on_single_values():
    rule = parse_rule("kind: books=Novel, Poetry ; films=Film")
    assert rule == DomainRule(
        "kind", (("books", frozenset({"Novel", "Poetry"})), ("films", frozenset({"Film"})))
    )
    items = pd.DataFrame({"kind": ["Novel", "Film", "Song"]})
    assert rule.assign(items).tolist()[:2] == ["books", "films"]
    assert pd.isna(rule.assign(items).iloc[2])
    assert resolve_rule("genres:a=X") == parse_rule("genres:a=X")
    assert resolve_rule("ml1m-action-comedy") is named_rule("ml1m-action-comedy")


def test_a_rule_on_numbers_compares_them_as_text():
    # before the fix Int64 years never equalled the rule's "1995": every item was left out
    rule = parse_rule("year:old=1995;new=1996")
    items = pd.DataFrame({"year": pd.array([1995, 1996, None, 1997], dtype="Int64")})
    assert rule.assign(items).tolist()[:2] == ["old", "new"]
    assert rule.assign(items).iloc[2:].isna().all()
    floats = pd.DataFrame({"score": [2.0, 2.5]})
    assert parse_rule("score:two=2;half=2.5").assign(floats).tolist() == ["two", "half"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no-such-rule", "no domain rule named"),
        ("genres:", "is not ATTRIBUTE"),
        (":a=X", "is not ATTRIBUTE"),
        ("genres:a", "not DOMAIN=VALUE"),
        ("genres:a=X;a=Y", "twice"),
        ("genres:bad name=X", "must match"),
        ("genres:a=", "has no values"),
        ("year:old=1995;old2=1996,1995", "the value .1995. is under two domains, .old. and .old2."),
    ],
)
def test_bad_rules_are_input_errors(text, message):
    with pytest.raises(InputError, match=message) as caught:
        resolve_rule(text)
    assert caught.value.field == "--domain-rule"


def test_rule_needs_its_attribute():
    with pytest.raises(InputError, match="genres"):
        named_rule("ml1m-action-comedy").assign(pd.DataFrame({"item_id": ["1"]}))


def test_a_domain_the_rule_gives_no_item_is_warned_of(caplog):
    # before the fix a misspelt value ('Thrillr') silently left the pair with one domain:
    # the load said nothing, and lightgcn-merged trained on one domain as if on two
    items = pd.DataFrame({"genres": [["Drama"], ["Thriller"], ["Drama", "Comedy"]]})
    with caplog.at_level("WARNING", logger="loaders.rules"):
        assigned = parse_rule("genres:drama=Drama;thriller=Thrillr").assign(items)
    assert assigned.tolist()[::2] == ["drama", "drama"]
    (record,) = [r for r in caplog.records if r.name == "loaders.rules"]
    assert record.levelname == "WARNING"
    message = record.getMessage()
    assert "keeps no item in domain(s) 'thriller'" in message
    assert "thriller: 'Thrillr'" in message and "'Thriller'" in message
    caplog.clear()
    with caplog.at_level("WARNING", logger="loaders.rules"):
        parse_rule("genres:drama=Drama;thriller=Thriller").assign(items)
    assert not [r for r in caplog.records if r.name == "loaders.rules"]


@pytest.mark.parametrize("attribute", ["class", "class:token_seq"])
def test_a_rule_may_name_a_column_with_or_without_its_recbole_type(attribute):
    # before, 'class:token_seq:action=...' was cut at its first ':' and refused: "domain
    # name 'token_seq:action' must match ..."
    rule = parse_rule(f"{attribute}:action=Action;comedy=Comedy,Romance")
    assert rule == DomainRule(
        attribute,
        (("action", frozenset({"Action"})), ("comedy", frozenset({"Comedy", "Romance"}))),
    )
    assert resolve_rule(f"{attribute}:a=X:Y").domains == (("a", frozenset({"X:Y"})),)


def test_a_number_attribute_meets_a_rule_value_written_as_the_file_writes_it():
    """Before, values were compared as kgrec writes numbers as text (30.0 as "30"): a rule on a
    RecBole float column written as the file has it (`budget:cheap=30.0,2.50;dear=1e2`) kept
    no item, the error saying that the items have e.g. '30.0'."""
    items = pd.DataFrame({"budget": [30.0, 2.5, 100.0, 7.0], "code": ["30.0", "30", "007", "7"]})
    rule = parse_rule("budget:cheap=30.0,2.50;dear=1e2")
    assert rule.assign(items).tolist()[:3] == ["cheap", "cheap", "dear"]
    assert pd.isna(rule.assign(items).iloc[3])
    rule = parse_rule("budget:cheap=30,2.5;dear=100")  # as before
    assert rule.assign(items).tolist()[:3] == ["cheap", "cheap", "dear"]
    # text is compared as text: "007" is not 7, "30" not "30.0"
    assert parse_rule("code:a=7;b=30").assign(items).fillna("-").tolist() == ["-", "b", "-", "a"]
