"""Scale benchmark: synthetic graphs shaped like real ones at 1M, 5M and 20M interactions, and
what each kgrec step costs on them (seconds, interactions/s, peak memory).

    OMP_NUM_THREADS=1 python bench/scale.py --sizes 1M 5M 20M --out DIR [--neo4j-port 7720]
    python bench/scale.py --out DIR --report [--plot bench/scale.png [--force]]

The generator (:func:`generate`, seeded) writes RecBole atomic files ``synth-<size>.inter``,
``.item``, ``.kg`` and ``.link``: power-law user degrees (each user's expected degree Pareto,
clipped to at least 5; the degrees drawn vary around it, so some users have fewer than 5 and a
few none) and item popularity (Zipf within each domain); two domains, ``action`` and ``comedy``,
made by the ``ml1m-action-comedy`` domain rule from the items' ``genre`` (so the
ml1m-action-comedy protocol splits them: comedy the target, cold-start users drawn from the
users with >= 5 interactions in both), with a share of users active in both; a knowledge graph
of items linked to entities whose degrees follow a Zipf law (entities shared across the
domains); and a title of synthetic words for every item.

Per size, every step runs in a process of its own (its peak RSS is its own) under a watchdog
that kills it when its processes together hold more than ``--cap-gb`` (default 18 GB) or the
machine's available memory falls under ``--floor-gb``: that step is then reported as "does
not fit". Steps (``--steps``):

- ``generate``       the dataset
- ``load-local``     ``loaders.recbole.load`` (parse) + ``LocalStore.write``: interactions/s
- ``export``         LocalStore snapshot + ``to_hetero_data`` + ``message_graph`` (as
                     bench/export.py), then the ml1m-action-comedy split (seed 0), saved as
                     the experiment of a run folder
- ``train-full``     merged LightGCN (64 dimensions, 2 layers, BPR, batch ``--batch-size``),
                     full-graph propagation per batch: the epoch's negatives and its batches
                     until the epoch ends or ``--budget`` seconds pass; an unfinished epoch is
                     extrapolated (first batch + the others' mean × the batches left), and
                     says so. Validation is not included. The model is saved into the run
                     folder (``model.pt``, ``run.json``) for the steps after it.
- ``evaluate``       ``load_run`` + ``Run.evaluate()`` (valid and test; all, warm, cold users)
- ``recommend-local`` ``kgrec recommend`` for every user into the LocalStore
- ``ddp``            the train-full epoch under ``torchrun --standalone --nproc-per-node 2``
                     (gloo, 1 thread each); each rank reads the experiment from the run folder
- ``load-neo4j``     parse + ``Neo4jStore.write`` into the emptied database ``$NEO4J_DATABASE``
                     (default ``neo4j``, as the Neo4j steps after it read) of a server of this
                     benchmark's own (``tools/neo4j``, ``--neo4j-port``, started afresh per
                     size in ``OUT/neo4j-<size>`` and stopped and deleted after)
- ``export-neo4j``   the snapshot from Neo4j + ``to_hetero_data`` + ``message_graph``
- ``recommend-neo4j`` ``kgrec recommend`` for every user into Neo4j
- ``train-sampled``  R-GCN with ``--batching neighbor`` (kgrec.sampling), timed as train-full

Results are appended to ``OUT/results.jsonl`` as each step ends (a killed benchmark keeps
them; a rerun skips the steps done, ``--redo`` runs them again; a folder holds the steps of one
``--device``, ``--seed``, ``--user-degree``, ``--item-degree`` and ``--batch-size``, another is
refused): the step's own figures, its
wall and CPU time, and its peak RSS (the step process's own; for ``ddp`` and the ``kgrec``
commands the peak of all their processes together, sampled every 0.5 s). The machine is
shared: the report shows the CPU time of the step's processes over their wall time, how much
of a core they had (over the whole process: start, imports and setup included, not over the
step's own seconds).
``--report`` prints the table and with ``--plot`` draws seconds and peak RSS against
interactions, log-log (into a new file; ``--force`` replaces one already there).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the parent process stays small
    import numpy as np
    import pandas as pd

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
PROTOCOL = "ml1m-action-comedy"
DOMAINS = {"action": ("Action", "Adventure", "Thriller"), "comedy": ("Comedy", "Romance")}
RELATIONS = ("actor", "director", "writer", "producer", "genre", "country", "studio", "series")
STEPS = (
    "generate",
    "load-local",
    "export",
    "train-full",
    "evaluate",
    "recommend-local",
    "ddp",
    "load-neo4j",
    "export-neo4j",
    "recommend-neo4j",
    "train-sampled",
)
NEO4J_STEPS = ("load-neo4j", "export-neo4j", "recommend-neo4j")
# the options that make a folder's dataset and model: each record keeps them, and a folder's
# records are those of one setting of each (the steps done are skipped, and reported)
RECORDED = ("seed", "user_degree", "item_degree", "batch_size")
MB = 1024 * 1024


# -- the generator ---------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """``1M`` -> 1_000_000, ``200k`` -> 200_000, ``1500`` -> 1500."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1M, 200k, 5000)")
    factor = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(float(match.group(1)) * factor)


