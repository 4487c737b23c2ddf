"""Hyperparameter search on the validation split with Optuna: ``kgrec tune`` in the library.

>>> from kgrec.tune import tune, LogUniform, Choice
>>> result = tune(
...     "lightgcn", protocol="ml100k-kg", data="datasets/ml-100k", out="tunes/lgcn",
...     space={"lr": LogUniform(1e-4, 1e-2), "reg_weight": Choice([0.0, 1e-4, 1e-3])},
...     trials=20,
... )
>>> result.best_params, result.best_value, result.command

Each trial trains one model with :func:`kgrec.train.fit` on the experiment, which is read and
split once per tune, and scores it by its best validation NDCG@20; the test split is never
scored. A trial reports its best validation NDCG@20 so far after every epoch, and a median
pruner stops a trial that is below the median of earlier trials at the same epoch (after
``prune_warmup`` epochs, once :data:`PRUNE_STARTUP_TRIALS` trials have finished).

The study lives in ``OUT/tune.sqlite`` (Optuna's SQLite storage, a fixed study name, marked
as kgrec's: one of that name kgrec did not make is refused), so running the same call again
continues it: ``trials`` is the budget across runs, not per run.
A trial that was running when the process was killed (or interrupted, or stopped by the time
budget) is marked failed, flagged ``interrupted``, not counted in the budget, and its
settings are run again first; one interrupted while it drew its settings (nothing trained) is
flagged too, and keeps its place in the queue if it was queued, as does one stopped inside
Optuna's own ``ask`` or ``tell``. A study is continued only
with the same model, search space and fixed settings, on the same graph and split (a digest
of them is kept, compared in place of the data and split folders' paths). At the end
``OUT/best.json`` holds the best trial, its full settings and the ``kgrec train`` command that
trains it again, with the same validation NDCG@20.

Under a launcher (``torchrun``; ``WORLD_SIZE`` > 1 in the environment, :mod:`kgrec.distributed`)
each trial is trained data-parallel over the ranks, as ``kgrec train`` trains. Rank 0 alone
opens the study, reads the experiment (sent to the other ranks), prints and writes the folder;
for each trial it sends the trial's settings, and after each epoch its decision (go on, prune,
out of time), so every rank ends a trial on the same epoch. Each trial records its
``world_size``, ``device`` and ``threads`` (per process) among its user attributes.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import inspect
import itertools
import json
import logging
import math
import os
import shlex
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from graph_schema.validate import path_argument
from kgrec import distributed
from kgrec.data.source import check_data_or_store
from kgrec.data.split import check_few_shot, check_train_fraction, plain
from kgrec.device import resolve_device
from kgrec.errors import DistributedError, InputError, KgrecError, StoreError
from kgrec.experiment import (
    DEPENDENT_OPTIONS,
    POSITIVE_OPTIONS,
    TRAIN_DEFAULTS,
    Experiment,
    Teachers,
    build_run,
    changed_teachers,
    check_catalogue,
    check_cold_start_users,
    check_same_teachers,
    check_settings,
    check_sizes_fit,
    check_teachers_as_recorded,
    check_user_text,
    effective_domain,
    effective_rule,
    fit_arguments,
    load_experiment,
    model_memory,
    model_sha256,
    never_read_options,
    option_flag,
    options_off,
    out_of_memory,
    overflow_hint,
    read_teachers,
    reads_text,
    same_model,
    switch_argument,
    teacher_records,
    unread_options,
    warm_start,
)
from kgrec.files import first_missing, no_link, remove_made, write_atomic
from kgrec.models.registry import MODELS, model_spec
from kgrec.objectives import OBJECTIVES
from kgrec.plots import tune_trials
from kgrec.teachers import check_folders, mix_setting
from kgrec.train import VALID_METRIC, FitResult, NotFinite, fit
from kgrec.tune_space import (
    BEST_FILE,
    DEFAULT_RANGES,
    STUDY_FILE,
    TUNE_DEFAULTS,
    Choice,
    IntRange,
    LogUniform,
    Parameter,
    Uniform,
    is_number,
    option_text,
)

log = logging.getLogger(__name__)

LOCK_FILE = ".tune.lock"
STUDY_NAME = "kgrec-tune"
# kgrec tune's mark on its study (a system attribute of the study): one of that name another
# program made, or the user's own, is not taken for kgrec's
MARK = "kgrec_tune"
PRUNE_STARTUP_TRIALS = 3  # trials that finish before the pruner judges any other
# train()'s arguments that are not settings of what is trained
NOT_SETTINGS = ("out", "resume", "progress", "dist_timeout")
# where the data and the split come from: fixed for a tune, never searched
SOURCE = (
    "data",
    "store",
    "protocol",
    "split",
    "seed",
    "domain",
    "domain_rule",
    "target_domain",
    "source_domain",
    "text_property",
    "train_fraction",
    "few_shot",
    "cold_valid_share",
    "cold_test_share",
    "new_item_share",
)
# how an epoch is cut into batches and where it computes, not what is learnt; and how new
# items are served after training (kgrec.cold_items), which a trial's validation figure, the
# trained model's, does not see
NOT_SEARCHED = ("batching", "device", "cold_items")
POSITIVE = POSITIVE_OPTIONS


# -- search spaces -------------------------------------------------------------------------

# options that weigh node text vectors (read from a store)
TEXT_OPTIONS = ("ease_text_weight", "text_cl_weight")


def searchable() -> dict[str, type]:
    """The options a search may vary (:func:`kgrec.experiment.train`'s training options) and
    the type of each."""
    kinds = {}
    for name, default in TRAIN_DEFAULTS.items():
        if name in SOURCE or name in NOT_SETTINGS or name in NOT_SEARCHED:
            continue
        if isinstance(default, bool | int | float | str):
            kinds[name] = type(default)
    return kinds


def default_space(
    model: str, *, objective: str = TRAIN_DEFAULTS["objective"], texts: bool = True
) -> dict:
    """The search space used when none is given: :data:`DEFAULT_RANGES` of the options that
    ``model`` (its :class:`~kgrec.models.registry.ModelSpec`) and ``objective`` take, and ``lr``
    where the model learns embeddings by gradient (not EASE's closed form); without
    ``texts`` (data read from files, which hold no text vectors) not the text options."""
    spec = model_spec(model)
    takes = set(spec.options)
    if spec.learns:
        takes.add("lr")
    if spec.learns and objective in OBJECTIVES:
        takes |= set(inspect.signature(OBJECTIVES[objective]).parameters)
    if not texts:
        takes -= set(TEXT_OPTIONS)
    return {
        name: param
        for name, param in DEFAULT_RANGES.items()
        if name in takes and name in TRAIN_DEFAULTS
    }


def parse_search(text: str) -> tuple[str, Parameter]:
    """``NAME=KIND:ARGS`` (``--search``) as ``(name, parameter)``; KIND is one of
    ``loguniform:LOW:HIGH``, ``uniform:LOW:HIGH``, ``int:LOW:HIGH``, ``choice:A,B,...``.
    The name is checked here, the values in :func:`check_space`."""
    name, sep, spec = text.partition("=")
    name = name.strip().replace("-", "_")
    where = f"--search {text!r}"
    if not sep or not name:
        raise InputError(
            f"{where}: expected NAME=KIND:ARGS, e.g. lr=loguniform:1e-4:1e-2", field="--search"
        )
    kinds = searchable()
    if name not in kinds:
        raise InputError(
            f"{where}: {name!r} is not an option that can be searched "
            f"(options: {', '.join(sorted(kinds))})",
            field="--search",
        )
    kind, _, args = spec.partition(":")
    kind = kind.strip()
    option = kinds[name]
    if kind in ("loguniform", "uniform", "int"):
        parts = args.split(":")
        if len(parts) != 2:
            raise InputError(f"{where}: {kind} takes LOW:HIGH", field="--search")
        if kind == "int":
            if option is not int:
                raise InputError(
                    f"{where}: int ranges are for whole-number options; {name} takes "
                    f"{_KIND_NAMES.get(option, option.__name__)}: use "
                    + ("loguniform, uniform or choice" if option is float else "choice"),
                    field="--search",
                )
            low, high = (_parse_value(name, int, part, where) for part in parts)
            return name, IntRange(low, high)
        if option is not float:
            raise InputError(
                f"{where}: {name} takes "
                + (
                    "whole numbers; use int:LOW:HIGH or choice:A,B,..."
                    if option is int
                    else f"{_KIND_NAMES.get(option, option.__name__)}; use choice:A,B,..."
                ),
                field="--search",
            )
        low, high = (_parse_value(name, float, part, where) for part in parts)
        return name, (LogUniform if kind == "loguniform" else Uniform)(low, high)
    if kind == "choice":
        values = [part.strip() for part in args.split(",")]
        if not args.strip() or any(not part for part in values):
            raise InputError(f"{where}: choice takes values separated by commas", field="--search")
        return name, Choice([_parse_value(name, option, part, where) for part in values])
    raise InputError(
        f"{where}: unknown kind {kind!r} (kinds: loguniform:LOW:HIGH, uniform:LOW:HIGH, "
        "int:LOW:HIGH, choice:A,B,...)",
        field="--search",
    )


def parse_space(texts: Sequence[str]) -> dict[str, Parameter]:
    """Several ``--search`` texts; an option searched twice is an error."""
    space: dict[str, Parameter] = {}
    for text in texts:
        name, param = parse_search(text)
        if name in space:
            raise InputError(f"--search names {name} twice", field="--search")
        space[name] = param
    return space


def check_space(model: str, space: Mapping[str, Parameter], *, objective: str | None) -> None:
    """Raise :class:`InputError` naming the option when ``space`` cannot be searched for
    ``model``: an unknown option, one the model does not take, bounds out of order or out of
    the option's range, values of the wrong type. ``objective`` is the fixed objective
    (None when it is searched)."""
    kinds = searchable()
    spec = model_spec(model)
    model_options = {name for other in MODELS.values() for name in other.options}
    if not space:
        raise InputError("the search space is empty: name an option to search", field="--search")
    for name, param in space.items():
        where = f"--search {name}={param}"
        if name not in kinds:
            raise InputError(
                f"{name!r} is not an option that can be searched "
                f"(options: {', '.join(sorted(kinds))})",
                field="--search",
            )
        if name in model_options and name not in spec.options:
            users = [m for m, other in MODELS.items() if name in other.options]
            raise InputError(
                f"{where}: model {model} does not take {name} (models that do: {', '.join(users)})",
                field="--search",
            )
        if objective is not None and name in _objective_options(objective):
            raise InputError(
                f"{where}: objective {objective} does not take {name} (objectives that do: "
                f"{', '.join(_objectives_taking(name))})",
                field="--search",
            )
        option = kinds[name]
        if isinstance(param, LogUniform | Uniform | IntRange):
            if isinstance(param, IntRange) and option is not int:
                raise InputError(f"{where}: {name} is not a whole number", field="--search")
            if not isinstance(param, IntRange) and option is not float:
                raise InputError(f"{where}: {name} takes int or choice", field="--search")
            if not is_number(param.low) or not is_number(param.high):
                raise InputError(f"{where}: bounds must be numbers", field="--search")
            if isinstance(param, IntRange) and not (
                _of_type(param.low, int) and _of_type(param.high, int)
            ):
                raise InputError(
                    f"{where}: an int range's bounds must be whole numbers, got {param.low!r} "
                    f"and {param.high!r}",
                    field="--search",
                )
            if not param.low < param.high:
                raise InputError(
                    f"{where}: LOW must be below HIGH, got {param.low} and {param.high}",
                    field="--search",
                )
            if isinstance(param, LogUniform) and param.low <= 0:
                raise InputError(
                    f"{where}: a log-uniform range must start above 0, got {param.low} "
                    "(for 0 and a few values, use choice)",
                    field="--search",
                )
            bounds = (param.low, param.high)
        elif isinstance(param, Choice):
            if not param.values:
                raise InputError(f"{where}: choice needs at least one value", field="--search")
            for value in param.values:
                if not _of_type(value, option):
                    raise InputError(
                        f"{where}: {name} takes {_KIND_NAMES.get(option, option.__name__)}, got "
                        f"{value!r}",
                        field="--search",
                    )
            if len(set(param.values)) != len(param.values):  # of one kind: True is not 1
                raise InputError(f"{where}: a value is listed twice", field="--search")
            bounds = param.values if option in (int, float) else ()
            if name == "objective":
                unknown = [v for v in param.values if v not in OBJECTIVES]
                if unknown:
                    raise InputError(
                        f"{where}: unknown objective {unknown[0]!r} (objectives: "
                        f"{', '.join(OBJECTIVES)})",
                        field="--search",
                    )
        else:
            raise InputError(
                f"{name}: {param!r} is not a search range (LogUniform, Uniform, IntRange, Choice)",
                field="--search",
            )
        for value in bounds:
            if not math.isfinite(value) or value < 0 or (name in POSITIVE and value <= 0):
                raise InputError(
                    f"{where}: {name} must be {'positive' if name in POSITIVE else 'non-negative'}"
                    f" and finite, got {value}",
                    field="--search",
                )


# -- tuning --------------------------------------------------------------------------------


@dataclass
class TuneResult:
    """A tune's outcome: its trials, and the best one (None when none completed)."""

    folder: Path
    trials: list[FrozenTrial]
    settings: dict[str, Any]  # the fixed settings (train()'s arguments) of every trial
    best_trial: FrozenTrial | None = None
    best_settings: dict[str, Any] = field(default_factory=dict)
    command: str | None = None  # `kgrec train ...` with the best settings
    model: str = ""

    @property
    def best_value(self) -> float | None:
        return None if self.best_trial is None else self.best_trial.value

    @property
    def best_params(self) -> dict[str, Any]:
        return {} if self.best_trial is None else dict(self.best_trial.params)

    @property
    def counted(self) -> int:
        """The trials that count in ``trials`` (completed, pruned, failed with an error; not
        those a kill, a Ctrl-C or the time budget stopped, which run again)."""
        return sum(map(_counts, self.trials))

    def table(self) -> str:
        """One line per trial: number, state, validation NDCG@20, epochs, seconds, settings."""
        return trial_table(self.trials)

    def plot(self, path: str | Path, *, force: bool = False) -> Path:
        """Draw the trials (``kgrec tune --plot``) into ``path``, its format by its suffix:
        each trial's validation NDCG@20 (a pruned one's best before it was pruned, as in
        :meth:`table`) by its number, completed, pruned and failed trials marked apart, the
        best so far as a line. The folder must exist; an existing file is replaced only with
        ``force``."""
        rows = [
            {"number": t.number, "state": t.state.name.lower(), "value": _shown_value(t)}
            for t in self.trials
        ]
        title = f"{self.model}: {self.folder}" if self.model else str(self.folder)
        return tune_trials(rows, path, title=title, metric=VALID_METRIC, force=force)


class _OutOfTime(Exception):
    """The time budget ran out during a trial."""


def tune(
    model: str,
    *,
    out: str | Path,
    space: Mapping[str, Parameter] | None = None,
    trials: int = TUNE_DEFAULTS["trials"],
    timeout: float | None = TUNE_DEFAULTS["timeout"],
    pruning: bool = TUNE_DEFAULTS["pruning"],
    prune_warmup: int = TUNE_DEFAULTS["prune_warmup"],
    data: str | Path | None = None,
    store: str | None = None,
    protocol: str | None = None,
    split: str | Path | None = None,
    seed: int = 0,
    domain: str | None = None,
    domain_rule: str | None = None,
    target_domain: str | None = None,
    source_domain: str | None = None,
    text_property: str = TRAIN_DEFAULTS["text_property"],
    train_fraction: float = 1.0,
    few_shot: int = 0,
    cold_valid_share: float | None = None,
    cold_test_share: float | None = None,
    new_item_share: float | None = None,
    progress: bool = True,
    dist_timeout: float = distributed.DEFAULT_TIMEOUT,
    **fixed: Any,
) -> TuneResult:
    """Search ``space`` for the settings of ``model`` with the best validation NDCG@20.

    ``space`` maps options of :func:`kgrec.experiment.train` to ranges (:class:`LogUniform`,
    :class:`Uniform`, :class:`IntRange`, :class:`Choice`); default :func:`default_space`.
    The data and split options are :func:`~kgrec.experiment.train`'s; ``fixed`` are its other
    options (``objective``, ``epochs``, ``dim``, ...), the same in every trial, defaults
    :data:`~kgrec.experiment.TRAIN_DEFAULTS`. ``trials`` is the number of trials the study
    ends with (across runs; a trial counts once it completes, is pruned or fails with an
    error); ``timeout`` the seconds this call may run (none: no limit): no trial starts after
    it, and the trial running then stops at the end of its epoch and runs again on the next
    call. ``pruning`` turns the median pruner on, judging from epoch ``prune_warmup`` on
    (the median favours settings that learn fast: on ml100k-kg LightGCN's best lr reached
    0.21 at epoch 10, below faster settings that ended lower, hence 30).
    The study is in ``out`` (see the module's documentation); with ``progress`` a line is
    printed per finished trial. ``device`` (a fixed option) is where trials train. Launched
    by ``torchrun``, every rank calls this alike: trials train data-parallel, rank 0 alone
    touches the study and ``out``, and every rank returns rank 0's result; a collective that
    waits ``dist_timeout`` seconds for a rank fails (:func:`kgrec.distributed.init`).
    """
    spec = model_spec(model)  # an unknown model fails here, before anything else
    paths = (("out", out), ("data", data), ("split", split), ("init_from", fixed.get("init_from")))
    for name, path in paths:
        path_argument(path, option_flag(name))  # "": the working folder
    if fixed.get("distill_from") is not None:
        check_folders(fixed["distill_from"])  # each a path, given in a list
    out = Path(out)
    # a numpy number (seed=np.int64(3) from np.arange) as the Python one it holds, as train()
    # reads it: the checks refused it as no integer
    trials, prune_warmup, timeout, seed = map(plain, (trials, prune_warmup, timeout, seed))
    train_fraction, few_shot = plain(train_fraction), plain(few_shot)
    cold_valid_share, cold_test_share = plain(cold_valid_share), plain(cold_test_share)
    new_item_share = plain(new_item_share)
    fixed = {name: plain(value) for name, value in fixed.items()}
    for name, value in (("trials", trials), ("prune_warmup", prune_warmup)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InputError(
                f"{name} must be a positive integer, got {value!r}", field=option_flag(name)
            )
    # as train() reads its switches: "False" (a string, which is true) is no switch
    pruning = switch_argument("pruning", pruning, field="--pruning")
    progress = switch_argument("progress", progress, field="progress")
    if timeout is not None and not (is_number(timeout) and timeout > 0):
        raise InputError(
            f"timeout must be a positive number of seconds, got {timeout!r}", field="--timeout"
        )
    check_train_fraction(train_fraction)
    check_few_shot(few_shot)
    allowed = set(TRAIN_DEFAULTS) - set(SOURCE) - set(NOT_SETTINGS)
    unknown = sorted(set(fixed) - allowed)
    if unknown:
        raise InputError(
            f"tune() got {unknown[0]!r}, which is not an option of kgrec.experiment.train "
            f"(options: {', '.join(sorted(allowed))})",
            field=unknown[0],
        )
    objective = fixed.get("objective", TRAIN_DEFAULTS["objective"])
    if space is None:  # from files (no --store) there are no text vectors to weigh; an
        # option given a value is not searched
        space = {
            name: parameter
            for name, parameter in default_space(
                model, objective=objective, texts=store is not None
            ).items()
            if name not in fixed
        }
    # numpy numbers (Choice(np.array([32, 64])), np.arange's) as the Python ones they hold,
    # as the fixed options are: the checks refused np.int64 as no int, and the study recorded
    # np.float64's repr as its space
    space = {name: _plain_param(name, param) for name, param in space.items()}
    both = sorted(set(space) & set(fixed))
    if both:
        raise InputError(
            f"{both[0]} is both searched and fixed: search it or give its value, not both",
            field=option_flag(both[0]),
        )
    check_space(model, space, objective=None if "objective" in space else objective)
    if not spec.learns and set(space) - set(spec.options):
        raise InputError(
            f"model {model} has nothing to train, so a search can vary only its own settings "
            f"({', '.join(spec.options) or 'it has none'}), not "
            f"{', '.join(sorted(set(space) - set(spec.options)))}",
            field="--search",
        )

    from kgrec.store import absolute_uri

    settings = {name: TRAIN_DEFAULTS[name] for name in sorted(allowed) if name not in space}
    settings.update(fixed)
    domain = effective_domain(Path(data) if data else None, domain, domain_rule, split)
    settings.update(
        data=str(Path(data).resolve()) if data is not None else None,
        store=absolute_uri(store),
        # the printed command and a continuation find the run from any directory
        init_from=str(Path(fixed["init_from"]).resolve()) if fixed.get("init_from") else None,
        distill_from=[str(Path(folder).resolve()) for folder in fixed["distill_from"]]
        if fixed.get("distill_from")
        else None,
        protocol=protocol,
        split=str(Path(split).resolve()) if split is not None else None,
        seed=seed,
        domain=domain,
        domain_rule=effective_rule(
            protocol, Path(data) if data else None, domain, domain_rule, split
        ),
        target_domain=target_domain,
        source_domain=source_domain,
        text_property=text_property if _reads_text(model, settings, space) and store else None,
        train_fraction=train_fraction,
        few_shot=few_shot,
        cold_valid_share=cold_valid_share,
        cold_test_share=cold_test_share,
        new_item_share=new_item_share,
    )
    _check_combinations(model, settings, space)
    if "distill_mix" in settings:  # as train() records it (not where it is searched)
        settings["distill_mix"] = mix_setting(settings["distill_mix"])
    # a fixed size no data can fit (a searched one fails its trials, and the tune goes on);
    # this machine's memory: under a launcher, a rank that refuses joins all the same and the
    # ranks agree on it (below), else the others would wait for it the whole --dist-timeout
    failure = None
    try:
        check_sizes_fit({**settings, **_defaults_in(space), "model": model})
    except InputError as exc:
        failure = distributed.held(exc)
    never = _never_read(model, settings, space, fixed)
    if never:
        flags = ", ".join("--" + name.replace("_", "-") for name in never)
        raise InputError(
            f"{model} reads {flags} in no trial of this search (another option it depends on "
            "is off in every trial, or the model has no use for it): leave it out, or search "
            "the option it depends on",
            field="--search" if never[0] in space else option_flag(never[0]),
        )
    check_data_or_store(data, store)
    if protocol is None and split is None:
        raise InputError("give --protocol NAME or --split DIR", field="--protocol")

    device = resolve_device(settings["device"])
    distributed.init(device, timeout=dist_timeout)
    distributed.agree(failure, "start the tune")
    if not distributed.current().is_main:
        return _follow(out, device, settings["distill_from"])
    objective_fn = None
    made = None  # the outermost folder this run makes, with out's parents
    try:
        try:
            locked_before = (out / LOCK_FILE).exists()  # a kgrec tune made this folder
            if not locked_before:  # a folder that is not ours gets no lock file
                _check_folder(out)
            created = not out.exists()  # removed under the lock if it fails before a trial
        except OSError as exc:  # a folder it may not look into
            raise _folder_refused(out, "read", exc) from None
        try:
            made = first_missing(out)
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # under a file, no permission
            raise _folder_refused(out, "write", exc) from None
        with (
            _lock(out, made_folder=created) as lock,
            _optuna_quiet(),
            _Refusals(out / STUDY_FILE) as db,
            _Undone(out, locked_before=not lock.made_file, made_folder=lock.made_folder) as undone,
        ):
            # under the lock: another tune's study, half made, is not read as no study
            _check_folder(out)
            undone.making()
            study = _open_study(out, pruning=pruning, prune_warmup=prune_warmup)
            db.at("read or record the study's model, search space and fixed settings")
            _check_study(study, model, settings, space, path=out / STUDY_FILE)
            experiment = load_experiment(
                data=Path(data) if data is not None else None,
                store=store,
                protocol=protocol,
                split_dir=Path(split) if split is not None else None,
                seed=seed,
                domain=domain,
                domain_rule=settings["domain_rule"],
                target_domain=target_domain,
                source_domain=source_domain,
                text_property=settings["text_property"],
                train_fraction=train_fraction,
                few_shot=few_shot,
                cold_valid_share=cold_valid_share,
                cold_test_share=cold_test_share,
                new_item_share=new_item_share,
            )
            check_catalogue(experiment)
            if settings["distill_from"] is not None:  # each teacher on the trials' split
                teacher_records(settings["distill_from"], experiment, out=out)
            if settings["text_property"] is not None:
                _check_user_text(experiment, model, settings, space)
            db.at("read or record the digest of the data the study trains on")
            _check_experiment(study, experiment, settings, path=out / STUDY_FILE)
            if settings.get("cold_start_share") or "cold_start_share" in space:
                check_cold_start_users(experiment)
            distributed.broadcast_object(("ok", experiment))  # the other ranks train with it
            db.at("read the trials left running, to mark them failed and run them again")
            _requeue_interrupted(study, progress=progress, path=out / STUDY_FILE)
            db.at("queue train()'s defaults as the first trial")
            if not study.trials:
                defaults = _defaults_in(space)
                if len(defaults) == len(space):  # train()'s defaults first, where in the space
                    study.enqueue_trial(defaults)
            db.at("read the study's trials")
            study.sampler = optuna.samplers.TPESampler(
                seed=int(np.random.SeedSequence([seed, len(study.trials)]).generate_state(1)[0]),
                n_startup_trials=max(3, min(10, trials // 3)),
            )
            remaining = trials - _counted(study)
            if remaining <= 0:
                if progress:
                    print(f"the study has its {_counted(study)} trials: nothing to run")
            else:
                world = distributed.current()
                if progress:
                    print(
                        f"tuning {model}: {remaining} trial(s) to run of {trials}"
                        + (f", at most {timeout:g} s" if timeout else "")
                        + (f", each on {world.size} processes" if world.distributed else "")
                        + f"; study in {out / STUDY_FILE}"
                    )
                undone.trials = True  # a trial may be recorded from here on: all is kept
                objective_fn = _Objective(
                    study,
                    experiment,
                    model,
                    settings,
                    space,
                    pruning=pruning,
                    deadline=None if timeout is None else time.monotonic() + timeout,
                    device=device,
                    db=db,
                    progress=progress,
                )
                try:
                    db.at("begin a new trial")
                    study.optimize(
                        objective_fn,
                        n_trials=remaining,
                        timeout=timeout,
                        catch=(InputError, _OutOfTime, _TrialOutOfMemory),
                        callbacks=[objective_fn.told, *([_Progress()] if progress else [])],
                    )
                except BaseException as exc:
                    error = None if isinstance(exc, KgrecError) else _database_error(exc)
                    if error is not None and objective_fn.stopped is not None:
                        raise _refused_after_stop(
                            error, *objective_fn.stopped, path=out / STUDY_FILE
                        ) from exc
                    if error is not None and db.trial is not None and db.refused is None:
                        # Optuna could not record the end of the trial (its tell), none of
                        # whose own writes was refused: recorded as stopped, as those are
                        objective_fn.record_refused(db.trial, error, exc, end=True)
                    if not _by_interrupt(exc):
                        raise
                    # Ctrl-C inside Optuna's own ask or tell left its trial running
                    db.at("read the trial a Ctrl-C or SIGTERM left running, to mark it failed")
                    _requeue_interrupted(
                        study,
                        progress=progress,
                        reason="interrupted",
                        path=out / STUDY_FILE,
                    )
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    raise KeyboardInterrupt from exc  # Optuna's error as it handled the Ctrl-C
            db.at("read the study's trials")
            result = _result(out, study, model, settings)
        if result.best_trial is not None:
            _write_best(out / BEST_FILE, result)
    except BaseException as exc:
        if made is not None and made != out.absolute() and not out.exists():
            remove_made(out.parent, made)  # the parents made with the folder removed, if empty
        world = distributed.current()
        kept = world.is_main and (out / STUDY_FILE).exists()
        if kept and _by_interrupt(exc):
            log.warning(
                "stopped: %s keeps its study; the same kgrec tune command continues it, the "
                "settings of a trial the stop cut short first",
                out,
            )
        elif kept and isinstance(exc, _StudyStopped):
            log.warning(
                "stopped: %s keeps its study; the same kgrec tune command continues it once the "
                "teachers are finished%s, the settings of the trial they stopped first",
                out,
                " and the same on every rank" if world.distributed else "",
            )
        # the other ranks wait for rank 0's next message, unless a trial failed on rank 0
        # alone in the middle of training: then the launcher ends them as rank 0 exits
        if objective_fn is None or objective_fn.others_wait:
            distributed.broadcast_object(("error", str(exc) or type(exc).__name__))
        if isinstance(exc, _StudyStopped):
            raise exc.error from None
        raise
    distributed.broadcast_object(("stop", result))
    return result


def train_command(
    model: str, settings: Mapping[str, Any], *, out: str | Path, threads: int | None = None
) -> str:
    """The ``kgrec train`` command with ``settings`` (:func:`kgrec.experiment.train`'s
    arguments), every option the model reads written out; each argument is the option of the
    same name. The options it never reads with these settings
    (:func:`kgrec.experiment.never_read_options`, and those of another objective) are left
    out: `kgrec train` refuses some of them, and the others would only make the command long
    (lightgcn's had ``--ease-lambda 500.0``)."""
    never = set(never_read_options({**settings, "model": model}))
    words = ["kgrec", "train", "--model", model]
    for name in ("protocol", "split", "seed", "data", "store"):
        if settings.get(name) is not None:
            words += [option_flag(name), str(settings[name])]
    words += ["--out", str(out)]
    for name, value in settings.items():
        if name in ("model", "protocol", "split", "seed", "data", "store") or value is None:
            continue
        if name in never or _idle(name, settings):
            continue
        if isinstance(value, bool):
            words.append(option_flag(name) if value else "--no-" + name.replace("_", "-"))
        elif name == "distill_from":  # --distill-from RUN [RUN ...]
            words += [option_flag(name), *map(str, value)]
        elif name == "distill_mix":  # --distill-mix 0.6,0.4
            words += [option_flag(name), ",".join(map(option_text, value))]
        elif name == "device":  # as --device takes it: auto, cpu or cuda
            words += [option_flag(name), _device_option(value)]
        else:
            words += [option_flag(name), option_text(value)]
    if threads is not None:
        words += ["--threads", str(threads)]
    return shlex.join(words)


def _device_option(device: Any) -> str:
    """A device as ``kgrec train --device`` takes it (``auto``, ``cpu`` or ``cuda``): the
    Python API's ``device`` as a user writes it (``"CPU"``, ``" cuda:1 "``,
    :func:`~kgrec.device.resolve_device`), its GPU's index left out (``--device cuda`` is the
    first GPU torch sees; the trial's own is in best.json's ``environment``)."""
    return str(device).strip().lower().partition(":")[0]


def _shown_value(trial: FrozenTrial) -> float | None:
    """A trial's validation figure: its value, else (pruned, failed) the best it reported."""
    if trial.value is None and trial.intermediate_values:
        return max(trial.intermediate_values.values())
    return trial.value


def _reason(trial: FrozenTrial) -> str | None:
    """Why a trial ended as it did, where the table and the progress lines say: stopped
    (interrupted, the time budget), failed (its error), pruned as invalid, or complete with
    the settings of an earlier trial (not trained again)."""
    attrs = trial.user_attrs
    if attrs.get("interrupted"):
        return attrs["interrupted"]
    if trial.state == TrialState.FAIL and attrs.get("error"):
        return attrs["error"]
    if attrs.get("invalid"):
        return attrs["invalid"]
    if attrs.get("repeats") is not None:
        return f"the settings of trial {attrs['repeats']}: its figure, not trained again"
    return None


def trial_table(trials: Sequence[FrozenTrial]) -> str:
    """Trials as an aligned text table."""
    rows = [("trial", "state", VALID_METRIC, "epochs", "seconds", "settings")]
    for trial in trials:
        reason = _reason(trial)
        state = trial.state.name.lower() + (f" ({reason})" if reason else "")
        value = _shown_value(trial)
        seconds = trial.user_attrs.get("seconds")
        rows.append(
            (
                str(trial.number),
                state,
                "-" if value is None else f"{value:.4f}",
                str(trial.user_attrs.get("epochs", "-")),
                "-" if seconds is None else f"{seconds:.1f}",
                # a waiting trial (a stopped one's settings, to run again) has drawn none yet
                _params_text(trial.params or trial.system_attrs.get("fixed_params") or {}),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
        + "  "
        + row[5]
        for row in rows
    )


# -- trials --------------------------------------------------------------------------------


class _TrialOutOfMemory(Exception):
    """A trial whose settings need more memory than there is: it fails, the tune goes on."""


class _TeachersRefused(InputError):
    """A ``--distill-from`` teacher refused as a trial reads it (:class:`_StudyTeachers`): not
    read, or replaced since the study recorded it. The teachers are the study's, the same in
    every trial, so no trial can get past it: it stops the study (:class:`_StudyStopped`)."""


class _StudyStopped(KgrecError):
    """An error of the study's fixed settings that no trial can get past (its teachers refused,
    on a rank or between the ranks: ``error``, which :func:`tune` raises): the study stops on
    every rank, as at an error of its settings before the first trial, rather than failing
    every trial alike. Not an :class:`InputError`, which fails the one trial, the tune going
    on."""

    def __init__(self, error: InputError) -> None:
        super().__init__(str(error))
        self.error = error


class _Objective:
    """One trial: train with the trial's settings, return the best validation NDCG@20.

    Under a launcher this runs on rank 0, which sends each trial's settings to the other
    ranks (:func:`_follow`); every rank trains it with :func:`_train_trial`."""

    def __init__(
        self,
        study: optuna.Study,
        experiment: Experiment,
        model: str,
        settings: dict[str, Any],
        space: dict[str, Parameter],
        *,
        pruning: bool,
        deadline: float | None,
        device: torch.device,
        db: _Refusals,
        progress: bool = False,
    ) -> None:
        self.study, self.experiment, self.model = study, experiment, model
        self.progress = progress  # a bar of the running trial's epochs, on stderr
        self.db = db  # what the trial reads or writes, named when the study's database refuses
        self.path = db.path  # the study's file
        self.settings, self.space = settings, space
        self.pruning, self.deadline, self.device = pruning, deadline, device
        # read by the first trial that trains, for them all, as the study records them
        recorded = study.user_attrs.get(_DISTILL_FROM_SHA256)
        self.teachers = _StudyTeachers(
            None if recorded is None else [{"model_sha256": sha256} for sha256 in recorded]
        )
        # whether the other ranks wait for rank 0's next message: false while a trial trains,
        # and after a trial that failed on rank 0 alone
        self.others_wait = True
        # (number, settings queued to run again) of the trial recorded as stopped before its
        # end (a Ctrl-C, the time budget), while the database records the rest of it: until
        # Optuna has recorded its end (:meth:`told`)
        self.stopped: tuple[int, dict[str, Any]] | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        self.db.at(f"write trial {trial.number}'s settings as it draws them", trial=trial)
        try:
            return self._run(trial)
        except KeyboardInterrupt:
            # a Ctrl-C outside the handlers below (between the drawing and the training, or
            # as the trained trial's result is written): not a failure of these settings
            if not trial.user_attrs.get("interrupted"):
                self._stop(trial, "interrupted", trial.params)  # runs again first next call
            raise
        except Exception as exc:
            error = _database_error(exc)
            if error is None or isinstance(exc, KgrecError) or self.stopped is not None:
                raise
            self.record_refused(trial, error, exc)
        finally:
            self.db.doing = f"record trial {trial.number}'s end (Optuna's tell)"

    def told(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna's callback once it recorded a trial's end: no trial runs until the next, so
        a refusal from here on (Optuna's ask of the next) is not of a stopped one."""
        self.stopped = None
        self.db.at("begin a new trial")

    def record_refused(
        self, trial: optuna.Trial, error: BaseException, exc: BaseException, *, end: bool = False
    ) -> NoReturn:
        """The study's database refused (locked, a full disk) a write of ``trial`` as it ran,
        or, with ``end``, Optuna's recording its end (its tell), which leaves it running:
        ``error``, raised as ``exc``. Not a failure of its settings: the trial is recorded as
        stopped (``database error``, not counted) and they are queued to run again first, as
        after a Ctrl-C; raised as the :class:`StoreError` that says so and names what was
        being written (:attr:`_Refusals.doing`), also first when that record is refused too
        (a trained trial's result lost matters more than its flag)."""
        doing = self.db.doing
        try:  # what it drew, over what it was queued with (as after a kill)
            again = {**self._queued(trial), **trial.params}
        except _database_errors():
            again = dict(trial.params)
        self._stop(trial, "database error", again, left_running=end, before=(doing, error))
        self.db.refused = _refused_after_stop(
            error, trial.number, again, path=self.path, doing=doing
        )
        raise self.db.refused from exc

    def _stop(
        self,
        trial: optuna.Trial,
        reason: str,
        params: Mapping[str, Any],
        *,
        left_running: bool = False,
        before: tuple[str, BaseException] | None = None,
    ) -> None:
        """:func:`_stopped` of ``trial`` (``left_running``: no tell of it follows; ``before``:
        the refusal that stopped it, named first if the record is refused too); what the
        database writes after it (the trial's epochs, Optuna's marking it failed) is then of a
        trial whose ``params`` are queued: :attr:`stopped` names them, for :func:`tune` to
        report a write refused. When the database refuses the flag or the queuing, that error
        is the one to report, even if Optuna's marking the trial failed is refused next
        (:class:`_Refusals`; a refused flag then says the trial is left running)."""

        def flag() -> None:
            try:
                trial.set_user_attr("interrupted", reason)
            except _database_errors() as exc:  # see _Refusals.unflagged
                self.db.unflagged = (trial.number, dict(params), _database_error(exc), before)
                raise

        try:
            _stopped(
                self.study,
                flag,
                params,
                number=trial.number,
                path=self.path,
                left_running=left_running,
                before=before,
            )
        except StoreError as exc:
            self.db.refused = exc
            raise
        self.stopped = (trial.number, dict(params))

    def _lost_before(self, params: Mapping[str, Any]) -> bool:
        """Whether an earlier trial of ``params`` was stopped by a lost rank."""
        return any(
            t.user_attrs.get("interrupted") == "rank lost" and t.params == dict(params)
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        )

    def _run(self, trial: optuna.Trial) -> float:
        try:  # the sampler draws here, which can take a while with many trials
            params = _draw(trial, self.space, {"model": self.model, **self.settings})
            self.db.doing = f"write trial {trial.number}'s world size, device and threads"
            trial.set_user_attr("world_size", distributed.current().size)
            trial.set_user_attr("device", str(self.device))
            trial.set_user_attr("threads", torch.get_num_threads())
        except KeyboardInterrupt:  # nothing trained: not a failure of these settings
            # a trial to run again (or the default's) stays first in the queue
            self._stop(trial, "interrupted", self._queued(trial))
            raise
        settings = {"model": self.model, **self.settings, **params}
        try:  # values each valid in the search, but not together (cl_layer above layers)
            check_settings(settings)
        except InputError as exc:  # pruned: no trial trains them, nor is counted the best
            reason = f"invalid together: {exc.message.split(';')[0]}"
            log.warning("trial %d %s; pruned", trial.number, reason)
            self.db.doing = f"write why trial {trial.number} was pruned"
            trial.set_user_attr("invalid", reason)
            raise optuna.TrialPruned(reason) from None
        done = _completed_with(self.study, params, but=trial.number)
        if done is not None:  # the sampler drew them again (a small discrete space): the
            # training is seeded, so it would give the same figure; none runs
            self.db.doing = f"write that trial {trial.number} repeats trial {done.number}"
            log.info(
                "trial %d: the settings of trial %d, not trained again", trial.number, done.number
            )
            trial.set_user_attr("repeats", done.number)
            for name in ("best_epoch", "epochs"):
                if name in done.user_attrs:
                    trial.set_user_attr(name, done.user_attrs[name])
            trial.set_user_attr("seconds", 0.0)
            return float(done.value)

        def judge(epoch: int, best: float, last: bool) -> tuple[str, str] | None:
            self.db.doing = (
                f"write trial {trial.number}'s validation {VALID_METRIC} at epoch {epoch}"
            )
            trial.report(best, epoch)
            if last:  # training ends with this epoch: the trial is complete, whatever the clock
                return None
            if self.deadline is not None and time.monotonic() > self.deadline:
                return ("time", f"the time budget ran out at epoch {epoch}")
            if self.pruning and trial.should_prune():
                return ("prune", f"pruned at epoch {epoch}")
            return None

        epochs = _Epochs(judge, epochs=settings["epochs"], patience=settings["patience"])
        started = time.perf_counter()
        failed = f"write why trial {trial.number} failed"
        distributed.broadcast_object(("trial", settings))
        self.others_wait = False
        try:
            result = _train_trial(
                self.experiment,
                settings,
                self.device,
                epochs,
                teachers=self.teachers,
                label=f"trial {trial.number}" if self.progress else None,
            )
        except (_OutOfTime, KeyboardInterrupt) as exc:
            self.others_wait = isinstance(exc, _OutOfTime)
            reason = "time budget" if isinstance(exc, _OutOfTime) else "interrupted"
            self._stop(trial, reason, trial.params)  # runs again first on the next call
            raise
        except DistributedError:  # another rank gone, or silent past --dist-timeout: not a
            # failure of these settings the first time (a kill of rank 0 leaves its trial to
            # run again too); lost again on them (out of memory on that rank?), it is theirs:
            # failed and counted, so a study never stops on the same settings run after run.
            # The other ranks are not waiting for a message
            if not self._lost_before(trial.params):
                self._stop(trial, "rank lost", trial.params)  # runs again first next call
            raise
        except _StudyStopped:  # raised on every rank; the others wait until this rank has
            # recorded it (were they to exit first, a launcher could end this rank meanwhile).
            # Not a failure of these settings: they run again first once the cause is mended
            self.others_wait = True
            self._stop(trial, "teachers refused", trial.params)
            raise
        except NotFinite as exc:  # train's message, less its field: --lr need not be the cause
            self.others_wait = True
            epochs.epochs = max(epochs.epochs, exc.epoch)  # that epoch trained, then overflowed
            hinted = NotFinite(exc.reason, exc.epoch, hint=overflow_hint(settings))
            self.db.doing = failed
            trial.set_user_attr("error", hinted.message)
            raise
        except InputError as exc:
            self.others_wait = True
            self.db.doing = failed
            trial.set_user_attr("error", str(exc).split(";")[0])
            raise
        except (MemoryError, RuntimeError, TypeError) as exc:
            if not out_of_memory(exc) or distributed.current().distributed:
                raise  # ranks may differ: stop them all
            self.others_wait = True  # these settings need more memory than there is: the
            self.db.doing = failed
            trial.set_user_attr("error", f"out of memory: {str(exc).splitlines()[0][:200]}")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise _TrialOutOfMemory(str(exc)) from None
        except optuna.TrialPruned:
            self.others_wait = True
            raise
        finally:  # a write refused before this one stays the one named
            doing, self.db.doing = self.db.doing, f"write trial {trial.number}'s epochs and seconds"
            trial.set_user_attr("epochs", epochs.epochs)
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
            self.db.doing = doing
        self.others_wait = True
        self.db.doing = f"write trial {trial.number}'s best epoch"
        trial.set_user_attr("best_epoch", result.best_epoch)
        return result.best_metric

    def _queued(self, trial: optuna.Trial) -> dict[str, Any]:
        """The settings ``trial`` was queued with (:meth:`optuna.Study.enqueue_trial`), if
        any."""
        for frozen in self.study.get_trials(deepcopy=False):
            if frozen.number == trial.number:
                return dict(frozen.system_attrs.get("fixed_params") or {})
        return {}


def _completed_with(
    study: optuna.Study, params: Mapping[str, Any], *, but: int
) -> FrozenTrial | None:
    """The first complete trial of ``study`` (other than number ``but``) with ``params``."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.number != but and trial.params == dict(params) and trial.value is not None:
            return trial
    return None


class _Epochs:
    """fit's ``on_epoch`` in a trial, on every rank: the best validation NDCG@20 so far and
    the epochs run. On rank 0 ``judge(epoch, best, last)`` reports to the trial and decides
    whether it ends there (``("prune" | "time", why)``, None to go on); ``last`` says that
    training ends with this epoch anyway (``epochs`` run, or ``patience`` epochs without a
    better validation figure, as :func:`kgrec.train.fit` counts them). The decision is
    broadcast, so every rank raises the same exception after the same epoch and none is left
    waiting."""

    def __init__(self, judge: Any = None, *, epochs: int = 0, patience: int = 0) -> None:
        self.judge = judge  # None on the other ranks
        self.last_epoch, self.patience = epochs, patience
        self.best, self.epochs, self.bad_epochs = -math.inf, 0, 0

    def __call__(self, epoch: int, metric: float) -> None:
        self.bad_epochs = 0 if metric > self.best else self.bad_epochs + 1
        self.best, self.epochs = max(self.best, metric), epoch
        decision = None
        if self.judge is not None:
            last = epoch >= self.last_epoch or self.bad_epochs >= self.patience
            try:
                decision = self.judge(epoch, self.best, last)
            except BaseException as exc:
                distributed.broadcast_object(("error", str(exc) or type(exc).__name__))
                raise
        decision = distributed.broadcast_object(decision)
        if decision is None:
            return
        kind, why = decision
        if kind == "prune":
            raise optuna.TrialPruned(why)
        if kind == "time":
            raise _OutOfTime(why)
        raise KgrecError(f"rank 0 stopped the trial: {why}")


class _StudyTeachers:
    """The ``--distill-from`` teachers of a study on this rank (:class:`Teachers`), read by the
    first trial that trains and handed to each trial after it: the teachers, their mix and the
    split are the study's (no trial varies them), so reading each teacher's whole run again
    per trial gave the same blend (about a second a trial for a sparse ml100k-kg pair).
    ``recorded``: on rank 0, the study's record of each teacher's model.pt sha256, which the
    models read must match (:func:`check_teachers_as_recorded`; the other ranks match rank
    0's)."""

    def __init__(self, recorded: list[dict[str, Any]] | None = None) -> None:
        self.read: Teachers | None = None
        self.recorded = recorded

    def __call__(self, settings: dict[str, Any], graph: Any, split: Any) -> Teachers | None:
        """The teachers of the trial's ``settings`` (None without ``distill_from``)."""
        if settings.get("distill_from") is None:
            return None
        if self.read is None:
            try:
                read = read_teachers(settings, graph, split)
                if self.recorded is not None:  # a teacher trained again since the study began
                    check_teachers_as_recorded(
                        self.recorded,
                        settings["distill_from"],
                        read,
                        recorder="the study",
                        since="the study began",
                    )
            except InputError as exc:
                where = {"file": exc.file, "line": exc.line, "field": exc.field}
                raise _TeachersRefused(exc.message, **where) from None
            self.read = read
        return self.read


def _train_trial(
    experiment: Experiment,
    settings: dict[str, Any],
    device: torch.device,
    on_epoch: _Epochs,
    *,
    teachers: _StudyTeachers,
    label: str | None = None,
) -> FitResult:
    """Train one trial's ``settings`` (``model`` and train()'s arguments) on this rank, its
    distillation term learning ``teachers`` (read once per study); with ``label``
    (``"trial 3"``) a bar on stderr follows its epochs, cleared as it ends.

    Every rank checks and builds the trial and all of them learn whether any could not, and
    whether they read the same teachers, before any collective of training: then each raises
    (an :class:`InputError`; a :class:`_StudyStopped` where it was the teachers, which stops
    the study) and none is left waiting. Training (:func:`kgrec.train.fit`) is
    data-parallel under a launcher; its loss is summed over the ranks, so a non-finite loss
    stops every rank on the same epoch."""
    failure = read = None
    try:
        check_settings(settings)
        with model_memory(settings):  # a size too large to allocate: the trial fails
            net, graph, pairs = build_run(experiment, settings)
        read = teachers(settings, graph, experiment.split)
        arguments = fit_arguments(settings, graph, experiment.split, teachers=read)
        if settings.get("init_from") is not None and distributed.current().is_main:
            warm_start(net, experiment, Path(settings["init_from"]))  # fit sends it on
    except InputError as exc:
        failure = exc
    sent = None if failure is None else (str(failure), isinstance(failure, _TeachersRefused))
    failures = distributed.gather_object(sent)
    # teachers refused on any rank stop the study on every rank, naming the teachers' error
    stops = any(theirs is not None and theirs[1] for theirs in failures)
    if failure is not None and (isinstance(failure, _TeachersRefused) or not stops):
        raise _StudyStopped(failure) if stops else failure
    for rank, theirs in enumerate(failures):
        if theirs is not None and (theirs[1] or not stops):
            error = InputError(f"rank {rank} could not set up the trial: {theirs[0]}")
            raise _StudyStopped(error) if stops else error
    try:
        check_same_teachers(settings.get("distill_from"), read)
    except InputError as exc:  # raised on every rank
        raise _StudyStopped(exc) from None
    return fit(
        net.to(device),
        graph,
        experiment.split,
        pairs,
        **arguments,
        progress=label is not None,
        label=label or "train",
        on_epoch=on_epoch,
    )


# a trial that ends so ends on every rank at the same point (see _Epochs and _train_trial)
_ENDS_ON_EVERY_RANK = (optuna.TrialPruned, _OutOfTime, InputError)


def _follow(out: Path, device: torch.device, distill_from: list[str] | None) -> TuneResult:
    """A tune on a rank other than 0 under a launcher: train each trial rank 0 sends, until it
    sends the result (returned as rank 0 has it) or says it failed. It never opens the study
    nor writes to ``out``; the experiment comes from rank 0 too. The teachers are this rank's
    own ``distill_from`` (as given to it: a path on its machine), read once."""
    kind, payload = distributed.broadcast_object(None)
    if kind == "error":
        raise InputError(f"rank 0 could not start the tune: {payload}", file=str(out))
    experiment = payload
    teachers = _StudyTeachers()
    while True:
        kind, payload = distributed.broadcast_object(None)
        if kind == "stop":
            return payload
        if kind == "error":
            raise KgrecError(f"rank 0 stopped the tune: {payload}")
        if distill_from is not None and payload.get("distill_from") is not None:
            payload = {**payload, "distill_from": distill_from}  # this machine's paths
        try:
            _train_trial(experiment, payload, device, _Epochs(), teachers=teachers)
        except _StudyStopped as exc:  # on rank 0 too, which records the stopped trial,
            distributed.broadcast_object(None)  # then sends its error: this rank waits for it
            raise exc.error from None
        except _ENDS_ON_EVERY_RANK:
            continue


class _Progress:
    """One line per finished trial."""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        value = _shown_value(trial)  # as the table has it: a stopped trial's best reached
        value = "-" if value is None else f"{value:.4f}"
        state = trial.state.name.lower()
        reason = _reason(trial)
        try:
            best = f"best {study.best_value:.4f} (trial {study.best_trial.number})"
        except ValueError:
            best = "no trial completed yet"
        print(
            f"trial {trial.number} {state}{f' ({reason})' if reason else ''}: "
            f"{VALID_METRIC} {value}, {trial.user_attrs.get('epochs', 0)} epochs, "
            f"{trial.user_attrs.get('seconds', 0):.1f} s; {best}; {_params_text(trial.params)}",
            flush=True,
        )


# -- the study -----------------------------------------------------------------------------


def _open_study(out: Path, *, pruning: bool, prune_warmup: int) -> optuna.Study:
    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=PRUNE_STARTUP_TRIALS, n_warmup_steps=prune_warmup
        )
        if pruning
        else optuna.pruners.NopPruner()
    )
    path = (out / STUDY_FILE).resolve()
    try:
        study = optuna.create_study(
            storage=optuna.storages.RDBStorage(f"sqlite:///{path}"),
            study_name=STUDY_NAME,
            direction="maximize",
            load_if_exists=True,
            pruner=pruner,
        )
        # marked as kgrec tune's: the study just made, or (rewritten) one already marked, or
        # one of a kgrec before session 31 (:func:`_not_ours` read its record of a tune's),
        # or one a kill left unmarked as it was made (:func:`_left_unmarked`)
        study._storage.set_study_system_attr(study._study_id, MARK, True)
    except _database_errors() as exc:  # damaged, or another program's file of that name
        error = _database_error(exc) or exc  # SQLAlchemy's, or Optuna's raised from it
        if _refusal(error) is not None:  # locked, a full disk: the study is there all the same
            raise _refused_open(path, _refusal(error)) from None
        raise InputError(
            f"this is not a study kgrec tune can read ({_first_line(error)}): "
            "choose a new --out folder",
            file=str(path),
        ) from None
    return study


# what :func:`_check_study` records in the study (its user attributes) as a tune opens it
_RECORDED = ("model", "settings", "space")
# the sha256 of the model.pt of the study's --init-from run (a user attribute beside
# :data:`_RECORDED`, which an older kgrec did not write): that run moved continues the study
_INIT_FROM_SHA256 = "init_from_sha256"
# and those of its --distill-from runs, in order: the teachers moved continue the study
_DISTILL_FROM_SHA256 = "distill_from_sha256"
# the settings that say where the graph and split are read, whose content a study's digest
# covers (:func:`_fingerprint`): files, split files or a store (its text vectors included)
_MOVABLE = ("data", "split", "store")


def _check_study(
    study: optuna.Study,
    model: str,
    settings: dict[str, Any],
    space: dict[str, Parameter],
    *,
    path: Path,
) -> None:
    """Record what the study searches (:data:`_RECORDED`), or refuse to continue one that
    searched otherwise; the ``--distill-from`` runs' sha256s are recorded anew where no trial
    has trained (:func:`_trained`): a study stopped as its first trial read them."""
    ours = {
        "model": model,
        "settings": {name: _jsonable(value) for name, value in settings.items()},
        "space": {name: str(param) for name, param in space.items()},
    }
    saved = study.user_attrs
    if not study.trials or not saved:
        for key, value in ours.items():
            study.set_user_attr(key, value)
        study.set_user_attr(_INIT_FROM_SHA256, model_sha256(settings.get("init_from")))
        teachers = settings.get("distill_from") or []
        study.set_user_attr(_DISTILL_FROM_SHA256, [model_sha256(run) for run in teachers])
        return
    differ = []
    if saved.get("model") != model:
        differ.append(f"--model {model} (the study has {saved.get('model')})")
    old_space, new_space = saved.get("space", {}), ours["space"]
    for name in sorted(set(old_space) | set(new_space)):
        if old_space.get(name) != new_space.get(name):
            differ.append(
                f"--search {name}={new_space.get(name, '(not searched)')} "
                f"(the study has {old_space.get(name, '(not searched)')})"
            )
    old, new = dict(saved.get("settings", {})), ours["settings"]
    if "store" in old:  # a study of an older kgrec recorded a local store as typed
        from kgrec.store import absolute_uri

        old["store"] = absolute_uri(old["store"])
    if old.get("init_from"):  # and its --init-from as typed
        old["init_from"] = str(Path(old["init_from"]).resolve())
    # where the files are, not what they hold: the digest of the graph and split they give
    # (:func:`_check_experiment`) is compared instead, so a data or split folder or a store
    # moved or copied elsewhere continues the study; one of a kgrec that recorded no digest
    # compares the paths
    # (and the --init-from run by its model.pt's sha256, where the study recorded one, and the
    # --distill-from runs by theirs, in order)
    moved = _MOVABLE if saved.get("experiment") is not None else ()
    teachers = None  # their sha256s, recorded anew where no trial learnt from the study's
    for name in sorted(set(old) | set(new)):
        if name in new_space or name in old_space or name == "device":  # where, not what
            continue
        if name in moved and old.get(name) is not None and new.get(name) is not None:
            continue
        # a run the study recorded by its model.pt: the same path holding another model.pt
        # (trained again in place) is another run, as kgrec train --resume refuses it
        if name == "init_from" and saved.get(_INIT_FROM_SHA256) and new.get(name):
            if not same_model(saved.get(_INIT_FROM_SHA256), new.get(name)):
                differ.append(
                    f"--init-from {new.get(name)!r}: holds another model.pt than the one the "
                    "study's trials started from (the study records its sha256)"
                )
            continue
        if name == "distill_from" and saved.get(_DISTILL_FROM_SHA256) and new.get(name):
            if _same_teachers(saved, new.get(name)):
                continue
            if not any(map(_trained, study.trials)):  # stopped as the first read them
                teachers = [model_sha256(run) for run in new[name]]  # (_TeachersRefused)
            else:
                differ.append(
                    f"--distill-from {' '.join(new.get(name))}: not the model.pt files the "
                    "study's trials learnt from, in order (the study records their sha256s)"
                )
            continue
        if old.get(name) != new.get(name):
            differ.append(
                f"{option_flag(name)} {new.get(name)!r} (the study has {old.get(name)!r})"
            )
    if differ:
        raise InputError(
            "this folder's study was run with other settings; use a new --out folder, or the "
            "same settings to continue it. These differ: " + "; ".join(differ),
            file=str(path),
        )
    if teachers is not None:
        study.set_user_attr(_DISTILL_FROM_SHA256, teachers)


def _trained(trial: FrozenTrial) -> bool:
    """Whether ``trial`` trained (an epoch, or complete): it learnt from the study's teachers."""
    return (
        trial.state == TrialState.COMPLETE
        or bool(trial.intermediate_values)
        or trial.user_attrs.get("epochs", 0) > 0
    )


def _same_teachers(saved: Mapping[str, Any], folders: Sequence[str] | None) -> bool:
    """Whether the ``--distill-from`` runs ``folders`` hold, in order, the models whose sha256s
    the study ``saved`` (its user attributes) recorded; never where it recorded none."""
    recorded = saved.get(_DISTILL_FROM_SHA256)
    records = [{"model_sha256": sha} for sha in recorded] if isinstance(recorded, list) else None
    return bool(folders) and not changed_teachers(records, folders)


def _fingerprint(experiment: Experiment) -> str:
    """A digest of the graph and split the trials train and score on. The export is canonical
    (:mod:`kgrec.data.export`: sorted ids and edges), so the same data gives the same digest
    whichever store or row order it came from."""
    digest = hashlib.sha256()

    def add(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            array = value.detach().cpu().contiguous().numpy()
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
        else:
            digest.update(repr(value).encode())

    add(dataclasses.astuple(experiment.maps))
    for key, store in sorted(experiment.data.to_dict().items(), key=lambda pair: str(pair[0])):
        for name, value in sorted(store.items()) if isinstance(store, dict) else [("", store)]:
            add((key, name))
            add(value)
    split = experiment.split
    for value in (split.target_domain, split.item_groups, split.train, split.valid, split.test):
        add(value)
    add(split.few_shot_users)
    return digest.hexdigest()


def _new_items(experiment: Experiment) -> str | None:
    """A digest of the split's new items (None: a split with no item groups). Kept apart from
    :func:`_fingerprint`, which a study of a kgrec before session 32 recorded without them:
    split files thinned by a training fraction give the same three files with other new items
    (``new_items.tsv``)."""
    split = experiment.split
    if not split.item_groups:
        return None
    return hashlib.sha256(split.new_item_indices().cpu().numpy().tobytes()).hexdigest()


def _check_experiment(
    study: optuna.Study, experiment: Experiment, settings: Mapping[str, Any], *, path: Path
) -> None:
    """Record the digest of the graph and split the trials train on, and of the split's new
    items (:func:`_new_items`), or refuse to continue a study whose trials trained on other
    data (files or a store that changed since): their validation figures would not compare
    with new ones. A study of an older kgrec, which recorded no digest (before session 26)
    or none of its new items (before session 32), records what it lacks now (its trials' new
    items unchecked: a warning says so). ``settings`` are the tune's: the data and split
    folders it reads now, named where they are not the study's (moved, or other files)."""
    digest, new_items = _fingerprint(experiment), _new_items(experiment)
    saved = study.user_attrs.get("experiment")
    saved_new = study.user_attrs.get("new_items")
    ran = any(trial.state != TrialState.WAITING for trial in study.trials)
    if ran and saved is not None and saved != digest:
        recorded = study.user_attrs.get("settings", {})
        read = [
            f"{option_flag(name)} {settings[name]}, the study's {recorded[name]}"
            for name in _MOVABLE
            if settings.get(name) is not None and recorded.get(name) not in (None, settings[name])
        ]
        raise InputError(
            "the data read now (graph and split) is not the data this folder's study trained "
            "its trials on: the files, the store or the split files changed since"
            + (f", or they are other files than the study's ({'; '.join(read)})" if read else "")
            + ", so new trials would not compare with the study's; use a new --out folder",
            file=str(path),
        )
    if ran and new_items is not None and saved_new is not None and saved_new != new_items:
        raise InputError(
            "the split's new items read now are not those this folder's study trained its "
            "trials on (new_items.tsv changed since), so new trials would not compare with the "
            "study's; use a new --out folder",
            file=str(path),
        )
    if ran and new_items is not None and saved_new is None:
        log.warning(
            "%s: the study was made by a kgrec that did not record the split's new items, so "
            "they cannot be checked against its trials'; they are recorded now",
            path,
        )
    # the new items first: were the digest recorded and they refused, the next run would
    # take the study for an older kgrec's
    if new_items is not None and saved_new != new_items:
        study.set_user_attr("new_items", new_items)
    if saved != digest:
        study.set_user_attr("experiment", digest)


def _requeue_interrupted(
    study: optuna.Study,
    *,
    progress: bool,
    path: Path,
    reason: str = "killed",
) -> None:
    """Mark trials left running as failed (``interrupted``: ``reason``) and run their settings
    again first (those it drew, and those it was queued with that it had not drawn yet):
    trials of a killed process (only one tune runs in a folder, a lock, so none is still
    running), or the one a Ctrl-C stopped inside Optuna's own ask or tell. A trial that had
    flagged itself interrupted (and queued its settings) is only marked failed, and so is one
    with no settings to run again (neither queued nor drawn: an empty entry in the queue
    would only say "run again" of a trial that never ran)."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        flagged = trial.user_attrs.get("interrupted")
        # what it drew, over what it was queued with (part of the settings, after a kill as
        # the queuing trial drew them): a trial that trained runs again with all it trained
        again = {**(trial.system_attrs.get("fixed_params") or {}), **trial.params}

        def flag(trial_id: int = trial._trial_id) -> None:
            # through the study's own storage (Optuna's cache over the database), which its
            # reads of the trials and its tell use: one view of the trial's state
            study._storage.set_trial_user_attr(trial_id, "interrupted", reason)

        if not flagged:  # queued unless none drawn nor queued (stopped as Optuna made it);
            # its tell follows, so a refused flag leaves it running, for the next run
            _stopped(study, flag, again, number=trial.number, path=path, left_running=True)
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except _database_errors() as exc:
            raise _refused_after_stop(_database_error(exc), trial.number, again, path=path) from exc
        if flagged:
            continue
        if progress:
            print(
                f"trial {trial.number} was {reason} while running: marked failed"
                + (", run again" if again else " (it had drawn no settings)")
            )


def _queue_again(
    study: optuna.Study,
    params: Mapping[str, Any],
    *,
    number: int,
    path: Path,
    before: tuple[str, BaseException] | None = None,
) -> None:
    """Queue ``params``, trial ``number``'s settings, to run first on the next call; when
    the study's database refuses (locked, a full disk) a :class:`StoreError` naming ``path``
    and the settings (after ``before``, :func:`_refused_first`): the trial stays failed (not
    counted) but is not queued, so a later run would not run these settings again by
    itself."""
    try:
        study.enqueue_trial(dict(params))
    except _database_errors() as exc:
        error = _database_error(exc)
        raise StoreError(
            _refused_first(path, before)
            + f"could not queue trial {number}'s settings to run again ({_first_line(error)}): "
            f"a later run will not run them again by itself; they were {_settings_text(params)}"
            + (f"; {_HELD}" if _held(error) or (before and _held(before[1])) else "")
        ) from exc


def _refused_first(path: Path, before: tuple[str, BaseException] | None) -> str:
    """The start of the :class:`StoreError` of the study's database ``path`` refusing a write,
    naming first ``before`` (what it could not do before, and its error), if any."""
    first = f"could not {before[0]} ({_first_line(before[1])}); then it " if before else ""
    return f"file {path}: the study's database {first}"


def _stopped(
    study: optuna.Study,
    flag: Any,
    params: Mapping[str, Any],
    *,
    number: int,
    path: Path,
    left_running: bool = False,
    before: tuple[str, BaseException] | None = None,
) -> None:
    """Record trial ``number`` as stopped before its end: ``flag()`` writes its
    ``interrupted`` reason, then ``params``, its settings, are queued to run again first
    (:func:`_queue_again`; none: nothing to run again). When the study's database refuses
    either, a :class:`StoreError` naming ``path`` and the settings, which are not queued, and
    first ``before``, the refusal that stopped the trial, if any; with ``left_running``
    (nothing marks the trial failed after this) a refused flag leaves it running unflagged,
    so the next run marks it failed and runs them again (as killed).
    A Ctrl-C meanwhile (a second one, as the first is handled) waits until both are written
    (:class:`_ctrl_c_held`): a flagged trial is never queued later, so one flagged but not
    queued would lose its settings."""
    with _ctrl_c_held():
        try:
            flag()
        except _database_errors() as exc:
            raise _unflagged(
                number,
                params,
                _database_error(exc),
                before,
                path=path,
                left_running=left_running,
            ) from exc
        if params:
            _queue_again(study, params, number=number, path=path, before=before)


def _unflagged(
    number: int,
    params: Mapping[str, Any],
    error: BaseException,
    before: tuple[str, BaseException] | None,
    *,
    path: Path,
    left_running: bool,
) -> StoreError:
    """The :class:`StoreError` of the study's database ``path`` refusing (``error``) to flag
    trial ``number`` stopped (:func:`_stopped`); ``left_running``: nothing marked it failed
    after, so the next run does, and runs ``params`` again."""
    return StoreError(
        _refused_first(path, before)
        + f"could not record trial {number} as stopped ({_first_line(error)}): "
        + (
            "it is left running in the study; the next run marks it failed (not counted)"
            + (
                f" and runs its settings again first; they were {_settings_text(params)}"
                if params
                else "; it had no settings to run again"
            )
            if left_running
            else "its settings were not queued to run again, and a later run may not "
            f"run them by itself; they were {_settings_text(params)}"
        )
        + (f"; {_HELD}" if _held(error) or (before and _held(before[1])) else "")
    )


class _ctrl_c_held:
    """Ctrl-C (SIGINT) held back while the block runs, then raised as a KeyboardInterrupt as
    it ends (unless the block raised: that error goes on); SIGTERM too, handed to its handler
    then (the ``kgrec`` command's raises it as a Ctrl-C, :class:`~kgrec.errors.Terminated`; a
    program's own does what it does). Only in the main thread, and only where the signal has
    a Python handler to put back (SIGINT: not where it is ignored, as under ``nohup`` or a
    shell's background job, where it is no Ctrl-C); a kill still ends the process."""

    def __enter__(self) -> None:
        self.pressed, self.previous = set(), {}
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if previous not in (None, signal.SIG_IGN) and (
                signum == signal.SIGINT or callable(previous)
            ):
                self.previous[signum] = previous
                signal.signal(signum, self._press)

    def _press(self, signum: int, frame: Any) -> None:
        self.pressed.add(signum)

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        if exc_type is not None:
            return
        if signal.SIGTERM in self.pressed:  # its handler first, if both came
            # the kgrec command's raises Terminated; a program's own decides (before: a
            # KeyboardInterrupt after it, whatever it did)
            self.previous[signal.SIGTERM](signal.SIGTERM, None)
        if signal.SIGINT in self.pressed:
            raise KeyboardInterrupt


class _Refusals:
    """The study's database refusing a read or write (locked, a full disk) in the block, where
    no handler made it a kgrec error: a :class:`StoreError` naming the study's file (``path``)
    and what was being read or written (:attr:`doing`), outside a trial. A refusal while a
    trial runs (:attr:`trial`), its end included (Optuna's tell), is :class:`_Objective`'s
    (:meth:`~_Objective.record_refused`); when the error follows one already reported of the
    running trial (:attr:`refused`: its settings not queued, say, then its end refused), that
    one is reported; when that one is its flag refused (:attr:`unflagged`), Optuna's marking it
    failed was refused too: the trial is left running, for the next run to run again, as the
    error then says. Another process's lock says, as :func:`_refused_open` does, to run again
    when that process is done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.at("open the study")

    def at(self, doing: str, *, trial: optuna.Trial | None = None) -> None:
        self.doing, self.trial = doing, trial
        self.refused: StoreError | None = None
        # (number, settings, error, the refusal before) of the running trial whose flag as
        # stopped the database refused (:func:`_unflagged`)
        self.unflagged: tuple[int, dict[str, Any], BaseException, Any] | None = None

    def __enter__(self) -> _Refusals:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if not isinstance(exc, Exception) or isinstance(exc, KgrecError):
            return  # a Ctrl-C, or an error already reported
        error = _database_error(exc)
        if error is None:
            return
        if self.unflagged is not None:  # then its end (Optuna's tell): it is left running
            raise _unflagged(*self.unflagged, path=self.path, left_running=True) from exc
        if self.refused is not None:
            raise StoreError(str(self.refused)) from exc
        raise StoreError(
            f"file {self.path}: the study's database could not {self.doing} "
            f"({_first_line(error)}); no trial was training: "
            + (
                _HELD
                if _held(error)
                else "the same command goes on once the database can be written"
            )
        ) from exc


def _refused_after_stop(
    exc: BaseException,
    number: int,
    params: Mapping[str, Any],
    *,
    path: Path,
    doing: str | None = None,
) -> StoreError:
    """The :class:`StoreError` of a write the study's database refused (its epochs, marking
    it failed) after trial ``number`` was recorded as stopped and ``params`` queued; or, with
    ``doing``, of the write it refused as the trial ran (what it was ``doing``), after which
    the trial was so recorded."""
    where = (
        f"could not {doing} ({_first_line(exc)}): trial {number} is recorded as stopped "
        "(database error, not counted)"
        if doing
        else f"refused a write as it recorded trial {number}, stopped before its end "
        f"({_first_line(exc)})"
    )
    return StoreError(
        f"file {path}: the study's database {where}: "
        + (
            f"its settings are queued to run again first; they were {_settings_text(params)}"
            if params
            else "it had no settings to run again"
        )
        + (f"; {_HELD}" if _held(exc) else "")
    )


def _database_errors() -> tuple[type[Exception], ...]:
    """What a call to the study's storage raises when its database fails it (locked, a full
    disk): SQLAlchemy's error, or Optuna's StorageInternalError raised from one (RDBStorage's
    reads and writes in a session: a real lock arrives so). :func:`_database_error` finds the
    SQLAlchemy error, which the messages name."""
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, optuna.exceptions.StorageInternalError)


def _database_error(exc: BaseException) -> BaseException | None:
    """The study database's error (SQLAlchemy's) that ``exc`` is, or that it was raised from
    or as (its cause: Optuna's StorageInternalError; or its context: Optuna's UnboundLocalError
    as its tell failed), if any. Any error of the database, whatever it says: not
    :func:`_refusal`, which tells one that refused to be read or written from one that holds
    no study, where a study is opened."""
    from sqlalchemy.exc import SQLAlchemyError

    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, SQLAlchemyError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200]


def _settings_text(params: Mapping[str, Any]) -> str:
    return " ".join(f"{name}={option_text(value)}" for name, value in params.items()) or "(none)"


def _by_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C, or the UnboundLocalError Optuna's ``study.optimize``
    raises in its ``finally`` when one lands in its ``tell`` (raised as that Ctrl-C went by:
    its context). Any other error, even one raised as a Ctrl-C was handled (the study's
    database refusing to queue the trial again: locked, a full disk), is a real error: it is
    reported, chained to the Ctrl-C, not taken for it."""
    return isinstance(exc, KeyboardInterrupt) or (
        isinstance(exc, UnboundLocalError) and isinstance(exc.__context__, KeyboardInterrupt)
    )


def _counted(study: optuna.Study) -> int:
    return sum(map(_counts, study.get_trials(deepcopy=False)))


def _counts(trial: FrozenTrial) -> bool:
    """Whether a trial counts in the budget: finished, but not cut short by a kill or the
    clock."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and not trial.user_attrs.get("interrupted")
    )


def _result(out: Path, study: optuna.Study, model: str, settings: dict) -> TuneResult:
    trials = study.get_trials(deepcopy=False)
    result = TuneResult(out, trials, settings, model=model)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete:
        best = max(complete, key=lambda t: (t.value, -t.number))
        result.best_trial = best
        result.best_settings = {**settings, **best.params}
        result.command = train_command(  # without the options the model does not read
            model,
            result.best_settings,
            # a run folder per best: an earlier best's, trained, is not in the way
            out=(out / f"best-trial-{best.number}").resolve(),
            threads=best.user_attrs.get("threads", torch.get_num_threads()),
        )
    return result


def _write_best(path: Path, result: TuneResult) -> None:
    best = result.best_trial
    payload = {
        "metric": f"valid {VALID_METRIC}",
        "value": best.value,
        "trial": best.number,
        "params": best.params,
        "best_epoch": best.user_attrs.get("best_epoch"),
        "epochs": best.user_attrs.get("epochs"),
        "settings": {k: _jsonable(v) for k, v in result.best_settings.items()},
        "command": result.command,
        "trials": len(result.trials),
        # how the best trial was trained: processes (data-parallel), device, threads each
        "environment": {
            name: best.user_attrs.get(name) for name in ("world_size", "device", "threads")
        },
    }
    try:
        write_atomic(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n"))
    except OSError as exc:  # a full disk, no permission, a folder of that name
        raise InputError(
            f"cannot write best.json ({exc.strerror or exc}): the study keeps its trials; once "
            "the file can be written, the same command writes it",
            file=str(path),
        ) from None


# -- helpers -------------------------------------------------------------------------------


def _probes(param: Parameter) -> tuple[Any, ...]:
    """The values a trial may take that stand for all of ``param``'s: its choices, or the two
    ends of its range."""
    return param.values if isinstance(param, Choice) else (param.low, param.high)


def _check_combinations(
    model: str, settings: Mapping[str, Any], space: Mapping[str, Parameter]
) -> None:
    """Refuse, before any trial, a search no trial of which has valid settings
    (:func:`kgrec.experiment.check_settings`), naming the searched options that conflict, and
    a searched value (each of :func:`_probes`) valid with no value of the other searched
    options: no trial would train it. Options checked against each other (``cl_layer`` and
    ``layers`` with ``cl_weight``) are checked jointly: a trial that draws values invalid
    together is pruned (:meth:`_Objective._run`). An option a trial does not draw
    (:func:`_idle`: ``temperature`` beside ``objective`` ``bpr``) is checked at its fixed
    value there (:func:`_invalid`)."""
    settings = {**settings, "model": model}
    start = {
        name: TRAIN_DEFAULTS[name] if TRAIN_DEFAULTS[name] in param else _probes(param)[0]
        for name, param in space.items()
    }
    found = _conflict(settings, space, start)
    if found is not None:
        error, varied = found
        if varied:
            which = (
                f"no value of {_searched(varied, space)} is valid"
                if len(varied) == 1
                else f"{_searched(varied, space)} conflict: no combination of their values is valid"
            )
            raise InputError(
                f"no trial of this search has valid settings: {which} (e.g. "
                f"{_params_text({name: start[name] for name in varied})}: {error})",
                field="--search",
            ) from None
        names = [name for name in space if option_flag(name) == error.field]
        if not names:  # the fixed settings, whatever is searched
            raise error
        raise InputError(f"{_searched(names, space)}: {error}", field="--search") from None
    for name, param in space.items():  # each end of each range, checked as a trial is
        for value in _probes(param):
            found = _conflict(settings, space, {**start, name: value}, pinned=name)
            if found is None:
                continue
            error, varied = found
            if varied:
                raise InputError(
                    f"--search {name}={param}: no trial with {name} {option_text(value)} has valid "
                    f"settings, whatever the value of {_searched(varied, space)}: {error}",
                    field="--search",
                ) from None
            raise InputError(f"--search {name}={param}: {error}", field="--search") from None


def _conflict(
    settings: Mapping[str, Any],
    space: Mapping[str, Parameter],
    point: Mapping[str, Any],
    *,
    pinned: str | None = None,
) -> tuple[InputError, list[str]] | None:
    """None when some trial has valid settings: ``settings`` with the searched options at
    ``point`` (each at one of its :func:`_probes`), or with some of them (never ``pinned``)
    at other probes. Else ``point``'s error and the searched options that bear on it (none:
    nothing searched, ``pinned`` aside, makes it valid). An option bears on an error when
    another of its values changes or clears it; those found are varied together, and the
    search goes on with the options that bear on their errors: the few options checked
    against each other, never every combination of a large space."""
    varied: list[str] = []
    error = _invalid(settings, point)
    if error is None:
        return None
    while True:
        failed = []
        for values in itertools.product(*(_probes(space[name]) for name in varied)):
            at = {**point, **dict(zip(varied, values, strict=True))}
            said = _invalid(settings, at)
            if said is None:
                return None
            failed.append((at, str(said)))
        bearing = [
            name
            for name in space
            if name != pinned
            and name not in varied
            and any(
                str(_invalid(settings, {**at, name: value})) != said
                for at, said in failed
                for value in _probes(space[name])
                if value != at[name]
            )
        ]
        if not bearing:
            return error, varied
        varied += bearing


def _invalid(settings: Mapping[str, Any], point: Mapping[str, Any]) -> InputError | None:
    """The error of a trial's settings, ``settings`` with the searched options at ``point``
    (None: valid); a searched option that a trial at ``point`` would not draw (:func:`_idle`)
    keeps its fixed value, as in that trial."""
    drawn = {name: value for name, value in point.items() if not _idle(name, {**settings, **point})}
    try:
        check_settings({**settings, **drawn})
    except InputError as exc:
        return exc
    return None


# options whose value decides whether others are read: drawn first in a trial
MAIN_OPTIONS = ("objective", *(main for main, _, _ in DEPENDENT_OPTIONS))


def _idle(name: str, settings: Mapping[str, Any]) -> bool:
    """Whether option ``name`` goes unread in a trial of ``settings`` (train()'s arguments;
    missing ones take the defaults): an option of another objective than the trial's
    (``temperature`` for ``bpr``), or one of :data:`~kgrec.experiment.DEPENDENT_OPTIONS`
    whose main option is off (``cl_noise`` with ``cl_weight`` 0)."""
    objective = settings.get("objective", TRAIN_DEFAULTS["objective"])
    if objective in OBJECTIVES and name in _objective_options(objective):
        return True
    return name in options_off(settings)


def _draw(
    trial: optuna.Trial, space: Mapping[str, Parameter], settings: Mapping[str, Any]
) -> dict[str, Any]:
    """A trial's values of the searched options, drawn define-by-run: the options others
    depend on (:data:`MAIN_OPTIONS`) first, then each other one only where the values drawn
    read it (:func:`_idle`): a trial that draws ``objective`` ``bpr`` draws no ``temperature``,
    one that draws ``cl_weight`` 0 no ``cl_noise``; those keep their fixed values (train()'s
    defaults), so the trial is valid and scores, and its settings name no option it ignores."""
    params: dict[str, Any] = {}
    for name in sorted(space, key=lambda name: name not in MAIN_OPTIONS):
        if not _idle(name, {**settings, **params}):
            params[name] = space[name].suggest(trial, name)
    return params


def _searched(names: Sequence[str], space: Mapping[str, Parameter]) -> str:
    return " and ".join(f"--search {name}={space[name]}" for name in names)


def _reads_text(model: str, settings: Mapping[str, Any], space: Mapping[str, Parameter]) -> bool:
    """Whether some trial may read node text vectors (:func:`kgrec.experiment.reads_text`
    with each searched option at each of its :func:`_probes`)."""
    fixed = {**settings, "model": model}
    return reads_text(fixed) or any(
        reads_text({**fixed, name: value})
        for name, param in space.items()
        for value in _probes(param)
    )


def _check_user_text(
    experiment: Experiment, model: str, settings: Mapping[str, Any], space: Mapping[str, Parameter]
) -> None:
    """:func:`kgrec.experiment.check_user_text` for every trial that may take users' text
    vectors as input (each searched option at each of its :func:`_probes`)."""
    fixed = {**settings, "model": model}
    check_user_text(experiment, fixed, store=settings["store"])
    for name, param in space.items():
        for value in _probes(param):
            try:
                check_user_text(experiment, {**fixed, name: value}, store=settings["store"])
            except InputError as exc:
                raise InputError(f"--search {name}={param}: {exc}", field="--search") from None


def _objective_options(objective: str) -> set[str]:
    """Options some objective takes but ``objective`` does not."""
    mine = set(inspect.signature(OBJECTIVES[objective]).parameters)
    return {name for other in OBJECTIVES for name in _objectives_params(other)} - mine


def _objectives_params(objective: str) -> set[str]:
    return set(inspect.signature(OBJECTIVES[objective]).parameters)


def _objectives_taking(name: str) -> list[str]:
    return [other for other in OBJECTIVES if name in _objectives_params(other)]


def _never_read(
    model: str,
    settings: Mapping[str, Any],
    space: Mapping[str, Parameter],
    fixed: Mapping[str, Any],
) -> list[str]:
    """The searched options and the ``fixed`` ones (away from their defaults) that no trial
    reads (:func:`kgrec.experiment.unread_options` of the trial that reads the most: every
    main option of :data:`~kgrec.experiment.DEPENDENT_OPTIONS` searched at a value that turns
    it on, every other searched option away from its default where its range allows)."""
    off = {main: value for main, value, _ in DEPENDENT_OPTIONS}
    probe = {**settings, "model": model}
    for name, param in space.items():
        values = [v for v in _probes(param) if v != off.get(name, TRAIN_DEFAULTS[name])]
        probe[name] = values[0] if values else _probes(param)[0]
    given = set(space) | {n for n, v in fixed.items() if v != TRAIN_DEFAULTS.get(n)}
    return [name for name in unread_options(probe) if name in given]


def _defaults_in(space: Mapping[str, Parameter]) -> dict[str, Any]:
    """train()'s defaults of the searched options that lie in their ranges."""
    return {
        name: TRAIN_DEFAULTS[name] for name, param in space.items() if TRAIN_DEFAULTS[name] in param
    }


def _check_folder(out: Path) -> None:
    path = out / STUDY_FILE
    try:
        study = path.exists()
        other = (
            not study
            and out.exists()
            and (not out.is_dir() or any(entry.name != LOCK_FILE for entry in out.iterdir()))
        )
    except OSError as exc:  # a folder it may not read
        raise _folder_refused(out, "read", exc) from None
    if study:
        try:
            why = _not_ours(path)
        except sqlite3.Error as exc:  # the database refused the read: locked, an I/O error
            raise _refused_open(path, exc) from None
        if why is not None:  # another program's file, or another Optuna storage
            raise InputError(
                f"this is not a study kgrec tune can read ({why}): choose a new --out folder",
                file=str(path),
            )
    if other:
        raise InputError(
            "this is a file, not a folder: choose a new --out folder"
            if out.is_file()
            else "this is not a tune folder and not empty: choose a new --out folder",
            file=str(out),
        )


def _folder_refused(out: Path, doing: str, exc: OSError) -> InputError:
    """The error of the study folder ``out`` refusing to be read or written (``doing``): the
    path once, beside the system's reason (``exc`` names the path again)."""
    return InputError(f"cannot {doing} the study folder ({exc.strerror or exc})", file=str(out))


def _not_ours(path: Path) -> str | None:
    """Why the SQLite file ``path`` holds no study of kgrec tune's (None when it holds one),
    read without writing to it. A study of kgrec tune's name is one when it bears kgrec's
    :data:`MARK` or, made by a kgrec before session 31, which wrote none, the record of what
    it searches (:data:`_RECORDED`), which every kgrec tune wrote as it opened its study,
    before any trial; or when it is as a tune killed between Optuna making it and kgrec
    marking it left it (:func:`_left_unmarked`), which holds nothing anyone could lose.
    An empty file (SQLite makes one before its tables) counts as one. The
    database refusing the read (locked by another process, an I/O error) is its
    :class:`sqlite3.Error`, raised: that says nothing of what the file holds."""
    nothing = f"no study {STUDY_NAME!r} in it"
    if not path.is_file():  # a folder of that name: SQLite reads it as a disk I/O error
        return nothing
    if path.stat().st_size == 0:
        return None
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            row = db.execute(
                "SELECT study_id FROM studies WHERE study_name = ?", (STUDY_NAME,)
            ).fetchone()
            if row is None:
                return nothing
            marked = db.execute(
                "SELECT 1 FROM study_system_attributes WHERE study_id = ? AND key = ?",
                (row[0], MARK),
            ).fetchone()
            recorded = db.execute(
                "SELECT COUNT(DISTINCT key) FROM study_user_attributes WHERE study_id = ? "
                f"AND key IN ({', '.join('?' * len(_RECORDED))})",
                (row[0], *_RECORDED),
            ).fetchone()[0]
            if not marked and _left_unmarked(db, row[0]):
                return None  # taken for kgrec's: _open_study marks it
    except sqlite3.Error as exc:  # not SQLite, or no Optuna tables
        if _refusal(exc) is not None:
            raise
        return nothing
    if marked or recorded == len(_RECORDED):
        return None
    return (
        f"its study {STUDY_NAME!r} was not made by kgrec tune: it holds neither kgrec's mark "
        "nor a tune's settings"
    )


def _left_unmarked(db: sqlite3.Connection, study_id: int) -> bool:
    """Whether the study ``study_id`` is as Optuna makes kgrec's before kgrec marks it: the
    file's only study, maximising one objective, with no trial (none queued either) and no
    attribute. A kill in between leaves it so; no program's study like it holds anything."""
    if db.execute("SELECT COUNT(*) FROM studies").fetchone()[0] != 1:
        return False
    directions = db.execute(
        "SELECT direction FROM study_directions WHERE study_id = ?", (study_id,)
    ).fetchall()
    if directions != [("MAXIMIZE",)]:
        return False
    return not any(
        db.execute(f"SELECT 1 FROM {table} WHERE study_id = ? LIMIT 1", (study_id,)).fetchone()
        for table in ("trials", "study_user_attributes", "study_system_attributes")
    )


# SQLite's (primary) result codes of a database that refuses to be read or written, whatever it
# holds: another process's lock, an I/O error, a full disk, a file it cannot open or write
_REFUSED = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_PERM,
}


def _refusal(exc: BaseException) -> sqlite3.Error | None:
    """The SQLite error ``exc`` is (or that SQLAlchemy's ``exc`` wraps) when the database
    refused to be read or written (:data:`_REFUSED`), rather than said the file is no study
    (not SQLite, damaged, no Optuna tables: ``None``). Not :func:`_database_error`, which
    finds a database's error of any kind in what Optuna raised: this one sorts such an error
    (or sqlite3's own, read without SQLAlchemy) by what it says."""
    error = getattr(exc, "orig", exc)
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(error, sqlite3.Error) and isinstance(code, int) and code & 0xFF in _REFUSED:
        return error
    return None


def _refused_open(path: Path, error: sqlite3.Error) -> StoreError:
    """The :class:`StoreError` of the study's database ``path`` refusing to be opened (the
    SQLite ``error``, :func:`_refusal`'s): before anything in the folder is written."""
    return StoreError(
        f"file {path}: the study's database could not be opened ({_first_line(error)}): "
        "nothing in the folder changed; "
        + (
            _HELD
            if _held(error)
            else "run the same command again once the database can be read and written"
        )
    )


# what to do when another process holds the study's database (:func:`_held`)
_HELD = (
    "another process holds it (another kgrec tune in this folder, or a program that has it "
    "open): run the same command again when that process is done"
)


def _held(exc: BaseException) -> bool:
    """Whether ``exc`` is (or wraps) the database refusing because another process holds it
    (:func:`_refusal`: SQLite's busy or locked)."""
    error = _refusal(exc)
    return error is not None and error.sqlite_errorcode & 0xFF in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


class _lock:
    """An exclusive lock on the tune folder: one tune at a time runs in it. Taken on the lock
    file that is the folder's once taken: a run that fails before its first trial removes
    what it made (:class:`_Undone`), the folder or the lock file, before it lets go of the
    lock, so this run may find the folder gone (it makes it again, :attr:`made_folder`) or
    hold a lock on a file no longer in the folder (it takes the folder's instead).
    :attr:`made_file` says whether this run made the lock file; :attr:`made_folder` whether it
    made the folder (``made_folder``: before the lock, or again as it took it)."""

    def __init__(self, out: Path, *, made_folder: bool = False) -> None:
        self.path = out / LOCK_FILE
        self.made_folder, self.made_file = made_folder, False

    def __enter__(self) -> _lock:
        for _ in range(_LOCK_TRIES):
            try:
                self._open()
            except FileNotFoundError:  # the folder was removed by a run that failed
                self._make_folder()
                continue
            except OSError as exc:  # no permission, a folder of that name
                raise InputError(
                    f"cannot open the tune's lock file ({exc.strerror or exc})", file=str(self.path)
                ) from None
            try:
                fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.file.close()
                raise InputError(
                    "another kgrec tune is running in this folder", file=str(self.path.parent)
                ) from None
            if self._the_folders():
                return self
            fcntl.flock(self.file, fcntl.LOCK_UN)  # it locks nothing another run would see
            self.file.close()
        self._remove_folder()
        raise InputError(
            "the folder was removed by another kgrec tune that failed as this one started, "
            f"{_LOCK_TRIES} times: run again",
            file=str(self.path.parent),
        )

    def _open(self) -> None:
        """The lock file opened as :attr:`file`, made if it is not there (:attr:`made_file`)."""
        self.made_file = False
        try:
            self.file = open(self.path, "x")  # noqa: SIM115 - held until __exit__
            self.made_file = True
        except FileExistsError:  # a link there is refused (O_NOFOLLOW), not followed
            if self.path.is_symlink():
                raise InputError(
                    f"{LOCK_FILE} is a link ({os.readlink(self.path)}), where a tune folder "
                    f"holds a plain lock file: remove the link",
                    file=str(self.path),
                ) from None
            self.file = open(self.path, "a", opener=no_link)  # noqa: SIM115 - held until __exit__

    def _make_folder(self) -> None:
        try:
            self.path.parent.mkdir(parents=True)
            self.made_folder = True
        except FileExistsError:  # another run made it again
            pass
        except OSError as exc:
            raise _folder_refused(self.path.parent, "write", exc) from None

    def _remove_folder(self) -> None:
        """The folder this run made removed as it gives up, when it holds nothing: a file in
        it is another run's, which made it again since (its lock file), and stays."""
        if not self.made_folder:
            return
        try:
            self.path.parent.rmdir()
        except FileNotFoundError:  # removed again by another run
            pass
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):  # not another run's files
                _left(self.path.parent, exc)

    def _the_folders(self) -> bool:
        """Whether the file locked is still the folder's lock file (the same inode)."""
        try:
            now = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        mine = os.fstat(self.file.fileno())
        return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


# how many times a run takes the lock again when the folder or its lock file was removed as
# it took it: each time another run failed in the same moment
_LOCK_TRIES = 3


class _Undone:
    """What a run made in its folder removed when it fails before it begins its trials
    (:attr:`trials`), under the lock, so that no other run takes the folder in between: the
    folder is left as it was, whether the study could not be made or a setting, the data or
    the split was refused once it was. A folder the run made (``made_folder``) is removed
    whole; in another, the study's file and SQLite's beside it (:data:`_SQLITE_FILES`) that
    were not there as the run began to make the study (:meth:`making`), and the lock file;
    never a file that was there before. What cannot be removed is left, a WARNING naming it
    (:func:`_left`), and the error that stopped the run is raised."""

    def __init__(self, out: Path, *, locked_before: bool, made_folder: bool) -> None:
        self.out, self.locked_before, self.made_folder = out, locked_before, made_folder
        self.made: list[Path] = []  # the study's files the run made
        self.trials = False

    def making(self) -> None:
        """Note, as the study is about to be opened, which of its files are the run's: all
        that are not there yet, when the study is not (none when it is: a journal it leaves
        would hold a write of the study to undo). A folder that holds a study now is not the
        run's to remove, though it made it: another run that found no folder either made it
        too, and took the lock first."""
        files = [self.out / (STUDY_FILE + suffix) for suffix in _SQLITE_FILES]
        if os.path.lexists(files[0]):
            self.made_folder = False
        else:  # a link there is not the run's, though it points nowhere
            self.made = [path for path in files if not os.path.lexists(path)]

    def __enter__(self) -> _Undone:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if exc_type is None or self.trials:
            return
        if self.made_folder:
            shutil.rmtree(self.out, **{_RMTREE_REFUSED: _refused_removal})
            return
        for path in [*self.made, *([] if self.locked_before else [self.out / LOCK_FILE])]:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                _left(path, exc)


def _left(path: Path | str, exc: OSError) -> None:
    """A WARNING naming what a run that failed before its first trial could not remove: the
    error that stopped the run is the one raised, not this refusal."""
    log.warning("%s: could not be removed (%s)", path, exc.strerror or exc)


def _refused_removal(function: Any, path: str, error: Any) -> None:
    """shutil.rmtree's handler of a refusal: what it could not remove is named (:func:`_left`)
    and the rest removed. ``error`` is the exception (``onexc``) or ``sys.exc_info()``
    (``onerror``, before Python 3.12)."""
    exc = error[1] if isinstance(error, tuple) else error
    if not isinstance(exc, FileNotFoundError):  # gone already: nothing left
        _left(path, exc)


# the name of shutil.rmtree's handler argument: onexc since Python 3.12 (onerror deprecated)
_RMTREE_REFUSED = "onexc" if sys.version_info >= (3, 12) else "onerror"


# the suffixes of the study's file and those SQLite makes beside it: its rollback journal (left
# by a process that died as it wrote), and a write-ahead log and its index (in WAL mode)
_SQLITE_FILES = ("", "-journal", "-wal", "-shm")


class _optuna_quiet:
    """Optuna's own per-trial log lines off: kgrec prints its own, with why a trial failed."""

    def __enter__(self) -> None:
        self.level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        optuna.logging.set_verbosity(self.level)


def _of_type(value: Any, option: type) -> bool:
    if option is float:
        return is_number(value)
    if option is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, option)


_KIND_NAMES = {
    bool: "true or false",
    int: "a whole number",
    float: "a finite number",
    str: "a name",
}


def _parse_value(name: str, option: type, text: str, where: str) -> Any:
    text = text.strip()
    try:
        if option is bool:
            lowered = text.lower()
            if lowered not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError
            return lowered in ("true", "yes", "1")
        if option is int:
            return int(text)
        if option is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        raise InputError(
            f"{where}: {name} takes {_KIND_NAMES[option]}, got {text!r}", field="--search"
        ) from None
    return text


def _plain_param(name: str, param: Any) -> Any:
    """``param`` with the numpy numbers among its values as the Python ones (:func:`plain`),
    and a whole number of a float option as that float, as ``--search`` parses it (``0`` of
    ``Choice([0, 1e-4])`` is the default 0.0: trial 0 is the defaults)."""

    def value(given: Any) -> Any:
        given = plain(given)
        if (
            searchable().get(name) is float
            and isinstance(given, int)
            and not isinstance(given, bool)
        ):
            return float(given)
        return given

    if isinstance(param, Choice):
        return Choice([value(v) for v in param.values])
    if isinstance(param, LogUniform | Uniform | IntRange):
        return type(param)(value(param.low), value(param.high))
    return param  # (check_space names what is no range)


def _params_text(params: Mapping[str, Any]) -> str:
    return " ".join(
        f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={option_text(value)}"
        for name, value in params.items()
    )


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


__all__ = [
    "DEFAULT_RANGES",
    "Choice",
    "IntRange",
    "LogUniform",
    "Parameter",
    "TuneResult",
    "Uniform",
    "default_space",
    "parse_search",
    "parse_space",
    "train_command",
    "trial_table",
    "tune",
]
