"""kgrec.data.split: the protocols of PROTOCOL.md, seeded, and split files in and out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from graph_schema.tables import GraphTables, item_uid
from kgrec.data.export import to_hetero_data
from kgrec.data.split import (
    Split,
    _ratio_labels,
    make_split,
    read_split,
    reduce_train,
    write_split,
)
from kgrec.errors import InputError


def recbole_counts(n: int) -> tuple[int, int, int]:
    """RecBole 1.2.1 ``_calcu_split_ids(tot=n, ratios=[0.8, 0.1, 0.1])``, written out."""
    cnt = [int(r * n) for r in (0.8, 0.1, 0.1)]
    cnt[0] = n - sum(cnt[1:])
    for i in (1, 2):
        if cnt[0] <= 1:
            break
        if 0 < 0.1 * n < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return cnt[0], cnt[1], cnt[2]


def pair_set(pairs: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, pairs.T.tolist()))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9, 10, 11, 19, 20, 23, 57])
def test_per_user_rounding_is_recboles(n: int) -> None:
    labels = _ratio_labels(np.zeros(n, dtype=np.int64), np.random.default_rng(0))
    counts = tuple(int((labels == part).sum()) for part in range(3))
    assert counts == recbole_counts(n)
    assert counts[0] >= 1


def test_ml100k_kg(datasets) -> None:
    from loaders import recbole

    data, maps = to_hetero_data(recbole.load(datasets / "ml-100k"))
    split = make_split(data, maps, "ml100k-kg", seed=7)
    parts = [pair_set(split.train), pair_set(split.valid), pair_set(split.test)]
    assert sum(map(len, parts)) == 100_000
    assert set.union(*parts) == pair_set(data["user", "interacts", "item"].edge_index)
    per_user = np.bincount(data["user", "interacts", "item"].edge_index[0], minlength=943)
    for part, pairs in enumerate((split.train, split.valid, split.test)):
        got = np.bincount(pairs[0], minlength=943)
        want = np.array([recbole_counts(int(n))[part] for n in per_user])
        assert np.array_equal(got, want)
    assert not split.cold_users(943).any()
    again = make_split(data, maps, "ml100k-kg", seed=7)
    assert torch.equal(again.test, split.test) and torch.equal(again.valid, split.valid)
    other = make_split(data, maps, "ml100k-kg", seed=8)
    assert not torch.equal(other.test, split.test)


def test_ml1m_action_comedy_protocol_on_a_built_graph(make_two_domains) -> None:
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=3)
    pairs = data["user", "interacts", "item"].edge_index
    domain = data["item"].domain[pairs[1]]
    comedy, action = maps.domains.index("comedy"), maps.domains.index("action")
    assert split.target_domain == comedy
    target_count = torch.bincount(pairs[0, domain == comedy], minlength=60)
    source_count = torch.bincount(pairs[0, domain == action], minlength=60)
    overlapping = set(torch.nonzero((target_count >= 5) & (source_count >= 5)).flatten().tolist())
    n = len(overlapping)
    assert n > 20

    parts = [pair_set(split.train), pair_set(split.valid), pair_set(split.test)]
    assert set.union(*parts) == pair_set(pairs[:, domain == comedy])
    assert sum(map(len, parts)) == int((domain == comedy).sum())
    train_users = set(split.train[0].tolist())
    valid_users, test_users = set(split.valid[0].tolist()), set(split.test[0].tolist())
    cold_valid, cold_test = valid_users - train_users, test_users - train_users
    assert len(cold_valid) == int(np.floor(0.1 * n + 0.5))
    assert len(cold_test) == int(np.floor(0.2 * n + 0.5))
    assert cold_valid | cold_test <= overlapping and not cold_valid & cold_test
    assert not cold_valid & test_users and not cold_test & valid_users
    for user in cold_valid:  # all their target interactions, none elsewhere
        assert int((split.valid[0] == user).sum()) == int(target_count[user])
    warm = overlapping - cold_valid - cold_test
    for user in warm:
        got = tuple(int((p[0] == user).sum()) for p in (split.train, split.valid, split.test))
        assert got == recbole_counts(int(target_count[user]))
    for user in set(range(60)) - overlapping:  # everything in train
        assert int((split.train[0] == user).sum()) == int(target_count[user])
    cold = split.cold_users(60)
    assert set(torch.nonzero(cold).flatten().tolist()) & (valid_users | test_users) == (
        cold_valid | cold_test
    )
    merged = split.training_interactions(data, all_domains=True)
    assert pair_set(merged) == parts[0] | pair_set(pairs[:, domain == action])
    assert torch.equal(split.training_interactions(data, all_domains=False), split.train)


def test_split_does_not_depend_on_row_order(make_two_domains) -> None:
    tables = make_two_domains()
    shuffled = GraphTables(
        **{n: df.sample(frac=1.0, random_state=1) for n, df in tables.tables().items()}
    )
    a = make_split(*to_hetero_data(tables), "ml1m-action-comedy", seed=5)
    b = make_split(*to_hetero_data(shuffled), "ml1m-action-comedy", seed=5)
    for name in ("train", "valid", "test"):
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_unknown_protocol_and_missing_target_domain(make_two_domains) -> None:
    data, maps = to_hetero_data(make_two_domains())
    # the option, as every other error of the run layer names it (before: field 'protocol')
    with pytest.raises(InputError, match="field '--protocol': unknown protocol 'nope'"):
        make_split(data, maps, "nope", seed=0)
    with pytest.raises(InputError, match=r"target domain 'movies'.*--target-domain"):
        make_split(data, maps, "ml100k-kg", seed=0)
    split = make_split(data, maps, "ml100k-kg", seed=0, target_domain="action")
    assert split.target_domain == maps.domains.index("action")


def test_split_files_round_trip(tmp_path: Path, make_two_domains) -> None:
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=2)
    write_split(split, maps, tmp_path)
    lines = (tmp_path / "valid.tsv").read_text().splitlines()
    assert lines[0] == "user_id\titem_id"
    assert len(lines) == 1 + split.valid.size(1)
    user, item = lines[1].split("\t")
    assert user.startswith("u") and item.startswith("c")  # source ids, not uids
    back = read_split(tmp_path, maps)
    assert back.target_domain == split.target_domain
    for name in ("train", "valid", "test"):
        assert torch.equal(getattr(back, name), getattr(split, name))


def write_files(folder: Path, **files: str) -> Path:
    folder.mkdir(exist_ok=True)
    defaults = {
        "train": "user_id\titem_id\nu1\tc1\n",
        "valid": "user_id\titem_id\nu1\tc2\n",
        "test": "user_id\titem_id\nu2\tc3\n",
    }
    for name, text in {**defaults, **files}.items():
        (folder / f"{name}.tsv").write_bytes(text.encode() if isinstance(text, str) else text)
    return folder


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"test": "user_id\titem_id\nu2\tc3\nu404\tc1\n"}, r"test.tsv, line 3, field 'user_id'"),
        ({"valid": "user_id\titem_id\nu1\tc404\n"}, r"valid.tsv, line 2, field 'item_id'"),
        ({"train": "user\titem\nu1\tc1\n"}, r"train.tsv, line 1: header"),
        ({"train": "user_id\titem_id\nu1\tc1\textra\n"}, r"train.tsv, line 2: expected 2"),
        ({"train": "user_id\titem_id\nu1\t\n"}, r"train.tsv, line 2, field 'item_id'"),
        ({"test": "user_id\titem_id\nu1\tc2\n"}, r"test.tsv, line 2.*duplicate.*valid.tsv line 2"),
        ({"valid": "user_id\titem_id\n"}, r"valid.tsv: valid.tsv has no interactions"),
        # before: accepted, and every user was scored as a cold-start user
        ({"train": "user_id\titem_id\n"}, r"train.tsv: train.tsv has no interactions"),
        ({"test": ""}, r"test.tsv, line 1: empty file"),
        ({"test": b"user_id\titem_id\nu2\tc\xff\n"}, r"test.tsv, line 2: not UTF-8"),
    ],
)
def test_bad_split_files_name_file_line_and_field(
    tmp_path: Path, files, message, make_two_domains
) -> None:
    _, maps = to_hetero_data(make_two_domains())
    folder = write_files(tmp_path / "split", **files)
    with pytest.raises(InputError, match=message):
        read_split(folder, maps)


def test_unreadable_split_files_and_folders_are_input_errors(
    tmp_path: Path, make_two_domains
) -> None:
    _, maps = to_hetero_data(make_two_domains())
    folder = write_files(tmp_path / "split", new_items=b"item_id\nc\xff\n")
    with pytest.raises(InputError, match=r"new_items.tsv, line 2: not UTF-8"):
        read_split(folder, maps)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InputError, match=r"a-file/train.tsv: cannot read the split file"):
        read_split(tmp_path / "a-file", maps)
    folder = write_files(tmp_path / "other")
    (folder / "test.tsv").unlink()
    (folder / "test.tsv").mkdir()
    with pytest.raises(InputError, match=r"test.tsv: cannot read the split file"):
        read_split(folder, maps)


def test_ids_with_spaces_round_trip_in_every_split_file(tmp_path: Path, make_two_domains) -> None:
    """new_items.tsv and few_shot_users.tsv keep an id's spaces, as the three main files do
    (before, they were stripped, and kgrec could not read the split it had written)."""
    tables = make_two_domains()
    spaced = {uid: item_uid(d, f" {i} ") for uid, d, i in tables.items.to_numpy()}
    tables.items["item_id"] = " " + tables.items["item_id"] + " "
    tables.items["uid"] = tables.items["uid"].map(spaced)
    tables.interactions["item_uid"] = tables.interactions["item_uid"].map(spaced)
    data, maps = to_hetero_data(tables)
    split = make_split(data, maps, "ml1m-new-items", seed=0)
    write_split(split, maps, tmp_path)
    assert any(
        line.startswith(" c1") for line in (tmp_path / "new_items.tsv").read_text().split("\n")
    )
    back = read_split(tmp_path, maps)
    assert torch.equal(back.test, split.test) and back.item_groups


def test_whitespace_around_ids_in_split_files_is_no_part_of_them(
    tmp_path: Path, make_two_domains
) -> None:
    """The loaders strip whitespace around ids, so `` u1`` in a split file made elsewhere is
    the user ``u1`` (before: "unknown user ' u1'"), in every split file."""
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-new-items", seed=0)
    write_split(split, maps, tmp_path / "split")
    padded = tmp_path / "padded"
    padded.mkdir()
    for path in (tmp_path / "split").iterdir():
        lines = path.read_text().split("\n")
        if path.suffix == ".tsv":  # " u1\t c1 " for every id (header left as it is)
            lines[1:] = ["\t".join(f" {f} " for f in x.split("\t")) if x else x for x in lines[1:]]
        (padded / path.name).write_text("\n".join(lines))
    assert (padded / "train.tsv").read_text().split("\n")[1].startswith(" u")
    back = read_split(padded, maps)
    assert back.target_domain == split.target_domain and back.item_groups
    for name in ("train", "valid", "test"):
        assert torch.equal(getattr(back, name), getattr(split, name))
    assert torch.equal(back.new_item_indices(), split.new_item_indices())
    write_files(tmp_path / "twice", test="user_id\titem_id\nu2\tc3\n u2 \tc3\n")
    with pytest.raises(InputError, match=r"test.tsv, line 3.*duplicate"):
        read_split(tmp_path / "twice", maps)
    write_files(tmp_path / "blank", test="user_id\titem_id\nu2\t \n")
    with pytest.raises(InputError, match=r"test.tsv, line 2, field 'item_id': empty value"):
        read_split(tmp_path / "blank", maps)


def test_split_files_with_a_byte_order_mark_and_crlf_are_read(
    tmp_path: Path, make_two_domains
) -> None:
    """As a spreadsheet or Windows editor saves them (before: "header must be
    user_id<TAB>item_id, got '\\ufeffuser_id\\titem_id'"); the loaders read such files too."""
    _, maps = to_hetero_data(make_two_domains())
    files = {
        "train": "user_id\titem_id\nu1\tc1\n",
        "valid": "user_id\titem_id\nu1\tc2\n",
        "test": "user_id\titem_id\nu2\tc3\n",
        "new_items": "item_id\nc2\nc3\n",  # held out, not in train: new items
    }
    plain = read_split(write_files(tmp_path / "plain", **files), maps)
    bom = {k: b"\xef\xbb\xbf" + v.replace("\n", "\r\n").encode() for k, v in files.items()}
    back = read_split(write_files(tmp_path / "bom", **bom), maps)
    for name in ("train", "valid", "test"):
        assert torch.equal(getattr(back, name), getattr(plain, name))
    assert back.item_groups and torch.equal(back.new_item_indices(), plain.new_item_indices())


def test_blank_lines_in_split_files_are_no_rows(tmp_path: Path, make_two_domains) -> None:
    """A split file ending with a blank line (as a hand edit often leaves it), or holding one
    between rows, is read as the loaders read theirs: the blank line is no row. Before: "line
    3: expected 2 tab-separated fields, got 1"."""
    _, maps = to_hetero_data(make_two_domains())
    plain = read_split(write_files(tmp_path / "plain"), maps)
    folder = write_files(
        tmp_path / "blank",
        train="user_id\titem_id\nu1\tc1\n\n",
        valid="user_id\titem_id\n\nu1\tc2\r\n\r\n",
        test="user_id\titem_id\nu2\tc3\n\n\n",
    )
    back = read_split(folder, maps)
    for name in ("train", "valid", "test"):
        assert torch.equal(getattr(back, name), getattr(plain, name))
    # a line after a blank one keeps its own number, and a line of spaces is no blank line
    write_files(tmp_path / "after", test="user_id\titem_id\n\nu404\tc3\n")
    with pytest.raises(InputError, match=r"test.tsv, line 3, field 'user_id'"):
        read_split(tmp_path / "after", maps)
    write_files(tmp_path / "spaces", test="user_id\titem_id\nu2\tc3\n  \n")
    with pytest.raises(InputError, match=r"test.tsv, line 3: expected 2"):
        read_split(tmp_path / "spaces", maps)


def test_new_items_file_must_list_the_new_items_and_no_other(
    tmp_path: Path, make_two_domains
) -> None:
    """new_items.tsv lists the items evaluated as new: those held out with none in train
    (here c2 and c3). Before, one listing fewer, or an item with no held-out interaction, was
    accepted, and the item groups came from the three other files whatever it said."""
    _, maps = to_hetero_data(make_two_domains())
    folder = write_files(tmp_path / "fewer", new_items="item_id\nc3\n")
    with pytest.raises(InputError, match=r"new_items.tsv, field 'item_id': 1 item.*'c2'"):
        read_split(folder, maps)
    folder = write_files(tmp_path / "other", new_items="item_id\nc2\nc3\nc4\n")
    with pytest.raises(InputError, match=r"new_items.tsv, line 4, field 'item_id': 'c4' has no"):
        read_split(folder, maps)
    folder = write_files(tmp_path / "same", new_items="item_id\nc3\nc2\n")
    back = read_split(folder, maps)
    assert back.item_groups
    assert [maps.item_ids[i] for i in back.new_item_indices().tolist()] == ["c2", "c3"]


def test_few_shot_users_file_must_list_users_with_held_out_interactions(
    tmp_path: Path, make_two_domains
) -> None:
    """A few-shot user gave min(K, n - 1) of its n held-out interactions to train, so at
    least one stays held out. Before, a listed user with none in valid.tsv or test.tsv (u3
    here, with training interactions only) was accepted, as if the file were the
    protocol's few-shot users."""
    _, maps = to_hetero_data(make_two_domains())
    train = "user_id\titem_id\nu1\tc1\nu2\tc4\nu3\tc5\n"
    folder = write_files(tmp_path / "bad", train=train, few_shot_users="user_id\nu2\nu3\n")
    with pytest.raises(
        InputError,
        match=r"few_shot_users.tsv, line 3, field 'user_id': 'u3' has no interaction in valid",
    ):
        read_split(folder, maps)
    folder = write_files(tmp_path / "good", train=train, few_shot_users="user_id\nu2\n")
    assert [maps.users[u] for u in read_split(folder, maps).few_shot_users.tolist()] == ["u2"]


def test_few_shot_users_file_refuses_a_user_trained_on_more_than_the_recorded_k(
    tmp_path: Path, make_two_domains
) -> None:
    """split.json records the K of few_shot_users.tsv (``few_shot``): a listed user with more
    target-domain training interactions is a warm user (a file edited by hand, or made by
    another tool). Before, it was read as a few-shot user, silently, and reported in that
    group. Files that record no K are read as before."""
    _, maps = to_hetero_data(make_two_domains())
    train = "user_id\titem_id\nu1\tc1\nu2\tc4\nu2\tc5\n"  # u1: one, u2: two
    few = "user_id\nu1\nu2\n"
    folders = {}
    for name, record in (("k1", {"few_shot": 1}), ("k2", {"few_shot": 2}), ("none", {})):
        folders[name] = write_files(tmp_path / name, train=train, few_shot_users=few)
        (folders[name] / "split.json").write_text(json.dumps(record))
    with pytest.raises(
        InputError,
        match=r"few_shot_users.tsv, line 3, field 'user_id': 'u2' has 2 target-domain training "
        r"interactions in train.tsv, and a few-shot user has at most K = 1",
    ):
        read_split(folders["k1"], maps)
    for name, k in (("k2", 2), ("none", None)):
        back = read_split(folders[name], maps)
        assert [maps.users[u] for u in back.few_shot_users.tolist()] == ["u1", "u2"]
        assert back.few_shot == k
    (folders["none"] / "split.json").unlink()  # older split files: no record at all
    assert read_split(folders["none"], maps).few_shot_users.numel() == 2


@pytest.mark.parametrize(("users", "says"), [(None, "is not beside it"), ("", "lists no user")])
def test_a_recorded_few_shot_k_without_few_shot_users_is_refused(
    tmp_path: Path, make_two_domains, users, says
) -> None:
    """split.json recording ``few_shot`` K names few-shot users that few_shot_users.tsv
    holds: without that file (or with none in it) they are missing, not absent. Before, such
    files were read as a split without few-shot users and the K dropped, silently. A
    few_shot_users.tsv with no K recorded (older split files) is read as before."""
    _, maps = to_hetero_data(make_two_domains())
    listed = {} if users is None else {"few_shot_users": f"user_id\n{users}"}
    folder = write_files(tmp_path / "split", **listed)
    (folder / "split.json").write_text(json.dumps({"few_shot": 2}))
    with pytest.raises(
        InputError, match=rf"split.json, field 'few_shot': records few_shot 2, and .*{says}"
    ):
        read_split(folder, maps)
    (folder / "split.json").write_text(json.dumps({"few_shot": None}))
    assert read_split(folder, maps).few_shot is None


@pytest.mark.parametrize("k", [0, -1, True, 1.5, "3"])
def test_a_bad_few_shot_k_in_split_json_names_the_field(
    tmp_path: Path, make_two_domains, k
) -> None:
    _, maps = to_hetero_data(make_two_domains())
    folder = write_files(tmp_path / "split", few_shot_users="user_id\nu1\n")
    (folder / "split.json").write_text(json.dumps({"few_shot": k}))
    with pytest.raises(InputError, match=r"split.json, field 'few_shot': expected an integer >= 1"):
        read_split(folder, maps)


def test_ids_that_split_files_cannot_hold_are_refused_before_writing(
    tmp_path: Path, make_two_domains
) -> None:
    tables = make_two_domains()
    tables.users["user_id"] = tables.users["user_id"].replace("u1", "u\t1")
    tables.interactions["user_id"] = tables.interactions["user_id"].replace("u1", "u\t1")
    data, maps = to_hetero_data(tables)
    split = make_split(data, maps, "ml1m-action-comedy", seed=0)
    with pytest.raises(InputError, match=r"field 'user_id'.*'u\\t1' holds a tab"):
        write_split(split, maps, tmp_path / "split")
    assert not (tmp_path / "split").exists()


def test_a_split_with_no_valid_interactions_is_refused(make_two_domains) -> None:
    """Two interactions a user give 1/0/1: training would early-stop on nothing, and
    read_split refuses such files."""
    tables = make_two_domains()
    first_two = tables.interactions.groupby("user_id").head(2)
    tables.interactions = first_two.reset_index(drop=True)
    data, maps = to_hetero_data(tables)
    with pytest.raises(InputError, match=r"leaves no valid interactions"):
        make_split(data, maps, "ml100k-kg", seed=0, target_domain="comedy")


def test_domains_that_share_no_user_are_named_as_the_cause(make_two_domains) -> None:
    """Cold-start users are drawn among the users of both domains; with none, the error says
    so (before, it blamed the per-user 80/10/10 rule for leaving no valid interaction)."""
    tables = make_two_domains()
    interactions = tables.interactions
    users = sorted(interactions["user_id"].unique())
    comedy = interactions["item_uid"].str.startswith("comedy:")
    half = interactions["user_id"].isin(users[: len(users) // 2])
    tables.interactions = interactions[comedy == half].reset_index(drop=True)
    data, maps = to_hetero_data(tables)
    with pytest.raises(InputError, match=r"no user has: the domains share too few users"):
        make_split(data, maps, "ml1m-action-comedy", seed=0)


def test_missing_split_file(tmp_path: Path, make_two_domains) -> None:
    _, maps = to_hetero_data(make_two_domains())
    folder = write_files(tmp_path / "split")
    (folder / "test.tsv").unlink()
    with pytest.raises(InputError, match=r"test.tsv: split file not found") as caught:
        read_split(folder, maps)
    # before: no next step, and a folder that is not there read as a file missing from it
    assert "kgrec split --protocol NAME ... --write-split DIR" in str(caught.value)
    nowhere = tmp_path / "nowhere"
    with pytest.raises(InputError, match=r"train.tsv: split file not found \(there is no") as got:
        read_split(nowhere, maps)
    assert f"no folder {nowhere})" in str(got.value)


def test_target_domain_of_split_files(tmp_path: Path, make_two_domains) -> None:
    tables = make_two_domains()
    _, maps = to_hetero_data(tables)
    folder = write_files(tmp_path / "split")
    assert maps.domains[read_split(folder, maps).target_domain] == "comedy"
    with pytest.raises(InputError, match=r"unknown item 'c1' in domain 'action'"):
        read_split(folder, maps, target_domain="action")
    # the same item ids in two domains: the target must be named
    extra = tables.items[tables.items["domain"] == "comedy"].copy()
    extra["domain"] = "books"
    extra["uid"] = [item_uid("books", i) for i in extra["item_id"]]
    tables.items = pd.concat([tables.items, extra], ignore_index=True)
    _, maps = to_hetero_data(tables)
    with pytest.raises(InputError, match=r"several domains \(books, comedy\).*--target-domain"):
        read_split(folder, maps)
    assert maps.domains[read_split(folder, maps, target_domain="books").target_domain] == "books"


def test_a_target_domain_other_than_split_json_records_is_refused(
    tmp_path: Path, make_two_domains
) -> None:
    """Before, ``--target-domain`` quietly replaced the target split.json records: split files
    of comedy read as another domain's wherever its item ids are the same ones."""
    tables = make_two_domains(domains=("books", "comedy"))  # the same item ids in both
    for table, column in ((tables.items, "uid"), (tables.interactions, "item_uid")):
        table[column] = table[column].str.replace(r":[bc]", ":x", regex=True)
    tables.items["item_id"] = tables.items["item_id"].str.replace(r"^[bc]", "x", regex=True)
    data, maps = to_hetero_data(tables)
    split = make_split(data, maps, "ml100k-kg", seed=0, target_domain="comedy")
    write_split(split, maps, tmp_path / "split")
    same = read_split(tmp_path / "split", maps, target_domain="comedy")
    assert torch.equal(same.test, split.test)
    with pytest.raises(
        InputError,
        match=r"split.json, field 'target_domain'.*made with target "
        r"domain 'comedy', and --target-domain names 'books'",
    ):
        read_split(tmp_path / "split", maps, target_domain="books")


def test_an_unknown_target_domain_of_split_files_names_the_option(
    tmp_path: Path, make_two_domains
) -> None:
    """Before, ``--split DIR --target-domain nope`` was reported as field 'domain'."""
    _, maps = to_hetero_data(make_two_domains())
    folder = write_files(tmp_path / "split")
    with pytest.raises(InputError, match=r"--target-domain 'nope' is not a domain") as error:
        read_split(folder, maps, target_domain="nope")
    assert error.value.field == "--target-domain"


@pytest.mark.slow
def test_ml1m_action_comedy_on_the_real_data(datasets) -> None:
    """Overlapping users counted independently from the raw files."""
    from loaders import recbole
    from loaders.rules import named_rule

    folder = datasets / "ml-1m"
    data, maps = to_hetero_data(recbole.load(folder, domain_rule=named_rule("ml1m-action-comedy")))
    split = make_split(data, maps, "ml1m-action-comedy", seed=0)

    items = pd.read_csv(folder / "ml-1m.item", sep="\t", dtype=str)
    items.columns = [c.split(":")[0] for c in items.columns]
    genres = items["genre"].str.split(" ")
    a = {"Action", "Adventure", "Sci-Fi", "Thriller", "War", "Western", "Crime", "Horror"}
    a |= {"Mystery", "Film-Noir", "Fantasy"}
    b = {"Comedy", "Romance", "Children's", "Animation", "Musical"}
    in_a = genres.map(lambda g: bool(a & set(g))) & ~genres.map(lambda g: bool(b & set(g)))
    in_b = genres.map(lambda g: bool(b & set(g))) & ~genres.map(lambda g: bool(a & set(g)))
    domain = pd.Series(np.where(in_a, "action", np.where(in_b, "comedy", "")), index=items.item_id)
    inter = pd.read_csv(folder / "ml-1m.inter", sep="\t", dtype=str, usecols=[0, 1])
    inter.columns = ["user_id", "item_id"]
    inter["domain"] = domain.reindex(inter["item_id"]).to_numpy()
    counts = inter.groupby(["user_id", "domain"]).size().unstack(fill_value=0)
    n = int(((counts["action"] >= 5) & (counts["comedy"] >= 5)).sum())

    assert split.train.size(1) + split.valid.size(1) + split.test.size(1) == int(
        (inter["domain"] == "comedy").sum()
    )
    cold = split.cold_users(len(maps.users))
    cold_valid = cold[split.valid[0].unique()].sum()
    cold_test = cold[split.test[0].unique()].sum()
    assert int(cold_valid) == int(np.floor(0.1 * n + 0.5))
    assert int(cold_test) == int(np.floor(0.2 * n + 0.5))
    warm_test_users = split.test[0].unique()[~cold[split.test[0].unique()]]
    assert len(warm_test_users) == n - int(cold_valid) - int(cold_test)


def test_train_fraction_one_keeps_the_split(make_two_domains) -> None:
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=2)
    assert reduce_train(split, 1.0, seed=2) is split
    assert reduce_train(split, 1, seed=5) is split


@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_train_fraction_keeps_a_seeded_share_of_each_users_training(
    fraction: float, make_two_domains
) -> None:
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=2)
    reduced = reduce_train(split, fraction, seed=2)
    assert reduced.target_domain == split.target_domain
    assert torch.equal(reduced.valid, split.valid) and torch.equal(reduced.test, split.test)
    assert pair_set(reduced.train) <= pair_set(split.train)
    before = torch.bincount(split.train[0], minlength=60)
    after = torch.bincount(reduced.train[0], minlength=60)
    assert after.sum() < before.sum()
    for user in range(60):
        n = int(before[user])
        want = 0 if n == 0 else max(1, int(np.floor(n * fraction + 0.5)))
        assert int(after[user]) == want, user
    # cold users stay cold, warm ones warm; the other domain is untouched
    assert torch.equal(reduced.cold_users(60), split.cold_users(60))
    other = split.training_interactions(data, all_domains=True)
    merged = reduced.training_interactions(data, all_domains=True)
    assert pair_set(other) - pair_set(merged) == pair_set(split.train) - pair_set(reduced.train)
    # deterministic per seed, different across seeds, whatever the train's order
    again = reduce_train(split, fraction, seed=2)
    assert torch.equal(again.train, reduced.train)
    assert pair_set(reduce_train(split, fraction, seed=3).train) != pair_set(reduced.train)
    shuffled = Split(split.target_domain, split.train.flip(1), split.valid, split.test)
    assert pair_set(reduce_train(shuffled, fraction, seed=2).train) == pair_set(reduced.train)


def test_train_fraction_draws_uniformly() -> None:
    """One user with 10 interactions, fraction 0.3: each item kept about 30 % of the seeds."""
    train = torch.stack([torch.zeros(10, dtype=torch.long), torch.arange(10)])
    split = Split(0, train, train[:, :0], train[:, :0])
    kept = torch.zeros(10)
    for seed in range(400):
        reduced = reduce_train(split, 0.3, seed=seed)
        assert reduced.train.size(1) == 3
        kept[reduced.train[1]] += 1
    assert ((kept / 400 - 0.3).abs() < 0.08).all(), kept


@pytest.mark.parametrize(("n", "fraction", "kept"), [(90, 0.35, 32), (45, 0.7, 32), (5, 0.3, 2)])
def test_a_half_of_a_share_written_in_decimals_rounds_up(n, fraction, kept) -> None:
    """0.35 of 90 is 31.5, which rounds up to 32 as the docs say; in binary the product is
    31.499999999999996, and before it rounded down to 31 (found by the split59 review). The
    cold-start and new-item shares are rounded by the same rule."""
    train = torch.stack([torch.zeros(n, dtype=torch.long), torch.arange(n)])
    split = Split(0, train, train[:, :0], train[:, :0])
    assert reduce_train(split, fraction, seed=0).train.size(1) == kept


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5, float("nan"), "0.2", True])
def test_bad_train_fraction_names_the_option(fraction, make_two_domains) -> None:
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml100k-kg", seed=0, target_domain="comedy")
    with pytest.raises(InputError, match=r"--train-fraction.*\(0, 1\], got"):
        reduce_train(split, fraction, seed=0)


