"""Every bench/ script's --help: its description is its docstring's first paragraph, whole."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SCRIPTS = sorted(path.stem for path in (Path(__file__).parents[1] / "bench").glob("*.py"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_describes_the_script_in_whole_sentences(name, bench_script, monkeypatch, capsys):
    """Before, bench/evaluate.py's ended "... all, warm and cold users) on" and
    bench/scale.py's "... at 1M, 5M and 20M interactions, and": their first line alone."""
    script = bench_script(name)
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--help"])
    with pytest.raises(SystemExit) as stop:
        script.main()
    assert stop.value.code == 0
    first = " ".join(script.__doc__.split("\n\n")[0].split())
    assert first in " ".join(capsys.readouterr().out.split())
