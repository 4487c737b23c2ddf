"""Shared fixtures. Neo4j tests use the server `make test` starts (tools/neo4j).

Test modules take shared data and settings from these fixtures, never by importing another
test module (``neo4j_settings``, ``movies``, ``make_graph``, ``synthetic_graph``,
``explain_graph``).

With ``CI`` set, a Neo4j that cannot be reached fails every test that needs it; elsewhere
those tests are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graph_schema.tables import GraphTables, item_uid
from kgrec.settings import local_neo4j
from kgrec.store import open_store
from kgrec.store.neo4j import delete_all
from loaders import recbole
from loaders.rules import named_rule

# The tests empty the database of the server they use: the local one tools/neo4j starts (or
# $KGREC_TEST_NEO4J_URI, named for the tests alone), never the user's own $NEO4J_URI, which
# kgrec reads when no store is named; so it is out of the test process's environment too.
for _name in ("NEO4J_URI", "NEO4J_DATABASE"):
    os.environ.pop(_name, None)
NEO4J_URI = os.environ.get("KGREC_TEST_NEO4J_URI", local_neo4j())
NEO4J_AUTH = (
    os.environ.get("NEO4J_USERNAME") or "neo4j",
    os.environ.get("NEO4J_PASSWORD") or "kgrec-local-password",
)
NEO4J_DATABASE = "neo4j"


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_as_in_a_terminal():
    """Python's Ctrl-C handler on SIGINT for the whole run, as in a terminal. pytest run as a
    shell's background job (`nohup make test &`, some CI runners) inherits SIGINT ignored,
    and the tests that send it to their own process (or check that kgrec puts the handler
    back) then failed, or passed only after another test had set it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@dataclass(frozen=True)
