"""Ridge regression cross-validation for many targets at once (torch, CPU or GPU).

The science (fixed by the study): ridge with intercept; features z-scored with the training
rows' statistics of each fold; one penalty ``alpha`` per target, chosen from a grid by the
validation Pearson r averaged over folds; the reported score is the test r at that alpha
averaged over folds (see :mod:`mmsites.encoding.folds` for the fold scheme).

Notes
-----
**How it is computed**

Per fold, with ``Z`` the z-scored training features (n_train, p), one eigendecomposition
``ZᵀZ = V diag(s²) Vᵀ`` (or of ``ZZᵀ`` when there are fewer training events than features)
gives the ridge solution for every alpha::

    Ŷ_eval(α) = Z_eval V diag(1 / (s² + α)) Vᵀ Zᵀ Y_train  (+ training mean of Y)

Everything left of ``Zᵀ Y_train`` depends on the features only, so per fold and alpha the
engine precomputes ``F_α = Z_eval V diag(1/(s²+α)) Vᵀ Σ⁻¹`` (n_eval, p), with ``Σ⁻¹`` the
z-scoring scales, and every target then costs one product ``F_α @ R`` where
``R = X_trainᵀ Y_train`` (minus a rank-one mean term). With the same X for all folds, ``R``
of each fold is a sum of the products of contiguous event groups, computed once for all
folds. The validation r of every alpha comes from the centred predictions ``F_α R``; the test
predictions are formed only at each target's chosen alpha. Decompositions are float64; the
large products use ``dtype`` (float32 by default; on the benchmark's data its test r differ
from float64 by ~1e-7 and the chosen alphas agree).

Cost, in multiply-adds per target (n events, p features, k folds, a alphas, n_v validation
and n_t test events per fold): ``n·p`` (group products, shared by the folds) +
``k·a·n_v·p`` (validation predictions of every alpha) + ``k·(n_t + n_v)·p`` (test and
validation predictions at the chosen alpha): about half of forming every alpha's held-out
predictions from ``Uᵀ Y_train``. ``fit_permuted`` reuses the feature side and skips the
stored predictions, but the validation predictions of every alpha dominate and must be
recomputed for each permutation, so a permutation costs ~0.7–0.9 of a fit; block
permutations would only shorten the group products (~20 %), so there is no separate block
path. What makes a refit null affordable is asking for fewer target-permutations: the
statistics refit only the targets whose p-values are not yet settled
(:class:`mmsites.stats.signal.SequentialPvalues`). ``fit_resampled`` adds one set-up (z-scoring,
decompositions, maps) per resample.

**Edge cases**

* Features constant on a fold's training rows get weight 0 in that fold (their z-scored
  column is set to 0, as scikit-learn's ``StandardScaler`` + ``Ridge`` effectively do).
* Targets constant over all events cannot be correlated with anything: ``CVResult.valid`` is
  False there, their r are 0 and alpha NaN. A target constant only within one validation or
  test part gets r = 0 in that fold (counted in one logged warning).
* Events in no part of a fold (purged by a gap,
  :func:`mmsites.encoding.folds.contiguous_folds`) are left out of that fold's training; an
  event in no fold's validation or test part gets a NaN prediction.
* NaN or inf in X or Y, mismatched rows, or folds that do not fit the data are errors.

**Per-fold targets**

``fit``, ``fit_permuted`` and ``fit_resampled`` also take ``Y`` as a list of one array per
fold (targets whose reduction is fitted on each fold's training events, e.g.
:func:`mmsites.encoding.targets.fold_pca_targets`): fold ``k`` trains on, chooses alpha with
and is scored against ``Y[k]``, and its held-out predictions are predictions of ``Y[k]``.
The products ``X_trainᵀ Y_train`` can then not be shared between folds; each fold sums its
own training groups (about ``k·n·p`` instead of ``n·p`` multiply-adds per target). A
target is valid only if it is non-constant in every fold's array. With the same array in
every entry the results equal those of the single ``Y``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from mmsites.device import resolve_device

from .folds import MIN_PART_EVENTS, Fold, contiguous_folds
from .scoring import _r_and_ok

__all__ = ["DEFAULT_ALPHAS", "CVResult", "CVEngine", "ridge_cv", "select_on_validation", "select_result"]

logger = logging.getLogger(__name__)

#: The study's alpha grid: 10^-1 … 10^5.
DEFAULT_ALPHAS = np.logspace(-1, 5, 7)

# Relative eigenvalue cut: components below this fraction of the largest squared singular
# value carry rounding noise only; their ridge weight s/(s²+α) is negligible anyway.
_EIG_RTOL = 1e-12
# A fold-training standard deviation below this (features are globally standardised first,
# so 1 is the typical scale) marks a constant feature.
_CONST_TOL = 1e-10
# Targets per block when only scores are wanted: a block's validation predictions of every
# alpha (n_alphas · n_val · _SCORE_BLOCK values, ~4 MiB at 7 · 300 · 512 in float32) stay in
# cache for the elementwise products that score them.
_SCORE_BLOCK = 512


@dataclass
class CVResult:
    """Cross-validated ridge scores, one column per target (electrode × bin).

    Attributes
    ----------
    test_r : ndarray, float64, shape (n_targets,)
        Test Pearson r at the chosen alpha, mean over folds.
    val_r : ndarray, float64, shape (n_targets,)
        Validation Pearson r at the chosen alpha, mean over folds.
    alpha : ndarray, float64, shape (n_targets,)
        Chosen penalty; NaN for invalid (constant) targets.
    test_r_folds, val_r_folds : ndarray, float64, shape (n_folds, n_targets)
        Per-fold r at the chosen alpha.
    predictions : ndarray, float32, shape (n_events, n_targets)
        Out-of-fold predictions at the chosen alpha, in the units of Y, on every validation
        and test row; NaN on rows that are in no fold's validation or test part.
    valid : ndarray, bool, shape (n_targets,)
        False for targets constant over all events (with per-fold targets: in any fold's
        array), excluded: r = 0, alpha NaN.
    val_r_alphas : ndarray, float64, shape (n_alphas, n_targets)
        Fold-averaged validation r of every alpha (the curve the choice was made on).
    alphas : ndarray, float64, shape (n_alphas,)
        The grid.
    """

    test_r: np.ndarray
    val_r: np.ndarray
    alpha: np.ndarray
    test_r_folds: np.ndarray
    val_r_folds: np.ndarray
    predictions: np.ndarray
    valid: np.ndarray
    val_r_alphas: np.ndarray
    alphas: np.ndarray


@dataclass
class _FoldPrep:
    """What one fold needs from the features (all on the engine's device)."""

    train: torch.Tensor  # (n_train,) long
    val: torch.Tensor  # (n_val,) long
    test: torch.Tensor  # (n_test,) long
    mu: torch.Tensor  # (p,) training mean of the globally standardised features
    f_val: torch.Tensor  # (n_alphas, n_val, p) centred maps R -> validation predictions
    m_val: torch.Tensor  # (n_alphas, p) row mean removed from f_val
    f_test: torch.Tensor  # (n_alphas, n_test, p)
    m_test: torch.Tensor  # (n_alphas, p)
    rank: int


@dataclass
class _XState:
    """Everything derived from the features: per-fold maps and the shared group products."""

    preps: list  # of _FoldPrep
    xt: list  # per fold (p, n_events) transposed standardised features, or
    #                        None per fold when shared
    groups: list | None  # shared X: list of (row index tensor, X_g[rows]ᵀ (p, n_rows))
    train_groups: list | None  # per fold: indices into groups forming its training rows


def _check_finite(name: str, arr: np.ndarray, what: str) -> None:
    finite = np.isfinite(arr).all(axis=0)
    if not finite.all():
        col = int(np.flatnonzero(~finite)[0])
        row = int(np.flatnonzero(~np.isfinite(arr[:, col]))[0])
        raise ValueError(
            f"{name} has a non-finite value ({arr[row, col]}) at event {row}, "
            f"{what} {col}; fill or drop NaN/inf before encoding"
        )


def _as_2d_float(name: str, a, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_events, n_{what}s), got shape {a.shape}"
            + (" (use a[:, None] for a single column)" if a.ndim == 1 else "")
        )
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}); it needs events and {what}s")
    a = a.astype(np.float64, copy=False)
    _check_finite(name, a, what)
    return a


