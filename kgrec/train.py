r"""Training: negative sampling, multi-task over domains, early stopping, checkpoints.

One epoch visits every training pair ``(u, i)`` once, in a seeded random order, with a negative
``j`` drawn uniformly from the items of ``i``'s domain that ``u`` has no training interaction
with, and a pair weight :math:`w` = ``target_weight`` for target-domain pairs and 1 otherwise.
The epoch strategy (:class:`FullGraph`, or :class:`kgrec.sampling.NeighborSampling`) cuts the
triples into :class:`~kgrec.objectives.Batch`\ es, the objective (:mod:`kgrec.objectives`,
BPR by default) prices each, and Adam steps once per batch. After each epoch the validation
NDCG@20 (all validation users) decides early stopping (``patience`` epochs without
improvement) and the best state is restored at the end.

Training runs on the model's device (its parameters'); the triples are drawn on the CPU with
the seeded generator and moved there, so the draws are the same on every device.

Under a process group (:mod:`kgrec.distributed`, e.g. ``torchrun``) training is data-parallel:
every rank draws the same global epoch (same seed), takes its own contiguous share of each
global batch, prices it with the objective scaled by its share of the batch's weight (so the
ranks' losses sum to the global batch's weighted mean), and the gradients are summed across
ranks before each Adam step: the step of one process on the global batch. Each rank
propagates over the whole graph. Validation runs on rank 0 alone (the same code as one
process, hence exact) and its metric is broadcast, so every rank stops on the same epoch;
only rank 0 writes the checkpoint. The sums are exact for objectives that are a weighted mean
over the batch's rows plus batch-independent terms (BPR without ``reg_weight``, a model's
auxiliary loss); an L2 term with non-uniform weights, in-batch softmax candidates, the
contrastive term and the distillation term see each rank's share of the batch only.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from kgrec import distributed
from kgrec.cold_start_training import HideTargetEdges
from kgrec.data.export import check_pairs
from kgrec.data.split import Split
from kgrec.errors import InputError, WriteError
from kgrec.evaluate import evaluate
from kgrec.files import load_error, save_torch, write_atomic
from kgrec.models.base import GraphRecommender
from kgrec.models.checks import check_flag, check_integer, check_number, check_tensor
from kgrec.objectives import BPR, Batch, Objective, check_objective
from kgrec.ranking import NaNScores

if TYPE_CHECKING:  # imported where a graph is built: `kgrec COMMAND --help` needs no PyG
    from torch_geometric.data import Data

log = logging.getLogger(__name__)

VALID_METRIC = "ndcg@20"
# an epoch's mean loss this many times the loss of the training's first batch (the untrained
# model's): the training diverges, a learning rate too high
DIVERGED = 10.0
# a larger learning rate (or pair weight) cannot be converted to the parameters' float32
MAX_LR = torch.finfo(torch.float32).max


class NotFinite(InputError):
    """Training's float32 numbers overflowed at ``epoch``: the loss is NaN or infinite, or the
    optimiser's running gradient statistics are (a gradient above about 1e19, whose square
    overflows: Adam's steps are then 0 and nothing trains, while the loss stays finite), or
    the model scores a validation user NaN (:class:`kgrec.ranking.NaNScores`).
    ``reason`` says which; the message adds "lower --lr" (``kgrec train`` names the other
    options that scale the loss too)."""

    def __init__(self, reason: str, epoch: int, *, hint: str = "", then: str = "") -> None:
        self.reason, self.epoch, self.hint = reason, epoch, hint
        # then: where to make the change (a run being resumed keeps its settings)
        self.message = f"{reason} at epoch {epoch}; lower --lr{hint}{then}"
        # --lr is the field only when no other option is named as a cause
        super().__init__(self.message, field=None if hint else "--lr")


def _overflow(loss: float, optimizer: torch.optim.Optimizer) -> str | None:
    """Why the epoch's numbers overflowed (:class:`NotFinite`), or None when they did not."""
    if not math.isfinite(loss):
        return f"training loss is {loss}"
    for state in optimizer.state.values():
        for value in state.values():
            floating = torch.is_tensor(value) and value.is_floating_point()
            if floating and not bool(torch.isfinite(value).all()):
                return (
                    f"the gradients overflowed (training loss {loss:.4g}): the optimiser's "
                    "running statistics are infinite, so no parameter moves any more"
                )
    return None


