"""Tests of the fold scheme (encoding.folds)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import KFold

from encoding.folds import MIN_PART_EVENTS, Fold, contiguous_folds


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
