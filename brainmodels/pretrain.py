"""Pretraining BrainBERT on one's own recordings: masked-spectrogram reconstruction.

The published recipe (Wang et al. 2023), read from the official code (czlwang/BrainBERT@beec35d:
``util/mask_utils.py`` ``fixed_mask_inputs``, ``criterions/pretrain_masked_criterion.py``,
``runner.py``, ``schedulers/ramp_up.py``, ``conf/exp/spec2vec.yaml`` and the README's
pretraining command). Arrays in, history out; the only file touched is the checkpoint whose path
is given.

**Masking** (:func:`mask_spectrograms`, per spectrogram of ``T`` frames x ``F`` bins):

time spans
    a span may start at frame ``i`` for ``i < T - 5``; walking ``i`` upwards, a start is
    drawn with p = 0.05 and kept when it lies after the end of the previous kept span (spans
    never touch: at least one unmasked frame between two); its length is uniform in 1..5
    frames. Each span is, with p = 0.8, set to 0, with p = 0.1 replaced by the frames
    ``r .. r + length - 1`` of the same (unmasked) spectrogram, ``r`` uniform in
    ``0 .. T - 6`` (upstream's "swap": other frames of the same window, all bins), and with
    p = 0.1 left as it is.
frequency spans
    the same over the bins (starts ``i < F - 2``, p = 0.05, lengths 1..2), applied after the
    time spans: a zeroed span sets its bins to 0 in every frame, a swapped one copies the bins
    ``r .. r + length - 1`` (``r`` uniform in ``0 .. F - 3``) of the unmasked spectrogram over
    every frame (so it overwrites the time masking in those bins), a kept one leaves the
    time-masked input as it is.
the loss mask
    every cell of a time span (all bins of its frames) and every cell of a frequency span (all
    frames of its bins), whatever was done to it (kept spans count, as in BERT).

Upstream's bug, and what is implemented: after the time spans, ``fixed_mask_inputs`` marks
``mask_label[:, start:end] = 1`` for each *time* span, i.e. it labels the frequency *bins*
numbered like the masked frames (those below 40), and it never labels the frequency spans at
all: the frequency masks corrupt the input but never enter the loss, while bins that were never
masked do. Here the frequency spans are labelled (the intended behaviour);
``upstream_bug=True`` reproduces upstream's labels for comparison. The random numbers are drawn
with a :class:`torch.Generator` in whole arrays (a start, a length, a die and a source per
position), so the spans follow upstream's distribution, not its random stream.

**Loss** (:func:`masked_l1_loss`, upstream ``PretrainMaskedCriterion`` with ``alpha: 2``):
``mean(|target - prediction|)`` over the masked cells of the whole batch, plus
``2 x mean(|target - prediction|)`` over the masked cells whose ``|target| > 1`` (the
"content-aware" term; each mean over its own cells of the batch, pooled across windows).
Upstream's mean of an empty set is NaN; here an empty term is 0.

**Optimisation** (:func:`pretrain`): LAMB (``torch_optimizer.Lamb``, its defaults) at lr 1e-4,
batch 256, 500 000 steps in the README's command (``conf/exp/spec2vec.yaml``: 400 000),
gradients clipped to norm 1.0, the ``ramp_up`` schedule: linear warm-up over the first 2.5 % of
the steps from lr 0 (the first update has lr 0, as upstream's), then x 0.99 every 1 % of the
remaining steps (upstream's ``GradualWarmupScheduler`` into ``StepLR(step_size=(steps -
warmup) / 100, gamma=0.99)``; :func:`learning_rate`). ``optimizer="adamw"`` (torch's AdamW,
weight decay 0.01) and ``schedule="constant"`` (warm-up, then constant) are offered too.

**Reproducible and resumable.** Every random choice of step ``k`` comes from seeds derived from
``(seed, k)`` (:class:`numpy.random.SeedSequence`): the windows of the batch (a permutation of
all windows per epoch, seeded by ``(seed, epoch)``), the masks, and dropout (the global torch
RNG is seeded inside :func:`torch.random.fork_rng`, so the caller's RNG is left as it was). A
checkpoint holds the weights, the optimizer state and the step; a run resumed from it takes the
same steps as one never interrupted, bit for bit on the CPU.

**Checkpoints** are written in the official layout by
:func:`~mmsites.brainmodels.checkpoint.save_checkpoint` (atomically): ``model``, ``optim`` (the
optimizer's state dict), ``model_cfg`` (upstream's keys) and ``scheduler``, which upstream
leaves None and which here holds the run's state as plain data: ``{"name": "mmsites.pretrain",
"step", "schedule", "run" (the settings), "history"}``. Upstream's code and
:meth:`BrainBERT.from_pretrained` load them.

**Held-out check.** :func:`masked_validation` scores the model on held-out windows under masks
fixed by the seed (the same at every evaluation), against the mean-prediction baseline: each
masked cell predicted by the training windows' mean of its frequency bin
(:func:`bin_means`; about 0 for z-scored spectrograms), whose masked L1 is about 0.8 on
standard-normal cells.

**Several processes.** When :mod:`torch.distributed` is initialised, the model is wrapped in
``DistributedDataParallel``, each step's batch (``batch_size`` windows in all) is split across
the ranks (rank ``r`` takes windows ``r, r + world, ...``; each rank's loss is its own cells'
mean and DDP averages the gradients), and rank 0 writes the checkpoints.

This module supplies the masked batches, the loss and the held-out check; the loop around them
is the one PopT's pretraining runs too (:mod:`.training`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from os import PathLike
from typing import NamedTuple

import numpy as np
import torch

from mmsites.device import resolve_device

from .brainbert import BrainBERT
from .checkpoint import _BRAINBERT, save_checkpoint
from .training import RunSettings, TrainingRecipe, _autocast, _generator, ramp_up_rate, train

__all__ = [
    "CONTENT_ALPHA",
    "CONTENT_THRESHOLD",
    "FREQ_P",
    "FREQ_SPAN",
    "KEEP_P",
    "SWAP_P",
    "TIME_P",
    "TIME_SPAN",
    "Masked",
    "MaskedLoss",
    "SpanDraw",
    "bin_means",
    "draw_spans",
    "learning_rate",
    "mask_spectrograms",
    "masked_l1_loss",
    "masked_validation",
    "pretrain",
]

log = logging.getLogger(__name__)

#: Lengths (frames, inclusive) and start probability of the time masks (README's command:
#: ``time_mask_p=0.05``; ``conf/task/fixed_mask_pretrain.yaml``: spans 1-5).
TIME_SPAN: tuple[int, int] = (1, 5)
TIME_P: float = 0.05
#: Lengths (bins, inclusive) and start probability of the frequency masks.
FREQ_SPAN: tuple[int, int] = (1, 2)
FREQ_P: float = 0.05
#: Probability that a masked span is left as it is, or replaced by other content (the rest,
#: 0.8, is set to 0).
KEEP_P: float = 0.1
SWAP_P: float = 0.1
#: Weight of the content-aware term and the |target| above which a cell counts in it.
CONTENT_ALPHA: float = 2.0
CONTENT_THRESHOLD: float = 1.0

# span actions
_ZERO, _SWAP, _KEEP = 0, 1, 2
# random streams: every draw is seeded by (seed, stream, ...); 0 (the order) and 2 (dropout) are
# the shared loop's (training.ORDER_STREAM, DROPOUT_STREAM)
_MASK, _VAL = 1, 3


# ---------------------------------------------------------------------------------------------
# masking
# ---------------------------------------------------------------------------------------------


class SpanDraw(NamedTuple):
    """Masked spans along one axis of a batch (frames or bins), one row per spectrogram.

    Attributes
    ----------
    start : torch.Tensor of bool, shape (batch, n_positions)
        True where a span starts.
    length : torch.Tensor of int64, shape (batch, n_positions)
        Its length (0 where no span starts).
    action : torch.Tensor of int64, shape (batch, n_positions)
        What is done to it: 0 set to zero, 1 replaced by other content, 2 kept; -1 where no
        span starts.
    source : torch.Tensor of int64, shape (batch, n_positions)
        For a replaced span, the first position of the content copied into it; -1 elsewhere.
    """

    start: torch.Tensor
    length: torch.Tensor
    action: torch.Tensor
    source: torch.Tensor


class Masked(NamedTuple):
    """A masked batch of spectrograms.

    Attributes
    ----------
    masked : torch.Tensor, shape (batch, frames, bins)
        The model's input.
    mask : torch.Tensor of bool, shape (batch, frames, bins)
        The cells that count in the loss.
    time_spans : SpanDraw
        The spans over the frames.
    freq_spans : SpanDraw
        The spans over the bins.
    """

    masked: torch.Tensor
    mask: torch.Tensor
    time_spans: SpanDraw
    freq_spans: SpanDraw


def _check_span(span, p: float, keep_p: float, swap_p: float, n_positions: int, what: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in span)
    except (TypeError, ValueError):
        raise ValueError(f"{what} span must be a pair (min, max) of lengths, got {span!r}") from None
    if not 1 <= lo <= hi:
        raise ValueError(f"{what} span {span!r} must satisfy 1 <= min <= max")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{what} start probability must be in [0, 1], got {p!r}")
    if not (0.0 <= keep_p and 0.0 <= swap_p and keep_p + swap_p <= 1.0):
        raise ValueError(f"keep_p ({keep_p}) and swap_p ({swap_p}) must be >= 0 with a sum <= 1")
    if n_positions <= hi:
        raise ValueError(
            f"{what} masking needs more than {hi} positions (the longest span), got {n_positions}"
        )
    return lo, hi


def draw_spans(
    batch: int,
    n_positions: int,
    *,
    span: tuple[int, int] = TIME_SPAN,
    p: float = TIME_P,
    keep_p: float = KEEP_P,
    swap_p: float = SWAP_P,
    generator: torch.Generator | None = None,
) -> SpanDraw:
    """Draw masked spans along one axis, as upstream's ``create_masked_intervals``.

    A span may start at position ``i < n_positions - span[1]``. Walking ``i`` upwards, a start
    is drawn with probability ``p`` and kept when ``i`` is after the end of the previous kept
    span (``end < i``, the end exclusive: two spans are at least one position apart); its
    length is uniform in ``span[0] .. span[1]``. Each span is kept as it is with probability
    ``keep_p``, replaced with ``swap_p`` (its source start uniform in ``0 .. n_positions -
    span[1] - 1``) and set to zero otherwise.

    Parameters
    ----------
    batch : int
        Spectrograms (rows).
    n_positions : int
        Length of the axis (frames or bins); more than ``span[1]``.
    span : tuple of (int, int)
        Shortest and longest span (inclusive).
    p : float
        Probability that a span starts at a valid position.
    keep_p : float
        Probability that a span is left unchanged (it still counts in the loss).
    swap_p : float
        Probability that a span is replaced by content from elsewhere on the same axis.
    generator : torch.Generator, optional
        Source of the random numbers (CPU); None: torch's global generator.

    Returns
    -------
    SpanDraw
        Starts, lengths, actions and sources, each (batch, n_positions), on the CPU.

    Raises
    ------
    ValueError
        If the span, probabilities or axis length are invalid.
    """
    lo, hi = _check_span(span, p, keep_p, swap_p, n_positions, "a")
    batch = int(batch)
    n_valid = n_positions - hi
    shape = (batch, n_valid)
    u = torch.rand(shape, generator=generator)
    lengths = torch.randint(lo, hi + 1, shape, generator=generator)
    dice = torch.rand(shape, generator=generator)
    sources = torch.randint(0, n_valid, shape, generator=generator)
    candidate = (u < p).numpy()
    length_np = lengths.numpy()
    accepted = np.zeros(shape, dtype=bool)
    last_end = np.full(batch, -1, dtype=np.int64)
    for i in np.flatnonzero(candidate.any(axis=0)):
        take = candidate[:, i] & (last_end < i)
        accepted[:, i] = take
        last_end = np.where(take, i + length_np[:, i], last_end)
    start = torch.zeros((batch, n_positions), dtype=torch.bool)
    start[:, :n_valid] = torch.from_numpy(accepted)
    action = torch.full((batch, n_positions), -1, dtype=torch.int64)
    chosen = torch.where(dice < keep_p, _KEEP, torch.where(dice < keep_p + swap_p, _SWAP, _ZERO))
    action[:, :n_valid] = torch.where(start[:, :n_valid], chosen, -1)
    length = torch.zeros((batch, n_positions), dtype=torch.int64)
    length[:, :n_valid] = torch.where(start[:, :n_valid], lengths, 0)
    source = torch.full((batch, n_positions), -1, dtype=torch.int64)
    source[:, :n_valid] = torch.where(action[:, :n_valid] == _SWAP, sources, -1)
    return SpanDraw(start, length, action, source)


def _expand(spans: SpanDraw, longest: int) -> tuple[torch.Tensor, ...]:
    """Per position: covered, zeroed, swapped, and the position its content comes from."""
    batch, n = spans.start.shape
    covered = torch.zeros((batch, n), dtype=torch.bool)
    zeroed = torch.zeros_like(covered)
    swapped = torch.zeros_like(covered)
    src = torch.arange(n).expand(batch, n).clone()
    rows, first = torch.nonzero(spans.start, as_tuple=True)
    length = spans.length[rows, first]
    action = spans.action[rows, first]
    source = spans.source[rows, first]
    for d in range(longest):
        ok = d < length
        r, pos, act = rows[ok], first[ok] + d, action[ok]
        covered[r, pos] = True
        zeroed[r, pos] = act == _ZERO
        swapped[r, pos] = act == _SWAP
        src[r, pos] = torch.where(act == _SWAP, source[ok] + d, pos)
    return covered, zeroed, swapped, src


def mask_spectrograms(
    spectrogram,
    generator: torch.Generator | None = None,
    *,
    time_span: tuple[int, int] = TIME_SPAN,
    time_p: float = TIME_P,
    freq_span: tuple[int, int] = FREQ_SPAN,
    freq_p: float = FREQ_P,
    keep_p: float = KEEP_P,
    swap_p: float = SWAP_P,
    upstream_bug: bool = False,
) -> Masked:
    """Mask spectrograms as BrainBERT's pretraining does (upstream ``fixed_mask_inputs``).

    Time spans first (:func:`draw_spans` over the frames), then frequency spans (over the
    bins); see the module docstring for the rules and for upstream's labelling bug.

    Parameters
    ----------
    spectrogram : torch.Tensor or ndarray, shape (batch, frames, bins) or (frames, bins)
        Unmasked spectrograms (the targets).
    generator : torch.Generator, optional
        Source of every random number (CPU); None: torch's global generator.
    time_span : tuple of (int, int)
        Shortest and longest time span (frames).
    time_p : float
        Start probability per frame.
    freq_span : tuple of (int, int)
        Shortest and longest frequency span (bins).
    freq_p : float
        Start probability per bin.
    keep_p : float
        Probability that a span is left as it is.
    swap_p : float
        Probability that a span is replaced by other frames (bins) of the same spectrogram.
    upstream_bug : bool
        Label the cells as upstream's code does (time spans' frames, plus the bins numbered
        like those frames; frequency spans unlabelled) instead of the intended time and
        frequency spans.

    Returns
    -------
    Masked
        ``masked`` (the input, same dtype and device, 0 where zeroed) and ``mask`` (bool, the
        cells in the loss), without the batch axis for a 2-D input, and the spans drawn.

    Raises
    ------
    ValueError
        If the shape is not 2-D or 3-D, or an axis is not longer than its longest span.

    Examples
    --------
    >>> x = torch.randn(4, 186, 40)
    >>> masked, mask, *_ = mask_spectrograms(x, torch.Generator().manual_seed(0))
    >>> masked.shape, mask.dtype
    (torch.Size([4, 186, 40]), torch.bool)
    """
    x = spectrogram if isinstance(spectrogram, torch.Tensor) else torch.as_tensor(np.asarray(spectrogram))
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(
            f"spectrogram must have shape (frames, bins) or (batch, frames, bins), got {tuple(x.shape)}"
        )
    batch, frames, bins = x.shape
    _check_span(time_span, time_p, keep_p, swap_p, frames, "the time")
    _check_span(freq_span, freq_p, keep_p, swap_p, bins, "the frequency")
    kw = dict(keep_p=keep_p, swap_p=swap_p, generator=generator)
    time_spans = draw_spans(batch, frames, span=time_span, p=time_p, **kw)
    freq_spans = draw_spans(batch, bins, span=freq_span, p=freq_p, **kw)
    t_cov, t_zero, t_swap, t_src = (a.to(x.device) for a in _expand(time_spans, int(time_span[1])))
    f_cov, f_zero, f_swap, f_src = (a.to(x.device) for a in _expand(freq_spans, int(freq_span[1])))
    masked = torch.gather(x, 1, t_src[:, :, None].expand(batch, frames, bins))
    masked = masked.masked_fill(t_zero[:, :, None], 0)
    from_bins = torch.gather(x, 2, f_src[:, None, :].expand(batch, frames, bins))
    masked = torch.where(f_swap[:, None, :], from_bins, masked)
    masked = masked.masked_fill(f_zero[:, None, :], 0)
    if upstream_bug:
        columns = torch.zeros((batch, bins), dtype=torch.bool, device=x.device)
        k = min(frames, bins)
        columns[:, :k] = t_cov[:, :k]
    else:
        columns = f_cov
    mask = t_cov[:, :, None] | columns[:, None, :]
    if single:
        masked, mask = masked[0], mask[0]
    return Masked(masked, mask, time_spans, freq_spans)


# ---------------------------------------------------------------------------------------------
# loss
# ---------------------------------------------------------------------------------------------


class MaskedLoss(NamedTuple):
    """The pretraining loss and its parts.

    Attributes
    ----------
    loss : torch.Tensor
        ``l1 + alpha * content_l1`` (scalar, differentiable).
    l1 : torch.Tensor
        Mean absolute error over the masked cells.
    content_l1 : torch.Tensor
        Mean absolute error over the masked cells with ``|target| > threshold`` (0 if none).
    n_masked : int
        Masked cells.
    n_content : int
        Masked cells with ``|target| > threshold``.
    """

    loss: torch.Tensor
    l1: torch.Tensor
    content_l1: torch.Tensor
    n_masked: int
    n_content: int


def masked_l1_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    *,
    alpha: float = CONTENT_ALPHA,
    threshold: float = CONTENT_THRESHOLD,
) -> MaskedLoss:
    """BrainBERT's pretraining loss (upstream ``PretrainMaskedCriterion``).

    Parameters
    ----------
    prediction : torch.Tensor, shape (batch, frames, bins)
        The model's reconstruction.
    target : torch.Tensor, same shape
        The unmasked spectrograms.
    mask : torch.Tensor of bool, same shape
        The cells that count (:func:`mask_spectrograms`).
    alpha : float
        Weight of the content-aware term (upstream ``alpha: 2``).
    threshold : float
        ``|target|`` above which a masked cell enters the content-aware term.

    Returns
    -------
    MaskedLoss
        ``loss = l1 + alpha * content_l1``, each mean pooled over the batch's cells; an empty
        set of cells gives 0 (upstream: NaN).

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    if prediction.shape != target.shape or mask.shape != target.shape:
        raise ValueError(
            f"prediction {tuple(prediction.shape)}, target {tuple(target.shape)} and mask "
            f"{tuple(mask.shape)} must have the same shape"
        )
    mask = mask.to(torch.bool)
    errors = (target - prediction).abs()
    content = mask & (target.abs() > threshold)
    n_masked, n_content = int(mask.sum()), int(content.sum())
    zero = prediction.sum() * 0.0
    l1 = errors[mask].mean() if n_masked else zero
    content_l1 = errors[content].mean() if n_content else zero
    return MaskedLoss(l1 + alpha * content_l1, l1, content_l1, n_masked, n_content)


