"""Shared numerics: Pearson r from (weighted) sums, device and array helpers."""

from __future__ import annotations

import numpy as np
import torch


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; anything else is passed to torch."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def as_tensor(x, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Array → tensor on ``device`` (no copy when already there)."""
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).to(device=device,
                                                                            dtype=dtype)


def default_dtype(device: torch.device) -> torch.dtype:
    """float64 on CPU (exact comparisons with slow oracles), float32 on accelerators."""
    return torch.float64 if device.type == "cpu" else torch.float32


def r_from_sums(n, sa, sb, saa, sbb, sab):
    """Pearson r from sums over events (arrays or tensors, broadcastable).

    ``n`` is the (possibly weighted) event count, ``sa = Σa``, ``sbb = Σb²``, ``sab = Σab``.
    A constant vector has no correlation with anything: r = 0 there, never NaN.
    """
    cov = sab - sa * sb / n
    va = saa - sa * sa / n
    vb = sbb - sb * sb / n
    lib = torch if torch.is_tensor(cov) else np
    den = lib.sqrt(lib.clip(va, 0, None) * lib.clip(vb, 0, None))
    # Relative threshold: variances that are rounding noise count as zero.
    scale = lib.sqrt(lib.clip(saa, 0, None) * lib.clip(sbb, 0, None))
    ok = den > 1e-12 * scale + 1e-300
    safe = lib.where(ok, den, lib.ones_like(den))
    return lib.where(ok, cov / safe, lib.zeros_like(cov))


def check_events(name: str, arr: np.ndarray | torch.Tensor, n_events: int | None = None):
    """Checks a 2-D (n_events, n_targets) array and its finiteness."""
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_events, n_targets), got shape {tuple(arr.shape)}")
    if n_events is not None and arr.shape[0] != n_events:
        raise ValueError(f"{name} has {arr.shape[0]} events (rows) but {n_events} were expected")
    finite = torch.isfinite(arr).all() if torch.is_tensor(arr) else np.isfinite(arr).all()
    if not bool(finite):
        raise ValueError(f"{name} contains NaN or inf values: clean the responses/features first")
