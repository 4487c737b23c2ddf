"""Node texts -> vectors -> store, through the cache.

A node whose text is empty (no title, no name, no labelled neighbour, ...) gets no vector: it
is left out of what is written and counted as ``no_text`` in the result. Identical texts are
encoded once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graph_schema.tables import GraphTables
from graph_schema.validate import path_argument
from kgrec.text import DEFAULT_PROPERTY, VECTOR_PROPERTY
from kgrec.text.cache import EmbeddingCache
from kgrec.text.encoder import TextEncoder
from kgrec.text.nodes import TEXT_KINDS, node_texts
from kgrec.text.templates import (
    DEFAULT_TEMPLATES,
    KIND_TEMPLATES,
    Templates,
    reads_interactions,
    template_digest,
)

if TYPE_CHECKING:
    from kgrec.store.base import GraphStore

log = logging.getLogger(__name__)

# what a refused embed says to do
REMEDY = "nothing was written. Embed under another --property, or give the model that wrote them"


def check_text_property(store: GraphStore, property: str, *, embed: bool = False) -> None:
    """An InputError when ``store``'s vectors ``property`` are a run's published embeddings
    (:meth:`~kgrec.store.base.GraphStore.vector_run`), not text vectors: a model reading them
    as node text would train on, or serve, another run's outputs. So are, read as text,
    vectors at :data:`VECTOR_PROPERTY` that record neither a run nor a text model: a kgrec
    before session 29 published runs there without a record. With
    ``embed`` (``kgrec embed``, before it writes): text vectors written there would replace
    the run's, and the store would record them as a text model's."""
    from kgrec.errors import InputError
    from kgrec.store import redact

    run = store.vector_run(property)
    where = f"{redact(store.uri)}: the vectors {property!r}"
    if run is not None:
        whose = f"{where} are the embeddings that run {run['run']!r} published (kgrec recommend)"
    elif (
        embed
        or property != VECTOR_PROPERTY
        or store.vector_model(property) is not None
        or all(store.vector_dimension(kind, property=property) is None for kind in TEXT_KINDS)
    ):
        return
    else:
        whose = (
            f"{where} record no text model, and are where kgrec recommend publishes a run's "
            "embeddings (recording no run before session 29)"
        )
    if embed:
        raise InputError(
            f"{whose}, not text vectors: kgrec embed does not replace them with text vectors. "
            f"Nothing was written: choose another --property for the text vectors "
            f"({DEFAULT_PROPERTY!r} by default)",
            field="--property",
        )
    raise InputError(
        f"{whose}, not text vectors: they are not read as node text. Give --text-property the "
        f"property that holds the text vectors: {DEFAULT_PROPERTY!r} by default, what kgrec "
        "embed writes (or the --property it was given)",
        field="--text-property",
    )


@dataclass
class Embedded:
    """The vectors of one node kind and how they were obtained."""

    kind: str
    keys: list[str]  # nodes that got a vector, in the order of ``vectors``' rows
    vectors: np.ndarray  # (len(keys), dimension) float32, L2-normalised
    nodes: int  # nodes of this kind in the graph
    encoded: int  # distinct texts the model encoded
    cached: int  # distinct texts taken from the cache
    no_text: int  # nodes without text, hence without a vector
    # nodes whose text the model encoded cut to its max_length tokens (of the texts it encoded
    # in this call: a text taken from the cache was cut, or not, when it was encoded)
    cut: list[str] = field(default_factory=list)


def embed_texts(
    kind: str,
    texts: pd.Series,
    encoder: TextEncoder,
    *,
    cache: EmbeddingCache | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> Embedded:
    """Vectors for the non-empty ``texts`` (indexed by node key), from the cache where it has
    them and from ``encoder`` otherwise; new vectors go into the cache batch by batch, as they
    are encoded (an embed stopped half-way keeps those, and a re-run encodes the rest)."""
    texts = texts.fillna("").astype(str).str.strip()
    has_text = texts.ne("")
    unique = list(dict.fromkeys(texts[has_text]))
    vectors = np.zeros((len(unique), encoder.dimension), dtype=np.float32)
    found = cache.get(encoder.identity, unique, encoder.dimension) if cache is not None else {}
    for i, vector in found.items():
        vectors[i] = vector
    missing = [i for i in range(len(unique)) if i not in found]
    cut: list[int] = []  # positions in missing
    if missing:
        to_encode = [unique[i] for i in missing]

        def put(rows: np.ndarray, batch: np.ndarray) -> None:
            # each batch as it is encoded: an embed stopped half-way (Ctrl-C) keeps them
            cache.put(encoder.identity, [to_encode[i] for i in rows], batch)

        vectors[missing] = encoder.encode(
            to_encode,
            batch_size=batch_size,
            progress=progress,
            cut=cut,
            done=put if cache is not None else None,
            desc=f"embedding {kind}",  # one bar per kind: which is encoding
        )
    row = {text: i for i, text in enumerate(unique)}
    return Embedded(
        kind=kind,
        keys=[str(k) for k in texts.index[has_text]],
        vectors=vectors[[row[t] for t in texts[has_text]]].reshape(-1, encoder.dimension),
        nodes=len(texts),
        encoded=len(missing),
        cached=len(found),
        no_text=int((~has_text).sum()),
        cut=[str(k) for k in texts.index[texts.isin({unique[missing[i]] for i in cut})]],
    )


def embed_graph(
    graph: GraphTables,
    encoder: TextEncoder,
    *,
    kinds: Iterable[str] = ("Item", "Entity"),
    templates: Templates = DEFAULT_TEMPLATES,
    cache: EmbeddingCache | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> list[Embedded]:
    """The vectors of every node of ``kinds`` in ``graph``."""
    texts = node_texts(graph, kinds, templates)
    results = [
        embed_texts(kind, series, encoder, cache=cache, batch_size=batch_size, progress=progress)
        for kind, series in texts.items()
    ]
    warn_cut(results, encoder.max_length)
    return results


def warn_cut(results: list[Embedded], max_length: int) -> None:
    """Say, once, how many nodes' texts the model cut to its ``max_length`` tokens (their
    vectors read those tokens alone), naming one."""
    cut = sum(len(result.cut) for result in results)
    if not cut:
        return
    kind, key = next((result.kind, result.cut[0]) for result in results if result.cut)
    log.warning(
        "%s node text(s) longer than the text model's %d tokens cut to them, each vector "
        "reading its first %d tokens alone: %s %r%s",
        f"{cut:,}",
        max_length,
        max_length,
        kind,
        key,
        ", ..." if cut > 1 else "",
    )


def model_record(
    encoder: TextEncoder, templates: Templates | None = None, kinds: Iterable[str] = ()
) -> dict[str, str]:
    """What a store records as the model of the vectors ``encoder`` made: its ``name`` and
    ``identity`` and, with ``templates``, ``templates``: which templates made the texts of
    each of ``kinds`` (:func:`template_digests`), and ``interactions``: whether each kind's
    texts read the store's interactions (:func:`interaction_kinds`)."""
    record = {"name": encoder.source.name, "identity": encoder.identity}
    if templates is not None:
        kinds = list(kinds)
        record["templates"] = json.dumps(
            {kind: template_digest(templates, kind) for kind in kinds}, sort_keys=True
        )
        record["interactions"] = json.dumps(
            {kind: reads_interactions(templates, kind) for kind in kinds}, sort_keys=True
        )
    return record


