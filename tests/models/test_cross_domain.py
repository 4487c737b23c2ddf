from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kgrec.models import CrossDomainRecommender

TARGET = 1  # comedy


def _model(graph, **kwargs) -> CrossDomainRecommender:
    torch.manual_seed(0)
    kwargs.setdefault("text_features", graph.x)
    return CrossDomainRecommender(
        graph.num_users,
        graph.num_items,
        graph.num_entities,
        graph.num_relations,
        graph.num_domains,
        item_domain=graph.item_domain,
        embedding_dim=8,
        **kwargs,
    ).eval()


def test_a_user_without_target_history_gets_finite_varied_target_scores(
    toy_graph, toy_interactions
):
    cold = sorted(toy_interactions).index("u4")  # action films only
    model = _model(toy_graph)
    user_emb, item_emb = model.split(model(toy_graph.edge_index, toy_graph.edge_type))
    scores = user_emb[cold] @ item_emb[toy_graph.item_domain == TARGET].T
    assert torch.isfinite(scores).all()
    assert scores.std() > 0


def test_text_features_are_inputs(toy_graph):
    edges = toy_graph.edge_index, toy_graph.edge_type
    model = _model(toy_graph)
    before = model(*edges)
    model.text_features[toy_graph.num_users] += 1.0  # the first item's text
    assert not torch.allclose(model(*edges), before)
    without_text = _model(toy_graph, text_features=None)
    assert without_text.text_projection is None
    assert torch.isfinite(without_text(*edges)).all()


def test_discriminator_gradient_is_reversed_into_the_representations(toy_graph):
    model = _model(toy_graph, adversarial_weight=0.5)
    node_emb = model(toy_graph.edge_index, toy_graph.edge_type).detach().requires_grad_()
    model.auxiliary_loss(node_emb).backward()
    reversed_grad = node_emb.grad
    # the same loss without the reversal layer (discriminator[0])
    plain = node_emb.detach().requires_grad_()
    items = plain[toy_graph.num_users : toy_graph.num_users + toy_graph.num_items]
    logits = model.discriminator[1:](F.normalize(items, dim=-1))
    loss = 0.5 * F.cross_entropy(logits, toy_graph.item_domain, weight=model.domain_balance)
    loss.backward()
    assert reversed_grad.abs().sum() > 0
    assert torch.allclose(reversed_grad, -plain.grad)


def test_auxiliary_loss_on_a_subgraph_uses_its_items_only(toy_graph):
    model = _model(toy_graph, adversarial_weight=0.1)
    node_emb = model(toy_graph.edge_index, toy_graph.edge_type)
    users = torch.arange(toy_graph.num_users)
    assert model.auxiliary_loss(node_emb[users], n_id=users) is None
    items = torch.arange(toy_graph.num_users, toy_graph.num_users + toy_graph.num_items)
    assert torch.allclose(
        model.auxiliary_loss(node_emb[items], n_id=items), model.auxiliary_loss(node_emb)
    )


def test_no_discriminator_with_one_domain_or_no_weight(toy_graph):
    assert _model(toy_graph, adversarial_weight=0.0).discriminator is None
    assert _model(toy_graph).discriminator is None  # off by default, as in `kgrec train`
    one_domain = CrossDomainRecommender(
        toy_graph.num_users,
        toy_graph.num_items,
        toy_graph.num_entities,
        toy_graph.num_relations,
        1,
        item_domain=torch.zeros(toy_graph.num_items, dtype=torch.long),
    )
    node_emb = one_domain(toy_graph.edge_index, toy_graph.edge_type)
    assert one_domain.auxiliary_loss(node_emb) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"item_domain": torch.zeros(3, dtype=torch.long)}, r"item_domain must have shape \(8,\)"),
        ({"item_domain": torch.full((8,), 2)}, r"item_domain values must lie in \[0, 2\)"),
        # before: truncated to domains 0 and 1, silently
        ({"item_domain": torch.full((8,), 0.5)}, r"item_domain must hold domain indices"),
        ({"text_features": torch.zeros(5, 4)}, r"text_features must have shape \(19, d_text\)"),
        ({"adversarial_weight": -1.0}, "adversarial_weight must be non-negative, got -1.0"),
        # before: accepted, every loss NaN (since session 26)
        ({"adversarial_weight": float("nan")}, "adversarial_weight must be non-negative"),
    ],
)
def test_bad_arguments_are_rejected_with_the_value(toy_graph, kwargs, message):
    kwargs.setdefault("item_domain", toy_graph.item_domain)
    with pytest.raises(ValueError, match=message):
        CrossDomainRecommender(
            toy_graph.num_users,
            toy_graph.num_items,
            toy_graph.num_entities,
            toy_graph.num_relations,
            2,
            **kwargs,
        )


def test_a_bad_text_input_names_every_mode():
    with pytest.raises(ValueError, match=r"\('linear', 'add', 'only'\), got 'mlp'"):
        CrossDomainRecommender(
            2,
            2,
            0,
            2,
            num_domains=1,
            item_domain=torch.zeros(2, dtype=torch.long),
            text_input="mlp",
        )


def test_a_number_of_domains_that_is_no_integer_is_refused():
    # before: a TypeError from torch.bincount deep in the constructor (since session 26)
    with pytest.raises(TypeError, match=r"num_domains must be an integer, got 2\.0"):
        CrossDomainRecommender(2, 2, 0, 2, 2.0, item_domain=torch.zeros(2, dtype=torch.long))
