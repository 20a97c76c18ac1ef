"""Linear probes, ROC-AUC and its moving-block bootstrap.

Notes
-----
**The probe**

:func:`linear_probe`: standardisation (mean and standard deviation of the training events,
``sklearn.preprocessing.StandardScaler``) followed by ``sklearn.linear_model.LogisticRegression``
(L2, lbfgs, ``class_weight="balanced"``). Its inverse penalty ``C`` is chosen from the grid
:data:`DEFAULT_CS` (10^-4 ... 10^4, 9 values) by the mean validation ROC-AUC over the split's
inner folds, which are drawn from the training events only (each inner fit re-standardises
on its own fit part); ties go to the smaller ``C``. The probe is then refitted on all training
events with that ``C`` and scores the test events with its decision function (log-odds).
Nothing about the test events enters any choice.

Any representation works as long as it is one row per event: raw voltage windows flattened,
band-power bins, BrainBERT embeddings (events × electrodes × dims, flattened, or one
electrode's columns for a per-electrode probe), PopT CLS vectors. The probe treats them as an
array ``(n_events, n_features)``.

**The confidence interval**

Test events are autocorrelated in time: neighbouring words and silence windows overlap,
classes come in runs (a dialogue, a silent stretch) and the neural signal drifts slowly, so
the probe's scores on neighbouring test events are alike and their labels too. A plain
bootstrap of test events treats them as independent and gives intervals that are far too
narrow. :func:`decode` uses a **moving-block bootstrap** (Künsch 1989) of each split's test
events in time order: blocks of ``block`` consecutive test events start at uniformly drawn
positions and are concatenated until ``n_test`` events are drawn; the AUC of each resample,
each event weighted by its multiplicity, gives the bootstrap distribution, and the interval
is its percentile interval (``ci`` = 0.95: the 2.5th and 97.5th percentiles). The block
length is chosen from the data (:func:`auto_block`): the larger of ``ceil(sqrt(n_test))`` and
the Politis-White automatic block length of the AUC's influence values, at most half the test
set. The fitted probe is kept fixed: the interval is the uncertainty of the test AUC given the
fit, over test events. Resamples that hold a single class (possible when classes come in long
runs) have no AUC and are left out (a warning counts them).

Across the folds of a split kind, :meth:`DecodeResult.summary` averages the folds' AUCs
(Neuroprobe reports the mean over folds) and, for the interval, the folds' interval ends.
The folds' AUCs are not independent: in 2-fold cross-fitting each half's probe is scored on
the other half, and under the null both AUCs measure the same chance alignment of the two
halves' class differences (their correlation over null data sets was 0.5-0.86). Averaging
independent bootstrap replicates of the folds would assume independence and cover chance in
only 68-83 % of null data sets instead of 95 %; averaging the interval ends is exact for
perfectly correlated folds and conservative otherwise.

Calibration (null data: labels a two-state Markov chain switching with probability ``q``
per event, 10 features AR(1) with coefficient ``phi`` per event, independent of the labels;
400 events ~0.5 s apart, 2 purged folds of ~200 test events, grid (0.01, 1, 100); share of
95 % intervals that contain 0.5 over 200 data sets, fewer where a fold held a single class):

================================  =============  ============  ===============
data                              plain, fold    block, fold   block, summary
================================  =============  ============  ===============
independent (phi 0, q 0.5)        0.940          0.920         0.945
runs of ~10 (phi 0.9, q 0.1)      0.550          0.908         0.935
runs of ~20 (phi 0.95, q 0.05)    0.419          0.828         0.854
runs of ~50 (phi 0.98, q 0.02)    0.287          0.729         0.794
================================  =============  ============  ===============

With runs of 50 events a 200-event test fold holds about four independent stretches, and no
resampling of it can recover the variance: test sets need to span many times the
correlation length of the task (longer sessions, fewer folds). The smaller shortfall at
shorter runs is the moving-block bootstrap's known downward bias when blocks are not much
longer than the correlation length, and possibly what a fixed-fit bootstrap cannot see: near
the fold boundary a probe trained on autocorrelated data shares the test fold's local,
spurious association. ``tests/test_decoding_probes.py`` checks the runs-of-10 case on 20 seeds
(0.875 per fold, 1.0 for the summary, 0.625 for the plain bootstrap).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CS",
    "FOLD_COLUMNS",
    "ProbeFit",
    "DecodeResult",
    "roc_auc",
    "moving_block_indices",
    "auto_block",
    "linear_probe",
    "decode",
]

#: Inverse L2 penalties of the logistic regression searched by the inner CV.
DEFAULT_CS = tuple(float(c) for c in 10.0 ** np.arange(-4, 5))
#: Columns of :attr:`DecodeResult.folds`.
FOLD_COLUMNS = ("split", "auc", "auc_lo", "auc_hi", "n_train", "n_test", "C", "inner_auc", "block")


def roc_auc(scores, labels, weights=None):
    """ROC-AUC of scores for binary labels, optionally for many event weightings at once.

    The probability that a positive event scores higher than a negative one, ties counting
    one half (the Mann-Whitney statistic, as ``sklearn.metrics.roc_auc_score``), with event
    ``i`` counted ``weights[..., i]`` times (bootstrap multiplicities).

    Parameters
    ----------
    scores : array-like of float, shape (n,)
        Decision scores, finite.
    labels : array-like of int, shape (n,)
        0 or 1.
    weights : array-like of float, shape (n,) or (n_weightings, n), optional
        Non-negative event weights; default all 1.

    Returns
    -------
    auc : float or ndarray of float64, shape (n_weightings,)
        A float for 1-D or no weights, else one AUC per weighting; NaN where a weighting
        gives one class zero total weight.

    Raises
    ------
    ValueError
        If the shapes disagree, a score is not finite, or a label is not 0/1.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {y.size}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    single = weights is None or np.ndim(weights) == 1
    w = np.ones((1, s.size)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if w.shape[1] != s.size:
        raise ValueError(f"weights must have {s.size} columns (one per event), got shape {w.shape}")
    order = np.argsort(s, kind="stable")
    s_sorted, y_sorted, w_sorted = s[order], y[order].astype(bool), w[:, order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]]) if s.size else np.empty(0, int)
    if s.size == 0:
        out = np.full(w.shape[0], np.nan)
        return float(out[0]) if single else out
    pos = np.add.reduceat(w_sorted * y_sorted, starts, axis=1)  # (n_w, n_unique)
    neg = np.add.reduceat(w_sorted * ~y_sorted, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = np.sum(pos * (below + 0.5 * neg), axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return float(out[0]) if single else out


def _placements(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The AUC's influence value of each event (DeLong placement values, centred).

    For a positive event, the fraction of negatives scoring lower (ties one half); for a
    negative, the fraction of positives scoring higher; minus the AUC, scaled by ``n / n_1``
    or ``n / n_0``, so that ``AUC - E[AUC]`` is to first order the mean of these values.
    """
    y = labels.astype(bool)
    s1, s0 = np.sort(scores[y]), np.sort(scores[~y])
    auc = roc_auc(scores, labels)
    below0 = (np.searchsorted(s0, scores, "left") + np.searchsorted(s0, scores, "right")) / (2.0 * s0.size)
    above1 = 1.0 - (np.searchsorted(s1, scores, "left") + np.searchsorted(s1, scores, "right")) / (
        2.0 * s1.size
    )
    n = scores.size
    return np.where(y, (below0 - auc) * n / s1.size, (above1 - auc) * n / s0.size)


def _politis_white(x: np.ndarray) -> int:
    """Politis-White (2004; Patton, Politis and White 2009) block length of a moving-block bootstrap."""
    n = x.size
    x = x - x.mean()
    kn = max(5, math.ceil(math.sqrt(math.log10(n))))
    m_max = math.ceil(math.sqrt(n)) + kn
    lags = min(n - 1, m_max + kn)
    acov = np.array([np.dot(x[: n - k], x[k:]) / n for k in range(lags + 1)])
    if not acov[0] > 0:
        return 1
    rho = acov / acov[0]
    threshold = 2.0 * math.sqrt(math.log10(n) / n)
    m_hat = m_max
    for m in range(0, max(0, lags - kn) + 1):
        if np.all(np.abs(rho[m + 1 : m + 1 + kn]) < threshold):
            m_hat = m
            break
    big_m = min(2 * m_hat, lags)
    k = np.arange(-big_m, big_m + 1)
    frac = np.abs(k) / max(big_m, 1)
    flat_top = np.where(frac <= 0.5, 1.0, np.where(frac <= 1.0, 2.0 * (1.0 - frac), 0.0))
    g0 = float(np.sum(flat_top * acov[np.abs(k)]))
    g1 = float(np.sum(flat_top * np.abs(k) * acov[np.abs(k)]))
    if not g0 > 0:
        return 1
    b = (2.0 * g1**2 / ((4.0 / 3.0) * g0**2)) ** (1.0 / 3.0) * n ** (1.0 / 3.0)
    return int(np.clip(round(b), 1, math.ceil(min(3.0 * math.sqrt(n), n / 3.0))))


def auto_block(scores, labels) -> int:
    """Moving-block length for the bootstrap of a test AUC, from the data.

    The larger of ``ceil(sqrt(n))`` and the Politis-White (2004, corrected 2009) automatic
    block length of the AUC's influence values in time order (the DeLong placement values:
    how each event moves the AUC), capped at ``n // 2``. The square-root floor keeps blocks
    long enough when the autocorrelation estimate is noisy; the Politis-White term lengthens
    them when the scores and labels are autocorrelated over more events (long silent
    stretches, slow drift).

    Parameters
    ----------
    scores : array-like of float, shape (n,)
        Test decision scores in time order.
    labels : array-like of int, shape (n,)
        Their labels 0/1 (both classes present).

    Returns
    -------
    block : int
        Events per block, in ``1 .. max(1, n // 2)``.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(np.int64)
    n = s.size
    if n < 4 or y.min() == y.max():
        return max(1, min(math.ceil(math.sqrt(n)), n // 2))
    block = max(math.ceil(math.sqrt(n)), _politis_white(_placements(s, y)))
    return max(1, min(block, n // 2))


def moving_block_indices(n: int, n_boot: int, *, block: int, rng) -> np.ndarray:
    """Moving-block bootstrap resamples of ``n`` events in time order.

    Parameters
    ----------
    n : int
        Number of events (positions ``0 .. n - 1`` in time order).
    n_boot : int
        Number of resamples.
    block : int
        Events per block; capped at ``n // 2`` (a block as long as the series would copy it
        unchanged); 1 gives the plain (i.i.d.) bootstrap.
    rng : numpy.random.Generator or int
        Random generator, or a seed for one.

    Returns
    -------
    positions : ndarray of int64, shape (n_boot, n)
        Each row: ``ceil(n / block)`` blocks of consecutive positions, each starting at a
        uniform position in ``0 .. n - block``, concatenated and cut to ``n``.

    Raises
    ------
    ValueError
        If a count is not at least 1.
    """
    n, n_boot, block = int(n), int(n_boot), int(block)
    if n < 1 or n_boot < 1 or block < 1:
        raise ValueError(f"n, n_boot and block must be at least 1, got {n}, {n_boot}, {block}")
    rng = np.random.default_rng(rng)
    length = max(1, min(block, n // 2))
    n_blocks = -(-n // length)
    first = rng.integers(0, n - length + 1, size=(n_boot, n_blocks))
    return (first[:, :, None] + np.arange(length)).reshape(n_boot, -1)[:, :n].astype(np.int64)


@dataclass(frozen=True)
class ProbeFit:
    """A linear probe fitted on one split.

    Attributes
    ----------
    C : float
        Inverse L2 penalty chosen by the inner CV.
    inner_auc : ndarray of float64, shape (n_Cs,)
        Mean validation ROC-AUC over the usable inner folds, per value of the grid.
    Cs : ndarray of float64, shape (n_Cs,)
        The grid, ascending.
    scores : ndarray of float64, shape (n_test,)
        Decision function (log-odds of label 1) on the split's test events, in the order of
        ``split.test``.
    model : sklearn.pipeline.Pipeline
        The scaler and logistic regression refitted on every training event.
    """

    C: float
    inner_auc: np.ndarray
    Cs: np.ndarray
    scores: np.ndarray
    model: object = field(repr=False)

    @property
    def chosen_inner_auc(self) -> float:
        """The inner validation ROC-AUC of the chosen hyper-parameter.

        Returns
        -------
        float
            ``inner_auc`` at ``C`` in ``Cs``; NaN if ``C`` is not in the grid.
        """
        hit = np.flatnonzero(self.Cs == self.C)
        return float(self.inner_auc[hit[0]]) if hit.size else float("nan")


def _probe_path(Xf, yf, Xv, yv, Cs, max_iter):
    """Validation AUC of each C (ascending, warm-started) fitted on (Xf, yf)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(Xf)
    Zf, Zv = scaler.transform(Xf), scaler.transform(Xv)
    clf = LogisticRegression(class_weight="balanced", max_iter=max_iter, warm_start=True)
    out = np.empty(len(Cs))
    for k, C in enumerate(Cs):
        clf.set_params(C=C)
        clf.fit(Zf, yf)
        out[k] = roc_auc(clf.decision_function(Zv), yv)
    return out


def _check_xy(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_events, n_features), got shape {X.shape}; flatten per-event "
            "arrays first (e.g. X.reshape(len(X), -1))"
        )
    if not np.issubdtype(X.dtype, np.number) or not np.isfinite(X).all():
        raise ValueError("X must hold finite numbers")
    y = np.asarray(y).ravel()
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must hold one label per row of X ({X.shape[0]}); got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold binary labels 0/1")
    return X, y.astype(np.int64)


def _two_classes(y: np.ndarray, idx: np.ndarray, what: str) -> None:
    counts = np.bincount(y[idx], minlength=2)
    if counts.min() == 0:
        raise ValueError(
            f"{what} has {counts[1]} events labelled 1 and {counts[0]} labelled 0: a ROC-AUC needs "
            "both classes (contiguous folds can isolate a class when classes come in long runs; "
            "use fewer folds or check the task table)"
        )


def linear_probe(X, y, split, *, Cs=DEFAULT_CS, max_iter: int = 1000) -> ProbeFit:
    """Fit a standardised logistic-regression probe on a split's training events.

    ``C`` is chosen on the split's inner folds (training events only; module docstring),
    then the probe is refitted on every training event and scores the test events.

    Parameters
    ----------
    X : array-like of float, shape (n_events, n_features)
        One row per event, any representation.
    y : array-like of int, shape (n_events,)
        Labels 0/1.
    split : Split
        Training and test events and inner folds (:mod:`mmsites.decoding.splits`).
    Cs : sequence of float, default DEFAULT_CS
        Inverse L2 penalties to search (10^-4 ... 10^4).
    max_iter : int, default 1000
        Iteration cap of lbfgs.

    Returns
    -------
    fit : ProbeFit
        The chosen ``C``, the inner validation AUCs and the test scores.

    Raises
    ------
    ValueError
        If the inputs are malformed, the training part lacks a class, or no inner fold has
        both classes in its fit and validation parts.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _check_xy(X, y)
    Cs = np.sort(np.asarray(Cs, dtype=np.float64).ravel())
    if Cs.size == 0 or not (Cs > 0).all():
        raise ValueError(f"Cs must be positive numbers, got {Cs}")
    train = np.asarray(split.train, dtype=np.int64)
    test = np.asarray(split.test, dtype=np.int64)
    name = getattr(split, "name", "") or "split"
    _two_classes(y, train, f"{name}: the training part")
    path, used = np.zeros(Cs.size), 0
    for fit, val in split.inner:
        fit, val = np.asarray(fit, dtype=np.int64), np.asarray(val, dtype=np.int64)
        if np.bincount(y[fit], minlength=2).min() == 0 or np.bincount(y[val], minlength=2).min() == 0:
            continue
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*did not converge.*")
            path += _probe_path(X[fit], y[fit], X[val], y[val], Cs, max_iter)
        used += 1
    if used == 0:
        raise ValueError(
            f"{name}: no inner fold has both classes in its fit and validation parts, so C "
            "cannot be chosen; use fewer inner folds or a longer training part"
        )
    inner_auc = path / used
    best = int(np.flatnonzero(inner_auc == inner_auc.max())[0])
    C = float(Cs[best])
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=max_iter)
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*did not converge.*")
        model.fit(X[train], y[train])
    scores = model.decision_function(X[test]) if test.size else np.empty(0)
    return ProbeFit(C=C, inner_auc=inner_auc, Cs=Cs, scores=np.asarray(scores, dtype=np.float64), model=model)


@dataclass(frozen=True)
class DecodeResult:
    """Test ROC-AUC of a probe on every split, with bootstrap replicates.

    Attributes
    ----------
    folds : pandas.DataFrame
        One row per split, columns :data:`FOLD_COLUMNS`: ``split`` (its name), ``auc`` (test
        ROC-AUC), ``auc_lo``/``auc_hi`` (percentile interval of the moving-block bootstrap),
        ``n_train``/``n_test`` (events), ``C`` (chosen penalty), ``inner_auc`` (its mean
        inner validation AUC), ``block`` (events per bootstrap block).
    boot : ndarray of float64, shape (n_splits, n_boot)
        Bootstrap replicates of each split's test AUC (NaN: a resample with one class).
    ci : float
        Confidence level of the intervals.
    scores : tuple of ndarray
        Test decision scores of each split, in the order of its ``test`` indices.
    """

    folds: pd.DataFrame
    boot: np.ndarray
    ci: float
    scores: tuple = field(repr=False)

    def summary(self) -> dict:
        """Aggregate the splits: mean AUC over folds and its interval.

        The interval of the mean is the mean of the splits' interval ends: the percentile
        interval of the mean if the splits' AUCs were perfectly correlated (module docstring:
        they are strongly correlated, and treating them as independent gives intervals that
        are too narrow).

        Returns
        -------
        summary : dict
            ``auc`` (mean of the splits' test AUCs), ``auc_lo``/``auc_hi`` (mean of the
            splits' ``auc_lo``/``auc_hi``), ``n_train`` (mean training events per split,
            rounded), ``n_test`` (test events summed over splits), ``n_folds`` (number of
            splits).
        """
        return {
            "auc": float(self.folds["auc"].mean()),
            "auc_lo": float(self.folds["auc_lo"].mean()),
            "auc_hi": float(self.folds["auc_hi"].mean()),
            "n_train": int(round(float(self.folds["n_train"].mean()))),
            "n_test": int(self.folds["n_test"].sum()),
            "n_folds": len(self.folds),
        }


def _percentiles(values: np.ndarray, ci: float, what: str) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError(f"{what}: every bootstrap resample held a single class; no interval can be formed")
    if finite.size < values.size:
        logger.warning(
            "%s: %d of %d bootstrap resamples held a single class and were left out",
            what,
            values.size - finite.size,
            values.size,
        )
    tail = 100.0 * (1.0 - ci) / 2.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return float(lo), float(hi)


def decode(
    X,
    y,
    times,
    splits,
    *,
    groups=None,
    Cs=DEFAULT_CS,
    n_boot: int = 1000,
    block: int | None = None,
    ci: float = 0.95,
    seed: int = 0,
    max_iter: int = 1000,
    probe=None,
) -> DecodeResult:
    """Fit a linear probe on every split and score it on the test events.

    Parameters
    ----------
    X : array-like of float, shape (n_events, n_features)
        One row per event, any representation (flatten per-event arrays first).
    y : array-like of int, shape (n_events,)
        Labels 0/1 (a task table's ``label``).
    times : array-like of float, shape (n_events,)
        Event times (s; a task table's ``time_s``): they order each split's test events for
        the moving-block bootstrap.
    splits : sequence of Split
        From :mod:`mmsites.decoding.splits`.
    groups : array-like, shape (n_events,), optional
        Recording of each event; test events are ordered by (group, time). Needed only when
        a split's test events come from several recordings whose times overlap.
    Cs : sequence of float, default DEFAULT_CS
        Inverse L2 penalties searched by the inner CV.
    n_boot : int, default 1000
        Bootstrap resamples per split.
    block : int, optional
        Events per bootstrap block; default :func:`auto_block` of each split's test scores
        and labels (at least ``ceil(sqrt(n_test))``); 1 gives the plain bootstrap.
    ci : float, default 0.95
        Confidence level of the percentile intervals.
    seed : int, default 0
        Seed of the bootstrap (each split gets its own stream, spawned from it).
    max_iter : int, default 1000
        Iteration cap of lbfgs.
    probe : callable, optional
        Another decoder in place of the linear probe: ``probe(X, y, split)`` returns a
        :class:`ProbeFit` whose ``scores`` are the split's test events' scores (any monotone
        score of label 1) and whose choices were made on ``split.inner`` only (e.g. a PopT
        fine-tuned end to end with its steps chosen on an inner fold). ``Cs`` and
        ``max_iter`` are then unused.

    Returns
    -------
    result : DecodeResult
        Per-split AUCs and intervals (``result.folds``), bootstrap replicates, scores;
        ``result.summary()`` aggregates the splits.

    Raises
    ------
    ValueError
        If the inputs are malformed, a split's training or test part lacks a class, or every
        bootstrap resample of a split holds a single class.
    """
    X, y = _check_xy(X, y)
    n = X.shape[0]
    t = np.asarray(times, dtype=np.float64).ravel()
    if t.shape != (n,) or not np.isfinite(t).all():
        raise ValueError(f"times must hold one finite time (s) per row of X ({n}); got shape {t.shape}")
    g = (
        np.zeros(n, np.int64)
        if groups is None
        else np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
    )
    if g.shape != (n,):
        raise ValueError(f"groups must hold one label per row of X ({n})")
    splits = list(splits)
    if not splits:
        raise ValueError("no splits given")
    if not 0 < float(ci) < 1:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    n_boot = int(n_boot)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    streams = np.random.SeedSequence(seed).spawn(len(splits))
    rows, boots, scores = [], [], []
    for k, split in enumerate(splits):
        name = getattr(split, "name", "") or f"split{k}"
        test = np.asarray(split.test, dtype=np.int64)
        if test.size and (test.min() < 0 or test.max() >= n):
            raise ValueError(f"{name}: test indices outside 0..{n - 1}")
        _two_classes(y, test, f"{name}: the test part")
        fit = linear_probe(X, y, split, Cs=Cs, max_iter=max_iter) if probe is None else probe(X, y, split)
        if np.shape(fit.scores) != (test.size,):
            raise ValueError(
                f"{name}: the probe returned {np.shape(fit.scores)} scores for {test.size} test events"
            )
        order = np.lexsort((t[test], g[test]))
        s_ord, y_ord = fit.scores[order], y[test][order]
        auc = roc_auc(s_ord, y_ord)
        blk = auto_block(s_ord, y_ord) if block is None else int(block)
        pos = moving_block_indices(test.size, n_boot, block=blk, rng=np.random.default_rng(streams[k]))
        flat = (pos + np.arange(n_boot)[:, None] * test.size).ravel()
        weights = np.bincount(flat, minlength=n_boot * test.size).reshape(n_boot, test.size)
        rep = roc_auc(s_ord, y_ord, weights)
        lo, hi = _percentiles(rep, float(ci), name)
        used_block = max(1, min(blk, test.size // 2))
        rows.append((name, auc, lo, hi, len(split.train), test.size, fit.C, fit.chosen_inner_auc, used_block))
        boots.append(rep)
        scores.append(fit.scores)
    folds = pd.DataFrame(rows, columns=list(FOLD_COLUMNS))
    return DecodeResult(folds=folds, boot=np.vstack(boots), ci=float(ci), scores=tuple(scores))