def interaction_kinds(record: Mapping[str, str] | None) -> dict[str, bool] | None:
    """A model record's kind -> whether that kind's texts read the store's interactions,
    held-out ones included (a user template with ``{items}``: such vectors must not be a
    trained model's input); None: the record does not say (written before session 28, when
    no default template read them), and a kind it leaves out is unknown too. A ValueError
    when its ``interactions`` is not kind -> boolean."""
    return _kind_map(record, "interactions", bool, "true/false")


def template_digests(record: Mapping[str, str] | None) -> dict[str, str] | None:
    """A model record's digest of the templates of each kind it holds vectors of (None:
    the record does not say, as one written before session 28); a ValueError when its
    ``templates`` is not kind -> digest."""
    return _kind_map(record, "templates", str, "template digest")


def _kind_map(
    record: Mapping[str, str] | None, field: str, value: type, what: str
) -> dict[str, Any] | None:
    """A model record's ``field``, JSON kind -> ``value`` (None when absent); a ValueError
    naming ``what`` the values should be when it is not."""
    raw = None if record is None else record.get(field)
    if raw is None:
        return None
    try:
        found = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        found = None
    if not isinstance(found, dict) or not all(
        isinstance(k, str) and isinstance(v, value) for k, v in found.items()
    ):
        raise ValueError(f"{field} is not kind -> {what}: {raw!r}")
    return found


