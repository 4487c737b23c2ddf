"""Time to quality against RecBole 1.2.1's LightGCN on the same split files (issue 14, point 5).

    make setup-recbole     # once: RecBole in $KGREC_CACHE/recbole-venv
    .venv/bin/python bench/time_to_quality.py --data $KGREC_DATA/ml-100k --out results/ttq \\
        [--protocol ml100k-kg] [--seed 0] [--label softmax --set objective=softmax ...]
    .venv/bin/python bench/time_to_quality.py --data $KGREC_DATA/ml-1m --out results/ttq1m \\
        --protocol ml1m-action-comedy --model lightgcn-merged --epochs 3

Quality: RecBole's LightGCN (:mod:`peers`, its defaults, early stopping on valid NDCG@20) sets
the target, its test NDCG@20. Its time to reach it is the time from the start of its training
to the end of its best epoch's validation: that epoch's model is the one tested. kgrec's model
then trains as ``kgrec train`` does (same split files, early stopping on valid NDCG@20, the
settings given by ``--set``), and after every epoch, with the clock stopped, its test NDCG@20 is
read: its time to quality is the training and validation time until the first epoch at or
above the target. The test split chooses nothing here (the run stops on validation as always);
it only says when the target was reached. The early-stopped run's own test figure is printed
too. Both sides run with ``--threads`` torch threads; run them on a quiet machine. CPU times
are printed beside wall times: on a shared machine, with one thread each, they are what the
wall times would be on a quiet one.

``--set KEY=VALUE`` gives a ``kgrec train`` setting (:func:`kgrec.experiment.train`'s argument
names), applied as ``kgrec train`` applies it: the split's (``train_fraction``, ``few_shot``,
``cold_valid_share``, ``cold_test_share``, ``new_item_share``, ``domain``, ``domain_rule``,
``target_domain``) change the split files RecBole trains on too, so they need an ``--out`` of
their own; ``init_from`` starts kgrec's model from a run's. A key this script does not apply is
refused, not recorded: ``data``, ``protocol``, ``seed`` and ``model`` (give the flags),
``split``, ``store``, ``text_property``, ``device``, ``resume``, ``progress``, what reads node
text (the graph is read from ``--data`` files), what the model does not read (as ``kgrec
train`` refuses it) and, with ``--epochs``, ``epochs`` and ``patience``.

With ``--epochs N`` the script measures speed instead: both train ``N`` epochs (no early
stopping) of LightGCN on the training pairs kgrec trains on (``--model lightgcn-merged``: the
target split's training pairs and every interaction of the other domains), and seconds per
epoch are compared: RecBole's without validation, kgrec's with its validation ranking (which
early stopping needs), so the ratio is kgrec's worst case.

Results go to ``OUT/time_to_quality.json`` (RecBole's run is kept in ``OUT/peers.json`` and not
repeated, or refused where it ran with another ``--threads``; ``--label`` names a kgrec
configuration, each kept: a label already there is refused, before anything trains).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import peers

from kgrec.data.split import write_split
from kgrec.errors import InputError
from kgrec.evaluate import evaluate
from kgrec.experiment import (
    TRAIN_DEFAULTS,
    build_run,
    check_settings,
    effective_rule,
    fit_arguments,
    prepare_experiment,
    reads_text,
    unread_options,
    warm_start,
)
from kgrec.threads import set_threads
from kgrec.train import fit

METRIC = "ndcg@20"
RESULTS_FILE = "time_to_quality.json"


def recbole_key(args: argparse.Namespace) -> str:
    """The name of RecBole's LightGCN run in ``OUT/peers.json``."""
    return "LightGCN" if args.epochs is None else f"LightGCN-{args.epochs}-epochs"


def recbole_run_config(args: argparse.Namespace) -> dict:
    """The config of RecBole's LightGCN run (:func:`peers.recbole_config`)."""
    out, key = args.out.resolve(), recbole_key(args)
    # speed: no validation in RecBole's epochs (eval_step 0: a checkpoint each epoch
    # instead), and no masking check (its full-catalogue ranking is not kgrec's anyway)
    overrides = {} if args.epochs is None else {"eval_step": 0, "check_masking": False}
    return peers.recbole_config(
        out / "recbole", out / "runs" / key, "LightGCN", args.threads, args.epochs, overrides
    )


