"""The run layer: experiments, and training, saving, loading and scoring a run. It is the
library's entry point; ``kgrec train``/``evaluate``/``recommend`` and the benches are thin
adapters over it, and a notebook calls it directly:

>>> from kgrec.experiment import train, load_run
>>> run = train("lightgcn", protocol="ml100k-kg", data="datasets/ml-100k", out="runs/lgcn")
>>> run.metrics()                      # a DataFrame: phase, group, users, recall@10, ...
>>> run.recommend(k=10, users=["196"])  # a DataFrame: user_id, item_uid, score, rank, ...
>>> load_run("runs/lgcn").publish("bolt://127.0.0.1:7687")

A run folder holds ``run.json`` (the settings, how training went and where it ran),
``experiment.pt`` (the graph and split the run was trained on, so later loads into the store
do not change it), ``split/`` (the split files, to run another system on the same split),
``checkpoint.pt`` (training state, for ``resume``), ``model.pt`` (the best model),
``student.pt`` (with ``cold_items``: the content student that serves items without training
interactions, :mod:`kgrec.cold_items`) and ``metrics.json`` (valid and test; all, warm and
cold-start users).

To add a model: its module in :mod:`kgrec.models`, an entry in
:data:`kgrec.models.registry.MODELS`, and its case in ``tests/models/test_template.py``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import io
import json
import logging
import math
import numbers
import os
import pickle
import platform
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import numpy as np
import pandas as pd
import torch
import torch_geometric

import kgrec
from graph_schema.arguments import spelling_hint, zero_spellings
from graph_schema.names import PROPERTY_RULE, is_property_name
from graph_schema.tables import item_titles
from graph_schema.validate import id_argument, id_arguments, path_argument
from kgrec import distributed
from kgrec.cold_items import (
    ItemAttributes,
    StudentItems,
    drop_untrained_ids,
    item_entities,
    learnt_items,
    restore_student,
    serve_new_items,
    trained_items,
)
from kgrec.cold_start_training import HideTargetEdges
from kgrec.data.export import INTERACTS, USER_TO_ITEM, IdMaps, message_graph, to_hetero_data
from kgrec.data.source import check_data_or_store, read_graph, read_text_vectors
from kgrec.data.split import (
    FEW_SHOT_FILE,
    NEW_ITEMS_FILE,
    RECORD_FILE,
    SPLIT_FILES,
    Split,
    check_few_shot,
    check_seed,
    check_source_domain,
    check_train_fraction,
    get_protocol,
    give_few_shot,
    make_split,
    plain,
    read_split,
    recorded_domain,
    recorded_rule,
    reduce_train,
    with_cold_shares,
    with_new_item_share,
    write_split,
)
from kgrec.device import resolve_device
from kgrec.errors import InputError, WriteError, few
from kgrec.evaluate import PHASES, evaluate, format_table, metrics_frame
from kgrec.files import (
    first_missing,
    is_temporary,
    load_error,
    not_utf8,
    remove_made,
    save_torch,
    write_all_atomic,
    write_atomic,
)
from kgrec.metrics import DEFAULT_KS
from kgrec.models.base import GraphRecommender
from kgrec.models.checks import check_flag
from kgrec.models.registry import (
    EASE_OPTIONS,
    GNN,
    MODELS,
    ModelSpec,
    item_text_vectors,
    model_class,
    model_spec,
)
from kgrec.objectives import (
    OBJECTIVES,
    Contrastive,
    Distillation,
    Objective,
    TextNeighbours,
    text_neighbours,
)
from kgrec.plots import training_curve
from kgrec.ranking import FoldInNaN, NaNScores, embeddings, rank
from kgrec.recommend import (
    LongItemVector,
    inner_product_vectors,
    largest_norm,
    recommendation_table,
)
from kgrec.settings import (
    BATCHING,
    COLD_ITEMS,
    RELATION_WEIGHTINGS,
    SCORES,
    TEXT_INPUTS,
    TRAIN_DEFAULTS,
)
from kgrec.teachers import blend, check_folders, check_mix, mix_setting
from kgrec.text import DEFAULT_PROPERTY, VECTOR_PROPERTY
from kgrec.train import MAX_LR, VALID_METRIC, FitResult, FullGraph, NotFinite, fit, on_device

if TYPE_CHECKING:  # PyG and the store modules are imported where they are used
    from torch_geometric.data import Data, HeteroData

    from kgrec.store.base import GraphStore

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
EXPERIMENT_FILE = "experiment.pt"
# run.json's digest of the split in experiment.pt (split_digest)
SPLIT_DIGEST = "split_digest"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "checkpoint.pt"
STUDENT_FILE = "student.pt"
SPLIT_DIR = "split"
# the first file a new run writes in its folder (empty then: _start), removed once run.json
# is written: a folder holding it and no run.json is a new run's that a kill stopped, which
# the next training of the folder removes (_start); without it kgrec cannot tell a killed
# training's files from the user's
NEW_RUN_MARKER = ".kgrec-new-run"
# every name train() writes in a run folder (SPLIT_DIR a folder, the others files)
_RUN_NAMES = (
    NEW_RUN_MARKER,
    SPLIT_DIR,
    EXPERIMENT_FILE,
    RUN_FILE,
    CHECKPOINT_FILE,
    MODEL_FILE,
    STUDENT_FILE,
    METRICS_FILE,
)
# what run.json's text_model holds (kgrec.text.embed.model_record)
MODEL_KEYS = ("name", "identity")
# the modules whose parameters read text vectors (TextInput's MLP, the cross-domain model's
# projection), at any depth: fresh in a warm start from a run on another text model's vectors
TEXT_MODULES = ("text_input", "text_projection")
# settings a resumed run may change: how long it trains, not what it trains
RESUMABLE_CHANGES = ("epochs", "patience")


# -- experiments ---------------------------------------------------------------------------


@dataclass
class Experiment:
    """The graph of an experiment, exported, with its split."""

    data: HeteroData
    maps: IdMaps
    split: Split
    # the store's record of the text model that wrote the text vectors read (name, identity;
    # None: none read, or the store has no record); run.json keeps it as ``text_model``
    text_model: dict[str, str] | None = None
    # the items' titles by item index ("" for an item without one), as the graph held them:
    # what `kgrec recommend --show` prints beside the uids (None: a run of a kgrec before
    # session 45, whose experiment.pt holds none)
    titles: tuple[str, ...] | None = None


def load_experiment(
    *,
    data: Path | None,
    store: str | None,
    protocol: str | None,
    split_dir: Path | None,
    seed: int,
    domain: str | None = None,
    domain_rule: str | None = None,
    target_domain: str | None = None,
    source_domain: str | None = None,
    text_property: str | None = None,
    train_fraction: float = 1.0,
    few_shot: int = 0,
    cold_valid_share: float | None = None,
    cold_test_share: float | None = None,
    new_item_share: float | None = None,
) -> Experiment:
    """Read the graph, export it and make (``protocol``) or read (``split_dir``) the split.

    With ``data`` and no ``domain``/``domain_rule``, a protocol's own domain rule applies. With
    ``text_property`` (and a store), nodes' text vectors are read too; a store where no node
    has that property is an error. A ``train_fraction`` below 1 then keeps that seeded share
    of each user's target-domain training interactions (:func:`kgrec.data.split.reduce_train`),
    and a ``few_shot`` ``K`` above 0 gives ``K`` held-out target interactions of each cold-start
    user to train (:func:`kgrec.data.split.give_few_shot`). ``cold_valid_share`` and
    ``cold_test_share`` change a cold-start protocol's shares of cold-start users, and
    ``new_item_share`` a new-item protocol's share of new items (None: the protocol's;
    :func:`kgrec.data.split.make_split`), and ``source_domain`` the domain whose users, with
    the target's, it draws cold-start users among.
    """
    check_data_or_store(data, store)
    check_protocol_or_split(protocol, split_dir)
    check_cold_shares(protocol, split_dir, cold_valid_share, cold_test_share, new_item_share)
    check_source(protocol, split_dir, source_domain)
    train_fraction = check_train_fraction(train_fraction)
    seed = check_seed(seed)  # a numpy integer as the Python one it holds (plain)
    few_shot = check_few_shot(few_shot)
    check_domain_source(data, domain, domain_rule)
    domain = effective_domain(data, domain, domain_rule, split_dir)
    domain_rule = effective_rule(protocol, data, domain, domain_rule, split_dir)
    tables, text, text_model = read_graph(
        data=data,
        store=store,
        domain=domain,
        domain_rule=domain_rule,
        text_property=text_property,
    )
    if text_property is not None and store is not None and text is None:
        # the embed that writes this property (kgrec embed writes DEFAULT_PROPERTY unless told)
        where = "" if text_property == DEFAULT_PROPERTY else f" --property {text_property}"
        raise InputError(
            f"no node in the store has the text property {text_property!r}: run "
            f"`kgrec embed --store {store}{where}` first, or name the property that holds the "
            "vectors with --text-property",
            field="--text-property",
        )
    hetero, maps = to_hetero_data(tables, text=text)
    if split_dir is not None:
        split = read_split(split_dir, maps, target_domain=target_domain)
        _warn_unsplit(split_dir, hetero, maps, split)
    elif protocol is not None:
        split = make_split(
            hetero,
            maps,
            protocol,
            seed=seed,
            target_domain=target_domain,
            source_domain=source_domain,
            cold_valid_share=cold_valid_share,
            cold_test_share=cold_test_share,
            new_item_share=new_item_share,
        )
    else:
        raise InputError("give --protocol NAME or --split DIR", field="--protocol")
    if split.train_fraction < 1 and train_fraction < 1:
        log.warning(
            "--split %s: its train.tsv was written with --train-fraction %s (split.json), and "
            "--train-fraction %s thins it again: each user keeps about %.4g of the training "
            "interactions of the split first drawn (leave --train-fraction out to train on "
            "train.tsv as written)",
            split_dir,
            f"{split.train_fraction:g}",
            f"{train_fraction:g}",
            split.train_fraction * train_fraction,
        )
    split = _reduce_train(split, train_fraction, seed=seed)
    split = give_few_shot(split, few_shot, seed=seed)
    return Experiment(hetero, maps, split, text_model, item_titles(tables.items, maps.items))


def _warn_unsplit(directory: Path, data: HeteroData, maps: IdMaps, split: Split) -> None:
    """A warning when the graph's target domain holds interactions in none of the split's
    files (split files not thinned with ``--train-fraction``): they are neither trained on nor
    masked, and every item of the domain is ranked, as when split files of one genre are read
    with data read as one domain (no ``split.json``, no ``--domain-rule``). Another when
    ``train.tsv`` holds pairs that are no interaction of the graph (split files of other data,
    or of another version of it): they are trained on all the same. Valid and test pairs the
    graph lacks are no such sign (a store loaded with the training interactions alone)."""
    pairs = data[INTERACTS].edge_index
    target = pairs[:, data["item"].domain[pairs[1]] == split.target_domain]
    width = len(maps.item_ids)
    foreign = ~torch.isin(split.train[0] * width + split.train[1], target[0] * width + target[1])
    if bool(foreign.any()):
        user, item = split.train[:, foreign][:, 0].tolist()
        log.warning(
            "--split %s: %d of the %d pairs of train.tsv are no interaction of the graph (the "
            "first: user %r, item %r): split files of other data, or of another version of it? "
            "They are trained on as train.tsv says; make the split again from this data",
            directory,
            int(foreign.sum()),
            split.train.size(1),
            maps.users[user],
            maps.item_ids[item],
        )
    if split.train_fraction < 1:
        return
    held = torch.cat([split.train, split.valid, split.test], dim=1)
    missing = ~torch.isin(target[0] * width + target[1], held[0] * width + held[1])
    if not bool(missing.any()):
        return
    items = int((data["item"].domain == split.target_domain).sum())
    named = int(held[1].unique().numel())
    log.warning(
        "--split %s: %d of the %d interactions the graph has in the target domain %r are in "
        "none of train.tsv, valid.tsv and test.tsv: they are neither trained on nor masked, and "
        "all %d of its items are ranked (the split files name %d). If the split holds a part of "
        "the data (one genre, say), read the data into the split's domains with --domain-rule",
        directory,
        int(missing.sum()),
        target.size(1),
        maps.domains[split.target_domain],
        items,
        named,
    )


def _reduce_train(split: Split, fraction: float, *, seed: int) -> Split:
    """:func:`kgrec.data.split.reduce_train`, saying (a warning) on a split with item groups
    how many target items with a held-out interaction it left with no training interaction:
    the model never sees them, and they are neither new items (the split's, which
    ``new-items`` and ``new-only`` count) nor warm ones; ``all`` alone counts them."""
    reduced = reduce_train(split, fraction, seed=seed)
    if split.item_groups:
        held_out = torch.cat([split.valid[1], split.test[1]])
        lost = split.train[1][~torch.isin(split.train[1], reduced.train[1])].unique()
        lost = lost[torch.isin(lost, held_out)]
        if lost.numel():
            log.warning(
                "--train-fraction %s dropped every training interaction of %d target item(s) "
                "with held-out interactions: the model never sees them, and they are neither "
                "new items (the split's %d, which the new-item groups count) nor warm items; "
                "only the group all counts them",
                fraction,
                lost.numel(),
                reduced.new_item_indices().numel(),
            )
    return reduced


def check_protocol_or_split(protocol: str | None, split: str | Path | None) -> None:
    """:class:`InputError` when both ``protocol`` and split files (``split``) are given (the
    Python API; the command line takes one): the split files would be read and the protocol
    ignored, while run.json recorded both."""
    if protocol is not None and split is not None:
        raise InputError(
            f"give a protocol ({protocol!r}) or split files ({str(split)!r}), not both: split "
            "files hold their own split, and the protocol would be ignored",
            field="--split",
        )


def check_cold_shares(
    protocol: str | None,
    split: str | Path | None,
    valid: float | None,
    test: float | None,
    new_items: float | None = None,
) -> None:
    """:class:`InputError` unless the shares of cold-start users and new items (None: the
    protocol's) suit ``protocol``; split files (``split``) hold their own."""
    if valid is None and test is None and new_items is None:
        return
    if split is not None:
        option = (
            "--cold-valid-share"
            if valid is not None
            else "--cold-test-share"
            if test is not None
            else "--new-item-share"
        )
        raise InputError(
            f"{option} draws a protocol's cold-start users or new items; split files (--split) "
            "already hold theirs",
            field=option,
        )
    if protocol is not None:
        with_new_item_share(with_cold_shares(get_protocol(protocol), valid, test), new_items)


def check_source(protocol: str | None, split: str | Path | None, source: str | None) -> None:
    """:class:`InputError` unless ``source`` (``--source-domain``; None: the protocol's) suits
    ``protocol``; split files (``split``) hold their cold-start users already."""
    if source is None:
        return
    if split is not None:
        raise InputError(
            "--source-domain chooses whose users a protocol draws its cold-start users among; "
            "split files (--split) already hold theirs",
            field="--source-domain",
        )
    if protocol is not None:
        check_source_domain(get_protocol(protocol), source)


def check_domain_source(data: Path | None, domain: str | None, domain_rule: str | None) -> None:
    """``domain`` and ``domain_rule`` put the items of ``data`` files into domains: a store's
    items have theirs already (given with one, they were recorded and did nothing)."""
    if data is None and (domain is not None or domain_rule is not None):
        raise InputError(
            "--domain and --domain-rule read --data files into domains; a store's items are "
            "in the domains they were loaded into",
            field="--domain" if domain is not None else "--domain-rule",
        )


def effective_domain(
    data: Path | None, domain: str | None, domain_rule: str | None, split: str | Path | None
) -> str | None:
    """The domain to read ``data`` into: the one given, else (no rule given either) the one
    the split files (``split``) were made with."""
    if data is None or domain is not None or domain_rule is not None or split is None:
        return domain
    return recorded_domain(Path(split))


def effective_rule(
    protocol: str | None,
    data: Path | None,
    domain: str | None,
    domain_rule: str | None,
    split: str | Path | None = None,
) -> str | None:
    """The domain rule to read ``data`` with: the one given, else the protocol's, else the one
    the split files (``split``) were made with."""
    if data is None or domain is not None or domain_rule is not None:
        return domain_rule
    if protocol is not None:
        return get_protocol(protocol).domain_rule
    return recorded_rule(Path(split)) if split is not None else None


def describe(experiment: Experiment) -> str:
    """A few lines on the split: target domain, interactions, (cold-start) users and the
    few-shot users with their K."""
    split, maps = experiment.split, experiment.maps
    cold = split.cold_users(len(maps.users))
    lines = [f"target domain {maps.domains[split.target_domain]!r}"]
    if split.source_domain is not None:
        lines[0] += (
            f", source domain {maps.domains[split.source_domain]!r} (cold-start users drawn "
            "among the users of both)"
        )
    for name in ("train", "valid", "test"):
        pairs = getattr(split, name)
        users = pairs[0].unique()
        lines.append(
            f"{name:5s} {pairs.size(1):8d} interactions  {users.numel():6d} users "
            f"({int(cold[users].sum())} cold)"
        )
    if split.few_shot_users.numel():  # no longer cold: say who they are and their K
        k = "not recorded" if split.few_shot is None else split.few_shot
        lines.append(
            f"few-shot {split.few_shot_users.numel():6d} users, K = {k} (cold-start users that "
            "gave min(K, n - 1) of their n held-out target interactions to train)"
        )
    return "\n".join(lines)


def save_experiment(experiment: Experiment, path: Path) -> None:
    """The experiment as plain tensors and strings (loadable with ``weights_only``)."""
    split = experiment.split
    payload = {
        "data": experiment.data.to_dict(),
        "maps": asdict(experiment.maps),
        "split": {
            "target_domain": split.target_domain,
            "train": split.train,
            "valid": split.valid,
            "test": split.test,
            "item_groups": split.item_groups,
            "few_shot_users": split.few_shot_users,
            "source_domain": split.source_domain,
            # the new items as the split made them (None: those of its parts; older runs)
            "fixed_new_items": split.fixed_new_items,
            # the K describe() names on --resume, and train's thinning (older runs: none)
            "few_shot": split.few_shot,
            "train_fraction": split.train_fraction,
        },
    }
    if experiment.titles is not None:  # (an older kgrec reads the file, ignoring them)
        payload["titles"] = experiment.titles
    write_atomic(path, lambda tmp: save_torch(payload, tmp))


def read_experiment(path: Path) -> Experiment:
    # (before torch.load: importing PyG registers its classes as safe to load)
    from torch_geometric.data import HeteroData

    try:
        payload = torch.load(path, weights_only=True)
        maps = IdMaps(**{key: tuple(value) for key, value in payload["maps"].items()})
        data, split = HeteroData.from_dict(payload["data"]), Split(**payload["split"])
    except (OSError, RuntimeError, KeyError, TypeError, EOFError, pickle.UnpicklingError) as exc:
        raise InputError(
            f"the run's experiment cannot be read ({load_error(exc)})", file=str(path)
        ) from None
    titles = payload.get("titles")  # (none in a run of a kgrec before session 45)
    if titles is not None:
        if not isinstance(titles, tuple | list) or len(titles) != len(maps.items):
            raise InputError(
                "the run's experiment cannot be read (its item titles are not one for each of "
                f"its {len(maps.items)} items: damaged); train the run again",
                file=str(path),
            )
        titles = tuple(t if isinstance(t, str) else "" for t in titles)
    return Experiment(data, maps, split, titles=titles)


def split_digest(experiment: Experiment) -> str:
    """A digest of what a run's figures depend on: its split (train, valid and test
    interactions, few-shot users, new items and how they were drawn) and the user and item
    ids its indices stand for. run.json records it (``split_digest``) and reading the run's
    experiment.pt checks it (:func:`_read_run_experiment`): another run's, copied over, may
    have the same users and items and another split."""
    split, maps = experiment.split, experiment.maps
    digest = hashlib.sha256()
    scalars = {
        "users": maps.users,
        "items": maps.items,
        "target_domain": split.target_domain,
        "source_domain": split.source_domain,
        "item_groups": split.item_groups,
        "few_shot": split.few_shot,
        "train_fraction": split.train_fraction,
    }
    digest.update(json.dumps(scalars, sort_keys=True).encode())
    for name in ("train", "valid", "test", "few_shot_users", "fixed_new_items"):
        value = getattr(split, name)
        if value is None:
            digest.update(f"{name}:none;".encode())
            continue
        value = value.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.numpy().tobytes())
    return digest.hexdigest()[:16]


def _read_run_experiment(folder: Path, info: Mapping[str, Any], option: str = "") -> Experiment:
    """The experiment.pt of the run in ``folder`` (run.json ``info``), refused if its split is
    not the one run.json records (a run of an older kgrec records none: read as it is)."""
    path = folder / EXPERIMENT_FILE
    experiment = read_experiment(path)
    recorded = info.get(SPLIT_DIGEST)
    if recorded is None:
        return experiment
    if not isinstance(recorded, str):
        raise InputError(
            f"{option}run.json is damaged: its split_digest is no digest ({recorded!r}); train "
            "the run again",
            file=str(folder / RUN_FILE),
            field=SPLIT_DIGEST,
        )
    found = split_digest(experiment)
    if found != recorded:
        raise InputError(
            f"{option}experiment.pt holds another split than the run was trained on (its "
            f"split_digest is {found}, {folder / RUN_FILE} records {recorded}): another run's, "
            "copied over, or damaged; put the run's own experiment.pt back, or train the run "
            "again",
            file=str(path),
        )
    return experiment


def build_run(
    experiment: Experiment, settings: dict[str, Any]
) -> tuple[GraphRecommender, Data, torch.Tensor]:
    """(model, message graph, training pairs) of a run on ``experiment``: ``settings`` are
    :func:`train`'s arguments (``model``, ``seed`` and the options the model's
    :class:`ModelSpec` names; missing ones take :func:`train`'s defaults)."""
    spec = model_spec(settings["model"])
    pairs = experiment.split.training_interactions(experiment.data, all_domains=spec.all_domains)
    graph = message_graph(experiment.data, interactions=pairs, knowledge=spec.knowledge)
    torch.manual_seed(settings.get("seed", TRAIN_DEFAULTS["seed"]))
    options = {name: settings.get(name, TRAIN_DEFAULTS[name]) for name in spec.options}
    if "layers" in spec.options:
        _check_layer_outputs(options["layers"], options["dim"], graph.num_users + graph.num_items)
    return spec.build(graph, **options), graph, pairs


class _LayerOutputsTooLarge(MemoryError):
    """:func:`_check_layer_outputs`' refusal; :func:`model_memory` names ``--layers``.
    ``need``: the bytes the layer outputs need."""

    def __init__(self, message: str, need: int) -> None:
        super().__init__(message)
        self.need = need


# more memory than any machine has (an exbibyte): a saved run that needs it is damaged
_BEYOND_ANY_MACHINE = 2**60


