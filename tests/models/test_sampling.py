from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pytest
import torch
import torch_geometric.typing
from torch_geometric.data import Data

from kgrec.models import (
    CrossDomainRecommender,
    LightGCNRecommender,
    Popularity,
    RGCNRecommender,
)
from kgrec.objectives import BPR
from kgrec.sampling import NeighborSampler, NeighborSampling, neighbor_loader
from kgrec.train import FullGraph, train_epoch


def _rgcn(graph, **kwargs) -> RGCNRecommender:
    torch.manual_seed(0)
    return RGCNRecommender(
        graph.num_users,
        graph.num_items,
        graph.num_entities,
        graph.num_relations,
        embedding_dim=8,
        **kwargs,
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


@pytest.mark.parametrize("build", [_rgcn, _cross_domain], ids=["rgcn", "cross_domain"])
def test_all_neighbours_give_the_seeds_their_full_batch_embeddings(toy_graph, build):
    model = build(toy_graph).eval()
    full = model(toy_graph.edge_index, toy_graph.edge_type)
    seeds = torch.tensor([0, 4, 7, 12])
    batch = neighbor_loader(toy_graph, model, -1)(seeds)
    assert torch.equal(batch.n_id[: len(seeds)], seeds)
    sub = model(batch.edge_index, batch.edge_type, n_id=batch.n_id, degree=batch.degree)
    assert torch.allclose(sub[: len(seeds)], full[seeds], atol=1e-5)


def test_sampled_subgraphs_respect_the_fanout(toy_graph):
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


@pytest.mark.parametrize("build", [_rgcn, _bpr_only_cross_domain], ids=["rgcn", "cross_domain"])
def test_neighbour_epochs_lower_the_training_loss(toy_graph, build):
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


# the discriminator's loss differs by design: sampled batches show it their seeds' items only
@pytest.mark.parametrize("build", [_rgcn, _bpr_only_cross_domain], ids=["rgcn", "cross_domain"])
def test_sampled_batches_with_all_neighbours_cost_what_full_batches_cost(toy_graph, build):
    model = build(toy_graph).eval()  # no dropout: the two must agree exactly
    triples = _triples(toy_graph)
    weight = torch.rand(triples.size(1)) + 0.5
    full = FullGraph().batches(model, toy_graph, triples, weight, batch_size=8)
    sampled = NeighborSampling(-1).batches(model, toy_graph, triples, weight, batch_size=8)
    with torch.no_grad():
        for a, b in zip(full, sampled, strict=True):
            assert float(BPR()(model, a)) == pytest.approx(float(BPR()(model, b)), abs=1e-5)


@pytest.mark.parametrize(
    ("num_neighbors", "message"),
    [
        ([0, 5], r"num_neighbors must be positive \(or -1 for all\), got \[0, 5\]"),
        ([-2], r"got \[-2\]"),
        # a 2-layer model on one hop: the seeds would miss their second layer's messages
        ([-1], r"num_neighbors gives 1 hop\(s\) for a model of 2 layers"),
    ],
)
def test_bad_fanouts_are_rejected(toy_graph, num_neighbors, message):
    with pytest.raises(ValueError, match=message):
        neighbor_loader(toy_graph, _rgcn(toy_graph), num_neighbors)


@pytest.mark.parametrize(
    "num_neighbors", [True, 2.5, 10.0, "10", [2.5, 2], [True, 2], [2, "2"], None]
)
def test_fanouts_that_are_no_integers_are_a_type_error_naming_them(toy_graph, num_neighbors):
    """True and 2.5 were taken as 1 and 2 neighbours, 10.0 and "10" were bare TypeErrors
    ("'float' object is not iterable", "'<' not supported")."""
    message = r"num_neighbors must be an integer or a list of integers \(one per hop\)"
    with pytest.raises(TypeError, match=message):
        neighbor_loader(toy_graph, _rgcn(toy_graph), num_neighbors)
    with pytest.raises(TypeError, match=message):  # before anything trains
        NeighborSampling(num_neighbors)


def test_a_model_without_layers_is_told_it_has_none_to_sample_for(toy_graph):
    """Before, num_neighbors=10 for a model of num_layers=0 was "num_neighbors must be positive
    (or -1 for all), got []": a fanout the caller never gave (kgrec train refuses --layers 0
    with --batching neighbor itself)."""
    model = _rgcn(toy_graph, num_layers=0)
    with pytest.raises(ValueError, match=r"num_neighbors 10 samples one hop per layer, and the"):
        neighbor_loader(toy_graph, model, 10)
    assert neighbor_loader(toy_graph, model, [10]).fanout == [10]  # a hop given: as before


def test_numpy_integers_are_fanouts(toy_graph):
    """A NumPy integer (a count read by pandas) was "'numpy.int64' object is not iterable"."""
    model = _rgcn(toy_graph)
    assert neighbor_loader(toy_graph, model, np.int64(3)).fanout == [3] * model.num_layers
    assert neighbor_loader(toy_graph, model, np.array([3, -1])).fanout == [3, -1]
    assert neighbor_loader(toy_graph, model, (np.int64(2), 4)).fanout == [2, 4]


@pytest.mark.parametrize("model", [LightGCNRecommender(3, 4, embedding_dim=4), Popularity(3, 4)])
def test_full_graph_models_reject_n_id(model):
    edge_index = torch.tensor([[0, 3], [3, 0]])
    with pytest.raises(ValueError, match="cannot train on sampled subgraphs"):
        model(edge_index, n_id=torch.tensor([0, 3]))


def _random_graph(num_nodes: int = 60, num_edges: int = 400, seed: int = 0):
    """(edge_index, edge_type, num_nodes) of a random directed multigraph with 3 edge types."""
    generator = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(num_nodes, (2, num_edges), generator=generator)
    edge_type = torch.randint(3, (num_edges,), generator=generator)
    return edge_index, edge_type, num_nodes


def _whole_neighbourhood(edge_index: torch.Tensor, seeds: list[int], hops: int):
    """(n_id, sorted edge ids) of every edge reaching the seeds within ``hops`` hops, by a
    plain loop: each hop takes all edges into its frontier (in edge order within a node), and
    the sources not seen yet, in the order reached, are the next frontier."""
    source, target = edge_index.tolist()
    n_id, frontier, edges = list(seeds), list(seeds), []
    for _ in range(hops):
        new = []
        for node in frontier:
            for e in range(len(target)):
                if target[e] == node:
                    edges.append(e)
                    if source[e] not in n_id:
                        n_id.append(source[e])
                        new.append(source[e])
        frontier = new
    return n_id, sorted(edges)


def _check_edges(sub, edge_index, edge_type):
    """Every sampled edge is an edge of the graph, once, with its type, in local ids."""
    assert torch.equal(sub.n_id[sub.edge_index], edge_index[:, sub.e_id])
    assert torch.equal(sub.edge_type, edge_type[sub.e_id])
    assert sub.e_id.unique().numel() == sub.e_id.numel()
    assert sub.n_id.unique().numel() == sub.n_id.numel() == sub.num_nodes


@pytest.mark.parametrize("fanout", [[-1, -1], [30, 30], [-1, 30, 100]])
def test_a_fanout_above_every_in_degree_takes_the_whole_neighbourhood(fanout):
    edge_index, edge_type, num_nodes = _random_graph()
    assert torch.bincount(edge_index[1]).max() <= 30
    seeds = [5, 17, 3]
    sub = NeighborSampler(edge_index, edge_type, num_nodes, fanout)(torch.tensor(seeds))
    n_id, edges = _whole_neighbourhood(edge_index, seeds, len(fanout))
    assert sub.n_id.tolist() == n_id  # the seeds first, then in the order reached
    assert sorted(sub.e_id.tolist()) == edges
    _check_edges(sub, edge_index, edge_type)
    assert sum(sub.num_sampled_nodes) == len(n_id) and sum(sub.num_sampled_edges) == len(edges)


@pytest.mark.parametrize("fanout", [[1, 1], [3, 2], [2, 5, 1]])
def test_each_node_gets_at_most_k_edges_per_hop(fanout):
    edge_index, edge_type, num_nodes = _random_graph(seed=1)
    in_degree = torch.bincount(edge_index[1], minlength=num_nodes)
    seeds = torch.tensor([8, 0, 41, 12, 33])
    torch.manual_seed(0)
    sub = NeighborSampler(edge_index, edge_type, num_nodes, fanout)(seeds)
    assert torch.equal(sub.n_id[: len(seeds)], seeds)
    _check_edges(sub, edge_index, edge_type)
    received = torch.bincount(sub.edge_index[1], minlength=sub.num_nodes)
    # the nodes first reached at hop h (the seeds at 0) get min(k, in-degree) edges at hop h
    bounds = torch.split(torch.arange(sub.num_nodes), sub.num_sampled_nodes)
    for k, nodes in zip(fanout, bounds, strict=False):
        assert torch.equal(received[nodes], in_degree[sub.n_id[nodes]].clamp(max=k))
    assert not received[bounds[len(fanout)]].any()  # the last hop's nodes are not expanded
    # hop h's edges reach the nodes first reached at hop h, from nodes seen by its end
    for h, hop in enumerate(torch.split(sub.edge_index, sub.num_sampled_edges, dim=1)):
        assert torch.isin(hop[1], bounds[h]).all()
        assert (hop[0] < sum(sub.num_sampled_nodes[: h + 2])).all()


def test_neighbours_are_drawn_uniformly_without_replacement():
    # 300 targets, each reached by 12 edges from sources of its own; 4 drawn per target, 40 times
    targets, d, k, draws = 300, 12, 4, 40
    source = torch.arange(targets * d) + targets
    target = torch.arange(targets).repeat_interleave(d)
    edge_index = torch.stack([source, target])
    sampler = NeighborSampler(
        edge_index, torch.zeros(targets * d, dtype=torch.long), targets * (d + 1), [k]
    )
    torch.manual_seed(0)
    singles, pairs = Counter(), Counter()
    for _ in range(draws):
        sub = sampler(torch.arange(targets))
        slot = (sub.e_id % d).view(targets, k)  # each target's edges in its sample order
        assert (slot.sort(1).values.diff(1) > 0).all()  # no edge twice
        singles.update(slot.flatten().tolist())
        pairs.update(pair for row in slot.sort(1).values.tolist() for pair in combinations(row, 2))
    # each edge is in a sample with probability k / d, each pair with k(k-1) / (d(d-1))
    expected = targets * draws * k / d
    chi2 = sum((singles[j] - expected) ** 2 / expected for j in range(d))
    assert len(singles) == d and chi2 < 60  # 11 degrees of freedom: p < 1e-7 beyond 60
    expected = targets * draws * k * (k - 1) / (d * (d - 1))
    chi2 = sum((pairs[p] - expected) ** 2 / expected for p in combinations(range(d), 2))
    assert len(pairs) == d * (d - 1) // 2 and chi2 < 150  # 65 degrees of freedom: p < 1e-8


def test_the_same_seed_draws_the_same_subgraph():
    edge_index, edge_type, num_nodes = _random_graph(seed=2)
    sampler = NeighborSampler(edge_index, edge_type, num_nodes, [2, 2])
    seeds = torch.tensor([4, 9, 1])

    def draw(seed):
        torch.manual_seed(seed)
        sub = sampler(seeds)
        return sub.n_id.tolist(), sub.edge_index.tolist(), sub.e_id.tolist()

    assert draw(7) == draw(7)
    assert len({str(draw(s)) for s in range(5)}) > 1


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
        ),
    ],
)
def test_subgraphs_are_sampled_on_the_graphs_device(device):
    edge_index, edge_type, num_nodes = _random_graph(seed=4)
    seeds = torch.tensor([3, 30, 13])
    expected = NeighborSampler(edge_index, edge_type, num_nodes, [-1, -1])(seeds)
    degree = torch.bincount(edge_index[1], minlength=num_nodes)
    moved = edge_index.to(device), edge_type.to(device), num_nodes
    for fanout in ([-1, -1], [2, 2]):
        sub = NeighborSampler(*moved, fanout, degree=degree.to(device))(seeds.to(device))
        for name in ("edge_index", "edge_type", "n_id", "e_id", "degree"):
            assert sub[name].device.type == device
        _check_edges(sub.cpu(), edge_index, edge_type)
        assert torch.equal(sub.degree.cpu(), degree[sub.n_id.cpu()])
    assert torch.equal(NeighborSampler(*moved, [-1, -1])(seeds).n_id.cpu(), expected.n_id)


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        (torch.tensor([1, 1]), "seeds has repeated node ids"),
        (torch.tensor([0, 60]), r"seeds has node ids outside 0 \.\. 59"),
        (torch.tensor([[0]]), "seeds must be a 1-D tensor"),
    ],
)
def test_bad_seeds_are_rejected(seeds, message):
    edge_index, edge_type, num_nodes = _random_graph()
    with pytest.raises(ValueError, match=message):
        NeighborSampler(edge_index, edge_type, num_nodes, [2])(seeds)


