"""One test template for every model family (after PyKEEN's tests/cases.py), and a meta-test
that fails when a model exported by :mod:`kgrec.models` has no case here."""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import Tensor
from torch_geometric.data import Data

import kgrec.models
from kgrec.models import GraphRecommender
from kgrec.models.registry import MODELS, ModelSpec
from kgrec.objectives import bpr_loss


@dataclass(frozen=True)
class Case:
    """How to build one model family on the toy graph, and which edges it propagates over."""

    model: str  # the class name in kgrec.models
    build: Callable[[Data], GraphRecommender]
    knowledge: bool = True  # False: the model sees the interaction edges only
    variant: str = ""  # what sets this case apart from another of the same model

    def __str__(self) -> str:
        return f"{self.model}-{self.variant}" if self.variant else self.model


def _sizes(graph: Data) -> tuple[int, int, int, int]:
    return graph.num_users, graph.num_items, graph.num_entities, graph.num_relations


def _cross_domain(graph: Data, **options) -> GraphRecommender:
    return kgrec.models.CrossDomainRecommender(
        *_sizes(graph),
        graph.num_domains,
        item_domain=graph.item_domain,
        text_features=graph.x,
        embedding_dim=8,
        **options,
    )


def _lightgcn_text(graph: Data, mode: str) -> GraphRecommender:
    return kgrec.models.LightGCNRecommender(
        graph.num_users,
        graph.num_items,
        embedding_dim=8,
        text_features=graph.x[: graph.num_users + graph.num_items],
        text_input=mode,
        text_hidden=6,
    )


CASES = [
    Case("Popularity", lambda g: kgrec.models.Popularity(g.num_users, g.num_items), False),
    Case(
        "TextSimilarity",
        lambda g: kgrec.models.TextSimilarity(
            g.num_users, g.num_items, g.x[g.num_users : g.num_users + g.num_items]
        ),
        False,
    ),
    Case(
        "LightGCNRecommender",
        lambda g: kgrec.models.LightGCNRecommender(g.num_users, g.num_items, embedding_dim=8),
        False,
    ),
    Case(
        "MatrixFactorisation",
        lambda g: kgrec.models.MatrixFactorisation(g.num_users, g.num_items, embedding_dim=8),
        False,
    ),
    Case("EASE", lambda g: kgrec.models.EASE(g.num_users, g.num_items, l2=1.0), False),
    Case(
        "EASE",
        lambda g: kgrec.models.EASE(
            g.num_users,
            g.num_items,
            l2=1.0,
            item_text=g.x[g.num_users : g.num_users + g.num_items],
            text_weight=1.0,
        ),
        False,
        "text",
    ),
    Case(
        "RGCNRecommender",
        lambda g: kgrec.models.RGCNRecommender(*_sizes(g), embedding_dim=8, block_size=2),
    ),
    Case("CrossDomainRecommender", lambda g: _cross_domain(g)),
    Case(
        "CrossDomainRecommender",
        lambda g: _cross_domain(g, entity_embeddings=False),
        variant="no-entity-embeddings",
    ),
    Case(
        "CrossDomainRecommender",
        lambda g: _cross_domain(g, adversarial_weight=0.1),
        variant="discriminator",
    ),
    Case("LightGCNRecommender", lambda g: _lightgcn_text(g, "add"), False, "text-add"),
    Case("LightGCNRecommender", lambda g: _lightgcn_text(g, "only"), False, "text-only"),
    Case(
        "RGCNRecommender",
        lambda g: kgrec.models.RGCNRecommender(
            *_sizes(g), embedding_dim=8, relation_weighting="scalar"
        ),
        variant="scalar-relations",
    ),
    Case(
        "RGCNRecommender",
        lambda g: kgrec.models.RGCNRecommender(
            *_sizes(g),
            embedding_dim=8,
            relation_weighting="scalar",
            entity_embeddings=False,
            text_features=g.x,
            text_input="only",
            text_hidden=6,
        ),
        variant="scalar-relations-text-only",
    ),
    Case(
        "CrossDomainRecommender", lambda g: _cross_domain(g, text_input="add"), variant="text-mlp"
    ),
]
TARGET = 1  # the toy graph's comedy domain
# models with nothing to train (the trainer only validates them)
UNTRAINED = (kgrec.models.Popularity, kgrec.models.TextSimilarity, kgrec.models.EASE)


