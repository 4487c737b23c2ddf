"""Ranking every user, and vectors whose cosine ranks like the dot product."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import kgrec.errors
from kgrec.cli import main
from kgrec.errors import InputError, few
from kgrec.experiment import load_run, train
from kgrec.models import LightGCNRecommender
from kgrec.models.base import GraphRecommender, top_k
from kgrec.ranking import FoldInNaN, NaNScores, rank
from kgrec.recommend import LongItemVector, inner_product_vectors, recommendation_table
from kgrec.store import open_store
from kgrec.store.local import LocalStore
from loaders import recbole
from loaders.rules import named_rule

SMALL = {"epochs": 2, "dim": 8, "batch_size": 128, "progress": False}


@pytest.mark.parametrize("max_scores", [2**25, 25, 1])  # batches of 3, 2 and 1 users
def test_rank_masks_known_items_and_keeps_candidates_only(max_scores):
    g = torch.Generator().manual_seed(0)
    user_emb, item_emb = torch.randn(7, 4, generator=g), torch.randn(12, 4, generator=g)
    candidates = torch.arange(2, 12)
    known = torch.tensor([[0, 0, 3, 6, 6, 0], [2, 5, 11, 4, 1, 0]])  # items 0, 1: not candidates
    users = torch.tensor([0, 3, 6, 1])
    items, scores = rank(
        user_emb,
        item_emb,
        users=users,
        k=5,
        candidates=candidates,
        known=known,
        batch_size=3,
        max_scores=max_scores,
    )
    for row, user in enumerate(users.tolist()):
        banned = set(known[1, known[0] == user].tolist()) | {0, 1}
        expected = sorted(
            (i for i in range(12) if i not in banned),
            key=lambda i: -float(user_emb[user] @ item_emb[i]),
        )[:5]
        assert items[row].tolist() == expected
        # to rounding: a batch of users is scored by other kernels than one user's vector
        assert torch.allclose(scores[row], user_emb[user] @ item_emb[expected].T, atol=1e-6)


def test_rank_leaves_minus_inf_where_a_user_has_too_few_items_left():
    user_emb, item_emb = torch.ones(2, 2), torch.eye(2).repeat(2, 1)  # items 0-3
    known = torch.tensor([[1, 1, 1], [0, 1, 3]])
    items, scores = rank(user_emb, item_emb, users=torch.tensor([1, 0]), k=2, known=known)
    assert items[0, 0] == 2 and scores[0, 0] == 1 and scores[0, 1] == float("-inf")
    assert torch.isfinite(scores[1]).all()
    with pytest.raises(ValueError, match="larger than the 4 candidate"):
        rank(user_emb, item_emb, users=torch.tensor([0]), k=5)


def test_a_negative_known_item_is_refused_not_read_from_the_end():
    """known item -1 masked the last candidate, silently (no caller of kgrec passes one: found
    by the eval61 review, for callers to come)."""
    user_emb, item_emb = torch.ones(1, 2), torch.eye(2).repeat(2, 1)
    with pytest.raises(ValueError, match=r"known holds a negative index \(-1\)"):
        rank(user_emb, item_emb, users=torch.tensor([0]), k=2, known=torch.tensor([[0], [-1]]))


def test_equal_scores_rank_in_item_order_whatever_k():
    """Ties are broken by item index, lowest first, so the top 5 is the start of the top 10
    (before: topk's order, which differs with k and by device)."""
    n = 1000
    item_emb = torch.zeros(n, 1)
    item_emb[[7, 900, 450, 451]] = torch.tensor([[1.0], [1.0], [0.5], [0.5]])
    user_emb = torch.ones(2, 1)
    known = torch.tensor([[1], [0]])  # user 1 has item 0
    for k in (3, 5, 10, 20):
        items, _ = rank(user_emb, item_emb, users=torch.tensor([0, 1]), k=k, known=known)
        rest = [i for i in range(n) if i not in (7, 900, 450, 451)]
        assert items[0].tolist() == [7, 900, 450, 451, *rest][:k]
        assert items[1].tolist() == [7, 900, 450, 451, *rest[1:]][:k]
    everyone_equal = torch.zeros(3, 50)
    assert top_k(everyone_equal, 20)[0].tolist() == [list(range(20))] * 3


def test_cosine_of_augmented_vectors_ranks_like_the_dot_product():
    g = torch.Generator().manual_seed(1)
    user_emb = torch.randn(20, 8, generator=g)
    item_emb = torch.randn(50, 8, generator=g) * torch.rand(50, 1, generator=g) * 3
    users, items = inner_product_vectors(user_emb, item_emb)
    assert users.shape == (20, 9) and items.shape == (50, 9)
    u, i = torch.from_numpy(users).double(), torch.from_numpy(items).double()
    cosine = (u @ i.T) / (u.norm(dim=1, keepdim=True) * i.norm(dim=1))
    dot = user_emb.double() @ item_emb.double().T
    assert torch.equal(cosine.argsort(dim=1, descending=True), dot.argsort(dim=1, descending=True))
    assert torch.allclose(u @ i.T, dot, atol=1e-4)


def test_an_item_scored_inf_is_recommended_and_an_empty_slot_is_not():
    """Before, every non-finite score was dropped as an empty slot, so an item whose score
    overflowed to +inf (float16 embeddings) was left out of the lists it tops."""
    items = torch.tensor([[2, 0, 1]])
    scores = torch.tensor([[float("inf"), 1.0, float("-inf")]])
    table = recommendation_table(["a", "b", "c"], ["u"], items, scores, model="m", run="r")
    assert table["item_uid"].tolist() == ["c", "a"]
    assert table["rank"].tolist() == [1, 2]


def test_inner_product_vectors_pad_to_a_given_norm():
    item_emb = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    _, items = inner_product_vectors(torch.ones(1, 2), item_emb, norm=5.0)
    assert np.allclose(np.linalg.norm(items, axis=1), 5.0)
    assert np.allclose(items[:, :2], item_emb.numpy())
    with pytest.raises(ValueError, match=r"more than 2\.0"):
        inner_product_vectors(torch.ones(1, 2), item_emb, norm=2.0)


def test_an_item_longer_than_the_norm_is_named_by_its_row():
    """The one check of a late item's norm (inner_product_vectors) says which item is too long,
    so a publish for some users names it (before: "an item vector has norm ...", no item, and
    the publish checked the norms a second time itself to find it)."""
    item_emb = torch.tensor([[1.0, 0.0], [0.0, 4.0], [3.0, 0.0]])
    with pytest.raises(LongItemVector, match=r"item vector 1 has norm 4\.0, more than 3\.5") as e:
        inner_product_vectors(torch.ones(1, 2), item_emb, norm=3.5)
    assert (e.value.row, e.value.length, e.value.norm) == (1, 4.0, 3.5)
    _, items = inner_product_vectors(torch.ones(1, 2), item_emb, norm=4.0 * (1 + 1e-6))
    assert np.allclose(np.linalg.norm(items, axis=1), 4.0)  # within rounding: not longer


def test_repeated_candidates_rank_once():
    # before: a candidate listed twice came back twice
    user_emb, item_emb = torch.ones(1, 1), torch.tensor([[3.0], [2.0], [1.0]])
    items, _ = rank(
        user_emb, item_emb, users=torch.tensor([0]), k=2, candidates=torch.tensor([0, 0, 1])
    )
    assert items.tolist() == [[0, 1]]
    items, _ = rank(
        torch.zeros(1, 1),
        torch.zeros(6, 1),
        users=torch.tensor([0]),
        k=3,
        candidates=torch.tensor([5, 1, 3]),
    )
    assert items.tolist() == [[1, 3, 5]]  # equal scores in item order, as the README says


def test_a_nan_score_is_an_error_naming_every_user_who_has_one():
    """A diverged model's NaN scores were ranked as empty slots: a user got fewer than K items
    (none, all NaN) and the metrics counted masked items. Now an error naming the users, in
    any batch, a NaN on an item they have too; -inf still marks an empty slot."""
    nan, inf = float("nan"), float("inf")
    user_emb = torch.ones(6, 2)
    user_emb[1] = nan
    user_emb[4, 0] = nan
    user_emb[5] = torch.tensor([inf, 0.0])  # inf * 0: NaN for item 0 only, which 5 has
    item_emb = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    known = torch.tensor([[5, 0], [0, 2]])
    with pytest.raises(
        NaNScores,
        match=r"^the model's scores are NaN or infinite for 3 user\(s\) \('1', '4', '5'\): "
        r"it diverged; "
        r"retrain, e.g. with a lower --lr$",
    ) as error:
        rank(user_emb, item_emb, users=torch.arange(6), k=2, known=known, batch_size=2)
    assert error.value.users == [1, 4, 5]
    items, scores = rank(user_emb, item_emb, users=torch.tensor([0, 2]), k=3, known=known)
    assert items[0, :2].tolist() == [0, 1] and scores[0, 2] == -inf  # item 2 is 0's
    assert torch.isfinite(scores[1]).all()


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_scores_that_overflow_to_infinity_are_an_error_as_nan_scores_are(sign):
    """Finite embeddings so long that a score overflows float32 give NaN or ±inf, as the CPU
    sums the products (with fused multiply-adds a sum of +inf and -inf products stays inf).
    Only NaN was told: a +inf score was ranked first and a -inf one dropped as an empty slot,
    without a word. Now both are a NaNScores naming the user, in rank as in top_k."""
    user_emb = torch.tensor([[1.0, 0.0], [2e19, 2e19]])
    item_emb = torch.tensor([[1.0, 1.0], [sign * 2e19, sign * 2e19], [0.5, 0.0]])
    with pytest.raises(NaNScores, match=r"NaN or infinite for 1 user\(s\) \('1'\)") as error:
        rank(user_emb, item_emb, users=torch.arange(2), k=2)
    assert error.value.users == [1]
    with pytest.raises(NaNScores, match=r"NaN or infinite for 1 user\(s\) \('1'\)"):
        top_k(user_emb @ item_emb.T, 2)
    items, _ = rank(
        user_emb, item_emb, users=torch.tensor([0]), k=2, candidates=torch.tensor([0, 2])
    )
    assert items.tolist() == [[0, 2]]  # the long item is no candidate: no score of it


def test_top_k_and_a_models_recommend_raise_on_a_nan_score_as_rank_does():
    """top_k (and so GraphRecommender.recommend) ranked a NaN score as an empty slot, last:
    a diverged model's short lists, where kgrec.ranking.rank raises. Now the same NaNScores,
    naming the rows (recommend: the users) with a NaN among the candidates, excluded or not;
    one outside the candidates is no score."""
    nan = float("nan")
    scores = torch.tensor([[3.0, 1.0, 2.0], [nan, 1.0, 2.0], [1.0, 2.0, nan]])
    with pytest.raises(NaNScores, match=r"NaN or infinite for 2 user\(s\) \('1', '2'\)"):
        top_k(scores, 2)
    with pytest.raises(NaNScores, match=r"NaN or infinite for 1 user\(s\) \('0'\)"):
        top_k(scores[1:2], 1, exclude=torch.tensor([[0], [0]]))  # an item they have: NaN too
    items, _ = top_k(scores, 1, candidates=torch.tensor([1]))
    assert items.tolist() == [[1], [1], [1]]

    class Fixed(GraphRecommender):  # these node embeddings, whatever the graph
        def forward(self, edge_index, edge_type=None, **_):
            return torch.tensor([[1.0], [nan], [2.0], [5.0], [3.0]])

    model = Fixed(3, 2)
    no_edges = torch.empty(2, 0, dtype=torch.long)
    with pytest.raises(NaNScores, match=r"NaN or infinite for 1 user\(s\) \('1'\)") as error:
        model.recommend(no_edges, users=torch.tensor([1, 2]), k=1)
    assert error.value.users == [1]  # the user, not their row (0)
    items, _ = model.recommend(no_edges, users=torch.tensor([2, 0]), k=1)
    assert items.tolist() == [[0], [0]]


def test_slots_only_excluded_items_could_fill_are_scored_minus_inf() -> None:
    # the user may get items 0 and 3 only: the other two slots are empty (-inf), whichever
    # excluded or non-candidate item they name
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    items, got = top_k(
        scores, 4, candidates=torch.tensor([0, 1, 2, 3]), exclude=torch.tensor([[0, 0], [1, 2]])
    )
    assert items[0, :2].tolist() == [0, 3]
    assert got[0, :2].tolist() == [4.0, 1.0]
    assert torch.isinf(got[0, 2:]).all() and (got[0, 2:] < 0).all()


def test_top_k_and_recommend_refuse_indices_outside_their_range() -> None:
    """A negative user, candidate or excluded item wrapped silently onto the last row or
    column (users=[-1]: the last user's list, as if it were theirs), one past them was torch's
    bare IndexError, a float tensor another, a [2] exclude was read as one pair, and k=True
    ranked one item: now a ValueError naming the argument."""
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    for options, message in (
        ({"candidates": torch.tensor([0, -1])}, r"candidates must lie in \[0, 4\), got .*-1"),
        ({"candidates": torch.tensor([0, 4])}, r"candidates must lie in \[0, 4\)"),
        ({"candidates": torch.tensor([0.0, 1.0])}, "candidates must be a 1-D integer tensor"),
        ({"exclude": torch.tensor([0, 1])}, r"exclude must be \[2, X\]"),
        ({"exclude": torch.tensor([[0], [-1]])}, r"exclude's columns must lie in \[0, 4\)"),
        ({"exclude": torch.tensor([[1], [0]])}, r"exclude's rows must lie in \[0, 1\)"),
    ):
        with pytest.raises(ValueError, match=message):
            top_k(scores, 2, **options)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        top_k(scores, 0)
    # a bool or a string is the wrong type (before: a ValueError, "10" as a bad value)
    for k in (True, "2"):
        with pytest.raises(TypeError, match=f"k must be a positive integer, got {k!r}"):
            top_k(scores, k)
    with pytest.raises(TypeError, match=r"scores must be a torch\.Tensor, got list"):
        top_k(scores.tolist(), 2)

    class Fixed(GraphRecommender):  # these node embeddings, whatever the graph
        def forward(self, edge_index, edge_type=None, **_):
            return torch.tensor([[1.0], [2.0], [3.0], [5.0]])

    model, no_edges = Fixed(2, 2), torch.empty(2, 0, dtype=torch.long)
    for users, message in (
        (torch.tensor([-1]), r"users must lie in \[0, 2\), got values in \[-1, -1\]"),
        (torch.tensor([2]), r"users must lie in \[0, 2\)"),
        (torch.tensor([0.0]), "users must be a 1-D integer tensor"),
        (torch.tensor([[0]]), "users must be a 1-D integer tensor"),
    ):
        with pytest.raises(ValueError, match=message):
            model.recommend(no_edges, users=users, k=1)
    assert model.recommend(no_edges, users=torch.tensor([1]), k=1)[0].tolist() == [[1]]


def test_indices_of_a_dtype_torch_takes_for_a_mask_or_refuses_are_refused_naming_them() -> None:
    """A uint8 tensor (NumPy's uint8 indices through torch.as_tensor) is a mask to torch:
    users [1, 0, 1] were the lists of users 0 and 2, two rows for three users, silently, and
    a uint8 edge_index or candidates torch's bare errors (int8 and int16: "tensors used as
    indices must be long, int, byte or bool tensors"). Now a ValueError naming them; int32
    indices are taken as before."""

    torch.manual_seed(0)
    model = LightGCNRecommender(3, 3, embedding_dim=4, num_layers=1)
    edges = torch.tensor([[0, 3, 1, 4, 2, 5], [3, 0, 4, 1, 5, 2]])  # user u - item u
    users = torch.tensor([1, 0, 1])
    expected = model.recommend(edges, users=users, k=1)[0]
    assert expected.size(0) == 3
    assert torch.equal(model.recommend(edges.int(), users=users.int(), k=1)[0], expected)
    for dtype in (torch.uint8, torch.int8, torch.int16):
        with pytest.raises(ValueError, match=rf"users must be .* got {dtype}"):
            model.recommend(edges, users=users.to(dtype), k=1)
        with pytest.raises(ValueError, match=rf"edge_index must be .* got {dtype}"):
            model.recommend(edges.to(dtype), users=users, k=1)
        with pytest.raises(ValueError, match=rf"candidates must be .* got {dtype}"):
            top_k(torch.ones(1, 3), 1, candidates=torch.tensor([1, 0, 1], dtype=dtype))
    with pytest.raises(ValueError, match=r"torch takes uint8 for a mask"):
        model.recommend(edges, users=users.to(torch.uint8), k=1)


def test_publishing_a_user_without_interactions_succeeds_without_explanations(
    tmp_path, tiny_store, capsys
):
    """A run's user with no interaction in the store (a users-file row only) is published by
    ``--user`` and listed without reasons (before: the list was published, then explaining
    its first item failed, "user 'ghost' has no interactions", exit 2)."""
    store, run = _run_with_a_ghost(tmp_path, tiny_store)
    capsys.readouterr()
    argv = ["recommend", "--run", str(run.folder), "-k", "3", "--user", "ghost", "--user", "u1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    ghost, u1 = out.split("user u1")
    assert "user ghost (no interactions in the store" in ghost and "because" not in ghost
    assert "because" in u1  # the others are explained as before
    with open_store(store) as opened:
        published = opened.recommendations(run.name)
    assert published.groupby("user_id").size().to_dict() == {"ghost": 3, "u1": 3}


def test_publishing_a_user_with_every_item_says_the_list_is_empty(
    tmp_path, tiny_recbole, write_tiny_store, capsys
):
    """``--user fan``, where fan has every item, printed nothing at all for fan (the lines
    came from the published rows, of which fan has none); it says so, as ``--show`` does."""
    items = pd.read_csv(tiny_recbole / "tiny.item", sep="\t")["item_id:token"]
    with open(tiny_recbole / "tiny.inter", "a") as inter:
        inter.writelines(f"fan\t{item}\t5\n" for item in items)
    store = write_tiny_store(tmp_path, tiny_recbole)
    run = train("lightgcn", protocol="ml1m-action-comedy", store=store, out=tmp_path / "r", **SMALL)
    capsys.readouterr()
    argv = ["recommend", "--run", str(run.folder), "-k", "3", "--user", "fan", "--user", "u1"]
    assert main(argv) == 0
    fan, u1 = capsys.readouterr().out.split("user u1")
    assert fan == (
        "user fan, run 'r' (lightgcn):\n"
        "  no item left to recommend: the user has every candidate item\n"
    )
    assert "  1. " in u1


def test_publish_messages_count_with_thousands_separators(
    tmp_path, tiny_recbole, write_tiny_store, capsys
):
    """`published 1,600 recommendations`, as graph stats counts (found by the polishB45
    review: before, `published 1600 recommendations`). 30 more comedies, each rated once, make
    40 users a list of 40."""
    with open(tiny_recbole / "tiny.item", "a") as item:
        item.writelines(f"Comedy {j}\tComedy Romance\n" for j in range(30, 60))
    with open(tiny_recbole / "tiny.inter", "a") as inter:
        inter.writelines(f"u{j % 40}\tComedy {j}\t4\n" for j in range(30, 60))
    store = write_tiny_store(tmp_path, tiny_recbole)
    run = train("lightgcn", protocol="ml1m-action-comedy", store=store, out=tmp_path / "r", **SMALL)
    capsys.readouterr()
    base = ["recommend", "--run", str(run.folder), "-k", "40"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "published 1,600 recommendations of run 'r' (lightgcn) for 40 users (" in out
    assert main([*base, "--export", str(tmp_path / "all.csv")]) == 0
    assert capsys.readouterr().out.startswith("wrote 1,600 recommendations for 40 users to ")
    users = [arg for u in range(30) for arg in ("--user", f"u{u}")]
    assert main([*base, *users]) == 0
    assert "published 1,200 recommendations for 30 user(s) into " in capsys.readouterr().out


def test_whitespace_around_command_line_user_ids_is_no_part_of_them(tmp_path, tiny_store, capsys):
    """``--show ' u1 '`` and ``--user ' u1 '`` are the user ``u1``, as in the loaders, which
    strip it (before: "user ' u1 ' is neither in the run's graph nor has interactions")."""
    store, run = _run_with_a_ghost(tmp_path, tiny_store)
    base = ["recommend", "--run", str(run.folder), "-k", "3"]
    capsys.readouterr()
    assert main([*base, "--show", "u1"]) == 0
    plain = capsys.readouterr().out
    assert main([*base, "--show", " u1 "]) == 0
    assert capsys.readouterr().out == plain
    assert main([*base, "--user", "\tu1 "]) == 0
    assert "user u1, run" in capsys.readouterr().out
    with open_store(store) as opened:
        assert set(opened.recommendations(run.name)["user_id"]) == {"u1"}


def test_whitespace_around_python_api_user_ids_is_no_part_of_them(tmp_path, tiny_store):
    """``run.recommend(users=[" u1 "])``, ``run.publish(users=...)`` and ``run.explain`` read
    ids as the command line does (before: " u1 " was a newcomer with no interactions, an
    error); an empty id is an InputError."""
    store, run = _run_with_a_ghost(tmp_path, tiny_store)
    expected = run.recommend(3, users=["u1"])
    for users in ([" u1 "], ["u1\t", "u1"]):
        pd.testing.assert_frame_equal(run.recommend(3, users=users), expected)
    published = run.publish(k=3, users=[" u1"])
    pd.testing.assert_frame_equal(published, expected)
    with open_store(store) as opened:
        assert set(opened.recommendations(run.name)["user_id"]) == {"u1"}
    item = expected["item_uid"].iloc[0]
    pd.testing.assert_frame_equal(run.explain(" u1 ", f" {item}"), run.explain("u1", item))
    for call in (lambda: run.recommend(3, users=[" "]), lambda: run.explain("", item)):
        with pytest.raises(InputError, match="an id may not be empty"):
            call()


def test_a_diverged_run_is_an_error_not_short_lists(tmp_path, tiny_store, capsys):
    """A run whose model.pt holds NaN (training diverged) published empty lists and gave
    metrics of 0, each NaN score taken for a masked item: an error naming the run, its model
    file and the users now, in recommend, publish and evaluate alike; nothing is published."""
    store = tiny_store
    run = train("lightgcn", protocol="ml1m-action-comedy", store=store, out=tmp_path / "r", **SMALL)
    state = torch.load(run.folder / "model.pt", weights_only=True)
    for value in state.values():
        if value.is_floating_point():
            value.fill_(float("nan"))
    torch.save(state, run.folder / "model.pt")
    run = load_run(run.folder)
    users = list(run.experiment.maps.users)
    tail = r"it diverged; retrain, e.g. with a lower --lr$"
    with pytest.raises(
        NaNScores,
        match=rf"run 'r' \(lightgcn\): the model's scores are NaN or infinite for 1 user\(s\) "
        rf"\('u1'\): {tail}",
    ) as error:
        run.recommend(3, users=["u1"])
    assert error.value.file == str(run.folder / "model.pt") and error.value.users == ["u1"]
    with pytest.raises(NaNScores) as error:
        run.recommend(3)
    # the cold-start users' fold-ins (from the store) are NaN too, named apart
    diverged, folded = error.value.users, error.value.folded
    assert folded and sorted(diverged + folded) == sorted(users)
    assert (
        f"NaN or infinite for {len(diverged)} user(s) ({few(diverged)}): it diverged; retrain, "
        f"e.g. with a "
        f"lower --lr; and the fold-in gave NaN or infinite scores for {len(folded)} user(s) "
        f"folded in "
        f"({few(folded)}), from interactions the model did not train on ("
    ) in str(error.value)
    with pytest.raises(NaNScores, match=rf"^file .*model\.pt: run 'r' \(lightgcn\): .*{tail}"):
        run.evaluate()
    capsys.readouterr()
    assert main(["recommend", "--run", str(run.folder), "-k", "3"]) == 2
    assert (
        f"the model's scores are NaN or infinite for {len(diverged)} user(s)"
        in capsys.readouterr().err
    )
    with pytest.raises(NaNScores):
        run.publish(k=3, users=["u1"])
    with open_store(store) as opened:
        assert opened.recommendations().empty


@pytest.mark.parametrize("model", ["lightgcn", "lightgcn-merged"])
def test_a_newcomer_whose_fold_in_gives_nan_is_named_without_the_advice_to_retrain(
    tmp_path, tiny_store, make_graph, model
):
    """A newcomer's fold-in can give NaN while the trained model's scores are finite (its
    users' embeddings short, no propagation: layers 0): from finite item embeddings, two
    target items so long (norm 3e19, one direction) that the solve's scores overflow (inf -
    inf); or, for a model of every domain, from a source-domain item of their history whose
    embedding is NaN (no candidate: no user's score). It was reported as a diverged model
    ("it diverged; retrain, e.g. with a lower --lr"). Now the error names the newcomer, says
    their fold-in gave NaN and why, and that the model's own scores are finite; nothing is
    published."""
    store = tiny_store
    out = tmp_path / "r"
    run = train(model, protocol="ml1m-action-comedy", store=store, out=out, layers=0, **SMALL)
    split, maps, graph = run.experiment.split, run.experiment.maps, run.graph
    first, second = split.train[1].unique()[:2].tolist()  # target items the run trained on
    source = int((graph.item_domain != split.target_domain).nonzero()[0])
    state = torch.load(out / "model.pt", weights_only=True)
    (key,) = [k for k, v in state.items() if v.dim() == 2 and v.size(0) > len(maps.users)]
    rows = state[key][len(maps.users) :]
    if model == "lightgcn":
        history, why = [first], "the solve failed on their history's finite item embeddings"
        rows[[first, second]] = 3e19 / rows.size(1) ** 0.5
    else:
        history = [first, source]
        why = f"their history's item(s) '{maps.items[source]}' have non-finite embeddings"
        rows[source] = float("nan")
    torch.save(state, out / "model.pt")
    run = load_run(out)
    with open_store(store) as opened:
        rated = [("newbie", maps.items[i], 4.0, None) for i in history]
        opened.write(make_graph(interactions=rated), progress=False)
    _assert_fold_in_nan(run, store, why)


@pytest.mark.usefixtures("on_the_cpu")  # float32 overflow as the CPU computes it
def test_a_newcomer_whose_finite_fold_in_scores_overflow_is_not_a_diverged_model(
    tmp_path, tiny_store, make_graph, monkeypatch
):
    """A fold-in can give a finite row so long (norm 5.7e19) that its scores overflow to NaN
    (inf - inf against a long target item with entries of both signs) while the trained
    model's scores are finite. Only non-finite rows were told apart, so this read as a
    diverged model ("retrain, e.g. with a lower --lr"). Now the NaN scores of folded rows alone
    are a FoldInNaN naming the newcomer and the row's norm; nothing is published."""
    run = _run_whose_fold_in_overflows(tmp_path, tiny_store, make_graph, monkeypatch)
    overflow = "their fold-in is finite but of norm 5.66e+19: its scores overflow"
    _assert_fold_in_nan(run, tiny_store, overflow)


@pytest.mark.usefixtures("on_the_cpu")  # float32 overflow as the CPU computes it
def test_a_diverged_models_error_names_the_folded_users_whose_fold_in_gave_nan_apart_and_why(
    tmp_path, tiny_store, make_graph, monkeypatch
):
    """u1's scores are NaN (the trained model's own), newbie's finite fold-in overflows and
    nanny's fold-in is NaN. The diverged model's error names u1 as diverged and the folded
    users apart; it did not say why their fold-in gave NaN, which a FoldInNaN says. Now it
    gives each one's cause, as a FoldInNaN does."""
    run = _run_whose_fold_in_overflows(
        tmp_path, tiny_store, make_graph, monkeypatch, nan_user="u1", nan_newcomer="nanny"
    )
    with pytest.raises(NaNScores) as error:
        run.recommend(3, users=["u1", "newbie", "nanny"])
    assert str(error.value).endswith(
        "run 'r' (lightgcn): the model's scores are NaN or infinite for 1 user(s) ('u1'): "
        "it diverged; "
        "retrain, e.g. with a lower --lr; and the fold-in gave NaN or infinite scores for 2 "
        "user(s) folded in "
        "('nanny', 'newbie'), from interactions the model did not train on ('nanny': the solve "
        "failed on their history's finite item embeddings (the longest of norm 5.66e+19: "
        "scores of that size overflow); 'newbie': their fold-in is finite but of norm "
        "5.66e+19: its scores overflow)"
    )
    assert error.value.users == ["u1"] and error.value.folded == ["nanny", "newbie"]


def test_a_runs_own_user_folded_in_from_the_store_is_not_called_a_newcomer(
    tmp_path, tiny_store, make_graph, monkeypatch
):
    """A run's user without a training interaction is folded in from their interactions in
    the store, as a newcomer is. When their fold-in gave NaN the error called them
    newcomer(s), which they are not (the run has them). Now it says user(s) folded in, right
    of both."""
    run = _run_whose_fold_in_overflows(tmp_path, tiny_store, make_graph, monkeypatch)
    maps = run.experiment.maps
    untrained = {maps.users[i] for i in run._untrained_users(None).tolist()}
    with pytest.raises(FoldInNaN) as error:
        run.recommend(3)  # the run's users: newbie is not among them
    folded = error.value.users
    assert folded and set(folded) <= untrained
    message = str(error.value)
    assert (
        f"the fold-in gave NaN or infinite scores for {len(folded)} user(s) folded in "
        f"({few(folded)})" in message
    )
    assert "newcomer" not in message


def _run_whose_fold_in_overflows(
    tmp_path, store, make_graph, monkeypatch, *, nan_user=None, nan_newcomer=None
):
    """A lightgcn run (layers 0) with a long target item (entries 2e19, of both signs) whose
    fold-in gives newbie (who rated another target item) a finite row as long (norm 5.7e19):
    their scores overflow to NaN. ``nan_user``'s embedding is NaN; ``nan_newcomer`` rated the
    long item, and their fold-in is NaN."""
    out = tmp_path / "r"
    run = train("lightgcn", protocol="ml1m-action-comedy", store=store, out=out, layers=0, **SMALL)
    split, maps = run.experiment.split, run.experiment.maps
    first, second = split.train[1].unique()[:2].tolist()
    state = torch.load(out / "model.pt", weights_only=True)
    (key,) = [k for k, v in state.items() if v.dim() == 2 and v.size(0) > len(maps.users)]
    rows = state[key][len(maps.users) :]
    long = 2e19  # its square overflows float32
    rows[second] = long * torch.tensor([1.0, -1.0]).repeat(rows.size(1) // 2)
    nan = float("nan")
    if nan_user is not None:
        state[key][maps.user_index([nan_user])[0]] = nan
    torch.save(state, out / "model.pt")
    run = load_run(out)

    def fold_in(item_emb, histories, **_):  # a finite row, as long as the item's; NaN for
        folded = item_emb.new_full((len(histories), item_emb.size(1)), long)  # the long one's
        folded[[n for n, history in enumerate(histories) if second in history.tolist()]] = nan
        return folded

    monkeypatch.setattr(run.model, "fold_in", fold_in)
    rated = [("newbie", maps.items[first], 4.0, None)]
    if nan_newcomer is not None:
        rated.append((nan_newcomer, maps.items[second], 4.0, None))
    with open_store(store) as opened:
        opened.write(make_graph(interactions=rated), progress=False)
    return run


def _assert_fold_in_nan(run, store, why):
    """newbie's fold-in gives NaN scores, u1's are finite: recommending for newbie is a
    FoldInNaN saying ``why``, with no advice to retrain, and a publish writes nothing."""
    assert len(run.recommend(3, users=["u1"])) == 3  # the trained model's scores are finite
    with pytest.raises(NaNScores) as error:
        run.recommend(3, users=["u1", "newbie"])
    message = str(error.value)
    assert "the fold-in gave NaN or infinite scores for 1 user(s) folded in ('newbie')" in message
    assert why in message and "the model's own scores are finite" in message
    assert "retrain" not in message and error.value.users == ["newbie"]
    with pytest.raises(NaNScores, match="fold-in gave NaN"):
        run.publish(k=3, users=["newbie"])
    with open_store(store) as opened:
        assert opened.recommendations().empty  # nothing published


def test_a_run_user_with_nothing_to_rank_them_by_is_served_the_most_popular_items(
    tmp_path, tiny_store, caplog
):
    """ghost, a run's user with no interaction anywhere (a users-file row), has an embedding
    training never touched: their list was ranked from it, noise, with a warning. Now they are
    served the run's most popular target-domain training items, scored by their number of
    training interactions, wherever the run's lists are made (recommend, publish), and the
    warning says so."""
    store, run = _run_with_a_ghost(tmp_path, tiny_store)
    split, maps = run.experiment.split, run.experiment.maps
    counts = torch.bincount(split.train[1], minlength=len(maps.items))
    target = (run.graph.item_domain == split.target_domain).nonzero().flatten().tolist()
    top = sorted(target, key=lambda i: -counts[i])[:3]  # ties in item order
    items, scores = [maps.items[i] for i in top], [float(counts[i]) for i in top]
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        table = run.recommend(k=3, users=["ghost", "u1"]).set_index("user_id")
    assert table.loc["ghost", "item_uid"].tolist() == items
    assert table.loc["ghost", "score"].tolist() == scores
    alone = run.recommend(k=3, users=["u1"])  # u1's list is the model's, beside ghost's too
    assert table.loc["u1", "item_uid"].tolist() == alone["item_uid"].tolist()
    (warning,) = [r.getMessage() for r in caplog.records if "popular" in r.getMessage()]
    assert "1 user(s) of the run ('ghost') have no training interaction" in warning
    assert "1 with no interaction there" in warning
    run.publish(k=3, vectors=False)  # every user's lists
    with open_store(store) as opened:
        published = opened.recommendations(run.name).set_index("user_id")
    assert published.loc["ghost", "item_uid"].tolist() == items


def test_a_publish_without_vectors_says_whose_vectors_the_store_keeps(tmp_path, tiny_store, caplog):
    """A publish with --no-vectors (or of EASE, which has none) left another run's vectors in
    the store without a word: a vector query there found that model's neighbours beside the
    new run's recommendations, and the earlier vector of a user the new run serves the most
    popular items. Now a warning names whose vectors stay."""
    options = {"protocol": "ml1m-action-comedy", "store": tiny_store, **SMALL}
    first = train("lightgcn-merged", out=tmp_path / "first", **options)
    first.publish(k=3)
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        first.publish(k=3, vectors=False)  # the vectors are its own: nothing to say
        assert "keeps the vectors" not in caplog.text
        second = train("lightgcn-merged", out=tmp_path / "second", seed=1, **options)
        second.publish(k=3, vectors=False)
        second.publish(k=3, vectors=False, users=[second.experiment.maps.users[0]])
        ease = train("ease-merged", out=tmp_path / "ease", ease_lambda=2.0, **options)
        ease.publish(k=3)  # catalogue-sized rows: no vectors either
    said = [r.getMessage() for r in caplog.records if "keeps the vectors" in r.getMessage()]
    assert len(said) == 3
    assert said[0].startswith(f"local:{tiny_store.split(':', 1)[1]} keeps the vectors")
    assert "'gnn_embedding' of run 'first', published before" in said[0]
    assert "not run 'second''s" in said[0] and "not run 'ease''s" in said[2]
    with open_store(tiny_store) as opened:  # they stay: --no-vectors touches none
        assert opened.vector_run("gnn_embedding")["run"] == "first"


def test_a_publish_without_vectors_warns_of_vectors_an_older_kgrec_published(
    tmp_path, tiny_store, caplog
):
    """A store published into by kgrec before session 29 holds the vectors 'gnn_embedding'
    with no record of their run. A publish with --no-vectors into it left them without a
    word (the warning above was given only for a recorded run's), though a vector query
    there finds that older run's neighbours, not the new run's. Now it warns of them too."""
    options = {"protocol": "ml1m-action-comedy", "store": tiny_store, **SMALL}
    first = train("lightgcn-merged", out=tmp_path / "first", **options)
    first.publish(k=3)
    manifest = Path(tiny_store.split(":", 1)[1]) / "manifest.json"
    content = json.loads(manifest.read_text())
    del content["vector_models"]  # the manifest of a publish before session 29
    manifest.write_text(json.dumps(content))
    second = train("lightgcn-merged", out=tmp_path / "second", seed=1, **options)
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        second.publish(k=3, vectors=False)
    said = [r.getMessage() for r in caplog.records if "keeps the vectors" in r.getMessage()]
    assert len(said) == 1
    assert "'gnn_embedding' of no recorded run (published before session 29" in said[0]
    assert "not run 'second''s" in said[0]
    with open_store(tiny_store) as opened:  # they stay: --no-vectors touches none
        assert opened.vector_dimension("User", property="gnn_embedding") is not None


def test_a_user_served_the_most_popular_items_has_no_vector_published(tmp_path, tiny_store, caplog):
    """ghost's published vector was the embedding training never touched: a vector query for
    them found noise. Now a publish gives them none, whole or for some users, and leaves no
    earlier one of theirs (a publish before, under the same property and run); the others'
    are the model's; the warning says so."""
    store, run = _run_with_a_ghost(tmp_path, tiny_store)
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        run.publish(k=3)
    users = set(run.experiment.maps.users)
    with open_store(store) as opened:
        keys, _ = opened.read_vectors("User", property="gnn_embedding")
        assert set(keys) == users - {"ghost"}
        # an earlier publish's vector of theirs (as one before this fix gave them)
        opened.write_vectors("User", ["ghost"], np.ones((1, 9)), property="gnn_embedding")
    run.publish(k=3, users=["ghost", "u1"])
    with open_store(store) as opened:
        keys, _ = opened.read_vectors("User", property="gnn_embedding")
        assert set(keys) == users - {"ghost"}
        assert set(opened.recommendations(run.name)["user_id"]) == users  # ghost's list is in
    warnings = [r.getMessage() for r in caplog.records if "popular" in r.getMessage()]
    assert len(warnings) == 2  # one per publish
    for warning in warnings:
        assert "served the most popular items" in warning
        assert "no embedding is published for them" in warning


def _run_with_a_ghost(tmp_path, store: str):
    """``store`` (the tiny data's, ``tiny_store``) plus user "ghost" (a users-file row, no
    interaction), and a LightGCN run trained on it."""
    with open_store(store) as opened:
        opened.write(
            recbole.load(_users_file(tmp_path / "ghost", ["ghost"]), domain="comedy"),
            progress=False,
        )
    run = train("lightgcn", protocol="ml1m-action-comedy", store=store, out=tmp_path / "r", **SMALL)
    return store, run


def _users_file(folder, users: list[str]):
    folder.mkdir()
    (folder / "ghost.user").write_text(
        "user_id:token\tage:float\n" + "".join(f"{u}\t30\n" for u in users)
    )
    return folder


def test_a_files_run_user_with_no_target_training_interaction_gets_the_most_popular_items(
    tmp_path, tiny_recbole, caplog
):
    """A run trained from files has no store to fold its untrained users in from: a cold-start
    user of a model of the target domain alone (lightgcn) was ranked from the embedding
    training never touched, with no warning. Now they are served the run's most popular
    target-domain training items, none they have, with the warning of a store's such users.
    A model of every domain (lightgcn-merged) learns them from their source-domain edges:
    its lists, no warning. ``evaluate`` still scores the model itself."""
    data = ["ml1m-action-comedy", tiny_recbole]
    run = train("lightgcn", protocol=data[0], data=data[1], out=tmp_path / "r", **SMALL)
    split, maps = run.experiment.split, run.experiment.maps
    cold = split.cold_users(len(maps.users)).nonzero().flatten().tolist()
    counts = torch.bincount(split.train[1], minlength=len(maps.items))
    is_target = run.graph.item_domain == split.target_domain
    target = is_target.nonzero().flatten().tolist()
    assert cold and not set(split.train[0, is_target[split.train[1]]].tolist()) & set(cold)
    popular = sorted(target, key=lambda i: -counts[i])  # ties in item order
    pairs = torch.cat([split.train, split.valid, split.test], 1)
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        table = run.recommend(k=3)
    lists = table.groupby("user_id")["item_uid"].agg(list)
    for user in cold:
        has = set(pairs[1, pairs[0] == user].tolist())
        expected = [maps.items[i] for i in popular if i not in has][:3]
        assert lists[maps.users[user]] == expected
    (warning,) = [r.getMessage() for r in caplog.records if "popular" in r.getMessage()]
    shown = few([maps.users[u] for u in cold])
    assert (
        f"{len(cold)} user(s) of the run ({shown}) have no training interaction in the "
        "target domain" in warning
    )
    assert "no store to fold them in from (the run was trained from files)" in warning
    caplog.clear()
    warm = maps.users[int(split.train[0, 0])]
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        assert run.recommend(k=3, users=[warm])["user_id"].tolist() == [warm] * 3
        run.evaluate()
    assert not [r for r in caplog.records if "popular" in r.getMessage()]
    merged = train("lightgcn-merged", protocol=data[0], data=data[1], out=tmp_path / "m", **SMALL)
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        merged.recommend(k=3)
    assert not [r for r in caplog.records if "popular" in r.getMessage()]


def test_a_popularity_runs_cold_start_users_are_not_warned_of(tmp_path, tiny_recbole, caplog):
    """Popularity ranks the same for everyone: its cold-start users' lists are its own, not a
    fallback, and no warning says they learnt nothing (before: each recommend warned)."""
    run = train("popularity", protocol="ml1m-action-comedy", data=tiny_recbole, out=tmp_path / "p")
    split, maps = run.experiment.split, run.experiment.maps
    cold = split.cold_users(len(maps.users)).nonzero().flatten().tolist()
    assert cold
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        table = run.recommend(k=3)
    assert not [r for r in caplog.records if "popular" in r.getMessage()]
    assert set(table["user_id"]) >= {maps.users[u] for u in cold}


def test_held_out_pairs_of_split_files_are_never_recommended(tmp_path, tiny_recbole):
    """Split files may hold valid and test pairs the graph does not (the graph loaded with
    the training interactions alone); they are the users' all the same (before: every one of
    them could be recommended, 98 of 98 at k=30 here)."""
    split_dir = tmp_path / "split"
    argv = ["split", "--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole)]
    assert main([*argv, "--write-split", str(split_dir)]) == 0
    held_out = set()
    for name in ("valid", "test"):
        lines = (split_dir / f"{name}.tsv").read_text().splitlines()[1:]
        held_out |= {tuple(line.split("\t")) for line in lines}
    data = tmp_path / "train-only" / "tiny"
    data.mkdir(parents=True)
    (data / "tiny.item").write_text((tiny_recbole / "tiny.item").read_text())
    header, *rows = (tiny_recbole / "tiny.inter").read_text().splitlines()
    kept = [row for row in rows if tuple(row.split("\t")[:2]) not in held_out]
    assert len(kept) < len(rows)
    (data / "tiny.inter").write_text("\n".join([header, *kept]) + "\n")
    store = f"local:{tmp_path / 'store'}"
    with open_store(store) as opened:
        opened.write(
            recbole.load(data, domain_rule=named_rule("ml1m-action-comedy")), progress=False
        )
    run = train("lightgcn", split=split_dir, store=store, out=tmp_path / "r", **SMALL)
    table = run.recommend(k=30)
    items = table["item_uid"].str.removeprefix("comedy:")
    recommended = set(zip(table["user_id"], items, strict=True))
    assert table["item_uid"].str.startswith("comedy:").all()
    assert not recommended & held_out


def test_a_run_user_without_training_interactions_is_folded_in_from_the_store(tmp_path, tiny_store):
    """A user loaded before training (a users-file row) who interacts only after it is served
    as a newcomer with the same interactions is: folded in (before: from the random embedding
    training never touched, whatever they had done since)."""
    store, run = _run_with_a_ghost(tmp_path, tiny_store)
    before = run.recommend(k=3, users=["ghost"])
    trained = run.recommend(k=3, users=["u1"])["item_uid"].str.removeprefix("comedy:")[:2]
    later = tmp_path / "later"
    later.mkdir()
    (later / "later.inter").write_text(
        "user_id:token\titem_id:token\n"
        + "".join(f"{user}\t{item}\n" for user in ("ghost", "fresh") for item in trained)
    )
    with open_store(store) as opened:
        opened.write(recbole.load(later, domain="comedy"), progress=False)
    after = run.recommend(k=3, users=["ghost", "fresh"]).set_index(["user_id", "rank"])
    ghost, fresh = after.loc["ghost"], after.loc["fresh"]
    assert ghost["item_uid"].tolist() == fresh["item_uid"].tolist()
    assert torch.allclose(torch.tensor(ghost["score"].values), torch.tensor(fresh["score"].values))
    assert not set(ghost["item_uid"]) & {f"comedy:{i}" for i in trained}
    assert ghost["score"].tolist() != before["score"].tolist()


def test_some_users_interactions_are_read_from_the_store_once(tmp_path, tiny_store, monkeypatch):
    """``users`` of a run's own (u1), a run's user without a training interaction (ghost) and a
    newcomer (fresh): their interactions are read once, for what they have and for fold-in
    alike (before: three reads, one per kind and one for what they have)."""
    store, run = _run_with_a_ghost(tmp_path, tiny_store)
    later = tmp_path / "later"
    later.mkdir()
    (later / "later.inter").write_text(
        "user_id:token\titem_id:token\n" + "".join(f"{u}\tComedy 1\n" for u in ("ghost", "fresh"))
    )
    with open_store(store) as opened:
        opened.write(recbole.load(later, domain="comedy"), progress=False)
    expected = run.recommend(k=3, users=["u1", "ghost", "fresh"])
    reads = []
    for method in ("user_interactions", "item_interactions"):
        read = getattr(LocalStore, method)

        def counted(self, ids, read=read, method=method):
            reads.append(method)
            return read(self, ids)

        monkeypatch.setattr(LocalStore, method, counted)
    table = run.recommend(k=3, users=["u1", "ghost", "fresh"])
    assert reads == ["user_interactions"]
    pd.testing.assert_frame_equal(table, expected)
    assert set(table["user_id"]) == {"u1", "ghost", "fresh"}


def test_a_blank_run_name_is_refused_before_anything_is_published(tmp_path, tiny_store, capsys):
    """``--name "  "`` published every list under a blank run name, ``--name ""`` silently under
    the folder's; ``run.publish(name=" ")`` too: refused, nothing written; a name with spaces
    around it is the name."""
    store, run = _run_with_a_ghost(tmp_path, tiny_store)
    base = ["recommend", "--run", str(run.folder), "-k", "3", "--no-vectors"]
    for blank in ("  ", ""):
        with pytest.raises(SystemExit) as exited:
            main([*base, "--name", blank])
        assert exited.value.code == 2
        assert "a run name may not be empty" in capsys.readouterr().err
    with pytest.raises(InputError, match="a run name is text, not empty") as error:
        run.publish(k=3, name=" ", vectors=False)
    assert error.value.field == "--name"
    with open_store(store) as opened:
        assert opened.recommendations().empty
    assert main([*base, "--name", " mine "]) == 0
    with open_store(store) as opened:
        assert set(opened.recommendations()["run"]) == {"mine"}


@pytest.mark.parametrize("name", ["  ", "", 7])
def test_run_recommend_refuses_a_blank_run_name_as_publish_does(tmp_path, tiny_store, name):
    """``run.recommend(name="  ")`` gave a table whose run column was blank (``7``: the number,
    ``""``: the folder's name, silently), where ``run.publish`` refuses them in field
    '--name', as the README says of ``name``."""
    _, run = _run_with_a_ghost(tmp_path, tiny_store)
    with pytest.raises(InputError, match="a run name is text, not empty") as error:
        run.recommend(k=3, users=["u1"], name=name)
    assert error.value.field == "--name"
    assert set(run.recommend(k=3, users=["u1"], name=" mine ")["run"]) == {"mine"}


def test_a_run_name_kgrec_keeps_is_refused_before_the_ranking(
    tmp_path, tiny_store, monkeypatch, capsys
):
    """``--name kgrec-staging:x`` (a staged Neo4j publish's prefix) was refused only by the
    store's write, after the whole ranking, naming the field 'run'."""
    store, run = _run_with_a_ghost(tmp_path, tiny_store)
    monkeypatch.setattr(
        kgrec.experiment.Run, "_ranking", lambda *a, **k: pytest.fail("ranked first")
    )
    for extra in ([], ["--user", "u1"]):
        argv = ["recommend", "--run", str(run.folder), "--name", "kgrec-staging:x", *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "field '--name': run names starting with 'kgrec-staging:'" in err
    with open_store(store) as opened:
        assert opened.recommendations().empty


def test_a_user_publish_beside_another_runs_vectors_is_refused(tmp_path, tiny_store, capsys):
    """The store records which run its vectors 'gnn_embedding' are: ``--user`` of run b beside
    run a's is refused (naming both, nothing written), as beside vectors that record no run
    (published by an older kgrec); b's whole publish replaces them, then its users go beside.
    Before, b's users' vectors were written beside a's items': the vector index ranked them
    against items of another model's space, silently."""
    store = tiny_store
    a, b = (
        train(
            "lightgcn",
            protocol="ml1m-action-comedy",
            store=store,
            out=tmp_path / n,
            seed=s,
            **SMALL,
        )
        for n, s in (("a", 1), ("b", 2))
    )
    a.publish(k=3)

    def published():
        with open_store(store) as opened:
            return (
                opened.recommendations(),
                *(opened.read_vectors(kind, property="gnn_embedding") for kind in ("User", "Item")),
            )

    def assert_unchanged(before):
        after = published()
        pd.testing.assert_frame_equal(after[0], before[0])
        for (keys, vectors), (old_keys, old) in zip(after[1:], before[1:], strict=True):
            assert keys == old_keys and np.array_equal(vectors, old)

    before = published()
    with pytest.raises(InputError, match=r"of run 'a', not of run 'b' .*publish run 'b' whole"):
        b.publish(k=3, users=["u1"])
    assert_unchanged(before)
    capsys.readouterr()
    assert main(["recommend", "--run", str(b.folder), "--user", "u1"]) == 2
    assert "vectors 'gnn_embedding' of run 'a', not of run 'b'" in capsys.readouterr().err
    assert_unchanged(before)
    # a run of another dimension is refused as another run's, naming it; before, by the
    # dimension alone ("field 'property': User.gnn_embedding holds 9-dimensional vectors,
    # these have 17"), naming neither the option nor the run whose vectors they are
    wide = train(
        "lightgcn",
        protocol="ml1m-action-comedy",
        store=store,
        out=tmp_path / "wide",
        seed=3,
        **{**SMALL, "dim": 16},
    )
    capsys.readouterr()
    assert main(["recommend", "--run", str(wide.folder), "--user", "u1"]) == 2
    err = capsys.readouterr().err
    assert "vectors 'gnn_embedding' of run 'a', not of run 'wide'" in err
    assert "dimensional" not in err
    assert_unchanged(before)
    # another run under a's name is another run all the same (its model differs)
    with pytest.raises(InputError, match="another run named 'a'"):
        b.publish(k=3, users=["u1"], name="a")
    assert_unchanged(before)
    a.publish(k=3, users=["u1"])  # the run whose vectors they are: beside them
    # vectors that record no run (a store published by an older kgrec): refused the same way
    manifest = tmp_path / "store" / "manifest.json"
    content = json.loads(manifest.read_text())
    del content["vector_models"]
    manifest.write_text(json.dumps(content))
    before = published()
    with pytest.raises(InputError, match="no record of the run they are of"):
        a.publish(k=3, users=["u1"])
    assert_unchanged(before)
    # a whole publish replaces every vector and records its run; then its users go beside
    b.publish(k=3)
    b.publish(k=3, users=["u1"])
    with open_store(store) as opened:
        assert opened.vector_run("gnn_embedding")["run"] == "b"
        assert set(opened.recommendations("b")["user_id"]) == set(b.experiment.maps.users)


def test_an_empty_store_given_is_refused_not_read_as_the_runs(tmp_path, tiny_store, capsys):
    # before: `--store ""` (`--store "$STORE"` with STORE unset) published into the run's own
    # store, and served --show from it, as if no --store had been given
    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "r", **SMALL
    )
    base = ["recommend", "--run", str(run.folder), "-k", "3", "--store", ""]
    for extra in (["--show", "u1"], ["--user", "u1"], []):
        capsys.readouterr()
        assert main([*base, *extra]) == 2
        assert "store '' is empty" in capsys.readouterr().err
    with open_store(tiny_store) as opened:
        assert opened.recommendations().empty
    for call in (lambda: run.recommend(3, users=["u1"], store=" "), lambda: run.publish(" ")):
        with pytest.raises(kgrec.errors.StoreError, match="is empty"):
            call()


def test_a_store_of_another_graph_given_to_show_or_export_is_refused(tmp_path, tiny_store, capsys):
    """``--store`` of a store without the run's items was read for what users have and for
    newcomers as if it were the run's (its cold-start users served the most popular items
    instead of folded in), where a publish into it is refused; now both are refused."""
    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "r", **SMALL
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "other.inter").write_text("user_id:token\titem_id:token\trating:float\nz1\tfoo\t4\n")
    with open_store(f"local:{tmp_path / 'otherstore'}") as opened:
        opened.write(recbole.load(other, domain="comedy"), progress=False)
    export = tmp_path / "recs.csv"
    base = ["recommend", "--run", str(run.folder), "--store", f"local:{tmp_path / 'otherstore'}"]
    for extra in (["--show", "u1"], ["--export", str(export)]):
        capsys.readouterr()
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert "field '--store':" in err and "does not hold the run's items" in err
    assert not export.exists()
    # the store the run was trained on, named, serves as before
    assert main(["recommend", "--run", str(run.folder), "--store", tiny_store, "--show", "u1"]) == 0


def test_the_runs_own_store_holding_another_graph_now_is_refused_by_show_and_export(
    tmp_path, tiny_store, capsys
):
    """The run's own store, emptied and loaded with another graph since training, was read by
    --show and --export (``Run.recommend()``) for what users have and for newcomers, silently,
    where a publish into it is refused; a ``--store`` of another graph was refused already
    (found by the rec59 review)."""
    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "r", **SMALL
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "other.inter").write_text("user_id:token\titem_id:token\trating:float\nu1\tfoo\t4\n")
    shutil.rmtree(tmp_path / "store")
    with open_store(tiny_store) as opened:
        opened.write(recbole.load(other, domain="comedy"), progress=False)
    export = tmp_path / "recs.csv"
    base = ["recommend", "--run", str(run.folder)]
    for extra in (["--show", "u1"], ["--export", str(export)], []):
        capsys.readouterr()
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert "field '--store':" in err and "does not hold the run's items" in err, err
    assert not export.exists()
    with pytest.raises(InputError, match="does not hold the run's items"):
        run.recommend(3, users=["u1"])
    # Run.explain() read the other graph's paths as the run's (its store, not --store's)
    with pytest.raises(InputError, match="does not hold the run's items"):
        run.explain("u1", "comedy:foo")


def test_a_store_holding_only_some_of_the_runs_items_is_refused(tmp_path, tiny_store, capsys):
    """A store that holds the run's first item but not the rest passed the check, which
    looked at the first item alone: --show ranked from it, and a publish into it failed later
    at the store layer naming missing User nodes (found by the claims43 review)."""
    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "r", **SMALL
    )
    domain, first = run.experiment.maps.items[0].split(":", 1)
    part = tmp_path / "part"
    part.mkdir()
    inter = f"user_id:token\titem_id:token\trating:float\nz1\t{first}\t4\n"
    (part / "part.inter").write_text(inter)
    store = f"local:{tmp_path / 'partstore'}"
    with open_store(store) as opened:
        opened.write(recbole.load(part, domain=domain), progress=False)
    looked = len(run.experiment.maps.items)  # all of them, being fewer than 100
    for extra in (["--show", "u1"], ["--user", "u1"], []):
        capsys.readouterr()
        assert main(["recommend", "--run", str(run.folder), "--store", store, *extra]) == 2
        err = capsys.readouterr().err
        assert f"{looked - 1} of the {looked} looked for" in err, err
    with open_store(store) as opened:
        assert opened.recommendations().empty


def test_no_vectors_without_a_publish_is_refused_before_the_run_is_read(tmp_path, capsys):
    # before, --no-vectors was ignored with --show and --export, which publish nothing
    export = tmp_path / "recs.csv"
    for extra in (["--show", "u1"], ["--export", str(export)]):
        capsys.readouterr()
        args = ["recommend", "--run", str(tmp_path / "no-run"), "--no-vectors", *extra]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "field '--no-vectors':" in err and "publish nothing" in err
    assert not export.exists()


def test_an_unknown_show_or_user_id_names_the_option_and_the_id(tmp_path, tiny_store, capsys):
    """``--show nobody`` / ``--user nobody``, a user neither the run nor the store knows, is
    an error naming the option the user typed (before: the field ``user``, which no option
    is); nothing is published."""
    run = train(
        "lightgcn", protocol="ml1m-action-comedy", store=tiny_store, out=tmp_path / "r", **SMALL
    )
    for option in ("--show", "--user"):
        capsys.readouterr()
        assert main(["recommend", "--run", str(run.folder), option, "nobody"]) == 2
        err = capsys.readouterr().err
        assert f"field {option!r}: user 'nobody' is neither in the run's graph" in err
    with open_store(tiny_store) as opened:
        assert opened.recommendations().empty


def test_an_unknown_show_or_user_id_names_its_spelling_with_other_leading_zeros(
    tmp_path, tiny_recbole, write_tiny_store, capsys
):
    """A user's export pads user ids with zeros (00007), and the id typed loses them. Before,
    ``--show 7`` said only "user '7' is neither in the run's graph nor has interactions ...
    (a typo?)"; now it names the spelling the run's graph has. An id with none is as before."""
    inter = tiny_recbole / "tiny.inter"
    lines = inter.read_text().splitlines()
    padded = [lines[0]] + [f"{int(line[1:line.index(chr(9))]):05d}{line[line.index(chr(9)):]}"
                           for line in lines[1:]]  # fmt: skip
    inter.write_text("\n".join(padded) + "\n")
    store = write_tiny_store(tmp_path, tiny_recbole)
    run = train(
        "popularity", protocol="ml1m-action-comedy", store=store, out=tmp_path / "r",
        progress=False,
    )  # fmt: skip
    assert main(["recommend", "--run", str(run.folder), "--show", "00007", "-k", "2"]) == 0
    for option in ("--show", "--user"):
        capsys.readouterr()
        assert main(["recommend", "--run", str(run.folder), option, "7"]) == 2
        err = capsys.readouterr().err
        assert err.endswith(
            "load the user's interactions first (a typo?) (the graph has '00007': ids are "
            "text, so leading zeros count)\n"
        ), err
        assert main(["recommend", "--run", str(run.folder), option, "x7"]) == 2
        assert capsys.readouterr().err.endswith("first (a typo?)\n")
    with open_store(store) as opened:
        assert opened.recommendations().empty


def test_an_export_file_named_only_an_extension_is_refused_as_such(tmp_path, capsys):
    """``--export .csv``: Python reads the name as a hidden file with no suffix, so it was
    refused as if it had a wrong one ("--export writes .csv, .tsv, .parquet files"); the
    error says the name is only an extension, before the run is read."""
    for name in (".csv", ".tsv", ".parquet"):
        capsys.readouterr()
        args = ["recommend", "--run", str(tmp_path / "no-run"), "--export", str(tmp_path / name)]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "field '--export'" in err and f"the file name {name!r} is only an extension" in err
        assert not (tmp_path / name).exists()


def test_known_pairs_are_the_store_pairs_of_the_run_users_newcomers_and_items_ranked():
    # (one lookup per column now, not a Python loop over a million pairs: the same pairs)
    from kgrec.data.export import IdMaps
    from kgrec.experiment import _known_pairs

    maps = IdMaps(
        users=("u1", "u2"), items=("m:1", "m:2"), item_ids=("1", "2"), entities=(),
        domains=("m",), relations=(),
    )  # fmt: skip
    pairs = pd.DataFrame(
        {
            "user_id": ["u2", "new", "u1", "gone", "u1", "new"],
            "item_uid": ["m:2", "m:3", "m:9", "m:1", "m:1", "m:1"],
        },
        dtype="string",
    )
    known = _known_pairs(pairs, maps, ["m:1", "m:2", "m:3"], {"new": 2})
    assert known.dtype == torch.long
    assert known.tolist() == [[1, 2, 0, 2], [1, 2, 0, 0]]  # not gone's, not m:9
    assert _known_pairs(pairs.iloc[:0], maps, list(maps.items), {}).shape == (2, 0)


def _titled_recbole(tiny_recbole: Path) -> dict[str, str]:
    """Give the tiny RecBole items titles (``movie_title``), every third item none; the
    title of each item uid of the ml1m-action-comedy rule's domains ("" for none)."""
    items = pd.read_csv(tiny_recbole / "tiny.item", sep="\t")
    titles = ["" if n % 3 == 0 else f"Film {n}: the   sequel" for n in range(len(items))]
    items["movie_title:token_seq"] = titles
    items.to_csv(tiny_recbole / "tiny.item", sep="\t", index=False)
    domain = items["genre:token"].str.split().str[0].str.lower()  # "Action Thriller" -> action
    return {f"{d}:{i}": t for d, i, t in zip(domain, items["item_id:token"], titles, strict=True)}


def _shown_rows(out: str) -> tuple[list[str], list[str]]:
    """The header and row lines of one user's ``kgrec recommend --show`` list."""
    header, *rows = out.splitlines()[1:]
    return header.split(), rows


@pytest.mark.parametrize("source", ["files", "store"])
def test_show_prints_each_items_title_beside_its_uid(
    tmp_path, tiny_recbole, write_tiny_store, capsys, source
):
    """--show prints the items' titles (before: ``1 comedy:Comedy 18 11.0``, uids alone), as the
    run's graph held them at training: a run trained from files, with no store, too; an item
    without one has an empty cell. The Python API's table keeps its columns."""
    titles = _titled_recbole(tiny_recbole)
    where = (
        {"data": tiny_recbole}
        if source == "files"
        else {"store": write_tiny_store(tmp_path, tiny_recbole)}
    )
    run = train("popularity", protocol="ml1m-action-comedy", out=tmp_path / "r", **where, **SMALL)
    capsys.readouterr()
    assert main(["recommend", "--run", str(run.folder), "-k", "6", "--show", "u3"]) == 0
    header, rows = _shown_rows(capsys.readouterr().out)
    loaded = load_run(run.folder)
    table = loaded.recommend(6, users=["u3"])
    assert list(table.columns) == ["user_id", "item_uid", "score", "rank", "model", "run"]
    assert loaded.item_titles(table["item_uid"]) == [titles[uid] for uid in table["item_uid"]]
    with pytest.raises(InputError, match="a list of ids is expected"):
        loaded.item_titles(table["item_uid"].iloc[0])  # not read letter by letter
    assert header == ["rank", "item_uid", "title", "score"] and len(rows) == len(table) == 6
    for line, uid in zip(rows, table["item_uid"], strict=True):
        # the title on one line after the uid, then the score ("" titles: the score alone)
        assert line.split(uid, 1)[1].split()[:-1] == titles[uid].split()
    assert {bool(titles[uid]) for uid in table["item_uid"]} == {True, False}  # both kinds shown


def test_show_of_a_run_saved_without_titles_prints_its_rows_as_before(
    tmp_path, tiny_recbole, capsys
):
    """A run of a kgrec before session 45 has no titles in its experiment.pt: --show prints
    rank, item_uid and score, as then, without an error; damaged titles name the file."""
    _titled_recbole(tiny_recbole)
    run = train("popularity", protocol="ml1m-action-comedy", data=tiny_recbole, out=tmp_path / "r")
    path = run.folder / "experiment.pt"
    payload = torch.load(path, weights_only=True)
    assert len(payload["titles"]) == len(payload["maps"]["items"])
    del payload["titles"]
    torch.save(payload, path)
    capsys.readouterr()
    assert main(["recommend", "--run", str(run.folder), "-k", "3", "--show", "u3"]) == 0
    out = capsys.readouterr().out
    table = load_run(run.folder).recommend(3, users=["u3"])
    shown = table[["rank", "item_uid", "score"]].to_string(index=False)
    assert out == f"user u3 (run 'r', popularity):\n{shown}\n"
    assert load_run(run.folder).item_titles(table["item_uid"]) is None
    payload["titles"] = ("Film",)  # one title for 60 items
    torch.save(payload, path)
    assert main(["recommend", "--run", str(run.folder), "-k", "3", "--show", "u3"]) == 2
    err = capsys.readouterr().err
    assert f"file {path}: the run's experiment cannot be read (its item titles" in err
    assert "train the run again" in err


def test_show_of_an_older_run_trained_from_a_store_reads_its_titles_there(
    tmp_path, tiny_recbole, write_tiny_store, capsys
):
    """A run of a kgrec before session 45, trained from a store, saved no titles: --show reads
    the items' titles from the store, which --show reads for what users have anyway."""
    titles = _titled_recbole(tiny_recbole)
    store = write_tiny_store(tmp_path, tiny_recbole)
    run = train("popularity", protocol="ml1m-action-comedy", store=store, out=tmp_path / "r")
    path = run.folder / "experiment.pt"
    payload = torch.load(path, weights_only=True)
    del payload["titles"]
    torch.save(payload, path)
    capsys.readouterr()
    assert main(["recommend", "--run", str(run.folder), "-k", "6", "--show", "u3"]) == 0
    header, rows = _shown_rows(capsys.readouterr().out)
    table = load_run(run.folder).recommend(6, users=["u3"])
    assert header == ["rank", "item_uid", "title", "score"]
    for line, uid in zip(rows, table["item_uid"], strict=True):
        assert line.split(uid, 1)[1].split()[:-1] == titles[uid].split()


def test_user_prints_each_items_title_beside_its_uid(
    tmp_path, tiny_recbole, write_tiny_store, capsys
):
    """--user's lines name each item's title after its uid, as --show does (Run.item_titles;
    before: `  1. comedy:Comedy 18  11.000  because ...`, uids alone), on one line, the uids
    and titles padded so that the scores stand in a column; an untitled item a blank cell."""
    titles = _titled_recbole(tiny_recbole)
    store = write_tiny_store(tmp_path, tiny_recbole)
    run = train("popularity", protocol="ml1m-action-comedy", store=store, out=tmp_path / "r")
    capsys.readouterr()
    assert main(["recommend", "--run", str(run.folder), "-k", "6", "--user", "u3"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header == "user u3, run 'r' (popularity):"
    with open_store(store) as opened:
        published = opened.recommendations("r")
    published = published[published["user_id"] == "u3"]
    assert len(published) == 6 and len(lines) == 7  # and the "published ..." line
    starts = set()
    for line, row in zip(lines, published.itertuples(), strict=False):
        score = f"{row.score:.3f}"
        after_uid = line.split(f"{row.rank:3d}. {row.item_uid} ", 1)[1]
        assert after_uid.split(f"  {score}")[0].split() == titles[row.item_uid].split()
        starts.add(line.index(f"  {score}", len(f"{row.rank:3d}. {row.item_uid}")))
    assert len(starts) == 1  # the scores in a column
    assert {bool(titles[uid]) for uid in published["item_uid"]} == {True, False}  # both kinds
