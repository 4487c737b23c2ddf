"""Names that reach Cypher: node labels, relationship types and property names.

Values always travel as ``$parameters``; a *name* cannot, so every name spliced into a Cypher
statement goes through :func:`label`, :func:`rel_type` or :func:`prop`, which check it against
the graph's allow-list and return it backtick-escaped. A relation name from data (for example
``film.film.actor``) is never a name: it is the ``relation`` property of a ``RELATED``
relationship.
"""

from __future__ import annotations

import re

from graph_schema.tables import NODE_KINDS, REL_KINDS

# Property names: the table columns and attribute columns (e.g. `zip_code`, `age`), and node
# properties written later (e.g. an embedding). A leading underscore is private to the loaders.
PROPERTY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# Property names of this prefix are kgrec's own: a large replacement of vectors is staged under
# one (kgrec.store.queries.staging_property), which the Neo4j store leaves out of a snapshot and
# clears before staging. An attribute or vectors of such a name would be lost.
RESERVED_PREFIX = "kgrec_staging_"
# what a property name may be, for messages
PROPERTY_RULE = (
    f"ASCII letters, digits and '_', a letter first, not starting with {RESERVED_PREFIX!r}"
)


class UnsafeNameError(ValueError):
    """A label, relationship type or property name that is not on the graph's allow-list."""

    def __init__(self, kind: str, name: object, allowed: str) -> None:
        self.kind, self.name = kind, name
        super().__init__(f"{kind} {name!r} is not allowed in Cypher (allowed: {allowed})")


def escape_name(name: str) -> str:
    """``name`` as a Cypher identifier: in backticks, inner backticks doubled."""
    return "`" + name.replace("`", "``") + "`"


def is_property_name(name: object) -> bool:
    """Whether ``name`` may be a property name (and so an attribute column of a table): of
    :data:`PROPERTY_PATTERN`, and not of kgrec's own :data:`RESERVED_PREFIX`."""
    return (
        isinstance(name, str)
        and PROPERTY_PATTERN.fullmatch(name) is not None
        and not name.startswith(RESERVED_PREFIX)
    )


def label(name: str) -> str:
    """The escaped Cypher text of node label ``name`` (one of NODE_KINDS)."""
    if name not in NODE_KINDS:
        raise UnsafeNameError("node label", name, ", ".join(NODE_KINDS))
    return escape_name(name)


def rel_type(name: str) -> str:
    """The escaped Cypher text of relationship type ``name`` (one of REL_KINDS)."""
    if name not in REL_KINDS:
        raise UnsafeNameError("relationship type", name, ", ".join(REL_KINDS))
    return escape_name(name)


def prop(name: str) -> str:
    """The escaped Cypher text of property ``name`` (letters, digits, ``_``; a letter first)."""
    if not is_property_name(name):
        raise UnsafeNameError("property name", name, PROPERTY_RULE)
    return escape_name(name)
