"""The test suite empties the database of the Neo4j server it uses: never the user's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_tests_never_use_the_server_neo4j_uri_names():
    """Before, the tests read $NEO4J_URI, which the README tells users to set for their own
    server, and `make test` emptied that database."""
    env = {**os.environ, "NEO4J_URI": "bolt://users-own-server:7687", "NEO4J_DATABASE": "mine"}
    env.pop("KGREC_TEST_NEO4J_URI", None)
    script = (
        "import os, tests.conftest as c; "
        "print(c.NEO4J_URI, c.NEO4J_DATABASE, os.environ.get('NEO4J_URI'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    port = os.environ.get("NEO4J_PORT", "7687")
    assert out.stdout.split() == [f"bolt://127.0.0.1:{port}", "neo4j", "None"]
