"""Shared numerics of the statistics: Pearson r from (weighted) sums, array helpers."""

from __future__ import annotations

import numpy as np
import torch

from mmsites.encoding.scoring import r_from_moments


def as_tensor(x, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Array → tensor on ``device`` (no copy when already there).

    A read-only array (e.g. memory-mapped predictions) is copied: torch tensors must own
    writable memory.

    Parameters
    ----------
    x : array_like or Tensor
        Values of any shape, e.g. (n_events, n_targets) predictions or responses.
    device : torch.device
        Where the tensor must live.
    dtype : torch.dtype
        Dtype of the tensor (values are cast).

    Returns
    -------
    Tensor
        ``x`` on ``device`` in ``dtype``, same shape; ``x`` itself when it already is such a
        tensor.
    """
    if not torch.is_tensor(x):
        x = np.asarray(x)
        if not x.flags.writeable:
            x = np.array(x)
    return torch.as_tensor(x).to(device=device, dtype=dtype)


def default_dtype(device: torch.device) -> torch.dtype:
    """Compute dtype of the statistics on a device.

    Parameters
    ----------
    device : torch.device
        The device the statistics run on.

    Returns
    -------
    torch.dtype
        ``torch.float64`` on the CPU (exact comparisons with slow oracles), ``torch.float32``
        on accelerators.
    """
    return torch.float64 if device.type == "cpu" else torch.float32


def r_from_sums(n, sa, sb, saa, sbb, sab, what: str = "r"):
    """Pearson r from sums over events (arrays or tensors, broadcastable).

    The project's NaN policy applies (:func:`mmsites.encoding.scoring.r_from_moments`): r = 0
    where either vector is constant, never NaN.

    Parameters
    ----------
    n : float, ndarray or Tensor
        The (possibly weighted) number of events the sums run over, > 0; broadcastable
        against the sums (e.g. shape (n_weightings, 1)).
    sa, sb : ndarray or Tensor, shape (..., n_targets)
        ``Σ a`` and ``Σ b`` over the events (a: predictions, b: responses).
    saa, sbb : ndarray or Tensor, shape (..., n_targets)
        ``Σ a²`` and ``Σ b²``.
    sab : ndarray or Tensor, shape (..., n_targets)
        ``Σ a b``.
    what : str, default "r"
        Names the quantity in the warning about zero-variance cases.

    Returns
    -------
    r : ndarray or Tensor, broadcast shape of the sums
        Pearson r, clipped to [-1, 1]; 0 where either variance is zero (one logged warning
        with their count).
    """
    return r_from_moments(
        sab - sa * sb / n, saa - sa * sa / n, sbb - sb * sb / n, scale_a=saa, scale_b=sbb, what=what
    )


def check_events(
    name: str, arr: np.ndarray | torch.Tensor, n_events: int | None = None, rows=None, finite: bool = True
):
    """Check that an array is 2-D (n_events, n_targets) and finite.

    Parameters
    ----------
    name : str
        The array's name, for the error message (e.g. ``"predictions"``, ``"Y"``).
    arr : ndarray or Tensor, shape (n_events, n_targets)
        The array to check.
    n_events : int, optional
        Number of rows ``arr`` must have; not checked when None.
    rows : array of int, shape (n_rows,), optional
        Events whose values must be finite (default: all). Out-of-fold predictions are NaN on
        events in no validation or test part, so they are checked on the scored rows only.
    finite : bool, default True
        Check the values; False checks the shape only.

    Raises
    ------
    ValueError
        If ``arr`` is not 2-D, has other than ``n_events`` rows, or holds NaN or inf on the
        checked rows.
    """
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_events, n_targets), got shape {tuple(arr.shape)}")
    if n_events is not None and arr.shape[0] != n_events:
        raise ValueError(f"{name} has {arr.shape[0]} events (rows) but {n_events} were expected")
    if not finite:
        return
    if rows is not None:
        arr = arr[torch.as_tensor(rows, device=arr.device) if torch.is_tensor(arr) else rows]
    # A sum is finite only if every term is (NaN and inf propagate): one fast reduction, and
    # the elementwise test only when it is not (an overflow of large finite values).
    if torch.is_tensor(arr):
        ok = bool(torch.isfinite(arr.sum())) or bool(torch.isfinite(arr).all())
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # the cases the fallback settles
            total = arr.sum()
        ok = bool(np.isfinite(total)) or bool(np.isfinite(arr).all())
    if not ok:
        raise ValueError(f"{name} contains NaN or inf values: clean the responses/features first")
