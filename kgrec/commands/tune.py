"""``kgrec tune``: an argparse adapter over :func:`kgrec.tune.tune`.

Its training options are ``kgrec train``'s own (taken from that parser, so the two never
drift): given, an option is fixed for every trial; not given, it takes train's default unless
it is searched. Defaults of the tune's own options are :func:`kgrec.tune.tune`'s
(:data:`kgrec.tune_space.TUNE_DEFAULTS`).
"""

from __future__ import annotations

import argparse
import copy

from kgrec import distributed
from kgrec.commands.options import (
    add_cold_share_options,
    add_data_options,
    add_few_shot_option,
    add_split_options,
    add_threads_option,
    add_train_fraction_option,
    path_option,
)
from kgrec.models.registry import MODELS
from kgrec.settings import TRAIN_DEFAULTS
from kgrec.tune_space import BEST_FILE, DEFAULT_RANGES, STUDY_FILE, TUNE_DEFAULTS

# kgrec train's options that tune sets up itself, or that are not settings of a trial
OWN = ("help", "model", "out", "resume", "threads")


def run_tune(args: argparse.Namespace) -> int:
    # imported here, as the command runs: kgrec.tune imports torch and Optuna (--help needs not)
    from kgrec.plots import check_plot_options
    from kgrec.tune import parse_space, tune

    check_plot_options(args.plot, args.force)  # refused before any trial
    # the data and split options, and the training options given (the others are absent)
    options = {name: getattr(args, name) for name in TRAIN_DEFAULTS if hasattr(args, name)}
    result = tune(
        args.model,
        out=args.out,
        space=parse_space(args.search) if args.search else None,
        trials=args.trials,
        timeout=args.timeout,
        pruning=args.pruning,
        prune_warmup=args.prune_warmup,
        **options,
    )
    if not distributed.current().is_main:  # under a launcher rank 0 reports for every rank
        return 0 if result.best_trial is not None else 1
    print()
    print(result.table())
    if args.plot is not None:
        result.plot(args.plot, force=args.force)
        print(f"\ntrials plot: {args.plot}")
    if result.best_trial is None:
        print(f"\nno trial completed in {args.out}: nothing to report")
        stopped = [t for t in result.trials if t.user_attrs.get("interrupted") == "time budget"]
        if stopped and args.timeout is not None:  # each run would stop the same trial again
            print(
                f"the time budget (--timeout {args.timeout:g}) stopped trial "
                f"{stopped[-1].number} at epoch {stopped[-1].user_attrs.get('epochs', '?')}; a "
                "stopped trial runs again from its first epoch, so with a budget shorter than "
                "one trial none completes: raise --timeout"
            )
        return 1
    unfinished = ""
    if result.counted < args.trials and args.timeout is not None:  # the study is not done
        unfinished = (
            f"\nthe time budget (--timeout {args.timeout:g}) ended this run with "
            f"{result.counted} of {args.trials} trials: the same command continues the study"
        )
    print(
        f"{unfinished}\nbest valid ndcg@20{' so far' if unfinished else ''} "
        f"{result.best_value:.4f} (trial {result.best_trial.number}); "
        f"wrote {args.out / BEST_FILE}\ntrain it with:\n{result.command}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    ranges = ", ".join(f"{name}={param}" for name, param in DEFAULT_RANGES.items())
    parser = subparsers.add_parser(
        "tune",
        description="Search training settings for the best validation NDCG@20 with Optuna "
        "(TPE sampler, median pruning), never looking at the test split. The study is kept "
        f"in TUNE/{STUDY_FILE}: run the same command again to continue it after a kill or "
        "with a larger --trials. At the end it writes TUNE/best.json and prints every trial "
        "and the `kgrec train` command that trains the best settings again.",
        epilog=f"Default search space: those of {ranges} that the model and the objective "
        "take. --search NAME=loguniform:LOW:HIGH | uniform:LOW:HIGH | int:LOW:HIGH | "
        "choice:A,B,... replaces it, e.g. --search lr=loguniform:1e-4:1e-2 "
        "--search reg_weight=choice:0,1e-4,1e-3 --search dim=choice:32,64,128.",
    )
    parser.add_argument("--model", required=True, choices=list(MODELS))
    add_split_options(parser)
    add_train_fraction_option(parser, default=TRAIN_DEFAULTS["train_fraction"])
    add_few_shot_option(parser, default=TRAIN_DEFAULTS["few_shot"])
    add_cold_share_options(parser)
    add_data_options(parser)
    parser.add_argument(
        "--out", type=path_option, required=True, metavar="TUNE", help="tune folder (the study)"
    )
    parser.add_argument(
        "--plot",
        type=path_option,
        metavar="FILE",
        help="also draw the trials (validation NDCG@20 by trial, pruned and failed ones "
        "marked, the best so far as a line) into FILE, its format by its suffix (.png, .svg, "
        ".pdf, ...), in a folder that exists; an existing file only with --force",
    )
    parser.add_argument("--force", action="store_true", help="replace the --plot file if it exists")
    search = parser.add_argument_group("search")
    search.add_argument(
        "--search",
        action="append",
        metavar="NAME=SPEC",
        help="an option to search and its range (repeat; default: the model's default space)",
    )
    search.add_argument(
        "--trials",
        type=int,
        default=TUNE_DEFAULTS["trials"],
        metavar="N",
        help="trials the study ends with, across runs (default %(default)s)",
    )
    search.add_argument(
        "--timeout",
        type=float,
        default=TUNE_DEFAULTS["timeout"],
        metavar="SECONDS",
        help="this run's time budget: no trial starts after it, the running one stops at its "
        "epoch's end and runs again next time, unless that epoch was its last "
        "(default: none)",
    )
    search.add_argument(
        "--pruning",
        action=argparse.BooleanOptionalAction,
        default=TUNE_DEFAULTS["pruning"],
        help="stop a trial below the median of earlier trials at the same epoch (default on)",
    )
    search.add_argument(
        "--prune-warmup",
        type=int,
        default=TUNE_DEFAULTS["prune_warmup"],
        metavar="EPOCHS",
        help="epochs every trial trains before it can be pruned (default %(default)s); the "
        "median favours fast learning rates, so a small value prunes slow ones that would "
        "have ended best",
    )
    fixed = parser.add_argument_group(
        "training options (as kgrec train; given, fixed in every trial; not given, train's "
        "default unless searched)"
    )
    taken = {action.dest for action in parser._actions}
    for action in _train_parser()._actions:
        if action.dest in OWN or action.dest in taken or action.dest not in TRAIN_DEFAULTS:
            continue
        option = copy.copy(action)
        option.default = argparse.SUPPRESS
        option.required = False
        fixed._add_action(option)
    add_threads_option(parser)
    parser.set_defaults(func=run_tune)


def _train_parser() -> argparse.ArgumentParser:
    """``kgrec train``'s parser, whose training options tune takes over."""
    from kgrec.commands import train

    subparsers = argparse.ArgumentParser().add_subparsers()
    train.register(subparsers)
    return subparsers.choices["train"]
