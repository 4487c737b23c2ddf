"""`kgrec graph stats`: the counts of a store as a table or JSON."""

from __future__ import annotations

import json

import pytest

from kgrec.cli import main
from kgrec.store import LocalStore


def test_stats_table_and_json(tmp_path, capsys, movies):
    store = LocalStore(tmp_path / "g")
    store.write(movies, progress=False)
    assert main(["graph", "stats", "--store", f"local:{tmp_path}/g"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0] == f"store local:{tmp_path}/g"
    assert any(line.split() == ["INTERACTED", "5"] for line in lines)
    assert any(line.split() == ["movies", "2", "2", "3"] for line in lines)
    assert any(line.split() == ["film.film.actor", "1"] for line in lines)

    assert main(["graph", "stats", "--store", f"local:{tmp_path}/g", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"store": f"local:{tmp_path}/g", **store.stats()}


def test_store_from_the_environment(tmp_path, capsys, monkeypatch, movies):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEO4J_URI", raising=False)
    assert main(["graph", "stats", "--json"]) == 2
    assert "no store at kgrec-store" in capsys.readouterr().err
    LocalStore(tmp_path / "kgrec-store").write(movies, progress=False)
    assert main(["graph", "stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["store"] == "local:./kgrec-store"
    assert data["nodes"]["User"] == 3


def test_unreachable_neo4j_is_a_message_not_a_traceback(unused_port, capsys):
    assert main(["graph", "stats", "--store", f"bolt://127.0.0.1:{unused_port}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"kgrec graph: error: bolt://127.0.0.1:{unused_port}: Neo4j is unreachable"
    )
    assert "Traceback" not in err


def test_unknown_store_scheme(capsys):
    assert main(["graph", "stats", "--store", "mysql://x"]) == 2
    assert "unknown store 'mysql://x'" in capsys.readouterr().err


def test_a_store_given_as_a_folder_is_told_the_local_uri(tmp_path, capsys, monkeypatch):
    # before: "unknown store 'stores/mine': expected one of local:PATH, ..." alone
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "stats", "--store", "stores/mine"]) == 2
    err = capsys.readouterr().err
    assert "unknown store 'stores/mine'" in err and "(a folder? give local:stores/mine)" in err
    assert not (tmp_path / "stores").exists()


def test_an_empty_store_is_refused_not_read_as_the_default(tmp_path, capsys, monkeypatch, movies):
    """`--store "$STORE"` with STORE unset: before, the default store ($NEO4J_URI, else
    ./kgrec-store) was read, or its load lock cleared, as if no --store had been given."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEO4J_URI", raising=False)
    LocalStore(tmp_path / "kgrec-store").write(movies, progress=False)
    for command in ("stats", "unlock"):
        assert main(["graph", command, "--store", ""]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "store '' is empty: name one, e.g. local:./kgrec-store" in captured.err


def test_unlock_of_a_local_store_that_does_not_exist_is_an_error(tmp_path, capsys, movies):
    """`kgrec graph unlock --store local:MISTYPED` said "no load lock to clear" (exit 0), so a
    mistyped path looked fine; it is an error now, as `kgrec graph stats` of it is."""
    missing = tmp_path / "no" / "such-store"
    assert main(["graph", "unlock", "--store", f"local:{missing}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no store at {missing}" in captured.err
    assert not (tmp_path / "no").exists()
    LocalStore(tmp_path / "g").write(movies, progress=False)
    assert main(["graph", "unlock", "--store", f"local:{tmp_path}/g"]) == 0
    assert capsys.readouterr().out == f"local:{tmp_path}/g: no load lock to clear\n"


@pytest.mark.parametrize(
    "command, shown",
    [
        ("kgrec recommend --run runs/r", "kgrec recommend --run runs/r"),
        (None, "no command recorded"),
    ],
)
def test_unlock_names_the_cleared_writer_by_its_command(monkeypatch, capsys, command, shown):
    """(the store's break_lock mocked: clearing a Neo4j lock is tested against the server)
    Before: "re-run that load" whatever the writer was, and "(None)" for a lock that recorded
    no command, which the refusal of a writer calls "no command recorded"."""

    class Store:
        uri = "neo4j://test"

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def break_lock(self):
            return {"host": "h", "pid": 7, "started": "2026-12-04T07:00:00Z", "command": command}

    monkeypatch.setattr("kgrec.store.open_store", lambda uri: Store())  # where graph runs
    assert main(["graph", "unlock", "--store", "neo4j://test"]) == 0
    assert capsys.readouterr().out == (
        "neo4j://test: cleared the load lock of host h, pid 7, started 2026-12-04T07:00:00Z "
        f"({shown}); run that command again to finish it\n"
    )
