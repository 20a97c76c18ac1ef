r"""Permutation p-values of a similarity (CKA or RSA) between two representations of the same events.

Notes
-----
**Null.** Under "the two representations are unrelated", re-pairing the events leaves the
distribution of the statistic unchanged. Row ``k`` of ``permutations`` pairs event ``i`` of
``X`` with event ``permutations[k, i]`` of ``Y``; the statistic is recomputed for every row
and the p-value is :math:`(1 + \#\{\text{null} \ge \text{observed}\}) / (1 + n_{perm})`
(:func:`mmsites.stats.signal.permutation_pvalues`). The observed value comes from the same
code as the null (the identity permutation), so an exact re-pairing counts as reaching it.

**Why blocks.** Neighbouring events of a movie are autocorrelated in both the features and
the neural responses. Shuffling events one by one destroys that autocorrelation and makes
the null too narrow: on independent AR(1) series (phi 0.9) the row-wise test rejects far more
than its level (``benchmarks/bench_similarity_calibration.py``). Pass block permutations
(:func:`mmsites.stats.resampling.block_permutations`), which move contiguous blocks of
events and keep the autocorrelation inside each block.

**Cost.** The statistic is never recomputed from scratch. For CKA only the cross term
:math:`\lVert Y_{c,\pi}^\top X_c\rVert_F^2` (and, debiased, :math:`d^\top e_\pi`) depends on the
pairing: one matrix product of :math:`X_c^\top` with the permuted copies of the narrower
representation, :math:`O(n\,p\,q)` per permutation. For RSA the two RDMs' (ranked) upper
triangles are formed once; each permutation re-indexes one of them, :math:`O(n^2)` per
permutation (the quadratic assignment statistic). Both equal :func:`~.cka.linear_cka` and
:func:`~.dissimilarity.rsa` of the re-paired data, up to rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from mmsites.stats.signal import permutation_pvalues

from ._inputs import CONSTANT_REL_TOL, as_pair, check_choice
from .cka import _hsic_terms, _sqnorm
from .dissimilarity import COMPARISONS, SIMILARITIES, _ranks, _similarity_matrix

__all__ = ["permutation_pvalue", "permutation_test", "PermutationResult", "STATISTICS"]

logger = logging.getLogger(__name__)

#: The statistics with a fast null: linear CKA and RSA.
STATISTICS = ("cka", "rsa")

#: Elements of the permuted copies held at once (float64: 128 MiB).
_CHUNK_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class PermutationResult:
    """A statistic, its permutation null and its p-value.

    Attributes
    ----------
    observed : float
        The statistic on the data as paired.
    p_value : float
        :math:`(1 + \\#\\{null \\ge observed\\}) / (1 + n_{perm})`, in (0, 1].
    null : ndarray of float, shape (n_perm,)
        The statistic under each permutation, in the order of the rows given.
    """

    observed: float
    p_value: float
    null: np.ndarray


def _check_permutations(permutations, n: int) -> np.ndarray:
    perms = np.asarray(permutations)
    if perms.ndim != 2 or perms.shape[1] != n or perms.shape[0] < 1:
        raise ValueError(
            f"permutations must be an integer array (n_perm >= 1, n_events={n}), got shape {perms.shape}"
        )
    if perms.dtype.kind not in "iu":
        raise ValueError(f"permutations must hold integer indices, got dtype {perms.dtype}")
    if not (np.sort(perms, axis=1) == np.arange(n)).all():
        bad = int(np.flatnonzero(~(np.sort(perms, axis=1) == np.arange(n)).all(axis=1))[0])
        raise ValueError(f"row {bad} of permutations is not a permutation of 0..{n - 1}")
    return perms.astype(np.int64, copy=False)


def _rows_per_chunk(per_row: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(1, per_row))


def _membership(groups: list, Q: int, like: torch.Tensor) -> torch.Tensor:
    """(Q, G) float matrix: column j of Y belongs to group g."""
    M = torch.zeros(Q, len(groups), dtype=torch.float64, device=like.device)
    for g, cols in enumerate(groups):
        M[torch.as_tensor(cols, device=like.device), g] = 1.0
    return M


def _cka_values(
    X: torch.Tensor, Y: torch.Tensor, groups: list, index: torch.Tensor, debiased: bool
) -> torch.Tensor:
    """Linear CKA of ``X`` with each group of ``Y``'s columns re-indexed by each row of
    ``index``: a (n_rows, n_groups) float64 tensor.

    The cross term is a sum over ``Y``'s columns, so each column's share is computed once per
    row (one product of ``X_c^T`` with the permuted copies of the narrower side) and summed
    per group; groups may share columns. Products run in the inputs' dtype, sums in float64.
    """
    n, p = X.shape
    Q = Y.shape[1]
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    M = _membership(groups, Q, X)
    Xd, Yd = Xc.double(), Yc.double()

    def _self(a):  # the pairing-free terms, as linear_cka forms them
        gram = a @ a.T if a.shape[1] > n else a.T @ a
        return _sqnorm(gram), torch.einsum("ij,ij->i", a, a)

    sx, dx = _self(Xd)
    sd = dx.sum()
    hxx = _hsic_terms(sx, torch.dot(dx, dx) if debiased else None, sd, sd, n, debiased)
    const_x = bool(sd <= CONSTANT_REL_TOL * _sqnorm(X.double()))
    dy = (Yd * Yd) @ M  # (n, G): each group's row square norms
    se = dy.sum(0)
    raw_y = (Y.double() ** 2).sum(0) @ M
    den = torch.zeros(len(groups), dtype=torch.float64, device=X.device)
    undefined = []
    for g, cols in enumerate(groups):
        sy = _self(Yd[:, torch.as_tensor(cols, device=X.device)])[0]
        hyy = _hsic_terms(sy, torch.dot(dy[:, g], dy[:, g]) if debiased else None, se[g], se[g], n, debiased)
        if const_x or bool(se[g] <= CONSTANT_REL_TOL * raw_y[g]) or not bool(hxx * hyy > 0):
            undefined.append(g)
        else:
            den[g] = torch.sqrt(hxx * hyy)
    if undefined:
        why = (
            "X is constant over the events"
            if const_x
            else "a group of Y is constant or a debiased HSIC is not positive"
        )
        logger.warning(
            "linear CKA is undefined for %d of %d group(s) (%s): their values are 0",
            len(undefined),
            len(groups),
            why,
        )
    permute_x = p < Q
    inverse = torch.argsort(index, dim=1) if permute_x else None  # X[inverse] with Y: the same pairs
    step = _rows_per_chunk(n * min(p, Q))
    out = []
    for start in range(0, len(index), step):
        rows = index[start : start + step]
        c = len(rows)
        if permute_x:
            inv = inverse[start : start + step]
            cross = (Xc[inv].permute(0, 2, 1).reshape(c * p, n) @ Yc).reshape(c, p, Q).double()
            col = (cross * cross).sum(1)  # (c, Q)
            de = dx[inv] @ dy if debiased else None
        else:
            Yp = Yc[rows]  # (c, n, Q)
            cross = (Xc.T @ Yp.permute(1, 0, 2).reshape(n, c * Q)).reshape(p, c, Q).double()
            col = (cross * cross).sum(0)
            de = torch.einsum("n,cng->cg", dx, dy[rows]) if debiased else None
        h = _hsic_terms(col @ M, de, sd, se, n, debiased)
        out.append(
            torch.where(den > 0, h / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(h))
        )
    return torch.cat(out)


def centred_upper(
    X: torch.Tensor, similarity: str, compare: str, iu=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The RSA vector of a representation, as a symmetric matrix: its RDM's upper triangle
    (ranked for Spearman) centred, mirrored, with a zero diagonal; and the vector's sum of
    squares (0 when the RDM is constant, the rule of :func:`~.dissimilarity.rsa`).

    Parameters
    ----------
    X : Tensor, shape (n, p)
        A validated representation.
    similarity : {"cosine", "correlation"}
        The row similarity.
    compare : {"pearson", "spearman"}
        Pearson keeps the values, Spearman ranks them.
    iu : Tensor, optional
        ``torch.triu_indices(n, n, 1)``, when the caller has it.

    Returns
    -------
    matrix : Tensor, shape (n, n)
        RSA of two representations is ``0.5 * (A * B).sum() / sqrt(va * vb)``.
    ss : Tensor, 0-d
        The upper triangle's centred sum of squares.
    """
    n = X.shape[0]
    if iu is None:
        iu = torch.triu_indices(n, n, offset=1, device=X.device)
    S = _similarity_matrix(X, similarity, "X")[0]
    v = S[iu[0], iu[1]]
    if compare == "spearman":
        v = _ranks(v)
    raw = torch.dot(v, v)
    v = v - v.mean()
    ss = torch.dot(v, v)
    full = torch.zeros_like(S)
    full[iu[0], iu[1]] = v
    full[iu[1], iu[0]] = v
    return full, ss if bool(ss > CONSTANT_REL_TOL * raw) else torch.zeros_like(ss)


