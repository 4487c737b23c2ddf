"""Fine-tuning: ``kgrec train --init-from RUN`` starts a run from another run's parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import kgrec.experiment
from kgrec.cli import build_parser, main
from kgrec.errors import InputError
from kgrec.experiment import build_run, load_experiment, train

SMALL = {"epochs": 2, "dim": 8, "batch_size": 128, "progress": False}
EMBEDDING = "lightgcn.embedding.weight"


@pytest.fixture
def source(tmp_path, tiny_recbole):
    """A merged LightGCN run on the tiny dataset (seed 0): the run to start from."""
    return train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "source",
        **SMALL,
    )


def saved_parameters(run) -> dict[str, torch.Tensor]:
    return torch.load(run.folder / "model.pt", weights_only=True)


def first_state(monkeypatch) -> list[dict[str, torch.Tensor]]:
    """The model's parameters as training starts, recorded from kgrec.experiment.fit."""
    seen = []
    fit = kgrec.experiment.fit

    def recording(model, *args, **kwargs):
        seen.append({k: v.detach().clone() for k, v in model.named_parameters()})
        return fit(model, *args, **kwargs)

    monkeypatch.setattr(kgrec.experiment, "fit", recording)
    return seen


def test_training_starts_from_the_source_runs_parameters(
    tmp_path, tiny_recbole, source, monkeypatch
):
    seen = first_state(monkeypatch)
    run = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "tuned",
        seed=0,
        init_from=source.folder,
        **SMALL,
    )
    assert torch.equal(seen[0][EMBEDDING], saved_parameters(source)[EMBEDDING])
    # and then trains on: the run's model is not the source's
    assert not torch.equal(run.model.state_dict()[EMBEDDING], saved_parameters(source)[EMBEDDING])
    info = json.loads((run.folder / "run.json").read_text())
    assert info["settings"]["init_from"] == str(source.folder.resolve())
    assert info["init_from"]["copied"] == [EMBEDDING]
    assert info["init_from"]["model"] == "lightgcn-merged"
    # without it, the same seed starts elsewhere
    train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "scratch",
        **SMALL,
    )
    assert not torch.equal(seen[1][EMBEDDING], saved_parameters(source)[EMBEDDING])


def test_a_source_on_another_graph_is_matched_by_node_id(tmp_path, tiny_recbole, monkeypatch):
    # the source run knows neither users u0-u9 nor "Comedy 0"
    smaller = tmp_path / "smaller"
    smaller.mkdir()
    items = (tiny_recbole / "tiny.item").read_text().splitlines()
    items = [r for r in items if not r.startswith("Comedy 0\t")]
    (smaller / "smaller.item").write_text("\n".join(items) + "\n")
    rows = (tiny_recbole / "tiny.inter").read_text().splitlines()
    keep = [rows[0]] + [r for r in rows[1:] if r.split("\t")[0] not in {f"u{u}" for u in range(10)}]
    keep = [r for r in keep if r.split("\t")[1] != "Comedy 0"]
    (smaller / "smaller.inter").write_text("\n".join(keep) + "\n")
    source = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=smaller,
        out=tmp_path / "source",
        **SMALL,
    )
    source_maps = source.experiment.maps
    seen = first_state(monkeypatch)
    run = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "tuned",
        init_from=source.folder,
        **SMALL,
    )
    maps = run.experiment.maps
    assert len(maps.users) > len(source_maps.users)
    start, theirs = seen[0][EMBEDDING].cpu(), saved_parameters(source)[EMBEDDING].cpu()
    num_users = len(maps.users)
    for row, user in enumerate(maps.users):
        if user in source_maps.users:
            assert torch.equal(start[row], theirs[source_maps.users.index(user)]), user
    for row, item in enumerate(maps.items):
        if item in source_maps.items:
            assert torch.equal(
                start[num_users + row],
                theirs[len(source_maps.users) + source_maps.items.index(item)],
            )
    # the nodes the source lacks keep the fresh initialisation of a run from scratch
    experiment = load_experiment(
        data=tiny_recbole, store=None, protocol="ml1m-action-comedy", split_dir=None, seed=0
    )
    fresh = build_run(experiment, {"model": "lightgcn-merged", "dim": 8})[0]
    fresh = fresh.state_dict()[EMBEDDING]
    new_rows = [r for r, u in enumerate(maps.users) if u not in source_maps.users]
    new_rows += [num_users + r for r, i in enumerate(maps.items) if i not in source_maps.items]
    assert len(new_rows) >= 11
    assert torch.equal(start[new_rows], fresh[new_rows])
    record = json.loads((run.folder / "run.json").read_text())["init_from"]
    matched = len(source_maps.users) + len(source_maps.items)
    total = len(maps.users) + len(maps.items)
    assert record["remapped"] == {EMBEDDING: f"{matched} of {total} rows"}


