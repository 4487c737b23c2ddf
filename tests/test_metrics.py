"""kgrec.metrics against a naive per-user loop, and the evaluator's masking and grouping."""

from __future__ import annotations

import math
import random

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


@pytest.mark.parametrize("k", [0, -3, 2.5, "10", True])
def test_bad_k_is_rejected_with_its_value(k: object) -> None:
    with pytest.raises(ValueError, match="k must be a positive integer"):
        RankingMetrics(50, ks=(k,))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        Coverage(k, 50)  # type: ignore[arg-type]


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
