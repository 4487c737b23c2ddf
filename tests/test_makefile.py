"""The Makefile's checks of its settings, with `make -n`: make parses the Makefile and prints
the commands it would run, and runs none."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _make_n(*targets: str, **env: str) -> subprocess.CompletedProcess:
    outer = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "KGREC_CACHE", "DEPS_VENV", "RECBOLE_VENV")
    environ = {k: v for k, v in os.environ.items() if k not in outer}
    environ.update({"PYTHON": sys.executable, **env})
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


@pytest.mark.parametrize(
    ("target", "folder"), [("setup", "venv-"), ("setup-recbole", "recbole-venv")]
)
def test_the_cache_folder_without_a_space_is_used(tmp_path, target, folder):
    """(Before, `make -n setup-recbole` of a cache not made yet failed: make -n skipped the
    `mkdir` of the lock's folder and ran the `flock` line, which found no folder.)"""
    done = _make_n(target, KGREC_CACHE=str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    assert f"rm -rf {tmp_path / 'cache'}/{folder}" in done.stdout


def test_an_empty_cache_setting_means_the_default(tmp_path):
    """KGREC_CACHE set but empty is ~/.cache/kgrec, as for kgrec and tools/neo4j: before, make
    put the dependency environment in /venv-... at the root of the file system."""
    done = _make_n("setup", KGREC_CACHE="", HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert f"rm -rf {tmp_path}/.cache/kgrec/venv-" in done.stdout
    assert "rm -rf /venv-" not in done.stdout


def _script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)


@pytest.fixture
def clone(tmp_path) -> Path:
    """The Makefile in a clone whose path has a space, set up already (markers in place) and with
    stand-ins that record what they are run with: .venv/bin/python, tools/neo4j/neo4j (a server
    that runs already) and the shared environment's ruff."""
    root = tmp_path / "my projects" / "kgrec"
    (root / "tools").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "tools/venv_key.py", "tools/constraints.txt"):
        shutil.copy(ROOT / name, root / name)
    key = subprocess.run(
        [sys.executable, "tools/venv_key.py"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()
    record = 'echo "$KGREC_PYTHON|$*" >> "$(dirname "$0")/calls"\n'
    deps = tmp_path / "cache" / f"venv-{key}"
    _script(deps / "bin" / "ruff", "exit 0\n")
    _script(deps / "bin" / "python", "echo 2.0-py311\n")
    _script(root / ".venv" / "bin" / "python", record)
    _script(root / "tools" / "neo4j" / "neo4j", record)
    (root / ".venv" / f".kgrec-{key}").write_text(f"{deps}\n")  # the environment it reaches
    for i, marker in enumerate(
        [root / "pyproject.toml", deps / ".complete", root / ".venv" / f".kgrec-{key}"]
    ):
        marker.touch()
        os.utime(marker, (1_000_000 + i, 1_000_000 + i))
    return root


def _make(clone: Path, *targets: str, **env: str) -> subprocess.CompletedProcess:
    outer = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "KGREC_CACHE", "DEPS_VENV", "RECBOLE_VENV")
    environ = {k: v for k, v in os.environ.items() if k not in outer}
    environ.update(PYTHON=sys.executable, KGREC_CACHE=str(clone.parents[1] / "cache"), **env)
    return subprocess.run(
        ["make", "-C", str(clone), *targets],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_neo4j_start_and_test_in_a_clone_whose_path_has_a_space(clone):
    """Before, KGREC_PYTHON=<clone>/.venv/bin/python went to the shell unquoted: `make neo4j-start`
    ran "projects/kgrec/.venv/bin/python" as a command (exit 127), and `make test` stopped at
    `export` ("bad variable name")."""
    python = f"{clone}/.venv/bin/python"
    started = _make(clone, "neo4j-start")
    assert started.returncode == 0, started.stderr
    assert (clone / "tools" / "neo4j" / "calls").read_text() == f"{python}|start\n"
    tested = _make(clone, "test", "PYTEST_ARGS=-k x")
    assert tested.returncode == 0, tested.stderr
    assert (clone / "tools" / "neo4j" / "calls").read_text().splitlines()[1] == f"{python}|status"
    assert (clone / ".venv" / "bin" / "calls").read_text() == f"{python}|-m pytest -k x\n"


@pytest.mark.parametrize(
    ("environment", "arguments"),
    [({"KGREC_DATA": ""}, ()), ({"KGREC_DATA": " "}, ()), ({}, ("KGREC_DATA=",))],
    ids=["empty", "blank", "empty-argument"],
)
def test_an_empty_data_setting_means_the_default(clone, monkeypatch, environment, arguments):
    """KGREC_DATA set but empty is ../shared/datasets in make targets, as in .ci/run and as an
    empty KGREC_CACHE is the default: before, `make quickstart` passed the empty value on, and
    kgrec quickstart stopped with "no data: set KGREC_DATA ..." (found by the fresh47 review)."""
    monkeypatch.delenv("KGREC_DATA", raising=False)
    _script(clone / ".venv" / "bin" / "kgrec", 'echo "$KGREC_DATA|$*" >> "$0.calls"\n')
    done = _make(clone, "quickstart", *arguments, **environment)
    assert done.returncode == 0, done.stderr
    datasets = clone.parent / "shared" / "datasets"
    assert (clone / ".venv" / "bin" / "kgrec.calls").read_text() == f"{datasets}|quickstart\n"


def _deps(clone: Path) -> Path:
    """The shared dependency environment of ``clone``'s cache (not its lock, venv-KEY.lock)."""
    return next(p for p in (clone.parents[1] / "cache").glob("venv-*") if p.is_dir())


def _fake_pip(clone: Path, wheels: str) -> None:
    """The shared environment's pip: `pip wheel ... -w DIR` writes the wheels named in $wheels
    into DIR and fails unless both are there (a build that broke, or was stopped, half-way);
    every call is recorded. Its python has no torch_sparse, so sparse-from-cache installs."""
    deps = _deps(clone)
    _script(
        deps / "bin" / "pip",
        'echo "$*" >> "$(dirname "$0")/pip-calls"\n'
        'if [ "$1" = wheel ]; then\n'
        '  while [ "$1" != -w ]; do shift; done\n'
        f'  for w in {wheels}; do echo partial > "$2/$w-0.1-cp311-linux_x86_64.whl"; done\n'
        f'  [ "{wheels}" = "torch_scatter torch_sparse" ] || exit 1\n'
        "fi\n",
    )
    _script(deps / "bin" / "python", 'case "$*" in *torch_sparse*) exit 1;; esac\necho 2.0-py311\n')


def test_a_sparse_build_that_failed_half_way_is_redone(clone):
    """`pip wheel` of torch-scatter and torch-sparse (40 minutes) that failed or was stopped after
    writing torch_sparse's wheel (torch_scatter's failed, or a partial copy): before, the next
    `make setup-sparse` took the cache folder for complete (it only looked for torch_sparse-*.whl),
    built nothing and installed the half set."""
    wheels = clone.parents[1] / "cache" / "wheels" / "torch-2.0-py311"
    _fake_pip(clone, "torch_sparse")
    failed = _make(clone, "setup-sparse")
    assert failed.returncode != 0
    assert not list(wheels.glob("*.whl"))  # nothing half-built where the cache is read
    _fake_pip(clone, "torch_scatter torch_sparse")
    built = _make(clone, "setup-sparse")
    assert built.returncode == 0, built.stderr
    calls = _deps(clone) / "bin" / "pip-calls"
    assert [c.split()[0] for c in calls.read_text().splitlines()] == ["wheel", "wheel", "install"]
    installed = calls.read_text().splitlines()[-1]
    assert "torch_scatter-0.1" in installed and "torch_sparse-0.1" in installed
    again = _make(clone, "setup-sparse")  # complete now: not built again
    assert again.returncode == 0, again.stderr
    assert [c.split()[0] for c in calls.read_text().splitlines()][3:] == ["install"]


def test_a_sparse_build_without_both_wheels_fails(clone):
    """A `pip wheel` that exits 0 without both wheels is a failed build, and nothing is cached."""
    _fake_pip(clone, "torch_scatter")
    deps = _deps(clone)
    (deps / "bin" / "pip").write_text((deps / "bin" / "pip").read_text().replace("exit 1", ":"))
    failed = _make(clone, "setup-sparse")
    assert failed.returncode != 0
    assert not (clone.parents[1] / "cache" / "wheels" / "torch-2.0-py311").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_an_interrupted_make_test_stops_the_server_it_started(clone, sig):
    """Ctrl-C (SIGINT to make's process group) during the tests: the recipe's shell, /bin/sh
    (dash), died of the signal without running its EXIT trap, and the Neo4j that `make test` had
    started ran on (the server ignores SIGINT: it is started in the background)."""
    neo4j = clone / "tools" / "neo4j" / "neo4j"
    _script(neo4j, 'echo "$1" >> "$(dirname "$0")/calls"\n[ "$1" != status ] || exit 3\n')
    started = clone / "pytest-started"
    _script(clone / ".venv" / "bin" / "python", f'touch "{started}"\nexec sleep 600\n')
    outer = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "KGREC_CACHE", "DEPS_VENV", "RECBOLE_VENV")
    environ = {k: v for k, v in os.environ.items() if k not in outer}
    environ.update(PYTHON=sys.executable, KGREC_CACHE=str(clone.parents[1] / "cache"))
    make = subprocess.Popen(
        ["make", "-C", str(clone), "test"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a process group of its own, as a terminal's job
        # as in a terminal: SIGINT not ignored (it is under a shell's background job)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for _ in range(600):
            if started.exists() or make.poll() is not None:
                break
            time.sleep(0.1)
        assert started.exists(), "the tests did not start"
        os.killpg(make.pid, sig)
        assert make.wait(timeout=60) != 0
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    assert (neo4j.parent / "calls").read_text().split() == ["status", "start", "stop"]


def test_a_venv_of_the_users_own_is_never_removed(clone):
    """Before, `make setup` (whenever pyproject.toml was newer than kgrec's marker, or there was
    none) and `make clean` ran `rm -rf .venv` on any .venv in the clone, one the user had made
    themselves included."""
    shutil.rmtree(clone / ".venv")
    (clone / ".venv" / "lib").mkdir(parents=True)
    (clone / ".venv" / "lib" / "mine.txt").write_text("the user's")
    refused = _make(clone, "setup")
    assert refused.returncode != 0
    assert ".venv is not an environment kgrec made" in refused.stderr
    assert "rm -rf" not in refused.stdout
    cleaned = _make(clone, "clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "left as it is" in cleaned.stdout
    assert (clone / ".venv" / "lib" / "mine.txt").read_text() == "the user's"
    # kgrec's own (a marker of an earlier dependency list): remade, and marked at once
    (clone / ".venv" / ".kgrec-0123456789ab").touch()
    remade = _make(clone, "setup")
    assert "not an environment kgrec made" not in remade.stderr
    assert not (clone / ".venv" / "lib" / "mine.txt").exists()
    assert (clone / ".venv" / ".kgrec-made").exists()
    assert _make(clone, "clean").returncode == 0
    assert not (clone / ".venv").exists()


@pytest.mark.parametrize("recorded", ["elsewhere", "nothing"])
def test_a_venv_reaching_another_environment_is_remade(clone, tmp_path, recorded):
    """.venv reaches the shared environment through a .pth file: before, `make setup` with
    another KGREC_CACHE (the old cache moved or removed) found .venv's marker newer than the
    environment's and did nothing, and .venv went on reaching the old one ("No module named
    'torch'"). Its marker names the environment now; another, or none (a .venv set up
    before), remakes it (found by the fresh47 review)."""
    deps = _deps(clone)
    marker = next((clone / ".venv").glob(".kgrec-????????????"))
    same = _make(clone, "setup")
    assert same.returncode == 0, same.stderr
    assert "rm -rf .venv" not in same.stdout  # up to date: left as it is
    marker.write_text(f"{tmp_path / 'old-cache' / deps.name}\n" if recorded == "elsewhere" else "")
    _script(deps / "bin" / "pip", 'echo "$*" >> "$(dirname "$0")/pip-calls"\n')
    remade = _make(clone, "setup")
    assert remade.returncode == 0, remade.stderr
    assert "rm -rf .venv" in remade.stdout
    assert "--python .venv/bin/python install" in (deps / "bin" / "pip-calls").read_text()
    assert marker.read_text() == f"{deps}\n"
    again = _make(clone, "setup")
    assert again.returncode == 0 and "rm -rf .venv" not in again.stdout, again.stderr


def test_two_sparse_builds_at_once_have_folders_of_their_own(clone):
    """Before, every `make setup-sparse` built in $(SPARSE_WHEELS).tmp, removing it first: a
    second build started during the first's 40 minutes removed the first's folder and wrote
    into it, and the first then moved the shared folder away from under the second."""
    wheels = clone.parents[1] / "cache" / "wheels"
    _fake_pip(clone, "torch_scatter torch_sparse")
    pip = _deps(clone) / "bin" / "pip"
    calls = pip.parent / "pip-calls"
    # each build waits (a bounded while) for the other to start before it writes its wheels
    wait = f'n=0; while [ "$(grep -c wheel "{calls}")" -lt 2 ] && [ $n -lt 600 ]; do\n'
    wait += "  sleep 0.1; n=$((n+1)); done\n"
    text = pip.read_text()
    pip.write_text(text.replace("  while [", wait + "  while [", 1))
    done = _two_at_once(clone, "setup-sparse", sys.executable)
    assert [code for _, _, code in done] == [0, 0], done
    folders = [c.split("-w ")[1].split()[0] for c in calls.read_text().splitlines() if "-w " in c]
    assert len(folders) == 2 and folders[0] != folders[1]
    assert sorted(p.name for p in wheels.iterdir()) == ["torch-2.0-py311"]  # none left over
    built = wheels / "torch-2.0-py311"
    assert sorted(p.name for p in built.iterdir())[0] == ".complete"
    assert len(list(built.glob("*.whl"))) == 2


def test_two_make_tests_at_once_install_the_cached_sparse_wheels_once(clone):
    """`make test` installs the cached torch-scatter and torch-sparse wheels into the shared
    dependency environment when it cannot import torch_sparse. Before, two at once both found
    it missing and both ran `pip install` into that environment at the same time; now the
    install runs under the environment's lock (as `make setup`'s), so the second waits, then
    imports torch_sparse and installs nothing."""
    wheels = clone.parents[1] / "cache" / "wheels" / "torch-2.0-py311"
    wheels.mkdir(parents=True)
    for w in ("torch_scatter", "torch_sparse", ".complete"):
        (wheels / (w if w.startswith(".") else f"{w}-0.1-cp311-linux_x86_64.whl")).touch()
    deps = _deps(clone)
    installed = deps / "torch_sparse-installed"
    # pip install: recorded, slow (so that the two overlap), then torch_sparse imports
    _script(
        deps / "bin" / "pip",
        f'echo "$*" >> "$(dirname "$0")/pip-calls"\nsleep 2\ntouch "{installed}"\n',
    )
    _script(
        deps / "bin" / "python",
        f'case "$*" in *torch_sparse*) [ -f "{installed}" ] || exit 1;; esac\necho 2.0-py311\n',
    )
    done = _two_at_once(clone, "test", sys.executable)
    assert [code for _, _, code in done] == [0, 0], done
    calls = (deps / "bin" / "pip-calls").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith("install"), calls


@pytest.mark.parametrize(
    ("target", "variable"), [("setup", "DEPS_VENV"), ("setup-recbole", "RECBOLE_VENV")]
)
def test_an_environment_setting_naming_a_folder_of_the_users_is_refused(
    clone, tmp_path, target, variable
):
    """Before, `make setup DEPS_VENV=DIR` and `make setup-recbole RECBOLE_VENV=DIR` began with
    `rm -rf DIR`: an environment of the user's own there (their RecBole, say) was deleted."""
    mine = tmp_path / "my-env"
    (mine / "lib").mkdir(parents=True)
    (mine / "lib" / "mine.txt").write_text("the user's")
    done = _make(clone, target, f"{variable}={mine}")
    assert done.returncode != 0
    assert f"{target}: {mine} is no environment kgrec made" in done.stderr
    assert "rm -rf" not in done.stdout and "installing" not in done.stdout
    assert (mine / "lib" / "mine.txt").read_text() == "the user's"


def test_two_recbole_setups_at_once_install_once(clone, tmp_path):
    """Before, two `make setup-recbole` at once both ran `rm -rf` of the RecBole environment
    and installed into it, each removing the folder the other was installing into; now the
    second waits for the first's lock, then finds its marker and installs nothing."""
    calls = tmp_path / "venv-calls"
    done = _two_at_once(clone, "setup-recbole", _venv_python(tmp_path, calls))
    assert [code for _, _, code in done] == [0, 0], done
    venv = clone.parents[1] / "cache" / "recbole-venv"
    assert calls.read_text().splitlines() == [str(venv)]  # made once, never removed again
    assert len(list(venv.glob(".complete-*"))) == 1 and (venv / ".kgrec-made").exists()


def test_two_setups_at_once_make_the_environment_once(clone, tmp_path):
    """Before, two `make setup` at once (two terminals, or CI and a user) both ran `rm -rf` of
    the shared dependency environment and installed into it, each removing what the other was
    installing; now the second waits for the first's lock (DEPS_VENV.lock), then finds its
    markers and has nothing to do."""
    deps = _deps(clone)
    key = deps.name.removeprefix("venv-")
    shutil.rmtree(deps)
    shutil.rmtree(clone / ".venv")
    calls = tmp_path / "venv-calls"
    done = _two_at_once(clone, "setup", _venv_python(tmp_path, calls))
    assert [code for _, _, code in done] == [0, 0], done
    assert calls.read_text().splitlines() == [str(deps), ".venv"]  # each made once
    assert (deps / ".complete").exists() and (deps / ".kgrec-made").exists()
    assert (clone / ".venv" / f".kgrec-{key}").exists()
    assert (clone / ".venv" / "_kgrec_deps.pth").read_text() == f"{deps}/bin/..\n"


def _venv_python(tmp_path: Path, calls: Path) -> Path:
    """A stand-in PYTHON: `-m venv [--without-pip] DIR` makes a stand-in environment (slowly,
    so that two at once overlap) whose pip does nothing and whose python prints DIR (as its
    purelib), and is recorded in ``calls``; anything else is the real Python
    (tools/venv_key.py)."""
    python = tmp_path / "bin" / "python"
    _script(
        python,
        'if [ "$1 $2" = "-m venv" ]; then\n'
        '  eval dir=\\"\\${$#}\\"\n'
        f'  echo "$dir" >> "{calls}"\n'
        '  mkdir -p "$dir/bin"; printf "#!/bin/sh\\nexit 0\\n" > "$dir/bin/pip"\n'
        '  printf "#!/bin/sh\\necho \\"\\$(dirname \\"\\$0\\")/..\\"\\n" > "$dir/bin/python"\n'
        '  chmod +x "$dir/bin/pip" "$dir/bin/python"\n'
        "  sleep 2\n"
        "  exit 0\n"
        "fi\n"
        f'exec "{sys.executable}" "$@"\n',
    )
    return python


def _two_at_once(clone, target: str, python) -> list[tuple[str, str, int]]:
    """(stdout, stderr, exit code) of two `make TARGET` in ``clone`` started at once, with
    PYTHON=``python`` and a cache of the test's own (no outer make's or user's settings)."""
    outer = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "KGREC_CACHE", "DEPS_VENV", "RECBOLE_VENV")
    environ = {k: v for k, v in os.environ.items() if k not in outer}
    environ.update(PYTHON=str(python), KGREC_CACHE=str(clone.parents[1] / "cache"))
    makes = [
        subprocess.Popen(
            ["make", "-C", str(clone), target],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    return [(*make.communicate(timeout=120), make.returncode) for make in makes]


@pytest.mark.slow
def test_setup_installs_kgrec_without_setuptools_notice(tmp_path):
    """`make setup` in a copy of the clone, with the dependency environment of the tests (it
    installs no dependency): before, setuptools' notice of an editable install of several
    top-level packages came with every .venv (`BuildBackendWarning: Editable installation. ...
    Please be careful with folders in your working directory with the same name as your
    package`), which says nothing here, where those folders are the package (found by the
    tidy48 review). A PYTHONWARNINGS of the user's does not bring it back."""
    cache = Path(os.environ.get("KGREC_CACHE") or Path.home() / ".cache" / "kgrec")
    key = subprocess.run(
        [sys.executable, "tools/venv_key.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    if not (cache / f"venv-{key}" / ".complete").is_file():
        pytest.skip(f"needs the dependency environment {cache / f'venv-{key}'} (make setup)")
    clone = tmp_path / "clone"
    for name in ("kgrec", "graph_schema", "loaders"):
        shutil.copytree(ROOT / name, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in (
        "Makefile",
        "pyproject.toml",
        "README.md",
        "tools/venv_key.py",
        "tools/constraints.txt",
    ):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, clone / name)
    outer = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "DEPS_VENV", "RECBOLE_VENV")
    environ = {k: v for k, v in os.environ.items() if k not in outer}
    environ.update(PYTHON=sys.executable, KGREC_CACHE=str(cache), PYTHONWARNINGS="default")
    done = subprocess.run(
        ["make", "-C", str(clone), "setup"], env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "pip --python .venv/bin/python install" in done.stdout  # .venv was made
    assert "Editable installation" not in done.stderr and "Warning" not in done.stderr, done.stderr
    found = subprocess.run(
        [clone / ".venv" / "bin" / "python", "-c", "import kgrec; print(kgrec.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert found.stdout.strip() == str(clone / "kgrec" / "__init__.py"), found.stderr


def test_the_recbole_environment_is_keyed_by_the_python_version(tmp_path):
    """The RecBole environment's marker names the Python it was made with, as the dependency
    environment's key does: before, `make setup-recbole PYTHON=python3.12` found the
    environment made with 3.11 complete (its key held the requirements alone) and kept it."""
    fake = tmp_path / "bin" / "python3"
    _script(  # the real Python, which says it is another version when asked for it alone
        fake,
        f"""if [ "$2" = "import sys; print(sys.version.split()[0])" ]; then echo 3.99.0; exit; fi
exec {sys.executable} "$@"
""",
    )
    fake.chmod(0o755)
    cache = tmp_path / "cache"
    (cache / "recbole-venv").mkdir(parents=True)
    markers = []
    for python in (sys.executable, str(fake)):
        done = _make_n("setup-recbole", KGREC_CACHE=str(cache), PYTHON=python)
        assert done.returncode == 0, done.stderr
        markers.append(next(w for w in done.stdout.split() if "/.complete-" in w))
    assert markers[0] != markers[1]
    # the one made with this Python is complete: nothing to do for it, all for the other
    (Path(markers[0])).touch()
    assert "rm -rf" not in _make_n("setup-recbole", KGREC_CACHE=str(cache)).stdout
    assert "rm -rf" in _make_n("setup-recbole", KGREC_CACHE=str(cache), PYTHON=str(fake)).stdout
