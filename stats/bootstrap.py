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
from mmsites.encoding.scoring import CONSTANT_REL_TOL

from ._corr import as_tensor, check_events, default_dtype
from .resampling import bootstrap_weights
from .signal import _fold_parts

logger = logging.getLogger(__name__)

__all__ = ["fast_bootstrap", "bootstrap_summary", "bootstrap_scores", "weighted_fold_r"]


#: Default block sizes of :func:`weighted_fold_r`: weightings and targets per block of sums.
#: The products run near the rate of one large GEMM only when they are wide (1024 weightings
#: ran 1.3x faster than 256 at 300 events per part, 1000 weightings, float64, one thread);
#: a block's sums (``5 · RESAMPLE_CHUNK · TARGET_CHUNK`` values, 10 MiB in float64) then
#: sit in the last-level cache for the elementwise passes that turn them into r.
RESAMPLE_CHUNK = 1024
TARGET_CHUNK = 256


def _column_block(x, cols: slice, dev: torch.device) -> torch.Tensor:
    """Columns ``cols`` of an array or tensor on ``dev``, in the input's float dtype.

    Never a copy of the whole input: a writable float array's block is a strided view,
    a read-only (memory-mapped) one's a copy of the block; the compute dtype is reached
    when the block's centred values are written (float32 → float64 is exact).
    """
    if torch.is_tensor(x):
        return x[:, cols].to(device=dev)
    block = x[:, cols]
    if not isinstance(block, np.ndarray) or type(block) is not np.ndarray:
        block = np.asarray(block)
    if not np.issubdtype(block.dtype, np.number) or np.iscomplexobj(block):
        raise ValueError(f"predictions and Y must hold real numbers, got dtype {block.dtype}")
    if block.dtype not in (np.float32, np.float64):
        block = block.astype(np.float64)
    elif not block.flags.writeable or min(block.strides) < 0:  # torch needs both
        block = np.array(block)
    return torch.from_numpy(block).to(device=dev)


def _rows(idx: np.ndarray, dev: torch.device):
    """A slice when ``idx`` is a run of consecutive events (a view, no copy), else an index tensor."""
    if idx.size and np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size)):
        return slice(int(idx[0]), int(idx[0]) + idx.size)
    return torch.as_tensor(idx, device=dev)


