"""R-GCN recommender: relational graph convolutions over users, items and knowledge entities."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kgrec.models.base import GraphRecommender
from kgrec.models.checks import (
    check_count,
    check_edge_index,
    check_flag,
    check_indices,
    check_number,
    check_tensor,
)
from kgrec.models.layers import (
    RelationalConv,
    RelationGroups,
    ScalarRelationalConv,
    TextInput,
    attach_text_input,
    embedding_noise,
    relation_groups,
)

RELATION_WEIGHTINGS = ("block", "scalar")


def check_graph_sizes(
    num_entities: int, num_relations: int, embedding_dim: int, num_layers: int, dropout: float
) -> None:
    """Reject bad sizes of a relational recommender with the value in the message."""
    check_count("num_entities", num_entities, 0)
    check_count("num_relations", num_relations, 1)
    check_count("embedding_dim", embedding_dim, 1)
    check_count("num_layers", num_layers, 0)
    check_number("dropout", dropout)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")


def require_edge_type(model: nn.Module, edge_type: Tensor | None) -> Tensor:
    if edge_type is None:
        raise ValueError(f"{model.__class__.__name__} needs edge_type (relation of each edge)")
    check_tensor("edge_type", edge_type)  # a list: its bare AttributeError on ._version
    return edge_type


class RGCNRecommender(GraphRecommender):
    r"""A recommender on relational graph convolutions (R-GCN) over the shared graph, after
    `"Modeling Relational Data with Graph Convolutional Networks"
    <https://arxiv.org/abs/1703.06103>`_ (Schlichtkrull et al., 2018), read out like LightGCN
    (`He et al., 2020 <https://arxiv.org/abs/2002.02126>`_).

    Every node of ``[users | items | entities]`` has an ID embedding
    :math:`\mathbf{x}^{(0)}_v` (with ``entity_embeddings=False`` entities start at zero).
    Each layer is a relational convolution with one weight per relation :math:`r` (user -> item
    interaction, its reverse, and both directions of every knowledge-graph relation), without
    self-connection or bias:

    .. math::
        \mathbf{x}^{(l+1)}_i = \sum_{r \in \mathcal{R}}
        \sum_{j \in \mathcal{N}_r(i)} \frac{1}{c_{i,j,r}} \mathbf{\Theta}^{(l)}_r
        \mathbf{x}^{(l)}_j,
        \qquad c_{i,j,r} = \sqrt{|\mathcal{N}_r(i)| \, |\mathcal{N}^{\textrm{out}}_r(j)|}
        \text{ for interactions},\quad
        c_{i,j,r} = |\mathcal{N}_r(i)| \, |\mathcal{R}^{\textrm{KG}}(i)| \text{ for knowledge},

    so interactions are normalised as in LightGCN (``symmetric=False``: averaged,
    :math:`c_{i,j,r} = |\mathcal{N}_r(i)|`) and a node hears the mean, over the knowledge
    relations that reach it, of the mean of their neighbours: an item with twenty knowledge
    relations does not drown its users in them. :math:`\mathbf{\Theta}_r` is block-diagonal
    (the R-GCN paper's regulariser; blocks of ``block_size``, 1 by default: one weight per
    relation and channel) and starts at the identity, so training starts from parameter-free
    propagation like LightGCN's and learns how much each relation carries. Layers are linear;
    the representation is the mean over layers and the score a dot product:

    .. math::
        \mathbf{e}_v = \frac{1}{L+1} \sum_{l=0}^{L} \mathbf{x}^{(l)}_v, \qquad
        \hat{y}_{ui} = \mathbf{e}_u^{\top} \mathbf{e}_i.

    With ``relation_weighting="scalar"`` each relation (each direction of it) carries one learned
    scalar instead, :math:`\mathbf{\Theta}^{(l)}_r = w^{(l)}_r \mathbf{I}` with
    :math:`w^{(l)}_r = 1` at the start (:class:`~kgrec.models.layers.ScalarRelationalConv`,
    LightKG, KDD 2025): a light knowledge path with ``L * |R|`` parameters that learns how loud
    each relation is, not how it turns the embedding space.

    With ``text_features``, nodes with text start from their text vector through a two-layer
    MLP (:class:`~kgrec.models.layers.TextInput`, AlphaRec, ICLR 2025), added to the ID
    embedding (``text_input="add"``) or in its place (``"only"``):
    :math:`\mathbf{x}^{(0)}_v = \mathbf{e}_v + \mathrm{MLP}(\mathbf{t}_v)` or
    :math:`\mathrm{MLP}(\mathbf{t}_v)`; nodes without text keep their ID embedding (zeros
    for entities with ``entity_embeddings=False``).

    Knowledge reaches items (and through them users) along typed edges, so items that share
    actors, directors or genres move together. With interaction relations only and
    :math:`\mathbf{\Theta}_r = \mathbf{I}` the model is LightGCN. On neighbour-sampled
    mini-batches (:mod:`kgrec.sampling`) the normalisation keeps each node's degree in the
    whole graph (``forward``'s ``degree``), rescaled by the share of its edges sampled.

    Args:
        num_users: number of users ``U`` (nodes ``0 .. U-1``).
        num_items: number of items ``I`` (nodes ``U .. U+I-1``).
        num_entities: number of knowledge-graph entities (the nodes after the items).
        num_relations: number of edge types of ``edge_type``.
        embedding_dim: size of every embedding.
        num_layers: number of relational convolutions ``L``.
        block_size: size of the diagonal blocks of :math:`\mathbf{\Theta}_r` (1: diagonal;
            ``embedding_dim``: full matrices); must divide ``embedding_dim``.
        num_interaction_relations: edge types ``0 .. k-1`` are user-item interactions, the
            others knowledge relations (:mod:`kgrec.data.export` numbers user -> item 0 and
            item -> user 1).
        dropout: dropout on each layer's output while training.
        symmetric: normalise interaction relations as LightGCN does (True) or average them.
        entity_embeddings: give knowledge-graph entities ID embeddings (True), or start them at
            zero (False): an entity is then, after one layer, the mean of the items it touches,
            and knowledge acts as smoothing between items that share entities, with no
            parameters per entity.
        relation_weighting: ``"block"`` (block-diagonal :math:`\mathbf{\Theta}_r`) or
            ``"scalar"`` (one weight per relation and layer; ``block_size`` then unused).
        text_features: optional ``[num_nodes, d_text]`` text vectors, zeros where a node has
            none; a fixed input (a non-persistent buffer: pass the same features when
            rebuilding a model to load a checkpoint).
        text_mask: optional ``[num_nodes]`` boolean, which nodes have text (default: the rows
            of ``text_features`` that are not all zeros).
        text_input: ``"add"`` or ``"only"`` (see above; used with ``text_features``).
        text_hidden: size of the text MLP's hidden layer.

    Shapes: ``forward(edge_index [2, E], edge_type [E], n_id=None, degree=None)`` returns
    ``[num_nodes, embedding_dim]`` (``[len(n_id), embedding_dim]`` for a sampled subgraph).
    """

    supports_sampling = True
    graph_caches = ("_cached_groups",)

    def __init__(
        self,
        num_users: int,
        num_items: int,
        num_entities: int,
        num_relations: int,
        *,
        embedding_dim: int = 64,
        num_layers: int = 2,
        block_size: int = 1,
        num_interaction_relations: int = 2,
        dropout: float = 0.0,
        symmetric: bool = True,
        entity_embeddings: bool = True,
        relation_weighting: str = "block",
        text_features: Tensor | None = None,
        text_mask: Tensor | None = None,
        text_input: str = "add",
        text_hidden: int = 64,
    ) -> None:
        super().__init__(num_users, num_items)
        check_graph_sizes(num_entities, num_relations, embedding_dim, num_layers, dropout)
        check_count("block_size", block_size, 1)
        check_count("num_interaction_relations", num_interaction_relations, 0)
        # "False" would be true: entity embeddings, LightGCN's normalisation, silently
        symmetric = check_flag("symmetric", symmetric)
        entity_embeddings = check_flag("entity_embeddings", entity_embeddings)
        if embedding_dim % block_size:
            raise ValueError(
                f"block_size must divide embedding_dim ({embedding_dim}), got {block_size}"
            )
        if not 0 <= num_interaction_relations <= num_relations:
            raise ValueError(
                f"num_interaction_relations must lie in [0, {num_relations}], "
                f"got {num_interaction_relations}"
            )
        if relation_weighting not in RELATION_WEIGHTINGS:
            raise ValueError(
                f"relation_weighting must be one of {RELATION_WEIGHTINGS}, "
                f"got {relation_weighting!r}"
            )
        self.num_entities = num_entities
        self.relation_weighting = relation_weighting
        self.num_relations = num_relations
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.block_size = block_size
        self.num_interaction_relations = num_interaction_relations
        self.dropout = dropout
        self.symmetric = symmetric
        self.entity_embeddings = entity_embeddings
        self.num_nodes = num_users + num_items + num_entities
        # the graph's relation groups, kept while the same unmodified tensors come back
        self._cached_groups: tuple[Tensor, Tensor, int, int, RelationGroups] | None = None
        num_embedded = self.num_nodes if entity_embeddings else num_users + num_items
        self.embedding = nn.Embedding(num_embedded, embedding_dim)
        self.convs = nn.ModuleList(
            ScalarRelationalConv(num_relations)
            if relation_weighting == "scalar"
            else RelationalConv(
                embedding_dim,
                embedding_dim,
                num_relations,
                num_blocks=embedding_dim // block_size,
                root_weight=False,
                bias=False,
            )
            for _ in range(num_layers)
        )
        self.text_input: TextInput | None
        attach_text_input(
            self,
            text_features,
            text_mask,
            num_nodes=self.num_nodes,
            embedding_dim=embedding_dim,
            text_hidden=text_hidden,
            mode=text_input,
        )
        RGCNRecommender.reset_parameters(self)  # subclasses reset their own parts

    def node_parameters(self) -> dict[str, tuple[str, ...]]:
        kinds = ("user", "item", "entity") if self.entity_embeddings else ("user", "item")
        return {"embedding.weight": kinds}

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.embedding.weight)
        with torch.no_grad():
            for conv in self.convs:  # identity blocks, or scalars at 1
                if isinstance(conv, ScalarRelationalConv):
                    conv.reset_parameters()
                else:
                    conv.weight.copy_(torch.eye(self.block_size).expand_as(conv.weight))
        if self.text_input is not None:
            self.text_input.reset_parameters()

    def forward(
        self,
        edge_index: Tensor,
        edge_type: Tensor | None = None,
        *,
        n_id: Tensor | None = None,
        degree: Tensor | None = None,
        noise: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """With ``n_id`` (a sampled subgraph), ``degree`` gives the subgraph nodes' numbers of
        interactions in the whole graph, for LightGCN's normalisation (see
        :func:`~kgrec.models.layers.relation_groups`); by default they are counted in
        ``edge_index``. ``noise`` > 0 perturbs every layer's output (:meth:`forward_layers`)."""
        return self.forward_layers(
            edge_index, edge_type, n_id=n_id, degree=degree, noise=noise, generator=generator
        )[0]

    def forward_layers(
        self,
        edge_index: Tensor,
        edge_type: Tensor | None = None,
        *,
        n_id: Tensor | None = None,
        degree: Tensor | None = None,
        noise: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """``(forward's embeddings, [x0, ..., xL])``, with XSimGCL's noise
        (:func:`~kgrec.models.layers.embedding_noise`) added to every layer's output (after
        its domain adaptation and dropout) before the next layer and the mean."""
        edge_type = require_edge_type(self, edge_type)
        if n_id is not None:  # else torch's bare "index out of range in self" deep inside
            check_indices("n_id", n_id, self.num_nodes)
        if degree is not None:
            self._check_degree(degree, n_id)
        x = self.node_input(n_id)
        groups = self.relation_groups(edge_index, edge_type, x.size(0), degree)
        layers = [x]
        for layer, conv in enumerate(self.convs):
            x = self.adapt(layer, conv(x, edge_index, edge_type, groups), n_id)
            x = F.dropout(x, self.dropout, self.training)
            x = embedding_noise(x, noise, generator)
            layers.append(x)
        return torch.stack(layers).mean(dim=0), layers

    def _check_degree(self, degree: Tensor, n_id: Tensor | None) -> None:
        """A ValueError naming ``degree`` unless it holds a count (a number >= 0) per node of
        the graph (of ``n_id``, a sampled subgraph): a NaN made every embedding it reached
        NaN and a negative count was read as 1, silently; one of the wrong length was read as
        far as the graph reached, or was torch's bare IndexError."""
        check_tensor("degree", degree)
        nodes, of = (self.num_nodes, "the graph") if n_id is None else (n_id.numel(), "n_id")
        if tuple(degree.shape) != (nodes,):
            raise ValueError(
                f"degree must hold one count per node of {of} ({nodes}), got shape "
                f"{list(degree.shape)}"
            )
        bad = ~(degree >= 0)  # NaN too
        if bool(bad.any()):
            raise ValueError(
                f"degree must hold numbers of interactions (>= 0), got {degree[bad][0].item()} "
                f"(node {int(bad.nonzero()[0])} of {of})"
            )

    def relation_groups(
        self, edge_index: Tensor, edge_type: Tensor, num_nodes: int, degree: Tensor | None = None
    ) -> RelationGroups:
        """:func:`~kgrec.models.layers.relation_groups` of the graph, computed once for as long
        as the same tensors, unmodified, are passed again without ``degree`` (the trainer's full
        graph)."""
        check_tensor("edge_index", edge_index)  # before ._version: a list's AttributeError
        versions = (edge_index._version, edge_type._version)
        cached = self._cached_groups
        if (
            degree is None
            and cached is not None
            and cached[0] is edge_index
            and cached[1] is edge_type
            and cached[2:4] == versions
            and cached[4].mean.size(1) == num_nodes
        ):
            return cached[4]
        check_edge_index(edge_index, num_nodes, edge_type)  # once per graph, not per call
        given = degree is not None  # a sampled subgraph's: those groups are not cached
        if degree is None and self.symmetric:
            degree = self.interaction_degree(edge_index, edge_type, num_nodes)
        knowledge = (
            torch.arange(self.num_relations, device=edge_type.device)
            >= self.num_interaction_relations
        )
        groups = relation_groups(
            edge_index,
            edge_type,
            num_nodes,
            self.num_relations,
            averaged=knowledge,
            symmetric=~knowledge if self.symmetric else None,
            degree=degree,
        )
        if not given:
            self._cached_groups = (edge_index, edge_type, *versions, groups)
        return groups

    def interaction_degree(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int) -> Tensor:
        """Each node's number of interaction edges reaching it in ``edge_index`` (LightGCN's
        degree): what a sampled subgraph passes to :meth:`forward` as ``degree``, counted in the
        whole graph."""
        interactions = edge_type < self.num_interaction_relations
        return torch.bincount(edge_index[1, interactions], minlength=num_nodes)

    def node_input(self, n_id: Tensor | None) -> Tensor:
        """Layer-0 vectors of all nodes (``n_id`` None) or of the nodes ``n_id``: ID embeddings
        (zeros for entities without them), with the text MLP's output where nodes have text."""
        x = self._id_input(n_id)
        if self.text_input is None:
            return x
        if n_id is None:
            return self.text_input(x, self.text_features, self.text_mask)
        return self.text_input(x, self.text_features[n_id], self.text_mask[n_id], n_id=n_id)

    def _id_input(self, n_id: Tensor | None) -> Tensor:
        weight = self.embedding.weight
        if self.entity_embeddings:
            return weight if n_id is None else self.embedding(n_id)
        if n_id is None:
            return torch.cat([weight, weight.new_zeros(self.num_entities, weight.size(1))])
        embedded = n_id < weight.size(0)
        x = weight.new_zeros(n_id.size(0), weight.size(1))
        return x.index_put((embedded.nonzero().squeeze(1),), self.embedding(n_id[embedded]))

    def adapt(self, layer: int, x: Tensor, n_id: Tensor | None) -> Tensor:
        """What follows convolution ``layer`` (nothing here; subclasses add to it)."""
        return x

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(users={self.num_users}, items={self.num_items}, "
            f"entities={self.num_entities}, num_relations={self.num_relations}, "
            f"embedding_dim={self.embedding_dim}, num_layers={self.num_layers}, "
            f"relation_weighting={self.relation_weighting!r}, block_size={self.block_size}, "
            f"text_input={self.text_input})"
        )
