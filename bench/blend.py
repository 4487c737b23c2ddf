"""A blend of two trained runs on one split: each user's scores from the first run and from the
second, each standardised over all (user, item) pairs, mixed w : 1 - w.

    OMP_NUM_THREADS=1 .venv/bin/python bench/blend.py --first RUN [RUN ...] \\
        --second RUN [RUN ...] [--baseline RUN [RUN ...]] [--weights 0.3,0.4,...,1.0] \\
        [--metric ndcg@20] [--threads N] [--out JSON]

The runs are paired by position (one pair per seed); the runs of a pair must have been trained
on the same split (their run.json's ``split_digest``). Standardising is affine, so the blend is
the dot product of concatenated embeddings ``[w uA / sdA, (1 - w) uB / sdB] . [iA, iB]`` (the
means shift every score of a user alike; ``kgrec.teachers.blend``, which mixes ``kgrec train
--distill-from``'s teachers, here standardised over every item) and kgrec's own
``evaluate_embeddings`` scores it, as kgrec scores a model: w = 1 is the first run's figure,
w = 0 the second's. The weight is chosen on the first pair's validation ``--metric``, then every
pair's test set is scored. Printed: the validation figure at each weight; per pair the test
figure of all users and of those with at most 5 interactions (``act<=5``) of the blend, the
first, the second and the ``--baseline`` run, and their mean ± sample std; the blend's paired
differences against the baseline and the first run, and its gain in % of the means. Nothing is
trained here; the runs are only read.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import NamedTuple

import torch

from kgrec.commands.options import refuse_below_a_file
from kgrec.errors import InputError, run_script
from kgrec.evaluate import evaluate_embeddings
from kgrec.experiment import load_run, split_digest
from kgrec.files import write_atomic
from kgrec.metrics import METRIC_NAMES
from kgrec.ranking import embeddings
from kgrec.teachers import blend, score_spread
from kgrec.threads import set_threads

WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
GROUPS = ("all", "act<=5")


class Metric(NamedTuple):
    """``--metric NAME@K``, read once; ``str()`` writes it as kgrec's figures name it
    (``ndcg@20``, also of ``ndcg@020``)."""

    name: str
    k: int

    def __str__(self) -> str:
        return f"{self.name}@{self.k}"


def load_pair(folders: dict[str, Path], metric: Metric) -> dict:
    """Each role's run as double embeddings ``(users, items)``, the first's split and item
    domains; an InputError naming the first or second where its scores are all alike, both
    folders where a run has another split than the first, or the first's where it ranks
    fewer items than ``metric``'s k."""
    pair: dict = {}
    for role, folder in folders.items():
        run = load_run(folder)
        digest = split_digest(run.experiment)  # what run.json's split_digest records
        if role == "first":
            pair.update(split=run.experiment.split, domain=run.graph.item_domain, digest=digest)
            ranked = int((pair["domain"] == pair["split"].target_domain).sum())
            if metric.k > ranked:  # said first, not as a traceback
                raise InputError(
                    f"--metric {metric}: k is above the {ranked} items it ranks", file=str(folder)
                )
        elif digest != pair["digest"]:
            raise InputError(
                f"{folder} was trained on another split than {folders['first']} ({digest}, "
                f"{pair['digest']}): the runs of a pair must share their split",
                file=str(folder / "run.json"),
                field="split_digest",
            )
        users, items = (part.detach().double() for part in embeddings(run.model, run.graph))
        pair[role] = users, items
        if role != "baseline" and not score_spread(users, items) > 0:  # NaN too
            raise InputError(f"{folder}: its scores are all alike, nothing to standardise")
    return pair


