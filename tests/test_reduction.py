"""Feature reduction: JL dimension, sparse random projection, PCA."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.random_projection import johnson_lindenstrauss_min_dim

from mmsites.features.reduction import jl_dim, reduce_features


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 10**7), eps=st.floats(0.01, 0.99))
def test_jl_dim_equals_sklearn(n, eps):
    assert jl_dim(n, eps) == int(johnson_lindenstrauss_min_dim(n, eps=eps))


def test_jl_dim_study_value_and_errors():
    assert jl_dim(1000) == int(johnson_lindenstrauss_min_dim(1000, eps=0.1))
    with pytest.raises(ValueError, match="n_events must be a positive integer"):
        jl_dim(0)
    with pytest.raises(ValueError, match=r"eps must be in \(0, 1\)"):
        jl_dim(10, eps=1.5)


def test_srp_reduces_to_jl_dim_and_keeps_distances():
    rng = np.random.default_rng(0)
    n, d = 30, 6000
    X = rng.normal(size=(n, d))
    k = jl_dim(n, 0.1)
    assert d > k
    Y = reduce_features(X, "srp", seed=0)
    assert Y.shape == (n, k) and Y.dtype == np.float32
    np.testing.assert_array_equal(Y, reduce_features(X, "srp", seed=0))  # deterministic
    assert not np.allclose(Y, reduce_features(X, "srp", seed=1))
    # The JL guarantee (with high probability): pairwise distances within 1 +- eps.
    iu = np.triu_indices(n, 1)
    dx = np.linalg.norm(X[:, None] - X[None], axis=-1)[iu]
    dy = np.linalg.norm(Y[:, None].astype(float) - Y[None], axis=-1)[iu]
    ratio = dy / dx
    assert np.all(np.abs(ratio - 1) < 0.1)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 40), d=st.integers(1, 60))
def test_small_inputs_pass_through(n, d):
    X = np.random.default_rng(n * 100 + d).normal(size=(n, d))
    if d <= jl_dim(n):
        np.testing.assert_array_equal(reduce_features(X), X.astype(np.float32))


def test_pca_matches_svd_oracle():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 7)) @ rng.normal(size=(7, 50)) + 0.01 * rng.normal(size=(40, 50))
    Y = reduce_features(X, "pca", n_components=5)
    Xc = X - X.mean(0)
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    ref = U[:, :5] * s[:5]
    # Components are defined up to sign.
    np.testing.assert_allclose(np.abs(Y), np.abs(ref), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="PCA can give at most"):
        reduce_features(X, "pca", n_components=45)


def test_bad_inputs():
    with pytest.raises(ValueError, match="must be 2-D"):
        reduce_features(np.zeros(5))
    with pytest.raises(ValueError, match="method 'umap'"):
        reduce_features(np.zeros((3, 3)), "umap")
    X = np.ones((3, 4))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        reduce_features(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_srp_is_scikit_learns_projection_exactly(dtype):
    """Our streamed sparse product gives scikit-learn's SparseRandomProjection rows, bit for bit."""
    from sklearn.random_projection import SparseRandomProjection

    X = np.random.default_rng(3).standard_normal((40, 900)).astype(dtype)
    expected = SparseRandomProjection(n_components=50, random_state=4, dense_output=True).fit_transform(X)
    np.testing.assert_array_equal(
        reduce_features(X, "srp", n_components=50, seed=4), expected.astype(np.float32)
    )
