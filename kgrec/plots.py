"""Plots of what kgrec records: a run's training curve (``kgrec evaluate --plot``,
:meth:`kgrec.experiment.Run.plot`) and a tune's trials (``kgrec tune --plot``).

Each is drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never through pyplot:
a notebook's backend and pyplot's figures are left alone. The file's format is its suffix
(``.png``, ``.svg``, ``.pdf``, ...); the file is written whole (:func:`kgrec.files.write_atomic`),
into a folder that exists, and an existing file is replaced only with ``force``
(``--force``). Errors name the option, ``--plot``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from graph_schema.validate import path_argument
from kgrec.errors import InputError
from kgrec.files import write_atomic

OPTION = "--plot"
# matplotlib's formats that need no program of their own (pgf needs LaTeX)
_NEEDS_LATEX = ("pgf",)


def formats() -> list[str]:
    """The suffixes (without the dot) a plot may be written as."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return sorted(set(FigureCanvasAgg.get_supported_filetypes()) - set(_NEEDS_LATEX))


def check_plot_path(path: str | os.PathLike, *, force: bool = False) -> Path:
    """``path`` as a plot's file, refused (an InputError naming ``--plot``) before anything is
    computed: blank, a folder, in a folder that does not exist, a suffix matplotlib cannot
    write, or a file (or link) already there without ``force``."""
    path = Path(path_argument(path, OPTION))
    suffix = path.suffix.lower().lstrip(".")
    known = formats()
    if suffix not in known:
        raise InputError(
            f"cannot draw into a file named {path.name!r}: its suffix says the format, one of "
            f"{', '.join('.' + name for name in known)}",
            file=str(path),
            field=OPTION,
        )
    if path.is_dir():
        raise InputError("a folder, not a file", file=str(path), field=OPTION)
    if not path.parent.is_dir():
        raise InputError(
            f"the folder {str(path.parent)!r} does not exist", file=str(path), field=OPTION
        )
    if (path.exists() or path.is_symlink()) and not force:
        raise InputError("the file exists; --force replaces it", file=str(path), field=OPTION)
    return path


def check_plot_options(path: str | os.PathLike | None, force: bool) -> None:
    """A command's ``--plot FILE`` and ``--force``, checked before any work: ``--force``
    without ``--plot`` is refused, and the file as :func:`check_plot_path` checks it."""
    if force and path is None:
        raise InputError("--force replaces a --plot file; give --plot FILE", field="--force")
    if path is not None:
        check_plot_path(path, force=force)


class Curve(NamedTuple):
    """A run's training curve as its run.json records it (:func:`read_curve`)."""

    model: str
    epochs: list[int]
    losses: list[float]
    metric: str
    values: list[float]
    best: Any  # the best epoch (None where run.json has none)
    resumed: int  # the epochs a resumed training read from its checkpoint


def read_curve(info: Mapping[str, Any], *, name: str, source: str | None = None) -> Curve:
    """The training curve of a run (``info``: its run.json; ``name``: the run's): an
    InputError naming the run (and ``source``, its run.json) where it has none (a kgrec that
    kept no history, a model with nothing to train by gradient) or where it is damaged.
    ``kgrec evaluate --plot`` reads it before scoring, so a run without a curve is refused
    early."""
    training = info.get("training")
    history = training.get("history") if isinstance(training, Mapping) else None
    model = info.get("model", "?")
    if not history:
        why = (
            "its run.json has no training history (a run of an older kgrec?)"
            if history is None
            else f"{model} trains nothing by gradient"
        )
        raise InputError(
            f"run {name!r} ({model}) has no training curve: {why}", file=source, field="--run"
        )
    try:
        epochs = [int(row["epoch"]) for row in history]
        losses = [float(row["loss"]) for row in history]
        metric = next(key for key in history[0] if key not in ("epoch", "loss"))
        values = [float(row[metric]) for row in history]
    except (KeyError, TypeError, ValueError, StopIteration):
        raise InputError(
            f"run {name!r}: run.json is damaged: training.history is not a list of epochs "
            "with their loss and validation metric",
            file=source,
            field="training.history",
        ) from None
    best = training.get("best_epoch")
    resumed = training.get("epochs_resumed") or 0
    if isinstance(resumed, bool) or not isinstance(resumed, numbers.Integral):
        raise InputError(
            f"run {name!r}: run.json is damaged: training.epochs_resumed must be a count of "
            f"epochs, got {resumed!r}",
            file=source,
            field="training.epochs_resumed",
        )
    return Curve(str(model), epochs, losses, metric, values, best, int(resumed))