@pytest.mark.parametrize("names", [("action", "comedy"), ("drama", "thriller")])
def test_cold_start_users_overlap_the_other_domain_whatever_the_target(
    names, make_two_domains
) -> None:
    """--target-domain reverses ml1m-action-comedy (or names another pair): the cold-start users
    are drawn from users of the target *and the other* domain. (Reversed, the source used to be
    the target itself, so users with no other domain could be cold; another pair was refused.)"""
    data, maps = to_hetero_data(make_two_domains(domains=names))
    target, other = maps.domains.index(names[0]), maps.domains.index(names[1])
    split = make_split(data, maps, "ml1m-action-comedy", seed=3, target_domain=names[0])
    assert split.target_domain == target
    pairs = data["user", "interacts", "item"].edge_index
    domain = data["item"].domain[pairs[1]]
    target_count = torch.bincount(pairs[0, domain == target], minlength=60)
    other_count = torch.bincount(pairs[0, domain == other], minlength=60)
    overlapping = set(torch.nonzero((target_count >= 5) & (other_count >= 5)).flatten().tolist())
    cold = set(torch.nonzero(split.cold_users(60)).flatten().tolist())
    held = set(split.valid[0].tolist()) | set(split.test[0].tolist())
    assert cold & held and cold & held <= overlapping
    n = len(overlapping)
    assert len(cold & held) == int(np.floor(0.1 * n + 0.5)) + int(np.floor(0.2 * n + 0.5))


