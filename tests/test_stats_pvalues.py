"""Tail p-values (generalized Pareto), distinct-permutation counts, the BH floor."""

import logging
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from mmsites.stats.pvalues import (
    EMPIRICAL,
    FIT_REJECTED,
    P_FLOOR,
    TAIL,
    bh_can_reject,
    bh_floor_warning,
    min_attainable_p,
    n_distinct_block_permutations,
    n_distinct_shifts,
    n_distinct_swaps,
    tail_pvalues,
    warn_if_few_permutations,
)
from mmsites.stats.signal import permutation_pvalues


def empirical_count(observed, null):
    return (null >= observed).sum(0)


@pytest.mark.parametrize("tail", ["greater", "less", "two-sided"])
def test_empirical_branch_equals_permutation_pvalues(tail):
    rng = np.random.default_rng(0)
    P, T = 300, 300
    null = rng.standard_normal((P, T))
    observed = rng.standard_normal(T)
    p, method = tail_pvalues(observed, null, tail=tail)
    emp = permutation_pvalues(observed, null, tail=tail)
    s = {"greater": lambda v: v, "less": lambda v: -v, "two-sided": np.abs}[tail]
    enough = empirical_count(s(observed), s(null)) >= 10
    assert enough.sum() > 250 and (~enough).sum() > 0
    np.testing.assert_array_equal(p[enough], emp[enough])
    assert np.all(method[enough] == EMPIRICAL)
    assert np.all(p <= emp)


def test_too_few_permutations_for_a_tail_keep_the_empirical_pvalue():
    rng = np.random.default_rng(1)
    null = rng.standard_normal((79, 6))  # 79 // 4 = 19 < 20 tail values
    observed = np.array([5.0, 4.0, 0.0, -1.0, 3.0, 10.0])
    p, method = tail_pvalues(observed, null)
    np.testing.assert_array_equal(p, permutation_pvalues(observed, null))
    assert np.all(method == EMPIRICAL)


def ratios(draw, sf, values, P=2000, S=12, seed=0, **kw):
    """Median of (tail estimate / true survival) over S independent nulls, per value."""
    null = draw(np.random.default_rng(seed), (P, S))
    out = []
    for x in values:
        p, method = tail_pvalues(np.full(S, x), null, **kw)
        assert np.all(method == TAIL)
        out.append((np.median(p / sf(x)), np.median(p)))
    return out


def test_tail_estimate_of_an_exponential_null_is_accurate():
    # Exponential = GPD with shape 0: the model is exact. Over 200 nulls the median ratio
    # was 1.17 at x = 8 and 1.37 at x = 10 (shape >= 0 leans conservative).
    (r8, _), (r10, p10) = ratios(lambda r, s: r.standard_exponential(s), sps.expon.sf, [8.0, 10.0])
    assert 1 / 1.5 < r8 < 1.5
    assert 1 / 2 < r10 < 2
    assert p10 < min_attainable_p(2000) / 5  # far below the floor


def test_tail_estimate_of_a_normal_null_is_conservative_and_below_the_floor():
    floor = min_attainable_p(2000)
    (r4, p4), (r5, p5) = ratios(lambda r, s: r.standard_normal(s), sps.norm.sf, [4.0, 5.0])
    # The shape >= 0 constraint over-estimates a normal's (lighter) tail: conservative
    # (over 8 seeds the median ratio was 11-14 at z = 4 and 140-210 at z = 5), yet below
    # the 1/(P+1) floor, far below it at z = 5.
    assert 1 <= r4 < 30 and p4 < floor
    assert 1 <= r5 < 500 and p5 < floor / 5


def test_unconstrained_fit_underestimates_a_normal_tail():
    # The paper's unconstrained fit picks shape < 0 (a bounded tail) on normal nulls and
    # returns far too small p-values far out: why min_shape defaults to 0.
    ((r5, p5),) = ratios(lambda r, s: r.standard_normal(s), sps.norm.sf, [5.0], min_shape=None)
    assert r5 < 0.5
    assert p5 >= P_FLOOR


