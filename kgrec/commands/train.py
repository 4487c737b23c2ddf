"""`kgrec train` and `kgrec evaluate`: argparse adapters over :mod:`kgrec.experiment`.

Every option of ``kgrec train`` is a keyword argument of :func:`kgrec.experiment.train`, with
its default and choices from :mod:`kgrec.settings`, which imports no torch (``--help`` reads it
in a moment); the run layer is imported as a command runs.
"""

from __future__ import annotations

import argparse

from kgrec.commands.options import (
    add_cold_share_options,
    add_data_options,
    add_device_option,
    add_few_shot_option,
    add_split_options,
    add_threads_option,
    add_train_fraction_option,
    path_option,
)
from kgrec.errors import InputError
from kgrec.models.registry import MODELS
from kgrec.settings import (
    BATCHING,
    COLD_ITEMS,
    OBJECTIVE_NAMES,
    RELATION_WEIGHTINGS,
    SCALES,
    SCORES,
    TEXT_INPUTS,
    TRAIN_DEFAULTS,
)

D = TRAIN_DEFAULTS


def _taking(option: str) -> list[str]:
    """The models that take ``option`` (a keyword of their build), for a help text."""
    return [name for name, spec in MODELS.items() if option in spec.options]


def mix_option(text: str) -> list[float]:
    """``--distill-mix 0.6,0.4``: comma-separated numbers (their count and signs are checked
    with the teachers, kgrec.teachers.check_mix)."""
    try:
        return [float(weight) for weight in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, one per --distill-from run: {text!r}"
        ) from None