def _keep_films(tiny_recbole: Path, folder: Path, dropped: set[str]) -> Path:
    """The tiny dataset without the films ``dropped`` (and their ratings), in ``folder``."""
    folder.mkdir()
    for suffix, column in (("item", 0), ("inter", 1)):
        rows = (tiny_recbole / f"tiny.{suffix}").read_text().splitlines()
        rows = rows[:1] + [r for r in rows[1:] if r.split("\t")[column] not in dropped]
        (folder / f"{folder.name}.{suffix}").write_text("\n".join(rows) + "\n")
    return folder


def test_a_table_of_items_is_matched_by_item_even_with_as_many_users(
    tmp_path, tiny_recbole, monkeypatch
):
    # 40 users and 40 items on both graphs, but other items: matrix factorisation's item
    # table has as many rows as its user table, and was matched by user id (item row j took
    # the source's row of the user of row j)
    films = [[f"{genre} {j}" for genre in ("Action", "Comedy")] for j in range(30)]
    first, last = {f for pair in films[:10] for f in pair}, {f for pair in films[20:] for f in pair}
    source = train(
        "mf",
        protocol="ml1m-action-comedy",
        data=_keep_films(tiny_recbole, tmp_path / "a", {"Both (1999)", *first}),
        out=tmp_path / "source",
        **SMALL,
    )
    seen = first_state(monkeypatch)
    run = train(
        "mf",
        protocol="ml1m-action-comedy",
        data=_keep_films(tiny_recbole, tmp_path / "b", {"Both (1999)", *last}),
        out=tmp_path / "tuned",
        init_from=source.folder,
        **SMALL,
    )
    maps, source_maps = run.experiment.maps, source.experiment.maps
    assert len(maps.users) == len(maps.items) == len(source_maps.users) == len(source_maps.items)
    assert maps.items != source_maps.items
    theirs = saved_parameters(source)
    shared = [i for i in maps.items if i in source_maps.items]
    assert len(shared) == 20
    for row, item in enumerate(maps.items):
        if item in shared:
            expected = theirs["item_embedding.weight"][source_maps.items.index(item)]
            assert torch.equal(seen[0]["item_embedding.weight"][row].cpu(), expected), item
    for row, user in enumerate(maps.users):
        expected = theirs["user_embedding.weight"][source_maps.users.index(user)]
        assert torch.equal(seen[0]["user_embedding.weight"][row].cpu(), expected), user
    record = json.loads((run.folder / "run.json").read_text())["init_from"]
    assert record["remapped"] == {
        "user_embedding.weight": "40 of 40 rows",
        "item_embedding.weight": "20 of 40 rows",
    }


def test_the_cli_takes_init_from(tmp_path, tiny_recbole, source, capsys):
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--epochs", "2", "--dim", "8"]
    args = build_parser(argv).parse_args([*argv, "--init-from", "RUN", "--out", "r"])
    assert args.init_from == Path("RUN")
    assert build_parser(argv).parse_args([*argv, "--out", "r"]).init_from is None
    assert main([*argv, "--init-from", str(source.folder), "--out", str(tmp_path / "r")]) == 0
    assert (
        f"init from {source.folder} (lightgcn-merged): copied {EMBEDDING}"
        in capsys.readouterr().out
    )