# PyG sets these where pyg-lib or torch-sparse imports (a build that failed to load counts as none)
PYG_SAMPLER = torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE


@pytest.mark.skipif(not PYG_SAMPLER, reason="PyG's NeighborLoader needs pyg-lib or torch-sparse")
@pytest.mark.filterwarnings("ignore:Using 'NeighborSampler' without a 'pyg-lib'")
def test_the_sampler_agrees_with_pygs_neighbor_loader():
    from torch_geometric.loader import NeighborLoader

    edge_index, edge_type, num_nodes = _random_graph(seed=3)
    data = Data(edge_index=edge_index, edge_type=edge_type, num_nodes=num_nodes)
    seeds = torch.tensor([11, 2, 40, 7])

    def edges(sub):
        return Counter(zip(*sub.n_id[sub.edge_index].tolist(), sub.edge_type.tolist(), strict=True))

    # all neighbours: deterministic, so the same nodes and the same edges
    ours = NeighborSampler(edge_index, edge_type, num_nodes, [-1, -1])(seeds)
    theirs = NeighborLoader(data, num_neighbors=[-1, -1])(seeds)
    assert torch.equal(theirs.n_id[: len(seeds)], seeds)
    assert set(ours.n_id.tolist()) == set(theirs.n_id.tolist())
    assert sorted(ours.e_id.tolist()) == sorted(theirs.e_id.tolist())
    assert edges(ours) == edges(theirs)
    # k neighbours, one hop: both take min(k, in-degree) edges into each seed
    ours = NeighborSampler(edge_index, edge_type, num_nodes, [3])(seeds)
    theirs = NeighborLoader(data, num_neighbors=[3])(seeds)
    for sub in (ours, theirs):
        assert torch.equal(sub.n_id[: len(seeds)], seeds)
        received = torch.bincount(sub.edge_index[1], minlength=len(seeds))[: len(seeds)]
        assert torch.equal(received, torch.bincount(edge_index[1])[seeds].clamp(max=3))
        assert torch.equal(sub.n_id[sub.edge_index], edge_index[:, sub.e_id])
