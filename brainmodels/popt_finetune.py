"""Fine-tuning PopT end to end on a binary decoding task (the published downstream recipe).

The recipe of the official code (czlwang/PopulationTransformer, the downstream experiments of
the PopT paper): a new head ``Linear(hidden_dim, 1)`` on the last layer's CLS token, binary
cross-entropy with logits, the whole PopT trained with it (the BrainBERT embeddings it reads
stay frozen: they are the input), AdamW with learning rate 5e-4 for the head and 5e-5 for the
encoder, 2000 steps, scored by ROC-AUC. Arrays in, scores out; nothing is written.

**What is chosen, and on what.** The number of steps is the one hyper-parameter chosen here:
the model is trained on the *fit* part of one inner fold of the training events and evaluated
on that fold's *validation* part every ``eval_every`` steps; the state with the best
validation ROC-AUC (the earliest on ties; step 0 is the untrained head) is kept and scores
the test events. The test events take part in no choice. Training uses the fit part only, so
the validation events are a real hold-out (early stopping), at the price of the events the
validation part holds.

**Reproducible.** Mini-batches are drawn without replacement from a permutation of the fit
events per epoch, from ``numpy.random.default_rng(seed)``; dropout and the head's
initialisation come from the torch generator seeded by ``seed`` inside
:func:`torch.random.fork_rng`, so the global RNG state is untouched and two calls with the
same arguments give the same scores on the CPU.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .popt import PopT
from .popt_pretrain import roc_auc

log = logging.getLogger(__name__)

__all__ = ["FINETUNE_STEPS", "HEAD_LR", "ENCODER_LR", "FinetuneFit", "finetune_popt"]

#: Published fine-tuning length (steps).
FINETUNE_STEPS = 2000
#: Published learning rates of the new head and of the pretrained encoder.
HEAD_LR = 5e-4
ENCODER_LR = 5e-5


@dataclass(frozen=True)
class FinetuneFit:
    """A PopT fine-tuned on one split.

    Attributes
    ----------
    step : int
        Training steps of the kept state (chosen on the validation events).
    val_auc : float
        Its validation ROC-AUC.
    curve : ndarray of float64, shape (n_evals, 2)
        ``(step, validation ROC-AUC)`` at every evaluation.
    scores : ndarray of float64, shape (n_test,)
        Logits of label 1 on the test events, in the order given.
    model : PopT
        The fine-tuned PopT (the head is ``model.finetune_head``), in eval mode.
    """

    step: int
    val_auc: float
    curve: np.ndarray
    scores: np.ndarray
    model: PopT = field(repr=False)


def _check(embeddings, coords_lip, labels, model: PopT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] != model.config.input_dim:
        raise ValueError(
            f"embeddings must be (n_events, n_electrodes, {model.config.input_dim}) (the model's "
            f"input_dim), got shape {x.shape}"
        )
    if not np.isfinite(x).all():
        raise ValueError("embeddings must be finite")
    c = np.asarray(coords_lip)
    if c.shape != (x.shape[1], 3) or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"coords_lip must be integer (L, I, P) of shape ({x.shape[1]}, 3), got {c.shape}")
    y = np.asarray(labels).ravel()
    if y.shape != (x.shape[0],) or not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0/1, one per event ({x.shape[0]}); got shape {y.shape}")
    return x, c.astype(np.int64), y.astype(np.int64)


def _indices(idx, n: int, what: str) -> np.ndarray:
    idx = np.asarray(idx, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"{what} indices must lie in 0..{n - 1}")
    return idx


def finetune_popt(
    model: PopT,
    embeddings,
    coords_lip,
    labels,
    fit,
    val,
    test,
    *,
    steps: int = FINETUNE_STEPS,
    batch_size: int = 32,
    head_lr: float = HEAD_LR,
    encoder_lr: float = ENCODER_LR,
    eval_every: int = 50,
    seed: int = 0,
    test_embeddings=None,
    test_coords=None,
) -> FinetuneFit:
    """Fine-tune a copy of ``model`` with a new CLS head; score the test events.

    Parameters
    ----------
    model : PopT
        The starting point (pretrained or random); it is copied, never changed.
    embeddings : array-like of float, shape (n_events, n_electrodes, input_dim)
        Each event's BrainBERT embeddings, every electrode (frozen inputs).
    coords_lip : array-like of int, shape (n_electrodes, 3)
        The electrodes' integer (L, I, P) coordinates (:func:`~.popt.lip_coordinates`).
    labels : array-like of int, shape (n_events,)
        0/1.
    fit, val, test : array-like of int
        Event indices: trained on ``fit``, the step chosen on ``val``, scored on ``test``
        (disjoint, and purged by the caller: :mod:`mmsites.decoding.splits`); ``test``
        indexes ``test_embeddings`` when they are given.
    steps : int, default 2000
        Training steps (published: 2000); evaluations at every ``eval_every`` and at the end.
    batch_size : int, default 32
        Events per step (fewer when ``fit`` holds fewer).
    head_lr, encoder_lr : float
        AdamW learning rates of the head and of PopT (published 5e-4 and 5e-5).
    eval_every : int, default 50
        Steps between validation evaluations.
    seed : int, default 0
        Seed of the batches, the head's initialisation and dropout.
    test_embeddings : array-like of float, shape (n_test_events, n_test_electrodes, input_dim), optional
        Test events of another recording or subject (other electrodes: PopT reads any set
        with its coordinates); default: ``embeddings``.
    test_coords : array-like of int, shape (n_test_electrodes, 3), optional
        Their (L, I, P) coordinates; required with ``test_embeddings``.

    Returns
    -------
    FinetuneFit
        The chosen step, the validation curve and the test logits.

    Raises
    ------
    ValueError
        If the arrays are malformed, an index is out of range, or ``fit`` or ``val`` lacks a
        class.
    """
    x, coords, y = _check(embeddings, coords_lip, labels, model)
    n = len(x)
    fit, val = _indices(fit, n, "fit"), _indices(val, n, "val")
    if test_embeddings is None:
        x_test, c_test = x, coords
    elif test_coords is None:
        raise ValueError("test_coords are required with test_embeddings")
    else:
        x_test, c_test, _ = _check(
            test_embeddings, test_coords, np.zeros(len(test_embeddings), np.int64), model
        )
    test = _indices(test, len(x_test), "test")
    for idx, what in ((fit, "fit"), (val, "val")):
        counts = np.bincount(y[idx], minlength=2)
        if counts.min() == 0:
            raise ValueError(
                f"the {what} events hold {counts[1]} of label 1 and {counts[0]} of label 0; fine-tuning "
                "needs both classes in the fit and validation parts"
            )
    steps, batch_size, eval_every = int(steps), int(batch_size), int(eval_every)
    if steps < 1 or batch_size < 1 or eval_every < 1:
        raise ValueError(
            f"steps, batch_size and eval_every must be >= 1, got {steps}, {batch_size}, {eval_every}"
        )
    if not (head_lr > 0 and encoder_lr > 0):
        raise ValueError(f"learning rates must be positive, got head {head_lr}, encoder {encoder_lr}")

    device = model.device
    rng = np.random.default_rng(seed)
    xt, ct = torch.from_numpy(x).to(device), torch.from_numpy(coords).to(device)
    xt_test, ct_test = torch.from_numpy(x_test).to(device), torch.from_numpy(c_test).to(device)
    # class-balanced loss: a contiguous fold's fit part need not be balanced
    n1 = int(y[fit].sum())
    pos_weight = torch.tensor([(len(fit) - n1) / n1], device=device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = copy.deepcopy(model)
        net.finetune_head = nn.Linear(net.config.hidden_dim, 1).to(device)
        optim = torch.optim.AdamW(
            [
                {
                    "params": [p for n_, p in net.named_parameters() if not n_.startswith("finetune_head")],
                    "lr": encoder_lr,
                },
                {"params": net.finetune_head.parameters(), "lr": head_lr},
            ]
        )

        def logits(idx: np.ndarray, source=(xt, ct)) -> torch.Tensor:
            inputs, where = source
            cls = net(inputs[torch.from_numpy(idx).to(device)], where.expand(len(idx), -1, -1)).tokens[:, 0]
            return net.finetune_head(cls).squeeze(-1)

        def evaluate(idx: np.ndarray, source=(xt, ct)) -> np.ndarray:
            net.eval()
            with torch.no_grad():
                out = np.concatenate(
                    [logits(idx[k : k + 256], source).double().cpu().numpy() for k in range(0, len(idx), 256)]
                    or [np.empty(0)]
                )
            net.train()
            return out

        curve = [(0, roc_auc(y[val], evaluate(val)))]
        best_state, best = copy.deepcopy(net.state_dict()), curve[0]
        order, pos = rng.permutation(fit), 0
        net.train()
        for step in range(1, steps + 1):
            if pos + min(batch_size, len(fit)) > len(order):
                order, pos = rng.permutation(fit), 0
            batch = order[pos : pos + batch_size]
            pos += len(batch)
            loss = loss_fn(logits(batch), torch.from_numpy(y[batch]).float().to(device))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            if step % eval_every == 0 or step == steps:
                curve.append((step, roc_auc(y[val], evaluate(val))))
                if curve[-1][1] > best[1]:
                    best, best_state = curve[-1], copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        net.eval()
        scores = evaluate(test, (xt_test, ct_test))
    log.debug("PopT fine-tuned: step %d of %d chosen, validation AUC %.3f", best[0], steps, best[1])
    return FinetuneFit(
        step=int(best[0]),
        val_auc=float(best[1]),
        curve=np.asarray(curve, dtype=np.float64),
        scores=scores,
        model=net,
    )
