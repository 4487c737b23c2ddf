"""The embedding step: the cache spares the model, empty texts get no vector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kgrec.text.cache import EmbeddingCache, text_key
from kgrec.text.embed import embed_texts
from kgrec.text.encoder import TextEncoder

TEXTS = pd.Series(
    {
        "m:1": "Toy Story (1995). Genres: Animation, Children's, Comedy.",
        "m:2": "Heat (1995). Genres: Action, Crime, Thriller.",
        "m:3": "Casino (1995). Genres: Drama, Crime.",
        "m:4": "",
        "m:5": None,
        "m:6": "   ",
        "m:7": "Heat (1995). Genres: Action, Crime, Thriller.",  # same text as m:2
    }
)


def test_second_run_calls_the_model_zero_times(tmp_path, encoder, count_forward):
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache, count_forward(encoder) as counter:
        first = embed_texts("Item", TEXTS, encoder, cache=cache, progress=False)
        assert counter.texts == 3  # three distinct non-empty texts, each encoded once
    assert (first.encoded, first.cached, first.no_text, first.nodes) == (3, 0, 3, 7)
    assert first.keys == ["m:1", "m:2", "m:3", "m:7"]
    np.testing.assert_array_equal(first.vectors[1], first.vectors[3])

    # a new cache object on the same file: what is on disk is what counts
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache, count_forward(encoder) as counter:
        again = embed_texts("Item", TEXTS, encoder, cache=cache, progress=False)
        assert counter.calls == 0
    assert (again.encoded, again.cached) == (0, 3)
    assert again.keys == first.keys
    np.testing.assert_allclose(again.vectors, first.vectors, atol=1e-7)


def test_changed_text_re_embeds_only_that_text(tmp_path, encoder, count_forward):
    changed = TEXTS.copy()
    changed["m:3"] = "Casino (1995). Genres: Drama."
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        before = embed_texts("Item", TEXTS, encoder, cache=cache, progress=False)
        with count_forward(encoder) as counter:
            after = embed_texts("Item", changed, encoder, cache=cache, progress=False)
        assert counter.texts == 1
    assert (after.encoded, after.cached) == (1, 2)
    np.testing.assert_allclose(after.vectors[:2], before.vectors[:2], atol=1e-7)
    assert float(after.vectors[2] @ before.vectors[2]) < 0.999  # m:3 is a new vector
    fresh = encoder.encode([changed["m:3"]], progress=False)[0]
    np.testing.assert_allclose(after.vectors[2], fresh, atol=1e-6)


def test_other_model_does_not_reuse_the_first_models_vectors(
    tmp_path, encoder, tiny_model, count_forward
):
    tiny = TextEncoder(tiny_model)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        default = embed_texts("Item", TEXTS, encoder, cache=cache, progress=False)
        with count_forward(tiny) as counter:
            other = embed_texts("Item", TEXTS, tiny, cache=cache, progress=False)
        assert counter.texts == 3
        assert other.vectors.shape == (4, 32) and default.vectors.shape == (4, 384)
        # both are cached now, side by side
        with count_forward(encoder) as a, count_forward(tiny) as b:
            embed_texts("Item", TEXTS, encoder, cache=cache, progress=False)
            embed_texts("Item", TEXTS, tiny, cache=cache, progress=False)
        assert a.calls == b.calls == 0
        assert len(cache) == 6


def test_without_cache_every_distinct_text_is_encoded(encoder, count_forward):
    with count_forward(encoder) as counter:
        result = embed_texts("Item", TEXTS, encoder, progress=False)
    assert counter.texts == 3 and result.encoded == 3


def test_all_texts_empty_gives_no_vectors(encoder, count_forward):
    with count_forward(encoder) as counter:
        result = embed_texts("Entity", pd.Series({"e": "", "f": None}), encoder, progress=False)
    assert counter.calls == 0
    assert result.keys == [] and result.vectors.shape == (0, 384) and result.no_text == 2


def test_unwritable_cache_is_a_clear_error(tmp_path):
    from kgrec.errors import KgrecError

    blocker = tmp_path / "file"
    blocker.write_text("")
    # before: the message did not say what to do
    with pytest.raises(KgrecError, match=r"embedding cache .* another --cache, or --no-cache"):
        EmbeddingCache(blocker / "sub" / "cache.sqlite")


def test_default_cache_lives_under_kgrec_cache(monkeypatch, tmp_path):
    from kgrec.text.cache import default_cache_path

    monkeypatch.setenv("KGREC_CACHE", str(tmp_path))
    assert default_cache_path() == tmp_path / "embeddings" / "vectors.sqlite"


def test_a_blank_or_file_kgrec_cache_is_an_error_naming_it(monkeypatch, tmp_path):
    """A blank KGREC_CACHE made a cache in a folder of that name in the working folder
    (`./  /embeddings/vectors.sqlite`); one that is a file was "give another --cache, or
    --no-cache", naming no KGREC_CACHE, though no --cache was given."""
    from kgrec.errors import KgrecError

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("KGREC_CACHE", "  ")
    with pytest.raises(KgrecError, match="KGREC_CACHE is blank"):
        EmbeddingCache()
    assert list(work.iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    monkeypatch.setenv("KGREC_CACHE", str(blocker))
    with pytest.raises(KgrecError, match=r"embedding cache .* set KGREC_CACHE to another folder"):
        EmbeddingCache()
    assert blocker.read_text() == "mine"


def test_a_damaged_cached_vector_is_encoded_again_and_a_foreign_database_named(tmp_path):
    # before: a NaN or scaled vector in the cache was used (a NaN one failed the store write
    # after the other kinds were written), and a database not kgrec's gave a traceback
    import sqlite3

    import numpy as np
    import pytest

    from kgrec.errors import KgrecError

    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        good = np.array([0.6, 0.8], dtype=np.float32)
        cache.put("m", ["a", "b", "c"], np.stack([good, good * np.nan, good * 3]))
        found = cache.get("m", ["a", "b", "c"], 2)
    assert list(found) == [0] and np.array_equal(found[0], good)
    foreign = tmp_path / "mine.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE vectors (id INTEGER, name TEXT)")
    with pytest.raises(KgrecError, match="not a kgrec cache"):
        EmbeddingCache(foreign)


