"""Per-fold targets in the ridge CV engine: ``fit(Y)`` with ``Y`` a list of one array per fold."""

import logging

import numpy as np
import pytest
import torch

from mmsites.encoding.folds import Fold, contiguous_folds
from mmsites.encoding.ridge import DEFAULT_ALPHAS, CVEngine

ALPHAS = DEFAULT_ALPHAS
F64 = dict(device="cpu", dtype=torch.float64)


def make_data(n=100, p=10, t=6, n_folds=5, seed=0):
    """Features, one shared target matrix, and per-fold targets that differ from it (a
    fold-specific mixing of the targets plus an offset, as a per-fold reduction gives)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 20, p) + rng.uniform(-50, 50, p)
    Xs = (X - X.mean(0)) / X.std(0)
    W = rng.standard_normal((p, t)) * np.logspace(-2, 0.5, t)  # several preferred alphas
    Y = Xs @ W + rng.standard_normal((n, t)) + rng.uniform(-5, 5, t)
    ys = [
        Y @ (np.diag(rng.uniform(0.5, 2, t)) + 0.05 * rng.standard_normal((t, t)))
        + 0.3 * rng.standard_normal((n, t))
        + rng.uniform(-3, 3, t)
        for _ in range(n_folds)
    ]
    return X, Y, ys


def oracle(X, ys, folds, alphas):
    """Slow direct per-fold ridge: z-score on the training rows, numpy solve for every alpha,
    r against fold k's own targets, alpha by the fold-mean validation r."""
    xs = X if isinstance(X, list) else [X] * len(folds)
    n_f, n_a, t = len(folds), len(alphas), ys[0].shape[1]
    val = np.zeros((n_f, n_a, t))
    test = np.zeros((n_f, n_a, t))
    preds = np.full((n_a, ys[0].shape[0], t), np.nan)
    for k, f in enumerate(folds):
        x, y = xs[k], ys[k]
        mu, sd = x[f.train].mean(0), x[f.train].std(0)
        z = (x - mu) / sd
        ztr, ymu = z[f.train], y[f.train].mean(0)
        for a, alpha in enumerate(alphas):
            w = np.linalg.solve(ztr.T @ ztr + alpha * np.eye(z.shape[1]), ztr.T @ (y[f.train] - ymu))
            pr = z @ w + ymu
            for part, out in ((f.val, val), (f.test, test)):
                preds[a, part] = pr[part]
                for j in range(t):
                    out[k, a, j] = np.corrcoef(pr[part, j], y[part, j])[0, 1]
    best = val.mean(0).argmax(0)
    cols = np.arange(t)
    return dict(
        alpha=np.asarray(alphas)[best],
        val_r_folds=val[:, best, cols],
        test_r_folds=test[:, best, cols],
        val_r_alphas=val.mean(0),
        predictions=preds[best, :, cols].T,
    )


def assert_same_result(a, b, atol=1e-10):
    np.testing.assert_array_equal(a.alpha, b.alpha)
    np.testing.assert_array_equal(a.valid, b.valid)
    for name in ("test_r", "val_r", "test_r_folds", "val_r_folds", "val_r_alphas"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=atol, err_msg=name)
    np.testing.assert_allclose(a.predictions, b.predictions, rtol=1e-6, atol=1e-5)


def interleaved_folds(n, n_folds, seed):
    """Scattered folds (many role groups): the engine's direct per-fold product path."""
    owner = np.random.default_rng(seed).permutation(np.arange(n) % n_folds)
    every = np.arange(n)
    folds = []
    for k in range(n_folds):
        held = every[owner == k]
        half = len(held) // 2
        folds.append(Fold(train=every[owner != k], val=held[:half], test=held[half:]))
    return folds


@pytest.mark.parametrize("scattered", [False, True])
def test_identical_list_equals_single_y(scattered):
    X, Y, _ = make_data(seed=1)
    folds = interleaved_folds(len(X), 5, 1) if scattered else contiguous_folds(len(X), 5)
    eng = CVEngine(X, folds, ALPHAS, **F64)
    same = [Y.copy() for _ in folds]
    assert_same_result(eng.fit(same), eng.fit(Y))
    assert_same_result(eng.fit(tuple(same)), eng.fit(Y))
    rng = np.random.default_rng(1)
    perms = np.stack([rng.permutation(len(X)) for _ in range(3)])
    for a, b in zip(eng.fit_permuted(same, perms), eng.fit_permuted(Y, perms)):
        np.testing.assert_allclose(a, b, atol=1e-10)
    res = np.sort(rng.integers(0, len(X), (2, len(X))), axis=1)
    for a, b in zip(eng.fit_resampled(same, res), eng.fit_resampled(Y, res)):
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_identical_list_equals_single_y_per_fold_features():
    X, Y, _ = make_data(seed=2)
    xs = [X[:, k:] for k in range(5)]
    eng = CVEngine(xs, 5, ALPHAS, **F64)
    assert_same_result(eng.fit([Y] * 5), eng.fit(Y))


