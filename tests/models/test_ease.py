"""EASE: its closed form against a naive ridge regression per item, and a graph where the
answer is known."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kgrec.models import EASE


def _edges(num_users: int, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """Both directions of the user -> item edges ``pairs`` (user, item) in kgrec's node space."""
    users = torch.tensor([u for u, _ in pairs])
    items = torch.tensor([i for _, i in pairs]) + num_users
    return torch.stack([torch.cat([users, items]), torch.cat([items, users])])


def _weights(model: EASE, edge_index: torch.Tensor) -> torch.Tensor:
    """The fitted item-item weights B (item embeddings are its columns)."""
    _, item_emb = model.split(model(edge_index))
    return item_emb.T.double()


def _naive(x: torch.Tensor, l2: float, side: torch.Tensor | None = None) -> torch.Tensor:
    """B column by column: item j's column of the stacked matrix [X; side] regressed (ridge,
    penalty l2) on every other item's column, with B_jj = 0."""
    stacked = x if side is None else torch.cat([x, side])
    num_items = x.size(1)
    b = torch.zeros(num_items, num_items, dtype=torch.float64)
    for j in range(num_items):
        others = [k for k in range(num_items) if k != j]
        a = stacked[:, others]
        coef = torch.linalg.solve(
            a.T @ a + l2 * torch.eye(len(others), dtype=torch.float64), a.T @ stacked[:, j]
        )
        b[others, j] = coef
    return b


EDGES = _edges(5, [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (4, 0)])


@pytest.fixture
def random_interactions() -> tuple[int, int, list[tuple[int, int]]]:
    generator = torch.Generator().manual_seed(0)
    num_users, num_items = 12, 7
    x = torch.rand(num_users, num_items, generator=generator) < 0.4
    pairs = [(int(u), int(i)) for u, i in torch.nonzero(x)]
    return num_users, num_items, pairs


def test_closed_form_is_a_ridge_regression_per_item(random_interactions):
    num_users, num_items, pairs = random_interactions
    x = torch.zeros(num_users, num_items, dtype=torch.float64)
    for u, i in pairs:
        x[u, i] = 1
    model = EASE(num_users, num_items, l2=2.0)
    b = _weights(model, _edges(num_users, pairs))
    assert torch.allclose(b, _naive(x, 2.0), atol=1e-5)
    assert torch.all(b.diagonal() == 0)
    user_emb, _ = model.split(model(_edges(num_users, pairs)))
    assert torch.equal(user_emb.double(), x)  # a user is their row of X


def test_text_enters_as_extra_rows_of_the_interaction_matrix(random_interactions):
    num_users, num_items, pairs = random_interactions
    x = torch.zeros(num_users, num_items, dtype=torch.float64)
    for u, i in pairs:
        x[u, i] = 1
    text = torch.randn(num_items, 5, generator=torch.Generator().manual_seed(1))
    text[3] = 0  # an item without text
    model = EASE(num_users, num_items, l2=2.0, item_text=text, text_weight=4.0)
    side = 2.0 * F.normalize(text.double(), dim=1).T  # sqrt(4) T^T: 5 "users" of text
    b = _weights(model, _edges(num_users, pairs))
    assert torch.allclose(b, _naive(x, 2.0, side), atol=1e-5)
    plain = _weights(EASE(num_users, num_items, l2=2.0), _edges(num_users, pairs))
    assert not torch.allclose(b, plain, atol=1e-3)


def test_a_partner_item_is_recommended():
    # items 0 and 1 are always taken together, 2 and 3 too; user 4 has item 0 only
    model = EASE(5, 5, l2=0.5)
    items, _ = model.recommend(
        EDGES, users=torch.tensor([4]), k=1, exclude=torch.tensor([[0], [0]])
    )
    assert items.tolist() == [[1]]


def test_text_ties_an_item_without_interactions_to_the_items_it_reads_like():
    # item 4 has no interaction; its text is item 0's, which user 4 has
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    plain = EASE(5, 5, l2=0.5)
    user_emb, item_emb = plain.split(plain(EDGES))
    assert (user_emb[4] @ item_emb.T)[4] == 0  # no interaction, no text: nothing to score by
    model = EASE(5, 5, l2=0.5, item_text=text, text_weight=10.0)
    user_emb, item_emb = model.split(model(EDGES))
    scores = user_emb[4] @ item_emb.T
    assert scores[4] > 0 and scores[4] > scores[2] and scores[4] > scores[3]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"l2": 0.0}, "l2 must be a positive finite number"),
        # before: accepted, every score NaN (since session 26)
        ({"l2": float("inf")}, "l2 must be a positive finite number, got inf"),
        ({"text_weight": float("inf"), "item_text": torch.ones(4, 2)}, "text_weight must be a"),
        (
            {"text_weight": -1.0, "item_text": torch.zeros(4, 2)},
            "text_weight must be a finite number >= 0",
        ),
        ({"text_weight": 1.0}, "text_weight > 0 needs item_text"),
        ({"item_text": torch.zeros(3, 2)}, r"item_text must have shape \[num_items=4, d\]"),
    ],
)
def test_bad_arguments_are_refused(options, says):
    with pytest.raises(ValueError, match=says):
        EASE(3, 4, **options)


def test_a_catalogue_too_large_for_dense_matrices_is_refused_before_any_work():
    with pytest.raises(ValueError, match=r"EASE needs about .* GiB .* Use a graph model"):
        EASE(1_000_000, 30_000)


def test_fold_in_refuses_a_negative_item_index():
    model = EASE(2, 3)
    with pytest.raises(ValueError, match="item index -1"):
        model.fold_in(torch.zeros(3, 3), [torch.tensor([-1])])


def test_the_gram_matrix_is_the_dense_product_exactly_on_ml100k(datasets):
    """X^T X comes from a sparse product (a few times faster on ml-1m): on ml-100k's
    interactions, with duplicate pairs, the fit is bit for bit the dense product's."""
    inter = datasets / "ml-100k" / "ml-100k.inter"
    rows = [line.split("\t")[:2] for line in inter.read_text().splitlines()[1:] if line]
    users = {u: n for n, u in enumerate(dict.fromkeys(u for u, _ in rows))}
    items = {i: n for n, i in enumerate(dict.fromkeys(i for _, i in rows))}
    pairs = [(users[u], items[i]) for u, i in rows] + [(users[rows[0][0]], items[rows[0][1]])]
    model = EASE(len(users), len(items), l2=50.0)
    out = model(_edges(len(users), pairs))
    x = torch.zeros(len(users), len(items), dtype=torch.float64)
    x[[u for u, _ in pairs], [i for _, i in pairs]] = 1.0
    gram = x.T @ x  # the dense product, as before
    gram.diagonal().add_(50.0)
    p = torch.linalg.inv(gram)
    b = p / (-p.diagonal()).unsqueeze(0)
    b.fill_diagonal_(0.0)
    assert torch.equal(out[len(users) :], b.T.float())
    assert torch.equal(out[: len(users)], x.float())
