"""Loaders: source files (RecBole atomic files, raw MovieLens, CSV/TSV/Parquet tables,
knowledge-graph triples) -> validated canonical tables (:class:`graph_schema.GraphTables`).

Each format has a module with a ``load(...) -> GraphTables`` function (``loaders.recbole``,
``loaders.movielens``, ``loaders.table``, ``loaders.kg``) and a ``kgrec load <format>`` command.

Names are imported lazily: ``kgrec load``'s parser reads :mod:`loaders.options` and
:mod:`loaders.rules` without pandas, which the loaders import.
"""

from __future__ import annotations

from graph_schema.lazy import lazy_names

_EXPORTS = {
    "merge_tables": "build",
    "LoadReport": "report",
    "DomainRule": "rules",
    "named_rule": "rules",
    "parse_rule": "rules",
    "resolve_rule": "rules",
}
__all__ = sorted(_EXPORTS)

# a submodule (loaders.recbole) too: importing the package gave some of them before session 46
__getattr__ = lazy_names(__name__, _EXPORTS)
