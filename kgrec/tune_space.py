"""The search space of ``kgrec tune``, its defaults and the names of its folder's files: the
part of :mod:`kgrec.tune` that imports neither torch nor Optuna, so that the argument parser
(``kgrec tune --help``) reads it without loading them. :mod:`kgrec.tune` imports these names
from here (``from kgrec.tune import LogUniform, Choice`` keeps working).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

STUDY_FILE = "tune.sqlite"
BEST_FILE = "best.json"
# tune()'s defaults for its own options (the training options' are kgrec.settings.TRAIN_DEFAULTS)
TUNE_DEFAULTS = {"trials": 20, "timeout": None, "pruning": True, "prune_warmup": 30}


@dataclass(frozen=True)
class LogUniform:
    """A float drawn log-uniformly from ``[low, high]`` (``0 < low < high``)."""

    low: float
    high: float

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=True)

    def __contains__(self, value: Any) -> bool:
        return is_number(value) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"loguniform:{option_text(self.low)}:{option_text(self.high)}"


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from ``[low, high]``."""

    low: float
    high: float

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high)

    def __contains__(self, value: Any) -> bool:
        return is_number(value) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"uniform:{option_text(self.low)}:{option_text(self.high)}"


@dataclass(frozen=True)
class IntRange:
    """A whole number drawn uniformly from ``low, low + 1, ..., high``."""

    low: int
    high: int

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high)

    def __contains__(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    def __str__(self) -> str:
        return f"int:{self.low}:{self.high}"


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (numbers, booleans or names)."""

    values: tuple[Any, ...]

    def __init__(self, values: Sequence[Any]) -> None:
        object.__setattr__(self, "values", tuple(values))

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, self.values)

    def __contains__(self, value: Any) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def __str__(self) -> str:
        return "choice:" + ",".join(option_text(v) for v in self.values)


Parameter = LogUniform | Uniform | IntRange | Choice

# the range searched for an option when the caller names none; an option is in a model's
# default space when the model (or the objective) takes it
DEFAULT_RANGES: dict[str, Parameter] = {
    "lr": LogUniform(1e-4, 1e-2),
    "reg_weight": Choice([0.0, 1e-5, 1e-4, 1e-3]),
    "dim": Choice([32, 64, 128]),
    "layers": IntRange(1, 4),
    "adversarial_weight": Choice([0.0, 0.01, 0.1]),
    "temperature": LogUniform(0.05, 0.5),
    "ease_lambda": LogUniform(10.0, 1e4),
    "ease_text_weight": Choice([0.0, 1.0, 10.0, 100.0]),
}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def option_text(value: Any) -> str:
    """A value as the command line writes it (floats in full: they must round-trip)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
