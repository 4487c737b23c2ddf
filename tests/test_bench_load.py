"""bench/load.py's report, without a server: what its columns say."""

from __future__ import annotations

import pytest


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
