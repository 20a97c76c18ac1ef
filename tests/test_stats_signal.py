"""Signal test: fast permutation null against slow loops, p-values, calibration."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from mmsites.encoding.folds import contiguous_folds
from mmsites.encoding.ridge import CVEngine
from mmsites.encoding.scoring import pearson_r
from mmsites.stats.resampling import block_permutations, chunks, fold_permutations
from mmsites.stats.signal import (
    count_signal_bins,
    fast_permutation_null,
    fold_average_r,
    max_over_bins_pvalues,
    permutation_pvalues,
    signal_bins,
    signal_null,
)
from mmsites.stats.simulate import ar1


def slow_null(pred, Y, folds, perms):
    out = np.zeros((len(perms), Y.shape[1]))
    for p, perm in enumerate(perms):
        for f in folds:
            out[p] += pearson_r(pred[f.test], Y[perm[f.test]]) / len(folds)
    return out


def test_fast_null_matches_slow_loop_for_any_permutation():
    rng = np.random.default_rng(0)
    n, T = 60, 7
    pred, Y = rng.standard_normal((n, T)), rng.standard_normal((n, T)) * 3 + 5
    folds = contiguous_folds(n, 5)
    # Global permutations (crossing folds) and within-fold ones both follow the definition.
    perms = np.vstack(
        [np.array([rng.permutation(n) for _ in range(5)]), fold_permutations(folds, n, 5, block=2, seed=1)]
    )
    np.testing.assert_allclose(
        fast_permutation_null(pred, Y, folds, perms), slow_null(pred, Y, folds, perms), atol=1e-12
    )
    # Tiny batches give the same numbers.
    np.testing.assert_allclose(
        fast_permutation_null(pred, Y, folds, perms, max_bytes=1),
        slow_null(pred, Y, folds, perms),
        atol=1e-12,
    )


# Parts of ~10 events in blocks of 5 and 4 (2 blocks), of 6 in blocks of 3, and of 20 in
# blocks of 2 (10 blocks); 6 targets in one tile, or 21 in tiles of 8 (a partial last tile).
@pytest.mark.parametrize(
    "n,block,n_targets,tile",
    [(100, 5, 6, 256), (97, 4, 6, 256), (60, 20, 6, 256), (200, 2, 6, 256), (200, 2, 21, 8)],
)
def test_block_pair_shortcut_equals_the_direct_null(n, block, n_targets, tile, monkeypatch):
    import mmsites.stats.signal as sig

    calls = []
    real = sig._block_null
    monkeypatch.setattr(sig, "_block_null", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(sig, "_TILE", tile)
    rng = np.random.default_rng(n)
    pred, Y = rng.standard_normal((n, n_targets)), rng.standard_normal((n, n_targets)) + 2
    pred = pred.astype(np.float32)  # the kernel reads either precision
    Y[:, 5] = 1.0  # a constant target: r = 0
    folds = contiguous_folds(n, 5)
    perms = fold_permutations(folds, n, 30, block=block, seed=0)
    direct = fast_permutation_null(pred, Y, folds, perms)
    short = fast_permutation_null(pred, Y, folds, perms, block=block, max_bytes=1)
    np.testing.assert_allclose(short, direct, atol=1e-12)
    assert len(calls) == 5  # every fold took the shortcut
    keep = np.arange(n_targets) != 5
    np.testing.assert_allclose(short[:, keep], slow_null(pred, Y, folds, perms)[:, keep], atol=1e-12)
    assert np.all(short[:, 5] == 0)
    # A fold whose permutations are not block moves takes the direct gather, the others
    # the shortcut, and the sum is the same.
    mixed = perms.copy()
    test0 = folds[0].test
    mixed[:, test0] = np.array([rng.permutation(test0) for _ in range(len(perms))])
    np.testing.assert_allclose(
        fast_permutation_null(pred, Y, folds, mixed, block=block),
        slow_null(pred, Y, folds, mixed),
        atol=1e-12,
    )
    assert len(calls) == 5 + 4
    # The tensor path (accelerators) on the same parts, here in float32 on the CPU.
    got = torch.zeros((len(perms), n_targets), dtype=torch.float32)
    for f in folds:
        blk = sig.part_block(len(f.test), block)
        orders = sig._block_orders(perms[:, f.test] - f.test[0], blk)
        real(torch.as_tensor(pred[f.test]), torch.as_tensor(Y[f.test]), orders, blk, got)
    np.testing.assert_allclose(got.numpy() / len(folds), short, atol=2e-6)
    # Permutations that are not aligned block moves fall back to the direct gather.
    other = np.array([rng.permutation(n) for _ in range(3)])
    np.testing.assert_allclose(
        fast_permutation_null(pred, Y, folds, other, block=block),
        slow_null(pred, Y, folds, other),
        atol=1e-12,
    )


def test_identity_permutation_is_the_engines_test_r():
    rng = np.random.default_rng(1)
    n = 80
    X = rng.standard_normal((n, 4))
    Y = X @ rng.standard_normal((4, 6)) + rng.standard_normal((n, 6))
    import torch

    res = CVEngine(X, contiguous_folds(n, 5), device="cpu", dtype=torch.float64).fit(Y)
    np.testing.assert_allclose(
        fold_average_r(res.predictions, Y, contiguous_folds(n, 5)), res.test_r, atol=1e-6
    )


def test_chunked_null_equals_whole():
    rng = np.random.default_rng(2)
    n, T = 100, 5
    pred, Y = rng.standard_normal((n, T)), rng.standard_normal((n, T))
    folds = contiguous_folds(n, 5)
    perms = fold_permutations(folds, n, 23, block=3, seed=0)
    whole = fast_permutation_null(pred, Y, folds, perms)
    parts = np.vstack([fast_permutation_null(pred, Y, folds, perms[s]) for s in chunks(23, 5)])
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-13)


def test_bad_inputs_say_what_is_wrong():
    folds = contiguous_folds(40, 5)
    good = np.zeros((40, 3)) + np.arange(40)[:, None]
    with pytest.raises(ValueError, match="NaN or inf"):
        fast_permutation_null(good, np.full((40, 3), np.nan), folds, np.arange(40)[None])
    # on the block path too, where each part is checked as it is read
    perms = fold_permutations(folds, 40, 3, block=2, seed=0)
    for bad in (np.nan, np.inf, -np.inf):
        holed = good.copy()
        holed[folds[-1].test[-1], 2] = bad
        with pytest.raises(ValueError, match="predictions contains NaN or inf"):
            fast_permutation_null(holed, good, folds, perms, block=2)
        with pytest.raises(ValueError, match="Y contains NaN or inf"):
            fast_permutation_null(good, holed, folds, perms, block=2)
    with pytest.raises(ValueError, match="perms must have shape"):
        fast_permutation_null(good, good, folds, np.arange(39)[None])
    with pytest.raises(ValueError, match="39 events"):
        fast_permutation_null(good, good[:39], folds, np.arange(40)[None])


@settings(max_examples=30, deadline=None)
@given(
    P=st.integers(1, 30),
    T=st.integers(1, 6),
    seed=st.integers(0, 2**31),
    tail=st.sampled_from(["greater", "less", "two-sided"]),
)
def test_permutation_pvalues_match_a_loop(P, T, seed, tail):
    rng = np.random.default_rng(seed)
    null = rng.integers(-3, 4, (P, T)).astype(float)  # ties on purpose
    obs = rng.integers(-3, 4, T).astype(float)
    p = permutation_pvalues(obs, null, tail)
    for t in range(T):
        if tail == "greater":
            c = sum(null[i, t] >= obs[t] for i in range(P))
        elif tail == "less":
            c = sum(null[i, t] <= obs[t] for i in range(P))
        else:
            c = sum(abs(null[i, t]) >= abs(obs[t]) for i in range(P))
        assert p[t] == (1 + c) / (1 + P)


def test_max_over_bins_is_a_familywise_max():
    rng = np.random.default_rng(3)
    E, nb, P = 3, 4, 50
    null = rng.standard_normal((P, E * nb))
    obs = rng.standard_normal(E * nb) + 1
    p = max_over_bins_pvalues(obs, null, nb)
    for e in range(E):
        mx = null[:, e * nb : (e + 1) * nb].max(1)
        for b in range(nb):
            assert p[e * nb + b] == (1 + (mx >= obs[e * nb + b]).sum()) / (1 + P)
    assert np.all(p >= permutation_pvalues(obs, null))
    with pytest.raises(ValueError, match="n_bins"):
        max_over_bins_pvalues(obs, null, 5)


def test_signal_bins_methods():
    p = np.array([0.01, 0.05, 0.2, np.nan])
    assert signal_bins("permutation", pvalues=p).tolist() == [True, False, False, False]
    lo = np.array([0.1, 0.0, -0.1, np.nan])
    assert signal_bins("bootstrap_ci", val_lo=lo).tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="needs `pvalues`"):
        signal_bins("permutation")
    assert count_signal_bins(np.array([1, 1, 0, 0, 1, 0], bool), 3).tolist() == [2, 1]


def _null_data(seed, n=600, T=300, phi=0.8):
    """Independent autocorrelated predictions and responses: no effect at all."""
    return ar1(n, T, phi=phi, seed=seed), ar1(n, T, phi=phi, seed=seed + 1000)


def test_block_null_is_calibrated_and_iid_shuffles_are_not():
    n = 600
    pred, Y = _null_data(0, n)
    folds = contiguous_folds(n, 5)
    obs = fold_average_r(pred, Y, folds)
    block = permutation_pvalues(
        obs,
        fast_permutation_null(pred, Y, folds, fold_permutations(folds, n, 199, block=10, seed=0), block=10),
    )
    assert sps.kstest(block, "uniform").pvalue > 0.01
    assert 0.02 <= (block < 0.05).mean() <= 0.09
    # Documented contrast: shuffling events one by one ignores the autocorrelation, the
    # null is too narrow and far too many bins "carry signal".
    iid = permutation_pvalues(
        obs, fast_permutation_null(pred, Y, folds, fold_permutations(folds, n, 199, block=1, seed=0))
    )
    assert sps.kstest(iid, "uniform").pvalue < 1e-4
    assert (iid < 0.05).mean() > 0.12


def test_fast_and_refit_agree_on_clear_effects_and_nulls():
    import torch

    n, P = 200, 39
    rng = np.random.default_rng(5)
    X = ar1(n, 3, phi=0.5, seed=5)
    Y = ar1(n, 12, phi=0.5, seed=6)
    Y[:, :6] += 2 * X @ rng.standard_normal((3, 6))  # 6 targets with an effect
    folds = contiguous_folds(n, 5)
    eng = CVEngine(X, folds, alphas=[1.0, 100.0, 1e4], device="cpu", dtype=torch.float64)
    res = eng.fit(Y)
    p_refit = permutation_pvalues(
        res.test_r, signal_null("refit", Y, block_permutations(n, P, block=10, seed=0), engine=eng)[0]
    )
    p_fast = permutation_pvalues(
        res.test_r,
        signal_null(
            "fast",
            Y,
            fold_permutations(folds, n, P, block=5, seed=0),
            folds=folds,
            predictions=res.predictions,
        )[0],
    )
    assert np.all(p_refit[:6] == 1 / (P + 1)) and np.all(p_fast[:6] == 1 / (P + 1))
    assert np.all(p_refit[6:] > 0.05) and np.all(p_fast[6:] > 0.05)


def test_refit_block_null_is_calibrated_on_drifting_null_data():
    """Ridge refits on autocorrelated features and responses with no relation at all."""
    import torch

    n, T, P = 300, 60, 49
    block, iid = [], []
    for seed in range(3):
        X, Y = ar1(n, 3, phi=0.8, seed=seed), ar1(n, T, phi=0.8, seed=seed + 100)
        eng = CVEngine(X, contiguous_folds(n, 5), alphas=[1.0, 100.0, 1e4], device="cpu", dtype=torch.float64)
        obs = eng.fit(Y).test_r
        for out, blk in ((block, 15), (iid, 1)):
            perms = block_permutations(n, P, block=blk, seed=seed)
            out.append(permutation_pvalues(obs, signal_null("refit", Y, perms, engine=eng)[0]))
    block, iid = np.concatenate(block), np.concatenate(iid)
    # Targets of one data set share the features, so their p-values are correlated and a
    # KS test on them would be too strict; check the level and the centre instead. (Over
    # 8 seeds: 3.5 % of bins at p < 0.05, mean p 0.53 — calibrated to slightly conservative.)
    assert (block < 0.05).mean() <= 0.09
    assert 0.4 <= block.mean() <= 0.6
    assert (iid < 0.05).mean() > 0.1  # i.i.d. shuffles: anti-conservative


def test_targets_may_be_nan_where_no_fold_scores():
    """Held-out targets of per-fold reductions are NaN on events no fold holds out (purge gaps
    can leave some): the fast null, the fast bootstrap and the paired test read only scored
    rows, so NaN there changes nothing."""
    from mmsites.encoding.folds import fold_segments
    from mmsites.stats.bootstrap import fast_bootstrap
    from mmsites.stats.resampling import bootstrap_indices

    rng = np.random.default_rng(3)
    n, T = 120, 4
    folds = contiguous_folds(n, 4, times=np.arange(n, dtype=float), gap_s=3.0)
    scored = np.zeros(n, bool)
    for f in folds:
        scored[np.r_[f.val, f.test]] = True
    pred, Y = rng.standard_normal((n, T)), rng.standard_normal((n, T))
    holed = Y.copy()
    holed[~scored] = np.nan
    pred[~scored] = np.nan
    if scored.all():  # the gap must leave unscored rows for this test to mean anything
        pytest.skip("no unscored rows")
    perms = fold_permutations(folds, n, 9, block=3, seed=0)
    np.testing.assert_array_equal(
        fast_permutation_null(pred, holed, folds, perms), fast_permutation_null(pred, Y, folds, perms)
    )
    boot = bootstrap_indices(n, 5, seed=1, block=3, segments=fold_segments(folds, n))
    np.testing.assert_array_equal(
        fast_bootstrap(pred, holed, folds, boot), fast_bootstrap(pred, Y, folds, boot)
    )


@pytest.mark.parametrize("as_tensor", [False, True])
def test_check_events_finite_test_is_exact(as_tensor):
    """The fast test (a finite sum) never lets NaN or inf through, and huge finite values
    whose sum overflows are still accepted."""
    import torch

    from mmsites.stats._corr import check_events

    wrap = torch.as_tensor if as_tensor else np.asarray
    check_events("x", wrap(np.full((4, 3), 1e308)))  # the sum overflows; every value is finite
    for bad in (np.nan, np.inf, -np.inf):
        x = np.full((4, 3), 1e308)
        x[2, 1] = bad
        with pytest.raises(ValueError, match="x contains NaN or inf"):
            check_events("x", wrap(x))
    mixed = np.zeros((4, 3))
    mixed[0, 0], mixed[1, 0] = np.inf, -np.inf  # opposite infinities sum to NaN
    with pytest.raises(ValueError, match="NaN or inf"):
        check_events("x", wrap(mixed))
    check_events("x", wrap(mixed), rows=[2, 3])  # only the rows asked for
    check_events("x", wrap(mixed), finite=False)