def test_a_foreign_database_given_as_cache_is_left_as_it_is(tmp_path):
    # before: kgrec added its `vectors` table to the user's own database, then used it
    import sqlite3

    import pytest

    from kgrec.errors import KgrecError

    foreign = tmp_path / "mine.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('mine')")
    before = foreign.read_bytes()
    with pytest.raises(KgrecError, match=r"mine\.db is an SQLite database .*tables: notes"):
        EmbeddingCache(foreign)
    assert foreign.read_bytes() == before
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("a text file, not a database\n" * 100)
    with pytest.raises(KgrecError, match=r"notes\.txt"):
        EmbeddingCache(not_sqlite)
    assert not_sqlite.read_text() == "a text file, not a database\n" * 100


def test_an_embed_that_fails_half_way_leaves_every_kind_as_it_was(tmp_path, movies, monkeypatch):
    """Before, each kind's vectors were their own commit: an embed stopped (Ctrl-C, a full
    disk) while it wrote the users' vectors left the items' new ones beside the users' old."""
    from kgrec.store import LocalStore
    from kgrec.text.embed import Embedded, write_embeddings

    store = LocalStore(tmp_path / "store")
    store.write(movies, progress=False)
    store.write_vectors("Item", ["movies:1", "movies:2"], np.ones((2, 2)), property="embedding")
    store.write_vectors("User", ["u1"], np.ones((1, 2)), property="embedding")
    commit = LocalStore._commit

    def stopped_at_the_users(self, manifest, tables):
        vectors = tables.get("vectors")
        if vectors is not None and any(
            kind == "User" and np.all(np.asarray(v) == 7)
            for kind, v in zip(vectors["kind"], vectors["vector"], strict=True)
        ):
            raise KeyboardInterrupt
        return commit(self, manifest, tables)

    monkeypatch.setattr(LocalStore, "_commit", stopped_at_the_users)
    results = [
        Embedded("Item", ["movies:1"], np.full((1, 2), 5, np.float32), 3, 1, 0, 2),
        Embedded("User", ["u1", "u2"], np.full((2, 2), 7, np.float32), 2, 1, 0, 0),
    ]
    with pytest.raises(KeyboardInterrupt):
        write_embeddings(store, results)
    keys, vectors = store.read_vectors("Item", property="embedding")
    assert keys == ["movies:1", "movies:2"]
    np.testing.assert_array_equal(vectors, np.ones((2, 2)))
    assert store.read_vectors("User", property="embedding")[0] == ["u1"]
    monkeypatch.setattr(LocalStore, "_commit", commit)
    write_embeddings(store, results)  # and the same embed, not stopped, replaces both
    assert store.read_vectors("Item", property="embedding")[0] == ["movies:1"]
    assert store.read_vectors("User", property="embedding")[0] == ["u1", "u2"]


