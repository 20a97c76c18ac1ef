"""Per-fold PCA of multi-dimensional targets (encoding.targets.fold_pca_targets)."""

import logging

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA

from mmsites.encoding import CVEngine, FoldTargets, contiguous_folds, fold_pca_targets


def make_embeddings(n=80, n_units=3, n_dims=10, seed=0):
    """Embeddings with a few strong, distinct directions per unit, offsets and scales."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, n_units, 4)) * np.array([5.0, 3.0, 2.0, 1.2])
    mixing = rng.standard_normal((n_units, 4, n_dims))
    E = np.einsum("nul,uld->nud", latent, mixing) + 0.3 * rng.standard_normal((n, n_units, n_dims))
    return (E * rng.uniform(0.5, 3, n_dims) + rng.uniform(-20, 20, (n_units, n_dims))).astype(np.float32)


def signed(components):
    """The sign rule: each component's largest-magnitude loading positive."""
    top = np.abs(components).argmax(1)
    return np.where(components[np.arange(len(components)), top] < 0, -1.0, 1.0)


@pytest.mark.parametrize("whiten", [False, True])
def test_matches_sklearn_pca_on_training_rows(whiten):
    E = make_embeddings()
    folds = contiguous_folds(len(E), 5)
    ft = fold_pca_targets(E, folds, 3, whiten=whiten)
    assert isinstance(ft, FoldTargets) and ft.n_components == 3
    assert len(ft.per_fold) == 5 and all(y.shape == (80, 9) and y.dtype == np.float32 for y in ft.per_fold)
    assert ft.explained.shape == (5, 3, 3) and ft.held_out.shape == (80, 9)
    for k, f in enumerate(folds):
        for u in range(3):
            e = E[:, u, :].astype(np.float64)
            pca = PCA(3, svd_solver="full", whiten=whiten).fit(e[f.train])
            ref = pca.transform(e) * signed(pca.components_)
            ours = ft.per_fold[k][:, u * 3 : (u + 1) * 3]
            np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
            np.testing.assert_allclose(ft.explained[k, u], pca.explained_variance_ratio_, rtol=1e-8)


def test_held_out_rows_come_from_their_fold():
    E = make_embeddings(n=90, seed=1)
    folds = contiguous_folds(len(E), 5)
    ft = fold_pca_targets(E, folds, 2)
    for k, f in enumerate(folds):
        held = np.concatenate([f.val, f.test])
        np.testing.assert_array_equal(ft.held_out[held], ft.per_fold[k][held])
        other = ft.per_fold[(k + 1) % 5][held]
        assert not np.allclose(ft.held_out[held], other)  # folds do differ
    assert np.isfinite(ft.held_out).all()  # contiguous folds hold every event out once
    # Purged folds: validation events dropped near the test part are held out by no fold.
    times = np.arange(90) * 1.0
    purged = contiguous_folds(90, 5, times=times, gap_s=2.5)
    ft = fold_pca_targets(E, purged, 2)
    held = np.zeros(90, bool)
    for f in purged:
        held[f.val] = held[f.test] = True
    assert (~held).any()
    assert np.isnan(ft.held_out[~held]).all() and np.isfinite(ft.held_out[held]).all()


def test_held_out_events_do_not_shape_their_fold_components():
    # The leak test: change fold k's test (and validation) events; fold k's reduction is
    # fitted on its training events only, so its projection of every other event, and its
    # explained variance, stay the same. The other folds train on those events and change.
    E = make_embeddings(n=80, seed=2)
    folds = contiguous_folds(len(E), 5)
    k = 2
    a = fold_pca_targets(E, folds, 3)
    E2 = E.copy()
    E2[folds[k].test] = 100 * np.random.default_rng(2).standard_normal(E2[folds[k].test].shape)
    b = fold_pca_targets(E2, folds, 3)
    rest = np.setdiff1d(np.arange(80), folds[k].test)
    np.testing.assert_allclose(b.per_fold[k][rest], a.per_fold[k][rest], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.explained[k], a.explained[k], rtol=1e-12)
    assert not np.allclose(b.per_fold[k][folds[k].test], a.per_fold[k][folds[k].test])
    for j in set(range(5)) - {k}:
        assert not np.allclose(b.explained[j], a.explained[j])