# ---------------------------------------------------------------------------------------------
# schedule, seeds, data
# ---------------------------------------------------------------------------------------------


def learning_rate(
    step: int, *, lr: float, steps: int, warmup_steps: int | None = None, schedule: str = "official"
) -> float:
    """The learning rate of step ``step`` (0-based) of a run of ``steps`` steps: BrainBERT's ``ramp_up``.

    :func:`~.training.ramp_up_rate` with a decay step size of ``(steps - warmup) / 100`` updates,
    not truncated (upstream BrainBERT's ``StepLR(step_size=(steps - warmup) / 100)``).

    Parameters
    ----------
    step, lr, steps, warmup_steps, schedule : ramp_up_rate arguments
        The update's index (from 0), the peak rate, the run's length, the warm-up (None: 2.5 %
        of ``steps``) and ``"official"`` or ``"constant"``.

    Returns
    -------
    float
        The rate (:func:`~.training.ramp_up_rate`).
    """
    return ramp_up_rate(step, lr=lr, steps=steps, warmup_steps=warmup_steps, schedule=schedule)


def _window_shape(windows) -> tuple[int, ...]:
    shape = getattr(windows, "shape", None)
    if shape is not None:
        return tuple(int(s) for s in shape)
    n = len(windows)
    if n == 0:
        return (0,)
    return (n, *np.shape(windows[0]))


