"""The `kgrec` entry point: the listing imports no command, a command imports only its own
module, and a command module that fails to import is an error, not a missing command."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kgrec import cli
from kgrec.cli import COMMANDS, build_parser, main
from kgrec.store.local import LocalStore


def _python(script: str) -> subprocess.CompletedProcess:
    """``script`` run in a new Python (nothing imported yet), its output captured."""
    command = [sys.executable, "-c", script]
    return subprocess.run(command, capture_output=True, text=True, check=True)


def test_a_named_command_imports_only_its_own_module():
    script = (
        "import sys; from kgrec.cli import build_parser; build_parser(['load', '--help']); "
        "print('torch' in sys.modules, 'kgrec.commands.train' in sys.modules)"
    )
    out = _python(script)
    assert out.stdout.split() == ["False", "False"]


def test_no_command_imports_pyg_to_parse_its_arguments():
    # PyG takes seconds to import: it is imported where a graph is built, so that --help and
    # an argument error come without it
    script = (
        "import sys; from kgrec.cli import COMMANDS, build_parser\n"
        "for name in COMMANDS:\n    build_parser([name])\n"
        "print('torch_geometric' in sys.modules)"
    )
    out = _python(script)
    assert out.stdout.split() == ["False"]


def _commands(parser: argparse.ArgumentParser, path: list[str]) -> list[list[str]]:
    """``path``, the command ``parser`` parses, and those of its subcommands, theirs, ..."""
    found = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, [*path, name])
    return found


def test_no_help_or_argument_error_imports_torch_pandas_or_neo4j():
    # torch took 2 s of CPU to import, pandas (numpy, pyarrow) 0.35 s and the neo4j driver
    # 0.3 s more: the parsers' defaults and choices come from modules that import none
    # (kgrec.settings, graph_schema.arguments, loaders.options, ...), the command's work
    # imports them as it runs. Every command's help, its subcommands' (kgrec load table --help)
    # and some argument errors, in one new Python; the first that imports one is named.
    # tqdm too: `kgrec download --help` imported it (kgrec.download's top; data47 review)
    argvs = [["--help"], ["--version"]]
    for name in COMMANDS:
        parser = build_parser([name])._subparsers._group_actions[0].choices[name]
        argvs += [[*path, "--help"] for path in _commands(parser, [name])]
    assert ["load", "table", "--help"] in argvs and ["graph", "stats", "--help"] in argvs
    argvs += [
        ["train", "--model", "nope"],
        ["tune", "--model", "lightgcn"],
        ["split"],
        ["load", "table"],
        ["load", "table", "x", "--kind", "nope"],
        ["load", "recbole", " "],
        ["graph", "stats", "--nope"],
        ["explain", "u", "i", "-k", "0"],
    ]
    heavy = ("torch", "optuna", "pandas", "neo4j", "numpy", "tqdm")
    script = (
        "import sys; from kgrec.cli import main\n"
        f"imported = 'none'\nfor argv in {argvs!r}:\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        f"    heavy = [m for m in {heavy!r} if m in sys.modules]\n"
        "    if heavy:\n"
        "        imported = ' '.join(argv) + ': ' + ', '.join(heavy)\n        break\n"
        "print('imported', imported, file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.stderr.splitlines()[-1] == "imported none"
    assert "--objective {bpr,softmax}" in out.stdout  # kgrec train --help printed in full
    assert "--kind {interactions,items,users,entities}" in out.stdout  # kgrec load table --help
    assert "invalid choice: 'nope'" in out.stderr


def test_version_is_the_packages(capsys):
    """``kgrec --version`` says the version pyproject.toml gives the package (there was no
    such option: ``kgrec --version`` was an argument error)."""
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    version = project["project"]["version"]
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"kgrec {version}\n"


def test_a_lazy_package_gives_its_submodules_as_before():
    # kgrec.data, kgrec.models and graph_schema import their names lazily (session 45), loaders
    # too (session 46: kgrec load --help reads loaders.rules); a program of an older kgrec that
    # imported the package reached its names and submodules through it (`import kgrec.data`
    # then `kgrec.data.split.make_split`, `from loaders import DomainRule`), which imported
    # them all
    script = (
        "import sys; import kgrec.data, kgrec.models, graph_schema, loaders\n"
        "print('torch' in sys.modules, 'pandas' in sys.modules)\n"
        "print(kgrec.data.split.make_split.__module__, kgrec.data.export.IdMaps.__module__,"
        " kgrec.models.base.top_k.__module__, graph_schema.tables.item_uid.__module__,"
        " loaders.recbole.load.__module__, loaders.DomainRule.__module__,"
        " loaders.merge_tables.__module__)\n"
        "for package in (kgrec.data, kgrec.models, graph_schema, loaders):\n"
        "    try:\n        package.nonesuch\n"
        "    except AttributeError as exc:\n        print(exc)\n"
    )
    out = _python(script).stdout.splitlines()
    assert out[0].split() == ["False", "False"]  # importing them loads no torch, no pandas
    assert out[1].split() == [
        "kgrec.data.split",
        "kgrec.data.export",
        "kgrec.models.base",
        "graph_schema.tables",
        "loaders.recbole",
        "loaders.rules",
        "loaders.build",
    ]
    assert out[2:] == [
        "module 'kgrec.data' has no attribute 'nonesuch'",
        "module 'kgrec.models' has no attribute 'nonesuch'",
        "module 'graph_schema' has no attribute 'nonesuch'",
        "module 'loaders' has no attribute 'nonesuch'",
    ]


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
        "print('torch' in sys.modules, any(m.startswith('kgrec.commands.') for m in sys.modules),"
        " 'pandas' in sys.modules)"
    )
    out = _python(script)
    assert out.stdout.split()[-3:] == ["False", "False", "False"]
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


# every option (and argument) that names a file or folder, with what the command needs before it
PATH_OPTIONS = [
    (["download", "ml-100k"], "--dest"),
    (["embed", "--store", "local:s"], "--template-file"),
    (["embed", "--store", "local:s"], "--cache"),
    (["load", "recbole", "--store", "local:s"], "path"),
    (["load", "movielens", "--store", "local:s", "m"], "--user-links"),
    (["load", "movielens", "--store", "local:s"], "path"),
    (["load", "table", "--store", "local:s"], "path"),
    (["load", "kg", "--store", "local:s"], "path"),
    (["load", "kg", "--store", "local:s", "t.tsv"], "--links"),
    (["split", "--protocol", "ml100k-new-items"], "--data"),
    (["train", "--model", "lightgcn", "--data", "d"], "--split"),
    (["split", "--data", "d", "--protocol", "ml100k-new-items"], "--write-split"),
    (["train", "--model", "lightgcn"], "--out"),
    (["train", "--model", "lightgcn"], "--init-from"),
    (["train", "--model", "lightgcn"], "--distill-from"),
    (["evaluate"], "--run"),
    (["evaluate", "--run", "r"], "--plot"),
    (["tune", "--model", "lightgcn"], "--out"),
    (["tune", "--model", "lightgcn"], "--init-from"),
    (["tune", "--model", "lightgcn"], "--distill-from"),
    (["tune", "--model", "lightgcn"], "--plot"),
    (["recommend"], "--run"),
    (["recommend", "--run", "r"], "--export"),
    (["quickstart"], "--data"),
    (["quickstart"], "--out"),
]


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize(("before", "option"), PATH_OPTIONS)
def test_a_blank_path_is_refused_naming_the_option(capsys, before, option, blank):
    """`--dest "$UNSET"`: a blank path was Path('.'), the working folder (kgrec download wrote
    there, not to $KGREC_DATA), or a folder named by blanks; argparse now refuses it, naming
    the option, before anything is read or written."""
    argv = [*before, blank] if option == "path" else [*before, option, blank]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: a path may not be empty or blank, got {blank!r}" in err


DOMAIN_OPTIONS = [
    (["load", "recbole", "--store", "local:s", "d"], "--domain", "a domain"),
    (["load", "recbole", "--store", "local:s", "d"], "--domain-rule", "a domain rule"),
    (["load", "movielens", "--store", "local:s", "d"], "--domain", "a domain"),
    (["load", "table", "--store", "local:s", "t.csv"], "--domain", "a domain"),
    (["load", "table", "--store", "local:s", "t.csv"], "--domain-rule", "a domain rule"),
    (["load", "kg", "--store", "local:s", "t.tsv", "--links", "l.tsv"], "--domain", "a domain"),
    (
        ["train", "--model", "mf", "--protocol", "ml100k-kg", "--data", "d", "--out", "r"],
        "--domain",
        "a domain",
    ),
    (
        ["train", "--model", "mf", "--protocol", "ml100k-kg", "--data", "d", "--out", "r"],
        "--domain-rule",
        "a domain rule",
    ),
    (
        ["tune", "--model", "mf", "--protocol", "ml100k-kg", "--data", "d", "--out", "t"],
        "--domain",
        "a domain",
    ),
    (
        ["split", "--protocol", "ml100k-kg", "--data", "d", "--write-split", "s"],
        "--domain-rule",
        "a domain rule",
    ),
]


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize(("before", "option", "what"), DOMAIN_OPTIONS)
def test_a_blank_domain_or_domain_rule_is_refused_naming_the_option(
    tmp_path, monkeypatch, capsys, before, option, what, blank
):
    """`--domain "$UNSET"`: an empty --domain or --domain-rule was taken as none given, or
    (`kgrec load`) put every item into the domain `default` rather than the dataset's name,
    without a word; argparse now refuses it, naming the option, before anything is read."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main([*before, option, blank])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {what} may not be empty or blank, got {blank!r}" in err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_embed_model_is_refused_naming_the_option(capsys, blank):
    """`kgrec embed --model "$UNSET"` (a Hugging Face id or a folder): "" was the working folder
    ("model '': folder has no config.json"), refused by argparse now, as a blank path is"""
    with pytest.raises(SystemExit) as stopped:
        main(["embed", "--store", "local:s", "--model", blank])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --model: a model may not be empty or blank, got {blank!r}" in err


