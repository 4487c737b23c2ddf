"""Data-parallel training across processes: who we are, and the few collectives kgrec needs.

A launcher (``torchrun``, Ray Train, Spark's TorchDistributor, ``torch.multiprocessing``)
starts one process per rank and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init` joins the process group from them (gloo
on the CPU, NCCL on CUDA). Without ``WORLD_SIZE`` > 1 nothing is initialised and every
helper here is a no-op on a world of one, so single-process code paths stay untouched.

Every collective (and the wait for every rank to join) gives up after ``timeout`` seconds
(:data:`DEFAULT_TIMEOUT`, ``--dist-timeout``) with a :class:`~kgrec.errors.DistributedError`
that says so, where torch's default would wait 30 minutes on a rank that died or hangs. Rank
0 works alone while the others wait (reading the data, each epoch's validation, the run's
evaluation and files at the end), so the timeout must be longer than those; an error of that
work stops the others at once with it (:func:`rank_0_alone`). A rank whose process ended fails
the others' collectives at once, with a DistributedError that says it is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kgrec.errors import DistributedError, InputError

log = logging.getLogger(__name__)

# seconds a collective waits for the other ranks before it fails (torch's default: 1800)
DEFAULT_TIMEOUT = 600.0
# the timeout init() gave the process group (None: one kgrec did not start)
_timeout: float | None = None


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def env_world() -> World:
    """The world the launcher describes in ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``."""
    values = {}
    for name, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", None)):
        raw = os.environ.get(name)
        try:
            values[name] = default if raw in (None, "") else int(raw)
        except ValueError:
            raise InputError(f"${name} must be a whole number, got {raw!r}", field=name) from None
    rank, size = values["RANK"], values["WORLD_SIZE"]
    # LOCAL_RANK=-1 is how some launchers and scripts (torch.distributed.launch's users,
    # Hugging Face's) say "not distributed": the rank's GPU then, as with none, not cuda:-1
    local = values["LOCAL_RANK"]
    if local is None or local < 0:
        local = rank
    if size < 1 or not 0 <= rank < size:
        raise InputError(f"$RANK {rank} is not in a world of $WORLD_SIZE {size}", field="RANK")
    return World(rank, size, local)


def current() -> World:
    """The initialised process group's world, else a world of one."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), env_world().local_rank)


def check_timeout(seconds: Any) -> float:
    """``seconds`` as a float, or an InputError unless it is a positive, finite number."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise InputError(
            f"the timeout of the ranks' collectives must be a positive number of seconds, "
            f"got {seconds!r}",
            field="--dist-timeout",
        )
    return float(seconds)


def init(device: Any = None, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Join the process group the environment describes (``WORLD_SIZE`` > 1), unless one is
    initialised already; gloo for the CPU, NCCL for CUDA. Its collectives fail after
    ``timeout`` seconds without every rank (checked even in a world of one). True if this
    call initialised it (the caller then ends it with :func:`shutdown`)."""
    import torch
    import torch.distributed as dist

    timeout = check_timeout(timeout)
    world = env_world()
    if not world.distributed or (dist.is_available() and dist.is_initialized()):
        return False
    if not dist.is_available():
        raise InputError("this torch build has no torch.distributed", field="WORLD_SIZE")
    # without $RANK every process would be rank 0 (env_world's default for a world of one)
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if not os.environ.get(name):
            raise InputError(
                f"$WORLD_SIZE is {world.size} but ${name} is not set: launch with torchrun",
                field=name,
            )
    port = os.environ["MASTER_PORT"]
    if not (port.strip().isdecimal() and 0 < int(port) < 65536):  # torch's int() traceback
        raise InputError(
            f"$MASTER_PORT must be a port number (1 to 65535), got {port!r}", field="MASTER_PORT"
        )
    cuda = device is not None and torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(torch.device(device))
    log.info(
        "rank %d of %d: waiting for every rank at %s:%s (at most %g s)",
        world.rank,
        world.size,
        os.environ["MASTER_ADDR"],
        os.environ["MASTER_PORT"],
        timeout,
    )
    global _timeout
    _timeout = timeout
    if world.rank != 0:
        _reach_rank_0(world, os.environ["MASTER_ADDR"], int(port), timeout)
    # torch._dynamo, imported once a process group exists (by torch_geometric, which every
    # model imports), keeps references to it that destroy_process_group cannot drop: the group
    # and gloo's worker threads then live into the interpreter's finalisation, where a worker
    # still letting go of a finished collective's tensors aborts the process (SIGABRT,
    # "terminate called without an active exception": exit -6 after a run that succeeded or
    # failed cleanly). Imported before the group, it holds none, and shutdown() ends it.
    import torch._dynamo

    with _answered(joining=True):
        dist.init_process_group(
            backend="nccl" if cuda else "gloo",
            init_method="env://",
            timeout=timedelta(seconds=timeout),
        )
    atexit.register(shutdown, True)
    return True


