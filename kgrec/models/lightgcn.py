"""LightGCN over the user-item interaction graph: PyG's model behind kgrec's recommender API."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch.sparse import check_sparse_tensor_invariants
from torch_geometric.nn.conv import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import LightGCN
from torch_geometric.utils import to_torch_csr_tensor

from kgrec.models.base import GraphRecommender
from kgrec.models.checks import check_count, check_edge_index
from kgrec.models.layers import TextInput, attach_text_input, embedding_noise


class LightGCNRecommender(GraphRecommender):
    r"""LightGCN from `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ (He et al., 2020), i.e.
    :class:`torch_geometric.nn.models.LightGCN` over the users and items of the node space.

    Embeddings propagate without transforms or non-linearities over the interaction edges,
    and the layers are averaged:

    .. math::
        \mathbf{x}^{(l+1)}_i = \sum_{j \in \mathcal{N}(i)}
        \frac{1}{\sqrt{\deg(i)\deg(j)}} \mathbf{x}^{(l)}_j, \qquad
        \mathbf{e}_i = \sum_{l=0}^{L} \alpha_l \mathbf{x}^{(l)}_i, \qquad
        \hat{y}_{ui} = \mathbf{e}_u^{\top} \mathbf{e}_i,

    with :math:`\alpha_l = 1 / (L + 1)` unless given. Which interactions form the graph is the
    caller's choice: the target domain's alone (target-only) or every domain's through the
    shared users (merged). ``edge_type`` is ignored; edges must stay within users and items
    and hold both directions.

    With ``text_features`` (AlphaRec, `Sheng et al., ICLR 2025
    <https://arxiv.org/abs/2407.05441>`_), nodes with text start from their text vector
    through a two-layer MLP (:class:`~kgrec.models.layers.TextInput`), added to the ID
    embedding (``text_input="add"``) or in its place (``"only"``, so an item with text and no
    interactions still has a representation):
    :math:`\mathbf{x}^{(0)}_v = \mathbf{e}_v + \mathrm{MLP}(\mathbf{t}_v)` or
    :math:`\mathrm{MLP}(\mathbf{t}_v)`; the propagation is the same. Without text the model is
    PyG's LightGCN exactly.

    The normalised adjacency is built once per ``edge_index`` (kept while the same tensor is
    passed again, like ``GCNConv(cached=True)``) and propagated as a sparse matrix product,
    far faster on CPU than scattering edge messages; the layers are PyG's ``LGConv`` with a
    backward pass that uses the adjacency's symmetry (:class:`SymmetricLGConv`).

    Args:
        num_users: number of users ``U`` (nodes ``0 .. U-1``).
        num_items: number of items ``I`` (nodes ``U .. U+I-1``).
        embedding_dim: size of the embeddings.
        num_layers: number of propagation layers ``L``.
        alpha: layer weights (scalar or ``[L + 1]``); None for ``1 / (L + 1)``.
        text_features: optional ``[U + I, d_text]`` text vectors of users and items, zeros where
            a node has none; a fixed input (a non-persistent buffer: pass the same features when
            rebuilding a model to load a checkpoint).
        text_mask: optional ``[U + I]`` boolean, which nodes have text (default: the rows of
            ``text_features`` that are not all zeros).
        text_input: ``"add"`` or ``"only"`` (used with ``text_features``).
        text_hidden: size of the text MLP's hidden layer.

    Shapes: ``forward(edge_index [2, E])`` returns ``[U + I, embedding_dim]``.
    """

    graph_caches = ("_adjacency",)

    def __init__(
        self,
        num_users: int,
        num_items: int,
        *,
        embedding_dim: int = 64,
        num_layers: int = 2,
        alpha: float | Tensor | None = None,
        text_features: Tensor | None = None,
        text_mask: Tensor | None = None,
        text_input: str = "add",
        text_hidden: int = 64,
    ) -> None:
        super().__init__(num_users, num_items)
        check_count("embedding_dim", embedding_dim, 1)
        check_count("num_layers", num_layers, 0)
        if isinstance(alpha, str | bytes | bool):  # else torch's "new(): invalid data type"
            raise TypeError(f"alpha must be a number or a tensor of weights, got {alpha!r}")
        if alpha is not None:
            if torch.as_tensor(alpha).dtype == torch.bool:  # np.bool_, a boolean tensor
                raise TypeError(f"alpha must be a number or a tensor of weights, got {alpha!r}")
            alpha = torch.as_tensor(alpha, dtype=torch.float)
            if alpha.dim() == 0:  # a number (NumPy's too), a 0-dim tensor: every layer's weight
                alpha = float(alpha)
        if isinstance(alpha, Tensor) and (alpha.dim() != 1 or alpha.numel() != num_layers + 1):
            raise ValueError(
                f"alpha must be a number or num_layers + 1 = {num_layers + 1} weights, got "
                f"shape {tuple(alpha.shape)}"
            )
        # NaN or inf: every embedding NaN, silently
        if alpha is not None and not bool(torch.isfinite(torch.as_tensor(alpha)).all()):
            raise ValueError(f"alpha must be finite, got {alpha}")
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        # normalize=False: forward passes the adjacency already normalised
        self.lightgcn = LightGCN(num_users + num_items, embedding_dim, num_layers, alpha=alpha)
        self.lightgcn.convs = nn.ModuleList(SymmetricLGConv() for _ in range(num_layers))
        # (edge_index, its version, the normalised CSR adjacency)
        self._adjacency: tuple[Tensor, int, Tensor] | None = None
        self.text_input: TextInput | None
        attach_text_input(
            self,
            text_features,
            text_mask,
            num_nodes=num_users + num_items,
            embedding_dim=embedding_dim,
            text_hidden=text_hidden,
            mode=text_input,
        )

    def node_parameters(self) -> dict[str, tuple[str, ...]]:
        return {"lightgcn.embedding.weight": ("user", "item")}

    def reset_parameters(self) -> None:
        self.lightgcn.reset_parameters()
        if self.text_input is not None:
            self.text_input.reset_parameters()

    def node_input(self) -> Tensor:
        """Layer-0 vectors ``[U + I, dim]``: the ID embeddings, with the text MLP's output
        where nodes have text."""
        x = self.lightgcn.embedding.weight
        if self.text_input is None:
            return x
        return self.text_input(x, self.text_features, self.text_mask)

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
        """Node embeddings ``[U + I, dim]``; ``noise`` > 0 perturbs every layer's output
        (:meth:`forward_layers`)."""
        if not noise and self.text_input is None:  # PyG's own read-out
            self._check_graph(edge_index, n_id)
            return self.lightgcn.get_embedding(self._normalised(edge_index))
        return self.forward_layers(edge_index, noise=noise, generator=generator, n_id=n_id)[0]

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
        r"""PyG's ``LightGCN.get_embedding`` with its layers kept, and XSimGCL's noise
        (:func:`~kgrec.models.layers.embedding_noise`, :math:`\boldsymbol{\Delta}`) on every
        layer's output before the next layer and the read-out,

        .. math::
            \mathbf{x}^{(l+1)} = \hat{\mathbf{A}} \mathbf{x}^{(l)} + \boldsymbol{\Delta}^{(l+1)},
            \qquad \mathbf{e} = \sum_{l=0}^{L} \alpha_l \mathbf{x}^{(l)}.

        Returns ``(e, [x0, ..., xL])``."""
        self._check_graph(edge_index, n_id)
        adj = self._normalised(edge_index)
        alpha = self.lightgcn.alpha
        x = self.node_input()
        out = x * alpha[0]
        layers = [x]
        for i, conv in enumerate(self.lightgcn.convs):
            x = embedding_noise(conv(x, adj), noise, generator)
            out = out + x * alpha[i + 1]
            layers.append(x)
        return out, layers

    def _check_graph(self, edge_index: Tensor, n_id: Tensor | None) -> None:
        if n_id is not None:
            self.require_sampling()
        num_nodes = self.num_users + self.num_items
        check_edge_index(edge_index)
        if edge_index.numel() and int(edge_index.max()) >= num_nodes:
            raise ValueError(
                f"edge_index reaches node {int(edge_index.max())}, beyond the {num_nodes} users "
                "and items: give LightGCN the interaction edges only"
            )

    def _normalised(self, edge_index: Tensor) -> Tensor:
        if (
            self._adjacency is None
            or self._adjacency[0] is not edge_index
            or self._adjacency[1] != edge_index._version  # changed in place
        ):
            num_nodes = self.num_users + self.num_items
            # int64: an int32 edge_index's keys (source * num_nodes + target, here and in PyG's
            # coalesce) overflowed past 46,340 nodes, torch's bare "index -1 is out of bounds"
            edges = edge_index.long()
            forward = torch.sort(edges[0] * num_nodes + edges[1]).values
            backward = torch.sort(edges[1] * num_nodes + edges[0]).values
            if not torch.equal(forward, backward):
                raise ValueError("LightGCN needs both directions of every edge in edge_index")
            index, weight = gcn_norm(edges, None, num_nodes, add_self_loops=False)
            # rows are targets: PyG reads a sparse adjacency as adj_t
            with warnings.catch_warnings(), check_sparse_tensor_invariants(enable=False):
                warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
                adj = to_torch_csr_tensor(index.flip(0), weight, size=(num_nodes, num_nodes))
            self._adjacency = (edge_index, edge_index._version, adj)
        return self._adjacency[2]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(users={self.num_users}, items={self.num_items}, "
            f"embedding_dim={self.embedding_dim}, num_layers={self.num_layers}"
            + ("" if self.text_input is None else f", text_input={self.text_input}")
            + ")"
        )


class SymmetricLGConv(LGConv):
    """PyG's :class:`~torch_geometric.nn.conv.LGConv` on a symmetric, already normalised
    sparse adjacency ``A``: the gradient of ``A @ x`` is ``A @ grad`` (``A`` is its own
    transpose), which spares PyTorch transposing ``A`` in every backward pass."""

    def __init__(self) -> None:
        super().__init__(normalize=False)

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor) -> Tensor:
        return _SymmetricSpMM.apply(adj_t.to(x.dtype), x)  # (a no-op in float32)


class _SymmetricSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adj: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(adj)
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:
        (adj,) = ctx.saved_tensors
        return None, torch.sparse.mm(adj, grad)
