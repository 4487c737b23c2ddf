"""bench/export.py's messages on bad input (run as a script: its exit code and stderr)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kgrec.store import open_store

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "export.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_a_missing_store_exits_2_with_a_message(tmp_path):
    # before: a StoreError traceback, exit 1
    done = run("--store", f"local:{tmp_path / 'none'}")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(f"export.py: error: no store at {tmp_path / 'none'}")
    )


def test_repeat_below_1_is_refused(tmp_path, movies):
    # before: the store was read, then min() of no timings: a ValueError traceback
    with open_store(f"local:{tmp_path / 'store'}") as store:
        store.write(movies, progress=False)
    done = run("--store", f"local:{tmp_path / 'store'}", "--repeat", "0")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--repeat must be at least 1, got 0" in done.stderr