@pytest.mark.parametrize("dist", ["normal", "exponential"])
def test_calibration_when_observed_comes_from_the_null(dist):
    rng = np.random.default_rng(2)
    draw = rng.standard_normal if dist == "normal" else rng.standard_exponential
    P, T = 500, 2000
    null, observed = draw((P, T)), draw(T)
    p, method = tail_pvalues(observed, null)
    assert (method == TAIL).sum() > 30  # the tail branch is used
    for level in (0.05, 0.005):
        se = math.sqrt(level * (1 - level) / T)
        frac = (p < level).mean()
        assert frac <= level + 3 * se, (level, frac)
        # Normal nulls are slightly conservative in the tail; exponential ones exact.
        low = level - 3 * se if dist == "exponential" or level == 0.05 else 0.2 * level
        assert frac >= low, (level, frac)


def test_pvalues_are_positive_capped_and_nan_passes_through():
    rng = np.random.default_rng(3)
    null = rng.standard_normal((400, 8))
    observed = np.array([np.nan, 0.5, 2.5, 3.0, 4.0, 8.0, 40.0, np.inf])
    p, method = tail_pvalues(observed, null)
    assert np.isnan(p[0]) and method[0] == EMPIRICAL
    emp = permutation_pvalues(observed, null)
    assert np.all(p[1:] > 0) and np.all(p[1:] <= emp[1:])
    assert np.all(method[3:] == TAIL)
    assert p[-1] == P_FLOOR  # sf(inf) = 0 underflow floor
    assert p[6] < p[5] < p[4] < min_attainable_p(400)


def test_less_and_two_sided_match_negated_and_absolute_data():
    rng = np.random.default_rng(4)
    null = rng.standard_normal((400, 10))
    observed = np.r_[rng.standard_normal(4), 3.2, -3.5, 4.0, -4.5, 6.0, -2.9]
    p, m = tail_pvalues(observed, null)
    p_less, m_less = tail_pvalues(-observed, -null, tail="less")
    np.testing.assert_array_equal(p_less, p)
    np.testing.assert_array_equal(m_less, m)
    p_two, m_two = tail_pvalues(observed, null, tail="two-sided")
    p_abs, m_abs = tail_pvalues(np.abs(observed), np.abs(null))
    np.testing.assert_array_equal(p_two, p_abs)
    np.testing.assert_array_equal(m_two, m_abs)
    np.testing.assert_array_equal(tail_pvalues(-observed, -null, tail="two-sided")[0], p_two)
    assert (m_two == TAIL).sum() >= 5


def test_trailing_dimensions_and_scalars():
    rng = np.random.default_rng(5)
    null = rng.standard_normal((200, 3, 4))
    observed = rng.standard_normal((3, 4)) * 2
    observed[1, 2] = 5.0
    p, method = tail_pvalues(observed, null)
    assert p.shape == method.shape == (3, 4) and method.dtype == np.int8
    p_flat, m_flat = tail_pvalues(observed.ravel(), null.reshape(200, -1))
    np.testing.assert_array_equal(p.ravel(), p_flat)
    np.testing.assert_array_equal(method.ravel(), m_flat)
    assert method[1, 2] == TAIL
    p0, m0 = tail_pvalues(5.0, null[:, 1, 2])
    assert p0.shape == () and float(p0) == p[1, 2] and int(m0) == TAIL


