from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import RGCNConv

from kgrec.models import RGCNRecommender
from kgrec.models.layers import (
    DomainAdaptiveLayer,
    GradientReversal,
    RelationalConv,
    ScalarRelationalConv,
    embedding_noise,
    relation_groups,
)


def _random_graph(num_nodes: int = 30, num_edges: int = 120, num_relations: int = 5):
    generator = torch.Generator().manual_seed(0)
    edge_index = torch.randint(num_nodes, (2, num_edges), generator=generator)
    edge_type = torch.randint(num_relations, (num_edges,), generator=generator)
    x = torch.randn(num_nodes, 6, generator=generator)
    return x, edge_index, edge_type


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"num_bases": 2},
        {"num_blocks": 3},
        {"num_blocks": 6},  # diagonal
        {"root_weight": False, "bias": False},
    ],
    ids=str,
)
def test_relational_conv_computes_pyg_rgcn_conv(options):
    x, edge_index, edge_type = _random_graph()
    # relation 4 without edges: its weight must not matter
    edge_type[edge_type == 4] = 3
    reference = RGCNConv(6, 6, 5, **options)
    conv = RelationalConv(6, 6, 5, **options)
    with torch.no_grad():
        if reference.bias is not None:
            reference.bias.normal_()
        conv.load_state_dict({k: v for k, v in reference.state_dict().items() if v is not None})
    assert torch.allclose(
        conv(x, edge_index, edge_type), reference(x, edge_index, edge_type), atol=1e-5
    )


def test_relational_conv_gradients_match_pyg():
    x, edge_index, edge_type = _random_graph()
    reference = RGCNConv(6, 6, 5)
    conv = RelationalConv(6, 6, 5)
    conv.load_state_dict(reference.state_dict())
    inputs = [x.clone().requires_grad_() for _ in range(2)]
    for module, inp in zip((reference, conv), inputs, strict=True):
        module(inp, edge_index, edge_type).pow(2).sum().backward()
    assert torch.allclose(conv.weight.grad, reference.weight.grad, atol=1e-4)
    assert torch.allclose(conv.root.grad, reference.root.grad, atol=1e-4)
    assert torch.allclose(inputs[1].grad, inputs[0].grad, atol=1e-4)


def test_relation_groups_rejects_unknown_relations():
    _, edge_index, edge_type = _random_graph()
    with pytest.raises(ValueError, match=r"edge_type must lie in \[0, 3\)"):
        relation_groups(edge_index, edge_type, 30, 3)


def test_relation_groups_averages_each_relation_separately():
    # node 2 hears node 0 over relation 0 and nodes 0 and 1 over relation 1
    edge_index = torch.tensor([[0, 0, 1], [2, 2, 2]])
    edge_type = torch.tensor([0, 1, 1])
    groups = relation_groups(edge_index, edge_type, 3, 2)
    assert groups.ptr == [0, 1, 2]
    assert groups.target.tolist() == [2, 2]
    x = torch.tensor([[2.0], [4.0], [0.0]])
    assert groups.pool(x).flatten().tolist() == [2.0, 3.0]


def test_averaged_relations_share_one_mean_at_each_target():
    # node 3 hears relation 0 from node 0, and averaged relations 1 and 2 from nodes 1 and 2;
    # node 4 hears averaged relation 1 only
    edge_index = torch.tensor([[0, 1, 2, 1], [3, 3, 3, 4]])
    edge_type = torch.tensor([0, 1, 2, 1])
    averaged = torch.tensor([False, True, True])
    groups = relation_groups(edge_index, edge_type, 5, 3, averaged=averaged)
    x = torch.tensor([[1.0], [2.0], [4.0], [0.0], [0.0]])
    pooled = groups.pool(x).flatten()
    heard = {(int(t), float(p)) for t, p in zip(groups.target, pooled, strict=True)}
    assert heard == {(3, 1.0), (3, 1.0), (3, 2.0), (4, 2.0)}


def test_relational_conv_rejects_blocks_that_do_not_divide():
    with pytest.raises(ValueError, match="num_blocks must divide in_channels"):
        RelationalConv(6, 6, 2, num_blocks=4)


def test_gradient_reversal_is_identity_forward_and_negates_backward():
    x = torch.randn(4, 3, requires_grad=True)
    out = GradientReversal(scale=0.5)(x)
    assert torch.equal(out, x)
    out.sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, -0.5))


def test_domain_adaptive_layer_routes_nodes_by_domain():
    torch.manual_seed(0)
    layer = DomainAdaptiveLayer(4, num_domains=2)
    x = torch.randn(4, 4)
    # an entity, an item of domain 0, an item of domain 1, a user
    node_domain = torch.tensor([DomainAdaptiveLayer.OTHER, 0, 1, DomainAdaptiveLayer.USER])
    before = layer(x, node_domain)
    assert torch.allclose(before[0], layer.shared(x[0]))  # entities: shared path only
    with torch.no_grad():
        layer.specific[1].add_(1.0)  # domain 1's transform changes ...
    after = layer(x, node_domain)
    assert torch.equal(after[:2], before[:2])  # ... not the entity's or domain 0's item
    assert not torch.allclose(after[2], before[2])  # ... domain 1's item
    assert not torch.allclose(after[3], before[3])  # ... and the user, gated over domains


