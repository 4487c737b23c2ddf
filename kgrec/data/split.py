"""Evaluation splits: the named, seeded protocols of PROTOCOL.md, and split files in and out.

A :class:`Split` holds the target domain's interactions as ``[2, n]`` (user index, item index)
tensors for train, valid and test; other domains' interactions are training data as usual.
Users with no target interaction in ``train`` are cold-start users.

Per-user 80/10/10 (both protocols), RecBole's ``RS: [0.8, 0.1, 0.1]`` rounding: a user's ``n``
interactions, in a seeded random order, give ``n // 10`` to valid and ``n // 10`` to test and the
rest to train, except that while train keeps at least two, a user with fewer than 10 gets one
test and then one valid interaction (n=5: 3/1/1, n=2: 1/0/1, n=1: 1/0/0). Train therefore
always keeps at least one.

``ml1m-action-comedy``: of the ``n`` overlapping users (at least 5 interactions in the source
and in the target domain), shuffled with the seed, the first ``round(0.1 n)`` are cold-valid and
the next ``round(0.2 n)`` cold-test users (halves round up; other shares with
``--cold-valid-share``/``--cold-test-share``; shares that draw no user of either are refused,
as are shares that leave no user warm). The source domain is the one ``--source-domain`` names,
else the protocol's (``action``) when the graph has it and the target is the protocol's
(``comedy``), else the other domain of a graph of two (``--target-domain``: the direction
reversed, or another pair of domains); a graph of more domains and none of these is refused,
listing them.
Random draws, from
``numpy.random.default_rng(seed)``: the user permutation first, then one uniform key per warm
target interaction in (user, item) order.

A training fraction ``F`` (0 < F <= 1; :func:`reduce_train`, after the protocol's split or the
split files) keeps, of each user's ``n`` target-domain training interactions,
``max(1, floor(F n + 0.5))`` (``F n`` as in decimals: 0.35 of 90 keeps 32) drawn at random:
the interactions with the smallest keys of one uniform key per training interaction in
(user, item) order from
``numpy.random.default_rng([seed, 1])`` (a stream of its own, so the split itself does not
change). Valid, test and other domains' interactions stay as they are, cold users stay cold, and
the few-shot users of split files keep their ``K`` (given after the fraction, as below).
The dropped interactions are unobserved data: not trained on and not masked when ranking.
``F = 1`` keeps the split as it is.

New-item protocols (``ml100k-new-items``, ``ml1m-new-items``; :attr:`Protocol.new_item_share`
0.2; another share with ``--new-item-share``): of the ``n`` target items with at least one
interaction, in a seeded random order, the first ``round(0.2 n)`` (halves up) are *new*: none
of their interactions is in train; each new item's ``m`` interactions, in a seeded random
order, give ``m // 2`` to valid and the rest to test (an item with one interaction: test).
A share that rounds to no item, or to every item, is refused. Every other target
interaction is split per user 80/10/10 as above. Random draws, from
``numpy.random.default_rng(seed)``: the item permutation, then one uniform key per new-item
interaction, then the 80/10/10 keys. A user whose target
interactions are all with new items has none in train: a cold-start user. Such a split has
``item_groups`` set, and the evaluation reports items by group (:mod:`kgrec.evaluate`): the new
items there are the target items with no training interaction and a held-out one (the drawn
ones, and any other whose interactions are all held out; not the items nobody interacted
with), which split files give back the same way. They are fixed before a training fraction
thins train (:attr:`Split.fixed_new_items`): an item that it leaves with no training
interaction is no new item (nor a warm one), as it was not held out by the split.

Few-shot users (:func:`give_few_shot`, ``K`` >= 1, after the protocol's split or the split
files and after the training fraction): each cold-start user with ``n`` held-out target
interactions (valid and test) gives ``min(K, n - 1)`` of them to train, so at least one stays
held out; those that gave one or more are the split's few-shot users. The graph export keeps no
timestamps, so the ``K`` are drawn at random: the interactions with the smallest keys of one
uniform key per cold user's held-out interaction in (user, item) order from
``numpy.random.default_rng([seed, 2])`` (a stream of its own: the split is otherwise unchanged,
and a user's interactions at ``K = 1`` are among those at ``K = 3``). ``K = 0`` keeps the split;
a split where no cold-start user would give one (each holds one held-out interaction) is refused.

Split files: besides ``train.tsv``, ``valid.tsv`` and ``test.tsv``, a split with item groups
writes ``new_items.tsv`` (header ``item_id``: its new items; with a training fraction, the
held-out items it left untrained are not listed)
and one with few-shot users ``few_shot_users.tsv`` (header ``user_id``; either header may carry
a RecBole type, ``item_id:token``, as the three files' may); reading a folder with
them gives back the same item groups and few-shot users. ``split.json`` records the ``K`` of
the few-shot users (``few_shot``) and how many they are (``few_shot_users``; 0 without them),
and reading refuses a listed user with more than ``K`` target-domain training interactions (a
warm user), a ``K`` with no ``few_shot_users.tsv`` (or one listing no user), and a
``few_shot_users.tsv`` listing another number of users than recorded (a user removed from it
would be read as a warm one); it records how many new items ``new_items.tsv`` lists
(``new_items``; null without item groups), and reading refuses the file missing or listing
another number; files that record none are not checked so. A ``source_domain`` the
graph does not have is refused, naming ``split.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as _field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from graph_schema.tables import DOMAIN_PATTERN, item_uid
from graph_schema.validate import plain  # (kgrec.experiment and kgrec.tune import it here)
from kgrec.data.export import INTERACTS, IdMaps, unique_pairs
from kgrec.data.protocols import PROTOCOLS, Protocol, get_protocol
from kgrec.errors import InputError
from kgrec.files import not_utf8, write_atomic

if TYPE_CHECKING:  # imported where a graph is built: `kgrec COMMAND --help` needs no PyG
    from torch_geometric.data import HeteroData

SPLIT_FILES = ("train", "valid", "test")
HEADER = ("user_id", "item_id")
MIN_OVERLAP = 5  # interactions per domain that make a user "overlapping"


NEW_ITEMS_FILE = "new_items"
FEW_SHOT_FILE = "few_shot_users"
# how the graph of the split was read: {"target_domain": name, "domain_rule": rule or null};
# null also for a graph read from a store, which keeps no record of the rules it was loaded with
RECORD_FILE = "split.json"


@dataclass(frozen=True)
class Split:
    """Target-domain train/valid/test interactions, each ``[2, n]`` (user index, item index)."""

    target_domain: int
    train: Tensor
    valid: Tensor
    test: Tensor
    # evaluate warm and new items (no training interaction) separately: new-item protocols
    item_groups: bool = False
    # users that were cold and gave a few target interactions to train (give_few_shot)
    few_shot_users: Tensor = _field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    # the --train-fraction its train was thinned with (reduce_train; thinned again: about the
    # product), which split.json records and read_split reads back
    train_fraction: float = 1.0
    # the domain whose users, with the target's, the cold-start users were drawn among (a
    # protocol with cold-start users; split.json records it); None: no such protocol
    source_domain: int | None = None
    # the K its few-shot users were given (give_few_shot; the larger when given twice), which
    # split.json records and read_split checks them against; None: no few-shot users, or
    # split files that record no K
    few_shot: int | None = None
    # the new items as the split made them (sorted indices), fixed before --train-fraction
    # thins train (reduce_train), so that items it leaves untrained do not join them; None:
    # those of train, valid and test (:meth:`new_item_indices`)
    fixed_new_items: Tensor | None = None

    def new_items(self, item_domain: Tensor) -> Tensor:
        """Boolean ``[num_items]``: True for the split's new items, the target items with no
        interaction in train and one in valid or test as the split made them (the drawn ones,
        and any other whose interactions are all held out; ``new_items.tsv``), not those that
        ``--train-fraction`` left without one. An item nobody interacted with is none:
        ../shared/eval/PROTOCOL.md draws new items among items with an interaction."""
        new = torch.zeros_like(item_domain, dtype=torch.bool)
        new[self.new_item_indices()] = True
        return new

    def new_item_indices(self) -> Tensor:
        """The indices of :meth:`new_items`, sorted (valid and test hold target items only)."""
        if self.fixed_new_items is not None:
            return self.fixed_new_items
        held_out = torch.cat([self.valid[1], self.test[1]]).unique()
        return held_out[~torch.isin(held_out, self.train[1])]

    def _untrained(self, item_domain: Tensor) -> Tensor:
        """Boolean ``[num_items]``: True for target items with no interaction in train."""
        untrained = item_domain == self.target_domain
        untrained[self.train[1]] = False
        return untrained

    def unseen_items(self, item_domain: Tensor) -> Tensor:
        """Boolean ``[num_items]``: the items a model trained on this split cannot know of.
        On a new-item protocol (``item_groups``) those are the target items with no training
        interaction (the :meth:`new_items`, and the items nobody interacted with), which
        arrive after training; none otherwise. Training draws no negatives
        (:meth:`negative_domains`) and no text neighbours among them."""
        if not self.item_groups:
            return torch.zeros_like(item_domain, dtype=torch.bool)
        return self._untrained(item_domain)

    def negative_domains(self, item_domain: Tensor) -> Tensor:
        """``item_domain`` for drawing training negatives: -1 (never drawn) for the
        :meth:`unseen_items`."""
        return torch.where(self.unseen_items(item_domain), -1, item_domain)

    def cold_users(self, num_users: int) -> Tensor:
        """Boolean ``[num_users]``: True for users with no target interaction in train."""
        cold = torch.ones(num_users, dtype=torch.bool)
        cold[self.train[0]] = False
        return cold

    def training_interactions(self, data: HeteroData, *, all_domains: bool) -> Tensor:
        """Training pairs: the split's train plus, with ``all_domains``, every interaction of
        the other domains (sorted by user, item)."""
        if not all_domains:
            return self.train
        pairs = data[INTERACTS].edge_index
        other = pairs[:, data["item"].domain[pairs[1]] != self.target_domain]
        return unique_pairs(*torch.cat([self.train, other], dim=1))


def _named_domain(maps: IdMaps, name: str, option: str) -> int:
    """Index of the domain ``name`` that ``option`` names; an InputError naming ``option``
    when the graph has no such domain."""
    if name not in maps.domains:
        raise InputError(
            f"{option} {name!r} is not a domain of the graph (domains: {', '.join(maps.domains)})",
            field=option,
        )
    return maps.domain_index(name)


def resolve_target(maps: IdMaps, protocol: Protocol, target_domain: str | None = None) -> int:
    """Index of the target domain: the one named, else the protocol's, else the only one."""
    if target_domain is not None:
        return _named_domain(maps, target_domain, "--target-domain")
    if protocol.target_domain in maps.domains:
        return maps.domains.index(protocol.target_domain)
    if protocol.source_domain is None and len(maps.domains) == 1:
        return 0
    raise InputError(
        f"protocol {protocol.name} needs target domain {protocol.target_domain!r}, which the "
        f"graph does not have (domains: {', '.join(maps.domains)}); name one with --target-domain",
        field="domain",
    )


