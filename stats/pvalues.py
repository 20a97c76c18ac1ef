"""Permutation p-values below the 1/(P+1) floor, and how fine a permutation test can be.

A permutation p-value with P permutations, (1 + count) / (1 + P), can never be smaller than
1 / (P + 1). Benjamini–Hochberg over m tests at level q needs the k-th smallest p-value to
be <= q k / m, so with hundreds of electrode-bin tests and a few hundred permutations a true
effect that beats every permutation still sits at the floor and cannot be rejected.

:func:`tail_pvalues` follows Knijnenburg, Wessels, Reinders & Shmulevich (2009), "Fewer
permutations, more accurate P-values", *Bioinformatics* 25(12):i161–i168: where few
permutations reach the observed value, fit a generalized Pareto distribution (GPD) to the
largest null values and read the p-value off the fitted tail. Everywhere else it returns
the ordinary empirical p-value of :func:`mmsites.stats.signal.permutation_pvalues`.

The helpers below count distinct permutations (:func:`n_distinct_block_permutations`,
:func:`n_distinct_swaps`, :func:`n_distinct_shifts`) and say when a design is too coarse
(:func:`warn_if_few_permutations`, :func:`bh_can_reject`, :func:`bh_floor_warning`). The
statistics are explained in ``docs/statistics.md``.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
from scipy import stats as sps

logger = logging.getLogger(__name__)

__all__ = [
    "tail_pvalues",
    "EMPIRICAL",
    "TAIL",
    "FIT_REJECTED",
    "P_FLOOR",
    "n_distinct_block_permutations",
    "n_distinct_swaps",
    "n_distinct_shifts",
    "warn_if_few_permutations",
    "min_attainable_p",
    "bh_can_reject",
    "bh_floor_warning",
]

#: ``method`` code: the empirical (1 + count) / (1 + P) p-value.
EMPIRICAL = 0
#: ``method`` code: the generalized Pareto tail estimate.
TAIL = 1
#: ``method`` code: the tail was needed but no GPD fit passed the goodness-of-fit test (or
#: the fit failed), so the empirical p-value was kept.
FIT_REJECTED = 2
#: Smallest p-value :func:`tail_pvalues` returns (a tail estimate that underflows, or is
#: exactly 0 because the observed value lies beyond a bounded fitted tail, becomes this).
P_FLOOR = 1e-300
#: Fewest tail values a GPD is fitted to.
MIN_TAIL = 20

_TAILS = ("greater", "less", "two-sided")


def _oriented(values: np.ndarray, tail: str) -> np.ndarray:
    """Values oriented so that larger is more extreme for ``tail``."""
    if tail == "greater":
        return values
    if tail == "less":
        return -values
    if tail == "two-sided":
        return np.abs(values)
    raise ValueError(f"tail must be 'greater', 'less' or 'two-sided', got {tail!r}")


def _tail_sizes(n_tail: int) -> list[int]:
    """n_tail, then 10 % smaller each step, down to and including :data:`MIN_TAIL`."""
    sizes = [n_tail]
    while sizes[-1] > MIN_TAIL:
        sizes.append(max(MIN_TAIL, min(sizes[-1] - 1, int(sizes[-1] * 0.9))))
    return sizes


def _fit_gpd(exc: np.ndarray, min_shape: float | None) -> tuple[float, float] | None:
    """Maximum-likelihood GPD (shape, scale) of exceedances, location 0; None on failure."""
    if not np.all(np.isfinite(exc)) or np.ptp(exc) <= 0:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            shape, _, scale = sps.genpareto.fit(exc, floc=0)
            if min_shape is not None and shape < min_shape:
                # With one likelihood maximum in the shape, the constrained maximum lies
                # on the boundary; for shape 0 (exponential) its scale is the mean.
                if min_shape == 0:
                    shape, scale = 0.0, float(exc.mean())
                else:
                    shape, _, scale = sps.genpareto.fit(exc, fc=min_shape, floc=0)
    except (ValueError, RuntimeError, FloatingPointError):
        return None
    if not (np.isfinite(shape) and np.isfinite(scale) and scale > 0):
        return None
    return float(shape), float(scale)


def _gof_pvalue(exc: np.ndarray, shape: float, scale: float) -> float:
    """Cramér–von Mises p-value of exceedances against a GPD(shape, 0, scale)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(sps.cramervonmises(exc, sps.genpareto(shape, 0, scale).cdf).pvalue)


