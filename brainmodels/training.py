"""The training machinery BrainBERT's and PopT's pretraining share (:mod:`.pretrain`, :mod:`.popt_pretrain`).

The two recipes differ in their data, their batches, their losses and their held-out checks;
everything else is one loop, written here once (:func:`train`):

- the checks of the common arguments (:func:`check_training_args`);
- the optimizer: LAMB (``torch_optimizer.Lamb``, its defaults; upstream's) or torch's AdamW;
- the learning rate: upstream's ``ramp_up`` (:func:`ramp_up_rate`: linear warm-up from 0, then
  x 0.99 every 1 % of the remaining steps), or constant after the warm-up;
- the seeds: every random choice of step ``k`` comes from ``(seed, stream, k, ...)``
  (:class:`numpy.random.SeedSequence`); the examples of a step are read off one seeded
  permutation of all examples per epoch; dropout is seeded per step and rank inside
  :func:`torch.random.fork_rng`, so the caller's RNG is left as it was;
- gradient clipping, one optimizer step per batch, the history of the losses and learning
  rates;
- several processes: with :mod:`torch.distributed` initialised, the model is wrapped in
  ``DistributedDataParallel``, the loss terms are averaged over the ranks, rank 0 writes the
  checkpoints;
- checkpoints in the official layout every ``checkpoint_every`` steps and at the end (atomic),
  whose ``scheduler`` entry holds the run's state as plain data (``{"name", "step",
  "schedule", "run", "history"}``), and the resumption from one: a resumed run takes the same
  steps as one never interrupted, bit for bit on the CPU.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmsites.device import resolve_device

from .checkpoint import _ModelLayout, read_checkpoint

__all__ = ["OPTIMIZERS", "SCHEDULES", "RunSettings", "TrainingRecipe", "ramp_up_rate", "train"]

log = logging.getLogger(__name__)

#: Optimizers offered: upstream's LAMB, and torch's AdamW.
OPTIMIZERS: tuple[str, ...] = ("lamb", "adamw")
#: Learning-rate schedules after the warm-up: upstream's ``ramp_up`` decay, or constant.
SCHEDULES: tuple[str, ...] = ("official", "constant")

#: Upstream's warm-up (``warmup: 0.025`` of the steps in both recipes' configs) and decay.
_WARMUP_FRACTION = 0.025
_DECAY_GAMMA = 0.99
_DECAY_STEPS = 100

# random streams the loop draws from: every draw is seeded by (seed, stream, ...); the recipes
# number their own streams around these
ORDER_STREAM, DROPOUT_STREAM = 0, 2


# ---------------------------------------------------------------------------------------------
# schedule, seeds, small pieces
# ---------------------------------------------------------------------------------------------


def ramp_up_rate(
    step: int,
    *,
    lr: float,
    steps: int,
    warmup_steps: int | None = None,
    schedule: str = "official",
    whole_step_size: bool = False,
) -> float:
    """The learning rate of update ``step`` (0-based) of a run of ``steps`` updates.

    Parameters
    ----------
    step : int
        The update's index, from 0.
    lr : float
        The peak learning rate.
    steps : int
        The run's length (the official decay depends on it).
    warmup_steps : int or None
        Linear warm-up steps; None: ``int(0.025 * steps)`` (upstream's ``warmup: 0.025``).
    schedule : {"official", "constant"}
        After the warm-up: x 0.99 every 1 % of the remaining updates (upstream's
        ``ramp_up``), or constant.
    whole_step_size : bool
        Whether the decay's step size is truncated to a whole number of updates (PopT's
        ``ramp_up``: ``StepLR(step_size=int((steps - warmup) / 100))``, at least 1) or not
        (BrainBERT's: ``(steps - warmup) / 100``).

    Returns
    -------
    float
        ``lr * step / warmup`` during the warm-up (0 for the first update), ``lr`` at its end,
        then ``lr * 0.99 ** floor((step - warmup - 1) / step_size)`` (official) or ``lr``.

    Raises
    ------
    ValueError
        If the schedule is unknown or a number is out of range.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    warmup = int(_WARMUP_FRACTION * steps) if warmup_steps is None else int(warmup_steps)
    if warmup < 0 or steps < 1 or step < 0:
        raise ValueError(f"need warmup_steps >= 0, steps >= 1 and step >= 0; got {warmup}, {steps}, {step}")
    if step < warmup:
        return lr * step / warmup
    if schedule == "constant" or step == warmup:
        return float(lr)
    if whole_step_size:
        decays = (step - warmup - 1) // max(int((steps - warmup) / _DECAY_STEPS), 1)
    else:
        decays = math.floor((step - warmup - 1) / (max(steps - warmup, 1) / _DECAY_STEPS))
    return float(lr * _DECAY_GAMMA**decays)


def _seed(*keys: int) -> int:
    """A 64-bit seed derived from non-negative integers (SeedSequence)."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 32) | int(state[1])


def _generator(*keys: int) -> torch.Generator:
    return torch.Generator().manual_seed(_seed(*keys))


class _Order:
    """Example indices of each step: one seeded permutation of all examples per epoch."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self._cache: dict[int, np.ndarray] = {}

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            if len(self._cache) > 2:
                self._cache.pop(min(self._cache))
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, ORDER_STREAM, epoch]))
            self._cache[epoch] = rng.permutation(self.n)
        return self._cache[epoch]

    def indices(self, step: int) -> np.ndarray:
        position = np.arange(step * self.batch_size, (step + 1) * self.batch_size, dtype=np.int64)
        epoch = position // self.n
        out = np.empty_like(position)
        for e in np.unique(epoch):
            sel = epoch == e
            out[sel] = self._permutation(int(e))[position[sel] % self.n]
        return out


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu")
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    try:
        import torch_optimizer
    except ModuleNotFoundError:
        raise ValueError(
            "optimizer='lamb' needs the package torch-optimizer (pip install torch-optimizer), "
            "or choose optimizer='adamw'"
        ) from None
    return torch_optimizer.Lamb(params, lr=lr)


