"""Loaders: source files (RecBole atomic files, raw MovieLens, CSV/TSV/Parquet tables,
knowledge-graph triples) -> validated canonical tables (:class:`graph_schema.GraphTables`).

Each format has a module with a ``load(...) -> GraphTables`` function (``loaders.recbole``,
``loaders.movielens``, ``loaders.table``, ``loaders.kg``) and a ``kgrec load <format>`` command.
"""

from loaders.build import merge_tables
from loaders.report import LoadReport
from loaders.rules import DomainRule, named_rule, parse_rule, resolve_rule

__all__ = ["DomainRule", "LoadReport", "merge_tables", "named_rule", "parse_rule", "resolve_rule"]
