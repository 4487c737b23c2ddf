"""bench/recommend.py without a server: a fake driver records which database each session and
query goes to (the benchmark empties it, so it must be $NEO4J_DATABASE's, as kgrec's); its
checks of its options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def recommend(bench_script):
    return bench_script("recommend")


def _records(users: int):
    def records(query):
        if "RETURN u.user_id AS u" in query:
            return [{"u": f"u{i}"} for i in range(users)]
        return [{"item": "i1", "score": 1.0}]

    return records


def test_every_query_goes_to_the_database_of_neo4j_database(
    recommend, monkeypatch, tmp_path, capsys, recording_driver
):
    driver = recording_driver(_records(60))
    commands = []
    monkeypatch.setenv("NEO4J_DATABASE", "benchdb")
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    monkeypatch.setattr(recommend, "neo4j_driver", lambda uri: driver)
    monkeypatch.setattr(recommend, "kgrec", lambda *args: commands.append(args) or 1.0)
    argv = ["recommend.py", "--wipe", "--work", str(tmp_path), "--users", "60"]
    monkeypatch.setattr(sys, "argv", argv)
    recommend.main()
    assert driver.sessions == ["benchdb"] and driver.runs  # delete_all
    assert set(driver.runs) == {"benchdb"}
    assert len(driver.queries) > 60 and set(driver.queries) == {"benchdb"}
    assert "top-20 by vector index" in capsys.readouterr().out


@pytest.mark.parametrize("users", ["1", "0"])
def test_fewer_than_2_users_are_refused_first(recommend, monkeypatch, capsys, users):
    # before: accepted; after training and loading ml-1m, statistics.quantiles of one
    # latency raised StatisticsError (no --wipe here: nothing may reach a server)
    monkeypatch.setattr(recommend, "kgrec", lambda *args: pytest.fail("kgrec ran"))
    monkeypatch.setattr(sys, "argv", ["recommend.py", "--users", users])
    with pytest.raises(SystemExit) as stop:
        recommend.main()
    assert stop.value.code == 2
    assert f"--users must be at least 2, got {users}" in capsys.readouterr().err


def test_a_kgrec_command_that_fails_ends_with_its_exit_code(recommend, tmp_path, capfd):
    """Before, a kgrec step that failed (ml-1m missing: kgrec train exits 2 with its error)
    added a CalledProcessError traceback, exit 1."""
    with pytest.raises(SystemExit) as stop:
        recommend.kgrec("load", "recbole", str(tmp_path / "none"), "--store", f"local:{tmp_path}/s")
    assert stop.value.code == 2
    err = capfd.readouterr().err
    assert "kgrec load: error:" in err and "Traceback" not in err


def test_an_unreachable_server_is_said_before_training(recommend, monkeypatch, tmp_path, capsys):
    """Before, LightGCN was trained on ml-1m first (minutes), then the driver's
    ServiceUnavailable traceback ended it (exit 1). Port 1: no server there."""
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    trained = []
    monkeypatch.setattr(recommend, "kgrec", lambda *args: trained.append(args) or 1.0)
    monkeypatch.setattr(sys, "argv", ["recommend.py", "--wipe", "--work", str(tmp_path)])
    with pytest.raises(SystemExit) as stop:
        recommend.main()
    assert stop.value.code == 2 and trained == []
    says = "recommend.py: error: cannot reach Neo4j at bolt://127.0.0.1:1"
    assert says in capsys.readouterr().err


def test_without_neo4j_uri_the_server_is_the_local_one_of_neo4j_port(
    recommend, monkeypatch, tmp_path, capsys
):
    """The benchmark empties its database. Before, without $NEO4J_URI it took
    bolt://127.0.0.1:7687 whatever $NEO4J_PORT said: a user whose own server ran on
    NEO4J_PORT=7688 (as `make neo4j-start` reads it) had the database on 7687, another
    server's, emptied (found by the bench46 review). Now the local server is
    bolt://127.0.0.1:$NEO4J_PORT, as for bench/load.py and the tests."""
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("NEO4J_PORT", "1")  # no server there
    monkeypatch.setattr(recommend, "kgrec", lambda *args: pytest.fail("kgrec ran"))
    monkeypatch.setattr(sys, "argv", ["recommend.py", "--work", str(tmp_path)])
    with pytest.raises(SystemExit):
        recommend.main()
    assert "empties the Neo4j database at bolt://127.0.0.1:1: pass --wipe" in (
        capsys.readouterr().err
    )


