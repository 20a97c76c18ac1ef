"""Train/test splits for decoding: within session, across sessions, across subjects.

Every split builder returns a list of :class:`Split`: the training and test events of one
fit, plus *inner* folds drawn from the training events only, on which a probe chooses its
hyper-parameters (:func:`mmsites.decoding.probes.linear_probe`). Test events never take part
in any choice.

Notes
-----
**The purge**

Each event reads the neural window ``[t, t + window_s)`` after its time ``t`` (1 s in
Neuroprobe). Two windows of one recording share samples exactly when their times are less
than ``window_s`` apart, and a probe trained on one of them and tested on the other has seen
the test data. Events are therefore split in contiguous stretches of time (never shuffled:
neighbouring events are also alike through slow drift and through the stimulus) and, within
a recording, every training event closer than ``gap_s`` (default ``window_s``, never less) to
a held-out event is dropped from that fold's training part. After the purge, any training
and test window of one recording are at least ``gap_s >= window_s`` apart and share no
sample; the same holds between the fit and validation parts of every inner fold. Events of
different recordings never share samples and are not purged against each other.

The scheme is the project's contiguous-folds idea (:mod:`mmsites.encoding.folds`: folds in
time order, sizes as ``sklearn.model_selection.KFold(shuffle=False)``, a purge gap at their
boundaries) applied to Neuroprobe's splits. It differs from Neuroprobe 0.1.8 in two ways:
Neuroprobe does not purge, and it takes its validation set from the held-out data (the first
half of the test fold or session) rather than from the training data.

**Split kinds**

``within_session`` (:func:`within_session_splits`)
    One recording, ``n_folds`` contiguous folds in time (Neuroprobe: 2); each fold is the test
    set once.
``cross_session`` (:func:`cross_session_splits`)
    Train on every event of session A, test on every event of session B of the same subject
    (Neuroprobe: train on one other session of the subject). Features must mean the same
    thing in both sessions (same electrodes, same order).
``cross_subject`` (:func:`cross_subject_splits`)
    Train on subject A's events, test on subject B's. Electrodes differ between subjects, so
    this needs features in a *shared space*: population embeddings that do not index
    electrodes (PopT CLS vectors, region-averaged features, a learned common projection).
    Raw voltage, band power or per-electrode BrainBERT features of different subjects are
    not comparable column by column, and a probe trained on them is meaningless across
    subjects. Prefer training and test sessions of *different movies* (Neuroprobe trains on
    subject 2's session 4): with the same movie, test events are the very stimuli seen in
    training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .tasks import WINDOW_S

__all__ = ["Split", "purged_kfold", "within_session_splits", "cross_session_splits", "cross_subject_splits"]


@dataclass(frozen=True)
class Split:
    """One train/test split of events, with inner folds for hyper-parameters.

    Attributes
    ----------
    train : ndarray of int64, shape (n_train,)
        Training events (rows of the feature matrix), increasing.
    test : ndarray of int64, shape (n_test,)
        Test events, increasing; disjoint from ``train``.
    inner : tuple of (ndarray, ndarray)
        Inner folds ``(fit, val)``: index arrays (int64, increasing) that are subsets of
        ``train``, purged like the outer split; every hyper-parameter is chosen on them.
    name : str
        Readable name: ``"fold0"``, ``"fold1"``, ... within a session, ``"A->B"`` across
        sessions or subjects.
    """

    train: np.ndarray
    test: np.ndarray
    inner: tuple
    name: str = ""

    def __repr__(self) -> str:  # the default repr prints whole index arrays
        return (
            f"Split({self.name!r}, train={len(self.train)} events, test={len(self.test)} events, "
            f"inner={len(self.inner)} folds)"
        )


def _gap(window_s: float, gap_s: float | None) -> float:
    window_s = float(window_s)
    if not window_s > 0:
        raise ValueError(f"window_s must be a positive number of seconds, got {window_s}")
    gap = window_s if gap_s is None else float(gap_s)
    if not gap >= window_s:
        raise ValueError(
            f"gap_s={gap} s is shorter than the window ({window_s} s): training and test windows "
            "could share samples; use gap_s >= window_s"
        )
    return gap


def _times(times, n: int | None = None) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or (n is not None and t.size != n) or not np.isfinite(t).all():
        want = "one per event" if n is None else f"{n}, one per event"
        raise ValueError(f"times must be a 1-D array of finite seconds ({want}); got shape {t.shape}")
    return t


def _codes(labels, n: int, what: str) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise ValueError(f"{what} must hold one label per event ({n}); got shape {lab.shape}")
    return np.unique(lab, return_inverse=True)[1].astype(np.int64)


def purged_kfold(
    times, n_folds: int, *, gap_s: float, groups=None, index=None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous K-fold in time with a purge gap (the one fold scheme of this package).

    Events (all, or those of ``index``) are ordered by (group, time) and cut into
    ``n_folds`` contiguous stretches, the first ``n % n_folds`` one event longer (as
    ``KFold(shuffle=False)``); each stretch is held out once. Training events of a group that
    are closer than ``gap_s`` to the span of that group's held-out events are dropped.

    Parameters
    ----------
    times : array-like of float, shape (n_events,)
        Event times (s), finite; only differences within a group are used.
    n_folds : int
        Number of folds, at least 2.
    gap_s : float
        Purge gap (s), non-negative: after the purge every training event is at least
        ``gap_s`` from every held-out event of its group.
    groups : array-like, shape (n_events,), optional
        Recording of each event (sessions); events of different groups are never purged
        against each other. Default: one recording.
    index : array-like of int, optional
        The events to split (e.g. a split's training events); default all.

    Returns
    -------
    folds : list of (ndarray, ndarray)
        ``(train, held_out)`` index arrays (int64, increasing, into ``times``), one per fold.

    Raises
    ------
    ValueError
        If ``n_folds < 2``, there are fewer events than folds, ``gap_s`` is negative, or a
        fold's training part is empty after the purge.
    """
    t = _times(times)
    n_folds = int(n_folds)
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    gap_s = float(gap_s)
    if not gap_s >= 0:
        raise ValueError(f"gap_s must be non-negative seconds, got {gap_s}")
    g = np.zeros(t.size, np.int64) if groups is None else _codes(groups, t.size, "groups")
    idx = np.arange(t.size, dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64).ravel()
    if idx.size < n_folds:
        raise ValueError(f"{idx.size} events are too few for {n_folds} folds")
    idx = idx[np.lexsort((t[idx], g[idx]))]
    sizes = np.full(n_folds, idx.size // n_folds, dtype=np.int64)
    sizes[: idx.size % n_folds] += 1
    stops = np.cumsum(sizes)
    out = []
    for k, (stop, size) in enumerate(zip(stops, sizes)):
        held = idx[stop - size : stop]
        rest = np.r_[idx[: stop - size], idx[stop:]]
        keep = np.ones(rest.size, dtype=bool)
        for grp in np.unique(g[held]):
            th = t[held[g[held] == grp]]
            keep &= ~((g[rest] == grp) & (t[rest] > th.min() - gap_s) & (t[rest] < th.max() + gap_s))
        train = np.sort(rest[keep])
        if train.size == 0:
            raise ValueError(
                f"fold {k}: no training event is left after purging those within gap_s={gap_s:g} s "
                "of the held-out events; use fewer folds, a smaller gap or more events"
            )
        out.append((train, np.sort(held)))
    return out


def _inner(times, train: np.ndarray, inner_folds: int, gap: float, groups) -> tuple:
    inner_folds = int(inner_folds)
    if inner_folds < 2:
        raise ValueError(
            f"inner_folds must be at least 2 (hyper-parameters are chosen by inner CV), got {inner_folds}"
        )
    return tuple(purged_kfold(times, inner_folds, gap_s=gap, groups=groups, index=train))


def within_session_splits(
    times,
    *,
    n_folds: int = 2,
    window_s: float = WINDOW_S,
    gap_s: float | None = None,
    inner_folds: int = 3,
) -> list[Split]:
    """Contiguous K-fold splits in time within one recording session, purged.

    Parameters
    ----------
    times : array-like of float, shape (n_events,)
        Event times (s) of one session (a task table's ``time_s``), any order.
    n_folds : int, default 2
        Number of folds (Neuroprobe: 2).
    window_s : float, default 1.0
        Length (s) of the neural window each event reads (its start is the event time; only
        the length matters: for windows centred on the event pass their full span).
    gap_s : float, optional
        Purge gap (s); default ``window_s``; smaller values are refused.
    inner_folds : int, default 3
        Contiguous, purged folds of each training part for the hyper-parameters.

    Returns
    -------
    splits : list of Split
        One per fold, named ``"fold<k>"``; the test parts partition the events.

    Raises
    ------
    ValueError
        If the times are not finite, ``gap_s < window_s``, or a fold or inner fold is empty
        after the purge.
    """
    t = _times(times)
    gap = _gap(window_s, gap_s)
    return [
        Split(train=train, test=test, inner=_inner(t, train, inner_folds, gap, None), name=f"fold{k}")
        for k, (train, test) in enumerate(purged_kfold(t, n_folds, gap_s=gap))
    ]


def _cross_splits(key, purge_groups, times, pairs, window_s, gap_s, inner_folds, what) -> list[Split]:
    t = _times(times)
    key = np.asarray(key)
    if key.shape != t.shape:
        raise ValueError(f"{what} must hold one label per event ({t.size}); got shape {key.shape}")
    values = np.unique(key).tolist()
    if pairs is None:
        if len(values) < 2:
            raise ValueError(f"cross-{what} splits need events of at least 2 {what}s, got {values}")
        pairs = [(a, b) for a in values for b in values if a != b]
    gap = _gap(window_s, gap_s)
    out = []
    for a, b in pairs:
        if a == b:
            raise ValueError(f"cross-{what} pair ({a!r}, {b!r}) trains and tests on the same {what}")
        train, test = np.flatnonzero(key == a), np.flatnonzero(key == b)
        if train.size == 0 or test.size == 0:
            missing = a if train.size == 0 else b
            raise ValueError(f"no events of {what} {missing!r} (the {what}s present are {values})")
        inner = _inner(t, train, inner_folds, gap, purge_groups)
        out.append(Split(train=train, test=test, inner=inner, name=f"{a}->{b}"))
    return out


def cross_session_splits(
    sessions,
    times,
    *,
    pairs: Sequence[tuple] | None = None,
    window_s: float = WINDOW_S,
    gap_s: float | None = None,
    inner_folds: int = 3,
) -> list[Split]:
    """Train on one session, test on another (one subject, features of the same electrodes).

    Parameters
    ----------
    sessions : array-like, shape (n_events,)
        Session (trial) of each event.
    times : array-like of float, shape (n_events,)
        Event times (s) within their session (movie time).
    pairs : sequence of (train_session, test_session), optional
        The splits to make; default every ordered pair of distinct sessions.
    window_s : float, default 1.0
        Length (s) of the neural window each event reads.
    gap_s : float, optional
        Purge gap (s) of the inner folds; default ``window_s``.
    inner_folds : int, default 3
        Contiguous, purged folds of the training session for the hyper-parameters.

    Returns
    -------
    splits : list of Split
        One per pair, named ``"A->B"``: train = every event of A, test = every event of B.

    Raises
    ------
    ValueError
        If there are fewer than 2 sessions, a pair names a missing session or the same
        session twice, or an inner fold is empty after the purge.
    """
    return _cross_splits(sessions, sessions, times, pairs, window_s, gap_s, inner_folds, "session")


def cross_subject_splits(
    subjects,
    times,
    *,
    sessions=None,
    pairs: Sequence[tuple] | None = None,
    window_s: float = WINDOW_S,
    gap_s: float | None = None,
    inner_folds: int = 3,
) -> list[Split]:
    """Train on one subject, test on another: needs features in a shared space.

    The rows of the feature matrix of different subjects must mean the same thing column by
    column (population embeddings such as PopT CLS vectors; not per-electrode features):
    module docstring.

    Parameters
    ----------
    subjects : array-like, shape (n_events,)
        Subject of each event.
    times : array-like of float, shape (n_events,)
        Event times (s) within their session (movie time).
    sessions : array-like, shape (n_events,), optional
        Session of each event, when a subject contributes several (the purge of the inner
        folds then works per (subject, session)); default one session per subject.
    pairs : sequence of (train_subject, test_subject), optional
        The splits to make; default every ordered pair of distinct subjects.
    window_s : float, default 1.0
        Length (s) of the neural window each event reads.
    gap_s : float, optional
        Purge gap (s) of the inner folds; default ``window_s``.
    inner_folds : int, default 3
        Contiguous, purged folds of the training subject's events for the hyper-parameters.

    Returns
    -------
    splits : list of Split
        One per pair, named ``"A->B"``: train = every event of A, test = every event of B.

    Raises
    ------
    ValueError
        If there are fewer than 2 subjects, a pair names a missing subject or the same
        subject twice, or an inner fold is empty after the purge.
    """
    subj = np.asarray(subjects)
    groups = subj
    if sessions is not None:
        sess = np.asarray(sessions)
        if sess.shape != subj.shape:
            raise ValueError(f"sessions must hold one label per event ({subj.size}); got shape {sess.shape}")
        # one recording = one (subject, session) pair
        groups = np.unique(
            np.stack([subj.astype(str), sess.astype(str)], axis=1), axis=0, return_inverse=True
        )[1].reshape(-1)
    return _cross_splits(subj, groups, times, pairs, window_s, gap_s, inner_folds, "subject")