def size_name(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities ∝ rank^-exponent over ``n`` things, the ranks in a random order."""
    import numpy as np

    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return rng.permutation(weights / weights.sum())


def synthetic_words(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct pronounceable words of two to four syllables."""
    import numpy as np

    onsets = [*"bcdfghjklmnprstvz", "br", "ch", "st", "tr", "gl", "pl", "sh", "th"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ea"]
    codas = ["", "", "n", "r", "s", "l", "m", "x"]
    words: set[str] = set()
    while len(words) < count:
        n = count - len(words)
        syllables = rng.integers(2, 5, n)
        for k in syllables:
            parts = [
                onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))]
                for _ in range(k)
            ]
            words.add("".join(parts) + codas[rng.integers(len(codas))])
    return np.array(sorted(words))


def generate(
    interactions: int,
    out: Path,
    *,
    seed: int = 0,
    user_degree: float = 25.0,
    item_degree: float = 100.0,
    overlap: float = 0.4,
    name: str | None = None,
) -> dict:
    """Write a synthetic RecBole dataset of about ``interactions`` interactions into ``out``
    (``out/<name>.inter`` ...); returns its shape. ``user_degree`` and ``item_degree`` are the
    mean interactions per user and per item; ``overlap`` the share of users in both domains.

    Each user's *expected* degree is a Pareto draw scaled to the total, clipped to at least 5
    and at most a quarter of the smaller domain's items; the interactions are then drawn with
    those weights, so a user's actual degree varies around its expected one: some users have
    fewer than 5 (at 1M, seed 0: 185 of 40,000, the fewest 2) and at 5M and 20M a few have none
    (they are in no file)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    name = name or f"synth-{size_name(interactions)}"
    num_users = max(20, round(interactions / user_degree))
    num_items = max(20, round(interactions / item_degree))
    num_entities = max(10, num_items // 2)
    out.mkdir(parents=True, exist_ok=True)

    # items: a domain each (55 % action), popularity Zipf within the domain
    item_domain = (rng.random(num_items) >= 0.55).astype(np.int64)  # 0 action, 1 comedy
    item_domain[:2] = (0, 1)
    domain_items = [np.flatnonzero(item_domain == d) for d in (0, 1)]
    popularity = [zipf_weights(len(items), 0.9, rng) for items in domain_items]

    # users: expected degrees, Pareto (tail index 1.5) scaled to the total, clipped to at
    # least 5 and at most a quarter of a domain's items (the draws below vary around them);
    # 'overlap' of them split Beta(2, 2) over both domains
    raw = (1 - rng.random(num_users)) ** (-1 / 1.5)
    degree = raw * (interactions / raw.sum())
    cap = max(10, min(len(items) for items in domain_items) // 4)
    degree = np.clip(np.rint(degree), 5, cap).astype(np.int64)
    both = rng.random(num_users) < overlap
    only = (rng.random(num_users) >= 0.55).astype(np.int64)
    share = np.where(both, rng.beta(2, 2, num_users), 1.0 - only)
    per_domain = [np.rint(degree * share).astype(np.int64)]
    per_domain.append(degree - per_domain[0])

    # draw each user's items by popularity; duplicates are drawn again, in rounds, until
    # the total is reached (or the users' caps allow no more), and a surplus trimmed at random
    pairs = np.empty(0, dtype=np.int64)
    want = [count.astype(np.float64) for count in per_domain]
    for _ in range(20):
        missing = interactions - len(pairs)
        if missing <= 0:
            break
        drawn = []
        for d in (0, 1):
            k = round(float(missing * 1.1 * want[d].sum() / (want[0].sum() + want[1].sum())))
            if k == 0:
                continue
            users = rng.choice(num_users, size=k, p=want[d] / want[d].sum())
            items = domain_items[d][rng.choice(len(domain_items[d]), size=k, p=popularity[d])]
            drawn.append(users * num_items + items)
        pairs = np.unique(np.concatenate([pairs, *drawn]))
    if len(pairs) > interactions:
        pairs = np.sort(rng.choice(pairs, size=interactions, replace=False))
    user_of, item_of = np.divmod(pairs, num_items)
    n = len(pairs)
    user_ids = np.char.add("u", np.arange(num_users).astype(str))
    item_ids = np.char.add("i", np.arange(num_items).astype(str))
    inter = pd.DataFrame(
        {
            "user_id:token": user_ids[user_of],
            "item_id:token": item_ids[item_of],
            "rating:float": rng.integers(1, 6, n),
            "timestamp:float": rng.integers(1_420_070_400, 1_577_836_800, n),
        }
    )
    _write_atomic(inter, out / f"{name}.inter")

    # titles of 1-5 words from a Zipf vocabulary; one or two genres of the item's domain
    vocabulary = synthetic_words(max(200, min(20_000, num_items // 2)), rng)
    word_p = zipf_weights(len(vocabulary), 1.0, rng)
    lengths = rng.integers(1, 6, num_items)
    words = vocabulary[rng.choice(len(vocabulary), size=int(lengths.sum()), p=word_p)]
    bounds = np.cumsum(lengths)[:-1]
    titles = [" ".join(w).capitalize() for w in np.split(words, bounds)]
    genres = []
    for d in item_domain:
        names = DOMAINS[("action", "comedy")[d]]
        pick = rng.choice(len(names), size=rng.integers(1, 3), replace=False)
        genres.append(" ".join(names[p] for p in sorted(pick)))
    item = pd.DataFrame(
        {
            "item_id:token": item_ids,
            "title:token_seq": titles,
            "release_year:token": rng.integers(1950, 2021, num_items),
            "genre:token_seq": genres,
        }
    )
    _write_atomic(item, out / f"{name}.item")

    # knowledge: each item -> 1 + Poisson(4) entities drawn Zipf(1.0) (power-law entity
    # degrees), the relation the entity's kind; and a few entity -> entity triples
    entity_ids = np.char.add("e", np.arange(num_entities).astype(str))
    item_entity = np.char.add("ei", np.arange(num_items).astype(str))
    kinds = rng.integers(0, len(RELATIONS), num_entities)
    entity_p = zipf_weights(num_entities, 1.0, rng)
    links = 1 + rng.poisson(4, num_items)
    heads = np.repeat(np.arange(num_items), links)
    tails = rng.choice(num_entities, size=len(heads), p=entity_p)
    kg = pd.DataFrame(
        {
            "head_id:token": item_entity[heads],
            "relation_id:token": np.char.add("film.", np.array(RELATIONS)[kinds[tails]]),
            "tail_id:token": entity_ids[tails],
        }
    )
    between = num_entities // 4
    a = rng.choice(num_entities, size=between, p=entity_p)
    b = rng.integers(0, num_entities, between)
    kg = pd.concat(
        [
            kg,
            pd.DataFrame(
                {
                    "head_id:token": entity_ids[a],
                    "relation_id:token": "entity.related",
                    "tail_id:token": entity_ids[b],
                }
            ),
        ]
    ).drop_duplicates()
    _write_atomic(kg, out / f"{name}.kg")
    link = pd.DataFrame({"item_id:token": item_ids, "entity_id:token": item_entity})
    _write_atomic(link, out / f"{name}.link")

    in_domain = [
        np.bincount(user_of[item_domain[item_of] == d], minlength=num_users) for d in (0, 1)
    ]
    return {
        "name": name,
        "interactions": n,
        "users": int(np.count_nonzero(in_domain[0] + in_domain[1])),
        "items": num_items,
        "entities": num_entities,
        "triples": len(kg),
        "users_in_both": int(np.count_nonzero((in_domain[0] > 0) & (in_domain[1] > 0))),
        "users_5_in_both": int(np.count_nonzero((in_domain[0] >= 5) & (in_domain[1] >= 5))),
        "max_user_degree": int((in_domain[0] + in_domain[1]).max()),
        "max_item_degree": int(np.bincount(item_of, minlength=num_items).max()),
    }


def _write_atomic(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, sep="\t", index=False)
    os.replace(tmp, path)


# -- the steps (each runs in a child process) ------------------------------------------------


class Paths:
    """Where a size's dataset, store, run folder and Neo4j server live under ``out``."""

    def __init__(self, out: Path, size: int) -> None:
        self.name = f"synth-{size_name(size)}"
        self.data = out / "data" / self.name
        self.store = out / "stores" / self.name
        self.run = out / "runs" / f"{self.name}-lightgcn-merged"
        self.neo4j = out / f"neo4j-{size_name(size)}"

    @property
    def local_uri(self) -> str:
        return f"local:{self.store}"


