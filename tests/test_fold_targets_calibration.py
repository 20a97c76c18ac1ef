"""Calibration of the signal test on per-fold targets (the ``brainbert`` kind) under the null.

The targets of the ``brainbert`` kind are each electrode's principal components fitted on
every fold's training events; the refit permutation null keeps each fold's projection fixed
and permutes the events in blocks. On null data as autocorrelated as ours (AR(1) embeddings
and AR(1) features, independent of each other) the test-r p-values must reject at about the
nominal rate; with a planted effect at real-electrode strength they must reject more often.
"""

import numpy as np
import pytest

from mmsites.encoding.folds import contiguous_folds
from mmsites.encoding.ridge import CVEngine
from mmsites.encoding.targets import fold_pca_targets
from mmsites.stats.resampling import block_permutations

N_EVENTS, N_UNITS, N_DIMS, N_COMPONENTS, N_FEATURES = 300, 3, 12, 3, 6
N_PERM, BLOCK = 99, 20


def ar1(rng, n, dims, phi):
    """An AR(1) process along axis 0, unit stationary variance per column."""
    noise = rng.normal(size=(n, dims)) * np.sqrt(1 - phi**2)
    out = np.empty((n, dims))
    out[0] = rng.normal(size=dims)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + noise[t]
    return out


def pvalues(seed, effect):
    rng = np.random.default_rng(seed)
    X = ar1(rng, N_EVENTS, N_FEATURES, 0.9)
    E = ar1(rng, N_EVENTS, N_UNITS * N_DIMS, 0.9).reshape(N_EVENTS, N_UNITS, N_DIMS)
    # a planted effect: one feature drives a direction of every unit's embedding
    E += effect * X[:, :1, None] * rng.normal(size=(1, N_UNITS, N_DIMS))
    folds = contiguous_folds(N_EVENTS, 5)
    targets = fold_pca_targets(E, folds, N_COMPONENTS)
    engine = CVEngine(X, folds, [1.0, 100.0, 1e4], device="cpu")
    perms = np.vstack(
        [np.arange(N_EVENTS), block_permutations(N_EVENTS, N_PERM, block=BLOCK, seed=seed + 1000)]
    )
    test, _ = engine.fit_permuted(list(targets.per_fold), perms)
    # one p-value per unit: the max over its components (family-wise within the electrode)
    per_unit = test.reshape(len(perms), N_UNITS, N_COMPONENTS).max(axis=2)
    return (1 + (per_unit[1:] >= per_unit[0]).sum(axis=0)) / (N_PERM + 1)


@pytest.mark.slow
def test_per_fold_targets_null_is_calibrated_and_has_power():
    null = np.concatenate([pvalues(seed, 0.0) for seed in range(40)])
    # 120 p-values: the rejection rate at 0.05 within a binomial 99.9 % band of 0.05
    assert np.mean(null <= 0.05) <= 0.05 + 3.3 * np.sqrt(0.05 * 0.95 / null.size), np.mean(null <= 0.05)
    assert np.mean(null <= 0.5) == pytest.approx(0.5, abs=0.15)
    effect = np.concatenate([pvalues(seed, 0.6) for seed in range(100, 110)])
    assert np.mean(effect <= 0.05) >= 0.5, np.mean(effect <= 0.05)
