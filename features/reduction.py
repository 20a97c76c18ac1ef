"""Feature reduction: sparse random projection to the Johnson–Lindenstrauss dimension, or PCA.

Flattened intermediate layers can have far more features than events; the study projects them
with a sparse random projection (eps 0.1, seed 0) to the dimension at which the
Johnson–Lindenstrauss lemma keeps all pairwise distances between the ``n_events`` rows within
a factor (1 ± eps).

Features of several movies (or any blocks of events) that are analysed side by side must share
one projection: :func:`reduce_jointly` reduces them together, to the dimension of their total
number of events, so every block gets the same columns.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["jl_dim", "reduce_features", "reduce_jointly", "random_projector", "default_components", "METHODS"]

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
        The number of random-projection dimensions that keeps every pairwise distance within
        a factor ``1 ± eps`` with high probability (0 for ``n_events = 1``).

    Raises
    ------
    ValueError
        When ``n_events`` is not a positive integer or ``eps`` is outside (0, 1).
    """
    if isinstance(n_events, bool) or int(n_events) != n_events or n_events < 1:
        raise ValueError(f"n_events must be a positive integer, got {n_events!r}")
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    denominator = (eps**2 / 2) - (eps**3 / 3)
    # Same float expression and truncation as scikit-learn, so the two agree bit for bit.
    return int((4 * np.log(np.asarray(int(n_events))) / denominator).astype(np.int64))


def default_components(n_events: int, n_features: int, method: str = "srp", eps: float = 0.1) -> int:
    """The dimension :func:`reduce_features` reduces to by default.

    Parameters
    ----------
    n_events : int
        Number of rows (events) to reduce; values below 1 count as 1 for the JL bound.
    n_features : int
        Number of columns before reduction.
    method : {"srp", "pca"}
        The reduction (PCA cannot give more components than rows or columns).
    eps : float
        JL distortion, 0 < eps < 1 (see :func:`jl_dim`).

    Returns
    -------
    int
        ``max(jl_dim(n_events, eps), 1)``; for PCA also at most ``n_events`` and
        ``n_features``.
    """
    n_components = max(jl_dim(max(int(n_events), 1), eps), 1)
    if method == "pca":
        n_components = min(n_components, int(n_events), int(n_features))
    return n_components


def _components(n: int, d: int, method: str, eps: float, n_components) -> int:
    """``n_components``, or the default for ``n`` rows of ``d`` features; checked positive."""
    if n_components is None:
        return default_components(n, d, method, eps)
    if int(n_components) < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    return int(n_components)


def reduce_features(
    X: np.ndarray, method: str = "srp", n_components: int | None = None, eps: float = 0.1, seed: int = 0
) -> np.ndarray:
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
    n_components = _components(n, d, method, eps, n_components)
    if d <= n_components:
        logger.info("reduce_features: %d features <= %d components, kept as they are", d, n_components)
        return X.astype(np.float32, copy=False)
    if method == "srp":
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        Y = random_projector(d, n_components, seed=seed, dtype=dtype)(X.astype(dtype, copy=False))
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


