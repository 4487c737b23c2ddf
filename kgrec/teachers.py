"""Teachers of knowledge distillation (``kgrec train --distill-from RUN [RUN ...]``): trained
runs on the student's split whose scores, standardised and mixed, the student learns
(:class:`kgrec.objectives.Distillation`).

A teacher is any finished run, EASE included (:func:`kgrec.ranking.embeddings` gives every
model's scores as dot products). Each one's scores are divided by their standard deviation
over all (user, covered item) pairs, so that runs of other scales mix by their weights, and
mixed by ``mix``: as bench/blend.py's blend, the mix is the dot product of concatenated
embeddings ``[w_1 u_1 / sd_1, w_2 u_2 / sd_2, ...] . [i_1, i_2, ...]`` (a shift of each
user's scores would change no softmax), so no users x items matrix is held.

Here the options' checks and the mix, on tensors; reading the teacher runs (a finished run,
on the student's split, recorded in run.json) is :mod:`kgrec.experiment`'s, beside
``--init-from``'s reading of a run, which it shares (``load_teachers``, ``teacher_records``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graph_schema.validate import plain
from kgrec.errors import InputError


def mix_setting(mix: Any) -> list[float] | None:
    """``distill_mix`` (checked by :func:`check_mix`) as run.json and a tune study record it,
    and ``--resume`` compares it: its weights as Python floats (NumPy numbers, whole numbers),
    None as None. train() and tune() both record it so, from here."""
    return None if mix is None else [float(plain(w)) for w in mix]


def check_mix(mix: Any, count: int) -> list[float]:
    """``mix`` (None: equal) as the weights of ``count`` teachers, normalised to sum 1; an
    InputError naming ``--distill-mix`` unless it is one non-negative finite number per teacher,
    not all zero."""
    if mix is None:
        return [1.0 / count] * count
    if isinstance(mix, list | tuple):  # numpy numbers (np.int64 from np.arange) as Python's
        mix = [plain(w) for w in mix]
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
    return normalised(mix)


def normalised(mix: Sequence[float]) -> list[float]:
    """The non-negative finite weights ``mix`` (not all zero) divided by their sum; weights
    whose sum overflows (``1e308,1e308``) are first divided by the largest."""
    try:
        total = math.fsum(mix)
    except OverflowError:  # the sum is beyond the largest float: their ratios are the same
        top = max(mix)
        mix = [w / top for w in mix]
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
    mix = normalised(mix)
    user_parts, item_parts = [], []
    for (users, item_emb), weight, name in zip(teachers, mix, names, strict=True):
        spread = score_spread(users, item_emb[items], rows=rows)
        if not spread > 0:  # NaN too
            raise ValueError(
                f"{name}: its scores are all alike (standard deviation {spread}), nothing to "
                "standardise or learn from"
            )
        user_parts.append(users.double() * (weight / spread))
        item_parts.append(item_emb.double())
    return torch.cat(user_parts, dim=1).float(), torch.cat(item_parts, dim=1).float()