def _reach_rank_0(world: World, host: str, port: int, timeout: float) -> None:
    """Wait until rank 0's ``host:port`` (MASTER_ADDR:MASTER_PORT) accepts a connection, at
    most ``timeout`` seconds, else a :class:`DistributedError` that names it. Torch's own
    wait (its store's client) starts again once its timeout is over, so a rank that could not
    reach rank 0 waited up to about twice --dist-timeout; once the port answers, torch's
    connection is made at once."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        try:
            with socket.create_connection(
                (host, port), timeout=max(deadline - time.monotonic(), 0.01)
            ):
                return
        except OSError as exc:  # refused, timed out, an unknown name, no route
            last = exc.strerror or str(exc)
        left = deadline - time.monotonic()
        if left <= 0:
            raise DistributedError(_not_joined(world, f"{timeout:g} seconds", f": {last}"))
        time.sleep(min(pause, left))
        pause = min(2 * pause, 1.0)


def _not_joined(world: World, waited: str, answer: str = "") -> str:
    """The error of a rank that waited ``waited`` for every rank to join, in vain; ``answer``:
    what rank 0's address last answered (": Connection refused")."""
    where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
    # rank 0 listens there; any other rank connects to it
    meet = "at" if world.rank == 0 else "at rank 0's"
    return (
        f"rank {world.rank}: not every one of the {world.size} ranks joined within "
        f"--dist-timeout ({waited}) {meet} {where} (MASTER_ADDR:MASTER_PORT{answer}): start "
        "the same command on every rank, with the same WORLD_SIZE, MASTER_ADDR and "
        "MASTER_PORT, and check the other ranks' output"
    )


@contextlib.contextmanager
def _answered(joining: bool = False):
    """Torch's error of a collective (or of the wait for every rank to join) that timed out
    as a :class:`DistributedError` saying which rank waited, how long, and what to do; with
    ``joining``, torch's network error (rank 0's MASTER_PORT in use) as one too; and gloo's
    error of a collective whose peer's process ended, as one that says a rank is gone."""
    import torch.distributed as dist

    try:
        yield
    except RuntimeError as exc:  # torch's DistError is one; gloo raises RuntimeError itself
        text = str(exc).lower()  # "Timed out waiting 2000ms", "wait timeout after 2000ms"
        world = env_world()
        if joining and isinstance(exc, dist.DistNetworkError) and "time" not in text:
            where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if world.rank == 0:  # its store could not listen there
                advice = (
                    f"cannot join the ranks at {where} ({first}): on rank 0 MASTER_PORT must "
                    "be a free port (another job's, if it is in use), and MASTER_ADDR an "
                    "address of rank 0's machine that every rank reaches"
                )
            else:  # the address answered (_reach_rank_0), but not as rank 0's store does
                advice = (
                    f"cannot join the ranks at rank 0's {where} ({first}): what answers there "
                    "is not rank 0 of this command (another program's port?): give every rank "
                    "rank 0's MASTER_ADDR and MASTER_PORT"
                )
            raise DistributedError(f"rank {world.rank}: {advice}") from None
        # torch types no collective's timeout (gloo's is a plain RuntimeError, NCCL's
        # DistBackendError any backend error): only the wait for every rank to join has its
        # type, DistStoreError; the message's words are the fallback for the rest
        timed_out = joining and isinstance(exc, dist.DistStoreError)
        if not timed_out and "timed out" not in text and "timeout" not in text:
            if not joining and any(sign in text for sign in _PEER_GONE):
                raise DistributedError(_gone_message(world, exc)) from None
            raise
        waited = "the process group's timeout" if _timeout is None else f"{_timeout:g} seconds"
        if joining:
            message = _not_joined(world, waited)
        else:
            message = (
                f"rank {world.rank}: another rank did not answer within --dist-timeout "
                f"({waited}): it died or hangs (check the other ranks' output), or rank 0 "
                "worked alone longer than that (reading the data, validating an epoch, "
                "evaluating and writing the run): then raise --dist-timeout"
            )
        raise (DistributedError if joining else NoAnswer)(message) from None


