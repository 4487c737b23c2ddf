"""The models against naive references written here: dense numpy LightGCN, a loop over every
(target, relation) pair for the relational layers, EASE's closed form in numpy, on small graphs
with an isolated item, a relation absent from the graph and a user without items."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.nn.conv import LGConv

from kgrec.models import EASE, LightGCNRecommender, RGCNRecommender

NU, NI, NE = 3, 4, 3  # users, items, entities
PAIRS = [(0, 0), (0, 1), (1, 1), (2, 0), (2, 2)]  # (user, item); item 3 has no edge
# (item, entity, relation of item -> entity; the inverse is relation + 1); relations 4 and 5
# exist in the model but not in the graph
KNOWLEDGE = [(0, 0, 2), (1, 0, 2), (1, 1, 2), (3, 2, 2), (2, 1, 3)]
R = 6


def _interaction_edges() -> torch.Tensor:
    users = [u for u, _ in PAIRS]
    items = [NU + i for _, i in PAIRS]
    return torch.tensor([users + items, items + users])


def _typed_edges() -> list[tuple[int, int, int]]:
    """(source, target, relation) of every edge, both directions."""
    edges = [e for u, i in PAIRS for e in ((u, NU + i, 0), (NU + i, u, 1))]
    for item, entity, relation in KNOWLEDGE:
        edges += [
            (NU + item, NU + NI + entity, relation),
            (NU + NI + entity, NU + item, relation + 1),
        ]
    return edges


def _dense_lightgcn(x0: np.ndarray, num_layers: int, alpha: np.ndarray) -> np.ndarray:
    """D^-1/2 A D^-1/2 over the user-item graph, layers 0..L weighted by ``alpha``."""
    n = NU + NI
    a = np.zeros((n, n))
    for u, i in PAIRS:
        a[u, NU + i] = a[NU + i, u] = 1.0
    degree = a.sum(1)
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1)), 0.0)
    norm = inv_sqrt[:, None] * a * inv_sqrt[None, :]
    layers, x = [x0], x0
    for _ in range(num_layers):
        x = norm @ x
        layers.append(x)
    return sum(w * layer for w, layer in zip(alpha, layers, strict=True))


@pytest.mark.parametrize("num_layers", [0, 1, 3])
@pytest.mark.parametrize("given_alpha", [False, True])
def test_lightgcn_is_dense_normalised_propagation_weighted_over_layers(num_layers, given_alpha):
    torch.manual_seed(0)
    alpha = np.linspace(1.0, 0.2, num_layers + 1) if given_alpha else None
    model = LightGCNRecommender(NU, NI, embedding_dim=5, num_layers=num_layers, alpha=alpha)
    x0 = model.lightgcn.embedding.weight.detach().double().numpy()
    weights = alpha if given_alpha else np.full(num_layers + 1, 1 / (num_layers + 1))
    out = model(_interaction_edges())
    expected = _dense_lightgcn(x0, num_layers, weights)
    np.testing.assert_allclose(out.detach().double().numpy(), expected, atol=1e-6)
    # the item with no edge: no NaN, its own embedding weighted by layer 0's weight
    np.testing.assert_allclose(out[NU + 3].detach().numpy(), x0[NU + 3] * weights[0], atol=1e-7)
    # the backward pass (A's symmetry) is the dense one's
    out.pow(2).sum().backward()
    dense = torch.tensor(x0, requires_grad=True)
    norm = torch.tensor(_dense_lightgcn(np.eye(NU + NI), num_layers, weights))
    (norm @ dense).pow(2).sum().backward()
    torch.testing.assert_close(
        model.lightgcn.embedding.weight.grad.double(), dense.grad, atol=1e-5, rtol=1e-5
    )


def test_lightgcn_matches_pygs_lgconv_normalising_itself():
    torch.manual_seed(0)
    model = LightGCNRecommender(NU, NI, embedding_dim=5, num_layers=3)
    edge_index, conv = _interaction_edges(), LGConv()  # normalize=True: gcn_norm per call
    x = model.lightgcn.embedding.weight.detach()
    layers = [x]
    for _ in range(3):
        layers.append(conv(layers[-1], edge_index))
    torch.testing.assert_close(model(edge_index).detach(), torch.stack(layers).mean(0))


def _naive_relational(
    x: np.ndarray, weight: np.ndarray, edges: list[tuple[int, int, int]], symmetric: bool
) -> np.ndarray:
    """One layer as the R-GCN docstring writes it, looping over targets and relations:
    interactions (relations 0, 1) by 1/sqrt(d_i d_j) (or 1/|N_r(i)|), knowledge by
    1/(|N_r(i)| |R_KG(i)|); ``weight[r]`` the diagonal of Θ_r."""
    degree = np.zeros(x.shape[0])
    for _, target, relation in edges:
        degree[target] += relation < 2
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        knowledge = {r for _, t, r in edges if t == i and r >= 2}
        for r in range(weight.shape[0]):
            sources = [s for s, t, rr in edges if t == i and rr == r]
            for j in sources:
                if r < 2:
                    c = np.sqrt(degree[i] * degree[j]) if symmetric else len(sources)
                else:
                    c = len(sources) * len(knowledge)
                out[i] += weight[r] * x[j] / c
    return out


@pytest.mark.parametrize("weighting", ["block", "scalar"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_relational_layers_match_a_loop_over_relations(weighting, symmetric):
    torch.manual_seed(0)
    dim = 5
    model = RGCNRecommender(
        NU, NI, NE, R, embedding_dim=dim, relation_weighting=weighting, symmetric=symmetric
    )
    with torch.no_grad():  # weights other than the identity, one per relation and channel
        for conv in model.convs:
            conv.weight.copy_(torch.rand_like(conv.weight) + 0.5)
    edges = _typed_edges()
    edge_index = torch.tensor([[s for s, _, _ in edges], [t for _, t, _ in edges]])
    edge_type = torch.tensor([r for _, _, r in edges])
    out = model(edge_index, edge_type).detach().double().numpy()
    x = model.embedding.weight.detach().double().numpy()
    layers = [x]
    for conv in model.convs:
        weight = conv.weight.detach().double().numpy().reshape(R, -1)
        weight = np.repeat(weight, dim, axis=1) if weighting == "scalar" else weight
        layers.append(_naive_relational(layers[-1], weight, edges, symmetric))
    np.testing.assert_allclose(out, np.mean(layers, axis=0), atol=1e-6)


@pytest.mark.parametrize("weighting", ["block", "scalar"])
def test_a_graph_without_knowledge_or_without_edges_gives_finite_embeddings(weighting):
    model = RGCNRecommender(NU, NI, NE, R, embedding_dim=4, relation_weighting=weighting)
    for edge_index, edge_type in (
        (_interaction_edges(), torch.tensor([0] * len(PAIRS) + [1] * len(PAIRS))),
        (torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long)),
    ):
        out = model(edge_index, edge_type)
        assert torch.isfinite(out).all()
        # entities reached by nothing keep their embedding's share of the mean over layers
        torch.testing.assert_close(out[NU + NI :], model.embedding.weight[NU + NI :] / 3)


@pytest.mark.parametrize("mode", ["add", "only"])
def test_text_mlp_leaves_nodes_without_text_their_id_and_only_drops_the_others(mode):
    torch.manual_seed(0)
    text = torch.zeros(NU + NI, 3)
    text[NU : NU + 3] = torch.randn(3, 3)  # items 0-2 have text; users and item 3 none
    model = LightGCNRecommender(
        NU, NI, embedding_dim=4, text_features=text, text_input=mode, text_hidden=5
    )
    ids = model.lightgcn.embedding.weight
    mlp = model.text_input.mlp(text)
    x0 = model.node_input()
    without = [0, 1, 2, NU + 3]
    torch.testing.assert_close(x0[without], ids[without])
    with_text = slice(NU, NU + 3)
    torch.testing.assert_close(
        x0[with_text], mlp[with_text] + (ids[with_text] if mode == "add" else 0)
    )
    model(_interaction_edges()).pow(2).sum().backward()
    rows = ids.grad.abs().sum(1).nonzero().flatten().tolist()
    # "only": the ID embeddings of nodes with text get no gradient, nothing reads them
    assert rows == (list(range(NU + NI)) if mode == "add" else without)


def test_ease_is_the_closed_form_in_numpy():
    x = np.array(
        [
            [1, 0, 1, 0, 0],
            [0, 1, 1, 0, 1],
            [1, 1, 0, 0, 0],
            [0, 0, 0, 1, 1],
            [0, 0, 0, 0, 0],  # a user with no training item
            [1, 0, 0, 1, 0],
        ],
        dtype=float,
    )
    users, items = x.shape
    text = np.random.default_rng(0).normal(size=(items, 3))
    text[4] = 0.0  # an item without text
    u, i = np.nonzero(x)
    edge_index = torch.tensor(np.stack([np.r_[u, users + i], np.r_[users + i, u]]))
    normalised = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
    for beta in (0.0, 2.0):
        model = EASE(users, items, l2=3.0, item_text=torch.tensor(text), text_weight=beta)
        p = np.linalg.inv(x.T @ x + beta * normalised @ normalised.T + 3.0 * np.eye(items))
        b = np.eye(items) - p @ np.diag(1 / np.diag(p))
        user_emb, item_emb = model.split(model(edge_index))
        np.testing.assert_allclose(item_emb.T.double().numpy(), b, atol=1e-6)
        assert (item_emb.diagonal() == 0).all()
        scores = (user_emb @ item_emb.T).double().numpy()
        np.testing.assert_allclose(scores, x @ b, atol=1e-6)
        assert (scores[4] == 0).all()
