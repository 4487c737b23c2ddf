"""The `kgrec` entry point: the listing imports no command, a command imports only its own
module, and a command module that fails to import is an error, not a missing command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kgrec.cli import COMMANDS, build_parser
from kgrec.store.local import LocalStore


def test_a_named_command_imports_only_its_own_module():
    script = (
        "import sys; from kgrec.cli import build_parser; build_parser(['load', '--help']); "
        "print('torch' in sys.modules, 'kgrec.commands.train' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_without_a_known_command_every_command_is_offered():
    for argv in ([], ["--help"], ["-v"], ["nonsense"]):
        choices = build_parser(argv)._subparsers._group_actions[0].choices
        assert set(COMMANDS) == set(choices), argv
    choices = build_parser(["evaluate", "--run", "x"])._subparsers._group_actions[0].choices
    assert "evaluate" in choices and "train" in choices  # one module, two commands


def test_the_listing_imports_no_command_and_prints_no_warning():
    script = (
        "import sys; from kgrec.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, any(m.startswith('kgrec.commands.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["False", "False"]
    assert "train a model" in out.stdout
    assert out.stderr == ""


def test_train_help_prints_no_warning():
    out = subprocess.run(
        [sys.executable, "-m", "kgrec.cli", "train", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--objective" in out.stdout
    assert out.stderr == ""  # no torch.jit FutureWarning from PyG's import


def test_a_command_module_that_fails_to_import_is_an_error(monkeypatch):
    monkeypatch.setitem(COMMANDS, "split", ("no_such_module", "gone"))
    with pytest.raises(ModuleNotFoundError, match=r"kgrec\.commands\.no_such_module"):
        build_parser(["split"])


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path, explain_graph):
    """`kgrec graph stats | head` whose reader left before kgrec wrote: kgrec printed a
    BrokenPipeError traceback (exit 1) or "Exception ignored" (exit 120); it now stops as a
    program killed by SIGPIPE would (exit 141), silently."""
    LocalStore(tmp_path / "store").write(explain_graph, progress=False)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before kgrec writes
    try:
        store = f"local:{tmp_path / 'store'}"
        done = subprocess.run(
            [sys.executable, "-m", "kgrec", "graph", "stats", "--json", "--store", store],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
