"""bench/peers.py without RecBole: split files -> RecBole benchmark files, settings, messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

SPLIT = {
    "train": [("u1", "i1"), ("u1", "i2"), ("u2", "i1"), ("u2", "i3"), ("u3", "i 4")],
    "valid": [("u1", "i3"), ("u2", "i2"), ("u3", "i1")],
    "test": [("u1", "i 4"), ("u2", "i 4"), ("u3", "i2")],
}


@pytest.fixture(scope="module")
def peers(bench_script):
    return bench_script("peers")


def write_split(folder: Path, split: dict[str, list[tuple[str, str]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part, rows in split.items():
        lines = ["user_id\titem_id", *(f"{u}\t{i}" for u, i in rows)]
        (folder / f"{part}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def read_inter(path: Path) -> tuple[str, list[tuple[str, str]]]:
    header, *rows = path.read_text().splitlines()
    return header, [tuple(row.split("\t")) for row in rows]


def test_benchmark_files_hold_exactly_the_split_pairs(peers, tmp_path):
    split = write_split(tmp_path / "split", SPLIT)
    counts = peers.write_benchmark(split, tmp_path / "recbole" / "kgrec")
    assert counts == {part: len(rows) for part, rows in SPLIT.items()}
    written = sorted(p.name for p in (tmp_path / "recbole" / "kgrec").iterdir())
    assert written == ["kgrec.test.inter", "kgrec.train.inter", "kgrec.valid.inter"]
    for part, rows in SPLIT.items():
        header, found = read_inter(tmp_path / "recbole" / "kgrec" / f"kgrec.{part}.inter")
        assert header == "user_id:token\titem_id:token"
        assert found == rows  # same pairs, same order, ids untouched (spaces included)


def test_the_config_names_the_benchmark_files_and_full_ranking(peers, tmp_path):
    config = peers.recbole_config(tmp_path / "data", tmp_path / "run", "LightGCN", 1)
    assert config["benchmark_filename"] == ["train", "valid", "test"]
    assert config["dataset"] == "kgrec" and config["model"] == "LightGCN"
    assert config["eval_args"]["mode"] == "full"
    assert config["valid_metric"] == "NDCG@20"
    assert config["topk"] == [10, 20] and config["metrics"] == ["Recall", "NDCG"]
    assert config["load_col"] == {"inter": ["user_id", "item_id"]}
    json.dumps(config)  # the worker reads it as JSON
    # NCL's 1,000 default prototypes exceed ml-100k's users; --set and epochs win over both
    assert peers.recbole_config(tmp_path, tmp_path, "NCL", 1)["num_clusters"] == 100
    overrides = peers.parse_overrides(["num_clusters=50", "learning_rate=0.002", "type=ND"])
    assert overrides == {"num_clusters": 50, "learning_rate": 0.002, "type": "ND"}
    config = peers.recbole_config(tmp_path, tmp_path, "NCL", 1, 30, overrides)
    assert (config["num_clusters"], config["epochs"], config["type"]) == (50, 30, "ND")
    with pytest.raises(peers.PeersError, match="KEY=VALUE"):
        peers.parse_overrides(["novalue"])


@pytest.mark.parametrize(
    ("part", "text", "message"),
    [
        ("train", "user\titem\nu1\ti1\n", "header"),
        ("valid", "user_id\titem_id\nu1\n", "line 2"),
        ("test", "user_id\titem_id\nu1\ti1\n", "again in test.tsv"),
    ],
)
def test_bad_split_files_are_refused(peers, tmp_path, part, text, message):
    split = write_split(tmp_path / "split", SPLIT)
    (split / f"{part}.tsv").write_text(text)
    with pytest.raises(peers.PeersError, match=message):
        peers.write_benchmark(split, tmp_path / "out")


def test_split_files_are_read_as_kgrec_reads_them(peers, tmp_path, tiny_recbole):
    """Before, peers.py kept the whitespace around ids that kgrec strips (RecBole trained on
    other ids than kgrec on the same files) and refused headers (``user_id:token``) and a
    byte-order mark that kgrec reads."""
    from kgrec.data.split import write_split as kgrec_write_split
    from kgrec.experiment import load_experiment

    made = tmp_path / "made"
    experiment = load_experiment(
        data=tiny_recbole, store=None, protocol="ml1m-action-comedy", split_dir=None, seed=0
    )
    kgrec_write_split(experiment.split, experiment.maps, made, domain_rule="ml1m-action-comedy")
    split = tmp_path / "split"
    shutil.copytree(made, split)
    for part in ("train", "valid", "test"):
        header, *rows = (made / f"{part}.tsv").read_text().splitlines()
        rows = [" " + row.replace("\t", " \t ") + " " for row in rows]  # ids padded
        header = "\ufeffuser_id:token\titem_id:token" if part == "train" else header
        (split / f"{part}.tsv").write_text("\r\n".join([header, *rows]) + "\r\n")
    read = load_experiment(
        data=tiny_recbole, store=None, protocol=None, split_dir=split, seed=0
    )  # what kgrec trains on, given these files
    maps = read.maps
    peers.write_benchmark(split, tmp_path / "recbole")
    for part in ("train", "valid", "test"):
        pairs = getattr(read.split, part).tolist()
        kgrec_ids = {(maps.users[u], maps.item_ids[i]) for u, i in zip(*pairs, strict=True)}
        header, found = read_inter(tmp_path / "recbole" / f"kgrec.{part}.inter")
        assert set(found) == kgrec_ids and len(found) == len(kgrec_ids)
        assert set(peers.read_split_file(split / f"{part}.tsv")) == kgrec_ids
    assert peers.split_checksum(split) == peers.split_checksum(made)


@pytest.mark.parametrize(("user", "item"), [("u1", "NA"), ("null", "i1"), ("u1", '"i1"')])
def test_ids_recbole_would_read_as_others_are_refused(peers, tmp_path, user, item):
    """Before, an item ``NA`` or a user ``null`` (ids to kgrec's loaders) reached RecBole,
    whose reader (pandas) took them for missing values, all mapped to its padding id 0; a
    quoted id lost its quotes."""
    split = write_split(tmp_path / "split", SPLIT)
    rows = [*SPLIT["valid"], (user, item)]
    write_split(split, {"valid": rows})
    with pytest.raises(peers.PeersError, match=r"valid\.tsv, line 5, field '(user|item)_id'"):
        peers.write_benchmark(split, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written, train.inter neither


def test_the_ids_refused_hold_pandas_missing_values(peers):
    from pandas._libs.parsers import STR_NA_VALUES  # what this pandas reads as missing

    assert set(STR_NA_VALUES) <= peers.PANDAS_NA


def test_a_missing_recbole_environment_says_make_setup_recbole(peers, tmp_path, capsys):
    split = write_split(tmp_path / "split", SPLIT)
    code = peers.main(
        ["--split", str(split), "--out", str(tmp_path / "out"), "--venv", str(tmp_path / "no")]
    )
    assert code == 2
    assert "make setup-recbole" in capsys.readouterr().err
    # a venv whose install never finished (no marker) is missing too
    (tmp_path / "half" / "bin").mkdir(parents=True)
    (tmp_path / "half" / "bin" / "python").write_text("")
    with pytest.raises(peers.PeersError, match="make setup-recbole"):
        peers.recbole_python(tmp_path / "half")


def test_the_table_has_a_row_per_model_and_failures_say_why(peers):
    record = {
        "valid": {"ndcg@20": 0.28},
        "test": {"ndcg@20": 0.32, "recall@20": 0.37},
        "best_epoch": 140,
        "epochs_run": 150,
        "fit_seconds": 151.3,
    }
    rows = [peers.peer_row("LightGCN", record), peers.peer_row("NCL", {"error": "exit code 1"})]
    lines = peers.table(rows).splitlines()
    assert lines[2] == "| RecBole LightGCN | 0.2800 | 0.3200 | 0.3700 | 140/150 | 151 |"
    assert lines[3].startswith("| RecBole NCL | failed: exit code 1")


def test_results_of_another_split_are_refused_not_shown_as_this_ones(peers, tmp_path, fake_recbole):
    """Before, a second split in the same --out printed the first split's results under the
    second's heading (and rewrote the benchmark files the stored results came from)."""
    first = write_split(tmp_path / "a", SPLIT)
    other = dict(SPLIT, test=[("u1", "i 4"), ("u2", "i1"), ("u3", "i2")], valid=SPLIT["valid"])
    other["valid"] = [("u1", "i3"), ("u2", "i 4"), ("u3", "i1")]
    second = write_split(tmp_path / "b", other)
    out = tmp_path / "out"
    argv = ["--venv", str(fake_recbole), "--models", "LightGCN", "--out", str(out)]
    assert peers.main([*argv, "--split", str(first)]) == 0
    stored = (out / "peers.json").read_text()
    train = (out / "recbole" / "kgrec" / "kgrec.test.inter").read_text()
    with pytest.raises(peers.PeersError, match="holds results of another split"):
        peers._main(peers.parse_args([*argv, "--split", str(second)]))
    assert (out / "peers.json").read_text() == stored
    assert (out / "recbole" / "kgrec" / "kgrec.test.inter").read_text() == train
    assert peers.main([*argv, "--split", str(first)]) == 0  # the same split reads them again


def test_a_relative_venv_and_a_missing_kgrec_run(
    peers, tmp_path, fake_recbole, monkeypatch, capsys
):
    # before: FileNotFoundError tracebacks (the models run in folders of their own)
    split = write_split(tmp_path / "a", SPLIT)
    monkeypatch.chdir(tmp_path)
    argv = ["--split", str(split), "--venv", fake_recbole.name, "--models", "LightGCN"]
    assert peers.main([*argv, "--out", "out"]) == 0
    assert peers.main([*argv, "--out", "out", "--kgrec", "nosuchrun"]) == 2
    assert "no finished kgrec run there" in capsys.readouterr().err


def test_a_kgrec_folder_that_is_no_run_is_refused_before_out_is_written(
    peers, tiny_recbole, tmp_path, fake_recbole, capsys
):
    """Before, --data wrote OUT/split (and --split OUT/recbole) before it found that a
    --kgrec folder (mistyped) held no run."""
    (tmp_path / "empty").mkdir()
    argv = ["--venv", str(fake_recbole), "--models", "LightGCN"]
    data = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy"]
    split = ["--split", str(write_split(tmp_path / "a", SPLIT))]
    for source in (data, split):
        for run in ("nosuchrun", "empty"):
            out = tmp_path / "out"
            kgrec = ["--kgrec", str(tmp_path / run)]
            assert peers.main([*argv, *source, "--out", str(out), *kgrec]) == 2
            assert "no finished kgrec run there" in capsys.readouterr().err
            assert not out.exists()


def test_a_refused_data_rerun_leaves_the_split_as_it_was(
    peers, tiny_recbole, tmp_path, fake_recbole
):
    """Before, --data made the new seed's split into OUT/split and only then refused it, so
    OUT/split no longer matched the results in OUT/peers.json."""
    out = tmp_path / "out"
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--out", str(out)]
    argv += ["--venv", str(fake_recbole), "--models", "LightGCN"]
    assert peers.main([*argv, "--seed", "0"]) == 0
    files = {p.name: p.read_text() for p in (out / "split").iterdir()}
    recorded = json.loads((out / "peers.json").read_text())["split_sha256"]
    assert peers.main([*argv, "--seed", "1"]) == 2
    assert {p.name: p.read_text() for p in (out / "split").iterdir()} == files
    assert peers.split_checksum(out / "split") == recorded
    assert sorted(p.name for p in out.iterdir()) == ["peers.json", "recbole", "runs", "split"]
    assert peers.main([*argv, "--seed", "0"]) == 0  # the same split reads them again


def test_data_kgrec_cannot_read_is_a_clear_error(peers, tmp_path, fake_recbole, capsys):
    """Before, --data of a folder that is not there ended in an InputError traceback."""
    argv = ["--data", str(tmp_path / "nothing"), "--protocol", "ml1m-action-comedy"]
    argv += ["--out", str(tmp_path / "out"), "--venv", str(fake_recbole)]
    assert peers.main(argv) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "out" / "split").exists()


