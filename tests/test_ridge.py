"""Tests of the ridge CV engine (encoding.ridge) and the r helpers (encoding.scoring)."""

import logging

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from mmsites.encoding.folds import Fold, contiguous_folds
from mmsites.encoding.ridge import DEFAULT_ALPHAS, CVEngine, ridge_cv
from mmsites.encoding.scoring import pearson_r

ALPHAS = DEFAULT_ALPHAS


def make_data(n=120, p=12, t=9, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    # Features with offsets and scales that differ, so z-scoring matters.
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 20, p) + rng.uniform(-50, 50, p)
    Xs = (X - X.mean(0)) / X.std(0)
    # Mixed signal strengths so different targets prefer different alphas.
    W = rng.standard_normal((p, t)) * np.logspace(-2, 0.5, t)
    Y = Xs @ W + noise * rng.standard_normal((n, t)) + rng.uniform(-5, 5, t)
    return X, Y


def oracle_cv(X, Y, folds, alphas):
    """Slow direct computation: per fold and alpha, z-score, solve with lstsq, score with
    np.corrcoef; then the study's alpha rule (max of the fold-mean validation r)."""
    xs = X if isinstance(X, list) else [X] * len(folds)
    n_f, n_a, t = len(folds), len(alphas), Y.shape[1]
    val = np.zeros((n_f, n_a, t))
    test = np.zeros((n_f, n_a, t))
    preds = np.zeros((n_a, Y.shape[0], t))
    for k, f in enumerate(folds):
        x = xs[k]
        mu, sd = x[f.train].mean(0), x[f.train].std(0)
        sd = np.where(sd > 1e-10 * np.maximum(1, np.abs(mu)), sd, np.inf)
        z = (x - mu) / sd
        ztr, ymu = z[f.train], Y[f.train].mean(0)
        for a, alpha in enumerate(alphas):
            w = np.linalg.lstsq(
                ztr.T @ ztr + alpha * np.eye(z.shape[1]), ztr.T @ (Y[f.train] - ymu), rcond=None
            )[0]
            pr = z @ w + ymu
            for part, out in ((f.val, val), (f.test, test)):
                preds[a, part] = pr[part]
                for j in range(t):
                    out[k, a, j] = np.corrcoef(pr[part, j], Y[part, j])[0, 1]
    best = val.mean(0).argmax(0)
    cols = np.arange(t)
    return dict(
        alpha=np.asarray(alphas)[best],
        val_r=val.mean(0)[best, cols],
        test_r=test.mean(0)[best, cols],
        test_r_folds=test[:, best, cols],
        predictions=preds[best, :, cols].T,
        val_all=val,
        test_all=test,
    )


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 2e-4)])
def test_matches_direct_oracle(dtype, tol):
    X, Y = make_data()
    folds = contiguous_folds(len(X), 5)
    res = CVEngine(X, folds, ALPHAS, device="cpu", dtype=dtype).fit(Y)
    ref = oracle_cv(X, Y, folds, ALPHAS)
    np.testing.assert_array_equal(res.alpha, ref["alpha"])
    assert len(np.unique(res.alpha)) >= 3  # the test exercises several chosen alphas
    np.testing.assert_allclose(res.test_r, ref["test_r"], atol=tol)
    np.testing.assert_allclose(res.val_r, ref["val_r"], atol=tol)
    np.testing.assert_allclose(res.test_r_folds, ref["test_r_folds"], atol=tol)
    scale = np.abs(Y).max()
    np.testing.assert_allclose(res.predictions, ref["predictions"], atol=max(tol, 1e-6) * scale)
    assert res.valid.all()
    assert res.predictions.dtype == np.float32


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(30, 90),
    p=st.integers(1, 50),
    n_folds=st.integers(2, 5),
    t=st.integers(1, 4),
)
def test_matches_oracle_on_random_shapes(seed, n, p, n_folds, t):
    # Covers both decompositions (p below and above the training size) and fold counts.
    X, Y = make_data(n=n, p=p, t=t, seed=seed)
    folds = contiguous_folds(n, n_folds)
    res = CVEngine(X, folds, ALPHAS, device="cpu", dtype=torch.float64).fit(Y)
    ref = oracle_cv(X, Y, folds, ALPHAS)
    # Validation r can tie exactly (e.g. one feature: every alpha gives proportional
    # predictions), so check that our alpha is a maximiser and the scores at it agree.
    ours = np.searchsorted(ALPHAS, res.alpha)
    cols = np.arange(t)
    val_mean = ref["val_all"].mean(0)
    assert np.all(val_mean[ours, cols] >= val_mean.max(0) - 1e-9)
    np.testing.assert_allclose(res.val_r, ref["val_r"], atol=1e-8)
    np.testing.assert_allclose(res.test_r, ref["test_all"].mean(0)[ours, cols], atol=1e-8)
    np.testing.assert_allclose(res.val_r_alphas, val_mean, atol=1e-8)


