"""The shared graph's schema: canonical tables, their validation, names safe for Cypher, and
the Neo4j constraints and indexes (``schema.cypher``).

Names are imported lazily: :mod:`graph_schema.errors` (which ``kgrec`` imports for every
command, ``kgrec --help`` too) needs neither pandas nor pyarrow, which validation imports.
"""

from __future__ import annotations

from importlib.resources import files

from graph_schema.lazy import lazy_names

_EXPORTS = {
    "escape_name": "names",
    "label": "names",
    "prop": "names",
    "rel_type": "names",
    "DOMAIN_PATTERN": "tables",
    "GRAPH_TABLES": "tables",
    "NODE_KINDS": "tables",
    "REL_KINDS": "tables",
    "SPECS": "tables",
    "GraphTables": "tables",
    "TableSpec": "tables",
    "item_uid": "tables",
    "cast_spec_columns": "validate",
    "validate_graph": "validate",
    "validate_table": "validate",
}
__all__ = sorted([*_EXPORTS, "schema_statements"])

# a submodule (graph_schema.tables) too: importing the package gave them before session 45
__getattr__ = lazy_names(__name__, _EXPORTS)


def schema_statements() -> list[str]:
    """The statements of ``schema.cypher`` (constraints and indexes, each ``IF NOT EXISTS``)."""
    text = files("graph_schema").joinpath("schema.cypher").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
