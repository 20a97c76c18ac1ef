"""Signal test: the (electrode, time bin) targets a model predicts above chance.

Two statistics per target, both fold-averaged Pearson r of the cross-validated encoding
model: the **validation** r (``CVResult.val_r``), on which signal bins are chosen (a choice,
so it never sees test data), and the **test** r (``CVResult.test_r``), whose p-value is
reported. Their null distributions come from permutations that break the pairing of events
and features while keeping the neural signal's autocorrelation (:mod:`mmsites.stats.resampling`);
the observed values are the identity permutation of the same computation, and
:class:`SequentialPvalues` stops settled targets early (Besag–Clifford). Two modes:

``refit`` (exact, the expensive one)
    Refit the whole cross-validation on permuted responses,
    :meth:`CVEngine.fit_permuted(Y, perms) <mmsites.encoding.ridge.CVEngine.fit_permuted>`
    with global block permutations (:func:`mmsites.stats.resampling.block_permutations`).
    The null includes the alpha selection and the fitting.
``fast``
    Keep the fitted models and permute their out-of-fold predictions against the responses
    inside each fold's test half (:func:`mmsites.stats.resampling.fold_permutations`), then recompute
    the fold-averaged test r (:func:`fast_permutation_null`). It asks "is this held-out
    prediction better than chance?" and costs a few batched products instead of P fits.
    Caveat: it treats the folds' scores as independent. When features and responses both
    drift slowly, a spurious whole-recording correlation is learnt on the training folds
    and shared by every fold's score; the fast null does not reproduce it and is
    anti-conservative. Measured on null data (AR(1), φ = 0.8, ridge predictions from
    ``CVEngine``, 600 events, 300 targets): 8–11 % of bins at p < 0.05 with the fast null
    vs 6–7 % with the refit null (block 20). With independent predictions and responses
    the fast block null is calibrated (5 %, tested). Prefer ``refit`` for final results.

p-values use the (1 + count) / (1 + P) convention, so they are never 0 and the test is
valid at the stated level. :func:`max_over_bins_pvalues` controls the family-wise error
across an electrode's bins: each bin's r is compared with the null of the maximum over that
electrode's bins.

Targets are columns of a (n_events, n_targets) response matrix; when a function needs
electrodes and bins, targets are electrode-major (target ``e * n_bins + b``), which is what
``a.reshape(n_events, -1)`` gives for a (events × electrodes × bins) array ``a``. The
statistics are explained in ``docs/statistics.md``.
"""

from __future__ import annotations

import logging

import numba
import numpy as np
import torch

from mmsites.device import resolve_device
from mmsites.encoding.ridge import select_on_validation

from ._corr import as_tensor, check_events, default_dtype, r_from_sums
from .resampling import part_block

logger = logging.getLogger(__name__)

__all__ = [
    "fast_permutation_null",
    "fold_average_r",
    "permutation_pvalues",
    "max_over_bins_pvalues",
    "signal_bins",
    "signal_null",
    "count_signal_bins",
    "SequentialPvalues",
]


def _fold_parts(folds, part: str, n_events: int) -> list[np.ndarray]:
    out = []
    for k, f in enumerate(folds):
        idx = np.asarray(getattr(f, part), dtype=np.int64)
        if idx.size < 2:
            raise ValueError(f"fold {k} has {idx.size} {part} events; Pearson r needs >= 2")
        if idx.min() < 0 or idx.max() >= n_events:
            raise ValueError(f"fold {k} {part} indices out of range for {n_events} events")
        out.append(idx)
    if not out:
        raise ValueError("folds is empty")
    return out


