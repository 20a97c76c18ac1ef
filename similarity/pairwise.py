r"""Similarity matrices of many representations of the same examples (model x model, layer x layer).

Each representation's own terms are formed once (CKA: its centred self-products; RSA: its
ranked, centred RDM), so R representations cost R self-terms plus one cross term per pair
instead of the 2 R^2 that calling :func:`~.cka.linear_cka` or :func:`~.dissimilarity.rsa`
per pair would recompute. Every entry equals that call up to rounding.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ._inputs import CONSTANT_REL_TOL, as_one, check_choice
from .cka import _hsic_terms, _sqnorm
from .dissimilarity import COMPARISONS, SIMILARITIES
from .permutation import STATISTICS, centred_upper

__all__ = ["pairwise_similarity"]

logger = logging.getLogger(__name__)


def _cka_matrix(reps: list, debiased: bool) -> torch.Tensor:
    n = reps[0].shape[0]
    centred, own = [], []
    for X in reps:
        Xc = X - X.mean(0)
        d = torch.einsum("ij,ij->i", Xc, Xc)
        s = _sqnorm(Xc @ Xc.T if Xc.shape[1] > n else Xc.T @ Xc)
        sd = d.sum()
        h = _hsic_terms(s, torch.dot(d, d) if debiased else None, sd, sd, n, debiased)
        ok = bool(sd > CONSTANT_REL_TOL * _sqnorm(X)) and bool(h > 0)
        if not ok:
            logger.warning("linear CKA is undefined for a constant representation: its values are 0")
        centred.append(Xc)
        own.append((d, sd, h if ok else None))
    R = len(reps)
    out = torch.zeros(R, R, dtype=torch.float64)
    for i in range(R):
        for j in range(i, R):
            (di, sdi, hi), (dj, sdj, hj) = own[i], own[j]
            if hi is None or hj is None:
                continue
            cross = centred[i].T @ centred[j]
            h = _hsic_terms(_sqnorm(cross), torch.dot(di, dj) if debiased else None, sdi, sdj, n, debiased)
            out[i, j] = out[j, i] = float(h / torch.sqrt(hi * hj))
    return out


def _rsa_matrix(reps: list, similarity: str, compare: str) -> torch.Tensor:
    n = reps[0].shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=reps[0].device)
    vectors = [centred_upper(X, similarity, compare, iu) for X in reps]
    R = len(reps)
    out = torch.zeros(R, R, dtype=torch.float64)
    for i in range(R):
        for j in range(i, R):
            (A, va), (B, vb) = vectors[i], vectors[j]
            if not bool(va * vb > 0):
                continue
            out[i, j] = out[j, i] = float(0.5 * torch.dot(A.reshape(-1), B.reshape(-1)) / torch.sqrt(va * vb))
    return out


def pairwise_similarity(
    reps,
    measure: str = "cka",
    *,
    debiased: bool = False,
    similarity: str = "cosine",
    compare: str = "pearson",
    device=None,
) -> np.ndarray:
    r"""The CKA or RSA of every pair of representations of the same examples.

    Parameters
    ----------
    reps : sequence of ndarray or Tensor, each (n, p_k)
        The representations, rows in the same order (one row per example); widths may
        differ.
    measure : {"cka", "rsa"}
        Linear CKA (:func:`~.cka.linear_cka`) or RSA over upper triangles
        (:func:`~.dissimilarity.rsa`).
    debiased : bool
        CKA only: the unbiased HSIC estimator.
    similarity : {"cosine", "correlation"}
        RSA only: the row similarity of the RDMs (correlation needs 2 columns).
    compare : {"pearson", "spearman"}
        RSA only: how two RDMs are correlated.
    device : str or torch.device, optional
        Where to compute (``"auto"``: CUDA when available). Default: where the data are.

    Returns
    -------
    ndarray of float, shape (R, R)
        Symmetric; entry (i, j) is the measure of ``reps[i]`` and ``reps[j]``; 0 (logged)
        where it is undefined (a constant representation). The diagonal is 1 for defined
        entries.

    Raises
    ------
    ValueError
        If ``reps`` is empty, a representation is not 2-D or finite, the row counts differ,
        there are too few rows or columns, or a choice is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 4))
    >>> pairwise_similarity([X, 2 * X, rng.standard_normal((50, 3))]).round(2)[0, :2]
    array([1., 1.])
    """
    check_choice(measure, "measure", STATISTICS)
    if measure == "rsa":
        check_choice(similarity, "similarity", SIMILARITIES)
        check_choice(compare, "compare", COMPARISONS)
    reps = list(reps)
    if not reps:
        raise ValueError("reps is empty: give at least one representation")
    tensors = []
    for k, X in enumerate(reps):
        t, _ = as_one(
            X,
            f"reps[{k}]",
            min_samples=4 if debiased or measure == "rsa" else 2,
            why=f"{measure}",
            device=device,
            min_features=2 if measure == "rsa" and similarity == "correlation" else 1,
        )
        if len(t) != len(tensors[0] if tensors else t):
            raise ValueError(
                f"reps[{k}] has {len(t)} rows but reps[0] has {len(tensors[0])}: the same examples are needed"
            )
        tensors.append(t.double())
    with torch.no_grad():
        out = (
            _cka_matrix(tensors, debiased) if measure == "cka" else _rsa_matrix(tensors, similarity, compare)
        )
    return out.numpy()
