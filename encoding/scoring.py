"""Pearson correlation helpers shared by the ridge engine and the statistics.

Notes
-----
**NaN policy**

A Pearson r is undefined when either vector is constant (zero variance). Everywhere in
mmsites such an r is **0** (a constant prediction or response carries no linear information),
never NaN, and the number of such r values is reported once per call with a logged warning.
"Constant" is relative: a variance below ``1e-12`` times the sum of squares of the raw values
is rounding noise and counts as zero. NaN or inf *inputs* are errors, not zeros.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

__all__ = ["pearson_r", "r_from_moments"]

logger = logging.getLogger(__name__)

#: A variance below this fraction of the raw sum of squares is rounding noise: the vector is constant.
CONSTANT_REL_TOL = 1e-12


def _r_and_ok(cov, var_a, var_b, *, scale_a=None, scale_b=None):
    """Pearson r from centred moments and the mask of defined values (see r_from_moments)."""
    lib = torch if torch.is_tensor(cov) else np
    var_a = var_a.clamp(min=0) if lib is torch else np.clip(var_a, 0, None)
    var_b = var_b.clamp(min=0) if lib is torch else np.clip(var_b, 0, None)
    ok_a = var_a > (0 if scale_a is None else CONSTANT_REL_TOL * scale_a)
    ok_b = var_b > (0 if scale_b is None else CONSTANT_REL_TOL * scale_b)
    ok = ok_a & ok_b
    den = lib.where(ok, lib.sqrt(var_a * var_b), lib.ones_like(var_a * var_b))
    r = lib.where(ok, cov / den, lib.zeros_like(den))
    r = r.clamp(-1.0, 1.0) if lib is torch else np.clip(r, -1.0, 1.0)
    return r, ok


def r_from_moments(cov, var_a, var_b, *, scale_a=None, scale_b=None, what="r"):
    """Pearson r from centred second moments, 0 where a variance is zero.

    Parameters
    ----------
    cov, var_a, var_b : ndarray or Tensor, broadcastable shapes
        ``Σ (a - ā)(b - b̄)``, ``Σ (a - ā)²`` and ``Σ (b - b̄)²`` over the same samples.
    scale_a, scale_b : same shapes, optional
        ``Σ a²`` and ``Σ b²`` of the raw values; a variance below ``1e-12`` times its scale is
        treated as zero (rounding noise). Without them only exact zeros count.
    what : str
        Names the quantity in the warning about zero-variance cases.

    Returns
    -------
    r : same type as ``cov``
        Pearson r, clipped to [-1, 1]; 0 where either variance is zero (one logged warning
        with their count).
    """
    r, ok = _r_and_ok(cov, var_a, var_b, scale_a=scale_a, scale_b=scale_b)
    n_bad = int((~ok).sum())
    if n_bad:
        logger.warning(
            "%d %s value(s) set to 0 because a prediction or response was constant over the events scored",
            n_bad,
            what,
        )
    return r


def pearson_r(a, b, axis: int = 0):
    """Pearson correlation of ``a`` and ``b`` along ``axis``, NaN-safe.

    Parameters
    ----------
    a, b : array_like, same shape, e.g. (n_events, n_targets)
        Predictions and responses (any unit; r is unit-free).
    axis : int
        The axis of samples (events).

    Returns
    -------
    r : ndarray, float64, shape of ``a`` without ``axis``
        Correlation per remaining index; 0 (with a counted warning) where ``a`` or ``b`` is
        constant along ``axis``.

    Raises
    ------
    ValueError
        If the shapes differ, there are fewer than 2 samples, or an input is not finite.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"pearson_r needs two arrays of the same shape, got {a.shape} and {b.shape}")
    if a.shape[axis] < 2:
        raise ValueError(f"pearson_r needs at least 2 samples along axis {axis}, got {a.shape[axis]}")
    for name, x in (("a", a), ("b", b)):
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(
                f"pearson_r: {name} has a non-finite value at index "
                f"{tuple(int(i) for i in bad)}; remove or fill NaN/inf first"
            )
    ac = a - a.mean(axis=axis, keepdims=True)
    bc = b - b.mean(axis=axis, keepdims=True)
    return r_from_moments(
        (ac * bc).sum(axis),
        (ac * ac).sum(axis),
        (bc * bc).sum(axis),
        scale_a=(a * a).sum(axis),
        scale_b=(b * b).sum(axis),
    )