def other_templates(
    trained: Mapping[str, str] | None, current: Mapping[str, str] | None, kinds: Iterable[str]
) -> list[str]:
    """The kinds of ``kinds`` whose texts were made by other templates in record ``current``
    than in record ``trained`` (of one model); a kind either does not record is not
    compared (unknown)."""
    theirs, mine = template_digests(trained), template_digests(current)
    if theirs is None or mine is None:
        return []
    return [k for k in kinds if k in theirs and k in mine and theirs[k] != mine[k]]


def _with_other_kinds(
    store: GraphStore, property: str, kinds: list[str], model: Mapping[str, str]
) -> dict[str, str]:
    """``model`` with the template digests of the kinds an embed of ``kinds`` leaves as they
    are (their vectors: the same model's, as :func:`check_model` ensured) taken from the
    store's record; a kind the record does not cover stays unrecorded (unknown)."""
    digests = template_digests(model)
    if digests is None:
        return dict(model)
    mine = {"templates": digests, "interactions": interaction_kinds(model) or {}}
    recorded = store.vector_model(property)
    if recorded is not None and recorded["identity"] == model["identity"]:
        theirs = {}
        for field, read in (("templates", template_digests), ("interactions", interaction_kinds)):
            try:
                theirs[field] = read(recorded) or {}
            except ValueError:  # damaged: this field of the other kinds is unknown
                theirs[field] = {}
        for kind in {kind for recorded_kinds in theirs.values() for kind in recorded_kinds}:
            if kind in kinds or kind not in KIND_TEMPLATES:  # (a damaged record's other keys)
                continue
            if store.vector_dimension(kind, property=property) is not None:
                for field, recorded_kinds in theirs.items():
                    if kind in recorded_kinds:
                        mine[field][kind] = recorded_kinds[kind]
    return {**model, **{field: json.dumps(value, sort_keys=True) for field, value in mine.items()}}


def check_model(
    store: GraphStore, property: str, kinds: Iterable[str], model: Mapping[str, str]
) -> None:
    """An InputError when ``property`` holds vectors of another model than ``model`` on a
    node kind not among ``kinds`` (the kinds an embed replaces): the two models' vectors
    would lie under one property, in two spaces. Vectors whose model is not recorded (a
    store embedded before session 26, vectors written without a model) may be any model's:
    such a property takes a model only when the embed replaces every kind that holds it."""
    from kgrec.errors import InputError
    from kgrec.store.canonical import NODE_TABLES

    recorded = store.vector_model(property)
    if recorded is not None and recorded["identity"] == model["identity"]:
        return
    kinds = list(kinds)
    others = other_holders(store, property, kinds)
    if others:
        every = [kind for kind in NODE_TABLES if kind in kinds or kind in others]
        if recorded is None:
            raise InputError(
                f"the vectors {property!r} of the {', '.join(others)} nodes have no record of "
                "the text model that made them (embedded by an older kgrec, or written without "
                f"one), so they may be another model's than {model['name']} "
                f"({model['identity']}). Nothing was written: embed every kind that holds "
                f"{property!r} ({', '.join(every)}) with this model, which records it, or "
                "embed under another --property",
                field="property",
            )
        raise InputError(
            f"the vectors {property!r} of the {', '.join(others)} nodes were made by model "
            f"{recorded['name']} ({recorded['identity']}), these by model {model['name']} "
            f"({model['identity']}): two models' vectors would mix under one property. Nothing "
            f"was written: embed under another --property, or embed every kind that holds "
            f"{property!r} ({', '.join(every)}) with this model",
            field="property",
        )