def _edges(case: Case, graph: Data) -> tuple[Tensor, Tensor]:
    """The edges (and edge types) ``case``'s model propagates over."""
    if case.knowledge:
        return graph.edge_index, graph.edge_type
    users_items = graph.num_users + graph.num_items
    keep = (graph.edge_index < users_items).all(dim=0)
    return graph.edge_index[:, keep], graph.edge_type[keep]


def _user_items(graph: Data) -> tuple[Tensor, Tensor]:
    """The training interactions: (user index, item index) per user -> item edge."""
    users, nodes = graph.edge_index[:, graph.edge_type == 0]
    return users, nodes - graph.num_users


def _trainable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


@pytest.fixture(params=CASES, ids=str)
def case(request) -> Case:
    return request.param


@pytest.fixture
def model(case: Case, toy_graph: Data) -> GraphRecommender:
    torch.manual_seed(0)
    return case.build(toy_graph)


def test_scores_are_finite_and_not_constant(case, model, toy_graph):
    node_emb = model(*_edges(case, toy_graph))
    user_emb, item_emb = model.split(node_emb)
    assert user_emb.shape[0] == toy_graph.num_users
    assert item_emb.shape[0] == toy_graph.num_items
    scores = user_emb @ item_emb.T
    assert torch.isfinite(scores).all()
    assert scores.std() > 0


def test_gradients_reach_every_trainable_parameter(case, model, toy_graph):
    params = _trainable(model)
    if not params:
        # nothing to train: the trainer then only validates; say so instead of passing silently
        assert isinstance(model, UNTRAINED)
        return
    model.train()
    users, pos = _user_items(toy_graph)
    neg = (pos + 1) % toy_graph.num_items
    node_emb = model(*_edges(case, toy_graph))
    user_emb, item_emb = model.split(node_emb)
    loss = bpr_loss(user_emb[users], item_emb[pos], item_emb[neg], torch.ones(len(users)))
    aux = model.auxiliary_loss(node_emb)
    if aux is not None:
        loss = loss + aux
    loss.backward()
    for name, param in params.items():
        assert param.grad is not None, f"{name} got no gradient"
        assert param.grad.abs().sum() > 0, f"{name} got a zero gradient"


def test_repr_names_the_class(case, model):
    assert repr(model).startswith(f"{case.model}(")


def test_reset_parameters_changes_them(model):
    params = _trainable(model)
    if not params:
        assert isinstance(model, UNTRAINED)
        return
    with torch.no_grad():
        for param in params.values():
            param.fill_(0.123)  # no initialiser yields this
    model.reset_parameters()
    for name, param in params.items():
        assert not torch.all(param == 0.123), f"reset_parameters left {name} alone"


def test_node_parameters_are_the_id_tables_with_a_row_per_node_of_their_kinds(
    case, model, toy_graph
):
    # what a warm start from a run on another graph (--init-from) matches row by row by node
    # id; any other parameter is copied whole, whatever its number of rows
    counts = {
        "user": toy_graph.num_users,
        "item": toy_graph.num_items,
        "entity": toy_graph.num_entities,
    }
    params = dict(model.named_parameters())
    tables = model.node_parameters()
    for name, kinds in tables.items():
        assert kinds and set(kinds) <= set(counts), name
        assert params[name].size(0) == sum(counts[k] for k in kinds), name
    embeddings = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Embedding)}
    assert {f"{n}.weight" for n in embeddings} == set(tables)
    assert tables or isinstance(model, UNTRAINED)


def test_state_dict_round_trips_to_identical_outputs(case, model, toy_graph, tmp_path):
    edges = _edges(case, toy_graph)
    model.eval()
    before = model(*edges)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    torch.manual_seed(1)  # a differently initialised twin
    twin = case.build(toy_graph)
    twin.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    twin.eval()
    assert torch.equal(twin(*edges), before)


