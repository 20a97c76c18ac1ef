"""Paired comparisons against slow loops, the default-winner rule, and BH FDR by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.encoding.folds import contiguous_folds
from mmsites.encoding.scoring import pearson_r
from mmsites.stats.compare import (
    compare_models,
    electrode_scores,
    paired_bootstrap_test,
    paired_permutation_null,
    paired_permutation_test,
)
from mmsites.stats.fdr import fdr_bh
from mmsites.stats.resampling import block_swaps, chunks


def fold_r(pred, Y, folds):
    return np.mean([pearson_r(pred[f.test], Y[f.test]) for f in folds], axis=0)


def slow_paired_null(a, b, Y, folds, swaps, union):
    a, b = a.copy(), b.copy()
    for f in folds:  # z-score each model within each test part
        for x in (a, b):
            x[f.test] = (x[f.test] - x[f.test].mean(0)) / x[f.test].std(0)
    out = []
    for s in swaps:
        a2 = np.where(s[:, None], b, a)
        b2 = np.where(s[:, None], a, b)
        d = (fold_r(a2, Y, folds) - fold_r(b2, Y, folds)).reshape(union.shape)
        out.append([d[e][union[e]].mean() if union[e].any() else 0.0 for e in range(len(union))])
    return np.array(out)


def _data(seed, n=60, E=3, nb=4):
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((n, E * nb)) + 3
    a = 0.6 * Y + rng.standard_normal((n, E * nb))
    b = 0.3 * Y + rng.standard_normal((n, E * nb)) - 1
    return a, b, Y


def test_paired_null_matches_slow_swaps():
    a, b, Y = _data(0)
    folds = contiguous_folds(60, 5)
    swaps = np.vstack([np.zeros((1, 60), bool), block_swaps(60, 8, block=4, seed=0)])
    union = np.random.default_rng(1).random((3, 4)) < 0.6
    union[2] = False  # an electrode with no bins: 0
    import torch

    fast = paired_permutation_null(a, b, Y, folds, swaps, union, dtype=torch.float64)
    np.testing.assert_allclose(fast, slow_paired_null(a, b, Y, folds, swaps, union), atol=1e-12)
    # The default float32 agrees to its rounding.
    np.testing.assert_allclose(paired_permutation_null(a, b, Y, folds, swaps, union), fast, atol=2e-6)
    # Row 0 (no swap) is the observed statistic.
    d = (fold_r(a, Y, folds) - fold_r(b, Y, folds)).reshape(3, 4)
    assert fast[0, 0] == pytest.approx(d[0][union[0]].mean())
    # Chunks of swaps give the rows of the whole.
    parts = np.vstack(
        [
            paired_permutation_null(a, b, Y, folds, swaps[s], union, max_bytes=1, dtype=torch.float64)
            for s in chunks(len(swaps), 3)
        ]
    )
    np.testing.assert_allclose(parts, fast, atol=1e-13)


def test_paired_permutation_test_finds_the_better_model_and_not_the_worse():
    a, b, Y = _data(2, n=200, E=4, nb=5)
    folds = contiguous_folds(200, 5)
    swaps = block_swaps(200, 99, block=5, seed=0)
    sig = np.ones(20, bool)
    stat, p = paired_permutation_test(a, b, Y, folds, swaps, sig, sig, 5)
    assert np.all(stat > 0) and np.all(p < 0.05)
    _, p_rev = paired_permutation_test(b, a, Y, folds, swaps, sig, sig, 5)
    assert np.all(p_rev > 0.5)


def test_paired_bootstrap_test_matches_a_loop():
    rng = np.random.default_rng(3)
    B, E, nb = 40, 3, 4
    ta = rng.standard_normal((B, E * nb)) * 0.1 + 0.05
    tb = rng.standard_normal((B, E * nb)) * 0.1
    sa = rng.random(E * nb) < 0.7
    sb = rng.random(E * nb) < 0.7
    stat, p = paired_bootstrap_test(ta, tb, sa, sb, nb)
    u = (sa | sb).reshape(E, nb)
    for e in range(E):
        d = [(ta[i] - tb[i]).reshape(E, nb)[e][u[e]].mean() for i in range(B)]
        assert stat[e] == pytest.approx(np.mean(d))
        assert p[e] == (1 + sum(x <= 0 for x in d)) / (1 + B)


def test_default_winner_rule_and_scores():
    nb = 12
    ra = np.tile(np.linspace(0.1, 0.3, nb), 3)
    rb = np.full(3 * nb, 0.1)
    sa = np.zeros(3 * nb, bool)
    sb = np.zeros(3 * nb, bool)
    sa[:12] = True  # electrode 0: a 12 bins, b 3 → a wins by default
    sb[:3] = True
    sa[12:24] = sb[12:24] = True  # electrode 1: both 12 → tested
    sb[24:34] = True  # electrode 2: only b has 10 → b wins by default
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((60, 3 * nb))
    kwargs = dict(
        min_signal_bins=10,
        method="permutation",
        pred_a=Y + rng.standard_normal(Y.shape),
        pred_b=rng.standard_normal(Y.shape),
        Y=Y,
        folds=contiguous_folds(60, 5),
        swaps=block_swaps(60, 19, block=3, seed=0),
    )
    # The released code's rule: a lone model with enough signal bins wins untested.
    df = compare_models(ra, rb, sa, sb, nb, default_winner="count", **kwargs)
    assert df["default_winner"].tolist() == ["a", "", "b"]
    assert np.isnan(df["p_value"][0]) and np.isnan(df["p_value"][2]) and df["p_value"][1] > 0
    # The default: such pairs are tested, nobody wins by default.
    tested = compare_models(ra, rb, sa, sb, nb, **kwargs)
    assert tested["default_winner"].tolist() == ["", "", ""]
    assert tested["p_value"].notna().all()
    np.testing.assert_allclose(tested["p_value"][1], df["p_value"][1])
    # "none": only pairs where both models have enough bins are compared.
    skipped = compare_models(ra, rb, sa, sb, nb, default_winner="none", **kwargs)
    assert skipped["p_value"].isna().tolist() == [True, False, True]
    assert skipped["default_winner"].tolist() == ["", "", ""]
    with pytest.raises(ValueError, match="default_winner"):
        compare_models(ra, rb, sa, sb, nb, default_winner="maybe", **kwargs)
    score, n = electrode_scores(ra, sa, nb)
    assert n.tolist() == [12, 12, 0] and np.isnan(score[2])
    assert score[0] == pytest.approx(ra[:12].mean())
    assert df["delta"][1] == pytest.approx(ra[12:24].mean() - 0.1)
    with pytest.raises(ValueError, match="needs pred_a"):
        compare_models(ra, rb, sa, sb, nb, method="permutation")


def hand_bh(p):
    """Benjamini–Hochberg step-up, written out."""
    m = len(p)
    order = np.argsort(p)
    q = np.empty(m)
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q


@settings(max_examples=50, deadline=None)
@given(p=st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=30))
def test_fdr_matches_hand_bh_ignoring_nans(p):
    p = np.array(p)
    q, sig = fdr_bh(p, 0.05)
    ok = ~np.isnan(p)
    assert np.all(np.isnan(q[~ok])) and not sig[~ok].any()
    if ok.any():
        np.testing.assert_allclose(q[ok], hand_bh(p[ok]), rtol=1e-12, atol=1e-15)
        assert np.array_equal(sig[ok], q[ok] < 0.05)


def test_fdr_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fdr_bh(np.array([0.5, 1.5]))


def test_paired_permutation_test_is_calibrated_for_exchangeable_models():
    from scipy import stats as sps

    from mmsites.stats.simulate import ar1

    n, E, nb = 200, 100, 2
    folds = contiguous_folds(n, 5)
    sig = np.ones(E * nb, bool)
    ps = []
    for seed in range(3):
        shared = ar1(n, E * nb, phi=0.7, seed=seed)
        Y = shared + ar1(n, E * nb, phi=0.7, seed=seed + 10)
        a = shared + ar1(n, E * nb, phi=0.7, seed=seed + 20)  # a and b equally good
        b = shared + ar1(n, E * nb, phi=0.7, seed=seed + 30)
        ps.append(
            paired_permutation_test(a, b, Y, folds, block_swaps(n, 99, block=10, seed=seed), sig, sig, nb)[1]
        )
    p = np.concatenate(ps)
    assert sps.kstest(p, "uniform").pvalue > 0.01
    assert 0.01 <= (p < 0.05).mean() <= 0.09
