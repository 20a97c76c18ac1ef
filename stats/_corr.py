"""Shared numerics of the statistics: Pearson r from (weighted) sums, array helpers."""

from __future__ import annotations

import numpy as np
import torch

from mmsites.encoding.scoring import r_from_moments


def as_tensor(x, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Array → tensor on ``device`` (no copy when already there).

    A read-only array (e.g. memory-mapped predictions) is copied: torch tensors must own
    writable memory.
    """
    if not torch.is_tensor(x):
        x = np.asarray(x)
        if not x.flags.writeable:
            x = np.array(x)
    return torch.as_tensor(x).to(device=device, dtype=dtype)


def default_dtype(device: torch.device) -> torch.dtype:
    """float64 on CPU (exact comparisons with slow oracles), float32 on accelerators."""
    return torch.float64 if device.type == "cpu" else torch.float32


def r_from_sums(n, sa, sb, saa, sbb, sab, what: str = "r"):
    """Pearson r from sums over events (arrays or tensors, broadcastable).

    ``n`` is the (possibly weighted) event count, ``sa = Σa``, ``sbb = Σb²``, ``sab = Σab``.
    The project's NaN policy applies (:func:`encoding.scoring.r_from_moments`): r = 0 where
    either vector is constant, never NaN.
    """
    return r_from_moments(
        sab - sa * sb / n, saa - sa * sa / n, sbb - sb * sb / n, scale_a=saa, scale_b=sbb, what=what
    )


def check_events(name: str, arr: np.ndarray | torch.Tensor, n_events: int | None = None, rows=None):
    """Checks a 2-D (n_events, n_targets) array and its finiteness (on ``rows`` only, when
    given: out-of-fold predictions are NaN on events in no validation or test part)."""
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_events, n_targets), got shape {tuple(arr.shape)}")
    if n_events is not None and arr.shape[0] != n_events:
        raise ValueError(f"{name} has {arr.shape[0]} events (rows) but {n_events} were expected")
    if rows is not None:
        arr = arr[torch.as_tensor(rows, device=arr.device) if torch.is_tensor(arr) else rows]
    finite = torch.isfinite(arr).all() if torch.is_tensor(arr) else np.isfinite(arr).all()
    if not bool(finite):
        raise ValueError(f"{name} contains NaN or inf values: clean the responses/features first")