def test_rejected_fits_shrink_the_tail_then_keep_the_empirical_pvalue(monkeypatch):
    import mmsites.stats.pvalues as pv

    rng = np.random.default_rng(7)
    null = rng.standard_normal((400, 1))  # n_tail = 400 // 4 = 100
    observed = np.array([4.0])
    tried = []

    def gof(reject_above):
        def fake(exc, shape, scale):
            tried.append(exc.size)
            return 0.0 if exc.size > reject_above else 1.0

        return fake

    monkeypatch.setattr(pv, "_gof_pvalue", gof(0))  # every fit rejected
    p, method = tail_pvalues(observed, null)
    assert tried == [100, 90, 81, 72, 64, 57, 51, 45, 40, 36, 32, 28, 25, 22, 20]
    assert method[0] == FIT_REJECTED
    np.testing.assert_array_equal(p, permutation_pvalues(observed, null))
    tried.clear()
    monkeypatch.setattr(pv, "_gof_pvalue", gof(60))  # tails of <= 60 values pass
    p60, method = tail_pvalues(observed, null)
    assert tried == [100, 90, 81, 72, 64, 57] and method[0] == TAIL
    # The estimate is the 57-value tail's: (57 / P) * GPD survival beyond its threshold.
    desc = np.sort(null[:, 0])[::-1]
    t = (desc[56] + desc[57]) / 2
    mean_exc = (desc[:57] - t).mean()
    shape, _, scale = sps.genpareto.fit(desc[:57] - t, floc=0)
    if shape < 0:
        shape, scale = 0.0, mean_exc
    expected = 57 / 400 * sps.genpareto.sf(4.0 - t, shape, 0, scale)
    assert p60[0] == pytest.approx(expected, rel=1e-12)
    tried.clear()
    p0, method = tail_pvalues(observed, null, fit_alpha=0)  # no test: first fit accepted
    assert tried == [] and method[0] == TAIL


def test_discrete_tail_keeps_the_empirical_pvalue():
    rng = np.random.default_rng(0)
    null = np.round(rng.standard_normal((2000, 3)) * 2) / 2  # a lattice: no GPD fits it
    null[:, 2] = np.r_[rng.standard_normal(1700), np.full(300, 3.0)]  # a constant tail
    observed = np.full(3, 5.0)
    p, method = tail_pvalues(observed, null)
    assert np.all(method == FIT_REJECTED)
    np.testing.assert_array_equal(p, permutation_pvalues(observed, null))


def test_nonfinite_null_keeps_the_empirical_pvalue():
    rng = np.random.default_rng(6)
    null = rng.standard_normal((200, 2))
    null[3, 0] = np.nan
    p, method = tail_pvalues(np.array([6.0, 6.0]), null)
    assert method.tolist() == [EMPIRICAL, TAIL]
    assert p[0] == permutation_pvalues(np.array([6.0]), null[:, :1])[0]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    scale=st.floats(0.1, 10),
    xs=st.lists(st.floats(-3, 6), min_size=1, max_size=6),
    min_shape=st.sampled_from([0.0, None]),
    tail=st.sampled_from(["greater", "less", "two-sided"]),
)
def test_pvalues_in_unit_interval_and_monotone_in_observed(seed, scale, xs, min_shape, tail):
    rng = np.random.default_rng(seed)
    column = rng.standard_normal(120) * scale
    xs = np.asarray(xs) * scale
    null = np.repeat(column[:, None], xs.size, 1)
    p, _ = tail_pvalues(xs, null, min_shape=min_shape, tail=tail, n_tail=30, min_exceedances=5)
    assert np.all((p > 0) & (p <= 1))
    extremeness = {"greater": xs, "less": -xs, "two-sided": np.abs(xs)}[tail]
    order = np.argsort(extremeness, kind="stable")
    assert np.all(np.diff(p[order]) <= 0)


