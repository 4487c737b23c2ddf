"""kgrec.data.split: the new-item protocols and the few-shot option (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kgrec.data.export import to_hetero_data
from kgrec.data.split import (
    PROTOCOLS,
    Split,
    _half_labels,
    _ratio_labels,
    give_few_shot,
    make_split,
    read_split,
    reduce_train,
    write_split,
)
from kgrec.errors import InputError


def pair_set(pairs: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, pairs.T.tolist()))


def new_item_split(make_two_domains, seed: int = 3, share: float | None = None):
    data, maps = to_hetero_data(make_two_domains())
    # ml1m-new-items: target comedy, as the ml1m domain rule names it
    return data, maps, make_split(data, maps, "ml1m-new-items", seed=seed, new_item_share=share)


def test_new_item_protocols_are_registered():
    assert PROTOCOLS["ml100k-new-items"].new_item_share == 0.2
    assert PROTOCOLS["ml100k-new-items"].source_domain is None
    ml1m = PROTOCOLS["ml1m-new-items"]
    assert (ml1m.target_domain, ml1m.domain_rule) == ("comedy", "ml1m-action-comedy")
    assert ml1m.source_domain is None and ml1m.new_item_share == 0.2
    assert not PROTOCOLS["ml100k-kg"].new_item_share


@pytest.mark.parametrize("share", [None, 0.1, 0.4])
def test_new_items_are_held_out_of_train(make_two_domains, share):
    """The protocol's share of new items (0.2), or --new-item-share's."""
    data, maps, split = new_item_split(make_two_domains, share=share)
    pairs = data["user", "interacts", "item"].edge_index
    comedy = maps.domains.index("comedy")
    target = pairs[:, data["item"].domain[pairs[1]] == comedy]
    assert split.target_domain == comedy and split.item_groups
    parts = [pair_set(split.train), pair_set(split.valid), pair_set(split.test)]
    assert set.union(*parts) == pair_set(target) and sum(map(len, parts)) == target.size(1)
    # the drawn items, again with the protocol's random stream
    items = np.unique(target[1].numpy())
    n_new = int(np.floor((0.2 if share is None else share) * len(items) + 0.5))
    drawn = set(np.random.default_rng(3).permutation(items)[:n_new].tolist())
    assert n_new > 1 and not drawn & set(split.train[1].tolist())
    for item in drawn:  # half to valid (rounded down), the rest to test
        m = int((target[1] == item).sum())
        assert int((split.valid[1] == item).sum()) == m // 2
        assert int((split.test[1] == item).sum()) == m - m // 2
    # every other interaction: per user 80/10/10
    rest = target[:, ~torch.isin(target[1], torch.tensor(sorted(drawn)))]
    for user in rest[0].unique().tolist():
        n = int((rest[0] == user).sum())
        got = [
            len({p for p in pair_set(part) if p[0] == user} & pair_set(rest))
            for part in (split.train, split.valid, split.test)
        ]
        want = np.bincount(_ratio_labels(np.zeros(n, dtype=np.int64), np.random.default_rng(0)))
        assert got == np.pad(want, (0, 3 - len(want))).tolist()
    new = split.new_items(data["item"].domain)
    assert drawn <= set(torch.nonzero(new).flatten().tolist())
    assert not new[data["item"].domain != comedy].any()
    again = make_split(data, maps, "ml1m-new-items", seed=3, new_item_share=share)
    assert torch.equal(again.test, split.test) and torch.equal(again.train, split.train)


@pytest.mark.parametrize(
    ("protocol", "share", "message"),
    [
        ("ml1m-new-items", 0.0, r"must lie in \(0, 1\), got 0.0"),
        ("ml1m-new-items", 1.0, r"must lie in \(0, 1\), got 1.0"),
        ("ml1m-new-items", True, r"must lie in \(0, 1\), got True"),
        ("ml1m-action-comedy", 0.3, "holds no items out of training.*ml100k-new-items"),
    ],
)
def test_a_bad_new_item_share_names_the_option(protocol, share, message, make_two_domains):
    data, maps = to_hetero_data(make_two_domains())
    with pytest.raises(InputError, match=message) as caught:
        make_split(data, maps, protocol, seed=0, new_item_share=share)
    assert caught.value.field == "--new-item-share"


def test_negatives_are_never_drawn_from_the_held_out_items(make_two_domains):
    data, maps, split = new_item_split(make_two_domains)
    domain = data["item"].domain
    drawable = split.negative_domains(domain)
    new = split.new_items(domain)
    assert torch.equal(split.unseen_items(domain), new)
    assert new.any() and (drawable[new] == -1).all()
    assert torch.equal(drawable[~new], domain[~new])
    # a protocol without held-out items keeps every item drawable, trained or not
    plain = make_split(data, maps, "ml1m-action-comedy", seed=3)
    assert not plain.unseen_items(domain).any()
    assert torch.equal(plain.negative_domains(domain), domain)


def test_an_item_nobody_interacted_with_is_unseen_but_not_new():
    """PROTOCOL.md draws new items among items with an interaction, and new_items.tsv lists
    the held-out ones; before, new-only also ranked the target items nobody interacted with."""
    from kgrec.data.split import Split

    pairs = torch.tensor
    split = Split(0, pairs([[0, 1], [0, 1]]), pairs([[0], [2]]), pairs([[1], [2]]), True)
    domain = torch.tensor([0, 0, 0, 0, 1])  # item 3: a target item nobody interacted with
    assert split.new_items(domain).tolist() == [False, False, True, False, False]
    assert split.unseen_items(domain).tolist() == [False, False, True, True, False]


def test_half_labels_per_item():
    items = np.array([0, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    labels = _half_labels(items, np.random.default_rng(0))
    for item, valid in ((0, 0), (1, 1), (2, 1), (3, 2)):
        assert int((labels[items == item] == 1).sum()) == valid
    assert set(labels.tolist()) <= {1, 2}


def test_new_item_split_files_round_trip(tmp_path: Path, make_two_domains):
    data, maps, split = new_item_split(make_two_domains)
    write_split(split, maps, tmp_path)
    lines = (tmp_path / "new_items.tsv").read_text().splitlines()
    assert lines[0] == "item_id" and len(lines) > 1
    back = read_split(tmp_path, maps)
    assert back.item_groups
    for name in ("train", "valid", "test"):
        assert torch.equal(getattr(back, name), getattr(split, name))
    domain = data["item"].domain
    assert torch.equal(back.new_items(domain), split.new_items(domain))
    # a plain split writes no such file, and a stale one is removed
    plain = make_split(data, maps, "ml1m-action-comedy", seed=3)
    write_split(plain, maps, tmp_path)
    assert not (tmp_path / "new_items.tsv").exists()
    assert not read_split(tmp_path, maps).item_groups


def test_train_fraction_leaves_the_new_items_the_splits(tmp_path: Path, make_two_domains):
    """A training fraction that leaves a held-out item with no training interaction makes it
    no new item: the new items stay those the split drew (``new_items.tsv`` lists them only,
    and split files so written read back so, also thinned again). Before, such an item
    joined the new items, in the files and the new-item groups."""
    _, maps, split = new_item_split(make_two_domains)
    drawn = split.new_item_indices()
    reduced = reduce_train(split, 0.1, seed=3)
    held_out = torch.cat([reduced.valid[1], reduced.test[1]]).unique()
    untrained = held_out[~torch.isin(held_out, reduced.train[1])]
    assert not torch.isin(untrained, drawn).all()  # the fraction left some untrained
    assert torch.equal(reduced.new_item_indices(), drawn)
    write_split(reduced, maps, tmp_path / "thin")
    listed = (tmp_path / "thin" / "new_items.tsv").read_text().split("\n")[1:-1]
    assert sorted(listed) == sorted(maps.item_ids[i] for i in drawn.tolist())
    back = read_split(tmp_path / "thin", maps)
    assert torch.equal(back.new_item_indices(), drawn)
    assert torch.equal(reduce_train(back, 0.5, seed=3).new_item_indices(), drawn)
    # files that record no fraction list every held-out item without a training interaction
    (tmp_path / "thin" / "split.json").unlink()
    with pytest.raises(InputError, match=r"new_items\.tsv does not list them"):
        read_split(tmp_path / "thin", maps)


def test_new_items_file_must_name_items_without_training(tmp_path: Path, make_two_domains):
    _, maps, split = new_item_split(make_two_domains)
    write_split(split, maps, tmp_path)
    trained = maps.item_ids[int(split.train[1, 0])]
    (tmp_path / "new_items.tsv").write_text(f"item_id\n{trained}\n")
    with pytest.raises(InputError, match="not a target item without training") as error:
        read_split(tmp_path, maps)
    assert error.value.line == 2


def test_few_shot_zero_keeps_the_split(make_two_domains):
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=1)
    assert give_few_shot(split, 0, seed=1) is split
    assert split.few_shot_users.numel() == 0


@pytest.mark.parametrize("k", [1, 3, 5])
def test_few_shot_gives_k_of_each_cold_users_interactions(k, make_two_domains):
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=1)
    cold = split.cold_users(60)
    held = torch.cat([split.valid, split.test], dim=1)
    cold_users = sorted(set(held[0, cold[held[0]]].tolist()))
    shot = give_few_shot(split, k, seed=1)
    before = pair_set(split.train) | pair_set(split.valid) | pair_set(split.test)
    after = [pair_set(shot.train), pair_set(shot.valid), pair_set(shot.test)]
    assert set.union(*after) == before and sum(map(len, after)) == len(before)
    assert pair_set(split.train) <= after[0]
    for user in cold_users:
        n = int((held[0] == user).sum())
        gave = int((shot.train[0] == user).sum())
        assert gave == min(k, n - 1)
        assert (user in shot.few_shot_users.tolist()) == (gave > 0)
        # a cold-test user's rest stays in test, a cold-valid user's in valid
        for part in ("valid", "test"):
            old = int((getattr(split, part)[0] == user).sum())
            assert int((getattr(shot, part)[0] == user).sum()) in (0, old - gave)
    assert set(shot.few_shot_users.tolist()) <= set(cold_users)
    warm = [u for u in range(60) if not cold[u]]
    for user in warm:
        for part in ("train", "valid", "test"):
            mine = getattr(split, part)
            assert pair_set(mine[:, mine[0] == user]) == pair_set(
                getattr(shot, part)[:, getattr(shot, part)[0] == user]
            )


def test_few_shot_on_a_split_whose_cold_users_are_all_few_shot_says_so(make_two_domains):
    """``--split DIR --few-shot K`` on split files written with ``--few-shot``: every cold
    user had interactions given to train already; before, the error said the split "has
    none" (cold-start users), as if the protocol had none."""
    data, maps = to_hetero_data(make_two_domains())
    shot = give_few_shot(make_split(data, maps, "ml1m-action-comedy", seed=1), 3, seed=1)
    with pytest.raises(InputError, match="were all made few-shot users already") as error:
        give_few_shot(shot, 2, seed=1)
    assert f"this split's {len(shot.few_shot_users)} were" in str(error.value)
    assert error.value.field == "--few-shot"


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, True])
def test_the_split_functions_check_the_seed(seed, make_two_domains):
    """From Python, make_split, reduce_train and give_few_shot gave numpy's ValueError (or
    TypeError) for a negative or fractional seed, or took True for 1; now the InputError
    kgrec train gives for --seed."""
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=1)
    for call in (
        lambda: make_split(data, maps, "ml1m-action-comedy", seed=seed),
        lambda: reduce_train(split, 0.5, seed=seed),
        lambda: give_few_shot(split, 1, seed=seed),
    ):
        with pytest.raises(InputError, match=r"the seed must be an integer in \[0, 2\*\*63\)"):
            call()