def recbole_lightgcn(args: argparse.Namespace, split_dir: Path) -> dict:
    """RecBole's LightGCN on ``split_dir`` (run once, then read from ``OUT/peers.json``)."""
    out = args.out.resolve()
    results_path = out / peers.RESULTS_FILE
    results = peers.load_results(results_path)
    checksum = peers.split_checksum(split_dir)
    peers.check_same_split(results, checksum, results_path)
    results["split_sha256"] = checksum
    key = recbole_key(args)
    if key not in results["models"] or "error" in results["models"][key]:
        python = peers.recbole_python(args.venv or peers.default_venv())
        peers.write_benchmark(split_dir, out / "recbole" / peers.DATASET)
        config = recbole_run_config(args)
        print(f"RecBole LightGCN: training ({config.get('epochs', 300)} epochs at most) ...")
        results["models"][key] = peers.run_peer(python, config, out / "runs" / key, None)
        peers.save_results(results_path, results)
    record = results["models"][key]
    if "error" in record:
        raise peers.PeersError(f"RecBole LightGCN failed: {record['error']}")
    return record


def read_labels(path: Path) -> dict:
    """``OUT/time_to_quality.json``'s kgrec configurations by ``--label`` (none where there is
    no file), or an InputError naming the file where it is no results file of this script."""
    if not path.is_file():
        return {}
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise InputError(f"not JSON ({error}): repair it or move it away", file=str(path)) from None
    if not isinstance(results, dict):
        raise InputError("not an object of configurations: repair or move it", file=str(path))
    return results


def kgrec_lightgcn(experiment, settings: dict, epochs: int, target: float | None) -> dict:
    """Train as ``kgrec train`` does, reading test NDCG@20 after every epoch, clock stopped
    (``epochs`` and, in speed mode, no early stopping replace the settings')."""
    model, graph, pairs = build_run(experiment, settings)
    start = None
    if settings.get("init_from") is not None:
        start = warm_start(model, experiment, Path(settings["init_from"]))
    elapsed, cpu, test_curve, seconds, cpu_seconds = 0.0, 0.0, [], [], []
    last, last_cpu = time.perf_counter(), time.process_time()

    def on_epoch(epoch: int, valid: float) -> None:
        nonlocal elapsed, cpu, last, last_cpu
        elapsed += time.perf_counter() - last
        cpu += time.process_time() - last_cpu
        seconds.append(round(elapsed, 2))
        cpu_seconds.append(round(cpu, 2))
        if target is not None:
            test_curve.append(evaluate(model, graph, experiment.split, "test")["all"][METRIC])
        last, last_cpu = time.perf_counter(), time.process_time()

    options = fit_arguments({**TRAIN_DEFAULTS, **settings}, graph, experiment.split)
    options.update(epochs=epochs, patience=options["patience"] if target is not None else epochs)
    result = fit(
        model,
        graph,
        experiment.split,
        pairs,
        **options,
        progress=False,
        on_epoch=on_epoch,
    )
    record = {
        "settings": {k: v for k, v in settings.items() if v != TRAIN_DEFAULTS.get(k)},
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "seconds": seconds[-1],
        "seconds_per_epoch": round(seconds[-1] / result.epochs_run, 3),
        "valid_curve": [round(row[METRIC], 6) for row in result.history],
        "seconds_curve": seconds,
        "cpu_seconds_curve": cpu_seconds,
    }
    if start is not None:
        record["init_from"] = start
    if target is not None:
        record["test_curve"] = [round(value, 6) for value in test_curve]
        record["test"] = evaluate(model, graph, experiment.split, "test")["all"][METRIC]
        record["seconds_to_best"] = seconds[result.best_epoch - 1]
        reached = [i for i, value in enumerate(test_curve) if value >= target]
        if reached:
            record["epoch_reached"] = reached[0] + 1
            record["seconds_to_target"] = seconds[reached[0]]
            record["cpu_seconds_to_target"] = cpu_seconds[reached[0]]
    return record


