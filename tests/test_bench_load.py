"""bench/load.py without a server: what its report's columns say, a failing target's error,
and the LOAD CSV reference's files in the server's import folder (a stand-in session that
resolves file URLs as the server does)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "load.py"


@pytest.fixture(scope="module")
def load(bench_script):
    return bench_script("load")


def test_the_report_labels_interactions_per_second(load, capsys):
    load.report(
        [
            {
                "target": "local",
                "parse_s": 2.4,
                "write_s": 2.0,
                "interactions": 1_000_000,
                "peak_rss_mb": 900.0,
                "stats": {},
            }
        ]
    )
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert "interactions/s" in header and "rows/s" not in header
    assert "500,000" in row
    assert header.index("interactions/s") + len("interactions/s") == row.index("500,000") + 7


class _Result:
    def __init__(self, value=None):
        self.value = value

    def single(self):
        return {"value": self.value}

    def consume(self):
        return None


class ImportFolderSession:
    """Answers the import folder setting, and reads ``file:///NAME`` inside that folder as a
    server with ``server.directories.import`` set does (else a ClientError)."""

    def __init__(self, import_dir: Path):
        self.import_dir = import_dir
        self.rows: dict[str, int] = {}

    def run(self, query, **params):
        from neo4j.exceptions import ClientError

        if "server.directories.import" in query:
            return _Result(str(self.import_dir))
        path = self.import_dir / urlparse(params["url"]).path.lstrip("/")
        if not path.is_file():
            raise ClientError(f"cannot load from {params['url']}")
        self.rows[path.name] = len(path.read_text().splitlines()) - 1
        return _Result()


def test_loadcsv_leaves_the_import_folder_as_it_found_it(load, movies, tmp_path):
    """Before, the CSV files went to IMPORT/kgrec-bench, which was removed afterwards, with
    whatever it held before."""
    import_dir = tmp_path / "import"
    (import_dir / "kgrec-bench").mkdir(parents=True)
    (import_dir / "kgrec-bench" / "mine.csv").write_text("a user's file\n")
    (import_dir / "other.csv").write_text("x\n")
    before = sorted(p.relative_to(import_dir) for p in import_dir.rglob("*"))
    session = ImportFolderSession(import_dir)
    timings = load.load_csv(session, movies)
    assert set(timings) == {f"loadcsv_{name}_s" for name in ("users", "items", "interactions")}
    assert session.rows["interactions.csv"] == len(movies.interactions)
    assert session.rows["users.csv"] == len(movies.users)
    assert sorted(p.relative_to(import_dir) for p in import_dir.rglob("*")) == before
    assert (import_dir / "kgrec-bench" / "mine.csv").read_text() == "a user's file\n"


def test_a_failing_target_exits_2_with_its_error(tmp_path):
    # before: the child's traceback, then the parent's CalledProcessError traceback (exit 1)
    missing = tmp_path / "no-such-dataset"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--targets", "local", "--data", str(missing)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1  # said once, by the target that failed
    assert done.stderr.strip().splitlines()[-1] == (
        f"load.py: error: file {missing}.*: no RecBole atomic files (.inter, .item, .user, "
        ".kg, .link) here"
    )


@pytest.mark.parametrize("size", ["0", "-5"])
def test_a_batch_size_below_1_is_refused_first(tmp_path, size):
    """Before, --batch-size 0 was ignored (the default 20,000 taken) and -5 reached
    Neo4jStore's ValueError traceback after ml-1m was read and the database emptied."""
    missing = tmp_path / "no-such-dataset"
    argv = ["--targets", "local", "--data", str(missing), "--batch-size", size]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *argv],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert f"load.py: error: --batch-size must be at least 1, got {size}" in done.stderr


def test_an_unreachable_server_is_said_before_any_target_runs(tmp_path):
    """Before, the local target ran, then the neo4j target read the data and ended in the
    driver's ServiceUnavailable traceback. Port 1: no server there."""
    missing = tmp_path / "no-such-dataset"  # a target that ran would say so
    argv = ["--targets", "local,neo4j", "--wipe", "--data", str(missing)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *argv, "--uri", "bolt://127.0.0.1:1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "no RecBole atomic files" not in done.stderr
    assert "load.py: error: cannot reach Neo4j at bolt://127.0.0.1:1" in done.stderr


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("bolt://127.0.0.1:99999", "Port out of range"),  # the driver took port 34463
        ("bolt://127.0.0.1:1/otherdb", "without a path"),  # the driver ignored the database
    ],
)
def test_a_uri_kgrec_refuses_is_refused_before_a_server_is_reached(tmp_path, uri, says):
    """Before, the driver's reading of the URI was reached, and that database emptied: port
    99999 is port 34463 to it, and a database in the path is not the one written to."""
    argv = ["--targets", "neo4j", "--wipe", "--data", str(tmp_path / "none"), "--uri", uri]
    done = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot reach" not in done.stderr
    assert f"load.py: error: store {uri!r}: " in done.stderr and says in done.stderr


def test_an_empty_neo4j_database_is_kgrecs_default_database(
    load, monkeypatch, tmp_path, recording_driver
):
    """An empty $NEO4J_DATABASE is unset for kgrec (database neo4j); before, the Neo4j target
    emptied and wrote the database "" (the server's home database, whatever its name)."""
    import argparse
    import types

    import pandas as pd

    driver = recording_driver()
    stores = []

    class FakeStore:
        def __init__(self, driver, *, database="neo4j", **options):
            stores.append(database)

        def write(self, graph, progress=True):
            pass

        def stats(self):
            return {}

    monkeypatch.setenv("NEO4J_DATABASE", "")
    monkeypatch.setattr(load, "neo4j_driver", lambda uri: driver)
    monkeypatch.setattr(load, "Neo4jStore", FakeStore)
    graph = types.SimpleNamespace(interactions=pd.DataFrame({"x": range(3)}))
    monkeypatch.setattr(load, "recbole", types.SimpleNamespace(load=lambda data, domain: graph))
    args = argparse.Namespace(uri="bolt://127.0.0.1:1", batch_size=None, neo4j_dir=None)
    result = load.run_target("neo4j", tmp_path, args)
    assert result["interactions"] == 3
    assert driver.sessions == ["neo4j"] and set(driver.runs) == {"neo4j"}
    assert stores == ["neo4j"]
