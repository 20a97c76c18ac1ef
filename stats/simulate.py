"""Toy data for calibration checks: autocorrelated noise like slow neural drift."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

__all__ = ["ar1"]


def ar1(n_events: int, n_series: int, *, phi: float, seed: int) -> np.ndarray:
    """Independent AR(1) series with unit stationary variance.

    ``x[t] = phi * x[t-1] + sqrt(1 - phi²) * e[t]`` with standard normal ``e`` and a
    stationary start, so neighbouring events correlate with ``phi**lag``, as slowly changing
    stimulus features and drifting voltages do.

    Parameters
    ----------
    n_events : int
        Length of each series (events, in movie order).
    n_series : int
        Number of independent series (features or targets).
    phi : float
        Lag-1 autocorrelation, in [0, 1).
    seed : int
        Seed of the random generator (``numpy.random.default_rng``); the same seed gives the
        same series.

    Returns
    -------
    x : ndarray, shape (n_events, n_series)
        Unit-variance noise, float64.

    Raises
    ------
    ValueError
        If ``phi`` is not in [0, 1).
    """
    if not 0 <= phi < 1:
        raise ValueError(f"phi must be in [0, 1), got {phi}")
    e = np.random.default_rng(seed).standard_normal((n_events, n_series))
    e[1:] *= np.sqrt(1 - phi**2)
    return lfilter([1.0], [1.0, -phi], e, axis=0)
