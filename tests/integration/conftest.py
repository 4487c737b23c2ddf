"""A Neo4j server of a test's own (tools/neo4j, data in tmp_path), for tests that stop it or
start it with settings of their own, so that no other test is disturbed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from neo4j import Driver, GraphDatabase

TOOL = Path(__file__).resolve().parents[2] / "tools" / "neo4j" / "neo4j"


class Server:
    """A tools/neo4j server in ``folder``; ``environment`` adds its settings (NEO4J_HEAP, ...).
    Its port: $NEO4J_OWN_PORT, else a free one."""

    def __init__(self, folder: Path, auth: tuple[str, str], **environment: str) -> None:
        self.auth = auth
        self.port = int(os.environ.get("NEO4J_OWN_PORT") or _free_port())
        self.uri = f"bolt://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "NEO4J_PORT": str(self.port),
            "NEO4J_DIR": str(folder),
            "NEO4J_PASSWORD": auth[1],
            "NEO4J_HEAP": "1g",
            "KGREC_PYTHON": sys.executable,
            **environment,
        }

    def __call__(self, command: str) -> None:
        done = subprocess.run(
            [str(TOOL), command], env=self.env, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            pytest.fail(f"tools/neo4j/neo4j {command} failed:\n{done.stderr}")

    def connect(self, **options) -> Driver:
        return GraphDatabase.driver(
            self.uri, auth=self.auth, notifications_min_severity="OFF", **options
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_neo4j(tmp_path, neo4j_settings):
    """``own_neo4j(**environment)``: a started server of the test's own, stopped after it."""
    started: list[Server] = []

    def start(**environment: str) -> Server:
        server = Server(tmp_path / f"neo4j-{len(started)}", neo4j_settings.auth, **environment)
        server("start")
        started.append(server)
        return server

    yield start
    for server in started:
        server("stop")
