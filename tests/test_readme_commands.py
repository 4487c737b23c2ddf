"""Every `kgrec` command the README shows is one the command line accepts: a renamed or removed
option, or a misspelt value, fails here instead of in a reader's terminal. Commands are parsed,
not run."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import pytest

from kgrec.cli import COMMANDS, build_parser

README = Path(__file__).resolve().parents[1] / "README.md"

# what the README writes in place of a value, and a value of that kind
PLACEHOLDERS = {
    "S": "0",
    "K": "1",
    "F": "0.2",
    "N": "1",
    "P": "0.5",
    "W": "1",
    "M": "lightgcn",
    "NAME": "ml100k-kg",
}
# a command shown without its required options (prose such as "`kgrec embed` writes ...")
# a synopsis, not a command: "kgrec load <format>", "(--data PATH \\| --store URI)", "..."
SYNOPSIS = ("<", "\\|", "...")
INCOMPLETE = ("the following arguments are required", "one of the arguments")


def readme_commands(*, synopses: bool = False) -> list[str]:
    """The `kgrec` commands the README shows; with ``synopses``, also the synopses (a command
    with `<format>`, `A \\| B` or `...` in it), which are not parsed but name options too."""
    text = README.read_text()
    found: list[str] = []
    in_block = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            found.append(line.split(" #")[0])
        else:
            found += re.findall(r"`([^`]*)`", line)
    # fenced lines continued with a backslash
    joined = "\n".join(found).replace("\\\n", " ").splitlines()
    pattern = re.compile(rf"^kgrec ({'|'.join(COMMANDS)})\b")
    commands = []
    for part in (p.strip() for line in joined for p in re.split(r"&&|; ", line)):
        synopsis = any(m in part for m in SYNOPSIS)
        if pattern.match(part) and (synopses or not synopsis) and part not in commands:
            commands.append(part)
    return commands


def test_the_readme_shows_many_commands():
    commands = readme_commands()
    assert len(commands) > 80
    assert any(c.startswith("kgrec tune ") for c in commands)


@pytest.mark.parametrize("command", readme_commands())
def test_a_readme_command_parses(command):
    command = re.sub(r"\[([^\]]*)\]", r"\1", command)  # an optional part: take it
    argv = shlex.split(command)[1:]
    argv = [
        PLACEHOLDERS.get(arg, arg) if i and argv[i - 1].startswith("--") else arg
        for i, arg in enumerate(argv)
    ]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser(argv).parse_args(argv)
    except SystemExit as exc:
        message = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else ""
        if exc.code and not any(m in message for m in INCOMPLETE):
            pytest.fail(f"{command}\n{message}")


def _command_parser(words: list[str]) -> argparse.ArgumentParser:
    """The parser of ``kgrec WORDS...``: the command's, or its subcommand's (`load recbole`)."""
    parser = build_parser(words)
    for word in words:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            break
        parser = subs[0].choices[word]
    return parser


@pytest.mark.parametrize("command", readme_commands(synopses=True))
def test_a_readme_command_names_only_options_it_has(command):
    """Every option a README command or synopsis names is one of that command's (a command
    that lacks a required option is not parsed to the end, so the parse above misses it)."""
    words = [w for w in command.split()[1:3] if re.fullmatch(r"[a-z][a-z0-9-]*", w)]
    parser = _command_parser(words)
    known = {option for action in parser._actions for option in action.option_strings}
    named = re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", command)
    unknown = [option for option in named if option not in known]
    assert not unknown, f"{command}\nnot an option of kgrec {' '.join(words)}: {unknown}"


def _section(title: str) -> str:
    """The README's section ``## TITLE``, up to the next heading of that level."""
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


# read from the environment, but no setting of kgrec's
NOT_SETTINGS = {"HOME", "BASH_SOURCE", "COLUMNS", "PATH"}