def test_a_model_that_has_propagated_can_be_copied_and_pickled(case, model, toy_graph, tmp_path):
    # its cache of the graph (sparse CSR tensors, which cannot be deep-copied) stays behind
    edges = _edges(case, toy_graph)
    model.eval()
    before = model(*edges)
    assert torch.equal(copy.deepcopy(model)(*edges), before)
    torch.save(model, tmp_path / "model.pt")
    assert torch.equal(torch.load(tmp_path / "model.pt", weights_only=False)(*edges), before)


def test_recommend_returns_only_unmasked_candidates(case, model, toy_graph):
    users_all, items_all = _user_items(toy_graph)
    candidates = torch.nonzero(toy_graph.item_domain == TARGET).flatten()
    users = torch.arange(toy_graph.num_users)
    exclude = torch.stack([users_all, items_all])[:, toy_graph.item_domain[items_all] == TARGET]
    items, scores = model.recommend(
        *_edges(case, toy_graph), users=users, k=2, candidates=candidates, exclude=exclude
    )
    assert items.shape == scores.shape == (len(users), 2)
    assert torch.isin(items, candidates).all()
    returned = {(row, int(item)) for row in range(len(users)) for item in items[row]}
    masked = {(int(u), int(i)) for u, i in exclude.T}
    assert not returned & masked
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("argument", ["edge_index", "edge_type", "users", "candidates", "exclude"])
def test_recommend_refuses_a_list_where_a_tensor_is_asked_naming_it(
    case, model, toy_graph, argument
):
    # before: AttributeError "'list' object has no attribute 'dim'" (or '_version') from inside
    # the model, where the README promises a TypeError naming the argument
    edge_index, edge_type = _edges(case, toy_graph)
    given = {
        "edge_index": edge_index,
        "edge_type": edge_type,
        "users": torch.arange(2),
        "candidates": torch.arange(3),
        "exclude": torch.tensor([[0], [0]]),
    }
    given[argument] = given[argument].tolist()
    if argument == "edge_type" and not isinstance(model, kgrec.models.RGCNRecommender):
        return  # read by the relational models alone (a subclass's too)
    if argument == "edge_index" and isinstance(model, kgrec.models.MatrixFactorisation):
        return  # reads no graph
    with pytest.raises(TypeError, match=rf"^{argument} must be a torch.Tensor, got list"):
        model.recommend(given.pop("edge_index"), given.pop("edge_type"), k=2, **given)
    with pytest.raises(TypeError, match=r"^k must be a positive integer, got '2'"):
        model.recommend(edge_index, edge_type, users=torch.arange(2), k="2")
    with pytest.raises(TypeError, match=r"^k must be a positive integer, got np.True_"):
        model.recommend(edge_index, edge_type, users=torch.arange(2), k=np.bool_(True))
    items, _ = model.recommend(edge_index, edge_type, users=torch.arange(2), k=np.int64(2))
    assert items.shape == (2, 2)  # a NumPy integer is its number, as everywhere else


def test_a_newcomer_with_a_users_history_is_folded_in(case, model, toy_graph):
    edges = _edges(case, toy_graph)
    model.eval()
    with torch.no_grad():
        user_emb, item_emb = model.split(model(*edges))
    users, items = model.interactions(edges[0])
    user = int(users[0])
    folded = model.fold_in(item_emb, [items[users == user]])
    assert folded.shape == (1, user_emb.size(1)) and torch.isfinite(folded).all()
    if isinstance(model, UNTRAINED):
        # nothing is learned per user: a newcomer with the user's history is that user (before
        # the fix, popularity and text similarity folded newcomers in by BPR, and popularity
        # gave a newcomer of unpopular items the least popular items)
        assert torch.allclose(folded[0], user_emb[user], atol=1e-5)


def test_fold_in_refuses_a_negative_history_item(case, model, toy_graph):
    """Text similarity read item -1 as the last item's text, silently, and one past the items
    as torch's bare IndexError (the other models already refused it); popularity reads no
    history."""
    if isinstance(model, kgrec.models.Popularity):
        return
    with torch.no_grad():
        item_emb = model.split(model(*_edges(case, toy_graph)))[1]
    with pytest.raises(ValueError, match="history"):
        model.fold_in(item_emb, [torch.tensor([0, -1])])


