"""Bootstrap of encoding scores over events.

Resamples of events with replacement (:func:`stats.resampling.bootstrap_indices`) are
drawn once per subject and alignment and shared by every model, so differences between
models can be bootstrapped in pairs. Two modes, which estimate different things:

``refit`` (the study's)
    ``CVEngine.fit_resampled(Y, resamples)`` re-runs the whole cross-validation — fold
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
(``boot_mean, boot_lo, boot_hi, val_lo, val_hi``: percentile intervals).
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

    Parameters
    ----------
    weights : array, shape (n_weightings, n_events)
        Non-negative event weights (bootstrap multiplicities).
    a, y : array, shape (n_events, n_targets)
        Predictions and responses.
    folds : sequence of Fold
    part : {"test", "val"}

    Returns
    -------
    r : ndarray, shape (n_weightings, n_targets)
    """
    dev = resolve_device(device)
    dtype = default_dtype(dev)
    A = as_tensor(a, dev, dtype)
    Yt = as_tensor(y, dev, dtype)
    parts = _fold_parts(folds, part, A.shape[0])
    check_events("predictions", A, rows=np.concatenate(parts))
    check_events("Y", Yt, A.shape[0])
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
        Out-of-fold predictions (``CVResult.predictions``).
    Y : array, shape (n_events, n_targets)
        Responses.
    folds : sequence of Fold
    resamples : int array, shape (n_boot, n_events)
        Bootstrap resamples (:func:`stats.resampling.bootstrap_indices`); any chunk of rows
        gives the matching rows of the whole result.
    device : str

    Returns
    -------
    test_r : ndarray, shape (n_boot, n_targets)
    val_r : ndarray, shape (n_boot, n_targets)
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
    """Bootstrap (test_r, val_r), each (n_boot, n_targets), in either mode.

    ``refit`` → ``engine.fit_resampled(Y, resamples)``; ``fast`` → :func:`fast_bootstrap`.
    """
    if mode == "refit":
        if engine is None:
            raise ValueError("stats.mode='refit' needs the CVEngine of the model")
        t, v = engine.fit_resampled(Y, resamples)
        return np.asarray(t), np.asarray(v)
    if mode == "fast":
        if predictions is None or folds is None:
            raise ValueError("stats.mode='fast' needs the out-of-fold predictions and folds")
        return fast_bootstrap(predictions, Y, folds, resamples, device=device)
    raise ValueError(f"stats.mode must be 'refit' or 'fast', got {mode!r}")


def bootstrap_summary(test_r_boot, val_r_boot, level: float = 0.95) -> dict:
    """Mean and percentile confidence intervals of bootstrapped scores.

    Parameters
    ----------
    test_r_boot, val_r_boot : array, shape (n_boot, n_targets)
    level : float
        Coverage of the two-sided percentile interval.

    Returns
    -------
    summary : dict of ndarray, each shape (n_targets,)
        ``boot_mean`` (mean test r), ``boot_lo``/``boot_hi`` (test r interval),
        ``val_lo``/``val_hi`` (validation r interval).
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