def test_few_shot_is_seeded_and_nested(make_two_domains):
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=4)
    one, three = give_few_shot(split, 1, seed=4), give_few_shot(split, 3, seed=4)
    assert torch.equal(one.train, give_few_shot(split, 1, seed=4).train)
    assert pair_set(one.train) <= pair_set(three.train)
    assert not torch.equal(give_few_shot(split, 1, seed=5).train, one.train)


def test_few_shot_needs_cold_users_and_a_count(make_two_domains):
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml100k-kg", seed=0, target_domain="comedy")
    with pytest.raises(InputError, match="needs cold-start users") as error:
        give_few_shot(split, 1, seed=0)
    assert error.value.field == "--few-shot"
    for bad in (-1, 1.5, True):
        with pytest.raises(InputError, match="few-shot count"):
            give_few_shot(split, bad, seed=0)


def test_few_shot_on_cold_users_with_one_held_out_interaction_each_is_refused():
    # before: split files whose cold users hold one interaction each (a leave-one-out split
    # made elsewhere) gave none to train, min(K, n - 1) = 0, and --few-shot K went on
    # silently with no few-shot user: the cold-start figure, reported as nothing else
    split = Split(
        target_domain=0,
        train=torch.tensor([[0, 0], [0, 1]]),
        valid=torch.tensor([[0, 1], [2, 0]]),
        test=torch.tensor([[0, 2], [3, 1]]),
    )
    with pytest.raises(InputError, match="2 cold-start users hold one held-out") as error:
        give_few_shot(split, 3, seed=0)
    assert error.value.field == "--few-shot"
    # one cold user that can give one is enough: the other stays cold
    more = Split(
        split.target_domain, split.train, split.valid, torch.tensor([[0, 2, 2], [3, 1, 4]])
    )
    given = give_few_shot(more, 3, seed=0)
    assert given.few_shot_users.tolist() == [2] and given.few_shot == 3