def test_mismatching_models_are_refused_naming_the_parameter(
    tmp_path, tiny_recbole, source, capsys
):
    argv = ["train", "--protocol", "ml1m-action-comedy", "--data", str(tiny_recbole)]
    argv += ["--epochs", "2", "--init-from", str(source.folder)]
    assert main([*argv, "--model", "lightgcn-merged", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert f"parameter '{EMBEDDING}' has shape (100, 8) in the run" in err
    assert "and (100, 64) here" in err
    assert not (tmp_path / "a").exists()  # refused before the run folder is written
    # a model with no parameter of the same name
    assert main([*argv, "--model", "rgcn", "--dim", "8", "--out", str(tmp_path / "b")]) == 2
    assert "no parameter of the run's model (lightgcn-merged)" in capsys.readouterr().err


def test_init_from_a_folder_that_is_no_finished_run_fails_first(tmp_path, tiny_recbole):
    # before: "no run here (run.json not found)" alone, read as if of --out
    with pytest.raises(InputError, match=r"run\.json: --init-from: no run here"):
        train(
            "lightgcn-merged",
            protocol="ml1m-action-comedy",
            data=tmp_path / "not-read",
            out=tmp_path / "r",
            init_from=tmp_path,
            **SMALL,
        )
    assert not (tmp_path / "r").exists()


def test_a_run_resumes_after_its_init_from_run_is_gone(tmp_path, tiny_recbole, source, capsys):
    """The checkpoint replaces the warm start, so --resume needs no source run (before: 'no run
    here', naming the moved source)."""
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--dim", "8", "--init-from", str(source.folder)]
    argv += ["--out", str(tmp_path / "r")]
    assert main([*argv, "--epochs", "2"]) == 0
    (tmp_path / "r" / "run.json").write_text(
        (tmp_path / "r" / "run.json").read_text().replace('"done"', '"training"')
    )
    source.folder.rename(tmp_path / "moved")
    assert main([*argv, "--epochs", "2", "--resume"]) == 0, capsys.readouterr().err


def test_a_run_resumes_from_its_moved_init_from_run_and_not_from_another(
    tmp_path, tiny_recbole, source, capsys
):
    """Before, a resume given the source run's new folder (moved, or reached through another
    path) was refused: "these differ: --init-from ...", though it never reads it again."""
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--dim", "8", "--out", str(tmp_path / "r")]
    assert main([*argv, "--init-from", str(source.folder), "--epochs", "1"]) == 0
    moved = tmp_path / "moved"
    source.folder.rename(moved)
    (tmp_path / "link").symlink_to(moved)
    other = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "other",
        seed=1,
        **SMALL,
    )
    capsys.readouterr()
    for refused in (other.folder, tmp_path / "nothing"):
        assert main([*argv, "--init-from", str(refused), "--epochs", "2", "--resume"]) == 2
        assert "these differ: --init-from" in capsys.readouterr().err
    assert main([*argv, "--init-from", str(tmp_path / "link"), "--epochs", "2", "--resume"]) == 0
    assert main([*argv, "--init-from", str(moved), "--epochs", "3", "--resume"]) == 0
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["training"]["epochs_run"] == 3


def test_options_of_another_objective_are_refused_not_ignored(tmp_path, tiny_recbole, capsys):
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(tmp_path / "r")]
    for extra, flag in (
        (["--temperature", "7"], "--temperature"),
        (["--num-negatives", "50"], "--num-negatives"),
        (["--score", "cosine"], "--score"),
    ):
        assert main([*argv, "--objective", "bpr", *extra]) == 2
        err = capsys.readouterr().err
        assert f"objective bpr does not take {flag}" in err and "do: softmax" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("model", "extra", "field"),
    [
        ("cross-domain", ["--relation-weighting", "scalar"], "--relation-weighting"),
        ("lightgcn", ["--no-entity-embeddings"], "--no-entity-embeddings"),
        ("lightgcn", ["--relation-weighting", "scalar"], "--relation-weighting"),
        ("rgcn", ["--adversarial-weight", "0.1"], "--adversarial-weight"),
    ],
)
def test_options_of_another_model_are_refused_not_ignored(
    tmp_path, tiny_recbole, capsys, model, extra, field
):
    argv = ["train", "--model", model, "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(tmp_path / "r"), *extra]
    assert main(argv) == 2
    assert f"field '{field}': {model} takes no" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_source_that_trained_on_this_runs_held_out_pairs_is_said(tmp_path, tiny_recbole, source):
    # before: nothing said it; another seed's split puts the source's training pairs in this
    # run's validation and test sets
    same = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        init_from=source.folder,
        out=tmp_path / "same",
        **SMALL,
    )
    assert same.info["init_from"]["held_out_pairs_seen"] == 0
    other = train(
        "lightgcn-merged",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        seed=1,
        init_from=source.folder,
        out=tmp_path / "other",
        **SMALL,
    )
    assert other.info["init_from"]["held_out_pairs_seen"] > 0