def _rsa_values(
    X: torch.Tensor, Y: torch.Tensor, groups: list, index: torch.Tensor, similarity: str, compare: str
) -> torch.Tensor:
    """RSA (upper triangles) of ``X`` with each group of ``Y``'s columns re-indexed by each row
    of ``index``: a (n_rows, n_groups) float64 tensor. ``X``'s RDM is formed once."""
    n = X.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=X.device)
    A, va = centred_upper(X, similarity, compare, iu)
    step = _rows_per_chunk(n * n)
    columns = []
    for cols in groups:
        B, vb = centred_upper(Y[:, torch.as_tensor(cols, device=Y.device)], similarity, compare, iu)
        if not bool(va * vb > 0):
            logger.warning("RSA is undefined (a dissimilarity matrix is constant): every value is 0")
            columns.append(torch.zeros(len(index), dtype=torch.float64, device=X.device))
            continue
        den = torch.sqrt(va * vb)
        out = []
        for start in range(0, len(index), step):
            rows = index[start : start + step]
            Bp = B[rows[:, :, None], rows[:, None, :]]  # (c, n, n): pairs re-indexed
            # each distinct pair appears twice in the symmetric matrices
            out.append((0.5 * torch.einsum("ij,cij->c", A, Bp) / den).double())
        columns.append(torch.cat(out))
    return torch.stack(columns, dim=1)