def random_projector(n_features: int, n_components: int, seed: int = 0, dtype=np.float32):
    """The sparse random projection of :func:`reduce_features`, as a function of row blocks.

    The random matrix depends only on ``(n_components, n_features, seed, dtype)``, and each
    output row only on its input row, so projecting rows in batches as they are computed
    (a layer sweep's forward passes) gives exactly the rows of projecting them all at once.

    Parameters
    ----------
    n_features : int
        Width of the rows to project.
    n_components : int
        Width after projection.
    seed : int
        Seed of the random matrix (scikit-learn's ``random_state``).
    dtype : numpy dtype
        Float dtype of the rows (the random matrix is built in it, as when scikit-learn fits
        on rows of that dtype).

    Returns
    -------
    callable
        ``project(X)`` for X of shape (n, n_features) -> float32 array of shape
        (n, n_components); an empty X gives shape (0, n_components).
    """
    from sklearn.random_projection import SparseRandomProjection

    proj = SparseRandomProjection(n_components=int(n_components), random_state=seed, dense_output=True)
    proj.fit(np.zeros((1, int(n_features)), dtype=dtype))

    components = proj.components_.tocsr()  # (n_components, n_features), sparse

    def project(X: np.ndarray) -> np.ndarray:
        """Project rows.

        Parameters
        ----------
        X : ndarray, shape (n, n_features)
            Rows to project.

        Returns
        -------
        ndarray of float32, shape (n, n_components)
            The projected rows.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != int(n_features):
            raise ValueError(f"rows to project must have shape (n, {int(n_features)}); got {X.shape}")
        if len(X) == 0:
            return np.empty((0, int(n_components)), np.float32)
        # scikit-learn's transform computes X @ components.T; the sparse matrix times the
        # contiguous transpose gives the same sums in the same order, about 3x faster.
        XT = np.ascontiguousarray(X.T, dtype=components.dtype)
        return np.ascontiguousarray((components @ XT).T, dtype=np.float32)

    return project


def reduce_jointly(
    blocks: list[np.ndarray],
    method: str = "srp",
    eps: float = 0.1,
    seed: int = 0,
    n_components: int | None = None,
) -> list[np.ndarray]:
    """Reduce several (events × features) blocks with ONE projection, fit on all their rows.

    Exactly :func:`reduce_features` of the blocks stacked, split back into blocks: the dimension
    is that of the total number of events (``jl_dim(sum of rows, eps)`` by default), the random
    projection has the same seed, and PCA is fit on all rows together, so every block gets the
    same columns. One block gives ``reduce_features`` of it, bit for bit.

    Parameters
    ----------
    blocks : list of ndarray, each (n_events_i, n_features)
        The blocks (e.g. one per movie); same number of features; any may have no rows.
    method : {"srp", "pca"}
        As in :func:`reduce_features`.
    eps : float
        JL distortion of the default dimension, computed from the total number of rows.
    seed : int
        Seed of the random projection.
    n_components : int, optional
        Target dimension; default from the total number of rows (see :func:`reduce_features`).

    Returns
    -------
    list of ndarray of float32, shapes (n_events_i, n_out)
        In the order of ``blocks``; the blocks themselves (as float32) when there is nothing to
        reduce.

    Raises
    ------
    ValueError
        When there are no blocks or no rows at all, a block is not 2-D, the blocks differ in
        width, or ``method`` is unknown.
    """
    blocks = [np.asarray(b) for b in blocks]
    if not blocks:
        raise ValueError("reduce_jointly needs at least one block")
    if any(b.ndim != 2 for b in blocks):
        raise ValueError(
            f"every block must be 2-D (n_events, n_features); got shapes {[b.shape for b in blocks]}"
        )
    widths = {b.shape[1] for b in blocks}
    if len(widths) != 1:
        raise ValueError(
            f"the blocks have different numbers of features {[b.shape[1] for b in blocks]}; "
            "they must come from the same model and layer"
        )
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {list(METHODS)}")
    if len(blocks) == 1:
        return [reduce_features(blocks[0], method=method, n_components=n_components, eps=eps, seed=seed)]
    sizes = [b.shape[0] for b in blocks]
    n, d = sum(sizes), widths.pop()
    if n == 0:
        raise ValueError("reduce_jointly: the blocks have no rows at all")
    for i, b in enumerate(blocks):
        if not np.isfinite(b).all():
            raise ValueError(f"block {i} has {int((~np.isfinite(b)).sum())} non-finite values; cannot reduce")
    n_components = _components(n, d, method, eps, n_components)
    if d <= n_components:
        logger.info("reduce_jointly: %d features <= %d components, kept as they are", d, n_components)
        return [b.astype(np.float32, copy=False) for b in blocks]
    if method == "pca":
        # PCA needs every row at once; stacking then splitting is reduce_features exactly.
        Y = reduce_features(
            np.concatenate(blocks, axis=0), method="pca", n_components=n_components, eps=eps, seed=seed
        )
        out = np.split(Y, np.cumsum(sizes)[:-1], axis=0)
    else:
        dtype = np.result_type(*blocks)
        if dtype not in (np.float32, np.float64):
            dtype = np.float64
        project = random_projector(d, n_components, seed=seed, dtype=dtype)
        out = [project(b.astype(dtype, copy=False)) for b in blocks]
    logger.info(
        "reduce_jointly: %s %d blocks, %d x %d -> %d columns", method, len(blocks), n, d, n_components
    )
    return [np.ascontiguousarray(y, dtype=np.float32) for y in out]
