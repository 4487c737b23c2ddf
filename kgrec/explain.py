"""Why was this item recommended? The best paths from a user to an item through the graph.

Three kinds of path are considered, each starting with one of the user's own interactions
``h`` (in any domain, so a user's history in the other domain explains target items too):

``related``
    user -INTERACTED-> h -RELATED- item (a knowledge relation between the two items,
    e.g. a sequel)
``entity``
    user -INTERACTED-> h -RELATED- e -RELATED- item (an entity both items share: an actor,
    a director, a genre)
``co-interaction``
    user -INTERACTED-> h <-INTERACTED- v -INTERACTED-> item (another user who has both)

A path through a hub says little (every film shares the genre "drama" with thousands), so
paths are ranked by their cost, the sum over the path's intermediate nodes of
``log(1 + degree)``, where degree counts the node's neighbours over INTERACTED and RELATED
relationships: a relation stored both ways (Freebase's ``film.film.directed_by`` and
``film.director.film``) counts each film once, as a relation stored one way does. Ties are
broken by the path's node keys. :func:`explain` computes this in Python over canonical tables (a
snapshot of any store) with networkx; Neo4j runs the same ranking as one Cypher query
(:data:`kgrec.store.queries.EXPLAIN`, turned into the same table by :func:`paths_table`).
Call it through a store, ``store.explain(user_id, item_uid, k=5)``: every store gives the same
table and the same errors.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from graph_schema.tables import GraphTables, check_graph_tables, item_titles
from graph_schema.validate import count_argument, id_argument
from kgrec.errors import InputError
from kgrec.text.nodes import relation_role

COLUMNS = ["rank", "kind", "cost", "nodes", "relations", "text"]


@dataclass(frozen=True)
class _Node:
    kind: str  # "User" | "Item" | "Entity"
    key: str


class GraphIndex:
    """Adjacency of a graph's INTERACTED and RELATED relationships, for repeated explanations."""

    def __init__(self, tables: GraphTables) -> None:
        check_graph_tables("tables", tables)
        inter = tables.interactions
        kg = tables.knowledge
        users, user_ids = pd.factorize(inter["user_id"], use_na_sentinel=False)
        items, item_uids = pd.factorize(inter["item_uid"], use_na_sentinel=False)
        self.user_items = _Adjacency(users, user_ids, items, item_uids)
        self.item_users = _Adjacency(items, item_uids, users, user_ids)
        heads = [_Node(k, v) for k, v in zip(kg["head_kind"], kg["head_key"], strict=True)]
        tails = [_Node(k, v) for k, v in zip(kg["tail_kind"], kg["tail_key"], strict=True)]
        # node -> (neighbour, relation, the relationship's head) of its RELATED relationships
        self.related: dict[_Node, list[tuple[_Node, str, _Node]]] = {}
        for head, relation, tail in zip(heads, kg["relation"], tails, strict=True):
            self.related.setdefault(head, []).append((tail, relation, head))
            if tail != head:  # a self-loop is one relationship of its node, as in Neo4j
                self.related.setdefault(tail, []).append((head, relation, head))
        # node -> its neighbours over RELATED relationships (a relation stored both ways: one)
        self.related_degree = {
            node: len({n for n, _, _ in edges}) for node, edges in self.related.items()
        }
        items = tables.items
        # an item without a title goes by its name attribute, as in Neo4j
        self.titles = dict(zip(items["uid"], item_titles(items, items["uid"]), strict=True))
        # the domains of its items, named when an item asked for is of none of them
        self.domains = sorted(str(d) for d in items["domain"].dropna().unique())
        self.names = dict(zip(tables.entities["entity_id"], tables.entities["name"], strict=True))

    def degree(self, node: _Node) -> int:
        """The node's neighbours over INTERACTED and RELATED relationships (parallel ones, a
        relation stored both ways, count one neighbour once)."""
        interactions = (
            self.user_items.count(node.key)
            if node.kind == "User"
            else self.item_users.count(node.key)
            if node.kind == "Item"
            else 0
        )
        return interactions + self.related_degree.get(node, 0)

    def entity_name(self, key: str) -> str | None:
        """The name of entity ``key``, None where it has none (its id stands for it)."""
        name = self.names.get(key)
        return str(name) if _text_value(name) else None

    def label(self, node: _Node) -> str:
        if node.kind == "Item":
            return self.titles.get(node.key) or node.key
        if node.kind == "Entity":
            return self.entity_name(node.key) or node.key
        return f"user {node.key}"


def _text_value(value: object) -> bool:
    return isinstance(value, str) and bool(value)


