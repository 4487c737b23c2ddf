"""`kgrec split`: make a protocol's seeded split and write its split files."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from torch_geometric.data import HeteroData

from kgrec.data.export import IdMaps, to_hetero_data
from kgrec.data.source import read_graph
from kgrec.data.split import PROTOCOLS, Split, get_protocol, make_split, read_split, write_split
from kgrec.errors import InputError


@dataclass
class Experiment:
    """The graph of an experiment, exported, with its split."""

    data: HeteroData
    maps: IdMaps
    split: Split


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """--data / --store and the domain options of a command that reads the graph."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data", type=Path, metavar="PATH", help="a RecBole atomic-file folder, read directly"
    )
    source.add_argument(
        "--store", metavar="URI", help="a store: local:PATH, bolt://HOST:PORT, neo4j://..."
    )
    parser.add_argument(
        "--domain", help="with --data: the domain of all items (default: the dataset name)"
    )
    parser.add_argument(
        "--domain-rule",
        metavar="NAME",
        help="with --data: split items into domains by a named rule "
        "(default: the protocol's, e.g. ml1m-action-comedy)",
    )
    parser.add_argument(
        "--target-domain",
        metavar="NAME",
        help="the domain to evaluate (default: the protocol's, or the graph's only domain)",
    )


def add_split_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    how = parser.add_mutually_exclusive_group(required=required)
    how.add_argument("--protocol", choices=sorted(PROTOCOLS), help="a named protocol")
    how.add_argument(
        "--split",
        type=Path,
        metavar="DIR",
        help="a folder of split files (train.tsv, valid.tsv, test.tsv) instead of a protocol",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def load_experiment(
    *,
    data: Path | None,
    store: str | None,
    protocol: str | None,
    split_dir: Path | None,
    seed: int,
    domain: str | None = None,
    domain_rule: str | None = None,
    target_domain: str | None = None,
    text_property: str | None = None,
) -> Experiment:
    """Read the graph, export it and make (``protocol``) or read (``split_dir``) the split.

    With ``data`` and no ``domain``/``domain_rule``, a protocol's own domain rule applies.
    """
    domain_rule = effective_rule(protocol, data, domain, domain_rule)
    tables, text = read_graph(
        data=data,
        store=store,
        domain=domain,
        domain_rule=domain_rule,
        text_property=text_property,
    )
    hetero, maps = to_hetero_data(tables, text=text)
    if split_dir is not None:
        split = read_split(split_dir, maps, target_domain=target_domain)
    elif protocol is not None:
        split = make_split(hetero, maps, protocol, seed=seed, target_domain=target_domain)
    else:
        raise InputError("give --protocol NAME or --split DIR", field="--protocol")
    return Experiment(hetero, maps, split)


def effective_rule(
    protocol: str | None, data: Path | None, domain: str | None, domain_rule: str | None
) -> str | None:
    """The domain rule to read ``data`` with: the one given, else the protocol's."""
    if protocol is not None and data is not None and domain is None and domain_rule is None:
        return get_protocol(protocol).domain_rule
    return domain_rule


def describe(experiment: Experiment) -> str:
    split, maps = experiment.split, experiment.maps
    cold = split.cold_users(len(maps.users))
    lines = [f"target domain {maps.domains[split.target_domain]!r}"]
    for name in ("train", "valid", "test"):
        pairs = getattr(split, name)
        users = pairs[0].unique()
        lines.append(
            f"{name:5s} {pairs.size(1):8d} interactions  {users.numel():6d} users "
            f"({int(cold[users].sum())} cold)"
        )
    return "\n".join(lines)


def run_split(args: argparse.Namespace) -> int:
    experiment = load_experiment(
        data=args.data,
        store=args.store,
        protocol=args.protocol,
        split_dir=None,
        seed=args.seed,
        domain=args.domain,
        domain_rule=args.domain_rule,
        target_domain=args.target_domain,
    )
    write_split(experiment.split, experiment.maps, args.write_split)
    print(describe(experiment))
    print(f"wrote {args.write_split}/train.tsv, valid.tsv, test.tsv")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "split",
        help="make a protocol's seeded split and write its split files",
        description="Make the seeded split of an evaluation protocol (PROTOCOL.md) and write "
        "train.tsv, valid.tsv and test.tsv (user_id<TAB>item_id, target domain only).",
    )
    parser.add_argument("--protocol", required=True, choices=sorted(PROTOCOLS))
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_data_options(parser)
    parser.add_argument(
        "--write-split", type=Path, required=True, metavar="DIR", help="folder to write"
    )
    parser.set_defaults(func=run_split)