def make_split(
    data: HeteroData,
    maps: IdMaps,
    protocol: str,
    *,
    seed: int,
    target_domain: str | None = None,
    source_domain: str | None = None,
    cold_valid_share: float | None = None,
    cold_test_share: float | None = None,
    new_item_share: float | None = None,
) -> Split:
    """The split of ``protocol`` (a name in :data:`PROTOCOLS`) with ``seed``; a protocol with
    cold-start users draws ``cold_valid_share`` and ``cold_test_share`` of the overlapping users
    as cold-valid and cold-test users, and a new-item protocol ``new_item_share`` of the target
    items as new items (None: the protocol's shares). The cold-start users are drawn among the
    users of the target domain and ``source_domain`` (None: :func:`_source_domain`)."""
    spec = with_cold_shares(get_protocol(protocol), cold_valid_share, cold_test_share)
    spec = with_new_item_share(spec, new_item_share)
    target = resolve_target(maps, spec, target_domain)
    pairs = data[INTERACTS].edge_index
    domain = data["item"].domain[pairs[1]]
    target_pairs = pairs[:, domain == target].numpy()
    rng = np.random.default_rng(check_seed(seed))
    labels = np.zeros(target_pairs.shape[1], dtype=np.int64)  # 0 train, 1 valid, 2 test
    per_user = np.ones(target_pairs.shape[1], dtype=bool)  # interactions split 80/10/10
    if spec.new_item_share and spec.source_domain is not None:
        raise ValueError(f"protocol {spec.name}: new items and cold-start users do not mix")
    if spec.new_item_share:
        items = np.unique(target_pairs[1])
        new = rng.permutation(items)[: int(_round_share(len(items), spec.new_item_share))]
        if not len(new):
            raise InputError(
                f"a new-item share of {spec.new_item_share} of the {len(items)} target items "
                "with an interaction is no item (halves rounded up): give a larger share",
                field="--new-item-share",
            )
        if len(new) == len(items):  # else train is empty, blamed on the data being too small
            raise InputError(
                f"a new-item share of {spec.new_item_share} of the {len(items)} target items "
                "with an interaction is every item (halves rounded up), which leaves none to "
                "train on: give a smaller share",
                field="--new-item-share",
            )
        per_user = ~np.isin(target_pairs[1], new)
        labels[~per_user] = _half_labels(target_pairs[1, ~per_user], rng)
    check_source_domain(spec, source_domain)
    source = None
    if spec.source_domain is not None:
        num_users = len(maps.users)
        source = _source_domain(maps, spec, target, source_domain)
        source_count = torch.bincount(pairs[0, domain == source], minlength=num_users).numpy()
        target_count = np.bincount(target_pairs[0], minlength=num_users)
        overlapping = np.flatnonzero((source_count >= MIN_OVERLAP) & (target_count >= MIN_OVERLAP))
        if not len(overlapping):
            raise InputError(
                f"protocol {spec.name} draws its cold-start users among the users with at least "
                f"{MIN_OVERLAP} interactions in domain {maps.domains[target]!r} and "
                f"{MIN_OVERLAP} in the source domain {maps.domains[source]!r}, and no user has: "
                "the domains share too few users for it",
                field="--protocol",
            )
        shuffled = rng.permutation(overlapping)
        n_valid = int(_round_share(len(shuffled), spec.cold_valid_share))
        n_test = int(_round_share(len(shuffled), spec.cold_test_share))
        for kind, share, count in (
            ("cold-valid", spec.cold_valid_share, n_valid),
            ("cold-test", spec.cold_test_share, n_test),
        ):
            if not count:  # as a new-item share that draws no item
                raise InputError(
                    f"a {kind} share of {share} of the {len(shuffled)} overlapping users is no "
                    "user (halves rounded up): give a larger share",
                    field=f"--{kind}-share",
                )
        if n_valid + n_test >= len(shuffled):  # the shares' sum is below 1, their rounding not
            raise InputError(
                f"cold-valid and cold-test shares {spec.cold_valid_share} and "
                f"{spec.cold_test_share} of the {len(shuffled)} overlapping users are "
                f"{n_valid} + {n_test} users (halves rounded up): none is left warm; give "
                "smaller shares",
                field="--cold-test-share",
            )
        cold_valid, cold_test = shuffled[:n_valid], shuffled[n_valid : n_valid + n_test]
        labels[np.isin(target_pairs[0], cold_valid)] = 1
        labels[np.isin(target_pairs[0], cold_test)] = 2
        per_user = np.isin(target_pairs[0], shuffled[n_valid + n_test :])
    labels[per_user] = _ratio_labels(target_pairs[0, per_user], rng)
    parts = [torch.as_tensor(target_pairs[:, labels == part]) for part in range(3)]
    for name, part in zip(SPLIT_FILES, parts, strict=True):
        if part.size(1) == 0:  # (read_split refuses such a file too)
            raise InputError(
                f"protocol {spec.name} leaves no {name} interactions in domain "
                f"{maps.domains[target]!r} ({target_pairs.shape[1]} target interactions, and "
                "the per-user 80/10/10 rule gives a user with few of them no valid one): the "
                "data is too small for it",
                field="--protocol",
            )
    split = Split(target, *parts, item_groups=bool(spec.new_item_share), source_domain=source)
    return replace(split, fixed_new_items=split.new_item_indices()) if split.item_groups else split