def _check_groups(groups, Q: int, min_width: int) -> list[np.ndarray]:
    if groups is None:
        groups = [np.arange(Q)]
    out = []
    for g, cols in enumerate(groups):
        cols = np.asarray(cols)
        if cols.ndim != 1 or cols.dtype.kind not in "iu" or len(cols) < min_width:
            raise ValueError(f"groups[{g}] must be a 1-D array of at least {min_width} column indices of Y")
        if cols.min() < 0 or cols.max() >= Q or len(np.unique(cols)) != len(cols):
            raise ValueError(f"groups[{g}] must hold distinct column indices of Y in 0..{Q - 1}")
        out.append(cols.astype(np.int64))
    if not out:
        raise ValueError("groups is empty: give at least one group of Y's columns")
    return out


def permutation_test(
    X,
    Y,
    permutations,
    *,
    groups=None,
    statistic: str | Callable = "cka",
    debiased: bool = True,
    similarity: str = "correlation",
    compare: str = "spearman",
    device=None,
) -> list[PermutationResult]:
    r"""Similarity of a representation with groups of another's columns, each with its permutation p-value.

    The same permutations serve every group, and the shared work is done once: ``X``'s
    centred products (or RDM), and for CKA each column's share of the cross term (the groups'
    terms are sums of their columns', so overlapping groups such as "all electrodes" and
    each region cost no more than the columns themselves). Each result equals
    :func:`permutation_pvalue` of ``X`` and ``Y[:, group]`` up to rounding.

    Parameters
    ----------
    X : ndarray or Tensor, shape (n, p)
        First representation (e.g. a model's features), one row per event in movie order.
    Y : ndarray or Tensor, shape (n, q)
        Second representation of the same events, rows in the same order (e.g. every
        electrode's response).
    permutations : ndarray of int, shape (n_perm, n)
        Row ``k`` pairs event ``i`` of ``X`` with event ``permutations[k, i]`` of ``Y``
        (:func:`mmsites.stats.resampling.block_permutations`: blocks of contiguous events,
        which keep the autocorrelation of both sides; see the module notes).
    groups : sequence of int arrays, optional
        Column indices of ``Y`` (distinct within a group; groups may overlap); one result per
        group. Default: one group of every column.
    statistic : {"cka", "rsa"} or callable
        Linear CKA (:func:`~.cka.linear_cka`), RSA over upper triangles
        (:func:`~.dissimilarity.rsa`), or ``f(X, Y) -> float`` called on numpy arrays once
        per permutation and group (slow: no shared work).
    debiased : bool
        CKA only: the unbiased HSIC estimator (near 0 for unrelated data) instead of the
        biased one.
    similarity : {"cosine", "correlation"}
        RSA only: the row similarity the RDMs are built from.
    compare : {"pearson", "spearman"}
        RSA only: how the two RDMs are correlated.
    device : str or torch.device, optional
        Where to compute (``"auto"``: CUDA when available). Default: where the data are.

    Returns
    -------
    list of PermutationResult
        One per group, in order: ``observed``, one-sided ``p_value`` (larger is more
        similar) and ``null`` (n_perm values).

    Raises
    ------
    ValueError
        If an input is not 2-D or finite, the row counts differ, there are too few rows or
        columns for the statistic, a group is empty or not columns of ``Y``,
        ``permutations`` is not a stack of permutations of the rows, or a choice is unknown.
    """
    min_width = 2 if statistic == "rsa" and similarity == "correlation" else 1
    if callable(statistic):
        Xn, Yn = np.asarray(X), np.asarray(Y)
        perms = _check_permutations(permutations, len(Xn))
        values = []
        for cols in _check_groups(groups, Yn.shape[1], 1):
            Yg = Yn[:, cols]
            values.append([float(statistic(Xn, Yg))] + [float(statistic(Xn, Yg[row])) for row in perms])
        values = np.asarray(values, dtype=float).T
    else:
        check_choice(statistic, "statistic", STATISTICS)
        if statistic == "rsa":
            check_choice(similarity, "similarity", SIMILARITIES)
            check_choice(compare, "compare", COMPARISONS)
        Xt, Yt, _, _ = as_pair(
            X,
            Y,
            min_samples=4 if statistic == "rsa" or debiased else 2,
            why=f"a permutation test of {statistic}",
            device=device,
            min_features=min_width,
        )
        n = Xt.shape[0]
        cols = _check_groups(groups, Yt.shape[1], min_width)
        perms = _check_permutations(permutations, n)
        index = torch.from_numpy(np.vstack([np.arange(n), perms])).to(Xt.device)  # row 0: as paired
        with torch.no_grad():
            if statistic == "cka":
                values = _cka_values(Xt, Yt, cols, index, debiased)
            else:
                values = _rsa_values(Xt, Yt, cols, index, similarity, compare)
        values = values.cpu().numpy()
    observed, null = values[0], values[1:]
    p = permutation_pvalues(observed, null)
    return [
        PermutationResult(observed=float(observed[k]), p_value=float(p[k]), null=null[:, k].copy())
        for k in range(values.shape[1])
    ]