def test_a_few_shot_count_beyond_int64_names_the_option(make_two_domains):
    # before: --few-shot 100000000000000000000 passed the check and crashed in numpy with a
    # bare OverflowError; 2**63 - 1 is still "all but one of each cold user's interactions"
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=1)
    with pytest.raises(InputError, match=r"few-shot count must be an integer in \[0, 2\*\*63\)"):
        give_few_shot(split, 10**20, seed=0)
    most = give_few_shot(split, 2**63 - 1, seed=0)
    held = torch.cat([most.valid, most.test], dim=1)[0]
    assert set(held.tolist()) >= set(most.few_shot_users.tolist())  # one each stays held out
    assert pair_set(most.train) == pair_set(give_few_shot(split, 10**6, seed=0).train)


def test_few_shot_split_files_round_trip(tmp_path: Path, make_two_domains):
    data, maps = to_hetero_data(make_two_domains())
    shot = give_few_shot(make_split(data, maps, "ml1m-action-comedy", seed=1), 3, seed=1)
    write_split(shot, maps, tmp_path)
    back = read_split(tmp_path, maps)
    assert torch.equal(back.few_shot_users, shot.few_shot_users)
    assert torch.equal(back.train, shot.train)
    # the training fraction keeps the extra fields
    assert torch.equal(reduce_train(shot, 0.5, seed=1).few_shot_users, shot.few_shot_users)


