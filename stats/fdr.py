"""Benjamini–Hochberg false discovery rate across electrodes."""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["fdr_bh"]


def fdr_bh(pvalues, q: float = 0.05):
    """Benjamini–Hochberg adjusted p-values, ignoring NaNs.

    NaN p-values (electrodes that were not tested, e.g. default winners) are left out of
    the family: they do not count towards the number of tests, and get NaN q-values and
    ``significant = False``.

    Parameters
    ----------
    pvalues : array, shape (n_tests,)
        P-values in [0, 1] of one family (one comparison, one alignment, all electrodes);
        NaN for tests that were not run.
    q : float, default 0.05
        FDR level, in (0, 1).

    Returns
    -------
    q_values : ndarray, shape (n_tests,)
        Adjusted p-values (``statsmodels`` ``multipletests(method="fdr_bh")``), NaN where the
        input was NaN.
    significant : ndarray of bool, shape (n_tests,)
        ``q_values < q``; False where the input was NaN.

    Raises
    ------
    ValueError
        If ``pvalues`` is not 1-D or holds values outside [0, 1], or ``q`` is not in (0, 1).
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be 1-D, got shape {p.shape}")
    if not 0 < q < 1:
        raise ValueError(f"q (the FDR level) must be in (0, 1), got {q}")
    ok = ~np.isnan(p)
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    qv = np.full(p.shape, np.nan)
    if ok.any():
        qv[ok] = multipletests(p[ok], alpha=q, method="fdr_bh")[1]
    return qv, np.where(ok, qv < q, False)
