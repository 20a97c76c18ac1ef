"""The ridge engine against himalaya (the peer for many-target ridge), on the same folds.

Per fold, himalaya's SVD solver scores each alpha on the validation half with correlation
(``solve_ridge_cv_svd`` with one split), the alpha of each target is the one with the best
fold-averaged validation r (the study's rule), and himalaya's ``Ridge`` at those per-target
alphas predicts the test half. Alphas, validation and test r, and predictions must agree.
"""

import numpy as np
import pytest
import torch

from mmsites.encoding.folds import contiguous_folds
from mmsites.encoding.ridge import DEFAULT_ALPHAS, CVEngine

himalaya = pytest.importorskip("himalaya")


@pytest.mark.parametrize("n_features", [12, 150])  # primal and dual (more features than training rows)
def test_engine_matches_himalaya(n_features):
    from himalaya.backend import set_backend
    from himalaya.ridge import Ridge, solve_ridge_cv_svd
    from himalaya.scoring import correlation_score

    set_backend("numpy", on_error="raise")
    rng = np.random.default_rng(3)
    n, t = 140, 10
    X = rng.standard_normal((n, n_features)) * rng.uniform(0.5, 5, n_features) + rng.uniform(
        -3, 3, n_features
    )
    W = rng.standard_normal((n_features, t)) * (rng.random((n_features, t)) < 0.3)
    Y = X @ W + rng.standard_normal((n, t)) * rng.uniform(1, 30, t) + 5.0
    alphas = np.asarray(DEFAULT_ALPHAS, dtype=float)
    folds = contiguous_folds(n, 5)
    ours = CVEngine(X, folds, alphas, device="cpu", dtype=torch.float64).fit(Y)

    val_scores, Xz = [], []
    for fold in folds:
        mean, std = X[fold.train].mean(0), X[fold.train].std(0)
        Xz.append((X - mean) / std)  # features z-scored on training rows
        rows = np.concatenate([fold.train, fold.val])
        split = [(np.arange(fold.train.size), np.arange(fold.train.size, rows.size))]
        # himalaya returns the score of the best alpha only: ask it one alpha at a time.
        scores = [
            solve_ridge_cv_svd(
                Xz[-1][rows],
                Y[rows],
                alphas=np.array([a]),
                fit_intercept=True,
                score_func=correlation_score,
                cv=split,
                warn=False,
            )[2]
            for a in alphas
        ]
        val_scores.append(np.concatenate([np.reshape(s_, (1, -1)) for s_ in scores]))  # (n_alphas, n_targets)
    mean_val = np.mean(val_scores, axis=0)
    np.testing.assert_array_equal(ours.alpha, alphas[mean_val.argmax(0)])
    np.testing.assert_allclose(ours.val_r, mean_val.max(0), atol=1e-8)

    test_r = []
    for fold, xz in zip(folds, Xz):
        model = Ridge(alpha=ours.alpha, fit_intercept=True, solver_params={"warn": False}).fit(
            xz[fold.train], Y[fold.train]
        )
        pred = np.asarray(model.predict(xz[fold.test]))
        np.testing.assert_allclose(ours.predictions[fold.test], pred, rtol=1e-6, atol=1e-6 * np.abs(Y).max())
        test_r.append(np.asarray(correlation_score(Y[fold.test], pred)))
    np.testing.assert_allclose(ours.test_r, np.mean(test_r, axis=0), atol=1e-8)