def training_curve(
    info: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    name: str,
    force: bool = False,
    source: str | None = None,
) -> Path:
    """Draw a run's training curve (``info``: its run.json) into ``path``: the training loss
    and the validation NDCG@20 by epoch, the best epoch marked, and the epochs a resumed
    training read from its checkpoint shaded. ``name`` is the run's, for the title and errors.
    A run without a history (of a kgrec that kept none, or a model with nothing to train by
    gradient) is an InputError naming it (and ``source``, its run.json), as
    :func:`read_curve` says; nothing is written then."""
    path = check_plot_path(path, force=force)
    model, epochs, losses, metric, values, best, resumed = read_curve(
        info, name=name, source=source
    )

    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4), layout="constrained")
    loss_axes = figure.add_subplot()
    loss_axes.plot(epochs, losses, color="tab:blue", marker=".", label="training loss")
    loss_axes.set_xlabel("epoch")
    loss_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_axes.set_ylabel("training loss", color="tab:blue")
    metric_axes = loss_axes.twinx()
    metric_axes.plot(epochs, values, color="tab:orange", marker=".", label=f"valid {metric}")
    metric_axes.set_ylabel(f"validation {metric.upper()}", color="tab:orange")
    if best in epochs:
        metric_axes.axvline(best, color="grey", linestyle="--", linewidth=1)
        metric_axes.plot(
            [best], [values[epochs.index(best)]], "*", color="tab:red", markersize=12,
            label=f"best epoch {best}",
        )  # fmt: skip
    if resumed:
        loss_axes.axvspan(
            min(epochs) - 0.5, resumed + 0.5, color="grey", alpha=0.15,
            label=f"epochs 1-{resumed}: before the resume",
        )  # fmt: skip
    handles = [h for axes in (loss_axes, metric_axes) for h in axes.get_legend_handles_labels()[0]]
    metric_axes.legend(handles=handles, loc="center right", fontsize="small")
    figure.suptitle(f"{model}: {name}")
    _save(figure, path, force)
    return path


def tune_trials(
    trials: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    title: str,
    metric: str = "ndcg@20",
    force: bool = False,
) -> Path:
    """Draw a tune's trials into ``path``: each trial's validation ``metric`` by its number
    (``trials``: dicts of ``number``, ``state`` (complete, pruned, fail, ...) and ``value``,
    None where it has none), completed, pruned and failed trials marked apart, and the best so
    far as a line."""
    path = check_plot_path(path, force=force)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.add_subplot()
    styles = {
        "complete": ("o", "tab:blue", "completed"),
        "pruned": ("v", "tab:orange", "pruned (best before pruning)"),
    }
    shown = [t for t in trials if t.get("value") is not None]
    for state, (marker, color, label) in styles.items():
        these = [t for t in shown if t["state"] == state]
        if these:
            axes.scatter(
                [t["number"] for t in these], [t["value"] for t in these],
                marker=marker, color=color, label=label, zorder=3,
            )  # fmt: skip
    other = [t for t in trials if t["state"] not in styles or t.get("value") is None]
    if other:
        low = min((t["value"] for t in shown), default=0.0)
        axes.scatter(
            [t["number"] for t in other],
            [low if t.get("value") is None else t["value"] for t in other],
            marker="x", color="tab:red", label="failed, running or no value", zorder=3,
        )  # fmt: skip
    numbers, running, best = [], [], None
    for trial in sorted(trials, key=lambda t: t["number"]):
        if trial["state"] == "complete" and trial.get("value") is not None:
            best = trial["value"] if best is None else max(best, trial["value"])
        if best is not None:
            numbers.append(trial["number"])
            running.append(best)
    if numbers:
        axes.step(numbers, running, where="post", color="tab:green", label="best so far")
    axes.set_xlabel("trial")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(f"validation {metric.upper()}")
    if trials:
        axes.legend(fontsize="small")
    figure.suptitle(title)
    _save(figure, path, force)
    return path


def _save(figure: Any, path: Path, force: bool) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # the figure's canvas: Agg, whatever pyplot's backend is
    suffix = path.suffix.lower().lstrip(".")
    try:
        write_atomic(path, lambda tmp: figure.savefig(tmp, format=suffix, dpi=100), replace=force)
    except InputError as exc:  # written meanwhile by another program: kept
        raise InputError(
            "the file exists (made while the plot was drawn); --force replaces it",
            file=exc.file,
            field=OPTION,
        ) from None
    except OSError as exc:  # no permission, a full disk
        raise InputError(
            f"cannot write the plot ({exc.strerror or exc})", file=str(path), field=OPTION
        ) from None


__all__ = ["OPTION", "check_plot_path", "formats", "training_curve", "tune_trials"]