@pytest.mark.parametrize("per_fold_x", [False, True])
def test_matches_direct_oracle(per_fold_x):
    X, _, ys = make_data(seed=3)
    folds = contiguous_folds(len(X), 5)
    rng = np.random.default_rng(3)
    if per_fold_x:  # per-fold features of different widths
        X = [X[:, : 6 + k] @ rng.standard_normal((6 + k, 6 + k)) for k in range(5)]
    res = CVEngine(X, folds, ALPHAS, **F64).fit(ys)
    ref = oracle(X, ys, folds, ALPHAS)
    np.testing.assert_array_equal(res.alpha, ref["alpha"])
    assert len(np.unique(res.alpha)) >= 2  # several chosen alphas
    for name in ("test_r_folds", "val_r_folds", "val_r_alphas"):
        np.testing.assert_allclose(getattr(res, name), ref[name], atol=1e-9, err_msg=name)
    np.testing.assert_allclose(res.test_r, ref["test_r_folds"].mean(0), atol=1e-9)
    np.testing.assert_allclose(res.val_r, ref["val_r_folds"].mean(0), atol=1e-9)
    # Held-out predictions are predictions of each fold's own targets (float32 storage).
    scale = max(np.abs(y).max() for y in ys)
    np.testing.assert_allclose(res.predictions, ref["predictions"], atol=1e-6 * scale)
    assert res.valid.all()


def test_batches_permutations_and_resamples_of_per_fold_targets():
    X, _, ys = make_data(n=90, p=8, t=5, seed=4)
    eng = CVEngine(X, 5, ALPHAS, **F64)
    full = eng.fit(ys)
    assert_same_result(CVEngine(X, 5, ALPHAS, target_batch=2, **F64).fit(ys), full)
    rng = np.random.default_rng(4)
    perms = np.stack([rng.permutation(len(X)) for _ in range(2)])
    test, val = CVEngine(X, 5, ALPHAS, target_batch=2, **F64).fit_permuted(ys, perms)
    for i, perm in enumerate(perms):
        ref = eng.fit([y[perm] for y in ys])
        np.testing.assert_allclose(test[i], ref.test_r, atol=1e-10)
        np.testing.assert_allclose(val[i], ref.val_r, atol=1e-10)
    res = np.sort(rng.integers(0, len(X), (2, len(X))), axis=1)
    test, val = eng.fit_resampled(ys, res)
    for i, idx in enumerate(res):
        ref = CVEngine(X[idx], 5, ALPHAS, **F64).fit([y[idx] for y in ys])
        np.testing.assert_allclose(test[i], ref.test_r, atol=1e-10)
        np.testing.assert_allclose(val[i], ref.val_r, atol=1e-10)


def test_bad_per_fold_targets_give_clear_errors():
    X, Y, ys = make_data(n=60, p=5, t=3, seed=5)
    eng = CVEngine(X, 5, device="cpu")
    with pytest.raises(ValueError, match="list of 4 per-fold target arrays but there are 5 folds"):
        eng.fit(ys[:4])
    with pytest.raises(ValueError, match=r"Y\[2\] has shape \(60, 2\) but Y\[0\] has \(60, 3\)"):
        eng.fit(ys[:2] + [ys[2][:, :2]] + ys[3:])
    with pytest.raises(ValueError, match=r"X has shape \(60, 5\), Y\[0\] has shape \(59, 3\)"):
        eng.fit([y[:-1] for y in ys])
    bad = [y.copy() for y in ys]
    bad[3][7, 1] = np.nan
    with pytest.raises(ValueError, match=r"Y\[3\] has a non-finite value .* event 7, target 1"):
        eng.fit(bad)
    with pytest.raises(ValueError, match=r"Y\[3\] has a non-finite value"):
        eng.fit_permuted(bad, np.arange(60))
    with pytest.raises(ValueError, match=r"Y\[3\] has a non-finite value"):
        eng.fit_resampled(bad, np.arange(60))
    with pytest.raises(ValueError, match=r"Y\[1\] must hold real numbers"):
        eng.fit([ys[0], ys[1] + 1j, *ys[2:]])


def test_target_constant_in_one_fold_is_invalid(caplog):
    X, _, ys = make_data(n=80, p=6, t=4, seed=6)
    ys = [y.copy() for y in ys]
    ys[2][:, 1] = 3.5  # constant in fold 2's array only
    eng = CVEngine(X, 5, ALPHAS, **F64)
    with caplog.at_level(logging.WARNING):
        res = eng.fit(ys)
    assert "constant over all events in at least one fold's array" in caplog.text
    assert not res.valid[1] and res.valid[[0, 2, 3]].all()
    assert np.isnan(res.alpha[1]) and res.test_r[1] == 0 and res.val_r[1] == 0
    assert (res.test_r_folds[:, 1] == 0).all() and (res.val_r_alphas[:, 1] == 0).all()
    keep = [0, 2, 3]
    ref = eng.fit([y[:, keep] for y in ys])
    np.testing.assert_allclose(res.test_r_folds[:, keep], ref.test_r_folds, atol=1e-10)
    np.testing.assert_array_equal(res.alpha[keep], ref.alpha)
    test, _ = eng.fit_permuted(ys, np.random.default_rng(6).permutation(80))
    assert test[0, 1] == 0