def _trained_earlier(work, data) -> None:
    """A finished run in ``work``/lightgcn as an earlier benchmark left it, trained on ``data``."""
    run = work / "lightgcn"
    run.mkdir(parents=True)
    settings = {"model": "lightgcn", "protocol": "ml1m-action-comedy", "seed": 0, "epochs": 3}
    info = {
        "model": "lightgcn",
        "settings": {**settings, "data": str(data.resolve())},
        "status": "done",
    }
    (run / "run.json").write_text(json.dumps(info))
    (run / "model.pt").write_bytes(b"weights")


def _bench(recommend, monkeypatch, recording_driver, work, data) -> list[tuple[str, ...]]:
    """The benchmark run against a fake server; the kgrec commands it ran."""
    driver = recording_driver(_records(60))
    commands = []
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    monkeypatch.setattr(recommend, "neo4j_driver", lambda uri: driver)
    monkeypatch.setattr(recommend, "kgrec", lambda *args: commands.append(args) or 1.0)
    argv = ["recommend.py", "--wipe", "--work", str(work), "--data", str(data), "--users", "60"]
    monkeypatch.setattr(sys, "argv", argv)
    recommend.main()
    return commands


def test_a_run_trained_earlier_on_other_data_is_refused_not_measured(
    recommend, monkeypatch, recording_driver, tmp_path, capsys
):
    """Before, any run with a model.pt in --work was reused: after --data changed, the
    benchmark published and timed a model of the other data, silently."""
    _trained_earlier(tmp_path / "work", tmp_path / "ml-1m")
    with pytest.raises(SystemExit) as stop:
        _bench(recommend, monkeypatch, recording_driver, tmp_path / "work", tmp_path / "ml-10m")
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "recommend.py: error:" in err and "holds a run trained earlier with other" in err
    old, new = (str((tmp_path / name).resolve()) for name in ("ml-1m", "ml-10m"))
    assert f"data {old!r}, not {new!r}" in err


def test_a_run_trained_earlier_on_the_same_data_is_reused(
    recommend, monkeypatch, recording_driver, tmp_path
):
    _trained_earlier(tmp_path / "work", tmp_path / "ml-1m")
    commands = _bench(
        recommend, monkeypatch, recording_driver, tmp_path / "work", tmp_path / "ml-1m"
    )
    assert [command[0] for command in commands] == ["load", "recommend"]


def test_without_a_finished_run_one_is_trained_on_data(
    recommend, monkeypatch, recording_driver, tmp_path
):
    commands = _bench(recommend, monkeypatch, recording_driver, tmp_path / "work", tmp_path / "d")
    train = commands[0]
    assert train[0] == "train" and "--resume" in train
    assert train[train.index("--data") + 1] == str(tmp_path / "d")
    assert train[train.index("--out") + 1] == str(tmp_path / "work" / "lightgcn")


def _script(env: dict, tmp_path) -> subprocess.CompletedProcess:
    """bench/recommend.py --wipe in a process of its own, this one's environment with ``env``
    over it (a value None: unset)."""
    script = Path(__file__).resolve().parents[1] / "bench" / "recommend.py"
    return subprocess.run(
        [sys.executable, str(script), "--wipe", "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
    )


def test_a_neo4j_port_that_is_no_port_is_a_clear_error(tmp_path):
    """Before, InputError's traceback (exit 1): the script did not run under run_script."""
    done = _script({"NEO4J_URI": None, "NEO4J_PORT": "abc"}, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "recommend.py: error: field 'NEO4J_PORT': $NEO4J_PORT must be a port number" in (
        done.stderr
    )
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("bolt://127.0.0.1:99999", "Port out of range"),  # the driver took port 34463
        ("bolt://127.0.0.1:1/otherdb", "without a path"),  # the driver ignored the database
    ],
)
def test_a_uri_kgrec_refuses_is_refused_before_a_server_is_reached(tmp_path, uri, says):
    """Before, the driver's reading of the URI was reached, and its database emptied: port
    99999 is port 34463 to it, and a database in the path is not the one written to."""
    done = _script({"NEO4J_URI": uri}, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot reach" not in done.stderr
    assert f"recommend.py: error: store {uri!r}: " in done.stderr and says in done.stderr