def other_holders(store: GraphStore, property: str, kinds: Iterable[str]) -> list[str]:
    """The node kinds besides ``kinds`` (the kinds an embed replaces) that hold ``property``'s
    vectors: those an embed leaves as they are. With none, the vectors may change model and
    dimension, as none of the old ones stays beside the new."""
    from kgrec.store.canonical import NODE_TABLES

    kinds = list(kinds)
    return [
        kind
        for kind in NODE_TABLES
        if kind not in kinds and store.vector_dimension(kind, property=property) is not None
    ]


def _by(model: Mapping[str, str] | None) -> str:
    return f" by model {model['name']} ({model['identity']})" if model is not None else ""


def check_no_zeros(results: list[Embedded], model: Mapping[str, str] | None = None) -> None:
    """An InputError, naming the kind and how many, when ``results`` hold a vector of zeros
    (a model that gives no direction for a text: no similarity can be read from it)."""
    from kgrec.errors import InputError

    for result in results:
        zeros = int((~np.any(result.vectors, axis=1)).sum()) if result.keys else 0
        if zeros:
            raise InputError(
                f"{zeros} of the {len(result.keys)} {result.kind} vectors{_by(model)} are all "
                "zeros: no similarity can be read from them. Nothing was written: embed with "
                "another --model",
                field="--model",
            )


def check_some_vector(
    results: list[Embedded], model: Mapping[str, str] | None, *, every: bool
) -> None:
    """An InputError when, with ``model`` and ``every`` (no other kind holds the property's
    vectors), ``results`` hold no vector at all (no node of theirs has a text): the store
    would record ``model`` as the maker of vectors that are not there."""
    from kgrec.errors import InputError

    if model is not None and every and not any(result.keys for result in results):
        nodes = ", ".join(f"{r.kind}: 0 of {r.nodes} nodes" for r in results)
        raise InputError(
            f"no node has a text to embed ({nodes}), so there is no vector to write"
            f"{_by(model)}. Nothing was written, and no model recorded: check the templates "
            "(--template-file) and that the nodes have titles or names",
            field="--kinds",
        )


def write_embeddings(
    store: GraphStore,
    results: Iterable[Embedded],
    *,
    property: str = DEFAULT_PROPERTY,
    model: Mapping[str, str] | None = None,
) -> None:
    """Every kind's vectors to ``store`` as node property ``property`` (Neo4j indexes them),
    as one change (:meth:`~kgrec.store.base.GraphStore.replace_vectors`): a node of that kind
    without a vector now (no text) loses the one it had, and a write that fails leaves every
    kind as it was. Every kind's vectors are checked against the store's first: a kind whose
    stored vectors have another dimension is an InputError, and nothing is written, unless
    the kinds written are every kind that holds them (:func:`other_holders`); so is,
    with ``model`` (:func:`model_record`), another model's vectors on a kind not written
    (:func:`check_model`), and so are vectors a run published there
    (:func:`check_text_property`), and so are a vector of zeros (:func:`check_no_zeros`) and,
    with ``model``, results without any vector where no other kind holds the property's
    (:func:`check_some_vector`).
    ``model`` is recorded as the property's
    (with its template digests: those of the kinds not written are kept from the store's
    record); without one
    the property's record goes (it was of the vectors replaced). The store's load lock is
    held for the check and the write (:meth:`~kgrec.store.base.GraphStore.load_lock`)."""

    results = list(results)
    check_no_zeros(results, model)  # before the lock
    with store.load_lock():  # no load removes (ties) nodes while the vectors are checked, written
        check_text_property(store, property, embed=True)  # a run's vectors: not replaced
        kinds = [result.kind for result in results]
        if model is not None:  # before the dimensions, as in embed_store
            check_model(store, property, kinds, model)
        every = not other_holders(store, property, kinds)
        check_some_vector(results, model, every=every)  # a model recorded of no vector
        for result in results:  # every kind, with the remedy of this command
            store.check_vectors(
                result.kind,
                property,
                result.vectors.shape[1] if result.keys and not every else None,
                remedy=REMEDY,
            )
        if model is not None:
            model = _with_other_kinds(store, property, kinds, model)
        store.replace_vectors(
            {result.kind: (result.keys, result.vectors) for result in results},
            property=property,
            model=model,
        )