def step_generate(args: argparse.Namespace, paths: Paths) -> dict:
    shutil.rmtree(paths.data, ignore_errors=True)
    start = time.perf_counter()
    shape = generate(
        args.size,
        paths.data,
        seed=args.seed,
        name=paths.name,
        user_degree=args.user_degree,
        item_degree=args.item_degree,
    )
    return {**shape, "seconds": time.perf_counter() - start}


def _parse(paths: Paths) -> tuple:
    from loaders import recbole
    from loaders.rules import named_rule

    start = time.perf_counter()
    graph = recbole.load(paths.data, domain_rule=named_rule(PROTOCOL))
    return graph, time.perf_counter() - start


def _rows(graph) -> int:
    return sum(len(df) for df in graph.tables().values())


def step_load_local(args: argparse.Namespace, paths: Paths) -> dict:
    from kgrec.store import LocalStore

    graph, parse = _parse(paths)
    shutil.rmtree(paths.store, ignore_errors=True)
    store = LocalStore(paths.store)
    start = time.perf_counter()
    store.write(graph, progress=False)
    write = time.perf_counter() - start
    return _load_result(graph, parse, write)


def _load_result(graph, parse: float, write: float) -> dict:
    n = len(graph.interactions)
    return {
        "seconds": write,
        "parse_s": parse,
        "interactions": n,
        "rows": _rows(graph),
        "rows_per_s": n / write,  # interactions/s (the name results.jsonl has always had)
        "all_rows_per_s": _rows(graph) / write,  # every row: nodes, interactions, triples
    }


def _export(uri: str) -> tuple[dict, object]:
    from kgrec.data.export import message_graph, to_hetero_data
    from kgrec.data.source import read_graph

    start = time.perf_counter()
    tables, _, _ = read_graph(store=uri)
    snapshot = time.perf_counter() - start
    data, maps = to_hetero_data(tables)
    graph = message_graph(data)
    total = time.perf_counter() - start
    timing = {
        "seconds": total,
        "snapshot_s": snapshot,
        "to_hetero_s": total - snapshot,
        "edges": int(graph.edge_index.size(1)),
    }
    return timing, (data, maps)


