"""`kgrec tune` under a launcher: two gloo processes on loopback tune as one process does.

One launch of two processes (``python -c`` calling :func:`kgrec.cli.main`, with the
environment torchrun sets: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) runs four tunes in
turn in one process group, each rank in its own working directory (as on two machines): a
sampled search, a study of trials that complete, fail (a non-finite loss, a bad combination
of settings) and are pruned, a tune stopped by its time budget, and one rank 0 cannot start.
The launch has a timeout, so a rank left waiting in a collective fails the tests.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import kgrec.tune
from kgrec.tune import BEST_FILE, LOCK_FILE, STUDY_FILE, STUDY_NAME, Choice, LogUniform, tune

WORLD = 2
LAUNCH_TIMEOUT = 300  # seconds for the whole launch (imports, four tunes); a hang ends there
PROTOCOL = "ml1m-action-comedy"
SMALL = {"dim": 8, "batch_size": 128}
SMALL_ARGS = ["--dim", "8", "--batch-size", "128", "--threads", "1"]
# a sampled search (the defaults first, then TPE's seeded random start)
SAMPLED = {"space": {"lr": LogUniform(1e-3, 1e-1), "reg_weight": Choice([0.0, 1e-3])}}
SAMPLED_ARGS = ["--search", "lr=loguniform:0.001:0.1", "--search", "reg_weight=choice:0,0.001"]
# trials run in this order: three that learn, a non-finite loss, cl_layer 2 > layers 1 (settings
# invalid together: pruned on rank 0 before any rank trains), and lr 1e-12, which never learns (a
# step below float32's precision on the weights; lr 0 is refused): pruned at epoch 2
ENDINGS = [
    {"lr": 0.05, "cl_weight": 0.0, "layers": 2},
    {"lr": 0.05, "cl_weight": 0.0, "layers": 1},
    {"lr": 0.05, "cl_weight": 0.0, "layers": 2},
    {"lr": 1e30, "cl_weight": 0.0, "layers": 2},
    {"lr": 0.05, "cl_weight": 0.1, "layers": 1},
    {"lr": 1e-12, "cl_weight": 0.0, "layers": 2},
]
ENDING_SPACE = {
    "lr": Choice([0.05, 1e-12, 1e30]),
    "cl_weight": Choice([0.0, 0.1]),
    "layers": Choice([2, 1]),
}
ENDING_FIXED = {"epochs": 4, "patience": 4, "prune_warmup": 2, "cl_layer": 2}
ENDING_ARGS = [
    "--search",
    "lr=choice:0.05,1e-12,1e30",
    "--search",
    "cl_weight=choice:0,0.1",
    "--search",
    "layers=choice:2,1",
    "--epochs",
    "4",
    "--patience",
    "4",
    "--prune-warmup",
    "2",
    "--cl-layer",
    "2",
]
# long trials with no pruning and a time budget that runs out in the first epoch
BUDGET_ARGS = ["--epochs", "50", "--patience", "50", "--no-pruning", "--trials", "3"]
BUDGET_ARGS += ["--timeout", "0.001"]
# one rank's process: each tune in turn, its exit codes written to a file beside the hosts,
# with whether kgrec's shutdown (atexit's, run here first) ended the process group: one that
# outlives it takes gloo's threads into the interpreter's finalisation, where one could abort
RANK_MAIN = """
import gc, json, sys, weakref
import torch.distributed as dist
from kgrec import distributed
from kgrec.cli import main
codes = [main(argv) for argv in json.loads(sys.argv[1])]
group = weakref.ref(dist.distributed_c10d._get_default_group())
distributed.shutdown(True)
gc.collect()
with open(sys.argv[2], "w") as f:
    json.dump({"codes": codes, "group_ended": group() is None}, f)