def _right_hand_side(ak: torch.Tensor, yk: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[a, y, a², y², a y]`` of one part, centred on the unweighted means: (n_k, 5 n_t).

    r is shift-invariant, and centring tames cancellation in the weighted sums.
    """
    am, ym = ak.mean(0, keepdim=True, dtype=dtype), yk.mean(0, keepdim=True, dtype=dtype)
    # A mean is finite exactly when its column is (short of overflow): a cheap check first,
    # the full one only to name the culprit.
    if not bool(torch.isfinite(am).all() & torch.isfinite(ym).all()):
        check_events("predictions", ak)
        check_events("Y", yk)
    n_k, nt = ak.shape
    M = torch.empty((n_k, 5, nt), dtype=dtype, device=ak.device)
    torch.sub(ak, am, out=M[:, 0])
    torch.sub(yk, ym, out=M[:, 1])
    torch.mul(M[:, 0], M[:, 0], out=M[:, 2])
    torch.mul(M[:, 1], M[:, 1], out=M[:, 3])
    torch.mul(M[:, 0], M[:, 1], out=M[:, 4])
    return M.view(n_k, 5 * nt)


def _add_r_of_block(S: torch.Tensor, out: torch.Tensor, cov, va, vb, bound: float) -> int:
    """Add the Pearson r of one block of normalised weighted sums to ``out``, in place.

    ``S`` (5, n_t, n_w) holds ``Σw a, Σw y, Σw a², Σw y², Σw a y`` with weights summing to 1
    per weighting (so the first two are means); ``out`` (n_t, n_w) receives r; ``cov``,
    ``va``, ``vb`` (n_t, n_w) are work buffers; ``bound`` is ``CONSTANT_REL_TOL`` times an
    upper bound of every ``Σw a² · Σw y²`` of the block (the product of the largest squared
    centred values). Returns the number of zero-variance values (r = 0 there).

    The values are those of :func:`mmsites.stats._corr.r_from_sums` up to rounding: a
    variance counts as zero below ``CONSTANT_REL_TOL`` times its raw second moment. Since a
    variance never exceeds its second moment, a block with ``var_a · var_y > bound``
    everywhere has no such value (nearly always); it takes 6 passes and one reduction
    instead of ~22 passes (each ~1 ns per value, against ~50 ns per value for the product
    that made the sums).
    """
    sa, sb, saa, sbb, sab = S.unbind(0)
    torch.addcmul(sab, sa, sb, value=-1.0, out=cov)
    torch.addcmul(saa, sa, sa, value=-1.0, out=va)
    torch.addcmul(sbb, sb, sb, value=-1.0, out=vb)
    vv = torch.mul(va, vb, out=vb)
    if bool(vv.amin() > bound):
        out.addcmul_(cov, vv.rsqrt_())
        return 0
    # The exact test, per value: the threshold is written into the Σw a² slot (not read again).
    bad = torch.add(va, saa, alpha=-CONSTANT_REL_TOL, out=saa) <= 0
    va = torch.addcmul(sbb, sb, sb, value=-1.0, out=va)  # var_y again (vb holds the product)
    bad |= torch.add(va, sbb, alpha=-CONSTANT_REL_TOL, out=sbb) <= 0
    out.add_(cov.mul_(vv.rsqrt_()).masked_fill_(bad, 0.0))
    return int(bad.sum())


def _weighted_fold_sums_r(W, a, y, part_sets, *, dev, dtype, resample_chunk: int, target_chunk: int):
    """Fold-averaged weighted r of every weighting for several held-out halves at once.

    ``part_sets`` is a list of lists of event index arrays (the test parts, the validation
    parts, ...); each column block of ``a`` and ``y`` is read once for all of them. Returns
    one (n_weightings, n_targets) array per entry of ``part_sets``.
    """
    n_w, n_targets = W.shape[0], a.shape[1]
    # Results are built targets-major: every block of sums is then contiguous per moment
    # (the products are computed transposed), which makes the elementwise passes faster.
    outs = [torch.zeros((n_targets, n_w), dtype=dtype, device=dev) for _ in part_sets]
    segs = []  # per part set and part: (rows, normalised weights of its events)
    for parts in part_sets:
        segs.append([])
        for idx in parts:
            rows = _rows(idx, dev)
            wk = W[:, rows]
            n = wk.sum(1, keepdim=True)
            if bool((n <= 0).any()):
                # A resample without any event of this part: the part has no score there
                # (its weights and sums stay 0, so both variances are 0 and r = 0).
                logger.debug("a weighting has no events in a held-out part")
            # Weights normalised to sum 1 per weighting: the sums are then means, and the
            # covariance and each variance take one pass.
            # Stored events-major (n_k, n_w): the products below then read both operands
            # as BLAS likes them (measured: 1.4-2x the rate of transposing the weights).
            segs[-1].append((rows, (wk / n.clamp(min=1e-300)).T.contiguous()))
    bc, tc = min(resample_chunk, n_w), min(target_chunk, n_targets)
    # Work buffers reused by every block: a fresh allocation would be paged in (and zeroed
    # by the system) every time.
    sums = torch.empty(5 * tc * bc, dtype=dtype, device=dev)
    work = torch.empty(3, tc * bc, dtype=dtype, device=dev)
    n_bad = 0
    for t0 in range(0, n_targets, tc):
        cols = slice(t0, min(t0 + tc, n_targets))
        nt = cols.stop - cols.start
        A, Yt = _column_block(a, cols, dev), _column_block(y, cols, dev)
        for out, parts in zip(outs, segs):
            for rows, wk in parts:
                M = _right_hand_side(A[rows], Yt[rows], dtype)
                nt5 = M.view(M.shape[0], 5, nt)
                bound = CONSTANT_REL_TOL * float(nt5[:, 2].amax()) * float(nt5[:, 3].amax())
                for b0 in range(0, n_w, bc):
                    nb = min(bc, n_w - b0)
                    # (5 n_t, n_k) @ (n_k, n_w): the five sums of every (target, weighting).
                    S = torch.mm(M.T, wk[:, b0 : b0 + nb], out=sums[: 5 * nt * nb].view(5 * nt, nb))
                    cov, va, vb = (w[: nt * nb].view(nt, nb) for w in work)
                    n_bad += _add_r_of_block(S.view(5, nt, nb), out[cols, b0 : b0 + nb], cov, va, vb, bound)
    if n_bad:
        logger.warning(
            "%d r value(s) set to 0 because a prediction or response was constant over the events scored",
            n_bad,
        )
    # Each fold's r is in [-1, 1] up to rounding; clipping the average instead of every fold's
    # value saves a pass per fold and differs by rounding only.
    return [
        out.div_(len(parts)).clamp_(-1.0, 1.0).T.contiguous().cpu().numpy()
        for out, parts in zip(outs, part_sets)
    ]


def _check_weights(W: torch.Tensor, n_events: int) -> None:
    if W.ndim != 2 or W.shape[1] != n_events:
        raise ValueError(f"weights must have shape (n, {n_events}), got {tuple(W.shape)}")


def weighted_fold_r(
    weights,
    a,
    y,
    folds,
    *,
    part: str = "test",
    device: str = "cpu",
    n_events: int | None = None,
    resample_chunk: int = RESAMPLE_CHUNK,
    target_chunk: int = TARGET_CHUNK,
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
        Responses (any unit; r is unit-free), finite on every scored event.
    folds : sequence of Fold
        The folds the predictions came from; each part ``part`` needs at least 2 events.
    part : {"test", "val"}, default "test"
        Held-out half whose events are scored.
    device : str or torch.device, default "cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``; float64 on the CPU, float32 on accelerators.
    n_events : int, optional
        Unused; the number of events is taken from ``a``.
    resample_chunk, target_chunk : int, default RESAMPLE_CHUNK, TARGET_CHUNK
        Weightings and targets per block of sums (>= 1); bound the work memory and never
        change the result beyond rounding.

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

    Notes
    -----
    With ``W_k`` the weights of fold ``k``'s part (n_weightings, n_k) and the part's
    predictions and responses centred on their unweighted means (``a``, ``y``), the five
    weighted sums ``Σw a, Σw y, Σw a², Σw y², Σw a y`` of every weighting and target are one
    matrix product ``W_k @ [a, y, a², y², a y]`` (n_k, 5 n_targets); per weighting ``n = Σw``,
    ``cov = Σw a y - Σw a Σw y / n`` (the same for the variances) and
    ``r = cov / sqrt(var_a var_y)``. The products are blocked over ``resample_chunk``
    weightings and ``target_chunk`` targets, the blocks' sums turned into r in place.

    Cost: ``5 · n_weightings · n_scored · n_targets`` multiply-adds (``n_scored`` the events
    of the scored parts, ``Σ_k n_k``): exactly five (n_weightings × n_scored) @ (n_scored ×
    n_targets) products, plus ``O(n_weightings · n_targets · n_folds)`` elementwise work.

    Memory, beyond the inputs and the (n_weightings, n_targets) result (held twice while it
    is transposed at the end): the weights normalised per part (``n_weightings · n_scored``
    values), one block of columns of ``a`` and ``y`` (``2 · n_events · target_chunk``, a
    copy only for read-only or non-float inputs, else a view), a part's right-hand side
    (``5 · n_k · target_chunk``) and the block's sums and work buffers
    (``8 · resample_chunk · target_chunk``): with the defaults and 3000 events at most
    ~19 MiB in float64 beyond the weights, whatever the number of targets.
    """
    dev = resolve_device(device)
    n = np.shape(a)[0]
    if np.ndim(a) != 2 or np.ndim(y) != 2:
        raise ValueError(
            f"predictions and Y must be 2-D (n_events, n_targets), got shapes {np.shape(a)} and {np.shape(y)}"
        )
    if np.shape(y) != np.shape(a):
        raise ValueError(f"Y has shape {np.shape(y)} but the predictions have {np.shape(a)}")
    for name, size in (("resample_chunk", resample_chunk), ("target_chunk", target_chunk)):
        if int(size) != size or size < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {size!r}")
    parts = _fold_parts(folds, part, n)
    dtype = default_dtype(dev)
    W = as_tensor(weights, dev, dtype)
    _check_weights(W, n)
    (r,) = _weighted_fold_sums_r(
        W,
        a,
        y,
        [parts],
        dev=dev,
        dtype=dtype,
        resample_chunk=int(resample_chunk),
        target_chunk=int(target_chunk),
    )
    return r


def fast_bootstrap(predictions, Y, folds, resamples, *, device: str = "cpu"):
    """Bootstrap of test and validation r without refitting.

    Both halves are scored in one pass over blocks of targets (:func:`weighted_fold_r` gives
    the maths, the cost — five (n_boot × n_events/2) @ (n_events/2 × n_targets) products per
    half — and the memory bound).

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
    dev = resolve_device(device)
    n = np.shape(predictions)[0]
    if np.ndim(predictions) != 2 or np.shape(Y) != np.shape(predictions):
        raise ValueError(
            f"predictions and Y must be 2-D arrays of one shape (n_events, n_targets), got "
            f"{np.shape(predictions)} and {np.shape(Y)}"
        )
    dtype = default_dtype(dev)
    W = as_tensor(bootstrap_weights(resamples, n), dev, dtype)
    parts = [_fold_parts(folds, name, n) for name in ("test", "val")]
    test, val = _weighted_fold_sums_r(
        W,
        predictions,
        Y,
        parts,
        dev=dev,
        dtype=dtype,
        resample_chunk=RESAMPLE_CHUNK,
        target_chunk=TARGET_CHUNK,
    )
    return test, val


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
