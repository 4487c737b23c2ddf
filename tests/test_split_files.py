"""Split files read as written (kgrec.data.split.read_split, `--split DIR`): split.json's
source domain and few-shot count, and the headers of new_items.tsv and few_shot_users.tsv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kgrec.cli import main
from kgrec.errors import InputError
from kgrec.experiment import load_experiment


def _split(tmp_path: Path, data: Path, protocol: str, *extra: str) -> Path:
    folder = tmp_path / "split"
    argv = ["split", "--protocol", protocol, "--data", str(data), *extra]
    assert main([*argv, "--write-split", str(folder)]) == 0
    return folder


def _read(folder: Path, data: Path):
    return load_experiment(data=data, store=None, protocol=None, split_dir=folder, seed=0).split


def _edit_record(folder: Path, **changes) -> None:
    record = json.loads((folder / "split.json").read_text())
    for name, value in changes.items():
        if value is ...:
            del record[name]
        else:
            record[name] = value
    (folder / "split.json").write_text(json.dumps(record))


def test_a_source_domain_the_graph_lacks_is_refused(tmp_path: Path, tiny_recbole) -> None:
    """Before, split.json's source_domain naming no domain of the graph was dropped silently:
    the split was read as one without cold-start users drawn from a source domain."""
    folder = _split(tmp_path, tiny_recbole, "ml1m-action-comedy")
    assert _read(folder, tiny_recbole).source_domain == 0  # action, as recorded
    _edit_record(folder, source_domain="drama")
    with pytest.raises(InputError) as caught:
        _read(folder, tiny_recbole)
    error = caught.value
    assert (error.file, error.field) == (str(folder / "split.json"), "source_domain")
    assert "'drama'" in error.message and "domains: action, comedy" in error.message


def test_a_user_removed_from_few_shot_users_tsv_is_refused(tmp_path: Path, tiny_recbole) -> None:
    """split.json records how many few-shot users the split has; a user removed by hand from
    few_shot_users.tsv is refused naming the file. Before, that user was read as a warm user
    (K training interactions, counted warm). Files that record no count read as before."""
    folder = _split(tmp_path, tiny_recbole, "ml1m-action-comedy", "--few-shot", "2")
    path = folder / "few_shot_users.tsv"
    lines = path.read_text().split("\n")[:-1]
    record = json.loads((folder / "split.json").read_text())
    assert record["few_shot_users"] == len(lines) - 1 > 1
    assert _read(folder, tiny_recbole).few_shot_users.numel() == len(lines) - 1
    path.write_text("\n".join(lines[:-1]) + "\n")  # the last user removed
    with pytest.raises(InputError, match=f"lists {len(lines) - 2} few-shot user") as caught:
        _read(folder, tiny_recbole)
    assert caught.value.file == str(path)
    _edit_record(folder, few_shot_users=...)  # files written before the count: as before
    assert _read(folder, tiny_recbole).few_shot_users.numel() == len(lines) - 2
    # a split without few-shot users records 0
    none = _split(tmp_path / "k0", tiny_recbole, "ml1m-action-comedy")
    assert json.loads((none / "split.json").read_text())["few_shot_users"] == 0
    for bad in (-1, 1.5, True, "3"):
        _edit_record(none, few_shot_users=bad)
        with pytest.raises(InputError, match="integer >= 0") as caught:
            _read(none, tiny_recbole)
        assert caught.value.field == "few_shot_users"


def test_new_items_tsv_removed_or_edited_is_refused(tmp_path: Path, tiny_recbole) -> None:
    """split.json records how many new items new_items.tsv lists. Before, a split whose
    new_items.tsv was removed read as one without item groups, silently: its new items were
    untrained warm items (negatives drawn among them) and no item groups were reported. Files
    that record no count read as before; a split without item groups records null."""
    folder = _split(tmp_path, tiny_recbole, "ml1m-new-items")
    path = folder / "new_items.tsv"
    listed = path.read_text().split("\n")[1:-1]
    assert json.loads((folder / "split.json").read_text())["new_items"] == len(listed) > 1
    assert _read(folder, tiny_recbole).item_groups
    path.unlink()
    with pytest.raises(InputError, match=r"is not beside split\.json, which records new_items"):
        _read(folder, tiny_recbole)
    _edit_record(folder, new_items=len(listed) + 1)  # as if the file listed one more
    path.write_text("\n".join(["item_id", *listed]) + "\n")
    with pytest.raises(InputError, match=f"lists {len(listed)} new item") as caught:
        _read(folder, tiny_recbole)
    assert caught.value.file == str(path)
    _edit_record(folder, new_items=...)  # files written before the count: as before
    path.unlink()
    assert not _read(folder, tiny_recbole).item_groups
    plain = _split(tmp_path / "plain", tiny_recbole, "ml1m-action-comedy")
    assert json.loads((plain / "split.json").read_text())["new_items"] is None
    for bad in (-1, 1.5, True, "3"):
        _edit_record(plain, new_items=bad)
        with pytest.raises(InputError, match="integer >= 0") as caught:
            _read(plain, tiny_recbole)
        assert caught.value.field == "new_items"


def test_recbole_typed_headers_are_read(tmp_path: Path, tiny_recbole) -> None:
    """new_items.tsv and few_shot_users.tsv take RecBole-typed headers (item_id:token,
    user_id:token), as the three split files do; another field name is still refused naming
    the file, line and field. Before, the typed headers were refused."""
    new = _split(tmp_path / "new", tiny_recbole, "ml1m-new-items")
    want = _read(new, tiny_recbole).new_item_indices()
    path = new / "new_items.tsv"
    lines = path.read_text().split("\n")
    path.write_text("\n".join(["item_id:token", *lines[1:]]))
    assert torch.equal(_read(new, tiny_recbole).new_item_indices(), want)
    shot = _split(tmp_path / "shot", tiny_recbole, "ml1m-action-comedy", "--few-shot", "2")
    want = _read(shot, tiny_recbole).few_shot_users
    users = shot / "few_shot_users.tsv"
    listed = users.read_text().split("\n")
    users.write_text("\n".join(["user_id:token", *listed[1:]]))
    assert torch.equal(_read(shot, tiny_recbole).few_shot_users, want)
    for file, header, field in ((path, "item:token", "item_id"), (users, "user", "user_id")):
        text = file.read_text().split("\n")
        file.write_text("\n".join([header, *text[1:]]))
        with pytest.raises(InputError, match=f"got '{header}'") as caught:
            _read(file.parent, tiny_recbole)
        assert (caught.value.file, caught.value.line, caught.value.field) == (str(file), 1, field)


def test_a_repeated_line_in_new_items_or_few_shot_users_is_refused(
    tmp_path: Path, tiny_recbole
) -> None:
    """A repeated id in new_items.tsv or few_shot_users.tsv (also one written with spaces
    around it) is refused naming the file, line and field and the first line, as a pair
    repeated in train/valid/test.tsv is. Before, it was accepted without a word (and a
    repeated few-shot user passed split.json's count of the users the file lists)."""
    new = _split(tmp_path / "new", tiny_recbole, "ml1m-new-items")
    shot = _split(tmp_path / "shot", tiny_recbole, "ml1m-action-comedy", "--few-shot", "2")
    for path, field in (
        (new / "new_items.tsv", "item_id"),
        (shot / "few_shot_users.tsv", "user_id"),
    ):
        lines = path.read_text().split("\n")[:-1]
        assert len(lines) > 2
        path.write_text("\n".join([*lines, f" {lines[1]}"]) + "\n")
        with pytest.raises(
            InputError, match=f"'{lines[1]}' is listed twice; first at line 2"
        ) as caught:
            _read(path.parent, tiny_recbole)
        error = caught.value
        assert (error.file, error.line, error.field) == (str(path), len(lines) + 1, field)


def test_carriage_return_line_ends_are_refused_naming_the_line(
    tmp_path: Path, tiny_recbole
) -> None:
    """A split file whose lines end in a carriage return alone (an old Mac file) is refused
    naming the file, its line 1 and the carriage return, in a message of its own size. Before,
    the whole file was the header the error quoted ("header must be ..., got 'user_id\\titem_id
    \\r1\\t2\\r...'": megabytes for a large split)."""
    folder = _split(tmp_path, tiny_recbole, "ml1m-action-comedy")
    path = folder / "train.tsv"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    with pytest.raises(InputError, match="carriage return") as caught:
        _read(folder, tiny_recbole)
    assert (caught.value.file, caught.value.line) == (str(path), 1)
    assert len(str(caught.value)) < 400
    # a carriage return inside a data row: that row's line
    path.write_bytes(b"user_id\titem_id\n1\t2\n1\t3\r4\n")
    with pytest.raises(InputError, match="carriage return") as caught:
        _read(folder, tiny_recbole)
    assert (caught.value.file, caught.value.line) == (str(path), 3)


def test_a_broken_split_record_names_its_line(tmp_path: Path, tiny_recbole) -> None:
    """split.json that is not JSON, or not UTF-8, is refused naming the file and the line, as
    a template file is. Before, the line was only inside json's words ("... line 3 column 5
    (char 31)") or missing ("can't decode byte 0xe9 in position 29")."""
    folder = _split(tmp_path, tiny_recbole, "ml1m-action-comedy")
    path = folder / "split.json"
    text = path.read_text()
    path.write_text(text.replace('"target_domain":', '"target_domain"', 1))
    with pytest.raises(InputError, match="cannot read the split's record") as caught:
        _read(folder, tiny_recbole)
    assert (caught.value.file, caught.value.line) == (str(path), 2)
    path.write_bytes(text.replace('"comedy"', '"com\xe9dy"', 1).encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8") as caught:
        _read(folder, tiny_recbole)
    assert (caught.value.file, caught.value.line) == (str(path), 2)


def _tiny_copy(tmp_path: Path, tiny_recbole: Path, name: str, drop: set[tuple[str, str]]) -> Path:
    """The tiny RecBole files in ``tmp_path / name / "tiny"`` without the ratings of ``drop``."""
    data = tmp_path / name / "tiny"
    data.mkdir(parents=True)
    (data / "tiny.item").write_text((tiny_recbole / "tiny.item").read_text())
    header, *rows = (tiny_recbole / "tiny.inter").read_text().splitlines()
    kept = [row for row in rows if tuple(row.split("\t")[:2]) not in drop]
    assert len(kept) == len(rows) - len(drop)
    (data / "tiny.inter").write_text("\n".join([header, *kept]) + "\n")
    return data


def _pairs(folder: Path, name: str) -> list[tuple[str, str]]:
    lines = (folder / f"{name}.tsv").read_text().splitlines()[1:]
    return [tuple(line.split("\t")) for line in lines]


def test_train_pairs_that_are_no_interaction_of_the_graph_are_warned_of(
    tmp_path: Path, tiny_recbole, caplog
) -> None:
    """Split files read with other data (or another version of it) whose graph lacks pairs of
    train.tsv: before, they were trained on without a word (the graph's own interactions all
    in the files, nothing was said). Valid and test pairs the graph lacks (a graph of the
    training interactions alone) are no such sign, and warn of nothing."""
    folder = _split(tmp_path, tiny_recbole, "ml1m-action-comedy")
    train = _pairs(folder, "train")
    held = set(_pairs(folder, "valid")) | set(_pairs(folder, "test"))
    training_only = _tiny_copy(tmp_path, tiny_recbole, "training-only", held)
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        _read(folder, training_only)
    assert not caplog.records
    fewer = _tiny_copy(tmp_path, tiny_recbole, "fewer", set(train[:3]))
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        split = _read(folder, fewer)
    assert split.train.size(1) == len(train)  # read as the files say, as before
    message = caplog.text
    assert f"3 of the {len(train)} pairs of train.tsv are no interaction of the graph" in message
    assert f"user {train[0][0]!r}, item {train[0][1]!r}" in message