def check_seed(seed: int) -> int:
    """``seed`` if it is an integer in [0, 2**63), which numpy and torch both take, else
    :class:`InputError` naming the option."""
    seed = plain(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"the seed must be an integer in [0, 2**63), got {seed!r}", field="--seed")
    return seed


def with_cold_shares(
    spec: Protocol, valid: float | None = None, test: float | None = None
) -> Protocol:
    """``spec`` with other shares of cold-valid and cold-test users (None: ``spec``'s own);
    :class:`InputError` naming the option for a share out of range, shares that leave no warm
    user, or a protocol without cold-start users."""
    if valid is None and test is None:
        return spec
    for name, share in (("--cold-valid-share", valid), ("--cold-test-share", test)):
        if share is None:
            continue
        share = plain(share)
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
            raise InputError(f"a share of users must lie in (0, 1), got {share!r}", field=name)
        if spec.source_domain is None:
            raise InputError(
                f"protocol {spec.name} has no cold-start users, so {name} does not apply (the "
                "protocols that have them: "
                f"{', '.join(p.name for p in PROTOCOLS.values() if p.source_domain)})",
                field=name,
            )
    spec = replace(
        spec,
        cold_valid_share=spec.cold_valid_share if valid is None else float(valid),
        cold_test_share=spec.cold_test_share if test is None else float(test),
    )
    if spec.cold_valid_share + spec.cold_test_share >= 1:
        raise InputError(
            f"cold-valid and cold-test shares {spec.cold_valid_share} + {spec.cold_test_share} "
            "leave no overlapping user warm: their sum must be below 1",
            field="--cold-test-share",
        )
    return spec


def with_new_item_share(spec: Protocol, share: float | None = None) -> Protocol:
    """``spec`` with another share of new items (None: ``spec``'s own); :class:`InputError`
    naming ``--new-item-share`` for a share out of (0, 1) or a protocol without new items."""
    if share is None:
        return spec
    share = plain(share)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
        raise InputError(
            f"a share of items must lie in (0, 1), got {share!r}", field="--new-item-share"
        )
    if not spec.new_item_share:
        raise InputError(
            f"protocol {spec.name} holds no items out of training, so --new-item-share does not "
            "apply (the protocols that do: "
            f"{', '.join(p.name for p in PROTOCOLS.values() if p.new_item_share)})",
            field="--new-item-share",
        )
    return replace(spec, new_item_share=float(share))


def check_source_domain(spec: Protocol, source_domain: str | None) -> None:
    """:class:`InputError` naming ``--source-domain`` when it is given to a protocol that draws
    no cold-start users."""
    if source_domain is not None and spec.source_domain is None:
        raise InputError(
            f"protocol {spec.name} has no cold-start users, so --source-domain does not apply "
            "(the protocols that have them: "
            f"{', '.join(p.name for p in PROTOCOLS.values() if p.source_domain)})",
            field="--source-domain",
        )


