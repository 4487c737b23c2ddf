"""`kgrec train` and `kgrec evaluate`: the CLI edge where model names become classes.

A run folder (``--out``) holds ``run.json`` (everything needed to rebuild the run), ``split/``
(the split files it used), ``checkpoint.pt`` (training state, for ``--resume``), ``model.pt``
(the best model's state) and ``metrics.json`` (valid and test; all, warm and cold users).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch_geometric.data import Data

from kgrec.commands.split import (
    Experiment,
    add_data_options,
    add_split_options,
    describe,
    effective_rule,
    load_experiment,
)
from kgrec.data.export import message_graph
from kgrec.data.split import write_split
from kgrec.errors import InputError
from kgrec.evaluate import PHASES, evaluate, format_table
from kgrec.models.base import GraphRecommender
from kgrec.train import BATCHING, fit

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "checkpoint.pt"
SPLIT_DIR = "split"


@dataclass(frozen=True)
class ModelSpec:
    """How a model named on the command line is built and which graph it sees."""

    build: Callable[[Data, dict], GraphRecommender]
    all_domains: bool  # train on (and propagate over) every domain's interactions
    knowledge: bool  # knowledge-graph edges in the message graph
    text: bool = False  # node text embeddings as inputs
    sampled: bool = False  # can train on sampled subgraphs (--batching neighbor)


def _popularity(graph: Data, hp: dict) -> GraphRecommender:
    from kgrec.models import Popularity

    return Popularity(graph.num_users, graph.num_items)


def _lightgcn(graph: Data, hp: dict) -> GraphRecommender:
    from kgrec.models import LightGCNRecommender

    return LightGCNRecommender(
        graph.num_users, graph.num_items, embedding_dim=hp["dim"], num_layers=hp["layers"]
    )


def _rgcn(graph: Data, hp: dict) -> GraphRecommender:
    from kgrec.models import RGCNRecommender

    return RGCNRecommender(
        graph.num_users,
        graph.num_items,
        graph.num_entities,
        graph.num_relations,
        embedding_dim=hp["dim"],
        num_layers=hp["layers"],
        entity_embeddings=hp.get("entity_embeddings", True),
    )


def _cross_domain(graph: Data, hp: dict) -> GraphRecommender:
    from kgrec.models import CrossDomainRecommender

    return CrossDomainRecommender(
        graph.num_users,
        graph.num_items,
        graph.num_entities,
        graph.num_relations,
        graph.num_domains,
        item_domain=graph.item_domain,
        text_features=graph.x if "x" in graph else None,
        embedding_dim=hp["dim"],
        num_layers=hp["layers"],
        adversarial_weight=hp.get("adversarial_weight", 0.0),
        entity_embeddings=hp.get("entity_embeddings", True),
    )


MODELS = {
    "popularity": ModelSpec(_popularity, all_domains=False, knowledge=False),
    "lightgcn": ModelSpec(_lightgcn, all_domains=False, knowledge=False),
    "lightgcn-merged": ModelSpec(_lightgcn, all_domains=True, knowledge=False),
    "rgcn": ModelSpec(_rgcn, all_domains=False, knowledge=True, sampled=True),
    "cross-domain": ModelSpec(
        _cross_domain, all_domains=True, knowledge=True, text=True, sampled=True
    ),
}


def build_run(
    experiment: Experiment, model_name: str, hp: dict, seed: int
) -> tuple[GraphRecommender, Data, torch.Tensor]:
    """(model, message graph, training pairs) of ``model_name`` on ``experiment``."""
    spec = MODELS[model_name]
    pairs = experiment.split.training_interactions(experiment.data, all_domains=spec.all_domains)
    graph = message_graph(experiment.data, interactions=pairs, knowledge=spec.knowledge)
    torch.manual_seed(seed)
    return spec.build(graph, hp), graph, pairs


def score(model: GraphRecommender, graph: Data, experiment: Experiment) -> dict:
    return {phase: evaluate(model, graph, experiment.split, phase) for phase in PHASES}


def run_train(args: argparse.Namespace) -> int:
    spec = MODELS[args.model]
    if args.batching == "neighbor" and not spec.sampled:
        sampled = ", ".join(name for name, s in MODELS.items() if s.sampled)
        raise InputError(
            f"--batching neighbor trains on sampled subgraphs, which {args.model} does not "
            f"support (models that do: {sampled})",
            field="--batching",
        )
    out: Path = args.out
    hp = {
        "dim": args.dim,
        "layers": args.layers,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "patience": args.patience,
        "reg_weight": args.reg_weight,
        "target_weight": args.target_weight,
        "adversarial_weight": args.adversarial_weight,
        "entity_embeddings": args.entity_embeddings,
        "batching": args.batching,
    }
    experiment = load_experiment(
        data=args.data,
        store=args.store,
        protocol=args.protocol,
        split_dir=args.split,
        seed=args.seed,
        domain=args.domain,
        domain_rule=args.domain_rule,
        target_domain=args.target_domain,
        text_property=args.text_property if spec.text and args.store else None,
    )
    print(describe(experiment))
    model, graph, pairs = build_run(experiment, args.model, hp, args.seed)
    print(model)
    write_split(experiment.split, experiment.maps, out / SPLIT_DIR)
    run = {
        "model": args.model,
        "seed": args.seed,
        "protocol": args.protocol,
        "split": str(args.split.resolve()) if args.split else None,
        "data": str(args.data.resolve()) if args.data else None,
        "store": args.store,
        "domain": args.domain,
        "domain_rule": effective_rule(args.protocol, args.data, args.domain, args.domain_rule),
        "target_domain": experiment.maps.domains[experiment.split.target_domain],
        "text_property": args.text_property if spec.text and args.store else None,
        "hyperparameters": hp,
    }
    _write_json(out / RUN_FILE, run)
    started = time.perf_counter()
    result = fit(
        model,
        graph,
        experiment.split,
        pairs,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        patience=args.patience,
        reg_weight=args.reg_weight,
        target_weight=args.target_weight,
        seed=args.seed,
        batching=args.batching,
        checkpoint=out / CHECKPOINT_FILE,
        resume=args.resume,
    )
    seconds = time.perf_counter() - started
    torch.save(model.state_dict(), out / MODEL_FILE)
    metrics = score(model, graph, experiment)
    run["training"] = {
        "best_epoch": result.best_epoch,
        "best_valid_ndcg@20": result.best_metric,
        "epochs_run": result.epochs_run,
        "seconds": round(seconds, 2),
        "seconds_per_epoch": round(seconds / result.epochs_run, 3) if result.epochs_run else 0,
        "history": result.history,
    }
    _write_json(out / RUN_FILE, run)
    _write_json(out / METRICS_FILE, metrics)
    print(format_table(metrics))
    print(
        f"best epoch {result.best_epoch} of {result.epochs_run} ({seconds:.1f} s); "
        f"wrote {out / METRICS_FILE}"
    )
    return 0


@dataclass
class LoadedRun:
    """A trained run rebuilt from its folder."""

    name: str
    run: dict
    experiment: Experiment
    model: GraphRecommender
    graph: Data


def load_run(folder: Path) -> LoadedRun:
    """Rebuild the run in ``folder`` (run.json, split files, model.pt) with its best model."""
    run_path = folder / RUN_FILE
    try:
        run = json.loads(run_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no run here (run.json not found)", file=str(run_path)) from None
    if not (folder / MODEL_FILE).exists():
        raise InputError("the run has no trained model yet", file=str(folder / MODEL_FILE))
    experiment = load_experiment(
        data=Path(run["data"]) if run["data"] else None,
        store=run["store"],
        protocol=None,
        split_dir=folder / SPLIT_DIR,
        seed=run["seed"],
        domain=run["domain"],
        domain_rule=run["domain_rule"],
        target_domain=run["target_domain"],
        text_property=run["text_property"],
    )
    model, graph, _ = build_run(experiment, run["model"], run["hyperparameters"], run["seed"])
    model.load_state_dict(torch.load(folder / MODEL_FILE, weights_only=True))
    return LoadedRun(folder.resolve().name, run, experiment, model, graph)


def run_evaluate(args: argparse.Namespace) -> int:
    loaded = load_run(args.run)
    print(format_table(score(loaded.model, loaded.graph, loaded.experiment)))
    return 0


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on a split, write metrics and a checkpoint",
        description="Train a recommender with BPR and early stopping on validation NDCG@20, "
        "score the test split once with the best model, write RUN/metrics.json and print a "
        "table (valid and test; all, warm and cold-start users).",
    )
    parser.add_argument("--model", required=True, choices=list(MODELS))
    add_split_options(parser)
    add_data_options(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder")
    parser.add_argument("--epochs", type=int, default=300, help="at most this many (300)")
    parser.add_argument("--dim", type=int, default=64, help="embedding size (64)")
    parser.add_argument("--layers", type=int, default=2, help="propagation layers (2)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--batch-size", type=int, default=2048, help="BPR triples (2048)")
    parser.add_argument(
        "--patience", type=int, default=10, help="epochs without a better valid NDCG@20 (10)"
    )
    parser.add_argument(
        "--reg-weight", type=float, default=0.0, help="L2 weight on batch embeddings (0)"
    )
    parser.add_argument(
        "--target-weight",
        type=float,
        default=1.0,
        help="BPR weight of target-domain pairs relative to other domains' (1)",
    )
    parser.add_argument(
        "--adversarial-weight",
        type=float,
        default=0.0,
        help="cross-domain: weight of the domain discriminator's loss behind gradient reversal "
        "(0, the default: none; 0.1 was no better on ml1m-action-comedy validation)",
    )
    parser.add_argument(
        "--entity-embeddings",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rgcn, cross-domain: an ID embedding per knowledge-graph entity (default), or "
        "none (entities start at zero, or at their text with cross-domain)",
    )
    parser.add_argument("--batching", choices=BATCHING, default="full")
    parser.add_argument(
        "--text-property",
        default="embedding",
        metavar="NAME",
        help="with --store: node property holding text embeddings (models that use text)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    parser.set_defaults(func=run_train)

    evaluate_parser = subparsers.add_parser(
        "evaluate",
        help="re-score a trained run and print its table",
        description="Rebuild a run from RUN/run.json and its split files, load the best model "
        "and print valid and test metrics (all, warm and cold-start users).",
    )
    evaluate_parser.add_argument("--run", type=Path, required=True, metavar="RUN")
    evaluate_parser.set_defaults(func=run_evaluate)
