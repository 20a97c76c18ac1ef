"""Tests of the decoding splits (decoding.splits): purge, partitions, cross-session/subject."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.model_selection import KFold

from mmsites.decoding.splits import (
    Split,
    cross_session_splits,
    cross_subject_splits,
    purged_kfold,
    within_session_splits,
)


def _min_distance(t, a, b):
    """Smallest |t[i] - t[j]| over i in a, j in b (inf if either is empty)."""
    if len(a) == 0 or len(b) == 0:
        return np.inf
    return np.abs(t[np.asarray(a)][:, None] - t[np.asarray(b)][None, :]).min()


@settings(max_examples=80, deadline=None)
@given(
    times=st.lists(st.floats(0, 300, allow_nan=False), min_size=12, max_size=120),
    n_folds=st.integers(2, 4),
    window=st.floats(0.05, 5.0),
    extra_gap=st.floats(0.0, 2.0),
)
def test_no_training_window_overlaps_a_test_window(times, n_folds, window, extra_gap):
    t = np.array(times)
    try:
        splits = within_session_splits(
            t, n_folds=n_folds, window_s=window, gap_s=window + extra_gap, inner_folds=2
        )
    except ValueError as err:  # a purge can empty a fold on tiny, dense inputs: said clearly
        assert "no training event is left" in str(err) or "too few" in str(err)
        assume(False)
    tests = np.sort(np.concatenate([s.test for s in splits]))
    np.testing.assert_array_equal(tests, np.arange(t.size))  # each event tested once
    for s in splits:
        assert np.intersect1d(s.train, s.test).size == 0
        # windows [t, t + window) of train and test share no sample
        assert _min_distance(t, s.train, s.test) >= window
        for fit, val in s.inner:
            assert np.isin(fit, s.train).all() and np.isin(val, s.train).all()
            assert _min_distance(t, fit, val) >= window


def test_sorted_times_give_unshuffled_kfold_test_parts():
    t = np.sort(np.random.default_rng(0).uniform(0, 1000, 301))
    splits = within_session_splits(t, n_folds=3)
    for s, (_, held) in zip(splits, KFold(3).split(t)):
        np.testing.assert_array_equal(s.test, held)
        # the purge drops exactly the training events within 1 s of the held-out stretch
        rest = np.setdiff1d(np.arange(t.size), held)
        near = (t[rest] > t[held].min() - 1.0) & (t[rest] < t[held].max() + 1.0)
        np.testing.assert_array_equal(s.train, rest[~near])
    assert [s.name for s in splits] == ["fold0", "fold1", "fold2"]
    assert "train=" in repr(splits[0]) and isinstance(splits[0], Split)


def test_unsorted_times_are_split_in_time_order():
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 100, 80)
    splits = within_session_splits(t, n_folds=2)
    first, second = splits[0].test, splits[1].test
    assert t[first].max() < t[second].min()


def test_cross_session_trains_on_one_and_tests_on_the_other():
    t = np.r_[np.arange(0, 60, 0.5), np.arange(0, 40, 0.5)]  # overlapping movie times
    sessions = np.r_[np.zeros(120, int), np.ones(80, int)]
    splits = cross_session_splits(sessions, t)
    assert [s.name for s in splits] == ["0->1", "1->0"]
    np.testing.assert_array_equal(splits[0].train, np.arange(120))
    np.testing.assert_array_equal(splits[0].test, np.arange(120, 200))
    for fit, val in splits[0].inner:
        assert np.isin(np.r_[fit, val], splits[0].train).all()
        assert _min_distance(t, fit, val) >= 1.0
    only = cross_session_splits(sessions, t, pairs=[(1, 0)])
    assert len(only) == 1 and only[0].name == "1->0"
    with pytest.raises(ValueError, match="same session"):
        cross_session_splits(sessions, t, pairs=[(1, 1)])
    with pytest.raises(ValueError, match="no events of session 7"):
        cross_session_splits(sessions, t, pairs=[(0, 7)])
    with pytest.raises(ValueError, match="at least 2 sessions"):
        cross_session_splits(np.zeros(120), t[:120])


def test_cross_subject_purges_per_recording():
    # subject A has two sessions of the same movie: their times overlap but share no sample
    t = np.r_[np.arange(0, 30, 0.5), np.arange(0, 30, 0.5), np.arange(0, 30, 0.5)]
    subjects = np.repeat(["A", "A", "B"], 60)
    sessions = np.repeat([0, 1, 0], 60)
    per_recording = cross_subject_splits(subjects, t, sessions=sessions, pairs=[("A", "B")], inner_folds=2)[0]
    per_subject = cross_subject_splits(subjects, t, pairs=[("A", "B")], inner_folds=2)[0]
    np.testing.assert_array_equal(per_recording.test, np.arange(120, 180))
    # inner fold 0 holds out session 0 of A: per recording nothing of session 1 is purged
    fit, val = per_recording.inner[0]
    np.testing.assert_array_equal(val, np.arange(60))
    np.testing.assert_array_equal(fit, np.arange(60, 120))
    # treating A's two sessions as one recording purges the overlapping times
    assert per_subject.inner[0][0].size < 60


def test_gap_and_fold_errors():
    t = np.arange(0, 20, 0.5)
    with pytest.raises(ValueError, match="shorter than the window"):
        within_session_splits(t, window_s=1.0, gap_s=0.5)
    with pytest.raises(ValueError, match="no training event is left"):
        within_session_splits(np.zeros(10), n_folds=2)
    with pytest.raises(ValueError, match="at least 2"):
        purged_kfold(t, 1, gap_s=1.0)
    with pytest.raises(ValueError, match="inner_folds must be at least 2"):
        within_session_splits(t, inner_folds=1)
    with pytest.raises(ValueError, match="finite seconds"):
        within_session_splits(np.r_[t, np.nan])