def _check_positive(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class RunSettings:
    """The arguments every pretraining run takes, checked, with the held-out defaults filled in.

    Attributes
    ----------
    steps : int
        Total optimizer steps of the run (a resumed run continues up to it).
    batch_size : int
        Examples per step, over all processes.
    lr : float
        Peak learning rate.
    warmup_steps : int or None
        Linear warm-up steps; None: 2.5 % of ``steps``.
    optimizer : {"lamb", "adamw"}
        ``torch_optimizer.Lamb`` (upstream) or ``torch.optim.AdamW``.
    schedule : {"official", "constant"}
        The learning rate after the warm-up (:func:`ramp_up_rate`).
    clip_norm : float or None
        Maximum gradient norm; None: no clipping.
    checkpoint : str or PathLike or None
        The ``.pth`` file written every ``checkpoint_every`` steps and at the end; None: none.
    checkpoint_every : int
        Steps between checkpoints.
    resume : bool
        When ``checkpoint`` exists: continue from it if True; start over and overwrite it if
        False.
    val_every : int
        Steps between held-out evaluations (given None: ``checkpoint_every``).
    val_batch_size : int
        Examples per evaluation batch (given None: ``batch_size``).
    device : torch.device
        Where the model runs (given as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``).
    bf16 : bool
        Run the forward pass under bfloat16 autocast on CUDA.
    seed : int
        Seed of every random choice (non-negative).
    progress : bool
        Show a progress bar (rank 0 only).
    """

    steps: int
    batch_size: int
    lr: float
    warmup_steps: int | None
    optimizer: str
    schedule: str
    clip_norm: float | None
    checkpoint: str | PathLike | None
    checkpoint_every: int
    resume: bool
    val_every: int | None
    val_batch_size: int | None
    device: Any
    bf16: bool
    seed: int
    progress: bool

    def __post_init__(self):
        _check_positive(steps=self.steps, batch_size=self.batch_size, checkpoint_every=self.checkpoint_every)
        if self.val_every is None:
            object.__setattr__(self, "val_every", self.checkpoint_every)
        if self.val_batch_size is None:
            object.__setattr__(self, "val_batch_size", self.batch_size)
        _check_positive(val_every=self.val_every, val_batch_size=self.val_batch_size)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not float(self.lr) > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if self.clip_norm is not None and not float(self.clip_norm) > 0:
            raise ValueError(f"clip_norm must be positive or None, got {self.clip_norm!r}")
        ramp_up_rate(0, lr=self.lr, steps=self.steps, warmup_steps=self.warmup_steps, schedule=self.schedule)
        object.__setattr__(self, "device", resolve_device(self.device))

    @classmethod
    def of(cls, arguments: Mapping) -> RunSettings:
        """The settings among a pretraining function's arguments (its ``locals()``).

        Parameters
        ----------
        arguments : Mapping
            At least every field's name, with its value.

        Returns
        -------
        RunSettings
            The checked settings.

        Raises
        ------
        ValueError
            Naming the first invalid argument.
        """
        return cls(**{f.name: arguments[f.name] for f in fields(cls)})


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingRecipe:
    """What one model's pretraining tells the shared loop (:func:`train`).

    Attributes
    ----------
    name : str
        ``scheduler["name"]`` of its checkpoints (``"mmsites.pretrain"``): a checkpoint with
        another name is not resumed.
    command : str
        The pretraining function, for messages (``"pretrain"``).
    layout : object
        The model's checkpoint layout (:mod:`.checkpoint`): its kind, config mapping and
        strict loading, used to resume.
    save : callable
        ``save(model, path, optim_state=..., scheduler_state=...)``: the model's checkpoint
        writer (:func:`~.checkpoint.save_checkpoint`, :func:`~.popt.save_popt_checkpoint`).
    losses : tuple of str
        The names of the loss terms a step returns, the first the one minimised; the history
        holds ``train_<name>`` per step.
    validation : dict
        The history's held-out entries besides ``val_step``: ``val_<name>`` is the score
        ``<name>`` of every evaluation (a list) or of the last one (any other initial value).
    compared : tuple of str
        Keys of the run's settings that, when changed, make a resumed run differ from an
        uninterrupted one (a warning).
    ddp : dict
        Extra keyword arguments of ``DistributedDataParallel``.
    """

    name: str
    command: str
    layout: _ModelLayout
    save: Callable[..., Path]
    losses: tuple[str, ...]
    validation: dict
    compared: tuple[str, ...]
    ddp: dict = field(default_factory=dict)

    def new_history(self) -> dict:
        """An empty history.

        Returns
        -------
        dict
            ``step``, ``train_<loss>`` for every loss term, ``lr``, ``val_step`` (empty
            lists), then a copy of :attr:`validation`.
        """
        history = dict(step=[], **{f"train_{name}": [] for name in self.losses}, lr=[], val_step=[])
        history.update(copy.deepcopy(self.validation))
        return history


def _resume_state(path: Path, model: torch.nn.Module, run: dict, recipe: TrainingRecipe) -> dict:
    """The checkpoint's training state, after checking it belongs to this model and run."""
    kind = recipe.layout.kind
    checkpoint = read_checkpoint(path, kind=kind)
    state = checkpoint.get("scheduler")
    if not isinstance(state, dict) or state.get("name") != recipe.name:
        raise ValueError(
            f"checkpoint {path} holds no {kind} pretraining state (not written by {recipe.command}): pass "
            "resume=False to start over (it is then overwritten), or another checkpoint path"
        )
    try:
        config = recipe.layout.from_official(checkpoint["model_cfg"])
    except (KeyError, ValueError) as e:
        raise ValueError(f"checkpoint {path}: {e}") from None
    if config != model.config:
        raise ValueError(
            f"checkpoint {path} is of another model ({config}) than the one given ({model.config}): "
            "pass resume=False to start over, or another checkpoint path"
        )
    if state["run"].get("optimizer") != run["optimizer"]:
        raise ValueError(
            f"checkpoint {path} was trained with optimizer {state['run'].get('optimizer')!r}, "
            f"not {run['optimizer']!r}: its state cannot be continued with another optimizer"
        )
    changed = sorted(k for k in recipe.compared if state["run"].get(k) != run[k])
    if changed:
        log.warning(
            "resuming %s with other %s than it was started with: the run will not equal an uninterrupted one",
            path,
            ", ".join(changed),
        )
    recipe.layout.load_strict(model, checkpoint["model"], str(path))
    return dict(optim=checkpoint["optim"], step=int(state["step"]), history=state["history"])


def train(
    model: torch.nn.Module,
    recipe: TrainingRecipe,
    run: RunSettings,
    *,
    n_examples: int,
    batch: Callable[[np.ndarray, int, int, int], Any],
    loss: Callable[[torch.nn.Module, Any], Sequence[torch.Tensor]],
    evaluate: Callable[[int], Mapping] | None,
    learning_rate: Callable[..., float],
    settings: Mapping,
    desc: str,
) -> dict:
    """Run (or resume) a pretraining: the loop both recipes share (see the module docstring).

    Each step: the learning rate (``learning_rate``), the step's examples (``batch``), the loss
    terms under the step's dropout seed (``loss``), backward, gradients clipped to
    ``run.clip_norm``, one optimizer step; the history; a held-out evaluation every
    ``run.val_every`` steps and at the end, a checkpoint every ``run.checkpoint_every`` steps
    and at the end.

    Parameters
    ----------
    model : torch.nn.Module
        The model to train, in place (moved to ``run.device``, left in train mode), with a
        ``config``.
    recipe : TrainingRecipe
        What the model's pretraining tells the loop.
    run : RunSettings
        The optimisation, checkpoint, device and seed settings.
    n_examples : int
        Examples the epochs permute.
    batch : callable
        ``batch(indices, step, rank, world)``: the step's examples, given the indices of all
        ranks' examples (``run.batch_size`` of them, from the epoch's permutation); each rank
        keeps its share.
    loss : callable
        ``loss(net, batch)``: the loss terms (scalar tensors, named by ``recipe.losses``, the
        first differentiable), ``net`` being the model or its ``DistributedDataParallel``
        wrapper; called under the step's dropout seed.
    evaluate : callable or None
        ``evaluate(step)``: the held-out check's scores; called before the first step of a
        fresh run too, and recorded as :attr:`TrainingRecipe.validation` says. None: no
        held-out check.
    learning_rate : callable
        The recipe's schedule (:func:`ramp_up_rate`), called as ``learning_rate(step, lr=,
        steps=, warmup_steps=, schedule=)``.
    settings : Mapping
        The recipe's own settings, recorded in the checkpoint's ``run`` between the common
        ones and ``world_size``.
    desc : str
        The progress bar's label.

    Returns
    -------
    dict
        The history (:meth:`TrainingRecipe.new_history`), including the steps before an
        interruption when resumed.

    Raises
    ------
    ValueError
        If ``run.batch_size`` is below the number of processes, or the checkpoint to resume
        from belongs to another model or optimizer.
    """
    steps, batch_size, lr, seed, device = run.steps, run.batch_size, run.lr, run.seed, run.device
    warmup_steps, schedule, clip_norm = run.warmup_steps, run.schedule, run.clip_norm
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    rank = torch.distributed.get_rank() if distributed else 0
    world = torch.distributed.get_world_size() if distributed else 1
    if batch_size < world:
        raise ValueError(f"batch_size ({batch_size}) must be at least the number of processes ({world})")
    record = dict(
        seed=int(seed),
        steps=int(steps),
        batch_size=int(batch_size),
        lr=float(lr),
        warmup_steps=None if warmup_steps is None else int(warmup_steps),
        optimizer=run.optimizer,
        schedule=schedule,
        clip_norm=None if clip_norm is None else float(clip_norm),
        **settings,
        world_size=int(world),
    )

    model.to(device)
    model.train()
    opt = _make_optimizer(run.optimizer, model.parameters(), lr)
    start, history = 0, recipe.new_history()
    path = None if run.checkpoint is None else Path(run.checkpoint)
    if path is not None and run.resume and path.is_file():
        state = _resume_state(path, model, record, recipe)
        model.to(device)
        opt.load_state_dict(state["optim"])
        start, history = state["step"], state["history"]
        log.info("resuming %s at step %d of %d", path, start, steps)
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=device_ids, **recipe.ddp)
    fork_devices = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if device.type == "cuda"
        else []
    )

    def _save(step: int) -> None:
        if path is None:
            return
        if rank == 0:
            scheduler = dict(
                name=recipe.name,
                step=int(step),
                schedule=dict(name=schedule, lr=float(opt.param_groups[0]["lr"]), warmup_steps=warmup_steps),
                run=record,
                history=history,
            )
            recipe.save(model, path, optim_state=_to_cpu(opt.state_dict()), scheduler_state=scheduler)
        if distributed:
            torch.distributed.barrier()

    def _evaluate(step: int) -> None:
        scores = evaluate(step)
        history["val_step"].append(step)
        for key, template in recipe.validation.items():
            value = scores[key.removeprefix("val_")]
            if isinstance(template, list):
                history[key].append(value)
            else:
                history[key] = value

    if evaluate is not None and start == 0 and not history["val_step"]:
        _evaluate(0)
    order = _Order(n_examples, int(batch_size), int(seed))
    bar = None
    if run.progress and rank == 0 and start < steps:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=start, desc=desc, dynamic_ncols=True)
    began = time.perf_counter()
    try:
        for step in range(start, steps):
            rate = learning_rate(step, lr=lr, steps=steps, warmup_steps=warmup_steps, schedule=schedule)
            for group in opt.param_groups:
                group["lr"] = rate
            inputs = batch(order.indices(step), step, rank, world)
            with torch.random.fork_rng(devices=fork_devices):
                torch.manual_seed(_seed(seed, DROPOUT_STREAM, step, rank))
                terms = loss(net, inputs)
                terms[0].backward()
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            opt.step()
            opt.zero_grad(set_to_none=True)
            values = torch.stack([term.detach() for term in terms])
            if distributed:
                torch.distributed.all_reduce(values)
                values = values / world
            values = [float(v) for v in values.cpu()]
            done = step + 1
            history["step"].append(done)
            for name, value in zip(recipe.losses, values):
                history[f"train_{name}"].append(value)
            history["lr"].append(float(rate))
            if bar is not None:
                bar.update(1)
                if done % 10 == 0:
                    bar.set_postfix(loss=f"{values[0]:.4f}")
            if evaluate is not None and (done % run.val_every == 0 or done == steps):
                _evaluate(done)
            if done % run.checkpoint_every == 0 or done == steps:
                _save(done)
    finally:
        if bar is not None:
            bar.close()
    if steps > start:
        log.info(
            "pretrained %s steps %d..%d in %.1f s",
            recipe.layout.kind,
            start + 1,
            steps,
            time.perf_counter() - began,
        )
    return history