class Neo4jSettings:
    uri: str
    auth: tuple[str, str]
    database: str


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has ended (a killed writer's, as its marker or file names)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    return int(done.stdout)


@pytest.fixture
def on_the_cpu(monkeypatch):
    """``--device auto`` is the CPU, as on a machine without a GPU: for tests that compare a
    run with tensors they build on the CPU, or two forward passes bit for bit (a GPU's sums
    may differ in their last bits). tests/test_cuda.py checks the GPU's runs against the
    CPU's."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture(scope="session")
def neo4j_settings() -> Neo4jSettings:
    """Where the test server is: its URI, (user, password) and database."""
    return Neo4jSettings(NEO4J_URI, NEO4J_AUTH, NEO4J_DATABASE)


def data_dir() -> Path:
    """The shared datasets: $KGREC_DATA, else ../shared/datasets beside the project."""
    env = os.environ.get("KGREC_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"
    return path


@pytest.fixture(scope="session")
def datasets() -> Path:
    path = data_dir()
    if not (path / "ml-100k").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"datasets not found at {path} (set KGREC_DATA)")
        pytest.skip(f"datasets not found at {path} (set KGREC_DATA)")
    return path


@pytest.fixture(scope="session")
def neo4j_driver():
    """A driver to the test server; fails (CI) or skips (elsewhere) when it is unreachable."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import Neo4jError, ServiceUnavailable

    driver = GraphDatabase.driver(NEO4J_URI, auth=NEO4J_AUTH)
    try:
        driver.verify_connectivity()
    except (ServiceUnavailable, Neo4jError, OSError) as exc:
        driver.close()
        message = f"Neo4j at {NEO4J_URI} is not reachable ({exc}); start it with `make neo4j-start`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield driver
    driver.close()


@pytest.fixture
def neo4j_clean(neo4j_driver):
    """The test server emptied of nodes, relationships, indexes and constraints."""
    wipe_neo4j(neo4j_driver)
    return neo4j_driver


@pytest.fixture(scope="session")
def neo4j_wipe():
    """The function that empties the test server (for fixtures of a wider scope than
    ``neo4j_clean``)."""
    return wipe_neo4j


def wipe_neo4j(driver) -> None:
    with driver.session(database=NEO4J_DATABASE) as session:
        delete_all(session)
    for kind in ("CONSTRAINT", "INDEX"):
        records = driver.execute_query(
            f"SHOW {kind}ES YIELD name, type" if kind == "INDEX" else "SHOW CONSTRAINTS YIELD name",
            database_=NEO4J_DATABASE,
        ).records
        for record in records:
            if kind == "INDEX" and record["type"] == "LOOKUP":
                continue
            # names come from the server itself; escaped all the same
            name = record["name"].replace("`", "``")
            driver.execute_query(f"DROP {kind} `{name}` IF EXISTS", database_=NEO4J_DATABASE)


# -- small graphs built by hand -------------------------------------------------------------


@pytest.fixture
def make_graph():
    """The graph builder: ``make_graph(users=..., items=..., interactions=..., ...)``."""
    return build_graph


@pytest.fixture
def movies() -> GraphTables:
    """Two domains, three users (one with attributes), items linked to entities, awkward names."""
    return movies_graph()


@pytest.fixture
def synthetic_graph():
    """The random one-domain graph builder: ``synthetic_graph(n_users, n_items, per_user)``."""
    return synthetic


@pytest.fixture
def explain_graph() -> GraphTables:
    """The graph of the explanation tests (alice, bob, Heat, Casino, De Niro, ...)."""
    return small_graph()


def _strings(values) -> pd.Series:
    return pd.Series(list(values), dtype="string")


def build_graph(
    *,
    users: list[dict] = (),
    items: list[dict] = (),
    entities: list[dict] = (),
    interactions: list[tuple] = (),
    knowledge: list[tuple] = (),
) -> GraphTables:
    """A graph from plain rows. Items are dicts with ``domain`` and ``item_id`` (uid derived);
    interactions are (user_id, item_uid, rating, timestamp); knowledge rows are
    (head_kind, head_key, relation, tail_kind, tail_key)."""
    tables = {}
    if users:
        tables["users"] = pd.DataFrame(list(users)).astype({"user_id": "string"})
    if items:
        df = pd.DataFrame(list(items))
        df.insert(
            0, "uid", [item_uid(d, i) for d, i in zip(df["domain"], df["item_id"], strict=True)]
        )
        for column in ("uid", "domain", "item_id", "title", "entity_id"):
            if column in df:
                df[column] = df[column].astype("string")
        if "year" in df:
            df["year"] = df["year"].astype("Int64")
        tables["items"] = df
        tables["domains"] = pd.DataFrame({"domain": _strings(sorted(set(df["domain"])))})
    if entities:
        tables["entities"] = pd.DataFrame(list(entities)).astype("string")
    if interactions:
        user, item, rating, timestamp = zip(*interactions, strict=True)
        tables["interactions"] = pd.DataFrame(
            {
                "user_id": _strings(user),
                "item_uid": _strings(item),
                "rating": pd.Series(rating, dtype="float64"),
                "timestamp": pd.Series(timestamp, dtype="float64"),
            }
        )
    if knowledge:
        columns = ["head_kind", "head_key", "relation", "tail_kind", "tail_key"]
        tables["knowledge"] = pd.DataFrame(list(knowledge), columns=columns).astype("string")
    return GraphTables(**tables)


def movies_graph() -> GraphTables:
    """Two domains, three users (one with attributes), items linked to entities, awkward names."""
    return build_graph(
        users=[
            {"user_id": "u1", "age": "24", "gender": "F"},
            {"user_id": "u2", "age": "53", "gender": None},
            {"user_id": "u3", "age": None, "gender": "M"},
        ],
        items=[
            {
                "domain": "movies",
                "item_id": "1",
                "title": "Toy Story",
                "year": 1995,
                "genres": ["Animation", "Comedy"],
                "entity_id": "m.01",
            },
            {
                "domain": "movies",
                "item_id": "2",
                "title": "O'Brien `quoted`\nline",
                "year": None,
                "genres": [],
                "entity_id": None,
            },
            {
                "domain": "books",
                "item_id": "1",
                "title": "Dune",
                "year": 1965,
                "genres": None,
                "entity_id": "m.02",
            },
        ],
        entities=[{"entity_id": "m.99", "name": "Frank Herbert"}, {"entity_id": "m.98"}],
        interactions=[
            ("u1", "movies:1", 5.0, 10.0),
            ("u1", "books:1", 4.0, None),
            ("u2", "movies:1", None, 12.0),
            ("u2", "movies:2", 2.5, 13.0),
            ("u3", "books:1", 1.0, 14.0),
        ],
        knowledge=[
            ("Item", "movies:1", "film.film.actor", "Entity", "m.98"),
            ("Item", "books:1", "book.written_by", "Entity", "m.99"),
            ("Entity", "m.99", "people.person.spouse", "Entity", "m.98"),
            ("Item", "movies:1", "film.film.sequel", "Item", "movies:2"),
            ("Entity", "m.98", "weird`name'\n}) DETACH DELETE n //", "Item", "books:1"),
        ],
    )


def synthetic(n_users: int, n_items: int, per_user: int, seed: int = 0) -> GraphTables:
    """A random one-domain graph: ``per_user`` distinct items for each user."""
    rng = np.random.default_rng(seed)
    users = [f"u{u}" for u in range(n_users)]
    items = [{"domain": "synth", "item_id": str(i), "title": f"item {i}"} for i in range(n_items)]
    rows = []
    for u in users:
        for i in rng.choice(n_items, size=per_user, replace=False):
            rows.append((u, f"synth:{i}", float(rng.integers(1, 6)), float(rng.integers(10**9))))
    return build_graph(users=[{"user_id": u} for u in users], items=items, interactions=rows)


def small_graph() -> GraphTables:
    """Alice watched Heat (action) and Toy Story (comedy). Casino shares Heat's rare actor
    De Niro and the hub genre Crime; Bob watched Heat and Casino; Cars is a Toy Story sequel."""
    items = pd.DataFrame(
        {
            "uid": ["action:heat", "action:casino", "comedy:toy", "comedy:cars", "action:x"],
            "domain": ["action", "action", "comedy", "comedy", "action"],
            "item_id": ["heat", "casino", "toy", "cars", "x"],
            "title": ["Heat", "Casino", "Toy Story", "Cars", "X"],
        }
    )
    interactions = pd.DataFrame(
        {
            "user_id": ["alice", "alice", "bob", "bob", "carol", "carol", "dave"],
            "item_uid": [
                "action:heat",
                "comedy:toy",
                "action:heat",
                "action:casino",
                "action:x",
                "action:casino",
                "action:x",
            ],
        }
    )
    knowledge = pd.DataFrame(
        [
            ("Item", "action:heat", "film.film.actor", "Entity", "deniro"),
            ("Item", "action:casino", "film.film.actor", "Entity", "deniro"),
            ("Item", "action:heat", "film.film.genre", "Entity", "crime"),
            ("Item", "action:casino", "film.film.genre", "Entity", "crime"),
            ("Item", "action:x", "film.film.genre", "Entity", "crime"),
            ("Item", "comedy:toy", "film.film.genre", "Entity", "crime"),
            ("Item", "comedy:cars", "film.film.prequel", "Item", "comedy:toy"),
            ("Item", "comedy:toy", "film.film.sequel", "Item", "comedy:cars"),
        ],
        columns=["head_kind", "head_key", "relation", "tail_kind", "tail_key"],
    )
    # string dtypes, as the stores' snapshots have them
    return GraphTables(
        domains=pd.DataFrame({"domain": ["action", "comedy"]}),
        users=pd.DataFrame({"user_id": ["alice", "bob", "carol", "dave"]}),
        items=items,
        entities=pd.DataFrame({"entity_id": ["deniro", "crime"], "name": ["De Niro", "Crime"]}),
        interactions=interactions.astype("string"),
        knowledge=knowledge.astype("string"),
    )


# -- training data ---------------------------------------------------------------------------


def two_domain_tables(
    seed: int = 0, num_users: int = 60, domains: tuple[str, str] = ("action", "comedy")
) -> GraphTables:
    """Users with 0-12 interactions in each of two domains (by default "action", "comedy") of
    30 items."""
    rng = np.random.default_rng(seed)
    items = [(d, f"{d[0]}{j}") for d in domains for j in range(30)]
    rows = []
    for u in range(num_users):
        for domain in domains:
            count = int(rng.integers(0, 13))
            for j in rng.choice(30, size=count, replace=False):
                rows.append((f"u{u}", item_uid(domain, f"{domain[0]}{j}")))
    return GraphTables(
        domains=pd.DataFrame({"domain": list(domains)}),
        users=pd.DataFrame({"user_id": [f"u{u}" for u in range(num_users)]}),
        items=pd.DataFrame(
            {
                "uid": [item_uid(d, i) for d, i in items],
                "domain": [d for d, _ in items],
                "item_id": [i for _, i in items],
            }
        ),
        interactions=pd.DataFrame(rows, columns=["user_id", "item_uid"]),
    )


@pytest.fixture(scope="session")
def make_two_domains():
    """``make_two_domains(seed=0, num_users=60, domains=("action", "comedy"))``: the tables of
    :func:`two_domain_tables`."""
    return two_domain_tables


def write_tiny_recbole(folder: Path, seed: int = 0) -> Path:
    """A small RecBole dataset with ml-1m style genres: 30 action and 30 comedy films, 40
    users (u0..u39) with 8-24 ratings each."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    films = [(f"Action {j}", "Action Thriller") for j in range(30)]
    films += [(f"Comedy {j}", "Comedy Romance") for j in range(30)]
    films += [("Both (1999)", "Action Comedy")]  # left out by the rule
    lines = ["item_id:token\tgenre:token"] + [f"{t}\t{g}" for t, g in films]
    (folder / "tiny.item").write_text("\n".join(lines) + "\n")
    rows = ["user_id:token\titem_id:token\trating:float"]
    for u in range(40):
        for j in rng.choice(61, size=int(rng.integers(8, 25)), replace=False):
            rows.append(f"u{u}\t{films[j][0]}\t4")
    (folder / "tiny.inter").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="session")
def write_tiny():
    """``write_tiny(folder, seed=0)``: :func:`write_tiny_recbole`, for fixtures of a wider
    scope than a test's ``tmp_path``."""
    return write_tiny_recbole


@pytest.fixture
def tiny_recbole(tmp_path) -> Path:
    """A folder of RecBole atomic files made by :func:`write_tiny_recbole`."""
    return write_tiny_recbole(tmp_path / "tiny")


def _write_tiny_store(tmp_path: Path, tiny_recbole: Path) -> str:
    """The tiny RecBole files, their domains by the ml1m-action-comedy rule, in a local store
    at ``tmp_path / "store"``; its URI."""
    store = f"local:{tmp_path / 'store'}"
    with open_store(store) as opened:
        opened.write(
            recbole.load(tiny_recbole, domain_rule=named_rule("ml1m-action-comedy")),
            progress=False,
        )
    return store


@pytest.fixture
def write_tiny_store():
    """``write_tiny_store(tmp_path, tiny_recbole)``: :func:`_write_tiny_store`, for a test that
    changes the tiny files before they are loaded."""
    return _write_tiny_store


@pytest.fixture
def tiny_store(tmp_path, tiny_recbole) -> str:
    """The URI of a local store of :func:`tiny_recbole`'s files (:func:`_write_tiny_store`)."""
    return _write_tiny_store(tmp_path, tiny_recbole)


def _write_text_store(folder: Path, tables: GraphTables) -> str:
    """``tables`` in a local store in ``folder``, every item with a seeded 6-d text vector."""
    store = f"local:{folder}"
    keys = sorted(tables.items["uid"])
    vectors = np.random.default_rng(0).normal(size=(len(keys), 6))
    with open_store(store) as opened:
        opened.write(tables, progress=False)
        opened.write_vectors("Item", keys, vectors, property="embedding")
    return store


@pytest.fixture
def write_text_store():
    """``write_text_store(folder, tables)``: the tables in a local store, items with vectors."""
    return _write_text_store


@pytest.fixture
def text_store(tmp_path, tiny_recbole) -> str:
    """The tiny dataset (ml1m-action-comedy domains) in a local store, items with vectors
    (``text_store`` of tests that need text as input)."""
    tables = recbole.load(tiny_recbole, domain_rule=named_rule("ml1m-action-comedy"))
    return _write_text_store(tmp_path / "store", tables)


@pytest.fixture(scope="session")
def bench_script():
    """``bench_script(name)``: the module of ``bench/<name>.py``, loaded with ``bench/`` on the
    import path (the scripts import their neighbours, as when run from there)."""
    import importlib.util
    import sys

    folder = Path(__file__).resolve().parents[1] / "bench"

    def load(name: str):
        sys.path.insert(0, str(folder))
        try:
            spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(folder))
        return module

    return load


