"""Domain rules: split one load's items into domains by an item attribute (e.g. genres).

An item goes to the one domain whose value set its attribute meets, when it meets no other
domain's set; an item that meets none, or several, is left out (with its interactions).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from graph_schema.errors import InputError, few
from graph_schema.tables import DOMAIN_PATTERN

if TYPE_CHECKING:  # imported where a rule is applied: kgrec load's parser reads RULES
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainRule:
    """``domains`` maps each domain name to the attribute values that put an item there."""

    attribute: str
    domains: tuple[tuple[str, frozenset[str]], ...]

    def __post_init__(self) -> None:
        if not self.domains:
            raise InputError("a domain rule needs at least one domain", field="--domain-rule")
        for name, values in self.domains:
            if not DOMAIN_PATTERN.fullmatch(name):
                raise InputError(
                    f"domain name {name!r} must match {DOMAIN_PATTERN.pattern}",
                    field="--domain-rule",
                )
            if not values:
                raise InputError(f"domain {name!r} has no values", field="--domain-rule")
        seen: dict[str, str] = {}
        for name, values in self.domains:
            for value in sorted(values):
                if value in seen:  # an item with it would meet both and be left out
                    raise InputError(
                        f"the value {value!r} is under two domains, {seen[value]!r} and "
                        f"{name!r}: an item with it would meet both and be left out; give each "
                        "value one domain",
                        field="--domain-rule",
                    )
                seen[value] = name

    def on_columns(
        self,
        items: pd.DataFrame,
        names: Mapping[str, str] | None = None,
        *,
        header: int | None = None,
    ) -> DomainRule:
        """The rule on the column of ``items`` its attribute names: the column itself
        (``genres``), or as the items file names it, ``names`` mapping each column to that
        (``load table --genres-col kind``: ``kind``; a RecBole header's ``class:token_seq``, or
        without its type, ``class``). An attribute naming none is an error at the file's
        header line ``header``, listing the names a rule may use.
        """
        from graph_schema.validate import FILE, PRIVATE

        names = names or {}
        if self.attribute in items:
            return self
        columns = [c for c in items.columns if c not in PRIVATE]
        written = {c: names.get(c, c) for c in columns}
        for column, name in written.items():
            if self.attribute in (name, name.partition(":")[0]):
                return replace(self, attribute=column)
        short = ", ".join(n.partition(":")[0] for n in written.values())
        typed = any(":" in n for n in written.values())
        raise InputError(
            f"the domain rule needs the item attribute {self.attribute!r}, which the items do "
            f"not have; a rule may name {short}"
            + (" (with or without the header's :type)" if typed else ""),
            file=str(items[FILE].iloc[0]) if FILE in items and len(items) else None,
            line=header,
            field=self.attribute,
        )

    def assign(
        self,
        items: pd.DataFrame,
        *,
        names: Mapping[str, str] | None = None,
        header: int | None = None,
    ) -> pd.Series:
        """The domain of each item (aligned with ``items``), null for items left out.

        The attribute may hold lists (genres) or single values. A rule that leaves out every
        item is an error (a load that would keep nothing). ``names``: the items file's name of
        each column where it is not the internal one, the rule's attribute may be and messages
        use (:meth:`on_columns`); ``header``: the line of the file's header, where a missing
        attribute is reported.
        """
        import pandas as pd

        from graph_schema.merge import as_text, is_number
        from graph_schema.validate import FILE

        column = self.on_columns(items, names, header=header).attribute
        field = (names or {}).get(column, column)
        values = items[column].reset_index(drop=True).explode()
        # compared as text, as the rule is written: a year 1995 meets "1995"; and a number as a
        # number, as the file may write it: a budget 30.0 (a RecBole float) meets "30.0", "30"
        text = pd.Series(
            [None if pd.isna(v) else as_text(v) for v in values], index=values.index, dtype=object
        )
        numbers = pd.Series(
            [float(v) if is_number(v) else float("nan") for v in values],
            index=values.index,
            dtype="float64",
        )
        meets = {
            name: (text.isin(list(accepted)) | numbers.isin(_numbers(accepted)))
            .groupby(level=0)
            .any()
            .to_numpy()
            for name, accepted in self.domains
        }
        count = sum(m.astype(int) for m in meets.values())
        domain = pd.Series(pd.NA, index=items.index, dtype="string")
        for name, met in meets.items():
            domain[met & (count == 1)] = name
        if len(items) and domain.isna().all():
            found = few(values.dropna().astype(str).value_counts().index)
            raise InputError(
                f"the domain rule keeps no item: none of the {len(items):,} items has "
                f"{field!r} values of exactly one domain "
                f"({'; '.join(f'{n}: {few(sorted(v))}' for n, v in self.domains)}); the items "
                f"have e.g. {found or 'no values'}",
                file=str(items[FILE].iloc[0]) if FILE in items else None,
                field="--domain-rule",
            )
        kept = set(domain.dropna())
        empty = [(n, v) for n, v in self.domains if n not in kept]
        if len(items) and empty:  # a misspelt value ('Thrillr'): the pair has one domain
            found = few(values.dropna().astype(str).value_counts().index)
            log.warning(
                "%sthe domain rule keeps no item in domain(s) %s: no item has %r values of "
                "exactly that domain (%s); the items have e.g. %s",
                f"{items[FILE].iloc[0]}: " if FILE in items else "",
                ", ".join(repr(n) for n, _ in empty),
                field,
                "; ".join(f"{n}: {few(sorted(v))}" for n, v in empty),
                found or "no values",
            )
        return domain


def _numbers(accepted: frozenset[str]) -> list[float]:
    """The values of a rule that are numbers (``30.0``, ``2.50``, ``1e2``), as floats."""
    import math

    out = []
    for value in accepted:
        try:
            number = float(value)
        except ValueError:
            continue
        if math.isfinite(number):
            out.append(number)
    return out


# Domain sets of ../shared/eval/PROTOCOL.md (ml1m-action-comedy).
_ACTION = [
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
]
_COMEDY = ["Comedy", "Romance", "Children's", "Animation", "Musical"]

RULES = {
    "ml1m-action-comedy": DomainRule(
        "genres", (("action", frozenset(_ACTION)), ("comedy", frozenset(_COMEDY)))
    ),
}


def named_rule(name: str) -> DomainRule:
    """The rule called ``name`` (see ``RULES``)."""
    if name not in RULES:
        raise InputError(
            f"no domain rule named {name!r} (named rules: {', '.join(RULES)}; or write one as "
            "'genres:action=Action,Adventure;comedy=Comedy,Romance')",
            field="--domain-rule",
        )
    return RULES[name]


def parse_rule(text: str) -> DomainRule:
    """A rule written ``ATTRIBUTE:DOMAIN=V1,V2;DOMAIN=V3,...``.

    The attribute ends at the last ``:`` before the first ``=`` (a domain name holds no ``:``),
    so it may be a RecBole header's ``name:type`` (``class:token_seq:action=Action``).
    """
    head, equals, rest = text.partition("=")
    attribute, _, domain = head.rpartition(":")
    spec = domain + equals + rest
    domains = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, equals, values = part.partition("=")
        if not equals:
            raise InputError(
                f"domain rule {text!r}: {part!r} is not DOMAIN=VALUE,VALUE", field="--domain-rule"
            )
        accepted = frozenset(v.strip() for v in values.split(",") if v.strip())
        domains.append((name.strip(), accepted))
    if not attribute.strip() or not domains:
        raise InputError(
            f"domain rule {text!r} is not ATTRIBUTE:DOMAIN=VALUE,VALUE;DOMAIN=...",
            field="--domain-rule",
        )
    names = [n for n, _ in domains]
    if len(set(names)) != len(names):
        raise InputError(f"domain rule {text!r} names a domain twice", field="--domain-rule")
    return DomainRule(attribute.strip(), tuple(domains))


def resolve_rule(text: str) -> DomainRule:
    """A named rule, or a rule written out (it contains ``:``)."""
    return parse_rule(text) if ":" in text else named_rule(text)
