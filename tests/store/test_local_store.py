"""LocalStore: Parquet tables plus an atomically replaced manifest (what only it does; the
behaviour both stores share is in test_contract.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from graph_schema.tables import GraphTables
from kgrec.cli import main
from kgrec.errors import InputError, StoreError
from kgrec.store import LocalStore
from kgrec.store.base import READ_ATTEMPTS


def assert_graphs_equal(a, b) -> None:
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], obj=name)


@pytest.fixture
def store(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture(autouse=True)
def no_read_waits(monkeypatch):
    """A read overtaken by writes tries again at once here: the waits between its tries
    (READ_WAITS, for a writer to end) are tested in tests/store/test_read_unchanged.py."""
    monkeypatch.setattr("kgrec.store.base.READ_WAITS", (0.0, 0.0))


def test_reading_a_store_that_does_not_exist_is_an_error(store, explain_graph):
    for read in (store.snapshot, store.stats, store.recommendations):
        with pytest.raises(StoreError, match=f"no store at {store.path}"):
            read()
    with pytest.raises(StoreError, match="no store at"):
        store.explain("alice", "action:casino")
    with pytest.raises(StoreError, match="no store at"):
        store.read_vectors("Item", property="embedding")
    assert not store.path.exists()  # reading creates nothing
    store.path.mkdir()  # an empty folder is no store either
    with pytest.raises(StoreError, match="no store at"):
        store.stats()
    store.write(explain_graph, progress=False)  # writing creates it
    assert store.stats()["nodes"]["User"] == 4


def test_commands_reading_a_missing_store_say_so(tmp_path, capsys):
    missing = tmp_path / "nothing-here"
    assert main(["graph", "stats", "--store", f"local:{missing}"]) == 2
    assert f"no store at {missing}" in capsys.readouterr().err
    assert main(["explain", "u1", "movies:1", "--store", f"local:{missing}"]) == 2
    assert f"no store at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_writing_twice_keeps_the_very_same_files(store, movies):
    store.write(movies, progress=False)
    manifest = store.manifest()
    before = store.snapshot()
    store.write(movies, progress=False)
    assert_graphs_equal(store.snapshot(), before)
    assert store.manifest()["tables"] == manifest["tables"]  # the very same files
    assert sorted(p.name for p in store.path.glob("*.parquet")) == sorted(
        t["file"] for t in manifest["tables"].values()
    )


def test_a_bad_first_write_creates_no_store(store, movies):
    graph = movies
    graph.knowledge.loc[0, "head_kind"] = "Film"
    with pytest.raises(InputError, match="Film"):
        store.write(graph, progress=False)
    graph = movies
    graph.interactions = graph.interactions.drop(columns="item_uid")
    with pytest.raises(InputError, match="item_uid"):
        store.write(graph, progress=False)
    assert not (store.path / "manifest.json").exists()


def test_a_failed_write_leaves_the_previous_version(store, movies, make_graph, monkeypatch):
    store.write(movies, progress=False)
    manifest = store.manifest()
    before = store.snapshot()
    calls = []
    original = pd.DataFrame.to_parquet

    def crash_on_third_table(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash_on_third_table)
    update = make_graph(
        users=[{"user_id": "u1", "age": "99"}],
        items=[{"domain": "games", "item_id": "7"}],
        interactions=[("u1", "games:7", 1.0, 1.0)],
    )
    with pytest.raises(StoreError, match="disk full"):
        store.write(update, progress=False)
    assert store.manifest() == manifest
    assert_graphs_equal(store.snapshot(), before)
    files = {p.name for p in store.path.iterdir()}
    assert files == {"manifest.json", ".lock", *(t["file"] for t in manifest["tables"].values())}


def test_a_corrupted_table_is_detected(store, movies):
    store.write(movies, progress=False)
    file = store.path / store.manifest()["tables"]["users"]["file"]
    file.write_bytes(file.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(StoreError, match="checksum"):
        store.snapshot()


def test_vector_dimension_reads_one_propertys_rows_not_every_vector(store, movies, monkeypatch):
    """vector_dimension reads the vectors table's file (its checksum checked) but decodes only
    the vector column of the kind's property's rows: the same answers on a store of two
    properties of different dimensions, None where there are no vectors. Before, it read the
    whole table, every vector made an array, to learn one length."""
    store.write(movies, progress=False)
    assert store.vector_dimension("Item", property="embedding") is None  # no vectors table
    store.write_vectors("Item", ["books:1", "movies:1"], np.ones((2, 3)), property="embedding")
    store.write_vectors("Item", ["movies:1"], np.ones((1, 5)), property="other")
    store.write_vectors("User", ["u1"], np.ones((1, 2)), property="embedding")
    answers = {
        ("Item", "embedding"): 3,
        ("Item", "other"): 5,
        ("User", "embedding"): 2,
        ("User", "other"): None,
        ("Entity", "embedding"): None,
    }

    def dimensions():
        return {(kind, vec): store.vector_dimension(kind, property=vec) for kind, vec in answers}

    def every_vector(self, manifest):
        raise AssertionError("the whole vectors table was read")

    with monkeypatch.context() as patched:
        patched.setattr(LocalStore, "_vectors", every_vector)
        assert dimensions() == answers
    for kind, vec in answers:  # every vector dropped: an empty vectors table
        store.drop_vectors(kind, [], property=vec)
    assert dimensions() == dict.fromkeys(answers)
    store.write_vectors("Item", ["movies:1"], np.ones((1, 4)), property="embedding")
    file = store.path / store.manifest()["tables"]["vectors"]["file"]
    file.write_bytes(file.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(StoreError, match="checksum"):
        store.vector_dimension("Item", property="embedding")


def test_read_vectors_reads_one_propertys_rows_not_every_vector(store, movies, monkeypatch):
    """read_vectors reads the vectors table's file (its checksum checked) but decodes only the
    kind's property's rows: their keys, sorted, and vectors, on a store of two kinds and two
    properties of different dimensions; none where there are none; an InputError for no node
    kind. Before, it read the whole table, every vector of every kind and property made an
    array, to give one kind's."""
    store.write(movies, progress=False)
    assert store.read_vectors("Item", property="embedding")[0] == []  # no vectors table
    items = np.arange(6, dtype=np.float32).reshape(2, 3)
    users = np.array([[1.0, 2.0], [3.0, 4.0]])
    store.write_vectors("Item", ["movies:1", "books:1"], items, property="embedding")
    store.write_vectors("Item", ["movies:1"], np.full((1, 5), 7.0), property="other")
    store.write_vectors("User", ["u2", "u1"], users, property="embedding")
    none = ([], np.zeros((0, 0)))
    answers = {
        ("Item", "embedding"): (["books:1", "movies:1"], items[[1, 0]]),
        ("Item", "other"): (["movies:1"], np.full((1, 5), 7.0)),
        ("User", "embedding"): (["u1", "u2"], users[[1, 0]]),
        ("User", "other"): none,
        ("Entity", "embedding"): none,
    }

    def every_vector(self, manifest):
        raise AssertionError("the whole vectors table was read")

    with monkeypatch.context() as patched:
        patched.setattr(LocalStore, "_vectors", every_vector)
        for (kind, vec), (keys, matrix) in answers.items():
            found_keys, found = store.read_vectors(kind, property=vec)
            assert found_keys == keys and found.dtype == np.float32
            np.testing.assert_array_equal(found, matrix)
            assert found.shape == matrix.shape
    with pytest.raises(InputError, match="unknown node kind 'Film'"):
        store.read_vectors("Film", property="embedding")
    file = store.path / store.manifest()["tables"]["vectors"]["file"]
    file.write_bytes(file.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(StoreError, match="checksum"):
        store.read_vectors("Item", property="embedding")


def test_manifest_records_rows_and_checksums(store, movies):
    store.write(movies, progress=False)
    manifest = json.loads((store.path / "manifest.json").read_text())
    assert manifest["format"] == "kgrec-local-store"
    assert manifest["schema_version"] == 1
    assert manifest["tables"]["interactions"]["rows"] == 5
    assert len(manifest["tables"]["users"]["sha256"]) == 64


def test_newer_schema_version_is_refused(store, movies):
    store.write(movies, progress=False)
    path = store.path / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 3}))
    with pytest.raises(StoreError, match=r"newer kgrec \(schema version 3 > 2\); upgrade kgrec"):
        store.stats()


