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


def _pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (ROOT / "tools" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, version = line.strip().partition("==")
            assert sep, f"tools/constraints.txt: {line!r} is no exact pin (NAME==VERSION)"
            pins[canonicalize_name(name)] = version
    return pins


def test_every_dependency_is_pinned_within_its_range():
    """`make setup` installs tools/constraints.txt's versions: before, whatever the registry
    served that day within pyproject.toml's ranges (most without an upper bound), so two
    machines with the same environment key could hold different packages."""
    import importlib.util

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    spec = importlib.util.spec_from_file_location("venv_key", ROOT / "tools" / "venv_key.py")
    venv_key = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(venv_key)
    pins = _pins()
    for line in venv_key.requirements():
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned in tools/constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"tools/constraints.txt pins {requirement.name}=={pins[name]}, outside {line!r}"
        )


def test_the_torch_geometric_floor_has_the_metrics_kgrec_uses():
    """kgrec.metrics scores every evaluation with PyG's LinkPredMetricCollection and
    LinkPredHitRatio, which PyG 2.7.0 added. Before, pyproject.toml allowed 2.6, where every
    evaluation (validation in training too) ended in an AttributeError: an environment that
    already held PyG 2.6 took kgrec without a word (found by the eval59 review)."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (line,) = [d for d in project["dependencies"] if Requirement(d).name == "torch-geometric"]
    specifier = Requirement(line).specifier
    assert not specifier.contains(Version("2.6.1")), line
    assert specifier.contains(Version("2.7.0")), line


def test_the_environment_key_follows_the_pins(tmp_path):
    """A new pin makes a new environment (the key), as a new range does."""
    import shutil
    import subprocess
    import sys

    (tmp_path / "tools").mkdir()
    for name in ("pyproject.toml", "tools/venv_key.py", "tools/constraints.txt"):
        shutil.copy(ROOT / name, tmp_path / name)

    def key() -> str:
        command = [sys.executable, "tools/venv_key.py"]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True)

    before = key().stdout
    constraints = tmp_path / "tools" / "constraints.txt"
    constraints.write_text(constraints.read_text().replace("tqdm==", "tqdm==0.0.0\n#", 1))
    assert key().stdout != before


PACKAGES = ("kgrec", "graph_schema", "loaders")  # what pyproject.toml's packages.find ships


def test_every_package_is_marked_typed_and_the_build_ships_the_marker(monkeypatch):
    """kgrec ships type hints (and kgrec's API those of graph_schema and loaders: GraphTables,
    InputError): each package has PEP 561's py.typed beside its __init__.py and pyproject.toml
    lists it as package data. Before, none had it, and mypy or pyright importing kgrec said
    "missing library stubs or py.typed marker" (found by the rel50 review)."""
    pytest.importorskip("setuptools")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").is_file()
        assert (ROOT / package / "py.typed").is_file(), f"{package}/py.typed is missing"
    monkeypatch.chdir(ROOT)
    dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    for package in PACKAGES:
        assert "py.typed" in dist.package_data.get(package, []), package


def test_the_wheel_holds_the_py_typed_markers(tmp_path):
    """The wheel setuptools builds from the tracked files (a copy: the build writes build/
    and kgrec.egg-info beside the sources) holds each package's py.typed."""
    import shutil
    import subprocess
    import sys
    import zipfile

    pytest.importorskip("setuptools")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    build = (
        "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path / "dist")],
        cwd=source,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = tmp_path / "dist" / done.stdout.strip().splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        assert f"{package}/py.typed" in names, package
