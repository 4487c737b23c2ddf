"""Fold-in quality: users added after training against the same users trained in.

    OMP_NUM_THREADS=1 .venv/bin/python bench/foldin.py --data $KGREC_DATA/ml-100k [--seed 0]
    OMP_NUM_THREADS=1 .venv/bin/python bench/foldin.py --protocol ml1m-action-comedy \
        --model lightgcn-merged --data $KGREC_DATA/ml-1m --lr 0.004 --batch-size 8192

On the ml100k-kg protocol, a seeded share of users (``--share``, 10 %) become newcomers; on
ml1m-action-comedy, the split's cold-start users (valid and test), users new to the comedies
with their action ratings (or, with ``--domain-rule``/``--target-domain``, new to the target
domain of another pair). Model A trains on the whole split; model B on the split without
the newcomers' training interactions (of every domain: they are unknown to it), for as many
epochs as A took to its best (BPR, ``--lr``, ``--batch-size``). Each newcomer is then folded
into B from their training interactions (kgrec.foldin: ``mean`` and ``solve``, each
positive's negatives from its own domain's items) and ranked; their NDCG@20 on their test
items is compared with A's, which trained them in. On ml1m-action-comedy a row gives the
solve with every negative from the comedies ranked, kgrec's fold-in before session 38.
Validation figures choose the method; the test figures are reported. Prints a table and
writes ``--out`` (JSON) if given.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from kgrec.commands.options import refuse_below_a_file, refuse_below_one
from kgrec.data.export import INTERACTS, REV_INTERACTS
from kgrec.data.split import Split
from kgrec.errors import run_script
from kgrec.evaluate import evaluate_embeddings
from kgrec.experiment import Experiment, build_run, load_experiment
from kgrec.files import write_atomic
from kgrec.foldin import METHODS, fold_in_users
from kgrec.models.registry import MODELS
from kgrec.ranking import embeddings
from kgrec.threads import set_threads
from kgrec.train import MAX_LR, fit

# the protocols it measures, and the dataset each reads from $KGREC_DATA
PROTOCOLS = {"ml100k-kg": "ml-100k", "ml1m-action-comedy": "ml-1m"}
# the fold-in before session 38: every negative from the target items ranked
TARGET_NEGATIVES = "solve_target_negatives"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=PROTOCOLS, default="ml100k-kg")
    parser.add_argument(
        "--data", type=Path, help="the protocol's RecBole folder (default: $KGREC_DATA's)"
    )
    parser.add_argument(
        "--domain-rule",
        help="ml1m-action-comedy: another pair of domains, as `kgrec train --domain-rule`",
    )
    parser.add_argument(
        "--target-domain", help="ml1m-action-comedy: the domain ranked (default: the protocol's)"
    )
    parser.add_argument("--model", choices=MODELS, default="lightgcn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--share", type=float, help="ml100k-kg: the newcomers' share of users (default 0.1)"
    )
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument(
        "--patience", type=int, default=20, help="LightGCN plateaus around epoch 20 on ml-100k"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: kgrec's choice)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    refuse_below_one(parser, args, "epochs", "patience", "batch_size")  # before the data
    if not 0 < args.lr <= MAX_LR:  # as kgrec train refuses it (NaN too)
        parser.error(f"--lr must be positive, at most {MAX_LR:.4g}; got {args.lr}")
    if args.share is not None and args.protocol != "ml100k-kg":  # before, ignored silently
        parser.error(
            f"--share applies to --protocol ml100k-kg; {args.protocol}'s newcomers are its "
            "split's cold-start users"
        )
    if args.share is None:
        args.share = 0.1
    if not 0 < args.share < 1:
        parser.error(f"--share is the newcomers' share of users, in (0, 1); got {args.share}")
    if not MODELS[args.model].learns:
        trained = ", ".join(name for name, spec in MODELS.items() if spec.learns)
        parser.error(
            f"--model {args.model} learns no embeddings by training, and the users folded in "
            f"are compared with users trained in (models that train: {trained})"
        )
    if args.out is not None and (args.out.exists() or args.out.is_symlink()):
        parser.error(f"{args.out} exists; the figures are never written over a file")
    refuse_below_a_file(parser, "--out", args.out)  # not a traceback once the figures are made
    if args.protocol == "ml100k-kg" and (args.domain_rule or args.target_domain):
        parser.error("--domain-rule and --target-domain apply to --protocol ml1m-action-comedy")
    set_threads(args.threads)

    if not MODELS[args.model].all_domains and args.protocol != "ml100k-kg":
        parser.error(
            f"--protocol {args.protocol}'s newcomers are new to the target domain: give a model "
            f"of every domain (--model lightgcn-merged), not {args.model}"
        )
    data = (
        args.data
        or Path(os.environ.get("KGREC_DATA", "../shared/datasets")) / (PROTOCOLS[args.protocol])
    )
    experiment = load_experiment(
        data=data,
        store=None,
        protocol=args.protocol,
        split_dir=None,
        seed=args.seed,
        domain_rule=args.domain_rule,
        target_domain=args.target_domain,
    )
    split = experiment.split
    new = torch.zeros(len(experiment.maps.users), dtype=torch.bool)
    if args.protocol == "ml100k-kg":
        users = split.train[0].unique()
        count = round(args.share * len(users))
        if not 0 < count < len(users):
            parser.error(
                f"--share {args.share} of {len(users)} users makes {count} newcomers: give a "
                "share that makes at least one and leaves at least one user trained"
            )
        generator = torch.Generator().manual_seed(args.seed)
        newcomers = users[torch.randperm(len(users), generator=generator)[:count]]
    else:  # the cold-start users: no target training interaction, held-out ones
        held = torch.cat([split.valid[0], split.test[0]]).unique()
        newcomers = held[split.cold_users(len(new))[held]]
        users = split.training_interactions(experiment.data, all_domains=True)[0].unique()
    new[newcomers] = True

    def without_newcomers(pairs: torch.Tensor) -> torch.Tensor:
        return pairs[:, ~new[pairs[0]]]

    split_b = Split(
        split.target_domain,
        without_newcomers(split.train),
        without_newcomers(split.valid),
        without_newcomers(split.test),
    )
    data_b = experiment.data.clone()  # nor their interactions of the other domains
    data_b[INTERACTS].edge_index = without_newcomers(data_b[INTERACTS].edge_index)
    data_b[REV_INTERACTS].edge_index = data_b[INTERACTS].edge_index.flip(0)
    settings = {"model": args.model, "seed": args.seed}
    trained = {}
    epochs, patience = args.epochs, args.patience
    for name, part, graph_data in (("A", split, experiment.data), ("B", split_b, data_b)):
        model, graph, pairs = build_run(Experiment(graph_data, experiment.maps, part), settings)
        clock = time.perf_counter()
        result = fit(
            model,
            graph,
            part,
            pairs,
            epochs=epochs,
            lr=args.lr,
            batch_size=args.batch_size,
            patience=patience,
            seed=args.seed,
            label=f"model {name}",  # before, nothing until the model had trained (minutes)
        )
        # B trains as long as A did (to A's best epoch): an early stop of B on a plateau must
        # not stand in for the fold-in's quality
        epochs = patience = result.best_epoch
        print(
            f"model {name}: {pairs.size(1)} training pairs, best epoch {result.best_epoch}, "
            f"{time.perf_counter() - clock:.0f} s"
        )
        trained[name] = embeddings(model, graph)

    # newcomers only, their training interactions known (masked) as for everyone
    scored = Split(
        split.target_domain,
        split.train,
        split.valid[:, new[split.valid[0]]],
        split.test[:, new[split.test[0]]],
    )
    item_domain = experiment.data["item"].domain
    candidates = torch.nonzero(item_domain == split.target_domain).flatten()
    figures = {
        "newcomers": len(newcomers),
        "seed": args.seed,
        "model": args.model,
        "protocol": args.protocol,
        "domain_rule": args.domain_rule,
        "target_domain": args.target_domain,
    }

    def ndcg(user_emb, item_emb, phase):
        return evaluate_embeddings(user_emb, item_emb, item_domain, scored, phase)["all"]["ndcg@20"]

    for phase in ("valid", "test"):
        figures[f"trained_in_{phase}"] = ndcg(*trained["A"], phase)
    # their training interactions (of every domain, for a model of every domain)
    known = split.training_interactions(experiment.data, all_domains=MODELS[args.model].all_domains)
    histories = [known[1, known[0] == u] for u in newcomers.tolist()]
    user_b, item_b = trained["B"]
    domains = split.negative_domains(item_domain)  # each positive's negatives from its domain
    ways = {method: {"method": method, "domains": domains} for method in METHODS}
    if args.protocol != "ml100k-kg":
        ways[TARGET_NEGATIVES] = {"candidates": candidates}
    for method, options in ways.items():
        clock = time.perf_counter()
        folded = fold_in_users(item_b, histories, **options)
        seconds = time.perf_counter() - clock
        user_emb = user_b.clone()
        user_emb[newcomers] = folded
        for phase in ("valid", "test"):
            figures[f"{method}_{phase}"] = ndcg(user_emb, item_b, phase)
        figures[f"{method}_ms_per_user"] = 1000 * seconds / len(newcomers)
    best = max(METHODS, key=lambda m: figures[f"{m}_valid"])
    figures["chosen_on_valid"] = best
    print(f"{len(newcomers)} newcomers of {len(users)} users (seed {args.seed})")
    labels = {TARGET_NEGATIVES: "solve, target negatives"}
    print(f"{'':34s}{'valid NDCG@20':>15s}{'test NDCG@20':>14s}{'ms/user':>9s}")
    print(
        f"{'trained in (A)':34s}{figures['trained_in_valid']:15.4f}"
        f"{figures['trained_in_test']:14.4f}"
    )
    for method in ways:
        ratio = figures[f"{method}_test"] / figures["trained_in_test"]
        print(
            f"{'folded in, ' + labels.get(method, method):34s}{figures[f'{method}_valid']:15.4f}"
            f"{figures[f'{method}_test']:14.4f}{figures[f'{method}_ms_per_user']:9.2f}"
            f"   {ratio:.1%} of trained-in{' (chosen on valid)' if method == best else ''}"
        )
    if args.out:
        write_atomic(
            args.out,
            lambda tmp: tmp.write_text(json.dumps(figures, indent=2) + "\n"),
            replace=False,
        )


if __name__ == "__main__":
    run_script(main)