def test_a_manifest_is_version_2_only_while_it_records_a_published_run(store, movies):
    """A publish's run record in vector_models (since session 29) makes the manifest version 2,
    which the release before reads as a newer kgrec's ("upgrade kgrec"), not as damaged; a
    manifest without one is version 1, which that release reads. Both are read. Before, every
    manifest was version 1, one with a run record too."""

    def version():
        return json.loads((store.path / "manifest.json").read_text())["schema_version"]

    store.write(movies, progress=False)
    assert version() == 1
    text = {"name": "a", "identity": "a@1"}
    store.replace_vectors({"Item": (["movies:1"], np.ones((1, 2)))}, property="t", model=text)
    assert version() == 1  # a text model's record
    recs = pd.DataFrame(
        {"user_id": ["u1"], "item_uid": ["movies:1"], "score": [0.9], "rank": [1], "model": "m"}
    )
    store.publish(recs, run="r1", vectors={"User": (["u1"], np.ones((1, 3)))}, property="embedding")
    assert version() == 2
    assert store.vector_run("embedding") == {"run": "r1"}  # read
    store.write(movies, progress=False)  # a load keeps the record, and the version
    assert version() == 2 and store.vector_model("t") == text
    store.replace_vectors({"User": (["u1"], np.ones((1, 3)))}, property="embedding")
    assert version() == 1  # no run record left
    assert store.vector_run("embedding") is None and store.stats()["nodes"]["User"] == 3


