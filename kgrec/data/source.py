"""Where an experiment's graph comes from: a RecBole folder read directly, or a store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from graph_schema.tables import GraphTables
from kgrec.errors import InputError
from kgrec.store.base import READ_ATTEMPTS, read_unchanged

if TYPE_CHECKING:
    from kgrec.store.base import GraphStore

TEXT_KINDS = ("User", "Item", "Entity")


def check_data_or_store(data: str | Path | None, store: str | None) -> None:
    """:class:`InputError` unless exactly one of ``data`` (a RecBole folder) and ``store`` (a
    store URI) is given (the Python API; the command line takes one): the graph is read from
    one of them."""
    if data is None and store is None:
        raise InputError("give data (a RecBole folder) or store (a store URI)", field="--data")
    if data is not None and store is not None:
        raise InputError(
            "give data (a RecBole folder) or store (a store URI), not both: the graph is read "
            "from one of them",
            field="--store",
        )


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
    check_data_or_store(data, store)
    if data is not None:
        from loaders import recbole
        from loaders.rules import resolve_rule

        rule = resolve_rule(domain_rule) if domain_rule else None
        return recbole.load(data, domain=domain, domain_rule=rule), None, None
    from kgrec.store import open_store

    with open_store(store) as graph_store:
        if text_property is None:
            return graph_store.snapshot(), None, None
        # as one: a load between the two (and an embed of its nodes) gave vectors of nodes the
        # tables lack
        tables, (text, model) = graph_store.read_as_one(
            lambda: (
                graph_store.snapshot(),
                read_text_vectors(graph_store, text_property, TEXT_KINDS),
            )
        )
    return tables, {kind: found for kind, found in text.items() if len(found[0])} or None, model


def read_text_vectors(
    store: GraphStore, property: str, kinds: Sequence[str]
) -> tuple[dict[str, tuple[list[str], np.ndarray]], dict[str, str] | None]:
    """The vectors ``property`` of every kind in ``kinds`` (keys and matrix, as
    :meth:`~kgrec.store.base.GraphStore.read_vectors` gives them) and the store's record of
    the text model that wrote them, read as one: each kind is its own read, so a ``kgrec
    embed`` with another model that commits between two of them would give one model's
    vectors for some kinds and the other's for the rest. The record is read before and after
    the vectors; an embed commits its vectors and its record together, so a record that
    changed meanwhile means the vectors may be of two models, and they are read again (a
    StoreError after :data:`~kgrec.store.base.READ_ATTEMPTS` tries:
    :func:`~kgrec.store.base.read_unchanged`). Readers take no lock: they never wait
    for, nor refuse, one another. Vectors a run published
    (:func:`~kgrec.text.embed.check_text_property`) are
    refused, so are those a publish wrote while they were read."""
    from kgrec.errors import StoreError
    from kgrec.store import redact
    from kgrec.text.embed import check_text_property

    def read() -> dict[str, tuple[list[str], np.ndarray]]:
        check_text_property(store, property)  # a run's vectors: refused
        return {kind: store.read_vectors(kind, property=property) for kind in kinds}

    def replaced(_: object) -> StoreError:
        return StoreError(
            f"{redact(store.uri)}: the text vectors {property!r} were replaced by another text "
            f"model's while they were read, {READ_ATTEMPTS} times (a kgrec embed is running): "
            "run again when it has finished"
        )

    text, (model, _) = read_unchanged(
        read, lambda: (store.vector_model(property), store.vector_run(property)), replaced
    )
    return text, model