def _source_domain(
    maps: IdMaps, spec: Protocol, target: int, source_domain: str | None = None
) -> int:
    """The domain whose users, with the target's, are the overlapping users: the one named
    (``--source-domain``), else the protocol's when the target is the protocol's own (its pair,
    action -> comedy, in a graph that may hold more domains), else the other domain of a graph
    of two (``--target-domain`` reversed the protocol, or named another pair). A graph of more
    domains and neither is refused, listing them: the protocol's source is no default for
    another target (drama -> thriller beside action would draw among action's users)."""
    names = ", ".join(maps.domains)
    if source_domain is not None:
        if _named_domain(maps, source_domain, "--source-domain") == target:
            raise InputError(
                f"--source-domain {source_domain!r} is the target domain: name another "
                f"(domains: {names})",
                field="--source-domain",
            )
        return maps.domains.index(source_domain)
    if spec.source_domain in maps.domains and maps.domains[target] == spec.target_domain:
        return maps.domains.index(spec.source_domain)
    if len(maps.domains) < 2:
        raise InputError(
            f"protocol {spec.name} draws cold-start users from users of the target domain and "
            f"another, and the graph has one domain ({maps.domains[target]!r}); load two, e.g. "
            "with --domain-rule",
            field="domain",
        )
    if len(maps.domains) > 2:
        raise InputError(
            f"protocol {spec.name} draws cold-start users from users of the target domain "
            f"{maps.domains[target]!r} and a source domain, and the graph has "
            f"{len(maps.domains)} domains ({names}); its own source {spec.source_domain!r} "
            f"goes with its own target {spec.target_domain!r} only: name the source with "
            "--source-domain",
            field="--source-domain",
        )
    return 1 - target


def check_train_fraction(fraction: float) -> float:
    """``fraction`` if it is a number in (0, 1], else :class:`InputError` naming the option."""
    fraction = plain(fraction)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
        raise InputError(
            f"the training fraction must be a number in (0, 1], got {fraction!r}",
            field="--train-fraction",
        )
    return float(fraction)


def reduce_train(split: Split, fraction: float, *, seed: int) -> Split:
    """``split`` with a seeded share ``fraction`` of each user's training interactions kept
    (at least one; the rule in this module's docstring); ``split`` itself when it is 1. The
    split's few-shot users (split files written with ``--few-shot``) keep all of theirs: they
    are the ``K`` given after the fraction, as :func:`give_few_shot` gives them after it."""
    fraction = check_train_fraction(fraction)
    if fraction == 1.0:
        return split
    # a few-shot user's training interactions are the K given after the fraction (split files
    # written with --few-shot): all kept, and drawing no key, as in the protocol's order
    shot = np.isin(split.train[0].numpy(), split.few_shot_users.numpy())
    users, items = split.train[:, torch.as_tensor(~shot)].numpy()
    order = np.lexsort((items, users))  # (user, item) order, whatever the train's order
    keys = np.empty(len(users))
    keys[order] = np.random.default_rng([check_seed(seed), 1]).random(len(users))
    ranked = np.lexsort((keys, users))  # by user, then key
    _, start, count = np.unique(users[ranked], return_index=True, return_counts=True)
    kept = np.maximum(1, _round_share(count, fraction))
    position = np.arange(len(users)) - np.repeat(start, count)
    keep = np.zeros(len(users), dtype=bool)
    keep[ranked] = position < np.repeat(kept, count)
    keep_all = shot.copy()
    keep_all[~shot] = keep
    train = split.train[:, torch.as_tensor(keep_all)]
    # the new items stay the split's: an item the fraction leaves untrained is no new item
    new = split.new_item_indices() if split.item_groups else split.fixed_new_items
    return replace(
        split, train=train, train_fraction=split.train_fraction * fraction, fixed_new_items=new
    )


def check_few_shot(k: int) -> int:
    """``k`` if it is an integer in [0, 2**63) (numpy's integers hold it; a larger one gave
    an OverflowError), else :class:`InputError` naming the option."""
    k = plain(k)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < 2**63:
        raise InputError(
            f"the few-shot count must be an integer in [0, 2**63), got {k!r}", field="--few-shot"
        )
    return k


def give_few_shot(split: Split, k: int, *, seed: int) -> Split:
    """``split`` with ``k`` held-out target interactions of each cold-start user moved to
    train (at most all but one; the rule in this module's docstring); ``split`` when ``k`` is 0.
    """
    k = check_few_shot(k)
    if k == 0:
        return split
    if split.item_groups:  # a cold user's items are new items, which must stay out of train
        raise InputError(
            "--few-shot gives cold-start users' held-out items to training, and on a new-item "
            "protocol those are new items, which no training interaction may name: use a "
            "protocol without new items",
            field="--few-shot",
        )
    held = torch.cat([split.valid, split.test], dim=1).numpy()
    cold = ~np.isin(held[0], split.train[0].numpy())
    if not cold.any() and len(split.few_shot_users):
        raise InputError(
            "--few-shot needs cold-start users (no target interaction in train), and this "
            f"split's {len(split.few_shot_users)} were all made few-shot users already (their "
            "interactions given to train when the split was written with --few-shot): train on "
            "it without --few-shot, or write the split again with the count you want",
            field="--few-shot",
        )
    if not cold.any():
        raise InputError(
            "--few-shot needs cold-start users (no target interaction in train), and this "
            "split has none: use a protocol with cold-start users, e.g. ml1m-action-comedy",
            field="--few-shot",
        )
    users, items = held[:, cold]
    order = np.lexsort((items, users))  # (user, item) order
    keys = np.empty(len(users))
    keys[order] = np.random.default_rng([check_seed(seed), 2]).random(len(users))
    ranked = np.lexsort((keys, users))
    _, start, count = np.unique(users[ranked], return_index=True, return_counts=True)
    given = np.minimum(k, count - 1)
    position = np.arange(len(users)) - np.repeat(start, count)
    move = np.zeros(len(users), dtype=bool)
    move[ranked] = position < np.repeat(given, count)
    if not move.any():  # no user to give any: K would leave the split as it is, silently
        raise InputError(
            f"--few-shot gives each cold-start user min(K, n - 1) of its n held-out target "
            f"interactions, so that one stays held out, and this split's {len(count)} "
            "cold-start users hold one held-out interaction each: none would become a few-shot "
            "user; use split files whose cold-start users hold two or more, or leave "
            "--few-shot out",
            field="--few-shot",
        )
    moved = set(zip(users[move].tolist(), items[move].tolist(), strict=True))

    def keep(pairs: Tensor) -> Tensor:
        mask = [(u, i) not in moved for u, i in zip(*pairs.tolist(), strict=True)]
        return pairs[:, torch.as_tensor(mask, dtype=torch.bool)]

    train = torch.cat([split.train, torch.as_tensor(np.stack([users[move], items[move]]))], 1)
    # a split read from files may have few-shot users already: they stay so, and the K that
    # bounds them all is the larger (unknown, None, when the files record none)
    shot = torch.unique(
        torch.cat([split.few_shot_users, torch.as_tensor(users[move], dtype=torch.long)])
    )
    known = split.few_shot if len(split.few_shot_users) else k
    return replace(
        split,
        train=unique_pairs(*train),
        valid=keep(split.valid),
        test=keep(split.test),
        few_shot_users=shot,
        few_shot=None if known is None or not len(shot) else max(known, k),
    )