@pytest.mark.parametrize(
    ("kinds", "match"),
    [
        (["item"], "unknown node kind(s) 'item'; give one or more of Item, Entity, User"),
        (["Item", "Films"], "unknown node kind(s) 'Films'"),
        ([], "kinds: none; give one or more of Item, Entity, User"),
        ("Item", "got one string 'Item' (kinds=['Item'])"),
    ],
)
def test_embed_store_names_kinds_it_cannot_embed_before_any_work(tmp_path, movies, kinds, match):
    """``embed_store(uri, kinds=["item"])`` (Python API; the command line checks --kinds) raised
    a bare KeyError from the model record, after the store was opened; a string was read as
    one kind per character (KeyError 'I'), and no kind said "no node has a text to embed"."""
    import re

    from kgrec.errors import InputError
    from kgrec.store import LocalStore
    from kgrec.text.embed import embed_store

    store = LocalStore(tmp_path / "store")
    store.write(movies, progress=False)
    with pytest.raises(InputError, match=re.escape(match)) as caught:
        embed_store(f"local:{tmp_path / 'store'}", kinds=kinds, use_cache=False, progress=False)
    assert caught.value.field == "--kinds"
    assert store.vector_model("embedding") is None
    for kind in ("Item", "Entity", "User"):
        assert store.vector_dimension(kind, property="embedding") is None


def test_a_cache_that_is_no_database_is_named_and_kept(tmp_path):
    # before: "embedding cache PATH: file is not a database", saying neither what it was nor
    # what to do
    from kgrec.errors import KgrecError

    mine = tmp_path / "notes.txt"
    mine.write_text("my notes, not a cache\n" * 100)
    with pytest.raises(KgrecError, match=r"not an SQLite database .*--no-cache"):
        EmbeddingCache(mine)
    assert mine.read_text() == "my notes, not a cache\n" * 100


def test_a_cached_vector_of_damaged_bytes_or_not_bytes_is_encoded_again(tmp_path):
    # before: a row whose vector was not a whole number of float32s (5 bytes), or text,
    # stopped `kgrec embed` with a bare ValueError/TypeError from numpy
    import sqlite3

    path = tmp_path / "cache.sqlite"
    good = np.array([0.6, 0.8], dtype=np.float32)
    with EmbeddingCache(path) as cache:
        cache.put("m", ["a", "b", "c"], np.stack([good, good, good]))
    with sqlite3.connect(path) as db:
        key_b, key_c = (text_key("m", t) for t in ("b", "c"))
        db.execute("UPDATE vectors SET vector = ? WHERE key = ?", (b"\0" * 5, key_b))
        db.execute("UPDATE vectors SET vector = 'text' WHERE key = ?", (key_c,))
    db.close()
    with EmbeddingCache(path) as cache:
        found = cache.get("m", ["a", "b", "c"], 2)
    assert list(found) == [0] and np.array_equal(found[0], good)


def test_a_cache_another_process_is_writing_is_read_as_a_miss(tmp_path, caplog):
    """Two ``kgrec embed`` at once share the default cache: one writing many vectors holds the
    SQLite file's lock for seconds (100,000 vectors: about 2 s here), and the other's open
    failed after SQLite's 5 s wait ("cannot be opened or created (database is locked): give
    another --cache, or --no-cache"), its reads with "cannot be read ...: delete it", where the
    README says a locked cache is a warning. Now it warns and encodes what it cannot read
    (found by the conc43 review)."""
    import subprocess
    import sys

    path = tmp_path / "cache.sqlite"
    with EmbeddingCache(path) as cache:
        cache.put("m", ["hello"], np.full((1, 4), 0.5, dtype=np.float32))
    hold = (
        "import sqlite3, sys, time\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE'); print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with EmbeddingCache(path) as cache:
            assert cache.get("m", ["hello"], 4) == {}
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert "is being written by another process (database is locked)" in caplog.text
    with EmbeddingCache(path) as cache:  # its vector is there, read once the writer is gone
        assert list(cache.get("m", ["hello"], 4)) == [0]


def test_an_embed_stopped_mid_encode_keeps_the_batches_it_encoded(tmp_path, encoder):
    """Before, a kind's new vectors went into the cache only once all its texts were encoded:
    an embed stopped (Ctrl-C, SIGTERM) after an hour of encoding an item catalogue kept none
    of them, and the same embed run again encoded every text afresh, though the README says a
    re-run encodes only new or changed texts (found by the embed46 review)."""
    from kgrec.text.cache import EmbeddingCache

    class StopAtSecondBatch:
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, module, args, kwargs, output) -> None:
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt

    texts = TEXTS[["m:1", "m:2", "m:3"]]
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        handle = encoder.model.register_forward_hook(StopAtSecondBatch(), with_kwargs=True)
        try:
            with pytest.raises(KeyboardInterrupt):
                embed_texts("Item", texts, encoder, cache=cache, batch_size=1, progress=False)
        finally:
            handle.remove()
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        again = embed_texts("Item", texts, encoder, cache=cache, batch_size=1, progress=False)
    assert (again.encoded, again.cached) == (2, 1)
    fresh = encoder.encode(list(texts), progress=False)
    np.testing.assert_allclose(again.vectors, fresh, atol=1e-6)


