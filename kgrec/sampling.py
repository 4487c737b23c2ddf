"""Mini-batch training with neighbour sampling (``--batching neighbor``), for graphs too large
to propagate over whole for every batch.

Each batch of ``(user, positive item, negative item)`` triples becomes its seed nodes; PyG's
:class:`~torch_geometric.loader.NeighborLoader` samples up to ``num_neighbors`` incoming edges
per node and hop (GraphSAGE-style, `Hamilton et al., 2017 <https://arxiv.org/abs/1706.02216>`_)
over the homogeneous graph with its edge types, and the model propagates over that subgraph only
(``forward(edge_index, edge_type, n_id=...)``). The seeds get the same BPR loss (and auxiliary
loss) as in full-batch training; mean aggregation per relation (R-GCN) keeps the sampled
estimate unbiased. Models that only propagate full-batch (LightGCN, popularity) reject ``n_id``.

PyG's sampler needs ``torch-sparse`` or ``pyg-lib`` (``pip install kgrec[sparse]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader

from kgrec.models.base import GraphRecommender
from kgrec.models.rgcn import RGCNRecommender
from kgrec.train import bpr_loss

NUM_NEIGHBORS = 10


def neighbor_loader(
    graph: Data, model: RGCNRecommender, num_neighbors: int | Sequence[int]
) -> NeighborLoader:
    """A :class:`NeighborLoader` over ``graph``'s edges and edge types, one hop per layer of
    ``model`` (or as many as ``num_neighbors`` lists).

    Call it with seed node ids to get their sampled subgraph (``n_id`` lists the seeds first).
    """
    if not isinstance(model, RGCNRecommender):
        raise ValueError(
            "neighbour sampling needs a relational model (RGCNRecommender or a subclass), "
            f"got {model.__class__.__name__}"
        )
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


def train_epoch(
    model: GraphRecommender,
    graph: Data,
    triples: Tensor,
    weight: Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    batch_size: int,
    reg_weight: float,
    num_neighbors: int | Sequence[int] = NUM_NEIGHBORS,
) -> float:
    """One epoch over ``triples`` (``[3, N]`` user, positive item, negative item indices) in
    mini-batches of ``batch_size``, each on its sampled subgraph; the mean batch loss.

    The signature of :data:`kgrec.train.EpochFn`; ``num_neighbors`` is the fan-out per hop
    (an int for every layer of the model, or one per layer; -1 takes all neighbours).
    """
    loader = neighbor_loader(graph, model, num_neighbors)
    model.train()
    losses = []
    for start in range(0, triples.size(1), batch_size):
        users, pos, neg = triples[:, start : start + batch_size]
        nodes = torch.cat([users, pos + model.num_users, neg + model.num_users])
        seeds, local = torch.unique(nodes, return_inverse=True)
        batch = loader(seeds)
        optimizer.zero_grad()
        node_emb = model(batch.edge_index, batch.edge_type, n_id=batch.n_id, degree=batch.degree)
        seed_emb = node_emb[: seeds.numel()]
        user_emb, pos_emb, neg_emb = seed_emb[local].chunk(3)
        loss = bpr_loss(
            user_emb,
            pos_emb,
            neg_emb,
            weight[start : start + batch_size],
            reg_weight=reg_weight,
        )
        aux = model.auxiliary_loss(seed_emb, n_id=seeds)
        if aux is not None:
            loss = loss + aux
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / max(len(losses), 1)