@pytest.mark.parametrize("alpha", [0.1, 10.0, 1e4])
def test_predictions_match_sklearn_ridge(alpha):
    X, Y = make_data(n=100, p=8, t=4, seed=1)
    folds = contiguous_folds(len(X), 5)
    res = CVEngine(X, folds, [alpha], device="cpu", dtype=torch.float64).fit(Y)
    for f in folds:
        sc = StandardScaler().fit(X[f.train])
        model = Ridge(alpha=alpha).fit(sc.transform(X[f.train]), Y[f.train])
        held = np.concatenate([f.val, f.test])
        np.testing.assert_allclose(
            res.predictions[held], model.predict(sc.transform(X[held])), rtol=1e-5, atol=1e-5
        )


def test_more_features_than_training_events_uses_dual_path():
    X, Y = make_data(n=60, p=90, t=5, seed=2)
    folds = contiguous_folds(len(X), 5)
    res = CVEngine(X, folds, ALPHAS, device="cpu", dtype=torch.float64).fit(Y)
    ref = oracle_cv(X, Y, folds, ALPHAS)
    np.testing.assert_array_equal(res.alpha, ref["alpha"])
    np.testing.assert_allclose(res.test_r, ref["test_r"], atol=1e-8)
    np.testing.assert_allclose(res.predictions, ref["predictions"], atol=1e-5)


def test_per_fold_feature_list_path():
    X, Y = make_data(n=100, p=10, t=6, seed=3)
    rng = np.random.default_rng(3)
    folds = contiguous_folds(len(X), 5)
    # Per-fold features of different widths (as a per-fold fitted MultiLin would give).
    xs = [X[:, : 6 + k] @ rng.standard_normal((6 + k, 6 + k)) for k in range(5)]
    res = CVEngine(xs, folds, ALPHAS, device="cpu", dtype=torch.float64).fit(Y)
    ref = oracle_cv(xs, Y, folds, ALPHAS)
    np.testing.assert_array_equal(res.alpha, ref["alpha"])
    np.testing.assert_allclose(res.test_r, ref["test_r"], atol=1e-8)
    np.testing.assert_allclose(res.predictions, ref["predictions"], atol=1e-5)
    perm = np.random.default_rng(4).permutation(len(X))
    eng = CVEngine(xs, folds, ALPHAS, device="cpu", dtype=torch.float64)
    np.testing.assert_allclose(eng.fit_permuted(Y, perm[None])[0][0], eng.fit(Y[perm]).test_r, atol=1e-10)
    with pytest.raises(ValueError, match="one array per fold"):
        CVEngine(xs[:4], folds, device="cpu")


def test_ridge_cv_convenience_and_target_batches_agree():
    X, Y = make_data(seed=4)
    a = ridge_cv(X, Y, device="cpu", dtype=torch.float64)
    b = CVEngine(X, 5, device="cpu", dtype=torch.float64, target_batch=2).fit(Y)
    for name in ("test_r", "val_r", "alpha", "test_r_folds", "val_r_folds", "val_r_alphas"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-12)
    np.testing.assert_allclose(a.predictions, b.predictions, atol=1e-6)