def test_errors_name_the_argument():
    E = make_embeddings(n=60, n_units=2, n_dims=6, seed=3)
    folds = contiguous_folds(60, 5)
    with pytest.raises(ValueError, match=r"n_components=7 must lie in 1 \.\. min\(n_train - 1, n_dims\) = 6"):
        fold_pca_targets(E, folds, 7)
    # Fewer training events than dimensions: the limit is n_train - 1.
    wide = np.random.default_rng(3).standard_normal((30, 1, 40))
    with pytest.raises(ValueError, match=r"= 23 \(smallest training part 24 events, n_dims 40\)"):
        fold_pca_targets(wide, 5, 24)
    assert fold_pca_targets(wide, 5, 23).per_fold[0].shape == (30, 23)
    with pytest.raises(ValueError, match="n_components=0"):
        fold_pca_targets(E, folds, 0)
    with pytest.raises(ValueError, match="n_components must be an integer"):
        fold_pca_targets(E, folds, 2.5)
    bad = E.copy()
    bad[17, 1, 4] = np.nan
    with pytest.raises(ValueError, match="non-finite value .* at event 17, unit 1"):
        fold_pca_targets(bad, folds, 2)
    with pytest.raises(ValueError, match="E must be 3-D"):
        fold_pca_targets(E[:, 0], folds, 2)
    with pytest.raises(ValueError, match="out of range"):
        fold_pca_targets(E[:50], folds, 2)


def test_constant_unit_gives_constant_targets_the_engine_excludes(caplog):
    E = make_embeddings(n=80, n_units=2, seed=4)
    E[:, 1, :] = 2.0
    with caplog.at_level(logging.WARNING):
        ft = fold_pca_targets(E, 5, 2)
    assert "no variance" in caplog.text
    assert all((y[:, 2:] == 0).all() for y in ft.per_fold) and (ft.explained[:, 1] == 0).all()
    X = np.random.default_rng(4).standard_normal((80, 5))
    res = CVEngine(X, 5, device="cpu", dtype=torch.float64).fit(ft.per_fold)
    np.testing.assert_array_equal(res.valid, [True, True, False, False])


def test_engine_on_per_fold_targets_scores_against_held_out():
    # A unit whose main component follows the features: the CV recovers it, and each fold's
    # test r is the correlation of the predictions with held_out on that fold's test rows.
    rng = np.random.default_rng(5)
    n = 120
    X = rng.standard_normal((n, 4))
    E = make_embeddings(n=n, n_units=2, seed=5).astype(np.float64)
    E[:, 0, :] += np.outer(X @ [3.0, -2.0, 1.0, 0.0], rng.standard_normal(10) * 4)
    folds = contiguous_folds(n, 5)
    ft = fold_pca_targets(E, folds, 2)
    res = CVEngine(X, folds, device="cpu", dtype=torch.float64).fit(ft.per_fold)
    assert res.test_r[0] > 0.8
    for k, f in enumerate(folds):
        for j in range(4):
            r = np.corrcoef(res.predictions[f.test, j], ft.held_out[f.test, j])[0, 1]
            assert r == pytest.approx(res.test_r_folds[k, j], abs=1e-5)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(24, 60),
    n_dims=st.integers(1, 12),
    n_folds=st.integers(2, 4),
    whiten=st.booleans(),
)
def test_training_projections_are_centred_uncorrelated_and_ordered(seed, n, n_dims, n_folds, whiten):
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((n, 2, n_dims)) * rng.uniform(0.1, 10, n_dims) + rng.uniform(-5, 5, n_dims)
    folds = contiguous_folds(n, n_folds)
    n_c = int(rng.integers(1, min(min(len(f.train) for f in folds) - 1, n_dims) + 1))
    ft = fold_pca_targets(E, folds, n_c, whiten=whiten)
    assert np.all(ft.explained >= -1e-12) and np.all(ft.explained.sum(-1) <= 1 + 1e-9)
    assert np.all(np.diff(ft.explained, axis=-1) <= 1e-9)
    for k, f in enumerate(folds):
        for u in range(2):
            y = ft.per_fold[k][f.train, u * n_c : (u + 1) * n_c].astype(np.float64)
            cov = np.cov(y, rowvar=False).reshape(n_c, n_c)
            scale = np.trace(np.cov(E[f.train, u, :], rowvar=False).reshape(n_dims, n_dims))
            np.testing.assert_allclose(y.mean(0), 0, atol=1e-5 * np.sqrt(scale))
            expected = np.eye(n_c) if whiten else np.diag(ft.explained[k, u] * scale)
            tol = 1e-4 * (1 if whiten else scale)
            np.testing.assert_allclose(cov, expected, atol=tol)