def test_parameters_by_domain_are_not_copied_onto_other_domains(tmp_path, tiny_recbole):
    # before: the comedy adapter of a comedy/thriller run was the source's action adapter
    # (copied by position: domains (action, comedy) against (comedy, thriller))
    options = {**SMALL, "dim": 8}
    first = train(
        "cross-domain",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "a",
        **options,
    )
    rule = "genres:comedy=Comedy;thriller=Thriller"
    second = train(
        "cross-domain",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        domain_rule=rule,
        target_domain="comedy",
        init_from=first.folder,
        out=tmp_path / "b",
        **options,
    )
    fresh = second.info["init_from"]["fresh"]
    assert any("adapters" in name for name in fresh), fresh


def test_the_source_is_read_again_when_its_files_are_replaced_meanwhile(
    tmp_path, tiny_recbole, source, monkeypatch
):
    """warm_start reads its source through load_run's check: files read while run.json was
    replaced (a kgrec train --resume of the source moving its new files in) are read again, so
    the parameters are one run's, and a source that the re-read finds training is refused
    (before: the model.pt read before the replacement was used, beside the new run.json)."""
    from kgrec.experiment import warm_start

    experiment = source.experiment
    net = build_run(experiment, {"model": "lightgcn-merged", "dim": 8})[0]
    run_json = source.folder / "run.json"
    info = json.loads(run_json.read_text())
    newer = {k: torch.full_like(v, 7.0) for k, v in saved_parameters(source).items()}
    read = kgrec.experiment.read_experiment
    replaced = []

    def replacing(path):
        if not replaced:  # the resume's moves land while warm_start reads the source
            torch.save(newer, source.folder / "model.pt")
            run_json.write_text(json.dumps({**info, "resumed": True}))
            replaced.append(path)
        return read(path)

    monkeypatch.setattr(kgrec.experiment, "read_experiment", replacing)
    warm_start(net, experiment, source.folder)
    assert replaced and torch.equal(net.state_dict()[EMBEDDING].cpu(), newer[EMBEDDING].cpu())

    # the re-read finds the source mid-replacement (run.json: training): refused
    replaced.clear()
    info["status"] = "training"
    with pytest.raises(InputError, match="--init-from: the run did not finish"):
        warm_start(net, experiment, source.folder)


