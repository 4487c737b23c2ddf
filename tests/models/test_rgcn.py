from __future__ import annotations

import pytest
import torch

from kgrec.models import RGCNRecommender


def _model(graph, **kwargs) -> RGCNRecommender:
    torch.manual_seed(0)
    return RGCNRecommender(
        graph.num_users,
        graph.num_items,
        graph.num_entities,
        graph.num_relations,
        embedding_dim=8,
        **kwargs,
    ).eval()


def test_a_relabelled_subgraph_with_n_id_gives_the_same_embeddings(toy_graph):
    model = _model(toy_graph)
    full = model(toy_graph.edge_index, toy_graph.edge_type)
    perm = torch.randperm(toy_graph.num_nodes, generator=torch.Generator().manual_seed(1))
    local = torch.empty_like(perm)
    local[perm] = torch.arange(len(perm))  # global -> local
    sub = model(local[toy_graph.edge_index], toy_graph.edge_type, n_id=perm)
    assert torch.allclose(sub, full[perm], atol=1e-6)


def test_relation_types_matter(toy_graph):
    model = _model(toy_graph)
    with torch.no_grad():  # relations start alike (identity weights); make them differ
        for conv in model.convs:
            conv.weight.normal_()
    full = model(toy_graph.edge_index, toy_graph.edge_type)
    swapped = toy_graph.edge_type.clone()
    knowledge = swapped >= 2
    swapped[knowledge] = 2 + (swapped[knowledge] - 2 + 2) % 4  # relation r -> the other one
    assert not torch.allclose(model(toy_graph.edge_index, swapped), full)


def test_knowledge_reaches_the_items_and_users(toy_graph):
    model = _model(toy_graph)
    user_emb, item_emb = model.split(model(toy_graph.edge_index, toy_graph.edge_type))
    with torch.no_grad():
        model.embedding.weight[-5:].add_(1.0)  # the entities only
    user_after, item_after = model.split(model(toy_graph.edge_index, toy_graph.edge_type))
    assert not torch.allclose(item_after, item_emb)
    assert not torch.allclose(user_after, user_emb)


def test_dropout_acts_only_in_training(toy_graph):
    model = _model(toy_graph, dropout=0.5)
    edges = toy_graph.edge_index, toy_graph.edge_type
    assert torch.equal(model(*edges), model(*edges))
    model.train()
    assert not torch.equal(model(*edges), model(*edges))


def test_edge_type_is_required(toy_graph):
    with pytest.raises(ValueError, match="RGCNRecommender needs edge_type"):
        _model(toy_graph)(toy_graph.edge_index)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_relations": 0}, "num_relations must be at least 1, got 0"),
        ({"num_entities": -1}, "num_entities must be at least 0, got -1"),
        ({"embedding_dim": 0}, "embedding_dim must be at least 1, got 0"),
        # before: a TypeError deep in torch, or accepted
        ({"embedding_dim": 8.0}, "embedding_dim must be an integer, got 8.0"),
        ({"num_layers": 1.5}, "num_layers must be an integer, got 1.5"),
        ({"num_users": True}, "num_users must be an integer, got True"),
        ({"dropout": 1.0}, r"dropout must lie in \[0, 1\), got 1.0"),
        ({"block_size": 3}, r"block_size must divide embedding_dim \(8\), got 3"),
        ({"num_interaction_relations": 3}, r"must lie in \[0, 2\], got 3"),
        # before: a TypeError deep in torch, or accepted (since session 26)
        ({"block_size": 2.0}, "block_size must be an integer, got 2.0"),
        ({"num_interaction_relations": 1.5}, "num_interaction_relations must be an integer"),
        (
            {"text_features": torch.zeros(5, 3), "text_hidden": 2.5},
            "text_hidden must be an integer",
        ),
    ],
)
def test_bad_arguments_are_rejected_with_the_value(kwargs, message):
    args = {
        "num_users": 2,
        "num_items": 2,
        "num_entities": 1,
        "num_relations": 2,
        "embedding_dim": 8,
        **kwargs,
    }
    with pytest.raises((ValueError, TypeError), match=message):
        RGCNRecommender(**args)


def test_a_graph_changed_in_place_is_not_served_from_the_cache(toy_graph):
    model = _model(toy_graph)
    with torch.no_grad():
        for conv in model.convs:
            conv.weight.normal_()
    edge_type = toy_graph.edge_type.clone()
    before = model(toy_graph.edge_index, edge_type)
    assert torch.equal(model(toy_graph.edge_index, edge_type), before)
    edge_type[edge_type >= 2] = 2  # every knowledge edge becomes relation 0's head -> tail
    assert not torch.allclose(model(toy_graph.edge_index, edge_type), before)


