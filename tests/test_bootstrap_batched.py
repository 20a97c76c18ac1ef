"""Batched weighted moments of the fast bootstrap against a direct per-resample oracle."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.encoding.folds import Fold, contiguous_folds
from mmsites.stats.bootstrap import fast_bootstrap, weighted_fold_r
from mmsites.stats.resampling import bootstrap_indices, bootstrap_weights


def oracle_r(weights, a, y, folds, part, conditioning=False):
    """Per weighting and fold, the weighted Pearson r written out directly (float64).

    With ``conditioning``, also the largest ratio (over folds) of a second moment about the
    part's unweighted mean to the weighted variance: the factor by which the moment formula
    of the code under test magnifies rounding.
    """
    out = np.zeros((len(weights), a.shape[1]))
    cond = np.ones_like(out)
    for b, w in enumerate(weights):
        for f in folds:
            idx = np.asarray(getattr(f, part))
            wk, ak, yk = w[idx], a[idx].astype(float), y[idx].astype(float)
            n = wk.sum()
            if n <= 0:
                continue  # no event of the part in this weighting: r = 0
            am, ym = wk @ ak / n, wk @ yk / n
            cov = wk @ ((ak - am) * (yk - ym))
            va, vy = wk @ (ak - am) ** 2, wk @ (yk - ym) ** 2
            # the project's NaN policy: a variance below 1e-12 of the raw second moment is 0
            ca, cm = ak - ak.mean(0), yk - yk.mean(0)
            ok = (va > 1e-12 * (wk @ ca**2)) & (vy > 1e-12 * (wk @ cm**2))
            out[b] += np.where(ok, cov / np.sqrt(np.where(ok, va * vy, 1.0)), 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.maximum((wk @ ca**2) / va, (wk @ cm**2) / vy)
            cond[b] = np.maximum(cond[b], np.where(ok, ratio, 1.0))
    r = np.clip(out / len(folds), -1, 1)
    return (r, cond) if conditioning else r


def data(seed, n, t, dtype=np.float64):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, t))
    y = 0.4 * a + rng.standard_normal((n, t)) + 5.0  # an offset: r is shift-invariant
    return a.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("part", ["test", "val"])
def test_batched_equals_per_resample_oracle(part):
    n, t = 90, 23
    a, y = data(0, n, t)
    folds = contiguous_folds(n, 5)
    rng = np.random.default_rng(1)
    W = bootstrap_weights(bootstrap_indices(n, 37, seed=2), n)
    # Edge cases: a weighting without any event of fold 0's part, one that weights every
    # event once, and fractional weights.
    W[0, getattr(folds[0], part)] = 0
    W[1] = 1
    W[2] = rng.random(n)
    got = weighted_fold_r(W, a, y, folds, part=part, resample_chunk=5, target_chunk=4)
    np.testing.assert_allclose(got, oracle_r(W, a, y, folds, part), rtol=0, atol=1e-10)


def test_constant_columns_and_scattered_folds():
    n, t = 60, 6
    a, y = data(3, n, t)
    a[:, 1] = 2.0  # a constant prediction: r = 0 in every fold
    y[:, 4] = -1.0  # a constant response
    rng = np.random.default_rng(4)
    order = rng.permutation(n)  # non-contiguous parts: the index (not slice) path
    folds = [Fold(train=order[:40], val=np.sort(order[40:50]), test=np.sort(order[50:])) for _ in range(2)]
    folds.append(Fold(train=order[20:], val=np.sort(order[:10]), test=np.sort(order[10:20])))
    W = bootstrap_weights(bootstrap_indices(n, 11, seed=5), n)
    for part in ("test", "val"):
        got = weighted_fold_r(W, a, y, folds, part=part, resample_chunk=4, target_chunk=5)
        np.testing.assert_allclose(got, oracle_r(W, a, y, folds, part), rtol=0, atol=1e-10)
        assert np.all(got[:, [1, 4]] == 0)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(30, 120),
    t=st.integers(1, 40),
    n_boot=st.integers(1, 30),
    n_folds=st.integers(2, 5),
    resample_chunk=st.integers(1, 40),
    target_chunk=st.integers(1, 50),
    seed=st.integers(0, 2**31),
)
def test_any_blocking_gives_the_oracle(n, t, n_boot, n_folds, resample_chunk, target_chunk, seed):
    a, y = data(seed % 1000, n, t)
    folds = contiguous_folds(n, n_folds)
    res = bootstrap_indices(n, n_boot, seed=seed)
    W = bootstrap_weights(res, n)
    for part in ("test", "val"):
        got = weighted_fold_r(
            W, a, y, folds, part=part, resample_chunk=resample_chunk, target_chunk=target_chunk
        )
        whole = weighted_fold_r(W, a, y, folds, part=part)
        # blocks change only the summation order: ~1e-11 where a part of 3 events is ill-conditioned
        np.testing.assert_allclose(got, whole, rtol=0, atol=1e-10)
        # Parts here can be 3 events: a resample that keeps two nearly equal values of one
        # has a variance ~1e-8 of its second moment, and the moment formula (the old code's
        # too) loses those digits against the oracle's two-pass sums; the bound scales with it.
        want, cond = oracle_r(W, a, y, folds, part, conditioning=True)
        assert np.all(np.abs(got - want) <= 1e-10 + 1e-14 * cond)


def test_fast_bootstrap_reads_float32_and_memory_mapped_inputs(tmp_path):
    n, t = 80, 9
    a, y = data(6, n, t, np.float32)
    a[:2] = np.nan  # not in any scored part below: NaN allowed there
    folds = [Fold(train=f.train, val=f.val[f.val >= 2], test=f.test) for f in contiguous_folds(n, 4)]
    np.save(tmp_path / "a.npy", a)
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")  # read-only
    res = bootstrap_indices(n, 13, seed=7)
    t32, v32 = fast_bootstrap(mapped, y, folds, res)
    t64, v64 = fast_bootstrap(a.astype(np.float64), y.astype(np.float64), folds, res)
    # float32 values are exact in float64: the same numbers
    np.testing.assert_array_equal(t32, t64)
    np.testing.assert_array_equal(v32, v64)
    W = bootstrap_weights(res, n)
    np.testing.assert_allclose(t32, oracle_r(W, a.astype(float), y, folds, "test"), atol=1e-10)
    assert t32.flags.c_contiguous and t32.shape == (13, t)


def test_bad_inputs_are_named():
    n, t = 40, 3
    a, y = data(8, n, t)
    folds = contiguous_folds(n, 4)
    W = np.ones((2, n))
    y_bad = y.copy()
    y_bad[folds[1].test[0], 2] = np.inf
    with pytest.raises(ValueError, match="Y contains NaN or inf"):
        weighted_fold_r(W, a, y_bad, folds)
    with pytest.raises(ValueError, match="weights must have shape"):
        weighted_fold_r(W[:, :-1], a, y, folds)
    with pytest.raises(ValueError, match="target_chunk"):
        weighted_fold_r(W, a, y, folds, target_chunk=0)
    with pytest.raises(ValueError, match="shape"):
        fast_bootstrap(a, y[:, :2], folds, np.zeros((1, n), int))