def test_every_environment_variable_the_code_reads_is_in_the_configuration_table():
    """NEO4J_PORT, NEO4J_DIR, NEO4J_HEAP, ... (tools/neo4j), KGREC_TEST_NEO4J_URI and CI (the
    tests), KGREC_NOTEBOOK_EPOCHS and KGREC_NOTEBOOK_RUNS (the notebooks) were read but missing
    from "Configuration"."""
    root = README.parent
    python = re.compile(
        r"""(?:environ\.get\(|environ\[|getenv\(|environ\.setdefault\(|getOrDefault\()"""
        r"""\s*["']([A-Z][A-Z0-9_]+)["']"""
    )
    shell = re.compile(r"\$\{?([A-Z][A-Z0-9_]+)")
    read: dict[str, str] = {}
    for folder in ("kgrec", "loaders", "graph_schema", "bench", "tools"):
        for path in [*(root / folder).rglob("*.py"), *(root / folder).rglob("*.java")]:
            for name in python.findall(path.read_text()):
                read.setdefault(name, str(path.relative_to(root)))
    for name in python.findall((root / "tests" / "conftest.py").read_text()):
        read.setdefault(name, "tests/conftest.py")
    for path in (root / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        for name in python.findall("\n".join("".join(cell["source"]) for cell in cells)):
            read.setdefault(name, str(path.relative_to(root)))
    for path in (root / "tools" / "neo4j" / "neo4j", root / ".ci" / "run"):
        lines = path.read_text().splitlines()
        code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
        for name in shell.findall(code):
            read.setdefault(name, str(path.relative_to(root)))
    assert "NEO4J_PASSWORD" in read and "NEO4J_PORT" in read  # the scan finds them
    table = _section("Configuration")
    missing = {
        name: path
        for name, path in read.items()
        if name not in NOT_SETTINGS and f"`{name}`" not in table
    }
    assert not missing, f"read by the code, not in README's Configuration table: {missing}"


def test_every_option_of_every_command_is_in_the_command_line_section():
    """The other way round from the tests above: every option a parser has is named in the
    README's "Command line" section (`--score`, `--relation-weighting` and `--cold-item-scale`
    were named only in Results' tables)."""
    text = _section("Command line")
    missing = []
    for command in COMMANDS:
        parser = _command_parser([command])
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parsers = subs[0].choices.items() if subs else [(None, parser)]
        for sub, each in parsers:
            for action in each._actions:
                options = [o for o in action.option_strings if o not in ("-h", "--help")]
                if options and not any(
                    re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text) for o in options
                ):
                    missing.append(" ".join(filter(None, ["kgrec", command, sub, *options])))
    assert not missing, f"options README's Command line section never names: {missing}"


def test_the_readme_names_ml100k_items_in_the_domain_its_loads_give_them():
    """The quickstart loads ml-100k with `--domain movies`, as Loading data's example does; the
    README's examples that follow them name its items `movies:ID`, and its Python runs read it
    into that domain too (`kgrec explain 196 ml-100k:242`, the explain row's example, after the
    walkthrough said "item 'ml-100k:242' is not in the graph")."""
    text = README.read_text()
    quickstart = (README.parent / "kgrec" / "commands" / "quickstart.py").read_text()
    assert '"recbole", data_arg, "--domain", "movies"' in quickstart
    # Loading data's (the first); Results' recipes load their own store, `stores/ml100k`
    loads = [c for c in readme_commands() if re.match(r"kgrec load recbole \S*ml-100k\b", c)]
    assert loads[0] == "kgrec load recbole $KGREC_DATA/ml-100k --domain movies", loads
    calls = re.findall(r"(?:recbole\.load|\btrain)\([^)]*ml-100k\"[^)]*\)", text)
    assert calls and all('domain="movies"' in c for c in calls), calls
    examples = re.sub(r"item '[^']*' is not in the graph", "", text)  # an error's uid: wrong
    shown = re.findall(r"(?<![\w./-])(?:ml-100k|movies):\d+\b", examples)
    wrong = [uid for uid in shown if not uid.startswith("movies:")]
    assert shown and not wrong, wrong