def _check_windows(windows, model: BrainBERT, name: str) -> int:
    try:
        shape = _window_shape(windows)
    except TypeError:
        raise ValueError(
            f"{name} must be an array of spectrograms (n, frames, {model.config.input_dim}) or a "
            f"sequence of them, got {type(windows).__name__}"
        ) from None
    if len(shape) != 3 or shape[0] < 1 or shape[2] != model.config.input_dim:
        raise ValueError(f"{name} must have shape (n >= 1, frames, {model.config.input_dim}), got {shape}")
    if not TIME_SPAN[1] < shape[1] <= model.config.max_len:
        raise ValueError(
            f"{name} have {shape[1]} frames; the masking needs more than {TIME_SPAN[1]} and the "
            f"model reads at most {model.config.max_len}"
        )
    return shape[0]


def _take(windows, index: np.ndarray, name: str) -> torch.Tensor:
    """The windows ``index`` (sorted, for a memory map's sake) as a float32 CPU tensor."""
    index = np.sort(index)
    if isinstance(windows, torch.Tensor):
        x = windows[torch.from_numpy(index)].to(torch.float32)
    elif isinstance(windows, np.ndarray):
        x = torch.from_numpy(np.asarray(windows[index], dtype=np.float32))
    else:
        x = torch.from_numpy(np.stack([np.asarray(windows[int(i)], dtype=np.float32) for i in index]))
    if not torch.isfinite(x).all():
        bad = index[~torch.isfinite(x).flatten(1).all(dim=1).numpy()]
        raise ValueError(f"{name} {bad[:5].tolist()} hold NaN or infinite values")
    return x


