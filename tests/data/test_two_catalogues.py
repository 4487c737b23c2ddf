"""bench/two_catalogues.py: two catalogues of the same films, no user in common, loadable."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kgrec.experiment import load_experiment

ROOT = Path(__file__).resolve().parents[2]


def script():
    spec = importlib.util.spec_from_file_location(
        "two_catalogues", ROOT / "bench/two_catalogues.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_ml1m_like(folder: Path, seed: int = 0) -> Path:
    """30 films with genres, 24 users with 20-40 ratings each, in ml-1m's file layout."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    genres = ["Action", "Comedy", "Drama", "Children's", "Sci-Fi"]
    lines = ["item_id:token\tmovie_title:token\trelease_year:float\tgenre:token"]
    for j in range(30):
        names = " ".join(sorted(rng.choice(genres, size=int(rng.integers(1, 3)), replace=False)))
        lines.append(f"Film {j} (1990)\tFilm {j}\t1990\t{names}")
    (folder / "ml-1m.item").write_text("\n".join(lines) + "\n")
    rows = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(24):
        for j in rng.choice(30, size=int(rng.integers(20, 31)), replace=False):
            rows.append(f"1m_{u}\tFilm {j} (1990)\t{int(rng.integers(1, 6))}\t{970000000 + j}")
    (folder / "ml-1m.inter").write_text("\n".join(rows) + "\n")
    return folder


def read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def test_the_pair_shares_films_not_users_and_loads(tmp_path: Path) -> None:
    from kgrec.store import open_store
    from loaders import recbole

    data = write_ml1m_like(tmp_path / "ml-1m")
    built = script().build_pair(data, tmp_path / "pair", seed=3, train_per_user=5)
    pair = tmp_path / "pair"
    original = read(data / "ml-1m.inter")
    films = read(pair / "films.tsv")
    a, b = read(pair / "ml1m-a/ml1m-a.inter"), read(pair / "ml1m-b/ml1m-b.inter")
    # disjoint halves of the users; the source keeps every rating, with its own item ids
    assert not set(a.user_id) & set(b.user_id)
    assert set(a.user_id) | set(b.user_id) == set(original.user_id)
    assert abs(a.user_id.nunique() - b.user_id.nunique()) <= 1
    assert len(a) == int(original.user_id.isin(set(a.user_id)).sum())
    assert a.item_id.str.startswith("a").all() and b.item_id.str.startswith("b").all()
    title = dict(zip(films["ml1m-a"], films.ml1m_item_id, strict=True))
    title |= dict(zip(films["ml1m-b"], films.ml1m_item_id, strict=True))
    merged = original.merge(a.assign(item_id=a.item_id.map(title)), how="inner")
    assert len(merged) == len(a)  # the same ratings, renamed
    # the target: n // 10 valid and test per user, at most 5 in train, all from their ratings
    split = {part: read(pair / "split" / f"{part}.tsv") for part in ("train", "valid", "test")}
    assert list(split["train"].columns) == ["user_id", "item_id"]
    rated = original.groupby("user_id").size()
    for part, frame in split.items():
        counts = frame.groupby("user_id").size()
        held = rated[counts.index] // 10
        want = np.minimum(5, rated[counts.index] - 2 * held) if part == "train" else held
        assert counts.to_dict() == want.to_dict(), part
        renamed = frame.assign(item_id=frame.item_id.map(title))
        assert len(renamed.merge(original, how="inner")) == len(frame)
    assert sum(len(f) for f in split.values()) == len(b) == built["ml1m-b ratings"]
    # the knowledge: each item -> its film entity -> genres; films shared by both catalogues
    kg = read(pair / "ml1m-b/ml1m-b.kg")
    links = read(pair / "ml1m-b/ml1m-b.link")
    assert (links.item_id == links.entity_id).all() and set(links.item_id) == set(b.item_id)
    item_film = kg[kg.relation_id == "item.film"]
    assert set(item_film.head_id) == set(b.item_id)
    assert set(kg[kg.relation_id == "film.film.genre"].tail_id) <= {
        f"genre:{g}" for g in ("Action", "Comedy", "Drama", "Children's", "Sci-Fi")
    }

    store = f"local:{tmp_path / 'store'}"
    with open_store(store) as opened:
        for half in ("ml1m-a", "ml1m-b"):
            opened.write(recbole.load(pair / half), progress=False)
    experiment = load_experiment(
        data=None,
        store=store,
        protocol=None,
        split_dir=pair / "split",
        seed=0,
        target_domain="ml1m-b",
    )
    maps = experiment.maps
    assert set(maps.domains) == {"ml1m-a", "ml1m-b"}
    assert experiment.split.train.size(1) == len(split["train"])
    assert not experiment.split.cold_users(len(maps.users))[experiment.split.test[0]].any()
    # the catalogues meet only at film entities: one per film rated on both sides
    items, films_of = experiment.data["item", "item.film", "entity"].edge_index
    domain = experiment.data["item"].domain[items]
    both = set(films_of[domain == 0].tolist()) & set(films_of[domain == 1].tolist())
    shared = films[(films["ml1m-a"] != "") & (films["ml1m-b"] != "")]
    assert {maps.entities[e] for e in both} == set(shared.film) and len(shared) > 20
    assert torch.bincount(items).max() == 1  # one film per item
    again = tmp_path / "again"
    script().build_pair(data, again, seed=3, train_per_user=5)
    for path in ("split/train.tsv", "ml1m-b/ml1m-b.kg", "ml1m-a/ml1m-a.inter"):
        assert (again / path).read_text() == (pair / path).read_text(), path
    other = tmp_path / "other"
    script().build_pair(data, other, seed=4, train_per_user=5)
    assert (other / "split/train.tsv").read_text() != (pair / "split/train.tsv").read_text()
    with pytest.raises(ValueError, match="not empty"):
        script().build_pair(data, pair, seed=3, train_per_user=5)


def test_ml100k_files_make_a_pair_and_a_missing_column_writes_nothing(tmp_path: Path) -> None:
    # before: ml-100k's item file (its genres in "class", titles token_seq) gave a KeyError
    # after half the pair was written, and the rerun was refused as "not empty"
    data = write_ml1m_like(tmp_path / "ml-100k")
    for suffix in ("item", "inter"):
        (data / f"ml-1m.{suffix}").rename(data / f"ml-100k.{suffix}")
    item = data / "ml-100k.item"
    item.write_text(item.read_text().replace("genre:token", "class:token_seq", 1))
    script().build_pair(data, tmp_path / "pair", seed=0, train_per_user=5)
    header = (tmp_path / "pair" / "ml1m-b" / "ml1m-b.item").read_text().splitlines()[0]
    assert header.endswith("class:token_seq")
    assert "genre:Action" in (tmp_path / "pair" / "ml1m-b" / "ml1m-b.kg").read_text() or (
        "genre:Comedy" in (tmp_path / "pair" / "ml1m-b" / "ml1m-b.kg").read_text()
    )
    item.write_text(item.read_text().replace("class:token_seq", "kind:token_seq", 1))
    with pytest.raises(ValueError, match="has no column 'genre'"):
        script().build_pair(data, tmp_path / "other", seed=0, train_per_user=5)
    assert not (tmp_path / "other").exists()