def test_cold_start_protocol_needs_two_domains(make_two_domains) -> None:
    tables = make_two_domains()
    keep = tables.items["domain"] == "comedy"
    one = GraphTables(
        domains=tables.domains[tables.domains["domain"] == "comedy"],
        users=tables.users,
        items=tables.items[keep],
        interactions=tables.interactions[
            tables.interactions["item_uid"].isin(tables.items["uid"][keep])
        ],
    )
    data, maps = to_hetero_data(one)
    with pytest.raises(InputError, match="has one domain"):
        make_split(data, maps, "ml1m-action-comedy", seed=0, target_domain="comedy")


@pytest.mark.parametrize(("valid", "test"), [(0.3, None), (None, 0.5), (0.05, 0.6)])
def test_cold_shares_change_the_number_of_cold_start_users(valid, test, make_two_domains) -> None:
    data, maps = to_hetero_data(make_two_domains())
    pairs = data["user", "interacts", "item"].edge_index
    domain = data["item"].domain[pairs[1]]
    count = [torch.bincount(pairs[0, domain == d], minlength=60) for d in range(2)]
    n = int(((count[0] >= 5) & (count[1] >= 5)).sum())
    split = make_split(
        data, maps, "ml1m-action-comedy", seed=3, cold_valid_share=valid, cold_test_share=test
    )
    train_users = set(split.train[0].tolist())
    cold_valid = set(split.valid[0].tolist()) - train_users
    cold_test = set(split.test[0].tolist()) - train_users
    assert len(cold_valid) == int(np.floor((0.1 if valid is None else valid) * n + 0.5))
    assert len(cold_test) == int(np.floor((0.2 if test is None else test) * n + 0.5))
    # the protocol's own shares, given, change nothing
    same = make_split(data, maps, "ml1m-action-comedy", seed=3, cold_valid_share=0.1)
    default = make_split(data, maps, "ml1m-action-comedy", seed=3)
    assert all(torch.equal(getattr(same, p), getattr(default, p)) for p in ("train", "test"))


