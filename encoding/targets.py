"""Per-fold reduction of multi-dimensional targets (e.g. BrainBERT embeddings per electrode).

A target that is a vector per event and unit (a BrainBERT embedding of each electrode's
response, hundreds of dimensions) is reduced to a few principal components before the ridge
CV. The reduction is fitted on each fold's training events only, so no held-out event
shapes the targets it is scored on; each fold thus has its own target matrix, which
:class:`mmsites.encoding.ridge.CVEngine` accepts as a list (``engine.fit(ft.per_fold)``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .folds import Fold, contiguous_folds

__all__ = ["FoldTargets", "fold_pca_targets"]

logger = logging.getLogger(__name__)

# Rows per block when accumulating covariances and projecting: bounds the float64 copies.
_CHUNK = 2048
# A component whose variance is below this fraction of the largest carries rounding only.
_EIG_RTOL = 1e-12


@dataclass(frozen=True)
class FoldTargets:
    """Targets reduced per fold, as :meth:`mmsites.encoding.ridge.CVEngine.fit` takes them.

    Attributes
    ----------
    per_fold : list of ndarray, float32, each shape (n_events, n_units * n_components)
        One target matrix per fold: every event projected on the components fitted on that
        fold's training events. Column ``u * n_components + c`` is component ``c`` of unit
        ``u`` (unit-major).
    held_out : ndarray, float32, shape (n_events, n_units * n_components)
        Each event's row from the fold that holds it out (its validation or test part), the
        targets the out-of-fold predictions are compared with; NaN on events held out by
        no fold. An event held out by several folds takes the last one's row (test part
        before validation part within a fold, as ``CVResult.predictions``).
    explained : ndarray, float64, shape (n_folds, n_units, n_components)
        Explained-variance ratio of each component on the fold's training events.
    n_components : int
        Components kept per unit.
    """

    per_fold: list
    held_out: np.ndarray
    explained: np.ndarray
    n_components: int


def _check_embeddings(E) -> np.ndarray:
    E = np.asarray(E)
    if E.ndim != 3:
        raise ValueError(f"E must be 3-D (n_events, n_units, n_dims), got shape {E.shape}")
    if not np.issubdtype(E.dtype, np.number) or np.iscomplexobj(E):
        raise ValueError(f"E must hold real numbers, got dtype {E.dtype}")
    if 0 in E.shape:
        raise ValueError(f"E is empty (shape {E.shape}); it needs events, units and dimensions")
    for u in range(E.shape[1]):
        bad = ~np.isfinite(E[:, u, :])
        if bad.any():
            event, dim = (int(i[0]) for i in np.nonzero(bad))
            raise ValueError(
                f"E has a non-finite value ({E[event, u, dim]}) at event {event}, unit {u} "
                f"(dimension {dim}); fill or drop NaN/inf before reducing"
            )
    return E


def _check_folds(folds, n_events: int) -> list[Fold]:
    if isinstance(folds, (int, np.integer)):
        return contiguous_folds(n_events, int(folds))
    folds = list(folds)
    if len(folds) < 1:
        raise ValueError("folds is empty; give at least one Fold")
    for k, f in enumerate(folds):
        for part in ("train", "val", "test"):
            idx = np.asarray(getattr(f, part))
            if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
                raise ValueError(f"fold {k}: {part} must be a 1-D integer index array")
            if idx.size and (idx.min() < 0 or idx.max() >= n_events):
                raise ValueError(f"fold {k}: {part} indices out of range for {n_events} events (E's rows)")
    return folds


def _fit_pca(e: np.ndarray, train: np.ndarray, n_components: int):
    """Top components of ``e[train]`` (float64 ``e``): mean, loadings (n_dims, n_components),
    component variances (ddof 1) and explained-variance ratios."""
    n_dims = e.shape[1]
    mean = np.zeros(n_dims)
    for s in range(0, len(train), _CHUNK):
        mean += e[train[s : s + _CHUNK]].sum(0)
    mean /= len(train)
    cov = np.zeros((n_dims, n_dims))
    for s in range(0, len(train), _CHUNK):
        c = e[train[s : s + _CHUNK]] - mean
        cov += c.T @ c
    cov /= len(train) - 1
    total = float(np.trace(cov))
    ev, vecs = np.linalg.eigh(cov)  # ascending
    ev, w = ev[::-1][:n_components], vecs[:, ::-1][:, :n_components].copy()
    dead = ev <= _EIG_RTOL * ev[0] if ev[0] > 0 else np.ones(len(ev), dtype=bool)
    ev = np.where(dead, 0.0, ev)
    w[:, dead] = 0.0  # no variance: a constant (zero) component, not a rounding direction
    # Sign rule: each component's largest-magnitude loading positive (first one on ties).
    top = np.abs(w).argmax(0)
    w *= np.where(w[top, np.arange(w.shape[1])] < 0, -1.0, 1.0)
    explained = ev / total if total > 0 else np.zeros_like(ev)
    return mean, w, ev, explained


def fold_pca_targets(E, folds, n_components: int, *, whiten: bool = False) -> FoldTargets:
    r"""Principal components of each unit's embeddings, fitted on each fold's training events.

    For fold :math:`k` with training events :math:`T_k` and unit :math:`u`, with
    :math:`e_i = E_{i,u,:}` the embedding of event :math:`i`,

    .. math::

        \mu_{ku} = \frac{1}{|T_k|}\sum_{i \in T_k} e_i, \qquad
        C_{ku} = \frac{1}{|T_k| - 1}\sum_{i \in T_k} (e_i - \mu_{ku})(e_i - \mu_{ku})^\top
        = W \Lambda W^\top,

    the eigendecomposition (float64) with eigenvalues :math:`\lambda_1 \ge \lambda_2 \ge
    \dots`. The top ``n_components`` eigenvectors :math:`W_{ku}` (n_dims, n_components),
    each signed so that its largest-magnitude loading is positive, project every event:
    :math:`y_i = (e_i - \mu_{ku}) W_{ku}` (divided by :math:`\sqrt{\lambda_c}` per component
    with ``whiten``). The explained-variance ratio of component :math:`c` is
    :math:`\lambda_c / \operatorname{tr} C_{ku}`.

    Why per fold: a reduction fitted on all events would let the held-out events shape the
    components their predictions are scored against (a leak that inflates test r). Fitted
    on :math:`T_k` only, the targets of fold :math:`k`'s validation and test events are a
    fixed projection learnt without them, like the feature z-scoring of the ridge CV.

    Parameters
    ----------
    E : array, shape (n_events, n_units, n_dims)
        Multi-dimensional targets per event and unit (e.g. BrainBERT embeddings per event,
        electrode and hidden dimension), real and finite. One unit is converted to float64
        at a time (one (n_events, n_dims) slice), the training rows accumulated in blocks.
    folds : list of Fold, or int
        The cross-validation folds (:func:`mmsites.encoding.folds.contiguous_folds`), with
        indices in ``0 .. n_events - 1``; an int ``k`` means ``contiguous_folds(n_events,
        k)``. Use the same folds as the :class:`~mmsites.encoding.ridge.CVEngine`.
    n_components : int
        Components kept per unit, ``1 .. min(n_train - 1, n_dims)`` with ``n_train`` the
        smallest training part. A component with no variance on the training events (a
        rank-deficient unit) is kept as a constant 0 column, which the ridge CV excludes.
    whiten : bool, default False
        Divide each component by its standard deviation on the training events (ddof 1, as
        ``sklearn.decomposition.PCA(whiten=True)``), so every component has unit variance
        there.

    Returns
    -------
    FoldTargets
        ``per_fold``: n_folds float32 arrays (n_events, n_units * n_components), unit-major,
        for ``CVEngine.fit``; ``held_out``: float32 (n_events, n_units * n_components), each
        event's row from the fold holding it out (NaN where none does); ``explained``:
        float64 (n_folds, n_units, n_components); ``n_components``.

    Raises
    ------
    ValueError
        If ``E`` is not 3-D, not real, empty or holds NaN/inf (the event and unit are
        named), ``folds`` are malformed or out of range, or ``n_components`` is not an
        integer in ``1 .. min(n_train - 1, n_dims)``.

    Examples
    --------
    >>> import numpy as np
    >>> from mmsites.encoding import fold_pca_targets
    >>> E = np.random.default_rng(0).standard_normal((60, 2, 8))
    >>> ft = fold_pca_targets(E, 5, n_components=3)
    >>> len(ft.per_fold), ft.per_fold[0].shape, ft.explained.shape
    (5, (60, 6), (5, 2, 3))
    """
    E = _check_embeddings(E)
    n_events, n_units, n_dims = E.shape
    folds = _check_folds(folds, n_events)
    trains = [np.asarray(f.train, dtype=np.int64) for f in folds]
    n_train = min(len(t) for t in trains)
    limit = min(n_train - 1, n_dims)
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
        raise ValueError(f"n_components must be an integer, got {n_components!r}")
    n_components = int(n_components)
    if not 1 <= n_components <= limit:
        raise ValueError(
            f"n_components={n_components} must lie in 1 .. min(n_train - 1, n_dims) = {limit} "
            f"(smallest training part {n_train} events, n_dims {n_dims})"
        )
    n_folds, n_c = len(folds), n_components
    per_fold = [np.empty((n_events, n_units * n_c), dtype=np.float32) for _ in folds]
    explained = np.zeros((n_folds, n_units, n_c))
    n_dead = 0
    for u in range(n_units):
        e = np.asarray(E[:, u, :], dtype=np.float64)  # the one float64 slice of this unit
        cols = slice(u * n_c, (u + 1) * n_c)
        for k, train in enumerate(trains):
            mean, w, ev, ratio = _fit_pca(e, train, n_c)
            explained[k, u] = ratio
            n_dead += int((ev == 0).sum())
            if whiten:
                w = w / np.sqrt(np.where(ev > 0, ev, 1.0))
            for s in range(0, n_events, _CHUNK):
                per_fold[k][s : s + _CHUNK, cols] = (e[s : s + _CHUNK] - mean) @ w
        del e
    if n_dead:
        logger.warning(
            "%d fold component(s) have no variance on their training events (rank-deficient "
            "units); they are constant 0 targets",
            n_dead,
        )
    held_out = np.full((n_events, n_units * n_c), np.nan, dtype=np.float32)
    for k, f in enumerate(folds):  # the order CVResult.predictions is written in
        for part in (f.test, f.val):
            rows = np.asarray(part, dtype=np.int64)
            held_out[rows] = per_fold[k][rows]
    return FoldTargets(per_fold=per_fold, held_out=held_out, explained=explained, n_components=n_c)
