"""bench/scale.py's generator at a tiny size: the shape of the graph it writes (skewed degrees,
users in both domains, titles and knowledge for every item) and that kgrec's loader reads it."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loaders import recbole
from loaders.rules import named_rule

SIZE = 20_000


@pytest.fixture(scope="module")
def scale(bench_script):
    return bench_script("scale")


@pytest.fixture(scope="module")
def dataset(scale, tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth") / "synth-tiny"
    shape = scale.generate(SIZE, folder, seed=3, name="synth-tiny", item_degree=20)
    return folder, shape


def read(folder: Path, suffix: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"synth-tiny.{suffix}", sep="\t", dtype=str, keep_default_na=False)


def test_sizes_parse(scale):
    assert [scale.parse_size(s) for s in ("1M", "5m", "200k", "1500", "2.5M")] == [
        1_000_000,
        5_000_000,
        200_000,
        1_500,
        2_500_000,
    ]
    assert scale.size_name(20_000_000) == "20M"
    with pytest.raises(Exception, match="not a size"):
        scale.parse_size("lots")


def test_the_requested_number_of_distinct_interactions(dataset):
    folder, shape = dataset
    inter = read(folder, "inter")
    assert len(inter) == shape["interactions"] == SIZE
    assert not inter.duplicated(["user_id:token", "item_id:token"]).any()


def test_degrees_are_skewed(dataset):
    inter = read(dataset[0], "inter")
    items = inter["item_id:token"].value_counts().to_numpy()
    users = inter["user_id:token"].value_counts().to_numpy()
    # popularity: the top tenth of the items hold far more than a tenth of the interactions
    top = items[: max(1, len(items) // 10)].sum() / items.sum()
    assert top > 0.3
    # users: a long tail well above the typical user
    assert users.max() >= 4 * np.median(users)
    assert users.min() >= 1


def test_users_overlap_across_the_two_domains(dataset):
    folder, shape = dataset
    graph = recbole.load(folder, domain_rule=named_rule("ml1m-action-comedy"))
    assert len(graph.interactions) == SIZE  # the domain rule leaves no item out
    domains = graph.items.set_index("uid")["domain"]
    seen = graph.interactions.assign(domain=domains.loc[graph.interactions["item_uid"]].to_numpy())
    per_user = seen.groupby("user_id")["domain"].nunique()
    assert set(domains) == {"action", "comedy"}
    assert 0 < (per_user == 2).sum() < len(per_user)  # some users in both, some in one
    assert shape["users_in_both"] == (per_user == 2).sum()
    counts = seen.groupby(["user_id", "domain"]).size().unstack(fill_value=0)
    assert ((counts >= 5).all(axis=1)).sum() == shape["users_5_in_both"] > 0


def test_every_item_has_a_title_and_knowledge(dataset):
    folder, _ = dataset
    items, links, kg = read(folder, "item"), read(folder, "link"), read(folder, "kg")
    assert (items["title:token_seq"].str.strip() != "").all()
    assert set(links["item_id:token"]) == set(items["item_id:token"])
    heads = set(kg["head_id:token"])
    assert set(links["entity_id:token"]) <= heads
    # entity degrees are skewed too: the most linked entity far above the typical one
    tails = kg["tail_id:token"].value_counts().to_numpy()
    assert tails.max() >= 5 * np.median(tails)
    graph = recbole.load(folder, domain_rule=named_rule("ml1m-action-comedy"))
    assert graph.items["title"].notna().all()
    assert len(graph.knowledge) > len(items)


def test_seeded(scale, dataset, tmp_path):
    folder, _ = dataset
    again = tmp_path / "synth-tiny"
    scale.generate(SIZE, again, seed=3, name="synth-tiny", item_degree=20)
    for suffix in ("inter", "item", "kg", "link"):
        name = f"synth-tiny.{suffix}"
        assert (again / name).read_bytes() == (folder / name).read_bytes()


def test_the_report_prefers_a_step_of_its_own_to_a_prerequisite(scale):
    own = {"size": 20, "step": "load-neo4j", "rows_per_s": 42_000}
    again = {"size": 20, "step": "load-neo4j", "rows_per_s": 30_000, "prerequisite": True}
    other = {"size": 20, "step": "recommend-neo4j"}
    assert scale.latest([own, again, other])[(20, "load-neo4j")] is own
    assert scale.latest([again])[(20, "load-neo4j")] is again  # the only one there is
    newer = {"size": 20, "step": "load-neo4j", "rows_per_s": 45_000}
    assert scale.latest([own, again, newer])[(20, "load-neo4j")] is newer


# -- the steps' processes, the report's labels, Neo4j's database and server -----------------

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "scale.py"


def test_steps_without_torch_do_not_import_it(tmp_path):
    """generate and load-local (as load-neo4j's client) never use torch: their processes must
    not import it (set_threads did: ~0.5 GB in the peak RSS they report)."""
    code = (
        "import runpy, sys\n"
        "for step in ('generate', 'load-local'):\n"
        f"    sys.argv = [{str(SCRIPT)!r}, '--step', step, '--size', '2000',"
        f" '--out', {str(tmp_path)!r}, '--result', {str(tmp_path / 'r.json')!r}]\n"
        "    try:\n"
        f"        runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
        "    except SystemExit as exit:\n"
        "        assert not exit.code, exit.code\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "stores" / "synth-2k").is_dir()
    assert done.stdout.split()[-1] == "False"


@pytest.mark.parametrize("step", ["generate", "load-local", "load-neo4j", "export", "ddp-rank"])
def test_only_the_steps_that_use_torch_set_its_threads(scale, step, monkeypatch, tmp_path):
    import kgrec.threads

    calls = []
    monkeypatch.setattr(kgrec.threads, "set_threads", lambda n=None: calls.append(n))
    monkeypatch.setitem(scale.STEP_FUNCTIONS, step, lambda args, paths: {"seconds": 0.0})
    args = argparse.Namespace(step=step, out=tmp_path, size=2000, result=None)
    assert scale.child(args) == 0
    assert calls == ([] if step in ("generate", "load-local", "load-neo4j") else [1])


LOAD_RECORD = {
    "size": 20_000,
    "step": "load-local",
    "status": "ok",
    "seconds": 0.4,
    "rows_per_s": 50_462.3,
    "all_rows_per_s": 55_475.7,
    "peak_rss_mb": 200.0,
    "cpu_s": 6.9,
    "wall_s": 14.7,
}


def test_the_report_labels_interactions_per_second(scale):
    text = scale.cell(LOAD_RECORD)
    assert "50,462 interactions/s" in text and "rows/s" not in text


def test_the_report_says_what_the_cpu_share_is_over(scale):
    # the CPU share is over the whole process's wall time (imports included), not over the
    # step's 0.4 s shown first: the cell says which
    assert "CPU 47% of the process's 14.7 s" in scale.cell(LOAD_RECORD)


def test_the_description_of_user_degrees_matches_the_generator(scale, dataset):
    """The clip to 5 is on each user's expected degree; the drawn degrees fall below 5 (and
    at 5M and 20M some users draw none): the docs must not promise 'at least 5'."""
    users = read(dataset[0], "inter")["user_id:token"].value_counts()
    assert users.min() < 5
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Scale: synthetic graphs") :]
    for text in (scale.__doc__, scale.generate.__doc__, section[:2000]):
        assert "at least 5 interactions" not in text
        assert "at least 5 and mean" not in text
    assert "expected" in scale.generate.__doc__


def test_the_neo4j_load_uses_the_database_of_neo4j_database(
    scale, monkeypatch, tmp_path, recording_driver
):
    import neo4j

    import kgrec.store

    driver = recording_driver()
    stores = []

    class FakeStore:
        def __init__(self, driver, *, database="neo4j", **options):
            stores.append(database)

        def write(self, graph, progress=True):
            pass

    monkeypatch.setenv("NEO4J_DATABASE", "benchdb")
    monkeypatch.setattr(neo4j.GraphDatabase, "driver", lambda uri, auth=None, **kw: driver)
    monkeypatch.setattr(kgrec.store, "Neo4jStore", FakeStore)
    table = pd.DataFrame({"x": range(10)})
    graph = types.SimpleNamespace(interactions=table, tables=lambda: {"interactions": table})
    monkeypatch.setattr(scale, "_parse", lambda paths: (graph, 0.0))
    args = argparse.Namespace(
        neo4j_uri="bolt://127.0.0.1:1", neo4j_batch=None, neo4j_pagecache="3g"
    )
    result = scale.step_load_neo4j(args, scale.Paths(tmp_path, 2000))
    assert result["interactions"] == 10
    assert driver.sessions == ["benchdb"] and driver.runs  # delete_all, on benchdb
    assert set(driver.runs) == {"benchdb"}
    assert stores == ["benchdb"]


def test_the_neo4j_uri_is_not_an_option(tmp_path):
    """The steps empty the database they reach: it is always the server the benchmark starts
    on --neo4j-port, so no option points them elsewhere."""
    run = [sys.executable, str(SCRIPT), "--out", str(tmp_path)]
    done = subprocess.run([*run, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--neo4j-uri" not in done.stdout
    done = subprocess.run(
        [*run, "--neo4j-uri", "bolt://elsewhere:7687", "--report"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "unrecognized arguments: --neo4j-uri" in done.stderr


def test_the_neo4j_steps_reach_the_server_of_the_parent(scale, monkeypatch, tmp_path):
    """The parent starts its server on --neo4j-port; the steps it runs reach that server."""
    commands = []

    def watch(command, log, **limits):
        commands.append(command)
        return {
            "rc": 0,
            "wall_s": 1.0,
            "peak_rss_mb": 1.0,
            "peak_tree_rss_mb": 1.0,
            "cpu_s": 1.0,
            "killed": None,
        }

    monkeypatch.setattr(scale, "watch", watch)
    monkeypatch.setattr(scale, "neo4j", lambda action, folder, args: None)
    argv = ["scale.py", "--sizes", "2k", "--out", str(tmp_path), "--neo4j-port", "7999"]
    monkeypatch.setattr(sys, "argv", [*argv, "--steps", "load-neo4j,recommend-neo4j"])
    assert scale.main() == 0
    load, recommend = commands
    assert recommend[recommend.index("--store") + 1] == "bolt://127.0.0.1:7999"
    reached = []
    monkeypatch.setitem(
        scale.STEP_FUNCTIONS,
        "load-neo4j",
        lambda args, paths: reached.append(args.neo4j_uri) or {"seconds": 0.0},
    )
    monkeypatch.setattr(sys, "argv", load[1:])
    assert scale.main() == 0
    assert reached == ["bolt://127.0.0.1:7999"]


def test_plot_without_results_says_there_is_nothing_to_plot(scale, tmp_path, monkeypatch, capsys):
    # before: an IndexError traceback (the plot's first size of no sizes)
    png = tmp_path / "scale.png"
    argv = ["scale.py", "--out", str(tmp_path / "empty"), "--report", "--plot", str(png)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        scale.main()
    assert stop.value.code == 2
    assert "--plot: nothing to plot" in capsys.readouterr().err
    assert not png.exists()


def test_an_existing_plot_is_replaced_only_with_force(scale, tmp_path, monkeypatch, capsys):
    """Before, --plot replaced an existing PNG silently (a user's file, or the committed one)."""
    (tmp_path / "results.jsonl").write_text('{"size": 2000, "step": "generate", "status": "ok"}\n')
    monkeypatch.setattr(scale, "report", lambda records: None)
    monkeypatch.setattr(scale, "plot", lambda records, path: path.write_bytes(b"plot"))
    png = tmp_path / "scale.png"
    png.write_bytes(b"mine")
    argv = ["scale.py", "--out", str(tmp_path), "--report", "--plot", str(png)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        scale.main()
    assert stop.value.code == 2
    assert f"--plot {png}: the file exists; --force replaces it" in capsys.readouterr().err
    assert png.read_bytes() == b"mine"
    monkeypatch.setattr(sys, "argv", [*argv, "--force"])
    assert scale.main() == 0
    assert png.read_bytes() == b"plot"


def test_a_folder_of_another_devices_steps_is_refused(scale, monkeypatch, tmp_path, capsys):
    """The steps a folder records were skipped as done, and reported, whatever device measured
    them: a --device cuda run in a folder of CPU steps would skip them and report CPU figures
    as the GPU's. A folder is one device's."""
    (tmp_path / "results.jsonl").write_text(
        '{"size": 2000, "step": "train-full", "status": "ok", "seconds": 1.0}\n'  # the CPU's
    )
    monkeypatch.setattr(scale, "watch", lambda *a, **k: pytest.fail("no step may run"))
    argv = ["scale.py", "--sizes", "2k", "--out", str(tmp_path), "--steps", "train-full"]
    monkeypatch.setattr(sys, "argv", [*argv, "--device", "cuda"])
    with pytest.raises(SystemExit, match="measured with --device cpu: a run with --device cuda"):
        scale.main()


@pytest.mark.parametrize(
    ("option", "value", "recorded"),
    [
        ("--seed", "1", "--seed 0"),
        ("--batch-size", "2048", "--batch-size 8192"),
        ("--user-degree", "10", "--user-degree 25.0"),
        ("--item-degree", "50", "--item-degree 100.0"),
    ],
)
def test_a_folder_of_another_settings_steps_is_refused(
    scale, monkeypatch, tmp_path, option, value, recorded
):
    """Before, a rerun with another --seed (or degrees, or batch size) skipped the steps the
    folder had done with the first as done, and reported their figures as its own."""
    settings = {"seed": 0, "user_degree": 25.0, "item_degree": 100.0, "batch_size": 8192}
    record = {"size": 2000, "step": "generate", "status": "ok", "seconds": 1.0}
    record |= {"device": "cpu", "settings": settings}
    (tmp_path / "results.jsonl").write_text(json.dumps(record) + "\n")
    monkeypatch.setattr(scale, "watch", lambda *a, **k: pytest.fail("no step may run"))
    argv = ["scale.py", "--sizes", "2k", "--out", str(tmp_path), "--steps", "generate"]
    monkeypatch.setattr(sys, "argv", [*argv, option, value])
    with pytest.raises(SystemExit) as stop:
        scale.main()
    assert f"holds steps measured with {recorded}: a run with {option} " in str(stop.value.code)
    assert "needs an --out of its own" in str(stop.value.code)


def test_a_step_records_the_settings_it_ran_with(scale, monkeypatch, tmp_path):
    """What the check above reads: each record keeps its folder's settings."""
    watched = {"rc": 0, "wall_s": 1.0, "peak_rss_mb": 1.0, "peak_tree_rss_mb": 1.0}
    monkeypatch.setattr(scale, "watch", lambda *a, **k: {**watched, "cpu_s": 1.0, "killed": None})
    argv = ["scale.py", "--sizes", "2k", "--out", str(tmp_path), "--steps", "generate"]
    monkeypatch.setattr(sys, "argv", [*argv, "--seed", "3", "--batch-size", "512"])
    assert scale.main() == 0
    (record,) = scale.read_results(tmp_path / "results.jsonl")
    assert record["settings"] == {
        "seed": 3,
        "user_degree": 25.0,
        "item_degree": 100.0,
        "batch_size": 512,
    }


def test_an_out_that_is_a_file_is_refused(scale, tmp_path, monkeypatch, capsys):
    """Before, --out naming a file ended in a FileExistsError traceback (exit 1), and --report
    over a folder of no results (a mistyped --out) printed an empty table, exit 0."""
    mine = tmp_path / "results.txt"
    mine.write_text("mine")
    for out, extra, says in [
        (mine, ["--steps", "generate"], f"--out {mine}: {mine} is a file, not a folder"),
        (mine / "scale", ["--report"], f"--out {mine / 'scale'}: {mine} is a file"),
        (tmp_path / "empty", ["--report"], "--report: nothing to report"),
    ]:
        monkeypatch.setattr(sys, "argv", ["scale.py", "--out", str(out), "--sizes", "1000", *extra])
        with pytest.raises(SystemExit) as stop:
            scale.main()
        assert stop.value.code == 2
        assert says in capsys.readouterr().err
    assert mine.read_text() == "mine" and not (tmp_path / "empty").exists()


def test_the_run_train_full_writes_records_its_splits_digest_as_kgrec_train_does(scale, tmp_path):
    """train-full's run.json records ``split_digest`` as kgrec train's does, so kgrec evaluate
    and recommend check the run's experiment.pt against it (before: none, read unchecked)."""
    import json

    from kgrec.experiment import SPLIT_DIGEST, load_run, read_experiment, split_digest

    args = argparse.Namespace(
        size=2000,
        seed=0,
        user_degree=25.0,
        item_degree=100.0,
        batch_size=8192,
        device="cpu",
        budget=5.0,
    )
    paths = scale.Paths(tmp_path, args.size)
    for step in (scale.step_generate, scale.step_load_local, scale.step_export):
        step(args, paths)
    scale.step_train_full(args, paths)
    info = json.loads((paths.run / "run.json").read_text())
    assert info[SPLIT_DIGEST] == split_digest(read_experiment(paths.run / "experiment.pt"))
    assert load_run(paths.run).info[SPLIT_DIGEST] == info[SPLIT_DIGEST]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        # before: exit 1, after --out and its logs folder were made
        (["--steps", "generate,trian-full"], "--steps: unknown steps ['trian-full']"),
        # before: the steps ran (generate first) until the one that reads it failed or hung
        (["--sizes", "0"], "--sizes: a size is at least 1 interaction, got 0"),
        (["--batch-size", "0"], "--batch-size must be positive, got 0"),
        (["--neo4j-batch", "-1"], "--neo4j-batch must be positive, got -1"),
        (["--budget", "0"], "--budget must be positive, got 0.0"),
        (["--user-degree", "0"], "--user-degree must be positive, got 0.0"),
        (["--item-degree", "nan"], "--item-degree must be positive, got nan"),
        (["--step-timeout", "-5"], "--step-timeout must be positive, got -5.0"),
    ],
)
def test_bad_numbers_and_steps_are_refused_first(
    scale, tmp_path, monkeypatch, capsys, options, says
):
    monkeypatch.setattr(scale, "watch", lambda *a, **k: pytest.fail("no step may run"))
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["scale.py", "--out", str(out), "--sizes", "2k", *options])
    with pytest.raises(SystemExit) as stop:
        scale.main()
    assert stop.value.code == 2
    assert says in capsys.readouterr().err
    assert not out.exists()


