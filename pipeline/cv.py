"""The pipeline's cross-validation rules, shared by the encode and stats stages.

What is fitted (:func:`encoded_models`), on which folds (:func:`response_folds`: contiguous
folds purged by ``encoding.gap_s`` around every held-out stretch, with sessions kept apart),
and how long a permutation block is (:func:`block_length`). Both stages call these, so the
folds of the fits, of the nulls and of the paired tests are the same.
"""

from __future__ import annotations

import numpy as np

from mmsites.encoding.folds import contiguous_folds

from .params import Params

#: Seconds added between sessions on the fold time axis: sessions never share samples.
_SESSION_SEPARATION_S = 1e7


def encoded_models(params: Params) -> list[str]:
    """Ids of everything the encode stage fits: the models and the configured baselines.

    Parameters
    ----------
    params : Params
        Validated params; ``models`` and ``baselines`` matter.

    Returns
    -------
    list of str
        The ids of ``params.models`` in order, then the baseline ids
        (:meth:`Params.baseline_ids`).
    """
    return [m.id for m in params.models] + params.baseline_ids()


def gap_seconds(params: Params) -> float:
    """Return ``encoding.gap_s`` in seconds, resolving ``auto``.

    Parameters
    ----------
    params : Params
        Validated params; ``encoding.gap_s`` matters and, when it is ``"auto"``,
        ``responses.tmin_s``, ``responses.tmax_s`` and ``responses.window_s``.

    Returns
    -------
    float
        The purge gap in seconds; for ``"auto"`` the span one response reads,
        ``tmax_s - tmin_s + window_s``.
    """
    gap = params.encoding.gap_s
    if gap == "auto":
        rp = params.responses
        return float(rp.tmax_s - rp.tmin_s + rp.window_s)
    return float(gap)


def event_times(resp: dict) -> np.ndarray:
    """Event times of all sessions of a responses file on one time axis.

    Parameters
    ----------
    resp : dict
        :func:`pipeline.io.read_responses` output; ``event_movie_time`` and
        ``event_session`` are used.

    Returns
    -------
    ndarray of float, shape (n_events,)
        Movie time of each event in seconds, plus 1e7 s for every change of session in
        event order, so no purge gap ever spans two recordings.
    """
    session = np.asarray(resp["event_session"])
    rank = np.cumsum(np.r_[0, session[1:] != session[:-1]]) if session.size else session
    return np.asarray(resp["event_movie_time"], dtype=float) + _SESSION_SEPARATION_S * rank


def response_folds(params: Params, resp: dict) -> list:
    """The cross-validation folds of one responses file.

    Parameters
    ----------
    params : Params
        Validated params; ``encoding.folds`` and ``encoding.gap_s`` matter (see
        :func:`gap_seconds`).
    resp : dict
        :func:`pipeline.io.read_responses` output (``data=False`` is enough): ``shape``,
        ``event_movie_time`` and ``event_session`` are used.

    Returns
    -------
    list of Fold
        :func:`mmsites.encoding.folds.contiguous_folds` over the events, purged by the gap
        around every held-out stretch, with sessions kept apart.

    Raises
    ------
    ValueError
        When the events are too few for ``encoding.folds`` folds with that gap; the message
        names both params.
    """
    n_events = resp["shape"][0]
    gap = gap_seconds(params)
    try:
        return contiguous_folds(n_events, params.encoding.folds, times=event_times(resp), gap_s=gap)
    except ValueError as err:
        raise ValueError(f"encoding.folds={params.encoding.folds}, encoding.gap_s={gap:g}: {err}") from None


def block_length(params: Params, event_movie_time: np.ndarray) -> int:
    """Events per permutation block.

    Parameters
    ----------
    params : Params
        Validated params; ``stats.block_events`` and ``stats.block_s`` matter.
    event_movie_time : ndarray of float, shape (n_events,)
        Movie time of each event in seconds.

    Returns
    -------
    int
        ``stats.block_events`` when set; otherwise ``stats.block_s`` divided by the median
        positive spacing of the events (seconds), rounded, and at least 2.
    """
    sp = params.stats
    if sp.block_events is not None:
        return sp.block_events
    gaps = np.diff(np.asarray(event_movie_time, dtype=float))
    gaps = gaps[gaps > 0]
    spacing = float(np.median(gaps)) if gaps.size else sp.block_s
    return max(2, int(round(sp.block_s / spacing)))
