"""Guided training: the task loss plus α · Σ (1 − CKA) between mapped layers of a frozen guide.

:func:`guided_train` trains a target network on arrays ``(X, y)`` with cross-entropy (one
label per example, or per position with :data:`~mmsites.guidance.data.IGNORE` where none)
plus ``alpha`` times the guidance loss (:mod:`~mmsites.guidance.loss`) between the target's
and the guide's recorded layers (:mod:`~mmsites.guidance.hooks`) on each minibatch. The guide
is frozen: it runs in eval mode without gradients. Options, as in the guidance code: the guide
sees noise instead of the batch (``guide_noise``; the target still sees the batch), guidance
only during the first ``guidance_steps`` updates (the code's ``--early_stop``: 300), ``1 -
RSA`` instead of ``1 - CKA`` (``distance="rsa"``). Without a guide, or with ``alpha=0``, the
updates are those of plain training, bit for bit (with ``alpha=0`` the distances are still
measured and logged, without gradient).

**Fixed guides and no task.** The guide may also be a
:class:`~mmsites.guidance.fixed.FixedGuide`: fixed representations per training example (e.g. a
subject's neural responses to the same events), whose rows of each minibatch are compared with
the target's layers. The labels may be None (``train=(X, None)``): no task loss, only ``alpha``
times the guidance loss; with ``alpha=0`` as well nothing is trained (the weights stay as they
are, the distances are still measured and logged).

The target's activations come from the same forward pass as its task output (the guidance
code runs the target a second time for them, which differs only with dropout).

**Seeds and resumption.** Every random choice of update ``k`` comes from ``(seed, stream,
k)`` (:class:`numpy.random.SeedSequence`): the examples of each epoch are one seeded
permutation (the last incomplete batch is dropped; another permutation next epoch), the
guide's noise and the dropout of step k are seeded per step (dropout inside
:func:`torch.random.fork_rng`, so the caller's random state is left as it was). A checkpoint
(``torch.save`` to a temporary file renamed onto the path: never half-written) holds the
target's weights, the optimizer's state, the step, the history and the settings; a resumed
run (read with ``weights_only=True``) takes the same updates as one never interrupted, bit for
bit on the CPU. A run may be resumed with more epochs; other settings must match.

**Devices.** ``device`` ``"auto"`` takes CUDA when available; ``bf16`` runs both networks'
forward passes under bfloat16 autocast on CUDA (the losses and distances are computed in
float32).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmsites.device import resolve_device

from .data import IGNORE, noise_like
from .fixed import FixedGuide
from .hooks import LAYER_TYPES, LayerRecorder
from .loss import DISTANCES, layer_pairs, pair_distances

__all__ = [
    "OPTIMIZERS",
    "CHECKPOINT_FORMAT",
    "epoch_batches",
    "evaluate",
    "fingerprint",
    "guided_train",
    "read_checkpoint",
]

log = logging.getLogger(__name__)

#: Optimizers offered (constant learning rate).
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
#: The ``format`` entry of a guidance checkpoint.
CHECKPOINT_FORMAT = "mmsites.guidance/1"

# random streams: every draw is seeded by (seed, stream, ...)
ORDER_STREAM, NOISE_STREAM, DROPOUT_STREAM = 0, 1, 2

#: Settings a resumed run must share with its checkpoint (``epochs`` may grow; the device may change).
_RESUME_KEYS = (
    "alpha",
    "distance",
    "guide_noise",
    "guidance_steps",
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "clip_norm",
    "seed",
    "bf16",
    "n_train",
    "target",
    "guide",
    "guide_fingerprint",
    "layer_types",
)


def _seed(*keys: int) -> int:
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 32) | int(state[1])


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> np.ndarray:
    """The examples of each update of one epoch: a seeded permutation cut into full batches.

    Parameters
    ----------
    n : int
        Number of training examples.
    batch_size : int
        Examples per update (<= n).
    seed : int
        The run's seed.
    epoch : int
        The epoch, from 0.

    Returns
    -------
    ndarray, int64, shape (n // batch_size, batch_size)
        Row b: the indices of update ``epoch * (n // batch_size) + b``; the last ``n %
        batch_size`` examples of the permutation are not used this epoch.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), ORDER_STREAM, int(epoch)]))
    steps = n // batch_size
    return rng.permutation(n)[: steps * batch_size].reshape(steps, batch_size).astype(np.int64)