def test_a_republish_that_changes_nothing_writes_nothing(store, movies):
    """Publishing a run's recommendations (and vectors) again, unchanged, leaves the manifest
    as it is, as an embed of an unchanged store does; a publish that changes them writes it.
    Before, every publish wrote the manifest again (found by the embed37 review)."""
    store.write(movies, progress=False)
    recs = pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "item_uid": ["movies:1", "books:1"],
            "score": [0.9, 0.7],
            "rank": [1, 1],
            "model": "m",
        }
    )
    vectors = {"User": (["u1", "u2"], np.ones((2, 3))), "Item": (["books:1"], np.ones((1, 3)))}
    store.publish(recs, run="r1", vectors=vectors, property="embedding")
    store.publish(recs.iloc[:1], run="r2")
    manifest = store.path / "manifest.json"

    def written():  # a write replaces the file: another inode
        stat = manifest.stat()
        return stat.st_ino, stat.st_mtime_ns, manifest.read_bytes()

    before = written()
    store.publish(recs, run="r1", vectors=vectors, property="embedding")
    store.publish(recs.iloc[:1], run="r2")
    u1 = {"User": (["u1"], np.ones((1, 3)))}
    store.publish(recs.iloc[:1], run="r1", users=["u1"], vectors=u1, property="embedding")
    assert written() == before
    store.publish(recs.assign(score=[0.8, 0.7]), run="r1")  # another score: written
    assert written() != before
    assert store.recommendations("r1")["score"].tolist() == [0.8, 0.7]


# -- the store touches only its own files ---------------------------------------------------


def test_a_folder_that_holds_other_files_is_refused_and_kept(tmp_path, movies):
    folder = tmp_path / "u"
    folder.mkdir()
    (folder / "ratings.parquet").write_bytes(b"the user's own data")
    (folder / "notes.txt").write_text("keep me")
    store = LocalStore(folder)
    for attempt in (store.check, lambda: store.write(movies, progress=False)):
        with pytest.raises(StoreError, match=f"{folder} is not empty .* and holds no store"):
            attempt()
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "ratings.parquet"]
    assert (folder / "ratings.parquet").read_bytes() == b"the user's own data"


def test_load_into_the_folder_of_its_own_input_keeps_the_input(tmp_path, capsys):
    """The issue's case: `kgrec load table /tmp/u/ratings.parquet ... --store local:/tmp/u`."""
    folder = tmp_path / "u"
    folder.mkdir()
    ratings = folder / "ratings.parquet"
    pd.DataFrame({"user_id": ["1", "2"], "item_id": ["a", "b"], "rating": [4.0, 5.0]}).to_parquet(
        ratings
    )
    data = ratings.read_bytes()
    argv = ["load", "table", str(ratings), "--kind", "interactions", "--domain", "books"]
    assert main([*argv, "--store", f"local:{folder}"]) == 2
    assert "holds no store" in capsys.readouterr().err
    assert ratings.read_bytes() == data
    assert sorted(p.name for p in folder.iterdir()) == ["ratings.parquet"]


def test_files_that_are_not_the_stores_survive_its_writes(store, movies, make_graph):
    store.write(movies, progress=False)
    mine = ["ratings.parquet", "users-old.parquet", "users-0123456789ABCDEF.parquet", "a.tmp"]
    for name in mine:
        (store.path / name).write_text("not the store's")
    store.write(make_graph(users=[{"user_id": "u9"}]), progress=False)
    left = {p.name for p in store.path.iterdir()}
    assert set(mine) <= left
    assert left - set(mine) == {
        "manifest.json",
        ".lock",
        *(t["file"] for t in store.manifest()["tables"].values()),
    }


def test_folders_named_as_the_stores_files_are_kept_and_writes_go_on(
    store, movies, make_graph, dead_pid
):
    """Before, a folder of the user's in the store named as a table or temporary file the
    store writes (``users-0123456789abcdef.parquet/``, ``.mine.<pid>.tmp/``) stopped every
    write with a bare IsADirectoryError, the one that removes garbage after its manifest."""
    store.write(movies, progress=False)
    folders = ["users-0123456789abcdef.parquet", f".mine.{dead_pid}.tmp"]
    for name in folders:
        (store.path / name).mkdir()
        (store.path / name / "data").write_text("the user's")
    store.write(make_graph(users=[{"user_id": "u9"}]), progress=False)
    assert "u9" in set(store.snapshot().users["user_id"])
    for name in folders:
        assert (store.path / name / "data").read_text() == "the user's"


