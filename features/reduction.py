"""Feature reduction: sparse random projection to the Johnson–Lindenstrauss dimension, or PCA.

Flattened intermediate layers can have far more features than events; the study projects them
with a sparse random projection (eps 0.1, seed 0) to the dimension at which the
Johnson–Lindenstrauss lemma keeps all pairwise distances between the ``n_events`` rows within
a factor (1 ± eps).
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["jl_dim", "reduce_features", "METHODS"]

METHODS = ("srp", "pca")


def jl_dim(n_events: int, eps: float = 0.1) -> int:
    """Johnson–Lindenstrauss dimension for ``n_events`` points.

    ``int(4 ln(n) / (eps²/2 − eps³/3))`` (truncated, not rounded up), exactly scikit-learn's
    ``johnson_lindenstrauss_min_dim`` for every n ≥ 1 and 0 < eps < 1 (0 for n = 1).

    Parameters
    ----------
    n_events : int
        Number of rows (events) whose pairwise distances must be kept.
    eps : float
        Allowed relative distortion, 0 < eps < 1.

    Returns
    -------
    int
    """
    if isinstance(n_events, bool) or int(n_events) != n_events or n_events < 1:
        raise ValueError(f"n_events must be a positive integer, got {n_events!r}")
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    denominator = (eps**2 / 2) - (eps**3 / 3)
    # Same float expression and truncation as scikit-learn, so the two agree bit for bit.
    return int((4 * np.log(np.asarray(int(n_events))) / denominator).astype(np.int64))


def reduce_features(X: np.ndarray, method: str = "srp", n_components: int | None = None,
                    eps: float = 0.1, seed: int = 0) -> np.ndarray:
    """Reduce the feature dimension of an (events × features) matrix.

    Parameters
    ----------
    X : ndarray, shape (n_events, n_features)
        Features (a flattened layer), any float dtype.
    method : {"srp", "pca"}
        ``"srp"``: scikit-learn ``SparseRandomProjection`` (density ``1/sqrt(n_features)``,
        ``random_state=seed``); ``"pca"``: scikit-learn ``PCA`` (full SVD, centred).
    n_components : int, optional
        Target dimension; default ``jl_dim(n_events, eps)`` for SRP and
        ``min(jl_dim, n_events, n_features)`` for PCA.
    eps : float
        JL distortion used for the default dimension.
    seed : int
        Seed of the random projection.

    Returns
    -------
    ndarray of float32, shape (n_events, n_out)
        ``X`` itself (as float32) when ``n_features <= n_components`` (nothing to reduce);
        otherwise the projection, ``n_out = n_components``.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_events, n_features); got shape {X.shape}")
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {list(METHODS)}")
    if not np.isfinite(X).all():
        raise ValueError(f"X has {int((~np.isfinite(X)).sum())} non-finite values; cannot reduce")
    n, d = X.shape
    if n_components is None:
        n_components = max(jl_dim(max(n, 1), eps), 1)
        if method == "pca":
            n_components = min(n_components, n, d)
    elif int(n_components) < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    n_components = int(n_components)
    if d <= n_components:
        logger.info("reduce_features: %d features <= %d components, kept as they are", d, n_components)
        return X.astype(np.float32, copy=False)
    if method == "srp":
        from sklearn.random_projection import SparseRandomProjection

        proj = SparseRandomProjection(n_components=n_components, random_state=seed, dense_output=True)
        Y = proj.fit_transform(X)
    else:
        from sklearn.decomposition import PCA

        if n_components > min(n, d):
            raise ValueError(
                f"PCA can give at most min(n_events, n_features) = {min(n, d)} components; "
                f"{n_components} were asked"
            )
        Y = PCA(n_components=n_components, svd_solver="full", random_state=seed).fit_transform(X)
    logger.info("reduce_features: %s %s -> %s", method, X.shape, Y.shape)
    return np.asarray(Y, dtype=np.float32)