def test_domain_adaptive_layer_rejects_no_domains():
    with pytest.raises(ValueError, match="num_domains must be at least 1, got 0"):
        DomainAdaptiveLayer(4, num_domains=0)


def test_layers_refuse_bad_sizes_and_a_nan_or_infinite_noise_or_scale():
    """Sizes of 0, negative or not integers were a ZeroDivisionError (DomainAdaptiveLayer(0,
    2)), torch's "negative dimension" or "tuple of ints" errors, or a layer of no channels;
    a NaN or infinite noise or reversal scale made every embedding or gradient NaN, silently.
    Now a ValueError or TypeError naming the argument."""
    for build, error, message in (
        (lambda: DomainAdaptiveLayer(0, 2), ValueError, "channels must be at least 1, got 0"),
        (lambda: DomainAdaptiveLayer(4, 2.0), TypeError, "num_domains must be an integer"),
        (lambda: RelationalConv(0, 4, 2), ValueError, "in_channels must be at least 1"),
        (lambda: RelationalConv(4, -1, 2), ValueError, "out_channels must be at least 1"),
        (lambda: RelationalConv(4, 4, 2.5), TypeError, "num_relations must be an integer"),
        (lambda: RelationalConv(4, 4, 2, num_bases=1.5), TypeError, "num_bases must be an"),
        (lambda: RelationalConv(4, 4, 2, num_blocks=0), ValueError, "num_blocks must be at"),
        (lambda: ScalarRelationalConv(2.0), TypeError, "num_relations must be an integer"),
        (lambda: GradientReversal(float("nan")), ValueError, "scale must be a finite number"),
        (lambda: GradientReversal(float("inf")), ValueError, "scale must be a finite number"),
    ):
        with pytest.raises(error, match=message):
            build()
    for eps in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="noise must be non-negative"):
            embedding_noise(torch.ones(2, 2), eps)


@pytest.mark.parametrize("noise", [True, "0.1", None])
def test_a_noise_or_scale_that_is_no_number_is_a_type_error_naming_it(toy_graph, noise):
    """Before, a model's forward(noise=True) perturbed every layer by noise of size 1 (a bool
    taken for a number), and "0.1" or None (or GradientReversal("1")) was the bare TypeError
    "'<=' not supported between instances of 'int' and 'str'"."""
    model = RGCNRecommender(
        toy_graph.num_users,
        toy_graph.num_items,
        toy_graph.num_entities,
        toy_graph.num_relations,
        embedding_dim=4,
    )
    with pytest.raises(TypeError, match=f"noise must be a number, got {noise!r}"):
        model(toy_graph.edge_index, toy_graph.edge_type, noise=noise)
    with pytest.raises(TypeError, match=f"scale must be a number, got {noise!r}"):
        GradientReversal(noise)


def test_symmetric_relations_weigh_edges_by_both_degrees():
    # relation 0 both ways: 0 - 2, 1 - 2, 1 - 3 (degrees 1, 2, 2, 1); relation 1: 0 -> 3
    edge_index = torch.tensor([[0, 2, 1, 2, 1, 3, 0], [2, 0, 2, 1, 3, 1, 3]])
    edge_type = torch.tensor([0, 0, 0, 0, 0, 0, 1])
    symmetric = torch.tensor([True, False])
    groups = relation_groups(edge_index, edge_type, 4, 2, symmetric=symmetric)
    dense = groups.mean.to_dense()[groups.ptr[0] : groups.ptr[1]]  # relation 0, targets 0..3
    expected = torch.tensor(
        [
            [0, 0, 1 / 2**0.5, 0],
            [0, 0, 1 / 2, 1 / 2**0.5],
            [1 / 2**0.5, 1 / 2, 0, 0],
            [0, 1 / 2**0.5, 0, 0],
        ]
    )
    assert torch.allclose(dense, expected)
    assert torch.allclose(groups.mean.to_dense()[-1], torch.tensor([1.0, 0, 0, 0]))  # averages
    # a sample of the edges at 2 (only 0 -> 2) with whole-graph degrees: s_i = 1, d_2 = 2
    sampled = relation_groups(
        edge_index[:, :1],
        edge_type[:1],
        4,
        2,
        symmetric=symmetric,
        degree=torch.tensor([1, 2, 2, 1]),
    )
    assert torch.allclose(sampled.mean.to_dense(), torch.tensor([[2**0.5, 0, 0, 0]]))
    with pytest.raises(ValueError, match="both averaged and symmetric"):
        relation_groups(
            edge_index,
            edge_type,
            4,
            2,
            averaged=torch.tensor([True, False]),
            symmetric=symmetric,
        )


@pytest.mark.parametrize(
    "conv",
    [lambda: RelationalConv(2, 2, 3), lambda: ScalarRelationalConv(3)],
    ids=["rgcn", "scalar"],
)
def test_relational_convs_refuse_edges_past_their_nodes(conv):
    # node 4 of a 3-node graph would be read as (relation 1, node 1): a silent wrong message
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match="edge_index reaches node 4, beyond the graph's 3"):
        conv()(x, torch.tensor([[0], [4]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="edge_type must hold one relation per edge"):
        conv()(x, torch.tensor([[0, 1], [2, 2]]), torch.tensor([0]))