def test_a_read_that_a_write_overtakes_reads_the_new_graph(store, movies, make_graph, monkeypatch):
    """Before, a snapshot (or `kgrec graph stats`) that another process's write overtook, between
    its manifest and a table file the write then removed, failed ("cannot read ...: No such
    file or directory"): about one read in seven while a writer loaded in a loop. Now it reads
    the new graph, and after three such tries says that another process wrote meanwhile."""
    store.write(movies, progress=False)
    real, reads = store.manifest, []

    def overtaken(**kwargs):
        manifest = real(**kwargs)
        reads.append(manifest)
        if len(reads) == 1 or always:  # another process writes before the tables are read
            users = [{"user_id": f"w{len(reads)}"}]
            LocalStore(store.path).write(make_graph(users=users), progress=False)
        return manifest

    monkeypatch.setattr(store, "manifest", overtaken)
    always = False
    assert "w1" in set(store.snapshot().users["user_id"])
    always = True
    with pytest.raises(StoreError, match="another process wrote to the store while this read"):
        store.stats()


def test_a_vectors_file_replaced_as_it_is_read_is_read_again_as_one(store, movies, monkeypatch):
    """Before, read_as_one (read_graph's tables and text vectors) read again when the manifest
    changed between its reads, but a write that replaced the vectors file while read_vectors
    read it (between its manifest and the file, which the write then removed) ended the read
    with that one read's "another process wrote to the store while this read it ... read
    again". Now it is read again, as a manifest changed meanwhile is; an error that says
    nothing of a write (a damaged file) is raised at once, not read again."""
    store.write(movies, progress=False)
    store.replace_vectors({"User": (["u1", "u2"], np.ones((2, 3)))}, property="txt")
    real, writes = store._read_bytes, []

    def replaced_as_read(name, manifest):
        if name == "vectors" and not writes:  # another process replaces the vectors first
            writes.append(
                LocalStore(store.path).replace_vectors(
                    {"User": (["u1", "u2", "u3"], np.full((3, 3), 2.0))}, property="txt"
                )
            )
        return real(name, manifest)

    monkeypatch.setattr(store, "_read_bytes", replaced_as_read)
    reads = []

    def read():
        reads.append(1)
        return store.snapshot(), store.read_vectors("User", property="txt")

    tables, (keys, vectors) = store.read_as_one(read)
    assert len(writes) == 1 and len(reads) == 2
    assert keys == ["u1", "u2", "u3"] and np.array_equal(vectors, np.full((3, 3), 2.0))
    assert set(keys) == set(tables.users["user_id"])
    monkeypatch.undo()
    file = store.path / store.manifest()["tables"]["vectors"]["file"]
    file.write_bytes(b"damaged")
    reads.clear()
    with pytest.raises(StoreError, match="does not match its checksum"):
        store.read_as_one(read)
    assert len(reads) == 1


SINGLE_READS = {  # each reads one table, or the graph's (explain, check_write), alone
    "items": lambda s: s.items(["movies:1", "w1:1"]),
    "user_interactions": lambda s: s.user_interactions(["u1", "w1"]),
    "item_interactions": lambda s: s.item_interactions(["movies:1", "w1:1"]),
    "explain": lambda s: s.explain("u1", "movies:2"),
    "user_ids": lambda s: s.user_ids(),
    "item_domains": lambda s: s.item_domains(),
    "holds_attribute": lambda s: s.holds_attribute("User", "age"),
    "read_vectors": lambda s: s.read_vectors("User", property="txt"),
    "vector_dimension": lambda s: s.vector_dimension("User", property="txt"),
    "recommendations": lambda s: s.recommendations(),
    "check_write": lambda s: s.check_write(
        GraphTables(users=pd.DataFrame({"user_id": pd.Series(["x"], dtype="string")}))
    ),
}


