r"""Representational similarity analysis: dissimilarity matrices and their comparison.

Notes
-----
**RDM.** For a representation ``X`` (n × p, one row per example) the representational
dissimilarity matrix holds, for every pair of examples, one minus a similarity of their rows:

* ``"cosine"``: :math:`D_{ij} = 1 - \hat x_i^\top \hat x_j` with :math:`\hat x = x/\lVert x\rVert`;
* ``"correlation"``: the same on rows centred over their features (one minus the Pearson
  correlation of the two activation patterns).

A row with zero norm (``"cosine"``) or constant over its features (``"correlation"``) has no
direction: its similarity to every row, itself included, is 0 (dissimilarity 1), with a
logged warning, as the constant-vector rule of Pearson r elsewhere in mmsites.

**Comparison.** :func:`rsa` correlates two RDMs over their upper triangles (the
:math:`n(n-1)/2` distinct pairs; the diagonal is 0 by construction and the lower triangle
repeats the upper), by Pearson r or by Spearman's rho (Pearson r of tie-averaged ranks).
Constant vectors give 0 (logged).

**The guidance variant** (``full_matrix=True``; the untrainable-networks RSA loss is one minus
this with ``similarity="cosine", compare="pearson"``): Pearson r between the *full* n × n
similarity matrices, flattened. Because similarity is an affine function of dissimilarity, r
between similarity matrices equals r between RDMs, but the full matrices count every pair
twice and include the diagonal (all ones), which raises r towards 1 for small n; it is a
different number from the upper-triangle RSA.

**Cost.** :math:`O(n^2 (p + q))` time and :math:`O(n^2)` memory (two n × n matrices); Spearman
adds a sort of :math:`n^2/2` values.

**Gradients.** With tensor inputs and ``compare="pearson"`` the result is differentiable
(guidance losses). Spearman's rho is built from ranks, which are piecewise constant: its
result carries no gradient.
"""

from __future__ import annotations

import logging

import torch

from ._inputs import CONSTANT_REL_TOL, as_one, as_pair, check_choice, finish

__all__ = ["rsa", "rdm", "SIMILARITIES", "COMPARISONS"]

logger = logging.getLogger(__name__)

#: Row similarities an RDM can be built from.
SIMILARITIES = ("cosine", "correlation")
#: How two RDMs are compared.
COMPARISONS = ("pearson", "spearman")


def _similarity_matrix(X: torch.Tensor, similarity: str, name: str):
    """Row similarity matrix (n × n) and the mask of rows with a direction (the others give 0)."""
    Xc = X - X.mean(dim=1, keepdim=True) if similarity == "correlation" else X
    sq = torch.einsum("ij,ij->i", Xc, Xc)
    with torch.no_grad():
        if similarity == "correlation":  # constant rows: centred norm is rounding noise of the raw one
            ok = sq > CONSTANT_REL_TOL * torch.einsum("ij,ij->i", X, X)
        else:
            ok = sq > 0
    n_bad = int((~ok).sum())
    if n_bad:
        what = "zero" if similarity == "cosine" else "constant"
        logger.warning("%d row(s) of %s are %s: similarity 0 to every row", n_bad, name, what)
    norm = torch.sqrt(torch.where(ok, sq, torch.ones_like(sq)))
    U = torch.where(ok[:, None], Xc / norm[:, None], torch.zeros_like(Xc))
    return U @ U.T, ok


def _ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 1..m of ``v``, ties given their average rank (as scipy.stats.rankdata)."""
    v = v.detach()
    order = torch.argsort(v, stable=True)
    sorted_v = v[order]
    _, inverse, counts = torch.unique_consecutive(sorted_v, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(v.dtype)
    avg = ends - (counts.to(v.dtype) - 1) / 2
    ranks = torch.empty_like(v)
    ranks[order] = avg[inverse]
    return ranks


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson r of two vectors, 0 (logged) when either is constant; autograd-safe."""
    ac, bc = a - a.mean(), b - b.mean()
    va, vb = torch.dot(ac, ac), torch.dot(bc, bc)
    with torch.no_grad():
        ok = (va > CONSTANT_REL_TOL * torch.dot(a, a)) & (vb > CONSTANT_REL_TOL * torch.dot(b, b))
    if not bool(ok):
        logger.warning("RSA is undefined (a dissimilarity matrix is constant): returned 0")
    prod = va * vb
    den = torch.sqrt(torch.where(ok, prod, torch.ones_like(prod)))
    return torch.where(ok, torch.dot(ac, bc) / den, torch.zeros_like(prod))


