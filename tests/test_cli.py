"""The `kgrec` entry point: one command's parser without the others' imports."""

from __future__ import annotations

import subprocess
import sys

from kgrec.cli import COMMANDS, build_parser


def test_a_named_command_imports_only_its_own_module():
    script = (
        "import sys; from kgrec.cli import build_parser; build_parser(['load', '--help']); "
        "print('torch' in sys.modules, 'kgrec.commands.train' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_without_a_known_command_every_command_is_offered():
    for argv in ([], ["--help"], ["-v"], ["evaluate", "--run", "x"], ["nonsense"]):
        choices = build_parser(argv)._subparsers._group_actions[0].choices
        assert set(COMMANDS) | {"evaluate"} <= set(choices), argv