def test_an_embed_model_that_is_not_found_names_the_option(tmp_path, capsys):
    # before: "model '...' is neither ...", no option named
    for model, says in (
        (str(tmp_path / "no" / "model"), "is neither an existing folder nor a Hugging Face"),
        (str(tmp_path), "folder has no config.json"),
    ):
        assert main(["embed", "--store", f"local:{tmp_path / 's'}", "--model", model]) == 2
        err = capsys.readouterr().err
        assert f"field '--model': model {model!r}" in err and says in err
    assert not (tmp_path / "s").exists()


def test_every_path_option_is_in_the_blank_path_test():
    """a new option of type=Path (a blank one read as the working folder) fails here"""
    from kgrec.commands.options import path_option

    named = set()
    for command in COMMANDS:
        parser = build_parser([command])._subparsers._group_actions[0].choices[command]
        parsers = [parser]
        while parsers:
            parser = parsers.pop()
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    parsers.extend(action.choices.values())
                    continue
                assert action.type is not Path, (command, action.dest)
                if action.type is path_option:
                    named.add(action.option_strings[-1] if action.option_strings else "path")
    assert named == {option for _, option in PATH_OPTIONS}


def test_ctrl_c_while_the_command_is_imported_gets_no_traceback(monkeypatch, capsys):
    # before: Ctrl-C in a command's first seconds, as its module imports torch and PyG,
    # was a KeyboardInterrupt traceback through importlib (the process killed by SIGINT)
    import kgrec.cli

    def interrupted(name):
        raise KeyboardInterrupt

    monkeypatch.setattr(kgrec.cli.importlib, "import_module", interrupted)
    assert kgrec.cli.main(["train", "--model", "lightgcn"]) == 130
    assert capsys.readouterr().err == "kgrec train: interrupted\n"