@pytest.mark.parametrize(
    ("protocol", "valid", "test", "message", "field"),
    [
        ("ml1m-action-comedy", 0.0, None, r"must lie in \(0, 1\), got 0.0", "--cold-valid-share"),
        ("ml1m-action-comedy", None, 1.0, r"must lie in \(0, 1\)", "--cold-test-share"),
        ("ml1m-action-comedy", True, None, r"must lie in \(0, 1\), got True", "--cold-valid-share"),
        ("ml1m-action-comedy", 0.5, 0.5, "leave no overlapping user warm", "--cold-test-share"),
        ("ml100k-kg", None, 0.3, "has no cold-start users", "--cold-test-share"),
    ],
)
def test_bad_cold_shares_name_the_option(
    protocol, valid, test, message, field, make_two_domains
) -> None:
    data, maps = to_hetero_data(make_two_domains())
    with pytest.raises(InputError, match=message) as caught:
        make_split(
            data,
            maps,
            protocol,
            seed=0,
            target_domain="comedy",
            cold_valid_share=valid,
            cold_test_share=test,
        )
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ('{"target_domain": null, "domain_rule": 5, "domain": null}', "domain_rule"),
        ('{"target_domain": null, "domain_rule": null, "domain": ["movies"]}', "domain"),
        ('{"target_domain": {"x": 1}, "domain_rule": null, "domain": null}', "target_domain"),
    ],
)
def test_a_split_record_with_a_value_that_is_no_name_is_an_input_error(
    tmp_path: Path, tiny_recbole, record, field
) -> None:
    # before: a split.json whose domain_rule or domain was not a string (hand-edited) got to
    # the loaders, and --split DIR --data PATH stopped with a TypeError traceback
    from kgrec.experiment import load_experiment

    folder = write_files(tmp_path / "split")
    (folder / "split.json").write_text(record)
    with pytest.raises(InputError, match=rf"split.json, field '{field}': expected a name"):
        load_experiment(data=tiny_recbole, store=None, protocol=None, split_dir=folder, seed=0)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ('"domain_rule": "nope"', r"field 'domain_rule': no domain rule named 'nope'"),
        ('"domain": "my movies"', r"field 'domain': domain name 'my movies' must match"),
    ],
)
def test_a_split_record_with_a_bad_domain_rule_or_domain_names_split_json(
    tmp_path: Path, tiny_recbole, record, message
) -> None:
    # before: "field '--domain-rule': no domain rule named 'nope'" and "field '--domain':
    # domain name 'my movies' must match ...", options not given (the latter found by the
    # split59 review)
    from kgrec.experiment import load_experiment

    folder = write_files(tmp_path / "split")
    (folder / "split.json").write_text(f'{{"target_domain": null, {record}}}')
    with pytest.raises(InputError, match=rf"split.json, {message}"):
        load_experiment(data=tiny_recbole, store=None, protocol=None, split_dir=folder, seed=0)


