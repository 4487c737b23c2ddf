"""The Makefile's checks of its settings, with `make -n`: make parses the Makefile and prints
the commands it would run, and runs none."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _make_n(*targets: str, **env: str) -> subprocess.CompletedProcess:
    outer = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "KGREC_CACHE", "DEPS_VENV", "RECBOLE_VENV")
    environ = {k: v for k, v in os.environ.items() if k not in outer}
    environ.update(PYTHON=sys.executable, **env)
    return subprocess.run(
        ["make", "-n", "-C", str(ROOT), *targets],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("target", "variable"),
    [("setup", "KGREC_CACHE"), ("setup", "DEPS_VENV"), ("setup-recbole", "RECBOLE_VENV")],
)
def test_a_folder_with_a_space_is_refused(tmp_path, target, variable):
    """make splits paths at spaces: before, KGREC_CACHE="<dir>/mine cache" made `make setup` run
    `rm -rf <dir>/mine cache/venv-...`, which removed <dir>/mine, a folder of the user's, and
    made a virtual environment in its place."""
    done = _make_n(target, **{variable: f"{tmp_path / 'mine'} cache"})
    assert done.returncode != 0
    assert "cannot use a path with a space in it" in done.stderr
    assert "rm -rf" not in done.stdout


def test_the_cache_folder_without_a_space_is_used(tmp_path):
    done = _make_n("setup", KGREC_CACHE=str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    assert f"rm -rf {tmp_path / 'cache'}/venv-" in done.stdout