def test_the_kgrec_row_checks_the_split_the_run_used_and_that_it_finished(
    peers, tmp_path, tiny_recbole
):
    """Before, the kgrec row compared only RUN/split/ files (no check at all without them)
    and took a run that was still training or had stopped as if it had finished."""
    from kgrec.data.split import write_split as kgrec_write_split
    from kgrec.experiment import load_experiment, train

    run = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "run",
        epochs=2,
        dim=8,
        batch_size=128,
        progress=False,
    )
    same = tmp_path / "same"
    shutil.copytree(run.folder / "split", same)
    row = peers.kgrec_row(run.folder, same)
    assert row["name"].startswith("kgrec lightgcn-merged") and row["epochs"].endswith("/2")
    other = tmp_path / "other"
    experiment = load_experiment(
        data=tiny_recbole, store=None, protocol="ml1m-action-comedy", split_dir=None, seed=1
    )
    kgrec_write_split(experiment.split, experiment.maps, other, domain_rule="ml1m-action-comedy")
    shutil.rmtree(run.folder / "split")  # the run's own copy of its split files is gone
    with pytest.raises(peers.PeersError, match="trained on another split"):
        peers.kgrec_row(run.folder, other)
    assert peers.kgrec_row(run.folder, same) == row
    info = json.loads((run.folder / "run.json").read_text())
    (run.folder / "run.json").write_text(json.dumps({**info, "status": "training"}))
    with pytest.raises(peers.PeersError, match="the run did not finish"):
        peers.kgrec_row(run.folder, same)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["test"]["all"].pop("recall@20"),
        lambda m: m.pop("valid"),
        lambda m: m["test"].update(all=[]),
        lambda m: m["test"]["all"].update({"recall@20": "high"}),
    ],
)
def test_a_kgrec_run_whose_metrics_lack_a_figure_is_a_clear_error(
    peers, tmp_path, tiny_recbole, edit
):
    """Before, a hand-edited metrics.json without a figure the table shows gave kgrec_row's
    KeyError (or TypeError) traceback."""
    from kgrec.experiment import train

    run = train(
        "popularity", protocol="ml1m-action-comedy", data=tiny_recbole, out=tmp_path / "run"
    )
    path = run.folder / "metrics.json"
    metrics = json.loads(path.read_text())
    edit(metrics)
    path.write_text(json.dumps(metrics))
    with pytest.raises(peers.PeersError, match=r"metrics\.json: field (test|valid)\.all\."):
        peers.kgrec_row(run.folder, run.folder / "split")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"models": {"LightGCN": ', "line 1, column 25: not JSON"),
        ("", "line 1, column 1: not JSON"),
        ("[]", "field (the whole file): expected a JSON object"),
        ('{"models": []}', "field 'models': expected an object"),
        ('{"models": {"NCL": 3}}', "field 'models'.'NCL': expected an object"),
        ('{"models": {"NCL": {"valid": 1}}}', "field 'models'.'NCL'.'valid': expected"),
        ('{"models": {"NCL": {"error": 7}}}', "field 'models'.'NCL'.'error': expected a string"),
    ],
)
def test_a_damaged_results_file_is_a_clear_error(
    peers, tmp_path, fake_recbole, capsys, text, message
):
    """Before, a peers.json damaged by hand ended in a JSONDecodeError, AttributeError or
    TypeError traceback (a 'models' list ran the model first, then failed to record it)."""
    split = write_split(tmp_path / "split", SPLIT)
    out = tmp_path / "out"
    out.mkdir()
    (out / "peers.json").write_text(text)
    argv = ["--split", str(split), "--out", str(out), "--venv", str(fake_recbole)]
    assert peers.main([*argv, "--models", "NCL"]) == 2
    err = capsys.readouterr().err
    assert f"error: file {out / 'peers.json'}" in err and message in err
    assert (out / "peers.json").read_text() == text  # left as it was
    assert sorted(p.name for p in out.iterdir()) == ["peers.json"]  # nothing run, no files


