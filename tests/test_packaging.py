"""kgrec's pyproject.toml as the build backend reads it: `make setup` installs kgrec with the
setuptools of the dependency environment, which `pip install --upgrade` makes the newest."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_uses_nothing_setuptools_deprecates(monkeypatch):
    """setuptools 84 deprecates `license = { text = "MIT" }` ("By 2027-Feb-18, you need to
    update your project ... or your builds will no longer be supported"): a fresh machine's
    `make setup`, which gets the newest setuptools, would then fail to install kgrec."""
    pytest.importorskip("setuptools")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution
    from setuptools.warnings import SetuptoolsDeprecationWarning

    monkeypatch.chdir(ROOT)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SetuptoolsDeprecationWarning)
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert dist.get_name() == "kgrec"
    assert dist.metadata.license_expression == "MIT"