def test_a_split_record_with_a_byte_order_mark_is_read(tmp_path: Path, make_two_domains) -> None:
    # before: "cannot read the split's record (Unexpected UTF-8 BOM ...)" for a split.json
    # saved by an editor that writes one, which the .tsv files beside it may hold
    _, maps = to_hetero_data(make_two_domains())
    folder = write_files(tmp_path / "split")
    (folder / "split.json").write_bytes(b'\xef\xbb\xbf{"train_fraction": 0.5}\r\n')
    assert read_split(folder, maps).train_fraction == 0.5


def test_cold_shares_whose_rounding_leaves_no_warm_user_are_refused(make_two_domains) -> None:
    # before: shares summing below 1 passed the check, and with both halves rounded up every
    # overlapping user was cold: valid and test held no warm user's interaction, silently
    data, maps = to_hetero_data(make_two_domains())
    pairs = data["user", "interacts", "item"].edge_index
    domain = data["item"].domain[pairs[1]]
    count = [torch.bincount(pairs[0, domain == d], minlength=60) for d in range(2)]
    n = int(((count[0] >= 5) & (count[1] >= 5)).sum())
    test = 0.5 - 0.5 / n  # n / 2 and n * test round up to n together
    with pytest.raises(InputError, match="none is left warm") as caught:
        make_split(
            data, maps, "ml1m-action-comedy", seed=0, cold_valid_share=0.5, cold_test_share=test
        )
    assert caught.value.field == "--cold-test-share"
    # a little less, and one user stays warm
    split = make_split(
        data,
        maps,
        "ml1m-action-comedy",
        seed=0,
        cold_valid_share=0.5,
        cold_test_share=test - 1 / n,
    )
    assert not split.cold_users(60)[split.test[0]].all()