class NoAnswer(DistributedError):
    """A collective that another rank did not join within the timeout (it hangs, died
    unnoticed, or works alone longer), as opposed to a rank known to be gone or to have
    failed."""


# gloo's words for a peer whose process ended (its sockets closed) or whose machine was lost
_PEER_GONE = ("connection reset by peer", "connection closed by peer", "broken pipe")


def _gone_message(world: World, exc: BaseException) -> str:
    """The error of a rank whose collective failed because another rank's process ended."""
    # gloo names no rank when a connection closes: in a world of two it can only be the other
    who = (
        f"rank {1 - world.rank}"
        if world.size == 2
        else "another rank (gloo does not say which: look at every rank's output)"
    )
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    first = first.split("] ", 1)[-1].split(". This is typically", 1)[0]  # gloo's source line
    return (
        f"rank {world.rank}: {who} is gone: its process ended (an error, or killed: out of "
        f"memory?) or its connection broke ({first}); check its output for why, then start "
        "the same command again on every rank, with --resume if the run folder has a "
        "checkpoint.pt"
    )


def shutdown(started: bool) -> None:
    """End the process group if :func:`init` started it."""
    import torch.distributed as dist

    if started and dist.is_initialized():
        dist.destroy_process_group()


def _collective_device():
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_object(value: Any, src: int = 0) -> Any:
    """``value`` as rank ``src`` has it, on every rank (picklable objects)."""
    import torch.distributed as dist

    if not current().distributed:
        return value
    box = [value]
    with _answered():
        dist.broadcast_object_list(box, src=src, device=_collective_device())
    return box[0]


def gather_object(value: Any) -> list[Any]:
    """Every rank's ``value`` in rank order, on every rank (picklable objects); ``[value]`` in
    a world of one. For decisions every rank must share, such as whether any rank failed."""
    import torch.distributed as dist

    world = current()
    if not world.distributed:
        return [value]
    values: list[Any] = [None] * world.size
    with _answered():
        dist.all_gather_object(values, value)
    return values


def held(failure: Exception) -> Exception:
    """``failure``, a check of this rank's own that failed, kept for :func:`agree` when a
    launcher started the ranks (raised alone, it would leave the others waiting in their next
    collective until the timeout); raised at once in a world of one."""
    if not env_world().distributed:
        raise failure
    return failure


def agree(failure: BaseException | None, what: str, *, failed: bool = False) -> None:
    """Every rank learns whether any rank's own checks failed, before a collective that a rank
    which stopped would leave the others waiting in until the timeout: ``failure`` (this rank's
    error, None if its checks passed) is raised again on its rank, with its traceback, and
    every other rank raises a :class:`DistributedError` naming the ranks that failed and their
    errors. ``what``: what they could not do ("start the run"); ``failed``: it was work that
    failed (:func:`rank_0_alone`), not a check that refused. In a world of one, ``failure``
    is raised (if any) and nothing else happens."""
    message = None if failure is None else str(failure) or type(failure).__name__
    messages = gather_object(message)
    if failure is not None:
        raise failure
    stopped = [(rank, text) for rank, text in enumerate(messages) if text is not None]
    if not stopped:
        return
    ranks = ", ".join(str(rank) for rank, _ in stopped)
    why = "; ".join(f"rank {rank}: {text}" for rank, text in stopped)
    whose = f"rank{'s' if len(stopped) > 1 else ''} {ranks}"
    if failed:
        raise DistributedError(
            f"rank {current().rank}: {whose} failed to {what} ({why}): every rank stopped; "
            f"{whose}'s output has the whole error and what to do"
        )
    raise DistributedError(
        f"rank {current().rank}: {whose} refused to {what} ({why}): every rank stopped; correct "
        "it there (its output has the whole error) and start the command again on every rank"
    )