def test_sigterm_stops_a_command_as_ctrl_c_does_and_only_while_it_runs(monkeypatch, capsys):
    # before: SIGTERM (`kill`, `timeout`, a batch scheduler, torchrun's agent) ended Python at
    # once, with none of Ctrl-C's handling; now a command stops as on Ctrl-C, exit code 143,
    # and the handler is the command's alone: none as kgrec is imported, none after main()
    import kgrec.cli

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def terminated(name):
        _sigterm()

    monkeypatch.setattr(kgrec.cli.importlib, "import_module", terminated)
    assert kgrec.cli.main(["train", "--model", "lightgcn"]) == 143
    assert capsys.readouterr().err == "kgrec train: terminated (SIGTERM)\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize("when", ["imported", "run"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_stop_as_a_c_extension_initialises_gets_no_traceback(monkeypatch, capsys, signum, when):
    # pybind11 (torch's C extensions) raises an error raised as its module initialises as
    # ImportError("initialization failed") from it: a Ctrl-C or SIGTERM then, as a command's
    # module imports torch, or as a command (a step of `kgrec quickstart`) imports more. Before:
    # that ImportError's traceback, exit code 1 (seen as a quickstart was sent SIGTERM)
    import kgrec.cli
    import kgrec.threads

    def initialising(*args):
        try:
            _sigterm() if signum == signal.SIGTERM else os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc
        pytest.fail("no KeyboardInterrupt")

    if when == "imported":
        monkeypatch.setattr(kgrec.cli.importlib, "import_module", initialising)
        argv = ["train", "--model", "lightgcn"]
    else:
        monkeypatch.setattr(kgrec.threads, "set_threads", initialising)
        argv = ["evaluate", "--run", "no-such-run"]
    assert kgrec.cli.main(argv) == 128 + signum
    word = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
    assert capsys.readouterr().err == f"kgrec {argv[0]}: {word}\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize("where", ["logging", "flush"])
