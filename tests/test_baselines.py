"""Linear-integration baselines: MultiConcat and the CCA-based MultiLin."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cross_decomposition import CCA

from mmsites.features.baselines import MultiLin, multiconcat


def paired(n=120, dv=9, dl=7, seed=0):
    """Vision and language features sharing a 3-d latent signal."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    Xv = z @ rng.normal(size=(3, dv)) + rng.normal(size=(n, dv)) + 5.0
    Xl = z @ rng.normal(size=(3, dl)) + rng.normal(size=(n, dl)) - 2.0
    return Xv, Xl


def test_multiconcat():
    Xv, Xl = paired()
    X = multiconcat(Xv, Xl)
    assert X.shape == (120, 16) and X.dtype == np.float32
    np.testing.assert_allclose(X[:, :9], Xv, rtol=1e-6)
    np.testing.assert_allclose(X[:, 9:], Xl, rtol=1e-6)
    with pytest.raises(ValueError, match="vision features have 120 events but language features have 119"):
        multiconcat(Xv, Xl[:-1])


def test_multilin_is_cca_against_sklearn():
    Xv, Xl = paired(n=400)
    m = MultiLin(n_components=3, reg=0.0).fit(Xv, Xl)
    Z = m.transform(Xv, Xl).astype(float)
    Zv, Zl = Z[:, :3], Z[:, 3:]
    # Canonical variates: unit variance, uncorrelated within a block, correlations on the diagonal.
    np.testing.assert_allclose(np.cov(Zv.T), np.eye(3), atol=1e-4)
    np.testing.assert_allclose(np.cov(Zl.T), np.eye(3), atol=1e-4)
    np.testing.assert_allclose(np.diag(np.corrcoef(Zv.T, Zl.T)[:3, 3:]), m.correlations_, atol=1e-4)
    assert np.all(np.diff(m.correlations_) <= 1e-12)
    # The first canonical correlation equals scikit-learn's CCA (iterative, a peer reference).
    a, b = CCA(n_components=1, max_iter=5000, tol=1e-12).fit_transform(Xv, Xl)
    assert m.correlations_[0] == pytest.approx(np.corrcoef(a[:, 0], b[:, 0])[0, 1], abs=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    k=st.integers(1, 8),
    reg=st.floats(0.0, 10.0),
    combine=st.sampled_from(["concat", "sum"]),
    a=st.floats(-3, 3),
    b=st.floats(-3, 3),
)
def test_transform_is_affine_and_shapes(seed, k, reg, combine, a, b):
    Xv, Xl = paired(n=60, seed=seed)
    m = MultiLin(n_components=k, reg=max(reg, 1e-3), combine=combine).fit(Xv, Xl)
    kk = min(k, 7)
    assert np.all((m.correlations_ >= 0) & (m.correlations_ <= 1 + 1e-9))
    rng = np.random.default_rng(seed + 1)
    Uv, Ul = rng.normal(size=(5, 9)), rng.normal(size=(5, 7))
    Vv, Vl = rng.normal(size=(5, 9)), rng.normal(size=(5, 7))

    def T(xv, xl):
        return m.transform(xv, xl).astype(float)

    out = T(Uv, Ul)
    assert out.shape == (5, 2 * kk if combine == "concat" else kk)
    # Linear up to the training-mean offset: T(aU + bV) - T(0) = a(T(U) - T(0)) + b(T(V) - T(0)).
    T0 = T(np.zeros((5, 9)), np.zeros((5, 7)))
    lhs = T(a * Uv + b * Vv, a * Ul + b * Vl) - T0
    rhs = a * (out - T0) + b * (T(Vv, Vl) - T0)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-3, atol=1e-3 * (1 + np.abs(rhs).max()))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), n_train=st.integers(10, 50))
def test_fit_uses_only_the_training_rows(seed, n_train):
    Xv, Xl = paired(n=60, seed=seed)
    train = np.random.default_rng(seed).permutation(60)[:n_train]
    m1 = MultiLin(n_components=2, reg=0.1).fit(Xv[train], Xl[train])
    # Changing every other row changes nothing; shuffling the training rows changes nothing.
    Xv2, Xl2 = Xv * 0 + 1e3, Xl * 0 - 1e3
    Xv2[train], Xl2[train] = Xv[train], Xl[train]
    shuffled = train[::-1]
    m2 = MultiLin(n_components=2, reg=0.1).fit(Xv2[shuffled], Xl2[shuffled])
    np.testing.assert_allclose(m1.correlations_, m2.correlations_, rtol=1e-8)
    np.testing.assert_allclose(
        np.abs(m1.transform(Xv, Xl)), np.abs(m2.transform(Xv, Xl)), rtol=1e-3, atol=1e-4
    )


def test_regularisation_handles_more_features_than_events():
    rng = np.random.default_rng(0)
    Xv, Xl = rng.normal(size=(20, 50)), rng.normal(size=(20, 40))
    assert MultiLin(4, reg=0.0).fit(Xv, Xl).correlations_[0] == pytest.approx(1.0, abs=1e-6)  # spurious
    r = MultiLin(4, reg=0.5).fit(Xv, Xl).correlations_
    assert np.all((r >= 0) & (r < 0.95))


def test_errors():
    Xv, Xl = paired()
    with pytest.raises(ValueError, match="before fit"):
        MultiLin().transform(Xv, Xl)
    m = MultiLin(2).fit(Xv, Xl)
    with pytest.raises(ValueError, match="vision features have 8 columns; the fit had 9"):
        m.transform(Xv[:, :8], Xl)
    with pytest.raises(ValueError, match="reg must be a finite number >= 0"):
        MultiLin(reg=-1)
    bad = Xv.copy()
    bad[3, 3] = np.inf
    with pytest.raises(ValueError, match="vision features have 1 non-finite"):
        m.fit(bad, Xl)
