"""Training speed: LightGCN seconds per epoch on ml1m-action-comedy (target-only and merged).

    nice -n 10 .venv/bin/python bench/train.py [--data $KGREC_DATA/ml-1m] [--epochs 3]
        [--device cuda]

An epoch is one pass of BPR over the training pairs (negative sampling, full-graph propagation
per batch of 2048, 64 dimensions, 2 layers) plus the validation ranking that early stopping
needs; the validation ranking alone is timed too, and a whole evaluation (valid and test, all,
warm and cold users: one forward pass of the model). Wall and CPU time are printed: on a shared
machine the wall time is inflated by other processes.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from kgrec.commands.options import refuse_below_one
from kgrec.device import resolve_device
from kgrec.errors import run_script
from kgrec.evaluate import PHASES, evaluate
from kgrec.experiment import build_run, environment, load_experiment
from kgrec.threads import set_threads
from kgrec.train import fit, on_device

MODELS = ("lightgcn", "lightgcn-merged")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("KGREC_DATA", "../shared/datasets")) / "ml-1m"
    parser.add_argument("--data", type=Path, default=default_data, help="ml-1m RecBole folder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: kgrec's choice, kgrec.threads)"
    )
    parser.add_argument("--device", default="auto", help="auto (the GPU if any), cpu or cuda")
    args = parser.parse_args()
    refuse_below_one(parser, args, "epochs", "dim", "layers", "batch_size")  # before ml-1m
    set_threads(args.threads)
    device = resolve_device(args.device)

    clock = time.perf_counter()
    experiment = load_experiment(
        data=args.data, store=None, protocol="ml1m-action-comedy", split_dir=None, seed=0
    )
    print(f"load + export + split   {time.perf_counter() - clock:.1f} s")
    print(f"threads                 {torch.get_num_threads()}")
    print(f"device                  {environment(device)['device_name']}")
    for name in MODELS:
        settings = {"model": name, "seed": 0, "dim": args.dim, "layers": args.layers}
        model, graph, pairs = build_run(experiment, settings)
        model, graph = model.to(device), on_device(graph, device)
        clock, cpu = time.perf_counter(), time.process_time()
        fit(
            model,
            graph,
            experiment.split,
            pairs,
            epochs=args.epochs,
            batch_size=args.batch_size,
            patience=args.epochs,
            progress=False,
        )
        wall, cpu = time.perf_counter() - clock, time.process_time() - cpu
        clock = time.perf_counter()
        evaluate(model, graph, experiment.split, "valid")
        ranking = time.perf_counter() - clock
        clock = time.perf_counter()
        evaluate(model, graph, experiment.split, PHASES)
        both = time.perf_counter() - clock
        print(
            f"{name:16s} {pairs.size(1):8d} training pairs, {graph.edge_index.size(1):8d} edges: "
            f"{wall / args.epochs:.2f} s/epoch wall, {cpu / args.epochs:.2f} s/epoch CPU "
            f"(validation ranking {ranking:.2f} s; valid + test evaluation {both:.2f} s)"
        )
    print(f"load average            {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    run_script(main)
