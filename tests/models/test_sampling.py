from __future__ import annotations

import pytest
import torch

from kgrec.models import (
    CrossDomainRecommender,
    LightGCNRecommender,
    Popularity,
    RGCNRecommender,
)
from kgrec.objectives import BPR
from kgrec.sampling import NeighborSampling, neighbor_loader
from kgrec.train import FullGraph, train_epoch

needs_sampler = pytest.mark.filterwarnings("ignore:Using 'NeighborSampler' without a 'pyg-lib'")


def _rgcn(graph) -> RGCNRecommender:
    torch.manual_seed(0)
    return RGCNRecommender(
        graph.num_users, graph.num_items, graph.num_entities, graph.num_relations, embedding_dim=8
    )


def _cross_domain(graph, adversarial_weight: float = 0.1) -> CrossDomainRecommender:
    torch.manual_seed(0)
    return CrossDomainRecommender(
        graph.num_users,
        graph.num_items,
        graph.num_entities,
        graph.num_relations,
        graph.num_domains,
        item_domain=graph.item_domain,
        text_features=graph.x,
        embedding_dim=8,
        adversarial_weight=adversarial_weight,
    )


def _bpr_only_cross_domain(graph) -> CrossDomainRecommender:
    # the discriminator's loss is adversarial (gradient reversal keeps it from shrinking), so a
    # falling epoch loss is asked of the BPR part alone
    return _cross_domain(graph, adversarial_weight=0.0)


def _triples(graph) -> torch.Tensor:
    users, items = graph.edge_index[:, graph.edge_type == 0]
    items = items - graph.num_users
    return torch.stack([users, items, (items + 1) % graph.num_items])


@needs_sampler
@pytest.mark.parametrize("build", [_rgcn, _cross_domain], ids=["rgcn", "cross_domain"])
def test_all_neighbours_give_the_seeds_their_full_batch_embeddings(toy_graph, build):
    pytest.importorskip("torch_sparse", reason="PyG's neighbour sampler needs torch-sparse")
    model = build(toy_graph).eval()
    full = model(toy_graph.edge_index, toy_graph.edge_type)
    seeds = torch.tensor([0, 4, 7, 12])
    batch = neighbor_loader(toy_graph, model, -1)(seeds)
    assert torch.equal(batch.n_id[: len(seeds)], seeds)
    sub = model(batch.edge_index, batch.edge_type, n_id=batch.n_id, degree=batch.degree)
    assert torch.allclose(sub[: len(seeds)], full[seeds], atol=1e-5)


@needs_sampler
def test_sampled_subgraphs_respect_the_fanout(toy_graph):
    pytest.importorskip("torch_sparse", reason="PyG's neighbour sampler needs torch-sparse")
    model = _rgcn(toy_graph)
    seeds = torch.arange(toy_graph.num_users)
    batch = neighbor_loader(toy_graph, model, [1, 1])(seeds)
    assert torch.equal(batch.n_id[: len(seeds)], seeds)
    first_hop = batch.edge_index[1] < len(seeds)
    assert torch.bincount(batch.edge_index[1, first_hop]).max() == 1
    # edge types travel with their edges
    e_id = batch.e_id
    assert torch.equal(batch.edge_type, toy_graph.edge_type[e_id])
    assert torch.equal(batch.n_id[batch.edge_index], toy_graph.edge_index[:, e_id])


@needs_sampler
@pytest.mark.parametrize("build", [_rgcn, _bpr_only_cross_domain], ids=["rgcn", "cross_domain"])
def test_neighbour_epochs_lower_the_training_loss(toy_graph, build):
    pytest.importorskip("torch_sparse", reason="PyG's neighbour sampler needs torch-sparse")
    model = build(toy_graph)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    triples = _triples(toy_graph)
    weight = torch.ones(triples.size(1))
    sampling = NeighborSampling()
    losses = [
        train_epoch(
            model,
            sampling.batches(model, toy_graph, triples, weight, batch_size=8),
            BPR(),
            optimizer,
        )
        for _ in range(15)
    ]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


@needs_sampler
def test_models_without_sampling_support_say_so(toy_graph):
    model = LightGCNRecommender(toy_graph.num_users, toy_graph.num_items, embedding_dim=4)
    triples = _triples(toy_graph)
    batches = NeighborSampling().batches(
        model, toy_graph, triples, torch.ones(triples.size(1)), batch_size=4
    )
    with pytest.raises(ValueError, match="LightGCNRecommender propagates over the whole graph"):
        next(batches)
    assert not LightGCNRecommender.supports_sampling and not Popularity.supports_sampling
    assert RGCNRecommender.supports_sampling and CrossDomainRecommender.supports_sampling


@needs_sampler
@pytest.mark.parametrize("build", [_rgcn, _cross_domain], ids=["rgcn", "cross_domain"])
def test_sampled_batches_with_all_neighbours_cost_what_full_batches_cost(toy_graph, build):
    pytest.importorskip("torch_sparse", reason="PyG's neighbour sampler needs torch-sparse")
    model = build(toy_graph).eval()  # no dropout: the two must agree exactly
    triples = _triples(toy_graph)
    weight = torch.rand(triples.size(1)) + 0.5
    full = FullGraph().batches(model, toy_graph, triples, weight, batch_size=8)
    sampled = NeighborSampling(-1).batches(model, toy_graph, triples, weight, batch_size=8)
    for a, b in zip(full, sampled, strict=True):
        assert float(BPR()(model, a)) == pytest.approx(float(BPR()(model, b)), abs=1e-5)


@needs_sampler
@pytest.mark.parametrize(
    ("num_neighbors", "message"),
    [
        ([0, 5], r"num_neighbors must be positive \(or -1 for all\), got \[0, 5\]"),
        ([-2], r"got \[-2\]"),
    ],
)
def test_bad_fanouts_are_rejected(toy_graph, num_neighbors, message):
    with pytest.raises(ValueError, match=message):
        neighbor_loader(toy_graph, _rgcn(toy_graph), num_neighbors)


@pytest.mark.parametrize("model", [LightGCNRecommender(3, 4, embedding_dim=4), Popularity(3, 4)])
def test_full_graph_models_reject_n_id(model):
    edge_index = torch.tensor([[0, 3], [3, 0]])
    with pytest.raises(ValueError, match="cannot train on sampled subgraphs"):
        model(edge_index, n_id=torch.tensor([0, 3]))
