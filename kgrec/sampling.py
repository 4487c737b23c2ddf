"""Mini-batch training with neighbour sampling (``--batching neighbor``), for graphs too large
to propagate over whole for every batch.

Each batch of ``(user, positive item, negative item)`` triples becomes its seed nodes; PyG's
:class:`~torch_geometric.loader.NeighborLoader` samples up to ``num_neighbors`` incoming edges
per node and hop (GraphSAGE-style, `Hamilton et al., 2017 <https://arxiv.org/abs/1706.02216>`_)
over the homogeneous graph with its edge types, and the model propagates over that subgraph only
(``forward(edge_index, edge_type, n_id=...)``). The seeds get the same objective as in
full-batch training; mean aggregation per relation (R-GCN) keeps the sampled estimate unbiased.
Whether a model can train this way is its class attribute
:attr:`~kgrec.models.base.GraphRecommender.supports_sampling`.

PyG's sampler needs ``torch-sparse`` or ``pyg-lib`` (``pip install kgrec[sparse]``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader

from kgrec.models.base import GraphRecommender
from kgrec.objectives import Batch

NUM_NEIGHBORS = 10


def neighbor_loader(
    graph: Data, model: GraphRecommender, num_neighbors: int | Sequence[int]
) -> NeighborLoader:
    """A :class:`NeighborLoader` over ``graph``'s edges and edge types, one hop per layer of
    ``model`` (or as many as ``num_neighbors`` lists).

    Call it with seed node ids to get their sampled subgraph (``n_id`` lists the seeds first).
    """
    model.require_sampling()
    if isinstance(num_neighbors, int):
        fanout = [num_neighbors] * model.num_layers
    else:
        fanout = list(num_neighbors)
    if any(k == 0 or k < -1 for k in fanout):
        raise ValueError(f"num_neighbors must be positive (or -1 for all), got {fanout}")
    if graph.edge_type is None:
        raise ValueError("neighbour sampling needs the graph's edge_type")
    # only the structure, and each node's number of interactions in the whole graph (for
    # LightGCN-style normalisation): other node-sized attributes would be sliced for nothing
    structure = Data(
        edge_index=graph.edge_index,
        edge_type=graph.edge_type,
        degree=model.interaction_degree(graph.edge_index, graph.edge_type, graph.num_nodes),
        num_nodes=graph.num_nodes,
    )
    return NeighborLoader(structure, num_neighbors=fanout)


class NeighborSampling:
    """Mini-batches on sampled subgraphs: each batch of triples becomes its seed nodes, and
    the model propagates over their sampled ``num_neighbors``-per-hop neighbourhood (an int
    for every layer of the model, or one per layer; -1 takes all neighbours).

    An epoch strategy of :func:`kgrec.train.fit` (:class:`kgrec.train.EpochStrategy`).
    """

    def __init__(self, num_neighbors: int | Sequence[int] = NUM_NEIGHBORS) -> None:
        self.num_neighbors = num_neighbors

    def batches(
        self,
        model: GraphRecommender,
        graph: Data,
        triples: Tensor,
        weight: Tensor,
        *,
        batch_size: int,
    ) -> Iterator[Batch]:
        loader = neighbor_loader(graph, model, self.num_neighbors)
        for start in range(0, triples.size(1), batch_size):
            users, pos, neg = triples[:, start : start + batch_size]
            nodes = torch.cat([users, pos + model.num_users, neg + model.num_users])
            seeds, local = torch.unique(nodes, return_inverse=True)
            sub = loader(seeds)
            yield Batch(
                users,
                pos,
                neg,
                weight[start : start + batch_size],
                sub.edge_index,
                sub.edge_type,
                n_id=sub.n_id,
                degree=sub.degree,
                seeds=seeds,
                rows=local.view(3, -1),  # the subgraph lists the seeds first
            )

    def __repr__(self) -> str:
        return f"NeighborSampling(num_neighbors={self.num_neighbors})"