@pytest.mark.parametrize("read", SINGLE_READS)
def test_a_single_read_whose_file_a_write_replaces_is_read_again(
    store, movies, make_graph, monkeypatch, read
):
    """Before, only the whole-graph reads (snapshot, stats) and read_as_one read again when a
    write in another process replaced and removed a table file between their manifest and the
    file; the reads of one table (items, user_interactions, explain: `kgrec explain`, `kgrec
    recommend --user` while a load writes the store) stopped at once with "another process
    wrote to the store while this read it (...): read again". Now they read the new files, and
    are refused with that message only after READ_ATTEMPTS such tries."""
    recs = pd.DataFrame(
        {"user_id": ["u1"], "item_uid": ["movies:1"], "score": [0.9], "rank": [1], "model": "m"}
    )
    store.write(movies, progress=False)
    store.replace_vectors({"User": (["u1", "u2"], np.ones((2, 3)))}, property="txt")
    store.publish(recs, run="r0")
    writes = []

    def overtaken(reader, *, always):
        """The names of the tables ``reader`` reads from now on, before the first (or every)
        of which another process writes, replacing every table file."""
        real, reads = reader._read_bytes, []

        def replaced_as_read(name, manifest):
            reads.append(name)
            if len(reads) == 1 or always:
                writes.append(name)
                n, writer = len(writes), LocalStore(store.path)
                graph = make_graph(
                    users=[{"user_id": f"w{n}", "age": str(n)}],
                    items=[{"domain": f"w{n}", "item_id": "1"}],
                    entities=[{"entity_id": f"e{n}"}],
                    interactions=[(f"w{n}", f"w{n}:1", 1.0, 1.0), ("u1", f"w{n}:1", 1.0, 1.0)],
                    knowledge=[("Item", f"w{n}:1", "r", "Entity", f"e{n}")],
                )
                writer.write(graph, progress=False)
                writer.replace_vectors({"User": ([f"w{n}"], np.full((1, 3), n))}, property="txt")
                writer.publish(recs, run=f"r{n}")
            return real(name, manifest)

        monkeypatch.setattr(reader, "_read_bytes", replaced_as_read)
        return reads

    reads = overtaken(store, always=False)
    result = SINGLE_READS[read](store)
    assert reads.count(reads[0]) == 2  # overtaken once, then read again
    assert_same(result, SINGLE_READS[read](LocalStore(store.path)))  # the graph the write left
    again = LocalStore(store.path)  # a new reader: explain's index is of no graph yet
    reads = overtaken(again, always=True)
    with pytest.raises(
        StoreError,
        match=r"another process wrote to the store while this read it \(.+ was replaced\): "
        "read again",
    ):
        SINGLE_READS[read](again)
    assert len(reads) == READ_ATTEMPTS


def assert_same(a, b) -> None:
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_temp_files_of_a_killed_writer_are_removed_by_the_next_write(
    store, movies, make_graph, dead_pid
):
    store.write(movies, progress=False)
    stale = store.path / f".interactions.{dead_pid}.tmp"
    stale.write_bytes(b"half a parquet file")
    stale_manifest = store.path / f".manifest.json.{dead_pid}.tmp"
    stale_manifest.write_text("{")
    alive = store.path / f".users.{os.getppid()}.tmp"  # a live process: not touched
    alive.write_bytes(b"?")
    store.write(make_graph(users=[{"user_id": "u9"}]), progress=False)
    assert not stale.exists() and not stale_manifest.exists()
    assert alive.exists()


def test_a_write_never_follows_a_link_at_its_temporary_files_names(
    store, movies, make_graph, tmp_path
):
    """A store from elsewhere (a copied or unpacked folder) holding links named as this
    process's temporary files (``.NAME.PID.tmp``, which a writer that died would leave as
    plain files): the write opened them as they were, so wrote the table, the manifest, or
    created the first write's marker, in the files they point to, the user's. Now each link
    is removed and the files it points to stay as they were (found by the sec43 review)."""
    theirs = tmp_path / "notes.txt"
    theirs.write_text("the user's own\n")
    missing = tmp_path / "never-made"
    pid = os.getpid()
    first = tmp_path / "first"
    first.mkdir()
    (first / f".first_write.{pid}.tmp").symlink_to(missing)
    LocalStore(first).write(movies, progress=False)
    store.write(movies, progress=False)
    for name in ("users", "interactions", "manifest.json"):
        (store.path / f".{name}.{pid}.tmp").symlink_to(theirs)
    store.write(make_graph(users=[{"user_id": "u9"}]), progress=False)
    assert theirs.read_text() == "the user's own\n"
    assert not missing.exists()
    assert "u9" in set(store.snapshot().users["user_id"])
    for name in ("users", "manifest.json"):  # the files written: their links are gone
        assert not (store.path / f".{name}.{pid}.tmp").is_symlink()


def test_a_link_at_the_lock_files_name_is_refused_not_followed(store, movies, tmp_path):
    """A store from elsewhere whose ``.lock`` is a link to a missing file: the write opened
    it for appending, which made an empty file where the link pointed, outside the store
    (reported by the sec43 review). It is refused, naming the link, and nothing is made."""
    store.write(movies, progress=False)
    missing = tmp_path / "never-made"
    (store.path / ".lock").unlink(missing_ok=True)
    (store.path / ".lock").symlink_to(missing)
    with pytest.raises(StoreError, match=r"\.lock is a link"):
        store.write(movies, progress=False)
    assert not missing.exists()
    assert (store.path / ".lock").is_symlink()


