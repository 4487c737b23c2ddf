"""The model registry: how each model named on the command line is built, from which graph.

A model is a module of :mod:`kgrec.models` (a ``GraphRecommender``, named in the package's
lazy export table), an entry in :data:`MODELS` here (its builder takes the message graph and
the ``train`` options it names, nothing else: ``dim`` among them marks a model trained by
gradient, :attr:`ModelSpec.learns`, and ``layers`` one that propagates) and its case in
``tests/models/test_template.py``.
The run layer (:mod:`kgrec.experiment`) builds runs through it; ``kgrec train --model`` and
``kgrec tune --model`` take its names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kgrec.errors import InputError

if TYPE_CHECKING:  # imported where a model is built: `kgrec train --help` needs no torch
    import torch
    from torch_geometric.data import Data

    from kgrec.models.base import GraphRecommender


@dataclass(frozen=True)
class ModelSpec:
    """How a model named on the command line is built and which graph it sees.

    ``build(graph, **options)`` takes the message graph and the training options named in
    ``options`` (keyword arguments of :func:`train`), nothing else, and returns an instance
    of ``kgrec.models.<model>``.
    """

    model: str  # the class in kgrec.models
    build: Callable[..., GraphRecommender]
    all_domains: bool  # train on (and propagate over) every domain's interactions
    knowledge: bool  # knowledge-graph edges in the message graph
    text: bool = False  # node text embeddings as inputs
    options: tuple[str, ...] = ()

    @property
    def learns(self) -> bool:
        """Whether the model learns embeddings by gradient (each such model takes ``dim``);
        the others are counted or fitted in closed form, and the trainer only validates them."""
        return "dim" in self.options


def _popularity(graph: Data) -> GraphRecommender:
    from kgrec.models import Popularity

    return Popularity(graph.num_users, graph.num_items)


def _text(graph: Data, text_input: str, text_hidden: int, num_nodes: int) -> dict[str, Any]:
    """The text keyword arguments of a model built with ``--text-input text_input``: none for
    ``"none"``, else the message graph's first ``num_nodes`` text vectors and their mask."""
    if text_input == "none":
        return {}
    if "x" not in graph:
        raise InputError(
            f"--text-input {text_input} needs text vectors: give a --store whose nodes have them "
            "(`kgrec embed --store URI`), and --text-property if they are not 'embedding'",
            field="--text-input",
        )
    return {
        "text_features": graph.x[:num_nodes],
        "text_mask": graph.x_mask[:num_nodes],
        "text_input": text_input,
        "text_hidden": text_hidden,
    }


def _mf(graph: Data, *, dim: int) -> GraphRecommender:
    from kgrec.models import MatrixFactorisation

    return MatrixFactorisation(graph.num_users, graph.num_items, embedding_dim=dim)


def _lightgcn(
    graph: Data, *, dim: int, layers: int, text_input: str, text_hidden: int
) -> GraphRecommender:
    from kgrec.models import LightGCNRecommender

    text = _text(graph, text_input, text_hidden, graph.num_users + graph.num_items)
    return LightGCNRecommender(
        graph.num_users, graph.num_items, embedding_dim=dim, num_layers=layers, **text
    )


def _rgcn(
    graph: Data,
    *,
    dim: int,
    layers: int,
    entity_embeddings: bool,
    relation_weighting: str,
    text_input: str,
    text_hidden: int,
) -> GraphRecommender:
    from kgrec.models import RGCNRecommender

    return RGCNRecommender(
        graph.num_users,
        graph.num_items,
        graph.num_entities,
        graph.num_relations,
        embedding_dim=dim,
        num_layers=layers,
        entity_embeddings=entity_embeddings,
        relation_weighting=relation_weighting,
        **_text(graph, text_input, text_hidden, graph.num_nodes),
    )


def _cross_domain(
    graph: Data,
    *,
    dim: int,
    layers: int,
    entity_embeddings: bool,
    adversarial_weight: float,
    text_input: str,
    text_hidden: int,
) -> GraphRecommender:
    from kgrec.models import CrossDomainRecommender

    return CrossDomainRecommender(
        graph.num_users,
        graph.num_items,
        graph.num_entities,
        graph.num_relations,
        graph.num_domains,
        item_domain=graph.item_domain,
        embedding_dim=dim,
        num_layers=layers,
        adversarial_weight=adversarial_weight,
        entity_embeddings=entity_embeddings,
        # "none": the model's own linear projection of any text, as before the text MLP
        **(
            _text(graph, text_input, text_hidden, graph.num_nodes)
            if text_input != "none"
            else {"text_features": graph.x if "x" in graph else None}
        ),
    )


