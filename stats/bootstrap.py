"""Bootstrap of encoding scores over events.

Resamples of events with replacement (:func:`mmsites.stats.resampling.bootstrap_indices`) are
drawn once per subject and alignment and shared by every model, so differences between
models can be bootstrapped in pairs. Two modes, which estimate different things:

``refit`` (the study's)
    :meth:`CVEngine.fit_resampled(Y, resamples) <mmsites.encoding.ridge.CVEngine.fit_resampled>`
    re-runs the whole cross-validation — fold
    split of the resampled (sorted) sequence, alpha search, fit — on every resample. The
    spread is the variability of the *whole fitting procedure* over samples of events.
``fast``
    :func:`fast_bootstrap` keeps the fitted models and their out-of-fold predictions and
    resamples events of the held-out halves only: each event keeps its fold, and per fold
    the r of the resampled (prediction, response) pairs is computed with the events weighted
    by their multiplicity. The spread is the variability of the held-out score *given the
    fitted models*; it ignores the variability of the fits, so its intervals are narrower,
    and it costs a few matrix products instead of B fits.

:func:`bootstrap_summary` turns either into the per-target columns of the scores table
(``boot_mean, boot_lo, boot_hi, val_lo, val_hi``: percentile intervals). The statistics are
explained in ``docs/statistics.md``.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from mmsites.device import resolve_device

from ._corr import as_tensor, check_events, default_dtype, r_from_sums
from .resampling import bootstrap_weights
from .signal import _fold_parts

logger = logging.getLogger(__name__)

__all__ = ["fast_bootstrap", "bootstrap_summary", "bootstrap_scores", "weighted_fold_r"]


def weighted_fold_r(
    weights, a, y, folds, *, part: str = "test", device: str = "cpu", n_events: int | None = None
) -> np.ndarray:
    """Fold-averaged weighted Pearson r for many event weightings at once.

    Per weighting and fold, the r of the held-out part's (prediction, response) pairs with
    each event counted ``weights[w, i]`` times; the fold values are then averaged.

    Parameters
    ----------
    weights : array, shape (n_weightings, n_events)
        Non-negative event weights (bootstrap multiplicities,
        :func:`mmsites.stats.resampling.bootstrap_weights`).
    a : array, shape (n_events, n_targets)
        Out-of-fold predictions (``CVResult.predictions``), finite on every scored event;
        NaN allowed on events in no part ``part`` of any fold.
    y : array, shape (n_events, n_targets)
        Responses (any unit; r is unit-free), finite.
    folds : sequence of Fold
        The folds the predictions came from; each part ``part`` needs at least 2 events.
    part : {"test", "val"}, default "test"
        Held-out half whose events are scored.
    device : str or torch.device, default "cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``; float64 on the CPU, float32 on accelerators.
    n_events : int, optional
        Unused; the number of events is taken from ``a``.

    Returns
    -------
    r : ndarray, shape (n_weightings, n_targets)
        Fold-averaged weighted r; a fold whose part has total weight 0 in a weighting
        contributes r = 0 to that weighting's average.

    Raises
    ------
    ValueError
        If the arrays are not 2-D with the same events, hold NaN/inf on scored events,
        ``weights`` is not (n_weightings, n_events), or a fold part is too small or out of
        range.
    """
    dev = resolve_device(device)
    dtype = default_dtype(dev)
    A = as_tensor(a, dev, dtype)
    Yt = as_tensor(y, dev, dtype)
    parts = _fold_parts(folds, part, A.shape[0])
    # only the scored rows enter (held-out targets may be NaN on rows no fold holds out)
    check_events("predictions", A, rows=np.concatenate(parts))
    check_events("Y", Yt, A.shape[0], rows=np.concatenate(parts))
    W = as_tensor(weights, dev, dtype)
    if W.ndim != 2 or W.shape[1] != A.shape[0]:
        raise ValueError(f"weights must have shape (n, {A.shape[0]}), got {tuple(W.shape)}")
    out = torch.zeros((W.shape[0], A.shape[1]), dtype=dtype, device=dev)
    for idx in parts:
        ti = torch.as_tensor(idx, device=dev)
        # Centre on the unweighted fold mean: r is shift-invariant, and this tames
        # cancellation in the sums below.
        ak = A[ti] - A[ti].mean(0, keepdim=True)
        yk = Yt[ti] - Yt[ti].mean(0, keepdim=True)
        wk = W[:, ti]
        n = wk.sum(1, keepdim=True)
        if bool((n <= 0).any()):
            # A resample without any event of this fold: the fold has no score there.
            logger.debug("a weighting has no events in a %s part", part)
        r = r_from_sums(n.clamp(min=1e-300), wk @ ak, wk @ yk, wk @ (ak * ak), wk @ (yk * yk), wk @ (ak * yk))
        out += r
    return (out / len(parts)).cpu().numpy()


def fast_bootstrap(predictions, Y, folds, resamples, *, device: str = "cpu"):
    """Bootstrap of test and validation r without refitting.

    Parameters
    ----------
    predictions : array, shape (n_events, n_targets)
        Out-of-fold predictions (``CVResult.predictions``), in the units of ``Y``; finite on
        every validation and test event.
    Y : array, shape (n_events, n_targets)
        Responses per event and target (electrode × bin), finite.
    folds : sequence of Fold
        The folds the predictions came from.
    resamples : int array, shape (n_boot, n_events)
        Bootstrap resamples (:func:`mmsites.stats.resampling.bootstrap_indices`), event
        indices in ``0 .. n_events - 1``; any chunk of rows gives the matching rows of the
        whole result.
    device : str or torch.device, default "cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Returns
    -------
    test_r : ndarray, shape (n_boot, n_targets)
        Fold-averaged test r of each resample, events weighted by their multiplicity.
    val_r : ndarray, shape (n_boot, n_targets)
        The same on the validation halves.
    """
    n = np.shape(predictions)[0]
    W = bootstrap_weights(resamples, n)
    return (
        weighted_fold_r(W, predictions, Y, folds, part="test", device=device),
        weighted_fold_r(W, predictions, Y, folds, part="val", device=device),
    )


def bootstrap_scores(
    mode: str, Y, resamples, *, folds=None, predictions=None, engine=None, device: str = "cpu"
):
    """Bootstrapped test and validation r of one model, in either mode.

    The two modes estimate different things (module docstring): ``refit`` re-runs the whole
    cross-validation on every resample (``engine.fit_resampled(Y, resamples)``), ``fast``
    reweights the held-out events of the fitted models' predictions (:func:`fast_bootstrap`).

    Parameters
    ----------
    mode : {"refit", "fast"}
        Bootstrap mode.
    Y : array, shape (n_events, n_targets)
        Responses per event and target (electrode × bin), finite.
    resamples : int array, shape (n_boot, n_events)
        Bootstrap resamples (:func:`mmsites.stats.resampling.bootstrap_indices`), shared by
        every model of the (subject, alignment); rows sorted in movie order for ``refit``.
    folds : sequence of Fold, optional
        The model's folds; needed for ``fast``.
    predictions : array, shape (n_events, n_targets), optional
        Out-of-fold predictions (``CVResult.predictions``); needed for ``fast``.
    engine : CVEngine, optional
        The model's :class:`~mmsites.encoding.ridge.CVEngine`; needed for ``refit``.
    device : str or torch.device, default "cpu"
        Device of the ``fast`` computation (``refit`` runs on the engine's device).

    Returns
    -------
    test_r : ndarray, shape (n_boot, n_targets)
        Fold-averaged test r of each resample.
    val_r : ndarray, shape (n_boot, n_targets)
        Fold-averaged validation r of each resample.

    Raises
    ------
    ValueError
        If ``mode`` is neither ``"refit"`` nor ``"fast"``, or the arguments the mode needs are
        missing.
    """
    if mode == "refit":
        if engine is None:
            raise ValueError("mode='refit' needs `engine` (the model's CVEngine)")
        t, v = engine.fit_resampled(Y, resamples)
        return np.asarray(t), np.asarray(v)
    if mode == "fast":
        if predictions is None or folds is None:
            raise ValueError("mode='fast' needs `predictions` (the out-of-fold predictions) and `folds`")
        return fast_bootstrap(predictions, Y, folds, resamples, device=device)
    raise ValueError(f"mode must be 'refit' or 'fast', got {mode!r}")


def bootstrap_summary(test_r_boot, val_r_boot, level: float = 0.95) -> dict:
    """Mean and percentile confidence intervals of bootstrapped scores.

    Parameters
    ----------
    test_r_boot : array, shape (n_boot, n_targets)
        Bootstrapped fold-averaged test r (:func:`bootstrap_scores`).
    val_r_boot : array, shape (n_boot, n_targets)
        Bootstrapped fold-averaged validation r, same resamples and shape.
    level : float, default 0.95
        Coverage of the two-sided percentile interval, in (0, 1).

    Returns
    -------
    summary : dict of ndarray, each shape (n_targets,)
        ``boot_mean`` (mean test r), ``boot_lo``/``boot_hi`` (test r interval),
        ``val_lo``/``val_hi`` (validation r interval).

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1) or the two arrays are not 2-D of one shape.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    t = np.asarray(test_r_boot, dtype=float)
    v = np.asarray(val_r_boot, dtype=float)
    if t.ndim != 2 or t.shape != v.shape:
        raise ValueError(
            f"test and validation bootstraps must both be (n_boot, n_targets), got {t.shape} and {v.shape}"
        )
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    tlo, thi = np.percentile(t, q, axis=0)
    vlo, vhi = np.percentile(v, q, axis=0)
    return {"boot_mean": t.mean(0), "boot_lo": tlo, "boot_hi": thi, "val_lo": vlo, "val_hi": vhi}