def test_a_writer_killed_mid_write_leaves_the_store_readable_and_clean(tmp_path):
    """SIGKILL while a table is written: the previous graph stays; the next write cleans up."""
    folder = tmp_path / "store"
    script = f"""
import os, signal, pandas as pd
from kgrec.store import LocalStore
from graph_schema.tables import GraphTables
store = LocalStore({str(folder)!r})
users = lambda ids: GraphTables(users=pd.DataFrame({{"user_id": pd.Series(ids, dtype="string")}}))
store.write(users(["a"]), progress=False)
original = pd.DataFrame.to_parquet
def killed(self, path, *args, **kwargs):
    original(self, path, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
pd.DataFrame.to_parquet = killed
store.write(users(["b"]), progress=False)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert leftovers and leftovers[0].startswith(".users.")
    store = LocalStore(folder)
    assert list(store.snapshot().users["user_id"]) == ["a"]
    store.write(store.snapshot(), progress=False)
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_explain_builds_its_index_once_and_sees_a_later_write(
    store, explain_graph, make_graph, monkeypatch
):
    import kgrec.store.local

    built = []

    class CountedIndex(kgrec.store.local.GraphIndex):
        def __init__(self, tables):
            built.append(len(tables.interactions))
            super().__init__(tables)

    monkeypatch.setattr(kgrec.store.local, "GraphIndex", CountedIndex)
    store.write(explain_graph, progress=False)
    casino = "Item:action:casino"
    assert casino not in _path_nodes(store.explain("dave", "action:heat"))  # dave has only X
    first = store.explain("alice", "action:casino")
    assert len(first) > 0 and built == [7]  # one index for both calls
    # another process (another store object on the same folder) adds dave's Casino
    LocalStore(store.path).write(
        make_graph(interactions=[("dave", "action:casino", None, None)]), progress=False
    )
    assert casino in _path_nodes(store.explain("dave", "action:heat"))
    assert built == [7, 8]
    pd.testing.assert_frame_equal(store.explain("alice", "action:casino"), first)
    assert built == [7, 8]


def _path_nodes(paths: pd.DataFrame) -> set[str]:
    return {node for nodes in paths["nodes"] for node in nodes}


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ([1, 2], "not a kgrec local store manifest"),
        ({"format": "kgrec-local-store", "schema_version": "2", "tables": {}}, "damaged"),
        ({"format": "kgrec-local-store", "schema_version": 1}, "damaged"),
        ({"format": "kgrec-local-store", "schema_version": 1, "tables": {"users": {}}}, "damaged"),
        (
            {
                "format": "kgrec-local-store",
                "schema_version": 1,
                "tables": {"users": {"file": "../users-0123456789abcdef.parquet", "sha256": "0"}},
            },
            "damaged",
        ),
    ],
)
def test_a_damaged_manifest_is_a_store_error(store, movies, manifest, message, capsys):
    # before: an AttributeError, TypeError or KeyError traceback, on reading and on writing
    store.write(movies, progress=False)
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=message):
        store.snapshot()
    with pytest.raises(StoreError, match=message):
        store.write(movies, progress=False)
    assert main(["graph", "stats", "--store", store.uri]) == 2
    assert message in capsys.readouterr().err


def test_a_store_whose_manifest_was_lost_is_refused_and_kept(store, movies, make_graph):
    # before: the next write took the table files for a failed first write's and deleted them
    store.write(movies, progress=False)
    tables = sorted(p.name for p in store.path.glob("*.parquet"))
    (store.path / "manifest.json").unlink()
    with pytest.raises(StoreError, match=r"holds table files .* but no manifest\.json"):
        store.write(make_graph(users=[{"user_id": "u9"}]), progress=False)
    assert sorted(p.name for p in store.path.glob("*.parquet")) == tables


def test_a_first_write_that_fails_leaves_no_table_file(tmp_path, movies, monkeypatch):
    store = LocalStore(tmp_path / "new")
    real = store._write_table
    written = []

    def fail_on_the_third(name, df):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(name)
        return real(name, df)

    monkeypatch.setattr(store, "_write_table", fail_on_the_third)
    with pytest.raises(StoreError, match="write failed"):
        store.write(movies, progress=False)
    # the folder it made is gone too (before: it stayed, holding its .lock alone)
    assert not store.path.exists()
    monkeypatch.undo()
    store.write(movies, progress=False)  # the folder is still fit for a first write
    assert len(store.snapshot().users) == len(movies.users)


def test_a_first_write_stopped_by_ctrl_c_leaves_no_table_file(tmp_path, movies, monkeypatch):
    """Before, a first write stopped by Ctrl-C (a KeyboardInterrupt, not an OSError) left its
    table files, and its first write's marker was removed as the lock was let go: every later
    write refused the folder ("holds table files ... but no manifest.json")."""
    store = LocalStore(tmp_path / "new")
    real = store._write_table
    written = []

    def stopped_at_the_third(name, df):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(name)
        return real(name, df)

    monkeypatch.setattr(store, "_write_table", stopped_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        store.write(movies, progress=False)
    assert not store.path.exists()
    monkeypatch.undo()
    store.write(movies, progress=False)
    assert len(store.snapshot().users) == len(movies.users)


def test_a_failed_first_write_into_a_folder_of_the_users_leaves_it_empty(
    tmp_path, movies, monkeypatch
):
    """A store given an empty folder the user made: a first write that fails leaves the folder,
    as empty as it was (before: holding the store's .lock)."""
    (tmp_path / "mine").mkdir()
    store = LocalStore(tmp_path / "mine")

    def full(name, df):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_write_table", full)
    with pytest.raises(StoreError, match="write failed"):
        store.write(movies, progress=False)
    assert (tmp_path / "mine").is_dir() and not list((tmp_path / "mine").iterdir())


def test_a_writer_waiting_on_a_first_write_that_fails_writes_once_it_is_gone(tmp_path):
    """The failed first write removes the lock file and folder the waiting writer opened: it
    opens them again and writes (it never writes into a folder removed under it)."""
    folder = tmp_path / "store"
    script = _FIRST_WRITE.replace(
        "THEN", "print('moved', flush=True); time.sleep(2); raise OSError(28, 'full')"
    )
    first = subprocess.Popen(
        [sys.executable, "-c", script, str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout.readline() == "moved\n"
        store = LocalStore(folder)
        store.write(build_users(["b"]), progress=False)  # waits for the first write
    finally:
        _, err = first.communicate(timeout=60)
    assert first.returncode == 1 and "write failed" in err
    assert list(store.snapshot().users["user_id"]) == ["b"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["manifest.json", ".lock", *(t["file"] for t in store.manifest()["tables"].values())]
    )


def test_the_load_lock_keeps_other_writers_out_until_its_block_ends(store, movies):
    """Before, LocalStore.load_lock held nothing: `kgrec embed` checked the store's record of
    the text model, then wrote, and another process's embed of another model on another kind
    could commit in between (two models' vectors under one property). Now the block holds
    the store's write lock (another process's flock is refused here, as the writer waits),
    and this object's own writes go ahead under it."""
    import fcntl

    import numpy as np

    store.write(movies, progress=False)

    def other_process_may_write() -> bool:
        with open(store.path / ".lock", "a") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(other, fcntl.LOCK_UN)
            return True

    with store.load_lock():
        assert not other_process_may_write()
        store.write_vectors("Item", ["movies:1"], np.ones((1, 2)), property="embedding")
        assert not other_process_may_write()
    assert other_process_may_write()
    assert store.read_vectors("Item", property="embedding")[0] == ["movies:1"]


def test_a_raw_vector_write_waits_while_another_writer_holds_the_load_lock(store, movies):
    """replace_vectors called from Python (not kgrec embed) takes the store's write lock, as a
    load does: while another writer (another object, as another process) holds the load lock
    it waits, and writes once the lock is released."""
    import threading

    import numpy as np

    store.write(movies, progress=False)
    writer = LocalStore(store.path)
    items = {"Item": (["movies:1"], np.ones((1, 2)))}
    thread = threading.Thread(target=lambda: writer.replace_vectors(items, property="vec"))
    with store.load_lock():
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive()  # waiting for the lock
        assert store.read_vectors("Item", property="vec")[0] == []
    thread.join()
    assert store.read_vectors("Item", property="vec")[0] == ["movies:1"]


def test_holds_graph_says_whether_a_graph_was_written_there(tmp_path, movies):
    # what a run asks of its store before serving from it (a moved store is not an empty one)
    store = LocalStore(tmp_path / "store")
    assert not store.holds_graph()
    store.write(movies)
    assert store.holds_graph()
    (tmp_path / "store").rename(tmp_path / "moved")
    assert not store.holds_graph()
    assert LocalStore(tmp_path / "moved").holds_graph()


_FIRST_WRITE = """
import os, signal, sys, time, pandas as pd
from kgrec.store import LocalStore
from graph_schema.tables import GraphTables
store = LocalStore(sys.argv[1])
graph = GraphTables(users=pd.DataFrame({"user_id": pd.Series(["a"], dtype="string")}))
real, moved = os.replace, []
def replace(src, dst):  # after the table file is in place, before the manifest: THEN
    real(src, dst)
    moved.append(dst)
    if len(moved) == 1:
        THEN
os.replace = replace
store.write(graph, progress=False)
"""


def test_a_first_write_killed_after_a_table_file_is_in_place_is_finished_by_the_next(tmp_path):
    """Before, a first load killed between its first table file and its manifest left a folder
    that every later write refused ("holds table files but no manifest.json ... delete the
    folder"): the next write did not finish it, as README's Atomic promises."""
    folder = tmp_path / "store"
    script = _FIRST_WRITE.replace("THEN", "os.kill(os.getpid(), signal.SIGKILL)")
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)], capture_output=True, text=True
    )
    assert done.returncode == -9, done.stderr
    assert list(folder.glob("*.parquet")) and not (folder / "manifest.json").exists()
    store = LocalStore(folder)
    with pytest.raises(StoreError, match="no store at"):
        store.snapshot()
    store.write(build_users(["b"]), progress=False)
    assert list(store.snapshot().users["user_id"]) == ["b"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["manifest.json", ".lock", *(t["file"] for t in store.manifest()["tables"].values())]
    )


