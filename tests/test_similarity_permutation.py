"""Permutation p-values of CKA and RSA (mmsites.similarity.permutation) and similarity
matrices (mmsites.similarity.pairwise): exact against the library's own measures, and a
calibrated null on autocorrelated data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmsites.similarity import linear_cka, rsa
from mmsites.similarity.pairwise import pairwise_similarity
from mmsites.similarity.permutation import permutation_pvalue, permutation_test
from mmsites.stats.resampling import block_permutations
from mmsites.stats.simulate import ar1


def _data(n=150, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6))
    Y = np.hstack(
        [X[:, :2] + rng.standard_normal((n, 2)), rng.standard_normal((n, 9)), rng.standard_normal((n, 1))]
    )
    return X, Y


GROUPS = [np.arange(12), np.arange(2), np.arange(2, 11), np.array([11]), np.array([0, 5, 11])]


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("width", [6, 24])  # narrower than Y (X re-indexed) and wider (Y re-indexed)
def test_cka_null_equals_linear_cka_of_each_repairing(debiased, width):
    X, Y = _data()
    X = np.hstack([X] * (width // 6))
    perms = block_permutations(len(X), 25, block=10, seed=1)
    for res, cols in zip(permutation_test(X, Y, perms, groups=GROUPS, debiased=debiased), GROUPS):
        Yg = Y[:, cols]
        assert res.observed == pytest.approx(linear_cka(X, Yg, debiased=debiased), abs=1e-12)
        expected = [linear_cka(X, Yg[p], debiased=debiased) for p in perms]
        np.testing.assert_allclose(res.null, expected, atol=1e-12)
        assert res.p_value == pytest.approx((1 + np.sum(res.null >= res.observed)) / (1 + len(perms)))


@pytest.mark.parametrize("similarity", ["cosine", "correlation"])
@pytest.mark.parametrize("compare", ["pearson", "spearman"])
def test_rsa_null_equals_rsa_of_each_repairing(similarity, compare):
    X, Y = _data(n=60)
    perms = block_permutations(len(X), 10, block=5, seed=2)
    groups = [np.arange(12), np.arange(2, 11)]
    results = permutation_test(
        X, Y, perms, groups=groups, statistic="rsa", similarity=similarity, compare=compare
    )
    for res, cols in zip(results, groups):
        Yg = Y[:, cols]
        assert res.observed == pytest.approx(rsa(X, Yg, similarity, compare), abs=1e-12)
        np.testing.assert_allclose(res.null, [rsa(X, Yg[p], similarity, compare) for p in perms], atol=1e-12)


def test_float32_inputs_agree_with_float64():
    X, Y = _data()
    perms = block_permutations(len(X), 20, block=10, seed=3)
    a = permutation_pvalue(X.astype(np.float32), Y.astype(np.float32), perms)
    b = permutation_pvalue(X, Y, perms)
    assert a.observed == pytest.approx(b.observed, abs=1e-5)
    np.testing.assert_allclose(a.null, b.null, atol=1e-5)


def test_a_callable_statistic_and_a_planted_relation():
    X, Y = _data()
    perms = block_permutations(len(X), 99, block=10, seed=4)
    res = permutation_pvalue(X, Y[:, :2], perms, statistic=lambda a, b: linear_cka(a, b))
    assert res.p_value == pytest.approx(0.01)  # the floor: no re-pairing reaches the relation
    assert res.observed == pytest.approx(permutation_pvalue(X, Y[:, :2], perms, debiased=False).observed)


def test_errors_are_clear():
    X, Y = _data(n=40)
    perms = block_permutations(40, 5, block=4, seed=0)
    with pytest.raises(ValueError, match="not a permutation"):
        permutation_pvalue(X, Y, np.zeros((2, 40), dtype=int))
    with pytest.raises(ValueError, match="n_events=40"):
        permutation_pvalue(X, Y, perms[:, :30])
    with pytest.raises(ValueError, match="groups\\[0\\]"):
        permutation_test(X, Y, perms, groups=[np.array([12])])
    with pytest.raises(ValueError, match="statistic"):
        permutation_pvalue(X, Y, perms, statistic="cca")
    with pytest.raises(ValueError, match="same number|rows|samples"):
        permutation_pvalue(X, Y[:30], perms)


def test_pairwise_similarity_equals_the_pairwise_calls():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((80, 5))
    reps = [base, base @ rng.standard_normal((5, 7)), rng.standard_normal((80, 3)), np.ones((80, 2))]
    for debiased in (False, True):
        M = pairwise_similarity(reps, "cka", debiased=debiased)
        for i in range(3):
            for j in range(3):
                assert M[i, j] == pytest.approx(linear_cka(reps[i], reps[j], debiased=debiased), abs=1e-12)
        assert (M[3] == 0).all() and (M[:, 3] == 0).all()  # constant: undefined, 0
    M = pairwise_similarity(reps[:3], "rsa", similarity="correlation", compare="spearman")
    for i in range(3):
        for j in range(3):
            assert M[i, j] == pytest.approx(rsa(reps[i], reps[j], "correlation", "spearman"), abs=1e-12)
    np.testing.assert_allclose(np.diag(M), 1.0)


def _null_rate(kind: str, block: int, draws: int, n: int = 300, n_perm: int = 49) -> tuple[float, float]:
    """Rejection rate at 0.05 and mean p of the debiased-CKA test on independent AR(1) data."""
    ps = []
    for k in range(draws):
        X, Y = ar1(n, 8, phi=0.9, seed=2 * k + 7), ar1(n, 4, phi=0.9, seed=2 * k + 8)
        perms = block_permutations(n, n_perm, block=block, seed=10_000 + k, kind=kind)
        ps.append(permutation_pvalue(X, Y, perms).p_value)
    ps = np.asarray(ps)
    return float((ps <= 0.05).mean()), float(ps.mean())


def test_the_null_is_calibrated_on_autocorrelated_data_and_the_naive_one_is_not():
    """Independent AR(1) features and responses (phi 0.9, 300 events): circular shifts (the
    stage's default, every shift) reject about 5 %; shuffling events one by one rejects most
    null tests (the autocorrelation makes chance alignment look like similarity)."""
    draws = 400
    margin = 3 * math.sqrt(0.05 * 0.95 / draws)
    rate, mean_p = _null_rate("circular", 1, draws)
    assert rate <= 0.05 + margin, rate
    assert 0.4 < mean_p < 0.6, mean_p  # about uniform
    naive, _ = _null_rate("block", 1, 60)
    assert naive > 0.5, naive