def blended(pair: dict, w: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The pair's blend w : 1 - w as embeddings: kgrec's teachers' (kgrec.teachers.blend),
    each run's scores standardised over all users and items."""
    every = torch.ones(pair["first"][1].size(0), dtype=torch.bool)
    return blend([pair["first"], pair["second"]], [w, 1 - w], items=every)


def figures(pair: dict, vectors, phase: str, metric: Metric) -> dict[str, float | None]:
    found = evaluate_embeddings(*vectors, pair["domain"], pair["split"], phase, ks=(metric.k,))
    return {group: found.get(group, {}).get(str(metric)) for group in GROUPS}


def mean_std(values: list) -> str:
    if None in values or len(values) < 2:
        return "-" if None in values else f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def metric_option(text: str) -> Metric:
    name, _, k = text.partition("@")
    # isdecimal: the digits int() reads (isdigit takes '²' too, which int() refuses)
    if name not in METRIC_NAMES or not k.isdecimal() or int(k) < 1:
        raise argparse.ArgumentTypeError(
            f"expected NAME@K, NAME one of {METRIC_NAMES} and K a whole number from 1: {text!r}"
        )
    return Metric(name, int(k))


def weights_option(text: str) -> tuple[float, ...]:
    try:
        weights = tuple(float(w) for w in text.split(","))
    except ValueError:
        weights = (-1.0,)
    if not all(0 <= w <= 1 for w in weights):
        raise argparse.ArgumentTypeError(f"expected weights from 0 to 1, comma-separated: {text!r}")
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", nargs="+", type=Path, required=True, help="runs A, one a seed")
    parser.add_argument("--second", nargs="+", type=Path, required=True, help="runs B, as paired")
    parser.add_argument("--baseline", nargs="+", type=Path, help="runs for paired differences")
    parser.add_argument("--weights", type=weights_option, default=WEIGHTS, help="w of run A")
    parser.add_argument("--metric", type=metric_option, default="ndcg@20", help="NAME@K")
    parser.add_argument("--threads", type=int, help="torch threads (default: kgrec's choice)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON (a new file)")
    args = parser.parse_args()
    if args.out is not None and (args.out.exists() or args.out.is_symlink()):
        parser.error(f"{args.out} exists; the figures are never written over a file")
    refuse_below_a_file(parser, "--out", args.out)
    roles = {role: getattr(args, role) for role in ("first", "second", "baseline")}
    roles = {role: runs for role, runs in roles.items() if runs is not None}
    for role, runs in roles.items():
        if len(runs) != len(args.first):
            unpaired = max(runs, args.first, key=len)[min(len(runs), len(args.first)) :]
            parser.error(
                f"--first has {len(args.first)} run(s), --{role} {len(runs)}: runs are paired "
                f"by position; {', '.join(map(str, unpaired))} unpaired"
            )
    set_threads(args.threads)
    metric, pairs = args.metric, []
    for n, folders in enumerate(zip(*roles.values(), strict=True), 1):
        pairs.append(load_pair(dict(zip(roles, folders, strict=True)), metric))
        print(f"pair {n}/{len(args.first)}: loaded", flush=True)
    one = pairs[0]
    valid = {w: figures(one, blended(one, w), "valid", metric)["all"] for w in args.weights}
    best = max(args.weights, key=lambda w: valid[w])
    print(f"validation {metric} of the blend, pair 1 ({args.first[0].name}):")
    for w, value in valid.items():
        print(f"  w {w}: {value:.4f}" + ("  <- chosen" if w == best else ""))
    print(f"chosen weight {best} (validation {metric} {valid[best]:.4f})")
    test = [
        {"blend": figures(pair, blended(pair, best), "test", metric)}
        | {role: figures(pair, pair[role], "test", metric) for role in roles}
        for pair in pairs
    ]
    columns = [(kind, group) for kind in ("blend", *roles) for group in GROUPS]
    print(f"\ntest {metric}, blend w {best}\n| pair | ", end="")
    print(" | ".join(f"{k} {g}" if g != "all" else k for k, g in columns) + " |")
    print("| --- " * (len(columns) + 1) + "|")
    for folder, row in zip(args.first, test, strict=True):
        cells = ["-" if row[k][g] is None else f"{row[k][g]:.4f}" for k, g in columns]
        print(f"| {folder.name} | " + " | ".join(cells) + " |")
    spread = [mean_std([row[k][g] for row in test]) for k, g in columns]
    print("| mean ± std | " + " | ".join(spread) + " |")
    for other, group in ((other, g) for other in ("baseline", "first") for g in GROUPS):
        ours, theirs = ([row.get(kind, {}).get(group) for row in test] for kind in ("blend", other))
        if None not in ours + theirs and statistics.mean(theirs):
            paired = ", ".join(f"{a - b:+.4f}" for a, b in zip(ours, theirs, strict=True))
            gain = 100 * (statistics.mean(ours) / statistics.mean(theirs) - 1)
            print(f"blend − {other}, {group}: {paired}; {gain:+.1f} % of the means")
    if args.out:
        record = {
            "metric": str(metric),
            "valid": {str(w): v for w, v in valid.items()},
            "weight": best,
        }
        record |= {"runs": {role: list(map(str, runs)) for role, runs in roles.items()}}
        text = json.dumps(record | {"test": test}, indent=1)
        write_atomic(args.out, lambda tmp: tmp.write_text(text), replace=False)


if __name__ == "__main__":
    run_script(main)