def run_train(args: argparse.Namespace) -> int:
    # imported here, as the command runs: they import torch, which --help needs not
    from kgrec.experiment import check_not_out, check_settings, reads_text, train, unread_options

    options = {name: getattr(args, name) for name in D if hasattr(args, name)}
    settings = {"model": args.model, **options}
    check_not_out(options.get("distill_from"), args.out)
    # its messages are the more specific
    check_settings(settings, resume=bool(options.get("resume")))
    unread = unread_options(settings)
    if unread == ["text_property"] and options.get("store") is None and reads_text(settings):
        raise InputError(  # the model reads text, but files hold none: the store is missing
            f"--text-property names a property of a store's text vectors, and --data files "
            f"hold none: give --store (after `kgrec embed --store URI --property "
            f"{options['text_property']}`)",
            field="--text-property",
        )
    if unread:  # given on the command line, it would be recorded and do nothing
        flags = ", ".join("--" + name.replace("_", "-") for name in unread)
        raise InputError(
            f"{args.model} does not read {flags}", field="--" + unread[0].replace("_", "-")
        )
    train(args.model, out=args.out, **options)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from kgrec.evaluate import format_table
    from kgrec.experiment import RUN_FILE, load_run
    from kgrec.plots import check_plot_options, read_curve

    check_plot_options(args.plot, args.force)  # refused before the run is read
    loaded = load_run(args.run, device=args.device)
    if args.plot is not None:  # a run without a curve is refused before it is scored
        read_curve(loaded.info, name=loaded.name, source=str(loaded.folder / RUN_FILE))
    table = format_table(loaded.evaluate(), by_activity=args.by_activity)
    if args.plot is not None:  # drawn once scoring went through: a failure leaves no plot
        loaded.plot(args.plot, force=args.force)
    print(table)
    if args.plot is not None:
        print(f"training curve: {args.plot}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        description="Train a recommender with early stopping on validation NDCG@20, score the "
        "test split once with the best model, write RUN/metrics.json and print a table "
        "(valid and test; all, warm and cold-start users; metrics.json also by user activity).",
    )
    parser.add_argument("--model", required=True, choices=list(MODELS))
    add_split_options(parser)
    add_train_fraction_option(parser, default=D["train_fraction"])
    add_few_shot_option(parser, default=D["few_shot"])
    add_cold_share_options(parser)
    add_data_options(parser)
    parser.add_argument("--out", type=path_option, required=True, metavar="RUN", help="run folder")
    parser.add_argument(
        "--objective",
        choices=OBJECTIVE_NAMES,
        default=D["objective"],
        help=f"training loss (default {D['objective']})",
    )
    for name, kind, text in (
        ("epochs", int, "at most this many epochs"),
        ("dim", int, "embedding size"),
        (
            "layers",
            int,
            "propagation layers (0: none, the ID embeddings alone: matrix factorisation)",
        ),
        ("lr", float, "Adam learning rate"),
        ("batch_size", int, "training triples per batch"),
        ("patience", int, "epochs without a better valid NDCG@20 before stopping"),
        ("reg_weight", float, "L2 weight on the batch's representations"),
        ("temperature", float, "softmax: temperature of the scores"),
        (
            "num_negatives",
            int,
            "softmax: uniform items per batch added to the in-batch candidates (the batch's "
            "positives and sampled negatives), as many from each domain of the batch",
        ),
        (
            "cl_weight",
            float,
            "weight of the SimGCL/XSimGCL contrastive term, with any objective and a model "
            "that propagates (not mf) (0: off; papers: 0.1-0.2)",
        ),
        ("cl_noise", float, "contrastive term: size of the noise on every layer's output"),
        ("cl_temperature", float, "contrastive term: InfoNCE temperature"),
        (
            "cl_layer",
            int,
            "contrastive term: the layer whose output is contrasted with the final "
            "embedding (XSimGCL); 0: two perturbed passes (SimGCL)",
        ),
        (
            "text_cl_weight",
            float,
            "with --store and item text vectors: weight of a contrastive term pulling each "
            "batch item towards one of the items with the nearest texts (0: off)",
        ),
        ("text_cl_neighbours", int, "text term: nearest items by text cosine, per item"),
        ("text_cl_temperature", float, "text term: InfoNCE temperature"),
        (
            "distill_weight",
            float,
            "with --distill-from: weight of the distillation term, the mean over the batch's "
            "users of KL(teacher || student) over the items they have not trained on",
        ),
        (
            "distill_temperature",
            float,
            "with --distill-from: softmax temperature of the teacher's standardised scores (the "
            "student's is --temperature)",
        ),
        ("target_weight", float, "loss weight of target-domain pairs relative to others'"),
        (
            "cold_start_share",
            float,
            "lightgcn-merged, cross-domain: train for cold-start users; each epoch hides the "
            "target-domain edges of this share of the warm users with interactions in the "
            "target and another domain from message passing, their target pairs scored "
            "without them (0: off)",
        ),
        (
            "cold_start_weight",
            float,
            "with --cold-start-share: loss weight of the hidden users' target pairs, relative "
            "to their usual weight",
        ),
        ("ease_lambda", float, "ease, ease-merged: the ridge penalty of the item-item weights"),
        (
            "ease_text_weight",
            float,
            "ease, ease-merged: weight of the items' text similarities beside their "
            "co-occurrences, as side information (0: none; needs --store with item texts)",
        ),
        (
            "adversarial_weight",
            float,
            "cross-domain: weight of the domain discriminator's loss behind gradient "
            "reversal (0: none; 0.1 was no better on ml1m-action-comedy validation)",
        ),
    ):
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=kind, default=D[name], help=f"{text} ({D[name]})"
        )
    parser.add_argument(
        "--score",
        choices=SCORES,
        default=D["score"],
        help=(
            f"softmax: dot product or cosine of the embeddings in the training loss "
            f"({D['score']}); validation, test and recommendations rank by dot product either way"
        ),
    )
    parser.add_argument(
        "--entity-embeddings",
        action=argparse.BooleanOptionalAction,
        default=D["entity_embeddings"],
        help="rgcn, cross-domain: an ID embedding per knowledge-graph entity (default), or "
        "none (entities start at zero, or at their text with cross-domain)",
    )
    parser.add_argument(
        "--relation-weighting",
        choices=RELATION_WEIGHTINGS,
        default=D["relation_weighting"],
        help="rgcn: a block-diagonal matrix per relation (default) or one learned scalar per "
        "relation direction and layer (LightKG)",
    )
    parser.add_argument(
        "--text-input",
        choices=TEXT_INPUTS,
        default=D["text_input"],
        help=f"{', '.join(_taking('text_input'))}, with --store: node text vectors through a "
        "2-layer MLP (text -> --text-hidden -> dim) added to the ID embeddings (add) or in their "
        "place for nodes with text (only); none (default): no MLP (cross-domain keeps its "
        "linear text projection)",
    )
    parser.add_argument(
        "--text-hidden",
        type=int,
        default=D["text_hidden"],
        help=f"size of the text MLP's hidden layer ({D['text_hidden']})",
    )
    parser.add_argument(
        "--cold-items",
        choices=COLD_ITEMS,
        default=D["cold_items"],
        help="serve items without training interactions (new items), with --store and item "
        "text vectors: student: after training, content students (the item's text vector, "
        "release year and genres -> MLP; student-kg: plus the mean of learned embeddings of "
        "the item's knowledge-graph entities; the mean of 5 fitted apart) are fitted to the "
        "trained model's item embeddings of the warm items and give the new items theirs "
        "(saved as RUN/student.pt); text: with --text-input add, the new items "
        "are scored by the text MLP's output alone, without their ID embedding (never trained "
        "on a positive); recorded in run.json (none: the trained model's own, default)",
    )
    parser.add_argument(
        "--cold-item-scale",
        type=float,
        default=D["cold_item_scale"],
        metavar="S",
        help="with --cold-items: factor on the student's embeddings, which decides how new "
        "items rank beside warm ones (default: the best validation NDCG@20 of "
        f"{', '.join(map(str, SCALES))})",
    )
    parser.add_argument(
        "--batching",
        choices=BATCHING,
        default=D["batching"],
        help="full: propagate over the whole graph per batch; neighbor: sampled subgraphs",
    )
    parser.add_argument(
        "--text-property",
        default=D["text_property"],
        metavar="NAME",
        help="with --store: node property holding text embeddings (models that use text)",
    )
    parser.add_argument(
        "--init-from",
        type=path_option,
        default=D["init_from"],
        metavar="RUN",
        help="start from the trained parameters of the run in RUN (pretrained on the source "
        "domain, or an earlier snapshot) and fine-tune: parameters of the same name and shape, "
        "node embeddings matched by node id where the graphs differ",
    )
    parser.add_argument(
        "--distill-from",
        nargs="+",
        type=path_option,
        default=D["distill_from"],
        metavar="RUN",
        help="distil from these finished runs (trained on the same split; EASE too): their "
        "scores, each standardised over all users and target items, mixed by --distill-mix, "
        "are the teacher of a distillation term added to the objective; recorded in run.json "
        "with each teacher's model.pt sha256 (full-graph batches only)",
    )
    parser.add_argument(
        "--distill-mix",
        type=mix_option,
        default=D["distill_mix"],
        metavar="W1,W2,...",
        help="with --distill-from: one non-negative weight per teacher, in their order, "
        "normalised to sum 1 (default: equal)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in RUN from its checkpoint, with the same settings",
    )
    add_threads_option(parser)
    add_device_option(parser, default=D["device"])
    parser.add_argument(
        "--dist-timeout",
        type=float,
        default=D["dist_timeout"],
        metavar="SECONDS",
        help="under torchrun: a collective that waits this long for another rank (one that "
        "died or hangs) fails; longer than rank 0 takes alone to read the data or validate "
        f"an epoch (default {D['dist_timeout']:g})",
    )
    parser.set_defaults(func=run_train)

    evaluate_parser = subparsers.add_parser(
        "evaluate",
        description="Load a trained run (its model, graph and split) and print valid and test "
        "metrics (all, warm and cold-start users).",
    )
    evaluate_parser.add_argument("--run", type=path_option, required=True, metavar="RUN")
    evaluate_parser.add_argument(
        "--by-activity",
        action="store_true",
        help="also show warm users by their number of target-domain training interactions "
        "(act<=5, act6-20, act21-50, act>50), the groups that have users",
    )
    evaluate_parser.add_argument(
        "--plot",
        type=path_option,
        metavar="FILE",
        help="also draw the run's training curve (loss and validation NDCG@20 by epoch, the "
        "best epoch marked) into FILE, its format by its suffix (.png, .svg, .pdf, ...), in a "
        "folder that exists; an existing file only with --force",
    )
    evaluate_parser.add_argument(
        "--force", action="store_true", help="replace the --plot file if it exists"
    )
    add_threads_option(evaluate_parser)
    add_device_option(evaluate_parser)
    evaluate_parser.set_defaults(func=run_evaluate)
