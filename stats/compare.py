"""Paired comparisons of two encoding models at each electrode.

Electrode score
    The mean test r over the electrode's signal bins (:func:`electrode_scores`), per model,
    over that model's own signal bins. This is what the tables report (``score_a``,
    ``score_b``, ``delta = score_a - score_b``).

Who is compared (``default_winner``)
    A comparison needs at least ``min_signal_bins`` (10) signal bins for *both* models.
    When only one model has that many, what happens depends on ``default_winner``:

    ``"test"`` (the default)
        The pair is still tested (over the union of signal bins, which is then mostly the
        one model's): a win must be earned by a significant paired test. A model with a
        chance clump of signal bins (neighbouring 25 ms bins share 200 ms windows, so one
        chance excursion gives ~8 bins) cannot win on that alone.
    ``"count"``
        The released code's rule: that model wins by default, without a test. The row gets
        ``p_value = NaN`` and ``default_winner`` = that side ("a" or "b") and stays out of
        the FDR correction.
    ``"none"``
        No comparison: ``p_value = NaN``, no winner.

    If neither model has enough signal bins, the row has ``p_value = NaN`` and no winner.

Test statistic
    For a tested electrode the statistic is the mean, over the *union* of the two models'
    signal bins, of ``r_a - r_b``. Using the same bins for both models makes the statistic
    symmetric under exchanging the models, which the null relies on (comparing each model
    over its own, selected, bins would not be centred at zero under the null).

p-value (one-sided, "a beats b")
    ``permutation`` (:func:`paired_permutation_test`): the two models' out-of-fold
    predictions (each z-scored within each fold's test part, which leaves every r unchanged)
    are exchanged on random blocks of events (:func:`mmsites.stats.resampling.block_swaps`) and the
    statistic recomputed; p = (1 + #null >= observed) / (1 + P).
    ``bootstrap`` (:func:`paired_bootstrap_test`): the statistic is recomputed on each shared
    bootstrap resample; p = (1 + #(statistic <= 0)) / (1 + B).

Arrays of targets are electrode-major (target ``e * n_bins + b``). The statistics are explained
in ``docs/statistics.md``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from mmsites.device import resolve_device
from mmsites.encoding.scoring import CONSTANT_REL_TOL

from ._corr import as_tensor, check_events
from .pvalues import n_distinct_swaps, tail_pvalues, warn_if_few_permutations
from .signal import _fold_parts, permutation_pvalues

logger = logging.getLogger(__name__)

__all__ = [
    "cv_inflation",
    "electrode_scores",
    "paired_permutation_null",
    "paired_permutation_test",
    "paired_bootstrap_test",
    "compare_models",
]


def _as_eb(x, n_bins: int, name: str, dtype=float) -> np.ndarray:
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 1 or n_bins < 1 or x.size % n_bins:
        raise ValueError(
            f"{name} must be 1-D electrode-major with {n_bins} bins per electrode, got shape {x.shape}"
        )
    return x.reshape(-1, n_bins)


def electrode_scores(test_r, signal, n_bins: int):
    """Mean test r over each electrode's signal bins.

    Parameters
    ----------
    test_r : array, shape (n_electrodes * n_bins,)
        Test r per target, electrode-major (or any other per-target score, e.g. the
        validation r).
    signal : bool array, shape (n_electrodes * n_bins,)
        Signal bins of the model (:func:`mmsites.stats.signal.signal_bins`), electrode-major.
    n_bins : int
        Time bins per electrode (>= 1); the arrays' length must be a multiple of it.

    Returns
    -------
    score : ndarray, shape (n_electrodes,)
        Mean of ``test_r`` over the electrode's signal bins; NaN where the electrode has no
        signal bin.
    n_signal : ndarray of int, shape (n_electrodes,)
        Number of signal bins of each electrode.

    Raises
    ------
    ValueError
        If ``test_r`` or ``signal`` is not 1-D with a multiple of ``n_bins`` entries, or they
        differ in length.
    """
    r = _as_eb(test_r, n_bins, "test_r")
    s = _as_eb(signal, n_bins, "signal", bool)
    if r.shape != s.shape:
        raise ValueError(f"test_r and signal differ in shape: {r.shape} vs {s.shape}")
    n = s.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n > 0, (r * s).sum(1) / np.maximum(n, 1), np.nan)
    return score, n


def cv_inflation(folds) -> float:
    """Variance inflation of a fold-averaged score from overlapping training sets.

    The test r of different folds are positively correlated even under the null: each fold's
    model is trained on the other folds' held-out events, so the same noise enters several
    folds' scores. Swapping predictions event block by event block (or resampling events)
    treats the folds as independent and so underestimates the variance of the fold average
    (measured: variance ratio ~1.5, paired false-positive rate 0.08-0.12 at alpha 0.05 on
    white noise). Nadeau & Bengio (2003, Machine Learning 52:239) give the correction
    ``1 + K * n_test / n_train`` for the variance of a K-fold average relative to the naive
    one (their corrected resampled t-test); the paired tests divide the observed deviation
    by its square root.

    Parameters
    ----------
    folds : sequence of Fold
        The ``K`` cross-validation folds the scores were averaged over; their ``test`` and
        ``train`` sizes enter the factor.

    Returns
    -------
    factor : float
        ``1 + K * mean(n_test) / mean(n_train)`` (>= 1).

    Raises
    ------
    ValueError
        If ``folds`` is empty.
    """
    folds = list(folds)
    if not folds:
        raise ValueError("folds is empty")
    n_test = np.mean([len(f.test) for f in folds])
    n_train = np.mean([len(f.train) for f in folds])
    return float(1.0 + len(folds) * n_test / max(n_train, 1.0))


def _zscore(x: torch.Tensor) -> torch.Tensor:
    """Per-column z-score over events (a constant column becomes zeros)."""
    x = x - x.mean(0, keepdim=True)
    sd = x.pow(2).mean(0, keepdim=True).sqrt()
    return x / torch.where(sd > 0, sd, torch.ones_like(sd))


def paired_permutation_null(
    pred_a, pred_b, Y, folds, swaps, union, *, device: str = "cpu", max_bytes: float = 2e8, dtype=None
) -> np.ndarray:
    """Null of the paired statistic under random exchanges of the two models' predictions.

    Computed in float32 by default (``dtype``): ten thousand swaps of thousands of targets
    are memory-bound, and r in float32 (~1e-7) resolves any p-value the swaps can give; the
    observed statistic is the all-False row, computed by the same arithmetic.

    Parameters
    ----------
    pred_a, pred_b : array, shape (n_events, n_electrodes * n_bins)
        Out-of-fold predictions of the two models (electrode-major targets), finite on every
        test event.
    Y : array, shape (n_events, n_electrodes * n_bins)
        Responses, finite.
    folds : sequence of Fold
        The folds both models were cross-validated on; their test parts are scored.
    swaps : bool array, shape (n_perm, n_events)
        Where to exchange the predictions (:func:`mmsites.stats.resampling.block_swaps`); an
        all-False row gives the observed statistic. Chunks of rows give matching rows of the
        result.
    union : bool array, shape (n_electrodes, n_bins)
        Bins averaged per electrode (the union of both models' signal bins).
    device : str or torch.device, default "cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    max_bytes : float, default 2e8
        Memory budget in bytes of one batch of swapped sums; swaps are processed in batches
        that fit.
    dtype : torch.dtype, optional
        Compute dtype (default float32; float64 for comparisons with exact oracles).

    Returns
    -------
    null : ndarray, shape (n_perm, n_electrodes)
        Mean over ``union`` of fold-averaged test r of swapped a minus swapped b, where the
        predictions are z-scored per fold's test part before swapping. An electrode with no
        ``union`` bin gets 0.

    Raises
    ------
    ValueError
        If ``union`` does not cover the targets of ``pred_a``, the arrays differ in events or
        targets or are not finite where scored, or ``swaps`` is not (n_perm, n_events).
    """
    dev = resolve_device(device)
    dtype = torch.float32 if dtype is None else dtype
    union = np.asarray(union, dtype=bool)
    T = np.shape(pred_a)[1] if np.ndim(pred_a) == 2 else -1
    if union.ndim != 2 or union.size != T:
        raise ValueError(
            f"union must be (n_electrodes, n_bins) covering the {T} targets of pred_a, "
            f"got shape {union.shape}"
        )
    E, nb = union.shape
    # Only the union's targets enter the statistic: the others are never computed.
    cols = np.flatnonzero(union.ravel())
    A = as_tensor(np.asarray(pred_a)[:, cols], dev, dtype)
    n = A.shape[0]
    scored = np.concatenate(_fold_parts(folds, "test", n))
    check_events("pred_a", A, rows=scored)
    B = as_tensor(np.asarray(pred_b)[:, cols], dev, dtype)
    Yt = as_tensor(np.asarray(Y)[:, cols], dev, dtype)
    check_events("pred_b", B, n, rows=scored)
    check_events("Y", Yt, n, rows=scored)
    if np.shape(pred_b)[1] != T or np.shape(Y)[1] != T:
        raise ValueError(
            f"pred_a, pred_b and Y must have the same targets, got {T}, "
            f"{np.shape(pred_b)[1]}, {np.shape(Y)[1]}"
        )
    counts = union.sum(1)
    owner = torch.as_tensor(cols // nb, device=dev)
    weight = torch.as_tensor(1.0 / np.maximum(counts, 1)[cols // nb], device=dev, dtype=dtype)
    T = cols.size
    swaps = np.asarray(swaps, dtype=bool)
    if swaps.ndim != 2 or swaps.shape[1] != n:
        raise ValueError(f"swaps must have shape (n_perm, {n}), got {swaps.shape}")
    P = swaps.shape[0]
    parts = _fold_parts(folds, "test", n)
    # Fold-level pieces: the swapped sums are the unswapped ones plus S @ (change).
    pieces = []
    for idx in parts:
        ti = torch.as_tensor(idx, device=dev)
        # r is invariant to each model's own affine rescaling within a fold, so both models'
        # predictions are z-scored per fold before swapping: a swap then exchanges what
        # the models predict, not their arbitrary offsets and scales.
        a, b = _zscore(A[ti]), _zscore(B[ti])
        y = Yt[ti] - Yt[ti].mean(0)
        d = b - a
        # Events swapped together in every permutation (a block) form one run: summing the
        # changes per run first makes the products below cost runs, not events.
        local = swaps[:, idx]
        first = np.ones(idx.size, bool)
        first[1:] = (local[:, 1:] != local[:, :-1]).any(0)
        run = torch.as_tensor(np.cumsum(first) - 1, device=dev)

        n_runs = int(first.sum())

        def per_run(x, run=run, n_runs=n_runs):
            return torch.zeros((n_runs, T), dtype=dtype, device=dev).index_add_(0, run, x)

        pieces.append(
            dict(
                S=torch.as_tensor(local[:, first], device=dev),
                m=float(idx.size),
                sy=y.sum(0),
                syy=(y * y).sum(0),
                y_ok=(y * y).sum(0) > CONSTANT_REL_TOL * (Yt[ti] ** 2).sum(0),
                sa=a.sum(0),
                saa=(a * a).sum(0),
                say=(a * y).sum(0),
                sb=b.sum(0),
                sbb=(b * b).sum(0),
                sby=(b * y).sum(0),
                d=per_run(d),
                dsq=per_run(b * b - a * a),
                dy=per_run(d * y),
            )
        )
    batch = max(1, int(max_bytes // (4 * max(T, 1) * torch.tensor([], dtype=dtype).element_size())))
    out = torch.empty((P, E), dtype=dtype, device=dev)
    for s in range(0, P, batch):
        ra = torch.zeros((min(batch, P - s), T), dtype=dtype, device=dev)
        rb = torch.zeros_like(ra)
        for pc in pieces:
            S = pc["S"][s : s + batch].to(dtype)
            sd, sdsq, sdy = S @ pc["d"], S @ pc["dsq"], S @ pc["dy"]
            ra += _swapped_r(pc, sd, sdsq, sdy, +1.0)
            rb += _swapped_r(pc, sd, sdsq, sdy, -1.0)
        diff = (ra - rb) * (weight / len(pieces))
        out[s : s + batch] = torch.zeros((diff.shape[0], E), dtype=dtype, device=dev).index_add_(
            1, owner, diff
        )
    return out.cpu().numpy()


def _swapped_r(pc: dict, sd, sdsq, sdy, sign: float) -> torch.Tensor:
    """Pearson r of one model's swapped predictions with y in one fold part, (n_perm, T).

    The model's sums after the swaps are its own plus ``sign`` times the swapped changes. The
    responses are centred and the predictions z-scored, so a variance below ``1e-12 m`` is
    rounding noise: r = 0 there (the project's constant-vector rule).
    """
    m = pc["m"]
    key = "a" if sign > 0 else "b"
    s = pc["s" + key] + sign * sd
    var = (pc["s" + key + key] + sign * sdsq).sub_(s * s / m)
    cov = (pc["s" + key + "y"] + sign * sdy).sub_(s * (pc["sy"] / m))
    ok = (var > CONSTANT_REL_TOL * m) & pc["y_ok"]
    return torch.where(ok, cov / (var.clamp_(min=1e-300) * pc["syy"]).sqrt_(), torch.zeros_like(cov))


def _tested(signal_a, signal_b, n_bins, min_signal_bins):
    sa = _as_eb(signal_a, n_bins, "signal_a", bool)
    sb = _as_eb(signal_b, n_bins, "signal_b", bool)
    if sa.shape != sb.shape:
        raise ValueError(f"signal_a and signal_b differ in shape: {sa.shape} vs {sb.shape}")
    na, nb_ = sa.sum(1), sb.sum(1)
    tested = (na >= min_signal_bins) & (nb_ >= min_signal_bins)
    return sa | sb, tested


def paired_permutation_test(
    pred_a,
    pred_b,
    Y,
    folds,
    swaps,
    signal_a,
    signal_b,
    n_bins: int,
    *,
    device: str = "cpu",
    tail_fit: bool = True,
    inflation: float = 1.0,
):
    """One-sided paired permutation test "model a predicts better than model b".

    The observed statistic is the null function's own value at "no swap" (an all-False row
    computed with the swaps), so the observed value and the null share every rounding.
    Where fewer than 10 swaps reach the observed value, the p-value comes from a generalized
    Pareto fit to the null's tail (:func:`mmsites.stats.pvalues.tail_pvalues`) when
    ``tail_fit``, so BH is not capped by the permutation floor ``1 / (n_perm + 1)``.

    Parameters
    ----------
    pred_a, pred_b : array, shape (n_events, n_electrodes * n_bins)
        Out-of-fold predictions of models a and b (``CVResult.predictions``), electrode-major,
        finite on every test event.
    Y : array, shape (n_events, n_electrodes * n_bins)
        Responses, finite.
    folds : sequence of Fold
        The folds both models were cross-validated on; their test parts are scored.
    swaps : bool array, shape (n_perm, n_events)
        Where to exchange the two models' predictions
        (:func:`mmsites.stats.resampling.block_swaps`), shared by all comparisons of the
        (subject, alignment).
    signal_a, signal_b : bool array, shape (n_electrodes * n_bins,)
        Signal bins of each model (chosen on validation data); the statistic averages over
        their union.
    n_bins : int
        Time bins per electrode.
    device : str or torch.device, default "cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    tail_fit : bool, default True
        Estimate p-values beyond the permutation floor from the null's tail.
    inflation : float, default 1.0
        Variance inflation of the fold average (:func:`cv_inflation`, >= 1); the observed
        statistic is divided by its square root before it meets the swap null.

    Returns
    -------
    statistic : ndarray, shape (n_electrodes,)
        Mean over the union of signal bins of r_a - r_b (fold-averaged test r of the
        z-scored predictions, not divided by the inflation).
    p : ndarray, shape (n_electrodes,)
        One-sided p-value of "a beats b", in (0, 1].

    Raises
    ------
    ValueError
        If the arrays do not fit each other (see :func:`paired_permutation_null`) or
        ``inflation < 1``.
    """
    union, _ = _tested(signal_a, signal_b, n_bins, 0)
    n = np.shape(pred_a)[0]
    both = np.vstack([np.zeros((1, n), bool), np.asarray(swaps, bool)])
    null = paired_permutation_null(pred_a, pred_b, Y, folds, both, union, device=device)
    observed = null[0] / np.sqrt(_check_inflation(inflation))
    if tail_fit:
        return null[0], tail_pvalues(observed, null[1:])[0]
    return null[0], permutation_pvalues(observed, null[1:])


def _check_inflation(inflation: float) -> float:
    if not inflation >= 1:
        raise ValueError(f"inflation must be a variance factor >= 1, got {inflation}")
    return float(inflation)


def paired_bootstrap_test(
    test_r_boot_a, test_r_boot_b, signal_a, signal_b, n_bins: int, *, inflation: float = 1.0
):
    """One-sided paired bootstrap test "model a predicts better than model b".

    Parameters
    ----------
    test_r_boot_a, test_r_boot_b : array, shape (n_boot, n_electrodes * n_bins)
        Bootstrapped test r of both models on the *same* resamples
        (:func:`mmsites.stats.bootstrap.bootstrap_scores`), electrode-major.
    signal_a, signal_b : bool array, shape (n_electrodes * n_bins,)
        Signal bins of each model (chosen on validation data); the statistic averages over
        their union.
    n_bins : int
        Time bins per electrode.
    inflation : float, default 1.0
        Variance inflation of the fold average (:func:`cv_inflation`, >= 1): the resampled
        statistics' deviations from their mean are scaled by its square root.

    Returns
    -------
    statistic : ndarray, shape (n_electrodes,)
        Mean over resamples of the union-bin mean of r_a - r_b.
    p : ndarray, shape (n_electrodes,)
        (1 + #resamples with statistic <= 0) / (1 + n_boot).

    Raises
    ------
    ValueError
        If the two bootstraps are not 2-D of one shape, the signal arrays do not fit
        ``n_bins``, or ``inflation < 1``.
    """
    ta = np.asarray(test_r_boot_a, dtype=float)
    tb = np.asarray(test_r_boot_b, dtype=float)
    if ta.shape != tb.shape or ta.ndim != 2:
        raise ValueError(
            f"bootstraps of both models must be (n_boot, n_targets) on the same "
            f"resamples, got {ta.shape} and {tb.shape}"
        )
    union, _ = _tested(signal_a, signal_b, n_bins, 0)
    diff = (ta - tb).reshape(ta.shape[0], *union.shape)
    w = union / np.maximum(union.sum(1, keepdims=True), 1)
    stat = (diff * w[None]).sum(2)  # (n_boot, n_electrodes)
    centre = stat.mean(0)
    spread = centre + np.sqrt(_check_inflation(inflation)) * (stat - centre)
    p = (1.0 + (spread <= 0).sum(0)) / (1.0 + stat.shape[0])
    return stat.mean(0), p


DEFAULT_WINNER_RULES = ("test", "count", "none")


def compare_models(
    test_r_a,
    test_r_b,
    signal_a,
    signal_b,
    n_bins: int,
    *,
    min_signal_bins: int = 10,
    method: str = "permutation",
    pred_a=None,
    pred_b=None,
    Y=None,
    folds=None,
    swaps=None,
    test_r_boot_a=None,
    test_r_boot_b=None,
    default_winner: str = "test",
    val_r_a=None,
    val_r_b=None,
    tail_fit: bool = True,
    inflation: float = 1.0,
    device: str = "cpu",
) -> pd.DataFrame:
    """Compare two models at every electrode, on the test halves.

    Signal bins (``signal_a``, ``signal_b``) must have been chosen on validation data; the
    scores and the test use the test r only.

    Parameters
    ----------
    test_r_a, test_r_b : array, shape (n_electrodes * n_bins,)
        Observed fold-averaged test r of models a and b (``CVResult.test_r``),
        electrode-major.
    signal_a, signal_b : bool array, shape (n_electrodes * n_bins,)
        Signal bins of each model, chosen on validation data.
    n_bins : int
        Time bins per electrode.
    min_signal_bins : int, default 10
        Signal bins both models need for a test (see the module docstring).
    method : {"permutation", "bootstrap"}, default "permutation"
        ``permutation`` (:func:`paired_permutation_test`) needs ``pred_a, pred_b, Y, folds,
        swaps``; ``bootstrap`` (:func:`paired_bootstrap_test`) needs ``test_r_boot_a,
        test_r_boot_b``.
    pred_a, pred_b : array, shape (n_events, n_electrodes * n_bins), optional
        Out-of-fold predictions of models a and b (``CVResult.predictions``), for
        ``permutation``.
    Y : array, shape (n_events, n_electrodes * n_bins), optional
        Responses, for ``permutation``.
    folds : sequence of Fold, optional
        The folds both models were cross-validated on, for ``permutation``.
    swaps : bool array, shape (n_perm, n_events), optional
        Prediction swaps (:func:`mmsites.stats.resampling.block_swaps`), for
        ``permutation``.
    test_r_boot_a, test_r_boot_b : array, shape (n_boot, n_electrodes * n_bins), optional
        Bootstrapped test r of both models on the same resamples, for ``bootstrap``.
    default_winner : {"test", "count", "none"}, default "test"
        What happens when only one model has ``min_signal_bins`` signal bins (module
        docstring).
    val_r_a, val_r_b : array, shape (n_electrodes * n_bins,), optional
        Validation r, for the descriptive ``val_score_a``, ``val_score_b`` columns (the
        scores the choice of best models is made on).
    tail_fit : bool, default True
        Generalized Pareto tail for permutation p-values beyond the floor.
    inflation : float, default 1.0
        Variance inflation of the fold-averaged statistic (:func:`cv_inflation`, >= 1).
    device : str or torch.device, default "cpu"
        Device of the permutation null: ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Returns
    -------
    table : DataFrame, one row per electrode (index 0..n_electrodes-1)
        ``score_a, score_b, delta, val_score_a, val_score_b, n_signal_a, n_signal_b,
        p_value, default_winner`` (``"a"``, ``"b"`` or ``""``). ``p_value`` is NaN where the
        electrode was not tested; the val scores are NaN without ``val_r_*``.

    Raises
    ------
    ValueError
        If ``default_winner`` or ``method`` is not one of the choices, the arguments the
        method needs are missing, or the arrays do not fit ``n_bins`` and each other.
    """
    if default_winner not in DEFAULT_WINNER_RULES:
        raise ValueError(f"default_winner must be one of {DEFAULT_WINNER_RULES}, got {default_winner!r}")
    score_a, na = electrode_scores(test_r_a, signal_a, n_bins)
    score_b, nb_ = electrode_scores(test_r_b, signal_b, n_bins)
    _, tested = _tested(signal_a, signal_b, n_bins, min_signal_bins)
    enough_a, enough_b = na >= min_signal_bins, nb_ >= min_signal_bins
    if default_winner == "test":
        tested = enough_a | enough_b
    E = score_a.size
    p = np.full(E, np.nan)
    if tested.any():
        cols = (np.arange(E * n_bins).reshape(E, n_bins)[tested]).ravel()
        sa = np.asarray(signal_a, bool)[cols]
        sb = np.asarray(signal_b, bool)[cols]
        if method == "permutation":
            if any(x is None for x in (pred_a, pred_b, Y, folds, swaps)):
                raise ValueError("method='permutation' needs pred_a, pred_b, Y, folds and swaps")
            _, p_t = paired_permutation_test(
                np.asarray(pred_a)[:, cols],
                np.asarray(pred_b)[:, cols],
                np.asarray(Y)[:, cols],
                folds,
                swaps,
                sa,
                sb,
                n_bins,
                device=device,
                tail_fit=tail_fit,
                inflation=inflation,
            )
        elif method == "bootstrap":
            if test_r_boot_a is None or test_r_boot_b is None:
                raise ValueError(
                    "method='bootstrap' needs test_r_boot_a and test_r_boot_b (both models' "
                    "bootstrapped test r)"
                )
            _, p_t = paired_bootstrap_test(
                np.asarray(test_r_boot_a)[:, cols],
                np.asarray(test_r_boot_b)[:, cols],
                sa,
                sb,
                n_bins,
                inflation=inflation,
            )
        else:
            raise ValueError(f"method must be 'permutation' or 'bootstrap', got {method!r}")
        p[tested] = p_t
    winner = np.full(E, "", dtype=object)
    if default_winner == "count":
        winner = np.where(enough_a & ~enough_b, "a", np.where(enough_b & ~enough_a, "b", ""))
    val_a = electrode_scores(val_r_a, signal_a, n_bins)[0] if val_r_a is not None else np.full(E, np.nan)
    val_b = electrode_scores(val_r_b, signal_b, n_bins)[0] if val_r_b is not None else np.full(E, np.nan)
    return pd.DataFrame(
        {
            "score_a": score_a,
            "score_b": score_b,
            "delta": score_a - score_b,
            "val_score_a": val_a,
            "val_score_b": val_b,
            "n_signal_a": na,
            "n_signal_b": nb_,
            "p_value": p,
            "default_winner": winner,
        }
    )


def check_swap_resolution(swaps, folds) -> None:
    """Warn when the swaps can take fewer distinct values on the test halves than 20 / 0.05.

    Events of the test halves that every swap row exchanges together form one block; with
    ``k`` such blocks there are ``2 ** k`` distinct swap patterns, and fewer than 400 leave
    p-values too coarse at 0.05 (:func:`mmsites.stats.pvalues.warn_if_few_permutations`).

    Parameters
    ----------
    swaps : bool array, shape (n_perm, n_events)
        Prediction swaps (:func:`mmsites.stats.resampling.block_swaps`).
    folds : sequence of Fold
        The folds whose test parts the paired tests score.
    """
    swaps = np.asarray(swaps, dtype=bool)
    test = np.concatenate([np.asarray(f.test) for f in folds])
    local = swaps[:, np.sort(test)]
    # Events always swapped together form one block; distinct patterns are 2 ** blocks.
    change = np.r_[True, (local[:, 1:] != local[:, :-1]).any(0)] if local.shape[1] else []
    warn_if_few_permutations(n_distinct_swaps(int(np.sum(change))), what="paired swaps")