@pytest.mark.parametrize("option", ["cold_valid_share", "cold_test_share"])
def test_a_cold_share_that_draws_no_user_is_refused(option, make_two_domains) -> None:
    # before: a share below half a user (0.01 of the 23 overlapping users) drew no cold-valid
    # (cold-test) user, and the split had no such users, silently; as --new-item-share does
    data, maps = to_hetero_data(make_two_domains())
    field = "--" + option.replace("_", "-")
    message = r"share of 0.01 of the 23 overlapping users is no user"
    with pytest.raises(InputError, match=message) as caught:
        make_split(data, maps, "ml1m-action-comedy", seed=0, **{option: 0.01})
    assert caught.value.field == field
    # 0.03 of 23 rounds to one user
    split = make_split(data, maps, "ml1m-action-comedy", seed=0, **{option: 0.03})
    held = split.valid if option == "cold_valid_share" else split.test
    assert len(set(held[0].tolist()) - set(split.train[0].tolist())) == 1


def overlapping_users(data, maps, target: str, source: str) -> set[int]:
    pairs = data["user", "interacts", "item"].edge_index
    domain = data["item"].domain[pairs[1]]
    count = {
        name: torch.bincount(pairs[0, domain == maps.domains.index(name)], minlength=60)
        for name in (target, source)
    }
    both = (count[target] >= 5) & (count[source] >= 5)
    return set(torch.nonzero(both).flatten().tolist())