def _machine_memory() -> int:
    """This machine's memory (RAM), in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_sizes_fit(settings: Mapping[str, Any]) -> None:
    """An :class:`InputError` for a ``--dim``, ``--num-negatives`` or ``--text-cl-neighbours``
    whose tensors cannot fit in this machine's memory whatever the data, refused before any
    data is read (``10**12`` negatives were refused only after it, by :func:`model_memory`,
    which still names the sizes that fail with the data's numbers of users and items): a
    model gives one user and one item ``dim`` float32 each, the softmax objective draws
    ``num_negatives`` int64 item indices per batch (on the CPU, whatever the device), and the
    text-neighbour term keeps ``text_cl_neighbours`` int64 item indices per item.
    ``settings`` as :func:`check_settings` takes them, checked by it first. Not one of its checks: a
    ``kgrec tune`` trial too large for memory fails and the tune goes on."""
    settings = {**TRAIN_DEFAULTS, **settings}
    spec = model_spec(settings["model"])
    memory = _machine_memory()
    dim = int(settings["dim"])
    if "dim" in spec.options and 2 * dim * 4 > memory:
        raise InputError(
            f"the model's parameters do not fit in memory (--dim {dim} gives every user and "
            f"item {dim} floats: {8 * dim} bytes for one user and one item alone, more than "
            f"this machine's {memory} bytes); lower --dim {dim}",
            field="--dim",
        )
    neighbours = int(settings["text_cl_neighbours"])
    if settings["text_cl_weight"] and neighbours * 8 > memory:
        raise InputError(
            f"training does not fit in memory (--text-cl-neighbours {neighbours} keeps "
            f"{neighbours} item indices for every item: {8 * neighbours} bytes for one item "
            f"alone, more than this machine's {memory} bytes); lower --text-cl-neighbours "
            f"{neighbours}",
            field="--text-cl-neighbours",
        )
    negatives = int(settings["num_negatives"])
    if negatives * 8 > memory:
        raise InputError(
            f"training does not fit in memory (--num-negatives {negatives} draws {negatives} "
            f"items per batch: {8 * negatives} bytes of item indices alone, more than this "
            f"machine's {memory} bytes); lower --num-negatives {negatives}",
            field="--num-negatives",
        )


def _check_layer_outputs(layers: int, dim: int, nodes: int) -> None:
    """Raise :class:`_LayerOutputsTooLarge` when ``layers`` propagation layers cannot be run on
    this machine: a propagating model keeps every layer's output over the whole graph (at least
    its ``nodes`` users and items, ``dim`` float32 each) to average them, so ``layers + 1``
    outputs must fit in its memory. Checked before the model is built: its per-layer modules
    are made one by one in Python, and a count such as 10^9 ran for hours, memory growing, with
    no allocation large enough to fail. A ``dim`` too large for one output is left to the
    allocation of the embedding table (:func:`model_memory` names ``--dim``)."""
    memory = _machine_memory()
    one = nodes * dim * 4
    need = (layers + 1) * one
    if one <= memory < need:
        raise _LayerOutputsTooLarge(
            f"{layers + 1} layer outputs of {nodes} nodes x {dim} floats need "
            f"{need} bytes, more than this machine's {memory} bytes of memory",
            need,
        )


# torch's errors for a size beyond what a tensor can have: a size beyond int64 ("Overflow when
# unpacking long"), or sizes whose product in bytes is ("Storage size calculation overflowed",
# e.g. nodes x --dim x 4 past 2**63)
_BEYOND_A_TENSOR = ("Overflow when unpacking long", "Storage size calculation overflowed")


def _beyond_a_tensor(text: str) -> bool:
    return any(says in text for says in _BEYOND_A_TENSOR)


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` reports an allocation that failed, on the CPU or a GPU (Python's
    MemoryError, torch's OutOfMemoryError, or an allocator's RuntimeError), or a size beyond
    what a tensor can have (torch's "Overflow when unpacking long" or "Storage size
    calculation overflowed", a TypeError or RuntimeError: e.g. a ``--dim`` or
    ``--num-negatives`` beyond int64, or a ``--dim`` whose table's bytes are): the test of
    :func:`model_memory`, and of ``kgrec tune`` for a trial that fails so while it trains."""
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return True
    if not isinstance(exc, RuntimeError | TypeError):
        return False
    text = str(exc)
    return (
        _beyond_a_tensor(text)
        or "DefaultCPUAllocator" in text  # "can't allocate memory" or "not enough memory"
        or "can't allocate memory" in text
        or "out of memory" in text.lower()  # a GPU's, as a plain RuntimeError (MPS)
    )


@contextlib.contextmanager
def model_memory(
    settings: Mapping[str, Any],
    *,
    training: bool = False,
    run: Path | None = None,
    device: torch.device | None = None,
    what: str | None = None,
) -> Iterator[None]:
    """Turn a failure to allocate a model's parameters (on the CPU or a GPU, or a size beyond
    what a tensor can have) into an :class:`InputError` naming the sizes that decide them
    (``--dim``, and ``--text-hidden`` where the run has a text MLP): ``kgrec train``'s; a
    ``kgrec tune`` trial fails with it (on every rank) and the tune goes on. With ``training``, a
    failure while training: the error names the batch's sizes first (``--num-negatives``
    where the run draws extra negatives, ``--batch-size``), then ``--dim``. With ``run`` (the
    folder of a saved run whose model is rebuilt from its ``settings``: :func:`load_run`), the
    error names that run's ``run.json`` and the sizes it was trained with, which cannot be
    lowered: it needs a machine with more memory (``what``: another part of the run rebuilt,
    its content student, named with its own sizes instead of the model and its); a size
    beyond what a tensor can have says run.json is damaged (no machine has that memory); with
    ``device`` (a GPU the rebuilt model is moved to), a failure there advises ``--device cpu``
    or a GPU with more memory."""
    try:
        yield
    except (MemoryError, RuntimeError, TypeError) as exc:
        text = str(exc)
        allocation = out_of_memory(exc)  # (a _LayerOutputsTooLarge is a MemoryError)
        if run is not None and allocation:
            sizes = {
                name: settings.get(name, TRAIN_DEFAULTS[name])
                for name in ("dim", "layers", "text_hidden")
                if name in model_spec(settings["model"]).options
                and (name != "text_hidden" or settings.get("text_input", "none") != "none")
            }
            trained = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in sizes.items())
            what = what or (
                f"the run's model ({settings['model']}, trained with {trained or 'its settings'})"
            )
            first = text.splitlines()[0][:300] if text else type(exc).__name__
            if (
                isinstance(exc, _LayerOutputsTooLarge) and exc.need > _BEYOND_ANY_MACHINE
            ):  # e.g. --layers 2**70: no machine has the memory
                says = (
                    f"{what} needs more memory than any machine has ({first}): run.json looks "
                    "damaged (edited?) or its sizes impossible"
                )
            elif _beyond_a_tensor(text):
                says = (
                    f"{what} asks for a size beyond what a tensor can have ({first}): run.json "
                    "is damaged (edited?) or its sizes impossible"
                )
            elif device is not None and device.type != "cpu":
                says = (
                    f"{what} does not fit in the memory of {device} ({first}): load it with "
                    "--device cpu, or on a GPU with more memory"
                )
            else:
                says = (
                    f"{what} does not fit in this machine's memory ({first}): load it on a "
                    "machine with more memory"
                )
            raise InputError(says, file=str(run / RUN_FILE)) from None
        if isinstance(exc, _LayerOutputsTooLarge):
            layers = settings.get("layers", TRAIN_DEFAULTS["layers"])
            dim = settings.get("dim", TRAIN_DEFAULTS["dim"])
            raise InputError(
                f"the model's propagation layers do not fit in memory ({text}); lower "
                f"--layers {layers} or --dim {dim}",
                field="--layers",
            ) from None
        if not allocation:
            raise
        sizes = {"--dim": settings.get("dim", TRAIN_DEFAULTS["dim"])}
        if settings.get("text_input", "none") != "none":
            sizes["--text-hidden"] = settings.get("text_hidden", TRAIN_DEFAULTS["text_hidden"])
        what = "the model's parameters do not fit in memory"
        if training:
            batch = {"--batch-size": settings.get("batch_size", TRAIN_DEFAULTS["batch_size"])}
            if settings.get("num_negatives"):
                batch = {"--num-negatives": settings["num_negatives"], **batch}
            sizes = batch | sizes
            what = "training does not fit in memory"
        asked = re.search(r"allocate (\d+ bytes|[\d.]+ [KMGT]iB)", text, re.IGNORECASE)
        why = f"a tensor of {asked.group(1)} was asked for" if asked else "too large a size"
        lower = " or ".join(f"{name} {value}" for name, value in sizes.items())
        raise InputError(f"{what} ({why}); lower {lower}", field=next(iter(sizes))) from None


def graph_on_device(
    graph: Data, device: torch.device, settings: Mapping[str, Any], *, run: Path | None = None
) -> Data:
    """:func:`~kgrec.train.on_device`, with a failure to allocate the graph's message edges on
    ``device`` (a GPU they do not fit in beside the model) as an :class:`InputError` naming
    their number and the device, as :func:`model_memory` names the model's sizes; with ``run``
    (a saved run :func:`load_run` moves), naming its ``run.json``. Their size is the data's:
    ``--dim`` only leaves them more room."""
    try:
        return on_device(graph, device)
    except (MemoryError, RuntimeError, TypeError) as exc:
        if not out_of_memory(exc):
            raise
        text = str(exc)
        first = text.splitlines()[0][:300] if text else type(exc).__name__
        edges = f"{graph.edge_index.shape[1]:,}"
        gpu = device.type != "cpu"
        where = f"the memory of {device}" if gpu else "this machine's memory"
        says = f"the graph's {edges} message edges do not fit in {where} beside the model ({first})"
        if run is not None:
            advice = (
                "load the run with --device cpu, or on a GPU with more memory"
                if gpu
                else "load the run on a machine with more memory"
            )
            raise InputError(f"{says}: {advice}", file=str(run / RUN_FILE)) from None
        dim = settings.get("dim", TRAIN_DEFAULTS["dim"])
        advice = (
            "train with --device cpu, or on a GPU with more memory"
            if gpu
            else "train on a machine with more memory"
        )
        advice += f" (a lower --dim {dim} leaves them more room)"
        raise InputError(f"{says}: {advice}", field="--device") from None


# -- runs ----------------------------------------------------------------------------------


def weights_digest(digest: Any) -> str:
    """The digest a run's vectors are published with (:meth:`Run._weights_digest`), of a
    ``hashlib.sha256()`` fed the bytes of its model.pt, then of its student.pt where it has
    one."""
    return digest.hexdigest()[:16]


def _hash_file(digest: Any, path: Path) -> None:
    """Feed ``digest`` the bytes of the file ``path``, a MiB at a time (a model's file is
    never held whole for it)."""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)