class EpochStrategy(Protocol):
    """How an epoch's triples become batches: over the whole graph, or sampled subgraphs."""

    def batches(
        self,
        model: GraphRecommender,
        graph: Data,
        triples: Tensor,
        weight: Tensor,
        *,
        batch_size: int,
    ) -> Iterator[Batch]:
        """``triples`` is ``[3, N]`` (user index, positive item index, negative item index) in
        the order to visit, ``weight`` ``[N]`` the pair weights; yields consecutive batches of
        ``batch_size`` triples with the graph each propagates over."""


class FullGraph:
    """Full-batch propagation: every batch of triples sees the whole graph's embeddings."""

    def batches(
        self,
        model: GraphRecommender,
        graph: Data,
        triples: Tensor,
        weight: Tensor,
        *,
        batch_size: int,
    ) -> Iterator[Batch]:
        for start in range(0, triples.size(1), batch_size):
            users, pos, neg = triples[:, start : start + batch_size]
            yield Batch(
                users,
                pos,
                neg,
                weight[start : start + batch_size],
                graph.edge_index,
                graph.edge_type,
            )

    def __repr__(self) -> str:
        return "FullGraph()"


@dataclass
class FitResult:
    """What training did: the best validation metric and epoch, and per-epoch history."""

    best_metric: float
    best_epoch: int
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    epochs_resumed: int = 0  # of epochs_run, those the checkpoint resumed had run


class NegativeSampler:
    """Uniform negatives from the positive's domain, never one of the user's training items
    (unless the user has every item of the domain). Items of domain -1
    (:meth:`kgrec.data.split.Split.negative_domains`) are never drawn."""

    def __init__(self, pairs: Tensor, item_domain: Tensor, num_items: int) -> None:
        self.num_items = num_items
        self.known = torch.unique(pairs[0] * num_items + pairs[1])
        drawable = item_domain >= 0
        # items grouped by domain, the undrawable ones (sorted first) left out
        self.order = torch.argsort(item_domain, stable=True)[int((~drawable).sum()) :]
        sizes = torch.bincount(item_domain[drawable], minlength=int(item_domain.max()) + 1)
        self.start = torch.cumsum(sizes, 0) - sizes
        self.size = sizes
        self.item_domain = item_domain

    def sample(self, users: Tensor, pos: Tensor, generator: torch.Generator) -> Tensor:
        domain = self.item_domain[pos]
        neg = torch.empty_like(pos)
        todo = torch.arange(len(pos))
        for _ in range(100):  # each round leaves a share of collisions of about the user's density
            if not len(todo):
                break
            d = domain[todo]
            offset = (torch.rand(len(todo), generator=generator) * self.size[d]).long()
            neg[todo] = self.order[self.start[d] + offset.clamp(max=self.size[d] - 1)]
            clash = torch.isin(users[todo] * self.num_items + neg[todo], self.known)
            todo = todo[clash]
        for row in todo.tolist():  # a user with (nearly) every item of the domain: exactly
            start, size = int(self.start[domain[row]]), int(self.size[domain[row]])
            items = self.order[start : start + size]
            free = items[~torch.isin(int(users[row]) * self.num_items + items, self.known)]
            if len(free):  # else the user has them all: no negative exists
                neg[row] = free[int(torch.randint(len(free), (1,), generator=generator))]
        return neg