def test_train_fraction_on_few_shot_split_files_keeps_their_k(tmp_path: Path, make_two_domains):
    """``--split DIR --train-fraction F`` on files written with ``--few-shot K`` trains on the
    split ``--protocol --few-shot K --train-fraction F`` makes (the fraction comes first, then
    the K). Before, the fraction thinned the few-shot users' K too (5 became 1 at 0.2), and
    they were still reported as the group ``few-shot``."""
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=1)
    protocol = give_few_shot(reduce_train(split, 0.2, seed=1), 5, seed=1)
    write_split(give_few_shot(split, 5, seed=1), maps, tmp_path)
    files = reduce_train(read_split(tmp_path, maps), 0.2, seed=1)
    shot = files.few_shot_users
    assert shot.numel() and torch.equal(shot, protocol.few_shot_users)
    counts = torch.bincount(files.train[0], minlength=len(maps.users))[shot]
    assert (counts == 5).all(), counts
    assert pair_set(files.train) == pair_set(protocol.train)


def test_split_json_records_the_few_shot_k(tmp_path: Path, make_two_domains):
    """split.json records the K of the few-shot users (``few_shot``; null without them),
    which read_split checks them against; ``--split DIR --train-fraction F`` keeps their K, so
    the run's split files record it again and read back. Before, no K was recorded, and a warm
    user listed in few_shot_users.tsv was read as a few-shot user."""
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=1)

    def written(split: Split, name: str) -> dict:
        write_split(split, maps, tmp_path / name)
        return json.loads((tmp_path / name / "split.json").read_text())

    assert written(split, "k0")["few_shot"] is None
    shot = give_few_shot(reduce_train(split, 0.5, seed=1), 3, seed=1)
    assert shot.few_shot_users.numel() and written(shot, "k3")["few_shot"] == 3
    back = read_split(tmp_path / "k3", maps)
    assert back.few_shot == 3
    assert written(reduce_train(back, 0.2, seed=1), "again")["few_shot"] == 3
    again = read_split(tmp_path / "again", maps)
    assert torch.equal(again.few_shot_users, shot.few_shot_users) and again.few_shot == 3


