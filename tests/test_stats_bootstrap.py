"""Bootstrap: fast (no refit) against a slow loop, summaries, chunks, refit dispatch."""

import numpy as np
import pytest
import torch

from mmsites.encoding.folds import contiguous_folds
from mmsites.encoding.ridge import CVEngine
from mmsites.encoding.scoring import pearson_r
from mmsites.stats.bootstrap import bootstrap_scores, bootstrap_summary, fast_bootstrap
from mmsites.stats.resampling import bootstrap_indices, chunks


def slow_bootstrap(pred, Y, folds, resamples, part):
    out = np.zeros((len(resamples), Y.shape[1]))
    for b, res in enumerate(resamples):
        counts = np.bincount(res, minlength=len(Y))
        for f in folds:
            idx = getattr(f, part)
            rows = np.repeat(idx, counts[idx])  # the resample's events of this part
            if rows.size >= 2 and np.ptp(pred[rows], 0).min() > 0 and np.ptp(Y[rows], 0).min() > 0:
                out[b] += pearson_r(pred[rows], Y[rows]) / len(folds)
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_bootstrap_matches_materialised_resamples(seed):
    rng = np.random.default_rng(seed)
    n, T = 100, 6
    pred = rng.standard_normal((n, T))
    Y = 0.5 * pred + rng.standard_normal((n, T)) + 10  # an offset: r is shift-invariant
    folds = contiguous_folds(n, 5)
    res = bootstrap_indices(n, 15, seed=seed)
    t, v = fast_bootstrap(pred, Y, folds, res)
    np.testing.assert_allclose(t, slow_bootstrap(pred, Y, folds, res, "test"), atol=1e-10)
    np.testing.assert_allclose(v, slow_bootstrap(pred, Y, folds, res, "val"), atol=1e-10)


def test_all_ones_weights_give_the_observed_scores():
    rng = np.random.default_rng(2)
    n = 50
    pred, Y = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    folds = contiguous_folds(n, 5)
    t, _ = fast_bootstrap(pred, Y, folds, np.arange(n)[None])
    expect = np.mean([pearson_r(pred[f.test], Y[f.test]) for f in folds], axis=0)
    np.testing.assert_allclose(t[0], expect, atol=1e-12)


def test_chunked_bootstrap_equals_whole():
    rng = np.random.default_rng(3)
    n = 80
    pred, Y = rng.standard_normal((n, 4)), rng.standard_normal((n, 4))
    folds = contiguous_folds(n, 5)
    res = bootstrap_indices(n, 17, seed=3)
    whole = fast_bootstrap(pred, Y, folds, res)
    parts = [fast_bootstrap(pred, Y, folds, res[s]) for s in chunks(17, 4)]
    for k in range(2):
        np.testing.assert_allclose(np.vstack([p[k] for p in parts]), whole[k], atol=1e-13)


def test_summary_is_percentile_intervals():
    rng = np.random.default_rng(4)
    t, v = rng.standard_normal((200, 5)), rng.standard_normal((200, 5))
    s = bootstrap_summary(t, v, level=0.9)
    np.testing.assert_allclose(s["boot_mean"], t.mean(0))
    for j in range(5):
        assert s["boot_lo"][j] == pytest.approx(np.percentile(t[:, j], 5))
        assert s["val_hi"][j] == pytest.approx(np.percentile(v[:, j], 95))
    assert np.all(s["boot_lo"] <= s["boot_hi"])
    with pytest.raises(ValueError, match="level"):
        bootstrap_summary(t, v, level=95)


def test_refit_mode_is_the_engines_whole_cv_refit():
    rng = np.random.default_rng(5)
    n = 60
    X = rng.standard_normal((n, 3))
    Y = X @ rng.standard_normal((3, 4)) + rng.standard_normal((n, 4))
    eng = CVEngine(X, contiguous_folds(n, 5), device="cpu", dtype=torch.float64)
    res = bootstrap_indices(n, 3, seed=0)
    t, v = bootstrap_scores("refit", Y, res, engine=eng)
    for b in range(3):
        direct = CVEngine(X[res[b]], contiguous_folds(n, 5), device="cpu", dtype=torch.float64).fit(Y[res[b]])
        np.testing.assert_allclose(t[b], direct.test_r, atol=1e-8)
    with pytest.raises(ValueError, match="needs `engine`"):
        bootstrap_scores("refit", Y, res)
    with pytest.raises(ValueError, match="mode"):
        bootstrap_scores("jackknife", Y, res)
