"""How Neo4jStore words its refusal while another writer holds the load lock (its query runner
mocked: no server; tests/integration/test_neo4j_store.py holds the lock for real)."""

from __future__ import annotations

from unittest.mock import MagicMock

import numpy as np
import pytest
from neo4j.exceptions import ConstraintError

from kgrec.errors import StoreError
from kgrec.store import Neo4jStore
from kgrec.store import queries as q
from kgrec.store.neo4j import _lock_command

PUBLISH = "kgrec recommend --run runs/r -k 20"


@pytest.mark.parametrize("command", [PUBLISH, "fill_vectors.py --property emb"])
def test_a_writer_refused_by_the_load_lock_is_told_the_holders_command_not_a_load(
    monkeypatch, command
):
    """The lock records its holder's command, a publish's or a Python script's vector write
    as well as a load's. The refusal said "another load (or embed) is writing" whoever held
    it. Now it names the holder by what the lock records; nothing is written."""
    store = Neo4jStore(MagicMock(), uri="neo4j://test", database="movies")
    holder = {"token": "t", "host": "elsewhere", "pid": 4242, "command": command}
    holder["started"] = "2026-12-04T07:00:00Z"
    written = []

    def run(query, *, read=False, **parameters):
        if query == q.LOCK_LOAD:
            raise ConstraintError("held")
        if query == q.LOCK_HOLDER:
            return [holder]
        if not read:
            written.append(query)
        return []

    monkeypatch.setattr(store, "_run", run)
    monkeypatch.setattr(store, "_apply_schema", lambda: None)
    expected = (
        f"neo4j://test: another writer holds the load lock of database 'movies': {command} "
        "(host elsewhere, pid 4242, started 2026-12-04T07:00:00Z); one writer (a load, embed, "
        "publish or vector write) per database at a time: wait for it to end. If it died, "
        "clear its lock with: kgrec graph unlock --store neo4j://test"
    )
    for refused in (
        store.check,  # what `kgrec load` asks before it parses its files
        lambda: store.write_vectors("Item", ["d:1"], np.ones((1, 2)), property="emb"),
    ):
        with pytest.raises(StoreError) as raised:
            refused()
        assert str(raised.value) == expected
    assert written == []


@pytest.mark.parametrize(
    "argv, recorded",
    [
        (["/home/u/.venv/bin/kgrec", "recommend", "--run", "r"], "kgrec recommend --run r"),
        (["/work/fill_vectors.py", "--property", "emb"], "fill_vectors.py --property emb"),
        ([""], "python"),  # an interactive session, a notebook's kernel reads its own argv
        (["-c"], "python"),
        ([], "python"),
    ],
)
def test_the_lock_records_the_command_by_its_programs_name_not_its_path(argv, recorded):
    # before, the full path of the kgrec script, or nothing at all for an interactive session
    # (which the refusal showed as "no command recorded")
    assert _lock_command(argv) == recorded


@pytest.mark.parametrize("first", [None, {"token": "dead", "host": "h", "pid": 1}])
def test_unlock_clears_the_lock_it_read_not_one_taken_since(monkeypatch, first):
    """`kgrec graph unlock` reads the holder, then clears the lock. A writer that takes the
    lock in between (the dead one's cleared by its own host, say) keeps it; before, the lock
    was cleared whoever held it by then, and a live writer lost it."""
    store = Neo4jStore(MagicMock(), uri="neo4j://test", database="movies")
    live = {"token": "live", "host": "h2", "pid": 2, "command": "kgrec load", "started": "t"}
    lock = {"held": first}

    def run(query, *, read=False, **parameters):
        if query == q.LOCK_HOLDER:
            found, lock["held"] = lock["held"], live  # then another writer takes it
            return [found] if found else []
        if query == q.UNLOCK_LOAD:
            held = lock["held"]
            if held and (parameters["token"] is None or parameters["token"] == held["token"]):
                lock["held"] = None
        return []

    monkeypatch.setattr(store, "_run", run)
    assert store.break_lock() == first
    assert lock["held"] == live
