"""The one cross-validation fold scheme of the project.

Events are split into ``n_folds`` contiguous, unshuffled folds in movie order (as
``sklearn.model_selection.KFold(n_splits, shuffle=False)`` does: the first
``n_events % n_folds`` folds are one event longer). Each held-out fold is split in half: the
first half is the validation part (used to choose the ridge penalty), the second half the test
part (the reported score). With an odd held-out size the test part gets the extra event.
The training part of a fold is every event outside that held-out fold: there is no gap
between training and held-out events (the study's choice; temporal autocorrelation is handled
only by contiguity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Fold", "contiguous_folds", "MIN_PART_EVENTS"]

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
        Validation events (penalty choice), increasing.
    test : ndarray of int64, shape (n_test,)
        Test events (reported score), increasing.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def __repr__(self) -> str:  # the default repr prints whole index arrays
        def span(a):
            return f"{len(a)} events" + (f" [{a[0]}..{a[-1]}]" if len(a) else "")

        return f"Fold(train={span(self.train)}, val={span(self.val)}, test={span(self.test)})"


def contiguous_folds(n_events: int, n_folds: int = 5) -> list[Fold]:
    """Contiguous, unshuffled folds in event order, held-out part split validation | test.

    Parameters
    ----------
    n_events : int
        Number of events (rows of the feature and response matrices).
    n_folds : int
        Number of folds (the study uses 5).

    Returns
    -------
    folds : list of Fold, length n_folds
        Fold ``k`` holds out the ``k``-th contiguous stretch of events; its first half
        (``size // 2`` events) is ``val``, the rest ``test``; ``train`` is everything else.

    Raises
    ------
    ValueError
        If ``n_folds < 2`` or there are too few events for every validation and test part
        to hold at least ``MIN_PART_EVENTS`` events.
    """
    n_events = int(n_events)
    n_folds = int(n_folds)
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2 for cross-validation, got {n_folds}")
    need = 2 * MIN_PART_EVENTS * n_folds
    if n_events < need:
        raise ValueError(
            f"{n_events} events are too few for {n_folds} folds: each held-out fold is split "
            f"into validation and test parts of at least {MIN_PART_EVENTS} events, so at least "
            f"{need} events are needed. Use fewer folds or more events (e.g. a longer movie "
            f"or the other alignment).")
    sizes = np.full(n_folds, n_events // n_folds, dtype=np.int64)
    sizes[: n_events % n_folds] += 1
    stops = np.cumsum(sizes)
    everything = np.arange(n_events, dtype=np.int64)
    folds = []
    for stop, size in zip(stops, sizes):
        start = stop - size
        mid = start + size // 2
        train = np.concatenate([everything[:start], everything[stop:]])
        folds.append(Fold(train=train, val=everything[start:mid].copy(),
                          test=everything[mid:stop].copy()))
    return folds
