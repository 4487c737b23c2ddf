"""Building blocks of kgrec's graph models: relational convolution, gradient reversal, gating.

:class:`RelationalConv` computes exactly PyG's :class:`~torch_geometric.nn.conv.RGCNConv`
(mean aggregation per relation), grouped by (relation, target node) so that its cost grows with
the edges and the groups rather than with ``num_relations * num_nodes``: PyG's CPU loop builds a
``[num_nodes, channels]`` buffer and a ``[num_nodes, channels] @ [channels, channels]`` product for
every relation, which is slow for knowledge graphs with dozens of relation types (without the
``pyg-lib`` segment-matmul kernel, which has no CPU wheel on PyPI).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.nn.inits import glorot, zeros

from kgrec.models.checks import (
    check_count,
    check_edge_index,
    check_number,
    check_tensor,
    check_vectors,
)


class RelationGroups(NamedTuple):
    """Edges grouped by (relation, target node): the layout :class:`RelationalConv` needs.

    ``mean`` is the ``[num_groups, num_nodes]`` sparse (CSR) matrix averaging the sources of
    each group and ``mean_t`` its transpose; ``target[g]`` is the target node of group ``g``;
    groups are sorted by relation and ``ptr[r]:ptr[r + 1]`` are those of relation ``r``.
    """

    mean: Tensor
    mean_t: Tensor
    target: Tensor
    ptr: list[int]

    def pool(self, x: Tensor) -> Tensor:
        """``mean @ x``, the mean of the sources of every group; differentiable in ``x``."""
        mean, mean_t = self.mean.to(x.dtype), self.mean_t.to(x.dtype)  # no-ops in float32
        return _SparseMatmul.apply(mean, mean_t, x)


class _SparseMatmul(torch.autograd.Function):
    """``matrix @ x`` whose backward pass multiplies by the transpose given, a CSR matrix too:
    several times faster on CPU than autograd through a COO or CSR product."""

    @staticmethod
    def forward(ctx, matrix: Tensor, matrix_t: Tensor, x: Tensor) -> Tensor:
        ctx.matrix_t = matrix_t
        return matrix @ x

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, None, Tensor]:
        return None, None, ctx.matrix_t @ grad


def relation_groups(
    edge_index: Tensor,
    edge_type: Tensor,
    num_nodes: int,
    num_relations: int,
    *,
    averaged: Tensor | None = None,
    symmetric: Tensor | None = None,
    degree: Tensor | None = None,
) -> RelationGroups:
    r"""Group ``edge_index`` (``[2, E]``, source -> target) by relation and target node.

    Each group averages its sources (:math:`c_{i,r} = |\mathcal{N}_r(i)|`). ``averaged``
    (boolean ``[num_relations]``) marks relations whose messages are moreover averaged over
    those of them that reach the target (:math:`c_{i,r}` times their number), so that a node
    with many such relations does not hear them louder than its other relations.
    ``symmetric`` (boolean ``[num_relations]``) marks relations normalised as in GCN and
    LightGCN instead: an edge :math:`j \to i` weighs :math:`1 / \sqrt{d_i d_j}`, where
    :math:`d_v` is the number of edges of these relations that reach :math:`v` (for
    interactions, which run both ways: a node's number of interactions), so that a popular
    item speaks more softly on each edge. On a sampled subgraph pass ``degree``, the
    ``[num_nodes]`` degrees in the whole graph: an edge then weighs
    :math:`\frac{1}{s_i} \sqrt{d_i / d_j}` with :math:`s_i` the edges sampled at
    :math:`i`, an unbiased estimate of the full sum (exactly it when nothing is left out).
    """
    # a node id past num_nodes would wrap onto another (relation, node) group: refuse it
    check_edge_index(edge_index, num_nodes, edge_type)
    if edge_type.numel() and (int(edge_type.min()) < 0 or int(edge_type.max()) >= num_relations):
        raise ValueError(
            f"edge_type must lie in [0, {num_relations}), "
            f"got values in [{int(edge_type.min())}, {int(edge_type.max())}]"
        )
    if averaged is not None and symmetric is not None and bool((averaged & symmetric).any()):
        raise ValueError("a relation cannot be both averaged and symmetric")
    source, target = edge_index
    keys, group = torch.unique(edge_type * num_nodes + target, return_inverse=True)
    relation, group_target = keys // num_nodes, keys % num_nodes
    scale = torch.bincount(group, minlength=keys.numel()).to(torch.float).reciprocal()
    if averaged is not None:
        is_averaged = averaged[relation]
        heard = torch.bincount(group_target[is_averaged], minlength=num_nodes)
        scale = torch.where(is_averaged, scale / heard[group_target].clamp(min=1), scale)
    value = scale[group]
    if symmetric is not None:
        is_symmetric = symmetric[edge_type]
        if degree is None:
            degree = torch.bincount(target[is_symmetric], minlength=num_nodes)
        degree = degree.to(torch.float).clamp(min=1)
        ratio = (degree[target] / degree[source]).sqrt()
        value = torch.where(is_symmetric, value * ratio, value)
    mean = torch.sparse_coo_tensor(
        torch.stack([group, source]),
        value,
        (keys.numel(), num_nodes),
        check_invariants=False,  # indices built right here
    ).coalesce()
    bounds = torch.arange(num_relations + 1, device=keys.device)
    ptr = torch.searchsorted(relation, bounds).tolist()
    return RelationGroups(
        mean.to_sparse_csr(), mean.t().coalesce().to_sparse_csr(), group_target, ptr
    )


class RelationalConv(nn.Module):
    r"""The relational graph convolution of `"Modeling Relational Data with Graph Convolutional
    Networks" <https://arxiv.org/abs/1703.06103>`_ (Schlichtkrull et al., 2018).

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{\Theta}_{\textrm{root}} \mathbf{x}_i +
        \sum_{r \in \mathcal{R}} \frac{1}{c_{i,r}}
        \sum_{j \in \mathcal{N}_r(i)} \mathbf{\Theta}_r \mathbf{x}_j + \mathbf{b},
        \qquad c_{i,r} = |\mathcal{N}_r(i)| \text{ (see :func:`relation_groups`)},

    with, optionally, the basis decomposition
    :math:`\mathbf{\Theta}_r = \sum_{b=1}^{B} a_{rb} \mathbf{V}_b` or the block-diagonal one
    (:math:`\mathbf{\Theta}_r` made of ``num_blocks`` square blocks; ``num_blocks =
    in_channels`` gives a diagonal :math:`\mathbf{\Theta}_r`, one weight per relation and
    channel).

    The same function and parameters as :class:`torch_geometric.nn.conv.RGCNConv` (tested
    against it), evaluated as ``(mean over the sources of each (relation, target) group) @
    Θ_r``, scattered to the targets.

    Args:
        in_channels: size of each input vector.
        out_channels: size of each output vector.
        num_relations: number of relation (edge) types.
        num_bases: number of bases ``B`` of the basis decomposition.
        num_blocks: number of blocks of the block-diagonal decomposition (not with
            ``num_bases``; both None: a full matrix per relation).
        root_weight: whether to add the transformed node itself, :math:`\Theta_{\textrm{root}}`.
        bias: whether to learn the additive bias ``b``.

    Shapes: ``x`` ``[N, in_channels]``, ``edge_index`` ``[2, E]`` (source, target),
    ``edge_type`` ``[E]`` in ``[0, num_relations)``; output ``[N, out_channels]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_relations: int,
        *,
        num_bases: int | None = None,
        num_blocks: int | None = None,
        root_weight: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_count("in_channels", in_channels, 1)
        check_count("out_channels", out_channels, 1)
        check_count("num_relations", num_relations, 1)
        if num_bases is not None:
            check_count("num_bases", num_bases, 1)
        if num_blocks is not None:
            check_count("num_blocks", num_blocks, 1)
        if num_blocks is not None and (
            num_bases is not None or in_channels % num_blocks or out_channels % num_blocks
        ):
            raise ValueError(
                f"num_blocks must divide in_channels ({in_channels}) and out_channels "
                f"({out_channels}) and exclude num_bases, got {num_blocks}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_relations = num_relations
        self.num_bases = num_bases
        self.num_blocks = num_blocks
        if num_blocks is not None:
            shape = (
                num_relations,
                num_blocks,
                in_channels // num_blocks,
                out_channels // num_blocks,
            )
        else:
            shape = (num_bases or num_relations, in_channels, out_channels)
        self.weight = nn.Parameter(torch.empty(shape))
        self.comp = nn.Parameter(torch.empty(num_relations, num_bases)) if num_bases else None
        self.root = nn.Parameter(torch.empty(in_channels, out_channels)) if root_weight else None
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        glorot(self.weight)
        glorot(self.comp)
        glorot(self.root)
        zeros(self.bias)

    def relation_weight(self) -> Tensor:
        """``Θ_r`` of every relation: ``[num_relations, in_channels, out_channels]``, or
        ``[num_relations, num_blocks, in_block, out_block]`` with blocks."""
        if self.comp is None:
            return self.weight
        return (self.comp @ self.weight.flatten(1)).view(
            self.num_relations, self.in_channels, self.out_channels
        )

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
        groups: RelationGroups | None = None,
    ) -> Tensor:
        """``groups`` (from :func:`relation_groups`) may be passed to share it across layers."""
        if groups is None:
            groups = relation_groups(edge_index, edge_type, x.size(0), self.num_relations)
        pooled = groups.pool(x)
        sizes = [end - start for start, end in zip(groups.ptr[:-1], groups.ptr[1:], strict=True)]
        messages = torch.cat(
            [
                self._transform(part, w)
                for part, w in zip(
                    pooled.split(sizes), self.relation_weight().unbind(0), strict=True
                )
                if part.size(0)
            ]
            or [pooled.new_zeros(0, self.out_channels)]
        )
        out = x.new_zeros(x.size(0), self.out_channels) if self.root is None else x @ self.root
        out = out.index_add(0, groups.target, messages)
        return out if self.bias is None else out + self.bias

    def _transform(self, x: Tensor, weight: Tensor) -> Tensor:
        if self.num_blocks is None:
            return x @ weight
        if weight.size(1) == weight.size(2) == 1:  # diagonal
            return x * weight.view(1, -1)
        blocks = x.view(x.size(0), self.num_blocks, -1)
        return torch.einsum("nbi,bio->nbo", blocks, weight).reshape(x.size(0), -1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"num_relations={self.num_relations}, num_bases={self.num_bases}, "
            f"num_blocks={self.num_blocks})"
        )


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.scale * grad, None


class GradientReversal(nn.Module):
    r"""The gradient reversal layer of `"Unsupervised Domain Adaptation by Backpropagation"
    <https://arxiv.org/abs/1409.7495>`_ (Ganin & Lempitsky, 2015): the identity forward,
    :math:`-\lambda \, \partial L / \partial x` backward, so that what follows it (a domain
    discriminator) is trained to tell domains apart while what precedes it is trained to make
    them indistinguishable.
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        check_number("scale", scale)  # True: a scale of 1; "1": a bare TypeError below
        if not 0 <= scale < math.inf:  # NaN too: every gradient before it would be NaN
            raise ValueError(f"scale must be a finite number >= 0, got {scale}")
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return _ReverseGradient.apply(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class DomainAdaptiveLayer(nn.Module):
    r"""A shared transform and one transform per domain, mixed per node by a learned gate.

    .. math::
        \mathbf{h}^{\prime}_v = g_v \, \mathbf{S} \mathbf{h}_v + (1 - g_v)
        \sum_{k=1}^{K} \omega_{vk} \, \mathbf{D}_k \mathbf{h}_v, \qquad
        g_v = \sigma(\mathbf{w}^{\top} \mathbf{h}_v + c_v)

    An item's ``ω_v`` is the one-hot vector of its domain and ``c_v`` a learned bias of that
    domain; a user's ``ω_v = \mathrm{softmax}(\mathbf{U} \mathbf{h}_v)`` is a learned gate over
    the domains (users are shared by all of them) with a learned user bias ``c_v``; other nodes
    (knowledge-graph entities) take the shared path only (``g_v = 1``). The gate vector is
    per channel (:math:`\mathbf{w}` is a ``[channels, channels]`` matrix, ``g_v`` a vector).
    :math:`\mathbf{S}` and :math:`\mathbf{D}_k` start near the identity, so the layer starts by
    passing its input on and learns how domains differ.

    Args:
        channels: size of the input and output vectors.
        num_domains: number of domains ``K``.

    Shapes: ``x`` ``[N, channels]``, ``node_domain`` ``[N]`` (an item's domain, ``-1`` for a
    user, ``-2`` for any other node); output ``[N, channels]``.
    """

    USER = -1
    OTHER = -2

    def __init__(self, channels: int, num_domains: int) -> None:
        super().__init__()
        check_count("channels", channels, 1)
        check_count("num_domains", num_domains, 1)
        self.channels = channels
        self.num_domains = num_domains
        self.shared = nn.Linear(channels, channels, bias=False)
        self.specific = nn.Parameter(torch.empty(num_domains, channels, channels))
        self.gate = nn.Linear(channels, channels, bias=False)
        # gate bias: one per domain, then one for users
        self.gate_bias = nn.Parameter(torch.empty(num_domains + 1, channels))
        self.user_gate = nn.Linear(channels, num_domains)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Transforms near the identity (the layer starts by passing its input on), a random
        gate."""
        with torch.no_grad():
            # where the weights are: reset on a GPU, a CPU identity could not be added
            eye = torch.eye(self.channels, device=self.specific.device, dtype=self.specific.dtype)
            self.shared.weight.normal_(0.0, 0.01).add_(eye)
            self.specific.normal_(0.0, 0.01).add_(eye)
        bound = 1.0 / math.sqrt(self.channels)
        self.gate.reset_parameters()
        nn.init.uniform_(self.gate_bias, -bound, bound)
        self.user_gate.reset_parameters()

    def forward(self, x: Tensor, node_domain: Tensor) -> Tensor:
        out = self.shared(x)
        is_item = node_domain >= 0
        is_user = node_domain == self.USER
        adapted = is_item | is_user
        if not bool(adapted.any()):
            return out
        h = x[adapted]
        domain = node_domain[adapted]
        # ω: one-hot domain for items, a softmax over domains for users
        weight = torch.zeros(h.size(0), self.num_domains, dtype=h.dtype, device=h.device)
        item_rows = domain >= 0
        weight[item_rows, domain[item_rows]] = 1.0
        weight[~item_rows] = torch.softmax(self.user_gate(h[~item_rows]), dim=-1)
        per_domain = (h @ self.specific.transpose(0, 1).flatten(1)).view(
            h.size(0), self.num_domains, self.channels
        )
        specific = (weight.unsqueeze(-1) * per_domain).sum(dim=1)
        bias_row = torch.where(item_rows, domain, torch.full_like(domain, self.num_domains))
        gate = torch.sigmoid(self.gate(h) + self.gate_bias[bias_row])
        mixed = gate * out[adapted] + (1.0 - gate) * specific
        return out.index_put((adapted.nonzero().squeeze(1),), mixed)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, num_domains={self.num_domains})"