def test_a_sigterm_between_the_parse_and_the_command_gets_no_traceback(
    monkeypatch, capsys, tmp_path, tiny_recbole, where
):
    # before: the parse and the command were two try blocks with logging's set-up between
    # them, and stdout was flushed after both: a SIGTERM there was a Terminated traceback
    import kgrec.cli

    store = f"local:{tmp_path / 'store'}"
    assert main(["load", "recbole", str(tiny_recbole), "--store", store]) == 0
    capsys.readouterr()
    if where == "logging":
        monkeypatch.setattr(kgrec.cli.logging, "basicConfig", lambda **kwargs: _sigterm())
    else:  # the command has printed its counts; the flush that sends them is stopped
        flush = sys.stdout.flush

        def stopped():
            monkeypatch.setattr(sys.stdout, "flush", flush)
            _sigterm()

        monkeypatch.setattr(sys.stdout, "flush", stopped)
    assert main(["graph", "stats", "--store", store]) == 143
    assert capsys.readouterr().err == "kgrec graph: terminated (SIGTERM)\n"


def test_an_import_error_of_a_command_is_no_stop(monkeypatch):
    import kgrec.cli

    def missing(name):
        raise ImportError("no module named x")

    monkeypatch.setattr(kgrec.cli.importlib, "import_module", missing)
    with pytest.raises(ImportError, match="no module named x"):
        kgrec.cli.main(["train", "--model", "lightgcn"])


def test_a_load_stopped_by_sigterm_leaves_a_new_store_empty(tmp_path, tiny_recbole, monkeypatch):
    # as a Ctrl-C does: the table files it wrote are removed, and the store's lock file and the
    # folder it made (before session 62, the lock file was left alone in the folder)
    written = []
    write_table = LocalStore._write_table

    def terminated_at_the_second(self, name, df):
        written.append(name)
        if len(written) == 2:
            _sigterm()
        return write_table(self, name, df)

    monkeypatch.setattr(LocalStore, "_write_table", terminated_at_the_second)
    store = tmp_path / "store"
    load = ["load", "recbole", str(tiny_recbole), "--store", f"local:{store}"]
    assert main(load) == 143
    assert len(written) == 2 and not store.exists()
    monkeypatch.undo()
    assert main(load) == 0 and (store / "manifest.json").exists()


def _sigterm() -> None:
    """SIGTERM to this process, where a command has a handler for it (else it would end
    pytest)."""
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.SIG_IGN, None):
        pytest.fail("no handler of SIGTERM while the command runs")
    os.kill(os.getpid(), signal.SIGTERM)