@pytest.mark.parametrize("source", ["action", "drama"])
def test_source_domain_chooses_whose_users_are_drawn_cold(source, make_two_domains) -> None:
    """Three domains: --source-domain names the one whose users, with the target's, the
    cold-start users are drawn among (before, the protocol's action was taken whenever the
    graph had it, and no other could be asked for)."""
    data, maps = to_hetero_data(make_two_domains(domains=("action", "comedy", "drama")))
    split = make_split(
        data, maps, "ml1m-action-comedy", seed=3, target_domain="comedy", source_domain=source
    )
    assert split.source_domain == maps.domains.index(source)
    overlapping = overlapping_users(data, maps, "comedy", source)
    cold = set(torch.nonzero(split.cold_users(60)).flatten().tolist())
    held = set(split.valid[0].tolist()) | set(split.test[0].tolist())
    assert cold & held <= overlapping
    n = len(overlapping)
    assert len(cold & held) == int(np.floor(0.1 * n + 0.5)) + int(np.floor(0.2 * n + 0.5))
    # without it, the protocol's own source, named in split.json
    default = make_split(data, maps, "ml1m-action-comedy", seed=3, target_domain="comedy")
    assert maps.domains[default.source_domain] == "action"


def test_more_than_two_domains_without_a_source_are_refused(make_two_domains, tmp_path) -> None:
    """Before, every domain but the target was the source: a user with 3 drama and 2 thriller
    interactions counted as overlapping, and nothing said so."""
    data, maps = to_hetero_data(make_two_domains(domains=("comedy", "drama", "thriller")))
    with pytest.raises(
        InputError, match=r"3 domains \(comedy, drama, thriller\).*--source-domain"
    ) as error:
        make_split(data, maps, "ml1m-action-comedy", seed=3, target_domain="comedy")
    assert error.value.field == "--source-domain"
    for name, message in (("nope", "is not a domain"), ("comedy", "is the target domain")):
        with pytest.raises(InputError, match=rf"--source-domain '{name}' {message}"):
            make_split(
                data, maps, "ml1m-action-comedy", seed=3, target_domain="comedy", source_domain=name
            )
    with pytest.raises(InputError, match="no cold-start users, so --source-domain"):
        make_split(data, maps, "ml100k-kg", seed=3, target_domain="comedy", source_domain="drama")
    split = make_split(
        data, maps, "ml1m-action-comedy", seed=3, target_domain="comedy", source_domain="drama"
    )
    write_split(split, maps, tmp_path / "split")
    record = json.loads((tmp_path / "split" / "split.json").read_text())
    assert (record["target_domain"], record["source_domain"]) == ("comedy", "drama")
    assert read_split(tmp_path / "split", maps).source_domain == maps.domains.index("drama")