def embedding_noise(x: Tensor, eps: float, generator: torch.Generator | None = None) -> Tensor:
    r"""``x`` plus SimGCL's uniform noise of size ``eps`` (Yu et al., SIGIR 2022; XSimGCL,
    TKDE 2023): each row moves by a random vector of norm ``eps`` within its own orthant,

    .. math::
        \mathbf{x}' = \mathbf{x} + \epsilon \, \operatorname{sign}(\mathbf{x}) \odot
        \frac{\boldsymbol{\Delta}}{\lVert \boldsymbol{\Delta} \rVert_2}, \qquad
        \boldsymbol{\Delta} \sim U(0, 1)^{d},

    so the direction of each vector changes by a bounded angle. Draws from ``generator``, or
    from torch's global generator when None (saved with a training checkpoint).
    """
    # True was noise of size 1, silently; "0.1" or None a bare TypeError from the comparison
    check_number("noise", eps)
    if not 0 <= eps < math.inf:  # NaN and inf too: every embedding would be NaN or inf
        raise ValueError(f"noise must be non-negative, got {eps}")
    if eps == 0:
        return x
    delta = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + eps * torch.sign(x) * torch.nn.functional.normalize(delta, dim=-1)


class ScalarRelationalConv(nn.Module):
    r"""Relational propagation with one learned scalar per relation, the light knowledge path
    of "LightKG: Efficient Knowledge-Aware Recommendation with Simplified GNN Architecture"
    (KDD 2025), which weighs each directed relation by a scalar instead of a matrix or an
    embedding:

    .. math::
        \mathbf{x}^{\prime}_i = \sum_{r \in \mathcal{R}} w_r
        \sum_{j \in \mathcal{N}_r(i)} \frac{1}{c_{i,j,r}} \mathbf{x}_j,

    with :math:`c_{i,j,r}` as :func:`relation_groups` makes it. Both directions of a relation
    are relations of their own, so each carries its own scalar. The weights start at 1, where
    the layer is the relation-free propagation (every relation heard as it is normalised) and,
    with interaction relations only, LightGCN's layer. It is
    :class:`RelationalConv` with :math:`\mathbf{\Theta}_r = w_r \mathbf{I}`, no root weight and
    no bias, computed with one product per layer instead of one per relation.

    Args:
        num_relations: number of relation (edge) types.

    Shapes: ``x`` ``[N, C]``, ``edge_index`` ``[2, E]`` (source, target), ``edge_type``
    ``[E]`` in ``[0, num_relations)``; output ``[N, C]``.
    """

    def __init__(self, num_relations: int) -> None:
        super().__init__()
        check_count("num_relations", num_relations, 1)
        self.num_relations = num_relations
        self.weight = nn.Parameter(torch.empty(num_relations))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
        groups: RelationGroups | None = None,
    ) -> Tensor:
        """``groups`` (from :func:`relation_groups`) may be passed to share it across layers."""
        if groups is None:
            groups = relation_groups(edge_index, edge_type, x.size(0), self.num_relations)
        ptr = torch.tensor(groups.ptr, device=x.device)
        scale = self.weight.repeat_interleave(ptr.diff(), output_size=groups.ptr[-1])
        messages = groups.pool(x) * scale.unsqueeze(1).to(x.dtype)
        return x.new_zeros(x.shape).index_add(0, groups.target, messages)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_relations={self.num_relations})"


