r"""Linear centred kernel alignment (CKA), biased and debiased, full batch or accumulated.

Notes
-----
**Definition.** For representations ``X`` (n × p) and ``Y`` (n × q) of the same n examples,
with linear kernels :math:`K = XX^\top`, :math:`L = YY^\top` and the centring matrix
:math:`H = I_n - \tfrac{1}{n}\mathbf{1}\mathbf{1}^\top`,

.. math::

    \mathrm{CKA}(X, Y) = \frac{\mathrm{HSIC}(K, L)}{\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}}.

*Biased* (Gretton et al. 2005; Kornblith et al. 2019):
:math:`\mathrm{HSIC}_b(K, L) = \mathrm{tr}(KHLH) / (n-1)^2`. With linear kernels and the
column-centred matrices :math:`X_c = HX`, :math:`Y_c = HY` this is
:math:`\lVert Y_c^\top X_c\rVert_F^2 / (n-1)^2`, so

.. math::

    \mathrm{CKA}_b = \frac{\lVert Y_c^\top X_c\rVert_F^2}
                          {\lVert X_c^\top X_c\rVert_F\,\lVert Y_c^\top Y_c\rVert_F}
                   = \frac{\langle K_c, L_c\rangle_F}{\lVert K_c\rVert_F\,\lVert L_c\rVert_F},
    \qquad K_c = X_c X_c^\top .

*Debiased* (the unbiased HSIC estimator of Song et al. 2012, used in CKA by Kornblith et al.
2019): with :math:`\tilde K`, :math:`\tilde L` the kernels with their diagonals set to zero,

.. math::

    \mathrm{HSIC}_u(K, L) = \frac{1}{n(n-3)}\Big[\mathrm{tr}(\tilde K\tilde L)
        + \frac{\mathbf{1}^\top\tilde K\mathbf{1}\;\mathbf{1}^\top\tilde L\mathbf{1}}{(n-1)(n-2)}
        - \frac{2}{n-2}\,\mathbf{1}^\top\tilde K\tilde L\mathbf{1}\Big].

It is invariant to translating the features, so it may be computed on :math:`X_c, Y_c`;
there, with :math:`d_i = \lVert x_{c,i}\rVert^2` and :math:`e_i = \lVert y_{c,i}\rVert^2`
(the diagonals of :math:`K_c, L_c`), it is

.. math::

    n(n-3)\,\mathrm{HSIC}_u = \lVert Y_c^\top X_c\rVert_F^2 - \frac{n}{n-2}\, d^\top e
        + \frac{(\mathbf{1}^\top d)(\mathbf{1}^\top e)}{(n-1)(n-2)} .

The biased estimate of CKA is strongly positive for independent representations when n is
small relative to the features; the debiased one is close to 0 in expectation (it is a ratio
of unbiased estimates, so not exactly unbiased, and it may be negative).

**Cost.** Feature space: three products, :math:`O(n(p^2 + q^2 + pq))` time and
:math:`O(p^2 + q^2 + pq)` memory; Gram space: :math:`O(n^2(p + q))` time and :math:`O(n^2)`
memory. ``method="auto"`` takes the cheaper (feature space for n > p, q; Gram space for wide,
flattened activations with few examples). Both give the same value.

**Invariances.** CKA is unchanged by orthogonal transforms of either representation
(:math:`X \to XQ`, :math:`Q^\top Q = I`), by isotropic scaling (:math:`X \to cX`,
:math:`c > 0`) and by translations of the features; it is *not* invariant to general
invertible linear maps (:math:`X \to XA`), which is what distinguishes it from CCA.

**Undefined values.** When a representation is constant over the examples (its centred
total variance :math:`\mathbf 1^\top d` is below ``1e-12`` times its raw sum of squares), or
when a debiased denominator estimate is not positive, CKA is undefined; as everywhere in
mmsites (the constant-vector rule of Pearson r) it is then **0**, never NaN, with a logged
warning. Values are not clipped: rounding may put the biased value a few ulps above 1.

**The guidance code.** The untrainable-networks guidance loss computes the biased CKA of
each *minibatch* and averages the loss over steps, so what it optimises is a mean of batch
CKAs. That is a different quantity from the CKA of all the examples, which
:class:`CKAAccumulator` computes exactly from batches: the per-batch value depends on the
batch size (small batches inflate the biased estimate) and on which examples share a batch.
"""

