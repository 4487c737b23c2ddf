"""The named evaluation protocols (PROTOCOL.md): what :mod:`kgrec.data.split` splits by.

They live in this module, which imports neither torch nor pandas, so that the argument parsers
(``kgrec split --protocol``, ``kgrec train --help``) offer them without loading either.
"""

from __future__ import annotations

from dataclasses import dataclass

from kgrec.errors import InputError


@dataclass(frozen=True)
class Protocol:
    """A named evaluation protocol (PROTOCOL.md)."""

    name: str
    target_domain: str  # used when the graph has it; a one-domain graph's domain otherwise
    source_domain: str | None = None  # set: cold-start users drawn from the overlapping ones
    domain_rule: str | None = None  # the named rule that makes the domains from raw files
    cold_valid_share: float = 0.1
    cold_test_share: float = 0.2
    new_item_share: float = 0.0  # > 0: that share of the target items is held out of train


PROTOCOLS = {
    "ml100k-kg": Protocol("ml100k-kg", target_domain="movies"),
    "ml1m-action-comedy": Protocol(
        "ml1m-action-comedy",
        target_domain="comedy",
        source_domain="action",
        domain_rule="ml1m-action-comedy",
    ),
    "ml100k-new-items": Protocol("ml100k-new-items", target_domain="movies", new_item_share=0.2),
    "ml1m-new-items": Protocol(
        "ml1m-new-items",
        target_domain="comedy",
        domain_rule="ml1m-action-comedy",
        new_item_share=0.2,
    ),
}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise InputError(
            f"unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})", field="--protocol"
        )
    return PROTOCOLS[name]