def test_init_from_a_run_still_training_is_refused(tmp_path, tiny_recbole, source, capsys):
    run_json = source.folder / "run.json"
    run_json.write_text(run_json.read_text().replace('"done"', '"training"'))
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--dim", "8", "--epochs", "2"]
    argv += ["--init-from", str(source.folder), "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--init-from: the run did not finish" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_the_text_mlp_of_a_run_on_another_text_models_vectors_is_left_fresh(
    tmp_path, tiny_recbole, caplog
):
    """Before, --init-from copied the source run's text MLP whatever text model made the
    vectors it was trained on: one of another model (of the same size) read this run's
    vectors as if they were its own."""
    import numpy as np

    from kgrec.store import open_store
    from loaders import recbole
    from loaders.rules import named_rule

    def text_store(name: str, model: str) -> str:
        store = f"local:{tmp_path / name}"
        with open_store(store) as opened:
            opened.write(
                recbole.load(tiny_recbole, domain_rule=named_rule("ml1m-action-comedy")),
                progress=False,
            )
            keys = sorted(opened.snapshot().items["uid"])
            opened.replace_vectors(
                {"Item": (keys, np.random.default_rng(ord(model)).normal(size=(len(keys), 6)))},
                property="embedding",
                model={"name": model, "identity": f"{model}@1"},
            )
        return store

    text = {"protocol": "ml1m-action-comedy", "text_input": "add", "seed": 0, **SMALL}
    source = train("lightgcn", store=text_store("a", "a"), out=tmp_path / "source", **text)
    mlp = sorted(name for name in saved_parameters(source) if name.startswith("text_input."))
    assert mlp
    # the same text model: every parameter is copied, the text MLP too
    same = train(
        "lightgcn",
        store=text_store("a2", "a"),
        out=tmp_path / "same",
        init_from=source.folder,
        **text,
    )
    copied = json.loads((same.folder / "run.json").read_text())["init_from"]["copied"]
    assert set(mlp) <= set(copied)
    caplog.clear()
    with caplog.at_level("WARNING"):
        other = train(
            "lightgcn",
            store=text_store("b", "b"),
            out=tmp_path / "other",
            init_from=source.folder,
            **text,
        )
    record = json.loads((other.folder / "run.json").read_text())["init_from"]
    assert not set(mlp) & set(record["copied"]) and set(mlp) <= set(record["fresh"])
    assert EMBEDDING in record["copied"]
    warning = caplog.text
    assert "a@1" in warning and "b@1" in warning and "text_input.mlp" in warning
    assert warning.count("its text vectors were made by model") == 1  # (it was said twice)


def test_a_stopped_run_keeps_its_init_from_record_and_resumes_from_the_moved_run(
    tmp_path, tiny_recbole, source, monkeypatch, capsys
):
    """Before, run.json got ``init_from`` only once the run was done: a run stopped while it
    trained had none, so a resume given the moved source run was refused ("these differ:
    --init-from"), and the finished run's run.json recorded no warm start at all."""
    fit = kgrec.experiment.fit

    def stopped(*args, **kwargs):  # trains (writing the checkpoint), then Ctrl-C
        fit(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(kgrec.experiment, "fit", stopped)
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--dim", "8", "--out", str(tmp_path / "r")]
    assert main([*argv, "--init-from", str(source.folder), "--epochs", "1"]) == 130
    monkeypatch.setattr(kgrec.experiment, "fit", fit)
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["status"] == "training"
    digest = info["init_from"]["model_sha256"]
    assert info["init_from"]["copied"] == [EMBEDDING]
    moved = tmp_path / "moved"
    source.folder.rename(moved)
    capsys.readouterr()
    assert main([*argv, "--init-from", str(moved), "--epochs", "2", "--resume"]) == 0, (
        capsys.readouterr().err
    )
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["status"] == "done"
    assert info["init_from"]["model_sha256"] == digest
    assert info["init_from"]["held_out_pairs_seen"] == 0


def test_held_out_pairs_seen_by_the_run_the_source_started_from_are_counted(
    tmp_path, tiny_recbole, caplog
):
    """Before, a run of seed 0 started from a run of seed 0 that had itself started from a
    run of seed 1 (which trained on seed 0's validation and test pairs) counted 0: the
    source's own training alone was checked, not what its start carried in."""
    common = {"protocol": "ml1m-action-comedy", "data": tiny_recbole, **SMALL}
    other = train("lightgcn-merged", seed=1, out=tmp_path / "other", **common)
    middle = train(
        "lightgcn-merged", seed=0, init_from=other.folder, out=tmp_path / "middle", **common
    )
    leaked = middle.info["init_from"]["held_out_pairs_seen"]
    assert leaked > 0
    last = train("lightgcn-merged", seed=0, init_from=middle.folder, out=tmp_path / "a", **common)
    assert last.info["init_from"]["held_out_pairs_seen"] == leaked
    assert "or a run it started from with --init-from) trained on" in caplog.text
    # the run it started from is gone: said, not counted
    other.folder.rename(tmp_path / "gone")
    caplog.clear()
    last = train("lightgcn-merged", seed=0, init_from=middle.folder, out=tmp_path / "b", **common)
    assert last.info["init_from"]["held_out_pairs_seen"] == 0
    assert f"it started from --init-from {other.folder}, which is gone" in caplog.text
    # a source whose settings name its own start but whose run.json has no record of it (an
    # older kgrec's): said, not counted
    (tmp_path / "gone").rename(other.folder)
    info = json.loads((middle.folder / "run.json").read_text())
    del info["init_from"]
    (middle.folder / "run.json").write_text(json.dumps(info))
    caplog.clear()
    last = train("lightgcn-merged", seed=0, init_from=middle.folder, out=tmp_path / "c", **common)
    assert last.info["init_from"]["held_out_pairs_seen"] == 0
    assert f"it started from --init-from {other.folder}, which is gone, holds another" in (
        caplog.text
    )


def test_a_full_disk_as_init_from_is_recorded_is_an_error_not_a_traceback(
    tmp_path, tiny_recbole, source, capsys, monkeypatch
):
    """run.json records the warm start before training; a disk that refused that write raised
    the bare OSError out of kgrec train (a traceback, exit 1). Now it is an error naming the
    file and the reason, the new run is left as none (nothing to resume), and the same command
    trains it once the file can be written."""
    write = kgrec.experiment._write_json

    def refuse_the_warm_start_record(path, payload):
        if "init_from" in payload:
            raise OSError(28, "No space left on device")
        write(path, payload)

    monkeypatch.setattr(kgrec.experiment, "_write_json", refuse_the_warm_start_record)
    argv = ["train", "--model", "lightgcn-merged", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--epochs", "2", "--dim", "8"]
    argv += ["--init-from", str(source.folder), "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'r' / 'run.json'} (No space left on device)" in err
    assert not (tmp_path / "r").exists()
    monkeypatch.undo()
    assert main(argv) == 0