def bin_means(windows, max_windows: int = 2048) -> np.ndarray:
    """Mean of each frequency bin over (a sample of) training windows and their frames.

    Parameters
    ----------
    windows : array_like, shape (n, frames, bins)
        Spectrograms (a memory map is read only at the rows used).
    max_windows : int
        At most this many windows are read, evenly spaced over ``0 .. n - 1``.

    Returns
    -------
    ndarray of float32, shape (bins,)
        The mean-prediction baseline (about 0 for z-scored spectrograms).
    """
    n = _window_shape(windows)[0]
    index = np.unique(np.linspace(0, n - 1, min(n, int(max_windows))).round().astype(np.int64))
    total, count = None, 0
    for start in range(0, len(index), 256):
        chunk = _take(windows, index[start : start + 256], "windows").double()
        s = chunk.sum(dim=(0, 1))
        total = s if total is None else total + s
        count += chunk.shape[0] * chunk.shape[1]
    return (total / count).float().numpy()


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def masked_validation(
    model: BrainBERT,
    windows,
    *,
    batch_size: int = 64,
    seed: int = 0,
    means=None,
    masking: Mapping | None = None,
    device: str | torch.device | None = None,
    bf16: bool = False,
) -> dict:
    """The masked loss on held-out windows, and the mean-prediction baseline's.

    The masks of batch ``b`` are drawn from a generator seeded by ``(seed, b)``: the same at
    every call, so that evaluations during a run are comparable. Each mean is pooled over all
    masked cells of all windows.

    Parameters
    ----------
    model : BrainBERT
        The model (evaluated in eval mode, then put back in its mode).
    windows : array_like, shape (n, frames, input_dim)
        Held-out spectrograms (array, memory map, tensor or sequence of arrays).
    batch_size : int
        Windows per forward pass (the masks depend on it).
    seed : int
        Seed of the masks.
    means : array_like, shape (input_dim,), optional
        The training windows' mean per bin (:func:`bin_means`): the baseline's prediction;
        None: no baseline.
    masking : Mapping, optional
        Keyword arguments of :func:`mask_spectrograms` (e.g. ``upstream_bug``).
    device : str or torch.device, optional
        Where to run; None: the model's device.
    bf16 : bool
        Run under bfloat16 autocast on CUDA (no effect on the CPU).

    Returns
    -------
    dict
        ``loss``, ``l1``, ``content_l1`` (the model), ``baseline_loss``, ``baseline_l1``,
        ``baseline_content_l1`` (None without ``means``), ``n_masked``, ``n_content``.

    Raises
    ------
    ValueError
        If the windows do not fit the model or hold non-finite values.
    """
    n = _check_windows(windows, model, "windows")
    device = next(model.parameters()).device if device is None else resolve_device(device)
    means_t = None if means is None else torch.as_tensor(np.asarray(means, dtype=np.float32), device=device)
    sums = dict(l1=0.0, content=0.0, base_l1=0.0, base_content=0.0)
    n_masked = n_content = 0
    was_training = model.training
    model.eval()
    try:
        for b, start in enumerate(range(0, n, int(batch_size))):
            x = _take(windows, np.arange(start, min(n, start + batch_size)), "windows").to(device)
            masked, mask, *_ = mask_spectrograms(x, _generator(seed, _VAL, b), **dict(masking or {}))
            with _autocast(device, bf16):
                out = model(masked)
            errors = (x - out.float()).abs()
            content = mask & (x.abs() > CONTENT_THRESHOLD)
            sums["l1"] += float(errors[mask].double().sum())
            sums["content"] += float(errors[content].double().sum())
            if means_t is not None:
                base = (x - means_t).abs()
                sums["base_l1"] += float(base[mask].double().sum())
                sums["base_content"] += float(base[content].double().sum())
            n_masked += int(mask.sum())
            n_content += int(content.sum())
    finally:
        model.train(was_training)

    def _mean(total: float, count: int) -> float:
        return total / count if count else 0.0

    l1, content_l1 = _mean(sums["l1"], n_masked), _mean(sums["content"], n_content)
    out = dict(loss=l1 + CONTENT_ALPHA * content_l1, l1=l1, content_l1=content_l1)
    if means_t is None:
        out.update(baseline_loss=None, baseline_l1=None, baseline_content_l1=None)
    else:
        b_l1, b_content = _mean(sums["base_l1"], n_masked), _mean(sums["base_content"], n_content)
        out.update(
            baseline_loss=b_l1 + CONTENT_ALPHA * b_content, baseline_l1=b_l1, baseline_content_l1=b_content
        )
    out.update(n_masked=n_masked, n_content=n_content)
    return out


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