def test_a_kgrec_row_trained_on_other_domains_is_marked(peers, tmp_path, tiny_recbole):
    """Before, a kgrec run trained on every domain's interactions (lightgcn-merged here) stood
    in the table as "kgrec lightgcn-merged" beside RecBole's models, which train on the split
    files (the target domain's interactions only), and nothing said so."""
    from kgrec.experiment import train

    settings = {"protocol": "ml1m-action-comedy", "data": tiny_recbole, "epochs": 1, "dim": 8}
    settings |= {"batch_size": 128, "progress": False}
    merged = train("lightgcn-merged", out=tmp_path / "merged", **settings)
    alone = train("lightgcn", out=tmp_path / "alone", **settings)
    split = merged.folder / "split"
    rows = [peers.kgrec_row(merged.folder, split), peers.kgrec_row(alone.folder, split)]
    assert rows[0]["name"] == "kgrec lightgcn-merged [also trained on action]"
    assert rows[0]["other_domains"] == ["action"]
    assert rows[1]["name"] == "kgrec lightgcn" and rows[1]["other_domains"] == []
    record = {"valid": {"ndcg@20": 0.1}, "test": {"ndcg@20": 0.2, "recall@20": 0.3}}
    record |= {"best_epoch": 1, "epochs_run": 1, "fit_seconds": 1.0}
    text = peers.table([*rows, peers.peer_row("LightGCN", record)])
    assert "| kgrec lightgcn-merged [also trained on action] |" in text
    assert text.endswith(peers.CROSS_DOMAIN_NOTE) and "not a like-for-like" in text
    assert peers.CROSS_DOMAIN_NOTE not in peers.table(rows[1:])