class TextInput(nn.Module):
    r"""Node text vectors brought into the embedding space by a small MLP, the input of
    `"Language Representations Can be What Recommenders Need"
    <https://arxiv.org/abs/2407.05441>`_ (AlphaRec, Sheng et al., ICLR 2025), where frozen
    language-model embeddings through a two-layer MLP, trained with a contrastive loss, make
    the item and user representations:

    .. math::
        \mathrm{MLP}(\mathbf{t}) = \mathbf{W}_2 \, \mathrm{LeakyReLU}(\mathbf{W}_1 \mathbf{t}
        + \mathbf{b}_1) + \mathbf{b}_2, \qquad
        \mathbf{x}^{(0)}_v = \begin{cases}
        \mathbf{e}_v + m_v \, \mathrm{MLP}(\mathbf{t}_v) & \text{``add''} \\
        m_v \, \mathrm{MLP}(\mathbf{t}_v) + (1 - m_v) \, \mathbf{e}_v & \text{``only''}
        \end{cases}

    where :math:`\mathbf{e}_v` is the node's ID embedding and :math:`m_v` is 1 where the node
    has text. In ``"only"`` mode a node with text has no use for an ID embedding, so an item
    never trained on (a new item with text) still has a representation of its own. In
    ``"add"`` mode, :meth:`drop_ids` leaves out the ID embedding of chosen nodes (for scoring
    items that had no training interaction, whose ID embedding was never trained on a
    positive: their vector is then the MLP's output alone).

    Args:
        text_channels: size of the text vectors ``d_text``.
        out_channels: size of the embeddings.
        hidden_channels: size of the MLP's hidden layer.
        mode: ``"add"`` or ``"only"``.

    Shapes: ``forward(x [N, C], text [N, d_text], mask [N])`` returns ``[N, C]``; with
    ``n_id`` the rows are the nodes ``n_id`` of the ``[N_all]`` that :meth:`drop_ids` names.
    """

    MODES = ("add", "only")

    def __init__(
        self, text_channels: int, out_channels: int, *, hidden_channels: int = 64, mode: str = "add"
    ) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        for name, value in (
            ("text_channels", text_channels),
            ("out_channels", out_channels),
            ("hidden_channels", hidden_channels),
        ):
            check_count(name, value, 1)
        self.text_channels = text_channels
        self.out_channels = out_channels
        self.hidden_channels = hidden_channels
        self.mode = mode
        self.mlp = nn.Sequential(
            nn.Linear(text_channels, hidden_channels),
            nn.LeakyReLU(),
            nn.Linear(hidden_channels, out_channels),
        )
        self.register_buffer("dropped", None, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                module.reset_parameters()

    def drop_ids(self, nodes: Tensor | None) -> None:
        """From now on leave out the ID embedding of ``nodes`` (boolean, one entry per node of
        the model; None: of none), ``"add"`` mode only: their input is the text MLP's output
        (zeros without text)."""
        if nodes is not None:
            if self.mode != "add":
                raise ValueError(
                    f"drop_ids: in {self.mode!r} mode nodes with text have no ID embedding"
                )
            if nodes.dim() != 1 or nodes.dtype != torch.bool:
                raise ValueError(f"nodes must be a boolean vector, got {nodes.dtype} {nodes.shape}")
        self.dropped = nodes

    def forward(
        self, x: Tensor, text: Tensor, mask: Tensor, *, n_id: Tensor | None = None
    ) -> Tensor:
        projected = self.mlp(text.to(x.dtype))
        if self.mode == "add":
            if self.dropped is not None:
                dropped = self.dropped if n_id is None else self.dropped[n_id]
                x = x.masked_fill(dropped.unsqueeze(1), 0.0)
            return x + projected * mask.unsqueeze(1).to(x.dtype)
        return torch.where(mask.unsqueeze(1), projected, x)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.text_channels}, {self.out_channels}, "
            f"hidden_channels={self.hidden_channels}, mode={self.mode!r})"
        )