@pytest.mark.parametrize(("before", "k", "after"), [(None, 1, None), (5, 1, 5), (1, 3, 3)])
def test_few_shot_given_again_records_a_k_that_bounds_every_few_shot_user(before, k, after):
    """Split files whose cold users are not all few-shot users given ``--few-shot K`` again:
    the K recorded bounds the files' few-shot users and the new ones (the larger), and stays
    unknown (None) when the files record none."""
    from dataclasses import replace

    split = replace(
        Split(
            target_domain=0,
            train=torch.tensor([[0, 1], [0, 1]]),
            valid=torch.tensor([[2, 2, 2, 2], [0, 2, 3, 4]]),
            test=torch.tensor([[2], [1]]),
        ),
        few_shot_users=torch.tensor([1]),
        few_shot=before,
    )
    given = give_few_shot(split, k, seed=0)
    assert given.few_shot_users.tolist() == [1, 2] and given.few_shot == after


def test_few_shot_is_refused_on_a_new_item_split(make_two_domains):
    # before: the cold users' held-out items, new items, went into training (54 of ml-100k's
    # new items at a share of 0.9), against "no training interaction names a new item"
    _, _, split = new_item_split(make_two_domains)
    with pytest.raises(InputError, match="new-item protocol"):
        give_few_shot(split, 2, seed=0)


def test_few_shot_users_of_split_files_stay_few_shot_when_more_are_given():
    # before: --split DIR --few-shot K replaced the files' few-shot users by the new ones,
    # which then counted as warm users
    from dataclasses import replace

    split = replace(
        Split(
            target_domain=0,
            train=torch.tensor([[0, 1], [0, 1]]),
            valid=torch.tensor([[2], [0]]),
            test=torch.tensor([[2], [1]]),
        ),
        few_shot_users=torch.tensor([1]),
    )
    given = give_few_shot(split, 1, seed=0)
    assert given.few_shot_users.tolist() == [1, 2]


def test_a_new_item_share_that_draws_no_item_is_refused(make_two_domains):
    # before: a share below half an item (0.01 of 30 comedy films) drew no new item, and the
    # split was a plain 80/10/10 one reported with empty new-item groups, silently
    data, maps = to_hetero_data(make_two_domains())
    with pytest.raises(InputError, match="is no item") as caught:
        make_split(data, maps, "ml1m-new-items", seed=0, new_item_share=0.01)
    assert caught.value.field == "--new-item-share"
    split = make_split(data, maps, "ml1m-new-items", seed=0, new_item_share=0.05)
    assert split.new_item_indices().numel() >= 1


def test_a_new_item_share_that_draws_every_item_is_refused(make_two_domains):
    # before: 0.99 of 30 comedy films drew all 30, and the empty train was blamed on the data
    # ("leaves no train interactions ... the data is too small for it", field --protocol)
    data, maps = to_hetero_data(make_two_domains())
    with pytest.raises(InputError, match="is every item") as caught:
        make_split(data, maps, "ml1m-new-items", seed=0, new_item_share=0.99)
    assert caught.value.field == "--new-item-share"
    split = make_split(data, maps, "ml1m-new-items", seed=0, new_item_share=0.95)
    assert split.new_item_indices().numel() == 29 and split.train.size(1)  # 28.5, up


def test_the_split_functions_read_numpy_numbers_as_the_python_ones(make_two_domains):
    """From Python, make_split(seed=np.int64(1)) and give_few_shot(split, np.int64(3), ...)
    were refused as no integer (train() takes them); the split is the one of the Python
    numbers, and a bool is still refused."""
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=np.int64(1))
    plain = make_split(data, maps, "ml1m-action-comedy", seed=1)
    assert torch.equal(split.train, plain.train) and torch.equal(split.test, plain.test)
    shot = give_few_shot(
        reduce_train(split, np.float32(0.5), seed=np.int64(1)), np.int64(3), seed=np.int64(1)
    )
    assert torch.equal(shot.train, give_few_shot(reduce_train(plain, 0.5, seed=1), 3, seed=1).train)
    assert type(shot.few_shot) is int  # written to split.json
    shares = make_split(data, maps, "ml1m-action-comedy", seed=1, cold_test_share=np.float32(0.25))
    assert shares.test.size(1) == make_split(
        data, maps, "ml1m-action-comedy", seed=1, cold_test_share=0.25
    ).test.size(1)
    with pytest.raises(InputError, match="the seed must be an integer"):
        make_split(data, maps, "ml1m-action-comedy", seed=np.bool_(True))
