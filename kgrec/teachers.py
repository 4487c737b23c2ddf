"""Teachers of knowledge distillation (``kgrec train --distill-from RUN [RUN ...]``): trained
runs on the student's split whose scores, standardised and mixed, the student learns
(:class:`kgrec.objectives.Distillation`).

A teacher is any finished run, EASE included (:func:`kgrec.ranking.embeddings` gives every
model's scores as dot products). Each one's scores are divided by their standard deviation
over all (user, covered item) pairs, so that runs of other scales mix by their weights, and
mixed by ``mix``: as bench/blend.py's blend, the mix is the dot product of concatenated
embeddings ``[w_1 u_1 / sd_1, w_2 u_2 / sd_2, ...] . [i_1, i_2, ...]`` (a shift of each
user's scores would change no softmax), so no users x items matrix is held.

Here, not in :mod:`kgrec.experiment`, which only hands the options over: reading the teachers
and mixing their scores is a capability of its own, which bench scripts can use too. The
run-folder checks it reuses (a finished run, its split) are :mod:`kgrec.experiment`'s,
imported as they are called (that module imports this one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from kgrec.errors import InputError

if TYPE_CHECKING:
    from kgrec.data.split import Split
    from kgrec.experiment import Experiment

# where run.json records the teachers of a distilled run
RECORD = "distill_from"


def check_mix(mix: Any, count: int) -> list[float]:
    """``mix`` (None: equal) as the weights of ``count`` teachers, normalised to sum 1; an
    InputError naming ``--distill-mix`` unless it is one non-negative finite number per teacher,
    not all zero."""
    if mix is None:
        return [1.0 / count] * count
    numbers = isinstance(mix, list | tuple) and all(
        isinstance(w, int | float) and not isinstance(w, bool) for w in mix
    )
    if not numbers:
        raise InputError(
            f"distill_mix must be a list of numbers (one weight per teacher), got {mix!r}",
            field="--distill-mix",
        )
    if len(mix) != count:
        raise InputError(
            f"--distill-mix has {len(mix)} weight(s) and --distill-from {count} teacher run(s): "
            "give one weight per teacher, in their order",
            field="--distill-mix",
        )
    if not all(0 <= w < math.inf for w in mix) or not sum(mix) > 0:
        raise InputError(
            f"--distill-mix weights must be non-negative finite numbers, not all zero, got "
            f"{','.join(map(str, mix))}",
            field="--distill-mix",
        )
    total = math.fsum(mix)
    return [w / total for w in mix]


def check_folders(folders: Any) -> list[Path]:
    """``distill_from`` as a non-empty list of paths; an InputError naming ``--distill-from``
    otherwise (a single path, not in a list, would be read letter by letter)."""
    from graph_schema.arguments import path_argument

    if isinstance(folders, str | Path) or not isinstance(folders, list | tuple) or not folders:
        raise InputError(
            f"distill_from must be a list of one or more run folders, got {folders!r}",
            field="--distill-from",
        )
    for folder in folders:
        path_argument(folder, "--distill-from")
    return [Path(folder) for folder in folders]


def check_teachers(folders: Sequence[str | Path]) -> None:
    """Refuse a teacher that is no finished run (before any data is read)."""
    from kgrec.experiment import check_finished_run

    for folder in folders:
        check_finished_run(Path(folder), option="--distill-from")


def teacher_records(
    folders: Sequence[str | Path], experiment: Experiment, *, out: Path
) -> list[dict[str, Any]]:
    """What run.json records of each teacher (its ``run``, ``model`` and model.pt's
    ``model_sha256``); an InputError naming the teacher and ``out`` where a teacher was
    trained on another split than ``experiment``'s (the run, or `kgrec tune`'s study, in
    ``out``)."""
    from kgrec.experiment import (
        SPLIT_DIGEST,
        _read_run_experiment,
        check_finished_run,
        model_sha256,
        split_digest,
    )

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
        records.append(
            {"run": str(folder), "model": info["model"], "model_sha256": model_sha256(folder)}
        )
    return records


def changed_teachers(records: Any, folders: Sequence[str | Path]) -> list[str]:
    """The teachers among ``folders`` (a resume's ``--distill-from``) that do not hold the
    model.pt of run.json's ``records`` in the same place of the list (another model.pt now,
    or none recorded): a student resumed on another teacher would learn another blend. A
    teacher moved, or reached through another path, holding the same model.pt, is the same."""
    from kgrec.experiment import same_model

    if not isinstance(records, list) or len(records) != len(folders):
        return [str(folder) for folder in folders]
    return [
        str(folder)
        for folder, record in zip(folders, records, strict=True)
        if not (isinstance(record, dict) and same_model(record.get("model_sha256"), folder))
    ]


def score_spread(users: Tensor, items: Tensor, *, rows: int | None = None) -> float:
    """The (sample) standard deviation of the scores ``users @ items.T`` over all their pairs,
    computed ``rows`` users at a time (default: blocks of about 2**24 scores) in double, so
    that memory does not grow with users x items."""
    users, items = users.double(), items.double()
    rows = rows or max(1, (1 << 24) // max(items.size(0), 1))
    count = users.size(0) * items.size(0)
    if count < 2:
        return math.nan
    total = sum(float((users[s : s + rows] @ items.T).sum()) for s in range(0, users.size(0), rows))
    mean = total / count
    squares = sum(
        float((users[s : s + rows] @ items.T - mean).pow(2).sum())
        for s in range(0, users.size(0), rows)
    )
    return math.sqrt(squares / (count - 1))


def blend(
    teachers: Sequence[tuple[Tensor, Tensor]],
    mix: Sequence[float],
    *,
    items: Tensor,
    names: Sequence[str] | None = None,
    rows: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The standardised mix of ``teachers`` (each its ``(users [U, d_k], items [I, d_k])``
    embeddings) as float32 embeddings ``(users [U, sum d_k], items [I, sum d_k])``: each
    teacher's scores divided by their spread over the users and the ``items`` (a bool
    ``[I]`` mask: the covered items) (:func:`score_spread`), weighted by ``mix`` (normalised
    here to sum 1). A ValueError naming the teacher (``names``) whose scores are all alike."""
    names = names or [f"teacher {n}" for n in range(1, len(teachers) + 1)]
    total = math.fsum(mix)
    user_parts, item_parts = [], []
    for (users, item_emb), weight, name in zip(teachers, mix, names, strict=True):
        spread = score_spread(users, item_emb[items], rows=rows)
        if not spread > 0:  # NaN too
            raise ValueError(
                f"{name}: its scores are all alike (standard deviation {spread}), nothing to "
                "standardise or learn from"
            )
        user_parts.append(users.double() * (weight / total / spread))
        item_parts.append(item_emb.double())
    return torch.cat(user_parts, dim=1).float(), torch.cat(item_parts, dim=1).float()


def load_teachers(
    folders: Sequence[str | Path], mix: Any, *, split: Split, items: Tensor
) -> tuple[Tensor, Tensor]:
    """The teachers' standardised mix (:func:`blend`) as embeddings, read from the run
    folders ``folders`` (:func:`kgrec.experiment.load_run`); an InputError naming the teacher
    where it was trained on another split than ``split`` or its scores are all alike."""
    from kgrec.experiment import load_run
    from kgrec.ranking import embeddings

    weights = check_mix(mix, len(folders))
    teachers = []
    for folder in map(Path, folders):
        run = load_run(folder)
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
        users, item_emb = embeddings(run.model, run.graph)
        teachers.append((users.detach().cpu(), item_emb.detach().cpu()))
    try:
        return blend(teachers, weights, items=items.cpu(), names=[str(f) for f in folders])
    except ValueError as exc:
        raise InputError(f"--distill-from {exc}", field="--distill-from") from None