def test_fit_permuted_equals_loop_of_fits():
    X, Y = make_data(n=90, p=10, t=7, seed=5)
    rng = np.random.default_rng(5)
    eng = CVEngine(X, 5, ALPHAS, device="cpu", dtype=torch.float64, target_batch=4)
    perms = np.stack([rng.permutation(len(X)) for _ in range(4)])
    # A block permutation (blocks of 9 events moved as units) is just another permutation.
    blocks = rng.permutation(10)
    perms = np.vstack([perms, (blocks[:, None] * 9 + np.arange(9)).ravel()])
    test, val = eng.fit_permuted(Y, perms)
    assert test.shape == val.shape == (5, 7)
    for i, perm in enumerate(perms):
        ref = eng.fit(Y[perm])
        np.testing.assert_allclose(test[i], ref.test_r, atol=1e-10)
        np.testing.assert_allclose(val[i], ref.val_r, atol=1e-10)
    with pytest.raises(ValueError, match="row 1 is not a permutation"):
        eng.fit_permuted(Y, np.vstack([perms[0], np.zeros(len(X), int)]))


def test_fit_resampled_equals_fresh_engines():
    X, Y = make_data(n=90, p=10, t=5, seed=6)
    rng = np.random.default_rng(6)
    eng = CVEngine(X, 5, ALPHAS, device="cpu", dtype=torch.float64)
    res = np.sort(rng.integers(0, len(X), (3, len(X))), axis=1)
    test, val = eng.fit_resampled(Y, res)
    for i, idx in enumerate(res):
        ref = CVEngine(X[idx], 5, ALPHAS, device="cpu", dtype=torch.float64).fit(Y[idx])
        np.testing.assert_allclose(test[i], ref.test_r, atol=1e-10)
        np.testing.assert_allclose(val[i], ref.val_r, atol=1e-10)


def test_fit_resampled_per_fold_features():
    X, Y = make_data(n=80, p=8, t=3, seed=7)
    xs = [X[:, k:] for k in range(5)]
    idx = np.sort(np.random.default_rng(7).integers(0, 80, (1, 80)), axis=1)
    test, _ = CVEngine(xs, 5, device="cpu", dtype=torch.float64).fit_resampled(Y, idx)
    ref = CVEngine([x[idx[0]] for x in xs], 5, device="cpu", dtype=torch.float64).fit(Y[idx[0]])
    np.testing.assert_allclose(test[0], ref.test_r, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), log_scale=st.floats(-3, 3), shift=st.floats(-1e3, 1e3))
def test_invariant_to_feature_affine_rescaling(seed, log_scale, shift):
    # Per-fold z-scoring makes the fit blind to positive per-feature scales and offsets.
    X, Y = make_data(n=70, p=6, t=4, seed=seed)
    scales = 10.0 ** (log_scale * np.linspace(-1, 1, X.shape[1]))
    a = CVEngine(X, 5, device="cpu", dtype=torch.float64).fit(Y)
    b = CVEngine(X * scales + shift, 5, device="cpu", dtype=torch.float64).fit(Y)
    np.testing.assert_allclose(a.val_r_alphas, b.val_r_alphas, atol=1e-7)
    np.testing.assert_allclose(a.test_r, b.test_r, atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_events=st.integers(30, 80), p=st.integers(1, 40))
def test_shrinkage_monotone_in_alpha(seed, n_events, p):
    # Scored on the training rows themselves, the fitted values' spread around the training
    # mean, sum_k (s_k^2 / (s_k^2 + alpha))^2 (u_k'y)^2, can only shrink as alpha grows.
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_events, p))
    Y = rng.standard_normal((n_events, 3)) + X[:, :1]
    every = np.arange(n_events)
    fold = Fold(train=every, val=every, test=every)
    spreads = []
    for alpha in DEFAULT_ALPHAS:
        pr = CVEngine(X, [fold, fold], [alpha], device="cpu", dtype=torch.float64).fit(Y).predictions
        spreads.append(np.linalg.norm(pr - Y.mean(0), axis=0))
    assert np.all(np.diff(np.array(spreads), axis=0) <= 1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 50))
def test_pearson_r_matches_numpy(seed, n):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    ref = [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(3)]
    np.testing.assert_allclose(pearson_r(a, b), ref, atol=1e-12)
    np.testing.assert_allclose(pearson_r(a.T, b.T, axis=1), ref, atol=1e-12)