def test_a_plot_path_that_cannot_be_written_is_refused_first(scale, tmp_path, monkeypatch, capsys):
    """Before, a --plot below a file printed the table, then a FileExistsError traceback, and a
    --plot naming a folder (with --force) an IsADirectoryError one."""
    (tmp_path / "results.jsonl").write_text('{"size": 2000, "step": "generate", "status": "ok"}\n')
    monkeypatch.setattr(scale, "report", lambda records: print("table"))
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    for plot, says in [
        (mine / "scale.png", f"--plot {mine / 'scale.png'}: {mine} is a file, not a folder"),
        (tmp_path, f"--plot {tmp_path}: a folder, not a file"),
    ]:
        argv = ["scale.py", "--out", str(tmp_path), "--report", "--plot", str(plot), "--force"]
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as stop:
            scale.main()
        assert stop.value.code == 2
        captured = capsys.readouterr()
        assert says in captured.err and captured.out == ""
    assert mine.read_text() == "mine"


def test_an_unknown_device_is_refused_first(scale, tmp_path, monkeypatch, capsys):
    """Before, --device gpu ran generate, load-local and export, then recorded every torch step
    as failed (exit 0), and the folder's "gpu" records made a --device cpu rerun refuse it."""
    monkeypatch.setattr(scale, "watch", lambda *a, **k: pytest.fail("no step may run"))
    out = tmp_path / "out"
    argv = ["scale.py", "--out", str(out), "--sizes", "2k", "--device", "gpu"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        scale.main()
    assert stop.value.code == 2
    assert "argument --device: invalid choice: 'gpu'" in capsys.readouterr().err
    assert not out.exists()