@contextlib.contextmanager
def rank_0_alone(what: str, *, last: bool = False):
    """Work that rank 0 does alone (the block) while the other ranks wait for it, such as an
    epoch's validation or the run's files: as the block ends every rank learns, in one
    collective (:func:`agree`), whether it failed. Rank 0's error is raised again on rank 0,
    with its traceback, and each other rank raises a :class:`DistributedError` naming it
    ("rank 0 failed to WHAT (rank 0: its error)"), where it would otherwise wait in its next
    collective until the timeout, or end as if rank 0 had succeeded. The block runs on every
    rank (the others' do nothing) and must hold no collective. ``last``: the block is rank
    0's last work (the files written), so a collective that fails after it succeeded (another
    rank gave up waiting, or is gone) is a warning on rank 0, not an error, and one that
    rank 0 did not join within the timeout (it works on, or hangs) a warning on the others,
    whose own part is done: as before rank 0 told them its outcome. In a world of one, the
    block alone."""
    if not current().distributed:
        yield
        return
    try:
        yield
    except Exception as exc:
        with contextlib.suppress(DistributedError):  # the others cannot be told: its own error
            agree(exc, what, failed=True)  # raises exc, and a DistributedError on the others
        raise
    try:
        agree(None, what, failed=True)
    except DistributedError as exc:
        if not last:
            raise
        if current().is_main:
            log.warning("%s (rank 0 could %s all the same)", exc, what)
        elif isinstance(exc, NoAnswer):  # its own part done, as before rank 0 told its outcome
            log.warning(
                "rank %s: rank 0 did not %s within --dist-timeout; this rank's part is done "
                "(rank 0's output says how the run ended; a longer --dist-timeout waits for it)",
                current().rank,
                what,
            )
        else:  # rank 0 is gone: its outcome is not known
            raise


def broadcast_parameters(module) -> None:
    """Every rank's parameters and buffers set to rank 0's."""
    import torch.distributed as dist

    if not current().distributed:
        return
    device = _collective_device()
    for tensor in [*module.parameters(), *module.buffers()]:
        carrier = tensor.data.to(device)
        with _answered():
            dist.broadcast(carrier, src=0)
        tensor.data.copy_(carrier)


def all_reduce_gradients(params: list, extra) -> Any:
    """Sum every parameter's gradient over the ranks, in one collective, and return ``extra``
    (a 1-element tensor, e.g. the loss) summed too. A parameter no rank gave a gradient keeps
    ``grad`` None (Adam then leaves it alone, as in one process); one that some ranks did
    not reach gets their share as zeros."""
    import torch
    import torch.distributed as dist

    device = _collective_device()
    parts, present = [], []
    for p in params:
        has = p.grad is not None
        present.append(1.0 if has else 0.0)
        parts.append(p.grad.reshape(-1) if has else torch.zeros(p.numel(), device=p.device))
    dtype = params[0].dtype if params else torch.float32
    flat = torch.cat(
        [t.to(device, dtype) for t in parts]
        + [torch.tensor(present, device=device, dtype=dtype), extra.reshape(1).to(device, dtype)]
    )
    with _answered():
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    counts = flat[-1 - len(params) : -1].tolist()
    for p, count in zip(params, counts, strict=True):
        chunk = flat[offset : offset + p.numel()]
        offset += p.numel()
        if p.grad is not None:
            p.grad.copy_(chunk.view_as(p.grad))
        elif count > 0:
            p.grad = chunk.view_as(p).to(p.device, p.dtype).clone()
    return flat[-1]
