"""Canonical tables -> PyG ``HeteroData`` + id maps, and the homogeneous view the models use.

Every index is assigned from sorted ids (users by ``user_id``, items by ``uid``, entities by
``entity_id``, domains and relation names by name), and every edge list is sorted, so the same
graph exports to identical tensors whichever store it came from and in whatever row order.

Heterogeneous layout (:func:`to_hetero_data`):

- node types ``user``, ``item`` (``domain``: index into :attr:`IdMaps.domains`; ``year``:
  release year, NaN where unknown; ``genre``: ``[2, X]`` (item, genre) with the genre an index
  into :attr:`IdMaps.genres`), ``entity``; optional ``x`` / ``x_mask`` (text embeddings and
  which rows have one);
- ``(user, interacts, item)`` and its reverse ``(item, rev_interacts, user)``;
- one edge type per knowledge relation and end kinds, ``(item|entity, <relation>, item|entity)``,
  head -> tail, with ``relation`` (index into :attr:`IdMaps.relations`) on the edge store.

Homogeneous view (:func:`message_graph`), the node space of :mod:`kgrec.models.base`:
``[users | items | entities]`` with both directions of every edge. Edge types:
``0`` user -> item, ``1`` item -> user, ``2 + 2r`` head -> tail of relation ``r``,
``3 + 2r`` tail -> head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from graph_schema.tables import SPECS, GraphTables, check_graph_tables, item_titles  # noqa: F401 (kgrec.data.export's before)
from kgrec.errors import InputError

if TYPE_CHECKING:  # imported where a graph is built: `kgrec COMMAND --help` needs no PyG
    from torch_geometric.data import Data, HeteroData

INTERACTS = ("user", "interacts", "item")
REV_INTERACTS = ("item", "rev_interacts", "user")
NODE_TYPES = {"User": "user", "Item": "item", "Entity": "entity"}
NUM_INTERACTION_TYPES = 2  # edge types 0 and 1 of the homogeneous view
USER_TO_ITEM = 0  # the edge type of a user -> item interaction in it (1: its reverse)


@dataclass(frozen=True)
class IdMaps:
    """Index <-> id of every node, domain and knowledge relation of an export."""

    users: tuple[str, ...]
    items: tuple[str, ...]  # item uids, "<domain>:<item_id>"
    item_ids: tuple[str, ...]  # the item's id within its domain (as in the source files)
    entities: tuple[str, ...]
    domains: tuple[str, ...]
    relations: tuple[str, ...]
    genres: tuple[str, ...] = ()  # the items' genres, sorted (older runs: none recorded)

    def user_index(self, user_ids: Sequence[str]) -> np.ndarray:
        """Indices of ``user_ids`` (-1 where unknown); one id is a TypeError (a list of it)."""
        return _indexer(self.users, user_ids, "user_ids")

    def item_index(self, uids: Sequence[str]) -> np.ndarray:
        """Indices of item ``uids`` (-1 where unknown); one uid is a TypeError (a list of it)."""
        return _indexer(self.items, uids, "uids")

    def domain_index(self, domain: str) -> int:
        if domain not in self.domains:
            raise InputError(
                f"domain {domain!r} is not in the graph (domains: {', '.join(self.domains)})",
                field="domain",
            )
        return self.domains.index(domain)


def _indexer(ids: Sequence[str], values: Sequence[str], name: str) -> np.ndarray:
    """The position of each of ``values`` in ``ids`` (-1 where absent); a Series or array
    looked up as it is (a list of a million ids took most of the time). One id (a string,
    whose characters were looked up: ``user_index("12")`` gave users ``1`` and ``2``) is a
    TypeError naming the argument ``name``."""
    if isinstance(values, str | bytes):
        raise TypeError(
            f"{name} must be a sequence of ids, got one: {values!r} (give [{values!r}])"
        )
    return pd.Index(ids).get_indexer(
        values if isinstance(values, pd.Series | np.ndarray) else list(values)
    )


def to_hetero_data(
    tables: GraphTables,
    *,
    text: Mapping[str, tuple[Sequence[str], np.ndarray]] | None = None,
) -> tuple[HeteroData, IdMaps]:
    """Export ``tables`` as a ``HeteroData`` with deterministic indices, and its id maps.

    ``text`` optionally maps a node kind (``"User"``, ``"Item"``, ``"Entity"``) to
    ``(keys, vectors [len(keys), d])`` as ``GraphStore.read_vectors`` returns them; nodes
    without a vector get zeros and ``x_mask`` False. An entity an item's ``entity_id`` ties
    it to is that item, as in the stores (:func:`kgrec.store.canonical.attach_to_items`): its
    triples are the item's, and it is no entity node.
    """
    from torch_geometric.data import HeteroData

    from kgrec.store.canonical import attach_to_items, linked_items

    check_graph_tables("tables", tables)
    for table in _INDEXED:
        _refuse_missing(getattr(tables, table), table, SPECS[table].required)
    if "entity_id" in tables.items:  # an entity tied to an item is that item, as in the stores
        tables, _ = attach_to_items(tables, linked_items(tables.items))
    inter, know, items_df = tables.interactions, tables.knowledge, tables.items
    users = _sorted_ids(tables.users["user_id"], inter["user_id"])
    entity_keys = know.loc[know["head_kind"] == "Entity", "head_key"]
    tail_keys = know.loc[know["tail_kind"] == "Entity", "tail_key"]
    entities = _sorted_ids(tables.entities["entity_id"], entity_keys, tail_keys)
    items_df = items_df.drop_duplicates("uid").sort_values("uid", kind="stable")
    domains = _sorted_ids(tables.domains["domain"], items_df["domain"])
    relations = _sorted_ids(know["relation"])
    genre_of = _genre_pairs(items_df)
    maps = IdMaps(
        users=users,
        items=tuple(items_df["uid"].astype(str)),
        item_ids=tuple(items_df["item_id"].astype(str)),
        entities=entities,
        domains=domains,
        relations=relations,
        genres=tuple(sorted(genre_of["genre"].unique())),
    )
    data = HeteroData()
    data["user"].num_nodes = len(users)
    data["item"].num_nodes = len(maps.items)
    data["item"].domain = torch.as_tensor(
        pd.Index(domains).get_indexer(items_df["domain"].astype(str)), dtype=torch.long
    )
    years = items_df["year"] if "year" in items_df else pd.Series(np.nan, index=items_df.index)
    data["item"].year = torch.as_tensor(
        pd.to_numeric(years, errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
    )
    data["item"].genre = unique_pairs(
        pd.Index(maps.items).get_indexer(genre_of["uid"]),
        pd.Index(maps.genres).get_indexer(genre_of["genre"]),
    )
    data["entity"].num_nodes = len(entities)

    user_idx = _lookup(users, inter["user_id"], "interactions", "user_id")
    item_idx = _lookup(maps.items, inter["item_uid"], "interactions", "item_uid")
    pairs = unique_pairs(user_idx, item_idx)
    data[INTERACTS].edge_index = pairs
    data[REV_INTERACTS].edge_index = pairs.flip(0)

    keys = {"Item": maps.items, "Entity": entities}
    frame = pd.DataFrame(
        {
            "head_kind": know["head_kind"].astype(str),
            "tail_kind": know["tail_kind"].astype(str),
            "relation": pd.Index(relations).get_indexer(know["relation"].astype(str)),
            "head": _lookup_kinds(keys, know, "head"),
            "tail": _lookup_kinds(keys, know, "tail"),
        }
    )
    for (relation, head_kind, tail_kind), group in frame.groupby(
        ["relation", "head_kind", "tail_kind"], sort=True
    ):
        store = data[NODE_TYPES[head_kind], relations[relation], NODE_TYPES[tail_kind]]
        store.edge_index = unique_pairs(group["head"].to_numpy(), group["tail"].to_numpy())
        store.relation = int(relation)
    data.num_relations = len(relations)
    data.num_domains = len(domains)

    if text:
        _attach_text(data, maps, text)
    return data, maps


def message_graph(
    data: HeteroData,
    *,
    interactions: Tensor | None = None,
    knowledge: bool = True,
) -> Data:
    """The homogeneous view of ``data`` over the node space ``[users | items | entities]``.

    ``interactions`` (``[2, E]`` user index, item index; anything else, an index past the
    users or items included, a ValueError naming it) replaces the export's interactions,
    e.g. by the training interactions of a split; ``knowledge=False`` leaves out the knowledge
    edges. Returns a ``Data`` with ``edge_index``/``edge_type`` (both directions),
    ``num_users``, ``num_items``, ``num_entities``, ``num_relations`` (edge types),
    ``item_domain``, ``num_domains``, ``node_type`` (0 user, 1 item, 2 entity) and, when the
    export has text, ``x`` and ``x_mask``.
    """
    from torch_geometric.data import Data

    num_users, num_items = data["user"].num_nodes, data["item"].num_nodes
    num_entities = data["entity"].num_nodes
    offset = {"user": 0, "item": num_users, "entity": num_users + num_items}
    if interactions is not None and not isinstance(interactions, Tensor):  # else torch's error
        raise TypeError(
            "interactions must be a [2, E] torch.Tensor of (user index, item index), got "
            f"{type(interactions).__name__} (torch.as_tensor converts it)"
        )
    if interactions is not None:  # before, torch broadcast a [1, 2] pair into others' edges
        interactions = check_pairs("interactions", interactions, num_users, num_items)
    pairs = data[INTERACTS].edge_index if interactions is None else interactions
    forward = pairs + torch.tensor([[0], [num_users]])
    blocks = [forward, forward.flip(0)]
    types = [
        torch.full((pairs.size(1),), USER_TO_ITEM, dtype=torch.long),
        torch.full((pairs.size(1),), USER_TO_ITEM + 1, dtype=torch.long),
    ]
    if knowledge:
        for edge_type in data.edge_types:
            store = data[edge_type]
            if "relation" not in store:
                continue
            head, _, tail = edge_type
            edges = store.edge_index + torch.tensor([[offset[head]], [offset[tail]]])
            blocks += [edges, edges.flip(0)]
            base = NUM_INTERACTION_TYPES + 2 * store.relation
            types += [torch.full((edges.size(1),), base), torch.full((edges.size(1),), base + 1)]
    graph = Data(
        edge_index=torch.cat(blocks, dim=1),
        edge_type=torch.cat(types),
        num_nodes=num_users + num_items + num_entities,
        num_users=num_users,
        num_items=num_items,
        num_entities=num_entities,
        num_relations=NUM_INTERACTION_TYPES + 2 * data.num_relations,
        item_domain=data["item"].domain,
        num_domains=data.num_domains,
        node_type=torch.cat(
            [
                torch.full((num_users,), 0),
                torch.full((num_items,), 1),
                torch.full((num_entities,), 2),
            ]
        ),
    )
    if "x" in data["item"]:
        graph.x = torch.cat([data[t].x for t in ("user", "item", "entity")])
        graph.x_mask = torch.cat([data[t].x_mask for t in ("user", "item", "entity")])
    return graph


# the tables whose required columns (their specs') an export reads each row's node, domain
# or relation from: a missing value there is refused (a knowledge row without a relation
# became relation -1 in the HeteroData, labelled with the last relation's name, and an edge of
# type 0/1, a user -> item interaction, in the message graph; an item without a domain had
# domain -1)
_INDEXED = ("items", "interactions", "knowledge")


def _refuse_missing(df: pd.DataFrame, table: str, columns: Sequence[str]) -> None:
    """An :class:`InputError` naming ``table``, the column and the row of the first missing
    value (None, NaN, NA) of ``columns`` in ``df`` (columns it lacks are left to the export)."""
    for column in columns:
        if column not in df:
            continue
        missing = df[column].isna().to_numpy(dtype=bool)
        if missing.any():
            row = int(np.argmax(missing))
            raise InputError(
                f"the {table} table's row at position {row} (from 0) has no {column}: a "
                "missing value",
                file=table,
                field=column,
            )


def _genre_pairs(items: pd.DataFrame) -> pd.DataFrame:
    """(uid, genre) of every genre an item lists (none without a ``genres`` column)."""
    if "genres" not in items:
        return pd.DataFrame({"uid": [], "genre": []}, dtype=object)
    pairs = items[["uid", "genres"]].explode("genres").dropna(subset=["genres"])
    return pd.DataFrame(
        {"uid": _strings(pairs["uid"]), "genre": _strings(pairs["genres"])}
    ).drop_duplicates()


def _sorted_ids(*columns: pd.Series) -> tuple[str, ...]:
    values = [_strings(column.dropna()) for column in columns]
    return tuple(sorted(pd.unique(np.concatenate(values)))) if values else ()


def _strings(column: pd.Series) -> np.ndarray:
    return column.astype(str).to_numpy(dtype=object)


def _lookup(ids: Sequence[str], column: pd.Series, table: str, field: str) -> np.ndarray:
    index = pd.Index(ids, dtype=object).get_indexer(_strings(column))
    if (index < 0).any():
        bad = column.iloc[int(np.argmax(index < 0))]
        raise InputError(
            f"unknown id {bad!r} (not among the graph's nodes)", file=table, field=field
        )
    return index


def _lookup_kinds(keys: Mapping[str, Sequence[str]], know: pd.DataFrame, end: str) -> np.ndarray:
    out = np.full(len(know), -1, dtype=np.int64)
    kinds = know[f"{end}_kind"].astype(str).to_numpy()
    unknown = ~np.isin(kinds, list(keys))
    if unknown.any():
        raise InputError(
            f"unknown node kind {kinds[np.argmax(unknown)]!r} (expected Item or Entity)",
            file="knowledge",
            field=f"{end}_kind",
        )
    for kind, ids in keys.items():
        rows = kinds == kind
        out[rows] = _lookup(ids, know.loc[rows, f"{end}_key"], "knowledge", f"{end}_key")
    return out


def unique_pairs(src: np.ndarray | Tensor, dst: np.ndarray | Tensor) -> Tensor:
    """``[2, E]`` unique (src, dst) pairs of non-negative indices, sorted by src, then dst."""
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    width = int(dst.max()) + 1 if len(dst) else 1
    keys = np.unique(src * width + dst)
    return torch.as_tensor(np.stack([keys // width, keys % width]))


def _attach_text(
    data: HeteroData, maps: IdMaps, text: Mapping[str, tuple[Sequence[str], np.ndarray]]
) -> None:
    unknown = set(text) - set(NODE_TYPES)
    if unknown:
        raise ValueError(
            f"text for unknown node kinds {sorted(unknown)} (expected {list(NODE_TYPES)})"
        )
    text = {kind: _checked_text(kind, *entry) for kind, entry in text.items()}
    dims = {vectors.shape[1] for _, vectors in text.values()}
    if len(dims) != 1:
        raise ValueError(f"text vectors of all node kinds must have one dimension, got {dims}")
    (dim,) = dims
    ids = {"user": maps.users, "item": maps.items, "entity": maps.entities}
    for kind, node_type in NODE_TYPES.items():
        keys = ids[node_type]
        x = torch.zeros(len(keys), dim)
        mask = torch.zeros(len(keys), dtype=torch.bool)
        if kind in text:
            vector_keys, vectors = text[kind]
            index = _lookup(keys, pd.Series(list(vector_keys), dtype=object), kind, "key")
            x[torch.as_tensor(index)] = torch.as_tensor(vectors, dtype=torch.float)
            mask[torch.as_tensor(index)] = True
        data[node_type].x = x
        data[node_type].x_mask = mask


def _checked_text(kind: str, keys: Sequence[str], vectors: np.ndarray) -> tuple[list, np.ndarray]:
    """``text[kind]`` as (list of keys, 2-D array), or a ValueError naming it: vectors that are
    no matrix of one row per key (before, torch's "shape mismatch" or an IndexError), keys
    given as one string (before, read as one id per character) or a key given twice (before,
    one of its vectors taken, silently)."""
    name = f"text[{kind!r}]"
    if isinstance(keys, str | bytes):
        raise ValueError(f"{name}'s keys must be a sequence of ids, got one string {keys!r}")
    keys = list(keys)
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != len(keys):
        raise ValueError(
            f"{name} must be (keys, vectors [len(keys), d]), got {len(keys)} keys and vectors "
            f"of shape {list(vectors.shape)}"
        )
    seen = pd.Index([str(key) for key in keys])
    if seen.has_duplicates:
        twice = seen[seen.duplicated()][0]
        raise ValueError(f"{name} names {twice!r} twice: one vector per node")
    return keys, vectors


def check_pairs(name: str, pairs: Tensor, num_users: int, num_items: int) -> Tensor:
    """``pairs`` as int64 ``[2, N]`` (user index, item index) pairs; a ValueError naming
    ``name`` unless they are integers (of any width, not bool) within ``num_users`` users and
    ``num_items`` items: a -1 would silently be the last user or item, torch would broadcast a
    ``[1, 2]`` pair into others, and an index past the users or items would be another node."""
    if pairs.dim() != 2 or pairs.size(0) != 2:
        raise ValueError(
            f"{name} must be [2, N] (a row of user indices, a row of item indices), got shape "
            f"{list(pairs.shape)}"
        )
    if pairs.dtype == torch.bool or pairs.is_floating_point() or pairs.is_complex():
        raise ValueError(f"{name} must hold integer indices, got {pairs.dtype}")
    pairs = pairs.long()
    for row, (kind, count) in enumerate((("user", num_users), ("item", num_items))):
        bad = (pairs[row] < 0) | (pairs[row] >= count)
        if bool(bad.any()):
            raise ValueError(
                f"{name} hold {kind} index {int(pairs[row][bad][0])}, and the graph has "
                f"{count} {kind}s ({f'indices 0 to {count - 1}' if count else 'none'}): the "
                "first row holds user indices, the second item indices (not node indices)"
            )
    return pairs
