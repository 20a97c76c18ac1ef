"""The one cross-validation fold scheme of the project.

Events are split into ``n_folds`` contiguous, unshuffled folds in movie order (as
``sklearn.model_selection.KFold(n_splits, shuffle=False)`` does: the first
``n_events % n_folds`` folds are one event longer). Each held-out fold is split in half: the
first half is the validation part (used for every choice made from the data: the ridge
penalty, signal bins, a family's best model, MultiLin's size), the second half the test part
(the reported score and every test). With an odd held-out size the test part gets the extra
event. The training part of a fold is every event outside that held-out fold.

Notes
-----
**Purged folds** (``gap_s``)

Neighbouring events share neural samples (a response window spans ±2 s and words come every
~0.3 s) and stimulus features (events of one sentence or one scene). Without a gap, the
training events next to a held-out fold leak its responses into the fit, and the last
validation events share samples with the first test events, so the choices made on
validation data are not independent of the test. With ``gap_s > 0`` (and the events'
``times``) the scheme *purges*:

* training events closer than ``gap_s`` seconds to any event of the held-out fold are
  dropped from that fold's training part;
* validation events closer than ``gap_s`` to the first test event of the fold are dropped
  from the validation part (they belong to no part of that fold).

The natural gap is the span of samples one response reads, ``tmax_s - tmin_s + window_s``
(4.2 s for the study's windows): events further apart than that share no sample. ``gap_s =
0`` reproduces the study's folds exactly. Times from different recordings (sessions) must
not overlap: pass times that keep sessions apart (e.g. offset each session by more than the
gap); events of different sessions never share samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Fold", "contiguous_folds", "fold_segments", "MIN_PART_EVENTS"]

#: A validation or test part needs at least this many events for a Pearson r that is not
#: trivially ±1.
MIN_PART_EVENTS = 3


@dataclass(frozen=True)
class Fold:
    """Event indices of one cross-validation fold.

    Attributes
    ----------
    train : ndarray of int64, shape (n_train,)
        Training events, increasing.
    val : ndarray of int64, shape (n_val,)
        Validation events (every choice made from the data), increasing.
    test : ndarray of int64, shape (n_test,)
        Test events (reported score and tests), increasing.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def __repr__(self) -> str:  # the default repr prints whole index arrays
        def span(a):
            return f"{len(a)} events" + (f" [{a[0]}..{a[-1]}]" if len(a) else "")

        return f"Fold(train={span(self.train)}, val={span(self.val)}, test={span(self.test)})"


def _near(times: np.ndarray, lo: float, hi: float, gap: float) -> np.ndarray:
    """Events whose time is closer than ``gap`` to the interval [lo, hi]."""
    return (times > lo - gap) & (times < hi + gap)


def contiguous_folds(n_events: int, n_folds: int = 5, *, times=None, gap_s: float = 0.0) -> list[Fold]:
    """Contiguous, unshuffled folds in event order, held-out part split validation | test.

    Parameters
    ----------
    n_events : int
        Number of events (rows of the feature and response matrices).
    n_folds : int
        Number of folds (the study uses 5).
    times : array of float, shape (n_events,), optional
        Event times in seconds, non-decreasing within a recording; needed when
        ``gap_s > 0``. Only distances between times are used.
    gap_s : float
        Purge gap in seconds (module docstring); 0 (the default) gives the study's folds.

    Returns
    -------
    folds : list of Fold, length n_folds
        Fold ``k`` holds out the ``k``-th contiguous stretch of events; its first half
        (``size // 2`` events, minus the purged ones) is ``val``, the rest ``test``;
        ``train`` is everything else minus the purged events.

    Raises
    ------
    ValueError
        If ``n_folds < 2``, ``gap_s`` is negative or given without ``times``, or there are
        too few events for every validation and test part to hold at least
        ``MIN_PART_EVENTS`` events (after purging).
    """
    n_events = int(n_events)
    n_folds = int(n_folds)
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2 for cross-validation, got {n_folds}")
    gap_s = float(gap_s)
    if not gap_s >= 0:
        raise ValueError(f"gap_s must be a non-negative number of seconds, got {gap_s}")
    if gap_s > 0:
        if times is None:
            raise ValueError(
                "gap_s > 0 needs the events' times (seconds) to find the events near each fold boundary"
            )
        times = np.asarray(times, dtype=np.float64)
        if times.shape != (n_events,) or not np.isfinite(times).all():
            raise ValueError(
                f"times must be {n_events} finite numbers (seconds), one per event; got shape {times.shape}"
            )
    need = 2 * MIN_PART_EVENTS * n_folds
    if n_events < need:
        raise ValueError(
            f"{n_events} events are too few for {n_folds} folds: each held-out fold is split "
            f"into validation and test parts of at least {MIN_PART_EVENTS} events, so at least "
            f"{need} events are needed. Use fewer folds or more events (e.g. a longer movie "
            f"or the other alignment)."
        )
    sizes = np.full(n_folds, n_events // n_folds, dtype=np.int64)
    sizes[: n_events % n_folds] += 1
    stops = np.cumsum(sizes)
    everything = np.arange(n_events, dtype=np.int64)
    folds = []
    for k, (stop, size) in enumerate(zip(stops, sizes)):
        start = stop - size
        mid = start + size // 2
        outside = np.ones(n_events, dtype=bool)
        outside[start:stop] = False
        val = everything[start:mid]
        if gap_s > 0:
            held = times[start:stop]
            outside &= ~_near(times, held.min(), held.max(), gap_s)
            val = val[times[start:mid] <= times[mid] - gap_s]
        if val.size < MIN_PART_EVENTS:
            raise ValueError(
                f"fold {k}: only {val.size} validation events remain after purging the events "
                f"within gap_s={gap_s:g} s of its test part; at least {MIN_PART_EVENTS} are "
                "needed. Use a smaller gap, fewer folds or more events."
            )
        folds.append(Fold(train=everything[outside], val=val.copy(), test=everything[mid:stop].copy()))
    return folds


def fold_segments(folds, n_events: int) -> np.ndarray:
    """Label the runs of events that play the same role in every fold.

    Two events get the same label when they are contiguous and, in every fold, both are
    training, both validation, both test or both in no part (purged). Resampling events
    only within a segment (e.g. a block bootstrap) keeps every fold's training, validation
    and test parts and its purge gaps exactly where they were.

    Parameters
    ----------
    folds : sequence of Fold
        Cross-validation folds over the same ``n_events`` events (normally
        :func:`contiguous_folds`); their index arrays must lie in ``0 .. n_events - 1``.
    n_events : int
        Number of events (rows of the feature and response matrices).

    Returns
    -------
    labels : ndarray of int64, shape (n_events,)
        Segment number of each event, non-decreasing from 0; a new segment starts wherever
        an event's role (training, validation, test or none) changes in any fold.
    """
    roles = np.zeros((int(n_events), len(folds)), dtype=np.int8)
    for k, f in enumerate(folds):
        roles[np.asarray(f.train), k] = 1
        roles[np.asarray(f.val), k] = 2
        roles[np.asarray(f.test), k] = 3
    change = np.r_[False, (roles[1:] != roles[:-1]).any(axis=1)]
    return np.cumsum(change).astype(np.int64)