def fingerprint(model: nn.Module) -> str:
    """A short hash of a model's state (names, shapes, dtypes and values).

    Parameters
    ----------
    model : torch.nn.Module
        Any module.

    Returns
    -------
    str
        16 hex digits of the SHA-256 of its state dict.
    """
    h = hashlib.sha256()
    for name, value in model.state_dict().items():
        t = value.detach().to("cpu").contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def _as_tensor(a, device: torch.device) -> torch.Tensor:
    t = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    return t.to(device)


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _task_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE
    )


@torch.no_grad()
def evaluate(
    model: nn.Module, X, y, *, batch_size: int = 1024, device="cpu", bf16: bool = False
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of a model on arrays (eval mode, no gradients).

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits ``(n, classes)`` or ``(n, length, classes)``; left in eval mode.
    X : ndarray or Tensor, shape (n, ...)
        Inputs.
    y : ndarray or Tensor, int64, shape (n,) or (n, length)
        Labels; positions labelled :data:`~mmsites.guidance.data.IGNORE` are not scored.
    batch_size : int
        Examples per forward pass.
    device : str or torch.device
        Where to compute (``"auto"``: CUDA when available).
    bf16 : bool
        Use bfloat16 autocast on CUDA.

    Returns
    -------
    loss : float
        Mean cross-entropy over the scored labels, nats.
    accuracy : float
        Fraction of scored labels predicted (argmax), in [0, 1].
    """
    device = resolve_device(device)
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    for start in range(0, len(X), batch_size):
        xb = _as_tensor(X[start : start + batch_size], device)
        yb = _as_tensor(y[start : start + batch_size], device)
        with _autocast(device, bf16):
            logits = model(xb)
        logits = logits.float().reshape(-1, logits.shape[-1])
        yb = yb.reshape(-1)
        keep = yb != IGNORE
        loss_sum += float(nn.functional.cross_entropy(logits[keep], yb[keep], reduction="sum"))
        correct += int((logits[keep].argmax(-1) == yb[keep]).sum())
        total += int(keep.sum())
    return loss_sum / max(total, 1), correct / max(total, 1)


def _optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


def _atomic_save(payload: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read a guidance checkpoint (``weights_only``: plain data and tensors only).

    Parameters
    ----------
    path : str or PathLike
        A file written by :func:`guided_train`.

    Returns
    -------
    dict
        ``format``, ``model`` (the target's state dict), ``optimizer``, ``step`` (updates
        done), ``history`` and ``settings`` (see :func:`guided_train`).

    Raises
    ------
    ValueError
        If the file is not a guidance checkpoint.
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a guidance checkpoint (format {CHECKPOINT_FORMAT!r})")
    return payload


def _new_history(settings: dict) -> dict:
    return {
        "settings": settings,
        "pairs": [],
        "steps": {"step": [], "task_loss": [], "guidance_loss": [], "distances": []},
        "epochs": {
            "epoch": [],
            "step": [],
            "train_loss": [],
            "train_accuracy": [],
            "test_loss": [],
            "test_accuracy": [],
            "gap": [],
            "layer_cka": [],
        },
        "seconds": 0.0,
    }


def _check_args(alpha, distance, epochs, batch_size, lr, optimizer, guidance_steps, n, eval_examples):
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("eval_examples", eval_examples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if guidance_steps is not None and (
        not isinstance(guidance_steps, (int, np.integer)) or guidance_steps < 0
    ):
        raise ValueError(f"guidance_steps must be None or an integer >= 0, got {guidance_steps!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if batch_size > n or batch_size < 2:
        raise ValueError(f"batch_size must be in [2, {n}] (the training examples), got {batch_size}")


def _check_fixed_guide(guide: FixedGuide, n: int, test, guide_noise: bool) -> None:
    if guide.n_train != n:
        raise ValueError(f"the fixed guide has {guide.n_train} training rows but train has {n} examples")
    if guide_noise:
        raise ValueError("guide_noise needs a guide network: a fixed guide has no input to replace")
    if test is not None and guide.n_evaluation is not None and guide.n_evaluation != len(test[0]):
        raise ValueError(
            f"the fixed guide has {guide.n_evaluation} evaluation rows but test has {len(test[0])} examples"
        )
    if test is not None and guide.n_evaluation is None:
        raise ValueError("with a test set the fixed guide needs its evaluation representations")


def guided_train(
    target: nn.Module,
    train: tuple,
    test: tuple | None = None,
    *,
    guide: nn.Module | FixedGuide | None = None,
    alpha: float = 1.0,
    distance: str = "cka",
    guide_noise: bool = False,
    guidance_steps: int | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    clip_norm: float | None = None,
    seed: int = 0,
    device="cpu",
    bf16: bool = False,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    eval_examples: int = 256,
    layer_types: Sequence[type] = LAYER_TYPES,
    log_every: int = 100,
    callback: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train ``target`` on a task, guided by a frozen ``guide`` (or plainly, without one).

    Each update minimises ``task + alpha * sum_i d(guide layer i, target layer m(i))`` on one
    minibatch, with ``d`` = 1 - CKA or 1 - RSA and ``m`` the guidance layer mapping (module
    notes; :mod:`~mmsites.guidance.loss`). The target is trained in place.

    Parameters
    ----------
    target : torch.nn.Module
        The network trained; maps a batch ``(b, ...)`` to logits ``(b, classes)`` or
        ``(b, length, classes)``. Moved to ``device``.
    train : (array, array or None)
        Training inputs ``X`` (n, ...) (float or int64, numpy or torch) and labels ``y`` (n,) or
        (n, length), int64 (:data:`~mmsites.guidance.data.IGNORE`: not scored); None: no task
        loss (guidance only).
    test : (array, array or None), optional
        Held-out inputs and labels, evaluated after every epoch (and before the first); labels
        None (no task): only the CKA with the guide is measured on them.
    guide : torch.nn.Module or FixedGuide, optional
        The frozen guide, run on the same batch (or noise); put in eval mode and moved to
        ``device``; its weights are never changed. A
        :class:`~mmsites.guidance.fixed.FixedGuide`: fixed representations of the training
        examples (rows of each batch, by index; its evaluation rows go with ``test``). None:
        plain training.
    alpha : float
        Weight of the guidance loss (>= 0; the guidance code: 1). 0: plain updates, the
        distances still logged.
    distance : {"cka", "rsa"}
        1 - linear CKA (published) or 1 - RSA.
    guide_noise : bool
        The guide sees noise shaped like the batch (:func:`~mmsites.guidance.data.noise_like`)
        instead of the batch.
    guidance_steps : int, optional
        Guide only the first ``guidance_steps`` updates (steps 0 .. guidance_steps-1); None:
        every update.
    epochs : int
        Passes over the training set; each has ``n // batch_size`` updates.
    batch_size : int
        Examples per update (2 <= batch_size <= n; CKA of a minibatch needs 2 or more).
    lr : float
        Learning rate (constant).
    optimizer : {"adam", "adamw", "sgd"}
        torch's Adam or AdamW (default betas), or SGD with momentum 0.9.
    weight_decay : float
        The optimizer's weight decay.
    clip_norm : float, optional
        Clip the gradient's global norm to this value; None: no clipping.
    seed : int
        Seed of the batch order, the noise and the dropout (not of the initial weights: build
        the networks under your own seed).
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
    bf16 : bool
        Use bfloat16 autocast for the forward passes on CUDA (ignored on the CPU).
    checkpoint : str or PathLike, optional
        Where to keep the run's checkpoint (written after every epoch, every
        ``checkpoint_every`` updates and at the end); None: none.
    checkpoint_every : int, optional
        Also write the checkpoint every this many updates.
    resume : bool
        Continue from ``checkpoint`` when it exists (its settings must match, except
        ``epochs`` and the device); False: start over and overwrite it.
    eval_examples : int
        Examples (the first ones of the test set, else of the training set) on which the CKA
        of every mapped pair is measured after each epoch.
    layer_types : sequence of type
        Module types recorded in both networks (default
        :data:`~mmsites.guidance.hooks.LAYER_TYPES`).
    log_every : int
        Log the losses every this many updates and the accuracies after every epoch (INFO);
        0: the epochs at DEBUG only.
    callback : callable, optional
        Called as ``callback(step, record)`` after every update, ``record`` holding that
        update's ``task_loss``, ``guidance_loss`` and ``distances``.

    Returns
    -------
    dict
        The history (plain data, JSON-ready): ``settings``; ``pairs`` (names
        ``"guide layer -> target layer"``); ``steps``: per update ``step``, ``task_loss``
        (cross-entropy, nats; None without labels), ``guidance_loss`` (sum of distances; None
        when not computed) and ``distances`` (one per pair, or None); ``epochs``: per
        evaluation (epoch 0 before training) ``epoch``, ``step``, ``train_loss``,
        ``train_accuracy``, ``test_loss``, ``test_accuracy``, ``gap`` (train - test accuracy)
        and ``layer_cka`` (CKA of each pair on the evaluation examples, None without a guide;
        losses and accuracies None without labels); ``seconds`` (training time).

    Raises
    ------
    ValueError
        If an argument is out of range, the data do not match, a network records no layer,
        or the checkpoint belongs to another run (the message names the differing settings).
    """
    X, y = train
    n = len(X)
    if y is not None and len(y) != n:
        raise ValueError(f"train: {n} inputs but {len(y)} labels")
    _check_args(alpha, distance, epochs, batch_size, lr, optimizer, guidance_steps, n, eval_examples)
    fixed = isinstance(guide, FixedGuide)
    if fixed:
        _check_fixed_guide(guide, n, test, guide_noise)
    if y is None and guide is None:
        raise ValueError("without labels (train=(X, None)) a guide is needed: there is nothing to train on")
    device = resolve_device(device)
    if bf16 and device.type != "cuda":
        log.info("bf16 is used on CUDA only; computing in float32 on %s", device)
    target.to(device)
    if fixed:
        guide.to(device)
    elif guide is not None:
        guide.to(device).eval()
    settings = {
        "alpha": float(alpha),
        "distance": distance,
        "guide_noise": bool(guide_noise),
        "guidance_steps": None if guidance_steps is None else int(guidance_steps),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "optimizer": optimizer,
        "weight_decay": float(weight_decay),
        "clip_norm": None if clip_norm is None else float(clip_norm),
        "seed": int(seed),
        "bf16": bool(bf16),
        "n_train": int(n),
        "target": type(target).__name__,
        "guide": None if guide is None else type(guide).__name__,
        "guide_fingerprint": (
            None if guide is None else guide.fingerprint() if fixed else fingerprint(guide)
        ),
        "task": y is not None,
        "layer_types": [t.__name__ for t in layer_types],
        "device": str(device),
    }
    opt = _optimizer(optimizer, target.parameters(), lr, weight_decay)
    history = _new_history(settings)
    step = 0
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and resume and path.exists():
        state = read_checkpoint(path)
        differ = [k for k in _RESUME_KEYS if state["settings"].get(k) != settings[k]]
        if differ:
            detail = ", ".join(
                f"{k}: {state['settings'].get(k)!r} there, {settings[k]!r} now" for k in differ
            )
            raise ValueError(
                f"checkpoint {path} is of another run ({detail}); pass resume=False to start over"
            )
        target.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, history = int(state["step"]), state["history"]
        history["settings"] = settings
        log.info("resumed %s at step %d", path, step)

    Xt, yt = _as_tensor(X, device), None if y is None else _as_tensor(y, device)
    test_t = None
    if test is not None:
        test_t = (_as_tensor(test[0], device), None if test[1] is None else _as_tensor(test[1], device))
    eval_x = (test_t[0] if test_t is not None else Xt)[:eval_examples]
    per_epoch = n // batch_size
    total = epochs * per_epoch
    if step > total:
        log.warning("checkpoint %s is at step %d, past the %d steps asked for", path, step, total)
    fork_devices = [device.index or 0] if device.type == "cuda" else []

    def _layer_cka() -> list[float] | None:
        if guide is None:
            return None
        target.eval()
        with torch.no_grad(), _autocast(device, bf16):
            if fixed:
                g_maps = guide.evaluation_maps(len(eval_x), training=test_t is None)
            else:
                with LayerRecorder(guide, layer_types) as g_rec:
                    guide(eval_x)
                g_maps = g_rec.activations()
            with LayerRecorder(target, layer_types) as t_rec:
                target(eval_x)
        t_maps = t_rec.activations()
        pairs = _pairs(g_maps, t_maps)
        d = pair_distances([a for _, a in g_maps], [a for _, a in t_maps], pairs, "cka")
        if not history["pairs"]:
            history["pairs"] = [name for _, _, name in pairs]
        return [float(1.0 - v) for v in d]

    def _pairs(g_maps, t_maps):
        t_names = [k for k, _ in t_maps]
        return guide.pairs(t_names) if fixed else layer_pairs([k for k, _ in g_maps], t_names)

    def _evaluate(epoch: int) -> None:
        tr_loss, tr_acc = (None, None) if yt is None else evaluate(target, Xt, yt, device=device, bf16=bf16)
        te_loss, te_acc = (
            (None, None)
            if test_t is None or test_t[1] is None
            else evaluate(target, *test_t, device=device, bf16=bf16)
        )
        e = history["epochs"]
        e["epoch"].append(epoch)
        e["step"].append(step)
        e["train_loss"].append(tr_loss)
        e["train_accuracy"].append(tr_acc)
        e["test_loss"].append(te_loss)
        e["test_accuracy"].append(te_acc)
        e["gap"].append(None if te_acc is None else tr_acc - te_acc)
        e["layer_cka"].append(_layer_cka())
        log.log(
            logging.INFO if log_every else logging.DEBUG,
            "epoch %d (step %d):%s%s%s",
            epoch,
            step,
            "" if tr_acc is None else f" train loss {tr_loss:.4f} acc {tr_acc:.3f}",
            "" if te_acc is None else f", test loss {te_loss:.4f} acc {te_acc:.3f}",
            "" if e["layer_cka"][-1] is None else f" CKA {np.round(e['layer_cka'][-1], 3).tolist()}",
        )

    def _save() -> None:
        if path is not None:
            payload = {
                "format": CHECKPOINT_FORMAT,
                "model": {k: v.detach().to("cpu") for k, v in target.state_dict().items()},
                "optimizer": _cpu(opt.state_dict()),
                "step": step,
                "history": history,
                "settings": settings,
            }
            _atomic_save(payload, path)

    if step == 0 and not history["epochs"]["epoch"]:
        _evaluate(0)
    start = time.perf_counter()
    seconds0 = float(history["seconds"])
    batches, batches_epoch = None, -1
    while step < total:
        epoch, b = divmod(step, per_epoch)
        if epoch != batches_epoch:
            batches, batches_epoch = (
                torch.from_numpy(epoch_batches(n, batch_size, seed, epoch)).to(device),
                epoch,
            )
        idx = batches[b]
        xb, yb = Xt[idx], None if yt is None else yt[idx]
        guided = guide is not None and (guidance_steps is None or step < guidance_steps)
        target.train()
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(_seed(seed, DROPOUT_STREAM, step))
            with LayerRecorder(target, layer_types) if guided else contextlib.nullcontext() as t_rec:
                with _autocast(device, bf16):
                    logits = target(xb)
            task = _task_loss(logits, yb) if yb is not None else logits.new_zeros((), dtype=torch.float32)
            loss, g_loss, dists = task, None, None
            if guided:
                if fixed:
                    g_maps = guide.batch(idx)
                else:
                    gx = xb
                    if guide_noise:
                        gx = noise_like(xb, torch.Generator().manual_seed(_seed(seed, NOISE_STREAM, step)))
                    with torch.no_grad(), _autocast(device, bf16), LayerRecorder(guide, layer_types) as g_rec:
                        guide(gx)
                    g_maps = g_rec.activations()
                t_maps = t_rec.activations()
                pairs = _pairs(g_maps, t_maps)
                if not history["pairs"]:
                    history["pairs"] = [name for _, _, name in pairs]
                g_acts = [a for _, a in g_maps]
                if alpha > 0:
                    d = pair_distances(g_acts, [a for _, a in t_maps], pairs, distance)
                    loss = task + alpha * d.sum()
                else:
                    with torch.no_grad():
                        d = pair_distances(g_acts, [a.detach() for _, a in t_maps], pairs, distance)
                dists = [float(v) for v in d.detach()]
                g_loss = float(sum(dists))
            if loss.requires_grad:  # no labels and alpha 0: nothing to train
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip_norm is not None:
                    nn.utils.clip_grad_norm_(target.parameters(), clip_norm)
                opt.step()
        step += 1
        record = {
            "task_loss": None if yb is None else float(task.detach()),
            "guidance_loss": g_loss,
            "distances": dists,
        }
        s = history["steps"]
        s["step"].append(step - 1)
        for key, value in record.items():
            s[key].append(value)
        if callback is not None:
            callback(step - 1, record)
        if log_every and step % log_every == 0:
            log.info(
                "step %d/%d:%s%s",
                step,
                total,
                "" if yb is None else f" task {record['task_loss']:.4f}",
                "" if g_loss is None else f", guidance {g_loss:.4f}",
            )
        end_of_epoch = step % per_epoch == 0
        if end_of_epoch:
            _evaluate(step // per_epoch)
        if end_of_epoch or (checkpoint_every and step % checkpoint_every == 0) or step == total:
            history["seconds"] = seconds0 + time.perf_counter() - start
            _save()
    history["seconds"] = seconds0 + time.perf_counter() - start
    target.eval()
    return history


def _cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu")
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj
