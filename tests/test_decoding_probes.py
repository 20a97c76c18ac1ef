"""Tests of the decoding probes, the AUC bootstrap and the result table (decoding.probes, .table)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from mmsites.decoding import (
    TABLE_COLUMNS,
    DecodeResult,
    decode,
    decoding_table,
    linear_probe,
    moving_block_indices,
    roc_auc,
    within_session_splits,
)
from mmsites.decoding.probes import auto_block

#: A small grid keeps the tests fast; the default grid is 10^-4 .. 10^4.
CS = (0.01, 1.0, 100.0)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Tiny fits: BLAS threads only contend (5x slower with 2 threads on a busy 2-core box)."""
    with threadpool_limits(1):
        yield


def _autocorrelated(seed, n=400, p=10, phi=0.9, switch=0.1, signal=0.0):
    """Events ~0.5 s apart; labels in runs (Markov, switch prob per event); AR(1) features.

    With ``signal`` > 0 the first feature carries ``signal * (label - 0.5)``.
    """
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.exponential(0.5, n))
    flips = rng.random(n) < switch
    y = (rng.integers(2) + np.cumsum(flips)) % 2
    x = np.empty((n, p))
    x[0] = rng.standard_normal(p)
    e = rng.standard_normal((n, p)) * np.sqrt(1 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    x[:, 0] += signal * (y - 0.5)
    return x, y.astype(int), times


def test_roc_auc_matches_sklearn_and_weights_are_multiplicities():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 6, 50).astype(float)  # many ties
    y = rng.integers(0, 2, 50)
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s))
    w = rng.integers(0, 3, (4, 50)).astype(float)
    got = roc_auc(s, y, w)
    for k in range(4):
        rep = np.repeat(np.arange(50), w[k].astype(int))
        assert got[k] == pytest.approx(roc_auc_score(y[rep], s[rep]))
    assert np.isnan(roc_auc(s, np.ones(50, int)))


def test_moving_blocks_are_contiguous_runs():
    pos = moving_block_indices(23, 50, block=5, rng=0)
    assert pos.shape == (50, 23) and pos.min() >= 0 and pos.max() <= 22
    blocks = pos[:, :20].reshape(50, 4, 5)
    assert np.all(np.diff(blocks, axis=2) == 1)
    np.testing.assert_array_equal(pos, moving_block_indices(23, 50, block=5, rng=0))
    # block 1 is the plain bootstrap; blocks never exceed half the series
    assert moving_block_indices(6, 3, block=100, rng=1).shape == (3, 6)
    x, y, _ = _autocorrelated(0)
    assert 20 <= auto_block(x[:, 0], y) <= 200


def test_planted_linear_signal_is_decoded():
    X, y, t = _autocorrelated(1, signal=1.5)
    result = decode(X, y, t, within_session_splits(t), Cs=CS, n_boot=300, seed=0)
    assert isinstance(result, DecodeResult)
    assert (result.folds["auc_lo"] > 0.5).all()
    summary = result.summary()
    assert summary["auc_lo"] > 0.6 and summary["auc"] > 0.75
    assert summary["n_folds"] == 2 and summary["n_test"] == 400
    assert result.boot.shape == (2, 300)


def test_null_intervals_cover_chance_at_nominal_rate_with_autocorrelation():
    """Labels in runs of ~10 events, AR(1) features (phi 0.9), no relation between them.

    The moving-block intervals cover 0.5 in most data sets (measured on 200 other data sets:
    0.908 per fold, 0.935 for the mean over folds; on these 20 seeds 0.875 and 1.0); the plain
    bootstrap of the same scores does not (0.55 per fold on 200 data sets, 0.625 here).
    """
    fold_cover, summary_cover, plain_cover = [], [], []
    for seed in range(20):
        X, y, t = _autocorrelated(100 + seed)
        splits = within_session_splits(t)
        r = decode(X, y, t, splits, Cs=CS, n_boot=400, seed=seed)
        fold_cover += list((r.folds["auc_lo"] <= 0.5) & (r.folds["auc_hi"] >= 0.5))
        s = r.summary()
        summary_cover.append(s["auc_lo"] <= 0.5 <= s["auc_hi"])
        for split, scores in zip(splits, r.scores):
            w = np.stack(
                [
                    np.bincount(p, minlength=len(scores))
                    for p in moving_block_indices(len(scores), 400, block=1, rng=seed)
                ]
            )
            lo, hi = np.nanpercentile(roc_auc(scores, y[split.test], w), [2.5, 97.5])
            plain_cover.append(lo <= 0.5 <= hi)
    assert np.mean(fold_cover) >= 0.85, np.mean(fold_cover)
    assert np.mean(summary_cover) >= 0.85, np.mean(summary_cover)
    assert np.mean(plain_cover) < 0.8, np.mean(plain_cover)


def test_c_is_chosen_on_training_data_only():
    X, y, t = _autocorrelated(2, signal=0.6)
    split = within_session_splits(t)[0]
    fit = linear_probe(X, y, split, Cs=CS)
    flipped = y.copy()
    flipped[split.test] = 1 - flipped[split.test]
    refit = linear_probe(X, flipped, split, Cs=CS)
    assert refit.C == fit.C
    np.testing.assert_array_equal(refit.inner_auc, fit.inner_auc)
    np.testing.assert_allclose(refit.scores, fit.scores)
    # and the test AUC of the flipped labels is the mirror image
    assert roc_auc(refit.scores, flipped[split.test]) == pytest.approx(1 - roc_auc(fit.scores, y[split.test]))


def test_decode_errors_name_the_split():
    X, y, t = _autocorrelated(3)
    splits = within_session_splits(t)
    one_class = y.copy()
    one_class[splits[0].test] = 1
    with pytest.raises(ValueError, match="fold0: the test part"):
        decode(X, one_class, t, splits, Cs=CS, n_boot=10)
    with pytest.raises(ValueError, match="2-D"):
        decode(X[:, :, None], y, t, splits)
    with pytest.raises(ValueError, match="binary"):
        decode(X, y * 2, t, splits)


def test_decoding_table_has_one_row_per_key():
    X, y, t = _autocorrelated(4, signal=1.0)
    r = decode(X, y, t, within_session_splits(t), Cs=CS, n_boot=100, seed=0)
    table = decoding_table(
        {(1, "speech", "within_session", "voltage"): r, (1, "speech", "within_session", "bb"): r}
    )
    assert tuple(table.columns) == TABLE_COLUMNS
    assert len(table) == 2 and (table["chance"] == 0.5).all() and (table["n_folds"] == 2).all()
    row = table.iloc[0]
    assert row["auc"] == pytest.approx(r.folds["auc"].mean())
    assert row["auc_lo"] == pytest.approx(r.folds["auc_lo"].mean())
    assert row["auc_lo"] <= row["auc"] <= row["auc_hi"]
    assert row["n_test"] == 400
    with pytest.raises(ValueError, match="duplicate"):
        decoding_table([((1, "a", "b", "c"), r), ((1, "a", "b", "c"), r)])
    with pytest.raises(ValueError, match="tuple"):
        decoding_table({(1, "a"): r})
    assert isinstance(decoding_table({}), pd.DataFrame)
