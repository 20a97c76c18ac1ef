"""Sequential permutation p-values (Besag-Clifford) and choices made on validation data."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.encoding.ridge import CVResult, select_on_validation, select_result
from mmsites.stats.signal import SequentialPvalues, permutation_pvalues


@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 30), P=st.integers(1, 200), chunk=st.integers(1, 60), seed=st.integers(0, 99))
def test_without_stopping_equals_the_plain_permutation_p(T, P, chunk, seed):
    rng = np.random.default_rng(seed)
    obs, null = rng.standard_normal(T), rng.standard_normal((P, T))
    seq = SequentialPvalues(obs, h=None)
    for s in range(0, P, chunk):
        seq.update(null[s : s + chunk])
    np.testing.assert_array_equal(seq.pvalues(), permutation_pvalues(obs, null))
    assert (seq.n_evaluated == P).all()


@settings(max_examples=40, deadline=None)
@given(
    T=st.integers(1, 30),
    P=st.integers(20, 300),
    chunk=st.integers(1, 80),
    h=st.integers(1, 12),
    seed=st.integers(0, 99),
)
def test_stopping_does_not_depend_on_the_chunking(T, P, chunk, h, seed):
    rng = np.random.default_rng(seed)
    obs, null = rng.standard_normal(T) + 1, rng.standard_normal((P, T))
    whole = SequentialPvalues(obs, h=h)
    whole.update(null)
    parts = SequentialPvalues(obs, h=h)
    for s in range(0, P, chunk):
        open_ = np.flatnonzero(parts.active)
        parts.update(null[s : s + chunk][:, open_], open_)  # only the open targets are scored
    np.testing.assert_array_equal(whole.pvalues(), parts.pvalues())
    # Besag-Clifford: a stopped target's p is h / L, L the permutation of its h-th exceedance.
    for t in range(T):
        hits = np.flatnonzero(null[:, t] >= obs[t])
        if hits.size >= h:
            assert whole.pvalues()[t] == h / (hits[h - 1] + 1)
        else:
            assert whole.pvalues()[t] == (1 + hits.size) / (1 + P)


def test_sequential_p_values_are_valid_and_cheap_on_null_data():
    rng = np.random.default_rng(0)
    T, P = 20000, 999
    obs, null = rng.standard_normal(T), rng.standard_normal((P, T))
    seq = SequentialPvalues(obs, h=10)
    for s in range(0, P, 100):
        open_ = np.flatnonzero(seq.active)
        seq.update(null[s : s + 100][:, open_], open_)
    p = seq.pvalues()
    for a in (0.01, 0.05, 0.2):
        se = np.sqrt(a * (1 - a) / T)
        assert (p <= a).mean() <= a + 3 * se
    assert (p <= 0.05).mean() >= 0.05 - 3 * np.sqrt(0.05 * 0.95 / T)
    # Most null targets stop early: far fewer permutations than P on average.
    assert seq.n_evaluated.mean() < 0.2 * P


def test_sequential_checks_and_nan():
    with pytest.raises(ValueError, match="1-D"):
        SequentialPvalues(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="positive"):
        SequentialPvalues(np.zeros(2), h=0)
    seq = SequentialPvalues(np.array([0.5, np.nan]), h=3)
    with pytest.raises(ValueError, match="null must be"):
        seq.update(np.zeros((4, 3)))
    seq.update(np.zeros((4, 2)))
    assert np.isnan(seq.pvalues()[1]) and not seq.active[1]


def test_select_on_validation_picks_by_validation_only():
    val = [np.array([0.1, 0.5, 0.3]), np.array([0.2, 0.4, 0.3])]
    test = [np.array([0.9, 0.0, 0.1]), np.array([0.0, 0.9, 0.2])]
    t, v, c = select_on_validation(test, val)
    np.testing.assert_array_equal(c, [1, 0, 0])  # ties: the first candidate
    np.testing.assert_array_equal(t, [0.0, 0.0, 0.1])
    np.testing.assert_array_equal(v, [0.2, 0.5, 0.3])
    with pytest.raises(ValueError, match="equally many"):
        select_on_validation(test, val[:1])


def test_select_result_combines_fields_per_target():
    rng = np.random.default_rng(1)
    n, T, F, A = 12, 4, 5, 3

    def result(shift):
        return CVResult(
            test_r=rng.random(T),
            val_r=rng.random(T) + shift,
            alpha=rng.random(T),
            test_r_folds=rng.random((F, T)),
            val_r_folds=rng.random((F, T)),
            predictions=rng.random((n, T)).astype(np.float32),
            valid=np.ones(T, bool),
            val_r_alphas=rng.random((A, T)),
            alphas=np.arange(A, dtype=float),
        )

    a, b = result(0.0), result(0.0)
    out, choice = select_result([a, b])
    for t in range(T):
        src = (a, b)[choice[t]]
        assert out.test_r[t] == src.test_r[t] and out.alpha[t] == src.alpha[t]
        np.testing.assert_array_equal(out.predictions[:, t], src.predictions[:, t])
        np.testing.assert_array_equal(out.val_r_folds[:, t], src.val_r_folds[:, t])
        assert src.val_r[t] == max(a.val_r[t], b.val_r[t])
