"""Fold-in: a newcomer's representation from frozen item representations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgrec.foldin import fold_in_users


@pytest.fixture
def items() -> torch.Tensor:
    # two clusters: items 0-2 point one way, items 3-5 the other
    return torch.tensor(
        [[1.0, 0.1], [0.9, 0.0], [1.1, -0.1], [-1.0, 0.1], [-0.9, 0.0], [-1.1, -0.1]]
    )


def test_mean_is_the_mean_of_the_history(items):
    z = fold_in_users(items, [torch.tensor([0, 1]), torch.tensor([3])], method="mean")
    assert torch.allclose(z[0], items[:2].mean(0)) and torch.allclose(z[1], items[3])


@pytest.mark.parametrize("method", ["mean", "solve"])
def test_a_newcomer_is_served_from_their_cluster(items, method):
    z = fold_in_users(items, [torch.tensor([0, 1]), torch.tensor([4])], method=method)
    scores = z @ items.T
    assert scores[0, 2] > scores[0, 3:].max()  # the unseen item of the first user's cluster
    assert scores[1, 3] > scores[1, :3].max() and scores[1, 5] > scores[1, :3].max()


def test_solve_lowers_the_bpr_loss_of_the_history(items):
    history = [torch.tensor([0, 3])]  # a user of both clusters, with a taste for item 0's side
    mean = fold_in_users(items, history, method="mean")
    solved = fold_in_users(items, history, method="solve", steps=200)

    def bpr(z):
        pos = z @ items[[0, 3]].T
        neg = z @ items[[1, 2, 4, 5]].T
        return -torch.nn.functional.logsigmoid(pos.T - neg).mean()

    assert float(bpr(solved)) < float(bpr(mean))


def test_a_newcomer_without_history_gets_zeros_and_bad_input_is_refused(items):
    z = fold_in_users(items, [torch.tensor([], dtype=torch.long), torch.tensor([1])])
    assert torch.equal(z[0], torch.zeros(2)) and z[1].abs().sum() > 0
    assert fold_in_users(items, []).shape == (0, 2)
    with pytest.raises(ValueError, match="method must be one of"):
        fold_in_users(items, [torch.tensor([0])], method="magic")
    with pytest.raises(ValueError, match=r"history items must lie in \[0, 6\)"):
        fold_in_users(items, [torch.tensor([6])])


def test_a_newcomer_gets_the_same_vector_whoever_is_folded_in_beside_them():
    # before the fix the loss was averaged over every newcomer's pairs pooled, and the
    # negatives came from one shared stream: a short history folded in beside a long one
    # moved by 0.25, and its top 10 changed
    items = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    short = torch.tensor([3, 7, 11])
    long = torch.arange(10, 50)
    alone = fold_in_users(items, [short])
    beside = fold_in_users(items, [long, short, torch.tensor([], dtype=torch.long)])
    assert torch.allclose(alone[0], beside[1], atol=1e-6)
    assert torch.allclose(fold_in_users(items, [long])[0], beside[0], atol=1e-6)
    assert torch.equal(beside[2], torch.zeros(8))


def test_solve_minimises_each_newcomers_own_objective(items):
    # the solution is a stationary point of mean BPR over the newcomer's pairs + λ‖z‖²:
    # perturbing it in any direction does not lower that objective (negatives: all others)
    history = torch.tensor([0, 3, 4])
    z = fold_in_users(items, [history, torch.tensor([1, 2])], steps=2000, lr=0.01)[0]
    others = torch.tensor([1, 2, 5])

    def objective(v):
        pos = items[history] @ v
        neg = items[others] @ v
        loss = -torch.nn.functional.logsigmoid(pos.unsqueeze(1) - neg.unsqueeze(0)).mean()
        return loss + 1e-3 * v.pow(2).sum()

    v = z.clone().requires_grad_(True)
    objective(v).backward()
    assert v.grad.norm() < 0.05 * objective(torch.zeros(2)).item()


def test_items_a_newcomer_has_besides_the_history_are_never_negatives(items):
    # items 1 and 5 are the newcomer's too (e.g. loaded after training), but no positives:
    # the solution is a stationary point of the objective whose negatives are items 2 alone
    # (before: exclude did not exist, and such items were drawn as negatives)
    history = torch.tensor([0, 3, 4])
    z = fold_in_users(
        items, [history], exclude=[torch.tensor([1, 5])], steps=2000, lr=0.01, negatives=64
    )[0]

    def objective(v):
        pos = items[history] @ v
        neg = items[[2]] @ v
        loss = -torch.nn.functional.logsigmoid(pos.unsqueeze(1) - neg.unsqueeze(0)).mean()
        return loss + 1e-3 * v.pow(2).sum()

    v = z.clone().requires_grad_(True)
    objective(v).backward()
    assert v.grad.norm() < 0.05 * objective(torch.zeros(2)).item()
    # the exclusions are the newcomer's own: another newcomer still draws items 1 and 5
    both = fold_in_users(items, [history, history], exclude=[torch.tensor([1, 5]), []])
    assert torch.allclose(both[0], fold_in_users(items, [history], exclude=[[1, 5]])[0])
    assert torch.allclose(both[1], fold_in_users(items, [history])[0])
    assert not torch.allclose(both[0], both[1])
    with pytest.raises(ValueError, match=r"exclude must hold one tensor per newcomer \(1\)"):
        fold_in_users(items, [history], exclude=[])
    with pytest.raises(ValueError, match=r"excluded items must lie in \[0, 6\)"):
        fold_in_users(items, [history], exclude=[torch.tensor([6])])


def test_with_domains_each_positive_draws_its_negatives_from_its_own_domain(items):
    # items 0-2 are domain 0 (say the action films), 3-5 domain 1 (the comedies ranked). A
    # newcomer of domain 0 alone is solved against domain 0's items: the comedies' embeddings
    # play no part (before, fold-in drew every negative from the items ranked, the comedies,
    # and pushed a user new to them away from all of them)
    domains = torch.tensor([0, 0, 0, 1, 1, 1])
    history = [torch.tensor([0])]
    moved = items.clone()
    moved[3:] = torch.tensor([[5.0, 3.0], [-2.0, 4.0], [0.5, -6.0]])
    z = fold_in_users(items, history, domains=domains)
    assert torch.equal(z, fold_in_users(moved, history, domains=domains))
    comedies = torch.arange(3, 6)
    assert not torch.allclose(
        fold_in_users(items, history, candidates=comedies),
        fold_in_users(moved, history, candidates=comedies),
    )
    # a history of both domains: each positive against its own domain's items; the newcomer's
    # vector is the same whoever is folded in beside them, as without domains
    both = [torch.tensor([0, 4]), torch.tensor([1])]
    folded = fold_in_users(items, both, domains=domains)
    # (the same to rounding: a batch of two may be solved by other kernels than one alone)
    alone = fold_in_users(items, both[1:], domains=domains)[0]
    assert torch.allclose(folded[1], alone, atol=1e-6)
    # one domain: the same draws, so the same vectors, as negatives from every item
    one = torch.zeros(6, dtype=torch.long)
    assert torch.equal(fold_in_users(items, both, domains=one), fold_in_users(items, both))
    # domain -1 (a split's unseen items) is never drawn, and no history item may be of it
    unseen = torch.tensor([0, 0, -1, 1, 1, 1])
    other = items.clone()
    other[2] = torch.tensor([-7.0, 7.0])
    assert torch.equal(
        fold_in_users(items, history, domains=unseen), fold_in_users(other, history, domains=unseen)
    )
    with pytest.raises(ValueError, match="of domain -1"):
        fold_in_users(items, [torch.tensor([2])], domains=unseen)
    with pytest.raises(ValueError, match="candidates or domains, not both"):
        fold_in_users(items, history, candidates=comedies, domains=domains)
    with pytest.raises(ValueError, match=r"one domain per item \(6\), got 5"):
        fold_in_users(items, history, domains=domains[:5])


def test_candidates_domains_and_exclude_are_checked_naming_the_argument(items):
    """Before, empty candidates gave torch's bare RuntimeError ("random_ expects 'from' to be
    less than 'to'"), candidates out of range or of floats an IndexError naming no argument
    (found by the tune39 review)."""
    history = [torch.tensor([0, 1])]
    for candidates, says in (
        (torch.tensor([], dtype=torch.long), "candidates is empty"),
        (torch.tensor([2, 9]), r"candidates must lie in \[0, 6\)"),
        (torch.tensor([2.0, 3.0]), "candidates must hold item indices"),
    ):
        with pytest.raises(ValueError, match=says):
            fold_in_users(items, history, candidates=candidates)
    with pytest.raises(ValueError, match=r"domains must hold one domain per item \(6\), got 5"):
        fold_in_users(items, history, domains=torch.tensor([0, 0, 0, 1, 1]))
    with pytest.raises(ValueError, match="domains must be one-dimensional"):
        fold_in_users(items, history, domains=torch.zeros(6, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"exclude must hold one tensor per newcomer \(1\), got 2"):
        fold_in_users(items, history, exclude=[torch.tensor([2]), torch.tensor([3])])


def test_positives_outside_the_candidates_are_solved_against_the_candidates(items):
    # a newcomer of the first cluster, folded in against the second's items alone
    z = fold_in_users(items, [torch.tensor([0, 1])], candidates=torch.tensor([3, 4, 5]))
    scores = z @ items.T
    assert scores[0, 2] > scores[0, 3:].max()


@pytest.mark.parametrize(
    "options",
    [{"candidates": torch.tensor([0, 1])}, {"domains": torch.tensor([0, 0, 1, 1, 1, 1])}],
)
def test_a_newcomer_who_has_every_candidate_keeps_the_mean(items, options):
    """Before, every negative drawn was one of theirs, and the regularizer alone pulled them to
    about zeros (-0.0019, -0.0001): a ranking of noise (found by the tune39 review)."""
    histories = [torch.tensor([0, 1]), torch.tensor([0, 4])]
    z = fold_in_users(items, histories, **options)
    assert torch.allclose(z[0], items[:2].mean(0))
    # the other newcomer, with negatives to draw, is solved as alone
    # (the same to rounding: a batch of two may be solved by other kernels than one alone)
    assert torch.allclose(z[1], fold_in_users(items, histories[1:], **options)[0], atol=1e-6)
    assert not torch.allclose(z[1], items[[0, 4]].mean(0))


def test_newcomers_solved_in_chunks_get_the_vectors_they_get_together(monkeypatch):
    """The "solve" method scores newcomers against every item at once, in chunks of newcomers
    that keep that matrix small (kgrec.foldin.SCORES_PER_CHUNK): each newcomer's problem is
    its own, so the chunks change no vector."""
    import kgrec.foldin

    generator = torch.Generator().manual_seed(0)
    item_emb = torch.randn(30, 8, generator=generator)
    histories = [torch.randperm(30, generator=generator)[: 3 + n % 4] for n in range(7)]
    exclude = [torch.tensor([n]) for n in range(7)]
    together = fold_in_users(item_emb, histories, exclude=exclude)
    monkeypatch.setattr(kgrec.foldin, "SCORES_PER_CHUNK", 2 * 30)  # two newcomers a chunk
    chunked = fold_in_users(item_emb, histories, exclude=exclude)
    assert torch.allclose(chunked, together, atol=1e-6)
    assert not torch.allclose(together, fold_in_users(item_emb, histories, method="mean"))


def test_histories_and_exclude_of_floats_or_booleans_are_refused_naming_the_argument(items):
    """Before, a history or an exclude of floats was truncated to indices (1.7 read as item 1)
    and one of booleans (a user's row of an interaction matrix) read as items 0 and 1: a
    fold-in from other items than the user's, silently, where candidates of either kind were
    refused (found by the cold59 review)."""
    for history, says in (
        (torch.tensor([True, False, True, False, False, False]), "torch.bool"),
        (torch.tensor([1.7, 2.0]), "torch.float32"),
        ([0.0, 4.0], "torch.float32"),
    ):
        with pytest.raises(ValueError, match=rf"histories must hold item indices .*{says}"):
            fold_in_users(items, [torch.tensor([0]), history])
    with pytest.raises(ValueError, match=r"exclude must hold item indices .*torch.bool"):
        fold_in_users(
            items, [torch.tensor([0])], exclude=[torch.tensor([False, True, True, False])]
        )
    # integers of any kind, and empty lists, are indices as before
    z = fold_in_users(items, [np.array([0, 1], dtype=np.int32), [], [4]], exclude=[[], [], []])
    assert torch.equal(
        z,
        fold_in_users(
            items, [torch.tensor([0, 1]), torch.tensor([], dtype=torch.long), torch.tensor([4])]
        ),
    )


@pytest.mark.parametrize(
    ("option", "value", "error", "says"),
    [
        ("negatives", 2.5, TypeError, "negatives must be an integer, got 2.5"),
        ("negatives", True, TypeError, "negatives must be an integer, got True"),
        ("negatives", 0, ValueError, "negatives must be at least 1, got 0"),
        ("steps", "100", TypeError, "steps must be an integer, got '100'"),
        ("seed", 0.5, TypeError, "seed must be an integer, got 0.5"),
        ("lr", "0.05", TypeError, "lr must be a number, got '0.05'"),
        ("lr", 0.0, ValueError, "lr must be a finite number, positive, got 0.0"),
        ("lr", float("nan"), ValueError, "lr must be a finite number, positive, got nan"),
        ("reg_weight", -1e-3, ValueError, "reg_weight must be a finite number, 0 or more"),
        ("reg_weight", float("inf"), ValueError, "reg_weight must be a finite number, 0 or more"),
    ],
)
def test_settings_of_the_solve_that_are_no_number_of_their_kind_are_refused_naming_them(
    items, option, value, error, says
):
    """Before, negatives=True drew one negative and a negative reg_weight rewarded large
    vectors, silently; a string or a fractional count failed deep in torch without the
    argument's name (found by the cold59 review)."""
    with pytest.raises(error, match=f"^{says}"):
        fold_in_users(items, [torch.tensor([0])], **{option: value})
    # numbers of NumPy's kinds are numbers, and a reg_weight of 0 no regularisation
    z = fold_in_users(
        items, [torch.tensor([0])], negatives=np.int64(4), lr=np.float32(0.05), reg_weight=0
    )
    assert torch.isfinite(z).all()