def permutation_pvalue(X, Y, permutations, **options) -> PermutationResult:
    r"""Similarity of two representations of the same events, and its permutation p-value.

    Parameters
    ----------
    X : ndarray or Tensor, shape (n, p)
        First representation (e.g. a model's features), one row per event in movie order.
    Y : ndarray or Tensor, shape (n, q)
        Second representation of the same events, rows in the same order (e.g. responses).
    permutations : ndarray of int, shape (n_perm, n)
        Row ``k`` pairs event ``i`` of ``X`` with event ``permutations[k, i]`` of ``Y``
        (:func:`mmsites.stats.resampling.block_permutations`; see the module notes). An
        identity row is allowed (it reaches the observed value).
    **options
        ``statistic`` (``"cka"``, ``"rsa"`` or a callable), ``debiased``, ``similarity``,
        ``compare``, ``device``: as :func:`permutation_test`.

    Returns
    -------
    PermutationResult
        ``observed`` (the statistic of ``X`` and ``Y`` as paired), ``p_value`` (one-sided:
        larger is more similar) and ``null`` (n_perm values).

    Raises
    ------
    ValueError
        As :func:`permutation_test`.

    Examples
    --------
    >>> import numpy as np
    >>> from mmsites.stats.resampling import block_permutations
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 5))
    >>> Y = X[:, :2] + rng.standard_normal((200, 2))
    >>> perms = block_permutations(200, 99, block=10, seed=0)
    >>> permutation_pvalue(X, Y, perms).p_value
    0.01
    """
    return permutation_test(X, Y, permutations, **options)[0]