def test_a_second_writer_waits_for_a_first_write_in_progress(tmp_path):
    """Before, a writer that came while another process's first write had put some table files
    in place (no manifest yet) was refused ("a store whose manifest was lost ... delete the
    folder") instead of waiting for the lock."""
    folder = tmp_path / "store"
    script = _FIRST_WRITE.replace("THEN", "print('moved', flush=True); time.sleep(3)")
    first = subprocess.Popen(
        [sys.executable, "-c", script, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert first.stdout.readline() == "moved\n"
        store = LocalStore(folder)
        store.check()
        store.write(build_users(["b"]), progress=False)  # waits for the first write
    finally:
        first.wait(timeout=60)
    assert first.returncode == 0
    assert sorted(store.snapshot().users["user_id"]) == ["a", "b"]


def build_users(ids):
    from graph_schema.tables import GraphTables

    return GraphTables(users=pd.DataFrame({"user_id": pd.Series(ids, dtype="string")}))


def test_a_first_write_stopped_as_a_table_file_is_renamed_leaves_none(
    tmp_path, movies, monkeypatch
):
    """A Ctrl-C that lands as a table file is renamed into place (the signal is raised as
    os.replace returns), before the write names it: the file stayed, and the next write refused
    the folder ("holds table files ... but no manifest.json") (found by the diff37 review)."""
    store = LocalStore(tmp_path / "new")
    real, moved = os.replace, []

    def replace(src, dst):
        real(src, dst)
        moved.append(dst)
        if len(moved) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        store.write(movies, progress=False)
    monkeypatch.undo()
    assert not list(store.path.glob("*.parquet"))
    store.write(movies, progress=False)
    assert len(store.snapshot().users) == len(movies.users)


def test_the_write_bar_counts_tables_without_a_rate(store, explain_graph, capsys):
    """Before, the bar showed tables per second (``12.3table/s``), which says nothing of a
    load's speed: one table holds a few rows, the next millions (found by the tidy48 review)."""
    store.write(explain_graph)
    bars = [line.strip() for line in capsys.readouterr().err.split("\r") if line.strip()]
    tables = [bar for bar in bars if bar.startswith("tables:")]
    assert re.fullmatch(r"tables: 100%\|[^|]+\| 6/6 \[[0-9:]+\]", tables[-1]), tables
    assert not [bar for bar in bars if "/s" in bar or "s/" in bar], bars


def test_the_write_bar_covers_the_table_files_it_writes(store, explain_graph, capsys, monkeypatch):
    """The Parquet files, the slow part of a large write, are counted by a bar of their own as
    each is written (before, the bar of tables ended before the first was written, and the
    write went on with no progress shown) (found by the small49 review)."""
    err, seen, write_table = [], [], LocalStore._write_table

    def writing(self, name, df):
        err.append(capsys.readouterr().err)
        seen.append("".join(err).split("\r")[-1].strip())  # the last bar drawn so far
        return write_table(self, name, df)

    monkeypatch.setattr(LocalStore, "_write_table", writing)
    store.write(explain_graph)
    after = capsys.readouterr().err.split("\r")[-1].strip()
    assert len(seen) == 6 and all(bar.startswith("writing: ") for bar in seen), seen
    assert re.fullmatch(r"writing: 100%\|[^|]+\| 6/6 \[[0-9:]+\]", after), after
