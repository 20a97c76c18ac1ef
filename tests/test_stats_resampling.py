"""Resampling indices: permutations keep blocks, bootstrap rows, swaps, chunks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.encoding.folds import contiguous_folds
from mmsites.stats.resampling import (
    block_labels,
    block_permutations,
    block_swaps,
    bootstrap_indices,
    bootstrap_weights,
    chunks,
    fold_permutations,
)

FAST = settings(max_examples=40, deadline=None)


@FAST
@given(n=st.integers(4, 200), block=st.integers(1, 30), seed=st.integers(0, 2**31))
def test_block_permutations_move_whole_blocks(n, block, seed):
    if -(-n // block) < 2:
        with pytest.raises(ValueError, match="at least 2 blocks"):
            block_permutations(n, 3, block=block, seed=seed)
        return
    perms = block_permutations(n, 5, block=block, seed=seed)
    assert perms.shape == (5, n)
    labels = block_labels(n, block)
    for row in perms:
        assert np.array_equal(np.sort(row), np.arange(n))
        # Every block appears as one contiguous run, in its original internal order.
        for b in np.unique(labels):
            pos = np.flatnonzero(labels[row] == b)
            assert np.all(np.diff(pos) == 1)
            assert np.array_equal(row[pos], np.flatnonzero(labels == b))


@FAST
@given(n=st.integers(10, 200), block=st.integers(1, 5), seed=st.integers(0, 2**31))
def test_circular_shifts(n, block, seed):
    perms = block_permutations(n, 7, block=block, seed=seed, kind="circular")
    shift = perms[:, :1]
    assert np.array_equal(perms, (np.arange(n) + shift) % n)
    assert np.all((shift >= block) & (shift <= n - block))


def test_permutations_are_seeded_and_vary():
    a = block_permutations(100, 20, block=5, seed=3)
    assert np.array_equal(a, block_permutations(100, 20, block=5, seed=3))
    assert not np.array_equal(a, block_permutations(100, 20, block=5, seed=4))
    assert len({tuple(r) for r in a}) > 15
    with pytest.raises(ValueError, match="kind"):
        block_permutations(100, 2, block=5, seed=0, kind="iid")


@FAST
@given(n=st.integers(30, 300), seed=st.integers(0, 2**31), part=st.sampled_from(["test", "val"]))
def test_fold_permutations_stay_inside_each_part(n, seed, part):
    folds = contiguous_folds(n, 5)
    perms = fold_permutations(folds, n, 6, block=4, seed=seed, part=part)
    inside = np.concatenate([getattr(f, part) for f in folds])
    outside = np.setdiff1d(np.arange(n), inside)
    assert np.array_equal(perms[:, outside], np.broadcast_to(outside, (6, outside.size)))
    for f in folds:
        idx = getattr(f, part)
        assert np.array_equal(np.sort(perms[:, idx], axis=1), np.broadcast_to(idx, (6, idx.size)))


@FAST
@given(n=st.integers(1, 100), b=st.integers(1, 20), seed=st.integers(0, 2**31))
def test_bootstrap_indices_and_weights(n, b, seed):
    res = bootstrap_indices(n, b, seed=seed)
    assert res.shape == (b, n)
    assert np.all(np.diff(res, axis=1) >= 0)
    assert res.min() >= 0 and res.max() < n
    w = bootstrap_weights(res, n)
    for r, wr in zip(res, w):
        assert np.array_equal(wr, np.bincount(r, minlength=n))
    assert np.array_equal(res, bootstrap_indices(n, b, seed=seed))


@FAST
@given(n=st.integers(1, 100), block=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_block_swaps_are_constant_within_blocks(n, block, seed):
    sw = block_swaps(n, 9, block=block, seed=seed)
    labels = block_labels(n, block)
    for b in np.unique(labels):
        seg = sw[:, labels == b]
        assert np.all(seg == seg[:, :1])


def test_block_swaps_are_fair_coins():
    sw = block_swaps(1000, 200, block=10, seed=0)
    assert abs(sw.mean() - 0.5) < 0.02


@given(n=st.integers(0, 500), size=st.integers(1, 60))
def test_chunks_cover_in_order(n, size):
    sl = chunks(n, size)
    assert np.array_equal(np.concatenate([np.arange(n)[s] for s in sl] or [np.arange(0)]), np.arange(n))
    assert all(0 < s.stop - s.start <= size for s in sl)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(60, 300), block=st.integers(1, 12), seed=st.integers(0, 1000))
def test_block_bootstrap_stays_within_fold_segments(n, block, seed):
    from mmsites.encoding.folds import contiguous_folds, fold_segments

    times = np.arange(n) * 0.3
    folds = contiguous_folds(n, 5, times=times, gap_s=1.0)
    seg = fold_segments(folds, n)
    res = bootstrap_indices(n, 20, seed=seed, block=block, segments=seg)
    assert res.shape == (20, n)
    # Every position holds an event of its own segment: no duplicate crosses a fold boundary.
    np.testing.assert_array_equal(seg[res], np.broadcast_to(seg, res.shape))
    assert np.all(np.diff(res, axis=1) >= 0)
    np.testing.assert_array_equal(res, bootstrap_indices(n, 20, seed=seed, block=block, segments=seg))
    if block > 1:
        # Moving blocks: runs of consecutive events, not i.i.d. draws.
        steps = np.diff(res, axis=1)
        assert (steps == 1).mean() > 0.3


def test_fold_permutations_refuse_circular_and_permute_both_halves():
    from mmsites.encoding.folds import contiguous_folds

    folds = contiguous_folds(100, 5)
    with pytest.raises(ValueError, match="anti-conservative"):
        fold_permutations(folds, 100, 5, block=4, seed=0, kind="circular")
    both = fold_permutations(folds, 100, 5, block=4, seed=0, part="both")
    test_only = fold_permutations(folds, 100, 5, block=4, seed=0, part="test")
    for f in folds:
        # The test halves move exactly as with part="test"; validation halves move within.
        np.testing.assert_array_equal(both[:, f.test], test_only[:, f.test])
        assert set(both[:, f.val].ravel()) == set(f.val)
    assert (both != np.arange(100)).any()
