"""bench/explain.py, run as a script on a small local store: its figures and its refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kgrec.store import open_store

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "explain.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_times_the_pairs_asked_and_counts_those_with_a_path(tmp_path, explain_graph):
    with open_store(f"local:{tmp_path / 'store'}") as store:
        store.write(explain_graph, progress=False)
    done = run("--store", f"local:{tmp_path / 'store'}", "--pairs", "4")
    assert done.returncode == 0, done.stderr
    assert "4 users, 5 items" in done.stdout
    assert "4 more    median" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].endswith("of 5 pairs")


def test_pairs_below_1_and_a_missing_store_exit_2_with_a_message(tmp_path):
    done = run("--store", f"local:{tmp_path / 'none'}", "--pairs", "0")
    assert done.returncode == 2
    assert "--pairs must be at least 1, got 0" in done.stderr
    done = run("--store", f"local:{tmp_path / 'none'}")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"explain.py: error: no store at {tmp_path / 'none'}" in done.stderr
