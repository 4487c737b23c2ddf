"""bench/load.py without a server: what its report's columns say, and a failing target's
error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
