"""R-GCN recommender: relational graph convolutions over users, items and knowledge entities."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kgrec.models.base import GraphRecommender
from kgrec.models.layers import RelationalConv, RelationGroups, relation_groups


def check_graph_sizes(
    num_entities: int, num_relations: int, embedding_dim: int, num_layers: int, dropout: float
) -> None:
    """Reject bad sizes of a relational recommender with the value in the message."""
    if num_entities < 0:
        raise ValueError(f"num_entities must be non-negative, got {num_entities}")
    if num_relations <= 0:
        raise ValueError(f"num_relations must be positive, got {num_relations}")
    if embedding_dim <= 0:
        raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
    if num_layers < 0:
        raise ValueError(f"num_layers must be non-negative, got {num_layers}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")


def require_edge_type(model: nn.Module, edge_type: Tensor | None) -> Tensor:
    if edge_type is None:
        raise ValueError(f"{model.__class__.__name__} needs edge_type (relation of each edge)")
    return edge_type


class RGCNRecommender(GraphRecommender):
    r"""A recommender on relational graph convolutions (R-GCN) over the shared graph, after
    `"Modeling Relational Data with Graph Convolutional Networks"
    <https://arxiv.org/abs/1703.06103>`_ (Schlichtkrull et al., 2018), read out like LightGCN
    (`He et al., 2020 <https://arxiv.org/abs/2002.02126>`_).

    Every node of ``[users | items | entities]`` has an ID embedding
    :math:`\mathbf{x}^{(0)}_v`. Each layer is a relational convolution with one weight per
    relation (user-item interaction, its reverse, and both directions of every
    knowledge-graph relation), optionally basis-decomposed:

    .. math::
        \mathbf{x}^{(l+1)}_i = \mathbf{\Theta}^{(l)}_{\textrm{root}} \mathbf{x}^{(l)}_i +
        \sum_{r \in \mathcal{R}} \frac{1}{|\mathcal{N}_r(i)|}
        \sum_{j \in \mathcal{N}_r(i)} \mathbf{\Theta}^{(l)}_r \mathbf{x}^{(l)}_j
        + \mathbf{b}^{(l)},
        \qquad \mathbf{\Theta}^{(l)}_r = \sum_{b} a^{(l)}_{rb} \mathbf{V}^{(l)}_b.

    Layers are linear (no activation in between, as LightGCN argues for collaborative
    filtering); the representation is the mean over layers and the score a dot product:

    .. math::
        \mathbf{e}_v = \frac{1}{L+1} \sum_{l=0}^{L} \mathbf{x}^{(l)}_v, \qquad
        \hat{y}_{ui} = \mathbf{e}_u^{\top} \mathbf{e}_i.

    Knowledge flows into items (and through them to users) along typed edges, so items that
    share actors, directors or genres move together even with few interactions.

    Args:
        num_users: number of users ``U`` (nodes ``0 .. U-1``).
        num_items: number of items ``I`` (nodes ``U .. U+I-1``).
        num_entities: number of knowledge-graph entities (the nodes after the items).
        num_relations: number of edge types of ``edge_type``.
        embedding_dim: size of every embedding.
        num_layers: number of relational convolutions ``L``.
        num_bases: number of bases of the basis decomposition (None: full matrices).
        dropout: dropout on each layer's output while training.

    Shapes: ``forward(edge_index [2, E], edge_type [E], n_id=None)`` returns
    ``[num_nodes, embedding_dim]`` (``[len(n_id), embedding_dim]`` for a sampled subgraph).
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        num_entities: int,
        num_relations: int,
        *,
        embedding_dim: int = 64,
        num_layers: int = 2,
        num_bases: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(num_users, num_items)
        check_graph_sizes(num_entities, num_relations, embedding_dim, num_layers, dropout)
        self.num_entities = num_entities
        self.num_relations = num_relations
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.num_bases = num_bases
        self.dropout = dropout
        self.num_nodes = num_users + num_items + num_entities
        # the graph's relation groups, kept while the same unmodified tensors come back
        self._cached_groups: tuple[Tensor, Tensor, int, int, RelationGroups] | None = None
        self.embedding = nn.Embedding(self.num_nodes, embedding_dim)
        self.convs = nn.ModuleList(
            RelationalConv(embedding_dim, embedding_dim, num_relations, num_bases=num_bases)
            for _ in range(num_layers)
        )
        RGCNRecommender.reset_parameters(self)  # subclasses reset their own parts

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.embedding.weight)
        for conv in self.convs:
            conv.reset_parameters()

    def forward(
        self,
        edge_index: Tensor,
        edge_type: Tensor | None = None,
        *,
        n_id: Tensor | None = None,
    ) -> Tensor:
        edge_type = require_edge_type(self, edge_type)
        x = self.node_input(n_id)
        groups = self.relation_groups(edge_index, edge_type, x.size(0))
        layers = [x]
        for layer, conv in enumerate(self.convs):
            x = self.adapt(layer, conv(x, edge_index, edge_type, groups), n_id)
            x = F.dropout(x, self.dropout, self.training)
            layers.append(x)
        return torch.stack(layers).mean(dim=0)

    def relation_groups(
        self, edge_index: Tensor, edge_type: Tensor, num_nodes: int
    ) -> RelationGroups:
        """:func:`~kgrec.models.layers.relation_groups` of the graph, computed once for as long
        as the same tensors, unmodified, are passed again (the trainer's full graph)."""
        versions = (edge_index._version, edge_type._version)
        cached = self._cached_groups
        if (
            cached is not None
            and cached[0] is edge_index
            and cached[1] is edge_type
            and cached[2:4] == versions
            and cached[4].mean.size(1) == num_nodes
        ):
            return cached[4]
        groups = relation_groups(edge_index, edge_type, num_nodes, self.num_relations)
        self._cached_groups = (edge_index, edge_type, *versions, groups)
        return groups

    def node_input(self, n_id: Tensor | None) -> Tensor:
        """Layer-0 vectors of all nodes (``n_id`` None) or of the nodes ``n_id``."""
        return self.embedding.weight if n_id is None else self.embedding(n_id)

    def adapt(self, layer: int, x: Tensor, n_id: Tensor | None) -> Tensor:
        """What follows convolution ``layer`` (nothing here; subclasses add to it)."""
        return x

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(users={self.num_users}, items={self.num_items}, "
            f"entities={self.num_entities}, num_relations={self.num_relations}, "
            f"embedding_dim={self.embedding_dim}, num_layers={self.num_layers})"
        )