def test_pearson_r_constant_column_is_zero_with_warning(caplog):
    a = np.c_[np.ones(10), np.arange(10.0)]
    with caplog.at_level(logging.WARNING):
        r = pearson_r(a, np.c_[np.arange(10.0), np.arange(10.0)])
    np.testing.assert_allclose(r, [0.0, 1.0])
    assert "1 r value(s) set to 0" in caplog.text
    with pytest.raises(ValueError, match="non-finite value at index"):
        pearson_r(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def test_constant_feature_and_constant_target(caplog):
    X, Y = make_data(n=80, p=6, t=4, seed=8)
    X[:, 2] = 7.0  # constant everywhere
    X[:16, 3] = 1.0  # constant on the training rows of no fold... and
    Y[:, 1] = 3.5  # a constant target
    folds = contiguous_folds(80, 5)
    with caplog.at_level(logging.WARNING):
        res = CVEngine(X, folds, device="cpu", dtype=torch.float64).fit(Y)
    assert "constant over all events" in caplog.text
    assert not res.valid[1] and res.valid[[0, 2, 3]].all()
    assert res.test_r[1] == 0 and res.val_r[1] == 0 and np.isnan(res.alpha[1])
    assert np.isfinite(res.test_r).all() and np.isfinite(res.predictions).all()
    np.testing.assert_allclose(res.predictions[:, 1], 3.5, rtol=1e-6)
    keep = [0, 2, 3]
    ref = oracle_cv(X, Y[:, keep], folds, DEFAULT_ALPHAS)
    np.testing.assert_allclose(res.test_r[keep], ref["test_r"], atol=1e-8)
    # A feature constant only on one fold's training rows: that fold gives it weight 0.
    X2 = X.copy()
    X2[16:, 4] = -2.0
    res2 = CVEngine(X2, folds, [1.0], device="cpu", dtype=torch.float64).fit(Y[:, keep])
    f = folds[0]
    sc = StandardScaler().fit(X2[f.train])
    m = Ridge(alpha=1.0).fit(sc.transform(X2[f.train]), Y[f.train][:, keep])
    held = np.concatenate([f.val, f.test])
    np.testing.assert_allclose(res2.predictions[held], m.predict(sc.transform(X2[held])), atol=1e-5)


def test_bad_inputs_give_clear_errors():
    X, Y = make_data(n=60, p=5, t=3, seed=9)
    Xn = X.copy()
    Xn[7, 3] = np.nan
    with pytest.raises(ValueError, match="X has a non-finite value .* event 7, feature 3"):
        CVEngine(Xn, 5, device="cpu")
    eng = CVEngine(X, 5, device="cpu")
    Yn = Y.copy()
    Yn[4, 2] = np.inf
    with pytest.raises(ValueError, match="Y has a non-finite value .* event 4, target 2"):
        eng.fit(Yn)
    with pytest.raises(ValueError, match=r"X has shape \(60, 5\), Y has shape \(59, 3\)"):
        eng.fit(Y[:-1])
    with pytest.raises(ValueError, match="too few for 5 folds"):
        CVEngine(X[:20], 5, device="cpu")
    with pytest.raises(ValueError, match="alphas must be positive"):
        CVEngine(X, 5, [0.0, 1.0], device="cpu")
    with pytest.raises(ValueError, match="single column"):
        eng.fit(Y[:, 0])
    with pytest.raises(ValueError, match="Y has no targets"):
        eng.fit(Y[:, :0])
    with pytest.raises(ValueError, match="X is empty"):
        CVEngine(X[:, :0], 5, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    X, Y = make_data(n=150, p=20, t=30, seed=10)
    a = CVEngine(X, 5, device="cpu", dtype=torch.float64).fit(Y)
    eng = CVEngine(X, 5, device="cuda", dtype=torch.float64, target_batch=7)
    b = eng.fit(Y)
    np.testing.assert_array_equal(a.alpha, b.alpha)
    np.testing.assert_allclose(a.test_r, b.test_r, atol=1e-9)
    perms = np.stack([np.random.default_rng(i).permutation(150) for i in range(2)])
    np.testing.assert_allclose(
        eng.fit_permuted(Y, perms)[0],
        CVEngine(X, 5, device="cpu", dtype=torch.float64).fit_permuted(Y, perms)[0],
        atol=1e-9,
    )
