"""Text as input (an MLP from node text vectors, AlphaRec) and the light knowledge path (one
learned scalar per relation, LightKG) of the LightGCN, R-GCN and cross-domain recommenders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.nn.models import LightGCN

from kgrec.models import CrossDomainRecommender, LightGCNRecommender, RGCNRecommender
from kgrec.models.layers import RelationalConv, ScalarRelationalConv, TextInput, relation_groups


def _interactions(graph):
    keep = graph.edge_type < 2
    return graph.edge_index[:, keep], graph.edge_type[keep]


def _users_items_text(graph):
    size = graph.num_users + graph.num_items
    return graph.x[:size], graph.x_mask[:size]


def _rgcn(graph, **kwargs) -> RGCNRecommender:
    torch.manual_seed(0)
    return RGCNRecommender(
        graph.num_users,
        graph.num_items,
        graph.num_entities,
        graph.num_relations,
        embedding_dim=8,
        **kwargs,
    ).eval()


# -- defaults unchanged ---------------------------------------------------------------------


def test_lightgcn_without_text_is_pygs_lightgcn(toy_graph):
    edge_index, _ = _interactions(toy_graph)
    model = LightGCNRecommender(toy_graph.num_users, toy_graph.num_items, embedding_dim=8)
    reference = LightGCN(toy_graph.num_users + toy_graph.num_items, 8, 2)
    reference.load_state_dict(model.lightgcn.state_dict())
    assert model.text_input is None
    assert set(model.state_dict()) == {"lightgcn.embedding.weight", "lightgcn.alpha"}
    assert torch.allclose(model(edge_index), reference.get_embedding(edge_index), atol=1e-6)


def test_lightgcn_takes_layer_weights_as_a_list(toy_graph):
    """alpha [1, 0, 0] weighs the layers (before, a list became a per-channel weight)."""
    edge_index, _ = _interactions(toy_graph)
    users, items = toy_graph.num_users, toy_graph.num_items
    model = LightGCNRecommender(users, items, embedding_dim=3, num_layers=2, alpha=[1.0, 0, 0])
    torch.testing.assert_close(model(edge_index), model.lightgcn.embedding.weight)
    for alpha in ([[0.5, 0.3, 0.2]], [0.5, 0.5]):
        with pytest.raises(ValueError, match="alpha must be a number or num_layers"):
            LightGCNRecommender(users, items, embedding_dim=8, num_layers=2, alpha=alpha)
    for alpha in (float("nan"), [1.0, float("inf"), 0.0]):  # before: NaN embeddings, silently
        with pytest.raises(ValueError, match="alpha must be finite"):
            LightGCNRecommender(users, items, embedding_dim=8, num_layers=2, alpha=alpha)


@pytest.mark.parametrize(
    "alpha", [np.float32(0.25), np.int64(1), np.float64(0.25), torch.tensor(0.25)], ids=repr
)
def test_lightgcn_takes_a_numpy_or_0_dim_tensor_alpha_as_one_weight_per_layer(toy_graph, alpha):
    """A scalar weight that is a NumPy number or a 0-dim tensor is the number it holds, for
    every layer (before, all but np.float64 were refused: "alpha must be a number or
    num_layers + 1 = 3 weights, got shape ()")."""
    edge_index, _ = _interactions(toy_graph)
    users, items = toy_graph.num_users, toy_graph.num_items
    torch.manual_seed(0)
    model = LightGCNRecommender(users, items, embedding_dim=3, num_layers=2, alpha=alpha)
    torch.manual_seed(0)
    plain = LightGCNRecommender(users, items, embedding_dim=3, num_layers=2, alpha=float(alpha))
    assert model.lightgcn.alpha.dtype == torch.float
    torch.testing.assert_close(model.lightgcn.alpha, torch.full((3,), float(alpha)))
    torch.testing.assert_close(model(edge_index), plain(edge_index))
    for bad in (np.bool_(True), torch.tensor(True)):
        with pytest.raises(TypeError, match="alpha must be a number or a tensor of weights"):
            LightGCNRecommender(users, items, embedding_dim=3, num_layers=2, alpha=bad)


def test_lightgcn_propagates_over_an_edge_index_changed_in_place(toy_graph):
    edge_index, _ = _interactions(toy_graph)
    model = LightGCNRecommender(toy_graph.num_users, toy_graph.num_items, embedding_dim=8)
    edges = edge_index.clone()
    before = model(edges)
    (a, b), (c, d) = edge_index[:, 0].tolist(), edge_index[:, -1].tolist()
    gone = ((edge_index[0] == a) & (edge_index[1] == b)) | (
        (edge_index[0] == b) & (edge_index[1] == a)
    )
    other = torch.tensor([[c, d], [d, c]]).repeat(1, int(gone.sum()) // 2)
    edges.copy_(torch.cat([edge_index[:, ~gone], other], 1))  # the same size, another graph
    assert not torch.allclose(model(edges.clone()), before)
    torch.testing.assert_close(model(edges), model(edges.clone()))


def test_lightgcn_takes_an_int32_edge_index_of_a_large_graph_as_the_int64_one():
    """Past 46,340 nodes an int32 edge_index's keys (source * num_nodes + target) overflowed,
    and LightGCN failed with torch's bare "index -1 is out of bounds" from PyG's coalesce."""
    torch.manual_seed(0)
    users, items = 30_000, 20_000
    pairs = torch.tensor([[0, 29_999, 15_000], [19_999, 0, 7]])
    forward = pairs + torch.tensor([[0], [users]])
    edge_index = torch.cat([forward, forward.flip(0)], 1)
    model = LightGCNRecommender(users, items, embedding_dim=2, num_layers=1)
    torch.testing.assert_close(model(edge_index.int()), model(edge_index))


def test_lightgcn_text_path_with_a_silent_mlp_is_pygs_lightgcn(toy_graph):
    """The text path propagates as PyG does: with the MLP's output zero it is LightGCN."""
    edge_index, _ = _interactions(toy_graph)
    text, mask = _users_items_text(toy_graph)
    model = LightGCNRecommender(
        toy_graph.num_users, toy_graph.num_items, embedding_dim=8, text_features=text
    )
    with torch.no_grad():
        model.text_input.mlp[-1].weight.zero_()
        model.text_input.mlp[-1].bias.zero_()
    reference = LightGCN(toy_graph.num_users + toy_graph.num_items, 8, 2)
    reference.load_state_dict(model.lightgcn.state_dict())
    assert torch.equal(model.text_mask, mask)
    assert torch.allclose(model(edge_index), reference.get_embedding(edge_index), atol=1e-6)


def test_rgcn_defaults_have_the_same_parameters_as_before(toy_graph):
    model = _rgcn(toy_graph)
    assert model.relation_weighting == "block" and model.text_input is None
    assert set(model.state_dict()) == {"embedding.weight", "convs.0.weight", "convs.1.weight"}
    assert all(isinstance(conv, RelationalConv) for conv in model.convs)


# -- text input ----------------------------------------------------------------------------


def test_text_input_adds_only_where_nodes_have_text():
    torch.manual_seed(0)
    layer = TextInput(4, 3, hidden_channels=5, mode="add")
    x, text = torch.randn(3, 3), torch.randn(3, 4)
    mask = torch.tensor([True, False, True])
    out = layer(x, text, mask)
    assert out.shape == (3, 3)
    assert torch.equal(out[1], x[1])
    assert torch.allclose(out[0], x[0] + layer.mlp(text[0]))
    only = TextInput(4, 3, hidden_channels=5, mode="only")
    out = only(x, text, mask)
    assert torch.equal(out[1], x[1])
    assert torch.allclose(out[2], only.mlp(text[2]))


def test_text_input_rejects_a_bad_mode_with_the_value():
    with pytest.raises(ValueError, match="'concat'"):
        TextInput(4, 3, mode="concat")
    with pytest.raises(ValueError, match="'concat'"):
        LightGCNRecommender(3, 3, text_input="concat")
    with pytest.raises(ValueError, match=r"\(6, d_text\)"):
        LightGCNRecommender(3, 3, text_features=torch.ones(5, 2))


@pytest.mark.parametrize("family", ["lightgcn", "rgcn", "cross-domain"])
def test_only_mode_gives_a_new_item_with_text_its_own_embedding(toy_graph, family):
    """An item with text and no interaction: its embedding comes from its text, never from
    its ID embedding, and differs from another such item's."""
    new = [4, 5]  # items with text (the toy graph's first six items have some)
    users = toy_graph.num_users
    keep = ~torch.isin(toy_graph.edge_index, torch.tensor(new) + users).any(dim=0)
    edge_index, edge_type = toy_graph.edge_index[:, keep], toy_graph.edge_type[keep]
    torch.manual_seed(0)
    if family == "lightgcn":
        text, _ = _users_items_text(toy_graph)
        inter = edge_type < 2
        edge_index, edge_type = edge_index[:, inter], edge_type[inter]
        model = LightGCNRecommender(
            users, toy_graph.num_items, embedding_dim=8, text_features=text, text_input="only"
        )
        ids = model.lightgcn.embedding.weight
    elif family == "rgcn":
        model = _rgcn(toy_graph, text_features=toy_graph.x, text_input="only")
        ids = model.embedding.weight
    else:
        model = CrossDomainRecommender(
            users,
            toy_graph.num_items,
            toy_graph.num_entities,
            toy_graph.num_relations,
            toy_graph.num_domains,
            item_domain=toy_graph.item_domain,
            text_features=toy_graph.x,
            embedding_dim=8,
            text_input="only",
        )
        ids = model.embedding.weight
    model.eval()
    before = model(edge_index, edge_type)[[users + i for i in new]]
    assert before.norm(dim=1).min() > 1e-3
    assert not torch.allclose(before[0], before[1])
    with torch.no_grad():
        ids[[users + i for i in new]] = 7.0  # their ID embeddings are not used
    assert torch.allclose(model(edge_index, edge_type)[[users + i for i in new]], before)


def test_rgcn_text_reaches_a_sampled_subgraph(toy_graph):
    model = _rgcn(toy_graph, text_features=toy_graph.x, text_input="add")
    full = model(toy_graph.edge_index, toy_graph.edge_type)
    perm = torch.randperm(toy_graph.num_nodes, generator=torch.Generator().manual_seed(1))
    local = torch.empty_like(perm)
    local[perm] = torch.arange(len(perm))
    sub = model(local[toy_graph.edge_index], toy_graph.edge_type, n_id=perm)
    assert torch.allclose(sub, full[perm], atol=1e-6)


def test_lightgcn_text_model_perturbs_its_layers_with_noise(toy_graph):
    edge_index, _ = _interactions(toy_graph)
    text, _ = _users_items_text(toy_graph)
    model = LightGCNRecommender(
        toy_graph.num_users, toy_graph.num_items, embedding_dim=8, text_features=text
    )
    clean, layers = model.forward_layers(edge_index)
    assert torch.equal(clean, model(edge_index)) and len(layers) == 3
    noisy = model(edge_index, noise=0.1, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(noisy, clean)


# -- scalar relation weights ---------------------------------------------------------------


def test_scalar_conv_is_a_relational_conv_with_scaled_identities(toy_graph):
    torch.manual_seed(0)
    x = torch.randn(toy_graph.num_nodes, 4)
    scalar = ScalarRelationalConv(toy_graph.num_relations)
    with torch.no_grad():
        scalar.weight.uniform_(-2, 2)
    dense = RelationalConv(4, 4, toy_graph.num_relations, root_weight=False, bias=False)
    with torch.no_grad():
        dense.weight.copy_(scalar.weight.view(-1, 1, 1) * torch.eye(4))
    groups = relation_groups(
        toy_graph.edge_index, toy_graph.edge_type, toy_graph.num_nodes, toy_graph.num_relations
    )
    expected = dense(x, toy_graph.edge_index, toy_graph.edge_type, groups)
    assert torch.allclose(scalar(x, toy_graph.edge_index, toy_graph.edge_type), expected, atol=1e-6)


def test_scalar_weights_start_at_the_relation_free_propagation(toy_graph):
    """At 1, every relation is heard as normalised: the block model at its identity start."""
    scalar = _rgcn(toy_graph, relation_weighting="scalar", entity_embeddings=False)
    block = _rgcn(toy_graph, entity_embeddings=False)
    assert all(
        torch.equal(conv.weight, torch.ones(toy_graph.num_relations)) for conv in scalar.convs
    )
    block.embedding.load_state_dict(scalar.embedding.state_dict())
    edges = toy_graph.edge_index, toy_graph.edge_type
    assert torch.allclose(scalar(*edges), block(*edges), atol=1e-6)


def test_scalar_weights_learn_and_a_silenced_relation_is_not_heard(toy_graph):
    model = _rgcn(toy_graph, relation_weighting="scalar").train()
    model(toy_graph.edge_index, toy_graph.edge_type).pow(2).sum().backward()
    for conv in model.convs:
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    # knowledge relations at 0: the model is the one without the knowledge edges
    model.eval()
    with torch.no_grad():
        for conv in model.convs:
            conv.weight[2:] = 0.0
    edge_index, edge_type = _interactions(toy_graph)
    assert torch.allclose(
        model(toy_graph.edge_index, toy_graph.edge_type),
        model(edge_index, edge_type),
        atol=1e-6,
    )


def test_relation_weighting_is_checked(toy_graph):
    with pytest.raises(ValueError, match="'matrix'"):
        _rgcn(toy_graph, relation_weighting="matrix")