# train()'s arguments that are flags of this script: --set would be overwritten by them
FLAG_SETTINGS = ("data", "protocol", "seed", "model")
# train()'s arguments this script does not apply: --set refuses them (the value says why)
NOT_APPLIED = {
    "split": "the split is made from --data with --protocol and --seed",
    "store": "the graph is read from --data",
    "text_property": "node text is read from a store, and the graph is read from --data",
    "device": "kgrec trains on the CPU, as RecBole does here",
    "resume": "every run trains from its start",
    "progress": "no progress is shown",
}
# train()'s arguments that name a file, a domain or a rule: strings
NAME_SETTINGS = ("domain", "domain_rule", "target_domain", "source_domain", "init_from")
# train()'s arguments that make a run read node text from a store (with their "off" value)
TEXT_READING = (
    ("text_input", "none"),
    ("cold_items", "none"),
    ("text_cl_weight", 0.0),
    ("ease_text_weight", 0.0),
)


def train_settings(args: argparse.Namespace) -> dict:
    """The settings kgrec trains with: train()'s defaults, ``--set`` and the flags, checked as
    ``kgrec train`` checks them. A ``--set`` key this script would not apply is refused (an
    InputError naming it): a flag's (``--seed``), one of :data:`NOT_APPLIED`, one that makes
    the run read node text (the graph is read from ``--data`` files, without text), one the
    model does not read (:func:`~kgrec.experiment.unread_options`), and with ``--epochs``
    (fixed epochs, no early stopping) ``epochs`` and ``patience``."""
    overrides = peers.parse_overrides(args.set)
    for key, value in overrides.items():
        if key not in TRAIN_DEFAULTS and key not in FLAG_SETTINGS:
            raise InputError(f"--set {key}: not a kgrec train setting", field="--set")
        default = TRAIN_DEFAULTS.get(key)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if isinstance(default, int | float) and not isinstance(default, bool) and not number:
            raise InputError(f"--set {key}={value!r}: a number is expected", field="--set")
        if key in NAME_SETTINGS and not isinstance(value, str):
            raise InputError(f"--set {key}={value!r}: a name is expected", field="--set")
    refused = [
        f"{key} (give --{key})" if key in FLAG_SETTINGS else f"{key} ({NOT_APPLIED[key]})"
        for key in overrides
        if key in FLAG_SETTINGS or key in NOT_APPLIED
    ]
    if args.epochs is not None:
        refused += [
            f"{key} (--epochs {args.epochs} trains that many epochs, without early stopping)"
            for key in ("epochs", "patience")
            if key in overrides
        ]
    text = [key for key, off in TEXT_READING if overrides.get(key, off) != off]
    refused += [
        f"{key} (it reads node text from a store; this benchmark reads --data)" for key in text
    ]
    if refused:
        raise InputError(f"this benchmark does not apply --set {'; '.join(refused)}", field="--set")
    settings = {**TRAIN_DEFAULTS, **overrides}
    settings.update(model=args.model, seed=args.seed, protocol=args.protocol)
    if reads_text(settings):
        raise InputError(
            f"{args.model} reads node text from a store; this benchmark reads --data files",
            field="--model",
        )
    check_settings({**settings, "data": args.data})
    unread = unread_options(settings)
    if unread:  # as kgrec train: it would be recorded and do nothing
        raise InputError(f"{args.model} does not read --set {', '.join(unread)}", field="--set")
    if settings["init_from"] is not None:
        settings["init_from"] = str(Path(settings["init_from"]).resolve())
    return settings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset folder")
    parser.add_argument("--protocol", default="ml100k-kg")
    parser.add_argument("--seed", type=int, default=0, help="split and training seed")
    parser.add_argument("--model", default="lightgcn", help="kgrec model (default lightgcn)")
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument("--label", default="default", help="name of this kgrec configuration")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a kgrec train setting (train()'s argument names), VALUE as JSON else a string",
    )
    parser.add_argument("--epochs", type=int, help="speed: N fixed epochs, no early stopping")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--venv", type=Path, default=None, help="RecBole environment")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _main(args)
    except (peers.PeersError, InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    if args.epochs is not None and args.epochs < 1:
        raise InputError(f"--epochs must be at least 1, got {args.epochs}", field="--epochs")
    set_threads(args.threads)
    settings = train_settings(args)
    out = args.out.resolve()
    peers.check_out(out)  # before the split is made, not a FileExistsError after it
    results_path = out / RESULTS_FILE
    results = read_labels(results_path)  # before training: never written over, never lost
    if args.label in results:
        raise InputError(
            f"{results_path} holds a configuration named {args.label!r} already: give "
            "another --label (each is kept)",
            field="--label",
        )
    done = peers.load_results(out / peers.RESULTS_FILE)["models"].get(recbole_key(args), {})
    if not done or "error" in done:  # RecBole will run: its environment, before OUT/split
        peers.recbole_python(args.venv or peers.default_venv())
    else:  # before, reused whatever --threads it ran with
        peers.check_same_settings(
            done,
            recbole_run_config(args),
            recbole_key(args),
            out / peers.RESULTS_FILE,
            "give another --out",
        )
    domain = settings["domain"]  # the protocol's rule unless a domain or a rule is given
    domain_rule = effective_rule(args.protocol, args.data, domain, settings["domain_rule"])
    # what kgrec train refuses before it writes a run, refused before the split is written
    experiment = prepare_experiment(
        {
            **settings,
            "data": str(args.data),
            "store": None,
            "split": None,
            "domain_rule": domain_rule,
        }
    )

    def write(made: Path) -> None:
        write_split(experiment.split, experiment.maps, made, domain_rule=domain_rule, domain=domain)
        if args.epochs is not None:  # RecBole trains on exactly the pairs kgrec trains on
            _, _, pairs = build_run(experiment, settings)
            with open(made / "train.tsv", "w") as handle:
                handle.write(peers.SPLIT_HEADER + "\n")
                for user, item in zip(*pairs.tolist(), strict=True):
                    handle.write(
                        f"{experiment.maps.users[user]}\t{experiment.maps.item_ids[item]}\n"
                    )

    split_dir = peers.place_split(
        out, write, "another --seed, --protocol, --epochs or --set of the split"
    )
    recbole = recbole_lightgcn(args, split_dir)
    target = None if args.epochs is not None else recbole["test"][METRIC]
    epochs = args.epochs if args.epochs is not None else settings["epochs"]
    mine = kgrec_lightgcn(experiment, settings, epochs, target)
    mine["load_average"] = round(os.getloadavg()[0], 1)

    results = read_labels(results_path)  # as it is now
    if args.label in results:
        raise InputError(
            f"{results_path} got a configuration named {args.label!r} while this one trained: "
            "not written over it",
            field="--label",
        )
    results[args.label] = mine
    peers.save_results(results_path, results)

    print(f"\n{args.protocol} seed {args.seed}, {args.threads} thread(s)")
    if args.epochs is not None:
        theirs = recbole["seconds_per_epoch"]
        print(f"RecBole LightGCN: {theirs:.2f} s/epoch ({recbole['epochs_run']} epochs)")
        print(f"kgrec {args.label}: {mine['seconds_per_epoch']:.2f} s/epoch ({args.epochs} epochs)")
        print(f"ratio kgrec/RecBole: {mine['seconds_per_epoch'] / theirs:.2f}")
        return 0
    best = recbole["best_epoch"]
    theirs = recbole.get("valid_seconds", [])
    their_time = theirs[best - 1] if len(theirs) >= best else recbole["fit_seconds"]
    print(
        f"RecBole LightGCN: test {METRIC} {target:.4f} at best epoch {best} of "
        f"{recbole['epochs_run']}: {their_time:.1f} s to it, {recbole['fit_seconds']:.1f} s in all"
    )
    print(
        f"kgrec {args.label}: early-stopped test {METRIC} {mine['test']:.4f} at best epoch "
        f"{mine['best_epoch']} of {mine['epochs_run']}: {mine['seconds_to_best']:.1f} s to it, "
        f"{mine['seconds']:.1f} s in all"
    )
    if "seconds_to_target" in mine:
        ratio = mine["seconds_to_target"] / their_time
        print(
            f"kgrec reached {target:.4f} at epoch {mine['epoch_reached']}, "
            f"{mine['seconds_to_target']:.1f} s: {ratio:.2f}x RecBole's time"
        )
        their_cpu = recbole.get("valid_cpu_seconds", [])
        if len(their_cpu) >= best:  # what a quiet machine's wall time would be, one thread each
            cpu_ratio = mine["cpu_seconds_to_target"] / their_cpu[best - 1]
            print(
                f"in CPU time: kgrec {mine['cpu_seconds_to_target']:.1f} s, RecBole "
                f"{their_cpu[best - 1]:.1f} s: {cpu_ratio:.2f}x"
            )
    else:
        print(f"kgrec never reached {target:.4f} in {mine['epochs_run']} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