def _fit_tail(desc: np.ndarray, n_tail: int, fit_alpha: float, min_shape: float | None):
    """Fit the upper tail of one null column, sorted in decreasing order.

    Returns ``(threshold, shape, scale, n_used)`` of the first fit (largest tail first) that
    the Cramér–von Mises test does not reject at ``fit_alpha``, or None.
    """
    if np.unique(desc[: n_tail + 1]).size < (n_tail + 1) / 2:
        return None  # a discrete (heavily tied) tail: no GPD fits it
    for n in _tail_sizes(n_tail):
        t = 0.5 * (desc[n - 1] + desc[n])
        exc = desc[:n] - t
        fit = _fit_gpd(exc, min_shape)
        if fit is None:
            continue
        shape, scale = fit
        if fit_alpha > 0 and not _gof_pvalue(exc, shape, scale) >= fit_alpha:
            continue
        return t, shape, scale, n
    return None


def tail_pvalues(
    observed,
    null,
    *,
    min_exceedances: int = 10,
    n_tail: int = 250,
    tail: str = "greater",
    fit_alpha: float = 0.05,
    min_shape: float | None = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Permutation p-values with a generalized Pareto tail where permutations run out.

    Let ``s`` be the statistic oriented by ``tail`` (itself for ``"greater"``, its negative
    for ``"less"``, its absolute value for ``"two-sided"``), ``x`` the observed value and
    ``s_1 >= s_2 >= ... >= s_P`` the null values of one target. The empirical p-value is
    ``(1 + c) / (1 + P)``, ``c = #{i : s_i >= x}``, exactly as
    :func:`mmsites.stats.signal.permutation_pvalues`.

    Where ``c >= min_exceedances`` the empirical p-value is returned: it is exact (a valid
    permutation p-value) and precise enough. Where ``c < min_exceedances`` the p-value is
    estimated from the tail (Knijnenburg et al. 2009, *Bioinformatics* 25:i161, "Fewer
    permutations, more accurate P-values"):

    1. ``N = min(n_tail, P // 4)`` tail values; with fewer than 20 the empirical p-value is
       kept (``method`` 0).
    2. Threshold ``t = (s_N + s_{N+1}) / 2``; exceedances ``y_i = s_i - t``, i = 1..N.
    3. Fit a GPD, ``F(y) = 1 - (1 + ξ y / σ)^(-1/ξ)`` (``1 - exp(-y / σ)`` for ξ = 0), to
       the ``y_i`` by maximum likelihood with the location fixed at 0
       (``scipy.stats.genpareto.fit(y, floc=0)``), with ``ξ >= min_shape``.
    4. Test the fit with the Cramér–von Mises test (``scipy.stats.cramervonmises``) at
       ``fit_alpha``. If it is rejected, shrink ``N`` by 10 % and refit, down to 20 tail
       values; if every fit is rejected, keep the empirical p-value (``method`` 2). A
       discrete tail (fewer than half of the ``N + 1`` largest null values distinct, e.g.
       from a design with few distinct permutations) is not fitted at all (``method`` 2).
    5. ``p = (N / P) (1 - F(x - t))``: the fraction of the null beyond ``t`` times the
       fitted conditional tail probability. It is capped at the empirical p-value (the
       estimate never makes a target look *less* significant than the permutations do) and
       floored at :data:`P_FLOOR` = 1e-300 where it underflows or is exactly 0 (an observed
       value beyond the end point of a fitted tail with ξ < 0, possible only when
       ``min_shape < 0`` or None). Where ``x <= t`` the empirical p-value is kept.

    The tail estimate is an approximation, not an exact permutation p-value: it assumes the
    null's tail beyond ``t`` is a GPD and extrapolates it beyond the largest permutation.
    Use it to rank and threshold results that sit at the empirical floor ``1 / (P + 1)``
    (e.g. before Benjamini–Hochberg over many electrodes); it is most trustworthy a few
    multiples of ``1 / P`` below the floor, and relative errors grow the further it
    extrapolates.

    Shape constraint (``min_shape``, a departure from the paper's unconstrained fit). The
    nulls of correlations are light-tailed (near normal, and bounded by 1). Above the top
    12 % of a normal sample the maximum-likelihood shape is typically ξ ≈ -0.15 to -0.2, a
    bounded tail that ends near z = 4. Measured on 30 standard normal nulls with P = 2000:
    the unconstrained estimate at z = 5 was a median 1e-5 times the true tail, 14 of the 30
    at 1e-300 (the observed value beyond the fitted end point), and 6 of 30 were at 1e-300
    at z = 4; with observed values drawn from the null (P = 500, 20 000 targets) 0.24 % of them fell
    below 0.001 — anti-conservative. With the default ``min_shape=0`` the fitted tail is at
    least as heavy as an exponential, which *over*-estimates a normal's tail
    (conservative: the median estimate is ~11–14× the true tail at z = 4 and ~140–210× at
    z = 5, still below the 1 / (P + 1) floor; 0.02 % below 0.001 in the calibration run),
    is close for exponential tails (median 1.2× at 8 scale units, 1.4× at 10; 0.09 %
    below 0.001 and 0.54 % below 0.005 in calibration) and leaves heavy (ξ > 0) tails as
    fitted. Far extrapolation stays uncertain for any tail (a Student t5 null at t = 20,
    ~170× below 1 / P, was under-estimated by a median factor of ~60).
    ``min_shape=None`` reproduces the paper's unconstrained fit.

    The goodness-of-fit p-value treats the fitted parameters as known, so the test is
    conservative (it rejects only clear misfits). A fit is run only for targets with fewer
    than ``min_exceedances`` exceedances, one target at a time: ~15–20 ms per target when
    the first fit passes, up to 24 fits (~0.5 s) when every tail size from 250 down to 20
    is rejected.

    Parameters
    ----------
    observed : array, shape (...)
        Observed statistic per target.
    null : array, shape (n_perm, ...)
        Null statistics, one row per permutation; ``null.shape[1:] == observed.shape``.
    min_exceedances : int
        Targets with at least this many null values at least as extreme as the observed one
        get the empirical p-value.
    n_tail : int
        Largest number of tail values the GPD is fitted to (the paper's N_exc = 250);
        capped at ``n_perm // 4``.
    tail : {"greater", "less", "two-sided"}
        ``greater`` counts null >= observed, ``less`` null <= observed, ``two-sided``
        compares absolute values.
    fit_alpha : float
        Level of the goodness-of-fit test in [0, 1); 0 accepts every fit.
    min_shape : float or None
        Smallest GPD shape ξ allowed (see above); None for the unconstrained fit.

    Returns
    -------
    p : ndarray of float, shape (...)
        In (0, 1]; NaN where the observed value is NaN. Never larger than the empirical
        p-value.
    method : ndarray of int8, shape (...)
        :data:`EMPIRICAL` (0), :data:`TAIL` (1) or :data:`FIT_REJECTED` (2) per target.
        Targets whose null column holds NaN or infinite values keep the empirical p-value
        (0).

    Raises
    ------
    ValueError
        If ``null`` is not (n_perm, *observed.shape) with n_perm >= 1, ``tail`` is not one of
        the choices, or ``min_exceedances``, ``n_tail``, ``fit_alpha`` or ``min_shape`` is
        out of range.
    """
    observed = np.asarray(observed, dtype=float)
    null = np.asarray(null, dtype=float)
    if null.ndim < 1 or null.shape[1:] != observed.shape:
        raise ValueError(
            f"null has shape {null.shape}; expected (n_perm, *{observed.shape}) "
            f"to match observed of shape {observed.shape}"
        )
    if null.shape[0] < 1:
        raise ValueError("null has no permutations (null.shape[0] == 0)")
    if int(min_exceedances) != min_exceedances or min_exceedances < 0:
        raise ValueError(f"min_exceedances must be an integer >= 0, got {min_exceedances!r}")
    if int(n_tail) != n_tail or n_tail < 1:
        raise ValueError(f"n_tail must be an integer >= 1, got {n_tail!r}")
    if not 0 <= fit_alpha < 1:
        raise ValueError(f"fit_alpha must be in [0, 1), got {fit_alpha!r}")
    if min_shape is not None and not np.isfinite(min_shape):
        raise ValueError(f"min_shape must be a finite number or None, got {min_shape!r}")
    shape = observed.shape
    P = null.shape[0]
    x = _oriented(observed.reshape(-1), tail)
    s = _oriented(null.reshape(P, -1), tail)
    nan = np.isnan(x)
    count = (s >= x).sum(0)
    p = (1.0 + count) / (1.0 + P)
    p[nan] = np.nan
    method = np.zeros(x.shape, dtype=np.int8)

    n0 = min(int(n_tail), P // 4)
    cand = np.flatnonzero(~nan & (count < min_exceedances))
    if n0 >= MIN_TAIL and cand.size:
        cand = cand[np.isfinite(s[:, cand]).all(0)]
        desc = -np.sort(-s[:, cand], axis=0)[: n0 + 1]  # (n0 + 1, n_cand)
        for j, target in enumerate(cand):
            fit = _fit_tail(desc[:, j], n0, fit_alpha, min_shape)
            if fit is None:
                method[target] = FIT_REJECTED
                continue
            t, xi, sigma, n_used = fit
            if not x[target] > t:
                continue
            est = n_used / P * float(sps.genpareto.sf(x[target] - t, xi, 0, sigma))
            p[target] = max(min(est, p[target]), P_FLOOR)
            method[target] = TAIL
    if cand.size:
        logger.debug(
            "tail_pvalues: %d of %d targets below %d exceedances; %d tail estimates, %d fits rejected",
            cand.size,
            x.size,
            min_exceedances,
            int((method == TAIL).sum()),
            int((method == FIT_REJECTED).sum()),
        )
    return p.reshape(shape), method.reshape(shape)


# --------------------------------------------------------------------------------------
# How many distinct permutations a design has


def _as_count(name: str, value, minimum: int = 0) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def n_distinct_block_permutations(block_sizes) -> float:
    """Number of distinct orders of blocks that move as units (identity included).

    With ``k`` blocks, each keeping its internal order, there are ``k!`` arrangements,
    whatever the block sizes (:func:`mmsites.stats.resampling.block_permutations`,
    ``kind="block"``). For permutations within each fold's test half
    (:func:`mmsites.stats.resampling.fold_permutations`) multiply the counts of the folds.

    Parameters
    ----------
    block_sizes : sequence of int, shape (n_blocks,)
        Events per block (each >= 1).

    Returns
    -------
    n : float
        ``n_blocks!``; ``inf`` when it exceeds the float range (n_blocks > 170).

    Raises
    ------
    ValueError
        If ``block_sizes`` is not 1-D or an entry is not an integer >= 1.
    """
    sizes = np.asarray(block_sizes)
    if sizes.ndim != 1:
        raise ValueError(f"block_sizes must be a 1-D sequence of block lengths, got shape {sizes.shape}")
    for size in sizes.tolist():
        _as_count("each entry of block_sizes", size, 1)
    k = sizes.size
    try:
        return float(math.factorial(k))
    except OverflowError:
        return math.inf


def n_distinct_swaps(n_blocks: int) -> float:
    """Number of distinct swap patterns: each of ``n_blocks`` blocks swapped or not.

    Counts the draws of :func:`mmsites.stats.resampling.block_swaps` (identity included).

    Parameters
    ----------
    n_blocks : int
        Blocks that can be swapped independently.

    Returns
    -------
    n : float
        ``2 ** n_blocks``; ``inf`` beyond the float range.

    Raises
    ------
    ValueError
        If ``n_blocks`` is not an integer >= 0.
    """
    n_blocks = _as_count("n_blocks", n_blocks)
    try:
        return math.ldexp(1.0, n_blocks)
    except OverflowError:
        return math.inf


def n_distinct_shifts(n_allowed: int) -> float:
    """Number of distinct circular shifts: the number of allowed shifts itself.

    Parameters
    ----------
    n_allowed : int
        Shifts the design allows (e.g. ``n_events - 2 * min_shift + 1``), >= 0.

    Returns
    -------
    n : float
        ``n_allowed`` as a float, comparable with the other counts.

    Raises
    ------
    ValueError
        If ``n_allowed`` is not an integer >= 0.
    """
    return float(_as_count("n_allowed", n_allowed))


def warn_if_few_permutations(
    n_distinct: float, alpha: float = 0.05, what: str = "permutations", logger=None
) -> bool:
    """Warn when a design has too few distinct permutations for tests at ``alpha``.

    With ``n`` distinct permutations no p-value is finer than ``1 / n``, and drawing more
    permutations than exist only repeats them. Fewer than ``20 / alpha`` (400 at 0.05)
    leaves p-values too coarse around ``alpha``.

    Parameters
    ----------
    n_distinct : float
        Distinct permutations of the design (:func:`n_distinct_block_permutations`,
        :func:`n_distinct_swaps`, :func:`n_distinct_shifts`); ``inf`` allowed.
    alpha : float
        Significance level in (0, 1).
    what : str
        What is counted, for the message (e.g. ``"block permutations"``).
    logger : logging.Logger, optional
        Where to warn; this module's logger by default.

    Returns
    -------
    warned : bool
        True when ``n_distinct < 20 / alpha`` (a WARNING was logged).

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1) or ``n_distinct < 1``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not n_distinct >= 1:
        raise ValueError(f"n_distinct must be >= 1, got {n_distinct!r}")
    need = 20.0 / alpha
    if n_distinct >= need:
        return False
    log = logger if logger is not None else logging.getLogger(__name__)
    log.warning(
        "only %d distinct %s exist, so p-values cannot be finer than 1/%d = %.3g (and more "
        "draws only repeat them); tests at alpha=%g want at least %d. Use a longer recording "
        "or shorter blocks (fewer events per block).",
        int(n_distinct),
        what,
        int(n_distinct),
        1.0 / n_distinct,
        alpha,
        math.ceil(need),
    )
    return True


# --------------------------------------------------------------------------------------
# The permutation floor and Benjamini–Hochberg


def min_attainable_p(n_perm: int) -> float:
    """Smallest empirical permutation p-value, ``1 / (n_perm + 1)``.

    Parameters
    ----------
    n_perm : int
        Permutations (>= 0).

    Returns
    -------
    p : float
        ``1 / (n_perm + 1)``, in (0, 1].

    Raises
    ------
    ValueError
        If ``n_perm`` is not an integer >= 0.
    """
    return 1.0 / (_as_count("n_perm", n_perm) + 1)


def _check_bh(n_perm, n_tests, q) -> tuple[float, int]:
    floor = min_attainable_p(n_perm)
    n_tests = _as_count("n_tests", n_tests, 1)
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got {q!r}")
    return floor, n_tests


def bh_can_reject(n_perm: int, n_tests: int, q: float) -> bool:
    """Whether Benjamini–Hochberg can reject anything at the permutation floor.

    BH at level ``q`` over ``m = n_tests`` tests rejects the ``k`` smallest p-values when
    the k-th smallest is ``<= q k / m``. If ``k`` tests sit at the floor ``1 / (n_perm +
    1)`` (and the rest are larger), they are rejected iff ``floor <= q k / m``. The most
    favourable case is every test at the floor (``k = m``), so this returns ``floor <= q``:
    False means no outcome of the permutation test can give a single rejection. True does
    not mean a few true effects can be found; see :func:`bh_floor_warning`.

    Parameters
    ----------
    n_perm : int
        Permutations (>= 0).
    n_tests : int
        Tests BH corrects over (>= 1; unused by the criterion but validated).
    q : float
        FDR level in (0, 1].

    Returns
    -------
    possible : bool
        ``1 / (n_perm + 1) <= q``: whether any outcome of the permutation test can give a
        rejection.

    Raises
    ------
    ValueError
        If ``n_perm`` is not an integer >= 0, ``n_tests`` not an integer >= 1, or ``q`` not
        in (0, 1].
    """
    floor, _ = _check_bh(n_perm, n_tests, q)
    return floor <= q


def bh_floor_warning(n_perm: int, n_tests: int, q: float, n_true: int = 1, logger=None) -> bool:
    """Warn when ``n_true`` effects at the permutation floor could not pass BH.

    ``n_true`` tests at the floor ``1 / (n_perm + 1)`` (others larger) are rejected by
    Benjamini–Hochberg at ``q`` over ``n_tests`` tests iff ``floor <= q n_true / n_tests``.

    Parameters
    ----------
    n_perm : int
        Permutations (>= 0).
    n_tests : int
        Tests BH corrects over (>= 1).
    q : float
        FDR level in (0, 1].
    n_true : int, default 1
        Number of true effects one hopes to detect (>= 1).
    logger : logging.Logger, optional
        Where to warn; this module's logger by default.

    Returns
    -------
    warned : bool
        True when ``1 / (n_perm + 1) > q * n_true / n_tests`` (a WARNING was logged).

    Raises
    ------
    ValueError
        If ``n_perm`` is not an integer >= 0, ``n_tests`` or ``n_true`` not an integer >= 1,
        or ``q`` not in (0, 1].
    """
    floor, n_tests = _check_bh(n_perm, n_tests, q)
    n_true = _as_count("n_true", n_true, 1)
    if floor <= q * n_true / n_tests:
        return False
    need_k = math.ceil(floor * n_tests / q - 1e-12)
    need_perm = math.ceil(n_tests / (q * n_true) - 1e-9) - 1
    log = logger if logger is not None else logging.getLogger(__name__)
    log.warning(
        "with n_perm=%d the smallest permutation p-value is 1/%d = %.3g; Benjamini-Hochberg "
        "at q=%g over n_tests=%d rejects tests at that floor only if at least %d of them are "
        "there, so %d true effect(s) cannot be found. Use n_perm >= %d, or estimate small "
        "p-values from the null's tail (mmsites.stats.pvalues.tail_pvalues).",
        int(n_perm),
        int(n_perm) + 1,
        floor,
        q,
        n_tests,
        need_k,
        n_true,
        need_perm,
    )
    return True
