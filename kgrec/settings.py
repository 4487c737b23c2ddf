"""The settings of :func:`kgrec.experiment.train`: their defaults and the names some take;
and the store a command opens by default.

They live in this module, which imports neither torch nor pandas, so that the argument parsers
of ``kgrec train``, ``tune``, ``split``, ``graph`` and ``load`` read them without loading
either (``kgrec train --help`` took 2 s of CPU to import torch). The modules that implement a
setting import its names from here: :mod:`kgrec.experiment` (``train()``'s signature takes its
defaults from :data:`TRAIN_DEFAULTS`), :mod:`kgrec.objectives`, :mod:`kgrec.cold_items` and
:mod:`kgrec.store` (:data:`DEFAULT_LOCAL`).
"""

from __future__ import annotations

import os

from kgrec.distributed import DEFAULT_TIMEOUT
from kgrec.errors import InputError
from kgrec.text import DEFAULT_PROPERTY


def local_neo4j() -> str:
    """The URI of the local Neo4j server that ``make neo4j-start`` (tools/neo4j) runs:
    ``bolt://127.0.0.1:$NEO4J_PORT``, port 7687 where ``NEO4J_PORT`` is unset or empty. What
    the notebooks' helpers, the benchmarks and the tests reach without ``$NEO4J_URI``. A port
    that is no port is an InputError naming ``NEO4J_PORT``, as tools/neo4j refuses it."""
    port = os.environ.get("NEO4J_PORT") or "7687"
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise InputError(
            f"$NEO4J_PORT must be a port number, 1 to 65535, got {port!r}", field="NEO4J_PORT"
        )
    return f"bolt://127.0.0.1:{port}"


def neo4j_uri() -> str:
    """The Neo4j server a program reaches when none is named: ``$NEO4J_URI``, else the local
    one (:func:`local_neo4j`). (The tests never read ``$NEO4J_URI``: it may be the user's.)"""
    return os.environ.get("NEO4J_URI") or local_neo4j()


# the store a command opens without --store or $NEO4J_URI (kgrec.store.open_store), here so that
# the parsers name it without importing the stores (pandas, the neo4j driver)
DEFAULT_LOCAL = "local:./kgrec-store"

# the training losses, by name (kgrec.objectives.OBJECTIVES: the class of each)
OBJECTIVE_NAMES = ("bpr", "softmax")
# how the softmax objective scores a pair in the training loss
SCORES = ("dot", "cosine")
BATCHING = ("full", "neighbor")
# how node text vectors enter a model (none: not through an MLP) and how R-GCN weighs relations
TEXT_INPUTS = ("none", "add", "only")
RELATION_WEIGHTINGS = ("block", "scalar")
# how items without training interactions are served (kgrec.cold_items)
COLD_ITEMS = ("none", "text", "student", "student-kg")
SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)  # candidates of kgrec.cold_items.choose_scale

# train()'s defaults, in the order of its keyword arguments: the CLI's defaults are these
TRAIN_DEFAULTS = {
    "data": None,
    "store": None,
    "protocol": None,
    "split": None,
    "seed": 0,
    "train_fraction": 1.0,
    "few_shot": 0,
    "cold_valid_share": None,
    "cold_test_share": None,
    "new_item_share": None,
    "domain": None,
    "domain_rule": None,
    "target_domain": None,
    "source_domain": None,
    "text_property": DEFAULT_PROPERTY,
    "objective": "bpr",
    "epochs": 300,
    "dim": 64,
    "layers": 2,
    "lr": 1e-3,
    "batch_size": 2048,
    "patience": 10,
    "reg_weight": 0.0,
    "temperature": 0.2,
    "num_negatives": 0,
    "score": "dot",
    "cl_weight": 0.0,
    "cl_noise": 0.2,
    "cl_temperature": 0.2,
    "cl_layer": 1,
    "text_cl_weight": 0.0,
    "text_cl_neighbours": 10,
    "text_cl_temperature": 0.2,
    "distill_from": None,
    "distill_mix": None,
    "distill_weight": 1.0,
    "distill_temperature": 0.25,
    "target_weight": 1.0,
    "cold_start_share": 0.0,
    "cold_start_weight": 1.0,
    "adversarial_weight": 0.0,
    "entity_embeddings": True,
    "relation_weighting": "block",
    "text_input": "none",
    "text_hidden": 64,
    "ease_lambda": 500.0,
    "ease_text_weight": 0.0,
    "cold_items": "none",
    "cold_item_scale": None,
    "batching": "full",
    "init_from": None,
    "resume": False,
    "progress": True,
    "device": "auto",
    "dist_timeout": DEFAULT_TIMEOUT,
}