@dataclass
class Run:
    """A trained run: its folder, settings, experiment, best model and message graph."""

    folder: Path
    info: dict[str, Any]  # run.json
    experiment: Experiment
    model: GraphRecommender
    graph: Data
    # the digest of the model files ``model``'s weights were read from (load_run) or written
    # to (train), taken then (_weights_digest): before, model.pt was hashed when a publish
    # asked, and after a kgrec train --resume of the folder it was the new model's
    weights: str | None = None

    def __post_init__(self) -> None:
        # the folder as it was when the run was read: before, a relative one (load_run("."))
        # was read again from the working folder of the moment, so after os.chdir (a
        # notebook's %cd) the run took that folder's name (the run column of recommend) and
        # publish recorded the digest of no model file, silently
        self.folder = Path(self.folder).absolute()

    @property
    def name(self) -> str:
        return self.folder.resolve().name

    @property
    def settings(self) -> dict[str, Any]:
        """The keyword arguments of :func:`train` this run was trained with."""
        return self.info["settings"]

    def evaluate(self) -> dict:
        """Valid and test metrics (all, warm and cold-start users), one forward pass."""
        with self._named(self.experiment.maps.users):
            return evaluate(self.model, self.graph, self.experiment.split, PHASES)

    @contextlib.contextmanager
    def _named(self, user_ids: Sequence[str]) -> Iterator[None]:
        """A :class:`~kgrec.ranking.NaNScores` of a ranking within (its users: rows of
        ``user_ids``) raised again naming the run, its model file and the users by id."""
        try:
            yield
        except NaNScores as exc:
            raise NaNScores([user_ids[u] for u in exc.users], **self._nan_source) from None

    @property
    def _nan_source(self) -> dict[str, str]:
        """What a :class:`~kgrec.ranking.NaNScores` names as its source: the run, its model."""
        run = f"{self.name!r} ({self.info['model']})"
        return {"run": run, "file": str(self.folder / MODEL_FILE)}

    def metrics(self) -> pd.DataFrame:
        """:meth:`evaluate` as a DataFrame: one row per phase and user group."""
        return metrics_frame(self.evaluate())

    def plot(self, path: str | Path, *, force: bool = False) -> Path:
        """Draw the run's training curve (``kgrec evaluate --plot``) into ``path``, its format
        by its suffix (``.png``, ``.svg``, ``.pdf``, ...): the training loss and validation
        NDCG@20 by epoch, the best epoch marked, the epochs before a resume shaded. The folder
        must exist; an existing file is replaced only with ``force``; a run with no history
        (a model that trains nothing by gradient, a run of an older kgrec) is an InputError
        naming it. Nothing is scored: this reads run.json's ``training.history``."""
        return training_curve(
            self.info, path, name=self.name, force=force, source=str(self.folder / RUN_FILE)
        )

    def recommend(
        self,
        k: int = 20,
        *,
        users: Sequence[str] | None = None,
        name: str | None = None,
        store: str | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` target-domain items per user (all users, or ``users`` by id), never an
        item the user already has (so fewer than ``k`` rows for a user with fewer items left
        to rank): the RECOMMENDATIONS table (user_id, item_uid, score, rank,
        model, run). What a user has is read from the run's store when it has one, so the
        items a user rated after training (and their valid and test items) are left out too,
        and so are the pairs of the run's split (split files may hold pairs the graph does not).
        A user loaded into the run's store after training is folded in from their
        interactions with the run's items (the model's
        :meth:`~kgrec.models.GraphRecommender.fold_in`, the model frozen; one that gives NaN
        while the model's own scores are finite is a :class:`~kgrec.ranking.FoldInNaN`
        naming them and why, not a diverged model's :class:`~kgrec.ranking.NaNScores`). A
        run that serves new items by a content student (``cold_items``
        ``student``/``student-kg``) also ranks the target-domain items loaded into its store
        after training that have a text vector, from that text and their year and genres in
        the store (:meth:`kgrec.cold_items.StudentItems.embed_new_items`); other runs
        recommend only the items they were trained with. A run's user with no training
        interaction (in the target domain, for a model of it alone) and nothing in the store
        to fold them in from (no interaction there with an item the run learnt, or no store:
        a run trained from files), whose embedding learnt nothing, gets the most popular
        target-domain items of the run's training data (scored by their number of training
        interactions), with a warning. ``store`` (default: the run's) is the store read."""
        # before: a blank name (or a number) was the table's run column, silently
        name = self._name_argument(name)
        with self._store(store) as source:
            if source is not None:
                # before: a store of another graph was read for what users have and newcomers,
                # silently (users' items rated after training recommended, fold-ins lost); the
                # run's own store too, loaded with another graph since training, as a publish
                # into it is refused
                self._check_holds_items(
                    source,
                    source.uri if store is None else store,
                    "name the store the run was trained on, or none"
                    if store is not None
                    else self._reloaded_advice(),
                )
            return self._ranking(k, users=users, name=name, source=source, field="--show").table

    def item_titles(self, uids: Sequence[str], *, store: str | None = None) -> list[str] | None:
        """The title of each item of ``uids`` (a :meth:`recommend` table's ``item_uid``), ``""``
        for an item without one: the run's items' as its graph held them at training
        (experiment.pt), items loaded after training (a content student ranks them) read in
        one ``items`` read of ``store`` (default: the run's; none, a run trained from files:
        ``""``). A run of a kgrec before session 45 saved no titles: every item's is read so,
        and without a store the result is None."""
        uids = id_arguments(uids, "items")  # (a bare uid is refused, not read letter by letter)
        titles = self.experiment.titles
        if titles is None:
            found, late = [""] * len(uids), list(dict.fromkeys(uids))
        else:
            index = self.experiment.maps.item_index(uids)
            found = ["" if i < 0 else titles[i] for i in index]
            late = list(dict.fromkeys(u for u, i in zip(uids, index, strict=True) if i < 0))
        if late:
            with self._store(store) as source:
                if source is None:
                    return None if titles is None else found
                stored = dict(zip(late, item_titles(source.items(late), late), strict=True))
                found = [stored.get(u, t) for u, t in zip(uids, found, strict=True)]
        return found

    def _name_argument(self, name: Any) -> str | None:
        """``name`` (the run name of a table or a publish's edges) stripped; an InputError in
        field ``--name`` for one that is not text, is blank or is one the stores keep."""
        from kgrec.store.canonical import check_run_name, given_run_name

        if name is None:
            check_run_name(self.name, field="--name")
            return None
        return given_run_name(name, field="--name")  # never blank (a blank one was published)

    def publish(
        self,
        store: str | None = None,
        *,
        k: int = 20,
        name: str | None = None,
        vectors: bool = True,
        users: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Write every user's top ``k`` into ``store`` (default: the run's store), replacing
        this run's earlier recommendations there, and with ``vectors`` the model's user and
        item embeddings as :data:`VECTOR_PROPERTY` (vector-indexed in Neo4j; not for a model
        whose embeddings are catalogue-sized rows, such as EASE), in place of every vector
        stored there (another run's, newcomers' of an earlier publish; of any size), but none
        for a user served the most popular items (:meth:`recommend`: their embedding learnt
        nothing), whose earlier one goes. With ``users``, only theirs (newcomers folded in, see
        :meth:`recommend`; the same for a user served the most popular items), the others'
        left as they are, and their vectors and those of items loaded after training beside the
        stored ones (of the same size, the items padded to the stored items' norm, none longer:
        checked before anything is written). The store records which run its vectors are
        (:meth:`~kgrec.store.base.GraphStore.vector_run`: the run's name, a digest of its
        trained model, the items' norm): a publish for some users beside vectors of another
        run, or of no recorded run (published before session 29), is refused before anything
        is written. Newcomers, items loaded after training and what users already have are
        read from ``store``. Returns the table written."""
        from kgrec.store.canonical import check_publish_not_text

        # an empty store given is open_store's error, not the run's store
        given, store = store, self.settings.get("store") if store is None else store
        if store is None:
            raise InputError(
                "the run was trained from files; name a store to publish into (--store; "
                "store= in Python)"
            )
        name = self._name_argument(name)  # before the ranking, not after
        with self._store(given) as opened:
            opened.check()  # a wrong or unreachable store fails before the ranking, not after
            # (a missing local store: "no store at ...")
            self._check_holds_items(opened, store, "publish into the store the run was trained on")
            ranking = self._ranking(k, users=users, name=name, source=opened, field="--user")
            unserved = set(ranking.unserved)
            published = {}  # kind -> keys and vectors
            late: list[int] = []  # (some users': the rows of items loaded after training)
            if vectors and self.model.publishes_vectors:
                item_norm = largest_norm(ranking.item_emb)  # every item vector's, recorded
                user_vectors, item_vectors = inner_product_vectors(
                    ranking.user_emb, ranking.item_emb, norm=item_norm
                )
                # an unserved user's embedding learnt nothing: no vector (and the store
                # removes an earlier one of theirs: a vector query would find noise)
                served = [n for n, user in enumerate(ranking.user_ids) if user not in unserved]
                published["User"] = (
                    [ranking.user_ids[n] for n in served],
                    user_vectors[served],
                )
                if users is None:
                    published["Item"] = (ranking.item_ids, item_vectors)
                else:  # items loaded after training: their vectors go with the users'
                    known = set(self.experiment.maps.items)
                    late = [i for i, uid in enumerate(ranking.item_ids) if uid not in known]
                    if late:
                        published["Item"] = (
                            [ranking.item_ids[i] for i in late],
                            item_vectors[late],
                        )
            # no load or embed changes the graph while the edges and vectors are checked and
            # written (Neo4j: refused, before anything is written, while one holds the lock)
            with opened.load_lock():
                if published:  # a user's text vectors (kgrec embed): never replaced
                    text = opened.vector_model(VECTOR_PROPERTY)
                    check_publish_not_text(store, VECTOR_PROPERTY, text, field="--store")
                else:
                    self._warn_of_vectors_left(opened, name or self.name)
                # which run the vectors are (before their dimension: another run's may
                # have another): a whole run's replace all, so they are its own;
                # some users' join the stored ones, which must be this run's
                record = None
                if published:
                    record = {"run": name or self.name, "weights": self._weights_digest()}
                    if len(ranking.item_ids):  # the norm every published item vector has
                        record["item_norm"] = item_norm
                    if users is not None:
                        record = self._join_vectors(opened, record)
                for kind, (_, rows) in published.items():  # before any edge is written
                    opened.check_vectors(
                        kind,
                        VECTOR_PROPERTY,
                        None if users is None else rows.shape[1],
                        remedy="publish the whole run first (without users), or without vectors",
                    )
                if late and "Item" in published:  # padded as the stored items are
                    keys, rows = published["Item"]
                    norm = (record or opened.vector_run(VECTOR_PROPERTY) or {}).get("item_norm")
                    published["Item"] = (
                        keys,
                        self._late_item_vectors(opened, ranking, late, rows, norm=norm),
                    )
                # the vectors go with the edges, one change: a whole run's in place of all
                # others, some users' (and late items') beside them
                opened.publish(
                    ranking.table,
                    run=name or self.name,
                    users=None if users is None else list(users),
                    vectors=published or None,
                    property=VECTOR_PROPERTY,
                    run_record=record,
                )
        return ranking.table

    def _weights_digest(self) -> str:
        """A digest of the run's trained model (model.pt, and student.pt where it has one):
        what tells two runs' vectors apart, whatever their names. That of the files the
        model in memory was read from or written to (:attr:`weights`); a Run made otherwise
        hashes the folder's files now."""
        if self.weights is not None:
            return self.weights
        digest = hashlib.sha256()
        for name in (MODEL_FILE, STUDENT_FILE):
            path = self.folder / name
            try:
                _hash_file(digest, path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise InputError(f"cannot read the run's model: {exc}", file=str(path)) from None
        return weights_digest(digest)

    def _join_vectors(self, opened: GraphStore, mine: dict[str, Any]) -> dict[str, Any] | None:
        """Before a publish for some users writes their vectors beside ``opened``'s: None
        when the stored vectors are this run's (record ``mine``, as a whole publish of it
        would record it), ``mine`` when there are none (theirs are the first); an InputError
        when they are another run's, or no recorded run's (published before session 29, or
        written by other means): beside them the vector index would rank users of one run
        against items of another."""
        from kgrec.store import redact

        held = [
            kind
            for kind in ("User", "Item")
            if opened.vector_dimension(kind, property=VECTOR_PROPERTY) is not None
        ]
        if not held:
            return mine
        stored = opened.vector_run(VECTOR_PROPERTY)
        if stored is not None and (
            stored.get("weights") == mine["weights"]
            if stored.get("weights") is not None
            else stored["run"] == mine["run"]
        ):
            return None
        where = f"{redact(opened.uri)} holds the vectors {VECTOR_PROPERTY!r}"
        if stored is None:
            whose = (
                f"{where} with no record of the run they are of (published before session 29, "
                "or written by other means), so they may be another run's"
            )
        elif stored["run"] == mine["run"]:
            whose = (
                f"{where} of another run named {stored['run']!r} (another trained model than "
                f"{self.folder}'s)"
            )
        else:
            whose = f"{where} of run {stored['run']!r}"
        raise InputError(
            f"{whose}, not of run {mine['run']!r} ({self.folder}): its users' vectors beside "
            "them would lie in another space than the items', and the vector index would rank "
            f"them wrongly. Nothing was written: publish run {mine['run']!r} whole first "
            "(kgrec recommend without --user), which replaces every vector, then its users; "
            "or publish with --no-vectors",
            field="--user",
        )

    def _warn_of_vectors_left(self, opened: GraphStore, run: str) -> None:
        """A WARNING where a publish without vectors leaves another model's published vectors
        in the store: a vector query there finds that model's neighbours, not those of the
        recommendations just published (nor the users it now serves the most popular items)."""
        from kgrec.store import redact

        stored = opened.vector_run(VECTOR_PROPERTY)
        if stored is None:
            # vectors that record no run: an older kgrec's publish (before session 29), not a
            # text model's (vector_model), are as much another model's
            held = any(
                opened.vector_dimension(kind, property=VECTOR_PROPERTY) is not None
                for kind in ("User", "Item")
            )
            if not held or opened.vector_model(VECTOR_PROPERTY) is not None:
                return
            whose = "no recorded run (published before session 29, or written by other means)"
        elif stored["run"] == run and stored.get("weights") == self._weights_digest():
            return
        else:
            whose = "another trained model" if stored["run"] == run else f"run {stored['run']!r}"
        log.warning(
            "%s keeps the vectors %r of %s, published before; no vectors were published, so a "
            "vector query there still finds that model's neighbours, not run %r's. Publish "
            "the run with vectors to replace them",
            redact(opened.uri),
            VECTOR_PROPERTY,
            whose,
            run,
        )

    def _late_item_vectors(
        self,
        opened: GraphStore,
        ranking: _Ranking,
        late: list[int],
        rows: np.ndarray,
        *,
        norm: float | None = None,
    ) -> np.ndarray:
        """The published vectors of items ``late`` (rows of ``ranking``, items loaded after
        training) that a publish for some users writes beside the stored item vectors: padded
        to the norm every stored one has (:func:`inner_product_vectors`), so that the index
        still ranks as the model does; ``rows`` (padded to the ranking's largest item norm)
        when none is stored. ``norm``: that norm as the store's record of the run holds it
        (else the stored item vectors are read for it). An InputError when one is longer
        than the stored ones."""
        from kgrec.store import redact

        if norm is None:  # not recorded: read from the stored vectors
            _, stored = opened.read_vectors("Item", property=VECTOR_PROPERTY)
            if not len(stored):
                return rows
            norm = float(np.linalg.norm(np.asarray(stored, dtype=np.float64), axis=1).max())
        try:
            return inner_product_vectors(ranking.user_emb[:0], ranking.item_emb[late], norm=norm)[1]
        except LongItemVector as exc:
            raise InputError(
                f"item {ranking.item_ids[late[exc.row]]} (loaded after training) has an "
                f"embedding of norm {exc.length:.6g}, longer than the item vectors "
                f"{VECTOR_PROPERTY!r} of {redact(opened.uri)} (norm {norm:.6g}): beside them "
                "the vector index would no longer rank as the model does. Publish the whole "
                "run (without --user), or with --no-vectors",
                field="--user",
            ) from None

    @contextlib.contextmanager
    def _store(self, uri: str | None = None) -> Iterator[GraphStore | None]:
        """The store ``uri`` (default: the run's), open; None for a run trained from files."""
        from kgrec.errors import StoreError
        from kgrec.store import open_store

        own = uri is None  # an empty uri given is open_store's error, not the run's store
        if own:
            uri = self.settings.get("store")
            if not uri:
                yield None
                return
        with open_store(uri) as opened:
            if own and not opened.holds_graph():
                # before: "no store at ...: load a graph into it first", which would serve
                # the run from another graph than its own
                raise StoreError(
                    f"the run's store {uri} (recorded in {self.folder / RUN_FILE}) holds no "
                    "store now: moved or deleted? Name where it is now with "
                    "--store (store= in Python)"
                )
            yield opened

    def _check_holds_items(self, opened: GraphStore, uri: str, advice: str) -> None:
        """An InputError in field ``--store`` (saying ``advice``) when the ``opened`` store
        ``uri`` does not hold the run's items: another graph's store, or one that holds part
        of the run's graph. Up to 100 items spread over the run's are looked for (all of
        them would read every item's vectors: a store's ``items`` gives whole rows)."""
        from kgrec.store import redact

        items = self.experiment.maps.items
        looked = list(dict.fromkeys([*items[:: max(1, len(items) // 100)], items[-1]]))
        missing = sorted(set(looked) - set(opened.items(looked)["uid"]))
        if missing:  # before, the first item alone was looked for
            raise InputError(
                f"{redact(uri)} does not hold the run's items (no {few(missing)}; "
                f"{len(missing)} of the {len(looked)} looked for): {advice}",
                field="--store",
            )

    def _reloaded_advice(self) -> str:
        """What :meth:`_check_holds_items` says of the run's own store."""
        return (
            f"it is the run's store (recorded in {self.folder / RUN_FILE}), loaded with another "
            "graph since training: name the store the run was trained on with --store (store= "
            "in Python)"
        )

    def explain(self, user: str, item: str, *, k: int = 5) -> pd.DataFrame:
        """The ``k`` best paths from ``user`` to ``item`` in the run's graph source (its store,
        refused where it holds another graph now)."""
        from kgrec.explain import check_k, explain

        k = check_k(k)  # (a numpy integer is its number; a bool is refused)
        user, item = id_argument(user, "user"), id_argument(item, "item")
        settings = self.settings
        with self._store() as opened:
            if opened is not None:
                # before: another graph's paths, or "unknown user", explained as the run's
                self._check_holds_items(opened, opened.uri, self._reloaded_advice())
                return opened.explain(user, item, k=k)
        tables, _, _ = read_graph(
            data=Path(settings["data"]),
            domain=settings.get("domain"),
            domain_rule=effective_rule(
                settings.get("protocol"),
                Path(settings["data"]),
                settings.get("domain"),
                settings.get("domain_rule"),
            ),
        )
        return explain(tables, user, item, k=k)

    def _ranking(
        self,
        k: int,
        *,
        users: Sequence[str] | None = None,
        name: str | None = None,
        source: GraphStore | None = None,
        field: str = "user",
    ) -> _Ranking:
        """The top ``k`` of every user, or of ``users``; newcomers, items loaded after training
        and what users already have are read from ``source`` (None: the training data's
        interactions are what users have). A run's user with no training interaction and
        nothing in ``source`` (or no ``source``) to fold them in from gets the run's most
        popular target-domain items. ``field``: the option that gave ``users`` (``--show``,
        ``--user``), which an error about one of them names. What it reads of ``source`` is
        read as one (:meth:`_read_source`)."""
        k = plain(k)  # a numpy integer (from pandas or numpy) is the number it holds
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise InputError(f"k must be a positive integer, got {k!r}", field="-k")
        if users is not None:
            # before: field 'user', neither the argument's option (--show, --user) nor its name
            users = id_arguments(users, field)
            if not users:
                raise InputError(
                    "users must be a list of user ids (or None: every user), got []",
                    field=field,
                )
        experiment = self.experiment
        maps = experiment.maps
        candidates = torch.nonzero(self.graph.item_domain == experiment.split.target_domain)
        candidates = candidates.flatten()
        user_emb, item_emb = embeddings(self.model, self.graph)
        user_ids = list(maps.users) if users is None else list(dict.fromkeys(users))
        # a run's user without a training interaction (in the domains the model trained on)
        # has an embedding that learnt nothing: folded in from their interactions in the
        # store, as a newcomer is (loaded before training, their interactions after it)
        untrained = self._untrained_users(users)
        view = self._read_source(source, None if users is None else user_ids, untrained)
        item_ids, new_emb = self._items_loaded_after_training(source, view.late)
        split = experiment.split
        # fold-in draws each positive's negatives from its domain's items, as training did;
        # a split's new items (never training negatives) that the run serves (a content
        # student, a text MLP) are positives a newcomer may have: of the target domain there,
        # as items loaded after training are
        domains = split.negative_domains(self.graph.item_domain.cpu())
        domains[(domains < 0) & learnt_items(self.model, self.graph)] = split.target_domain
        if new_emb is not None:
            candidates = torch.cat([candidates, item_emb.size(0) + torch.arange(len(new_emb))])
            item_emb = torch.cat([item_emb, new_emb.to(item_emb)])
            domains = torch.cat([domains, torch.full((len(new_emb),), split.target_domain)])
        # what users have: the graph's interactions and the split's pairs, which split files
        # (--split DIR) may hold without the graph holding them
        known = torch.cat(
            [experiment.data[INTERACTS].edge_index, split.train, split.valid, split.test], 1
        )
        newcomer_rows: dict[str, int] = {}
        fold_in = users is not None or (source is not None and len(untrained) > 0)
        if fold_in and user_emb.device.type != "cpu":
            user_emb, item_emb = user_emb.cpu(), item_emb.cpu()  # fold-in works on the CPU
        unserved: list[str] = []  # the run's users with nothing to rank them by
        failed: dict[str, str] = {}  # users whose fold-in gave NaN -> why
        from_fold_in: set[str] = set()  # users ranked from a fold-in, not from the trained model
        if len(untrained) and source is None:  # trained from files: no store to read
            unserved = [maps.users[i] for i in untrained.tolist()]
            _warn_unserved_users(unserved, all_domains=model_spec(self.info["model"]).all_domains)
        elif len(untrained):
            ids = [maps.users[i] for i in untrained.tolist()]
            histories, has = self._newcomer_histories(
                ids, source, item_ids, interactions=view.interactions, missing_ok=True
            )
            unserved = [user for user, h in zip(ids, histories, strict=True) if h is None]
            kept = [n for n, h in enumerate(histories) if h is not None]
            from_fold_in.update(ids[n] for n in kept)
            if kept:
                user_emb = user_emb.clone()
                user_emb[untrained[kept]] = self._fold_in(
                    [ids[n] for n in kept],
                    [histories[n] for n in kept],
                    [has[n] for n in kept],
                    item_emb,
                    item_ids,
                    domains,
                    failed,
                ).to(user_emb)
        if users is None:
            index = torch.arange(len(maps.users))
        else:
            found = torch.as_tensor(maps.user_index(user_ids), dtype=torch.long)
            newcomers = [user for user, i in zip(user_ids, found.tolist(), strict=True) if i < 0]
            if newcomers:
                histories, has = self._newcomer_histories(
                    newcomers, source, item_ids, interactions=view.interactions, field=field
                )
                rows = len(maps.users) + torch.arange(len(newcomers))
                found[found < 0] = rows
                newcomer_rows = dict(zip(newcomers, rows.tolist(), strict=True))
                from_fold_in.update(newcomers)
                folded = self._fold_in(
                    newcomers, histories, has, item_emb, item_ids, domains, failed
                )
                user_emb = torch.cat([user_emb, folded.to(user_emb)])
        if view.known is not None:
            known = torch.cat([known, _known_pairs(view.known, maps, item_ids, newcomer_rows)], 1)
        if users is not None:
            index = found
            user_emb = user_emb[index]
            known = _reindex(known, index, user_emb.size(0))
            index = torch.arange(len(user_ids))
        try:
            items, scores = rank(
                user_emb,
                item_emb,
                users=index,
                k=min(k, len(candidates)),
                candidates=candidates,
                known=known,
                progress=users is None,
            )
        except NaNScores as exc:
            diverged = [user_ids[u] for u in exc.users if user_ids[u] not in from_fold_in]
            # folded rows' NaN scores (alone: finite fold-ins so long their scores overflow)
            for u in exc.users:
                if user_ids[u] in from_fold_in:
                    norm = float(user_emb[u].double().norm())
                    failed[user_ids[u]] = (
                        f"their fold-in is finite but of norm {norm:.3g}: its scores overflow"
                    )
            if diverged:  # the trained model's own scores: the folded users named apart
                raise NaNScores(
                    diverged, folded=list(failed), causes=list(failed.values()), **self._nan_source
                ) from None
        if failed:  # the trained model's scores are finite: not diverged
            raise FoldInNaN(list(failed), list(failed.values()), **self._nan_source)
        # their embeddings learnt nothing: the run's most popular target-domain items, scored
        # by their number of training interactions (the popularity baseline's scores)
        unserved_set = set(unserved)
        popular = torch.tensor([n for n, u in enumerate(user_ids) if u in unserved_set]).long()
        if len(popular):
            counts = torch.bincount(split.train[1], minlength=item_emb.size(0)).float()
            items[popular], scores[popular] = rank(
                torch.ones(user_emb.size(0), 1),
                counts.unsqueeze(1),
                users=index[popular],
                k=min(k, len(candidates)),
                candidates=candidates,
                known=known,
            )
        table = recommendation_table(
            item_ids, user_ids, items, scores, model=self.info["model"], run=name or self.name
        )
        return _Ranking(table, user_ids, item_ids, user_emb.cpu(), item_emb.cpu(), unserved)

    def _fold_in(
        self,
        user_ids: list[str],
        histories: list[torch.Tensor],
        has: list[torch.Tensor],
        item_emb: torch.Tensor,
        item_ids: list[str],
        domains: torch.Tensor,
        failed: dict[str, str],
    ) -> torch.Tensor:
        """The model's fold-in of ``user_ids`` (their ``histories`` and the items they ``has``,
        rows of ``item_emb``, whose uids ``item_ids`` are). A user whose representation is not
        finite goes into ``failed`` with why (what in their history gave it, where it can be
        told) and gets zeros, so that a ranking's NaN tells the users the trained model itself
        scores NaN (a diverged model: the folded users named apart) from the folded ones alone
        (:class:`FoldInNaN`)."""
        folded = self.model.fold_in(item_emb, histories, domains=domains, exclude=has)
        bad = (~folded.isfinite()).any(1).nonzero().flatten().tolist()
        for n in bad:
            history = torch.as_tensor(histories[n], dtype=torch.long)
            broken = history[~item_emb[history].isfinite().all(1)].tolist()
            if broken:
                why = (
                    f"their history's item(s) {few(item_ids[i] for i in broken)} have "
                    "non-finite embeddings"
                )
            else:
                norm = float(item_emb[history].double().norm(dim=1).max())
                why = (
                    "the solve failed on their history's finite item embeddings (the longest "
                    f"of norm {norm:.3g}: scores of that size overflow)"
                )
            failed[user_ids[n]] = why
        if bad:
            folded = folded.clone()
            folded[bad] = 0.0
        return folded

    def _read_source(
        self,
        source: GraphStore | None,
        user_ids: list[str] | None,
        untrained: torch.Tensor,
    ) -> _SourceView:
        """What :meth:`_ranking` of ``user_ids`` (None: every user, the run's users
        ``untrained`` folded in) reads of ``source``, in several reads whose answers must
        agree (a load between two of them, of an item, its text vector and a newcomer's rating
        of it, gave the rating of an item the text vectors read had not seen), read as one
        (:meth:`~kgrec.store.base.GraphStore.read_as_one`: read again when a writer changed
        the store meanwhile). No store: an empty view."""
        if source is None:
            return _SourceView(self._late_items(None), None, None)
        maps = self.experiment.maps
        target = torch.nonzero(self.graph.item_domain.cpu() == self.experiment.split.target_domain)
        ranked = [maps.items[i] for i in target.flatten().tolist()]  # the run's items ranked
        untrained_ids = [maps.users[i] for i in untrained.tolist()]

        def read() -> _SourceView:
            late = self._late_items(source)
            if user_ids is not None:  # read once: what they have, and their fold-in histories
                pairs = source.user_interactions(user_ids)
                return _SourceView(late, pairs, pairs)
            histories = source.user_interactions(untrained_ids) if untrained_ids else None
            # every user's: those of the items ranked
            return _SourceView(late, histories, source.item_interactions([*ranked, *late.uids]))

        return source.read_as_one(read)

    def _late_items(self, source: GraphStore | None) -> _LateItems:
        """The target-domain items loaded into ``source`` after training that the run's content
        student embeds (those with a text vector), as :meth:`_items_loaded_after_training`
        reads them (none when the run has no student or no store)."""
        maps = self.experiment.maps
        if not isinstance(self.model, StudentItems) or source is None:
            return _LateItems([], np.zeros((0, 0), dtype=np.float32), None, 0)
        split = self.experiment.split
        target = maps.domains[split.target_domain]
        longer = [d for d in maps.domains if d != target and d.startswith(f"{target}:")]
        text, current = read_text_vectors(source, self.settings["text_property"], ["Item"])
        self._check_text_model(source, current)  # the record of the vectors read
        keys, vectors = text["Item"]
        known = maps.item_index(keys)
        new = [
            n
            for n, key in enumerate(keys)
            if known[n] < 0
            and key.startswith(f"{target}:")
            and not any(key.startswith(f"{d}:") for d in longer)
        ]
        uids = [keys[n] for n in new]
        rows = source.items(uids) if uids and self.model.student.reads_attributes else None
        # counted, not listed: the store's items of the domain less the run's and these
        run_items = int((self.experiment.data["item"].domain == split.target_domain).sum())
        bare = source.item_domains().get(target, 0) - run_items - len(uids)
        return _LateItems(uids, vectors[new], rows, bare)

    def _items_loaded_after_training(
        self, source: GraphStore | None, late: _LateItems
    ) -> tuple[list[str], torch.Tensor | None]:
        """The uids of the items :meth:`recommend` ranks (the run's, then the target-domain
        items ``late`` of ``source``: loaded after training, with a text vector,
        :meth:`_late_items`) and the embeddings its content student gives the latter (None
        when there are none, or the run has no student or no store)."""
        maps = self.experiment.maps
        if not isinstance(self.model, StudentItems) or source is None:
            return list(maps.items), None
        self._warn_unembedded(source, late.bare)
        if not late.uids:
            return list(maps.items), None
        dimension = int(self.graph.x.size(1))  # the text vectors the run was trained on
        if late.text.shape[1] != dimension:  # (a store or record older than session 26)
            from kgrec.store import redact

            raise InputError(
                f"the run was trained on {dimension}-dimensional text vectors "
                f"{self.settings['text_property']!r}, and those of {redact(source.uri)} have "
                f"{late.text.shape[1]} dimensions (another text model's): the run's content "
                "student cannot read them. Retrain the run on the store as it is now (kgrec "
                "train), or embed the store with the run's model",
                field="--store",
            )
        attributes = None
        if late.rows is not None:
            attributes = _store_item_attributes(late.rows, late.uids, self.experiment)
        text = torch.as_tensor(late.text, dtype=torch.float32)
        device = next(self.model.parameters()).device
        embedded = self.model.embed_new_items(
            text.to(device), None if attributes is None else attributes.to(device)
        ).cpu()
        return [*maps.items, *late.uids], embedded

    def _warn_unembedded(self, source: GraphStore, bare: int) -> None:
        """A warning when ``source`` holds ``bare`` target-domain items loaded after training
        that have no text vector (:meth:`_late_items` counts them): the content student reads
        text, so those are not ranked (before session 39, without a word)."""
        from kgrec.store import redact

        target = self.experiment.maps.domains[self.experiment.split.target_domain]
        if bare > 0:
            log.warning(
                "%d items of domain %r loaded into %s after training have no text vector %r: "
                "the run's content student reads an item's text, so they are not ranked; give "
                "them one with `kgrec embed --store %s --kinds Item`",
                bare,
                target,
                redact(source.uri),
                self.settings["text_property"],
                redact(source.uri),
            )

    def _check_text_model(self, source: GraphStore, current: dict[str, str] | None) -> None:
        """An InputError when ``current`` (``source``'s record of the text model of the run's
        text property) is another model than the one that wrote the vectors the run was
        trained on: the vectors read now would lie in another space; or the same model, but
        its item texts were made by other templates. A run or store without a record (before
        session 26) is not checked, nor templates a record does not name (before session 28)."""
        from kgrec.store import redact

        trained = self.info.get("text_model")
        if trained is not None and not (
            isinstance(trained, dict) and all(isinstance(trained.get(k), str) for k in MODEL_KEYS)
        ):
            raise InputError(
                "run.json is damaged: its text_model is no text model's name and identity; "
                "train the run again",
                file=str(self.folder / RUN_FILE),
                field="text_model",
            )
        property = self.settings["text_property"]
        if trained is None or current is None:
            return
        if trained["identity"] == current["identity"]:
            from kgrec.errors import StoreError
            from kgrec.text.embed import other_templates, template_digests

            try:
                template_digests(trained)
            except ValueError as exc:
                raise InputError(
                    f"run.json is damaged: its text_model's {exc}; train the run again",
                    file=str(self.folder / RUN_FILE),
                    field="text_model",
                ) from None
            try:
                kinds = other_templates(trained, current, ["Item"])  # what the student reads
            except ValueError as exc:
                raise StoreError(
                    f"{redact(source.uri)}: the record of the text vectors {property!r} is "
                    f"damaged: {exc}; embed them again (kgrec embed)"
                ) from None
            if not kinds:
                return
            raise InputError(
                f"the run was trained on the text vectors {property!r} of {', '.join(kinds)} "
                f"texts made by other templates than those {redact(source.uri)} holds now "
                f"(both of model {current['name']}): the run's content student would read "
                "vectors of texts unlike those it was fitted on. Retrain the run on the store "
                "as it is now (kgrec train), or re-embed the store with the run's templates "
                f"(kgrec embed --template-file, --property {property})",
                file=str(self.folder / RUN_FILE),
                field="text_model",
            )
        raise InputError(
            f"the run was trained on the text vectors {property!r} of model {trained['name']} "
            f"({trained['identity']}), and {redact(source.uri)} now holds those of model "
            f"{current['name']} ({current['identity']}): the run cannot read vectors of "
            f"another model. Retrain the run on the store as it is now (kgrec train), or "
            f"re-embed the store with the run's model (kgrec embed --model {trained['name']} "
            f"--property {property}, every kind that holds it)",
            file=str(self.folder / RUN_FILE),
            field="text_model",
        )

    def _untrained_users(self, users: Sequence[str] | None) -> torch.Tensor:
        """Indices of the run's users (of ``users``, or all) without a training interaction
        in the graph the model propagated over: their embeddings learnt nothing. None for a
        model that ranks the same for everyone (popularity: its list is theirs too)."""
        if not self.model.learns_users:
            return torch.zeros(0, dtype=torch.long)
        trained = _interacting_users(self.graph)
        if users is None:
            return (~trained).nonzero().flatten()
        index = torch.as_tensor(self.experiment.maps.user_index(list(users)), dtype=torch.long)
        index = index[index >= 0].unique()
        return index[~trained[index]]

    def _newcomer_histories(
        self,
        user_ids: list[str],
        source: GraphStore | None,
        item_ids: list[str],
        *,
        interactions: pd.DataFrame | None = None,
        missing_ok: bool = False,
        field: str = "user",
    ) -> tuple[list[torch.Tensor | None], list[torch.Tensor]]:
        """The items each user loaded after training interacted with (from ``source``), as
        rows of the items ranked (``item_ids``: the run's, then those loaded after training
        that a content student embeds, which are positives too), for fold-in; items the run
        does not know and does not embed are left out, and so are those whose embeddings never
        learnt anything (:func:`kgrec.cold_items.learnt_items`: items without
        a training interaction, such as a split's new items, and the other domains' items for
        a model that trained on the target domain alone). A user with none is an InputError,
        or with ``missing_ok`` None and named in a warning (:func:`_warn_unserved_users`, from
        the interactions read here). Also, per user, the positions in ``item_ids`` (the items
        ranked) of every item they have, left out or not: fold-in never draws them as
        negatives. ``interactions``: those of ``source`` of these users (and maybe others),
        when the caller has read them already. ``field``: the option that named the users, for
        an error about one of them."""
        from kgrec.store import redact

        if source is None:  # every one named (before, the first alone)
            named = (
                f"user {user_ids[0]!r} is" if len(user_ids) == 1 else f"users {few(user_ids)} are"
            )
            raise InputError(
                f"{named} not in the run's graph, and the run was trained from files: there is "
                "no store to read a newcomer's interactions from",
                field=field,
            )
        if interactions is None:
            found = source.user_interactions(user_ids)
        else:
            found = interactions[interactions["user_id"].isin(user_ids)].reset_index(drop=True)
        item = torch.as_tensor(
            self.experiment.maps.item_index(found["item_uid"].tolist()), dtype=torch.long
        )
        usable = item >= 0
        usable &= learnt_items(self.model, self.graph)[item.clamp(min=0)]
        all_domains = model_spec(self.info["model"]).all_domains
        if not all_domains:
            target = self.graph.item_domain.cpu() == self.experiment.split.target_domain
            usable &= target[item.clamp(min=0)]
        position = {uid: n for n, uid in enumerate(item_ids)}
        # target-domain items loaded after training that the run's content student embeds
        # (rows of the items ranked after the run's): positives from that embedding too
        embedded = torch.as_tensor(
            [
                position.get(uid, -1) if i < 0 else -1
                for uid, i in zip(found["item_uid"], item.tolist(), strict=True)
            ],
            dtype=torch.long,
        )
        item = torch.where(embedded >= 0, embedded, item)
        usable |= embedded >= 0
        rated: dict[str, list[int]] = {user: [] for user in user_ids}
        for user, uid in zip(found["user_id"], found["item_uid"], strict=True):
            if uid in position and user in rated:
                rated[user].append(position[uid])
        has = [torch.tensor(rated[user], dtype=torch.long) for user in user_ids]
        found = found.assign(item=item.numpy(), usable=usable.numpy())
        # each user's usable items in the order read, in one pass (a mask over every row per
        # user took seconds for the 1,597 users of an ml-1m run)
        usable_items: dict[str, list[int]] = {}
        keep = usable.numpy()
        for user, i in zip(
            found["user_id"].to_numpy()[keep].tolist(), item.numpy()[keep].tolist(), strict=True
        ):
            usable_items.setdefault(user, []).append(i)
        histories = [
            torch.tensor(usable_items[user], dtype=torch.long) if user in usable_items else None
            for user in user_ids
        ]
        missing = [user for user, h in zip(user_ids, histories, strict=True) if h is None]
        if missing and not missing_ok:  # the first one's reason, every one named
            user = missing[0]
            mine = found.loc[found["user_id"] == user, "item"]
            late = int((mine < 0).sum())
            if mine.empty:
                spellings = zero_spellings(user)
                known = self.experiment.maps.user_index(spellings) >= 0 if spellings else []
                hint = spelling_hint(s for s, k in zip(spellings, known, strict=True) if k)
                why = f"they have none there: load the user's interactions first (a typo?){hint}"
            else:
                why = (
                    f"of their {len(mine)} interaction(s) there, {late} are with items "
                    f"loaded after training and {len(mine) - late} with items the run "
                    "never trained (without a training interaction, or of a domain it did "
                    "not train on); fold-in starts from items the run learnt, so to serve "
                    "this user retrain the run on the store as it is now (kgrec train)"
                )
            others = f" ({len(missing)} users in all: {few(missing)})" if len(missing) > 1 else ""
            raise InputError(
                f"user {user!r} is neither in the run's graph nor has interactions with "
                f"items it learnt in {redact(source.uri)}: {why}{others}",
                field=field,
            )
        unserved = [
            user for user, history in zip(user_ids, histories, strict=True) if history is None
        ]
        if unserved:
            _warn_unserved_users(unserved, all_domains=all_domains, source=source, found=found)
        return histories, has


def _warn_unserved_users(
    users: list[str],
    *,
    all_domains: bool,
    source: GraphStore | None = None,
    found: pd.DataFrame | None = None,
) -> None:
    """A warning naming the run's users (the first few of ``users``) who have no training
    interaction (in the target domain, for a model that trained on it alone: ``all_domains``
    False) and nothing in ``source`` to fold them in from (no interaction, or only with items
    the run never learnt: a new-item split's cold users, whose items are all new), or no
    ``source`` at all (a run trained from files): their embeddings learnt nothing, so they are
    served the run's most popular target-domain items instead, and a publish gives them no
    vector. ``found``: their interactions in ``source`` (``user_id`` a column), as read for
    their fold-in."""
    from kgrec.store import redact

    if source is None or found is None:  # a run trained from files
        nothing = "no store to fold them in from (the run was trained from files)"
        advice = (
            "train with interactions of theirs (a model of every domain, such as "
            "lightgcn-merged, learns a cold-start user from their other domains' ones)"
        )
    else:
        some = set(found["user_id"])
        none = sum(user not in some for user in users)
        why = []
        if len(users) - none:
            why.append(
                f"{len(users) - none} with interactions only with items the run never learnt: "
                "without a training interaction (a new-item split's new items), of a domain it "
                "did not train on, or loaded after training"
            )
        if none:
            why.append(f"{none} with no interaction there")
        nothing = f"nothing in {redact(source.uri)} to fold them in from ({'; '.join(why)})"
        advice = (
            "retrain the run on the store as it is now (kgrec train), or for new items with a "
            "content student (--cold-items)"
        )
    log.warning(
        "%d user(s) of the run (%s) have no training interaction%s and %s: their embeddings "
        "learnt nothing, so they are served the most popular items (by the run's "
        "target-domain training interactions), none they have, and no embedding is published "
        "for them. To rank for them, %s",
        len(users),
        few(users),
        "" if all_domains else " in the target domain (the one the run trained on)",
        nothing,
        advice,
    )


@dataclass
class _LateItems:
    """Target-domain items loaded into a run's store after training that its content student
    embeds (:meth:`Run._late_items`): their ``uids``, their text vectors (``text``, a row
    each), their ``rows`` of the items table (None: the student reads no attributes), and how
    many items of the domain loaded after training have no text vector (``bare``)."""

    uids: list[str]
    text: np.ndarray
    rows: pd.DataFrame | None
    bare: int


@dataclass
class _SourceView:
    """What a ranking reads of its store, as one (:meth:`Run._read_source`): the ``late``
    items, the ``interactions`` its fold-ins start from (of the users ranked, or of the run's
    untrained users when every user is; None: none read), and those that say what the users
    ranked have (``known``: theirs, or every user's with the items ranked; None: no store)."""

    late: _LateItems
    interactions: pd.DataFrame | None
    known: pd.DataFrame | None


@dataclass
class _Ranking:
    """Top-K of some users: the table, their ids (row order), the items' uids (row order),
    the embeddings ranked, and the users served the most popular items (``unserved``: their
    embeddings learnt nothing)."""

    table: pd.DataFrame
    user_ids: list[str]
    item_ids: list[str]
    user_emb: torch.Tensor
    item_emb: torch.Tensor
    unserved: list[str]


def _known_pairs(
    pairs: pd.DataFrame, maps: IdMaps, item_ids: list[str], newcomer_rows: dict[str, int]
) -> torch.Tensor:
    """(user row, item) pairs of a store's interactions (``pairs``) with the items ranked
    (``item_ids``: the run's, then those loaded after training): the run's users by their
    index, newcomers by their rows; other users and items left out."""
    users = maps.user_index(pairs["user_id"])
    if newcomer_rows:
        newcomer = pd.Index(list(newcomer_rows)).get_indexer(pairs["user_id"])
        rows = np.fromiter(newcomer_rows.values(), dtype=np.int64, count=len(newcomer_rows))
        users = np.where(newcomer >= 0, rows[newcomer], users)
    items = pd.Index(item_ids).get_indexer(pairs["item_uid"])  # (item_ids: unique)
    known = torch.from_numpy(np.stack([users, items]).astype(np.int64, copy=False))
    return known[:, (known[0] >= 0) & (known[1] >= 0)]


def _reindex(known: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """``known`` (user row, item) pairs of the users ``index``, renumbered by position."""
    position = torch.full((int(max(known[0].max(), index.max())) + 1,), -1, dtype=torch.long)
    position[index] = torch.arange(size)
    mine = position[known[0]] >= 0
    return torch.stack([position[known[0, mine]], known[1, mine]])


def train(
    model: str,
    *,
    out: str | Path,
    data: str | Path | None = TRAIN_DEFAULTS["data"],
    store: str | None = TRAIN_DEFAULTS["store"],
    protocol: str | None = TRAIN_DEFAULTS["protocol"],
    split: str | Path | None = TRAIN_DEFAULTS["split"],
    seed: int = TRAIN_DEFAULTS["seed"],
    train_fraction: float = TRAIN_DEFAULTS["train_fraction"],
    few_shot: int = TRAIN_DEFAULTS["few_shot"],
    cold_valid_share: float | None = TRAIN_DEFAULTS["cold_valid_share"],
    cold_test_share: float | None = TRAIN_DEFAULTS["cold_test_share"],
    new_item_share: float | None = TRAIN_DEFAULTS["new_item_share"],
    domain: str | None = TRAIN_DEFAULTS["domain"],
    domain_rule: str | None = TRAIN_DEFAULTS["domain_rule"],
    target_domain: str | None = TRAIN_DEFAULTS["target_domain"],
    source_domain: str | None = TRAIN_DEFAULTS["source_domain"],
    text_property: str = TRAIN_DEFAULTS["text_property"],
    objective: str = TRAIN_DEFAULTS["objective"],
    epochs: int = TRAIN_DEFAULTS["epochs"],
    dim: int = TRAIN_DEFAULTS["dim"],
    layers: int = TRAIN_DEFAULTS["layers"],
    lr: float = TRAIN_DEFAULTS["lr"],
    batch_size: int = TRAIN_DEFAULTS["batch_size"],
    patience: int = TRAIN_DEFAULTS["patience"],
    reg_weight: float = TRAIN_DEFAULTS["reg_weight"],
    temperature: float = TRAIN_DEFAULTS["temperature"],
    num_negatives: int = TRAIN_DEFAULTS["num_negatives"],
    score: str = TRAIN_DEFAULTS["score"],
    cl_weight: float = TRAIN_DEFAULTS["cl_weight"],
    cl_noise: float = TRAIN_DEFAULTS["cl_noise"],
    cl_temperature: float = TRAIN_DEFAULTS["cl_temperature"],
    cl_layer: int = TRAIN_DEFAULTS["cl_layer"],
    text_cl_weight: float = TRAIN_DEFAULTS["text_cl_weight"],
    text_cl_neighbours: int = TRAIN_DEFAULTS["text_cl_neighbours"],
    text_cl_temperature: float = TRAIN_DEFAULTS["text_cl_temperature"],
    distill_from: Sequence[str | Path] | None = TRAIN_DEFAULTS["distill_from"],
    distill_mix: Sequence[float] | None = TRAIN_DEFAULTS["distill_mix"],
    distill_weight: float = TRAIN_DEFAULTS["distill_weight"],
    distill_temperature: float = TRAIN_DEFAULTS["distill_temperature"],
    target_weight: float = TRAIN_DEFAULTS["target_weight"],
    cold_start_share: float = TRAIN_DEFAULTS["cold_start_share"],
    cold_start_weight: float = TRAIN_DEFAULTS["cold_start_weight"],
    adversarial_weight: float = TRAIN_DEFAULTS["adversarial_weight"],
    entity_embeddings: bool = TRAIN_DEFAULTS["entity_embeddings"],
    relation_weighting: str = TRAIN_DEFAULTS["relation_weighting"],
    text_input: str = TRAIN_DEFAULTS["text_input"],
    text_hidden: int = TRAIN_DEFAULTS["text_hidden"],
    ease_lambda: float = TRAIN_DEFAULTS["ease_lambda"],
    ease_text_weight: float = TRAIN_DEFAULTS["ease_text_weight"],
    cold_items: str = TRAIN_DEFAULTS["cold_items"],
    cold_item_scale: float | None = TRAIN_DEFAULTS["cold_item_scale"],
    batching: str = TRAIN_DEFAULTS["batching"],
    init_from: str | Path | None = TRAIN_DEFAULTS["init_from"],
    resume: bool = TRAIN_DEFAULTS["resume"],
    progress: bool = TRAIN_DEFAULTS["progress"],
    device: str = TRAIN_DEFAULTS["device"],
    dist_timeout: float = TRAIN_DEFAULTS["dist_timeout"],
) -> Run:
    """Train the registered ``model`` and score it; the run is written to ``out``.

    The graph comes from ``data`` (a RecBole folder) or ``store`` (a store URI), the split
    from ``protocol`` (with ``seed``) or ``split`` (a folder of split files); a
    ``train_fraction`` below 1 keeps a seeded share of each user's target-domain training
    interactions (valid and test unchanged; the run's split files are the reduced ones), and a
    ``few_shot`` ``K`` above 0 gives ``K`` held-out target interactions of each cold-start user
    to train (reported as the ``few-shot`` group); ``cold_valid_share`` and
    ``cold_test_share`` change a cold-start protocol's shares of cold-start users, and
    ``new_item_share`` a new-item protocol's share of new items (None: the protocol's), and
    ``source_domain`` the domain whose users, with the target's, the cold-start users are
    drawn among (None: :func:`kgrec.data.split.make_split`'s choice). The metrics cover
    all, warm and cold-start users, and the warm users by their
    number of target-domain training interactions (:data:`kgrec.evaluate.ACTIVITY_GROUPS`).
    Training uses
    ``objective`` (:data:`kgrec.objectives.OBJECTIVES`) with Adam, early stopping on the
    validation NDCG@20; the test split is scored once, with the best model.
    ``cold_start_share`` > 0 trains for cold-start users: each epoch hides the target-domain
    edges of that share of the warm users with interactions in the target and another domain,
    their target pairs weighted by ``cold_start_weight``
    (:class:`kgrec.cold_start_training.HideTargetEdges`; models trained on every domain).
    ``init_from`` (a run folder) starts the model from that run's trained parameters
    (:func:`warm_start`: names and shapes that match, node tables remapped by node id; what
    was loaded is recorded in ``run.json`` as ``init_from``). ``distill_from`` (run folders,
    trained on the same split) adds a distillation term whose teacher is their scores,
    standardised and mixed by ``distill_mix`` (None: equal weights), weighted by
    ``distill_weight``, the teacher's softmax at ``distill_temperature`` and the student's at
    ``temperature`` (:class:`kgrec.objectives.Distillation`, :mod:`kgrec.teachers`; each
    teacher's model.pt's sha256 is recorded in ``run.json`` as ``distill_from``). ``resume``
    continues the run in ``out`` from its checkpoint, on the graph and split it was trained
    on; its settings must be the same, but for ``epochs`` and ``patience``.

    ``cold_items`` ``"student"`` (``"student-kg"``: with the knowledge graph's entities), with
    a store whose items have text, serves the items without training interactions (new items)
    by a content student distilled from the trained model's item embeddings after training
    (:mod:`kgrec.cold_items`), scaled by ``cold_item_scale`` (None: chosen on validation);
    saved as ``student.pt``, recorded in ``run.json`` as ``cold_items``, and the metrics are
    the served model's (the trained model's alone are in the record, ``teacher``). With
    ``text_input`` ``"add"``, ``cold_items`` ``"text"`` scores those items by the text MLP
    alone instead, without their ID embedding (:func:`kgrec.cold_items.drop_untrained_ids`).

    ``device`` is ``auto`` (CUDA when torch sees a GPU), ``cpu`` or ``cuda``. Launched by
    ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), training is data-parallel over the
    ranks (:mod:`kgrec.train`); rank 0 alone reads or makes the experiment (sent to the other
    ranks, which need not share its disk), prints, evaluates and writes the run folder. A
    collective that waits ``dist_timeout`` seconds for a rank (one that died or hangs) fails
    (:func:`kgrec.distributed.init`); like ``device``, it is not one of the run's settings.

    Every argument is also ``kgrec train``'s option of the same name, with the same default.
    """
    settings = {
        # a numpy number (seed=np.int64(3) from np.arange) as the Python one it holds: the
        # checks refused it as no integer, or passed it to a bare TypeError writing run.json
        name: plain(value)
        for name, value in locals().items()
        if name not in ("out", "resume", "progress", "device", "dist_timeout")
    }
    spec = model_spec(model)
    for name, path in (("out", out), ("data", data), ("split", split), ("init_from", init_from)):
        path_argument(path, option_flag(name))  # "": the working folder
    check_not_out(distill_from, out)
    # "False" would be true; progress is the Python API's alone (no option of kgrec train)
    resume = switch_argument("resume", resume, field="--resume")
    progress = switch_argument("progress", progress, field="progress")
    check_settings(settings, resume=resume)  # bad settings fail before any data is read
    if distill_from is not None:  # as run.json records them, and --resume compares them
        settings["distill_from"] = [str(Path(folder).resolve()) for folder in distill_from]
        settings["distill_mix"] = mix_setting(distill_mix)
    # compared between the ranks as given: the split files they may be read from (below)
    # are on rank 0's disk, maybe on no other rank's
    given = {"domain": domain, "domain_rule": domain_rule}
    # checks of this machine (its memory, its files): under a launcher, a rank that fails
    # one joins all the same and the ranks agree on it, else the others would wait for it
    # the whole --dist-timeout
    failure = None
    try:
        check_sizes_fit(settings)
        for name in ("data", "split", "init_from"):
            if settings[name] is not None:
                settings[name] = str(Path(settings[name]).resolve())
        from kgrec.store import absolute_uri

        settings["store"] = absolute_uri(store)
        settings["domain"] = domain = effective_domain(data, domain, domain_rule, split)
        settings["domain_rule"] = effective_rule(
            protocol, Path(data) if data else None, domain, domain_rule, split
        )
        settings["text_property"] = text_property if reads_text(settings) and store else None
    except Exception as exc:
        failure = distributed.held(exc)
    out = Path(out)
    device = resolve_device(device)
    distributed.init(device, timeout=dist_timeout)
    distributed.agree(failure, "start the run")
    world = distributed.current()
    _check_same_settings(settings, resume, given)
    progress = progress and world.is_main
    new = world.is_main and not (out / RUN_FILE).exists()
    made = first_missing(out)  # the folder train() makes, with its parents
    lock = None
    if world.is_main:
        try:
            lock = _lock_run_folder(out)  # a second training of this folder stops here
            info, experiment = _prepare(out, settings, resume)
            # a finished run given its own settings: read as it is, nothing written
            as_it_is = _as_it_is(out, info, settings, device) if resume else None
        except BaseException as exc:
            if lock is not None:
                os.close(lock)
                remove_made(out, made)  # only what is empty
            distributed.broadcast_object(("error", str(exc)))
            raise
        finished = as_it_is is not None
        distributed.broadcast_object(("ok", info, experiment, finished))
    else:
        shared = distributed.broadcast_object(None)
        if shared[0] == "error":
            raise InputError(f"rank 0 could not start the run: {shared[1]}", file=str(out))
        _, info, experiment, finished = shared
        as_it_is = None
    try:
        if finished:
            return _finished_run(out, info, experiment, device, as_it_is, progress)
        return _train(out, info, experiment, settings, device, resume, progress)
    except BaseException as exc:
        # a new run that failed before its first checkpoint has nothing to resume, nor one
        # that bad settings stopped (a diverged loss): the corrected command starts it again
        if new and (isinstance(exc, InputError) or not (out / CHECKPOINT_FILE).exists()):
            _discard_new_run(out, made)
        elif isinstance(exc, KeyboardInterrupt) and world.is_main:
            _say_resumable(out)
        elif isinstance(exc, NotFinite) and resume and world.is_main:
            # the run is kept, and --resume refuses other settings than its own
            raise NotFinite(
                exc.reason,
                exc.epoch,
                hint=exc.hint,
                then="; --resume keeps the run's settings: train a new run (another --out) "
                "with the change",
            ) from None
        raise
    finally:
        if lock is not None:
            os.close(lock)


def switch_argument(name: str, value: object, *, field: str) -> bool:
    """``value`` as a Python bool (:func:`~kgrec.models.checks.check_flag`: np.bool_ too, not
    ``"False"``, which is true, nor a number); its TypeError as an InputError naming
    ``field``. train() and tune() read their switches so."""
    try:
        return check_flag(name, value)
    except TypeError as exc:
        raise InputError(str(exc), field=field) from None


def _as_it_is(
    out: Path, info: dict[str, Any], settings: dict[str, Any], device: torch.device
) -> Run | None:
    """The run in ``out`` (run.json's ``info``), read (:func:`load_run`), where ``--resume``
    with ``settings`` (its own but for :data:`RESUMABLE_CHANGES`: :func:`_start`) would
    train no epoch and only write its files again: finished, given its own ``epochs`` and
    ``patience`` too, its files all there and readable. None where the training has work:
    else, a missing or damaged file is written again from the run's checkpoint."""
    saved = {**TRAIN_DEFAULTS, **info["settings"]}
    if info.get("status") != "done" or any(saved[n] != settings[n] for n in RESUMABLE_CHANGES):
        return None
    files = [MODEL_FILE, METRICS_FILE]
    if settings["cold_items"] in ("student", "student-kg"):
        files.append(STUDENT_FILE)
    if not all((out / name).is_file() for name in files):
        return None
    damaged = _damaged_metrics(out / METRICS_FILE)  # load_run reads no metrics.json
    if damaged is not None:
        log.warning("%s is damaged (%s): written again from the run's checkpoint", *damaged)
        return None
    try:
        return load_run(out, device=device)
    except InputError as exc:
        log.warning("%s: written again from the run's checkpoint", exc)
        return None


def _damaged_metrics(path: Path) -> tuple[Path, str] | None:
    """(``path``, what is wrong with it) where the metrics.json at ``path`` is not what
    :func:`_finish_run` writes, a JSON object with an object per phase; None where it is."""
    try:
        metrics = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        return path, exc.strerror or str(exc)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return path, f"not JSON: {exc}"
    phases = metrics if isinstance(metrics, dict) else {}
    missing = [p for p in PHASES if not (isinstance(phases.get(p), dict) and phases[p])]
    if missing:
        return path, f"no metrics of {' and '.join(missing)}"
    return None


def _finished_run(
    out: Path,
    info: dict[str, Any],
    experiment: Experiment,
    device: torch.device,
    run: Run | None,
    progress: bool,
) -> Run:
    """The finished run in ``out``, nothing written: ``run``, rank 0's (:func:`_as_it_is`);
    each other rank's model given rank 0's parameters, as a training's ranks end."""
    world = distributed.current()
    if progress:
        print(
            f"{out} holds a finished run with these settings: nothing to train, its files "
            "left as they are (--resume with more --epochs, or a higher --patience after an "
            "early stop, trains it further)"
        )
    # the trained model's state (model.pt's), not the served one's: load_run gave rank 0's a
    # content student (--cold-items student) or dropped its new items' IDs (text), which the
    # others' models, built as a training's are, lack: their tensors did not match rank 0's
    if world.is_main:
        if world.distributed:
            trained = run.model.teacher if isinstance(run.model, StudentItems) else run.model
            distributed.broadcast_object({k: v.cpu() for k, v in trained.state_dict().items()})
        return run
    net, graph, _ = build_run(experiment, info["settings"])
    net.load_state_dict(distributed.broadcast_object(None))
    net.to(device)
    return Run(out, info, experiment, net, graph_on_device(graph, device, info["settings"]))


def _say_resumable(out: Path) -> None:
    """Say, as a training of ``out`` stops on Ctrl-C, what ``--resume`` continues from: its
    checkpoint's epoch (the last one trained in full), or nothing where it has none."""
    epoch = _checkpoint_epoch(out)
    if epoch is None:  # none, or not readable: --resume says what is wrong with it
        return
    log.warning(
        "stopped: %s keeps epoch %d; the same kgrec train with --resume continues from there, "
        "as if it had not stopped",
        out / CHECKPOINT_FILE,
        epoch,
    )


def _checkpoint_epoch(out: Path) -> int | None:
    """The epoch the checkpoint of the run in ``out`` holds; None where it has none, or one
    that cannot be read."""
    try:  # (mmap: only the epoch is read of a checkpoint of any size)
        return torch.load(out / CHECKPOINT_FILE, weights_only=True, map_location="cpu", mmap=True)[
            "epoch"
        ]
    except Exception:
        return None


def _lock_run_folder(out: Path) -> int | None:
    """An exclusive lock on the folder ``out`` (made if need be), held by the open descriptor
    returned: a second ``train`` into the same folder, new or ``resume``, is refused instead of
    writing the same files. None where ``out`` is no folder (:func:`_start` refuses it)."""
    if out.exists() and not out.is_dir():
        return None
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY)
    except OSError as exc:
        raise InputError(f"cannot write the run folder ({exc.strerror})", file=str(out)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise InputError(
            "another kgrec train is writing this run folder: wait for it to end (then "
            "--resume it if need be), or choose another --out",
            file=str(out),
        ) from None
    return fd


# settings that name this machine's files: they may differ between the ranks of one run
_LOCAL_SETTINGS = ("data", "split", "store", "init_from", "distill_from")


def _check_same_settings(
    settings: dict[str, Any], resume: bool, given: dict[str, Any] | None = None
) -> None:
    """InputError on every rank unless every rank was started with rank 0's settings (but for
    the paths of its own files; ``given`` replaces settings derived from those files): each
    rank draws its share of the batches and negatives from them, so another seed silently
    trains other pairs, and another batch size hangs."""
    mine = {k: v for k, v in settings.items() if k not in _LOCAL_SETTINGS}
    mine |= (given or {}) | {"resume": resume}
    every = distributed.gather_object(mine)
    for other, theirs in enumerate(every[1:], start=1):
        differ = sorted(k for k in every[0] if theirs.get(k) != every[0][k])
        if differ:
            shown = ", ".join(f"{k} {theirs.get(k)!r} against {every[0][k]!r}" for k in differ)
            raise InputError(
                f"rank {other} was started with other settings than rank 0 ({shown}): run the "
                "same kgrec train command on every rank",
                field=differ[0],
            )


def _train(
    out: Path,
    info: dict[str, Any],
    experiment: Experiment,
    settings: dict[str, Any],
    device: torch.device,
    resume: bool,
    progress: bool,
) -> Run:
    """train()'s work once the run folder is written (or read, to resume)."""
    world = distributed.current()
    if progress:
        print(describe(experiment))
    # each rank builds the model on its own machine (its memory, its GPU; rank 0 reads
    # --init-from): the ranks agree on the outcome before training's first collective
    failure = None
    try:
        with model_memory(settings):
            net, graph, pairs = build_run(experiment, settings)
        item_entity = _student_inputs(experiment, net, graph, settings)  # refused before training
        # every rank reads its own --distill-from runs (compared below)
        teachers = read_teachers(settings, graph, experiment.split)
        if world.is_main:  # the models read are those run.json records (the others: below)
            check_teachers_as_recorded(
                info.get(TEACHERS_RECORD), settings["distill_from"], teachers
            )
        resumed = resume and (out / CHECKPOINT_FILE).exists()  # the checkpoint replaces it
        if settings["init_from"] is not None and world.is_main and not resumed:  # fit sends it
            info["init_from"] = warm_start(net, experiment, Path(settings["init_from"]))
            # recorded now, not only once the run is done: a run stopped while it trains keeps
            # it, and its --resume checks a moved RUN against the recorded sha256
            try:
                _write_json(out / RUN_FILE, info)
            except OSError as exc:  # a full disk: run.json is as it was (write_atomic)
                raise WriteError(
                    f"cannot write {out / RUN_FILE} ({exc.strerror or exc}): nothing was "
                    "trained; run the same kgrec train once it can be written"
                ) from None
            if progress:
                print(_describe_warm_start(info["init_from"]))
        with model_memory(settings):
            net.to(device)
        graph = graph_on_device(graph, device, settings)
    except Exception as exc:
        failure = distributed.held(exc)
    distributed.agree(failure, "build the model")
    check_same_teachers(settings["distill_from"], teachers)
    if progress:
        print(net)
    started = time.perf_counter()
    run = Run(out, info, experiment, net, graph)
    metrics = None
    try:
        with model_memory(settings, training=True):
            arguments = fit_arguments(settings, graph, experiment.split, teachers=teachers)
            if _fitted_in_forward(net) and settings["cold_items"] == "none":
                # fit would only score valid, and run.evaluate() below valid and test again:
                # one forward pass (EASE's is its whole closed-form fit) serves both, rank 0's
                with distributed.rank_0_alone("evaluate the model"):
                    if world.is_main:
                        metrics = run.evaluate()
                best = metrics["valid"]["all"].get(VALID_METRIC, 0.0) if world.is_main else 0.0
                result = FitResult(best_metric=best, best_epoch=0, epochs_run=0)
            else:
                result = fit(
                    net,
                    graph,
                    experiment.split,
                    pairs,
                    **arguments,
                    checkpoint=out / CHECKPOINT_FILE,
                    resume=resume,
                    progress=progress,
                )
    except NotFinite as exc:
        raise NotFinite(exc.reason, exc.epoch, hint=overflow_hint(settings)) from None
    seconds = time.perf_counter() - started
    # rank 0 alone evaluates and writes the run while the others wait: they stop with its
    # error, if any, instead of ending as if the run were done
    with distributed.rank_0_alone("finish the run", last=True):
        if world.is_main:
            run = _finish_run(
                run,
                net,
                result,
                metrics,
                seconds=seconds,
                settings=settings,
                device=device,
                item_entity=item_entity,
                progress=progress,
            )
    return run


def _finish_run(
    run: Run,
    net: GraphRecommender,
    result: FitResult,
    metrics: dict | None,
    *,
    seconds: float,
    settings: dict[str, Any],
    device: torch.device,
    item_entity: torch.Tensor | None,
    progress: bool,
) -> Run:
    """_train()'s end, on rank 0: the new items served (``cold_items``), the trained ``net``
    evaluated (unless ``metrics`` holds its metrics already), and the run's files written."""
    out, info = run.folder, run.info
    if settings["cold_items"] != "none":
        run = _serve_new_items(run, settings, item_entity, progress=progress)
    if metrics is None:
        metrics = run.evaluate()
    info.update(
        settings=settings,
        status="done",
        training=_training_record(result, seconds),
        environment=environment(device),
    )
    weights = hashlib.sha256()  # of the model files as written, for Run.weights

    def model_file(state: dict[str, Any]) -> Callable[[Path], None]:
        def write(tmp: Path) -> None:
            save_torch(state, tmp)
            _hash_file(weights, tmp)

        return write

    files = {out / MODEL_FILE: model_file(net.state_dict())}
    if settings["cold_items"] in ("student", "student-kg"):
        files[out / STUDENT_FILE] = model_file(run.model.student.state_dict())
    files[out / METRICS_FILE] = _json_writer(metrics)
    files[out / RUN_FILE] = _json_writer(info)  # last: its status "done" marks the run finished
    # a finished run's files are replaced only now that the new work has succeeded, every one
    # written before any is moved, and the run marked unfinished while they are moved: a stop
    # between two moves leaves a run --resume finishes, never the old and the new mixed
    finished = any((out / name).exists() for name in (MODEL_FILE, STUDENT_FILE, METRICS_FILE))
    unfinished = {**info, "status": "training"}
    try:
        write_all_atomic(
            files,
            before_moves=(lambda: _write_json(out / RUN_FILE, unfinished)) if finished else None,
        )
    except OSError as exc:  # a full disk: every file is as it was (write_all_atomic)
        _cannot_write_run(out, list(files), exc)
    run.weights = weights_digest(weights)
    if progress:
        print(format_table(metrics))
        if _fitted_in_forward(run.model):  # before, "best epoch 0 of 0"
            done = f"fitted without training epochs ({seconds:.1f} s"
        else:
            done = f"best epoch {result.best_epoch} of {result.epochs_run} ({seconds:.1f} s"
        print(
            done
            + (f" after resuming at epoch {result.epochs_resumed}" if result.epochs_resumed else "")
            + f"); wrote {out / METRICS_FILE}"
        )
    return run


def _cannot_write_run(out: Path, files: list[Path], exc: OSError) -> NoReturn:
    """The WriteError of a run's files (``files``) that the disk refused at the end of its
    training, saying what ``--resume`` continues from: its checkpoint, kept."""
    names = [path.name for path in files]
    shown = ", ".join(names[:-1]) + f" and {names[-1]}"
    epoch = _checkpoint_epoch(out)
    if epoch is None:  # none (a model fitted without epochs): the run is trained again
        then = "run the same kgrec train once they can be written"
    else:
        then = (
            f"{CHECKPOINT_FILE} keeps epoch {epoch}: once they can be written, the same kgrec "
            "train with --resume writes them from there"
        )
    raise WriteError(
        f"cannot write {shown} in {out} ({exc.strerror or exc}): the run's files are as they "
        f"were; {then}"
    ) from None


def _fitted_in_forward(model: GraphRecommender) -> bool:
    """Whether ``model`` has no trainable parameters (popularity, EASE): :func:`fit` only
    validates it, one forward pass."""
    return not any(p.requires_grad for p in model.parameters())


def _serve_new_items(
    run: Run, settings: dict[str, Any], item_entity: torch.Tensor | None, *, progress: bool
) -> Run:
    """The trained ``run`` with its items without training interactions served by a content
    student (:func:`kgrec.cold_items.serve_new_items`); the record goes to ``run.info``."""
    teacher = evaluate(run.model, run.graph, run.experiment.split, PHASES)
    if settings["cold_items"] == "text":
        record = drop_untrained_ids(run.model, run.graph, run.experiment.split)
        served = run.model
    else:
        served, record = serve_new_items(
            run.model,
            run.graph,
            run.experiment.split,
            item_entity=item_entity,
            attributes=_attribute_matrix(run.experiment),
            seed=settings["seed"],
            scale=settings["cold_item_scale"],
        )
    record["teacher"] = {
        phase: {group: values.get("ndcg@20") for group, values in groups.items()}
        for phase, groups in teacher.items()
    }
    run.info["cold_items"] = record
    if progress and settings["cold_items"] == "text":
        print(
            f"{record['served_items']} items without training interactions: scored by the "
            "text MLP alone"
        )
    elif progress:
        fitted = record["distillation"]
        print(
            f"content student ({settings['cold_items']}): fitted on {fitted['items_fitted']} "
            f"items, held-out cosine {fitted['held_out_cosine']:.3f} (the mean of "
            f"{fitted['members']} students fitted apart); serves "
            f"{record['served_items']} items without training interactions, scale "
            f"{record['scale']}"
        )
    return Run(run.folder, run.info, run.experiment, served, run.graph)


def _student_inputs(
    experiment: Experiment, net: GraphRecommender, graph: Data, settings: Mapping[str, Any]
) -> torch.Tensor | None:
    """What the content student of ``cold_items`` reads, checked: the items' text vectors (in
    ``graph``; for "student" and "student-kg", at least 2 of items with training interactions
    in ``net``'s message graph, which the student is fitted on) and for "student-kg" the
    knowledge graph's (item, entity) links, returned (else None)."""
    choice = settings.get("cold_items", "none")
    if choice == "none":
        return None
    items = slice(graph.num_users, graph.num_users + graph.num_items)
    if "x" not in graph or int(graph.x_mask[items].sum()) < 2:
        raise InputError(
            f"--cold-items {choice} reads the items' text vectors, and fewer than 2 items of "
            "the store have one: run `kgrec embed --store URI --kinds Item` (or name the "
            "property with --text-property)",
            field="--cold-items",
        )
    if choice != "text":
        # before: a bare ValueError from distil(), after the whole training
        warm = int((trained_items(net, graph) & graph.x_mask[items].cpu().to(torch.bool)).sum())
        if warm < 2:
            raise InputError(
                f"--cold-items {choice} fits its content student to the trained embeddings of "
                f"the items with training interactions and a text vector, and {warm} item(s) "
                "have both: run `kgrec embed --store URI --kinds Item` to give every item a "
                "text vector (or name the property with --text-property)",
                field="--cold-items",
            )
    return _item_entity(experiment, settings)


def _store_item_attributes(
    items: pd.DataFrame, uids: Sequence[str], experiment: Experiment
) -> torch.Tensor:
    """``[len(uids), width]``: the year and genres of the items ``uids`` (loaded into the
    run's store after training) in their rows ``items`` of the store's items table
    (``store.items``), encoded as the run's catalogue encodes its own."""
    rows = items.set_index("uid").reindex(list(uids))
    encoder = ItemAttributes.from_data(experiment.data, experiment.maps.genres)
    years = pd.to_numeric(rows["year"], errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
    genres = [list(g) if isinstance(g, list | tuple | np.ndarray) else [] for g in rows["genres"]]
    return encoder.encode(torch.as_tensor(years), genres)


def _attribute_matrix(experiment: Experiment) -> torch.Tensor | None:
    """The content student's attribute input: the run's items' years and genres encoded
    (:class:`kgrec.cold_items.ItemAttributes`), or None where the catalogue has neither."""
    encoder = ItemAttributes.from_data(experiment.data, experiment.maps.genres)
    return None if encoder is None else encoder.matrix(experiment.data, experiment.maps.genres)


def _item_entity(experiment: Experiment, settings: Mapping[str, Any]) -> torch.Tensor | None:
    """The knowledge graph's (item, entity) links for ``cold_items`` "student-kg", else None."""
    if settings.get("cold_items") != "student-kg":
        return None
    links = item_entities(experiment.data)
    if links.size(1) == 0:
        raise InputError(
            "--cold-items student-kg reads the items' knowledge-graph entities, and the graph "
            "has no knowledge edge between an item and an entity: use --cold-items student",
            field="--cold-items",
        )
    return links


def check_catalogue(experiment: Experiment) -> None:
    """The evaluation ranks a top ``max(DEFAULT_KS)`` among the target domain's items: a
    smaller catalogue is refused before the run folder is written."""
    split = experiment.split
    items = int((experiment.data["item"].domain == split.target_domain).sum())
    if items < max(DEFAULT_KS):
        raise InputError(
            f"the target domain {experiment.maps.domains[split.target_domain]!r} has {items} "
            f"items, and the evaluation ranks a top {max(DEFAULT_KS)} among them: give a "
            "larger catalogue",
            field="--target-domain",
        )


def prepare_experiment(settings: Mapping[str, Any]) -> Experiment:
    """The experiment ``settings`` (train()'s, with the data source's) describe, after the
    checks ``kgrec train`` makes before it writes a run (each an InputError): an
    ``init_from`` run that does not fit the model, no users for cold-start training to hide,
    a target catalogue too small to rank, user text vectors that read the test interactions
    as the model's input (:func:`check_user_text`)."""
    data, split = settings["data"], settings["split"]
    experiment = load_experiment(
        data=Path(data) if data else None,
        store=settings["store"],
        protocol=settings["protocol"],
        split_dir=Path(split) if split else None,
        seed=settings["seed"],
        domain=settings["domain"],
        domain_rule=settings["domain_rule"],
        target_domain=settings["target_domain"],
        source_domain=settings.get("source_domain"),
        text_property=settings["text_property"],
        train_fraction=settings["train_fraction"],
        few_shot=settings["few_shot"],
        cold_valid_share=settings["cold_valid_share"],
        cold_test_share=settings["cold_test_share"],
        new_item_share=settings["new_item_share"],
    )
    if settings["text_property"] is not None:  # user vectors that read the test items
        check_user_text(experiment, settings, store=settings["store"])
    if settings["init_from"] is not None:  # a mismatch is refused before the run is written
        with model_memory(settings):
            net = build_run(experiment, settings)[0]
        warm_start(net, experiment, Path(settings["init_from"]), warn=False)
    if settings["cold_start_share"]:  # and so are no users to hide
        check_cold_start_users(experiment)
    check_catalogue(experiment)
    return experiment


def _prepare(
    out: Path, settings: dict[str, Any], resume: bool
) -> tuple[dict[str, Any], Experiment]:
    """run.json's content and the experiment of a new run (written to ``out``) or of the run
    to resume there."""
    info = _start(out, settings, resume)
    if info is None:
        experiment = prepare_experiment(settings)
        info = {
            "model": settings["model"],
            "settings": settings,
            "target_domain": experiment.maps.domains[experiment.split.target_domain],
            "source_domain": None
            if experiment.split.source_domain is None
            else experiment.maps.domains[experiment.split.source_domain],
            "status": "training",
        }
        if settings["text_property"] is not None:  # what serving checks the store against
            info["text_model"] = experiment.text_model
        info[SPLIT_DIGEST] = split_digest(experiment)  # experiment.pt is checked against it
        if settings["distill_from"] is not None:  # another split is refused before the write
            # their model.pt's sha256: a --resume whose teacher changed is refused (_start)
            info[TEACHERS_RECORD] = teacher_records(settings["distill_from"], experiment, out=out)
        _write_new_run(out, info, experiment)
    else:
        experiment = _read_run_experiment(out, info)
    return info, experiment


def load_run(folder: str | Path, *, device: str | torch.device = "cpu") -> Run:
    """The run in ``folder`` with its best model, on the graph and split it was trained on;
    the model on ``device`` (``auto``, ``cpu``, ``cuda``), where it scores users. Its files
    are read while ``kgrec train --resume`` may be replacing them: they are read again if
    run.json changed meanwhile (:func:`_read_unchanged`), so they are always one run's."""
    folder = Path(path_argument(folder, "--run"))
    return _read_unchanged(folder, lambda: _load_run(folder, device))


_T = TypeVar("_T")

# how many times load_run reads a run whose run.json keeps changing before it gives up
_READ_TRIES = 3


def _read_unchanged(folder: Path, read: Callable[[], _T]) -> _T:
    """``read()`` (of the run in ``folder``), done again if run.json was replaced while it
    read: a training that replaces a finished run's files (``--resume``) replaces run.json
    first (status ``training``) and last (``done``), so files read while run.json stayed the
    same are one run's, never the old run.json and student scale beside the new model."""
    for attempt in range(1, _READ_TRIES + 1):
        before = _run_json_version(folder)
        try:
            result = read()
        except InputError:
            if attempt < _READ_TRIES and _run_json_version(folder) != before:
                continue  # read while the files were replaced: read them again
            raise
        if _run_json_version(folder) == before:
            return result
    raise InputError(
        f"the run's files were replaced (by a kgrec train --resume?) each of the "
        f"{_READ_TRIES} times they were read: try again when that training has finished",
        file=str(folder / RUN_FILE),
    )


def _run_json_version(folder: Path) -> tuple[int, int, bytes] | None:
    """run.json's inode, modification time and bytes, read from one open file (None: none)."""
    try:
        with open(folder / RUN_FILE, "rb") as file:
            stat = os.fstat(file.fileno())
            return stat.st_ino, stat.st_mtime_ns, file.read()
    except OSError:
        return None


def _load_run(folder: Path, device: str | torch.device) -> Run:
    info = _read_run_json(folder)
    _check_finished(folder, info)
    _check_run_settings(folder, info)
    files = {MODEL_FILE: "trained model"}
    if info["settings"].get("cold_items", "none") in ("student", "student-kg"):
        files[STUDENT_FILE] = "content student (--cold-items)"
    for name, what in files.items():
        if (folder / name).exists():  # a finished run's (a training's is refused above)
            continue
        remedy = (
            "the kgrec train command that trained it, with --resume, writes it again from its "
            f"{CHECKPOINT_FILE}"
            if (folder / CHECKPOINT_FILE).exists()
            else f"it has no {CHECKPOINT_FILE} to write it again from either: train the run again"
        )
        raise InputError(
            f"the run's {what} is missing (deleted or moved?): {remedy}", file=str(folder / name)
        )
    if not (folder / EXPERIMENT_FILE).exists():
        raise InputError(
            "the run has no experiment.pt (trained by an older kgrec): train it again",
            file=str(folder / EXPERIMENT_FILE),
        )
    experiment = _read_run_experiment(folder, info)
    data, settings = experiment.data, info["settings"]
    needs = {name: settings.get(name, "none") for name in ("text_input", "cold_items")}
    has_text = any("x" in data[kind] for kind in data.node_types)
    if any(value != "none" for value in needs.values()) and not has_text:
        # another run's experiment.pt: a bare AttributeError (a content student), or an error
        # naming train's --text-input
        raise InputError(
            f"the run reads node text vectors (--text-input {needs['text_input']}, --cold-items "
            f"{needs['cold_items']}), and its experiment holds none: it is another run's "
            "(copied?) or damaged; train the run again",
            file=str(folder / EXPERIMENT_FILE),
        )
    with model_memory(info["settings"], run=folder):  # trained on a machine with more memory?
        net, graph, _ = build_run(experiment, info["settings"])
    try:
        # a run trained on a GPU saved CUDA tensors: read them onto the CPU, then to ``device``
        # the bytes read are the ones hashed (Run.weights): the file may be replaced later
        raw = (folder / MODEL_FILE).read_bytes()
        digest = hashlib.sha256(raw)
        state = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
        del raw  # not held while the model moves to its device
        net.load_state_dict(state)
    except (RuntimeError, OSError, EOFError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        first = load_error(exc)
        raise InputError(
            f"the trained model cannot be read: it is damaged (truncated?) or not this run's "
            f"({first})",
            file=str(folder / MODEL_FILE),
        ) from None
    if info["settings"].get("cold_items", "none") == "text":
        drop_untrained_ids(net, graph, experiment.split)
    elif info["settings"].get("cold_items", "none") != "none":
        net = _restore_student(folder, info, experiment, net, graph, digest)
    device = resolve_device(str(device))
    with model_memory(info["settings"], run=folder, device=device):
        net = net.to(device)
    graph = graph_on_device(graph, device, info["settings"], run=folder)
    return Run(folder, info, experiment, net, graph, weights=weights_digest(digest))


def _restore_student(
    folder: Path,
    info: dict[str, Any],
    experiment: Experiment,
    net: GraphRecommender,
    graph: Data,
    digest: Any,
) -> GraphRecommender:
    """``net`` serving new items by the run's content student; ``digest`` (a
    ``hashlib.sha256()``, :attr:`Run.weights`) is fed the bytes of student.pt read."""
    path = folder / STUDENT_FILE
    record = info.get("cold_items")
    scale = record.get("scale") if isinstance(record, dict) else None
    if isinstance(scale, bool) or not (isinstance(scale, numbers.Real) and 0 < scale < math.inf):
        # run.json's, not student.pt's: before, blamed on student.pt ("cannot be read")
        raise InputError(
            f"run.json is damaged: the run serves new items by a content student "
            f"(--cold-items {info['settings']['cold_items']}), and its record of the student "
            f"has no positive scale (got {scale!r}); train the run again",
            file=str(folder / RUN_FILE),
            field="cold_items.scale",
        )
    try:
        raw = path.read_bytes()
        digest.update(raw)
        state = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
        del raw
        item_entity = _item_entity(experiment, info["settings"])
        # rebuilt as the run's model is: a run trained on a machine with more memory?
        what = _student_sizes(state, graph, entities=item_entity is not None)
        with model_memory(info["settings"], run=folder, what=what):
            return restore_student(
                net,
                graph,
                state,
                scale,
                item_entity=item_entity,
                attributes=_attribute_matrix(experiment),
            )
    except InputError:  # the guard's: not a damaged student
        raise
    except (
        RuntimeError,
        OSError,
        EOFError,
        KeyError,
        TypeError,
        ValueError,
        pickle.UnpicklingError,
    ) as exc:
        first = load_error(exc)
        raise InputError(
            f"the run serves new items by a content student that cannot be read ({first})",
            file=str(path),
        ) from None


def _student_sizes(state: Any, graph: Data, *, entities: bool) -> str:
    """The run's content student and its sizes, as its saved ``state`` has them (each member's
    MLP: inputs x hidden x outputs; and the graph's items, and entities where it reads them),
    for :func:`model_memory`'s error; a state without them (restore_student refuses it) says
    the student alone."""
    weights = (
        {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
        if isinstance(state, dict)
        else {}
    )
    # each member's MLP: mlp.0 (inputs -> hidden) and mlp.3 (hidden -> outputs), in any of
    # the formats restore_student reads (members.K.mlp.N., mlps.K.N., mlp.N.)
    first = [v for k, v in weights.items() if str(k).endswith("0.weight") and v.dim() == 2]
    last = [v for k, v in weights.items() if str(k).endswith("3.weight") and v.dim() == 2]
    if not first or len(first) != len(last):
        return "the run's content student"
    (hidden, inputs), (outputs, _) = first[0].shape, last[0].shape
    over = f"{graph.num_items} items" + (f", {graph.num_entities} entities" if entities else "")
    return (
        f"the run's content student ({len(last)} member(s), each an MLP of {inputs} inputs x "
        f"{hidden} hidden x {outputs} outputs over its {over})"
    )


def warm_start(
    net: GraphRecommender, experiment: Experiment, folder: Path, *, warn: bool = True
) -> dict[str, Any]:
    """Start ``net`` (a new run's model on ``experiment``) from the trained parameters of the
    run in ``folder``: pretrained on the source domain, or an earlier snapshot, to fine-tune.

    Parameters are matched by name. A parameter whose rows are nodes (an ID table the model
    names in :meth:`~kgrec.models.GraphRecommender.node_parameters`) takes, row by row, the
    source run's row of the same user, item (uid) or entity, where the two runs' graphs
    differ; rows of nodes the source run lacks keep their fresh initialisation. Any other
    parameter is copied when its shape is the same.
    Parameters only this model has keep their initialisation, the source model's other
    parameters and its buffers (the graph's, e.g. item domains) are left out. A parameter of
    both with shapes that match neither way is an error that names it, and so is a source run
    with no parameter in common. Returns what was done: the source ``run``, ``model`` and its
    model.pt's ``model_sha256``, the names ``copied``, ``remapped`` (name: rows matched of
    rows), ``fresh`` and ``ignored``.
    ``warn=False`` (the check before a run is written) leaves the warnings to the real start.
    """
    # as load_run reads a run: again if run.json changed meanwhile (a --resume replacing the
    # files), so run.json, model.pt and experiment.pt are one run's, and one still training is
    # refused
    info, state, source, digest = _read_unchanged(folder, lambda: _read_init_from(folder))
    path = folder / MODEL_FILE
    source_maps = source.maps
    maps = experiment.maps
    same_nodes = (source_maps.users, source_maps.items, source_maps.entities) == (
        maps.users,
        maps.items,
        maps.entities,
    )
    # rows by domain or relation are those of other domains or relations where the names differ
    renamed = {
        len(names)
        for names, theirs in (
            (maps.domains, source_maps.domains),
            (maps.relations, source_maps.relations),
        )
        if names != theirs
    }
    # and the runs it started from in turn: their parameters live on in it
    earlier, unchecked = _earlier_sources(info, folder)
    sources = [(source, model_spec(info["model"]).all_domains), *earlier]
    seen = _held_out_pairs_seen(experiment, sources)
    if unchecked and warn:
        log.warning(
            "--init-from %s: it started from --init-from %s, which is gone, holds another "
            "model.pt now or was not recorded: whether that run trained on this run's "
            "validation and test pairs is not checked",
            folder,
            unchecked,
        )
    if seen and warn:
        log.warning(
            "--init-from %s: its model (or a run it started from with --init-from) trained on "
            "%d of this run's validation and test pairs: this run's scores are not held out",
            folder,
            seen,
        )
    record: dict[str, Any] = {
        "run": str(folder),
        "model": info["model"],
        "model_sha256": digest,  # a resume given the run moved checks it (_same_init_from)
        "copied": [],
        "remapped": {},
        "fresh": [],
        "ignored": [],
        "held_out_pairs_seen": seen,
    }
    params = dict(net.named_parameters())
    node_parameters = net.node_parameters()
    other_text = _other_text_model(info, experiment, folder)
    if other_text and warn:
        log.warning(
            "--init-from %s: its text vectors were made by model %s, this run's by model %s: "
            "its text input (%s) would read vectors of another space, so it starts fresh",
            folder,
            other_text[0],
            other_text[1],
            ", ".join(name for name in params if _reads_text(name)),
        )
    for name, param in params.items():
        if name not in state or (other_text and _reads_text(name)):
            record["fresh"].append(name)
            continue
        value = state[name]
        kinds = node_parameters.get(name)
        mine = None if kinds is None else _node_rows(maps, kinds, param.size(0))
        theirs = None if kinds is None else _node_rows(source_maps, kinds, value.size(0))
        if mine is None and param.dim() and param.shape[0] in renamed:
            record["fresh"].append(name)  # by position it would be another domain's
            continue
        if value.shape == param.shape and (same_nodes or mine is None or theirs is None):
            with torch.no_grad():
                param.copy_(value)
            record["copied"].append(name)
        elif mine is not None and theirs is not None and value.shape[1:] == param.shape[1:]:
            index = {key: row for row, key in enumerate(theirs)}
            pairs = [(row, index[key]) for row, key in enumerate(mine) if key in index]
            if not pairs:
                raise InputError(
                    f"--init-from: no node of parameter {name!r} (its rows are nodes) is in the "
                    "run to start from: its graph has none of this one's users, items or "
                    "entities",
                    file=str(path),
                )
            rows, source_rows = torch.tensor(pairs).T
            with torch.no_grad():
                param[rows] = value[source_rows].to(param.dtype)
            record["remapped"][name] = f"{len(pairs)} of {len(mine)} rows"
        else:
            raise InputError(
                f"--init-from: parameter {name!r} has shape {tuple(value.shape)} in the run "
                f"to start from ({info['model']}) and {tuple(param.shape)} here: train the "
                "same model with the same --dim, --layers and text settings",
                file=str(path),
            )
    record["ignored"] = sorted(name for name in state if name not in params)
    if not record["copied"] and not record["remapped"]:
        raise InputError(
            f"--init-from: no parameter of the run's model ({info['model']}) is one of this "
            f"model's ({', '.join(params) or 'none'})",
            file=str(path),
        )
    return record


def _reads_text(name: str) -> bool:
    """Whether parameter ``name`` is one of a module that reads text vectors."""
    return any(part in TEXT_MODULES for part in name.split(".")[:-1])


def _other_text_model(
    info: Mapping[str, Any], experiment: Experiment, folder: Path
) -> tuple[str, str] | None:
    """The text models (name and identity) of the source run ``info`` and of ``experiment``
    when both recorded one and they differ; None otherwise (either read no vectors, or its
    store had no record of their model: not checked, as :meth:`Run._check_text_model`)."""
    theirs, mine = info.get("text_model"), experiment.text_model
    if theirs is None or mine is None:
        return None
    if not (isinstance(theirs, dict) and all(isinstance(theirs.get(k), str) for k in MODEL_KEYS)):
        raise InputError(
            "--init-from: run.json is damaged: its text_model is no text model's name and identity",
            file=str(folder / RUN_FILE),
            field="text_model",
        )
    if theirs["identity"] == mine["identity"]:
        return None
    return (
        f"{theirs['name']} ({theirs['identity']})",
        f"{mine['name']} ({mine['identity']})",
    )


def _read_init_from(folder: Path) -> tuple[dict[str, Any], dict[str, Any], Experiment, str]:
    """The run.json, model parameters, experiment and model.pt's sha256 of the finished run
    ``folder``."""
    info = check_finished_run(folder)
    path = folder / MODEL_FILE
    try:
        data = path.read_bytes()
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except (RuntimeError, OSError, EOFError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        first = load_error(exc)
        raise InputError(
            f"--init-from: the run's model cannot be read ({first})", file=str(path)
        ) from None
    experiment = _read_run_experiment(folder, info, option="--init-from: ")
    return info, state, experiment, hashlib.sha256(data).hexdigest()


def model_sha256(run: str | Path | None) -> str | None:
    """The sha256 of the model.pt of the run folder ``run`` (an ``--init-from``), None without
    one or where it cannot be read (the warm start says why)."""
    if run is None:
        return None
    try:
        return hashlib.sha256((Path(run) / MODEL_FILE).read_bytes()).hexdigest()
    except OSError:
        return None


def same_model(recorded: Any, run: str | Path | None) -> bool:
    """Whether the run folder ``run`` (an ``--init-from`` given again, not at the path
    recorded) holds the model.pt of the ``recorded`` sha256: the run moved, or reached through
    another path. Where none was recorded (an older kgrec's run or study) it cannot tell."""
    return isinstance(recorded, str) and model_sha256(run) == recorded


def _same_init_from(info: Mapping[str, Any], folder: str | None) -> bool:
    """Whether ``folder`` (a resume's ``--init-from``) holds the model the run of run.json
    ``info`` started from (run.json's ``init_from.model_sha256``, :func:`same_model`)."""
    record = info.get("init_from")
    return same_model(record.get("model_sha256") if isinstance(record, dict) else None, folder)


def _same_teachers(info: Mapping[str, Any], folders: Sequence[str] | None) -> bool:
    """Whether ``folders`` (a resume's ``--distill-from``) hold the models the run of run.json
    ``info`` learnt from, in order (:func:`changed_teachers`)."""
    return folders is not None and not changed_teachers(info.get(TEACHERS_RECORD), folders)


def _earlier_sources(
    info: Mapping[str, Any], folder: Path
) -> tuple[list[tuple[Experiment, bool]], str | None]:
    """The experiments (with their models' ``all_domains``) of the runs the run of run.json
    ``info`` in ``folder`` started from in turn (its ``--init-from``, that run's, ...), each
    read where it still holds the model.pt of the recorded sha256; and the path of the first
    that cannot be read so (gone, or another model.pt now), None if none."""
    found: list[tuple[Experiment, bool]] = []
    visited = {folder.resolve()}
    while True:
        record = info.get("init_from")
        if not isinstance(record, dict) or not isinstance(record.get("run"), str):
            given = (info.get("settings") or {}).get("init_from")  # started so, not recorded
            return found, None if given is None else str(given)
        path = Path(record["run"])
        if path.resolve() in visited:  # a run does not start from itself
            return found, None
        visited.add(path.resolve())
        try:
            if not same_model(record.get("model_sha256"), path):
                return found, str(path)
            info = check_finished_run(path)
            experiment = _read_run_experiment(path, info, option="--init-from: ")
        except InputError:
            return found, str(path)
        found.append((experiment, model_spec(info["model"]).all_domains))


def _held_out_pairs_seen(experiment: Experiment, sources: Sequence[tuple[Experiment, bool]]) -> int:
    """How many of ``experiment``'s validation and test pairs (by user and item id) the runs of
    ``sources`` (each with whether its model trains on all domains) trained on: a warm start
    from them has seen them."""
    trained: set[tuple[str, str]] = set()
    for source, all_domains in sources:
        users, items = source.split.training_interactions(source.data, all_domains=all_domains)
        trained.update(
            zip(
                [source.maps.users[u] for u in users.tolist()],
                [source.maps.items[i] for i in items.tolist()],
                strict=True,
            )
        )
    maps, split = experiment.maps, experiment.split
    held = torch.cat([split.valid, split.test], dim=1)
    return sum(
        (maps.users[u], maps.items[i]) in trained for u, i in zip(*held.tolist(), strict=True)
    )


def _node_rows(maps: IdMaps, kinds: Sequence[str], num_rows: int) -> list[tuple[str, str]] | None:
    """The node (kind, id) of each of ``num_rows`` rows of a parameter whose rows are nodes of
    ``kinds`` (:meth:`GraphRecommender.node_parameters`) on the graph of ``maps``: the kinds
    from the first on, as many as that many rows hold (a run's model with entity embeddings
    or without has a row per entity or none); None where no such run of kinds has that many
    rows."""
    nodes = {"user": maps.users, "item": maps.items, "entity": maps.entities}
    order = list(nodes)
    rows: list[tuple[str, str]] = []
    for kind in order[order.index(kinds[0]) :]:
        rows += [(kind, key) for key in nodes[kind]]
        if len(rows) == num_rows:
            return rows
    return None


def check_finished_run(folder: Path, option: str = "--init-from") -> dict[str, Any]:
    """Refuse an ``init_from`` (or another ``option``'s run folder: ``--distill-from``) that
    is no finished run (before any data is read); its run.json."""
    try:
        info = _read_run_json(folder)
    except InputError as exc:  # say which option: "no run here" read as if of --out
        raise InputError(
            f"{option}: {exc.message}", file=exc.file, line=exc.line, field=exc.field
        ) from None
    _check_finished(folder, info, option=f"{option}: ")
    _check_run_settings(folder, info, option=f"{option}: ")
    for name in (MODEL_FILE, EXPERIMENT_FILE):
        if not (folder / name).exists():
            raise InputError(
                f"{option}: the run has no {name} (not trained to the end?)",
                file=str(folder / name),
            )
    return info


# --distill-from: the teacher runs of kgrec.objectives.Distillation (their mix: kgrec.teachers)
# where run.json records the teachers of a distilled run
TEACHERS_RECORD = "distill_from"


def check_teachers(folders: Sequence[str | Path]) -> None:
    """Refuse a teacher that is no finished run (before any data is read)."""
    for folder in folders:
        check_finished_run(Path(folder), option="--distill-from")


def teacher_records(
    folders: Sequence[str | Path], experiment: Experiment, *, out: Path
) -> list[dict[str, Any]]:
    """What run.json records of each teacher (its ``run``, ``model`` and model.pt's
    ``model_sha256``); an InputError naming the teacher and ``out`` where a teacher was
    trained on another split than ``experiment``'s (the run, or `kgrec tune`'s study, in
    ``out``)."""
    mine = split_digest(experiment)
    records = []
    for folder in map(Path, folders):
        info = check_finished_run(folder, option="--distill-from")
        theirs = info.get(SPLIT_DIGEST)
        if not isinstance(theirs, str):  # an older kgrec's run: its experiment.pt says
            theirs = split_digest(_read_run_experiment(folder, info, "--distill-from: "))
        if theirs != mine:
            raise InputError(
                f"--distill-from {folder} was trained on another split than {out} ({theirs}, "
                f"{mine}): a teacher must share the student's split (the same --protocol, "
                "--seed, --train-fraction and data)",
                file=str(folder / "run.json"),
                field=SPLIT_DIGEST,
            )
        seen = _held_out_pairs_learnt(info, folder)
        if seen:  # as a warm start from it would say (warm_start)
            log.warning(
                "--distill-from %s: its model (or a run it learnt from) trained on %d of this "
                "run's validation and test pairs (it started from --init-from a run of another "
                "split): its scores carry them into this run, whose scores are not held out",
                folder,
                seen,
            )
        records.append(
            {"run": str(folder), "model": info["model"], "model_sha256": model_sha256(folder)}
        )
    return records


def _held_out_pairs_learnt(
    info: Mapping[str, Any], folder: Path, visited: set[Path] | None = None
) -> int:
    """How many of its split's validation and test pairs the run of run.json ``info`` in
    ``folder`` learnt from, as the records say: those its ``--init-from`` start trained on
    (``init_from.held_out_pairs_seen``) and, in turn, those its ``--distill-from`` teachers
    learnt from (each on the same split, read where it still holds the recorded model.pt);
    the most of them. A run without records (an older kgrec's) counts 0."""
    visited = set() if visited is None else visited
    visited.add(folder.resolve())
    record = info.get("init_from")
    seen = record.get("held_out_pairs_seen") if isinstance(record, dict) else None
    found = seen if isinstance(seen, int) and not isinstance(seen, bool) else 0
    teachers = info.get(TEACHERS_RECORD)
    for teacher in teachers if isinstance(teachers, list) else ():
        if not (isinstance(teacher, dict) and isinstance(teacher.get("run"), str)):
            continue
        path = Path(teacher["run"])
        if path.resolve() in visited or not same_model(teacher.get("model_sha256"), path):
            continue
        try:
            theirs = _read_run_json(path)
        except InputError:
            continue
        found = max(found, _held_out_pairs_learnt(theirs, path, visited))
    return found


def changed_teachers(records: Any, folders: Sequence[str | Path]) -> list[str]:
    """The teachers among ``folders`` (a resume's ``--distill-from``) that do not hold the
    model.pt of run.json's ``records`` in the same place of the list (another model.pt now,
    or none recorded): a student resumed on another teacher would learn another blend. A
    teacher moved, or reached through another path, holding the same model.pt, is the same."""
    if not isinstance(records, list) or len(records) != len(folders):
        return [str(folder) for folder in folders]
    return [
        str(folder)
        for folder, record in zip(folders, records, strict=True)
        if not (isinstance(record, dict) and same_model(record.get("model_sha256"), folder))
    ]


@dataclass(frozen=True)
class Teachers:
    """The ``--distill-from`` runs as the distillation term learns them: their standardised
    mix (:func:`blend`) as user and item embeddings, and the sha256 of each model.pt read, in
    order (the ranks of a launcher compare them: :func:`check_same_teachers`)."""

    users: torch.Tensor
    items: torch.Tensor
    sha256s: tuple[str | None, ...]


def check_teachers_as_recorded(
    records: Any,
    folders: Sequence[str | Path],
    teachers: Teachers | None,
    *,
    recorder: str = "run.json",
    since: str = "the run started",
) -> None:
    """An InputError naming the first teacher of ``folders`` whose model.pt loaded
    (``teachers.sha256s``) is not the one run.json's ``records`` give (:func:`teacher_records`,
    written as the run started, or checked by a resume; `kgrec tune`'s study: ``recorder``,
    ``since`` it began): trained again or replaced between the two reads, the run would learn
    from a teacher other than the one it records."""
    if teachers is None:
        return
    recorded = [r.get("model_sha256") if isinstance(r, dict) else None for r in records or ()]
    for n, (folder, sha256) in enumerate(zip(folders, teachers.sha256s, strict=True)):
        theirs = recorded[n] if n < len(recorded) else None
        if sha256 != theirs:
            raise InputError(
                f"--distill-from {folder}: its {MODEL_FILE} changed since {since} "
                f"(trained again or replaced?): {recorder} records sha256 {str(theirs)[:12]}, "
                f"the model read to learn from has {str(sha256)[:12]}; train again once the "
                "teacher run is finished",
                file=str(Path(folder) / MODEL_FILE),
                field="--distill-from",
            )


def load_teachers(
    folders: Sequence[str | Path],
    mix: Any,
    *,
    split: Split,
    items: torch.Tensor,
    graph: Data | None = None,
) -> Teachers:
    """The teachers' standardised mix (:func:`blend`) as embeddings, read from the run
    folders ``folders`` (:func:`load_run`), over the covered ``items`` (a bool mask); an
    InputError naming the teacher where it was trained on another split than ``split`` or its
    scores are all alike. With the student's message graph ``graph``, a teacher whose graph
    holds no interaction of users the student trains (a model of the target domain alone,
    whose cold-start users are its untrained embeddings) is warned of."""
    weights = check_mix(mix, len(folders))
    trained = None if graph is None else _interacting_users(graph)
    teachers, sha256s = [], []
    for folder in map(Path, folders):
        # the sha256 of the model.pt loaded: read while run.json stayed the same, as the run
        run, sha256 = _read_unchanged(
            folder, lambda folder=folder: (_load_run(folder, "cpu"), model_sha256(folder))
        )
        sha256s.append(sha256)
        theirs = run.experiment.split
        if not all(
            torch.equal(getattr(theirs, name), getattr(split, name))
            for name in ("train", "valid", "test")
        ):  # checked by digest before the run was written; changed since?
            raise InputError(
                "--distill-from: the run was trained on another split than this run's: a "
                "teacher must share the student's split",
                file=str(folder),
            )
        if trained is not None:
            unknown = trained & ~_interacting_users(run.graph)
            if bool(unknown.any()):  # the term pulls their rankings towards untrained scores
                log.warning(
                    "--distill-from %s: its graph holds no interaction of %d of the users this "
                    "run trains (%s: cold-start users of a model of the target domain alone?); "
                    "their scores are its untrained embeddings, which the distillation term "
                    "pulls this run's rankings of them towards: distil from a model of every "
                    "domain (lightgcn-merged, ease-merged)",
                    folder,
                    int(unknown.sum()),
                    few(str(run.experiment.maps.users[i]) for i in unknown.nonzero().flatten()),
                )
        users, item_emb = embeddings(run.model, run.graph)
        teachers.append((users.detach().cpu(), item_emb.detach().cpu()))
    try:
        names = [str(folder) for folder in folders]
        users, item_emb = blend(teachers, weights, items=items.cpu(), names=names)
    except ValueError as exc:
        raise InputError(f"--distill-from {exc}", field="--distill-from") from None
    return Teachers(users, item_emb, tuple(sha256s))


def _interacting_users(graph: Data) -> torch.Tensor:
    """A bool mask of ``graph``'s users (a message graph) with an interaction in it."""
    users = graph.edge_index[0, graph.edge_type == USER_TO_ITEM].cpu()
    mask = torch.zeros(graph.num_users, dtype=torch.bool)
    mask[users] = True
    return mask


def read_teachers(settings: Mapping[str, Any], graph: Data, split: Split) -> Teachers | None:
    """The teachers of a run's ``settings`` (train()'s arguments; None without
    ``distill_from``) over the target items of the message graph ``graph`` not unseen in
    ``split`` (:func:`load_teachers`): read once per process, by a run or by `kgrec tune` for
    all its trials (the teachers and the split are the study's), and handed to
    :func:`fit_arguments`."""
    if settings.get("distill_from") is None:
        return None
    domains = split.negative_domains(graph.item_domain.cpu())
    return load_teachers(
        settings["distill_from"],
        settings.get("distill_mix"),
        split=split,
        items=domains == split.target_domain,
        graph=graph,
    )


def check_same_teachers(folders: Sequence[str | Path] | None, teachers: Teachers | None) -> None:
    """Under a launcher, an InputError on every rank unless every rank read the model.pt files
    rank 0 read as its ``--distill-from`` runs (``teachers``, read from ``folders``: each rank
    reads them from its own disk, at a path of its own), compared by sha256, in order: a rank
    that learnt from another teacher would pull the model elsewhere. Before any collective of
    training; nothing in a world of one."""
    if not distributed.current().distributed:
        return
    every = distributed.gather_object(None if teachers is None else teachers.sha256s)
    first = every[0]
    counts = [0 if theirs is None else len(theirs) for theirs in every]
    if len(set(counts)) > 1:
        shown = ", ".join(f"rank {rank} {count}" for rank, count in enumerate(counts))
        raise InputError(
            f"the ranks were given other numbers of --distill-from runs ({shown}): give every "
            "rank the same teacher runs, in the same order",
            field="--distill-from",
        )
    for n, sha256 in enumerate(first or ()):
        ranks = [str(rank) for rank, theirs in enumerate(every) if theirs[n] != sha256]
        if ranks:
            raise InputError(
                f"teacher {n + 1} ({Path(folders[n]) / MODEL_FILE} on this rank): "
                f"rank{'s' if len(ranks) > 1 else ''} {', '.join(ranks)} read another model.pt "
                f"than rank 0 (sha256 {', '.join(str(every[int(r)][n])[:12] for r in ranks)} "
                f"against {str(sha256)[:12]}): every rank must learn from the same teacher runs; "
                "copy rank 0's to the other machines",
                field="--distill-from",
            )


def _check_finished(folder: Path, info: Mapping[str, Any], option: str = "") -> None:
    """Refuse a run whose run.json says it is training: being trained now (a ``kgrec train``
    holds its folder's lock), or stopped while it trained or while its files were replaced
    (some may be the earlier run's), it is no run to serve or start from."""
    if info.get("status") == "training":  # a run of an older kgrec may have no status
        if _being_trained(folder):
            raise InputError(
                f"{option}the run is being trained now (a kgrec train holds its folder): "
                "use it once that training has finished",
                file=str(folder / RUN_FILE),
            )
        raise InputError(
            f"{option}the run did not finish (stopped while it trained or while its files were "
            "written): finish it with the kgrec train command that trained it and --resume",
            file=str(folder / RUN_FILE),
        )


def _being_trained(folder: Path) -> bool:
    """Whether a ``kgrec train`` holds ``folder``'s lock (:func:`_lock_run_folder`) now."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released when fd is closed
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _describe_warm_start(record: Mapping[str, Any]) -> str:
    remapped = ", ".join(f"{k} ({v})" for k, v in record["remapped"].items())
    copied = ", ".join(record["copied"]) or "none"
    return (
        f"init from {record['run']} ({record['model']}): copied {copied}"
        + (f"; remapped {remapped}" if remapped else "")
        + (f"; fresh: {', '.join(record['fresh'])}" if record["fresh"] else "")
    )


def environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Where and how a run was trained, recorded beside its metrics: threads (per process),
    device, and the data-parallel world (``world_size`` processes, 1 without a launcher)."""
    device = torch.device(device)
    return {
        "threads": torch.get_num_threads(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "world_size": distributed.current().size,
        "backend": _backend(),
        "kgrec": kgrec.__version__,
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
    }


# -- helpers -------------------------------------------------------------------------------


def _backend() -> str | None:
    import torch.distributed as dist

    return dist.get_backend() if dist.is_available() and dist.is_initialized() else None


# what a run gives an objective itself (the items' domains), no option of train()
RUN_GIVEN = ("item_domain",)
# train()'s options of the terms that any objective may have (Contrastive's, TextNeighbours',
# Distillation's)
TERM_OPTIONS = (
    "cl_weight",
    "cl_noise",
    "cl_temperature",
    "cl_layer",
    "text_cl_weight",
    "text_cl_neighbours",
    "text_cl_temperature",
    "distill_from",
    "distill_mix",
    "distill_weight",
    "distill_temperature",
)


def objective_options() -> tuple[str, ...]:
    """train()'s options that are the objective's (:mod:`kgrec.objectives`): the keyword
    arguments of every objective of :data:`~kgrec.objectives.OBJECTIVES` (read from their
    signatures: a new loss's options need no list of their own, only their defaults in
    ``TRAIN_DEFAULTS``), and :data:`TERM_OPTIONS`."""
    own = (
        name
        for objective in OBJECTIVES.values()
        for name in inspect.signature(objective).parameters
        if name not in RUN_GIVEN
    )
    return (*dict.fromkeys(own), *TERM_OPTIONS)


OBJECTIVE_OPTIONS = objective_options()
# train()'s options that must be positive
POSITIVE_OPTIONS = (
    "epochs",
    "dim",
    "batch_size",
    "patience",
    "text_hidden",
    "target_weight",
    "cold_start_weight",
    "text_cl_neighbours",
    "lr",
)
# train()'s options that become float32 numbers as they are: Adam's step size, the pair weights
FLOAT32_OPTIONS = ("lr", "target_weight")
# train()'s options that must not be negative (the objective's check themselves)
NON_NEGATIVE_OPTIONS = ("adversarial_weight", "layers")


# the options whose values are names from a list (check_settings, _check_run_settings)
CHOICES = {
    "objective": OBJECTIVES,
    "batching": BATCHING,
    "score": SCORES,
    "text_input": TEXT_INPUTS,
    "relation_weighting": RELATION_WEIGHTINGS,
    "cold_items": COLD_ITEMS,
}


def check_settings(settings: Mapping[str, Any], *, resume: bool = False) -> None:
    """Every check :func:`train` makes of its arguments before it reads any data (``resume``:
    of a run to resume, whose checkpoint replaces the ``init_from`` warm start).

    ``settings`` holds ``model`` and train()'s keyword arguments (missing ones take train()'s
    defaults); :mod:`kgrec.tune` checks each trial with it too.
    """
    settings = {**TRAIN_DEFAULTS, **settings}
    check_domain_source(settings["data"], settings["domain"], settings["domain_rule"])
    for name, value in settings.items():  # first: the objective built below refuses NaN too
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(
                f"{name} must be a finite number, got {value}", field=option_flag(name)
            )
        default = TRAIN_DEFAULTS.get(name)
        counts = isinstance(default, int) and not isinstance(default, bool)
        if counts and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
            # a count (dim, layers, epochs, ...): 2.5 or True was a model's bare TypeError
            raise InputError(f"{name} must be an integer, got {value!r}", field=option_flag(name))
        if isinstance(default, bool) and not isinstance(value, bool):
            # a switch (entity_embeddings): "False" is true, and was taken as True silently
            flag = "--no-entity-embeddings" if name == "entity_embeddings" else option_flag(name)
            raise InputError(f"{name} must be True or False, got {value!r}", field=flag)
        real = isinstance(default, float)
        if real and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            # a number (lr, target_weight, ...): "0.01" was a bare TypeError of a comparison
            raise InputError(f"{name} must be a number, got {value!r}", field=option_flag(name))
    # the bounds of each number, before the objective and the cold-start training are built
    # with them (a negative --text-cl-neighbours was torch's traceback, a --cold-start-weight
    # 0 an error naming --cold-start-share)
    for name in POSITIVE_OPTIONS:
        if not settings[name] > 0:
            raise InputError(
                f"{name} must be positive, got {settings[name]}", field=option_flag(name)
            )
    for name in NON_NEGATIVE_OPTIONS:
        if not settings[name] >= 0:
            raise InputError(
                f"{name} must not be negative, got {settings[name]}", field=option_flag(name)
            )
    for name in FLOAT32_OPTIONS:  # else converting them to the parameters' type fails
        if settings[name] > MAX_LR:
            raise InputError(
                f"{name} must be at most {MAX_LR:.4g} (the largest float32: the parameters' "
                f"type), got {settings[name]:g}",
                field=option_flag(name),
            )
    text_property = settings["text_property"]
    if text_property is not None and not is_property_name(text_property):
        # as kgrec embed refuses its --property: before, a store was opened to say so, naming
        # the argument 'property'
        raise InputError(
            f"--text-property {text_property!r}: {PROPERTY_RULE}", field="--text-property"
        )
    model = settings["model"]
    spec = model_spec(model)
    for name, choices in CHOICES.items():
        _check_choice(name, settings[name], choices)
    text_input = settings["text_input"]
    if text_input != "none" and "text_input" not in spec.options:
        takes = ", ".join(name for name, other in MODELS.items() if "text_input" in other.options)
        raise InputError(
            f"{model} takes no text input (models that do: {takes})", field="--text-input"
        )
    if text_input != "none" and settings["store"] is None:
        raise InputError(
            f"--text-input {text_input} reads node text vectors from a store: give --store "
            "(after `kgrec embed --store URI`)",
            field="--text-input",
        )
    objective_for(settings)
    _check_model_options(settings, spec)
    _check_ease(settings, spec)
    if settings["text_cl_weight"] and settings["store"] is None:
        raise InputError(
            "--text-cl-weight pulls items towards the items with the nearest texts: give a "
            "--store whose items have text vectors (after `kgrec embed --store URI --kinds Item`)",
            field="--text-cl-weight",
        )
    if settings["text_cl_weight"] and settings["batching"] != "full":
        raise InputError(
            "--text-cl-weight works with --batching full only (an item's text neighbours lie "
            "outside a sampled subgraph)",
            field="--text-cl-weight",
        )
    _check_distillation(settings)
    if settings["num_negatives"] and settings["batching"] != "full":
        raise InputError(
            "--num-negatives works with --batching full only (the extra items lie outside a "
            "sampled subgraph)",
            field="--num-negatives",
        )
    # (a model that trains nothing by gradient reads no objective: kgrec train refuses it
    # as unread, the Python API ignores it)
    if settings["cl_weight"] and spec.learns and "layers" not in spec.options:
        takes = ", ".join(name for name, other in MODELS.items() if "layers" in other.options)
        raise InputError(
            f"--cl-weight perturbs the output of the model's propagation layers, and {model} "
            f"has none (models that do: {takes})",
            field="--cl-weight",
        )
    if settings["cl_weight"] and settings["cl_layer"] > settings["layers"]:
        raise InputError(
            f"cl_layer must lie in [0, {settings['layers']}] (0: SimGCL's two views), "
            f"got {settings['cl_layer']}",
            field="--cl-layer",
        )
    check_train_fraction(settings["train_fraction"])
    check_few_shot(settings["few_shot"])
    check_seed(settings["seed"])
    check_protocol_or_split(settings["protocol"], settings["split"])
    check_cold_shares(
        settings["protocol"],
        settings["split"],
        settings["cold_valid_share"],
        settings["cold_test_share"],
        settings["new_item_share"],
    )
    check_source(settings["protocol"], settings["split"], settings.get("source_domain"))
    _check_cold_start(settings, spec)
    _check_cold_items(settings, spec)
    # rank 0 alone reads it (warm_start; fit sends the parameters on): another rank's machine
    # need hold no copy, and one refused there would leave rank 0 waiting --dist-timeout
    if settings["init_from"] is not None and not resume and distributed.env_world().is_main:
        check_finished_run(Path(settings["init_from"]))
    if settings["batching"] == "neighbor" and not model_class(model).supports_sampling:
        sampled = ", ".join(name for name in MODELS if model_class(name).supports_sampling)
        raise InputError(
            f"--batching neighbor trains on sampled subgraphs, which {model} does not "
            f"support (models that do: {sampled})",
            field="--batching",
        )
    if settings["batching"] == "neighbor" and settings["layers"] == 0:
        raise InputError(
            "--batching neighbor samples one hop per layer: --layers 0 (no propagation) "
            "trains with --batching full",
            field="--layers",
        )


def check_not_out(distill_from: Any, out: str | Path) -> None:
    """Refuse ``distill_from`` naming the run folder ``out``; before the other checks, which
    would say "no run here" of a new one, or learn from a run as it is replaced."""
    if isinstance(distill_from, list | tuple) and Path(out).resolve() in (
        Path(folder).resolve() for folder in distill_from if isinstance(folder, str | Path)
    ):
        raise InputError(
            "--distill-from names the run folder being trained (--out): a teacher is "
            "another, finished run",
            field="--distill-from",
        )


def _check_distillation(settings: Mapping[str, Any]) -> None:
    """The distillation options (:mod:`kgrec.teachers`): refused without ``distill_from``
    away from their defaults, a mix that does not fit the teachers, neighbour batching, and a
    teacher that is no finished run."""
    if settings["distill_from"] is None:
        for name in ("distill_mix", "distill_weight", "distill_temperature"):
            if settings[name] != TRAIN_DEFAULTS[name]:
                raise InputError(
                    f"{option_flag(name)} sets the distillation term, which learns from teacher "
                    "runs: give them with --distill-from RUN [RUN ...]",
                    field=option_flag(name),
                )
        return
    folders = check_folders(settings["distill_from"])
    check_mix(settings["distill_mix"], len(folders))
    if settings["batching"] != "full":
        raise InputError(
            "--distill-from works with --batching full only (the items the distillation term "
            "ranks lie outside a sampled subgraph)",
            field="--distill-from",
        )
    check_teachers(folders)


# train()'s options that scale the loss or its gradients: far from their defaults, the float32
# numbers of training overflow (kgrec.train.NotFinite)
LOSS_SCALES = (
    "temperature",
    "reg_weight",
    "target_weight",
    "cl_weight",
    "cl_noise",
    "cl_temperature",
    "text_cl_weight",
    "text_cl_temperature",
    "distill_weight",
    "distill_temperature",
    "cold_start_weight",
    "adversarial_weight",
)


def overflow_hint(settings: Mapping[str, Any]) -> str:
    """What to change besides --lr when training overflowed: the run's loss scales that are
    not at their defaults."""
    changed = [
        f"{option_flag(name)} {settings[name]:g} (default {TRAIN_DEFAULTS[name]:g})"
        for name in LOSS_SCALES
        if settings.get(name, TRAIN_DEFAULTS[name]) != TRAIN_DEFAULTS[name]
    ]
    return f", or bring {', '.join(changed)} nearer the default" if changed else ""


# train()'s arguments that go to kgrec.train.fit as they are
FIT_SETTINGS = ("epochs", "lr", "batch_size", "patience", "target_weight", "seed")


def fit_arguments(
    settings: Mapping[str, Any], graph: Data, split: Split, *, teachers: Teachers | None = None
) -> dict[str, Any]:
    """The arguments of :func:`kgrec.train.fit` that a run's ``settings`` (train()'s
    arguments) give for training over the message graph ``graph`` on ``split``: those it
    takes as they are, and the objective, epoch strategy and cold-start training they name
    (an InputError where they are off); ``teachers``: those of ``distill_from`` read already
    (:func:`read_teachers`; None: read here)."""
    return {
        **{name: settings[name] for name in FIT_SETTINGS},
        "objective": objective_for(settings, graph, split, teachers=teachers),
        "epoch_strategy": epoch_strategy_for(settings["batching"]),
        "cold_start": cold_start_for(settings),
    }


def objective_for(
    settings: Mapping[str, Any],
    graph: Data | None = None,
    split: Split | None = None,
    *,
    teachers: Teachers | None = None,
) -> Objective:
    """The objective of a run's ``settings`` (train()'s arguments) over the items of the
    message graph ``graph`` (their domains, and their text vectors where the text-neighbour
    term needs them), drawing no negatives or text neighbours among ``split``'s unseen items
    (:meth:`Split.unseen_items`); None only checks the settings. The distillation term learns
    ``teachers`` (:func:`read_teachers`), read here from ``distill_from`` where None."""
    options = {name: settings.get(name, TRAIN_DEFAULTS[name]) for name in objective_options()}
    item_text = teacher = None
    if graph is not None:
        domains = graph.item_domain if split is None else split.negative_domains(graph.item_domain)
        options["item_domain"] = domains  # -1: unseen, never drawn
        if options["text_cl_weight"]:
            vectors, has_text = item_text_vectors(graph)
            item_text = vectors, has_text & (domains >= 0)
        if options["distill_from"] is not None:
            if split is None:
                raise ValueError("the distillation term needs the split (its training items)")
            covered = domains == split.target_domain  # the items ranked, not the unseen ones
            if teachers is None:
                teachers = load_teachers(
                    options["distill_from"],
                    options["distill_mix"],
                    split=split,
                    items=covered,
                    graph=graph,
                )
            teacher = teachers.users, teachers.items, covered, split.train
    return _objective(
        settings.get("objective", TRAIN_DEFAULTS["objective"]),
        item_text=item_text,
        teacher=teacher,
        **options,
    )


def reads_text(settings: Mapping[str, Any]) -> bool:
    """Whether a run with ``settings`` (:func:`train`'s arguments, ``model`` among them; missing
    ones take the defaults) reads node text vectors from its store: models with text inputs,
    ``text_input`` or ``cold_items`` other than ``"none"``, or ``text_cl_weight`` or
    ``ease_text_weight`` above 0."""
    option = {name: settings.get(name, TRAIN_DEFAULTS[name]) for name in TRAIN_DEFAULTS}
    return (
        model_spec(settings["model"]).text
        or option["text_input"] != "none"
        or option["cold_items"] != "none"
        or option["text_cl_weight"] > 0
        or option["ease_text_weight"] > 0
    )


def reads_user_text(settings: Mapping[str, Any]) -> bool:
    """Whether a model of ``settings`` (:func:`train`'s arguments, ``model`` among them;
    missing ones take the defaults) takes users' text vectors as input: a model with
    ``text_input`` other than ``"none"`` (its text covers users and items), or
    ``cross-domain`` (its linear projection of every node's text, with ``"none"``)."""
    spec = model_spec(settings["model"])
    text_input = settings.get("text_input", TRAIN_DEFAULTS["text_input"])
    return "text_input" in spec.options and (text_input != "none" or spec.text)


def check_user_text(experiment: Experiment, settings: Mapping[str, Any], *, store: str) -> None:
    """An InputError when ``settings`` feed users' text vectors to the model
    (:func:`reads_user_text`) and ``experiment``'s users have vectors whose texts read the
    store's interactions (a user template with ``{items}``, as the store records:
    :func:`kgrec.text.embed.interaction_kinds`): every interaction, valid and test ones
    included, so the model would see the items it is tested on. A record that does not say
    (before session 28, when no template read them) is not checked."""
    from kgrec.errors import StoreError
    from kgrec.store import redact
    from kgrec.text.embed import interaction_kinds

    users = experiment.data["user"]
    if not reads_user_text(settings) or "x_mask" not in users or not bool(users.x_mask.any()):
        return
    property = settings["text_property"]
    try:
        reads = interaction_kinds(experiment.text_model) or {}
    except ValueError as exc:
        raise StoreError(
            f"{redact(store)}: the record of the text vectors {property!r} is damaged: {exc}; "
            "embed them again (kgrec embed)"
        ) from None
    if not reads.get("User", False):
        return
    text_input = settings.get("text_input", TRAIN_DEFAULTS["text_input"])
    takes = f"--text-input {text_input}" if text_input != "none" else "its projection of node text"
    raise InputError(
        f"the users' text vectors {property!r} in {redact(store)} were embedded with a user "
        "template that names {items}, which reads every interaction in the store, valid and "
        f"test ones included: {settings['model']} takes them as input ({takes}), so it would "
        "see the items it is tested on. Embed the users again with a template without {items} "
        f"(kgrec embed --store URI --users: the default leaves it out; --property {property}), "
        "and give {items} vectors, which are for search and serving, their own --property",
        field="--text-input" if text_input != "none" else "--model",
    )


def cold_start_for(settings: Mapping[str, Any]) -> HideTargetEdges | None:
    """The cold-start training of a run's ``settings`` (None: ``cold_start_share`` 0)."""
    share = settings.get("cold_start_share", TRAIN_DEFAULTS["cold_start_share"])
    if not share:
        return None
    weight = settings.get("cold_start_weight", TRAIN_DEFAULTS["cold_start_weight"])
    try:
        return HideTargetEdges(share, weight)
    except ValueError as error:
        raise InputError(str(error), field="--cold-start-share") from error


def check_cold_start_users(experiment: Experiment) -> None:
    """An InputError naming ``--cold-start-share`` when cold-start training would find no user
    of ``experiment`` to hide (none has training interactions in the target domain and in
    another): raised before a run is written, not in its first epoch."""
    split = experiment.split
    try:
        HideTargetEdges(1.0).eligible(
            split.training_interactions(experiment.data, all_domains=True),
            experiment.data["item"].domain,
            split.target_domain,
            len(experiment.maps.users),
        )
    except ValueError as error:
        raise InputError(str(error), field="--cold-start-share") from error


# options of some models only: given to another model, they are refused, not ignored
MODEL_OPTIONS = (*EASE_OPTIONS, "entity_embeddings", "relation_weighting", "adversarial_weight")


# options only a model that learns by gradient reads (the others are counted or fitted)
LEARNING_OPTIONS = (
    *FIT_SETTINGS[:-1],  # not the seed
    "objective",
    *OBJECTIVE_OPTIONS,
    "batching",
    "init_from",
    "cold_start_share",
    "cold_start_weight",
    "cold_items",
    "cold_item_scale",
)


# (main option, its value that turns it off, the options read only when it is on)
DEPENDENT_OPTIONS = (
    ("cl_weight", 0.0, ("cl_noise", "cl_temperature", "cl_layer")),
    ("text_cl_weight", 0.0, ("text_cl_neighbours", "text_cl_temperature")),
    ("distill_from", None, ("distill_mix", "distill_weight", "distill_temperature")),
    ("cold_start_share", 0.0, ("cold_start_weight",)),
    ("text_input", "none", ("text_hidden",)),
    ("cold_items", "none", ("cold_item_scale",)),
)


def options_off(settings: Mapping[str, Any]) -> list[str]:
    """The :data:`DEPENDENT_OPTIONS` whose main option ``settings`` (train()'s arguments;
    missing ones take their defaults) leave off: read only beside it."""
    return [
        name
        for main, off, dependent in DEPENDENT_OPTIONS
        if settings.get(main, TRAIN_DEFAULTS[main]) == off
        for name in dependent
    ]


# options only some models take: check_settings refuses them given to another model
_OTHER_MODELS_OPTIONS = (*MODEL_OPTIONS, "text_input")


def never_read_options(settings: Mapping[str, Any]) -> list[str]:
    """The options that the model of ``settings`` (``model`` and train()'s arguments; missing
    ones take their defaults) never reads with these settings, at their defaults or not:
    training options for a model that trains nothing by gradient, ``dim`` and ``layers`` for
    one that propagates nothing, ``target_weight`` for one trained on the target domain alone
    (its weighted mean over target pairs cancels the weight), ``text_property`` for a run that
    reads no node text (:func:`reads_text`; or one from ``data`` files, which hold none), the
    :data:`DEPENDENT_OPTIONS` of a main option left off, and the options of other models
    (:data:`MODEL_OPTIONS`, ``text_input``) that :func:`check_settings` refuses away from
    their defaults. `kgrec tune`'s printed command leaves them all out."""
    spec = model_spec(settings["model"])
    option = {name: settings.get(name, TRAIN_DEFAULTS[name]) for name in TRAIN_DEFAULTS}
    unread = [] if spec.learns else [n for n in LEARNING_OPTIONS if n not in spec.options]
    unread += [n for n in GNN if n not in spec.options]  # sizes of models that propagate
    if not spec.all_domains:
        unread.append("target_weight")
    unread += options_off(option)  # read only beside their main option
    if option["cold_items"] == "text":  # the text MLP's output, unscaled: no student to scale
        unread.append("cold_item_scale")
    if option["store"] is None or not reads_text(settings):  # no text vectors are read
        unread.append("text_property")
    unread += [n for n in _OTHER_MODELS_OPTIONS if n not in spec.options]
    return list(dict.fromkeys(unread))


def unread_options(settings: Mapping[str, Any]) -> list[str]:
    """The options ``settings`` (``model`` and train()'s arguments) set away from their
    defaults that the model never reads (:func:`never_read_options`), but for the options of
    other models, which :func:`check_settings` refuses with its own message. `kgrec train`
    refuses them; the Python API (and `kgrec tune`'s trials, which may turn a main option off)
    ignores them, so one loop may give every model the same settings."""
    option = {name: settings.get(name, TRAIN_DEFAULTS[name]) for name in TRAIN_DEFAULTS}
    return [
        n
        for n in never_read_options(settings)
        if n not in _OTHER_MODELS_OPTIONS and option[n] != TRAIN_DEFAULTS[n]
    ]


def _check_model_options(settings: Mapping[str, Any], spec: ModelSpec) -> None:
    for name in MODEL_OPTIONS:
        if name not in spec.options and settings[name] != TRAIN_DEFAULTS[name]:
            takes = ", ".join(n for n, other in MODELS.items() if name in other.options)
            flag = "--no-entity-embeddings" if name == "entity_embeddings" else f"--{name}"
            raise InputError(
                f"{settings['model']} takes no {name} (models that do: {takes})",
                field=flag.replace("_", "-"),
            )


def _check_ease(settings: Mapping[str, Any], spec: ModelSpec) -> None:
    if "ease_lambda" not in spec.options:
        return
    if not settings["ease_lambda"] > 0:
        raise InputError(
            f"ease_lambda must be positive, got {settings['ease_lambda']}", field="--ease-lambda"
        )
    weight = settings["ease_text_weight"]
    if not weight >= 0:
        raise InputError(
            f"ease_text_weight must be >= 0 (0: no text), got {weight}", field="--ease-text-weight"
        )
    if weight > 0 and settings["store"] is None:
        raise InputError(
            "--ease-text-weight reads item text vectors from a store: give --store (after "
            "`kgrec embed --store URI --kinds Item`)",
            field="--ease-text-weight",
        )


def _check_cold_start(settings: Mapping[str, Any], spec: ModelSpec) -> None:
    share = settings["cold_start_share"]
    if not 0 <= share <= 1:
        raise InputError(
            f"cold_start_share must lie in [0, 1] (0: off), got {share}",
            field="--cold-start-share",
        )
    if not share:
        return
    trains = [
        name for name, other in MODELS.items() if other.all_domains and "layers" in other.options
    ]
    if settings["model"] not in trains:
        raise InputError(
            f"--cold-start-share hides target-domain edges from message passing: "
            f"{settings['model']} does not propagate over every domain's interactions "
            f"(models that do: {', '.join(trains)})",
            field="--cold-start-share",
        )
    if settings["batching"] != "full":
        raise InputError(
            "--cold-start-share works with --batching full only", field="--cold-start-share"
        )
    cold_start_for(settings)


def _check_cold_items(settings: Mapping[str, Any], spec: ModelSpec) -> None:
    scale = settings["cold_item_scale"]
    if scale is not None and (
        isinstance(scale, bool)  # True is no scale (before: 1.0, and load_run refused the run)
        or not (isinstance(scale, int | float) and 0 < scale < float("inf"))
    ):
        raise InputError(
            f"cold_item_scale must be a positive number (or None: chosen on validation), got "
            f"{scale!r}",
            field="--cold-item-scale",
        )
    choice = settings["cold_items"]
    if choice == "none":
        return
    if not spec.learns:
        takes = ", ".join(name for name, other in MODELS.items() if other.learns)
        raise InputError(
            f"--cold-items {choice} distils a model's item embeddings, which {settings['model']} "
            f"does not learn (models that do: {takes})",
            field="--cold-items",
        )
    if choice == "text" and settings["text_input"] != "add":
        raise InputError(
            "--cold-items text scores items without training interactions by the text MLP "
            "alone, leaving out their ID embedding: it needs --text-input add",
            field="--cold-items",
        )
    if settings["store"] is None:
        raise InputError(
            f"--cold-items {choice} reads item text vectors from a store: give --store (after "
            "`kgrec embed --store URI --kinds Item`)",
            field="--cold-items",
        )


def epoch_strategy_for(batching: str):
    """How an epoch is cut into batches: the whole graph, or neighbour-sampled subgraphs."""
    if batching == "neighbor":
        from kgrec.sampling import NeighborSampling

        return NeighborSampling()
    return FullGraph()


def _objective(
    name: str,
    *,
    cl_weight: float = 0.0,
    cl_noise: float = 0.2,
    cl_temperature: float = 0.2,
    cl_layer: int = 1,
    text_cl_weight: float = 0.0,
    text_cl_neighbours: int = 10,
    text_cl_temperature: float = 0.2,
    distill_from: Sequence[str] | None = None,
    distill_mix: Sequence[float] | None = None,
    distill_weight: float = 1.0,
    distill_temperature: float = 0.25,
    item_text: tuple[torch.Tensor, torch.Tensor] | None = None,
    teacher: tuple[torch.Tensor, ...] | None = None,
    **options: Any,
) -> Objective:
    """The objective ``name`` with the options its constructor takes, plus the text-neighbour
    term (:class:`kgrec.objectives.TextNeighbours`, over ``item_text``'s items) when
    ``text_cl_weight`` > 0, the distillation term (:class:`kgrec.objectives.Distillation`,
    from ``teacher``: its user and item embeddings, covered items and training pairs) with
    ``distill_from``, and the SimGCL/XSimGCL contrastive term
    (:class:`kgrec.objectives.Contrastive`) when ``cl_weight`` > 0."""
    cls = OBJECTIVES[name]
    accepted = inspect.signature(cls).parameters
    for key, value in options.items():  # an option that would be ignored is refused
        if key not in accepted and key in TRAIN_DEFAULTS and value != TRAIN_DEFAULTS[key]:
            flag = f"--{key.replace('_', '-')}"
            takers = [o for o, c in OBJECTIVES.items() if key in inspect.signature(c).parameters]
            raise InputError(
                f"objective {name} does not take {flag} (given {value!r}); objectives that "
                f"do: {', '.join(takers)}",
                field=flag,
            )
    try:
        main = cls(**{key: value for key, value in options.items() if key in accepted})
        if text_cl_weight:
            if item_text is None:  # checking the settings only (the count: check_settings's
                # bounds, check_sizes_fit's memory; 10**20 columns here was torch's overflow)
                neighbours = torch.empty((0, 1), dtype=torch.long)
            else:
                neighbours = text_neighbours(*item_text, text_cl_neighbours)
            main = TextNeighbours(
                main, neighbours, weight=text_cl_weight, temperature=text_cl_temperature
            )
        if distill_from is not None:
            if teacher is None:  # checking the settings only
                empty = torch.empty(0, 1)
                teacher = empty, empty, torch.empty(0, dtype=torch.bool), torch.empty(2, 0).long()
            main = Distillation(
                main,
                *teacher[:2],
                items=teacher[2],
                train=teacher[3],
                weight=distill_weight,
                temperature=distill_temperature,
                # the softmax objective's temperature (with BPR, its default)
                student_temperature=options.get("temperature", TRAIN_DEFAULTS["temperature"]),
            )
        if cl_weight == 0:
            return main
        return Contrastive(
            main, weight=cl_weight, noise=cl_noise, temperature=cl_temperature, layer=cl_layer
        )
    except (ValueError, TypeError) as error:  # its message starts with the option's name
        name = str(error).split(" ", 1)[0]
        raise InputError(
            str(error), field=option_flag(name) if name in TRAIN_DEFAULTS else "--objective"
        ) from error


def option_flag(name: str) -> str:
    """The `kgrec train` option of train()'s argument ``name``: ``--batch-size``."""
    return "--" + name.replace("_", "-")


def _check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise InputError(
            f"unknown {name} {value!r} (one of: {', '.join(choices)})", field=option_flag(name)
        )


def _start(out: Path, settings: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """The run.json of the run to resume, or None for a new run (refusing to overwrite one)."""
    if not (out / RUN_FILE).exists():
        if out.is_dir() and set(out.iterdir()) <= set(stale := _stale_temporaries(out)):
            _remove_stale(stale)  # a folder of nothing else (rm -r RUN/* leaves them) is empty
        if _left_by_a_killed_new_run(out):  # under the lock (_lock_run_folder): no training's
            _remove_killed_new_run(out)
        if out.exists() and not out.is_dir():
            raise InputError(
                "this is a file, not a folder: choose a new --out folder", file=str(out)
            )
        if out.exists() and any(out.iterdir()):
            if all(map(_written_by_train, out.iterdir())):
                raise InputError(
                    "this folder holds a run's files but no run.json: a training killed while "
                    "it wrote the folder, which kgrec does not delete (it cannot tell them from "
                    "files of yours); delete the folder, or choose a new --out folder",
                    file=str(out),
                )
            raise InputError(
                "this is not a run folder and not empty: choose a new --out folder",
                file=str(out),
            )
        if resume:
            log.info("nothing to resume in %s: starting a new run", out)
        return None
    info = _read_run_json(out)
    if not resume:
        raise InputError(
            "this folder already holds a run: choose a new --out folder, or --resume to "
            "continue this one",
            file=str(out),
        )
    if not (out / EXPERIMENT_FILE).exists():
        raise InputError("the run to resume has no experiment.pt", file=str(out))
    if (
        (out / MODEL_FILE).exists()
        and not (out / CHECKPOINT_FILE).exists()
        and model_spec(info["model"]).learns
    ):
        # it would train again from the start and replace the trained model
        raise InputError(
            "the run to resume has a trained model.pt but no checkpoint.pt to continue from: "
            "train a new run (--init-from this one to start from its model)",
            file=str(out / CHECKPOINT_FILE),
        )
    # a setting newer than the run has the default it ran with
    saved = {**TRAIN_DEFAULTS, **info["settings"]}
    from kgrec.store import absolute_uri  # a run of an older kgrec recorded the store as typed

    saved["store"] = absolute_uri(saved["store"])
    changed = [
        f"--{name.replace('_', '-')} {settings[name]!r} (the run has {saved.get(name)!r})"
        for name in settings
        if name not in RESUMABLE_CHANGES
        and saved.get(name) != settings[name]
        and not (name == "init_from" and _same_init_from(info, settings[name]))
        and not (name == "distill_from" and _same_teachers(info, settings[name]))
    ]
    teachers = settings.get("distill_from")
    if teachers is not None and saved.get("distill_from") == teachers:
        retrained = changed_teachers(info.get(TEACHERS_RECORD), teachers)
        if retrained:  # the same folders, holding another model.pt now
            changed.append(
                f"--distill-from {' '.join(retrained)}: holds another model.pt than the run "
                f"learnt from (run.json's {TEACHERS_RECORD} records their sha256s)"
            )
    if changed:
        raise InputError(
            "--resume continues a run with its own settings; these differ: " + "; ".join(changed),
            file=str(out / RUN_FILE),
        )
    _remove_stale(_stale_temporaries(out))
    # a new run killed after it wrote run.json, before it removed its marker
    (out / NEW_RUN_MARKER).unlink(missing_ok=True)
    return info


def _stale_temporaries(out: Path) -> list[Path]:
    """The temporary files of kgrec's own beside the files train() writes in ``out`` (only
    those: never another name); called under the folder's lock (:func:`_lock_run_folder`), when
    no other training is writing them, they are what a kill while one was written left."""
    return [e for e in out.iterdir() if any(is_temporary(e, name) for name in _RUN_NAMES)]


def _remove_stale(stale: list[Path]) -> None:
    for path in stale:
        log.info("removing %s, which a training killed while it wrote it left", path)
        path.unlink(missing_ok=True)


def _written_by_train(entry: Path) -> bool:
    """Whether ``entry`` of a run folder is a name train() writes (or a temporary file of
    :func:`~kgrec.files.write_atomic`'s beside one)."""
    if entry.name in _RUN_NAMES:
        return True
    return entry.name.endswith(".tmp") and any(entry.name.startswith(f".{n}.") for n in _RUN_NAMES)


def _split_own(entry: Path) -> bool:
    """Whether ``entry`` of a run's ``split/`` is a file :func:`~kgrec.data.split.write_split`
    writes (or a temporary file of its write of one), a plain file."""
    names = [f"{n}.tsv" for n in (*SPLIT_FILES, NEW_ITEMS_FILE, FEW_SHOT_FILE)] + [RECORD_FILE]
    if entry.is_symlink() or not entry.is_file():
        return False
    return entry.name in names or any(is_temporary(entry, name) for name in names)


def not_written_by_train(out: Path) -> list[str]:
    """The entries of the run folder ``out`` (and of its ``split/``) that no training wrote:
    a user's files, a folder or a link where train() writes a plain file; their paths
    relative to ``out``, sorted. What must stop anything that would remove the run whole."""
    foreign = []
    for entry in out.iterdir():
        if not _written_by_train(entry) or entry.is_symlink():
            foreign.append(entry.name)
        elif entry.name == SPLIT_DIR:  # a folder of write_split's files alone
            if not entry.is_dir():
                foreign.append(entry.name)
            else:
                foreign += [f"{SPLIT_DIR}/{e.name}" for e in entry.iterdir() if not _split_own(e)]
        elif not entry.is_file():
            foreign.append(entry.name)
    return sorted(foreign)


def _left_by_a_killed_new_run(out: Path) -> bool:
    """Whether ``out`` holds a new run's marker (:data:`NEW_RUN_MARKER`), no run.json and
    nothing but the files a new run writes (plain files; ``split/`` a folder of
    :func:`~kgrec.data.split.write_split`'s files alone): what a training killed before it
    wrote run.json left. Asked under the folder's lock, when no training is writing it."""
    marker = out / NEW_RUN_MARKER
    if not marker.is_file() or marker.is_symlink() or (out / RUN_FILE).exists():
        return False
    return not not_written_by_train(out)


def _remove_killed_new_run(out: Path) -> None:
    """Remove what :func:`_left_by_a_killed_new_run` found, the marker last (a kill while
    they are removed leaves it, for the next training to remove the rest)."""
    log.warning(
        "%s holds what a new kgrec train killed before it wrote run.json left (%s): removed, "
        "and a new run started",
        out,
        ", ".join(sorted(entry.name for entry in out.iterdir())),
    )
    split = out / SPLIT_DIR
    try:
        if split.is_dir():
            for entry in split.iterdir():
                entry.unlink()
            split.rmdir()
        for entry in out.iterdir():
            if entry.name != NEW_RUN_MARKER:
                entry.unlink()
        (out / NEW_RUN_MARKER).unlink()
    except OSError as exc:
        raise InputError(
            f"cannot remove what a killed training left ({exc.strerror}): delete the folder, "
            "or choose a new --out folder",
            file=str(exc.filename or out),
        ) from None


def unfinished_run(out: Path) -> str | None:
    """What the folder ``out`` holds where it has no run.json and nothing but what train()
    writes (or nothing): ``"running"`` while a training holds its lock
    (:func:`_lock_run_folder`), ``"stopped"`` where none does (a training killed before it
    wrote run.json); None otherwise (absent, a run, or files of another's)."""
    if not out.is_dir() or (out / RUN_FILE).exists():
        return None
    try:
        if not all(map(_written_by_train, out.iterdir())):
            return None
        fd = os.open(out, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return "running"
    finally:
        os.close(fd)  # (closing it releases the lock)
    return "stopped"


def _discard_new_run(out: Path, made: Path | None) -> None:
    """Remove what :func:`_write_new_run` and the training wrote for a new run that failed,
    and the folders this run made (``made``: :func:`~kgrec.files.first_missing`) if nothing
    else is in them. Only the files kgrec wrote: one put in ``split/`` meanwhile (a note of
    the user's, beside the split files of a run that trained for hours) keeps it."""
    split = out / SPLIT_DIR
    if split.is_dir() and not split.is_symlink():
        for entry in split.iterdir():
            if _split_own(entry):
                entry.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            split.rmdir()  # only where empty
    for name in _RUN_NAMES:
        if name != SPLIT_DIR:
            (out / name).unlink(missing_ok=True)
    remove_made(out, made)


def _write_new_run(out: Path, info: dict[str, Any], experiment: Experiment) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        # first: what tells the next training a folder a kill left is this run's (_start)
        (out / NEW_RUN_MARKER).write_text(
            "kgrec train is writing a new run in this folder; left without run.json, it was "
            "killed, and the next kgrec train --out of this folder removes the run's files\n",
            encoding="utf-8",
        )
        write_split(
            experiment.split,
            experiment.maps,
            out / SPLIT_DIR,
            domain_rule=info["settings"]["domain_rule"],
            domain=info["settings"]["domain"],
        )
        save_experiment(experiment, out / EXPERIMENT_FILE)
        _write_json(out / RUN_FILE, info)
        (out / NEW_RUN_MARKER).unlink(missing_ok=True)  # a run now: run.json says what it holds
    except BaseException as exc:
        # stopped half-way (Ctrl-C, a full disk): a folder with a split and no run.json would
        # be refused by the same command, --resume too; the folder was empty (_start)
        _discard_new_run(out, None)
        if isinstance(exc, OSError):
            raise InputError(
                f"cannot write the run folder ({exc.strerror})", file=str(out)
            ) from None
        raise


def _read_run_json(folder: Path) -> dict[str, Any]:
    path = folder / RUN_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):  # --run FILE: no run there either
        if folder.name == RUN_FILE and folder.is_file():  # the run's file, not its folder
            raise InputError(
                f"a run is the folder of its {RUN_FILE}: give {folder.parent}",
                file=str(folder),
            ) from None
        raise InputError("no run here (run.json not found)", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read run.json ({exc.strerror})", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"run.json is not valid JSON ({exc})", file=str(path), line=exc.lineno
        ) from None
    except UnicodeDecodeError as exc:
        raise not_utf8(exc, path) from None
    if not isinstance(info, dict) or "settings" not in info or "model" not in info:
        raise InputError(
            "run.json has no settings (a run of an older kgrec?): train it again",
            file=str(path),
        )
    if not isinstance(info["settings"], dict) or not isinstance(info["model"], str):
        raise InputError(
            "run.json is damaged: its settings are no JSON object or its model no name; "
            "train the run again",
            file=str(path),
            field="settings" if not isinstance(info["settings"], dict) else "model",
        )
    if info["settings"].get("model") not in MODELS:
        raise InputError(
            f"run.json is damaged: its settings name no model kgrec knows "
            f"({info['settings'].get('model')!r}; models: {', '.join(MODELS)})",
            file=str(path),
            field="settings.model",
        )
    _check_known_settings(info, path)
    return info


# settings of an earlier kgrec's runs that kgrec no longer takes, each with the value under which
# such a run trained as today's kgrec trains (with another, it is refused: read otherwise)
RETIRED_SETTINGS = {"text_cl_source": "text"}  # the KG as the text view's source (session 56)


def _check_known_settings(info: Mapping[str, Any], path: Path) -> None:
    """Refuse a run.json recording a setting this kgrec does not know (a newer kgrec's run, or
    one of :data:`RETIRED_SETTINGS` of another value than today's): read, resumed or served
    without it, the run would be taken for another than the one trained."""
    unknown = [
        name
        for name, value in info["settings"].items()
        if name != "model"
        and name not in TRAIN_DEFAULTS
        and not (name in RETIRED_SETTINGS and value == RETIRED_SETTINGS[name])
    ]
    if not unknown:
        return
    recorded = ", ".join(f"{name}={info['settings'][name]!r}" for name in unknown)
    raise InputError(
        f"run.json records settings this kgrec does not take: {recorded} (a run of a newer "
        f"kgrec?); read without them, it would be taken for another run than the one trained: "
        f"use the kgrec that trained it",
        file=str(path),
        field=f"settings.{unknown[0]}",
    )


def _check_run_settings(folder: Path, info: Mapping[str, Any], option: str = "") -> None:
    """Refuse a run.json whose settings (edited by hand, damaged) have a value of another
    type than train() gives them, or a combination train() refuses: the model would be built
    from them (a count as a string was a bare TypeError) or served otherwise than it trained.
    Settings a run of an older kgrec lacks are left to train()'s defaults."""
    settings = info["settings"]
    if info["model"] != settings["model"]:  # kgrec writes the same name twice
        raise InputError(
            f"{option}run.json is damaged: its model {info['model']!r} is not its settings' "
            f"({settings['model']!r}); train the run again",
            file=str(folder / RUN_FILE),
            field="model",
        )
    for name, default in TRAIN_DEFAULTS.items():
        if name not in settings or default is None:
            continue
        value, wrong = settings[name], ""
        if isinstance(default, bool):
            wrong = "" if isinstance(value, bool) else "true or false"
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                wrong = "an integer"
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                wrong = "a number"
            elif not math.isfinite(value):
                wrong = "a finite number"
        elif name in CHOICES and value not in CHOICES[name]:
            wrong = f"one of {', '.join(CHOICES[name])}"
        elif isinstance(default, str) and not isinstance(value, str | None):
            wrong = "a name"
        if wrong:
            raise InputError(
                f"{option}run.json is damaged: settings.{name} must be {wrong}, got {value!r}; "
                "train the run again",
                file=str(folder / RUN_FILE),
                field=f"settings.{name}",
            )
    try:
        _check_cold_items({**TRAIN_DEFAULTS, **settings}, model_spec(settings["model"]))
    except InputError as exc:
        raise InputError(
            f"{option}run.json is damaged: its settings are no run kgrec trains ({exc.message})",
            file=str(folder / RUN_FILE),
            field="settings." + (exc.field or "--cold-items").lstrip("-").replace("-", "_"),
        ) from None


def _training_record(result: FitResult, seconds: float) -> dict[str, Any]:
    trained = result.epochs_run - result.epochs_resumed
    return {
        "best_epoch": result.best_epoch,
        "best_valid_ndcg@20": result.best_metric,
        "epochs_run": result.epochs_run,
        "epochs_resumed": result.epochs_resumed,
        "seconds": round(seconds, 2),  # of this call: a resumed run's earlier ones are not known
        "seconds_per_epoch": round(seconds / trained, 3) if trained else 0,
        "history": result.history,
    }


def _write_json(path: Path, payload: dict) -> None:
    write_atomic(path, _json_writer(payload))


def _json_writer(payload: dict) -> Callable[[Path], None]:
    return lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n")


__all__ = [
    "MODELS",
    "TRAIN_DEFAULTS",
    "Experiment",
    "ModelSpec",
    "Run",
    "build_run",
    "describe",
    "load_experiment",
    "load_run",
    "train",
    "warm_start",
]