def _round_share(n: int | np.ndarray, share: float) -> np.ndarray:
    """``n * share``, halves rounded up, as the share was written: the product is rounded to
    9 decimals first, so that 0.35 of 90 (``31.499999999999996`` in binary) is the half it
    means and rounds up to 32, not down to 31."""
    return np.floor(np.round(np.multiply(n, share), 9) + 0.5).astype(np.int64)


def _ratio_labels(users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """0/1/2 (train/valid/test) per interaction of ``users`` (sorted), 80/10/10 per user."""
    keys = rng.random(len(users))
    order = np.lexsort((keys, users))  # by user, then random key
    _, start, count = np.unique(users[order], return_index=True, return_counts=True)
    n_valid = count // 10
    n_test = count // 10
    n_train = count - n_valid - n_test
    small = count < 10
    bump = small & (n_train > 1)
    n_test, n_train = n_test + bump, n_train - bump
    bump = small & (n_train > 1)
    n_valid, n_train = n_valid + bump, n_train - bump
    position = np.arange(len(users)) - np.repeat(start, count)
    group_train = np.repeat(n_train, count)
    group_valid = np.repeat(n_valid, count)
    labels = np.zeros(len(users), dtype=np.int64)
    labels[order] = np.where(
        position < group_train, 0, np.where(position < group_train + group_valid, 1, 2)
    )
    return labels


def _half_labels(items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1/2 (valid/test) per interaction of ``items``: per item, half to valid (rounded down)."""
    keys = rng.random(len(items))
    order = np.lexsort((keys, items))  # by item, then random key
    _, start, count = np.unique(items[order], return_index=True, return_counts=True)
    position = np.arange(len(items)) - np.repeat(start, count)
    labels = np.empty(len(items), dtype=np.int64)
    labels[order] = np.where(position < np.repeat(count // 2, count), 1, 2)
    return labels


def write_split(
    split: Split,
    maps: IdMaps,
    directory: Path,
    *,
    domain_rule: str | None = None,
    domain: str | None = None,
) -> None:
    """Write ``train.tsv``, ``valid.tsv``, ``test.tsv`` (``user_id<TAB>item_id``, source ids),
    and ``split.json``: the target domain and the ``domain_rule`` the graph was read with, which
    :func:`recorded_rule` and :func:`read_split` apply again (None for a store's graph: its
    items are in the domains they were loaded into, by rules the store does not record), and
    the few-shot users' ``K`` (``few_shot``; null without them), which :func:`read_split` checks
    them against. An id holding a tab or a line break cannot be written so: an InputError,
    before any file."""
    for name, ids in (("user_id", maps.users), ("item_id", maps.item_ids)):
        bad = next((i for i in ids if "\t" in i or "\n" in i or "\r" in i), None)
        if bad is not None:
            raise InputError(
                f"{bad!r} holds a tab or a line break, which split files (one tab-separated "
                "pair per line) cannot hold: load the data with ids without them",
                file=str(directory),
                field=name,
            )
    directory.mkdir(parents=True, exist_ok=True)
    for name, pairs in zip(SPLIT_FILES, (split.train, split.valid, split.test), strict=True):
        lines = ["\t".join(HEADER)]
        lines += [
            f"{maps.users[u]}\t{maps.item_ids[i]}" for u, i in zip(*pairs.tolist(), strict=True)
        ]
        _write_atomic(directory / f"{name}.tsv", "\n".join(lines) + "\n")
    extras = {NEW_ITEMS_FILE: None, FEW_SHOT_FILE: None}
    if split.item_groups:
        new = split.new_item_indices().tolist()
        extras[NEW_ITEMS_FILE] = ["item_id", *(maps.item_ids[i] for i in new)]
    if split.few_shot_users.numel():
        extras[FEW_SHOT_FILE] = ["user_id", *(maps.users[u] for u in split.few_shot_users.tolist())]
    for name, lines in extras.items():
        if lines is None:
            (directory / f"{name}.tsv").unlink(missing_ok=True)
        else:
            _write_atomic(directory / f"{name}.tsv", "\n".join(lines) + "\n")
    record = {
        "target_domain": maps.domains[split.target_domain],
        # the domain the cold-start users were drawn with (None: a protocol without them)
        "source_domain": None if split.source_domain is None else maps.domains[split.source_domain],
        "domain_rule": domain_rule,
        "domain": domain,  # the one domain --domain read every item into, if it did
        # train.tsv is thinned already (reduce_train): read_split reads it back
        "train_fraction": float(f"{split.train_fraction:.12g}"),
        # the K of few_shot_users.tsv: read_split refuses a listed user trained on more
        "few_shot": split.few_shot if split.few_shot_users.numel() else None,
        # how many few_shot_users.tsv lists: read_split refuses a file listing fewer or more
        # (a user removed from it would be read as a warm one)
        "few_shot_users": int(split.few_shot_users.numel()),
        # how many new_items.tsv lists (null: no item groups): read_split refuses the file
        # missing or listing another number (without it the new items were read as untrained
        # warm ones, negatives drawn among them, and no item groups reported)
        "new_items": len(extras[NEW_ITEMS_FILE]) - 1 if split.item_groups else None,
    }
    _write_atomic(directory / RECORD_FILE, json.dumps(record, indent=2) + "\n")


def _record(directory: Path) -> dict:
    """The ``split.json`` of split files written by :func:`write_split` (else empty)."""
    path = directory / RECORD_FILE
    try:
        # utf-8-sig: a byte-order mark (an editor's, as in the .tsv files) is no part of it
        record = json.loads(path.read_text(encoding="utf-8-sig"))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except json.JSONDecodeError as exc:
        raise InputError(
            f"cannot read the split's record ({exc})", file=str(path), line=exc.lineno
        ) from None
    except UnicodeDecodeError as exc:
        raise not_utf8(exc, path) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the split's record ({exc})", file=str(path)) from None
    if not isinstance(record, dict):
        raise InputError("expected a JSON object", file=str(path))
    for name in ("target_domain", "source_domain", "domain_rule", "domain"):  # write_split's
        value = record.get(name)
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise InputError(f"expected a name or null, got {value!r}", file=str(path), field=name)
    fraction = record.get("train_fraction")
    if fraction is not None:
        try:
            check_train_fraction(fraction)
        except InputError:
            raise InputError(
                f"expected a number in (0, 1] or null, got {fraction!r}",
                file=str(path),
                field="train_fraction",
            ) from None
    k = record.get("few_shot")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise InputError(
            f"expected an integer >= 1 or null, got {k!r}", file=str(path), field="few_shot"
        )
    for name in ("few_shot_users", "new_items"):
        count = record.get(name)
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 0
        ):
            raise InputError(
                f"expected an integer >= 0 or null, got {count!r}", file=str(path), field=name
            )
    return record


def recorded_train_fraction(directory: Path) -> float:
    """The ``--train-fraction`` the train.tsv in ``directory`` was thinned with already
    (``split.json``; 1 if none or not recorded)."""
    fraction = _record(directory).get("train_fraction")
    return 1.0 if fraction is None else float(fraction)


def recorded_rule(directory: Path) -> str | None:
    """The domain rule split files in ``directory`` were made with (``split.json``; None if
    none or not recorded): the files name items of the domains that rule makes. A rule that
    is none (hand-edited) is an InputError naming ``split.json``, not ``--domain-rule``."""
    rule = _record(directory).get("domain_rule")
    if rule is not None:
        from loaders.rules import resolve_rule  # lazily, as kgrec.data.source imports it

        try:
            resolve_rule(rule)
        except InputError as exc:
            raise InputError(
                exc.message,  # without the option's field: the rule is the record's
                file=str(directory / RECORD_FILE),
                field="domain_rule",
            ) from None
    return rule


def recorded_domain(directory: Path) -> str | None:
    """The ``--domain`` split files in ``directory`` were made with (None if none). One that is
    no domain name (hand-edited) is an InputError naming ``split.json``, not ``--domain``."""
    domain = _record(directory).get("domain")
    if domain is not None and not DOMAIN_PATTERN.fullmatch(domain):
        raise InputError(
            f"domain name {domain!r} must match {DOMAIN_PATTERN.pattern}",
            file=str(directory / RECORD_FILE),
            field="domain",
        )
    return domain


def _domains_advice(record: dict) -> str:
    """How to read the graph into the domains of split files whose ``record`` (split.json)
    names a domain the graph lacks: from files, and from a store, which is loaded into them
    (`--domain-rule` is refused with `--store`)."""
    rule, domain = record.get("domain_rule"), record.get("domain")
    option = (
        f"--domain-rule {rule}"
        if isinstance(rule, str)
        else f"--domain {domain}"
        if isinstance(domain, str)
        else "--domain-rule"
    )
    return (
        f"read the data into the split's domains ({option} with --data; with --store, a store "
        f"loaded with {option})"
    )


def read_split(directory: Path, maps: IdMaps, *, target_domain: str | None = None) -> Split:
    """Read split files made by :func:`write_split` or elsewhere, validating every row.

    The target domain is the one ``split.json`` records (a ``target_domain`` naming another
    is refused), else ``target_domain``, else the one domain holding every item id of the
    files; a recorded ``source_domain`` the graph lacks is refused. Whitespace around an id is
    no part of it, as in the loaders (:func:`_find`). Unknown users or items, malformed or
    duplicate rows raise :class:`InputError` naming the file, line and field.
    """
    rows = {name: _read_rows(directory / f"{name}.tsv") for name in SPLIT_FILES}
    item_ids = [item for name in SPLIT_FILES for _, item, _ in rows[name]]
    record = _record(directory)
    recorded = record.get("target_domain")
    if target_domain is None and recorded is not None:
        if recorded not in maps.domains:
            raise InputError(
                f"these split files were made with target domain {recorded!r}, which the graph "
                f"does not have (domains: {', '.join(maps.domains)}): {_domains_advice(record)}",
                file=str(directory / RECORD_FILE),
                field="target_domain",
            )
        target_domain = recorded
    if recorded is not None and target_domain != recorded:
        raise InputError(
            f"these split files were made with target domain {recorded!r}, and --target-domain "
            f"names {target_domain!r}: their held-out interactions are {recorded!r}'s; leave "
            "--target-domain out, or make the split again with the target you want",
            file=str(directory / RECORD_FILE),
            field="target_domain",
        )
    source = record.get("source_domain")  # what describe() names
    if source is not None and source not in maps.domains:
        raise InputError(
            f"these split files were made with source domain {source!r}, which the graph does "
            f"not have (domains: {', '.join(maps.domains)}): {_domains_advice(record)}",
            file=str(directory / RECORD_FILE),
            field="source_domain",
        )
    if target_domain is None:
        target = _infer_domain(maps, item_ids)
    else:
        target = _named_domain(maps, target_domain, "--target-domain")
    domain = maps.domains[target]
    seen: dict[tuple[int, int], tuple[str, int]] = {}
    parts = []
    for name in SPLIT_FILES:
        path = directory / f"{name}.tsv"
        users = _find(maps.user_index, [user for user, _, _ in rows[name]])
        items = _find(_item_lookup(maps, domain), [item for _, item, _ in rows[name]])
        for (user, item, line), u, i in zip(rows[name], users, items, strict=True):
            if u < 0:
                raise InputError(
                    f"unknown user {user!r}", file=str(path), line=line, field="user_id"
                )
            if i < 0:
                raise InputError(
                    f"unknown item {item!r} in domain {domain!r}",
                    file=str(path),
                    line=line,
                    field="item_id",
                )
            first = seen.setdefault((int(u), int(i)), (str(path), line))
            if first != (str(path), line):
                raise InputError(
                    f"duplicate interaction ({user!r}, {item!r}); "
                    f"first at {first[0]} line {first[1]}",
                    file=str(path),
                    line=line,
                    field="item_id",
                )
        parts.append(unique_pairs(users, items))
    for name, pairs in zip(SPLIT_FILES, parts, strict=True):
        if pairs.size(1) == 0:
            raise InputError(f"{name}.tsv has no interactions", file=str(directory / f"{name}.tsv"))
    item_groups = (directory / f"{NEW_ITEMS_FILE}.tsv").exists()
    fraction = recorded_train_fraction(directory)
    new_items = None
    if item_groups:
        new_items = _check_new_items(
            directory, maps, domain, Split(target, *parts), thinned=fraction < 1
        )
    count = record.get("new_items")  # None: no item groups, or files before session 61
    listed = None if new_items is None else int(new_items.numel())
    if count is not None and count != listed:
        raise InputError(
            f"lists {listed} new item(s), and {RECORD_FILE} records new_items {count}: restore "
            f"the file as written, or set new_items in {RECORD_FILE} to the items it lists"
            if item_groups
            else f"is not beside {RECORD_FILE}, which records new_items {count}: the split's new "
            "items would be read as untrained warm items (negatives drawn among them, no item "
            f"groups); restore {NEW_ITEMS_FILE}.tsv, or set new_items in {RECORD_FILE} to null "
            "for a split without item groups",
            file=str(directory / f"{NEW_ITEMS_FILE}.tsv"),
        )
    few_shot = torch.zeros(0, dtype=torch.long)
    k = record.get("few_shot")  # None: files that record no K, whose users are not checked so
    if (directory / f"{FEW_SHOT_FILE}.tsv").exists():
        ids = _read_ids(directory / f"{FEW_SHOT_FILE}.tsv", "user_id")
        index = _find(maps.user_index, [user for user, _ in ids])
        held_out = torch.cat([parts[1][0], parts[2][0]])
        trained = torch.bincount(parts[0][0], minlength=len(maps.users))
        _refuse_repeats(directory / f"{FEW_SHOT_FILE}.tsv", ids, index, "user_id")
        for (user, line), u in zip(ids, index, strict=True):
            if u < 0 or not bool((parts[0][0] == u).any()):
                raise InputError(
                    f"{user!r} is not a user with target interactions in train",
                    file=str(directory / f"{FEW_SHOT_FILE}.tsv"),
                    line=line,
                    field="user_id",
                )
            if not bool((held_out == u).any()):
                raise InputError(
                    f"{user!r} has no interaction in valid.tsv or test.tsv, so it is no few-shot "
                    "user (one gives min(K, n - 1) of its n held-out interactions to train, so "
                    "at least one stays held out)",
                    file=str(directory / f"{FEW_SHOT_FILE}.tsv"),
                    line=line,
                    field="user_id",
                )
            if k is not None and int(trained[u]) > k:  # a warm user, read as few-shot before
                raise InputError(
                    f"{user!r} has {int(trained[u])} target-domain training interactions in "
                    f"train.tsv, and a few-shot user has at most K = {k} (the few_shot "
                    f"{RECORD_FILE} records): it is no few-shot user; leave it out of "
                    f"{FEW_SHOT_FILE}.tsv",
                    file=str(directory / f"{FEW_SHOT_FILE}.tsv"),
                    line=line,
                    field="user_id",
                )
        few_shot = torch.as_tensor(np.unique(np.asarray(index, dtype=np.int64)))
    count = record.get("few_shot_users")  # None: files that record no count (before session 37)
    if count is not None and count != few_shot.numel():
        there = (directory / f"{FEW_SHOT_FILE}.tsv").exists()
        raise InputError(
            f"lists {few_shot.numel()} few-shot user(s), and {RECORD_FILE} records "
            f"few_shot_users {count}: a few-shot user left out of it would be read as a warm "
            f"user, and one added as a few-shot user; restore the file as written, or set "
            f"few_shot_users in {RECORD_FILE} to the users it lists"
            if there
            else f"is not beside {RECORD_FILE}, which records few_shot_users {count}: the "
            f"split's few-shot users would be read as warm users; restore {FEW_SHOT_FILE}.tsv, "
            f"or set few_shot_users in {RECORD_FILE} to 0",
            file=str(directory / f"{FEW_SHOT_FILE}.tsv"),
        )
    if k is not None and not few_shot.numel():  # a K for users the files do not name
        there = (directory / f"{FEW_SHOT_FILE}.tsv").exists()
        raise InputError(
            f"records few_shot {k}, and {FEW_SHOT_FILE}.tsv "
            f"{'lists no user' if there else 'is not beside it'}: the split's few-shot users "
            f"are missing; restore {FEW_SHOT_FILE}.tsv, or set few_shot to null for a split "
            "without few-shot users",
            file=str(directory / RECORD_FILE),
            field="few_shot",
        )
    return Split(
        target,
        *parts,
        item_groups=item_groups,
        few_shot_users=few_shot,
        train_fraction=fraction,
        source_domain=None if source is None else maps.domains.index(source),
        few_shot=k if few_shot.numel() else None,
        fixed_new_items=new_items,
    )


def _check_new_items(
    directory: Path, maps: IdMaps, domain: str, split: Split, *, thinned: bool
) -> Tensor:
    """The split's new items, as ``new_items.tsv`` lists them (sorted indices), which decide
    the item groups: target items with no interaction in train and one in valid or test, each
    of them and, unless train.tsv was ``thinned`` (``--train-fraction``, whose untrained items
    are no new items), no other; an :class:`InputError` naming the file (and line) where it
    disagrees, rather than item groups other than the file says (before, the groups came from
    the three files whatever it listed)."""
    path = directory / f"{NEW_ITEMS_FILE}.tsv"
    ids = _read_ids(path, "item_id")
    index = _find(_item_lookup(maps, domain), [item for item, _ in ids])
    new = set(split.new_item_indices().tolist())
    _refuse_repeats(path, ids, index, "item_id")
    for (item, line), i in zip(ids, index, strict=True):
        if i < 0 or bool((split.train[1] == i).any()):
            raise InputError(
                f"{item!r} is not a target item without training interactions",
                file=str(path),
                line=line,
                field="item_id",
            )
        if int(i) not in new:
            raise InputError(
                f"{item!r} has no interaction in valid.tsv or test.tsv, so it is no new item (a "
                "new item is one with held-out interactions and none in train)",
                file=str(path),
                line=line,
                field="item_id",
            )
    missing = new - {int(i) for i in index}
    if missing and not thinned:
        first = min(maps.item_ids[i] for i in missing)
        raise InputError(
            f"{len(missing)} item(s) with interactions in valid.tsv or test.tsv and none in "
            f"train.tsv are new items, and {NEW_ITEMS_FILE}.tsv does not list them (the first: "
            f"{first!r}): list them, or give them a training interaction",
            file=str(path),
            field="item_id",
        )
    return torch.as_tensor(np.unique(np.asarray(index, dtype=np.int64)))


def _refuse_repeats(path: Path, ids: list[tuple[str, int]], index: np.ndarray, field: str) -> None:
    """An :class:`InputError` naming the file, line and ``field`` of the first id of a one-column
    split file (``new_items.tsv``, ``few_shot_users.tsv``) that repeats an earlier one (as
    :func:`_find` resolves them: `` 1`` repeats ``1``), and the line of that one, as a pair
    repeated in the three split files is refused. Unknown ids (-1) are left to the caller."""
    first: dict[int, int] = {}
    for (text, line), i in zip(ids, index, strict=True):
        if i < 0:
            continue
        seen = first.setdefault(int(i), line)
        if seen != line:
            raise InputError(
                f"{text.strip()!r} is listed twice; first at line {seen}",
                file=str(path),
                line=line,
                field=field,
            )


def read_split_pairs(path: Path) -> list[tuple[str, str]]:
    """The (user_id, item_id) pairs of one split file as :func:`read_split` reads them for a
    graph the loaders made (their ids hold no whitespace around them): the rows it accepts,
    each id without that whitespace. For tools that take split files without the graph
    (``bench/peers.py``); an :class:`InputError` naming the file and line as read_split's."""
    return [(user.strip(), item.strip()) for user, item, _ in _read_rows(path)]


def _find(lookup: Callable[[list[str]], np.ndarray], ids: list[str]) -> np.ndarray:
    """The indices ``lookup`` gives ``ids`` (-1 where unknown): an id as written, else the id
    without the whitespace around it, which is no part of an id (the loaders strip it: `` 1``
    in a split file is the user ``1``); a graph holding an id with that whitespace (one built
    through the Python API) still matches it as written."""
    found = np.array(lookup(ids), dtype=np.int64)
    padded = [n for n, i in enumerate(ids) if found[n] < 0 and i != i.strip()]
    if padded:
        found[padded] = lookup([ids[n].strip() for n in padded])
    return found


def _item_lookup(maps: IdMaps, domain: str) -> Callable[[list[str]], np.ndarray]:
    """The item indices of item ids of ``domain``."""
    return lambda ids: maps.item_index([item_uid(domain, item) for item in ids])


def _read_ids(path: Path, header: str) -> list[tuple[str, int]]:
    """(id, line number) of each row of a one-column file with ``header``: ids as written, as
    in the three split files (only a line's end, LF or CRLF, is not part of it; :func:`_find`
    matches them). The header may carry a RecBole type (``item_id:token``), as the three
    split files' may."""
    lines = _lines(path)
    if not lines or lines[0].split(":", 1)[0] != header:
        got = repr(lines[0]) if lines else "an empty file"
        raise InputError(
            f"header must be {header} (or {header}:token), got {got}",
            file=str(path),
            line=1,
            field=header,
        )
    return [(text, n) for n, text in enumerate(lines[1:], start=2) if text]


def _lines(path: Path) -> list[str]:
    """The lines of a split file, without their ends (and without a UTF-8 byte-order mark, as
    the loaders read files); an InputError naming the file (and the line of a byte that is not
    UTF-8, or of a carriage return that does not end its line) when it cannot be read."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        folder = path.parent
        raise InputError(
            "split file not found"
            + ("" if folder.is_dir() else f" (there is no folder {folder})")
            + ": `kgrec split --protocol NAME ... --write-split DIR` writes a split's files",
            file=str(path),
        ) from None
    except OSError as exc:  # a folder, or a path under a file
        raise InputError(f"cannot read the split file ({exc.strerror})", file=str(path)) from None
    lines = raw.removeprefix(b"\xef\xbb\xbf").split(b"\n")  # a UTF-8 byte-order mark: no data
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for number, data in enumerate(lines, start=1):
        try:
            text = data.decode("utf-8").removesuffix("\r")
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 ({exc.reason})", file=str(path), line=number) from None
        if "\r" in text:  # no id holds one; lines ending in it alone would be one line
            at = text.index("\r") + 1
            raise InputError(
                f"a carriage return (\\r, at character {at} of the line) "
                "that does not end the line: lines end in \\n or \\r\\n (an old Mac file? "
                "convert its line ends)",
                file=str(path),
                line=number,
            )
        out.append(text)
    return out


def _read_rows(path: Path) -> list[tuple[str, str, int]]:
    """(user_id, item_id, line number) of each data row of a split file; an empty line (one
    left at the end by an editor, or anywhere after the header) is no row, as in the loaders
    and :func:`_read_ids`."""
    lines = _lines(path)
    if not lines:
        raise InputError(
            "empty file: expected the header user_id<TAB>item_id", file=str(path), line=1
        )
    rows = []
    for number, text in enumerate(lines, start=1):
        fields = text.split("\t")
        if number == 1:
            names = tuple(field.split(":", 1)[0] for field in fields)
            if names != HEADER:
                raise InputError(
                    f"header must be user_id<TAB>item_id, got {text!r}", file=str(path), line=1
                )
            continue
        if not text:
            continue
        if len(fields) != 2:
            raise InputError(
                f"expected 2 tab-separated fields, got {len(fields)}", file=str(path), line=number
            )
        for field, value in zip(HEADER, fields, strict=True):
            if not value.strip():
                raise InputError("empty value", file=str(path), line=number, field=field)
        rows.append((fields[0], fields[1], number))
    return rows


def _infer_domain(maps: IdMaps, item_ids: Sequence[str]) -> int:
    found = [
        int((_find(_item_lookup(maps, domain), list(item_ids)) >= 0).sum())
        for domain in maps.domains
    ]
    complete = [d for d, count in enumerate(found) if count == len(item_ids)]
    if len(complete) == 1:
        return complete[0]
    if len(complete) > 1:
        names = ", ".join(maps.domains[d] for d in complete)
        raise InputError(
            f"the split's item ids exist in several domains ({names}); name the target domain "
            "with --target-domain",
            field="item_id",
        )
    return int(np.argmax(found)) if found else 0  # read_split then names the first unknown item


def _write_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
