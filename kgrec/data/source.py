"""Where an experiment's graph comes from: a RecBole folder read directly, or a store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from graph_schema.tables import GraphTables

TEXT_KINDS = ("User", "Item", "Entity")


def read_graph(
    *,
    data: Path | None = None,
    store: str | None = None,
    domain: str | None = None,
    domain_rule: str | None = None,
    text_property: str | None = None,
) -> tuple[
    GraphTables, Mapping[str, tuple[Sequence[str], np.ndarray]] | None, dict[str, str] | None
]:
    """The graph's tables and, with ``text_property`` and a store, its node text vectors and
    the store's record of the text model that wrote them
    (:meth:`~kgrec.store.base.GraphStore.vector_model`; None when it has none, or no vectors
    were read).

    ``data`` is a RecBole atomic-file folder loaded as ``kgrec load recbole`` would (one
    ``domain``, or items split by ``domain_rule``: a rule's name or the rule written out,
    ``ATTRIBUTE:DOMAIN=V1,V2;DOMAIN=...``); ``store`` a store URI
    (``local:PATH``, ``bolt://...``). Exactly one of the two.
    """
    if (data is None) == (store is None):
        raise ValueError("give exactly one of data (a RecBole folder) and store (a store URI)")
    if data is not None:
        from loaders import recbole
        from loaders.rules import resolve_rule

        rule = resolve_rule(domain_rule) if domain_rule else None
        return recbole.load(data, domain=domain, domain_rule=rule), None, None
    from kgrec.store import open_store

    with open_store(store) as graph_store:
        tables = graph_store.snapshot()
        if text_property is None:
            return tables, None, None
        model = graph_store.vector_model(text_property)
        text = {kind: graph_store.read_vectors(kind, property=text_property) for kind in TEXT_KINDS}
    return tables, {kind: found for kind, found in text.items() if len(found[0])} or None, model