def embed_store(
    store: str,
    *,
    kinds: Iterable[str] = ("Item", "Entity"),
    model: str | None = None,
    property: str = DEFAULT_PROPERTY,
    templates: Templates = DEFAULT_TEMPLATES,
    cache: Path | None = None,
    use_cache: bool = True,
    batch_size: int = 64,
    progress: bool = True,
    device: str = "auto",
) -> list[Embedded]:
    """``kgrec embed``: the vectors of every node of ``kinds`` in the store ``store`` (a URI),
    written back as ``property``. ``model`` is a Hugging Face id or folder (default: the
    bundled all-MiniLM-L6-v2); vectors are cached by model and text in ``cache`` (default
    ``$KGREC_CACHE/embeddings/vectors.sqlite``) unless ``use_cache`` is False."""
    from graph_schema.names import PROPERTY_RULE, is_property_name
    from kgrec.device import resolve_device
    from kgrec.errors import InputError, StoreError
    from kgrec.store import open_store
    from kgrec.store.canonical import UnknownNodesError
    from kgrec.text.encoder import resolve_model

    if isinstance(kinds, str):  # else one kind per character ("I", "t", ...): a KeyError
        raise InputError(
            f"kinds must be a list of node kinds, got one string {kinds!r} (kinds=[{kinds!r}])",
            field="--kinds",
        )
    kinds = list(dict.fromkeys(kinds))
    unknown = [kind for kind in kinds if kind not in TEXT_KINDS]
    if unknown or not kinds:  # before, a KeyError from the model record (after the store)
        what = f"unknown node kind(s) {', '.join(map(repr, unknown))}" if unknown else "none"
        raise InputError(
            f"kinds: {what}; give one or more of {', '.join(TEXT_KINDS)}", field="--kinds"
        )
    path_argument(cache, "--cache")  # "": the working folder
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    if not is_property_name(property):
        raise InputError(f"--property {property!r}: {PROPERTY_RULE}")
    resolved = resolve_model(model)
    torch_device = resolve_device(device)
    # a bad model (its files, tokenizer, pooling, max_length): before the store; its weights
    # are loaded only when a text is not in the cache (a model without them fails there)
    encoder = TextEncoder(resolved, device=torch_device, load=False)
    with open_store(store) as opened:
        opened.check()  # Neo4j: a load writing now refuses the embed before, not after, encoding
        check_text_property(opened, property, embed=True)  # before a dimension error, encoding
        record = model_record(encoder, templates, kinds)
        # another model's vectors on a kind not embedded: before the dimensions, as its message
        # names the kinds that hold them and says to embed them all (a dimension check of a
        # kind the embed replaces named that kind alone)
        check_model(opened, property, kinds, record)
        every = not other_holders(opened, property, kinds)
        for kind in kinds:  # before the texts are encoded (minutes), not only after
            dimension = None if every else encoder.dimension
            opened.check_vectors(kind, property, dimension, remedy=REMEDY)
        graph = opened.snapshot()
        with EmbeddingCache(cache) if use_cache else nullcontext() as vector_cache:
            results = embed_graph(
                graph,
                encoder,
                kinds=kinds,
                templates=templates,
                cache=vector_cache,
                batch_size=batch_size,
                progress=progress,
            )
        try:
            write_embeddings(opened, results, property=property, model=record)
        except UnknownNodesError as exc:  # nodes of the snapshot: a load went meanwhile
            raise StoreError(
                f"{opened.uri}: the graph changed while embed encoded its texts (a load removed "
                f"nodes it had read: {exc}). Nothing was written: run kgrec embed again"
            ) from None
    return results