def fit(
    model: GraphRecommender,
    graph: Data,
    split: Split,
    train_pairs: Tensor,
    *,
    epochs: int = 300,
    lr: float = 1e-3,
    batch_size: int = 2048,
    patience: int = 10,
    target_weight: float = 1.0,
    seed: int = 0,
    objective: Objective | None = None,
    epoch_strategy: EpochStrategy | None = None,
    cold_start: HideTargetEdges | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    label: str = "train",
    on_epoch: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train_pairs`` (``[2, N]`` user, item), propagating over ``graph``.

    ``objective`` prices a batch (default :class:`~kgrec.objectives.BPR`); ``epoch_strategy``
    cuts an epoch into batches (default :class:`FullGraph`). With ``cold_start``
    (:class:`~kgrec.cold_start_training.HideTargetEdges`) each epoch, after its order and
    negatives, draws the users whose target-domain edges it hides (with the same seeded
    generator, so resuming gives the same draws) and propagates over the graph without them.
    Negatives are drawn only among the items ``split`` lets a model know at training time
    (:meth:`~kgrec.data.split.Split.negative_domains`: not a new-item protocol's held-out items).
    Early stopping on the validation NDCG@20 of ``split`` (over the whole graph); the model
    ends in its best state.
    With ``checkpoint`` (a file's path, a ``str`` or a ``Path``), the training state (model,
    optimizer, epoch, best metric and state, sampler RNG) is saved after every epoch; ``resume``
    continues from it, giving the same result as an uninterrupted run (``epochs`` counts the
    checkpoint's epochs too: fewer than it has run is an InputError). A model without trainable
    parameters is only validated. An epoch whose numbers overflowed (a loss, or the optimiser's
    gradient statistics, not finite: nothing would train any more; or a validation score NaN)
    raises :class:`NotFinite` before its checkpoint.

    With ``progress`` a bar on stderr, named ``label``, follows the epochs (loss and
    validation NDCG@20); ``label="train"`` leaves it when training ends, another (a tune's
    ``"trial 3"``, whose own line follows) clears it.

    ``on_epoch(epoch, metric)`` is called after each epoch (and its checkpoint) with the
    epoch's validation NDCG@20, e.g. to report it to a hyperparameter search; an exception
    it raises (say, "prune this trial") stops training and propagates, the model left in
    that epoch's state.

    An argument of the wrong type (``epochs="5"``, ``lr="0.01"``, a list of pairs, the class
    ``BPR`` or the name ``"bpr"`` for ``BPR()``) is a TypeError naming it, a value out of its
    range a ValueError, before anything trains.
    """
    counts = (("epochs", epochs), ("batch_size", batch_size), ("patience", patience))
    for name, value in (*counts, ("seed", seed)):  # "5", 2.5: bare TypeErrors of torch's
        check_integer(name, value)
    # a NumPy integer (a count from pandas) as the number it holds, as torch's seeding needs
    epochs, batch_size, patience, seed = int(epochs), int(batch_size), int(patience), int(seed)
    for name, value in counts:
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    check_number("lr", lr)
    check_number("target_weight", target_weight)
    check_tensor("train_pairs", train_pairs)
    train_pairs = check_pairs("train_pairs", train_pairs, graph.num_users, graph.num_items)
    if not train_pairs.size(1):  # before: "trained" with loss 0.0, epoch 1 its best
        raise ValueError("train_pairs hold no pair: there is nothing to train on")
    if objective is not None:
        check_objective("objective", objective)
    if isinstance(epoch_strategy, type):  # FullGraph, not FullGraph(): a bare TypeError later
        raise TypeError(
            f"epoch_strategy must be an instance, got the class {epoch_strategy.__name__} "
            f"({epoch_strategy.__name__}())"
        )
    # "False" would be true: it resumed
    resume, progress = check_flag("resume", resume), check_flag("progress", progress)
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        raise TypeError(f"checkpoint must be a path (a str or a Path) or None, got {checkpoint!r}")
    checkpoint = Path(checkpoint) if checkpoint is not None else None  # a str as a Path
    if not 0 <= lr <= MAX_LR:
        raise ValueError(f"lr must lie in [0, {MAX_LR:.4g}], got {lr}")
    if not 0 < target_weight <= MAX_LR:
        raise ValueError(f"target_weight must lie in (0, {MAX_LR:.4g}], got {target_weight}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        metric = evaluate(model, graph, split, "valid")["all"].get(VALID_METRIC, 0.0)
        return FitResult(best_metric=metric, best_epoch=0, epochs_run=0)
    objective = objective if objective is not None else BPR()
    epoch_strategy = epoch_strategy if epoch_strategy is not None else FullGraph()
    world = distributed.current()
    device = params[0].device
    item_domain, train_pairs = graph.item_domain.cpu(), train_pairs.cpu()
    graph = on_device(graph, device)
    progress = progress and world.is_main

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(params, lr=lr)
    sampler = NegativeSampler(train_pairs, split.negative_domains(item_domain), graph.num_items)
    weight = torch.where(
        item_domain[train_pairs[1]] == split.target_domain, target_weight, 1.0
    ).float()
    eligible = None
    if cold_start is not None:
        eligible = cold_start.eligible(
            train_pairs, item_domain, split.target_domain, graph.num_users
        )
    state = _State(best_state=_copy_state(model))
    if resume and checkpoint is not None and (checkpoint.exists() or world.distributed):
        payload, failure = None, None
        if world.is_main and checkpoint.exists():
            try:
                payload = _read(checkpoint)
            except Exception as exc:  # the other ranks stop with its reason, not "rank 0 is gone"
                failure = distributed.held(exc)
        distributed.agree(failure, "resume the run")
        payload = distributed.broadcast_object(payload)  # other machines may not see the file
        if payload is not None:
            try:
                state = _restore(payload, model, optimizer, generator, device)
            except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:
                raise _unreadable(checkpoint, exc) from None
            if state.epoch > epochs:  # it would stop at once with a record of more epochs
                raise InputError(
                    f"the run has already trained {state.epoch} epochs, more than --epochs "
                    f"{epochs}: resume it with --epochs {state.epoch} or more",
                    file=str(checkpoint),
                    field="--epochs",
                )
            log.info(
                "resuming after epoch %d (best %s %.4f)", state.epoch, VALID_METRIC, state.best
            )
    distributed.broadcast_parameters(model)
    epochs_resumed = state.epoch

    bar = tqdm(
        range(state.epoch + 1, epochs + 1),
        initial=state.epoch,
        total=epochs,
        desc=label,
        unit="epoch",
        leave=label == "train",
        disable=not progress,
    )
    diverged = False
    # the training's first epoch's (the untrained model's loss first), or a resumed
    # checkpoint's first batch loss alone: divergence is measured from the same loss
    batch_losses: list[float] = [] if state.first_loss is None else [state.first_loss]
    for epoch in bar:
        if state.bad_epochs >= patience:
            break
        order = torch.randperm(train_pairs.size(1), generator=generator)
        users, pos = train_pairs[:, order]
        neg = sampler.sample(users, pos, generator)
        epoch_graph, epoch_weight = graph, weight[order]
        if cold_start is not None:
            epoch_graph, epoch_weight, _ = cold_start.epoch(
                graph,
                eligible,
                users,
                pos,
                epoch_weight,
                target_domain=split.target_domain,
                generator=generator,
            )
        loss = train_epoch(
            model,
            epoch_strategy.batches(
                model,
                epoch_graph,
                torch.stack([users, pos, neg]).to(device),
                epoch_weight.to(device),
                batch_size=batch_size,
            ),
            objective,
            optimizer,
            world=world,
            batch_losses=batch_losses,
        )
        overflow = _overflow(loss, optimizer)
        if overflow is not None:
            raise NotFinite(overflow, epoch)
        start = batch_losses[0] if batch_losses else loss
        if state.first_loss is None:
            state.first_loss = start
        if not diverged and loss > DIVERGED * start > 0:
            diverged = True  # said once
            log.warning(
                "training loss %.4g at epoch %d, from %.4g on the first batch: the training "
                "diverges (lower --lr); the model kept is the best validation epoch's",
                loss,
                epoch,
                start,
            )
        metric = None
        with distributed.rank_0_alone(f"validate epoch {epoch}"):
            if world.is_main:
                try:
                    metric = evaluate(model, graph, split, "valid")["all"].get(VALID_METRIC, 0.0)
                except NaNScores as exc:  # the reason in place of a metric: every rank stops,
                    # as on a NaN loss
                    metric = (
                        f"the model's validation scores are NaN or infinite for "
                        f"{len(exc.users)} user(s)"
                    )
        metric = distributed.broadcast_object(metric)  # every rank stops on the same epoch
        if isinstance(metric, str):
            raise NotFinite(metric, epoch)
        state.epoch = epoch
        state.history.append({"epoch": epoch, "loss": loss, VALID_METRIC: metric})
        if metric > state.best:
            state.best, state.best_epoch, state.bad_epochs = metric, epoch, 0
            state.best_state = _copy_state(model)
        else:
            state.bad_epochs += 1
        bar.set_postfix(loss=f"{loss:.4f}", **{VALID_METRIC: f"{metric:.4f}"})
        if checkpoint is not None:
            # each rank's global generators: terms that draw from them (the text view, the
            # contrastive noise, neighbour sampling on a GPU) draw for the rank's own share of
            # a batch, so the ranks' states differ
            rng_states = distributed.gather_object(_rng_state(device))
            with distributed.rank_0_alone(f"write the checkpoint of epoch {epoch}"):
                if world.is_main:
                    _save(checkpoint, state, model, optimizer, generator, rng_states)
        if on_epoch is not None:
            try:
                on_epoch(epoch, metric)
            except BaseException:
                bar.close()
                raise
    bar.close()
    model.load_state_dict(state.best_state)
    return FitResult(
        best_metric=state.best,
        best_epoch=state.best_epoch,
        epochs_run=state.epoch,
        history=state.history,
        epochs_resumed=epochs_resumed,
    )


def train_epoch(
    model: GraphRecommender,
    batches: Iterator[Batch],
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    *,
    world: distributed.World | None = None,
    batch_losses: list[float] | None = None,
) -> float:
    """One optimiser step per batch; the mean batch loss. In a distributed ``world`` each
    batch is the global one: this rank prices its share (:func:`rank_share`) and the
    gradients and losses are summed over the ranks before the step. An empty
    ``batch_losses`` is filled with every batch's loss."""
    model.train()
    losses = batch_losses if batch_losses is not None and not batch_losses else []
    if world is None or not world.distributed:
        for batch in batches:
            optimizer.zero_grad()
            loss = objective(model, batch)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return sum(losses) / max(len(losses), 1)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for batch in batches:
        optimizer.zero_grad()
        local, share = rank_share(batch, world)
        value = torch.zeros((), device=params[0].device)
        if share > 0:
            loss = objective(model, local) * share
            loss.backward()
            value = loss.detach()
        total = distributed.all_reduce_gradients(params, value)
        optimizer.step()
        losses.append(float(total))
    return sum(losses) / max(len(losses), 1)


def rank_share(batch: Batch, world: distributed.World) -> tuple[Batch, float]:
    """This rank's contiguous share of a global batch (``torch.tensor_split`` over the world:
    the shares differ by at most one triple and together are the batch), and the share of the
    batch's weight it carries (0 for an empty share)."""
    n = batch.users.numel()
    start = world.rank * (n // world.size) + min(world.rank, n % world.size)
    stop = start + n // world.size + (world.rank < n % world.size)
    part = slice(start, stop)
    local = replace(
        batch,
        users=batch.users[part],
        pos=batch.pos[part],
        neg=batch.neg[part],
        weight=batch.weight[part],
        rows=None if batch.rows is None else batch.rows[:, part],
    )
    if stop == start:
        return local, 0.0
    return local, float(local.weight.sum() / batch.weight.sum())


def on_device(graph: Data, device: torch.device) -> Data:
    """``graph`` with its message edges on ``device`` (a shallow copy; ``graph`` itself and its
    other attributes, such as ``item_domain``, stay where they are)."""
    if graph.edge_index.device == device:
        return graph
    moved = copy.copy(graph)
    moved.edge_index = graph.edge_index.to(device)
    if getattr(graph, "edge_type", None) is not None:
        moved.edge_type = graph.edge_type.to(device)
    return moved


@dataclass
class _State:
    best_state: dict[str, Tensor]
    epoch: int = 0
    best: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    first_loss: float | None = None  # the training's first batch's (its untrained model's)


def _copy_state(model: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _save(
    path: Path,
    state: _State,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    rng_states: list[dict[str, Tensor]],
) -> None:
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": rng_states,  # each rank's, for dropout and other global draws
        "epoch": state.epoch,
        "best_metric": state.best,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "best_model": state.best_state,
        "history": state.history,
        "first_loss": state.first_loss,
    }
    try:
        write_atomic(path, lambda tmp: save_torch(payload, tmp))
    except OSError as exc:  # a full disk: the last checkpoint is kept (written whole or not)
        if path.exists():
            kept = (
                f"{path.name} keeps epoch {state.epoch - 1}: once it can be written, the same "
                "kgrec train with --resume continues from there"
            )
        else:
            kept = "the run has no checkpoint yet: run the same kgrec train once it can be written"
        raise WriteError(
            f"cannot write the checkpoint of epoch {state.epoch} ({path}): "
            f"{exc.strerror or exc}; {kept}"
        ) from None


def _rng_state(device: torch.device) -> dict[str, Tensor]:
    """The global generators' states: the CPU's, and the GPU's that ``device`` names."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _read(path: Path) -> dict:
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: BaseException) -> InputError:
    first = load_error(exc)
    return InputError(
        f"the checkpoint cannot be resumed: it is damaged (truncated?) or not this run's "
        f"({first}); move it away to train the run again from the start",
        file=str(path),
    )


def _restore(
    payload: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    device: torch.device,
) -> _State:
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    generator.set_state(payload["generator"])
    states = payload["torch_rng"]  # one per rank (a checkpoint of an older kgrec: rank 0's)
    if isinstance(states, list):
        rank = distributed.current().rank
        states = states[rank] if rank < len(states) else states[0]
    if not isinstance(states, dict):  # before the GPU's state was kept: the CPU's alone
        states = {"cpu": states}
    torch.set_rng_state(states["cpu"])
    if "cuda" in states and device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda"], device)
    return _State(
        best_state=payload["best_model"],
        epoch=payload["epoch"],
        best=payload["best_metric"],
        best_epoch=payload["best_epoch"],
        bad_epochs=payload["bad_epochs"],
        history=payload["history"],
        # a checkpoint of an older kgrec: from the resumed epoch's first batch, as before
        first_loss=payload.get("first_loss"),
    )