def test_the_neo4j_drivers_warnings_are_shown_without_v(caplog):
    """The driver's WARNINGs (a transaction it retries during a long load, a server's warning)
    say what kgrec does not; only its ERRORs, which kgrec's own error says again, wait for -v.
    Before, the CLI set the driver's loggers to CRITICAL unless -v: its warnings were hidden
    with its errors."""
    try:
        cli._configure_logging(False)
        with caplog.at_level(logging.INFO):
            logging.getLogger("neo4j.session").warning("Transaction failed and will be retried")
            logging.getLogger("neo4j.notifications").info("Received notification: information")
            logging.getLogger("neo4j.pool").error("Unable to retrieve routing information")
            logging.getLogger("neo4j.session").error("an ERROR of any child logger of neo4j")
            logging.getLogger("kgrec.x").error("kgrec's own")
        heard = [(r.name, r.levelname) for r in caplog.records]  # what the handlers let by
        assert heard == [("neo4j.session", "WARNING"), ("kgrec.x", "ERROR")]
        caplog.clear()
        cli._configure_logging(True)
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("neo4j.pool").error("Unable to retrieve routing information")
        assert [(r.name, r.levelname) for r in caplog.records] == [("neo4j.pool", "ERROR")]
    finally:
        cli._configure_logging(True)
        logging.getLogger("neo4j").setLevel(logging.NOTSET)


def test_the_neo4j_drivers_own_log_is_shown_with_v_only():
    """A neo4j:// URI that cannot be reached: the driver logs "ERROR neo4j.pool: Unable to
    retrieve routing information" as it fails, before kgrec's error, which says it and why.
    Found by the polishB45 review: before, a new user read both; now the driver's records are
    heard with -v (debug) alone. Port 1: nothing listens there."""
    argv = ["graph", "stats", "--store", "neo4j://127.0.0.1:1"]
    kgrec = [sys.executable, "-m", "kgrec"]
    plain = subprocess.run([*kgrec, *argv], capture_output=True, text=True)
    assert plain.returncode == 2
    assert plain.stderr.startswith("kgrec graph: error: neo4j://127.0.0.1:1: Neo4j is unreachable")
    assert "neo4j.pool" not in plain.stderr and "\nERROR " not in plain.stderr
    verbose = subprocess.run([*kgrec, "-v", *argv], capture_output=True, text=True)
    assert verbose.returncode == 2
    driver = verbose.stderr.index("ERROR neo4j.pool: Unable to retrieve routing information")
    assert driver < verbose.stderr.index("kgrec graph: error: neo4j://127.0.0.1:1: Neo4j is")


def test_trains_help_names_every_model_that_takes_an_option():
    """A help that names the models of a model option names them all: `--text-input`'s said
    "lightgcn, rgcn, cross-domain", and lightgcn-merged takes it too."""
    from kgrec.models.registry import MODELS

    parser = build_parser(["train"])._subparsers._group_actions[0].choices["train"]
    checked = 0
    for action in parser._actions:
        takers = [name for name, spec in MODELS.items() if action.dest in spec.options]
        text = action.help or ""
        named = {m for m in MODELS if re.search(rf"(?<![\w-]){re.escape(m)}(?![\w-])", text)}
        if not (takers and named):  # (a help that names no model, or none takes the option)
            continue
        checked += 1
        assert set(takers) <= named, (action.option_strings, takers, text)
    assert checked >= 5


LAUNCHED_ARGVS = [
    ["evaluate", "--run", "RUN"],
    ["graph", "stats"],
    ["split", "--protocol", "ml100k-kg", "--data", "DATA", "--write-split", "SPLIT"],
]


@pytest.mark.parametrize("argv", LAUNCHED_ARGVS)
def test_a_command_that_runs_in_one_process_is_refused_under_a_launcher(
    monkeypatch, capsys, tmp_path, argv
):
    """Under torchrun (``WORLD_SIZE`` > 1) only ``kgrec train`` and ``kgrec tune`` run as
    ranks. Before, ``kgrec evaluate`` scored the run once per rank (each printed its table,
    and with ``--plot`` every rank wrote the same file), and ``kgrec recommend`` published
    into the store once per rank, at once."""
    monkeypatch.chdir(tmp_path)
    for name, value in (("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1")):
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"kgrec {argv[0]} runs in one process, and $WORLD_SIZE is 2" in err
    assert not any(tmp_path.iterdir())  # nothing read or written: no default store made


def test_a_launchers_world_size_is_not_read_by_commands_that_do_not_take_one(monkeypatch, capsys):
    """A $WORLD_SIZE of 1, or one that is no number, is no launcher's: ``kgrec graph`` runs
    (its own error here: no such store), refused by nothing of the launcher's."""
    for value in ("1", "x"):
        monkeypatch.setenv("WORLD_SIZE", value)
        assert main(["graph", "stats", "--store", "local:/nonexistent/store"]) == 2
        assert "WORLD_SIZE" not in capsys.readouterr().err
