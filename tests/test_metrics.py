"""kgrec.metrics against a naive per-user loop, and the evaluator's masking and grouping."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from kgrec.metrics import Coverage, RankingMetrics


def naive(top: list[list[int]], relevant: list[set[int]], k: int, num_items: int) -> dict:
    rows = [(t[:k], r) for t, r in zip(top, relevant, strict=True) if r]
    out = {"recall": 0.0, "ndcg": 0.0, "hit": 0.0, "mrr": 0.0, "precision": 0.0}
    for ranked, rel in rows:
        hits = [j for j, item in enumerate(ranked) if item in rel]
        out["recall"] += len(hits) / len(rel)
        out["precision"] += len(hits) / k
        out["hit"] += 1.0 if hits else 0.0
        out["mrr"] += 1.0 / (hits[0] + 1) if hits else 0.0
        dcg = sum(1.0 / math.log2(j + 2) for j in hits)
        idcg = sum(1.0 / math.log2(j + 2) for j in range(min(len(rel), k)))
        out["ndcg"] += dcg / idcg
    result = {f"{name}@{k}": value / len(rows) for name, value in out.items()}
    shown = {item for ranked, _ in zip(top, relevant, strict=True) for item in ranked[:k]}
    result[f"coverage@{k}"] = len(shown & set(range(num_items))) / num_items
    return result


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_naive_loop(seed: int) -> None:
    rng = random.Random(seed)
    num_items, num_users = 60, 40
    top = [rng.sample(range(num_items), 20) for _ in range(num_users)]
    # some users hold nothing out; one list has padding (index num_items) at the end
    relevant = [set(rng.sample(range(num_items), rng.choice([0, 1, 3, 15, 30]))) for _ in top]
    top[3][-4:] = [num_items] * 4
    pairs = [(row, item) for row, items in enumerate(relevant) for item in sorted(items)]
    targets = torch.tensor(pairs).T
    metrics = RankingMetrics(num_items, ks=(10, 20))
    half = num_users // 2  # two updates, as the evaluator batches users
    metrics.update(torch.tensor(top[:half]), targets[:, targets[0] < half])
    rest = targets[:, targets[0] >= half]
    metrics.update(torch.tensor(top[half:]), torch.stack([rest[0] - half, rest[1]]))
    got = metrics.compute()
    want = {**naive(top, relevant, 10, num_items), **naive(top, relevant, 20, num_items)}
    # coverage counts every list given, also of users without held-out items
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-6), name
    assert got["users"] == sum(1 for r in relevant if r)
    metrics.reset()
    assert metrics.users == 0 and metrics.coverage[10].compute() == 0.0


@pytest.mark.parametrize(
    "k, error",
    [(0, ValueError), (-3, ValueError), (2.5, TypeError), ("10", TypeError), (True, TypeError)],
)
def test_bad_k_is_rejected_with_its_value(k: object, error: type[Exception]) -> None:
    """A k that is no integer is a TypeError, as in models.checks.check_k (before, here, a
    ValueError like that of k < 1)."""
    with pytest.raises(error, match=rf"^k must be a positive integer, got {k!r}$"):
        RankingMetrics(50, ks=(k,))
    with pytest.raises(error, match=rf"^k must be a positive integer, got {k!r}$"):
        Coverage(k, 50)  # type: ignore[arg-type]


def test_a_numpy_integer_k_is_its_number() -> None:
    metrics = RankingMetrics(50, ks=(np.int64(10),))
    assert metrics.ks == (10,) and type(metrics.ks[0]) is int
    assert Coverage(np.int32(5), 50).k == 5  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"k must be a positive integer, got np\.True_"):
        Coverage(np.bool_(True), 50)  # type: ignore[arg-type]


def test_k_larger_than_catalogue_is_rejected() -> None:
    with pytest.raises(ValueError, match="k=20 is larger than the catalogue of 12 items"):
        RankingMetrics(12)


def test_short_lists_are_rejected() -> None:
    metrics = RankingMetrics(50, ks=(10, 20))
    with pytest.raises(ValueError, match=r"top_items must be \[users, >= 20\]"):
        metrics.update(torch.zeros(3, 10, dtype=torch.long), torch.zeros(2, 1, dtype=torch.long))


def test_the_table_shows_warm_and_cold_rows_only_when_there_are_cold_users():
    from kgrec.evaluate import format_table

    row = {"users": 3, "ndcg@20": 0.25, "recall@10": 0.5}
    cold = {"users": 0}
    lines = format_table({"test": {"all": row, "warm": row, "cold": cold}}).splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["phase", "group", "users"],
        ["test", "all", "3"],
    ]
    assert lines[0].split()[3:] == ["recall@10", "ndcg@20"]
    lines = format_table({"test": {"all": row, "warm": row, "cold": {**row, "users": 1}}})
    assert [line.split()[1] for line in lines.splitlines()[1:]] == ["all", "warm", "cold"]
    # few-shot users who were all the cold ones: no empty cold row (before: 0 users, dashes)
    few = {"all": row, "warm": row, "cold": cold, "few-shot": {**row, "users": 2}}
    lines = format_table({"test": few}).splitlines()
    assert [line.split()[1] for line in lines[1:]] == ["all", "warm", "few-shot"]


def test_the_table_shows_no_warm_row_where_a_phase_has_no_warm_user() -> None:
    """Split files whose valid.tsv holds cold-start users only (the warm users' held-out
    items all in test): before, the valid phase printed a warm row of 0 users and dashes."""
    from kgrec.data.split import Split
    from kgrec.evaluate import evaluate_embeddings, format_table

    # user 0 warm (train, test), user 1 cold (valid, test); 30 target items
    train, valid = torch.tensor([[0, 0], [0, 1]]), torch.tensor([[1], [3]])
    test = torch.tensor([[0, 1], [5, 6]])
    split = Split(0, train, valid, test)
    gen = torch.Generator().manual_seed(0)
    user_emb, item_emb = torch.randn(2, 3, generator=gen), torch.randn(30, 3, generator=gen)
    domain = torch.zeros(30, dtype=torch.long)
    metrics = {
        p: evaluate_embeddings(user_emb, item_emb, domain, split, p) for p in ("valid", "test")
    }
    assert metrics["valid"]["warm"] == {"users": 0} and metrics["valid"]["cold"]["users"] == 1
    for by_activity in (False, True):
        rows = [
            line.split()[:3]
            for line in format_table(metrics, by_activity=by_activity).splitlines()[1:]
        ]
        want = [["valid", "all", "1"], ["valid", "cold", "1"]]
        want += [["test", "all", "2"], ["test", "warm", "1"], ["test", "cold", "1"]]
        assert rows == want + [["test", "act<=5", "1"]] * by_activity
    # few-shot users alone (they were all the cold ones, and the warm users hold nothing out)
    row = {"users": 2, "ndcg@20": 0.25}
    few = {"all": row, "warm": {"users": 0}, "cold": {"users": 0}, "few-shot": row}
    rows = format_table({"valid": few}).splitlines()[1:]
    assert [line.split()[1] for line in rows] == ["all", "few-shot"]


def activity_case(seed: int):
    """A target domain of 80 items (and 5 of another domain), users with 0 to 60 training
    interactions, two held-out items each, random embeddings."""
    from kgrec.data.split import Split

    gen = torch.Generator().manual_seed(seed)
    counts = [0, 0, 1, 3, 5, 6, 10, 20, 21, 40, 50, 51, 60]
    parts: dict[str, list[tuple[int, int]]] = {"train": [], "valid": [], "test": []}
    for user, n in enumerate(counts):
        items = torch.randperm(80, generator=gen).tolist()
        parts["train"] += [(user, i) for i in items[:n]]
        parts["valid"] += [(user, items[n])]
        parts["test"] += [(user, i) for i in items[n + 1 : n + 3]]
    tensors = {name: torch.tensor(sorted(pairs)).T for name, pairs in parts.items()}
    split = Split(0, tensors["train"], tensors["valid"], tensors["test"])
    user_emb = torch.randn(len(counts), 6, generator=gen)
    item_emb = torch.randn(85, 6, generator=gen)
    item_domain = torch.tensor([0] * 80 + [1] * 5)
    return counts, split, user_emb, item_emb, item_domain


@pytest.mark.parametrize("seed", [0, 1])
def test_activity_groups_match_a_naive_loop(seed: int) -> None:
    from kgrec.evaluate import ACTIVITY, GROUPS, evaluate_embeddings

    counts, split, user_emb, item_emb, item_domain = activity_case(seed)
    got = evaluate_embeddings(user_emb, item_emb, item_domain, split, "test")
    assert set(got) == set(GROUPS) == {"all", "warm", "cold", *ACTIVITY}
    bounds = {"cold": (0, 0), "act<=5": (1, 5), "act6-20": (6, 20)}
    bounds |= {"act21-50": (21, 50), "act>50": (51, 10**9)}
    known = torch.cat([split.train, split.valid], dim=1)
    for group, (low, high) in bounds.items():
        top, relevant = [], []
        for user, n in enumerate(counts):
            if not low <= n <= high:
                continue
            scores = (user_emb[user] @ item_emb[:80].T).tolist()
            mine = set(known[1, known[0] == user].tolist())
            ranked = sorted((i for i in range(80) if i not in mine), key=lambda i: -scores[i])
            top.append(ranked[:20])
            relevant.append(set(split.test[1, split.test[0] == user].tolist()))
        want = {**naive(top, relevant, 10, 80), **naive(top, relevant, 20, 80)}
        assert got[group]["users"] == len(top) > 0, group
        for name, value in want.items():
            assert got[group][name] == pytest.approx(value, abs=1e-6), (group, name)


def test_activity_groups_split_the_warm_users() -> None:
    from kgrec.evaluate import ACTIVITY, evaluate_embeddings

    _, split, user_emb, item_emb, item_domain = activity_case(2)
    for phase in ("valid", "test"):
        got = evaluate_embeddings(user_emb, item_emb, item_domain, split, phase)
        assert sum(got[g]["users"] for g in ACTIVITY) == got["warm"]["users"] == 11
        for name in ("recall@20", "ndcg@10", "ndcg@20", "precision@10", "hit@20", "mrr@10"):
            mixed = sum(got[g][name] * got[g]["users"] for g in ACTIVITY) / got["warm"]["users"]
            assert got["warm"][name] == pytest.approx(mixed, abs=1e-6), name
    # a group without users is {"users": 0}
    only_thin = type(split)(0, split.train[:, split.train[0] <= 4], split.valid, split.test)
    got = evaluate_embeddings(user_emb, item_emb, item_domain, only_thin, "test")
    assert got["act>50"] == {"users": 0} and got["act<=5"]["users"] == 3


def test_the_table_shows_activity_rows_on_request_and_only_those_with_users():
    from kgrec.evaluate import format_table

    row = {"users": 3, "ndcg@20": 0.25, "recall@10": 0.5}
    groups = {"all": row, "warm": row, "cold": {"users": 0}, "act<=5": {**row, "users": 2}}
    groups |= {"act6-20": {**row, "users": 1}, "act21-50": {"users": 0}, "act>50": {"users": 0}}
    plain = format_table({"test": groups})
    assert [line.split()[1] for line in plain.splitlines()[1:]] == ["all"]
    lines = format_table({"test": groups}, by_activity=True).splitlines()
    assert [line.split()[1:3] for line in lines[1:]] == [
        ["all", "3"],
        ["act<=5", "2"],
        ["act6-20", "1"],
    ]


def test_the_table_shows_activity_rows_last_from_the_fewest_interactions_up():
    """format_table's docstring (and the README) give the rows' order. Before, the rows came in
    the order of the groups given: the activity rows before few-shot and the item groups, and
    metrics read from a file written with sorted keys began with act21-50, act6-20, act<=5."""
    from kgrec.evaluate import format_table

    row = {"users": 3, "ndcg@20": 0.25}
    names = ["all", "warm", "cold", "few-shot", "warm-items", "new-items", "new-only"]
    names += ["act<=5", "act6-20", "act21-50", "act>50"]
    groups = {name: dict(row) for name in sorted(names)}  # as json.dumps(sort_keys=True)
    lines = format_table({"test": groups}, by_activity=True).splitlines()
    assert [line.split()[1] for line in lines[1:]] == names
    plain = format_table({"test": groups}).splitlines()
    assert [line.split()[1] for line in plain[1:]] == names[:7]


def item_groups_case(seed: int):
    """30 users, 42 target items (domain 0) and 5 of another domain; items 30..39 are new
    (no training interaction), others mixed; every user holds out warm and/or new items;
    items 40 and 41 are in the catalogue, and nobody interacted with them."""
    from kgrec.data.split import Split

    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    train, valid, test = [], [], []
    for user in range(30):
        items = rng.sample(range(40), 12)
        for j, item in enumerate(items):
            if item >= 30:
                (valid if j % 2 else test).append((user, item))
            else:
                (train if j < 8 else valid if j < 10 else test).append((user, item))
    tensors = [torch.tensor(p, dtype=torch.long).T for p in (train, valid, test)]
    split = Split(0, *tensors, item_groups=True)
    user_emb = torch.randn(30, 6, generator=gen)
    item_emb = torch.randn(47, 6, generator=gen)
    item_domain = torch.tensor([0] * 42 + [1] * 5)
    return split, user_emb, item_emb, item_domain


@pytest.mark.parametrize(("seed", "fraction"), [(0, 1.0), (1, 1.0), (0, 0.15), (1, 0.15)])
def test_item_groups_match_a_naive_loop(seed: int, fraction: float) -> None:
    """``new-items`` and ``new-only`` count the split's new items; ``warm-items`` the items
    with a training interaction. An item that ``--train-fraction`` left with no training
    interaction is neither (before, it was counted a new item beside the drawn ones)."""
    from kgrec.data.split import reduce_train
    from kgrec.evaluate import GROUPS, ITEM_GROUPS, evaluate_embeddings

    split, user_emb, item_emb, item_domain = item_groups_case(seed)
    held_out = set(torch.cat([split.valid[1], split.test[1]]).tolist())
    new = held_out - set(split.train[1].tolist())
    # new-only ranks the new items alone, not the items nobody interacted with (40, 41); before,
    # those counted as new, so new-only ranked items that can never be relevant
    assert set(range(30, 40)) <= new and not {40, 41} & new
    trained = set(split.train[1].tolist())
    split = reduce_train(split, fraction, seed=seed)
    warm = set(split.train[1].tolist())
    untrained = trained - warm  # by the fraction
    assert bool(untrained) == (fraction < 1) and not untrained & new
    test_items = set(split.test[1].tolist())
    assert fraction == 1 or untrained & test_items  # held out, in neither group
    got = evaluate_embeddings(user_emb, item_emb, item_domain, split, "test")
    assert set(got) == {*GROUPS, *ITEM_GROUPS}
    known = torch.cat([split.train, split.valid], dim=1)
    for group, catalogue, relevant_items in (
        ("all", range(42), set(range(42))),
        ("warm-items", range(42), warm),
        ("new-items", range(42), new),
        ("new-only", sorted(new), new),
    ):
        top, relevant = [], []
        for user in range(30):
            mine = set(split.test[1, split.test[0] == user].tolist()) & relevant_items
            if not mine:
                continue
            scores = (user_emb[user] @ item_emb[:42].T).tolist()
            seen = set(known[1, known[0] == user].tolist())
            ranked = sorted((i for i in catalogue if i not in seen), key=lambda i: -scores[i])
            top.append(ranked[:20])
            relevant.append(mine)
        size = len(catalogue)
        want = {}
        for k in (k for k in (10, 20) if k <= size):  # new-only: k up to the new items
            want |= naive(top, relevant, k, size)
            # the share of the ranked catalogue (new-only: of the new items, not of all 42)
            want[f"coverage@{k}"] = len({i for ranked in top for i in ranked[:k]}) / size
        assert got[group]["users"] == len(top) > 0, group
        assert set(want) <= set(got[group]), group
        for name, value in want.items():
            assert got[group][name] == pytest.approx(value, abs=1e-6), (group, name)


def test_item_groups_only_where_the_split_has_them() -> None:
    from dataclasses import replace

    from kgrec.evaluate import GROUPS, evaluate_embeddings, format_table

    split, user_emb, item_emb, item_domain = item_groups_case(0)
    plain = evaluate_embeddings(
        user_emb, item_emb, item_domain, replace(split, item_groups=False), "test"
    )
    full = evaluate_embeddings(user_emb, item_emb, item_domain, split, "test")
    assert set(plain) == set(GROUPS)
    assert all(plain[g] == full[g] for g in GROUPS)  # the user groups are the same
    table = format_table({"test": full}).splitlines()
    assert [line.split()[1] for line in table[1:]] == ["all", "warm-items", "new-items", "new-only"]


def test_new_only_with_fewer_new_items_than_k() -> None:
    from kgrec.evaluate import evaluate_embeddings

    split, user_emb, item_emb, item_domain = item_groups_case(0)
    got = evaluate_embeddings(user_emb, item_emb, item_domain, split, "test", ks=(5, 30))
    assert "ndcg@5" in got["new-only"] and "ndcg@30" not in got["new-only"]
    assert "ndcg@30" in got["all"]


def test_few_shot_users_are_their_own_group() -> None:
    from dataclasses import replace

    from kgrec.evaluate import ACTIVITY, FEW_SHOT, GROUPS, evaluate_embeddings, format_table

    _, split, user_emb, item_emb, item_domain = activity_case(2)
    plain = evaluate_embeddings(user_emb, item_emb, item_domain, split, "test")
    warm = sorted(set(split.train[0].tolist()))
    shot = replace(split, few_shot_users=torch.tensor(warm[:3]))
    got = evaluate_embeddings(user_emb, item_emb, item_domain, shot, "test")
    assert set(got) == {*GROUPS, FEW_SHOT}
    assert got[FEW_SHOT]["users"] == 3
    assert got["warm"]["users"] == plain["warm"]["users"] - 3
    assert sum(got[g]["users"] for g in ACTIVITY) == got["warm"]["users"]
    assert got["all"] == plain["all"] and got["cold"] == plain["cold"]
    table = format_table({"test": got}).splitlines()
    assert [line.split()[1] for line in table[1:]] == ["all", "warm", "cold", FEW_SHOT]


@pytest.mark.parametrize(
    ("top", "targets", "says"),
    [
        ([[4, 1], [2, 3]], [[1], [-1]], "items outside"),  # before: recall@2 1e7
        ([[5, 5]], [[0], [5]], "items outside"),  # before: matched the empty slots, recall 2
        ([[1, 0]], [[1], [0]], "rows outside"),
    ],
)
def test_targets_outside_the_lists_or_the_catalogue_are_refused(top, targets, says) -> None:
    metrics = RankingMetrics(5, [2])
    with pytest.raises(ValueError, match=says):
        metrics.update(torch.tensor(top), torch.tensor(targets))


def test_a_repeated_pair_or_prediction_counts_once() -> None:
    # before: a repeated held-out pair halved recall (0.5), a repeated prediction doubled it
    for top, targets in (([[1, 0]], [[0, 0], [1, 1]]), ([[1, 1]], [[0], [1]])):
        metrics = RankingMetrics(5, [2])
        metrics.update(torch.tensor(top), torch.tensor(targets))
        assert metrics.compute()["recall@2"] == pytest.approx(1.0)


def test_new_only_with_fewer_new_items_than_k_says_why(caplog) -> None:
    # before: {"users": 0} and nothing else, which reads as "no user has a new item"
    from kgrec.evaluate import _new_only

    new = torch.tensor([False, True, True, False])
    held_out = torch.tensor([[0], [1]])
    with caplog.at_level("WARNING"):
        out = _new_only(
            torch.ones(1, 2),
            torch.ones(4, 2),
            new,
            held_out,
            torch.zeros(2, 0, dtype=torch.long),
            [10, 20],
            8,
        )
    assert out == {"users": 0} and "2 new item(s), fewer than the smallest k (10)" in caplog.text


def test_an_item_whose_score_overflows_to_inf_is_an_error_not_an_empty_slot() -> None:
    # before session 43: a +inf score was taken for an empty slot (as masked items' -inf), so
    # the user's best item, held out, counted as no hit: hit@10 0 and one item short of
    # coverage; session 43 ranked it first; since session 44 an overflowing score (+inf, -inf
    # or NaN, as the CPU sums the products) is no score to rank: the diverged model's error
    from kgrec.data.split import Split
    from kgrec.evaluate import evaluate_embeddings
    from kgrec.ranking import NaNScores

    user_emb = torch.tensor([[300.0, 300.0]]).half()
    item_emb = torch.cat([torch.full((29, 2), 0.5), torch.tensor([[300.0, 300.0]])]).half()
    assert torch.isposinf(user_emb @ item_emb[-1]).all()  # 180000 overflows float16
    none = torch.empty(2, 0, dtype=torch.long)
    split = Split(0, torch.tensor([[0], [0]]), none, torch.tensor([[0], [29]]))
    with pytest.raises(NaNScores, match=r"NaN or infinite for 1 user\(s\)"):
        evaluate_embeddings(user_emb, item_emb, torch.zeros(30, dtype=torch.long), split, "test")


@pytest.mark.parametrize("phase", ["valid", "test"])
def test_ties_short_lists_batches_and_user_order_match_a_naive_loop(phase: str) -> None:
    """0/1 embeddings tie many scores (ranked by item index, lowest first); some users have
    fewer than 20 items left after masking (empty slots, never a hit); ``valid`` masks train
    only, ``test`` train and valid. Neither the batch size nor the order of the split's
    pairs changes a figure."""
    from dataclasses import replace

    from kgrec.data.split import Split
    from kgrec.evaluate import evaluate_embeddings

    gen = torch.Generator().manual_seed(3)
    rng = random.Random(3)
    user_emb = torch.randint(0, 2, (25, 3), generator=gen).float()
    item_emb = torch.randint(0, 2, (34, 3), generator=gen).float()  # 30 target items, 4 other
    item_domain = torch.tensor([0] * 30 + [1] * 4)
    parts: dict[str, list[tuple[int, int]]] = {"train": [], "valid": [], "test": []}
    for user in range(25):
        n = rng.choice([0, 1, 4, 12, 25])
        items = rng.sample(range(30), n + rng.choice([2, 3, 5]))
        parts["train"] += [(user, i) for i in items[:n]]
        parts["valid"] += [(user, items[n])]
        parts["test"] += [(user, i) for i in items[n + 1 :]]
    split = Split(0, *(torch.tensor(sorted(parts[p])).T for p in ("train", "valid", "test")))
    held_out = getattr(split, phase)
    known = split.train if phase == "valid" else torch.cat([split.train, split.valid], dim=1)
    top, relevant = [], []
    for user in sorted(set(held_out[0].tolist())):
        scores = (user_emb[user] @ item_emb[:30].T).tolist()
        mine = set(known[1, known[0] == user].tolist())
        ranked = sorted((i for i in range(30) if i not in mine), key=lambda i: (-scores[i], i))
        top.append((ranked + [30] * 20)[:20])  # 30: an empty slot
        relevant.append(set(held_out[1, held_out[0] == user].tolist()))
    assert min(len(set(t) - {30}) for t in top) < 10  # some lists are short
    want = {**naive(top, relevant, 10, 30), **naive(top, relevant, 20, 30)}
    got = evaluate_embeddings(user_emb, item_emb, item_domain, split, phase)
    assert got["all"]["users"] == len(top)
    for name, value in want.items():
        assert got["all"][name] == pytest.approx(value, abs=1e-6), name
    shuffled = replace(
        split, **{p: getattr(split, p)[:, torch.randperm(len(parts[p]))] for p in parts}
    )
    for other, batch in ((split, 1), (split, 7), (shuffled, 4096)):
        again = evaluate_embeddings(user_emb, item_emb, item_domain, other, phase, batch_size=batch)
        assert again == got


def test_a_catalogue_size_or_lists_that_are_not_integers_are_refused() -> None:
    """num_items=4.5 or True was torch's "zeros(): argument 'size' ... must be tuple of ints",
    and float lists or targets were torch's indexing or scatter errors: now errors naming the
    argument."""
    for build in (lambda: RankingMetrics(4.5, [2]), lambda: Coverage(2, 4.5)):
        with pytest.raises(TypeError, match=r"num_items must be an integer, got 4\.5"):
            build()
    with pytest.raises(TypeError, match="num_items must be an integer, got True"):
        RankingMetrics(True, [1])
    with pytest.raises(ValueError, match="num_items must be at least 1, got 0"):
        RankingMetrics(0, [1])
    metrics = RankingMetrics(4, [2])
    with pytest.raises(ValueError, match=r"top_items must hold item indices .* torch\.float32"):
        metrics.update(torch.tensor([[0.0, 1.0]]), torch.tensor([[0], [0]]))
    with pytest.raises(ValueError, match=r"targets must hold item indices .* torch\.float32"):
        metrics.update(torch.tensor([[0, 1]]), torch.tensor([[0.0], [0.0]]))


@pytest.mark.parametrize(
    ("arguments", "error", "says"),
    [
        ({"ks": ()}, ValueError, "ks must name at least one k"),  # before: max() arg is an empty
        ({"ks": 20}, TypeError, r"ks must be a sequence of positive integers, e\.g\. \(10, 20\)"),
        ({"ks": (10, 0)}, ValueError, r"k must be a positive integer, got 0"),
        ({"ks": [2.5]}, TypeError, r"k must be a positive integer, got 2\.5"),
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1, got 0"),  # before: taken
        ({"batch_size": 2.5}, TypeError, r"batch_size must be an integer, got 2\.5"),
        ({"phase": "train"}, ValueError, r"phase must be one of \('valid', 'test'\), got 'train'"),
        ({"phase": ["valid", "tset"]}, ValueError, "phase must be one of .*, got 'tset'"),
        ({"phase": []}, ValueError, "phase must name at least one of"),
        ({"phase": 1}, TypeError, "phase must be one of, or a sequence of,"),
    ],
)
def test_evaluate_refuses_bad_arguments_naming_them_before_the_forward_pass(
    arguments, error, says
) -> None:
    """``evaluate`` checks its arguments before running the model (here no model at all:
    before, ``model=None`` failed first, or the model ran and then ``max()`` or ``list()``
    failed naming no argument); ``evaluate_embeddings`` refuses the same."""
    from kgrec.evaluate import evaluate, evaluate_embeddings

    _, split, user_emb, item_emb, item_domain = activity_case(0)
    given = {"phase": "test", **arguments}
    with pytest.raises(error, match=says):
        evaluate(None, None, split, given.pop("phase"), **given)
    if isinstance(arguments.get("phase", ""), str):
        given = {"phase": "test", **arguments}
        with pytest.raises(error, match=says):
            evaluate_embeddings(user_emb, item_emb, item_domain, split, given.pop("phase"), **given)


def test_int32_indices_past_two_to_the_31_pairs_count_as_int64_ones() -> None:
    """Held-out pairs are keyed ``row * num_items + item``: with int32 indices (which torch
    and kgrec index with) that key overflowed past 2**31, here the last of 42951 users'
    pair read as user 0's item 32709: recall@2 0.5 over 1 user, silently, for 1.0 over 2."""
    num_items, users = 100_000, 42_951  # 42950 * 100000 wraps past 2**32 to 32709
    want = {"recall@2": 1.0, "ndcg@2": 1.0, "hit@2": 1.0, "mrr@2": 1.0, "precision@2": 0.5}
    for dtype in (torch.int64, torch.int32):
        top = torch.full((users, 2), 7, dtype=dtype)
        top[:, 0] = 5
        targets = torch.tensor([[0, users - 1], [5, 5]], dtype=dtype)
        metrics = RankingMetrics(num_items, [2])
        metrics.update(top, targets)
        got = metrics.compute()
        assert got["users"] == 2, dtype
        for name, value in want.items():
            assert got[name] == pytest.approx(value), (dtype, name)