def test_argument_errors_name_the_argument():
    null = np.zeros((50, 4))
    with pytest.raises(ValueError, match="null.*observed"):
        tail_pvalues(np.zeros(3), null)
    with pytest.raises(ValueError, match="tail"):
        tail_pvalues(np.zeros(4), null, tail="both")
    with pytest.raises(ValueError, match="n_tail"):
        tail_pvalues(np.zeros(4), null, n_tail=0)
    with pytest.raises(ValueError, match="min_exceedances"):
        tail_pvalues(np.zeros(4), null, min_exceedances=-1)
    with pytest.raises(ValueError, match="fit_alpha"):
        tail_pvalues(np.zeros(4), null, fit_alpha=1.0)
    with pytest.raises(ValueError, match="min_shape"):
        tail_pvalues(np.zeros(4), null, min_shape=np.nan)
    with pytest.raises(ValueError, match="null"):
        tail_pvalues(np.zeros(4), np.zeros((0, 4)))


def test_distinct_permutation_counts():
    assert n_distinct_block_permutations([20, 20, 20, 7]) == 24.0
    assert n_distinct_block_permutations([5]) == 1.0
    assert n_distinct_block_permutations(np.full(170, 3)) == float(math.factorial(170))
    assert n_distinct_block_permutations(np.full(171, 3)) == math.inf
    assert n_distinct_swaps(10) == 1024.0 and n_distinct_swaps(0) == 1.0
    assert n_distinct_swaps(5000) == math.inf
    assert n_distinct_shifts(37) == 37.0
    with pytest.raises(ValueError, match="block_sizes"):
        n_distinct_block_permutations([3, 0])
    with pytest.raises(ValueError, match="block_sizes"):
        n_distinct_block_permutations([[3, 4]])
    with pytest.raises(ValueError, match="n_blocks"):
        n_distinct_swaps(-1)
    with pytest.raises(ValueError, match="n_allowed"):
        n_distinct_shifts(2.5)


def test_warn_if_few_permutations(caplog):
    with caplog.at_level(logging.WARNING, logger="mmsites.stats.pvalues"):
        assert warn_if_few_permutations(n_distinct_block_permutations([10] * 5), what="block permutations")
    (rec,) = caplog.records
    assert rec.levelno == logging.WARNING and rec.name == "mmsites.stats.pvalues"
    msg = rec.getMessage()
    assert "120 distinct block permutations" in msg and "1/120" in msg
    assert "shorter blocks" in msg and "longer recording" in msg
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert not warn_if_few_permutations(400.0)
        assert not warn_if_few_permutations(math.inf)
        assert warn_if_few_permutations(999, alpha=0.01)  # needs 2000 at alpha 0.01
    assert len(caplog.records) == 1
    mine = logging.getLogger("test.pvalues.custom")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="test.pvalues.custom"):
        assert warn_if_few_permutations(8, logger=mine)
    assert [r.name for r in caplog.records] == ["test.pvalues.custom"]
    with pytest.raises(ValueError, match="alpha"):
        warn_if_few_permutations(100, alpha=0)
    with pytest.raises(ValueError, match="n_distinct"):
        warn_if_few_permutations(0)


def test_bh_floor(caplog):
    assert min_attainable_p(999) == pytest.approx(1e-3)
    assert min_attainable_p(0) == 1.0
    assert bh_can_reject(19, 100, 0.05)  # floor 0.05 <= q
    assert not bh_can_reject(18, 100, 0.05)
    with caplog.at_level(logging.WARNING, logger="mmsites.stats.pvalues"):
        assert bh_floor_warning(999, 500, 0.05)  # 1e-3 > 0.05 / 500
        assert not bh_floor_warning(999, 500, 0.05, n_true=20)
        assert not bh_floor_warning(10999, 500, 0.05)
    (rec,) = caplog.records
    msg = rec.getMessage()
    assert "n_perm=999" in msg and "at least 10" in msg and "n_perm >= 9999" in msg
    with pytest.raises(ValueError, match="n_tests"):
        bh_can_reject(100, 0, 0.05)
    with pytest.raises(ValueError, match="q"):
        bh_floor_warning(100, 10, 0.0)
    with pytest.raises(ValueError, match="n_true"):
        bh_floor_warning(100, 10, 0.05, n_true=0)
    with pytest.raises(ValueError, match="n_perm"):
        min_attainable_p(-1)
