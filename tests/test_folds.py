"""Tests of the fold scheme (encoding.folds)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import KFold

from mmsites.encoding.folds import MIN_PART_EVENTS, Fold, contiguous_folds


@settings(max_examples=60, deadline=None)
@given(n_folds=st.integers(2, 9), extra=st.integers(0, 400))
def test_folds_partition_contiguous_ordered(n_folds, extra):
    n = 2 * MIN_PART_EVENTS * n_folds + extra
    folds = contiguous_folds(n, n_folds)
    assert len(folds) == n_folds
    held = np.concatenate([np.concatenate([f.val, f.test]) for f in folds])
    # The held-out parts partition the events, in movie order.
    np.testing.assert_array_equal(held, np.arange(n))
    for f in folds:
        out = np.concatenate([f.val, f.test])
        # Contiguous held-out fold, validation strictly before test, halves of it.
        np.testing.assert_array_equal(out, np.arange(out[0], out[-1] + 1))
        assert f.val[-1] < f.test[0]
        assert len(f.val) == len(out) // 2
        assert len(f.val) >= MIN_PART_EVENTS and len(f.test) >= MIN_PART_EVENTS
        # Training = complement of the held-out fold, sorted, disjoint.
        np.testing.assert_array_equal(np.sort(np.concatenate([f.train, out])), np.arange(n))
        assert np.all(np.diff(f.train) > 0)
    sizes = [len(f.val) + len(f.test) for f in folds]
    assert max(sizes) - min(sizes) <= 1


@settings(max_examples=30, deadline=None)
@given(n_folds=st.integers(2, 8), extra=st.integers(0, 300))
def test_folds_match_unshuffled_kfold(n_folds, extra):
    # The study uses sklearn KFold(n_splits, shuffle=False); the held-out folds must agree.
    n = 2 * MIN_PART_EVENTS * n_folds + extra
    ours = contiguous_folds(n, n_folds)
    for f, (train, held) in zip(ours, KFold(n_folds).split(np.zeros(n))):
        np.testing.assert_array_equal(f.train, train)
        np.testing.assert_array_equal(np.concatenate([f.val, f.test]), held)


def test_too_few_events_is_a_clear_error():
    with pytest.raises(ValueError, match="too few for 5 folds"):
        contiguous_folds(29, 5)
    contiguous_folds(30, 5)
    with pytest.raises(ValueError, match="at least 2"):
        contiguous_folds(100, 1)


def test_fold_is_frozen_and_readable():
    f = contiguous_folds(30, 5)[0]
    assert isinstance(f, Fold)
    with pytest.raises(AttributeError):
        f.train = np.arange(3)
    assert "val=3 events [0..2]" in repr(f)


@settings(max_examples=40, deadline=None)
@given(
    n_folds=st.integers(2, 6), extra=st.integers(60, 400), gap=st.floats(0.1, 3.0), seed=st.integers(0, 1000)
)
def test_purged_folds_keep_a_gap_between_training_validation_and_test(n_folds, extra, gap, seed):
    n = 2 * MIN_PART_EVENTS * n_folds + extra
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(0.05, 0.6, n))
    plain = contiguous_folds(n, n_folds)
    try:
        folds = contiguous_folds(n, n_folds, times=times, gap_s=gap)
    except ValueError as err:
        assert "validation events remain" in str(err)
        return
    for f, p in zip(folds, plain):
        held = np.concatenate([p.val, p.test])
        # Test halves are unchanged; validation and training only lose events.
        np.testing.assert_array_equal(f.test, p.test)
        assert set(f.val) <= set(p.val) and set(f.train) <= set(p.train)
        # No training event within the gap of any held-out event (purged) ...
        dist = np.abs(times[f.train][:, None] - times[held][None, :])
        assert dist.size == 0 or dist.min() >= gap
        # ... and none further than the gap was dropped.
        dropped = np.setdiff1d(p.train, f.train)
        if dropped.size:
            assert np.abs(times[dropped][:, None] - times[held][None, :]).min(1).max() < gap
        # Validation events end at least a gap before the first test event.
        assert times[f.val].max() <= times[f.test[0]] - gap


def test_gap_zero_is_the_study_scheme_and_gap_needs_times():
    n = 200
    times = np.arange(n) * 0.3
    for f, g in zip(contiguous_folds(n, 5), contiguous_folds(n, 5, times=times, gap_s=0.0)):
        for part in ("train", "val", "test"):
            np.testing.assert_array_equal(getattr(f, part), getattr(g, part))
    with pytest.raises(ValueError, match="needs the events' times"):
        contiguous_folds(n, 5, gap_s=1.0)
    with pytest.raises(ValueError, match="non-negative"):
        contiguous_folds(n, 5, times=times, gap_s=-1.0)
    with pytest.raises(ValueError, match="validation events remain"):
        contiguous_folds(n, 5, times=times, gap_s=30.0)


def test_fold_segments_keep_every_role():
    from mmsites.encoding.folds import fold_segments

    n = 300
    times = np.arange(n) * 0.3
    folds = contiguous_folds(n, 5, times=times, gap_s=4.2)
    seg = fold_segments(folds, n)
    assert seg[0] == 0 and np.all(np.diff(seg) >= 0)
    role = np.zeros((n, 5), int)
    for k, f in enumerate(folds):
        role[f.train, k], role[f.val, k], role[f.test, k] = 1, 2, 3
    for s in np.unique(seg):
        rows = role[seg == s]
        assert (rows == rows[0]).all()