def _ease(graph: Data, *, ease_lambda: float, ease_text_weight: float) -> GraphRecommender:
    from kgrec.models import EASE

    # rows without text are zeros in the export, so they add nothing to the Gram matrix
    texts = item_text_vectors(graph, "--ease-text-weight")[0] if ease_text_weight > 0 else None
    try:
        return EASE(
            graph.num_users,
            graph.num_items,
            l2=ease_lambda,
            item_text=texts,
            text_weight=ease_text_weight,
        )
    except ValueError as error:
        raise InputError(str(error), field="--model") from error


def _text_similarity(graph: Data) -> GraphRecommender:
    from kgrec.models import TextSimilarity

    if "x" not in graph:
        raise InputError(
            "text-similarity scores items by their text vectors: give a --store whose items "
            "have them (`kgrec embed --store URI --kinds Item`)",
            field="--model",
        )
    items = graph.x[graph.num_users : graph.num_users + graph.num_items]
    return TextSimilarity(graph.num_users, graph.num_items, items)


GNN = ("dim", "layers")
TEXT = ("text_input", "text_hidden")  # models that take text through an MLP
EASE_OPTIONS = ("ease_lambda", "ease_text_weight")
MODELS: dict[str, ModelSpec] = {
    "popularity": ModelSpec("Popularity", _popularity, all_domains=False, knowledge=False),
    "text-similarity": ModelSpec(
        "TextSimilarity", _text_similarity, all_domains=True, knowledge=False, text=True
    ),
    "ease": ModelSpec("EASE", _ease, all_domains=False, knowledge=False, options=EASE_OPTIONS),
    "ease-merged": ModelSpec(
        "EASE", _ease, all_domains=True, knowledge=False, options=EASE_OPTIONS
    ),
    "mf": ModelSpec(
        "MatrixFactorisation", _mf, all_domains=False, knowledge=False, options=("dim",)
    ),
    "lightgcn": ModelSpec(
        "LightGCNRecommender",
        _lightgcn,
        all_domains=False,
        knowledge=False,
        options=(*GNN, *TEXT),
    ),
    "lightgcn-merged": ModelSpec(
        "LightGCNRecommender",
        _lightgcn,
        all_domains=True,
        knowledge=False,
        options=(*GNN, *TEXT),
    ),
    "rgcn": ModelSpec(
        "RGCNRecommender",
        _rgcn,
        all_domains=False,
        knowledge=True,
        options=(*GNN, "entity_embeddings", "relation_weighting", *TEXT),
    ),
    "cross-domain": ModelSpec(
        "CrossDomainRecommender",
        _cross_domain,
        all_domains=True,
        knowledge=True,
        text=True,
        options=(*GNN, "entity_embeddings", "adversarial_weight", *TEXT),
    ),
}


def model_class(name: str) -> type[GraphRecommender]:
    """The class the registered model ``name`` builds."""
    import kgrec.models

    return getattr(kgrec.models, model_spec(name).model)


def model_spec(model: str) -> ModelSpec:
    """The registered model ``model`` (an InputError naming ``--model`` and the models if
    there is none)."""
    if model not in MODELS:
        raise InputError(f"unknown model {model!r} (models: {', '.join(MODELS)})", field="--model")
    return MODELS[model]


def item_text_vectors(
    graph: Data, option: str = "--text-cl-weight"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the items' text vectors ``[I, d]``, which items have text ``[I]``) of a message graph,
    for the ``option`` that needs them; an InputError naming it where no item has text."""
    items = slice(graph.num_users, graph.num_users + graph.num_items)
    if "x" not in graph or not bool(graph.x_mask[items].any()):
        raise InputError(
            f"{option} needs item text vectors, and no item in the store has them: run "
            "`kgrec embed --store URI --kinds Item` (and give --text-property if they are not "
            "'embedding')",
            field=option,
        )
    return graph.x[items], graph.x_mask[items]


__all__ = ["MODELS", "ModelSpec", "item_text_vectors", "model_class", "model_spec"]