def _exported_models() -> set[str]:
    names = set()
    for name in kgrec.models.__all__:
        obj = getattr(kgrec.models, name)
        if (
            inspect.isclass(obj)
            and issubclass(obj, GraphRecommender)
            and obj is not GraphRecommender
        ):
            names.add(name)
    return names


def test_every_exported_model_has_a_case():
    missing = _exported_models() - {case.model for case in CASES}
    assert not missing, (
        f"models without a case in tests/models/test_template.py: {sorted(missing)}; add a "
        "Case(class name, builder on the toy graph) to its CASES"
    )


def _unregistered_models() -> set[str]:
    """Models :mod:`kgrec.models` exports that no entry of ``MODELS`` builds."""
    return _exported_models() - {spec.model for spec in MODELS.values()}


def _unexported_models() -> set[str]:
    """``MODELS`` entries whose class :mod:`kgrec.models` does not export (``name (class)``)."""
    exported = _exported_models()
    return {f"{name} ({spec.model})" for name, spec in MODELS.items() if spec.model not in exported}


def test_every_exported_model_is_registered_and_every_registered_one_exported():
    # before: a model exported with its case but no entry in MODELS passed every test while
    # `kgrec train --model` could not name it; one registered but not exported failed as it
    # trained ("module 'kgrec.models' has no attribute ...")
    unregistered = _unregistered_models()
    assert not unregistered, (
        f"models kgrec.models exports that no entry of MODELS in kgrec/models/registry.py "
        f"builds (kgrec train --model cannot name them): {sorted(unregistered)}"
    )
    unexported = _unexported_models()
    assert not unexported, (
        f"models of MODELS in kgrec/models/registry.py whose class kgrec.models does not "
        f"export: {sorted(unexported)}; name it in _EXPORTS of kgrec/models/__init__.py"
    )


def test_meta_test_sees_a_model_without_a_case(monkeypatch):
    class Uncovered(GraphRecommender):
        pass

    monkeypatch.setattr(kgrec.models, "__all__", [*kgrec.models.__all__, "Uncovered"])
    monkeypatch.setattr(kgrec.models, "Uncovered", Uncovered, raising=False)
    assert "Uncovered" in _exported_models() - {case.model for case in CASES}
    assert _unregistered_models() == {"Uncovered"}


def test_meta_test_sees_a_registered_model_not_exported(monkeypatch):
    spec = ModelSpec("Unexported", lambda graph: None, all_domains=False, knowledge=False)
    monkeypatch.setitem(MODELS, "unexported", spec)
    assert _unexported_models() == {"unexported (Unexported)"}


def test_a_model_moved_to_float64_runs_in_float64(case, model, toy_graph):
    """Plain modules run in the dtype they were moved to (before, the graph models built their
    normalisation weights in float32 and failed)."""
    edges = _edges(case, toy_graph)
    node_emb = model.double().eval()(*edges)
    assert torch.isfinite(node_emb).all()
    if _trainable(model) or isinstance(model, kgrec.models.TextSimilarity):
        assert node_emb.dtype == torch.float64


READS_TEXT = {
    "TextSimilarity",
    "EASE-text",
    "LightGCNRecommender-text-add",
    "LightGCNRecommender-text-only",
    "RGCNRecommender-scalar-relations-text-only",
    "CrossDomainRecommender",
    "CrossDomainRecommender-no-entity-embeddings",
    "CrossDomainRecommender-discriminator",
    "CrossDomainRecommender-text-mlp",
}


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_text_vectors_that_are_not_finite_are_refused_naming_the_row(case, toy_graph, bad):
    # before: accepted; every score the row reached was NaN, which training read as a model
    # that diverged ("retrain with a lower --lr")
    graph = toy_graph.clone()
    row = graph.num_users + 1  # an item's text vector
    graph.x[row, 0] = bad
    if str(case) not in READS_TEXT:
        case.build(graph)  # the text is none of its input
        return
    name = "item_text" if str(case).startswith(("TextSimilarity", "EASE")) else "text_features"
    position = 1 if name == "item_text" else row
    with pytest.raises(
        ValueError, match=rf"{name} must hold finite numbers: 1 row\(s\) .*row {position}\)"
    ):
        case.build(graph)


