"""LocalStore: the embedded default store, a folder of Parquet tables and a manifest.

Layout of the folder::

    manifest.json              format, schema version, time of the last write, per table
                               its file, row count and SHA-256, and per vector property the
                               text model that wrote it (`vector_models`, since session 26)
                               or the run a publish wrote it of (since session 29; schema
                               version 2 since session 30 where one is, else 1)
    <table>-<sha256[:16]>.parquet   one per table: the six graph tables (graph_schema), plus
                               `vectors` (kind, key, property, vector) and `recommendations`
    .lock                      held by a writer (fcntl), so two writers never interleave
    .<table>.<pid>.tmp         a table being written by process <pid>
    .first_write.<pid>.tmp     held by process <pid> while it writes into a folder with no
                               manifest: the table files there are a first write's, not a
                               store whose manifest was lost

A write puts new table files beside the old ones, then replaces ``manifest.json`` with
``os.replace`` (atomic), then deletes the table files no manifest names any more. A crash at any
point leaves either the previous manifest, naming the previous files, or the new one: never a
half-written graph; the temporary files of a writer that died are deleted by the next write,
and so are the table files of a first write that died before its manifest (its marker tells).

The store only ever deletes files it wrote (names of the forms above), and refuses to write
into a folder that is not empty and holds no manifest (it is not a store), table files of its
own form included (a store whose manifest was lost: a write would take them for garbage; a
first write that fails removes the table files it wrote). Reading a folder that
holds no manifest is an error ("no store at PATH"), not an empty graph.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from graph_schema.tables import (
    GRAPH_TABLES,
    RECOMMENDATIONS,
    SPECS,
    GraphTables,
    TableSpec,
    empty,
)
from graph_schema.validate import id_argument, id_arguments
from kgrec.errors import StoreError, few
from kgrec.explain import GraphIndex, check_k, explain
from kgrec.files import no_link, process_runs
from kgrec.store.base import READ_ATTEMPTS, GraphStore, read_unchanged
from kgrec.store.canonical import (
    attach_to_items,
    check_attributes_against_vectors,
    check_cleared,
    check_dimension,
    check_entity_ties,
    check_publish_not_text,
    check_publish_property,
    check_publish_users,
    check_vector_property,
    checked_vectors,
    clear_attributes,
    coalesce,
    has_attributes,
    held_entity_keys,
    linked_items,
    node_kind,
    prepare,
    publish_record,
    recommendation_table,
    referenced_items,
    run_argument,
    stored_form,
    table_stats,
    unknown_keys_error,
    unvectored_users,
    warn_names_of_items,
    warn_names_tied,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

FORMAT = "kgrec-local-store"
# the newest schema version this kgrec reads: 2 (since session 30) says that `vector_models`
# may hold a publish's run record, which a kgrec of version 1 takes for damage; a manifest that
# holds none is written as version 1, which that kgrec reads as it is (versions 1 and 2 differ
# in nothing else)
SCHEMA_VERSION = 2
RUNLESS_SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors"  # columns kind, key, property, vector (list<float32>)
LOCK = ".lock"
# the marker of a first write (.first_write.<pid>.tmp): table files beside it and no manifest
# are a first write's, killed or in progress, which the next write replaces
FIRST_WRITE = "first_write"
# manifest key: vector property -> the text model (name, identity) that wrote its vectors, and
# the templates of their texts (templates: kind -> digest, JSON; since session 28, else absent)
# and whether each kind's texts read the interactions (interactions: kind -> bool, JSON; ditto);
# or, of vectors a publish wrote (since session 29), the run: run, weights, item_norm (a number)
VECTOR_MODELS = "vector_models"
MODEL_FIELDS = ("name", "identity", "templates", "interactions")
# the files a store writes, besides the manifest and the lock
TABLE_FILE = re.compile(r"(?P<table>[a-z_]+)-[0-9a-f]{16}\.parquet")
TEMP_FILE = re.compile(r"\.(?P<name>[a-z_.]+)\.(?P<pid>[0-9]+)\.tmp")
# a write's bars count tables, with no rate: tables per second says nothing (one of a few
# rows, the next of millions)
TABLES_BAR = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}]"


class LocalStore(GraphStore):
    """The shared graph as Parquet tables in the folder ``path`` (created on first write)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()  # the shell leaves local:~/x as it is
        self.uri = f"local:{path}"
        # explain()'s index of the graph, with the table files it was built from
        self._explain_index: tuple[tuple[str | None, ...], GraphIndex] | None = None
        self._holding = False  # whether this object holds the write lock (load_lock)
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.uri}: {self.path} exists and is not a folder")

    # -- reading ---------------------------------------------------------------------------

    def manifest(self, *, missing_ok: bool = False) -> dict[str, Any]:
        """The current manifest. A folder without one is no store: a StoreError, unless
        ``missing_ok`` (a writer's view: then the manifest of an empty store)."""
        try:
            manifest = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            if not missing_ok:
                raise StoreError(
                    f"no store at {self.path} (no {MANIFEST}): load a graph into it first, "
                    f"e.g. kgrec load ... --store {self.uri}"
                ) from None
            return {"format": FORMAT, "schema_version": RUNLESS_SCHEMA_VERSION, "tables": {}}
        except (OSError, ValueError) as exc:
            raise StoreError(f"{self.uri}: cannot read {MANIFEST}: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise StoreError(f"{self.uri}: {MANIFEST} is not a kgrec local store manifest")
        version = manifest.get("schema_version", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise StoreError(f"{self.uri}: {MANIFEST} is damaged: schema_version {version!r}")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.uri}: written by a newer kgrec (schema version "
                f"{version} > {SCHEMA_VERSION}); upgrade kgrec"
            )
        tables = manifest.get("tables")
        if not isinstance(tables, dict) or not all(_table_entry(t) for t in tables.values()):
            raise StoreError(
                f"{self.uri}: {MANIFEST} is damaged: its tables are not entries of "
                "file (a table file of this folder) and sha256"
            )
        return manifest

    def _read(self, name: str, manifest: dict[str, Any]) -> pd.DataFrame | None:
        data = self._read_bytes(name, manifest)
        return None if data is None else pd.read_parquet(io.BytesIO(data))

    def _read_bytes(self, name: str, manifest: dict[str, Any]) -> bytes | None:
        """Table ``name``'s file, checked against its checksum (None: the store has none)."""
        entry = manifest["tables"].get(name)
        if entry is None:
            return None
        file = self.path / entry["file"]
        try:
            data = file.read_bytes()
        except FileNotFoundError as exc:
            if self._replaced(entry["file"]):
                raise _Overtaken(
                    f"{self.uri}: another process wrote to the store while this read it "
                    f"({file.name} was replaced): read again"
                ) from exc
            raise StoreError(f"{self.uri}: cannot read {file}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"{self.uri}: cannot read {file}: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise StoreError(f"{self.uri}: {file} does not match its checksum in {MANIFEST}")
        return data

    def _replaced(self, file: str) -> bool:
        """Whether the current manifest names no table ``file`` (a write replaced it)."""
        try:
            return file not in {t["file"] for t in self.manifest()["tables"].values()}
        except StoreError:
            return False

    def _consistent(self, read: Callable[[dict[str, Any]], T], *, missing_ok: bool = False) -> T:
        """``read(manifest)`` of the current manifest, again when a write replaced and removed
        a file it names before it was read; after :data:`~kgrec.store.base.READ_ATTEMPTS` such
        tries, :class:`_Overtaken`'s "read again". Every read of the store's files that holds
        no lock reads through it (``missing_ok``: as :meth:`manifest`'s)."""
        for _ in range(READ_ATTEMPTS - 1):
            with contextlib.suppress(_Overtaken):
                return read(self.manifest(missing_ok=missing_ok))
        return read(self.manifest(missing_ok=missing_ok))

    def _current(self, spec: TableSpec, *, missing_ok: bool = False) -> pd.DataFrame:
        """Table ``spec`` of the current manifest, read alone (:meth:`_consistent`)."""
        return self._consistent(lambda manifest: self._table(spec, manifest), missing_ok=missing_ok)

    def read_as_one(self, read: Callable[[], T]) -> T:
        """``read()``, reads of several manifests (each read of the store reads the current
        one), as one: read again when a write replaced the manifest meanwhile, or a table file
        as it was read (:class:`_Overtaken`: one read's "read again")."""

        def refusal(_: object) -> StoreError:
            return StoreError(
                f"{self.uri}: other processes wrote to the store while this read it, "
                f"{READ_ATTEMPTS} times: read again when they have finished"
            )

        return read_unchanged(read, self.manifest, refusal, overtaken=_Overtaken)[0]

    def _table(self, spec: TableSpec, manifest: dict[str, Any]) -> pd.DataFrame:
        df = self._read(spec.name, manifest)
        if df is None:
            return stored_form(spec, empty(spec))
        return stored_form(spec, df, sort=False)  # stored sorted; restores dtypes and lists

    def _vectors(self, manifest: dict[str, Any]) -> pd.DataFrame:
        df = self._read(VECTORS, manifest)
        if df is None:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in _VECTOR_COLUMNS})
        return df

    def _graph(self, manifest: dict[str, Any]) -> GraphTables:
        return GraphTables(**{spec.name: self._table(spec, manifest) for spec in GRAPH_TABLES})

    def snapshot(self) -> GraphTables:
        return self._consistent(self._graph)

    def stats(self) -> dict[str, Any]:
        return self._consistent(
            lambda manifest: table_stats(
                self._graph(manifest), self._table(RECOMMENDATIONS, manifest)
            )
        )

    def item_domains(self) -> dict[str, int]:
        items = self._current(SPECS["items"], missing_ok=True)
        counts = items["domain"].value_counts().sort_index()
        return {str(name): int(n) for name, n in counts.items() if n}

    def _read_vectors(self, kind: str, property: str) -> tuple[list[str], np.ndarray]:
        rows = self._vector_rows(kind, property, ["key", "vector"])
        if rows is None or not rows.num_rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        rows = rows.sort_by("key")
        vectors = rows["vector"].to_numpy(zero_copy_only=False)
        return rows["key"].to_pylist(), np.stack(vectors).astype(np.float32)

    def _holds_attribute(self, kind: str, property: str) -> bool:
        table, _ = node_kind(kind)
        return property in self._current(SPECS[table]).columns

    def _vector_dimension(self, kind: str, property: str) -> int | None:
        rows = self._vector_rows(kind, property, ["vector"])
        return len(rows["vector"][0]) if rows is not None and rows.num_rows else None

    def _vector_rows(self, kind: str, property: str, columns: list[str]) -> pa.Table | None:
        """``columns`` of the VECTORS table's rows of ``kind.property`` (None: the store has no
        vectors), left in Arrow: the rows of other kinds and properties are skipped as the file
        is read (by its row groups' statistics where they tell), and no vector of them becomes
        an array, as reading the whole table makes each one."""
        data = self._consistent(lambda manifest: self._read_bytes(VECTORS, manifest))
        if data is None:
            return None
        return pq.read_table(
            io.BytesIO(data),
            columns=columns,
            filters=[("kind", "==", kind), ("property", "==", property)],
        )

    def recommendations(self, run: str | None = None) -> pd.DataFrame:
        if run is not None:
            run = run_argument(run)  # 5 or "" names no run: refused, not an empty table
        table = self._current(RECOMMENDATIONS)
        if run is not None:
            table = table[table["run"] == run]
        return table.sort_values(["run", "user_id", "rank"], ignore_index=True)

    def explain(self, user_id: str, item_uid: str, *, k: int = 5) -> pd.DataFrame:
        """As :meth:`GraphStore.explain`. The graph's index is built once and kept while the
        manifest names the same table files (their names hold a hash of their content), so
        repeated explanations in one session cost the path search alone; any write to the
        store, by this process or another, is seen at the next call."""
        k = check_k(k)  # before the graph is read, as Neo4jStore checks them
        user_id, item_uid = id_argument(user_id, "user"), id_argument(item_uid, "item")
        return explain(self._consistent(self._graph_index), user_id, item_uid, k=k)

    def _graph_index(self, manifest: dict[str, Any]) -> GraphIndex:
        """:meth:`explain`'s index of the graph ``manifest`` names: the one kept while it names
        the same table files, else a new one, kept."""
        files = tuple(manifest["tables"].get(spec.name, {}).get("file") for spec in GRAPH_TABLES)
        if self._explain_index is None or self._explain_index[0] != files:
            self._explain_index = (files, GraphIndex(self._graph(manifest)))
        return self._explain_index[1]

    def user_interactions(self, user_ids: list[str]) -> pd.DataFrame:
        return self._interaction_pairs("user_id", id_arguments(user_ids, "users"))

    def item_interactions(self, uids: list[str]) -> pd.DataFrame:
        return self._interaction_pairs("item_uid", id_arguments(uids, "items"))

    def _interaction_pairs(self, column: str, values: list[str]) -> pd.DataFrame:
        """(``user_id``, ``item_uid``) of the interactions whose ``column`` is in ``values``."""
        interactions = self._current(SPECS["interactions"])
        rows = interactions[interactions[column].isin(list(values))]
        return rows[["user_id", "item_uid"]].sort_values(["user_id", "item_uid"], ignore_index=True)

    def _user_ids(self, among: list[str] | None, limit: int | None) -> list[str]:
        ids = self._current(SPECS["users"])["user_id"]
        if among is not None:
            ids = ids[ids.isin(among)]
        return sorted(map(str, ids))[:limit]

    def _held_entities(self, manifest: dict[str, Any]) -> pd.Series:
        """The ids of the entities the triples name and the items' ties, in ``manifest``'s
        tables."""
        knowledge = self._table(SPECS["knowledge"], manifest)
        return held_entity_keys(knowledge, self._table(SPECS["items"], manifest))

    def _entity_ids(self, among: list[str] | None, limit: int | None) -> list[str]:
        ids = self._consistent(self._held_entities, missing_ok=True)  # none if never written
        if among is not None:
            ids = ids[ids.isin(among)]
        return sorted(set(map(str, ids)))[:limit]

    def _name_only_entities(
        self, among: list[str] | None, limit: int | None
    ) -> tuple[int, list[str]]:
        def read(manifest: dict[str, Any]) -> pd.Series:  # named entities no triple names
            entities = self._table(SPECS["entities"], manifest)
            ids = entities.loc[entities["name"].notna(), "entity_id"]  # blanks are stored NA
            return ids[~ids.isin(self._held_entities(manifest))]

        ids = self._consistent(read, missing_ok=True)  # a store never written holds none
        if among is not None:
            ids = ids[ids.isin(among)]
        ids = sorted(set(map(str, ids)))
        return len(ids), ids[:limit]

    def items(self, uids: list[str]) -> pd.DataFrame:
        items = self._current(SPECS["items"])
        uids = id_arguments(uids, "items")
        return items[items["uid"].isin(uids)].sort_values("uid", ignore_index=True)

    # -- checking --------------------------------------------------------------------------

    def check(self) -> None:
        self._check_folder()
        parent = next(p for p in (self.path, *self.path.parents) if p.exists())
        if not parent.is_dir():  # local:afile/store
            raise StoreError(f"{self.uri}: {parent} is a file, not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise StoreError(f"{self.uri}: cannot write in {parent} (permission denied)")

    def holds_graph(self) -> bool:
        return (self.path / MANIFEST).exists()

    def _check_folder(self) -> None:
        """A StoreError unless the folder is absent, a store, or holds nothing but what a store
        writes (a first write that failed): the store never writes among other files."""
        if (self.path / MANIFEST).exists() or not self.path.is_dir():
            return
        try:
            foreign = sorted(
                entry.name for entry in self.path.iterdir() if not _written_by_a_store(entry.name)
            )
        except OSError as exc:
            raise StoreError(f"{self.uri}: cannot read the store folder: {exc}") from exc
        if foreign:
            raise StoreError(
                f"{self.uri}: {self.path} is not empty ({few(foreign)}) and holds no store "
                f"({MANIFEST}): a store is a folder of its own; give a new or empty folder"
            )
        entries = list(self.path.iterdir())
        tables = sorted(p.name for p in entries if TABLE_FILE.fullmatch(p.name))
        if tables and not any(_first_write_marker(p.name) for p in entries):
            # a write would take them for garbage and delete them
            raise StoreError(
                f"{self.uri}: {self.path} holds table files ({few(tables)}) but no "
                f"{MANIFEST}: a store whose manifest was lost (restore it), or a first write "
                "that was killed (then delete the folder); kgrec deletes none of them"
            )

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        graph: GraphTables,
        *,
        progress: bool = True,
        clear: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> dict[str, int]:
        start = time.perf_counter()
        batch = prepare(graph)
        with self._locked():
            manifest = self.manifest(missing_ok=True)
            stored = {spec.name: self._table(spec, manifest) for spec in GRAPH_TABLES}
            batch, cleared = self._checked(batch, manifest, stored, clear)
            merged = {}
            written = {}
            for spec in tqdm(
                GRAPH_TABLES, desc="tables", bar_format=TABLES_BAR, disable=not progress
            ):
                rows = getattr(batch, spec.name)
                written[spec.name] = len(rows)
                if len(rows):
                    old = stored[spec.name]
                    merged[spec.name] = coalesce(spec, [old, rows]) if len(old) else rows
            for kind, names in cleared.items():  # the stored values the merge kept
                table, _ = node_kind(kind)
                merged[table] = clear_attributes(kind, merged[table], names)
            self._attach_to_items(manifest, stored, merged)
            self._commit(manifest, merged, progress=progress)
        log.info(
            "wrote %s to %s in %.1f s",
            ", ".join(f"{n} {name}" for name, n in written.items()),
            self.uri,
            time.perf_counter() - start,
        )
        return written

    def check_write(
        self,
        graph: GraphTables,
        *,
        clear: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        batch = prepare(graph)

        def check(manifest: dict[str, Any]) -> None:  # read only: no lock, no folder made
            stored = {spec.name: self._table(spec, manifest) for spec in GRAPH_TABLES}
            self._checked(batch, manifest, stored, clear)

        self._consistent(check, missing_ok=True)

    def _checked(
        self,
        batch: GraphTables,
        manifest: dict[str, Any],
        stored: dict[str, pd.DataFrame],
        clear: Mapping[str, Mapping[str, Sequence[str]]] | None,
    ) -> tuple[GraphTables, dict[str, dict[str, list[str]]]]:
        """``batch`` (prepared) checked against the ``stored`` tables as :meth:`write` checks
        it, with its knowledge attached to the items its entities are; and ``clear`` checked
        (:func:`~kgrec.store.canonical.check_cleared`)."""
        unknown = referenced_items(batch).difference(pd.Index(stored["items"]["uid"]))
        if len(unknown):
            raise unknown_keys_error("Item", unknown, "interactions or knowledge rows")
        check_entity_ties(batch.items, stored["items"])
        # knowledge naming an entity tied to an item is the item's, as in Neo4jStore.write:
        # no Entity row is written (nor counted) for it
        ties, new_ties = linked_items(stored["items"]), linked_items(batch.items)
        ties = ties[~ties.isin(new_ties.to_numpy())]
        item_of = pd.concat([ties, new_ties])
        entities = batch.entities
        batch, gone = attach_to_items(batch, item_of)
        warn_names_of_items(entities, item_of, gone)
        held = stored["entities"]  # the names the load's ties take from the store
        warn_names_tied(
            held[held["entity_id"].isin(new_ties.index) & held["name"].notna()], new_ties
        )
        vectors = {}  # kind -> properties
        if has_attributes(batch) or clear:  # else no clash: the vectors need not be read
            by_kind = self._vectors(manifest).groupby("kind")["property"]
            vectors = by_kind.unique().map(list).to_dict()
            check_attributes_against_vectors(batch, vectors)
        return batch, check_cleared(batch, clear, vectors)

    def _attach_to_items(
        self, manifest: dict[str, Any], stored: dict[str, pd.DataFrame], merged: dict
    ) -> None:
        """Across loads, an entity tied to an item is that item: knowledge naming it attaches
        to the item, and an Entity node an earlier load made for it goes, with its vectors
        (:func:`~kgrec.store.canonical.attach_to_items`). Changes ``merged`` in place."""
        graph = GraphTables(**{name: merged.get(name, stored[name]) for name in stored})
        attached, gone = attach_to_items(graph, linked_items(graph.items))
        if attached is graph:
            return
        merged["knowledge"], merged["entities"] = attached.knowledge, attached.entities
        vectors = self._vectors(manifest)
        drop = (vectors["kind"] == "Entity") & vectors["key"].isin(gone)
        if drop.any():
            merged[VECTORS] = vectors[~drop].reset_index(drop=True)

    def write_vectors(
        self, kind: str, keys: list[str], vectors: np.ndarray, *, property: str
    ) -> None:
        self._set_vectors({kind: (keys, vectors)}, property, replace=False)

    def replace_vectors(
        self,
        vectors: Mapping[str, tuple[Sequence[str], np.ndarray]],
        *,
        property: str,
        model: Mapping[str, str] | None = None,
    ) -> dict[str, int]:
        return self._set_vectors(vectors, property, replace=True, model=model)

    def _vector_model(self, property: str) -> dict[str, str] | None:
        model = _vector_models(self.manifest(), self.uri).get(property)
        if model is None or "name" not in model:  # none, or a run's (vector_run)
            return None
        return {k: v for k, v in model.items() if k in MODEL_FIELDS}

    def _vector_run(self, property: str) -> dict[str, Any] | None:
        record = _vector_models(self.manifest(), self.uri).get(property)
        if record is None or "run" not in record:  # none, or a text model's (vector_model)
            return None
        return {k: v for k, v in record.items() if k not in MODEL_FIELDS}

    def _set_vectors(
        self,
        vectors: Mapping[str, tuple[Sequence[str], np.ndarray]],
        property: str,
        *,
        replace: bool,
        model: Mapping[str, str] | None = None,
    ) -> dict[str, int]:
        """Every kind's rows in one commit; with ``replace``, the kind's other rows of
        ``property`` go (how many, by kind), else they stay. ``model`` is recorded in the
        manifest (``vector_models``) as ``property``'s, in the same commit; a replacement
        without one removes ``property``'s record there."""
        checked = checked_vectors(vectors, property)
        with self._locked():
            manifest, frames, dropped = self._vector_change(
                self.manifest(missing_ok=True), checked, property, replace=replace, model=model
            )
            if frames:
                self._commit(manifest, frames)
        return dropped

    def _vector_change(
        self,
        manifest: dict[str, Any],
        checked: dict[str, tuple[list[str], np.ndarray]],
        property: str,
        *,
        replace: bool,
        model: Mapping[str, str] | None = None,
        run: dict[str, Any] | None = None,
        cleared: list[str] | None = None,
    ) -> tuple[dict[str, Any], dict[str, pd.DataFrame], dict[str, int]]:
        """What :meth:`_set_vectors` commits of ``checked`` (kind -> keys and the matrix
        :func:`vector_rows` checked), under the lock: the manifest, the vectors table (none when
        nothing changes), and how many rows each kind lost. ``model`` (a text model's) or
        ``run`` (a publish's, :func:`publish_record`) becomes ``property``'s record; with
        ``replace`` and neither, ``property`` has none. ``cleared``: users who lose their
        ``property`` vector (:func:`unvectored_users`)."""
        dropped: dict[str, int] = {}
        stored = self._vectors(manifest)
        parts = []
        for kind, (keys, matrix) in checked.items():
            table, column = node_kind(kind)
            nodes = self._table(SPECS[table], manifest)
            unknown = pd.Index(keys).difference(pd.Index(nodes[column]))
            if len(unknown):
                raise unknown_keys_error(kind, unknown, "vectors")
            check_vector_property(kind, property, attribute=property in nodes.columns)
            same = (stored["kind"] == kind) & (stored["property"] == property)
            if _holds(stored[same if replace else same & stored["key"].isin(keys)], keys, matrix):
                if replace:  # the store holds these already: an embed run again writes nothing
                    dropped[kind] = 0
                continue
            if keys:
                if not replace:  # a replacement may change the dimension
                    check_dimension(kind, property, _dimension(stored[same]), matrix.shape[1])
                parts.append(
                    pd.DataFrame(
                        {
                            "kind": kind,
                            "key": keys,
                            "property": property,
                            "vector": list(matrix),
                        }
                    )
                )
            listed = stored["key"].isin(keys)
            if replace:
                dropped[kind] = int((same & ~listed).sum())
                stored = stored[~same]
            else:
                stored = stored[~(same & listed)]
        if cleared:
            gone = (
                (stored["kind"] == "User")
                & (stored["property"] == property)
                & stored["key"].isin(cleared)
            )
            dropped["User"] = dropped.get("User", 0) + int(gone.sum())
            stored = stored[~gone]
        record = None if run is None else dict(run)  # a publish's: in place of the one there
        if model is not None:
            record = {"name": str(model["name"]), "identity": str(model["identity"])}
            if model.get("templates") is not None:  # which templates made the texts
                record["templates"] = str(model["templates"])
            if model.get("interactions") is not None:  # whether the texts read them
                record["interactions"] = str(model["interactions"])
        recorded = False
        if record is not None or replace:  # the manifest _commit writes carries the change
            # a replacement that gives no record leaves none: the one there was the old vectors'
            models = _vector_models(manifest, self.uri)
            recorded = models.get(property) != record
            if record is None:
                models.pop(property, None)
            else:
                models[property] = record
            manifest = {**manifest, VECTOR_MODELS: models}
        if not (parts or any(dropped.values()) or recorded):
            return manifest, {}, dropped
        frames = [frame for frame in (stored, *parts) if len(frame)]
        table_ = pd.concat(frames, ignore_index=True) if frames else stored
        table_ = table_.sort_values(["kind", "property", "key"], ignore_index=True)
        return manifest, {VECTORS: table_}, dropped

    def _drop_vectors(self, kind: str, keep: list[str], property: str) -> int:
        with self._locked():
            manifest = self.manifest(missing_ok=True)
            stored = self._vectors(manifest)
            drop = (
                (stored["kind"] == kind)
                & (stored["property"] == property)
                & ~stored["key"].isin(list(keep))
            )
            if drop.any():
                self._commit(manifest, {VECTORS: stored[~drop].reset_index(drop=True)})
            return int(drop.sum())

    def publish(
        self,
        recommendations: pd.DataFrame,
        *,
        run: str,
        users: list[str] | None = None,
        vectors: Mapping[str, tuple[Sequence[str], np.ndarray]] | None = None,
        property: str | None = None,
        run_record: Mapping[str, Any] | None = None,
    ) -> int:
        table = recommendation_table(recommendations, run)
        users = check_publish_users(table, users)
        check_publish_property(vectors, property)
        record = publish_record(run, users, run_record, vectors is not None)
        checked = checked_vectors(vectors or {}, property)
        with self._locked():
            manifest = self.manifest(missing_ok=True)
            for kind, column in (("User", "user_id"), ("Item", "item_uid")):
                name, key = node_kind(kind)
                nodes = self._table(SPECS[name], manifest)
                unknown = pd.Index(table[column].unique()).difference(pd.Index(nodes[key]))
                if len(unknown):
                    raise unknown_keys_error(kind, unknown, "recommendations")
            if vectors is not None:
                check_publish_not_text(self.uri, property, self.vector_model(property))
            stored = self._table(RECOMMENDATIONS, manifest)
            replaced = stored["run"] == run
            if users is not None:
                replaced &= stored["user_id"].isin(users)
            merged = stored_form(
                RECOMMENDATIONS, pd.concat([stored[~replaced], table], ignore_index=True)
            )
            # a republish of the edges the store holds writes nothing, as an embed run again
            frames = {} if merged.equals(stored) else {RECOMMENDATIONS.name: merged}
            if vectors is not None:  # the vectors in the same commit (some users': beside)
                manifest, more, _ = self._vector_change(
                    manifest,
                    checked,
                    property,
                    replace=users is None,
                    run=record,
                    cleared=unvectored_users(users, checked),  # keys as ids
                )
                frames |= more
            if frames:
                self._commit(manifest, frames)
        return len(table)

    def break_lock(self) -> dict[str, Any] | None:
        """Nothing to clear: the lock is an OS file lock, which dies with its holder. A folder
        that holds no store (a mistyped path) is a StoreError, as reading it is."""
        self.manifest()
        return None

    def load_lock(self) -> contextlib.AbstractContextManager[None]:
        """The write lock, held for the block (waited for, as every write waits for it): a
        check and the write it allows (``kgrec embed``'s of the text model, a publish's of the
        vectors) are one step, which no other process's write comes between. This object's
        own writes in the block go ahead under it."""
        return self._locked()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store's write lock (creating the folder on a first write) for the block;
        within a block of this object's that holds it already, the block simply runs. A first
        write that fails leaves nothing: the lock file it made goes too, and the folder it made
        (:meth:`_undo_first_write`)."""
        if self._holding:
            yield
            return
        while True:
            made_folder = not self.path.exists()
            lock = self._open_lock()
            with lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not _is_open_file(lock, self.path / LOCK):
                    continue  # a failed first write removed it as this one waited: again
                self._check_folder()  # another process may have filled it meanwhile
                marker = None
                if not (self.path / MANIFEST).exists():  # a first write: say so before any table
                    marker = self.path / f".{FIRST_WRITE}.{os.getpid()}.tmp"
                    try:
                        _new_file(marker).close()
                    except OSError as exc:
                        message = f"{self.uri}: cannot write in the store folder: {exc}"
                        raise StoreError(message) from exc
                self._remove_stale_temp_files(keep=marker)
                self._holding = True
                try:
                    yield
                finally:
                    self._holding = False
                    if marker is not None:
                        marker.unlink(missing_ok=True)
                        self._undo_first_write(made_folder)
                return

    def _open_lock(self) -> BinaryIO:
        """The lock file, opened (made, with the folder, where absent)."""
        self._check_folder()
        if (self.path / LOCK).is_symlink():  # opened, it would make the file it points to
            raise StoreError(
                f"{self.uri}: {LOCK} is a link ({os.readlink(self.path / LOCK)}), where a store "
                f"holds a plain lock file: remove the link {self.path / LOCK}"
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            return open(self.path / LOCK, "ab", opener=no_link)
        except OSError as exc:
            raise StoreError(f"{self.uri}: cannot open the store folder: {exc}") from exc

    def _undo_first_write(self, made_folder: bool) -> None:
        """After a first write that wrote no manifest (failed, stopped), under its lock: remove
        the lock file, and the folder where this write made it and nothing else is in it, so
        that the failure leaves nothing. A writer waiting for the lock finds its file gone and
        opens a new one (:meth:`_locked`)."""
        if (self.path / MANIFEST).exists():
            return
        with contextlib.suppress(OSError):
            (self.path / LOCK).unlink()
            if made_folder:
                self.path.rmdir()  # only where empty: another's file keeps it

    def _remove_stale_temp_files(self, *, keep: Path | None = None) -> None:
        """Delete the temporary files of writers that died mid-write (killed, power cut), but
        ``keep`` (this write's marker)."""
        for entry in self.path.iterdir():
            match = TEMP_FILE.fullmatch(entry.name)
            if match and entry != keep and _plain_file(entry) and not _alive(int(match["pid"])):
                log.info("%s: removing %s, left by a writer that died", self.uri, entry.name)
                entry.unlink(missing_ok=True)

    def _commit(
        self, manifest: dict[str, Any], frames: dict[str, pd.DataFrame], *, progress: bool = False
    ) -> None:
        """Write ``frames`` as new table files, then swap in a manifest naming them; with
        ``progress``, a bar of the files written (the slow part of a large write)."""
        tables = dict(manifest["tables"])
        first = not (self.path / MANIFEST).exists()
        try:
            bar = tqdm(frames.items(), desc="writing", bar_format=TABLES_BAR, disable=not progress)
            for name, df in bar:
                tables[name] = self._write_table(name, df)
            new = {
                "format": FORMAT,
                "schema_version": _schema_version(manifest.get(VECTOR_MODELS)),
                "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "tables": dict(sorted(tables.items())),
            }
            if manifest.get(VECTOR_MODELS):  # kept by every write, set by replace_vectors
                new[VECTOR_MODELS] = manifest[VECTOR_MODELS]
            _replace(self.path / MANIFEST, json.dumps(new, indent=2).encode("utf-8"))
        except OSError as exc:
            raise StoreError(f"{self.uri}: write failed, the store is unchanged: {exc}") from exc
        finally:  # after a failed or stopped (Ctrl-C) one too
            self._collect_garbage(first=first)

    def _write_table(self, name: str, df: pd.DataFrame) -> dict[str, Any]:
        tmp = self.path / f".{name}.{os.getpid()}.tmp"
        try:
            with _new_file(tmp) as out:  # a file, not a path that pandas would expand
                df.to_parquet(out, index=False)
            data = tmp.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            file = f"{name}-{digest[:16]}.parquet"
            _fsync(tmp)
            os.replace(tmp, self.path / file)
        finally:
            tmp.unlink(missing_ok=True)
        return {"file": file, "rows": len(df), "sha256": digest}

    def _collect_garbage(self, *, first: bool = False) -> None:
        """Delete the table files that the current manifest no longer names: earlier writes'
        or, after a ``first`` write that failed or was stopped before its manifest, every one
        (the folder was checked under the lock, so all are this write's, the one renamed into
        place as it was stopped too; with the first write's marker gone as the lock is let go,
        the next write would refuse a folder holding them). Only plain files of the store's
        own naming pattern: nothing else is ever deleted."""
        if first and not (self.path / MANIFEST).exists():
            named = set()
        else:
            try:
                named = {t["file"] for t in self.manifest()["tables"].values()}
            except StoreError:
                return
        for file in self.path.glob("*.parquet"):
            if TABLE_FILE.fullmatch(file.name) and file.name not in named and _plain_file(file):
                file.unlink(missing_ok=True)


_VECTOR_COLUMNS = ("kind", "key", "property", "vector")


class _Overtaken(StoreError):
    """A table file the manifest a reader read named, which a write then replaced and removed."""


def _table_entry(entry: object) -> bool:
    """Whether ``entry`` is a manifest's entry of a table: a table file's name and checksum."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("file"), str)
        and TABLE_FILE.fullmatch(entry["file"]) is not None
        and isinstance(entry.get("sha256"), str)
    )


def _written_by_a_store(name: str) -> bool:
    return (
        name in (MANIFEST, LOCK)
        or TABLE_FILE.fullmatch(name) is not None
        or TEMP_FILE.fullmatch(name) is not None
    )


def _is_open_file(file: BinaryIO, path: Path) -> bool:
    """Whether ``path`` is the file ``file`` has open (not removed or replaced since)."""
    try:
        there = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    here = os.fstat(file.fileno())
    return (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)


def _plain_file(entry: Path) -> bool:
    """Whether ``entry`` is a plain file, as the store writes (a folder or a link of the same
    name is the user's)."""
    return entry.is_file() and not entry.is_symlink()


def not_written_by_a_store(path: Path) -> list[str]:
    """The entries of the store folder ``path`` that no store write made (a user's files, a
    folder or a link): their names, sorted. What must stop anything that would remove the
    store whole."""
    return sorted(
        entry.name
        for entry in path.iterdir()
        if not (_written_by_a_store(entry.name) and _plain_file(entry))
    )


def first_write_left(path: Path) -> tuple[str, int | None] | None:
    """What the folder ``path`` holds where it has no manifest and nothing but what a first
    write into it (the first ``kgrec load`` of a new store) writes: ``("running", pid)`` while
    process ``pid`` writes it, ``("stopped", None)`` where that write was stopped (killed)
    before its manifest; None otherwise (absent, a store, files of another's, or table files
    without a first write's marker: a store whose manifest was lost)."""
    if not path.is_dir() or (path / MANIFEST).exists():
        return None
    try:
        names = [entry.name for entry in path.iterdir()]
    except OSError:
        return None
    if not all(_written_by_a_store(name) for name in names):
        return None
    writers = [int(TEMP_FILE.fullmatch(name)["pid"]) for name in names if _first_write_marker(name)]
    if any(TABLE_FILE.fullmatch(name) for name in names) and not writers:
        return None
    running = [pid for pid in writers if _alive(pid)]
    return ("running", running[0]) if running else ("stopped", None)


def _first_write_marker(name: str) -> bool:
    match = TEMP_FILE.fullmatch(name)
    return match is not None and match["name"] == FIRST_WRITE


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (our own process counts as dead: a temp file
    of ours outside a write is a leftover)."""
    return pid != os.getpid() and process_runs(pid)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_file(path: Path) -> BinaryIO:
    """``path``, a temporary file of this process's name, opened as a new file for writing:
    whatever is there first removed (a link, in a store from elsewhere, is removed, never
    followed: its file is the user's), then made exclusively, which no link passes."""
    path.unlink(missing_ok=True)
    return open(path, "xb")


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file, fsync, ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with _new_file(tmp) as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _vector_models(manifest: dict[str, Any], uri: str) -> dict[str, dict[str, Any]]:
    """The manifest's record of the text model (or the run, since session 29) of each vector
    property (a copy; empty in a store written before session 26)."""
    models = manifest.get(VECTOR_MODELS, {})
    if not isinstance(models, dict) or not all(
        isinstance(m, dict) and (_model_record(m) or _run_record(m)) for m in models.values()
    ):
        raise StoreError(
            f"{uri}: {MANIFEST} is damaged: {VECTOR_MODELS} is not property -> model or run"
        )
    return {property: dict(model) for property, model in models.items()}


def _model_record(record: dict[str, Any]) -> bool:
    """Whether ``record`` is a text model's (``kgrec embed``)."""
    return (
        isinstance(record.get("name"), str)
        and isinstance(record.get("identity"), str)
        and isinstance(record.get("templates", ""), str)
        and isinstance(record.get("interactions", ""), str)
    )


def _run_record(record: dict[str, Any]) -> bool:
    """Whether ``record`` is a publish's (the run its vectors are of)."""
    norm = record.get("item_norm", 0.0)
    return (
        isinstance(record.get("run"), str)
        and isinstance(record.get("weights", ""), str)
        and isinstance(norm, (int, float))
        and not isinstance(norm, bool)
    )


def _schema_version(models: object) -> int:
    """The schema version of a manifest whose ``vector_models`` are ``models``: the newest
    when one is a run's record, else the one before (see SCHEMA_VERSION)."""
    runs = isinstance(models, dict) and any(
        isinstance(record, dict) and _run_record(record) for record in models.values()
    )
    return SCHEMA_VERSION if runs else RUNLESS_SCHEMA_VERSION


def _holds(rows: pd.DataFrame, keys: list[str], matrix: np.ndarray) -> bool:
    """Whether the stored vector ``rows`` are exactly ``keys``' rows of ``matrix``, values and
    dimension (unique keys: :func:`vector_rows` checked them)."""
    if len(rows) != len(keys):
        return False
    if not keys:
        return True
    at = pd.Index(keys).get_indexer(rows["key"])
    if (at < 0).any():
        return False
    stored = np.stack(rows["vector"].to_numpy()).astype(np.float32)
    return np.array_equal(stored, matrix[at])


def _dimension(vectors: pd.DataFrame) -> int | None:
    """The dimension of a kind's property's rows of the VECTORS table (None: no rows)."""
    return len(vectors["vector"].iloc[0]) if len(vectors) else None