def _standardise_globally(x: np.ndarray) -> np.ndarray:
    """Per-feature affine rescaling (float64). Fold z-scoring is invariant to it; it only keeps
    the float32 products well scaled (no large means to cancel)."""
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    return (x - x.mean(axis=0)) / sd


class CVEngine:
    """Ridge cross-validation engine: decompose the features once, score many targets.

    The targets are given to :meth:`fit`, :meth:`fit_permuted` and :meth:`fit_resampled`:
    one array ``Y`` (n_events, n_targets) for every fold, or a list of n_folds such arrays,
    fold ``k`` then training on, choosing alpha with and being scored against ``Y[k]``
    (targets reduced on each fold's training events).

    Parameters
    ----------
    X : array, shape (n_events, n_features), or list of n_folds such arrays
        Features per event, real and finite (any unit; they are z-scored per fold). A list
        gives each fold its own features (e.g. a MultiLin model fitted on that fold's
        training rows); the arrays must have n_events rows each but may differ in
        n_features.
    folds : list of Fold, or int, default 5
        The folds, at least 2, with integer event indices in ``0 .. n_events - 1``
        (normally :func:`mmsites.encoding.folds.contiguous_folds`); every validation and test
        part needs at least ``MIN_PART_EVENTS`` (3) events. An int ``k`` means
        ``contiguous_folds(n_events, k)``.
    alphas : array_like, shape (n_alphas,), default DEFAULT_ALPHAS
        Ridge penalties, positive and finite; default the study's grid 10^-1 … 10^5.
    device : str or torch.device, default "auto"
        Where to compute: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``,
        ``"cuda:1"`` or a ``torch.device``.
    dtype : torch.dtype, default torch.float32
        Dtype of the large products (float64 for exact comparisons). The decompositions are
        always float64.
    target_batch : int, optional
        Targets scored together (>= 1); bounds memory. Default: as many as fit ~1 GiB of
        work memory (¼ of free memory on CUDA), fewer for per-fold targets (n_folds target
        arrays on the device).

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, not real or holds NaN/inf, the per-fold arrays differ in their
        number of events or are not one per fold, ``alphas`` are not positive and finite,
        ``folds`` has fewer than 2 folds or indices out of range or too few events per part,
        or ``target_batch < 1``.
    """

    def __init__(
        self,
        X,
        folds=5,
        alphas=DEFAULT_ALPHAS,
        *,
        device="auto",
        dtype=torch.float32,
        target_batch: int | None = None,
    ):
        self.device = resolve_device(device)
        self.dtype = dtype
        self.alphas = np.asarray(alphas, dtype=np.float64).ravel()
        if self.alphas.size == 0 or not np.all(np.isfinite(self.alphas)) or np.any(self.alphas <= 0):
            raise ValueError(f"alphas must be positive finite numbers, got {self.alphas}")
        self.per_fold = isinstance(X, (list, tuple))
        xs = list(X) if self.per_fold else [X]
        xs = [_as_2d_float(f"X[{k}]" if self.per_fold else "X", x, "feature") for k, x in enumerate(xs)]
        self.n_events = xs[0].shape[0]
        for k, x in enumerate(xs):
            if x.shape[0] != self.n_events:
                raise ValueError(
                    f"X[{k}] has {x.shape[0]} events (rows) but X[0] has "
                    f"{self.n_events}; per-fold features need the same events"
                )
        if isinstance(folds, (int, np.integer)):
            folds = contiguous_folds(self.n_events, int(folds))
        self.folds = self._check_folds(folds)
        if self.per_fold and len(xs) != len(self.folds):
            raise ValueError(
                f"X is a list of {len(xs)} per-fold feature arrays but there are "
                f"{len(self.folds)} folds; give one array per fold"
            )
        self._xs = xs
        self.n_features = [x.shape[1] for x in xs]
        self._state = self._build_state(xs)
        self._auto_batch = not target_batch
        self.target_batch = target_batch or self._default_target_batch()
        if self.target_batch < 1:
            raise ValueError(f"target_batch must be positive, got {target_batch}")

    # ------------------------------------------------------------------ set-up
    def _check_folds(self, folds) -> list[Fold]:
        folds = list(folds)
        if len(folds) < 2:
            raise ValueError(f"cross-validation needs at least 2 folds, got {len(folds)}")
        n = self.n_events
        for k, f in enumerate(folds):
            for part in ("train", "val", "test"):
                idx = np.asarray(getattr(f, part))
                if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
                    raise ValueError(f"fold {k}: {part} must be a 1-D integer index array")
                if idx.size and (idx.min() < 0 or idx.max() >= n):
                    raise ValueError(f"fold {k}: {part} indices out of range for {n} events (X has {n} rows)")
                need = MIN_PART_EVENTS if part != "train" else 1
                if idx.size < need:
                    raise ValueError(
                        f"fold {k}: {part} has {idx.size} events; at least "
                        f"{need} needed (too few events for these folds)"
                    )
            if np.intersect1d(f.train, np.concatenate([f.val, f.test])).size:
                logger.warning(
                    "fold %d: some validation/test events are also training "
                    "events; its scores are not out-of-sample",
                    k,
                )
        return folds

    def _build_state(self, xs: list[np.ndarray]) -> _XState:
        xgs = [_standardise_globally(x) for x in xs]
        preps = [
            self._prepare_fold(xgs[k if self.per_fold else 0], fold) for k, fold in enumerate(self.folds)
        ]
        if self.per_fold:
            xt = [torch.as_tensor(x.T.copy(), device=self.device, dtype=self.dtype) for x in xgs]
            return _XState(preps, xt, None, None)
        # Events grouped by their role in every fold; each fold's training rows are a union
        # of groups, so X_gᵀ Y over each group is computed once for all folds.
        n_folds = len(self.folds)
        roles = np.zeros((self.n_events, n_folds), dtype=np.int8)  # bit flags
        for k, f in enumerate(self.folds):
            roles[np.asarray(f.train), k] |= 1
            roles[np.asarray(f.val), k] |= 2
            roles[np.asarray(f.test), k] |= 4
        sigs, inverse = np.unique(roles, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        train_in = [np.flatnonzero(sigs[:, k] & 1) for k in range(n_folds)]
        if len(sigs) > 8 * n_folds + 8:
            # Unusual (scattered) folds: direct per-fold products are cheaper than many sums.
            xt = [torch.as_tensor(xgs[0].T.copy(), device=self.device, dtype=self.dtype)]
            return _XState(preps, xt * n_folds, None, None)
        groups = []
        for g in range(len(sigs)):
            rows = np.flatnonzero(inverse == g)
            groups.append(
                (
                    torch.as_tensor(rows, device=self.device),
                    torch.as_tensor(xgs[0][rows].T.copy(), device=self.device, dtype=self.dtype),
                )
            )
        return _XState(preps, None, groups, train_in)

    def _prepare_fold(self, xg: np.ndarray, fold: Fold) -> _FoldPrep:
        dev, f64 = self.device, torch.float64
        x = torch.as_tensor(xg, device=dev, dtype=f64)
        tr, va, te = (
            torch.as_tensor(np.asarray(i, dtype=np.int64), device=dev)
            for i in (fold.train, fold.val, fold.test)
        )
        xtr = x[tr]
        mu = xtr.mean(0)
        sd = xtr.std(0, unbiased=False)
        inv = torch.where(sd > _CONST_TOL, 1.0 / sd.clamp(min=_CONST_TOL), torch.zeros_like(sd))
        z = (xtr - mu) * inv
        n_tr, p = z.shape
        # One eigendecomposition of the smaller Gram matrix: ZᵀZ = V S² Vᵀ, or ZZᵀ = U S² Uᵀ
        # and then V = Zᵀ U S⁻¹.
        ev, vecs = torch.linalg.eigh(z.T @ z if n_tr >= p else z @ z.T)
        keep = (ev > _EIG_RTOL * ev.max()) & (ev > 0)
        s2 = ev[keep]
        v = vecs[:, keep] if n_tr >= p else (z.T @ vecs[:, keep]) / s2.sqrt()
        w = v.T * inv  # (r, p): R' -> Vᵀ Zᵀ Y
        alphas = torch.as_tensor(self.alphas, device=dev, dtype=f64)
        d = 1.0 / (s2[None, :] + alphas[:, None])  # (n_alphas, r)

        wc = w.to(self.dtype)

        def maps(idx):
            e = ((x[idx] - mu) * inv) @ v  # (n_eval, r)
            e_mean = e.mean(0)
            # The largest set-up product (n_alphas·n_eval·r·p): in the compute dtype, whose
            # rounding the maps get anyway when they are stored.
            f = ((e - e_mean)[None] * d[:, None, :]).to(self.dtype) @ wc
            m = (e_mean * d).to(self.dtype) @ wc
            return f.contiguous(), m

        f_val, m_val = maps(va)
        f_test, m_test = maps(te)
        return _FoldPrep(tr, va, te, mu.to(self.dtype), f_val, m_val, f_test, m_test, int(s2.numel()))

    def _bytes_per_target(self) -> int:
        p = max(self.n_features)
        n_groups = len(self._state.groups) if self._state.groups else 0
        n_folds = len(self.folds)
        n_eval = max(max(len(f.val), len(f.test)) for f in self.folds)
        return (3 * self.n_events + (n_groups + 2 * n_folds) * p + 2 * len(self.alphas) * n_eval) * (
            torch.finfo(self.dtype).bits // 8
        )

    def _default_target_batch(self) -> int:
        per_target = self._bytes_per_target()
        budget = 2**30
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            budget = free // 4
        return int(max(1, budget // per_target))

    def _fold_target_batch(self) -> int:
        """Targets per batch with per-fold targets: the default shrunk for n_folds arrays."""
        if not self._auto_batch:
            return self.target_batch
        per_target = self._bytes_per_target()
        extra = (len(self.folds) - 1) * self.n_events * (torch.finfo(self.dtype).bits // 8)
        return int(max(1, self.target_batch * per_target // (per_target + extra)))

    # ------------------------------------------------------------------ targets
    def _check_y(self, Y, name: str = "Y", warn: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Validates Y; returns its float64 column means and the mask of non-constant targets.

        Y is not copied whole: each target batch is centred when it is sent to the device.
        ``name`` is the argument named in the errors (``"Y[2]"`` for a per-fold entry).
        """
        Y = np.asarray(Y)
        if Y.ndim == 2 and Y.shape[0] != self.n_events:
            raise ValueError(
                f"X and {name} have different numbers of events (rows): X has shape "
                f"{self._xs[0].shape}, {name} has shape {Y.shape}"
            )
        if Y.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (n_events, n_targets), got shape {Y.shape}"
                + (" (use y[:, None] for a single column)" if Y.ndim == 1 else "")
            )
        if not np.issubdtype(Y.dtype, np.number) or np.iscomplexobj(Y):
            raise ValueError(f"{name} must hold real numbers, got dtype {Y.dtype}")
        if Y.shape[1] == 0:
            raise ValueError(f"{name} has no targets (shape {Y.shape})")
        _check_finite(name, Y, "target")
        mean = Y.mean(axis=0, dtype=np.float64)
        valid = np.ptp(Y, axis=0) > 0
        if warn:
            self._warn_constant(valid, "over all events")
        return mean, valid

    @staticmethod
    def _warn_constant(valid: np.ndarray, where: str) -> None:
        if not valid.all():
            idx = np.flatnonzero(~valid)
            logger.warning(
                "%d target(s) are constant %s and are excluded (r = 0, alpha NaN): indices %s%s",
                idx.size,
                where,
                idx[:10].tolist(),
                " ..." if idx.size > 10 else "",
            )

    def _check_fold_ys(self, Y) -> tuple[list, np.ndarray, np.ndarray]:
        """Validates per-fold targets: one array per fold, all of one shape.

        Returns the arrays, their float64 column means (n_folds, n_targets) and the mask of
        targets non-constant in every fold's array.
        """
        ys = [np.asarray(y) for y in Y]
        if len(ys) != len(self.folds):
            raise ValueError(
                f"Y is a list of {len(ys)} per-fold target arrays but there are "
                f"{len(self.folds)} folds; give one array per fold"
            )
        means, valid = [], None
        for k, y in enumerate(ys):
            if k and y.shape != ys[0].shape:
                raise ValueError(
                    f"Y[{k}] has shape {y.shape} but Y[0] has {ys[0].shape}; per-fold targets "
                    "need the same events and targets in every fold"
                )
            mean, ok = self._check_y(y, f"Y[{k}]", warn=False)
            means.append(mean)
            valid = ok if valid is None else valid & ok
        self._warn_constant(valid, "over all events in at least one fold's array")
        return ys, np.stack(means), valid

    def _targets(self, Y) -> tuple[np.ndarray | list, np.ndarray, np.ndarray]:
        """``Y`` checked: (the array or the per-fold list, column means, valid mask)."""
        if isinstance(Y, (list, tuple)):
            return self._check_fold_ys(Y)
        Y = np.asarray(Y)
        ymean, valid = self._check_y(Y)
        return Y, ymean, valid

    def _train_products(self, state: _XState, y) -> list[torch.Tensor]:
        """Per fold ``X_g[train]ᵀ Y[train] - μ ⊗ ΣY[train]`` (p, n_batch).

        ``y`` is one tensor (n_events, n_batch) for every fold, or a list of one per fold.
        """
        if isinstance(y, list):
            return self._fold_train_products(state, y)
        out = []
        if state.groups is not None:
            prods = [xt_g @ y[rows] for rows, xt_g in state.groups]
            sums = [y[rows].sum(0) for rows, _ in state.groups]
            total, total_sum = sum(prods), sum(sums)
        for k, prep in enumerate(state.preps):
            if state.groups is not None:
                # Fewest passes: add the training groups, or subtract the others from the total.
                tr = state.train_groups[k]
                rest = [g for g in range(len(prods)) if g not in set(tr)]
                if len(rest) < len(tr):
                    r = total - sum(prods[g] for g in rest)
                    ysum = total_sum - sum(sums[g] for g in rest)
                else:
                    r = sum(prods[g] for g in tr)
                    ysum = sum(sums[g] for g in tr)
            else:
                ytr = y[prep.train]
                r = state.xt[k][:, prep.train] @ ytr
                ysum = ytr.sum(0)
            out.append(r - prep.mu[:, None] * ysum[None, :])
        return out

    def _fold_train_products(self, state: _XState, ys: list) -> list[torch.Tensor]:
        """``_train_products`` with per-fold targets: each fold from its own ``ys[k]``."""
        out = []
        for k, (prep, yk) in enumerate(zip(state.preps, ys)):
            if state.groups is not None:
                r = ysum = 0
                for g in state.train_groups[k]:
                    rows, xt_g = state.groups[g]
                    yg = yk[rows]
                    r = r + xt_g @ yg
                    ysum = ysum + yg.sum(0)
            else:
                ytr = yk[prep.train]
                r = state.xt[k][:, prep.train] @ ytr
                ysum = ytr.sum(0)
            out.append(r - prep.mu[:, None] * ysum[None, :])
        return out

    def _score_batch(self, state: _XState, y, want_predictions: bool):
        """The whole CV for one batch of (centred) targets ``y`` (n_events, n_batch).

        ``y`` is one tensor for every fold or a list of one per fold (per-fold targets).
        Returns per-fold validation r of every alpha (n_folds, n_alphas, n_batch), chosen
        alpha index (n_batch,), per-fold test r (n_folds, n_batch), predictions or None, and
        the number of zero-variance r values.
        """
        ys = y if isinstance(y, list) else [y] * len(state.preps)
        n_alphas, nb = len(self.alphas), ys[0].shape[1]
        rs = self._train_products(state, y)
        val_r = torch.empty(len(rs), n_alphas, nb, device=self.device, dtype=self.dtype)
        n_zero = 0
        # Scores only (permutations, resamples): the validation predictions of every alpha
        # are formed and reduced a block of targets at a time, so the elementwise products
        # read them from cache (the fit keeps one block: its results stay bit for bit).
        step = nb if want_predictions else _SCORE_BLOCK
        for k, (prep, r) in enumerate(zip(state.preps, rs)):
            yv = ys[k][prep.val]
            yvc = yv - yv.mean(0)
            f_val = prep.f_val.reshape(-1, r.shape[0])
            for c0 in range(0, nb, step):
                cs = slice(c0, min(c0 + step, nb))
                pv = (f_val @ r[:, cs]).reshape(n_alphas, -1, cs.stop - cs.start)
                yc = yvc[:, cs]
                # Elementwise products: einsum would route this through a slow batched matmul.
                rr, ok = _r_and_ok(
                    (pv * yc).sum(1), (pv * pv).sum(1), (yc * yc).sum(0), scale_b=(yv[:, cs] ** 2).sum(0)
                )
                val_r[k, :, cs] = rr
                n_zero += int((~ok).sum())
        best = val_r.mean(0).argmax(0)  # first max: the smaller alpha
        test_r = torch.empty(len(rs), nb, device=self.device, dtype=self.dtype)
        pred = (
            torch.full((self.n_events, nb), float("nan"), device=self.device, dtype=self.dtype)
            if want_predictions
            else None
        )
        groups = [
            (a, None) if bool((best == a).all()) else (a, torch.nonzero(best == a)[:, 0])
            for a in torch.unique(best).tolist()
        ]
        for k, (prep, r) in enumerate(zip(state.preps, rs)):
            pt = torch.empty(len(prep.test), nb, device=self.device, dtype=self.dtype)
            offset_t = torch.empty(nb, device=self.device, dtype=self.dtype)
            for a, cols in groups:
                rc = r if cols is None else r[:, cols]
                sel = slice(None) if cols is None else cols
                pt[:, sel] = prep.f_test[a] @ rc
                if want_predictions:  # the centred predictions suffice for r
                    offset_t[sel] = prep.m_test[a] @ rc
            yt = ys[k][prep.test]
            ytc = yt - yt.mean(0)
            rr, ok = _r_and_ok(
                (pt * ytc).sum(0), (pt * pt).sum(0), (ytc * ytc).sum(0), scale_b=(yt * yt).sum(0)
            )
            test_r[k] = rr
            n_zero += int((~ok).sum())
            if want_predictions:
                ymean_tr = ys[k][prep.train].mean(0)
                pred[prep.test] = pt + offset_t + ymean_tr
                pv = torch.empty(len(prep.val), nb, device=self.device, dtype=self.dtype)
                for a, cols in groups:
                    rc = r if cols is None else r[:, cols]
                    sel = slice(None) if cols is None else cols
                    pv[:, sel] = prep.f_val[a] @ rc + prep.m_val[a] @ rc
                pred[prep.val] = pv + ymean_tr
        return val_r, best, test_r, pred, n_zero

    def _batches(self, n_targets: int, per_fold: bool = False):
        size = self._fold_target_batch() if per_fold else self.target_batch
        return [slice(s, min(s + size, n_targets)) for s in range(0, n_targets, size)]

    def _centred(self, Y: np.ndarray, ymean: np.ndarray, valid: np.ndarray, sl: slice) -> torch.Tensor:
        """Targets ``sl`` centred (constant ones exactly 0), on the device.

        Centring happens in the wider of Y's dtype and the compute dtype, so it adds no
        rounding beyond what the data or the compute already have.
        """
        work = np.float64 if (self.dtype == torch.float64 or Y.dtype == np.float64) else np.float32
        y = Y[:, sl].astype(work)
        y -= ymean[sl].astype(work)
        y[:, ~valid[sl]] = 0.0
        return torch.as_tensor(y, device=self.device, dtype=self.dtype)

    def _centred_any(self, Y, ymean: np.ndarray, valid: np.ndarray, sl: slice):
        """``_centred`` of one array, or a list of each fold's array centred on its own mean."""
        if isinstance(Y, list):
            return [self._centred(y, m, valid, sl) for y, m in zip(Y, ymean)]
        return self._centred(Y, ymean, valid, sl)

    def _held_out_owner(self) -> np.ndarray:
        """Per event, the fold whose prediction it keeps (the last to write it), or -1."""
        owner = np.full(self.n_events, -1, dtype=np.int64)
        for k, f in enumerate(self.folds):
            owner[np.asarray(f.test)] = k
            owner[np.asarray(f.val)] = k
        return owner

    def _warn_zero(self, n_zero: int, what: str) -> None:
        if n_zero:
            logger.warning(
                "%d per-fold r value(s) of %s set to 0: prediction or response "
                "constant over a validation/test part",
                n_zero,
                what,
            )

    # ------------------------------------------------------------------ public
    def fit(self, Y) -> CVResult:
        """Cross-validate every target of ``Y``.

        Parameters
        ----------
        Y : array, shape (n_events, n_targets), or list of n_folds such arrays
            Responses per event and target (e.g. µV, one column per electrode × bin), real
            and finite, with the engine's ``n_events`` rows. Targets constant over all events
            are excluded (``CVResult.valid`` False). A list (or tuple) gives each fold its
            own targets, all arrays of one shape (e.g. a reduction fitted on that fold's
            training events, :func:`mmsites.encoding.targets.fold_pca_targets`): fold ``k``
            trains on ``Y[k][train]``, is validated and tested against ``Y[k][val]`` and
            ``Y[k][test]``, and its held-out predictions are predictions of ``Y[k]``; a
            target must then be non-constant in every fold's array to be valid.

        Returns
        -------
        CVResult
            Per target: chosen alpha, fold-averaged and per-fold validation and test r at it,
            the validation r of every alpha, and the out-of-fold predictions (n_events,
            n_targets) in the units of ``Y`` (of ``Y[k]`` on fold ``k``'s validation and
            test rows for per-fold targets).

        Raises
        ------
        ValueError
            If ``Y`` (or an entry ``Y[k]``) is not 2-D, has no targets, a number of rows
            other than ``n_events``, non-real values or NaN/inf, or per-fold targets are not
            one array per fold or differ in shape.
        """
        Y, ymean, valid = self._targets(Y)
        per_fold = isinstance(Y, list)
        n_targets, n_folds, n_alphas = ymean.shape[-1], len(self.folds), len(self.alphas)
        batches = self._batches(n_targets, per_fold)
        logger.info(
            "ridge CV: %d events, %s features, %d%s targets, %d folds, %d alphas on %s "
            "(%s, %d targets per batch; fold ranks %s)",
            self.n_events,
            "/".join(map(str, sorted(set(self.n_features)))),
            n_targets,
            " per-fold" if per_fold else "",
            n_folds,
            n_alphas,
            self.device,
            str(self.dtype).replace("torch.", ""),
            self._fold_target_batch() if per_fold else self.target_batch,
            [p.rank for p in self._state.preps],
        )
        val_all = np.zeros((n_folds, n_alphas, n_targets))
        best = np.zeros(n_targets, dtype=np.int64)
        test_folds = np.zeros((n_folds, n_targets))
        pred = np.empty((self.n_events, n_targets), dtype=np.float32)
        n_zero = 0
        owner = self._held_out_owner() if per_fold else None
        for sl in tqdm(batches, desc="ridge CV", unit="batch", disable=None, leave=False):
            vr, b, tr, p, nz = self._score_batch(self._state, self._centred_any(Y, ymean, valid, sl), True)
            val_all[:, :, sl] = vr.double().cpu().numpy()
            best[sl] = b.cpu().numpy()
            test_folds[:, sl] = tr.double().cpu().numpy()
            pred[:, sl] = p.cpu().numpy()
            if per_fold:  # each held-out row in the units of its own fold's targets
                for k in range(n_folds):
                    rows = owner == k
                    pred[rows, sl] += ymean[k, sl].astype(np.float32)
            else:
                pred[:, sl] += ymean[sl].astype(np.float32)
            n_zero += nz
        self._warn_zero(n_zero - int((~valid).sum()) * n_folds * (n_alphas + 1), "the fit")
        val_folds = np.take_along_axis(val_all, best[None, None, :], axis=1)[:, 0, :]
        for a in (val_all, test_folds, val_folds):
            a[..., ~valid] = 0.0
        alpha = self.alphas[best].copy()
        alpha[~valid] = np.nan
        return CVResult(
            test_r=test_folds.mean(0),
            val_r=val_folds.mean(0),
            alpha=alpha,
            test_r_folds=test_folds,
            val_r_folds=val_folds,
            predictions=pred,
            valid=valid,
            val_r_alphas=val_all.mean(0),
            alphas=self.alphas.copy(),
        )

    def _scores_only(self, state, y) -> tuple[torch.Tensor, torch.Tensor, int]:
        vr, b, tr, _, nz = self._score_batch(state, y, False)
        val = torch.gather(vr, 1, b[None, None, :].expand(vr.shape[0], 1, -1))[:, 0, :]
        return tr.mean(0), val.mean(0), nz

    def fit_permuted(self, Y, perms) -> tuple[np.ndarray, np.ndarray]:
        """Refit the CV with the rows of ``Y`` permuted (X fixed): the permutation null.

        Equivalent to ``fit(Y[perm])`` for every ``perm`` (``fit([y[perm] for y in Y])``
        for per-fold targets) but reuses the decompositions and the feature-side maps.

        Parameters
        ----------
        Y : array, shape (n_events, n_targets), or list of n_folds such arrays
            Responses, as for :meth:`fit` (real, finite, ``n_events`` rows, events in movie
            order); per-fold targets are permuted fold by fold, ``Y[k][perm]``.
        perms : int array, shape (n_perm, n_events)
            Each row a permutation of ``range(n_events)`` (e.g.
            :func:`mmsites.stats.resampling.block_permutations`); row ``p`` pairs event ``i``
            with the response of event ``perms[p, i]``. A 1-D array is one permutation.

        Returns
        -------
        test_r, val_r : ndarray, float64, shape (n_perm, n_targets)
            Fold-averaged test and validation r at each permutation's chosen alphas; 0 for
            targets constant over all events.

        Raises
        ------
        ValueError
            If ``perms`` is not an integer array with ``n_events`` columns or a row is not a
            permutation, or ``Y`` is invalid (as in :meth:`fit`, per-fold lists included).
        """
        perms = self._index_rows("perms", perms, "n_perm")
        ok = (np.sort(perms, axis=1) == np.arange(self.n_events)).all(axis=1)
        if not ok.all():
            raise ValueError(
                f"perms row {int(np.flatnonzero(~ok)[0])} is not a permutation of range({self.n_events})"
            )
        Y, ymean, valid = self._targets(Y)
        return self._loop(Y, ymean, valid, perms, lambda i: (self._state, perms[i]), "permutations")

    def fit_resampled(self, Y, resamples) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap refit: the whole CV re-run on ``X[idx], Y[idx]`` for every resample.

        Folds are taken on the resampled rows' positions (the same fold scheme), and the
        z-scoring, decompositions and alpha choice are redone per resample, as in the study.

        Parameters
        ----------
        Y : array, shape (n_events, n_targets), or list of n_folds such arrays
            Responses, as for :meth:`fit` (real, finite, ``n_events`` rows); resample ``b``
            uses ``Y[resamples[b]]``, or ``Y[k][resamples[b]]`` for fold ``k`` of per-fold
            targets (the reduction is not refitted on the resample).
        resamples : int array, shape (n_boot, n_events)
            Event indices in ``0 .. n_events - 1`` drawn with replacement, each row sorted
            (movie order), e.g. :func:`mmsites.stats.resampling.bootstrap_indices`. A 1-D
            array is one resample; unsorted rows are used in the given order.

        Returns
        -------
        test_r, val_r : ndarray, float64, shape (n_boot, n_targets)
            Fold-averaged test and validation r of the whole CV re-run on each resample, at
            that resample's chosen alphas; 0 for targets constant over all events.

        Raises
        ------
        ValueError
            If ``resamples`` is not an integer array with ``n_events`` columns or holds
            indices outside ``range(n_events)``, or ``Y`` is invalid (as in :meth:`fit`,
            per-fold lists included).
        """
        res = self._index_rows("resamples", resamples, "n_boot")
        if res.size and (res.min() < 0 or res.max() >= self.n_events):
            raise ValueError(f"resamples hold indices outside range({self.n_events})")
        if np.any(np.diff(res, axis=1) < 0):
            logger.info("resample rows are not sorted; using them in the given order")
        Y, ymean, valid = self._targets(Y)

        def state(i):
            """Feature state and row order of resample ``i``.

            Parameters
            ----------
            i : int
                Row of ``resamples``.

            Returns
            -------
            state : _XState
                Z-scoring, decompositions and maps rebuilt on ``X[resamples[i]]``.
            idx : ndarray of int, shape (n_events,)
                The resample's event indices, the rows of ``Y`` (of each ``Y[k]``) it scores.
            """
            idx = res[i]
            return self._build_state([x[idx] for x in self._xs]), idx

        return self._loop(Y, ymean, valid, res, state, "resamples")

    def _index_rows(self, name: str, a, n_rep: str) -> np.ndarray:
        a = np.asarray(a)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] != self.n_events or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(
                f"{name} must be an integer array ({n_rep}, {self.n_events}), "
                f"got shape {a.shape} and dtype {a.dtype}"
            )
        return a

    def _loop(self, Y, ymean, valid, rows, state_of, what):
        """Scores of every row of ``rows`` (permutations or resamples), target batch-wise.

        ``state_of(i)`` gives the feature state and the row order of repetition ``i``.
        Resamples rebuild the feature state, so they loop outermost; permutations share it
        and loop innermost, reusing each target batch already on the device. ``Y`` is one
        array or a list of per-fold arrays (each reindexed the same way).
        """
        n_rep, n_targets = rows.shape[0], ymean.shape[-1]
        test = np.zeros((n_rep, n_targets))
        val = np.zeros((n_rep, n_targets))
        batches = self._batches(n_targets, isinstance(Y, list))
        cached = self._centred_any(Y, ymean, valid, batches[0]) if len(batches) == 1 else None
        n_zero = 0

        def score(j, st, idx, sl, yb):
            ix = torch.as_tensor(idx, device=self.device)
            t, v, nz = self._scores_only(st, [y[ix] for y in yb] if isinstance(yb, list) else yb[ix])
            test[j, sl] = t.double().cpu().numpy()
            val[j, sl] = v.double().cpu().numpy()
            return nz

        bar = dict(desc=f"ridge CV {what}", disable=None, leave=False)
        if what == "resamples":
            for i in tqdm(range(n_rep), **bar):
                st, idx = state_of(i)
                for sl in batches:
                    yb = cached if cached is not None else self._centred_any(Y, ymean, valid, sl)
                    n_zero += score(i, st, idx, sl, yb)
        else:
            for sl in batches:
                yb = cached if cached is not None else self._centred_any(Y, ymean, valid, sl)
                for j in tqdm(range(n_rep), **bar):
                    n_zero += score(j, *state_of(j), sl, yb)
        test[:, ~valid] = 0.0
        val[:, ~valid] = 0.0
        n_fold_r = len(self.folds) * (len(self.alphas) + 1)
        self._warn_zero(n_zero - int((~valid).sum()) * n_fold_r * n_rep, what)
        return test, val


def ridge_cv(
    X, Y, *, n_folds: int = 5, alphas=DEFAULT_ALPHAS, device="auto", dtype=torch.float32
) -> CVResult:
    """Cross-validated ridge of ``Y`` on ``X`` with contiguous folds: ``CVEngine(...).fit(Y)``.

    Parameters
    ----------
    X : array, shape (n_events, n_features)
        Features per event, real and finite (any unit; z-scored per fold).
    Y : array, shape (n_events, n_targets)
        Responses per event and target (e.g. µV, one column per electrode × bin), real and
        finite, same events as ``X``.
    n_folds : int, default 5
        Number of contiguous, unpurged folds (:func:`mmsites.encoding.folds.contiguous_folds`);
        at least 2, and at least ``6 * n_folds`` events.
    alphas : array_like, shape (n_alphas,), default DEFAULT_ALPHAS
        Ridge penalties, positive and finite.
    device : str or torch.device, default "auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
    dtype : torch.dtype, default torch.float32
        Dtype of the large products (float64 for exact comparisons).

    Returns
    -------
    CVResult
        Chosen alphas, validation and test r and out-of-fold predictions per target (see
        :class:`CVResult`).

    Raises
    ------
    ValueError
        If ``X`` or ``Y`` is malformed (not 2-D, non-finite, different numbers of events),
        the events are too few for ``n_folds`` folds, or ``alphas`` are not positive.
    """
    X = np.asarray(X)
    folds = contiguous_folds(X.shape[0], n_folds) if X.ndim == 2 else n_folds
    return CVEngine(X, folds, alphas, device=device, dtype=dtype).fit(Y)


def select_on_validation(tests, vals):
    """Per target, the candidate with the best validation r, and its test r.

    The choice among candidate designs (e.g. MultiLin with different numbers of components)
    is made on validation data only, like the penalty; ties go to the first candidate.

    Parameters
    ----------
    tests, vals : sequence of arrays, each shape (..., n_targets)
        Test and validation r of each candidate (same shapes).

    Returns
    -------
    test, val : ndarray, shape (..., n_targets)
        Test and validation r of the chosen candidate.
    choice : ndarray of int, shape (..., n_targets)
        Index of the chosen candidate.

    Raises
    ------
    ValueError
        If there are no candidates, or ``tests`` and ``vals`` differ in length or shape.
    """
    vals = np.stack([np.asarray(v, dtype=float) for v in vals])
    tests = np.stack([np.asarray(t, dtype=float) for t in tests])
    if vals.shape != tests.shape or vals.shape[0] == 0:
        raise ValueError(
            f"tests and vals must be equally many arrays of one shape, got {tests.shape} and {vals.shape}"
        )
    choice = vals.argmax(0)
    pick = choice[None]
    return (np.take_along_axis(tests, pick, 0)[0], np.take_along_axis(vals, pick, 0)[0], choice)


def select_result(results) -> tuple[CVResult, np.ndarray]:
    """Combine CV results of candidate designs target by target, choosing on validation r.

    Parameters
    ----------
    results : sequence of CVResult
        Fits of the same targets with different designs (same events, folds and alphas).

    Returns
    -------
    result : CVResult
        Per target, every field of the candidate with the best fold-averaged validation r
        (``val_r_alphas`` of the chosen candidate too).
    choice : ndarray of int, shape (n_targets,)
        Index of the chosen candidate per target.
    """
    results = list(results)
    _, _, choice = select_on_validation([r.test_r for r in results], [r.val_r for r in results])

    def pick(name):
        """Field ``name`` of the chosen candidate, target by target.

        Parameters
        ----------
        name : str
            A :class:`CVResult` field whose last axis is the targets.

        Returns
        -------
        ndarray, shape of the field
            Per target (last axis), the values of the candidate ``choice`` picked.
        """
        stack = np.stack([getattr(r, name) for r in results])  # (n_cand, ..., T)
        idx = choice.reshape((1,) * (stack.ndim - 1) + choice.shape)
        idx = np.broadcast_to(idx, (1,) + stack.shape[1:])
        return np.take_along_axis(stack, idx, 0)[0]

    fields = (
        "test_r",
        "val_r",
        "alpha",
        "test_r_folds",
        "val_r_folds",
        "predictions",
        "valid",
        "val_r_alphas",
    )
    out = CVResult(**{f: pick(f) for f in fields}, alphas=results[0].alphas.copy())
    return out, choice