_TEXT = [[1.0, 0.0], [0.0, 1.0]]  # two items' text vectors, as a list


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (lambda: kgrec.models.EASE(2, 2, l2="1"), "l2 must be a number, got '1'"),
        (lambda: kgrec.models.EASE(2, 2, text_weight="1"), "text_weight must be a number"),
        (
            lambda: kgrec.models.EASE(2, 2, item_text=_TEXT, text_weight=1.0),
            "item_text must be a torch.Tensor, got list",
        ),
        (
            lambda: kgrec.models.TextSimilarity(2, 2, item_text=_TEXT),
            "item_text must be a torch.Tensor, got list",
        ),
        (
            lambda: kgrec.models.LightGCNRecommender(2, 2, text_features=_TEXT * 2),
            "text_features must be a torch.Tensor, got list",
        ),
        (
            lambda: kgrec.models.LightGCNRecommender(
                2, 2, text_features=torch.ones(4, 2), text_mask=[True] * 4
            ),
            "text_mask must be a torch.Tensor, got list",
        ),
        (
            lambda: kgrec.models.RGCNRecommender(2, 2, 0, 2, dropout="0.1"),
            "dropout must be a number, got '0.1'",
        ),
        (
            # before: true, so an ID embedding per entity, silently
            lambda: kgrec.models.RGCNRecommender(2, 2, 1, 2, entity_embeddings="False"),
            "entity_embeddings must be True or False, got 'False'",
        ),
        (
            # before: true, so LightGCN's normalisation, silently
            lambda: kgrec.models.RGCNRecommender(2, 2, 0, 2, symmetric="no"),
            "symmetric must be True or False, got 'no'",
        ),
        (
            lambda: kgrec.models.CrossDomainRecommender(
                2, 2, 1, 2, 2, item_domain=torch.tensor([0, 1]), entity_embeddings=0
            ),
            "entity_embeddings must be True or False, got 0",
        ),
        (
            # before: torch's "new(): invalid data type 'str'"
            lambda: kgrec.models.LightGCNRecommender(2, 2, alpha="0.5"),
            "alpha must be a number or a tensor of weights, got '0.5'",
        ),
        (
            # before: "hidden_channels must be an integer", a name of a layer inside
            lambda: kgrec.models.LightGCNRecommender(
                2, 2, text_features=torch.ones(4, 2), text_hidden="8"
            ),
            "text_hidden must be an integer, got '8'",
        ),
        (
            lambda: kgrec.models.CrossDomainRecommender(2, 2, 0, 2, 2, item_domain=[0, 1]),
            "item_domain must be a torch.Tensor, got list",
        ),
        (
            lambda: kgrec.models.CrossDomainRecommender(
                2, 2, 0, 2, 2, item_domain=torch.tensor([0, 1]), adversarial_weight="0.1"
            ),
            "adversarial_weight must be a number, got '0.1'",
        ),
    ],
)
def test_a_string_or_list_where_a_number_or_tensor_is_asked_is_a_type_error_naming_it(build, says):
    # before: a bare TypeError from a comparison ("'<' not supported between instances of
    # 'int' and 'str'") or an AttributeError ("'list' object has no attribute 'dim'")
    with pytest.raises(TypeError, match=re.escape(says)):
        build()


@pytest.mark.parametrize(
    ("text", "mask", "says"),
    [
        # before: read as true for any value not 0 (0.5: text), silently
        (torch.ones(4, 2), torch.full((4,), 0.5), "must be a boolean tensor of shape (4,), got"),
        # before: ignored, the model had no text input
        (None, torch.ones(4, dtype=torch.bool), "which rows of text_features hold text: give both"),
    ],
)
def test_a_text_mask_that_is_no_boolean_row_mask_of_the_text_is_refused(text, mask, says):
    for model in (
        lambda: kgrec.models.LightGCNRecommender(2, 2, text_features=text, text_mask=mask),
        lambda: kgrec.models.RGCNRecommender(2, 2, 0, 2, text_features=text, text_mask=mask),
    ):
        with pytest.raises(ValueError, match=re.escape(says)):
            model()
