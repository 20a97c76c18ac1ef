"""Movie time: the one place where times are compared, matched and snapped to frames.

All times are **seconds of movie time** (float64). Two rules live here and nowhere else.

The tolerance policy
    Times the pipeline computes itself (frame presentation times from the pts, transcript
    onsets, event times written by the events stage) are equal when they differ by less than
    :data:`TIME_TOL_S` (1 µs): this absorbs float round-off and nothing else. Times read from
    a table a *user* wrote (``family: precomputed`` feature files, usually printed with
    millisecond precision) match within :data:`TABLE_TIME_TOL_S` (1 ms); no event or frame of
    a film is closer than that to the next one (a frame lasts ≥ 16 ms at 60 fps).

The frame rule
    An event at time ``t`` is shown the **first frame at or after t**, a frame less than
    :data:`TIME_TOL_S` before ``t`` counting as at ``t`` (:func:`next_frame_index`,
    :func:`next_frame_time`).

This module depends on numpy only, so every package (``recordings``, ``features``,
``pipeline``) may use it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "TIME_TOL_S",
    "TABLE_TIME_TOL_S",
    "check_times",
    "check_frame_times",
    "next_frame_index",
    "next_frame_time",
    "match_times",
]

#: Seconds under which two times the pipeline computed are the same time (float round-off).
TIME_TOL_S = 1e-6

#: Seconds under which a time read from a user's table matches an event time.
TABLE_TIME_TOL_S = 1e-3


def check_times(times_s, name: str = "times_s") -> np.ndarray:
    """Validate a 1-D array of finite times.

    Parameters
    ----------
    times_s : array-like of float, shape (n_times,)
        Seconds of movie time, any order.
    name : str
        The argument's name, for the error message.

    Returns
    -------
    numpy.ndarray of float64, shape (n_times,)
        The times as float64.

    Raises
    ------
    ValueError
        When the array is not 1-D or holds NaN or infinite values.
    """
    t = np.asarray(times_s, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of seconds, got shape {t.shape}.")
    bad = ~np.isfinite(t)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} NaN/infinite values (first at position "
            f"{int(np.flatnonzero(bad)[0])}); drop them before asking for frames."
        )
    return t


def check_frame_times(frame_times) -> np.ndarray:
    """Validate frame presentation times: non-empty, finite, strictly increasing.

    Parameters
    ----------
    frame_times : array-like of float, shape (n_frames,)
        Seconds of movie time.

    Returns
    -------
    numpy.ndarray of float64, shape (n_frames,)
        The frame times as float64.

    Raises
    ------
    ValueError
        When the array is empty, not 1-D, not finite or not strictly increasing.
    """
    ft = np.asarray(frame_times, dtype=np.float64)
    if ft.ndim != 1 or ft.size == 0:
        raise ValueError(f"frame_times must be a non-empty 1-D array, got shape {ft.shape}.")
    if not np.all(np.isfinite(ft)):
        raise ValueError("frame_times contains NaN or infinite values.")
    if np.any(np.diff(ft) <= 0):
        raise ValueError("frame_times must be strictly increasing (use mmsites.features.video.frame_times).")
    return ft


def next_frame_index(times_s: np.ndarray, frame_times: np.ndarray) -> np.ndarray:
    """Index of the first frame at or after each time (the frame rule), unchecked.

    Parameters
    ----------
    times_s : numpy.ndarray of float64, shape (n_times,)
        Seconds, finite.
    frame_times : numpy.ndarray of float64, shape (n_frames,)
        Seconds, strictly increasing.

    Returns
    -------
    numpy.ndarray of int64, shape (n_times,)
        Frame indices; ``n_frames`` where no frame is at or after the time.
    """
    return np.searchsorted(frame_times, times_s - TIME_TOL_S, side="left")


def next_frame_time(times_s, frame_times, *, after_last: str = "raise") -> np.ndarray:
    """The time of the first movie frame at or after each time.

    A frame less than :data:`TIME_TOL_S` (1e-6 s) before a time counts as at that time.

    Parameters
    ----------
    times_s : array-like of float, shape (n_times,)
        Event times, seconds of movie time; any order; must be finite.
    frame_times : array-like of float, shape (n_frames,)
        Frame presentation times, seconds, strictly increasing
        (see :func:`mmsites.features.video.frame_times`).
    after_last : {"raise", "nan"}
        What to do with times later than the last frame (plus tolerance): raise a
        ``ValueError`` (default), or return NaN for them so the caller can drop and count them.

    Returns
    -------
    numpy.ndarray of float64, shape (n_times,)
        Seconds; NaN only where ``after_last="nan"`` and no frame follows.
    """
    if after_last not in ("raise", "nan"):
        raise ValueError(f"after_last must be 'raise' or 'nan', got {after_last!r}.")
    t = check_times(times_s)
    ft = check_frame_times(frame_times)
    idx = next_frame_index(t, ft)
    beyond = idx == ft.size
    if beyond.any() and after_last == "raise":
        raise ValueError(
            f"{int(beyond.sum())} of {t.size} times are after the last movie frame "
            f"({ft[-1]:.6f} s), e.g. {t[beyond][0]:.6f} s; they have no frame to show. Is this "
            "the right movie file, or should those events be dropped?"
        )
    out = np.full(t.shape, np.nan)
    out[~beyond] = ft[idx[~beyond]]
    return out


def match_times(event_times, table_times, tol: float = TIME_TOL_S) -> np.ndarray:
    """Row of ``table_times`` nearest to each event time, or -1 where none is within ``tol``.

    Parameters
    ----------
    event_times : array-like of float, shape (n_events,)
        Seconds.
    table_times : array-like of float, shape (n_rows,)
        Seconds, any order.
    tol : float
        Seconds: :data:`TIME_TOL_S` for times the pipeline wrote, :data:`TABLE_TIME_TOL_S`
        for a user's table.

    Returns
    -------
    numpy.ndarray of int64, shape (n_events,)
        Row indices into ``table_times``; -1 where no row is within ``tol``.
    """
    event_times = np.asarray(event_times, dtype=np.float64)
    table_times = np.asarray(table_times, dtype=np.float64)
    if len(table_times) == 0:
        return np.full(len(event_times), -1, dtype=np.int64)
    order = np.argsort(table_times, kind="stable")
    st = table_times[order]
    pos = np.searchsorted(st, event_times)
    lo = np.clip(pos - 1, 0, len(st) - 1)
    hi = np.clip(pos, 0, len(st) - 1)
    nearest = np.where(np.abs(st[lo] - event_times) <= np.abs(st[hi] - event_times), lo, hi)
    ok = np.abs(st[nearest] - event_times) <= tol
    return np.where(ok, order[nearest], -1).astype(np.int64)