def test_on_interactions_alone_it_starts_as_lightgcn(toy_graph):
    from kgrec.models import LightGCNRecommender

    interactions = toy_graph.edge_type < 2
    edge_index = toy_graph.edge_index[:, interactions]
    edge_type = toy_graph.edge_type[interactions]
    rgcn = RGCNRecommender(
        toy_graph.num_users, toy_graph.num_items, 0, 2, embedding_dim=8, num_layers=3
    )
    lightgcn = LightGCNRecommender(
        toy_graph.num_users, toy_graph.num_items, embedding_dim=8, num_layers=3
    )
    with torch.no_grad():
        rgcn.embedding.weight.copy_(lightgcn.lightgcn.embedding.weight)
    expected = lightgcn(edge_index)
    assert torch.allclose(rgcn(edge_index, edge_type), expected, atol=1e-6)
    averaging = RGCNRecommender(
        toy_graph.num_users,
        toy_graph.num_items,
        0,
        2,
        embedding_dim=8,
        num_layers=3,
        symmetric=False,
    )
    averaging.load_state_dict(rgcn.state_dict())
    assert not torch.allclose(averaging(edge_index, edge_type), expected, atol=1e-4)


def test_without_entity_embeddings_entities_start_at_zero_and_hear_their_items(toy_graph):
    model = _model(toy_graph, entity_embeddings=False, num_layers=1)
    users_items = toy_graph.num_users + toy_graph.num_items
    assert model.embedding.num_embeddings == users_items
    x = model.node_input(None)
    assert x.shape == (model.num_nodes, model.embedding_dim)
    assert torch.equal(x[users_items:], torch.zeros_like(x[users_items:]))
    n_id = torch.tensor([users_items, 0, users_items - 1, model.num_nodes - 1])
    assert torch.equal(model.node_input(n_id), x[n_id])
    # one layer: an entity's output, the mean of layers 0 (zero) and 1, is half what it heard
    # from its items, so it is not zero
    out = model(toy_graph.edge_index, toy_graph.edge_type)
    assert out[users_items:].abs().sum(dim=1).gt(0).all()


def test_a_call_with_a_sampled_degree_does_not_poison_the_cached_groups(toy_graph):
    """Groups normalised by a given degree are not cached under the full graph's tensors
    (before, the next plain call on the same tensors reused them)."""
    model = _model(toy_graph)
    ei, et = toy_graph.edge_index, toy_graph.edge_type
    plain = model(ei, et)
    degree = torch.arange(1, toy_graph.num_nodes + 1)
    assert not torch.allclose(model(ei, et, degree=degree), plain)
    torch.testing.assert_close(model(ei, et), plain)


@pytest.mark.parametrize(
    ("edge_index", "edge_type", "says"),
    [
        ([[0, 7], [7, 0]], [0, 1], "beyond the graph's 5"),  # before: free(): invalid pointer
        ([[0], [7]], [0], "beyond the graph's 5"),  # before: wrapped onto node 2
        ([[0, -1], [-1, 0]], [0, 1], "node id -1"),  # before: a deep bincount error
        ([[0, 1], [1, 0]], [0], "one relation per edge"),
        ([[0, 1], [1, 0]], [0.0, 1.0], "an integer each"),  # before: an IndexError in torch
    ],
)
def test_node_ids_outside_the_graph_are_refused(edge_index, edge_type, says):
    model = RGCNRecommender(2, 2, 1, 4, embedding_dim=4)  # nodes 0..4
    with pytest.raises(ValueError, match=says):
        model(torch.tensor(edge_index), torch.tensor(edge_type))


@pytest.mark.parametrize(
    ("n_id", "degree", "says"),
    [
        ([0, 9], None, r"n_id must lie in \[0, 5\), got values in \[0, 9\]"),  # torch's bare
        ([-1, 0], None, r"n_id must lie in \[0, 5\)"),  # before: the same
        ([0.0, 2.0], None, "n_id must be a 1-D integer tensor"),  # before: torch's dtype error
        ([0, 2], [1, 1, 1], r"degree must hold one count per node of n_id \(2\)"),  # silent
        # before: read as 1, silently; NaN embeddings
        ([0, 2], [1, -1], r"degree must hold numbers of interactions \(>= 0\), got -1 \(node 1"),
        ([0, 2], [float("nan"), 1.0], r"degree must .* got nan \(node 0 of n_id\)"),
        # a whole graph's degree: before, torch's bare IndexError, read as far as it reached
        (None, [1, 1, 1], r"degree must hold one count per node of the graph \(5\)"),
        (None, [1] * 6, r"degree must hold one count per node of the graph \(5\)"),
        (None, [1, 1, 1, -2, 1], r"got -2 \(node 3 of the graph\)"),
    ],
)
def test_a_sampled_subgraph_with_node_ids_or_degrees_that_do_not_fit_is_refused(n_id, degree, says):
    """A subgraph's n_id naming nodes outside the model was "index out of range in self" deep
    in nn.Embedding, a float n_id torch's dtype error there, and a degree of the wrong
    length was read as far as the subgraph reached (a whole graph's: torch's bare IndexError
    where too short), a negative one as 1 and a NaN one into NaN embeddings: now a ValueError
    naming the argument."""
    model = RGCNRecommender(2, 2, 1, 4, embedding_dim=4)  # nodes 0..4
    edge_index, edge_type = torch.tensor([[0], [1]]), torch.tensor([0])
    degree = None if degree is None else torch.tensor(degree)
    n_id = None if n_id is None else torch.tensor(n_id)
    with pytest.raises(ValueError, match=says):
        model(edge_index, edge_type, n_id=n_id, degree=degree)