def test_an_out_that_is_a_file_is_a_clear_error(peers, tmp_path, fake_recbole, capsys):
    """Before, --out naming a file (or a folder below one) ended in a NotADirectoryError
    traceback, after the split had been read."""
    split = write_split(tmp_path / "split", SPLIT)
    (tmp_path / "results.json").write_text("mine")
    argv = ["--split", str(split), "--venv", str(fake_recbole), "--models", "LightGCN"]
    for out in (tmp_path / "results.json", tmp_path / "results.json" / "peers"):
        assert peers.main([*argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"error: --out {out}: {tmp_path / 'results.json'} is a file, not a folder" in err
    assert (tmp_path / "results.json").read_text() == "mine"


@pytest.mark.parametrize(
    ("option", "value"),
    [("--threads", "0"), ("--epochs", "-3"), ("--timeout", "0"), ("--timeout", "nan")],
)
def test_numbers_that_are_no_positive_numbers_are_refused(
    peers, tmp_path, fake_recbole, capsys, option, value
):
    """Before, --threads 0 reached RecBole's environment (OMP_NUM_THREADS=0, a failed run
    recorded in peers.json), --epochs -3 went to RecBole as its epochs and --timeout 0
    recorded every model as timed out."""
    split = write_split(tmp_path / "split", SPLIT)
    argv = ["--split", str(split), "--out", str(tmp_path / "out"), "--venv", str(fake_recbole)]
    with pytest.raises(SystemExit) as stop:
        peers.main([*argv, option, value])
    assert stop.value.code == 2
    assert (
        f"argument {option}: expected a positive number, got {value!r}" in capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_more_threads_than_torch_takes_are_refused(peers, tmp_path, fake_recbole, capsys):
    """Before, --threads 99999999999999999999 was taken, and reached each model's worker in
    RecBole's environment, whose torch.set_num_threads cannot take it (Overflow when unpacking
    long long) (found by the rev50 review)."""
    from kgrec.threads import most_threads

    split = write_split(tmp_path / "split", SPLIT)
    argv = ["--split", str(split), "--out", str(tmp_path / "out"), "--venv", str(fake_recbole)]
    most, why = most_threads()  # this machine's: at most 2147483647, the most torch takes
    for value in ("99999999999999999999", "2147483648"):
        with pytest.raises(SystemExit) as stop:
            peers.main([*argv, "--threads", value])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert f"argument --threads: expected at most {most}, {why}, got {value!r}" in err
    assert not (tmp_path / "out").exists()


def test_more_threads_than_the_user_may_start_are_refused(
    peers, tmp_path, fake_recbole, capsys, monkeypatch
):
    """As kgrec's own --threads: above ``ulimit -u`` (all of a user's processes and threads)
    OpenMP cannot start them. Before, --threads 5001 under a limit of 5000 was taken and
    handed to each model's worker (only counts above 2147483647 were refused)."""
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (5000, resource.RLIM_INFINITY))
    split = write_split(tmp_path / "split", SPLIT)
    argv = ["--split", str(split), "--out", str(tmp_path / "out"), "--venv", str(fake_recbole)]
    with pytest.raises(SystemExit) as stop:
        peers.main([*argv, "--threads", "5001"])
    assert stop.value.code == 2
    assert (
        "argument --threads: expected at most 5000, this user's limit on processes and threads"
        " (ulimit -u), got '5001'" in capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_a_set_that_is_no_key_value_is_refused_before_out_is_written(
    peers, tiny_recbole, tmp_path, fake_recbole, capsys
):
    """Before, --data wrote OUT/split and OUT/recbole, and only then refused --set x."""
    out = tmp_path / "out"
    argv = ["--data", str(tiny_recbole), "--protocol", "ml1m-action-comedy", "--out", str(out)]
    argv += ["--venv", str(fake_recbole), "--models", "LightGCN", "--set", "x"]
    assert peers.main(argv) == 2
    assert "--set 'x': expected KEY=VALUE" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--seed", "3"], "--seed"),
        (["--protocol", "ml1m-action-comedy", "--seed", "0"], "--protocol and --seed"),
    ],
)
def test_a_split_option_beside_split_files_is_refused(
    peers, tmp_path, fake_recbole, capsys, options, named
):
    """--protocol and --seed make the split from --data; before, beside --split they were
    taken and ignored (the table was the files' split, whatever seed was asked for)."""
    split = write_split(tmp_path / "split", SPLIT)
    argv = ["--split", str(split), "--out", str(tmp_path / "out"), "--venv", str(fake_recbole)]
    with pytest.raises(SystemExit) as stop:
        peers.main([*argv, "--models", "LightGCN", *options])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"{named} make the split with --data; --split {split} names split files" in err
    assert not (tmp_path / "out").exists()


def test_the_split_it_makes_records_the_protocols_domain_rule(peers, tmp_path, tiny_recbole):
    """bench/peers.py --data --protocol writes the split it benchmarks (OUT/split). Its
    split.json recorded no domain rule (null), where `kgrec split` records the protocol's: a
    `kgrec train --split OUT/split --data ...` read the data as one domain and refused the
    recorded target domain (found by the split61 review)."""
    import argparse

    from kgrec.data.protocols import get_protocol
    from kgrec.experiment import load_experiment

    args = argparse.Namespace(data=tiny_recbole, protocol="ml1m-action-comedy", seed=0)
    split = peers.make_split(args, tmp_path / "out")
    recorded = json.loads((split / "split.json").read_text())
    assert recorded["domain_rule"] == get_protocol("ml1m-action-comedy").domain_rule
    read = load_experiment(data=tiny_recbole, store=None, protocol=None, split_dir=split, seed=0)
    assert read.split.target_domain == read.maps.domains.index("comedy")


def test_a_model_run_with_other_settings_is_not_shown_as_this_runs(
    peers, tmp_path, fake_recbole, capsys
):
    """Before, a model in peers.json was skipped whatever it had run with: a run without
    --epochs (RecBole's 300) after a quick --epochs 3 printed the 3-epoch figures as its own,
    and another --threads or --set reused them too."""
    split = write_split(tmp_path / "split", SPLIT)
    out = tmp_path / "out"
    argv = ["--venv", str(fake_recbole), "--models", "LightGCN", "--out", str(out)]
    argv += ["--split", str(split)]
    assert peers.main([*argv, "--epochs", "3"]) == 0
    stored = (out / "peers.json").read_text()
    capsys.readouterr()
    for other in ([], ["--epochs", "4"], ["--epochs", "3", "--set", "learning_rate=0.01"]):
        assert peers.main([*argv, *other]) == 2
        err = capsys.readouterr().err
        assert f"{out / 'peers.json'} holds LightGCN run with other settings" in err
        assert "--rerun" in err
        assert (out / "peers.json").read_text() == stored
    assert peers.main([*argv, "--epochs", "3"]) == 0  # the same settings read it again
    assert "already (--rerun to run it again)" in capsys.readouterr().out
    assert peers.main([*argv, "--rerun"]) == 0  # --rerun runs it with these settings
    record = json.loads((out / "peers.json").read_text())["models"]["LightGCN"]
    assert "epochs" not in record["run_settings"]
    assert peers.main(argv) == 0