def pretrain(
    model: BrainBERT,
    windows,
    *,
    steps: int,
    batch_size: int = 256,
    lr: float = 1e-4,
    warmup_steps: int | None = None,
    optimizer: str = "lamb",
    schedule: str = "official",
    clip_norm: float | None = 1.0,
    checkpoint: str | PathLike | None = None,
    checkpoint_every: int = 1000,
    resume: bool = True,
    val_windows=None,
    val_every: int | None = None,
    val_batch_size: int | None = None,
    masking: Mapping | None = None,
    device: str | torch.device = "cpu",
    bf16: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Pretrain BrainBERT by masked-spectrogram reconstruction (the published recipe).

    Each step: ``batch_size`` windows (a seeded permutation per epoch), masked
    (:func:`mask_spectrograms`), reconstructed by the model's spec-prediction head
    (``model(masked)``), :func:`masked_l1_loss`, backward, gradients clipped to
    ``clip_norm``, one optimizer step at :func:`learning_rate`. See the module docstring for
    the recipe, the seeds and the checkpoint's contents.

    Parameters
    ----------
    model : BrainBERT
        The model to train, in place (moved to ``device``; left in train mode).
    windows : array_like, shape (n, frames, input_dim)
        Training spectrograms (z-scored, e.g. :func:`mmsites.recordings.spectral.
        stft_spectrogram` of 5 s windows: 186 frames x 40 bins): a numpy array, a memory
        map (``np.load(..., mmap_mode="r")``; only each batch's rows are read), a tensor or a
        sequence of (frames, input_dim) arrays.
    steps, batch_size, lr, warmup_steps, optimizer, schedule, clip_norm : RunSettings fields
        The optimisation (:class:`~.training.RunSettings`; the schedule :func:`learning_rate`),
        ``batch_size`` windows per step over all processes. Upstream: 500 000 steps, 256
        windows, lr 1e-4, a warm-up of 2.5 % of the steps, LAMB, ``"official"``, clipping 1.0.
    checkpoint, checkpoint_every, resume : RunSettings fields
        The ``.pth`` file written every ``checkpoint_every`` steps (upstream: 1000) and at the
        end, in the official layout (None: none written), and whether a run continues from it
        (weights, optimizer state, step, history) or starts over and overwrites it.
    val_windows : array_like, optional
        Held-out spectrograms, evaluated (:func:`masked_validation`) before the first step,
        every ``val_every`` steps and at the end, with the mean-prediction baseline.
    val_every, val_batch_size : RunSettings fields
        Steps between evaluations (None: ``checkpoint_every``) and windows per evaluation batch
        (None: ``batch_size``).
    masking : Mapping, optional
        Keyword arguments of :func:`mask_spectrograms` (e.g. ``{"upstream_bug": True}``);
        None: the published masking.
    device, bf16, seed, progress : RunSettings fields
        Where it runs (``"auto"``: CUDA when there is one), bfloat16 autocast of the forward
        pass on CUDA, the seed of every random choice, a progress bar (rank 0).

    Returns
    -------
    dict
        The history: ``step`` (1-based index of each update), ``train_loss``, ``train_l1``
        and ``lr`` per step; ``val_step``, ``val_loss``, ``val_l1`` per evaluation (step 0 =
        before training); ``val_baseline_loss``, ``val_baseline_l1`` (the mean-prediction
        baseline on the same masks; None without ``val_windows``). A resumed run's history
        includes the steps before the interruption.

    Raises
    ------
    ValueError
        If an argument is invalid, the windows do not fit the model or hold non-finite
        values, or the checkpoint to resume from belongs to another model or optimizer.

    Examples
    --------
    >>> model = BrainBERT("tiny", seed=0, preprocessor="stft")
    >>> history = pretrain(model, np.load("train.npy", mmap_mode="r"), steps=500_000,
    ...                    checkpoint="work/brainbert/checkpoint.pth")  # doctest: +SKIP
    """
    if not isinstance(model, BrainBERT):
        raise ValueError(f"model must be a BrainBERT, got {type(model).__name__}")
    run = RunSettings.of(locals())  # the arguments every pretraining takes, checked
    device = run.device
    masking = dict(masking or {})
    n = _check_windows(windows, model, "windows")
    if val_windows is not None:
        _check_windows(val_windows, model, "val_windows")
    means = None if val_windows is None else bin_means(windows)

    def _batch(indices: np.ndarray, step: int, rank: int, world: int) -> tuple:
        x = _take(windows, indices[rank::world], "windows").to(device, non_blocking=True)
        masked, mask, *_ = mask_spectrograms(x, _generator(seed, _MASK, step, rank), **masking)
        return x, masked, mask

    def _loss(net, batch: tuple) -> tuple:
        x, masked, mask = batch
        with _autocast(device, bf16):
            out = net(masked)
        result = masked_l1_loss(out.float(), x, mask)
        return result.loss, result.l1

    def _evaluate(step: int) -> dict:
        scores = masked_validation(
            model,
            val_windows,
            batch_size=run.val_batch_size,
            seed=seed,
            means=means,
            masking=masking,
            bf16=bf16,
        )
        log.info(
            "step %d: held-out masked L1 %.4f (mean-prediction baseline %.4f), loss %.4f (%.4f)",
            step,
            scores["l1"],
            scores["baseline_l1"],
            scores["loss"],
            scores["baseline_loss"],
        )
        return scores

    return train(
        model,
        _RECIPE,
        run,
        n_examples=n,
        batch=_batch,
        loss=_loss,
        evaluate=None if val_windows is None else _evaluate,
        learning_rate=learning_rate,
        settings=dict(masking=masking, n_windows=int(n)),
        desc="pretrain",
    )


_RECIPE = TrainingRecipe(
    name="mmsites.pretrain",
    command="pretrain",
    layout=_BRAINBERT,
    save=save_checkpoint,
    losses=("loss", "l1"),
    validation=dict(val_loss=[], val_l1=[], val_baseline_loss=None, val_baseline_l1=None),
    compared=("seed", "batch_size", "n_windows", "world_size"),
)
