"""Pretraining PopT on one's own BrainBERT embeddings: the two published discrimination tasks.

The recipe of the official code (czlwang/PopulationTransformer@dadb55b), read from
``data/write_nsp_pretraining_data.py`` (the windows), ``data/make_pretrain_replace_manifest.py``
(``make_negative_any_task``: the pairs), ``datasets/nsp_replace_only_pretrain.py`` (the channel
subsets and the replaced tokens), ``criterions/nsp_replace_only_pretrain.py`` (the loss),
``conf/task/nsp_replace_only_pretrain.yaml`` (``replace_p: 0.1``),
``conf/exp/multi_elec_pretrain.yaml`` (LAMB, lr 5e-4, batch 256, 500 000 steps, clipping 1.0,
``ramp_up`` schedule) and ``schedulers/ramp_up.py``. Arrays in, history out; the only file
touched is the checkpoint whose path is given.

**Data.** One series per recording session: BrainBERT embeddings of consecutive 5 s windows
(upstream: a window every 0.2 s, ``separation_interval: 0.2``), shape (n_windows, n_electrodes,
d), and the electrodes' integer (L, I, P) coordinates (``depth-wm.csv``, no jitter:
``gaussian_blur: False`` in ``conf/data/nsp_replace_only_pretrain.yaml``).

**Pairs** (:func:`pair_manifest`, upstream ``make_negative_any_task``, drawn once, as upstream
writes its manifest once): for every window ``t`` of a series but the last, with probability
1/2 the second window is ``t + 1`` (label 0, "consecutive"), otherwise a window drawn uniformly
from the whole series (label 1, "random"; it may be ``t`` or ``t + 1``, as upstream's). A third
window, uniform over the series, supplies the replacement tokens.

**Channel subsets** (:func:`build_batch`, upstream ``NSPReplaceOnlyPretrain.__getitem__``, drawn
afresh at every use): the electrodes are shuffled and the first ``k`` kept, ``k`` uniform in
10, 20, ..., 100 (all of them when fewer); the first ``floor(k/2)`` form half 1, the rest half
2, each sorted back into electrode order. Half 1 reads window ``t``, half 2 the second window,
both at their own electrodes (the halves are disjoint). The model sees ``[CLS, half 1, half
2]`` with segment ids 0 and 1 (the CLS row is prepended by :class:`~.popt.PopT`).

**Replaced tokens** (upstream ``replace_tokens`` with ``replace_p = 0.1``): in each half, each
token is replaced with probability 0.05 (label 1) and, independently drawn, kept and scored
with probability 0.05 when not replaced (label 0); the other ~90 % are not scored. Upstream
shuffles the electrodes of the third window before indexing it with the token's electrode
(``input_x_3 = input_x_3[rand_indxs]``), so a replaced token is the embedding of a **random
electrode** of the third window (``replace_from="random_channel"``, the default).
``replace_from="same_channel"`` uses the token's own electrode of the third window instead,
the third window then drawn among the other windows (a variant, not upstream's).

**Loss** (:func:`popt_pretrain_loss`, upstream ``NSPReplaceOnlyPretrainCriterion``): binary
cross-entropy with logits of ``cls_head`` on the CLS token against the pair label (mean over
the batch), plus binary cross-entropy of ``token_cls_head`` against 1 (replaced) / 0 (kept) on
the scored tokens (mean over all scored tokens of the batch); the sum is minimised. Upstream's
mean of an empty set is NaN; here an empty token term is 0.

**Optimisation** (:func:`pretrain_popt`): LAMB (``torch_optimizer.Lamb``, its defaults) at lr
5e-4, batch 256, gradients clipped to norm 1.0, upstream's ``ramp_up`` schedule
(:func:`popt_learning_rate`: linear warm-up over 2.5 % of the steps from 0, then x 0.99 every
``int((steps - warmup) / 100)`` steps; PopT's ``ramp_up`` truncates that step size to an
integer, BrainBERT's does not). ``optimizer="adamw"`` and ``schedule="constant"`` are offered
too. Dropout is on during training, as upstream's.

**Reproducible and resumable.** Every random choice of step ``k`` comes from seeds derived from
``(seed, k)``: the pairs of the step (a seeded permutation of all pairs per epoch), the channel
subsets and replacements, and dropout (the global torch RNG is seeded inside
:func:`torch.random.fork_rng`). A run resumed from a checkpoint takes the same steps as one
never interrupted, bit for bit on the CPU.

**Checkpoints** are written by :func:`~.popt.save_popt_checkpoint` in upstream's layout
(``model``, ``optim``, ``model_cfg``, ``scheduler``); ``scheduler`` holds the run's state as
plain data (``{"name": "mmsites.popt_pretrain", "step", "schedule", "run", "history"}``).
Upstream's code and :meth:`~.popt.PopT.from_pretrained` load them.

**Held-out check** (:func:`popt_validation`): both tasks on held-out series, with pairs,
subsets and replacements fixed by the seed (the same at every evaluation): loss, accuracy
(logit > 0) and ROC-AUC of each task. Chance is an AUC of 0.5; for the accuracies, the share of
the majority label (about 0.5 for both tasks) is reported beside them.

**Several processes.** When :mod:`torch.distributed` is initialised, the model is wrapped in
``DistributedDataParallel`` (``find_unused_parameters``: the spec head is not in the loss), each
step's batch (``batch_size`` examples in all, the same examples as a single process draws) is
split across the ranks (rank ``r`` takes examples ``r, r + world, ...``; DDP averages the
ranks' gradients), and rank 0 writes the checkpoints.

Only the examples, the loss and the held-out check are PopT's own: the optimizer, schedule,
seeds, checkpoints, resumption and processes are BrainBERT's loop (:mod:`.training`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from mmsites.device import resolve_device

from .popt import _POPT, PopT, save_popt_checkpoint
from .training import RunSettings, TrainingRecipe, _autocast, _check_positive, ramp_up_rate, train

__all__ = [
    "CHANNEL_CHOICES",
    "REPLACE_P",
    "REPLACE_FROM",
    "PoptSeries",
    "PairManifest",
    "PoptBatch",
    "PoptLoss",
    "as_series",
    "pair_manifest",
    "build_batch",
    "popt_pretrain_loss",
    "popt_learning_rate",
    "popt_validation",
    "roc_auc",
    "pretrain_popt",
]

log = logging.getLogger(__name__)

#: Sizes of the channel subset, drawn uniformly (upstream ``random.choices([10, ..., 100])``).
CHANNEL_CHOICES: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
#: Upstream's ``replace_p``: a token is replaced with ``REPLACE_P / 2`` and kept-and-scored with
#: ``REPLACE_P / 2`` (when not replaced).
REPLACE_P: float = 0.1
#: Where a replaced token comes from: upstream's random electrode of the third window, or the
#: token's own electrode of another window.
REPLACE_FROM: tuple[str, ...] = ("random_channel", "same_channel")

# token labels of a batch (upstream's replace_label: 0 not scored, 1 replaced, 2 kept)
_NONE, _REPLACED, _KEPT, _PAD = 0, 1, 2, -1
# random streams: every draw is seeded by (seed, stream, ...); 0 (the order) and 2 (dropout) are
# the shared loop's (training.ORDER_STREAM, DROPOUT_STREAM)
_SAMPLE, _VAL, _MANIFEST, _VAL_MANIFEST = 1, 3, 4, 5


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoptSeries:
    """One recording session's embeddings of consecutive windows and its electrodes' places.

    Attributes
    ----------
    embeddings : array_like, shape (n_windows, n_electrodes, d)
        BrainBERT embeddings of consecutive 5 s windows (upstream: one every 0.2 s), each row
        an electrode; a numpy array or a memory map (only the rows of each batch are read).
    coords : ndarray of int64, shape (n_electrodes, 3)
        The electrodes' integer (L, I, P) coordinates
        (:func:`~mmsites.brainmodels.lip_coordinates`).
    name : str
        A name for messages (e.g. ``"sub_1 trial000"``).
    """

    embeddings: Any
    coords: np.ndarray
    name: str = ""

    @property
    def n_windows(self) -> int:
        """Windows of the series.

        Returns
        -------
        int
            ``embeddings.shape[0]``.
        """
        return int(self.embeddings.shape[0])

    @property
    def n_electrodes(self) -> int:
        """Electrodes of the series.

        Returns
        -------
        int
            ``embeddings.shape[1]``.
        """
        return int(self.embeddings.shape[1])


def as_series(
    data, input_dim: int | None = None, max_len: int = 5000, what: str = "data"
) -> list[PoptSeries]:
    """Check and normalise the training (or held-out) data into a list of :class:`PoptSeries`.

    Parameters
    ----------
    data : PoptSeries, Mapping or Sequence
        A :class:`PoptSeries`, a sequence of them or of ``(embeddings, coords)`` pairs, or a
        mapping ``name -> (embeddings, coords)`` (or ``name -> PoptSeries``).
    input_dim : int or None
        The embeddings' width the model expects; None: not checked.
    max_len : int
        Coordinates must lie in ``[0, max_len)`` (the rows of PopT's sinusoid table).
    what : str
        The argument's name, for messages.

    Returns
    -------
    list of PoptSeries
        The series, coordinates as int64 arrays.

    Raises
    ------
    ValueError
        If a series has fewer than 2 windows or 2 electrodes, a shape disagrees, or a
        coordinate is not a whole number in range.
    """
    if isinstance(data, PoptSeries):
        items = [data]
    elif isinstance(data, Mapping):
        items = [
            value if isinstance(value, PoptSeries) else PoptSeries(value[0], value[1], str(name))
            for name, value in data.items()
        ]
    elif isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        items = [
            item if isinstance(item, PoptSeries) else PoptSeries(item[0], item[1], f"series {i}")
            for i, item in enumerate(data)
        ]
    else:
        raise ValueError(
            f"{what} must be a PoptSeries, a sequence of them or of (embeddings, coords) pairs, or a "
            f"mapping of names to such pairs; got {type(data).__name__}"
        )
    if not items:
        raise ValueError(f"{what} holds no series")
    out = []
    for series in items:
        name = series.name or f"series {len(out)}"
        shape = tuple(getattr(series.embeddings, "shape", np.shape(series.embeddings)))
        if len(shape) != 3 or shape[0] < 2 or shape[1] < 2:
            raise ValueError(
                f"{what}: {name}: embeddings must have shape (n_windows >= 2, n_electrodes >= 2, d), "
                f"got {shape}"
            )
        if input_dim is not None and shape[2] != input_dim:
            raise ValueError(
                f"{what}: {name}: embeddings are {shape[2]} wide but the model reads {input_dim} "
                "(PopT's input_dim must be the BrainBERT's hidden_dim)"
            )
        coords = np.asarray(series.coords)
        if coords.shape != (shape[1], 3):
            raise ValueError(f"{what}: {name}: coords must have shape ({shape[1]}, 3), got {coords.shape}")
        if (
            coords.dtype.kind not in "iuf"
            or not np.isfinite(coords).all()
            or (coords != np.round(coords)).any()
        ):
            raise ValueError(f"{what}: {name}: coords must be whole numbers (lip_coordinates)")
        if coords.min() < 0 or coords.max() >= max_len:
            raise ValueError(
                f"{what}: {name}: coords must lie in [0, {max_len - 1}], got [{coords.min()}, {coords.max()}]"
            )
        embeddings = series.embeddings
        if not hasattr(embeddings, "shape"):
            embeddings = np.asarray(embeddings, dtype=np.float32)
        out.append(PoptSeries(embeddings, coords.astype(np.int64), name))
    return out


class PairManifest(NamedTuple):
    """The pairs of windows of the ensemble-wise task, one row per example.

    Attributes
    ----------
    series : ndarray of int64, shape (n,)
        The series of each example.
    window : ndarray of int64, shape (n,)
        Half 1's window ``t``.
    partner : ndarray of int64, shape (n,)
        Half 2's window: ``t + 1`` (label 0) or a random window of the series (label 1).
    label : ndarray of int64, shape (n,)
        0 consecutive, 1 random.
    third : ndarray of int64, shape (n,)
        The window the replaced tokens come from.
    """

    series: np.ndarray
    window: np.ndarray
    partner: np.ndarray
    label: np.ndarray
    third: np.ndarray


def pair_manifest(
    n_windows: Sequence[int], seed: int, *, replace_from: str = "random_channel", stream: int = _MANIFEST
) -> PairManifest:
    """Draw the pairs as upstream's ``make_negative_any_task`` does, once per window.

    Parameters
    ----------
    n_windows : sequence of int
        Windows of each series (each at least 2).
    seed : int
        Seed of the draw.
    replace_from : {"random_channel", "same_channel"}
        With ``"same_channel"`` the third window is drawn among the windows other than ``t``
        (so a replaced token differs from the one it replaces); upstream's draw (any window)
        otherwise.
    stream : int
        Sub-stream of the seed (training and held-out manifests differ).

    Returns
    -------
    PairManifest
        One row per window ``t < n - 1`` of each series, series by series: with probability
        1/2 partner ``t + 1`` and label 0, else partner uniform over ``0 .. n - 1`` and label
        1; the third window uniform over ``0 .. n - 1`` (excluding ``t`` for
        ``"same_channel"``).

    Raises
    ------
    ValueError
        If a series has fewer than 2 windows or ``replace_from`` is unknown.
    """
    if replace_from not in REPLACE_FROM:
        raise ValueError(f"replace_from must be one of {REPLACE_FROM}, got {replace_from!r}")
    rows = []
    for s, n in enumerate(n_windows):
        n = int(n)
        if n < 2:
            raise ValueError(f"series {s} has {n} window(s): pairs need at least 2")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), stream, s]))
        t = np.arange(n - 1, dtype=np.int64)
        coin = rng.random(n - 1)
        random_partner = rng.integers(0, n, size=n - 1)
        label = (coin >= 0.5).astype(np.int64)
        partner = np.where(label == 0, t + 1, random_partner)
        if replace_from == "same_channel":
            third = rng.integers(0, n - 1, size=n - 1)
            third = third + (third >= t)
        else:
            third = rng.integers(0, n, size=n - 1)
        rows.append((np.full(n - 1, s, np.int64), t, partner.astype(np.int64), label, third.astype(np.int64)))
    return PairManifest(*(np.concatenate(parts) for parts in zip(*rows)))


class PoptBatch(NamedTuple):
    """A padded batch of examples of both tasks, and where every token came from.

    Attributes
    ----------
    embeddings : torch.Tensor of float32, shape (batch, length, d)
        Half 1's tokens then half 2's (replacements applied), zero at padding; no CLS row.
    coords : torch.Tensor of int64, shape (batch, length, 3)
        Each token's electrode's (L, I, P); 0 at padding.
    seq_id : torch.Tensor of int64, shape (batch, length)
        0 for half 1, 1 for half 2 (0 at padding).
    padding_mask : torch.Tensor of bool, shape (batch, length)
        True at padding.
    cls_label : torch.Tensor of float32, shape (batch,)
        0: half 2 from the next window; 1: from a random window.
    token_label : torch.Tensor of int64, shape (batch, length)
        0 not scored, 1 replaced, 2 kept and scored (target 0), -1 padding.
    example : ndarray of int64, shape (batch,)
        The manifest row of each example.
    channel : ndarray of int64, shape (batch, length)
        The electrode (of its series) each position stands for; -1 at padding.
    source_window : ndarray of int64, shape (batch, length)
        The window each token's embedding was read from; -1 at padding.
    source_channel : ndarray of int64, shape (batch, length)
        The electrode each token's embedding was read from (differs from ``channel`` only
        where replaced from a random electrode); -1 at padding.
    """

    embeddings: torch.Tensor
    coords: torch.Tensor
    seq_id: torch.Tensor
    padding_mask: torch.Tensor
    cls_label: torch.Tensor
    token_label: torch.Tensor
    example: np.ndarray
    channel: np.ndarray
    source_window: np.ndarray
    source_channel: np.ndarray


def _rows(embeddings, window: int, channels: np.ndarray) -> np.ndarray:
    """``embeddings[window][channels]`` as float32 (a memory map reads one window's row)."""
    return np.asarray(embeddings[int(window)], dtype=np.float32)[channels]


def _example(
    series: PoptSeries,
    row: int,
    manifest: PairManifest,
    rng: np.random.Generator,
    replace_p: float,
    replace_from: str,
    channel_choices: Sequence[int],
) -> dict:
    """One example, its random draws in upstream's order (third window's shuffle, subset, halves)."""
    n = series.n_electrodes
    t, partner, third = (int(manifest.window[row]), int(manifest.partner[row]), int(manifest.third[row]))
    shuffled = rng.permutation(n) if replace_from == "random_channel" else np.arange(n)
    order = rng.permutation(n)
    k = int(channel_choices[rng.integers(len(channel_choices))])
    subset = order[:k]
    half = len(subset) // 2
    halves = (np.sort(subset[:half]), np.sort(subset[half:]))
    parts = []
    for seq, (channels, window) in enumerate(zip(halves, (t, partner))):
        replaced = rng.random(len(channels)) < replace_p / 2
        kept = (rng.random(len(channels)) < replace_p / 2) & ~replaced
        x = _rows(series.embeddings, window, channels)
        source_channel = channels.copy()
        source_window = np.full(len(channels), window, np.int64)
        if replaced.any():
            source_channel[replaced] = shuffled[channels[replaced]]
            source_window[replaced] = third
            x[replaced] = _rows(series.embeddings, third, source_channel[replaced])
        label = np.where(replaced, _REPLACED, np.where(kept, _KEPT, _NONE))
        parts.append((x, channels, np.full(len(channels), seq), label, source_window, source_channel))
    x, channels, seq_id, label, source_window, source_channel = (np.concatenate(p) for p in zip(*parts))
    return dict(
        x=x,
        channel=channels.astype(np.int64),
        coords=series.coords[channels],
        seq_id=seq_id.astype(np.int64),
        token_label=label.astype(np.int64),
        source_window=source_window,
        source_channel=source_channel.astype(np.int64),
        cls_label=float(manifest.label[row]),
        example=int(row),
    )


def _collate(examples: list[dict], d: int) -> PoptBatch:
    batch = len(examples)
    length = max(len(e["x"]) for e in examples)
    x = np.zeros((batch, length, d), np.float32)
    coords = np.zeros((batch, length, 3), np.int64)
    seq_id = np.zeros((batch, length), np.int64)
    pad = np.ones((batch, length), bool)
    token_label = np.full((batch, length), _PAD, np.int64)
    channel, source_window, source_channel = (np.full((batch, length), -1, np.int64) for _ in range(3))
    for b, e in enumerate(examples):
        m = len(e["x"])
        x[b, :m], coords[b, :m], seq_id[b, :m] = e["x"], e["coords"], e["seq_id"]
        pad[b, :m] = False
        token_label[b, :m] = e["token_label"]
        channel[b, :m], source_window[b, :m] = e["channel"], e["source_window"]
        source_channel[b, :m] = e["source_channel"]
    if not np.isfinite(x).all():
        bad = sorted({examples[b]["example"] for b in np.flatnonzero(~np.isfinite(x).all(axis=(1, 2)))})
        raise ValueError(
            f"the embeddings of manifest rows {bad[:5]} hold NaN or infinite values: drop the "
            "electrodes without finite embeddings"
        )
    return PoptBatch(
        torch.from_numpy(x),
        torch.from_numpy(coords),
        torch.from_numpy(seq_id),
        torch.from_numpy(pad),
        torch.tensor([e["cls_label"] for e in examples], dtype=torch.float32),
        torch.from_numpy(token_label),
        np.array([e["example"] for e in examples], np.int64),
        channel,
        source_window,
        source_channel,
    )


def _examples(
    series: list[PoptSeries],
    manifest: PairManifest,
    rows: np.ndarray,
    rng: np.random.Generator,
    replace_p: float,
    replace_from: str,
    channel_choices: Sequence[int],
) -> list[dict]:
    return [
        _example(
            series[int(manifest.series[r])], int(r), manifest, rng, replace_p, replace_from, channel_choices
        )
        for r in rows
    ]


def build_batch(
    series,
    manifest: PairManifest,
    rows,
    rng: np.random.Generator,
    *,
    replace_p: float = REPLACE_P,
    replace_from: str = "random_channel",
    channel_choices: Sequence[int] = CHANNEL_CHOICES,
) -> PoptBatch:
    """Build the examples of the given manifest rows (see the module docstring for the rules).

    Parameters
    ----------
    series : list of PoptSeries or data accepted by :func:`as_series`
        The series the manifest indexes.
    manifest : PairManifest
        The pairs (:func:`pair_manifest`).
    rows : array_like of int
        Manifest rows, one example each, in batch order.
    rng : numpy.random.Generator
        Source of the channel subsets and replacements.
    replace_p : float
        Upstream's ``replace_p``: each token replaced with ``replace_p / 2``, else kept and
        scored with ``replace_p / 2``.
    replace_from : {"random_channel", "same_channel"}
        A replaced token is a random electrode of the third window (upstream) or the token's
        own electrode of it.
    channel_choices : sequence of int
        Sizes of the channel subset, drawn uniformly (capped at the series' electrodes).

    Returns
    -------
    PoptBatch
        The padded batch, with each token's provenance.

    Raises
    ------
    ValueError
        If ``replace_from`` is unknown, ``replace_p`` is not in [0, 1] or an embedding read is
        not finite.
    """
    if replace_from not in REPLACE_FROM:
        raise ValueError(f"replace_from must be one of {REPLACE_FROM}, got {replace_from!r}")
    if not 0.0 <= float(replace_p) <= 1.0:
        raise ValueError(f"replace_p must be in [0, 1], got {replace_p!r}")
    if not isinstance(series, list) or not all(isinstance(s, PoptSeries) for s in series):
        series = as_series(series)
    rows = np.asarray(rows, dtype=np.int64).ravel()
    examples = _examples(series, manifest, rows, rng, replace_p, replace_from, channel_choices)
    return _collate(examples, int(series[0].embeddings.shape[2]))


# ---------------------------------------------------------------------------------------------
# loss, schedule, metrics
# ---------------------------------------------------------------------------------------------


class PoptLoss(NamedTuple):
    """The pretraining loss and its two terms.

    Attributes
    ----------
    loss : torch.Tensor
        ``cls_loss + token_loss`` (scalar, differentiable).
    cls_loss : torch.Tensor
        Mean binary cross-entropy of the CLS logits against the pair labels.
    token_loss : torch.Tensor
        Mean binary cross-entropy of the scored tokens' logits (0 when none is scored).
    n_tokens : int
        Scored tokens.
    """

    loss: torch.Tensor
    cls_loss: torch.Tensor
    token_loss: torch.Tensor
    n_tokens: int


def popt_pretrain_loss(
    cls_logits: torch.Tensor, token_logits: torch.Tensor, cls_label: torch.Tensor, token_label: torch.Tensor
) -> PoptLoss:
    """PopT's pretraining loss (upstream ``NSPReplaceOnlyPretrainCriterion``).

    Parameters
    ----------
    cls_logits : torch.Tensor, shape (batch, 1) or (batch,)
        ``cls_head`` on the CLS token.
    token_logits : torch.Tensor, shape (batch, length, 1) or (batch, length)
        ``token_cls_head`` on each electrode token.
    cls_label : torch.Tensor, shape (batch,)
        0 consecutive, 1 random.
    token_label : torch.Tensor of int, shape (batch, length)
        1 replaced, 2 kept and scored (target 0); other values are not scored.

    Returns
    -------
    PoptLoss
        ``loss = cls_loss + token_loss``, each a mean of ``binary_cross_entropy_with_logits``
        (the token term over the batch's scored tokens, 0 when there are none).

    Raises
    ------
    ValueError
        If the shapes disagree.
    """
    cls_logits = cls_logits.reshape(len(cls_label)) if cls_logits.ndim == 2 else cls_logits
    if token_logits.ndim == 3:
        token_logits = token_logits[..., 0]
    if cls_logits.shape != cls_label.shape or token_logits.shape != token_label.shape:
        raise ValueError(
            f"cls logits {tuple(cls_logits.shape)} vs labels {tuple(cls_label.shape)}, token logits "
            f"{tuple(token_logits.shape)} vs labels {tuple(token_label.shape)}: shapes must match"
        )
    cls_loss = F.binary_cross_entropy_with_logits(cls_logits.float(), cls_label.float())
    scored = (token_label == _REPLACED) | (token_label == _KEPT)
    n_tokens = int(scored.sum())
    if n_tokens:
        target = (token_label[scored] == _REPLACED).float()
        token_loss = F.binary_cross_entropy_with_logits(token_logits[scored].float(), target)
    else:
        token_loss = token_logits.float().sum() * 0.0
    return PoptLoss(cls_loss + token_loss, cls_loss, token_loss, n_tokens)


def popt_learning_rate(
    step: int, *, lr: float, steps: int, warmup_steps: int | None = None, schedule: str = "official"
) -> float:
    """The learning rate of update ``step`` (0-based) of a run of ``steps`` updates: PopT's ``ramp_up``.

    :func:`~.training.ramp_up_rate` with a decay step size of ``int((steps - warmup) / 100)``
    updates, at least 1 (upstream PopT's ``StepLR(step_size=int(...))``).

    Parameters
    ----------
    step, lr, steps, warmup_steps, schedule : ramp_up_rate arguments
        The update's index (from 0), the peak rate (upstream 5e-4), the run's length, the
        warm-up (None: ``int(0.025 * steps)``) and ``"official"`` or ``"constant"``.

    Returns
    -------
    float
        The rate (:func:`~.training.ramp_up_rate`).
    """
    return ramp_up_rate(
        step, lr=lr, steps=steps, warmup_steps=warmup_steps, schedule=schedule, whole_step_size=True
    )


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted one half).

    Parameters
    ----------
    labels : array_like of {0, 1}
        True classes.
    scores : array_like of float
        Scores, higher meaning class 1.

    Returns
    -------
    float
        The AUC in [0, 1]; NaN when one class is absent.
    """
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _forward(net, batch: PoptBatch, device: torch.device, bf16: bool):
    with _autocast(device, bf16):
        out = net(
            batch.embeddings.to(device, non_blocking=True),
            batch.coords.to(device, non_blocking=True),
            batch.seq_id.to(device, non_blocking=True),
            batch.padding_mask.to(device, non_blocking=True),
        )
    return out.cls_logits.float(), out.token_logits.float()


@torch.no_grad()
def popt_validation(
    model: PopT,
    data,
    *,
    batch_size: int = 64,
    seed: int = 0,
    n_samples: int | None = None,
    replace_p: float = REPLACE_P,
    replace_from: str = "random_channel",
    device: str | torch.device | None = None,
    bf16: bool = False,
) -> dict:
    """Both tasks on held-out series: losses, accuracies and ROC-AUCs.

    The pairs come from a manifest seeded by ``seed`` and the subsets and replacements of
    batch ``b`` from ``(seed, b)``: the same examples at every call, so that evaluations during
    a run are comparable.

    Parameters
    ----------
    model : PopT
        The model (with its token head), evaluated in eval mode, then put back in its mode.
    data : list of PoptSeries or data accepted by :func:`as_series`
        Held-out series.
    batch_size : int
        Examples per forward pass (the draws depend on it).
    seed : int
        Seed of the examples.
    n_samples : int or None
        Examples evaluated, cycling over the manifest's rows (each with fresh subsets);
        None: ``max(rows, 512)``.
    replace_p : float
        Upstream's ``replace_p``.
    replace_from : {"random_channel", "same_channel"}
        As in training.
    device : str or torch.device, optional
        Where to run; None: the model's device.
    bf16 : bool
        Run under bfloat16 autocast on CUDA.

    Returns
    -------
    dict
        ``loss``, ``cls_loss``, ``token_loss`` (means over examples and scored tokens),
        ``cls_accuracy``, ``cls_auc``, ``token_accuracy``, ``token_auc`` (logit > 0 means
        "random window" / "replaced"), ``cls_majority`` and ``token_majority`` (the share of
        the commoner label: the accuracy of always guessing it), ``n_examples``,
        ``n_tokens``.

    Raises
    ------
    ValueError
        If the data do not fit the model or the model has no token head.
    """
    if not model.config.token_cls_head:
        raise ValueError("the token task needs a PopT with token_cls_head (PopTConfig.token_cls_head)")
    series = as_series(data, model.config.input_dim, model.config.max_len, "val")
    manifest = pair_manifest(
        [s.n_windows for s in series], seed, replace_from=replace_from, stream=_VAL_MANIFEST
    )
    n_rows = len(manifest.window)
    n = max(n_rows, 512) if n_samples is None else int(n_samples)
    _check_positive(batch_size=batch_size, n_samples=n)
    device = model.device if device is None else resolve_device(device)
    rows_all = np.arange(n) % n_rows
    cls_logit, cls_label, tok_logit, tok_label = [], [], [], []
    was_training = model.training
    model.eval()
    try:
        for b, start in enumerate(range(0, n, int(batch_size))):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), _VAL, b]))
            batch = build_batch(
                series,
                manifest,
                rows_all[start : start + batch_size],
                rng,
                replace_p=replace_p,
                replace_from=replace_from,
            )
            c, t = _forward(model, batch, device, bf16)
            scored = (batch.token_label == _REPLACED) | (batch.token_label == _KEPT)
            cls_logit.append(c[:, 0].cpu().numpy())
            cls_label.append(batch.cls_label.numpy())
            tok_logit.append(t[..., 0].cpu()[scored].numpy())
            tok_label.append((batch.token_label[scored] == _REPLACED).numpy())
    finally:
        model.train(was_training)
    out = {}
    for task, logits, labels in (
        ("cls", np.concatenate(cls_logit), np.concatenate(cls_label)),
        ("token", np.concatenate(tok_logit), np.concatenate(tok_label).astype(np.float32)),
    ):
        if len(labels):
            loss = float(
                F.binary_cross_entropy_with_logits(torch.from_numpy(logits), torch.from_numpy(labels))
            )
            accuracy = float(((logits > 0) == (labels > 0.5)).mean())
            positive = float(labels.mean())
        else:
            loss, accuracy, positive = 0.0, float("nan"), float("nan")
        out[f"{task}_loss"] = loss
        out[f"{task}_accuracy"] = accuracy
        out[f"{task}_auc"] = roc_auc(labels, logits)
        out[f"{task}_majority"] = max(positive, 1 - positive) if len(labels) else float("nan")
    out["loss"] = out["cls_loss"] + out["token_loss"]
    out["n_examples"] = int(n)
    out["n_tokens"] = int(sum(len(x) for x in tok_label))
    return out


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------

_VAL_KEYS = ("loss", "cls_loss", "token_loss", "cls_accuracy", "cls_auc", "token_accuracy", "token_auc")


def pretrain_popt(
    model: PopT,
    data,
    *,
    steps: int,
    batch_size: int = 256,
    lr: float = 5e-4,
    optimizer: str = "lamb",
    schedule: str = "official",
    warmup_steps: int | None = None,
    clip_norm: float | None = 1.0,
    checkpoint: str | PathLike | None = None,
    checkpoint_every: int = 1000,
    resume: bool = True,
    val=None,
    val_every: int | None = None,
    val_batch_size: int | None = None,
    val_samples: int | None = None,
    replace_p: float = REPLACE_P,
    replace_from: str = "random_channel",
    device: str | torch.device = "cpu",
    bf16: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Pretrain PopT on both published tasks (ensemble-wise and channel-wise discrimination).

    Each step: ``batch_size`` pairs (a seeded permutation of the manifest per epoch), their
    examples (:func:`build_batch`), the model's CLS and token logits,
    :func:`popt_pretrain_loss`, backward, gradients clipped to ``clip_norm``, one optimizer
    step at :func:`popt_learning_rate`. See the module docstring for the recipe, the seeds and
    the checkpoint's contents.

    Parameters
    ----------
    model : PopT
        The model to train, in place (moved to ``device``; left in train mode); it needs its
        token head.
    data : PoptSeries, sequence or mapping
        Training series (:func:`as_series`): BrainBERT embeddings of consecutive windows
        (n_windows, n_electrodes, ``model.config.input_dim``) and integer (L, I, P)
        coordinates (n_electrodes, 3), one series per session.
    steps, batch_size, lr, optimizer, schedule, warmup_steps, clip_norm : RunSettings fields
        The optimisation (:class:`~.training.RunSettings`; the schedule
        :func:`popt_learning_rate`), ``batch_size`` examples per step over all processes.
        Upstream: 500 000 steps, 256 examples, lr 5e-4, LAMB, ``"official"``, a warm-up of
        2.5 % of the steps, clipping 1.0.
    checkpoint, checkpoint_every, resume : RunSettings fields
        The ``.pth`` file written every ``checkpoint_every`` steps (upstream: 1000) and at the
        end, in upstream's layout (None: none written), and whether a run continues from it
        or starts over and overwrites it.
    val : PoptSeries, sequence or mapping, optional
        Held-out series, evaluated (:func:`popt_validation`) before the first step, every
        ``val_every`` steps and at the end.
    val_every, val_batch_size : RunSettings fields
        Steps between evaluations (None: ``checkpoint_every``) and examples per evaluation
        batch (None: ``batch_size``).
    val_samples : int or None
        Examples per evaluation; None: ``max(held-out pairs, 512)``.
    replace_p : float
        Upstream's ``replace_p`` (0.1).
    replace_from : {"random_channel", "same_channel"}
        Where a replaced token comes from (upstream: a random electrode of the third window).
    device, bf16, seed, progress : RunSettings fields
        Where it runs (``"auto"``: CUDA when there is one), bfloat16 autocast of the forward
        pass on CUDA, the seed of every random choice, a progress bar (rank 0).

    Returns
    -------
    dict
        The history: ``step`` (1-based), ``train_loss``, ``train_cls_loss``,
        ``train_token_loss`` and ``lr`` per step; ``val_step`` (0 = before training) and
        ``val_loss``, ``val_cls_loss``, ``val_token_loss``, ``val_cls_accuracy``,
        ``val_cls_auc``, ``val_token_accuracy``, ``val_token_auc`` per evaluation;
        ``val_cls_majority``, ``val_token_majority`` (the accuracy of always guessing the
        commoner label; None without ``val``). A resumed run's history includes the steps
        before the interruption.

    Raises
    ------
    ValueError
        If an argument is invalid, the data do not fit the model or hold non-finite values,
        or the checkpoint to resume from belongs to another model or optimizer.

    Examples
    --------
    >>> model = PopT("published", seed=0)
    >>> history = pretrain_popt(model, {"sub_1": (emb, lip)}, steps=500_000,
    ...                         checkpoint="work/popt/checkpoint.pth")  # doctest: +SKIP
    """
    if not isinstance(model, PopT):
        raise ValueError(f"model must be a PopT, got {type(model).__name__}")
    if not model.config.token_cls_head:
        raise ValueError("the channel-wise task needs a PopT with token_cls_head (PopTConfig.token_cls_head)")
    run = RunSettings.of(locals())  # the arguments every pretraining takes, checked
    device = run.device
    if replace_from not in REPLACE_FROM:
        raise ValueError(f"replace_from must be one of {REPLACE_FROM}, got {replace_from!r}")
    if not 0.0 <= float(replace_p) <= 1.0:
        raise ValueError(f"replace_p must be in [0, 1], got {replace_p!r}")
    c = model.config
    series = as_series(data, c.input_dim, c.max_len, "data")
    val_series = None if val is None else as_series(val, c.input_dim, c.max_len, "val")
    manifest = pair_manifest([s.n_windows for s in series], seed, replace_from=replace_from)
    n_examples = len(manifest.window)

    def _batch(rows: np.ndarray, step: int, rank: int, world: int) -> PoptBatch:
        # every rank draws all the step's examples (the same as one process), then keeps its share
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SAMPLE, step]))
        examples = _examples(series, manifest, rows, rng, replace_p, replace_from, CHANNEL_CHOICES)
        return _collate(examples[rank::world], c.input_dim)

    def _loss(net, batch: PoptBatch) -> tuple:
        cls_logits, token_logits = _forward(net, batch, device, bf16)
        result = popt_pretrain_loss(
            cls_logits, token_logits, batch.cls_label.to(device), batch.token_label.to(device)
        )
        return result.loss, result.cls_loss, result.token_loss

    def _evaluate(step: int) -> dict:
        scores = popt_validation(
            model,
            val_series,
            batch_size=run.val_batch_size,
            seed=seed,
            n_samples=val_samples,
            replace_p=replace_p,
            replace_from=replace_from,
            bf16=bf16,
        )
        log.info(
            "step %d: held-out ensemble task accuracy %.3f (AUC %.3f), channel task accuracy %.3f "
            "(AUC %.3f); majority %.3f / %.3f",
            step,
            scores["cls_accuracy"],
            scores["cls_auc"],
            scores["token_accuracy"],
            scores["token_auc"],
            scores["cls_majority"],
            scores["token_majority"],
        )
        return scores

    return train(
        model,
        _RECIPE,
        run,
        n_examples=n_examples,
        batch=_batch,
        loss=_loss,
        evaluate=None if val_series is None else _evaluate,
        learning_rate=popt_learning_rate,
        settings=dict(
            replace_p=float(replace_p),
            replace_from=replace_from,
            n_series=len(series),
            n_examples=int(n_examples),
        ),
        desc="pretrain popt",
    )


_RECIPE = TrainingRecipe(
    name="mmsites.popt_pretrain",
    command="pretrain_popt",
    layout=_POPT,
    save=save_popt_checkpoint,
    losses=("loss", "cls_loss", "token_loss"),
    validation={
        **{f"val_{key}": [] for key in _VAL_KEYS},
        "val_cls_majority": None,
        "val_token_majority": None,
    },
    compared=("seed", "batch_size", "n_examples", "world_size", "replace_from"),
    ddp=dict(find_unused_parameters=True),  # the spec head is not in the loss (upstream's neither)
)
