from __future__ import annotations

import pytest
import torch

from kgrec.models import (
    CrossDomainRecommender,
    LightGCNRecommender,
    Popularity,
    RGCNRecommender,
)
from kgrec.sampling import neighbor_loader, train_epoch

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
    losses = [
        train_epoch(model, toy_graph, triples, weight, optimizer, batch_size=8, reg_weight=0.0)
        for _ in range(15)
    ]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


@needs_sampler
def test_models_without_sampling_support_say_so(toy_graph):
    pytest.importorskip("torch_sparse", reason="PyG's neighbour sampler needs torch-sparse")
    model = LightGCNRecommender(toy_graph.num_users, toy_graph.num_items, embedding_dim=4)
    optimizer = torch.optim.Adam(model.parameters())
    triples = _triples(toy_graph)
    with pytest.raises(ValueError, match=r"needs a relational model .* got LightGCNRecommender"):
        train_epoch(
            model,
            toy_graph,
            triples,
            torch.ones(triples.size(1)),
            optimizer,
            batch_size=4,
            reg_weight=0.0,
        )


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
    with pytest.raises(ValueError, match="n_id is not supported"):
        model(edge_index, n_id=torch.tensor([0, 3]))
