"""Data-parallel training: two gloo processes on loopback give the single process's result.

The processes are started once, with ``torch.multiprocessing.spawn`` (robust on 2 cores: no
torchrun agent, no rendezvous server), and join through the environment variables torchrun
sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), as ``kgrec train`` reads them.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import json
import logging
import os
import queue
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from kgrec import distributed
from kgrec.data.export import message_graph, to_hetero_data
from kgrec.data.split import make_split
from kgrec.models import LightGCNRecommender
from kgrec.objectives import BPR, Batch, TextNeighbours, text_neighbours
from kgrec.train import fit, rank_share

WORLD = 2
FIT = {"epochs": 3, "lr": 0.05, "batch_size": 50, "patience": 50, "target_weight": 3.0}
RUN = {"epochs": 3, "dim": 8, "batch_size": 100, "target_weight": 2.0, "progress": False}


def _experiment(tables):
    data, maps = to_hetero_data(tables)
    split = make_split(data, maps, "ml1m-action-comedy", seed=0)
    pairs = split.training_interactions(data, all_domains=True)
    return split, pairs, message_graph(data, interactions=pairs, knowledge=False)


def _fit(tables, checkpoint: Path | None = None, **options):
    split, pairs, graph = _experiment(tables)
    torch.manual_seed(0)
    model = LightGCNRecommender(graph.num_users, graph.num_items, embedding_dim=8, num_layers=2)
    settings = {**FIT, "progress": False, "checkpoint": checkpoint, **options}
    result = fit(model, graph, split, pairs, seed=0, **settings)
    return model, result


def _text_view(tables) -> TextNeighbours:
    """BPR with the text view over seeded random item vectors (3 neighbours each)."""
    num_items = _experiment(tables)[2].num_items
    vectors = torch.randn(num_items, 4, generator=torch.Generator().manual_seed(0))
    neighbours = text_neighbours(vectors, torch.ones(num_items, dtype=torch.bool), 3)
    return TextNeighbours(BPR(), neighbours, weight=0.5, temperature=0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# the open files a rank's faulthandler writes its stacks to (kept open for its life)
_STACKS: list = []
# the most seconds the hosts fixture waits for its two ranks (about 20 s on 2 shared cores)
RANKS_DEADLINE = 240


def _rank(rank: int, folder: str, data: str, port: int, tables) -> None:
    """One rank: ``kgrec train``'s library call as under torchrun (2 epochs, then resumed to
    3), then fit itself (2 epochs, resumed to 3) in the process group train() joined."""
    from kgrec.errors import InputError
    from kgrec.experiment import train

    # SIGUSR1 (from the hosts fixture, when the ranks take too long) writes every thread's
    # Python stack here: where a rank waits (joining, a collective, its exit) shows the cause
    _STACKS.append(open(Path(folder) / f"stacks{rank}.txt", "w"))  # noqa: SIM115
    faulthandler.register(signal.SIGUSR1, file=_STACKS[-1], all_threads=True)
    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    os.chdir(Path(folder) / f"host{rank}")  # as on two machines: a relative --out each
    settings = {**RUN, "protocol": "ml1m-action-comedy", "data": data, "device": "cpu"}
    train("lightgcn-merged", out="run", **{**settings, "epochs": 2})
    train("lightgcn-merged", out="run", resume=True, **settings)
    # distilled from that run, which every rank reads itself (here both from rank 0's folder)
    teacher = str(Path(folder) / "host0" / "run")
    train("lightgcn-merged", out="distilled", distill_from=[teacher], **settings)
    try:  # another seed on rank 1: refused on both ranks, before anything is written
        train("lightgcn-merged", out="mismatch", **{**settings, "seed": rank})
    except InputError as exc:
        Path("mismatch.txt").write_text(str(exc))
    # split files on rank 0's disk only (rank 1 has no run/): the same command all the same
    try:
        split = {"split": "run/split", "data": data, "device": "cpu"}
        train("lightgcn-merged", out="from-split", **split, **{**RUN, "epochs": 1})
    except InputError as exc:
        Path("from-split.txt").write_text(str(exc))
    checkpoint = Path("checkpoint.pt")  # this host's own: rank 1 must never write it
    _fit(tables, checkpoint=checkpoint, epochs=2)
    model, result = _fit(tables, checkpoint=checkpoint, resume=True)
    torch.save({"state": model.state_dict(), "history": result.history}, Path("fit.pt"))
    # the text view draws from each rank's global generator: straight through, and resumed
    straight = _fit(tables, objective=_text_view(tables))[1].history
    checkpoint = Path("text-view.pt")
    _fit(tables, checkpoint=checkpoint, objective=_text_view(tables), epochs=2)
    resumed = _fit(tables, checkpoint=checkpoint, objective=_text_view(tables), resume=True)
    torch.save({"straight": straight, "resumed": resumed[1].history}, Path("text-view-runs.pt"))
    assert dist.is_initialized() and distributed.current() == distributed.World(rank, WORLD, rank)


@pytest.fixture(scope="module")
def tables(make_two_domains):
    return make_two_domains(seed=1, num_users=40)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, write_tiny, tables) -> Path:
    """The folder of two ranks' working directories (host0, host1) after :func:`_rank`;
    one spawn for all the checks, since each process spends seconds importing torch."""
    folder = tmp_path_factory.mktemp("ddp")
    data = write_tiny(folder / "tiny")
    for rank in range(WORLD):
        (folder / f"host{rank}").mkdir()
    args = (str(folder), str(data), _free_port(), tables)
    ranks = mp.spawn(_rank, args=args, nprocs=WORLD, join=False)
    deadline = time.monotonic() + RANKS_DEADLINE
    while not ranks.join(timeout=1):
        if time.monotonic() > deadline:  # a hang: fail, with where each rank waits
            alive = [p for p in ranks.processes if p.is_alive()]
            for process in alive:
                os.kill(process.pid, signal.SIGUSR1)
            time.sleep(2)
            for process in alive:
                process.kill()
            stacks = "\n".join(
                f"rank {r}:\n"
                + (
                    (folder / f"stacks{r}.txt").read_text()
                    if (folder / f"stacks{r}.txt").exists()
                    else "never ran _rank: still starting (importing, unpickling its arguments)"
                )
                for r in range(WORLD)
            )
            pytest.fail(f"the ranks did not finish within {RANKS_DEADLINE} s:\n{stacks}")
    return folder


def test_two_ranks_take_the_single_process_steps(hosts: Path, tables) -> None:
    single, result = _fit(tables)
    ranks = [torch.load(hosts / f"host{r}" / "fit.pt", weights_only=True) for r in range(WORLD)]
    assert single.state_dict().keys() == ranks[0]["state"].keys()
    for key, value in single.state_dict().items():
        torch.testing.assert_close(ranks[0]["state"][key], value, atol=1e-5, rtol=0)
        assert torch.equal(ranks[0]["state"][key], ranks[1]["state"][key]), key
    for one, two in zip(result.history, ranks[0]["history"], strict=True):
        assert one["epoch"] == two["epoch"]
        assert one["loss"] == pytest.approx(two["loss"], abs=1e-5)
        assert one["ndcg@20"] == pytest.approx(two["ndcg@20"], abs=1e-6)
    assert ranks[0]["history"] == ranks[1]["history"]  # the same stopping decisions
    assert (hosts / "host0" / "checkpoint.pt").exists()
    assert not (hosts / "host1" / "checkpoint.pt").exists()


def test_a_checkpoint_of_two_ranks_resumed_in_one_process_takes_the_same_steps(
    hosts: Path, tables, tmp_path: Path
) -> None:
    """The README's promise: --resume with another number of processes continues the run
    (rank 0's state for the one process), the steps the same to float32's rounding (BPR)."""
    checkpoint = tmp_path / "checkpoint.pt"
    shutil.copy(hosts / "host0" / "checkpoint.pt", checkpoint)  # the two ranks' epoch 3
    assert len(torch.load(checkpoint, weights_only=True)["torch_rng"]) == WORLD
    resumed, result = _fit(tables, checkpoint=checkpoint, resume=True, epochs=4)
    single, straight = _fit(tables, epochs=4)
    for key, value in single.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, atol=1e-5, rtol=0)
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    for one, two in zip(straight.history, result.history, strict=True):
        assert one["loss"] == pytest.approx(two["loss"], abs=1e-5)
        assert one["ndcg@20"] == pytest.approx(two["ndcg@20"], abs=1e-6)


def test_ranks_started_with_other_settings_are_refused_on_every_rank(hosts: Path) -> None:
    """Before, each rank trained with its own command line: another seed on rank 1 trained
    other pairs silently (and another batch size hung both ranks)."""
    for rank in range(WORLD):
        message = (hosts / f"host{rank}" / "mismatch.txt").read_text()
        assert "rank 1 was started with other settings than rank 0 (seed 1 against 0)" in message
        assert not (hosts / f"host{rank}" / "mismatch").exists()


def test_split_files_on_rank_0_alone_are_no_other_settings(hosts: Path) -> None:
    """`--split DIR --data` reads the domain rule from the split files, which only rank 0 need
    have (before: rank 1 read none and both ranks stopped, "rank 1 was started with other
    settings than rank 0 (domain_rule None against 'ml1m-action-comedy')")."""
    for rank in range(WORLD):
        assert not (hosts / f"host{rank}" / "from-split.txt").exists()
    info = json.loads((hosts / "host0" / "from-split" / "run.json").read_text())
    assert info["status"] == "done"
    assert info["settings"]["domain_rule"] == "ml1m-action-comedy"


def test_a_resumed_run_with_the_text_view_takes_the_same_steps(hosts: Path) -> None:
    """Each rank's generator state is in the checkpoint (before: rank 0's went to every rank,
    and a resumed run with the text view drifted from the run straight through)."""
    for rank in range(WORLD):
        runs = torch.load(hosts / f"host{rank}" / "text-view-runs.pt", weights_only=True)
        assert runs["resumed"] == runs["straight"]


def test_train_under_a_launcher_matches_one_process(hosts: Path, tmp_path: Path) -> None:
    from kgrec.experiment import train

    settings = {**RUN, "protocol": "ml1m-action-comedy", "device": "cpu"}
    train("lightgcn-merged", out=tmp_path / "single", data=hosts / "tiny", **settings)
    run = hosts / "host0" / "run"
    assert not (hosts / "host1" / "run").exists()  # only rank 0 writes
    info = json.loads((run / "run.json").read_text())
    assert info["environment"]["world_size"] == WORLD
    assert info["environment"]["backend"] == "gloo"
    assert info["environment"]["device"] == "cpu"
    assert info["training"]["epochs_run"] == RUN["epochs"]  # resumed after epoch 2
    single = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert _close(json.loads((run / "metrics.json").read_text()), single)
    one = torch.load(tmp_path / "single" / "model.pt", weights_only=True)
    two = torch.load(run / "model.pt", weights_only=True)
    for key, value in one.items():
        torch.testing.assert_close(two[key], value, atol=1e-5, rtol=0)


def test_a_run_distilled_under_a_launcher_reads_its_teacher_on_every_rank(hosts: Path) -> None:
    """--distill-from under a launcher: every rank reads the teacher itself and adds the term
    for its share of the batch (like the in-batch softmax and the contrastive term, a term over
    the share's users, so the step is close to one process's, not the same), and rank 0
    records the teacher as one process does."""
    teacher = hosts / "host0" / "run"
    run = hosts / "host0" / "distilled"
    assert not (hosts / "host1" / "distilled").exists()  # only rank 0 writes
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "done"
    assert info["environment"]["world_size"] == WORLD
    assert info["settings"]["distill_from"] == [str(teacher)]
    recorded = info["distill_from"][0]
    assert recorded["run"] == str(teacher) and recorded["model"] == "lightgcn-merged"
    ndcg = json.loads((run / "metrics.json").read_text())["test"]["all"]["ndcg@20"]
    assert 0 < ndcg <= 1


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return a == pytest.approx(b, abs=1e-6)


def test_a_rank_takes_its_contiguous_share_and_weight() -> None:
    n = 5
    batch = Batch(
        torch.arange(n),
        torch.arange(n),
        torch.arange(n),
        torch.tensor([1.0, 1.0, 3.0, 3.0, 2.0]),
        torch.empty(2, 0, dtype=torch.long),
    )
    shares = [rank_share(batch, distributed.World(r, 3)) for r in range(3)]
    assert [s.users.tolist() for s, _ in shares] == [[0, 1], [2, 3], [4]]
    assert [w for _, w in shares] == pytest.approx([0.2, 0.6, 0.2])
    empty, weight = rank_share(batch, distributed.World(1, 8))
    assert empty.users.tolist() == [1] and weight == pytest.approx(0.1)
    empty, weight = rank_share(batch, distributed.World(7, 8))
    assert empty.users.numel() == 0 and weight == 0.0


def test_the_world_comes_from_the_environment(monkeypatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.env_world() == distributed.World(0, 1, 0)
    assert distributed.current() == distributed.World()
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.env_world() == distributed.World(3, 4, 1)
    # some launchers set LOCAL_RANK=-1 for "not distributed": the rank's GPU, not cuda:-1
    monkeypatch.setenv("LOCAL_RANK", "-1")
    assert distributed.env_world() == distributed.World(3, 4, 3)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(distributed.InputError, match="RANK"):
        distributed.env_world()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(distributed.InputError, match="MASTER"):
        distributed.init("cpu")


class _Joined(Exception):
    """Raised by the stand-in init_process_group: the command got as far as joining."""


def test_the_dist_timeout_reaches_the_process_group(monkeypatch, tiny_recbole, tmp_path, capsys):
    """--dist-timeout (train and tune) and train()'s dist_timeout are the process group's
    timeout; 600 s by default (before: torch's 30 minutes on a rank that hangs)."""
    from datetime import timedelta

    from kgrec.cli import main

    joined = []

    def init_process_group(**options):
        joined.append(options["timeout"])
        raise _Joined

    monkeypatch.setattr(dist, "init_process_group", init_process_group)
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    common = ["--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--data"]
    common += [str(tiny_recbole), "--device", "cpu", "--threads", "1"]
    for argv in (
        ["train", *common, "--out", str(tmp_path / "run"), "--dist-timeout", "7"],
        ["train", *common, "--out", str(tmp_path / "run")],
        ["tune", *common, "--out", str(tmp_path / "tune"), "--dist-timeout", "9.5"],
    ):
        with pytest.raises(_Joined):
            main(argv)
    with pytest.raises(_Joined):
        distributed.init("cpu", timeout=3)
    assert joined == [timedelta(seconds=s) for s in (7, distributed.DEFAULT_TIMEOUT, 9.5, 3)]
    assert distributed.DEFAULT_TIMEOUT == 600
    assert not (tmp_path / "run").exists() and not (tmp_path / "tune").exists()
    # a timeout that is no positive number is refused, before anything is joined or written
    for bad in ("0", "-5"):
        assert main(["train", *common, "--out", str(tmp_path / "run"), "--dist-timeout", bad]) == 2
        assert "--dist-timeout" in capsys.readouterr().err
    for bad in (0, -1.0, float("inf"), float("nan"), "60", True):
        with pytest.raises(distributed.InputError, match="positive number of seconds"):
            distributed.init("cpu", timeout=bad)
    assert len(joined) == 4 and not (tmp_path / "run").exists()


@contextlib.contextmanager
def _released_ranks(target, *args):
    """:data:`WORLD` spawned ranks, each ``target(rank, *args, results, release)``: yields the
    queue they report on; then sets ``release`` (a rank kept alive, as in a notebook, ends) and
    joins them, killing one still alive after a minute."""
    ctx = mp.get_context("spawn")
    results, release = ctx.Queue(), ctx.Event()
    ranks = [ctx.Process(target=target, args=(r, *args, results, release)) for r in range(WORLD)]
    for process in ranks:
        process.start()
    try:
        yield results
    finally:
        release.set()
        for process in ranks:
            process.join(60)
            if process.is_alive():
                process.kill()


def _hung_rank(rank: int, port: int, data: str, results, release) -> None:
    """Rank 1 joins the group and then hangs (never takes part in a collective) until
    released; rank 0 runs ``kgrec train`` and reports what happened."""
    from kgrec.cli import main

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if rank == 1:
        distributed.init("cpu", timeout=120)  # (it waits for rank 0 to join)
        release.wait(300)
        os._exit(0)  # no goodbye to a group rank 0 has left
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--data", data]
    argv += ["--out", "run", "--device", "cpu", "--dist-timeout", "2"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    results.put((code, err.getvalue(), Path("run").exists()))


def test_a_rank_that_hangs_is_a_clear_error_after_the_timeout(
    tmp_path, tiny_recbole, monkeypatch, capsys
) -> None:
    """A rank that hangs (alive, never in the collective) makes the others fail after the
    timeout instead of waiting torch's 30 minutes, and so does a rank that never joins: with
    an error that says so and what to do, exit 2, no traceback (before: torch's RuntimeError,
    "Timed out waiting 2000ms for send operation to complete", and its traceback). (A rank
    whose process ends closes its connections: gloo fails the others at once, whatever the
    timeout.)"""
    from kgrec.cli import main

    monkeypatch.chdir(tmp_path)
    with _released_ranks(_hung_rank, _free_port(), str(tiny_recbole)) as results:
        # the guard of a hang, not a measure: with torch's default this waits 30 minutes
        code, err, written = results.get(timeout=240)
    assert code == 2 and "Traceback" not in err and not written
    assert "\nkgrec train: error: rank 0: another rank did not answer within " in err
    assert "--dist-timeout (2 seconds): it died or hangs" in err and "raise --dist-timeout" in err
    # rank 0 of 2 alone: nobody joins it
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--data"]
    argv += [str(tiny_recbole), "--out", "alone", "--device", "cpu", "--dist-timeout", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "rank 0: not every one of the 2 ranks joined within --dist-timeout (1 seconds)" in err
    # where they meet (before session 39 not named)
    assert f"(1 seconds) at 127.0.0.1:{os.environ['MASTER_PORT']} (MASTER_ADDR:MASTER_PORT)" in err
    assert "Traceback" not in err and not Path("alone").exists()


def test_a_master_port_in_use_is_a_clear_error(tmp_path, tiny_recbole, monkeypatch, capsys):
    """Before: torch's DistNetworkError ("The server socket has failed to listen on any local
    network address ... EADDRINUSE") and its traceback."""
    from kgrec.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for name, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0")):
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
        monkeypatch.setenv("MASTER_PORT", str(port))
        argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--data"]
        argv += [str(tiny_recbole), "--out", str(tmp_path / "run"), "--device", "cpu"]
        assert main([*argv, "--dist-timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert f"kgrec train: error: rank 0: cannot join the ranks at 127.0.0.1:{port} (" in err
    assert "MASTER_PORT must be a free port" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


def _dying_rank(rank: int, port: int, data: str, results, how: str) -> None:
    """Rank 1 ends (``os._exit``, as when killed, or an exception) as epoch 2 is validated,
    after epoch 1's checkpoint; rank 0 runs ``kgrec train`` and reports what happened."""
    from kgrec.cli import main

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if rank == 1:
        send, calls = distributed.broadcast_object, []

        def dying(value, src=0):
            calls.append(value)
            if len(calls) == 3:  # the experiment, epoch 1's validation, epoch 2's
                if how == "killed":
                    os._exit(9)
                raise ValueError("a bug on rank 1")
            return send(value, src)

        distributed.broadcast_object = dying
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--data", data]
    argv += ["--out", f"run-{how}", "--device", "cpu", "--epochs", "4", "--dim", "8"]
    argv += ["--dist-timeout", "120"]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            code = main(argv)
    except BaseException as exc:  # what escapes main: a traceback for the user
        code = f"{type(exc).__name__}: {exc}"
    if rank == 0:
        results.put((code, err.getvalue()))


@pytest.mark.parametrize("how", ["killed", "raised"])
def test_a_rank_that_dies_is_a_clear_error_on_the_others(
    tmp_path, tiny_recbole, monkeypatch, how
) -> None:
    """A rank whose process ends mid-training (killed, or an error of its own) makes the others
    fail at once with an error that names it and says what to do, exit 2, no traceback, and
    the run left unfinished for --resume (before: gloo's RuntimeError "Connection reset by
    peer" / "Connection closed by peer" escaped kgrec, a traceback)."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    monkeypatch.chdir(tmp_path)
    args = (_free_port(), str(tiny_recbole), results, how)
    ranks = [ctx.Process(target=_dying_rank, args=(r, *args)) for r in range(2)]
    for process in ranks:
        process.start()
    try:
        code, err = results.get(timeout=240)  # the guard of a hang, not a measure
    finally:
        for process in ranks:
            process.join(60)
            if process.is_alive():
                process.kill()
    assert code == 2, code
    assert "Traceback" not in err
    assert "kgrec train: error: rank 0: rank 1 is gone" in err
    assert "--resume" in err
    info = json.loads((tmp_path / f"run-{how}" / "run.json").read_text())
    assert info["status"] == "training"  # not finished: --resume continues it
    assert (tmp_path / f"run-{how}" / "checkpoint.pt").exists()
    assert not (tmp_path / f"run-{how}" / "model.pt").exists()


def test_a_join_that_times_out_is_known_by_its_type_not_only_its_words() -> None:
    """torch raises its DistStoreError when not every rank joins within the timeout: that type,
    not the words of its message (which torch may change), makes kgrec's error (before: only a
    message with "timed out" or "timeout" did; other words escaped as torch's error). Gloo's
    collectives raise a plain RuntimeError, known by its words still."""
    joined = pytest.raises(distributed.DistributedError, match="not every one of the 1 ranks")
    with joined, distributed._answered(joining=True):
        raise dist.DistStoreError("gave up waiting for clients: 1/2 joined")
    answered = pytest.raises(distributed.DistributedError, match="another rank did not answer")
    with answered, distributed._answered():
        raise RuntimeError("[pair.cc:78] Timed out waiting 2000ms for recv operation")
    with pytest.raises(RuntimeError, match="something else"), distributed._answered():
        raise RuntimeError("something else")  # any other error is torch's


def test_in_a_world_of_three_a_gone_rank_is_said_to_be_unknown() -> None:
    """gloo names no rank when a connection closes: in a world of two it is the other rank; in a
    larger one the error says it cannot tell which and where to look (it said 'another rank')."""
    closed = RuntimeError("[../gloo/transport/tcp/pair.cc:534] Connection closed by peer")
    two = distributed._gone_message(distributed.World(rank=0, size=2, local_rank=0), closed)
    assert two.startswith("rank 0: rank 1 is gone")
    three = distributed._gone_message(distributed.World(rank=1, size=3, local_rank=1), closed)
    assert "gloo does not say which" in three and "every rank's output" in three
    assert "Connection closed by peer" in three


def test_an_incomplete_launcher_environment_is_a_clear_error(
    tmp_path, tiny_recbole, monkeypatch, capsys
):
    """$MASTER_PORT that is no port, and $WORLD_SIZE > 1 without $RANK, are refused before any
    rank joins, exit 2, no traceback (before: torch's ValueError and its traceback; and a
    world without $RANK made every process rank 0, each waiting for the others or told its
    MASTER_PORT was in use)."""
    from kgrec.cli import main

    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--data"]
    argv += [str(tiny_recbole), "--out", str(tmp_path / "run"), "--device", "cpu"]
    argv += ["--dist-timeout", "1"]
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    for port in ("abc", "99999", "0", "29500.5"):
        monkeypatch.setenv("MASTER_PORT", port)
        assert main(argv) == 2, port
        err = capsys.readouterr().err
        assert f"$MASTER_PORT must be a port number (1 to 65535), got {port!r}" in err
        assert "Traceback" not in err
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    monkeypatch.delenv("RANK")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "$WORLD_SIZE is 2 but $RANK is not set" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_init_from_on_rank_0_alone_is_not_refused_on_the_others(
    tmp_path, tiny_recbole, monkeypatch, capsys
):
    """--init-from is read by rank 0 alone (warm_start; fit sends the parameters on): rank 1
    goes on to join without its own copy (before: it stopped with "no run here" before
    joining, and rank 0 waited for it the whole --dist-timeout)."""
    from kgrec.cli import main

    for name, value in (("RANK", "1"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))  # rank 0 never comes: a timeout
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--data"]
    argv += [str(tiny_recbole), "--out", str(tmp_path / "run"), "--device", "cpu"]
    argv += ["--init-from", str(tmp_path / "on-rank-0"), "--dist-timeout", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no run here" not in err
    assert "rank 1: not every one of the 2 ranks joined within --dist-timeout" in err
    assert f"at rank 0's 127.0.0.1:{os.environ['MASTER_PORT']} (MASTER_ADDR" in err


def test_a_rank_that_cannot_reach_rank_0_waits_the_timeout_once(monkeypatch, capfd) -> None:
    """A rank other than 0 whose rank 0 never listens fails after --dist-timeout, with an error
    naming rank 0's address and what it answered (before: torch's store client connected again
    once its timeout was over, "retrying (try=0, ...)", and that rank waited up to about twice
    the timeout: 3.3 to 5.7 s of a 3 s timeout)."""
    for name, value in (("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port := _free_port()))  # nobody listens there
    started = time.monotonic()
    with pytest.raises(distributed.DistributedError) as raised:
        distributed.init("cpu", timeout=3)
    waited = time.monotonic() - started
    assert "retrying" not in capfd.readouterr().err  # torch's second try: gone
    assert 3 <= waited < 3 * 1.6, waited  # the bound is slack for slow machines
    assert str(raised.value).startswith("rank 1: not every one of the 2 ranks joined within ")
    assert f"at rank 0's 127.0.0.1:{port} (MASTER_ADDR:MASTER_PORT: Connection refused)" in str(
        raised.value
    )
    assert not dist.is_initialized()


def _late_rank(rank: int, port: int, results) -> None:
    """Rank 1 joins at once, rank 0 a second and a half later; each reports every rank's rank."""
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if rank == 0:
        time.sleep(1.5)
    distributed.init("cpu", timeout=60)
    results.put((rank, distributed.gather_object(rank)))
    distributed.shutdown(True)


def test_a_rank_that_starts_before_rank_0_waits_for_it() -> None:
    """Rank 1 waits for rank 0's address to answer, then joins through torch as before."""
    ctx = mp.get_context("spawn")
    results, port = ctx.Queue(), _free_port()
    ranks = [ctx.Process(target=_late_rank, args=(rank, port, results)) for rank in (1, 0)]
    for process in ranks:
        process.start()
    try:
        reports = dict(results.get(timeout=120) for _ in ranks)  # the guard of a hang
    finally:
        for process in ranks:
            process.join(60)
            if process.is_alive():
                process.kill()
    assert reports == {0: [0, 1], 1: [0, 1]}


# --dist-timeout of the refusing-rank test: what the other rank waited before the fix
REFUSAL_TIMEOUT = 40


def _refusing_rank(rank: int, port: int, data: str, memory: int, command: str, results) -> None:
    """Rank 1 sees a machine of ``memory`` bytes (one with less RAM than rank 0's), so a memory
    check of its own refuses what rank 0's pass; each rank runs ``kgrec COMMAND`` (train or
    tune) and reports its exit code, its error output and the seconds it took."""
    from kgrec import experiment

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if rank == 1:
        experiment._machine_memory = lambda: memory
    argv = [command, "--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--data", data]
    argv += ["--out", f"{command}-{memory}", "--device", "cpu", "--epochs", "1", "--dim", "8"]
    argv += ["--threads", "1", "--dist-timeout", str(REFUSAL_TIMEOUT)]
    argv += ["--trials", "1"] if command == "tune" else []
    _report(rank, argv, results)


class _Stderr:
    """A stream that writes to whatever ``sys.stderr`` is as it writes: a log handler on it
    (:func:`_log_to_stderr`) follows each :func:`_report`'s redirect, where the handler the
    first command's ``logging.basicConfig`` makes keeps writing to that first redirect."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _log_to_stderr() -> None:
    """Log as kgrec's command line does, to each command's own error output (in a rank's
    process, before its first :func:`_report`)."""
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=_Stderr()
    )


def _report(rank: int, argv: list[str], results) -> None:
    """Run ``kgrec ARGV`` on this rank and put (rank, exit code, error output, seconds) on
    ``results``; what escapes main (a traceback for the user) as the code."""
    from kgrec.cli import main

    err = io.StringIO()
    started = time.monotonic()
    try:
        with contextlib.redirect_stderr(err):
            code = main(argv)
    except BaseException as exc:
        code = f"{type(exc).__name__}: {exc}"
    results.put((rank, code, err.getvalue(), time.monotonic() - started))


def _stopped_ranks(target, args, code: int = 2) -> dict[int, tuple]:
    """Start two ranks running ``target(rank, *args)`` (a function that ends in
    :func:`_report`), and return their reports by rank after checking that each stopped with
    exit ``code``, no traceback, well before the --dist-timeout."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    ranks = [ctx.Process(target=target, args=(r, *args, results)) for r in range(WORLD)]
    for process in ranks:
        process.start()
    try:
        # the guard of a hang, not a measure
        reports = dict((r, rest) for r, *rest in (results.get(timeout=240) for _ in ranks))
    finally:
        for process in ranks:
            process.join(60)
            if process.is_alive():
                process.kill()
    for rank, (exit_code, err, seconds) in reports.items():
        assert exit_code == code, (rank, exit_code, err)
        assert "Traceback" not in err, err
        assert seconds < REFUSAL_TIMEOUT / 2, (rank, seconds, err)
    return reports


@pytest.mark.parametrize(
    ("command", "memory", "refusal"),
    [
        ("train", 32, "field '--dim': the model's parameters do not fit in memory"),  # joining
        ("train", 4000, "field '--layers': the model's propagation layers do not fit"),  # model
        ("tune", 32, "field '--dim': the model's parameters do not fit in memory"),
    ],
)
def test_a_rank_that_refuses_alone_stops_every_rank_at_once(
    tmp_path, tiny_recbole, monkeypatch, command, memory, refusal
) -> None:
    """A check one rank makes on its own and refuses (its machine's memory against the model's
    sizes, before joining or as the model is built) stops every rank at once, each with an
    error naming the rank that refused and why, exit 2, nothing written (before: the refusing
    rank ended with its error, and rank 0 waited the whole --dist-timeout, then said only that
    a rank had not joined, or that rank 1 was gone)."""
    monkeypatch.chdir(tmp_path)
    args = (_free_port(), str(tiny_recbole), memory, command)
    reports = _stopped_ranks(_refusing_rank, args)
    assert f"kgrec {command}: error: {refusal}" in reports[1][1]  # its own error, in full
    assert "this machine's" in reports[1][1]
    other = reports[0][1]
    assert f"kgrec {command}: error: rank 0: rank 1 refused" in other, other
    assert refusal.split(": ", 1)[1] in other  # and why
    assert not (tmp_path / f"{command}-{memory}").exists()


def _distilling_rank(rank: int, port: int, data: str, results) -> None:
    """``kgrec train`` and then ``kgrec tune`` (two trials) distilled from ``teacher``, the run
    in this rank's own working folder (as on two machines), then ``kgrec train`` again with
    rank 1's teacher damaged, and ``kgrec tune`` so; (rank, train's exit code and error output,
    tune's exit code and error output, the last train's exit code, error output and seconds,
    the last tune's exit code and error output) on ``results``."""
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.chdir(f"host{rank}")
    _log_to_stderr()  # each command's warnings in its own error output
    argv = ["--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--data", data]
    argv += ["--device", "cpu", "--epochs", "1", "--dim", "8", "--threads", "1"]
    argv += ["--dist-timeout", str(REFUSAL_TIMEOUT), "--distill-from", "teacher"]
    train, tune = queue.SimpleQueue(), queue.SimpleQueue()
    _report(rank, ["train", *argv, "--out", "run"], train)
    search = ["--trials", "2", "--search", "distill_weight=uniform:1:3"]
    import kgrec.tune

    stopped = kgrec.tune._stopped

    def slowly(*args, **kwargs) -> None:  # rank 0's record of the stopped trial, as on a
        time.sleep(2)  # busy disk
        stopped(*args, **kwargs)

    if rank == 0:
        kgrec.tune._stopped = slowly
    _report(rank, ["tune", *argv, *search, "--out", "study"], tune)
    kgrec.tune._stopped = stopped
    if rank == 1:
        # as it exits (under torchrun, the launcher then ends rank 0), the trials rank 0 has
        # recorded; then its copy damaged: it cannot read it, and rank 0 learns so at once
        tune.put(_recorded_stop(Path("..") / "host0" / "study"))
        Path("teacher/model.pt").write_bytes(b"not a checkpoint")
    damaged = queue.SimpleQueue()
    _report(rank, ["train", *argv, "--out", "damaged"], damaged)
    _report(rank, ["tune", *argv, *search, "--out", "damaged-study"], tune)
    first = tune.get()[1:3]
    recorded = tune.get() if rank == 1 else None
    results.put((rank, train.get()[1:3], first, damaged.get()[1:], tune.get()[1:3], recorded))


def _recorded_stop(study: Path) -> list[tuple[str, str | None]]:
    """The trials of the tune in ``study``: (state, its ``interrupted`` reason) each."""
    import optuna

    from kgrec.tune import STUDY_NAME
    from kgrec.tune_space import STUDY_FILE

    storage = f"sqlite:///{study / STUDY_FILE}"
    trials = optuna.load_study(study_name=STUDY_NAME, storage=storage).trials
    return [(trial.state.name, trial.user_attrs.get("interrupted")) for trial in trials]


def test_ranks_whose_teachers_differ_are_refused_on_every_rank(tmp_path, tiny_recbole, monkeypatch):
    """Each rank reads its --distill-from runs from its own disk: one whose model.pt differs
    from rank 0's (another copy on another machine) stops kgrec train on every rank before
    training, each naming the teacher and the rank, exit 2, nothing written; a kgrec tune
    stops so on every rank at its first trial, no trial of which can get past it, the trial
    recorded as stopped and its settings queued again (before, each trial failed alike, the
    study going on to the next). Before, every rank trained on its own teacher without a word
    (and a tune's other ranks read the teachers at rank 0's paths, which its trials carry).
    A teacher that one rank cannot read stops every rank at once."""
    from kgrec.cli import main

    monkeypatch.chdir(tmp_path)
    teacher = tmp_path / "host0" / "teacher"
    argv = ["train", "--model", "ease", "--protocol", "ml1m-action-comedy"]
    assert main([*argv, "--data", str(tiny_recbole), "--out", str(teacher)]) == 0
    other = tmp_path / "host1" / "teacher"
    shutil.copytree(teacher, other)
    state = torch.load(other / "model.pt", weights_only=True)
    torch.save({name: value * 2 for name, value in state.items()}, other / "model.pt")
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    args = (_free_port(), str(tiny_recbole), results)
    ranks = [ctx.Process(target=_distilling_rank, args=(r, *args)) for r in range(WORLD)]
    for process in ranks:
        process.start()
    try:  # the guard of a hang, not a measure
        reports = {r: rest for r, *rest in (results.get(timeout=240) for _ in ranks)}
    finally:
        for process in ranks:
            process.join(60)
            if process.is_alive():
                process.kill()
    # rank 1 ended only once rank 0 had recorded the stopped trial (before, it ended with the
    # trial still RUNNING, and under torchrun the launcher could end rank 0 (SIGTERM) first)
    stopped_then = [("FAIL", "teachers refused"), ("WAITING", None)]
    assert reports[1][-1] == stopped_then, reports[1][-1]
    for rank, ((code, err), (tune_code, tune_err), damaged, damaged_tune, _) in reports.items():
        assert code == 2, (rank, code, err)
        assert "Traceback" not in err, err
        assert (
            f"teacher 1 ({tmp_path / f'host{rank}' / 'teacher' / 'model.pt'} on this rank)" in err
        )
        assert "rank 1 read another model.pt than rank 0" in err, err
        assert not (tmp_path / f"host{rank}" / "run").exists()
        assert tune_code == 2, (rank, tune_code, tune_err)
        assert "Traceback" not in tune_err, tune_err
        assert "rank 1 read another model.pt than rank 0" in tune_err, tune_err
        assert f"{tmp_path / f'host{rank}' / 'teacher' / 'model.pt'} on this rank" in tune_err
        # rank 0 alone, which keeps the study, says so and how to go on
        kept = "stopped: study keeps its study; the same kgrec tune command continues it once"
        assert (kept in tune_err) == (rank == 0), (rank, tune_err)
        assert "finished and the same on every rank," in tune_err or rank != 0, tune_err
        # a teacher rank 1 cannot read stops both at once (before: rank 0 waited for it in
        # training's first collective, the whole --dist-timeout)
        code, err, seconds = damaged
        assert code == 2 and "Traceback" not in err, (rank, code, err)
        assert seconds < REFUSAL_TIMEOUT / 2, (rank, seconds, err)
        assert "model.pt" in err
        code, err = damaged_tune  # the tune stops at once too, on every rank
        assert code == 2 and "Traceback" not in err and "model.pt" in err, (rank, code, err)
    assert "rank 0: rank 1 refused to build the model" in reports[0][2][1]
    assert "rank 1 could not set up the trial" in reports[0][3][1]
    import optuna

    from kgrec.tune import STUDY_NAME
    from kgrec.tune_space import STUDY_FILE

    storage = f"sqlite:///{tmp_path / 'host0' / 'study' / STUDY_FILE}"
    stopped, waiting = optuna.load_study(study_name=STUDY_NAME, storage=storage).trials
    assert stopped.user_attrs["interrupted"] == "teachers refused"  # not counted
    assert waiting.state.name == "WAITING"  # its settings, to run first next time


def _resuming_rank(rank: int, port: int, data: str, results) -> None:
    """Each rank runs ``kgrec train --resume`` of the run in rank 0's working directory (rank
    1's has none: rank 0 reads the run and sends it) and reports its exit code and errors."""
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.chdir(f"host{rank}")
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy", "--data", data]
    argv += ["--out", "run", "--device", "cpu", "--epochs", "2", "--dim", "8", "--threads", "1"]
    argv += ["--resume", "--dist-timeout", str(REFUSAL_TIMEOUT)]
    _report(rank, argv, results)


def _run_on_host_0(tmp_path, tiny_recbole, monkeypatch, *, epochs: int) -> Path:
    """A lightgcn run of ``epochs`` trained alone in host0/run, in ``tmp_path`` made the
    working directory with a folder per rank (host0, host1), as the ranks resuming it see."""
    from kgrec.cli import main

    monkeypatch.chdir(tmp_path)
    for rank in range(WORLD):
        Path(f"host{rank}").mkdir()
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", "host0/run", "--device", "cpu"]
    assert main([*argv, "--epochs", str(epochs), "--dim", "8", "--threads", "1"]) == 0
    return tmp_path / "host0" / "run"


def test_a_damaged_checkpoint_on_rank_0_is_named_on_every_rank(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    """--resume of a run whose checkpoint.pt rank 0 cannot read stops every rank at once, the
    others naming rank 0's error (before: they said only "rank 1: rank 0 is gone"), exit 2,
    no traceback, the run's files left as they were."""
    checkpoint = _run_on_host_0(tmp_path, tiny_recbole, monkeypatch, epochs=1) / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])  # truncated
    reports = _stopped_ranks(_resuming_rank, (_free_port(), str(tiny_recbole)))
    refusal = "the checkpoint cannot be resumed: it is damaged (truncated?)"
    assert refusal in reports[0][1] and "checkpoint.pt" in reports[0][1]
    other = reports[1][1]
    assert "kgrec train: error: rank 1: rank 0 refused to resume the run (rank 0: " in other
    assert refusal in other and "is gone" not in other, other
    assert checkpoint.stat().st_size == 100  # left for the user to move away
    assert (tmp_path / "host0" / "run" / "run.json").exists()


def test_a_finished_run_resumed_with_its_own_settings_is_left_as_it_is_on_every_rank(
    tmp_path, tiny_recbole, monkeypatch
) -> None:
    """--resume of a finished run with its own settings trains nothing and writes nothing on
    either rank (rank 1 has no run: rank 0 reads it), both ending with exit 0 (before: the
    run's files were written again)."""
    run = _run_on_host_0(tmp_path, tiny_recbole, monkeypatch, epochs=2)

    def files():
        return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}

    before = files()
    _stopped_ranks(_resuming_rank, (_free_port(), str(tiny_recbole)), code=0)
    assert files() == before
    assert not (tmp_path / "host1" / "run").exists()


# a run that serves its new items (ml1m-new-items) by the text MLP alone, or by a student
SERVED = {"protocol": "ml1m-new-items", "epochs": 2, "dim": 8, "text_input": "add"}


def _resuming_served_rank(rank: int, port: int, store: str, cold: str, results) -> None:
    """Each rank resumes the finished run in rank 0's working directory (``--cold-items
    cold``; rank 1 has none) with train(), saves the model it returns and reports."""
    from kgrec.experiment import train

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.chdir(f"host{rank}")
    started = time.monotonic()
    try:
        run = train(
            "lightgcn",
            store=store,
            out="run",
            cold_items=cold,
            resume=True,
            device="cpu",
            progress=False,
            dist_timeout=REFUSAL_TIMEOUT,
            **SERVED,
        )
        # rank 0's serves its new items; the others', as a training's ranks end, does not
        model = run.model.teacher if rank == 0 and cold == "student" else run.model
        torch.save(model.state_dict(), f"model{rank}.pt")
        code = 0
    except BaseException as exc:
        code = f"{type(exc).__name__}: {exc}"
    results.put((rank, code, time.monotonic() - started))


@pytest.mark.parametrize("cold", ["text", "student"])
def test_a_finished_run_serving_new_items_resumed_gives_every_rank_its_model(
    tmp_path, text_store, monkeypatch, cold
) -> None:
    """--resume of a finished run whose new items are served (--cold-items text, student)
    ends on every rank, each with the trained model (model.pt's). Before, rank 0 sent the
    parameters and buffers of the model load_run served, which the others' models lack (the
    dropped IDs, the content student): with text, rank 1 ended as if done, on tensors that were
    not rank 0's, and rank 0 failed ("rank 1 is gone"); with student, rank 1 aborted on gloo's
    size mismatch."""
    from kgrec.experiment import train

    monkeypatch.chdir(tmp_path)
    for rank in range(WORLD):
        Path(f"host{rank}").mkdir()
    train("lightgcn", store=text_store, out="host0/run", cold_items=cold, progress=False, **SERVED)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    args = (_free_port(), text_store, cold, results)
    ranks = [ctx.Process(target=_resuming_served_rank, args=(r, *args)) for r in range(WORLD)]
    for process in ranks:
        process.start()
    reports: dict[int, tuple] = {}
    deadline = time.monotonic() + 240  # the guard of a hang
    try:
        while len(reports) < WORLD and time.monotonic() < deadline:
            try:
                rank, *rest = results.get(timeout=1)
                reports[rank] = tuple(rest)
            except queue.Empty:  # a rank that aborted reports nothing
                if not any(process.is_alive() for process in ranks) and results.empty():
                    break
    finally:
        for process in ranks:
            process.join(60)
            if process.is_alive():
                process.kill()
    codes = {rank: process.exitcode for rank, process in enumerate(ranks)}
    assert {rank: report[0] for rank, report in reports.items()} == {0: 0, 1: 0}, codes
    trained = torch.load(tmp_path / "host0" / "run" / "model.pt", weights_only=True)
    for rank in range(WORLD):
        model = torch.load(tmp_path / f"host{rank}" / f"model{rank}.pt", weights_only=True)
        assert model.keys() == trained.keys()
        for key, value in trained.items():
            assert torch.equal(model[key], value), (rank, key)
    assert not (tmp_path / "host1" / "run").exists()


def _rank_0_fails(rank: int, port: int, data: str, where: str, results, release) -> None:
    """Rank 0 alone fails at ``where`` (the disk refuses the run's files at the end, or epoch
    1's checkpoint; a bug in epoch 2's validation, or in a popularity model's evaluation),
    then lives on until ``release`` (as a notebook, or a launcher's worker, outlives the
    error); each rank runs ``kgrec train`` and reports as :func:`_report` does."""
    import errno

    from kgrec import experiment, train

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if rank == 0 and where == "files":
        experiment.write_all_atomic = full
    elif rank == 0 and where == "checkpoint":
        train.write_atomic = full
    elif rank == 0 and where == "validation":
        validate, calls = train.evaluate, []

        def evaluate(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("a bug in rank 0's validation")
            return validate(*args, **kwargs)

        train.evaluate = evaluate
    elif rank == 0:  # the popularity model: its evaluation is its whole fit

        def evaluate(self):
            raise RuntimeError("a bug in rank 0's evaluation")

        experiment.Run.evaluate = evaluate
    model = "popularity" if where == "popularity" else "lightgcn"
    argv = ["train", "--model", model, "--protocol", "ml1m-action-comedy", "--data", data]
    argv += ["--out", "run", "--device", "cpu", "--threads", "1"]
    argv += [] if model == "popularity" else ["--epochs", "2", "--dim", "8"]
    # far longer than the test waits: a rank that waited for it would fail the test
    argv += ["--dist-timeout", "3600"]
    _report(rank, argv, results)
    if rank == 0:
        release.wait(300)


@pytest.mark.parametrize(
    ("where", "failure", "what", "left"),
    [
        (
            "files",
            # the run's folder as the run holds it: absolute since session 60
            "cannot write model.pt, metrics.json and run.json in {run} (No space left on device)",
            "finish the run",
            ["checkpoint.pt", "experiment.pt", "run.json", "split"],
        ),
        (
            "checkpoint",
            "cannot write the checkpoint of epoch 1",
            "write the checkpoint of epoch 1",
            None,  # a new run without a checkpoint: nothing is kept
        ),
        (
            "validation",
            "a bug in rank 0's validation",
            "validate epoch 2",
            ["checkpoint.pt", "experiment.pt", "run.json", "split"],
        ),
        ("popularity", "a bug in rank 0's evaluation", "evaluate the model", None),
    ],
    ids=["files", "checkpoint", "validation", "popularity"],
)
def test_an_error_on_rank_0_alone_stops_the_others_with_it(
    tmp_path, tiny_recbole, monkeypatch, where, failure, what, left
) -> None:
    """An error of rank 0's work alone (its evaluation, its files) stops every other rank at
    once with an error naming it, exit 2, even while rank 0's process lives on; the run is
    left as the error on one process leaves it. Before, the others waited in their next
    collective until --dist-timeout (then said only that a rank did not answer), or, at the
    end of the training, ended with exit 0 as if the run were done."""
    monkeypatch.chdir(tmp_path)
    failure = failure.format(run=Path.cwd() / "run")
    with _released_ranks(_rank_0_fails, _free_port(), str(tiny_recbole), where) as results:
        # the guard of a hang, not a measure: far shorter than the --dist-timeout
        reports = dict((r, rest) for r, *rest in (results.get(timeout=240) for _ in range(WORLD)))
    code, err, _ = reports[0]
    assert code in (2, f"RuntimeError: {failure}"), code  # a bug escapes as a traceback
    assert failure in err or failure in code
    code, err, _ = reports[1]
    assert code == 2, (code, err)
    assert f"kgrec train: error: rank 1: rank 0 failed to {what} (rank 0: {failure}" in err, err
    assert "Traceback" not in err and "did not answer" not in err and "is gone" not in err
    if left is None:
        assert not (tmp_path / "run").exists()
    else:
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == left  # no temporaries
        assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "training"


def test_rank_0_alone_keeps_rank_0s_outcome_when_the_others_cannot_be_told(
    monkeypatch, caplog
) -> None:
    """Unit test of rank_0_alone's edges, its collective failing (another rank gone, or it
    gave up waiting): rank 0's own error is raised, not the collective's; rank 0's last work
    done is a warning (its run is written), and any other block an error."""
    gone = distributed.DistributedError("rank 0: rank 1 is gone")

    def gather_object(value):
        raise gone

    monkeypatch.setattr(distributed, "gather_object", gather_object)
    monkeypatch.setattr(distributed, "current", lambda: distributed.World(0, 2, 0))
    with pytest.raises(OSError, match="No space left"), distributed.rank_0_alone("finish the run"):
        raise OSError(28, "No space left on device")
    with caplog.at_level("WARNING"), distributed.rank_0_alone("finish the run", last=True):
        pass
    assert "rank 1 is gone (rank 0 could finish the run all the same)" in caplog.text
    gone_too = pytest.raises(distributed.DistributedError, match="is gone")
    with gone_too, distributed.rank_0_alone("validate epoch 1"):
        pass
    monkeypatch.setattr(distributed, "current", lambda: distributed.World(1, 2, 1))
    gone_too = pytest.raises(distributed.DistributedError, match="is gone")
    with gone_too, distributed.rank_0_alone("finish the run", last=True):
        pass
    # rank 0 still finishing (a content student's training) past --dist-timeout: the others'
    # part is done, a warning, as before they waited for rank 0's outcome; elsewhere an error
    gone = distributed.NoAnswer("rank 1: another rank did not answer within --dist-timeout")
    monkeypatch.setattr(distributed, "current", lambda: distributed.World(0, 2, 0))
    caplog.clear()
    with caplog.at_level("WARNING"), distributed.rank_0_alone("finish the run", last=True):
        pass  # rank 0's run written, the others gave up waiting: a warning on rank 0 too
    assert "did not answer within --dist-timeout (rank 0 could finish the run" in caplog.text
    monkeypatch.setattr(distributed, "current", lambda: distributed.World(1, 2, 1))
    caplog.clear()
    with caplog.at_level("WARNING"), distributed.rank_0_alone("finish the run", last=True):
        pass
    assert (
        "rank 1: rank 0 did not finish the run within --dist-timeout; this rank's part is done"
    ) in caplog.text
    with pytest.raises(distributed.NoAnswer), distributed.rank_0_alone("validate epoch 1"):
        pass


def test_a_rank_whose_rank_0_address_answers_another_program_says_so(monkeypatch) -> None:
    """Something other than rank 0 listens at MASTER_ADDR:MASTER_PORT (an HTTP server, another
    program's port): rank 1's error says that what answers there is not rank 0; before, it told
    rank 1 what rank 0's port must be ("on rank 0 MASTER_PORT must be a free port")."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def answer() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            with connection, contextlib.suppress(OSError):
                connection.recv(64)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    port = server.getsockname()[1]
    for name, value in (("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    try:
        with pytest.raises(distributed.DistributedError) as raised:
            distributed.init("cpu", timeout=3)
    finally:
        server.close()
    message = str(raised.value)
    assert message.startswith(f"rank 1: cannot join the ranks at rank 0's 127.0.0.1:{port} (")
    assert "what answers there is not rank 0" in message
    assert "MASTER_PORT must be a free port" not in message
    assert not dist.is_initialized()