def rdm(X, similarity: str = "cosine", *, device=None):
    r"""Representational dissimilarity matrix: one minus a similarity of every pair of rows.

    Parameters
    ----------
    X : ndarray or Tensor, shape (n, p)
        A representation, one row per example (flatten each example's activations).
    similarity : {"cosine", "correlation"}
        Cosine similarity of the rows, or Pearson correlation of the rows across features
        (cosine of rows centred over their p features; needs p >= 2).
    device : str or torch.device, optional
        Where to compute (``"auto"``: CUDA when available). Default: where the data are.

    Returns
    -------
    ndarray or Tensor, shape (n, n)
        :math:`D_{ij} = 1 - s(x_i, x_j)`, symmetric, in [0, 2]; the diagonal is 0 (1 for a
        row without direction, see the module notes). A float ndarray for numpy input, a
        differentiable tensor for tensor input. Cost :math:`O(n^2 p)`.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, not finite, too narrow, or ``similarity`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> rdm(np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])).round(6)
    array([[0., 1., 2.],
           [1., 0., 1.],
           [2., 1., 0.]])
    """
    check_choice(similarity, "similarity", SIMILARITIES)
    Xt, numpy_in = as_one(
        X,
        "X",
        min_samples=1,
        why="an RDM",
        device=device,
        min_features=2 if similarity == "correlation" else 1,
    )
    S, ok = _similarity_matrix(Xt, similarity, "X")
    self_pair = torch.eye(len(S), dtype=torch.bool, device=S.device) & ok[:, None]
    D = 1.0 - torch.where(self_pair, torch.ones_like(S), S)  # exact 0 on the diagonal
    return D.detach().cpu().numpy() if numpy_in else D


def rsa(
    X,
    Y,
    similarity: str = "cosine",
    compare: str = "pearson",
    *,
    full_matrix: bool = False,
    device=None,
):
    r"""Representational similarity of two representations: correlation of their RDMs.

    Builds the dissimilarity matrix of each representation (:func:`rdm`) and correlates the
    two over their upper triangles (the distinct pairs of examples). ``full_matrix=True``
    correlates the full similarity matrices instead, as the untrainable-networks guidance
    code does (see the module notes: a different number).

    Parameters
    ----------
    X : ndarray or Tensor, shape (n, p)
        First representation, one row per example.
    Y : ndarray or Tensor, shape (n, q)
        Second representation of the same n examples, rows in the same order.
    similarity : {"cosine", "correlation"}
        The row similarity the RDMs are built from (correlation needs p, q >= 2).
    compare : {"pearson", "spearman"}
        Pearson r of the dissimilarities, or Spearman's rho (Pearson r of tie-averaged ranks;
        no gradient).
    full_matrix : bool
        Correlate the full n × n matrices (diagonal and both triangles) instead of the upper
        triangles: the guidance code's variant with ``similarity="cosine",
        compare="pearson"``.
    device : str or torch.device, optional
        Where to compute (``"auto"``: CUDA when available). Default: where the data are.

    Returns
    -------
    float or Tensor
        The correlation, in [-1, 1]; 0 (logged) when an RDM is constant. A Python float for
        numpy inputs; a 0-d tensor for tensor inputs (differentiable with Pearson).

    Raises
    ------
    ValueError
        If an input is not 2-D, not finite, too narrow, the row counts differ, there are fewer
        than 3 rows (2 with ``full_matrix``), or ``similarity`` or ``compare`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((30, 8))
    >>> round(rsa(X, 2.0 * X, compare="spearman"), 6)
    1.0
    """
    check_choice(similarity, "similarity", SIMILARITIES)
    check_choice(compare, "compare", COMPARISONS)
    X, Y, numpy_in, _ = as_pair(
        X,
        Y,
        min_samples=2 if full_matrix else 3,
        why="RSA over full matrices" if full_matrix else "RSA (upper triangles, 3 pairs)",
        device=device,
        min_features=2 if similarity == "correlation" else 1,
    )
    SX, _ = _similarity_matrix(X, similarity, "X")
    SY, _ = _similarity_matrix(Y, similarity, "Y")
    if full_matrix:
        a, b = SX.reshape(-1), SY.reshape(-1)
    else:
        i, j = torch.triu_indices(X.shape[0], X.shape[0], offset=1, device=X.device)
        # dissimilarity = 1 - similarity: an affine map of both vectors, so r is unchanged
        a, b = SX[i, j], SY[i, j]
    if compare == "spearman":
        a, b = _ranks(a), _ranks(b)
    return finish(_pearson(a, b), numpy_in)