class _Adjacency(Mapping[str, set[str]]):
    """key -> the set of its neighbours, of the interactions ``(keys[codes[i]],
    others[other_codes[i]])`` (factorized), each set made when it is first asked for: a local
    store's explanation reads a few of them, and making every one (a Python loop over the
    interactions) took 1.8 s of ml-1m's 2 s."""

    def __init__(
        self, codes: np.ndarray, keys: Iterable[str], other_codes: np.ndarray, others: Iterable[str]
    ) -> None:
        self._others = np.asarray(others, dtype=object)
        width = max(len(self._others), 1)
        pairs = np.sort(codes.astype(np.int64) * width + other_codes)  # by key
        first = np.ones(len(pairs), dtype=bool)
        first[1:] = pairs[1:] != pairs[:-1]
        pairs = pairs[first]  # each once
        self._neighbours = pairs % width
        self._position = {key: n for n, key in enumerate(keys)}
        self._start = np.searchsorted(pairs // width, np.arange(len(self._position) + 1))
        self._made: dict[int, set[str]] = {}

    def __getitem__(self, key: str) -> set[str]:
        n = self._position[key]
        if n not in self._made:
            rows = self._neighbours[self._start[n] : self._start[n + 1]]
            self._made[n] = set(self._others[rows].tolist())
        return self._made[n]

    def __contains__(self, key: object) -> bool:
        return key in self._position

    def __iter__(self) -> Iterator[str]:
        return iter(self._position)

    def __len__(self) -> int:
        return len(self._position)

    def count(self, key: str) -> int:
        """How many neighbours ``key`` has (0: not a key)."""
        n = self._position.get(key)
        return 0 if n is None else int(self._start[n + 1] - self._start[n])


def explain(
    tables: GraphTables | GraphIndex, user_id: str, item_uid: str, *, k: int = 5
) -> pd.DataFrame:
    """The ``k`` best paths from ``user_id`` to ``item_uid`` (columns: :data:`COLUMNS`)."""
    k = check_k(k)
    user_id, item_uid = id_argument(user_id, "user"), id_argument(item_uid, "item")
    index = tables if isinstance(tables, GraphIndex) else GraphIndex(tables)
    if user_id not in index.user_items or item_uid not in index.titles:
        raise unknown_ends_error(
            user_id,
            item_uid,
            user=user_id in index.user_items,
            item=item_uid in index.titles,
            domains=index.domains,
        )
    user, item = _Node("User", user_id), _Node("Item", item_uid)
    graph = _neighbourhood(index, user, item)
    paths = []
    for kind, path in _paths(graph, user, item):
        cost = sum(math.log1p(index.degree(n)) for n in path[1:-1])
        edges = [graph.edges[a, b] for a, b in itertools.pairwise(path)]
        named = [(e["relation"], e["head"]) for e in edges]
        if kind == "entity":
            named[1:] = _shared_relation(edges[1], edges[2], path[2]) or named[1:]
        relations = [relation for relation, _ in named]
        forward = [head == a for (_, head), a in zip(named, path, strict=False)]
        keys = [f"{n.kind}:{n.key}" for n in path]
        paths.append((round(cost, 9), keys, kind, relations, forward, path))
    paths += _co_interaction_paths(index, user, item, k)
    paths.sort(key=lambda p: (p[0], p[1]))
    rows = [
        {
            "rank": rank,
            "kind": kind,
            "cost": cost,
            "nodes": keys,
            "relations": relations,
            "text": _text(index, path, relations, forward, kind),
        }
        for rank, (cost, keys, kind, relations, forward, path) in enumerate(paths[:k], start=1)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _co_interaction_paths(
    index: GraphIndex, user: _Node, item: _Node, k: int
) -> list[tuple[float, list[str], str, list[str], list[bool], list[_Node]]]:
    """The co-interaction paths user -> h <- v -> item that can be among the ``k`` best: of
    each of the user's items ``h``, its ``k`` cheapest co-raters ``v`` (cost, then key), as
    :func:`explain` orders paths. A heavy user and a popular item have hundreds of thousands
    of such paths (ml-1m: 166,779 for one pair), which need not all be built."""
    co_raters = index.item_users.get(item.key, set()) - {user.key}
    cost = {v: math.log1p(index.degree(_Node("User", v))) for v in co_raters}
    paths = []
    for uid in sorted(index.user_items[user.key] - {item.key}):
        h = _Node("Item", uid)
        h_cost = math.log1p(index.degree(h))
        best = heapq.nsmallest(
            k,
            ((round(h_cost + cost[v], 9), v) for v in index.item_users[uid] & co_raters),
        )
        for path_cost, v in best:
            path = [user, h, _Node("User", v), item]
            keys = [f"{n.kind}:{n.key}" for n in path]
            forward = [True, False, True]  # each stored from its user
            paths.append((path_cost, keys, "co-interaction", ["INTERACTED"] * 3, forward, path))
    return paths


def _neighbourhood(index: GraphIndex, user: _Node, item: _Node) -> nx.Graph:
    """The part of the graph the related and entity paths can use: the user's items and what
    relates them to the item (co-interaction paths: :func:`_co_interaction_paths`). Of parallel
    relationships (a relation stored both ways) an edge keeps the one of :func:`_preference`."""
    graph = _PreferredRelationGraph()
    history = [_Node("Item", uid) for uid in sorted(index.user_items[user.key] - {item.key})]
    item_entities = {n for n, _, _ in index.related.get(item, []) if n.kind == "Entity"}
    for h in history:
        graph.add_edge(user, h, relation="INTERACTED", head=user, preference=0)
        for neighbour, relation, head in index.related.get(h, []):
            if neighbour == item or neighbour in item_entities:
                graph.add_edge(
                    h, neighbour, relation=relation, head=head, preference=_preference(head, h)
                )
    for entity, relation, head in index.related.get(item, []):
        if entity in item_entities and entity in graph:
            graph.add_edge(
                entity, item, relation=relation, head=head, preference=_preference(head, None)
            )
    return graph


def _preference(head: _Node, users_item: _Node | None) -> int:
    """Of parallel relationships between two nodes, a path names the one stored from the
    entity (``film.director.film``: its head is a "director"), else from the user's item
    (``film.film.sequel`` from the film the user saw: the other is its sequel); then the
    smallest relation name. Neo4j's :data:`kgrec.store.queries.EXPLAIN` orders them the same.
    An entity path first names a relation both items share (:func:`_shared_relation`)."""
    return 0 if head.kind == "Entity" else 1 if head == users_item else 2


def _shared_relation(
    to_entity: dict[str, Any], to_item: dict[str, Any], entity: _Node
) -> list[tuple[str, _Node]] | None:
    """Of the parallel relationships of an entity path's two knowledge edges (h - entity and
    entity - item), the pair (relation, head) that names the same relation on both sides: the
    same way round (the entity the head of both, or the tail of both) first, else the other
    way round (a symmetric relation stored one way per film: ``sibling`` from one film to the
    entity, and from the entity to the other), then by :func:`_preference` and name; ``None``
    where the two share none. The other way round is no shared relation where an edge stores
    the relation's way back under another name (``film.film.sequel`` one way,
    ``film.film.prequel`` back: h's sequel whose sequel is the item, a chain). Neo4j's
    :data:`kgrec.store.queries.EXPLAIN` orders them the same."""
    pairs = [
        (a, b)
        for a in to_entity["parallel"]
        for b in to_item["parallel"]
        if a[1] == b[1]
        and (
            (a[2] == entity) == (b[2] == entity)
            or not (_named_back(to_entity, a) or _named_back(to_item, b))
        )
    ]
    if not pairs:
        return None
    a, b = min(
        pairs,
        key=lambda pair: (
            (pair[0][2] == entity) != (pair[1][2] == entity),
            pair[0][:2],
            pair[1][:2],
        ),
    )
    return [(a[1], a[2]), (b[1], b[2])]


def _named_back(edge: dict[str, Any], relationship: tuple[int, str, _Node]) -> bool:
    """Whether ``edge`` (of :class:`_PreferredRelationGraph`) stores, beside
    ``relationship`` (preference, relation, head), one the other way with another relation:
    the relation has an inverse of its own name, so it is no symmetric one."""
    return any(
        head != relationship[2] and relation != relationship[1]
        for _, relation, head in edge["parallel"]
    )


class _PreferredRelationGraph(nx.Graph):
    """An edge keeps the relationship of :func:`_preference` (``relation``, ``head``) and, in
    ``parallel``, every (preference, relation, head) between its two nodes."""

    def add_edge(self, a: _Node, b: _Node, *, relation: str, head: _Node, preference: int) -> None:
        if self.has_edge(a, b):
            kept = self.edges[a, b]
            kept["parallel"].append((preference, relation, head))
            if (kept["preference"], kept["relation"]) <= (preference, relation):
                return
            parallel = kept["parallel"]
        else:
            parallel = [(preference, relation, head)]
        super().add_edge(
            a, b, relation=relation, head=head, preference=preference, parallel=parallel
        )


def _paths(graph: nx.Graph, user: _Node, item: _Node) -> Iterable[tuple[str, list[_Node]]]:
    """(kind, path) of every path of two kinds from ``user`` to ``item`` in the neighbourhood
    ``graph``: user - h - item (``related``) and user - h - e - item with ``e`` an entity
    (``entity``), where the ``h`` are the user's items (its only neighbours). Enumerated kind
    by kind, these are the simple paths of at most three edges whose middle is one of the
    kinds, without walking the others."""
    if item not in graph:
        return
    for h in graph[user]:
        if graph.has_edge(h, item):
            yield "related", [user, h, item]
        for x in graph[h]:
            if x.kind == "Entity" and graph.has_edge(x, item):
                yield "entity", [user, h, x, item]


def _text(
    index: GraphIndex, path: list[_Node], relations: list[str], forward: list[bool], kind: str
) -> str:
    """The sentence of a path; ``forward[i]``: whether relationship ``i`` is stored from
    ``path[i]`` to ``path[i + 1]``."""
    h = index.label(path[1])
    target = index.label(path[-1])
    if kind == "related":
        return f"you interacted with {h}, related to {target} ({relations[1]})"
    if kind == "entity":
        entity_is_head = forward[2]
        shared = index.label(path[2])
        if relations[1] == relations[2] and forward[1] == forward[2]:
            # one relation, stored the other way round at each film (a symmetric relation
            # stored one way per film): shared, read as the films' property, as stored from them
            entity_is_head = False
        elif relation_role(relations[1], node_is_head=not forward[1]) != relation_role(
            relations[2], node_is_head=entity_is_head
        ) or (relations[1] != relations[2] and not forward[1] and entity_is_head):
            # the entity is something else to the user's item (an actor of it, the writer of
            # the other), or the head of two relations (film.film.prequel of one film and
            # film.film.sequel of the other: its type, "film", is no role they share): the
            # sentence names both relations
            return (
                f"you interacted with {h}; {shared} is linked to it ({relations[1]}) and to "
                f"{target} ({relations[2]})"
            )
        role = relation_role(relations[2], node_is_head=entity_is_head)
        if not entity_is_head and role.endswith(" by"):  # film.film.directed_by
            return f"you interacted with {h}; it and {target} were both {role} {shared}"
        return f"you interacted with {h}; it and {target} share the {role} {shared}"
    return f"you interacted with {h}; {index.label(path[2])} did too, and interacted with {target}"


def check_k(k: int) -> int:
    """``k`` (the number of paths) as a Python int if it is a positive integer that every store
    takes: at most 2**63 - 1 (Neo4j's integers are 64-bit; a larger one was the neo4j driver's
    OverflowError); a numpy integer (``np.int64(5)``) is the number it holds, and a bool (or
    ``np.bool_``) is refused. Else :class:`InputError`."""
    return count_argument(k, "-k", "k must be a positive number of paths")


def unknown_ends_error(
    user_id: str, item_uid: str, *, user: bool, item: bool, domains: Iterable[str] = ()
) -> InputError:
    """The error every store raises when the user has no interactions or the item is not in
    the graph (``user`` / ``item``: whether each was found). ``domains``, the domains the
    graph's items are in, are named when the uid is of none of them (``ml-100k:242`` in a
    graph loaded with ``--domain movies``)."""
    if not user:
        return InputError(f"user {user_id!r} has no interactions in the graph", field="user")
    held = sorted(set(domains))
    if held and not any(item_uid.startswith(f"{domain}:") for domain in held):
        return InputError(
            f"item {item_uid!r} is not in the graph (its domains: {', '.join(held)})",
            field="item",
        )
    return InputError(f"item {item_uid!r} is not in the graph", field="item")


def paths_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The table of :func:`explain` from the records of the Cypher version
    (:data:`kgrec.store.queries.EXPLAIN`: kind, cost, keys, relations, forward, labels), best
    first."""
    rows = []
    for rank, r in enumerate(records, start=1):
        labels = [str(x) for x in r["labels"]]
        nodes = [_Node(*key.split(":", 1)) for key in r["keys"]]
        text = _text(_Labels(nodes, labels), nodes, r["relations"], r["forward"], r["kind"])
        rows.append(
            {
                "rank": rank,
                "kind": r["kind"],
                "cost": r["cost"],
                "nodes": list(r["keys"]),
                "relations": list(r["relations"]),
                "text": text,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


class _Labels:
    """The `label` of :class:`GraphIndex` for nodes whose labels a query returned."""

    def __init__(self, nodes: list[_Node], labels: list[str]) -> None:
        self._labels = dict(zip(nodes, labels, strict=True))

    def label(self, node: _Node) -> str:
        return f"user {node.key}" if node.kind == "User" else self._labels[node]