from __future__ import annotations

import logging

import torch

from ._inputs import CONSTANT_REL_TOL, as_pair, check_choice, explain_non_finite, finish

__all__ = ["linear_cka", "CKAAccumulator", "METHODS"]

logger = logging.getLogger(__name__)

#: How the cross products are formed: the cheaper one, feature space, or Gram (n × n) space.
METHODS = ("auto", "features", "gram")


def _sqnorm(a: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm; its gradient (2a) is defined at 0, unlike that of a norm."""
    flat = a.reshape(-1)
    return torch.dot(flat, flat)


def _row_sqnorms(a: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,ij->i", a, a)


def _pick_method(n: int, p: int, q: int) -> str:
    """The cheaper way to form the three cross products (multiply-adds compared)."""
    features = n * (p * p + q * q + p * q)
    gram = n * n * (p + q) + n * n
    return "features" if features <= gram else "gram"


def _hsic_terms(s, dd, sd_a, sd_b, n: int, debiased: bool):
    """HSIC from the squared cross-product norm ``s`` and, debiased, ``d·e``, ``Σd``, ``Σe``."""
    if not debiased:
        return s / (n - 1) ** 2
    return (s - n / (n - 2) * dd + sd_a * sd_b / ((n - 1) * (n - 2))) / (n * (n - 3))


def _cka_from_statistics(stats: dict, n: int, debiased: bool) -> torch.Tensor:
    """CKA from the centred statistics; 0 (logged) where a representation is constant.

    ``stats`` holds ``sxy, sxx, syy`` (squared Frobenius norms of the centred cross
    products), ``sd, se`` (centred total sums of squares), ``raw_x, raw_y`` (raw sums of
    squares) and, when debiased, ``de, dd, ee`` (the products of the row square norms).
    """
    sd, se = stats["sd"], stats["se"]
    hxy = _hsic_terms(stats["sxy"], stats.get("de"), sd, se, n, debiased)
    hxx = _hsic_terms(stats["sxx"], stats.get("dd"), sd, sd, n, debiased)
    hyy = _hsic_terms(stats["syy"], stats.get("ee"), se, se, n, debiased)
    const_x = sd <= CONSTANT_REL_TOL * stats["raw_x"]
    const_y = se <= CONSTANT_REL_TOL * stats["raw_y"]
    prod = hxx * hyy
    ok = ~const_x & ~const_y & (prod > 0)
    den = torch.sqrt(torch.where(ok, prod, torch.ones_like(prod)))
    value = torch.where(ok, hxy / den, torch.zeros_like(hxy))
    if not bool(ok):
        why = (
            "X is constant over the samples"
            if bool(const_x)
            else "Y is constant over the samples"
            if bool(const_y)
            else "a debiased HSIC(X, X) or HSIC(Y, Y) estimate is not positive"
        )
        logger.warning("linear CKA is undefined (%s): returned 0", why)
    return value


def linear_cka(X, Y, debiased: bool = False, *, method: str = "auto", device=None):
    r"""Linear centred kernel alignment of two representations of the same examples.

    Computes :math:`\lVert Y_c^\top X_c\rVert_F^2 / (\lVert X_c^\top X_c\rVert_F
    \lVert Y_c^\top Y_c\rVert_F)` on column-centred data (biased HSIC), or the same ratio of
    unbiased HSIC estimates (Song et al. 2012; Kornblith et al. 2019) with
    ``debiased=True``. The module notes give the formulas, invariances and costs.

    Parameters
    ----------
    X : ndarray or Tensor, shape (n, p)
        First representation: one row per example (flatten each example's activations).
        Any unit; CKA is unit-free.
    Y : ndarray or Tensor, shape (n, q)
        Second representation of the same n examples, rows in the same order; q may differ
        from p.
    debiased : bool
        Use the unbiased HSIC estimator (needs n >= 4) instead of the biased one (n >= 2).
    method : {"auto", "features", "gram"}
        Feature-space products (:math:`O(n(p^2+q^2+pq))`), Gram-space products
        (:math:`O(n^2(p+q))`), or the cheaper of the two. The value is the same.
    device : str or torch.device, optional
        Where to compute (``"auto"``: CUDA when available). Default: where the data are
        (numpy on the CPU).

    Returns
    -------
    float or Tensor
        The CKA, in [0, 1] when biased, possibly slightly negative when debiased; 0 (with a
        logged warning) when undefined. A Python float for numpy inputs; a 0-d tensor, on the
        inputs' device and differentiable with respect to both, when either input is a
        tensor.

    Raises
    ------
    ValueError
        If an input is not 2-D, has no column, is not finite, the row counts differ, there
        are too few rows, or ``method`` is unknown.
    TypeError
        If an input is complex or not numeric.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 10))
    >>> Q, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    >>> round(linear_cka(X, 3.0 * X @ Q), 6)
    1.0
    """
    check_choice(method, "method", METHODS)
    X, Y, numpy_in, _ = as_pair(
        X,
        Y,
        min_samples=4 if debiased else 2,
        why="debiased CKA (unbiased HSIC)" if debiased else "CKA",
        device=device,
        check_finite=False,  # checked on the results below: no extra pass over the data
    )
    n, p = X.shape
    q = Y.shape[1]
    if method == "auto":
        method = _pick_method(n, p, q)
    w = torch.full((1, n), 1.0 / n, device=X.device, dtype=X.dtype)
    mx, my = w @ X, w @ Y  # column means as products: one pass, as fast as BLAS reads
    Xc, Yc = X - mx, Y - my
    if method == "features":
        Cxx, Cyy = Xc.T @ Xc, Yc.T @ Yc
        stats = {"sxy": _sqnorm(Yc.T @ Xc), "sxx": _sqnorm(Cxx), "syy": _sqnorm(Cyy)}
        stats.update(sd=torch.trace(Cxx), se=torch.trace(Cyy))
        del Cxx, Cyy
        if debiased:  # the diagonals of the centred Gram matrices: row square norms
            d, e = _row_sqnorms(Xc), _row_sqnorms(Yc)
    else:
        K, L = Xc @ Xc.T, Yc @ Yc.T
        stats = {"sxy": torch.dot(K.reshape(-1), L.reshape(-1)), "sxx": _sqnorm(K), "syy": _sqnorm(L)}
        d, e = torch.diagonal(K), torch.diagonal(L)
        stats.update(sd=d.sum(), se=e.sum())
    if debiased:
        stats.update(de=torch.dot(d, e), dd=torch.dot(d, d), ee=torch.dot(e, e))
    with torch.no_grad():  # raw sums of squares: sum ||x_i - m||^2 + n ||m||^2
        stats.update(
            raw_x=stats["sd"].detach() + n * _sqnorm(mx), raw_y=stats["se"].detach() + n * _sqnorm(my)
        )
        if not bool(torch.isfinite(torch.stack([v.detach() for v in stats.values()])).all()):
            explain_non_finite(X, Y)
    return finish(_cka_from_statistics(stats, n, debiased), numpy_in)


class CKAAccumulator:
    r"""Linear CKA of all the examples, accumulated from batches of rows (exact).

    Each :meth:`update` adds a batch's feature-space cross products
    (:math:`\sum x x^\top`, :math:`\sum y y^\top`, :math:`\sum x y^\top`, the column sums and,
    for the debiased estimator, the sums that give :math:`d^\top e`,
    :math:`\sum d_i^2` and :math:`\sum e_i^2` after centring); :meth:`value` centres them
    with the global means. The result equals :func:`linear_cka` on the stacked batches up to
    rounding, whatever the batch sizes and order. To keep the centring stable the data are
    shifted by the first batch's column means before summing (CKA is translation invariant).

    This is the CKA of the whole set, not the guidance code's mean of per-minibatch CKAs (a
    different quantity that depends on the batch size; see the module notes).

    Memory is :math:`O(p^2 + q^2 + pq)`, time :math:`O(b(p^2 + q^2 + pq))` per batch of b rows;
    for very wide representations with few examples use :func:`linear_cka` (Gram space).

    Parameters
    ----------
    debiased : bool
        Use the unbiased HSIC estimator (then :meth:`value` needs 4 rows in all; 2 when
        biased).
    device : str or torch.device, optional
        Where to accumulate (``"auto"``: CUDA when available). Default: the first batch's
        device (numpy: the CPU).
    dtype : torch.dtype, optional
        The accumulators' dtype. Default: the first batch's (float16/bfloat16: float32;
        integers: float64). Pass ``torch.float64`` for long runs of float32 batches.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.standard_normal((90, 5)), rng.standard_normal((90, 4))
    >>> acc = CKAAccumulator()
    >>> for s in range(0, 90, 32):
    ...     _ = acc.update(X[s : s + 32], Y[s : s + 32])
    >>> bool(abs(acc.value() - linear_cka(X, Y)) < 1e-12)
    True
    """

    def __init__(self, debiased: bool = False, *, device=None, dtype=None):
        self.debiased = bool(debiased)
        self.device = device
        self.dtype = dtype
        self._n = 0
        self._s: dict[str, torch.Tensor] = {}

    @property
    def n_samples(self) -> int:
        """Number of rows (examples) accumulated so far.

        Returns
        -------
        int
            The rows added by every :meth:`update` call.
        """
        return self._n

    def update(self, X, Y) -> CKAAccumulator:
        """Add one batch of rows of both representations.

        Parameters
        ----------
        X : ndarray or Tensor, shape (b, p)
            The batch's rows of the first representation (p fixed by the first batch).
        Y : ndarray or Tensor, shape (b, q)
            The same examples' rows of the second representation (q fixed by the first
            batch).

        Returns
        -------
        CKAAccumulator
            This accumulator (so calls can be chained). Inputs are detached: no gradient.

        Raises
        ------
        ValueError
            If a batch is not 2-D, not finite, the row counts differ, or a width differs from
            the first batch's.
        """
        X, Y, _, (raw_x, raw_y) = as_pair(X, Y, min_samples=1, why="a batch", device=self.device)
        X, Y = X.detach(), Y.detach()
        s = self._s
        if not s:
            dtype = self.dtype or X.dtype
            X, Y = X.to(dtype), Y.to(dtype)
            p, q = X.shape[1], Y.shape[1]
            zeros = dict(device=X.device, dtype=dtype)
            s.update(
                cx=X.mean(0),
                cy=Y.mean(0),
                Sxx=torch.zeros(p, p, **zeros),
                Syy=torch.zeros(q, q, **zeros),
                Sxy=torch.zeros(p, q, **zeros),
                sx=torch.zeros(p, **zeros),
                sy=torch.zeros(q, **zeros),
                raw_x=torch.zeros((), **zeros),
                raw_y=torch.zeros((), **zeros),
            )
            if self.debiased:
                s.update(
                    rr=torch.zeros((), **zeros),
                    tt=torch.zeros((), **zeros),
                    rt=torch.zeros((), **zeros),
                    Rx=torch.zeros(p, **zeros),
                    Ry=torch.zeros(q, **zeros),
                    U=torch.zeros(q, **zeros),
                    V=torch.zeros(p, **zeros),
                )
        else:
            for name, t, want in (("X", X, s["Sxx"].shape[0]), ("Y", Y, s["Syy"].shape[0])):
                if t.shape[1] != want:
                    raise ValueError(
                        f"{name} has {t.shape[1]} columns but the first batch had {want}: every "
                        "batch must have the same features"
                    )
            X = X.to(device=s["Sxx"].device, dtype=s["Sxx"].dtype)
            Y = Y.to(device=s["Sxx"].device, dtype=s["Sxx"].dtype)
        s["raw_x"] += raw_x.to(s["raw_x"].dtype)
        s["raw_y"] += raw_y.to(s["raw_y"].dtype)
        xs, ys = X - s["cx"], Y - s["cy"]
        s["Sxx"].addmm_(xs.T, xs)  # in place: no temporary, no extra pass
        s["Syy"].addmm_(ys.T, ys)
        s["Sxy"].addmm_(xs.T, ys)
        ones = torch.ones(X.shape[0], device=X.device, dtype=X.dtype)
        s["sx"].addmv_(xs.T, ones)
        s["sy"].addmv_(ys.T, ones)
        if self.debiased:
            r, t = _row_sqnorms(xs), _row_sqnorms(ys)
            s["rr"] += torch.dot(r, r)
            s["tt"] += torch.dot(t, t)
            s["rt"] += torch.dot(r, t)
            s["Rx"].addmv_(xs.T, r)
            s["Ry"].addmv_(ys.T, t)
            s["U"].addmv_(ys.T, r)
            s["V"].addmv_(xs.T, t)
        self._n += X.shape[0]
        return self

    def value(self) -> float:
        """The CKA of every row added so far.

        Returns
        -------
        float
            Linear CKA (biased or debiased as constructed) of all the rows accumulated; equal
            to :func:`linear_cka` on the stacked batches up to rounding; 0 (with a logged
            warning) when undefined.

        Raises
        ------
        ValueError
            If fewer than 2 rows (4 when debiased) were added.
        """
        need = 4 if self.debiased else 2
        if self._n < need:
            raise ValueError(
                f"CKAAccumulator has {self._n} samples (rows); "
                f"{'debiased ' if self.debiased else ''}CKA needs at least {need}"
            )
        s, n = self._s, self._n
        m, w = s["sx"] / n, s["sy"] / n  # means of the shifted data
        mu, nu = torch.dot(m, m), torch.dot(w, w)
        sr, st = torch.trace(s["Sxx"]), torch.trace(s["Syy"])  # sums of shifted row norms
        stats = {
            "sxy": _sqnorm(s["Sxy"] - n * torch.outer(m, w)),
            "sxx": _sqnorm(s["Sxx"] - n * torch.outer(m, m)),
            "syy": _sqnorm(s["Syy"] - n * torch.outer(w, w)),
            "sd": sr - n * mu,
            "se": st - n * nu,
            "raw_x": s["raw_x"],
            "raw_y": s["raw_y"],
        }
        if self.debiased:
            # d_i = r_i - 2 x_i·m + |m|^2 and e_i = t_i - 2 y_i·w + |w|^2 on the shifted rows;
            # the sums of their products expand into the accumulated moments.
            stats["de"] = (
                s["rt"]
                - 2 * torch.dot(w, s["U"])
                - 2 * torch.dot(m, s["V"])
                + 4 * (m @ s["Sxy"] @ w)
                + nu * sr
                + mu * st
                - 3 * n * mu * nu
            )
            stats["dd"] = (
                s["rr"] - 4 * torch.dot(m, s["Rx"]) + 4 * (m @ s["Sxx"] @ m) + 2 * mu * sr - 3 * n * mu**2
            )
            stats["ee"] = (
                s["tt"] - 4 * torch.dot(w, s["Ry"]) + 4 * (w @ s["Syy"] @ w) + 2 * nu * st - 3 * n * nu**2
            )
        return float(_cka_from_statistics(stats, n, self.debiased).cpu())
