"""Evaluation speed: a whole evaluation (valid and test; all, warm and cold users) on
ml1m-action-comedy, per model.

    OMP_NUM_THREADS=1 .venv/bin/python bench/evaluate.py --store local:stores/ml1m

The models are freshly initialised (an evaluation costs the same whatever the weights).
``--store`` with text embeddings (``kgrec embed``) gives the cross-domain model its text
inputs; ``--data`` reads the RecBole folder directly. An evaluation runs the model's
full-graph forward pass once and ranks users in batches of ``--user-batch``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from kgrec.commands.options import refuse_below_one
from kgrec.errors import run_script
from kgrec.evaluate import PHASES, evaluate
from kgrec.experiment import TRAIN_DEFAULTS, build_run, load_experiment
from kgrec.models.registry import MODELS as REGISTERED
from kgrec.threads import set_threads

MODELS = ("lightgcn-merged", "cross-domain")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    default_data = Path(os.environ.get("KGREC_DATA", "../shared/datasets")) / "ml-1m"
    source.add_argument("--data", type=Path, default=default_data, help="ml-1m RecBole folder")
    source.add_argument("--store", help="a store holding ml-1m (with text embeddings)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--user-batch", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: kgrec's choice)")
    args = parser.parse_args()
    refuse_below_one(parser, args, "repeat", "user_batch")  # before ml-1m is read
    names = args.models.split(",")
    unknown = [name for name in names if name not in REGISTERED]
    if unknown:  # before, after ml-1m was read, as "field '--model'"
        parser.error(
            f"--models: unknown model {unknown[0]!r} (a comma-separated list of: "
            f"{', '.join(REGISTERED)})"
        )
    print(f"threads                 {set_threads(args.threads)}")

    clock = time.perf_counter()
    experiment = load_experiment(
        data=None if args.store else args.data,
        store=args.store,
        protocol="ml1m-action-comedy",
        split_dir=None,
        seed=0,
        text_property=TRAIN_DEFAULTS["text_property"] if args.store else None,
    )
    print(f"load + export + split   {time.perf_counter() - clock:.1f} s")
    for name in names:
        model, graph, _ = build_run(experiment, {"model": name})
        times = []
        for _ in range(args.repeat):
            clock = time.perf_counter()
            evaluate(model, graph, experiment.split, PHASES, batch_size=args.user_batch)
            times.append(time.perf_counter() - clock)
        print(
            f"{name:16s} valid + test evaluation: best {min(times):.2f} s of {args.repeat} "
            f"({', '.join(f'{t:.2f}' for t in times)})"
        )
    print(f"load average            {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    run_script(main)
