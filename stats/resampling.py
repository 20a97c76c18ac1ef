"""Resampling indices: block permutations, circular shifts, bootstrap resamples.

Every function returns plain integer index arrays drawn from a seeded generator, so a
pipeline can draw them once, save them, split them into chunks for parallel workers and
share them between models: the statistics never depend on which worker ran which chunk.

Why blocks: neighbouring events of a movie are close in time, so both the neural response
(slow drift, long evoked responses) and the stimulus features (a scene, a sentence) are
autocorrelated. Shuffling events one by one destroys that autocorrelation, which makes the
null distribution of a correlation too narrow and the test anti-conservative (far more than
5 % of null bins pass at p < 0.05). Moving contiguous *blocks* of events as units, keeping
the order inside each block, or shifting the whole sequence circularly, keeps the
autocorrelation and only breaks the pairing between events and features. Block sizes and
their calibration are discussed in ``docs/statistics.md``.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "block_permutations",
    "fold_permutations",
    "block_swaps",
    "bootstrap_indices",
    "bootstrap_weights",
    "block_labels",
    "chunks",
    "part_block",
]


def _check_count(name: str, value: int, minimum: int = 1) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def block_labels(n_events: int, block: int) -> np.ndarray:
    """Block number of each event when events are cut into contiguous blocks.

    Parameters
    ----------
    n_events : int
        Number of events.
    block : int
        Events per block (the last block may be shorter).

    Returns
    -------
    labels : ndarray of int, shape (n_events,)
        ``labels[i] = i // block``.

    Raises
    ------
    ValueError
        If ``n_events`` or ``block`` is not an integer >= 1.
    """
    n_events = _check_count("n_events", n_events)
    block = _check_count("block", block)
    return np.arange(n_events) // block


def block_permutations(
    n_events: int, n_perm: int, *, block: int, seed: int, kind: str = "block"
) -> np.ndarray:
    """Permutations of events that keep the signal's autocorrelation.

    Parameters
    ----------
    n_events : int
        Number of events, in movie order.
    n_perm : int
        Number of permutations.
    block : int
        ``kind="block"``: events per block; the blocks (the last may be shorter) are put in
        a random order, each keeping its internal order. ``kind="circular"``: the smallest
        shift allowed, so that a shifted sequence never stays within one block of its
        original pairing (shifts are drawn uniformly from ``block .. n_events - block``).
    seed : int
        Seed of the random generator.
    kind : {"block", "circular"}
        Block permutation or circular shift.

    Returns
    -------
    perms : ndarray of int64, shape (n_perm, n_events)
        Row ``p`` is a permutation of ``0 .. n_events - 1``: event ``i`` is paired with the
        response of event ``perms[p, i]``.

    Raises
    ------
    ValueError
        If a count is not an integer >= 1, ``kind`` is not one of the choices, or the events
        are too few for the blocks (fewer than 2 blocks, or ``n_events < 2 * block`` for
        circular shifts).
    """
    n_events = _check_count("n_events", n_events)
    n_perm = _check_count("n_perm", n_perm)
    block = _check_count("block", block)
    rng = np.random.default_rng(seed)
    if kind == "block":
        n_blocks = -(-n_events // block)
        if n_blocks < 2:
            raise ValueError(
                f"block permutation needs at least 2 blocks, but {n_events} events "
                f"in blocks of {block} make {n_blocks}: use a smaller block"
            )
        order = rng.random((n_perm, n_blocks)).argsort(axis=1)
        starts = np.arange(n_blocks) * block
        lengths = np.minimum(block, n_events - starts)
        # Row p lists the events of block order[p, 0], then of order[p, 1], ...
        offs = np.arange(block)
        cand = starts[order][:, :, None] + offs  # (n_perm, n_blocks, block)
        keep = offs < lengths[order][:, :, None]
        return cand[keep].reshape(n_perm, n_events).astype(np.int64)
    if kind == "circular":
        lo, hi = block, n_events - block
        if hi < lo:
            raise ValueError(
                f"circular shifts need n_events >= 2 * block, got {n_events} events "
                f"and block {block}: use a smaller block"
            )
        shifts = rng.integers(lo, hi + 1, size=n_perm)
        return ((np.arange(n_events)[None, :] + shifts[:, None]) % n_events).astype(np.int64)
    raise ValueError(f"kind must be 'block' or 'circular', got {kind!r}")


def part_block(size: int, block: int) -> int:
    """Block size used inside a held-out part (or segment) of ``size`` events.

    A block as long as the part would move it unchanged, so blocks are at most half the
    part (and at least one event).

    Parameters
    ----------
    size : int
        Events in the part.
    block : int
        Requested events per block.

    Returns
    -------
    int
        ``min(block, max(1, size // 2))``.
    """
    return min(block, max(1, size // 2))


def fold_permutations(
    folds, n_events: int, n_perm: int, *, block: int, seed: int, kind: str = "block", part: str = "test"
) -> np.ndarray:
    """Permutations that move events only within each fold's held-out part.

    Used by the fast signal test, which permutes out-of-fold predictions against the
    responses inside each fold's test half (so the fitted models stay as they are).

    Parameters
    ----------
    folds : sequence of Fold
        Cross-validation folds (:class:`mmsites.encoding.folds.Fold`; anything with integer
        index arrays ``val`` and ``test``), indices in ``0 .. n_events - 1``.
    n_events : int
        Number of events.
    n_perm : int
        Number of permutations.
    block : int
        Events per block, as in :func:`block_permutations`, applied inside each fold's part;
        a part shorter than ``2 * block`` uses blocks of half its length
        (:func:`part_block`, logged).
    seed : int
        Seed; fold ``k`` uses an independent stream spawned from it.
    kind : {"block"}
        Only block permutations; circular shifts are refused (anti-conservative here).
    part : {"test", "val", "both"}
        Which held-out half to permute (``both``: each half within itself, independently).

    Returns
    -------
    perms : ndarray of int64, shape (n_perm, n_events)
        Identity outside the folds' parts; inside fold ``k``'s part a block permutation of
        that part's events. Block permutations move whole blocks of
        ``block`` events counted from the start of the part; the last ``size % block``
        events of a part (fewer than one block) stay in place.

    Raises
    ------
    ValueError
        If ``part`` or ``kind`` is not one of the choices (``kind="circular"`` is refused),
        ``n_perm`` is not an integer >= 1, or a fold's indices reach ``n_events``.
    """
    if part not in ("test", "val", "both"):
        raise ValueError(f"part must be 'test', 'val' or 'both', got {part!r}")
    if kind == "circular":
        # Measured: 16-42 % false positives at alpha 0.05. A shift inside a short held-out
        # part wraps its end onto its start and leaves the fitted model's drift aligned.
        raise ValueError(
            "circular shifts inside held-out parts give an anti-conservative null "
            "(16-42 % false positives at 0.05 in calibration); use kind='block' "
            "here, or circular shifts of the whole recording with a refit null"
        )
    if kind != "block":
        raise ValueError(f"kind must be 'block', got {kind!r}")
    n_perm = _check_count("n_perm", n_perm)
    perms = np.tile(np.arange(n_events, dtype=np.int64), (n_perm, 1))
    parts = ("test", "val") if part == "both" else (part,)
    # One stream per (part, fold); the test streams are those of part="test" alone.
    streams = np.random.SeedSequence(seed).spawn(len(folds))
    if part == "both":
        streams += np.random.SeedSequence([seed, 1]).spawn(len(folds))
    todo = [(k, fold, name) for name in parts for k, fold in enumerate(folds)]
    for (k, fold, name), ss in zip(todo, streams):
        idx = np.asarray(getattr(fold, name))
        if idx.size == 0:
            continue
        if idx.max() >= n_events:
            raise ValueError(
                f"fold {k} {name} indices reach {idx.max()} but there are only {n_events} events"
            )
        blk = part_block(idx.size, block)
        if blk < block:
            logger.warning(
                "fold %d %s part has %d events: using blocks of %d instead of %d",
                k,
                name,
                idx.size,
                blk,
                block,
            )
        sub_seed = int(ss.generate_state(1)[0])
        # Only whole blocks move, and the last (idx.size % blk) events stay in place: with
        # blocks aligned to the part, the fast null can sum precomputed block-pair products
        # instead of touching every event (see fast_permutation_null).
        full = idx.size - idx.size % blk
        local = np.broadcast_to(np.arange(idx.size), (n_perm, idx.size)).copy()
        local[:, :full] = block_permutations(full, n_perm, block=blk, seed=sub_seed)
        perms[:, idx] = idx[local]
    return perms


def bootstrap_indices(n_events: int, n_boot: int, *, seed: int, block: int = 1, segments=None) -> np.ndarray:
    """Bootstrap resamples of events, drawn with replacement and sorted.

    Sorting keeps the resampled events in movie order, as the study does, so contiguous
    folds remain contiguous in time. Draw once per subject and alignment and share the
    result between all models (paired comparisons rely on it).

    Autocorrelated responses need two refinements, both on by the pipeline:

    * ``segments`` (:func:`mmsites.encoding.folds.fold_segments`): each event is drawn only from its
      own segment (a run of events with the same role in every fold), so a resample keeps
      every fold's training, validation and test parts, and the purge gaps between them:
      no event is duplicated across a fold boundary.
    * ``block`` > 1: a moving-block bootstrap (Künsch 1989) inside each segment: blocks of
      ``block`` consecutive events (at most half the segment, :func:`part_block`) start at
      uniformly drawn positions and are concatenated until the segment's length is filled,
      which keeps the autocorrelation within a block.

    Parameters
    ----------
    n_events : int
        Number of events.
    n_boot : int
        Number of resamples.
    seed : int
        Seed of the random generator.
    block : int
        Events per moving block (1: i.i.d. events).
    segments : array of int, shape (n_events,), optional
        Non-decreasing segment label of every event; default: one segment.

    Returns
    -------
    resamples : ndarray of int64, shape (n_boot, n_events)
        Each row sorted ascending; position ``i`` holds an event of ``i``'s segment.

    Raises
    ------
    ValueError
        If a count is not an integer >= 1, or ``segments`` is not ``n_events``
        non-decreasing labels.
    """
    n_events = _check_count("n_events", n_events)
    n_boot = _check_count("n_boot", n_boot)
    block = _check_count("block", block)
    rng = np.random.default_rng(seed)
    if segments is None and block == 1:
        return np.sort(rng.integers(0, n_events, size=(n_boot, n_events)), axis=1)
    labels = np.zeros(n_events, np.int64) if segments is None else np.asarray(segments)
    if labels.shape != (n_events,) or np.any(np.diff(labels) < 0):
        raise ValueError(f"segments must be {n_events} non-decreasing labels, one per event")
    out = np.empty((n_boot, n_events), dtype=np.int64)
    bounds = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1], True])
    for start, stop in zip(bounds[:-1], bounds[1:]):
        m = stop - start
        # At most half the segment: a block as long as the segment would copy it unchanged.
        length = part_block(m, block)
        n_blocks = -(-m // length)
        first = rng.integers(0, m - length + 1, size=(n_boot, n_blocks))
        draws = (first[:, :, None] + np.arange(length)).reshape(n_boot, -1)[:, :m]
        out[:, start:stop] = np.sort(draws, axis=1) + start
    return out


def bootstrap_weights(resamples: np.ndarray, n_events: int) -> np.ndarray:
    """How often each event occurs in each resample.

    Parameters
    ----------
    resamples : ndarray of int, shape (n_boot, n_draws)
        Event indices, as from :func:`bootstrap_indices`.
    n_events : int
        Number of events.

    Returns
    -------
    weights : ndarray of float64, shape (n_boot, n_events)
        ``weights[b, i]`` = number of times event ``i`` is in resample ``b``.

    Raises
    ------
    ValueError
        If ``resamples`` is not 2-D or holds indices outside ``0 .. n_events - 1``.
    """
    resamples = np.asarray(resamples)
    if resamples.ndim != 2:
        raise ValueError(f"resamples must be 2-D (n_boot, n_draws), got shape {resamples.shape}")
    if resamples.size and (resamples.min() < 0 or resamples.max() >= n_events):
        raise ValueError(
            f"resample indices must lie in 0..{n_events - 1}, got {resamples.min()}..{resamples.max()}"
        )
    n_boot = resamples.shape[0]
    flat = (resamples + np.arange(n_boot)[:, None] * n_events).ravel()
    return np.bincount(flat, minlength=n_boot * n_events).reshape(n_boot, n_events).astype(float)


def chunks(n: int, size: int) -> list[slice]:
    """Split ``range(n)`` into consecutive slices of at most ``size`` items.

    Used to split permutations or resamples into work units: running a null or bootstrap
    function on each chunk of the index array and concatenating gives the same result as
    running it on the whole array.

    Parameters
    ----------
    n : int
        Number of items (permutations, resamples).
    size : int
        Items per chunk (the last chunk may be smaller).

    Returns
    -------
    slices : list of slice
        ``ceil(n / size)`` consecutive slices covering ``0 .. n - 1``; empty when ``n == 0``.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 0 or ``size`` not an integer >= 1.
    """
    n = _check_count("n", n, minimum=0)
    size = _check_count("size", size)
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def block_swaps(n_events: int, n_perm: int, *, block: int, seed: int) -> np.ndarray:
    """Random swaps of two models' predictions, decided per block of events.

    For the paired permutation test: under the null that two models predict equally well,
    exchanging their out-of-fold predictions on any set of events changes nothing. Whole
    blocks of contiguous events are swapped together (a fair coin per block), which keeps
    the autocorrelation of each model's prediction errors.

    Parameters
    ----------
    n_events : int
        Number of events, in movie order.
    n_perm : int
        Number of swap patterns.
    block : int
        Events per block (the last block may be shorter); each block is swapped as a unit.
    seed : int
        Seed of the random generator.

    Returns
    -------
    swaps : ndarray of bool, shape (n_perm, n_events)
        ``True`` where the two models' predictions are exchanged.

    Raises
    ------
    ValueError
        If ``n_events``, ``n_perm`` or ``block`` is not an integer >= 1.
    """
    labels = block_labels(n_events, block)
    n_perm = _check_count("n_perm", n_perm)
    rng = np.random.default_rng(seed)
    coins = rng.random((n_perm, labels[-1] + 1)) < 0.5
    return coins[:, labels]
