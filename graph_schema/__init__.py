"""The shared graph's schema: canonical tables, their validation, names safe for Cypher, and
the Neo4j constraints and indexes (``schema.cypher``)."""

from __future__ import annotations

from importlib.resources import files

from graph_schema.names import escape_name, label, prop, rel_type
from graph_schema.tables import (
    DOMAIN_PATTERN,
    GRAPH_TABLES,
    NODE_KINDS,
    REL_KINDS,
    SPECS,
    GraphTables,
    TableSpec,
    item_uid,
)
from graph_schema.validate import cast_spec_columns, validate_graph, validate_table

__all__ = [
    "DOMAIN_PATTERN",
    "GRAPH_TABLES",
    "NODE_KINDS",
    "REL_KINDS",
    "SPECS",
    "GraphTables",
    "TableSpec",
    "cast_spec_columns",
    "escape_name",
    "item_uid",
    "label",
    "prop",
    "rel_type",
    "schema_statements",
    "validate_graph",
    "validate_table",
]


def schema_statements() -> list[str]:
    """The statements of ``schema.cypher`` (constraints and indexes, each ``IF NOT EXISTS``)."""
    text = files("graph_schema").joinpath("schema.cypher").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