def test_a_cache_that_cannot_be_written_warns_once_and_the_vectors_still_come(
    tmp_path, encoder, caplog
):
    """An embed caches each batch's vectors as they are encoded; a cache that cannot be
    written is one warning for the embed, not one per batch (found by the embed46 review)."""
    from kgrec.text.cache import EmbeddingCache

    texts = TEXTS[["m:1", "m:2", "m:3"]]
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        cache._db.execute("PRAGMA query_only = ON")  # writes fail: "readonly database"
        result = embed_texts("Item", texts, encoder, cache=cache, batch_size=1, progress=False)
        assert len(cache) == 0
    assert result.encoded == 3 and result.vectors.shape == (3, 384)
    warnings = [r for r in caplog.records if "not cached" in r.getMessage()]
    assert len(warnings) == 1, caplog.text


def test_the_progress_bar_names_the_kind_it_encodes(encoder, capsys):
    """Before, `kgrec embed --users` showed three bars each labelled `embedding`, so which
    kind was encoding (and how many kinds were left) could not be told (found by the embed46
    review)."""
    embed_texts("Entity", TEXTS, encoder, progress=True)
    assert "embedding Entity: 100%" in capsys.readouterr().err


def test_a_cache_another_embed_holds_locked_caches_its_vectors_once_it_lets_go(
    tmp_path, encoder, caplog
):
    """Two ``kgrec embed`` share the default cache; one holding the file's lock past SQLite's
    wait (a long put, a slow disk) made the other's put fail "database is locked", after
    which it cached nothing more for the rest of its embed, though the lock was gone a batch
    later. Now the vectors a lock kept back are written with the next batch's (found by the
    data47 review)."""
    import sqlite3

    path = tmp_path / "cache.sqlite"
    EmbeddingCache(path).close()
    other = sqlite3.connect(path, isolation_level=None)  # the other embed's cache
    releases = []

    def release_at_second_batch(module, args, kwargs, output) -> None:
        releases.append(1)
        if len(releases) == 2:
            other.execute("COMMIT")  # its put is done

    texts = TEXTS[["m:1", "m:2", "m:3"]]
    with EmbeddingCache(path) as cache:
        cache._db.execute("PRAGMA busy_timeout = 100")  # wait 0.1 s for its lock, not 5 s
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO vectors VALUES ('its', x'00')")
        handle = encoder.model.register_forward_hook(release_at_second_batch, with_kwargs=True)
        try:
            result = embed_texts("Item", texts, encoder, cache=cache, batch_size=1, progress=False)
        finally:
            handle.remove()
        assert len(cache) == 4  # its vector and the three of this embed
    other.close()
    assert result.encoded == 3
    assert "is being written by another process (database is locked)" in caplog.text
    assert "cannot be written" not in caplog.text
    with EmbeddingCache(path) as cache:
        again = cache.get(encoder.identity, list(texts), encoder.dimension)
    assert sorted(again) == [0, 1, 2]
    np.testing.assert_allclose(np.stack([again[i] for i in range(3)]), result.vectors, atol=1e-6)


def test_vectors_a_lock_kept_back_are_written_as_the_cache_closes_or_named(tmp_path, caplog):
    """The puts a lock kept back to the end of the embed are written as the cache closes,
    waiting for the lock as a put does; a lock held past that is a warning naming how many
    vectors are not cached, and the cache is left as the other process wrote it (found by the
    data47 review)."""
    import sqlite3

    path = tmp_path / "cache.sqlite"
    EmbeddingCache(path).close()
    vector = np.full((1, 4), 0.5, dtype=np.float32)
    other = sqlite3.connect(path, isolation_level=None)
    with EmbeddingCache(path) as cache:
        cache._db.execute("PRAGMA busy_timeout = 100")
        other.execute("BEGIN IMMEDIATE")
        cache.put("m", ["a"], vector)
        cache.put("m", ["b"], vector)
        other.execute("COMMIT")  # let go before the embed ends
    with EmbeddingCache(path) as cache:
        assert sorted(cache.get("m", ["a", "b"], 4)) == [0, 1]

    caplog.clear()
    with EmbeddingCache(path) as cache:
        cache._db.execute("PRAGMA busy_timeout = 100")
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO vectors VALUES ('its', x'00')")
        cache.put("m", ["c"], vector)
        cache.put("m", ["d", "e"], np.concatenate([vector, vector]))
        # a put that does not wait leaves the wait as it was set: its close waits 0.1 s too
        assert cache._db.execute("PRAGMA busy_timeout").fetchone()[0] == 100
    other.execute("COMMIT")
    other.close()
    assert "still being written by another process: 3 vectors encoded here are not cached" in (
        caplog.text
    )
    with EmbeddingCache(path) as cache:
        assert len(cache) == 3 and cache.get("m", ["c", "d", "e"], 4) == {}