def _block_orders(local: np.ndarray, block: int):
    """Block order of aligned block permutations, or None when ``local`` is not one.

    ``local`` (n_perm, m) holds positions inside one contiguous part. It qualifies when
    its first ``m - m % block`` positions are whole blocks of ``block`` events moved as
    units and the rest stay in place (what :func:`mmsites.stats.resampling.fold_permutations`
    draws for ``kind="block"``). Returns (n_perm, n_blocks) source block numbers.
    """
    P, m = local.shape
    nb = m // block
    full = nb * block
    if nb < 1:
        return None
    head = local[:, :full].reshape(P, nb, block)
    start = head[:, :, 0]
    if (start % block).any() or not np.array_equal(head, start[..., None] + np.arange(block)):
        return None
    if not np.array_equal(local[:, full:], np.broadcast_to(np.arange(full, m), (P, m - full))):
        return None
    return start // block


def fast_permutation_null(
    predictions,
    Y,
    folds,
    perms,
    *,
    part: str = "test",
    block: int | None = None,
    device: str = "cpu",
    max_bytes: float = 2e8,
) -> np.ndarray:
    """Null distribution of the fold-averaged test r by permuting held-out predictions.

    For permutation ``p`` and fold ``k`` with held-out events ``t_k`` (its test half), the
    statistic is ``r(predictions[t_k], Y[perms[p, t_k]])`` per target, averaged over folds.
    With the identity permutation this is the observed fold-averaged test r.

    Parameters
    ----------
    predictions : array, shape (n_events, n_targets)
        Out-of-fold predictions (``CVResult.predictions``), same units as ``Y``.
    Y : array, shape (n_events, n_targets)
        Responses (µV or z-scored units; r is unit-free).
    folds : sequence of Fold
        The folds the predictions came from.
    perms : int array, shape (n_perm, n_events)
        Permutations, normally :func:`mmsites.stats.resampling.fold_permutations` (within each test
        half). Any chunk of rows gives the matching rows of the whole result.
    part : {"test", "val"}
        Held-out half to score.
    block : int, optional
        The ``block`` the permutations were drawn with. When given and a fold's permutations
        are aligned block permutations of its part (``fold_permutations(kind="block")``),
        the fold is scored from the products of every pair of blocks, computed once, and
        all permutations are then one (n_perm × n_blocks²) @ (n_blocks² × n_targets)
        product instead of a gather of (n_perm × m × n_targets) responses. Other folds
        (or ``block=None``) use the direct gather.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    max_bytes : float
        Memory budget of one batch of gathered responses; permutations are processed in
        batches that fit.

    Returns
    -------
    null : ndarray of float, shape (n_perm, n_targets)
        Fold-averaged r for each permutation and target.

    Raises
    ------
    ValueError
        If ``predictions`` and ``Y`` are not 2-D of one shape or hold NaN/inf where scored,
        ``perms`` is not (n_perm, n_events) event indices, or a fold part has fewer than 2
        events or indices out of range.
    """
    dev = resolve_device(device)
    dtype = default_dtype(dev)
    perms = np.asarray(perms, dtype=np.int64)
    if not torch.is_tensor(predictions):
        predictions = np.asarray(predictions)
    if not torch.is_tensor(Y):
        Y = np.asarray(Y)
    # shapes here; values a part at a time below, on the rows scored
    check_events("predictions", predictions, finite=False)
    n, T = predictions.shape
    check_events("Y", Y, n, finite=False)
    if Y.shape[1] != T:
        raise ValueError(f"Y has {Y.shape[1]} targets but predictions have {T}")
    if perms.ndim != 2 or perms.shape[1] != n:
        raise ValueError(f"perms must have shape (n_perm, {n}), got {perms.shape}")
    if perms.size and (perms.min() < 0 or perms.max() >= n):
        raise ValueError(f"perms must hold event indices 0..{n - 1}")
    P = perms.shape[0]
    parts = _fold_parts(folds, part, n)
    scored = np.concatenate(parts)
    out = torch.zeros((P, T), dtype=dtype, device=dev)
    centred = None
    for idx in parts:
        m = idx.size
        # Only the scored rows are converted and checked (held-out targets may be NaN on
        # rows no fold holds out), a part at a time: no full-size copy on the block path.
        a = _rows(predictions, idx, dev, dtype)
        check_events("predictions", a)
        local = perms[:, idx] - idx[0]
        orders = None
        if (
            block
            and np.array_equal(idx, np.arange(idx[0], idx[0] + m))
            and local.min() >= 0
            and local.max() < m
        ):
            blk = part_block(m, block)
            orders = _block_orders(local, blk)
        if orders is not None:
            y = _rows(Y, idx, dev, dtype)
            check_events("Y", y)
            _block_null(a, y, orders, blk, out)
            continue
        a = a.to(dtype)
        if centred is None:
            Yt = as_tensor(Y, dev, dtype)
            check_events("Y", Yt, rows=scored)
            # r is invariant to shifting Y by a constant: centring once (only when the
            # direct gather needs it) tames float32 cancellation in the sums below.
            # (the mean of the scored rows: the others may be NaN and are never read)
            centred = Yt - Yt[torch.as_tensor(scored, device=dev)].mean(0, keepdim=True)
        a = a - a.mean(0, keepdim=True)
        saa = (a * a).sum(0)
        batch = max(1, int(max_bytes // (m * T * a.element_size())))
        p_idx = torch.as_tensor(perms[:, idx], device=dev)
        for s in range(0, P, batch):
            yp = centred[p_idx[s : s + batch]]  # (pb, m, T)
            sab = torch.einsum("mt,pmt->pt", a, yp)
            sb = yp.sum(1)
            sbb = (yp * yp).sum(1)
            # a is centred, so Σa = 0 and Σab is already the covariance sum.
            out[s : s + batch] += r_from_sums(float(m), torch.zeros_like(sb), sb, saa, sbb, sab)
    out /= len(parts)
    return out.cpu().numpy()


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Centre each column and scale it to unit norm (a constant column becomes zeros)."""
    x = x - x.mean(0, keepdim=True)
    norm = x.pow(2).sum(0, keepdim=True).sqrt()
    scale = x.abs().amax(0, keepdim=True) * 1e-12 * x.shape[0]
    return torch.where(norm > scale, x / torch.where(norm > 0, norm, 1), torch.zeros_like(x))


def _rows(x, idx: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Rows ``idx`` of a 2-D array or tensor, as a tensor on ``device``.

    A contiguous run of rows is sliced (a view) before anything is copied. float32 and
    float64 values keep their dtype (the block path converts a tile at a time, in cache);
    any other dtype is cast to ``dtype``.
    """
    if idx.size and idx[-1] - idx[0] + 1 == idx.size and np.all(np.diff(idx) == 1):
        sel = slice(int(idx[0]), int(idx[-1]) + 1)
    else:
        sel = torch.as_tensor(idx, device=x.device) if torch.is_tensor(x) else idx
    part = x[sel]
    kind = part.dtype if torch.is_tensor(part) else torch.from_numpy(np.empty(0, part.dtype)).dtype
    return as_tensor(part, device, kind if kind in (torch.float32, torch.float64) else dtype)


# Targets per tile of the CPU block path: the part's tiles (2 x m x width) and its block-pair
# products (n_blocks² x width) stay in the caches (256 and 512 ran alike; all 24150 targets
# of the benchmark at once 2.3x slower: every pass then streams from memory).
_TILE = 256


@numba.njit(nogil=True, cache=True)
def _centre_tile(x, start, centred, inverse_norm):
    """``centred[:, :w]`` = columns ``start:start + w`` of ``x`` minus their means, in
    float64 whatever ``x``'s dtype; ``inverse_norm[:w]`` = 1 / each column's norm, 0 for a
    column whose norm is within 1e-12 · m of its largest deviation (constant up to
    rounding), as :func:`_unit`."""
    m, width = centred.shape
    mean = np.zeros(width)
    for i in range(m):
        for t in range(width):
            mean[t] += x[i, start + t]
    mean /= m
    power, largest = np.zeros(width), np.zeros(width)
    for i in range(m):
        for t in range(width):
            v = x[i, start + t] - mean[t]
            centred[i, t] = v
            power[t] += v * v
            largest[t] = max(largest[t], abs(v))
    for t in range(width):
        norm = np.sqrt(power[t])
        inverse_norm[t] = 1.0 / norm if norm > largest[t] * 1e-12 * m else 0.0


@numba.njit(nogil=True, cache=True)
def _add_pair_sums(pairs, rows, tail, out, start, acc):
    """``out[p, start + t] += tail[t] + Σ_b pairs[rows[p, b], t]`` for every p and t < len(tail).

    Each permutation's sum goes to ``acc`` (a work buffer at least as long as ``tail``), not
    straight into ``out``: with the two possibly aliased, the compiler would not vectorise a
    loop that adds into ``out`` (3x slower measured).
    """
    w = tail.shape[0]
    for p in range(rows.shape[0]):
        acc[:w] = tail
        for b in range(rows.shape[1]):
            src = pairs[rows[p, b]]
            for t in range(w):
                acc[t] += src[t]
        dst = out[p, start : start + w]
        for t in range(w):
            dst[t] += acc[t]


@numba.njit(nogil=True, cache=True)
def _block_null_kernel(a, y, rows, block, out, tile):
    """The CPU block path of :func:`_block_null`, a tile of targets at a time.

    Per tile: centred columns of ``a`` and ``y``, the block-pair products
    ``C[b * nb + c] = Σ_j â[b L + j] ŷ[c L + j]`` of the unit-norm columns (the centred
    products times both inverse norms), the tail's products, then every
    permutation's ``Σ_b C[rows[p, b]]`` added to its row of ``out`` (:func:`_add_pair_sums`).
    The loops over targets are innermost and unit-stride, so they run as SIMD operations.
    """
    m, n_targets = a.shape
    nb = rows.shape[1]
    full = nb * block
    ah, yh = np.empty((m, tile)), np.empty((m, tile))
    ia, iy = np.empty(tile), np.empty(tile)
    pairs = np.empty((nb * nb, tile))
    acc = np.empty(tile)
    for start in range(0, n_targets, tile):
        w = min(tile, n_targets - start)
        au, yu = ah[:, :w], yh[:, :w]
        _centre_tile(a, start, au, ia[:w])
        _centre_tile(y, start, yu, iy[:w])
        for t in range(w):
            ia[t] *= iy[t]  # the scale of every product of this tile: unit-norm columns
        for b in range(nb):
            for c in range(nb):
                row = pairs[b * nb + c, :w]
                row[:] = 0.0
                for j in range(block):
                    ra, ry = au[b * block + j], yu[c * block + j]
                    for t in range(w):
                        row[t] += ra[t] * ry[t]
                for t in range(w):
                    row[t] *= ia[t]
        tail = np.zeros(w)
        for i in range(full, m):
            for t in range(w):
                tail[t] += au[i, t] * yu[i, t]
        for t in range(w):
            tail[t] *= ia[t]
        _add_pair_sums(pairs, rows, tail, out, start, acc)


def _block_null(a, y, orders, block: int, out: torch.Tensor) -> None:
    """Add the fold r of aligned block permutations, from block-pair products, to ``out``.

    Within one part, r(a, y[π]) = Σ_i â_i ŷ_π(i) with â, ŷ centred, unit-norm columns
    (permuting inside the part leaves ŷ's mean and norm unchanged). With whole blocks
    moving, this is Σ_b C[b, π(b)] + (fixed tail), C[b, c] = Σ_j â_{bL+j} ŷ_{cL+j}: per
    permutation and target, n_blocks additions of precomputed products, where the dense
    (n_perm × n_blocks²) @ (n_blocks² × n_targets) product of a 0/1 selection matrix does
    n_blocks times more arithmetic. On the CPU a compiled kernel takes the targets a tile at
    a time, so that the part, C and each permutation's row of ``out`` come from the caches;
    elsewhere the same steps are tensor operations over large tiles.

    Parameters
    ----------
    a, y : Tensor, shape (m, n_targets)
        Predictions and responses on the part's m events (any scale; float32 or float64,
        on ``out``'s device).
    orders : ndarray of int, shape (n_perm, n_blocks)
        Source block of each block position (:func:`_block_orders`).
    block : int
        Events per block; the last ``m - n_blocks * block`` events stay in place.
    out : Tensor, shape (n_perm, n_targets)
        Accumulates each permutation's r on this part (updated in place).
    """
    P, nb = orders.shape
    full = nb * block
    T = a.shape[1]
    rows = np.ascontiguousarray(np.arange(nb) * nb + orders, dtype=np.int64)  # (P, nb) rows of C
    if out.device.type == "cpu" and out.dtype == torch.float64:
        a_np, y_np = (np.ascontiguousarray(v.numpy()) for v in (a, y))
        _block_null_kernel(a_np, y_np, rows, block, out.numpy(), _TILE)
        return
    # On an accelerator (or in float32) the number of kernel launches matters more than the
    # caches.
    tile = 1 << 16
    rows_t = torch.as_tensor(rows, device=a.device)
    for s in range(0, T, tile):
        e = min(T, s + tile)
        ah, yh = _unit(a[:, s:e].to(out.dtype)), _unit(y[:, s:e].to(out.dtype))
        ab, yb = ah[:full].reshape(nb, block, e - s), yh[:full].reshape(nb, block, e - s)
        C = torch.zeros((nb, nb, e - s), dtype=out.dtype, device=out.device)
        # one elementwise pass per event of a block or per block, whichever is fewer
        if block <= nb:
            for j in range(block):
                C.addcmul_(ab[:, j, None], yb[None, :, j])
        else:
            for c in range(nb):
                C[:, c] = (ab * yb[c]).sum(1)
        tail = (ah[full:] * yh[full:]).sum(0)
        out[:, s:e] += torch.nn.functional.embedding_bag(rows_t, C.reshape(nb * nb, e - s), mode="sum") + tail


def fold_average_r(predictions, Y, folds, *, part: str = "test", device: str = "cpu"):
    """Fold-averaged Pearson r of held-out predictions.

    The observed statistic matching :func:`fast_permutation_null` (its identity permutation).

    Parameters
    ----------
    predictions : array, shape (n_events, n_targets)
        Out-of-fold predictions (``CVResult.predictions``), finite on every event of the
        scored parts.
    Y : array, shape (n_events, n_targets)
        Responses, finite.
    folds : sequence of Fold
        The folds the predictions came from.
    part : {"test", "val"}, default "test"
        Held-out half to score.
    device : str or torch.device, default "cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Returns
    -------
    r : ndarray of float, shape (n_targets,)
        Mean over folds of the r of ``predictions`` and ``Y`` on the fold's ``part``.

    Raises
    ------
    ValueError
        If the arrays are malformed or do not fit each other or the folds (as in
        :func:`fast_permutation_null`).
    """
    n = np.shape(predictions)[0]
    return fast_permutation_null(predictions, Y, folds, np.arange(n)[None], part=part, device=device)[0]


def permutation_pvalues(observed, null, tail: str = "greater") -> np.ndarray:
    """Permutation p-values with the (1 + count) / (1 + P) convention.

    Parameters
    ----------
    observed : array, shape (...)
        Observed statistic per target.
    null : array, shape (n_perm, ...)
        Null statistics, one row per permutation.
    tail : {"greater", "less", "two-sided"}
        ``greater`` counts null >= observed; ``two-sided`` compares absolute values.

    Returns
    -------
    p : ndarray, shape (...)
        In (0, 1]; NaN where the observed value is NaN.

    Raises
    ------
    ValueError
        If ``null.shape[1:]`` differs from ``observed.shape`` or ``tail`` is not one of the
        choices.
    """
    observed = np.asarray(observed, dtype=float)
    null = np.asarray(null, dtype=float)
    if null.shape[1:] != observed.shape:
        raise ValueError(f"null has shape {null.shape}; expected (n_perm, *{observed.shape})")
    if tail == "greater":
        count = (null >= observed).sum(0)
    elif tail == "less":
        count = (null <= observed).sum(0)
    elif tail == "two-sided":
        count = (np.abs(null) >= np.abs(observed)).sum(0)
    else:
        raise ValueError(f"tail must be 'greater', 'less' or 'two-sided', got {tail!r}")
    p = (1.0 + count) / (1.0 + null.shape[0])
    return np.where(np.isnan(observed), np.nan, p)


def max_over_bins_pvalues(observed, null, n_bins: int) -> np.ndarray:
    """Family-wise p-values across each electrode's bins (max statistic).

    Each bin's observed r is compared with the null distribution of the *maximum* r over
    the bins of its electrode, which controls the chance that any bin of the electrode
    passes by luck.

    Parameters
    ----------
    observed : array, shape (n_targets,)
        Observed statistic (e.g. fold-averaged r) of electrode-major targets,
        ``n_targets = n_electrodes * n_bins``.
    null : array, shape (n_perm, n_targets)
        Null statistics of the same targets, one row per permutation (the same permutation
        for all bins of an electrode).
    n_bins : int
        Bins per electrode.

    Returns
    -------
    p : ndarray, shape (n_targets,)
        ``(1 + #{null rows whose electrode maximum >= observed}) / (1 + n_perm)`` per bin.

    Raises
    ------
    ValueError
        If ``n_targets`` is not a multiple of ``n_bins``.
    """
    observed = np.asarray(observed, dtype=float)
    null = np.asarray(null, dtype=float)
    T = observed.shape[0]
    if n_bins < 1 or T % n_bins:
        raise ValueError(f"{T} targets cannot be split into electrodes of n_bins={n_bins} bins")
    E = T // n_bins
    max_null = null.reshape(null.shape[0], E, n_bins).max(2)  # (P, E)
    obs = observed.reshape(E, n_bins)
    count = (max_null[:, :, None] >= obs[None]).sum(0)
    return ((1.0 + count) / (1.0 + null.shape[0])).reshape(T)


def signal_bins(method: str = "permutation", *, pvalues=None, val_lo=None, alpha: float = 0.05) -> np.ndarray:
    """Choose the signal bins: the targets whose validation r is above chance.

    Parameters
    ----------
    method : {"permutation", "bootstrap_ci"}, default "permutation"
        ``permutation``: p < ``alpha`` (the study's figure).
        ``bootstrap_ci``: lower bound of the validation-r bootstrap CI > 0 (what the
        released code does).
    pvalues : array, shape (n_targets,), optional
        Permutation p-values of the validation r per target (e.g.
        :meth:`SequentialPvalues.pvalues`); needed for ``permutation``.
    val_lo : array, shape (n_targets,), optional
        Lower bound of the validation-r bootstrap interval per target
        (``bootstrap_summary(...)["val_lo"]``); needed for ``bootstrap_ci``.
    alpha : float, default 0.05
        Level of the permutation test.

    Returns
    -------
    signal : ndarray of bool, shape (n_targets,)
        True for signal bins; a NaN p-value or bound is never signal.

    Raises
    ------
    ValueError
        If ``method`` is not one of the choices or the input it needs is missing.
    """
    if method == "permutation":
        if pvalues is None:
            raise ValueError("method='permutation' needs `pvalues` (run the permutation test)")
        return np.nan_to_num(np.asarray(pvalues, dtype=float), nan=1.0) < alpha
    if method == "bootstrap_ci":
        if val_lo is None:
            raise ValueError("method='bootstrap_ci' needs `val_lo` (run the bootstrap)")
        return np.nan_to_num(np.asarray(val_lo, dtype=float), nan=-np.inf) > 0
    raise ValueError(f"method must be 'permutation' or 'bootstrap_ci', got {method!r}")


def count_signal_bins(signal, n_bins: int) -> np.ndarray:
    """Count the signal bins of each electrode.

    Parameters
    ----------
    signal : bool array, shape (n_electrodes * n_bins,)
        Signal bins (:func:`signal_bins`), electrode-major.
    n_bins : int
        Bins per electrode.

    Returns
    -------
    counts : ndarray of int, shape (n_electrodes,)
        Number of True bins of each electrode.

    Raises
    ------
    ValueError
        If ``signal`` is not 1-D with a multiple of ``n_bins`` entries.
    """
    signal = np.asarray(signal, dtype=bool)
    if signal.ndim != 1 or signal.size % n_bins:
        raise ValueError(
            f"signal of shape {signal.shape} is not electrode-major with {n_bins} bins per electrode"
        )
    return signal.reshape(-1, n_bins).sum(1)


def signal_null(
    mode: str,
    Y,
    perms,
    *,
    folds=None,
    predictions=None,
    engine=None,
    block: int | None = None,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Null test and validation r of one model, in either mode.

    ``mode="refit"`` calls ``engine.fit_permuted(Y, perms)`` (perms: global block
    permutations): the penalty is chosen anew on every permutation, as in the fit. ``engine``
    may also be a list of engines (candidate designs, e.g. MultiLin sizes): per permutation
    and target the candidate with the best validation r is kept, which repeats the choice
    the observed scores made (:func:`mmsites.encoding.ridge.select_on_validation`).
    ``mode="fast"`` calls :func:`fast_permutation_null` on the test and on the validation
    halves (perms: within-part permutations of both halves,
    ``fold_permutations(part="both")``; needs ``predictions`` and ``folds``; ``block``
    enables the block-pair shortcut). The fast validation null does not repeat the choice of
    the penalty, so it is lenient for the validation r: use it for selection only.

    Parameters
    ----------
    mode : {"refit", "fast"}
        Null mode (module docstring).
    Y : array, shape (n_events, n_targets)
        Responses per event and target (electrode × bin), finite.
    perms : int array, shape (n_perm, n_events)
        Permutations of the events: global block permutations
        (:func:`mmsites.stats.resampling.block_permutations`) for ``refit``, within-part
        permutations (:func:`mmsites.stats.resampling.fold_permutations`, ``part="both"``)
        for ``fast``. Any chunk of rows gives the matching rows of the whole result.
    folds : sequence of Fold, optional
        The model's folds; needed for ``fast``.
    predictions : array, shape (n_events, n_targets), optional
        Out-of-fold predictions (``CVResult.predictions``); needed for ``fast``.
    engine : CVEngine or list of CVEngine, optional
        The model's :class:`~mmsites.encoding.ridge.CVEngine` (or one per candidate design);
        needed for ``refit``.
    block : int, optional
        The ``block`` the ``fast`` permutations were drawn with, which enables the
        block-pair shortcut of :func:`fast_permutation_null`.
    device : str or torch.device, default "cpu"
        Device of the ``fast`` computation (``refit`` runs on the engine's device).

    Returns
    -------
    test_null, val_null : ndarray, shape (n_perm, n_targets)
        Row ``i`` is the fold-averaged test (validation) r under ``perms[i]`` (the observed
        one for the identity).

    Raises
    ------
    ValueError
        If ``mode`` is neither ``"refit"`` nor ``"fast"``, or the arguments the mode needs are
        missing.
    """
    if mode == "refit":
        if engine is None:
            raise ValueError("mode='refit' needs `engine` (the model's CVEngine)")
        engines = engine if isinstance(engine, (list, tuple)) else [engine]
        fits = [e.fit_permuted(Y, perms) for e in engines]
        if len(fits) == 1:
            return np.asarray(fits[0][0]), np.asarray(fits[0][1])
        test, val, _ = select_on_validation([f[0] for f in fits], [f[1] for f in fits])
        return test, val
    if mode == "fast":
        if predictions is None or folds is None:
            raise ValueError("mode='fast' needs `predictions` (the out-of-fold predictions) and `folds`")
        return tuple(
            fast_permutation_null(predictions, Y, folds, perms, part=part, block=block, device=device)
            for part in ("test", "val")
        )
    raise ValueError(f"mode must be 'refit' or 'fast', got {mode!r}")


class SequentialPvalues:
    """Permutation p-values that stop early where the answer is clear (Besag & Clifford 1991).

    Permutations arrive in chunks. A target stops once ``h`` null values have reached its
    observed statistic: its p-value is then ``h / L`` with ``L`` the number of permutations
    it took to get there (exact: the sequential test is valid at every level). A target
    that never reaches ``h`` gets the usual ``(1 + count) / (1 + P)`` after all ``P``
    permutations. Most null targets stop after ~``2h`` permutations, so a refit null costs a
    small fraction of ``P`` fits unless many targets carry signal. ``h = None`` never stops.

    Parameters
    ----------
    observed : array, shape (n_targets,)
        Observed statistic (NaN: never tested, p NaN).
    h : int or None, default 10
        Exceedances after which a target stops (>= 1); None never stops.

    Raises
    ------
    ValueError
        If ``observed`` is not 1-D or ``h`` is not a positive integer or None.
    """

    def __init__(self, observed, h: int | None = 10):
        self.observed = np.asarray(observed, dtype=float)
        if self.observed.ndim != 1:
            raise ValueError(f"observed must be 1-D (n_targets,), got shape {self.observed.shape}")
        if h is not None and int(h) < 1:
            raise ValueError(f"h must be a positive number of exceedances or None, got {h}")
        self.h = None if h is None else int(h)
        T = self.observed.size
        self.count = np.zeros(T, np.int64)
        self.seen = np.zeros(T, np.int64)
        self.stopped_at = np.zeros(T, np.int64)  # L where count reached h; 0 = running

    @property
    def active(self) -> np.ndarray:
        """Targets still running.

        Returns
        -------
        ndarray of bool, shape (n_targets,)
            True for targets that have not stopped and have an observed value (not NaN).
        """
        return (self.stopped_at == 0) & ~np.isnan(self.observed)

    def update(self, null, targets=None) -> None:
        """Add a chunk of null statistics.

        Parameters
        ----------
        null : array, shape (n_rows, n_sel)
            Null statistics of the chunk's permutations for the targets ``targets``, one row
            per permutation, in the order the permutations were drawn.
        targets : int array, shape (n_sel,), optional
            Which targets the columns are (default: all). Stopped targets are ignored.

        Raises
        ------
        ValueError
            If ``null`` is not (n_rows, n_sel).
        """
        null = np.asarray(null, dtype=float)
        targets = np.arange(self.observed.size) if targets is None else np.asarray(targets)
        if null.ndim != 2 or null.shape[1] != targets.size:
            raise ValueError(f"null must be (n_rows, {targets.size}), got shape {null.shape}")
        run = self.stopped_at[targets] == 0
        t, nl = targets[run], null[:, run]
        hits = nl >= self.observed[t]
        cum = self.count[t][None, :] + np.cumsum(hits, axis=0)
        if self.h is not None:
            reached = cum >= self.h
            stop = reached.any(0)
            first = reached.argmax(0)
            self.stopped_at[t[stop]] = self.seen[t[stop]] + first[stop] + 1
            self.count[t] = np.where(stop, self.h, cum[-1])
        else:
            self.count[t] = cum[-1]
        self.seen[t] += nl.shape[0]

    def pvalues(self) -> np.ndarray:
        """Sequential p-values of every target, from the permutations seen so far.

        Returns
        -------
        p : ndarray of float, shape (n_targets,)
            ``h / L`` where stopped after ``L`` permutations, else ``(1 + c) / (1 + n)`` with
            ``c`` exceedances among the ``n`` permutations seen; NaN where the observed value
            is NaN.
        """
        stopped = self.stopped_at > 0
        p = np.where(
            stopped, self.count / np.maximum(self.stopped_at, 1), (1.0 + self.count) / (1.0 + self.seen)
        )
        return np.where(np.isnan(self.observed), np.nan, p)

    @property
    def n_evaluated(self) -> np.ndarray:
        """Permutations each target was scored on.

        Returns
        -------
        ndarray of int64, shape (n_targets,)
            ``L`` for stopped targets, else the number of permutations seen.
        """
        return np.where(self.stopped_at > 0, self.stopped_at, self.seen)
