"""``--text-input``, ``--text-hidden`` and ``--relation-weighting``: the registry builds what
they name, and train() rejects what cannot work before anything is written."""

from __future__ import annotations

import pytest
import torch

from kgrec.data.export import message_graph
from kgrec.errors import InputError
from kgrec.experiment import load_experiment, train
from kgrec.models.layers import ScalarRelationalConv
from kgrec.models.registry import MODELS


@pytest.fixture
def graph(tiny_recbole):
    experiment = load_experiment(
        data=tiny_recbole, store=None, protocol="ml1m-action-comedy", split_dir=None, seed=0
    )
    graph = message_graph(experiment.data)
    graph.x = torch.randn(graph.num_nodes, 5)
    graph.x_mask = torch.rand(graph.num_nodes) < 0.5
    graph.x[~graph.x_mask] = 0.0
    return graph


TEXT = {"dim": 8, "layers": 2, "text_hidden": 4}


@pytest.mark.parametrize("mode", ["add", "only"])
def test_text_models_are_built_with_their_mlp(graph, mode):
    size = graph.num_users + graph.num_items
    lightgcn = MODELS["lightgcn"].build(graph, text_input=mode, **TEXT)
    assert lightgcn.text_input.mode == mode and lightgcn.text_input.hidden_channels == 4
    assert torch.equal(lightgcn.text_mask, graph.x_mask[:size])
    rgcn = MODELS["rgcn"].build(
        graph, text_input=mode, entity_embeddings=False, relation_weighting="block", **TEXT
    )
    assert rgcn.text_input.mode == mode and rgcn.text_features.shape == graph.x.shape
    cross = MODELS["cross-domain"].build(
        graph, text_input=mode, entity_embeddings=True, adversarial_weight=0.0, **TEXT
    )
    assert cross.text_input.mode == mode and cross.text_projection is None


def test_text_input_none_keeps_each_model_as_it_was(graph):
    lightgcn = MODELS["lightgcn"].build(graph, text_input="none", **TEXT)
    assert lightgcn.text_input is None
    cross = MODELS["cross-domain"].build(
        graph, text_input="none", entity_embeddings=True, adversarial_weight=0.0, **TEXT
    )
    assert cross.text_input is None and cross.text_projection is not None


def test_scalar_relation_weighting_is_built(graph):
    rgcn = MODELS["rgcn"].build(
        graph, text_input="none", entity_embeddings=False, relation_weighting="scalar", **TEXT
    )
    assert all(isinstance(conv, ScalarRelationalConv) for conv in rgcn.convs)


def test_a_text_model_without_text_is_an_input_error(graph):
    del graph.x, graph.x_mask
    with pytest.raises(InputError, match="--text-input add needs text vectors"):
        MODELS["lightgcn"].build(graph, text_input="add", **TEXT)


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        ("popularity", {"text_input": "add", "store": "local:x"}, "popularity takes no text"),
        ("lightgcn", {"text_input": "only"}, "reads node text vectors from a store"),
        ("lightgcn", {"text_input": "concat"}, "'concat'"),
        ("rgcn", {"relation_weighting": "matrix"}, "'matrix'"),
    ],
)
def test_train_rejects_text_options_before_writing(tmp_path, tiny_recbole, model, options, message):
    options.setdefault("data", tiny_recbole)
    with pytest.raises(InputError, match=message):
        train(model, out=tmp_path / "run", protocol="ml1m-action-comedy", **options)
    assert not (tmp_path / "run").exists()