@pytest.mark.parametrize(
    ("domains", "target"),
    [(("action", "comedy", "drama"), "drama"), (("action", "drama", "thriller"), "thriller")],
)
def test_the_protocols_source_is_no_default_for_another_target(
    domains, target, make_two_domains
) -> None:
    """ml1m-action-comedy's source ``action`` goes with its target ``comedy``: with another
    target in a graph of three domains, the source must be named, and the refusal lists the
    domains. Before, ``action`` was taken silently (drama -> thriller beside action drew the
    cold-start users among action's users)."""
    data, maps = to_hetero_data(make_two_domains(domains=domains))
    names = ", ".join(maps.domains)
    with pytest.raises(InputError, match=rf"3 domains \({names}\).*--source-domain") as error:
        make_split(data, maps, "ml1m-action-comedy", seed=3, target_domain=target)
    assert error.value.field == "--source-domain"
    other = next(d for d in domains if d not in ("action", target))
    named = make_split(
        data, maps, "ml1m-action-comedy", seed=3, target_domain=target, source_domain=other
    )
    assert named.source_domain == maps.domains.index(other)


@pytest.mark.parametrize(
    ("target", "digest"),
    [(None, "224ab5dd174e609e"), ("action", "d403050301f45a62")],
)
def test_two_domains_draw_the_split_they_drew_before(target, digest, make_two_domains) -> None:
    """The two-domain case draws exactly the split of base29b (before --source-domain): the
    digest of its three parts, pinned from that code."""
    data, maps = to_hetero_data(make_two_domains())
    split = make_split(data, maps, "ml1m-action-comedy", seed=3, target_domain=target)
    text = ";".join(str(getattr(split, name).tolist()) for name in ("train", "valid", "test"))
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == digest