sys.exit(codes[-1])
"""


def _argv(data: Path, out: str, *extra: str) -> list[str]:
    model = ["--model", "lightgcn", "--protocol", PROTOCOL]
    return ["tune", *model, "--data", str(data), "--out", out, *SMALL_ARGS, *extra]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _enqueue(out: Path, trials: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    study = kgrec.tune._open_study(out, pruning=True, prune_warmup=1)  # kgrec's, marked
    for params in trials:
        study.enqueue_trial(params)


def _ending_tune(data: Path, out: Path, **options):
    return tune(
        "lightgcn",
        protocol=PROTOCOL,
        data=data,
        out=out,
        space=ENDING_SPACE,
        progress=False,
        **{"trials": len(ENDINGS), **SMALL, **ENDING_FIXED, **options},
    )


@pytest.fixture(scope="module")
def launch(tmp_path_factory, write_tiny):
    """The folder of the two ranks' working directories (host0, host1) after the launch, and
    each rank's exit code, tunes' exit codes, stdout and stderr."""
    folder = tmp_path_factory.mktemp("tune-ddp")
    data = write_tiny(folder / "tiny")
    for rank in range(WORLD):
        (folder / f"host{rank}").mkdir()
    _enqueue(folder / "host0" / "endings", ENDINGS)  # rank 0's disk only
    stray = folder / "host0" / "taken"
    stray.mkdir()
    (stray / "notes.txt").write_text("not a tune\n")
    runs = [
        _argv(data, "sampled", *SAMPLED_ARGS, "--epochs", "3", "--trials", "3"),
        _argv(data, "endings", *ENDING_ARGS, "--trials", str(len(ENDINGS))),
        _argv(data, "budget", *SAMPLED_ARGS, *BUDGET_ARGS),
        _argv(data, "taken", *SAMPLED_ARGS, "--epochs", "3", "--trials", "1"),
    ]
    port = _free_port()
    procs = []
    for rank in range(WORLD):
        env = {
            **os.environ,
            "RANK": str(rank),
            "WORLD_SIZE": str(WORLD),
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        codes = folder / f"codes{rank}.json"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", RANK_MAIN, json.dumps(runs), str(codes)],
                cwd=folder / f"host{rank}",
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    ranks = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=LAUNCH_TIMEOUT)
            ranks.append({"returncode": proc.returncode, "stdout": stdout, "stderr": stderr})
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        pytest.fail(f"a rank was still running after {LAUNCH_TIMEOUT} s: a collective hung")
    for rank, info in enumerate(ranks):
        codes = folder / f"codes{rank}.json"
        info.update(json.loads(codes.read_text()) if codes.exists() else {"codes": None})
    return folder, data, ranks


def _trials(out: Path) -> list:
    return optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{out / STUDY_FILE}").trials


def test_two_ranks_tune_as_one_process(launch, tmp_path) -> None:
    folder, data, ranks = launch
    assert [r["codes"] for r in ranks] == [[0, 0, 1, 2]] * WORLD, ranks
    single = tune(
        "lightgcn",
        protocol=PROTOCOL,
        data=data,
        out=tmp_path / "single",
        trials=3,
        epochs=3,
        progress=False,
        **SMALL,
        **SAMPLED,
    )
    two = _trials(folder / "host0" / "sampled")
    assert [t.state for t in two] == [TrialState.COMPLETE] * 3
    assert [t.params for t in two] == [t.params for t in single.trials]
    for one, other in zip(single.trials, two, strict=True):
        assert other.value == pytest.approx(one.value, abs=1e-4)
        assert other.user_attrs["world_size"] == WORLD and one.user_attrs["world_size"] == 1
        assert other.user_attrs["device"] == "cpu" and other.user_attrs["threads"] == 1
    best = json.loads((folder / "host0" / "sampled" / BEST_FILE).read_text())
    assert best["value"] == pytest.approx(single.best_value, abs=1e-4)
    assert best["environment"] == {"world_size": WORLD, "device": "cpu", "threads": 1}
    # rank 0 printed the table and the train command; rank 1 printed nothing of it
    assert "train it with:\nkgrec train" in ranks[0]["stdout"]
    assert "trial 0 complete" in ranks[0]["stdout"]
    assert ranks[1]["stdout"].strip() == ""


def test_only_rank_0_writes_one_study(launch, tmp_path) -> None:
    folder, data, _ = launch
    assert sorted(p.name for p in (folder / "host1").iterdir()) == []
    single = tmp_path / "single"
    tune(
        "lightgcn",
        protocol=PROTOCOL,
        data=data,
        out=single,
        trials=1,
        epochs=1,
        progress=False,
        **SMALL,
        **SAMPLED,
    )
    assert sorted(p.name for p in single.iterdir()) == sorted([STUDY_FILE, BEST_FILE, LOCK_FILE])
    written = sorted(p.name for p in (folder / "host0" / "sampled").iterdir())
    assert written == sorted(p.name for p in single.iterdir())
    with closing(sqlite3.connect(folder / "host0" / "sampled" / STUDY_FILE)) as db:
        assert db.execute("select study_name from studies").fetchall() == [(STUDY_NAME,)]


def test_failed_and_pruned_trials_end_on_every_rank(launch, tmp_path) -> None:
    folder, data, ranks = launch
    out = tmp_path / "single"
    _enqueue(out, ENDINGS)
    single = _ending_tune(data, out).trials
    two = _trials(folder / "host0" / "endings")
    states = [TrialState.COMPLETE] * 3 + [TrialState.FAIL] + [TrialState.PRUNED] * 2
    assert [t.state for t in single] == states
    assert [t.state for t in two] == states
    assert [t.params for t in two] == ENDINGS
    assert [t.user_attrs.get("epochs") for t in two] == [t.user_attrs.get("epochs") for t in single]
    assert two[-1].user_attrs["epochs"] == 2  # pruned after the warm-up, on both ranks
    assert "training loss is" in two[3].user_attrs["error"]
    assert "cl_layer" in two[4].user_attrs["invalid"] and "epochs" not in two[4].user_attrs
    for one, other in zip(single, two, strict=True):
        if one.value is not None:
            assert other.value == pytest.approx(one.value, abs=1e-4)
    assert "trial 5 pruned" in ranks[0]["stdout"]


def test_the_time_budget_stops_the_trial_on_every_rank(launch) -> None:
    folder, _, ranks = launch
    stopped, waiting = _trials(folder / "host0" / "budget")
    assert stopped.state == TrialState.FAIL and waiting.state == TrialState.WAITING
    assert stopped.user_attrs["interrupted"] == "time budget"
    assert stopped.user_attrs["epochs"] == 1
    assert all(r["codes"][2] == 1 for r in ranks)  # no trial completed, on every rank


def test_a_tune_rank_0_cannot_start_fails_on_every_rank(launch) -> None:
    folder, _, ranks = launch
    # the tails of both ranks' stderr in the message: a rank once ended with SIGABRT (-6) in a
    # CI run instead of 2, as the process group outlived kgrec's shutdown (fixed; the test of
    # it is the last of this module); its output says where if a rank ever ends so again
    tails = "\n".join(f"rank {n}: ...{r['stderr'][-2000:]}" for n, r in enumerate(ranks))
    assert [r["returncode"] for r in ranks] == [2] * WORLD, tails
    assert "this is not a tune folder and not empty" in ranks[0]["stderr"]
    assert "rank 0 could not start the tune" in ranks[1]["stderr"]
    assert "this is not a tune folder and not empty" in ranks[1]["stderr"]
    assert sorted(p.name for p in (folder / "host0" / "taken").iterdir()) == ["notes.txt"]


def test_the_process_group_ends_with_kgrec_on_every_rank(launch) -> None:
    """kgrec's shutdown (atexit's, at a rank's end) ends the process group after tunes that
    trained. Before, torch._dynamo, first imported (by torch_geometric) once the group existed,
    kept references to it: the group and gloo's worker threads outlived destroy_process_group
    into the interpreter's finalisation, where a worker letting go of the last collective's
    tensors aborted the rank now and then under load (SIGABRT, exit -6, "terminate called
    without an active exception": 4 of 79 launches of this module beside a busy core)."""
    _, _, ranks = launch
    assert [r.get("group_ended") for r in ranks] == [True] * WORLD, ranks
