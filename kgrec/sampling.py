"""Mini-batch training with neighbour sampling (``--batching neighbor``), for graphs too large
to propagate over whole for every batch.

Each batch of ``(user, positive item, negative item)`` triples becomes its seed nodes;
:class:`NeighborSampler` samples up to ``num_neighbors`` incoming edges per node and hop
(GraphSAGE-style, `Hamilton et al., 2017 <https://arxiv.org/abs/1706.02216>`_) over the
homogeneous graph with its edge types, and the model propagates over that subgraph only
(``forward(edge_index, edge_type, n_id=...)``). The seeds get the same objective as in
full-batch training; mean aggregation per relation (R-GCN) keeps the sampled estimate unbiased.
Whether a model can train this way is its class attribute
:attr:`~kgrec.models.base.GraphRecommender.supports_sampling`.

The sampler has the semantics of PyG's :class:`~torch_geometric.loader.NeighborLoader`
(directed, without replacement, nodes shared across seeds) and is written in plain torch
operations: PyG's own needs ``torch-sparse`` or ``pyg-lib``, which PyPI ships only as sources
(a 40-minute build). ``tests/models/test_sampling.py`` checks the two against each other where
either is installed.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from kgrec.models.base import GraphRecommender
from kgrec.objectives import Batch

if TYPE_CHECKING:  # imported where a graph is built: `kgrec COMMAND --help` needs no PyG
    from torch_geometric.data import Data

NUM_NEIGHBORS = 10


class NeighborSampler:
    """Samples the ``len(fanout)``-hop incoming neighbourhood of seed nodes, as PyG's
    :class:`~torch_geometric.loader.NeighborLoader` does.

    Edges run ``edge_index[0] -> edge_index[1]`` (messages flow source to target). Hop ``h``
    takes, for each node of its frontier (the seeds at hop 0, then the nodes first reached at
    hop ``h - 1``), ``fanout[h]`` of the edges that reach it, uniformly without replacement
    (all of them where it has no more, or where ``fanout[h]`` is -1); their sources not seen
    yet form the next frontier. It runs on ``edge_index``'s device; randomness comes from
    torch's global generator there, so ``torch.manual_seed`` makes the samples reproducible.

    Args:
        edge_index: ``(2, E)`` source and target node ids.
        edge_type: ``(E,)`` relation of each edge.
        num_nodes: the number of nodes of the graph.
        fanout: edges taken per node, one entry per hop (-1: all).
        degree: ``(num_nodes,)`` a node attribute to slice into each subgraph (the model's
            whole-graph interaction degree), or None.

    Calling it with ``(S,)`` unique seed node ids returns a :class:`~torch_geometric.data.Data`
    with ``n_id`` (the subgraph's nodes, the seeds first in their order, then the others in
    the order they were reached), ``edge_index`` (in local ids ``0 .. len(n_id) - 1``),
    ``edge_type``, ``e_id`` (the edges' ids in ``edge_index``), ``degree`` sliced by ``n_id``,
    ``batch_size`` (``S``) and ``num_sampled_nodes`` / ``num_sampled_edges`` per hop.
    """

    def __init__(
        self,
        edge_index: Tensor,
        edge_type: Tensor,
        num_nodes: int,
        fanout: Sequence[int],
        degree: Tensor | None = None,
    ) -> None:
        fanout = [int(k) for k in fanout]
        if not fanout or any(k == 0 or k < -1 for k in fanout):
            raise ValueError(f"num_neighbors must be positive (or -1 for all), got {fanout}")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
        if edge_type.shape != edge_index.shape[1:]:
            raise ValueError(
                f"edge_type has shape {tuple(edge_type.shape)}, edge_index has "
                f"{edge_index.size(1)} edges"
            )
        if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
            raise ValueError(f"edge_index has node ids outside 0 .. {num_nodes - 1}")
        if degree is not None and degree.size(0) != num_nodes:
            raise ValueError(f"degree has {degree.size(0)} rows for {num_nodes} nodes")
        self.fanout = fanout
        self.num_nodes = num_nodes
        self.device = edge_index.device
        self.edge_type = edge_type
        self.degree = degree
        # CSC: edges grouped by target, in their original order within a target (as PyG's)
        target = edge_index[1]
        self.perm = torch.sort(target, stable=True).indices
        self.source = edge_index[0, self.perm]
        counts = torch.bincount(target, minlength=num_nodes)
        self.colptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])

    def _sample_edges(self, frontier: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """(positions in the CSC arrays, index into ``frontier`` of each edge's target) of up
        to ``k`` edges reaching each frontier node, grouped by frontier node in its order."""
        start = self.colptr[frontier]
        deg = self.colptr[frontier + 1] - start
        slot = torch.arange(frontier.numel(), device=self.device)
        take_all = deg <= k if k >= 0 else torch.ones_like(deg, dtype=torch.bool)
        # nodes with no more than k edges: all of them, in CSC order
        deg_all = deg[take_all]
        owner_all = torch.repeat_interleave(slot[take_all], deg_all)
        first = torch.cumsum(deg_all, 0) - deg_all
        offset = torch.arange(owner_all.numel(), device=self.device)
        offset -= torch.repeat_interleave(first, deg_all)
        pos_all = start[owner_all] + offset
        if bool(take_all.all()):
            return pos_all, owner_all
        # the others: k of their d edges uniformly without replacement, Floyd's algorithm run
        # on all of them at once (k steps): step i draws t in [0, j], j = d - k + i, and keeps
        # t unless already chosen, then j (which no earlier step could choose)
        many = ~take_all
        d = deg[many]
        chosen = torch.empty(d.numel(), k, dtype=torch.long, device=self.device)
        for i in range(k):
            j = d - k + i
            draw = torch.rand(d.numel(), dtype=torch.float64, device=self.device)
            t = (draw * (j + 1)).long().minimum(j)
            seen = (chosen[:, :i] == t.unsqueeze(1)).any(1)
            chosen[:, i] = torch.where(seen, j, t)
        owner_many = slot[many].repeat_interleave(k)
        pos_many = (start[many].unsqueeze(1) + chosen).flatten()
        owner = torch.cat([owner_all, owner_many])
        order = torch.sort(owner, stable=True).indices  # back to frontier order
        return torch.cat([pos_all, pos_many])[order], owner[order]

    def __call__(self, seeds: Tensor) -> Data:
        seeds = torch.as_tensor(seeds, dtype=torch.long, device=self.device)
        if seeds.dim() != 1:
            raise ValueError(f"seeds must be a 1-D tensor of node ids, got {tuple(seeds.shape)}")
        if seeds.numel() and (seeds.min() < 0 or seeds.max() >= self.num_nodes):
            raise ValueError(f"seeds has node ids outside 0 .. {self.num_nodes - 1}")
        if torch.unique(seeds).numel() != seeds.numel():
            raise ValueError("seeds has repeated node ids")
        local = torch.full((self.num_nodes,), -1, dtype=torch.long, device=self.device)
        local[seeds] = torch.arange(seeds.numel(), device=self.device)
        nodes, sources, targets, edges = [seeds], [], [], []
        num_sampled_edges = []
        frontier, num_seen = seeds, seeds.numel()
        for k in self.fanout:
            pos, owner = self._sample_edges(frontier, k)
            source = self.source[pos]
            # sources not seen yet, in the order first reached, get the next local ids
            unseen = source[local[source] < 0]
            found, inverse = torch.unique(unseen, return_inverse=True)
            reached = torch.full((found.numel(),), unseen.numel(), device=self.device)
            order = torch.arange(unseen.numel(), device=self.device)
            reached.scatter_reduce_(0, inverse, order, "amin")
            new = found[torch.argsort(reached)]
            local[new] = torch.arange(num_seen, num_seen + new.numel(), device=self.device)
            num_seen += new.numel()
            nodes.append(new)
            sources.append(local[source])
            targets.append(local[frontier][owner])
            edges.append(self.perm[pos])
            num_sampled_edges.append(pos.numel())
            frontier = new
        from torch_geometric.data import Data

        n_id = torch.cat(nodes)
        e_id = torch.cat(edges)
        return Data(
            edge_index=torch.stack([torch.cat(sources), torch.cat(targets)]),
            edge_type=self.edge_type[e_id],
            n_id=n_id,
            e_id=e_id,
            degree=None if self.degree is None else self.degree[n_id],
            num_nodes=n_id.numel(),
            batch_size=seeds.numel(),
            num_sampled_nodes=[part.numel() for part in nodes],
            num_sampled_edges=num_sampled_edges,
        )

    def __repr__(self) -> str:
        return f"NeighborSampler(num_nodes={self.num_nodes}, fanout={self.fanout})"


def check_num_neighbors(num_neighbors: object) -> int | list[int]:
    """``num_neighbors`` as a Python int, or a list of them (a sequence or an array of
    integers, one per hop); a TypeError naming it otherwise (``True``, ``2.5``, ``"10"``, which
    would be taken as 1 or 2 neighbours or fail inside the sampler), NumPy integers taken as
    the numbers they hold. Their range is :func:`neighbor_loader`'s to check."""

    def integer(value: object) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    if integer(num_neighbors):
        return int(num_neighbors)
    if isinstance(num_neighbors, Iterable) and not isinstance(num_neighbors, str | bytes):
        fanout = list(num_neighbors)
        if all(integer(k) for k in fanout):
            return [int(k) for k in fanout]
    raise TypeError(
        f"num_neighbors must be an integer or a list of integers (one per hop), got "
        f"{num_neighbors!r}"
    )


def neighbor_loader(
    graph: Data, model: GraphRecommender, num_neighbors: int | Sequence[int]
) -> NeighborSampler:
    """A :class:`NeighborSampler` over ``graph``'s edges and edge types, one hop per layer of
    ``model`` (or as many as ``num_neighbors`` lists, at least one per layer: a layer without
    its hop would miss messages and give the seeds other representations than the whole
    graph's), slicing the model's whole-graph
    interaction degree (for LightGCN-style normalisation) into each subgraph.

    Call it with seed node ids to get their sampled subgraph (``n_id`` lists the seeds first).
    """
    model.require_sampling()
    fanout = check_num_neighbors(num_neighbors)
    if isinstance(fanout, int) and model.num_layers == 0:  # else "..., got []" for a 10
        raise ValueError(
            f"num_neighbors {fanout} samples one hop per layer, and the model has no layers "
            "(num_layers=0: nothing propagates): train it with FullGraph()"
        )
    if isinstance(fanout, int):
        fanout = [fanout] * model.num_layers
    if any(k == 0 or k < -1 for k in fanout):
        raise ValueError(f"num_neighbors must be positive (or -1 for all), got {fanout}")
    if len(fanout) < model.num_layers:
        raise ValueError(
            f"num_neighbors gives {len(fanout)} hop(s) for a model of {model.num_layers} "
            "layers: one hop per layer at least"
        )
    if graph.edge_type is None:
        raise ValueError("neighbour sampling needs the graph's edge_type")
    return NeighborSampler(
        graph.edge_index,
        graph.edge_type,
        graph.num_nodes,
        fanout,
        degree=model.interaction_degree(graph.edge_index, graph.edge_type, graph.num_nodes),
    )


class NeighborSampling:
    """Mini-batches on sampled subgraphs: each batch of triples becomes its seed nodes, and
    the model propagates over their sampled ``num_neighbors``-per-hop neighbourhood (an int
    for every layer of the model, or one per layer, at least as many as the model's layers;
    -1 takes all neighbours).

    An epoch strategy of :func:`kgrec.train.fit` (:class:`kgrec.train.EpochStrategy`).
    """

    def __init__(self, num_neighbors: int | Sequence[int] = NUM_NEIGHBORS) -> None:
        # "10", 2.5: a TypeError before anything trains; np.int64(5) as 5
        self.num_neighbors = check_num_neighbors(num_neighbors)

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
