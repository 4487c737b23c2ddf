"""What each registered model propagates over (kgrec.experiment.build_run): for every protocol
and split option, no validation or test pair is an edge of its message graph, cold-start users
have no target-domain edge, new items no interaction edge, a model without knowledge no
knowledge edge and a one-domain model no edge of another domain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from graph_schema.tables import GraphTables
from kgrec.data.export import NUM_INTERACTION_TYPES
from kgrec.data.split import write_split
from kgrec.experiment import build_run, load_experiment
from kgrec.models.registry import MODELS
from kgrec.store import open_store


@pytest.fixture(scope="module")
def store(tmp_path_factory, make_two_domains) -> str:
    """Two domains (action, comedy) of 30 items, 80 users, each item tied to two of eight
    entities by three relations, an item -> item and an entity -> entity triple; every item
    with a text vector (text-similarity needs them)."""
    tables = make_two_domains(num_users=80)
    rng = np.random.default_rng(1)
    uids = list(tables.items["uid"])
    rows = [
        ("Item", uid, f"rel{e % 3}", "Entity", f"e{e}")
        for uid in uids
        for e in rng.choice(8, size=2, replace=False)
    ]
    rows += [
        ("Item", uids[0], "sequel", "Item", uids[40]),
        ("Entity", "e1", "spouse", "Entity", "e2"),
    ]
    columns = ["head_kind", "head_key", "relation", "tail_kind", "tail_key"]
    parts = tables.tables()
    parts["knowledge"] = pd.DataFrame(rows, columns=columns)
    parts["entities"] = pd.DataFrame({"entity_id": [f"e{i}" for i in range(8)]})
    uri = f"local:{tmp_path_factory.mktemp('leakage') / 'store'}"
    with open_store(uri) as opened:
        opened.write(GraphTables(**parts), progress=False)
        keys = sorted(uids)
        vectors = np.random.default_rng(0).normal(size=(len(keys), 6))
        opened.write_vectors("Item", keys, vectors, property="embedding")
    return uri


def assert_no_leak(experiment) -> None:
    split, maps, data = experiment.split, experiment.maps, experiment.data
    num_users = len(maps.users)
    held = torch.cat([split.valid, split.test], dim=1)
    assert held.size(1) > 0
    cold = split.cold_users(num_users)
    target = data["item"].domain == split.target_domain
    new = split.new_items(data["item"].domain)
    for name, spec in MODELS.items():
        _, graph, pairs = build_run(experiment, {"model": name, "dim": 4})
        edges = {tuple(edge) for edge in graph.edge_index.T.tolist()}
        for user, item in held.T.tolist():
            assert (user, num_users + item) not in edges, (name, maps.users[user], item)
            assert (num_users + item, user) not in edges, (name, maps.users[user], item)
        kinds = graph.edge_type
        assert bool((kinds >= NUM_INTERACTION_TYPES).any()) == spec.knowledge, name
        interactions = graph.edge_index[:, kinds == 0]
        users, items = interactions[0], interactions[1] - num_users
        assert bool((users < num_users).all()) and bool((items >= 0).all()), name
        assert not bool((cold[users] & target[items]).any()), name
        assert not bool(new[items].any()), name
        if not spec.all_domains:
            assert bool(target[items].all()), name
        back = graph.edge_index[:, kinds == 1].flip(0)
        assert {tuple(e) for e in back.T.tolist()} == {tuple(e) for e in interactions.T.tolist()}
        # the pairs trained on are the graph's interaction edges
        assert torch.equal(torch.stack([users, items]), pairs), name


CASES = [
    ("ml100k-kg", {"target_domain": "comedy"}),
    ("ml100k-kg", {"target_domain": "comedy", "train_fraction": 0.4}),
    ("ml1m-action-comedy", {}),
    ("ml1m-action-comedy", {"few_shot": 2, "train_fraction": 0.5}),
    ("ml1m-action-comedy", {"cold_valid_share": 0.3, "cold_test_share": 0.3}),
    ("ml1m-action-comedy", {"target_domain": "action", "source_domain": "comedy"}),
    ("ml100k-new-items", {"target_domain": "comedy"}),
    ("ml1m-new-items", {"new_item_share": 0.4, "train_fraction": 0.3}),
]


@pytest.mark.parametrize(("protocol", "options"), CASES)
def test_no_held_out_pair_is_an_edge_of_any_model_s_graph(store, protocol, options) -> None:
    experiment = load_experiment(
        data=None,
        store=store,
        protocol=protocol,
        split_dir=None,
        seed=0,
        text_property="embedding",
        **options,
    )
    if "cold_valid_share" in options or protocol == "ml1m-action-comedy":
        assert bool(experiment.split.cold_users(len(experiment.maps.users)).any())
    if "new_item_share" in options:
        assert experiment.split.new_item_indices().numel()
    assert_no_leak(experiment)


@pytest.mark.parametrize("protocol", ["ml1m-action-comedy", "ml1m-new-items"])
def test_no_held_out_pair_is_an_edge_with_split_files(store, tmp_path, protocol) -> None:
    """Split files written with few-shot users or a training fraction, read back (thinned
    again)."""
    options = {"few_shot": 2} if protocol == "ml1m-action-comedy" else {}
    written = load_experiment(
        data=None,
        store=store,
        protocol=protocol,
        split_dir=None,
        seed=0,
        train_fraction=0.5,
        **options,
    )
    write_split(written.split, written.maps, tmp_path / "split")
    for fraction in (1.0, 0.5):
        experiment = load_experiment(
            data=None,
            store=store,
            protocol=None,
            split_dir=tmp_path / "split",
            seed=1,
            text_property="embedding",
            train_fraction=fraction,
        )
        assert_no_leak(experiment)