def rows_with_text(text_features: Tensor, mask: Tensor | None) -> Tensor:
    """Which rows of ``text_features`` hold a text vector: ``mask`` as a boolean tensor, or the
    rows that are not all zeros when None (the export writes zeros where a node has none)."""
    if mask is None:
        return text_features.ne(0).any(dim=1)
    check_tensor("text_mask", mask)
    if mask.shape != (text_features.size(0),) or mask.dtype != torch.bool:
        # a float mask was read as true for any non-zero value (0.5: text)
        raise ValueError(
            f"text_mask must be a boolean tensor of shape ({text_features.size(0)},), got "
            f"{mask.dtype} of shape {tuple(mask.shape)}"
        )
    return mask


def attach_text_input(
    model: nn.Module,
    text_features: Tensor | None,
    text_mask: Tensor | None,
    *,
    num_nodes: int,
    embedding_dim: int,
    text_hidden: int,
    mode: str,
) -> None:
    """Give ``model`` its text input: the buffers ``text_features`` and ``text_mask`` (None
    without text) and ``text_input``, a :class:`TextInput` of ``mode`` (None without text).
    ``text_features`` must be ``[num_nodes, d_text]``."""
    if mode not in TextInput.MODES:
        raise ValueError(f"text_input must be one of {TextInput.MODES}, got {mode!r}")
    check_count("text_hidden", text_hidden, 1)  # the model's name, not TextInput's
    if text_features is not None:
        check_vectors("text_features", text_features, num_nodes, f"({num_nodes}, d_text)")
    elif text_mask is not None:  # before, ignored: the model had no text input
        raise ValueError("text_mask says which rows of text_features hold text: give both")
    model.text_input = None
    model.register_buffer("text_features", None, persistent=False)
    model.register_buffer("text_mask", None, persistent=False)
    if text_features is not None:
        model.register_buffer("text_features", text_features.to(torch.float), persistent=False)
        model.register_buffer(
            "text_mask", rows_with_text(text_features, text_mask), persistent=False
        )
        model.text_input = TextInput(
            text_features.size(1), embedding_dim, hidden_channels=text_hidden, mode=mode
        )