def step_export(args: argparse.Namespace, paths: Paths) -> dict:
    from kgrec.data.split import make_split
    from kgrec.experiment import Experiment, save_experiment

    result, (data, maps) = _export(paths.local_uri)
    start = time.perf_counter()
    split = make_split(data, maps, PROTOCOL, seed=0)
    result["split_s"] = time.perf_counter() - start
    shutil.rmtree(paths.run, ignore_errors=True)
    paths.run.mkdir(parents=True)
    save_experiment(Experiment(data, maps, split), paths.run / "experiment.pt")
    cold = split.cold_users(len(maps.users))
    result.update(
        users=len(maps.users),
        items=len(maps.items),
        train=int(split.train.size(1)),
        valid=int(split.valid.size(1)),
        test=int(split.test.size(1)),
        cold_users=int(cold.sum()),
    )
    return result


def step_export_neo4j(args: argparse.Namespace, paths: Paths) -> dict:
    result, _ = _export(args.neo4j_uri)
    return result


def _settings(model: str, args: argparse.Namespace, paths: Paths) -> dict:
    from kgrec.experiment import TRAIN_DEFAULTS

    return {
        **TRAIN_DEFAULTS,
        "model": model,
        "store": paths.local_uri,
        "protocol": PROTOCOL,
        "batch_size": args.batch_size,
        "batching": "neighbor" if model == "rgcn" else "full",
        "epochs": 1,
    }


def _timed(batches: Iterator, budget: float, times: list[float], world=None) -> Iterator:
    """``batches`` until they end or ``budget`` seconds pass, appending each batch's seconds
    (from the previous batch's request) to ``times``. In a distributed world rank 0 decides
    when to stop and tells the others, so every rank stops at the same batch."""
    from kgrec import distributed

    start = last = time.perf_counter()
    for batch in batches:
        yield batch
        now = time.perf_counter()
        times.append(now - last)
        last = now
        stop = now - start > budget
        if world is not None and world.distributed:
            stop = distributed.broadcast_object(stop)
        if stop:
            return


def _epoch(
    args: argparse.Namespace, paths: Paths, model_name: str, device: str | None = None
) -> tuple[dict, object, object]:
    """Time one epoch of ``model_name`` on the run folder's experiment (see the module doc), on
    ``device`` (default ``--device``); the timings, the model and the experiment."""
    import torch

    from kgrec import distributed
    from kgrec.device import resolve_device
    from kgrec.experiment import (
        build_run,
        epoch_strategy_for,
        objective_for,
        read_experiment,
    )
    from kgrec.train import NegativeSampler, on_device, train_epoch

    world = distributed.current()
    start = time.perf_counter()
    experiment = read_experiment(paths.run / "experiment.pt")
    settings = _settings(model_name, args, paths)
    model, graph, pairs = build_run(experiment, settings)
    device = resolve_device(device or args.device)
    model = model.to(device)
    distributed.broadcast_parameters(model)
    setup = time.perf_counter() - start
    split = experiment.split

    clock = time.perf_counter()
    generator = torch.Generator().manual_seed(0)
    sampler = NegativeSampler(pairs, split.negative_domains(graph.item_domain), graph.num_items)
    order = torch.randperm(pairs.size(1), generator=generator)
    users, pos = pairs[:, order]
    neg = sampler.sample(users, pos, generator)
    weight = torch.ones(pairs.size(1))
    negatives = time.perf_counter() - clock

    strategy = epoch_strategy_for(settings["batching"])
    objective = objective_for(settings, graph, split)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    batches = strategy.batches(  # as kgrec.train.fit: the graph and the triples on the device
        model,
        on_device(graph, device),
        torch.stack([users, pos, neg]).to(device),
        weight.to(device),
        batch_size=args.batch_size,
    )
    times: list[float] = []
    clock = time.perf_counter()
    loss = train_epoch(
        model, _timed(batches, args.budget, times, world), objective, optimizer, world=world
    )
    trained = time.perf_counter() - clock
    total = -(-pairs.size(1) // args.batch_size)
    done = len(times)
    rest = times[1:] or times
    if done >= total:
        epoch, how = negatives + trained, "measured"
    else:
        epoch = negatives + times[0] + (total - 1) * (sum(rest) / len(rest))
        how = "extrapolated"
    result = {
        "seconds": epoch,
        "how": how,
        "batches_done": done,
        "batches_per_epoch": total,
        "s_per_batch": sum(rest) / len(rest),
        "first_batch_s": times[0],
        "negatives_s": negatives,
        "setup_s": setup,
        "training_pairs": int(pairs.size(1)),
        "edges": int(graph.edge_index.size(1)),
        "loss": loss,
        "world_size": world.size,
        "device": str(device),
        "gpu_peak_mb": torch.cuda.max_memory_allocated(device) / MB if device.type == "cuda" else 0,
        "split_target": int(split.target_domain),
    }
    return result, model, experiment


def step_train_full(args: argparse.Namespace, paths: Paths) -> dict:
    import torch

    from kgrec.experiment import SPLIT_DIGEST, split_digest

    model_name = "lightgcn-merged"
    result, model, experiment = _epoch(args, paths, model_name)
    # the run folder as kgrec train writes it (its experiment is already there), its split's
    # digest too: kgrec evaluate and recommend check experiment.pt against it
    torch.save(model.state_dict(), paths.run / "model.pt")
    settings = _settings(model_name, args, paths)
    info = {"model": model_name, "settings": settings, "target_domain": "comedy", "status": "done"}
    info[SPLIT_DIGEST] = split_digest(experiment)
    (paths.run / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    return result


def step_train_sampled(args: argparse.Namespace, paths: Paths) -> dict:
    result, _, _ = _epoch(args, paths, "rgcn")
    return result


def step_ddp_rank(args: argparse.Namespace, paths: Paths) -> dict | None:
    from kgrec import distributed

    started = distributed.init("cpu")
    try:
        result, _, _ = _epoch(args, paths, "lightgcn-merged", device="cpu")  # gloo: the CPU
    finally:
        distributed.shutdown(started)
    return result if distributed.env_world().is_main else None


def step_evaluate(args: argparse.Namespace, paths: Paths) -> dict:
    from kgrec.experiment import load_run

    start = time.perf_counter()
    run = load_run(paths.run, device=args.device)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    metrics = run.evaluate()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "load_run_s": loaded, "test_ndcg@20": _ndcg(metrics)}


def _ndcg(metrics: dict) -> float | None:
    try:
        return float(metrics["test"]["all"]["ndcg@20"])
    except (KeyError, TypeError):
        return None


def step_load_neo4j(args: argparse.Namespace, paths: Paths) -> dict:
    from neo4j import GraphDatabase

    from kgrec.store import Neo4jStore
    from kgrec.store.neo4j import delete_all

    graph, parse = _parse(paths)
    phases = _PhaseTimes()
    logging.getLogger("kgrec.store.neo4j").setLevel(logging.DEBUG)
    logging.getLogger("kgrec.store.neo4j").addHandler(phases)
    auth = ("neo4j", os.environ.get("NEO4J_PASSWORD", "kgrec-local-password"))
    # the database kgrec's commands (recommend-neo4j's) and export-neo4j's open_store use
    database = os.environ.get("NEO4J_DATABASE") or "neo4j"
    with GraphDatabase.driver(args.neo4j_uri, auth=auth) as driver:
        with driver.session(database=database) as session:
            delete_all(session)
        options = {"batch_size": args.neo4j_batch} if args.neo4j_batch else {}
        store = Neo4jStore(driver, database=database, uri=args.neo4j_uri, **options)
        start, cpu, server = time.perf_counter(), time.process_time(), server_cpu(paths.neo4j)
        store.write(graph, progress=False)
        write, cpu = time.perf_counter() - start, time.process_time() - cpu
        server = server_cpu(paths.neo4j) - server
    result = _load_result(graph, parse, write)
    result["client_cpu_s"] = cpu
    result["server_cpu_s"] = server  # CPU the server spent on the write (the machine is shared)
    result["phases_s"] = phases.seconds
    result["server"] = server_memory(paths.neo4j)
    result["store_mb"] = folder_mb(paths.neo4j / "data")  # beside the page cache's size
    result["page_cache"] = args.neo4j_pagecache
    return result


def folder_mb(folder: Path) -> float:
    """The size of the files under ``folder`` in MB."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


class _PhaseTimes(logging.Handler):
    """Collects the seconds of each phase of a Neo4jStore write (its debug log lines)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %d rows in %.1f s":
            name, _, seconds = record.args
            self.seconds[name] = float(seconds)


def server_cpu(folder: Path) -> float:
    """CPU seconds (user + system) the Neo4j server of ``folder`` has used; NaN if unknown."""
    try:
        pid = int((folder / "neo4j.pid").read_text())
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return float("nan")
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_memory(folder: Path) -> dict | None:
    """Resident and peak resident memory (MB) of the Neo4j server of ``folder``."""
    try:
        pid = int((folder / "neo4j.pid").read_text())
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (OSError, ValueError):
        return None
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "peak_rss_mb": int(fields["VmHWM"].split()[0]) / 1024,
    }