@pytest.fixture
def fake_recbole(tmp_path) -> Path:
    """A stand-in for RecBole's environment (``--venv``): its python writes a fixed result
    record where bench/peers.py's worker would (for tests of the benchmarks' bookkeeping)."""
    venv = tmp_path / "fake-recbole"
    (venv / "bin").mkdir(parents=True)
    (venv / ".complete-fake").write_text("")
    record = {
        "model": "LightGCN",
        "valid": {"ndcg@20": 0.1, "recall@20": 0.1},
        "test": {"ndcg@20": 0.2, "recall@20": 0.2},
        "best_epoch": 1,
        "epochs_run": 1,
        "fit_seconds": 1.0,
        "seconds_per_epoch": 1.0,
        "valid_seconds": [1.0],
        "valid_cpu_seconds": [1.0],
    }
    python = venv / "bin" / "python"
    python.write_text(f"#!/bin/sh\necho '{json.dumps(record)}' > result.json\n")
    python.chmod(0o755)
    return venv


class _RecordingSession:
    def __init__(self, driver: RecordingDriver, database: str | None) -> None:
        self.driver, self.database = driver, database

    def __enter__(self) -> _RecordingSession:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def run(self, statement: str, **params):
        self.driver.runs.append(self.database)
        return types.SimpleNamespace(consume=lambda: None)


class RecordingDriver:
    """A neo4j driver stand-in (unit tests of the bench scripts) that records the database
    of every session, statement run in one, and execute_query; execute_query answers
    ``records(query)``."""

    def __init__(self, records=lambda query: []) -> None:
        self.records = records
        self.sessions, self.runs, self.queries = [], [], []

    def __enter__(self) -> RecordingDriver:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def verify_connectivity(self) -> None:
        return None

    def session(self, database=None, **config) -> _RecordingSession:
        self.sessions.append(database)
        return _RecordingSession(self, database)

    def execute_query(self, query, parameters_=None, routing_=None, database_=None, **params):
        self.queries.append(database_)
        return types.SimpleNamespace(records=self.records(query))


@pytest.fixture
def recording_driver():
    """The :class:`RecordingDriver` class."""
    return RecordingDriver