STEP_FUNCTIONS = {
    "generate": step_generate,
    "load-local": step_load_local,
    "export": step_export,
    "train-full": step_train_full,
    "evaluate": step_evaluate,
    "load-neo4j": step_load_neo4j,
    "export-neo4j": step_export_neo4j,
    "train-sampled": step_train_sampled,
    "ddp-rank": step_ddp_rank,
}


# steps that never use torch: their processes do not import it (set_threads would, about
# 0.5 GB of their peak RSS); OMP_NUM_THREADS=1 from the parent holds for their libraries
NO_TORCH_STEPS = ("generate", "load-local", "load-neo4j")


def child(args: argparse.Namespace) -> int:
    """Run one step in this process and write its result as JSON to ``--result``."""
    if args.step not in NO_TORCH_STEPS:
        from kgrec.threads import set_threads

        set_threads(1)
    paths = Paths(args.out, args.size)
    result = STEP_FUNCTIONS[args.step](args, paths)
    if result is not None and args.result:
        result["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        Path(args.result).write_text(json.dumps(result))
    return 0


# -- the parent: steps under a memory watchdog, results appended -------------------------------


def _tree(root: int) -> dict[int, int]:
    """Resident bytes of ``root`` and each of its descendants, by pid (found by parent pid:
    torchrun starts its ranks in sessions of their own)."""
    page = os.sysconf("SC_PAGE_SIZE")
    parents, rss = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            pid = int(entry.name)
            parents[pid] = int(fields[1])
            rss[pid] = int(fields[21]) * page
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in tree:
                tree.add(child)
                frontier.append(child)
    return {pid: rss.get(pid, 0) for pid in tree}


def _kill_tree(root: int) -> None:
    for pid in _tree(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 1 << 62


def watch(command: list[str], log: Path, *, cap: float, floor: float, timeout: float) -> dict:
    """Run ``command`` in a session of its own; kill it and its descendants when together they
    hold more than ``cap`` bytes, the machine has less than ``floor`` available, or after
    ``timeout`` seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "KGREC_THREADS": "1"}
    start = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True
        )
        peak, killed = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = sum(_tree(proc.pid).values())
            peak = max(peak, rss)
            if killed is None:
                if rss > cap:
                    killed = f"does not fit: its processes held {rss / MB:,.0f} MB > cap"
                elif _available() < floor:
                    killed = (
                        f"does not fit: the machine had under {floor / MB:,.0f} MB available "
                        f"(step at {rss / MB:,.0f} MB)"
                    )
                elif time.perf_counter() - start > timeout:
                    killed = f"timeout after {timeout:.0f} s"
                if killed is not None:
                    _kill_tree(proc.pid)
            time.sleep(0.5)
    # the children of a killed session may linger a moment
    with_children = os.waitstatus_to_exitcode(status)
    return {
        "rc": with_children,
        "wall_s": time.perf_counter() - start,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "peak_tree_rss_mb": peak / MB,
        "cpu_s": usage.ru_utime + usage.ru_stime,  # the step's processes (the machine is shared)
        "killed": killed,
    }


def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def neo4j(action: str, folder: Path, args: argparse.Namespace) -> None:
    env = {
        **os.environ,
        "NEO4J_PORT": str(args.neo4j_port),
        "NEO4J_HEAP": args.neo4j_heap,
        "NEO4J_PAGECACHE": args.neo4j_pagecache,
    }
    subprocess.run([str(ROOT / "tools/neo4j/neo4j"), action, str(folder)], env=env, check=True)


def run_step(
    step: str,
    size: int,
    args: argparse.Namespace,
    results: Path,
    log: Path,
    *,
    prerequisite: bool = False,
) -> dict:
    """Run ``step`` in a watched process of its own and append its record to ``results``;
    ``prerequisite``: run only because a later step needs it (a Neo4j load for a recommend),
    which the report shows only where the step has no record of its own."""
    paths = Paths(args.out, size)
    result_file = args.out / "logs" / f".{paths.name}-{step}.json"
    result_file.unlink(missing_ok=True)
    common = [
        "--out",
        str(args.out),
        "--size",
        str(size),
        "--seed",
        str(args.seed),
        "--batch-size",
        str(args.batch_size),
        "--user-degree",
        str(args.user_degree),
        "--item-degree",
        str(args.item_degree),
        "--budget",
        str(args.budget),
        "--neo4j-port",
        str(args.neo4j_port),
        "--neo4j-pagecache",
        args.neo4j_pagecache,
        "--device",
        args.device,
        "--result",
        str(result_file),
    ]
    if args.neo4j_batch:
        common += ["--neo4j-batch", str(args.neo4j_batch)]
    python = [sys.executable, str(HERE)]
    kgrec = [sys.executable, "-m", "kgrec"]
    if step.startswith("recommend"):
        store = paths.local_uri if step == "recommend-local" else args.neo4j_uri
        command = [*kgrec, "recommend", "--run", str(paths.run), "--store", store]
        command += ["-k", "20", "--name", "scale", "--threads", "1", "--device", args.device]
    elif step == "ddp":
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(HERE),
            "--step",
            "ddp-rank",
            *common,
        ]
    else:
        command = [*python, "--step", step, *common]
    watched = watch(
        command,
        log,
        cap=args.cap_gb * 1024 * MB,
        floor=args.floor_gb * 1024 * MB,
        timeout=args.step_timeout,
    )
    record = {"size": size, "step": step, "device": args.device, **watched}
    record["settings"] = {name: getattr(args, name) for name in RECORDED}
    if prerequisite:
        record["prerequisite"] = True
    if watched["killed"]:
        record["status"] = "does not fit" if "fit" in watched["killed"] else "timeout"
    elif watched["rc"] != 0:
        record["status"] = "failed"
        record["error"] = _last_error(log)
    else:
        record["status"] = "ok"
        if result_file.exists():
            record.update(json.loads(result_file.read_text()))
        else:
            record["seconds"] = watched["wall_s"]
    # the step's own peak where it reports one (wait4's also counts the parent's pages at
    # fork, about 0.1 GB); a command's sampled peak; torchrun's ranks together
    if record.get("self_peak_rss_mb") and step != "ddp":
        record["peak_rss_mb"] = record["self_peak_rss_mb"]
    else:
        record["peak_rss_mb"] = max(watched["peak_tree_rss_mb"], 0.0)
    record["load_average"] = os.getloadavg()[0]
    record["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    with results.open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(_line(record), flush=True)
    return record


def _last_error(log: Path) -> str | None:
    """The last line of the step's log that names an error (its end only is read)."""
    with log.open("rb") as file:
        file.seek(max(0, log.stat().st_size - 20_000))
        lines = file.read().decode("utf-8", "replace").replace("\r", "\n").splitlines()
    found = [line for line in lines if "error" in line.lower()]
    return found[-1][:500] if found else None


def _line(r: dict) -> str:
    extra = ""
    if r.get("rows_per_s"):
        extra = f"  {r['rows_per_s']:,.0f} interactions/s"
    if r.get("how"):
        extra = f"  {r['how']} ({r['batches_done']}/{r['batches_per_epoch']} batches)"
    seconds = r.get("seconds")
    shown = f"{seconds:9.1f} s" if isinstance(seconds, (int, float)) else f"{'-':>9}  "
    return (
        f"{size_name(r['size']):>4} {r['step']:<16} {r['status']:<12} {shown} "
        f"peak {r['peak_rss_mb']:8,.0f} MB{extra}"
        + (f"  [{r['killed']}]" if r.get("killed") else "")
    )


def parent(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "logs").mkdir(exist_ok=True)
    results = args.out / "results.jsonl"
    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise SystemExit(f"unknown steps {sorted(unknown)}; choose from {', '.join(STEPS)}")
    steps = [s for s in STEPS if s in steps]  # always in the order that makes sense
    # a folder's records are one device's and one setting's of RECORDED: its skips and its
    # report know no other (before, a rerun with another --seed, or degrees, or batch size,
    # skipped the steps done with the first and reported their figures as its own; records
    # written before --device existed were the CPU's)
    records = read_results(results)
    recorded = {"device": {r.get("device", "cpu") for r in records}}
    recorded.update(
        {name: {r["settings"][name] for r in records if "settings" in r} for name in RECORDED}
    )
    for name, values in recorded.items():
        others = sorted(values - {getattr(args, name)})
        if others:
            option = f"--{name.replace('_', '-')}"
            raise SystemExit(
                f"{results} holds steps measured with {option} "
                f"{', '.join(map(str, others))}: a run with {option} {getattr(args, name)} "
                "needs an --out of its own (it would skip their steps and its report would "
                "mix them)"
            )
    for size in args.sizes:
        paths = Paths(args.out, size)
        log = args.out / "logs" / f"{paths.name}.log"
        done = {
            r["step"] for r in read_results(results) if r["size"] == size and r["status"] == "ok"
        }
        todo = [s for s in steps if args.redo or s not in done]
        server = False
        try:
            for step in todo:
                if step in NEO4J_STEPS and not server:
                    shutil.rmtree(paths.neo4j, ignore_errors=True)
                    neo4j("start", paths.neo4j, args)
                    server = True
                    if step != "load-neo4j" and "load-neo4j" not in todo:
                        run_step("load-neo4j", size, args, results, log, prerequisite=True)
                if step not in NEO4J_STEPS and server:
                    neo4j("stop", paths.neo4j, args)
                    shutil.rmtree(paths.neo4j, ignore_errors=True)
                    server = False
                record = run_step(step, size, args, results, log)
                if record["status"] != "ok" and step in ("generate", "load-local", "export"):
                    print(f"{paths.name}: {step} did not finish; the steps after it need it")
                    break
        finally:
            if server:
                neo4j("stop", paths.neo4j, args)
                shutil.rmtree(paths.neo4j, ignore_errors=True)
    report(read_results(results))
    return 0


# -- the report ------------------------------------------------------------------------------


def latest(records: list[dict]) -> dict[tuple[int, str], dict]:
    """The last record of each (size, step), a prerequisite's only where there is no other."""
    chosen: dict[tuple[int, str], dict] = {}
    for r in records:
        key = (r["size"], r["step"])
        if not (r.get("prerequisite") and key in chosen and not chosen[key].get("prerequisite")):
            chosen[key] = r
    return chosen


def cell(r: dict | None) -> str:
    if r is None:
        return ""
    if r["status"] != "ok":
        return f"{r['status']} (at {r['peak_tree_rss_mb'] / 1024:.1f} GB)"
    text = f"{r['seconds']:,.1f} s"
    if r.get("rows_per_s"):
        text += f", {r['rows_per_s']:,.0f} interactions/s"
    if r.get("how") == "extrapolated":
        text += f" (extrapolated from {r['batches_done']} of {r['batches_per_epoch']} batches)"
    elif r.get("how") == "measured":
        text += f" ({r['batches_per_epoch']} batches)"
    text += f"; {r['peak_rss_mb'] / 1024:.1f} GB"
    if r.get("server_cpu_s"):  # a Neo4j load: the server works, the client mostly waits
        text += f"; CPU s client {r['client_cpu_s']:,.0f} + server {r['server_cpu_s']:,.0f}"
    elif r.get("cpu_s") and r.get("wall_s"):
        # the share of a core the step's processes had over their whole wall time (start,
        # imports and setup included), not over the step's own seconds shown first
        text += f"; CPU {r['cpu_s'] / r['wall_s']:.0%} of the process's {r['wall_s']:,.1f} s"
    return text


def report(records: list[dict]) -> None:
    found = latest(records)
    sizes = sorted({size for size, _ in found})
    steps = [s for s in STEPS if any((size, s) in found for size in sizes)]
    print("| step | " + " | ".join(f"{size_name(s)} interactions" for s in sizes) + " |")
    print("| --- |" + " --- |" * len(sizes))
    for step in steps:
        row = [cell(found.get((size, step))) for size in sizes]
        print(f"| {step} | " + " | ".join(row) + " |")


def plot(records: list[dict], path: Path) -> None:
    """Seconds and peak RSS of every step against interactions, log-log; extrapolated epochs
    as hollow markers, the steps that did not finish as crosses at the memory they reached."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = latest(records)
    sizes = sorted({size for size, _ in found})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, step in enumerate(STEPS[1:]):
        colour = colours[n % len(colours)]
        ok = sorted(
            (size, r) for (size, s), r in found.items() if s == step and r["status"] == "ok"
        )
        failed = sorted(
            (size, r) for (size, s), r in found.items() if s == step and r["status"] != "ok"
        )
        if ok:
            xs = [size for size, _ in ok]
            left.plot(xs, [r["seconds"] for _, r in ok], color=colour, label=step)
            right.plot(xs, [r["peak_rss_mb"] / 1024 for _, r in ok], color=colour, label=step)
            for size, r in ok:
                face = "none" if r.get("how") == "extrapolated" else colour
                for axis, y in ((left, r["seconds"]), (right, r["peak_rss_mb"] / 1024)):
                    axis.plot([size], [y], "o", color=colour, markerfacecolor=face)
        for size, r in failed:
            right.plot([size], [max(r["peak_tree_rss_mb"], 1) / 1024], "x", color=colour, ms=8)
    right.axhline(24, color="red", linewidth=0.8)
    right.text(sizes[0], 24, " 24 GB: this machine", va="bottom", color="red", size=8)
    for axis, label in ((left, "seconds (wall, shared 2-core machine)"), (right, "peak RSS, GB")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(sizes, [f"{size_name(s)}" for s in sizes])
        axis.minorticks_off()
        axis.set_xlabel("interactions")
        axis.set_ylabel(label)
        axis.grid(True, which="major", linewidth=0.3)
    left.set_title("time per step (hollow: epoch extrapolated)", size=10)
    right.set_title("peak memory per step (x: did not finish)", size=10)
    right.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72)
    plt.close(fig)  # pyplot keeps every figure it made until closed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[1_000_000])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--redo", action="store_true", help="run steps that are done again")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--user-degree", type=float, default=25.0, help="mean per user")
    parser.add_argument("--item-degree", type=float, default=100.0, help="mean per item")
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument(
        "--device",
        # before, any name: --device gpu ran the steps that need no torch, then failed the
        # others and left a folder of "gpu" records that a --device cpu run refused
        choices=("cpu", "cuda"),
        default="cpu",
        help="where the torch steps compute: cpu (default; the README's figures) or cuda "
        "(ddp stays on the CPU, gloo); give a GPU run an --out of its own",
    )
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of batches")
    parser.add_argument("--cap-gb", type=float, default=18.0)
    parser.add_argument("--floor-gb", type=float, default=1.0)
    parser.add_argument("--step-timeout", type=float, default=3600.0)
    parser.add_argument(
        "--neo4j-port",
        type=int,
        default=7720,
        help="the port of the server the benchmark starts (and empties) for its Neo4j steps "
        "(default %(default)s); the steps reach it at bolt://127.0.0.1:PORT",
    )
    parser.add_argument("--neo4j-heap", default="3g")
    parser.add_argument(
        "--neo4j-pagecache",
        default="3g",
        help="the server's page cache (default %(default)s: the store files of 20M interactions "
        "do not fit in tools/neo4j's default 512m)",
    )
    parser.add_argument("--neo4j-batch", type=int, help="Neo4jStore batch size")
    parser.add_argument("--report", action="store_true", help="print the table of results")
    parser.add_argument(
        "--plot",
        type=Path,
        help="draw the results into this PNG (an existing one only with --force)",
    )
    parser.add_argument("--force", action="store_true", help="replace the --plot file if it exists")
    parser.add_argument("--step", choices=STEP_FUNCTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # the steps run from the repository root: a relative --out would land (and be emptied) there
    args.out = args.out.resolve()
    there = next(folder for folder in (args.out, *args.out.parents) if folder.exists())
    if not there.is_dir():
        parser.error(f"--out {args.out}: {there} is a file, not a folder")
    # numbers that cannot be, and unknown steps, refused before --out is made or a step runs
    # (before: after the steps before the one that read them, or, for --steps, out made)
    unknown = sorted({s for s in args.steps.split(",") if s} - set(STEPS))
    if unknown:
        parser.error(f"--steps: unknown steps {unknown}; choose from {', '.join(STEPS)}")
    if min(args.sizes) < 1:
        parser.error(f"--sizes: a size is at least 1 interaction, got {min(args.sizes)}")
    for name in ("batch_size", "neo4j_batch", "budget", "user_degree", "item_degree"):
        value = getattr(args, name)
        if value is not None and not value > 0:  # NaN too
            parser.error(f"--{name.replace('_', '-')} must be positive, got {value}")
    for name in ("cap_gb", "step_timeout"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    # the steps empty the database they reach: always the server this benchmark starts
    args.neo4j_uri = f"bolt://127.0.0.1:{args.neo4j_port}"
    if args.step:
        return child(args)
    if args.report or args.plot:
        if args.plot and args.plot.is_dir():  # before, IsADirectoryError with --force
            parser.error(f"--plot {args.plot}: a folder, not a file")
        if args.plot and args.plot.exists() and not args.force:  # before, replaced silently
            parser.error(f"--plot {args.plot}: the file exists; --force replaces it")
        if args.plot:  # before, FileExistsError after the table
            there = next(folder for folder in args.plot.absolute().parents if folder.exists())
            if not there.is_dir():
                parser.error(f"--plot {args.plot}: {there} is a file, not a folder")
        records = read_results(args.out / "results.jsonl")
        if not records:  # a mistyped --out printed an empty table
            what = "plot" if args.plot else "report"
            parser.error(
                f"--{what}: nothing to {what}, {args.out / 'results.jsonl'} holds no results"
            )
        report(records)
        if args.plot:
            plot(records, args.plot)
            print(f"wrote {args.plot}")
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
